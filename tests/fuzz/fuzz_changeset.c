/*  fuzz_changeset.c - libFuzzer target: cw_replog_apply
    (actors/replication/store/replog.c), a subordinate applying a changeset
    blob from its primary, on real databases in a temporary folder.

    Set-up (once): a primary (config.db with cluster.db attached, as
    cw_replog_db_open makes them) gets the cluster tables of a node
    (cluster_config, cluster_data) and one table with every SQLite value
    type, and one replicated write; a subordinate joins from its snapshot.
    Each input is then applied as the next changeset (seq = applied + 1,
    no hash: the bytes themselves are what is tested).

    Properties: the result is one of cw_replog_rc_t and anything but OK
    says why; when the change is not applied, the subordinate's data,
    applied_seq and head hash are exactly as before; when it is applied,
    applied_seq moved by one and the database passes quick_check. After an
    applied change the subordinate is put back to the base snapshot, so
    every input meets the same state.

    With CW_FUZZ_SEEDS_OUT=DIR in the environment, the set-up also writes
    real changesets of the primary (insert, update, delete, several tables,
    every value type) into DIR, one file each, each applicable to the base:
    that is how tests/fuzz/corpus/fuzz_changeset/ was made. With
    CW_FUZZ_VERBOSE set, each input's result is printed.
*/
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_log.h"
#include "fuzz.h"
#include "replog.h"

typedef struct {
    char dir [PATH_MAX];
    sqlite3 *db;
    cw_replog_t *replog;
} s_node_t;

static char s_base [64];
static s_node_t s_primary, s_sub;
static void *s_snapshot;    //  the subordinate's base state
static int64_t s_snapshot_len, s_snapshot_seq;
static char *s_base_data;    //  its data, as s_data_text reads it
static char s_base_hash [CW_REPLOG_HASH_HEX_LEN + 1];
static bool s_verbose;    //  CW_FUZZ_VERBOSE set: print each result (to replay an input)

static const char *s_tables_sql =
    "CREATE TABLE cluster.cluster_data (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
    " PRIMARY KEY (ns, key));"
    "CREATE TABLE cluster.fuzz_types (id INTEGER PRIMARY KEY, r REAL, b BLOB, t TEXT, n);";

static const char *s_base_sql =
    "INSERT INTO cluster.cluster_config (key, value, updated_at) VALUES"
    " ('h323.ttl_s', '1800', '2026-11-30T12:00:00Z'), ('sip.mode', '\"on\"', '2026-11-30T12:00:00Z'),"
    " ('system.name', '\"peer1\"', NULL), ('dns.servers', '[\"192.0.2.53\"]', NULL);"
    "INSERT INTO cluster.cluster_data (ns, key, value) VALUES ('users', 'alice', '{\"ext\":100}'),"
    " ('users', 'bob', '{\"ext\":101}'), ('users', 'carol', '{\"ext\":102}'), ('rooms', 'r1', 'x'),"
    " ('rooms', 'r2', 'y');"
    "INSERT INTO cluster.fuzz_types VALUES (1, 1.5, x'00ff10', 'one', NULL), (2, -2e300, x'', '', 7),"
    " (3, 0.0, NULL, 'three', 'text');";

//  Each one changes rows the others do not touch, so each applies to the base.
static const char *s_seed_sql [] = {
    "UPDATE cluster.cluster_config SET value = '3600', updated_at = '2026-11-30T12:01:00Z'"
    " WHERE key = 'h323.ttl_s';",
    "INSERT INTO cluster.cluster_data (ns, key, value) VALUES ('users', 'dave', '{\"ext\":103}');",
    "DELETE FROM cluster.cluster_data WHERE ns = 'users' AND key = 'bob';",
    "UPDATE cluster.cluster_config SET value = '\"off\"' WHERE key = 'sip.mode';"
    " INSERT INTO cluster.cluster_data (ns, key, value) VALUES ('rooms', 'r3', 'z');"
    " DELETE FROM cluster.cluster_data WHERE ns = 'rooms' AND key = 'r1';",
    "UPDATE cluster.cluster_data SET value = '{\"ext\":200}' WHERE ns = 'users' AND key = 'carol';",
    "INSERT INTO cluster.fuzz_types VALUES (4, 3.25, x'deadbeef', 'four', 4);"
    " UPDATE cluster.fuzz_types SET r = 9.5, b = x'01', n = 'n' WHERE id = 1;"
    " DELETE FROM cluster.fuzz_types WHERE id = 3;",
    "INSERT INTO cluster.cluster_config (key, value, updated_at) VALUES ('dns.domain', '\"example.com\"', NULL);"
    " DELETE FROM cluster.cluster_config WHERE key = 'dns.servers';",
    NULL
};

static void
s_sql (sqlite3 *db, const char *sql)
{
    char *message = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
        fuzz_fail ("set-up SQL failed: %s: %s", sql, message ? message : "?");
}

static void
s_open (s_node_t *node, const char *name)
{
    char err [512] = "";
    snprintf (node->dir, sizeof node->dir, "%s/%s", s_base, name);
    if (mkdir (node->dir, 0700))
        fuzz_fail ("cannot make %s", node->dir);
    node->db = cw_replog_db_open (node->dir, err, sizeof err);
    node->replog = node->db ? cw_replog_new (node->db, NULL, err, sizeof err) : NULL;
    if (!node->replog)
        fuzz_fail ("cannot open the %s databases: %s", name, err);
}

//  One replicated write of SQL on the primary; its changeset (sqlite3_free).
static void *
s_write (const char *sql, int *len)
{
    char err [512] = "";
    int64_t seq = 0;
    void *changeset = NULL;
    if (cw_replog_write_begin (s_primary.replog, err, sizeof err))
        fuzz_fail ("write_begin: %s", err);
    s_sql (s_primary.db, sql);
    if (cw_replog_write_commit (s_primary.replog, &seq, &changeset, len, err, sizeof err) || !changeset)
        fuzz_fail ("write_commit: %s", err);
    return changeset;
}

//  Every row of the subordinate's cluster tables as one text (malloc'd).
static char *
s_data_text (void)
{
    sqlite3_stmt *stmt = NULL;
    const char *sql = "SELECT (SELECT group_concat (quote (key) || quote (value) || quote (updated_at), ',')"
                      "   FROM (SELECT * FROM cluster.cluster_config ORDER BY key))"
                      " || '|' || (SELECT group_concat (quote (ns) || quote (key) || quote (value), ',')"
                      "   FROM (SELECT * FROM cluster.cluster_data ORDER BY ns, key))"
                      " || '|' || (SELECT group_concat (id || quote (r) || quote (b) || quote (t) || quote (n), ',')"
                      "   FROM (SELECT * FROM cluster.fuzz_types ORDER BY id))";
    if (sqlite3_prepare_v2 (s_sub.db, sql, -1, &stmt, NULL) != SQLITE_OK || sqlite3_step (stmt) != SQLITE_ROW)
        fuzz_fail ("cannot read the subordinate's data: %s", sqlite3_errmsg (s_sub.db));
    const char *text = (const char *) sqlite3_column_text (stmt, 0);
    char *copy = strdup (text ? text : "");
    sqlite3_finalize (stmt);
    return copy;
}

static void
s_write_seeds (const char *out)
{
    for (int i = 0; s_seed_sql [i]; i++) {
        int len = 0;
        void *changeset = s_write (s_seed_sql [i], &len);
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/seed-%02d", out, i + 1);
        FILE *file = fopen (path, "wb");
        if (!file || fwrite (changeset, 1, (size_t) len, file) != (size_t) len)
            fuzz_fail ("cannot write %s", path);
        fclose (file);
        sqlite3_free (changeset);
    }
    fprintf (stderr, "fuzz_changeset: %d seeds written to %s\n", (int) (sizeof s_seed_sql / sizeof *s_seed_sql) - 1,
             out);
}

static void
s_cleanup (void)
{
    cw_replog_destroy (&s_sub.replog);
    sqlite3_close_v2 (s_sub.db);
    cw_replog_destroy (&s_primary.replog);
    sqlite3_close_v2 (s_primary.db);
    sqlite3_free (s_snapshot);
    free (s_base_data);
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_base);
    if (system (command) != 0)
        fprintf (stderr, "fuzz_changeset: cannot remove %s\n", s_base);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cw_log_init ("fuzz_changeset", CW_LOG_ERROR);
    //  Commits are durable (synchronous=FULL): on tmpfs they cost nothing
    const char *tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf (s_base, sizeof s_base, "%s/cw-fuzz-XXXXXX", tmp);
    if (!mkdtemp (s_base))
        fuzz_fail ("cannot make a temporary folder in %s", tmp);
    atexit (s_cleanup);
    s_open (&s_primary, "primary");
    s_open (&s_sub, "subordinate");
    s_sql (s_primary.db, s_tables_sql);
    int len = 0;
    sqlite3_free (s_write (s_base_sql, &len));

    char err [512] = "";
    if (cw_replog_snapshot_create (s_primary.replog, &s_snapshot, &s_snapshot_len, &s_snapshot_seq, err, sizeof err))
        fuzz_fail ("snapshot_create: %s", err);
    int rc = cw_replog_snapshot_apply (s_sub.replog, s_snapshot, s_snapshot_len, s_snapshot_seq, err, sizeof err);
    if (rc != CW_REPLOG_OK)
        fuzz_fail ("snapshot_apply: %s (%s)", cw_replog_rc_name (rc), err);
    s_base_data = s_data_text ();
    cw_replog_head_hash (s_sub.replog, s_base_hash, sizeof s_base_hash);

    s_verbose = getenv ("CW_FUZZ_VERBOSE") != NULL;
    const char *out = getenv ("CW_FUZZ_SEEDS_OUT");
    if (out && *out)
        s_write_seeds (out);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0 || size > 1024 * 1024)
        return 0;
    char err [1024] = "";
    int64_t need_from = -1;
    int rc = cw_replog_apply (s_sub.replog, s_snapshot_seq + 1, data, (int) size, NULL, &need_from, err, sizeof err);
    if (rc < CW_REPLOG_INVALID || rc > CW_REPLOG_TOO_OLD)
        fuzz_fail ("cw_replog_apply returned %d", rc);
    int64_t applied = cw_replog_applied_seq (s_sub.replog);
    if (s_verbose)
        fprintf (stderr, "fuzz_changeset: %zu bytes: %s %s\n", size, cw_replog_rc_name (rc), err);
    if (rc != CW_REPLOG_OK) {
        if (!*err)
            fuzz_fail ("result %s without a reason", cw_replog_rc_name (rc));
        if (rc != CW_REPLOG_INVALID && rc != CW_REPLOG_CONFLICT)
            fuzz_fail ("the next changeset in order gave %s: %s", cw_replog_rc_name (rc), err);
        char hash [CW_REPLOG_HASH_HEX_LEN + 1] = "";
        cw_replog_head_hash (s_sub.replog, hash, sizeof hash);
        char *now = s_data_text ();
        if (applied != s_snapshot_seq || strcmp (hash, s_base_hash) != 0 || strcmp (now, s_base_data) != 0)
            fuzz_fail ("a changeset refused as %s (%s) changed the subordinate", cw_replog_rc_name (rc), err);
        free (now);
        return 0;
    }
    if (applied != s_snapshot_seq + 1)
        fuzz_fail ("an applied changeset left applied_seq at %lld", (long long) applied);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (s_sub.db, "PRAGMA cluster.quick_check", -1, &stmt, NULL) != SQLITE_OK
        || sqlite3_step (stmt) != SQLITE_ROW || strcmp ((const char *) sqlite3_column_text (stmt, 0), "ok") != 0)
        fuzz_fail ("cluster.db fails quick_check after an applied changeset");
    sqlite3_finalize (stmt);
    rc = cw_replog_snapshot_apply (s_sub.replog, s_snapshot, s_snapshot_len, s_snapshot_seq, err, sizeof err);
    if (rc != CW_REPLOG_OK)
        fuzz_fail ("cannot put the subordinate back to its base: %s", err);
    return 0;
}
