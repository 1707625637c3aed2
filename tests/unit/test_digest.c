/*  test_digest.c - unit tests of digest authentication
    (actors/routing/digest.c): the RFC 7616 and RFC 2617 examples, SIP
    REGISTER responses with both algorithms, stateless nonces (expiry,
    forgery, another key or realm), challenge lines, and parsing of
    hostile credentials (each input in a buffer of its exact size, so the
    ASan build catches any read past it).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "digest.h"

//  Parse TEXT from a heap copy of exactly its length (no NUL after it).
static int
s_parse (const char *text, size_t len, cw_digest_creds_t *creds, char *err, size_t errlen)
{
    char *copy = malloc (len ? len : 1);
    assert_non_null (copy);
    memcpy (copy, text, len);
    int rc = cw_digest_parse (copy, len, creds, err, errlen);
    free (copy);
    return rc;
}

static int
s_parse_text (const char *text, cw_digest_creds_t *creds, char *err, size_t errlen)
{
    return s_parse (text, strlen (text), creds, err, errlen);
}

// ---------------------------------------------------------------------------
//  RFC examples

//  RFC 7616 3.9.1: the same request with MD5 and with SHA-256
#define S_7616_COMMON                                                                                                  \
    "username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "                                  \
    "qop=auth, nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "                                 \
    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "                                                         \
    "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""

static void
test_rfc7616_md5 (void **state)
{
    (void) state;
    cw_digest_creds_t creds;
    char err [128] = "", ha1 [CW_DIGEST_HEX_MAX], response [CW_DIGEST_HEX_MAX];
    const char *value = "Digest " S_7616_COMMON ", algorithm=MD5, response=\"8ca523f5e9506fed4657c9700eebdbec\"";
    assert_int_equal (s_parse_text (value, &creds, err, sizeof err), 0);
    assert_int_equal (creds.alg, CW_DIGEST_MD5);
    assert_string_equal (creds.username, "Mufasa");
    assert_string_equal (creds.realm, "http-auth@example.org");
    assert_string_equal (creds.uri, "/dir/index.html");
    assert_string_equal (creds.qop, "auth");
    assert_string_equal (creds.nc, "00000001");
    assert_string_equal (creds.opaque, "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS");
    cw_digest_ha1 (CW_DIGEST_MD5, "Mufasa", "http-auth@example.org", "Circle of Life", ha1);
    cw_digest_response (&creds, ha1, "GET", response);
    assert_string_equal (response, "8ca523f5e9506fed4657c9700eebdbec");
    assert_true (cw_digest_verify (&creds, ha1, "GET"));
    assert_false (cw_digest_verify (&creds, ha1, "POST"));
}

static void
test_rfc7616_sha256 (void **state)
{
    (void) state;
    cw_digest_creds_t creds;
    char err [128] = "", ha1 [CW_DIGEST_HEX_MAX];
    const char *value = "Digest " S_7616_COMMON ", algorithm=SHA-256, "
                        "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"";
    assert_int_equal (s_parse_text (value, &creds, err, sizeof err), 0);
    assert_int_equal (creds.alg, CW_DIGEST_SHA256);
    cw_digest_ha1 (CW_DIGEST_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life", ha1);
    assert_int_equal (strlen (ha1), 64);
    assert_true (cw_digest_verify (&creds, ha1, "GET"));
    //  the MD5 HA1 does not verify a SHA-256 response
    cw_digest_ha1 (CW_DIGEST_MD5, "Mufasa", "http-auth@example.org", "Circle of Life", ha1);
    assert_false (cw_digest_verify (&creds, ha1, "GET"));
    cw_digest_ha1 (CW_DIGEST_SHA256, "Mufasa", "http-auth@example.org", "Circle of life", ha1);
    assert_false (cw_digest_verify (&creds, ha1, "GET"));
}

static void
test_rfc2617 (void **state)
{
    (void) state;
    cw_digest_creds_t creds;
    char err [128] = "", ha1 [CW_DIGEST_HEX_MAX];
    const char *value = "Digest username=\"Mufasa\",\r\n realm=\"testrealm@host.com\",\r\n"
                        " nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\",\r\n uri=\"/dir/index.html\",\r\n"
                        " qop=auth,\r\n nc=00000001,\r\n cnonce=\"0a4f113b\",\r\n"
                        " response=\"6629fae49393a05397450978507c4ef1\",\r\n"
                        " opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
    assert_int_equal (s_parse_text (value, &creds, err, sizeof err), 0);
    cw_digest_ha1 (CW_DIGEST_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life", ha1);
    assert_string_equal (ha1, "939e7578ed9e3c518a452acee763bce9");
    assert_true (cw_digest_verify (&creds, ha1, "GET"));
    //  the response's hex case does not matter
    for (char *p = creds.response; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char) (*p - 'a' + 'A');
    assert_true (cw_digest_verify (&creds, ha1, "GET"));
}

//  A SIP REGISTER without qop (RFC 2069 form): H(HA1:nonce:HA2)
static void
test_sip_register_without_qop (void **state)
{
    (void) state;
    char ha1 [CW_DIGEST_HEX_MAX], expected [CW_DIGEST_HEX_MAX], value [600], err [128];
    cw_digest_ha1 (CW_DIGEST_MD5, "alice", "example.com", "secret", ha1);
    cw_digest_creds_t creds;
    memset (&creds, 0, sizeof creds);
    creds.alg = CW_DIGEST_MD5;
    strcpy (creds.nonce, "abc");
    strcpy (creds.uri, "sip:example.com");
    cw_digest_response (&creds, ha1, "REGISTER", expected);
    snprintf (value, sizeof value,
              "Digest username=\"alice\",realm=\"example.com\",nonce=\"abc\",uri=\"sip:example.com\","
              "response=\"%s\",algorithm=MD5",
              expected);
    assert_int_equal (s_parse_text (value, &creds, err, sizeof err), 0);
    assert_string_equal (creds.qop, "");
    assert_true (cw_digest_verify (&creds, ha1, "REGISTER"));
    assert_false (cw_digest_verify (&creds, ha1, "INVITE"));
}

// ---------------------------------------------------------------------------
//  Nonces

static void
test_nonce (void **state)
{
    (void) state;
    uint8_t key [CW_DIGEST_KEY_BYTES], other [CW_DIGEST_KEY_BYTES];
    cw_digest_key_new (key);
    cw_digest_key_new (other);
    assert_memory_not_equal (key, other, sizeof key);
    char nonce [CW_DIGEST_NONCE_MAX], again [CW_DIGEST_NONCE_MAX];
    cw_digest_nonce_make (key, "example.com", 1000, nonce);
    assert_int_equal (strlen (nonce), CW_DIGEST_NONCE_MAX - 1);
    cw_digest_nonce_make (key, "example.com", 1000, again);
    assert_string_equal (nonce, again);

    assert_int_equal (cw_digest_nonce_check (key, "example.com", nonce, 1000, 300), CW_NONCE_VALID);
    assert_int_equal (cw_digest_nonce_check (key, "example.com", nonce, 1300, 300), CW_NONCE_VALID);
    assert_int_equal (cw_digest_nonce_check (key, "example.com", nonce, 1301, 300), CW_NONCE_STALE);
    //  from the future (beyond a few seconds of skew)
    assert_int_equal (cw_digest_nonce_check (key, "example.com", nonce, 990, 300), CW_NONCE_INVALID);
    //  another start, another realm
    assert_int_equal (cw_digest_nonce_check (other, "example.com", nonce, 1000, 300), CW_NONCE_INVALID);
    assert_int_equal (cw_digest_nonce_check (key, "example.org", nonce, 1000, 300), CW_NONCE_INVALID);
    //  forged: every single character changed, the time moved, cut, longer
    for (size_t i = 0; i < strlen (nonce); i++) {
        char forged [CW_DIGEST_NONCE_MAX];
        strcpy (forged, nonce);
        forged [i] = forged [i] == '0' ? '1' : '0';
        assert_int_equal (cw_digest_nonce_check (key, "example.com", forged, 1000, 300), CW_NONCE_INVALID);
    }
    char forged [CW_DIGEST_NONCE_MAX + 2];
    cw_digest_nonce_make (key, "example.com", 5000, forged);
    memcpy (forged, nonce, 16);    //  old MAC, new time
    forged [15] = '9';
    assert_int_equal (cw_digest_nonce_check (key, "example.com", forged, 5000, 300), CW_NONCE_INVALID);
    snprintf (forged, sizeof forged, "%.20s", nonce);
    assert_int_equal (cw_digest_nonce_check (key, "example.com", forged, 1000, 300), CW_NONCE_INVALID);
    snprintf (forged, sizeof forged, "%s0", nonce);
    assert_int_equal (cw_digest_nonce_check (key, "example.com", forged, 1000, 300), CW_NONCE_INVALID);
    assert_int_equal (cw_digest_nonce_check (key, "example.com", "", 1000, 300), CW_NONCE_INVALID);
    //  upper-case hex is not what we make
    char upper [CW_DIGEST_NONCE_MAX];
    strcpy (upper, nonce);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char) (*p - 'a' + 'A');
    if (strcmp (upper, nonce) != 0)
        assert_int_equal (cw_digest_nonce_check (key, "example.com", upper, 1000, 300), CW_NONCE_INVALID);
}

// ---------------------------------------------------------------------------
//  Challenges

static void
test_challenge (void **state)
{
    (void) state;
    char line [512];
    int n = cw_digest_challenge (CW_DIGEST_SHA256, "example.com", "n1", NULL, false, false, line, sizeof line);
    assert_string_equal (line, "WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", algorithm=SHA-256, "
                               "qop=\"auth\"\r\n");
    assert_int_equal (n, (int) strlen (line));
    cw_digest_challenge (CW_DIGEST_MD5, "example.com", "n1", "op", true, true, line, sizeof line);
    assert_string_equal (line, "Proxy-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", opaque=\"op\", "
                               "algorithm=MD5, qop=\"auth\", stale=true\r\n");
    assert_int_equal (cw_digest_challenge (CW_DIGEST_MD5, "example.com", "n1", NULL, false, false, line, 20), -1);
    assert_string_equal (line, "");

    assert_true (cw_digest_realm_valid ("example.com"));
    assert_true (cw_digest_realm_valid ("causeway"));
    assert_false (cw_digest_realm_valid (""));
    assert_false (cw_digest_realm_valid ("a\"b"));
    assert_false (cw_digest_realm_valid ("a\\b"));
    assert_false (cw_digest_realm_valid ("a\nb"));
}

// ---------------------------------------------------------------------------
//  Parsing

static void
test_parse_forms (void **state)
{
    (void) state;
    cw_digest_creds_t creds;
    char err [128];
    //  scheme and names in any case, tokens or quoted strings, escapes,
    //  unknown parameters ignored, a trailing comma
    const char *value = "  digest USERNAME=\"a\\\"b\" , Realm=r, nonce=n, uri=\"sip:x\", "
                        "response=0123456789abcdef0123456789ABCDEF, foo=\"bar, baz\", ALGORITHM=md5, qop=\"AUTH\", "
                        "nc=000000fF, cnonce=c,";
    assert_int_equal (s_parse_text (value, &creds, err, sizeof err), 0);
    assert_string_equal (creds.username, "a\"b");
    assert_string_equal (creds.realm, "r");
    assert_string_equal (creds.qop, "auth");
    assert_int_equal (creds.alg, CW_DIGEST_MD5);
}

typedef struct {
    const char *value;
    const char *why;    //  part of the message
} s_bad_t;

static void
test_parse_refusals (void **state)
{
    (void) state;
    static const char *const ok = "username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", "
                                  "response=\"0123456789abcdef0123456789abcdef\"";
    char long_value [2048];
    memset (long_value, 'x', sizeof long_value);
    snprintf (long_value, sizeof long_value, "Digest username=\"%0600d\", realm=r", 0);
    const s_bad_t bad [] = {
        { "", "not Digest" },
        { "Digest", "not Digest" },
        { "Basic dXNlcjpwYXNz", "not Digest" },
        { "Digestusername=u", "not Digest" },
        { "Digest ", "required" },
        { "Digest username=\"u\", realm=\"r\"", "required" },
        { "Digest username=\"u", "unterminated" },
        { "Digest username=\"u\\", "unterminated" },
        { "Digest username=", "empty" },
        { "Digest username", "no value" },
        { "Digest =u", "no name" },
        { "Digest username=u realm=r", "commas" },
        { "Digest username=u, username=v", "twice" },
        { "Digest username=\"a\nb\"", "empty, unterminated" },
        { long_value, "too long" },
        { NULL, NULL },
    };
    cw_digest_creds_t creds;
    char err [128];
    for (const s_bad_t *b = bad; b->value; b++) {
        err [0] = 0;
        if (s_parse_text (b->value, &creds, err, sizeof err) != -1)
            fail_msg ("accepted: %.80s", b->value);
        if (!strstr (err, b->why))
            fail_msg ("'%.60s': message '%s' lacks '%s'", b->value, err, b->why);
    }
    const s_bad_t bad_params [] = {
        { "algorithm=SHA-512-256", "algorithm" },
        { "algorithm=MD5-sess", "algorithm" },
        { "qop=auth-int, nc=00000001, cnonce=c", "qop must be auth" },
        { "qop=auth, cnonce=c", "nc" },
        { "qop=auth, nc=1, cnonce=c", "nc" },
        { "qop=auth, nc=0000000g, cnonce=c", "nc" },
        { "qop=auth, nc=00000001", "cnonce" },
        { "userhash=true", "userhash" },
        { "algorithm=SHA-256", "response" },
        { NULL, NULL },
    };
    for (const s_bad_t *b = bad_params; b->value; b++) {
        char value [512];
        snprintf (value, sizeof value, "Digest %s, %s", ok, b->value);
        err [0] = 0;
        if (s_parse_text (value, &creds, err, sizeof err) != -1)
            fail_msg ("accepted: %s", b->value);
        if (!strstr (err, b->why))
            fail_msg ("'%s': message '%s' lacks '%s'", b->value, err, b->why);
    }
    //  a NUL inside the value
    char with_nul [256];
    int n = snprintf (with_nul, sizeof with_nul, "Digest %s", ok);
    with_nul [20] = 0;
    assert_int_equal (s_parse (with_nul, (size_t) n, &creds, err, sizeof err), -1);
    //  NULL value
    assert_int_equal (cw_digest_parse (NULL, 10, &creds, err, sizeof err), -1);
}

//  Every prefix of a valid value, and many random mutations of it, parse
//  or fail without reading past the end (ASan) and without a crash.
static void
test_parse_hostile (void **state)
{
    (void) state;
    const char *value = "Digest " S_7616_COMMON ", algorithm=SHA-256, "
                        "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\"";
    size_t len = strlen (value);
    cw_digest_creds_t creds;
    char err [128];
    int parsed = 0;
    for (size_t i = 0; i <= len; i++)
        parsed += s_parse (value, i, &creds, err, sizeof err) == 0;
    assert_int_equal (parsed, 1);    //  only the whole value
    char mutated [1024];
    uint32_t seed = 12345;
    for (int round = 0; round < 20000; round++) {
        memcpy (mutated, value, len);
        int changes = 1 + round % 8;
        for (int c = 0; c < changes; c++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            static const char picks [] = "\"\\,= \t\r\n\0xA";
            mutated [at] = round % 3 ? picks [(seed >> 8) % (sizeof picks)] : (char) (seed >> 16);
        }
        seed = seed * 1103515245u + 12345u;
        size_t cut = round % 5 ? len : (seed >> 8) % (len + 1);
        if (s_parse (mutated, cut, &creds, err, sizeof err) == 0) {
            //  whatever parsed is terminated and within its fields
            assert_true (strlen (creds.username) < sizeof creds.username);
            assert_true (strlen (creds.response) == cw_digest_hex_len (creds.alg));
        }
    }
}

int
main (void)
{
    if (sodium_init () < 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rfc7616_md5),   cmocka_unit_test (test_rfc7616_sha256),
        cmocka_unit_test (test_rfc2617),       cmocka_unit_test (test_sip_register_without_qop),
        cmocka_unit_test (test_nonce),         cmocka_unit_test (test_challenge),
        cmocka_unit_test (test_parse_forms),   cmocka_unit_test (test_parse_refusals),
        cmocka_unit_test (test_parse_hostile),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
