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

struct _cw_service_t {
    cw_cluster_t *core;
    cw_replication_t *replication;
    cw_config_store_t *store;
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
    if (cw_cluster_peer_ops (core, s_ops, self) || cw_cluster_peer_commands (core, s_peer_commands, self))
        cw_service_destroy (&self);
    return self;
}

void
cw_service_destroy (cw_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}
