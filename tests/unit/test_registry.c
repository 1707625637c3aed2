/*  test_registry.c - unit tests of the configuration key registry
    (actors/replication/store/registry.c): the documented keys, their
    defaults, and the normalisation and error messages of every type.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "registry.h"

//  Normalise JSON text VALUE_JSON for KEY; returns the compact JSON text
//  of the result (caller frees) or NULL with the message in ERR.
static char *
s_norm (const char *key_name, const char *value_json, char *err, size_t errlen)
{
    const cw_config_key_t *key = cw_registry_lookup (key_name);
    assert_non_null (key);
    json_error_t jerr;
    json_t *value = json_loads (value_json, JSON_DECODE_ANY, &jerr);
    assert_non_null (value);
    json_t *out = cw_registry_normalize (key, value, err, errlen);
    json_decref (value);
    if (!out)
        return NULL;
    char *text = json_dumps (out, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref (out);
    return text;
}

static void
s_expect (const char *key, const char *value_json, const char *expected)
{
    char err [512] = "";
    char *got = s_norm (key, value_json, err, sizeof (err));
    if (!got)
        fail_msg ("%s = %s refused: %s", key, value_json, err);
    assert_string_equal (got, expected);
    free (got);
}

static void
s_refuse (const char *key, const char *value_json, const char *message_part)
{
    char err [512] = "";
    char *got = s_norm (key, value_json, err, sizeof (err));
    if (got)
        fail_msg ("%s = %s accepted as %s", key, value_json, got);
    if (!strstr (err, message_part))
        fail_msg ("%s = %s: message '%s' lacks '%s'", key, value_json, err, message_part);
    //  every refusal says what is allowed
    assert_non_null (strstr (err, "; allowed: "));
    assert_true (strncmp (err, key, strlen (key)) == 0);
}

static void
test_required_keys (void **state)
{
    (void) state;
    struct {
        const char *name;
        cw_scope_t scope;
    } want [] = {
        { "system.name", CW_SCOPE_PEER },  { "dns.hostname", CW_SCOPE_PEER },
        { "dns.domain", CW_SCOPE_PEER },   { "dns.servers", CW_SCOPE_PEER },
        { "ntp.servers", CW_SCOPE_PEER },  { "maintenance.mode", CW_SCOPE_PEER },
        { "h323.mode", CW_SCOPE_CLUSTER }, { "h323.ttl_s", CW_SCOPE_CLUSTER },
        { "sip.mode", CW_SCOPE_CLUSTER },  { "call_routing.signaling_optimization", CW_SCOPE_CLUSTER },
    };
    for (size_t i = 0; i < sizeof (want) / sizeof (want [0]); i++) {
        const cw_config_key_t *key = cw_registry_lookup (want [i].name);
        if (!key)
            fail_msg ("key %s missing", want [i].name);
        assert_int_equal (key->scope, want [i].scope);
        assert_non_null (key->description);
    }
    assert_null (cw_registry_lookup ("no.such.key"));
    assert_null (cw_registry_lookup (NULL));
    assert_string_equal (cw_scope_name (CW_SCOPE_PEER), "peer");
    assert_string_equal (cw_scope_name (CW_SCOPE_CLUSTER), "cluster");
}

static void
test_sorted_and_unique (void **state)
{
    (void) state;
    size_t count;
    const cw_config_key_t *const *sorted = cw_registry_sorted (&count);
    assert_true (count >= 10);
    for (size_t i = 1; i < count; i++)
        assert_true (strcmp (sorted [i - 1]->name, sorted [i]->name) < 0);    //  also: no duplicates
}

static void
test_defaults (void **state)
{
    (void) state;
    struct {
        const char *key, *json;
    } want [] = {
        { "dns.hostname", "\"\"" },
        { "dns.domain", "\"\"" },
        { "dns.servers", "[]" },
        { "ntp.servers", "[]" },
        { "maintenance.mode", "\"off\"" },
        { "h323.mode", "\"on\"" },
        { "h323.ttl_s", "1800" },
        { "sip.mode", "\"on\"" },
        { "call_routing.signaling_optimization", "\"off\"" },
    };
    for (size_t i = 0; i < sizeof (want) / sizeof (want [0]); i++) {
        json_t *value = cw_registry_default (cw_registry_lookup (want [i].key), "peer1");
        char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
        if (strcmp (text, want [i].json) != 0)
            fail_msg ("default of %s is %s, want %s", want [i].key, text, want [i].json);
        free (text);
        json_decref (value);
    }
    json_t *name = cw_registry_default (cw_registry_lookup ("system.name"), "node-a");
    assert_string_equal (json_string_value (name), "node-a");
    json_decref (name);
}

static void
test_every_default_is_valid (void **state)
{
    (void) state;
    size_t count;
    const cw_config_key_t *keys = cw_registry_keys (&count);
    for (size_t i = 0; i < count; i++) {
        json_t *value = cw_registry_default (&keys [i], "peer1");
        char err [512];
        json_t *out = cw_registry_normalize (&keys [i], value, err, sizeof (err));
        if (!out)
            fail_msg ("default of %s does not pass its own check: %s", keys [i].name, err);
        assert_true (json_equal (out, value));
        json_decref (out);
        json_decref (value);
    }
}

static void
test_boolean (void **state)
{
    (void) state;
    s_expect ("maintenance.mode", "true", "\"on\"");
    s_expect ("maintenance.mode", "false", "\"off\"");
    s_expect ("maintenance.mode", "\"on\"", "\"on\"");
    s_expect ("maintenance.mode", "\"OFF\"", "\"off\"");
    char err [512];
    assert_null (s_norm ("maintenance.mode", "\"maybe\"", err, sizeof (err)));
    assert_string_equal (err, "maintenance.mode: 'maybe' is not allowed; allowed: on, off");
    s_refuse ("h323.mode", "1", "1 is not allowed");
    s_refuse ("h323.mode", "\"yes\"", "'yes' is not allowed");
    s_refuse ("sip.mode", "[]", "is not allowed");
    s_refuse ("sip.mode", "null", "a value is required");
}

static void
test_integer (void **state)
{
    (void) state;
    s_expect ("h323.ttl_s", "60", "60");
    s_expect ("h323.ttl_s", "65534", "65534");
    s_expect ("h323.ttl_s", "\"3600\"", "3600");
    s_expect ("h323.ttl_s", "\" 120 \"", "120");
    char err [512];
    assert_null (s_norm ("h323.ttl_s", "5", err, sizeof (err)));
    assert_string_equal (err, "h323.ttl_s: 5 is out of range; allowed: integer 60..65534");
    s_refuse ("h323.ttl_s", "59", "59 is out of range");
    s_refuse ("h323.ttl_s", "65535", "65535 is out of range");
    s_refuse ("h323.ttl_s", "\"5\"", "5 is out of range");
    s_refuse ("h323.ttl_s", "\"abc\"", "'abc' is not allowed");
    s_refuse ("h323.ttl_s", "\"12abc\"", "'12abc' is not allowed");
    s_refuse ("h323.ttl_s", "\"\"", "'' is not allowed");
    s_refuse ("h323.ttl_s", "100.5", "is not allowed");
    s_refuse ("h323.ttl_s", "true", "true is not allowed");
    s_refuse ("h323.ttl_s", "\"99999999999999999999999\"", "is not allowed");
}

static void
test_string (void **state)
{
    (void) state;
    s_expect ("system.name", "\"Tokyo VCS 1\"", "\"Tokyo VCS 1\"");
    s_expect ("system.name", "\"caf\\u00e9\"", "\"caf\xc3\xa9\"");
    char name63 [64], name64 [65], json [80];
    memset (name63, 'a', 63);
    name63 [63] = 0;
    memset (name64, 'a', 64);
    name64 [64] = 0;
    snprintf (json, sizeof (json), "\"%s\"", name63);
    char *got = s_norm ("system.name", json, NULL, 0);
    assert_non_null (got);
    free (got);
    snprintf (json, sizeof (json), "\"%s\"", name64);
    s_refuse ("system.name", json, "is too long");
    s_refuse ("system.name", "\"\"", "'' is too short");
    s_refuse ("system.name", "\"a\\tb\"", "control character");
    json_t *nul = json_stringn ("a\0b", 3);
    char err [512];
    assert_null (cw_registry_normalize (cw_registry_lookup ("system.name"), nul, err, sizeof (err)));
    assert_non_null (strstr (err, "NUL"));
    json_decref (nul);
    s_refuse ("system.name", "42", "42 is not allowed");
}

static void
test_hostname_and_fqdn (void **state)
{
    (void) state;
    s_expect ("dns.hostname", "\"peer-1\"", "\"peer-1\"");
    s_expect ("dns.hostname", "\"\"", "\"\"");
    s_refuse ("dns.hostname", "\"-peer\"", "'-peer' is not allowed");
    s_refuse ("dns.hostname", "\"peer-\"", "is not allowed");
    s_refuse ("dns.hostname", "\"a.b\"", "is not allowed");
    s_refuse ("dns.hostname", "\"pe_er\"", "is not allowed");
    s_expect ("dns.domain", "\"example.com\"", "\"example.com\"");
    s_expect ("dns.domain", "\"Example.COM.\"", "\"Example.COM\"");
    s_expect ("dns.domain", "\"\"", "\"\"");
    s_refuse ("dns.domain", "\"example\"", "is not allowed");
    s_refuse ("dns.domain", "\"a..com\"", "is not allowed");
    s_refuse ("dns.domain", "\"1.2.3.4\"", "is not allowed");
    s_refuse ("dns.domain", "\"exa mple.com\"", "is not allowed");
    assert_true (cw_valid_fqdn ("a.b"));
    assert_false (cw_valid_fqdn (NULL));
    char long_name [300];
    memset (long_name, 0, sizeof (long_name));
    for (int i = 0; i < 5; i++)
        strcat (long_name, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.");    //  51 x 5 = 255
    strcat (long_name, "com");
    assert_false (cw_valid_fqdn (long_name));
    assert_false (
        cw_valid_hostname_label ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));    //  64
}

static void
test_ip_list (void **state)
{
    (void) state;
    s_expect ("dns.servers", "\"127.0.1.1,127.0.1.2\"", "[\"127.0.1.1\",\"127.0.1.2\"]");
    s_expect ("dns.servers", "\"\"", "[]");
    s_expect ("dns.servers", "\"  \"", "[]");
    s_expect ("dns.servers", "[]", "[]");
    s_expect ("dns.servers", "\" 10.0.0.1 , 2001:DB8:0:0::0001\"", "[\"10.0.0.1\",\"2001:db8::1\"]");
    s_expect ("dns.servers", "[\"192.0.2.1\", \"::1\"]", "[\"192.0.2.1\",\"::1\"]");
    s_expect ("dns.servers", "\"1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5\"",
              "[\"1.1.1.1\",\"1.1.1.2\",\"1.1.1.3\",\"1.1.1.4\",\"1.1.1.5\"]");
    char err [512];
    assert_null (s_norm ("dns.servers", "\"1.2.3.999\"", err, sizeof (err)));
    assert_string_equal (err, "dns.servers: '1.2.3.999' is not allowed; allowed: "
                              "list of at most 5 IP addresses (v4 or v6), comma-separated (\"\" for none)");
    s_refuse ("dns.servers", "\"1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6\"", "has 6 items, too many");
    s_refuse ("dns.servers", "\"1.1.1.1,,1.1.1.2\"", "'' is not allowed");
    s_refuse ("dns.servers", "\"1.1.1.1,1.1.1.1\"", "'1.1.1.1' is listed twice");
    s_refuse ("dns.servers", "\"example.com\"", "'example.com' is not allowed");
    s_refuse ("dns.servers", "[1]", "1 is not allowed");
    s_refuse ("dns.servers", "{}", "is not allowed");
    s_refuse ("dns.servers", "5", "5 is not allowed");
}

static void
test_host_list (void **state)
{
    (void) state;
    s_expect ("ntp.servers", "\"pool.ntp.org,192.0.2.10\"", "[\"pool.ntp.org\",\"192.0.2.10\"]");
    s_expect ("ntp.servers", "[\"ntp1.example.com.\"]", "[\"ntp1.example.com\"]");
    s_refuse ("ntp.servers", "\"ntp\"", "'ntp' is not allowed");
    s_refuse ("ntp.servers", "\"300.1.1.1\"", "'300.1.1.1' is not allowed");
}

static void
test_enum (void **state)
{
    (void) state;
    //  The first enum key: cluster.tls_verify.
    cw_config_key_t key = { "cluster.tls_verify", CW_SCOPE_PEER,      CW_TYPE_ENUM,     0,      0,    0,
                            "permissive|enforce", CW_DEFAULT_LITERAL, "\"permissive\"", "test", false };
    json_t *value = json_string ("Enforce");
    char err [256];
    json_t *out = cw_registry_normalize (&key, value, err, sizeof (err));
    assert_non_null (out);
    assert_string_equal (json_string_value (out), "enforce");
    json_decref (out);
    json_decref (value);
    value = json_string ("strict");
    assert_null (cw_registry_normalize (&key, value, err, sizeof (err)));
    assert_string_equal (err, "cluster.tls_verify: 'strict' is not allowed; allowed: permissive, enforce");
    json_decref (value);
    cw_config_key_t version = { "cluster.ip_version", CW_SCOPE_PEER, CW_TYPE_ENUM, 0,    0, 0, "4|6",
                                CW_DEFAULT_LITERAL,   "\"4\"",       "test",       false };
    value = json_integer (6);
    out = cw_registry_normalize (&version, value, err, sizeof (err));
    assert_non_null (out);
    assert_string_equal (json_string_value (out), "6");
    json_decref (out);
    json_decref (value);
}

static void
test_unknown_key_message (void **state)
{
    (void) state;
    char msg [512];
    cw_registry_unknown_message ("zzzzzzzz", msg, sizeof (msg));
    assert_string_equal (msg, "unknown key 'zzzzzzzz'");
    cw_registry_unknown_message ("h323.ttl", msg, sizeof (msg));
    assert_string_equal (msg, "unknown key 'h323.ttl'; did you mean 'h323.ttl_s'?");
    cw_registry_unknown_message ("dns", msg, sizeof (msg));
    assert_non_null (strstr (msg, "'dns.domain'"));
    assert_non_null (strstr (msg, "'dns.servers'"));
    cw_registry_unknown_message ("maintenance.mod", msg, sizeof (msg));
    assert_non_null (strstr (msg, "did you mean 'maintenance.mode'"));
    cw_registry_unknown_message (NULL, msg, sizeof (msg));
    assert_string_equal (msg, "unknown key ''");
    char tiny [8];
    cw_registry_unknown_message ("h323.ttl", tiny, sizeof (tiny));    //  truncates, no overflow
    assert_int_equal (strlen (tiny), 7);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_required_keys), cmocka_unit_test (test_sorted_and_unique),
        cmocka_unit_test (test_defaults),      cmocka_unit_test (test_every_default_is_valid),
        cmocka_unit_test (test_boolean),       cmocka_unit_test (test_integer),
        cmocka_unit_test (test_string),        cmocka_unit_test (test_hostname_and_fqdn),
        cmocka_unit_test (test_ip_list),       cmocka_unit_test (test_host_list),
        cmocka_unit_test (test_enum),          cmocka_unit_test (test_unknown_key_message),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
