/*  procedures.h - the orchestrated `causeway cluster ...` commands: the
    procedure engine (engine.h) and the procedure families on it
    (membership, join, rolling, read-only), registered with the actor and
    the cluster core in one call. The core never includes this; main.c
    does, after the core is up.
*/
#ifndef CW_PROCEDURES_H
#define CW_PROCEDURES_H

#include "cluster.h"

typedef struct _cw_procedures_t cw_procedures_t;

//  Register every family's actor commands (cw_actor_commands) and peer
//  commands (cw_cluster_peer_commands) with CORE's actor and CORE, the
//  guard of the primary-only commands, and the engine's timer. NULL when
//  it cannot start. CORE is borrowed and must outlive the result.
cw_procedures_t *cw_procedures_new (cw_cluster_t *core);
//  Stop the timer and free (a running procedure is dropped). Accepts
//  NULL; sets *SELF_P to NULL.
void cw_procedures_destroy (cw_procedures_t **self_p);

#endif
