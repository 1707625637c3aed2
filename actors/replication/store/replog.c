/*  replog.c - the replication data layer: changesets, sequence numbers,
    history, ordered apply, snapshots (see replog.h for the design).

    The primary's write path records the caller's writes on "cluster" with
    an sqlite3session and turns them into one numbered changeset inside the
    caller's transaction. The subordinate applies changesets, restores
    snapshots and resets through a private connection on which cluster.db
    is "main" (sqlite3changeset_apply only targets main). Every peer-sent
    byte is validated before it can touch the database: changesets are
    walked once (structure, tables, columns, primary keys) before the
    apply; snapshots are opened in an in-memory database and checked.
*/
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "replog.h"
#include "cw_text.h"
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cw_log.h"

#define HASH_BYTES 32
#define S_COLUMNS_MAX 2000    //  SQLite's default limit of columns in a table
#define streq_(a, b) (strcmp ((a), (b)) == 0)

struct _cw_replog_t {
    sqlite3 *db;                 //  the caller's connection (borrowed)
    char *schema;                //  where cluster.db is attached on DB
    char *path;                  //  cluster.db
    sqlite3 *ldb;                //  private connection, cluster.db as main
    sqlite3_session *session;    //  between write_begin and commit/rollback
    bool in_write;
    int64_t history_limit;
    int64_t holds [CW_REPLOG_HOLDS];    //  changes after each are not trimmed (-1 = none)
    char **tables;                      //  NULL = every table but replog_*
};

// ---------------------------------------------------------------------------
//  Small helpers

const char *
cw_replog_rc_name (int rc)
{
    switch (rc) {
        case CW_REPLOG_OK:
            return "ok";
        case CW_REPLOG_ERROR:
            return "error";
        case CW_REPLOG_INVALID:
            return "invalid";
        case CW_REPLOG_DUPLICATE:
            return "duplicate";
        case CW_REPLOG_GAP:
            return "gap";
        case CW_REPLOG_CONFLICT:
            return "conflict";
        case CW_REPLOG_TOO_OLD:
            return "too-old";
        default:
            return "?";
    }
}

static double
s_clock (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
s_exec (sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: %s: %s", what, msg ? msg : sqlite3_errmsg (db));
        sqlite3_free (msg);
        return -1;
    }
    return 0;
}

static void
s_rollback (sqlite3 *db)
{
    if (!sqlite3_get_autocommit (db))
        sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
}

//  Prefix "schema". for SQL on DB (the caller's connection) or "main."
//  for the private one.
static const char *
s_prefix (cw_replog_t *self, sqlite3 *db)
{
    return db == self->ldb ? "main" : self->schema;
}

typedef struct {
    int64_t applied_seq;
    char cluster_id [80];
    char head_hash [CW_REPLOG_HASH_HEX_LEN + 1];
} s_meta_t;

//  Read replog_meta through DB (inside whatever transaction is open).
static int
s_meta_read (cw_replog_t *self, sqlite3 *db, s_meta_t *meta, char *err, size_t errlen)
{
    memset (meta, 0, sizeof (*meta));
    char *sql = sqlite3_mprintf ("SELECT name, value FROM \"%w\".replog_meta", s_prefix (self, db));
    sqlite3_stmt *stmt = NULL;
    int rc = sql ? sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) : SQLITE_NOMEM;
    sqlite3_free (sql);
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: read replog_meta: %s", sqlite3_errmsg (db));
        return -1;
    }
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *name = (const char *) sqlite3_column_text (stmt, 0);
        if (!name)
            continue;
        if (streq_ (name, "applied_seq"))
            meta->applied_seq = sqlite3_column_int64 (stmt, 1);
        else if (streq_ (name, "cluster_id")) {
            const char *v = (const char *) sqlite3_column_text (stmt, 1);
            snprintf (meta->cluster_id, sizeof (meta->cluster_id), "%s", v ? v : "");
        }
        else if (streq_ (name, "head_hash")) {
            const char *v = (const char *) sqlite3_column_text (stmt, 1);
            snprintf (meta->head_hash, sizeof (meta->head_hash), "%s", v ? v : "");
        }
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        cw_errorf (err, errlen, "replog: read replog_meta: %s", sqlite3_errmsg (db));
        return -1;
    }
    if (meta->applied_seq < 0) {
        cw_errorf (err, errlen, "replog: replog_meta.applied_seq is negative");
        return -1;
    }
    return 0;
}

static int
s_meta_write (cw_replog_t *self, sqlite3 *db, const s_meta_t *meta, char *err, size_t errlen)
{
    char *sql = sqlite3_mprintf ("INSERT OR REPLACE INTO \"%w\".replog_meta (name, value) VALUES "
                                 "('applied_seq', %lld), ('cluster_id', %Q), ('head_hash', %Q)",
                                 s_prefix (self, db), (long long) meta->applied_seq, meta->cluster_id, meta->head_hash);
    if (!sql) {
        cw_errorf (err, errlen, "replog: out of memory");
        return -1;
    }
    int rc = s_exec (db, sql, "write replog_meta", err, errlen);
    sqlite3_free (sql);
    return rc;
}

//  hash(n) = BLAKE2b-256 (hash(n-1) | le64 (seq) | changeset); the hash
//  before the first changeset is 32 zero bytes.
static int
s_hash_next (const char *prev_hex, int64_t seq, const void *data, int len, unsigned char out [HASH_BYTES],
             char out_hex [CW_REPLOG_HASH_HEX_LEN + 1])
{
    unsigned char prev [HASH_BYTES] = { 0 };
    if (prev_hex && *prev_hex) {
        size_t bin_len = 0;
        if (sodium_hex2bin (prev, sizeof (prev), prev_hex, strlen (prev_hex), NULL, &bin_len, NULL) != 0
            || bin_len != HASH_BYTES)
            return -1;
    }
    unsigned char seq_le [8];
    for (int i = 0; i < 8; i++)
        seq_le [i] = (unsigned char) ((uint64_t) seq >> (8 * i));
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, HASH_BYTES);
    crypto_generichash_update (&state, prev, sizeof (prev));
    crypto_generichash_update (&state, seq_le, sizeof (seq_le));
    crypto_generichash_update (&state, data, (unsigned long long) len);
    crypto_generichash_final (&state, out, HASH_BYTES);
    sodium_bin2hex (out_hex, CW_REPLOG_HASH_HEX_LEN + 1, out, HASH_BYTES);
    return 0;
}

static void
s_new_cluster_id (char *buf, size_t buflen)
{
    unsigned char raw [16];
    randombytes_buf (raw, sizeof (raw));
    sodium_bin2hex (buf, buflen, raw, sizeof (raw));
}

//  Trim the history of DB by size, in one pass: to
//  CW_REPLOG_HISTORY_MAX_BYTES of changesets, deleting none after
//  KEEP_AFTER, and to CW_REPLOG_HISTORY_HOLD_MAX_BYTES whatever is held.
//  The newest change, SEQ, always stays.
static int
s_history_trim_bytes (cw_replog_t *self, sqlite3 *db, int64_t seq, int64_t keep_after, char *err, size_t errlen)
{
    char *sql = sqlite3_mprintf ("DELETE FROM \"%w\".replog_history WHERE seq <= ("
                                 " SELECT seq FROM (SELECT seq, sum (length (changeset)) OVER (ORDER BY seq DESC)"
                                 " AS total FROM \"%w\".replog_history) WHERE seq < %lld"
                                 " AND ((total > %lld AND seq <= %lld) OR total > %lld) ORDER BY seq DESC LIMIT 1)",
                                 s_prefix (self, db), s_prefix (self, db), (long long) seq,
                                 (long long) CW_REPLOG_HISTORY_MAX_BYTES, (long long) keep_after,
                                 (long long) CW_REPLOG_HISTORY_HOLD_MAX_BYTES);
    if (!sql) {
        cw_errorf (err, errlen, "replog: out of memory");
        return -1;
    }
    int rc = s_exec (db, sql, "trim the history", err, errlen);
    sqlite3_free (sql);
    return rc;
}

//  Append a history row and trim to the limit, through DB.
static int
s_history_add (cw_replog_t *self, sqlite3 *db, int64_t seq, const void *changeset, int len,
               const unsigned char hash [HASH_BYTES], char *err, size_t errlen)
{
    char *sql = sqlite3_mprintf ("INSERT OR REPLACE INTO \"%w\".replog_history (seq, changeset, hash, committed_at) "
                                 "VALUES (?1, ?2, ?3, strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))",
                                 s_prefix (self, db));
    sqlite3_stmt *stmt = NULL;
    int rc = sql ? sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) : SQLITE_NOMEM;
    sqlite3_free (sql);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64 (stmt, 1, seq);
        sqlite3_bind_blob (stmt, 2, changeset, len, SQLITE_STATIC);
        sqlite3_bind_blob (stmt, 3, hash, HASH_BYTES, SQLITE_STATIC);
        rc = sqlite3_step (stmt);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: store changeset %lld in the history: %s", (long long) seq,
                   sqlite3_errmsg (db));
        return -1;
    }
    //  Never a change that a holder still needs (below the hold's size cap)
    int64_t keep_after = INT64_MAX;
    for (int hold = 0; hold < CW_REPLOG_HOLDS; hold++)
        if (self->holds [hold] >= 0 && self->holds [hold] < keep_after)
            keep_after = self->holds [hold];
    int64_t cut = seq - self->history_limit;
    sql = sqlite3_mprintf ("DELETE FROM \"%w\".replog_history WHERE seq <= %lld", s_prefix (self, db),
                           (long long) (cut < keep_after ? cut : keep_after));
    if (!sql) {
        cw_errorf (err, errlen, "replog: out of memory");
        return -1;
    }
    rc = s_exec (db, sql, "trim the history", err, errlen);
    sqlite3_free (sql);
    if (rc)
        return rc;
    //  Also by size: big changes (bulk provisioning) would otherwise make
    //  the history as big as the data, and every snapshot twice as big. The
    //  newest change always stays; a peer further behind takes a snapshot.
    return s_history_trim_bytes (self, db, seq, keep_after, err, errlen);
}

// ---------------------------------------------------------------------------
//  Opening

static const char *s_schema_sql = "CREATE TABLE IF NOT EXISTS \"%w\".cluster_config ("
                                  "  key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT);"
                                  "CREATE TABLE IF NOT EXISTS \"%w\".replog_meta (name TEXT PRIMARY KEY, value);"
                                  "CREATE TABLE IF NOT EXISTS \"%w\".replog_history ("
                                  "  seq INTEGER PRIMARY KEY, changeset BLOB NOT NULL, hash BLOB NOT NULL,"
                                  "  committed_at TEXT NOT NULL);"
                                  "INSERT OR IGNORE INTO \"%w\".replog_meta (name, value) VALUES"
                                  "  ('applied_seq', 0), ('cluster_id', ''), ('head_hash', '');";

static int
s_setup_connection (sqlite3 *db, const char *schema, char *err, size_t errlen)
{
    sqlite3_busy_timeout (db, 5000);
    char *sql = sqlite3_mprintf ("PRAGMA \"%w\".journal_mode=WAL; PRAGMA \"%w\".synchronous=FULL;", schema, schema);
    int rc = sql ? s_exec (db, sql, "set WAL and synchronous=FULL", err, errlen) : -1;
    sqlite3_free (sql);
    return rc;
}

sqlite3 *
cw_replog_db_open (const char *dir, char *err, size_t errlen)
{
    char config_path [4096], cluster_path [4096];
    snprintf (config_path, sizeof (config_path), "%s/config.db", dir);
    snprintf (cluster_path, sizeof (cluster_path), "%s/%s", dir, CW_REPLOG_CLUSTER_DB_FILE);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (config_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: open %s: %s", config_path, db ? sqlite3_errmsg (db) : "out of memory");
        sqlite3_close_v2 (db);
        return NULL;
    }
    //  Create cluster.db owner-only before SQLite touches it.
    int fd = open (cluster_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close (fd);
    if (chmod (config_path, 0600) != 0 || chmod (cluster_path, 0600) != 0) {
        cw_errorf (err, errlen, "replog: chmod %s: %s", dir, strerror (errno));
        sqlite3_close_v2 (db);
        return NULL;
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "ATTACH DATABASE ?1 AS " CW_REPLOG_SCHEMA, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, cluster_path, -1, SQLITE_TRANSIENT);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: attach %s: %s", cluster_path, sqlite3_errmsg (db));
        sqlite3_close_v2 (db);
        return NULL;
    }
    if (s_setup_connection (db, "main", err, errlen) || s_setup_connection (db, CW_REPLOG_SCHEMA, err, errlen)) {
        sqlite3_close_v2 (db);
        return NULL;
    }
    return db;
}

cw_replog_t *
cw_replog_new (sqlite3 *db, const char *schema, char *err, size_t errlen)
{
    if (!db) {
        cw_errorf (err, errlen, "replog: no database connection");
        return NULL;
    }
    if (sodium_init () < 0) {
        cw_errorf (err, errlen, "replog: libsodium initialisation failed");
        return NULL;
    }
    schema = schema ? schema : CW_REPLOG_SCHEMA;
    const char *path = sqlite3_db_filename (db, schema);
    if (!path || !*path) {
        cw_errorf (err, errlen, "replog: schema '%s' is not attached to a file", schema);
        return NULL;
    }
    cw_replog_t *self = calloc (1, sizeof (*self));
    if (!self) {
        cw_errorf (err, errlen, "replog: out of memory");
        return NULL;
    }
    self->db = db;
    self->schema = strdup (schema);
    self->path = strdup (path);
    self->history_limit = CW_REPLOG_HISTORY_DEFAULT;
    for (int hold = 0; hold < CW_REPLOG_HOLDS; hold++)
        self->holds [hold] = -1;
    if (!self->schema || !self->path) {
        cw_errorf (err, errlen, "replog: out of memory");
        cw_replog_destroy (&self);
        return NULL;
    }
    if (s_setup_connection (db, schema, err, errlen)) {
        cw_replog_destroy (&self);
        return NULL;
    }
    char *sql = sqlite3_mprintf (s_schema_sql, schema, schema, schema, schema);
    int rc = sql ? s_exec (db, "BEGIN IMMEDIATE", "begin", err, errlen) : -1;
    if (rc == 0)
        rc = s_exec (db, sql, "create the replication tables", err, errlen);
    if (rc == 0)
        rc = s_exec (db, "COMMIT", "commit", err, errlen);
    sqlite3_free (sql);
    if (rc) {
        s_rollback (db);
        cw_replog_destroy (&self);
        return NULL;
    }
    if (sqlite3_open_v2 (self->path, &self->ldb, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: open %s: %s", self->path,
                   self->ldb ? sqlite3_errmsg (self->ldb) : "out of memory");
        cw_replog_destroy (&self);
        return NULL;
    }
    sqlite3_db_config (self->ldb, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config (self->ldb, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    //  Snapshots read every page: let them come from the OS page cache
    //  through mmap rather than one read(2) each.
    if (s_setup_connection (self->ldb, "main", err, errlen)
        || s_exec (self->ldb, "PRAGMA mmap_size=1073741824", "set mmap_size", err, errlen)) {
        cw_replog_destroy (&self);
        return NULL;
    }
    s_meta_t meta;
    if (s_meta_read (self, self->ldb, &meta, err, errlen)) {
        cw_replog_destroy (&self);
        return NULL;
    }
    cw_info ("replog: opened path=%s applied_seq=%lld cluster_id=%s", self->path, (long long) meta.applied_seq,
             *meta.cluster_id ? meta.cluster_id : "none");
    return self;
}

void
cw_replog_destroy (cw_replog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_replog_t *self = *self_p;
    if (self->in_write)
        cw_replog_write_rollback (self);
    if (self->ldb)
        sqlite3_close_v2 (self->ldb);
    if (self->tables) {
        for (char **t = self->tables; *t; t++)
            free (*t);
        free (self->tables);
    }
    free (self->schema);
    free (self->path);
    free (self);
    *self_p = NULL;
}

void
cw_replog_set_history_limit (cw_replog_t *self, int64_t limit)
{
    self->history_limit = limit < 1 ? 1 : limit;
}

void
cw_replog_hold (cw_replog_t *self, cw_replog_hold_t hold, int64_t seq)
{
    if (hold >= 0 && hold < CW_REPLOG_HOLDS)
        self->holds [hold] = seq < 0 ? -1 : seq;
}

int
cw_replog_set_tables (cw_replog_t *self, const char *const *tables)
{
    if (self->tables) {
        for (char **t = self->tables; *t; t++)
            free (*t);
        free (self->tables);
        self->tables = NULL;
    }
    if (!tables)
        return 0;
    size_t count = 0;
    while (tables [count])
        count++;
    self->tables = calloc (count + 1, sizeof (char *));
    if (!self->tables)
        return -1;
    for (size_t i = 0; i < count; i++)
        if (!(self->tables [i] = strdup (tables [i])))
            return -1;
    return 0;
}

// ---------------------------------------------------------------------------
//  State

int64_t
cw_replog_applied_seq (cw_replog_t *self)
{
    s_meta_t meta;
    return s_meta_read (self, self->ldb, &meta, NULL, 0) ? -1 : meta.applied_seq;
}

int
cw_replog_cluster_id (cw_replog_t *self, char *buf, size_t buflen)
{
    s_meta_t meta;
    if (s_meta_read (self, self->ldb, &meta, NULL, 0))
        return -1;
    snprintf (buf, buflen, "%s", meta.cluster_id);
    return 0;
}

int
cw_replog_head_hash (cw_replog_t *self, char *buf, size_t buflen)
{
    s_meta_t meta;
    if (s_meta_read (self, self->ldb, &meta, NULL, 0))
        return -1;
    snprintf (buf, buflen, "%s", meta.head_hash);
    return 0;
}

static int64_t
s_oldest_seq (sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    int64_t seq = -1;
    if (sqlite3_prepare_v2 (db, "SELECT coalesce (min (seq), 0) FROM main.replog_history", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        seq = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return seq;
}

int64_t
cw_replog_oldest_seq (cw_replog_t *self)
{
    return s_oldest_seq (self->ldb);
}

//  The hash stored for SEQ in the history (hex into OUT); 1 if found, 0 if
//  not, -1 on error.
static int
s_history_hash (sqlite3 *db, int64_t seq, char out [CW_REPLOG_HASH_HEX_LEN + 1])
{
    sqlite3_stmt *stmt = NULL;
    int found = -1;
    if (sqlite3_prepare_v2 (db, "SELECT hash FROM main.replog_history WHERE seq = ?1", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_int64 (stmt, 1, seq);
        int rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW && sqlite3_column_bytes (stmt, 0) == HASH_BYTES) {
            sodium_bin2hex (out, CW_REPLOG_HASH_HEX_LEN + 1, sqlite3_column_blob (stmt, 0), HASH_BYTES);
            found = 1;
        }
        else if (rc == SQLITE_DONE)
            found = 0;
    }
    sqlite3_finalize (stmt);
    return found;
}

int
cw_replog_plan (cw_replog_t *self, const char *cluster_id, int64_t seq, const char *head_hash, char *err, size_t errlen)
{
    if (s_exec (self->ldb, "BEGIN", "begin", err, errlen))
        return CW_REPLOG_ERROR;
    s_meta_t meta;
    int result = CW_REPLOG_ERROR;
    if (s_meta_read (self, self->ldb, &meta, err, errlen))
        goto done;
    bool check_hash = head_hash && *head_hash;
    if (!cluster_id || !*cluster_id) {
        cw_errorf (err, errlen, "the peer has no replication history: it needs a snapshot");
        result = CW_REPLOG_TOO_OLD;
    }
    else if (!streq_ (cluster_id, meta.cluster_id)) {
        cw_errorf (err, errlen, "the peer's history %s is not this cluster's (%s): it needs a snapshot", cluster_id,
                   *meta.cluster_id ? meta.cluster_id : "none");
        result = CW_REPLOG_CONFLICT;
    }
    else if (seq < 0 || seq > meta.applied_seq) {
        cw_errorf (err, errlen,
                   "the peer reports seq %lld, ahead of this history (%lld): "
                   "it needs a snapshot",
                   (long long) seq, (long long) meta.applied_seq);
        result = CW_REPLOG_CONFLICT;
    }
    else if (seq == meta.applied_seq) {
        if (check_hash && strcasecmp (head_hash, meta.head_hash) != 0) {
            cw_errorf (err, errlen,
                       "the peer's change %lld differs from this history's: "
                       "it needs a snapshot",
                       (long long) seq);
            result = CW_REPLOG_CONFLICT;
        }
        else
            result = CW_REPLOG_OK;
    }
    else {
        int64_t oldest = s_oldest_seq (self->ldb);
        if (oldest < 0) {
            cw_errorf (err, errlen, "replog: read the history: %s", sqlite3_errmsg (self->ldb));
            goto done;
        }
        if (oldest == 0 || seq + 1 < oldest) {
            cw_errorf (err, errlen,
                       "the peer is at seq %lld, older than the retained history "
                       "(from %lld): it needs a snapshot",
                       (long long) seq, (long long) oldest);
            result = CW_REPLOG_TOO_OLD;
            goto done;
        }
        result = CW_REPLOG_GAP;
        if (check_hash && seq > 0) {
            char hash [CW_REPLOG_HASH_HEX_LEN + 1];
            int found = s_history_hash (self->ldb, seq, hash);
            if (found < 0) {
                cw_errorf (err, errlen, "replog: read the history: %s", sqlite3_errmsg (self->ldb));
                result = CW_REPLOG_ERROR;
            }
            else if (found && strcasecmp (hash, head_hash) != 0) {
                cw_errorf (err, errlen,
                           "the peer's change %lld differs from this history's: "
                           "it needs a snapshot",
                           (long long) seq);
                result = CW_REPLOG_CONFLICT;
            }
        }
        if (result == CW_REPLOG_GAP)
            cw_errorf (err, errlen, "the peer is at seq %lld of %lld: catch-up", (long long) seq,
                       (long long) meta.applied_seq);
    }
done:
    s_rollback (self->ldb);
    return result;
}

// ---------------------------------------------------------------------------
//  Primary write path

static int
s_session_filter (void *arg, const char *table)
{
    cw_replog_t *self = (cw_replog_t *) arg;
    if (strncmp (table, "replog_", 7) == 0)
        return 0;
    if (!self->tables)
        return 1;
    for (char **t = self->tables; *t; t++)
        if (streq_ (*t, table))
            return 1;
    return 0;
}

bool
cw_replog_in_write (cw_replog_t *self)
{
    return self->in_write;
}

int
cw_replog_write_begin (cw_replog_t *self, char *err, size_t errlen)
{
    if (self->in_write) {
        cw_errorf (err, errlen, "replog: a write transaction is already open");
        return -1;
    }
    if (s_exec (self->db, "BEGIN IMMEDIATE", "begin the write", err, errlen))
        return -1;
    int rc = sqlite3session_create (self->db, self->schema, &self->session);
    if (rc == SQLITE_OK) {
        sqlite3session_table_filter (self->session, s_session_filter, self);
        rc = sqlite3session_attach (self->session, NULL);
    }
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: start the session: %s", sqlite3_errstr (rc));
        if (self->session)
            sqlite3session_delete (self->session);
        self->session = NULL;
        s_rollback (self->db);
        return -1;
    }
    self->in_write = true;
    return 0;
}

void
cw_replog_write_rollback (cw_replog_t *self)
{
    if (self->session)
        sqlite3session_delete (self->session);
    self->session = NULL;
    s_rollback (self->db);
    self->in_write = false;
}

int
cw_replog_write_commit (cw_replog_t *self, int64_t *seq, void **changeset, int *len, char *err, size_t errlen)
{
    if (seq)
        *seq = 0;
    if (changeset)
        *changeset = NULL;
    if (len)
        *len = 0;
    if (!self->in_write) {
        cw_errorf (err, errlen, "replog: no write transaction is open");
        return -1;
    }
    int size = 0;
    void *bytes = NULL;
    int rc = sqlite3session_changeset (self->session, &size, &bytes);
    sqlite3session_delete (self->session);
    self->session = NULL;
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: build the changeset: %s", sqlite3_errstr (rc));
        sqlite3_free (bytes);
        cw_replog_write_rollback (self);
        return -1;
    }
    int64_t new_seq = 0;
    if (size > 0) {
        s_meta_t meta;
        unsigned char hash [HASH_BYTES];
        if (s_meta_read (self, self->db, &meta, err, errlen))
            goto failed;
        if (!*meta.cluster_id) {
            s_new_cluster_id (meta.cluster_id, sizeof (meta.cluster_id));
            cw_info ("replog: new replication history cluster_id=%s", meta.cluster_id);
        }
        new_seq = meta.applied_seq + 1;
        if (s_hash_next (meta.head_hash, new_seq, bytes, size, hash, meta.head_hash)) {
            cw_errorf (err, errlen, "replog: replog_meta.head_hash is not a hash");
            goto failed;
        }
        meta.applied_seq = new_seq;
        if (s_history_add (self, self->db, new_seq, bytes, size, hash, err, errlen)
            || s_meta_write (self, self->db, &meta, err, errlen))
            goto failed;
    }
    if (s_exec (self->db, "COMMIT", "commit", err, errlen))
        goto failed;
    self->in_write = false;
    if (seq)
        *seq = new_seq;
    if (len)
        *len = size;
    if (changeset && size > 0)
        *changeset = bytes;
    else
        sqlite3_free (bytes);
    return 0;

failed:
    sqlite3_free (bytes);
    cw_replog_write_rollback (self);
    return -1;
}

// ---------------------------------------------------------------------------
//  Subordinate apply path

//  An SQLite varint (1..9 bytes, big-endian groups of 7 bits, the 9th byte
//  whole) at P, at most AVAIL bytes. Returns the bytes used, 0 if it is
//  cut short.
static size_t
s_varint (const unsigned char *p, size_t avail, uint64_t *value)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 9; i++) {
        if (i >= avail)
            return 0;
        if (i == 8) {
            *value = (v << 8) | p [i];
            return 9;
        }
        v = (v << 7) | (p [i] & 0x7f);
        if (!(p [i] & 0x80)) {
            *value = v;
            return i + 1;
        }
    }
    return 0;
}

//  Called for each table section of a changeset being checked.
typedef int (s_table_fn) (cw_replog_t *self, const char *table, int ncol, const unsigned char *pk, char *err,
                          size_t errlen);

//  An UPDATE as sqlite3session writes it: the old record holds every
//  primary-key column (the row to change); the new record holds no key
//  column (a key change is a DELETE and an INSERT) and at least one other
//  column. SQLite's apply does not check this itself: an old key column
//  left undefined makes it read a NULL value (a crash), and an UPDATE whose
//  only new value is a key column becomes "UPDATE t SET WHERE ...", a
//  syntax error whose message SQLite has cleared by the time the apply
//  returns. OLD_SET and NEW_SET say which columns each record defines;
//  AT is the change's offset, for the message.
static int
s_update_check (const char *table, uint64_t ncol, const unsigned char *pk, const bool *old_set, const bool *new_set,
                size_t at, char *err, size_t errlen)
{
    bool changes_a_column = false;
    for (uint64_t c = 0; c < ncol; c++) {
        if (pk [c] && !old_set [c]) {
            cw_errorf (err, errlen,
                       "invalid changeset: the update of table %s at byte %zu does not name its row (key column %d "
                       "has no old value)",
                       table, at, (int) c + 1);
            return CW_REPLOG_INVALID;
        }
        if (pk [c] && new_set [c]) {
            cw_errorf (err, errlen,
                       "invalid changeset: the update of table %s at byte %zu changes key column %d (a key change is "
                       "a delete and an insert)",
                       table, at, (int) c + 1);
            return CW_REPLOG_INVALID;
        }
        changes_a_column |= new_set [c];
    }
    if (!changes_a_column) {
        cw_errorf (err, errlen, "invalid changeset: the update of table %s at byte %zu changes no column", table, at);
        return CW_REPLOG_INVALID;
    }
    return CW_REPLOG_OK;
}

//  Parse CHANGESET strictly (SQLite's own iterator loops forever on some
//  truncated input, e.g. a lone 'T', so it must never see bytes that are
//  not well-formed). Format, per table: 'T', varint column count, one
//  primary-key flag (0, or the column's 1-based position in the key) per column, the table name and a NUL; then
//  changes: op (SQLITE_INSERT 18 | SQLITE_UPDATE 23 | SQLITE_DELETE 9), an
//  indirect flag, one record (two for UPDATE: old then new) of one value
//  per column: 0 undefined (UPDATE only), 1 integer / 2 real (8 bytes),
//  3 text / 4 blob (varint length, bytes), 5 NULL. An UPDATE must have the
//  shape sqlite3session writes (s_update_check). Returns OK, INVALID, or
//  what TABLE_FN returned. *CHANGES = number of changes.
static int
s_changeset_parse (cw_replog_t *self, const unsigned char *p, size_t len, s_table_fn *table_fn, int64_t *changes,
                   char *err, size_t errlen)
{
    size_t pos = 0;
    *changes = 0;
    if (len == 0) {
        cw_errorf (err, errlen, "invalid changeset: empty");
        return CW_REPLOG_INVALID;
    }
    while (pos < len) {
        if (p [pos] != 'T') {
            cw_errorf (err, errlen, "invalid changeset: no table header at byte %zu", pos);
            return CW_REPLOG_INVALID;
        }
        pos++;
        uint64_t ncol = 0;
        size_t used = s_varint (p + pos, len - pos, &ncol);
        if (!used || ncol < 1 || ncol > S_COLUMNS_MAX || ncol > len - pos - used) {
            cw_errorf (err, errlen, "invalid changeset: bad column count at byte %zu", pos);
            return CW_REPLOG_INVALID;
        }
        pos += used;
        const unsigned char *pk = p + pos;
        bool has_pk = false;
        for (uint64_t c = 0; c < ncol; c++) {
            //  0 = not in the key; 1..N = its position in a composite key
            if ((uint64_t) pk [c] > ncol) {
                cw_errorf (err, errlen, "invalid changeset: bad primary-key flag at byte %zu", pos + c);
                return CW_REPLOG_INVALID;
            }
            has_pk |= pk [c] != 0;
        }
        pos += ncol;
        const unsigned char *nul = pos < len ? memchr (p + pos, 0, len - pos) : NULL;
        if (!has_pk || !nul || nul == p + pos || nul - (p + pos) > 255) {
            cw_errorf (err, errlen, "invalid changeset: bad table header at byte %zu", pos);
            return CW_REPLOG_INVALID;
        }
        const char *table = (const char *) p + pos;
        for (const unsigned char *c = p + pos; c < nul; c++)
            if (*c < 0x20 || *c == 0x7f) {
                cw_errorf (err, errlen, "invalid changeset: bad table name at byte %zu", pos);
                return CW_REPLOG_INVALID;
            }
        pos = (size_t) (nul - p) + 1;
        int rc = table_fn (self, table, (int) ncol, pk, err, errlen);
        if (rc != CW_REPLOG_OK)
            return rc;
        while (pos < len && p [pos] != 'T') {
            int op = p [pos];
            if ((op != SQLITE_INSERT && op != SQLITE_UPDATE && op != SQLITE_DELETE) || pos + 1 >= len
                || p [pos + 1] > 1) {
                cw_errorf (err, errlen, "invalid changeset: bad change header at byte %zu", pos);
                return CW_REPLOG_INVALID;
            }
            size_t at = pos;
            pos += 2;
            int records = op == SQLITE_UPDATE ? 2 : 1;
            bool set [2][S_COLUMNS_MAX];    //  which columns the old and new records define
            for (int r = 0; r < records; r++) {
                for (uint64_t c = 0; c < ncol; c++) {
                    if (pos >= len) {
                        cw_errorf (err, errlen, "invalid changeset: truncated record");
                        return CW_REPLOG_INVALID;
                    }
                    int type = p [pos++];
                    set [r][c] = type != 0;
                    if (type == 0 && op == SQLITE_UPDATE)
                        continue;
                    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
                        if (len - pos < 8) {
                            cw_errorf (err, errlen, "invalid changeset: truncated value");
                            return CW_REPLOG_INVALID;
                        }
                        pos += 8;
                    }
                    else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
                        uint64_t n = 0;
                        used = s_varint (p + pos, len - pos, &n);
                        if (!used || n > len - pos - used) {
                            cw_errorf (err, errlen, "invalid changeset: truncated value");
                            return CW_REPLOG_INVALID;
                        }
                        pos += used + n;
                    }
                    else if (type != SQLITE_NULL) {
                        cw_errorf (err, errlen, "invalid changeset: bad value type %d at byte %zu", type, pos - 1);
                        return CW_REPLOG_INVALID;
                    }
                }
            }
            if (op == SQLITE_UPDATE) {
                rc = s_update_check (table, ncol, pk, set [0], set [1], at, err, errlen);
                if (rc != CW_REPLOG_OK)
                    return rc;
            }
            (*changes)++;
        }
    }
    if (*changes == 0) {
        cw_errorf (err, errlen, "invalid changeset: it holds no change");
        return CW_REPLOG_INVALID;
    }
    return CW_REPLOG_OK;
}

//  A table of the changeset must exist here with the same number of
//  columns and the same primary key, and not be replog_*.
static int
s_table_check (cw_replog_t *self, const char *table, int ncol, const unsigned char *pk, char *err, size_t errlen)
{
    if (strncmp (table, "replog_", 7) == 0 || strncmp (table, "sqlite_", 7) == 0) {
        cw_errorf (err, errlen, "invalid changeset: it changes the internal table %s", table);
        return CW_REPLOG_INVALID;
    }
    char *sql = sqlite3_mprintf ("SELECT pk FROM pragma_table_info (%Q, 'main') ORDER BY cid", table);
    sqlite3_stmt *stmt = NULL;
    int rc = sql ? sqlite3_prepare_v2 (self->ldb, sql, -1, &stmt, NULL) : SQLITE_NOMEM;
    sqlite3_free (sql);
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: read table %s: %s", table, sqlite3_errmsg (self->ldb));
        return CW_REPLOG_ERROR;
    }
    int cols = 0;
    bool pk_same = true;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        bool is_pk = sqlite3_column_int (stmt, 0) > 0;
        if (cols < ncol && is_pk != (pk [cols] != 0))
            pk_same = false;
        cols++;
    }
    sqlite3_finalize (stmt);
    if (cols == 0) {
        cw_errorf (err, errlen, "conflict: table %s does not exist on this peer", table);
        return CW_REPLOG_CONFLICT;
    }
    if (cols != ncol || !pk_same) {
        cw_errorf (err, errlen, "conflict: table %s has %d columns here, %d in the changeset%s", table, cols, ncol,
                   pk_same ? "" : " (or another primary key)");
        return CW_REPLOG_CONFLICT;
    }
    return CW_REPLOG_OK;
}

//  Check CHANGESET before it is applied: well-formed, and every table fits
//  this schema. Returns OK, INVALID, CONFLICT or ERROR.
static int
s_changeset_check (cw_replog_t *self, const void *changeset, int len, int64_t *changes, char *err, size_t errlen)
{
    return s_changeset_parse (self, (const unsigned char *) changeset, (size_t) len, s_table_check, changes, err,
                              errlen);
}

typedef struct {
    int type;    //  first conflict type, 0 = none
    char table [128];
} s_conflict_t;

static int
s_conflict_handler (void *arg, int type, sqlite3_changeset_iter *iter)
{
    s_conflict_t *conflict = (s_conflict_t *) arg;
    if (!conflict->type) {
        conflict->type = type;
        const char *table = NULL;
        int ncol = 0, op = 0, indirect = 0;
        if (sqlite3changeset_op (iter, &table, &ncol, &op, &indirect) == SQLITE_OK && table)
            snprintf (conflict->table, sizeof (conflict->table), "%s", table);
    }
    return SQLITE_CHANGESET_ABORT;
}

static const char *
s_conflict_name (int type)
{
    switch (type) {
        case SQLITE_CHANGESET_DATA:
            return "DATA (the row differs from the primary's)";
        case SQLITE_CHANGESET_NOTFOUND:
            return "NOTFOUND (the row is missing here)";
        case SQLITE_CHANGESET_CONFLICT:
            return "CONFLICT (the row already exists here)";
        case SQLITE_CHANGESET_CONSTRAINT:
            return "CONSTRAINT";
        case SQLITE_CHANGESET_FOREIGN_KEY:
            return "FOREIGN_KEY";
        default:
            return "unknown";
    }
}

int
cw_replog_apply (cw_replog_t *self, int64_t seq, const void *changeset, int len, const char *hash_hex,
                 int64_t *need_from, char *err, size_t errlen)
{
    if (need_from)
        *need_from = 0;
    if (self->in_write) {
        cw_errorf (err, errlen, "replog: a write transaction is open on this peer");
        return CW_REPLOG_ERROR;
    }
    if (!changeset || len <= 0 || seq <= 0) {
        cw_errorf (err, errlen, "invalid changeset: seq %lld, %d bytes", (long long) seq, len);
        return CW_REPLOG_INVALID;
    }
    if (s_exec (self->ldb, "BEGIN IMMEDIATE", "begin the apply", err, errlen))
        return CW_REPLOG_ERROR;
    s_meta_t meta;
    int result = CW_REPLOG_ERROR;
    if (s_meta_read (self, self->ldb, &meta, err, errlen))
        goto failed;
    if (need_from)
        *need_from = meta.applied_seq;
    if (!*meta.cluster_id) {
        cw_errorf (err, errlen, "this peer has no replication history yet: a snapshot is needed");
        result = CW_REPLOG_TOO_OLD;
        goto failed;
    }
    if (seq <= meta.applied_seq) {
        cw_errorf (err, errlen, "change %lld is already applied (at %lld)", (long long) seq,
                   (long long) meta.applied_seq);
        result = CW_REPLOG_DUPLICATE;
        goto failed;
    }
    if (seq > meta.applied_seq + 1) {
        cw_errorf (err, errlen, "change %lld arrived after %lld: catch-up from %lld needed", (long long) seq,
                   (long long) meta.applied_seq, (long long) meta.applied_seq);
        result = CW_REPLOG_GAP;
        goto failed;
    }
    unsigned char hash [HASH_BYTES];
    if (s_hash_next (meta.head_hash, seq, changeset, len, hash, meta.head_hash)) {
        cw_errorf (err, errlen, "replog: replog_meta.head_hash is not a hash");
        result = CW_REPLOG_ERROR;
        goto failed;
    }
    if (hash_hex && *hash_hex && strcasecmp (hash_hex, meta.head_hash) != 0) {
        cw_errorf (err, errlen,
                   "invalid changeset %lld: it does not match the primary's hash "
                   "(truncated or corrupt)",
                   (long long) seq);
        result = CW_REPLOG_INVALID;
        goto failed;
    }
    int64_t changes = 0;
    result = s_changeset_check (self, changeset, len, &changes, err, errlen);
    if (result != CW_REPLOG_OK)
        goto failed;

    s_conflict_t conflict = { 0 };
    int rc = sqlite3changeset_apply_v2 (self->ldb, len, (void *) changeset, NULL, s_conflict_handler, &conflict, NULL,
                                        NULL, SQLITE_CHANGESETAPPLY_NOSAVEPOINT);
    if (conflict.type) {
        cw_errorf (err, errlen, "conflict applying change %lld: %s in table %s", (long long) seq,
                   s_conflict_name (conflict.type), conflict.table);
        result = CW_REPLOG_CONFLICT;
        goto failed;
    }
    if (rc != SQLITE_OK) {
        result = rc == SQLITE_CORRUPT || rc == SQLITE_MISUSE ? CW_REPLOG_INVALID : CW_REPLOG_ERROR;
        //  SQLite's message may be gone by now (cleared by the apply's own
        //  clean-up): then the code's text is all there is
        const char *why = sqlite3_errcode (self->ldb) != SQLITE_OK ? sqlite3_errmsg (self->ldb) : sqlite3_errstr (rc);
        cw_errorf (err, errlen, "%s change %lld: %s", result == CW_REPLOG_INVALID ? "invalid" : "replog: apply",
                   (long long) seq, why);
        goto failed;
    }
    meta.applied_seq = seq;
    result = CW_REPLOG_ERROR;
    if (s_history_add (self, self->ldb, seq, changeset, len, hash, err, errlen)
        || s_meta_write (self, self->ldb, &meta, err, errlen)
        || s_exec (self->ldb, "COMMIT", "commit the apply", err, errlen))
        goto failed;
    cw_debug ("replog: applied seq=%lld changes=%lld bytes=%d", (long long) seq, (long long) changes, len);
    return CW_REPLOG_OK;

failed:
    s_rollback (self->ldb);
    if (result == CW_REPLOG_CONFLICT || result == CW_REPLOG_INVALID || result == CW_REPLOG_ERROR)
        cw_warn ("replog: change not applied seq=%lld result=%s reason=\"%s\"", (long long) seq,
                 cw_replog_rc_name (result), err ? err : "");
    return result;
}

// ---------------------------------------------------------------------------
//  Catch-up

int
cw_replog_changesets_since (cw_replog_t *self, int64_t from_seq, cw_replog_changeset_fn *fn, void *arg, char *err,
                            size_t errlen)
{
    if (s_exec (self->ldb, "BEGIN", "begin", err, errlen))
        return CW_REPLOG_ERROR;
    s_meta_t meta;
    int result = CW_REPLOG_ERROR;
    sqlite3_stmt *stmt = NULL;
    if (s_meta_read (self, self->ldb, &meta, err, errlen))
        goto done;
    if (from_seq < 0 || from_seq > meta.applied_seq) {
        cw_errorf (err, errlen, "seq %lld is ahead of this history (%lld)", (long long) from_seq,
                   (long long) meta.applied_seq);
        result = CW_REPLOG_CONFLICT;
        goto done;
    }
    result = CW_REPLOG_OK;
    if (from_seq == meta.applied_seq)
        goto done;
    if (sqlite3_prepare_v2 (self->ldb,
                            "SELECT seq, changeset, hash FROM main.replog_history WHERE seq > ?1 ORDER BY seq", -1,
                            &stmt, NULL)
        != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: read the history: %s", sqlite3_errmsg (self->ldb));
        result = CW_REPLOG_ERROR;
        goto done;
    }
    sqlite3_bind_int64 (stmt, 1, from_seq);
    int64_t expected = from_seq + 1;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64 (stmt, 0);
        if (seq != expected) {
            cw_errorf (err, errlen,
                       "change %lld is no longer in the history (oldest %lld): "
                       "a snapshot is needed",
                       (long long) expected, (long long) seq);
            result = CW_REPLOG_TOO_OLD;
            goto done;
        }
        const void *bytes = sqlite3_column_blob (stmt, 1);
        int len = sqlite3_column_bytes (stmt, 1);
        char hash [CW_REPLOG_HASH_HEX_LEN + 1] = "";
        if (sqlite3_column_bytes (stmt, 2) == HASH_BYTES)
            sodium_bin2hex (hash, sizeof (hash), sqlite3_column_blob (stmt, 2), HASH_BYTES);
        result = fn (seq, bytes, len, hash, arg);
        if (result != 0)
            goto done;
        expected++;
    }
    if (rc != SQLITE_DONE) {
        cw_errorf (err, errlen, "replog: read the history: %s", sqlite3_errmsg (self->ldb));
        result = CW_REPLOG_ERROR;
    }
    else if (expected == from_seq + 1) {
        cw_errorf (err, errlen, "change %lld is no longer in the history: a snapshot is needed", (long long) expected);
        result = CW_REPLOG_TOO_OLD;
    }
done:
    sqlite3_finalize (stmt);
    s_rollback (self->ldb);
    return result;
}

// ---------------------------------------------------------------------------
//  Snapshots

int
cw_replog_snapshot_create (cw_replog_t *self, void **blob, int64_t *len, int64_t *seq, char *err, size_t errlen)
{
    *blob = NULL;
    *len = 0;
    *seq = 0;
    if (self->in_write) {
        cw_errorf (err, errlen, "replog: a write transaction is open");
        return -1;
    }
    //  A snapshot always names its history: a primary that never wrote
    //  forms one now (a short write transaction, only that once).
    s_meta_t meta;
    if (s_meta_read (self, self->ldb, &meta, err, errlen))
        return -1;
    if (!*meta.cluster_id) {
        if (s_exec (self->ldb, "BEGIN IMMEDIATE", "begin", err, errlen))
            return -1;
        if (s_meta_read (self, self->ldb, &meta, err, errlen))
            goto failed;
        if (!*meta.cluster_id) {
            s_new_cluster_id (meta.cluster_id, sizeof (meta.cluster_id));
            if (s_meta_write (self, self->ldb, &meta, err, errlen))
                goto failed;
            cw_info ("replog: new replication history cluster_id=%s", meta.cluster_id);
        }
        if (s_exec (self->ldb, "COMMIT", "commit", err, errlen))
            goto failed;
    }
    //  Then a read transaction: the image and META are one consistent view.
    if (s_exec (self->ldb, "BEGIN", "begin", err, errlen))
        return -1;
    if (s_meta_read (self, self->ldb, &meta, err, errlen))
        goto failed;
    //  The image is read in this same transaction: consistent with META.
    sqlite3_int64 size = 0;
    unsigned char *image = sqlite3_serialize (self->ldb, "main", &size, 0);
    if (!image || size <= 0) {
        cw_errorf (err, errlen, "replog: serialize %s: %s", self->path, sqlite3_errmsg (self->ldb));
        sqlite3_free (image);
        goto failed;
    }
    if (s_exec (self->ldb, "COMMIT", "commit", err, errlen)) {
        sqlite3_free (image);
        goto failed;
    }
    *blob = image;
    *len = size;
    *seq = meta.applied_seq;
    return 0;

failed:
    s_rollback (self->ldb);
    return -1;
}

static int
s_query_int (sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int64 (stmt, 0);
            rc = SQLITE_OK;
        }
        else
            rc = SQLITE_ERROR;
    }
    sqlite3_finalize (stmt);
    return rc == SQLITE_OK ? 0 : -1;
}

//  Open the image BLOB in a private in-memory database and check it.
//  Returns the database or NULL with *RESULT = INVALID/ERROR and ERR.
static sqlite3 *
s_snapshot_open (const void *blob, int64_t len, int64_t seq, int *result, char *err, size_t errlen)
{
    *result = CW_REPLOG_INVALID;
    const unsigned char *bytes = (const unsigned char *) blob;
    if (!blob || len < 512 || memcmp (bytes, "SQLite format 3", 16) != 0) {
        cw_errorf (err, errlen, "invalid snapshot: not an SQLite database image");
        return NULL;
    }
    unsigned page_size = (unsigned) bytes [16] << 8 | bytes [17];
    if (page_size == 1)
        page_size = 65536;
    if (page_size < 512 || (page_size & (page_size - 1)) || len % page_size) {
        cw_errorf (err, errlen, "invalid snapshot: bad page size %u for %lld bytes", page_size, (long long) len);
        return NULL;
    }
    unsigned char *copy = sqlite3_malloc64 ((sqlite3_uint64) len);
    sqlite3 *mem = NULL;
    if (!copy || sqlite3_open_v2 (":memory:", &mem, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_free (copy);
        sqlite3_close_v2 (mem);
        cw_errorf (err, errlen, "replog: out of memory for a %lld-byte snapshot", (long long) len);
        *result = CW_REPLOG_ERROR;
        return NULL;
    }
    memcpy (copy, bytes, (size_t) len);
    //  A WAL-mode image cannot be opened in memory: mark it rollback-mode.
    copy [18] = copy [19] = 1;
    sqlite3_db_config (mem, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config (mem, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    int rc = sqlite3_deserialize (mem, "main", copy, len, len,
                                  SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE);
    if (rc != SQLITE_OK) {
        cw_errorf (err, errlen, "invalid snapshot: %s", sqlite3_errstr (rc));
        sqlite3_close_v2 (mem);
        return NULL;
    }
    //  quick_check: every page and record well-formed (not index content).
    sqlite3_stmt *stmt = NULL;
    const char *check = NULL;
    rc = sqlite3_prepare_v2 (mem, "PRAGMA quick_check(1)", -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        check = (const char *) sqlite3_column_text (stmt, 0);
    if (!check || !streq_ (check, "ok")) {
        cw_errorf (err, errlen, "invalid snapshot: %s", check ? check : sqlite3_errmsg (mem));
        for (char *c = err; c && *c; c++)
            if (*c == '\n')
                *c = ' ';    //  one log line
        sqlite3_finalize (stmt);
        sqlite3_close_v2 (mem);
        return NULL;
    }
    sqlite3_finalize (stmt);
    int64_t triggers = -1, tables = -1;
    if (s_query_int (mem, "SELECT count (*) FROM sqlite_schema WHERE type IN ('trigger', 'view')", &triggers)
        || s_query_int (mem,
                        "SELECT count (*) FROM sqlite_schema WHERE type = 'table' AND name IN "
                        "('replog_meta', 'replog_history', 'cluster_config')",
                        &tables)) {
        cw_errorf (err, errlen, "invalid snapshot: %s", sqlite3_errmsg (mem));
        sqlite3_close_v2 (mem);
        return NULL;
    }
    if (triggers != 0 || tables != 3) {
        cw_errorf (err, errlen, "invalid snapshot: %s",
                   triggers ? "it holds triggers or views"
                            : "replog_meta, replog_history or cluster_config is missing");
        sqlite3_close_v2 (mem);
        return NULL;
    }
    int64_t image_seq = -1, has_id = 0;
    if (s_query_int (mem, "SELECT value FROM replog_meta WHERE name = 'applied_seq'", &image_seq)
        || s_query_int (mem, "SELECT length (value) > 0 FROM replog_meta WHERE name = 'cluster_id'", &has_id)
        || image_seq != seq || !has_id) {
        cw_errorf (err, errlen,
                   "invalid snapshot: its applied_seq (%lld) is not %lld or it names "
                   "no history",
                   (long long) image_seq, (long long) seq);
        sqlite3_close_v2 (mem);
        return NULL;
    }
    *result = CW_REPLOG_OK;
    return mem;
}

int
cw_replog_snapshot_apply (cw_replog_t *self, const void *blob, int64_t len, int64_t seq, char *err, size_t errlen)
{
    if (self->in_write) {
        cw_errorf (err, errlen, "replog: a write transaction is open");
        return CW_REPLOG_ERROR;
    }
    int result;
    double started = s_clock ();
    sqlite3 *mem = s_snapshot_open (blob, len, seq, &result, err, errlen);
    double checked = s_clock ();
    if (!mem) {
        cw_warn ("replog: snapshot refused seq=%lld bytes=%lld reason=\"%s\"", (long long) seq, (long long) len,
                 err ? err : "");
        return result;
    }
    int64_t image_page = 0, local_page = 0;
    if (s_query_int (mem, "PRAGMA page_size", &image_page)
        || s_query_int (self->ldb, "PRAGMA main.page_size", &local_page)) {
        cw_errorf (err, errlen, "replog: read the page size: %s", sqlite3_errmsg (self->ldb));
        sqlite3_close_v2 (mem);
        return CW_REPLOG_ERROR;
    }
    if (image_page != local_page) {
        cw_errorf (err, errlen, "invalid snapshot: page size %lld, this peer uses %lld", (long long) image_page,
                   (long long) local_page);
        sqlite3_close_v2 (mem);
        return CW_REPLOG_INVALID;
    }
    //  One write transaction on cluster.db (WAL, synchronous=FULL): after
    //  a crash the file is the old or the new image, never a mix.
    sqlite3_backup *backup = sqlite3_backup_init (self->ldb, "main", mem, "main");
    if (!backup) {
        cw_errorf (err, errlen, "replog: restore the snapshot: %s", sqlite3_errmsg (self->ldb));
        sqlite3_close_v2 (mem);
        return CW_REPLOG_ERROR;
    }
    int rc = sqlite3_backup_step (backup, -1);
    int frc = sqlite3_backup_finish (backup);
    sqlite3_close_v2 (mem);
    if (rc != SQLITE_DONE || frc != SQLITE_OK) {
        cw_errorf (err, errlen, "replog: restore the snapshot: %s", sqlite3_errstr (rc != SQLITE_DONE ? rc : frc));
        return CW_REPLOG_ERROR;
    }
    cw_info ("replog: snapshot restored seq=%lld bytes=%lld check_ms=%.0f copy_ms=%.0f", (long long) seq,
             (long long) len, (checked - started) * 1000, (s_clock () - checked) * 1000);
    return CW_REPLOG_OK;
}

int
cw_replog_reset (cw_replog_t *self, char *err, size_t errlen)
{
    if (self->in_write) {
        cw_errorf (err, errlen, "replog: a write transaction is open");
        return -1;
    }
    if (s_exec (self->ldb, "BEGIN IMMEDIATE", "begin the reset", err, errlen))
        return -1;
    //  Collect the tables first: no schema reads while deleting.
    char **names = NULL;
    size_t count = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->ldb,
                                 "SELECT name FROM main.sqlite_schema WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> 'replog_meta'",
                                 -1, &stmt, NULL);
    while (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW) {
        char **grown = realloc (names, (count + 1) * sizeof (char *));
        if (!grown) {
            rc = SQLITE_NOMEM;
            break;
        }
        names = grown;
        names [count] = strdup ((const char *) sqlite3_column_text (stmt, 0));
        if (!names [count]) {
            rc = SQLITE_NOMEM;
            break;
        }
        count++;
    }
    sqlite3_finalize (stmt);
    int result = rc == SQLITE_OK ? 0 : -1;
    if (result)
        cw_errorf (err, errlen, "replog: list the cluster tables: %s", sqlite3_errstr (rc));
    for (size_t i = 0; i < count && result == 0; i++) {
        char *sql = sqlite3_mprintf ("DELETE FROM main.\"%w\"", names [i]);
        result = sql ? s_exec (self->ldb, sql, "empty a cluster table", err, errlen) : -1;
        sqlite3_free (sql);
    }
    for (size_t i = 0; i < count; i++)
        free (names [i]);
    free (names);
    s_meta_t meta = { 0 };
    if (result == 0)
        result = s_meta_write (self, self->ldb, &meta, err, errlen);
    if (result == 0)
        result = s_exec (self->ldb, "COMMIT", "commit the reset", err, errlen);
    if (result) {
        s_rollback (self->ldb);
        return -1;
    }
    cw_info ("replog: cluster data discarded (reset) tables=%zu", count);
    return 0;
}
