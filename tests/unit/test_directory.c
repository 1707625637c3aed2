/*  test_directory.c - unit tests of the tms directory's pure helpers: the
    search key of a text (case, accents, spaces), of a query (scheme,
    telephone numbers) and the tokens of a phone book entry.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "directory.h"

static void
s_normalised (const char *text, const char *expected)
{
    char out [256];
    size_t len = tms_directory_normalise (text, out, sizeof out);
    assert_string_equal (out, expected);
    assert_int_equal (len, strlen (expected));
}

static void
test_normalise (void **state)
{
    (void) state;
    s_normalised ("Grace Hansen", "grace hansen");
    s_normalised ("  GRACE \t  Hansen \n", "grace hansen");
    s_normalised ("Åsa Ünderberg-Quist", "asa underberg-quist");
    s_normalised ("José Núñez Çelik Łukasz Ørsted", "jose nunez celik lukasz orsted");
    s_normalised ("Straße Æbelø Œuvre", "strasse aebelo oeuvre");
    //  Other scripts are kept as they are (not folded)
    s_normalised ("Дмитрий 李", "Дмитрий 李");
    s_normalised ("", "");
    s_normalised (NULL, "");
    s_normalised ("   ", "");
    //  × and ÷ are not letters: kept
    s_normalised ("2×3", "2×3");
}

static void
test_normalise_truncates_whole_characters (void **state)
{
    (void) state;
    char out [6];
    //  Room for 5 bytes: "abcd" and not half of the 2-byte "Д"
    assert_int_equal (tms_directory_normalise ("abcdДм", out, sizeof out), 4);
    assert_string_equal (out, "abcd");
    assert_int_equal (tms_directory_normalise ("abcdeД", out, sizeof out), 5);
    assert_string_equal (out, "abcde");
    char tiny [1];
    assert_int_equal (tms_directory_normalise ("abc", tiny, sizeof tiny), 0);
    assert_string_equal (tiny, "");
}

static void
s_query (const char *query, const char *expected)
{
    char out [256];
    size_t len = tms_directory_query_key (query, out, sizeof out);
    assert_string_equal (out, expected);
    assert_int_equal (len, strlen (expected));
}

static void
test_query_key (void **state)
{
    (void) state;
    s_query ("Grace", "grace");
    s_query ("sip:Bob@Example.com", "bob@example.com");
    s_query ("SIPS:bob", "bob");
    s_query ("tel:+44 20 7946 0000", "442079460000");
    s_query ("+44 (0)20-7946.0000", "4402079460000");
    s_query ("4420", "4420");
    //  Not a telephone number: letters stay
    s_query ("Room 101", "room 101");
    s_query ("+", "+");
    s_query ("sip:", "");
}

static void
test_tokens (void **state)
{
    (void) state;
    char sortkey [256], tokens [1024];
    int n = tms_directory_tokens ("Grace  Van der Berg", "+44 20 7946 0001", "sip:Grace.VDB@Example.com", sortkey,
                                  sizeof sortkey, tokens, sizeof tokens);
    assert_string_equal (sortkey, "grace van der berg");
    assert_string_equal (tokens, "van der berg\nder berg\nberg\n442079460001\ngrace.vdb@example.com");
    assert_int_equal (n, 5);

    n = tms_directory_tokens ("Jean-Luc Picard", "", "tel:+15551234", sortkey, sizeof sortkey, tokens, sizeof tokens);
    assert_string_equal (sortkey, "jean-luc picard");
    assert_string_equal (tokens, "luc picard\npicard\n15551234");
    assert_int_equal (n, 3);

    //  A token already there is not repeated; no number, no URI: none
    n = tms_directory_tokens ("Room Room", "no digits", "", sortkey, sizeof sortkey, tokens, sizeof tokens);
    assert_string_equal (tokens, "room");
    assert_int_equal (n, 1);
    n = tms_directory_tokens ("Solo", NULL, NULL, sortkey, sizeof sortkey, tokens, sizeof tokens);
    assert_string_equal (sortkey, "solo");
    assert_string_equal (tokens, "");
    assert_int_equal (n, 0);

    //  What does not fit is left out, never cut
    n = tms_directory_tokens ("a bbbb cc", "123", "", sortkey, sizeof sortkey, tokens, 12);
    assert_string_equal (tokens, "bbbb cc\ncc");
    assert_int_equal (n, 2);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_normalise),
        cmocka_unit_test (test_normalise_truncates_whole_characters),
        cmocka_unit_test (test_query_key),
        cmocka_unit_test (test_tokens),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
