/*  readonly.h - the read-only cluster commands: suggest-mappings and diff
    (readonly.c).
*/
#ifndef CW_READONLY_H
#define CW_READONLY_H

#include "common.h"

//  Actor commands; ARG is a cw_proc_env_t.
extern const cw_command_t cw_readonly_commands [];

#endif
