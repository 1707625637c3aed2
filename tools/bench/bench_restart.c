/*  bench_restart.c - actor restart latency: SIGKILL an actor, then poll
    actors.list over one persistent control client until the actor shows a
    new pid in state `running` (it has sent READY again), polling every
    0.2 ms.

    bench_restart [--endpoint EP | --config FILE] [--actor NAME] [-n 200]
                  [--no-standby-wait]

    Prints median / p99 / max in ms. Targets: median <= 10 ms, p99 <= 30 ms.
    Run it against a node whose supervisor.intensity / period_s allow that
    many restarts (e.g. intensity = 1000; period_s = 1): when the actor
    reaches `failed` the bench starts it again and drops that sample.

    causewayd keeps a warm standby process per actor (actors.list shows
    standby_pid and standby_ready) and promotes it on a restart. Before
    each kill the bench waits (at most 5 s) until the standby is ready, as
    it is when an actor crashes in normal operation; it counts the kills
    served by the standby (the new pid is the former standby_pid) and
    those that found no ready standby. --no-standby-wait kills again as
    soon as the actor runs: a crash loop, where most restarts find the
    next standby still starting (still far cheaper than a fresh exec).
*/
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <unistd.h>

#include "bench_common.h"
#include "cw_control.h"
#include "cw_log.h"

typedef struct {
    int pid;
    int standby_pid;    //  0: none (or an older causewayd)
    bool standby_ready;
    char state [32];
} s_actor_t;

//  NAME's entry in actors.list; returns 0 or -1.
static int
s_actor (cw_control_t *client, const char *name, s_actor_t *out)
{
    json_t *reply = NULL;
    char err [256];
    if (cw_control_call (client, "actors.list", NULL, &reply, err, sizeof err) != CW_CALL_OK) {
        json_decref (reply);
        return -1;
    }
    int rc = -1;
    size_t index;
    json_t *actor;
    json_array_foreach (json_object_get (reply, "actors"), index, actor) {
        if (strcmp (json_string_value (json_object_get (actor, "name")) ?: "", name) == 0) {
            out->pid = (int) json_integer_value (json_object_get (actor, "pid"));
            out->standby_pid = (int) json_integer_value (json_object_get (actor, "standby_pid"));
            out->standby_ready = json_is_true (json_object_get (actor, "standby_ready"));
            snprintf (out->state, sizeof out->state, "%s", json_string_value (json_object_get (actor, "state")) ?: "");
            rc = 0;
        }
    }
    json_decref (reply);
    return rc;
}

int
main (int argc, char **argv)
{
    static const struct option options [] = {
        { "endpoint", required_argument, NULL, 'e' },  { "config", required_argument, NULL, 'c' },
        { "actor", required_argument, NULL, 'a' },     { "count", required_argument, NULL, 'n' },
        { "no-standby-wait", no_argument, NULL, 'W' }, { NULL, 0, NULL, 0 }
    };
    const char *endpoint = NULL, *config = NULL, *name = "tms";
    int count = 200, option;
    bool standby_wait = true;
    while ((option = getopt_long (argc, argv, "e:c:a:n:", options, NULL)) != -1) {
        switch (option) {
            case 'e':
                endpoint = optarg;
                break;
            case 'c':
                config = optarg;
                break;
            case 'a':
                name = optarg;
                break;
            case 'n':
                count = atoi (optarg);
                break;
            case 'W':
                standby_wait = false;
                break;
            default:
                fprintf (stderr, "usage: bench_restart [--endpoint EP | --config FILE] [--actor NAME] "
                                 "[-n N] [--no-standby-wait]\n");
                return 2;
        }
    }
    cw_log_init ("bench_restart", CW_LOG_WARN);
    char *ep = bench_endpoint (endpoint, config);
    if (!ep || count <= 0)
        return 2;
    char err [512];
    cw_control_t *client = cw_control_new (ep, NULL, NULL, 5000, err, sizeof err);
    if (!client) {
        fprintf (stderr, "bench_restart: %s\n", err);
        return 3;
    }
    double *samples = calloc ((size_t) count, sizeof *samples);
    int done = 0, dropped = 0, promoted = 0, cold = 0;
    s_actor_t actor;
    for (int i = 0; i < count; i++) {
        //  Wait until it runs (after a previous `failed` restart, say) and,
        //  unless told not to, until its standby is ready
        double wait_until = bench_now_ms () + 15000;
        double standby_until = bench_now_ms () + 5000;
        while (true) {
            if (s_actor (client, name, &actor)) {
                fprintf (stderr, "bench_restart: no actor named %s\n", name);
                return 1;
            }
            bool running = strcmp (actor.state, "running") == 0;
            if (running && (!standby_wait || actor.standby_ready || bench_now_ms () > standby_until))
                break;
            if (strcmp (actor.state, "failed") == 0 || strcmp (actor.state, "stopped") == 0) {
                json_t *args = json_pack ("{s:s}", "name", name), *reply = NULL;
                cw_control_call (client, "actors.start", args, &reply, err, sizeof err);
                json_decref (args);
                json_decref (reply);
            }
            if (bench_now_ms () > wait_until) {
                fprintf (stderr, "bench_restart: actor %s is not running (state %s)\n", name, actor.state);
                return 1;
            }
            usleep (1000);
        }
        if (actor.pid <= 0) {
            fprintf (stderr, "bench_restart: actor %s has no pid\n", name);
            return 1;
        }
        int pid = actor.pid, standby_pid = actor.standby_pid;
        cold += !actor.standby_ready;
        double start = bench_now_ms ();
        if (kill (pid, SIGKILL)) {
            perror ("kill");
            return 1;
        }
        bool failed = false;
        while (true) {
            if (s_actor (client, name, &actor) == 0) {
                if (actor.pid != pid && strcmp (actor.state, "running") == 0)
                    break;
                if (strcmp (actor.state, "failed") == 0) {
                    failed = true;
                    break;
                }
            }
            //  Poll every 0.2 ms: a tight loop would take a CPU from the
            //  actor being restarted on a 2-core machine
            usleep (200);
            if (bench_now_ms () - start > 15000) {
                fprintf (stderr, "bench_restart: %s did not come back within 15 s\n", name);
                return 1;
            }
        }
        if (failed)
            dropped++;
        else {
            samples [done++] = bench_now_ms () - start;
            promoted += standby_pid > 0 && actor.pid == standby_pid;
        }
    }
    printf ("endpoint %s actor %s kills %d (dropped %d: restart intensity reached)\n", ep, name, count, dropped);
    printf ("standby: %s; restarts served by the standby %d, kills without a ready standby %d\n",
            standby_wait ? "waited for a ready one before each kill (up to 5 s)" : "not waited for", promoted, cold);
    bench_report ("SIGKILL -> running again", samples, done);
    free (samples);
    free (ep);
    cw_control_destroy (&client);
    return 0;
}
