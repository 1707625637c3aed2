/*  test_findme.c - unit tests of the FindMe accounts table
    (actors/routing/findme.c) without an actor: rows applied, replaced and
    deleted, aliases normalised as the location table's AORs, the devices
    of the active location resolved against a set of registered AORs, the
    404 and 480 cases, unreadable rows left out.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "findme.h"

static const char *s_alice =
    "{\"id\":\"f1\",\"user\":\"u1\",\"alias\":\"alice.findme@Example.COM\","
    "\"active_location\":\"Office\",\"locations\":["
    "{\"name\":\"Office\",\"devices\":[\"alice.desk@example.com\",\"sip:alice.room@EXAMPLE.com\"]},"
    "{\"name\":\"Home\",\"devices\":[\"alice.home@example.com\"]}]}";

//  Registered: the AORs listed in ARG (a NULL-terminated array)
static bool
s_registered (const char *aor, void *arg)
{
    for (const char **p = (const char **) arg; *p; p++)
        if (strcmp (*p, aor) == 0)
            return true;
    return false;
}

static void
test_aor_is_the_location_tables_form (void **state)
{
    (void) state;
    char aor [CW_LOCATION_AOR_MAX];
    assert_int_equal (cw_findme_aor ("Bob.Desk@Example.COM", aor, sizeof aor), 0);
    assert_string_equal (aor, "sip:Bob.Desk@example.com");
    assert_int_equal (cw_findme_aor ("sip:bob@example.com", aor, sizeof aor), 0);
    assert_string_equal (aor, "sip:bob@example.com");
    assert_int_equal (cw_findme_aor ("example.com", aor, sizeof aor), -1);
    assert_int_equal (cw_findme_aor ("@example.com", aor, sizeof aor), -1);
    assert_int_equal (cw_findme_aor ("bob@", aor, sizeof aor), -1);
    assert_int_equal (cw_findme_aor ("bo b@example.com", aor, sizeof aor), -1);
}

static void
test_rings_the_registered_devices_of_the_active_location (void **state)
{
    (void) state;
    cw_findme_t *findme = cw_findme_new (NULL);
    assert_non_null (findme);
    assert_int_equal (cw_findme_apply (findme, "f1", s_alice), 0);
    assert_int_equal (cw_findme_count (findme), 1);
    cw_findme_result_t result;
    //  Not a FindMe alias (a device, another user)
    assert_false (cw_findme_resolve (findme, "sip:alice.desk@example.com", NULL, NULL, &result));
    const char *both [] = { "sip:alice.desk@example.com", "sip:alice.room@example.com", NULL };
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, both, &result));
    assert_int_equal (result.scode, 0);
    assert_string_equal (result.id, "f1");
    assert_string_equal (result.location, "Office");
    assert_int_equal (result.count, 2);
    assert_int_equal (result.registered, 2);
    assert_string_equal (result.devices [0].aor, "sip:alice.desk@example.com");
    assert_string_equal (result.devices [1].aor, "sip:alice.room@example.com");
    //  One registered: that one only
    const char *one [] = { "sip:alice.room@example.com", "sip:alice.home@example.com", NULL };
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, one, &result));
    assert_int_equal (result.scode, 0);
    assert_int_equal (result.registered, 1);
    assert_false (result.devices [0].registered);
    assert_true (result.devices [1].registered);
    //  The step lists every device of the location
    json_t *step = cw_findme_step (&result);
    assert_string_equal (json_string_value (json_object_get (step, "step")), "findme");
    assert_string_equal (json_string_value (json_object_get (step, "alias")), "alice.findme@example.com");
    assert_int_equal (json_array_size (json_object_get (step, "devices")), 2);
    assert_string_equal (json_string_value (
                             json_object_get (json_array_get (json_object_get (step, "devices"), 1), "alias")),
                         "alice.room@example.com");
    json_decref (step);
    cw_findme_destroy (&findme);
    assert_null (findme);
}

static void
test_none_registered_480_missing_location_404 (void **state)
{
    (void) state;
    cw_findme_t *findme = cw_findme_new (NULL);
    assert_int_equal (cw_findme_apply (findme, "f1", s_alice), 0);
    cw_findme_result_t result;
    const char *home [] = { "sip:alice.home@example.com", NULL };
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, home, &result));
    assert_int_equal (result.scode, 480);
    assert_non_null (strstr (result.warning, "no device of location 'Office' is registered"));
    //  The active location changes (a new put): Home rings
    char *moved = strdup (s_alice);
    memcpy (strstr (moved, "\"Office\",\"locations\""), "\"Home\"  ", 8);
    assert_int_equal (cw_findme_apply (findme, "f1", moved), 0);
    assert_int_equal (cw_findme_count (findme), 1);
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, home, &result));
    assert_int_equal (result.scode, 0);
    assert_string_equal (result.location, "Home");
    assert_string_equal (result.devices [0].aor, "sip:alice.home@example.com");
    free (moved);
    //  An active location the account does not have: 404
    assert_int_equal (cw_findme_apply (findme, "f1",
                                       "{\"id\":\"f1\",\"alias\":\"alice.findme@example.com\","
                                       "\"active_location\":\"Mars\",\"locations\":[{\"name\":\"Home\","
                                       "\"devices\":[\"alice.home@example.com\"]}]}"),
                      0);
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, home, &result));
    assert_int_equal (result.scode, 404);
    assert_non_null (strstr (result.warning, "has no location 'Mars'"));
    assert_int_equal (cw_findme_apply (findme, "f1", "{\"id\":\"f1\",\"alias\":\"alice.findme@example.com\"}"), 0);
    assert_true (cw_findme_resolve (findme, "sip:alice.findme@example.com", s_registered, home, &result));
    assert_int_equal (result.scode, 404);
    assert_non_null (strstr (result.warning, "has no active location"));
    cw_findme_destroy (&findme);
}

static void
test_replace_delete_and_unreadable_rows (void **state)
{
    (void) state;
    cw_findme_t *findme = cw_findme_new (NULL);
    cw_findme_result_t result;
    assert_int_equal (cw_findme_apply (findme, "f1", s_alice), 0);
    //  The alias changes: the old one is no FindMe alias any more
    assert_int_equal (cw_findme_apply (findme, "f1",
                                       "{\"id\":\"f1\",\"alias\":\"ally@example.com\",\"active_location\":\"A\","
                                       "\"locations\":[{\"name\":\"A\",\"devices\":[\"a@example.com\"]}]}"),
                      0);
    assert_false (cw_findme_resolve (findme, "sip:alice.findme@example.com", NULL, NULL, &result));
    assert_true (cw_findme_resolve (findme, "sip:ally@example.com", NULL, NULL, &result));
    assert_int_equal (result.scode, 480);
    //  Unreadable: not JSON, no alias, a device that is no alias; the row
    //  it replaced goes
    assert_int_equal (cw_findme_apply (findme, "f2", "not json"), -1);
    assert_int_equal (cw_findme_apply (findme, "f2", "{\"id\":\"f2\"}"), -1);
    assert_int_equal (cw_findme_apply (findme, "f1",
                                       "{\"alias\":\"ally@example.com\",\"locations\":[{\"name\":\"A\","
                                       "\"devices\":[\"no-domain\"]}]}"),
                      -1);
    assert_int_equal (cw_findme_count (findme), 0);
    assert_false (cw_findme_resolve (findme, "sip:ally@example.com", NULL, NULL, &result));
    //  Deleted
    assert_int_equal (cw_findme_apply (findme, "f1", s_alice), 0);
    assert_int_equal (cw_findme_apply (findme, "f1", NULL), 0);
    assert_int_equal (cw_findme_count (findme), 0);
    assert_false (cw_findme_resolve (findme, "sip:alice.findme@example.com", NULL, NULL, &result));
    cw_findme_destroy (&findme);
}

static void
test_many_accounts (void **state)
{
    (void) state;
    cw_findme_t *findme = cw_findme_new (NULL);
    char key [32], value [512], aor [CW_LOCATION_AOR_MAX];
    for (int n = 0; n < 20000; n++) {
        snprintf (key, sizeof key, "f%06d", n);
        snprintf (value, sizeof value,
                  "{\"id\":\"%s\",\"alias\":\"user%06d.findme@example.com\",\"active_location\":\"Office\","
                  "\"locations\":[{\"name\":\"Office\",\"devices\":[\"user%06d.desk@example.com\"]}]}",
                  key, n, n);
        assert_int_equal (cw_findme_apply (findme, key, value), 0);
    }
    assert_int_equal (cw_findme_count (findme), 20000);
    cw_findme_result_t result;
    snprintf (aor, sizeof aor, "sip:user%06d.findme@example.com", 12345);
    assert_true (cw_findme_resolve (findme, aor, NULL, NULL, &result));
    assert_string_equal (result.id, "f012345");
    assert_string_equal (result.devices [0].aor, "sip:user012345.desk@example.com");
    for (int n = 0; n < 20000; n += 2) {
        snprintf (key, sizeof key, "f%06d", n);
        cw_findme_apply (findme, key, NULL);
    }
    assert_int_equal (cw_findme_count (findme), 10000);
    //  The index holds every one left, and none removed
    for (int n = 0; n < 20000; n++) {
        snprintf (aor, sizeof aor, "sip:user%06d.findme@example.com", n);
        assert_true (cw_findme_resolve (findme, aor, NULL, NULL, &result) == (n % 2 == 1));
    }
    //  Put again: replaced in place, the count unchanged
    for (int n = 1; n < 20000; n += 2) {
        snprintf (key, sizeof key, "f%06d", n);
        snprintf (value, sizeof value,
                  "{\"id\":\"%s\",\"alias\":\"user%06d.findme@example.com\",\"active_location\":\"Home\","
                  "\"locations\":[{\"name\":\"Home\",\"devices\":[\"user%06d.home@example.com\"]}]}",
                  key, n, n);
        assert_int_equal (cw_findme_apply (findme, key, value), 0);
    }
    assert_int_equal (cw_findme_count (findme), 10000);
    assert_true (cw_findme_resolve (findme, "sip:user019999.findme@example.com", NULL, NULL, &result));
    assert_string_equal (result.location, "Home");
    cw_findme_destroy (&findme);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_aor_is_the_location_tables_form),
        cmocka_unit_test (test_rings_the_registered_devices_of_the_active_location),
        cmocka_unit_test (test_none_registered_480_missing_location_404),
        cmocka_unit_test (test_replace_delete_and_unreadable_rows),
        cmocka_unit_test (test_many_accounts),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
