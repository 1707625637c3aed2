/*  membership.h - the membership procedures of `causeway cluster ...`:
    form, token, add, remove, replace, set-primary, disband, and the peer
    command cluster.apply_settings they push with (membership.c).
*/
#ifndef CW_MEMBERSHIP_H
#define CW_MEMBERSHIP_H

#include "common.h"

//  Actor commands; ARG is a cw_proc_env_t.
extern const cw_command_t cw_membership_commands [];
//  Peer commands; ARG is a cw_proc_env_t.
extern const cw_peer_command_t cw_membership_peer_commands [];
//  The refusal of primary-only COMMAND (a wire name) on this node: an
//  error body naming the primary, or NULL when this node is the primary.
json_t *cw_membership_primary_check (cw_cluster_t *core, const char *command);

#endif
