/*  fuzz_control.c - libFuzzer target: the control server
    (supervisor/control.c) parsing a client's multipart request.

    The parser (s_handle) is static and works on a ROUTER socket, so the
    smallest real unit that can be called is the control server itself:
    cw_ctl_new on an inproc:// endpoint, in a zloop, with hooks standing in
    for the supervisor (a few local commands; relays answered by a fake
    actor). Each input is sent as one request from a DEALER client (frames
    split at '\n', see fuzz.h), and the loop runs until the answer comes.

    The first byte, when it is '0'..'4', picks what the actor does with a
    relayed request (and is not sent): 0 answers ok, 1 answers error, 2
    exits before answering, 3 exits and restarts (an idempotent request is
    relayed once more, then answered), 4 the request arrives while the
    node is starting (routes not complete yet, completed a moment later).

    Properties: every request gets exactly one answer, within 5 s, of three
    frames: "CW1", "ok" or "error", and a JSON object; a request refused as
    malformed is counted; nothing is left pending afterwards.
*/
#include <string.h>

#include "control.h"
#include "cw_control.h"
#include "cw_log.h"
#include "fuzz.h"

#define S_ENDPOINT "inproc://cw-fuzz-control"
#define S_RELAYS_MAX 16

typedef struct {
    char actor [64];
    uint64_t corr;
    char body [256];
    int times;    //  how often this corr was relayed
} s_relay_t;

static zloop_t *s_loop;
static cw_ctl_t *s_ctl;
static zsock_t *s_client;
static int s_mode;
static s_relay_t s_relays [S_RELAYS_MAX];
static int s_relay_count;
static int s_replies;
static bool s_timer_armed;
static bool s_complete_pending;    //  the s_complete timer has not fired yet
static bool s_delimited;           //  the request began with an empty frame (as from REQ)

static bool
s_local (void *arg, const char *command, json_t *args, bool *ok, json_t **reply)
{
    (void) arg;
    if (strcmp (command, "status") == 0 || strcmp (command, "actors.list") == 0) {
        *ok = true;
        *reply = json_pack ("{s:s, s:O}", "command", command, "args", args);
        return true;
    }
    if (strcmp (command, "shutdown") == 0) {
        *ok = false;
        *reply = json_pack ("{s:s}", "error", "not in this test");
        return true;
    }
    return false;
}

static int s_resolve (zloop_t *loop, int timer_id, void *arg);

static bool
s_relay_hook (void *arg, const char *actor, uint64_t corr, const char *command, const char *body)
{
    (void) arg;
    (void) command;
    s_relay_t *relay = NULL;
    for (int i = 0; i < s_relay_count; i++)
        if (s_relays [i].corr == corr)
            relay = &s_relays [i];
    if (!relay) {
        if (s_relay_count == S_RELAYS_MAX)
            fuzz_fail ("more than %d relays for one request", S_RELAYS_MAX);
        relay = &s_relays [s_relay_count++];
        memset (relay, 0, sizeof *relay);
        relay->corr = corr;
    }
    snprintf (relay->actor, sizeof relay->actor, "%s", actor);
    snprintf (relay->body, sizeof relay->body, "%s", body);
    relay->times++;
    if (relay->times > 2)
        fuzz_fail ("request corr=%llu relayed %d times", (unsigned long long) corr, relay->times);
    if (!s_timer_armed) {
        s_timer_armed = true;
        zloop_timer (s_loop, 1, 1, s_resolve, NULL);
    }
    return true;
}

static void
s_answer (const s_relay_t *relay, bool ok)
{
    cw_envelope_t env = { .type = CW_MSG_REPLY,
                          .corr = relay->corr,
                          .from = (char *) relay->actor,
                          .to = "@control",
                          .command = ok ? "ok" : "error",
                          .body = ok ? "{\"answered\":true}" : "{\"error\":\"refused by the test actor\"}" };
    cw_ctl_on_reply (s_ctl, &env);
}

//  The fake actor acts on what was relayed to it.
static int
s_resolve (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    s_timer_armed = false;
    int count = s_relay_count;
    for (int i = 0; i < count; i++) {
        s_relay_t *relay = &s_relays [i];
        if (s_mode == 2 && relay->times == 1)
            cw_ctl_actor_exited (s_ctl, relay->actor, false);
        else if (s_mode == 3 && relay->times == 1) {
            cw_ctl_actor_exited (s_ctl, relay->actor, true);
            cw_ctl_actor_ready (s_ctl, relay->actor);
        }
        else
            s_answer (relay, s_mode != 1);
    }
    return 0;
}

static int
s_complete (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    s_complete_pending = false;
    cw_ctl_set_complete (s_ctl, true);
    return 0;
}

static int
s_no_answer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    fuzz_fail ("no answer to a request within 5 s");
}

static int
s_on_reply (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) arg;
    zmsg_t *reply = zmsg_recv (reader);
    if (!reply)
        fuzz_fail ("cannot receive the answer");
    s_replies++;
    if (s_delimited) {
        //  The answer mirrors the routing envelope: the empty frame first
        zframe_t *empty = zmsg_pop (reply);
        if (!empty || zframe_size (empty) != 0)
            fuzz_fail ("a request that began with an empty frame got an answer without it");
        zframe_destroy (&empty);
    }
    if (zmsg_size (reply) != 3)
        fuzz_fail ("an answer of %zu frames", zmsg_size (reply));
    zframe_t *signature = zmsg_first (reply);
    zframe_t *status = zmsg_next (reply);
    zframe_t *body = zmsg_next (reply);
    if (!zframe_streq (signature, CW_CONTROL_SIGNATURE))
        fuzz_fail ("an answer without the signature");
    if (!zframe_streq (status, "ok") && !zframe_streq (status, "error"))
        fuzz_fail ("an answer whose status is neither ok nor error");
    json_t *json = json_loadb ((const char *) zframe_data (body), zframe_size (body), 0, NULL);
    if (!json_is_object (json))
        fuzz_fail ("an answer whose body is not a JSON object");
    if (zframe_streq (status, "error") && !json_is_string (json_object_get (json, "error")))
        fuzz_fail ("an error answer without an \"error\" text");
    json_decref (json);
    zmsg_destroy (&reply);
    return -1;    //  ends zloop_start: this request is done
}

static json_t *
s_routes (const char *first, bool first_idempotent, const char *second, bool second_idempotent)
{
    return json_pack ("[{s:s, s:b}, {s:s, s:b}]", "name", first, "idempotent", first_idempotent, "name", second,
                      "idempotent", second_idempotent);
}

static void
s_cleanup (void)
{
    zloop_reader_end (s_loop, s_client);
    zsock_destroy (&s_client);
    cw_ctl_destroy (&s_ctl);
    zloop_destroy (&s_loop);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cw_log_init ("fuzz_control", CW_LOG_ERROR);
    zsys_handler_set (NULL);    //  libFuzzer handles the signals
    s_loop = zloop_new ();
    cw_bootstrap_t boot = { 0 };
    boot.control.endpoint = S_ENDPOINT;
    boot.control.curve_endpoint = "";
    boot.node.state_dir = "/nonexistent";
    boot.supervisor.request_timeout_ms = 2000;
    cw_ctl_hooks_t hooks = { .local = s_local, .relay = s_relay_hook };
    char err [256] = "";
    s_ctl = cw_ctl_new (&boot, s_loop, &hooks, err, sizeof err);
    if (!s_ctl)
        fuzz_fail ("cw_ctl_new: %s", err);
    json_t *routes = s_routes ("alarms.raise", true, "alarms.list", true);
    cw_ctl_declare (s_ctl, "alarms", routes);
    json_decref (routes);
    routes = s_routes ("config.get", true, "config.set", false);
    cw_ctl_declare (s_ctl, "replication", routes);
    json_decref (routes);
    cw_ctl_set_complete (s_ctl, true);
    s_client = zsock_new_dealer (S_ENDPOINT);
    if (!s_client)
        fuzz_fail ("cannot connect the client");
    zloop_reader (s_loop, s_client, s_on_reply, NULL);
    atexit (s_cleanup);    //  before CZMQ's own clean-up (registered earlier, runs later)
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_mode = 0;
    if (size && data [0] >= '0' && data [0] <= '4') {
        s_mode = data [0] - '0';
        data++;
        size--;
    }
    s_relay_count = 0;
    s_replies = 0;
    uint64_t malformed = cw_ctl_malformed (s_ctl);
    int complete = -1;
    if (s_mode == 4) {
        cw_ctl_set_complete (s_ctl, false);
        complete = zloop_timer (s_loop, 2, 1, s_complete, NULL);
        s_complete_pending = true;
    }
    zmsg_t *msg = fuzz_frames (data, size);
    size_t frames = zmsg_size (msg);
    s_delimited = size == 0 || data [0] == '\n';
    if (zmsg_send (&msg, s_client))
        fuzz_fail ("cannot send the request");
    int guard = zloop_timer (s_loop, 5000, 1, s_no_answer, NULL);
    //  zloop_start also returns when a signal interrupts its poll
    //  (libFuzzer's SIGALRM): run it until the answer came
    while (s_replies == 0)
        zloop_start (s_loop);
    zloop_timer_end (s_loop, guard);
    if (complete >= 0 && s_complete_pending)
        zloop_timer_end (s_loop, complete);
    s_complete_pending = false;
    if (s_replies != 1)
        fuzz_fail ("%d answers to one request", s_replies);

    //  Nothing may be left pending: expire everything and expect silence
    cw_ctl_set_complete (s_ctl, true);
    cw_ctl_tick (s_ctl, INT64_MAX);
    zclock_sleep (0);
    if (zsock_events (s_client) & ZMQ_POLLIN)
        fuzz_fail ("a second answer to one request");
    //  A request that is not 3 frames after the (optional) empty delimiter
    //  frame of a REQ client is malformed
    size_t counted = s_delimited ? frames - 1 : frames;
    if (counted != 3 && cw_ctl_malformed (s_ctl) == malformed)
        fuzz_fail ("a request of %zu frames was not counted as malformed", frames);
    return 0;
}
