/*  common.c - helpers the procedure families share (common.h).
*/
#include "common.h"
#include "cw_text.h"
#include "registry.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void
cw_proc_sha256_hex (const void *data, size_t len, char out [65])
{
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, data, len);
    sodium_bin2hex (out, 65, hash, sizeof hash);
}

cw_reply_target_t
cw_proc_target (const cw_envelope_t *req)
{
    cw_reply_target_t target;
    memset (&target, 0, sizeof target);
    target.corr = req->corr;
    cw_copy (target.to, sizeof target.to, req->from);
    return target;
}

void
cw_proc_answer_and_restart (cw_cluster_t *core, const cw_reply_target_t *target, json_t *body)
{
    cw_cluster_answer (core, target, true, body);
    cw_info ("cluster: restarting the node for the new clustering settings");
    cw_cluster_request_restart (core);
}

cw_reply_status_t
cw_proc_refuse (json_t **reply, json_t *body)
{
    cw_warn ("cluster: refused: %s", cw_jtext (body, "error"));
    *reply = body;
    return CW_REPLY_ERROR;
}

cw_reply_status_t
cw_proc_start (cw_engine_t *engine, const cw_procedure_t *def, void *ctx, json_t *plan, json_t **reply)
{
    char err [768];
    if (cw_engine_start (engine, def, ctx, plan, err, sizeof err))
        return cw_proc_refuse (reply, cw_error_body ("%s", err));
    *reply = NULL;
    return CW_REPLY_DEFERRED;
}

void
cw_proc_end_answer (cw_engine_t *engine, void *ctx, bool ok, const char *error)
{
    (void) engine;
    cw_proc_request_t *request = ctx;
    if (!ok)
        cw_cluster_answer (request->env->core, &request->target, false, cw_error_body ("%s", error));
}

json_t *
cw_proc_control (const char *command, json_t *args)
{
    return json_pack ("{s:s, s:s, s:o}", "op", "control", "command", command, "args", args);
}

void
cw_proc_stored (cw_cluster_t *core, cw_cluster_settings_t *out)
{
    cw_settings_stored (cw_cluster_store (core), out);
}

int
cw_proc_own_index (cw_cluster_t *core, const cw_cluster_settings_t *s)
{
    cw_mapping_t mapping;
    cw_settings_mapping (cw_cluster_store (core), &mapping);
    return cw_settings_own_index (s, cw_cluster_boot (core)->peering.address, &mapping);
}

bool
cw_proc_needs_restart (cw_cluster_t *core, const cw_cluster_settings_t *s)
{
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    if (effective->peer_count == 0 || cw_cluster_this_peer (core) == 0)
        return s->peer_count > 0;    //  joining
    if (s->peer_count == 0)
        return true;    //  leaving: the factory reset
    if (s->ip_version != effective->ip_version || strcmp (s->tls_verify, effective->tls_verify) != 0)
        return true;
    return cw_proc_own_index (core, s) != cw_cluster_this_peer (core);
}

int
cw_proc_set_key (cw_cluster_t *core, const char *name, json_t *value, char *err, size_t errlen)
{
    return cw_config_store_set_named (cw_cluster_store (core), name, value, err, errlen);
}

static bool
s_readable (const char *path)
{
    return path && *path && access (path, R_OK) == 0;
}

json_t *
cw_proc_check_tls_files (cw_cluster_t *core, const char *command)
{
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    const char *cert = boot->peering.certificate;
    const char *key = boot->peering.private_key;
    if (!s_readable (cert) || !s_readable (key))
        return cw_error_body ("%s: this node has no certificate to cluster with: peering.certificate "
                              "(%s) and peering.private_key (%s) in %s must be readable files; install "
                              "them (a factory reset removes them) and run it again",
                              command, cert && *cert ? cert : "not set", key && *key ? key : "not set", boot->file);
    return NULL;
}

const char *
cw_proc_address (cw_cluster_t *core, int index)
{
    return cw_settings_address (cw_cluster_effective (core), index);
}

bool
cw_proc_clustered (cw_cluster_t *core)
{
    return cw_cluster_effective (core)->peer_count > 0 && cw_cluster_this_peer (core) > 0;
}

json_t *
cw_proc_primary_only (cw_cluster_t *core, const char *command)
{
    if (!cw_proc_clustered (core))
        return cw_error_body ("%s: this system is not in a cluster", command);
    if (!cw_cluster_is_primary (core)) {
        int primary = cw_cluster_effective (core)->primary;
        return cw_error_body ("%s runs on the configuration primary, peer %d (%s); this is peer %d", command, primary,
                              cw_proc_address (core, primary), cw_cluster_this_peer (core));
    }
    return NULL;
}

int
cw_proc_resolve (cw_cluster_t *core, const cw_mapping_t *mapping, const char *address, char *ip, size_t iplen,
                 char *via, size_t vialen)
{
    return cw_peerlink_resolve (address, mapping->items, (size_t) mapping->count,
                                cw_cluster_effective (core)->ip_version, ip, iplen, via, vialen);
}

int
cw_proc_peer_ip (cw_cluster_t *core, const cw_mapping_t *mapping, int index, char *ip, size_t iplen, char *why,
                 size_t whylen)
{
    char via [256];
    if (cw_proc_resolve (core, mapping, cw_proc_address (core, index), ip, iplen, via, sizeof via) == 0)
        return 0;
    const char *own = cw_cluster_boot (core)->peering.address;
    if (index == cw_cluster_this_peer (core) && own && *own) {
        cw_copy (ip, iplen, own);
        return 0;
    }
    snprintf (why, whylen, "peer %d's address: %.200s", index, via);
    return -1;
}

int
cw_proc_peer_fqdn (cw_cluster_t *core, int index, char *fqdn, size_t size, char *why, size_t whylen, char *fix,
                   size_t fixlen)
{
    char hostname [256] = "", domain [256] = "";
    const char *address = cw_proc_address (core, index);
    if (index == cw_cluster_this_peer (core)) {
        cw_config_store_text (cw_cluster_store (core), "dns.hostname", hostname, sizeof hostname);
        cw_config_store_text (cw_cluster_store (core), "dns.domain", domain, sizeof domain);
    }
    else {
        if (!cw_cluster_peer_heard (core, index)) {
            snprintf (why, whylen, "peer %d (%s) has not been heard from since this node started", index, address);
            snprintf (fix, fixlen, "start peer %d (%s) and check `causeway cluster status`", index, address);
            return -1;
        }
        const cw_peer_view_t *view = cw_cluster_peer_view (core, index);
        cw_copy (hostname, sizeof hostname, view->dns_hostname);
        cw_copy (domain, sizeof domain, view->dns_domain);
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

void
cw_proc_not_settled (cw_cluster_t *core, bool joining, char *why, size_t size)
{
    why [0] = 0;
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++) {
        if (i == cw_cluster_this_peer (core))
            continue;
        const cw_peer_view_t *v = cw_cluster_peer_view (core, i);
        const char *what = !cw_cluster_peer_alive (core, i) ? "not alive"
                         : v->restarting                    ? "restarting"
                         : v->joining && joining            ? "joining (not yet in sync with the primary)"
                                                            : NULL;
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i, cw_proc_address (core, i), what);
            return;
        }
    }
}
