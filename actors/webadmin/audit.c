/*  audit.c - the audit log of the web admin (see audit.h).

    One table in <state_dir>/webadmin.db: each entry is a row whose seq is
    its INTEGER PRIMARY KEY (AUTOINCREMENT, so a trimmed seq is never used
    again). An entry is committed by its own INSERT (autocommit, WAL,
    synchronous=FULL) and the rows older than the newest 100,000 are
    deleted by the same call. A database that SQLite finds damaged at
    start, or that was recorded and is now missing or empty, is moved aside
    (kept for a post-mortem), an empty one started and alarm 10002 raised
    about webadmin.db; a healthy open clears that alarm.
*/
#include "audit.h"

#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <time.h>

#include "cw_alarm.h"
#include "cw_statefile.h"
#include "cw_text.h"

#define S_FILE "webadmin.db"
#define S_KEEP 100000
#define S_LIMIT_DEFAULT 100
#define S_LIMIT_MAX 1000

struct _audit_t {
    cw_actor_t *actor;
    sqlite3 *db;
    sqlite3_stmt *insert;
    sqlite3_stmt *trim;
};

static const char *s_schema = "CREATE TABLE IF NOT EXISTS audit ("
                              " seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, user TEXT NOT NULL,"
                              " source TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL,"
                              " result TEXT NOT NULL);";

// ---------------------------------------------------------------------------
//  Opening

//  Open PATH into SELF->db (cw_state_open) and prepare the statements;
//  *DAMAGE when SQLite says it is not a sound database. CHECK: quick_check
//  it too.
static int
s_open (audit_t *self, const char *path, bool check, bool *damage, char *err, size_t errlen)
{
    if (cw_state_open (path, s_schema, check, &self->db, damage, err, errlen) != 0)
        return -1;
    int rc = sqlite3_prepare_v2 (self->db,
                                 "INSERT INTO audit (at, user, source, action, detail, result)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                 -1, &self->insert, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2 (self->db, "DELETE FROM audit WHERE seq <= ?1", -1, &self->trim, NULL);
    if (rc != SQLITE_OK) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        snprintf (err, errlen, "cannot open %s: %s", path, sqlite3_errmsg (self->db));
        return -1;
    }
    return 0;
}

static void
s_close (audit_t *self)
{
    sqlite3_finalize (self->insert);
    sqlite3_finalize (self->trim);
    sqlite3_close (self->db);
    self->insert = self->trim = NULL;
    self->db = NULL;
}

// ---------------------------------------------------------------------------
//  Recording

//  Now as ISO 8601 UTC with milliseconds into BUF (at least 32 bytes).
static void
s_now_iso (char *buf, size_t len)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char base [24];
    strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf, len, "%s.%03dZ", base, (int) (now.tv_nsec / 1000000));
}

int
audit_record (audit_t *self, const char *user, const char *source, const char *action, const char *detail,
              const char *result)
{
    if (!self || !self->db)
        return -1;
    char at [40];
    s_now_iso (at, sizeof at);
    const char *fields [] = {
        at, user ? user : "", source ? source : "", action ? action : "", detail ? detail : "", result ? result : "ok"
    };
    sqlite3_reset (self->insert);
    for (int i = 0; i < 6; i++)
        sqlite3_bind_text (self->insert, i + 1, fields [i], -1, SQLITE_STATIC);
    int rc = sqlite3_step (self->insert);
    sqlite3_reset (self->insert);
    sqlite3_clear_bindings (self->insert);
    if (rc != SQLITE_DONE) {
        cw_error ("audit: entry not written action=%s reason=\"%s\"", fields [3], sqlite3_errmsg (self->db));
        return -1;
    }
    sqlite3_int64 seq = sqlite3_last_insert_rowid (self->db);
    if (seq > S_KEEP) {
        sqlite3_bind_int64 (self->trim, 1, seq - S_KEEP);
        if (sqlite3_step (self->trim) != SQLITE_DONE)
            cw_warn ("audit: old entries not trimmed: %s", sqlite3_errmsg (self->db));
        sqlite3_reset (self->trim);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  webadmin.audit

static cw_reply_status_t
s_cmd_audit (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    audit_t *self = arg;
    json_t *limit = json_object_get (args, "limit");
    json_t *before = json_object_get (args, "before");
    if (limit && !json_is_null (limit)
        && (!json_is_integer (limit) || json_integer_value (limit) < 1 || json_integer_value (limit) > S_LIMIT_MAX)) {
        *reply = cw_error_body ("webadmin.audit: 'limit' must be a number 1..%d", S_LIMIT_MAX);
        return CW_REPLY_ERROR;
    }
    if (before && !json_is_null (before) && (!json_is_integer (before) || json_integer_value (before) < 1)) {
        *reply = cw_error_body ("webadmin.audit: 'before' must be a positive seq");
        return CW_REPLY_ERROR;
    }
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db,
                            "SELECT seq, at, user, source, action, detail, result FROM audit"
                            " WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
                            -1, &stmt, NULL)
        != SQLITE_OK) {
        *reply = cw_error_body ("webadmin.audit: %s", sqlite3_errmsg (self->db));
        return CW_REPLY_ERROR;
    }
    sqlite3_bind_int64 (stmt, 1, json_is_integer (before) ? json_integer_value (before) : INT64_MAX);
    sqlite3_bind_int64 (stmt, 2, json_is_integer (limit) ? json_integer_value (limit) : S_LIMIT_DEFAULT);
    json_t *entries = json_array ();
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *names [] = { "at", "user", "source", "action", "detail", "result" };
        json_t *entry = json_pack ("{s:I}", "seq", (json_int_t) sqlite3_column_int64 (stmt, 0));
        for (int i = 0; i < 6; i++) {
            const char *text = (const char *) sqlite3_column_text (stmt, i + 1);
            json_object_set_new (entry, names [i], json_string (text ? text : ""));
        }
        json_array_append_new (entries, entry);
    }
    if (rc != SQLITE_DONE) {
        *reply = cw_error_body ("webadmin.audit: %s", sqlite3_errmsg (self->db));
        json_decref (entries);
        sqlite3_finalize (stmt);
        return CW_REPLY_ERROR;
    }
    sqlite3_finalize (stmt);
    *reply = json_pack ("{s:o}", "entries", entries);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "webadmin.audit", s_cmd_audit, CW_CMD_IDEMPOTENT,
      "the audit log of this peer, newest first: who changed what, when, from where" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Life cycle

audit_t *
audit_new (cw_actor_t *actor, char *err, size_t errlen)
{
    const char *dir = cw_actor_bootstrap (actor)->node.state_dir;
    if (cw_state_dir_check (dir, true, err, errlen) != 0)
        return NULL;
    audit_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, S_FILE);
    struct stat st;
    bool present = stat (path, &st) == 0;
    bool damage = false;
    char why [1024] = "";
    if (cw_state_expect (dir, S_FILE, why, sizeof why) != 0)
        damage = true;
    else if (s_open (self, path, present && st.st_size > 0, &damage, why, sizeof why) != 0 && !damage) {
        snprintf (err, errlen, "%s", why);
        audit_destroy (&self);
        return NULL;
    }
    char *replaced = NULL;
    if (damage) {
        s_close (self);
        char moved [PATH_MAX + 64] = "";
        if (present && cw_state_move_aside (path, moved, sizeof moved, err, errlen) != 0) {
            audit_destroy (&self);
            return NULL;
        }
        replaced = malloc (8192);
        if (replaced)
            snprintf (replaced, 8192,
                      present ? "%s; it was moved aside to %s and an empty audit log started"
                              : "%s; an empty audit log was started%s",
                      why, moved);
        cw_error ("damaged database replaced path=%s reason=\"%s\"", path, why);
        if (s_open (self, path, false, &damage, err, errlen) != 0) {
            free (replaced);
            audit_destroy (&self);
            return NULL;
        }
    }
    cw_state_mark (dir, S_FILE);
    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "audit: cannot declare webadmin.audit");
        free (replaced);
        audit_destroy (&self);
        return NULL;
    }
    if (replaced)
        cw_alarm_raise (actor, CW_ALARM_DAMAGED_DB, S_FILE, replaced);
    else
        cw_alarm_clear (actor, CW_ALARM_DAMAGED_DB, S_FILE);
    free (replaced);
    return self;
}

void
audit_destroy (audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_close (*self_p);
    free (*self_p);
    *self_p = NULL;
}
