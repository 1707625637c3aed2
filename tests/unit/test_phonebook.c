/*  test_phonebook.c - unit tests of the in-memory phone book index: prefix
    ranges on the name, its later words, the number's digits and the URI;
    order by name then id; the limit and "more"; removal, replacement and
    a full read that sweeps; a broad query; and 100,000 random entries
    against a brute-force reference.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "phonebook.h"

//  The ids found for QUERY (a user's query), "," between them, "+" after when more
static const char *
s_ids (tms_phonebook_t *book, const char *query, size_t limit)
{
    static char result [4096];
    char q [256];
    tms_directory_query_key (query, q, sizeof q);
    tms_phonebook_entry_t out [100];
    bool more = false;
    size_t n = tms_phonebook_search (book, q, limit, out, &more);
    result [0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf (result + strlen (result), sizeof result - strlen (result), "%s%s", i ? "," : "", out [i].id);
    if (more)
        snprintf (result + strlen (result), sizeof result - strlen (result), "+");
    return result;
}

static void
s_put (tms_phonebook_t *book, const char *id, const char *name, const char *number, const char *uri)
{
    assert_int_equal (tms_phonebook_put (book, id, "Corporate", name, uri, number, (uint64_t) strlen (name)), 0);
}

static void
test_keys_and_order (void **state)
{
    (void) state;
    tms_phonebook_t *book = tms_phonebook_new ();
    s_put (book, "e3", "Grace Van der Berg", "+44 20 7946 0001", "sip:grace.vdb@example.com");
    s_put (book, "e1", "Grace Hansen", "+44 20 7946 0002", "sip:gh@example.com");
    s_put (book, "e2", "Hans Grace", "+1 555 1234", "sip:hans@example.com");
    s_put (book, "e4", "Jean-Luc Picard", "", "tel:+15551234");
    s_put (book, "e0", "grace hansen", "0800", "");
    for (int settled = 0; settled < 2; settled++) {
        //  Name start, later word: by name, ties by id
        assert_string_equal (s_ids (book, "grace", 20), "e0,e1,e3,e2");
        assert_string_equal (s_ids (book, "GRACE H", 20), "e0,e1");
        assert_string_equal (s_ids (book, "berg", 20), "e3");
        assert_string_equal (s_ids (book, "der b", 20), "e3");
        assert_string_equal (s_ids (book, "luc", 20), "e4");
        assert_string_equal (s_ids (book, "picard", 20), "e4");
        //  Digits, a number as written, the URI with and without scheme
        assert_string_equal (s_ids (book, "+44 20 7946", 20), "e1,e3");
        assert_string_equal (s_ids (book, "1555", 20), "e2,e4");
        assert_string_equal (s_ids (book, "sip:GH@", 20), "e1");
        assert_string_equal (s_ids (book, "hans", 20), "e0,e1,e2");
        assert_string_equal (s_ids (book, "zzz", 20), "");
        //  The limit and "more"
        assert_string_equal (s_ids (book, "grace", 2), "e0,e1+");
        assert_string_equal (s_ids (book, "grace", 4), "e0,e1,e3,e2");
        assert_int_equal (tms_phonebook_settle (book), 0);
        assert_int_equal (tms_phonebook_pending (book), 0);
    }
    tms_phonebook_destroy (&book);
    assert_null (book);
}

static void
test_remove_replace_sweep (void **state)
{
    (void) state;
    tms_phonebook_t *book = tms_phonebook_new ();
    s_put (book, "e1", "Anna Smith", "111", "");
    s_put (book, "e2", "Bob Smith", "222", "");
    s_put (book, "e3", "Carl Smith", "333", "");
    tms_phonebook_settle (book);
    assert_true (tms_phonebook_remove (book, "e2"));
    assert_false (tms_phonebook_remove (book, "e2"));
    assert_string_equal (s_ids (book, "smith", 20), "e1,e3");
    //  Replaced: found by the new keys only, once
    s_put (book, "e1", "Zed Jones", "999", "");
    assert_int_equal (tms_phonebook_size (book), 2);
    assert_string_equal (s_ids (book, "smith", 20), "e3");
    assert_string_equal (s_ids (book, "jones", 20), "e1");
    assert_string_equal (s_ids (book, "anna", 20), "");
    tms_phonebook_settle (book);
    assert_string_equal (s_ids (book, "smith", 20), "e3");
    assert_string_equal (s_ids (book, "z", 20), "e1");
    //  Touch: the same text hash is seen, another is not
    assert_true (tms_phonebook_touch (book, "e1", strlen ("Zed Jones")));
    assert_false (tms_phonebook_touch (book, "e1", 1));
    assert_false (tms_phonebook_touch (book, "e9", 9));
    //  A full read: what is not seen again goes
    tms_phonebook_sweep_begin (book);
    assert_true (tms_phonebook_touch (book, "e1", strlen ("Zed Jones")));
    s_put (book, "e4", "Dora Smith", "444", "");
    assert_int_equal (tms_phonebook_sweep_end (book), 1);
    assert_int_equal (tms_phonebook_size (book), 2);
    assert_string_equal (s_ids (book, "smith", 20), "e4");
    //  Slots are reused after a merge
    for (int round = 0; round < 3; round++) {
        char id [16];
        for (int i = 0; i < 1000; i++) {
            snprintf (id, sizeof id, "x%d", i);
            s_put (book, id, "Xavier Reuse", "555", "");
        }
        for (int i = 0; i < 1000; i++) {
            snprintf (id, sizeof id, "x%d", i);
            assert_true (tms_phonebook_remove (book, id));
        }
        tms_phonebook_settle (book);
    }
    assert_string_equal (s_ids (book, "xav", 20), "");
    assert_string_equal (s_ids (book, "dora", 20), "e4");
    tms_phonebook_destroy (&book);
}

static void
test_too_long_is_left_out (void **state)
{
    (void) state;
    tms_phonebook_t *book = tms_phonebook_new ();
    s_put (book, "e1", "Anna Smith", "111", "");
    char *big = malloc (70000);
    memset (big, 'a', 69999);
    big [69999] = 0;
    assert_int_equal (tms_phonebook_put (book, "e1", "b", "Anna", big, "1", 1), -1);
    assert_int_equal (tms_phonebook_size (book), 0);
    free (big);
    tms_phonebook_destroy (&book);
}

//  Ranges of more than 300,000 tokens: the names are walked in order; when
//  the first names do not match, the range is scanned instead
static void
test_broad_queries (void **state)
{
    (void) state;
    tms_phonebook_t *book = tms_phonebook_new ();
    char id [16], name [32], number [16];
    for (int i = 0; i < 320000; i++) {
        bool anna = i < 10000;
        snprintf (id, sizeof id, "%c%06d", anna ? 'a' : 'b', i);
        snprintf (name, sizeof name, "%s %06d", anna ? "Anna" : "Bob", i);
        snprintf (number, sizeof number, "%s%06d", anna ? "11" : "44", i);
        s_put (book, id, name, number, "");
    }
    tms_phonebook_settle (book);
    //  Walked: the first names match
    assert_string_equal (s_ids (book, "0", 3), "a000000,a000001,a000002+");
    //  Walked, then scanned: no match among the first 10,000 names
    assert_string_equal (s_ids (book, "44", 3), "b010000,b010001,b010002+");
    assert_string_equal (s_ids (book, "+44 01", 2), "b010000,b010001+");
    //  Scanned (10,000 tokens), and a name range
    assert_string_equal (s_ids (book, "11000999", 20), "a000999");
    assert_string_equal (s_ids (book, "bob 31999", 20), "b319990,b319991,b319992,b319993,b319994,b319995,"
                                                        "b319996,b319997,b319998,b319999");
    //  A change not merged yet is found in name order
    s_put (book, "c1", "Aaron", "4400", "");
    assert_string_equal (s_ids (book, "44", 2), "c1,b010000+");
    assert_true (tms_phonebook_remove (book, "b010000"));
    assert_string_equal (s_ids (book, "44", 2), "c1,b010001+");
    tms_phonebook_destroy (&book);
}

//  Random entries against a brute-force reference
#define R_COUNT 100000
static const char *const s_first [] = { "Aiko", "Ben", "Chiara", "Åsa", "Grace", "Hans", "Jean-Luc", "Zoe" };
static const char *const s_last [] = { "Hansen", "Van der Berg", "Smith", "Smithers", "Ünderberg", "Grace", "Zhang" };

typedef struct {
    char id [16], name [64], number [32], uri [64], sortkey [256], tokens [1024];
    bool live;
} r_entry_t;

static int
r_compare (const void *a, const void *b)
{
    const r_entry_t *x = *(const r_entry_t *const *) a, *y = *(const r_entry_t *const *) b;
    int c = strcmp (x->sortkey, y->sortkey);
    return c ? c : strcmp (x->id, y->id);
}

static void
r_make (r_entry_t *entry, int n, unsigned r)
{
    snprintf (entry->id, sizeof entry->id, "r%06d", n);
    snprintf (entry->name, sizeof entry->name, "%s %s%u", s_first [r % 8], s_last [(r / 8) % 7], (r / 56) % 500);
    snprintf (entry->number, sizeof entry->number, "+44 %03u %04u", (r / 7) % 1000, (r / 13) % 10000);
    snprintf (entry->uri, sizeof entry->uri, "sip:u%u@example.com", r % 100000);
    tms_directory_tokens (entry->name, entry->number, entry->uri, entry->sortkey, sizeof entry->sortkey, entry->tokens,
                          sizeof entry->tokens);
    entry->live = true;
}

static bool
r_matches (const r_entry_t *entry, const char *q)
{
    size_t qlen = strlen (q);
    if (!entry->live)
        return false;
    if (strncmp (entry->sortkey, q, qlen) == 0)
        return true;
    for (const char *line = entry->tokens; *line;) {
        size_t len = strcspn (line, "\n");
        if (len >= qlen && strncmp (line, q, qlen) == 0)
            return true;
        line += len + (line [len] == '\n');
    }
    return false;
}

static void
r_check (tms_phonebook_t *book, r_entry_t *entries, r_entry_t **sorted, const char *query, size_t limit)
{
    char q [256];
    tms_directory_query_key (query, q, sizeof q);
    size_t expected = 0;
    char want [4096] = "";
    for (size_t i = 0; i < R_COUNT; i++)
        if (r_matches (sorted [i], q)) {
            if (expected < limit)
                snprintf (want + strlen (want), sizeof want - strlen (want), "%s%s", expected ? "," : "",
                          sorted [i]->id);
            expected++;
        }
    if (expected > limit)
        strcat (want, "+");
    (void) entries;
    const char *got = s_ids (book, query, limit);
    if (strcmp (got, want) != 0)
        fail_msg ("query '%s' limit %zu: got %s, want %s", query, limit, got, want);
}

static void
test_random_against_reference (void **state)
{
    (void) state;
    r_entry_t *entries = calloc (R_COUNT, sizeof *entries);
    r_entry_t **sorted = calloc (R_COUNT, sizeof *sorted);
    tms_phonebook_t *book = tms_phonebook_new ();
    srandom (12);
    for (int n = 0; n < R_COUNT; n++) {
        r_make (&entries [n], n, (unsigned) random ());
        assert_int_equal (tms_phonebook_put (book, entries [n].id, "b", entries [n].name, entries [n].uri,
                                             entries [n].number, 1),
                          0);
        sorted [n] = &entries [n];
    }
    assert_int_equal (tms_phonebook_settle (book), 0);
    //  Changes after the merge: some removed, some replaced (left in the delta)
    for (int k = 0; k < 1500; k++) {
        int n = (int) (random () % R_COUNT);
        if (k % 2) {
            tms_phonebook_remove (book, entries [n].id);
            entries [n].live = false;
        }
        else {
            r_make (&entries [n], n, (unsigned) random ());
            s_put (book, entries [n].id, entries [n].name, entries [n].number, entries [n].uri);
        }
    }
    size_t live = 0;
    for (int n = 0; n < R_COUNT; n++)
        live += entries [n].live;
    assert_int_equal (tms_phonebook_size (book), live);
    qsort (sorted, R_COUNT, sizeof *sorted, r_compare);
    static const char *const queries [] = { "a",        "g",         "grace",   "grace h",  "hansen1", "smith",
                                            "smithers", "van der",   "der b",   "berg",     "luc",     "asa",
                                            "UNDER",    "zoe zhang", "+44 1",   "44",       "4412",    "+44 123 4",
                                            "sip:u1",   "u99",       "u12345@", "example",  "qqq",     "z",
                                            "zhang499", "1",         "9",       "jean-luc", "ben van", "c" };
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof queries / sizeof queries [0]; i++) {
            r_check (book, entries, sorted, queries [i], 20);
            r_check (book, entries, sorted, queries [i], 1);
            r_check (book, entries, sorted, queries [i], 100);
        }
        assert_int_equal (tms_phonebook_settle (book), 0);
    }
    tms_phonebook_destroy (&book);
    free (sorted);
    free (entries);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_keys_and_order),           cmocka_unit_test (test_remove_replace_sweep),
        cmocka_unit_test (test_too_long_is_left_out),     cmocka_unit_test (test_broad_queries),
        cmocka_unit_test (test_random_against_reference),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
