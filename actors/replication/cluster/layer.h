/*  layer.h - how the modules of the cluster layer plug into the core:
    replication (replication.c), the data / broadcast / peer request
    service (service.c) and the alarm glue (alarm_glue.c). The modules
    above this layer (procedures/) use core.h only.

    The core never calls a module by name: a module registers
      - peer operations: what it serves in a REQUEST frame's "op"
        (changeset, snapshot, forward, actor, broadcast); the core serves
        "control" itself and routes it to the peer command tables (core.h);
      - hooks: what the module adds to a heartbeat, what it reads from one,
        what it does when a link goes up or down, when the settings in
        effect change live, what it adds to the view, and a tick;
    and uses the core's services below: a deadline list (the one place
    where anything that waits expires), answers in either form, a relay to
    a local actor, work on a worker thread.
*/
#ifndef CW_CLUSTER_LAYER_H
#define CW_CLUSTER_LAYER_H

#include "core.h"
#include "cw_text.h"
#include "replog.h"
#include "transport.h"

//  Peer frame types (peerlink type byte)
#define CW_FRAME_HEARTBEAT 1
#define CW_FRAME_REQUEST 2
#define CW_FRAME_REPLY 3

//  Create the core as cw_cluster_new does, on TRANSPORT (borrowed, static)
//  instead of the TLS peer links.
cw_cluster_t *cw_cluster_new_on (cw_actor_t *actor, cw_config_store_t *store, const cw_transport_t *transport,
                                 char *err, size_t errlen);
//  One turn of the core's 250 ms timer: apply live settings, update the
//  links, send heartbeats, expire deadlines, run the tick hooks, evaluate
//  the summary. Called by the timer; tests may call it to step a core.
void cw_cluster_tick (cw_cluster_t *self);
//  The replication log of the configuration store (borrowed).
cw_replog_t *cw_cluster_replog (cw_cluster_t *self);

// ---------------------------------------------------------------------------
//  Peer operations

//  Serve a REQUEST whose "op" is the handler's name. JSON and BLOB are
//  borrowed; answer TARGET with cw_cluster_answer or cw_cluster_answer_bare,
//  now or later, or not at all for a one-way operation.
typedef void (cw_peer_op_fn) (cw_cluster_t *self, int peer, json_t *json, const uint8_t *blob, size_t blob_len,
                              const cw_reply_target_t *target, void *arg);
typedef struct {
    const char *name;    //  e.g. "changeset"
    cw_peer_op_fn *handler;
} cw_peer_op_t;
//  Serve the operations of TABLE (borrowed, static; ends with a NULL name)
//  with ARG. 0 or -1.
int cw_cluster_peer_ops (cw_cluster_t *self, const cw_peer_op_t *table, void *arg);
//  Answer a peer's request with BODY (stolen) as is, not wrapped in
//  {"ok", "body"} (the replication operations answer so).
void cw_cluster_answer_bare (cw_cluster_t *self, const cw_reply_target_t *target, json_t *body);

// ---------------------------------------------------------------------------
//  Hooks

typedef struct {
    //  Add to the heartbeat JSON HB going to peer TO.
    void (*heartbeat_out) (cw_cluster_t *self, int to, json_t *hb, void *arg);
    //  A heartbeat HB from peer FROM was read into its view.
    void (*heartbeat_in) (cw_cluster_t *self, int from, json_t *hb, void *arg);
    //  Our outbound link to PEER went up or down.
    void (*link) (cw_cluster_t *self, int peer, bool up, void *arg);
    //  The settings in effect changed live (OLD before; WAS_PRIMARY before).
    void (*settings) (cw_cluster_t *self, const cw_cluster_settings_t *old, bool was_primary, void *arg);
    //  Fill this node's own peer view V (its "joining" state).
    void (*own_view) (cw_cluster_t *self, cw_peer_view_t *v, void *arg);
    //  Fill the module's part of VIEW (replication state).
    void (*view) (cw_cluster_t *self, cw_cluster_view_t *view, void *arg);
    //  The cluster-wide configuration was discarded
    //  (cw_cluster_force_config_update): the primary's comes next.
    void (*discarded) (cw_cluster_t *self, void *arg);
    //  Every turn of the timer.
    void (*tick) (cw_cluster_t *self, void *arg);
    void *arg;
} cw_cluster_hooks_t;
//  Add HOOKS (copied; any member may be NULL). 0, or -1 when full.
int cw_cluster_hooks (cw_cluster_t *self, const cw_cluster_hooks_t *hooks);
//  Remove the hooks registered with ARG.
void cw_cluster_hooks_remove (cw_cluster_t *self, void *arg);

// ---------------------------------------------------------------------------
//  Services of the core

//  Send a heartbeat to every peer now (a state change the others must
//  learn at once).
void cw_cluster_send_heartbeats (cw_cluster_t *self);

//  Call FN (SELF, ARG) once, TIMEOUT_MS from now, unless cancelled first.
//  Returns the deadline's id (never 0).
typedef void (cw_expire_fn) (cw_cluster_t *self, void *arg);
uint64_t cw_cluster_deadline (cw_cluster_t *self, int timeout_ms, cw_expire_fn *fn, void *arg);
//  Cancel deadline ID (0 or expired: nothing happens).
void cw_cluster_deadline_cancel (cw_cluster_t *self, uint64_t id);

//  Send COMMAND with ARGS (borrowed, NULL = {}) to the local actor ACTOR
//  and answer TARGET with its reply.
void cw_cluster_relay (cw_cluster_t *self, const char *actor, const char *command, json_t *args,
                       const cw_reply_target_t *target);

//  Run FN (ARG) on a worker thread while this thread keeps the actor's
//  heartbeat going: for the steps that take long on a big database (a
//  snapshot of cluster.db, a backup's key derivation). Returns when FN
//  did; the caller must not touch what FN uses meanwhile.
void cw_cluster_run_blocking (cw_cluster_t *self, void *(*fn) (void *), void *arg);

//  Publish the retained cluster.summary now when it changed (so a
//  `status` right after a write sees it), and the retained cluster.peers
//  when it changed: the other actors' view of the cluster,
//  {"this_peer": N, "primary": N, "is_primary": bool, "system_name": this
//  node's, "peers": [{"peer": i, "address", "system_name", "alive",
//  "self"}, ...]} for the peers in effect (when not clustered: [], and
//  this_peer and primary 0; alive: heartbeats heard within
//  CW_DEAD_AFTER_MS, always true for self).
void cw_cluster_publish_summary (cw_cluster_t *self);

#endif
