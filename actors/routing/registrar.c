/*  registrar.c - the SIP registrar (see registrar.h).

    A REGISTER is checked at once and turned into a PLAN: per contact the
    binding to put (or the contact to remove), the own binding of the same
    outbound instance it replaces, and whether it needs a new license. A
    plan that needs licenses waits for the licensing actor's answer (one
    license.acquire for all of them); then the plan is applied to the table
    and the 200 is sent. Plans waiting are kept by Call-ID and CSeq, so a
    retransmission is recognised and dropped.

    Licenses are released by the table's removal hook, so a binding gives
    its lease back however it goes; a lease moving from a replaced binding
    to its successor is marked so the hook keeps it.

    Every put of an own binding, and (through the same removal hook) every
    removal, is queued in the binding store; the answers of the REGISTERs
    that made them wait in a list until the commit timer writes the
    queued changes in one transaction, then go out. At start the store is
    read back into the table; the restored bindings wait in a set (keyed
    "aor\ncontact") for their licenses, asked for on the tick in batches
    per kind; a restored binding replaced by another contact of the same
    outbound flow passes its place in that set on.

    The first section (pure parts) needs nothing but the C library; the
    SIP part needs libre, which cw_routing_lib has with the SIP core. A
    tree without the core (no libre on the include path) builds the pure
    parts only.
*/
#include "registrar.h"

#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
//  Pure parts

static const char *
s_skip_ws (const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

static bool
s_token_char (char c)
{
    return isalnum ((unsigned char) c) || strchr ("-.!%*_+`'~", c);
}

//  A quoted string at P (opening quote): its end after the closing quote,
//  or NULL when unterminated. The content (without quotes and escapes)
//  into OUT when not NULL; false when it does not fit.
static const char *
s_quoted (const char *p, char *out, size_t outlen, bool *fits)
{
    size_t n = 0;
    *fits = true;
    for (p++; *p && *p != '"'; p++) {
        if (*p == '\\' && p [1])
            p++;
        if (out) {
            if (n + 1 >= outlen)
                *fits = false;
            else
                out [n++] = *p;
        }
    }
    if (out && outlen)
        out [n] = 0;
    return *p == '"' ? p + 1 : NULL;
}

//  A non-negative decimal number of at most 10 digits; -1 when not one
static int64_t
s_number (const char *text, size_t len)
{
    if (len == 0 || len > 10)
        return -1;
    int64_t value = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit ((unsigned char) text [i]))
            return -1;
        value = value * 10 + (text [i] - '0');
    }
    return value;
}

//  The parameters of one contact, from P; returns where they end
static const char *
s_params (const char *p, cw_reg_contact_t *c, bool *ok)
{
    *ok = true;
    for (;;) {
        p = s_skip_ws (p);
        if (*p != ';')
            return p;
        p = s_skip_ws (p + 1);
        const char *name = p;
        while (s_token_char (*p))
            p++;
        size_t name_len = (size_t) (p - name);
        if (name_len == 0) {
            *ok = false;
            return p;
        }
        p = s_skip_ws (p);
        char value [256] = "";
        size_t value_len = 0;
        bool quoted = false;
        if (*p == '=') {
            p = s_skip_ws (p + 1);
            if (*p == '"') {
                bool fits;
                p = s_quoted (p, value, sizeof value, &fits);
                if (!p || !fits) {
                    *ok = false;
                    return p ? p : name;
                }
                quoted = true;
                value_len = strlen (value);
            }
            else {
                const char *start = p;
                while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                    p++;
                value_len = (size_t) (p - start);
                if (value_len == 0 || value_len >= sizeof value) {
                    *ok = false;
                    return p;
                }
                memcpy (value, start, value_len);
                value [value_len] = 0;
            }
        }
        if (name_len == 7 && strncasecmp (name, "expires", 7) == 0) {
            int64_t expires = quoted ? -1 : s_number (value, value_len);
            if (expires < 0) {
                *ok = false;
                return p;
            }
            c->expires = expires;
        }
        else if (name_len == 13 && strncasecmp (name, "+sip.instance", 13) == 0) {
            if (value_len == 0 || value_len >= sizeof c->instance) {
                *ok = false;
                return p;
            }
            memcpy (c->instance, value, value_len + 1);
        }
        else if (name_len == 6 && strncasecmp (name, "reg-id", 6) == 0) {
            int64_t id = quoted ? -1 : s_number (value, value_len);
            if (id < 1 || id > INT32_MAX) {
                *ok = false;
                return p;
            }
            c->reg_id = (int) id;
        }
    }
}

int
cw_registrar_contacts_parse (const char *value, cw_reg_contact_t *out, size_t max, size_t *count)
{
    const char *p = s_skip_ws (value ? value : "");
    if (!*p)
        return -1;
    for (;;) {
        p = s_skip_ws (p);
        if (*count >= max || !*p)
            return -1;
        cw_reg_contact_t *c = &out [*count];
        memset (c, 0, sizeof *c);
        c->expires = -1;
        if (*p == '*') {
            c->star = true;
            p++;
        }
        else {
            //  name-addr ([display-name] <URI>) or addr-spec (a bare URI)
            const char *lt = NULL;
            for (const char *q = p; *q && *q != ','; q++) {
                if (*q == '"') {
                    bool fits;
                    q = s_quoted (q, NULL, 0, &fits);
                    if (!q)
                        return -1;
                    q--;
                    continue;
                }
                if (*q == '<') {
                    lt = q;
                    break;
                }
            }
            const char *start, *end;
            if (lt) {
                start = lt + 1;
                end = strchr (start, '>');
                if (!end)
                    return -1;
                p = end + 1;
            }
            else {
                start = p;
                while (*p && *p != ';' && *p != ',' && *p != ' ' && *p != '\t')
                    p++;
                end = p;
            }
            size_t len = (size_t) (end - start);
            if (len == 0 || len >= sizeof c->uri || memchr (start, ' ', len) || !memchr (start, ':', len))
                return -1;
            memcpy (c->uri, start, len);
            c->uri [len] = 0;
        }
        bool ok;
        p = s_params (p, c, &ok);
        if (!ok)
            return -1;
        (*count)++;
        p = s_skip_ws (p);
        if (*p == ',') {
            p++;
            continue;
        }
        return *p ? -1 : 0;
    }
}

int
cw_registrar_check_star (const cw_reg_contact_t *contacts, size_t count, int64_t header_expires, char *why,
                         size_t whylen)
{
    bool star = false;
    for (size_t i = 0; i < count; i++)
        star |= contacts [i].star;
    if (!star)
        return 0;
    if (count > 1) {
        snprintf (why, whylen, "Contact: * must be the only contact");
        return -1;
    }
    if (header_expires != 0) {
        snprintf (why, whylen, "Contact: * needs Expires: 0");
        return -1;
    }
    if (contacts [0].expires > 0) {
        snprintf (why, whylen, "Contact: * takes no expires parameter other than 0");
        return -1;
    }
    return 0;
}

int64_t
cw_registrar_expiry (int64_t contact_expires, int64_t header_expires, int64_t min, int64_t max, int64_t dflt)
{
    if (max < min)
        max = min;
    int64_t expires;
    if (contact_expires >= 0)
        expires = contact_expires;
    else if (header_expires >= 0)
        expires = header_expires;
    else {
        //  The default is ours: never refused, kept within the bounds
        expires = dflt < min ? min : dflt;
        return expires > max ? max : expires;
    }
    if (expires == 0)
        return 0;
    if (expires < min)
        return -1;
    return expires > max ? max : expires;
}

int
cw_registrar_aor (const char *user, const char *host, char *out, size_t outlen)
{
    if (!host || !*host)
        return -1;
    int n = user && *user ? snprintf (out, outlen, "sip:%s@", user) : snprintf (out, outlen, "sip:");
    if (n < 0 || (size_t) n >= outlen || (size_t) n + strlen (host) >= outlen)
        return -1;
    for (const char *h = host; *h; h++)
        out [n++] = (char) tolower ((unsigned char) *h);
    out [n] = 0;
    return 0;
}

bool
cw_registrar_domain_served (json_t *domains, const char *fallback, const char *host)
{
    if (!host || !*host)
        return false;
    if (json_array_size (domains) == 0)
        return !fallback || !*fallback || strcasecmp (fallback, host) == 0;
    size_t i;
    json_t *domain;
    json_array_foreach (domains, i, domain) {
        const char *text = json_string_value (domain);
        if (text && strcasecmp (text, host) == 0)
            return true;
    }
    return false;
}

const char *
cw_registrar_license_kind (json_t *patterns, const char *user_agent)
{
    size_t i;
    json_t *pattern;
    json_array_foreach (patterns, i, pattern) {
        const char *text = json_string_value (pattern);
        if (text && *text && fnmatch (text, user_agent ? user_agent : "", FNM_CASEFOLD) == 0)
            return "room_systems";
    }
    return "desktop_systems";
}

bool
cw_registrar_in_order (const char *old_call_id, uint32_t old_cseq, const char *call_id, uint32_t cseq)
{
    if (!old_call_id || !call_id || strcmp (old_call_id, call_id) != 0)
        return true;
    //  The same CSeq again is the same request (a retransmission)
    return cseq >= old_cseq;
}

#if __has_include(<re_sip.h>)
// ---------------------------------------------------------------------------
//  The SIP part

#include "binding_store.h"
#include "location_sync.h"
#include "routing.h"
#include "auth.h"

#include <inttypes.h>
#include <unistd.h>

//  One contact of a REGISTER, planned
typedef struct {
    cw_binding_t binding;    //  to put; aor and contact only when removing
    bool remove;
    char replaces [CW_LOCATION_URI_MAX];    //  own contact of the same instance and reg-id
    bool needs_license;
} s_op_t;

//  A REGISTER being handled
typedef struct {
    cw_registrar_t *registrar;
    const struct sip_msg *msg;    //  a reference while it waits
    char key [200];               //  Call-ID + CSeq
    char aor [CW_LOCATION_AOR_MAX];
    char host [256];
    char kind [32];
    bool star;
    bool outbound;
    char path [CW_LOCATION_URI_MAX];
    s_op_t ops [CW_REGISTRAR_CONTACTS_MAX];
    size_t count;
    size_t licenses;    //  new licenses needed
} s_register_t;

//  An answer waiting for the store's commit
typedef struct {
    const struct sip_msg *msg;    //  a reference
    uint16_t scode;
    char reason [32];
    char *headers;
} s_answer_t;

//  A restored binding waiting for its license again
typedef struct {
    char kind [CW_BINDING_STORE_KIND_MAX];
    uint64_t asked_by;    //  the license.acquire in flight for it (0 = none)
} s_unlicensed_t;

struct _cw_registrar_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    cw_auth_t *auth;
    cw_location_t *table;
    cw_location_sync_t *sync;
    zhashx_t *waiting;    //  key -> s_register_t (waiting for licenses)
    struct tmr flush_timer;
    char keep_lease [32];    //  a lease moving to another binding
    uint64_t registered, refused, released;
    //  Own bindings on disk (NULL: memory only, STORE_PROBLEM says why)
    cw_binding_store_t *store;
    char store_problem [600];
    s_answer_t *answers;    //  waiting for the next commit
    size_t answer_count, answer_cap;
    struct tmr commit_timer;
    //  Restored bindings: "aor\ncontact" -> s_unlicensed_t
    zhashx_t *unlicensed;
    uint64_t last_request;
    int64_t relicense_at;    //  wall clock ms: no license.acquire for them before
    uint64_t restored, dropped_expired, dropped_flows, dropped_invalid, dropped_late, relicensed, relicense_refused;
    int64_t restore_started;    //  zclock_mono
};

// ---------------------------------------------------------------------------
//  Configuration

// ---------------------------------------------------------------------------
//  Small helpers

static void
s_reply_warning (cw_registrar_t *self, const struct sip_msg *msg, uint16_t scode, const char *reason, const char *extra,
                 const char *text)
{
    char clean [400], headers [1024];
    cw_routing_warning_text (text, clean, sizeof clean);
    snprintf (headers, sizeof headers, "%sWarning: 399 causeway \"%s\"\r\n", extra ? extra : "", clean);
    cw_routing_reply (self->routing, msg, scode, reason, headers);
}

static int64_t
s_now (void)
{
    return zclock_time ();
}

// ---------------------------------------------------------------------------
//  Sync: flush soon after a change

static void s_schedule (cw_registrar_t *self);

static void
s_flush_timer (void *arg)
{
    cw_registrar_t *self = (cw_registrar_t *) arg;
    cw_location_sync_flush (self->sync, s_now ());
    s_schedule (self);
}

static void
s_schedule (cw_registrar_t *self)
{
    int64_t due = cw_location_sync_due (self->sync, s_now ());
    if (due >= 0 && !tmr_isrunning (&self->flush_timer))
        tmr_start (&self->flush_timer, (uint64_t) due, s_flush_timer, self);
}

// ---------------------------------------------------------------------------
//  The store: changes are committed together, the answers they acknowledge
//  go out after the commit

static void
s_store_flush (cw_registrar_t *self)
{
    tmr_cancel (&self->commit_timer);
    if (self->store)
        cw_binding_store_commit (self->store);
    //  An answer's send cannot add answers: take the list first
    s_answer_t *answers = self->answers;
    size_t count = self->answer_count;
    self->answers = NULL;
    self->answer_count = self->answer_cap = 0;
    for (size_t i = 0; i < count; i++) {
        cw_routing_reply (self->routing, answers [i].msg, answers [i].scode, answers [i].reason, answers [i].headers);
        mem_deref ((void *) answers [i].msg);
        free (answers [i].headers);
    }
    free (answers);
}

static void
s_commit_timer (void *arg)
{
    s_store_flush ((cw_registrar_t *) arg);
}

//  A change was queued: commit it soon
static void
s_store_schedule (cw_registrar_t *self)
{
    if (self->store && cw_binding_store_pending (self->store) && !tmr_isrunning (&self->commit_timer))
        tmr_start (&self->commit_timer, CW_REGISTRAR_COMMIT_MS, s_commit_timer, self);
}

//  Answer MSG now, or after the commit of the changes it made (when there
//  are changes waiting)
static void
s_answer (cw_registrar_t *self, const struct sip_msg *msg, uint16_t scode, const char *reason, const char *headers)
{
    if (!self->store || cw_binding_store_pending (self->store) == 0) {
        cw_routing_reply (self->routing, msg, scode, reason, headers);
        return;
    }
    if (self->answer_count == self->answer_cap) {
        size_t cap = self->answer_cap ? self->answer_cap * 2 : 64;
        s_answer_t *grown = (s_answer_t *) realloc (self->answers, cap * sizeof (s_answer_t));
        if (!grown) {
            s_store_flush (self);
            cw_routing_reply (self->routing, msg, scode, reason, headers);
            return;
        }
        self->answers = grown;
        self->answer_cap = cap;
    }
    s_answer_t *answer = &self->answers [self->answer_count++];
    answer->msg = (const struct sip_msg *) mem_ref ((void *) msg);
    answer->scode = scode;
    snprintf (answer->reason, sizeof answer->reason, "%s", reason);
    answer->headers = headers ? strdup (headers) : NULL;
    if (self->answer_count >= CW_REGISTRAR_COMMIT_BATCH)
        s_store_flush (self);
    else
        s_store_schedule (self);
}

static void
s_store_put (cw_registrar_t *self, const cw_binding_t *binding, const char *kind)
{
    if (self->store && cw_binding_store_put (self->store, binding, kind) == 0)
        s_store_schedule (self);
}

// ---------------------------------------------------------------------------
//  Licenses

static void
s_release (cw_registrar_t *self, const char *lease)
{
    if (!lease || !*lease)
        return;
    cw_actor_request (self->actor, "licensing", "license.release", json_pack ("{s:s}", "lease", lease), NULL, NULL, 0);
    self->released++;
}

static void
s_unlicensed_key (const char *aor, const char *contact, char *key, size_t size)
{
    snprintf (key, size, "%s\n%s", aor, contact);
}

//  The table's removal hook: the binding's lease goes back, and the
//  binding leaves the store
static void
s_on_removed (const cw_binding_t *binding, void *arg)
{
    cw_registrar_t *self = (cw_registrar_t *) arg;
    if (zhashx_size (self->unlicensed)) {
        char key [CW_LOCATION_AOR_MAX + CW_LOCATION_URI_MAX + 2];
        s_unlicensed_key (binding->aor, binding->contact, key, sizeof key);
        zhashx_delete (self->unlicensed, key);
    }
    if (self->store && cw_binding_store_remove (self->store, binding->aor, binding->contact) == 0)
        s_store_schedule (self);
    if (self->keep_lease [0] && strcmp (binding->license, self->keep_lease) == 0)
        return;
    s_release (self, binding->license);
}

//  A restored binding waiting for its license was replaced by another
//  contact of the same flow: the wait moves to it
static void
s_unlicensed_move (cw_registrar_t *self, const char *aor, const char *from, const char *to)
{
    char key [CW_LOCATION_AOR_MAX + CW_LOCATION_URI_MAX + 2];
    s_unlicensed_key (aor, from, key, sizeof key);
    s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_lookup (self->unlicensed, key);
    if (!entry)
        return;
    s_unlicensed_t copy = *entry;
    zhashx_delete (self->unlicensed, key);
    s_unlicensed_key (aor, to, key, sizeof key);
    s_unlicensed_t *moved = (s_unlicensed_t *) malloc (sizeof (s_unlicensed_t));
    if (!moved)
        return;
    *moved = copy;
    if (zhashx_insert (self->unlicensed, key, moved) != 0)
        free (moved);
}

// ---------------------------------------------------------------------------
//  Answering

//  The 200: every current own contact of the AOR
static void
s_reply_ok (cw_registrar_t *self, s_register_t *reg)
{
    cw_binding_t *own = (cw_binding_t *) malloc (CW_LOCATION_MAX_CONTACTS * sizeof (cw_binding_t));
    assert (own);
    size_t count = cw_location_own (self->table, reg->aor, own, CW_LOCATION_MAX_CONTACTS);
    int64_t now = s_now ();
    size_t size = 512 + count * (CW_LOCATION_URI_MAX + 200) + sizeof reg->path;
    char *headers = (char *) malloc (size);
    assert (headers);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        if (own [i].expires_ms <= now)
            continue;
        n += (size_t) snprintf (headers + n, size - n, "Contact: <%s>;expires=%" PRId64, own [i].contact,
                                (own [i].expires_ms - now + 999) / 1000);
        if (own [i].instance [0])
            n += (size_t) snprintf (headers + n, size - n, ";+sip.instance=\"%s\"", own [i].instance);
        if (own [i].reg_id)
            n += (size_t) snprintf (headers + n, size - n, ";reg-id=%d", own [i].reg_id);
        n += (size_t) snprintf (headers + n, size - n, "\r\n");
    }
    if (reg->path [0])
        n += (size_t) snprintf (headers + n, size - n, "Path: %s\r\n", reg->path);
    if (reg->outbound)
        n += (size_t) snprintf (headers + n, size - n, "Require: outbound\r\nFlow-Timer: %d\r\n",
                                CW_REGISTRAR_FLOW_TIMER_S);
    snprintf (headers + n, size - n, "Supported: path, outbound\r\n");
    s_answer (self, reg->msg, 200, "OK", headers);
    free (headers);
    free (own);
}

//  Apply REG's plan with LEASES (new licenses, in the order of the ops
//  that need one; NULL when none) and answer it.
static void
s_commit (cw_registrar_t *self, s_register_t *reg, json_t *leases)
{
    size_t next_lease = 0;
    bool full = false;
    if (reg->star) {
        cw_binding_t *own = (cw_binding_t *) malloc (CW_LOCATION_MAX_CONTACTS * sizeof (cw_binding_t));
        assert (own);
        size_t count = cw_location_own (self->table, reg->aor, own, CW_LOCATION_MAX_CONTACTS);
        for (size_t i = 0; i < count; i++)
            cw_location_remove (self->table, reg->aor, own [i].contact);
        free (own);
    }
    for (size_t i = 0; i < reg->count; i++) {
        s_op_t *op = &reg->ops [i];
        if (op->remove) {
            cw_location_remove (self->table, reg->aor, op->binding.contact);
            continue;
        }
        const char *lease = NULL;
        if (op->needs_license)
            lease = json_string_value (json_array_get (leases, next_lease++));
        //  The lease of the binding it refreshes or replaces carries over
        cw_binding_t old [CW_LOCATION_MAX_CONTACTS];
        size_t count = cw_location_own (self->table, reg->aor, old, CW_LOCATION_MAX_CONTACTS);
        const char *kept = NULL;
        for (size_t j = 0; j < count && !kept; j++)
            if ((strcmp (old [j].contact, op->binding.contact) == 0
                 || (op->replaces [0] && strcmp (old [j].contact, op->replaces) == 0))
                && old [j].license [0])
                kept = old [j].license;
        if (kept) {
            //  A binding that appeared while the licenses were asked for
            //  already has one: the new lease is not needed
            if (lease)
                s_release (self, lease);
            lease = kept;
        }
        snprintf (op->binding.license, sizeof op->binding.license, "%s", lease ? lease : "");
        if (op->replaces [0] && strcmp (op->replaces, op->binding.contact) != 0) {
            if (!op->binding.license [0])
                s_unlicensed_move (self, reg->aor, op->replaces, op->binding.contact);
            snprintf (self->keep_lease, sizeof self->keep_lease, "%s", op->binding.license);
            cw_location_remove (self->table, reg->aor, op->replaces);
            self->keep_lease [0] = 0;
        }
        if (cw_location_put (self->table, &op->binding) == 0) {
            full = true;
            if (op->binding.license [0] && !kept)
                s_release (self, op->binding.license);
        }
        else {
            self->registered++;
            s_store_put (self, &op->binding, reg->kind);
        }
    }
    s_schedule (self);
    if (full)
        s_answer (self, reg->msg, 503, "Service Unavailable",
                  "Retry-After: 60\r\nWarning: 399 causeway \"the location table is full\"\r\n");
    else
        s_reply_ok (self, reg);
}

static void
s_register_destroy (s_register_t **reg_p)
{
    s_register_t *reg = *reg_p;
    if (!reg)
        return;
    mem_deref ((void *) reg->msg);
    free (reg);
    *reg_p = NULL;
}

//  The licensing actor's answer
static void
s_licensed (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_register_t *reg = (s_register_t *) arg;
    cw_registrar_t *self = reg->registrar;
    zhashx_delete (self->waiting, reg->key);
    if (!ok) {
        const char *why = json_string_value (json_object_get (body, "error"));
        char text [300];
        snprintf (text, sizeof text, "no license: the licensing actor did not answer (%s)", why ? why : "no reason");
        cw_warn ("routing: REGISTER of %s refused: %s", reg->aor, text);
        self->refused++;
        s_reply_warning (self, reg->msg, 503, "Service Unavailable", "Retry-After: 30\r\n", text);
        s_register_destroy (&reg);
        return;
    }
    if (!json_is_true (json_object_get (body, "granted"))) {
        const char *why = json_string_value (json_object_get (body, "reason"));
        char text [300];
        snprintf (text, sizeof text, "no %s license: %s", reg->kind, why ? why : "refused");
        cw_info ("routing: REGISTER of %s refused: %s", reg->aor, text);
        self->refused++;
        s_reply_warning (self, reg->msg, 403, "Forbidden", NULL, text);
        s_register_destroy (&reg);
        return;
    }
    json_t *leases = json_object_get (body, "leases");
    json_t *single = NULL;
    if (!json_is_array (leases)) {
        single = json_pack ("[O]", json_object_get (body, "lease"));
        leases = single;
    }
    if (json_array_size (leases) != reg->licenses) {
        //  Not what was asked: give back what came, refuse
        size_t i;
        json_t *lease;
        json_array_foreach (leases, i, lease)
            s_release (self, json_string_value (lease));
        json_decref (single);
        s_reply_warning (self, reg->msg, 503, "Service Unavailable", "Retry-After: 30\r\n",
                         "no license: the licensing actor's answer did not match the request");
        s_register_destroy (&reg);
        return;
    }
    s_commit (self, reg, leases);
    json_decref (single);
    s_register_destroy (&reg);
}

// ---------------------------------------------------------------------------
//  REGISTER

typedef struct {
    cw_reg_contact_t *contacts;
    size_t count;
    bool bad;
} s_contacts_t;

static bool
s_contact_header (const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void) msg;
    s_contacts_t *c = (s_contacts_t *) arg;
    char value [2048];
    if (!cw_routing_pl_copy (&hdr->val, value, sizeof value)
        || cw_registrar_contacts_parse (value, c->contacts, CW_REGISTRAR_CONTACTS_MAX, &c->count) != 0) {
        c->bad = true;
        return true;    //  stop
    }
    return false;
}

typedef struct {
    char *out;
    size_t size;
    bool bad;
} s_join_t;

static bool
s_path_header (const struct sip_hdr *hdr, const struct sip_msg *msg, void *arg)
{
    (void) msg;
    s_join_t *join = (s_join_t *) arg;
    size_t n = strlen (join->out);
    int written = re_snprintf (join->out + n, join->size - n, "%s%r", n ? ", " : "", &hdr->val);
    if (written < 0 || n + (size_t) written + 1 >= join->size)
        join->bad = true;
    return join->bad;
}

static void
s_on_register (cw_routing_t *routing, const struct sip_msg *msg, const char *flow, void *arg)
{
    (void) routing;
    cw_registrar_t *self = (cw_registrar_t *) arg;
    s_register_t *reg = (s_register_t *) zmalloc (sizeof (s_register_t));
    reg->registrar = self;
    reg->msg = msg;
    char user [128], callid [128], why [600];
    if (!cw_routing_pl_copy (&msg->to.uri.host, reg->host, sizeof reg->host)
        || !cw_routing_pl_copy (&msg->to.uri.user, user, sizeof user)
        || cw_registrar_aor (user, reg->host, reg->aor, sizeof reg->aor) != 0
        || !cw_routing_pl_copy (&msg->callid, callid, sizeof callid)) {
        cw_routing_reply (self->routing, msg, 400, "Bad Request", NULL);
        free (reg);
        return;
    }
    //  The domain
    json_t *fallback = cw_routing_config (self->routing, "dns.domain");
    if (!cw_registrar_domain_served (cw_routing_config (self->routing, "sip.domains"), json_string_value (fallback),
                                     reg->host)) {
        snprintf (why, sizeof why, "%s is not a domain of this cluster (sip.domains)", reg->host);
        s_reply_warning (self, msg, 404, "Not Found", NULL, why);
        free (reg);
        return;
    }
    //  Who asks: digest authentication when sip.auth.required is on, the
    //  registration policy always (when an auth module is configured)
    if (self->auth) {
        if (cw_auth_required (self->auth)) {
            char auth_user [128] = "", challenge [1024] = "";
            switch (cw_auth_check (self->auth, msg, NULL, false, auth_user, sizeof auth_user, challenge,
                                   sizeof challenge)) {
                case CW_AUTH_OK:
                    break;
                case CW_AUTH_CHALLENGE:
                    cw_routing_reply (self->routing, msg, 401, "Unauthorized", challenge);
                    free (reg);
                    return;
                case CW_AUTH_FORBIDDEN:
                    cw_routing_reply (self->routing, msg, 403, "Forbidden", NULL);
                    free (reg);
                    return;
            }
            if (strcmp (auth_user, user) != 0) {
                snprintf (why, sizeof why, "%s may not register %s", auth_user, reg->aor);
                s_reply_warning (self, msg, 403, "Forbidden", NULL, why);
                free (reg);
                return;
            }
        }
        char reason [256] = "";
        if (!cw_auth_may_register (self->auth, reg->aor, reason, sizeof reason)) {
            s_reply_warning (self, msg, 403, "Forbidden", NULL, reason [0] ? reason : "registration not allowed");
            free (reg);
            return;
        }
    }
    //  The contacts
    cw_reg_contact_t contacts [CW_REGISTRAR_CONTACTS_MAX];
    s_contacts_t parsed = { contacts, 0, false };
    sip_msg_hdr_apply (msg, true, SIP_HDR_CONTACT, s_contact_header, &parsed);
    int64_t header_expires = -1;
    if (pl_isset (&msg->expires)) {
        char text [16];
        header_expires = cw_routing_pl_copy (&msg->expires, text, sizeof text) ? s_number (text, strlen (text)) : -1;
        if (header_expires < 0) {
            s_reply_warning (self, msg, 400, "Bad Request", NULL, "malformed Expires");
            free (reg);
            return;
        }
    }
    if (parsed.bad) {
        s_reply_warning (self, msg, 400, "Bad Request", NULL, "malformed Contact (or too many contacts)");
        free (reg);
        return;
    }
    if (cw_registrar_check_star (contacts, parsed.count, header_expires, why, sizeof why) != 0) {
        s_reply_warning (self, msg, 400, "Bad Request", NULL, why);
        free (reg);
        return;
    }
    int64_t min = cw_routing_config_int (self->routing, "sip.registration.min_expires", 60);
    int64_t max = cw_routing_config_int (self->routing, "sip.registration.max_expires", 3600);
    int64_t dflt = cw_routing_config_int (self->routing, "sip.registration.default_expires", 3600);
    bool outbound_supported = sip_msg_hdr_has_value (msg, SIP_HDR_SUPPORTED, "outbound");
    char user_agent [128] = "";
    const struct sip_hdr *ua = sip_msg_hdr (msg, SIP_HDR_USER_AGENT);
    if (ua && !cw_routing_pl_copy (&ua->val, user_agent, sizeof user_agent))
        memcpy (user_agent, ua->val.p, sizeof user_agent - 1);
    s_join_t path = { reg->path, sizeof reg->path, false };
    sip_msg_hdr_apply (msg, true, SIP_HDR_PATH, s_path_header, &path);
    if (path.bad) {
        s_reply_warning (self, msg, 400, "Bad Request", NULL, "Path too long");
        free (reg);
        return;
    }
    snprintf (reg->key, sizeof reg->key, "%s %" PRIu32, callid, msg->cseq.num);
    snprintf (reg->kind, sizeof reg->kind, "%s",
              cw_registrar_license_kind (cw_routing_config (self->routing, "sip.registration.room_system_agents"),
                                         user_agent));
    //  Plan each contact; nothing changes before every one is accepted
    cw_binding_t own [CW_LOCATION_MAX_CONTACTS];
    size_t own_count = cw_location_own (self->table, reg->aor, own, CW_LOCATION_MAX_CONTACTS);
    int64_t now = s_now ();
    char transport [8] = "", source [64] = "";
    snprintf (transport, sizeof transport, "%s", sip_transp_name (msg->tp));
    for (char *t = transport; *t; t++)
        *t = (char) tolower ((unsigned char) *t);
    re_snprintf (source, sizeof source, "%J", &msg->src);
    for (size_t i = 0; i < parsed.count; i++) {
        cw_reg_contact_t *c = &contacts [i];
        if (c->star) {
            reg->star = true;
            for (size_t j = 0; j < own_count; j++)
                if (!cw_registrar_in_order (own [j].call_id, own [j].cseq, callid, msg->cseq.num)) {
                    cw_routing_reply (self->routing, msg, 500, "Server Internal Error", NULL);
                    free (reg);
                    return;
                }
            continue;
        }
        int64_t expires = cw_registrar_expiry (c->expires, header_expires, min, max, dflt);
        if (expires < 0) {
            char headers [64];
            snprintf (headers, sizeof headers, "Min-Expires: %" PRId64 "\r\n", min < 1 ? 1 : min);
            cw_routing_reply (self->routing, msg, 423, "Interval Too Brief", headers);
            free (reg);
            return;
        }
        s_op_t *op = &reg->ops [reg->count++];
        cw_binding_t *b = &op->binding;
        snprintf (b->aor, sizeof b->aor, "%s", reg->aor);
        snprintf (b->contact, sizeof b->contact, "%s", c->uri);
        op->remove = expires == 0;
        bool is_outbound = outbound_supported && c->instance [0] && c->reg_id > 0;
        reg->outbound |= is_outbound && !op->remove;
        //  The binding it updates: the same contact, or the same flow
        bool known = false;
        for (size_t j = 0; j < own_count; j++) {
            bool same = strcmp (own [j].contact, c->uri) == 0;
            bool same_flow = is_outbound && strcmp (own [j].instance, c->instance) == 0 && own [j].reg_id == c->reg_id;
            if (!same && !same_flow)
                continue;
            if (!cw_registrar_in_order (own [j].call_id, own [j].cseq, callid, msg->cseq.num)) {
                cw_routing_reply (self->routing, msg, 500, "Server Internal Error", NULL);
                free (reg);
                return;
            }
            known = true;
            if (!same && !op->remove)
                snprintf (op->replaces, sizeof op->replaces, "%s", own [j].contact);
        }
        if (op->remove)
            continue;
        b->expires_ms = now + expires * 1000;
        if (c->instance [0])
            snprintf (b->instance, sizeof b->instance, "%s", c->instance);
        b->reg_id = is_outbound ? c->reg_id : 0;
        snprintf (b->path, sizeof b->path, "%s", reg->path);
        snprintf (b->transport, sizeof b->transport, "%s", transport);
        snprintf (b->source, sizeof b->source, "%s", source);
        if (is_outbound && flow)
            snprintf (b->flow, sizeof b->flow, "%s", flow);
        snprintf (b->user_agent, sizeof b->user_agent, "%s", user_agent);
        snprintf (b->call_id, sizeof b->call_id, "%s", callid);
        b->cseq = msg->cseq.num;
        op->needs_license = !known;
        reg->licenses += op->needs_license;
    }
    if (reg->licenses == 0) {
        s_commit (self, reg, NULL);
        free (reg);
        return;
    }
    if (zhashx_lookup (self->waiting, reg->key)) {
        free (reg);    //  a retransmission: the first is waiting for its licenses
        return;
    }
    json_t *args = json_pack ("{s:s, s:I}", "kind", reg->kind, "count", (json_int_t) reg->licenses);
    if (cw_actor_request (self->actor, "licensing", "license.acquire", args, s_licensed, reg,
                          CW_REGISTRAR_LICENSE_TIMEOUT_MS)
        != 0) {
        s_reply_warning (self, msg, 503, "Service Unavailable", "Retry-After: 30\r\n",
                         "no license: the licensing actor cannot be asked");
        free (reg);
        return;
    }
    reg->msg = (const struct sip_msg *) mem_ref ((void *) msg);
    zhashx_insert (self->waiting, reg->key, reg);
}

// ---------------------------------------------------------------------------
//  Restart: the own bindings of the instance before this one

//  A stored binding, read back at start
static bool
s_restore (const cw_binding_t *stored, const char *kind, void *arg)
{
    cw_registrar_t *self = (cw_registrar_t *) arg;
    //  A TCP or TLS flow was a connection of the process that died: gone
    if (strncmp (stored->flow, "tcp:", 4) == 0 || strncmp (stored->flow, "tls:", 4) == 0) {
        self->dropped_flows++;
        return false;
    }
    //  READY must come in time (causewayd kills an actor that is not ready
    //  within 10 s): what cannot be restored within the budget is dropped
    if (self->dropped_late || zclock_mono () - self->restore_started > CW_REGISTRAR_RESTORE_BUDGET_MS) {
        self->dropped_late++;
        return false;
    }
    //  Its lease went with that process (licensing frees a stopped actor's)
    cw_binding_t binding = *stored;
    binding.license [0] = 0;
    if (cw_location_put (self->table, &binding) == 0) {
        self->dropped_invalid++;
        return false;
    }
    char key [CW_LOCATION_AOR_MAX + CW_LOCATION_URI_MAX + 2];
    s_unlicensed_key (binding.aor, binding.contact, key, sizeof key);
    s_unlicensed_t *entry = (s_unlicensed_t *) zmalloc (sizeof (s_unlicensed_t));
    snprintf (entry->kind, sizeof entry->kind, "%s", *kind ? kind : "desktop_systems");
    if (zhashx_insert (self->unlicensed, key, entry) != 0)
        free (entry);
    self->restored++;
    return true;
}

//  One license.acquire for restored bindings
typedef struct {
    cw_registrar_t *registrar;
    uint64_t id;
    char kind [CW_BINDING_STORE_KIND_MAX];
} s_relicense_t;

//  The keys of the restored bindings asked for by request ID, as a new list
static zlistx_t *
s_asked_by (cw_registrar_t *self, uint64_t id)
{
    zlistx_t *keys = zlistx_new ();
    zlistx_set_destructor (keys, (czmq_destructor *) zstr_free);
    for (s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_first (self->unlicensed); entry;
         entry = (s_unlicensed_t *) zhashx_next (self->unlicensed))
        if (entry->asked_by == id)
            zlistx_add_end (keys, strdup ((const char *) zhashx_cursor (self->unlicensed)));
    return keys;
}

//  Give the restored binding of KEY its LEASE; false when the binding is
//  no longer there or already has one
static bool
s_relicense_one (cw_registrar_t *self, const char *key, const char *kind, const char *lease)
{
    const char *nl = strchr (key, '\n');
    if (!nl || (size_t) (nl - key) >= CW_LOCATION_AOR_MAX)
        return false;
    char aor [CW_LOCATION_AOR_MAX];
    memcpy (aor, key, (size_t) (nl - key));
    aor [nl - key] = 0;
    cw_binding_t *own = (cw_binding_t *) malloc (CW_LOCATION_MAX_CONTACTS * sizeof (cw_binding_t));
    if (!own)
        return false;
    size_t count = cw_location_own (self->table, aor, own, CW_LOCATION_MAX_CONTACTS);
    bool done = false;
    for (size_t i = 0; i < count && !done; i++) {
        if (strcmp (own [i].contact, nl + 1) != 0 || own [i].license [0])
            continue;
        snprintf (own [i].license, sizeof own [i].license, "%s", lease);
        done = cw_location_put (self->table, &own [i]) > 0;
        if (done)
            s_store_put (self, &own [i], kind);
    }
    free (own);
    return done;
}

static void
s_relicensed (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_relicense_t *request = (s_relicense_t *) arg;
    cw_registrar_t *self = request->registrar;
    zlistx_t *keys = s_asked_by (self, request->id);
    json_t *leases = json_object_get (body, "leases");
    bool granted = ok && json_is_true (json_object_get (body, "granted"));
    if (ok && !granted) {
        //  Refused: these registrations cannot stay without a license
        const char *why = json_string_value (json_object_get (body, "reason"));
        size_t dropped = 0;
        for (char *key = (char *) zlistx_first (keys); key; key = (char *) zlistx_next (keys)) {
            char *nl = strchr (key, '\n');
            zhashx_delete (self->unlicensed, key);
            if (!nl)
                continue;
            *nl = 0;
            dropped += cw_location_remove (self->table, key, nl + 1) > 0;
        }
        self->relicense_refused += dropped;
        cw_warn ("routing: %zu restored registration(s) dropped: no %s license: %s", dropped, request->kind,
                 why ? why : "refused");
        s_schedule (self);
    }
    else if (!granted || !json_is_array (leases)) {
        //  No answer (licensing restarting?), or not what was asked: again later
        const char *why = json_string_value (json_object_get (body, "error"));
        s_release (self, json_string_value (json_object_get (body, "lease")));
        for (char *key = (char *) zlistx_first (keys); key; key = (char *) zlistx_next (keys)) {
            s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_lookup (self->unlicensed, key);
            if (entry)
                entry->asked_by = 0;
        }
        self->relicense_at = s_now () + CW_REGISTRAR_RELICENSE_RETRY_MS;
        cw_warn ("routing: licenses of %zu restored registration(s) not granted yet (%s); asking again in %d ms",
                 zlistx_size (keys),
                 granted ? "the answer has no list of leases"
                 : why   ? why
                         : "no answer",
                 CW_REGISTRAR_RELICENSE_RETRY_MS);
    }
    else {
        //  One lease per binding still waiting; the leases of bindings gone
        //  meanwhile go back; a binding left without one is asked for again
        size_t next = 0;
        for (char *key = (char *) zlistx_first (keys); key; key = (char *) zlistx_next (keys)) {
            const char *lease = json_string_value (json_array_get (leases, next));
            if (!lease) {
                s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_lookup (self->unlicensed, key);
                if (entry)
                    entry->asked_by = 0;
                continue;
            }
            next++;
            zhashx_delete (self->unlicensed, key);
            if (s_relicense_one (self, key, request->kind, lease))
                self->relicensed++;
            else
                s_release (self, lease);
        }
        for (; next < json_array_size (leases); next++)
            s_release (self, json_string_value (json_array_get (leases, next)));
        s_schedule (self);
        if (zhashx_size (self->unlicensed) == 0)
            cw_info ("routing: every restored registration has its license again relicensed=%llu dropped=%llu",
                     (unsigned long long) self->relicensed, (unsigned long long) self->relicense_refused);
    }
    zlistx_destroy (&keys);
    free (request);
}

//  Ask for the licenses of restored bindings (on the tick: after READY, so
//  the licensing actor has already dropped what the previous instance held)
static void
s_relicense (cw_registrar_t *self, int64_t now_ms)
{
    if (zhashx_size (self->unlicensed) == 0 || now_ms < self->relicense_at)
        return;
    for (int batch = 0; batch < CW_REGISTRAR_RELICENSE_BATCHES; batch++) {
        //  Up to CW_REGISTRAR_RELICENSE_COUNT of the kind of the first not asked
        s_relicense_t *request = NULL;
        size_t count = 0;
        for (s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_first (self->unlicensed);
             entry && count < CW_REGISTRAR_RELICENSE_COUNT; entry = (s_unlicensed_t *) zhashx_next (self->unlicensed)) {
            if (entry->asked_by)
                continue;
            if (!request) {
                request = (s_relicense_t *) zmalloc (sizeof (s_relicense_t));
                request->registrar = self;
                request->id = ++self->last_request;
                snprintf (request->kind, sizeof request->kind, "%s", entry->kind);
            }
            if (strcmp (entry->kind, request->kind) != 0)
                continue;
            entry->asked_by = request->id;
            count++;
        }
        if (!request)
            return;
        json_t *args = json_pack ("{s:s, s:I}", "kind", request->kind, "count", (json_int_t) count);
        if (cw_actor_request (self->actor, "licensing", "license.acquire", args, s_relicensed, request,
                              CW_REGISTRAR_LICENSE_TIMEOUT_MS)
            != 0) {
            for (s_unlicensed_t *entry = (s_unlicensed_t *) zhashx_first (self->unlicensed); entry;
                 entry = (s_unlicensed_t *) zhashx_next (self->unlicensed))
                if (entry->asked_by == request->id)
                    entry->asked_by = 0;
            free (request);
            self->relicense_at = now_ms + CW_REGISTRAR_RELICENSE_RETRY_MS;
            return;
        }
    }
}

//  Open the store and read back what the previous instance registered
static void
s_store_open (cw_registrar_t *self)
{
    const cw_bootstrap_t *boot = cw_actor_bootstrap (self->actor);
    const char *boot_id = getenv ("CAUSEWAY_BOOT_ID");
    char own_id [64];
    if (!boot_id || !*boot_id) {
        //  Run by hand: every start is a node start
        snprintf (own_id, sizeof own_id, "%d-%lld", (int) getpid (), (long long) zclock_time ());
        boot_id = own_id;
    }
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", boot && boot->node.runtime_dir ? boot->node.runtime_dir : ".",
              CW_BINDING_STORE_FILE);
    bool wiped = false;
    char *damaged = NULL;
    self->store = cw_binding_store_open (path, boot_id, &wiped, &damaged, self->store_problem,
                                         sizeof self->store_problem);
    if (!self->store) {
        cw_error ("routing: registrations are kept in memory only (they do not survive a restart of the routing "
                  "actor): %s",
                  self->store_problem);
        return;
    }
    if (damaged) {
        snprintf (self->store_problem, sizeof self->store_problem, "%s", damaged);
        free (damaged);
    }
    size_t expired = 0, invalid = 0;
    self->restore_started = zclock_mono ();
    cw_binding_store_load (self->store, s_now (), s_restore, self, &expired, &invalid);
    self->dropped_expired = expired;
    self->dropped_invalid += invalid;
    if (self->restored || expired || invalid || self->dropped_flows || self->dropped_invalid)
        cw_info ("routing: registrations restored from %s restored=%llu expired=%zu lost_connections=%llu "
                 "invalid=%llu ms=%lld",
                 path, (unsigned long long) self->restored, expired, (unsigned long long) self->dropped_flows,
                 (unsigned long long) self->dropped_invalid, (long long) (zclock_mono () - self->restore_started));
    if (self->dropped_late)
        cw_warn ("routing: %llu stored registration(s) dropped: not restored within %d ms (their endpoints "
                 "register again at their next refresh)",
                 (unsigned long long) self->dropped_late, CW_REGISTRAR_RESTORE_BUDGET_MS);
    else if (wiped)
        cw_info ("routing: registrations of an earlier node start cleared path=%s", path);
}

// ---------------------------------------------------------------------------
//  Hooks

static void
s_on_flow_closed (cw_routing_t *routing, const char *flow, void *arg)
{
    (void) routing;
    cw_registrar_t *self = (cw_registrar_t *) arg;
    size_t removed = cw_location_remove_flow (self->table, flow);
    if (removed) {
        cw_info ("routing: flow %s closed: %zu binding(s) removed", flow, removed);
        s_schedule (self);
    }
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    cw_registrar_t *self = (cw_registrar_t *) arg;
    if (cw_location_expire (self->table, now_ms))
        s_schedule (self);
    cw_location_sync_tick (self->sync, now_ms, cw_routing_this_peer (routing), cw_routing_peer_count (routing),
                           cw_routing_alive_fn, routing);
    s_relicense (self, now_ms);
    s_schedule (self);
}

static void
s_on_event (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    cw_registrar_t *self = (cw_registrar_t *) arg;
    if (strcmp (topic, "cluster.routing.location") == 0)
        cw_location_sync_event (self->sync, body);
}

// ---------------------------------------------------------------------------
//  Commands

static cw_reply_status_t
s_cmd_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_registrar_t *self = (cw_registrar_t *) arg;
    json_t *aor_json = json_object_get (args, "aor");
    json_t *peer_json = json_object_get (args, "peer");
    if ((aor_json && !json_is_string (aor_json) && !json_is_null (aor_json))
        || (peer_json && !json_is_integer (peer_json) && !json_is_null (peer_json))) {
        *reply = cw_error_body ("registrations.list: 'aor' is a string and 'peer' a peer number (1..%d)",
                                CW_LOCATION_PEERS);
        return CW_REPLY_ERROR;
    }
    int peer = json_is_integer (peer_json) ? (int) json_integer_value (peer_json) : 0;
    if (peer < 0 || peer > CW_LOCATION_PEERS) {
        *reply = cw_error_body ("registrations.list: 'peer' must be 1..%d", CW_LOCATION_PEERS);
        return CW_REPLY_ERROR;
    }
    //  The AOR as stored: "sip:" and a lower-case domain
    char aor [CW_LOCATION_AOR_MAX] = "";
    const char *given = json_string_value (aor_json);
    if (given && *given) {
        snprintf (aor, sizeof aor, "%s%s", strncasecmp (given, "sip:", 4) == 0 ? "" : "sip:", given);
        memcpy (aor, "sip:", 4);
        char *at = strchr (aor, '@');
        for (char *p = at ? at : aor + 4; *p; p++)
            *p = (char) tolower ((unsigned char) *p);
    }
    json_t *list = cw_location_list (self->table, aor [0] ? aor : NULL, peer, s_now ());
    size_t i;
    json_t *row;
    json_array_foreach (list, i, row) {
        int owner = (int) json_integer_value (json_object_get (row, "peer"));
        json_object_set_new (row, "usable", json_boolean (cw_routing_peer_alive (self->routing, owner)));
    }
    *reply = json_pack ("{s:o}", "registrations", list);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_dump (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_registrar_t *self = (cw_registrar_t *) arg;
    char err [256];
    *reply = cw_location_dump_args (self->table, args, s_now (), err, sizeof err);
    if (!*reply) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "registrations.list", s_cmd_list, CW_CMD_IDEMPOTENT,
      "the registrations of every peer {aor?, peer?}: aor, contact, peer, expires, instance, reg_id, transport, "
      "source" },
    { "routing.location.dump", s_cmd_dump, CW_CMD_IDEMPOTENT,
      "this peer's own bindings with its epoch and last change (for the other peers); {peer, page, snapshot?}: "
      "one page of a snapshot" },
    { NULL, NULL, 0, NULL },
};

// ---------------------------------------------------------------------------
//  Life cycle

cw_registrar_t *
cw_registrar_new (cw_routing_t *routing, cw_auth_t *auth, char *err, size_t errlen)
{
    cw_registrar_t *self = (cw_registrar_t *) zmalloc (sizeof (cw_registrar_t));
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    self->auth = auth;
    self->table = cw_location_new (cw_routing_this_peer (routing), (uint64_t) zclock_time ());
    self->sync = cw_location_sync_new (self->actor, self->table);
    self->waiting = zhashx_new ();
    self->unlicensed = zhashx_new ();
    zhashx_set_destructor (self->unlicensed, (czmq_destructor *) zstr_free);
    tmr_init (&self->flush_timer);
    tmr_init (&self->commit_timer);
    s_store_open (self);
    cw_location_on_remove (self->table, s_on_removed, self);
    if (cw_routing_on_method (routing, "REGISTER", s_on_register, self) != 0) {
        snprintf (err, errlen, "REGISTER is already handled by another module");
        cw_registrar_destroy (&self);
        return NULL;
    }
    if (cw_actor_commands (self->actor, s_commands, self) != 0) {
        snprintf (err, errlen, "the registrar's commands cannot be declared");
        cw_registrar_destroy (&self);
        return NULL;
    }
    cw_routing_on_flow_closed (routing, s_on_flow_closed, self);
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_routing_on_event (routing, "cluster.routing.", s_on_event, self);
    return self;
}

void
cw_registrar_destroy (cw_registrar_t **self_p)
{
    cw_registrar_t *self = *self_p;
    if (!self)
        return;
    tmr_cancel (&self->flush_timer);
    //  A license.acquire for restored bindings still waiting is failed (it
    //  only marks them to be asked again) and freed while the table is here
    cw_actor_fail_requests (self->actor, s_relicensed, "the routing actor is stopping");
    //  What was acknowledged is written; the answers waiting for it go out
    s_store_flush (self);
    for (s_register_t *reg = (s_register_t *) zhashx_first (self->waiting); reg;
         reg = (s_register_t *) zhashx_next (self->waiting))
        s_register_destroy (&reg);
    zhashx_destroy (&self->waiting);
    //  The leases go with the actor (licensing frees an exiting actor's)
    cw_location_on_remove (self->table, NULL, NULL);
    cw_location_sync_destroy (&self->sync);
    cw_location_destroy (&self->table);
    cw_binding_store_destroy (&self->store);
    zhashx_destroy (&self->unlicensed);
    free (self);
    *self_p = NULL;
}

cw_location_t *
cw_registrar_location (cw_registrar_t *self)
{
    return self->table;
}

json_t *
cw_registrar_status (cw_registrar_t *self)
{
    json_t *per_peer = json_object ();
    for (int peer = 1; peer <= CW_LOCATION_PEERS; peer++) {
        size_t count = cw_location_count (self->table, peer);
        if (count) {
            char name [8];
            snprintf (name, sizeof name, "%d", peer);
            json_object_set_new (per_peer, name, json_integer ((json_int_t) count));
        }
    }
    json_t *store = json_pack (
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "path",
        self->store ? cw_binding_store_path (self->store) : "", "state",
        self->store ? "ok" : "memory only: registrations do not survive a restart of the routing actor", "commits",
        (json_int_t) (self->store ? cw_binding_store_commits (self->store) : 0), "write_failures",
        (json_int_t) (self->store ? cw_binding_store_failures (self->store) : 0), "restored",
        (json_int_t) self->restored, "dropped_expired", (json_int_t) self->dropped_expired, "dropped_lost_connections",
        (json_int_t) self->dropped_flows, "dropped_invalid", (json_int_t) self->dropped_invalid, "dropped_late",
        (json_int_t) self->dropped_late, "awaiting_license", (json_int_t) zhashx_size (self->unlicensed),
        "licenses_reacquired", (json_int_t) self->relicensed, "dropped_no_license",
        (json_int_t) self->relicense_refused, "answers_waiting", (json_int_t) self->answer_count);
    if (self->store_problem [0])
        json_object_set_new (store, "problem", json_string (self->store_problem));
    return json_pack ("{s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:o}", "bindings",
                      (json_int_t) cw_location_count (self->table, 0), "per_peer", per_peer, "sync",
                      cw_location_sync_status (self->sync), "pending", (json_int_t) zhashx_size (self->waiting),
                      "registered", (json_int_t) self->registered, "refused", (json_int_t) self->refused, "released",
                      (json_int_t) self->released, "store", store);
}

#endif
