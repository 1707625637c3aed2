/*  keystore.c - licensing.db (see keystore.h). */
#include "keystore.h"

#include <limits.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cw_log.h"
#include "cw_statefile.h"

struct _cw_keystore_t {
    sqlite3 *db;
};

static const char *s_schema = "CREATE TABLE IF NOT EXISTS keys ("
                              " serial TEXT PRIMARY KEY, text TEXT NOT NULL, added_at INTEGER NOT NULL);"
                              "CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);";

//  Open PATH into SELF->db (cw_state_open with the schema)
static int
s_open (cw_keystore_t *self, const char *path, bool check, bool *damage, char *err, size_t errlen)
{
    return cw_state_open (path, s_schema, check, &self->db, damage, err, errlen);
}

cw_keystore_t *
cw_keystore_open (const char *dir, char **replaced, char *err, size_t errlen)
{
    *replaced = NULL;
    if (cw_state_dir_check (dir, true, err, errlen) != 0)
        return NULL;
    cw_keystore_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, CW_KEYSTORE_FILE);
    struct stat st;
    bool present = stat (path, &st) == 0;
    bool damage = false;
    char why [1024] = "";
    if (cw_state_expect (dir, CW_KEYSTORE_FILE, why, sizeof why) != 0)
        damage = true;
    else if (s_open (self, path, present && st.st_size > 0, &damage, why, sizeof why) != 0 && !damage) {
        snprintf (err, errlen, "%s", why);
        cw_keystore_destroy (&self);
        return NULL;
    }
    if (damage) {
        sqlite3_close (self->db);
        self->db = NULL;
        char moved [PATH_MAX + 64] = "";
        if (present && cw_state_move_aside (path, moved, sizeof moved, err, errlen) != 0) {
            cw_keystore_destroy (&self);
            return NULL;
        }
        char text [8192];    //  WHY and MOVED fit whole
        if (present)
            snprintf (text, sizeof text,
                      "%s; it was moved aside to %s and an empty one started: install this peer's option keys again "
                      "(causeway license add KEY); the keys it held are in the moved file",
                      why, moved);
        else
            snprintf (text, sizeof text,
                      "%s; an empty one was started: install this peer's option keys again (causeway license add KEY)",
                      why);
        *replaced = strdup (text);
        cw_error ("damaged database replaced path=%s reason=\"%s\"", path, why);
        if (s_open (self, path, false, &damage, err, errlen) != 0) {
            cw_keystore_destroy (&self);
            return NULL;
        }
    }
    cw_state_mark (dir, CW_KEYSTORE_FILE);
    return self;
}

void
cw_keystore_destroy (cw_keystore_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sqlite3_close ((*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

//  Prepare SQL; NULL with ERR (may be NULL: logged).
static sqlite3_stmt *
s_prepare (cw_keystore_t *self, const char *sql, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        if (err)
            snprintf (err, errlen, "licensing.db: %s", sqlite3_errmsg (self->db));
        else
            cw_error ("licensing.db: %s", sqlite3_errmsg (self->db));
        return NULL;
    }
    return stmt;
}

int
cw_keystore_add (cw_keystore_t *self, const char *serial, const char *text, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s_prepare (
        self, "INSERT INTO keys (serial, text, added_at) VALUES (?1, ?2, CAST(strftime('%s','now') AS INTEGER))", err,
        errlen);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, serial, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    if (rc == SQLITE_CONSTRAINT)
        return 1;
    if (rc != SQLITE_DONE) {
        snprintf (err, errlen, "licensing.db: cannot store the key: %s", sqlite3_errmsg (self->db));
        return -1;
    }
    return 0;
}

int
cw_keystore_remove (cw_keystore_t *self, const char *serial, char *err, size_t errlen)
{
    sqlite3_stmt *stmt = s_prepare (self, "DELETE FROM keys WHERE serial = ?1", err, errlen);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, serial, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        snprintf (err, errlen, "licensing.db: cannot remove the key: %s", sqlite3_errmsg (self->db));
        return -1;
    }
    return sqlite3_changes (self->db) > 0 ? 0 : 1;
}

int
cw_keystore_each_key (cw_keystore_t *self, cw_keystore_key_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = s_prepare (self, "SELECT serial, text FROM keys ORDER BY added_at, rowid", NULL, 0);
    if (!stmt)
        return -1;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        fn ((const char *) sqlite3_column_text (stmt, 0), (const char *) sqlite3_column_text (stmt, 1), arg);
    sqlite3_finalize (stmt);
    return 0;
}

json_t *
cw_keystore_get (cw_keystore_t *self, const char *name)
{
    sqlite3_stmt *stmt = s_prepare (self, "SELECT value FROM state WHERE name = ?1", NULL, 0);
    if (!stmt)
        return NULL;
    sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
    json_t *value = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        value = json_loads ((const char *) sqlite3_column_text (stmt, 0), JSON_DECODE_ANY, NULL);
    sqlite3_finalize (stmt);
    return value;
}

int
cw_keystore_put (cw_keystore_t *self, const char *name, json_t *value)
{
    char *text = value ? json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    if (value && !text)
        return -1;
    sqlite3_stmt *stmt = s_prepare (self,
                                    value ? "INSERT OR REPLACE INTO state (name, value) VALUES (?1, ?2)"
                                          : "DELETE FROM state WHERE name = ?1",
                                    NULL, 0);
    int rc = SQLITE_ERROR;
    if (stmt) {
        sqlite3_bind_text (stmt, 1, name, -1, SQLITE_STATIC);
        if (text)
            sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt);
        sqlite3_finalize (stmt);
        if (rc != SQLITE_DONE)
            cw_error ("licensing.db: cannot store %s: %s", name, sqlite3_errmsg (self->db));
    }
    free (text);
    return rc == SQLITE_DONE ? 0 : -1;
}

int
cw_keystore_each (cw_keystore_t *self, const char *prefix, cw_keystore_state_fn *fn, void *arg)
{
    sqlite3_stmt *stmt =
        s_prepare (self, "SELECT name, value FROM state WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name", NULL, 0);
    if (!stmt)
        return -1;
    sqlite3_bind_text (stmt, 1, prefix, -1, SQLITE_STATIC);
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        json_t *value = json_loads ((const char *) sqlite3_column_text (stmt, 1), JSON_DECODE_ANY, NULL);
        if (value)
            fn ((const char *) sqlite3_column_text (stmt, 0), value, arg);
        json_decref (value);
    }
    sqlite3_finalize (stmt);
    return 0;
}
