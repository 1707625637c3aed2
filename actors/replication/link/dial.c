/*  dial.c - a one-shot, blocking conversation with a peer's cluster port
    (see dial.h).

    The socket stays non-blocking and every wait is a poll () bounded by
    the conversation's deadline, so no call can block past it whatever the
    peer does (a silent peer, a handshake that stalls half way, a frame
    that never completes). Received bytes go into one buffer that
    cw_frame_decode reads, as the managed links do: a TLS record may end
    inside a frame or carry the start of the next one.
*/
#include "dial.h"
#include "cert.h"
#include "frame.h"
#include "netaddr.h"
#include "tls.h"
#include "cw_text.h"

#include <errno.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_READ_CHUNK 16384

struct _cw_dial_t {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    int64_t deadline;
    char remote [96];    //  "ip:port", for messages
    uint8_t *in;         //  bytes read, not yet returned as frames
    size_t in_len, in_cap;
    char error [256];
};

int64_t
cw_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Wait until the socket is readable (or writable) or the deadline
//  passes. 0 when ready, -1 at the deadline or on a poll error.
static int
s_wait (int fd, bool for_write, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - cw_mono_ms ();
        if (left <= 0)
            return -1;
        struct pollfd pfd = { .fd = fd, .events = for_write ? POLLOUT : POLLIN };
        int rc = poll (&pfd, 1, left > INT32_MAX ? INT32_MAX : (int) left);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

//  Run one SSL operation (OP 'h'andshake, 'r'ead, 'w'rite) to completion
//  or failure, waiting as OpenSSL asks. Returns what the call returned
//  (> 0 done), or 0 with the reason in BUF ("timed out" at the deadline).
static int
s_ssl_call (cw_dial_t *self, char op, void *data, size_t len, char *buf, size_t size)
{
    for (;;) {
        ERR_clear_error ();
        errno = 0;
        int rc = op == 'h' ? SSL_do_handshake (self->ssl)
               : op == 'r' ? SSL_read (self->ssl, data, (int) len)
                           : SSL_write (self->ssl, data, (int) len);
        if (rc > 0)
            return rc;
        int err = SSL_get_error (self->ssl, rc);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            if (s_wait (self->fd, err == SSL_ERROR_WANT_WRITE, self->deadline) == 0)
                continue;
            cw_copy (buf, size, "timed out");
            return 0;
        }
        cw_tls_failure (err, "TLS error", buf, size);
        return 0;
    }
}

//  TCP connect from BIND_IP to IP:PORT before the deadline. 0, or -1 with
//  ERR (*FINAL when the addresses themselves are wrong).
static int
s_connect (cw_dial_t *self, const char *ip, int port, const char *bind_ip, bool *final, char *err, size_t errlen)
{
    if (port <= 0 || port > 65535 || !cw_ip_normalize (ip, NULL, 0)
        || cw_ip_normalize (ip, NULL, 0) != cw_ip_normalize (bind_ip, NULL, 0)) {
        snprintf (err, errlen, "cannot dial %s from %s: not IP addresses of one family", self->remote,
                  bind_ip ? bind_ip : "");
        *final = true;
        return -1;
    }
    self->fd = cw_tcp_dial (ip, (uint16_t) port, bind_ip, err, errlen);
    if (self->fd < 0)
        return -1;
    if (s_wait (self->fd, true, self->deadline)) {
        snprintf (err, errlen, "connect to %s timed out", self->remote);
        return -1;
    }
    return cw_tcp_connected (self->fd, self->remote, err, errlen);
}

cw_dial_t *
cw_dial_open (const char *ip, int port, const char *bind_ip, const char *server_name, const char *cert, const char *key,
              int64_t deadline, bool *final, char *err, size_t errlen)
{
    bool final_here = false;
    if (!final)
        final = &final_here;
    *final = false;
    //  A write on a connection the peer closed must not kill the process
    struct sigaction old;
    if (sigaction (SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal (SIGPIPE, SIG_IGN);

    cw_dial_t *self = calloc (1, sizeof (cw_dial_t));
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->fd = -1;
    self->deadline = deadline;
    snprintf (self->remote, sizeof (self->remote), "%s:%d", ip ? ip : "", port);
    cw_tls_config_t tls = { .certificate = cert, .private_key = key, .ca_file = NULL, .verify = CW_TLS_VERIFY_NONE };
    self->ctx = cw_tls_context_new (&tls, err, errlen);
    if (!self->ctx) {
        *final = true;
        goto fail;
    }
    if (s_connect (self, ip, port, bind_ip, final, err, errlen))
        goto fail;
    self->ssl = SSL_new (self->ctx);
    if (!self->ssl || SSL_set_fd (self->ssl, self->fd) != 1) {
        ERR_clear_error ();
        snprintf (err, errlen, "cannot create the TLS session");
        goto fail;
    }
    if (server_name && *server_name && !cw_ip_normalize (server_name, NULL, 0))
        SSL_set_tlsext_host_name (self->ssl, server_name);
    SSL_set_connect_state (self->ssl);
    char reason [200];
    if (s_ssl_call (self, 'h', NULL, 0, reason, sizeof (reason)) <= 0) {
        if (strcmp (reason, "timed out") == 0)
            snprintf (err, errlen, "TLS handshake with %s timed out", self->remote);
        else
            snprintf (err, errlen, "TLS handshake with %s failed: %s", self->remote, reason);
        goto fail;
    }
    return self;
fail:
    cw_dial_close (&self);
    return NULL;
}

void
cw_dial_close (cw_dial_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_dial_t *self = *self_p;
    if (self->ssl) {
        ERR_clear_error ();
        if (SSL_is_init_finished (self->ssl))
            SSL_shutdown (self->ssl);    //  best effort, never waits
        SSL_free (self->ssl);
        ERR_clear_error ();
    }
    if (self->fd >= 0)
        close (self->fd);
    SSL_CTX_free (self->ctx);
    free (self->in);
    free (self);
    *self_p = NULL;
}

int
cw_dial_peer_fingerprint (cw_dial_t *self, char out [65])
{
    out [0] = 0;
    X509 *cert = self && self->ssl ? SSL_get0_peer_certificate (self->ssl) : NULL;
    return cert ? cw_cert_fingerprint (cert, out) : -1;
}

void
cw_dial_set_deadline (cw_dial_t *self, int64_t deadline)
{
    if (self)
        self->deadline = deadline;
}

const char *
cw_dial_error (cw_dial_t *self)
{
    return self ? self->error : "";
}

int
cw_dial_send (cw_dial_t *self, uint8_t type, uint64_t corr, json_t *json)
{
    if (!self)
        return -1;
    self->error [0] = 0;
    uint8_t *frame = NULL;
    size_t size = 0;
    if (cw_frame_encode (type, corr, json, NULL, 0, &frame, &size)) {
        cw_copy (self->error, sizeof (self->error), "cannot encode the frame");
        return -1;
    }
    size_t done = 0;
    while (done < size) {
        int n = s_ssl_call (self, 'w', frame + done, size - done, self->error, sizeof (self->error));
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    free (frame);
    return done == size ? 0 : -1;
}

//  Read more bytes into the input buffer, room for at least WANT in all.
static int
s_read_more (cw_dial_t *self, size_t want)
{
    size_t need = want > self->in_len + S_READ_CHUNK ? want : self->in_len + S_READ_CHUNK;
    if (need > self->in_cap) {
        uint8_t *in = realloc (self->in, need);
        if (!in) {
            cw_copy (self->error, sizeof (self->error), "out of memory");
            return -1;
        }
        self->in = in;
        self->in_cap = need;
    }
    int n = s_ssl_call (self, 'r', self->in + self->in_len, self->in_cap - self->in_len, self->error,
                        sizeof (self->error));
    if (n <= 0)
        return -1;
    self->in_len += (size_t) n;
    return 0;
}

int
cw_dial_recv (cw_dial_t *self, uint8_t *type, uint64_t *corr, json_t **json)
{
    *json = NULL;
    if (!self)
        return -1;
    self->error [0] = 0;
    for (;;) {
        cw_frame_t frame;
        char what [200];
        cw_frame_result_t rc = cw_frame_decode (self->in, self->in_len, CW_DIAL_MAX_FRAME, &frame, what, sizeof (what));
        if (rc == CW_FRAME_MALFORMED) {
            snprintf (self->error, sizeof (self->error), "malformed frame: %s", what);
            return -1;
        }
        if (rc == CW_FRAME_COMPLETE) {
            if (cw_frame_json (&frame, json, what, sizeof (what))) {
                snprintf (self->error, sizeof (self->error), "malformed frame: %s", what);
                return -1;
            }
            *type = frame.type;
            *corr = frame.corr;
            memmove (self->in, self->in + frame.size, self->in_len - frame.size);
            self->in_len -= frame.size;
            return 0;
        }
        if (s_read_more (self, cw_frame_wanted (self->in, self->in_len)))
            return -1;
    }
}
