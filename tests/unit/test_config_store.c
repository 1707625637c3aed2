/*  test_config_store.c - unit tests of the configuration store
    (actors/replication/store/config_store.c) on a real SQLite file in a
    temporary folder: defaults, set/get/unset/list through the command
    handler, the tables and meta rows, change notifications, refusal of
    bad input, and durability across a SIGKILL of the writing process.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "config_store.h"

typedef struct {
    char dir [64];
    cw_config_store_t *store;
    json_t *changes;    //  entries seen by the change callback
} s_fixture_t;

static void
s_on_change (cw_config_store_t *store, const cw_config_key_t *key, json_t *entry, void *arg)
{
    (void) store;
    (void) key;
    s_fixture_t *fx = (s_fixture_t *) arg;
    json_array_append (fx->changes, entry);
}

static int
s_setup (void **state)
{
    s_fixture_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->dir, sizeof (fx->dir), "/tmp/cw-test-config-XXXXXX");
    if (!mkdtemp (fx->dir))
        return -1;
    char err [256];
    //  state_dir that does not exist yet: the store creates it
    char state_dir [128];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    fx->store = cw_config_store_new (state_dir, "peer1", err, sizeof (err));
    if (!fx->store) {
        fprintf (stderr, "store: %s\n", err);
        return -1;
    }
    fx->changes = json_array ();
    cw_config_store_on_change (fx->store, s_on_change, fx);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    cw_config_store_destroy (&fx->store);
    json_decref (fx->changes);
    char cmd [128];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", fx->dir);
    if (system (cmd) != 0)
        fprintf (stderr, "cleanup of %s failed\n", fx->dir);
    free (fx);
    return 0;
}

//  Run COMMAND with ARGS_JSON; returns the reply (caller owns), status in *OK.
static json_t *
s_call (s_fixture_t *fx, const char *command, const char *args_json, bool *ok)
{
    json_t *args = args_json ? json_loads (args_json, JSON_DECODE_ANY, NULL) : NULL;
    if (args_json)
        assert_non_null (args);
    json_t *reply = NULL;
    cw_reply_status_t status = cw_config_store_handle (fx->store, command, args, &reply);
    json_decref (args);
    assert_non_null (reply);
    *ok = status == CW_REPLY_OK;
    return reply;
}

static char *
s_dump (json_t *value)
{
    return json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
}

static void
s_expect_reply (s_fixture_t *fx, const char *command, const char *args, bool want_ok, const char *want_json)
{
    bool ok;
    json_t *reply = s_call (fx, command, args, &ok);
    char *text = s_dump (reply);
    if (ok != want_ok || (want_json && strcmp (text, want_json) != 0))
        fail_msg ("%s %s -> %s %s; want %s %s", command, args, ok ? "ok" : "error", text, want_ok ? "ok" : "error",
                  want_json ? want_json : "");
    free (text);
    json_decref (reply);
}

static void
s_expect_error (s_fixture_t *fx, const char *command, const char *args, const char *message)
{
    bool ok;
    json_t *reply = s_call (fx, command, args, &ok);
    const char *error = json_string_value (json_object_get (reply, "error"));
    if (ok || !error || strcmp (error, message) != 0)
        fail_msg ("%s %s -> %s; want error '%s'", command, args, s_dump (reply), message);
    json_decref (reply);
}

//  The raw row of KEY in TABLE of the database file, or NULL.
static char *
s_row (s_fixture_t *fx, const char *table, const char *key)
{
    char path [128], sql [128];
    //  cluster-scope rows live in cluster.db (replicated), the others in config.db
    snprintf (path, sizeof (path), "%s/state/%s", fx->dir,
              strcmp (table, "cluster_config") == 0 ? "cluster.db" : "config.db");
    snprintf (sql, sizeof (sql), "SELECT value FROM %s WHERE key = ?1", table);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), SQLITE_OK);
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    char *value = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        value = strdup ((const char *) sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return value;
}

static void
test_defaults (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    s_expect_reply (fx, "config.get", "{\"key\": \"system.name\"}", true,
                    "{\"default\":true,\"key\":\"system.name\",\"scope\":\"peer\",\"value\":\"peer1\"}");
    s_expect_reply (fx, "config.get", "{\"key\": \"h323.ttl_s\"}", true,
                    "{\"default\":true,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":1800}");
    s_expect_reply (fx, "config.get", "{\"key\": \"dns.servers\"}", true,
                    "{\"default\":true,\"key\":\"dns.servers\",\"scope\":\"peer\",\"value\":[]}");
    assert_int_equal (cw_config_store_cluster_seq (fx->store), 0);
}

static void
test_set_get_unset (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    s_expect_reply (fx, "config.set", "{\"key\": \"h323.ttl_s\", \"value\": \"3600\"}", true,
                    "{\"default\":false,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":3600}");
    s_expect_reply (fx, "config.get", "{\"key\": \"h323.ttl_s\"}", true,
                    "{\"default\":false,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":3600}");
    char *row = s_row (fx, "cluster_config", "h323.ttl_s");
    assert_non_null (row);
    assert_string_equal (row, "3600");
    free (row);
    assert_null (s_row (fx, "peer_config", "h323.ttl_s"));
    assert_int_equal (cw_config_store_cluster_seq (fx->store), 1);

    s_expect_reply (fx, "config.set", "{\"key\": \"dns.servers\", \"value\": \"127.0.1.1,127.0.1.2\"}", true,
                    "{\"default\":false,\"key\":\"dns.servers\",\"scope\":\"peer\","
                    "\"value\":[\"127.0.1.1\",\"127.0.1.2\"]}");
    row = s_row (fx, "peer_config", "dns.servers");
    assert_string_equal (row, "[\"127.0.1.1\",\"127.0.1.2\"]");
    free (row);
    assert_int_equal (cw_config_store_cluster_seq (fx->store), 1);    //  peer keys do not count

    s_expect_reply (fx, "config.set", "{\"key\": \"maintenance.mode\", \"value\": true}", true,
                    "{\"default\":false,\"key\":\"maintenance.mode\",\"scope\":\"peer\",\"value\":\"on\"}");

    s_expect_reply (fx, "config.unset", "{\"key\": \"h323.ttl_s\"}", true,
                    "{\"default\":true,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":1800}");
    assert_null (s_row (fx, "cluster_config", "h323.ttl_s"));
    assert_int_equal (cw_config_store_cluster_seq (fx->store), 2);

    //  change notifications: {"key","value","scope"}, in order
    assert_int_equal (json_array_size (fx->changes), 4);
    char *first = s_dump (json_array_get (fx->changes, 0));
    assert_string_equal (first, "{\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":3600}");
    free (first);
    char *last = s_dump (json_array_get (fx->changes, 3));
    assert_string_equal (last, "{\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":1800}");
    free (last);
}

static void
test_bad_input_changes_nothing (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    s_expect_reply (fx, "config.set", "{\"key\": \"h323.ttl_s\", \"value\": 120}", true, NULL);
    size_t changes = json_array_size (fx->changes);
    s_expect_error (fx, "config.set", "{\"key\": \"h323.ttl_s\", \"value\": 5}",
                    "h323.ttl_s: 5 is out of range; allowed: integer 60..65534");
    s_expect_error (fx, "config.set", "{\"key\": \"maintenance.mode\", \"value\": \"maybe\"}",
                    "maintenance.mode: 'maybe' is not allowed; allowed: on, off");
    s_expect_error (fx, "config.set", "{\"key\": \"h323.ttl_s\"}",
                    "h323.ttl_s: a value is required; allowed: integer 60..65534");
    s_expect_error (fx, "config.set", "{\"key\": \"h323.ttl\", \"value\": 100}",
                    "unknown key 'h323.ttl'; did you mean 'h323.ttl_s'?");
    s_expect_error (fx, "config.get", "{\"key\": \"nope\"}", "unknown key 'nope'");
    s_expect_error (fx, "config.get", "{}", "config.get: 'key' is required (a key name such as system.name)");
    s_expect_error (fx, "config.get", "{\"key\": 5}", "config.get: 'key' is required (a key name such as system.name)");
    s_expect_error (fx, "config.unset", "{\"key\": \"\"}",
                    "config.unset: 'key' is required (a key name such as system.name)");
    s_expect_error (fx, "config.set", "[1, 2]", "config.set: arguments must be a JSON object");
    s_expect_error (fx, "config.list", "{\"prefix\": 7}", "config.list: 'prefix' must be a string");
    s_expect_error (fx, "config.frobnicate", "{}", "unknown command 'config.frobnicate'");
    //  nothing changed, nothing announced
    assert_int_equal (json_array_size (fx->changes), changes);
    s_expect_reply (fx, "config.get", "{\"key\": \"h323.ttl_s\"}", true,
                    "{\"default\":false,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":120}");
    //  NULL args are {} (a missing key, not a crash)
    bool ok;
    json_t *reply = s_call (fx, "config.list", NULL, &ok);
    assert_true (ok);
    json_decref (reply);
}

static void
test_list (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    bool ok;
    json_t *reply = s_call (fx, "config.list", "{}", &ok);
    assert_true (ok);
    json_t *list = json_object_get (reply, "config");
    size_t count;
    cw_registry_keys (&count);
    assert_int_equal (json_array_size (list), count);
    for (size_t i = 1; i < json_array_size (list); i++) {
        const char *a = json_string_value (json_object_get (json_array_get (list, i - 1), "key"));
        const char *b = json_string_value (json_object_get (json_array_get (list, i), "key"));
        assert_true (strcmp (a, b) < 0);
    }
    json_t *entry = json_array_get (list, 0);
    assert_non_null (json_object_get (entry, "value"));
    assert_non_null (json_object_get (entry, "scope"));
    assert_true (json_is_boolean (json_object_get (entry, "default")));
    json_decref (reply);

    s_expect_reply (fx, "config.list", "{\"prefix\": \"dns.\"}", true,
                    "{\"config\":["
                    "{\"default\":true,\"key\":\"dns.domain\",\"scope\":\"peer\",\"value\":\"\"},"
                    "{\"default\":true,\"key\":\"dns.hostname\",\"scope\":\"peer\",\"value\":\"\"},"
                    "{\"default\":true,\"key\":\"dns.servers\",\"scope\":\"peer\",\"value\":[]}]}");
    s_expect_reply (fx, "config.list", "{\"prefix\": \"zzz\"}", true, "{\"config\":[]}");
}

static void
test_announce (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    cw_config_store_announce (fx->store);
    size_t count;
    cw_registry_keys (&count);
    assert_int_equal (json_array_size (fx->changes), count);
    json_t *entry;
    size_t i;
    bool saw_name = false;
    json_array_foreach (fx->changes, i, entry) {
        assert_int_equal (json_object_size (entry), 3);
        if (strcmp (json_string_value (json_object_get (entry, "key")), "system.name") == 0) {
            assert_string_equal (json_string_value (json_object_get (entry, "value")), "peer1");
            saw_name = true;
        }
    }
    assert_true (saw_name);
    //  Again by scope: only what changed since (nothing; then one key)
    json_array_clear (fx->changes);
    cw_config_store_announce_scope (fx->store, CW_SCOPE_CLUSTER);
    assert_int_equal (json_array_size (fx->changes), 0);
    char err [256];
    json_t *renamed = json_string ("renamed");
    assert_int_equal (cw_config_store_set_named (fx->store, "system.name", renamed, err, sizeof err), 0);
    json_decref (renamed);
    assert_int_equal (json_array_size (fx->changes), 1);
    cw_config_store_announce_scope (fx->store, CW_SCOPE_CLUSTER);
    cw_config_store_announce_scope (fx->store, CW_SCOPE_PEER);
    assert_int_equal (json_array_size (fx->changes), 1);
}

static void
test_reopen_and_bad_rows (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    s_expect_reply (fx, "config.set", "{\"key\": \"system.name\", \"value\": \"vcs-tokyo\"}", true, NULL);
    s_expect_reply (fx, "config.set", "{\"key\": \"sip.mode\", \"value\": \"off\"}", true, NULL);
    cw_config_store_destroy (&fx->store);

    //  a hand-edited row that the registry refuses reads as the default
    char path [128];
    snprintf (path, sizeof (path), "%s/state/config.db", fx->dir);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "INSERT INTO peer_config VALUES ('old.key', '1', NULL);", NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);
    snprintf (path, sizeof (path), "%s/state/cluster.db", fx->dir);
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "UPDATE cluster_config SET value = '\"sideways\"' WHERE key = 'sip.mode';",
                                    NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);

    char state_dir [128], err [256];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    fx->store = cw_config_store_new (state_dir, "other-node", err, sizeof (err));
    assert_non_null (fx->store);
    s_expect_reply (fx, "config.get", "{\"key\": \"system.name\"}", true,
                    "{\"default\":false,\"key\":\"system.name\",\"scope\":\"peer\",\"value\":\"vcs-tokyo\"}");
    s_expect_reply (fx, "config.get", "{\"key\": \"sip.mode\"}", true,
                    "{\"default\":true,\"key\":\"sip.mode\",\"scope\":\"cluster\",\"value\":\"on\"}");
    //  after unset, system.name follows the (new) node name
    s_expect_reply (fx, "config.unset", "{\"key\": \"system.name\"}", true,
                    "{\"default\":true,\"key\":\"system.name\",\"scope\":\"peer\",\"value\":\"other-node\"}");
    cw_config_store_on_change (fx->store, s_on_change, fx);
}

static void
test_newer_schema_refused (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    cw_config_store_destroy (&fx->store);
    char path [128];
    snprintf (path, sizeof (path), "%s/state/config.db", fx->dir);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'", NULL, NULL, NULL),
                      SQLITE_OK);
    sqlite3_close (db);
    char state_dir [128], err [256];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    assert_null (cw_config_store_new (state_dir, "peer1", err, sizeof (err)));
    assert_non_null (strstr (err, "schema version 99"));
    //  and a state_dir that cannot be created
    assert_null (cw_config_store_new ("/proc/no/such/dir", "peer1", err, sizeof (err)));
    assert_non_null (strstr (err, "state_dir /proc/no/such/dir cannot be created"));
}

static void
test_wal_and_durable_across_sigkill (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    int pipefd [2];
    assert_int_equal (pipe (pipefd), 0);
    pid_t pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
        //  child: commit, tell the parent, and wait to be killed -- no
        //  close, no checkpoint, exactly like kill -9 after the reply.
        json_t *value = json_integer (4321);
        char err [256];
        int rc = cw_config_store_set (fx->store, cw_registry_lookup ("h323.ttl_s"), value, err, sizeof (err));
        char byte = rc == 0 ? 'y' : 'n';
        if (write (pipefd [1], &byte, 1) != 1)
            _exit (2);
        for (;;)
            pause ();
    }
    char byte = 0;
    assert_int_equal (read (pipefd [0], &byte, 1), 1);
    assert_int_equal (byte, 'y');
    kill (pid, SIGKILL);
    int status;
    waitpid (pid, &status, 0);
    assert_true (WIFSIGNALED (status));
    close (pipefd [0]);
    close (pipefd [1]);
    cw_config_store_destroy (&fx->store);

    char state_dir [128], err [256];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    fx->store = cw_config_store_new (state_dir, "peer1", err, sizeof (err));
    assert_non_null (fx->store);
    s_expect_reply (fx, "config.get", "{\"key\": \"h323.ttl_s\"}", true,
                    "{\"default\":false,\"key\":\"h323.ttl_s\",\"scope\":\"cluster\",\"value\":4321}");

    char path [128];
    snprintf (path, sizeof (path), "%s/state/config.db", fx->dir);
    sqlite3 *db;
    assert_int_equal (sqlite3_open (path, &db), SQLITE_OK);
    sqlite3_stmt *stmt;
    assert_int_equal (sqlite3_prepare_v2 (db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_step (stmt), SQLITE_ROW);
    assert_string_equal ((const char *) sqlite3_column_text (stmt, 0), "wal");
    sqlite3_finalize (stmt);
    sqlite3_close (db);
}

static void
s_count_damage (cw_config_store_t *store, json_t *damage, void *arg)
{
    (void) store;
    json_array_extend ((json_t *) arg, damage);
}

//  The entry about FILE in a damage list, or NULL.
static json_t *
s_damage_of (json_t *damage, const char *file)
{
    size_t index;
    json_t *entry;
    json_array_foreach (damage, index, entry)
        if (strcmp (json_string_value (json_object_get (entry, "file")), file) == 0)
            return entry;
    return NULL;
}

static int
s_count_aside (const char *dir, const char *prefix)
{
    char cmd [256];
    snprintf (cmd, sizeof cmd, "ls '%s' | grep -c '^%s\\.damaged-[0-9TZ]*$'", dir, prefix);
    FILE *p = popen (cmd, "r");
    int count = 0;
    if (p) {
        if (fscanf (p, "%d", &count) != 1)
            count = 0;
        pclose (p);
    }
    return count;
}

//  An empty config.db on a node that had one, and a cluster.db that is not
//  a database: each moved aside, replaced, and the damage recorded (also
//  across a reopen) until resolved; settings are not silently defaults.
static void
test_damaged_files_replaced (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    s_expect_reply (fx, "config.set", "{\"key\": \"system.name\", \"value\": \"vcs-tokyo\"}", true, NULL);
    json_t *damage = cw_config_store_damage (fx->store);
    assert_int_equal (json_array_size (damage), 0);
    json_decref (damage);
    cw_config_store_destroy (&fx->store);

    char state_dir [128], path [192], err [256];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    snprintf (path, sizeof (path), "%s/config.db", state_dir);
    assert_int_equal (truncate (path, 0), 0);
    snprintf (path, sizeof (path), "%s/cluster.db", state_dir);
    FILE *f = fopen (path, "r+");
    assert_non_null (f);
    fputs ("this is not a database, nor its header: overwritten", f);
    fclose (f);

    fx->store = cw_config_store_new (state_dir, "peer1", err, sizeof (err));
    assert_non_null (fx->store);
    damage = cw_config_store_damage (fx->store);
    assert_int_equal (json_array_size (damage), 2);
    json_t *config = s_damage_of (damage, "config.db");
    json_t *cluster = s_damage_of (damage, "cluster.db");
    assert_non_null (config);
    assert_non_null (cluster);
    assert_true (json_is_true (json_object_get (config, "replaced")));
    const char *detail = json_string_value (json_object_get (config, "detail"));
    assert_non_null (strstr (detail, "config.db is empty (zero bytes), but this node had one"));
    assert_non_null (strstr (detail, "moved aside to"));
    detail = json_string_value (json_object_get (cluster, "detail"));
    assert_non_null (strstr (detail, "cluster.db"));
    assert_non_null (strstr (detail, "not a database"));
    json_decref (damage);
    assert_int_equal (s_count_aside (state_dir, "config.db"), 1);
    assert_int_equal (s_count_aside (state_dir, "cluster.db"), 1);
    s_expect_reply (fx, "config.get", "{\"key\": \"system.name\"}", true,
                    "{\"default\":true,\"key\":\"system.name\",\"scope\":\"peer\",\"value\":\"peer1\"}");

    //  Still reported after a reopen; the announce calls the damage callback
    cw_config_store_destroy (&fx->store);
    fx->store = cw_config_store_new (state_dir, "peer1", err, sizeof (err));
    assert_non_null (fx->store);
    json_t *seen = json_array ();
    cw_config_store_on_damage (fx->store, s_count_damage, seen);
    cw_config_store_announce (fx->store);
    assert_int_equal (json_array_size (seen), 2);
    cw_config_store_damage_resolved (fx->store, "cluster.db");
    json_array_clear (seen);
    cw_config_store_announce (fx->store);
    assert_int_equal (json_array_size (seen), 1);
    assert_non_null (s_damage_of (seen, "config.db"));
    json_decref (seen);
    cw_config_store_on_damage (fx->store, NULL, NULL);
}

//  A config.db recorded in .causeway-state that is gone is damage; a page
//  of garbage in the middle of cluster.db fails the integrity check.
static void
test_missing_and_damaged_page (void **state)
{
    s_fixture_t *fx = (s_fixture_t *) *state;
    //  Enough rows for several pages in cluster.db
    for (int i = 0; i < 40; i++) {
        char args [2048] = "{\"key\": \"cluster.address_mapping\", \"value\": [";
        for (int m = 0; m < 12; m++)
            snprintf (args + strlen (args), sizeof args - strlen (args), "%s\"host%d-%d.example.com=10.0.%d.%d\"",
                      m ? ", " : "", i, m, i, m + 1);
        strcat (args, "]}");
        s_expect_reply (fx, "config.set", args, true, NULL);
    }
    cw_config_store_destroy (&fx->store);
    char state_dir [128], path [192], err [256];
    snprintf (state_dir, sizeof (state_dir), "%s/state", fx->dir);
    snprintf (path, sizeof (path), "%s/config.db", state_dir);
    assert_int_equal (unlink (path), 0);
    snprintf (path, sizeof (path), "%s/cluster.db", state_dir);
    FILE *f = fopen (path, "r+");
    assert_non_null (f);
    fseek (f, 0, SEEK_END);
    long size = ftell (f);
    assert_true (size >= 3 * 4096);
    fseek (f, (size / 4096 / 2) * 4096, SEEK_SET);
    for (int i = 0; i < 4096; i++)
        fputc ((i * 7919) & 0xff, f);
    fclose (f);

    fx->store = cw_config_store_new (state_dir, "peer1", err, sizeof (err));
    assert_non_null (fx->store);
    json_t *damage = cw_config_store_damage (fx->store);
    json_t *config = s_damage_of (damage, "config.db");
    json_t *cluster = s_damage_of (damage, "cluster.db");
    assert_non_null (config);
    assert_non_null (cluster);
    assert_non_null (strstr (json_string_value (json_object_get (config, "detail")), "is missing"));
    assert_non_null (strstr (json_string_value (json_object_get (cluster, "detail")), "integrity check failed"));
    json_decref (damage);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_set_get_unset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_input_changes_nothing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_list, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_announce, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reopen_and_bad_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_newer_schema_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wal_and_durable_across_sigkill, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_damaged_files_replaced, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_and_damaged_page, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
