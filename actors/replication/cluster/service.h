/*  service.h - what the replication actor serves to other actors and to
    the control socket besides replication itself: the configuration
    commands, replicated data, the cluster traffic of other actors, and
    backups.

    Actor commands (cw_service_commands):
      config.get {key}, config.list {prefix?}      read this node's store
      config.set {key, value, wait?, force?}, config.unset {key, ...}
                                                   written through replication
                                                   (forwarded to the primary
                                                   when cluster-wide)
      replication.data.put / .get / .count         replicated data (data.h)
      replication.broadcast {topic, body}
          -> every live peer publishes EVENT "cluster.<topic>" locally with
             body {"peer": N, "system_name": ..., "body": body}; -> {"sent"}
      replication.peer_request {peer, actor, command, args}
          -> peer N's actor answers; the reply comes back as the reply
      backup.create {file, passphrase}, backup.restore {file, passphrase}
    Peer operations: actor {actor, command, args}, broadcast {topic, body};
    peer command config.list.
*/
#ifndef CW_SERVICE_H
#define CW_SERVICE_H

#include "core.h"
#include "replication.h"

typedef struct _cw_service_t cw_service_t;

//  Serve on CORE, writing through REPLICATION (both borrowed): registers
//  the peer operations and commands. NULL on failure.
cw_service_t *cw_service_new (cw_cluster_t *core, cw_replication_t *replication);
void cw_service_destroy (cw_service_t **self_p);

//  The actor commands; the handlers' argument is the cw_service_t.
extern const cw_command_t cw_service_commands [];

#endif
