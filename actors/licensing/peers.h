/*  peers.h - what this peer knows of every peer's licenses.

    One record per peer of the cluster in effect (from the replication
    actor's STATE cluster.peers), this node's own included; a peer removed
    from the list is forgotten at once (it left the cluster, its keys with
    it). A record holds the peer's
    last report (installed capacity, feature keys, used, share), whether it
    is alive, and since when it is lost. Records are persisted by address in
    licensing.db ("peer/<address>") so a lost peer's keys and its lost time
    outlive a restart of this node: the grace period counts from when the
    peer was lost, not from when we restarted.

    POOL of a kind = sum of `installed` over the records that count: this
    node, live peers, and lost peers whose grace has not ended.
*/
#ifndef CW_PEERS_H
#define CW_PEERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "keystore.h"
#include "pool.h"

#define CW_PEERS_FEATURES 32

typedef enum {
    CW_PEER_THIS = 0,    //  this node
    CW_PEER_LIVE,
    CW_PEER_LOST,    //  lost, within the grace period: still in the pool
    CW_PEER_GONE     //  lost past the grace period: out of the pool
} cw_peer_state_t;

typedef struct {
    int peer;    //  1..6 in the list in effect
    char address [256];
    char system_name [64];
    cw_peer_state_t state;
    bool reported;    //  a report arrived (always true for this node)
    int64_t installed [CW_POOL_KINDS];
    int64_t used [CW_POOL_KINDS];
    int64_t share [CW_POOL_KINDS];
    char features [CW_PEERS_FEATURES][CW_LICENSE_KIND_MAX];    //  sorted
    int feature_count;
    int64_t lost_at_ms;    //  wall clock; 0 = not lost
} cw_peer_t;

typedef struct {
    cw_peer_t peers [CW_POOL_PEERS];
    int count;
    int this_peer;    //  index into the cluster's list (1 when not clustered)
    int primary;      //  the primary's peer number (this_peer when not clustered)
    bool is_primary;
    bool clustered;
    int64_t grace_ms;
    cw_keystore_t *store;    //  borrowed
} cw_peers_t;

//  Start with only this node (not clustered) and load nothing yet.
void cw_peers_init (cw_peers_t *self, cw_keystore_t *store, int64_t grace_ms, const char *system_name);

//  Take the cluster.peers STATE BODY at wall time NOW. Returns true when
//  the set of peers, their liveness or the primary changed.
bool cw_peers_set_list (cw_peers_t *self, json_t *body, int64_t now);
//  A licensing.peer report from PEER (its BODY). True when it changed
//  anything.
bool cw_peers_report (cw_peers_t *self, int peer, const char *system_name, json_t *body);
//  Lost peers whose grace ended by NOW become GONE (persisted). True when
//  one did.
bool cw_peers_tick (cw_peers_t *self, int64_t now);

//  This node's own keys: INSTALLED per kind and FEATURES (JSON array of
//  "feature:..." names). True when they changed.
bool cw_peers_set_own (cw_peers_t *self, const int64_t installed [CW_POOL_KINDS], json_t *features);

//  The record of peer number PEER, or NULL.
cw_peer_t *cw_peers_get (cw_peers_t *self, int peer);
cw_peer_t *cw_peers_self (cw_peers_t *self);
//  Whether PEER's keys count in the pool.
bool cw_peers_counts (const cw_peer_t *peer);
//  The pool of KIND.
int64_t cw_peers_pool (cw_peers_t *self, int kind);
//  Used licenses of KIND over the peers that count.
int64_t cw_peers_used (cw_peers_t *self, int kind);

//  This node's report (the body of licensing.peer), new reference.
json_t *cw_peers_report_body (cw_peers_t *self);
//  "this" | "live" | "lost" | "gone"
const char *cw_peer_state_name (cw_peer_state_t state);

#endif
