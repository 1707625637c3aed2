/*  test_alarms.c - unit tests of the alarm catalogue (ipc/cw_alarm.c) and of
    the alarms actor's logic (actors/alarms/alarms.c), without processes.

    Each test opens a fresh alarm table in a temporary folder, drives
    alarms_request / alarms_flush directly and collects the deferred replies
    through the reply callback. Publishing is checked with a SUB socket on
    an inproc:// XPUB endpoint in the same process.
*/

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alarms.h"
#include "cw_alarm.h"
#include "cw_log.h"

#include <regex.h>
#include <sqlite3.h>
#include <unistd.h>
#include <syslog.h>

//  ---------------------------------------------------------------------
//  Fixture: a table in a temporary folder and the replies it sent

typedef struct {
    char to [64];
    uint64_t corr;
    bool ok;
    json_t *body;
} reply_t;

typedef struct {
    char dir [64];
    char path [128];
    alarms_t *alarms;
    reply_t replies [256];
    size_t reply_count;
} fixture_t;

static void
s_reply (const char *to, uint64_t corr, bool ok, json_t *body, void *arg)
{
    fixture_t *fx = (fixture_t *) arg;
    assert_true (fx->reply_count < 256);
    reply_t *reply = &fx->replies [fx->reply_count++];
    snprintf (reply->to, sizeof reply->to, "%s", to);
    reply->corr = corr;
    reply->ok = ok;
    reply->body = body;
}

static void
s_forget_replies (fixture_t *fx)
{
    for (size_t i = 0; i < fx->reply_count; i++)
        json_decref (fx->replies [i].body);
    fx->reply_count = 0;
}

static void
s_open (fixture_t *fx)
{
    char err [256] = "";
    fx->alarms = alarms_new (fx->path, "peer1", err, sizeof err);
    assert_non_null (fx->alarms);
    alarms_set_replier (fx->alarms, s_reply, fx);
}

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof (fixture_t));
    snprintf (fx->dir, sizeof fx->dir, "/tmp/test_alarms.XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    snprintf (fx->path, sizeof fx->path, "%s/alarms.db", fx->dir);
    s_open (fx);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_forget_replies (fx);
    alarms_destroy (&fx->alarms);
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    assert_int_equal (system (cmd), 0);
    free (fx);
    return 0;
}

//  Run COMMAND with ARGS (JSON text) from FROM; flush; return the answer
//  (immediate or deferred) as a new object, *OK set.
static json_t *
s_call (fixture_t *fx, const char *from, const char *command, const char *args_text, bool *ok)
{
    json_t *args = args_text ? json_loads (args_text, 0, NULL) : NULL;
    if (args_text)
        assert_non_null (args);
    json_t *reply = NULL;
    size_t before = fx->reply_count;
    alarms_status_t status = alarms_request (fx->alarms, from, 42, command, args, &reply);
    json_decref (args);
    if (status == ALARMS_DEFERRED) {
        assert_null (reply);
        assert_int_equal (fx->reply_count, before);    //  nothing before the commit
        assert_true (alarms_pending (fx->alarms));
        assert_int_equal (alarms_flush (fx->alarms), 1);
        assert_int_equal (fx->reply_count, before + 1);
        reply_t *deferred = &fx->replies [--fx->reply_count];
        assert_string_equal (deferred->to, from);
        assert_int_equal (deferred->corr, 42);
        *ok = deferred->ok;
        return deferred->body;
    }
    assert_non_null (reply);
    *ok = status == ALARMS_OK;
    return reply;
}

//  Call that must succeed
static json_t *
s_ok (fixture_t *fx, const char *from, const char *command, const char *args_text)
{
    bool ok;
    json_t *reply = s_call (fx, from, command, args_text, &ok);
    if (!ok)
        fail_msg ("%s %s failed: %s", command, args_text, json_string_value (json_object_get (reply, "error")));
    return reply;
}

//  Call that must fail; returns the error message (static copy)
static const char *
s_fails (fixture_t *fx, const char *from, const char *command, const char *args_text)
{
    static char message [512];
    bool ok;
    json_t *reply = s_call (fx, from, command, args_text, &ok);
    assert_false (ok);
    const char *error = json_string_value (json_object_get (reply, "error"));
    assert_non_null (error);
    snprintf (message, sizeof message, "%s", error);
    json_decref (reply);
    return message;
}

static json_t *
s_list (fixture_t *fx, bool all)
{
    json_t *reply = s_ok (fx, "@control", "alarms.list", all ? "{\"all\": true}" : "{}");
    json_t *list = json_incref (json_object_get (reply, "alarms"));
    json_decref (reply);
    assert_true (json_is_array (list));
    return list;
}

static const char *
s_field (json_t *alarm, const char *name)
{
    return json_string_value (json_object_get (alarm, name));
}

static bool
s_matches (const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal (regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool match = text && regexec (&re, text, 0, NULL, 0) == 0;
    regfree (&re);
    return match;
}

#define UUID_RE "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
#define TIME_RE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$"

//  ---------------------------------------------------------------------
//  The catalogue

static void
test_catalogue (void **state)
{
    (void) state;
    const cw_alarm_def_t *def = cw_alarm_lookup (10001);
    assert_non_null (def);
    assert_int_equal (def->id, 10001);
    assert_string_equal (def->severity, "error");
    assert_string_equal (def->title, "Actor failed: restart limit reached");
    assert_non_null (strstr (def->action, "causeway actors start"));

    for (int id = 90000; id <= 99999; id += 3333) {
        def = cw_alarm_lookup (id);
        assert_non_null (def);
        assert_string_equal (def->severity, "warning");
        assert_string_equal (def->title, "Operator alarm");
    }
    assert_non_null (cw_alarm_lookup (99999));
    assert_null (cw_alarm_lookup (89999));
    assert_null (cw_alarm_lookup (100000));
    assert_null (cw_alarm_lookup (12));
    assert_null (cw_alarm_lookup (-1));
    assert_true (cw_alarm_is_operator (90000));
    assert_true (cw_alarm_is_operator (99999));
    assert_false (cw_alarm_is_operator (10001));

    //  Every entry: sorted, unique, outside the operator range, well formed
    size_t count = 0;
    const cw_alarm_def_t *table = cw_alarm_catalogue (&count);
    assert_true (count >= 1);
    for (size_t i = 0; i < count; i++) {
        if (i > 0)
            assert_true (table [i - 1].id < table [i].id);
        assert_false (cw_alarm_is_operator (table [i].id));
        assert_true (cw_alarm_severity_valid (table [i].severity));
        assert_true (strlen (table [i].title) > 0);
        assert_true (strlen (table [i].action) > 0);
        assert_ptr_equal (cw_alarm_lookup (table [i].id), &table [i]);
    }
    assert_true (cw_alarm_severity_valid ("critical"));
    assert_false (cw_alarm_severity_valid ("fatal"));
    assert_false (cw_alarm_severity_valid (NULL));
}

//  ---------------------------------------------------------------------
//  Raise, ack, clear

static void
test_raise_fields (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    json_t *reply = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"disk check\"}");
    json_t *alarm = json_object_get (reply, "alarm");
    assert_true (json_is_object (alarm));
    //  Exactly the documented fields
    const char *names [] = { "id",     "uuid", "state",     "severity",   "title",  "detail",
                             "action", "peer", "raised_at", "changed_at", "subject" };
    assert_int_equal (json_object_size (alarm), 11);
    for (size_t i = 0; i < 11; i++)
        assert_non_null (json_object_get (alarm, names [i]));
    assert_true (json_is_integer (json_object_get (alarm, "id")));
    assert_int_equal (json_integer_value (json_object_get (alarm, "id")), 90001);
    assert_true (s_matches (s_field (alarm, "uuid"), UUID_RE));
    assert_string_equal (s_field (alarm, "state"), "raised");
    assert_string_equal (s_field (alarm, "severity"), "warning");
    assert_string_equal (s_field (alarm, "title"), "Operator alarm");
    assert_string_equal (s_field (alarm, "detail"), "disk check");
    assert_string_equal (s_field (alarm, "action"), "Fixed by the check that raised it");
    assert_string_equal (s_field (alarm, "peer"), "peer1");
    assert_string_equal (s_field (alarm, "subject"), "");
    assert_true (s_matches (s_field (alarm, "raised_at"), TIME_RE));
    assert_string_equal (s_field (alarm, "raised_at"), s_field (alarm, "changed_at"));
    json_decref (reply);
    assert_int_equal (alarms_active_count (fx->alarms), 1);
}

static void
test_raise_permissions (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_string_equal (s_fails (fx, "@control", "alarms.raise", "{\"id\": 12, \"detail\": \"x\"}"),
                         "alarm id 12 is outside the operator range 90000-99999");
    assert_string_equal (s_fails (fx, "@control", "alarms.raise", "{\"id\": 10001, \"detail\": \"x\"}"),
                         "alarm id 10001 is outside the operator range 90000-99999");
    assert_string_equal (s_fails (fx, "@control", "alarms.clear", "{\"id\": 10001}"),
                         "alarm id 10001 is outside the operator range 90000-99999");
    assert_non_null (
        strstr (s_fails (fx, "routing", "alarms.raise", "{\"id\": 12, \"detail\": \"x\"}"), "unknown alarm id 12"));
    //  An actor or the supervisor may raise catalogue ids
    json_t *reply = s_ok (fx, "@supervisor", "alarms.raise",
                          "{\"id\": 10001, \"subject\": \"routing\", \"detail\": \"restarted 5 times in 30 s\"}");
    json_t *alarm = json_object_get (reply, "alarm");
    assert_string_equal (s_field (alarm, "severity"), "error");
    assert_string_equal (s_field (alarm, "subject"), "routing");
    assert_string_equal (s_field (alarm, "title"), "Actor failed: restart limit reached");
    json_decref (reply);
    reply = s_ok (fx, "@supervisor", "alarms.clear", "{\"id\": 10001, \"subject\": \"routing\"}");
    assert_int_equal (json_integer_value (json_object_get (reply, "cleared")), 1);
    json_decref (reply);
    assert_int_equal (alarms_active_count (fx->alarms), 0);
}

static void
test_duplicate_and_new_occurrence (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    json_t *first = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"one\"}");
    usleep (2000);
    json_t *second = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"two\"}");
    json_t *a1 = json_object_get (first, "alarm"), *a2 = json_object_get (second, "alarm");
    assert_string_equal (s_field (a1, "uuid"), s_field (a2, "uuid"));
    assert_string_equal (s_field (a2, "detail"), "two");
    assert_string_equal (s_field (a1, "raised_at"), s_field (a2, "raised_at"));
    assert_string_not_equal (s_field (a1, "changed_at"), s_field (a2, "changed_at"));
    json_t *list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 1);
    assert_string_equal (s_field (json_array_get (list, 0), "detail"), "two");
    json_decref (list);

    //  Another subject is another alarm
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"subject\": \"/var\", \"detail\": \"full\"}"));
    assert_int_equal (alarms_active_count (fx->alarms), 2);

    //  Clear without subject clears both
    json_t *reply = s_ok (fx, "@control", "alarms.clear", "{\"id\": 90001}");
    assert_int_equal (json_integer_value (json_object_get (reply, "cleared")), 2);
    json_decref (reply);
    reply = s_ok (fx, "@control", "alarms.clear", "{\"id\": 90001}");
    assert_int_equal (json_integer_value (json_object_get (reply, "cleared")), 0);
    json_decref (reply);

    //  Raised again after the clear: a new occurrence
    json_t *third = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"three\"}");
    assert_string_not_equal (s_field (json_object_get (third, "alarm"), "uuid"), s_field (a1, "uuid"));
    list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 1);
    json_decref (list);
    list = s_list (fx, true);
    assert_int_equal (json_array_size (list), 3);
    //  Newest first
    assert_string_equal (s_field (json_array_get (list, 0), "detail"), "three");
    assert_string_equal (s_field (json_array_get (list, 0), "state"), "raised");
    assert_string_equal (s_field (json_array_get (list, 1), "state"), "cleared");
    json_decref (list);
    json_decref (first);
    json_decref (second);
    json_decref (third);
}

static void
test_ack (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    json_t *raised = s_ok (fx, "@control", "alarms.raise", "{\"id\": 95000, \"detail\": \"x\"}");
    const char *uuid = s_field (json_object_get (raised, "alarm"), "uuid");
    char args [128];
    snprintf (args, sizeof args, "{\"uuid\": \"%s\"}", uuid);
    json_t *reply = s_ok (fx, "@control", "alarms.ack", args);
    assert_string_equal (s_field (json_object_get (reply, "alarm"), "state"), "acknowledged");
    json_decref (reply);
    //  Acknowledged twice: still fine, still acknowledged
    reply = s_ok (fx, "@control", "alarms.ack", args);
    assert_string_equal (s_field (json_object_get (reply, "alarm"), "state"), "acknowledged");
    json_decref (reply);
    //  Raised again while acknowledged: same occurrence, stays acknowledged
    reply = s_ok (fx, "@control", "alarms.raise", "{\"id\": 95000, \"detail\": \"y\"}");
    assert_string_equal (s_field (json_object_get (reply, "alarm"), "uuid"), uuid);
    assert_string_equal (s_field (json_object_get (reply, "alarm"), "state"), "acknowledged");
    json_decref (reply);
    assert_int_equal (alarms_active_count (fx->alarms), 1);

    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 95000}"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.ack", args), "already cleared"));
    assert_non_null (
        strstr (s_fails (fx, "@control", "alarms.ack", "{\"uuid\": \"00000000-0000-4000-8000-000000000000\"}"),
                "no alarm with uuid"));
    json_decref (raised);
}

static void
test_bad_requests (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"detail\": \"x\"}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": \"abc\", \"detail\": \"x\"}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": 1.5, \"detail\": \"x\"}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": -4, \"detail\": \"x\"}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": 1e30, \"detail\": \"x\"}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": 90001}"), "'detail'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": 7}"), "'detail'"));
    assert_non_null (
        strstr (s_fails (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"x\", \"subject\": []}"),
                "'subject'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.clear", "{}"), "'id'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.ack", "{}"), "'uuid'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.ack", "{\"uuid\": 5}"), "'uuid'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.list", "{\"all\": \"yes\"}"), "'all'"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.list", "[1, 2]"), "JSON object"));
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.frobnicate", "{}"), "unknown command"));
    char big [8000];
    memset (big, 'a', sizeof big);
    big [sizeof big - 1] = 0;
    char *args = zsys_sprintf ("{\"id\": 90001, \"detail\": \"%s\"}", big);
    assert_non_null (strstr (s_fails (fx, "@control", "alarms.raise", args), "too long"));
    zstr_free (&args);
    json_t *reply = NULL;
    assert_int_equal (alarms_request (fx->alarms, "@control", 1, NULL, NULL, &reply), ALARMS_ERROR);
    json_decref (reply);
    //  Nothing was stored by any of these
    assert_int_equal (alarms_active_count (fx->alarms), 0);
    //  A string id is accepted when it is a number
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": \"90002\", \"detail\": \"x\"}"));
    assert_int_equal (alarms_active_count (fx->alarms), 1);
}

//  ---------------------------------------------------------------------
//  Durability and batching

static void
test_survives_reopen (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    json_t *raised = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90003, \"detail\": \"kept\"}");
    char uuid [64];
    snprintf (uuid, sizeof uuid, "%s", s_field (json_object_get (raised, "alarm"), "uuid"));
    json_decref (raised);

    //  A change whose batch was never committed is not kept (and never acked)
    json_t *reply = NULL;
    json_t *args = json_pack ("{s:i, s:s}", "id", 90004, "detail", "lost");
    assert_int_equal (alarms_request (fx->alarms, "@control", 7, "alarms.raise", args, &reply), ALARMS_DEFERRED);
    json_decref (args);
    size_t replies = fx->reply_count;
    alarms_destroy (&fx->alarms);
    assert_int_equal (fx->reply_count, replies);

    s_open (fx);
    json_t *list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 1);
    assert_string_equal (s_field (json_array_get (list, 0), "uuid"), uuid);
    assert_string_equal (s_field (json_array_get (list, 0), "detail"), "kept");
    json_decref (list);

    //  Raised again after the restart: still the same occurrence
    raised = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90003, \"detail\": \"kept\"}");
    assert_string_equal (s_field (json_object_get (raised, "alarm"), "uuid"), uuid);
    json_decref (raised);
}

static void
test_batch (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    for (int i = 0; i < 100; i++) {
        json_t *args = json_pack ("{s:i, s:s, s:s}", "id", 90000 + i, "detail", "batch", "subject",
                                  i % 2 ? "odd" : "even");
        json_t *reply = NULL;
        assert_int_equal (alarms_request (fx->alarms, "replication", (uint64_t) i, "alarms.raise", args, &reply),
                          ALARMS_DEFERRED);
        json_decref (args);
    }
    //  A clear in the same batch sees the raises before it
    json_t *args = json_pack ("{s:i}", "id", 90000);
    json_t *reply = NULL;
    assert_int_equal (alarms_request (fx->alarms, "replication", 100, "alarms.clear", args, &reply), ALARMS_DEFERRED);
    json_decref (args);
    assert_int_equal (fx->reply_count, 0);
    assert_int_equal (alarms_flush (fx->alarms), 101);
    assert_int_equal (fx->reply_count, 101);
    for (size_t i = 0; i < 101; i++) {
        assert_true (fx->replies [i].ok);
        assert_int_equal (fx->replies [i].corr, i);
        assert_string_equal (fx->replies [i].to, "replication");
    }
    assert_int_equal (json_integer_value (json_object_get (fx->replies [100].body, "cleared")), 1);
    assert_int_equal (alarms_flush (fx->alarms), 0);
    assert_false (alarms_pending (fx->alarms));
    assert_int_equal (alarms_active_count (fx->alarms), 99);

    //  A list in the middle of a batch commits the batch first
    s_forget_replies (fx);
    args = json_pack ("{s:i, s:s}", "id", 99999, "detail", "x");
    assert_int_equal (alarms_request (fx->alarms, "x", 1, "alarms.raise", args, &reply), ALARMS_DEFERRED);
    json_decref (args);
    json_t *list = s_list (fx, false);
    assert_int_equal (fx->reply_count, 1);
    assert_int_equal (json_array_size (list), 100);
    json_decref (list);
}

static void
test_prune (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    for (int i = 0; i < 20; i++) {
        json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90010, \"detail\": \"x\"}"));
        json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90010}"));
    }
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90011, \"detail\": \"active\"}"));
    assert_int_equal (alarms_prune (fx->alarms, 5), 15);
    json_t *list = s_list (fx, true);
    assert_int_equal (json_array_size (list), 6);
    json_decref (list);
    assert_int_equal (alarms_active_count (fx->alarms), 1);
}

//  ---------------------------------------------------------------------
//  Publishing, heartbeat, peer, syslog

//  Receive one two-frame message within 1 s: *TOPIC and the body object.
static json_t *
s_recv (zsock_t *sub, char **topic)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    void *ready = zpoller_wait (poller, 1000);
    zpoller_destroy (&poller);
    if (!ready)
        return NULL;
    zmsg_t *msg = zmsg_recv (sub);
    assert_non_null (msg);
    assert_int_equal (zmsg_size (msg), 2);
    *topic = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    zmsg_destroy (&msg);
    json_t *body = json_loads (text, 0, NULL);
    zstr_free (&text);
    assert_non_null (body);
    return body;
}

static void
test_publish (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char err [256];
    assert_int_equal (alarms_bind (fx->alarms, "inproc://test-alarms", err, sizeof err), 0);
    assert_int_equal (alarms_bind (fx->alarms, "inproc://test-alarms", err, sizeof err), -1);
    assert_non_null (strstr (err, "inproc://test-alarms"));
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"early\"}"));
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90002, \"detail\": \"cleared\"}"));
    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90002}"));

    assert_int_equal (alarms_seq (fx->alarms), 3);

    //  A late subscriber gets the present: the one active alarm (with the
    //  number of its last change), then the snapshot naming it
    zsock_t *sub = zsock_new_sub ("inproc://test-alarms", "alarm.");
    assert_non_null (sub);
    zsock_t *xpub = alarms_xpub (fx->alarms, 0);
    zpoller_t *poller = zpoller_new (xpub, NULL);
    assert_non_null (zpoller_wait (poller, 1000));
    zpoller_destroy (&poller);
    assert_int_equal (alarms_subscriptions (fx->alarms, 0), 1);
    char *topic = NULL;
    json_t *alarm = s_recv (sub, &topic);
    assert_non_null (alarm);
    assert_string_equal (topic, "alarm.raised.90001");
    assert_string_equal (s_field (alarm, "detail"), "early");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 1);
    char early [64];
    snprintf (early, sizeof early, "%s", s_field (alarm, "uuid"));
    zstr_free (&topic);
    json_decref (alarm);
    json_t *snapshot = s_recv (sub, &topic);
    assert_non_null (snapshot);
    assert_string_equal (topic, "alarm.snapshot");
    assert_int_equal (json_object_size (snapshot), 3);
    assert_string_equal (s_field (snapshot, "peer"), "peer1");
    assert_int_equal (json_integer_value (json_object_get (snapshot, "seq")), 3);
    json_t *uuids = json_object_get (snapshot, "uuids");
    assert_int_equal (json_array_size (uuids), 1);
    assert_string_equal (json_string_value (json_array_get (uuids, 0)), early);
    zstr_free (&topic);
    json_decref (snapshot);
    assert_null (s_recv (sub, &topic));

    //  Changes are published after the commit, not before
    json_t *args = json_pack ("{s:i, s:s}", "id", 90005, "detail", "new");
    json_t *reply = NULL;
    assert_int_equal (alarms_request (fx->alarms, "@control", 1, "alarms.raise", args, &reply), ALARMS_DEFERRED);
    json_decref (args);
    assert_null (s_recv (sub, &topic));
    alarms_flush (fx->alarms);
    alarm = s_recv (sub, &topic);
    assert_non_null (alarm);
    assert_string_equal (topic, "alarm.raised.90005");
    assert_int_equal (json_integer_value (json_object_get (alarm, "id")), 90005);
    assert_int_equal (json_object_size (alarm), 12);    //  the alarm object and its seq
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 4);
    char uuid [64];
    snprintf (uuid, sizeof uuid, "%s", s_field (alarm, "uuid"));
    zstr_free (&topic);
    json_decref (alarm);

    char ack [128];
    snprintf (ack, sizeof ack, "{\"uuid\": \"%s\"}", uuid);
    json_decref (s_ok (fx, "@control", "alarms.ack", ack));
    alarm = s_recv (sub, &topic);
    assert_string_equal (topic, "alarm.acknowledged.90005");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 5);
    zstr_free (&topic);
    json_decref (alarm);
    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90005}"));
    alarm = s_recv (sub, &topic);
    assert_string_equal (topic, "alarm.cleared.90005");
    assert_string_equal (s_field (alarm, "uuid"), uuid);
    assert_string_equal (s_field (alarm, "state"), "cleared");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 6);
    zstr_free (&topic);
    json_decref (alarm);

    //  Heartbeat: only to subscribers of "heartbeat"
    alarms_set_peer (fx->alarms, "expressway-a");
    zsock_set_subscribe (sub, "heartbeat");
    usleep (50000);
    alarms_subscriptions (fx->alarms, 0);    //  replays the present again
    alarm = s_recv (sub, &topic);
    assert_string_equal (topic, "alarm.raised.90001");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 1);
    zstr_free (&topic);
    json_decref (alarm);
    snapshot = s_recv (sub, &topic);
    assert_string_equal (topic, "alarm.snapshot");
    assert_int_equal (json_integer_value (json_object_get (snapshot, "seq")), 6);
    assert_string_equal (s_field (snapshot, "peer"), "expressway-a");
    zstr_free (&topic);
    json_decref (snapshot);
    assert_int_equal (alarms_heartbeat (fx->alarms), 0);
    json_t *beat = s_recv (sub, &topic);
    assert_non_null (beat);
    assert_string_equal (topic, "heartbeat");
    assert_string_equal (s_field (beat, "peer"), "expressway-a");
    assert_int_equal (json_integer_value (json_object_get (beat, "active")), 1);
    assert_true (s_matches (s_field (beat, "at"), TIME_RE));
    assert_int_equal (json_integer_value (json_object_get (beat, "seq")), 6);    //  the last change
    zstr_free (&topic);
    json_decref (beat);

    //  The new system name is the peer of the next alarms
    reply = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90006, \"detail\": \"x\"}");
    assert_string_equal (s_field (json_object_get (reply, "alarm"), "peer"), "expressway-a");
    assert_string_equal (alarms_peer (fx->alarms), "expressway-a");
    json_decref (reply);
    zsock_destroy (&sub);
}

//  ---------------------------------------------------------------------
//  Sequence numbers

static void
test_seq_persists (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (alarms_seq (fx->alarms), 0);
    //  Every change takes the next number; the reply's alarm has none
    json_t *raised = s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"a\"}");
    assert_int_equal (alarms_seq (fx->alarms), 1);
    assert_null (json_object_get (json_object_get (raised, "alarm"), "seq"));
    char ack [128];
    snprintf (ack, sizeof ack, "{\"uuid\": \"%s\"}", s_field (json_object_get (raised, "alarm"), "uuid"));
    json_decref (raised);
    json_decref (s_ok (fx, "@control", "alarms.ack", ack));
    assert_int_equal (alarms_seq (fx->alarms), 2);
    json_decref (s_ok (fx, "@control", "alarms.ack", ack));    //  no change, no number
    assert_int_equal (alarms_seq (fx->alarms), 2);
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"b\"}"));
    assert_int_equal (alarms_seq (fx->alarms), 3);
    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90001}"));
    assert_int_equal (alarms_seq (fx->alarms), 4);
    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90001}"));    //  nothing active
    assert_int_equal (alarms_seq (fx->alarms), 4);
    //  A refused request takes none
    s_fails (fx, "@control", "alarms.raise", "{\"id\": 12, \"detail\": \"x\"}");
    assert_int_equal (alarms_seq (fx->alarms), 4);

    //  A batch of ten changes takes ten numbers, committed once
    for (int i = 0; i < 10; i++) {
        json_t *args = json_pack ("{s:i, s:s}", "id", 90100 + i, "detail", "batch");
        json_t *reply = NULL;
        assert_int_equal (alarms_request (fx->alarms, "x", (uint64_t) i, "alarms.raise", args, &reply),
                          ALARMS_DEFERRED);
        json_decref (args);
    }
    assert_int_equal (alarms_seq (fx->alarms), 4);    //  not before the commit
    assert_int_equal (alarms_flush (fx->alarms), 10);
    assert_int_equal (alarms_seq (fx->alarms), 14);

    //  The counter is kept apart from the rows: pruning the history does
    //  not move it back
    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90109}"));
    assert_int_equal (alarms_prune (fx->alarms, 0), 2);
    assert_int_equal (alarms_seq (fx->alarms), 15);

    //  A batch that was never committed (a kill -9) used no number
    json_t *args = json_pack ("{s:i, s:s}", "id", 90200, "detail", "lost");
    json_t *reply = NULL;
    assert_int_equal (alarms_request (fx->alarms, "x", 99, "alarms.raise", args, &reply), ALARMS_DEFERRED);
    json_decref (args);
    alarms_destroy (&fx->alarms);
    s_forget_replies (fx);
    s_open (fx);
    assert_int_equal (alarms_seq (fx->alarms), 15);
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90200, \"detail\": \"kept\"}"));
    assert_int_equal (alarms_seq (fx->alarms), 16);

    //  After a reopen, the numbers go on from the last one, in the replay
    //  too: the active alarm of the raise above carries 16
    alarms_destroy (&fx->alarms);
    s_open (fx);
    assert_int_equal (alarms_seq (fx->alarms), 16);
    char err [256];
    assert_int_equal (alarms_bind (fx->alarms, "inproc://test-seq", err, sizeof err), 0);
    zsock_t *sub = zsock_new_sub ("inproc://test-seq", "alarm.snapshot");
    usleep (50000);
    assert_int_equal (alarms_subscriptions (fx->alarms, 0), 1);
    char *topic = NULL;
    json_t *snapshot = s_recv (sub, &topic);
    assert_non_null (snapshot);
    assert_string_equal (topic, "alarm.snapshot");
    assert_int_equal (json_integer_value (json_object_get (snapshot, "seq")), 16);
    assert_int_equal (json_array_size (json_object_get (snapshot, "uuids")), 10);    //  90100-90108, 90200
    zstr_free (&topic);
    json_decref (snapshot);
    zsock_destroy (&sub);
}

//  A table made before sequence numbers gets them on open, keeping its rows
static void
test_seq_migration (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    alarms_destroy (&fx->alarms);
    char cmd [512];
    snprintf (cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", fx->path, fx->path, fx->path);
    assert_int_equal (system (cmd), 0);
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (fx->path, &db), SQLITE_OK);
    const char *old_table = "CREATE TABLE alarms ("
                            "  uuid TEXT PRIMARY KEY, id INTEGER NOT NULL, subject TEXT NOT NULL DEFAULT '',"
                            "  state TEXT NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),"
                            "  severity TEXT NOT NULL, title TEXT NOT NULL, detail TEXT NOT NULL,"
                            "  action TEXT NOT NULL, peer TEXT NOT NULL, raised_at TEXT NOT NULL,"
                            "  changed_at TEXT NOT NULL);"
                            "CREATE UNIQUE INDEX alarms_active ON alarms (id, subject) WHERE state != 'cleared';"
                            "INSERT INTO alarms VALUES ('11111111-1111-4111-8111-111111111111', 90001, '',"
                            "  'raised', 'warning', 'Operator alarm', 'from before', 'Fixed', 'peer1',"
                            "  '2026-11-28T09:00:00.000Z', '2026-11-28T09:00:00.000Z');";
    assert_int_equal (sqlite3_exec (db, old_table, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);

    s_open (fx);
    assert_int_equal (alarms_seq (fx->alarms), 0);
    json_t *list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 1);
    assert_string_equal (s_field (json_array_get (list, 0), "detail"), "from before");
    json_decref (list);

    //  The old row replays with seq 0, below every new change
    char err [256];
    assert_int_equal (alarms_bind (fx->alarms, "inproc://test-migrated", err, sizeof err), 0);
    zsock_t *sub = zsock_new_sub ("inproc://test-migrated", "alarm.");
    usleep (50000);
    assert_int_equal (alarms_subscriptions (fx->alarms, 0), 1);
    char *topic = NULL;
    json_t *alarm = s_recv (sub, &topic);
    assert_non_null (alarm);
    assert_string_equal (topic, "alarm.raised.90001");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 0);
    zstr_free (&topic);
    json_decref (alarm);
    json_t *snapshot = s_recv (sub, &topic);
    assert_string_equal (topic, "alarm.snapshot");
    assert_int_equal (json_integer_value (json_object_get (snapshot, "seq")), 0);
    assert_string_equal (json_string_value (json_array_get (json_object_get (snapshot, "uuids"), 0)),
                         "11111111-1111-4111-8111-111111111111");
    zstr_free (&topic);
    json_decref (snapshot);

    json_decref (s_ok (fx, "@control", "alarms.clear", "{\"id\": 90001}"));
    alarm = s_recv (sub, &topic);
    assert_non_null (alarm);
    assert_string_equal (topic, "alarm.cleared.90001");
    assert_int_equal (json_integer_value (json_object_get (alarm, "seq")), 1);
    zstr_free (&topic);
    json_decref (alarm);
    zsock_destroy (&sub);

    //  Opened again: migrated once, the counter kept
    alarms_destroy (&fx->alarms);
    s_open (fx);
    assert_int_equal (alarms_seq (fx->alarms), 1);
}

static void
test_syslog_format (void **state)
{
    (void) state;
    json_t *alarm = json_pack ("{s:i, s:s, s:s, s:s}", "id", 20004, "uuid", "u-1", "severity", "warning", "detail",
                               "say \"hi\" \\ now\n");
    char line [512];
    assert_int_equal (alarms_format_syslog (alarm, "Alarm Raised", line, sizeof line), LOG_WARNING);
    assert_string_equal (line, "alarm: Level=\"WARN\" Event=\"Alarm Raised\" Id=\"20004\" UUID=\"u-1\""
                               " Severity=\"warning\" Detail=\"say \\\"hi\\\" \\\\ now \"");
    json_object_set_new (alarm, "severity", json_string ("critical"));
    assert_int_equal (alarms_format_syslog (alarm, "Alarm Lowered", line, sizeof line), LOG_CRIT);
    assert_non_null (strstr (line, "Level=\"CRIT\" Event=\"Alarm Lowered\""));
    json_object_set_new (alarm, "severity", json_string ("error"));
    assert_int_equal (alarms_format_syslog (alarm, "Alarm Acknowledged", line, sizeof line), LOG_ERR);
    assert_non_null (strstr (line, "Level=\"ERROR\""));
    json_object_set_new (alarm, "severity", json_string ("info"));
    assert_int_equal (alarms_format_syslog (alarm, "Alarm Raised", line, sizeof line), LOG_INFO);
    assert_non_null (strstr (line, "Level=\"INFO\""));
    json_decref (alarm);
}

static void
test_bad_database (void **state)
{
    (void) state;
    char err [256] = "";
    alarms_t *alarms = alarms_new ("/nonexistent-folder/alarms.db", "peer1", err, sizeof err);
    assert_null (alarms);
    assert_non_null (strstr (err, "state_dir /nonexistent-folder cannot be used"));
}

//  A page of garbage in the middle of the table: found at open, the file
//  moved aside, an empty table started with alarm 10002 about alarms.db,
//  which the next sound start clears.
static void
test_damaged_table_replaced (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char detail [1024];
    memset (detail, 'x', sizeof detail - 1);
    detail [sizeof detail - 1] = 0;
    for (int id = 90100; id < 90160; id++) {
        char args [1200];
        snprintf (args, sizeof args, "{\"id\": %d, \"detail\": \"%s\"}", id, detail);
        json_decref (s_ok (fx, "@control", "alarms.raise", args));
    }
    assert_null (alarms_replaced (fx->alarms));
    alarms_destroy (&fx->alarms);
    FILE *f = fopen (fx->path, "r+");
    assert_non_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    assert_true (size >= 8 * 4096);
    fseek (f, (size / 4096 / 2) * 4096, SEEK_SET);
    for (int i = 0; i < 4096; i++)
        fputc ((i * 7919) & 0xff, f);
    fclose (f);

    s_open (fx);
    const char *replaced = alarms_replaced (fx->alarms);
    assert_non_null (replaced);
    assert_non_null (strstr (replaced, "integrity check failed"));
    assert_non_null (strstr (replaced, "moved aside to"));
    assert_null (alarms_problem (fx->alarms));
    json_t *list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 1);
    json_t *alarm = json_array_get (list, 0);
    assert_int_equal (json_integer_value (json_object_get (alarm, "id")), 10002);
    assert_string_equal (s_field (alarm, "subject"), "alarms.db");
    assert_string_equal (s_field (alarm, "severity"), "critical");
    assert_non_null (strstr (s_field (alarm, "detail"), fx->path));
    json_decref (list);

    alarms_destroy (&fx->alarms);
    s_open (fx);
    assert_null (alarms_replaced (fx->alarms));
    list = s_list (fx, false);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);
}

//  A table emptied behind the actor's back (zero bytes, recorded as
//  existing) is damage too, not a fresh start.
static void
test_emptied_table_replaced (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    json_decref (s_ok (fx, "@control", "alarms.raise", "{\"id\": 90001, \"detail\": \"kept\"}"));
    alarms_destroy (&fx->alarms);
    assert_int_equal (truncate (fx->path, 0), 0);
    s_open (fx);
    assert_non_null (alarms_replaced (fx->alarms));
    assert_non_null (strstr (alarms_replaced (fx->alarms), "is empty (zero bytes), but this node had one"));
}

int
main (void)
{
    cw_log_init ("test_alarms", CW_LOG_WARN);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_catalogue),
        cmocka_unit_test_setup_teardown (test_raise_fields, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_raise_permissions, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_duplicate_and_new_occurrence, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_requests, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_prune, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_publish, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seq_persists, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seq_migration, s_setup, s_teardown),
        cmocka_unit_test (test_syslog_format),
        cmocka_unit_test (test_bad_database),
        cmocka_unit_test_setup_teardown (test_damaged_table_replaced, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_emptied_table_replaced, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
