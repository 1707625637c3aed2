/*  cluster_procedures.c - the orchestrated `causeway cluster ...` commands
    (placeholder until written: every procedure answers "not available").
*/
#include "cluster_internal.h"

bool
cw_cluster_procedure (cw_cluster_t *self, const cw_envelope_t *req, const char *command,
                      json_t *args, json_t **reply, cw_reply_status_t *status)
{
    (void) self; (void) req; (void) command; (void) args; (void) reply; (void) status;
    return false;
}

bool
cw_cluster_procedure_control (cw_cluster_t *self, const char *command, json_t *args,
                              const cw_reply_target_t *target)
{
    (void) self; (void) command; (void) args; (void) target;
    return false;
}
