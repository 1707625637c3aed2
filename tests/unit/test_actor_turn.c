/*  test_actor_turn.c - the actor runtime driven from another loop
    (cw_actor_fds, cw_actor_turn, cw_actor_timeout): a ROUTER socket stands
    in for the supervisor's broker, and the test's poll() plays the other
    library's loop, waking only when a descriptor of cw_actor_fds is
    readable or cw_actor_timeout has passed. Requests are answered,
    replies to the actor's own requests (also when the handler sends more
    while the broker's edge is consumed) arrive, heartbeats and request
    timeouts run from turns, $TERM / SIGTERM make a turn return -1
    with the stop handler run once, and a module that stops can have its
    pending requests answered at once (cw_actor_fail_requests). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_actor.h"
#include "cw_text.h"

#define S_BROKER "inproc://test-actor-turn-broker"

static zsock_t *s_broker;
static char s_dir [64];
static char s_conf [128];

typedef struct {
    int stops;
    int replies;
    int timeouts;
    bool last_ok;
} s_seen_t;

static cw_actor_t *
s_actor_new (void)
{
    setenv ("CAUSEWAY_BROKER", S_BROKER, 1);
    setenv ("CAUSEWAY_HEARTBEAT_MS", "50", 1);
    char *argv [] = { "test_actor_turn", "--config", s_conf, "--name", "turner", NULL };
    cw_actor_t *actor = cw_actor_new ("turner", 5, argv);
    assert_non_null (actor);
    return actor;
}

//  The other library's loop: poll the actor's descriptors for at most
//  MS, turning on every wake-up. Returns the last turn's result.
static int
s_loop (cw_actor_t *actor, int ms)
{
    int fds [4];
    int count = cw_actor_fds (actor, fds, 4);
    assert_int_equal (count, 2);
    struct pollfd items [2];
    for (int i = 0; i < count; i++)
        items [i] = (struct pollfd){ fds [i], POLLIN, 0 };
    int64_t end = zclock_mono () + ms;
    int rc = 0;
    while (zclock_mono () < end && rc == 0) {
        int timeout = cw_actor_timeout (actor);
        assert_true (timeout >= 0 && timeout <= 100);
        poll (items, (nfds_t) count, timeout);
        rc = cw_actor_turn (actor);
    }
    return rc;
}

//  Read from the broker side until a message of TYPE arrives (ms budget);
//  fills ENV (caller clears) and the sender's identity.
static bool
s_broker_expect (cw_actor_t *actor, cw_msg_type_t type, cw_envelope_t *env, int ms)
{
    int64_t end = zclock_mono () + ms;
    while (zclock_mono () < end) {
        zmsg_t *msg = cw_recv_nowait (s_broker);
        if (!msg) {
            if (actor)
                s_loop (actor, 5);
            else
                zclock_sleep (5);
            continue;
        }
        char *identity = zmsg_popstr (msg);
        char err [128];
        int rc = cw_envelope_decode (msg, env, err, sizeof err);
        zmsg_destroy (&msg);
        zstr_free (&identity);
        if (rc == 0 && env->type == type)
            return true;
        if (rc == 0)
            cw_envelope_clear (env);
    }
    return false;
}

static void
s_send_to_actor (cw_msg_type_t type, uint64_t corr, const char *command, const char *body)
{
    zmsg_t *msg = cw_envelope_encode (type, corr, "", "turner", command, body);
    zmsg_pushstr (msg, "turner");
    assert_int_equal (zmsg_send (&msg, s_broker), 0);
}

static cw_reply_status_t
s_echo (cw_actor_t *self, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) self;
    (void) req;
    (void) arg;
    *reply = json_pack ("{s:O}", "echo", json_object_get (args, "text"));
    return CW_REPLY_OK;
}

static void
s_on_reply (cw_actor_t *self, bool ok, json_t *body, void *arg)
{
    (void) self;
    s_seen_t *seen = arg;
    seen->last_ok = ok;
    if (strstr (cw_jtext (body, "error"), "timed out"))
        seen->timeouts++;
    else
        seen->replies++;
}

static void
s_on_stop (cw_actor_t *self, void *arg)
{
    (void) self;
    ((s_seen_t *) arg)->stops++;
}

static const cw_command_t s_commands [] = { { "turner.echo", s_echo, CW_CMD_IDEMPOTENT, "echo" },
                                            { NULL, NULL, 0, NULL } };

static void
test_requests_replies_and_heartbeats (void **state)
{
    (void) state;
    cw_actor_t *actor = s_actor_new ();
    s_seen_t seen = { 0 };
    cw_actor_on_stop (actor, s_on_stop, &seen);
    assert_int_equal (cw_actor_commands (actor, s_commands, NULL), 0);
    assert_int_equal (cw_actor_ready (actor), 0);
    cw_envelope_t env;
    assert_true (s_broker_expect (actor, CW_MSG_READY, &env, 2000));
    cw_envelope_clear (&env);

    //  A request arriving while the actor's loop sleeps wakes it
    s_send_to_actor (CW_MSG_REQUEST, 7, "turner.echo", "{\"text\":\"hello\"}");
    assert_true (s_broker_expect (actor, CW_MSG_REPLY, &env, 2000));
    assert_int_equal (env.corr, 7);
    assert_string_equal (env.command, "ok");
    assert_non_null (strstr (env.body, "hello"));
    cw_envelope_clear (&env);

    //  A burst, the loop woken only by the descriptors (never by a timer):
    //  every request answered, none left waiting behind a consumed edge
    for (int i = 0; i < 200; i++)
        s_send_to_actor (CW_MSG_REQUEST, 100 + i, "turner.echo", "{\"text\":\"x\"}");
    int answered = 0, stalls = 0;
    int fds [4];
    int count = cw_actor_fds (actor, fds, 4);
    struct pollfd items [2] = { { fds [0], POLLIN, 0 }, { fds [1], POLLIN, 0 } };
    int64_t deadline = zclock_mono () + 5000;
    while (answered < 200 && zclock_mono () < deadline) {
        zmsg_t *msg;
        while ((msg = cw_recv_nowait (s_broker))) {
            char *identity = zmsg_popstr (msg);
            char err [128];
            if (cw_envelope_decode (msg, &env, err, sizeof err) == 0) {
                answered += env.type == CW_MSG_REPLY;
                cw_envelope_clear (&env);
            }
            zstr_free (&identity);
            zmsg_destroy (&msg);
        }
        if (answered == 200)
            break;
        int rc = poll (items, (nfds_t) count, cw_actor_timeout (actor) == 0 ? 0 : 300);
        if (rc == 0 && cw_actor_timeout (actor) != 0)
            stalls++;    //  nothing signalled, yet requests were waiting
        cw_actor_turn (actor);
    }
    assert_int_equal (answered, 200);
    assert_int_equal (stalls, 0);

    //  An outgoing request sent outside a turn: its reply still comes in
    assert_int_equal (cw_actor_request (actor, "someone", "x.y", NULL, s_on_reply, &seen, 2000), 0);
    assert_true (s_broker_expect (NULL, CW_MSG_REQUEST, &env, 2000));
    uint64_t corr = env.corr;
    cw_envelope_clear (&env);
    s_send_to_actor (CW_MSG_REPLY, corr, "ok", "{}");
    int64_t end = zclock_mono () + 2000;
    while (!seen.replies && zclock_mono () < end)
        s_loop (actor, 10);
    assert_int_equal (seen.replies, 1);
    assert_true (seen.last_ok);

    //  Heartbeats come from turns alone (every 50 ms here)
    assert_true (s_broker_expect (actor, CW_MSG_HEARTBEAT, &env, 1000));
    cw_envelope_clear (&env);

    //  A request nobody answers times out through the turns
    assert_int_equal (cw_actor_request (actor, "nobody", "x.y", NULL, s_on_reply, &seen, 150), 0);
    end = zclock_mono () + 2000;
    while (!seen.timeouts && zclock_mono () < end)
        s_loop (actor, 10);
    assert_int_equal (seen.timeouts, 1);
    assert_false (seen.last_ok);

    //  $TERM: the turn says stop, the stop handler ran once
    s_send_to_actor (CW_MSG_TERM, 0, "", "");
    assert_int_equal (s_loop (actor, 2000), -1);
    assert_int_equal (seen.stops, 1);
    assert_int_equal (cw_actor_turn (actor), -1);
    assert_int_equal (seen.stops, 1);
    assert_int_equal (cw_actor_timeout (actor), 0);
    cw_actor_destroy (&actor);
}

static void
test_sigterm_stops_a_turn (void **state)
{
    (void) state;
    cw_actor_t *actor = s_actor_new ();
    s_seen_t seen = { 0 };
    cw_actor_on_stop (actor, s_on_stop, &seen);
    assert_int_equal (cw_actor_ready (actor), 0);
    assert_int_equal (s_loop (actor, 50), 0);
    kill (getpid (), SIGTERM);    //  blocked: read through the signal descriptor
    assert_int_equal (s_loop (actor, 2000), -1);
    assert_int_equal (seen.stops, 1);
    cw_actor_destroy (&actor);
}

static void
test_stop_from_a_handler (void **state)
{
    (void) state;
    cw_actor_t *actor = s_actor_new ();
    s_seen_t seen = { 0 };
    cw_actor_on_stop (actor, s_on_stop, &seen);
    assert_int_equal (s_loop (actor, 20), 0);
    cw_actor_stop (actor);
    assert_int_equal (cw_actor_turn (actor), -1);
    assert_int_equal (seen.stops, 1);
    cw_actor_destroy (&actor);
}

//  A request whose argument only its callback frees, as a module's
typedef struct {
    int *failed;
    char error [128];
} s_owned_t;

static void
s_on_owned_reply (cw_actor_t *self, bool ok, json_t *body, void *arg)
{
    (void) self;
    s_owned_t *owned = arg;
    if (!ok) {
        (*owned->failed)++;
        snprintf (owned->error, sizeof owned->error, "%s", cw_jtext (body, "error"));
        assert_string_equal (owned->error, "turner is stopping");
    }
    free (owned);
}

static void
test_pending_requests_failed_at_stop (void **state)
{
    (void) state;
    cw_actor_t *actor = s_actor_new ();
    s_seen_t seen = { 0 };
    int failed = 0;
    assert_int_equal (cw_actor_ready (actor), 0);
    for (int i = 0; i < 3; i++) {
        s_owned_t *owned = calloc (1, sizeof *owned);
        owned->failed = &failed;
        assert_int_equal (cw_actor_request (actor, "someone", "x.y", NULL, s_on_owned_reply, owned, 5000), 0);
    }
    assert_int_equal (cw_actor_request (actor, "someone", "x.z", NULL, s_on_reply, &seen, 5000), 0);
    //  Only the requests of that callback are answered, each once
    assert_int_equal (cw_actor_fail_requests (actor, s_on_owned_reply, "turner is stopping"), 3);
    assert_int_equal (failed, 3);
    assert_int_equal (cw_actor_fail_requests (actor, s_on_owned_reply, "turner is stopping"), 0);
    assert_int_equal (seen.replies + seen.timeouts, 0);
    //  The other one is still waiting: a reply to it is delivered
    cw_envelope_t env;
    uint64_t corr = 0;
    while (s_broker_expect (NULL, CW_MSG_REQUEST, &env, 500)) {
        if (strcmp (env.command, "x.z") == 0)
            corr = env.corr;
        cw_envelope_clear (&env);
    }
    assert_true (corr != 0);
    s_send_to_actor (CW_MSG_REPLY, corr, "ok", "{}");
    int64_t end = zclock_mono () + 2000;
    while (!seen.replies && zclock_mono () < end)
        s_loop (actor, 10);
    assert_int_equal (seen.replies, 1);
    cw_actor_destroy (&actor);
}

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cwturn.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    snprintf (s_conf, sizeof s_conf, "%s/causeway.conf", s_dir);
    FILE *file = fopen (s_conf, "w");
    if (!file)
        return -1;
    fprintf (file, "node: { runtime_dir = \"%s/run\"; state_dir = \"%s/state\"; log_level = \"error\"; };\n", s_dir,
             s_dir);
    fclose (file);
    //  As in every actor: SIGTERM blocked in every thread (ZeroMQ's start
    //  with the first socket) and read through the signal descriptor
    zsys_handler_set (NULL);
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigprocmask (SIG_BLOCK, &signals, NULL);
    s_broker = zsock_new (ZMQ_ROUTER);
    if (!s_broker)
        return -1;
    zsock_set_router_handover (s_broker, 1);
    if (zsock_bind (s_broker, S_BROKER) != 0)
        return -1;
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    zsock_destroy (&s_broker);
    unlink (s_conf);
    rmdir (s_dir);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_requests_replies_and_heartbeats),
        cmocka_unit_test (test_sigterm_stops_a_turn),
        cmocka_unit_test (test_stop_from_a_handler),
        cmocka_unit_test (test_pending_requests_failed_at_stop),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
