/*  bench_license.c - license acquire/release speed, from another actor
    through the broker and from a control client.

    As an actor (started by causewayd from an `actors` entry whose path is
    this program; CAUSEWAY_BROKER is set), BENCH_LICENSE_MODE says what to
    do:
      pairs:SECONDS:WINDOW:OUTFILE   wait until license.acquire grants, then
          (1) 20,000 acquires one at a time, each followed by its release:
              the acquire round trip (median, p99);
          (2) SECONDS of acquire+release pairs with WINDOW in flight:
              pairs per second;
          (3) the same, S_BATCH licenses per request ({kind, count} and
              {leases: [...]}): pairs per second;
          write the numbers as JSON to OUTFILE, then idle.
      hold:KIND:N    take N leases of KIND and keep them (the integration
          tests kill this actor and check its leases come back).

    By hand, over the control socket:
      bench_license --control [--endpoint EP | --config FILE]
                    [--seconds S] [--window W]
    prints the acquire round trip (one at a time) and pairs per second with
    W requests in flight on one persistent client (a DEALER: replies come
    back in order, and each says whether it answers an acquire or a
    release, so no correlation is needed).

    Targets: >= 50,000 pairs/s through the broker from an actor, >= 10,000
    pairs/s over the control socket, acquire p99 <= 1 ms.
*/
#include <getopt.h>
#include <jansson.h>
#include <unistd.h>

#include "bench_common.h"
#include "cw_actor.h"
#include "cw_control.h"
#include "cw_log.h"

#define S_LATENCY_SAMPLES 20000
#define S_BATCH 16    //  licenses per request in the batched phase

// ---------------------------------------------------------------------------
//  As an actor

typedef struct {
    cw_actor_t *actor;
    char kind [64];
    int hold;    //  hold mode: leases still to take
    int held;
    //  pairs mode
    double seconds;
    int window;
    char out [1024];
    double *samples;
    int sampled;
    double sent_at;
    double started, ends;
    long pairs;
    int in_flight;
    bool measuring;
    //  the batched phase
    long single_pairs;
    double single_seconds;
    bool batched;
} s_bench_t;

static void s_next_sample (s_bench_t *self);

static void
s_write_result (s_bench_t *self)
{
    double elapsed = (bench_now_ms () - self->started) / 1000.0;
    qsort (self->samples, (size_t) self->sampled, sizeof (double), bench_cmp_double);
    int p99 = (int) (self->sampled * 0.99);
    FILE *file = fopen (self->out, "w");
    if (file) {
        fprintf (file,
                 "{\"pairs\": %ld, \"seconds\": %.3f, \"pairs_per_s\": %.0f, \"window\": %d, "
                 "\"batch\": %d, \"batched_pairs\": %ld, \"batched_seconds\": %.3f, \"batched_pairs_per_s\": %.0f, "
                 "\"acquire_median_ms\": %.4f, \"acquire_p99_ms\": %.4f, \"acquire_max_ms\": %.4f, \"samples\": %d}\n",
                 self->single_pairs, self->single_seconds, self->single_pairs / self->single_seconds, self->window,
                 S_BATCH, self->pairs, elapsed, self->pairs / elapsed, self->samples [self->sampled / 2],
                 self->samples [p99], self->samples [self->sampled - 1], self->sampled);
        fclose (file);
    }
}

static void s_on_pair_release (cw_actor_t *actor, bool ok, json_t *body, void *arg);

static json_t *
s_acquire_args (s_bench_t *self)
{
    json_t *args = json_pack ("{s:s}", "kind", self->kind);
    if (self->batched)
        json_object_set_new (args, "count", json_integer (S_BATCH));
    return args;
}

static void
s_on_pair_acquire (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_bench_t *self = arg;
    json_t *lease = json_object_get (body, "lease");
    json_t *leases = json_object_get (body, "leases");
    if (!ok || !(json_is_string (lease) || json_is_array (leases))) {
        fprintf (stderr, "bench_license: acquire failed\n");
        self->in_flight--;
        return;
    }
    json_t *args = leases ? json_pack ("{s:O}", "leases", leases) : json_pack ("{s:O}", "lease", lease);
    cw_actor_request (actor, "licensing", "license.release", args, s_on_pair_release, self, 10000);
}

static void s_pairs_start (s_bench_t *self);

static void
s_on_pair_release (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_bench_t *self = arg;
    if (ok)
        self->pairs += self->batched ? json_integer_value (json_object_get (body, "count")) : 1;
    if (bench_now_ms () < self->ends)
        cw_actor_request (actor, "licensing", "license.acquire", s_acquire_args (self), s_on_pair_acquire, self, 10000);
    else if (--self->in_flight == 0 && !self->batched) {
        //  then the same with S_BATCH licenses per request
        self->single_pairs = self->pairs;
        self->single_seconds = (bench_now_ms () - self->started) / 1000.0;
        self->pairs = 0;
        self->batched = true;
        s_pairs_start (self);
    }
    else if (self->in_flight == 0)
        s_write_result (self);
}

static void
s_pairs_start (s_bench_t *self)
{
    self->started = bench_now_ms ();
    self->ends = self->started + self->seconds * 1000.0;
    self->in_flight = self->window;
    for (int i = 0; i < self->window; i++)
        cw_actor_request (self->actor, "licensing", "license.acquire", s_acquire_args (self), s_on_pair_acquire, self,
                          10000);
}

static void
s_on_sample_release (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    (void) ok;
    (void) body;
    s_next_sample ((s_bench_t *) arg);
}

static void
s_on_sample_acquire (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_bench_t *self = arg;
    double took = bench_now_ms () - self->sent_at;
    const char *lease = json_string_value (json_object_get (body, "lease"));
    if (!ok || !json_is_true (json_object_get (body, "granted")) || !lease) {
        //  Not granted yet (no key installed): try again shortly
        usleep (100000);
        s_next_sample (self);
        return;
    }
    if (self->measuring)
        self->samples [self->sampled++] = took;
    self->measuring = true;    //  the first grant only tells that keys are in
    cw_actor_request (actor, "licensing", "license.release", json_pack ("{s:s}", "lease", lease), s_on_sample_release,
                      self, 10000);
}

static void
s_next_sample (s_bench_t *self)
{
    if (self->sampled == S_LATENCY_SAMPLES) {
        s_pairs_start (self);
        return;
    }
    self->sent_at = bench_now_ms ();
    cw_actor_request (self->actor, "licensing", "license.acquire", json_pack ("{s:s}", "kind", self->kind),
                      s_on_sample_acquire, self, 10000);
}

static void
s_on_hold (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_bench_t *self = arg;
    if (ok && json_is_true (json_object_get (body, "granted")))
        self->held++;
    else
        usleep (100000);
    if (self->held < self->hold)
        cw_actor_request (actor, "licensing", "license.acquire", json_pack ("{s:s}", "kind", self->kind), s_on_hold,
                          self, 10000);
    else
        cw_info ("holding leases count=%d kind=%s", self->held, self->kind);
}

static int
s_run_actor (int argc, char **argv)
{
    const char *mode = getenv ("BENCH_LICENSE_MODE");
    cw_actor_t *actor = cw_actor_new ("licbench", argc, argv);
    if (!actor)
        return 1;
    s_bench_t bench;
    memset (&bench, 0, sizeof bench);
    bench.actor = actor;
    snprintf (bench.kind, sizeof bench.kind, "rich_media_sessions");
    if (cw_actor_ready (actor) != 0)
        return 1;
    char kind [64];
    if (mode && sscanf (mode, "hold:%63[^:]:%d", kind, &bench.hold) == 2 && bench.hold > 0) {
        snprintf (bench.kind, sizeof bench.kind, "%s", kind);
        cw_actor_request (actor, "licensing", "license.acquire", json_pack ("{s:s}", "kind", bench.kind), s_on_hold,
                          &bench, 10000);
    }
    else if (mode && sscanf (mode, "pairs:%lf:%d:%1023s", &bench.seconds, &bench.window, bench.out) == 3
             && bench.seconds > 0 && bench.window > 0) {
        bench.samples = calloc (S_LATENCY_SAMPLES, sizeof (double));
        s_next_sample (&bench);
    }
    else
        cw_warn ("BENCH_LICENSE_MODE not set or not understood: idle");
    int rc = cw_actor_run (actor);
    free (bench.samples);
    cw_actor_destroy (&actor);
    return rc;
}

// ---------------------------------------------------------------------------
//  Over the control socket

static int
s_send (zsock_t *sock, const char *command, const char *args)
{
    return zsock_send (sock, "sss", CW_CONTROL_SIGNATURE, command, args);
}

static int
s_run_control (const char *endpoint, double seconds, int window)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    if (!sock) {
        fprintf (stderr, "bench_license: cannot connect to %s\n", endpoint);
        return 1;
    }
    zsock_set_rcvtimeo (sock, 10000);
    char acquire [] = "{\"kind\": \"rich_media_sessions\"}";
    //  (1) one at a time
    double *samples = calloc (S_LATENCY_SAMPLES, sizeof (double));
    int count = 0;
    for (int i = 0; i < S_LATENCY_SAMPLES; i++) {
        double start = bench_now_ms ();
        s_send (sock, "license.acquire", acquire);
        char *signature = NULL, *status = NULL, *body = NULL;
        if (zsock_recv (sock, "sss", &signature, &status, &body) != 0) {
            fprintf (stderr, "bench_license: no reply\n");
            return 1;
        }
        samples [count++] = bench_now_ms () - start;
        json_t *reply = json_loads (body, 0, NULL);
        const char *lease = json_string_value (json_object_get (reply, "lease"));
        if (!lease) {
            fprintf (stderr, "bench_license: acquire not granted: %s\n", body);
            return 1;
        }
        char release [128];
        snprintf (release, sizeof release, "{\"lease\": \"%s\"}", lease);
        json_decref (reply);
        zstr_free (&signature);
        zstr_free (&status);
        zstr_free (&body);
        s_send (sock, "license.release", release);
        if (zsock_recv (sock, "sss", &signature, &status, &body) != 0)
            return 1;
        zstr_free (&signature);
        zstr_free (&status);
        zstr_free (&body);
    }
    bench_report ("control: license.acquire round trip (one at a time)", samples, count);
    free (samples);
    //  (2) WINDOW in flight
    for (int i = 0; i < window; i++)
        s_send (sock, "license.acquire", acquire);
    long pairs = 0;
    double started = bench_now_ms (), ends = started + seconds * 1000.0;
    int in_flight = window;
    while (in_flight > 0) {
        char *signature = NULL, *status = NULL, *body = NULL;
        if (zsock_recv (sock, "sss", &signature, &status, &body) != 0) {
            fprintf (stderr, "bench_license: no reply with %d in flight\n", in_flight);
            return 1;
        }
        json_t *reply = json_loads (body, 0, NULL);
        const char *lease = json_string_value (json_object_get (reply, "lease"));
        bool was_release = json_is_true (json_object_get (reply, "released"));
        if (lease && !was_release) {
            char release [128];
            snprintf (release, sizeof release, "{\"lease\": \"%s\"}", lease);
            s_send (sock, "license.release", release);
        }
        else {
            if (was_release)
                pairs++;
            if (bench_now_ms () < ends)
                s_send (sock, "license.acquire", acquire);
            else
                in_flight--;
        }
        json_decref (reply);
        zstr_free (&signature);
        zstr_free (&status);
        zstr_free (&body);
    }
    double elapsed = (bench_now_ms () - started) / 1000.0;
    printf ("control: acquire+release pairs: %ld in %.2f s = %.0f pairs/s (window %d, one client)\n", pairs, elapsed,
            pairs / elapsed, window);
    zsock_destroy (&sock);
    return 0;
}

int
main (int argc, char **argv)
{
    if (getenv ("CAUSEWAY_BROKER") && getenv ("BENCH_LICENSE_MODE"))
        return s_run_actor (argc, argv);
    static const struct option options [] = {
        { "control", no_argument, NULL, 'x' },      { "endpoint", required_argument, NULL, 'e' },
        { "config", required_argument, NULL, 'c' }, { "seconds", required_argument, NULL, 's' },
        { "window", required_argument, NULL, 'w' }, { NULL, 0, NULL, 0 }
    };
    const char *endpoint = NULL, *config = NULL;
    double seconds = 5;
    int window = 64, option;
    bool control = false;
    while ((option = getopt_long (argc, argv, "xe:c:s:w:", options, NULL)) != -1) {
        switch (option) {
            case 'x':
                control = true;
                break;
            case 'e':
                endpoint = optarg;
                break;
            case 'c':
                config = optarg;
                break;
            case 's':
                seconds = atof (optarg);
                break;
            case 'w':
                window = atoi (optarg);
                break;
            default:
                control = false;
                optind = argc + 1;
                break;
        }
    }
    if (!control || seconds <= 0 || window <= 0 || optind > argc) {
        fprintf (stderr, "usage: bench_license --control [--endpoint EP | --config FILE] [--seconds S] [--window W]\n"
                         "       (as an actor: started by causewayd with BENCH_LICENSE_MODE set; see the file)\n");
        return 2;
    }
    cw_log_init ("bench_license", CW_LOG_WARN);
    char *ep = bench_endpoint (endpoint, config);
    if (!ep)
        return 1;
    int rc = s_run_control (ep, seconds, window);
    free (ep);
    return rc;
}
