/*  peerlink.h - the TLS links between the peers of a cluster.

    A cw_peerlink_t is a library object driven by a zloop_t the caller
    owns (no threads, no actor runtime). It listens on this peer's peering
    address and port, dials every other configured peer, and carries
    length-prefixed frames over TLS 1.2+ (OpenSSL, non-blocking sockets
    polled by the zloop).

    Links. There is one TCP+TLS connection per direction per pair of peers:
      - the OUTBOUND link to peer N is the connection this peer dialed. It
        carries what this peer initiates (requests, heartbeats, changesets)
        and the peer's answers to them. cw_peerlink_send () always uses it.
      - the INBOUND link from peer N is the connection peer N dialed. It
        carries what N initiates; answer it with cw_peerlink_reply (), using
        the link id the on_message callback received.
    Nothing enforces this split (both links carry any frame type); it is a
    convention that keeps ordering simple: everything one peer initiates
    flows, in order, over one connection.

    Wire format (both directions, inside TLS; frame.h is its codec):
        [u32 big-endian length of the rest][u8 version = 1][u8 type]
        [u64 big-endian corr][u32 big-endian json_len][json bytes][blob bytes]
    "length of the rest" covers version..blob. json is UTF-8 JSON text
    (any JSON value) or empty (json_len = 0); the blob is opaque bytes (may
    be empty). Types 0 (the links' own HELLO exchange) and 255 (CHUNK) are
    reserved; callers use types 1..254. Anything malformed (bad version,
    inconsistent lengths, oversize, JSON that does not parse as UTF-8 JSON,
    a truncated frame at close, a frame before HELLO) is counted in
    stats.malformed_frames, logged, and the connection closed. Bytes from
    a peer are never asserted on.

    Limits. Until HELLO is answered, a frame's "length of the rest" may be
    at most CW_PEERLINK_MAX_HELLO_FRAME (64 KiB); on an up link at most
    CW_PEERLINK_MAX_FRAME (8 MiB). A larger length prefix is malformed the
    moment its 4 bytes arrive: the connection is closed before any of the
    body is read, so an unidentified connection holds at most a few
    hundred KiB of buffers. Reading is non-blocking and bounded per event
    (1 MiB), writing per flush (CW_TLSIO_FLUSH_BUDGET), so a large transfer
    never keeps the caller's zloop from its timers.

    Large messages. A message whose frame would be longer than
    CW_PEERLINK_MAX_FRAME (a snapshot of cluster.db), up to
    CW_PEERLINK_MAX_MESSAGE (1 GiB), is sent transparently as CHUNK
    frames (type 255): the bytes of the frame it would be, cut into pieces
    of CW_PEERLINK_CHUNK (4 MiB), each the blob of one CHUNK frame with the
    message's corr; the first CHUNK's JSON is {"size": <bytes of the whole
    frame>}. The chunks of one message follow each other on the link with
    nothing in between. The receiver accepts chunks only on an up link,
    puts them together in a buffer that grows with what arrived, never
    past the announced size, and delivers the message to on_message as if
    it had come in one frame. A chunk outside a message, a message that
    begins inside another, chunks longer than the announced size, a size
    above the maximum or a whole that is not one valid frame of a caller's
    type are malformed.

    Connection setup:
      1. accept(): the source IP must be one of the configured peers' IPs
         (IP literal, address mapping, else DNS; this peer excluded), else
         the socket is closed right away, before any TLS, and counted in
         stats.rejected_connections.
      2. Mutual TLS handshake (both sides present their certificate).
         PERMISSIVE: certificates are requested and presented but not
         verified. ENFORCE: the certificate must chain to ca_file (a
         handshake failure otherwise, counted in stats.handshake_failures),
         its SAN (CN when it has no DNS SAN) must contain the FQDN
         configured as that peer's address (an IP SAN when the configured
         address is an IP literal), and that FQDN must resolve -- address
         mapping first, DNS only when no mapping matches -- to the IP the
         connection came from / went to.
      3. The dialer checks the server's certificate against the peer it
         dialed (and asks on_certificate, when set), then sends HELLO {"index": N, "address": "<its own
         configured address>"}. The acceptor checks that N is a configured
         peer other than itself whose address resolves to the source IP
         (both modes), and in ENFORCE mode the client certificate against
         peer N's address, then asks on_certificate (when set); it answers {"ok": true, "index": M} or
         {"ok": false, "error": "<reason>"} and closes (a rejection counts
         in stats.rejected_connections). The outbound link is UP when the
         dialer gets the ok, the inbound link when the acceptor sends it.
    A new inbound link from peer N replaces an older one.

    Down peers are redialed 500 ms after a failure, backing off to 2 s.
    A link that is not up within 5 s is closed ("handshake timeout").

    Callbacks run from the zloop. They may call cw_peerlink_send, _reply,
    _update_peers and the status functions, but never cw_peerlink_destroy.
    on_link reports a link going up, an up link going down, and a failed
    attempt whose reason differs from the last one reported for that peer
    and direction (so a peer that stays unreachable is reported once, not
    every 500 ms).

    getaddrinfo() is blocking: it is called only for a peer address that is
    neither an IP literal nor in the address mapping, when the table
    changes and then at most every 30 s per name (2 s after a failure).

    SIGPIPE: cw_peerlink_new sets SIGPIPE to SIG_IGN if it is SIG_DFL (a
    write on a connection the peer closed must not kill the process).
*/
#ifndef CW_PEERLINK_H
#define CW_PEERLINK_H

#include "frame.h"
#include "resolve.h"

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_PEERLINK_MAX_PEERS 6
#define CW_PEERLINK_MAX_HELLO_FRAME (64u * 1024u)     //  a frame before HELLO completes
#define CW_PEERLINK_MAX_FRAME (8u * 1024u * 1024u)    //  a frame on an up link
#define CW_PEERLINK_MAX_MESSAGE CW_FRAME_MAX          //  a message (frame or chunks)
#define CW_PEERLINK_CHUNK (4u * 1024u * 1024u)        //  bytes of a message per CHUNK frame
#define CW_PEERLINK_VERSION CW_FRAME_VERSION
#define CW_PEERLINK_TYPE_HELLO CW_FRAME_TYPE_HELLO
#define CW_PEERLINK_TYPE_CHUNK CW_FRAME_TYPE_CHUNK
#define CW_PEERLINK_TEXT_MAX 256
#define CW_PEERLINK_FINGERPRINT_MAX 65    //  64 hex characters of a SHA-256 and a NUL

typedef struct _cw_peerlink_t cw_peerlink_t;

typedef enum {
    CW_PEERLINK_PERMISSIVE = 0,
    CW_PEERLINK_ENFORCE = 1
} cw_peerlink_verify_t;

typedef enum {
    CW_PEERLINK_OUTBOUND = 0,
    CW_PEERLINK_INBOUND = 1
} cw_peerlink_dir_t;

//  One FQDN -> IP pair of the cluster address mapping (pass none when the
//  mapping is disabled): {const char *fqdn; const char *ip;}. FQDNs
//  compare case-insensitively, trailing dot ignored (resolve.h).
typedef cw_address_mapping_t cw_peerlink_mapping_t;

//  The peer table. address [i] is peer i+1's configured address (IP
//  literal or FQDN); NULL or "" = empty slot. port [i] = 0 means the
//  listener's port (every peer uses the same port in production; tests may
//  differ). self_index (1..6) is this peer's slot. All strings are copied.
typedef struct {
    int self_index;
    const char *address [CW_PEERLINK_MAX_PEERS];
    uint16_t port [CW_PEERLINK_MAX_PEERS];
    const cw_peerlink_mapping_t *mapping;
    size_t mapping_count;
    int ip_version;    //  4, 6, or 0 = either (DNS lookups)
} cw_peerlink_peers_t;

//  A frame arrived on a link that is up. peer_index is the remote peer
//  (1..6), link_id identifies the connection (pass it to cw_peerlink_reply),
//  dir says whether it is our outbound or inbound link. json_text is the
//  NUL-terminated JSON text ("" when empty), json its parse (borrowed,
//  NULL when empty), blob/blob_len the opaque tail (borrowed, valid only
//  during the call; NULL when empty).
typedef void (cw_peerlink_message_fn) (cw_peerlink_t *self, int peer_index, uint64_t link_id, cw_peerlink_dir_t dir,
                                       uint8_t type, uint64_t corr, const char *json_text, json_t *json,
                                       const uint8_t *blob, size_t blob_len, void *arg);

//  A link changed state (see the header comment). reason is "" when up.
typedef void (cw_peerlink_link_fn) (cw_peerlink_t *self, int peer_index, cw_peerlink_dir_t dir, bool up,
                                    const char *reason, void *arg);

//  Peer PEER_INDEX presented, on a DIR link whose other checks passed, the
//  certificate whose SHA-256 fingerprint (DER, 64 lowercase hex) is
//  FINGERPRINT ("" when it presented none). VERIFIED: the link is in
//  ENFORCE mode (the certificate chains to the CA and names the peer).
//  Return 0 to let the link come up, or -1 with REASON (SIZE bytes) to
//  refuse it: counted in stats.handshake_failures, REASON becomes the
//  link's certificate verdict and, inbound, the HELLO answer's error.
typedef int (cw_peerlink_certificate_fn) (cw_peerlink_t *self, int peer_index, cw_peerlink_dir_t dir,
                                          const char *fingerprint, bool verified, char *reason, size_t size, void *arg);

typedef struct {
    const char *listen_address;    //  IP literal this peer listens on and dials from
    uint16_t port;                 //  listening port (4371)
    const char *certificate;       //  PEM certificate (chain) file of this peer
    const char *private_key;       //  PEM private key file
    const char *ca_file;           //  PEM trusted CAs (required in ENFORCE)
    cw_peerlink_verify_t verify;
    cw_peerlink_peers_t peers;
    cw_peerlink_message_fn *on_message;
    cw_peerlink_link_fn *on_link;
    cw_peerlink_certificate_fn *on_certificate;    //  NULL: every certificate the mode accepts
    void *arg;                                     //  passed to the callbacks
    //  Timing; 0 = default (reconnect 500 ms backing off to 2000 ms,
    //  handshake timeout 5000 ms).
    int reconnect_ms;
    int reconnect_max_ms;
    int handshake_timeout_ms;
} cw_peerlink_config_t;

typedef struct {
    uint64_t rejected_connections;    //  closed at accept, or HELLO refused
    uint64_t malformed_frames;        //  bad frames, incl. truncated at close
    uint64_t handshake_failures;      //  TLS handshake or certificate check failed
    uint64_t accepted_connections;    //  passed the accept filter
} cw_peerlink_stats_t;

typedef struct {
    bool up;
    uint64_t link_id;                           //  0 when there is no connection
    char remote [80];                           //  "ip:port" of the connection, "" if none
    char certificate [CW_PEERLINK_TEXT_MAX];    //  verdict of the last handshake, "" if none yet
    //  SHA-256 of the certificate presented in the last handshake, "" none
    char fingerprint [CW_PEERLINK_FINGERPRINT_MAX];
    char last_error [CW_PEERLINK_TEXT_MAX];    //  "" if none
    int64_t since_ms;                          //  zclock_mono () of the last up/down change
    uint64_t bytes_in, bytes_out;              //  frame bytes, cumulative over connections
    uint64_t frames_in, frames_out;
} cw_peerlink_link_status_t;

typedef struct {
    int index;          //  1..6
    bool configured;    //  slot has an address
    bool self;          //  this peer's own slot
    char address [CW_PEERLINK_TEXT_MAX];
    char ip [64];                              //  first resolved IP, "" if unresolved
    char resolution [CW_PEERLINK_TEXT_MAX];    //  "IP literal" | "address mapping" | "DNS" | error
    bool up;                                   //  outbound link up (cw_peerlink_send works)
    //  "" (no verdict yet) | "ok" | "not verified (permissive)" | reason:
    //  the latest verdict of either direction
    char certificate [CW_PEERLINK_TEXT_MAX];
    char fingerprint [CW_PEERLINK_FINGERPRINT_MAX];    //  latest presented, either direction
    char last_error [CW_PEERLINK_TEXT_MAX];            //  latest error of either direction
    cw_peerlink_link_status_t outbound;
    cw_peerlink_link_status_t inbound;
} cw_peerlink_peer_status_t;

//  Create the links: load the TLS material, bind and listen, start dialing
//  the other peers. On failure returns NULL with a message naming the
//  cause (e.g. the missing file) in err.
cw_peerlink_t *cw_peerlink_new (zloop_t *loop, const cw_peerlink_config_t *cfg, char *err, size_t errlen);

//  Close every connection, end the pollers/timer, free. Accepts NULL.
void cw_peerlink_destroy (cw_peerlink_t **self_p);

//  Replace the peer table and the address mapping. Links to peers whose
//  slot was emptied or whose address/port changed, and links whose IP no
//  longer matches their peer's resolution, are closed (and redialed when
//  still configured). A change of self_index closes every link. Returns -1
//  (err filled) if the table is invalid (self_index out of range or empty).
int cw_peerlink_update_peers (cw_peerlink_t *self, const cw_peerlink_peers_t *peers, char *err, size_t errlen);

//  Queue a frame on the OUTBOUND link to peer_index (and write what the
//  socket takes at once). json, NUL-terminated valid JSON text, may be
//  NULL (empty); it is not re-parsed here, and invalid JSON makes the
//  receiver close the link. blob may be NULL when blob_len is 0; both are
//  copied. A message longer than one frame goes as chunks (see "Large
//  messages"). Returns -1 when that link is not up, type is 0 or 255, or
//  the message is longer than CW_PEERLINK_MAX_MESSAGE.
int cw_peerlink_send (cw_peerlink_t *self, int peer_index, uint8_t type, uint64_t corr, const char *json,
                      const void *blob, size_t blob_len);

//  Queue a frame on the link with this id (normally the inbound link a
//  request came on). Returns -1 when that link is gone or not up.
int cw_peerlink_reply (cw_peerlink_t *self, uint64_t link_id, uint8_t type, uint64_t corr, const char *json,
                       const void *blob, size_t blob_len);

//  Bytes queued and not yet written to TLS on the outbound link to peer
//  (0 when there is no link): lets callers apply back-pressure.
size_t cw_peerlink_pending (cw_peerlink_t *self, int peer_index);

//  Fill *status for peer index 1..6; -1 if index is out of range.
int cw_peerlink_peer_status (cw_peerlink_t *self, int index, cw_peerlink_peer_status_t *status);

void cw_peerlink_stats (cw_peerlink_t *self, cw_peerlink_stats_t *stats);

//  The port the listener is bound to (useful when cfg->port was 0).
uint16_t cw_peerlink_port (cw_peerlink_t *self);

//  Resolve ADDRESS the way the links do: IP literal, else the mapping,
//  else DNS (family 4, 6 or 0). Writes the first IP into ip and how it was
//  found ("IP literal" | "address mapping" | "DNS") into via; -1 with the
//  reason in via when it does not resolve.
int cw_peerlink_resolve (const char *address, const cw_peerlink_mapping_t *mapping, size_t mapping_count,
                         int ip_version, char *ip, size_t iplen, char *via, size_t vialen);

#endif
