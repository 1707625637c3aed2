/*  location_sync.h - keeps the location table cluster-wide: this peer's
    changes go to the live peers, the other peers' changes come in, and a
    peer's whole table is pulled when something was missed.

    Out: this peer's changes are broadcast with the replication actor's
    `replication.broadcast {topic: "routing.location", body}` as soon as
    they are made, batched under load (one message at most every
    CW_LOCATION_SYNC_BATCH_MS, or at once when CW_LOCATION_SYNC_BATCH
    changes wait). Every CW_LOCATION_SYNC_ANNOUNCE_MS, and on the first
    tick, a message with no change says "my epoch is E, my last change is
    S", so a peer that missed something, or holds what this peer's previous
    start had, finds out even when nothing changes here.

    In: the peers' messages arrive as EVENT `cluster.routing.location`
    {"peer", "system_name", "body"} (cw_location_sync_event). A gap, a new
    epoch, a peer seen alive for the first time or again (a start, a
    rejoin) makes this peer pull that owner's table with
    `replication.peer_request {peer, actor: "routing", command:
    "routing.location.dump", args: {peer, page}}`, in pages
    (cw_location_dump_args; an answer with the whole table is taken too),
    one pull per owner at a time, retried after CW_LOCATION_SYNC_RETRY_MS
    when it failed. The owner's changes that come during a pull and do not
    follow what is known are kept and applied after it. A dead
    owner's bindings stay in the table but lookups skip them (the caller's
    alive function says a peer that left the cluster is not alive either);
    when this node is no longer clustered, the other owners are forgotten.

    The caller (the registrar) drives it: after changing the table it asks
    cw_location_sync_due when to flush and calls cw_location_sync_flush
    then; cw_location_sync_tick runs on the routing actor's tick. It uses
    only the actor runtime, so it carries no SIP.
*/
#ifndef CW_LOCATION_SYNC_H
#define CW_LOCATION_SYNC_H

#include "cw_actor.h"
#include "location.h"

#define CW_LOCATION_SYNC_BATCH 500
#define CW_LOCATION_SYNC_BATCH_MS 5
#define CW_LOCATION_SYNC_ANNOUNCE_MS 2000
#define CW_LOCATION_SYNC_RETRY_MS 1000
#define CW_LOCATION_SYNC_PULL_TIMEOUT_MS 10000

typedef struct _cw_location_sync_t cw_location_sync_t;

//  Sync TABLE (borrowed) through ACTOR (borrowed). Owned.
cw_location_sync_t *cw_location_sync_new (cw_actor_t *actor, cw_location_t *table);
void cw_location_sync_destroy (cw_location_sync_t **self_p);

//  Milliseconds until cw_location_sync_flush should run (0: now), or -1
//  when no change waits.
int64_t cw_location_sync_due (cw_location_sync_t *self, int64_t now_ms);
//  Broadcast the changes that wait (several messages of at most
//  CW_LOCATION_SYNC_BATCH changes). Not clustered (one peer): nothing is
//  sent. Returns the number of messages sent.
size_t cw_location_sync_flush (cw_location_sync_t *self, int64_t now_ms);

//  The cluster as it is now: this peer's number, how many peers, and who
//  is alive (ALIVE, ARG). Re-tags the table when this peer's number
//  changed, pulls from owners that came alive, announces, retries pulls;
//  forgets every other owner when PEER_COUNT is 1 (not clustered).
void cw_location_sync_tick (cw_location_sync_t *self, int64_t now_ms, int this_peer, int peer_count,
                            cw_location_alive_fn *alive, void *arg);

//  An EVENT cluster.routing.location (BODY borrowed).
void cw_location_sync_event (cw_location_sync_t *self, json_t *body);

//  Counters: {"sent", "received", "applied", "stale", "gaps", "invalid",
//  "pulls", "pull_failures"}. New reference.
json_t *cw_location_sync_status (cw_location_sync_t *self);

#endif
