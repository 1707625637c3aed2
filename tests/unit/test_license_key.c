/*  test_license_key.c - the option-key codec (cw_license.c): keys issued
    with a real issuer key pair verify; each refusal (forged, altered,
    expired, wrong system) is told apart with its message; malformed tokens
    are refused saying which part is wrong; key files are written and read
    with the modes the header promises. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cw_license.h"

static char s_dir [64];
static cw_license_issuer_t s_issuer, s_other;
static unsigned char s_secret [CW_LICENSE_SECRET_BYTES], s_other_secret [CW_LICENSE_SECRET_BYTES];

//  2026-06-15 12:00:00 UTC
#define S_NOW ((time_t) 1781524800)

static void
s_make_issuer (const char *name, cw_license_issuer_t *issuer, unsigned char *secret)
{
    char dir [128], path [160], err [600];
    snprintf (dir, sizeof dir, "%s/%s", s_dir, name);
    assert_int_equal (cw_license_keygen (dir, err, sizeof err), 0);
    snprintf (path, sizeof path, "%s/issuer.pub", dir);
    assert_int_equal (cw_license_issuer_load (path, issuer, err, sizeof err), 0);
    snprintf (path, sizeof path, "%s/issuer.key", dir);
    assert_int_equal (cw_license_secret_load (path, secret, err, sizeof err), 0);
}

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/test_license_key.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    s_make_issuer ("issuer", &s_issuer, s_secret);
    s_make_issuer ("other", &s_other, s_other_secret);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    return system (command);
}

//  A fresh key of KIND x COUNT, optionally bound and expiring, into TOKEN.
static void
s_issue (const unsigned char *secret, const char *kind, int64_t count, const char *system, const char *expires,
         char token [CW_LICENSE_MAX_TEXT + 1])
{
    cw_license_key_t key;
    memset (&key, 0, sizeof key);
    snprintf (key.kind, sizeof key.kind, "%s", kind);
    key.count = count;
    snprintf (key.system, sizeof key.system, "%s", system ? system : "");
    snprintf (key.expires, sizeof key.expires, "%s", expires ? expires : "");
    char err [600];
    if (cw_license_issue (secret, &key, token, CW_LICENSE_MAX_TEXT + 1, err, sizeof err) != 0)
        fail_msg ("issue failed: %s", err);
}

static cw_license_status_t
s_verify (const char *token, const char *system, cw_license_key_t *key, char *err, size_t errlen)
{
    return cw_license_verify (token, &s_issuer, 1, S_NOW, system, key, err, errlen);
}

//  A token made of PAYLOAD (any JSON text) and SIGNATURE, base64url-encoded.
static void
s_token (const char *payload, size_t payload_length, const unsigned char *signature, char *out, size_t outlen)
{
    size_t used = (size_t) snprintf (out, outlen, "CWL1.");
    sodium_bin2base64 (out + used, outlen - used, (const unsigned char *) payload, payload_length,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    used = strlen (out);
    out [used++] = '.';
    sodium_bin2base64 (out + used, outlen - used, signature, 64, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

//  PAYLOAD signed properly by the test issuer: only its fields are wrong.
static void
s_signed_token (const char *payload, char *out, size_t outlen)
{
    unsigned char zero [64] = { 0 };
    s_token (payload, strlen (payload), zero, out, outlen);
    unsigned char signature [64];
    char *dot = strrchr (out, '.');
    crypto_sign_detached (signature, NULL, (const unsigned char *) out, (size_t) (dot - out), s_secret);
    sodium_bin2base64 (dot + 1, outlen - (size_t) (dot + 1 - out), signature, 64,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

//  TOKEN must be malformed with WHAT in its message, in decode and verify.
static void
s_malformed (const char *token, const char *what)
{
    cw_license_key_t key;
    char err [600];
    assert_int_equal (cw_license_decode (token, &key, err, sizeof err), CW_LICENSE_MALFORMED);
    if (strncmp (err, "malformed: ", 11) != 0 || !strstr (err, what))
        fail_msg ("expected 'malformed: ...%s...', got '%s'", what, err);
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_MALFORMED);
    assert_int_equal (key.count, 0);
}

//  The payload of a properly signed key with FIELD (a "name":value pair)
//  replacing the field of the same name, or added.
static void
s_payload_with (const char *name, const char *value, char *out, size_t outlen)
{
    json_t *object = json_pack ("{s:i, s:s, s:s, s:s, s:i, s:s}", "v", 1, "serial", "0123456789abcdef0123456789abcdef",
                                "issuer", s_issuer.key_id, "kind", "rich_media_sessions", "count", 10, "issued",
                                "2026-01-01");
    if (value) {
        json_error_t jerr;
        json_t *parsed = json_loads (value, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        assert_non_null (parsed);
        json_object_set_new (object, name, parsed);
    }
    else
        json_object_del (object, name);
    char *text = json_dumps (object, JSON_COMPACT);
    snprintf (out, outlen, "%s", text);
    free (text);
    json_decref (object);
}

// ---------------------------------------------------------------------------

static void
test_kinds (void **state)
{
    (void) state;
    for (int i = 0; i < CW_LICENSE_CAPACITY_KINDS; i++) {
        assert_true (cw_license_kind_valid (cw_license_capacity_kinds [i]));
        assert_int_equal (cw_license_capacity_index (cw_license_capacity_kinds [i]), i);
    }
    assert_true (cw_license_kind_valid ("feature:traversal"));
    assert_true (cw_license_kind_valid ("feature:h323-interworking"));
    assert_true (cw_license_kind_is_feature ("feature:h323-interworking"));
    assert_false (cw_license_kind_is_feature ("rich_media_sessions"));
    assert_false (cw_license_kind_valid ("feature:"));
    assert_false (cw_license_kind_valid ("feature:Traversal"));
    assert_false (cw_license_kind_valid ("feature:a_b"));
    assert_false (cw_license_kind_valid ("feature:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));    //  49
    assert_true (cw_license_kind_valid ("feature:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));      //  48
    assert_false (cw_license_kind_valid ("rich_media"));
    assert_false (cw_license_kind_valid (""));
    assert_int_equal (cw_license_capacity_index ("feature:traversal"), -1);
}

static void
test_issue_verify_round_trip (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600];
    s_issue (s_secret, "rich_media_sessions", 50, "peer1", "2027-12-31", token);
    assert_int_equal (strncmp (token, "CWL1.", 5), 0);
    assert_null (strpbrk (token, "+/= \n"));    //  base64url without padding
    cw_license_key_t key;
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_OK);
    assert_string_equal (key.kind, "rich_media_sessions");
    assert_int_equal (key.count, 50);
    assert_string_equal (key.system, "peer1");
    assert_string_equal (key.expires, "2027-12-31");
    assert_string_equal (key.issuer, s_issuer.key_id);
    assert_int_equal (strlen (key.serial), 32);
    assert_int_equal (strlen (key.issued), 10);
    //  Surrounding white space is ignored; decode gives the same fields
    char padded [CW_LICENSE_MAX_TEXT + 8];
    snprintf (padded, sizeof padded, "  %s\n", token);
    cw_license_key_t decoded;
    assert_int_equal (cw_license_decode (padded, &decoded, err, sizeof err), CW_LICENSE_OK);
    assert_memory_equal (&decoded, &key, sizeof key);
    //  Not bound, no expiry, a feature; no system name given = not checked
    s_issue (s_secret, "feature:traversal", 1, NULL, NULL, token);
    assert_int_equal (s_verify (token, NULL, &key, err, sizeof err), CW_LICENSE_OK);
    assert_string_equal (key.system, "");
    assert_string_equal (key.expires, "");
    assert_int_equal (cw_license_days_left (&key, S_NOW), INT32_MAX);
    //  Two keys never share a serial
    char again [CW_LICENSE_MAX_TEXT + 1];
    s_issue (s_secret, "feature:traversal", 1, NULL, NULL, again);
    cw_license_key_t other;
    assert_int_equal (cw_license_decode (again, &other, err, sizeof err), CW_LICENSE_OK);
    assert_string_not_equal (other.serial, key.serial);
    //  Found among several issuers
    cw_license_issuer_t both [2] = { s_other, s_issuer };
    assert_int_equal (cw_license_verify (token, both, 2, S_NOW, "peer1", &key, err, sizeof err), CW_LICENSE_OK);
}

static void
test_issue_refuses_bad_fields (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600];
    struct {
        const char *kind;
        int64_t count;
        const char *system;
        const char *expires;
        const char *what;
    } bad [] = {
        { "rich_media", 5, "", "", "not a license kind" },
        { "feature:traversal", 2, "", "", "count 1" },
        { "room_systems", 0, "", "", "1..1000000" },
        { "room_systems", 1000001, "", "", "1..1000000" },
        { "room_systems", 5, "", "2026-02-30", "real day" },
        { "room_systems", 5, "bad\tname", "", "control character" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cw_license_key_t key;
        memset (&key, 0, sizeof key);
        snprintf (key.kind, sizeof key.kind, "%s", bad [i].kind);
        key.count = bad [i].count;
        snprintf (key.system, sizeof key.system, "%s", bad [i].system);
        snprintf (key.expires, sizeof key.expires, "%s", bad [i].expires);
        assert_int_equal (cw_license_issue (s_secret, &key, token, sizeof token, err, sizeof err), -1);
        if (!strstr (err, bad [i].what))
            fail_msg ("case %zu: expected '%s' in '%s'", i, bad [i].what, err);
    }
}

static void
test_forged (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600], expected [128];
    s_issue (s_other_secret, "rich_media_sessions", 50, NULL, NULL, token);
    cw_license_key_t key;
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_UNKNOWN_ISSUER);
    snprintf (expected, sizeof expected, "refused: the key is forged (not signed by any configured issuer: key id %s)",
              s_other.key_id);
    assert_string_equal (err, expected);
    assert_string_equal (key.issuer, s_other.key_id);
    assert_string_equal (cw_license_status_name (CW_LICENSE_UNKNOWN_ISSUER), "forged");
    //  No issuer at all: the message says where issuers are configured
    assert_int_equal (cw_license_verify (token, NULL, 0, S_NOW, "peer1", &key, err, sizeof err),
                      CW_LICENSE_UNKNOWN_ISSUER);
    assert_non_null (strstr (err, "licensing.issuers"));
}

static void
test_altered (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600];
    s_issue (s_secret, "rich_media_sessions", 50, NULL, NULL, token);
    cw_license_key_t key;
    //  The payload re-encoded with a larger count, the signature kept
    char *first = strchr (token, '.') + 1, *second = strrchr (token, '.');
    unsigned char json [800];
    size_t length;
    assert_int_equal (sodium_base642bin (json, sizeof json, first, (size_t) (second - first), NULL, &length, NULL,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      0);
    json [length] = 0;
    char *count = strstr ((char *) json, "\"count\":50");
    assert_non_null (count);
    count [8] = '9';
    unsigned char signature [64];
    assert_int_equal (sodium_base642bin (signature, sizeof signature, second + 1, strlen (second + 1), NULL, NULL, NULL,
                                         sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                      0);
    char altered [CW_LICENSE_MAX_TEXT + 1];
    s_token ((char *) json, length, signature, altered, sizeof altered);
    assert_int_equal (s_verify (altered, "peer1", &key, err, sizeof err), CW_LICENSE_BAD_SIGNATURE);
    assert_string_equal (err, "refused: the key is altered (the signature does not match its content)");
    assert_int_equal (key.count, 90);
    assert_string_equal (cw_license_status_name (CW_LICENSE_BAD_SIGNATURE), "altered");
    //  One flipped bit of the signature
    signature [10] ^= 0x01;
    count [8] = '5';
    s_token ((char *) json, length, signature, altered, sizeof altered);
    assert_int_equal (s_verify (altered, "peer1", &key, err, sizeof err), CW_LICENSE_BAD_SIGNATURE);
    //  The prefix is signed too: a lower-case one is not a key at all
    snprintf (altered, sizeof altered, "cwl1.%s", token + 5);
    s_malformed (altered, "starts with 'CWL1.'");
}

static void
test_expired_and_days_left (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600];
    cw_license_key_t key;
    s_issue (s_secret, "traversal_calls", 5, NULL, "2025-01-31", token);
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_EXPIRED);
    assert_string_equal (err, "refused: the key is expired (it was valid until 2025-01-31)");
    assert_int_equal (key.count, 5);
    assert_string_equal (cw_license_status_name (CW_LICENSE_EXPIRED), "expired");
    //  Valid through the whole of its last day (UTC), refused the day after
    s_issue (s_secret, "traversal_calls", 5, NULL, "2026-06-15", token);
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_OK);
    assert_int_equal (cw_license_days_left (&key, S_NOW), 0);
    assert_int_equal (cw_license_days_left (&key, (time_t) 1781567999), 0);     //  23:59:59
    assert_int_equal (cw_license_days_left (&key, (time_t) 1781568000), -1);    //  the next midnight
    assert_int_equal (cw_license_verify (token, &s_issuer, 1, (time_t) 1781568000, NULL, &key, err, sizeof err),
                      CW_LICENSE_EXPIRED);
    snprintf (key.expires, sizeof key.expires, "2026-07-15");
    assert_int_equal (cw_license_days_left (&key, S_NOW), 30);
    snprintf (key.expires, sizeof key.expires, "2028-06-15");    //  over a leap day
    assert_int_equal (cw_license_days_left (&key, S_NOW), 731);
    snprintf (key.expires, sizeof key.expires, "2026-06-01");
    assert_int_equal (cw_license_days_left (&key, S_NOW), -14);
}

static void
test_wrong_system (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], err [600];
    cw_license_key_t key;
    s_issue (s_secret, "room_systems", 20, "peerX", NULL, token);
    assert_int_equal (s_verify (token, "peer1", &key, err, sizeof err), CW_LICENSE_WRONG_SYSTEM);
    assert_string_equal (err, "refused: the key is bound to system 'peerX', this system is 'peer1'");
    assert_string_equal (key.system, "peerX");
    assert_string_equal (cw_license_status_name (CW_LICENSE_WRONG_SYSTEM), "wrong system");
    assert_int_equal (s_verify (token, "peerX", &key, err, sizeof err), CW_LICENSE_OK);
    assert_int_equal (s_verify (token, NULL, &key, err, sizeof err), CW_LICENSE_OK);
}

static void
test_malformed_tokens (void **state)
{
    (void) state;
    char token [CW_LICENSE_MAX_TEXT + 1], broken [4096];
    s_issue (s_secret, "rich_media_sessions", 50, NULL, NULL, token);
    s_malformed ("", "empty");
    s_malformed ("   \n", "empty");
    s_malformed ("CWL2.abc.def", "starts with 'CWL1.'");
    s_malformed ("CWL1", "starts with 'CWL1.'");
    //  Truncated: no signature, a short signature, a cut payload
    snprintf (broken, sizeof broken, "%.*s", (int) (strrchr (token, '.') - token), token);
    s_malformed (broken, "no signature part");
    snprintf (broken, sizeof broken, "%.*s", (int) strlen (token) - 10, token);
    s_malformed (broken, "signature part");
    snprintf (broken, sizeof broken, "CWL1.%s", strrchr (token, '.'));
    s_malformed (broken, "payload part is not base64url");
    snprintf (broken, sizeof broken, "%s.x", token);
    s_malformed (broken, "more than three parts");
    //  Bad base64: a character outside the url-safe alphabet
    snprintf (broken, sizeof broken, "%s", token);
    broken [8] = '+';
    s_malformed (broken, "payload part is not base64url");
    snprintf (broken, sizeof broken, "%s", token);
    broken [strlen (broken) - 3] = '/';
    s_malformed (broken, "signature part");
    //  Too long for a key
    memset (broken, 'A', sizeof broken - 1);
    memcpy (broken, "CWL1.", 5);
    broken [sizeof broken - 1] = 0;
    s_malformed (broken, "longer than any option key");
    //  Properly signed payloads that are not valid keys
    char payload [600];
    s_signed_token ("not json", broken, sizeof broken);
    s_malformed (broken, "not valid JSON");
    s_signed_token ("[1,2]", broken, sizeof broken);
    s_malformed (broken, "not a JSON object");
    s_signed_token ("{\"v\":1,\"v\":1}", broken, sizeof broken);
    s_malformed (broken, "duplicate");
    struct {
        const char *name;
        const char *value;    //  NULL = field removed
        const char *what;
    } fields [] = {
        { "v", "2", "'v' must be 1" },
        { "v", NULL, "'v' must be 1" },
        { "serial", "\"0123\"", "'serial'" },
        { "serial", "\"0123456789ABCDEF0123456789ABCDEF\"", "'serial'" },
        { "issuer", "\"xyz\"", "'issuer'" },
        { "kind", "\"bogus\"", "'kind'" },
        { "kind", "7", "'kind'" },
        { "count", "0", "'count'" },
        { "count", "1000001", "'count'" },
        { "count", "99999999999999999", "'count'" },
        { "count", "-5", "'count'" },
        { "count", "\"10\"", "'count'" },
        { "count", "1.5", "'count'" },
        { "system", "\"\"", "'system'" },
        { "system", "\"a\\u0000b\"", "not valid JSON" },
        { "system", "\"tab\\tname\"", "'system'" },
        { "system", "\"0123456789012345678901234567890123456789012345678901234567890123\"", "'system'" },
        { "expires", "\"2026-02-30\"", "'expires'" },
        { "expires", "\"2026-13-01\"", "'expires'" },
        { "expires", "\"2026-1-01\"", "'expires'" },
        { "expires", "\"2026-04-31\"", "'expires'" },
        { "expires", "\"2100-02-29\"", "'expires'" },
        { "expires", "\"1969-12-31\"", "'expires'" },
        { "expires", "20261231", "'expires'" },
        { "issued", NULL, "'issued'" },
        { "issued", "\"yesterday\"", "'issued'" },
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        s_payload_with (fields [i].name, fields [i].value, payload, sizeof payload);
        s_signed_token (payload, broken, sizeof broken);
        s_malformed (broken, fields [i].what);
    }
    //  A feature key of count 2
    s_payload_with ("kind", "\"feature:traversal\"", payload, sizeof payload);
    char *count = strstr (payload, "\"count\":10");
    assert_non_null (count);
    memmove (count + 9, count + 10, strlen (count + 10) + 1);
    count [8] = '2';
    s_signed_token (payload, broken, sizeof broken);
    s_malformed (broken, "count' must be 1 for a feature key");
    //  Unknown fields are ignored; leap days and the longest system name pass
    s_payload_with ("future_field", "{\"x\":[1,2]}", payload, sizeof payload);
    s_signed_token (payload, broken, sizeof broken);
    cw_license_key_t key;
    char err [600];
    assert_int_equal (s_verify (broken, "peer1", &key, err, sizeof err), CW_LICENSE_OK);
    s_payload_with ("expires", "\"2028-02-29\"", payload, sizeof payload);
    s_signed_token (payload, broken, sizeof broken);
    assert_int_equal (s_verify (broken, "peer1", &key, err, sizeof err), CW_LICENSE_OK);
    s_payload_with ("system", "\"012345678901234567890123456789012345678901234567890123456789012\"", payload,
                    sizeof payload);
    s_signed_token (payload, broken, sizeof broken);
    assert_int_equal (s_verify (broken, NULL, &key, err, sizeof err), CW_LICENSE_OK);
    assert_int_equal (strlen (key.system), 63);
}

static void
test_key_files (void **state)
{
    (void) state;
    char dir [128], path [160], err [600];
    struct stat st;
    //  Modes, and a second keygen refused
    snprintf (dir, sizeof dir, "%s/files/nested", s_dir);
    assert_int_equal (cw_license_keygen (dir, err, sizeof err), 0);
    assert_int_equal (stat (dir, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    snprintf (path, sizeof path, "%s/issuer.key", dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    snprintf (path, sizeof path, "%s/issuer.pub", dir);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0644);
    assert_int_equal (cw_license_keygen (dir, err, sizeof err), -1);
    assert_non_null (strstr (err, "refused"));
    assert_non_null (strstr (err, "issuer.key"));
    //  A secret key others may read is refused
    unsigned char secret [CW_LICENSE_SECRET_BYTES];
    snprintf (path, sizeof path, "%s/issuer.key", dir);
    chmod (path, 0640);
    assert_int_equal (cw_license_secret_load (path, secret, err, sizeof err), -1);
    assert_non_null (strstr (err, "chmod 600"));
    chmod (path, 0600);
    assert_int_equal (cw_license_secret_load (path, secret, err, sizeof err), 0);
    //  A public key file: missing, empty, garbage (named with its line)
    cw_license_issuer_t issuer;
    snprintf (path, sizeof path, "%s/missing.pub", dir);
    assert_int_equal (cw_license_issuer_load (path, &issuer, err, sizeof err), -1);
    assert_non_null (strstr (err, "missing.pub"));
    assert_non_null (strstr (err, "No such file"));
    snprintf (path, sizeof path, "%s/bad.pub", dir);
    FILE *file = fopen (path, "w");
    fputs ("# my issuer\n\ncauseway-license-issuer ed25519 AAAA\n", file);
    fclose (file);
    assert_int_equal (cw_license_issuer_load (path, &issuer, err, sizeof err), -1);
    char expected [200];
    snprintf (expected, sizeof expected, "%s:3: not an issuer public key file", path);
    assert_non_null (strstr (err, expected));
    file = fopen (path, "w");
    fclose (file);
    assert_int_equal (cw_license_issuer_load (path, &issuer, err, sizeof err), -1);
    assert_non_null (strstr (err, "no line"));
    //  The secret key file is not a public key file
    snprintf (path, sizeof path, "%s/issuer.key", dir);
    assert_int_equal (cw_license_issuer_load (path, &issuer, err, sizeof err), -1);
    assert_non_null (strstr (err, ":1: not an issuer public key file"));
    //  The key id is what the issuer's keys carry
    char id [CW_LICENSE_KEY_ID_HEX + 1];
    cw_license_key_id (s_issuer.public_key, id);
    assert_string_equal (id, s_issuer.key_id);
    assert_int_equal (strlen (id), 16);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_kinds),
        cmocka_unit_test (test_issue_verify_round_trip),
        cmocka_unit_test (test_issue_refuses_bad_fields),
        cmocka_unit_test (test_forged),
        cmocka_unit_test (test_altered),
        cmocka_unit_test (test_expired_and_days_left),
        cmocka_unit_test (test_wrong_system),
        cmocka_unit_test (test_malformed_tokens),
        cmocka_unit_test (test_key_files),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
