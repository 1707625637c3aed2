/*  binding_store.c - own registrations on disk (see binding_store.h).

    One table, bindings, keyed by (aor, contact), one column per field of
    cw_binding_t that an instance started later needs, plus the license
    kind; and a table meta with the schema version and the node start
    (boot_id) the rows belong to. WAL journal, synchronous=OFF: a commit is
    a write to the WAL file and no fsync. One process uses the file, so
    its lock is held for good (locking_mode EXCLUSIVE: no shared-memory
    index, no lock calls per transaction); the page cache holds the whole
    table of a large peer (64 MiB), and the WAL is checkpointed every 8192
    pages rather than 1000, so a binding refreshed often is copied back
    once per checkpoint. Measured on this machine: about 7 us per change
    with 20 changes per commit. The first change after a commit opens the
    transaction (BEGIN); cw_binding_store_commit ends it.
*/
#include "binding_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_log.h"
#include "cw_statefile.h"

#define S_VERSION "1"

static const char *s_schema = "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                              "CREATE TABLE IF NOT EXISTS bindings ("
                              " aor TEXT NOT NULL, contact TEXT NOT NULL, expires_ms INTEGER NOT NULL,"
                              " instance TEXT NOT NULL, reg_id INTEGER NOT NULL, path TEXT NOT NULL,"
                              " transport TEXT NOT NULL, source TEXT NOT NULL, flow TEXT NOT NULL,"
                              " user_agent TEXT NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,"
                              " license TEXT NOT NULL, kind TEXT NOT NULL,"
                              " PRIMARY KEY (aor, contact)) WITHOUT ROWID;";

#define S_COLUMNS                                                                                                      \
    "aor, contact, expires_ms, instance, reg_id, path, transport, source, flow, user_agent, call_id, cseq, license, "  \
    "kind"

struct _cw_binding_store_t {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *put;
    sqlite3_stmt *del;
    bool in_txn;
    size_t pending;
    uint64_t commits;
    uint64_t failures;
};

// ---------------------------------------------------------------------------
//  Opening

static int
s_exec (sqlite3 *db, const char *sql)
{
    return sqlite3_exec (db, sql, NULL, NULL, NULL);
}

//  The value of meta KEY into OUT ("" when absent). SQLite's result code.
static int
s_meta_get (sqlite3 *db, const char *key, char *out, size_t outlen)
{
    out [0] = 0;
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "SELECT value FROM meta WHERE key = ?1", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text (stmt, 0);
        snprintf (out, outlen, "%s", text ? text : "");
        rc = SQLITE_OK;
    }
    else if (rc == SQLITE_DONE)
        rc = SQLITE_OK;
    sqlite3_finalize (stmt);
    return rc;
}

static int
s_meta_set (sqlite3 *db, const char *key, const char *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, value, -1, SQLITE_STATIC);
    rc = sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void
s_close (cw_binding_store_t *self)
{
    sqlite3_finalize (self->put);
    sqlite3_finalize (self->del);
    self->put = self->del = NULL;
    if (self->db)
        sqlite3_close (self->db);
    self->db = NULL;
}

//  Open SELF->path for BOOT_ID. SQLite's result code (WHY says what went
//  wrong); *WIPED when rows of another start were dropped.
static int
s_open (cw_binding_store_t *self, const char *boot_id, bool *wiped, char *why, size_t whylen)
{
    int rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (rc != SQLITE_OK) {
        snprintf (why, whylen, "%s", self->db ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc));
        return rc;
    }
    sqlite3_busy_timeout (self->db, 2000);
    sqlite3_extended_result_codes (self->db, 1);
    //  The file only has to outlive the process: no fsync (see the header)
    if ((rc = s_exec (self->db, "PRAGMA locking_mode=EXCLUSIVE")) != SQLITE_OK
        || (rc = s_exec (self->db, "PRAGMA journal_mode=WAL")) != SQLITE_OK
        || (rc = s_exec (self->db, "PRAGMA synchronous=OFF")) != SQLITE_OK
        || (rc = s_exec (self->db, "PRAGMA cache_size=-65536")) != SQLITE_OK
        || (rc = s_exec (self->db, "PRAGMA wal_autocheckpoint=8192")) != SQLITE_OK) {
        snprintf (why, whylen, "%s", sqlite3_errmsg (self->db));
        return rc;
    }
    if (cw_state_quick_check (self->db, "main", why, whylen) != 0)
        return SQLITE_CORRUPT;
    if ((rc = s_exec (self->db, s_schema)) != SQLITE_OK) {
        snprintf (why, whylen, "%s", sqlite3_errmsg (self->db));
        return rc;
    }
    char version [16], boot [128];
    if ((rc = s_meta_get (self->db, "version", version, sizeof version)) != SQLITE_OK
        || (rc = s_meta_get (self->db, "boot_id", boot, sizeof boot)) != SQLITE_OK) {
        snprintf (why, whylen, "%s", sqlite3_errmsg (self->db));
        return rc;
    }
    if (strcmp (version, S_VERSION) != 0 || strcmp (boot, boot_id) != 0) {
        //  Another start of the node (or a new file): nothing of it holds
        *wiped = boot [0] != 0;
        if ((rc = s_exec (self->db, "BEGIN")) != SQLITE_OK
            || (rc = s_exec (self->db, "DELETE FROM bindings")) != SQLITE_OK
            || (rc = s_meta_set (self->db, "version", S_VERSION)) != SQLITE_OK
            || (rc = s_meta_set (self->db, "boot_id", boot_id)) != SQLITE_OK
            || (rc = s_exec (self->db, "COMMIT")) != SQLITE_OK) {
            snprintf (why, whylen, "%s", sqlite3_errmsg (self->db));
            s_exec (self->db, "ROLLBACK");
            return rc;
        }
    }
    rc = sqlite3_prepare_v3 (self->db,
                             "INSERT OR REPLACE INTO bindings (" S_COLUMNS
                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                             -1, SQLITE_PREPARE_PERSISTENT, &self->put, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v3 (self->db, "DELETE FROM bindings WHERE aor = ?1 AND contact = ?2", -1,
                                 SQLITE_PREPARE_PERSISTENT, &self->del, NULL);
    if (rc != SQLITE_OK)
        snprintf (why, whylen, "%s", sqlite3_errmsg (self->db));
    return rc;
}

cw_binding_store_t *
cw_binding_store_open (const char *path, const char *boot_id, bool *wiped, char **damaged, char *err, size_t errlen)
{
    *wiped = false;
    if (damaged)
        *damaged = NULL;
    cw_binding_store_t *self = (cw_binding_store_t *) calloc (1, sizeof (cw_binding_store_t));
    if (!self || !(self->path = strdup (path))) {
        free (self);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char why [512] = "";
    int rc = s_open (self, boot_id ? boot_id : "", wiped, why, sizeof why);
    if (rc != SQLITE_OK && cw_state_is_damage (rc)) {
        //  Damaged: keep it for a post-mortem, start empty
        s_close (self);
        char as [4200] = "";
        if (cw_state_move_aside (path, as, sizeof as, err, errlen) != 0) {
            cw_binding_store_destroy (&self);
            return NULL;
        }
        const char *format = "%s was damaged (%s); moved to %s, registrations start empty";
        int size = snprintf (NULL, 0, format, path, why, as);
        char *problem = size > 0 ? (char *) malloc ((size_t) size + 1) : NULL;
        if (problem) {
            snprintf (problem, (size_t) size + 1, format, path, why, as);
            cw_warn ("binding store: %s", problem);
        }
        if (damaged)
            *damaged = problem;
        else
            free (problem);
        *wiped = false;
        rc = s_open (self, boot_id ? boot_id : "", wiped, why, sizeof why);
    }
    if (rc != SQLITE_OK) {
        snprintf (err, errlen, "cannot open the binding store %s: %s", path, why);
        cw_binding_store_destroy (&self);
        return NULL;
    }
    return self;
}

void
cw_binding_store_destroy (cw_binding_store_t **self_p)
{
    cw_binding_store_t *self = *self_p;
    if (!self)
        return;
    if (self->db)
        cw_binding_store_commit (self);
    s_close (self);
    free (self->path);
    free (self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Changes

static void
s_failed (cw_binding_store_t *self, const char *what, int rc)
{
    self->failures++;
    //  The first failures, then one in a thousand: a full disk must not flood the log
    if (self->failures <= 10 || self->failures % 1000 == 0)
        cw_error ("binding store: %s failed path=%s error=\"%s\" failures=%llu", what, self->path, sqlite3_errstr (rc),
                  (unsigned long long) self->failures);
}

static int
s_begin (cw_binding_store_t *self)
{
    if (self->in_txn)
        return 0;
    int rc = s_exec (self->db, "BEGIN");
    if (rc != SQLITE_OK) {
        s_failed (self, "begin", rc);
        return -1;
    }
    self->in_txn = true;
    return 0;
}

int
cw_binding_store_put (cw_binding_store_t *self, const cw_binding_t *b, const char *kind)
{
    if (s_begin (self) != 0)
        return -1;
    sqlite3_stmt *stmt = self->put;
    sqlite3_bind_text (stmt, 1, b->aor, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, b->contact, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, b->expires_ms);
    sqlite3_bind_text (stmt, 4, b->instance, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 5, b->reg_id);
    sqlite3_bind_text (stmt, 6, b->path, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 7, b->transport, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 8, b->source, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 9, b->flow, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 10, b->user_agent, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 11, b->call_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 12, (sqlite3_int64) b->cseq);
    sqlite3_bind_text (stmt, 13, b->license, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 14, kind ? kind : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (rc != SQLITE_DONE) {
        s_failed (self, "put", rc);
        return -1;
    }
    self->pending++;
    return 0;
}

int
cw_binding_store_remove (cw_binding_store_t *self, const char *aor, const char *contact)
{
    if (s_begin (self) != 0)
        return -1;
    sqlite3_stmt *stmt = self->del;
    sqlite3_bind_text (stmt, 1, aor, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, contact, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (rc != SQLITE_DONE) {
        s_failed (self, "remove", rc);
        return -1;
    }
    self->pending++;
    return 0;
}

size_t
cw_binding_store_pending (cw_binding_store_t *self)
{
    return self->pending;
}

int
cw_binding_store_commit (cw_binding_store_t *self)
{
    if (!self->in_txn)
        return 0;
    int rc = s_exec (self->db, "COMMIT");
    if (rc != SQLITE_OK) {
        s_failed (self, "commit", rc);
        s_exec (self->db, "ROLLBACK");
    }
    else
        self->commits++;
    self->in_txn = false;
    self->pending = 0;
    return rc == SQLITE_OK ? 0 : -1;
}

// ---------------------------------------------------------------------------
//  Reading back

//  Column I of STMT as text into DEST; false when it is not text or does
//  not fit (REQUIRED: nor empty).
static bool
s_column (sqlite3_stmt *stmt, int i, char *dest, size_t size, bool required)
{
    const unsigned char *text = sqlite3_column_text (stmt, i);
    int len = sqlite3_column_bytes (stmt, i);
    if (!text || len < 0 || (size_t) len >= size || strlen ((const char *) text) != (size_t) len)
        return false;
    memcpy (dest, text, (size_t) len + 1);
    return !required || len > 0;
}

size_t
cw_binding_store_load (cw_binding_store_t *self, int64_t now_ms, cw_binding_store_fn *fn, void *arg, size_t *expired,
                       size_t *invalid)
{
    size_t good = 0, gone = 0, bad = 0;
    cw_binding_store_commit (self);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "SELECT " S_COLUMNS " FROM bindings", -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        s_failed (self, "load", rc);
        return 0;
    }
    //  Rows to delete, by (aor, contact): deleting while reading is not allowed
    size_t drop_count = 0, drop_cap = 0;
    char **drops = NULL;
    cw_binding_t *b = (cw_binding_t *) malloc (sizeof (cw_binding_t));
    char kind [CW_BINDING_STORE_KIND_MAX];
    while (b && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        memset (b, 0, sizeof *b);
        sqlite3_int64 reg_id = sqlite3_column_int64 (stmt, 4), cseq = sqlite3_column_int64 (stmt, 11);
        b->expires_ms = sqlite3_column_int64 (stmt, 2);
        bool valid = s_column (stmt, 0, b->aor, sizeof b->aor, true)
                  && s_column (stmt, 1, b->contact, sizeof b->contact, true)
                  && s_column (stmt, 3, b->instance, sizeof b->instance, false)
                  && s_column (stmt, 5, b->path, sizeof b->path, false)
                  && s_column (stmt, 6, b->transport, sizeof b->transport, false)
                  && s_column (stmt, 7, b->source, sizeof b->source, false)
                  && s_column (stmt, 8, b->flow, sizeof b->flow, false)
                  && s_column (stmt, 9, b->user_agent, sizeof b->user_agent, false)
                  && s_column (stmt, 10, b->call_id, sizeof b->call_id, false)
                  && s_column (stmt, 12, b->license, sizeof b->license, false)
                  && s_column (stmt, 13, kind, sizeof kind, false) && reg_id >= 0 && reg_id <= INT32_MAX && cseq >= 0
                  && cseq <= UINT32_MAX && sqlite3_column_type (stmt, 2) == SQLITE_INTEGER;
        b->reg_id = (int) reg_id;
        b->cseq = (uint32_t) cseq;
        if (valid && b->expires_ms > now_ms) {
            if (fn (b, kind, arg)) {
                good++;
                continue;
            }
        }
        else if (valid)
            gone++;
        else
            bad++;
        //  The key as stored, whatever it holds
        if (drop_count + 2 > drop_cap) {
            drop_cap = drop_cap ? drop_cap * 2 : 64;
            char **grown = (char **) realloc (drops, drop_cap * sizeof (char *));
            if (!grown)
                break;
            drops = grown;
        }
        const char *aor = (const char *) sqlite3_column_text (stmt, 0);
        const char *contact = (const char *) sqlite3_column_text (stmt, 1);
        drops [drop_count++] = strdup (aor ? aor : "");
        drops [drop_count++] = strdup (contact ? contact : "");
    }
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        s_failed (self, "load", rc);
    sqlite3_finalize (stmt);
    free (b);
    for (size_t i = 0; i + 1 < drop_count; i += 2)
        if (drops [i] && drops [i + 1])
            cw_binding_store_remove (self, drops [i], drops [i + 1]);
    for (size_t i = 0; i < drop_count; i++)
        free (drops [i]);
    free (drops);
    cw_binding_store_commit (self);
    if (expired)
        *expired = gone;
    if (invalid)
        *invalid = bad;
    return good;
}

size_t
cw_binding_store_count (cw_binding_store_t *self)
{
    sqlite3_stmt *stmt = NULL;
    size_t count = 0;
    if (sqlite3_prepare_v2 (self->db, "SELECT count(*) FROM bindings", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        count = (size_t) sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return count;
}

const char *
cw_binding_store_path (cw_binding_store_t *self)
{
    return self->path;
}

uint64_t
cw_binding_store_commits (cw_binding_store_t *self)
{
    return self->commits;
}

uint64_t
cw_binding_store_failures (cw_binding_store_t *self)
{
    return self->failures;
}
