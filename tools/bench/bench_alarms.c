/*  bench_alarms.c - alarm raise -> subscriber latency and alarm events/s
    delivered to 10 subscribers, against a running node.

        bench_alarms --config FILE [--endpoint EP] [--alarm-endpoint EP]
                     [--subscribers 10] [--latency 2000] [--events 50000]
                     [--window 500]

    Ten SUB sockets (subscribed to "alarm.", served by one receiving thread
    that polls them all) connect to the
    alarm PUB endpoint (first alarms.publish of the bootstrap file); a
    DEALER control client sends alarms.raise / alarms.clear of operator id
    99000/99001 with a sequence number in the detail ("bench N").
    (a) latency: one raise at a time (each followed by an untimed clear);
        per subscriber, time from sending the raise to receiving
        alarm.raised.99000 with that sequence number; p50/p99/max over all
        subscribers and events.
    (b) throughput: EVENTS requests (raise and clear of 500 subjects in
        turn, WINDOW in flight); every request publishes one event; the rate
        is EVENTS / (time from the first send until every subscriber has
        received all EVENTS).
    It leaves no alarm of its own raised. Targets: p99 <= 2 ms,
    >= 20,000 events/s to 10 subscribers.
*/

#include "cw_bootstrap.h"
#include "cw_log.h"

#include <czmq.h>
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>

#define LAT_ID 99000
#define TPUT_ID 99001
#define SUBJECTS 500

typedef struct {
    int latency_count;
    int64_t *recv_us;        //  [latency_count + 1]: receive time of raise N
    atomic_long count;       //  alarm.* messages received
    atomic_long last_seq;    //  highest latency sequence seen
} s_sub_t;

typedef struct {
    const char *endpoint;
    s_sub_t *subs;
    int nsubs;
} s_receiver_t;

static atomic_bool s_stop;

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Handle one message (TOPIC + BODY) received by subscriber SELF at NOW.
static void
s_received (s_sub_t *self, const char *topic, const char *body, int64_t now)
{
    atomic_fetch_add (&self->count, 1);
    if (strcmp (topic, "alarm.raised.99000") == 0) {
        const char *mark = strstr (body, "\"detail\":\"bench ");
        if (mark) {
            long seq = strtol (mark + 16, NULL, 10);
            if (seq > 0 && seq <= self->latency_count && !self->recv_us [seq]) {
                self->recv_us [seq] = now;
                atomic_store (&self->last_seq, seq);
            }
        }
    }
}

//  One thread serves every SUB socket: poll, then drain each without
//  blocking (ten threads would spend more on wake-ups than on the work).
static void *
s_receiver (void *arg)
{
    s_receiver_t *self = (s_receiver_t *) arg;
    zsock_t *socks [64];
    zmq_pollitem_t items [64];
    for (int i = 0; i < self->nsubs; i++) {
        socks [i] = zsock_new (ZMQ_SUB);
        zsock_set_rcvhwm (socks [i], 0);
        zsock_set_subscribe (socks [i], "alarm.");
        if (zsock_connect (socks [i], "%s", self->endpoint) != 0)
            fprintf (stderr, "bench_alarms: cannot connect to %s\n", self->endpoint);
        items [i] = (zmq_pollitem_t){ zsock_resolve (socks [i]), 0, ZMQ_POLLIN, 0 };
    }
    char topic [64];
    char body [8192];
    while (!atomic_load (&s_stop)) {
        if (zmq_poll (items, self->nsubs, 100) <= 0)
            continue;
        for (int i = 0; i < self->nsubs; i++) {
            if (!(items [i].revents & ZMQ_POLLIN))
                continue;
            for (;;) {
                int tsize = zmq_recv (items [i].socket, topic, sizeof topic - 1, ZMQ_DONTWAIT);
                if (tsize < 0)
                    break;
                int64_t now = s_now_us ();
                int bsize = zmq_recv (items [i].socket, body, sizeof body - 1, 0);
                if (bsize < 0)
                    break;
                topic [tsize < (int) sizeof topic - 1 ? tsize : (int) sizeof topic - 1] = 0;
                body [bsize < (int) sizeof body - 1 ? bsize : (int) sizeof body - 1] = 0;
                s_received (&self->subs [i], topic, body, now);
            }
        }
    }
    for (int i = 0; i < self->nsubs; i++)
        zsock_destroy (&socks [i]);
    return NULL;
}

//  ---------------------------------------------------------------------
//  Control client (DEALER, no delimiter: the server accepts both)

static int
s_send (zsock_t *dealer, const char *command, int id, const char *subject, long seq)
{
    char args [160];
    if (strcmp (command, "alarms.raise") == 0)
        snprintf (args, sizeof args, "{\"id\":%d,\"subject\":\"%s\",\"detail\":\"bench %ld\"}", id, subject, seq);
    else
        snprintf (args, sizeof args, "{\"id\":%d,\"subject\":\"%s\"}", id, subject);
    return zstr_sendx (dealer, "CW1", command, args, NULL);
}

//  Receive one reply within TIMEOUT_MS: 1 ok, 0 error (printed), -1 none.
static int
s_recv (zsock_t *dealer, int timeout_ms)
{
    zsock_set_rcvtimeo (dealer, timeout_ms);
    zmsg_t *msg = zmsg_recv (dealer);
    if (!msg)
        return -1;
    char *sig = zmsg_popstr (msg), *status = zmsg_popstr (msg), *body = zmsg_popstr (msg);
    int rc = sig && status && strcmp (status, "ok") == 0;
    if (!rc)
        fprintf (stderr, "bench_alarms: request failed: %s\n", body ? body : "(no body)");
    zstr_free (&sig);
    zstr_free (&status);
    zstr_free (&body);
    zmsg_destroy (&msg);
    return rc;
}

static int
s_call (zsock_t *dealer, const char *command, int id, const char *subject, long seq)
{
    if (s_send (dealer, command, id, subject, seq) != 0)
        return -1;
    return s_recv (dealer, 10000) == 1 ? 0 : -1;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static int64_t
s_pct (int64_t *sorted, size_t n, double p)
{
    if (!n)
        return 0;
    size_t i = (size_t) (p / 100.0 * (double) (n - 1) + 0.5);
    return sorted [i < n ? i : n - 1];
}

static long
s_min_count (s_sub_t *subs, int n)
{
    long min = LONG_MAX;
    for (int i = 0; i < n; i++) {
        long c = atomic_load (&subs [i].count);
        if (c < min)
            min = c;
    }
    return min;
}

int
main (int argc, char **argv)
{
    const char *config = NULL, *endpoint = NULL, *alarm_endpoint = NULL;
    int nsubs = 10, latency = 2000, events = 50000, window = 500;
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' },         { "endpoint", required_argument, NULL, 'e' },
        { "alarm-endpoint", required_argument, NULL, 'a' }, { "subscribers", required_argument, NULL, 's' },
        { "latency", required_argument, NULL, 'l' },        { "events", required_argument, NULL, 'n' },
        { "window", required_argument, NULL, 'w' },         { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "c:e:a:s:l:n:w:", options, NULL)) != -1) {
        switch (opt) {
            case 'c':
                config = optarg;
                break;
            case 'e':
                endpoint = optarg;
                break;
            case 'a':
                alarm_endpoint = optarg;
                break;
            case 's':
                nsubs = atoi (optarg);
                break;
            case 'l':
                latency = atoi (optarg);
                break;
            case 'n':
                events = atoi (optarg);
                break;
            case 'w':
                window = atoi (optarg);
                break;
            default:
                fprintf (stderr, "usage: bench_alarms --config FILE [--endpoint EP] [--alarm-endpoint EP]"
                                 " [--subscribers N] [--latency N] [--events N] [--window N]\n");
                return 2;
        }
    }
    if (nsubs < 1 || nsubs > 64 || latency < 1 || events < 2 || window < 1) {
        fprintf (stderr, "bench_alarms: counts must be positive (at most 64 subscribers)\n");
        return 2;
    }
    cw_log_init ("bench_alarms", CW_LOG_WARN);
    cw_bootstrap_t *boot = NULL;
    if (config) {
        char err [512];
        boot = cw_bootstrap_load (config, err, sizeof err, NULL, NULL);
        if (!boot) {
            fprintf (stderr, "bench_alarms: %s\n", err);
            return 1;
        }
        if (!endpoint)
            endpoint = boot->control.endpoint;
        if (!alarm_endpoint && boot->alarms.publish_count > 0)
            alarm_endpoint = boot->alarms.publish [0];
    }
    if (!endpoint || !alarm_endpoint) {
        fprintf (stderr, "bench_alarms: give --config FILE (or --endpoint and --alarm-endpoint)\n");
        return 2;
    }
    zsys_init ();
    zsys_set_io_threads (1);
    zsys_handler_set (NULL);

    s_sub_t *subs = (s_sub_t *) calloc ((size_t) nsubs, sizeof (s_sub_t));
    for (int i = 0; i < nsubs; i++) {
        subs [i].latency_count = latency;
        subs [i].recv_us = (int64_t *) calloc ((size_t) latency + 1, sizeof (int64_t));
    }
    s_receiver_t receiver = { alarm_endpoint, subs, nsubs };
    pthread_t receiver_thread;
    pthread_create (&receiver_thread, NULL, s_receiver, &receiver);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_set_linger (dealer, 0);
    if (zsock_connect (dealer, "%s", endpoint) != 0) {
        fprintf (stderr, "bench_alarms: cannot connect to %s\n", endpoint);
        return 1;
    }
    int rc = 1;

    //  Sync: raise a marker until every subscriber has seen an alarm message
    int64_t deadline = s_now_us () + 10000000;
    while (s_min_count (subs, nsubs) == 0) {
        if (s_now_us () > deadline || s_call (dealer, "alarms.raise", LAT_ID, "sync", 0) != 0) {
            fprintf (stderr, "bench_alarms: subscribers never saw an alarm (is %s right?)\n", alarm_endpoint);
            goto done;
        }
        zclock_sleep (100);
    }
    if (s_call (dealer, "alarms.clear", LAT_ID, "sync", 0) != 0)
        goto done;
    zclock_sleep (200);
    printf ("bench_alarms: %d subscribers on %s, control %s\n", nsubs, alarm_endpoint, endpoint);

    //  (a) latency, one raise at a time
    int64_t *sent_us = (int64_t *) calloc ((size_t) latency + 1, sizeof (int64_t));
    for (long seq = 1; seq <= latency; seq++) {
        sent_us [seq] = s_now_us ();
        if (s_call (dealer, "alarms.raise", LAT_ID, "lat", seq) != 0)
            goto done;
        int64_t wait_until = s_now_us () + 2000000;
        for (int i = 0; i < nsubs; i++)
            while (atomic_load (&subs [i].last_seq) < seq && s_now_us () < wait_until)
                sched_yield ();
        if (s_call (dealer, "alarms.clear", LAT_ID, "lat", seq) != 0)
            goto done;
    }
    size_t nsamples = 0, lost = 0;
    int64_t *samples = (int64_t *) calloc ((size_t) latency * (size_t) nsubs, sizeof (int64_t));
    for (int i = 0; i < nsubs; i++)
        for (int seq = 1; seq <= latency; seq++)
            if (subs [i].recv_us [seq])
                samples [nsamples++] = subs [i].recv_us [seq] - sent_us [seq];
            else
                lost++;
    qsort (samples, nsamples, sizeof (int64_t), s_cmp);
    printf ("(a) raise -> subscriber latency over %d raises x %d subscribers: "
            "p50 %.3f ms  p99 %.3f ms  max %.3f ms  missing %zu  [target p99 <= 2 ms]\n",
            latency, nsubs, s_pct (samples, nsamples, 50) / 1000.0, s_pct (samples, nsamples, 99) / 1000.0,
            nsamples ? samples [nsamples - 1] / 1000.0 : 0.0, lost);
    free (samples);
    free (sent_us);
    zclock_sleep (200);

    //  (b) throughput, pipelined
    long base [64];
    for (int i = 0; i < nsubs && i < 64; i++)
        base [i] = atomic_load (&subs [i].count);
    int sent = 0, answered = 0, failed = 0;
    int64_t t0 = s_now_us ();
    while (answered < events) {
        while (sent < events && sent - answered < window) {
            char subject [16];
            int k = sent / 2;
            snprintf (subject, sizeof subject, "t%d", k % SUBJECTS);
            s_send (dealer, sent % 2 ? "alarms.clear" : "alarms.raise", TPUT_ID, subject, k + 1);
            sent++;
        }
        int got = s_recv (dealer, 10000);
        if (got < 0) {
            fprintf (stderr, "bench_alarms: no reply for 10 s (%d of %d answered)\n", answered, events);
            goto done;
        }
        if (got == 0)
            failed++;
        answered++;
    }
    int64_t t_replies = s_now_us ();
    deadline = t_replies + 10000000;
    for (;;) {
        bool all = true;
        for (int i = 0; i < nsubs; i++)
            if (atomic_load (&subs [i].count) - base [i] < events)
                all = false;
        if (all || s_now_us () > deadline)
            break;
        sched_yield ();
    }
    int64_t t_end = s_now_us ();
    long delivered = 0;
    for (int i = 0; i < nsubs; i++)
        delivered += atomic_load (&subs [i].count) - base [i];
    double secs = (double) (t_end - t0) / 1e6;
    printf ("(b) %d events (raise/clear, %d in flight) to %d subscribers in %.3f s: "
            "%.0f events/s (%.0f deliveries/s), replies at %.0f req/s, %ld of %ld delivered,"
            " %d failed  [target >= 20000 events/s]\n",
            events, window, nsubs, secs, events / secs, delivered / secs, events / ((double) (t_replies - t0) / 1e6),
            delivered, (long) events * nsubs, failed);
    rc = failed == 0 && delivered == (long) events * nsubs ? 0 : 1;

done:
    //  Leave nothing of ours raised
    zstr_sendx (dealer, "CW1", "alarms.clear", "{\"id\":99000}", NULL);
    zstr_sendx (dealer, "CW1", "alarms.clear", "{\"id\":99001}", NULL);
    s_recv (dealer, 10000);
    s_recv (dealer, 10000);
    atomic_store (&s_stop, true);
    pthread_join (receiver_thread, NULL);
    for (int i = 0; i < nsubs; i++)
        free (subs [i].recv_us);
    free (subs);
    zsock_destroy (&dealer);
    cw_bootstrap_destroy (&boot);
    return rc;
}
