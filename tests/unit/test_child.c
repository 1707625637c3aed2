/*  test_child.c - the child lifecycle (supervisor/child.c): every cell of
    the states x events table, with real processes.

    The "actors" are small shell scripts in a temporary folder: one that
    sleeps (exec sleep, so its pid is the process that gets the signals),
    one that ignores SIGTERM (for the shutdown timeout), one that exits 0 at
    once, and a path that does not exist (exec fails). A test feeds events
    as the supervisor would: EXIT after it has reaped the process itself
    (waitpid) and stored the status, TIMEOUT and HANG when it decides the
    deadline passed. The change hook records every transition, so each test
    checks the states, the pids, the signals sent, the deadlines and what
    the hook saw.
*/

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"

extern char **environ;

#define HOOK_MAX 64

static char s_dir [64];
static char s_sleeper [128];     //  exec sleep 30
static char s_stubborn [128];    //  ignores SIGTERM, then exec sleep 30
static char s_quitter [128];     //  exit 0 at once
static char s_missing [128];     //  does not exist

typedef struct {
    cw_child_ctx_t ctx;
    cw_child_t *child;
    struct {
        cw_child_state_t old;
        cw_child_state_t now;
    } changes [HOOK_MAX];
    int change_count;
    int terms;    //  send_term calls
} fixture_t;

static void
s_on_change (cw_child_t *child, cw_child_state_t old, void *arg)
{
    fixture_t *self = arg;
    assert_true (self->change_count < HOOK_MAX);
    self->changes [self->change_count].old = old;
    self->changes [self->change_count].now = child->state;
    self->change_count++;
}

static void
s_send_term (cw_child_t *child, void *arg)
{
    (void) child;
    ((fixture_t *) arg)->terms++;
}

static void
s_script (char *path, size_t size, const char *name, const char *body)
{
    snprintf (path, size, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file, "#!/bin/sh\n%s\n", body);
    fclose (file);
    assert_int_equal (chmod (path, 0755), 0);
}

static int
s_group_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cw-test-child-XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    s_script (s_sleeper, sizeof s_sleeper, "sleeper", "exec sleep 30");
    s_script (s_stubborn, sizeof s_stubborn, "stubborn", "trap '' TERM\nexec sleep 30");
    s_script (s_quitter, sizeof s_quitter, "quitter", "exit 0");
    snprintf (s_missing, sizeof s_missing, "%s/missing", s_dir);
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    unlink (s_sleeper);
    unlink (s_stubborn);
    unlink (s_quitter);
    rmdir (s_dir);
    return 0;
}

static fixture_t *
s_fixture (const char *path, cw_restart_t restart, int intensity)
{
    fixture_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    cw_child_spec_t spec = { .name = "tester", .restart = restart, .shutdown_timeout_ms = 3000, .path = (char *) path };
    self->child = cw_child_new (&spec, s_dir);
    assert_non_null (self->child);
    self->ctx.config_file = "/dev/null";
    self->ctx.exe_dir = s_dir;
    self->ctx.envp = environ;
    self->ctx.intensity = intensity;
    self->ctx.period_s = 60;
    self->ctx.on_change = s_on_change;
    self->ctx.send_term = s_send_term;
    self->ctx.arg = self;
    return self;
}

static void
s_fixture_destroy (fixture_t **self_p)
{
    fixture_t *self = *self_p;
    if (self->child->pid > 0) {
        kill (self->child->pid, SIGKILL);
        waitpid (self->child->pid, NULL, 0);
    }
    cw_child_destroy (&self->child);
    free (self);
    *self_p = NULL;
}

static cw_child_state_t
s_event (fixture_t *self, cw_child_event_t event)
{
    return cw_child_event (self->child, &self->ctx, event);
}

//  Wait for the process as the supervisor's reaper does, then EXIT.
static cw_child_state_t
s_reap_exit (fixture_t *self)
{
    int status = 0;
    assert_int_equal (waitpid (self->child->pid, &status, 0), self->child->pid);
    self->child->status = status;
    return s_event (self, CW_EV_EXIT);
}

static cw_child_state_t
s_crash (fixture_t *self)
{
    assert_true (self->child->pid > 0);
    assert_int_equal (kill (self->child->pid, SIGKILL), 0);
    return s_reap_exit (self);
}

static void
s_assert_change (fixture_t *self, int index, cw_child_state_t old, cw_child_state_t now)
{
    assert_true (index < self->change_count);
    assert_int_equal (self->changes [index].old, old);
    assert_int_equal (self->changes [index].now, now);
}

//  Is PID alive (and not a zombie)?
static bool
s_alive (pid_t pid)
{
    return waitpid (pid, NULL, WNOHANG) == 0;
}

static void
s_to_running (fixture_t *self)
{
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    assert_int_equal (s_event (self, CW_EV_READY), CW_CHILD_RUNNING);
}

// ---------------------------------------------------------------------------

static void
test_start_then_ready (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    assert_int_equal (child->state, CW_CHILD_STOPPED);
    assert_false (child->launched);

    int64_t before = zclock_mono ();
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    assert_true (child->pid > 0);
    assert_true (s_alive (child->pid));
    assert_true (child->launched);
    assert_true (child->deadline_mono >= before + CW_CHILD_START_TIMEOUT_MS);
    assert_int_equal (self->change_count, 1);
    s_assert_change (self, 0, CW_CHILD_STOPPED, CW_CHILD_STARTING);

    //  START while starting or running: nothing happens, no change
    pid_t pid = child->pid;
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    assert_int_equal (child->pid, pid);
    assert_int_equal (s_event (self, CW_EV_READY), CW_CHILD_RUNNING);
    assert_true (child->was_ready);
    assert_int_equal (child->deadline_mono, 0);
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_RUNNING);
    assert_int_equal (child->pid, pid);
    assert_int_equal (self->change_count, 2);
    s_assert_change (self, 1, CW_CHILD_STARTING, CW_CHILD_RUNNING);
    assert_int_equal (child->restarts, 0);
    s_fixture_destroy (&self);
}

static void
test_crash_of_a_running_actor_restarts_it_at_once (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    s_to_running (self);
    pid_t old = self->child->pid;
    assert_int_equal (s_crash (self), CW_CHILD_STARTING);
    assert_true (self->child->pid > 0);
    assert_int_not_equal (self->child->pid, old);
    assert_true (s_alive (self->child->pid));
    assert_int_equal (self->child->restarts, 1);
    assert_int_equal (self->child->in_window, 1);
    assert_false (self->child->was_ready);
    s_assert_change (self, self->change_count - 1, CW_CHILD_RUNNING, CW_CHILD_STARTING);
    s_fixture_destroy (&self);
}

static void
test_death_before_ready_backs_off (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 100);
    cw_child_t *child = self->child;
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    int64_t before = zclock_mono ();
    assert_int_equal (s_crash (self), CW_CHILD_BACKOFF);
    assert_int_equal (child->pid, 0);
    assert_int_equal (child->early_failures, 1);
    assert_true (child->deadline_mono >= before + CW_BACKOFF_BASE_MS);
    assert_true (child->deadline_mono <= zclock_mono () + CW_BACKOFF_BASE_MS);
    s_assert_change (self, self->change_count - 1, CW_CHILD_STARTING, CW_CHILD_BACKOFF);

    //  The back-off ends (TIMEOUT): a new process; it dies early again and
    //  waits twice as long
    assert_int_equal (s_event (self, CW_EV_TIMEOUT), CW_CHILD_STARTING);
    assert_true (child->pid > 0);
    before = zclock_mono ();
    assert_int_equal (s_crash (self), CW_CHILD_BACKOFF);
    assert_int_equal (child->early_failures, 2);
    assert_true (child->deadline_mono >= before + 2 * CW_BACKOFF_BASE_MS);
    assert_true (child->deadline_mono <= zclock_mono () + 2 * CW_BACKOFF_BASE_MS);

    //  START during the back-off does not wait for it
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    assert_int_equal (s_event (self, CW_EV_READY), CW_CHILD_RUNNING);
    assert_int_equal (child->early_failures, 0);
    s_fixture_destroy (&self);
}

static void
test_exec_failure_backs_off_without_a_process (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_missing, CW_RESTART_PERMANENT, 100);
    cw_child_t *child = self->child;
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_BACKOFF);
    assert_int_equal (child->pid, 0);
    assert_true (WIFEXITED (child->status) && WEXITSTATUS (child->status) == 127);
    assert_int_equal (self->change_count, 1);
    s_assert_change (self, 0, CW_CHILD_STOPPED, CW_CHILD_BACKOFF);
    //  RESTART in back-off tries at once (and fails again), counting it
    int restarts = child->restarts;
    assert_int_equal (s_event (self, CW_EV_RESTART), CW_CHILD_BACKOFF);
    assert_int_equal (child->restarts, restarts + 2);    //  the operator's and the policy's
    assert_int_equal (child->early_failures, 2);
    //  STOP in back-off: stopped, no deadline left
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPED);
    assert_int_equal (child->deadline_mono, 0);
    s_assert_change (self, self->change_count - 1, CW_CHILD_BACKOFF, CW_CHILD_STOPPED);
    s_fixture_destroy (&self);
}

static void
test_past_the_intensity_the_child_fails (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 2);
    cw_child_t *child = self->child;
    s_to_running (self);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal (s_crash (self), CW_CHILD_STARTING);
        assert_int_equal (child->in_window, i);
        assert_int_equal (s_event (self, CW_EV_READY), CW_CHILD_RUNNING);
    }
    int changes = self->change_count;
    assert_int_equal (s_crash (self), CW_CHILD_FAILED);
    assert_int_equal (child->pid, 0);
    assert_int_equal (child->in_window, 3);
    assert_int_equal (self->change_count, changes + 1);
    s_assert_change (self, changes, CW_CHILD_RUNNING, CW_CHILD_FAILED);

    //  Failed: only START, STOP and RESTART apply
    assert_int_equal (s_event (self, CW_EV_TIMEOUT), CW_CHILD_FAILED);
    assert_int_equal (self->change_count, changes + 1);
    //  START revives it with a fresh history
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    assert_int_equal (child->window.count, 0);
    assert_int_equal (child->in_window, 0);
    s_assert_change (self, self->change_count - 1, CW_CHILD_FAILED, CW_CHILD_STARTING);
    s_fixture_destroy (&self);
}

static void
test_failed_child_stop_and_restart (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 0);
    s_to_running (self);
    assert_int_equal (s_crash (self), CW_CHILD_FAILED);    //  intensity 0
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPED);
    s_assert_change (self, self->change_count - 1, CW_CHILD_FAILED, CW_CHILD_STOPPED);

    s_to_running (self);
    assert_int_equal (s_crash (self), CW_CHILD_FAILED);
    int restarts = self->child->restarts;
    assert_int_equal (s_event (self, CW_EV_RESTART), CW_CHILD_STARTING);
    assert_int_equal (self->child->restarts, restarts + 1);
    assert_true (self->child->pid > 0);
    s_fixture_destroy (&self);
}

static void
test_stop_sends_term_and_waits (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    s_to_running (self);
    int64_t before = zclock_mono ();
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    assert_int_equal (self->terms, 1);
    assert_true (child->deadline_mono >= before + 3000);
    assert_false (child->restart_after_stop);
    //  SIGTERM was sent: sleep dies of it
    int status = 0;
    pid_t pid = child->pid;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGTERM);
    child->status = status;
    assert_int_equal (s_event (self, CW_EV_EXIT), CW_CHILD_STOPPED);
    assert_int_equal (child->pid, 0);
    assert_int_equal (child->restarts, 0);
    s_assert_change (self, self->change_count - 2, CW_CHILD_RUNNING, CW_CHILD_STOPPING);
    s_assert_change (self, self->change_count - 1, CW_CHILD_STOPPING, CW_CHILD_STOPPED);
    //  STOP when stopped: nothing
    int changes = self->change_count;
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPED);
    assert_int_equal (self->change_count, changes);
    assert_int_equal (self->terms, 1);
    s_fixture_destroy (&self);
}

static void
test_restart_stops_then_starts (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    s_to_running (self);
    pid_t old = child->pid;
    assert_int_equal (s_event (self, CW_EV_RESTART), CW_CHILD_STOPPING);
    assert_true (child->restart_after_stop);
    assert_int_equal (self->terms, 1);
    assert_int_equal (s_reap_exit (self), CW_CHILD_STARTING);
    assert_true (child->pid > 0 && child->pid != old);
    assert_int_equal (child->restarts, 1);
    s_assert_change (self, self->change_count - 1, CW_CHILD_STOPPING, CW_CHILD_STARTING);

    //  STOP while starting stops it too; STOPPED + RESTART starts it afresh
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    assert_int_equal (s_reap_exit (self), CW_CHILD_STOPPED);
    assert_int_equal (s_event (self, CW_EV_RESTART), CW_CHILD_STARTING);
    assert_int_equal (child->restarts, 2);
    s_fixture_destroy (&self);
}

static void
test_start_and_stop_while_stopping_change_the_plan (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    s_to_running (self);
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    int changes = self->change_count;
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STOPPING);
    assert_true (child->restart_after_stop);
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    assert_false (child->restart_after_stop);
    assert_int_equal (s_event (self, CW_EV_RESTART), CW_CHILD_STOPPING);
    assert_true (child->restart_after_stop);
    assert_int_equal (self->change_count, changes);    //  no state change
    assert_int_equal (self->terms, 1);                 //  one TERM only
    //  Exit with a restart planned: a new process
    assert_int_equal (s_reap_exit (self), CW_CHILD_STARTING);
    s_fixture_destroy (&self);
}

static void
test_shutdown_timeout_kills (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_stubborn, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    s_to_running (self);
    //  Let the shell set its trap and exec sleep
    zclock_sleep (200);
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    zclock_sleep (100);
    assert_true (s_alive (child->pid));    //  it ignored SIGTERM
    assert_int_equal (s_event (self, CW_EV_TIMEOUT), CW_CHILD_STOPPING);
    assert_true (child->killed);
    assert_int_equal (child->deadline_mono, 0);
    int status = 0;
    pid_t pid = child->pid;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    child->status = status;
    assert_int_equal (s_event (self, CW_EV_EXIT), CW_CHILD_STOPPED);
    s_fixture_destroy (&self);
}

static void
test_hang_and_ready_timeout_kill (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    cw_child_t *child = self->child;
    //  Running and silent: HANG kills it; the exit restarts it at once
    s_to_running (self);
    int changes = self->change_count;
    assert_int_equal (s_event (self, CW_EV_HANG), CW_CHILD_RUNNING);
    assert_true (child->killed);
    assert_int_equal (self->change_count, changes);
    int status = 0;
    pid_t pid = child->pid;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
    child->status = status;
    assert_int_equal (s_event (self, CW_EV_EXIT), CW_CHILD_STARTING);
    assert_false (child->killed);    //  a new incarnation

    //  No READY in time: TIMEOUT kills it; that exit backs off
    assert_int_equal (s_event (self, CW_EV_TIMEOUT), CW_CHILD_STARTING);
    assert_true (child->killed);
    assert_int_equal (s_reap_exit (self), CW_CHILD_BACKOFF);
    s_fixture_destroy (&self);
}

static void
test_restart_types (void **state)
{
    (void) state;
    //  transient: a clean exit stays stopped, a crash is restarted
    fixture_t *self = s_fixture (s_quitter, CW_RESTART_TRANSIENT, 5);
    s_to_running (self);
    assert_int_equal (s_reap_exit (self), CW_CHILD_STOPPED);
    assert_int_equal (self->child->restarts, 0);
    s_fixture_destroy (&self);

    self = s_fixture (s_sleeper, CW_RESTART_TRANSIENT, 5);
    s_to_running (self);
    assert_int_equal (s_crash (self), CW_CHILD_STARTING);
    s_fixture_destroy (&self);

    //  temporary: never restarted
    self = s_fixture (s_sleeper, CW_RESTART_TEMPORARY, 5);
    s_to_running (self);
    assert_int_equal (s_crash (self), CW_CHILD_STOPPED);
    s_fixture_destroy (&self);

    //  permanent, but the supervisor is shutting down: not restarted
    self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 5);
    s_to_running (self);
    self->ctx.no_restart = true;
    assert_int_equal (s_crash (self), CW_CHILD_STOPPED);
    s_fixture_destroy (&self);
}

//  Every empty cell of the table: the state, the pid and the deadline stay,
//  and the change hook is not called.
static void
s_assert_ignored (fixture_t *self, cw_child_event_t event)
{
    cw_child_state_t state = self->child->state;
    pid_t pid = self->child->pid;
    int64_t deadline = self->child->deadline_mono;
    int changes = self->change_count;
    int terms = self->terms;
    assert_int_equal (s_event (self, event), state);
    assert_int_equal (self->child->state, state);
    assert_int_equal (self->child->pid, pid);
    assert_int_equal (self->child->deadline_mono, deadline);
    assert_int_equal (self->change_count, changes);
    assert_int_equal (self->terms, terms);
    if (pid > 0)
        assert_true (s_alive (pid));
}

static void
test_events_that_do_not_apply_are_ignored (void **state)
{
    (void) state;
    fixture_t *self = s_fixture (s_sleeper, CW_RESTART_PERMANENT, 0);
    //  stopped
    s_assert_ignored (self, CW_EV_READY);
    s_assert_ignored (self, CW_EV_EXIT);
    s_assert_ignored (self, CW_EV_HANG);
    s_assert_ignored (self, CW_EV_TIMEOUT);
    s_assert_ignored (self, CW_EV_COUNT);    //  not an event at all
    //  starting
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_STARTING);
    s_assert_ignored (self, CW_EV_HANG);
    //  running
    assert_int_equal (s_event (self, CW_EV_READY), CW_CHILD_RUNNING);
    s_assert_ignored (self, CW_EV_READY);
    s_assert_ignored (self, CW_EV_TIMEOUT);
    //  stopping
    assert_int_equal (s_event (self, CW_EV_STOP), CW_CHILD_STOPPING);
    s_assert_ignored (self, CW_EV_READY);
    s_assert_ignored (self, CW_EV_HANG);
    assert_int_equal (s_reap_exit (self), CW_CHILD_STOPPED);
    //  failed (intensity 0: the first crash fails it)
    s_to_running (self);
    assert_int_equal (s_crash (self), CW_CHILD_FAILED);
    s_assert_ignored (self, CW_EV_READY);
    s_assert_ignored (self, CW_EV_EXIT);
    s_assert_ignored (self, CW_EV_HANG);
    s_assert_ignored (self, CW_EV_TIMEOUT);
    s_fixture_destroy (&self);

    //  backoff
    self = s_fixture (s_missing, CW_RESTART_PERMANENT, 100);
    assert_int_equal (s_event (self, CW_EV_START), CW_CHILD_BACKOFF);
    s_assert_ignored (self, CW_EV_READY);
    s_assert_ignored (self, CW_EV_EXIT);
    s_assert_ignored (self, CW_EV_HANG);
    s_fixture_destroy (&self);
}

static void
test_names (void **state)
{
    (void) state;
    assert_string_equal (cw_child_state_name (CW_CHILD_BACKOFF), "backoff");
    assert_string_equal (cw_child_state_name (CW_CHILD_FAILED), "failed");
    assert_string_equal (cw_child_state_name (CW_CHILD_STATES), "?");
    assert_string_equal (cw_child_event_name (CW_EV_RESTART), "RESTART");
    assert_string_equal (cw_child_event_name (CW_EV_COUNT), "?");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_start_then_ready),
        cmocka_unit_test (test_crash_of_a_running_actor_restarts_it_at_once),
        cmocka_unit_test (test_death_before_ready_backs_off),
        cmocka_unit_test (test_exec_failure_backs_off_without_a_process),
        cmocka_unit_test (test_past_the_intensity_the_child_fails),
        cmocka_unit_test (test_failed_child_stop_and_restart),
        cmocka_unit_test (test_stop_sends_term_and_waits),
        cmocka_unit_test (test_restart_stops_then_starts),
        cmocka_unit_test (test_start_and_stop_while_stopping_change_the_plan),
        cmocka_unit_test (test_shutdown_timeout_kills),
        cmocka_unit_test (test_hang_and_ready_timeout_kill),
        cmocka_unit_test (test_restart_types),
        cmocka_unit_test (test_events_that_do_not_apply_are_ignored),
        cmocka_unit_test (test_names),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
