/*  restart_policy.c - restart intensity window and back-off (see
    restart_policy.h). Pure functions over plain structs: no clock, no
    allocation, no process handling.
*/
#include "restart_policy.h"

#include <string.h>
#include <sys/wait.h>

void
cw_restart_window_reset (cw_restart_window_t *self)
{
    self->count = 0;
}

int
cw_restart_window_prune (cw_restart_window_t *self, int64_t now, int64_t period_ms)
{
    int drop = 0;
    while (drop < self->count && self->times [drop] <= now - period_ms)
        drop++;
    if (drop) {
        memmove (self->times, self->times + drop, (size_t) (self->count - drop) * sizeof self->times [0]);
        self->count -= drop;
    }
    return self->count;
}

int
cw_restart_window_record (cw_restart_window_t *self, int64_t now, int64_t period_ms)
{
    cw_restart_window_prune (self, now, period_ms);
    if (self->count == CW_RESTART_WINDOW_MAX) {
        //  Full: the oldest entry cannot change any decision any more
        memmove (self->times, self->times + 1, (size_t) (self->count - 1) * sizeof self->times [0]);
        self->count--;
    }
    self->times [self->count++] = now;
    return self->count;
}

int64_t
cw_backoff_delay_ms (int early_failures)
{
    if (early_failures <= 0)
        return 0;
    int64_t delay = CW_BACKOFF_BASE_MS;
    for (int i = 1; i < early_failures && delay < CW_BACKOFF_MAX_MS; i++)
        delay *= 2;
    return delay > CW_BACKOFF_MAX_MS ? CW_BACKOFF_MAX_MS : delay;
}

bool
cw_exit_abnormal (int status)
{
    if (WIFEXITED (status))
        return WEXITSTATUS (status) != 0;
    return true;
}

cw_decision_t
cw_restart_decide (cw_restart_window_t *window, cw_restart_t restart, bool abnormal, bool was_ready, int early_failures,
                   int intensity, int period_s, int64_t now, int *in_window, int64_t *delay_ms)
{
    *delay_ms = 0;
    *in_window = window->count;
    if (restart == CW_RESTART_TEMPORARY || (restart == CW_RESTART_TRANSIENT && !abnormal))
        return CW_DECIDE_STOP;
    *in_window = cw_restart_window_record (window, now, (int64_t) period_s * 1000);
    if (*in_window > intensity)
        return CW_DECIDE_FAIL;
    if (!was_ready) {
        *delay_ms = cw_backoff_delay_ms (early_failures);
        return CW_DECIDE_BACKOFF;
    }
    return CW_DECIDE_RESTART_NOW;
}

const char *
cw_decision_name (cw_decision_t decision)
{
    switch (decision) {
        case CW_DECIDE_STOP:
            return "stop";
        case CW_DECIDE_RESTART_NOW:
            return "restart";
        case CW_DECIDE_BACKOFF:
            return "backoff";
        case CW_DECIDE_FAIL:
            return "fail";
    }
    return "?";
}
