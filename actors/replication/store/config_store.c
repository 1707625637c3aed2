/*  config_store.c - the runtime configuration store (SQLite) and the
    config.* command handlers of the replication actor.

    One connection, owned by the replication actor's thread. Every write is
    one BEGIN IMMEDIATE ... COMMIT transaction with synchronous=FULL, so
    when cw_config_store_set returns 0 the change is on disk (WAL fsynced)
    and survives kill -9 of any process or of the whole node. Reads go to
    the database each time (ten keys; microseconds), so a change applied by
    some other path -- a changeset from the primary, in the clustering
    issue -- is seen at once without a cache to invalidate.

    Values are validated only by the registry (registry.c). A row whose
    value no longer passes the registry (an older release, a hand edit) is
    ignored with a warning: the key reads as its default.
*/
#include "config_store.h"
#include "cw_statefile.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct _cw_config_store_t {
    sqlite3 *db;
    char *path;
    char *node_name;
    cw_replog_t *replog;    //  cluster.db attached as "cluster"
    cw_config_change_fn *on_change;
    void *on_change_arg;
    cw_config_replicate_fn *on_replicate;
    void *on_replicate_arg;
    cw_config_damage_fn *on_damage;
    void *on_damage_arg;
    char *state_dir;
    json_t *runtime_damage;    //  file -> detail, found by a statement at run time
    json_t *announced;         //  key -> the entry text last passed to ON_CHANGE
    bool reporting;            //  inside the damage callback
};

static void s_check_damage (cw_config_store_t *self, const char *file);

//  ---------------------------------------------------------------------
//  SQLite helpers

static const char *s_schema = "CREATE TABLE IF NOT EXISTS meta ("
                              "  key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                              "CREATE TABLE IF NOT EXISTS peer_config ("
                              "  key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT);"
                              "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');";

static int
s_exec (cw_config_store_t *self, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        if (err && errlen)
            snprintf (err, errlen, "config store %s: %s", self->path, msg ? msg : "error");
        cw_error ("config store: sql failed path=%s error=\"%s\"", self->path, msg ? msg : "?");
        sqlite3_free (msg);
        s_check_damage (self, NULL);
        return -1;
    }
    return 0;
}

static const char *
s_table (const cw_config_key_t *key)
{
    return key->scope == CW_SCOPE_CLUSTER ? CW_REPLOG_SCHEMA ".cluster_config" : "peer_config";
}

//  The file that holds KEY's row.
static const char *
s_file (const cw_config_key_t *key)
{
    return key->scope == CW_SCOPE_CLUSTER ? CW_REPLOG_CLUSTER_DB_FILE : CW_CONFIG_DB_FILE;
}

//  ---------------------------------------------------------------------
//  Damage: found at open (marker, quick_check, "not a database") or by a
//  statement at run time. A damaged file found at open is moved aside and
//  replaced by an empty one, and the damage is recorded in config.db's meta
//  table (key "damaged.<file>") so it is reported at every start until a
//  backup restore replaces config.db (the restored meta table has no such
//  row) or the owner resolves it (cw_config_store_damage_resolved).

static bool
s_nonempty (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && st.st_size > 0;
}

static void
s_record_damage (cw_config_store_t *self, const char *file, const char *detail)
{
    sqlite3_stmt *stmt = NULL;
    char key [64];
    snprintf (key, sizeof key, "damaged.%s", file);
    if (sqlite3_prepare_v2 (self->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", -1, &stmt, NULL)
            != SQLITE_OK
        || sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC) != SQLITE_OK
        || sqlite3_bind_text (stmt, 2, detail, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step (stmt) != SQLITE_DONE)
        cw_error ("config store: cannot record the damage file=%s error=\"%s\"", file, sqlite3_errmsg (self->db));
    sqlite3_finalize (stmt);
}

json_t *
cw_config_store_damage (cw_config_store_t *self)
{
    json_t *list = json_array ();
    if (!self || !self->db)
        return list;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT substr (key, 9), value FROM meta WHERE key LIKE 'damaged.%' ORDER BY key",
                            -1, &stmt, NULL)
        == SQLITE_OK)
        while (sqlite3_step (stmt) == SQLITE_ROW) {
            const char *file = (const char *) sqlite3_column_text (stmt, 0);
            const char *detail = (const char *) sqlite3_column_text (stmt, 1);
            if (file && detail && !json_object_get (self->runtime_damage, file))
                json_array_append_new (list,
                                       json_pack ("{s:s, s:s, s:b}", "file", file, "detail", detail, "replaced", true));
        }
    sqlite3_finalize (stmt);
    const char *file;
    json_t *detail;
    json_object_foreach (self->runtime_damage, file, detail)
        json_array_append_new (list, json_pack ("{s:s, s:O, s:b}", "file", file, "detail", detail, "replaced", false));
    return list;
}

void
cw_config_store_damage_resolved (cw_config_store_t *self, const char *file)
{
    if (!self || !file)
        return;
    char key [64];
    snprintf (key, sizeof key, "damaged.%s", file);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM meta WHERE key = ?1", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC) == SQLITE_OK)
        sqlite3_step (stmt);
    sqlite3_finalize (stmt);
}

void
cw_config_store_on_damage (cw_config_store_t *self, cw_config_damage_fn *fn, void *arg)
{
    if (!self)
        return;
    self->on_damage = fn;
    self->on_damage_arg = arg;
}

static void
s_report_damage (cw_config_store_t *self)
{
    if (!self->on_damage || self->reporting)
        return;
    self->reporting = true;
    json_t *damage = cw_config_store_damage (self);
    self->on_damage (self, damage, self->on_damage_arg);
    json_decref (damage);
    self->reporting = false;
}

//  After a failed statement: when SQLite says the file is damaged, report
//  FILE (NULL: the file the last statement named, else config.db) once.
static void
s_check_damage (cw_config_store_t *self, const char *file)
{
    int rc = sqlite3_extended_errcode (self->db);
    if (!self->runtime_damage || !cw_state_is_damage (rc))
        return;
    const char *msg = sqlite3_errmsg (self->db);
    if (!file)
        file = CW_CONFIG_DB_FILE;
    if (json_object_get (self->runtime_damage, file))
        return;
    char detail [1024];
    snprintf (detail, sizeof detail, "%s/%s: %s (found at run time)", self->state_dir, file, msg);
    cw_error ("damaged database found path=%s/%s error=\"%s\"", self->state_dir, file, msg);
    json_object_set_new (self->runtime_damage, file, json_string (detail));
    s_report_damage (self);
}

//  ---------------------------------------------------------------------
//  Open / close

//  Open config.db and set up its schema. -1 with ERR; *DAMAGE tells
//  whether SQLite found the file not to be a (sound) database.
static int
s_open_main (cw_config_store_t *self, char *err, size_t errlen, bool *damage)
{
    *damage = false;
    int rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (rc != SQLITE_OK) {
        if (err && errlen)
            snprintf (err, errlen, "config store %s: %s", self->path,
                      self->db ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc));
        *damage = cw_state_is_damage (rc);
        return -1;
    }
    //  Owner only: the configuration will hold secrets (clustering issue).
    if (chmod (self->path, 0600) != 0)
        cw_warn ("config store: chmod failed path=%s error=\"%s\"", self->path, strerror (errno));
    sqlite3_busy_timeout (self->db, CW_CONFIG_BUSY_TIMEOUT_MS);
    if (s_exec (self, "PRAGMA journal_mode=WAL;", err, errlen) || s_exec (self, "PRAGMA synchronous=FULL;", err, errlen)
        || s_exec (self, "BEGIN IMMEDIATE;", err, errlen)) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        return -1;
    }
    if (s_exec (self, s_schema, err, errlen)) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        sqlite3_exec (self->db, "ROLLBACK;", NULL, NULL, NULL);
        return -1;
    }
    //  A database written by a newer release is not ours to touch.
    int version = 0;
    sqlite3_stmt *stmt = NULL;
    rc = sqlite3_prepare_v2 (self->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &stmt, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW)
        version = atoi ((const char *) sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    if (version < 1 || version > CW_CONFIG_SCHEMA_VERSION) {
        *damage = cw_state_is_damage (rc);
        if (err && errlen)
            snprintf (err, errlen, "config store %s: schema version %d, this release knows 1..%d", self->path, version,
                      CW_CONFIG_SCHEMA_VERSION);
        sqlite3_exec (self->db, "ROLLBACK;", NULL, NULL, NULL);
        return -1;
    }
    if (s_exec (self, "COMMIT;", err, errlen)) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        sqlite3_exec (self->db, "ROLLBACK;", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

//  ATTACH cluster.db and open the replication log on it. -1 with ERR and
//  *DAMAGE as for s_open_main.
static int
s_open_cluster (cw_config_store_t *self, bool check, char *err, size_t errlen, bool *damage)
{
    *damage = false;
    char attach [PATH_MAX + 64];
    snprintf (attach, sizeof (attach), "ATTACH DATABASE '%s/%s' AS " CW_REPLOG_SCHEMA ";", self->state_dir,
              CW_REPLOG_CLUSTER_DB_FILE);
    if (s_exec (self, attach, NULL, 0)) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        snprintf (err, errlen, "%s/%s: %s", self->state_dir, CW_REPLOG_CLUSTER_DB_FILE, sqlite3_errmsg (self->db));
        return -1;
    }
    char why [512];
    if (check && cw_state_quick_check (self->db, CW_REPLOG_SCHEMA, why, sizeof why)) {
        snprintf (err, errlen, "%s/%s: %s", self->state_dir, CW_REPLOG_CLUSTER_DB_FILE, why);
        *damage = true;
    }
    else {
        self->replog = cw_replog_new (self->db, CW_REPLOG_SCHEMA, why, sizeof why);
        if (self->replog)
            return 0;
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        snprintf (err, errlen, "%s/%s: %s", self->state_dir, CW_REPLOG_CLUSTER_DB_FILE, why);
    }
    sqlite3_exec (self->db, "DETACH DATABASE " CW_REPLOG_SCHEMA ";", NULL, NULL, NULL);
    return -1;
}

//  FILE (at PATH) is damaged for reason WHY: move it aside and say so in
//  DETAIL. -1 with ERR when it cannot be moved.
static int
s_set_aside (const char *path, const char *why, char *detail, size_t size, char *err, size_t errlen)
{
    bool present = access (path, F_OK) == 0;
    char moved [PATH_MAX + 64];
    if (cw_state_move_aside (path, moved, sizeof moved, err, errlen))
        return -1;
    if (present)
        snprintf (detail, size, "%s; the damaged file was moved aside to %s and an empty one started", why, moved);
    else
        snprintf (detail, size, "%s; an empty one was started", why);
    cw_error ("damaged database replaced path=%s reason=\"%s\" moved_to=%s", path, why, present ? moved : "-");
    return 0;
}

cw_config_store_t *
cw_config_store_new (const char *state_dir, const char *node_name, char *err, size_t errlen)
{
    if (err && errlen)
        err [0] = 0;
    if (cw_state_dir_check (state_dir, true, err, errlen))
        return NULL;
    if (strchr (state_dir, '\'')) {
        if (err && errlen)
            snprintf (err, errlen, "config store: state_dir must not contain a quote");
        return NULL;
    }
    cw_config_store_t *self = calloc (1, sizeof (*self));
    if (!self)
        return NULL;
    size_t len = strlen (state_dir) + strlen (CW_CONFIG_DB_FILE) + 2;
    self->path = malloc (len);
    self->node_name = strdup (node_name ? node_name : "");
    self->state_dir = strdup (state_dir);
    if (!self->path || !self->node_name || !self->state_dir) {
        cw_config_store_destroy (&self);
        return NULL;
    }
    snprintf (self->path, len, "%s/%s", state_dir, CW_CONFIG_DB_FILE);

    //  config.db: recorded but gone or empty, not a database, or damaged
    char why [1024] = "", detail [6144] = "";
    bool existed = s_nonempty (self->path), damage = false;
    if (cw_state_expect (state_dir, CW_CONFIG_DB_FILE, why, sizeof why) == 0) {
        if (s_open_main (self, why, sizeof why, &damage) != 0) {
            if (!damage) {    //  not damage (a newer schema, no memory...): not ours to replace
                snprintf (err, errlen, "%s", why);
                cw_config_store_destroy (&self);
                return NULL;
            }
        }
        else {
            char check [512];
            if (existed && cw_state_quick_check (self->db, "main", check, sizeof check) != 0)
                snprintf (why, sizeof why, "%s: %s", self->path, check);
            else
                why [0] = 0;
        }
    }
    if (*why) {
        if (self->db)
            sqlite3_close_v2 (self->db);
        self->db = NULL;
        if (s_set_aside (self->path, why, detail, sizeof detail, err, errlen)
            || s_open_main (self, err, errlen, &damage)) {
            cw_config_store_destroy (&self);
            return NULL;
        }
        s_record_damage (self, CW_CONFIG_DB_FILE, detail);
    }
    cw_state_mark (state_dir, CW_CONFIG_DB_FILE);

    //  Cluster-scope data: its own file, so it can be replicated, snapshot
    //  and reset as a whole (see replog.h)
    char cluster_path [PATH_MAX];
    snprintf (cluster_path, sizeof cluster_path, "%s/%s", state_dir, CW_REPLOG_CLUSTER_DB_FILE);
    existed = s_nonempty (cluster_path);
    why [0] = 0;
    if (cw_state_expect (state_dir, CW_REPLOG_CLUSTER_DB_FILE, why, sizeof why) == 0) {
        if (s_open_cluster (self, existed, why, sizeof why, &damage) != 0 && !damage) {
            snprintf (err, errlen, "%s", why);
            cw_config_store_destroy (&self);
            return NULL;
        }
    }
    if (!self->replog) {
        if (s_set_aside (cluster_path, why, detail, sizeof detail, err, errlen)
            || s_open_cluster (self, false, err, errlen, &damage)) {
            cw_config_store_destroy (&self);
            return NULL;
        }
        s_record_damage (self, CW_REPLOG_CLUSTER_DB_FILE, detail);
    }
    cw_state_mark (state_dir, CW_REPLOG_CLUSTER_DB_FILE);
    self->runtime_damage = json_object ();
    self->announced = json_object ();
    cw_info ("config store: opened path=%s cluster_seq=%lld", self->path,
             (long long) cw_config_store_cluster_seq (self));
    return self;
}

void
cw_config_store_destroy (cw_config_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_config_store_t *self = *self_p;
    cw_replog_destroy (&self->replog);
    if (self->db)
        sqlite3_close_v2 (self->db);
    json_decref (self->runtime_damage);
    json_decref (self->announced);
    free (self->path);
    free (self->node_name);
    free (self->state_dir);
    free (self);
    *self_p = NULL;
}

const char *
cw_config_store_path (cw_config_store_t *self)
{
    return self ? self->path : NULL;
}

void
cw_config_store_on_change (cw_config_store_t *self, cw_config_change_fn *fn, void *arg)
{
    if (!self)
        return;
    self->on_change = fn;
    self->on_change_arg = arg;
}

//  ---------------------------------------------------------------------
//  Reading

json_t *
cw_config_store_get (cw_config_store_t *self, const char *name)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    json_t *value = key ? cw_config_store_value (self, key, NULL) : NULL;
    return value ? value : json_null ();
}

char *
cw_config_store_text (cw_config_store_t *self, const char *name, char *buf, size_t size)
{
    json_t *value = cw_config_store_get (self, name);
    if (json_is_string (value))
        snprintf (buf, size, "%s", json_string_value (value));
    else if (json_is_integer (value))
        snprintf (buf, size, "%lld", (long long) json_integer_value (value));
    else if (size)
        buf [0] = 0;
    json_decref (value);
    return buf;
}

bool
cw_config_store_on (cw_config_store_t *self, const char *name)
{
    char buf [16];
    return strcmp (cw_config_store_text (self, name, buf, sizeof (buf)), "on") == 0;
}

int
cw_config_store_set_named (cw_config_store_t *self, const char *name, json_t *value, char *err, size_t errlen)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    if (!key) {
        snprintf (err, errlen, "unknown key '%s'", name);
        return -1;
    }
    json_t *normal = value ? cw_registry_normalize (key, value, err, errlen) : NULL;
    if (value && !normal)
        return -1;
    int rc = normal ? cw_config_store_set (self, key, normal, err, errlen)
                    : cw_config_store_unset (self, key, err, errlen);
    json_decref (normal);
    return rc;
}

json_t *
cw_config_store_value (cw_config_store_t *self, const cw_config_key_t *key, bool *is_default)
{
    if (is_default)
        *is_default = true;
    if (!self || !key)
        return NULL;
    char sql [128];
    snprintf (sql, sizeof (sql), "SELECT value FROM %s WHERE key = ?1", s_table (key));
    sqlite3_stmt *stmt = NULL;
    json_t *value = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_bind_text (stmt, 1, key->name, -1, SQLITE_STATIC) == SQLITE_OK) {
        int rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            const char *text = (const char *) sqlite3_column_text (stmt, 0);
            json_t *stored = text ? json_loads (text, JSON_DECODE_ANY, NULL) : NULL;
            char err [512];
            value = stored ? cw_registry_normalize (key, stored, err, sizeof (err)) : NULL;
            if (!value)
                cw_warn ("config store: stored value ignored key=%s value=%.100s reason=\"%s\"", key->name,
                         key->secret ? CW_SECRET_MASK
                         : text      ? text
                                     : "(null)",
                         stored ? err : "not JSON");
            json_decref (stored);
        }
        else if (rc != SQLITE_DONE) {
            cw_error ("config store: read failed key=%s error=\"%s\"", key->name, sqlite3_errmsg (self->db));
            s_check_damage (self, s_file (key));
        }
    }
    else {
        cw_error ("config store: read failed key=%s error=\"%s\"", key->name, sqlite3_errmsg (self->db));
        s_check_damage (self, s_file (key));
    }
    sqlite3_finalize (stmt);
    if (value) {
        if (is_default)
            *is_default = false;
        return value;
    }
    return cw_registry_default (key, self->node_name);
}

json_t *
cw_config_store_entry (cw_config_store_t *self, const cw_config_key_t *key, bool with_default)
{
    if (!self || !key)
        return NULL;
    bool is_default = true;
    json_t *value = cw_config_store_value (self, key, &is_default);
    json_t *entry = json_object ();
    json_object_set_new (entry, "key", json_string (key->name));
    json_object_set_new (entry, "value", value ? value : json_null ());
    json_object_set_new (entry, "scope", json_string (cw_scope_name (key->scope)));
    if (with_default)
        json_object_set_new (entry, "default", json_boolean (is_default));
    return entry;
}

int64_t
cw_config_store_cluster_seq (cw_config_store_t *self)
{
    return self && self->replog ? cw_replog_applied_seq (self->replog) : -1;
}

sqlite3 *
cw_config_store_db (cw_config_store_t *self)
{
    return self ? self->db : NULL;
}
cw_replog_t *
cw_config_store_replog (cw_config_store_t *self)
{
    return self ? self->replog : NULL;
}

void
cw_config_store_on_replicate (cw_config_store_t *self, cw_config_replicate_fn *fn, void *arg)
{
    if (!self)
        return;
    self->on_replicate = fn;
    self->on_replicate_arg = arg;
}

//  ---------------------------------------------------------------------
//  Writing

//  KEY's entry to the change callback; IF_CHANGED: only when it differs
//  from the last one passed (a replicated changeset re-reads every
//  cluster-wide key, and most of them did not change)
static void
s_notify (cw_config_store_t *self, const cw_config_key_t *key, bool if_changed)
{
    if (!self->on_change)
        return;
    json_t *entry = cw_config_store_entry (self, key, false);
    if (!entry)
        return;
    char *text = json_dumps (entry, JSON_COMPACT | JSON_SORT_KEYS);
    const char *last = json_string_value (json_object_get (self->announced, key->name));
    if (!if_changed || !text || !last || strcmp (last, text) != 0) {
        self->on_change (self, key, entry, self->on_change_arg);
        if (text)
            json_object_set_new (self->announced, key->name, json_string (text));
    }
    free (text);
    json_decref (entry);
}

//  One durable transaction: VALUE_TEXT NULL deletes the row.
static int
s_commit (cw_config_store_t *self, const cw_config_key_t *key, const char *value_text, char *err, size_t errlen)
{
    bool cluster = key->scope == CW_SCOPE_CLUSTER;
    if (cluster ? cw_replog_write_begin (self->replog, err, errlen) : s_exec (self, "BEGIN IMMEDIATE;", err, errlen)) {
        s_check_damage (self, s_file (key));
        return -1;
    }
    char sql [256];
    if (value_text)
        snprintf (sql, sizeof (sql),
                  "INSERT INTO %s (key, value, updated_at)"
                  " VALUES (?1, ?2, strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', 'now'))"
                  " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                  s_table (key));
    else
        snprintf (sql, sizeof (sql), "DELETE FROM %s WHERE key = ?1", s_table (key));
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text (stmt, 1, key->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && value_text)
        rc = sqlite3_bind_text (stmt, 2, value_text, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK) {
        if (err && errlen)
            snprintf (err, errlen, "config store: cannot write %s: %s", key->name, sqlite3_errmsg (self->db));
        cw_error ("config store: write failed key=%s error=\"%s\"", key->name, sqlite3_errmsg (self->db));
        s_check_damage (self, s_file (key));
        if (cluster)
            cw_replog_write_rollback (self->replog);
        else
            sqlite3_exec (self->db, "ROLLBACK;", NULL, NULL, NULL);
        return -1;
    }
    if (cluster) {
        //  One durable transaction: the row, its sequence number, the history
        int64_t seq = 0;
        void *changeset = NULL;
        int len = 0;
        if (cw_replog_write_commit (self->replog, &seq, &changeset, &len, err, errlen)) {
            s_check_damage (self, CW_REPLOG_CLUSTER_DB_FILE);
            return -1;
        }
        if (seq > 0 && self->on_replicate)
            self->on_replicate (self, seq, changeset, len, self->on_replicate_arg);
        sqlite3_free (changeset);
        return 0;
    }
    if (s_exec (self, "COMMIT;", err, errlen)) {
        sqlite3_exec (self->db, "ROLLBACK;", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int
cw_config_store_set (cw_config_store_t *self, const cw_config_key_t *key, json_t *value, char *err, size_t errlen)
{
    if (!self || !key || !value) {
        if (err && errlen)
            snprintf (err, errlen, "config store: nothing to set");
        return -1;
    }
    char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text) {
        if (err && errlen)
            snprintf (err, errlen, "config store: cannot encode %s", key->name);
        return -1;
    }
    int rc = s_commit (self, key, text, err, errlen);
    if (rc == 0) {
        cw_info ("config set key=%s scope=%s value=%.200s", key->name, cw_scope_name (key->scope),
                 key->secret ? CW_SECRET_MASK : text);
        s_notify (self, key, false);
    }
    free (text);
    return rc;
}

int
cw_config_store_unset (cw_config_store_t *self, const cw_config_key_t *key, char *err, size_t errlen)
{
    if (!self || !key)
        return -1;
    int rc = s_commit (self, key, NULL, err, errlen);
    if (rc == 0) {
        cw_info ("config unset key=%s scope=%s", key->name, cw_scope_name (key->scope));
        s_notify (self, key, false);
    }
    return rc;
}

void
cw_config_store_announce (cw_config_store_t *self)
{
    if (!self)
        return;
    size_t count;
    const cw_config_key_t *keys = cw_registry_keys (&count);
    for (size_t i = 0; i < count; i++)
        s_notify (self, &keys [i], false);
    //  After a restore the files are new: what a statement found is history
    json_object_clear (self->runtime_damage);
    s_report_damage (self);
}

void
cw_config_store_announce_scope (cw_config_store_t *self, cw_scope_t scope)
{
    if (!self)
        return;
    size_t count;
    const cw_config_key_t *keys = cw_registry_keys (&count);
    for (size_t i = 0; i < count; i++)
        if (keys [i].scope == scope)
            s_notify (self, &keys [i], true);
}

cw_write_route_t
cw_config_store_route (cw_config_store_t *self, const cw_config_key_t *key)
{
    //  Single-node configuration service: everything is committed here.
    //  Clustering: `if (key->scope == CW_SCOPE_CLUSTER && !this_is_primary)
    //  return CW_WRITE_FORWARD;` and the handler defers its reply until the
    //  primary has committed.
    (void) self;
    (void) key;
    return CW_WRITE_LOCAL;
}

//  ---------------------------------------------------------------------
//  Commands

//  The key named by ARGS.key, or NULL with *REPLY set to the error.
static const cw_config_key_t *
s_arg_key (const char *command, json_t *args, json_t **reply)
{
    json_t *name = json_object_get (args, "key");
    if (!json_is_string (name) || json_string_length (name) == 0) {
        *reply = cw_error_body ("%s: 'key' is required (a key name such as system.name)", command);
        return NULL;
    }
    const cw_config_key_t *key = cw_registry_lookup (json_string_value (name));
    if (!key) {
        char msg [512];
        cw_registry_unknown_message (json_string_value (name), msg, sizeof (msg));
        *reply = cw_error_body ("%s", msg);
    }
    return key;
}

//  ENTRY as answered to a reader: a secret key's value masked when set
static json_t *
s_public (json_t *entry, const cw_config_key_t *key)
{
    if (entry && key->secret) {
        json_t *value = json_object_get (entry, "value");
        if (json_is_string (value) && json_string_length (value) > 0)
            json_object_set_new (entry, "value", json_string (CW_SECRET_MASK));
        json_object_set_new (entry, "secret", json_true ());
    }
    return entry;
}

static cw_reply_status_t
s_handle_write (cw_config_store_t *self, const cw_config_key_t *key, json_t *value, json_t **reply)
{
    char err [512];
    if (cw_config_store_route (self, key) != CW_WRITE_LOCAL) {
        //  Not reachable in this issue (see cw_config_store_route).
        *reply = cw_error_body ("%s: cluster-scope changes must be made on the configuration primary", key->name);
        return CW_REPLY_ERROR;
    }
    int rc = value ? cw_config_store_set (self, key, value, err, sizeof (err))
                   : cw_config_store_unset (self, key, err, sizeof (err));
    if (rc != 0) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    *reply = s_public (cw_config_store_entry (self, key, true), key);
    return CW_REPLY_OK;
}

//  Add to ENTRY what the registry says of KEY: type, allowed, summary,
//  choices (config.list; config.get with describe)
static json_t *
s_describe (json_t *entry, const cw_config_key_t *key)
{
    char allowed [512];
    cw_registry_allowed (key, allowed, sizeof allowed);
    char type [64];
    if (key->max_items > 0)
        snprintf (type, sizeof type, "list of %s", cw_vtype_name (key->type));
    else
        snprintf (type, sizeof type, "%s", cw_vtype_name (key->type));
    json_object_set_new (entry, "type", json_string (type));
    json_object_set_new (entry, "allowed", json_string (allowed));
    json_object_set_new (entry, "summary", json_string (key->description ? key->description : ""));
    if (key->max_items == 0 && (key->type == CW_TYPE_BOOL || (key->type == CW_TYPE_ENUM && key->choices))) {
        json_t *choices = json_array ();
        if (key->type == CW_TYPE_BOOL) {
            json_array_append_new (choices, json_string ("on"));
            json_array_append_new (choices, json_string ("off"));
        }
        else
            for (const char *p = key->choices; *p;) {
                size_t len = strcspn (p, "|");
                json_array_append_new (choices, json_stringn (p, len));
                p += len + (p [len] == '|');
            }
        json_object_set_new (entry, "choices", choices);
    }
    return entry;
}

cw_reply_status_t
cw_config_store_handle (cw_config_store_t *self, const char *command, json_t *args, json_t **reply)
{
    if (!reply)
        return CW_REPLY_ERROR;
    *reply = NULL;
    if (!self || !command) {
        *reply = cw_error_body ("configuration store not available");
        return CW_REPLY_ERROR;
    }
    if (args && !json_is_object (args)) {
        *reply = cw_error_body ("%s: arguments must be a JSON object", command);
        return CW_REPLY_ERROR;
    }
    if (strcmp (command, "config.get") == 0) {
        const cw_config_key_t *key = s_arg_key (command, args, reply);
        if (!key)
            return CW_REPLY_ERROR;
        *reply = s_public (cw_config_store_entry (self, key, true), key);
        if (json_is_true (json_object_get (args, "describe")))
            s_describe (*reply, key);
        return CW_REPLY_OK;
    }
    if (strcmp (command, "config.set") == 0) {
        const cw_config_key_t *key = s_arg_key (command, args, reply);
        if (!key)
            return CW_REPLY_ERROR;
        json_t *value = json_object_get (args, "value");
        char err [512];
        json_t *normal = cw_registry_normalize (key, value, err, sizeof (err));
        if (!normal) {
            cw_info ("config set refused key=%s reason=\"%s\"", key->name, err);
            *reply = cw_error_body ("%s", err);
            if (key->secret)
                json_object_set_new (*reply, "secret", json_true ());
            return CW_REPLY_ERROR;
        }
        cw_reply_status_t status = s_handle_write (self, key, normal, reply);
        json_decref (normal);
        return status;
    }
    if (strcmp (command, "config.unset") == 0) {
        const cw_config_key_t *key = s_arg_key (command, args, reply);
        if (!key)
            return CW_REPLY_ERROR;
        return s_handle_write (self, key, NULL, reply);
    }
    if (strcmp (command, "config.list") == 0) {
        json_t *prefix = json_object_get (args, "prefix");
        if (prefix && !json_is_string (prefix) && !json_is_null (prefix)) {
            *reply = cw_error_body ("config.list: 'prefix' must be a string");
            return CW_REPLY_ERROR;
        }
        const char *text = json_is_string (prefix) ? json_string_value (prefix) : "";
        bool describe = json_is_true (json_object_get (args, "describe"));
        size_t count;
        const cw_config_key_t *const *sorted = cw_registry_sorted (&count);
        json_t *list = json_array ();
        for (size_t i = 0; i < count; i++)
            if (strncmp (sorted [i]->name, text, strlen (text)) == 0) {
                json_t *entry = s_public (cw_config_store_entry (self, sorted [i], true), sorted [i]);
                json_array_append_new (list, describe ? s_describe (entry, sorted [i]) : entry);
            }
        *reply = json_pack ("{s:o}", "config", list);
        return CW_REPLY_OK;
    }
    *reply = cw_error_body ("unknown command '%.100s'", command);
    return CW_REPLY_ERROR;
}
