/*  config_store.h - the runtime configuration store of one node (SQLite),
    and the config.* commands of the replication actor.

    The database is <state_dir>/config.db (WAL, synchronous=FULL), with
        peer_config    (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT)
        meta           (key TEXT PRIMARY KEY, value TEXT NOT NULL)
    and <state_dir>/cluster.db ATTACHed as "cluster" (see replog.h) with
        cluster.cluster_config (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT)
    A key's row lives in the table of its scope (see registry.h); VALUE is
    the JSON text of the normalised value. A key without a row has its
    default ("default": true in replies). meta holds schema_version; the
    replication sequence number of cluster-scope data is replog's
    applied_seq, committed in the same transaction as each change.

    A write returns only after its COMMIT is durable, so a reply to
    config.set means the value survives kill -9 of any process. After each
    committed change the change callback gets {"key","value","scope"};
    the actor publishes it as the retained STATE config.changed.<key>.

    Commands (cw_config_store_handle):
      config.get {key, describe?} -> {"key","value","scope","default"}
      config.set {key, value}     -> {"key","value","scope","default"}
      config.unset {key}          -> {"key","value","scope","default"}
      config.list {prefix?, describe?}
                                  -> {"config": [{"key","value","scope","default"}, ...]}
    With describe true, config.get and every entry of config.list also
    carry what the registry says of the key (for the web pages): "type"
    (the value type, "integer", "list of ip", ...), "allowed" (what it
    allows as a person reads it, "integer 60..65534"), "summary" (its
    one-line description) and, for on/off and enum keys, "choices" (the
    words, for a select).
*/
#ifndef CW_CONFIG_STORE_H
#define CW_CONFIG_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "cw_actor.h"
#include "registry.h"
#include "replog.h"

#define CW_CONFIG_DB_FILE "config.db"
#define CW_CONFIG_SCHEMA_VERSION 1
//  How long a write waits for a lock held by another connection (a backup,
//  an operator's sqlite3 shell). Kept well under the supervisor's hung-actor
//  deadline (heartbeat_ms x heartbeat_misses, 3 s by default): the actor's
//  loop is blocked while it waits.
#define CW_CONFIG_BUSY_TIMEOUT_MS 1000

typedef struct _cw_config_store_t cw_config_store_t;

//  Called after each committed change, and for every key by
//  cw_config_store_announce. ENTRY {"key","value","scope"} is borrowed.
typedef void (cw_config_change_fn) (cw_config_store_t *self, const cw_config_key_t *key, json_t *entry, void *arg);

//  Where a validated write goes (see cw_config_store_route).
typedef enum {
    CW_WRITE_LOCAL = 0,    //  commit in this node's database
    CW_WRITE_FORWARD       //  send to the configuration primary (clustering)
} cw_write_route_t;

//  Called after a cluster-scope change committed on this node (the
//  primary): SEQ, CHANGESET (LEN bytes, borrowed) are what to ship to the
//  subordinates (see replog.h).
typedef void (cw_config_replicate_fn) (cw_config_store_t *self, int64_t seq, const void *changeset, int len, void *arg);

//  Open (create) STATE_DIR/config.db (checked first: see DAMAGED STATE
//  below). NODE_NAME is the bootstrap node.name,
//  the default of system.name. NULL with a reason in ERR on failure.
cw_config_store_t *cw_config_store_new (const char *state_dir, const char *node_name, char *err, size_t errlen);
void cw_config_store_destroy (cw_config_store_t **self_p);

const char *cw_config_store_path (cw_config_store_t *self);
void cw_config_store_on_change (cw_config_store_t *self, cw_config_change_fn *fn, void *arg);

//  The current value of KEY (new reference; the default when not set);
//  IS_DEFAULT (may be NULL) tells which.
json_t *cw_config_store_value (cw_config_store_t *self, const cw_config_key_t *key, bool *is_default);
//  The current value of the key called NAME (new reference; JSON null for
//  an unknown name).
json_t *cw_config_store_get (cw_config_store_t *self, const char *name);
//  The value of NAME as text into BUF (a string as is, an integer in
//  decimal, anything else ""). Returns BUF.
char *cw_config_store_text (cw_config_store_t *self, const char *name, char *buf, size_t size);
//  True when NAME's value is the text "on".
bool cw_config_store_on (cw_config_store_t *self, const char *name);
//  Set NAME as an administrator would (normalised first; VALUE borrowed,
//  NULL unsets). Not forwarded: the caller decides where writes go.
//  0, or -1 with ERR.
int cw_config_store_set_named (cw_config_store_t *self, const char *name, json_t *value, char *err, size_t errlen);
//  {"key","value","scope"} plus "default" when WITH_DEFAULT. New object.
json_t *cw_config_store_entry (cw_config_store_t *self, const cw_config_key_t *key, bool with_default);

//  Commit VALUE (already normalised by cw_registry_normalize; borrowed)
//  for KEY, durably, then call the change callback. 0 or -1 with ERR.
int cw_config_store_set (cw_config_store_t *self, const cw_config_key_t *key, json_t *value, char *err, size_t errlen);
//  Remove KEY's row (back to its default), durably, then the callback.
int cw_config_store_unset (cw_config_store_t *self, const cw_config_key_t *key, char *err, size_t errlen);

//  Call the change callback for every key (at startup, after a restore),
//  then the damage callback.
void cw_config_store_announce (cw_config_store_t *self);

//  DAMAGED STATE. cw_config_store_new checks both files before using them:
//  state_dir must be writable (else it fails with "state_dir DIR is not
//  writable: REASON"); a file recorded in <state_dir>/.causeway-state that
//  is now missing or empty, a file SQLite calls "not a database", or one
//  that fails PRAGMA quick_check is moved aside (<file>.damaged-<time>) and
//  replaced by an empty one, and the damage is recorded in config.db
//  (meta "damaged.<file>") until a backup restore replaces config.db or
//  cw_config_store_damage_resolved forgets it. A statement that fails with
//  SQLITE_CORRUPT or SQLITE_NOTADB at run time is damage too (kept in
//  memory; the file is replaced at the next start).
//
//  The damage not repaired: a new array of {"file": "config.db" |
//  "cluster.db", "detail", "replaced": true (at open) | false (run time)}.
json_t *cw_config_store_damage (cw_config_store_t *self);
//  Forget the damage recorded for FILE (repaired by other means, e.g. a
//  subordinate's empty cluster.db refilled by the primary's snapshot).
void cw_config_store_damage_resolved (cw_config_store_t *self, const char *file);
//  Called with the damage list (borrowed) by cw_config_store_announce and
//  when a statement finds damage at run time.
typedef void (cw_config_damage_fn) (cw_config_store_t *self, json_t *damage, void *arg);
void cw_config_store_on_damage (cw_config_store_t *self, cw_config_damage_fn *fn, void *arg);

//  Replication sequence number of the cluster-scope data (replog applied_seq).
int64_t cw_config_store_cluster_seq (cw_config_store_t *self);
//  The connection (cluster.db attached as "cluster") and the replication
//  log on it; borrowed.
sqlite3 *cw_config_store_db (cw_config_store_t *self);
cw_replog_t *cw_config_store_replog (cw_config_store_t *self);
void cw_config_store_on_replicate (cw_config_store_t *self, cw_config_replicate_fn *fn, void *arg);
//  Call the change callback for every key of SCOPE whose entry changed
//  since it was last passed to it (after a changeset or a snapshot from the
//  primary changed cluster-scope data: most changesets are data, not
//  settings). cw_config_store_announce passes every key, changed or not.
void cw_config_store_announce_scope (cw_config_store_t *self, cw_scope_t scope);

//  THE seam for clustering: where a validated write of KEY goes. In this
//  issue the node is alone, so every write (peer and cluster scope) is
//  committed locally. The clustering issue returns CW_WRITE_FORWARD for a
//  cluster-scope key on a subordinate and sends it to the primary.
cw_write_route_t cw_config_store_route (cw_config_store_t *self, const cw_config_key_t *key);

//  Handle a config.* COMMAND with ARGS (borrowed; NULL = {}). Sets *REPLY
//  to a new JSON object (the answer, or {"error": ...}). Never crashes on
//  bad input.
cw_reply_status_t cw_config_store_handle (cw_config_store_t *self, const char *command, json_t *args, json_t **reply);

#endif
