/*  cluster.c - the cluster core of the replication actor (see cluster.h).

    Everything runs in the actor's zloop: one 250 ms timer sends heartbeats,
    updates liveness, drives the primary's catch-up of subordinates and
    re-evaluates the cluster alarms; peerlink callbacks deliver heartbeats,
    requests and replies. Nothing here blocks except SQLite commits (and a
    snapshot of cluster.db, which is bounded by its size).
*/
#include "cw_text.h"
#include "cluster_internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>
#include "backup.h"
#include "cw_alarm.h"

typedef struct {
    uint64_t corr;
    int peer;
    int64_t deadline;
    cw_peer_reply_fn *cb;
    void *arg;
} cw_peer_call_t;

//  A requester waiting until every live subordinate applied SEQ.
typedef struct {
    cw_reply_target_t target;
    int64_t seq;
    int64_t deadline;
    json_t *body;               //  the reply to send when done
} s_waiter_t;

// ---------------------------------------------------------------------------
//  Small helpers

static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *
s_jstr (json_t *object, const char *name)
{
    const char *text = json_string_value (json_object_get (object, name));
    return text ? text : "";
}

static json_t *
s_value (cw_cluster_t *self, const char *name)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    return key ? cw_config_store_value (self->store, key, NULL) : json_null ();
}

static char *
s_value_text (cw_cluster_t *self, const char *name, char *buf, size_t size)
{
    json_t *value = s_value (self, name);
    if (json_is_string (value))
        cw_copy (buf, size, json_string_value (value));
    else
    if (json_is_integer (value))
        snprintf (buf, size, "%lld", (long long) json_integer_value (value));
    else
        buf[0] = 0;
    json_decref (value);
    return buf;
}

static bool
s_value_on (cw_cluster_t *self, const char *name)
{
    char buf[16];
    return strcmp (s_value_text (self, name, buf, sizeof buf), "on") == 0;
}

static bool
s_clock_synced (void)
{
    struct timex tx;
    memset (&tx, 0, sizeof tx);
    int state = adjtimex (&tx);
    return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

static double
s_load (void)
{
    double load[1] = { 0 };
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    if (getloadavg (load, 1) < 1 || cpus < 1)
        return 0;
    double value = load[0] / (double) cpus;
    return value > 1 ? 1 : value;
}

//  Run FN (ARG) on a worker thread while this thread keeps the actor's
//  heartbeat going: for the steps that take long on a big database (a
//  snapshot of cluster.db, a backup's key derivation). The caller must not
//  touch what FN uses meanwhile; it doesn't, it waits here.
static void
s_run_blocking (cw_cluster_t *self, void *(*fn) (void *), void *arg)
{
    pthread_t thread;
    if (pthread_create (&thread, NULL, fn, arg) != 0) {
        fn (arg);
        return;
    }
    for (;;) {
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_nsec += 100 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (pthread_timedjoin_np (thread, NULL, &until) == 0)
            return;
        cw_actor_heartbeat (self->actor);
    }
}

// ---------------------------------------------------------------------------
//  Settings

void
cw_cluster_stored_settings (cw_cluster_t *self, cw_cluster_settings_t *out)
{
    memset (out, 0, sizeof *out);
    char buf[64];
    s_value_text (self, "cluster.name", out->name, sizeof out->name);
    out->primary = atoi (s_value_text (self, "cluster.primary", buf, sizeof buf));
    out->ip_version = atoi (s_value_text (self, "cluster.ip_version", buf, sizeof buf));
    s_value_text (self, "cluster.tls_verify", out->tls_verify, sizeof out->tls_verify);
    json_t *peers = s_value (self, "cluster.peers");
    size_t i;
    json_t *item;
    json_array_foreach (peers, i, item) {
        if (i >= CW_CLUSTER_MAX_PEERS)
            break;
        cw_copy (out->peers[i], sizeof out->peers[i], json_string_value (item));
        out->peer_count = (int) i + 1;
    }
    json_decref (peers);
}

static json_t *
s_settings_json (const cw_cluster_settings_t *s)
{
    json_t *peers = json_array ();
    for (int i = 0; i < s->peer_count; i++)
        json_array_append_new (peers, json_string (s->peers[i]));
    return json_pack ("{s:s, s:i, s:i, s:s, s:o}", "name", s->name, "primary", s->primary,
                      "ip_version", s->ip_version, "tls_verify", s->tls_verify, "peers", peers);
}

static void
s_settings_from_json (json_t *json, cw_cluster_settings_t *out)
{
    memset (out, 0, sizeof *out);
    cw_copy (out->name, sizeof out->name, s_jstr (json, "name"));
    out->primary = (int) json_integer_value (json_object_get (json, "primary"));
    out->ip_version = (int) json_integer_value (json_object_get (json, "ip_version"));
    cw_copy (out->tls_verify, sizeof out->tls_verify, s_jstr (json, "tls_verify"));
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (json, "peers"), i, item) {
        if (i >= CW_CLUSTER_MAX_PEERS)
            break;
        cw_copy (out->peers[i], sizeof out->peers[i], json_string_value (item));
        out->peer_count = (int) i + 1;
    }
}

int
cw_cluster_set_key (cw_cluster_t *self, const char *name, json_t *value, char *err, size_t errlen)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    if (!key) {
        snprintf (err, errlen, "unknown key '%s'", name);
        return -1;
    }
    json_t *normal = value ? cw_registry_normalize (key, value, err, errlen) : NULL;
    if (value && !normal)
        return -1;
    int rc = normal ? cw_config_store_set (self->store, key, normal, err, errlen)
                    : cw_config_store_unset (self->store, key, err, errlen);
    json_decref (normal);
    return rc;
}

//  The address mapping in effect: "fqdn=ip" entries, when enabled.
int
cw_cluster_mapping (cw_cluster_t *self, cw_peerlink_mapping_t *out, char texts[][2][256], int max)
{
    if (!s_value_on (self, "cluster.address_mapping.enabled"))
        return 0;
    json_t *list = s_value (self, "cluster.address_mapping");
    int count = 0;
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        const char *text = json_string_value (item);
        const char *equals = text ? strchr (text, '=') : NULL;
        if (!equals || count >= max)
            continue;
        snprintf (texts[count][0], 256, "%.*s", (int) (equals - text), text);
        cw_copy (texts[count][1], 256, equals + 1);
        out[count].fqdn = texts[count][0];
        out[count].ip = texts[count][1];
        count++;
    }
    json_decref (list);
    return count;
}

//  Our index in SETTINGS: the slot whose address is, or resolves to, our
//  peering address. 0 when none.
static int
s_find_self (cw_cluster_t *self, const cw_cluster_settings_t *settings)
{
    const char *own = self->boot->peering.address;
    if (!own || !*own)
        return 0;
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int count = cw_cluster_mapping (self, mapping, texts, 12);
    for (int i = 0; i < settings->peer_count; i++) {
        if (strcasecmp (settings->peers[i], own) == 0)
            return i + 1;
        char ip[64], via[256];
        if (cw_peerlink_resolve (settings->peers[i], mapping, (size_t) count, settings->ip_version,
                                 ip, sizeof ip, via, sizeof via) == 0
        &&  strcmp (ip, own) == 0)
            return i + 1;
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  Settings in effect, boot id and the factory reset

static int
s_exec (cw_cluster_t *self, const char *sql)
{
    char *message = NULL;
    int rc = sqlite3_exec (cw_config_store_db (self->store), sql, NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        cw_error ("cluster: sql failed error=\"%s\"", message ? message : "?");
        sqlite3_free (message);
        return -1;
    }
    return 0;
}

static void
s_save_effective (cw_cluster_t *self)
{
    json_t *json = s_settings_json (&self->effective);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    sqlite3 *db = cw_config_store_db (self->store);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO cluster_effective (id, boot_id, settings)"
                                " VALUES (1, ?1, ?2)", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, self->boot_id, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) != SQLITE_DONE)
            cw_error ("cluster: cannot save the settings in effect: %s", sqlite3_errmsg (db));
    }
    sqlite3_finalize (stmt);
    free (text);
}

//  The factory reset of the guide: keeps LAN basics, accounts, option keys;
//  removes the clustering settings, the cluster-wide configuration, and the
//  server certificate, private key and CA trust store.
static void
s_factory_reset (cw_cluster_t *self)
{
    cw_warn ("cluster: performing the pending factory reset (peer list was cleared)");
    char err[512];
    const char *keys[] = { "cluster.name", "cluster.primary", "cluster.ip_version",
                           "cluster.tls_verify", "cluster.peers", NULL };
    for (int i = 0; keys[i]; i++)
        if (cw_cluster_set_key (self, keys[i], NULL, err, sizeof err))
            cw_error ("cluster: factory reset: %s", err);
    if (cw_replog_reset (self->replog, err, sizeof err))
        cw_error ("cluster: factory reset: %s", err);
    const char *files[] = { self->boot->peering.certificate, self->boot->peering.private_key,
                            self->boot->peering.ca_file, NULL };
    for (int i = 0; files[i]; i++)
        if (*files[i] && unlink (files[i]) != 0 && errno != ENOENT)
            cw_error ("cluster: factory reset: cannot remove %s: %s", files[i], strerror (errno));
    cw_config_store_announce (self->store);
    self->factory_reset_done = true;
}

static int
s_load_effective (cw_cluster_t *self, char *err, size_t errlen)
{
    if (s_exec (self, "CREATE TABLE IF NOT EXISTS cluster_effective ("
                      " id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, settings TEXT NOT NULL);")) {
        snprintf (err, errlen, "cannot create the cluster_effective table");
        return -1;
    }
    const char *boot_id = getenv ("CAUSEWAY_BOOT_ID");
    if (boot_id && *boot_id)
        cw_copy (self->boot_id, sizeof self->boot_id, boot_id);
    else {
        //  Started by hand: behave as a node restart
        unsigned char random[8];
        randombytes_buf (random, sizeof random);
        sodium_bin2hex (self->boot_id, sizeof self->boot_id, random, sizeof random);
    }
    bool found = false;
    char saved_boot[64] = "";
    cw_cluster_settings_t saved;
    memset (&saved, 0, sizeof saved);
    sqlite3_stmt *stmt = NULL;
    sqlite3 *db = cw_config_store_db (self->store);
    if (sqlite3_prepare_v2 (db, "SELECT boot_id, settings FROM cluster_effective WHERE id = 1",
                            -1, &stmt, NULL) == SQLITE_OK
    &&  sqlite3_step (stmt) == SQLITE_ROW) {
        cw_copy (saved_boot, sizeof saved_boot, (const char *) sqlite3_column_text (stmt, 0));
        json_t *json = json_loads ((const char *) sqlite3_column_text (stmt, 1), 0, NULL);
        if (json) {
            s_settings_from_json (json, &saved);
            found = true;
        }
        json_decref (json);
    }
    sqlite3_finalize (stmt);

    if (found && strcmp (saved_boot, self->boot_id) == 0) {
        self->effective = saved;        //  the actor alone restarted
        cw_info ("cluster: actor restart; clustering settings in effect unchanged");
    }
    else {
        cw_cluster_settings_t stored;
        cw_cluster_stored_settings (self, &stored);
        if (found && saved.peer_count > 0 && stored.peer_count == 0) {
            s_factory_reset (self);
            cw_cluster_stored_settings (self, &stored);
        }
        self->effective = stored;
        cw_info ("cluster: node start; clustering settings take effect peers=%d primary=%d",
                 stored.peer_count, stored.primary);
    }
    s_save_effective (self);
    return 0;
}

// ---------------------------------------------------------------------------
//  Views

bool
cw_cluster_peer_alive (cw_cluster_t *self, int index)
{
    if (index < 1 || index > CW_CLUSTER_MAX_PEERS || index > self->effective.peer_count)
        return false;
    if (index == self->this_peer)
        return true;
    cw_peer_state_t *peer = &self->peers[index - 1];
    return peer->last_heard && zclock_mono () - peer->last_heard <= CW_DEAD_AFTER_MS;
}

static void
s_own_view (cw_cluster_t *self, cw_peer_view_t *v)
{
    char buf[64];
    v->is_self = true;
    v->alive = true;
    v->ever_seen = true;
    v->rtt_ms = 0;
    cw_copy (v->version, sizeof v->version, CW_VERSION);
    cw_copy (v->type, sizeof v->type, self->boot->node.type);
    s_value_text (self, "system.name", v->system_name, sizeof v->system_name);
    s_value_text (self, "dns.domain", v->dns_domain, sizeof v->dns_domain);
    s_value_text (self, "dns.hostname", v->dns_hostname, sizeof v->dns_hostname);
    cw_copy (v->cluster_name, sizeof v->cluster_name, self->effective.name);
    v->primary = self->effective.primary;
    v->ip_version = self->effective.ip_version;
    cw_copy (v->tls_verify, sizeof v->tls_verify, self->effective.tls_verify);
    cw_cluster_peers_digest (&self->effective, v->peers_digest);
    v->maintenance = strcmp (s_value_text (self, "maintenance.mode", buf, sizeof buf), "on") == 0;
    v->h323_mode = s_value_on (self, "h323.mode");
    v->load = s_load ();
    v->applied_seq = cw_replog_applied_seq (self->replog);
    cw_replog_cluster_id (self->replog, v->cluster_id, sizeof v->cluster_id);
    v->joining = !self->is_primary && !self->in_sync;
    v->restarting = self->stopping;
    v->upgrading = false;
    v->clock_synced = s_clock_synced ();
    cw_copy (v->certificate, sizeof v->certificate, "");
}

//  Classify a link error: TCP-level or TLS/identity-level.
static bool
s_tcp_error (const char *reason)
{
    return strstr (reason, "refused") || strstr (reason, "timed out") || strstr (reason, "unreachable")
        || strstr (reason, "connect");
}

void
cw_cluster_view (cw_cluster_t *self, cw_cluster_view_t *view)
{
    memset (view, 0, sizeof *view);
    view->effective = self->effective;
    cw_cluster_stored_settings (self, &view->stored);
    cw_copy (view->peering_address, sizeof view->peering_address, self->boot->peering.address);
    view->this_peer = self->this_peer;
    view->clustered = self->effective.peer_count > 0;
    view->is_primary = self->is_primary;
    cw_copy (view->node_type, sizeof view->node_type, self->boot->node.type);
    cw_copy (view->version, sizeof view->version, CW_VERSION);
    view->h323_mode = s_value_on (self, "h323.mode");
    view->clock_synced = s_clock_synced ();
    json_t *ntp = s_value (self, "ntp.servers");
    view->ntp_configured = json_array_size (ntp) > 0;
    json_decref (ntp);
    json_t *dns = s_value (self, "dns.servers");
    view->dns_server_count = (int) json_array_size (dns);
    json_decref (dns);
    view->factory_reset_pending = self->effective.peer_count > 0 && view->stored.peer_count == 0;
    struct stat st;
    char path[PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->boot->node.state_dir, CW_REPLOG_CLUSTER_DB_FILE);
    if (stat (path, &st) != 0) {
        view->database_missing = true;
        snprintf (view->database_error, sizeof view->database_error, "%.180s: %.60s", path, strerror (errno));
    }
    view->applied_seq = cw_replog_applied_seq (self->replog);
    cw_replog_cluster_id (self->replog, view->cluster_id, sizeof view->cluster_id);
    view->replication_conflict = self->conflict;
    cw_copy (view->replication_error, sizeof view->replication_error, self->replication_error);
    view->sync_failed = self->sync_failed;
    cw_copy (view->sync_error, sizeof view->sync_error, self->sync_error);
    view->address_mapping_enabled = s_value_on (self, "cluster.address_mapping.enabled");
    cw_peerlink_mapping_t mapping[CW_CLUSTER_MAX_PEERS];
    view->mapping_count = cw_cluster_mapping (self, mapping, view->mappings, CW_CLUSTER_MAX_PEERS);

    for (int i = 0; i < self->effective.peer_count; i++) {
        cw_peer_state_t *peer = &self->peers[i];
        cw_peer_view_t *v = &view->peers[i];
        if (i + 1 == self->this_peer)
            s_own_view (self, v);
        else {
            *v = peer->view;
            v->alive = cw_cluster_peer_alive (self, i + 1);
            v->ever_seen = peer->last_heard != 0;
            if (peer->restarting_since && zclock_mono () - peer->restarting_since > CW_RESTARTING_GRACE_MS)
                v->restarting = false;
        }
        v->index = i + 1;
        cw_copy (v->address, sizeof v->address, self->effective.peers[i]);
        char via[256];
        if (cw_peerlink_resolve (v->address, mapping, (size_t) view->mapping_count,
                                 self->effective.ip_version, v->ip, sizeof v->ip, via, sizeof via) != 0) {
            v->ip[0] = 0;
            cw_copy (v->resolve_error, sizeof v->resolve_error, via);
        }
        if (self->links && !v->is_self) {
            cw_peerlink_peer_status_t status;
            if (cw_peerlink_peer_status (self->links, i + 1, &status) == 0) {
                cw_copy (v->certificate, sizeof v->certificate, status.certificate);
                if (!status.outbound.up && *status.outbound.last_error && !v->alive) {
                    const char *reason = status.outbound.last_error;
                    bool tls = strstr (reason, "certificate") || strstr (reason, "TLS")
                            || strstr (reason, "SAN") || strstr (reason, "resolves")
                            || strstr (reason, "rejected");
                    if (tls) {
                        v->tls_failing = true;
                        cw_copy (v->tls_error, sizeof v->tls_error, reason);
                    }
                    else
                    if (s_tcp_error (reason)) {
                        v->tcp_failing = true;
                        cw_copy (v->tcp_error, sizeof v->tcp_error, reason);
                    }
                }
                if (*status.certificate && strcmp (status.certificate, "ok") != 0
                &&  strcmp (status.certificate, "not verified (permissive)") != 0) {
                    v->tls_failing = true;
                    cw_copy (v->tls_error, sizeof v->tls_error, status.certificate);
                }
            }
        }
        if (!v->is_self && v->alive && strcmp (v->version, CW_VERSION) != 0)
            view->replication_paused = true;
    }
    if (*self->links_error && view->clustered) {
        //  The links could not start at all: every peer is unreachable for it
        for (int i = 0; i < self->effective.peer_count; i++)
            if (!view->peers[i].is_self) {
                view->peers[i].tls_failing = true;
                cw_copy (view->peers[i].tls_error, sizeof view->peers[i].tls_error, self->links_error);
            }
    }
}

// ---------------------------------------------------------------------------
//  Answers and peer calls

void
cw_cluster_answer (cw_cluster_t *self, const cw_reply_target_t *target, bool ok, json_t *body)
{
    if (!body)
        body = json_object ();
    if (!target->remote) {
        cw_actor_reply (self->actor, target->to, target->corr, ok, body);
        return;
    }
    json_t *wrapped = json_pack ("{s:b, s:o}", "ok", ok, "body", body);
    char *text = json_dumps (wrapped, JSON_COMPACT);
    json_decref (wrapped);
    if (self->links)
        cw_peerlink_reply (self->links, target->link_id, CW_FRAME_REPLY, target->corr, text, NULL, 0);
    free (text);
}

int
cw_cluster_peer_call (cw_cluster_t *self, int peer, json_t *args, const void *blob,
                      size_t blob_len, cw_peer_reply_fn *cb, void *arg, int timeout_ms)
{
    char *text = json_dumps (args, JSON_COMPACT);
    json_decref (args);
    uint64_t corr = self->next_corr++;
    int rc = self->links ? cw_peerlink_send (self->links, peer, CW_FRAME_REQUEST, corr, text,
                                             blob, blob_len) : -1;
    free (text);
    if (rc != 0)
        return -1;
    if (cb) {
        cw_peer_call_t *call = calloc (1, sizeof *call);
        call->corr = corr;
        call->peer = peer;
        call->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : CW_PEER_CALL_TIMEOUT_MS);
        call->cb = cb;
        call->arg = arg;
        zlistx_add_end (self->calls, call);
    }
    return 0;
}

static void
s_expire_calls (cw_cluster_t *self)
{
    int64_t now = zclock_mono ();
    cw_peer_call_t *call = zlistx_first (self->calls);
    while (call) {
        if (call->deadline <= now) {
            cw_peer_call_t copy = *call;
            zlistx_delete (self->calls, zlistx_cursor (self->calls));
            free (call);
            json_t *body = cw_error_body ("peer %d did not answer in time", copy.peer);
            copy.cb (self, copy.peer, false, body, NULL, 0, copy.arg);
            json_decref (body);
            call = zlistx_first (self->calls);
        }
        else
            call = zlistx_next (self->calls);
    }
}

// ---------------------------------------------------------------------------
//  Waiters: config.set --wait, and forwarded writes with wait

static bool
s_all_applied (cw_cluster_t *self, int64_t seq, char *missing, size_t size)
{
    bool all = true;
    missing[0] = 0;
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer || !cw_cluster_peer_alive (self, i + 1))
            continue;
        if (self->peers[i].acked_seq < seq) {
            all = false;
            size_t used = strlen (missing);
            snprintf (missing + used, size - used, "%speer %d (%s)", used ? ", " : "", i + 1,
                      self->effective.peers[i]);
        }
    }
    return all;
}

static void
s_check_waiters (cw_cluster_t *self)
{
    int64_t now = zclock_mono ();
    s_waiter_t *waiter = zlistx_first (self->waiters);
    while (waiter) {
        char missing[512];
        bool done = s_all_applied (self, waiter->seq, missing, sizeof missing);
        if (done || waiter->deadline <= now) {
            if (done)
                cw_cluster_answer (self, &waiter->target, true, waiter->body);
            else {
                json_decref (waiter->body);
                cw_cluster_answer (self, &waiter->target, false,
                                   cw_error_body ("committed on the primary as change %lld, but not yet "
                                                  "applied by %s", (long long) waiter->seq, missing));
            }
            zlistx_delete (self->waiters, zlistx_cursor (self->waiters));
            free (waiter);
            waiter = zlistx_first (self->waiters);
        }
        else
            waiter = zlistx_next (self->waiters);
    }
}

//  This subordinate holds the primary's configuration again: answer the
//  ForceConfigUpdate requests that waited for it (or expire them).
static void
s_check_sync_waiters (cw_cluster_t *self, bool expire_only)
{
    int64_t now = zclock_mono ();
    s_waiter_t *waiter = zlistx_first (self->sync_waiters);
    while (waiter) {
        bool done = !expire_only && self->in_sync;
        if (done || waiter->deadline <= now) {
            if (done)
                cw_cluster_answer (self, &waiter->target, true, waiter->body);
            else {
                json_decref (waiter->body);
                cw_cluster_answer (self, &waiter->target, false,
                                   cw_error_body ("the cluster-wide configuration was discarded, but the "
                                                  "primary's did not arrive in time; it will when the primary "
                                                  "is reachable (`causeway cluster status`)"));
            }
            zlistx_delete (self->sync_waiters, zlistx_cursor (self->sync_waiters));
            free (waiter);
            waiter = zlistx_first (self->sync_waiters);
        }
        else
            waiter = zlistx_next (self->sync_waiters);
    }
}

//  A snapshot made or applied on a worker thread (s_run_blocking)
typedef struct {
    cw_replog_t *replog;
    const void *blob;           //  apply: the image
    void *created;              //  create: the new image (sqlite3_free)
    int64_t len;
    int64_t seq;
    int rc;
    char err[512];
} s_snapshot_job_t;

static void *
s_snapshot_create_worker (void *arg)
{
    s_snapshot_job_t *job = arg;
    job->rc = cw_replog_snapshot_create (job->replog, &job->created, &job->len, &job->seq,
                                         job->err, sizeof job->err);
    return NULL;
}

static void *
s_reset_worker (void *arg)
{
    s_snapshot_job_t *job = arg;
    job->rc = cw_replog_reset (job->replog, job->err, sizeof job->err);
    return NULL;
}

static void *
s_snapshot_apply_worker (void *arg)
{
    s_snapshot_job_t *job = arg;
    job->rc = cw_replog_snapshot_apply (job->replog, job->blob, job->len, job->seq, job->err, sizeof job->err);
    return NULL;
}

// ---------------------------------------------------------------------------
//  Replication: the primary side

static void s_send_changeset (cw_cluster_t *self, int peer, int64_t seq, const void *changeset,
                              int len, const char *hash);

static void
s_on_changeset_reply (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                      size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    (void) arg;
    cw_peer_state_t *state = &self->peers[peer - 1];
    const char *status = s_jstr (json, "status");
    int64_t applied = json_integer_value (json_object_get (json, "applied_seq"));
    if (ok && (strcmp (status, "ok") == 0 || strcmp (status, "duplicate") == 0)) {
        if (applied > state->acked_seq)
            state->acked_seq = applied;
        s_check_waiters (self);
        return;
    }
    //  Anything else: let the heartbeat-driven sync decide (catch-up or snapshot)
    cw_info ("cluster: peer %d did not apply a change status=%s error=\"%s\"", peer, status,
             s_jstr (json, "error"));
    state->sent_seq = state->acked_seq;
    state->syncing = false;
}

static void
s_send_changeset (cw_cluster_t *self, int peer, int64_t seq, const void *changeset, int len,
                  const char *hash)
{
    char cluster_id[40];
    cw_replog_cluster_id (self->replog, cluster_id, sizeof cluster_id);
    json_t *args = json_pack ("{s:s, s:I, s:s, s:s}", "op", "changeset", "seq", (json_int_t) seq,
                              "hash", hash ? hash : "", "cluster_id", cluster_id);
    if (cw_cluster_peer_call (self, peer, args, changeset, (size_t) len, s_on_changeset_reply, NULL,
                              CW_SYNC_TIMEOUT_MS) == 0)
        self->peers[peer - 1].sent_seq = seq;
}

//  A change committed on this node (the primary): ship it to every
//  subordinate that is up and has everything before it.
static void
s_on_replicate (cw_config_store_t *store, int64_t seq, const void *changeset, int len, void *arg)
{
    (void) store;
    cw_cluster_t *self = arg;
    if (!self->is_primary)
        return;
    char hash[72];
    cw_replog_head_hash (self->replog, hash, sizeof hash);
    for (int i = 0; i < self->effective.peer_count; i++) {
        cw_peer_state_t *peer = &self->peers[i];
        if (i + 1 == self->this_peer || !peer->link_up || peer->syncing || peer->sent_seq != seq - 1)
            continue;
        s_send_changeset (self, i + 1, seq, changeset, len, hash);
    }
}

static int
s_catch_up_one (int64_t seq, const void *changeset, int len, const char *hash, void *arg)
{
    void **pair = arg;
    cw_cluster_t *self = pair[0];
    int peer = *(int *) pair[1];
    s_send_changeset (self, peer, seq, changeset, len, hash);
    return 0;
}

static void
s_on_snapshot_reply (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                     size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    (void) arg;
    cw_peer_state_t *state = &self->peers[peer - 1];
    state->syncing = false;
    if (ok && strcmp (s_jstr (json, "status"), "ok") == 0) {
        state->acked_seq = state->sent_seq = json_integer_value (json_object_get (json, "applied_seq"));
        cw_info ("cluster: peer %d took a snapshot applied_seq=%lld", peer, (long long) state->acked_seq);
        state->view.joining = false;
        s_check_waiters (self);
    }
    else
        cw_warn ("cluster: snapshot to peer %d failed error=\"%s\"", peer, s_jstr (json, "error"));
}

//  On each heartbeat from a subordinate: bring it up to date.
static void
s_sync_peer (cw_cluster_t *self, int peer)
{
    cw_peer_state_t *state = &self->peers[peer - 1];
    if (!self->is_primary || !state->link_up || peer == self->this_peer)
        return;
    if (state->syncing && zclock_mono () < state->sync_deadline)
        return;
    if (state->view.restarting)
        return;
    char err[256];
    int plan = cw_replog_plan (self->replog, state->view.cluster_id, state->view.applied_seq,
                               state->head_hash, err, sizeof err);
    if (plan == CW_REPLOG_OK) {
        if (state->view.applied_seq > state->acked_seq)
            state->acked_seq = state->view.applied_seq;
        if (state->sent_seq < state->acked_seq || state->syncing)
            state->sent_seq = state->acked_seq;
        state->syncing = false;
        return;
    }
    if (plan == CW_REPLOG_GAP) {
        //  Changes in flight will answer; only catch up what was not sent
        if (state->sent_seq > state->view.applied_seq && !state->syncing)
            return;
        state->syncing = true;
        state->sync_deadline = zclock_mono () + CW_SYNC_TIMEOUT_MS;
        int from = peer;
        void *pair[2] = { self, &from };
        int rc = cw_replog_changesets_since (self->replog, state->view.applied_seq, s_catch_up_one, pair,
                                             err, sizeof err);
        state->syncing = false;
        if (rc == CW_REPLOG_OK) {
            cw_info ("cluster: catching up peer %d from seq %lld", peer, (long long) state->view.applied_seq);
            return;
        }
        plan = rc;      //  too old or conflict: fall through to a snapshot
    }
    if (plan == CW_REPLOG_TOO_OLD || plan == CW_REPLOG_CONFLICT) {
        s_snapshot_job_t job = { .replog = self->replog };
        s_run_blocking (self, s_snapshot_create_worker, &job);
        void *blob = job.created;
        int64_t len = job.len, seq = job.seq;
        if (job.rc) {
            cw_error ("cluster: cannot make a snapshot for peer %d: %s", peer, job.err);
            return;
        }
        char cluster_id[40];
        cw_replog_cluster_id (self->replog, cluster_id, sizeof cluster_id);
        json_t *args = json_pack ("{s:s, s:I, s:s}", "op", "snapshot", "seq", (json_int_t) seq,
                                  "cluster_id", cluster_id);
        cw_info ("cluster: sending a snapshot to peer %d seq=%lld bytes=%lld reason=%s", peer,
                 (long long) seq, (long long) len, cw_replog_rc_name (plan));
        if (cw_cluster_peer_call (self, peer, args, blob, (size_t) len, s_on_snapshot_reply, NULL,
                                  CW_SYNC_TIMEOUT_MS) == 0) {
            state->syncing = true;
            state->sync_deadline = zclock_mono () + CW_SYNC_TIMEOUT_MS;
            state->sent_seq = seq;
        }
        sqlite3_free (blob);
        return;
    }
    cw_warn ("cluster: cannot plan the sync of peer %d: %s", peer, err);
}

// ---------------------------------------------------------------------------
//  Replication: the subordinate side

static json_t *
s_apply_changeset (cw_cluster_t *self, int peer, json_t *json, const uint8_t *blob, size_t len)
{
    if (peer != self->effective.primary || self->is_primary)
        return json_pack ("{s:s, s:s}", "status", "refused",
                          "error", "this peer does not take changes from a peer that is not its primary");
    char mine[40];
    cw_replog_cluster_id (self->replog, mine, sizeof mine);
    int64_t seq = json_integer_value (json_object_get (json, "seq"));
    int64_t need_from = 0;
    char err[512] = "";
    int rc;
    if (strcmp (mine, s_jstr (json, "cluster_id")) != 0)
        rc = CW_REPLOG_TOO_OLD;         //  another history: the primary sends a snapshot
    else
        rc = cw_replog_apply (self->replog, seq, blob, (int) len, s_jstr (json, "hash"), &need_from,
                              err, sizeof err);
    if (rc == CW_REPLOG_OK) {
        self->conflict = false;
        self->replication_error[0] = 0;
        cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
    }
    else
    if (rc == CW_REPLOG_CONFLICT) {
        self->conflict = true;
        cw_warn ("cluster: change %lld conflicts with this peer's configuration: %s", (long long) seq, err);
    }
    else
    if (rc == CW_REPLOG_INVALID || rc == CW_REPLOG_ERROR)
        snprintf (self->replication_error, sizeof self->replication_error,
                  "change %lld from the primary could not be applied: %.180s", (long long) seq, err);
    return json_pack ("{s:s, s:I, s:I, s:s}", "status", cw_replog_rc_name (rc),
                      "applied_seq", (json_int_t) cw_replog_applied_seq (self->replog),
                      "need_from", (json_int_t) need_from, "error", err);
}

static json_t *
s_apply_snapshot (cw_cluster_t *self, int peer, json_t *json, const uint8_t *blob, size_t len)
{
    if (peer != self->effective.primary || self->is_primary)
        return json_pack ("{s:s, s:s}", "status", "refused",
                          "error", "this peer does not take a snapshot from a peer that is not its primary");
    s_snapshot_job_t job = { .replog = self->replog, .blob = blob, .len = (int64_t) len,
                             .seq = json_integer_value (json_object_get (json, "seq")) };
    s_run_blocking (self, s_snapshot_apply_worker, &job);
    int rc = job.rc;
    int64_t seq = job.seq;
    char *err = job.err;
    if (rc == CW_REPLOG_OK) {
        self->conflict = false;
        self->sync_failed = false;
        self->sync_error[0] = 0;
        self->replication_error[0] = 0;
        cw_info ("cluster: took the primary's configuration (snapshot) seq=%lld bytes=%zu", (long long) seq, len);
        cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
        self->in_sync = true;           //  we hold what the primary held when it sent it
        s_check_sync_waiters (self, false);
    }
    else {
        self->sync_failed = true;
        snprintf (self->sync_error, sizeof self->sync_error, "snapshot from the primary: %.220s", err);
        cw_error ("cluster: %s", self->sync_error);
    }
    return json_pack ("{s:s, s:I, s:s}", "status", cw_replog_rc_name (rc),
                      "applied_seq", (json_int_t) cw_replog_applied_seq (self->replog), "error", err);
}

int
cw_cluster_force_config_update (cw_cluster_t *self, char *err, size_t errlen)
{
    if (self->effective.peer_count == 0) {
        snprintf (err, errlen, "this system is not in a cluster");
        return -1;
    }
    if (self->is_primary) {
        snprintf (err, errlen, "this peer is the configuration primary; run ForceConfigUpdate on a subordinate");
        return -1;
    }
    //  Emptying a big cluster.db takes a while: on the worker thread
    s_snapshot_job_t job = { .replog = self->replog };
    s_run_blocking (self, s_reset_worker, &job);
    if (job.rc) {
        cw_copy (err, errlen, job.err);
        return -1;
    }
    self->in_sync = false;
    cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
    cw_warn ("cluster: ForceConfigUpdate: cluster-wide configuration discarded; taking the primary's");
    return 0;
}

// ---------------------------------------------------------------------------
//  Heartbeats

static json_t *
s_heartbeat_json (cw_cluster_t *self, int to_peer)
{
    cw_peer_view_t v;
    memset (&v, 0, sizeof v);
    s_own_view (self, &v);
    char hash[72];
    cw_replog_head_hash (self->replog, hash, sizeof hash);
    cw_peer_state_t *peer = &self->peers[to_peer - 1];
    int64_t now = zclock_usecs ();
    return json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:b, s:f,"
                      " s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:b, s:b, s:b}",
                      "index", self->this_peer, "version", v.version, "type", v.type,
                      "system_name", v.system_name, "dns_domain", v.dns_domain,
                      "dns_hostname", v.dns_hostname, "cluster_name", v.cluster_name,
                      "primary", v.primary, "ip_version", v.ip_version, "tls_verify", v.tls_verify,
                      "peers_digest", v.peers_digest, "maintenance", v.maintenance,
                      "h323_mode", v.h323_mode, "load", v.load,
                      "wall_ms", (json_int_t) s_wall_ms (), "t_us", (json_int_t) now,
                      "echo_t_us", (json_int_t) peer->echo_t,
                      "echo_hold_us", (json_int_t) (peer->echo_t ? now - peer->echo_received : 0),
                      "applied_seq", (json_int_t) v.applied_seq, "cluster_id", v.cluster_id,
                      "head_hash", hash, "joining", v.joining, "restarting", v.restarting,
                      "upgrading", v.upgrading, "clock_synced", v.clock_synced);
}

static void
s_send_heartbeats (cw_cluster_t *self)
{
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer || !self->peers[i].link_up)
            continue;
        json_t *json = s_heartbeat_json (self, i + 1);
        char *text = json_dumps (json, JSON_COMPACT);
        json_decref (json);
        cw_peerlink_send (self->links, i + 1, CW_FRAME_HEARTBEAT, 0, text, NULL, 0);
        free (text);
    }
}

static void
s_on_heartbeat (cw_cluster_t *self, int index, json_t *json)
{
    cw_peer_state_t *peer = &self->peers[index - 1];
    cw_peer_view_t *v = &peer->view;
    int64_t now = zclock_mono ();
    bool was_alive = cw_cluster_peer_alive (self, index);
    peer->last_heard = now;
    //  Round trip: our "t_us" comes back as "echo_t_us" after the peer held
    //  it "echo_hold_us" (both on our monotonic clock / its own)
    int64_t now_us = zclock_usecs ();
    peer->echo_t = json_integer_value (json_object_get (json, "t_us"));
    peer->echo_received = now_us;
    int64_t echo_t = json_integer_value (json_object_get (json, "echo_t_us"));
    if (echo_t > 0) {
        double rtt = (double) (now_us - echo_t - json_integer_value (json_object_get (json, "echo_hold_us")))
                   / 1000.0;
        v->rtt_ms = rtt < 0 ? 0 : rtt;
        v->clock_offset_ms = json_integer_value (json_object_get (json, "wall_ms"))
                           - (s_wall_ms () - (int64_t) (v->rtt_ms / 2));
    }
    cw_copy (v->version, sizeof v->version, s_jstr (json, "version"));
    cw_copy (v->type, sizeof v->type, s_jstr (json, "type"));
    cw_copy (v->system_name, sizeof v->system_name, s_jstr (json, "system_name"));
    cw_copy (v->dns_domain, sizeof v->dns_domain, s_jstr (json, "dns_domain"));
    cw_copy (v->dns_hostname, sizeof v->dns_hostname, s_jstr (json, "dns_hostname"));
    cw_copy (v->cluster_name, sizeof v->cluster_name, s_jstr (json, "cluster_name"));
    v->primary = (int) json_integer_value (json_object_get (json, "primary"));
    v->ip_version = (int) json_integer_value (json_object_get (json, "ip_version"));
    cw_copy (v->tls_verify, sizeof v->tls_verify, s_jstr (json, "tls_verify"));
    cw_copy (v->peers_digest, sizeof v->peers_digest, s_jstr (json, "peers_digest"));
    v->maintenance = json_is_true (json_object_get (json, "maintenance"));
    v->h323_mode = json_is_true (json_object_get (json, "h323_mode"));
    v->load = json_number_value (json_object_get (json, "load"));
    v->applied_seq = json_integer_value (json_object_get (json, "applied_seq"));
    cw_copy (v->cluster_id, sizeof v->cluster_id, s_jstr (json, "cluster_id"));
    cw_copy (peer->head_hash, sizeof peer->head_hash, s_jstr (json, "head_hash"));
    v->joining = json_is_true (json_object_get (json, "joining"));
    bool restarting = json_is_true (json_object_get (json, "restarting"));
    if (restarting && !v->restarting)
        peer->restarting_since = now;
    v->restarting = restarting;
    if (!restarting)
        peer->restarting_since = 0;
    v->upgrading = json_is_true (json_object_get (json, "upgrading"));
    v->clock_synced = json_is_true (json_object_get (json, "clock_synced"));
    if (!was_alive)
        cw_info ("cluster: peer %d (%s) is alive system_name=%s", index, self->effective.peers[index - 1],
                 v->system_name);
    //  A subordinate is in sync once it holds what the primary holds
    if (!self->is_primary && index == self->effective.primary) {
        char mine[40];
        cw_replog_cluster_id (self->replog, mine, sizeof mine);
        if (!self->in_sync && strcmp (mine, v->cluster_id) == 0
        &&  cw_replog_applied_seq (self->replog) == v->applied_seq) {
            self->in_sync = true;
            s_send_heartbeats (self);   //  tell the others at once: no longer joining
            s_check_sync_waiters (self, false);
        }
    }
    if (self->is_primary && !restarting)
        s_sync_peer (self, index);
}

// ---------------------------------------------------------------------------
//  Incoming requests from peers

static void s_forward_write (cw_cluster_t *self, json_t *args, const cw_reply_target_t *target);

//  Answer of the local alarms/other actor to a relayed peer request.
static void
s_on_actor_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_reply_target_t *target = arg;
    cw_cluster_t *self = *(cw_cluster_t **) (target + 1);
    cw_cluster_answer (self, target, ok, json_incref (body));
    free (target);
}

static void
s_relay_to_actor (cw_cluster_t *self, const char *actor, const char *command, json_t *args,
                  const cw_reply_target_t *target)
{
    //  The target and self travel together as the callback argument
    cw_reply_target_t *copy = malloc (sizeof *copy + sizeof (cw_cluster_t *));
    *copy = *target;
    *(cw_cluster_t **) (copy + 1) = self;
    cw_actor_request (self->actor, actor, command, json_incref (args ? args : json_object ()),
                      s_on_actor_reply, copy, CW_PEER_CALL_TIMEOUT_MS);
}

static bool s_peer_command (cw_cluster_t *self, const char *command, json_t *args,
                            const cw_reply_target_t *target);

static void
s_handle_control (cw_cluster_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    if (strcmp (command, "alarms.list") == 0) {
        s_relay_to_actor (self, "alarms", "alarms.list", args, target);
        return;
    }
    if (strcmp (command, "config.list") == 0) {
        json_t *reply = NULL;
        cw_reply_status_t status = cw_config_store_handle (self->store, "config.list", args, &reply);
        cw_cluster_answer (self, target, status == CW_REPLY_OK, reply);
        return;
    }
    if (strcmp (command, "cluster.force_config_update") == 0) {
        char err[512];
        if (cw_cluster_force_config_update (self, err, sizeof err))
            cw_cluster_answer (self, target, false, cw_error_body ("%s", err));
        else
            cw_cluster_answer (self, target, true, json_pack ("{s:b}", "reset", true));
        return;
    }
    if (s_peer_command (self, command, args, target))
        return;
    cw_cluster_answer (self, target, false, cw_error_body ("unknown peer command '%s'", command));
}

static void
s_on_peer_request (cw_cluster_t *self, int peer, uint64_t link_id, uint64_t corr, json_t *json,
                   const uint8_t *blob, size_t blob_len)
{
    cw_reply_target_t target = { .remote = true, .corr = corr, .link_id = link_id };
    const char *op = s_jstr (json, "op");
    json_t *reply = NULL;
    if (strcmp (op, "changeset") == 0)
        reply = s_apply_changeset (self, peer, json, blob, blob_len);
    else
    if (strcmp (op, "snapshot") == 0)
        reply = s_apply_snapshot (self, peer, json, blob, blob_len);
    else
    if (strcmp (op, "forward") == 0) {
        s_forward_write (self, json, &target);
        return;
    }
    else
    if (strcmp (op, "control") == 0) {
        json_t *args = json_object_get (json, "args");
        s_handle_control (self, s_jstr (json, "command"), json_is_object (args) ? args : NULL, &target);
        return;
    }
    else
    if (strcmp (op, "actor") == 0) {
        const char *actor = s_jstr (json, "actor");
        if (!*actor || strcmp (actor, "replication") == 0) {
            cw_cluster_answer (self, &target, false, cw_error_body ("peer request needs an actor name"));
            return;
        }
        s_relay_to_actor (self, actor, s_jstr (json, "command"), json_object_get (json, "args"), &target);
        return;
    }
    else
    if (strcmp (op, "broadcast") == 0) {
        char topic[256];
        snprintf (topic, sizeof topic, "cluster.%s", s_jstr (json, "topic"));
        json_t *body = json_pack ("{s:i, s:s, s:O}", "peer", peer,
                                  "system_name", self->peers[peer - 1].view.system_name,
                                  "body", json_object_get (json, "body") ? json_object_get (json, "body")
                                                                         : json_null ());
        cw_actor_publish (self->actor, topic, body, false);
        return;     //  no reply
    }
    else
        reply = json_pack ("{s:s, s:s}", "status", "error", "error", "unknown operation");
    char *text = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    cw_peerlink_reply (self->links, link_id, CW_FRAME_REPLY, corr, text, NULL, 0);
    free (text);
    if (strcmp (op, "snapshot") == 0)
        s_send_heartbeats (self);       //  the others learn at once that we joined
}

static void
s_on_peer_reply (cw_cluster_t *self, int peer, uint64_t corr, json_t *json, const uint8_t *blob,
                 size_t blob_len)
{
    for (cw_peer_call_t *call = zlistx_first (self->calls); call; call = zlistx_next (self->calls)) {
        if (call->corr != corr || call->peer != peer)
            continue;
        cw_peer_call_t copy = *call;
        zlistx_delete (self->calls, zlistx_cursor (self->calls));
        free (call);
        //  Generic replies are {"ok", "body"}; replication replies are bare
        json_t *ok = json_object_get (json, "ok");
        if (json_is_boolean (ok))
            copy.cb (self, peer, json_is_true (ok), json_object_get (json, "body"), blob, blob_len, copy.arg);
        else
            copy.cb (self, peer, true, json, blob, blob_len, copy.arg);
        return;
    }
}

// ---------------------------------------------------------------------------
//  Peer link callbacks

static void
s_on_message (cw_peerlink_t *links, int peer, uint64_t link_id, cw_peerlink_dir_t dir, uint8_t type,
              uint64_t corr, const char *json_text, json_t *json, const uint8_t *blob, size_t blob_len,
              void *arg)
{
    (void) links;
    (void) dir;
    (void) json_text;
    cw_cluster_t *self = arg;
    if (peer < 1 || peer > self->effective.peer_count || !json_is_object (json)) {
        cw_warn ("cluster: dropped a frame from peer %d type=%d (not a JSON object)", peer, type);
        return;
    }
    if (type == CW_FRAME_HEARTBEAT)
        s_on_heartbeat (self, peer, json);
    else
    if (type == CW_FRAME_REQUEST)
        s_on_peer_request (self, peer, link_id, corr, json, blob, blob_len);
    else
    if (type == CW_FRAME_REPLY)
        s_on_peer_reply (self, peer, corr, json, blob, blob_len);
    else
        cw_warn ("cluster: dropped a frame of unknown type=%d from peer %d", type, peer);
}

static void
s_on_link (cw_peerlink_t *links, int peer, cw_peerlink_dir_t dir, bool up, const char *reason, void *arg)
{
    (void) links;
    cw_cluster_t *self = arg;
    if (peer < 1 || peer > CW_CLUSTER_MAX_PEERS)
        return;
    if (dir == CW_PEERLINK_OUTBOUND) {
        cw_peer_state_t *state = &self->peers[peer - 1];
        state->link_up = up;
        if (!up) {
            state->syncing = false;
            state->sent_seq = state->acked_seq;
        }
        else
            //  Send a heartbeat at once: liveness and sync start now
            s_send_heartbeats (self);
    }
    if (up)
        cw_info ("cluster: link %s peer=%d up", dir == CW_PEERLINK_OUTBOUND ? "to" : "from", peer);
    else
        cw_info ("cluster: link %s peer=%d down reason=\"%s\"", dir == CW_PEERLINK_OUTBOUND ? "to" : "from",
                 peer, reason);
}

static void
s_update_links (cw_cluster_t *self, bool force)
{
    if (!self->links)
        return;
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int count = cw_cluster_mapping (self, mapping, texts, 12);
    char text[2048] = "";
    for (int i = 0; i < count; i++) {
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "%s=%s;", mapping[i].fqdn, mapping[i].ip);
    }
    if (!force && strcmp (text, self->mapping_text) == 0)
        return;
    cw_copy (self->mapping_text, sizeof self->mapping_text, text);
    cw_peerlink_peers_t peers;
    memset (&peers, 0, sizeof peers);
    peers.self_index = self->this_peer;
    for (int i = 0; i < self->effective.peer_count; i++)
        peers.address[i] = self->effective.peers[i];
    peers.mapping = mapping;
    peers.mapping_count = (size_t) count;
    peers.ip_version = self->effective.ip_version;
    char err[256];
    if (cw_peerlink_update_peers (self->links, &peers, err, sizeof err))
        cw_warn ("cluster: cannot update the peer links: %s", err);
}

static void
s_start_links (cw_cluster_t *self)
{
    self->links_error[0] = 0;
    if (self->effective.peer_count == 0)
        return;
    if (!*self->boot->peering.address) {
        snprintf (self->links_error, sizeof self->links_error,
                  "peering.address is not set in the bootstrap file %s", self->boot->file);
        return;
    }
    if (self->this_peer == 0)
        return;     //  20015: not in the list; no links
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int count = cw_cluster_mapping (self, mapping, texts, 12);
    cw_peerlink_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.listen_address = self->boot->peering.address;
    cfg.port = (uint16_t) self->boot->peering.port;
    cfg.certificate = self->boot->peering.certificate;
    cfg.private_key = self->boot->peering.private_key;
    cfg.ca_file = self->boot->peering.ca_file;
    cfg.verify = strcmp (self->effective.tls_verify, "enforce") == 0 ? CW_PEERLINK_ENFORCE
                                                                    : CW_PEERLINK_PERMISSIVE;
    cfg.peers.self_index = self->this_peer;
    for (int i = 0; i < self->effective.peer_count; i++)
        cfg.peers.address[i] = self->effective.peers[i];
    cfg.peers.mapping = mapping;
    cfg.peers.mapping_count = (size_t) count;
    cfg.peers.ip_version = self->effective.ip_version;
    cfg.on_message = s_on_message;
    cfg.on_link = s_on_link;
    cfg.arg = self;
    self->links = cw_peerlink_new (self->loop, &cfg, self->links_error, sizeof self->links_error);
    if (!self->links)
        cw_error ("cluster: cannot start the peer links: %s", self->links_error);
    else {
        for (int i = 0; i < count; i++) {
            size_t used = strlen (self->mapping_text);
            snprintf (self->mapping_text + used, sizeof self->mapping_text - used, "%s=%s;",
                      mapping[i].fqdn, mapping[i].ip);
        }
        cw_info ("cluster: peer links started address=%s port=%d this_peer=%d primary=%d tls=%s",
                 cfg.listen_address, cfg.port, self->this_peer, self->effective.primary,
                 self->effective.tls_verify);
    }
}

//  As in the guide, a peer that is already in the cluster applies a saved
//  peer list or primary index at once; joining or leaving the cluster, a
//  change of this peer's own slot, of the cluster name, the IP version or
//  the TLS mode wait for `causeway restart` (alarms 20007 / 20020 / 20036).
static void
s_apply_live_settings (cw_cluster_t *self)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0)
        return;
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    if (cw_cluster_settings_equal (&self->effective, &stored, false)
    ||  stored.peer_count == 0 || stored.ip_version != self->effective.ip_version
    ||  strcasecmp (stored.name, self->effective.name) != 0
    ||  strcmp (stored.tls_verify, self->effective.tls_verify) != 0
    ||  s_find_self (self, &stored) != self->this_peer)
        return;
    cw_cluster_settings_t old = self->effective;
    self->effective = stored;
    for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++) {
        if (strcmp (old.peers[i], stored.peers[i]) == 0)
            continue;
        memset (&self->peers[i], 0, sizeof self->peers[i]);
        self->peers[i].view.rtt_ms = -1;
        self->peers[i].sent_seq = self->peers[i].acked_seq = -1;
    }
    bool was_primary = self->is_primary;
    self->is_primary = self->this_peer == stored.primary;
    if (self->is_primary && !was_primary) {
        self->in_sync = true;
        for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++) {
            self->peers[i].sent_seq = self->peers[i].acked_seq = -1;
            self->peers[i].syncing = false;
        }
    }
    if (!self->is_primary && was_primary)
        self->in_sync = false;
    s_save_effective (self);
    s_update_links (self, true);
    cw_info ("cluster: clustering settings applied live peers=%d primary=%d this_peer=%d name=%s",
             stored.peer_count, stored.primary, self->this_peer, stored.name);
}

// ---------------------------------------------------------------------------
//  The tick: heartbeats, liveness, sync, alarms

//  At start: the cluster alarms already active (raised by an earlier
//  instance of this actor) are the base of the first diff, so alarms whose
//  cause went away during a restart are cleared and the others keep their
//  occurrence (uuid).
static void s_evaluate_alarms (cw_cluster_t *self);

static void
s_on_alarms_listed (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_cluster_t *self = arg;
    if (!ok) {
        cw_warn ("cluster: cannot read the active alarms (%s); retrying", s_jstr (body, "error"));
        return;
    }
    self->alarm_count = 0;
    size_t i;
    json_t *alarm;
    json_array_foreach (json_object_get (body, "alarms"), i, alarm) {
        int id = (int) json_integer_value (json_object_get (alarm, "id"));
        if (id < 20000 || id > 20999 || self->alarm_count >= CW_CLUSTER_ALARMS_MAX)
            continue;
        cw_alarm_want_t *want = &self->alarms[self->alarm_count++];
        want->id = id;
        cw_copy (want->subject, sizeof want->subject, s_jstr (alarm, "subject"));
        cw_copy (want->detail, sizeof want->detail, s_jstr (alarm, "detail"));
    }
    self->alarms_known = true;
    s_evaluate_alarms (self);           //  clear what went away during the restart, now
}

static void
s_evaluate_alarms (cw_cluster_t *self)
{
    if (!self->alarms_known) {
        static int64_t asked = 0;
        if (zclock_mono () - asked > 2000) {
            asked = zclock_mono ();
            cw_actor_request (self->actor, "alarms", "alarms.list", json_object (), s_on_alarms_listed,
                              self, 2000);
        }
        return;
    }
    cw_cluster_view_t view;
    cw_cluster_view (self, &view);
    static cw_alarm_want_t want[CW_CLUSTER_ALARMS_MAX], raise[CW_CLUSTER_ALARMS_MAX],
                           clear[CW_CLUSTER_ALARMS_MAX];
    int count = cw_cluster_alarms_evaluate (&view, want, CW_CLUSTER_ALARMS_MAX);
    if (count < 0)
        return;
    int nraise = 0, nclear = 0;
    if (cw_cluster_alarms_diff (self->alarms, self->alarm_count, want, count, raise, &nraise,
                                clear, &nclear))
        return;
    for (int i = 0; i < nclear; i++)
        cw_alarm_clear (self->actor, clear[i].id, clear[i].subject);
    for (int i = 0; i < nraise; i++)
        cw_alarm_raise (self->actor, raise[i].id, raise[i].subject, raise[i].detail);
    memcpy (self->alarms, want, sizeof (cw_alarm_want_t) * (size_t) count);
    self->alarm_count = count;
}

static const char *s_database_status (cw_cluster_t *self, const cw_cluster_view_t *view);

//  A retained summary for causewayd's `status` (the factory-reset banner):
//  published when it changes.
static void
s_publish_summary (cw_cluster_t *self)
{
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    bool pending = self->effective.peer_count > 0 && stored.peer_count == 0;
    cw_cluster_view_t view;
    cw_cluster_view (self, &view);
    json_t *summary = json_pack ("{s:b, s:b, s:i, s:i, s:i, s:b, s:s}", "factory_reset_pending", pending,
                                 "clustered", self->effective.peer_count > 0, "peers", self->effective.peer_count,
                                 "primary", self->effective.primary, "this_peer", self->this_peer,
                                 "is_primary", self->is_primary, "database", s_database_status (self, &view));
    char *text = json_dumps (summary, JSON_COMPACT | JSON_SORT_KEYS);
    if (text && strcmp (text, self->summary_text) != 0) {
        cw_copy (self->summary_text, sizeof self->summary_text, text);
        cw_actor_publish (self->actor, "cluster.summary", json_incref (summary), true);
    }
    free (text);
    json_decref (summary);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_cluster_t *self = arg;
    s_apply_live_settings (self);
    s_update_links (self, false);
    s_send_heartbeats (self);
    s_expire_calls (self);
    s_check_waiters (self);
    s_check_sync_waiters (self, true);
    s_evaluate_alarms (self);
    s_publish_summary (self);
    return 0;
}

// ---------------------------------------------------------------------------
//  Configuration writes: local, forwarded to the primary, or waited for

//  Why a cluster-wide change must wait (a peer joining, restarting,
//  upgrading), or "" when it may go ahead.
static void
s_change_blocker (cw_cluster_t *self, char *why, size_t size)
{
    why[0] = 0;
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer || !cw_cluster_peer_alive (self, i + 1))
            continue;
        cw_peer_view_t *v = &self->peers[i].view;
        const char *what = v->upgrading ? "upgrading"
                         : strcmp (v->version, CW_VERSION) != 0 ? "running another software version"
                         : v->joining ? "joining the cluster" : NULL;
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i + 1, self->effective.peers[i], what);
            return;
        }
    }
    for (int i = 0; i < self->effective.peer_count; i++) {
        cw_peer_state_t *peer = &self->peers[i];
        if (i + 1 != self->this_peer && peer->restarting_since
        &&  zclock_mono () - peer->restarting_since < CW_RESTARTING_GRACE_MS) {
            snprintf (why, size, "peer %d (%s) announced a restart", i + 1, self->effective.peers[i]);
            return;
        }
    }
}

// ---------------------------------------------------------------------------
//  Replicated data of other actors: cluster.cluster_data (ns, key, value)
//
//  replication.data.put {ns, rows: [[key, value|null], ...], wait?}
//      one transaction, one changeset; value null deletes the row; on a
//      subordinate forwarded to the primary like a cluster-scope key
//  replication.data.get {ns, key} -> {"ns","key","value"|null}
//  replication.data.count {ns} -> {"ns","rows"}

static int
s_data_table (cw_cluster_t *self)
{
    return s_exec (self, "CREATE TABLE IF NOT EXISTS " CW_REPLOG_SCHEMA ".cluster_data ("
                         " ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                         " PRIMARY KEY (ns, key));");
}

static cw_reply_status_t
s_data_put (cw_cluster_t *self, json_t *args, json_t **reply)
{
    const char *ns = s_jstr (args, "ns");
    json_t *rows = json_object_get (args, "rows");
    if (!*ns || !json_is_array (rows)) {
        *reply = cw_error_body ("replication.data.put: 'ns' (text) and 'rows' ([[key, value], ...]) are required");
        return CW_REPLY_ERROR;
    }
    char err[512];
    sqlite3 *db = cw_config_store_db (self->store);
    if (cw_replog_write_begin (self->replog, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    sqlite3_stmt *upsert = NULL, *remove = NULL;
    int rc = sqlite3_prepare_v2 (db, "INSERT INTO " CW_REPLOG_SCHEMA ".cluster_data (ns, key, value)"
                                     " VALUES (?1, ?2, ?3) ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
                                 -1, &upsert, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2 (db, "DELETE FROM " CW_REPLOG_SCHEMA ".cluster_data WHERE ns = ?1 AND key = ?2",
                                 -1, &remove, NULL);
    size_t i;
    json_t *row;
    const char *bad = NULL;
    json_array_foreach (rows, i, row) {
        if (rc != SQLITE_OK)
            break;
        json_t *key = json_array_get (row, 0), *value = json_array_get (row, 1);
        if (!json_is_array (row) || json_array_size (row) != 2 || !json_is_string (key)
        ||  !(json_is_string (value) || json_is_null (value))) {
            bad = "each row must be [key, value] with text key and text or null value";
            break;
        }
        sqlite3_stmt *stmt = json_is_null (value) ? remove : upsert;
        sqlite3_bind_text (stmt, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, json_string_value (key), -1, SQLITE_STATIC);
        if (!json_is_null (value))
            sqlite3_bind_text (stmt, 3, json_string_value (value), -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset (stmt);
    }
    if (rc != SQLITE_OK && !bad)
        bad = sqlite3_errmsg (db);
    sqlite3_finalize (upsert);
    sqlite3_finalize (remove);
    if (bad) {
        *reply = cw_error_body ("replication.data.put: %s", bad);
        cw_replog_write_rollback (self->replog);
        return CW_REPLY_ERROR;
    }
    int64_t seq = 0;
    void *changeset = NULL;
    int len = 0;
    if (cw_replog_write_commit (self->replog, &seq, &changeset, &len, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    if (seq > 0)
        s_on_replicate (self->store, seq, changeset, len, self);
    sqlite3_free (changeset);
    *reply = json_pack ("{s:s, s:i}", "ns", ns, "rows", (int) json_array_size (rows));
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_data_read (cw_cluster_t *self, const char *command, json_t *args, json_t **reply)
{
    const char *ns = s_jstr (args, "ns");
    bool count = strcmp (command, "replication.data.count") == 0;
    sqlite3 *db = cw_config_store_db (self->store);
    sqlite3_stmt *stmt = NULL;
    const char *sql = count ? "SELECT count (*) FROM " CW_REPLOG_SCHEMA ".cluster_data WHERE ns = ?1"
                            : "SELECT value FROM " CW_REPLOG_SCHEMA ".cluster_data WHERE ns = ?1 AND key = ?2";
    if (!*ns || sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        sqlite3_finalize (stmt);
        *reply = cw_error_body ("%s: 'ns' is required", command);
        return CW_REPLY_ERROR;
    }
    sqlite3_bind_text (stmt, 1, ns, -1, SQLITE_STATIC);
    if (!count)
        sqlite3_bind_text (stmt, 2, s_jstr (args, "key"), -1, SQLITE_STATIC);
    int step = sqlite3_step (stmt);
    if (count)
        *reply = json_pack ("{s:s, s:I}", "ns", ns, "rows",
                            (json_int_t) (step == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0));
    else
        *reply = json_pack ("{s:s, s:s, s:o}", "ns", ns, "key", s_jstr (args, "key"), "value",
                            step == SQLITE_ROW ? json_string ((const char *) sqlite3_column_text (stmt, 0))
                                               : json_null ());
    sqlite3_finalize (stmt);
    return CW_REPLY_OK;
}

static void s_publish_summary (cw_cluster_t *self);
static const char *s_database_status (cw_cluster_t *self, const cw_cluster_view_t *view);

//  Commit a config.set/unset ARGS on this node (primary or not clustered)
//  and answer TARGET, now or when every live peer applied it (wait).
static void
s_commit_write (cw_cluster_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    json_t *reply = NULL;
    int64_t before = cw_replog_applied_seq (self->replog);
    cw_reply_status_t status = strcmp (command, "replication.data.put") == 0
                             ? s_data_put (self, args, &reply)
                             : cw_config_store_handle (self->store, command, args, &reply);
    int64_t seq = cw_replog_applied_seq (self->replog);
    if (status == CW_REPLY_OK)
        s_publish_summary (self);       //  before the reply: `status` right after sees it
    if (status == CW_REPLY_OK && json_is_object (reply) && seq > before)
        json_object_set_new (reply, "seq", json_integer (seq));
    if (status == CW_REPLY_OK && json_is_true (json_object_get (args, "wait")) && seq > before) {
        char missing[512];
        if (!s_all_applied (self, seq, missing, sizeof missing)) {
            s_waiter_t *waiter = calloc (1, sizeof *waiter);
            waiter->target = *target;
            waiter->seq = seq;
            waiter->deadline = zclock_mono () + CW_SYNC_TIMEOUT_MS;
            waiter->body = reply;
            zlistx_add_end (self->waiters, waiter);
            return;
        }
    }
    cw_cluster_answer (self, target, status == CW_REPLY_OK, reply);
}

//  A forwarded write arrived at the primary.
static void
s_forward_write (cw_cluster_t *self, json_t *json, const cw_reply_target_t *target)
{
    const char *command = s_jstr (json, "command");
    json_t *args = json_object_get (json, "args");
    if (!self->is_primary) {
        cw_cluster_answer (self, target, false,
                           cw_error_body ("peer %d is not the configuration primary (primary is peer %d)",
                                          self->this_peer, self->effective.primary));
        return;
    }
    if (strcmp (command, "config.set") != 0 && strcmp (command, "config.unset") != 0
    &&  strcmp (command, "replication.data.put") != 0) {
        cw_cluster_answer (self, target, false, cw_error_body ("cannot forward '%s'", command));
        return;
    }
    char why[512];
    s_change_blocker (self, why, sizeof why);
    if (*why && !json_is_true (json_object_get (args, "force"))) {
        cw_cluster_answer (self, target, false,
                           cw_error_body ("cluster-wide change refused: %s; retry when it is active, or use --force",
                                          why));
        return;
    }
    s_commit_write (self, command, json_is_object (args) ? args : NULL, target);
}

typedef struct {
    cw_reply_target_t target;
    int primary;
} s_forward_t;

static void
s_on_forward_reply (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                    size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_forward_t *forward = arg;
    if (!ok && json_object_get (json, "error") && strstr (s_jstr (json, "error"), "did not answer"))
        cw_cluster_answer (self, &forward->target, false,
                           cw_error_body ("the configuration primary, peer %d (%s), did not answer in time",
                                          peer, self->effective.peers[peer - 1]));
    else
        cw_cluster_answer (self, &forward->target, ok, json_incref (json));
    free (forward);
}

//  config.set / config.unset from a local requester.
static cw_reply_status_t
s_config_write (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    bool data = strcmp (req->command, "replication.data.put") == 0;
    const cw_config_key_t *key = data ? NULL : cw_registry_lookup (s_jstr (args, "key"));
    cw_reply_target_t target = { .remote = false, .corr = req->corr };
    cw_copy (target.to, sizeof target.to, req->from);
    bool clustered = self->effective.peer_count > 0 && self->this_peer > 0;
    if ((!data && (!key || key->scope != CW_SCOPE_CLUSTER)) || !clustered) {
        s_commit_write (self, req->command, args, &target);
        return CW_REPLY_DEFERRED;
    }
    if (self->is_primary) {
        json_t *wrapped = json_pack ("{s:s, s:O}", "command", req->command, "args", args);
        s_forward_write (self, wrapped, &target);
        json_decref (wrapped);
        return CW_REPLY_DEFERRED;
    }
    //  A subordinate: validate here (a clear error at once), then forward
    char err[512];
    if (!data && strcmp (req->command, "config.set") == 0) {
        json_t *normal = cw_registry_normalize (key, json_object_get (args, "value"), err, sizeof err);
        if (!normal) {
            *reply = cw_error_body ("%s", err);
            return CW_REPLY_ERROR;
        }
        json_decref (normal);
    }
    int primary = self->effective.primary;
    const char *address = primary >= 1 && primary <= self->effective.peer_count
                        ? self->effective.peers[primary - 1] : "?";
    s_forward_t *forward = calloc (1, sizeof *forward);
    forward->target = target;
    forward->primary = primary;
    json_t *call = json_pack ("{s:s, s:s, s:O}", "op", "forward", "command", req->command, "args", args);
    if (!self->peers[primary - 1].link_up
    ||  cw_cluster_peer_call (self, primary, call, NULL, 0, s_on_forward_reply, forward,
                              CW_PEER_CALL_TIMEOUT_MS + 1000) != 0) {
        free (forward);
        *reply = cw_error_body ("%s is cluster-wide and is changed on the configuration primary, "
                                "peer %d (%s), which is unreachable", data ? "replicated data" : key->name,
                                primary, address);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  cluster.status

static const char *
s_database_status (cw_cluster_t *self, const cw_cluster_view_t *view)
{
    if (view->database_missing || self->sync_failed)
        return "failed";
    if (!view->clustered || self->this_peer == 0)
        return view->clustered ? "failed" : "active";
    if (self->conflict)
        return "conflict";
    if (self->is_primary)
        return "active";
    if (!cw_cluster_peer_alive (self, self->effective.primary))
        return self->in_sync ? "active" : "unknown";
    return self->in_sync ? "active" : "syncing";
}

json_t *
cw_cluster_status (cw_cluster_t *self)
{
    cw_cluster_view_t view;
    cw_cluster_view (self, &view);
    json_t *mapping = json_array ();
    for (int i = 0; i < view.mapping_count; i++) {
        char entry[520];
        snprintf (entry, sizeof entry, "%s=%s", view.mappings[i][0], view.mappings[i][1]);
        json_array_append_new (mapping, json_string (entry));
    }
    int64_t primary_seq = view.applied_seq;
    if (!self->is_primary && self->effective.primary >= 1 && self->effective.primary <= view.effective.peer_count
    &&  cw_cluster_peer_alive (self, self->effective.primary))
        primary_seq = view.peers[self->effective.primary - 1].applied_seq;
    json_t *peers = json_array ();
    for (int i = 0; i < view.effective.peer_count; i++) {
        cw_peer_view_t *v = &view.peers[i];
        const char *state = v->is_self ? "this-system"
                          : v->alive ? "active"
                          : (v->ever_seen || v->tcp_failing || v->tls_failing) ? "failed" : "unknown";
        json_t *peer = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "index", i + 1, "address", v->address,
                                  "system_name", v->system_name, "state", state,
                                  "certificate", v->is_self ? "this system" : v->certificate);
        json_object_set_new (peer, "rtt_ms", v->is_self || !v->alive ? json_null () : json_real (v->rtt_ms));
        json_object_set_new (peer, "applied_seq", v->alive ? json_integer (v->applied_seq) : json_null ());
        json_object_set_new (peer, "lag", v->alive ? json_integer (primary_seq > v->applied_seq
                                                                   ? primary_seq - v->applied_seq : 0)
                                                   : json_null ());
        json_object_set_new (peer, "version", json_string (v->version));
        json_object_set_new (peer, "type", json_string (v->type));
        json_object_set_new (peer, "maintenance", json_boolean (v->maintenance));
        json_object_set_new (peer, "ip", json_string (v->ip));
        json_object_set_new (peer, "load", json_real (v->load));
        if (*v->tls_error || *v->tcp_error)
            json_object_set_new (peer, "error", json_string (*v->tls_error ? v->tls_error : v->tcp_error));
        json_array_append_new (peers, peer);
    }
    json_t *status = json_pack ("{s:s, s:i, s:i, s:i, s:s, s:o, s:s, s:b, s:o}",
                                "name", view.effective.name, "primary", view.effective.primary,
                                "this_peer", view.this_peer, "ip_version", view.effective.ip_version,
                                "tls_verify", view.effective.tls_verify, "address_mapping", mapping,
                                "database", s_database_status (self, &view),
                                "factory_reset_pending", view.factory_reset_pending, "peers", peers);
    json_object_set_new (status, "address_mapping_enabled", json_boolean (view.address_mapping_enabled));
    json_object_set_new (status, "applied_seq", json_integer (view.applied_seq));
    json_object_set_new (status, "restart_required",
                         json_boolean (!cw_cluster_settings_equal (&view.effective, &view.stored, false)));
    json_object_set_new (status, "factory_reset_done", json_boolean (self->factory_reset_done));
    if (*self->links_error)
        json_object_set_new (status, "links_error", json_string (self->links_error));
    if (self->links) {
        cw_peerlink_stats_t stats;
        cw_peerlink_stats (self->links, &stats);
        json_object_set_new (status, "links", json_pack ("{s:I, s:I, s:I, s:I}",
            "rejected_connections", (json_int_t) stats.rejected_connections,
            "malformed_frames", (json_int_t) stats.malformed_frames,
            "handshake_failures", (json_int_t) stats.handshake_failures,
            "accepted_connections", (json_int_t) stats.accepted_connections));
    }
    return status;
}

// ---------------------------------------------------------------------------
//  cluster.alarms: the alarms of every reachable peer

typedef struct {
    cw_reply_target_t target;
    json_t *alarms;
    json_t *unreachable;
    int waiting;
} s_gather_t;

static void
s_gather_done (cw_cluster_t *self, s_gather_t *gather)
{
    if (--gather->waiting > 0)
        return;
    cw_cluster_answer (self, &gather->target, true,
                       json_pack ("{s:o, s:o}", "alarms", gather->alarms, "unreachable", gather->unreachable));
    free (gather);
}

static void
s_gather_add (s_gather_t *gather, json_t *body, int peer, const char *address)
{
    size_t i;
    json_t *alarm;
    json_array_foreach (json_object_get (body, "alarms"), i, alarm) {
        json_t *copy = json_deep_copy (alarm);
        json_object_set_new (copy, "peer_index", json_integer (peer));
        json_object_set_new (copy, "peer_address", json_string (address));
        json_array_append_new (gather->alarms, copy);
    }
}

static void
s_on_gather_peer (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                  size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_gather_t *gather = arg;
    if (ok)
        s_gather_add (gather, json, peer, self->effective.peers[peer - 1]);
    else
        json_array_append_new (gather->unreachable, json_string (self->effective.peers[peer - 1]));
    s_gather_done (self, gather);
}

static void
s_on_gather_local (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_gather_t *gather = arg;
    cw_cluster_t *self = *(cw_cluster_t **) (gather + 1);
    if (ok)
        s_gather_add (gather, body, self->this_peer, self->this_peer ? self->effective.peers[self->this_peer - 1]
                                                                     : self->boot->peering.address);
    s_gather_done (self, gather);
}

static void
s_cluster_alarms (cw_cluster_t *self, const cw_envelope_t *req, json_t *args)
{
    s_gather_t *gather = calloc (1, sizeof *gather + sizeof (cw_cluster_t *));
    *(cw_cluster_t **) (gather + 1) = self;
    gather->target.remote = false;
    gather->target.corr = req->corr;
    cw_copy (gather->target.to, sizeof gather->target.to, req->from);
    gather->alarms = json_array ();
    gather->unreachable = json_array ();
    gather->waiting = 1;
    json_t *list_args = json_pack ("{s:b}", "all", json_is_true (json_object_get (args, "all")));
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer)
            continue;
        json_t *call = json_pack ("{s:s, s:s, s:O}", "op", "control", "command", "alarms.list",
                                  "args", list_args);
        if (cw_cluster_peer_alive (self, i + 1)
        &&  cw_cluster_peer_call (self, i + 1, call, NULL, 0, s_on_gather_peer, gather, 3000) == 0)
            gather->waiting++;
        else
            json_array_append_new (gather->unreachable, json_string (self->effective.peers[i]));
    }
    cw_actor_request (self->actor, "alarms", "alarms.list", list_args, s_on_gather_local, gather, 3000);
}

// ---------------------------------------------------------------------------
//  Requests from local actors and the control socket

void
cw_cluster_request_restart (cw_cluster_t *self)
{
    cw_actor_request (self->actor, "", "restart", json_object (), NULL, NULL, 0);
}

typedef struct {
    sqlite3 *db;
    const char *file;
    const char *passphrase;
    const unsigned char *key;
    bool create;
    char name[64];
    int rc;
    json_t *manifest;
    char err[512];
} s_backup_job_t;

static void *
s_backup_worker (void *arg)
{
    s_backup_job_t *job = arg;
    if (job->create)
        job->rc = cw_backup_create (job->db, CW_REPLOG_SCHEMA, job->file, job->passphrase, job->name,
                                    job->key, job->err, sizeof job->err);
    else
        job->rc = cw_backup_restore (job->db, CW_REPLOG_SCHEMA, job->file, job->passphrase, job->key,
                                     &job->manifest, job->err, sizeof job->err);
    return NULL;
}

static cw_reply_status_t
s_backup (cw_cluster_t *self, const char *command, json_t *args, json_t **reply)
{
    const char *file = s_jstr (args, "file");
    const char *passphrase = s_jstr (args, "passphrase");
    if (!*file || *file != '/') {
        *reply = cw_error_body ("%s: 'file' must be an absolute path", command);
        return CW_REPLY_ERROR;
    }
    if (!*passphrase) {
        *reply = cw_error_body ("%s: a passphrase is required", command);
        return CW_REPLY_ERROR;
    }
    unsigned char key[CW_SECRET_KEY_BYTES];
    char err[512];
    if (cw_secret_key_load (self->boot->node.state_dir, key, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    //  The passphrase key derivation (argon2id) takes about half a second:
    //  a worker thread does the backup while this thread keeps heartbeating.
    //  The connection is used by the worker alone meanwhile.
    s_backup_job_t job = { .db = cw_config_store_db (self->store), .file = file, .passphrase = passphrase,
                           .key = key, .create = strcmp (command, "backup.create") == 0 };
    s_value_text (self, "system.name", job.name, sizeof job.name);
    s_run_blocking (self, s_backup_worker, &job);
    int rc = job.rc;
    json_t *manifest = job.manifest;
    char *err_text = job.err;
    sodium_memzero (key, sizeof key);
    if (rc) {
        json_decref (manifest);
        *reply = cw_error_body ("%s", err_text);
        return CW_REPLY_ERROR;
    }
    if (strcmp (command, "backup.restore") == 0) {
        cw_config_store_announce (self->store);
        *reply = json_pack ("{s:s, s:o, s:s}", "file", file, "manifest", manifest ? manifest : json_object (),
                            "note", "restored; run `causeway restart` so clustering settings take effect");
    }
    else
        *reply = json_pack ("{s:s}", "file", file);
    return CW_REPLY_OK;
}

typedef struct {
    cw_reply_target_t target;
} s_peer_request_t;

static void
s_on_peer_request_reply (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
                         size_t blob_len, void *arg)
{
    (void) peer;
    (void) blob;
    (void) blob_len;
    s_peer_request_t *pending = arg;
    cw_cluster_answer (self, &pending->target, ok, json_incref (json));
    free (pending);
}

cw_reply_status_t
cw_cluster_handle (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    const char *command = req->command;
    if (strcmp (command, "config.set") == 0 || strcmp (command, "config.unset") == 0
    ||  strcmp (command, "replication.data.put") == 0)
        return s_config_write (self, req, args, reply);
    if (strcmp (command, "replication.data.get") == 0 || strcmp (command, "replication.data.count") == 0)
        return s_data_read (self, command, args, reply);
    if (strncmp (command, "config.", 7) == 0)
        return cw_config_store_handle (self->store, command, args, reply);
    if (strcmp (command, "cluster.status") == 0) {
        *reply = cw_cluster_status (self);
        return CW_REPLY_OK;
    }
    if (strcmp (command, "cluster.alarms") == 0) {
        s_cluster_alarms (self, req, args);
        return CW_REPLY_DEFERRED;
    }
    if (strcmp (command, "cluster.check") == 0) {
        cw_cluster_view_t view;
        cw_cluster_view (self, &view);
        *reply = cw_cluster_check (&view);
        return *reply ? CW_REPLY_OK : CW_REPLY_ERROR;
    }
    if (strcmp (command, "cluster.force_config_update") == 0
    ||  strcasecmp (command, "xcommand.ForceConfigUpdate") == 0) {
        //  Answered once the primary's whole configuration is in place
        char err[512];
        int primary = self->effective.primary;
        if (!self->is_primary && self->this_peer && !cw_cluster_peer_alive (self, primary)) {
            *reply = cw_error_body ("the configuration primary, peer %d (%s), is unreachable; "
                                    "ForceConfigUpdate takes its configuration, so it must be running",
                                    primary, primary >= 1 && primary <= self->effective.peer_count
                                             ? self->effective.peers[primary - 1] : "?");
            return CW_REPLY_ERROR;
        }
        if (cw_cluster_force_config_update (self, err, sizeof err)) {
            *reply = cw_error_body ("%s", err);
            return CW_REPLY_ERROR;
        }
        s_waiter_t *waiter = calloc (1, sizeof *waiter);
        waiter->target.corr = req->corr;
        cw_copy (waiter->target.to, sizeof waiter->target.to, req->from);
        waiter->deadline = zclock_mono () + CW_SYNC_TIMEOUT_MS;
        waiter->body = json_pack ("{s:b, s:i, s:s}", "reset", true, "primary", primary,
                                  "result", "the primary's configuration is in place");
        zlistx_add_end (self->sync_waiters, waiter);
        s_send_heartbeats (self);       //  the primary sees at once that we need a snapshot
        return CW_REPLY_DEFERRED;
    }
    if (strcmp (command, "backup.create") == 0 || strcmp (command, "backup.restore") == 0)
        return s_backup (self, command, args, reply);
    if (strcmp (command, "replication.status") == 0) {
        *reply = json_pack ("{s:s, s:I, s:b, s:b}", "mode", self->effective.peer_count ? "cluster" : "single-node",
                            "applied_seq", (json_int_t) cw_replog_applied_seq (self->replog),
                            "primary", self->is_primary, "in_sync", self->is_primary || self->in_sync);
        return CW_REPLY_OK;
    }
    if (strcmp (command, "replication.broadcast") == 0) {
        const char *topic = s_jstr (args, "topic");
        if (!*topic) {
            *reply = cw_error_body ("replication.broadcast: 'topic' is required");
            return CW_REPLY_ERROR;
        }
        int sent = 0;
        for (int i = 0; i < self->effective.peer_count; i++) {
            if (i + 1 == self->this_peer || !cw_cluster_peer_alive (self, i + 1))
                continue;
            json_t *call = json_pack ("{s:s, s:s, s:O}", "op", "broadcast", "topic", topic, "body",
                                      json_object_get (args, "body") ? json_object_get (args, "body") : json_null ());
            if (cw_cluster_peer_call (self, i + 1, call, NULL, 0, NULL, NULL, 0) == 0)
                sent++;
        }
        *reply = json_pack ("{s:i}", "sent", sent);
        return CW_REPLY_OK;
    }
    if (strcmp (command, "replication.peer_request") == 0) {
        int peer = (int) json_integer_value (json_object_get (args, "peer"));
        if (peer < 1 || peer > self->effective.peer_count || peer == self->this_peer) {
            *reply = cw_error_body ("replication.peer_request: 'peer' must be another peer's index");
            return CW_REPLY_ERROR;
        }
        s_peer_request_t *pending = calloc (1, sizeof *pending);
        pending->target.corr = req->corr;
        cw_copy (pending->target.to, sizeof pending->target.to, req->from);
        json_t *call = json_pack ("{s:s, s:s, s:s, s:O}", "op", "actor", "actor", s_jstr (args, "actor"),
                                  "command", s_jstr (args, "command"), "args",
                                  json_object_get (args, "args") ? json_object_get (args, "args") : json_object ());
        if (cw_cluster_peer_call (self, peer, call, NULL, 0, s_on_peer_request_reply, pending, 0) != 0) {
            free (pending);
            *reply = cw_error_body ("peer %d is unreachable", peer);
            return CW_REPLY_ERROR;
        }
        return CW_REPLY_DEFERRED;
    }
    *reply = cw_error_body ("unknown command '%.100s'", command);
    return CW_REPLY_ERROR;
}

// ---------------------------------------------------------------------------
//  The core's API for the modules above it (core.h)

cw_actor_t *cw_cluster_actor (cw_cluster_t *self) { return self->actor; }
const cw_bootstrap_t *cw_cluster_boot (cw_cluster_t *self) { return self->boot; }
cw_config_store_t *cw_cluster_store (cw_cluster_t *self) { return self->store; }
zloop_t *cw_cluster_loop (cw_cluster_t *self) { return self->loop; }
const char *cw_cluster_boot_id (cw_cluster_t *self) { return self->boot_id; }
const cw_cluster_settings_t *cw_cluster_effective (cw_cluster_t *self) { return &self->effective; }
int cw_cluster_this_peer (cw_cluster_t *self) { return self->this_peer; }
bool cw_cluster_is_primary (cw_cluster_t *self) { return self->is_primary; }

bool
cw_cluster_peer_heard (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS && self->peers[index - 1].last_heard != 0;
}

bool
cw_cluster_peer_link_up (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS && self->peers[index - 1].link_up;
}

bool
cw_cluster_peer_restarting (cw_cluster_t *self, int index)
{
    if (index < 1 || index > CW_CLUSTER_MAX_PEERS)
        return false;
    int64_t since = self->peers[index - 1].restarting_since;
    return since && zclock_mono () - since < CW_RESTARTING_GRACE_MS;
}

const cw_peer_view_t *
cw_cluster_peer_view (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS ? &self->peers[index - 1].view : NULL;
}

int
cw_cluster_sender (cw_cluster_t *self, const cw_reply_target_t *target)
{
    if (!target->remote || !self->links)
        return 0;
    for (int i = 1; i <= self->effective.peer_count; i++) {
        cw_peerlink_peer_status_t status;
        if (cw_peerlink_peer_status (self->links, i, &status) == 0
        &&  (status.inbound.link_id == target->link_id || status.outbound.link_id == target->link_id))
            return i;
    }
    return 0;
}

typedef struct {
    const cw_peer_command_t *commands;
    void *arg;
} s_peer_table_t;

int
cw_cluster_peer_commands (cw_cluster_t *self, const cw_peer_command_t *table, void *arg)
{
    s_peer_table_t *entry = calloc (1, sizeof *entry);
    if (!entry)
        return -1;
    entry->commands = table;
    entry->arg = arg;
    zlistx_add_end (self->peer_commands, entry);
    return 0;
}

//  Run the peer command COMMAND from a table; false when none declares it.
static bool
s_peer_command (cw_cluster_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    for (s_peer_table_t *t = zlistx_first (self->peer_commands); t; t = zlistx_next (self->peer_commands))
        for (const cw_peer_command_t *c = t->commands; c->name; c++)
            if (strcmp (c->name, command) == 0) {
                c->handler (self, args, target, t->arg);
                return true;
            }
    return false;
}

// ---------------------------------------------------------------------------
//  Life cycle

void
cw_cluster_announce_stop (cw_cluster_t *self)
{
    self->stopping = true;
    s_send_heartbeats (self);
}

cw_cluster_t *
cw_cluster_new (cw_actor_t *actor, cw_config_store_t *store, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    cw_cluster_t *self = calloc (1, sizeof *self);
    self->actor = actor;
    self->store = store;
    self->replog = cw_config_store_replog (store);
    self->boot = cw_actor_bootstrap (actor);
    self->loop = cw_actor_loop (actor);
    self->next_corr = 1;
    self->calls = zlistx_new ();
    self->waiters = zlistx_new ();
    self->sync_waiters = zlistx_new ();
    self->peer_commands = zlistx_new ();
    if (s_data_table (self) || s_load_effective (self, err, errlen)) {
        cw_cluster_destroy (&self);
        return NULL;
    }
    self->this_peer = s_find_self (self, &self->effective);
    self->is_primary = self->this_peer > 0 && self->this_peer == self->effective.primary;
    self->in_sync = self->is_primary;
    for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++)
        self->peers[i].view.rtt_ms = -1;
    if (self->is_primary) {
        int64_t seq = cw_replog_applied_seq (self->replog);
        for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++)
            self->peers[i].sent_seq = self->peers[i].acked_seq = -1;
        (void) seq;
    }
    cw_config_store_on_replicate (store, s_on_replicate, self);
    s_start_links (self);
    self->timer_id = zloop_timer (self->loop, CW_HEARTBEAT_MS, 0, s_on_tick, self);
    s_publish_summary (self);           //  before READY: `status` has it from the start
    s_evaluate_alarms (self);           //  asks the alarms actor what is active
    return self;
}

void
cw_cluster_destroy (cw_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_cluster_t *self = *self_p;
    if (self->timer_id)
        zloop_timer_end (self->loop, self->timer_id);
    cw_peerlink_destroy (&self->links);
    if (self->calls) {
        for (cw_peer_call_t *call = zlistx_first (self->calls); call; call = zlistx_next (self->calls))
            free (call);
        zlistx_destroy (&self->calls);
    }
    if (self->waiters) {
        for (s_waiter_t *w = zlistx_first (self->waiters); w; w = zlistx_next (self->waiters)) {
            json_decref (w->body);
            free (w);
        }
        zlistx_destroy (&self->waiters);
    }
    if (self->sync_waiters) {
        for (s_waiter_t *w = zlistx_first (self->sync_waiters); w; w = zlistx_next (self->sync_waiters)) {
            json_decref (w->body);
            free (w);
        }
        zlistx_destroy (&self->sync_waiters);
    }
    if (self->peer_commands) {
        for (void *t = zlistx_first (self->peer_commands); t; t = zlistx_next (self->peer_commands))
            free (t);
        zlistx_destroy (&self->peer_commands);
    }
    free (self);
    *self_p = NULL;
}
