/*  replication.h - replication of the cluster-scope data, from the
    configuration primary to the subordinates, on top of the cluster core.

    The primary ships each committed change (a changeset of replog.h) to
    every subordinate whose link is up and which holds everything before it;
    on each heartbeat of a subordinate it plans its sync: nothing, a
    catch-up from the history, or a snapshot of cluster.db when the
    history is gone or the data conflicts. A subordinate applies changesets
    and snapshots from its primary only, and forwards cluster-scope writes
    (config.set / config.unset of a cluster-scope key, replication.data.put)
    to the primary. A write with "wait" is answered once every live
    subordinate applied it (or with an error after 30 s). ForceConfigUpdate
    discards a subordinate's cluster-wide configuration and answers once
    the primary's is in place.

    Actor commands (cw_replication_commands):
      cluster.force_config_update, xcommand.ForceConfigUpdate, replication.status
    Peer operations: changeset, snapshot, forward; peer command
    cluster.force_config_update.
*/
#ifndef CW_REPLICATION_H
#define CW_REPLICATION_H

#include "core.h"

typedef struct _cw_replication_t cw_replication_t;

//  Start replication on CORE (borrowed): register its peer operations,
//  peer commands and hooks with the core. NULL on failure.
cw_replication_t *cw_replication_new (cw_cluster_t *core);
//  Unregister from the core and free; answers nothing that still waits.
void cw_replication_destroy (cw_replication_t **self_p);

//  Route a write from a local requester: config.set / config.unset
//  (ARGS {key, value?, wait?, force?}) or replication.data.put (ARGS
//  {ns, rows, wait?}): committed here when this node is the primary, alone,
//  or the key is not cluster-wide; else forwarded to the primary. Same
//  contract as cw_request_fn (the answer may be DEFERRED).
cw_reply_status_t cw_replication_write (cw_replication_t *self, const cw_envelope_t *req, json_t *args, json_t **reply);

//  The actor commands; the handlers' argument is the cw_replication_t.
extern const cw_command_t cw_replication_commands [];

#endif
