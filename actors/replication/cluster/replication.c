/*  replication.c - replication of the cluster-scope data (see
    replication.h).

    Owns the per-peer sync state (what the primary sent to each
    subordinate and what each confirmed), this node's replication state
    (in sync with the primary, conflict, last errors) and the requesters
    that wait: for every live subordinate to apply a change, or (after
    ForceConfigUpdate) for the primary's configuration to arrive. Each
    waiter has a deadline on the core's deadline list.
*/
#include "replication.h"

#include <stdlib.h>
#include <string.h>
#include "cw_text.h"
#include "data.h"
#include "layer.h"

//  What the primary knows of one subordinate's replication.
typedef struct {
    char head_hash [72];    //  its replog head hash (heartbeat)
    int64_t sent_seq;       //  highest changeset sent to it
    int64_t acked_seq;      //  highest changeset it confirmed
    bool syncing;           //  catch-up / snapshot in flight
    int64_t sync_deadline;
    int64_t snapshot_after;    //  a snapshot that could not be made or sent: not again before
} s_sync_t;

#define S_SNAPSHOT_RETRY_MS 30000    //  after a snapshot failed to be made or sent

static void s_hold_for_peers (cw_replication_t *self);

struct _cw_replication_t {
    cw_cluster_t *core;
    cw_config_store_t *store;
    cw_replog_t *replog;
    s_sync_t peers [CW_CLUSTER_MAX_PEERS];
    bool in_sync;    //  subordinate: matched the primary since start
    bool conflict;
    char replication_error [256];
    bool sync_failed;
    char sync_error [256];
    zlistx_t *waiters;    //  s_waiter_t
};

//  A requester waiting until every live subordinate applied SEQ, or (SEQ
//  -1) until this subordinate is in sync with its primary again.
typedef struct {
    cw_replication_t *self;
    cw_reply_target_t target;
    int64_t seq;
    uint64_t deadline;
    json_t *body;    //  the reply to send when done
} s_waiter_t;

//  A snapshot made or applied on a worker thread (cw_cluster_run_blocking)
typedef struct {
    cw_replog_t *replog;
    const void *blob;    //  apply: the image
    void *created;       //  create: the new image (sqlite3_free)
    int64_t len;
    int64_t seq;
    int rc;
    char err [512];
} s_snapshot_job_t;

static void *
s_snapshot_create_worker (void *arg)
{
    s_snapshot_job_t *job = arg;
    job->rc = cw_replog_snapshot_create (job->replog, &job->created, &job->len, &job->seq, job->err, sizeof job->err);
    return NULL;
}

static void *
s_snapshot_apply_worker (void *arg)
{
    s_snapshot_job_t *job = arg;
    job->rc = cw_replog_snapshot_apply (job->replog, job->blob, job->len, job->seq, job->err, sizeof job->err);
    return NULL;
}

static const cw_cluster_settings_t *
s_eff (cw_replication_t *self)
{
    return cw_cluster_effective (self->core);
}

// ---------------------------------------------------------------------------
//  Waiters

//  True when every live subordinate applied SEQ; else the ones that did
//  not in MISSING.
static bool
s_all_applied (cw_replication_t *self, int64_t seq, char *missing, size_t size)
{
    missing [0] = 0;
    const cw_cluster_settings_t *eff = s_eff (self);
    for (int i = 0; i < eff->peer_count; i++)
        if (i + 1 != cw_cluster_this_peer (self->core) && cw_cluster_peer_alive (self->core, i + 1)
            && self->peers [i].acked_seq < seq) {
            size_t used = strlen (missing);
            snprintf (missing + used, size - used, "%speer %d (%s)", used ? ", " : "", i + 1, eff->peers [i]);
        }
    return *missing == 0;
}

static void
s_waiter_expired (cw_cluster_t *core, void *arg)
{
    (void) core;
    s_waiter_t *waiter = arg;
    cw_replication_t *self = waiter->self;
    for (s_waiter_t *w = zlistx_first (self->waiters); w; w = zlistx_next (self->waiters))
        if (w == waiter) {
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
            break;
        }
    char missing [512];
    bool done = waiter->seq < 0 ? self->in_sync : s_all_applied (self, waiter->seq, missing, sizeof missing);
    if (done) {
        cw_cluster_answer (self->core, &waiter->target, true, waiter->body);
        free (waiter);
        return;
    }
    json_decref (waiter->body);
    if (waiter->seq < 0)
        cw_cluster_answer (self->core, &waiter->target, false,
                           cw_error_body ("the cluster-wide configuration was discarded, but the primary's did "
                                          "not arrive in time; it will when the primary is reachable "
                                          "(`causeway cluster status`)"));
    else
        cw_cluster_answer (self->core, &waiter->target, false,
                           cw_error_body ("committed on the primary as change %lld, but not yet applied by %s",
                                          (long long) waiter->seq, missing));
    free (waiter);
}

static void
s_wait (cw_replication_t *self, const cw_reply_target_t *target, int64_t seq, json_t *body)
{
    s_waiter_t *waiter = calloc (1, sizeof *waiter);
    waiter->self = self;
    waiter->target = *target;
    waiter->seq = seq;
    waiter->body = body;
    waiter->deadline = cw_cluster_deadline (self->core, CW_SYNC_TIMEOUT_MS, s_waiter_expired, waiter);
    zlistx_add_end (self->waiters, waiter);
}

//  Answer the waiters whose wait is over.
static void
s_check_waiters (cw_replication_t *self)
{
    s_waiter_t *waiter = zlistx_first (self->waiters);
    while (waiter) {
        char missing [512];
        bool done = waiter->seq < 0 ? self->in_sync : s_all_applied (self, waiter->seq, missing, sizeof missing);
        if (!done) {
            waiter = zlistx_next (self->waiters);
            continue;
        }
        zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
        cw_cluster_deadline_cancel (self->core, waiter->deadline);
        cw_cluster_answer (self->core, &waiter->target, true, waiter->body);
        free (waiter);
        waiter = zlistx_first (self->waiters);
    }
}

// ---------------------------------------------------------------------------
//  The primary side

static void
s_on_changeset_reply (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                      void *arg)
{
    (void) core;
    (void) blob;
    (void) blob_len;
    cw_replication_t *self = arg;
    s_sync_t *state = &self->peers [peer - 1];
    const char *status = cw_jtext (json, "status");
    int64_t applied = json_integer_value (json_object_get (json, "applied_seq"));
    if (ok && (strcmp (status, "ok") == 0 || strcmp (status, "duplicate") == 0)) {
        if (applied > state->acked_seq)
            state->acked_seq = applied;
        s_check_waiters (self);
        return;
    }
    //  Anything else: let the heartbeat-driven sync decide (catch-up or snapshot)
    cw_info ("cluster: peer %d did not apply a change status=%s error=\"%s\"", peer, status, cw_jtext (json, "error"));
    state->sent_seq = state->acked_seq;
    state->syncing = false;
}

static void
s_send_changeset (cw_replication_t *self, int peer, int64_t seq, const void *changeset, int len, const char *hash)
{
    char cluster_id [40];
    cw_replog_cluster_id (self->replog, cluster_id, sizeof cluster_id);
    json_t *args = json_pack ("{s:s, s:I, s:s, s:s}", "op", "changeset", "seq", (json_int_t) seq, "hash",
                              hash ? hash : "", "cluster_id", cluster_id);
    if (cw_cluster_peer_call (self->core, peer, args, changeset, (size_t) len, s_on_changeset_reply, self,
                              CW_SYNC_TIMEOUT_MS)
        == 0)
        self->peers [peer - 1].sent_seq = seq;
}

//  A change committed on this node (the primary): ship it to every
//  subordinate that is up and has everything before it.
static void
s_on_replicate (cw_config_store_t *store, int64_t seq, const void *changeset, int len, void *arg)
{
    (void) store;
    cw_replication_t *self = arg;
    if (!cw_cluster_is_primary (self->core))
        return;
    char hash [72];
    cw_replog_head_hash (self->replog, hash, sizeof hash);
    for (int i = 0; i < s_eff (self)->peer_count; i++) {
        s_sync_t *peer = &self->peers [i];
        if (i + 1 == cw_cluster_this_peer (self->core) || !cw_cluster_peer_link_up (self->core, i + 1) || peer->syncing
            || peer->sent_seq != seq - 1)
            continue;
        s_send_changeset (self, i + 1, seq, changeset, len, hash);
    }
}

typedef struct {
    cw_replication_t *self;
    int peer;
} s_catch_up_t;

static int
s_catch_up_one (int64_t seq, const void *changeset, int len, const char *hash, void *arg)
{
    s_catch_up_t *catch_up = arg;
    s_send_changeset (catch_up->self, catch_up->peer, seq, changeset, len, hash);
    return 0;
}

static void
s_on_snapshot_reply (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                     void *arg)
{
    (void) core;
    (void) blob;
    (void) blob_len;
    cw_replication_t *self = arg;
    s_sync_t *state = &self->peers [peer - 1];
    state->syncing = false;
    if (ok && strcmp (cw_jtext (json, "status"), "ok") == 0) {
        state->acked_seq = state->sent_seq = json_integer_value (json_object_get (json, "applied_seq"));
        cw_info ("cluster: peer %d took a snapshot applied_seq=%lld", peer, (long long) state->acked_seq);
        s_check_waiters (self);
    }
    else
        cw_warn ("cluster: snapshot to peer %d failed error=\"%s\"", peer, cw_jtext (json, "error"));
}

//  Send PEER a snapshot of cluster.db (REASON: why its history will not do).
static void
s_send_snapshot (cw_replication_t *self, int peer, int reason)
{
    s_sync_t *state = &self->peers [peer - 1];
    if (zclock_mono () < state->snapshot_after)
        return;
    s_snapshot_job_t job = { .replog = self->replog };
    cw_cluster_run_blocking (self->core, s_snapshot_create_worker, &job);
    if (job.rc) {
        cw_error ("cluster: cannot make a snapshot for peer %d: %s (again in %d s)", peer, job.err,
                  S_SNAPSHOT_RETRY_MS / 1000);
        state->snapshot_after = zclock_mono () + S_SNAPSHOT_RETRY_MS;
        return;
    }
    char cluster_id [40];
    cw_replog_cluster_id (self->replog, cluster_id, sizeof cluster_id);
    json_t *args = json_pack ("{s:s, s:I, s:s}", "op", "snapshot", "seq", (json_int_t) job.seq, "cluster_id",
                              cluster_id);
    cw_info ("cluster: sending a snapshot to peer %d seq=%lld bytes=%lld reason=%s", peer, (long long) job.seq,
             (long long) job.len, cw_replog_rc_name (reason));
    if (cw_cluster_peer_call (self->core, peer, args, job.created, (size_t) job.len, s_on_snapshot_reply, self,
                              CW_SYNC_TIMEOUT_MS)
        == 0) {
        state->syncing = true;
        state->sync_deadline = zclock_mono () + CW_SYNC_TIMEOUT_MS;
        state->sent_seq = job.seq;
        state->snapshot_after = 0;
    }
    else {
        //  Too large for a message, or the link went down: not at every heartbeat
        cw_error ("cluster: cannot send a snapshot to peer %d bytes=%lld (again in %d s)", peer, (long long) job.len,
                  S_SNAPSHOT_RETRY_MS / 1000);
        state->snapshot_after = zclock_mono () + S_SNAPSHOT_RETRY_MS;
    }
    sqlite3_free (job.created);
}

//  On each heartbeat from a subordinate: bring it up to date.
static void
s_sync_peer (cw_replication_t *self, int peer)
{
    s_sync_t *state = &self->peers [peer - 1];
    const cw_peer_view_t *view = cw_cluster_peer_view (self->core, peer);
    if (!cw_cluster_peer_link_up (self->core, peer) || peer == cw_cluster_this_peer (self->core)
        || (state->syncing && zclock_mono () < state->sync_deadline) || view->restarting)
        return;
    char err [256];
    int plan = cw_replog_plan (self->replog, view->cluster_id, view->applied_seq, state->head_hash, err, sizeof err);
    if (plan == CW_REPLOG_OK) {
        if (view->applied_seq > state->acked_seq)
            state->acked_seq = view->applied_seq;
        if (state->sent_seq < state->acked_seq || state->syncing)
            state->sent_seq = state->acked_seq;
        state->syncing = false;
        return;
    }
    if (plan == CW_REPLOG_GAP) {
        //  Changes in flight will answer; only catch up what was not sent
        if (state->sent_seq > view->applied_seq && !state->syncing)
            return;
        s_catch_up_t catch_up = { self, peer };
        plan = cw_replog_changesets_since (self->replog, view->applied_seq, s_catch_up_one, &catch_up, err, sizeof err);
        state->syncing = false;
        if (plan == CW_REPLOG_OK) {
            cw_info ("cluster: catching up peer %d from seq %lld", peer, (long long) view->applied_seq);
            return;
        }
        //  too old or conflict: a snapshot
    }
    if (plan == CW_REPLOG_TOO_OLD || plan == CW_REPLOG_CONFLICT)
        s_send_snapshot (self, peer, plan);
    else
        cw_warn ("cluster: cannot plan the sync of peer %d: %s", peer, err);
}

// ---------------------------------------------------------------------------
//  The subordinate side

//  True, with the refusal sent to TARGET, when PEER is not this node's
//  primary (WHAT: what it sent).
static bool
s_refused (cw_replication_t *self, int peer, const char *what, const cw_reply_target_t *target)
{
    if (peer == s_eff (self)->primary && !cw_cluster_is_primary (self->core))
        return false;
    char error [160];
    snprintf (error, sizeof error, "this peer does not take %s from a peer that is not its primary", what);
    cw_cluster_answer_bare (self->core, target, json_pack ("{s:s, s:s}", "status", "refused", "error", error));
    return true;
}

static void
s_op_changeset (cw_cluster_t *core, int peer, json_t *json, const uint8_t *blob, size_t len,
                const cw_reply_target_t *target, void *arg)
{
    cw_replication_t *self = arg;
    if (s_refused (self, peer, "changes", target))
        return;
    char mine [40];
    cw_replog_cluster_id (self->replog, mine, sizeof mine);
    int64_t seq = json_integer_value (json_object_get (json, "seq"));
    int64_t need_from = 0;
    char err [512] = "";
    int rc;
    if (strcmp (mine, cw_jtext (json, "cluster_id")) != 0)
        rc = CW_REPLOG_TOO_OLD;    //  another history: the primary sends a snapshot
    else
        rc = cw_replog_apply (self->replog, seq, blob, (int) len, cw_jtext (json, "hash"), &need_from, err, sizeof err);
    if (rc == CW_REPLOG_OK) {
        self->conflict = false;
        self->replication_error [0] = 0;
        cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
    }
    else if (rc == CW_REPLOG_CONFLICT) {
        self->conflict = true;
        cw_warn ("cluster: change %lld conflicts with this peer's configuration: %s", (long long) seq, err);
    }
    else if (rc == CW_REPLOG_INVALID || rc == CW_REPLOG_ERROR)
        snprintf (self->replication_error, sizeof self->replication_error,
                  "change %lld from the primary could not be applied: %.180s", (long long) seq, err);
    cw_cluster_answer_bare (core, target,
                            json_pack ("{s:s, s:I, s:I, s:s}", "status", cw_replog_rc_name (rc), "applied_seq",
                                       (json_int_t) cw_replog_applied_seq (self->replog), "need_from",
                                       (json_int_t) need_from, "error", err));
}

static void
s_op_snapshot (cw_cluster_t *core, int peer, json_t *json, const uint8_t *blob, size_t len,
               const cw_reply_target_t *target, void *arg)
{
    cw_replication_t *self = arg;
    if (s_refused (self, peer, "a snapshot", target))
        return;
    s_snapshot_job_t job = { .replog = self->replog,
                             .blob = blob,
                             .len = (int64_t) len,
                             .seq = json_integer_value (json_object_get (json, "seq")) };
    cw_cluster_run_blocking (core, s_snapshot_apply_worker, &job);
    if (job.rc == CW_REPLOG_OK) {
        self->conflict = false;
        self->sync_failed = false;
        self->sync_error [0] = 0;
        self->replication_error [0] = 0;
        cw_info ("cluster: took the primary's configuration (snapshot) seq=%lld bytes=%zu", (long long) job.seq, len);
        cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
        self->in_sync = true;    //  we hold what the primary held when it sent it
        s_check_waiters (self);
    }
    else {
        self->sync_failed = true;
        snprintf (self->sync_error, sizeof self->sync_error, "snapshot from the primary: %.220s", job.err);
        cw_error ("cluster: %s", self->sync_error);
    }
    cw_cluster_answer_bare (core, target,
                            json_pack ("{s:s, s:I, s:s}", "status", cw_replog_rc_name (job.rc), "applied_seq",
                                       (json_int_t) cw_replog_applied_seq (self->replog), "error", job.err));
    cw_cluster_send_heartbeats (core);    //  the others learn at once that we joined
}

// ---------------------------------------------------------------------------
//  Writes: committed here, forwarded to the primary, or waited for

//  Why a cluster-wide change must wait (a peer joining, restarting,
//  upgrading), or "" when it may go ahead.
static void
s_change_blocker (cw_replication_t *self, char *why, size_t size)
{
    why [0] = 0;
    const cw_cluster_settings_t *eff = s_eff (self);
    for (int i = 0; i < eff->peer_count; i++) {
        if (i + 1 == cw_cluster_this_peer (self->core) || !cw_cluster_peer_alive (self->core, i + 1))
            continue;
        const cw_peer_view_t *v = cw_cluster_peer_view (self->core, i + 1);
        const char *what = v->upgrading                         ? "upgrading"
                         : strcmp (v->version, CW_VERSION) != 0 ? "running another software version"
                         : v->joining                           ? "joining the cluster"
                                                                : NULL;
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i + 1, eff->peers [i], what);
            return;
        }
    }
    for (int i = 0; i < eff->peer_count; i++)
        if (i + 1 != cw_cluster_this_peer (self->core) && cw_cluster_peer_restarting (self->core, i + 1)) {
            snprintf (why, size, "peer %d (%s) is restarting (it announced a restart)", i + 1, eff->peers [i]);
            return;
        }
}

//  Commit a write ARGS on this node (primary or not clustered) and answer
//  TARGET, now or when every live peer applied it (wait).
static void
s_commit_write (cw_replication_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    json_t *reply = NULL;
    char missing [512];
    int64_t before = cw_replog_applied_seq (self->replog);
    cw_reply_status_t status;
    if (strcmp (command, "replication.data.put") == 0) {
        int64_t seq;
        void *changeset;
        int len;
        status = cw_data_put (self->store, args, &reply, &seq, &changeset, &len);
        if (seq > 0)
            s_on_replicate (self->store, seq, changeset, len, self);
        sqlite3_free (changeset);
    }
    else
        status = cw_config_store_handle (self->store, command, args, &reply);
    int64_t seq = cw_replog_applied_seq (self->replog);
    if (status == CW_REPLY_OK)
        cw_cluster_publish_summary (self->core);    //  before the reply: `status` right after sees it
    if (status == CW_REPLY_OK && json_is_object (reply) && seq > before)
        json_object_set_new (reply, "seq", json_integer (seq));
    if (status == CW_REPLY_OK && json_is_true (json_object_get (args, "wait")) && seq > before
        && !s_all_applied (self, seq, missing, sizeof missing)) {
        s_wait (self, target, seq, reply);
        return;
    }
    cw_cluster_answer (self->core, target, status == CW_REPLY_OK, reply);
}

static bool
s_forwardable (const char *command)
{
    return strcmp (command, "config.set") == 0 || strcmp (command, "config.unset") == 0
        || strcmp (command, "replication.data.put") == 0;
}

//  A write to commit as the primary: refused while a change must wait.
static void
s_primary_write (cw_replication_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    char why [512];
    s_change_blocker (self, why, sizeof why);
    if (*why && !json_is_true (json_object_get (args, "force"))) {
        cw_cluster_answer (self->core, target, false,
                           cw_error_body ("cluster-wide change refused: %s; retry when it is active, or use --force",
                                          why));
        return;
    }
    s_commit_write (self, command, json_is_object (args) ? args : NULL, target);
}

//  A forwarded write arrived (we should be the primary).
static void
s_op_forward (cw_cluster_t *core, int peer, json_t *json, const uint8_t *blob, size_t len,
              const cw_reply_target_t *target, void *arg)
{
    (void) peer;
    (void) blob;
    (void) len;
    cw_replication_t *self = arg;
    const char *command = cw_jtext (json, "command");
    if (!cw_cluster_is_primary (core))
        cw_cluster_answer (core, target, false,
                           cw_error_body ("peer %d is not the configuration primary (primary is peer %d)",
                                          cw_cluster_this_peer (core), s_eff (self)->primary));
    else if (!s_forwardable (command))
        cw_cluster_answer (core, target, false, cw_error_body ("cannot forward '%s'", command));
    else
        s_primary_write (self, command, json_object_get (json, "args"), target);
}

static void
s_on_forward_reply (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                    void *arg)
{
    (void) blob;
    (void) blob_len;
    cw_reply_target_t *target = arg;
    if (!ok && strstr (cw_jtext (json, "error"), "did not answer"))
        cw_cluster_answer (core, target, false,
                           cw_error_body ("the configuration primary, peer %d (%s), did not answer in time", peer,
                                          cw_settings_address (cw_cluster_effective (core), peer)));
    else
        cw_cluster_answer (core, target, ok, json_incref (json));
    free (target);
}

//  A subordinate's cluster-scope write: validated here (a clear error at
//  once), then sent to the primary.
static cw_reply_status_t
s_forward (cw_replication_t *self, const cw_envelope_t *req, const cw_config_key_t *key, json_t *args,
           const cw_reply_target_t *target, json_t **reply)
{
    char err [512];
    if (key && strcmp (req->command, "config.set") == 0) {
        json_t *normal = cw_registry_normalize (key, json_object_get (args, "value"), err, sizeof err);
        if (!normal) {
            *reply = cw_error_body ("%s", err);
            return CW_REPLY_ERROR;
        }
        json_decref (normal);
    }
    int primary = s_eff (self)->primary;
    cw_reply_target_t *pending = malloc (sizeof *pending);
    *pending = *target;
    json_t *call = json_pack ("{s:s, s:s, s:O}", "op", "forward", "command", req->command, "args", args);
    //  A primary that is not alive fails the write at once, even when its
    //  TCP link still looks up (a partition, a frozen node)
    if (!cw_cluster_peer_link_up (self->core, primary) || !cw_cluster_peer_alive (self->core, primary)) {
        json_decref (call);
        call = NULL;
    }
    if (!call
        || cw_cluster_peer_call (self->core, primary, call, NULL, 0, s_on_forward_reply, pending,
                                 CW_PEER_CALL_TIMEOUT_MS + 1000)
               != 0) {
        free (pending);
        *reply = cw_error_body ("%s is cluster-wide and is changed on the configuration primary, "
                                "peer %d (%s), which is unreachable",
                                key ? key->name : "replicated data", primary,
                                cw_settings_address (s_eff (self), primary));
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

cw_reply_status_t
cw_replication_write (cw_replication_t *self, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    bool data = strcmp (req->command, "replication.data.put") == 0;
    const cw_config_key_t *key = data ? NULL : cw_registry_lookup (cw_jtext (args, "key"));
    cw_reply_target_t target = { .remote = false, .corr = req->corr };
    cw_copy (target.to, sizeof target.to, req->from);
    bool clustered = s_eff (self)->peer_count > 0 && cw_cluster_this_peer (self->core) > 0;
    if ((!data && (!key || key->scope != CW_SCOPE_CLUSTER)) || !clustered)
        s_commit_write (self, req->command, args, &target);
    else if (cw_cluster_is_primary (self->core))
        s_primary_write (self, req->command, args, &target);
    else
        return s_forward (self, req, key, args, &target, reply);
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  ForceConfigUpdate and replication.status

static cw_reply_status_t
s_cmd_force_config_update (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) args;
    cw_replication_t *self = arg;
    //  Answered once the primary's whole configuration is in place
    char err [512];
    int primary = s_eff (self)->primary;
    if (!cw_cluster_is_primary (self->core) && cw_cluster_this_peer (self->core)
        && !cw_cluster_peer_alive (self->core, primary)) {
        *reply = cw_error_body ("the configuration primary, peer %d (%s), is unreachable; "
                                "ForceConfigUpdate takes its configuration, so it must be running",
                                primary, cw_settings_address (s_eff (self), primary));
        return CW_REPLY_ERROR;
    }
    if (cw_cluster_force_config_update (self->core, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    cw_reply_target_t target = { .remote = false, .corr = req->corr };
    cw_copy (target.to, sizeof target.to, req->from);
    s_wait (self, &target, -1,
            json_pack ("{s:b, s:i, s:s}", "reset", true, "primary", primary, "result",
                       "the primary's configuration is in place"));
    cw_cluster_send_heartbeats (self->core);    //  the primary sees at once that we need a snapshot
    return CW_REPLY_DEFERRED;
}

static void
s_peer_force_config_update (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    (void) args;
    (void) arg;
    char err [512];
    if (cw_cluster_force_config_update (core, err, sizeof err))
        cw_cluster_answer (core, target, false, cw_error_body ("%s", err));
    else
        cw_cluster_answer (core, target, true, json_pack ("{s:b}", "reset", true));
}

static cw_reply_status_t
s_cmd_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_replication_t *self = arg;
    bool primary = cw_cluster_is_primary (self->core);
    *reply = json_pack ("{s:s, s:I, s:b, s:b}", "mode", s_eff (self)->peer_count ? "cluster" : "single-node",
                        "applied_seq", (json_int_t) cw_replog_applied_seq (self->replog), "primary", primary, "in_sync",
                        primary || self->in_sync);
    return CW_REPLY_OK;
}

const cw_command_t cw_replication_commands [] = {
    { "cluster.force_config_update", s_cmd_force_config_update, 0,
      "discard the cluster-wide configuration and take the primary's" },
    { "xcommand.ForceConfigUpdate", s_cmd_force_config_update, 0, "the same, by its xCommand name" },
    { "replication.status", s_cmd_status, CW_CMD_IDEMPOTENT, "replication state of this node" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Hooks

static void
s_heartbeat_out (cw_cluster_t *core, int to, json_t *hb, void *arg)
{
    (void) core;
    (void) to;
    cw_replication_t *self = arg;
    char hash [72];
    cw_replog_head_hash (self->replog, hash, sizeof hash);
    json_object_set_new (hb, "head_hash", json_string (hash));
}

static void
s_heartbeat_in (cw_cluster_t *core, int from, json_t *hb, void *arg)
{
    cw_replication_t *self = arg;
    cw_copy (self->peers [from - 1].head_hash, sizeof self->peers [from - 1].head_hash, cw_jtext (hb, "head_hash"));
    const cw_peer_view_t *v = cw_cluster_peer_view (core, from);
    //  A subordinate is in sync once it holds what the primary holds
    if (!cw_cluster_is_primary (core) && from == s_eff (self)->primary && !self->in_sync) {
        char mine [40];
        cw_replog_cluster_id (self->replog, mine, sizeof mine);
        if (strcmp (mine, v->cluster_id) == 0 && cw_replog_applied_seq (self->replog) == v->applied_seq) {
            self->in_sync = true;
            cw_cluster_send_heartbeats (core);    //  tell the others at once: no longer joining
            s_check_waiters (self);
        }
    }
    if (cw_cluster_is_primary (core) && !v->restarting)
        s_sync_peer (self, from);
}

static void
s_link (cw_cluster_t *core, int peer, bool up, void *arg)
{
    (void) core;
    cw_replication_t *self = arg;
    if (!up) {
        self->peers [peer - 1].syncing = false;
        self->peers [peer - 1].sent_seq = self->peers [peer - 1].acked_seq;
    }
    s_hold_for_peers (self);
}

//  Forget what the primary knew of every subordinate (or of the ones whose
//  slot changed, CHANGED NULL = all).
static void
s_reset_peers (cw_replication_t *self, const cw_cluster_settings_t *changed)
{
    const cw_cluster_settings_t *eff = s_eff (self);
    for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++)
        if (!changed || strcmp (changed->peers [i], eff->peers [i]) != 0) {
            memset (&self->peers [i], 0, sizeof self->peers [i]);
            self->peers [i].sent_seq = self->peers [i].acked_seq = -1;
        }
}

static void
s_settings (cw_cluster_t *core, const cw_cluster_settings_t *old, bool was_primary, void *arg)
{
    cw_replication_t *self = arg;
    s_reset_peers (self, old);
    bool primary = cw_cluster_is_primary (core);
    if (primary && !was_primary) {
        self->in_sync = true;
        s_reset_peers (self, NULL);
    }
    if (!primary && was_primary)
        self->in_sync = false;
}

static void
s_own_view (cw_cluster_t *core, cw_peer_view_t *v, void *arg)
{
    cw_replication_t *self = arg;
    v->joining = !cw_cluster_is_primary (core) && !self->in_sync;
}

static void
s_view (cw_cluster_t *core, cw_cluster_view_t *view, void *arg)
{
    cw_replication_t *self = arg;
    view->in_sync = cw_cluster_is_primary (core) || self->in_sync;
    view->replication_conflict = self->conflict;
    cw_copy (view->replication_error, sizeof view->replication_error, self->replication_error);
    view->sync_failed = self->sync_failed;
    cw_copy (view->sync_error, sizeof view->sync_error, self->sync_error);
}

static void
s_discarded (cw_cluster_t *core, void *arg)
{
    (void) core;
    ((cw_replication_t *) arg)->in_sync = false;
}

//  The primary's history keeps what its live subordinates have not
//  confirmed: one that applies more slowly than bulk writes come in is
//  caught up from it (the changes already in flight), not sent a snapshot.
static void
s_hold_for_peers (cw_replication_t *self)
{
    int64_t lowest = -1;
    if (cw_cluster_is_primary (self->core)) {
        const cw_cluster_settings_t *eff = s_eff (self);
        for (int i = 0; i < eff->peer_count; i++) {
            const s_sync_t *state = &self->peers [i];
            if (i + 1 != cw_cluster_this_peer (self->core) && cw_cluster_peer_link_up (self->core, i + 1)
                && cw_cluster_peer_alive (self->core, i + 1) && state->acked_seq >= 0
                && (lowest < 0 || state->acked_seq < lowest))
                lowest = state->acked_seq;
        }
    }
    cw_replog_hold (self->replog, CW_REPLOG_HOLD_PEERS, lowest);
}

static void
s_tick (cw_cluster_t *core, void *arg)
{
    (void) core;
    s_check_waiters ((cw_replication_t *) arg);
    s_hold_for_peers ((cw_replication_t *) arg);
}

static const cw_peer_op_t s_ops [] = {
    { "changeset", s_op_changeset }, { "snapshot", s_op_snapshot }, { "forward", s_op_forward }, { NULL, NULL }
};

static const cw_peer_command_t s_peer_commands [] = { { "cluster.force_config_update", s_peer_force_config_update },
                                                      { NULL, NULL } };

// ---------------------------------------------------------------------------
//  Life cycle

cw_replication_t *
cw_replication_new (cw_cluster_t *core)
{
    cw_replication_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->core = core;
    self->store = cw_cluster_store (core);
    self->replog = cw_cluster_replog (core);
    self->waiters = zlistx_new ();
    self->in_sync = cw_cluster_is_primary (core);
    if (self->in_sync)
        s_reset_peers (self, NULL);
    cw_cluster_hooks_t hooks = {
        .heartbeat_out = s_heartbeat_out,
        .heartbeat_in = s_heartbeat_in,
        .link = s_link,
        .settings = s_settings,
        .own_view = s_own_view,
        .view = s_view,
        .discarded = s_discarded,
        .tick = s_tick,
        .arg = self,
    };
    if (cw_data_init (self->store) || cw_cluster_hooks (core, &hooks) || cw_cluster_peer_ops (core, s_ops, self)
        || cw_cluster_peer_commands (core, s_peer_commands, self)) {
        cw_replication_destroy (&self);
        return NULL;
    }
    cw_config_store_on_replicate (self->store, s_on_replicate, self);
    cw_cluster_publish_summary (core);    //  with the replication state, before READY
    return self;
}

void
cw_replication_destroy (cw_replication_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_replication_t *self = *self_p;
    cw_cluster_hooks_remove (self->core, self);
    cw_config_store_on_replicate (self->store, NULL, NULL);
    for (s_waiter_t *w = zlistx_first (self->waiters); w; w = zlistx_next (self->waiters)) {
        cw_cluster_deadline_cancel (self->core, w->deadline);
        json_decref (w->body);
        free (w);
    }
    zlistx_destroy (&self->waiters);
    free (self);
    *self_p = NULL;
}
