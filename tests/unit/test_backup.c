/*  test_backup.c - unit tests of encrypted backups and secrets at rest
    (actors/replication/store/backup.c): the node key file, seal/open, a backup
    restored on another node (secrets re-sealed for it), a wrong passphrase,
    damaged and truncated files, and kill -9 during a restore.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "backup.h"
#include "cw_log.h"
#include "replog.h"

typedef struct {
    char base [128];
    char a [256], b [256];    //  state dirs of node A and node B
    sqlite3 *db_a, *db_b;
    unsigned char key_a [CW_SECRET_KEY_BYTES], key_b [CW_SECRET_KEY_BYTES];
    char file [256];
} fixture_t;

static void
s_sql (sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg ("%s: %s", sql, msg);
}

static const char *
s_text (sqlite3 *db, const char *sql)
{
    static char buf [4096];
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
        fail_msg ("%s: %s", sql, sqlite3_errmsg (db));
    buf [0] = 0;
    if (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_text (stmt, 0))
        snprintf (buf, sizeof (buf), "%s", sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    return buf;
}

static sqlite3 *
s_open (const char *dir)
{
    char err [512] = "";
    mkdir (dir, 0700);
    sqlite3 *db = cw_replog_db_open (dir, err, sizeof (err));
    if (!db)
        fail_msg ("open %s: %s", dir, err);
    s_sql (db, "CREATE TABLE IF NOT EXISTS main.peer_config (key TEXT PRIMARY KEY, "
               "value TEXT NOT NULL, updated_at TEXT);"
               "CREATE TABLE IF NOT EXISTS cluster.cluster_config (key TEXT PRIMARY KEY, "
               "value TEXT NOT NULL, updated_at TEXT);");
    return db;
}

//  Put a secret (JSON string of the sealed text) in TABLE of DB.
static void
s_put_secret (sqlite3 *db, const char *table, const char *key_name, const unsigned char *key, const char *plaintext)
{
    char *sealed = cw_secret_seal (key, plaintext);
    assert_non_null (sealed);
    char *sql = sqlite3_mprintf ("INSERT OR REPLACE INTO %s (key, value) VALUES (%Q, '\"%q\"')", table, key_name,
                                 sealed);
    s_sql (db, sql);
    sqlite3_free (sql);
    free (sealed);
}

//  Open the secret stored at KEY_NAME in TABLE with KEY; caller frees.
static char *
s_get_secret (sqlite3 *db, const char *table, const char *key_name, const unsigned char *key)
{
    char *sql = sqlite3_mprintf ("SELECT value FROM %s WHERE key = %Q", table, key_name);
    char value [4096];
    snprintf (value, sizeof (value), "%s", s_text (db, sql));
    sqlite3_free (sql);
    assert_true (value [0] == '"');
    value [strlen (value) - 1] = 0;
    char err [256] = "";
    return cw_secret_open (key, value + 1, err, sizeof (err));
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof (*fx));
    snprintf (fx->base, sizeof (fx->base), "/tmp/test_backup.XXXXXX");
    assert_non_null (mkdtemp (fx->base));
    snprintf (fx->a, sizeof (fx->a), "%s/a", fx->base);
    snprintf (fx->b, sizeof (fx->b), "%s/b", fx->base);
    snprintf (fx->file, sizeof (fx->file), "%s/node.backup", fx->base);
    fx->db_a = s_open (fx->a);
    fx->db_b = s_open (fx->b);
    char err [256] = "";
    assert_int_equal (cw_secret_key_load (fx->a, fx->key_a, err, sizeof (err)), 0);
    assert_int_equal (cw_secret_key_load (fx->b, fx->key_b, err, sizeof (err)), 0);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    sqlite3_close_v2 (fx->db_a);
    sqlite3_close_v2 (fx->db_b);
    char cmd [256];
    snprintf (cmd, sizeof (cmd), "rm -rf '%s'", fx->base);
    if (system (cmd) != 0)
        fprintf (stderr, "could not remove %s\n", fx->base);
    free (fx);
    return 0;
}

// ---------------------------------------------------------------------------

static void
test_secret_key_file (void **state)
{
    fixture_t *fx = *state;
    char path [300], err [512] = "";
    snprintf (path, sizeof (path), "%s/secret.key", fx->a);
    struct stat st;
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    assert_int_equal (st.st_size, CW_SECRET_KEY_BYTES);
    //  loading again gives the same key; another node has another
    unsigned char again [CW_SECRET_KEY_BYTES];
    assert_int_equal (cw_secret_key_load (fx->a, again, err, sizeof (err)), 0);
    assert_memory_equal (again, fx->key_a, CW_SECRET_KEY_BYTES);
    assert_memory_not_equal (fx->key_a, fx->key_b, CW_SECRET_KEY_BYTES);
    //  readable by others: refused
    chmod (path, 0644);
    assert_int_equal (cw_secret_key_load (fx->a, again, err, sizeof (err)), -1);
    assert_non_null (strstr (err, "chmod 600"));
    chmod (path, 0600);
    //  wrong size: refused
    FILE *f = fopen (path, "ab");
    fputc ('x', f);
    fclose (f);
    assert_int_equal (cw_secret_key_load (fx->a, again, err, sizeof (err)), -1);
    assert_non_null (strstr (err, "key file"));
}

static void
test_seal_open (void **state)
{
    fixture_t *fx = *state;
    char err [256];
    char *s1 = cw_secret_seal (fx->key_a, "hunter2");
    char *s2 = cw_secret_seal (fx->key_a, "hunter2");
    assert_non_null (s1);
    assert_true (strncmp (s1, "sealed:", 7) == 0);
    assert_null (strstr (s1, "hunter2"));
    assert_string_not_equal (s1, s2);    //  fresh nonce each time
    assert_true (cw_secret_is_sealed (s1));
    assert_false (cw_secret_is_sealed ("hunter2"));
    char *p1 = cw_secret_open (fx->key_a, s1, err, sizeof (err));
    assert_non_null (p1);
    assert_string_equal (p1, "hunter2");
    //  another node's key, damage, not sealed at all
    assert_null (cw_secret_open (fx->key_b, s1, err, sizeof (err)));
    assert_non_null (strstr (err, "another node"));
    s1 [20] = s1 [20] == 'A' ? 'B' : 'A';
    assert_null (cw_secret_open (fx->key_a, s1, err, sizeof (err)));
    assert_null (cw_secret_open (fx->key_a, "sealed:", err, sizeof (err)));
    assert_null (cw_secret_open (fx->key_a, "sealed:!!!!", err, sizeof (err)));
    assert_null (cw_secret_open (fx->key_a, "hunter2", err, sizeof (err)));
    //  empty secret round-trips
    char *s3 = cw_secret_seal (fx->key_a, "");
    char *p3 = cw_secret_open (fx->key_a, s3, err, sizeof (err));
    assert_string_equal (p3, "");
    free (s1);
    free (s2);
    free (s3);
    free (p1);
    free (p3);
}

//  Fill node A: peer and cluster rows, a secret in each, a replog history.
static void
s_fill_a (fixture_t *fx)
{
    char err [512] = "";
    cw_replog_t *replog = cw_replog_new (fx->db_a, "cluster", err, sizeof (err));
    assert_non_null (replog);
    assert_int_equal (cw_replog_write_begin (replog, err, sizeof (err)), 0);
    s_sql (fx->db_a, "INSERT INTO cluster.cluster_config (key, value) VALUES "
                     "('system.banner', '\"welcome\"')");
    s_put_secret (fx->db_a, "cluster.cluster_config", "tms.password", fx->key_a, "tms-s3cret");
    int64_t seq = 0;
    assert_int_equal (cw_replog_write_commit (replog, &seq, NULL, NULL, err, sizeof (err)), 0);
    assert_int_equal (seq, 1);
    cw_replog_destroy (&replog);
    s_sql (fx->db_a, "INSERT INTO main.peer_config (key, value) VALUES "
                     "('system.name', '\"peer-a\"')");
    s_put_secret (fx->db_a, "main.peer_config", "ldap.password", fx->key_a, "ldap-s3cret");
}

static void
test_backup_restore_on_new_node (void **state)
{
    fixture_t *fx = *state;
    s_fill_a (fx);
    char err [512] = "";
    s_sql (fx->db_b, "INSERT INTO main.peer_config (key, value) VALUES ('system.name', '\"b\"')");
    assert_int_equal (cw_backup_create (fx->db_a, "cluster", fx->file, "correct horse", "peer-a", fx->key_a, err,
                                        sizeof (err)),
                      0);
    //  the file: owner-only, magic header, no plaintext anywhere
    struct stat st;
    assert_int_equal (stat (fx->file, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0600);
    FILE *f = fopen (fx->file, "rb");
    char *data = malloc (st.st_size);
    assert_int_equal (fread (data, 1, st.st_size, f), (size_t) st.st_size);
    fclose (f);
    assert_memory_equal (data, "CWBACKUP1", 9);
    assert_null (memmem (data, st.st_size, "welcome", 7));
    assert_null (memmem (data, st.st_size, "peer-a", 6));
    assert_null (memmem (data, st.st_size, "SQLite format", 13));
    free (data);

    //  restore on node B (another node key)
    json_t *manifest = NULL;
    assert_int_equal (cw_backup_restore (fx->db_b, "cluster", fx->file, "correct horse", fx->key_b, &manifest, err,
                                         sizeof (err)),
                      0);
    assert_string_equal (json_string_value (json_object_get (manifest, "node_name")), "peer-a");
    assert_int_equal (json_integer_value (json_object_get (manifest, "version")), 1);
    assert_int_equal (json_integer_value (json_object_get (manifest, "applied_seq")), 1);
    assert_int_equal (json_integer_value (json_object_get (manifest, "secrets_resealed")), 2);
    assert_non_null (json_object_get (manifest, "created_at"));
    json_decref (manifest);
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM main.peer_config WHERE key = "
                                           "'system.name'"),
                         "\"peer-a\"");
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM cluster.cluster_config WHERE key = "
                                           "'system.banner'"),
                         "\"welcome\"");
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM cluster.replog_meta WHERE name = "
                                           "'applied_seq'"),
                         "1");
    //  the secrets now open with B's key, not A's
    char *p1 = s_get_secret (fx->db_b, "main.peer_config", "ldap.password", fx->key_b);
    char *p2 = s_get_secret (fx->db_b, "cluster.cluster_config", "tms.password", fx->key_b);
    assert_non_null (p1);
    assert_non_null (p2);
    assert_string_equal (p1, "ldap-s3cret");
    assert_string_equal (p2, "tms-s3cret");
    assert_null (s_get_secret (fx->db_b, "main.peer_config", "ldap.password", fx->key_a));
    free (p1);
    free (p2);
    //  the databases are still WAL and whole
    assert_string_equal (s_text (fx->db_b, "PRAGMA main.journal_mode"), "wal");
    assert_string_equal (s_text (fx->db_b, "PRAGMA cluster.journal_mode"), "wal");
    assert_string_equal (s_text (fx->db_b, "PRAGMA cluster.integrity_check"), "ok");
    char pending [300];
    snprintf (pending, sizeof (pending), "%s/restore.pending", fx->b);
    assert_int_equal (access (pending, F_OK), -1);
    //  manifest alone
    json_t *m = cw_backup_manifest (fx->file, "correct horse", err, sizeof (err));
    assert_non_null (m);
    assert_string_equal (json_string_value (json_object_get (m, "format")), "causeway-backup");
    json_decref (m);
}

//  Restoring FILE on B must fail with MESSAGE and leave B as it was.
static void
s_expect_refused (fixture_t *fx, const char *file, const char *passphrase, const char *message)
{
    char err [512] = "";
    json_t *manifest = NULL;
    int rc = cw_backup_restore (fx->db_b, "cluster", file, passphrase, fx->key_b, &manifest, err, sizeof (err));
    assert_int_equal (rc, -1);
    assert_null (manifest);
    if (!strstr (err, message))
        fail_msg ("message '%s' lacks '%s'", err, message);
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM main.peer_config WHERE key = "
                                           "'system.name'"),
                         "\"b\"");
    assert_string_equal (s_text (fx->db_b, "SELECT count (*) FROM cluster.cluster_config"), "0");
}

static void
test_restore_refused (void **state)
{
    fixture_t *fx = *state;
    s_fill_a (fx);
    char err [512] = "";
    s_sql (fx->db_b, "INSERT INTO main.peer_config (key, value) VALUES ('system.name', '\"b\"')");
    assert_int_equal (cw_backup_create (fx->db_a, "cluster", fx->file, "correct horse", "peer-a", fx->key_a, err,
                                        sizeof (err)),
                      0);
    assert_int_equal (cw_backup_create (fx->db_a, "cluster", fx->file, "", "peer-a", fx->key_a, err, sizeof (err)), -1);
    s_expect_refused (fx, fx->file, "wrong horse", "wrong passphrase or corrupted backup");
    s_expect_refused (fx, fx->file, "", "wrong passphrase or corrupted backup");
    s_expect_refused (fx, "/nonexistent/file", "correct horse", "cannot open");

    //  damaged copies
    struct stat st;
    stat (fx->file, &st);
    size_t len = st.st_size;
    unsigned char *data = malloc (len);
    FILE *f = fopen (fx->file, "rb");
    assert_int_equal (fread (data, 1, len, f), len);
    fclose (f);
    char bad [300];
    snprintf (bad, sizeof (bad), "%s/bad.backup", fx->base);
    size_t cuts [] = { 5, 66, 70, len / 2, len - 1 };
    for (size_t i = 0; i < sizeof (cuts) / sizeof (cuts [0]); i++) {
        f = fopen (bad, "wb");
        fwrite (data, 1, cuts [i], f);
        fclose (f);
        s_expect_refused (fx, bad, "correct horse",
                          cuts [i] < 66 ? "not a Causeway backup" : "wrong passphrase or corrupted");
    }
    //  a flipped byte in the salt, the stream header, the middle, the end
    size_t flips [] = { 30, 50, len / 2, len - 3 };
    for (size_t i = 0; i < sizeof (flips) / sizeof (flips [0]); i++) {
        data [flips [i]] ^= 1;
        f = fopen (bad, "wb");
        fwrite (data, 1, len, f);
        fclose (f);
        data [flips [i]] ^= 1;
        s_expect_refused (fx, bad, "correct horse", "wrong passphrase or corrupted backup");
    }
    //  trailing garbage after the final message
    f = fopen (bad, "wb");
    fwrite (data, 1, len, f);
    fwrite ("junk", 1, 4, f);
    fclose (f);
    s_expect_refused (fx, bad, "correct horse", "wrong passphrase or corrupted backup");
    free (data);
    //  the intact file still restores
    assert_int_equal (cw_backup_restore (fx->db_b, "cluster", fx->file, "correct horse", fx->key_b, NULL, err,
                                         sizeof (err)),
                      0);
}

//  kill -9 during restores: afterwards (and after cw_backup_recover) the
//  two databases are both the old ones or both the backup's.
static void
test_kill_during_restore (void **state)
{
    fixture_t *fx = *state;
    s_fill_a (fx);
    //  make the backup big enough to take a while
    s_sql (fx->db_a, "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                     "WHERE i < 20000) INSERT INTO cluster.cluster_config (key, value) "
                     "SELECT 'fill.' || i, hex (randomblob (200)) FROM n;"
                     "WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                     "WHERE i < 20000) INSERT INTO main.peer_config (key, value) "
                     "SELECT 'fill.' || i, hex (randomblob (200)) FROM n;");
    char err [512] = "";
    assert_int_equal (cw_backup_create (fx->db_a, "cluster", fx->file, "pw", "peer-a", fx->key_a, err, sizeof (err)),
                      0);
    sqlite3_close_v2 (fx->db_b);
    fx->db_b = NULL;
    int saw_old = 0, saw_new = 0, recovered = 0;
    double run_us = 0;
    for (int round = 0; round < 16; round++) {
        //  B back to its old state: fresh directory
        char cmd [300];
        snprintf (cmd, sizeof (cmd), "rm -rf '%s'", fx->b);
        assert_int_equal (system (cmd), 0);
        sqlite3 *db = s_open (fx->b);
        s_sql (db, "INSERT INTO main.peer_config (key, value) VALUES ('system.name', '\"b\"');"
                   "INSERT INTO cluster.cluster_config (key, value) VALUES ('old', '1')");
        sqlite3_close_v2 (db);
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        pid_t pid = fork ();
        assert_true (pid >= 0);
        if (pid == 0) {
            cw_log_set_level (CW_LOG_ERROR);
            sqlite3 *child = s_open (fx->b);
            int rc = cw_backup_restore (child, "cluster", fx->file, "pw", fx->key_b, NULL, err, sizeof (err));
            sqlite3_close_v2 (child);
            _exit (rc == 0 ? 0 : 1);
        }
        int status;
        if (round < 2)
            waitpid (pid, &status, 0);
        else {
            usleep ((useconds_t) (run_us * ((round * 37) % 100) / 90));
            kill (pid, SIGKILL);
            waitpid (pid, &status, 0);
        }
        clock_gettime (CLOCK_MONOTONIC, &t1);
        double us = (t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3;
        if (round < 2) {
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
            if (us > run_us)
                run_us = us;
        }
        db = s_open (fx->b);
        int rc = cw_backup_recover (db, "cluster", err, sizeof (err));
        if (rc < 0)
            fail_msg ("recover: %s", err);
        recovered += rc;
        assert_string_equal (s_text (db, "PRAGMA main.integrity_check"), "ok");
        assert_string_equal (s_text (db, "PRAGMA cluster.integrity_check"), "ok");
        char name [64], old [16];
        snprintf (name, sizeof (name), "%s",
                  s_text (db, "SELECT value FROM main.peer_config "
                              "WHERE key = 'system.name'"));
        snprintf (old, sizeof (old), "%s",
                  s_text (db, "SELECT count (*) FROM "
                              "cluster.cluster_config WHERE key = 'old'"));
        if (strcmp (name, "\"b\"") == 0) {
            assert_string_equal (old, "1");
            saw_old++;
        }
        else {
            assert_string_equal (name, "\"peer-a\"");
            assert_string_equal (old, "0");
            assert_string_equal (s_text (db, "SELECT count (*) FROM cluster.cluster_config"), "20002");
            saw_new++;
        }
        sqlite3_close_v2 (db);
    }
    fprintf (stderr, "kill -9 rounds: old %d, new %d (of which finished by recover %d)\n", saw_old, saw_new, recovered);
    assert_true (saw_old > 0);
    assert_true (saw_new > 0);
    fx->db_b = s_open (fx->b);
}

//  A restore.pending left by a crash (written here in its format) is
//  finished by cw_backup_recover; a damaged one is refused.
static void
test_recover_pending (void **state)
{
    fixture_t *fx = *state;
    s_fill_a (fx);
    s_sql (fx->db_b, "INSERT INTO main.peer_config (key, value) VALUES ('system.name', '\"b\"')");
    char err [512] = "";
    assert_int_equal (cw_backup_recover (fx->db_b, "cluster", err, sizeof (err)), 0);
    sqlite3_int64 config_len = 0, cluster_len = 0;
    unsigned char *config = sqlite3_serialize (fx->db_a, "main", &config_len, 0);
    unsigned char *cluster = sqlite3_serialize (fx->db_a, "cluster", &cluster_len, 0);
    assert_non_null (config);
    assert_non_null (cluster);
    size_t len = 10 + 8 + config_len + 8 + cluster_len + 32;
    unsigned char *data = malloc (len), *p = data;
    memcpy (p, "CWRESTORE1", 10);
    p += 10;
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char) ((uint64_t) config_len >> (8 * i));
    memcpy (p, config, config_len);
    p += config_len;
    for (int i = 0; i < 8; i++)
        *p++ = (unsigned char) ((uint64_t) cluster_len >> (8 * i));
    memcpy (p, cluster, cluster_len);
    p += cluster_len;
    crypto_generichash (p, 32, data, len - 32, NULL, 0);
    char pending [300];
    snprintf (pending, sizeof (pending), "%s/restore.pending", fx->b);
    //  damaged: refused, B unchanged, the file kept
    data [len / 2] ^= 1;
    FILE *f = fopen (pending, "wb");
    fwrite (data, 1, len, f);
    fclose (f);
    assert_int_equal (cw_backup_recover (fx->db_b, "cluster", err, sizeof (err)), -1);
    assert_non_null (strstr (err, "damaged"));
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM main.peer_config WHERE key = "
                                           "'system.name'"),
                         "\"b\"");
    assert_int_equal (access (pending, F_OK), 0);
    //  intact: finished, the journal removed
    data [len / 2] ^= 1;
    f = fopen (pending, "wb");
    fwrite (data, 1, len, f);
    fclose (f);
    assert_int_equal (cw_backup_recover (fx->db_b, "cluster", err, sizeof (err)), 1);
    assert_int_equal (access (pending, F_OK), -1);
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM main.peer_config WHERE key = "
                                           "'system.name'"),
                         "\"peer-a\"");
    assert_string_equal (s_text (fx->db_b, "SELECT value FROM cluster.cluster_config WHERE key = "
                                           "'system.banner'"),
                         "\"welcome\"");
    assert_int_equal (cw_backup_recover (fx->db_b, "cluster", err, sizeof (err)), 0);
    free (data);
    sqlite3_free (config);
    sqlite3_free (cluster);
}

int
main (void)
{
    cw_log_init ("test_backup", CW_LOG_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_secret_key_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seal_open, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_backup_restore_on_new_node, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_restore_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_recover_pending, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_kill_during_restore, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
