/*  restart_policy.h - the pure decisions of the supervisor: restart
    intensity (a sliding window of restart times) and back-off.

    Nothing here forks, sleeps or reads a clock: the caller passes the
    monotonic time in milliseconds, so the unit tests drive every case.

    The window holds the monotonic times of the most recent restarts of one
    child, oldest first. A child may be restarted at most INTENSITY times
    within PERIOD; the restart that would be number INTENSITY + 1 inside the
    window marks the child failed (Erlang/OTP's MaxR/MaxT). A child that
    dies before it ever became READY is restarted after an exponential
    back-off (100 ms, 200 ms, 400 ms ... capped at 5 s); a child that was
    running is restarted at once.
*/
#ifndef CW_RESTART_POLICY_H
#define CW_RESTART_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cw_bootstrap.h"

#define CW_BACKOFF_BASE_MS 100
#define CW_BACKOFF_MAX_MS 5000
#define CW_RESTART_WINDOW_MAX 1001    //  intensity is at most 1000

typedef struct {
    int64_t times [CW_RESTART_WINDOW_MAX];    //  restart times, oldest first
    int count;
} cw_restart_window_t;

typedef enum {
    CW_DECIDE_STOP = 0,       //  do not restart: the child stays stopped
    CW_DECIDE_RESTART_NOW,    //  restart at once (it had been running)
    CW_DECIDE_BACKOFF,        //  restart after *delay_ms (died before READY)
    CW_DECIDE_FAIL            //  past the intensity: mark failed, raise 10001
} cw_decision_t;

//  Forget every recorded restart.
void cw_restart_window_reset (cw_restart_window_t *self);
//  Drop restarts at or before NOW - PERIOD_MS; returns how many remain.
int cw_restart_window_prune (cw_restart_window_t *self, int64_t now, int64_t period_ms);
//  Record a restart at NOW; returns the restarts inside the window
//  (this one included).
int cw_restart_window_record (cw_restart_window_t *self, int64_t now, int64_t period_ms);

//  Back-off before the restart after the N-th consecutive death before
//  READY (N >= 1): 100, 200, 400 ... 5000 ms. 0 for N <= 0.
int64_t cw_backoff_delay_ms (int early_failures);

//  Is an exit abnormal (non-zero status or killed by a signal)? STATUS is
//  a waitpid status.
bool cw_exit_abnormal (int status);

//  What to do after a child exited by itself. RESTART is its restart type,
//  ABNORMAL from cw_exit_abnormal, WAS_READY whether it had sent READY,
//  EARLY_FAILURES the consecutive deaths before READY (this one included).
//  Records the restart in WINDOW unless the answer is STOP; *IN_WINDOW gets
//  the restarts in the window, *DELAY_MS the back-off (0 unless BACKOFF).
cw_decision_t cw_restart_decide (cw_restart_window_t *window, cw_restart_t restart, bool abnormal, bool was_ready,
                                 int early_failures, int intensity, int period_s, int64_t now, int *in_window,
                                 int64_t *delay_ms);

const char *cw_decision_name (cw_decision_t decision);

#endif
