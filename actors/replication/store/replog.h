/*  replog.h - the replication data layer of the cluster:
    changesets with sequence numbers, their retained history, the
    subordinate's ordered apply, and full snapshots of cluster.db.

    Cluster-scope data lives in <state_dir>/cluster.db, ATTACHed to the
    caller's connection as schema "cluster". Every replicated table has a
    PRIMARY KEY. Beside the data, cluster.db holds the bookkeeping:

        replog_meta    (name TEXT PRIMARY KEY, value)
            applied_seq   highest sequence committed (primary) or applied
                          (subordinate) here; 0 = none
            cluster_id    random id of the history, made by the primary that
                          formed it ('' = this peer has no history yet)
            head_hash     hex BLAKE2b-256 chain over every changeset so far:
                          hash(n) = H(hash(n-1) | seq(n) as le64 | changeset)
        replog_history (seq INTEGER PRIMARY KEY, changeset BLOB NOT NULL,
                        hash BLOB NOT NULL, committed_at TEXT NOT NULL)
            the last N changesets (default 10,000), for catch-up

    Why the history is in cluster.db and not in the per-peer config.db: in
    WAL mode SQLite commits each attached file separately, so a transaction
    spanning config.db and cluster.db is NOT atomic across a kill -9. The
    data, applied_seq and the history must move together, so they live in
    one file. The replog_* tables are never put in changesets (a session
    table filter excludes them); they do travel inside snapshots, so a
    subordinate restored from a snapshot holds the primary's history and
    can serve catch-up if it becomes primary.

    Two connections are used. The caller's (cluster attached): the primary's
    write path runs on it, so the caller's own SQL and the bookkeeping are
    one transaction. A private one, opened by cw_replog_new on the same
    cluster.db file as "main": SQLite applies changesets only to the main
    schema of a connection, so the subordinate's apply, the snapshot
    restore and the reset run there. Both use WAL and synchronous=FULL: a
    commit that returned is durable.

    Snapshots are the raw SQLite image of cluster.db (page-for-page copy
    through the backup API, so a consistent read transaction). Applying one
    validates it in a private in-memory database (header, quick_check, no
    triggers, replog_meta present and coherent with SEQ) and then copies it
    into cluster.db with the backup API in ONE write transaction: after a
    kill -9 at any moment cluster.db is either the old or the new one.

    The apply, snapshot and reset calls write cluster.db through the
    private connection: call them outside a write transaction on "cluster"
    of the caller's connection (they would wait on its lock; a replog write
    transaction of this object is refused outright).

    SQLite 3.40's changeset iterator loops forever on some truncated input
    (a lone 'T' byte), so changesets from a peer are parsed strictly by
    this module before SQLite sees them.

    Nothing a peer sends is asserted on: a corrupt or truncated changeset or
    snapshot is rejected with CW_REPLOG_INVALID and the local data is left
    as it was. The object is not thread-safe (one actor loop drives it).
*/
#ifndef CW_REPLOG_H
#define CW_REPLOG_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_REPLOG_CLUSTER_DB_FILE "cluster.db"
#define CW_REPLOG_SCHEMA "cluster"
#define CW_REPLOG_HISTORY_DEFAULT 10000
#define CW_REPLOG_HISTORY_MAX_BYTES (16 * 1024 * 1024)          //  history also kept under this size
#define CW_REPLOG_HISTORY_HOLD_MAX_BYTES (256 * 1024 * 1024)    //  ... and under this one while held
#define CW_REPLOG_HASH_HEX_LEN 64                               //  hex of a BLAKE2b-256 digest

typedef struct _cw_replog_t cw_replog_t;

//  Results. Negative = failure; positive = a normal outcome the caller must
//  act on (ask for catch-up, ask for a snapshot, ack again).
typedef enum {
    CW_REPLOG_OK = 0,
    CW_REPLOG_ERROR = -1,       //  local failure (I/O, SQLite, memory): err says
    CW_REPLOG_INVALID = -2,     //  peer sent bytes that are not a valid changeset /
                                //  snapshot (corrupt, truncated, wrong schema); nothing changed
    CW_REPLOG_DUPLICATE = 1,    //  seq already applied here: ack again, nothing changed
    CW_REPLOG_GAP = 2,          //  seq is ahead: catch up from *need_from (changesets > it)
    CW_REPLOG_CONFLICT = 3,     //  the change does not fit this peer's data, or the
                                //  histories diverged: take a snapshot (alarm 20011/20025)
    CW_REPLOG_TOO_OLD = 4       //  older than the retained history, or this peer has no
                                //  history yet: a snapshot is needed
} cw_replog_rc_t;

//  Printable name of a result ("ok", "gap", ...).
const char *cw_replog_rc_name (int rc);

// ---------------------------------------------------------------------------
//  Opening

//  Open (create) DIR/config.db as main, WAL + synchronous=FULL, and ATTACH
//  DIR/cluster.db as "cluster" (WAL, FULL). Both files mode 0600. For tests,
//  benches and tools; the replication actor attaches to the config store's
//  connection instead. Returns the connection (close with sqlite3_close_v2)
//  or NULL with ERR.
sqlite3 *cw_replog_db_open (const char *dir, char *err, size_t errlen);

//  Create the replog for DB, where cluster.db is attached as SCHEMA (NULL =
//  "cluster"). Creates cluster_config and the replog_* tables if missing,
//  sets SCHEMA's journal to WAL and synchronous=FULL on DB, and opens the
//  private connection. DB is borrowed and must outlive the replog. NULL
//  with ERR on failure.
cw_replog_t *cw_replog_new (sqlite3 *db, const char *schema, char *err, size_t errlen);
void cw_replog_destroy (cw_replog_t **self_p);

//  Number of changesets retained in the history (>= 1; default 10,000).
//  Applies from the next commit or apply on.
void cw_replog_set_history_limit (cw_replog_t *self, int64_t limit);
//  Holds on the history: changes after a hold's SEQ stay, whatever the
//  count and size limits, until its holder moves it on (-1, the default:
//  no hold); up to CW_REPLOG_HISTORY_HOLD_MAX_BYTES, past which the oldest
//  go anyway (a peer that far behind takes a snapshot). EVENTS: the
//  data.changed events list this peer's changes from their last seq at the
//  next tick, however many came meanwhile. PEERS: the primary keeps what
//  its live subordinates have not confirmed yet (changes in flight to a
//  peer that applies more slowly than bulk writes come in), so it is
//  caught up from the history, not sent a snapshot.
typedef enum {
    CW_REPLOG_HOLD_EVENTS,
    CW_REPLOG_HOLD_PEERS,
    CW_REPLOG_HOLDS
} cw_replog_hold_t;
void cw_replog_hold (cw_replog_t *self, cw_replog_hold_t hold, int64_t seq);

//  Restrict the tables captured by the write path to the NULL-terminated
//  list TABLES (copied). NULL = every table of the schema (the default),
//  always except replog_*.
int cw_replog_set_tables (cw_replog_t *self, const char *const *tables);

// ---------------------------------------------------------------------------
//  State

//  Highest sequence number committed/applied here (0 = none), or -1 on error.
int64_t cw_replog_applied_seq (cw_replog_t *self);
//  The history id into BUF ("" when this peer has none yet). 0 or -1.
int cw_replog_cluster_id (cw_replog_t *self, char *buf, size_t buflen);
//  The hex head hash into BUF (CW_REPLOG_HASH_HEX_LEN + 1 bytes; "" when
//  no changeset yet). 0 or -1.
int cw_replog_head_hash (cw_replog_t *self, char *buf, size_t buflen);
//  Lowest sequence number still in the history (0 when empty), -1 on error.
int64_t cw_replog_oldest_seq (cw_replog_t *self);

//  On the primary: what a peer that reports (CLUSTER_ID, SEQ, HEAD_HASH)
//  needs. OK = in sync; GAP = send cw_replog_changesets_since (SEQ);
//  TOO_OLD = snapshot (new peer, or behind the history); CONFLICT =
//  snapshot (another history, a different change at the same seq, or the
//  peer is ahead of the primary). HEAD_HASH may be NULL or "" (not checked).
//  Returns CW_REPLOG_ERROR on a local failure.
int cw_replog_plan (cw_replog_t *self, const char *cluster_id, int64_t seq, const char *head_hash, char *err,
                    size_t errlen);

// ---------------------------------------------------------------------------
//  Primary write path (on the caller's connection)

//  BEGIN IMMEDIATE and start recording changes to the cluster schema.
//  The caller then runs its INSERT/UPDATE/DELETE on "cluster".<table>
//  through its connection, then commits or rolls back below.
int cw_replog_write_begin (cw_replog_t *self, char *err, size_t errlen);

//  Take the changeset, give it seq = applied_seq + 1, store it in the
//  history, set applied_seq and head_hash, trim the history and COMMIT,
//  all in the transaction opened by write_begin. The commit is durable when
//  this returns. On success *SEQ is the new number and *CHANGESET (owned by
//  the caller, free with sqlite3_free) / *LEN the bytes to ship; when the
//  writes had no effect, the transaction is committed, *SEQ = 0,
//  *CHANGESET = NULL, *LEN = 0 (no number consumed). CHANGESET may be NULL
//  if the caller does not want the bytes. On failure the transaction is
//  rolled back and -1 returned with ERR. Ship the changeset with its seq
//  and cw_replog_head_hash (the hash after it).
int cw_replog_write_commit (cw_replog_t *self, int64_t *seq, void **changeset, int *len, char *err, size_t errlen);

//  Abandon the transaction opened by write_begin. Safe to call twice.
void cw_replog_write_rollback (cw_replog_t *self);

//  True between write_begin and commit/rollback.
bool cw_replog_in_write (cw_replog_t *self);

// ---------------------------------------------------------------------------
//  Subordinate apply path (private connection)

//  Apply CHANGESET (LEN bytes, borrowed) numbered SEQ from the primary.
//  HASH is the primary's head hash after this change (what it ships with
//  the changeset: cw_replog_head_hash after the commit, or the catch-up
//  callback's HASH); NULL or "" = not checked. Checking it is what detects
//  a changeset truncated at a change boundary, which is still well-formed.
//  Only SEQ == applied_seq + 1 is applied: in one transaction with the
//  applied_seq/head_hash update and a copy in the local history. Returns
//  OK; DUPLICATE (SEQ <= applied_seq); GAP with *NEED_FROM = applied_seq
//  (ask for the changesets after it; NEED_FROM may be NULL); TOO_OLD when
//  this peer has no history yet; CONFLICT when any change conflicts (DATA,
//  NOTFOUND, CONFLICT, CONSTRAINT, FOREIGN_KEY) or names a table that is not
//  here: nothing is applied; INVALID for bytes that are not a well-formed
//  changeset or do not match HASH (nothing applied); ERROR for a local
//  failure. ERR says why for anything but OK.
int cw_replog_apply (cw_replog_t *self, int64_t seq, const void *changeset, int len, const char *hash,
                     int64_t *need_from, char *err, size_t errlen);

// ---------------------------------------------------------------------------
//  Catch-up

//  Called for each retained changeset, in order, with the head hash after
//  it (hex). The bytes are borrowed for the duration of the call. Return 0
//  to continue, anything else stops the iteration
//  (cw_replog_changesets_since returns that value).
typedef int (cw_replog_changeset_fn) (int64_t seq, const void *changeset, int len, const char *hash, void *arg);

//  Call FN for every retained changeset with seq > FROM_SEQ, in order, up
//  to applied_seq, from one consistent read. Returns OK (also when there
//  is nothing to send), TOO_OLD when FROM_SEQ + 1 is no longer retained
//  (=> snapshot), CONFLICT when FROM_SEQ > applied_seq (the peer is ahead),
//  ERROR, or FN's nonzero value.
int cw_replog_changesets_since (cw_replog_t *self, int64_t from_seq, cw_replog_changeset_fn *fn, void *arg, char *err,
                                size_t errlen);

// ---------------------------------------------------------------------------
//  Snapshots

//  A consistent image of cluster.db and its sequence number. *BLOB is owned
//  by the caller (free with sqlite3_free). 0 or -1 with ERR.
int cw_replog_snapshot_create (cw_replog_t *self, void **blob, int64_t *len, int64_t *seq, char *err, size_t errlen);

//  Replace the local cluster.db with the image BLOB (LEN bytes, borrowed)
//  at SEQ, durably and atomically. SEQ must match the image's applied_seq.
//  Returns OK, INVALID (not a valid snapshot; nothing changed) or ERROR.
//  Must not be called inside a write transaction.
int cw_replog_snapshot_apply (cw_replog_t *self, const void *blob, int64_t len, int64_t seq, char *err, size_t errlen);

//  ForceConfigUpdate / factory reset: empty every cluster table (the
//  schema stays), applied_seq = 0, no cluster_id, no history, in one
//  durable transaction. The caller then asks the primary for a snapshot.
int cw_replog_reset (cw_replog_t *self, char *err, size_t errlen);

#endif
