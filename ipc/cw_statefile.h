/*  cw_statefile.h - checks that the databases of <state_dir> are what they
    should be, shared by the actors that own one (replication: config.db and
    cluster.db; alarms: alarms.db).

    Three things are never left to SQLite's own error text:
      - a state_dir that cannot be created or written is named, with the
        system's reason ("state_dir /x is not writable: Read-only file
        system"), instead of "unable to open database file";
      - a database that existed and is now missing or empty is seen: the
        first time a database is found healthy its base name is recorded in
        <state_dir>/.causeway-state (one name a line, appended, fsynced);
        a recorded database that is missing or zero-length is damaged, not
        a fresh install to fill with defaults;
      - damage is found at start (PRAGMA quick_check) and at run time
        (SQLITE_CORRUPT / SQLITE_NOTADB from any statement).

    What to do about damage is the owner's decision; cw_state_move_aside
    keeps the damaged file (and its -wal and -shm) as
    <file>.damaged-<UTC time> for a post-mortem.
*/
#ifndef CW_STATEFILE_H
#define CW_STATEFILE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#define CW_STATE_MARKER_FILE ".causeway-state"
#define CW_ALARM_DAMAGED_DB 10002

//  Create DIR (mode 0700, parents too) when missing and CREATE, then check
//  that a file can be created in it. 0, or -1 with "state_dir DIR is not
//  writable: <reason>" (or "... cannot be created: <reason>", "... cannot
//  be used: <reason>") in ERR.
int cw_state_dir_check (const char *dir, bool create, char *err, size_t errlen);

//  Whether FILE (a base name such as "config.db") is recorded in
//  DIR/.causeway-state as a database that existed.
bool cw_state_marked (const char *dir, const char *file);
//  Record FILE in DIR/.causeway-state (nothing when it is already there).
//  0 or -1.
int cw_state_mark (const char *dir, const char *file);

//  Before opening DIR/FILE: 0 when it is present and not empty, or absent
//  and never recorded (a fresh node). -1 with the reason in ERR when it is
//  recorded as having existed and is now missing or zero-length.
int cw_state_expect (const char *dir, const char *file, char *err, size_t errlen);

//  PRAGMA SCHEMA.quick_check on DB (SCHEMA NULL = "main"). 0 when "ok", or
//  -1 with the first problem (or SQLite's error) in ERR.
int cw_state_quick_check (sqlite3 *db, const char *schema, char *err, size_t errlen);

//  True when RC (a primary or extended SQLite result code) says the file is
//  not a usable database: SQLITE_CORRUPT or SQLITE_NOTADB.
bool cw_state_is_damage (int rc);

//  Open PATH (created when absent) in WAL mode with synchronous=FULL,
//  quick_check it when CHECK, and run SCHEMA (CREATE ... IF NOT EXISTS).
//  0 with the handle in *DB; -1 with the reason in ERR, *DAMAGE telling
//  whether SQLite says the file is not a sound database, and *DB the
//  handle (for the caller to close) or NULL.
int cw_state_open (const char *path, const char *schema, bool check, sqlite3 **db, bool *damage, char *err,
                   size_t errlen);

//  Rename PATH, PATH-wal and PATH-shm (those present) to
//  PATH.damaged-<YYYYMMDDTHHMMSSZ>[-wal|-shm]. The new name of PATH into AS
//  (may be NULL). 0 or -1 with the reason in ERR.
int cw_state_move_aside (const char *path, char *as, size_t aslen, char *err, size_t errlen);

#endif
