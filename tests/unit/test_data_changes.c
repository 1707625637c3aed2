/*  test_data_changes.c - unit tests of the replicated data's reading side
    that other actors use to keep a copy (actors/replication/cluster/data.c):
    replication.data.list by pages, and the rows a committed changeset
    writes (what the EVENT data.changed.<ns> carries), on a real store.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_store.h"
#include "data.h"

typedef struct {
    char dir [64];
    cw_config_store_t *store;
} s_fixture_t;

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof *fx);
    snprintf (fx->dir, sizeof fx->dir, "/tmp/cw-test-data-XXXXXX");
    if (!mkdtemp (fx->dir))
        return -1;
    char err [256];
    fx->store = cw_config_store_new (fx->dir, "peer1", err, sizeof err);
    if (!fx->store || cw_data_init (fx->store)) {
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
    char cmd [128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system (cmd) != 0)
        fprintf (stderr, "cleanup of %s failed\n", fx->dir);
    free (fx);
    return 0;
}

//  Commit ROWS_JSON to NS; returns the changeset (sqlite3_free) and its length.
static void *
s_put (s_fixture_t *fx, const char *ns, const char *rows_json, int *len)
{
    json_t *args = json_pack ("{s:s, s:o}", "ns", ns, "rows", json_loads (rows_json, 0, NULL));
    json_t *reply = NULL;
    int64_t seq = 0;
    void *changeset = NULL;
    assert_int_equal (cw_data_put (fx->store, args, &reply, &seq, &changeset, len), CW_REPLY_OK);
    assert_true (seq > 0);
    json_decref (args);
    json_decref (reply);
    return changeset;
}

static void
s_collect (const char *ns, const char *key, const char *value, void *arg)
{
    json_array_append_new ((json_t *) arg, json_pack ("[s, s, s?]", ns, key, value));
}

static void
test_changes (void **state)
{
    s_fixture_t *fx = *state;
    int len = 0;
    void *changeset = s_put (fx, "sip.credentials", "[[\"alice\", \"A1\"], [\"bob\", \"B1\"]]", &len);
    json_t *seen = json_array ();
    assert_int_equal (cw_data_changes (changeset, len, s_collect, seen), 0);
    sqlite3_free (changeset);
    char *text = json_dumps (seen, JSON_COMPACT);
    assert_string_equal (text, "[[\"sip.credentials\",\"alice\",\"A1\"],[\"sip.credentials\",\"bob\",\"B1\"]]");
    free (text);
    json_array_clear (seen);

    //  an update, a deletion and another namespace in one change
    json_t *args = json_loads ("{\"ns\": \"sip.credentials\", \"rows\": [[\"alice\", \"A2\"], [\"bob\", null]]}", 0,
                               NULL);
    json_t *reply = NULL;
    int64_t seq;
    assert_int_equal (cw_data_put (fx->store, args, &reply, &seq, &changeset, &len), CW_REPLY_OK);
    json_decref (args);
    json_decref (reply);
    assert_int_equal (cw_data_changes (changeset, len, s_collect, seen), 0);
    sqlite3_free (changeset);
    text = json_dumps (seen, JSON_COMPACT);
    assert_string_equal (text, "[[\"sip.credentials\",\"alice\",\"A2\"],[\"sip.credentials\",\"bob\",null]]");
    free (text);
    json_array_clear (seen);

    changeset = s_put (fx, "other", "[[\"k\", \"v\"]]", &len);
    sqlite3_free (changeset);
    assert_int_equal (cw_data_namespaces (fx->store, s_collect, seen), 0);
    assert_int_equal (json_array_size (seen), 2);

    //  bytes that are no changeset
    json_array_clear (seen);
    assert_int_equal (cw_data_changes ("garbage", 7, s_collect, seen), -1);
    assert_int_equal (json_array_size (seen), 0);
    json_decref (seen);
}

static void
test_list_pages (void **state)
{
    s_fixture_t *fx = *state;
    json_t *rows = json_array ();
    for (int i = 0; i < 2500; i++) {
        char key [16];
        snprintf (key, sizeof key, "user%04d", i);
        json_array_append_new (rows, json_pack ("[s, s]", key, "v"));
    }
    char *rows_text = json_dumps (rows, JSON_COMPACT);
    json_decref (rows);
    int len;
    sqlite3_free (s_put (fx, "sip.credentials", rows_text, &len));
    free (rows_text);
    sqlite3_free (s_put (fx, "other", "[[\"zzz\", \"v\"]]", &len));

    char after [32] = "";
    int pages = 0, total = 0;
    for (;;) {
        json_t *args = json_pack ("{s:s, s:s}", "ns", "sip.credentials", "after", after);
        json_t *reply = NULL;
        assert_int_equal (cw_data_list (fx->store, args, &reply), CW_REPLY_OK);
        json_decref (args);
        json_t *page = json_object_get (reply, "rows");
        assert_true (json_array_size (page) <= 1000);
        total += (int) json_array_size (page);
        pages++;
        assert_true (json_integer_value (json_object_get (reply, "seq")) >= 2);
        const char *last = json_string_value (json_array_get (json_array_get (page, json_array_size (page) - 1), 0));
        bool more = json_is_true (json_object_get (reply, "more"));
        if (last)
            snprintf (after, sizeof after, "%s", last);
        json_decref (reply);
        if (!more)
            break;
    }
    assert_int_equal (total, 2500);
    assert_int_equal (pages, 3);
    assert_string_equal (after, "user2499");

    json_t *reply = NULL;
    json_t *args = json_pack ("{s:s, s:i}", "ns", "sip.credentials", "limit", 0);
    assert_int_equal (cw_data_list (fx->store, args, &reply), CW_REPLY_ERROR);
    json_decref (args);
    json_decref (reply);
    args = json_pack ("{}");
    assert_int_equal (cw_data_list (fx->store, args, &reply), CW_REPLY_ERROR);
    json_decref (args);
    json_decref (reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_changes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_list_pages, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
