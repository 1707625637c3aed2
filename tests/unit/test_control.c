/*  test_control.c - unit tests of the control-protocol client (cw_control).

    A fake causewayd runs in a zactor: a ROUTER socket bound to an ipc://
    endpoint in a temporary folder (or tcp:// with CURVE), answering by
    command name: "echo" replies ok with the command and arguments it
    received, "fail" replies an error, "drop" never replies, and a few
    commands reply with malformed frames. The tests check what a client
    sees: bodies, error messages, timeouts that name the endpoint, a client
    that still works after a timeout, the quick failure on a missing or dead
    ipc socket, and CURVE with an authorized and an unknown client key.

    The second part tests the server side's routes (supervisor/control.c)
    with a real ROUTER and a DEALER client: requests held until an actor
    declares the command, "unknown command" once every actor has declared,
    names matched without regard to case, the last declaration winning,
    malformed declarations skipped, and the second delivery after a crash
    given to exactly the commands declared idempotent; and the clients'
    names: one per connection ("@control:<id>", the `from` of what it
    sends), listed while connected, and heard of when the connection
    closes.
*/

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <czmq.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "cw_control.h"

//  ---------------------------------------------------------------------
//  The fake server

typedef struct {
    char endpoint [256];
    zcert_t *cert;    //  CURVE server certificate, NULL = plain
} s_server_args_t;

static void
s_reply (zsock_t *router, zframe_t *identity, const char *sig, const char *verdict, const char *body)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_append (reply, &identity);
    zmsg_addstr (reply, "");
    if (sig)
        zmsg_addstr (reply, sig);
    if (verdict)
        zmsg_addstr (reply, verdict);
    if (body)
        zmsg_addstr (reply, body);
    zmsg_send (&reply, router);
}

static void
s_server (zsock_t *pipe, void *arg)
{
    s_server_args_t *args = (s_server_args_t *) arg;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (args->cert) {
        zcert_apply (args->cert, router);
        zsock_set_curve_server (router, 1);
    }
    int rc = zsock_bind (router, "%s", args->endpoint);
    //  "tcp://127.0.0.1:*": tell the test the port the system chose
    size_t length = strlen (args->endpoint);
    if (rc > 0 && length > 2 && strcmp (args->endpoint + length - 2, ":*") == 0)
        snprintf (args->endpoint + length - 1, sizeof args->endpoint - length + 1, "%d", rc);
    zsock_signal (pipe, rc == -1 ? 1 : 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break;    //  $TERM or interrupted
        zmsg_t *msg = zmsg_recv (router);
        if (!msg)
            break;
        zframe_t *identity = zmsg_pop (msg);
        zframe_t *empty = zmsg_pop (msg);
        zframe_destroy (&empty);
        char *sig = zmsg_popstr (msg);
        char *command = zmsg_popstr (msg);
        char *json = zmsg_popstr (msg);
        if (command && streq (command, "echo")) {
            char body [1024];
            snprintf (body, sizeof body, "{\"command\": \"%s\", \"signature\": \"%s\", \"args\": %s}", command,
                      sig ? sig : "", json ? json : "null");
            s_reply (router, identity, "CW1", "ok", body);
        }
        else if (command && streq (command, "fail"))
            s_reply (router, identity, "CW1", "error", "{\"error\": \"no such actor 'x'\"}");
        else if (command && streq (command, "badsig"))
            s_reply (router, identity, "XX9", "ok", "{}");
        else if (command && streq (command, "twoframes"))
            s_reply (router, identity, "CW1", "ok", NULL);
        else if (command && streq (command, "notjson"))
            s_reply (router, identity, "CW1", "ok", "this is not json");
        else if (command && streq (command, "array"))
            s_reply (router, identity, "CW1", "ok", "[1, 2]");
        else if (command && streq (command, "badverdict"))
            s_reply (router, identity, "CW1", "maybe", "{}");
        else
            zframe_destroy (&identity);    //  "drop": no reply
        free (sig);
        free (command);
        free (json);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  ---------------------------------------------------------------------
//  Fixture: a temporary folder and a plain server in it

typedef struct {
    char dir [64];
    s_server_args_t args;
    zactor_t *server;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *self = (s_fixture_t *) zmalloc (sizeof (s_fixture_t));
    snprintf (self->dir, sizeof self->dir, "/tmp/cw-test-control-XXXXXX");
    assert_non_null (mkdtemp (self->dir));
    snprintf (self->args.endpoint, sizeof self->args.endpoint, "ipc://%s/control", self->dir);
    self->server = zactor_new (s_server, &self->args);
    assert_non_null (self->server);
    *state = self;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    zactor_destroy (&self->server);
    zcert_destroy (&self->args.cert);
    char command [256];
    snprintf (command, sizeof command, "rm -rf '%s'", self->dir);
    assert_int_equal (system (command), 0);
    free (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_ok_reply_carries_command_and_args (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 5000, err, sizeof err);
    assert_non_null (client);
    assert_string_equal (cw_control_endpoint (client), self->args.endpoint);

    json_t *args = json_pack ("{s:s, s:i}", "name", "alarms", "id", 90001);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "echo", args, &reply, err, sizeof err), CW_CALL_OK);
    assert_non_null (reply);
    assert_string_equal (json_string_value (json_object_get (reply, "command")), "echo");
    assert_string_equal (json_string_value (json_object_get (reply, "signature")), "CW1");
    assert_true (json_equal (json_object_get (reply, "args"), args));
    json_decref (reply);
    json_decref (args);

    //  NULL arguments go out as {}
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_OK);
    json_t *sent = json_object_get (reply, "args");
    assert_true (json_is_object (sent));
    assert_int_equal (json_object_size (sent), 0);
    json_decref (reply);
    cw_control_destroy (&client);
    assert_null (client);
    cw_control_destroy (&client);    //  NULL is fine
}

static void
test_error_reply_gives_message (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 5000, err, sizeof err);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "fail", NULL, &reply, err, sizeof err), CW_CALL_ERROR);
    assert_string_equal (err, "no such actor 'x'");
    assert_string_equal (json_string_value (json_object_get (reply, "error")), "no such actor 'x'");
    json_decref (reply);
    cw_control_destroy (&client);
}

static void
test_timeout_names_endpoint_and_client_recovers (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 200, err, sizeof err);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "drop", NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
    assert_null (reply);
    char expected [512];
    snprintf (expected, sizeof expected, "cannot reach causewayd at %s (timed out after 200 ms); is it running?",
              self->args.endpoint);
    assert_string_equal (err, expected);
    //  A REQ socket would now be stuck; the rebuilt one works
    for (int i = 0; i < 3; i++) {
        assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_OK);
        json_decref (reply);
    }
    cw_control_destroy (&client);
}

static void
test_malformed_replies_are_unreachable (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 2000, err, sizeof err);
    const char *bad [] = { "badsig", "twoframes", "notjson", "array", "badverdict" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *reply = NULL;
        err [0] = 0;
        assert_int_equal (cw_control_call (client, bad [i], NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
        assert_null (reply);
        assert_non_null (strstr (err, "bad reply"));
        assert_non_null (strstr (err, self->args.endpoint));
        //  and the next call is answered normally
        assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_OK);
        json_decref (reply);
    }
    cw_control_destroy (&client);
}

static void
test_non_object_args_refused (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 2000, err, sizeof err);
    json_t *args = json_array ();
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "echo", args, &reply, err, sizeof err), CW_CALL_ERROR);
    assert_non_null (strstr (err, "JSON object"));
    json_decref (reply);
    json_decref (args);
    cw_control_destroy (&client);
}

static void
test_oversized_request_refused_at_once (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512] = "";
    cw_control_t *client = cw_control_new (self->args.endpoint, NULL, NULL, 5000, err, sizeof err);
    size_t size = CW_CONTROL_MAX_REQUEST + 1;
    char *big = malloc (size + 1);
    assert_non_null (big);
    memset (big, 'x', size);
    big [size] = 0;
    json_t *args = json_pack ("{s:s}", "v", big);
    free (big);
    json_t *reply = NULL;
    int64_t started = zclock_mono ();
    assert_int_equal (cw_control_call (client, "echo", args, &reply, err, sizeof err), CW_CALL_ERROR);
    assert_true (zclock_mono () - started < 1000);
    char expected [128];
    snprintf (expected, sizeof expected, "request too large: %zu bytes, the limit is %d", size + 8,
              CW_CONTROL_MAX_REQUEST);
    assert_string_equal (err, expected);
    assert_string_equal (json_string_value (json_object_get (reply, "error")), expected);
    json_decref (reply);
    json_decref (args);
    //  the client still works
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_OK);
    json_decref (reply);
    cw_control_destroy (&client);
}

static void
test_missing_ipc_socket_fails_fast (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char endpoint [256], err [512] = "";
    snprintf (endpoint, sizeof endpoint, "ipc://%s/nobody-here", self->dir);
    //  a long timeout: the answer must come from the check, not the timeout
    cw_control_t *client = cw_control_new (endpoint, NULL, NULL, 3000, err, sizeof err);
    assert_non_null (client);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
    char expected [512];
    snprintf (expected, sizeof expected, "cannot reach causewayd at %s (no socket file %s/nobody-here); is it running?",
              endpoint, self->dir);
    assert_string_equal (err, expected);
    cw_control_destroy (&client);
}

static void
test_dead_ipc_socket_fails_fast (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    //  A socket file nobody listens on (what a killed daemon leaves)
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s/stale", self->dir);
    int fd = socket (AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    close (fd);
    char endpoint [256], err [512] = "";
    snprintf (endpoint, sizeof endpoint, "ipc://%s", addr.sun_path);
    cw_control_t *client = cw_control_new (endpoint, NULL, NULL, 3000, err, sizeof err);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
    assert_non_null (strstr (err, "nothing listens on"));
    assert_non_null (strstr (err, endpoint));
    cw_control_destroy (&client);
}

static void
test_new_refuses_bad_parameters (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char err [512];
    err [0] = 0;
    assert_null (cw_control_new (NULL, NULL, NULL, 1000, err, sizeof err));
    assert_true (strlen (err) > 0);
    err [0] = 0;
    assert_null (cw_control_new ("nonsense://x", NULL, NULL, 1000, err, sizeof err));
    assert_non_null (strstr (err, "nonsense://x"));
    err [0] = 0;
    assert_null (cw_control_new (self->args.endpoint, NULL, NULL, 0, err, sizeof err));
    assert_true (strlen (err) > 0);
    //  CURVE needs both halves, a 40-character Z85 key, a loadable secret certificate
    err [0] = 0;
    assert_null (cw_control_new ("tcp://127.0.0.1:1", "x", NULL, 1000, err, sizeof err));
    assert_true (strlen (err) > 0);
    zcert_t *cert = zcert_new ();
    char file [256];
    snprintf (file, sizeof file, "%s/client.cert", self->dir);
    assert_int_equal (zcert_save (cert, file), 0);
    err [0] = 0;
    assert_null (cw_control_new ("tcp://127.0.0.1:1", "short", file, 1000, err, sizeof err));
    assert_non_null (strstr (err, "Z85"));
    err [0] = 0;
    assert_null (
        cw_control_new ("tcp://127.0.0.1:1", zcert_public_txt (cert), "/nonexistent/cert", 1000, err, sizeof err));
    assert_non_null (strstr (err, "/nonexistent/cert"));
    //  a public-only certificate has no secret key
    char public_only [256];
    snprintf (public_only, sizeof public_only, "%s/public-only.cert", self->dir);
    assert_int_equal (zcert_save_public (cert, public_only), 0);
    err [0] = 0;
    assert_null (cw_control_new ("tcp://127.0.0.1:1", zcert_public_txt (cert), public_only, 1000, err, sizeof err));
    assert_non_null (strstr (err, "no secret key"));
    //  the secret file works under its own name and under the base name
    char secret [300];
    snprintf (secret, sizeof secret, "%s_secret", file);
    cw_control_t *client = cw_control_new ("tcp://127.0.0.1:1", zcert_public_txt (cert), secret, 1000, err, sizeof err);
    assert_non_null (client);
    cw_control_destroy (&client);
    client = cw_control_new ("tcp://127.0.0.1:1", zcert_public_txt (cert), file, 1000, err, sizeof err);
    assert_non_null (client);
    cw_control_destroy (&client);
    zcert_destroy (&cert);
}

static void
test_curve_authorized_and_unknown_clients (void **state)
{
    s_fixture_t *self = (s_fixture_t *) *state;
    char keys_dir [256];
    snprintf (keys_dir, sizeof keys_dir, "%s/authorized", self->dir);
    assert_int_equal (zsys_dir_create ("%s", keys_dir), 0);

    //  the client we allow, and one we do not
    zcert_t *allowed = zcert_new ();
    char allowed_file [256], allowed_public [300];
    snprintf (allowed_file, sizeof allowed_file, "%s/allowed.cert", self->dir);
    assert_int_equal (zcert_save (allowed, allowed_file), 0);
    snprintf (allowed_public, sizeof allowed_public, "%s/allowed.cert", keys_dir);
    assert_int_equal (zcert_save_public (allowed, allowed_public), 0);
    zcert_t *stranger = zcert_new ();
    char stranger_file [256];
    snprintf (stranger_file, sizeof stranger_file, "%s/stranger.cert", self->dir);
    assert_int_equal (zcert_save (stranger, stranger_file), 0);

    zactor_t *auth = zactor_new (zauth, NULL);
    assert_non_null (auth);
    zstr_sendx (auth, "CURVE", keys_dir, NULL);
    zsock_wait (auth);

    s_server_args_t args = { .cert = zcert_new () };
    //  A port the server binds itself: probing for a free one and binding
    //  it afterwards races with the probe's asynchronous close
    snprintf (args.endpoint, sizeof args.endpoint, "tcp://127.0.0.1:*");
    zactor_t *server = zactor_new (s_server, &args);
    assert_non_null (server);
    char server_key [41];
    snprintf (server_key, sizeof server_key, "%s", zcert_public_txt (args.cert));

    char err [512] = "";
    cw_control_t *client = cw_control_new (args.endpoint, server_key, allowed_file, 5000, err, sizeof err);
    assert_non_null (client);
    json_t *reply = NULL;
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_OK);
    json_decref (reply);
    cw_control_destroy (&client);

    client = cw_control_new (args.endpoint, server_key, stranger_file, 500, err, sizeof err);
    assert_non_null (client);
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
    assert_non_null (strstr (err, args.endpoint));
    cw_control_destroy (&client);

    //  a plain client gets nothing from a CURVE server either
    client = cw_control_new (args.endpoint, NULL, NULL, 500, err, sizeof err);
    assert_int_equal (cw_control_call (client, "echo", NULL, &reply, err, sizeof err), CW_CALL_UNREACHABLE);
    cw_control_destroy (&client);

    zactor_destroy (&server);
    zactor_destroy (&auth);
    zcert_destroy (&args.cert);
    zcert_destroy (&allowed);
    zcert_destroy (&stranger);
}

//  ---------------------------------------------------------------------
//  The control server's routes, learned from the actors

typedef struct {
    zloop_t *loop;
    cw_ctl_t *ctl;
    cw_bootstrap_t boot;
    char endpoint [128];
    zsock_t *client;
    int relays;
    char relay_actor [64];
    char relay_command [128];
    char relay_body [256];
    uint64_t relay_corr;
    char relay_client [64];    //  who sent it (cw_ctl_request_client)
    char closed [8][64];       //  clients whose connection closed, in order
    int closed_count;
    struct {
        char verdict [16];
        char body [256];
    } replies [8];    //  received before they were expected
    int reply_count;
} s_routes_t;

static bool
s_routes_local (void *arg, const char *command, json_t *args, bool *ok, json_t **reply)
{
    (void) arg;
    (void) args;
    if (strcmp (command, "status") == 0)
        *reply = json_pack ("{s:s}", "node", "test");
    else if (strcmp (command, "ping") == 0)
        *reply = json_pack ("{s:b}", "pong", true);
    else
        return false;
    *ok = true;
    return true;
}

static bool
s_routes_relay (void *arg, const char *actor, uint64_t corr, const char *command, const char *body)
{
    s_routes_t *self = (s_routes_t *) arg;
    self->relays++;
    snprintf (self->relay_actor, sizeof self->relay_actor, "%s", actor);
    snprintf (self->relay_command, sizeof self->relay_command, "%s", command);
    snprintf (self->relay_body, sizeof self->relay_body, "%s", body);
    self->relay_corr = corr;
    const char *client = cw_ctl_request_client (self->ctl, corr);
    snprintf (self->relay_client, sizeof self->relay_client, "%s", client ? client : "(none)");
    return true;
}

static void
s_routes_client_closed (void *arg, const char *client)
{
    s_routes_t *self = (s_routes_t *) arg;
    assert_true (self->closed_count < 8);
    snprintf (self->closed [self->closed_count++], sizeof self->closed [0], "%s", client);
}

static int
s_routes_stop (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

static void
s_routes_pump (s_routes_t *self)
{
    zloop_timer (self->loop, 10, 1, s_routes_stop, NULL);
    zloop_start (self->loop);
}

static s_routes_t *
s_routes_new (void)
{
    static int seq;
    s_routes_t *self = (s_routes_t *) calloc (1, sizeof *self);
    assert_non_null (self);
    snprintf (self->endpoint, sizeof self->endpoint, "ipc:///tmp/cw-test-ctl-%d-%d", (int) getpid (), ++seq);
    self->boot.file = (char *) "test.conf";
    self->boot.control.endpoint = self->endpoint;
    self->boot.supervisor.request_timeout_ms = 1000;
    self->loop = zloop_new ();
    cw_ctl_hooks_t hooks = { s_routes_local, NULL, s_routes_relay, self, s_routes_client_closed };
    char err [256];
    self->ctl = cw_ctl_new (&self->boot, self->loop, &hooks, err, sizeof err);
    assert_non_null (self->ctl);
    self->client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (self->client, 0);
    zsock_set_rcvtimeo (self->client, 1000);
    assert_int_equal (zsock_connect (self->client, "%s", self->endpoint), 0);
    return self;
}

static void
s_routes_destroy (s_routes_t **self_p)
{
    s_routes_t *self = *self_p;
    zsock_destroy (&self->client);
    cw_ctl_destroy (&self->ctl);
    zloop_destroy (&self->loop);
    free (self);
    *self_p = NULL;
}

//  Read one reply from the client socket into VERDICT and BODY.
static void
s_routes_read (s_routes_t *self, char *verdict, size_t verdict_size, char *body, size_t body_size)
{
    zmsg_t *msg = zmsg_recv (self->client);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 4);
    char *empty = zmsg_popstr (msg);
    char *sig = zmsg_popstr (msg);
    char *status = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    assert_string_equal (empty, "");
    assert_string_equal (sig, CW_CONTROL_SIGNATURE);
    snprintf (verdict, verdict_size, "%s", status);
    snprintf (body, body_size, "%s", text);
    zstr_free (&empty);
    zstr_free (&sig);
    zstr_free (&status);
    zstr_free (&text);
    zmsg_destroy (&msg);
}

//  Send COMMAND, then a "ping" behind it on the same connection, and
//  run the server until the ping's reply is back: COMMAND has then been
//  handled (answered, relayed or held), however slow the machine is.
//  Replies that came first are kept for s_routes_expect.
static void
s_routes_send (s_routes_t *self, const char *command)
{
    zstr_sendx (self->client, "", CW_CONTROL_SIGNATURE, command, "{\"k\":1}", NULL);
    zstr_sendx (self->client, "", CW_CONTROL_SIGNATURE, "ping", "{}", NULL);
    for (int i = 0; i < 500; i++) {
        s_routes_pump (self);
        while (zsock_events (self->client) & ZMQ_POLLIN) {
            char verdict [16], body [256];
            s_routes_read (self, verdict, sizeof verdict, body, sizeof body);
            if (strcmp (body, "{\"pong\":true}") == 0)
                return;
            assert_true (self->reply_count < 8);
            snprintf (self->replies [self->reply_count].verdict, sizeof self->replies [0].verdict, "%s", verdict);
            snprintf (self->replies [self->reply_count].body, sizeof self->replies [0].body, "%s", body);
            self->reply_count++;
        }
    }
    fail_msg ("the control server did not answer 'ping' behind '%s'", command);
}

//  The next reply: STATUS ("ok" / "error") and BODY must match.
static void
s_routes_expect (s_routes_t *self, const char *status, const char *body)
{
    char verdict [16], text [256];
    if (self->reply_count) {
        snprintf (verdict, sizeof verdict, "%s", self->replies [0].verdict);
        snprintf (text, sizeof text, "%s", self->replies [0].body);
        memmove (&self->replies [0], &self->replies [1], (size_t) (self->reply_count - 1) * sizeof self->replies [0]);
        self->reply_count--;
    }
    else
        s_routes_read (self, verdict, sizeof verdict, text, sizeof text);
    assert_string_equal (verdict, status);
    assert_string_equal (text, body);
}

static void
s_routes_expect_nothing (s_routes_t *self)
{
    assert_int_equal (self->reply_count, 0);
    zsock_set_rcvtimeo (self->client, 100);
    zmsg_t *msg = zmsg_recv (self->client);
    zsock_set_rcvtimeo (self->client, 1000);
    if (msg) {
        zmsg_destroy (&msg);
        fail_msg ("a reply arrived where none was expected");
    }
}

//  The actor's REPLY for the last relayed request.
static void
s_routes_answer (s_routes_t *self, uint64_t corr, const char *body)
{
    cw_envelope_t env = { CW_MSG_REPLY,        corr,          (char *) self->relay_actor,
                          (char *) "@control", (char *) "ok", (char *) body };
    cw_ctl_on_reply (self->ctl, &env);
}

static void
s_routes_declare (s_routes_t *self, const char *actor, const char *json)
{
    json_t *commands = json_loads (json, 0, NULL);
    assert_non_null (commands);
    assert_int_equal (cw_ctl_declare (self->ctl, actor, commands), 0);
    json_decref (commands);
}

//  One client past its share of requests in flight gets "busy" at once,
//  never silence; another client is still served.
static void
test_routes_busy_past_the_client_limit (void **state)
{
    (void) state;
    s_routes_t *self = s_routes_new ();
    s_routes_declare (self, "alarms", "[{\"name\": \"alarms.list\", \"idempotent\": true}]");
    zsock_set_sndhwm (self->client, 0);
    for (int i = 0; i < 1030; i++)
        zstr_sendx (self->client, "", CW_CONTROL_SIGNATURE, "alarms.list", "{}", NULL);
    zstr_sendx (self->client, "", CW_CONTROL_SIGNATURE, "ping", "{}", NULL);
    int busy = 0;
    bool pong = false;
    for (int i = 0; i < 500 && !pong; i++) {
        s_routes_pump (self);
        while (zsock_events (self->client) & ZMQ_POLLIN) {
            char verdict [16], body [256];
            s_routes_read (self, verdict, sizeof verdict, body, sizeof body);
            if (strcmp (body, "{\"pong\":true}") == 0) {
                pong = true;
                continue;
            }
            assert_string_equal (verdict, "error");
            assert_non_null (strstr (body, "busy: this client has 1024 requests in flight"));
            busy++;
        }
    }
    assert_true (pong);
    assert_int_equal (busy, 6);
    assert_int_equal (self->relays, 1024);
    json_t *stats = cw_ctl_stats (self->ctl);
    assert_int_equal (json_integer_value (json_object_get (stats, "busy")), 6);
    assert_int_equal (json_integer_value (json_object_get (stats, "pending")), 1024);
    assert_int_equal (json_integer_value (json_object_get (stats, "dropped")), 0);
    json_decref (stats);
    //  Another client is not held back by the first one's backlog
    zsock_t *other = zsock_new (ZMQ_DEALER);
    zsock_set_linger (other, 0);
    zsock_set_rcvtimeo (other, 100);
    assert_int_equal (zsock_connect (other, "%s", self->endpoint), 0);
    zstr_sendx (other, "", CW_CONTROL_SIGNATURE, "alarms.list", "{}", NULL);
    for (int i = 0; i < 100 && self->relays == 1024; i++)
        s_routes_pump (self);
    assert_int_equal (self->relays, 1025);
    zsock_destroy (&other);
    s_routes_destroy (&self);
}

static void
test_routes_held_until_declared (void **state)
{
    (void) state;
    s_routes_t *self = s_routes_new ();
    s_routes_declare (self, "alarms", "[{\"name\": \"alarms.list\", \"idempotent\": true}]");
    assert_true (cw_ctl_declared (self->ctl, "alarms"));
    assert_false (cw_ctl_declared (self->ctl, "replication"));

    //  Local commands are answered at once
    s_routes_send (self, "status");
    s_routes_expect (self, "ok", "{\"node\":\"test\"}");
    //  Not declared yet, and not every actor has declared: held
    s_routes_send (self, "config.get");
    s_routes_send (self, "frobnicate");
    assert_int_equal (self->relays, 0);
    s_routes_expect_nothing (self);
    //  The replication actor declares it: relayed, with the arguments
    s_routes_declare (self, "replication",
                      "[{\"name\": \"config.get\", \"idempotent\": true},"
                      " {\"name\": \"cluster.check\", \"idempotent\": false}]");
    assert_int_equal (self->relays, 1);
    assert_string_equal (self->relay_actor, "replication");
    assert_string_equal (self->relay_command, "config.get");
    assert_string_equal (self->relay_body, "{\"k\":1}");
    s_routes_answer (self, self->relay_corr, "{\"value\":\"x\"}");
    s_routes_expect (self, "ok", "{\"value\":\"x\"}");
    //  Every actor has declared: what nobody declared is unknown
    cw_ctl_set_complete (self->ctl, true);
    s_routes_expect (self, "error", "{\"error\":\"unknown command 'frobnicate'\"}");
    s_routes_send (self, "tms.reprovision");
    s_routes_expect (self, "error", "{\"error\":\"unknown command 'tms.reprovision'\"}");
    //  A declared name in another case goes to its actor
    s_routes_send (self, "Cluster.CHECK");
    assert_int_equal (self->relays, 2);
    assert_string_equal (self->relay_actor, "replication");
    assert_string_equal (self->relay_command, "Cluster.CHECK");
    bool idempotent = true;
    assert_string_equal (cw_ctl_route (self->ctl, "CLUSTER.check", &idempotent), "replication");
    assert_false (idempotent);
    //  An actor added later: its names are held again until it declares
    cw_ctl_set_complete (self->ctl, false);
    s_routes_send (self, "licensing.status");
    assert_int_equal (self->relays, 2);
    s_routes_declare (self, "licensing", "[{\"name\": \"licensing.status\", \"idempotent\": true}]");
    assert_int_equal (self->relays, 3);
    assert_string_equal (self->relay_actor, "licensing");
    //  Removed from the bootstrap file: its routes go
    cw_ctl_forget (self->ctl, "licensing");
    assert_null (cw_ctl_route (self->ctl, "licensing.status", NULL));
    assert_false (cw_ctl_declared (self->ctl, "licensing"));
    assert_string_equal (cw_ctl_route (self->ctl, "config.get", NULL), "replication");
    s_routes_destroy (&self);
}

static void
test_routes_retry_only_what_is_declared_idempotent (void **state)
{
    (void) state;
    s_routes_t *self = s_routes_new ();
    s_routes_declare (self, "tms",
                      "[{\"name\": \"tms.status\", \"idempotent\": true},"
                      " {\"name\": \"tms.other\", \"idempotent\": false}]");
    cw_ctl_set_complete (self->ctl, true);
    s_routes_send (self, "tms.status");
    uint64_t status_corr = self->relay_corr;
    s_routes_send (self, "tms.other");
    assert_int_equal (self->relays, 2);
    //  tms dies with both in hand and is restarted
    cw_ctl_actor_exited (self->ctl, "tms", true);
    s_routes_pump (self);
    s_routes_expect (self, "error", "{\"error\":\"actor 'tms' exited before it answered 'tms.other'\"}");
    assert_int_equal (self->relays, 3);
    assert_string_equal (self->relay_command, "tms.status");
    assert_int_equal (self->relay_corr, status_corr);    //  the same request again
    s_routes_answer (self, status_corr, "{\"actor\":\"tms\"}");
    s_routes_expect (self, "ok", "{\"actor\":\"tms\"}");

    //  The restarted tms declares tms.status not idempotent: the last
    //  declaration wins, so no second delivery any more
    s_routes_declare (self, "tms", "[{\"name\": \"tms.status\", \"idempotent\": false}]");
    assert_null (cw_ctl_route (self->ctl, "tms.other", NULL));
    s_routes_send (self, "tms.status");
    cw_ctl_actor_exited (self->ctl, "tms", true);
    s_routes_pump (self);
    s_routes_expect (self, "error", "{\"error\":\"actor 'tms' exited before it answered 'tms.status'\"}");
    assert_int_equal (self->relays, 4);
    s_routes_destroy (&self);
}

static void
test_routes_malformed_declarations_are_skipped (void **state)
{
    (void) state;
    s_routes_t *self = s_routes_new ();
    s_routes_declare (self, "odd",
                      "[{\"name\": 5}, {\"name\": \"bad name\"}, \"text\","
                      " {\"name\": \"odd.flag\", \"idempotent\": \"yes\"},"
                      " {\"name\": \"odd.good\"}]");
    bool idempotent = true;
    assert_string_equal (cw_ctl_route (self->ctl, "odd.good", &idempotent), "odd");
    assert_false (idempotent);
    assert_null (cw_ctl_route (self->ctl, "odd.flag", NULL));
    assert_null (cw_ctl_route (self->ctl, "bad name", NULL));
    //  No list at all: the actor serves nothing, but it has declared
    json_t *none = json_object ();
    assert_int_equal (cw_ctl_declare (self->ctl, "bare", none), 0);
    json_decref (none);
    assert_true (cw_ctl_declared (self->ctl, "bare"));
    assert_int_equal (cw_ctl_declare (self->ctl, "odd", NULL), 0);
    assert_null (cw_ctl_route (self->ctl, "odd.good", NULL));
    s_routes_destroy (&self);
}

//  The clients' list as text: "@control:1,@control:2".
static void
s_routes_clients (s_routes_t *self, char *text, size_t size)
{
    json_t *reply = cw_ctl_clients (self->ctl);
    assert_non_null (reply);
    json_t *list = json_object_get (reply, "clients");
    assert_true (json_is_array (list));
    text [0] = 0;
    size_t index;
    json_t *name;
    json_array_foreach (list, index, name) {
        size_t used = strlen (text);
        snprintf (text + used, size - used, "%s%s", index ? "," : "", json_string_value (name));
    }
    json_decref (reply);
}

//  Each connection is a client with its own name, the `from` of what it
//  sends; when it closes, the hook hears that name and the list drops it.
static void
test_clients_have_names (void **state)
{
    (void) state;
    s_routes_t *self = s_routes_new ();
    s_routes_declare (self, "alarms", "[{\"name\": \"alarms.list\", \"idempotent\": true}]");
    cw_ctl_set_complete (self->ctl, true);
    s_routes_send (self, "alarms.list");
    char first [64];
    snprintf (first, sizeof first, "%s", self->relay_client);
    assert_int_equal (strncmp (first, "@control:", 9), 0);
    assert_true (cw_ctl_is_client (first));
    s_routes_send (self, "alarms.list");
    assert_string_equal (self->relay_client, first);    //  the same connection, the same name
    //  A second connection is another client
    zsock_t *one = self->client;
    self->client = zsock_new (ZMQ_DEALER);
    zsock_set_linger (self->client, 0);
    zsock_set_rcvtimeo (self->client, 1000);
    assert_int_equal (zsock_connect (self->client, "%s", self->endpoint), 0);
    s_routes_send (self, "alarms.list");
    char second [64];
    snprintf (second, sizeof second, "%s", self->relay_client);
    assert_true (cw_ctl_is_client (second));
    assert_string_not_equal (second, first);
    char list [256], expected [256];
    s_routes_clients (self, list, sizeof list);
    snprintf (expected, sizeof expected, "%s,%s", first, second);
    assert_string_equal (list, expected);
    assert_int_equal (self->closed_count, 0);
    //  The first one leaves
    zsock_destroy (&one);
    for (int i = 0; i < 300 && self->closed_count == 0; i++)
        s_routes_pump (self);
    assert_int_equal (self->closed_count, 1);
    assert_string_equal (self->closed [0], first);
    s_routes_clients (self, list, sizeof list);
    assert_string_equal (list, second);
    //  The one still connected is answered as before
    s_routes_answer (self, self->relay_corr, "{}");
    s_routes_expect (self, "ok", "{}");
    s_routes_destroy (&self);
}

static void
test_client_names (void **state)
{
    (void) state;
    assert_true (cw_ctl_is_client ("@control"));
    assert_true (cw_ctl_is_client ("@control:1"));
    assert_true (cw_ctl_is_client ("@control:18446744073709551615"));
    assert_false (cw_ctl_is_client ("@control:"));
    assert_false (cw_ctl_is_client ("@control:1x"));
    assert_false (cw_ctl_is_client ("@controller"));
    assert_false (cw_ctl_is_client ("@supervisor"));
    assert_false (cw_ctl_is_client ("alarms"));
    assert_false (cw_ctl_is_client (""));
    assert_false (cw_ctl_is_client (NULL));
}

int
main (void)
{
    zsys_init ();
    zsys_set_logstream (NULL);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_ok_reply_carries_command_and_args, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_error_reply_gives_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_timeout_names_endpoint_and_client_recovers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_malformed_replies_are_unreachable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_non_object_args_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_oversized_request_refused_at_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_ipc_socket_fails_fast, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_dead_ipc_socket_fails_fast, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_new_refuses_bad_parameters, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_curve_authorized_and_unknown_clients, s_setup, s_teardown),
        cmocka_unit_test (test_routes_held_until_declared),
        cmocka_unit_test (test_routes_busy_past_the_client_limit),
        cmocka_unit_test (test_routes_retry_only_what_is_declared_idempotent),
        cmocka_unit_test (test_routes_malformed_declarations_are_skipped),
        cmocka_unit_test (test_clients_have_names),
        cmocka_unit_test (test_client_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
