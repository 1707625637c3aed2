/*  transport.h - how the cluster core reaches its peers: a small table of
    functions over the peer links. In production it is the TLS peer links
    (cw_transport_peerlink, link/peerlink.h); unit tests give the core an
    in-memory transport that connects several cores in one process.

    The transport speaks peerlink's vocabulary (its configuration, frames,
    link and peer status): a transport is "something that behaves as
    peerlink does", so the core cannot tell the two apart. START gets the
    whole configuration, callbacks included; the callbacks' first argument
    (the peerlink) is NULL for a transport that is not peerlink.
*/
#ifndef CW_TRANSPORT_H
#define CW_TRANSPORT_H

#include "peerlink.h"

typedef struct {
    //  Start the links of CFG (borrowed; strings copied) on LOOP. The
    //  instance, or NULL with ERR.
    void *(*start) (zloop_t *loop, const cw_peerlink_config_t *cfg, char *err, size_t errlen);
    //  Close every link and free the instance; sets *IMPL_P to NULL.
    void (*stop) (void **impl_p);
    //  As cw_peerlink_send, cw_peerlink_reply, cw_peerlink_update_peers,
    //  cw_peerlink_peer_status and cw_peerlink_stats.
    int (*send) (void *impl, int peer, uint8_t type, uint64_t corr, const char *json, const void *blob,
                 size_t blob_len);
    int (*reply) (void *impl, uint64_t link_id, uint8_t type, uint64_t corr, const char *json, const void *blob,
                  size_t blob_len);
    int (*update_peers) (void *impl, const cw_peerlink_peers_t *peers, char *err, size_t errlen);
    int (*peer_status) (void *impl, int peer, cw_peerlink_peer_status_t *status);
    void (*stats) (void *impl, cw_peerlink_stats_t *stats);
    //  The peerlink behind IMPL, or NULL (only for code that still reads
    //  the links directly).
    cw_peerlink_t *(*peerlink) (void *impl);
} cw_transport_t;

//  The production transport: TLS peer links.
extern const cw_transport_t cw_transport_peerlink;

#endif
