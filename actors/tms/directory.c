/*  directory.c - the provisioning data served on every peer (directory.h).

    One SQLite file, <state_dir>/tms_directory.db, a table per service:
    users and templates (id, hash, value), findme (id, hash, alias key,
    user, value). "hash" is a 64-bit FNV-1a of the stored text: a row
    seen again unchanged is not written. The phone book is in memory
    (phonebook.h), rebuilt from the cluster data at every start.

    Sections: text keys (pure), the database, applying rows, loading a
    namespace, search, commands, life cycle.
*/
#include "directory.h"
#include "rowscan.h"

#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "cw_text.h"
#include "phonebook.h"

#define S_FILE "tms_directory.db"
#define S_SCHEMA_VERSION 4
#define S_PAGE 1000
#define S_LIST_TIMEOUT_MS 15000
#define S_RETRY_MS 1000
#define S_TICK_MS 250
#define S_BEAT_MS 100
//  The phone book's changes are sorted in after this long without one
#define S_SETTLE_MS 1000
#define S_PB_TEXT_MAX 16384    //  a phone book field longer than this is refused
#define S_KEY_MAX 256
#define S_QUERY_MAX 128
#define S_SEARCH_DEFAULT 20
#define S_SEARCH_MAX 100
#define S_LIST_DEFAULT 100
#define S_LIST_MAX 1000
//  Above every key (keys are UTF-8, which never has the byte 0xFF)
#define S_TOP "\xff"

enum {
    S_USERS,
    S_FINDME,
    S_PHONEBOOKS,
    S_TEMPLATES,
    S_SPACES
};
static const char *const s_services [S_SPACES] = { "users", "findme", "phonebooks", "templates" };
//  The phone book has no table: it is in memory
static const char *const s_tables [S_SPACES] = { "users", "findme", NULL, "templates" };

typedef struct {
    tms_directory_t *self;
    int index;
    char ns [32];
    bool ready;             //  read from the cluster data since this start
    bool loading;           //  a read is under way
    bool reload_again;      //  a change without rows arrived during the read
    char *after;            //  the last key the read got
    int64_t seq;            //  last data seq applied
    int64_t rows;           //  rows cached
    int64_t retry_at_ms;    //  start a read at (0 = no)
} s_space_t;

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_META_SET,
    S_USER_GET,
    S_FINDME_PUT,
    S_VALUE_PUT_USERS,
    S_VALUE_PUT_TEMPLATES,
    S_FINDME_BY_ID,
    S_FINDME_BY_ALIAS,
    S_FINDME_LIST,
    S_HASH_GET,    //  + space index (4 statements)
    S_DELETE = S_HASH_GET + S_SPACES,
    S_RANGE = S_DELETE + S_SPACES,
    S_STATEMENTS = S_RANGE + S_SPACES
};

struct _tms_directory_t {
    cw_actor_t *actor;
    char path [4200];
    sqlite3 *db;
    sqlite3_stmt *stmt [S_STATEMENTS];
    bool damaged;          //  made again on the next tick
    int64_t beat_at_ms;    //  last heartbeat sent from inside a long apply
    unsigned applied;      //  rows applied since the last look at the clock
    int timer_id;
    s_space_t spaces [S_SPACES];
    tms_phonebook_t *phonebook;
    bool phonebook_changed;    //  since the last tick
    int phonebook_quiet;       //  ticks without a change
};

// ---------------------------------------------------------------------------
//  Text keys (pure)

//  Folds of U+00C0..U+017F: a letter, '*' (see s_fold_wide), '.' (kept)
static const char s_fold_table [] = "aaaaaa*ceeeeiiii"
                                    "dnooooo.ouuuuy**"
                                    "aaaaaa*ceeeeiiii"
                                    "dnooooo.ouuuuy*y"
                                    "aaaaaaccccccccdd"
                                    "ddeeeeeeeeeegggg"
                                    "gggghhhhiiiiiiii"
                                    "ii**jjkkklllllll"
                                    "lllnnnnnnnnnoooo"
                                    "oo**rrrrrrssssss"
                                    "ssttttttuuuuuuuu"
                                    "uuuuwwyyyzzzzzzs";

static const char *
s_fold_wide (unsigned code)
{
    switch (code) {
        case 0xC6:
        case 0xE6:
            return "ae";
        case 0xDE:
        case 0xFE:
            return "th";
        case 0xDF:
            return "ss";
        case 0x132:
        case 0x133:
            return "ij";
        case 0x152:
        case 0x153:
            return "oe";
        default:
            return "";
    }
}

//  Length of the UTF-8 sequence starting with byte C (1 for a stray byte)
static size_t
s_utf8_len (unsigned char c)
{
    return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
}

size_t
tms_directory_normalise (const char *text, char *out, size_t outlen)
{
    if (!outlen)
        return 0;
    size_t n = 0;
    bool space = false;
    const unsigned char *p = (const unsigned char *) (text ? text : "");
    while (*p) {
        char folded [4] = "";
        const char *piece = folded;
        size_t piecelen = 1, step = 1;
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') {
            space = n > 0;
            p++;
            continue;
        }
        if (*p < 0x80)
            folded [0] = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        else {
            step = s_utf8_len (*p);
            for (size_t i = 1; i < step; i++)
                if ((p [i] & 0xC0) != 0x80)
                    step = 1;
            unsigned code = step == 2 ? ((p [0] & 0x1Fu) << 6) | (p [1] & 0x3Fu) : 0;
            char fold = code >= 0xC0 && code <= 0x17F ? s_fold_table [code - 0xC0] : '.';
            if (fold == '*') {
                piece = s_fold_wide (code);
                piecelen = strlen (piece);
            }
            else if (fold != '.')
                folded [0] = fold;
            else {
                piece = (const char *) p;
                piecelen = step;
            }
        }
        if (n + (space ? 1 : 0) + piecelen > outlen - 1)
            break;
        if (space)
            out [n++] = ' ';
        space = false;
        memcpy (out + n, piece, piecelen);
        n += piecelen;
        p += step;
    }
    out [n] = 0;
    return n;
}

//  Remove a leading URI scheme (sip:, sips:, tel:) of KEY in place
static size_t
s_strip_scheme (char *key, size_t len)
{
    static const char *const schemes [] = { "sip:", "sips:", "tel:" };
    for (size_t i = 0; i < 3; i++) {
        size_t skip = strlen (schemes [i]);
        if (len >= skip && memcmp (key, schemes [i], skip) == 0) {
            memmove (key, key + skip, len - skip + 1);
            return len - skip;
        }
    }
    return len;
}

//  KEY's digits only, in place, when it reads as a telephone number
static size_t
s_phone_digits (char *key, size_t len)
{
    size_t digits = 0;
    for (size_t i = 0; i < len; i++) {
        if (key [i] >= '0' && key [i] <= '9')
            digits++;
        else if (!strchr ("+-()./ ", key [i]))
            return len;
    }
    if (!digits)
        return len;
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (key [i] >= '0' && key [i] <= '9')
            key [n++] = key [i];
    key [n] = 0;
    return n;
}

size_t
tms_directory_query_key (const char *query, char *out, size_t outlen)
{
    size_t len = tms_directory_normalise (query, out, outlen);
    len = s_strip_scheme (out, len);
    return s_phone_digits (out, len);
}

//  Append TOKEN (LEN bytes) as a line of OUT unless empty, too long or there already
static int
s_token_add (char *out, size_t outlen, const char *token, size_t len)
{
    if (!len)
        return 0;
    size_t used = strlen (out);
    for (const char *line = out; *line;) {
        size_t linelen = strcspn (line, "\n");
        if (linelen == len && memcmp (line, token, len) == 0)
            return 0;
        line += linelen + (line [linelen] == '\n');
    }
    if (used + (used ? 1 : 0) + len + 1 > outlen)
        return 0;
    if (used)
        out [used++] = '\n';
    memcpy (out + used, token, len);
    out [used + len] = 0;
    return 1;
}

int
tms_directory_tokens (const char *name, const char *number, const char *uri, char *sortkey, size_t sortkeylen,
                      char *out, size_t outlen)
{
    if (!outlen)
        return 0;
    out [0] = 0;
    int count = 0;
    size_t len = tms_directory_normalise (name, sortkey, sortkeylen);
    for (size_t i = 1; i < len; i++)
        if ((sortkey [i - 1] == ' ' || sortkey [i - 1] == '-') && sortkey [i] != ' ' && sortkey [i] != '-')
            count += s_token_add (out, outlen, sortkey + i, len - i);
    char key [S_KEY_MAX];
    len = tms_directory_normalise (number, key, sizeof key);
    size_t digits = 0;
    for (size_t i = 0; i < len; i++)
        if (key [i] >= '0' && key [i] <= '9')
            key [digits++] = key [i];
    count += s_token_add (out, outlen, key, digits);
    len = s_strip_scheme (key, tms_directory_normalise (uri, key, sizeof key));
    count += s_token_add (out, outlen, key + (key [0] == '+'), len - (key [0] == '+'));
    return count;
}

//  64-bit FNV-1a of TEXT
static int64_t
s_hash (const char *text)
{
    uint64_t hash = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        hash = (hash ^ *p) * 1099511628211ull;
    return (int64_t) hash;
}

// ---------------------------------------------------------------------------
//  The database

static const char *const s_schema =
    "CREATE TABLE IF NOT EXISTS meta (ns TEXT PRIMARY KEY, seq INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, h INTEGER NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS templates (id TEXT PRIMARY KEY, h INTEGER NOT NULL, value TEXT NOT NULL) "
    "WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS findme (id TEXT PRIMARY KEY, h INTEGER NOT NULL, alias TEXT NOT NULL,"
    " user TEXT NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS findme_alias ON findme (alias);";

static const char *const s_sql [S_STATEMENTS] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_META_SET] = "INSERT OR REPLACE INTO meta (ns, seq) VALUES (?1, ?2)",
    [S_USER_GET] = "SELECT value FROM users WHERE id = ?1",
    [S_FINDME_PUT] = "INSERT OR REPLACE INTO findme (id, h, alias, user, value) VALUES (?1, ?2, ?3, ?4, ?5)",
    [S_VALUE_PUT_USERS] = "INSERT OR REPLACE INTO users (id, h, value) VALUES (?1, ?2, ?3)",
    [S_VALUE_PUT_TEMPLATES] = "INSERT OR REPLACE INTO templates (id, h, value) VALUES (?1, ?2, ?3)",
    [S_FINDME_BY_ID] = "SELECT value FROM findme WHERE id = ?1",
    [S_FINDME_BY_ALIAS] = "SELECT value FROM findme WHERE alias = ?1 ORDER BY id LIMIT 1",
    [S_FINDME_LIST] = "SELECT id, value FROM findme WHERE id > ?1 AND (?2 = '' OR (alias >= ?2 AND alias < ?3)"
                      " OR (lower (id) >= ?2 AND lower (id) < ?3) OR (lower (user) >= ?2 AND lower (user) < ?3))"
                      " ORDER BY id LIMIT ?4",
    [S_HASH_GET + S_USERS] = "SELECT h FROM users WHERE id = ?1",
    [S_HASH_GET + S_FINDME] = "SELECT h FROM findme WHERE id = ?1",
    [S_HASH_GET + S_TEMPLATES] = "SELECT h FROM templates WHERE id = ?1",
    [S_DELETE + S_USERS] = "DELETE FROM users WHERE id = ?1",
    [S_DELETE + S_FINDME] = "DELETE FROM findme WHERE id = ?1",
    [S_DELETE + S_TEMPLATES] = "DELETE FROM templates WHERE id = ?1",
    [S_RANGE + S_USERS] = "SELECT id, h FROM users WHERE id > ?1 AND id <= ?2 ORDER BY id",
    [S_RANGE + S_FINDME] = "SELECT id, h FROM findme WHERE id > ?1 AND id <= ?2 ORDER BY id",
    [S_RANGE + S_TEMPLATES] = "SELECT id, h FROM templates WHERE id > ?1 AND id <= ?2 ORDER BY id",
};

//  Note a statement's result: damage makes the file again on the next tick
static int
s_check (tms_directory_t *self, int rc)
{
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        if (!self->damaged)
            cw_error ("directory: %s is damaged (%s); it is made again from the cluster data", self->path,
                      sqlite3_errstr (rc));
        self->damaged = true;
    }
    else if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
        cw_warn ("directory: %s", sqlite3_errmsg (self->db));
    return rc;
}

//  Run statement S to its end (bound already), then reset it
static int
s_run (tms_directory_t *self, int s)
{
    int rc = sqlite3_step (self->stmt [s]);
    sqlite3_reset (self->stmt [s]);
    sqlite3_clear_bindings (self->stmt [s]);
    return s_check (self, rc) == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static void
s_close (tms_directory_t *self)
{
    for (int i = 0; i < S_STATEMENTS; i++) {
        sqlite3_finalize (self->stmt [i]);
        self->stmt [i] = NULL;
    }
    sqlite3_close (self->db);
    self->db = NULL;
}

static void
s_remove_files (tms_directory_t *self)
{
    char other [4300];
    unlink (self->path);
    snprintf (other, sizeof other, "%s-wal", self->path);
    unlink (other);
    snprintf (other, sizeof other, "%s-shm", self->path);
    unlink (other);
}

static int64_t
s_count (tms_directory_t *self, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int64_t value = 0;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        value = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

//  This boot's id (empty when unknown) into BOOT
static void
s_boot_id (char *boot, size_t len)
{
    boot [0] = 0;
    FILE *file = fopen ("/proc/sys/kernel/random/boot_id", "r");
    if (file) {
        if (!fgets (boot, (int) len, file))
            boot [0] = 0;
        boot [strcspn (boot, "\n")] = 0;
        fclose (file);
    }
}

//  The file is written without fsync (synchronous OFF): it survives the
//  actor's death (the system holds the writes), not the system's. It is
//  trusted when it was closed cleanly or opened last during this boot;
//  else the reason it is not (it is made again). Marks it open.
static const char *
s_trust (tms_directory_t *self)
{
    char boot [64], last [64] = "", clean [8] = "";
    s_boot_id (boot, sizeof boot);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (self->db, "SELECT key, value FROM state", -1, &stmt, NULL) != SQLITE_OK)
        return "its state cannot be read";
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        const char *value = (const char *) sqlite3_column_text (stmt, 1);
        if (key && value && strcmp (key, "boot") == 0)
            cw_copy (last, sizeof last, value);
        else if (key && value && strcmp (key, "clean") == 0)
            cw_copy (clean, sizeof clean, value);
    }
    sqlite3_finalize (stmt);
    if (*last && strcmp (last, boot) != 0 && strcmp (clean, "1") != 0)
        return "the system stopped while it was open";
    char sql [256];
    snprintf (sql, sizeof sql, "INSERT OR REPLACE INTO state (key, value) VALUES ('boot', '%.64s'), ('clean', '0')",
              boot);
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? NULL : "its state cannot be written";
}

//  Close the file as trusted on the next start: synced, marked clean
static void
s_close_clean (tms_directory_t *self)
{
    if (self->db && !self->damaged)
        sqlite3_exec (self->db,
                      "PRAGMA synchronous = FULL;"
                      "INSERT OR REPLACE INTO state (key, value) VALUES ('clean', '1');"
                      "PRAGMA wal_checkpoint (TRUNCATE)",
                      NULL, NULL, NULL);
    s_close (self);
}

//  Open the file (once more from nothing when it cannot be used). 0 or -1.
static int
s_open (tms_directory_t *self, char *err, size_t errlen)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        const char *why = NULL;
        int rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_busy_timeout (self->db, 2000);
            int64_t version = -1;
            rc = sqlite3_exec (self->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
            if (rc == SQLITE_OK)
                version = s_count (self, "PRAGMA user_version");
            if (rc == SQLITE_OK && version != 0 && version != S_SCHEMA_VERSION)
                why = "another schema";
            else if (rc == SQLITE_OK)
                rc = sqlite3_exec (self->db,
                                   "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;"
                                   "PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = 67108864",
                                   NULL, NULL, NULL);
            if (rc == SQLITE_OK && !why)
                rc = sqlite3_exec (self->db, s_schema, NULL, NULL, NULL);
            if (rc == SQLITE_OK && !why && version == 0) {
                char pragma [64];
                snprintf (pragma, sizeof pragma, "PRAGMA user_version = %d", S_SCHEMA_VERSION);
                rc = sqlite3_exec (self->db, pragma, NULL, NULL, NULL);
            }
            for (int i = 0; rc == SQLITE_OK && !why && i < S_STATEMENTS; i++)
                if (s_sql [i])
                    rc = sqlite3_prepare_v3 (self->db, s_sql [i], -1, SQLITE_PREPARE_PERSISTENT, &self->stmt [i], NULL);
            if (rc != SQLITE_OK && !why)
                why = sqlite3_errmsg (self->db);
            if (!why)
                why = s_trust (self);
        }
        else
            why = sqlite3_errstr (rc);
        if (!why)
            break;
        cw_warn ("directory: %s cannot be used (%s); made again", self->path, why);
        s_close (self);
        s_remove_files (self);
        if (attempt == 1) {
            snprintf (err, errlen, "directory: %s cannot be created", self->path);
            return -1;
        }
    }
    for (int i = 0; i < S_SPACES; i++) {
        s_space_t *space = &self->spaces [i];
        if (!s_tables [i])
            continue;
        char sql [128];
        snprintf (sql, sizeof sql, "SELECT count (*) FROM %s", s_tables [i]);
        space->rows = s_count (self, sql);
        sqlite3_stmt *stmt = NULL;
        space->seq = 0;
        if (sqlite3_prepare_v2 (self->db, "SELECT seq FROM meta WHERE ns = ?1", -1, &stmt, NULL) == SQLITE_OK) {
            sqlite3_bind_text (stmt, 1, space->ns, -1, SQLITE_STATIC);
            if (sqlite3_step (stmt) == SQLITE_ROW)
                space->seq = sqlite3_column_int64 (stmt, 0);
        }
        sqlite3_finalize (stmt);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  Applying rows

static void
s_bind_text (sqlite3_stmt *stmt, int column, const char *text)
{
    sqlite3_bind_text (stmt, column, text ? text : "", -1, SQLITE_TRANSIENT);
}

//  Remove KEY's row. 0 or -1.
static int
s_remove (tms_directory_t *self, int index, const char *key)
{
    sqlite3_bind_text (self->stmt [S_DELETE + index], 1, key, -1, SQLITE_STATIC);
    return s_run (self, S_DELETE + index);
}

//  Insert KEY's row from VALUE (its stored text, hash H). 1 when written,
//  0 when VALUE does not read as a row of the service (left out), -1.
static int
s_insert (tms_directory_t *self, int index, const char *key, const char *value, int64_t h)
{
    json_t *row = json_loads (value, 0, NULL);
    if (!json_is_object (row)) {
        json_decref (row);
        return 0;
    }
    int rc = 0;
    if (index == S_FINDME) {
        char alias [S_KEY_MAX];
        s_strip_scheme (alias, tms_directory_normalise (cw_jtext (row, "alias"), alias, sizeof alias));
        sqlite3_stmt *put = self->stmt [S_FINDME_PUT];
        sqlite3_bind_text (put, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (put, 2, h);
        s_bind_text (put, 3, alias);
        s_bind_text (put, 4, cw_jtext (row, "user"));
        sqlite3_bind_text (put, 5, value, -1, SQLITE_STATIC);
        rc = s_run (self, S_FINDME_PUT);
    }
    else {
        int s = index == S_USERS ? S_VALUE_PUT_USERS : S_VALUE_PUT_TEMPLATES;
        sqlite3_bind_text (self->stmt [s], 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (self->stmt [s], 2, h);
        sqlite3_bind_text (self->stmt [s], 3, value, -1, SQLITE_STATIC);
        rc = s_run (self, s);
    }
    json_decref (row);
    return rc ? -1 : 1;
}

//  A big event or page takes a while to apply: tell causewayd we are alive
static void
s_alive (tms_directory_t *self)
{
    if (++self->applied % 256)
        return;
    int64_t now = zclock_mono ();
    if (now - self->beat_at_ms >= S_BEAT_MS) {
        cw_actor_heartbeat (self->actor);
        self->beat_at_ms = now;
    }
}

//  Make KEY's cached row VALUE (NULL: none), knowing whether it EXISTS
//  with hash OLD. Updates the row count. 0 or -1.
static int
s_apply (s_space_t *space, const char *key, const char *value, bool exists, int64_t old)
{
    tms_directory_t *self = space->self;
    s_alive (self);
    int64_t h = value ? s_hash (value) : 0;
    if (value && exists && h == old)
        return 0;
    if (exists) {
        if (s_remove (self, space->index, key))
            return -1;
        space->rows--;
    }
    if (!value)
        return 0;
    int rc = s_insert (self, space->index, key, value, h);
    if (rc == 0)
        cw_warn ("directory: the row ns=%s key=%.64s is not a JSON object; left out", space->ns, key);
    space->rows += rc == 1;
    return rc < 0 ? -1 : 0;
}

//  Apply one row, looking its present hash up
static int
s_apply_row (s_space_t *space, const char *key, const char *value)
{
    sqlite3_stmt *get = space->self->stmt [S_HASH_GET + space->index];
    sqlite3_bind_text (get, 1, key, -1, SQLITE_STATIC);
    int rc = s_check (space->self, sqlite3_step (get));
    bool exists = rc == SQLITE_ROW;
    int64_t old = exists ? sqlite3_column_int64 (get, 0) : 0;
    sqlite3_reset (get);
    sqlite3_clear_bindings (get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return -1;
    return s_apply (space, key, value, exists, old);
}

static int
s_begin (tms_directory_t *self)
{
    return self->db && !self->damaged ? s_run (self, S_BEGIN) : -1;
}

//  Commit (OK) or roll back, recording SPACE's seq. A rollback leaves the
//  row count unknown: it is read again.
static int
s_end (s_space_t *space, bool ok)
{
    tms_directory_t *self = space->self;
    if (ok) {
        sqlite3_bind_text (self->stmt [S_META_SET], 1, space->ns, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (self->stmt [S_META_SET], 2, space->seq);
        ok = s_run (self, S_META_SET) == 0 && s_run (self, S_COMMIT) == 0;
    }
    if (!ok) {
        s_run (self, S_ROLLBACK);
        char sql [128];
        snprintf (sql, sizeof sql, "SELECT count (*) FROM %s", s_tables [space->index]);
        space->rows = s_count (self, sql);
    }
    return ok ? 0 : -1;
}

//  Inside a long merge of the phone book
static void
s_beat (void *arg)
{
    tms_directory_t *self = arg;
    int64_t now = zclock_mono ();
    if (now - self->beat_at_ms >= S_BEAT_MS) {
        cw_actor_heartbeat (self->actor);
        self->beat_at_ms = now;
    }
}

//  Make phone book entry KEY that of VALUE (the row's text; NULL: none)
static void
s_pb_apply (s_space_t *space, const char *key, const char *value)
{
    tms_directory_t *self = space->self;
    s_alive (self);
    uint64_t h = value ? (uint64_t) s_hash (value) : 0;
    if (value && tms_phonebook_touch (self->phonebook, key, h))
        return;
    self->phonebook_changed = true;
    //  Read in place: a row is a flat object of texts (rowscan.h)
    static const char *const names [] = { "book", "name", "uri", "number" };
    tms_span_t found [4];
    char text [4][S_PB_TEXT_MAX];
    const char *field [4];
    bool object = value && tms_scan_object (value, strlen (value), names, 4, found) == 0;
    for (int i = 0; object && i < 4; i++) {
        field [i] = tms_scan_string (found [i], text [i], sizeof text [i]);
        //  Absent or not text: empty, as cw_jtext reads it; too long: refused below
        if (!field [i])
            field [i] = found [i].at && found [i].at [0] == '"' ? NULL : "";
    }
    if (!object) {
        tms_phonebook_remove (self->phonebook, key);
        if (value)
            cw_warn ("directory: the row ns=%s key=%.64s is not a JSON object; left out", space->ns, key);
    }
    else if (!field [0] || !field [1] || !field [2] || !field [3]
             || tms_phonebook_put (self->phonebook, key, field [0], field [1], field [2], field [3], h) != 0)
        cw_warn ("directory: the row ns=%s key=%.64s is too long or memory is short; left out", space->ns, key);
    space->rows = (int64_t) tms_phonebook_size (self->phonebook);
}

//  Apply the rows of an event or a page to the phone book; the last page
//  of a read removes the entries it did not see
static void
s_pb_rows (s_space_t *space, json_t *rows, bool last_page)
{
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        if (key)
            s_pb_apply (space, key, json_string_value (json_array_get (row, 1)));
    }
    if (last_page) {
        if (tms_phonebook_sweep_end (space->self->phonebook))
            space->self->phonebook_changed = true;
        space->rows = (int64_t) tms_phonebook_size (space->self->phonebook);
        tms_phonebook_settle (space->self->phonebook);
    }
}

// ---------------------------------------------------------------------------
//  Loading a namespace

typedef struct {
    char *key;
    int64_t h;
} s_local_t;

//  Make the cached rows of the key range after AFTER up to the page's
//  last key (or every key when it is the last page) those of ROWS.
static int
s_apply_page (s_space_t *space, const char *after, json_t *rows, bool last_page)
{
    tms_directory_t *self = space->self;
    size_t count = json_array_size (rows);
    const char *upper = last_page || !count ? S_TOP
                                            : json_string_value (json_array_get (json_array_get (rows, count - 1), 0));
    if (!upper)
        return -1;
    //  The cached rows of the range, read first (the table changes after)
    size_t local_count = 0, local_max = count + 16;
    s_local_t *local = malloc (local_max * sizeof *local);
    sqlite3_stmt *range = self->stmt [S_RANGE + space->index];
    sqlite3_bind_text (range, 1, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (range, 2, upper, -1, SQLITE_STATIC);
    int rc;
    while (local && (rc = s_check (self, sqlite3_step (range))) == SQLITE_ROW) {
        if (local_count == local_max) {
            s_local_t *more = realloc (local, (local_max *= 2) * sizeof *local);
            if (!more)
                break;
            local = more;
        }
        local [local_count].key = strdup ((const char *) sqlite3_column_text (range, 0));
        local [local_count].h = sqlite3_column_int64 (range, 1);
        local_count++;
    }
    sqlite3_reset (range);
    sqlite3_clear_bindings (range);
    int result = local ? 0 : -1;
    size_t l = 0;
    for (size_t i = 0; result == 0 && i < count; i++) {
        json_t *row = json_array_get (rows, i);
        const char *key = json_string_value (json_array_get (row, 0));
        const char *value = json_string_value (json_array_get (row, 1));
        if (!key)
            continue;
        while (result == 0 && l < local_count && strcmp (local [l].key, key) < 0)
            result = s_apply (space, local [l++].key, NULL, true, 0);
        bool exists = l < local_count && strcmp (local [l].key, key) == 0;
        if (result == 0)
            result = s_apply (space, key, value, exists, exists ? local [l].h : 0);
        l += exists;
    }
    while (result == 0 && l < local_count)
        result = s_apply (space, local [l++].key, NULL, true, 0);
    for (size_t i = 0; i < local_count; i++)
        free (local [i].key);
    free (local);
    return result;
}

static void s_load_page (s_space_t *space);

static void
s_load_failed (s_space_t *space, const char *why)
{
    cw_warn ("directory: cannot read ns=%s (%s); trying again", space->ns, why);
    space->loading = false;
    space->retry_at_ms = zclock_mono () + S_RETRY_MS;
}

static void
s_load_start (s_space_t *space)
{
    if (space->loading) {
        space->reload_again = true;
        return;
    }
    space->loading = true;
    space->reload_again = false;
    space->retry_at_ms = 0;
    free (space->after);
    space->after = NULL;
    if (space->index == S_PHONEBOOKS)
        tms_phonebook_sweep_begin (space->self->phonebook);
    s_load_page (space);
}

static void
s_on_list (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_space_t *space = arg;
    if (!space->loading)
        return;
    if (!ok) {
        s_load_failed (space, cw_jtext (body, "error"));
        return;
    }
    json_t *rows = json_object_get (body, "rows");
    bool more = json_is_true (json_object_get (body, "more"));
    size_t count = json_array_size (rows);
    const char *last = count ? json_string_value (json_array_get (json_array_get (rows, count - 1), 0)) : NULL;
    if (!json_is_array (rows) || (more && !last)) {
        s_load_failed (space, "an unreadable page");
        return;
    }
    if (space->index == S_PHONEBOOKS)
        s_pb_rows (space, rows, !more);
    else if (s_begin (space->self) != 0 || s_end (space, s_apply_page (space, space->after, rows, !more) == 0) != 0) {
        s_load_failed (space, "the cache cannot be written");
        return;
    }
    if (more) {
        free (space->after);
        space->after = strdup (last);
        s_load_page (space);
        return;
    }
    json_int_t seq = json_integer_value (json_object_get (body, "seq"));
    if (seq > space->seq)
        space->seq = seq;
    space->loading = false;
    space->ready = true;
    free (space->after);
    space->after = NULL;
    cw_info ("directory: read ns=%s rows=%lld", space->ns, (long long) space->rows);
    if (space->reload_again)
        s_load_start (space);
}

static void
s_load_page (s_space_t *space)
{
    json_t *args = json_pack ("{s:s, s:s, s:i}", "ns", space->ns, "after", space->after ? space->after : "", "limit",
                              S_PAGE);
    if (cw_actor_request (space->self->actor, "replication", "replication.data.list", args, s_on_list, space,
                          S_LIST_TIMEOUT_MS)
        != 0) {
        s_load_failed (space, "the replication actor cannot be asked");
    }
}

void
tms_directory_on_event (tms_directory_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self || (ev->type != CW_MSG_EVENT && ev->type != CW_MSG_STATE)
        || strncmp (ev->command, "data.changed.tms.", 17) != 0)
        return;
    s_space_t *space = NULL;
    for (int i = 0; i < S_SPACES; i++)
        if (strcmp (ev->command + 13, self->spaces [i].ns) == 0)
            space = &self->spaces [i];
    if (!space)
        return;
    json_t *rows = json_object_get (body, "rows");
    json_int_t seq = json_integer_value (json_object_get (body, "seq"));
    if (!json_is_array (rows)) {
        s_load_start (space);
        return;
    }
    if (space->index == S_PHONEBOOKS) {
        s_pb_rows (space, rows, false);
        if (seq > space->seq)
            space->seq = seq;
        return;
    }
    if (s_begin (self) != 0) {
        s_load_start (space);
        return;
    }
    int rc = 0;
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        if (key && rc == 0)
            rc = s_apply_row (space, key, json_string_value (json_array_get (row, 1)));
    }
    if (rc == 0 && seq > space->seq)
        space->seq = seq;
    if (s_end (space, rc == 0) != 0)
        s_load_start (space);
}

//  ITEM, a row of an event ([key, value]), as the spans *KEY and *VALUE
//  (the event was checked whole: only the shape is left to check)
static int
s_pair (tms_span_t item, tms_span_t *key, tms_span_t *value)
{
    const char *p = item.at, *end = item.at + item.len;
    if (tms_scan_ws (&p, end) != '[')
        return -1;
    p++;
    tms_scan_ws (&p, end);
    key->at = p;
    if (tms_scan_value (&p, end))
        return -1;
    key->len = (size_t) (p - key->at);
    if (tms_scan_ws (&p, end) != ',')
        return -1;
    p++;
    tms_scan_ws (&p, end);
    value->at = p;
    if (tms_scan_value (&p, end))
        return -1;
    value->len = (size_t) (p - value->at);
    return tms_scan_ws (&p, end) == ']' ? 0 : -1;
}

bool
tms_directory_on_raw_event (tms_directory_t *self, const cw_envelope_t *ev)
{
    if (!self || (ev->type != CW_MSG_EVENT && ev->type != CW_MSG_STATE)
        || strcmp (ev->command, "data.changed.tms.phonebooks") != 0)
        return false;
    s_space_t *space = &self->spaces [S_PHONEBOOKS];
    static const char *const names [] = { "seq", "rows" };
    tms_span_t found [2];
    //  Not valid JSON (counted and dropped by the usual path) or rows null
    //  (a reload, by the usual path)
    if (tms_scan_object (ev->body, strlen (ev->body), names, 2, found) != 0 || !found [1].at
        || found [1].at [0] != '[')
        return false;
    int64_t seq = 0;
    tms_scan_int (found [0], &seq);
    char *text = NULL;
    size_t text_max = 0;
    const char *p = found [1].at + 1, *end = found [1].at + found [1].len;
    while (tms_scan_ws (&p, end) != ']') {
        tms_span_t item = { p, 0 }, key, value;
        tms_scan_value (&p, end);
        item.len = (size_t) (p - item.at);
        if (tms_scan_ws (&p, end) == ',')
            p++;
        if (s_pair (item, &key, &value) != 0)
            continue;
        //  Both decoded into one buffer: the key, then the value
        //  (tms_scan_string wants 4 bytes to spare)
        if (item.len + 8 > text_max) {
            char *grown = realloc (text, item.len + 8);
            if (!grown)
                continue;
            text = grown;
            text_max = item.len + 8;
        }
        const char *key_text = tms_scan_string (key, text, key.len + 4);
        const char *value_text = value.at [0] == '"' ? tms_scan_string (value, text + key.len + 4, value.len + 4) : NULL;
        if (key_text && (value_text || memcmp (value.at, "null", 4) == 0))
            s_pb_apply (space, key_text, value_text);
    }
    free (text);
    if (seq > space->seq)
        space->seq = seq;
    return true;
}

// ---------------------------------------------------------------------------
//  Search

//  Search the phone book for Q (a query key). The entries (new array) and *MORE.
static json_t *
s_search (tms_directory_t *self, const char *q, size_t limit, bool *more)
{
    tms_phonebook_entry_t found [S_SEARCH_MAX];
    size_t pending = tms_phonebook_pending (self->phonebook);
    int64_t started = zclock_mono ();
    size_t count = tms_phonebook_search (self->phonebook, q, limit, found, more);
    if (zclock_mono () - started >= 100)
        cw_info ("directory: a phone book search took ms=%lld (changes waiting to be sorted in: %zu)",
                 (long long) (zclock_mono () - started), pending);
    json_t *entries = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (entries,
                               json_pack ("{s:s, s:s, s:s, s:s, s:s}", "id", found [i].id, "book", found [i].book,
                                          "name", found [i].name, "uri", found [i].uri, "number", found [i].number));
    return entries;
}

// ---------------------------------------------------------------------------
//  Commands

//  The integer argument NAME of ARGS into *VALUE (DEFAULT when absent):
//  false when it is not an integer in MIN..MAX
static bool
s_int_arg (json_t *args, const char *name, json_int_t min, json_int_t max, json_int_t fallback, json_int_t *value)
{
    json_t *arg = json_object_get (args, name);
    if (!arg || json_is_null (arg)) {
        *value = fallback;
        return true;
    }
    *value = json_integer_value (arg);
    return json_is_integer (arg) && *value >= min && *value <= max;
}

//  The string argument NAME of ARGS (NULL when absent): false when it is
//  not a string
static bool
s_text_arg (json_t *args, const char *name, const char **value)
{
    json_t *arg = json_object_get (args, name);
    *value = json_is_string (arg) ? json_string_value (arg) : NULL;
    return !arg || json_is_null (arg) || json_is_string (arg);
}

static cw_reply_status_t
s_unavailable (tms_directory_t *self, json_t **reply)
{
    if (self->db && !self->damaged)
        return CW_REPLY_OK;
    *reply = cw_error_body ("the directory is being made again from the cluster data; try again shortly");
    return CW_REPLY_ERROR;
}

static cw_reply_status_t
s_cmd_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    tms_directory_t *self = arg;
    json_t *services = json_object ();
    for (int i = 0; i < S_SPACES; i++) {
        s_space_t *space = &self->spaces [i];
        json_object_set_new (services, s_services [i],
                             json_pack ("{s:I, s:I, s:b, s:b}", "rows", (json_int_t) space->rows, "seq",
                                        (json_int_t) space->seq, "ready", space->ready, "loading", space->loading));
    }
    *reply = json_pack ("{s:o, s:s}", "services", services, "db", self->path);
    return CW_REPLY_OK;
}

//  A FindMe account from its stored text, with its user's name when known
static json_t *
s_account (tms_directory_t *self, const char *value)
{
    json_t *account = json_loads (value, 0, NULL);
    if (!json_is_object (account)) {
        json_decref (account);
        return NULL;
    }
    sqlite3_stmt *get = self->stmt [S_USER_GET];
    sqlite3_bind_text (get, 1, cw_jtext (account, "user"), -1, SQLITE_STATIC);
    if (s_check (self, sqlite3_step (get)) == SQLITE_ROW) {
        json_t *user = json_loads ((const char *) sqlite3_column_text (get, 0), 0, NULL);
        if (json_is_string (json_object_get (user, "username")))
            json_object_set (account, "username", json_object_get (user, "username"));
        if (json_is_string (json_object_get (user, "display_name")))
            json_object_set (account, "display_name", json_object_get (user, "display_name"));
        json_decref (user);
    }
    sqlite3_reset (get);
    sqlite3_clear_bindings (get);
    return account;
}

static cw_reply_status_t
s_cmd_findme_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    tms_directory_t *self = arg;
    const char *query, *after;
    json_int_t limit;
    if (!s_text_arg (args, "query", &query) || (query && strlen (query) > S_QUERY_MAX)) {
        *reply = cw_error_body ("tms.findme.list: 'query' must be text of at most %d characters", S_QUERY_MAX);
        return CW_REPLY_ERROR;
    }
    if (!s_int_arg (args, "limit", 1, S_LIST_MAX, S_LIST_DEFAULT, &limit)) {
        *reply = cw_error_body ("tms.findme.list: 'limit' must be a number from 1 to %d", S_LIST_MAX);
        return CW_REPLY_ERROR;
    }
    if (!s_text_arg (args, "after", &after) || (after && strlen (after) > S_KEY_MAX)) {
        *reply = cw_error_body ("tms.findme.list: 'after' must be the id of an account");
        return CW_REPLY_ERROR;
    }
    if (s_unavailable (self, reply) != CW_REPLY_OK)
        return CW_REPLY_ERROR;
    char q [S_KEY_MAX], upper [S_KEY_MAX + 2];
    s_strip_scheme (q, tms_directory_normalise (query, q, sizeof q));
    snprintf (upper, sizeof upper, "%s" S_TOP, q);
    sqlite3_stmt *list = self->stmt [S_FINDME_LIST];
    sqlite3_bind_text (list, 1, after ? after : "", -1, SQLITE_STATIC);
    sqlite3_bind_text (list, 2, q, -1, SQLITE_STATIC);
    sqlite3_bind_text (list, 3, upper, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (list, 4, limit + 1);
    json_t *accounts = json_array ();
    bool more = false;
    while (s_check (self, sqlite3_step (list)) == SQLITE_ROW) {
        if ((json_int_t) json_array_size (accounts) == limit) {
            more = true;
            break;
        }
        json_t *account = s_account (self, (const char *) sqlite3_column_text (list, 1));
        if (account)
            json_array_append_new (accounts, account);
    }
    sqlite3_reset (list);
    sqlite3_clear_bindings (list);
    *reply = json_pack ("{s:o, s:b}", "accounts", accounts, "more", more);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_findme_show (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    tms_directory_t *self = arg;
    const char *id, *alias;
    if (!s_text_arg (args, "id", &id) || !s_text_arg (args, "alias", &alias) || (!id && !alias)
        || (id && (!*id || strlen (id) > S_KEY_MAX)) || (alias && (!*alias || strlen (alias) > S_KEY_MAX))) {
        *reply = cw_error_body ("tms.findme.show: 'id' or 'alias' (text, 1..%d characters) is required", S_KEY_MAX);
        return CW_REPLY_ERROR;
    }
    if (s_unavailable (self, reply) != CW_REPLY_OK)
        return CW_REPLY_ERROR;
    char key [S_KEY_MAX];
    sqlite3_stmt *get = self->stmt [id ? S_FINDME_BY_ID : S_FINDME_BY_ALIAS];
    if (id)
        cw_copy (key, sizeof key, id);
    else
        s_strip_scheme (key, tms_directory_normalise (alias, key, sizeof key));
    sqlite3_bind_text (get, 1, key, -1, SQLITE_STATIC);
    json_t *account = NULL;
    if (s_check (self, sqlite3_step (get)) == SQLITE_ROW)
        account = s_account (self, (const char *) sqlite3_column_text (get, 0));
    sqlite3_reset (get);
    sqlite3_clear_bindings (get);
    if (!account && id && strchr (id, '@')) {
        //  An alias where the id goes (a REST path, the CLI's one word)
        get = self->stmt [S_FINDME_BY_ALIAS];
        s_strip_scheme (key, tms_directory_normalise (id, key, sizeof key));
        sqlite3_bind_text (get, 1, key, -1, SQLITE_STATIC);
        if (s_check (self, sqlite3_step (get)) == SQLITE_ROW)
            account = s_account (self, (const char *) sqlite3_column_text (get, 0));
        sqlite3_reset (get);
        sqlite3_clear_bindings (get);
    }
    if (!account) {
        *reply = cw_error_body ("no such FindMe account: %s", id ? id : alias);
        return CW_REPLY_ERROR;
    }
    *reply = json_pack ("{s:o}", "account", account);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_phonebook_search (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    tms_directory_t *self = arg;
    const char *query;
    json_int_t limit;
    if (!s_text_arg (args, "query", &query) || !query || !*query || strlen (query) > S_QUERY_MAX) {
        *reply = cw_error_body ("tms.phonebook.search: 'query' (text, 1..%d characters) is required", S_QUERY_MAX);
        return CW_REPLY_ERROR;
    }
    if (!s_int_arg (args, "limit", 1, S_SEARCH_MAX, S_SEARCH_DEFAULT, &limit)) {
        *reply = cw_error_body ("tms.phonebook.search: 'limit' must be a number from 1 to %d", S_SEARCH_MAX);
        return CW_REPLY_ERROR;
    }
    char q [S_KEY_MAX];
    if (tms_directory_query_key (query, q, sizeof q) == 0) {
        *reply = cw_error_body ("tms.phonebook.search: the query '%s' has nothing to search for", query);
        return CW_REPLY_ERROR;
    }
    bool more = false;
    json_t *entries = s_search (self, q, (size_t) limit, &more);
    *reply = json_pack ("{s:s, s:o, s:b}", "query", query, "entries", entries, "more", more);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "tms.directory.status", s_cmd_status, CW_CMD_IDEMPOTENT,
      "the provisioning data served by this peer: rows, seq and readiness per service" },
    { "tms.findme.list", s_cmd_findme_list, CW_CMD_IDEMPOTENT, "FindMe accounts {query?, limit?, after?}, by id" },
    { "tms.findme.show", s_cmd_findme_show, CW_CMD_IDEMPOTENT, "one FindMe account {id | alias}" },
    { "tms.phonebook.search", s_cmd_phonebook_search, CW_CMD_IDEMPOTENT,
      "phone book entries whose name, a word of it, number or URI starts with {query}, by name" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Life cycle

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_directory_t *self = arg;
    if (self->damaged) {
        char err [256];
        s_close (self);
        s_remove_files (self);
        self->damaged = false;
        if (s_open (self, err, sizeof err) != 0) {
            cw_error ("%s", err);
            self->damaged = true;
            return 0;
        }
        //  A read under way goes on (in the new file) and then reads again
        for (int i = 0; i < S_SPACES; i++) {
            if (!s_tables [i])
                continue;
            self->spaces [i].ready = false;
            if (self->spaces [i].loading)
                self->spaces [i].reload_again = true;
            else
                self->spaces [i].retry_at_ms = 1;
        }
    }
    //  The phone book's changes sorted in once they pause for a second
    self->phonebook_quiet = self->phonebook_changed ? 0 : self->phonebook_quiet + 1;
    self->phonebook_changed = false;
    size_t pending = tms_phonebook_pending (self->phonebook);
    int64_t quiet_ms = self->phonebook_quiet * S_TICK_MS;
    if (pending && quiet_ms >= S_SETTLE_MS) {
        int64_t started = zclock_mono ();
        tms_phonebook_settle (self->phonebook);
        cw_info ("directory: phone book changes sorted in changes=%zu entries=%zu ms=%lld", pending,
                 tms_phonebook_size (self->phonebook), (long long) (zclock_mono () - started));
    }
    int64_t now = zclock_mono ();
    for (int i = 0; i < S_SPACES; i++)
        if (self->spaces [i].retry_at_ms && now >= self->spaces [i].retry_at_ms)
            s_load_start (&self->spaces [i]);
    return 0;
}

tms_directory_t *
tms_directory_new (cw_actor_t *actor, char *err, size_t errlen)
{
    tms_directory_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "directory: out of memory");
        return NULL;
    }
    self->actor = actor;
    self->timer_id = -1;
    for (int i = 0; i < S_SPACES; i++) {
        self->spaces [i].self = self;
        self->spaces [i].index = i;
        snprintf (self->spaces [i].ns, sizeof self->spaces [i].ns, "tms.%s", s_services [i]);
        self->spaces [i].retry_at_ms = 1;    //  read on the first tick, once the actor is READY
    }
    snprintf (self->path, sizeof self->path, "%s/" S_FILE, cw_actor_bootstrap (actor)->node.state_dir);
    self->phonebook = tms_phonebook_new ();
    if (!self->phonebook) {
        snprintf (err, errlen, "directory: out of memory");
        tms_directory_destroy (&self);
        return NULL;
    }
    tms_phonebook_set_alive (self->phonebook, s_beat, self);
    if (s_open (self, err, errlen) != 0 || cw_actor_commands (actor, s_commands, self) != 0) {
        if (!*err)
            snprintf (err, errlen, "directory: cannot declare the commands");
        tms_directory_destroy (&self);
        return NULL;
    }
    self->timer_id = zloop_timer (cw_actor_loop (actor), S_TICK_MS, 0, s_on_tick, self);
    return self;
}

void
tms_directory_destroy (tms_directory_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_directory_t *self = *self_p;
    if (self->timer_id >= 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->timer_id);
    s_close_clean (self);
    for (int i = 0; i < S_SPACES; i++)
        free (self->spaces [i].after);
    tms_phonebook_destroy (&self->phonebook);
    free (self);
    *self_p = NULL;
}
