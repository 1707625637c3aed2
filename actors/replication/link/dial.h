/*  dial.h - a one-shot, blocking conversation with a peer's cluster port,
    outside the managed links of peerlink.h (a node that is not a peer yet
    uses it to present a join token). Meant for a worker thread: every
    call blocks, at most until the deadline given to cw_dial_open.

    cw_dial_open connects (TCP from a given local IP, then TLS 1.2+ with
    this node's certificate, set up by tls.h with verification NONE). The
    server's certificate is not verified here: the caller compares its
    fingerprint (cw_dial_peer_fingerprint) with the one it expects. Then
    the caller exchanges frames (frame.h) with cw_dial_send / cw_dial_recv,
    typically the links' HELLO first, and closes.

    Frames received here are limited to CW_DIAL_MAX_FRAME bytes of "length
    of the rest"; anything malformed ends the conversation (-1).
*/
#ifndef CW_DIAL_H
#define CW_DIAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_DIAL_MAX_FRAME (1024u * 1024u)

typedef struct _cw_dial_t cw_dial_t;

//  Milliseconds on CLOCK_MONOTONIC (the clock of every deadline here; the
//  same as zclock_mono ()).
int64_t cw_mono_ms (void);

//  Connect from BIND_IP to IP:PORT (IP literals of the same family) before
//  DEADLINE (cw_mono_ms), TLS 1.2+ presenting CERT/KEY (PEM files), SNI
//  SERVER_NAME when it is set and not an IP literal. Returns a new
//  conversation (destroy with cw_dial_close), or NULL with ERR, e.g.
//  "connect to 10.0.0.1:4371: connection refused", "connect to
//  10.0.0.1:4371 timed out", "bind to 10.0.0.2: <why>", "TLS handshake
//  with 10.0.0.1:4371 failed: <why>", "TLS handshake with 10.0.0.1:4371
//  timed out", "cannot dial 10.0.0.1:4371 from x: not IP addresses of one
//  family", or a tls.h message about CERT/KEY. *FINAL (may be NULL) is
//  set true when retrying cannot help (this node's certificate or key
//  unreadable or not matching, addresses invalid), false otherwise.
//  Sets SIGPIPE to SIG_IGN if it is SIG_DFL (a write on a connection the
//  peer closed must not kill the process).
cw_dial_t *cw_dial_open (const char *ip, int port, const char *bind_ip, const char *server_name, const char *cert,
                         const char *key, int64_t deadline, bool *final, char *err, size_t errlen);

//  Close (a best-effort TLS close_notify, then the socket) and free.
//  Accepts NULL; sets *self_p to NULL.
void cw_dial_close (cw_dial_t **self_p);

//  The SHA-256 fingerprint of the certificate the server presented, 64
//  lowercase hex characters into OUT. Returns 0, or -1 when it presented
//  none.
int cw_dial_peer_fingerprint (cw_dial_t *self, char out [65]);

//  Move the deadline of the calls that follow (cw_mono_ms).
void cw_dial_set_deadline (cw_dial_t *self, int64_t deadline);

//  Send one frame: TYPE, CORR, JSON (borrowed, NULL = empty), no blob.
//  Returns 0, or -1 (connection failed, deadline passed; see
//  cw_dial_error).
int cw_dial_send (cw_dial_t *self, uint8_t type, uint64_t corr, json_t *json);

//  Receive the next frame before the deadline: its *TYPE, *CORR and *JSON
//  (a new reference owned by the caller, NULL when the frame has no JSON;
//  a blob is ignored). Returns 0, or -1 (closed, malformed, timed out; see
//  cw_dial_error) with *JSON NULL.
int cw_dial_recv (cw_dial_t *self, uint8_t *type, uint64_t *corr, json_t **json);

//  Why the last cw_dial_send / cw_dial_recv failed ("" when none), e.g.
//  "connection closed by peer", "timed out", "malformed frame: <what>".
//  Valid until the next call on SELF.
const char *cw_dial_error (cw_dial_t *self);

#endif
