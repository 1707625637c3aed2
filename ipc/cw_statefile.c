/*  cw_statefile.c - state_dir and database checks (see cw_statefile.h).

    The marker file is a list of base names, one a line. Two actors may
    record a name at the same moment: each appends one short line with
    O_APPEND (a single write, atomic on a local file system), so a line is
    never torn; a name seen twice is harmless.
*/
#include "cw_statefile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
s_fail (char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf (err, errlen, fmt, a, b);
}

int
cw_state_dir_check (const char *dir, bool create, char *err, size_t errlen)
{
    if (!dir || !*dir) {
        s_fail (err, errlen, "%s%sno state_dir", "", "");
        return -1;
    }
    struct stat st;
    if (!create && stat (dir, &st) != 0) {
        s_fail (err, errlen, "state_dir %s cannot be used: %s", dir, strerror (errno));
        return -1;
    }
    char path [PATH_MAX];
    if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path) {
        s_fail (err, errlen, "state_dir %s%s is too long", dir, "");
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir (path, 0700) != 0 && errno != EEXIST) {
            s_fail (err, errlen, "state_dir %s cannot be created: %s", dir, strerror (errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir (path, 0700) != 0 && errno != EEXIST) {
        s_fail (err, errlen, "state_dir %s cannot be created: %s", dir, strerror (errno));
        return -1;
    }
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        s_fail (err, errlen, "state_dir %s is not a directory%s", dir, "");
        return -1;
    }
    //  The real test (access() would not see chattr +i, nor every mount):
    //  SQLite must be able to create its -wal and -shm files here.
    char probe [PATH_MAX];
    snprintf (probe, sizeof probe, "%s/.causeway-write-test.%d", dir, (int) getpid ());
    int fd = open (probe, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        s_fail (err, errlen, "state_dir %s is not writable: %s", dir, strerror (errno));
        return -1;
    }
    close (fd);
    unlink (probe);
    return 0;
}

bool
cw_state_marked (const char *dir, const char *file)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, CW_STATE_MARKER_FILE);
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char line [256];
    bool found = false;
    while (!found && fgets (line, sizeof line, f)) {
        line [strcspn (line, "\r\n")] = 0;
        found = strcmp (line, file) == 0;
    }
    fclose (f);
    return found;
}

int
cw_state_mark (const char *dir, const char *file)
{
    if (cw_state_marked (dir, file))
        return 0;
    char path [PATH_MAX], line [256];
    snprintf (path, sizeof path, "%s/%s", dir, CW_STATE_MARKER_FILE);
    int len = snprintf (line, sizeof line, "%s\n", file);
    int fd = open (path, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = write (fd, line, len) == len && fsync (fd) == 0 ? 0 : -1;
    close (fd);
    //  The new directory entry must survive a power cut too
    int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync (dfd);
        close (dfd);
    }
    return rc;
}

int
cw_state_expect (const char *dir, const char *file, char *err, size_t errlen)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, file);
    struct stat st;
    bool present = stat (path, &st) == 0;
    if (present && st.st_size > 0)
        return 0;
    if (!cw_state_marked (dir, file))
        return 0;
    s_fail (err, errlen,
            present ? "%s is empty (zero bytes), but this node had one (%s)"
                    : "%s is missing, but this node had one (%s)",
            path, CW_STATE_MARKER_FILE);
    return -1;
}

int
cw_state_quick_check (sqlite3 *db, const char *schema, char *err, size_t errlen)
{
    char sql [128];
    snprintf (sql, sizeof sql, "PRAGMA \"%s\".quick_check(1)", schema ? schema : "main");
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *) sqlite3_column_text (stmt, 0);
        if (text && strcmp (text, "ok") == 0) {
            sqlite3_finalize (stmt);
            return 0;
        }
        s_fail (err, errlen, "integrity check failed: %s%s", text ? text : "?", "");
        //  One line: the report starts with "*** in database main ***\n"
        for (char *p = err; p && *p; p++)
            if (*p == '\n')
                *p = ' ';
    }
    else
        s_fail (err, errlen, "integrity check failed: %s%s", sqlite3_errmsg (db), "");
    sqlite3_finalize (stmt);
    return -1;
}

bool
cw_state_is_damage (int rc)
{
    return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

int
cw_state_move_aside (const char *path, char *as, size_t aslen, char *err, size_t errlen)
{
    char stamp [32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    static const char *const suffixes [] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes [0]; i++) {
        char from [PATH_MAX], to [PATH_MAX];
        snprintf (from, sizeof from, "%s%s", path, suffixes [i]);
        snprintf (to, sizeof to, "%s.damaged-%s%s", path, stamp, suffixes [i]);
        if (i == 0 && as && aslen)
            snprintf (as, aslen, "%s", to);
        if (rename (from, to) != 0 && errno != ENOENT) {
            s_fail (err, errlen, "cannot move %s aside: %s", from, strerror (errno));
            return -1;
        }
    }
    return 0;
}

int
cw_state_open (const char *path, const char *schema, bool check, sqlite3 **db, bool *damage, char *err, size_t errlen)
{
    *damage = false;
    *db = NULL;
    int rc = sqlite3_open_v2 (path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    char *message = NULL;
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout (*db, 5000);
        rc = sqlite3_exec (*db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", NULL, NULL, &message);
    }
    if (rc == SQLITE_OK && check && cw_state_quick_check (*db, "main", err, errlen) != 0) {
        *damage = true;
        return -1;
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (*db, schema, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        *damage = cw_state_is_damage (*db ? sqlite3_extended_errcode (*db) : rc);
        snprintf (err, errlen, "cannot open %s: %s", path,
                  message ? message
                  : *db   ? sqlite3_errmsg (*db)
                          : "out of memory");
        sqlite3_free (message);
        return -1;
    }
    return 0;
}
