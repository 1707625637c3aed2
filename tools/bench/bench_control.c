/*  bench_control.c - control request round trip: N `status` requests over
    one persistent control client, then causewayd's resident memory.

    bench_control [--endpoint EP | --config FILE] [-n N]

    Prints median / p99 / max of the round trip in ms and VmRSS of
    causewayd (pid from the status reply, read from /proc/<pid>/status).
    Targets: median <= 0.3 ms, RSS <= 8 MiB.
*/
#include <getopt.h>
#include <jansson.h>

#include "bench_common.h"
#include "cw_control.h"
#include "cw_log.h"

static long
s_vmrss_kib (int pid)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    long kib = -1;
    while (fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kib = strtol (line + 6, NULL, 10);
    fclose (file);
    return kib;
}

int
main (int argc, char **argv)
{
    static const struct option options [] = { { "endpoint", required_argument, NULL, 'e' },
                                              { "config", required_argument, NULL, 'c' },
                                              { "count", required_argument, NULL, 'n' },
                                              { NULL, 0, NULL, 0 } };
    const char *endpoint = NULL, *config = NULL;
    int count = 10000, option;
    while ((option = getopt_long (argc, argv, "e:c:n:", options, NULL)) != -1) {
        switch (option) {
            case 'e':
                endpoint = optarg;
                break;
            case 'c':
                config = optarg;
                break;
            case 'n':
                count = atoi (optarg);
                break;
            default:
                fprintf (stderr, "usage: bench_control [--endpoint EP | --config FILE] [-n N]\n");
                return 2;
        }
    }
    cw_log_init ("bench_control", CW_LOG_WARN);
    char *ep = bench_endpoint (endpoint, config);
    if (!ep || count <= 0)
        return 2;
    char err [512];
    cw_control_t *client = cw_control_new (ep, NULL, NULL, 5000, err, sizeof err);
    if (!client) {
        fprintf (stderr, "bench_control: %s\n", err);
        return 3;
    }
    double *samples = calloc ((size_t) count, sizeof *samples);
    int pid = 0, done = 0;
    //  Warm up the connection
    for (int i = 0; i < 100; i++) {
        json_t *reply = NULL;
        if (cw_control_call (client, "status", NULL, &reply, err, sizeof err) != CW_CALL_OK) {
            fprintf (stderr, "bench_control: status failed: %s\n", err);
            return 3;
        }
        pid = (int) json_integer_value (json_object_get (reply, "pid"));
        json_decref (reply);
    }
    for (int i = 0; i < count; i++) {
        json_t *reply = NULL;
        double start = bench_now_ms ();
        cw_call_status_t status = cw_control_call (client, "status", NULL, &reply, err, sizeof err);
        samples [done] = bench_now_ms () - start;
        json_decref (reply);
        if (status != CW_CALL_OK) {
            fprintf (stderr, "bench_control: call %d failed: %s\n", i, err);
            continue;
        }
        done++;
    }
    printf ("endpoint %s\n", ep);
    bench_report ("status round trip", samples, done);
    long kib = s_vmrss_kib (pid);
    if (kib >= 0)
        printf ("causewayd pid=%d VmRSS=%ld KiB (%.2f MiB)\n", pid, kib, kib / 1024.0);
    else
        printf ("causewayd pid=%d VmRSS unknown (no access to /proc/%d/status)\n", pid, pid);
    free (samples);
    free (ep);
    cw_control_destroy (&client);
    return 0;
}
