/*  core.c - the cluster core (see core.h, layer.h and cluster.h): the peer
    table, liveness and heartbeats, peer calls and their answers, the one
    deadline list, the view of the cluster and cluster.status, and the
    retained STATE the node's other actors read (cluster.summary for
    causewayd's status, cluster.peers for any actor that needs to know the
    peers), published on the tick when it changed.

    Everything runs in the actor's zloop: one 250 ms timer (cw_cluster_tick)
    applies live settings, sends heartbeats, expires deadlines and runs the
    modules' tick hooks; the transport's callbacks deliver heartbeats,
    requests and replies. A REQUEST goes to the module that registered its
    "op" (layer.h); "control" goes to the peer command tables (core.h).
    The core knows nothing of replication, data or procedures: what it
    needs from them arrives through the hooks. Before a link comes up the
    transport asks the core about the certificate the peer presented, and
    the core asks its pinned certificates (pinning.h; cluster.trust_peer).
*/
#include "layer.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>
#include "cluster_alarms.h"
#include "cw_text.h"
#include "effective.h"
#include "pinning.h"

#define S_HOOKS_MAX 8

//  What the core knows of one peer.
typedef struct {
    cw_peer_view_t view;         //  what we know (heartbeat contents, link state)
    int64_t last_heard;          //  zclock_mono of the last heartbeat, 0 never
    int64_t echo_t;              //  its "t_us" in the last heartbeat it sent us
    int64_t echo_received;       //  our zclock_usecs when that arrived
    int64_t restarting_since;    //  it announced a restart (0 = no)
    bool link_up;                //  our outbound link to it is up
} cw_peer_state_t;

struct _cw_cluster_t {
    cw_actor_t *actor;
    cw_config_store_t *store;
    cw_replog_t *replog;
    const cw_bootstrap_t *boot;
    zloop_t *loop;
    int timer_id;
    char boot_id [64];
    cw_cluster_settings_t effective;
    int this_peer;    //  1..6, 0 = not in the list
    bool is_primary;
    char links_error [512];    //  why the peer links could not start ("" = fine)
    cw_peerlink_t *links;      //  the peerlink behind the transport (NULL in tests)
    cw_peer_state_t peers [CW_CLUSTER_MAX_PEERS];
    const cw_transport_t *transport;
    void *link;               //  the transport's instance, NULL when not started
    cw_pinning_t *pinning;    //  the peers' pinned certificates
    bool stopping;
    bool factory_reset_done;    //  performed at this start
    uint64_t next_id;           //  correlation ids and deadline ids
    zlistx_t *deadlines;        //  s_deadline_t
    zlistx_t *peer_ops;         //  s_table_t of cw_peer_op_t
    zlistx_t *peer_commands;    //  s_table_t of cw_peer_command_t
    cw_cluster_hooks_t hooks [S_HOOKS_MAX];
    int hook_count;
    char mapping_text [2048];    //  last address mapping given to the links
    char summary_text [512];     //  last cluster.summary published
    char *peers_text;            //  last cluster.peers published (NULL none)
    int calls;                   //  this peer's calls, as routing last said
    int calls_capacity;          //  calls this peer can carry (>= 1)
    int64_t calls_said;          //  zclock_mono of cluster.calls.set, 0 never
};

//  One entry of the deadline list: a peer call waiting for its answer
//  (REPLY set), or a plain deadline (EXPIRE set).
typedef struct {
    uint64_t id;
    int64_t deadline;
    int peer;
    cw_peer_reply_fn *reply;
    cw_expire_fn *expire;
    void *arg;
} s_deadline_t;

//  A registered table with its argument.
typedef struct {
    const void *table;
    void *arg;
} s_table_t;

#define S_HOOK_CALL(self, member, ...)                                                                                 \
    for (int h_ = 0; h_ < (self)->hook_count; h_++)                                                                    \
        if ((self)->hooks [h_].member)                                                                                 \
    (self)->hooks [h_].member ((self), __VA_ARGS__, (self)->hooks [h_].arg)

// ---------------------------------------------------------------------------
//  Small helpers

static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
s_clock_synced (void)
{
    struct timex tx;
    memset (&tx, 0, sizeof tx);
    int state = adjtimex (&tx);
    return state != TIME_ERROR && !(tx.status & STA_UNSYNC);
}

//  The 1-minute load average per CPU, capped at 1.
static double
s_cpu_load (void)
{
    double load [1] = { 0 };
    long cpus = sysconf (_SC_NPROCESSORS_ONLN);
    if (getloadavg (load, 1) < 1 || cpus < 1)
        return 0;
    double value = load [0] / (double) cpus;
    return value > 1 ? 1 : value;
}

//  This peer's calls as the routing actor last said (cluster.calls.set),
//  0 when it never said or has been silent for CW_CLUSTER_CALLS_STALE_MS.
static int
s_own_calls (cw_cluster_t *self)
{
    if (!self->calls_said || zclock_mono () - self->calls_said > CW_CLUSTER_CALLS_STALE_MS)
        return 0;
    return self->calls;
}

//  The load: the CPU's, or the share of the call capacity in use when
//  that is higher (a peer full of calls is loaded even when its CPU is
//  idle); 0..1.
static double
s_load (cw_cluster_t *self)
{
    double load = s_cpu_load ();
    int calls = s_own_calls (self);
    if (calls > 0 && self->calls_capacity > 0) {
        double share = (double) calls / (double) self->calls_capacity;
        if (share > load)
            load = share;
    }
    return load > 1 ? 1 : load;
}

void
cw_cluster_run_blocking (cw_cluster_t *self, void *(*fn) (void *), void *arg)
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

//  The address mapping as "fqdn=ip;" text, to see when it changed.
static void
s_mapping_text (const cw_mapping_t *mapping, char *text, size_t size)
{
    text [0] = 0;
    for (int i = 0; i < mapping->count; i++) {
        size_t used = strlen (text);
        snprintf (text + used, size - used, "%s=%s;", mapping->items [i].fqdn, mapping->items [i].ip);
    }
}

//  The peer table of the settings in effect, for the links.
static void
s_link_peers (cw_cluster_t *self, const cw_mapping_t *mapping, cw_peerlink_peers_t *peers)
{
    memset (peers, 0, sizeof *peers);
    peers->self_index = self->this_peer;
    for (int i = 0; i < self->effective.peer_count; i++)
        peers->address [i] = self->effective.peers [i];
    peers->mapping = mapping->items;
    peers->mapping_count = (size_t) mapping->count;
    peers->ip_version = self->effective.ip_version;
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
    cw_peer_state_t *peer = &self->peers [index - 1];
    return peer->last_heard && zclock_mono () - peer->last_heard <= CW_DEAD_AFTER_MS;
}

static void
s_own_view (cw_cluster_t *self, cw_peer_view_t *v)
{
    v->is_self = true;
    v->alive = true;
    v->ever_seen = true;
    v->rtt_ms = 0;
    cw_copy (v->version, sizeof v->version, CW_VERSION);
    cw_copy (v->type, sizeof v->type, self->boot->node.type);
    cw_config_store_text (self->store, "system.name", v->system_name, sizeof v->system_name);
    cw_config_store_text (self->store, "dns.domain", v->dns_domain, sizeof v->dns_domain);
    cw_config_store_text (self->store, "dns.hostname", v->dns_hostname, sizeof v->dns_hostname);
    cw_copy (v->cluster_name, sizeof v->cluster_name, self->effective.name);
    v->primary = self->effective.primary;
    v->ip_version = self->effective.ip_version;
    cw_copy (v->tls_verify, sizeof v->tls_verify, self->effective.tls_verify);
    cw_cluster_peers_digest (&self->effective, v->peers_digest);
    v->maintenance = cw_config_store_on (self->store, "maintenance.mode");
    v->h323_mode = cw_config_store_on (self->store, "h323.mode");
    v->calls = s_own_calls (self);
    v->load = s_load (self);
    v->applied_seq = cw_replog_applied_seq (self->replog);
    cw_replog_cluster_id (self->replog, v->cluster_id, sizeof v->cluster_id);
    v->joining = false;
    v->restarting = self->stopping;
    v->upgrading = false;
    v->clock_synced = s_clock_synced ();
    v->certificate [0] = 0;
    S_HOOK_CALL (self, own_view, v);
}

//  The link state of peer V->index as the transport reports it.
static void
s_link_view (cw_cluster_t *self, cw_peer_view_t *v)
{
    cw_peerlink_peer_status_t status;
    if (!self->link || v->is_self || self->transport->peer_status (self->link, v->index, &status) != 0)
        return;
    cw_copy (v->certificate, sizeof v->certificate, status.certificate);
    const char *reason = status.outbound.last_error;
    if (!status.outbound.up && *reason && !v->alive) {
        if (strstr (reason, "certificate") || strstr (reason, "TLS") || strstr (reason, "SAN")
            || strstr (reason, "resolves") || strstr (reason, "rejected")) {
            v->tls_failing = true;
            cw_copy (v->tls_error, sizeof v->tls_error, reason);
        }
        else if (strstr (reason, "refused") || strstr (reason, "timed out") || strstr (reason, "unreachable")
                 || strstr (reason, "connect")) {
            v->tcp_failing = true;
            cw_copy (v->tcp_error, sizeof v->tcp_error, reason);
        }
    }
    if (*status.certificate && strcmp (status.certificate, "ok") != 0
        && strcmp (status.certificate, "not verified (permissive)") != 0) {
        v->tls_failing = true;
        cw_copy (v->tls_error, sizeof v->tls_error, status.certificate);
    }
}

//  VIEW's peers[i] from what we know of peer i+1.
static void
s_peer_view (cw_cluster_t *self, cw_cluster_view_t *view, int i, const cw_mapping_t *mapping)
{
    cw_peer_state_t *peer = &self->peers [i];
    cw_peer_view_t *v = &view->peers [i];
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
    cw_copy (v->address, sizeof v->address, self->effective.peers [i]);
    char via [256];
    if (cw_peerlink_resolve (v->address, mapping->items, (size_t) mapping->count, self->effective.ip_version, v->ip,
                             sizeof v->ip, via, sizeof via)
        != 0) {
        v->ip [0] = 0;
        cw_copy (v->resolve_error, sizeof v->resolve_error, via);
    }
    s_link_view (self, v);
    if (!v->is_self && v->alive && strcmp (v->version, CW_VERSION) != 0)
        view->replication_paused = true;
    if (*self->links_error && !v->is_self) {
        //  The links could not start at all: every peer is unreachable for it
        v->tls_failing = true;
        cw_copy (v->tls_error, sizeof v->tls_error, self->links_error);
    }
}

void
cw_cluster_view (cw_cluster_t *self, cw_cluster_view_t *view)
{
    memset (view, 0, sizeof *view);
    view->effective = self->effective;
    cw_settings_stored (self->store, &view->stored);
    cw_copy (view->peering_address, sizeof view->peering_address, self->boot->peering.address);
    view->this_peer = self->this_peer;
    view->clustered = self->effective.peer_count > 0;
    view->is_primary = self->is_primary;
    cw_copy (view->node_type, sizeof view->node_type, self->boot->node.type);
    cw_copy (view->version, sizeof view->version, CW_VERSION);
    view->h323_mode = cw_config_store_on (self->store, "h323.mode");
    view->clock_synced = s_clock_synced ();
    json_t *list = cw_config_store_get (self->store, "ntp.servers");
    view->ntp_configured = json_array_size (list) > 0;
    json_decref (list);
    list = cw_config_store_get (self->store, "dns.servers");
    view->dns_server_count = (int) json_array_size (list);
    json_decref (list);
    view->factory_reset_pending = self->effective.peer_count > 0 && view->stored.peer_count == 0;
    struct stat st;
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", self->boot->node.state_dir, CW_REPLOG_CLUSTER_DB_FILE);
    if (stat (path, &st) != 0) {
        view->database_missing = true;
        snprintf (view->database_error, sizeof view->database_error, "%.180s: %.60s", path, strerror (errno));
    }
    view->applied_seq = cw_replog_applied_seq (self->replog);
    cw_replog_cluster_id (self->replog, view->cluster_id, sizeof view->cluster_id);
    view->in_sync = self->is_primary;
    view->address_mapping_enabled = cw_config_store_on (self->store, "cluster.address_mapping.enabled");
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    view->mapping_count = mapping.count < CW_CLUSTER_MAX_PEERS ? mapping.count : CW_CLUSTER_MAX_PEERS;
    memcpy (view->mappings, mapping.texts, sizeof view->mappings);
    mapping.count = view->mapping_count;
    for (int i = 0; i < self->effective.peer_count; i++)
        s_peer_view (self, view, i, &mapping);
    S_HOOK_CALL (self, view, view);
}

// ---------------------------------------------------------------------------
//  The deadline list

static s_deadline_t *
s_deadline_add (cw_cluster_t *self, uint64_t id, int timeout_ms, void *arg)
{
    s_deadline_t *entry = calloc (1, sizeof *entry);
    entry->id = id;
    entry->deadline = zclock_mono () + timeout_ms;
    entry->arg = arg;
    zlistx_add_end (self->deadlines, entry);
    return entry;
}

uint64_t
cw_cluster_deadline (cw_cluster_t *self, int timeout_ms, cw_expire_fn *fn, void *arg)
{
    uint64_t id = self->next_id++;
    s_deadline_add (self, id, timeout_ms, arg)->expire = fn;
    return id;
}

//  Take the entry ID (of PEER when a peer call) off the list: the caller
//  owns it. NULL when not there.
static s_deadline_t *
s_deadline_take (cw_cluster_t *self, uint64_t id, int peer)
{
    for (s_deadline_t *entry = zlistx_first (self->deadlines); entry; entry = zlistx_next (self->deadlines))
        if (entry->id == id && entry->peer == peer) {
            zlistx_delete (self->deadlines, zlistx_cursor (self->deadlines));
            return entry;
        }
    return NULL;
}

void
cw_cluster_deadline_cancel (cw_cluster_t *self, uint64_t id)
{
    free (s_deadline_take (self, id, 0));
}

//  Everything whose deadline passed: a peer call gets a timeout answer,
//  a plain deadline its callback.
static void
s_expire (cw_cluster_t *self)
{
    int64_t now = zclock_mono ();
    s_deadline_t *entry = zlistx_first (self->deadlines);
    while (entry) {
        if (entry->deadline > now) {
            entry = zlistx_next (self->deadlines);
            continue;
        }
        zlistx_delete (self->deadlines, zlistx_cursor (self->deadlines));
        if (entry->reply) {
            json_t *body = cw_error_body ("peer %d did not answer in time", entry->peer);
            entry->reply (self, entry->peer, false, body, NULL, 0, entry->arg);
            json_decref (body);
        }
        else
            entry->expire (self, entry->arg);
        free (entry);
        entry = zlistx_first (self->deadlines);
    }
}

// ---------------------------------------------------------------------------
//  Answers and peer calls

void
cw_cluster_answer_bare (cw_cluster_t *self, const cw_reply_target_t *target, json_t *body)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (self->link)
        self->transport->reply (self->link, target->link_id, CW_FRAME_REPLY, target->corr, text, NULL, 0);
    free (text);
}

void
cw_cluster_answer (cw_cluster_t *self, const cw_reply_target_t *target, bool ok, json_t *body)
{
    if (!body)
        body = json_object ();
    if (target->remote)
        cw_cluster_answer_bare (self, target, json_pack ("{s:b, s:o}", "ok", ok, "body", body));
    else
        cw_actor_reply (self->actor, target->to, target->corr, ok, body);
}

int
cw_cluster_peer_call (cw_cluster_t *self, int peer, json_t *args, const void *blob, size_t blob_len,
                      cw_peer_reply_fn *cb, void *arg, int timeout_ms)
{
    if (self->stopping) {
        json_decref (args);
        return -1;
    }
    char *text = json_dumps (args, JSON_COMPACT);
    json_decref (args);
    uint64_t corr = self->next_id++;
    int rc = self->link ? self->transport->send (self->link, peer, CW_FRAME_REQUEST, corr, text, blob, blob_len) : -1;
    free (text);
    if (rc != 0)
        return -1;
    if (cb) {
        s_deadline_t *entry = s_deadline_add (self, corr, timeout_ms > 0 ? timeout_ms : CW_PEER_CALL_TIMEOUT_MS, arg);
        entry->peer = peer;
        entry->reply = cb;
    }
    return 0;
}

static void
s_on_peer_reply (cw_cluster_t *self, int peer, uint64_t corr, json_t *json, const uint8_t *blob, size_t blob_len)
{
    s_deadline_t *call = s_deadline_take (self, corr, peer);
    if (!call || !call->reply) {
        free (call);
        return;
    }
    //  Generic replies are {"ok", "body"}; replication replies are bare
    json_t *ok = json_object_get (json, "ok");
    if (json_is_boolean (ok))
        call->reply (self, peer, json_is_true (ok), json_object_get (json, "body"), blob, blob_len, call->arg);
    else
        call->reply (self, peer, true, json, blob, blob_len, call->arg);
    free (call);
}

//  Answer of a local actor to a relayed request.
static void
s_on_relay_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_reply_target_t *target = arg;
    cw_cluster_t *self = *(cw_cluster_t **) (target + 1);
    cw_cluster_answer (self, target, ok, json_incref (body));
    free (target);
}

void
cw_cluster_relay (cw_cluster_t *self, const char *actor, const char *command, json_t *args,
                  const cw_reply_target_t *target)
{
    //  The target and self travel together as the callback argument
    cw_reply_target_t *copy = malloc (sizeof *copy + sizeof (cw_cluster_t *));
    *copy = *target;
    *(cw_cluster_t **) (copy + 1) = self;
    cw_actor_request (self->actor, actor, command, json_incref (args ? args : json_object ()), s_on_relay_reply, copy,
                      CW_PEER_CALL_TIMEOUT_MS);
}

// ---------------------------------------------------------------------------
//  Heartbeats

static json_t *
s_heartbeat_json (cw_cluster_t *self, int to_peer)
{
    cw_peer_view_t v;
    memset (&v, 0, sizeof v);
    s_own_view (self, &v);
    cw_peer_state_t *peer = &self->peers [to_peer - 1];
    int64_t now = zclock_usecs ();
    json_t *hb = json_pack ("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:s, s:b, s:b, s:f,"
                            " s:I, s:I, s:I, s:I, s:I, s:s, s:b, s:b, s:b, s:b}",
                            "index", self->this_peer, "version", v.version, "type", v.type, "system_name",
                            v.system_name, "dns_domain", v.dns_domain, "dns_hostname", v.dns_hostname, "cluster_name",
                            v.cluster_name, "primary", v.primary, "ip_version", v.ip_version, "tls_verify",
                            v.tls_verify, "peers_digest", v.peers_digest, "maintenance", v.maintenance, "h323_mode",
                            v.h323_mode, "load", v.load, "wall_ms", (json_int_t) s_wall_ms (), "t_us", (json_int_t) now,
                            "echo_t_us", (json_int_t) peer->echo_t, "echo_hold_us",
                            (json_int_t) (peer->echo_t ? now - peer->echo_received : 0), "applied_seq",
                            (json_int_t) v.applied_seq, "cluster_id", v.cluster_id, "joining", v.joining, "restarting",
                            v.restarting, "upgrading", v.upgrading, "clock_synced", v.clock_synced);
    json_object_set_new (hb, "calls", json_integer (v.calls));
    S_HOOK_CALL (self, heartbeat_out, to_peer, hb);
    return hb;
}

void
cw_cluster_send_heartbeats (cw_cluster_t *self)
{
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer || !self->peers [i].link_up)
            continue;
        json_t *json = s_heartbeat_json (self, i + 1);
        char *text = json_dumps (json, JSON_COMPACT);
        json_decref (json);
        self->transport->send (self->link, i + 1, CW_FRAME_HEARTBEAT, 0, text, NULL, 0);
        free (text);
    }
}

//  Round trip: our "t_us" comes back as "echo_t_us" after the peer held it
//  "echo_hold_us" (both on our monotonic clock / its own).
static void
s_heartbeat_timing (cw_peer_state_t *peer, json_t *json)
{
    cw_peer_view_t *v = &peer->view;
    int64_t now_us = zclock_usecs ();
    peer->echo_t = json_integer_value (json_object_get (json, "t_us"));
    peer->echo_received = now_us;
    int64_t echo_t = json_integer_value (json_object_get (json, "echo_t_us"));
    if (echo_t > 0) {
        double rtt = (double) (now_us - echo_t - json_integer_value (json_object_get (json, "echo_hold_us"))) / 1000.0;
        v->rtt_ms = rtt < 0 ? 0 : rtt;
        v->clock_offset_ms = json_integer_value (json_object_get (json, "wall_ms"))
                           - (s_wall_ms () - (int64_t) (v->rtt_ms / 2));
    }
}

static void
s_on_heartbeat (cw_cluster_t *self, int index, json_t *json)
{
    cw_peer_state_t *peer = &self->peers [index - 1];
    cw_peer_view_t *v = &peer->view;
    int64_t now = zclock_mono ();
    bool was_alive = cw_cluster_peer_alive (self, index);
    peer->last_heard = now;
    s_heartbeat_timing (peer, json);
    cw_copy (v->version, sizeof v->version, cw_jtext (json, "version"));
    cw_copy (v->type, sizeof v->type, cw_jtext (json, "type"));
    cw_copy (v->system_name, sizeof v->system_name, cw_jtext (json, "system_name"));
    cw_copy (v->dns_domain, sizeof v->dns_domain, cw_jtext (json, "dns_domain"));
    cw_copy (v->dns_hostname, sizeof v->dns_hostname, cw_jtext (json, "dns_hostname"));
    cw_copy (v->cluster_name, sizeof v->cluster_name, cw_jtext (json, "cluster_name"));
    v->primary = (int) json_integer_value (json_object_get (json, "primary"));
    v->ip_version = (int) json_integer_value (json_object_get (json, "ip_version"));
    cw_copy (v->tls_verify, sizeof v->tls_verify, cw_jtext (json, "tls_verify"));
    cw_copy (v->peers_digest, sizeof v->peers_digest, cw_jtext (json, "peers_digest"));
    v->maintenance = json_is_true (json_object_get (json, "maintenance"));
    v->h323_mode = json_is_true (json_object_get (json, "h323_mode"));
    v->load = json_number_value (json_object_get (json, "load"));
    json_int_t calls = json_integer_value (json_object_get (json, "calls"));
    v->calls = calls < 0 ? 0 : calls > INT_MAX ? INT_MAX : (int) calls;
    v->applied_seq = json_integer_value (json_object_get (json, "applied_seq"));
    cw_copy (v->cluster_id, sizeof v->cluster_id, cw_jtext (json, "cluster_id"));
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
        cw_info ("cluster: peer %d (%s) is alive system_name=%s", index, self->effective.peers [index - 1],
                 v->system_name);
    S_HOOK_CALL (self, heartbeat_in, index, json);
}

// ---------------------------------------------------------------------------
//  Incoming requests from peers

static int
s_table_add (zlistx_t *list, const void *table, void *arg)
{
    s_table_t *entry = calloc (1, sizeof *entry);
    if (!entry)
        return -1;
    entry->table = table;
    entry->arg = arg;
    zlistx_add_end (list, entry);
    return 0;
}

int
cw_cluster_peer_commands (cw_cluster_t *self, const cw_peer_command_t *table, void *arg)
{
    return s_table_add (self->peer_commands, table, arg);
}

int
cw_cluster_peer_ops (cw_cluster_t *self, const cw_peer_op_t *table, void *arg)
{
    return s_table_add (self->peer_ops, table, arg);
}

//  The "control" operation: a peer administration command from a table.
static void
s_on_control (cw_cluster_t *self, json_t *json, const cw_reply_target_t *target)
{
    const char *command = cw_jtext (json, "command");
    json_t *args = json_object_get (json, "args");
    for (s_table_t *t = zlistx_first (self->peer_commands); t; t = zlistx_next (self->peer_commands))
        for (const cw_peer_command_t *c = t->table; c->name; c++)
            if (strcmp (c->name, command) == 0) {
                c->handler (self, json_is_object (args) ? args : NULL, target, t->arg);
                return;
            }
    cw_cluster_answer (self, target, false, cw_error_body ("unknown peer command '%s'", command));
}

static void
s_on_peer_request (cw_cluster_t *self, int peer, uint64_t link_id, uint64_t corr, json_t *json, const uint8_t *blob,
                   size_t blob_len)
{
    cw_reply_target_t target = { .remote = true, .corr = corr, .link_id = link_id };
    const char *op = cw_jtext (json, "op");
    if (strcmp (op, "control") == 0) {
        s_on_control (self, json, &target);
        return;
    }
    for (s_table_t *t = zlistx_first (self->peer_ops); t; t = zlistx_next (self->peer_ops))
        for (const cw_peer_op_t *o = t->table; o->name; o++)
            if (strcmp (o->name, op) == 0) {
                o->handler (self, peer, json, blob, blob_len, &target, t->arg);
                return;
            }
    cw_cluster_answer_bare (self, &target, json_pack ("{s:s, s:s}", "status", "error", "error", "unknown operation"));
}

// ---------------------------------------------------------------------------
//  Transport callbacks and the links

static void
s_on_message (cw_peerlink_t *links, int peer, uint64_t link_id, cw_peerlink_dir_t dir, uint8_t type, uint64_t corr,
              const char *json_text, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
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
    else if (type == CW_FRAME_REQUEST)
        s_on_peer_request (self, peer, link_id, corr, json, blob, blob_len);
    else if (type == CW_FRAME_REPLY)
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
    const char *way = dir == CW_PEERLINK_OUTBOUND ? "to" : "from";
    if (up)
        cw_info ("cluster: link %s peer=%d up", way, peer);
    else
        cw_info ("cluster: link %s peer=%d down reason=\"%s\"", way, peer, reason);
    if (dir != CW_PEERLINK_OUTBOUND)
        return;
    self->peers [peer - 1].link_up = up;
    S_HOOK_CALL (self, link, peer, up);
    if (up)
        cw_cluster_send_heartbeats (self);    //  liveness and sync start now
}

//  The links' question: may peer PEER link with this certificate?
static int
s_on_certificate (cw_peerlink_t *links, int peer, cw_peerlink_dir_t dir, const char *fingerprint, bool verified,
                  char *reason, size_t size, void *arg)
{
    (void) links;
    (void) dir;
    cw_cluster_t *self = arg;
    if (peer < 1 || peer > self->effective.peer_count) {
        snprintf (reason, size, "peer %d is not in the peer list", peer);
        return -1;
    }
    return cw_pinning_check (self->pinning, peer, self->effective.peers [peer - 1], fingerprint, verified, reason,
                             size);
}

static void
s_update_links (cw_cluster_t *self, bool force)
{
    if (!self->link)
        return;
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    char text [2048];
    s_mapping_text (&mapping, text, sizeof text);
    if (!force && strcmp (text, self->mapping_text) == 0)
        return;
    cw_copy (self->mapping_text, sizeof self->mapping_text, text);
    cw_peerlink_peers_t peers;
    s_link_peers (self, &mapping, &peers);
    char err [256];
    if (self->transport->update_peers (self->link, &peers, err, sizeof err))
        cw_warn ("cluster: cannot update the peer links: %s", err);
}

static void
s_start_links (cw_cluster_t *self)
{
    self->links_error [0] = 0;
    cw_pinning_retain (self->pinning, self->effective.peers, self->effective.peer_count);
    if (self->effective.peer_count == 0)
        return;
    if (!*self->boot->peering.address) {
        snprintf (self->links_error, sizeof self->links_error, "peering.address is not set in the bootstrap file %s",
                  self->boot->file);
        return;
    }
    if (self->this_peer == 0)
        return;    //  not in the list (an alarm says so); no links
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    cw_peerlink_config_t cfg;
    memset (&cfg, 0, sizeof cfg);
    cfg.listen_address = self->boot->peering.address;
    cfg.port = (uint16_t) self->boot->peering.port;
    cfg.certificate = self->boot->peering.certificate;
    cfg.private_key = self->boot->peering.private_key;
    cfg.ca_file = self->boot->peering.ca_file;
    cfg.verify = strcmp (self->effective.tls_verify, "enforce") == 0 ? CW_PEERLINK_ENFORCE : CW_PEERLINK_PERMISSIVE;
    s_link_peers (self, &mapping, &cfg.peers);
    cfg.on_message = s_on_message;
    cfg.on_link = s_on_link;
    cfg.on_certificate = s_on_certificate;
    cfg.arg = self;
    self->link = self->transport->start (self->loop, &cfg, self->links_error, sizeof self->links_error);
    if (!self->link) {
        cw_error ("cluster: cannot start the peer links: %s", self->links_error);
        return;
    }
    self->links = self->transport->peerlink (self->link);
    s_mapping_text (&mapping, self->mapping_text, sizeof self->mapping_text);
    cw_info ("cluster: peer links started address=%s port=%d this_peer=%d primary=%d tls=%s", cfg.listen_address,
             cfg.port, self->this_peer, self->effective.primary, self->effective.tls_verify);
}

bool
cw_cluster_applies_live (cw_cluster_t *self, const cw_cluster_settings_t *s)
{
    const cw_cluster_settings_t *eff = &self->effective;
    if (eff->peer_count == 0 || self->this_peer == 0 || s->peer_count == 0 || s->ip_version != eff->ip_version
        || strcasecmp (s->name, eff->name) != 0 || strcmp (s->tls_verify, eff->tls_verify) != 0)
        return false;
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    int own = cw_settings_own_index (s, self->boot->peering.address, &mapping);
    return own == self->this_peer || (own > 0 && cw_settings_only_removed (eff, s));
}

//  The peer table for the settings NOW that replace OLD: a peer keeps
//  what we know of it (liveness, its last heartbeat, an announced
//  restart) when its slot moved; a new address starts unknown. The links
//  of a slot whose address changed, and every link when this node's own
//  slot moved (SELF_MOVED), are closed by the links and made again.
static void
s_remap_peers (cw_cluster_t *self, const cw_cluster_settings_t *old, const cw_cluster_settings_t *now, bool self_moved)
{
    cw_peer_state_t before [CW_CLUSTER_MAX_PEERS];
    memcpy (before, self->peers, sizeof before);
    for (int j = 0; j < CW_CLUSTER_MAX_PEERS; j++) {
        cw_peer_state_t *peer = &self->peers [j];
        memset (peer, 0, sizeof *peer);
        peer->view.rtt_ms = -1;
        if (j >= now->peer_count || !*now->peers [j])
            continue;
        for (int i = 0; i < old->peer_count; i++)
            if (strcmp (old->peers [i], now->peers [j]) == 0) {
                *peer = before [i];
                if (i != j || self_moved)
                    peer->link_up = false;
                break;
            }
    }
}

//  As in the guide, a peer that is already in the cluster applies a saved
//  peer list or primary index at once, and so does a peer whose own slot
//  moved because slots before it were removed (the guide's removal of a
//  peer: the renumbered peers carry on without a restart). Joining or
//  leaving the cluster, any other change of this peer's own slot, of the
//  cluster name, the IP version or the TLS mode wait for `causeway
//  restart` (alarms 20007 / 20020 / 20036).
static void
s_apply_live_settings (cw_cluster_t *self)
{
    cw_cluster_settings_t stored;
    cw_settings_stored (self->store, &stored);
    if (cw_cluster_settings_equal (&self->effective, &stored, false) || !cw_cluster_applies_live (self, &stored))
        return;
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    int own = cw_settings_own_index (&stored, self->boot->peering.address, &mapping);
    cw_cluster_settings_t old = self->effective;
    int old_peer = self->this_peer;
    self->effective = stored;
    self->this_peer = own;
    s_remap_peers (self, &old, &stored, own != old_peer);
    bool was_primary = self->is_primary;
    self->is_primary = self->this_peer == stored.primary;
    S_HOOK_CALL (self, settings, &old, was_primary);
    cw_effective_save (self->store, self->boot_id, &self->effective);
    cw_pinning_retain (self->pinning, self->effective.peers, self->effective.peer_count);
    s_update_links (self, true);
    cw_info ("cluster: clustering settings applied live peers=%d primary=%d this_peer=%d (was %d) name=%s",
             stored.peer_count, stored.primary, self->this_peer, old_peer, stored.name);
}

// ---------------------------------------------------------------------------
//  cluster.status and the summary

static const char *
s_database_status (cw_cluster_t *self, const cw_cluster_view_t *view)
{
    if (view->database_missing || view->sync_failed)
        return "failed";
    if (!view->clustered || self->this_peer == 0)
        return view->clustered ? "failed" : "active";
    if (view->replication_conflict)
        return "conflict";
    if (self->is_primary)
        return "active";
    if (!cw_cluster_peer_alive (self, self->effective.primary))
        return "primary unreachable";
    return view->in_sync ? "active" : "syncing";
}

//  The retained STATE cluster.peers: the peers in effect as this node
//  sees them, for the other actors of the node (see layer.h).
static json_t *
s_peers_json (cw_cluster_t *self, const cw_cluster_view_t *view)
{
    json_t *peers = json_array ();
    for (int i = 0; i < self->effective.peer_count; i++) {
        const cw_peer_view_t *v = &view->peers [i];
        if (!*self->effective.peers [i])
            continue;    //  an empty slot is no peer
        json_array_append_new (peers, json_pack ("{s:i, s:s, s:s, s:b, s:b}", "peer", i + 1, "address",
                                                 self->effective.peers [i], "system_name", v->system_name, "alive",
                                                 v->is_self || v->alive, "self", v->is_self));
    }
    char system_name [64];
    cw_config_store_text (self->store, "system.name", system_name, sizeof system_name);
    int primary = self->effective.peer_count > 0 ? self->effective.primary : 0;    //  0: none
    return json_pack ("{s:i, s:i, s:b, s:s, s:o}", "this_peer", self->this_peer, "primary", primary, "is_primary",
                      self->is_primary, "system_name", system_name, "peers", peers);
}

static void
s_publish_peers (cw_cluster_t *self, const cw_cluster_view_t *view)
{
    json_t *peers = s_peers_json (self, view);
    char *text = peers ? json_dumps (peers, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text && (!self->peers_text || strcmp (text, self->peers_text) != 0)) {
        free (self->peers_text);
        self->peers_text = text;
        text = NULL;
        cw_actor_publish (self->actor, "cluster.peers", json_incref (peers), true);
    }
    free (text);
    json_decref (peers);
}

void
cw_cluster_publish_summary (cw_cluster_t *self)
{
    cw_cluster_view_t view;
    cw_cluster_view (self, &view);
    s_publish_peers (self, &view);
    json_t *summary = json_pack ("{s:b, s:b, s:i, s:i, s:i, s:b, s:s}", "factory_reset_pending",
                                 view.factory_reset_pending, "clustered", self->effective.peer_count > 0, "peers",
                                 self->effective.peer_count, "primary", self->effective.primary, "this_peer",
                                 self->this_peer, "is_primary", self->is_primary, "database",
                                 s_database_status (self, &view));
    char *text = json_dumps (summary, JSON_COMPACT | JSON_SORT_KEYS);
    if (text && strcmp (text, self->summary_text) != 0) {
        cw_copy (self->summary_text, sizeof self->summary_text, text);
        cw_actor_publish (self->actor, "cluster.summary", json_incref (summary), true);
    }
    free (text);
    json_decref (summary);
}

static json_t *
s_status_peer (const cw_peer_view_t *v, int64_t primary_seq)
{
    const char *state = v->is_self                                         ? "this-system"
                      : v->restarting                                      ? "restarting"
                      : v->alive                                           ? "active"
                      : (v->ever_seen || v->tcp_failing || v->tls_failing) ? "failed"
                                                                           : "unknown";
    json_t *peer = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "index", v->index, "address", v->address, "system_name",
                              v->system_name, "state", state, "certificate",
                              v->is_self ? "this system" : v->certificate);
    json_object_set_new (peer, "rtt_ms", v->is_self || !v->alive ? json_null () : json_real (v->rtt_ms));
    json_object_set_new (peer, "applied_seq", v->alive ? json_integer (v->applied_seq) : json_null ());
    json_object_set_new (peer, "lag",
                         v->alive ? json_integer (primary_seq > v->applied_seq ? primary_seq - v->applied_seq : 0)
                                  : json_null ());
    json_object_set_new (peer, "version", json_string (v->version));
    json_object_set_new (peer, "type", json_string (v->type));
    json_object_set_new (peer, "maintenance", json_boolean (v->maintenance));
    json_object_set_new (peer, "ip", json_string (v->ip));
    json_object_set_new (peer, "load", json_real (v->load));
    json_object_set_new (peer, "calls", json_integer (v->calls));
    if (*v->tls_error || *v->tcp_error)
        json_object_set_new (peer, "error", json_string (*v->tls_error ? v->tls_error : v->tcp_error));
    return peer;
}

//  The pinned certificate of the peer at ADDRESS in its status PEER:
//  "pinned_fingerprint" (null until it first linked), and
//  "refused_fingerprint" while a changed certificate waits for
//  `cluster trust-peer`.
static void
s_status_pin (cw_cluster_t *self, json_t *peer, const char *address)
{
    const char *pinned = cw_pinning_pinned (self->pinning, address);
    const char *refused = cw_pinning_refused (self->pinning, address);
    json_object_set_new (peer, "pinned_fingerprint", *pinned ? json_string (pinned) : json_null ());
    if (*refused)
        json_object_set_new (peer, "refused_fingerprint", json_string (refused));
}

json_t *
cw_cluster_status (cw_cluster_t *self)
{
    cw_cluster_view_t view;
    cw_cluster_view (self, &view);
    json_t *mapping = json_array ();
    for (int i = 0; i < view.mapping_count; i++) {
        char entry [520];
        snprintf (entry, sizeof entry, "%s=%s", view.mappings [i][0], view.mappings [i][1]);
        json_array_append_new (mapping, json_string (entry));
    }
    int64_t primary_seq = view.applied_seq;
    if (!self->is_primary && self->effective.primary >= 1 && self->effective.primary <= view.effective.peer_count
        && cw_cluster_peer_alive (self, self->effective.primary))
        primary_seq = view.peers [self->effective.primary - 1].applied_seq;
    json_t *peers = json_array ();
    for (int i = 0; i < view.effective.peer_count; i++) {
        json_t *peer = s_status_peer (&view.peers [i], primary_seq);
        if (!view.peers [i].is_self)
            s_status_pin (self, peer, view.effective.peers [i]);
        json_array_append_new (peers, peer);
    }
    json_t *status = json_pack ("{s:s, s:i, s:i, s:i, s:s, s:o, s:s, s:b, s:o}", "name", view.effective.name, "primary",
                                view.effective.primary, "this_peer", view.this_peer, "ip_version",
                                view.effective.ip_version, "tls_verify", view.effective.tls_verify, "address_mapping",
                                mapping, "database", s_database_status (self, &view), "factory_reset_pending",
                                view.factory_reset_pending, "peers", peers);
    json_object_set_new (status, "address_mapping_enabled", json_boolean (view.address_mapping_enabled));
    json_object_set_new (status, "applied_seq", json_integer (view.applied_seq));
    json_object_set_new (status, "restart_required",
                         json_boolean (!cw_cluster_settings_equal (&view.effective, &view.stored, false)));
    json_object_set_new (status, "factory_reset_done", json_boolean (self->factory_reset_done));
    if (*self->links_error)
        json_object_set_new (status, "links_error", json_string (self->links_error));
    if (self->link) {
        cw_peerlink_stats_t stats;
        self->transport->stats (self->link, &stats);
        json_object_set_new (status, "links",
                             json_pack ("{s:I, s:I, s:I, s:I}", "rejected_connections",
                                        (json_int_t) stats.rejected_connections, "malformed_frames",
                                        (json_int_t) stats.malformed_frames, "handshake_failures",
                                        (json_int_t) stats.handshake_failures, "accepted_connections",
                                        (json_int_t) stats.accepted_connections));
    }
    return status;
}

static cw_reply_status_t
s_cmd_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    *reply = cw_cluster_status ((cw_cluster_t *) arg);
    return CW_REPLY_OK;
}

//  cluster.trust_peer {"peer": N}: accept the certificate peer N was
//  refused for (pinning.h).
static cw_reply_status_t
s_cmd_trust_peer (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_cluster_t *self = arg;
    json_t *jpeer = json_object_get (args, "peer");
    json_int_t n = json_is_integer (jpeer) ? json_integer_value (jpeer) : 0;
    if (self->effective.peer_count == 0) {
        *reply = cw_error_body ("this system is not in a cluster");
        return CW_REPLY_ERROR;
    }
    if (n < 1 || n > self->effective.peer_count || !*self->effective.peers [n - 1]) {
        *reply = cw_error_body ("'peer' must be the index of a peer in the list (1..%d)", self->effective.peer_count);
        return CW_REPLY_ERROR;
    }
    if (n == self->this_peer) {
        *reply = cw_error_body ("peer %d is this system", (int) n);
        return CW_REPLY_ERROR;
    }
    const char *address = self->effective.peers [n - 1];
    char fingerprint [CW_PINNING_FINGERPRINT], previous [CW_PINNING_FINGERPRINT], err [512];
    if (cw_pinning_trust (self->pinning, (int) n, address, fingerprint, previous, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    char message [512];
    snprintf (message, sizeof message,
              "peer %d (%.256s): certificate SHA-256 %s accepted in place of %s; the links come up at the next "
              "attempt",
              (int) n, address, fingerprint, previous);
    *reply = json_pack ("{s:i, s:s, s:s, s:s, s:s}", "peer", (int) n, "address", address, "pinned_fingerprint",
                        fingerprint, "previous_fingerprint", previous, "message", message);
    return CW_REPLY_OK;
}

//  cluster.calls.set {"calls": N, "capacity": C}: this peer carries N
//  calls of the C it can (the routing actor says so when the count
//  changes, and again now and then).
static cw_reply_status_t
s_cmd_calls_set (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_cluster_t *self = arg;
    json_t *jcalls = json_object_get (args, "calls");
    json_t *jcapacity = json_object_get (args, "capacity");
    if (!json_is_integer (jcalls) || json_integer_value (jcalls) < 0 || json_integer_value (jcalls) > INT_MAX) {
        *reply = cw_error_body ("'calls' must be a whole number >= 0");
        return CW_REPLY_ERROR;
    }
    if (!json_is_integer (jcapacity) || json_integer_value (jcapacity) < 1
        || json_integer_value (jcapacity) > INT_MAX) {
        *reply = cw_error_body ("'capacity' must be a whole number >= 1");
        return CW_REPLY_ERROR;
    }
    self->calls = (int) json_integer_value (jcalls);
    self->calls_capacity = (int) json_integer_value (jcapacity);
    self->calls_said = zclock_mono ();
    *reply = json_pack ("{s:i, s:i, s:f}", "calls", self->calls, "capacity", self->calls_capacity, "load",
                        s_load (self));
    return CW_REPLY_OK;
}

const cw_command_t cw_cluster_commands [] = {
    { "cluster.status", s_cmd_status, CW_CMD_IDEMPOTENT, "the cluster as this peer sees it" },
    { "cluster.calls.set", s_cmd_calls_set, CW_CMD_IDEMPOTENT,
      "the calls this peer carries and its capacity (heartbeats' calls and load)" },
    { "cluster.trust_peer", s_cmd_trust_peer, 0,
      "accept the certificate a peer now presents in place of its pinned one" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  The tick

void
cw_cluster_tick (cw_cluster_t *self)
{
    s_apply_live_settings (self);
    s_update_links (self, false);
    cw_cluster_send_heartbeats (self);
    s_expire (self);
    cw_pinning_tick (self->pinning);
    for (int h = 0; h < self->hook_count; h++)
        if (self->hooks [h].tick)
            self->hooks [h].tick (self, self->hooks [h].arg);
    cw_cluster_publish_summary (self);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_cluster_tick ((cw_cluster_t *) arg);
    return 0;
}

int
cw_cluster_hooks (cw_cluster_t *self, const cw_cluster_hooks_t *hooks)
{
    if (self->hook_count >= S_HOOKS_MAX)
        return -1;
    self->hooks [self->hook_count++] = *hooks;
    return 0;
}

void
cw_cluster_hooks_remove (cw_cluster_t *self, void *arg)
{
    int kept = 0;
    for (int h = 0; h < self->hook_count; h++)
        if (self->hooks [h].arg != arg)
            self->hooks [kept++] = self->hooks [h];
    self->hook_count = kept;
}

// ---------------------------------------------------------------------------
//  The core's API for the modules above it (core.h)

cw_actor_t *
cw_cluster_actor (cw_cluster_t *self)
{
    return self->actor;
}
const cw_bootstrap_t *
cw_cluster_boot (cw_cluster_t *self)
{
    return self->boot;
}
cw_config_store_t *
cw_cluster_store (cw_cluster_t *self)
{
    return self->store;
}
cw_replog_t *
cw_cluster_replog (cw_cluster_t *self)
{
    return self->replog;
}
zloop_t *
cw_cluster_loop (cw_cluster_t *self)
{
    return self->loop;
}
const char *
cw_cluster_boot_id (cw_cluster_t *self)
{
    return self->boot_id;
}
const cw_cluster_settings_t *
cw_cluster_effective (cw_cluster_t *self)
{
    return &self->effective;
}
int
cw_cluster_this_peer (cw_cluster_t *self)
{
    return self->this_peer;
}
bool
cw_cluster_is_primary (cw_cluster_t *self)
{
    return self->is_primary;
}

bool
cw_cluster_peer_heard (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS && self->peers [index - 1].last_heard != 0;
}

bool
cw_cluster_peer_link_up (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS && self->peers [index - 1].link_up;
}

bool
cw_cluster_peer_restarting (cw_cluster_t *self, int index)
{
    if (index < 1 || index > CW_CLUSTER_MAX_PEERS)
        return false;
    int64_t since = self->peers [index - 1].restarting_since;
    return since && zclock_mono () - since < CW_RESTARTING_GRACE_MS;
}

const cw_peer_view_t *
cw_cluster_peer_view (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= CW_CLUSTER_MAX_PEERS ? &self->peers [index - 1].view : NULL;
}

int
cw_cluster_sender (cw_cluster_t *self, const cw_reply_target_t *target)
{
    if (!target->remote || !self->link)
        return 0;
    for (int i = 1; i <= self->effective.peer_count; i++) {
        cw_peerlink_peer_status_t status;
        if (self->transport->peer_status (self->link, i, &status) == 0
            && (status.inbound.link_id == target->link_id || status.outbound.link_id == target->link_id))
            return i;
    }
    return 0;
}

void
cw_cluster_request_restart (cw_cluster_t *self)
{
    cw_actor_request (self->actor, "", "restart", json_object (), NULL, NULL, 0);
}

typedef struct {
    cw_replog_t *replog;
    int rc;
    char err [512];
} s_reset_job_t;

static void *
s_reset_worker (void *arg)
{
    s_reset_job_t *job = arg;
    job->rc = cw_replog_reset (job->replog, job->err, sizeof job->err);
    return NULL;
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
    s_reset_job_t job = { .replog = self->replog };
    cw_cluster_run_blocking (self, s_reset_worker, &job);
    if (job.rc) {
        cw_copy (err, errlen, job.err);
        return -1;
    }
    for (int h = 0; h < self->hook_count; h++)
        if (self->hooks [h].discarded)
            self->hooks [h].discarded (self, self->hooks [h].arg);
    cw_config_store_announce_scope (self->store, CW_SCOPE_CLUSTER);
    cw_warn ("cluster: ForceConfigUpdate: cluster-wide configuration discarded; taking the primary's");
    return 0;
}

// ---------------------------------------------------------------------------
//  Life cycle

void
cw_cluster_announce_stop (cw_cluster_t *self)
{
    self->stopping = true;
    cw_cluster_send_heartbeats (self);
    //  Peer calls still waiting get their answer now, while the modules
    //  that made them are alive: the owner of each callback argument frees it.
    s_deadline_t *entry = zlistx_first (self->deadlines);
    while (entry) {
        if (!entry->reply) {
            entry = zlistx_next (self->deadlines);
            continue;
        }
        zlistx_delete (self->deadlines, zlistx_cursor (self->deadlines));
        json_t *body = cw_error_body ("the replication actor on this peer is stopping");
        entry->reply (self, entry->peer, false, body, NULL, 0, entry->arg);
        json_decref (body);
        free (entry);
        entry = zlistx_first (self->deadlines);
    }
    //  So do requests relayed from peers to this peer's actors
    cw_actor_fail_requests (self->actor, s_on_relay_reply, "the replication actor on this peer is stopping");
}

cw_cluster_t *
cw_cluster_new_on (cw_actor_t *actor, cw_config_store_t *store, const cw_transport_t *transport, char *err,
                   size_t errlen)
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
    self->transport = transport;
    self->next_id = 1;
    self->deadlines = zlistx_new ();
    self->peer_ops = zlistx_new ();
    self->peer_commands = zlistx_new ();
    if (cw_effective_load (store, self->boot, self->boot_id, &self->effective, &self->factory_reset_done, err,
                           errlen)) {
        cw_cluster_destroy (&self);
        return NULL;
    }
    self->pinning = cw_pinning_new (actor, cw_config_store_db (store), err, errlen);
    if (!self->pinning) {
        cw_cluster_destroy (&self);
        return NULL;
    }
    cw_mapping_t mapping;
    cw_settings_mapping (store, &mapping);
    self->this_peer = cw_settings_own_index (&self->effective, self->boot->peering.address, &mapping);
    self->is_primary = self->this_peer > 0 && self->this_peer == self->effective.primary;
    for (int i = 0; i < CW_CLUSTER_MAX_PEERS; i++)
        self->peers [i].view.rtt_ms = -1;
    s_start_links (self);
    self->timer_id = zloop_timer (self->loop, CW_HEARTBEAT_MS, 0, s_on_timer, self);
    return self;
}

cw_cluster_t *
cw_cluster_new (cw_actor_t *actor, cw_config_store_t *store, char *err, size_t errlen)
{
    return cw_cluster_new_on (actor, store, &cw_transport_peerlink, err, errlen);
}

void
cw_cluster_destroy (cw_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_cluster_t *self = *self_p;
    if (self->timer_id)
        zloop_timer_end (self->loop, self->timer_id);
    if (self->link)
        self->transport->stop (&self->link);
    cw_pinning_destroy (&self->pinning);
    zlistx_t *lists [] = { self->deadlines, self->peer_ops, self->peer_commands };
    for (size_t l = 0; l < sizeof lists / sizeof lists [0]; l++) {
        for (void *entry = zlistx_first (lists [l]); entry; entry = zlistx_next (lists [l]))
            free (entry);
        zlistx_destroy (&lists [l]);
    }
    free (self->peers_text);
    free (self);
    *self_p = NULL;
}
