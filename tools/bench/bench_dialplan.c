/*  bench_dialplan.c - the dial plan's share of the search latency
    (actors/routing/dialplan.c): 100 transforms and 1,000 search rules in
    memory, then per search the transforms and the walk of the rules'
    groups, as the proxy runs them for an INVITE.

    The rules: a quarter each prefix, suffix, regex with a literal start
    ("4012[0-9]*") and regex without one (".*@r3.example.com"), priorities
    1..500 (two rules per priority), every source kind; the transforms
    prefix, suffix and regex. Three cases, each timed per search:
      - miss: no transform and no rule matches, every rule is looked at;
      - last: the rule that matches is the last one;
      - locate: as miss, with the steps recorded (JSON), as `locate` does.

    Prints median / p99 / max per search in microseconds.
    Usage: bench_dialplan [SEARCHES]   (default 20000)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dialplan.h"

static double
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static void
s_report (const char *what, double *samples, int count)
{
    qsort (samples, (size_t) count, sizeof *samples, s_cmp);
    int p99 = (int) (count * 0.99);
    printf ("%-40s n=%d median=%.1f us p99=%.1f us max=%.1f us (target p99 <= 1000 us)\n", what, count,
            samples [count / 2], samples [p99 < count ? p99 : count - 1], samples [count - 1]);
}

static bool
s_group (const cw_dialplan_target_t *targets, size_t count, void *arg)
{
    (void) targets;
    size_t *seen = (size_t *) arg;
    *seen += count;
    return false;
}

static void
s_add (cw_dialplan_t *plan, bool search, json_t *rule)
{
    const char *name = json_string_value (json_object_get (rule, "name"));
    json_t *normalized = NULL;
    char err [256];
    int rc = search ? cw_dialplan_check_search_rule (rule, &normalized, err, sizeof err)
                    : cw_dialplan_check_transform (rule, &normalized, err, sizeof err);
    if (rc != 0
        || (search ? cw_dialplan_set_search_rule (plan, name, normalized)
                   : cw_dialplan_set_transform (plan, name, normalized))) {
        fprintf (stderr, "bench_dialplan: rule %s refused: %s\n", name, err);
        exit (1);
    }
    json_decref (normalized);
    json_decref (rule);
}

int
main (int argc, char **argv)
{
    int searches = argc > 1 ? atoi (argv [1]) : 20000;
    if (searches < 100)
        searches = 100;
    cw_dialplan_t *plan = cw_dialplan_new ();
    static const char *const sources [] = { "any", "registered", "authenticated", "zone:east" };
    for (int i = 1; i <= 1000; i++) {
        char name [32], pattern [64], target [32];
        const char *type = "prefix";
        snprintf (name, sizeof name, "rule-%04d", i);
        snprintf (target, sizeof target, i % 3 ? "zone%d" : "local", i % 7);
        switch (i % 4) {
            case 0:
                snprintf (pattern, sizeof pattern, "4%03d", i);
                break;
            case 1:
                type = "suffix";
                snprintf (pattern, sizeof pattern, "@s%d.example.com", i);
                break;
            case 2:
                type = "regex";
                snprintf (pattern, sizeof pattern, "4%03d[0-9]*", i);
                break;
            default:
                type = "regex";
                snprintf (pattern, sizeof pattern, ".*@r%d\\.example\\.com", i);
        }
        s_add (plan, true,
               json_pack ("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name, "priority",
                          1 + (i - 1) / 2, "source", sources [i % 4], "mode", "pattern_match", "pattern_type", type,
                          "pattern", pattern, "behaviour", i % 4 == 1 ? "strip" : "leave", "on_match", "continue",
                          "target", target, "state", "on"));
    }
    for (int i = 1; i <= 100; i++) {
        char name [32], pattern [64];
        const char *type = i % 3 == 0 ? "prefix" : i % 3 == 1 ? "suffix" : "regex";
        snprintf (name, sizeof name, "transform-%03d", i);
        if (i % 3 == 0)
            snprintf (pattern, sizeof pattern, "9%03d", i);
        else if (i % 3 == 1)
            snprintf (pattern, sizeof pattern, "@t%d.example.com", i);
        else
            snprintf (pattern, sizeof pattern, "([0-9]+)@x%d\\.example\\.com", i);
        s_add (plan, false,
               json_pack ("{s:s, s:i, s:s, s:s, s:s}", "name", name, "priority", i, "pattern_type", type, "pattern",
                          pattern, "replace", i % 3 == 2 ? "\\1@example.com" : "x"));
    }
    printf ("dial plan: %zu transforms, %zu search rules\n", cw_dialplan_transform_count (plan),
            cw_dialplan_search_rule_count (plan));

    const char *aliases [3] = { "alice@example.com", "bob@r999.example.com", "alice@example.com" };
    const char *names [3] = { "miss: transforms + 1,000 rules", "last: transforms + 1,000 rules",
                              "locate: miss with the steps (JSON)" };
    cw_dialplan_source_t source = { "east", true, true };
    double *samples = malloc (sizeof (double) * (size_t) searches);
    for (int c = 0; c < 3; c++) {
        size_t seen = 0;
        for (int n = 0; n < searches; n++) {
            char out [CW_DIALPLAN_ALIAS_MAX], transform [64], last [64];
            json_t *steps = c == 2 ? json_array () : NULL;
            double start = s_now_us ();
            cw_dialplan_transform (plan, aliases [c], out, sizeof out, transform, sizeof transform, steps);
            cw_dialplan_search (plan, out, &source, s_group, &seen, steps, last, sizeof last);
            samples [n] = s_now_us () - start;
            if (steps) {
                if (json_array_size (steps) != 1100) {
                    fprintf (stderr, "bench_dialplan: %zu steps, not 1100\n", json_array_size (steps));
                    return 1;
                }
                json_decref (steps);
            }
        }
        if ((c == 1) != (seen == (size_t) searches)) {
            fprintf (stderr, "bench_dialplan: %s: %zu targets offered in %d searches\n", names [c], seen, searches);
            return 1;
        }
        s_report (names [c], samples, searches);
    }
    free (samples);
    cw_dialplan_destroy (&plan);
    return 0;
}
