/*  test_restart_policy.c - the supervisor's restart decisions as pure
    functions: the sliding intensity window, the back-off sequence and the
    decision after an exit for each restart type.

    The policy lives in supervisor/restart_policy.c, part of the
    supervisor library (cw_supervisor_lib) that this test links.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "restart_policy.h"

#define EXITED(code) ((code) << 8)    //  a waitpid status: exited with CODE
#define KILLED(sig) (sig)             //  a waitpid status: killed by SIG

static void
test_window_counts_only_the_period (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    assert_int_equal (cw_restart_window_record (&window, 1000, 30000), 1);
    assert_int_equal (cw_restart_window_record (&window, 2000, 30000), 2);
    assert_int_equal (cw_restart_window_record (&window, 3000, 30000), 3);
    //  31 s later the first one has left the window, the others not yet
    assert_int_equal (cw_restart_window_prune (&window, 31500, 30000), 2);
    assert_int_equal (cw_restart_window_record (&window, 31500, 30000), 3);
    //  Much later everything is gone but the new one
    assert_int_equal (cw_restart_window_record (&window, 100000, 30000), 1);
}

static void
test_window_boundary_is_exclusive (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    cw_restart_window_record (&window, 0, 1000);
    //  exactly PERIOD later the old restart no longer counts
    assert_int_equal (cw_restart_window_record (&window, 1000, 1000), 1);
    assert_int_equal (cw_restart_window_record (&window, 1999, 1000), 2);
}

static void
test_window_full_keeps_newest (void **state)
{
    (void) state;
    static cw_restart_window_t window;
    window.count = 0;
    for (int i = 0; i < CW_RESTART_WINDOW_MAX + 10; i++)
        cw_restart_window_record (&window, i, 1000000);
    assert_int_equal (window.count, CW_RESTART_WINDOW_MAX);
    assert_int_equal (window.times [window.count - 1], CW_RESTART_WINDOW_MAX + 9);
    assert_int_equal (window.times [0], 10);
    cw_restart_window_reset (&window);
    assert_int_equal (window.count, 0);
}

static void
test_backoff_doubles_and_caps (void **state)
{
    (void) state;
    assert_int_equal (cw_backoff_delay_ms (0), 0);
    assert_int_equal (cw_backoff_delay_ms (1), 100);
    assert_int_equal (cw_backoff_delay_ms (2), 200);
    assert_int_equal (cw_backoff_delay_ms (3), 400);
    assert_int_equal (cw_backoff_delay_ms (6), 3200);
    assert_int_equal (cw_backoff_delay_ms (7), CW_BACKOFF_MAX_MS);
    assert_int_equal (cw_backoff_delay_ms (1000), CW_BACKOFF_MAX_MS);
}

static void
test_exit_abnormal (void **state)
{
    (void) state;
    assert_false (cw_exit_abnormal (EXITED (0)));
    assert_true (cw_exit_abnormal (EXITED (1)));
    assert_true (cw_exit_abnormal (KILLED (SIGKILL)));
    assert_true (cw_exit_abnormal (KILLED (SIGSEGV)));
}

//  A running permanent child: restarted at once, five times in the window;
//  the sixth restart inside 30 s marks it failed.
static void
test_permanent_running_fails_past_intensity (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    int in_window;
    int64_t delay;
    for (int i = 1; i <= 5; i++) {
        cw_decision_t decision = cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 5, 30, i * 1000,
                                                    &in_window, &delay);
        assert_int_equal (decision, CW_DECIDE_RESTART_NOW);
        assert_int_equal (in_window, i);
        assert_int_equal (delay, 0);
    }
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 5, 30, 6000, &in_window, &delay),
                      CW_DECIDE_FAIL);
    assert_int_equal (in_window, 6);
}

//  The same six crashes spread over more than the period never fail.
static void
test_slow_crashes_never_fail (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    int in_window;
    int64_t delay;
    for (int i = 0; i < 50; i++)
        assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 5, 30, (int64_t) i * 7000,
                                             &in_window, &delay),
                          CW_DECIDE_RESTART_NOW);
    assert_true (in_window <= 5);
}

static void
test_early_death_backs_off (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    int in_window;
    int64_t delay;
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, false, 1, 5, 30, 0, &in_window, &delay),
                      CW_DECIDE_BACKOFF);
    assert_int_equal (delay, 100);
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, false, 3, 5, 30, 500, &in_window, &delay),
                      CW_DECIDE_BACKOFF);
    assert_int_equal (delay, 400);
    //  a child that had been ready is restarted at once
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 5, 30, 900, &in_window, &delay),
                      CW_DECIDE_RESTART_NOW);
    assert_int_equal (delay, 0);
}

static void
test_transient_and_temporary (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    int in_window;
    int64_t delay;
    //  transient: a clean exit stays stopped and is not counted
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_TRANSIENT, false, true, 0, 5, 30, 0, &in_window, &delay),
                      CW_DECIDE_STOP);
    assert_int_equal (window.count, 0);
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_TRANSIENT, true, true, 0, 5, 30, 0, &in_window, &delay),
                      CW_DECIDE_RESTART_NOW);
    //  permanent: a clean exit is restarted too
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, false, true, 0, 5, 30, 0, &in_window, &delay),
                      CW_DECIDE_RESTART_NOW);
    //  temporary: never
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_TEMPORARY, true, true, 0, 5, 30, 0, &in_window, &delay),
                      CW_DECIDE_STOP);
    assert_int_equal (window.count, 2);
}

static void
test_intensity_zero_like_one (void **state)
{
    (void) state;
    cw_restart_window_t window = { .count = 0 };
    int in_window;
    int64_t delay;
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 1, 10, 0, &in_window, &delay),
                      CW_DECIDE_RESTART_NOW);
    assert_int_equal (cw_restart_decide (&window, CW_RESTART_PERMANENT, true, true, 0, 1, 10, 5000, &in_window, &delay),
                      CW_DECIDE_FAIL);
    assert_string_equal (cw_decision_name (CW_DECIDE_FAIL), "fail");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_window_counts_only_the_period),
        cmocka_unit_test (test_window_boundary_is_exclusive),
        cmocka_unit_test (test_window_full_keeps_newest),
        cmocka_unit_test (test_backoff_doubles_and_caps),
        cmocka_unit_test (test_exit_abnormal),
        cmocka_unit_test (test_permanent_running_fails_past_intensity),
        cmocka_unit_test (test_slow_crashes_never_fail),
        cmocka_unit_test (test_early_death_backs_off),
        cmocka_unit_test (test_transient_and_temporary),
        cmocka_unit_test (test_intensity_zero_like_one),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
