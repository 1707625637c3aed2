/*  transport.c - the production transport of the cluster core: the TLS
    peer links of link/peerlink.h, one function each (see transport.h).
*/
#include "transport.h"

static void *
s_start (zloop_t *loop, const cw_peerlink_config_t *cfg, char *err, size_t errlen)
{
    return cw_peerlink_new (loop, cfg, err, errlen);
}

static void
s_stop (void **impl_p)
{
    cw_peerlink_t *links = *impl_p;
    cw_peerlink_destroy (&links);
    *impl_p = NULL;
}

static int
s_send (void *impl, int peer, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    return cw_peerlink_send (impl, peer, type, corr, json, blob, blob_len);
}

static int
s_reply (void *impl, uint64_t link_id, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    return cw_peerlink_reply (impl, link_id, type, corr, json, blob, blob_len);
}

static int
s_update_peers (void *impl, const cw_peerlink_peers_t *peers, char *err, size_t errlen)
{
    return cw_peerlink_update_peers (impl, peers, err, errlen);
}

static int
s_peer_status (void *impl, int peer, cw_peerlink_peer_status_t *status)
{
    return cw_peerlink_peer_status (impl, peer, status);
}

static void
s_stats (void *impl, cw_peerlink_stats_t *stats)
{
    cw_peerlink_stats (impl, stats);
}

static cw_peerlink_t *
s_peerlink (void *impl)
{
    return impl;
}

const cw_transport_t cw_transport_peerlink = {
    .start = s_start,
    .stop = s_stop,
    .send = s_send,
    .reply = s_reply,
    .update_peers = s_update_peers,
    .peer_status = s_peer_status,
    .stats = s_stats,
    .peerlink = s_peerlink,
};
