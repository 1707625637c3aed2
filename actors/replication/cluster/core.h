/*  core.h - the cluster core as the modules above it see it: the
    replication service, the data/broadcast service and the orchestrated
    procedures. The core owns its struct; these functions are the whole
    way in. The core never includes a module above it: what those modules
    serve to peers they add as peer command tables (cw_cluster_peer_commands),
    what they serve locally as actor command tables (cw_actor_commands).

    Peers are numbered 1..6 as in cluster.peers; 0 means "none". A
    cw_reply_target_t names who waits for an answer: a local requester
    (through the broker) or a peer (through the link the request came in
    on); cw_cluster_answer sends to either.
*/
#ifndef CW_CLUSTER_CORE_H
#define CW_CLUSTER_CORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "cluster.h"
#include "cluster_view.h"
#include "config_store.h"
#include "cw_actor.h"
#include "peerlink.h"
#include "settings.h"

#define CW_HEARTBEAT_MS 250
#define CW_DEAD_AFTER_MS 1500
#define CW_RESTARTING_GRACE_MS 120000
#define CW_PEER_CALL_TIMEOUT_MS 5000
#define CW_SYNC_TIMEOUT_MS 30000
//  This peer's calls (cluster.calls.set, said by the routing actor when
//  they change and every few seconds) count as 0 after this much silence:
//  a routing actor that stopped carries no calls.
#define CW_CLUSTER_CALLS_STALE_MS 15000

//  Frame types of the core's peer protocol (after the links' HELLO, type
//  0): heartbeats, and requests answered by replies with the same corr.
#define CW_FRAME_HEARTBEAT 1
#define CW_FRAME_REQUEST 2
#define CW_FRAME_REPLY 3

//  Where the answer to a request goes.
typedef struct {
    bool remote;     //  a peer's request (else a local requester)
    char to [64];    //  local: the requester's name
    uint64_t corr;
    uint64_t link_id;    //  remote: the link it came in on
} cw_reply_target_t;

//  The answer to cw_cluster_peer_call: OK false on an error reply or a
//  timeout (then JSON is {"error": ...}). JSON and BLOB are borrowed.
typedef void (cw_peer_reply_fn) (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                                 size_t blob_len, void *arg);

// ---------------------------------------------------------------------------
//  What the core runs on (all borrowed)

cw_actor_t *cw_cluster_actor (cw_cluster_t *self);
const cw_bootstrap_t *cw_cluster_boot (cw_cluster_t *self);
cw_config_store_t *cw_cluster_store (cw_cluster_t *self);
zloop_t *cw_cluster_loop (cw_cluster_t *self);
//  This start of the node (CAUSEWAY_BOOT_ID).
const char *cw_cluster_boot_id (cw_cluster_t *self);

// ---------------------------------------------------------------------------
//  Settings and role

//  The clustering settings in effect since the last restart.
const cw_cluster_settings_t *cw_cluster_effective (cw_cluster_t *self);
//  This node's index in the settings in effect (0 = not in the list).
int cw_cluster_this_peer (cw_cluster_t *self);
//  True when this node is the configuration primary in effect.
bool cw_cluster_is_primary (cw_cluster_t *self);
//  True when the clustering settings S, once stored, take effect on this
//  node without a restart: it is in the cluster in effect and stays in
//  it, with the same cluster name, IP version and TLS mode, and its own
//  slot is unchanged or moved only because slots were removed (the
//  guide's removal of a peer, cw_settings_only_removed). The core applies
//  such settings on its next tick.
bool cw_cluster_applies_live (cw_cluster_t *self, const cw_cluster_settings_t *s);
//  (The settings as stored, the address mapping and writing keys are
//  functions of the configuration store: settings.h.)

// ---------------------------------------------------------------------------
//  Peers

//  True when peer INDEX (1..6) is alive (or is this peer).
bool cw_cluster_peer_alive (cw_cluster_t *self, int index);
//  True when a heartbeat from peer INDEX arrived since this start.
bool cw_cluster_peer_heard (cw_cluster_t *self, int index);
//  True when our outbound link to peer INDEX is up.
bool cw_cluster_peer_link_up (cw_cluster_t *self, int index);
//  True when peer INDEX announced a restart less than the grace ago.
bool cw_cluster_peer_restarting (cw_cluster_t *self, int index);
//  What we know of peer INDEX (its last heartbeat, link state); NULL out
//  of range. Borrowed; valid until the next turn of the loop.
const cw_peer_view_t *cw_cluster_peer_view (cw_cluster_t *self, int index);
//  Which peer sent the request that came in on TARGET's link (0 unknown
//  or local).
int cw_cluster_sender (cw_cluster_t *self, const cw_reply_target_t *target);
//  Send a REQUEST (ARGS stolen, "op" set by the caller; BLOB copied) to
//  PEER; CB (may be NULL) gets the REPLY, or a timeout after TIMEOUT_MS
//  (<= 0: CW_PEER_CALL_TIMEOUT_MS). 0, or -1 when the peer is unreachable
//  (CB not called).
int cw_cluster_peer_call (cw_cluster_t *self, int peer, json_t *args, const void *blob, size_t blob_len,
                          cw_peer_reply_fn *cb, void *arg, int timeout_ms);
//  Answer a request (BODY stolen) to a local or remote requester.
void cw_cluster_answer (cw_cluster_t *self, const cw_reply_target_t *target, bool ok, json_t *body);

//  A peer administration command ("control" op): answer with
//  cw_cluster_answer, now or later. ARGS borrowed.
typedef void (cw_peer_command_fn) (cw_cluster_t *self, json_t *args, const cw_reply_target_t *target, void *arg);
typedef struct {
    const char *name;    //  e.g. "cluster.apply_settings"
    cw_peer_command_fn *handler;
} cw_peer_command_t;
//  Serve the peer commands of TABLE (borrowed, static; ends with a NULL
//  name) with ARG. 0 or -1.
int cw_cluster_peer_commands (cw_cluster_t *self, const cw_peer_command_t *table, void *arg);

// ---------------------------------------------------------------------------
//  Node actions

//  Ask the supervisor to restart the node (after the reply went out).
void cw_cluster_request_restart (cw_cluster_t *self);
//  Discard the local cluster-wide configuration and take the primary's.
int cw_cluster_force_config_update (cw_cluster_t *self, char *err, size_t errlen);

#endif
