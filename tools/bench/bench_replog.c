/*  bench_replog.c - benchmarks of the replication data layer without a
    network (actors/replication/store/replog.c): a primary database and a
    subordinate database in two directories, changesets and snapshots
    handed over in memory.

    Prints:
      - capture + apply of 100,000 cluster-scope row changes (one
        transaction of inserts, one of updates, and 100 transactions of
        1,000 rows), each commit durable (WAL, synchronous=FULL);
      - snapshot + restore of a ~100 MB cluster database.

    Usage: bench_replog [DIR] [ROWS] [SNAPSHOT_MB]   (DIR default: a new
    directory under /tmp, removed at the end)
*/
#include <errno.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cw_log.h"
#include "replog.h"

static int
s_query_int (sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        *value = sqlite3_column_int64 (stmt, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize (stmt);
    return rc == SQLITE_OK ? 0 : -1;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
s_die (const char *what, const char *err)
{
    fprintf (stderr, "bench_replog: %s: %s\n", what, err);
    exit (1);
}

typedef struct {
    sqlite3 *db;
    cw_replog_t *replog;
} s_node_t;

static void
s_node_open (s_node_t *node, const char *dir)
{
    char err [512] = "";
    if (mkdir (dir, 0700) != 0 && errno != EEXIST)
        s_die (dir, strerror (errno));
    node->db = cw_replog_db_open (dir, err, sizeof (err));
    if (!node->db)
        s_die ("open", err);
    node->replog = cw_replog_new (node->db, "cluster", err, sizeof (err));
    if (!node->replog)
        s_die ("replog", err);
}

static void
s_node_close (s_node_t *node)
{
    cw_replog_destroy (&node->replog);
    sqlite3_close_v2 (node->db);
}

static void
s_sql (sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK)
        s_die (sql, msg ? msg : "?");
}

//  Snapshot the primary into the subordinate; returns (create, apply) times.
static void
s_sync_snapshot (s_node_t *primary, s_node_t *sub, double *t_create, double *t_apply, int64_t *bytes)
{
    char err [512] = "";
    void *blob = NULL;
    int64_t len = 0, seq = 0;
    double t0 = s_now ();
    if (cw_replog_snapshot_create (primary->replog, &blob, &len, &seq, err, sizeof (err)))
        s_die ("snapshot_create", err);
    double t1 = s_now ();
    int rc = cw_replog_snapshot_apply (sub->replog, blob, len, seq, err, sizeof (err));
    if (rc != CW_REPLOG_OK)
        s_die ("snapshot_apply", err);
    double t2 = s_now ();
    sqlite3_free (blob);
    if (t_create)
        *t_create = t1 - t0;
    if (t_apply)
        *t_apply = t2 - t1;
    if (bytes)
        *bytes = len;
}

//  Run SQL (with ?1 = row number, for ROWS rows) in TXNS write transactions
//  on the primary, ship each changeset to the subordinate.
static void
s_bench_changes (s_node_t *primary, s_node_t *sub, const char *label, const char *sql, int rows, int txns)
{
    char err [512] = "";
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (primary->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        s_die (sql, sqlite3_errmsg (primary->db));
    double capture = 0, apply = 0;
    int64_t bytes = 0;
    int per_txn = rows / txns;
    int row = 0;
    double start = s_now ();
    for (int t = 0; t < txns; t++) {
        double t0 = s_now ();
        if (cw_replog_write_begin (primary->replog, err, sizeof (err)))
            s_die ("write_begin", err);
        for (int i = 0; i < per_txn; i++, row++) {
            sqlite3_bind_int (stmt, 1, row);
            if (sqlite3_step (stmt) != SQLITE_DONE)
                s_die (sql, sqlite3_errmsg (primary->db));
            sqlite3_reset (stmt);
        }
        int64_t seq = 0;
        void *changeset = NULL;
        int len = 0;
        if (cw_replog_write_commit (primary->replog, &seq, &changeset, &len, err, sizeof (err)))
            s_die ("write_commit", err);
        char hash [CW_REPLOG_HASH_HEX_LEN + 1];
        cw_replog_head_hash (primary->replog, hash, sizeof (hash));
        double t1 = s_now ();
        int rc = cw_replog_apply (sub->replog, seq, changeset, len, hash, NULL, err, sizeof (err));
        if (rc != CW_REPLOG_OK)
            s_die ("apply", err);
        double t2 = s_now ();
        sqlite3_free (changeset);
        capture += t1 - t0;
        apply += t2 - t1;
        bytes += len;
    }
    double total = s_now () - start;
    sqlite3_finalize (stmt);
    printf ("%-44s rows=%d txns=%d changeset_bytes=%lld capture=%.3fs apply=%.3fs "
            "total=%.3fs (%.0f rows/s)\n",
            label, rows, txns, (long long) bytes, capture, apply, total, rows / total);
}

static int64_t
s_count (sqlite3 *db, const char *sql)
{
    int64_t value = -1;
    if (s_query_int (db, sql, &value))
        s_die (sql, sqlite3_errmsg (db));
    return value;
}

int
main (int argc, char *argv [])
{
    char dir [4096];
    bool own_dir = argc < 2;
    if (own_dir) {
        snprintf (dir, sizeof (dir), "/tmp/bench_replog.XXXXXX");
        if (!mkdtemp (dir))
            s_die ("mkdtemp", strerror (errno));
    }
    else {
        snprintf (dir, sizeof (dir), "%s", argv [1]);
        if (mkdir (dir, 0700) != 0 && errno != EEXIST)
            s_die (dir, strerror (errno));
    }
    int rows = argc > 2 ? atoi (argv [2]) : 100000;
    int snapshot_mb = argc > 3 ? atoi (argv [3]) : 100;
    cw_log_init ("bench_replog", getenv ("BENCH_VERBOSE") ? CW_LOG_INFO : CW_LOG_WARN);

    char path [4200];
    s_node_t primary, sub;
    snprintf (path, sizeof (path), "%s/primary", dir);
    s_node_open (&primary, path);
    snprintf (path, sizeof (path), "%s/sub", dir);
    s_node_open (&sub, path);
    //  The subordinate joins from a snapshot of the (empty) primary.
    s_sync_snapshot (&primary, &sub, NULL, NULL, NULL);

    printf ("bench_replog: dir=%s (primary and subordinate on this disk, no network)\n", dir);
    if (rows > 0) {
        s_bench_changes (&primary, &sub, "insert, 1 transaction",
                         "INSERT INTO cluster.cluster_config (key, value, updated_at) VALUES "
                         "('bench.key.' || ?1, '\"value ' || ?1 || '\"', '2026-01-01T00:00:00Z')",
                         rows, 1);
        s_bench_changes (&primary, &sub, "update, 1 transaction",
                         "UPDATE cluster.cluster_config SET value = '\"changed ' || ?1 || '\"' "
                         "WHERE key = 'bench.key.' || ?1",
                         rows, 1);
        s_bench_changes (&primary, &sub, "update, 100 transactions of rows/100",
                         "UPDATE cluster.cluster_config SET value = '\"again ' || ?1 || '\"' "
                         "WHERE key = 'bench.key.' || ?1",
                         rows, 100);
        s_bench_changes (&primary, &sub, "delete, 1 transaction",
                         "DELETE FROM cluster.cluster_config WHERE key = 'bench.key.' || ?1", rows, 1);
    }
    int64_t seq_p = cw_replog_applied_seq (primary.replog);
    int64_t seq_s = cw_replog_applied_seq (sub.replog);
    if (seq_p != seq_s)
        s_die ("check", "the subordinate's applied_seq differs from the primary's");

    //  A fresh primary with ~SNAPSHOT_MB MB of cluster data (rows of about
    //  1 kB, written directly: setup, not measured) and a new subordinate.
    s_node_close (&primary);
    s_node_close (&sub);
    snprintf (path, sizeof (path), "%s/primary2", dir);
    s_node_open (&primary, path);
    snprintf (path, sizeof (path), "%s/sub2", dir);
    s_node_open (&sub, path);
    int64_t fill_rows = (int64_t) snapshot_mb * 1000;
    char sql [512];
    double t0 = s_now ();
    snprintf (sql, sizeof (sql),
              "BEGIN; WITH RECURSIVE n (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %lld) "
              "INSERT INTO cluster.cluster_config (key, value, updated_at) "
              "SELECT 'fill.' || i, '\"' || hex (randomblob (480)) || '\"', '2026-01-01T00:00:00Z' "
              "FROM n; COMMIT; PRAGMA cluster.wal_checkpoint(TRUNCATE)",
              (long long) fill_rows);
    s_sql (primary.db, sql);
    double fill = s_now () - t0;
    int64_t seq = cw_replog_applied_seq (primary.replog);

    double t_create = 0, t_apply = 0;
    int64_t bytes = 0;
    s_sync_snapshot (&primary, &sub, &t_create, &t_apply, &bytes);
    double t1 = s_now ();
    char *msg = NULL;
    if (sqlite3_exec (sub.db, "PRAGMA cluster.wal_checkpoint(TRUNCATE)", NULL, NULL, &msg))
        s_die ("checkpoint", msg);
    double t_ckpt = s_now () - t1;
    int64_t rows_p = s_count (primary.db, "SELECT count (*) FROM cluster.cluster_config");
    int64_t rows_s = s_count (sub.db, "SELECT count (*) FROM cluster.cluster_config");
    if (rows_p != rows_s || cw_replog_applied_seq (sub.replog) != seq)
        s_die ("check", "the restored subordinate differs from the primary");
    printf ("snapshot of %.1f MB (%lld rows, fill %.1fs): create=%.3fs restore=%.3fs "
            "total=%.3fs (+ WAL checkpoint afterwards %.3fs)\n",
            bytes / 1e6, (long long) rows_s, fill, t_create, t_apply, t_create + t_apply, t_ckpt);

    s_node_close (&primary);
    s_node_close (&sub);
    if (own_dir) {
        char cmd [4200];
        snprintf (cmd, sizeof (cmd), "rm -rf '%s'", dir);
        if (system (cmd) != 0)
            fprintf (stderr, "bench_replog: could not remove %s\n", dir);
    }
    return 0;
}
