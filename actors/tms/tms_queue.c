/*  tms_queue.c - the durable, bounded queue of feedback events (see
    tms_queue.h).

    The length is counted once at open and then kept in memory; a push that
    would pass the bound deletes the oldest rows in the same transaction
    and adds them to meta "dropped".
*/
#include "tms_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct _tms_queue_t {
    sqlite3 *db;
    size_t bound;
    size_t length;
    int64_t dropped;
};

static int
s_exec (tms_queue_t *self, const char *sql)
{
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

tms_queue_t *
tms_queue_new (const char *path, size_t bound, char *err, size_t errlen)
{
    //  Owner-only from the first byte: the file also holds sealed credentials
    int fd = open (path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    close (fd);
    tms_queue_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->bound = bound ? bound : 1;
    if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK
        || s_exec (self, "PRAGMA journal_mode=WAL") != 0 || s_exec (self, "PRAGMA synchronous=FULL") != 0
        || s_exec (self, "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                         "at TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL);"
                         "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
               != 0) {
        snprintf (err, errlen, "%s: %s", path, self->db ? sqlite3_errmsg (self->db) : "cannot open");
        tms_queue_destroy (&self);
        return NULL;
    }
    sqlite3_busy_timeout (self->db, 2000);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT count(*) FROM events", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        self->length = (size_t) sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    char *dropped = tms_queue_meta_get (self, "dropped");
    self->dropped = dropped ? strtoll (dropped, NULL, 10) : 0;
    free (dropped);
    return self;
}

void
tms_queue_destroy (tms_queue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sqlite3_close ((*self_p)->db);
    free (*self_p);
    *self_p = NULL;
}

char *
tms_queue_meta_get (tms_queue_t *self, const char *key)
{
    sqlite3_stmt *stmt = NULL;
    char *value = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT value FROM meta WHERE key = ?", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_ROW)
            value = strdup ((const char *) sqlite3_column_text (stmt, 0));
    }
    sqlite3_finalize (stmt);
    return value;
}

static int
s_meta_set (tms_queue_t *self, const char *key, const char *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (self->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", -1, &stmt, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, value, -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (stmt);
    return rc;
}

int
tms_queue_meta_set (tms_queue_t *self, const char *key, const char *value)
{
    return s_meta_set (self, key, value);
}

int64_t
tms_queue_push (tms_queue_t *self, const char *type, const char *at, json_t *body, const char *key, const char *value)
{
    char *text = json_dumps (body ? body : json_object (), JSON_COMPACT);
    if (!text)
        return -1;
    if (s_exec (self, "BEGIN IMMEDIATE") != 0) {
        free (text);
        return -1;
    }
    int64_t seq = -1;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "INSERT INTO events (at, type, body) VALUES (?, ?, ?)", -1, &stmt, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, at, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, type, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 3, text, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_DONE)
            seq = sqlite3_last_insert_rowid (self->db);
    }
    sqlite3_finalize (stmt);
    free (text);
    if (seq > 0 && key && s_meta_set (self, key, value) != 0)
        seq = -1;
    size_t over = seq > 0 && self->length + 1 > self->bound ? self->length + 1 - self->bound : 0;
    int64_t dropped = self->dropped;
    if (seq > 0 && over > 0) {
        char sql [160], count [32];
        snprintf (sql, sizeof sql, "DELETE FROM events WHERE seq IN (SELECT seq FROM events ORDER BY seq LIMIT %zu)",
                  over);
        dropped += (int64_t) over;
        snprintf (count, sizeof count, "%lld", (long long) dropped);
        if (s_exec (self, sql) != 0 || s_meta_set (self, "dropped", count) != 0)
            seq = -1;
    }
    if (seq < 0 || s_exec (self, "COMMIT") != 0) {
        s_exec (self, "ROLLBACK");
        return -1;
    }
    self->length = self->length + 1 - over;
    self->dropped = dropped;
    return seq;
}

json_t *
tms_queue_peek (tms_queue_t *self, size_t limit)
{
    json_t *events = json_array ();
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT seq, at, type, body FROM events ORDER BY seq LIMIT ?", -1, &stmt, NULL)
        != SQLITE_OK) {
        sqlite3_finalize (stmt);
        return events;
    }
    sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) limit);
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        json_t *data = json_loads ((const char *) sqlite3_column_text (stmt, 3), 0, NULL);
        json_array_append_new (events,
                               json_pack ("{s:I, s:s, s:s, s:o}", "seq", (json_int_t) sqlite3_column_int64 (stmt, 0),
                                          "at", (const char *) sqlite3_column_text (stmt, 1), "type",
                                          (const char *) sqlite3_column_text (stmt, 2), "data",
                                          data ? data : json_object ()));
    }
    sqlite3_finalize (stmt);
    return events;
}

int
tms_queue_delete_upto (tms_queue_t *self, int64_t seq)
{
    sqlite3_stmt *stmt = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2 (self->db, "DELETE FROM events WHERE seq <= ?", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_int64 (stmt, 1, seq);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize (stmt);
    if (rc == 0) {
        size_t gone = (size_t) sqlite3_changes (self->db);
        self->length = gone > self->length ? 0 : self->length - gone;
    }
    return rc;
}

size_t
tms_queue_length (tms_queue_t *self)
{
    return self->length;
}

int64_t
tms_queue_dropped (tms_queue_t *self)
{
    return self->dropped;
}

char *
tms_queue_oldest (tms_queue_t *self)
{
    sqlite3_stmt *stmt = NULL;
    char *at = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT at FROM events ORDER BY seq LIMIT 1", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        at = strdup ((const char *) sqlite3_column_text (stmt, 0));
    sqlite3_finalize (stmt);
    return at;
}
