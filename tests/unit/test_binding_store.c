/*  test_binding_store.c - unit tests of the binding store
    (actors/routing/binding_store.c): this peer's own registrations in an
    SQLite file, read back by the next instance of the routing actor.

    A binding put and committed is read back whole by a second open of the
    same file (as after a kill -9: the first handle is never closed);
    changes not committed when the writing process died are not there; a removal; bindings expired at
    load time are deleted, not returned; a binding the reader refuses is
    deleted; a file of another node start is emptied; a damaged file
    (garbage, a truncated database) is moved aside and the store starts
    empty; a row that is not a valid binding is dropped; 20,000 bindings in
    one transaction come back.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "binding_store.h"

#define NOW 1700000000000LL

static char s_dir [64];
static char s_path [128];

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cw-test-bstore-XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    snprintf (s_path, sizeof s_path, "%s/%s", s_dir, CW_BINDING_STORE_FILE);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    char command [160];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    assert_int_equal (system (command), 0);
    return 0;
}

static cw_binding_t
s_binding (const char *aor, const char *contact, int64_t expires_ms)
{
    cw_binding_t b;
    memset (&b, 0, sizeof b);
    snprintf (b.aor, sizeof b.aor, "%s", aor);
    snprintf (b.contact, sizeof b.contact, "%s", contact);
    b.owner = 1;
    b.expires_ms = expires_ms;
    snprintf (b.transport, sizeof b.transport, "udp");
    snprintf (b.source, sizeof b.source, "127.0.1.101:5170");
    snprintf (b.user_agent, sizeof b.user_agent, "sipp");
    snprintf (b.call_id, sizeof b.call_id, "call-%s", contact);
    b.cseq = 7;
    snprintf (b.license, sizeof b.license, "1a.1");
    return b;
}

//  What a load saw
typedef struct {
    cw_binding_t seen [64];
    char kinds [64][CW_BINDING_STORE_KIND_MAX];
    size_t count;
    const char *refuse;    //  contact the reader refuses (NULL: none)
} s_loaded_t;

static bool
s_collect (const cw_binding_t *binding, const char *kind, void *arg)
{
    s_loaded_t *loaded = (s_loaded_t *) arg;
    if (loaded->refuse && strcmp (binding->contact, loaded->refuse) == 0)
        return false;
    if (loaded->count < 64) {
        loaded->seen [loaded->count] = *binding;
        snprintf (loaded->kinds [loaded->count], CW_BINDING_STORE_KIND_MAX, "%s", kind);
    }
    loaded->count++;
    return true;
}

static cw_binding_store_t *
s_open (const char *boot_id, bool *wiped, char **damaged)
{
    char err [600] = "";
    cw_binding_store_t *store = cw_binding_store_open (s_path, boot_id, wiped, damaged, err, sizeof err);
    if (!store)
        fprintf (stderr, "open: %s\n", err);
    assert_non_null (store);
    return store;
}

//  The first instance, in a child process that dies without closing the
//  store (as a kill -9 would): exit status 0 when every step worked
static int
s_first_instance (void)
{
    bool wiped = true;
    char err [600] = "";
    cw_binding_store_t *store = cw_binding_store_open (s_path, "boot-1", &wiped, NULL, err, sizeof err);
    if (!store || wiped || cw_binding_store_count (store) != 0)
        return 1;
    cw_binding_t alice = s_binding ("sip:alice@example.com", "sip:alice@127.0.1.101:5170", NOW + 600000);
    snprintf (alice.instance, sizeof alice.instance, "<urn:uuid:00000000-0000-0000-0000-000000000001>");
    alice.reg_id = 1;
    snprintf (alice.flow, sizeof alice.flow, "udp:127.0.1.101:5170");
    snprintf (alice.path, sizeof alice.path, "<sip:edge.example.com;lr>");
    cw_binding_t bob = s_binding ("sip:bob@example.com", "sip:bob@127.0.1.101:5171", NOW + 300000);
    cw_binding_t carol = s_binding ("sip:carol@example.com", "sip:carol@127.0.1.101:5172", NOW + 300000);
    if (cw_binding_store_put (store, &alice, "desktop_systems") || cw_binding_store_put (store, &bob, "room_systems")
        || cw_binding_store_put (store, &carol, "desktop_systems") || cw_binding_store_pending (store) != 3
        || cw_binding_store_commit (store) || cw_binding_store_pending (store) != 0
        || cw_binding_store_commits (store) != 1)
        return 2;
    //  A refresh replaces, a removal removes
    alice.expires_ms = NOW + 900000;
    alice.cseq = 8;
    if (cw_binding_store_put (store, &alice, "desktop_systems")
        || cw_binding_store_remove (store, carol.aor, carol.contact) || cw_binding_store_commit (store))
        return 3;
    //  Not committed (this connection sees it): lost with the process
    cw_binding_t dave = s_binding ("sip:dave@example.com", "sip:dave@127.0.1.101:5173", NOW + 300000);
    if (cw_binding_store_put (store, &dave, "desktop_systems") || cw_binding_store_count (store) != 3)
        return 4;
    _exit (0);    //  no close, no commit
}

static void
test_store_and_reload (void **state)
{
    (void) state;
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0)
        _exit (s_first_instance ());
    int status = -1;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);

    //  The next instance opens the same file
    bool wiped2 = true;
    char *damaged = NULL;
    cw_binding_store_t *next = s_open ("boot-1", &wiped2, &damaged);
    assert_false (wiped2);
    assert_null (damaged);
    s_loaded_t loaded = { 0 };
    size_t expired = 9, invalid = 9;
    assert_int_equal (cw_binding_store_load (next, NOW, s_collect, &loaded, &expired, &invalid), 2);
    assert_int_equal (loaded.count, 2);
    assert_int_equal (expired, 0);
    assert_int_equal (invalid, 0);
    const cw_binding_t *a = strcmp (loaded.seen [0].aor, "sip:alice@example.com") == 0 ? &loaded.seen [0]
                                                                                       : &loaded.seen [1];
    const cw_binding_t *b = a == &loaded.seen [0] ? &loaded.seen [1] : &loaded.seen [0];
    const char *a_kind = a == &loaded.seen [0] ? loaded.kinds [0] : loaded.kinds [1];
    const char *b_kind = a == &loaded.seen [0] ? loaded.kinds [1] : loaded.kinds [0];
    assert_string_equal (a->aor, "sip:alice@example.com");
    assert_string_equal (a->contact, "sip:alice@127.0.1.101:5170");
    assert_true (a->expires_ms == NOW + 900000);
    assert_int_equal (a->cseq, 8);
    assert_string_equal (a->instance, "<urn:uuid:00000000-0000-0000-0000-000000000001>");
    assert_int_equal (a->reg_id, 1);
    assert_string_equal (a->flow, "udp:127.0.1.101:5170");
    assert_string_equal (a->path, "<sip:edge.example.com;lr>");
    assert_string_equal (a->transport, "udp");
    assert_string_equal (a->source, "127.0.1.101:5170");
    assert_string_equal (a->user_agent, "sipp");
    assert_string_equal (a->call_id, "call-sip:alice@127.0.1.101:5170");
    assert_string_equal (a->license, "1a.1");
    assert_string_equal (a_kind, "desktop_systems");
    assert_string_equal (b->aor, "sip:bob@example.com");
    assert_string_equal (b_kind, "room_systems");
    assert_int_equal (cw_binding_store_count (next), 2);
    cw_binding_store_destroy (&next);
    assert_null (next);
    cw_binding_store_destroy (&next);    //  NULL is fine
}

static void
test_expiry_and_refusal_on_reload (void **state)
{
    (void) state;
    bool wiped;
    cw_binding_store_t *store = s_open ("boot-1", &wiped, NULL);
    cw_binding_t gone = s_binding ("sip:erin@example.com", "sip:erin@127.0.1.101:5180", NOW - 1);
    cw_binding_t edge = s_binding ("sip:fay@example.com", "sip:fay@127.0.1.101:5181", NOW);
    cw_binding_t kept = s_binding ("sip:gus@example.com", "sip:gus@127.0.1.101:5182", NOW + 1);
    cw_binding_t tcp = s_binding ("sip:hal@example.com", "sip:hal@127.0.1.101:5183", NOW + 60000);
    assert_int_equal (cw_binding_store_put (store, &gone, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_put (store, &edge, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_put (store, &kept, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_put (store, &tcp, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_commit (store), 0);
    cw_binding_store_destroy (&store);

    store = s_open ("boot-1", &wiped, NULL);
    s_loaded_t loaded = { 0 };
    loaded.refuse = tcp.contact;
    size_t expired = 0, invalid = 0;
    assert_int_equal (cw_binding_store_load (store, NOW, s_collect, &loaded, &expired, &invalid), 1);
    assert_int_equal (loaded.count, 1);
    assert_string_equal (loaded.seen [0].aor, "sip:gus@example.com");
    assert_int_equal (expired, 2);
    assert_int_equal (invalid, 0);
    //  What was expired or refused is gone from the file
    assert_int_equal (cw_binding_store_count (store), 1);
    cw_binding_store_destroy (&store);
    store = s_open ("boot-1", &wiped, NULL);
    memset (&loaded, 0, sizeof loaded);
    assert_int_equal (cw_binding_store_load (store, NOW, s_collect, &loaded, NULL, NULL), 1);
    cw_binding_store_destroy (&store);
}

static void
test_another_node_start (void **state)
{
    (void) state;
    bool wiped;
    cw_binding_store_t *store = s_open ("boot-1", &wiped, NULL);
    cw_binding_t b = s_binding ("sip:ivy@example.com", "sip:ivy@127.0.1.101:5190", NOW + 60000);
    assert_int_equal (cw_binding_store_put (store, &b, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_commit (store), 0);
    cw_binding_store_destroy (&store);

    //  causewayd started again: a new boot id, nothing of the old start
    store = s_open ("boot-2", &wiped, NULL);
    assert_true (wiped);
    s_loaded_t loaded = { 0 };
    assert_int_equal (cw_binding_store_load (store, NOW, s_collect, &loaded, NULL, NULL), 0);
    assert_int_equal (cw_binding_store_count (store), 0);
    cw_binding_store_destroy (&store);
}

//  Files in S_DIR whose name starts with PREFIX
static int
s_count_files (const char *prefix)
{
    DIR *dir = opendir (s_dir);
    assert_non_null (dir);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) != NULL)
        count += strncmp (entry->d_name, prefix, strlen (prefix)) == 0;
    closedir (dir);
    return count;
}

static void
test_damaged_file (void **state)
{
    (void) state;
    //  Not a database at all
    FILE *file = fopen (s_path, "wb");
    assert_non_null (file);
    for (int i = 0; i < 512; i++)
        fputs ("this is not an SQLite database; ", file);
    fclose (file);
    bool wiped = true;
    char *damaged = NULL;
    cw_binding_store_t *store = s_open ("boot-1", &wiped, &damaged);
    assert_non_null (damaged);
    assert_non_null (strstr (damaged, "damaged"));
    assert_non_null (strstr (damaged, CW_BINDING_STORE_FILE ".damaged-"));
    free (damaged);
    assert_int_equal (s_count_files (CW_BINDING_STORE_FILE ".damaged-"), 1);
    //  ... and the store works, empty
    s_loaded_t loaded = { 0 };
    assert_int_equal (cw_binding_store_load (store, NOW, s_collect, &loaded, NULL, NULL), 0);
    cw_binding_t b = s_binding ("sip:jon@example.com", "sip:jon@127.0.1.101:5200", NOW + 60000);
    assert_int_equal (cw_binding_store_put (store, &b, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_commit (store), 0);
    assert_int_equal (cw_binding_store_count (store), 1);
    cw_binding_store_destroy (&store);
}

static void
test_invalid_rows (void **state)
{
    (void) state;
    bool wiped;
    cw_binding_store_t *store = s_open ("boot-1", &wiped, NULL);
    cw_binding_t b = s_binding ("sip:kim@example.com", "sip:kim@127.0.1.101:5210", NOW + 60000);
    assert_int_equal (cw_binding_store_put (store, &b, "desktop_systems"), 0);
    assert_int_equal (cw_binding_store_commit (store), 0);
    cw_binding_store_destroy (&store);
    //  Rows edited by hand: an empty contact, a contact too long for a
    //  binding, a reg-id out of range, an expiry that is not a number
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (s_path, &db), SQLITE_OK);
    char *long_contact = (char *) malloc (2 * CW_LOCATION_URI_MAX);
    assert_non_null (long_contact);
    memset (long_contact, 'x', 2 * CW_LOCATION_URI_MAX - 1);
    long_contact [2 * CW_LOCATION_URI_MAX - 1] = 0;
    char *sql = sqlite3_mprintf (
        "INSERT INTO bindings VALUES ('sip:a@example.com', '', %lld, '', 0, '', 'udp', '', '', '', '', 1, '', "
        "'desktop_systems');"
        "INSERT INTO bindings VALUES ('sip:b@example.com', '%q', %lld, '', 0, '', 'udp', '', '', '', '', 1, '', "
        "'desktop_systems');"
        "INSERT INTO bindings VALUES ('sip:c@example.com', 'sip:c@h', %lld, '', -4, '', 'udp', '', '', '', '', 1, "
        "'', 'desktop_systems');"
        "INSERT INTO bindings VALUES ('sip:d@example.com', 'sip:d@h', 'soon', '', 0, '', 'udp', '', '', '', '', 1, "
        "'', 'desktop_systems');",
        (long long) NOW + 60000, long_contact, (long long) NOW + 60000, (long long) NOW + 60000);
    free (long_contact);
    assert_int_equal (sqlite3_exec (db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free (sql);
    sqlite3_close (db);

    store = s_open ("boot-1", &wiped, NULL);
    s_loaded_t loaded = { 0 };
    size_t expired = 0, invalid = 0;
    assert_int_equal (cw_binding_store_load (store, NOW, s_collect, &loaded, &expired, &invalid), 1);
    assert_string_equal (loaded.seen [0].aor, "sip:kim@example.com");
    assert_int_equal (invalid, 4);
    assert_int_equal (cw_binding_store_count (store), 1);
    cw_binding_store_destroy (&store);
}

static void
test_many (void **state)
{
    (void) state;
    bool wiped;
    cw_binding_store_t *store = s_open ("boot-1", &wiped, NULL);
    for (int i = 0; i < 20000; i++) {
        char aor [64], contact [96];
        snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        snprintf (contact, sizeof contact, "sip:user%d@127.0.1.101:5300", i);
        cw_binding_t b = s_binding (aor, contact, NOW + 60000 + i);
        assert_int_equal (cw_binding_store_put (store, &b, "desktop_systems"), 0);
    }
    assert_int_equal (cw_binding_store_commit (store), 0);
    cw_binding_store_destroy (&store);
    cw_binding_store_t *next = s_open ("boot-1", &wiped, NULL);
    s_loaded_t loaded = { 0 };
    assert_int_equal (cw_binding_store_load (next, NOW, s_collect, &loaded, NULL, NULL), 20000);
    cw_binding_store_destroy (&next);
}

static void
test_unusable_folder (void **state)
{
    (void) state;
    char path [160], err [600] = "";
    snprintf (path, sizeof path, "%s/missing/folder/%s", s_dir, CW_BINDING_STORE_FILE);
    bool wiped;
    cw_binding_store_t *store = cw_binding_store_open (path, "boot-1", &wiped, NULL, err, sizeof err);
    assert_null (store);
    assert_non_null (strstr (err, "cannot open the binding store"));
    assert_non_null (strstr (err, path));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_store_and_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_expiry_and_refusal_on_reload, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_another_node_start, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_damaged_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_invalid_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_many, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unusable_folder, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
