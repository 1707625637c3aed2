/*  test_rowscan.c - the in-place JSON row reader (actors/tms/rowscan.h)
    against jansson: the same texts accepted and refused (a corpus, then
    200,000 random mutations of valid rows), members found as jansson
    finds them, strings decoded to the same bytes.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rowscan.h"

//  Does jansson read TEXT as one value (any type)?
static bool
s_jansson_ok (const char *text, size_t len)
{
    json_t *value = json_loadb (text, len, JSON_DECODE_ANY, NULL);
    json_decref (value);
    return value != NULL;
}

static bool
s_scan_ok (const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    if (tms_scan_value (&p, end) != 0)
        return false;
    tms_scan_ws (&p, end);
    return p == end;
}

static const char *s_corpus [] = {
    "{}", "[]", "{\"a\":1}", "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}", " { \"a\" : \"b\" } ", "\"x\"",
    "0", "-0", "1.5", "-1e10", "1E+2", "2e-3", "9223372036854775807", "-9223372036854775808",
    "9223372036854775808", "-9223372036854775809", "1e400", "01", "1.", ".5", "-", "+1", "1e", "tru", "nul",
    "{\"a\":1,}", "[1,]", "{\"a\" 1}", "{a:1}", "{\"a\":1", "[1 2]", "\"\\u00e9\\ud83d\\ude00\"", "\"\\ud83d\"",
    "\"\\ude00\"", "\"\\u0000\"", "\"\\x\"", "\"tab\there\"", "\"\xc3\xa9\"", "\"\xc3\"", "\"\xe0\x80\x80\"",
    "\"\xed\xa0\x80\"", "\"\xf4\x90\x80\x80\"", "\"\xf0\x9f\x98\x80\"", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
    "{\"id\":\"e1\",\"rev\":3,\"name\":\"O'Brien, \\\"Pat\\\"\",\"number\":\"+44000000001\"}", "[[[[[]]]]]", "",
    "   ", "{} {}", "{\"a\":\"b\"}x",
};

static void
test_corpus (void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_corpus / sizeof s_corpus [0]; i++) {
        const char *text = s_corpus [i];
        if (s_jansson_ok (text, strlen (text)) != s_scan_ok (text, strlen (text)))
            fail_msg ("differs from jansson on \"%s\"", text);
    }
    //  A long real (past the reader's small buffer) that overflows a double
    char real [300];
    snprintf (real, sizeof real, "3.%0150de400", 1);
    assert_false (s_jansson_ok (real, strlen (real)));
    assert_false (s_scan_ok (real, strlen (real)));
    real [strlen (real) - 2] = 0;    //  e4: fine
    assert_true (s_jansson_ok (real, strlen (real)));
    assert_true (s_scan_ok (real, strlen (real)));
    //  Nesting: jansson's limit is 2048
    char deep [5000];
    for (int depth = 2040; depth <= 2050; depth++) {
        memset (deep, '[', (size_t) depth);
        memset (deep + depth, ']', (size_t) depth);
        assert_int_equal (s_jansson_ok (deep, 2 * (size_t) depth), s_scan_ok (deep, 2 * (size_t) depth));
    }
}

static void
test_mutations (void **state)
{
    (void) state;
    const char *seeds [] = {
        "{\"id\":\"e12\",\"rev\":12,\"book\":\"Sales\",\"name\":\"Zo\xc3\xab M\\u00fcller\",\"uri\":\"zoe@example.com\","
        "\"number\":\"+44000000012\"}",
        "{\"id\":\"f1\",\"rev\":2,\"locations\":[{\"name\":\"Office\",\"devices\":[\"a@x\",\"b@x\"]}],\"n\":-1.25e3}",
        "{\"id\":\"u2\",\"rev\":5,\"deleted\":true}",
    };
    const char alphabet [] = "{}[]\":,\\u0123456789abcdefABCDEF-+.eEtrnlsf \t\n\xc3\xa9\xed\xa0\xf0\x9f\x80\x01";
    srand (42);
    char text [512];
    int differ = 0;
    for (int round = 0; round < 200000; round++) {
        const char *seed = seeds [round % 3];
        size_t len = strlen (seed);
        memcpy (text, seed, len);
        int edits = 1 + rand () % 3;
        for (int e = 0; e < edits; e++) {
            size_t at = (size_t) rand () % len;
            int kind = rand () % 3;
            char c = alphabet [rand () % (int) (sizeof alphabet - 1)];
            if (kind == 0)
                text [at] = c;
            else if (kind == 1 && len + 1 < sizeof text) {
                memmove (text + at + 1, text + at, len - at);
                text [at] = c;
                len++;
            }
            else if (len > 1) {
                memmove (text + at, text + at + 1, len - at - 1);
                len--;
            }
        }
        if (s_jansson_ok (text, len) != s_scan_ok (text, len) && differ++ < 5)
            print_error ("differs from jansson on \"%.*s\"\n", (int) len, text);
    }
    assert_int_equal (differ, 0);
}

static void
test_members (void **state)
{
    (void) state;
    const char *row = "{\"id\":\"e1\",\"rev\":42,\"name\":\"A\\\"B\\u00e9\\ud83d\\ude00\",\"rev\":43,\"list\":[1,{\"id\":"
                      "\"inner\"}],\"deleted\":true,\"n\":null}";
    static const char *const names [] = { "id", "rev", "name", "deleted", "missing", "n" };
    tms_span_t found [6];
    assert_int_equal (tms_scan_object (row, strlen (row), names, 6, found), 0);
    char buf [64];
    assert_string_equal (tms_scan_string (found [0], buf, sizeof buf), "e1");    //  not the nested "id"
    int64_t rev = 0;
    assert_true (tms_scan_int (found [1], &rev));
    assert_int_equal (rev, 43);    //  the last one, as jansson keeps
    json_t *parsed = json_loads (row, 0, NULL);
    assert_string_equal (tms_scan_string (found [2], buf, sizeof buf), json_string_value (json_object_get (parsed, "name")));
    json_decref (parsed);
    assert_true (tms_scan_true (found [3]));
    assert_null (found [4].at);
    assert_null (tms_scan_string (found [5], buf, sizeof buf));    //  null is not a string
    assert_null (tms_scan_string (found [2], buf, 4));             //  too long for BUF
    assert_false (tms_scan_int (found [0], &rev));
    //  Not objects
    assert_int_equal (tms_scan_object ("[1]", 3, names, 6, found), -1);
    assert_int_equal (tms_scan_object ("{\"id\":1", 7, names, 6, found), -1);
    assert_int_equal (tms_scan_object ("{\"id\":1} 2", 10, names, 6, found), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_corpus),
        cmocka_unit_test (test_mutations),
        cmocka_unit_test (test_members),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
