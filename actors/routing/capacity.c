/*  capacity.c - the cluster's call capacity (see capacity.h).

    The per-peer figure is read at each routing.status from the
    configuration the routing core keeps (config.changed.* STATE), and the
    live peers from its view of the cluster, so the figure follows a change
    of either at once.
*/
#include "capacity.h"

#include <stdio.h>
#include <stdlib.h>

json_t *
cw_capacity_compute (int64_t calls_per_peer, const char *source, int live_peers)
{
    if (calls_per_peer <= 0) {
        calls_per_peer = CW_CAPACITY_CALLS_PER_PEER;
        source = "default";
    }
    if (live_peers < 1)
        live_peers = 1;
    int counted = live_peers < CW_CAPACITY_PEERS_COUNTED ? live_peers : CW_CAPACITY_PEERS_COUNTED;
    char basis [256];
    snprintf (basis, sizeof basis, "%lld calls per peer (%s) x %d of %d live peer%s (at most %d count)",
              (long long) calls_per_peer, source ? source : "default", counted, live_peers, live_peers == 1 ? "" : "s",
              CW_CAPACITY_PEERS_COUNTED);
    return json_pack ("{s:I, s:s, s:i, s:i, s:i, s:I, s:s}", "calls_per_peer", (json_int_t) calls_per_peer, "source",
                      source ? source : "default", "peers_live", live_peers, "peers_counted", counted,
                      "peers_max_counted", CW_CAPACITY_PEERS_COUNTED, "cluster_calls",
                      (json_int_t) (calls_per_peer * counted), "basis", basis);
}

#if __has_include(<re_sip.h>)
#include "routing.h"

struct _cw_capacity_t {
    cw_routing_t *routing;
};

static int
s_live_peers (cw_routing_t *routing)
{
    int live = 0;
    for (int peer = 1; peer <= CW_CAPACITY_PEERS_MAX; peer++)
        live += cw_routing_peer_alive (routing, peer);
    return live;
}

static void
s_status (cw_routing_t *routing, json_t *status, void *arg)
{
    (void) arg;
    int64_t configured = cw_routing_config_int (routing, CW_CAPACITY_KEY, 0);
    json_object_set_new (status, "capacity",
                         cw_capacity_compute (configured, configured > 0 ? CW_CAPACITY_KEY : "default",
                                              s_live_peers (routing)));
}

cw_capacity_t *
cw_capacity_new (cw_routing_t *routing)
{
    cw_capacity_t *self = (cw_capacity_t *) calloc (1, sizeof (cw_capacity_t));
    if (!self)
        return NULL;
    self->routing = routing;
    cw_routing_on_status (routing, s_status, self);
    return self;
}

void
cw_capacity_destroy (cw_capacity_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
#endif
