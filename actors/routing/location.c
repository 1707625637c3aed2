/*  location.c - the cluster-wide location table (see location.h).

    A zhashx maps each AOR to a small array of its bindings (every owner's);
    a second zhashx maps each flow of this peer to the own bindings that
    use it, so a lost connection removes its bindings without a scan. Per
    owner the table keeps the epoch and the last change applied, and the
    number of bindings. This peer's own changes are numbered and kept,
    serialised, in a ring for changes_since.

    Expiry of own bindings scans the table only when the earliest known
    expiry has passed (the earliest is kept as bindings are put), so the
    routing actor may call it on every tick.
*/
#include "location.h"

#include <czmq.h>
#include <inttypes.h>
#include <string.h>

#define S_LOG (CW_LOCATION_LOG)

typedef struct _s_aor_t s_aor_t;

//  A binding as stored: strings allocated to size (NULL for "")
typedef struct {
    s_aor_t *record;    //  its AOR
    char *contact;
    int owner;
    int64_t expires_ms;
    char *instance;
    int reg_id;
    char *path;
    char transport [8];
    char *source;
    char *flow;
    char *user_agent;
    char *call_id;
    uint32_t cseq;
    char *license;
} s_binding_t;

//  One AOR: its bindings, every owner's. AOR is also its key in the hash.
struct _s_aor_t {
    char *aor;
    s_binding_t **items;
    size_t count;
    size_t cap;
};

//  A flow of this peer: the own bindings that use it
typedef struct {
    s_binding_t **items;
    size_t count;
    size_t cap;
} s_flow_t;

typedef struct {
    uint64_t epoch;
    uint64_t seq;
} s_owner_t;

struct _cw_location_t {
    int this_peer;
    uint64_t epoch;                              //  own epoch
    uint64_t seq;                                //  own last change
    zhashx_t *aors;                              //  aor -> s_aor_t
    zhashx_t *flows;                             //  flow -> s_flow_t
    s_owner_t owners [CW_LOCATION_PEERS + 1];    //  others' epoch and seq
    size_t counts [CW_LOCATION_PEERS + 1];       //  bindings per owner
    size_t total;
    int64_t next_expiry_ms;    //  no own binding expires before
    char **log;                //  own changes, by seq % S_LOG
    cw_location_removed_fn *removed;
    void *removed_arg;
};

// ---------------------------------------------------------------------------
//  Bindings: stored form, cw_binding_t, JSON

static char *
s_dup (const char *text)
{
    return text && *text ? strdup (text) : NULL;
}

static void
s_copy (char *dest, size_t size, const char *text)
{
    snprintf (dest, size, "%s", text ? text : "");
}

static void
s_binding_destroy (s_binding_t **self_p)
{
    s_binding_t *self = *self_p;
    if (!self)
        return;
    free (self->contact);
    free (self->instance);
    free (self->path);
    free (self->source);
    free (self->flow);
    free (self->user_agent);
    free (self->call_id);
    free (self->license);
    free (self);
    *self_p = NULL;
}

static void
s_binding_fill (s_binding_t *self, const cw_binding_t *b, int owner)
{
    free (self->contact);
    free (self->instance);
    free (self->path);
    free (self->source);
    free (self->flow);
    free (self->user_agent);
    free (self->call_id);
    free (self->license);
    self->contact = s_dup (b->contact);
    self->owner = owner;
    self->expires_ms = b->expires_ms;
    self->instance = s_dup (b->instance);
    self->reg_id = b->reg_id;
    self->path = s_dup (b->path);
    s_copy (self->transport, sizeof self->transport, b->transport);
    self->source = s_dup (b->source);
    self->flow = s_dup (b->flow);
    self->user_agent = s_dup (b->user_agent);
    self->call_id = s_dup (b->call_id);
    self->cseq = b->cseq;
    self->license = s_dup (b->license);
}

static void
s_binding_export (const s_binding_t *self, const char *aor, cw_binding_t *out)
{
    memset (out, 0, sizeof *out);
    s_copy (out->aor, sizeof out->aor, aor);
    s_copy (out->contact, sizeof out->contact, self->contact);
    out->owner = self->owner;
    out->expires_ms = self->expires_ms;
    s_copy (out->instance, sizeof out->instance, self->instance);
    out->reg_id = self->reg_id;
    s_copy (out->path, sizeof out->path, self->path);
    s_copy (out->transport, sizeof out->transport, self->transport);
    s_copy (out->source, sizeof out->source, self->source);
    s_copy (out->flow, sizeof out->flow, self->flow);
    s_copy (out->user_agent, sizeof out->user_agent, self->user_agent);
    s_copy (out->call_id, sizeof out->call_id, self->call_id);
    out->cseq = self->cseq;
    s_copy (out->license, sizeof out->license, self->license);
}

static const char *
s_str (const char *text)
{
    return text ? text : "";
}

//  The wire form of a binding (its owner is the message's)
static json_t *
s_binding_json (const s_binding_t *self, const char *aor)
{
    return json_pack ("{s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "aor", aor, "contact",
                      s_str (self->contact), "expires_ms", (json_int_t) self->expires_ms, "instance",
                      s_str (self->instance), "reg_id", self->reg_id, "path", s_str (self->path), "transport",
                      self->transport, "source", s_str (self->source), "flow", s_str (self->flow), "user_agent",
                      s_str (self->user_agent), "call_id", s_str (self->call_id), "cseq", (json_int_t) self->cseq,
                      "license", s_str (self->license));
}

//  Copy the string member NAME of OBJECT into DEST; false when it is
//  present but not a string or too long (absent = "").
static bool
s_take (json_t *object, const char *name, char *dest, size_t size, bool required)
{
    json_t *value = json_object_get (object, name);
    if (!value) {
        dest [0] = 0;
        return !required;
    }
    const char *text = json_string_value (value);
    if (!text || json_string_length (value) >= size || strlen (text) != json_string_length (value))
        return false;
    memcpy (dest, text, json_string_length (value) + 1);
    return !required || dest [0];
}

//  Parse the wire form of a binding into OUT; false when malformed.
static bool
s_binding_parse (json_t *object, cw_binding_t *out)
{
    memset (out, 0, sizeof *out);
    if (!json_is_object (object))
        return false;
    json_t *expires = json_object_get (object, "expires_ms");
    json_t *reg_id = json_object_get (object, "reg_id");
    json_t *cseq = json_object_get (object, "cseq");
    if (!json_is_integer (expires) || (reg_id && !json_is_integer (reg_id)) || (cseq && !json_is_integer (cseq)))
        return false;
    out->expires_ms = json_integer_value (expires);
    json_int_t id = reg_id ? json_integer_value (reg_id) : 0;
    json_int_t number = cseq ? json_integer_value (cseq) : 0;
    if (id < 0 || id > INT32_MAX || number < 0 || number > UINT32_MAX)
        return false;
    out->reg_id = (int) id;
    out->cseq = (uint32_t) number;
    return s_take (object, "aor", out->aor, sizeof out->aor, true)
        && s_take (object, "contact", out->contact, sizeof out->contact, true)
        && s_take (object, "instance", out->instance, sizeof out->instance, false)
        && s_take (object, "path", out->path, sizeof out->path, false)
        && s_take (object, "transport", out->transport, sizeof out->transport, false)
        && s_take (object, "source", out->source, sizeof out->source, false)
        && s_take (object, "flow", out->flow, sizeof out->flow, false)
        && s_take (object, "user_agent", out->user_agent, sizeof out->user_agent, false)
        && s_take (object, "call_id", out->call_id, sizeof out->call_id, false)
        && s_take (object, "license", out->license, sizeof out->license, false);
}

// ---------------------------------------------------------------------------
//  The flow index (own bindings only)

static void
s_flow_add (cw_location_t *self, s_binding_t *binding)
{
    if (!binding->flow)
        return;
    s_flow_t *flow = (s_flow_t *) zhashx_lookup (self->flows, binding->flow);
    if (!flow) {
        flow = (s_flow_t *) zmalloc (sizeof (s_flow_t));
        zhashx_insert (self->flows, binding->flow, flow);
    }
    if (flow->count == flow->cap) {
        flow->cap = flow->cap ? flow->cap * 2 : 2;
        flow->items = (s_binding_t **) realloc (flow->items, flow->cap * sizeof (s_binding_t *));
        assert (flow->items);
    }
    flow->items [flow->count++] = binding;
}

static void
s_flow_remove (cw_location_t *self, s_binding_t *binding)
{
    if (!binding->flow)
        return;
    s_flow_t *flow = (s_flow_t *) zhashx_lookup (self->flows, binding->flow);
    if (!flow)
        return;
    for (size_t i = 0; i < flow->count; i++)
        if (flow->items [i] == binding) {
            flow->items [i] = flow->items [--flow->count];
            break;
        }
    if (flow->count == 0) {
        free (flow->items);
        free (flow);
        zhashx_delete (self->flows, binding->flow);
    }
}

// ---------------------------------------------------------------------------
//  AOR records

static s_aor_t *
s_aor_get (cw_location_t *self, const char *aor, bool create)
{
    s_aor_t *record = (s_aor_t *) zhashx_lookup (self->aors, aor);
    if (!record && create) {
        record = (s_aor_t *) zmalloc (sizeof (s_aor_t));
        record->aor = strdup (aor);
        zhashx_insert (self->aors, record->aor, record);
    }
    return record;
}

static void
s_aor_free (s_aor_t **record_p)
{
    s_aor_t *record = *record_p;
    for (size_t i = 0; i < record->count; i++)
        s_binding_destroy (&record->items [i]);
    free (record->items);
    free (record->aor);
    free (record);
    *record_p = NULL;
}

//  Drop RECORD from the table when it has no binding left
static void
s_aor_release (cw_location_t *self, s_aor_t *record)
{
    if (record->count > 0)
        return;
    zhashx_delete (self->aors, record->aor);
    s_aor_free (&record);
}

static s_binding_t *
s_aor_find (s_aor_t *record, const char *contact, int owner, size_t *index)
{
    for (size_t i = 0; record && i < record->count; i++) {
        s_binding_t *b = record->items [i];
        if (b->owner == owner && strcmp (s_str (b->contact), contact) == 0) {
            if (index)
                *index = i;
            return b;
        }
    }
    return NULL;
}

static size_t
s_aor_owned (s_aor_t *record, int owner)
{
    size_t count = 0;
    for (size_t i = 0; record && i < record->count; i++)
        count += record->items [i]->owner == owner;
    return count;
}

//  Insert or update BINDING of OWNER; false when the table is full.
static bool
s_upsert (cw_location_t *self, const cw_binding_t *binding, int owner, bool limit_contacts)
{
    s_aor_t *record = s_aor_get (self, binding->aor, false);
    s_binding_t *found = s_aor_find (record, binding->contact, owner, NULL);
    if (found) {
        if (owner == self->this_peer)
            s_flow_remove (self, found);
        s_binding_fill (found, binding, owner);
    }
    else {
        if (self->total >= CW_LOCATION_MAX_BINDINGS)
            return false;
        if (limit_contacts && s_aor_owned (record, owner) >= CW_LOCATION_MAX_CONTACTS)
            return false;
        record = s_aor_get (self, binding->aor, true);
        found = (s_binding_t *) zmalloc (sizeof (s_binding_t));
        found->record = record;
        s_binding_fill (found, binding, owner);
        if (record->count == record->cap) {
            record->cap = record->cap ? record->cap * 2 : 2;
            record->items = (s_binding_t **) realloc (record->items, record->cap * sizeof (s_binding_t *));
            assert (record->items);
        }
        record->items [record->count++] = found;
        self->counts [owner]++;
        self->total++;
    }
    if (owner == self->this_peer) {
        s_flow_add (self, found);
        if (found->expires_ms < self->next_expiry_ms)
            self->next_expiry_ms = found->expires_ms;
    }
    return true;
}

//  Remove the binding at INDEX of RECORD (RECORD may go).
static void
s_delete_at (cw_location_t *self, s_aor_t *record, size_t index)
{
    s_binding_t *b = record->items [index];
    if (b->owner == self->this_peer) {
        if (self->removed) {
            cw_binding_t copy;
            s_binding_export (b, record->aor, &copy);
            self->removed (&copy, self->removed_arg);
        }
        s_flow_remove (self, b);
    }
    self->counts [b->owner]--;
    self->total--;
    s_binding_destroy (&b);
    record->items [index] = record->items [--record->count];
}

// ---------------------------------------------------------------------------
//  Own change log

static uint64_t
s_log (cw_location_t *self, json_t *change)
{
    uint64_t seq = ++self->seq;
    json_object_set_new (change, "seq", json_integer ((json_int_t) seq));
    char **slot = &self->log [seq % S_LOG];
    free (*slot);
    *slot = json_dumps (change, JSON_COMPACT);
    json_decref (change);
    return seq;
}

static uint64_t
s_log_put (cw_location_t *self, const char *aor, const char *contact)
{
    s_aor_t *record = s_aor_get (self, aor, false);
    s_binding_t *b = s_aor_find (record, contact, self->this_peer, NULL);
    assert (b);
    return s_log (self, json_pack ("{s:s, s:o}", "op", "put", "binding", s_binding_json (b, aor)));
}

static uint64_t
s_log_del (cw_location_t *self, const char *aor, const char *contact)
{
    return s_log (self, json_pack ("{s:s, s:s, s:s}", "op", "del", "aor", aor, "contact", contact));
}

// ---------------------------------------------------------------------------
//  Life cycle

static bool
s_valid_owner (int owner)
{
    return owner >= 1 && owner <= CW_LOCATION_PEERS;
}

cw_location_t *
cw_location_new (int this_peer, uint64_t epoch)
{
    cw_location_t *self = (cw_location_t *) zmalloc (sizeof (cw_location_t));
    self->this_peer = s_valid_owner (this_peer) ? this_peer : 1;
    self->epoch = epoch;
    self->aors = zhashx_new ();
    self->flows = zhashx_new ();
    //  The AOR record's own string is its key
    zhashx_set_key_duplicator (self->aors, NULL);
    zhashx_set_key_destructor (self->aors, NULL);
    self->log = (char **) calloc (S_LOG, sizeof (char *));
    assert (self->aors && self->flows && self->log);
    self->next_expiry_ms = INT64_MAX;
    return self;
}

void
cw_location_destroy (cw_location_t **self_p)
{
    cw_location_t *self = *self_p;
    if (!self)
        return;
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record; record = (s_aor_t *) zhashx_next (self->aors))
        s_aor_free (&record);
    zhashx_destroy (&self->aors);
    for (s_flow_t *flow = (s_flow_t *) zhashx_first (self->flows); flow;
         flow = (s_flow_t *) zhashx_next (self->flows)) {
        free (flow->items);
        free (flow);
    }
    zhashx_destroy (&self->flows);
    for (size_t i = 0; i < S_LOG; i++)
        free (self->log [i]);
    free (self->log);
    free (self);
    *self_p = NULL;
}

int
cw_location_this_peer (cw_location_t *self)
{
    return self->this_peer;
}

void
cw_location_on_remove (cw_location_t *self, cw_location_removed_fn *fn, void *arg)
{
    self->removed = fn;
    self->removed_arg = arg;
}

void
cw_location_set_this_peer (cw_location_t *self, int this_peer)
{
    if (!s_valid_owner (this_peer) || this_peer == self->this_peer)
        return;
    cw_location_forget (self, this_peer);
    int old = self->this_peer;
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record; record = (s_aor_t *) zhashx_next (self->aors))
        for (size_t i = 0; i < record->count; i++)
            if (record->items [i]->owner == old)
                record->items [i]->owner = this_peer;
    self->counts [this_peer] = self->counts [old];
    self->counts [old] = 0;
    self->owners [old].epoch = 0;
    self->owners [old].seq = 0;
    self->this_peer = this_peer;
}

// ---------------------------------------------------------------------------
//  Own bindings

uint64_t
cw_location_put (cw_location_t *self, const cw_binding_t *binding)
{
    if (!binding->aor [0] || !binding->contact [0] || !memchr (binding->aor, 0, sizeof binding->aor)
        || !memchr (binding->contact, 0, sizeof binding->contact))
        return 0;
    if (!s_upsert (self, binding, self->this_peer, true))
        return 0;
    return s_log_put (self, binding->aor, binding->contact);
}

uint64_t
cw_location_remove (cw_location_t *self, const char *aor, const char *contact)
{
    s_aor_t *record = s_aor_get (self, aor, false);
    size_t index;
    if (!s_aor_find (record, contact, self->this_peer, &index))
        return 0;
    s_delete_at (self, record, index);
    s_aor_release (self, record);
    return s_log_del (self, aor, contact);
}

size_t
cw_location_remove_flow (cw_location_t *self, const char *flow)
{
    if (!flow || !*flow)
        return 0;
    size_t removed = 0;
    s_flow_t *set;
    //  Each removal edits (and finally frees) the flow's set: look it up again
    while ((set = (s_flow_t *) zhashx_lookup (self->flows, flow)) != NULL) {
        s_binding_t *b = set->items [0];
        char *aor = strdup (b->record->aor);
        char *contact = strdup (s_str (b->contact));
        cw_location_remove (self, aor, contact);
        free (aor);
        free (contact);
        removed++;
    }
    return removed;
}

size_t
cw_location_expire (cw_location_t *self, int64_t now_ms)
{
    if (now_ms < self->next_expiry_ms)
        return 0;
    //  Collect first: removing edits the hash being walked
    zlistx_t *gone = zlistx_new ();
    zlistx_set_destructor (gone, (czmq_destructor *) zstr_free);
    int64_t next = INT64_MAX;
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record; record = (s_aor_t *) zhashx_next (self->aors))
        for (size_t i = 0; i < record->count; i++) {
            s_binding_t *b = record->items [i];
            if (b->owner != self->this_peer)
                continue;
            if (b->expires_ms <= now_ms) {
                zlistx_add_end (gone, strdup (record->aor));
                zlistx_add_end (gone, strdup (s_str (b->contact)));
            }
            else if (b->expires_ms < next)
                next = b->expires_ms;
        }
    self->next_expiry_ms = next;
    size_t removed = 0;
    for (char *aor = (char *) zlistx_first (gone); aor; aor = (char *) zlistx_next (gone)) {
        char *contact = (char *) zlistx_next (gone);
        removed += cw_location_remove (self, aor, contact) > 0;
    }
    zlistx_destroy (&gone);
    return removed;
}

// ---------------------------------------------------------------------------
//  Lookups

//  Ordering of lookup results: the latest expiry first
static int
s_by_expiry (const void *a, const void *b)
{
    const cw_binding_t *x = (const cw_binding_t *) a, *y = (const cw_binding_t *) b;
    return x->expires_ms < y->expires_ms ? 1 : x->expires_ms > y->expires_ms ? -1 : 0;
}

//  Is A a better binding of the same instance than B?
static bool
s_better (cw_location_t *self, const s_binding_t *a, const s_binding_t *b)
{
    if ((a->owner == self->this_peer) != (b->owner == self->this_peer))
        return a->owner == self->this_peer;
    return a->expires_ms > b->expires_ms;
}

size_t
cw_location_lookup (cw_location_t *self, const char *aor, int64_t now_ms, cw_location_alive_fn *alive, void *arg,
                    cw_binding_t *out, size_t max)
{
    s_aor_t *record = s_aor_get (self, aor, false);
    if (!record)
        return 0;
    s_binding_t **usable = (s_binding_t **) malloc ((record->count + 1) * sizeof (s_binding_t *));
    assert (usable);
    size_t count = 0;
    for (size_t i = 0; i < record->count; i++) {
        s_binding_t *b = record->items [i];
        if (b->expires_ms <= now_ms)
            continue;
        if (b->owner != self->this_peer && alive && !alive (b->owner, arg))
            continue;
        //  One binding per outbound instance (and reg-id): the best one
        bool replaced = false;
        if (b->instance)
            for (size_t j = 0; j < count; j++)
                if (usable [j]->instance && strcmp (usable [j]->instance, b->instance) == 0
                    && usable [j]->reg_id == b->reg_id) {
                    if (s_better (self, b, usable [j]))
                        usable [j] = b;
                    replaced = true;
                    break;
                }
        if (!replaced)
            usable [count++] = b;
    }
    size_t n = count < max ? count : max;
    cw_binding_t *all = (cw_binding_t *) malloc ((count + 1) * sizeof (cw_binding_t));
    assert (all);
    for (size_t i = 0; i < count; i++)
        s_binding_export (usable [i], record->aor, &all [i]);
    qsort (all, count, sizeof (cw_binding_t), s_by_expiry);
    memcpy (out, all, n * sizeof (cw_binding_t));
    free (all);
    free (usable);
    return n;
}

size_t
cw_location_own (cw_location_t *self, const char *aor, cw_binding_t *out, size_t max)
{
    s_aor_t *record = s_aor_get (self, aor, false);
    size_t n = 0;
    for (size_t i = 0; record && i < record->count && n < max; i++)
        if (record->items [i]->owner == self->this_peer)
            s_binding_export (record->items [i], record->aor, &out [n++]);
    return n;
}

typedef struct {
    const char *aor;
    const s_binding_t *binding;
} s_row_t;

static int
s_by_row (const void *a, const void *b)
{
    const s_row_t *x = (const s_row_t *) a, *y = (const s_row_t *) b;
    int c = strcmp (x->aor, y->aor);
    if (c)
        return c;
    if (x->binding->owner != y->binding->owner)
        return x->binding->owner - y->binding->owner;
    return strcmp (s_str (x->binding->contact), s_str (y->binding->contact));
}

static void
s_collect (s_aor_t *record, int owner, int64_t now_ms, s_row_t **rows, size_t *count, size_t *cap)
{
    for (size_t i = 0; i < record->count; i++) {
        s_binding_t *b = record->items [i];
        if (b->expires_ms <= now_ms || (owner && b->owner != owner))
            continue;
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *rows = (s_row_t *) realloc (*rows, *cap * sizeof (s_row_t));
            assert (*rows);
        }
        (*rows) [(*count)++] = (s_row_t){ record->aor, b };
    }
}

json_t *
cw_location_list (cw_location_t *self, const char *aor, int owner, int64_t now_ms)
{
    s_row_t *rows = NULL;
    size_t count = 0, cap = 0;
    if (aor && *aor) {
        s_aor_t *record = s_aor_get (self, aor, false);
        if (record)
            s_collect (record, owner, now_ms, &rows, &count, &cap);
    }
    else
        for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record;
             record = (s_aor_t *) zhashx_next (self->aors))
            s_collect (record, owner, now_ms, &rows, &count, &cap);
    if (count)
        qsort (rows, count, sizeof (s_row_t), s_by_row);
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        const s_binding_t *b = rows [i].binding;
        json_int_t left = (json_int_t) ((b->expires_ms - now_ms + 999) / 1000);
        json_array_append_new (list, json_pack ("{s:s, s:s, s:i, s:I, s:s, s:i, s:s, s:s, s:s, s:s}", "aor",
                                                rows [i].aor, "contact", s_str (b->contact), "peer", b->owner,
                                                "expires", left, "instance", s_str (b->instance), "reg_id", b->reg_id,
                                                "transport", b->transport, "source", s_str (b->source), "path",
                                                s_str (b->path), "user_agent", s_str (b->user_agent)));
    }
    free (rows);
    return list;
}

size_t
cw_location_count (cw_location_t *self, int owner)
{
    if (owner == 0)
        return self->total;
    return s_valid_owner (owner) ? self->counts [owner] : 0;
}

// ---------------------------------------------------------------------------
//  Between peers

json_t *
cw_location_changes_since (cw_location_t *self, uint64_t seq, size_t max)
{
    if (seq >= self->seq)
        return NULL;
    uint64_t first = seq + 1;
    uint64_t oldest = self->seq >= S_LOG ? self->seq - S_LOG + 1 : 1;
    if (first < oldest)
        first = oldest;
    if (max == 0 || max > S_LOG)
        max = S_LOG;
    uint64_t last = self->seq - first + 1 > max ? first + max - 1 : self->seq;
    json_t *changes = json_array ();
    for (uint64_t s = first; s <= last; s++) {
        json_t *change = json_loads (self->log [s % S_LOG], 0, NULL);
        assert (change);
        json_array_append_new (changes, change);
    }
    return json_pack ("{s:i, s:I, s:I, s:I, s:o}", "owner", self->this_peer, "epoch", (json_int_t) self->epoch,
                      "from_seq", (json_int_t) first, "to_seq", (json_int_t) last, "changes", changes);
}

json_t *
cw_location_dump (cw_location_t *self)
{
    json_t *bindings = json_array ();
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record; record = (s_aor_t *) zhashx_next (self->aors))
        for (size_t i = 0; i < record->count; i++)
            if (record->items [i]->owner == self->this_peer)
                json_array_append_new (bindings, s_binding_json (record->items [i], record->aor));
    return json_pack ("{s:i, s:I, s:I, s:o}", "owner", self->this_peer, "epoch", (json_int_t) self->epoch, "seq",
                      (json_int_t) self->seq, "bindings", bindings);
}

//  Read the owner, epoch and one sequence member of a message
static bool
s_header (json_t *msg, const char *seq_name, int *owner, uint64_t *epoch, uint64_t *seq)
{
    json_t *o = json_object_get (msg, "owner"), *e = json_object_get (msg, "epoch"),
           *s = json_object_get (msg, seq_name);
    if (!json_is_integer (o) || !json_is_integer (e) || !json_is_integer (s) || json_integer_value (e) < 0
        || json_integer_value (s) < 0 || !s_valid_owner ((int) json_integer_value (o))
        || json_integer_value (o) != (int) json_integer_value (o))
        return false;
    *owner = (int) json_integer_value (o);
    *epoch = (uint64_t) json_integer_value (e);
    *seq = (uint64_t) json_integer_value (s);
    return true;
}

//  One change of a message, parsed
typedef struct {
    bool put;
    cw_binding_t binding;    //  put: all of it; del: aor and contact
} s_change_t;

static bool
s_change_parse (json_t *change, uint64_t want_seq, s_change_t *out)
{
    json_t *seq = json_object_get (change, "seq");
    const char *op = json_string_value (json_object_get (change, "op"));
    if (!json_is_integer (seq) || (uint64_t) json_integer_value (seq) != want_seq || !op)
        return false;
    if (strcmp (op, "put") == 0) {
        out->put = true;
        return s_binding_parse (json_object_get (change, "binding"), &out->binding);
    }
    if (strcmp (op, "del") == 0) {
        out->put = false;
        memset (&out->binding, 0, sizeof out->binding);
        return s_take (change, "aor", out->binding.aor, sizeof out->binding.aor, true)
            && s_take (change, "contact", out->binding.contact, sizeof out->binding.contact, true);
    }
    return false;
}

static void
s_remote_delete (cw_location_t *self, int owner, const char *aor, const char *contact)
{
    s_aor_t *record = s_aor_get (self, aor, false);
    size_t index;
    if (s_aor_find (record, contact, owner, &index)) {
        s_delete_at (self, record, index);
        s_aor_release (self, record);
    }
}

cw_location_result_t
cw_location_apply (cw_location_t *self, json_t *msg)
{
    int owner;
    uint64_t epoch, from, to;
    json_t *changes = json_object_get (msg, "changes");
    if (!json_is_object (msg) || !s_header (msg, "from_seq", &owner, &epoch, &from)
        || !s_header (msg, "to_seq", &owner, &epoch, &to) || !json_is_array (changes) || from == 0 || to + 1 < from
        || json_array_size (changes) != to + 1 - from)
        return CW_LOCATION_INVALID;
    if (owner == self->this_peer)
        return CW_LOCATION_STALE;
    s_owner_t *known = &self->owners [owner];
    bool first_heard = known->epoch == 0 && known->seq == 0 && from == 1;
    if (epoch != known->epoch && !first_heard)
        return epoch < known->epoch ? CW_LOCATION_STALE : CW_LOCATION_GAP;
    if (to <= known->seq)
        return CW_LOCATION_STALE;
    if (from > known->seq + 1)
        return CW_LOCATION_GAP;
    //  Parse every change first: a malformed message changes nothing
    size_t skip = (size_t) (known->seq + 1 - from);
    size_t count = json_array_size (changes) - skip;
    s_change_t *parsed = (s_change_t *) malloc ((count + 1) * sizeof (s_change_t));
    assert (parsed);
    for (size_t i = 0; i < count; i++)
        if (!s_change_parse (json_array_get (changes, skip + i), known->seq + 1 + i, &parsed [i])) {
            free (parsed);
            return CW_LOCATION_INVALID;
        }
    for (size_t i = 0; i < count; i++)
        if (parsed [i].put)
            s_upsert (self, &parsed [i].binding, owner, false);
        else
            s_remote_delete (self, owner, parsed [i].binding.aor, parsed [i].binding.contact);
    free (parsed);
    known->epoch = epoch;
    known->seq = to;
    return CW_LOCATION_APPLIED;
}

cw_location_result_t
cw_location_load (cw_location_t *self, json_t *dump)
{
    int owner;
    uint64_t epoch, seq;
    json_t *bindings = json_object_get (dump, "bindings");
    if (!json_is_object (dump) || !s_header (dump, "seq", &owner, &epoch, &seq) || !json_is_array (bindings)
        || owner == self->this_peer)
        return CW_LOCATION_INVALID;
    size_t count = json_array_size (bindings);
    cw_binding_t *parsed = (cw_binding_t *) malloc ((count + 1) * sizeof (cw_binding_t));
    assert (parsed);
    for (size_t i = 0; i < count; i++)
        if (!s_binding_parse (json_array_get (bindings, i), &parsed [i])) {
            free (parsed);
            return CW_LOCATION_INVALID;
        }
    cw_location_forget (self, owner);
    for (size_t i = 0; i < count; i++)
        s_upsert (self, &parsed [i], owner, false);
    free (parsed);
    self->owners [owner].epoch = epoch;
    self->owners [owner].seq = seq;
    return CW_LOCATION_APPLIED;
}

void
cw_location_forget (cw_location_t *self, int owner)
{
    if (!s_valid_owner (owner) || owner == self->this_peer)
        return;
    self->owners [owner].epoch = 0;
    self->owners [owner].seq = 0;
    if (self->counts [owner] == 0)
        return;
    zlistx_t *empty = zlistx_new ();
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record;
         record = (s_aor_t *) zhashx_next (self->aors)) {
        for (size_t i = 0; i < record->count;)
            if (record->items [i]->owner == owner)
                s_delete_at (self, record, i);
            else
                i++;
        if (record->count == 0)
            zlistx_add_end (empty, record);
    }
    for (s_aor_t *record = (s_aor_t *) zlistx_first (empty); record; record = (s_aor_t *) zlistx_next (empty))
        s_aor_release (self, record);
    zlistx_destroy (&empty);
}

uint64_t
cw_location_seq (cw_location_t *self, int owner, uint64_t *epoch)
{
    if (owner == self->this_peer) {
        if (epoch)
            *epoch = self->epoch;
        return self->seq;
    }
    if (!s_valid_owner (owner)) {
        if (epoch)
            *epoch = 0;
        return 0;
    }
    if (epoch)
        *epoch = self->owners [owner].epoch;
    return self->owners [owner].seq;
}
