/*  capacity.h - the cluster's call capacity, as routing.status shows it.

    Each peer handles up to CALLS_PER_PEER calls at once; the cluster's
    capacity grows with its live peers up to four, and a fifth and sixth
    peer add resilience (calls move to them when a peer is lost) but no
    capacity: cluster_calls = calls_per_peer x min(live peers, 4).

    CALLS_PER_PEER is the cluster key `call_routing.calls_per_peer` when it
    is set, else CW_CAPACITY_CALLS_PER_PEER; the figure says which
    ("source": "call_routing.calls_per_peer" or "default"). The live peers
    are those the replication actor last said are alive (cluster.peers;
    one when the node is not clustered).

    The computation is a pure function (cw_capacity_compute) so that it can
    be tested without a cluster; cw_capacity_new hooks it into
    routing.status as "capacity": {"calls_per_peer", "source",
    "peers_live", "peers_counted", "peers_max_counted", "cluster_calls",
    "basis"}.
*/
#ifndef CW_CAPACITY_H
#define CW_CAPACITY_H

#include <jansson.h>
#include <stdint.h>

#define CW_CAPACITY_CALLS_PER_PEER 500
#define CW_CAPACITY_PEERS_COUNTED 4    //  peers beyond these add resilience only
#define CW_CAPACITY_PEERS_MAX 6
#define CW_CAPACITY_KEY "call_routing.calls_per_peer"

typedef struct _cw_capacity_t cw_capacity_t;
typedef struct _cw_routing_t cw_routing_t;

//  The capacity figure for CALLS_PER_PEER (<= 0: the default) and
//  LIVE_PEERS (< 1 counts as 1); SOURCE names where CALLS_PER_PEER came
//  from. New reference.
json_t *cw_capacity_compute (int64_t calls_per_peer, const char *source, int live_peers);

//  Add "capacity" to ROUTING's routing.status. Owned.
cw_capacity_t *cw_capacity_new (cw_routing_t *routing);
void cw_capacity_destroy (cw_capacity_t **self_p);

#endif
