/*  findme.c - the FindMe accounts in memory (see findme.h).

    An account is one block (s_account_t): its strings back to back, the
    id, the alias as an AOR, the active location's name, then each
    location's name followed by its devices (as AORs) and an empty string
    that ends the list. Two open-addressing indexes (an array of pointers
    at most half full, 16 to 32 bytes per account each) find the blocks by
    id (that one owns them) and by alias; a replaced account is removed
    before its new block goes in.

    The load follows auth.c's pattern: replication.data.list page by page
    (1,000 rows, by key after the last one) into a new table that replaces
    the served one when the last page is in; a load that fails is tried
    again a second later; an event without rows, or one while a load is
    under way that has no rows, starts a new load after the current one.
*/
#include "findme.h"

#include <inttypes.h>
#include <string.h>
#include <strings.h>

#include "cw_text.h"
#include "registrar.h"
#include "routing.h"

#define S_RETRY_MS 1000
#define S_PAGE 1000

typedef struct {
    uint16_t locations;
    uint32_t size;    //  bytes of TEXT
    char text [];     //  id, alias, active, then per location: name, devices..., ""
} s_account_t;

//  An open-addressing index of the blocks by one of their strings
//  (linear probing, removal by shifting back, at most half full)
typedef struct {
    s_account_t **slots;
    size_t size;    //  a power of two (0 = none yet)
    size_t count;
    bool alias;    //  keyed by the alias, else by the id
} s_index_t;

typedef struct {
    s_index_t by_id;    //  owns the blocks
    s_index_t by_alias;
} s_table_t;

struct _cw_findme_t {
    cw_routing_t *routing;    //  NULL = a table only
    cw_actor_t *actor;
    s_table_t *table;
    s_table_t *loading;    //  the table a load fills, or NULL
    bool reload_again;
    int64_t retry_at_ms;
    int64_t load_started_us;
    int64_t load_us;    //  of the last complete load
    uint64_t loads, unreadable;
    bool loaded;
};

// ---------------------------------------------------------------------------
//  Accounts

int
cw_findme_aor (const char *alias, char *out, size_t outlen)
{
    if (!alias)
        return -1;
    if (strncasecmp (alias, "sip:", 4) == 0)
        alias += 4;
    const char *at = strrchr (alias, '@');
    if (!at || at == alias || !at [1] || (size_t) (at - alias) >= CW_LOCATION_AOR_MAX)
        return -1;
    char user [CW_LOCATION_AOR_MAX];
    memcpy (user, alias, (size_t) (at - alias));
    user [at - alias] = 0;
    for (const char *c = alias; *c; c++)
        if ((unsigned char) *c <= ' ' || *c == '<' || *c == '>' || *c == '"')
            return -1;
    return cw_registrar_aor (user, at + 1, out, outlen);
}

static const char *
s_next (const char *p)
{
    return p + strlen (p) + 1;
}

static const char *
s_id (const s_account_t *a)
{
    return a->text;
}

static const char *
s_alias (const s_account_t *a)
{
    return s_next (a->text);
}

//  An account block from JSON text VALUE of row KEY; NULL when unreadable
static s_account_t *
s_account_new (const char *key, const char *value)
{
    if (strlen (value) > CW_FINDME_VALUE_MAX || strlen (key) >= CW_FINDME_NAME_MAX)
        return NULL;
    json_t *json = json_loads (value, 0, NULL);
    json_t *locations = json_object_get (json, "locations");
    const char *active = cw_jtext (json, "active_location");
    char alias [CW_LOCATION_AOR_MAX];
    if (!json_is_object (json) || cw_findme_aor (cw_jtext (json, "alias"), alias, sizeof alias) != 0
        || (locations && !json_is_array (locations)) || json_array_size (locations) > UINT16_MAX
        || strlen (active) >= CW_FINDME_NAME_MAX) {
        json_decref (json);
        return NULL;
    }
    //  The size first: every string and its terminator
    size_t size = strlen (key) + 1 + strlen (alias) + 1 + strlen (active) + 1;
    size_t i, j;
    json_t *location, *device;
    json_array_foreach (locations, i, location) {
        const char *name = cw_jtext (location, "name");
        json_t *devices = json_object_get (location, "devices");
        if (!*name || strlen (name) >= CW_FINDME_NAME_MAX || (devices && !json_is_array (devices))) {
            json_decref (json);
            return NULL;
        }
        size += strlen (name) + 2;
        json_array_foreach (devices, j, device) {
            char aor [CW_LOCATION_AOR_MAX];
            if (cw_findme_aor (json_string_value (device), aor, sizeof aor) != 0) {
                json_decref (json);
                return NULL;
            }
            size += strlen (aor) + 1;
        }
    }
    s_account_t *a = (s_account_t *) malloc (sizeof (s_account_t) + size);
    if (!a) {
        json_decref (json);
        return NULL;
    }
    a->locations = (uint16_t) json_array_size (locations);
    a->size = (uint32_t) size;
    char *p = a->text;
#define S_PUT(s) (p = stpcpy (p, (s)) + 1)
    S_PUT (key);
    S_PUT (alias);
    S_PUT (active);
    json_array_foreach (locations, i, location) {
        S_PUT (cw_jtext (location, "name"));
        json_array_foreach (json_object_get (location, "devices"), j, device) {
            char aor [CW_LOCATION_AOR_MAX];
            cw_findme_aor (json_string_value (device), aor, sizeof aor);
            S_PUT (aor);
        }
        S_PUT ("");
    }
#undef S_PUT
    json_decref (json);
    return a;
}

static const char *
s_key (const s_index_t *index, const s_account_t *a)
{
    return index->alias ? s_alias (a) : s_id (a);
}

static size_t
s_hash (const char *key)
{
    uint64_t h = 14695981039346656037ULL;    //  FNV-1a
    for (const unsigned char *c = (const unsigned char *) key; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t) (h ^ (h >> 29));
}

//  The slot of KEY, or of the empty slot where it would go
static size_t
s_index_slot (const s_index_t *index, const char *key)
{
    size_t mask = index->size - 1;
    size_t i = s_hash (key) & mask;
    while (index->slots [i] && strcmp (s_key (index, index->slots [i]), key) != 0)
        i = (i + 1) & mask;
    return i;
}

static s_account_t *
s_index_get (const s_index_t *index, const char *key)
{
    return index->size ? index->slots [s_index_slot (index, key)] : NULL;
}

//  Put A (its key not in INDEX yet). 0 or -1 (out of memory).
static int
s_index_put (s_index_t *index, s_account_t *a)
{
    if ((index->count + 1) * 2 > index->size) {
        size_t size = index->size ? index->size * 2 : 1024;
        s_account_t **slots = (s_account_t **) calloc (size, sizeof *slots);
        if (!slots)
            return -1;
        s_index_t grown = { slots, size, 0, index->alias };
        for (size_t i = 0; i < index->size; i++)
            if (index->slots [i])
                grown.slots [s_index_slot (&grown, s_key (&grown, index->slots [i]))] = index->slots [i];
        grown.count = index->count;
        free (index->slots);
        *index = grown;
    }
    index->slots [s_index_slot (index, s_key (index, a))] = a;
    index->count++;
    return 0;
}

//  Remove KEY's entry: the entries after it in its run move back
static void
s_index_remove (s_index_t *index, const char *key)
{
    if (!index->size)
        return;
    size_t mask = index->size - 1;
    size_t hole = s_index_slot (index, key);
    if (!index->slots [hole])
        return;
    index->slots [hole] = NULL;
    index->count--;
    for (size_t i = (hole + 1) & mask; index->slots [i]; i = (i + 1) & mask) {
        size_t home = s_hash (s_key (index, index->slots [i])) & mask;
        //  It may move into the hole when its home is not in (hole, i]
        bool stays = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
        if (!stays) {
            index->slots [hole] = index->slots [i];
            index->slots [i] = NULL;
            hole = i;
        }
    }
}

static s_table_t *
s_table_new (void)
{
    s_table_t *table = (s_table_t *) calloc (1, sizeof *table);
    if (table)
        table->by_alias.alias = true;
    return table;
}

static void
s_table_destroy (s_table_t **table_p)
{
    s_table_t *table = *table_p;
    if (!table)
        return;
    for (size_t i = 0; i < table->by_id.size; i++)
        free (table->by_id.slots [i]);
    free (table->by_id.slots);
    free (table->by_alias.slots);
    free (table);
    *table_p = NULL;
}

static void
s_table_remove (s_table_t *table, const char *key)
{
    s_account_t *old = s_index_get (&table->by_id, key);
    if (!old)
        return;
    if (s_index_get (&table->by_alias, s_alias (old)) == old)
        s_index_remove (&table->by_alias, s_alias (old));
    s_index_remove (&table->by_id, s_id (old));
    free (old);
}

//  0, or -1 when VALUE is unreadable (the row is left out)
static int
s_table_apply (s_table_t *table, const char *key, const char *value)
{
    s_table_remove (table, key);
    if (!value)
        return 0;
    s_account_t *a = s_account_new (key, value);
    if (!a)
        return -1;
    if (s_index_put (&table->by_id, a) != 0) {
        free (a);
        return -1;
    }
    s_account_t *holder = s_index_get (&table->by_alias, s_alias (a));
    if (holder) {
        cw_warn ("findme: alias=%s of account=%s is also the alias of account=%s; the latter is used", s_alias (a),
                 s_id (holder), s_id (a));
        s_index_remove (&table->by_alias, s_alias (holder));
    }
    if (s_index_put (&table->by_alias, a) != 0) {
        s_index_remove (&table->by_id, s_id (a));
        free (a);
        return -1;
    }
    return 0;
}

int
cw_findme_apply (cw_findme_t *self, const char *key, const char *value)
{
    if (!key || !*key)
        return -1;
    int rc = s_table_apply (self->table, key, value);
    if (rc)
        self->unreadable++;
    return rc;
}

size_t
cw_findme_count (cw_findme_t *self)
{
    return self->table->by_id.count;
}

// ---------------------------------------------------------------------------
//  Resolving an alias

bool
cw_findme_resolve (cw_findme_t *self, const char *aor, cw_findme_registered_fn *registered, void *arg,
                   cw_findme_result_t *result)
{
    s_account_t *a = aor ? s_index_get (&self->table->by_alias, aor) : NULL;
    if (!a)
        return false;
    memset (result, 0, sizeof *result);
    cw_copy (result->id, sizeof result->id, s_id (a));
    cw_copy (result->alias, sizeof result->alias, s_alias (a));
    const char *active = s_next (s_alias (a));
    const char *p = s_next (active);
    const char *devices = NULL;
    for (uint16_t i = 0; i < a->locations; i++) {
        if (!devices && *active && strcmp (p, active) == 0)
            devices = s_next (p);
        p = s_next (p);
        while (*p)
            p = s_next (p);
        p++;    //  the list's end
    }
    if (!devices) {
        cw_copy (result->location, sizeof result->location, active);
        result->scode = 404;
        cw_copy (result->reason, sizeof result->reason, "Not Found");
        snprintf (result->warning, sizeof result->warning,
                  *active ? "FindMe account %.100s has no location '%.100s' (its active location)"
                          : "FindMe account %.100s has no active location",
                  result->id, active);
        return true;
    }
    cw_copy (result->location, sizeof result->location, active);
    for (p = devices; *p && result->count < CW_FINDME_DEVICES_MAX; p = s_next (p)) {
        cw_copy (result->devices [result->count].aor, sizeof result->devices [0].aor, p);
        bool on = registered && registered (p, arg);
        result->devices [result->count++].registered = on;
        result->registered += on;
    }
    if (!result->registered) {
        result->scode = 480;
        cw_copy (result->reason, sizeof result->reason, "Temporarily Unavailable");
        snprintf (result->warning, sizeof result->warning,
                  "FindMe account %.100s: no device of location '%.100s' is registered (%zu device(s))", result->id,
                  result->location, result->count);
    }
    return true;
}

typedef struct {
    cw_location_t *location;
    cw_routing_t *routing;
    int64_t now_ms;
} s_lookup_t;

static bool
s_registered (const char *aor, void *arg)
{
    s_lookup_t *lookup = (s_lookup_t *) arg;
    cw_binding_t *binding = (cw_binding_t *) malloc (sizeof *binding);
    bool found = binding
              && cw_location_lookup (lookup->location, aor, lookup->now_ms,
                                     lookup->routing ? cw_routing_alive_fn : NULL, lookup->routing, binding, 1)
                     > 0;
    free (binding);
    return found;
}

bool
cw_findme_locate (cw_findme_t *self, const char *aor, cw_location_t *location, cw_routing_t *routing,
                  cw_findme_result_t *result)
{
    s_lookup_t lookup = { location, routing, zclock_time () };
    return cw_findme_resolve (self, aor, location ? s_registered : NULL, &lookup, result);
}

json_t *
cw_findme_step (const cw_findme_result_t *result)
{
    json_t *devices = json_array ();
    for (size_t i = 0; i < result->count; i++)
        json_array_append_new (devices, json_pack ("{s:s, s:b}", "alias", result->devices [i].aor + 4, "registered",
                                                   result->devices [i].registered));
    return json_pack ("{s:s, s:s, s:s, s:s, s:o, s:i, s:i}", "step", "findme", "account", result->id, "alias",
                      result->alias + 4, "location", result->location, "devices", devices, "registered",
                      (int) result->registered, "status", (int) result->scode);
}

// ---------------------------------------------------------------------------
//  Loading and following the replicated rows

static void s_load (cw_findme_t *self, const char *after);

static void
s_on_list (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_findme_t *self = (cw_findme_t *) arg;
    if (!self->loading)
        return;
    if (!ok) {
        cw_warn ("findme: cannot load the FindMe accounts (%s); trying again", cw_jtext (body, "error"));
        s_table_destroy (&self->loading);
        self->retry_at_ms = zclock_mono () + S_RETRY_MS;
        return;
    }
    //  The next page is asked for first: the replication actor reads it
    //  while this one is applied
    json_t *rows = json_object_get (body, "rows");
    const char *last = json_string_value (json_array_get (json_array_get (rows, json_array_size (rows) - 1), 0));
    bool more = json_is_true (json_object_get (body, "more")) && last;
    if (more)
        s_load (self, last);
    s_table_t *table = self->loading;
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        if (!key || !table)
            continue;
        if (s_table_apply (table, key, json_string_value (json_array_get (row, 1))) != 0) {
            self->unreadable++;
            cw_warn ("findme: the account of row=%.64s cannot be read; left out", key);
        }
    }
    if (more)
        return;
    s_table_destroy (&self->table);
    self->table = self->loading;
    self->loading = NULL;
    self->loaded = true;
    self->loads++;
    self->load_us = zclock_usecs () - self->load_started_us;
    cw_info ("findme: accounts loaded accounts=%zu ms=%" PRId64, self->table->by_id.count, self->load_us / 1000);
    if (self->reload_again) {
        self->reload_again = false;
        s_load (self, NULL);
    }
}

//  Ask for the page after AFTER (NULL: start a new load)
static void
s_load (cw_findme_t *self, const char *after)
{
    if (!after) {
        if (self->loading) {
            self->reload_again = true;
            return;
        }
        self->loading = s_table_new ();
        if (!self->loading) {
            self->retry_at_ms = zclock_mono () + S_RETRY_MS;
            return;
        }
        self->load_started_us = zclock_usecs ();
    }
    self->retry_at_ms = 0;
    if (cw_actor_request (self->actor, "replication", "replication.data.list",
                          json_pack ("{s:s, s:s, s:i}", "ns", CW_FINDME_NS, "after", after ? after : "", "limit",
                                     S_PAGE),
                          s_on_list, self, 5000)
        != 0) {
        s_table_destroy (&self->loading);
        self->retry_at_ms = zclock_mono () + S_RETRY_MS;
    }
}

static void
s_on_data_changed (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    cw_findme_t *self = (cw_findme_t *) arg;
    if (strcmp (topic, "data.changed." CW_FINDME_NS) != 0)
        return;
    json_t *rows = json_object_get (body, "rows");
    if (!json_is_array (rows)) {
        s_load (self, NULL);
        return;
    }
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        const char *value = json_string_value (json_array_get (row, 1));
        if (!key)
            continue;
        if (cw_findme_apply (self, key, value) != 0)
            cw_warn ("findme: the account of row=%.64s cannot be read; left out", key);
        if (self->loading)
            s_table_apply (self->loading, key, value);
    }
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    (void) now_ms;
    cw_findme_t *self = (cw_findme_t *) arg;
    if (self->retry_at_ms && zclock_mono () >= self->retry_at_ms)
        s_load (self, NULL);
}

static void
s_status (cw_routing_t *routing, json_t *status, void *arg)
{
    (void) routing;
    cw_findme_t *self = (cw_findme_t *) arg;
    json_object_set_new (status, "findme",
                         json_pack ("{s:I, s:b, s:I, s:I, s:I}", "accounts", (json_int_t) cw_findme_count (self),
                                    "loaded", self->loaded, "loads", (json_int_t) self->loads, "load_ms",
                                    (json_int_t) (self->load_us / 1000), "unreadable", (json_int_t) self->unreadable));
}

// ---------------------------------------------------------------------------
//  Life cycle

cw_findme_t *
cw_findme_new (cw_routing_t *routing)
{
    cw_findme_t *self = (cw_findme_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->table = s_table_new ();
    if (!self->table) {
        free (self);
        return NULL;
    }
    if (routing) {
        self->routing = routing;
        self->actor = cw_routing_actor (routing);
        cw_routing_on_event (routing, "data.changed." CW_FINDME_NS, s_on_data_changed, self);
        cw_actor_want_data (self->actor, CW_FINDME_NS);
        cw_routing_on_tick (routing, s_on_tick, self);
        cw_routing_on_status (routing, s_status, self);
        self->retry_at_ms = 1;    //  loaded on the first tick, once the actor is READY
    }
    return self;
}

void
cw_findme_destroy (cw_findme_t **self_p)
{
    cw_findme_t *self = *self_p;
    if (!self)
        return;
    s_table_destroy (&self->table);
    s_table_destroy (&self->loading);
    free (self);
    *self_p = NULL;
}
