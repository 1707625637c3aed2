/*  service.c - the configuration commands, replicated data, the cluster
    traffic of other actors and backups (see service.h).

    Writes go through replication (cw_replication_write), reads to the
    store; the traffic of other actors is relayed by the core (peer calls
    out, cw_cluster_relay in). A backup's key derivation runs on a worker
    thread while the actor keeps heartbeating.
*/
#include "service.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include "backup.h"
#include "cw_text.h"
#include "data.h"
#include "layer.h"

#define S_EVENT_ROWS_CHUNK 5000                 //  rows per data.changed event (more: several events)
#define S_EVENT_VALUE_MAX (64 * 1024)           //  a longer value: "rows": null
#define S_EVENT_BYTES_MAX (64 * 1024 * 1024)    //  more changed bytes in a tick: "rows": null

struct _cw_service_t {
    cw_cluster_t *core;
    cw_replication_t *replication;
    cw_config_store_t *store;
    int64_t data_seq;        //  the change the data.changed events were published for
    char cluster_id [40];    //  of that change's history
    zhashx_t *namespaces;    //  every namespace seen since start (no values)
};

static cw_reply_target_t
s_local_target (const cw_envelope_t *req)
{
    cw_reply_target_t target = { .remote = false, .corr = req->corr };
    cw_copy (target.to, sizeof target.to, req->from);
    return target;
}

// ---------------------------------------------------------------------------
//  Configuration and replicated data

static cw_reply_status_t
s_cmd_config_read (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_service_t *self = arg;
    return cw_config_store_handle (self->store, req->command, args, reply);
}

static cw_reply_status_t
s_cmd_write (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_service_t *self = arg;
    return cw_replication_write (self->replication, req, args, reply);
}

static cw_reply_status_t
s_cmd_data_read (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_service_t *self = arg;
    return cw_data_read (self->store, strcasecmp (req->command, "replication.data.count") == 0, args, reply);
}

static cw_reply_status_t
s_cmd_data_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_service_t *self = arg;
    return cw_data_list (self->store, args, reply);
}

// ---------------------------------------------------------------------------
//  data.changed.<ns>: evaluated on every tick, as the cluster summary is.
//  When the store's sequence moved, the changesets since the last
//  evaluation name the rows that changed (the history keeps them until
//  then: cw_replog_hold); when they cannot (a snapshot, a reset,
//  another history), every namespace is announced with null rows.

typedef struct {
    json_t *changed;    //  ns -> {key: value | null}, in the order of the changes
    size_t bytes;       //  listed so far
} s_collect_t;

static void
s_collect_row (const char *ns, const char *key, const char *value, void *arg)
{
    s_collect_t *collect = arg;
    json_t *rows = json_object_get (collect->changed, ns);
    if (!rows) {
        rows = json_object ();
        json_object_set_new (collect->changed, ns, rows);
    }
    size_t size = strlen (key) + (value ? strlen (value) : 0);
    if (json_is_object (rows) && collect->bytes + size <= S_EVENT_BYTES_MAX
        && (!value || strlen (value) <= S_EVENT_VALUE_MAX)) {
        //  Text from the store, checked as UTF-8 when it was written
        json_object_set_new_nocheck (rows, key, value ? json_string_nocheck (value) : json_null ());
        collect->bytes += size;
    }
    else
        json_object_set_new (collect->changed, ns, json_null ());    //  too much to list
}

static int
s_collect_changeset (int64_t seq, const void *changeset, int len, const char *hash, void *arg)
{
    (void) seq;
    (void) hash;
    return cw_data_changes (changeset, len, s_collect_row, arg) ? -1 : 0;
}

static void
s_publish_rows (cw_cluster_t *core, const char *ns, int64_t seq, json_t *list)
{
    char topic [256];
    snprintf (topic, sizeof topic, "data.changed.%s", ns);
    cw_actor_publish (cw_cluster_actor (core), topic,
                      json_pack ("{s:s, s:I, s:o}", "ns", ns, "seq", (json_int_t) seq, "rows", list), false);
}

static void
s_collect_namespace (const char *ns, const char *key, const char *value, void *arg)
{
    (void) key;
    (void) value;
    json_object_set_new ((json_t *) arg, ns, json_null ());
}

static void
s_data_tick (cw_cluster_t *core, void *arg)
{
    cw_service_t *self = arg;
    cw_replog_t *replog = cw_cluster_replog (core);
    int64_t seq = cw_replog_applied_seq (replog);
    char cluster_id [40] = "";
    cw_replog_cluster_id (replog, cluster_id, sizeof cluster_id);
    if (seq < 0 || (seq == self->data_seq && strcmp (cluster_id, self->cluster_id) == 0))
        return;
    json_t *changed = json_object ();
    s_collect_t collect = { changed, 0 };
    char err [256];
    //  Another history continues ours only when we had no change yet (a
    //  new subordinate's first snapshot)
    bool listed = seq > self->data_seq && (self->data_seq == 0 || strcmp (cluster_id, self->cluster_id) == 0)
               && cw_replog_changesets_since (replog, self->data_seq, s_collect_changeset, &collect, err, sizeof err)
                      == CW_REPLOG_OK;
    if (!listed) {
        json_object_clear (changed);
        cw_data_namespaces (self->store, s_collect_namespace, changed);
        for (void *seen = zhashx_first (self->namespaces); seen; seen = zhashx_next (self->namespaces))
            json_object_set_new (changed, (const char *) zhashx_cursor (self->namespaces), json_null ());
    }
    self->data_seq = seq;
    cw_copy (self->cluster_id, sizeof self->cluster_id, cluster_id);
    //  However many changes come before the next tick, it can list them
    //  (a slow tick under bulk writes would otherwise find them trimmed and
    //  announce null rows: every reader reads its namespaces again)
    cw_replog_hold (replog, CW_REPLOG_HOLD_EVENTS, seq);
    const char *ns;
    json_t *rows;
    json_object_foreach (changed, ns, rows) {
        zhashx_update (self->namespaces, ns, self);
        if (!json_is_object (rows)) {
            s_publish_rows (core, ns, seq, json_null ());
            continue;
        }
        json_t *list = json_array ();
        const char *key;
        json_t *value;
        json_object_foreach (rows, key, value) {
            json_t *row = json_array ();
            json_array_append_new (row, json_string_nocheck (key));
            json_array_append (row, value);
            json_array_append_new (list, row);
            if (json_array_size (list) == S_EVENT_ROWS_CHUNK) {
                s_publish_rows (core, ns, seq, list);
                list = json_array ();
            }
        }
        if (json_array_size (list) > 0 || json_object_size (rows) == 0)
            s_publish_rows (core, ns, seq, list);
        else
            json_decref (list);
    }
    json_decref (changed);
}

static void
s_peer_config_list (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    cw_service_t *self = arg;
    json_t *reply = NULL;
    cw_reply_status_t status = cw_config_store_handle (self->store, "config.list", args, &reply);
    cw_cluster_answer (core, target, status == CW_REPLY_OK, reply);
}

// ---------------------------------------------------------------------------
//  Cluster traffic of other actors

static json_t *
s_member_or (json_t *object, const char *name, json_t *fallback)
{
    json_t *member = json_object_get (object, name);
    if (member) {
        json_decref (fallback);
        return json_incref (member);
    }
    return fallback;
}

static cw_reply_status_t
s_cmd_broadcast (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_service_t *self = arg;
    const char *topic = cw_jtext (args, "topic");
    if (!*topic) {
        *reply = cw_error_body ("replication.broadcast: 'topic' is required");
        return CW_REPLY_ERROR;
    }
    int sent = 0;
    for (int i = 0; i < cw_cluster_effective (self->core)->peer_count; i++) {
        if (i + 1 == cw_cluster_this_peer (self->core) || !cw_cluster_peer_alive (self->core, i + 1))
            continue;
        json_t *call = json_pack ("{s:s, s:s, s:o}", "op", "broadcast", "topic", topic, "body",
                                  s_member_or (args, "body", json_null ()));
        if (cw_cluster_peer_call (self->core, i + 1, call, NULL, 0, NULL, NULL, 0) == 0)
            sent++;
    }
    *reply = json_pack ("{s:i}", "sent", sent);
    return CW_REPLY_OK;
}

static void
s_on_peer_request_reply (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                         void *arg)
{
    (void) peer;
    (void) blob;
    (void) blob_len;
    cw_reply_target_t *target = arg;
    cw_cluster_answer (core, target, ok, json_incref (json));
    free (target);
}

static cw_reply_status_t
s_cmd_peer_request (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_service_t *self = arg;
    int peer = (int) json_integer_value (json_object_get (args, "peer"));
    if (peer < 1 || peer > cw_cluster_effective (self->core)->peer_count || peer == cw_cluster_this_peer (self->core)) {
        *reply = cw_error_body ("replication.peer_request: 'peer' must be another peer's index");
        return CW_REPLY_ERROR;
    }
    cw_reply_target_t *target = malloc (sizeof *target);
    *target = s_local_target (req);
    json_t *call = json_pack ("{s:s, s:s, s:s, s:o}", "op", "actor", "actor", cw_jtext (args, "actor"), "command",
                              cw_jtext (args, "command"), "args", s_member_or (args, "args", json_object ()));
    if (cw_cluster_peer_call (self->core, peer, call, NULL, 0, s_on_peer_request_reply, target, 0) != 0) {
        free (target);
        *reply = cw_error_body ("peer %d is unreachable", peer);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

static void
s_op_actor (cw_cluster_t *core, int peer, json_t *json, const uint8_t *blob, size_t blob_len,
            const cw_reply_target_t *target, void *arg)
{
    (void) peer;
    (void) blob;
    (void) blob_len;
    (void) arg;
    const char *actor = cw_jtext (json, "actor");
    if (!*actor || strcmp (actor, "replication") == 0)
        cw_cluster_answer (core, target, false, cw_error_body ("peer request needs an actor name"));
    else
        cw_cluster_relay (core, actor, cw_jtext (json, "command"), json_object_get (json, "args"), target);
}

static void
s_op_broadcast (cw_cluster_t *core, int peer, json_t *json, const uint8_t *blob, size_t blob_len,
                const cw_reply_target_t *target, void *arg)
{
    (void) blob;
    (void) blob_len;
    (void) target;
    (void) arg;
    char topic [256];
    snprintf (topic, sizeof topic, "cluster.%s", cw_jtext (json, "topic"));
    json_t *body = json_pack ("{s:i, s:s, s:o}", "peer", peer, "system_name",
                              cw_cluster_peer_view (core, peer)->system_name, "body",
                              s_member_or (json, "body", json_null ()));
    cw_actor_publish (cw_cluster_actor (core), topic, body, false);    //  no reply
}

// ---------------------------------------------------------------------------
//  Backups

typedef struct {
    sqlite3 *db;
    const char *file;
    const char *passphrase;
    const unsigned char *key;
    bool create;
    char name [64];
    int rc;
    json_t *manifest;
    char err [512];
} s_backup_job_t;

static void *
s_backup_worker (void *arg)
{
    s_backup_job_t *job = arg;
    if (job->create)
        job->rc = cw_backup_create (job->db, CW_REPLOG_SCHEMA, job->file, job->passphrase, job->name, job->key,
                                    job->err, sizeof job->err);
    else
        job->rc = cw_backup_restore (job->db, CW_REPLOG_SCHEMA, job->file, job->passphrase, job->key, &job->manifest,
                                     job->err, sizeof job->err);
    return NULL;
}

static cw_reply_status_t
s_cmd_backup (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_service_t *self = arg;
    const char *command = req->command;
    const char *file = cw_jtext (args, "file");
    const char *passphrase = cw_jtext (args, "passphrase");
    if (!*file || *file != '/') {
        *reply = cw_error_body ("%s: 'file' must be an absolute path", command);
        return CW_REPLY_ERROR;
    }
    if (!*passphrase) {
        *reply = cw_error_body ("%s: a passphrase is required", command);
        return CW_REPLY_ERROR;
    }
    unsigned char key [CW_SECRET_KEY_BYTES];
    char err [512];
    if (cw_secret_key_load (cw_cluster_boot (self->core)->node.state_dir, key, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    //  The passphrase key derivation (argon2id) takes about half a second:
    //  a worker thread does the backup while this thread keeps heartbeating.
    //  The connection is used by the worker alone meanwhile.
    s_backup_job_t job = { .db = cw_config_store_db (self->store),
                           .file = file,
                           .passphrase = passphrase,
                           .key = key,
                           .create = strcasecmp (command, "backup.create") == 0 };
    cw_config_store_text (self->store, "system.name", job.name, sizeof job.name);
    cw_cluster_run_blocking (self->core, s_backup_worker, &job);
    sodium_memzero (key, sizeof key);
    if (job.rc) {
        json_decref (job.manifest);
        *reply = cw_error_body ("%s", job.err);
        return CW_REPLY_ERROR;
    }
    if (job.create)
        *reply = json_pack ("{s:s}", "file", file);
    else {
        cw_config_store_announce (self->store);
        *reply = json_pack ("{s:s, s:o, s:s}", "file", file, "manifest", job.manifest ? job.manifest : json_object (),
                            "note", "restored; run `causeway restart` so clustering settings take effect");
    }
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  Tables and life cycle

const cw_command_t cw_service_commands [] = {
    { "config.get", s_cmd_config_read, CW_CMD_IDEMPOTENT, "a key's value" },
    { "config.list", s_cmd_config_read, CW_CMD_IDEMPOTENT, "every key's value" },
    { "config.set", s_cmd_write, CW_CMD_IDEMPOTENT, "set a key" },
    { "config.unset", s_cmd_write, CW_CMD_IDEMPOTENT, "set a key back to its default" },
    { "replication.data.put", s_cmd_write, 0, "write rows of replicated data" },
    { "replication.data.get", s_cmd_data_read, 0, "read a row of replicated data" },
    { "replication.data.count", s_cmd_data_read, 0, "count the rows of a namespace" },
    { "replication.data.list", s_cmd_data_list, 0, "list the rows of a namespace, by key" },
    { "replication.broadcast", s_cmd_broadcast, 0, "publish an event on every live peer" },
    { "replication.peer_request", s_cmd_peer_request, 0, "send a request to an actor on another peer" },
    { "backup.create", s_cmd_backup, 0, "write an encrypted backup" },
    { "backup.restore", s_cmd_backup, 0, "restore an encrypted backup" },
    { NULL, NULL, 0, NULL }
};

static const cw_peer_op_t s_ops [] = { { "actor", s_op_actor }, { "broadcast", s_op_broadcast }, { NULL, NULL } };

static const cw_peer_command_t s_peer_commands [] = { { "config.list", s_peer_config_list }, { NULL, NULL } };

cw_service_t *
cw_service_new (cw_cluster_t *core, cw_replication_t *replication)
{
    cw_service_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->core = core;
    self->replication = replication;
    self->store = cw_cluster_store (core);
    self->namespaces = zhashx_new ();
    self->data_seq = cw_replog_applied_seq (cw_cluster_replog (core));
    cw_replog_cluster_id (cw_cluster_replog (core), self->cluster_id, sizeof self->cluster_id);
    cw_replog_hold (cw_cluster_replog (core), CW_REPLOG_HOLD_EVENTS, self->data_seq);
    cw_cluster_hooks_t hooks = { .tick = s_data_tick, .arg = self };
    if (!self->namespaces || cw_cluster_peer_ops (core, s_ops, self)
        || cw_cluster_peer_commands (core, s_peer_commands, self) || cw_cluster_hooks (core, &hooks))
        cw_service_destroy (&self);
    return self;
}

void
cw_service_destroy (cw_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_cluster_hooks_remove ((*self_p)->core, *self_p);
    zhashx_destroy (&(*self_p)->namespaces);
    free (*self_p);
    *self_p = NULL;
}
