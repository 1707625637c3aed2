/*  auth.c - digest authentication against the cluster-wide credentials,
    and the registration policy (see auth.h).

    The credentials live in the replication actor's data (namespace
    sip.credentials, key the user name, value the JSON text {"realm",
    "ha1_sha256", "ha1_md5"}); this module holds a copy in a hash table.
    It is kept loaded by a data mirror (cw_data_mirror.h: loaded page by
    page at start, each data.changed.sip.credentials event applied as it
    comes). The check itself (digest.c) and the policy (policy.c) are pure
    modules; this file is the glue to libre's messages, the actor's
    commands and the configuration.
*/
//  libre's configuration, which must match the one it was built with (C99
//  bool: else re_types.h makes bool a signed char; IPv6 in struct sa: else
//  struct sip_msg has another layout). The SIP core's routing.h sets the
//  same before its libre headers; these only matter while it does not.
#ifndef HAVE_STDBOOL_H
#define HAVE_STDBOOL_H 1
#endif
#ifndef HAVE_INTTYPES_H
#define HAVE_INTTYPES_H 1
#endif
#ifndef HAVE_INET6
#define HAVE_INET6 1
#endif
#include "auth.h"

#include <sodium.h>
#include <string.h>
#include <time.h>
#include "cw_data_mirror.h"
#include "cw_text.h"
#include "digest.h"
#include "policy.h"

#define S_NS "sip.credentials"
#define S_NONCE_LIFETIME_S 300
#define S_NAME_MAX 64
#define S_PASSWORD_MAX 1024

typedef struct {
    char realm [128];
    char ha1_sha256 [CW_DIGEST_HEX_MAX];
    char ha1_md5 [CW_DIGEST_HEX_MAX];
} s_cred_t;

struct _cw_auth_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    uint8_t key [CW_DIGEST_KEY_BYTES];    //  this start's nonce key
    zhashx_t *credentials;                //  name -> s_cred_t
    cw_data_mirror_t *mirror;             //  keeps it loaded from the cluster-wide data
    cw_policy_t *policy;
    char realm [128];
};

// ---------------------------------------------------------------------------
//  The realm and the switches

const char *
cw_auth_realm (cw_auth_t *self)
{
    const char *configured = json_string_value (cw_routing_config (self->routing, "sip.auth.realm"));
    const char *domain = json_string_value (json_array_get (cw_routing_config (self->routing, "sip.domains"), 0));
    const char *realm = configured && *configured ? configured : domain && *domain ? domain : "causeway";
    cw_copy (self->realm, sizeof self->realm, cw_digest_realm_valid (realm) ? realm : "causeway");
    return self->realm;
}

bool
cw_auth_required (cw_auth_t *self)
{
    const char *value = json_string_value (cw_routing_config (self->routing, "sip.auth.required"));
    return value && strcmp (value, "on") == 0;
}

static int64_t
s_mono_s (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec;
}

// ---------------------------------------------------------------------------
//  The credentials table

static void
s_cred_free (void **item)
{
    if (item && *item) {
        sodium_memzero (*item, sizeof (s_cred_t));
        free (*item);
        *item = NULL;
    }
}

static zhashx_t *
s_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (table)
        zhashx_set_destructor (table, s_cred_free);
    return table;
}

//  Put NAME's credentials from VALUE (the stored JSON text; NULL = remove)
//  into TABLE. A value that does not read as credentials is logged and
//  left out.
static void
s_table_apply (zhashx_t *table, const char *name, const char *value)
{
    if (!value) {
        zhashx_delete (table, name);
        return;
    }
    json_t *json = json_loads (value, 0, NULL);
    s_cred_t *cred = calloc (1, sizeof *cred);
    const char *realm = cw_jtext (json, "realm"), *sha = cw_jtext (json, "ha1_sha256"),
               *md5 = cw_jtext (json, "ha1_md5");
    if (cred && cw_digest_realm_valid (realm) && strlen (sha) == 64 && strlen (md5) == 32) {
        cw_copy (cred->realm, sizeof cred->realm, realm);
        cw_copy (cred->ha1_sha256, sizeof cred->ha1_sha256, sha);
        cw_copy (cred->ha1_md5, sizeof cred->ha1_md5, md5);
        zhashx_update (table, name, cred);
    }
    else {
        cw_warn ("auth: the stored credentials of user=%.64s cannot be read; left out", name);
        free (cred);
        zhashx_delete (table, name);
    }
    json_decref (json);
}

//  A load of the namespace is complete: the new table replaces the old
static void
s_on_loaded (json_t *rows, void *arg)
{
    cw_auth_t *self = arg;
    zhashx_t *table = s_table_new ();
    if (!table) {
        cw_error ("auth: out of memory loading the credentials");
        return;
    }
    const char *name;
    json_t *value;
    json_object_foreach (rows, name, value)
        s_table_apply (table, name, json_string_value (value));
    zhashx_destroy (&self->credentials);
    self->credentials = table;
    cw_info ("auth: credentials loaded users=%zu", zhashx_size (self->credentials));
}

static void
s_on_changed (const char *name, const char *value, void *arg)
{
    cw_auth_t *self = arg;
    s_table_apply (self->credentials, name, value);
}

static void
s_on_data_changed (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    cw_auth_t *self = arg;
    cw_data_mirror_on_event (self->mirror, topic, body);
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    (void) now_ms;
    cw_auth_t *self = arg;
    cw_data_mirror_tick (self->mirror);
}

// ---------------------------------------------------------------------------
//  The policy

static void
s_on_config (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    cw_auth_t *self = arg;
    const char *key = cw_jtext (body, "key");
    char err [512];
    if (strcmp (key, "sip.registration.allow") == 0 || strcmp (key, "sip.registration.deny") == 0) {
        if (cw_policy_set (self->policy, strcmp (key, "sip.registration.allow") == 0, json_object_get (body, "value"),
                           err, sizeof err))
            cw_error ("auth: %s", err);
    }
    else if (strcmp (key, "sip.auth.realm") == 0 || strcmp (key, "sip.domains") == 0) {
        const char *realm = cw_auth_realm (self);
        size_t other = 0;
        for (s_cred_t *cred = zhashx_first (self->credentials); cred; cred = zhashx_next (self->credentials))
            other += strcmp (cred->realm, realm) != 0;
        if (other)
            cw_warn ("auth: realm=\"%s\" users_of_another_realm=%zu (set their credentials again: "
                     "causeway credentials list)",
                     realm, other);
    }
    (void) topic;
}

bool
cw_auth_may_register (cw_auth_t *self, const char *aor, char *reason, size_t reasonlen)
{
    return cw_policy_check (self->policy, aor, reason, reasonlen);
}

// ---------------------------------------------------------------------------
//  The check

typedef struct {
    const char *realm;
    cw_digest_creds_t creds;
    bool found;
    bool malformed;
} s_pick_t;

static bool
s_pick_header (const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void) msg;
    s_pick_t *pick = arg;
    cw_digest_creds_t creds;
    char why [128];
    if (cw_digest_parse (hdr->val.p, hdr->val.l, &creds, why, sizeof why) != 0) {
        if (hdr->val.l >= 6 && strncasecmp (hdr->val.p, "Digest", 6) == 0) {
            pick->malformed = true;
            cw_debug ("auth: malformed credentials: %s", why);
        }
        return false;
    }
    if (strcmp (creds.realm, pick->realm) != 0)
        return false;
    pick->creds = creds;
    pick->found = true;
    return true;    //  stop
}

//  The challenge lines into HEADERS: per sip.auth.algorithms, SHA-256
//  then MD5 (RFC 8760), or one of them alone for clients that read only
//  the first challenge (sipp 3.6 answers the first, and only with MD5).
static cw_auth_result_t
s_challenge (cw_auth_t *self, const char *realm, bool stale, bool proxy, char *headers, size_t headerslen)
{
    const char *algorithms = json_string_value (cw_routing_config (self->routing, "sip.auth.algorithms"));
    bool sha256 = !algorithms || strcmp (algorithms, "md5") != 0;
    bool md5 = !algorithms || strcmp (algorithms, "sha256") != 0;
    char nonce [CW_DIGEST_NONCE_MAX];
    cw_digest_nonce_make (self->key, realm, s_mono_s (), nonce);
    int n = sha256 ? cw_digest_challenge (CW_DIGEST_SHA256, realm, nonce, NULL, stale, proxy, headers, headerslen) : 0;
    if (n < 0
        || (md5
            && cw_digest_challenge (CW_DIGEST_MD5, realm, nonce, NULL, stale, proxy, headers + n,
                                    headerslen - (size_t) n)
                   < 0)) {
        cw_error ("auth: the challenge does not fit in %zu bytes", headerslen);
        if (headerslen)
            headers [0] = 0;
    }
    return CW_AUTH_CHALLENGE;
}

cw_auth_result_t
cw_auth_check (cw_auth_t *self, const struct sip_msg *msg, const char *realm, bool proxy, char *user, size_t userlen,
               char *headers, size_t headerslen)
{
    if (userlen)
        user [0] = 0;
    if (headerslen)
        headers [0] = 0;
    if (!realm)
        realm = cw_auth_realm (self);
    s_pick_t pick = { .realm = realm };
    sip_msg_hdr_apply (msg, true, proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION, s_pick_header, &pick);
    if (!pick.found) {
        if (pick.malformed)
            return CW_AUTH_FORBIDDEN;
        return s_challenge (self, realm, false, proxy, headers, headerslen);
    }
    const cw_digest_creds_t *creds = &pick.creds;
    if (strlen (creds->uri) != msg->ruri.l || memcmp (creds->uri, msg->ruri.p, msg->ruri.l) != 0) {
        cw_info ("auth: refused user=%.64s reason=\"the digest uri is not the Request-URI\"", creds->username);
        return CW_AUTH_FORBIDDEN;
    }
    const s_cred_t *cred = zhashx_lookup (self->credentials, creds->username);
    if (!cred || strcmp (cred->realm, realm) != 0) {
        cw_info ("auth: refused user=%.64s reason=\"%s\"", creds->username,
                 cred ? "credentials of another realm" : "unknown user");
        return CW_AUTH_FORBIDDEN;
    }
    char method [32];
    snprintf (method, sizeof method, "%.*s", (int) (msg->met.l < 31 ? msg->met.l : 31), msg->met.p);
    if (!cw_digest_verify (creds, creds->alg == CW_DIGEST_SHA256 ? cred->ha1_sha256 : cred->ha1_md5, method)) {
        cw_info ("auth: refused user=%.64s reason=\"wrong response\"", creds->username);
        return CW_AUTH_FORBIDDEN;
    }
    if (cw_digest_nonce_check (self->key, realm, creds->nonce, s_mono_s (), S_NONCE_LIFETIME_S) != CW_NONCE_VALID)
        return s_challenge (self, realm, true, proxy, headers, headerslen);
    cw_copy (user, userlen, creds->username);
    return CW_AUTH_OK;
}

// ---------------------------------------------------------------------------
//  Commands

//  A user name that can be a digest username and a SIP user part: 1..64
//  printable ASCII characters, no space, '"', '\\', ':' or '@'.
static bool
s_name_valid (const char *name)
{
    size_t len = strnlen (name, S_NAME_MAX + 1);
    if (len == 0 || len > S_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name [i] <= 0x20 || name [i] > 0x7e || strchr ("\"\\:@", name [i]))
            return false;
    return true;
}

typedef struct {
    cw_auth_t *self;
    char to [64];
    uint64_t corr;
    char name [S_NAME_MAX + 1];
    s_cred_t cred;    //  what was written (realm "" = removed)
} s_write_t;

static void
s_on_put (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_write_t *write = arg;
    if (!ok)
        cw_actor_reply (actor, write->to, write->corr, false,
                        cw_error_body ("credentials of '%s' not stored: %s", write->name, cw_jtext (body, "error")));
    else if (write->cred.realm [0]) {
        //  This peer sees its own change at once; the others by data.changed
        s_cred_t *cred = malloc (sizeof *cred);
        if (cred) {
            *cred = write->cred;
            zhashx_update (write->self->credentials, write->name, cred);
        }
        cw_info ("auth: credentials set user=%s realm=\"%s\"", write->name, write->cred.realm);
        cw_actor_reply (actor, write->to, write->corr, true,
                        json_pack ("{s:s, s:s}", "name", write->name, "realm", write->cred.realm));
    }
    else {
        zhashx_delete (write->self->credentials, write->name);
        cw_info ("auth: credentials removed user=%s", write->name);
        cw_actor_reply (actor, write->to, write->corr, true,
                        json_pack ("{s:s, s:b}", "name", write->name, "removed", 1));
    }
    sodium_memzero (write, sizeof *write);
    free (write);
}

//  Write NAME's row (CRED NULL: delete) and answer REQ when it is stored.
static cw_reply_status_t
s_write (cw_auth_t *self, const cw_envelope_t *req, const char *name, const s_cred_t *cred, json_t **reply)
{
    s_write_t *write = calloc (1, sizeof *write);
    if (!write) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    write->self = self;
    cw_copy (write->to, sizeof write->to, req->from);
    write->corr = req->corr;
    cw_copy (write->name, sizeof write->name, name);
    json_t *value = json_null ();
    if (cred) {
        write->cred = *cred;
        value = json_pack ("{s:s, s:s, s:s}", "realm", cred->realm, "ha1_sha256", cred->ha1_sha256, "ha1_md5",
                           cred->ha1_md5);
        char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref (value);
        value = text ? json_string (text) : NULL;
        free (text);
    }
    json_t *args = value ? json_pack ("{s:s, s:[[s, o]]}", "ns", S_NS, "rows", name, value) : NULL;
    if (!args || cw_actor_request (self->actor, "replication", "replication.data.put", args, s_on_put, write, 8000)) {
        free (write);
        *reply = cw_error_body ("credentials of '%s' not stored: the replication actor cannot be asked", name);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

static cw_reply_status_t
s_cmd_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_auth_t *self = arg;
    const char *name = cw_jtext (args, "name");
    json_t *password = json_object_get (args, "password");
    size_t length = json_is_string (password) ? json_string_length (password) : 0;
    cw_reply_status_t status = CW_REPLY_ERROR;
    if (!s_name_valid (name))
        *reply = cw_error_body ("credentials.add: 'name' must be 1..%d printable characters without space, '\"', "
                                "'\\', ':' or '@'",
                                S_NAME_MAX);
    else if (length == 0 || length > S_PASSWORD_MAX || strlen (json_string_value (password)) != length)
        *reply = cw_error_body ("credentials.add: 'password' must be 1..%d characters", S_PASSWORD_MAX);
    else {
        s_cred_t cred;
        cw_copy (cred.realm, sizeof cred.realm, cw_auth_realm (self));
        cw_digest_ha1 (CW_DIGEST_SHA256, name, cred.realm, json_string_value (password), cred.ha1_sha256);
        cw_digest_ha1 (CW_DIGEST_MD5, name, cred.realm, json_string_value (password), cred.ha1_md5);
        status = s_write (self, req, name, &cred, reply);
        sodium_memzero (&cred, sizeof cred);
    }
    //  The password is not needed any more: wipe it where it is
    if (length)
        sodium_memzero ((char *) json_string_value (password), length);
    return status;
}

static cw_reply_status_t
s_cmd_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_auth_t *self = arg;
    const char *name = cw_jtext (args, "name");
    if (!zhashx_lookup (self->credentials, name)) {
        *reply = cw_error_body ("credentials.remove: no credentials for '%.64s'", name);
        return CW_REPLY_ERROR;
    }
    return s_write (self, req, name, NULL, reply);
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (json_string_value (json_object_get (*(json_t *const *) a, "name")),
                   json_string_value (json_object_get (*(json_t *const *) b, "name")));
}

static cw_reply_status_t
s_cmd_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_auth_t *self = arg;
    size_t count = zhashx_size (self->credentials), n = 0;
    json_t **entries = calloc (count ? count : 1, sizeof (json_t *));
    if (!entries) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    for (s_cred_t *cred = zhashx_first (self->credentials); cred && n < count; cred = zhashx_next (self->credentials))
        entries [n++] = json_pack ("{s:s, s:s}", "name", (const char *) zhashx_cursor (self->credentials), "realm",
                                   cred->realm);
    qsort (entries, n, sizeof (json_t *), s_compare_names);
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (list, entries [i]);
    free (entries);
    *reply = json_pack ("{s:o, s:s, s:b}", "credentials", list, "realm", cw_auth_realm (self), "loading",
                        cw_data_mirror_loading (self->mirror) && count == 0);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "credentials.add", s_cmd_add, CW_CMD_IDEMPOTENT, "set a SIP user's password (stored as digest hashes)" },
    { "credentials.remove", s_cmd_remove, CW_CMD_IDEMPOTENT, "remove a SIP user's credentials" },
    { "credentials.list", s_cmd_list, CW_CMD_IDEMPOTENT, "the SIP users with credentials, and their realm" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Life cycle

cw_auth_t *
cw_auth_new (cw_routing_t *routing, char *err, size_t errlen)
{
    cw_auth_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "auth: out of memory");
        return NULL;
    }
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    cw_digest_key_new (self->key);
    self->credentials = s_table_new ();
    self->policy = cw_policy_new ();
    self->mirror = cw_data_mirror_new (self->actor, S_NS, "auth", s_on_loaded, s_on_changed, self);
    if (!self->credentials || !self->policy || !self->mirror) {
        snprintf (err, errlen, "auth: out of memory");
        cw_auth_destroy (&self);
        return NULL;
    }
    const char *keys [] = { "sip.registration.allow", "sip.registration.deny" };
    for (int i = 0; i < 2; i++) {
        char why [512];
        if (cw_policy_set (self->policy, i == 0, cw_routing_config (routing, keys [i]), why, sizeof why))
            cw_error ("auth: %s", why);
    }
    if (cw_actor_commands (self->actor, s_commands, self)) {
        snprintf (err, errlen, "auth: cannot declare the credentials commands");
        cw_auth_destroy (&self);
        return NULL;
    }
    cw_routing_on_event (routing, "data.changed." S_NS, s_on_data_changed, self);
    cw_routing_on_event (routing, "config.changed.sip.", s_on_config, self);
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_data_mirror_start (self->mirror);    //  on the first tick, once the actor runs
    return self;
}

void
cw_auth_destroy (cw_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_auth_t *self = *self_p;
    //  A write still waiting for the replication actor: its requester is
    //  answered (an error) and the write wiped and freed
    cw_actor_fail_requests (self->actor, s_on_put, "the routing actor stopped before the write was confirmed");
    zhashx_destroy (&self->credentials);
    cw_data_mirror_destroy (&self->mirror);
    cw_policy_destroy (&self->policy);
    sodium_memzero (self->key, sizeof self->key);
    free (self);
    *self_p = NULL;
}
