/*  supervisor.h - causewayd's core: the children, the loop, signals,
    shutdown, reload and systemd.

    cw_supervisor_new loads the bootstrap file, prepares the folders
    (0700), takes the lock in runtime_dir (one causewayd per node), binds
    the broker and control sockets and starts nothing yet; cw_supervisor_run
    starts the actors in bootstrap order (each after the previous one is
    READY), serves until SIGTERM/SIGINT or a `shutdown`/`restart` control
    command, stops the actors in reverse order and returns the exit status.
    After a `restart` command cw_supervisor_wants_exec is true: the caller
    destroys the supervisor and execs itself with the same argv.
*/
#ifndef CW_SUPERVISOR_H
#define CW_SUPERVISOR_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _cw_supervisor_t cw_supervisor_t;

//  NULL with a message a person can read in ERR.
cw_supervisor_t *cw_supervisor_new (const char *config_file, char *err, size_t errlen);
void cw_supervisor_destroy (cw_supervisor_t **self_p);
//  Run until stopped. Returns the process exit status.
int cw_supervisor_run (cw_supervisor_t *self);
bool cw_supervisor_wants_exec (cw_supervisor_t *self);

#endif
