/*  supervisor.c - causewayd's core (see supervisor.h).

    One zloop, one thread of our own. Its inputs:
      - a signalfd for SIGCHLD (reap with waitpid WNOHANG, feed EXIT to the
        child), SIGTERM/SIGINT (orderly shutdown) and SIGHUP (reload);
      - the broker socket (broker.c) and the control socket(s) (control.c),
        which call back into this file through hooks;
      - a tick timer (5..50 ms) that turns deadlines into events: missed
        heartbeats (HANG), startup READY timeout, back-off end and
        SIGTERM -> SIGKILL (TIMEOUT); it also expires queued and pending
        requests and re-sends the alarm outbox;
      - the systemd watchdog timer, when the unit sets WatchdogSec.

    Every child state change lands in s_on_change, which keeps the broker's
    idea of who is ready in step, tells the ready actors (EVENT actor.ready
    {name, pid} when an instance became ready, actor.down {name, pid} when
    one that was starting or running exited, restarted or not), raises
    alarm 10001 on `failed`, and then s_progress moves the startup sequence, the shutdown sequence, the warm
    standbys and the systemd status forward.

    Commands: causewayd's own are one table (s_local_commands); every
    other one is routed to the actor that declared it in its READY (the
    list goes to control.c with cw_ctl_declare), and s_progress tells the
    control server when every actor has declared (s_routes_complete).

    Warm standbys (child.h): exec and dynamic linking of an actor take
    longer than the whole restart budget, so every permanent or transient
    child that is running gets a second process of its executable, parked
    in cw_actor_new before it connects; a restart promotes it. s_standbys
    keeps the set right: a standby for every running child once the
    startup sequence is done (so start-up is not slowed), at most one
    standby starting at a time (exec is the expensive part on two cores),
    none for a child that is stopped, failed, temporary, removed, or while
    shutting down. A standby that dies by itself is replaced after a
    back-off (100 ms doubling to 5 s). Dismissed standbys are kept in
    `retired` until reaped (SIGKILL if one lingers), so shutdown waits for
    them and no process is left behind; a reaped pid is matched against
    actives, standbys and retired ones, never confused.
*/
#include "supervisor.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "child.h"
#include "control.h"
#include "cw_actor.h"
#include "cw_alarm.h"
#include "cw_bootstrap.h"
#include "cw_envelope.h"
#include "cw_log.h"
#include "outbox.h"

#define CW_CHILDREN_MAX (CW_MAX_ACTORS * 2)     //  room for removed ones still stopping
#define CW_RETIRED_MAX (CW_CHILDREN_MAX * 2)    //  dismissed standbys not reaped yet
#define CW_RETIRED_GRACE_MS 2000                //  then SIGKILL
#define CW_STANDBY_BACKOFF_MS 100
#define CW_STANDBY_BACKOFF_MAX_MS 5000

extern char **environ;

struct _cw_supervisor_t {
    cw_bootstrap_t *boot;
    char config_file [PATH_MAX];
    char exe_dir [PATH_MAX];
    char **envp;    //  for actors
    cw_child_t *children [CW_CHILDREN_MAX];
    int child_count;
    struct {
        pid_t pid;
        int64_t deadline;    //  SIGKILL after this
    } retired [CW_RETIRED_MAX];
    int retired_count;
    cw_child_ctx_t ctx;
    zloop_t *loop;
    cw_broker_t *broker;
    cw_ctl_t *ctl;
    cw_outbox_t *outbox;
    int signal_fd;
    int lock_fd;
    int tick_timer;
    int tick_ms;
    int watchdog_timer;
    int64_t started_mono;
    int64_t last_tick;
    int startup_cursor;
    bool startup_done;
    bool stopping;      //  shutdown (or restart) in progress
    bool wants_exec;    //  restart: exec ourselves when stopped
    bool finished;
    int after_reply;    //  0, or 1 shutdown / 2 restart after the reply
    bool in_progress;
    bool progress_again;
    bool sd_ready_sent;
    char sd_status [1024];
    char system_name [256];
    json_t *cluster_summary;    //  retained STATE cluster.summary of the replication actor
    json_t *problems;           //  actor name -> the problem it reported (actor.problem.<name>)
};

static void s_progress (cw_supervisor_t *self);
static void s_standbys (cw_supervisor_t *self, bool may_spawn);
static int s_on_tick (zloop_t *loop, int timer_id, void *arg);

// ---------------------------------------------------------------------------
//  Small helpers

static cw_child_t *
s_child (cw_supervisor_t *self, const char *name)
{
    for (int i = 0; i < self->child_count; i++)
        if (strcmp (self->children [i]->name, name) == 0)
            return self->children [i];
    return NULL;
}

static cw_child_t *
s_child_by_pid (cw_supervisor_t *self, pid_t pid)
{
    for (int i = 0; i < self->child_count; i++)
        if (self->children [i]->pid == pid)
            return self->children [i];
    return NULL;
}

static cw_child_t *
s_child_by_standby_pid (cw_supervisor_t *self, pid_t pid)
{
    for (int i = 0; i < self->child_count; i++)
        if (self->children [i]->standby_pid == pid)
            return self->children [i];
    return NULL;
}

static void
s_rfc3339 (int64_t wall_ms, char *out, size_t size)
{
    time_t seconds = (time_t) (wall_ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  mkdir -p with mode 0700 for what is created.
static int
s_make_dirs (const char *path, char *err, size_t errlen)
{
    char buffer [PATH_MAX];
    snprintf (buffer, sizeof buffer, "%s", path);
    for (char *slash = buffer + 1;; slash++) {
        if (*slash == '/' || *slash == 0) {
            char saved = *slash;
            *slash = 0;
            if (mkdir (buffer, 0700) && errno != EEXIST) {
                snprintf (err, errlen, "cannot create folder %s: %s", buffer, strerror (errno));
                return -1;
            }
            *slash = saved;
            if (!saved)
                break;
        }
    }
    struct stat st;
    if (stat (path, &st) || !S_ISDIR (st.st_mode)) {
        snprintf (err, errlen, "%s is not a folder", path);
        return -1;
    }
    return 0;
}

//  The folder of our own executable (/proc/self/exe).
static void
s_exe_dir (char *out, size_t size)
{
    char path [PATH_MAX];
    ssize_t length = readlink ("/proc/self/exe", path, sizeof path - 1);
    if (length <= 0) {
        snprintf (out, size, ".");
        return;
    }
    path [length] = 0;
    char *deleted = strstr (path, " (deleted)");
    if (deleted && deleted [10] == 0)
        *deleted = 0;
    char *slash = strrchr (path, '/');
    if (slash && slash != path)
        *slash = 0;
    snprintf (out, size, "%s", path);
}

static void
s_free_envp (char **envp)
{
    if (!envp)
        return;
    for (char **entry = envp; *entry; entry++)
        free (*entry);
    free (envp);
}

//  Our environment minus systemd's per-process variables, plus the broker
//  endpoint and the heartbeat interval for actors.
static char **
s_build_envp (const cw_bootstrap_t *boot)
{
    static const char *const dropped [] = { "CAUSEWAY_BROKER=", "CAUSEWAY_HEARTBEAT_MS=", "NOTIFY_SOCKET=",
                                            "WATCHDOG_PID=",    "WATCHDOG_USEC=",         "LISTEN_PID=",
                                            "LISTEN_FDS=",      "LISTEN_FDNAMES=",        NULL };
    size_t count = 0;
    for (char **entry = environ; entry && *entry; entry++)
        count++;
    char **envp = calloc (count + 3, sizeof *envp);
    if (!envp)
        return NULL;
    size_t used = 0;
    for (char **entry = environ; entry && *entry; entry++) {
        bool drop = false;
        for (int i = 0; dropped [i]; i++)
            if (strncmp (*entry, dropped [i], strlen (dropped [i])) == 0)
                drop = true;
        if (!drop)
            envp [used++] = strdup (*entry);
    }
    size_t size = strlen (boot->control.broker_endpoint) + 32;
    envp [used] = malloc (size);
    if (envp [used])
        snprintf (envp [used++], size, "CAUSEWAY_BROKER=%s", boot->control.broker_endpoint);
    envp [used] = malloc (48);
    if (envp [used])
        snprintf (envp [used++], 48, "CAUSEWAY_HEARTBEAT_MS=%d", boot->supervisor.heartbeat_ms);
    return envp;
}

static bool
s_envp_equal (char **a, char **b)
{
    while (a && b && *a && *b && strcmp (*a, *b) == 0) {
        a++;
        b++;
    }
    return a && b && !*a && !*b;
}

static const char *
s_actor_names (cw_supervisor_t *self, char *out, size_t size)
{
    size_t used = 0;
    out [0] = 0;
    for (int i = 0; i < self->child_count && used < size; i++)
        used += snprintf (out + used, size - used, "%s%s", i ? ", " : "", self->children [i]->name);
    return out;
}

static void
s_apply_settings (cw_supervisor_t *self)
{
    const cw_bootstrap_t *boot = self->boot;
    int level = cw_log_level_parse (boot->node.log_level);
    if (level >= 0)
        cw_log_set_level ((cw_log_level_t) level);
    self->ctx.config_file = boot->file;
    self->ctx.exe_dir = self->exe_dir;
    self->ctx.envp = self->envp;
    self->ctx.intensity = boot->supervisor.intensity;
    self->ctx.period_s = boot->supervisor.period_s;
    int tick = boot->supervisor.heartbeat_ms / 4;
    self->tick_ms = tick < 5 ? 5 : tick > 50 ? 50 : tick;
}

// ---------------------------------------------------------------------------
//  systemd

static void
s_systemd_status (cw_supervisor_t *self)
{
    int running = 0, total = 0;
    const char *failed = NULL;
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->removed)
            continue;
        total++;
        running += child->state == CW_CHILD_RUNNING;
        if (child->state == CW_CHILD_FAILED && !failed)
            failed = child->name;
    }
    char status [sizeof self->sd_status];
    if (self->stopping)
        snprintf (status, sizeof status, "stopping: %d/%d actors running", running, total);
    else if (failed)
        snprintf (status, sizeof status, "actor %s failed; %d/%d actors running", failed, running, total);
    else
        snprintf (status, sizeof status, "%d/%d actors running", running, total);
    //  What actors report about their state files, each on the line
    const char *name;
    json_t *problem;
    json_object_foreach (self->problems, name, problem) {
        size_t used = strlen (status);
        snprintf (status + used, sizeof status - used, "; %s: %s", name, json_string_value (problem));
    }
    if (strcmp (status, self->sd_status) != 0) {
        snprintf (self->sd_status, sizeof self->sd_status, "%s", status);
        sd_notifyf (0, "STATUS=%s", status);
    }

    if (!self->sd_ready_sent && self->startup_done && !self->stopping) {
        for (int i = 0; i < self->child_count; i++) {
            cw_child_t *child = self->children [i];
            if (!child->removed && child->restart == CW_RESTART_PERMANENT && child->state != CW_CHILD_RUNNING)
                return;
        }
        self->sd_ready_sent = true;
        sd_notify (0, "READY=1");
        cw_info ("all permanent actors ready startup_ms=%lld", (long long) (zclock_mono () - self->started_mono));
    }
}

static int
s_on_watchdog (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    sd_notify (0, "WATCHDOG=1");
    return 0;
}

// ---------------------------------------------------------------------------
//  Lifecycle glue

static void
s_event (cw_supervisor_t *self, cw_child_t *child, cw_child_event_t event)
{
    cw_child_event (child, &self->ctx, event);
    s_progress (self);
}

static void
s_on_change (cw_child_t *child, cw_child_state_t old, void *arg)
{
    cw_supervisor_t *self = arg;
    cw_child_state_t now = child->state;
    bool final = now == CW_CHILD_STOPPED || now == CW_CHILD_FAILED
              || (now == CW_CHILD_STOPPING && !child->restart_after_stop);
    if (old == CW_CHILD_RUNNING || final)
        cw_broker_actor_down (self->broker, child->name, final);
    bool exited = (old == CW_CHILD_RUNNING || old == CW_CHILD_STOPPING || old == CW_CHILD_STARTING)
               && now != CW_CHILD_RUNNING && now != CW_CHILD_STOPPING;
    if (exited) {
        cw_ctl_actor_exited (self->ctl, child->name, now == CW_CHILD_STARTING || now == CW_CHILD_BACKOFF);
        //  Whatever the instance held (leases ...) is its holders' to free
        cw_broker_publish (self->broker, "actor.down",
                           json_pack ("{s:s, s:i}", "name", child->name, "pid", (int) child->exited_pid), child->name);
    }
    if (now == CW_CHILD_RUNNING) {
        cw_broker_actor_ready (self->broker, child->name, (int) child->pid);
        cw_ctl_actor_ready (self->ctl, child->name);
        if (strcmp (child->name, CW_OUTBOX_ACTOR) == 0)
            cw_outbox_flush (self->outbox);
    }
    if (now == CW_CHILD_FAILED) {
        char detail [256];
        snprintf (detail, sizeof detail, "actor %s restarted %d times in %d s; marked failed", child->name,
                  child->in_window, self->ctx.period_s);
        cw_outbox_raise (self->outbox, CW_ALARM_ACTOR_FAILED, child->name, detail);
    }
    if (old == CW_CHILD_FAILED && now != CW_CHILD_STOPPED)
        cw_outbox_clear (self->outbox, CW_ALARM_ACTOR_FAILED, child->name);
    //  A new instance reports its own problems
    if (now == CW_CHILD_STARTING)
        json_object_del (self->problems, child->name);
}

static void
s_send_term (cw_child_t *child, void *arg)
{
    cw_supervisor_t *self = arg;
    cw_broker_send_term (self->broker, child->name);
}

// ---------------------------------------------------------------------------
//  Warm standbys

static void
s_standby_retired (cw_child_t *child, pid_t pid, void *arg)
{
    cw_supervisor_t *self = arg;
    if (pid <= 0)
        return;
    if (self->retired_count < CW_RETIRED_MAX) {
        self->retired [self->retired_count].pid = pid;
        self->retired [self->retired_count].deadline = zclock_mono () + CW_RETIRED_GRACE_MS;
        self->retired_count++;
        return;
    }
    //  No room to track it: end it now
    cw_warn ("too many dismissed standbys; killing name=%s pid=%d", child->name, (int) pid);
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
}

//  Is PID a dismissed standby? Forget it if so.
static bool
s_retired_reaped (cw_supervisor_t *self, pid_t pid)
{
    for (int i = 0; i < self->retired_count; i++)
        if (self->retired [i].pid == pid) {
            self->retired [i] = self->retired [--self->retired_count];
            return true;
        }
    return false;
}

static void
s_retired_tick (cw_supervisor_t *self, int64_t now)
{
    for (int i = 0; i < self->retired_count; i++)
        if (self->retired [i].deadline && now >= self->retired [i].deadline) {
            cw_warn ("dismissed standby did not exit; killing pid=%d", (int) self->retired [i].pid);
            kill (self->retired [i].pid, SIGKILL);
            self->retired [i].deadline = 0;
        }
}

//  May CHILD keep its standby (in its present state)?
static bool
s_standby_wanted (cw_supervisor_t *self, cw_child_t *child)
{
    if (self->stopping || self->ctx.no_restart || child->removed || child->restart == CW_RESTART_TEMPORARY)
        return false;
    return child->state == CW_CHILD_RUNNING || (child->state == CW_CHILD_STOPPING && child->restart_after_stop);
}

static void
s_standby_dismiss_all (cw_supervisor_t *self, const char *reason)
{
    for (int i = 0; i < self->child_count; i++)
        cw_child_standby_dismiss (self->children [i], &self->ctx, reason);
}

//  Make the standbys match the children's states (see the top of the file).
//  Dismissals happen at once; new standbys are started from the tick only
//  (MAY_SPAWN), so never in the middle of handling a READY or an exit.
static void
s_standbys (cw_supervisor_t *self, bool may_spawn)
{
    int64_t now = zclock_mono ();
    bool starting = false;    //  a standby is on its way up
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->standby_pid <= 0)
            continue;
        if (!s_standby_wanted (self, child))
            cw_child_standby_dismiss (child, &self->ctx, "not needed in this state");
        else if (!cw_child_standby_poll (child)) {
            if (now - child->standby_spawned_mono > CW_CHILD_START_TIMEOUT_MS) {
                cw_warn ("standby did not get ready in time name=%s pid=%d", child->name, (int) child->standby_pid);
                cw_child_standby_dismiss (child, &self->ctx, "too slow");
                child->standby_retry_mono = now + CW_STANDBY_BACKOFF_MAX_MS;
            }
            else
                starting = true;
        }
    }
    if (starting || !may_spawn || !self->startup_done)
        return;
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->standby_pid > 0 || child->state != CW_CHILD_RUNNING || !s_standby_wanted (self, child)
            || now < child->standby_retry_mono)
            continue;
        if (cw_child_standby_spawn (child, &self->ctx)) {
            cw_warn ("cannot start a standby name=%s path=%s error=\"%s\"", child->name, child->path, strerror (errno));
            child->standby_retry_mono = now + CW_STANDBY_BACKOFF_MAX_MS;
            continue;
        }
        return;    //  one at a time
    }
}

//  A standby exited without being asked (crashed, killed by someone).
static void
s_standby_exited (cw_child_t *child, int status)
{
    if (WIFSIGNALED (status))
        cw_warn ("standby exited name=%s pid=%d signal=%d", child->name, (int) child->standby_pid, WTERMSIG (status));
    else
        cw_warn ("standby exited name=%s pid=%d status=%d", child->name, (int) child->standby_pid,
                 WEXITSTATUS (status));
    child->standby_pid = 0;    //  already reaped: not retired
    if (child->standby_fd >= 0) {
        close (child->standby_fd);
        child->standby_fd = -1;
    }
    child->standby_warm = false;
    int backoff = child->standby_backoff_ms ? child->standby_backoff_ms * 2 : CW_STANDBY_BACKOFF_MS;
    child->standby_backoff_ms = backoff > CW_STANDBY_BACKOFF_MAX_MS ? CW_STANDBY_BACKOFF_MAX_MS : backoff;
    child->standby_retry_mono = zclock_mono () + child->standby_backoff_ms;
}

static int
s_on_finish (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  Start actors in order: the next one once the previous is READY (or its
//  first start failed).
static void
s_startup_continue (cw_supervisor_t *self)
{
    if (self->startup_done || self->stopping)
        return;
    while (self->startup_cursor < self->child_count) {
        cw_child_t *child = self->children [self->startup_cursor];
        if (!child->removed && !child->launched && child->state == CW_CHILD_STOPPED)
            cw_child_event (child, &self->ctx, CW_EV_START);
        if (child->state == CW_CHILD_STARTING && child->early_failures == 0)
            return;    //  wait for its READY
        self->startup_cursor++;
    }
    self->startup_done = true;
    cw_info ("startup sequence done actors=%d", self->child_count);
}

//  Stop actors in reverse order, one at a time; finish when all are down.
static void
s_shutdown_continue (cw_supervisor_t *self)
{
    if (!self->stopping || self->finished)
        return;
    for (int i = self->child_count - 1; i >= 0; i--) {
        cw_child_t *child = self->children [i];
        if (child->state == CW_CHILD_STOPPED || child->state == CW_CHILD_FAILED)
            continue;
        if (child->state == CW_CHILD_STOPPING)
            return;
        cw_child_event (child, &self->ctx, CW_EV_STOP);
        if (child->state == CW_CHILD_STOPPING)
            return;
    }
    s_standby_dismiss_all (self, "shutting down");
    if (self->retired_count)
        return;    //  wait until the standbys are reaped
    self->finished = true;
    cw_info ("all actors stopped");
    zloop_timer (self->loop, 1, 1, s_on_finish, self);
}

//  Has every actor that will come up declared its commands? An actor
//  that failed, or stopped after it was started, is not waited for.
static bool
s_routes_complete (cw_supervisor_t *self)
{
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->removed || cw_ctl_declared (self->ctl, child->name))
            continue;
        if (child->state == CW_CHILD_FAILED || (child->state == CW_CHILD_STOPPED && child->launched))
            continue;
        return false;
    }
    return true;
}

static void
s_progress (cw_supervisor_t *self)
{
    if (self->in_progress) {
        self->progress_again = true;
        return;
    }
    self->in_progress = true;
    do {
        self->progress_again = false;
        s_startup_continue (self);
        s_standbys (self, false);
        s_shutdown_continue (self);
    } while (self->progress_again);
    self->in_progress = false;
    cw_ctl_set_complete (self->ctl, s_routes_complete (self));
    s_systemd_status (self);
}

static void
s_begin_shutdown (cw_supervisor_t *self, const char *reason, bool exec_after)
{
    if (exec_after)
        self->wants_exec = true;
    if (self->stopping)
        return;
    cw_info ("shutting down reason=%s%s", reason, exec_after ? " then=restart" : "");
    self->stopping = true;
    self->ctx.no_restart = true;
    s_standby_dismiss_all (self, "shutting down");
    sd_notify (0, exec_after ? "RELOADING=1" : "STOPPING=1");
    s_progress (self);
}

// ---------------------------------------------------------------------------
//  Reload (SIGHUP)

static void
s_reload (cw_supervisor_t *self)
{
    if (self->stopping)
        return;
    char err [1024];
    cw_bootstrap_t *fresh = cw_bootstrap_load (self->config_file, err, sizeof err, NULL, NULL);
    if (!fresh) {
        cw_error ("reload failed; keeping the running configuration error=\"%s\"", err);
        return;
    }
    cw_bootstrap_t *old = self->boot;
    if (strcmp (fresh->control.endpoint, old->control.endpoint) != 0
        || strcmp (fresh->control.curve_endpoint ? fresh->control.curve_endpoint : "",
                   old->control.curve_endpoint ? old->control.curve_endpoint : "")
               != 0
        || strcmp (fresh->node.runtime_dir, old->node.runtime_dir) != 0
        || strcmp (fresh->node.state_dir, old->node.state_dir) != 0 || strcmp (fresh->node.name, old->node.name) != 0
        || strcmp (fresh->node.type, old->node.type) != 0)
        cw_warn ("reload: node and control settings take effect at the next restart");

    //  Match the new actor list with the children we have
    cw_child_t *next [CW_CHILDREN_MAX];
    int count = 0;
    bool used [CW_CHILDREN_MAX] = { false };
    for (int i = 0; i < fresh->actor_count && count < CW_CHILDREN_MAX; i++) {
        const cw_child_spec_t *spec = &fresh->actors [i];
        cw_child_t *child = NULL;
        for (int j = 0; j < self->child_count; j++)
            if (!used [j] && !self->children [j]->removed && strcmp (self->children [j]->name, spec->name) == 0) {
                child = self->children [j];
                used [j] = true;
                if (cw_child_update (child, spec, self->exe_dir))
                    cw_child_standby_dismiss (child, &self->ctx, "its spec changed");
            }
        if (!child) {
            child = cw_child_new (spec, self->exe_dir);
            if (!child)
                continue;
            cw_info ("reload: actor added name=%s", child->name);
        }
        next [count++] = child;
    }
    cw_child_t *removed [CW_CHILDREN_MAX];
    int removed_count = 0;
    for (int j = 0; j < self->child_count; j++)
        if (!used [j]) {
            if (count < CW_CHILDREN_MAX) {
                if (!self->children [j]->removed) {
                    cw_info ("reload: actor removed name=%s", self->children [j]->name);
                    self->children [j]->removed = true;
                    removed [removed_count++] = self->children [j];
                }
                next [count++] = self->children [j];
            }
            else
                cw_error ("reload: too many actors; keeping name=%s", self->children [j]->name);
        }
    memcpy (self->children, next, (size_t) count * sizeof next [0]);
    self->child_count = count;

    char **envp = s_build_envp (fresh);
    if (envp) {
        if (!s_envp_equal (envp, self->envp))
            s_standby_dismiss_all (self, "the actors' environment changed");
        s_free_envp (self->envp);
        self->envp = envp;
    }
    self->boot = fresh;
    cw_bootstrap_destroy (&old);
    s_apply_settings (self);
    cw_broker_set_request_timeout (self->broker, fresh->supervisor.request_timeout_ms);
    cw_ctl_set_request_timeout (self->ctl, fresh->supervisor.request_timeout_ms);
    zloop_timer_end (self->loop, self->tick_timer);
    self->tick_timer = zloop_timer (self->loop, (size_t) self->tick_ms, 0, s_on_tick, self);

    for (int i = 0; i < removed_count; i++)
        cw_child_event (removed [i], &self->ctx, CW_EV_STOP);
    //  New actors start now (or when the startup sequence reaches them)
    self->startup_cursor = 0;
    if (self->startup_done)
        for (int i = 0; i < self->child_count; i++)
            if (!self->children [i]->launched && !self->children [i]->removed)
                cw_child_event (self->children [i], &self->ctx, CW_EV_START);
    char body [PATH_MAX + 32];
    json_t *json = json_pack ("{s:s}", "file", fresh->file);
    char *text = json ? json_dumps (json, JSON_COMPACT) : NULL;
    json_decref (json);
    snprintf (body, sizeof body, "%s", text ? text : "{}");
    free (text);
    cw_broker_deliver (self->broker, CW_MSG_STATE, 0, "@supervisor", "*", "bootstrap.reloaded", body);
    cw_info ("reloaded file=%s actors=%d intensity=%d period_s=%d heartbeat_ms=%d", fresh->file, fresh->actor_count,
             fresh->supervisor.intensity, fresh->supervisor.period_s, fresh->supervisor.heartbeat_ms);
    s_progress (self);
}

// ---------------------------------------------------------------------------
//  Timers and signals

static void
s_sweep_removed (cw_supervisor_t *self)
{
    int kept = 0;
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->removed && (child->state == CW_CHILD_STOPPED || child->state == CW_CHILD_FAILED)
            && !self->stopping) {
            cw_info ("actor removed from the table name=%s", child->name);
            cw_ctl_forget (self->ctl, child->name);
            cw_child_destroy (&child);
            self->startup_cursor = 0;
        }
        else
            self->children [kept++] = child;
    }
    self->child_count = kept;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_supervisor_t *self = arg;
    int64_t now = zclock_mono ();
    int64_t silence = (int64_t) self->boot->supervisor.heartbeat_ms * self->boot->supervisor.heartbeat_misses;
    //  If we ourselves were not scheduled for a while (stopped, swapped),
    //  the actors' silence is ours: do not kill them for it.
    bool we_stalled = self->last_tick && now - self->last_tick > self->tick_ms + silence / 2;
    self->last_tick = now;
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->state == CW_CHILD_RUNNING) {
            if (we_stalled)
                child->last_seen_mono = now;
            else if (now - child->last_seen_mono > silence && !child->killed)
                s_event (self, child, CW_EV_HANG);
        }
        else if (child->deadline_mono && now >= child->deadline_mono)
            s_event (self, child, CW_EV_TIMEOUT);
    }
    s_retired_tick (self, now);
    cw_broker_tick (self->broker, now);
    cw_ctl_tick (self->ctl, now);
    cw_outbox_tick (self->outbox, now);
    s_sweep_removed (self);
    s_progress (self);
    s_standbys (self, true);
    return 0;
}

static void
s_reap (cw_supervisor_t *self)
{
    int status;
    pid_t pid;
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0) {
        cw_child_t *child = s_child_by_pid (self, pid);
        if (child) {
            child->status = status;
            s_event (self, child, CW_EV_EXIT);
            continue;
        }
        child = s_child_by_standby_pid (self, pid);
        if (child) {
            s_standby_exited (child, status);
            s_progress (self);
            continue;
        }
        if (s_retired_reaped (self, pid)) {
            cw_debug ("dismissed standby reaped pid=%d", (int) pid);
            s_progress (self);
            continue;
        }
        cw_debug ("reaped a process that is not an actor pid=%d", (int) pid);
    }
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    cw_supervisor_t *self = arg;
    struct signalfd_siginfo info;
    bool child = false, hup = false;
    while (read (item->fd, &info, sizeof info) == (ssize_t) sizeof info) {
        switch (info.ssi_signo) {
            case SIGCHLD:
                child = true;
                break;
            case SIGHUP:
                hup = true;
                break;
            case SIGTERM:
                s_begin_shutdown (self, "SIGTERM", false);
                break;
            case SIGINT:
                s_begin_shutdown (self, "SIGINT", false);
                break;
            default:
                break;
        }
    }
    if (child)
        s_reap (self);
    if (hup) {
        cw_info ("SIGHUP: reloading file=%s", self->config_file);
        s_reload (self);
    }
    return 0;
}

static int
s_on_after_reply (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_supervisor_t *self = arg;
    int action = self->after_reply;
    self->after_reply = 0;
    if (action == 1)
        s_begin_shutdown (self, "control shutdown", false);
    else if (action == 2)
        s_begin_shutdown (self, "control restart", true);
    return 0;
}

// ---------------------------------------------------------------------------
//  Commands answered by the supervisor

static json_t *
s_actor_json (cw_supervisor_t *self, cw_child_t *child)
{
    char since [40];
    s_rfc3339 (child->since_ms, since, sizeof since);
    bool standby_ready = cw_child_standby_poll (child);
    json_t *actor = json_pack ("{s:s, s:i, s:s, s:i, s:s, s:i, s:b}", "name", child->name, "pid", (int) child->pid,
                               "state", cw_child_state_name (child->state), "restarts", child->restarts, "since", since,
                               "standby_pid", (int) child->standby_pid, "standby_ready", standby_ready);
    //  false while the startup sequence has not reached it (its state is stopped then too)
    json_object_set_new (actor, "launched", json_boolean (child->launched));
    json_t *problem = json_object_get (self->problems, child->name);
    if (actor && problem)
        json_object_set (actor, "problem", problem);
    return actor;
}

static json_t *
s_actors_json (cw_supervisor_t *self)
{
    json_t *list = json_array ();
    for (int i = 0; i < self->child_count; i++)
        json_array_append_new (list, s_actor_json (self, self->children [i]));
    return list;
}

static json_t *
s_status (cw_supervisor_t *self)
{
    const cw_bootstrap_t *boot = self->boot;
    json_t *status = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:I, s:o, s:{s:I, s:I}}", "node", boot->node.name,
                                "system_name", *self->system_name ? self->system_name : boot->node.name, "type",
                                boot->node.type, "version", CW_VERSION, "pid", (int) getpid (), "uptime_s",
                                (json_int_t) ((zclock_mono () - self->started_mono) / 1000), "actors",
                                s_actors_json (self), "malformed", "control", (json_int_t) cw_ctl_malformed (self->ctl),
                                "broker", (json_int_t) cw_envelope_malformed ());
    //  The clustering banner comes from the replication actor (cluster.summary)
    json_t *pending = json_object_get (self->cluster_summary, "factory_reset_pending");
    json_object_set_new (status, "factory_reset_pending", json_boolean (json_is_true (pending)));
    json_object_set_new (status, "control", cw_ctl_stats (self->ctl));
    if (self->cluster_summary)
        json_object_set (status, "cluster", self->cluster_summary);
    return status;
}

static json_t *s_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static json_t *
s_error (const char *fmt, ...)
{
    char message [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return json_pack ("{s:s}", "error", message);
}

//  actors.start / actors.stop / actors.restart {name}
static bool
s_actor_command (cw_supervisor_t *self, const char *verb, json_t *args, json_t **reply)
{
    json_t *name_json = json_object_get (args, "name");
    if (!name_json) {
        *reply = s_error ("missing argument 'name' (the actor to %s)", verb);
        return false;
    }
    if (!json_is_string (name_json)) {
        *reply = s_error ("argument 'name' must be a string (an actor name)");
        return false;
    }
    const char *name = json_string_value (name_json);
    cw_child_t *child = s_child (self, name);
    if (!child || child->removed) {
        char names [512];
        *reply = s_error ("no actor named '%s'; actors are: %s", name, s_actor_names (self, names, sizeof names));
        return false;
    }
    if (self->stopping) {
        *reply = s_error ("causewayd is shutting down");
        return false;
    }
    cw_info ("control: actors.%s name=%s state=%s", verb, name, cw_child_state_name (child->state));
    cw_child_event_t event = strcmp (verb, "start") == 0 ? CW_EV_START
                           : strcmp (verb, "stop") == 0  ? CW_EV_STOP
                                                         : CW_EV_RESTART;
    s_event (self, child, event);
    *reply = s_actor_json (self, child);
    return true;
}

static bool
s_cmd_status (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    (void) command;
    (void) args;
    *reply = s_status (self);
    return true;
}

static bool
s_cmd_actors_list (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    (void) command;
    (void) args;
    *reply = json_pack ("{s:o}", "actors", s_actors_json (self));
    return true;
}

static bool
s_cmd_control_clients (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    (void) command;
    (void) args;
    *reply = cw_ctl_clients (self->ctl);
    return *reply != NULL;
}

static bool s_cmd_commands_routes (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply);

static bool
s_cmd_actors_verb (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    return s_actor_command (self, command + strlen ("actors."), args, reply);
}

//  shutdown / restart: answered first, acted on after the reply went out.
static bool
s_cmd_shutdown (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    (void) args;
    bool restart = strcmp (command, "restart") == 0;
    cw_info ("control: %s", command);
    *reply = json_pack ("{s:s}", "result", restart ? "restarting" : "shutting down");
    self->after_reply = restart ? 2 : 1;
    return true;
}

//  causewayd's own commands, declared once as data like an actor's
//  (cw_actor.h). A handler gets the table's spelling of the name, sets
//  *REPLY and returns whether it succeeded. Any other name is an actor's.
typedef bool (s_local_fn) (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply);
static const struct {
    const char *name;
    s_local_fn *handler;
    unsigned flags;
    const char *summary;
} s_local_commands [] = {
    { "status", s_cmd_status, CW_CMD_IDEMPOTENT, "the node, causewayd's version and uptime, and every actor" },
    { "actors.list", s_cmd_actors_list, CW_CMD_IDEMPOTENT, "every actor: pid, state, restarts, since, standby" },
    { "actors.start", s_cmd_actors_verb, 0, "start actor {name} (a stopped or failed one)" },
    { "actors.stop", s_cmd_actors_verb, 0, "stop actor {name} and keep it stopped" },
    { "actors.restart", s_cmd_actors_verb, 0, "stop actor {name} and start it again" },
    { "control.clients", s_cmd_control_clients, CW_CMD_IDEMPOTENT,
      "the control clients connected now, by the name their requests carry (\"@control:<id>\")" },
    { "commands.routes", s_cmd_commands_routes, CW_CMD_IDEMPOTENT,
      "which actor serves each command (\"\" for causewayd's own), as the actors declared them" },
    { "shutdown", s_cmd_shutdown, 0, "stop every actor and exit" },
    { "restart", s_cmd_shutdown, 0, "stop every actor and exec causewayd again" },
    { NULL, NULL, 0, NULL }
};

static bool
s_cmd_commands_routes (cw_supervisor_t *self, const char *command, json_t *args, json_t **reply)
{
    (void) command;
    (void) args;
    const char *local [sizeof s_local_commands / sizeof *s_local_commands];
    size_t count = 0;
    for (; s_local_commands [count].name; count++)
        local [count] = s_local_commands [count].name;
    local [count] = NULL;
    *reply = cw_ctl_routes (self->ctl, local);
    return true;
}

static bool
s_local (cw_supervisor_t *self, const char *command, json_t *args, bool *ok, json_t **reply)
{
    for (int i = 0; s_local_commands [i].name; i++)
        if (strcasecmp (s_local_commands [i].name, command) == 0) {
            *ok = s_local_commands [i].handler (self, s_local_commands [i].name, args, reply);
            return true;
        }
    return false;
}

// ---------------------------------------------------------------------------
//  Hooks for the control server

static bool
s_ctl_local (void *arg, const char *command, json_t *args, bool *ok, json_t **reply)
{
    return s_local ((cw_supervisor_t *) arg, command, args, ok, reply);
}

static void
s_ctl_after_reply (void *arg)
{
    cw_supervisor_t *self = arg;
    if (self->after_reply)
        zloop_timer (self->loop, 1, 1, s_on_after_reply, self);
}

static bool
s_ctl_relay (void *arg, const char *actor, uint64_t corr, const char *command, const char *body)
{
    cw_supervisor_t *self = arg;
    bool ready = cw_broker_is_ready (self->broker, actor);
    const char *client = cw_ctl_request_client (self->ctl, corr);
    cw_broker_deliver (self->broker, CW_MSG_REQUEST, corr, client ? client : CW_CTL_CLIENT, actor, command, body);
    return ready;
}

//  A control client left: what it holds in actors (leases ...) is theirs
//  to free.
static void
s_ctl_client_closed (void *arg, const char *client)
{
    cw_supervisor_t *self = arg;
    cw_broker_publish (self->broker, "control.client.closed", json_pack ("{s:s}", "client", client), NULL);
}

// ---------------------------------------------------------------------------
//  Hooks for the broker

static const char *
s_br_actor_state (void *arg, const char *name)
{
    cw_child_t *child = s_child ((cw_supervisor_t *) arg, name);
    return child ? cw_child_state_name (child->state) : NULL;
}

static bool
s_br_actor_pending (void *arg, const char *name)
{
    cw_supervisor_t *self = arg;
    cw_child_t *child = s_child (self, name);
    if (!child || child->removed || self->stopping)
        return false;
    switch (child->state) {
        case CW_CHILD_STARTING:
        case CW_CHILD_RUNNING:
        case CW_CHILD_BACKOFF:
            return true;
        case CW_CHILD_STOPPING:
            return child->restart_after_stop;
        case CW_CHILD_STOPPED:
            return !child->launched;    //  the startup sequence will start it
        default:
            return false;
    }
}

static void
s_br_on_ready (void *arg, const char *name, const char *body)
{
    cw_supervisor_t *self = arg;
    cw_child_t *child = s_child (self, name);
    if (!child) {
        cw_warn ("READY from an unknown actor ignored name=%s", name);
        return;
    }
    //  A READY queued by a process that is already gone must not count
    json_t *json = body && *body ? json_loads (body, 0, NULL) : NULL;
    json_t *pid = json ? json_object_get (json, "pid") : NULL;
    if (pid && json_is_integer (pid) && json_integer_value (pid) != child->pid) {
        cw_warn ("stale READY ignored name=%s pid=%lld current_pid=%d", name, (long long) json_integer_value (pid),
                 (int) child->pid);
        json_decref (json);
        return;
    }
    //  The commands it serves: the routes of control requests (the last
    //  READY wins; kept while the actor restarts)
    if (cw_ctl_declare (self->ctl, name, json ? json_object_get (json, "commands") : NULL))
        cw_warn ("cannot record the commands of an actor name=%s", name);
    cw_broker_actor_wants (self->broker, name, json ? json_object_get (json, "data") : NULL);
    json_decref (json);
    s_event (self, child, CW_EV_READY);
}

static void
s_br_on_alive (void *arg, const char *name)
{
    cw_child_t *child = s_child ((cw_supervisor_t *) arg, name);
    if (child)
        child->last_seen_mono = zclock_mono ();
}

//  A REQUEST to the supervisor from an actor: the same commands as control.
static void
s_br_on_request (void *arg, const cw_envelope_t *env)
{
    cw_supervisor_t *self = arg;
    json_error_t error;
    json_t *args = *env->body ? json_loads (env->body, 0, &error) : json_object ();
    bool ok = false;
    json_t *reply = NULL;
    if (!args || !json_is_object (args))
        reply = s_error ("arguments must be a JSON object");
    else if (!s_local (self, env->command, args, &ok, &reply))
        reply = s_error ("unknown command '%s'", env->command);
    json_decref (args);
    char *text = reply ? json_dumps (reply, JSON_COMPACT) : NULL;
    json_decref (reply);
    cw_broker_deliver (self->broker, CW_MSG_REPLY, env->corr, "", env->from, ok ? "ok" : "error", text ? text : "{}");
    free (text);
    if (self->after_reply)
        zloop_timer (self->loop, 1, 1, s_on_after_reply, self);
}

static void
s_br_on_reply (void *arg, const cw_envelope_t *env)
{
    cw_supervisor_t *self = arg;
    if (cw_ctl_is_client (env->to))
        cw_ctl_on_reply (self->ctl, env);
    else if (!cw_outbox_on_reply (self->outbox, env->corr, strcmp (env->command, "ok") == 0, env->from, env->body))
        cw_debug ("reply for nobody dropped to=%s corr=%llu", env->to, (unsigned long long) env->corr);
}

//  Actor NAME reports a problem with its state ({"problem": TEXT}; ""
//  when it is gone). Shown in status and STATUS= until the actor clears it
//  or a new instance of it starts.
static void
s_actor_problem (cw_supervisor_t *self, const char *name, const char *body)
{
    if (!s_child (self, name))
        return;
    json_t *json = json_loads (body, 0, NULL);
    const char *text = json_string_value (json_object_get (json, "problem"));
    if (text && *text) {
        cw_error ("actor reports a problem name=%s problem=\"%s\"", name, text);
        json_object_set_new (self->problems, name, json_string (text));
    }
    else if (json_object_get (self->problems, name)) {
        cw_info ("actor problem gone name=%s", name);
        json_object_del (self->problems, name);
    }
    json_decref (json);
    s_systemd_status (self);
}

static void
s_br_on_state (void *arg, const char *topic, const char *body)
{
    cw_supervisor_t *self = arg;
    if (strcmp (topic, "cluster.summary") == 0) {
        json_t *summary = json_loads (body, 0, NULL);
        if (json_is_object (summary)) {
            json_decref (self->cluster_summary);
            self->cluster_summary = summary;
        }
        else
            json_decref (summary);
        return;
    }
    if (strncmp (topic, "actor.problem.", 14) == 0) {
        s_actor_problem (self, topic + 14, body);
        return;
    }
    if (strcmp (topic, "config.changed.system.name") != 0)
        return;
    json_t *json = json_loads (body, 0, NULL);
    const char *value = json_string_value (json_object_get (json, "value"));
    if (value)
        snprintf (self->system_name, sizeof self->system_name, "%s", value);
    json_decref (json);
}

// ---------------------------------------------------------------------------
//  Construction

//  One causewayd per runtime_dir: an flock on <runtime_dir>/causewayd.lock.
static int
s_lock (cw_supervisor_t *self, char *err, size_t errlen)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/causewayd.lock", self->boot->node.runtime_dir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->lock_fd < 0) {
        snprintf (err, errlen, "cannot open lock file %s: %s", path, strerror (errno));
        return -1;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB)) {
        char text [32] = "";
        ssize_t size = pread (self->lock_fd, text, sizeof text - 1, 0);
        text [size > 0 ? size : 0] = 0;
        text [strcspn (text, "\n")] = 0;
        snprintf (err, errlen, "another causewayd (pid %s) already serves %s (lock %s held)", *text ? text : "?",
                  self->boot->control.endpoint, path);
        close (self->lock_fd);
        self->lock_fd = -1;
        return -1;
    }
    char text [32];
    int length = snprintf (text, sizeof text, "%d\n", (int) getpid ());
    if (ftruncate (self->lock_fd, 0) || pwrite (self->lock_fd, text, (size_t) length, 0) != length)
        cw_warn ("cannot write lock file path=%s", path);
    return 0;
}

cw_supervisor_t *
cw_supervisor_new (const char *config_file, char *err, size_t errlen)
{
    cw_supervisor_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->signal_fd = -1;
    self->lock_fd = -1;
    self->started_mono = zclock_mono ();
    self->problems = json_object ();
    snprintf (self->config_file, sizeof self->config_file, "%s", config_file);
    self->boot = cw_bootstrap_load (config_file, err, errlen, NULL, NULL);
    if (!self->boot)
        goto failed;
    snprintf (self->config_file, sizeof self->config_file, "%s", self->boot->file);
    int level = cw_log_level_parse (self->boot->node.log_level);
    cw_log_init ("causewayd", level >= 0 ? (cw_log_level_t) level : CW_LOG_INFO);
    s_exe_dir (self->exe_dir, sizeof self->exe_dir);

    if (s_make_dirs (self->boot->node.runtime_dir, err, errlen) || s_make_dirs (self->boot->node.state_dir, err, errlen)
        || s_lock (self, err, errlen))
        goto failed;

    self->envp = s_build_envp (self->boot);
    if (!self->envp) {
        snprintf (err, errlen, "out of memory");
        goto failed;
    }
    self->ctx.on_change = s_on_change;
    self->ctx.send_term = s_send_term;
    self->ctx.standby_retired = s_standby_retired;
    self->ctx.arg = self;
    s_apply_settings (self);

    self->loop = zloop_new ();
    if (!self->loop) {
        snprintf (err, errlen, "cannot create the event loop");
        goto failed;
    }
    zloop_set_nonstop (self->loop, true);

    cw_broker_hooks_t broker_hooks = { .actor_state = s_br_actor_state,
                                       .actor_pending = s_br_actor_pending,
                                       .on_ready = s_br_on_ready,
                                       .on_alive = s_br_on_alive,
                                       .on_request = s_br_on_request,
                                       .on_reply = s_br_on_reply,
                                       .on_state = s_br_on_state,
                                       .arg = self };
    self->broker = cw_broker_new (self->boot->control.broker_endpoint, self->loop, &broker_hooks, err, errlen);
    if (!self->broker)
        goto failed;
    cw_broker_set_request_timeout (self->broker, self->boot->supervisor.request_timeout_ms);
    self->outbox = cw_outbox_new (self->broker);
    cw_ctl_hooks_t ctl_hooks = { .local = s_ctl_local,
                                 .after_reply = s_ctl_after_reply,
                                 .relay = s_ctl_relay,
                                 .client_closed = s_ctl_client_closed,
                                 .arg = self };
    self->ctl = cw_ctl_new (self->boot, self->loop, &ctl_hooks, err, errlen);
    if (!self->ctl || !self->outbox)
        goto failed;

    for (int i = 0; i < self->boot->actor_count; i++) {
        cw_child_t *child = cw_child_new (&self->boot->actors [i], self->exe_dir);
        if (!child) {
            snprintf (err, errlen, "out of memory");
            goto failed;
        }
        self->children [self->child_count++] = child;
    }

    //  Signals were blocked by main before any thread existed
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGCHLD);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    self->signal_fd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->signal_fd < 0) {
        snprintf (err, errlen, "signalfd: %s", strerror (errno));
        goto failed;
    }
    zmq_pollitem_t item = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &item, s_on_signal, self);
    self->tick_timer = zloop_timer (self->loop, (size_t) self->tick_ms, 0, s_on_tick, self);
    uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled (0, &watchdog_usec) > 0 && watchdog_usec >= 2000) {
        self->watchdog_timer = zloop_timer (self->loop, (size_t) (watchdog_usec / 2000), 0, s_on_watchdog, self);
        cw_info ("systemd watchdog interval_ms=%llu", (unsigned long long) (watchdog_usec / 1000));
    }
    return self;

failed:
    cw_supervisor_destroy (&self);
    return NULL;
}

void
cw_supervisor_destroy (cw_supervisor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_supervisor_t *self = *self_p;
    //  Never leave a process behind, whatever path led here
    for (int i = 0; i < self->child_count; i++) {
        cw_child_t *child = self->children [i];
        if (child->pid > 0) {
            kill (child->pid, SIGKILL);
            waitpid (child->pid, NULL, 0);
        }
        if (child->standby_pid > 0) {
            kill (child->standby_pid, SIGKILL);
            waitpid (child->standby_pid, NULL, 0);
        }
        cw_child_destroy (&child);
    }
    for (int i = 0; i < self->retired_count; i++) {
        kill (self->retired [i].pid, SIGKILL);
        waitpid (self->retired [i].pid, NULL, 0);
    }
    json_decref (self->cluster_summary);
    json_decref (self->problems);
    cw_ctl_destroy (&self->ctl);
    cw_outbox_destroy (&self->outbox);
    cw_broker_destroy (&self->broker);
    zloop_destroy (&self->loop);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    s_free_envp (self->envp);
    cw_bootstrap_destroy (&self->boot);
    free (self);
    *self_p = NULL;
}

int
cw_supervisor_run (cw_supervisor_t *self)
{
    cw_info ("causewayd starting version=%s pid=%d node=%s config=%s actors=%d", CW_VERSION, (int) getpid (),
             self->boot->node.name, self->boot->file, self->child_count);
    s_progress (self);
    zloop_start (self->loop);
    if (!self->finished) {
        //  The loop ended without an orderly stop (should not happen)
        cw_error ("event loop ended unexpectedly; stopping actors");
        self->ctx.no_restart = true;
    }
    cw_info ("causewayd stopped%s", self->wants_exec ? "; restarting" : "");
    return 0;
}

bool
cw_supervisor_wants_exec (cw_supervisor_t *self)
{
    return self->wants_exec;
}
