/*  keyring.c - this peer's option keys (see keyring.h). */
#include "keyring.h"

#include <stdio.h>
#include <string.h>

#include "cw_log.h"
#include "cw_text.h"

static void
s_key_loaded (const char *serial, const char *text, void *arg)
{
    cw_keyring_t *self = arg;
    (void) serial;
    if (self->count == CW_KEYRING_MAX || strlen (text) > CW_LICENSE_MAX_TEXT)
        return;
    cw_copy (self->texts [self->count++], CW_LICENSE_MAX_TEXT + 1, text);
}

static void
s_load (cw_keyring_t *self)
{
    self->count = 0;
    cw_keystore_each_key (self->store, s_key_loaded, self);
}

void
cw_keyring_init (cw_keyring_t *self, cw_keystore_t *store, const cw_bootstrap_t *boot)
{
    memset (self, 0, sizeof *self);
    self->store = store;
    for (int i = 0; i < boot->licensing.issuer_count && self->issuer_count < CW_LICENSE_MAX_ISSUERS; i++) {
        char err [512];
        if (cw_license_issuer_load (boot->licensing.issuers [i], &self->issuers [self->issuer_count], err, sizeof err)
            == 0)
            self->issuer_count++;
        else
            cw_error ("license issuer not loaded: %s", err);
    }
    s_load (self);
}

void
cw_keyring_verify (cw_keyring_t *self, const char *system_name, time_t now, int64_t installed [CW_POOL_KINDS],
                   json_t *features)
{
    memset (installed, 0, CW_POOL_KINDS * sizeof installed [0]);
    for (size_t i = 0; i < self->count; i++) {
        cw_lkey_t *key = &self->keys [i];
        key->status = cw_license_verify (self->texts [i], self->issuers, self->issuer_count, now, system_name,
                                         &key->key, key->why, sizeof key->why);
        key->days_left = cw_license_days_left (&key->key, now);
        if (key->status != CW_LICENSE_OK)
            continue;
        int k = cw_license_capacity_index (key->key.kind);
        if (k >= 0)
            installed [k] += key->key.count;
        else if (cw_license_kind_is_feature (key->key.kind))
            json_array_append_new (features, json_string (key->key.kind));
    }
}

int
cw_keyring_add (cw_keyring_t *self, const char *text, const char *system_name, cw_lkey_t *added, char *err,
                size_t errlen)
{
    memset (added, 0, sizeof *added);
    if (!*text) {
        snprintf (err, errlen, "license.add: 'key' is required (the key text from causeway-license issue)");
        return -1;
    }
    if (!self->issuer_count) {
        snprintf (err, errlen,
                  "refused: no issuer is configured (bootstrap licensing.issuers), so no key can be verified");
        return -1;
    }
    time_t now = time (NULL);
    added->status = cw_license_verify (text, self->issuers, self->issuer_count, now, system_name, &added->key,
                                       added->why, sizeof added->why);
    if (added->status != CW_LICENSE_OK) {
        cw_info ("license key refused status=%s serial=%s", cw_license_status_name (added->status),
                 *added->key.serial ? added->key.serial : "-");
        snprintf (err, errlen, "%s", added->why);
        return -1;
    }
    if (self->count == CW_KEYRING_MAX) {
        snprintf (err, errlen, "refused: this peer already holds %d keys", CW_KEYRING_MAX);
        return -1;
    }
    //  Store the canonical text (no surrounding white space)
    char canonical [CW_LICENSE_MAX_TEXT + 1];
    cw_copy (canonical, sizeof canonical, text + strspn (text, " \t\r\n"));
    canonical [strcspn (canonical, " \t\r\n")] = 0;
    int rc = cw_keystore_add (self->store, added->key.serial, canonical, err, errlen);
    if (rc == 1)
        snprintf (err, errlen, "refused: key %s is already installed on this peer", added->key.serial);
    if (rc != 0)
        return -1;
    cw_copy (self->texts [self->count++], CW_LICENSE_MAX_TEXT + 1, canonical);
    added->days_left = cw_license_days_left (&added->key, now);
    cw_info ("license key added serial=%s kind=%s count=%lld", added->key.serial, added->key.kind,
             (long long) added->key.count);
    return 0;
}

int
cw_keyring_remove (cw_keyring_t *self, const char *key, char serial [64], char *err, size_t errlen)
{
    serial [0] = 0;
    if (strncmp (key + strspn (key, " \t\r\n"), CW_LICENSE_PREFIX, strlen (CW_LICENSE_PREFIX)) == 0) {
        cw_license_key_t decoded;
        if (cw_license_decode (key, &decoded, err, errlen) != CW_LICENSE_OK)
            return -1;
        cw_copy (serial, 64, decoded.serial);
    }
    else
        cw_copy (serial, 64, key);
    if (!*serial) {
        snprintf (err, errlen, "license.remove: 'key' is required (the key text or its serial)");
        return -1;
    }
    int rc = cw_keystore_remove (self->store, serial, err, errlen);
    if (rc == 1)
        snprintf (err, errlen, "no installed key with serial %s (see causeway license list)", serial);
    if (rc != 0)
        return -1;
    s_load (self);
    cw_info ("license key removed serial=%s", serial);
    return 0;
}

json_t *
cw_keyring_key_json (const cw_lkey_t *key)
{
    const char *state = key->status == CW_LICENSE_OK             ? "active"
                      : key->status == CW_LICENSE_EXPIRED        ? "expired"
                      : key->status == CW_LICENSE_WRONG_SYSTEM   ? "wrong system"
                      : key->status == CW_LICENSE_UNKNOWN_ISSUER ? "unknown issuer"
                      : key->status == CW_LICENSE_BAD_SIGNATURE  ? "altered"
                                                                 : "malformed";
    json_t *json = json_pack ("{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "serial", key->key.serial, "kind",
                              key->key.kind, "count", (json_int_t) key->key.count, "system", key->key.system, "expires",
                              key->key.expires, "issued", key->key.issued, "issuer", key->key.issuer, "state", state);
    json_object_set_new (json, "days_left", *key->key.expires ? json_integer (key->days_left) : json_null ());
    if (key->status != CW_LICENSE_OK)
        json_object_set_new (json, "reason", json_string (key->why));
    return json;
}
