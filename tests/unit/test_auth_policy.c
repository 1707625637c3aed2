/*  test_auth_policy.c - unit tests of the registration restriction policy
    (actors/routing/policy.c) and of its configuration keys in the
    registry (sip.registration.allow/deny, sip.auth.realm,
    sip.auth.required): pattern kinds, deny over allow, the reasons, the
    alias of an AOR, broken patterns failing closed.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "policy.h"
#include "registry.h"

static void
s_set (cw_policy_t *policy, bool allow, const char *json)
{
    json_t *list = json_loads (json, 0, NULL);
    assert_non_null (list);
    char err [256];
    assert_int_equal (cw_policy_set (policy, allow, list, err, sizeof err), 0);
    json_decref (list);
}

static void
s_expect (cw_policy_t *policy, const char *aor, bool allowed, const char *reason_part)
{
    char reason [512] = "";
    bool got = cw_policy_check (policy, aor, reason, sizeof reason);
    if (got != allowed)
        fail_msg ("%s: %s (%s)", aor, got ? "allowed" : "refused", reason);
    if (reason_part && !strstr (reason, reason_part))
        fail_msg ("%s: reason '%s' lacks '%s'", aor, reason, reason_part);
}

static void
test_alias (void **state)
{
    (void) state;
    char alias [64];
    assert_string_equal (cw_policy_alias ("sip:Alice@Example.com;transport=tcp", alias, sizeof alias),
                         "Alice@Example.com");
    assert_string_equal (cw_policy_alias ("SIPS:bob@example.com?subject=x", alias, sizeof alias), "bob@example.com");
    assert_string_equal (cw_policy_alias ("carol@example.com", alias, sizeof alias), "carol@example.com");
    assert_string_equal (cw_policy_alias (NULL, alias, sizeof alias), "");
    assert_string_equal (cw_policy_alias ("sip:averyveryverylongname@example.com", alias, 8), "averyve");
}

static void
test_empty_allows_all (void **state)
{
    (void) state;
    cw_policy_t *policy = cw_policy_new ();
    s_expect (policy, "sip:anyone@example.com", true, "sip.registration.allow is empty");
    s_set (policy, true, "[]");
    s_set (policy, false, "[]");
    s_expect (policy, "sip:anyone@example.com", true, NULL);
    cw_policy_destroy (&policy);
    cw_policy_destroy (&policy);
    assert_null (policy);
}

static void
test_kinds (void **state)
{
    (void) state;
    cw_policy_t *policy = cw_policy_new ();
    s_set (
        policy, true,
        "[\"alice@example.com\", \"room-*\", \"*@video.example.com\", \"*lobby*\", \"re:[0-9]{4}@example\\\\.com\"]");
    //  exact, without regard to case
    s_expect (policy, "sip:ALICE@example.com", true, "allowed by 'alice@example.com'");
    s_expect (policy, "sip:alice@example.co", false, "matches no pattern of sip.registration.allow");
    s_expect (policy, "sip:xalice@example.com", false, NULL);
    //  prefix, suffix, contains
    s_expect (policy, "sip:Room-12@example.com", true, "allowed by 'room-*'");
    s_expect (policy, "sip:x@video.example.com", true, "'*@video.example.com'");
    s_expect (policy, "sip:x@evil-video.example.com.attacker", false, NULL);
    s_expect (policy, "sip:main-LOBBY-3@example.com", true, "'*lobby*'");
    //  a regular expression matches the whole alias only
    s_expect (policy, "sip:1234@example.com", true, "'re:[0-9]{4}@example\\.com'");
    s_expect (policy, "sip:12345@example.com", false, NULL);
    s_expect (policy, "sip:1234@example.com.evil", false, NULL);
    s_expect (policy, "sip:1234@exampleXcom", false, NULL);
    cw_policy_destroy (&policy);
}

static void
test_deny_wins (void **state)
{
    (void) state;
    cw_policy_t *policy = cw_policy_new ();
    s_set (policy, true, "[\"*@example.com\"]");
    s_set (policy, false, "[\"guest*\", \"re:.*\\\\.blocked@.*\"]");
    s_expect (policy, "sip:alice@example.com", true, NULL);
    s_expect (policy, "sip:guest7@example.com", false, "denied by 'guest*' of sip.registration.deny");
    s_expect (policy, "sip:x.blocked@example.com", false, "denied by 're:.*\\.blocked@.*'");
    s_expect (policy, "sip:alice@example.org", false, "matches no pattern");
    //  deny alone: everything else may register
    s_set (policy, true, "[]");
    s_expect (policy, "sip:alice@example.org", true, NULL);
    s_expect (policy, "sip:Guest@example.org", false, "guest*");
    //  "*" denies everything
    s_set (policy, false, "[\"*\"]");
    s_expect (policy, "sip:alice@example.org", false, "denied by '*'");
    cw_policy_destroy (&policy);
}

static void
test_broken_fails_closed (void **state)
{
    (void) state;
    cw_policy_t *policy = cw_policy_new ();
    json_t *list = json_pack ("[s, s]", "re:(", "a*b*");
    char err [256] = "";
    assert_int_equal (cw_policy_set (policy, true, list, err, sizeof err), 2);
    assert_non_null (strstr (err, "not a valid regular expression"));
    //  broken allow patterns match nothing
    s_expect (policy, "sip:a@example.com", false, "matches no pattern");
    s_set (policy, true, "[]");
    assert_int_equal (cw_policy_set (policy, false, list, err, sizeof err), 2);
    s_expect (policy, "sip:a@example.com", false, "invalid pattern 're:('");
    json_decref (list);
    //  a list that is not an array, or holds a non-string: empty / broken
    s_set (policy, false, "{}");
    s_expect (policy, "sip:a@example.com", true, NULL);

    assert_true (cw_policy_pattern_valid ("re:^a+$", err, sizeof err));
    assert_true (cw_policy_pattern_valid ("*", err, sizeof err));
    assert_false (cw_policy_pattern_valid ("", err, sizeof err));
    assert_false (cw_policy_pattern_valid ("re:[", err, sizeof err));
    assert_false (cw_policy_pattern_valid ("a*b", err, sizeof err));
    assert_non_null (strstr (err, "'*' may only begin or end"));
    cw_policy_destroy (&policy);
}

//  The keys as `causeway config set` checks them
static char *
s_norm (const char *name, const char *value_json, char *err, size_t errlen)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    assert_non_null (key);
    assert_int_equal (key->scope, CW_SCOPE_CLUSTER);
    json_t *value = json_loads (value_json, JSON_DECODE_ANY, NULL);
    assert_non_null (value);
    json_t *out = cw_registry_normalize (key, value, err, errlen);
    json_decref (value);
    char *text = out ? json_dumps (out, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref (out);
    return text;
}

static void
test_registry_keys (void **state)
{
    (void) state;
    char err [512];
    char *got = s_norm ("sip.registration.allow", "\"alice*, *@example.com,re:room-[0-9]+\"", err, sizeof err);
    assert_non_null (got);
    assert_string_equal (got, "[\"alice*\",\"*@example.com\",\"re:room-[0-9]+\"]");
    free (got);
    assert_null (s_norm ("sip.registration.deny", "[\"re:(\"]", err, sizeof err));
    assert_non_null (strstr (err, "not a valid regular expression"));
    assert_null (s_norm ("sip.registration.deny", "\"a*b\"", err, sizeof err));
    assert_non_null (strstr (err, "'*' only at the start or the end"));
    got = s_norm ("sip.registration.deny", "\"\"", err, sizeof err);
    assert_string_equal (got, "[]");
    free (got);

    got = s_norm ("sip.auth.realm", "\"example.com\"", err, sizeof err);
    assert_string_equal (got, "\"example.com\"");
    free (got);
    got = s_norm ("sip.auth.realm", "\"\"", err, sizeof err);
    assert_string_equal (got, "\"\"");
    free (got);
    assert_null (s_norm ("sip.auth.realm", "\"a\\\"b\"", err, sizeof err));
    assert_non_null (strstr (err, "sip.auth.realm"));

    got = s_norm ("sip.auth.required", "\"ON\"", err, sizeof err);
    assert_string_equal (got, "\"on\"");
    free (got);
    json_t *dflt = cw_registry_default (cw_registry_lookup ("sip.auth.required"), NULL);
    assert_string_equal (json_string_value (dflt), "off");
    json_decref (dflt);
    dflt = cw_registry_default (cw_registry_lookup ("sip.auth.algorithms"), NULL);
    assert_string_equal (json_string_value (dflt), "both");
    json_decref (dflt);
    got = s_norm ("sip.auth.algorithms", "\"MD5\"", err, sizeof err);
    assert_string_equal (got, "\"md5\"");
    free (got);
    assert_null (s_norm ("sip.auth.algorithms", "\"sha1\"", err, sizeof err));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_alias),
        cmocka_unit_test (test_empty_allows_all),
        cmocka_unit_test (test_kinds),
        cmocka_unit_test (test_deny_wins),
        cmocka_unit_test (test_broken_fails_closed),
        cmocka_unit_test (test_registry_keys),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
