/*  child.h - one supervised actor process: its spec, its lifecycle and
    fork/exec.

    The lifecycle is an explicit table of states x events (child.c):

        states:  starting running backoff stopping stopped failed
        events:  START READY EXIT HANG TIMEOUT STOP RESTART

    Each cell names one small handler that does the side effects (fork,
    kill, schedule) and returns the next state; an empty cell means the
    event does not apply in that state and is ignored. After an EXIT the
    restart policy (restart_policy.h) decides between restarting at once,
    backing off, staying stopped and failing.

    The child does not own timers: it keeps one DEADLINE (monotonic ms) for
    the state it is in (startup READY timeout, back-off end, SIGTERM ->
    SIGKILL) and the supervisor's tick sends TIMEOUT when it has passed.

    Warm standby: besides its active process a child may have one STANDBY
    process of the same executable, argv and environment plus
    CAUSEWAY_STANDBY_FD=3, one end of a socketpair whose other end the
    supervisor keeps (close-on-exec). The standby runs exec, dynamic
    linking, argument parsing and the bootstrap load, sends one byte ("I am
    waiting") and blocks in read() on that fd inside cw_actor_new. When
    the active process dies and a restart is due, s_spawn PROMOTES the
    standby (one byte: go; the standby's pid becomes the child's pid, state
    starting) instead of fork + exec. Closing our end dismisses a standby
    (it reads EOF and exits 0). When to have a standby is the supervisor's
    business (supervisor.c); child.c only spawns, promotes and dismisses.
*/
#ifndef CW_CHILD_H
#define CW_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cw_bootstrap.h"
#include "restart_policy.h"

#define CW_CHILD_NAME_MAX 64
#define CW_CHILD_START_TIMEOUT_MS 10000    //  READY must come within this
#define CW_CHILD_STANDBY_FD 3              //  the standby's end of the socketpair

typedef enum {
    CW_CHILD_STARTING = 0,
    CW_CHILD_RUNNING,
    CW_CHILD_BACKOFF,
    CW_CHILD_STOPPING,
    CW_CHILD_STOPPED,
    CW_CHILD_FAILED,
    CW_CHILD_STATES
} cw_child_state_t;

typedef enum {
    CW_EV_START = 0,    //  operator or startup sequence: start it
    CW_EV_READY,        //  the actor sent READY
    CW_EV_EXIT,         //  the process was reaped (status in child->status)
    CW_EV_HANG,         //  heartbeats missed
    CW_EV_TIMEOUT,      //  the state's deadline passed
    CW_EV_STOP,         //  operator or shutdown: stop it, do not restart
    CW_EV_RESTART,      //  operator: stop it and start it again
    CW_EV_COUNT
} cw_child_event_t;

typedef struct _cw_child_t cw_child_t;

//  What the children share: set by the supervisor, read by child.c.
typedef struct {
    const char *config_file;    //  absolute bootstrap file
    const char *exe_dir;        //  folder of causewayd
    char *const *envp;          //  environment for actors
    int intensity;
    int period_s;
    bool no_restart;    //  shutting down: never restart
    //  Called after every state change (OLD -> child->state).
    void (*on_change) (cw_child_t *child, cw_child_state_t old, void *arg);
    //  Called to send the TERM envelope to a running actor.
    void (*send_term) (cw_child_t *child, void *arg);
    //  Called with the pid of a standby that was dismissed and will exit by
    //  itself (the supervisor reaps it, and kills it if it lingers).
    void (*standby_retired) (cw_child_t *child, pid_t pid, void *arg);
    void *arg;
} cw_child_ctx_t;

struct _cw_child_t {
    char name [CW_CHILD_NAME_MAX];
    char *path;    //  executable, resolved
    cw_restart_t restart;
    int shutdown_timeout_ms;
    cw_child_state_t state;
    pid_t pid;                  //  0 when no process
    pid_t exited_pid;           //  the last incarnation that exited, 0 none
    int status;                 //  last waitpid status
    int64_t since_ms;           //  wall clock of the last state change
    int64_t started_mono;       //  when the process was forked
    int64_t last_seen_mono;     //  last message from the actor
    int64_t deadline_mono;      //  0 = none
    int restarts;               //  total restarts since causewayd started
    int early_failures;         //  consecutive deaths before READY
    int in_window;              //  restarts in the window at the last exit
    bool was_ready;             //  this incarnation sent READY
    bool launched;              //  started at least once
    bool restart_after_stop;    //  STOPPING on behalf of RESTART
    bool removed;               //  no longer in the bootstrap file
    bool killed;                //  we sent SIGKILL to this incarnation
    cw_restart_window_t window;
    //  Warm standby (see the top of this file)
    pid_t standby_pid;    //  0 when none
    int standby_fd;       //  our end of the socketpair, -1 when none
    bool standby_warm;    //  it said it is waiting in cw_actor_new
    int64_t standby_spawned_mono;
    int64_t standby_retry_mono;    //  no new standby before this (back-off)
    int standby_backoff_ms;        //  after a standby died by itself
    struct stat standby_exe;       //  the executable file it was started from
    int promotions;                //  restarts served by a standby
};

//  Make a child for SPEC (resolving its executable). NULL on no memory.
cw_child_t *cw_child_new (const cw_child_spec_t *spec, const char *exe_dir);
void cw_child_destroy (cw_child_t **self_p);
//  Take over what may change live from SPEC (restart type, timeout, path).
//  True when the restart type or the executable changed.
bool cw_child_update (cw_child_t *self, const cw_child_spec_t *spec, const char *exe_dir);

//  Feed EVENT through the state table. Returns the new state.
cw_child_state_t cw_child_event (cw_child_t *self, cw_child_ctx_t *ctx, cw_child_event_t event);

//  Start a standby process for the child (no-op if it has one). 0 or -1.
int cw_child_standby_spawn (cw_child_t *self, cw_child_ctx_t *ctx);
//  Dismiss the standby, if any (ctx->standby_retired gets its pid).
void cw_child_standby_dismiss (cw_child_t *self, cw_child_ctx_t *ctx, const char *reason);
//  Has the standby said it is waiting? Reads its byte without blocking.
bool cw_child_standby_poll (cw_child_t *self);

const char *cw_child_state_name (cw_child_state_t state);
const char *cw_child_event_name (cw_child_event_t event);
//  Is the process up (has a pid) in this state?
bool cw_child_is_down (const cw_child_t *self);

#endif
