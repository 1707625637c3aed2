/*  alarms.c - the alarms actor's logic: the alarm table in SQLite, the XPUB
    publisher, syslog, and the commands alarms.raise|clear|ack|list.

    The table (<state_dir>/alarms.db, WAL, synchronous=NORMAL, so a commit
    survives a kill -9 of any process or of the whole node) holds one row
    per occurrence, keyed by its uuid; a partial unique index allows at most
    one active (raised or acknowledged) row per (id, subject). Raising an
    active alarm updates its detail and changed_at; raising it again after
    it was cleared inserts a new occurrence with a new uuid.

    A change is made inside the open batch transaction and answered after
    the commit (see alarms.h); the batch's PUB messages (topic
    "alarm.<state>.<id>", body the alarm JSON) and syslog lines go out once
    the commit succeeded, so a subscriber never sees an alarm that could
    still be lost. A new subscription on an XPUB socket (XPUB_VERBOSE: every
    subscribe is seen) makes the actor send every active alarm on that
    socket, to all its matching subscribers, then one "alarm.snapshot"
    message listing the uuids of every active alarm.

    Sequence numbers (the "clone" pattern of the ZeroMQ guide): every change
    takes the next number of the node's counter, stored in its row (column
    seq) and, at the commit of its batch, in the one-row table alarm_seq, so
    the counter keeps increasing across restarts and kill -9. A published
    change carries its number as "seq"; a replayed alarm the number of its
    last change; the snapshot and the heartbeat the number of the last
    committed change. A subscriber that sees a change more than one past the
    last it saw, or a snapshot or heartbeat past it, has missed messages and
    resubscribes: the replay and snapshot give it the present.
*/

#include "alarms.h"
#include "cw_alarm.h"
#include "cw_log.h"
#include "cw_statefile.h"

#include <libgen.h>
#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define ALARMS_MAX_XPUB 8
#define ALARMS_DETAIL_MAX 4000
#define ALARMS_SUBJECT_MAX 256
#define ALARMS_LIST_CAP 1000        //  alarms.list {all: true} returns at most this many
#define ALARMS_KEEP_CLEARED 1000    //  cleared history kept in the table
#define ALARMS_SNDHWM 100000        //  messages queued per subscriber before drops

//  An answer to send after the commit
typedef struct {
    char *to;
    uint64_t corr;
    bool ok;
    json_t *body;
} s_deferred_t;

//  A change to publish (and log) after the commit
typedef struct {
    json_t *alarm;        //  the alarm object after the change
    const char *event;    //  syslog Event, NULL = publish only
    int64_t seq;          //  its sequence number
} s_change_t;

struct _alarms_t {
    sqlite3 *db;
    char *path;
    char *replaced;    //  the damage found at open, when the file was replaced
    char *problem;     //  the damage found at run time: every request refused
    alarms_problem_fn *problem_fn;
    void *problem_arg;
    sqlite3_stmt *find_active;    //  id, subject -> the active alarm
    sqlite3_stmt *insert;
    sqlite3_stmt *update_raise;
    sqlite3_stmt *set_state;
    sqlite3_stmt *by_uuid;
    sqlite3_stmt *active_of_id;     //  id -> its active alarms
    sqlite3_stmt *active_of_key;    //  id, subject -> its active alarm
    sqlite3_stmt *list_active;
    sqlite3_stmt *list_all;
    sqlite3_stmt *count_active;
    sqlite3_stmt *save_seq;    //  the counter into alarm_seq
    char *peer;
    int64_t seq;              //  the last sequence number taken (the open batch included)
    int64_t seq_committed;    //  the last one committed (and published)

    zsock_t *xpub [ALARMS_MAX_XPUB];
    size_t xpub_count;
    zloop_t *loop;
    int flush_timer;    //  -1 = none armed
    int heartbeat_timer;

    bool in_batch;
    s_deferred_t *deferred;
    size_t deferred_count, deferred_size;
    s_change_t *changes;
    size_t change_count, change_size;

    alarms_reply_fn *reply_fn;
    void *reply_arg;
    uint64_t batches;    //  commits so far
    uint64_t batched;    //  requests answered after those commits
};

#define ALARM_COLUMNS "id, uuid, state, severity, title, detail, action, peer, raised_at, changed_at, subject"

static const char *s_schema = "CREATE TABLE IF NOT EXISTS alarms ("
                              "  uuid TEXT PRIMARY KEY,"
                              "  id INTEGER NOT NULL,"
                              "  subject TEXT NOT NULL DEFAULT '',"
                              "  state TEXT NOT NULL CHECK (state IN ('raised', 'acknowledged', 'cleared')),"
                              "  severity TEXT NOT NULL,"
                              "  title TEXT NOT NULL,"
                              "  detail TEXT NOT NULL,"
                              "  action TEXT NOT NULL,"
                              "  peer TEXT NOT NULL,"
                              "  raised_at TEXT NOT NULL,"
                              "  changed_at TEXT NOT NULL);"
                              "CREATE UNIQUE INDEX IF NOT EXISTS alarms_active ON alarms (id, subject)"
                              "  WHERE state != 'cleared';";

//  Added to tables made before sequence numbers (by s_migrate_seq):
//  alarms.seq, the number of each row's last change (0 for older rows), and
//  alarm_seq, the node's counter.
#define ALARMS_ADD_SEQ_COLUMN "ALTER TABLE alarms ADD COLUMN seq INTEGER NOT NULL DEFAULT 0"
static const char *s_schema_seq = "CREATE TABLE IF NOT EXISTS alarm_seq ("
                                  "  node INTEGER PRIMARY KEY CHECK (node = 0),"
                                  "  seq INTEGER NOT NULL);"
                                  "INSERT OR IGNORE INTO alarm_seq (node, seq)"
                                  "  SELECT 0, coalesce (max (seq), 0) FROM alarms;";

static void s_syslog_probe (void);
static void s_damaged (alarms_t *self, int rc);

//  ---------------------------------------------------------------------
//  Small helpers

void
alarms_now (char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    char base [24];
    strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf, len, "%s.%03ldZ", base, ts.tv_nsec / 1000000);
}

//  A random (version 4) UUID as 36 characters of text. The random bytes
//  come from a pool refilled 4 KiB at a time (one getrandom per 256 uuids).
static void
s_uuid_new (char *buf, size_t len)
{
    static unsigned char pool [4096];
    static size_t pool_used = sizeof pool;
    if (pool_used + 16 > sizeof pool) {
        randombytes_buf (pool, sizeof pool);
        pool_used = 0;
    }
    unsigned char b [16];
    memcpy (b, pool + pool_used, sizeof b);
    sodium_memzero (pool + pool_used, sizeof b);
    pool_used += sizeof b;
    b [6] = (b [6] & 0x0F) | 0x40;
    b [8] = (b [8] & 0x3F) | 0x80;
    snprintf (buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b [0], b [1], b [2],
              b [3], b [4], b [5], b [6], b [7], b [8], b [9], b [10], b [11], b [12], b [13], b [14], b [15]);
}

static const char *
s_col (sqlite3_stmt *stmt, int col)
{
    const char *text = (const char *) sqlite3_column_text (stmt, col);
    return text ? text : "";
}

//  A JSON string, or "" when TEXT is not valid UTF-8 (a damaged table).
static json_t *
s_string (const char *text)
{
    json_t *string = json_string (text);
    return string ? string : json_string ("");
}

//  The alarm object of the current row of STMT (columns ALARM_COLUMNS).
static json_t *
s_row_alarm (sqlite3_stmt *stmt)
{
    json_t *alarm = json_object ();
    json_object_set_new (alarm, "id", json_integer (sqlite3_column_int (stmt, 0)));
    static const char *names [] = { NULL,     "uuid", "state",     "severity",   "title",  "detail",
                                    "action", "peer", "raised_at", "changed_at", "subject" };
    for (int col = 1; col <= 10; col++)
        json_object_set_new (alarm, names [col], s_string (s_col (stmt, col)));
    return alarm;
}

static int
s_exec (alarms_t *self, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec (self->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        cw_error ("alarm table: sql failed sql=\"%s\" error=\"%s\"", sql, msg ? msg : "?");
        sqlite3_free (msg);
        s_damaged (self, rc);
        return -1;
    }
    return 0;
}

//  RC came from a statement on the table: SQLITE_CORRUPT or SQLITE_NOTADB
//  puts the table out of service (see alarms_problem).
static void
s_damaged (alarms_t *self, int rc)
{
    if (self->problem || !cw_state_is_damage (rc))
        return;
    char problem [1024];
    snprintf (problem, sizeof problem,
              "%s is damaged: %s (found at run time); no alarm can be raised, cleared or listed. Fix: causeway "
              "actors restart alarms (the damaged file is then moved aside and an empty alarm table started)",
              self->path, sqlite3_errstr (rc));
    self->problem = strdup (problem);
    cw_error ("damaged database path=%s error=\"%s\"", self->path, sqlite3_errstr (rc));
    if (self->problem_fn && self->problem)
        self->problem_fn (self->problem, self->problem_arg);
}

//  The alarm with UUID, or NULL.
static json_t *
s_by_uuid (alarms_t *self, const char *uuid)
{
    sqlite3_stmt *stmt = self->by_uuid;
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_TRANSIENT);
    json_t *alarm = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        alarm = s_row_alarm (stmt);
    sqlite3_reset (stmt);
    return alarm;
}

//  ---------------------------------------------------------------------
//  Life cycle

//  Add the sequence numbers to the table if it has none yet (an additive
//  migration, in one transaction) and load the counter. 0, or -1 with the
//  reason in ERR.
static int
s_migrate_seq (alarms_t *self, const char *db_path, char *err, size_t errlen)
{
    if (s_exec (self, "BEGIN IMMEDIATE") != 0) {
        snprintf (err, errlen, "cannot add sequence numbers to the alarm table %s: %s", db_path,
                  sqlite3_errmsg (self->db));
        return -1;
    }
    sqlite3_stmt *stmt = NULL;
    int has_seq = -1;    //  unknown
    if (sqlite3_prepare_v2 (self->db, "SELECT count(*) FROM pragma_table_info ('alarms') WHERE name = 'seq'", -1, &stmt,
                            NULL)
            == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        has_seq = sqlite3_column_int (stmt, 0) > 0;
    sqlite3_finalize (stmt);
    if (has_seq < 0 || (!has_seq && s_exec (self, ALARMS_ADD_SEQ_COLUMN) != 0) || s_exec (self, s_schema_seq) != 0) {
        snprintf (err, errlen, "cannot add sequence numbers to the alarm table %s: %s", db_path,
                  sqlite3_errmsg (self->db));
        s_exec (self, "ROLLBACK");
        return -1;
    }
    //  The counter never runs behind a row (a file edited by hand)
    int rc = sqlite3_prepare_v2 (self->db,
                                 "SELECT max (seq, (SELECT coalesce (max (seq), 0) FROM alarms))"
                                 " FROM alarm_seq WHERE node = 0",
                                 -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        self->seq = sqlite3_column_int64 (stmt, 0);
    else
        rc = SQLITE_ERROR;
    sqlite3_finalize (stmt);
    if (rc != SQLITE_OK || s_exec (self, "COMMIT") != 0) {
        snprintf (err, errlen, "cannot read the sequence number of the alarm table %s: %s", db_path,
                  sqlite3_errmsg (self->db));
        s_exec (self, "ROLLBACK");
        return -1;
    }
    self->seq_committed = self->seq;
    if (!has_seq)
        cw_info ("alarm table: added sequence numbers seq=%lld", (long long) self->seq);
    return 0;
}

//  Open the table at SELF->path and prepare the queries. -1 with ERR;
//  *DAMAGE when SQLite found the file not to be a sound database.
static int
s_open (alarms_t *self, bool check, char *err, size_t errlen, bool *damage)
{
    *damage = false;
    int rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (rc != SQLITE_OK) {
        snprintf (err, errlen, "cannot open the alarm table %s: %s", self->path,
                  self->db ? sqlite3_errmsg (self->db) : "out of memory");
        *damage = cw_state_is_damage (rc);
        return -1;
    }
    sqlite3_busy_timeout (self->db, 2000);
    if (s_exec (self, "PRAGMA journal_mode=WAL") != 0 || s_exec (self, "PRAGMA synchronous=NORMAL") != 0) {
        snprintf (err, errlen, "%s: %s", self->path, sqlite3_errmsg (self->db));
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        return -1;
    }
    char why [512];
    if (check && cw_state_quick_check (self->db, "main", why, sizeof why) != 0) {
        snprintf (err, errlen, "%s: %s", self->path, why);
        *damage = true;
        return -1;
    }
    if (s_exec (self, s_schema) != 0) {
        snprintf (err, errlen, "cannot set up the alarm table %s: %s", self->path, sqlite3_errmsg (self->db));
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        return -1;
    }
    if (s_migrate_seq (self, self->path, err, errlen) != 0) {
        *damage = cw_state_is_damage (sqlite3_extended_errcode (self->db));
        return -1;
    }
    struct {
        sqlite3_stmt **stmt;
        const char *sql;
    } stmts [] = {
        { &self->find_active, "SELECT " ALARM_COLUMNS " FROM alarms"
                              " WHERE id = ?1 AND subject = ?2 AND state != 'cleared'" },
        { &self->insert, "INSERT INTO alarms (uuid, id, subject, state, severity, title,"
                         " detail, action, peer, raised_at, changed_at, seq)"
                         " VALUES (?1, ?2, ?3, 'raised', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)" },
        { &self->update_raise, "UPDATE alarms SET detail = ?2, changed_at = ?3, peer = ?4,"
                               " severity = ?5, title = ?6, action = ?7, seq = ?8 WHERE uuid = ?1" },
        { &self->set_state, "UPDATE alarms SET state = ?2, changed_at = ?3, seq = ?4 WHERE uuid = ?1" },
        { &self->by_uuid, "SELECT " ALARM_COLUMNS " FROM alarms WHERE uuid = ?1" },
        { &self->active_of_id, "SELECT " ALARM_COLUMNS " FROM alarms"
                               " WHERE id = ?1 AND state != 'cleared'" },
        { &self->active_of_key, "SELECT " ALARM_COLUMNS " FROM alarms"
                                " WHERE id = ?1 AND subject = ?2 AND state != 'cleared'" },
        { &self->list_active, "SELECT " ALARM_COLUMNS ", seq FROM alarms WHERE state != 'cleared'"
                              " ORDER BY changed_at DESC, rowid DESC" },
        { &self->list_all, "SELECT " ALARM_COLUMNS " FROM alarms"
                           " ORDER BY changed_at DESC, rowid DESC LIMIT ?1" },
        { &self->count_active, "SELECT count(*) FROM alarms WHERE state != 'cleared'" },
        { &self->save_seq, "UPDATE alarm_seq SET seq = ?1 WHERE node = 0" },
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts [0]; i++)
        if ((rc = sqlite3_prepare_v3 (self->db, stmts [i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts [i].stmt, NULL))
            != SQLITE_OK) {
            snprintf (err, errlen, "cannot prepare the alarm queries on %s: %s", self->path, sqlite3_errmsg (self->db));
            *damage = cw_state_is_damage (rc);
            return -1;
        }
    return 0;
}

static void
s_close (alarms_t *self)
{
    sqlite3_stmt **stmts [] = { &self->find_active, &self->insert,       &self->update_raise,  &self->set_state,
                                &self->by_uuid,     &self->active_of_id, &self->active_of_key, &self->list_active,
                                &self->list_all,    &self->count_active, &self->save_seq };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts [0]; i++) {
        sqlite3_finalize (*stmts [i]);
        *stmts [i] = NULL;
    }
    if (self->db)
        sqlite3_close_v2 (self->db);
    self->db = NULL;
}

alarms_t *
alarms_new (const char *db_path, const char *peer, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium could not be initialised");
        return NULL;
    }
    alarms_t *self = (alarms_t *) zmalloc (sizeof (alarms_t));
    self->flush_timer = -1;
    self->heartbeat_timer = -1;
    self->peer = strdup (peer && *peer ? peer : "");
    self->path = strdup (db_path);
    char dir_buf [PATH_MAX], file_buf [PATH_MAX];
    snprintf (dir_buf, sizeof dir_buf, "%s", db_path);
    snprintf (file_buf, sizeof file_buf, "%s", db_path);
    const char *dir = dirname (dir_buf);
    const char *base = basename (file_buf);
    if (cw_state_dir_check (dir, false, err, errlen) != 0) {
        alarms_destroy (&self);
        return NULL;
    }
    //  Recorded but gone or empty, not a database, or damaged: moved aside
    //  and replaced by an empty table (see alarms.h)
    struct stat st;
    bool present = stat (db_path, &st) == 0, damage = false;
    bool existed = present && st.st_size > 0;
    char why [1024] = "";
    if (cw_state_expect (dir, base, why, sizeof why) != 0)
        damage = true;
    else if (s_open (self, existed, why, sizeof why, &damage) != 0 && !damage) {
        snprintf (err, errlen, "%s", why);
        alarms_destroy (&self);
        return NULL;
    }
    if (damage) {
        s_close (self);
        char moved [PATH_MAX + 64];
        if (cw_state_move_aside (db_path, moved, sizeof moved, err, errlen) != 0) {
            alarms_destroy (&self);
            return NULL;
        }
        char replaced [6144];
        snprintf (replaced, sizeof replaced,
                  "%s; it was moved aside to %s and an empty alarm table started (the alarms raised before are "
                  "in that file; this alarm clears at the next start of the alarms actor)",
                  why, present ? moved : "(nothing to move)");
        self->replaced = strdup (replaced);
        cw_error ("damaged database replaced path=%s reason=\"%s\" moved_to=%s", db_path, why, present ? moved : "-");
        if (s_open (self, false, err, errlen, &damage) != 0) {
            alarms_destroy (&self);
            return NULL;
        }
    }
    cw_state_mark (dir, base);
    free (self->problem);    //  what the checks above met is in REPLACED
    self->problem = NULL;
    openlog ("causeway-alarms", LOG_PID, LOG_DAEMON);
    s_syslog_probe ();
    //  The damaged-database alarm of this table lives as long as one start
    json_t *reply = NULL;
    json_t *args = self->replaced ? json_pack ("{s:i, s:s, s:s}", "id", CW_ALARM_DAMAGED_DB, "subject", base, "detail",
                                               self->replaced)
                                  : json_pack ("{s:i, s:s}", "id", CW_ALARM_DAMAGED_DB, "subject", base);
    alarms_request (self, "alarms", 0, self->replaced ? "alarms.raise" : "alarms.clear", args, &reply);
    json_decref (reply);
    json_decref (args);
    alarms_flush (self);
    return self;
}

const char *
alarms_replaced (alarms_t *self)
{
    return self->replaced;
}

const char *
alarms_problem (alarms_t *self)
{
    return self->problem;
}

void
alarms_on_problem (alarms_t *self, alarms_problem_fn *fn, void *arg)
{
    self->problem_fn = fn;
    self->problem_arg = arg;
}

void
alarms_destroy (alarms_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    alarms_t *self = *self_p;
    if (self->loop) {
        for (size_t i = 0; i < self->xpub_count; i++)
            zloop_reader_end (self->loop, self->xpub [i]);
        if (self->flush_timer >= 0)
            zloop_timer_end (self->loop, self->flush_timer);
        if (self->heartbeat_timer >= 0)
            zloop_timer_end (self->loop, self->heartbeat_timer);
    }
    if (self->in_batch)
        s_exec (self, "ROLLBACK");
    if (self->batches)
        cw_info ("alarm table closed batches=%llu requests=%llu", (unsigned long long) self->batches,
                 (unsigned long long) self->batched);
    for (size_t i = 0; i < self->deferred_count; i++) {
        free (self->deferred [i].to);
        json_decref (self->deferred [i].body);
    }
    free (self->deferred);
    for (size_t i = 0; i < self->change_count; i++)
        json_decref (self->changes [i].alarm);
    free (self->changes);
    s_close (self);
    for (size_t i = 0; i < self->xpub_count; i++)
        zsock_destroy (&self->xpub [i]);
    free (self->peer);
    free (self->path);
    free (self->replaced);
    free (self->problem);
    free (self);
    *self_p = NULL;
}

void
alarms_set_replier (alarms_t *self, alarms_reply_fn *fn, void *arg)
{
    self->reply_fn = fn;
    self->reply_arg = arg;
}

void
alarms_set_peer (alarms_t *self, const char *peer)
{
    if (!peer || !*peer || streq (peer, self->peer))
        return;
    free (self->peer);
    self->peer = strdup (peer);
    cw_info ("system name changed peer=\"%s\"", peer);
}

const char *
alarms_peer (alarms_t *self)
{
    return self->peer;
}

//  ---------------------------------------------------------------------
//  Publishing

size_t
alarms_xpub_count (alarms_t *self)
{
    return self->xpub_count;
}

zsock_t *
alarms_xpub (alarms_t *self, size_t index)
{
    return index < self->xpub_count ? self->xpub [index] : NULL;
}

int
alarms_bind (alarms_t *self, const char *endpoint, char *err, size_t errlen)
{
    if (self->xpub_count >= ALARMS_MAX_XPUB) {
        snprintf (err, errlen, "at most %d alarms.publish endpoints", ALARMS_MAX_XPUB);
        return -1;
    }
    zsock_t *xpub = zsock_new (ZMQ_XPUB);
    if (!xpub) {
        snprintf (err, errlen, "cannot create an XPUB socket: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    zsock_set_xpub_verbose (xpub, 1);
    zsock_set_sndhwm (xpub, ALARMS_SNDHWM);
    zsock_set_rcvhwm (xpub, ALARMS_SNDHWM);
    zsock_set_linger (xpub, 200);
    if (zsock_bind (xpub, "%s", endpoint) < 0) {
        snprintf (err, errlen, "cannot bind alarms.publish endpoint '%s': %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&xpub);
        return -1;
    }
    self->xpub [self->xpub_count++] = xpub;
    cw_info ("publishing alarms endpoint=%s", endpoint);
    return 0;
}

//  Send TOPIC + TEXT on one socket; a full queue drops (XPUB never blocks).
static void
s_send (zsock_t *xpub, const char *topic, const char *text)
{
    void *handle = zsock_resolve (xpub);
    if (zmq_send (handle, topic, strlen (topic), ZMQ_SNDMORE) == -1)
        return;
    zmq_send (handle, text, strlen (text), 0);
}

//  Publish ALARM (borrowed) with sequence number SEQ on ONLY, or on every
//  XPUB socket when ONLY is NULL.
static void
s_publish (alarms_t *self, zsock_t *only, json_t *alarm, int64_t seq)
{
    char topic [96];
    snprintf (topic, sizeof topic, "alarm.%s.%d", json_string_value (json_object_get (alarm, "state")),
              (int) json_integer_value (json_object_get (alarm, "id")));
    json_t *body = json_copy (alarm);    //  shallow: ALARM is also the reply
    if (!body)
        return;
    json_object_set_new (body, "seq", json_integer (seq));
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text)
        return;
    if (only)
        s_send (only, topic, text);
    else
        for (size_t i = 0; i < self->xpub_count; i++)
            s_send (self->xpub [i], topic, text);
    free (text);
}

//  Replay every active alarm on XPUB (oldest first, as they happened), each
//  with the sequence number of its last change, then the snapshot: the
//  uuids of them all and the last committed sequence number. A table that
//  cannot be read gets no snapshot (it would drop alarms a monitor holds).
static void
s_replay (alarms_t *self, zsock_t *xpub)
{
    json_t *list = json_array ();
    sqlite3_stmt *stmt = self->list_active;
    sqlite3_reset (stmt);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        json_t *alarm = s_row_alarm (stmt);
        json_object_set_new (alarm, "seq", json_integer (sqlite3_column_int64 (stmt, 11)));
        json_array_append_new (list, alarm);
    }
    sqlite3_reset (stmt);
    s_damaged (self, rc);
    json_t *uuids = json_array ();
    for (size_t i = json_array_size (list); i > 0; i--) {
        json_t *alarm = json_array_get (list, i - 1);
        s_publish (self, xpub, alarm, json_integer_value (json_object_get (alarm, "seq")));
        json_array_append (uuids, json_object_get (alarm, "uuid"));
    }
    json_decref (list);
    if (rc != SQLITE_DONE) {
        cw_error ("alarm table: replay read failed, no snapshot sent error=\"%s\"", sqlite3_errmsg (self->db));
        json_decref (uuids);
        return;
    }
    json_t *snapshot = json_pack ("{s:o, s:I, s:o}", "peer", s_string (self->peer), "seq",
                                  (json_int_t) self->seq_committed, "uuids", uuids);
    char *text = snapshot ? json_dumps (snapshot, JSON_COMPACT) : NULL;
    json_decref (snapshot);
    if (text)
        s_send (xpub, "alarm.snapshot", text);
    free (text);
}

int
alarms_subscriptions (alarms_t *self, size_t index)
{
    zsock_t *xpub = alarms_xpub (self, index);
    if (!xpub)
        return -1;
    int subscribes = 0;
    while (zsock_events (xpub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv (xpub);
        if (!frame)
            break;
        if (zframe_size (frame) > 0 && zframe_data (frame) [0] == 1)
            subscribes++;
        zframe_destroy (&frame);
    }
    if (subscribes > 0) {
        //  Replay the committed present: finish the open batch first
        alarms_flush (self);
        s_replay (self, xpub);
        cw_debug ("new subscriber, replayed active alarms subscriptions=%d", subscribes);
    }
    return subscribes;
}

int64_t
alarms_seq (alarms_t *self)
{
    return self->seq_committed;
}

int
alarms_active_count (alarms_t *self)
{
    sqlite3_stmt *stmt = self->count_active;
    sqlite3_reset (stmt);
    int rc = sqlite3_step (stmt);
    int count = rc == SQLITE_ROW ? sqlite3_column_int (stmt, 0) : -1;
    s_damaged (self, rc);
    sqlite3_reset (stmt);
    return count;
}

int
alarms_heartbeat (alarms_t *self)
{
    char at [40];
    alarms_now (at, sizeof at);
    json_t *body = json_pack ("{s:o, s:i, s:s, s:I}", "peer", s_string (self->peer), "active",
                              alarms_active_count (self), "at", at, "seq", (json_int_t) self->seq_committed);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!text)
        return -1;
    for (size_t i = 0; i < self->xpub_count; i++)
        s_send (self->xpub [i], "heartbeat", text);
    free (text);
    return 0;
}

int
alarms_prune (alarms_t *self, int keep)
{
    alarms_flush (self);
    char sql [256];
    snprintf (sql, sizeof sql,
              "DELETE FROM alarms WHERE state = 'cleared' AND rowid NOT IN"
              " (SELECT rowid FROM alarms WHERE state = 'cleared'"
              "  ORDER BY changed_at DESC, rowid DESC LIMIT %d)",
              keep < 0 ? 0 : keep);
    if (s_exec (self, sql) != 0)
        return -1;
    return sqlite3_changes (self->db);
}

//  ---------------------------------------------------------------------
//  Syslog

int
alarms_format_syslog (json_t *alarm, const char *event, char *buf, size_t len)
{
    const char *severity = json_string_value (json_object_get (alarm, "severity"));
    const char *level = "INFO";
    int priority = LOG_INFO;
    if (severity && streq (severity, "warning")) {
        level = "WARN";
        priority = LOG_WARNING;
    }
    else if (severity && streq (severity, "error")) {
        level = "ERROR";
        priority = LOG_ERR;
    }
    else if (severity && streq (severity, "critical")) {
        level = "CRIT";
        priority = LOG_CRIT;
    }
    //  Escape the detail: \ and " get a backslash, control characters a space
    const char *detail = json_string_value (json_object_get (alarm, "detail"));
    char escaped [ALARMS_DETAIL_MAX * 2 + 1];
    size_t out = 0;
    for (const char *c = detail ? detail : ""; *c && out + 2 < sizeof escaped; c++) {
        if (*c == '"' || *c == '\\')
            escaped [out++] = '\\';
        escaped [out++] = ((unsigned char) *c < 0x20 || *c == 0x7f) ? ' ' : *c;
    }
    escaped [out] = 0;
    snprintf (buf, len, "alarm: Level=\"%s\" Event=\"%s\" Id=\"%d\" UUID=\"%s\" Severity=\"%s\" Detail=\"%s\"", level,
              event, (int) json_integer_value (json_object_get (alarm, "id")),
              json_string_value (json_object_get (alarm, "uuid")), severity ? severity : "", escaped);
    return priority;
}

//  glibc's syslog(3) tries socket+connect+close on every call while no
//  syslog daemon listens on /dev/log; at thousands of alarms a second that
//  is most of the actor's time. So: probe /dev/log, skip syslog while
//  nobody listens, probe again on every heartbeat.
static bool s_syslog_up = true;
static bool s_syslog_warned = false;

static void
s_syslog_probe (void)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    strcpy (addr.sun_path, _PATH_LOG);
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool up = fd >= 0 && connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    if (fd >= 0)
        close (fd);
    if (!up && !s_syslog_warned) {
        cw_warn ("no syslog daemon on %s: alarm changes are not sent to syslog until one runs", _PATH_LOG);
        s_syslog_warned = true;
    }
    if (up && !s_syslog_up)
        cw_info ("syslog daemon found on %s: alarm changes go to syslog again", _PATH_LOG);
    s_syslog_up = up;
}

static void
s_syslog (json_t *alarm, const char *event)
{
    if (!s_syslog_up)
        return;
    char line [ALARMS_DETAIL_MAX * 2 + 256];
    int priority = alarms_format_syslog (alarm, event, line, sizeof line);
    syslog (priority, "%s", line);
}

//  ---------------------------------------------------------------------
//  Batches

static void
s_defer (alarms_t *self, const char *to, uint64_t corr, bool ok, json_t *body)
{
    if (self->deferred_count == self->deferred_size) {
        self->deferred_size = self->deferred_size ? self->deferred_size * 2 : 64;
        self->deferred = (s_deferred_t *) realloc (self->deferred, self->deferred_size * sizeof (s_deferred_t));
        assert (self->deferred);
    }
    self->deferred [self->deferred_count++] = (s_deferred_t){ strdup (to ? to : ""), corr, ok, body };
}

static void
s_change (alarms_t *self, json_t *alarm, const char *event, int64_t seq)
{
    if (self->change_count == self->change_size) {
        self->change_size = self->change_size ? self->change_size * 2 : 64;
        self->changes = (s_change_t *) realloc (self->changes, self->change_size * sizeof (s_change_t));
        assert (self->changes);
    }
    self->changes [self->change_count++] = (s_change_t){ alarm, event, seq };
}

static int
s_flush_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    alarms_t *self = (alarms_t *) arg;
    self->flush_timer = -1;    //  a one-shot timer: zloop drops it itself
    alarms_flush (self);
    return 0;
}

//  Open the batch transaction if none is open. 0 or -1.
static int
s_begin (alarms_t *self)
{
    if (self->in_batch)
        return 0;
    if (s_exec (self, "BEGIN") != 0)
        return -1;
    self->in_batch = true;
    if (self->loop && self->flush_timer < 0)
        self->flush_timer = zloop_timer (self->loop, 0, 1, s_flush_timer, self);
    return 0;
}

bool
alarms_pending (alarms_t *self)
{
    return self->in_batch || self->deferred_count > 0;
}

int
alarms_flush (alarms_t *self)
{
    if (self->flush_timer >= 0 && self->loop) {
        zloop_timer_end (self->loop, self->flush_timer);
        self->flush_timer = -1;
    }
    if (!self->in_batch && self->deferred_count == 0)
        return 0;
    bool committed = true;
    if (self->in_batch) {
        self->in_batch = false;
        if (self->seq != self->seq_committed) {
            //  The counter goes with the batch that used it
            sqlite3_stmt *stmt = self->save_seq;
            sqlite3_reset (stmt);
            sqlite3_bind_int64 (stmt, 1, self->seq);
            committed = sqlite3_step (stmt) == SQLITE_DONE && sqlite3_changes (self->db) == 1;
            sqlite3_reset (stmt);
            if (!committed)
                cw_error ("alarm table: cannot save the sequence number error=\"%s\"", sqlite3_errmsg (self->db));
        }
        if (!committed || s_exec (self, "COMMIT") != 0) {
            committed = false;
            s_exec (self, "ROLLBACK");
        }
        //  Numbers of a rolled back batch were never published: reuse them
        if (committed)
            self->seq_committed = self->seq;
        else
            self->seq = self->seq_committed;
    }
    //  Publish and log what the commit made durable
    for (size_t i = 0; i < self->change_count; i++) {
        s_change_t *change = &self->changes [i];
        if (committed) {
            s_publish (self, NULL, change->alarm, change->seq);
            if (change->event)
                s_syslog (change->alarm, change->event);
        }
        json_decref (change->alarm);
    }
    self->change_count = 0;
    //  Then answer the requests
    size_t answered = self->deferred_count;
    for (size_t i = 0; i < self->deferred_count; i++) {
        s_deferred_t *deferred = &self->deferred [i];
        bool ok = deferred->ok;
        json_t *body = deferred->body;
        if (!committed) {
            json_decref (body);
            body = json_pack ("{s:s}", "error", "the alarm table could not be written; try again");
            ok = false;
        }
        if (self->reply_fn)
            self->reply_fn (deferred->to, deferred->corr, ok, body, self->reply_arg);
        else
            json_decref (body);
        free (deferred->to);
    }
    self->deferred_count = 0;
    if (committed) {
        self->batches++;
        self->batched += answered;
    }
    return committed ? (int) answered : -1;
}

//  ---------------------------------------------------------------------
//  Commands

static json_t *
s_error (const char *fmt, ...)
{
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return json_pack ("{s:s}", "error", message);
}

//  Read integer argument "id" from ARGS into *ID. NULL or an error body.
static json_t *
s_arg_id (json_t *args, int *id)
{
    json_t *value = json_object_get (args, "id");
    if (!value)
        return s_error ("missing argument 'id' (an alarm id, e.g. 90001)");
    long long number;
    if (json_is_integer (value))
        number = json_integer_value (value);
    else if (json_is_string (value) && *json_string_value (value)) {
        char *end;
        errno = 0;
        number = strtoll (json_string_value (value), &end, 10);
        if (*end || errno)
            return s_error ("argument 'id' must be an integer alarm id, not '%s'", json_string_value (value));
    }
    else
        return s_error ("argument 'id' must be an integer alarm id");
    if (number < 0 || number > INT32_MAX)
        return s_error ("argument 'id' must be an alarm id from the catalogue, not %lld", number);
    *id = (int) number;
    return NULL;
}

//  Read optional string argument NAME (at most MAX bytes) into *TEXT.
static json_t *
s_arg_string (json_t *args, const char *name, bool required, size_t max, const char **text)
{
    json_t *value = json_object_get (args, name);
    if (!value || json_is_null (value)) {
        if (required)
            return s_error ("missing argument '%s'", name);
        *text = "";
        return NULL;
    }
    if (!json_is_string (value))
        return s_error ("argument '%s' must be a string", name);
    if (json_string_length (value) > max)
        return s_error ("argument '%s' is too long (at most %zu bytes)", name, max);
    if (strlen (json_string_value (value)) != json_string_length (value))
        return s_error ("argument '%s' must not contain NUL characters", name);
    *text = json_string_value (value);
    return NULL;
}

//  Is FROM a control client, "@control" or "@control:<id>" (an operator)?
static bool
s_from_control (const char *from)
{
    return from && strncmp (from, "@control", 8) == 0 && (from [8] == 0 || from [8] == ':');
}

//  The catalogue entry of ID as FROM may use it, or NULL and *ERROR.
static const cw_alarm_def_t *
s_allowed (const char *from, int id, json_t **error)
{
    if (s_from_control (from) && !cw_alarm_is_operator (id)) {
        *error = s_error ("alarm id %d is outside the operator range %d-%d", id, CW_ALARM_OPERATOR_MIN,
                          CW_ALARM_OPERATOR_MAX);
        return NULL;
    }
    const cw_alarm_def_t *def = cw_alarm_lookup (id);
    if (!def)
        *error = s_error ("unknown alarm id %d: not in the alarm catalogue", id);
    return def;
}

static alarms_status_t
s_raise (alarms_t *self, const char *from, uint64_t corr, json_t *args, json_t **reply)
{
    int id = 0;
    const char *detail, *subject;
    const cw_alarm_def_t *def;
    if ((*reply = s_arg_id (args, &id)) || (*reply = s_arg_string (args, "detail", true, ALARMS_DETAIL_MAX, &detail))
        || (*reply = s_arg_string (args, "subject", false, ALARMS_SUBJECT_MAX, &subject))
        || !(def = s_allowed (from, id, reply)))
        return ALARMS_ERROR;
    if (s_begin (self) != 0) {
        *reply = s_error ("the alarm table could not be written; try again");
        return ALARMS_ERROR;
    }
    char now [40];
    alarms_now (now, sizeof now);
    char uuid [40] = "";
    const char *event = "Alarm Raised";
    int64_t seq = self->seq + 1;

    json_t *alarm = NULL;
    sqlite3_stmt *stmt = self->find_active;
    sqlite3_reset (stmt);
    sqlite3_bind_int (stmt, 1, id);
    sqlite3_bind_text (stmt, 2, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        //  Already active: same occurrence, new detail
        alarm = s_row_alarm (stmt);
        snprintf (uuid, sizeof uuid, "%s", json_string_value (json_object_get (alarm, "uuid")));
        if (streq (json_string_value (json_object_get (alarm, "detail")), detail))
            event = NULL;    //  nothing a person would call a change
        sqlite3_reset (stmt);
        stmt = self->update_raise;
        sqlite3_reset (stmt);
        sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, detail, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 3, now, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 4, self->peer, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 5, def->severity, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 6, def->title, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 7, def->action, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (stmt, 8, seq);
    }
    else {
        sqlite3_reset (stmt);
        if (rc != SQLITE_DONE) {
            *reply = s_error ("the alarm table %s could not be read: %s", self->path, sqlite3_errstr (rc));
            s_damaged (self, rc);
            return ALARMS_ERROR;
        }
        s_uuid_new (uuid, sizeof uuid);
        alarm = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s}", "id", id, "uuid", uuid, "state",
                           "raised", "severity", def->severity, "title", def->title, "detail", detail, "action",
                           def->action, "peer", s_string (self->peer), "raised_at", now, "changed_at", now, "subject",
                           subject);
        stmt = self->insert;
        sqlite3_reset (stmt);
        sqlite3_bind_text (stmt, 1, uuid, -1, SQLITE_STATIC);
        sqlite3_bind_int (stmt, 2, id);
        sqlite3_bind_text (stmt, 3, subject, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 4, def->severity, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 5, def->title, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 6, detail, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 7, def->action, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 8, self->peer, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 9, now, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (stmt, 10, seq);
    }
    rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (rc != SQLITE_DONE) {
        json_decref (alarm);
        *reply = s_error ("the alarm table %s could not be written: %s", self->path, sqlite3_errstr (rc));
        s_damaged (self, rc);
        return ALARMS_ERROR;
    }
    self->seq = seq;
    //  The object as the table now holds it
    json_object_set_new (alarm, "severity", json_string (def->severity));
    json_object_set_new (alarm, "title", json_string (def->title));
    json_object_set_new (alarm, "detail", json_string (detail));
    json_object_set_new (alarm, "action", json_string (def->action));
    json_object_set_new (alarm, "peer", s_string (self->peer));
    json_object_set_new (alarm, "changed_at", json_string (now));
    cw_debug ("alarm raised id=%d subject=\"%s\" uuid=%s from=%s", id, subject, uuid, from ? from : "");
    s_change (self, json_incref (alarm), event, seq);
    s_defer (self, from, corr, true, json_pack ("{s:o}", "alarm", alarm));
    return ALARMS_DEFERRED;
}

//  Move ALARM (taken) to STATE; queue the change. 0 or -1.
static int
s_set_state (alarms_t *self, json_t *alarm, const char *state, const char *event)
{
    char now [40];
    alarms_now (now, sizeof now);
    sqlite3_stmt *stmt = self->set_state;
    sqlite3_reset (stmt);
    sqlite3_bind_text (stmt, 1, json_string_value (json_object_get (alarm, "uuid")), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text (stmt, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 3, now, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 4, self->seq + 1);
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (rc != SQLITE_DONE) {
        json_decref (alarm);
        s_damaged (self, rc);
        return -1;
    }
    self->seq++;
    json_object_set_new (alarm, "state", json_string (state));
    json_object_set_new (alarm, "changed_at", json_string (now));
    s_change (self, alarm, event, self->seq);
    return 0;
}

static alarms_status_t
s_clear (alarms_t *self, const char *from, uint64_t corr, json_t *args, json_t **reply)
{
    int id = 0;
    const char *subject = NULL;
    bool by_subject = json_object_get (args, "subject") != NULL && !json_is_null (json_object_get (args, "subject"));
    if ((*reply = s_arg_id (args, &id))
        || (*reply = s_arg_string (args, "subject", false, ALARMS_SUBJECT_MAX, &subject))
        || !s_allowed (from, id, reply))
        return ALARMS_ERROR;
    if (s_begin (self) != 0) {
        *reply = s_error ("the alarm table could not be written; try again");
        return ALARMS_ERROR;
    }
    //  Collect the active alarms first, then change them
    sqlite3_stmt *stmt = by_subject ? self->active_of_key : self->active_of_id;
    sqlite3_reset (stmt);
    sqlite3_bind_int (stmt, 1, id);
    if (by_subject)
        sqlite3_bind_text (stmt, 2, subject, -1, SQLITE_STATIC);
    json_t *active = json_array ();
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        json_array_append_new (active, s_row_alarm (stmt));
    sqlite3_reset (stmt);
    s_damaged (self, rc);
    int cleared = 0;
    size_t index;
    json_t *alarm;
    json_array_foreach (active, index, alarm)
        if (s_set_state (self, json_incref (alarm), "cleared", "Alarm Lowered") == 0)
            cleared++;
    json_decref (active);
    cw_debug ("alarm cleared id=%d subject=\"%s\" count=%d from=%s", id, by_subject ? subject : "*", cleared,
              from ? from : "");
    s_defer (self, from, corr, true, json_pack ("{s:i}", "cleared", cleared));
    return ALARMS_DEFERRED;
}

static alarms_status_t
s_ack (alarms_t *self, const char *from, uint64_t corr, json_t *args, json_t **reply)
{
    const char *uuid;
    if ((*reply = s_arg_string (args, "uuid", true, 64, &uuid)))
        return ALARMS_ERROR;
    json_t *alarm = s_by_uuid (self, uuid);
    if (!alarm) {
        *reply = s_error ("no alarm with uuid '%s'", uuid);
        return ALARMS_ERROR;
    }
    const char *state = json_string_value (json_object_get (alarm, "state"));
    if (streq (state, "cleared")) {
        json_decref (alarm);
        *reply = s_error ("alarm %s is already cleared", uuid);
        return ALARMS_ERROR;
    }
    if (streq (state, "acknowledged")) {
        *reply = json_pack ("{s:o}", "alarm", alarm);
        return ALARMS_OK;
    }
    if (s_begin (self) != 0 || s_set_state (self, json_incref (alarm), "acknowledged", "Alarm Acknowledged") != 0) {
        json_decref (alarm);
        *reply = s_error ("the alarm table could not be written; try again");
        return ALARMS_ERROR;
    }
    s_defer (self, from, corr, true, json_pack ("{s:o}", "alarm", alarm));
    return ALARMS_DEFERRED;
}

static alarms_status_t
s_list (alarms_t *self, json_t *args, json_t **reply)
{
    json_t *all = json_object_get (args, "all");
    if (all && !json_is_boolean (all) && !json_is_null (all)) {
        *reply = s_error ("argument 'all' must be true or false");
        return ALARMS_ERROR;
    }
    alarms_flush (self);    //  list what is committed
    sqlite3_stmt *stmt = self->list_active;
    if (json_is_true (all)) {
        stmt = self->list_all;
        sqlite3_reset (stmt);
        sqlite3_bind_int (stmt, 1, ALARMS_LIST_CAP);
    }
    sqlite3_reset (stmt);
    json_t *list = json_array ();
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        json_array_append_new (list, s_row_alarm (stmt));
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE) {
        json_decref (list);
        *reply = s_error ("the alarm table %s could not be read: %s", self->path, sqlite3_errstr (rc));
        s_damaged (self, rc);
        return ALARMS_ERROR;
    }
    *reply = json_pack ("{s:o}", "alarms", list);
    return ALARMS_OK;
}

alarms_status_t
alarms_request (alarms_t *self, const char *from, uint64_t corr, const char *command, json_t *args, json_t **reply)
{
    *reply = NULL;
    json_t *empty = NULL;
    if (!args || json_is_null (args))
        args = empty = json_object ();
    alarms_status_t status;
    if (!json_is_object (args)) {
        *reply = s_error ("the arguments of %s must be a JSON object", command ? command : "?");
        status = ALARMS_ERROR;
    }
    else if (!command)
        status = (*reply = s_error ("no command given"), ALARMS_ERROR);
    else if (self->problem)
        status = (*reply = s_error ("%s", self->problem), ALARMS_ERROR);
    else if (streq (command, "alarms.raise"))
        status = s_raise (self, from, corr, args, reply);
    else if (streq (command, "alarms.clear"))
        status = s_clear (self, from, corr, args, reply);
    else if (streq (command, "alarms.ack"))
        status = s_ack (self, from, corr, args, reply);
    else if (streq (command, "alarms.list"))
        status = s_list (self, args, reply);
    else {
        *reply = s_error ("unknown command '%s' (alarms.raise, alarms.clear, alarms.ack,"
                          " alarms.list)",
                          command);
        status = ALARMS_ERROR;
    }
    json_decref (empty);
    return status;
}

//  ---------------------------------------------------------------------
//  The loop

static int
s_xpub_reader (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    alarms_t *self = (alarms_t *) arg;
    for (size_t i = 0; i < self->xpub_count; i++)
        if (self->xpub [i] == reader)
            alarms_subscriptions (self, i);
    return 0;
}

static int
s_heartbeat_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    alarms_t *self = (alarms_t *) arg;
    alarms_heartbeat (self);
    alarms_prune (self, ALARMS_KEEP_CLEARED);
    if (!s_syslog_up)
        s_syslog_probe ();
    return 0;
}

int
alarms_attach (alarms_t *self, zloop_t *loop, int heartbeat_ms)
{
    self->loop = loop;
    for (size_t i = 0; i < self->xpub_count; i++)
        if (zloop_reader (loop, self->xpub [i], s_xpub_reader, self) != 0)
            return -1;
    if (heartbeat_ms > 0) {
        self->heartbeat_timer = zloop_timer (loop, heartbeat_ms, 0, s_heartbeat_timer, self);
        if (self->heartbeat_timer < 0)
            return -1;
    }
    return 0;
}
