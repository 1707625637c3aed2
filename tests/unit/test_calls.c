/*  test_calls.c - unit tests of the calls table (actors/routing/calls.c)
    and the proxy's pure parts (actors/routing/proxy.c): no sockets.

    Calls: added once per Call-ID, their states (never back from
    connected), ended with their lease handed back, the dialog timeout, the
    JSON list with the contract's field names, the other peers' lists and
    the per-peer figures (dead peers left out). The proxy: the flow carried
    in a Record-Route's user part both ways (and what is not one), the
    ranking of a fork's final answers.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "proxy.h"

#define NOW 1700000000000LL    //  2023-11-14T22:13:20Z

static void
test_add_states_end (void **state)
{
    (void) state;
    cw_calls_t *calls = cw_calls_new ();
    assert_int_equal (cw_calls_add (calls, "a@h", "sip:alice@example.com", "sip:bob@example.com", 3, NOW, "1a.7"), 0);
    assert_int_equal (cw_calls_add (calls, "a@h", "sip:x@example.com", "sip:y@example.com", 3, NOW, "1a.8"), -1);
    assert_int_equal (cw_calls_add (calls, "", "f", "t", 3, NOW, ""), -1);
    assert_true (cw_calls_has (calls, "a@h"));
    assert_int_equal (cw_calls_count (calls), 1);

    json_t *list = cw_calls_list_own (calls);
    assert_int_equal (json_array_size (list), 1);
    json_t *call = json_array_get (list, 0);
    assert_string_equal (json_string_value (json_object_get (call, "id")), "a@h");
    assert_string_equal (json_string_value (json_object_get (call, "from")), "sip:alice@example.com");
    assert_string_equal (json_string_value (json_object_get (call, "to")), "sip:bob@example.com");
    assert_int_equal (json_integer_value (json_object_get (call, "peer")), 3);
    assert_string_equal (json_string_value (json_object_get (call, "state")), "proceeding");
    assert_string_equal (json_string_value (json_object_get (call, "started_at")), "2023-11-14T22:13:20Z");
    assert_int_equal (json_object_size (call), 6);
    json_decref (list);

    assert_int_equal (cw_calls_set_state (calls, "a@h", CW_CALL_RINGING, NOW + 1), 0);
    assert_int_equal (cw_calls_set_state (calls, "a@h", CW_CALL_CONNECTED, NOW + 2), 0);
    assert_int_equal (cw_calls_set_state (calls, "a@h", CW_CALL_RINGING, NOW + 3), 0);
    list = cw_calls_list_own (calls);
    assert_string_equal (json_string_value (json_object_get (json_array_get (list, 0), "state")), "connected");
    json_decref (list);
    assert_int_equal (cw_calls_set_state (calls, "nope", CW_CALL_RINGING, NOW), -1);

    char lease [CW_CALLS_LEASE_MAX];
    assert_false (cw_calls_end (calls, "nope", lease, sizeof lease));
    assert_string_equal (lease, "");
    assert_true (cw_calls_end (calls, "a@h", lease, sizeof lease));
    assert_string_equal (lease, "1a.7");
    assert_false (cw_calls_end (calls, "a@h", lease, sizeof lease));
    assert_int_equal (cw_calls_count (calls), 0);
    cw_calls_destroy (&calls);
    assert_null (calls);
    cw_calls_destroy (&calls);
}

typedef struct {
    char ids [8][32];
    char leases [8][32];
    int count;
} s_ended_t;

static void
s_ended (const char *id, const char *lease, void *arg)
{
    s_ended_t *ended = (s_ended_t *) arg;
    snprintf (ended->ids [ended->count], 32, "%s", id);
    snprintf (ended->leases [ended->count++], 32, "%s", lease);
}

static void
test_dialog_timeout (void **state)
{
    (void) state;
    cw_calls_t *calls = cw_calls_new ();
    cw_calls_add (calls, "quiet", "f", "t", 1, NOW, "L1");
    cw_calls_add (calls, "busy", "f", "t", 1, NOW, "L2");
    cw_calls_set_state (calls, "quiet", CW_CALL_CONNECTED, NOW);
    cw_calls_touch (calls, "busy", NOW + 50000);
    s_ended_t ended = { 0 };
    assert_int_equal (cw_calls_expire (calls, NOW + 60000, 60000, s_ended, &ended), 0);
    assert_int_equal (cw_calls_expire (calls, NOW + 60001, 60000, s_ended, &ended), 1);
    assert_int_equal (ended.count, 1);
    assert_string_equal (ended.ids [0], "quiet");
    assert_string_equal (ended.leases [0], "L1");
    assert_true (cw_calls_has (calls, "busy"));
    assert_false (cw_calls_has (calls, "quiet"));
    cw_calls_destroy (&calls);
}

static bool
s_alive (int peer, void *arg)
{
    (void) arg;
    return peer != 2;
}

static void
test_peers (void **state)
{
    (void) state;
    cw_calls_t *calls = cw_calls_new ();
    cw_calls_add (calls, "b@h", "f", "t", 1, NOW + 5, "");
    cw_calls_add (calls, "a@h", "f", "t", 1, NOW + 5, "");
    cw_calls_add (calls, "c@h", "f", "t", 1, NOW, "");
    json_t *two = json_pack ("[{s:s, s:i}]", "id", "p2", "peer", 2);
    json_t *three = json_pack ("[{s:s, s:i}, {s:s, s:i}]", "id", "p3a", "peer", 3, "id", "p3b", "peer", 3);
    assert_int_equal (cw_calls_set_remote (calls, 2, two), 0);
    assert_int_equal (cw_calls_set_remote (calls, 3, three), 0);
    assert_int_equal (cw_calls_set_remote (calls, 7, three), -1);
    assert_int_equal (cw_calls_set_remote (calls, 3, json_object_get (two, "x")), -1);
    json_decref (two);
    json_decref (three);

    //  Oldest first, then by Call-ID; peer 2 is dead: left out
    json_t *all = cw_calls_list_all (calls, 1, s_alive, NULL);
    const char *expected [] = { "c@h", "a@h", "b@h", "p3a", "p3b" };
    assert_int_equal (json_array_size (all), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal (json_string_value (json_object_get (json_array_get (all, i), "id")), expected [i]);
    json_decref (all);
    all = cw_calls_list_all (calls, 1, NULL, NULL);
    assert_int_equal (json_array_size (all), 6);
    json_decref (all);

    json_t *figures = cw_calls_figures (calls, 1, s_alive, NULL);
    assert_int_equal (json_integer_value (json_object_get (figures, "this_peer")), 3);
    json_t *per_peer = json_object_get (figures, "per_peer");
    assert_int_equal (json_integer_value (json_object_get (per_peer, "1")), 3);
    assert_null (json_object_get (per_peer, "2"));
    assert_int_equal (json_integer_value (json_object_get (per_peer, "3")), 2);
    json_decref (figures);

    //  A peer that announces no call any more
    json_t *none = json_array ();
    cw_calls_set_remote (calls, 3, none);
    json_decref (none);
    figures = cw_calls_figures (calls, 1, NULL, NULL);
    per_peer = json_object_get (figures, "per_peer");
    assert_null (json_object_get (per_peer, "3"));
    assert_int_equal (json_integer_value (json_object_get (per_peer, "2")), 1);
    json_decref (figures);
    cw_calls_destroy (&calls);
}

static void
test_flow_in_record_route (void **state)
{
    (void) state;
    char user [256], flow [128];
    assert_int_equal (cw_proxy_flow_encode ("tcp:127.0.1.101:5171", user, sizeof user), 0);
    assert_true (strncmp (user, "cwf-", 4) == 0);
    for (const char *p = user + 4; *p; p++)
        assert_true ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    assert_int_equal (cw_proxy_flow_decode (user, strlen (user), flow, sizeof flow), 0);
    assert_string_equal (flow, "tcp:127.0.1.101:5171");
    assert_int_equal (cw_proxy_flow_encode ("tls:[2001:db8::1]:5061", user, sizeof user), 0);
    assert_int_equal (cw_proxy_flow_decode (user, strlen (user), flow, sizeof flow), 0);
    assert_string_equal (flow, "tls:[2001:db8::1]:5061");

    //  Too small, not ours, odd, not hex, no colon, not printable
    assert_int_equal (cw_proxy_flow_encode ("tcp:127.0.1.101:5171", user, 10), -1);
    assert_int_equal (cw_proxy_flow_encode ("", user, sizeof user), -1);
    assert_int_equal (cw_proxy_flow_decode ("alice", 5, flow, sizeof flow), -1);
    assert_int_equal (cw_proxy_flow_decode ("cwf-747", 7, flow, sizeof flow), -1);
    assert_int_equal (cw_proxy_flow_decode ("cwf-zz3a", 8, flow, sizeof flow), -1);
    assert_int_equal (cw_proxy_flow_decode ("cwf-7463", 8, flow, sizeof flow), -1);
    assert_int_equal (cw_proxy_flow_decode ("cwf-0a3a", 8, flow, sizeof flow), -1);
    assert_int_equal (cw_proxy_flow_decode ("cwf-743a7a", 10, flow, 3), -1);
}

static void
test_answer_rank (void **state)
{
    (void) state;
    assert_true (cw_proxy_answer_rank (200) < cw_proxy_answer_rank (603));
    assert_true (cw_proxy_answer_rank (603) < cw_proxy_answer_rank (302));
    assert_true (cw_proxy_answer_rank (302) < cw_proxy_answer_rank (486));
    assert_true (cw_proxy_answer_rank (486) < cw_proxy_answer_rank (503));
    assert_int_equal (cw_proxy_answer_rank (480), cw_proxy_answer_rank (404));
    assert_true (cw_proxy_answer_rank (503) < cw_proxy_answer_rank (180));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_add_states_end), cmocka_unit_test (test_dialog_timeout),
        cmocka_unit_test (test_peers),          cmocka_unit_test (test_flow_in_record_route),
        cmocka_unit_test (test_answer_rank),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
