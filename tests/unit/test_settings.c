/*  test_settings.c - unit tests of the clustering settings
    (actors/replication/cluster/settings.c): when two addresses name the
    same peer, finding and removing slots, the JSON form, storing and
    reading back the five keys on a real configuration store in a
    temporary folder, the address mapping, and a node's own slot.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_log.h"
#include "settings.h"

static cw_cluster_settings_t
s_three (void)
{
    cw_cluster_settings_t s;
    memset (&s, 0, sizeof s);
    strcpy (s.name, "cluster.example.com");
    s.primary = 3;
    s.ip_version = 4;
    strcpy (s.tls_verify, "enforce");
    strcpy (s.peers [0], "10.0.0.1");
    strcpy (s.peers [1], "peer2.example.com");
    strcpy (s.peers [2], "10.0.0.3");
    s.peer_count = 3;
    return s;
}

static void
test_same_address (void **state)
{
    (void) state;
    assert_true (cw_settings_same_address ("10.0.0.1", "10.0.0.1"));
    assert_false (cw_settings_same_address ("10.0.0.1", "10.0.0.2"));
    //  IP literals compare in canonical form
    assert_true (cw_settings_same_address ("::1", "0:0:0:0:0:0:0:1"));
    assert_true (cw_settings_same_address ("2001:db8::1", "2001:DB8:0::1"));
    //  Names regardless of case and of a trailing dot
    assert_true (cw_settings_same_address ("Peer1.Example.com.", "peer1.example.com"));
    assert_false (cw_settings_same_address ("peer1.example.com", "peer2.example.com"));
    assert_false (cw_settings_same_address ("peer1.example.com", "peer1.example.co"));
    //  A name is not its address
    assert_false (cw_settings_same_address ("localhost", "127.0.0.1"));
}

static void
test_index_of_and_address (void **state)
{
    (void) state;
    cw_cluster_settings_t s = s_three ();
    assert_int_equal (cw_settings_index_of (&s, "10.0.0.1"), 1);
    assert_int_equal (cw_settings_index_of (&s, "PEER2.example.com."), 2);
    assert_int_equal (cw_settings_index_of (&s, "10.0.0.3"), 3);
    assert_int_equal (cw_settings_index_of (&s, "10.0.0.4"), 0);
    assert_string_equal (cw_settings_address (&s, 2), "peer2.example.com");
    assert_string_equal (cw_settings_address (&s, 0), "?");
    assert_string_equal (cw_settings_address (&s, 4), "?");
}

static void
test_remove_slot (void **state)
{
    (void) state;
    cw_cluster_settings_t s = s_three ();
    //  The primary (peer 3) moves up with its address
    cw_settings_remove_slot (&s, 2);
    assert_int_equal (s.peer_count, 2);
    assert_string_equal (s.peers [0], "10.0.0.1");
    assert_string_equal (s.peers [1], "10.0.0.3");
    assert_string_equal (s.peers [2], "");
    assert_int_equal (s.primary, 2);
    //  Out of range: nothing changes
    cw_settings_remove_slot (&s, 3);
    cw_settings_remove_slot (&s, 0);
    assert_int_equal (s.peer_count, 2);
    //  A primary before the removed slot stays
    s.primary = 1;
    cw_settings_remove_slot (&s, 2);
    assert_int_equal (s.peer_count, 1);
    assert_int_equal (s.primary, 1);
    assert_string_equal (s.peers [0], "10.0.0.1");
}

static void
test_json_round_trip (void **state)
{
    (void) state;
    cw_cluster_settings_t s = s_three (), back;
    json_t *json = cw_settings_json (&s);
    assert_string_equal (json_string_value (json_object_get (json, "name")), "cluster.example.com");
    assert_int_equal (json_integer_value (json_object_get (json, "primary")), 3);
    assert_int_equal (json_array_size (json_object_get (json, "peers")), 3);
    cw_settings_from_json (json, &back);
    json_decref (json);
    assert_memory_equal (&s, &back, sizeof s);

    //  Unset ip_version and tls_verify are written as their defaults
    cw_cluster_settings_t empty;
    memset (&empty, 0, sizeof empty);
    json = cw_settings_json (&empty);
    assert_int_equal (json_integer_value (json_object_get (json, "ip_version")), 4);
    assert_string_equal (json_string_value (json_object_get (json, "tls_verify")), "permissive");
    json_decref (json);

    //  Missing fields read as empty; extra peers beyond six are dropped
    json = json_loads ("{\"peers\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\"]}", 0, NULL);
    cw_settings_from_json (json, &back);
    json_decref (json);
    assert_int_equal (back.peer_count, 6);
    assert_string_equal (back.name, "");
    assert_int_equal (back.primary, 0);
}

// ---------------------------------------------------------------------------
//  On a real store

typedef struct {
    char dir [64];
    cw_config_store_t *store;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/cw-test-settings-XXXXXX");
    if (!mkdtemp (fx->dir))
        return -1;
    char err [256];
    fx->store = cw_config_store_new (fx->dir, "peer1", err, sizeof err);
    if (!fx->store) {
        fprintf (stderr, "store: %s\n", err);
        return -1;
    }
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = *state;
    cw_config_store_destroy (&fx->store);
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", fx->dir);
    if (system (command) != 0)
        return -1;
    free (fx);
    return 0;
}

static void
test_store_round_trip (void **state)
{
    s_fixture_t *fx = *state;
    cw_cluster_settings_t s = s_three (), back;
    //  Nothing stored: the registry's defaults
    cw_settings_stored (fx->store, &back);
    assert_int_equal (back.peer_count, 0);
    assert_int_equal (back.primary, 1);
    assert_int_equal (back.ip_version, 4);
    assert_string_equal (back.tls_verify, "permissive");

    char err [256];
    assert_int_equal (cw_settings_store (fx->store, &s, err, sizeof err), 0);
    cw_settings_stored (fx->store, &back);
    assert_memory_equal (&s, &back, sizeof s);
    //  As an administrator would read them
    char text [64];
    assert_string_equal (cw_config_store_text (fx->store, "cluster.tls_verify", text, sizeof text), "enforce");
    assert_string_equal (cw_config_store_text (fx->store, "cluster.primary", text, sizeof text), "3");
}

static void
test_store_refuses_bad_settings (void **state)
{
    s_fixture_t *fx = *state;
    cw_cluster_settings_t good = s_three (), bad = s_three (), back;
    char err [256];
    assert_int_equal (cw_settings_store (fx->store, &good, err, sizeof err), 0);
    //  One bad key: nothing is written, the reason is given
    strcpy (bad.tls_verify, "sometimes");
    strcpy (bad.name, "other.example.com");
    err [0] = 0;
    assert_int_equal (cw_settings_check (&bad, err, sizeof err), -1);
    assert_true (strlen (err) > 0);
    assert_int_equal (cw_settings_store (fx->store, &bad, err, sizeof err), -1);
    cw_settings_stored (fx->store, &back);
    assert_string_equal (back.name, "cluster.example.com");
    assert_string_equal (back.tls_verify, "enforce");
    bad = s_three ();
    bad.primary = 7;
    assert_int_equal (cw_settings_check (&bad, err, sizeof err), -1);
}

static void
s_set (cw_config_store_t *store, const char *name, const char *json_text)
{
    char err [256];
    json_t *value = json_loads (json_text, JSON_DECODE_ANY, NULL);
    assert_non_null (value);
    if (cw_config_store_set_named (store, name, value, err, sizeof err))
        fail_msg ("set %s: %s", name, err);
    json_decref (value);
}

static void
test_mapping (void **state)
{
    s_fixture_t *fx = *state;
    cw_mapping_t mapping;
    s_set (fx->store, "cluster.address_mapping", "[\"peer2.example.com=10.0.0.2\", \"peer4.example.com=10.0.0.4\"]");
    //  Entries exist but the mapping is off: none in effect
    cw_settings_mapping (fx->store, &mapping);
    assert_int_equal (mapping.count, 0);
    s_set (fx->store, "cluster.address_mapping.enabled", "\"on\"");
    cw_settings_mapping (fx->store, &mapping);
    assert_int_equal (mapping.count, 2);
    assert_string_equal (mapping.items [0].fqdn, "peer2.example.com");
    assert_string_equal (mapping.items [0].ip, "10.0.0.2");
    assert_string_equal (mapping.items [1].fqdn, "peer4.example.com");
    //  The items point into the struct's own texts
    assert_ptr_equal (mapping.items [1].ip, mapping.texts [1][1]);
    //  Off again: none in effect
    s_set (fx->store, "cluster.address_mapping.enabled", "\"off\"");
    cw_settings_mapping (fx->store, &mapping);
    assert_int_equal (mapping.count, 0);
}

static void
test_own_index (void **state)
{
    s_fixture_t *fx = *state;
    cw_cluster_settings_t s = s_three ();
    cw_mapping_t mapping;
    cw_settings_mapping (fx->store, &mapping);
    assert_int_equal (cw_settings_own_index (&s, "10.0.0.1", &mapping), 1);
    assert_int_equal (cw_settings_own_index (&s, "10.0.0.3", &mapping), 3);
    assert_int_equal (cw_settings_own_index (&s, "10.0.0.9", &mapping), 0);
    assert_int_equal (cw_settings_own_index (&s, "", &mapping), 0);
    //  peer2.example.com is ours once the mapping says it resolves to us
    assert_int_equal (cw_settings_own_index (&s, "10.0.0.2", &mapping), 0);
    s_set (fx->store, "cluster.address_mapping", "[\"peer2.example.com=10.0.0.2\"]");
    s_set (fx->store, "cluster.address_mapping.enabled", "\"on\"");
    cw_settings_mapping (fx->store, &mapping);
    assert_int_equal (cw_settings_own_index (&s, "10.0.0.2", &mapping), 2);
    //  A peering address given as a name matches its slot by name
    assert_int_equal (cw_settings_own_index (&s, "Peer2.Example.com.", &mapping), 2);
}

int
main (void)
{
    cw_log_init ("test_settings", CW_LOG_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_same_address),
        cmocka_unit_test (test_index_of_and_address),
        cmocka_unit_test (test_remove_slot),
        cmocka_unit_test (test_json_round_trip),
        cmocka_unit_test_setup_teardown (test_store_round_trip, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_store_refuses_bad_settings, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_mapping, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_own_index, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
