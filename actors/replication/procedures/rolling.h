/*  rolling.h - the rolling procedures use-fqdns and enforce-tls, their
    status commands, and the peer commands they use (rolling.c).
*/
#ifndef CW_ROLLING_H
#define CW_ROLLING_H

#include "common.h"

//  Actor commands; ARG is a cw_proc_env_t.
extern const cw_command_t cw_rolling_commands [];
//  Peer commands; ARG is a cw_proc_env_t.
extern const cw_peer_command_t cw_rolling_peer_commands [];
//  The refusal of primary-only COMMAND (a wire name) on this node: an
//  error body, or NULL when this node is the primary.
json_t *cw_rolling_primary_check (cw_cluster_t *core, const char *command);

#endif
