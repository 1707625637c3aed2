/*  join.h - `causeway cluster join` and the redemption of its token on
    the primary (join.c).
*/
#ifndef CW_JOIN_H
#define CW_JOIN_H

#include "common.h"

//  Actor commands; ARG is a cw_proc_env_t.
extern const cw_command_t cw_join_commands [];
//  Peer commands; ARG is a cw_proc_env_t (its join token).
extern const cw_peer_command_t cw_join_peer_commands [];

#endif
