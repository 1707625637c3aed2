/*  location.c - the cluster-wide location table (see location.h).

    A zhashx maps each AOR to a small array of its bindings (every owner's);
    a second zhashx maps each flow of this peer to the own bindings that
    use it, so a lost connection removes its bindings without a scan. Per
    owner the table keeps the epoch and the last change applied, and the
    number of bindings. This peer's own changes are numbered and kept as
    compact text records in a ring for changes_since (their JSON is made
    only to send them).

    A peer pulling the table gets a snapshot of the own bindings as text
    records cut into pages (snapshots, one per puller); a peer taking
    another's pages upserts each page's bindings with the load's mark, and
    after the last page removes that owner's bindings without it.

    Expiry of own bindings scans the table only when the earliest known
    expiry has passed (the earliest is kept as bindings are put), so the
    routing actor may call it on every tick.
*/
#include "location.h"

#include <czmq.h>
#include <errno.h>
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
    uint32_t mark;    //  the load that last carried it (another owner's)
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

//  Another owner's snapshot being loaded, page by page
typedef struct {
    uint64_t snapshot, epoch, seq;
    size_t pages, received;
    bool *seen;
    uint32_t mark;
} s_load_t;

//  A growing text (records, log entries)
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_text_t;

//  A snapshot of the own table taken for one peer that pulls it in pages:
//  the records' text, where each page starts, what was served
typedef struct {
    char *text;
    size_t *starts;    //  PAGES + 1 offsets into TEXT
    size_t *counts;    //  records per page
    bool *served;
    size_t pages;
    size_t served_count;
    uint64_t id;
    uint64_t seq;
    int64_t taken_ms;
} s_snapshot_t;

struct _cw_location_t {
    int this_peer;
    uint64_t epoch;                              //  own epoch
    uint64_t seq;                                //  own last change
    zhashx_t *aors;                              //  aor -> s_aor_t
    zhashx_t *flows;                             //  flow -> s_flow_t
    s_owner_t owners [CW_LOCATION_PEERS + 1];    //  others' epoch and seq
    size_t counts [CW_LOCATION_PEERS + 1];       //  bindings per owner
    size_t total;
    int64_t next_expiry_ms;                            //  no own binding expires before
    char **log;                                        //  own changes, by seq % S_LOG
    s_text_t scratch;                                  //  where a log entry is made
    s_snapshot_t snapshots [CW_LOCATION_PEERS + 1];    //  by the peer pulling
    uint64_t snapshot_id;
    s_load_t loads [CW_LOCATION_PEERS + 1];    //  another owner's snapshot coming in
    uint32_t mark;
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
    size_t n = text ? strlen (text) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy (dest, text, n);
    dest [n] = 0;
}

//  *FIELD becomes a copy of VALUE (NULL for ""), kept when it is the same
static void
s_set (char **field, const char *value)
{
    if (*field && value && strcmp (*field, value) == 0)
        return;
    free (*field);
    *field = s_dup (value);
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
    s_set (&self->contact, b->contact);
    self->owner = owner;
    self->expires_ms = b->expires_ms;
    s_set (&self->instance, b->instance);
    self->reg_id = b->reg_id;
    s_set (&self->path, b->path);
    s_copy (self->transport, sizeof self->transport, b->transport);
    s_set (&self->source, b->source);
    s_set (&self->flow, b->flow);
    s_set (&self->user_agent, b->user_agent);
    s_set (&self->call_id, b->call_id);
    self->cseq = b->cseq;
    s_set (&self->license, b->license);
}

static void
s_binding_export (const s_binding_t *self, const char *aor, cw_binding_t *out)
{
    //  Every member is written (no memset of the whole, 2 KB)
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

//  Insert or update BINDING of OWNER; the binding as stored, or NULL when
//  the table is full.
static s_binding_t *
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
            return NULL;
        if (limit_contacts && s_aor_owned (record, owner) >= CW_LOCATION_MAX_CONTACTS)
            return NULL;
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
    return found;
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
//  Records: the compact text form of a binding in a dump page
//
//  One line per binding, its fields separated by one space: aor contact
//  expires_ms instance reg_id path transport source flow user_agent
//  call_id cseq license. In a field every byte that is not printable
//  ASCII, and space, '%', '"' and '\', is written %XX, so the text needs no
//  escaping inside a JSON string but the line ends.

static void
s_text_reserve (s_text_t *text, size_t more)
{
    if (text->len + more <= text->cap)
        return;
    size_t cap = text->cap ? text->cap : 65536;
    while (cap < text->len + more)
        cap *= 2;
    text->data = (char *) realloc (text->data, cap);
    assert (text->data);
    text->cap = cap;
}

static void
s_text_field (s_text_t *text, const char *value, char end)
{
    static const char hex [] = "0123456789ABCDEF";
    size_t length = value ? strlen (value) : 0;
    s_text_reserve (text, length * 3 + 1);
    char *out = text->data + text->len;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) value [i];
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '"' || c == '\\') {
            *out++ = '%';
            *out++ = hex [c >> 4];
            *out++ = hex [c & 15];
        }
        else
            *out++ = (char) c;
    }
    *out++ = end;
    text->len = (size_t) (out - text->data);
}

static void
s_text_number (s_text_t *text, int64_t value, char end)
{
    s_text_reserve (text, 24);
    char digits [24];
    size_t n = 0;
    uint64_t magnitude = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;
    do
        digits [n++] = (char) ('0' + magnitude % 10);
    while (magnitude /= 10);
    char *out = text->data + text->len;
    if (value < 0)
        *out++ = '-';
    while (n)
        *out++ = digits [--n];
    *out++ = end;
    text->len = (size_t) (out - text->data);
}

//  OWNER_ONLY: with what only the owner uses (Call-ID, CSeq, lease)
static void
s_record_write (s_text_t *text, const s_binding_t *b, const char *aor, bool owner_only)
{
    s_text_field (text, aor, ' ');
    s_text_field (text, b->contact, ' ');
    s_text_number (text, b->expires_ms, ' ');
    s_text_field (text, b->instance, ' ');
    s_text_number (text, b->reg_id, ' ');
    s_text_field (text, b->path, ' ');
    s_text_field (text, b->transport, ' ');
    s_text_field (text, b->source, ' ');
    s_text_field (text, b->flow, ' ');
    s_text_field (text, b->user_agent, ' ');
    s_text_field (text, owner_only ? b->call_id : NULL, ' ');
    s_text_number (text, owner_only ? b->cseq : 0, ' ');
    s_text_field (text, owner_only ? b->license : NULL, '\n');
}

static int
s_hex (char c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                : -1;
}

//  Read one field at *AT (up to END) into DEST (SIZE bytes with its NUL)
//  and step over the separator SEP; false when malformed or too long.
static bool
s_record_field (const char **at, const char *end, char sep, char *dest, size_t size)
{
    const char *p = *at;
    size_t n = 0;
    while (p < end && *p != sep) {
        char c = *p++;
        if (c == ' ' || c == '\n')
            return false;
        if (c == '%') {
            if (end - p < 2 || s_hex (p [0]) < 0 || s_hex (p [1]) < 0)
                return false;
            c = (char) (s_hex (p [0]) * 16 + s_hex (p [1]));
            if (c == 0)
                return false;
            p += 2;
        }
        if (n + 1 >= size)
            return false;
        dest [n++] = c;
    }
    if (p >= end)
        return false;
    dest [n] = 0;
    *at = p + 1;
    return true;
}

static bool
s_record_number (const char **at, const char *end, char sep, int64_t min, int64_t max, int64_t *value)
{
    char digits [24];
    if (!s_record_field (at, end, sep, digits, sizeof digits) || !digits [0])
        return false;
    char *stop;
    errno = 0;
    long long number = strtoll (digits, &stop, 10);
    if (*stop || errno || number < min || number > max)
        return false;
    *value = number;
    return true;
}

//  Parse the record at *AT (its line ends before END) into OUT and step to
//  the next line; false when malformed.
static bool
s_record_parse (const char **at, const char *end, cw_binding_t *out)
{
    int64_t expires, reg_id, cseq;
    bool ok = s_record_field (at, end, ' ', out->aor, sizeof out->aor)
           && s_record_field (at, end, ' ', out->contact, sizeof out->contact)
           && s_record_number (at, end, ' ', INT64_MIN, INT64_MAX, &expires)
           && s_record_field (at, end, ' ', out->instance, sizeof out->instance)
           && s_record_number (at, end, ' ', 0, INT32_MAX, &reg_id)
           && s_record_field (at, end, ' ', out->path, sizeof out->path)
           && s_record_field (at, end, ' ', out->transport, sizeof out->transport)
           && s_record_field (at, end, ' ', out->source, sizeof out->source)
           && s_record_field (at, end, ' ', out->flow, sizeof out->flow)
           && s_record_field (at, end, ' ', out->user_agent, sizeof out->user_agent)
           && s_record_field (at, end, ' ', out->call_id, sizeof out->call_id)
           && s_record_number (at, end, ' ', 0, UINT32_MAX, &cseq)
           && s_record_field (at, end, '\n', out->license, sizeof out->license);
    if (!ok || !out->aor [0] || !out->contact [0])
        return false;
    out->owner = 0;
    out->expires_ms = expires;
    out->reg_id = (int) reg_id;
    out->cseq = (uint32_t) cseq;
    return true;
}

//  In a page, records are shorter: a field equal to the previous record's
//  (in the same page) is "%" alone (a literal '%' is always "%25"); an AOR
//  whose domain is the previous record's ends in "@%"; a contact that
//  begins with its AOR up to the '@' is "~" and the rest, and "~=" when
//  the rest is the source address (a literal '~' first, or '=' after the
//  '~', is escaped); expires_ms is relative to the page's "base_ms"; the
//  owner's own fields (Call-ID, CSeq, lease) are left out.

//  The length of AOR's "sip:user@" (0 when it has no '@')
static size_t
s_aor_prefix (const char *aor)
{
    const char *at = strchr (aor, '@');
    return at ? (size_t) (at - aor) + 1 : 0;
}

static void
s_text_raw (s_text_t *text, const char *raw, size_t length)
{
    s_text_reserve (text, length);
    memcpy (text->data + text->len, raw, length);
    text->len += length;
}

//  Does TEXT's first LENGTH bytes need no escaping?
static bool
s_plain (const char *text, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static void
s_page_field (s_text_t *text, const char *value, const char *prev, char end)
{
    if (value && *value && prev && strcmp (value, prev) == 0) {
        char ditto [2] = { '%', end };
        s_text_raw (text, ditto, 2);
    }
    else
        s_text_field (text, value, end);
}

static void
s_page_record_write (s_text_t *text, const s_binding_t *b, const char *aor, const s_binding_t *prev, int64_t base_ms)
{
    size_t prefix = s_aor_prefix (aor);
    const char *prev_aor = prev ? prev->record->aor : NULL;
    size_t prev_prefix = prev_aor ? s_aor_prefix (prev_aor) : 0;
    if (prefix && prev_prefix && aor [prefix] && s_plain (aor, prefix)
        && strcmp (aor + prefix, prev_aor + prev_prefix) == 0) {
        //  "sip:user@" and the previous domain
        char *user = strndup (aor, prefix);
        assert (user);
        s_text_field (text, user, '%');
        free (user);
        s_text_raw (text, " ", 1);
    }
    else
        s_text_field (text, aor, ' ');
    const char *contact = s_str (b->contact);
    if (prefix && strncmp (contact, aor, prefix) == 0) {
        const char *rest = contact + prefix;
        if (b->source && strcmp (rest, b->source) == 0)
            s_text_raw (text, "~= ", 3);
        else {
            s_text_raw (text, rest [0] == '=' ? "~%3D" : "~", rest [0] == '=' ? 4 : 1);
            s_text_field (text, rest [0] == '=' ? rest + 1 : rest, ' ');
        }
    }
    else {
        if (contact [0] == '~')
            s_text_raw (text, "%7E", 3);
        s_text_field (text, contact [0] == '~' ? contact + 1 : contact, ' ');
    }
    s_text_number (text, b->expires_ms - base_ms, ' ');
    s_page_field (text, b->instance, prev ? prev->instance : NULL, ' ');
    s_text_number (text, b->reg_id, ' ');
    s_page_field (text, b->path, prev ? prev->path : NULL, ' ');
    s_page_field (text, b->transport, prev ? prev->transport : NULL, ' ');
    s_page_field (text, b->source, prev ? prev->source : NULL, ' ');
    s_page_field (text, b->flow, prev ? prev->flow : NULL, ' ');
    s_page_field (text, b->user_agent, prev ? prev->user_agent : NULL, '\n');
}

//  A field of a page record: "%" alone takes PREV's (NULL: none, malformed)
static bool
s_page_field_parse (const char **at, const char *end, char sep, char *dest, size_t size, const char *prev)
{
    if (end - *at >= 2 && (*at) [0] == '%' && (*at) [1] == sep) {
        if (!prev || !*prev)
            return false;
        snprintf (dest, size, "%s", prev);
        *at += 2;
        return true;
    }
    return s_record_field (at, end, sep, dest, size);
}

//  Parse a page record at *AT into OUT (PREV: the previous record of the
//  page, or NULL); false when malformed.
static bool
s_page_record_parse (const char **at, const char *end, cw_binding_t *out, const cw_binding_t *prev, int64_t base_ms)
{
    //  The AOR, maybe with the previous one's domain
    const char *space = memchr (*at, ' ', (size_t) (end - *at));
    if (!space)
        return false;
    if (space - *at >= 2 && space [-1] == '%' && space [-2] == '@') {
        size_t prev_prefix = prev ? s_aor_prefix (prev->aor) : 0;
        if (!prev_prefix || !prev->aor [prev_prefix])
            return false;
        //  "sip:user@" is the field but its last character
        const char *stop = space - 1;
        if (!s_record_field (at, stop + 1, '%', out->aor, sizeof out->aor) || *at != stop + 1)
            return false;
        size_t n = strlen (out->aor);
        if (n + strlen (prev->aor + prev_prefix) >= sizeof out->aor)
            return false;
        strcpy (out->aor + n, prev->aor + prev_prefix);
        *at = space + 1;
    }
    else if (!s_record_field (at, end, ' ', out->aor, sizeof out->aor))
        return false;
    size_t prefix = s_aor_prefix (out->aor);
    if (!out->aor [0])
        return false;
    //  The contact (when it is the source address, filled in below)
    bool from_source = false;
    if (*at < end && **at == '~') {
        (*at)++;
        if (!prefix || prefix >= sizeof out->contact)
            return false;
        if (end - *at >= 2 && (*at) [0] == '=' && (*at) [1] == ' ') {
            from_source = true;
            *at += 2;
        }
        else if (!s_record_field (at, end, ' ', out->contact + prefix, sizeof out->contact - prefix))
            return false;
        memcpy (out->contact, out->aor, prefix);
    }
    else if (!s_record_field (at, end, ' ', out->contact, sizeof out->contact) || !out->contact [0])
        return false;
    int64_t expires, reg_id;
    bool ok = s_record_number (at, end, ' ', INT32_MIN, INT64_MAX / 2, &expires)
           && s_page_field_parse (at, end, ' ', out->instance, sizeof out->instance, prev ? prev->instance : NULL)
           && s_record_number (at, end, ' ', 0, INT32_MAX, &reg_id)
           && s_page_field_parse (at, end, ' ', out->path, sizeof out->path, prev ? prev->path : NULL)
           && s_page_field_parse (at, end, ' ', out->transport, sizeof out->transport, prev ? prev->transport : NULL)
           && s_page_field_parse (at, end, ' ', out->source, sizeof out->source, prev ? prev->source : NULL)
           && s_page_field_parse (at, end, ' ', out->flow, sizeof out->flow, prev ? prev->flow : NULL)
           && s_page_field_parse (at, end, '\n', out->user_agent, sizeof out->user_agent,
                                  prev ? prev->user_agent : NULL);
    if (!ok)
        return false;
    if (from_source) {
        if (!out->source [0] || prefix + strlen (out->source) >= sizeof out->contact)
            return false;
        strcpy (out->contact + prefix, out->source);
    }
    out->owner = 0;
    out->expires_ms = base_ms + expires;
    out->reg_id = (int) reg_id;
    out->call_id [0] = 0;
    out->cseq = 0;
    out->license [0] = 0;
    return true;
}

// ---------------------------------------------------------------------------
//  Snapshots for a peer that pulls the table in pages

static void
s_snapshot_clear (s_snapshot_t *snap)
{
    free (snap->text);
    free (snap->starts);
    free (snap->counts);
    free (snap->served);
    memset (snap, 0, sizeof *snap);
}

static void
s_snapshot_take (cw_location_t *self, s_snapshot_t *snap, int64_t now_ms)
{
    s_snapshot_clear (snap);
    s_text_t text = { 0 };
    size_t cap = 8, pages = 0, count = 0;
    snap->starts = (size_t *) malloc ((cap + 1) * sizeof (size_t));
    snap->counts = (size_t *) malloc (cap * sizeof (size_t));
    assert (snap->starts && snap->counts);
    snap->starts [0] = 0;
    const s_binding_t *prev = NULL;
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record; record = (s_aor_t *) zhashx_next (self->aors))
        for (size_t i = 0; i < record->count; i++) {
            if (record->items [i]->owner != self->this_peer)
                continue;
            size_t limit = pages ? CW_LOCATION_PAGE_BYTES : CW_LOCATION_PAGE_BYTES / 16;
            if (text.len - snap->starts [pages] > limit && count > 0) {
                //  This record starts the next page
                snap->counts [pages++] = count;
                if (pages == cap) {
                    cap *= 2;
                    snap->starts = (size_t *) realloc (snap->starts, (cap + 1) * sizeof (size_t));
                    snap->counts = (size_t *) realloc (snap->counts, cap * sizeof (size_t));
                    assert (snap->starts && snap->counts);
                }
                snap->starts [pages] = text.len;
                count = 0;
                prev = NULL;
            }
            s_page_record_write (&text, record->items [i], record->aor, prev, now_ms);
            prev = record->items [i];
            count++;
        }
    snap->counts [pages++] = count;
    snap->starts [pages] = text.len;
    s_text_reserve (&text, 1);
    text.data [text.len] = 0;
    snap->text = text.data;
    snap->pages = pages;
    snap->served = (bool *) calloc (pages, sizeof (bool));
    assert (snap->served);
    snap->id = ++self->snapshot_id;
    snap->seq = self->seq;
    snap->taken_ms = now_ms;
}

json_t *
cw_location_dump_args (cw_location_t *self, json_t *args, int64_t now_ms, char *err, size_t errlen)
{
    json_t *page_json = json_object_get (args, "page");
    if (!page_json)
        return cw_location_dump (self);
    json_t *peer_json = json_object_get (args, "peer");
    json_int_t peer = json_integer_value (peer_json), page = json_integer_value (page_json);
    if (!json_is_integer (page_json) || !json_is_integer (peer_json) || peer < 1 || peer > CW_LOCATION_PEERS
        || page < 0) {
        snprintf (err, errlen, "routing.location.dump: 'peer' is a peer number (1..%d) and 'page' a page number",
                  CW_LOCATION_PEERS);
        return NULL;
    }
    s_snapshot_t *snap = &self->snapshots [peer];
    if (snap->text && now_ms - snap->taken_ms > CW_LOCATION_SNAPSHOT_MS)
        s_snapshot_clear (snap);
    if (page == 0)
        s_snapshot_take (self, snap, now_ms);
    else {
        json_t *id = json_object_get (args, "snapshot");
        if (!snap->text || !json_is_integer (id) || (uint64_t) json_integer_value (id) != snap->id) {
            snprintf (err, errlen, "routing.location.dump: snapshot %" JSON_INTEGER_FORMAT " of peer %d is gone",
                      json_integer_value (id), (int) peer);
            return NULL;
        }
        if ((size_t) page >= snap->pages) {
            snprintf (err, errlen, "routing.location.dump: the snapshot has %zu page(s)", snap->pages);
            return NULL;
        }
    }
    size_t at = snap->starts [page], length = snap->starts [page + 1] - at;
    json_t *reply = json_pack ("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s%}", "owner", self->this_peer, "epoch",
                               (json_int_t) self->epoch, "seq", (json_int_t) snap->seq, "snapshot",
                               (json_int_t) snap->id, "page", (json_int_t) page, "pages", (json_int_t) snap->pages,
                               "count", (json_int_t) snap->counts [page], "base_ms", (json_int_t) snap->taken_ms,
                               "records", snap->text + at, length);
    if (!snap->served [page]) {
        snap->served [page] = true;
        if (++snap->served_count == snap->pages)
            s_snapshot_clear (snap);
    }
    if (!reply)
        snprintf (err, errlen, "routing.location.dump: out of memory");
    return reply;
}

// ---------------------------------------------------------------------------
//  Own change log
//
//  Each change is kept as text: "P " and the binding's record, or "D "
//  and the AOR and contact fields. Making it costs a fraction of building
//  and serialising its JSON, which only changes_since does, when there is
//  a peer to send it to.

static uint64_t
s_log (cw_location_t *self)
{
    uint64_t seq = ++self->seq;
    char **slot = &self->log [seq % S_LOG];
    free (*slot);
    *slot = (char *) malloc (self->scratch.len + 1);
    assert (*slot);
    memcpy (*slot, self->scratch.data, self->scratch.len);
    (*slot) [self->scratch.len] = 0;
    return seq;
}

static uint64_t
s_log_put (cw_location_t *self, const s_binding_t *b)
{
    self->scratch.len = 0;
    s_text_reserve (&self->scratch, 2);
    memcpy (self->scratch.data, "P ", 2);
    self->scratch.len = 2;
    s_record_write (&self->scratch, b, b->record->aor, true);
    return s_log (self);
}

static uint64_t
s_log_del (cw_location_t *self, const char *aor, const char *contact)
{
    self->scratch.len = 0;
    s_text_reserve (&self->scratch, 2);
    memcpy (self->scratch.data, "D ", 2);
    self->scratch.len = 2;
    s_text_field (&self->scratch, aor, ' ');
    s_text_field (&self->scratch, contact, '\n');
    return s_log (self);
}

//  The wire form of a binding given as a cw_binding_t
static json_t *
s_binding_json_of (const cw_binding_t *b)
{
    return json_pack ("{s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "aor", b->aor, "contact",
                      b->contact, "expires_ms", (json_int_t) b->expires_ms, "instance", b->instance, "reg_id",
                      b->reg_id, "path", b->path, "transport", b->transport, "source", b->source, "flow", b->flow,
                      "user_agent", b->user_agent, "call_id", b->call_id, "cseq", (json_int_t) b->cseq, "license",
                      b->license);
}

//  The change SEQ as JSON (SCRATCH: room for one binding)
static json_t *
s_log_change (cw_location_t *self, uint64_t seq, cw_binding_t *scratch)
{
    const char *entry = self->log [seq % S_LOG];
    assert (entry);
    const char *at = entry + 2, *end = entry + strlen (entry);
    json_t *change = NULL;
    if (entry [0] == 'P' && s_record_parse (&at, end, scratch))
        change = json_pack ("{s:I, s:s, s:o}", "seq", (json_int_t) seq, "op", "put", "binding",
                            s_binding_json_of (scratch));
    else if (entry [0] == 'D' && s_record_field (&at, end, ' ', scratch->aor, sizeof scratch->aor)
             && s_record_field (&at, end, '\n', scratch->contact, sizeof scratch->contact))
        change = json_pack ("{s:I, s:s, s:s, s:s}", "seq", (json_int_t) seq, "op", "del", "aor", scratch->aor,
                            "contact", scratch->contact);
    assert (change);
    return change;
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
    free (self->scratch.data);
    for (int peer = 0; peer <= CW_LOCATION_PEERS; peer++) {
        s_snapshot_clear (&self->snapshots [peer]);
        free (self->loads [peer].seen);
    }
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
    s_binding_t *stored = s_upsert (self, binding, self->this_peer, true);
    return stored ? s_log_put (self, stored) : 0;
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
    cw_binding_t *scratch = (cw_binding_t *) malloc (sizeof (cw_binding_t));
    assert (scratch);
    for (uint64_t s = first; s <= last; s++)
        json_array_append_new (changes, s_log_change (self, s, scratch));
    free (scratch);
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

//  The header of a dump page, checked against the first page's
typedef struct {
    int owner;
    uint64_t epoch, seq, snapshot;
    size_t page, pages, count;
    int64_t base_ms;
    const char *records;
    size_t length;
} s_page_t;

static bool
s_page_header (json_t *page, s_page_t *out)
{
    json_t *snapshot = json_object_get (page, "snapshot"), *number = json_object_get (page, "page"),
           *pages = json_object_get (page, "pages"), *count = json_object_get (page, "count"),
           *records = json_object_get (page, "records"), *base = json_object_get (page, "base_ms");
    if (!json_is_object (page) || !s_header (page, "seq", &out->owner, &out->epoch, &out->seq)
        || !json_is_integer (snapshot) || !json_is_integer (number) || !json_is_integer (pages)
        || !json_is_integer (count) || !json_is_string (records) || json_integer_value (number) < 0
        || json_integer_value (pages) < 1 || json_integer_value (number) >= json_integer_value (pages)
        || json_integer_value (count) < 0 || !json_is_integer (base))
        return false;
    out->base_ms = json_integer_value (base);
    out->snapshot = (uint64_t) json_integer_value (snapshot);
    out->page = (size_t) json_integer_value (number);
    out->pages = (size_t) json_integer_value (pages);
    out->count = (size_t) json_integer_value (count);
    out->records = json_string_value (records);
    out->length = json_string_length (records);
    return true;
}

static void
s_load_clear (s_load_t *load)
{
    free (load->seen);
    memset (load, 0, sizeof *load);
}

cw_location_result_t
cw_location_load_page (cw_location_t *self, json_t *json, bool *complete)
{
    *complete = false;
    s_page_t page;
    if (!s_page_header (json, &page) || page.owner == self->this_peer)
        return CW_LOCATION_INVALID;
    s_load_t *load = &self->loads [page.owner];
    if (page.page == 0) {
        //  A load begins: until it ends, nothing is known of the owner's changes
        s_load_clear (load);
        load->snapshot = page.snapshot;
        load->epoch = page.epoch;
        load->seq = page.seq;
        load->pages = page.pages;
        load->seen = (bool *) calloc (page.pages, sizeof (bool));
        assert (load->seen);
        load->mark = ++self->mark ? self->mark : ++self->mark;
        self->owners [page.owner].epoch = 0;
        self->owners [page.owner].seq = 0;
    }
    else if (!load->seen || page.snapshot != load->snapshot || page.epoch != load->epoch || page.seq != load->seq
             || page.pages != load->pages || load->seen [page.page])
        return CW_LOCATION_INVALID;
    //  Two bindings: this record and the previous one, whose fields a
    //  record may repeat
    cw_binding_t *pair = (cw_binding_t *) malloc (2 * sizeof (cw_binding_t));
    assert (pair);
    const char *at = page.records, *end = page.records + page.length;
    size_t records = 0;
    bool ok = true;
    while (ok && at < end) {
        cw_binding_t *binding = &pair [records % 2];
        ok = s_page_record_parse (&at, end, binding, records ? &pair [(records + 1) % 2] : NULL, page.base_ms);
        if (ok) {
            s_binding_t *stored = s_upsert (self, binding, page.owner, false);
            if (stored)
                stored->mark = load->mark;
            records++;
        }
    }
    free (pair);
    if (!ok || records != page.count) {
        //  The load stops here: the owner stays unknown (its next change is a gap)
        s_load_clear (load);
        return CW_LOCATION_INVALID;
    }
    load->seen [page.page] = true;
    if (++load->received < load->pages)
        return CW_LOCATION_APPLIED;
    //  The last page: what no page carried is gone
    zlistx_t *empty = zlistx_new ();
    for (s_aor_t *record = (s_aor_t *) zhashx_first (self->aors); record;
         record = (s_aor_t *) zhashx_next (self->aors)) {
        for (size_t i = 0; i < record->count;)
            if (record->items [i]->owner == page.owner && record->items [i]->mark != load->mark)
                s_delete_at (self, record, i);
            else
                i++;
        if (record->count == 0)
            zlistx_add_end (empty, record);
    }
    for (s_aor_t *record = (s_aor_t *) zlistx_first (empty); record; record = (s_aor_t *) zlistx_next (empty))
        s_aor_release (self, record);
    zlistx_destroy (&empty);
    self->owners [page.owner].epoch = load->epoch;
    self->owners [page.owner].seq = load->seq;
    s_load_clear (load);
    *complete = true;
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
