/*  test_envelope.c - the envelope codec: round trip, and every kind of
    malformed input is refused and counted, never crashes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "cw_envelope.h"

static void
test_round_trip (void **state)
{
    (void) state;
    zmsg_t *msg = cw_envelope_encode (CW_MSG_REQUEST, 42, "alarms", "replication", "config.get",
                                      "{\"key\":\"system.name\"}");
    assert_int_equal (zmsg_size (msg), CW_ENVELOPE_FRAMES);
    cw_envelope_t env;
    assert_int_equal (cw_envelope_decode (msg, &env, NULL, 0), 0);
    assert_int_equal (env.type, CW_MSG_REQUEST);
    assert_int_equal (env.corr, 42);
    assert_string_equal (env.from, "alarms");
    assert_string_equal (env.to, "replication");
    assert_string_equal (env.command, "config.get");
    assert_string_equal (env.body, "{\"key\":\"system.name\"}");
    cw_envelope_clear (&env);
    zmsg_destroy (&msg);
}

static void
test_null_strings_become_empty (void **state)
{
    (void) state;
    zmsg_t *msg = cw_envelope_encode (CW_MSG_HEARTBEAT, 0, NULL, NULL, NULL, NULL);
    cw_envelope_t env;
    assert_int_equal (cw_envelope_decode (msg, &env, NULL, 0), 0);
    assert_string_equal (env.from, "");
    assert_string_equal (env.body, "");
    cw_envelope_clear (&env);
    zmsg_destroy (&msg);
}

//  Replace frame INDEX of a valid envelope with DATA/SIZE and expect refusal.
static void
s_expect_malformed (int index, const void *data, size_t size, const char *reason_part)
{
    zmsg_t *valid = cw_envelope_encode (CW_MSG_EVENT, 7, "a", "*", "topic", "{}");
    zmsg_t *msg = zmsg_new ();
    int i = 0;
    for (zframe_t *f = zmsg_first (valid); f; f = zmsg_next (valid), i++)
        if (i == index)
            zmsg_addmem (msg, data, size);
        else
            zmsg_addmem (msg, zframe_data (f), zframe_size (f));
    uint64_t before = cw_envelope_malformed ();
    cw_envelope_t env;
    char err [128];
    assert_int_equal (cw_envelope_decode (msg, &env, err, sizeof err), -1);
    assert_non_null (strstr (err, reason_part));
    assert_int_equal (cw_envelope_malformed (), before + 1);
    zmsg_destroy (&msg);
    zmsg_destroy (&valid);
}

static void
test_malformed_is_refused_and_counted (void **state)
{
    (void) state;
    s_expect_malformed (0, "CWE2", 4, "signature");
    s_expect_malformed (0, "", 0, "signature");
    s_expect_malformed (1, "BOGUS", 5, "type");
    s_expect_malformed (2, "12x", 3, "correlation");
    s_expect_malformed (2, "-1", 2, "correlation");
    s_expect_malformed (2, "", 0, "correlation");
    s_expect_malformed (3, "a\0b", 3, "NUL");
    s_expect_malformed (6, "{\0}", 3, "NUL");

    //  Wrong frame counts
    uint64_t before = cw_envelope_malformed ();
    cw_envelope_t env;
    zmsg_t *short_msg = zmsg_new ();
    zmsg_addstr (short_msg, CW_ENVELOPE_SIGNATURE);
    assert_int_equal (cw_envelope_decode (short_msg, &env, NULL, 0), -1);
    zmsg_t *empty = zmsg_new ();
    assert_int_equal (cw_envelope_decode (empty, &env, NULL, 0), -1);
    assert_int_equal (cw_envelope_decode (NULL, &env, NULL, 0), -1);
    assert_int_equal (cw_envelope_malformed (), before + 3);
    zmsg_destroy (&short_msg);
    zmsg_destroy (&empty);
}

static void
test_type_names (void **state)
{
    (void) state;
    for (int t = CW_MSG_READY; t <= CW_MSG_TERM; t++)
        assert_int_equal (cw_msg_type_parse (cw_msg_type_name ((cw_msg_type_t) t)), t);
    assert_int_equal (cw_msg_type_parse ("ready"), CW_MSG_INVALID);
    assert_int_equal (cw_msg_type_parse (NULL), CW_MSG_INVALID);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_round_trip),
        cmocka_unit_test (test_null_strings_become_empty),
        cmocka_unit_test (test_malformed_is_refused_and_counted),
        cmocka_unit_test (test_type_names),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
