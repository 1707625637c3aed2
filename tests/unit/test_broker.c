/*  test_broker.c - the broker (supervisor/broker.c) over a real ZeroMQ
    ROUTER on an inproc endpoint, with DEALER sockets playing the actors.

    The supervisor's side is a fake: a table of actor names with a state
    and whether messages for them should wait, and hooks that record what
    the broker hands up (READY, liveness, requests for the supervisor,
    replies, STATE topics). The broker's loop is pumped for a few
    milliseconds after each send. The tests check what an actor would
    see: routing by name with the sender's identity as `from`, errors for
    unknown or stopped actors, queueing for a restarting actor (delivered
    on READY, failed on timeout or when it will not come back), retained
    STATE replayed to a late actor (the last value only), the supervisor's
    events (actor.ready with the new pid, any event published to every
    ready actor but one), and malformed frames counted and dropped without
    harm.
*/

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <string.h>

#include "broker.h"
#include "cw_envelope.h"

#define FAKE_MAX 8

typedef struct {
    const char *name;
    const char *state;    //  what actor_state answers
    bool pending;         //  what actor_pending answers
} fake_actor_t;

typedef struct {
    zloop_t *loop;
    cw_broker_t *broker;
    char endpoint [64];
    fake_actor_t actors [FAKE_MAX];
    int readies;
    char ready_name [64];
    char ready_body [256];
    int alive;
    int requests;    //  REQUESTs for the supervisor
    char request_command [64];
    char request_from [64];
    int replies;    //  REPLYs for "@control" / "@supervisor"
    uint64_t reply_corr;
    int states;
    char state_topic [64];
} fixture_t;

static int s_endpoint_seq;

static fake_actor_t *
s_fake (fixture_t *self, const char *name)
{
    for (int i = 0; i < FAKE_MAX && self->actors [i].name; i++)
        if (strcmp (self->actors [i].name, name) == 0)
            return &self->actors [i];
    return NULL;
}

static const char *
s_actor_state (void *arg, const char *name)
{
    fake_actor_t *actor = s_fake (arg, name);
    return actor ? actor->state : NULL;
}

static bool
s_actor_pending (void *arg, const char *name)
{
    fake_actor_t *actor = s_fake (arg, name);
    return actor && actor->pending;
}

static void
s_on_ready (void *arg, const char *name, const char *body)
{
    fixture_t *self = arg;
    self->readies++;
    snprintf (self->ready_name, sizeof self->ready_name, "%s", name);
    snprintf (self->ready_body, sizeof self->ready_body, "%s", body);
}

static void
s_on_alive (void *arg, const char *name)
{
    (void) name;
    ((fixture_t *) arg)->alive++;
}

static void
s_on_request (void *arg, const cw_envelope_t *env)
{
    fixture_t *self = arg;
    self->requests++;
    snprintf (self->request_command, sizeof self->request_command, "%s", env->command);
    snprintf (self->request_from, sizeof self->request_from, "%s", env->from);
}

static void
s_on_reply (void *arg, const cw_envelope_t *env)
{
    fixture_t *self = arg;
    self->replies++;
    self->reply_corr = env->corr;
}

static void
s_on_state (void *arg, const char *topic, const char *body)
{
    (void) body;
    fixture_t *self = arg;
    self->states++;
    snprintf (self->state_topic, sizeof self->state_topic, "%s", topic);
}

static int
s_setup (void **state)
{
    fixture_t *self = calloc (1, sizeof *self);
    if (!self)
        return -1;
    self->loop = zloop_new ();
    snprintf (self->endpoint, sizeof self->endpoint, "inproc://cw-test-broker-%d", ++s_endpoint_seq);
    self->actors [0] = (fake_actor_t){ "alpha", "running", true };
    self->actors [1] = (fake_actor_t){ "beta", "running", true };
    self->actors [2] = (fake_actor_t){ "gamma", "running", true };
    cw_broker_hooks_t hooks = { .actor_state = s_actor_state,
                                .actor_pending = s_actor_pending,
                                .on_ready = s_on_ready,
                                .on_alive = s_on_alive,
                                .on_request = s_on_request,
                                .on_reply = s_on_reply,
                                .on_state = s_on_state,
                                .arg = self };
    char err [256];
    self->broker = cw_broker_new (self->endpoint, self->loop, &hooks, err, sizeof err);
    if (!self->broker)
        return -1;
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *self = *state;
    cw_broker_destroy (&self->broker);
    zloop_destroy (&self->loop);
    free (self);
    return 0;
}

static int
s_stop_loop (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  Let the broker handle what has arrived.
static void
s_pump (fixture_t *self)
{
    zloop_timer (self->loop, 30, 1, s_stop_loop, NULL);
    zloop_start (self->loop);
}

static void
s_send (zsock_t *sock, cw_msg_type_t type, uint64_t corr, const char *from, const char *to, const char *command,
        const char *body)
{
    assert_int_equal (cw_envelope_send (sock, type, corr, from, to, command, body), 0);
}

//  A DEALER for actor NAME, connected and known to the broker (it has
//  sent a heartbeat), so that messages to it are not dropped.
static zsock_t *
s_actor (fixture_t *self, const char *name)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    assert_non_null (sock);
    zsock_set_identity (sock, name);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 1000);
    assert_int_equal (zsock_connect (sock, "%s", self->endpoint), 0);
    int alive = self->alive;
    s_send (sock, CW_MSG_HEARTBEAT, 0, name, "", "", "");
    for (int i = 0; i < 20 && self->alive == alive; i++)
        s_pump (self);
    assert_int_equal (self->alive, alive + 1);
    return sock;
}

//  The next envelope for SOCK, decoded (fails the test when none comes).
static void
s_recv (zsock_t *sock, cw_envelope_t *env)
{
    zmsg_t *msg = zmsg_recv (sock);
    assert_non_null (msg);
    char err [128];
    assert_int_equal (cw_envelope_decode (msg, env, err, sizeof err), 0);
    zmsg_destroy (&msg);
}

//  Nothing arrives for SOCK within 100 ms.
static void
s_recv_nothing (zsock_t *sock)
{
    zsock_set_rcvtimeo (sock, 100);
    zmsg_t *msg = zmsg_recv (sock);
    if (msg) {
        zmsg_print (msg);
        zmsg_destroy (&msg);
        fail_msg ("a message arrived where none was expected");
    }
    zsock_set_rcvtimeo (sock, 1000);
}

static void
s_expect (zsock_t *sock, cw_msg_type_t type, uint64_t corr, const char *from, const char *command,
          const char *body_part)
{
    cw_envelope_t env;
    s_recv (sock, &env);
    assert_int_equal (env.type, type);
    assert_int_equal (env.corr, corr);
    assert_string_equal (env.from, from);
    assert_string_equal (env.command, command);
    if (body_part && !strstr (env.body, body_part))
        fail_msg ("body '%s' does not contain '%s'", env.body, body_part);
    cw_envelope_clear (&env);
}

// ---------------------------------------------------------------------------

static void
test_routes_between_actors (void **state)
{
    fixture_t *self = *state;
    zsock_t *alpha = s_actor (self, "alpha");
    zsock_t *beta = s_actor (self, "beta");
    cw_broker_actor_ready (self->broker, "alpha", 101);
    cw_broker_actor_ready (self->broker, "beta", 102);
    assert_true (cw_broker_is_ready (self->broker, "beta"));
    //  The ones already ready hear of the new one, with its pid
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "{\"name\":\"beta\",\"pid\":102}");

    //  A request: `from` is the sender's identity, whatever it wrote
    s_send (alpha, CW_MSG_REQUEST, 7, "mallory", "beta", "beta.echo", "{\"x\":1}");
    s_pump (self);
    cw_envelope_t env;
    s_recv (beta, &env);
    assert_int_equal (env.type, CW_MSG_REQUEST);
    assert_int_equal (env.corr, 7);
    assert_string_equal (env.from, "alpha");
    assert_string_equal (env.to, "beta");
    assert_string_equal (env.command, "beta.echo");
    assert_string_equal (env.body, "{\"x\":1}");
    cw_envelope_clear (&env);
    s_send (beta, CW_MSG_REPLY, 7, "beta", "alpha", "ok", "{\"y\":2}");
    s_pump (self);
    s_expect (alpha, CW_MSG_REPLY, 7, "beta", "ok", "\"y\":2");

    //  No such actor: an error reply from the supervisor
    s_send (alpha, CW_MSG_REQUEST, 8, "alpha", "nosuch", "x.y", "{}");
    s_pump (self);
    s_expect (alpha, CW_MSG_REPLY, 8, "@supervisor", "error", "no actor named 'nosuch'");
    //  A request needs one destination
    s_send (alpha, CW_MSG_REQUEST, 9, "alpha", "*", "x.y", "{}");
    s_pump (self);
    s_expect (alpha, CW_MSG_REPLY, 9, "@supervisor", "error", "one destination");

    //  What is for the supervisor goes to its hooks
    s_send (alpha, CW_MSG_REQUEST, 10, "alpha", "", "status", "{}");
    s_send (beta, CW_MSG_REPLY, 11, "beta", "@control:7", "ok", "{}");
    s_send (beta, CW_MSG_READY, 0, "beta", "", "", "{\"pid\":42}");
    s_pump (self);
    assert_int_equal (self->requests, 1);
    assert_string_equal (self->request_command, "status");
    assert_string_equal (self->request_from, "alpha");
    assert_int_equal (self->replies, 1);
    assert_int_equal (self->reply_corr, 11);
    assert_int_equal (self->readies, 1);
    assert_string_equal (self->ready_name, "beta");
    assert_string_equal (self->ready_body, "{\"pid\":42}");
    s_recv_nothing (alpha);
    s_recv_nothing (beta);
    zsock_destroy (&alpha);
    zsock_destroy (&beta);
}

static void
test_queues_for_a_restarting_actor (void **state)
{
    fixture_t *self = *state;
    cw_broker_set_request_timeout (self->broker, 100);
    zsock_t *alpha = s_actor (self, "alpha");
    zsock_t *beta = s_actor (self, "beta");
    cw_broker_actor_ready (self->broker, "alpha", 101);
    fake_actor_t *fake = s_fake (self, "beta");
    fake->state = "starting";

    //  beta is not ready: the request waits, and is delivered on READY
    s_send (alpha, CW_MSG_REQUEST, 21, "alpha", "beta", "beta.work", "{\"n\":1}");
    s_pump (self);
    assert_int_equal (cw_broker_queued (self->broker), 1);
    s_recv_nothing (beta);
    fake->state = "running";
    cw_broker_actor_ready (self->broker, "beta", 102);
    assert_int_equal (cw_broker_queued (self->broker), 0);
    s_expect (beta, CW_MSG_REQUEST, 21, "alpha", "beta.work", "\"n\":1");
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "beta");

    //  beta restarts and does not come back in time: the request fails
    //  after request_timeout_ms, not before
    fake->state = "backoff";
    cw_broker_actor_down (self->broker, "beta", false);
    assert_false (cw_broker_is_ready (self->broker, "beta"));
    s_send (alpha, CW_MSG_REQUEST, 22, "alpha", "beta", "beta.work", "{}");
    s_pump (self);
    assert_int_equal (cw_broker_queued (self->broker), 1);
    cw_broker_tick (self->broker, zclock_mono () + 50);
    assert_int_equal (cw_broker_queued (self->broker), 1);
    s_recv_nothing (alpha);
    cw_broker_tick (self->broker, zclock_mono () + 200);
    assert_int_equal (cw_broker_queued (self->broker), 0);
    s_expect (alpha, CW_MSG_REPLY, 22, "@supervisor", "error",
              "actor 'beta' is not running (state backoff); request timed out after 100 ms");

    //  It will not come back (failed): what waits fails at once
    s_send (alpha, CW_MSG_REQUEST, 23, "alpha", "beta", "beta.work", "{}");
    s_pump (self);
    assert_int_equal (cw_broker_queued (self->broker), 1);
    fake->state = "failed";
    fake->pending = false;
    cw_broker_actor_down (self->broker, "beta", true);
    assert_int_equal (cw_broker_queued (self->broker), 0);
    s_expect (alpha, CW_MSG_REPLY, 23, "@supervisor", "error", "actor 'beta' is not running (state failed)");
    //  and new requests are refused without waiting
    s_send (alpha, CW_MSG_REQUEST, 24, "alpha", "beta", "beta.work", "{}");
    s_pump (self);
    assert_int_equal (cw_broker_queued (self->broker), 0);
    s_expect (alpha, CW_MSG_REPLY, 24, "@supervisor", "error", "(state failed)");
    s_recv_nothing (beta);
    zsock_destroy (&alpha);
    zsock_destroy (&beta);
}

static void
test_retained_state_is_replayed_to_a_late_actor (void **state)
{
    fixture_t *self = *state;
    zsock_t *alpha = s_actor (self, "alpha");
    zsock_t *beta = s_actor (self, "beta");
    cw_broker_actor_ready (self->broker, "alpha", 101);
    cw_broker_actor_ready (self->broker, "beta", 102);
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "beta");

    s_send (alpha, CW_MSG_STATE, 0, "alpha", "*", "config.changed.x", "{\"value\":1}");
    s_send (alpha, CW_MSG_STATE, 0, "alpha", "*", "config.changed.x", "{\"value\":2}");
    s_send (alpha, CW_MSG_EVENT, 0, "alpha", "*", "passing.event", "{}");
    s_pump (self);
    assert_int_equal (self->states, 2);
    assert_string_equal (self->state_topic, "config.changed.x");
    //  Broadcast to the others, never back to the sender
    s_expect (beta, CW_MSG_STATE, 0, "alpha", "config.changed.x", "\"value\":1");
    s_expect (beta, CW_MSG_STATE, 0, "alpha", "config.changed.x", "\"value\":2");
    s_expect (beta, CW_MSG_EVENT, 0, "alpha", "passing.event", NULL);
    s_recv_nothing (alpha);

    //  gamma starts later: it gets the present (the last value only, not
    //  the plain event), then the others hear it is ready
    zsock_t *gamma = s_actor (self, "gamma");
    cw_broker_actor_ready (self->broker, "gamma", 103);
    s_expect (gamma, CW_MSG_STATE, 0, "alpha", "config.changed.x", "\"value\":2");
    s_recv_nothing (gamma);
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "gamma");
    s_expect (beta, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "gamma");

    //  alpha restarts: it is not replayed its own state; the others learn
    //  the new instance's pid
    cw_broker_actor_down (self->broker, "alpha", false);
    cw_broker_actor_ready (self->broker, "alpha", 104);
    s_recv_nothing (alpha);
    s_expect (beta, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "{\"name\":\"alpha\",\"pid\":104}");
    s_expect (gamma, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "{\"name\":\"alpha\",\"pid\":104}");
    zsock_destroy (&alpha);
    zsock_destroy (&beta);
    zsock_destroy (&gamma);
}

//  A supervisor event goes to every ready actor but the one excepted,
//  never to one that is down.
static void
test_publish_to_every_ready_actor (void **state)
{
    fixture_t *self = *state;
    zsock_t *alpha = s_actor (self, "alpha");
    zsock_t *beta = s_actor (self, "beta");
    zsock_t *gamma = s_actor (self, "gamma");
    cw_broker_actor_ready (self->broker, "alpha", 101);
    cw_broker_actor_ready (self->broker, "beta", 102);
    cw_broker_actor_ready (self->broker, "gamma", 103);
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "beta");
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "gamma");
    s_expect (beta, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "gamma");

    cw_broker_publish (self->broker, "control.client.closed", json_pack ("{s:s}", "client", "@control:3"), NULL);
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "control.client.closed", "{\"client\":\"@control:3\"}");
    s_expect (beta, CW_MSG_EVENT, 0, "@supervisor", "control.client.closed", "{\"client\":\"@control:3\"}");
    s_expect (gamma, CW_MSG_EVENT, 0, "@supervisor", "control.client.closed", "{\"client\":\"@control:3\"}");

    //  gamma goes down: the others hear it, gamma itself is not sent to
    cw_broker_actor_down (self->broker, "gamma", false);
    cw_broker_publish (self->broker, "actor.down", json_pack ("{s:s, s:i}", "name", "gamma", "pid", 103), "gamma");
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.down", "{\"name\":\"gamma\",\"pid\":103}");
    s_expect (beta, CW_MSG_EVENT, 0, "@supervisor", "actor.down", "{\"name\":\"gamma\",\"pid\":103}");
    //  EXCEPT leaves out a ready actor too; no body is {}
    cw_broker_publish (self->broker, "x.y", NULL, "beta");
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "x.y", "{}");
    s_recv_nothing (alpha);
    s_recv_nothing (beta);
    s_recv_nothing (gamma);
    zsock_destroy (&alpha);
    zsock_destroy (&beta);
    zsock_destroy (&gamma);
}

static void
test_malformed_frames_are_counted_and_dropped (void **state)
{
    fixture_t *self = *state;
    zsock_t *alpha = s_actor (self, "alpha");
    zsock_t *beta = s_actor (self, "beta");
    cw_broker_actor_ready (self->broker, "alpha", 101);
    cw_broker_actor_ready (self->broker, "beta", 102);
    s_expect (alpha, CW_MSG_EVENT, 0, "@supervisor", "actor.ready", "beta");
    uint64_t before = cw_envelope_malformed ();
    int alive = self->alive;

    //  Too few frames, a wrong signature, an unknown type, a bad corr
    zstr_sendx (alpha, "garbage", "more", NULL);
    zstr_sendx (alpha, "XXXX", "REQUEST", "1", "alpha", "beta", "beta.x", "{}", NULL);
    zstr_sendx (alpha, CW_ENVELOPE_SIGNATURE, "BOGUS", "1", "alpha", "beta", "beta.x", "{}", NULL);
    zstr_sendx (alpha, CW_ENVELOPE_SIGNATURE, "REQUEST", "x1", "alpha", "beta", "beta.x", "{}", NULL);
    //  A routing identity that is not an actor name
    zsock_t *stranger = zsock_new (ZMQ_DEALER);
    zsock_set_identity (stranger, "bad name!");
    zsock_set_linger (stranger, 0);
    assert_int_equal (zsock_connect (stranger, "%s", self->endpoint), 0);
    s_send (stranger, CW_MSG_REQUEST, 1, "x", "beta", "beta.x", "{}");
    for (int i = 0; i < 20 && cw_envelope_malformed () < before + 5; i++)
        s_pump (self);

    assert_int_equal (cw_envelope_malformed (), before + 5);
    assert_int_equal (self->alive, alive);    //  garbage is no sign of life
    assert_int_equal (self->requests, 0);
    s_recv_nothing (beta);
    s_recv_nothing (alpha);
    //  The broker goes on routing
    s_send (alpha, CW_MSG_REQUEST, 31, "alpha", "beta", "beta.x", "{}");
    s_pump (self);
    s_expect (beta, CW_MSG_REQUEST, 31, "alpha", "beta.x", NULL);
    assert_int_equal (cw_envelope_malformed (), before + 5);
    zsock_destroy (&stranger);
    zsock_destroy (&alpha);
    zsock_destroy (&beta);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_routes_between_actors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_queues_for_a_restarting_actor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_retained_state_is_replayed_to_a_late_actor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_publish_to_every_ready_actor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_frames_are_counted_and_dropped, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
