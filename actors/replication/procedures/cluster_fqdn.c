/*  cluster_fqdn.c - the FQDN and TLS procedures of the guide, run as one
    command on the configuration primary, and the configuration diff.

    Commands (cw_cluster_fqdn_procedure, from cluster_procedures.c):
      cluster.suggest_mappings {apply?}
          -> {"mappings": ["fqdn=ip", ...], "missing": [{index, address,
             reason, fix}], "applied"?}. Each peer's FQDN is its
             dns.hostname + "." + dns.domain (this peer: its configuration;
             the others: their heartbeats), its IP the address its slot
             resolves to. apply (primary only, nothing missing) sets
             cluster.address_mapping and cluster.address_mapping.enabled=on
             (cluster scope: replicated).
      cluster.use_fqdns {}  (primary) the guide's "move a cluster from IP
             addresses to FQDNs": one peer address at a time, on every
             peer, restarting that peer, waiting for it, the primary last.
      cluster.enforce_tls {} (primary) every peer address must be an FQDN,
             every peer alive and its certificate chain to its CAs (and to
             ours) with a SAN naming its FQDN; then each subordinate in
             turn gets cluster.tls_verify=enforce and restarts, the
             primary last.
          Both answer at once with the plan ({"plan", "started": true,
          "message"}) and run in the background (a 250 ms timer);
          cluster.use_fqdns_status / cluster.enforce_tls_status give the
          progress {"procedure", "state": idle|running|done|failed, "step",
          "steps": [...], "log": [...], "error"}. The outcome of the last
          run is kept in config.db (table cluster_procedure_status), so it
          is still there after the primary's own restart ("finished_at").
          While one runs, or the primary restarts to finish one, a new one
          is refused.
      cluster.diff {a?, b?}  config.list of two peers compared key by key
          -> {"a": {index, address, system_name}, "b": {...},
             "differences": [{key, scope, a, b, expected}], "same": N}.
             a defaults to this peer, b to the primary (the next peer when
             a is the primary). Peer-scope keys that differ by design
             (system.name, dns.hostname, ...) are "expected": true.

    Peer control commands (cw_cluster_fqdn_control, from
    cluster_procedures.c's cw_cluster_procedure_control):
      cluster.cert_check {fqdn}  -> {"ok", "reason", "names", "certificate"}
          this peer's peering.certificate checked against its own
          peering.ca_file and against FQDN (X509_check_host).
      cluster.fqdn_probe {}      -> {"boot_id", "peers", "tls_verify",
          "this_peer"}: the settings in effect and the id of this start,
          so the primary sees that a peer restarted and took a change.

    The procedures push settings with the control command
    cluster.apply_settings {peers?, tls_verify?, restart} (implemented in
    cluster_procedures.c).
*/
#include "cw_text.h"
#include "cluster_internal.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_TICK_MS 250
#define S_PROBE_EVERY_MS 500
#define S_CALL_MS 2500              //  a peer call (the control relay waits 2x request_timeout)
#define S_RESTART_MS 90000          //  a peer restarts and takes its change
#define S_ALIVE_MS 60000            //  ... and is alive and in sync again
#define S_SETTLE_MS 30000           //  every peer alive before a step starts
#define S_LOG_MAX 200

// ---------------------------------------------------------------------------
//  Small helpers

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
    cw_copy (buf, size, json_string_value (value));
    json_decref (value);
    return buf;
}

static const char *
s_address (cw_cluster_t *self, int index)
{
    return index >= 1 && index <= self->effective.peer_count ? self->effective.peers[index - 1] : "?";
}

//  The address mapping in effect (as cluster.c reads it): "fqdn=ip"
//  entries when cluster.address_mapping.enabled is on.
typedef struct {
    cw_peerlink_mapping_t items[12];
    char texts[12][2][256];
    int count;
} s_mapping_t;

static void
s_mapping_load (cw_cluster_t *self, s_mapping_t *mapping)
{
    memset (mapping, 0, sizeof *mapping);
    char enabled[16];
    if (strcmp (s_value_text (self, "cluster.address_mapping.enabled", enabled, sizeof enabled), "on") != 0)
        return;
    json_t *list = s_value (self, "cluster.address_mapping");
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        const char *text = json_string_value (item);
        const char *equals = text ? strchr (text, '=') : NULL;
        if (!equals || mapping->count >= 12)
            continue;
        int n = mapping->count++;
        snprintf (mapping->texts[n][0], 256, "%.*s", (int) (equals - text), text);
        cw_copy (mapping->texts[n][1], 256, equals + 1);
        mapping->items[n].fqdn = mapping->texts[n][0];
        mapping->items[n].ip = mapping->texts[n][1];
    }
    json_decref (list);
}

//  Resolve ADDRESS the way the peer links do. 0 or -1 (reason in VIA).
static int
s_resolve (cw_cluster_t *self, const s_mapping_t *mapping, const char *address, char *ip, size_t iplen,
           char *via, size_t vialen)
{
    return cw_peerlink_resolve (address, mapping->items, (size_t) mapping->count,
                                self->effective.ip_version, ip, iplen, via, vialen);
}

//  The IP peer INDEX clusters on: what its slot resolves to (this peer:
//  its peering address when the slot does not resolve).
static int
s_peer_ip (cw_cluster_t *self, const s_mapping_t *mapping, int index, char *ip, size_t iplen,
           char *why, size_t whylen)
{
    char via[256];
    if (s_resolve (self, mapping, s_address (self, index), ip, iplen, via, sizeof via) == 0)
        return 0;
    if (index == self->this_peer && *self->boot->peering.address) {
        cw_copy (ip, iplen, self->boot->peering.address);
        return 0;
    }
    snprintf (why, whylen, "peer %d's address: %.200s", index, via);
    return -1;
}

//  The FQDN peer INDEX reports (dns.hostname.dns.domain). 0, or -1 with
//  the reason and the fix.
static int
s_peer_fqdn (cw_cluster_t *self, int index, char *fqdn, size_t size, char *why, size_t whylen,
             char *fix, size_t fixlen)
{
    char hostname[256] = "", domain[256] = "";
    const char *address = s_address (self, index);
    if (index == self->this_peer) {
        s_value_text (self, "dns.hostname", hostname, sizeof hostname);
        s_value_text (self, "dns.domain", domain, sizeof domain);
    }
    else {
        cw_peer_state_t *peer = &self->peers[index - 1];
        if (!peer->last_heard) {
            snprintf (why, whylen, "peer %d (%s) has not been heard from since this node started", index, address);
            snprintf (fix, fixlen, "start peer %d (%s) and check `causeway cluster status`", index, address);
            return -1;
        }
        cw_copy (hostname, sizeof hostname, peer->view.dns_hostname);
        cw_copy (domain, sizeof domain, peer->view.dns_domain);
    }
    if (!*hostname || !*domain) {
        const char *key = !*hostname ? "dns.hostname" : "dns.domain";
        snprintf (why, whylen, "peer %d (%s) has no %s", index, address, key);
        snprintf (fix, fixlen, "on peer %d (%s): causeway config set %s %s", index, address, key,
                  !*hostname ? "NAME" : "DOMAIN");
        return -1;
    }
    snprintf (fqdn, size, "%s.%s", hostname, domain);
    for (char *p = fqdn; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char) (*p - 'A' + 'a');
    return 0;
}

static bool
s_is_ip (const char *address)
{
    char canon[64];
    return cw_valid_ip (address, canon);
}

//  Why every peer is not alive and settled (with JOINING: in sync with
//  the primary too), or "" when they are.
static void
s_not_settled (cw_cluster_t *self, bool joining, char *why, size_t size)
{
    why[0] = 0;
    for (int i = 1; i <= self->effective.peer_count; i++) {
        if (i == self->this_peer)
            continue;
        cw_peer_view_t *v = &self->peers[i - 1].view;
        const char *what = !cw_cluster_peer_alive (self, i) ? "not alive"
                         : v->restarting ? "restarting"
                         : v->joining && joining ? "joining (not yet in sync with the primary)" : NULL;
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i, s_address (self, i), what);
            return;
        }
    }
}

static json_t *
s_primary_only (cw_cluster_t *self, const char *command)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0)
        return cw_error_body ("%s: this system is not in a cluster", command);
    if (!self->is_primary)
        return cw_error_body ("%s runs on the configuration primary, peer %d (%s); this is peer %d",
                              command, self->effective.primary, s_address (self, self->effective.primary),
                              self->this_peer);
    return NULL;
}

// ---------------------------------------------------------------------------
//  Certificates

//  The DNS names of CERT's SAN (else its CN), comma-separated, into BUF.
static void
s_cert_names (X509 *cert, char *buf, size_t size, json_t *names)
{
    buf[0] = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i (cert, NID_subject_alt_name, NULL, NULL);
    int count = sans ? sk_GENERAL_NAME_num (sans) : 0;
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value (sans, i);
        if (name->type != GEN_DNS)
            continue;
        const unsigned char *data = ASN1_STRING_get0_data (name->d.dNSName);
        int len = ASN1_STRING_length (name->d.dNSName);
        size_t used = strlen (buf);
        snprintf (buf + used, size - used, "%s%.*s", used ? ", " : "", len, (const char *) data);
        if (names)
            json_array_append_new (names, json_stringn ((const char *) data, (size_t) len));
    }
    GENERAL_NAMES_free (sans);
    if (!*buf) {
        char cn[256] = "";
        X509_NAME_get_text_by_NID (X509_get_subject_name (cert), NID_commonName, cn, sizeof cn);
        if (*cn) {
            snprintf (buf, size, "CN %s", cn);
            if (names)
                json_array_append_new (names, json_string (cn));
        }
    }
}

//  Verify CERT (with CHAIN, may be NULL) against the CAs in CA_FILE.
static int
s_verify_chain (X509 *cert, STACK_OF (X509) *chain, const char *ca_file, char *reason, size_t size)
{
    if (!ca_file || !*ca_file) {
        snprintf (reason, size, "peering.ca_file is not set: no trusted CA to verify the certificate");
        return -1;
    }
    X509_STORE *store = X509_STORE_new ();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
    int rc = -1;
    if (!store || !ctx)
        snprintf (reason, size, "out of memory");
    else
    if (X509_STORE_load_file (store, ca_file) != 1) {
        unsigned long e = ERR_get_error ();
        snprintf (reason, size, "cannot load the trusted CAs from %s: %s", ca_file,
                  e ? ERR_reason_error_string (e) : "no certificate in it");
    }
    else
    if (X509_STORE_CTX_init (ctx, store, cert, chain) != 1)
        snprintf (reason, size, "cannot set up the certificate check");
    else
    if (X509_verify_cert (ctx) != 1)
        snprintf (reason, size, "certificate does not chain to the trusted CAs (%s): %s", ca_file,
                  X509_verify_cert_error_string (X509_STORE_CTX_get_error (ctx)));
    else
        rc = 0;
    X509_STORE_CTX_free (ctx);
    X509_STORE_free (store);
    ERR_clear_error ();
    return rc;
}

//  Check the certificate (chain) in PEM text or the file CERT_FILE
//  against CA_FILE and FQDN. Returns a new {"ok", "reason", "names",
//  "certificate" (the PEM of the leaf, when WITH_PEM)}.
static json_t *
s_cert_check (const char *cert_file, const char *pem, const char *ca_file, const char *fqdn, bool with_pem)
{
    char reason[512] = "";
    json_t *names = json_array ();
    char *leaf_pem = NULL;
    BIO *bio = pem ? BIO_new_mem_buf (pem, -1) : BIO_new_file (cert_file, "r");
    X509 *cert = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
    STACK_OF (X509) *chain = sk_X509_new_null ();
    if (!cert) {
        if (pem)
            snprintf (reason, sizeof reason, "no certificate in what the peer sent");
        else
        if (!cert_file || !*cert_file)
            snprintf (reason, sizeof reason, "peering.certificate is not set in the bootstrap file");
        else
            snprintf (reason, sizeof reason, "cannot read a PEM certificate from %s", cert_file);
    }
    else {
        X509 *extra;
        while (chain && (extra = PEM_read_bio_X509 (bio, NULL, NULL, NULL)) != NULL)
            sk_X509_push (chain, extra);
        char shown[512];
        s_cert_names (cert, shown, sizeof shown, names);
        if (s_verify_chain (cert, chain, ca_file, reason, sizeof reason) == 0
        &&  (!fqdn || !*fqdn || X509_check_host (cert, fqdn, 0, 0, NULL) != 1)) {
            if (!fqdn || !*fqdn)
                snprintf (reason, sizeof reason, "no FQDN to check the certificate against");
            else
                snprintf (reason, sizeof reason, "certificate SAN does not contain %.200s (it names: %.200s)", fqdn,
                          *shown ? shown : "nothing");
        }
        if (with_pem) {
            BIO *out = BIO_new (BIO_s_mem ());
            if (out && PEM_write_bio_X509 (out, cert) == 1) {
                char *data = NULL;
                long len = BIO_get_mem_data (out, &data);
                leaf_pem = strndup (data, (size_t) len);
            }
            BIO_free (out);
        }
    }
    ERR_clear_error ();
    sk_X509_pop_free (chain, X509_free);
    X509_free (cert);
    BIO_free (bio);
    json_t *result = json_pack ("{s:b, s:s, s:o}", "ok", *reason == 0, "reason", *reason ? reason : "ok",
                                "names", names);
    if (leaf_pem)
        json_object_set_new (result, "certificate", json_string (leaf_pem));
    free (leaf_pem);
    return result;
}

// ---------------------------------------------------------------------------
//  cluster.suggest_mappings

static json_t *
s_suggest (cw_cluster_t *self, json_t **missing_p)
{
    s_mapping_t mapping;
    s_mapping_load (self, &mapping);
    json_t *mappings = json_array ();
    json_t *missing = json_array ();
    for (int i = 1; i <= self->effective.peer_count; i++) {
        char fqdn[520], ip[64], why[512] = "", fix[512] = "";
        if (s_peer_fqdn (self, i, fqdn, sizeof fqdn, why, sizeof why, fix, sizeof fix) == 0
        &&  s_peer_ip (self, &mapping, i, ip, sizeof ip, why, sizeof why) == 0) {
            char entry[600];
            snprintf (entry, sizeof entry, "%s=%s", fqdn, ip);
            json_array_append_new (mappings, json_string (entry));
            continue;
        }
        if (!*fix)
            snprintf (fix, sizeof fix, "fix peer %d's address in cluster.peers", i);
        json_array_append_new (missing, json_pack ("{s:i, s:s, s:s, s:s}", "index", i,
                                                   "address", s_address (self, i), "reason", why, "fix", fix));
    }
    *missing_p = missing;
    return mappings;
}

static cw_reply_status_t
s_suggest_mappings (cw_cluster_t *self, json_t *args, json_t **reply)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0) {
        *reply = cw_error_body ("cluster.suggest_mappings: this system is not in a cluster");
        return CW_REPLY_ERROR;
    }
    bool apply = json_is_true (json_object_get (args, "apply"));
    if (apply && (*reply = s_primary_only (self, "cluster suggest-mappings --apply")) != NULL)
        return CW_REPLY_ERROR;
    json_t *missing = NULL;
    json_t *mappings = s_suggest (self, &missing);
    char message[2048] = "";
    size_t i;
    json_t *item;
    json_array_foreach (missing, i, item) {
        size_t used = strlen (message);
        snprintf (message + used, sizeof message - used, "%sno mapping: %s; fix: %s", used ? "\n" : "",
                  s_jstr (item, "reason"), s_jstr (item, "fix"));
    }
    if (apply) {
        if (json_array_size (missing) > 0) {
            *reply = cw_error_body ("not applied: %s", message);
            json_object_set_new (*reply, "mappings", mappings);
            json_object_set_new (*reply, "missing", missing);
            return CW_REPLY_ERROR;
        }
        char err[512];
        json_t *on = json_string ("on");
        int rc = cw_cluster_set_key (self, "cluster.address_mapping", mappings, err, sizeof err);
        if (rc == 0)
            rc = cw_cluster_set_key (self, "cluster.address_mapping.enabled", on, err, sizeof err);
        json_decref (on);
        if (rc) {
            json_decref (mappings);
            json_decref (missing);
            *reply = cw_error_body ("cannot set the address mapping: %s", err);
            return CW_REPLY_ERROR;
        }
        cw_info ("cluster: address mapping set from the peers' host names entries=%zu",
                 json_array_size (mappings));
    }
    *reply = json_pack ("{s:o, s:o}", "mappings", mappings, "missing", missing);
    if (apply)
        json_object_set_new (*reply, "applied", json_true ());
    if (*message)
        json_object_set_new (*reply, "message", json_string (message));
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  The rolling procedures (use_fqdns, enforce_tls): one at a time per
//  process, driven by a timer.

typedef enum {
    S_STEP_START = 0,       //  wait until every peer is alive and settled
    S_STEP_PROBE,           //  learn the peer's boot id
    S_STEP_PUSH,            //  cluster.apply_settings to the peers
    S_STEP_LOCAL,           //  the change on this node
    S_STEP_WAIT_RESTART,    //  the peer restarted and took the change
    S_STEP_WAIT_ALIVE       //  ... and is alive and in sync again
} s_phase_t;

typedef struct {
    cw_cluster_t *self;
    char procedure[24];             //  "use_fqdns" | "enforce_tls" ("" = never ran)
    char state[16];                 //  "running" | "done" | "failed"
    char error[768];
    json_t *steps;                  //  [{peer, address, to, state, detail}]
    json_t *log;                    //  ["...", ...]
    int step;                       //  index in steps
    int peer;                       //  the peer of the current step
    s_phase_t phase;
    int64_t deadline;
    int64_t next_probe;
    bool probe_out;
    int calls_out;
    char push_error[512];
    char old_boot[64];
    char list[CW_CLUSTER_MAX_PEERS][256];   //  use_fqdns: the peer list so far
    int count;
    char fqdn[CW_CLUSTER_MAX_PEERS][256];   //  use_fqdns: each peer's FQDN
    int timer_id;
    uintptr_t generation;           //  callbacks of an older run are ignored
} s_run_t;

static s_run_t s_run;
static bool s_restart_requested;     //  this primary restarts to finish a procedure

static bool
s_running (void)
{
    return strcmp (s_run.state, "running") == 0;
}

static void
s_log (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_log (const char *fmt, ...)
{
    char text[768];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    cw_info ("cluster: %s: %s", s_run.procedure, text);
    if (!s_run.log)
        s_run.log = json_array ();
    if (json_array_size (s_run.log) >= S_LOG_MAX)
        json_array_remove (s_run.log, 0);
    char stamp[32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (stamp, sizeof stamp, "%H:%M:%S", &tm);
    char line[820];
    snprintf (line, sizeof line, "%s %s", stamp, text);
    json_array_append_new (s_run.log, json_string (line));
}

static json_t *
s_current_step (void)
{
    return json_array_get (s_run.steps, (size_t) s_run.step);
}

static void
s_step_state (const char *state, const char *detail)
{
    json_t *step = s_current_step ();
    if (!step)
        return;
    json_object_set_new (step, "state", json_string (state));
    json_object_set_new (step, "detail", json_string (detail ? detail : ""));
}

static void s_save_status (cw_cluster_t *self);

static void
s_end (bool ok, const char *error)
{
    cw_cluster_t *self = s_run.self;
    if (s_run.timer_id && self)
        zloop_timer_end (self->loop, s_run.timer_id);
    s_run.timer_id = 0;
    s_run.generation++;
    cw_copy (s_run.state, sizeof s_run.state, ok ? "done" : "failed");
    cw_copy (s_run.error, sizeof s_run.error, error);
    if (ok)
        s_log ("done");
    else {
        s_step_state ("failed", error);
        cw_warn ("cluster: %s failed: %s", s_run.procedure, error);
        s_log ("failed: %s", error);
    }
    if (self)
        s_save_status (self);
}

static void
s_fail (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_fail (const char *fmt, ...)
{
    char text[768];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    s_end (false, text);
}

static json_t *
s_live_status (void)
{
    json_t *status = json_pack ("{s:s, s:s, s:i, s:i, s:O, s:O}", "procedure", s_run.procedure,
                                "state", s_run.state, "step", s_run.step + 1,
                                "steps_total", (int) json_array_size (s_run.steps),
                                "steps", s_run.steps, "log", s_run.log);
    if (*s_run.error)
        json_object_set_new (status, "error", json_string (s_run.error));
    return status;
}

//  The outcome of the last run of each procedure is kept in config.db, so
//  its status survives the restart of the primary that ends it.
static int
s_status_table (sqlite3 *db)
{
    return sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS cluster_procedure_status ("
                             " procedure TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at TEXT)",
                         NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

static void
s_save_status (cw_cluster_t *self)
{
    sqlite3 *db = cw_config_store_db (self->store);
    json_t *status = s_live_status ();
    char *text = json_dumps (status, JSON_COMPACT);
    json_decref (status);
    sqlite3_stmt *stmt = NULL;
    if (s_status_table (db) == 0
    &&  sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO cluster_procedure_status (procedure, status, updated_at)"
                                " VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, s_run.procedure, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) != SQLITE_DONE)
            cw_warn ("cluster: cannot save the status of %s: %s", s_run.procedure, sqlite3_errmsg (db));
    }
    sqlite3_finalize (stmt);
    free (text);
}

static json_t *
s_saved_status (cw_cluster_t *self, const char *procedure)
{
    sqlite3 *db = cw_config_store_db (self->store);
    sqlite3_stmt *stmt = NULL;
    json_t *status = NULL;
    if (s_status_table (db) == 0
    &&  sqlite3_prepare_v2 (db, "SELECT status, updated_at FROM cluster_procedure_status WHERE procedure = ?1",
                            -1, &stmt, NULL) == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, procedure, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_ROW) {
            status = json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, NULL);
            if (json_is_object (status))
                json_object_set_new (status, "finished_at",
                                     json_string ((const char *) sqlite3_column_text (stmt, 1)));
            else {
                json_decref (status);
                status = NULL;
            }
        }
    }
    sqlite3_finalize (stmt);
    return status;
}

static json_t *
s_run_status (cw_cluster_t *self, const char *procedure)
{
    if (strcmp (s_run.procedure, procedure) == 0)
        return s_live_status ();
    json_t *saved = s_saved_status (self, procedure);
    return saved ? saved : json_pack ("{s:s, s:s}", "procedure", procedure, "state", "idle");
}

static json_t *
s_list_json (void)
{
    json_t *list = json_array ();
    for (int i = 0; i < s_run.count; i++)
        json_array_append_new (list, json_string (s_run.list[i]));
    return list;
}

static bool
s_use_fqdns (void)
{
    return strcmp (s_run.procedure, "use_fqdns") == 0;
}

// --- callbacks of the peer calls

static void
s_on_probe (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
            void *arg)
{
    (void) blob;
    (void) blob_len;
    if ((uintptr_t) arg != s_run.generation || !s_running () || peer != s_run.peer)
        return;
    s_run.probe_out = false;
    if (!ok)
        return;         //  asked again on a later tick
    const char *boot = s_jstr (json, "boot_id");
    if (s_run.phase == S_STEP_PROBE) {
        cw_copy (s_run.old_boot, sizeof s_run.old_boot, boot);
        s_run.phase = S_STEP_PUSH;
        return;
    }
    if (s_run.phase != S_STEP_WAIT_RESTART || !*boot || strcmp (boot, s_run.old_boot) == 0)
        return;
    //  A new start of the peer: did it take the change?
    bool taken;
    if (s_use_fqdns ()) {
        json_t *peers = json_object_get (json, "peers");
        const char *address = json_string_value (json_array_get (peers, (size_t) peer - 1));
        taken = address && strcasecmp (address, s_run.fqdn[peer - 1]) == 0;
    }
    else
        taken = strcmp (s_jstr (json, "tls_verify"), "enforce") == 0;
    if (!taken) {
        s_fail ("peer %d (%s) restarted without taking the change (its settings in effect: %s); "
                "check `causeway config get cluster.peers` and `cluster.tls_verify` on it",
                peer, s_address (self, peer),
                s_use_fqdns () ? "an unchanged peer list" : s_jstr (json, "tls_verify"));
        return;
    }
    s_log ("peer %d (%s) restarted with the change", peer, s_address (self, peer));
    s_run.phase = S_STEP_WAIT_ALIVE;
    s_run.deadline = zclock_mono () + S_ALIVE_MS;
}

static void
s_on_pushed (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
             void *arg)
{
    (void) blob;
    (void) blob_len;
    if ((uintptr_t) arg != s_run.generation || !s_running ())
        return;
    s_run.calls_out--;
    if (ok)
        s_log ("peer %d (%s) saved the settings%s", peer, s_address (self, peer),
               peer == s_run.peer ? " and restarts" : "");
    else
    if (peer == s_run.peer)
        //  It may have gone down before its answer: its restart tells
        s_log ("peer %d (%s) did not confirm (%s); waiting for its restart", peer, s_address (self, peer),
               s_jstr (json, "error"));
    else
    if (!*s_run.push_error)
        snprintf (s_run.push_error, sizeof s_run.push_error, "peer %d (%s) did not take the settings: %.300s",
                  peer, s_address (self, peer), s_jstr (json, "error"));
}

// --- the steps

static int
s_send (cw_cluster_t *self, int peer, const char *command, json_t *args, cw_peer_reply_fn *cb)
{
    json_t *call = json_pack ("{s:s, s:s, s:o}", "op", "control", "command", command, "args", args);
    return cw_cluster_peer_call (self, peer, call, NULL, 0, cb, (void *) s_run.generation, S_CALL_MS);
}

static void
s_push (cw_cluster_t *self)
{
    int p = s_run.peer;
    s_run.calls_out = 0;
    s_run.push_error[0] = 0;
    for (int j = 1; j <= self->effective.peer_count; j++) {
        if (j == self->this_peer || (!s_use_fqdns () && j != p))
            continue;
        bool restart = j == p;
        json_t *args = s_use_fqdns ()
                     ? json_pack ("{s:o, s:b}", "peers", s_list_json (), "restart", restart)
                     : json_pack ("{s:s, s:b}", "tls_verify", "enforce", "restart", restart);
        if (s_send (self, j, "cluster.apply_settings", args, s_on_pushed) != 0) {
            s_fail ("cannot reach peer %d (%s) to push the settings; the peers pushed so far already "
                    "saved them: run `causeway cluster use-fqdns` again when it is back", j, s_address (self, j));
            return;
        }
        s_run.calls_out++;
    }
    if (s_use_fqdns ())
        s_log ("peer list %s pushed to the other peers (peer %d restarts)",
               s_run.list[p - 1], p);
    else
        s_log ("cluster.tls_verify=enforce pushed to peer %d (%s), which restarts", p, s_address (self, p));
}

//  This node's own step (the last): save, then restart this node.
static void
s_own_step (cw_cluster_t *self)
{
    char err[512];
    json_t *value = s_use_fqdns () ? s_list_json () : json_string ("enforce");
    int rc = cw_cluster_set_key (self, s_use_fqdns () ? "cluster.peers" : "cluster.tls_verify", value,
                                 err, sizeof err);
    json_decref (value);
    if (rc) {
        s_fail ("cannot save the change on this node: %s", err);
        return;
    }
    s_step_state ("done", "saved; this primary restarted");
    s_log ("saved on this node (peer %d); restarting this primary", self->this_peer);
    s_end (true, "");
    s_restart_requested = true;
    cw_cluster_request_restart (self);
}

static void s_step_list (void);

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_cluster_t *self = arg;
    if (!s_running ())
        return 0;
    int64_t now = zclock_mono ();
    int p = s_run.peer;
    if (!self->is_primary) {
        s_fail ("this node is no longer the configuration primary");
        return 0;
    }
    switch (s_run.phase) {
        case S_STEP_START: {
            char why[512];
            s_not_settled (self, true, why, sizeof why);
            if (*why) {
                if (now > s_run.deadline)
                    s_fail ("before the step of peer %d: %s", p, why);
                return 0;
            }
            s_step_state ("running", "");
            s_step_list ();
            if (p == self->this_peer && !s_use_fqdns ()) {
                s_own_step (self);
                return 0;
            }
            if (p == self->this_peer) {
                s_run.phase = S_STEP_PUSH;
                return 0;
            }
            s_run.phase = S_STEP_PROBE;
            s_run.probe_out = false;
            s_run.deadline = now + S_SETTLE_MS;
        }
        //  fall through
        case S_STEP_PROBE:
            if (now > s_run.deadline) {
                s_fail ("peer %d (%s) does not answer", p, s_address (self, p));
                return 0;
            }
            if (!s_run.probe_out && s_send (self, p, "cluster.fqdn_probe", json_object (), s_on_probe) == 0)
                s_run.probe_out = true;
            return 0;
        case S_STEP_PUSH:
            if (s_run.calls_out == 0 && !*s_run.push_error && s_run.deadline != -1) {
                s_push (self);
                s_run.deadline = -1;        //  pushed: wait for the answers
                return 0;
            }
            if (s_run.calls_out > 0)
                return 0;
            if (*s_run.push_error) {
                s_fail ("%s", s_run.push_error);
                return 0;
            }
            if (p == self->this_peer) {
                s_own_step (self);
                return 0;
            }
            s_run.phase = S_STEP_LOCAL;
        //  fall through
        case S_STEP_LOCAL:
            if (s_use_fqdns ()) {
                char err[512];
                json_t *list = s_list_json ();
                int rc = cw_cluster_set_key (self, "cluster.peers", list, err, sizeof err);
                json_decref (list);
                if (rc) {
                    s_fail ("cannot save the peer list on this node: %s", err);
                    return 0;
                }
                s_log ("peer list saved on this node (applied live)");
            }
            s_run.phase = S_STEP_WAIT_RESTART;
            s_run.deadline = now + S_RESTART_MS;
            s_run.next_probe = now + S_PROBE_EVERY_MS;
            s_run.probe_out = false;
            return 0;
        case S_STEP_WAIT_RESTART:
            if (now > s_run.deadline) {
                s_fail ("peer %d (%s) did not come back with the change within %d s; check it "
                        "(`causeway cluster status` there) and run the command again",
                        p, s_use_fqdns () ? s_run.fqdn[p - 1] : s_address (self, p), S_RESTART_MS / 1000);
                return 0;
            }
            if (!s_run.probe_out && now >= s_run.next_probe) {
                s_run.next_probe = now + S_PROBE_EVERY_MS;
                if (s_send (self, p, "cluster.fqdn_probe", json_object (), s_on_probe) == 0)
                    s_run.probe_out = true;
            }
            return 0;
        case S_STEP_WAIT_ALIVE: {
            char why[512];
            s_not_settled (self, true, why, sizeof why);
            bool applied = !s_use_fqdns () || strcasecmp (self->effective.peers[p - 1], s_run.fqdn[p - 1]) == 0;
            if (*why || !applied) {
                if (now > s_run.deadline)
                    s_fail ("after the restart of peer %d: %s", p, *why ? why : "the new list is not in effect here");
                return 0;
            }
            s_step_state ("done", "");
            s_log ("peer %d (%s) is active again", p, s_address (self, p));
            s_run.step++;
            json_t *next = s_current_step ();
            if (!next) {
                s_end (true, "");
                return 0;
            }
            s_run.peer = (int) json_integer_value (json_object_get (next, "peer"));
            s_run.phase = S_STEP_START;
            s_run.deadline = now + S_SETTLE_MS;
            return 0;
        }
    }
    return 0;
}

//  Start a procedure with STEPS (stolen), in order.
static void
s_start (cw_cluster_t *self, const char *procedure, json_t *steps)
{
    json_decref (s_run.steps);
    json_decref (s_run.log);
    uintptr_t generation = s_run.generation + 1;
    char lists[CW_CLUSTER_MAX_PEERS][256], fqdns[CW_CLUSTER_MAX_PEERS][256];
    memcpy (lists, s_run.list, sizeof lists);
    memcpy (fqdns, s_run.fqdn, sizeof fqdns);
    int count = s_run.count;
    memset (&s_run, 0, sizeof s_run);
    memcpy (s_run.list, lists, sizeof lists);
    memcpy (s_run.fqdn, fqdns, sizeof fqdns);
    s_run.count = count;
    s_run.generation = generation;
    s_run.self = self;
    cw_copy (s_run.procedure, sizeof s_run.procedure, procedure);
    cw_copy (s_run.state, sizeof s_run.state, "running");
    s_run.steps = steps;
    s_run.step = 0;
    s_run.peer = (int) json_integer_value (json_object_get (json_array_get (steps, 0), "peer"));
    s_run.phase = S_STEP_START;
    s_run.deadline = zclock_mono () + S_SETTLE_MS;
    s_run.timer_id = zloop_timer (self->loop, S_TICK_MS, 0, s_tick, self);
    s_log ("started: %zu steps", json_array_size (steps));
}

static json_t *
s_busy (void)
{
    if (s_restart_requested)
        return cw_error_body ("this primary is restarting to finish %s; retry when it is back", s_run.procedure);
    if (!s_running ())
        return NULL;
    return cw_error_body ("%s is running (step %d of %zu); follow it with `cluster.%s_status`",
                          s_run.procedure, s_run.step + 1, json_array_size (s_run.steps), s_run.procedure);
}

//  The step order: every peer in index order, this primary last.
static int
s_order (cw_cluster_t *self, int *order)
{
    int n = 0;
    for (int i = 1; i <= self->effective.peer_count; i++)
        if (i != self->this_peer)
            order[n++] = i;
    order[n++] = self->this_peer;
    return n;
}

// ---------------------------------------------------------------------------
//  cluster.use_fqdns

static cw_reply_status_t
s_use_fqdns_command (cw_cluster_t *self, json_t **reply)
{
    if ((*reply = s_primary_only (self, "cluster use-fqdns")) != NULL || (*reply = s_busy ()) != NULL)
        return CW_REPLY_ERROR;
    int ips = 0;
    for (int i = 1; i <= self->effective.peer_count; i++)
        ips += s_is_ip (s_address (self, i));
    if (ips == 0) {
        *reply = json_pack ("{s:[], s:b, s:s}", "plan", "started", false,
                            "message", "every peer address is already an FQDN");
        return CW_REPLY_OK;
    }
    char why[512];
    s_not_settled (self, false, why, sizeof why);
    if (*why) {
        *reply = cw_error_body ("cluster use-fqdns needs every peer active: %s; retry when `causeway "
                                "cluster status` shows every peer active", why);
        return CW_REPLY_ERROR;
    }
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    if (!cw_cluster_settings_equal (&self->effective, &stored, false)) {
        *reply = cw_error_body ("the clustering settings saved on this node differ from those in effect; "
                                "restart it (`causeway restart`) or restore them before cluster use-fqdns");
        return CW_REPLY_ERROR;
    }
    s_mapping_t mapping;
    s_mapping_load (self, &mapping);
    char problems[3072] = "";
    char fqdns[CW_CLUSTER_MAX_PEERS][256];
    memset (fqdns, 0, sizeof fqdns);
    for (int i = 1; i <= self->effective.peer_count; i++) {
        char fqdn[520], ip[64], want[64], via[256], reason[512] = "", fix[512] = "";
        if (s_peer_fqdn (self, i, fqdn, sizeof fqdn, reason, sizeof reason, fix, sizeof fix) != 0)
            ;
        else
        if (strlen (fqdn) >= sizeof fqdns[0])
            snprintf (reason, sizeof reason, "peer %d's FQDN %.80s... is too long", i, fqdn);
        else
        if (s_peer_ip (self, &mapping, i, want, sizeof want, reason, sizeof reason) != 0)
            snprintf (fix, sizeof fix, "check cluster.peers");
        else
        if (s_resolve (self, &mapping, fqdn, ip, sizeof ip, via, sizeof via) != 0) {
            snprintf (reason, sizeof reason, "peer %d's FQDN: %.300s", i, via);
            snprintf (fix, sizeof fix, "add %.250s=%s to the address mapping (`causeway cluster suggest-mappings "
                      "--apply`) or to DNS", fqdn, want);
        }
        else
        if (strcmp (ip, want) != 0) {
            snprintf (reason, sizeof reason, "peer %d's FQDN %.250s resolves (%.60s) to %s, not to its address %s",
                      i, fqdn, via, ip, want);
            snprintf (fix, sizeof fix, "correct the address mapping or DNS for %.250s", fqdn);
        }
        for (int j = 1; j < i && !*reason; j++)
            if (strcasecmp (fqdns[j - 1], fqdn) == 0) {
                snprintf (reason, sizeof reason, "peers %d and %d have the same FQDN %.250s", j, i, fqdn);
                snprintf (fix, sizeof fix, "give each peer its own dns.hostname");
            }
        if (*reason) {
            size_t used = strlen (problems);
            snprintf (problems + used, sizeof problems - used, "%s%s (fix: %s)", used ? "; " : "", reason, fix);
        }
        else
            cw_copy (fqdns[i - 1], sizeof fqdns[i - 1], fqdn);
    }
    if (*problems) {
        *reply = cw_error_body ("cluster use-fqdns refused: %s", problems);
        return CW_REPLY_ERROR;
    }
    //  The plan: one step per peer whose address is not yet its FQDN
    int order[CW_CLUSTER_MAX_PEERS];
    int n = s_order (self, order);
    json_t *steps = json_array ();
    json_t *plan = json_array ();
    char text[1536] = "";
    for (int k = 0; k < n; k++) {
        int i = order[k];
        if (strcasecmp (self->effective.peers[i - 1], fqdns[i - 1]) == 0)
            continue;
        json_array_append_new (steps, json_pack ("{s:i, s:s, s:s, s:s, s:s}", "peer", i, "address",
                                                 s_address (self, i), "to", fqdns[i - 1], "state", "pending",
                                                 "detail", ""));
        json_array_append_new (plan, json_pack ("{s:i, s:s, s:s, s:b}", "peer", i, "from", s_address (self, i),
                                                "to", fqdns[i - 1], "restart", true));
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "%speer %d %s -> %s", used ? ", " : "", i,
                  s_address (self, i), fqdns[i - 1]);
    }
    if (json_array_size (steps) == 0) {
        json_decref (steps);
        *reply = json_pack ("{s:o, s:b, s:s}", "plan", plan, "started", false,
                            "message", "every peer address is already its FQDN");
        return CW_REPLY_OK;
    }
    for (int i = 0; i < self->effective.peer_count; i++) {
        cw_copy (s_run.list[i], sizeof s_run.list[i], self->effective.peers[i]);
        cw_copy (s_run.fqdn[i], sizeof s_run.fqdn[i], fqdns[i]);
    }
    s_run.count = self->effective.peer_count;
    //  Each step replaces one slot: the list grows step by step
    s_start (self, "use_fqdns", steps);
    char message[2048];
    snprintf (message, sizeof message,
              "moving the peer list to FQDNs, one peer at a time (%s): each peer restarts after its change, "
              "this primary last. Follow it with `causeway cluster status` (and the control command "
              "cluster.use_fqdns_status)", text);
    *reply = json_pack ("{s:o, s:b, s:s}", "plan", plan, "started", true, "message", message);
    return CW_REPLY_OK;
}

//  The list of a use_fqdns step: slot P becomes its FQDN (earlier slots
//  were replaced by earlier steps). Called when a step starts.
static void
s_step_list (void)
{
    if (s_use_fqdns () && s_run.peer >= 1 && s_run.peer <= s_run.count)
        cw_copy (s_run.list[s_run.peer - 1], sizeof s_run.list[0], s_run.fqdn[s_run.peer - 1]);
}

// ---------------------------------------------------------------------------
//  cluster.enforce_tls

typedef struct {
    cw_reply_target_t target;
    json_t *checks;             //  [{peer, address, ok, reason}]
    int waiting;
    uintptr_t generation;
} s_tls_t;

static void
s_tls_add (s_tls_t *tls, int peer, const char *address, bool ok, const char *reason)
{
    json_array_append_new (tls->checks, json_pack ("{s:i, s:s, s:b, s:s}", "peer", peer, "address", address,
                                                   "ok", ok, "reason", reason));
}

static void
s_tls_done (cw_cluster_t *self, s_tls_t *tls)
{
    if (--tls->waiting > 0)
        return;
    char failures[3072] = "";
    size_t i;
    json_t *check;
    json_array_foreach (tls->checks, i, check) {
        if (json_is_true (json_object_get (check, "ok")))
            continue;
        size_t used = strlen (failures);
        snprintf (failures + used, sizeof failures - used, "%speer %d (%s): %s", used ? "; " : "",
                  (int) json_integer_value (json_object_get (check, "peer")), s_jstr (check, "address"),
                  s_jstr (check, "reason"));
    }
    json_t *busy = s_busy ();
    json_t *not_primary = s_primary_only (self, "cluster enforce-tls");
    if (*failures || busy || not_primary) {
        json_t *body;
        if (not_primary) {
            body = not_primary;
            json_decref (busy);
        }
        else
        if (busy)
            body = busy;
        else
            body = cw_error_body ("TLS verification not changed: with enforce these peers would be refused: "
                                  "%s. Give each peer a certificate whose SAN names its address in the "
                                  "peer list, signed by a CA every peer trusts", failures);
        json_object_set_new (body, "checks", tls->checks);
        cw_cluster_answer (self, &tls->target, false, body);
        free (tls);
        return;
    }
    int order[CW_CLUSTER_MAX_PEERS];
    int n = s_order (self, order);
    json_t *steps = json_array ();
    json_t *plan = json_array ();
    for (int k = 0; k < n; k++) {
        int p = order[k];
        json_array_append_new (steps, json_pack ("{s:i, s:s, s:s, s:s, s:s}", "peer", p, "address",
                                                 s_address (self, p), "to", "enforce", "state", "pending",
                                                 "detail", ""));
        json_array_append_new (plan, json_pack ("{s:i, s:s, s:b}", "peer", p, "address", s_address (self, p),
                                                "restart", true));
    }
    s_start (self, "enforce_tls", steps);
    cw_cluster_answer (self, &tls->target, true,
                       json_pack ("{s:o, s:b, s:o, s:s}", "plan", plan, "started", true, "checks", tls->checks,
                                  "message", "every certificate passed; switching TLS verification to enforce "
                                  "one peer at a time (each restarts, this primary last). Follow it with "
                                  "`causeway cluster status` (and the control command "
                                  "cluster.enforce_tls_status)"));
    free (tls);
}

static void
s_on_cert_checked (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                   void *arg)
{
    (void) blob;
    (void) blob_len;
    s_tls_t *tls = arg;
    const char *address = s_address (self, peer);
    if (!ok)
        s_tls_add (tls, peer, address, false, json_object_get (json, "error")
                   ? s_jstr (json, "error") : "the certificate check failed on that peer");
    else
    if (!json_is_true (json_object_get (json, "ok")))
        s_tls_add (tls, peer, address, false, s_jstr (json, "reason"));
    else {
        //  Its certificate must also chain to the CAs this peer trusts
        const char *pem = s_jstr (json, "certificate");
        json_t *here = *pem ? s_cert_check (NULL, pem, self->boot->peering.ca_file, address, false) : NULL;
        if (here && !json_is_true (json_object_get (here, "ok"))) {
            char reason[600];
            snprintf (reason, sizeof reason, "not trusted by the primary: %s", s_jstr (here, "reason"));
            s_tls_add (tls, peer, address, false, reason);
        }
        else
            s_tls_add (tls, peer, address, true, "ok");
        json_decref (here);
    }
    s_tls_done (self, tls);
}

static cw_reply_status_t
s_enforce_tls_command (cw_cluster_t *self, const cw_envelope_t *req, json_t **reply)
{
    if ((*reply = s_primary_only (self, "cluster enforce-tls")) != NULL || (*reply = s_busy ()) != NULL)
        return CW_REPLY_ERROR;
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    if (strcmp (self->effective.tls_verify, "enforce") == 0 && strcmp (stored.tls_verify, "enforce") == 0) {
        *reply = json_pack ("{s:b, s:s}", "started", false, "message", "TLS verification is already enforce");
        return CW_REPLY_OK;
    }
    char ips[1024] = "";
    for (int i = 1; i <= self->effective.peer_count; i++)
        if (s_is_ip (s_address (self, i))) {
            size_t used = strlen (ips);
            snprintf (ips + used, sizeof ips - used, "%speer %d (%s)", used ? ", " : "", i, s_address (self, i));
        }
    if (*ips) {
        *reply = cw_error_body ("TLS verification not changed: enforce needs every peer address to be the FQDN "
                                "in its certificate, and these are IP addresses: %s; run `causeway cluster "
                                "use-fqdns` first", ips);
        return CW_REPLY_ERROR;
    }
    char why[512];
    s_not_settled (self, false, why, sizeof why);
    if (*why) {
        *reply = cw_error_body ("TLS verification not changed: every peer must be active to check its "
                                "certificate, and %s", why);
        return CW_REPLY_ERROR;
    }
    s_tls_t *tls = calloc (1, sizeof *tls);
    tls->target.remote = false;
    tls->target.corr = req->corr;
    cw_copy (tls->target.to, sizeof tls->target.to, req->from);
    tls->checks = json_array ();
    tls->waiting = 1;
    for (int i = 1; i <= self->effective.peer_count; i++) {
        const char *address = s_address (self, i);
        if (i == self->this_peer) {
            json_t *mine = s_cert_check (self->boot->peering.certificate, NULL, self->boot->peering.ca_file,
                                         address, false);
            s_tls_add (tls, i, address, json_is_true (json_object_get (mine, "ok")), s_jstr (mine, "reason"));
            json_decref (mine);
            continue;
        }
        json_t *call = json_pack ("{s:s, s:s, s:{s:s}}", "op", "control", "command", "cluster.cert_check",
                                  "args", "fqdn", address);
        if (cw_cluster_peer_call (self, i, call, NULL, 0, s_on_cert_checked, tls, S_CALL_MS) == 0)
            tls->waiting++;
        else
            s_tls_add (tls, i, address, false, "unreachable: its certificate could not be checked");
    }
    //  Sorted by peer for the reply: the local one was added first; fine
    s_tls_done (self, tls);
    *reply = NULL;
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  cluster.diff

typedef struct {
    cw_reply_target_t target;
    int a, b;
    json_t *list_a, *list_b;
    char error[512];
    int waiting;
    cw_cluster_t *self;
} s_diff_t;

//  Peer-scope keys that must nevertheless match on every peer.
static bool
s_must_match (const char *key)
{
    static const char *const keys[] = { "cluster.name", "cluster.primary", "cluster.ip_version",
                                        "cluster.tls_verify", "cluster.peers", "dns.domain", NULL };
    for (int i = 0; keys[i]; i++)
        if (strcmp (keys[i], key) == 0)
            return true;
    return false;
}

static json_t *
s_diff_side (cw_cluster_t *self, int index)
{
    const char *name = index == self->this_peer ? NULL : self->peers[index - 1].view.system_name;
    char own[64] = "";
    if (!name)
        name = s_value_text (self, "system.name", own, sizeof own);
    return json_pack ("{s:i, s:s, s:s}", "index", index, "address", s_address (self, index),
                      "system_name", name);
}

static void
s_diff_finish (s_diff_t *diff)
{
    cw_cluster_t *self = diff->self;
    if (*diff->error) {
        cw_cluster_answer (self, &diff->target, false, cw_error_body ("%s", diff->error));
        goto done;
    }
    json_t *by_key = json_object ();
    size_t i;
    json_t *entry;
    json_array_foreach (json_object_get (diff->list_b, "config"), i, entry)
        if (*s_jstr (entry, "key"))
            json_object_set (by_key, s_jstr (entry, "key"), entry);
    json_t *differences = json_array ();
    int same = 0;
    json_t *seen = json_object ();
    json_array_foreach (json_object_get (diff->list_a, "config"), i, entry) {
        const char *key = s_jstr (entry, "key");
        if (!*key)
            continue;
        json_object_set_new (seen, key, json_true ());
        json_t *other = json_object_get (by_key, key);
        json_t *va = json_object_get (entry, "value");
        json_t *vb = other ? json_object_get (other, "value") : NULL;
        if (vb && json_equal (va, vb)) {
            same++;
            continue;
        }
        const char *scope = s_jstr (entry, "scope");
        bool expected = strcmp (scope, "peer") == 0 && !s_must_match (key);
        json_array_append_new (differences, json_pack ("{s:s, s:s, s:O, s:O, s:b}", "key", key, "scope", scope,
                                                       "a", va ? va : json_null (), "b", vb ? vb : json_null (),
                                                       "expected", expected));
    }
    const char *key;
    json_t *other;
    json_object_foreach (by_key, key, other) {
        if (json_object_get (seen, key))
            continue;
        json_t *vb = json_object_get (other, "value");
        json_array_append_new (differences, json_pack ("{s:s, s:s, s:n, s:O, s:b}", "key", key, "scope",
                                                       s_jstr (other, "scope"), "a", "b", vb ? vb : json_null (),
                                                       "expected", false));
    }
    json_decref (seen);
    json_decref (by_key);
    int unexpected = 0;
    json_array_foreach (differences, i, entry)
        if (!json_is_true (json_object_get (entry, "expected")))
            unexpected++;
    char message[512];
    snprintf (message, sizeof message, "peer %d (%s) and peer %d (%s): %zu keys differ (%d not expected to), "
              "%d the same", diff->a, s_address (self, diff->a), diff->b, s_address (self, diff->b),
              json_array_size (differences), unexpected, same);
    cw_cluster_answer (self, &diff->target, true,
                       json_pack ("{s:o, s:o, s:o, s:i, s:i, s:s}", "a", s_diff_side (self, diff->a),
                                  "b", s_diff_side (self, diff->b), "differences", differences, "same", same,
                                  "unexpected", unexpected, "message", message));
done:
    json_decref (diff->list_a);
    json_decref (diff->list_b);
    free (diff);
}

static void
s_on_diff_list (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len,
                void *arg)
{
    (void) blob;
    (void) blob_len;
    s_diff_t *diff = arg;
    if (!ok || !json_is_array (json_object_get (json, "config"))) {
        if (!*diff->error)
            snprintf (diff->error, sizeof diff->error, "cannot read the configuration of peer %d (%s): %.300s",
                      peer, s_address (self, peer), ok ? "no list in its answer" : s_jstr (json, "error"));
    }
    else
    if (peer == diff->a && !diff->list_a)
        diff->list_a = json_incref (json);
    else
        diff->list_b = json_incref (json);
    if (--diff->waiting == 0)
        s_diff_finish (diff);
}

//  The peer index named by ARG (index, "N", or an address), 0 when absent,
//  -1 with ERR when it names no peer.
static int
s_peer_arg (cw_cluster_t *self, json_t *arg, char *err, size_t errlen)
{
    if (!arg || json_is_null (arg) || (json_is_string (arg) && !*json_string_value (arg)))
        return 0;
    int count = self->effective.peer_count;
    if (json_is_integer (arg)) {
        json_int_t index = json_integer_value (arg);
        if (index >= 1 && index <= count)
            return (int) index;
        snprintf (err, errlen, "no peer %lld: the peer list has %d peers", (long long) index, count);
        return -1;
    }
    const char *text = json_string_value (arg);
    if (!text) {
        snprintf (err, errlen, "a peer is named by its index or its address");
        return -1;
    }
    if (strlen (text) == 1 && text[0] >= '1' && text[0] <= '6') {
        int index = text[0] - '0';
        if (index <= count)
            return index;
    }
    for (int i = 1; i <= count; i++)
        if (strcasecmp (s_address (self, i), text) == 0)
            return i;
    s_mapping_t mapping;
    s_mapping_load (self, &mapping);
    char ip[64], via[256];
    if (s_resolve (self, &mapping, text, ip, sizeof ip, via, sizeof via) == 0)
        for (int i = 1; i <= count; i++) {
            char other[64];
            if (s_resolve (self, &mapping, s_address (self, i), other, sizeof other, via, sizeof via) == 0
            &&  strcmp (ip, other) == 0)
                return i;
        }
    snprintf (err, errlen, "'%.200s' is not in the peer list", text);
    return -1;
}

static cw_reply_status_t
s_diff_command (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0) {
        *reply = cw_error_body ("cluster diff: this system is not in a cluster");
        return CW_REPLY_ERROR;
    }
    char err[512];
    int a = s_peer_arg (self, json_object_get (args, "a"), err, sizeof err);
    int b = a < 0 ? 0 : s_peer_arg (self, json_object_get (args, "b"), err, sizeof err);
    if (a < 0 || b < 0) {
        *reply = cw_error_body ("cluster diff: %s", err);
        return CW_REPLY_ERROR;
    }
    if (a == 0)
        a = self->this_peer;
    if (b == 0) {
        b = self->effective.primary;
        if (b == a || b < 1 || b > self->effective.peer_count)
            b = a % self->effective.peer_count + 1;
    }
    if (a == b) {
        *reply = cw_error_body ("cluster diff: nothing to compare: A and B are both peer %d%s", a,
                                self->effective.peer_count == 1 ? " (the only peer)" : "");
        return CW_REPLY_ERROR;
    }
    s_diff_t *diff = calloc (1, sizeof *diff);
    diff->self = self;
    diff->a = a;
    diff->b = b;
    diff->target.remote = false;
    diff->target.corr = req->corr;
    cw_copy (diff->target.to, sizeof diff->target.to, req->from);
    diff->waiting = 1;
    int sides[2] = { a, b };
    for (int k = 0; k < 2; k++) {
        int p = sides[k];
        if (p == self->this_peer) {
            json_t *list = NULL;
            if (cw_config_store_handle (self->store, "config.list", NULL, &list) == CW_REPLY_OK) {
                if (k == 0)
                    diff->list_a = list;
                else
                    diff->list_b = list;
            }
            else {
                snprintf (diff->error, sizeof diff->error, "cannot list this peer's configuration: %.300s",
                          s_jstr (list, "error"));
                json_decref (list);
            }
            continue;
        }
        json_t *call = json_pack ("{s:s, s:s, s:{}}", "op", "control", "command", "config.list", "args");
        if (!cw_cluster_peer_alive (self, p)
        ||  cw_cluster_peer_call (self, p, call, NULL, 0, s_on_diff_list, diff, S_CALL_MS) != 0) {
            if (!*diff->error)
                snprintf (diff->error, sizeof diff->error, "peer %d (%s) is unreachable", p, s_address (self, p));
        }
        else
            diff->waiting++;
    }
    if (--diff->waiting == 0)
        s_diff_finish (diff);
    *reply = NULL;
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  Entry points

bool
cw_cluster_fqdn_procedure (cw_cluster_t *self, const cw_envelope_t *req, const char *command,
                           json_t *args, json_t **reply, cw_reply_status_t *status)
{
    if (strcmp (command, "cluster.suggest_mappings") == 0)
        *status = s_suggest_mappings (self, args, reply);
    else
    if (strcmp (command, "cluster.use_fqdns") == 0)
        *status = s_use_fqdns_command (self, reply);
    else
    if (strcmp (command, "cluster.enforce_tls") == 0)
        *status = s_enforce_tls_command (self, req, reply);
    else
    if (strcmp (command, "cluster.use_fqdns_status") == 0) {
        *reply = s_run_status (self, "use_fqdns");
        *status = CW_REPLY_OK;
    }
    else
    if (strcmp (command, "cluster.enforce_tls_status") == 0) {
        *reply = s_run_status (self, "enforce_tls");
        *status = CW_REPLY_OK;
    }
    else
    if (strcmp (command, "cluster.diff") == 0)
        *status = s_diff_command (self, req, args, reply);
    else
        return false;
    return true;
}

bool
cw_cluster_fqdn_control (cw_cluster_t *self, const char *command, json_t *args, const cw_reply_target_t *target)
{
    if (strcmp (command, "cluster.cert_check") == 0) {
        const char *fqdn = s_jstr (args, "fqdn");
        json_t *result = s_cert_check (self->boot->peering.certificate, NULL, self->boot->peering.ca_file,
                                       fqdn, true);
        cw_info ("cluster: certificate check for %s: %s", fqdn, s_jstr (result, "reason"));
        cw_cluster_answer (self, target, true, result);
        return true;
    }
    if (strcmp (command, "cluster.fqdn_probe") == 0) {
        json_t *peers = json_array ();
        for (int i = 0; i < self->effective.peer_count; i++)
            json_array_append_new (peers, json_string (self->effective.peers[i]));
        cw_cluster_answer (self, target, true,
                           json_pack ("{s:s, s:o, s:s, s:i, s:i}", "boot_id", self->boot_id, "peers", peers,
                                      "tls_verify", self->effective.tls_verify, "this_peer", self->this_peer,
                                      "primary", self->effective.primary));
        return true;
    }
    return false;
}
