/*  cluster.h - the cluster core of the replication actor.

    Owns the clustering settings in effect, the TLS peer links
    (peerlink.c), the heartbeats between peers, replication of cluster-scope
    data from the configuration primary to the subordinates (replog.c), the
    forwarding of cluster-scope writes from a subordinate to the primary,
    the cluster alarms (cluster_alarms.c) and `cluster status`.

    Settings in effect. The clustering keys (cluster.name, .primary,
    .ip_version, .tls_verify, .peers) take effect at a restart of the node,
    as in the guide. causewayd gives every actor it spawns the id of its own
    start (CAUSEWAY_BOOT_ID); the settings in effect are saved with that id
    in config.db (table cluster_effective). When the replication actor
    alone restarts (a crash), the boot id is the same and the saved
    settings stay in effect; after `causeway restart` (a new boot id) the
    stored settings become the settings in effect. When they changed from a
    peer list to an empty one, that restart performs the factory reset.
    A node that stays in the cluster applies a new peer list or primary
    index live, also when its own slot moved because slots were removed
    (cw_cluster_applies_live, core.h).

    Peer protocol (frames of peerlink.c; JSON + optional blob):
      HEARTBEAT  every 250 ms on the outbound link: what every peer must
                 know of the others; no reply. A peer silent for 1.5 s is
                 dead.
      REQUEST    {"op": ..., ...} with a correlation id, answered by REPLY:
        changeset {seq, hash, cluster_id} + changeset   primary -> subordinate
        snapshot  {seq, cluster_id} + cluster.db image   primary -> subordinate
        forward   {command, args}  a cluster-scope write, subordinate -> primary
        control   {command, args}  peer administration (alarms.list,
                                   config.list, cluster.apply_settings, ...)
        actor     {actor, command, args}  another actor's request to one peer
        broadcast {topic, body}    another actor's message to every peer
      REPLY      {"ok": bool, "body": {...}} or op-specific JSON.

    The layer's files, each owning its state:
      core.c         peers, liveness, heartbeats, peer calls, deadlines,
                     the view, cluster.status (core.h, layer.h)
      transport.c    the TLS peer links as the core's transport
      effective.c    the settings in effect and the factory reset
      settings.c     the clustering settings as stored (settings.h)
      replication.c  catch-up, apply, snapshots, forwarded writes, waiters,
                     ForceConfigUpdate
      data.c         replicated data of other actors
      service.c      config.*, replication.data.* / broadcast /
                     peer_request, backup.*
      alarm_glue.c   raising and clearing the cluster alarms,
                     cluster.alarms, cluster.check
*/
#ifndef CW_CLUSTER_H
#define CW_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include "cw_actor.h"
#include "cluster_view.h"
#include "config_store.h"

typedef struct _cw_cluster_t cw_cluster_t;

//  Create the cluster core for ACTOR on STORE (both borrowed): decide the
//  settings in effect (and perform a pending factory reset), start the
//  peer links when this node is clustered, start the heartbeat timer.
//  NULL with ERR only for local failures that stop the actor.
cw_cluster_t *cw_cluster_new (cw_actor_t *actor, cw_config_store_t *store, char *err, size_t errlen);
void cw_cluster_destroy (cw_cluster_t **self_p);

//  The core's actor commands (cluster.status, cluster.calls.set); handlers'
//  argument: the core.
extern const cw_command_t cw_cluster_commands [];

//  Announce to the peers that this node is going down for a restart
//  (called on $TERM), so they do not push changes at it meanwhile, and
//  answer every peer call still waiting with an error; no new one starts.
void cw_cluster_announce_stop (cw_cluster_t *self);

//  The view of the cluster as of now (for alarms, check, status).
void cw_cluster_view (cw_cluster_t *self, cw_cluster_view_t *view);

//  cluster.status body (README: `causeway cluster status --json`).
json_t *cw_cluster_status (cw_cluster_t *self);

#endif
