/*  settings.c - the clustering settings (see settings.h).

    The five keys are read through the configuration store (so the
    registry's defaults apply) and written through it (so each value is
    normalised and validated as an administrator's `config set` would be).
*/
#include "settings.h"

#include <string.h>
#include <strings.h>
#include "cw_text.h"
#include "registry.h"

//  The keys of the clustering settings, in the order of s_values.
static const char *const s_keys [5] = { "cluster.name", "cluster.primary", "cluster.ip_version", "cluster.tls_verify",
                                        "cluster.peers" };

void
cw_settings_stored (cw_config_store_t *store, cw_cluster_settings_t *out)
{
    memset (out, 0, sizeof *out);
    char buf [64];
    cw_config_store_text (store, "cluster.name", out->name, sizeof out->name);
    out->primary = atoi (cw_config_store_text (store, "cluster.primary", buf, sizeof buf));
    out->ip_version = atoi (cw_config_store_text (store, "cluster.ip_version", buf, sizeof buf));
    cw_config_store_text (store, "cluster.tls_verify", out->tls_verify, sizeof out->tls_verify);
    json_t *peers = cw_config_store_get (store, "cluster.peers");
    size_t i;
    json_t *item;
    json_array_foreach (peers, i, item) {
        if (i >= CW_CLUSTER_MAX_PEERS)
            break;
        cw_copy (out->peers [i], sizeof out->peers [i], json_string_value (item));
        out->peer_count = (int) i + 1;
    }
    json_decref (peers);
}

json_t *
cw_settings_peers_json (const cw_cluster_settings_t *s)
{
    json_t *peers = json_array ();
    for (int i = 0; i < s->peer_count; i++)
        json_array_append_new (peers, json_string (s->peers [i]));
    return peers;
}

json_t *
cw_settings_json (const cw_cluster_settings_t *s)
{
    return json_pack ("{s:s, s:i, s:i, s:s, s:o}", "name", s->name, "primary", s->primary, "ip_version",
                      s->ip_version ? s->ip_version : 4, "tls_verify", *s->tls_verify ? s->tls_verify : "permissive",
                      "peers", cw_settings_peers_json (s));
}

void
cw_settings_from_json (json_t *json, cw_cluster_settings_t *out)
{
    memset (out, 0, sizeof *out);
    const char *name = json_string_value (json_object_get (json, "name"));
    const char *tls_verify = json_string_value (json_object_get (json, "tls_verify"));
    cw_copy (out->name, sizeof out->name, name ? name : "");
    out->primary = (int) json_integer_value (json_object_get (json, "primary"));
    out->ip_version = (int) json_integer_value (json_object_get (json, "ip_version"));
    cw_copy (out->tls_verify, sizeof out->tls_verify, tls_verify ? tls_verify : "");
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (json, "peers"), i, item) {
        if (i >= CW_CLUSTER_MAX_PEERS)
            break;
        cw_copy (out->peers [i], sizeof out->peers [i], json_string_value (item));
        out->peer_count = (int) i + 1;
    }
}

//  The five keys of S as JSON values (VALUES[5], new), in s_keys order.
static void
s_values (const cw_cluster_settings_t *s, json_t *values [5])
{
    char ip_version [8];
    snprintf (ip_version, sizeof ip_version, "%d", s->ip_version ? s->ip_version : 4);
    values [0] = json_string (s->name);
    values [1] = json_integer (s->primary ? s->primary : 1);
    values [2] = json_string (ip_version);
    values [3] = json_string (*s->tls_verify ? s->tls_verify : "permissive");
    values [4] = cw_settings_peers_json (s);
}

int
cw_settings_check (const cw_cluster_settings_t *s, char *err, size_t errlen)
{
    json_t *values [5];
    s_values (s, values);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        if (rc == 0) {
            const cw_config_key_t *key = cw_registry_lookup (s_keys [i]);
            json_t *normal = key ? cw_registry_normalize (key, values [i], err, errlen) : NULL;
            if (!normal)
                rc = -1;
            json_decref (normal);
        }
        json_decref (values [i]);
    }
    return rc;
}

int
cw_settings_store (cw_config_store_t *store, const cw_cluster_settings_t *s, char *err, size_t errlen)
{
    if (cw_settings_check (s, err, errlen))
        return -1;
    json_t *values [5];
    s_values (s, values);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        if (rc == 0)
            rc = cw_config_store_set_named (store, s_keys [i], values [i], err, errlen);
        json_decref (values [i]);
    }
    return rc;
}

bool
cw_settings_same_address (const char *a, const char *b)
{
    char ca [64], cb [64];
    if (cw_valid_ip (a, ca) && cw_valid_ip (b, cb))
        return strcmp (ca, cb) == 0;
    size_t la = strlen (a), lb = strlen (b);
    if (la && a [la - 1] == '.')
        la--;
    if (lb && b [lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

int
cw_settings_index_of (const cw_cluster_settings_t *s, const char *address)
{
    for (int i = 0; i < s->peer_count; i++)
        if (cw_settings_same_address (s->peers [i], address))
            return i + 1;
    return 0;
}

const char *
cw_settings_address (const cw_cluster_settings_t *s, int index)
{
    return index >= 1 && index <= s->peer_count ? s->peers [index - 1] : "?";
}

void
cw_settings_remove_slot (cw_cluster_settings_t *s, int index)
{
    if (index < 1 || index > s->peer_count)
        return;
    for (int i = index - 1; i < s->peer_count - 1; i++)
        cw_copy (s->peers [i], sizeof s->peers [i], s->peers [i + 1]);
    s->peers [s->peer_count - 1][0] = 0;
    s->peer_count--;
    if (s->primary > index)
        s->primary--;
}

bool
cw_settings_only_removed (const cw_cluster_settings_t *before, const cw_cluster_settings_t *after)
{
    if (after->peer_count < 1 || after->peer_count >= before->peer_count || after->primary < 1
        || after->primary > after->peer_count || after->ip_version != before->ip_version
        || strcmp (after->tls_verify, before->tls_verify) != 0 || strcasecmp (after->name, before->name) != 0)
        return false;
    //  Every remaining address, in order, is one of BEFORE's
    int from = 0;
    for (int i = 0; i < after->peer_count; i++) {
        while (from < before->peer_count && strcmp (before->peers [from], after->peers [i]) != 0)
            from++;
        if (from == before->peer_count || !*after->peers [i])
            return false;
        from++;
    }
    return true;
}

void
cw_settings_mapping (cw_config_store_t *store, cw_mapping_t *out)
{
    memset (out, 0, sizeof *out);
    if (!cw_config_store_on (store, "cluster.address_mapping.enabled"))
        return;
    json_t *list = cw_config_store_get (store, "cluster.address_mapping");
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        const char *text = json_string_value (item);
        const char *equals = text ? strchr (text, '=') : NULL;
        if (!equals || out->count >= CW_MAPPING_MAX)
            continue;
        int n = out->count++;
        snprintf (out->texts [n][0], 256, "%.*s", (int) (equals - text), text);
        cw_copy (out->texts [n][1], 256, equals + 1);
    }
    json_decref (list);
    for (int n = 0; n < out->count; n++) {
        out->items [n].fqdn = out->texts [n][0];
        out->items [n].ip = out->texts [n][1];
    }
}

int
cw_settings_own_index (const cw_cluster_settings_t *s, const char *peering_address, const cw_mapping_t *mapping)
{
    if (!peering_address || !*peering_address)
        return 0;
    for (int i = 0; i < s->peer_count; i++) {
        if (cw_settings_same_address (s->peers [i], peering_address))
            return i + 1;
        char ip [64], via [256];
        if (cw_valid_ip (s->peers [i], NULL))
            continue;
        if (cw_peerlink_resolve (s->peers [i], mapping->items, (size_t) mapping->count, s->ip_version, ip, sizeof ip,
                                 via, sizeof via)
                == 0
            && cw_settings_same_address (ip, peering_address))
            return i + 1;
    }
    return 0;
}
