/*  child.c - one supervised actor process (see child.h).

    The state table at the bottom of the file is the whole lifecycle: a row
    per state, a column per event, a handler per valid cell. Handlers are
    short and return the next state; cw_child_event stamps the change and
    tells the supervisor (ctx->on_change).

    Spawning: vfork, then in the child only system calls before execve:
    reset every handler to SIG_DFL, unblock every signal, ask for
    SIGTERM when the parent dies (PR_SET_PDEATHSIG, then a getppid check
    for the race where the parent died first), close inherited descriptors
    above stderr (a standby keeps its socketpair end as descriptor 3).
    argv and envp are built before the fork.

    s_spawn promotes the warm standby when there is one (its executable
    not replaced since it started, and it still alive: the "go" byte could
    be sent); otherwise it forks and execs. Either way the handlers above
    see the same thing: a new pid in state starting.
*/
#include "child.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cw_log.h"

// ---------------------------------------------------------------------------
//  Names

static const char *s_state_names [CW_CHILD_STATES] = {
    "starting", "running", "backoff", "stopping", "stopped", "failed"
};
static const char *s_event_names [CW_EV_COUNT] = { "START", "READY", "EXIT", "HANG", "TIMEOUT", "STOP", "RESTART" };

const char *
cw_child_state_name (cw_child_state_t state)
{
    return (int) state >= 0 && state < CW_CHILD_STATES ? s_state_names [state] : "?";
}

const char *
cw_child_event_name (cw_child_event_t event)
{
    return (int) event >= 0 && event < CW_EV_COUNT ? s_event_names [event] : "?";
}

bool
cw_child_is_down (const cw_child_t *self)
{
    return self->pid == 0;
}

// ---------------------------------------------------------------------------
//  Construction

static pid_t s_standby_release (cw_child_t *self);

static char *
s_resolve_path (const cw_child_spec_t *spec, const char *exe_dir)
{
    if (spec->path && *spec->path)
        return strdup (spec->path);
    size_t size = strlen (exe_dir) + strlen (spec->name) + 16;
    char *path = malloc (size);
    if (path)
        snprintf (path, size, "%s/causeway-%s", exe_dir, spec->name);
    return path;
}

cw_child_t *
cw_child_new (const cw_child_spec_t *spec, const char *exe_dir)
{
    cw_child_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->name, sizeof self->name, "%s", spec->name);
    self->path = s_resolve_path (spec, exe_dir);
    if (!self->path) {
        free (self);
        return NULL;
    }
    self->restart = spec->restart;
    self->shutdown_timeout_ms = spec->shutdown_timeout_ms;
    self->state = CW_CHILD_STOPPED;
    self->since_ms = zclock_time ();
    self->standby_fd = -1;
    return self;
}

void
cw_child_destroy (cw_child_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_standby_release (*self_p);    //  the standby reads EOF and exits
    free ((*self_p)->path);
    free (*self_p);
    *self_p = NULL;
}

bool
cw_child_update (cw_child_t *self, const cw_child_spec_t *spec, const char *exe_dir)
{
    bool changed = self->restart != spec->restart;
    self->restart = spec->restart;
    self->shutdown_timeout_ms = spec->shutdown_timeout_ms;
    char *path = s_resolve_path (spec, exe_dir);
    if (path) {
        changed |= strcmp (path, self->path) != 0;
        free (self->path);
        self->path = path;
    }
    return changed;
}

// ---------------------------------------------------------------------------
//  Process handling

//  Fork and exec the actor with ENVP. KEEP_FD >= 3, when not -1, is passed
//  to the new process as CW_CHILD_STANDBY_FD (every other descriptor above
//  stderr is closed). Returns the pid or -1.
//
//  vfork, not fork: on this kind of machine copying the page tables costs
//  as much as the rest of a restart (fork + exec of /bin/true 14.8 ms,
//  vfork + exec 7.6 ms). The child shares our memory until execve, so it
//  makes raw system calls only, writes no variable of ours and never
//  returns from this function. Handlers are reset before signals are
//  unblocked (causewayd installs none but SIG_IGN for SIGPIPE, and that
//  disposition would survive exec).
static pid_t
s_fork_exec (cw_child_t *self, cw_child_ctx_t *ctx, char *const *envp, int keep_fd)
{
    char *argv [] = { self->path, "--config", (char *) ctx->config_file, "--name", self->name, NULL };
    const char *path = self->path;
    pid_t parent = getpid ();
    sigset_t none;
    sigemptyset (&none);
    pid_t pid = vfork ();
    if (pid != 0)
        return pid;

    //  In the child: system calls only
    for (int sig = 1; sig < NSIG; sig++)
        signal (sig, SIG_DFL);
    sigprocmask (SIG_SETMASK, &none, NULL);
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if (getppid () != parent)
        _exit (1);
    if (keep_fd >= 0) {
        //  dup2 clears close-on-exec on the copy; the same number needs fcntl
        if (keep_fd == CW_CHILD_STANDBY_FD) {
            if (fcntl (keep_fd, F_SETFD, 0))
                _exit (126);
        }
        else if (dup2 (keep_fd, CW_CHILD_STANDBY_FD) != CW_CHILD_STANDBY_FD)
            _exit (126);
        close_range (CW_CHILD_STANDBY_FD + 1, ~0U, 0);
    }
    else
        close_range (3, ~0U, 0);
    execve (path, argv, envp);
    static const char message [] = "causewayd: exec of actor failed\n";
    ssize_t rc = write (2, message, sizeof message - 1);
    (void) rc;
    _exit (127);
}

// ---------------------------------------------------------------------------
//  Warm standby

//  The same file as when the standby was started (not replaced since)?
static bool
s_same_exe (const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
        && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

//  Forget the standby: close our end, give the pid back.
static pid_t
s_standby_release (cw_child_t *self)
{
    pid_t pid = self->standby_pid;
    if (self->standby_fd >= 0)
        close (self->standby_fd);
    self->standby_fd = -1;
    self->standby_pid = 0;
    self->standby_warm = false;
    return pid;
}

int
cw_child_standby_spawn (cw_child_t *self, cw_child_ctx_t *ctx)
{
    if (self->standby_pid > 0)
        return 0;
    struct stat exe;
    if (stat (self->path, &exe) || access (self->path, X_OK))
        return -1;
    int fds [2];
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds))
        return -1;
    //  fds[1] becomes CW_CHILD_STANDBY_FD in the standby; it must not be
    //  one of stdin..stderr, which the standby keeps as they are.
    if (fds [1] < CW_CHILD_STANDBY_FD) {
        close (fds [0]);
        close (fds [1]);
        errno = EBADF;
        return -1;
    }
    //  Our environment plus CAUSEWAY_STANDBY_FD (built before vfork)
    size_t count = 0;
    while (ctx->envp && ctx->envp [count])
        count++;
    char **envp = calloc (count + 2, sizeof *envp);
    if (!envp) {
        close (fds [0]);
        close (fds [1]);
        return -1;
    }
    static char standby_var [] = "CAUSEWAY_STANDBY_FD=3";
    for (size_t i = 0; i < count; i++)
        envp [i] = ctx->envp [i];
    envp [count] = standby_var;
    pid_t pid = s_fork_exec (self, ctx, envp, fds [1]);
    int saved = errno;
    free (envp);
    close (fds [1]);
    if (pid < 0) {
        close (fds [0]);
        errno = saved;
        return -1;
    }
    self->standby_pid = pid;
    self->standby_fd = fds [0];
    self->standby_warm = false;
    self->standby_spawned_mono = zclock_mono ();
    self->standby_exe = exe;
    cw_debug ("standby started name=%s pid=%d", self->name, (int) pid);
    return 0;
}

void
cw_child_standby_dismiss (cw_child_t *self, cw_child_ctx_t *ctx, const char *reason)
{
    if (self->standby_pid <= 0)
        return;
    cw_debug ("standby dismissed name=%s pid=%d reason=\"%s\"", self->name, (int) self->standby_pid, reason);
    pid_t pid = s_standby_release (self);
    if (ctx->standby_retired)
        ctx->standby_retired (self, pid, ctx->arg);
}

bool
cw_child_standby_poll (cw_child_t *self)
{
    if (self->standby_fd >= 0 && !self->standby_warm) {
        char bytes [16];
        if (recv (self->standby_fd, bytes, sizeof bytes, MSG_DONTWAIT) > 0) {
            self->standby_warm = true;
            self->standby_backoff_ms = 0;
            cw_debug ("standby waiting name=%s pid=%d warm_ms=%lld", self->name, (int) self->standby_pid,
                      (long long) (zclock_mono () - self->standby_spawned_mono));
        }
    }
    return self->standby_warm;
}

//  Turn the standby into the active process. Returns its pid, or 0 when
//  there is no usable standby (then the caller forks and execs).
static pid_t
s_promote (cw_child_t *self, cw_child_ctx_t *ctx)
{
    if (self->standby_pid <= 0)
        return 0;
    struct stat exe;
    if (stat (self->path, &exe) || !s_same_exe (&exe, &self->standby_exe)) {
        cw_child_standby_dismiss (self, ctx, "the executable was replaced");
        return 0;
    }
    cw_child_standby_poll (self);    //  read its byte, so closing our end
                                     //  does not reset the connection
    static const char go = 'g';
    if (send (self->standby_fd, &go, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1) {
        cw_child_standby_dismiss (self, ctx, "it is gone");
        return 0;
    }
    bool warm = self->standby_warm;
    pid_t pid = s_standby_release (self);
    self->promotions++;
    cw_debug ("standby promoted name=%s pid=%d warm=%s", self->name, (int) pid, warm ? "yes" : "no");
    return pid;
}

static void
s_kill (cw_child_t *self, int sig)
{
    if (self->pid > 0 && kill (self->pid, sig) && errno != ESRCH)
        cw_warn ("kill failed actor=%s pid=%d signal=%d error=\"%s\"", self->name, (int) self->pid, sig,
                 strerror (errno));
}

// ---------------------------------------------------------------------------
//  Transition handlers: each does its side effects and returns the next state

typedef cw_child_state_t (s_handler_fn) (cw_child_t *self, cw_child_ctx_t *ctx);

static cw_child_state_t s_after_exit (cw_child_t *self, cw_child_ctx_t *ctx);

//  Start a new incarnation.
static cw_child_state_t
s_spawn (cw_child_t *self, cw_child_ctx_t *ctx)
{
    int64_t now = zclock_mono ();
    self->was_ready = false;
    self->killed = false;
    self->restart_after_stop = false;
    self->launched = true;
    pid_t pid = s_promote (self, ctx);
    bool promoted = pid > 0;
    if (!promoted)
        pid = access (self->path, X_OK) == 0 ? s_fork_exec (self, ctx, ctx->envp, -1) : -1;
    if (pid < 0) {
        cw_error ("cannot start actor name=%s path=%s error=\"%s\"", self->name, self->path, strerror (errno));
        self->pid = 0;
        self->status = 127 << 8;    //  as if exec had failed
        return s_after_exit (self, ctx);
    }
    self->pid = pid;
    self->started_mono = now;
    self->last_seen_mono = now;
    self->deadline_mono = now + CW_CHILD_START_TIMEOUT_MS;
    cw_info ("actor started name=%s pid=%d%s", self->name, (int) pid, promoted ? " standby=promoted" : "");
    return CW_CHILD_STARTING;
}

//  Start from stopped or failed: a fresh history.
static cw_child_state_t
s_start_fresh (cw_child_t *self, cw_child_ctx_t *ctx)
{
    cw_restart_window_reset (&self->window);
    self->early_failures = 0;
    self->in_window = 0;
    return s_spawn (self, ctx);
}

//  Operator restart of an actor that is not up: start it now.
static cw_child_state_t
s_restart_idle (cw_child_t *self, cw_child_ctx_t *ctx)
{
    self->restarts++;
    if (self->state == CW_CHILD_BACKOFF)
        return s_spawn (self, ctx);
    return s_start_fresh (self, ctx);
}

static cw_child_state_t
s_ready (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    self->was_ready = true;
    self->early_failures = 0;
    self->deadline_mono = 0;
    self->last_seen_mono = zclock_mono ();
    cw_info ("actor ready name=%s pid=%d startup_ms=%lld", self->name, (int) self->pid,
             (long long) (self->last_seen_mono - self->started_mono));
    return CW_CHILD_RUNNING;
}

//  The process is gone without being asked to stop: apply the policy.
static cw_child_state_t
s_after_exit (cw_child_t *self, cw_child_ctx_t *ctx)
{
    self->deadline_mono = 0;
    if (!self->was_ready)
        self->early_failures++;
    if (ctx->no_restart || self->removed)
        return CW_CHILD_STOPPED;
    int64_t delay = 0;
    cw_decision_t decision = cw_restart_decide (&self->window, self->restart, cw_exit_abnormal (self->status),
                                                self->was_ready, self->early_failures, ctx->intensity, ctx->period_s,
                                                zclock_mono (), &self->in_window, &delay);
    switch (decision) {
        case CW_DECIDE_STOP:
            cw_info ("actor not restarted name=%s restart=%s", self->name, cw_restart_name (self->restart));
            return CW_CHILD_STOPPED;
        case CW_DECIDE_FAIL:
            cw_error ("actor failed name=%s restarts_in_window=%d period_s=%d", self->name, self->in_window,
                      ctx->period_s);
            return CW_CHILD_FAILED;
        case CW_DECIDE_BACKOFF:
            self->restarts++;
            self->deadline_mono = zclock_mono () + delay;
            cw_warn ("actor died before ready name=%s backoff_ms=%lld attempt=%d", self->name, (long long) delay,
                     self->early_failures);
            return CW_CHILD_BACKOFF;
        case CW_DECIDE_RESTART_NOW:
            break;
    }
    self->restarts++;
    return s_spawn (self, ctx);
}

static cw_child_state_t
s_exited (cw_child_t *self, cw_child_ctx_t *ctx)
{
    int status = self->status;
    if (WIFSIGNALED (status))
        cw_warn ("actor exited name=%s pid=%d signal=%d%s", self->name, (int) self->pid, WTERMSIG (status),
                 self->killed ? " killed_by=causewayd" : "");
    else
        cw_warn ("actor exited name=%s pid=%d status=%d", self->name, (int) self->pid, WEXITSTATUS (status));
    self->exited_pid = self->pid;
    self->pid = 0;
    return s_after_exit (self, ctx);
}

//  Exit while stopping: stay stopped, or start again for RESTART.
static cw_child_state_t
s_exited_stopping (cw_child_t *self, cw_child_ctx_t *ctx)
{
    cw_info ("actor stopped name=%s pid=%d", self->name, (int) self->pid);
    self->exited_pid = self->pid;
    self->pid = 0;
    self->deadline_mono = 0;
    if (self->restart_after_stop && !ctx->no_restart && !self->removed) {
        self->restarts++;
        return s_spawn (self, ctx);
    }
    self->restart_after_stop = false;
    return CW_CHILD_STOPPED;
}

//  Hung, or did not become READY in time, or ignored SIGTERM: SIGKILL. The
//  EXIT that follows decides what happens next.
static cw_child_state_t
s_kill_hard (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    cw_warn ("killing actor name=%s pid=%d state=%s reason=%s", self->name, (int) self->pid,
             cw_child_state_name (self->state),
             self->state == CW_CHILD_RUNNING    ? "heartbeat missed"
             : self->state == CW_CHILD_STARTING ? "no READY in time"
                                                : "shutdown timeout");
    s_kill (self, SIGKILL);
    self->killed = true;
    self->deadline_mono = 0;
    return self->state;
}

static cw_child_state_t
s_stop (cw_child_t *self, cw_child_ctx_t *ctx)
{
    if (ctx->send_term)
        ctx->send_term (self, ctx->arg);
    s_kill (self, SIGTERM);
    self->restart_after_stop = false;
    self->deadline_mono = zclock_mono () + self->shutdown_timeout_ms;
    return CW_CHILD_STOPPING;
}

static cw_child_state_t
s_stop_idle (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    self->deadline_mono = 0;
    return CW_CHILD_STOPPED;
}

static cw_child_state_t
s_restart_up (cw_child_t *self, cw_child_ctx_t *ctx)
{
    cw_child_state_t next = s_stop (self, ctx);
    self->restart_after_stop = true;
    return next;
}

static cw_child_state_t
s_stopping_start (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    self->restart_after_stop = true;
    return CW_CHILD_STOPPING;
}

static cw_child_state_t
s_stopping_stop (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    self->restart_after_stop = false;
    return CW_CHILD_STOPPING;
}

//  An event that needs nothing but is expected (e.g. START while running).
static cw_child_state_t
s_stay (cw_child_t *self, cw_child_ctx_t *ctx)
{
    (void) ctx;
    return self->state;
}

// ---------------------------------------------------------------------------
//  The lifecycle: states x events. NULL = not applicable (ignored, logged).

// clang-format off
static s_handler_fn *const s_table[CW_CHILD_STATES][CW_EV_COUNT] = {
    //                    START             READY    EXIT               HANG         TIMEOUT      STOP             RESTART
    [CW_CHILD_STARTING] = { s_stay,           s_ready, s_exited,          NULL,        s_kill_hard, s_stop,          s_restart_up },
    [CW_CHILD_RUNNING]  = { s_stay,           NULL,    s_exited,          s_kill_hard, NULL,        s_stop,          s_restart_up },
    [CW_CHILD_BACKOFF]  = { s_spawn,          NULL,    NULL,              NULL,        s_spawn,     s_stop_idle,     s_restart_idle },
    [CW_CHILD_STOPPING] = { s_stopping_start, NULL,    s_exited_stopping, NULL,        s_kill_hard, s_stopping_stop, s_stopping_start },
    [CW_CHILD_STOPPED]  = { s_start_fresh,    NULL,    NULL,              NULL,        NULL,        s_stay,          s_restart_idle },
    [CW_CHILD_FAILED]   = { s_start_fresh,    NULL,    NULL,              NULL,        NULL,        s_stop_idle,     s_restart_idle },
};
// clang-format on

cw_child_state_t
cw_child_event (cw_child_t *self, cw_child_ctx_t *ctx, cw_child_event_t event)
{
    if ((int) event < 0 || event >= CW_EV_COUNT)
        return self->state;
    s_handler_fn *handler = s_table [self->state][event];
    if (!handler) {
        cw_debug ("event ignored actor=%s state=%s event=%s", self->name, cw_child_state_name (self->state),
                  cw_child_event_name (event));
        return self->state;
    }
    cw_child_state_t old = self->state;
    cw_child_state_t next = handler (self, ctx);
    if (next != old) {
        self->state = next;
        self->since_ms = zclock_time ();
        cw_debug ("actor state name=%s from=%s to=%s event=%s", self->name, cw_child_state_name (old),
                  cw_child_state_name (next), cw_child_event_name (event));
        if (ctx->on_change)
            ctx->on_change (self, old, ctx->arg);
    }
    return next;
}
