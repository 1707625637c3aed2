/*  readonly.c - the cluster commands that look before anything changes.

      cluster.suggest_mappings {apply?}
          -> {"mappings": ["fqdn=ip", ...], "missing": [{index, address,
             reason, fix}], "applied"?, "message"?}. Each peer's FQDN is its
             dns.hostname + "." + dns.domain (this peer: its configuration;
             the others: their heartbeats), its IP the address its slot
             resolves to. apply (primary only, nothing missing) sets
             cluster.address_mapping and cluster.address_mapping.enabled=on
             (cluster scope: replicated).
      cluster.diff {a?, b?}  config.list of two peers compared key by key
          -> {"a": {index, address, system_name}, "b": {...},
             "differences": [{key, scope, a, b, expected}], "same": N,
             "unexpected": N, "message"}. a defaults to this peer, b to the
             primary (the next peer when a is the primary). Peer-scope keys
             that differ by design (system.name, dns.hostname, ...) are
             "expected": true.

    Neither runs on the procedure engine: diff asks two peers at once and
    answers when both have, whatever else runs.
*/
#include "readonly.h"
#include "cw_text.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_CALL_MS 2500

// ---------------------------------------------------------------------------
//  cluster.suggest_mappings

//  The mapping entries the peers' host names give (new), and what is
//  missing for the others into *MISSING_P (new).
static json_t *
s_suggest (cw_cluster_t *core, json_t **missing_p)
{
    cw_mapping_t mapping;
    cw_settings_mapping (cw_cluster_store (core), &mapping);
    json_t *mappings = json_array ();
    json_t *missing = json_array ();
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++) {
        char fqdn [520], ip [64], why [512] = "", fix [512] = "";
        if (cw_proc_peer_fqdn (core, i, fqdn, sizeof fqdn, why, sizeof why, fix, sizeof fix) == 0
            && cw_proc_peer_ip (core, &mapping, i, ip, sizeof ip, why, sizeof why) == 0) {
            char entry [600];
            snprintf (entry, sizeof entry, "%s=%s", fqdn, ip);
            json_array_append_new (mappings, json_string (entry));
            continue;
        }
        if (!*fix)
            snprintf (fix, sizeof fix, "fix peer %d's address in cluster.peers", i);
        json_array_append_new (missing, json_pack ("{s:i, s:s, s:s, s:s}", "index", i, "address",
                                                   cw_proc_address (core, i), "reason", why, "fix", fix));
    }
    *missing_p = missing;
    return mappings;
}

//  Set MAPPINGS (borrowed) as the address mapping, enabled. 0, or -1
//  with ERR.
static int
s_apply_mappings (cw_cluster_t *core, json_t *mappings, char *err, size_t errlen)
{
    json_t *on = json_string ("on");
    int rc = cw_proc_set_key (core, "cluster.address_mapping", mappings, err, errlen);
    if (rc == 0)
        rc = cw_proc_set_key (core, "cluster.address_mapping.enabled", on, err, errlen);
    json_decref (on);
    if (rc == 0)
        cw_info ("cluster: address mapping set from the peers' host names entries=%zu", json_array_size (mappings));
    return rc;
}

static cw_reply_status_t
s_suggest_mappings (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_cluster_t *core = ((cw_proc_env_t *) arg)->core;
    if (!cw_proc_clustered (core)) {
        *reply = cw_error_body ("cluster.suggest_mappings: this system is not in a cluster");
        return CW_REPLY_ERROR;
    }
    bool apply = json_is_true (json_object_get (args, "apply"));
    if (apply && (*reply = cw_proc_primary_only (core, "cluster suggest-mappings --apply")) != NULL)
        return CW_REPLY_ERROR;
    json_t *missing = NULL;
    json_t *mappings = s_suggest (core, &missing);
    char message [2048] = "";
    size_t i;
    json_t *item;
    json_array_foreach (missing, i, item) {
        size_t used = strlen (message);
        snprintf (message + used, sizeof message - used, "%sno mapping: %s; fix: %s", used ? "\n" : "",
                  cw_jtext (item, "reason"), cw_jtext (item, "fix"));
    }
    char err [512];
    if (apply && json_array_size (missing) > 0) {
        *reply = cw_error_body ("not applied: %s", message);
        json_object_set_new (*reply, "mappings", mappings);
        json_object_set_new (*reply, "missing", missing);
        return CW_REPLY_ERROR;
    }
    if (apply && s_apply_mappings (core, mappings, err, sizeof err)) {
        json_decref (mappings);
        json_decref (missing);
        *reply = cw_error_body ("cannot set the address mapping: %s", err);
        return CW_REPLY_ERROR;
    }
    *reply = json_pack ("{s:o, s:o}", "mappings", mappings, "missing", missing);
    if (apply)
        json_object_set_new (*reply, "applied", json_true ());
    if (*message)
        json_object_set_new (*reply, "message", json_string (message));
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  cluster.diff

typedef struct {
    cw_cluster_t *core;
    cw_reply_target_t target;
    int a, b;
    json_t *list_a, *list_b;
    char error [512];
    int waiting;
} s_diff_t;

//  Peer-scope keys that must nevertheless match on every peer.
static bool
s_must_match (const char *key)
{
    static const char *const keys [] = { "cluster.name",
                                         "cluster.primary",
                                         "cluster.ip_version",
                                         "cluster.tls_verify",
                                         "cluster.peers",
                                         "dns.domain",
                                         NULL };
    for (int i = 0; keys [i]; i++)
        if (strcmp (keys [i], key) == 0)
            return true;
    return false;
}

static json_t *
s_diff_side (cw_cluster_t *core, int index)
{
    char own [64] = "";
    const char *name = index == cw_cluster_this_peer (core)
                         ? cw_config_store_text (cw_cluster_store (core), "system.name", own, sizeof own)
                         : cw_cluster_peer_view (core, index)->system_name;
    return json_pack ("{s:i, s:s, s:s}", "index", index, "address", cw_proc_address (core, index), "system_name", name);
}

//  The entries of LIST_B missing from LIST_A's keys SEEN into DIFFERENCES.
static void
s_diff_only_b (json_t *by_key, json_t *seen, json_t *differences)
{
    const char *key;
    json_t *other;
    json_object_foreach (by_key, key, other) {
        if (json_object_get (seen, key))
            continue;
        json_t *vb = json_object_get (other, "value");
        json_array_append_new (differences,
                               json_pack ("{s:s, s:s, s:n, s:O, s:b}", "key", key, "scope", cw_jtext (other, "scope"),
                                          "a", "b", vb ? vb : json_null (), "expected", false));
    }
}

//  The differences of the two lists (new); *SAME counts equal keys.
static json_t *
s_diff_compare (json_t *list_a, json_t *list_b, int *same)
{
    json_t *by_key = json_object ();
    size_t i;
    json_t *entry;
    json_array_foreach (json_object_get (list_b, "config"), i, entry)
        if (*cw_jtext (entry, "key"))
            json_object_set (by_key, cw_jtext (entry, "key"), entry);
    json_t *differences = json_array ();
    json_t *seen = json_object ();
    *same = 0;
    json_array_foreach (json_object_get (list_a, "config"), i, entry) {
        const char *key = cw_jtext (entry, "key");
        if (!*key)
            continue;
        json_object_set_new (seen, key, json_true ());
        json_t *other = json_object_get (by_key, key);
        json_t *va = json_object_get (entry, "value");
        json_t *vb = other ? json_object_get (other, "value") : NULL;
        if (vb && json_equal (va, vb)) {
            (*same)++;
            continue;
        }
        const char *scope = cw_jtext (entry, "scope");
        bool expected = strcmp (scope, "peer") == 0 && !s_must_match (key);
        json_array_append_new (differences,
                               json_pack ("{s:s, s:s, s:O, s:O, s:b}", "key", key, "scope", scope, "a",
                                          va ? va : json_null (), "b", vb ? vb : json_null (), "expected", expected));
    }
    s_diff_only_b (by_key, seen, differences);
    json_decref (seen);
    json_decref (by_key);
    return differences;
}

static void
s_diff_finish (s_diff_t *diff)
{
    cw_cluster_t *core = diff->core;
    if (*diff->error)
        cw_cluster_answer (core, &diff->target, false, cw_error_body ("%s", diff->error));
    else {
        int same = 0, unexpected = 0;
        json_t *differences = s_diff_compare (diff->list_a, diff->list_b, &same);
        size_t i;
        json_t *entry;
        json_array_foreach (differences, i, entry)
            if (!json_is_true (json_object_get (entry, "expected")))
                unexpected++;
        char message [512];
        snprintf (message, sizeof message,
                  "peer %d (%s) and peer %d (%s): %zu keys differ (%d not expected to), "
                  "%d the same",
                  diff->a, cw_proc_address (core, diff->a), diff->b, cw_proc_address (core, diff->b),
                  json_array_size (differences), unexpected, same);
        cw_cluster_answer (core, &diff->target, true,
                           json_pack ("{s:o, s:o, s:o, s:i, s:i, s:s}", "a", s_diff_side (core, diff->a), "b",
                                      s_diff_side (core, diff->b), "differences", differences, "same", same,
                                      "unexpected", unexpected, "message", message));
    }
    json_decref (diff->list_a);
    json_decref (diff->list_b);
    free (diff);
}

static void
s_on_diff_list (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_diff_t *diff = arg;
    if (!ok || !json_is_array (json_object_get (json, "config"))) {
        if (!*diff->error)
            snprintf (diff->error, sizeof diff->error, "cannot read the configuration of peer %d (%s): %.300s", peer,
                      cw_proc_address (core, peer), ok ? "no list in its answer" : cw_jtext (json, "error"));
    }
    else if (peer == diff->a && !diff->list_a)
        diff->list_a = json_incref (json);
    else
        diff->list_b = json_incref (json);
    if (--diff->waiting == 0)
        s_diff_finish (diff);
}

//  The peer whose address is, or resolves to the same IP as, TEXT; 0 none.
static int
s_peer_named (cw_cluster_t *core, const char *text)
{
    int count = cw_cluster_effective (core)->peer_count;
    for (int i = 1; i <= count; i++)
        if (strcasecmp (cw_proc_address (core, i), text) == 0)
            return i;
    cw_mapping_t mapping;
    cw_settings_mapping (cw_cluster_store (core), &mapping);
    char ip [64], via [256];
    if (cw_proc_resolve (core, &mapping, text, ip, sizeof ip, via, sizeof via) == 0)
        for (int i = 1; i <= count; i++) {
            char other [64];
            if (cw_proc_resolve (core, &mapping, cw_proc_address (core, i), other, sizeof other, via, sizeof via) == 0
                && strcmp (ip, other) == 0)
                return i;
        }
    return 0;
}

//  The peer index named by ARG (index, "N", or an address), 0 when absent,
//  -1 with ERR when it names no peer.
static int
s_peer_arg (cw_cluster_t *core, json_t *arg, char *err, size_t errlen)
{
    if (!arg || json_is_null (arg) || (json_is_string (arg) && !*json_string_value (arg)))
        return 0;
    int count = cw_cluster_effective (core)->peer_count;
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
    if (strlen (text) == 1 && text [0] >= '1' && text [0] <= '6' && text [0] - '0' <= count)
        return text [0] - '0';
    int index = s_peer_named (core, text);
    if (index)
        return index;
    snprintf (err, errlen, "'%.200s' is not in the peer list", text);
    return -1;
}

//  Side K (0 = a, 1 = b) of DIFF, peer P: this peer's list now, or a call.
static void
s_diff_ask (s_diff_t *diff, int k, int p)
{
    cw_cluster_t *core = diff->core;
    if (p == cw_cluster_this_peer (core)) {
        json_t *list = NULL;
        if (cw_config_store_handle (cw_cluster_store (core), "config.list", NULL, &list) == CW_REPLY_OK)
            *(k == 0 ? &diff->list_a : &diff->list_b) = list;
        else {
            snprintf (diff->error, sizeof diff->error, "cannot list this peer's configuration: %.300s",
                      cw_jtext (list, "error"));
            json_decref (list);
        }
        return;
    }
    json_t *call = cw_proc_control ("config.list", json_object ());
    if (!cw_cluster_peer_alive (core, p)) {
        json_decref (call);
        call = NULL;
    }
    if (!call || cw_cluster_peer_call (core, p, call, NULL, 0, s_on_diff_list, diff, S_CALL_MS) != 0) {
        if (!*diff->error)
            snprintf (diff->error, sizeof diff->error, "peer %d (%s) is unreachable", p, cw_proc_address (core, p));
    }
    else
        diff->waiting++;
}

static cw_reply_status_t
s_diff (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_cluster_t *core = ((cw_proc_env_t *) arg)->core;
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    if (!cw_proc_clustered (core)) {
        *reply = cw_error_body ("cluster diff: this system is not in a cluster");
        return CW_REPLY_ERROR;
    }
    char err [512];
    int a = s_peer_arg (core, json_object_get (args, "a"), err, sizeof err);
    int b = a < 0 ? 0 : s_peer_arg (core, json_object_get (args, "b"), err, sizeof err);
    if (a < 0 || b < 0) {
        *reply = cw_error_body ("cluster diff: %s", err);
        return CW_REPLY_ERROR;
    }
    if (a == 0)
        a = cw_cluster_this_peer (core);
    if (b == 0) {
        b = effective->primary;
        if (b == a || b < 1 || b > effective->peer_count)
            b = a % effective->peer_count + 1;
    }
    if (a == b) {
        *reply = cw_error_body ("cluster diff: nothing to compare: A and B are both peer %d%s", a,
                                effective->peer_count == 1 ? " (the only peer)" : "");
        return CW_REPLY_ERROR;
    }
    s_diff_t *diff = calloc (1, sizeof *diff);
    diff->core = core;
    diff->a = a;
    diff->b = b;
    diff->target = cw_proc_target (req);
    diff->waiting = 1;
    s_diff_ask (diff, 0, a);
    s_diff_ask (diff, 1, b);
    if (--diff->waiting == 0)
        s_diff_finish (diff);
    *reply = NULL;
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  Table

const cw_command_t cw_readonly_commands [] = { { "cluster.suggest_mappings", s_suggest_mappings, 0,
                                                 "address mapping entries from the peers' host names" },
                                               { "cluster.diff", s_diff, 0, "compare the configuration of two peers" },
                                               { NULL, NULL, 0, NULL } };
