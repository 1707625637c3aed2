/*  bench_common.h - shared helpers for the supervisor benchmarks: option
    parsing (--endpoint EP | --config FILE), a monotonic clock in ms and
    percentile printing. Header-only so each bench stays one executable.
*/
#ifndef CW_BENCH_COMMON_H
#define CW_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cw_bootstrap.h"

static inline double
bench_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static int
bench_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Sort SAMPLES and print median / p99 / max.
static inline void
bench_report (const char *what, double *samples, int count)
{
    if (count <= 0) {
        printf ("%s: no samples\n", what);
        return;
    }
    qsort (samples, (size_t) count, sizeof *samples, bench_cmp_double);
    int p99 = (int) (count * 0.99);
    if (p99 >= count)
        p99 = count - 1;
    printf ("%s: n=%d median=%.3f ms p99=%.3f ms max=%.3f ms min=%.3f ms\n", what, count, samples [count / 2],
            samples [p99], samples [count - 1], samples [0]);
}

//  The control endpoint from --endpoint or the --config file (or the
//  default file). Returns a malloc'd string or NULL (message printed).
static inline char *
bench_endpoint (const char *endpoint, const char *config)
{
    if (endpoint)
        return strdup (endpoint);
    char err [1024];
    cw_bootstrap_t *boot = cw_bootstrap_load (config ? config : CW_DEFAULT_CONFIG, err, sizeof err, NULL, NULL);
    if (!boot) {
        fprintf (stderr, "%s\n", err);
        return NULL;
    }
    char *result = strdup (boot->control.endpoint);
    cw_bootstrap_destroy (&boot);
    return result;
}

#endif
