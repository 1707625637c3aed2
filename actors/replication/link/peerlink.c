/*  peerlink.c - the TLS links between the peers of a cluster (see
    peerlink.h for the protocol and the contract).

    Every connection is an s_link_t: a non-blocking socket and its TLS
    stream (tlsio.h: the SSL object, bytes read and not yet framed, framed
    bytes not yet accepted by SSL_write). Frames are coded by frame.h, the
    TLS context comes from tls.h and certificates are judged by cert.h's
    rule; peer addresses resolve by resolve.h. A link moves through
    CONNECTING (outbound TCP connect) -> HANDSHAKE (TLS) -> HELLO (waiting
    for HELLO, or for its answer) -> UP, and CLOSING (flush a rejection,
    then close) -> CLOSED. Each link has one zloop poller on its fd: always
    POLLIN once connected, POLLOUT only while the output buffer is not
    empty or OpenSSL asked to write. Any event runs s_link_pump, which
    advances the handshake, flushes, and reads until OpenSSL wants more or
    S_READ_BUDGET bytes were read (the rest at the next event: the zloop's
    timers, heartbeats among them, run in between).

    Input is bounded by state: before HELLO completes a frame may not be
    longer than CW_PEERLINK_MAX_HELLO_FRAME, after it CW_PEERLINK_MAX_FRAME;
    a longer length prefix closes the link as soon as its 4 bytes are
    read, before any of the body is buffered. A message longer than one
    frame goes as CHUNK frames (s_link_queue_chunks) and is put together
    again on an up link only, in a buffer that grows with the chunks that
    arrived, up to the size the first chunk announced (at most
    CW_PEERLINK_MAX_MESSAGE).

    A closed link is unlinked at once (fd closed, poller ended) but freed
    only at the next tick of the 100 ms timer, because zloop may still
    hold a copy of its poller for the current iteration. The same timer
    redials peers that are down, times out slow handshakes and refreshes
    DNS answers.
*/
#include "peerlink.h"
#include "cert.h"
#include "frame.h"
#include "netaddr.h"
#include "resolve.h"
#include "tls.h"
#include "tlsio.h"
#include "cw_log.h"
#include "cw_text.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_TICK_MS 100
#define S_MAX_PENDING_INBOUND 16    //  accepted connections that have not said HELLO yet
#define S_DNS_REFRESH_MS 30000
#define S_DNS_RETRY_MS 2000
#define S_CLOSING_MS 1000
#define S_REASON_MAX 512
#define S_READ_BUDGET (1024 * 1024)    //  bytes read per event before the loop runs again

typedef enum {
    S_CONNECTING,
    S_HANDSHAKE,
    S_HELLO,
    S_UP,
    S_CLOSING,
    S_CLOSED
} s_state_t;

typedef struct _s_link_t s_link_t;

struct _s_link_t {
    cw_peerlink_t *owner;
    uint64_t id;
    int fd;
    cw_tlsio_t io;    //  the SSL object and the byte buffers
    cw_peerlink_dir_t dir;
    int peer;         //  remote peer index; inbound: 0 until HELLO
    int candidate;    //  inbound: the peer its source IP belongs to
    s_state_t state;
    char ip [CW_RESOLVE_IP_MAX];    //  remote IP
    uint16_t port;                  //  remote port
    zmq_pollitem_t item;
    bool polling;
    short events;
    int64_t started;    //  zclock_mono () at creation
    int64_t closing_since;
    //  A chunked message being put together (up links only)
    uint8_t *msg;
    size_t msg_len, msg_size, msg_cap;    //  msg_size 0 = none in progress
    s_link_t *next;
};

typedef struct {
    char address [CW_PEERLINK_TEXT_MAX];    //  "" = empty slot
    uint16_t port;                          //  0 = the listener's port
    cw_resolution_t res;                    //  its IPs, how it resolved, or why not
    int64_t resolved_at;
    s_link_t *link [2];    //  [CW_PEERLINK_OUTBOUND], [CW_PEERLINK_INBOUND]
    int64_t next_dial;
    int backoff_ms;
    cw_peerlink_link_status_t st [2];
    char certificate [CW_PEERLINK_TEXT_MAX];
    char fingerprint [CW_PEERLINK_FINGERPRINT_MAX];
    char last_error [CW_PEERLINK_TEXT_MAX];
    char reported [2][CW_PEERLINK_TEXT_MAX];    //  last reason given to on_link
    bool reported_up [2];
} s_peer_t;

struct _cw_peerlink_t {
    zloop_t *loop;
    SSL_CTX *ctx;
    cw_peerlink_verify_t verify;
    char listen_address [CW_RESOLVE_IP_MAX];
    int family;
    uint16_t port;
    int listen_fd;
    zmq_pollitem_t listen_item;
    int timer_id;
    int self_index;
    int ip_version;
    s_peer_t peers [CW_PEERLINK_MAX_PEERS];
    cw_address_mapping_t *mapping;
    size_t mapping_count;
    s_link_t *links;        //  every link not yet closed
    s_link_t *graveyard;    //  closed links, freed at the next tick
    uint64_t next_link_id;
    cw_peerlink_stats_t stats;
    cw_peerlink_message_fn *on_message;
    cw_peerlink_link_fn *on_link;
    cw_peerlink_certificate_fn *on_certificate;
    void *arg;
    int reconnect_ms;
    int reconnect_max_ms;
    int handshake_timeout_ms;
    bool destroying;    //  quiet: no callbacks, no warnings
};

static void s_link_pump (s_link_t *link, short revents);
static void s_link_close (s_link_t *link, const char *reason);
static int s_link_handler (zloop_t *loop, zmq_pollitem_t *item, void *arg);

//  ---------------------------------------------------------------------
//  Small helpers

//  ---------------------------------------------------------------------
//  Resolution (resolve.h)

int
cw_peerlink_resolve (const char *address, const cw_peerlink_mapping_t *mapping, size_t mapping_count, int ip_version,
                     char *ip, size_t iplen, char *via, size_t vialen)
{
    cw_resolution_t res;
    int rc = cw_resolve (address, mapping, mapping_count, ip_version, &res);
    cw_copy (via, vialen, res.via);
    if (rc == 0)
        cw_copy (ip, iplen, res.ips [0]);
    return rc;
}

static void
s_peer_resolve (cw_peerlink_t *self, int n)
{
    s_peer_t *peer = &self->peers [n - 1];
    if (!*peer->address) {
        memset (&peer->res, 0, sizeof (peer->res));
        return;
    }
    cw_resolve (peer->address, self->mapping, self->mapping_count, self->ip_version, &peer->res);
    peer->resolved_at = zclock_mono ();
}

//  The configured peer (not this one) that IP belongs to, or 0.
static int
s_peer_of_ip (cw_peerlink_t *self, const char *ip)
{
    for (int n = 1; n <= CW_PEERLINK_MAX_PEERS; n++)
        if (n != self->self_index && *self->peers [n - 1].address && cw_resolution_has (&self->peers [n - 1].res, ip))
            return n;
    return 0;
}

//  Check that peer N's address resolves to IP; fills reason if not.
static int
s_check_resolution (cw_peerlink_t *self, int n, const char *ip, bool outbound, char *reason, size_t size)
{
    s_peer_t *peer = &self->peers [n - 1];
    if (peer->res.count == 0) {
        cw_copy (reason, size, peer->res.via);
        return -1;
    }
    if (cw_resolution_has (&peer->res, ip))
        return 0;
    char list [CW_RESOLVE_MAX_IPS * (CW_RESOLVE_IP_MAX + 2)] = "";
    for (int i = 0; i < peer->res.count; i++) {
        if (i)
            strcat (list, ", ");
        strcat (list, peer->res.ips [i]);
    }
    snprintf (reason, size, "%s resolves to %s via %s, connection %s %s", peer->address, list, peer->res.via,
              outbound ? "went to" : "came from", ip);
    return -1;
}

//  ---------------------------------------------------------------------
//  TLS context and certificate checks

//  ENFORCE: the certificate of the connection must name peer N's address
//  and that address must resolve to the connection's IP. Returns 0, or -1
//  with the reason.
static int
s_check_identity (s_link_t *link, int n, char *reason, size_t size)
{
    cw_peerlink_t *self = link->owner;
    s_peer_t *peer = &self->peers [n - 1];
    if (self->verify != CW_PEERLINK_ENFORCE)
        return 0;
    X509 *cert = SSL_get0_peer_certificate (link->io.ssl);
    if (!cert) {
        cw_copy (reason, size, "peer presented no certificate");
        return -1;
    }
    long vr = SSL_get_verify_result (link->io.ssl);
    if (vr != X509_V_OK) {
        snprintf (reason, size, "certificate not trusted: %s", X509_verify_cert_error_string (vr));
        return -1;
    }
    if (cw_cert_peer_check (cert, peer->address, reason, size))
        return -1;
    return s_check_resolution (self, n, link->ip, link->dir == CW_PEERLINK_OUTBOUND, reason, size);
}

//  Record the fingerprint of the certificate the link's peer N presented
//  and ask on_certificate whether it may link. Returns 0, or -1 with the
//  reason.
static int
s_check_certificate (s_link_t *link, int n, char *reason, size_t size)
{
    cw_peerlink_t *self = link->owner;
    s_peer_t *peer = &self->peers [n - 1];
    char fingerprint [CW_PEERLINK_FINGERPRINT_MAX] = "";
    X509 *cert = SSL_get0_peer_certificate (link->io.ssl);
    if (cert)
        cw_cert_fingerprint (cert, fingerprint);
    cw_copy (peer->st [link->dir].fingerprint, sizeof (peer->st [link->dir].fingerprint), fingerprint);
    cw_copy (peer->fingerprint, sizeof (peer->fingerprint), fingerprint);
    if (!self->on_certificate)
        return 0;
    reason [0] = 0;
    if (self->on_certificate (self, n, link->dir, fingerprint, self->verify == CW_PEERLINK_ENFORCE, reason, size,
                              self->arg)
        == 0)
        return 0;
    if (!*reason)
        cw_copy (reason, size, "certificate refused");
    return -1;
}

//  ---------------------------------------------------------------------
//  Link bookkeeping

static const char *
s_dir_name (cw_peerlink_dir_t dir)
{
    return dir == CW_PEERLINK_OUTBOUND ? "outbound" : "inbound";
}

//  The peer a link's events are reported for (0 = none yet).
static int
s_link_peer (s_link_t *link)
{
    return link->peer ? link->peer : link->candidate;
}

static void
s_link_set_events (s_link_t *link)
{
    cw_peerlink_t *self = link->owner;
    if (link->state == S_CLOSED || link->fd < 0)
        return;
    short events;
    if (link->state == S_CONNECTING)
        events = ZMQ_POLLOUT;
    else if (link->state == S_CLOSING)
        events = ZMQ_POLLOUT;
    else {
        events = ZMQ_POLLIN;
        bool pending = cw_tlsio_pending (&link->io) && link->state != S_HANDSHAKE;
        if (link->io.want_write || (pending && !link->io.write_wants_read))
            events |= ZMQ_POLLOUT;
    }
    if (link->polling && events == link->events)
        return;
    if (link->polling)
        zloop_poller_end (self->loop, &link->item);
    link->item.socket = NULL;
    link->item.fd = link->fd;
    link->item.events = events;
    link->item.revents = 0;
    link->events = events;
    link->polling = zloop_poller (self->loop, &link->item, s_link_handler, link) == 0;
    if (link->polling)
        zloop_poller_set_tolerant (self->loop, &link->item);
}

//  Record a failure or a close reason in the status of the link's peer.
static void
s_peer_note_error (cw_peerlink_t *self, int n, cw_peerlink_dir_t dir, const char *reason, bool certificate)
{
    if (n < 1 || n > CW_PEERLINK_MAX_PEERS || !reason || !*reason)
        return;
    s_peer_t *peer = &self->peers [n - 1];
    cw_copy (peer->st [dir].last_error, sizeof (peer->st [dir].last_error), reason);
    cw_copy (peer->last_error, sizeof (peer->last_error), reason);
    if (certificate) {
        cw_copy (peer->st [dir].certificate, sizeof (peer->st [dir].certificate), reason);
        cw_copy (peer->certificate, sizeof (peer->certificate), reason);
    }
}

//  Report peer N's DIR link down to on_link, unless that reason is what
//  was last reported for it (FORCE: report anyway, a link that was up
//  went down). Returns true when reported.
static bool
s_report_down (cw_peerlink_t *self, int n, cw_peerlink_dir_t dir, const char *reason, bool force)
{
    s_peer_t *peer = &self->peers [n - 1];
    if (!force && !peer->reported_up [dir] && strcmp (peer->reported [dir], reason) == 0)
        return false;
    cw_copy (peer->reported [dir], sizeof (peer->reported [dir]), reason);
    peer->reported_up [dir] = false;
    if (self->on_link)
        self->on_link (self, n, dir, false, reason, self->arg);
    return true;
}

//  The next dial of PEER after a failure, doubling the delay up to the
//  maximum.
static void
s_peer_backoff (cw_peerlink_t *self, s_peer_t *peer)
{
    peer->next_dial = zclock_mono () + peer->backoff_ms;
    peer->backoff_ms = peer->backoff_ms * 2 > self->reconnect_max_ms ? self->reconnect_max_ms : peer->backoff_ms * 2;
}

static void
s_link_free (s_link_t *link)
{
    free (link->msg);
    cw_tlsio_free (&link->io);
    if (link->fd >= 0)
        close (link->fd);
    free (link);
}

static void
s_unlink (s_link_t **list, s_link_t *link)
{
    for (s_link_t **p = list; *p; p = &(*p)->next)
        if (*p == link) {
            *p = link->next;
            link->next = NULL;
            return;
        }
}

//  Close the link now (poller ended, fd closed), report it, and leave it
//  in the graveyard until the next tick.
static void
s_link_close (s_link_t *link, const char *reason)
{
    cw_peerlink_t *self = link->owner;
    if (link->state == S_CLOSED)
        return;
    bool was_up = link->state == S_UP;
    if (link->polling)
        zloop_poller_end (self->loop, &link->item);
    link->polling = false;
    if (link->io.ssl && (link->state == S_UP || link->state == S_HELLO || link->state == S_CLOSING)) {
        ERR_clear_error ();
        SSL_shutdown (link->io.ssl);    //  best effort: a close_notify if it fits
        ERR_clear_error ();
    }
    if (link->fd >= 0)
        close (link->fd);
    link->fd = -1;
    link->state = S_CLOSED;
    free (link->msg);
    link->msg = NULL;
    link->msg_len = link->msg_size = link->msg_cap = 0;
    s_unlink (&self->links, link);
    link->next = self->graveyard;
    self->graveyard = link;

    int n = s_link_peer (link);
    if (n < 1)
        return;
    s_peer_t *peer = &self->peers [n - 1];
    cw_peerlink_dir_t dir = link->dir;
    bool current = peer->link [dir] == link;
    if (current)
        peer->link [dir] = NULL;
    if (dir == CW_PEERLINK_OUTBOUND && current) {
        if (was_up)
            peer->backoff_ms = self->reconnect_ms;
        s_peer_backoff (self, peer);
    }
    //  An extra connection from a peer whose link is up says nothing
    //  about that link: log it, do not report it
    if (!current && peer->link [dir] && peer->link [dir]->state == S_UP) {
        cw_debug ("peerlink: extra connection closed peer=%d dir=%s reason=\"%s\"", n, s_dir_name (dir),
                  reason ? reason : "");
        return;
    }
    if (current || !peer->link [dir]) {
        peer->st [dir].up = false;
        peer->st [dir].link_id = 0;
        peer->st [dir].remote [0] = 0;
        if (was_up)
            peer->st [dir].since_ms = zclock_mono ();
    }
    s_peer_note_error (self, n, dir, reason, false);
    const char *text = reason ? reason : "";
    if (self->destroying)
        return;
    if (s_report_down (self, n, dir, text, was_up))
        cw_warn ("peerlink: link %s peer=%d dir=%s remote=%s reason=\"%s\"", was_up ? "down" : "failed", n,
                 s_dir_name (dir), link->ip, text);
}

//  Close with a failure that also counts in the stats.
static void
s_link_fail (s_link_t *link, const char *reason, uint64_t *counter, bool certificate)
{
    if (counter)
        (*counter)++;
    int n = s_link_peer (link);
    if (certificate && n)
        s_peer_note_error (link->owner, n, link->dir, reason, true);
    s_link_close (link, reason);
}

static s_link_t *
s_link_new (cw_peerlink_t *self, int fd, cw_peerlink_dir_t dir, const char *ip, uint16_t port)
{
    s_link_t *link = calloc (1, sizeof (s_link_t));
    if (!link)
        return NULL;
    link->owner = self;
    link->id = ++self->next_link_id;
    link->fd = fd;
    link->dir = dir;
    link->started = zclock_mono ();
    cw_copy (link->ip, sizeof (link->ip), ip);
    link->port = port;
    link->next = self->links;
    self->links = link;
    return link;
}

static s_link_t *
s_link_by_id (cw_peerlink_t *self, uint64_t id)
{
    for (s_link_t *link = self->links; link; link = link->next)
        if (link->id == id)
            return link;
    return NULL;
}

//  ---------------------------------------------------------------------
//  Output

static void
s_count_out (s_link_t *link, size_t bytes)
{
    int n = s_link_peer (link);
    if (n) {
        link->owner->peers [n - 1].st [link->dir].frames_out++;
        link->owner->peers [n - 1].st [link->dir].bytes_out += bytes;
    }
}

//  Queue a message too long for one frame as CHUNK frames. The message is
//  the frame it would be (header, JSON, blob: PARTS) cut into pieces of
//  CW_PEERLINK_CHUNK bytes, each the blob of one CHUNK frame; the first
//  says {"size": <bytes of the whole>}. Room for every chunk is reserved
//  first, so the chunks are queued all or none.
static int
s_link_queue_chunks (s_link_t *link, uint64_t corr, const cw_tlsio_part_t parts [3], size_t total)
{
    size_t chunks = (total + CW_PEERLINK_CHUNK - 1) / CW_PEERLINK_CHUNK;
    char first [64];
    snprintf (first, sizeof (first), "{\"size\":%zu}", total);
    if (cw_tlsio_reserve (&link->io, total + chunks * CW_FRAME_HEADER + strlen (first)))
        return -1;
    size_t off = 0;    //  of the whole message
    int part = 0;
    size_t part_off = 0;    //  within parts [part]
    while (off < total) {
        size_t want = total - off < CW_PEERLINK_CHUNK ? total - off : CW_PEERLINK_CHUNK;
        cw_tlsio_part_t slice [3];
        int count = 0;
        for (size_t got = 0; got < want;) {
            while (parts [part].len == part_off) {
                part++;
                part_off = 0;
            }
            size_t take = parts [part].len - part_off;
            if (take > want - got)
                take = want - got;
            slice [count].data = (const uint8_t *) parts [part].data + part_off;
            slice [count].len = take;
            count++;
            part_off += take;
            got += take;
        }
        size_t queued = cw_tlsio_queue_parts (&link->io, CW_FRAME_TYPE_CHUNK, corr, off ? NULL : first, slice, count);
        if (!queued)
            return -1;    //  cannot happen: the room was reserved
        s_count_out (link, queued);
        off += want;
    }
    return 0;
}

static int
s_link_queue (s_link_t *link, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    size_t json_len = json ? strlen (json) : 0;
    if (json_len <= CW_PEERLINK_MAX_FRAME && blob_len <= CW_PEERLINK_MAX_FRAME
        && CW_FRAME_FIXED + json_len + blob_len <= CW_PEERLINK_MAX_FRAME) {
        size_t total = cw_tlsio_queue (&link->io, type, corr, json, blob, blob_len);
        if (!total)
            return -1;
        s_count_out (link, total);
        return 0;
    }
    //  Longer than a frame: chunks, on an up link, up to the message maximum
    if (link->state != S_UP || json_len > CW_PEERLINK_MAX_MESSAGE || blob_len > CW_PEERLINK_MAX_MESSAGE
        || CW_FRAME_FIXED + json_len + blob_len > CW_PEERLINK_MAX_MESSAGE)
        return -1;
    uint8_t header [CW_FRAME_HEADER];
    if (cw_frame_header (header, type, corr, json_len, blob_len))
        return -1;
    cw_tlsio_part_t parts [3] = { { header, CW_FRAME_HEADER }, { json, json_len }, { blob, blob_len } };
    return s_link_queue_chunks (link, corr, parts, CW_FRAME_HEADER + json_len + blob_len);
}

static int
s_link_queue_json (s_link_t *link, json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text)
        return -1;
    int rc = s_link_queue (link, CW_PEERLINK_TYPE_HELLO, 0, text, NULL, 0);
    free (text);
    return rc;
}

//  Write what SSL takes; returns -1 if the link was closed.
static int
s_link_flush (s_link_t *link)
{
    char reason [S_REASON_MAX];
    if (cw_tlsio_flush (&link->io, reason, sizeof (reason)) == 0)
        return 0;
    s_link_close (link, reason);
    return -1;
}

//  ---------------------------------------------------------------------
//  Link up, HELLO

static void
s_link_up (s_link_t *link, int n)
{
    cw_peerlink_t *self = link->owner;
    s_peer_t *peer = &self->peers [n - 1];
    cw_peerlink_dir_t dir = link->dir;
    link->state = S_UP;
    const char *verdict = self->verify == CW_PEERLINK_ENFORCE ? "ok" : "not verified (permissive)";
    cw_peerlink_link_status_t *st = &peer->st [dir];
    st->up = true;
    st->link_id = link->id;
    snprintf (st->remote, sizeof (st->remote), "%s:%u", link->ip, (unsigned) link->port);
    cw_copy (st->certificate, sizeof (st->certificate), verdict);
    cw_copy (peer->certificate, sizeof (peer->certificate), verdict);
    st->last_error [0] = 0;
    st->since_ms = zclock_mono ();
    if (dir == CW_PEERLINK_OUTBOUND)
        peer->backoff_ms = self->reconnect_ms;
    peer->reported [dir][0] = 0;
    peer->reported_up [dir] = true;
    cw_info ("peerlink: link up peer=%d dir=%s remote=%s:%u certificate=\"%s\"", n, s_dir_name (dir), link->ip,
             (unsigned) link->port, verdict);
    if (self->on_link)
        self->on_link (self, n, dir, true, "", self->arg);
}

//  Refuse an inbound HELLO: tell the dialer why, then close.
static void
s_link_refuse (s_link_t *link, const char *reason, bool certificate)
{
    cw_peerlink_t *self = link->owner;
    if (certificate)
        self->stats.handshake_failures++;
    else
        self->stats.rejected_connections++;
    cw_warn ("peerlink: HELLO refused remote=%s:%u reason=\"%s\"", link->ip, (unsigned) link->port, reason);
    int n = s_link_peer (link);
    if (n)
        s_peer_note_error (self, n, link->dir, reason, certificate);
    if (s_link_queue_json (link, json_pack ("{s:b, s:s}", "ok", 0, "error", reason)) == 0) {
        //  Report now, flush the answer, close when it is out
        link->state = S_CLOSING;
        link->closing_since = zclock_mono ();
        s_link_t *current = n ? self->peers [n - 1].link [link->dir] : NULL;
        if (n && !(current && current->state == S_UP))
            s_report_down (self, n, link->dir, reason, false);
        if (link->state == S_CLOSING && s_link_flush (link) == 0) {
            if (cw_tlsio_pending (&link->io) == 0)
                s_link_close (link, reason);
            else
                s_link_set_events (link);
        }
    }
    else
        s_link_close (link, reason);
}

//  The acceptor got HELLO on link.
static void
s_handle_hello (s_link_t *link, json_t *json)
{
    cw_peerlink_t *self = link->owner;
    char reason [S_REASON_MAX];
    json_t *jindex = json ? json_object_get (json, "index") : NULL;
    if (!json_is_integer (jindex)) {
        self->stats.malformed_frames++;
        s_link_close (link, "malformed HELLO: no index");
        return;
    }
    json_int_t n = json_integer_value (jindex);
    if (n < 1 || n > CW_PEERLINK_MAX_PEERS || n == self->self_index || !*self->peers [n - 1].address) {
        snprintf (reason, sizeof (reason), "HELLO from %s names index %lld, which is not a configured peer", link->ip,
                  (long long) n);
        s_link_refuse (link, reason, false);
        return;
    }
    s_peer_t *peer = &self->peers [n - 1];
    if (s_check_resolution (self, (int) n, link->ip, false, reason, sizeof (reason))) {
        link->peer = (int) n;
        s_link_refuse (link, reason, false);
        return;
    }
    link->peer = (int) n;
    if (s_check_identity (link, (int) n, reason, sizeof (reason))
        || s_check_certificate (link, (int) n, reason, sizeof (reason))) {
        s_link_refuse (link, reason, true);
        return;
    }
    const char *address = json_string_value (json_object_get (json, "address"));
    if (address && !cw_name_equal (address, peer->address))
        cw_warn ("peerlink: peer %lld calls itself %s, configured here as %s", (long long) n, address, peer->address);
    s_link_t *old = peer->link [CW_PEERLINK_INBOUND];
    if (old && old != link)
        s_link_close (old, "replaced by a new connection from the peer");
    peer->link [CW_PEERLINK_INBOUND] = link;
    if (s_link_queue_json (link, json_pack ("{s:b, s:i}", "ok", 1, "index", self->self_index))) {
        s_link_close (link, "out of memory");
        return;
    }
    s_link_up (link, (int) n);
}

//  The dialer got the answer to its HELLO.
static void
s_handle_hello_answer (s_link_t *link, json_t *json)
{
    char reason [S_REASON_MAX];
    json_t *ok = json ? json_object_get (json, "ok") : NULL;
    if (!json_is_boolean (ok)) {
        link->owner->stats.malformed_frames++;
        s_link_close (link, "malformed HELLO answer");
        return;
    }
    if (!json_is_true (ok)) {
        const char *error = json_string_value (json_object_get (json, "error"));
        snprintf (reason, sizeof (reason), "rejected by peer %d: %s", link->peer, error ? error : "no reason given");
        s_link_close (link, reason);
        return;
    }
    json_int_t index = json_integer_value (json_object_get (json, "index"));
    if (index != link->peer) {
        snprintf (reason, sizeof (reason), "%s answered as peer %lld, expected peer %d", link->ip, (long long) index,
                  link->peer);
        s_link_close (link, reason);
        return;
    }
    s_link_up (link, link->peer);
}

//  ---------------------------------------------------------------------
//  Input

static void
s_malformed (s_link_t *link, const char *what)
{
    char reason [S_REASON_MAX];
    const char *when = link->state == S_UP ? "" : " before HELLO";
    snprintf (reason, sizeof (reason), "malformed frame%s: %s", when, what);
    link->owner->stats.malformed_frames++;
    cw_warn ("peerlink: malformed frame remote=%s:%u peer=%d what=\"%s%s\"", link->ip, (unsigned) link->port,
             s_link_peer (link), what, when);
    s_link_close (link, reason);
}

//  Give a message of an up link to on_message. Returns -1 if the link
//  was closed (by malformed JSON or by the callback).
static int
s_deliver (s_link_t *link, const cw_frame_t *frame)
{
    cw_peerlink_t *self = link->owner;
    json_t *json = NULL;
    char *text = NULL;
    char what [300];
    if (cw_frame_json (frame, &json, what, sizeof (what))) {
        s_malformed (link, what);
        return -1;
    }
    if (json) {
        text = strndup (frame->json, frame->json_len);
        if (!text) {
            json_decref (json);
            s_link_close (link, "out of memory");
            return -1;
        }
    }
    if (self->on_message)
        self->on_message (self, link->peer, link->id, link->dir, frame->type, frame->corr, text ? text : "", json,
                          frame->blob, frame->blob_len, self->arg);
    json_decref (json);
    free (text);
    return link->state == S_CLOSED ? -1 : 0;
}

//  A CHUNK frame on an up link: add it to the message being put together,
//  and deliver the message once it is whole. Returns -1 if the link was
//  closed.
static int
s_chunk (s_link_t *link, const cw_frame_t *frame)
{
    char what [160];
    json_t *json = NULL;
    if (cw_frame_json (frame, &json, what, sizeof (what))) {
        s_malformed (link, what);
        return -1;
    }
    json_t *jsize = json ? json_object_get (json, "size") : NULL;
    bool first = json_is_integer (jsize);
    json_int_t size = first ? json_integer_value (jsize) : 0;
    json_decref (json);
    if (first) {
        if (link->msg_size) {
            s_malformed (link, "a chunked message began inside another");
            return -1;
        }
        if (size < CW_FRAME_HEADER || (uint64_t) size > 4 + (uint64_t) CW_PEERLINK_MAX_MESSAGE) {
            snprintf (what, sizeof (what), "chunked message of %lld bytes (at most %u)", (long long) size,
                      4 + CW_PEERLINK_MAX_MESSAGE);
            s_malformed (link, what);
            return -1;
        }
        link->msg_size = (size_t) size;
        link->msg_len = 0;
    }
    else if (!link->msg_size) {
        s_malformed (link, "a chunk outside a chunked message");
        return -1;
    }
    if (frame->blob_len > link->msg_size - link->msg_len) {
        s_malformed (link, "chunks longer than their message");
        return -1;
    }
    if (link->msg_len + frame->blob_len > link->msg_cap) {
        //  Grow with what arrived (doubling), never past the announced size
        size_t cap = link->msg_cap ? link->msg_cap : CW_PEERLINK_CHUNK;
        while (cap < link->msg_len + frame->blob_len)
            cap *= 2;
        if (cap > link->msg_size)
            cap = link->msg_size;
        uint8_t *msg = realloc (link->msg, cap);
        if (!msg) {
            s_link_close (link, "out of memory for a chunked message");
            return -1;
        }
        link->msg = msg;
        link->msg_cap = cap;
    }
    if (frame->blob_len)
        memcpy (link->msg + link->msg_len, frame->blob, frame->blob_len);
    link->msg_len += frame->blob_len;
    if (link->msg_len < link->msg_size)
        return 0;
    //  Whole: it is one frame; the link gives up the buffer first (a
    //  callback may close the link)
    uint8_t *msg = link->msg;
    size_t msg_size = link->msg_size;
    link->msg = NULL;
    link->msg_len = link->msg_size = link->msg_cap = 0;
    cw_frame_t inner;
    int rc = -1;
    cw_frame_result_t result = cw_frame_decode (msg, msg_size, CW_PEERLINK_MAX_MESSAGE, &inner, what, sizeof (what));
    if (result == CW_FRAME_INCOMPLETE || (result == CW_FRAME_COMPLETE && inner.size != msg_size))
        s_malformed (link, "a chunked message whose length is not its size");
    else if (result == CW_FRAME_MALFORMED)
        s_malformed (link, what);
    else if (inner.type == CW_FRAME_TYPE_HELLO || inner.type == CW_FRAME_TYPE_CHUNK)
        s_malformed (link, "a chunked message of a reserved type");
    else
        rc = s_deliver (link, &inner);
    free (msg);
    return rc;
}

//  Handle one complete frame. Returns -1 if the link was closed.
static int
s_dispatch (s_link_t *link, const cw_frame_t *frame)
{
    cw_peerlink_t *self = link->owner;
    int n = s_link_peer (link);
    if (n) {
        self->peers [n - 1].st [link->dir].frames_in++;
        self->peers [n - 1].st [link->dir].bytes_in += frame->size;
    }
    if (link->state == S_HELLO) {
        if (frame->type != CW_FRAME_TYPE_HELLO) {
            s_malformed (link, "expected HELLO");
            return -1;
        }
        json_t *json = NULL;
        char what [300];
        if (cw_frame_json (frame, &json, what, sizeof (what))) {
            s_malformed (link, what);
            return -1;
        }
        if (link->dir == CW_PEERLINK_INBOUND)
            s_handle_hello (link, json);
        else
            s_handle_hello_answer (link, json);
        json_decref (json);
    }
    else if (link->state == S_UP) {
        if (frame->type == CW_FRAME_TYPE_HELLO) {
            s_malformed (link, "HELLO on a link that is up");
            return -1;
        }
        if (frame->type == CW_FRAME_TYPE_CHUNK)
            return s_chunk (link, frame);
        if (link->msg_size) {
            s_malformed (link, "a frame inside a chunked message");
            return -1;
        }
        return s_deliver (link, frame);
    }
    return link->state == S_CLOSED ? -1 : 0;
}

//  Frame what is in the input buffer. Before HELLO completes a frame may
//  be CW_PEERLINK_MAX_HELLO_FRAME long, after it CW_PEERLINK_MAX_FRAME:
//  the decoder refuses a longer length as soon as its 4 bytes are here.
//  Returns -1 if the link was closed.
static int
s_link_frames (s_link_t *link)
{
    size_t off = 0;
    int rc = 0;
    for (;;) {
        cw_frame_t frame;
        char what [80];
        size_t max = link->state == S_UP ? CW_PEERLINK_MAX_FRAME : CW_PEERLINK_MAX_HELLO_FRAME;
        cw_frame_result_t result = cw_frame_decode (link->io.in + off, link->io.in_len - off, max, &frame, what,
                                                    sizeof (what));
        if (result == CW_FRAME_MALFORMED) {
            s_malformed (link, what);
            return -1;
        }
        if (result == CW_FRAME_INCOMPLETE)
            break;
        if (s_dispatch (link, &frame))
            return -1;
        if (link->state != S_UP && link->state != S_HELLO) {
            rc = -1;    //  closing: ignore what follows
            break;
        }
        off += frame.size;
    }
    cw_tlsio_consume (&link->io, off);
    return rc;
}

//  Read until OpenSSL wants more, or S_READ_BUDGET bytes were read (then
//  the socket is still readable, or OpenSSL holds nothing more, and the
//  next event goes on). Returns -1 if the link was closed.
static int
s_link_read (s_link_t *link)
{
    char reason [S_REASON_MAX], text [256];
    int err, rc;
    size_t budget = S_READ_BUDGET;
    while ((rc = cw_tlsio_read (&link->io, &err, text, sizeof (text))) > 0) {
        if (s_link_frames (link))
            return -1;
        budget = (size_t) rc < budget ? budget - (size_t) rc : 0;
        if (budget == 0 && !SSL_has_pending (link->io.ssl))
            return 0;
    }
    if (rc == 0)
        return 0;
    if (err == SSL_ERROR_SSL && link->state == S_HELLO) {
        //  TLS 1.3: the server checks our certificate after our side of
        //  the handshake is done; its alert arrives here
        link->owner->stats.handshake_failures++;
        snprintf (reason, sizeof (reason), "TLS handshake failed: %s", text);
    }
    else if (link->io.in_len > 0 || link->msg_size) {
        link->owner->stats.malformed_frames++;
        snprintf (reason, sizeof (reason), "truncated frame at close (%s)", text);
        cw_warn ("peerlink: truncated frame remote=%s:%u peer=%d bytes=%zu", link->ip, (unsigned) link->port,
                 s_link_peer (link), link->io.in_len + link->msg_len);
    }
    else
        cw_copy (reason, sizeof (reason), text);
    s_link_close (link, reason);
    return -1;
}

//  ---------------------------------------------------------------------
//  Connection setup

static int
s_link_start_tls (s_link_t *link)
{
    cw_peerlink_t *self = link->owner;
    link->io.ssl = SSL_new (self->ctx);
    if (!link->io.ssl || SSL_set_fd (link->io.ssl, link->fd) != 1) {
        s_link_close (link, "cannot create the TLS session");
        return -1;
    }
    if (link->dir == CW_PEERLINK_OUTBOUND) {
        const char *address = self->peers [link->peer - 1].address;
        if (!cw_ip_normalize (address, NULL, 0))
            SSL_set_tlsext_host_name (link->io.ssl, address);
        SSL_set_connect_state (link->io.ssl);
    }
    else
        SSL_set_accept_state (link->io.ssl);
    link->state = S_HANDSHAKE;
    return 0;
}

static void
s_handshake_done (s_link_t *link)
{
    cw_peerlink_t *self = link->owner;
    link->io.want_write = false;
    link->state = S_HELLO;
    if (link->dir == CW_PEERLINK_INBOUND)
        return;    //  the certificate is checked against HELLO's index
    char reason [S_REASON_MAX];
    if (s_check_identity (link, link->peer, reason, sizeof (reason))
        || s_check_certificate (link, link->peer, reason, sizeof (reason))) {
        s_link_fail (link, reason, &self->stats.handshake_failures, true);
        return;
    }
    json_t *hello = json_pack ("{s:i, s:s}", "index", self->self_index, "address",
                               self->peers [self->self_index - 1].address);
    if (s_link_queue_json (link, hello))
        s_link_close (link, "out of memory");
}

static void
s_link_handshake (s_link_t *link)
{
    cw_peerlink_t *self = link->owner;
    ERR_clear_error ();
    errno = 0;
    int rc = SSL_do_handshake (link->io.ssl);
    if (rc == 1) {
        s_handshake_done (link);
        return;
    }
    int err = SSL_get_error (link->io.ssl, rc);
    if (err == SSL_ERROR_WANT_READ) {
        link->io.want_write = false;
        return;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
        link->io.want_write = true;
        return;
    }
    char reason [S_REASON_MAX], text [256];
    bool certificate = false;
    long vr = SSL_get_verify_result (link->io.ssl);
    if (self->verify == CW_PEERLINK_ENFORCE && vr != X509_V_OK) {
        snprintf (reason, sizeof (reason), "certificate not trusted: %s", X509_verify_cert_error_string (vr));
        certificate = true;
        ERR_clear_error ();
    }
    else {
        cw_tls_failure (err, "protocol error", text, sizeof (text));
        snprintf (reason, sizeof (reason), "TLS handshake failed: %s", text);
    }
    cw_debug ("peerlink: handshake failed remote=%s:%u peer=%d dir=%s reason=\"%s\"", link->ip, (unsigned) link->port,
              s_link_peer (link), s_dir_name (link->dir), reason);
    s_link_fail (link, reason, &self->stats.handshake_failures, certificate);
}

static void
s_link_connected (s_link_t *link)
{
    char remote [96], reason [S_REASON_MAX];
    snprintf (remote, sizeof (remote), "%s:%u", link->ip, (unsigned) link->port);
    if (cw_tcp_connected (link->fd, remote, reason, sizeof (reason)))
        s_link_close (link, reason);
    else
        s_link_start_tls (link);
}

//  Advance the link as far as it goes without blocking.
static void
s_link_pump (s_link_t *link, short revents)
{
    if (link->state == S_CONNECTING) {
        if (!(revents & (ZMQ_POLLOUT | ZMQ_POLLERR)))
            return;
        s_link_connected (link);
        if (link->state == S_CLOSED)
            return;
    }
    if (link->state == S_HANDSHAKE) {
        s_link_handshake (link);
        if (link->state == S_HANDSHAKE) {
            s_link_set_events (link);
            return;
        }
        if (link->state == S_CLOSED)
            return;
    }
    if (link->state == S_CLOSING) {
        if (s_link_flush (link) == 0 && cw_tlsio_pending (&link->io) == 0)
            s_link_close (link, NULL);
        else
            s_link_set_events (link);
        return;
    }
    if (s_link_flush (link))
        return;
    if (s_link_read (link))
        return;
    //  Reading may have queued answers (HELLO) or a callback may have sent
    if (link->state != S_CLOSED && cw_tlsio_pending (&link->io) && !link->io.want_write && s_link_flush (link))
        return;
    s_link_set_events (link);
}

static int
s_link_handler (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    s_link_t *link = (s_link_t *) arg;
    if (link->state == S_CLOSED || item->fd != link->fd)
        return 0;
    s_link_pump (link, item->revents);
    return 0;
}

static void
s_peer_dial (cw_peerlink_t *self, int n)
{
    s_peer_t *peer = &self->peers [n - 1];
    int64_t now = zclock_mono ();
    if (peer->res.dns || peer->res.count == 0)
        if (peer->res.count == 0 || now - peer->resolved_at > S_DNS_REFRESH_MS)
            s_peer_resolve (self, n);
    char reason [S_REASON_MAX];
    if (peer->res.count == 0) {
        cw_copy (reason, sizeof (reason), peer->res.via);
        goto fail;
    }
    const char *ip = peer->res.ips [0];
    uint16_t port = peer->port ? peer->port : self->port;
    if (cw_ip_normalize (ip, NULL, 0) != self->family) {
        snprintf (reason, sizeof (reason), "%s (%s) is not reachable from %s: address family differs", peer->address,
                  ip, self->listen_address);
        goto fail;
    }
    int fd = cw_tcp_dial (ip, port, self->listen_address, reason, sizeof (reason));
    if (fd < 0)
        goto fail;
    s_link_t *link = s_link_new (self, fd, CW_PEERLINK_OUTBOUND, ip, port);
    if (!link) {
        close (fd);
        cw_copy (reason, sizeof (reason), "out of memory");
        goto fail;
    }
    link->peer = n;
    link->state = S_CONNECTING;
    peer->link [CW_PEERLINK_OUTBOUND] = link;
    cw_debug ("peerlink: dialing peer=%d address=%s ip=%s port=%u", n, peer->address, ip, (unsigned) port);
    s_link_set_events (link);
    return;
fail:
    s_peer_backoff (self, peer);
    s_peer_note_error (self, n, CW_PEERLINK_OUTBOUND, reason, false);
    if (s_report_down (self, n, CW_PEERLINK_OUTBOUND, reason, false))
        cw_warn ("peerlink: cannot dial peer=%d reason=\"%s\"", n, reason);
}

static int
s_accept_handler (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    cw_peerlink_t *self = (cw_peerlink_t *) arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof (ss);
        int fd = accept4 (self->listen_fd, (struct sockaddr *) &ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                cw_warn ("peerlink: accept failed error=\"%s\"", strerror (errno));
            return 0;
        }
        char ip [CW_RESOLVE_IP_MAX];
        uint16_t port = 0;
        cw_sockaddr_ip (&ss, ip, sizeof (ip), &port);
        int candidate = s_peer_of_ip (self, ip);
        if (!candidate) {
            close (fd);
            self->stats.rejected_connections++;
            cw_warn ("peerlink: connection from a non-peer address closed remote=%s:%u", ip, (unsigned) port);
            continue;
        }
        int pending = 0;
        for (s_link_t *l = self->links; l; l = l->next)
            if (l->dir == CW_PEERLINK_INBOUND && l->state != S_UP)
                pending++;
        if (pending >= S_MAX_PENDING_INBOUND) {
            close (fd);
            self->stats.rejected_connections++;
            cw_warn ("peerlink: too many connections in setup, closed remote=%s:%u", ip, (unsigned) port);
            continue;
        }
        self->stats.accepted_connections++;
        int one = 1;
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
        s_link_t *link = s_link_new (self, fd, CW_PEERLINK_INBOUND, ip, port);
        if (!link) {
            close (fd);
            continue;
        }
        link->candidate = candidate;
        cw_debug ("peerlink: accepted remote=%s:%u candidate=%d", ip, (unsigned) port, candidate);
        if (s_link_start_tls (link) == 0)
            s_link_pump (link, ZMQ_POLLIN);
    }
}

//  ---------------------------------------------------------------------
//  Timer: free the dead, time out the slow, dial the missing

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_peerlink_t *self = (cw_peerlink_t *) arg;
    while (self->graveyard) {
        s_link_t *link = self->graveyard;
        self->graveyard = link->next;
        s_link_free (link);
    }
    int64_t now = zclock_mono ();
    s_link_t *link = self->links;
    while (link) {
        s_link_t *next = link->next;
        if (link->state == S_CLOSING && now - link->closing_since > S_CLOSING_MS)
            s_link_close (link, NULL);
        else if (link->state != S_UP && link->state != S_CLOSING && now - link->started > self->handshake_timeout_ms) {
            if (link->state == S_HANDSHAKE)
                self->stats.handshake_failures++;
            s_link_close (link, link->state == S_CONNECTING ? "connect timeout" : "handshake timeout");
        }
        link = next;
    }
    for (int n = 1; n <= CW_PEERLINK_MAX_PEERS; n++) {
        s_peer_t *peer = &self->peers [n - 1];
        if (n == self->self_index || !*peer->address)
            continue;
        if (peer->res.dns && now - peer->resolved_at > (peer->res.count ? S_DNS_REFRESH_MS : S_DNS_RETRY_MS))
            s_peer_resolve (self, n);
        if (!peer->link [CW_PEERLINK_OUTBOUND] && now >= peer->next_dial)
            s_peer_dial (self, n);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Public API

static int
s_set_peers (cw_peerlink_t *self, const cw_peerlink_peers_t *peers, bool initial, char *err, size_t errlen)
{
    if (peers->self_index < 1 || peers->self_index > CW_PEERLINK_MAX_PEERS || !peers->address [peers->self_index - 1]
        || !*peers->address [peers->self_index - 1]) {
        snprintf (err, errlen, "this peer's index %d is not a configured slot of the peer list", peers->self_index);
        return -1;
    }
    for (size_t i = 0; i < peers->mapping_count; i++)
        if (!peers->mapping [i].fqdn || !peers->mapping [i].ip) {
            snprintf (err, errlen, "address mapping entry %zu is incomplete", i + 1);
            return -1;
        }
    cw_address_mapping_t *mapping = cw_mapping_copy (peers->mapping, peers->mapping_count);
    if (peers->mapping_count && !mapping) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    free (self->mapping);
    self->mapping = mapping;
    self->mapping_count = peers->mapping_count;
    bool self_changed = !initial && peers->self_index != self->self_index;
    self->self_index = peers->self_index;
    self->ip_version = peers->ip_version;

    int64_t now = zclock_mono ();
    for (int n = 1; n <= CW_PEERLINK_MAX_PEERS; n++) {
        s_peer_t *peer = &self->peers [n - 1];
        const char *address = peers->address [n - 1] ? peers->address [n - 1] : "";
        bool changed = strcmp (peer->address, address) != 0 || peer->port != peers->port [n - 1];
        if ((changed || self_changed) && !initial) {
            const char *why = !*address    ? "peer removed from the configuration"
                            : self_changed ? "this peer's index changed"
                                           : "peer address changed";
            for (int dir = 0; dir < 2; dir++)
                if (peer->link [dir])
                    s_link_close (peer->link [dir], why);
            //  Links still in setup for this slot, inbound before HELLO
            for (s_link_t *l = self->links, *next; l; l = next) {
                next = l->next;
                if (s_link_peer (l) == n)
                    s_link_close (l, why);
            }
        }
        if (changed || initial) {
            cw_copy (peer->address, sizeof (peer->address), address);
            peer->port = peers->port [n - 1];
            peer->certificate [0] = 0;
            peer->fingerprint [0] = 0;
            for (int dir = 0; dir < 2; dir++) {
                peer->st [dir].certificate [0] = 0;
                peer->st [dir].fingerprint [0] = 0;
                peer->reported [dir][0] = 0;
                peer->reported_up [dir] = false;
            }
            peer->backoff_ms = self->reconnect_ms;
            peer->next_dial = now;
        }
        s_peer_resolve (self, n);
    }
    //  Links whose IP no longer belongs to their peer
    for (s_link_t *l = self->links, *next; l; l = next) {
        next = l->next;
        int n = l->peer;
        if (n && !cw_resolution_has (&self->peers [n - 1].res, l->ip)) {
            char reason [S_REASON_MAX];
            s_check_resolution (self, n, l->ip, l->dir == CW_PEERLINK_OUTBOUND, reason, sizeof (reason));
            s_link_close (l, reason);
        }
    }
    return 0;
}

cw_peerlink_t *
cw_peerlink_new (zloop_t *loop, const cw_peerlink_config_t *cfg, char *err, size_t errlen)
{
    if (!loop || !cfg) {
        snprintf (err, errlen, "no loop or configuration");
        return NULL;
    }
    char listen_ip [CW_RESOLVE_IP_MAX];
    if (!cw_ip_normalize (cfg->listen_address, listen_ip, sizeof (listen_ip))) {
        snprintf (err, errlen, "peering address '%s' is not an IP address",
                  cfg->listen_address ? cfg->listen_address : "");
        return NULL;
    }
    struct sigaction old;
    if (sigaction (SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal (SIGPIPE, SIG_IGN);

    cw_peerlink_t *self = calloc (1, sizeof (cw_peerlink_t));
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->listen_fd = -1;
    self->timer_id = -1;
    self->verify = cfg->verify;
    self->on_message = cfg->on_message;
    self->on_link = cfg->on_link;
    self->on_certificate = cfg->on_certificate;
    self->arg = cfg->arg;
    self->reconnect_ms = cfg->reconnect_ms > 0 ? cfg->reconnect_ms : 500;
    self->reconnect_max_ms = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 2000;
    if (self->reconnect_max_ms < self->reconnect_ms)
        self->reconnect_max_ms = self->reconnect_ms;
    self->handshake_timeout_ms = cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : 5000;
    cw_copy (self->listen_address, sizeof (self->listen_address), listen_ip);

    if (s_set_peers (self, &cfg->peers, true, err, errlen))
        goto fail;
    cw_tls_config_t tls = { .certificate = cfg->certificate,
                            .private_key = cfg->private_key,
                            .ca_file = cfg->ca_file,
                            .verify = cfg->verify == CW_PEERLINK_ENFORCE ? CW_TLS_VERIFY_ENFORCE
                                                                         : CW_TLS_VERIFY_PERMISSIVE };
    self->ctx = cw_tls_context_new (&tls, err, errlen);
    if (!self->ctx)
        goto fail;

    struct sockaddr_storage ss;
    socklen_t sslen = cw_sockaddr_make (listen_ip, cfg->port, &ss);
    self->family = ss.ss_family;
    self->listen_fd = socket (ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (self->listen_fd < 0 || setsockopt (self->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one)) != 0
        || bind (self->listen_fd, (struct sockaddr *) &ss, sslen) != 0 || listen (self->listen_fd, 64) != 0) {
        char text [128];
        cw_errno_text (errno, text, sizeof (text));
        snprintf (err, errlen, "cannot listen on %s:%u: %s", listen_ip, (unsigned) cfg->port, text);
        goto fail;
    }
    socklen_t len = sizeof (ss);
    getsockname (self->listen_fd, (struct sockaddr *) &ss, &len);
    cw_sockaddr_ip (&ss, listen_ip, sizeof (listen_ip), &self->port);
    self->listen_item.socket = NULL;
    self->listen_item.fd = self->listen_fd;
    self->listen_item.events = ZMQ_POLLIN;
    if (zloop_poller (loop, &self->listen_item, s_accept_handler, self) != 0) {
        snprintf (err, errlen, "cannot poll the peering listener");
        goto fail;
    }
    zloop_poller_set_tolerant (loop, &self->listen_item);
    self->timer_id = zloop_timer (loop, S_TICK_MS, 0, s_tick, self);
    if (self->timer_id < 0) {
        snprintf (err, errlen, "cannot start the peering timer");
        goto fail;
    }
    cw_info ("peerlink: listening address=%s port=%u index=%d verify=%s", self->listen_address, (unsigned) self->port,
             self->self_index, self->verify == CW_PEERLINK_ENFORCE ? "enforce" : "permissive");
    return self;
fail:
    cw_peerlink_destroy (&self);
    return NULL;
}

void
cw_peerlink_destroy (cw_peerlink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_peerlink_t *self = *self_p;
    self->destroying = true;    //  no callbacks while tearing down
    while (self->links)
        s_link_close (self->links, "shutting down");
    while (self->graveyard) {
        s_link_t *link = self->graveyard;
        self->graveyard = link->next;
        s_link_free (link);
    }
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    if (self->listen_fd >= 0) {
        zloop_poller_end (self->loop, &self->listen_item);
        close (self->listen_fd);
    }
    if (self->ctx)
        SSL_CTX_free (self->ctx);
    free (self->mapping);
    free (self);
    *self_p = NULL;
}

int
cw_peerlink_update_peers (cw_peerlink_t *self, const cw_peerlink_peers_t *peers, char *err, size_t errlen)
{
    if (!self || !peers) {
        snprintf (err, errlen, "no peer table");
        return -1;
    }
    return s_set_peers (self, peers, false, err, errlen);
}

static int
s_send_on (s_link_t *link, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    if (!link || link->state != S_UP || type == CW_PEERLINK_TYPE_HELLO || type == CW_PEERLINK_TYPE_CHUNK
        || (blob_len && !blob))
        return -1;
    if (s_link_queue (link, type, corr, json, blob, blob_len))
        return -1;
    if (!link->io.want_write && !link->io.write_wants_read && s_link_flush (link))
        return 0;    //  queued, but the link just died
    s_link_set_events (link);
    return 0;
}

int
cw_peerlink_send (cw_peerlink_t *self, int peer_index, uint8_t type, uint64_t corr, const char *json, const void *blob,
                  size_t blob_len)
{
    if (!self || peer_index < 1 || peer_index > CW_PEERLINK_MAX_PEERS)
        return -1;
    return s_send_on (self->peers [peer_index - 1].link [CW_PEERLINK_OUTBOUND], type, corr, json, blob, blob_len);
}

int
cw_peerlink_reply (cw_peerlink_t *self, uint64_t link_id, uint8_t type, uint64_t corr, const char *json,
                   const void *blob, size_t blob_len)
{
    if (!self)
        return -1;
    return s_send_on (s_link_by_id (self, link_id), type, corr, json, blob, blob_len);
}

size_t
cw_peerlink_pending (cw_peerlink_t *self, int peer_index)
{
    if (!self || peer_index < 1 || peer_index > CW_PEERLINK_MAX_PEERS)
        return 0;
    s_link_t *link = self->peers [peer_index - 1].link [CW_PEERLINK_OUTBOUND];
    return link ? cw_tlsio_pending (&link->io) : 0;
}

int
cw_peerlink_peer_status (cw_peerlink_t *self, int index, cw_peerlink_peer_status_t *status)
{
    if (!self || !status || index < 1 || index > CW_PEERLINK_MAX_PEERS)
        return -1;
    s_peer_t *peer = &self->peers [index - 1];
    memset (status, 0, sizeof (*status));
    status->index = index;
    status->configured = *peer->address != 0;
    status->self = index == self->self_index;
    cw_copy (status->address, sizeof (status->address), peer->address);
    if (peer->res.count)
        cw_copy (status->ip, sizeof (status->ip), peer->res.ips [0]);
    cw_copy (status->resolution, sizeof (status->resolution), peer->res.via);
    status->outbound = peer->st [CW_PEERLINK_OUTBOUND];
    status->inbound = peer->st [CW_PEERLINK_INBOUND];
    status->up = status->outbound.up;
    cw_copy (status->certificate, sizeof (status->certificate), peer->certificate);
    cw_copy (status->fingerprint, sizeof (status->fingerprint), peer->fingerprint);
    cw_copy (status->last_error, sizeof (status->last_error), peer->last_error);
    return 0;
}

void
cw_peerlink_stats (cw_peerlink_t *self, cw_peerlink_stats_t *stats)
{
    if (self && stats)
        *stats = self->stats;
}

uint16_t
cw_peerlink_port (cw_peerlink_t *self)
{
    return self ? self->port : 0;
}
