/*  licensing.h - the licensing actor: option keys, the cluster-wide pool
    of capacity licenses, leases.

    Option keys (ipc/cw_license.h) are installed per peer
    (`license.add {key}`), kept in licensing.db (keystore.h) and verified
    against the issuers of the bootstrap file at every start, every minute
    (expiry) and when the system name changes (binding). Feature keys must
    be the same set on every peer; capacity keys are pooled.

    The pool (pool.h): every peer grants leases locally within its share;
    the configuration primary's ledger hands out the shares. Peers tell
    each other what they have (replication.broadcast, topic
    "licensing.peer": installed keys, features, used, share) every second
    and at once on a change; shares move with replication.peer_request
    (license.offer from the primary, license.demand to it). The peers in
    effect and their liveness come from the replication actor's retained
    STATE cluster.peers. A lost peer's keys stay in the pool for
    licensing.lost_peer_grace_s (its share stays reserved), then leave it.

    Leases (leases.h) belong to the actor or control client that took them
    (the envelope's from: "routing", "@control:17") and are freed when it
    goes: EVENT actor.down / actor.ready (a new instance), EVENT
    control.client.closed, and at start a reconciliation against the
    supervisor's `actors` and `control.clients`.

    Commands: license.add, license.remove, license.list, license.status,
    license.acquire, license.release (and licensing.status, the same as
    license.status); license.offer and license.demand between peers only.
    Alarms: 30012/30013 (a lost peer's licenses), 30020-30025.
*/
#ifndef CW_LICENSING_H
#define CW_LICENSING_H

#include <stddef.h>

#include "cw_actor.h"

typedef struct _cw_licensing_t cw_licensing_t;

//  Open licensing.db and the lease table, load the issuers and keys,
//  declare the commands and handlers on ACTOR (borrowed, outlives SELF).
//  NULL with the reason in ERR.
cw_licensing_t *cw_licensing_new (cw_actor_t *actor, char *err, size_t errlen);
void cw_licensing_destroy (cw_licensing_t **self_p);

#endif
