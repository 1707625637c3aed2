/*  cw_control.c - a client of the control protocol (the CLI, tests, bench).

    A REQ socket connected to causewayd's control endpoint. A call sends the
    three frames "CW1", COMMAND, JSON-ARGS and waits for "CW1", "ok"|"error",
    JSON-BODY. The whole call (send and receive) is bounded by one deadline:
    a REQ socket that timed out is stuck in the "expecting a reply" state, so
    it is destroyed and rebuilt, and a late reply to the old request can never
    be taken for the answer to the next one.

    Before the first exchange on a socket, an ipc:// endpoint is checked: a
    missing socket file (causewayd never started, or already gone) or a file
    nobody listens on (causewayd was killed) is reported at once instead of
    after the whole timeout.

    For CURVE endpoints the client certificate (zcert, secret part) is loaded
    once and applied to every rebuilt socket together with the server's
    public key.

    Arguments longer than CW_CONTROL_MAX_REQUEST are refused here with
    "request too large: N bytes, the limit is M": causewayd would close
    the connection and the call would only time out.
*/

#include "cw_control.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct _cw_control_t {
    char *endpoint;
    char *server_key;    //  Z85, NULL = plain
    zcert_t *cert;       //  client certificate, NULL = plain
    int timeout_ms;
    zsock_t *sock;
    bool probed;    //  ipc endpoint checked for this socket
};

//  ---------------------------------------------------------------------
//  Socket life cycle

static zsock_t *
s_socket_new (cw_control_t *self, char *err, size_t errlen)
{
    zsock_t *sock = zsock_new (ZMQ_REQ);
    if (!sock) {
        snprintf (err, errlen, "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_linger (sock, 0);
    if (self->cert) {
        zcert_apply (self->cert, sock);
        zsock_set_curve_serverkey (sock, self->server_key);
    }
    if (zsock_connect (sock, "%s", self->endpoint) != 0) {
        snprintf (err, errlen, "invalid endpoint '%s': %s", self->endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

static void
s_socket_rebuild (cw_control_t *self)
{
    char ignored [256];
    zsock_destroy (&self->sock);
    self->sock = s_socket_new (self, ignored, sizeof ignored);
    self->probed = false;
}

//  For ipc://PATH: 0 if something listens on PATH, else -1 with the reason.
//  Abstract sockets (ipc://@name) are not checked.
static int
s_ipc_probe (const char *endpoint, char *why, size_t whylen)
{
    if (strncmp (endpoint, "ipc://", 6) != 0 || endpoint [6] == '@')
        return 0;
    const char *path = endpoint + 6;
    struct stat st;
    if (stat (path, &st) != 0) {
        snprintf (why, whylen, "no socket file %s", path);
        return -1;
    }
    if (!S_ISSOCK (st.st_mode)) {
        snprintf (why, whylen, "%s is not a socket", path);
        return -1;
    }
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen (path) >= sizeof addr.sun_path)
        return 0;    //  libzmq will say what it thinks of it
    strcpy (addr.sun_path, path);
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
    int saved = errno;
    close (fd);
    if (rc == 0)
        return 0;
    if (saved == ECONNREFUSED)
        snprintf (why, whylen, "nothing listens on %s", path);
    else
        snprintf (why, whylen, "%s: %s", path, strerror (saved));
    return -1;
}

//  ---------------------------------------------------------------------
//  Public API

cw_control_t *
cw_control_new (const char *endpoint, const char *server_public_key, const char *client_cert_file, int timeout_ms,
                char *err, size_t errlen)
{
    if (!endpoint || !*endpoint) {
        snprintf (err, errlen, "no control endpoint given");
        return NULL;
    }
    if ((server_public_key == NULL) != (client_cert_file == NULL)) {
        snprintf (err, errlen, "CURVE needs both the server's public key and a client certificate");
        return NULL;
    }
    if (timeout_ms <= 0) {
        snprintf (err, errlen, "the timeout must be a positive number of milliseconds");
        return NULL;
    }
    cw_control_t *self = (cw_control_t *) zmalloc (sizeof (cw_control_t));
    self->endpoint = strdup (endpoint);
    self->timeout_ms = timeout_ms;
    if (server_public_key) {
        if (strlen (server_public_key) != 40
            || strspn (server_public_key, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                          ".-:+=^!/*?&<>()[]{}@%$#")
                   != 40) {
            snprintf (err, errlen, "the server's public key must be 40 characters of Z85");
            cw_control_destroy (&self);
            return NULL;
        }
        self->cert = zcert_load (client_cert_file);
        if (!self->cert) {
            snprintf (err, errlen, "cannot load the client certificate %s (nor %s_secret)", client_cert_file,
                      client_cert_file);
            cw_control_destroy (&self);
            return NULL;
        }
        if (strcmp (zcert_secret_txt (self->cert), "0000000000000000000000000000000000000000") == 0) {
            snprintf (err, errlen, "%s holds no secret key: give the secret certificate file", client_cert_file);
            cw_control_destroy (&self);
            return NULL;
        }
        self->server_key = strdup (server_public_key);
    }
    self->sock = s_socket_new (self, err, errlen);
    if (!self->sock) {
        cw_control_destroy (&self);
        return NULL;
    }
    return self;
}

void
cw_control_destroy (cw_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_control_t *self = *self_p;
    zsock_destroy (&self->sock);
    zcert_destroy (&self->cert);
    free (self->server_key);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

const char *
cw_control_endpoint (cw_control_t *self)
{
    return self ? self->endpoint : NULL;
}

static cw_call_status_t
s_unreachable (cw_control_t *self, const char *why, char *err, size_t errlen)
{
    snprintf (err, errlen, "cannot reach causewayd at %s (%s); is it running?", self->endpoint, why);
    s_socket_rebuild (self);
    return CW_CALL_UNREACHABLE;
}

static cw_call_status_t
s_timed_out (cw_control_t *self, char *err, size_t errlen)
{
    char why [64];
    if (zsys_interrupted)
        snprintf (why, sizeof why, "interrupted");
    else
        snprintf (why, sizeof why, "timed out after %d ms", self->timeout_ms);
    return s_unreachable (self, why, err, errlen);
}

static cw_call_status_t
s_bad_reply (cw_control_t *self, const char *why, char *err, size_t errlen)
{
    snprintf (err, errlen, "bad reply from %s: %s", self->endpoint, why);
    s_socket_rebuild (self);
    return CW_CALL_UNREACHABLE;
}

cw_call_status_t
cw_control_call (cw_control_t *self, const char *command, json_t *args, json_t **reply, char *err, size_t errlen)
{
    assert (self);
    assert (command);
    assert (reply);
    *reply = NULL;
    if (!self->sock) {
        s_socket_rebuild (self);
        if (!self->sock)
            return s_unreachable (self, "cannot create a socket", err, errlen);
    }
    if (!self->probed) {
        char why [300];
        if (s_ipc_probe (self->endpoint, why, sizeof why) != 0)
            return s_unreachable (self, why, err, errlen);
        self->probed = true;
    }
    char *text = NULL;
    if (args && !json_is_object (args))
        snprintf (err, errlen, "the arguments of '%s' must be a JSON object", command);
    else if (!(text = args ? json_dumps (args, JSON_COMPACT) : strdup ("{}")))
        snprintf (err, errlen, "cannot encode the arguments of '%s'", command);
    else if (strlen (text) > CW_CONTROL_MAX_REQUEST) {
        //  causewayd would close the connection without an answer
        snprintf (err, errlen, "request too large: %zu bytes, the limit is %d", strlen (text), CW_CONTROL_MAX_REQUEST);
        free (text);
        text = NULL;
    }
    if (!text) {
        *reply = json_pack ("{s:s}", "error", err);
        return CW_CALL_ERROR;
    }
    int64_t deadline = zclock_mono () + self->timeout_ms;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, CW_CONTROL_SIGNATURE);
    zmsg_addstr (msg, command);
    zmsg_addstr (msg, text);
    free (text);

    zsock_set_sndtimeo (self->sock, self->timeout_ms);
    if (zmsg_send (&msg, self->sock) != 0) {
        zmsg_destroy (&msg);
        return s_timed_out (self, err, errlen);
    }
    int remaining = (int) (deadline - zclock_mono ());
    zsock_set_rcvtimeo (self->sock, remaining > 0 ? remaining : 0);
    zmsg_t *answer = zmsg_recv (self->sock);
    if (!answer) {
        return s_timed_out (self, err, errlen);
    }
    cw_call_status_t status = CW_CALL_UNREACHABLE;
    zframe_t *signature = zmsg_first (answer);
    zframe_t *verdict = zmsg_next (answer);
    zframe_t *body = zmsg_next (answer);
    if (zmsg_size (answer) != 3) {
        char why [64];
        snprintf (why, sizeof why, "%zu frames instead of 3", zmsg_size (answer));
        zmsg_destroy (&answer);
        return s_bad_reply (self, why, err, errlen);
    }
    if (!zframe_streq (signature, CW_CONTROL_SIGNATURE)) {
        zmsg_destroy (&answer);
        return s_bad_reply (self, "not a CW1 reply", err, errlen);
    }
    if (zframe_streq (verdict, "ok"))
        status = CW_CALL_OK;
    else if (zframe_streq (verdict, "error"))
        status = CW_CALL_ERROR;
    else {
        zmsg_destroy (&answer);
        return s_bad_reply (self, "the status frame is neither 'ok' nor 'error'", err, errlen);
    }
    json_error_t jerr;
    json_t *json = json_loadb ((const char *) zframe_data (body), zframe_size (body), JSON_REJECT_DUPLICATES, &jerr);
    zmsg_destroy (&answer);
    if (!json || !json_is_object (json)) {
        json_decref (json);
        return s_bad_reply (self, "the body is not a JSON object", err, errlen);
    }
    if (status == CW_CALL_ERROR) {
        const char *message = json_string_value (json_object_get (json, "error"));
        snprintf (err, errlen, "%s", message ? message : "the request failed (no message)");
    }
    *reply = json;
    return status;
}
