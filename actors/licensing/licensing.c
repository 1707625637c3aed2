/*  licensing.c - the licensing actor (see licensing.h).

    Sections: keys (verify, add, remove, list), leases (acquire, release,
    holders that go), the pool between peers (the local side's offers and
    demands, the primary's ledger), the cluster (cluster.peers, reports),
    status, alarms, and the actor's wiring (commands, events, timer).

    Everything runs on the actor's one loop; nothing blocks but the
    keystore's commits (an add or remove, and a ledger change before an
    offer goes out: both rare, never per acquire).
*/
#include "licensing.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cw_alarm.h"
#include "cw_license.h"
#include "cw_statefile.h"
#include "cw_text.h"
#include "keyring.h"
#include "keystore.h"
#include "leases.h"
#include "peers.h"
#include "pool.h"
#include "rules.h"

#define S_TICK_MS 20              //  timer: deadlines, offers, reports
#define S_REPORT_EVERY_MS 1000    //  a report to the peers at least this often
#define S_REPORT_GAP_MS 50        //  and at most this often for usage changes
#define S_ALARMS_EVERY_MS 1000
#define S_KEYS_EVERY_MS 60000    //  expiry re-checked
#define S_WAIT_MS 2000           //  an acquire waiting for a share
#define S_DEMAND_AGAIN_MS 300    //  a demand repeated while acquires wait
#define S_OFFER_TIMEOUT_MS 2000
#define S_MAX_WAITING 65536
#define S_MAX_BATCH 1000    //  licenses one acquire may take at once

typedef struct {
    cw_licensing_t *self;
    int kind;
} s_demand_ctx_t;

typedef struct {
    char to [64];
    uint64_t corr;
    char owner [CW_LEASES_OWNER_MAX];
    int pid;
    int kind;
    int count;     //  licenses asked for at once
    bool batch;    //  asked with a count: answered with "leases"
    int64_t deadline;
} s_waiting_t;

struct _cw_licensing_t {
    cw_actor_t *actor;
    const cw_bootstrap_t *boot;
    char system_name [64];
    int config_seen;
    int64_t started;

    cw_keystore_t *store;
    cw_keyring_t keyring;    //  this peer's option keys

    cw_leases_t *leases;
    cw_pool_local_t *local;    //  in the lease file
    zhashx_t *pids;            //  actor name -> pid (as uintptr_t)

    s_waiting_t *waiting;    //  FIFO ring of acquires waiting for a share
    size_t wait_head, wait_count;
    int64_t demanded_at [CW_POOL_KINDS];
    s_demand_ctx_t demand_ctx [CW_POOL_KINDS];

    cw_peers_t peers;
    char primary_address [256];    //  "" = this node
    cw_pool_ledger_t *ledger;      //  on the primary only
    bool offer_out [CW_POOL_PEERS + 1];
    zlistx_t *offers_out;                //  s_offer_ctx_t of the offers sent, not answered
    struct _s_reconcile_t *reconcile;    //  while the start's reconciliation runs

    bool report_due;    //  something changed: report to the peers soon
    int64_t reported_at;
    int64_t alarms_at, keys_at;
    cw_lalarm_t raised [CW_RULES_MAX];    //  what we have up
    size_t raised_count;
    bool raised_known;    //  alarms.list answered (or failed) at start
    int timer;
};

static int64_t
s_now (void)
{
    return zclock_time ();
}

static void s_pool_changed (cw_licensing_t *self);
static void s_serve_waiting (cw_licensing_t *self, int kind, bool exhausted);
static void s_demand (cw_licensing_t *self, int kind);
static void s_pump (cw_licensing_t *self);

// ---------------------------------------------------------------------------
//  Keys

//  Verify every key again; the own record's installed and features
//  follow. True when what counts changed.
static bool
s_keys_reload (cw_licensing_t *self)
{
    int64_t installed [CW_POOL_KINDS];
    json_t *features = json_array ();
    cw_keyring_verify (&self->keyring, self->system_name, time (NULL), installed, features);
    bool changed = cw_peers_set_own (&self->peers, installed, features);
    json_decref (features);
    self->keys_at = s_now ();
    return changed;
}

static cw_reply_status_t
s_cmd_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_licensing_t *self = arg;
    cw_lkey_t key;
    char err [1024];
    if (cw_keyring_add (&self->keyring, cw_jtext (args, "key"), self->system_name, &key, err, sizeof err) != 0) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    s_keys_reload (self);
    s_pool_changed (self);
    *reply = json_pack ("{s:o}", "added", cw_keyring_key_json (&key));
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_licensing_t *self = arg;
    char serial [64], err [1024];
    if (cw_keyring_remove (&self->keyring, cw_jtext (args, "key"), serial, err, sizeof err) != 0) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    s_keys_reload (self);
    s_pool_changed (self);
    *reply = json_pack ("{s:s}", "removed", serial);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_licensing_t *self = arg;
    json_t *list = json_array ();
    for (size_t i = 0; i < self->keyring.count; i++)
        json_array_append_new (list, cw_keyring_key_json (&self->keyring.keys [i]));
    *reply = json_pack ("{s:o, s:s}", "keys", list, "system_name", self->system_name);
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  Leases

static int
s_pid_of (cw_licensing_t *self, const char *owner)
{
    return (int) (uintptr_t) zhashx_lookup (self->pids, owner);
}

//  Pass every waiting acquire, in order, to VISIT; it returns true to keep
//  one waiting (answered or dropped otherwise).
typedef bool (s_wait_visit_fn) (cw_licensing_t *self, const s_waiting_t *wait, void *arg);

static void
s_waiting_each (cw_licensing_t *self, s_wait_visit_fn *visit, void *arg)
{
    size_t count = self->wait_count;
    for (size_t n = 0; n < count; n++) {
        s_waiting_t wait = self->waiting [self->wait_head];
        self->wait_head = (self->wait_head + 1) % S_MAX_WAITING;
        self->wait_count--;
        if (visit (self, &wait, arg))    //  back in the queue, order kept
            self->waiting [(self->wait_head + self->wait_count++) % S_MAX_WAITING] = wait;
    }
}

//  Grant COUNT licenses of KIND to OWNER when this peer's share has room
//  for all of them (*BODY set, true), else nothing (false). BATCH: the
//  answer lists "leases", else it names the one "lease".
static bool
s_grant (cw_licensing_t *self, int kind, const char *owner, int pid, int count, bool batch, json_t **body)
{
    if (self->local->share [kind] - self->local->used [kind] < count)
        return false;
    json_t *leases = json_array ();
    for (int i = 0; i < count; i++) {
        char id [CW_LEASE_ID_MAX];
        cw_pool_local_acquire (self->local, kind);    //  there is room: checked above
        if (cw_leases_take (self->leases, owner, pid, kind, id) == 0) {
            json_array_append_new (leases, json_string (id));
            continue;
        }
        //  The lease table is full: give back what this request took
        cw_pool_local_release (self->local, kind);
        size_t n;
        json_t *taken;
        json_array_foreach (leases, n, taken) {
            cw_leases_give (self->leases, json_string_value (taken), NULL, NULL);
            cw_pool_local_release (self->local, kind);
        }
        json_decref (leases);
        *body = json_pack ("{s:b, s:s, s:s}", "granted", false, "reason", "this peer's lease table is full", "kind",
                           cw_license_capacity_kinds [kind]);
        return true;
    }
    self->report_due = true;
    if (batch)
        *body = json_pack ("{s:b, s:o, s:s, s:i}", "granted", true, "leases", leases, "kind",
                           cw_license_capacity_kinds [kind], "count", count);
    else {
        *body = json_pack ("{s:b, s:O, s:s}", "granted", true, "lease", json_array_get (leases, 0), "kind",
                           cw_license_capacity_kinds [kind]);
        json_decref (leases);
    }
    return true;
}

static json_t *
s_refusal (cw_licensing_t *self, int kind, const char *why)
{
    int64_t pool = cw_peers_pool (&self->peers, kind);
    char reason [512];
    if (why)
        snprintf (reason, sizeof reason, "%s", why);
    else if (pool == 0)
        snprintf (reason, sizeof reason, "no %s licenses: the pool is empty (install a key with causeway license add)",
                  cw_license_capacity_kinds [kind]);
    else
        snprintf (reason, sizeof reason, "the pool of %s is used up (%lld of %lld in use)",
                  cw_license_capacity_kinds [kind], (long long) cw_peers_used (&self->peers, kind), (long long) pool);
    return json_pack ("{s:b, s:s, s:s}", "granted", false, "reason", reason, "kind", cw_license_capacity_kinds [kind]);
}

static cw_reply_status_t
s_cmd_acquire (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_licensing_t *self = arg;
    const char *name = cw_jtext (args, "kind");
    int kind = cw_license_capacity_index (name);
    if (kind < 0) {
        *reply = cw_error_body ("license.acquire: 'kind' must be a capacity kind (rich_media_sessions, room_systems, "
                                "desktop_systems, traversal_calls, non_traversal_calls), not '%s'",
                                name);
        return CW_REPLY_ERROR;
    }
    json_t *count_json = json_object_get (args, "count");
    bool batch = count_json != NULL;
    json_int_t count = batch ? json_integer_value (count_json) : 1;
    if (batch && (!json_is_integer (count_json) || count < 1 || count > S_MAX_BATCH)) {
        *reply = cw_error_body ("license.acquire: 'count' must be 1..%d (licenses taken at once)", S_MAX_BATCH);
        return CW_REPLY_ERROR;
    }
    int pid = s_pid_of (self, req->from);
    if (self->wait_count == 0 && s_grant (self, kind, req->from, pid, (int) count, batch, reply))
        return CW_REPLY_OK;
    if (cw_peers_pool (&self->peers, kind) < count || self->wait_count == S_MAX_WAITING) {
        *reply = s_refusal (self, kind, NULL);
        return CW_REPLY_OK;
    }
    //  Wait for a share from the primary
    s_waiting_t *wait = &self->waiting [(self->wait_head + self->wait_count++) % S_MAX_WAITING];
    cw_copy (wait->to, sizeof wait->to, req->from);
    wait->corr = req->corr;
    cw_copy (wait->owner, sizeof wait->owner, req->from);
    wait->pid = pid;
    wait->kind = kind;
    wait->count = (int) count;
    wait->batch = batch;
    wait->deadline = zclock_mono () + S_WAIT_MS;
    s_serve_waiting (self, kind, false);
    if (self->wait_count)
        s_demand (self, kind);
    return CW_REPLY_DEFERRED;
}

//  Release lease ID; false when it is not held here.
static bool
s_release_one (cw_licensing_t *self, const char *id)
{
    int kind = -1;
    if (cw_leases_give (self->leases, id, &kind, NULL) != 0)
        return false;
    cw_pool_local_release (self->local, kind);
    return true;
}

static cw_reply_status_t
s_cmd_release (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_licensing_t *self = arg;
    json_t *list = json_object_get (args, "leases");
    if (json_is_array (list)) {
        //  Several at once: release what is held, name what was not
        json_t *unknown = json_array ();
        size_t i, released = 0;
        json_t *item;
        json_array_foreach (list, i, item) {
            if (json_is_string (item) && s_release_one (self, json_string_value (item)))
                released++;
            else
                json_array_append (unknown, item);
        }
        *reply = json_pack ("{s:b, s:I, s:o}", "released", released > 0, "count", (json_int_t) released, "not_held",
                            unknown);
    }
    else {
        const char *id = cw_jtext (args, "lease");
        if (!s_release_one (self, id)) {
            *reply = cw_error_body ("no lease '%s' is held on this peer", id);
            return CW_REPLY_ERROR;
        }
        *reply = json_pack ("{s:b, s:s}", "released", true, "lease", id);
    }
    self->report_due = true;
    if (self->wait_count)
        s_serve_waiting (self, -1, false);
    return CW_REPLY_OK;
}

static void
s_freed (cw_licensing_t *self, const char *why, size_t count, const int64_t freed [CW_POOL_KINDS])
{
    if (!count)
        return;
    for (int k = 0; k < CW_POOL_KINDS; k++)
        for (int64_t n = 0; n < freed [k]; n++)
            cw_pool_local_release (self->local, k);
    self->report_due = true;
    cw_info ("leases freed count=%zu holder=\"%s\"", count, why);
    if (self->wait_count)
        s_serve_waiting (self, -1, false);
}

static bool
s_keep_unless_owner (cw_licensing_t *self, const s_waiting_t *wait, void *arg)
{
    (void) self;
    return strcmp (wait->owner, (const char *) arg) != 0;
}

static void
s_drop_owner (cw_licensing_t *self, const char *owner)
{
    //  Its acquires still waiting for a share go with it: a lease granted
    //  to a holder that is gone would never be released
    s_waiting_each (self, s_keep_unless_owner, (void *) owner);
    int64_t freed [CW_POOL_KINDS] = { 0 };
    size_t count = cw_leases_drop_owner (self->leases, owner, freed);
    s_freed (self, owner, count, freed);
}

//  Reconciliation at start: holders that went while we were down
typedef struct _s_reconcile_t {
    cw_licensing_t *self;
    json_t *actors;     //  supervisor's `actors` list, or NULL
    json_t *clients;    //  `control.clients` list, or NULL
    int pending;
} s_reconcile_t;

static bool
s_keep (const char *owner, int pid, void *arg)
{
    s_reconcile_t *rec = arg;
    if (strncmp (owner, "@control", 8) == 0) {
        if (!rec->clients)
            return true;
        size_t i;
        json_t *item;
        json_array_foreach (rec->clients, i, item)
            if (json_is_string (item) && strcmp (json_string_value (item), owner) == 0)
                return true;
        return false;
    }
    if (!rec->actors)
        return true;
    size_t i;
    json_t *item;
    json_array_foreach (rec->actors, i, item) {
        if (strcmp (cw_jtext (item, "name"), owner) != 0)
            continue;
        int now = (int) json_integer_value (json_object_get (item, "pid"));
        return now > 0 && (pid == 0 || pid == now);
    }
    return false;    //  not an actor of this node any more
}

static void
s_reconcile_done (cw_licensing_t *self, s_reconcile_t *rec)
{
    int64_t freed [CW_POOL_KINDS] = { 0 };
    size_t count = cw_leases_drop_stale (self->leases, s_keep, rec, freed);
    s_freed (self, "gone while the licensing actor was down", count, freed);
    json_decref (rec->actors);
    json_decref (rec->clients);
    self->reconcile = NULL;
    free (rec);
}

static void
s_on_clients (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_reconcile_t *rec = arg;
    cw_licensing_t *self = rec->self;
    (void) actor;
    if (ok && json_is_array (json_object_get (body, "clients")))
        rec->clients = json_incref (json_object_get (body, "clients"));
    if (--rec->pending == 0)
        s_reconcile_done (self, rec);
}

static void
s_on_actors (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_reconcile_t *rec = arg;
    cw_licensing_t *self = rec->self;
    (void) actor;
    json_t *list = json_object_get (body, "actors");
    if (ok && json_is_array (list)) {
        rec->actors = json_incref (list);
        size_t i;
        json_t *item;
        json_array_foreach (list, i, item) {
            int pid = (int) json_integer_value (json_object_get (item, "pid"));
            const char *name = cw_jtext (item, "name");
            if (*name && pid > 0)
                zhashx_update (self->pids, name, (void *) (uintptr_t) pid);
        }
    }
    if (--rec->pending == 0)
        s_reconcile_done (self, rec);
}

static void
s_reconcile_start (cw_licensing_t *self)
{
    s_reconcile_t *rec = calloc (1, sizeof *rec);
    if (!rec)
        return;
    rec->self = self;
    rec->pending = 2;
    self->reconcile = rec;
    cw_actor_request (self->actor, "", "actors.list", NULL, s_on_actors, rec, 5000);
    cw_actor_request (self->actor, "", "control.clients", NULL, s_on_clients, rec, 5000);
}

// ---------------------------------------------------------------------------
//  The pool between peers: the local side

//  Grant waiting acquires while the share allows (KIND -1 = every kind);
//  refuse those of KIND when EXHAUSTED; refuse those past their deadline.
typedef struct {
    int kind;
    bool exhausted;
    int64_t now;
} s_serve_t;

static bool
s_serve_one (cw_licensing_t *self, const s_waiting_t *wait, void *arg)
{
    const s_serve_t *serve = arg;
    json_t *body = NULL;
    if (s_grant (self, wait->kind, wait->owner, wait->pid, wait->count, wait->batch, &body))
        ;
    else if (serve->exhausted && wait->kind == serve->kind)
        body = s_refusal (self, wait->kind, NULL);
    else if (serve->now >= wait->deadline) {
        char why [256];
        snprintf (why, sizeof why, "no share of %s from the configuration primary (peer %d) within %d ms",
                  cw_license_capacity_kinds [wait->kind], self->peers.primary, S_WAIT_MS);
        body = s_refusal (self, wait->kind, why);
    }
    if (!body)
        return true;
    cw_actor_reply (self->actor, wait->to, wait->corr, true, body);
    return false;
}

static void
s_serve_waiting (cw_licensing_t *self, int kind, bool exhausted)
{
    s_serve_t serve = { kind, exhausted, zclock_mono () };
    s_waiting_each (self, s_serve_one, &serve);
}

static int64_t
s_waiting_of (cw_licensing_t *self, int kind)
{
    int64_t count = 0;
    for (size_t n = 0; n < self->wait_count; n++)
        if (self->waiting [(self->wait_head + n) % S_MAX_WAITING].kind == kind)
            count += self->waiting [(self->wait_head + n) % S_MAX_WAITING].count;
    return count;
}

//  Apply OFFER from the primary and fill ACK.
static void
s_apply_offer (cw_licensing_t *self, const cw_pool_offer_t *offer, cw_pool_ack_t *ack)
{
    bool applied = cw_pool_local_offer (self->local, offer, ack);
    if (!applied)
        return;
    self->report_due = true;
    for (int k = 0; k < CW_POOL_KINDS; k++)
        if (self->wait_count) {
            s_serve_waiting (self, k, offer->exhausted [k]);
            if (offer->exhausted [k])
                self->demanded_at [k] = 0;
        }
}

static json_t *
s_ints (const int64_t *values)
{
    json_t *list = json_array ();
    for (int k = 0; k < CW_POOL_KINDS; k++)
        json_array_append_new (list, json_integer (values [k]));
    return list;
}

static bool
s_ints_read (json_t *list, int64_t *values)
{
    if (!json_is_array (list) || json_array_size (list) != CW_POOL_KINDS)
        return false;
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        json_t *item = json_array_get (list, (size_t) k);
        if (!json_is_integer (item))
            return false;
        values [k] = json_integer_value (item);
    }
    return true;
}

static json_t *
s_ack_json (const cw_pool_ack_t *ack)
{
    return json_pack ("{s:I, s:I, s:o, s:o}", "epoch", (json_int_t) ack->epoch, "seq", (json_int_t) ack->seq, "share",
                      s_ints (ack->share), "used", s_ints (ack->used));
}

static bool
s_ack_read (json_t *json, cw_pool_ack_t *ack)
{
    memset (ack, 0, sizeof *ack);
    ack->epoch = (uint64_t) json_integer_value (json_object_get (json, "epoch"));
    ack->seq = (uint64_t) json_integer_value (json_object_get (json, "seq"));
    return s_ints_read (json_object_get (json, "share"), ack->share)
        && s_ints_read (json_object_get (json, "used"), ack->used);
}

//  license.offer {from_peer, epoch, seq, target, exhausted}: from the
//  primary, through the replication actor only
static cw_reply_status_t
s_cmd_offer (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_licensing_t *self = arg;
    if (strcmp (req->from, "replication") != 0) {
        *reply = cw_error_body ("license.offer is sent by the configuration primary's licensing actor only");
        return CW_REPLY_ERROR;
    }
    cw_pool_offer_t offer;
    memset (&offer, 0, sizeof offer);
    offer.epoch = (uint64_t) json_integer_value (json_object_get (args, "epoch"));
    offer.seq = (uint64_t) json_integer_value (json_object_get (args, "seq"));
    json_t *exhausted = json_object_get (args, "exhausted");
    json_t *binding = json_object_get (args, "binding");
    if (!s_ints_read (json_object_get (args, "target"), offer.target) || !json_is_array (exhausted)
        || json_array_size (exhausted) != CW_POOL_KINDS || !json_is_array (binding)
        || json_array_size (binding) != CW_POOL_KINDS) {
        *reply = cw_error_body ("license.offer: malformed");
        return CW_REPLY_ERROR;
    }
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        offer.exhausted [k] = json_is_true (json_array_get (exhausted, (size_t) k));
        offer.binding [k] = json_is_true (json_array_get (binding, (size_t) k));
    }
    int from = (int) json_integer_value (json_object_get (args, "from_peer"));
    cw_pool_ack_t ack;
    if (from != self->peers.primary) {
        //  Not the primary we believe in: apply nothing, say what we hold
        memset (&ack, 0, sizeof ack);
        ack.epoch = self->local->epoch;
        ack.seq = self->local->seq;
        memcpy (ack.share, self->local->share, sizeof ack.share);
        memcpy (ack.used, self->local->used, sizeof ack.used);
        *reply = s_ack_json (&ack);
        json_object_set_new (*reply, "refused", json_string ("not the configuration primary"));
        return CW_REPLY_OK;
    }
    s_apply_offer (self, &offer, &ack);
    *reply = s_ack_json (&ack);
    return CW_REPLY_OK;
}

typedef struct {
    int kind;
    const char *why;
} s_refuse_t;

static bool
s_refuse_one (cw_licensing_t *self, const s_waiting_t *wait, void *arg)
{
    const s_refuse_t *refuse = arg;
    if (wait->kind != refuse->kind)
        return true;
    cw_actor_reply (self->actor, wait->to, wait->corr, true, s_refusal (self, wait->kind, refuse->why));
    return false;
}

//  The primary could not be asked: the acquires waiting for KIND are
//  refused at once, saying why
static void
s_on_demand_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_demand_ctx_t *ctx = arg;
    cw_licensing_t *self = ctx->self;
    if (ok)
        return;
    char why [512];
    snprintf (why, sizeof why, "the configuration primary (peer %d) cannot be asked for a share: %s",
              self->peers.primary, cw_jtext (body, "error"));
    s_refuse_t refuse = { ctx->kind, why };
    s_waiting_each (self, s_refuse_one, &refuse);
    self->demanded_at [ctx->kind] = 0;
}

//  Ask the primary for more of KIND (the acquires waiting).
static void
s_demand (cw_licensing_t *self, int kind)
{
    int64_t need = s_waiting_of (self, kind);
    if (need == 0)
        return;
    int64_t now = zclock_mono ();
    if (self->demanded_at [kind] && now - self->demanded_at [kind] < S_DEMAND_AGAIN_MS)
        return;
    self->demanded_at [kind] = now;
    if (self->ledger) {
        cw_pool_ledger_demand (self->ledger, self->peers.this_peer, kind, need);
        s_pump (self);
        return;
    }
    json_t *args = json_pack ("{s:i, s:s, s:s, s:{s:i, s:i, s:I}}", "peer", self->peers.primary, "actor", "licensing",
                              "command", "license.demand", "args", "from_peer", self->peers.this_peer, "kind", kind,
                              "need", (json_int_t) need);
    cw_actor_request (self->actor, "replication", "replication.peer_request", args, s_on_demand_reply,
                      &self->demand_ctx [kind], S_OFFER_TIMEOUT_MS);
}

//  license.demand {from_peer, kind, need}: to the primary, through the
//  replication actor only
static cw_reply_status_t
s_cmd_demand (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_licensing_t *self = arg;
    if (strcmp (req->from, "replication") != 0) {
        *reply = cw_error_body ("license.demand is sent by a peer's licensing actor only");
        return CW_REPLY_ERROR;
    }
    if (!self->ledger) {
        *reply = cw_error_body ("this peer is not the configuration primary");
        return CW_REPLY_ERROR;
    }
    int peer = (int) json_integer_value (json_object_get (args, "from_peer"));
    int kind = (int) json_integer_value (json_object_get (args, "kind"));
    int64_t need = json_integer_value (json_object_get (args, "need"));
    if (!cw_peers_get (&self->peers, peer) || kind < 0 || kind >= CW_POOL_KINDS || need < 1) {
        *reply = cw_error_body ("license.demand: malformed");
        return CW_REPLY_ERROR;
    }
    cw_pool_ledger_demand (self->ledger, peer, kind, need);
    s_pump (self);
    *reply = json_pack ("{s:b}", "queued", true);
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  The pool between peers: the primary's ledger

typedef struct {
    cw_licensing_t *self;
    int peer;
    char address [256];
    void *handle;    //  in self->offers_out, which owns it
} s_offer_ctx_t;

static void
s_ledger_persist (cw_licensing_t *self, int peer)
{
    const cw_peer_t *record = cw_peers_get (&self->peers, peer);
    int64_t reserved [CW_POOL_KINDS];
    if (!record || !cw_pool_ledger_reserved (self->ledger, peer, reserved))
        return;
    char key [300];
    snprintf (key, sizeof key, "ledger/%s", *record->address ? record->address : "self");
    json_t *value = s_ints (reserved);
    cw_keystore_put (self->store, key, value);
    json_decref (value);
}

static void
s_offer_ctx_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_on_offer_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_offer_ctx_t *ctx = arg;
    cw_licensing_t *self = ctx->self;
    const cw_peer_t *record = cw_peers_get (&self->peers, ctx->peer);
    if (self->ledger && record && strcmp (record->address, ctx->address) == 0) {
        self->offer_out [ctx->peer] = false;
        cw_pool_ack_t ack;
        if (ok && s_ack_read (body, &ack))
            cw_pool_ledger_ack (self->ledger, ctx->peer, &ack);
        else
            cw_pool_ledger_offer_lost (self->ledger, ctx->peer);
        s_ledger_persist (self, ctx->peer);
        s_pump (self);
    }
    zlistx_delete (self->offers_out, ctx->handle);    //  frees CTX
}

//  Send every offer the ledger has (persisting the reservation first).
static void
s_pump (cw_licensing_t *self)
{
    if (!self->ledger)
        return;
    for (int round = 0; round < 8; round++) {
        bool sent = false;
        for (int i = 0; i < self->peers.count; i++) {
            const cw_peer_t *record = &self->peers.peers [i];
            int peer = record->peer;
            if (record->state == CW_PEER_LOST || record->state == CW_PEER_GONE || self->offer_out [peer])
                continue;
            cw_pool_offer_t offer;
            if (!cw_pool_ledger_next_offer (self->ledger, peer, &offer))
                continue;
            s_ledger_persist (self, peer);
            sent = true;
            if (record->state == CW_PEER_THIS) {
                cw_pool_ack_t ack;
                s_apply_offer (self, &offer, &ack);
                cw_pool_ledger_ack (self->ledger, peer, &ack);
                continue;
            }
            json_t *exhausted = json_array ();
            json_t *binding = json_array ();
            for (int k = 0; k < CW_POOL_KINDS; k++) {
                json_array_append_new (exhausted, json_boolean (offer.exhausted [k]));
                json_array_append_new (binding, json_boolean (offer.binding [k]));
            }
            json_t *args = json_pack ("{s:i, s:s, s:s, s:{s:i, s:I, s:I, s:o, s:o, s:o}}", "peer", peer, "actor",
                                      "licensing", "command", "license.offer", "args", "from_peer",
                                      self->peers.this_peer, "epoch", (json_int_t) offer.epoch, "seq",
                                      (json_int_t) offer.seq, "target", s_ints (offer.target), "exhausted", exhausted,
                                      "binding", binding);
            s_offer_ctx_t *ctx = calloc (1, sizeof *ctx);
            if (!ctx) {
                json_decref (args);
                cw_pool_ledger_offer_lost (self->ledger, peer);
                continue;
            }
            ctx->self = self;
            ctx->peer = peer;
            ctx->handle = zlistx_add_end (self->offers_out, ctx);
            cw_copy (ctx->address, sizeof ctx->address, record->address);
            self->offer_out [peer] = true;
            cw_actor_request (self->actor, "replication", "replication.peer_request", args, s_on_offer_reply, ctx,
                              S_OFFER_TIMEOUT_MS);
        }
        if (!sent)
            break;
    }
}

//  The ledger follows the peers: liveness, the pool, who is primary.
static void
s_ledger_sync (cw_licensing_t *self)
{
    if (!self->peers.is_primary) {
        cw_pool_ledger_destroy (&self->ledger);
        memset (self->offer_out, 0, sizeof self->offer_out);
        return;
    }
    bool fresh = !self->ledger;
    if (fresh) {
        json_t *stored = cw_keystore_get (self->store, "epoch");
        uint64_t epoch = (uint64_t) s_now ();
        if (json_is_integer (stored) && (uint64_t) json_integer_value (stored) >= epoch)
            epoch = (uint64_t) json_integer_value (stored) + 1;
        json_decref (stored);
        json_t *value = json_integer ((json_int_t) epoch);
        cw_keystore_put (self->store, "epoch", value);
        json_decref (value);
        self->ledger = cw_pool_ledger_new (epoch);
        memset (self->offer_out, 0, sizeof self->offer_out);
        if (!self->ledger)
            return;
        cw_info ("ledger started epoch=%llu", (unsigned long long) epoch);
    }
    for (int i = 0; i < self->peers.count; i++) {
        const cw_peer_t *record = &self->peers.peers [i];
        if (record->state == CW_PEER_GONE) {
            cw_pool_ledger_drop_peer (self->ledger, record->peer);
            continue;
        }
        int64_t reserved [CW_POOL_KINDS];
        if (!cw_pool_ledger_reserved (self->ledger, record->peer, reserved)) {
            //  New to this ledger: what it may hold at most (the persisted
            //  reservation or its last report, whichever is larger)
            //  (its report's share, its own keys: what a peer cut off
            //  from its primary clamps itself to, the persisted row)
            for (int k = 0; k < CW_POOL_KINDS; k++)
                reserved [k] = record->share [k] > record->installed [k] ? record->share [k] : record->installed [k];
            if (record->state == CW_PEER_THIS)
                memcpy (reserved, self->local->share, sizeof reserved);
            char key [300];
            snprintf (key, sizeof key, "ledger/%s", *record->address ? record->address : "self");
            json_t *stored = cw_keystore_get (self->store, key);
            int64_t persisted [CW_POOL_KINDS];
            if (s_ints_read (stored, persisted))
                for (int k = 0; k < CW_POOL_KINDS; k++)
                    if (persisted [k] > reserved [k])
                        reserved [k] = persisted [k];
            json_decref (stored);
        }
        bool live = record->state == CW_PEER_THIS || record->state == CW_PEER_LIVE;
        cw_pool_ledger_set_peer (self->ledger, record->peer, live, reserved);
    }
    for (int k = 0; k < CW_POOL_KINDS; k++)
        cw_pool_ledger_set_pool (self->ledger, k, cw_peers_pool (&self->peers, k));
    s_pump (self);
}

// ---------------------------------------------------------------------------
//  The cluster

static void
s_report (cw_licensing_t *self)
{
    cw_peer_t *me = cw_peers_self (&self->peers);
    memcpy (me->used, self->local->used, sizeof me->used);
    memcpy (me->share, self->local->share, sizeof me->share);
    cw_copy (me->system_name, sizeof me->system_name, self->system_name);
    self->report_due = false;
    self->reported_at = zclock_mono ();
    if (!self->peers.clustered)
        return;
    json_t *args = json_pack ("{s:s, s:o}", "topic", "licensing.peer", "body", cw_peers_report_body (&self->peers));
    cw_actor_request (self->actor, "replication", "replication.broadcast", args, NULL, NULL, 2000);
}

//  The keys or the peers changed: the pool, the ledger, the peers
static void
s_pool_changed (cw_licensing_t *self)
{
    s_report (self);
    s_ledger_sync (self);
    self->alarms_at = 0;    //  evaluate at the next tick
}

static void
s_on_cluster_peers (cw_licensing_t *self, json_t *body)
{
    bool was_primary = self->peers.is_primary;
    int old_primary = self->peers.primary;
    if (!cw_peers_set_list (&self->peers, body, s_now ()))
        return;
    if (was_primary != self->peers.is_primary || old_primary != self->peers.primary)
        cw_info ("configuration primary is peer %d (this peer %d)", self->peers.primary, self->peers.this_peer);
    //  Another primary: its offers count from scratch (epochs of two
    //  primaries are not comparable; offers from anyone else are refused)
    const cw_peer_t *primary = cw_peers_get (&self->peers, self->peers.primary);
    const char *address = primary && primary->state != CW_PEER_THIS ? primary->address : "";
    if (strcmp (address, self->primary_address) != 0) {
        cw_copy (self->primary_address, sizeof self->primary_address, address);
        json_t *value = json_string (address);
        cw_keystore_put (self->store, "primary", value);
        json_decref (value);
        self->local->epoch = 0;
        self->local->seq = 0;
        memset (self->demanded_at, 0, sizeof self->demanded_at);
    }
    s_pool_changed (self);
}

static void
s_on_peer_report (cw_licensing_t *self, json_t *event)
{
    int peer = (int) json_integer_value (json_object_get (event, "peer"));
    cw_peer_t *record = cw_peers_get (&self->peers, peer);
    if (!record)
        return;
    int64_t installed [CW_POOL_KINDS];
    memcpy (installed, record->installed, sizeof installed);
    if (!cw_peers_report (&self->peers, peer, cw_jtext (event, "system_name"), json_object_get (event, "body")))
        return;
    if (memcmp (installed, record->installed, sizeof installed) != 0)
        s_ledger_sync (self);    //  its keys changed: the pool did
}

// ---------------------------------------------------------------------------
//  Status

static json_t *
s_status (cw_licensing_t *self)
{
    cw_peer_t *me = cw_peers_self (&self->peers);
    memcpy (me->used, self->local->used, sizeof me->used);
    memcpy (me->share, self->local->share, sizeof me->share);
    json_t *types = json_object ();
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        int64_t pool = cw_peers_pool (&self->peers, k);
        int64_t used = cw_peers_used (&self->peers, k);
        json_t *by_peer = json_object ();
        json_t *lost = json_array ();
        for (int i = 0; i < self->peers.count; i++) {
            const cw_peer_t *peer = &self->peers.peers [i];
            const char *name = *peer->system_name ? peer->system_name : peer->address;
            json_object_set_new (by_peer, name,
                                 json_pack ("{s:I, s:I, s:I, s:s, s:i, s:s}", "installed",
                                            (json_int_t) peer->installed [k], "used", (json_int_t) peer->used [k],
                                            "share", (json_int_t) peer->share [k], "state",
                                            cw_peer_state_name (peer->state), "peer", peer->peer, "address",
                                            peer->address));
            if (peer->state == CW_PEER_LOST || peer->state == CW_PEER_GONE) {
                char leaves [32];
                cw_rules_time (peer->lost_at_ms + self->peers.grace_ms, leaves);
                json_array_append_new (lost, json_pack ("{s:s, s:I, s:s, s:b}", "peer", name, "licenses",
                                                        (json_int_t) peer->installed [k], "leaves_at", leaves,
                                                        "in_pool", peer->state == CW_PEER_LOST));
            }
        }
        json_object_set_new (types, cw_license_capacity_kinds [k],
                             json_pack ("{s:I, s:I, s:I, s:o, s:o}", "pool", (json_int_t) pool, "used",
                                        (json_int_t) used, "free", (json_int_t) (pool > used ? pool - used : 0),
                                        "by_peer", by_peer, "lost", lost));
    }
    json_t *features = json_object ();
    bool mismatch = false;
    for (int i = 0; i < self->peers.count; i++) {
        const cw_peer_t *peer = &self->peers.peers [i];
        if (!peer->reported)
            continue;
        json_t *list = json_array ();
        for (int f = 0; f < peer->feature_count; f++)
            json_array_append_new (list, json_string (peer->features [f]));
        json_object_set_new (features, *peer->system_name ? peer->system_name : peer->address, list);
        if ((peer->state == CW_PEER_LIVE || peer->state == CW_PEER_THIS)
            && (peer->feature_count != me->feature_count
                || memcmp (peer->features, me->features, (size_t) me->feature_count * CW_LICENSE_KIND_MAX) != 0))
            mismatch = true;
    }
    const cw_peer_t *primary = cw_peers_get (&self->peers, self->peers.primary);
    json_t *status = json_pack ("{s:o, s:o, s:b, s:s, s:s, s:I, s:s, s:i, s:I, s:i, s:I}", "types", types, "features",
                                features, "feature_mismatch", mismatch, "this_peer", self->system_name, "primary",
                                primary ? (*primary->system_name ? primary->system_name : primary->address) : "",
                                "lost_peer_grace_s", (json_int_t) (self->peers.grace_ms / 1000), "actor", "licensing",
                                "pid", (int) getpid (), "uptime_s",
                                (json_int_t) ((zclock_mono () - self->started) / 1000), "config_seen",
                                self->config_seen, "leases", (json_int_t) cw_leases_owner_count (self->leases));
    json_object_set_new (status, "waiting", json_integer ((json_int_t) self->wait_count));
    return status;
}

static cw_reply_status_t
s_cmd_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    *reply = s_status ((cw_licensing_t *) arg);
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  Alarms

static const cw_lalarm_t *
s_find_alarm (const cw_lalarm_t *list, size_t count, int id, const char *subject)
{
    for (size_t i = 0; i < count; i++)
        if (list [i].id == id && strcmp (list [i].subject, subject) == 0)
            return &list [i];
    return NULL;
}

static void
s_alarms (cw_licensing_t *self)
{
    if (!self->raised_known)
        return;
    cw_peer_t *me = cw_peers_self (&self->peers);
    memcpy (me->used, self->local->used, sizeof me->used);
    cw_lalarm_t wanted [CW_RULES_MAX];
    size_t count = cw_rules_evaluate (&self->peers, self->keyring.keys, self->keyring.count, s_now (), wanted,
                                      CW_RULES_MAX);
    for (size_t i = 0; i < count; i++) {
        const cw_lalarm_t *up = s_find_alarm (self->raised, self->raised_count, wanted [i].id, wanted [i].subject);
        if (!up || strcmp (up->detail, wanted [i].detail) != 0)
            cw_alarm_raise (self->actor, wanted [i].id, wanted [i].subject, wanted [i].detail);
    }
    for (size_t i = 0; i < self->raised_count; i++)
        if (!s_find_alarm (wanted, count, self->raised [i].id, self->raised [i].subject))
            cw_alarm_clear (self->actor, self->raised [i].id, self->raised [i].subject);
    memcpy (self->raised, wanted, count * sizeof wanted [0]);
    self->raised_count = count;
    self->alarms_at = zclock_mono ();
}

static bool
s_our_alarm (int id)
{
    return id == 30012 || id == 30013 || (id >= 30020 && id <= 30025);
}

//  At start: what a previous instance left raised
static void
s_on_alarm_list (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_licensing_t *self = arg;
    self->raised_count = 0;
    json_t *list = json_object_get (body, "alarms");
    if (ok && json_is_array (list)) {
        size_t i;
        json_t *item;
        json_array_foreach (list, i, item) {
            int id = (int) json_integer_value (json_object_get (item, "id"));
            if (!s_our_alarm (id) || self->raised_count == CW_RULES_MAX)
                continue;
            cw_lalarm_t *alarm = &self->raised [self->raised_count++];
            alarm->id = id;
            cw_copy (alarm->subject, sizeof alarm->subject, cw_jtext (item, "subject"));
            cw_copy (alarm->detail, sizeof alarm->detail, cw_jtext (item, "detail"));
        }
    }
    self->raised_known = true;
    s_alarms (self);
}

// ---------------------------------------------------------------------------
//  Wiring

static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    cw_licensing_t *self = arg;
    const char *topic = ev->command;
    if (strcmp (topic, "cluster.licensing.peer") == 0)
        s_on_peer_report (self, body);
    else if (strcmp (topic, "cluster.peers") == 0)
        s_on_cluster_peers (self, body);
    else if (strcmp (topic, "actor.down") == 0)
        s_drop_owner (self, cw_jtext (body, "name"));
    else if (strcmp (topic, "actor.ready") == 0) {
        //  A new instance: the leases of the one before it are void
        const char *name = cw_jtext (body, "name");
        int pid = (int) json_integer_value (json_object_get (body, "pid"));
        if (*name && pid > 0 && s_pid_of (self, name) != pid) {
            s_drop_owner (self, name);
            zhashx_update (self->pids, name, (void *) (uintptr_t) pid);
        }
    }
    else if (strcmp (topic, "control.client.closed") == 0)
        s_drop_owner (self, cw_jtext (body, "client"));
    else if (strncmp (topic, "config.changed.", 15) == 0) {
        self->config_seen++;
        if (strcmp (topic, "config.changed.system.name") == 0) {
            const char *name = cw_jtext (body, "value");
            cw_copy (self->system_name, sizeof self->system_name, *name ? name : self->boot->node.name);
            if (s_keys_reload (self))
                s_pool_changed (self);
            else
                self->report_due = true;
        }
    }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_licensing_t *self = arg;
    int64_t mono = zclock_mono ();
    if (self->wait_count) {
        s_serve_waiting (self, -1, false);
        for (int k = 0; k < CW_POOL_KINDS; k++)
            s_demand (self, k);
    }
    if (cw_peers_tick (&self->peers, s_now ()))
        s_pool_changed (self);
    //  Cut off from the primary past the grace period: the others have
    //  dropped this peer from their pool, so it keeps at most its own keys
    const cw_peer_t *primary = cw_peers_get (&self->peers, self->peers.primary);
    if (!self->ledger && primary && primary->state == CW_PEER_GONE) {
        const cw_peer_t *me = cw_peers_self (&self->peers);
        for (int k = 0; k < CW_POOL_KINDS; k++)
            cw_pool_local_clamp (self->local, k, me->installed [k]);
    }
    if (mono - self->keys_at >= S_KEYS_EVERY_MS && s_keys_reload (self))
        s_pool_changed (self);
    if (mono - self->reported_at >= S_REPORT_EVERY_MS
        || (self->report_due && mono - self->reported_at >= S_REPORT_GAP_MS))
        s_report (self);
    if (self->ledger)
        s_pump (self);
    if (mono - self->alarms_at >= S_ALARMS_EVERY_MS)
        s_alarms (self);
    return 0;
}

static const cw_command_t s_commands [] = {
    { "license.add", s_cmd_add, 0, "install an option key on this peer {key}" },
    { "license.remove", s_cmd_remove, 0, "remove an option key from this peer {key: text or serial}" },
    { "license.list", s_cmd_list, CW_CMD_IDEMPOTENT, "this peer's option keys, decoded" },
    { "license.status", s_cmd_status, CW_CMD_IDEMPOTENT, "the pool per license kind, what each peer uses" },
    { "licensing.status", s_cmd_status, CW_CMD_IDEMPOTENT, "the same as license.status" },
    { "license.acquire", s_cmd_acquire, 0,
      "take one license {kind}: {granted, lease}; or {kind, count}: {granted, leases}, all or none" },
    { "license.release", s_cmd_release, 0, "give a lease back {lease}, or several {leases: [...]}" },
    { "license.offer", s_cmd_offer, 0, "between peers: the primary sets this peer's share" },
    { "license.demand", s_cmd_demand, 0, "between peers: a peer asks the primary for more share" },
    { NULL, NULL, 0, NULL }
};

cw_licensing_t *
cw_licensing_new (cw_actor_t *actor, char *err, size_t errlen)
{
    cw_licensing_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->boot = cw_actor_bootstrap (actor);
    self->started = zclock_mono ();
    cw_copy (self->system_name, sizeof self->system_name, self->boot->node.name);
    for (int k = 0; k < CW_POOL_KINDS; k++)
        self->demand_ctx [k] = (s_demand_ctx_t){ self, k };
    self->pids = zhashx_new ();
    self->offers_out = zlistx_new ();
    if (self->offers_out)
        zlistx_set_destructor (self->offers_out, s_offer_ctx_free);
    self->waiting = calloc (S_MAX_WAITING, sizeof *self->waiting);
    if (!self->pids || !self->waiting || !self->offers_out) {
        snprintf (err, errlen, "out of memory");
        cw_licensing_destroy (&self);
        return NULL;
    }
    char *replaced = NULL;
    self->store = cw_keystore_open (self->boot->node.state_dir, &replaced, err, errlen);
    if (!self->store) {
        cw_licensing_destroy (&self);
        return NULL;
    }
    //  Alarm 10002 about licensing.db: raised when it had to be replaced,
    //  cleared by a start that found it sound
    if (replaced)
        cw_alarm_raise (actor, CW_ALARM_DAMAGED_DB, CW_KEYSTORE_FILE, replaced);
    else
        cw_alarm_clear (actor, CW_ALARM_DAMAGED_DB, CW_KEYSTORE_FILE);
    free (replaced);
    char path [4096];
    const char *boot_id = getenv ("CAUSEWAY_BOOT_ID");
    char random_id [33];
    if (!boot_id || !*boot_id) {
        //  Run by hand: every start is a node start
        unsigned char bytes [16];
        randombytes_buf (bytes, sizeof bytes);
        sodium_bin2hex (random_id, sizeof random_id, bytes, sizeof bytes);
        boot_id = random_id;
    }
    snprintf (path, sizeof path, "%s/licensing.leases", self->boot->node.runtime_dir);
    bool wiped = false;
    self->leases = cw_leases_open (path, boot_id, &wiped, err, errlen);
    if (!self->leases) {
        cw_licensing_destroy (&self);
        return NULL;
    }
    self->local = cw_leases_local (self->leases);
    int64_t grace_s = self->boot->licensing.lost_peer_grace_s > 0 ? self->boot->licensing.lost_peer_grace_s : 259200;
    cw_peers_init (&self->peers, self->store, grace_s * 1000, self->system_name);
    json_t *primary = cw_keystore_get (self->store, "primary");
    cw_copy (self->primary_address, sizeof self->primary_address,
             json_is_string (primary) ? json_string_value (primary) : "");
    json_decref (primary);
    cw_keyring_init (&self->keyring, self->store, self->boot);
    s_keys_reload (self);
    s_ledger_sync (self);    //  alone until cluster.peers says otherwise

    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "out of memory");
        cw_licensing_destroy (&self);
        return NULL;
    }
    cw_actor_on_event (actor, s_on_event, self);
    self->timer = zloop_timer (cw_actor_loop (actor), S_TICK_MS, 0, s_on_tick, self);
    s_reconcile_start (self);
    cw_actor_request (actor, "alarms", "alarms.list", NULL, s_on_alarm_list, self, 5000);
    cw_info ("licensing ready keys=%zu issuers=%zu leases=%zu%s", self->keyring.count, self->keyring.issuer_count,
             cw_leases_owner_count (self->leases), wiped ? " (lease table of an earlier node start cleared)" : "");
    return self;
}

void
cw_licensing_destroy (cw_licensing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_licensing_t *self = *self_p;
    if (self->timer > 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->timer);
    cw_pool_ledger_destroy (&self->ledger);
    cw_leases_destroy (&self->leases);
    cw_keystore_destroy (&self->store);
    zhashx_destroy (&self->pids);
    zlistx_destroy (&self->offers_out);
    if (self->reconcile) {
        json_decref (self->reconcile->actors);
        json_decref (self->reconcile->clients);
        free (self->reconcile);
    }
    free (self->waiting);
    free (self);
    *self_p = NULL;
}
