/*  peers.c - what this peer knows of every peer's licenses (see peers.h).

    The list is rebuilt from each cluster.peers STATE; a record found by
    address keeps its report and lost time across list changes, and is
    loaded from licensing.db ("peer/<address>") the first time an address
    appears, so a node restart does not restart a lost peer's grace.
*/
#include "peers.h"

#include <stdio.h>
#include <string.h>

#include "cw_text.h"

const char *
cw_peer_state_name (cw_peer_state_t state)
{
    switch (state) {
        case CW_PEER_THIS:
            return "this";
        case CW_PEER_LIVE:
            return "live";
        case CW_PEER_LOST:
            return "lost";
        case CW_PEER_GONE:
            return "gone";
    }
    return "?";
}

// ---------------------------------------------------------------------------
//  Records on disk

static void
s_key (char *key, size_t size, const cw_peer_t *peer)
{
    snprintf (key, size, "peer/%s", peer->address);
}

static json_t *
s_counts_json (const int64_t counts [CW_POOL_KINDS])
{
    json_t *object = json_object ();
    for (int k = 0; k < CW_POOL_KINDS; k++)
        json_object_set_new (object, cw_license_capacity_kinds [k], json_integer (counts [k]));
    return object;
}

static void
s_counts_read (json_t *object, int64_t counts [CW_POOL_KINDS])
{
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        json_t *value = json_object_get (object, cw_license_capacity_kinds [k]);
        int64_t n = json_is_integer (value) ? json_integer_value (value) : 0;
        counts [k] = n < 0 ? 0 : n > CW_LICENSE_COUNT_MAX * 1000LL ? CW_LICENSE_COUNT_MAX * 1000LL : n;
    }
}

static json_t *
s_features_json (const cw_peer_t *peer)
{
    json_t *list = json_array ();
    for (int i = 0; i < peer->feature_count; i++)
        json_array_append_new (list, json_string (peer->features [i]));
    return list;
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Features from LIST (validated, de-duplicated, sorted). True when they
//  differ from what PEER had.
static bool
s_features_read (cw_peer_t *peer, json_t *list)
{
    char features [CW_PEERS_FEATURES][CW_LICENSE_KIND_MAX];
    memset (features, 0, sizeof features);    //  compared as bytes
    int count = 0;
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        const char *name = json_string_value (item);
        if (!name || !cw_license_kind_is_feature (name) || count == CW_PEERS_FEATURES)
            continue;
        cw_copy (features [count++], CW_LICENSE_KIND_MAX, name);
    }
    qsort (features, (size_t) count, CW_LICENSE_KIND_MAX, s_compare);
    int unique = 0;
    for (int j = 0; j < count; j++)
        if (unique == 0 || strcmp (features [unique - 1], features [j]) != 0)
            memmove (features [unique++], features [j], CW_LICENSE_KIND_MAX);
    bool changed = unique != peer->feature_count
                || memcmp (features, peer->features, (size_t) unique * CW_LICENSE_KIND_MAX) != 0;
    memcpy (peer->features, features, (size_t) unique * CW_LICENSE_KIND_MAX);
    peer->feature_count = unique;
    return changed;
}

static void
s_save (cw_peers_t *self, const cw_peer_t *peer)
{
    if (!self->store || peer->state == CW_PEER_THIS)
        return;
    char key [300];
    s_key (key, sizeof key, peer);
    json_t *record = json_pack ("{s:s, s:b, s:o, s:o, s:o, s:o, s:I, s:b}", "system_name", peer->system_name,
                                "reported", peer->reported, "installed", s_counts_json (peer->installed), "used",
                                s_counts_json (peer->used), "share", s_counts_json (peer->share), "features",
                                s_features_json (peer), "lost_at_ms", (json_int_t) peer->lost_at_ms, "gone",
                                peer->state == CW_PEER_GONE);
    cw_keystore_put (self->store, key, record);
    json_decref (record);
}

//  Fill PEER (address set) from its record on disk. True when one existed.
static bool
s_load (cw_peers_t *self, cw_peer_t *peer, bool *gone)
{
    *gone = false;
    if (!self->store)
        return false;
    char key [300];
    s_key (key, sizeof key, peer);
    json_t *record = cw_keystore_get (self->store, key);
    if (!json_is_object (record)) {
        json_decref (record);
        return false;
    }
    cw_copy (peer->system_name, sizeof peer->system_name, cw_jtext (record, "system_name"));
    peer->reported = json_is_true (json_object_get (record, "reported"));
    s_counts_read (json_object_get (record, "installed"), peer->installed);
    s_counts_read (json_object_get (record, "used"), peer->used);
    s_counts_read (json_object_get (record, "share"), peer->share);
    s_features_read (peer, json_object_get (record, "features"));
    peer->lost_at_ms = json_integer_value (json_object_get (record, "lost_at_ms"));
    *gone = json_is_true (json_object_get (record, "gone"));
    json_decref (record);
    return true;
}

static void
s_forget (cw_peers_t *self, const cw_peer_t *peer)
{
    char key [300];
    s_key (key, sizeof key, peer);
    if (self->store && peer->state != CW_PEER_THIS)
        cw_keystore_put (self->store, key, NULL);
}

// ---------------------------------------------------------------------------
//  The list

void
cw_peers_init (cw_peers_t *self, cw_keystore_t *store, int64_t grace_ms, const char *system_name)
{
    memset (self, 0, sizeof *self);
    self->store = store;
    self->grace_ms = grace_ms;
    self->count = 1;
    self->this_peer = 1;
    self->primary = 1;
    self->is_primary = true;
    cw_peer_t *me = &self->peers [0];
    me->peer = 1;
    me->state = CW_PEER_THIS;
    me->reported = true;
    cw_copy (me->system_name, sizeof me->system_name, system_name);
}

cw_peer_t *
cw_peers_get (cw_peers_t *self, int peer)
{
    for (int i = 0; i < self->count; i++)
        if (self->peers [i].peer == peer)
            return &self->peers [i];
    return NULL;
}

cw_peer_t *
cw_peers_self (cw_peers_t *self)
{
    for (int i = 0; i < self->count; i++)
        if (self->peers [i].state == CW_PEER_THIS)
            return &self->peers [i];
    return &self->peers [0];
}

static cw_peer_t *
s_find_address (cw_peer_t *peers, int count, const char *address)
{
    for (int i = 0; i < count; i++)
        if (strcmp (peers [i].address, address) == 0)
            return &peers [i];
    return NULL;
}

//  A lost (or gone) peer's state at NOW.
static cw_peer_state_t
s_lost_state (cw_peers_t *self, const cw_peer_t *peer, int64_t now)
{
    return now - peer->lost_at_ms >= self->grace_ms ? CW_PEER_GONE : CW_PEER_LOST;
}

bool
cw_peers_set_list (cw_peers_t *self, json_t *body, int64_t now)
{
    json_t *list = json_object_get (body, "peers");
    int this_peer = (int) json_integer_value (json_object_get (body, "this_peer"));
    int primary = (int) json_integer_value (json_object_get (body, "primary"));
    bool clustered = json_is_array (list) && json_array_size (list) > 0 && this_peer > 0;
    cw_peer_t old [CW_POOL_PEERS];
    int old_count = self->count;
    memcpy (old, self->peers, sizeof old);
    cw_peer_t me = *cw_peers_self (self);

    cw_peer_t fresh [CW_POOL_PEERS];
    memset (fresh, 0, sizeof fresh);
    int count = 0;
    if (!clustered) {
        fresh [0] = me;
        fresh [0].peer = 1;
        fresh [0].address [0] = 0;
        count = 1;
        this_peer = primary = 1;
    }
    else {
        size_t i;
        json_t *item;
        json_array_foreach (list, i, item) {
            if (count == CW_POOL_PEERS)
                break;
            int number = (int) json_integer_value (json_object_get (item, "peer"));
            const char *address = cw_jtext (item, "address");
            if (number < 1 || number > CW_POOL_PEERS || !*address)
                continue;
            cw_peer_t *peer = &fresh [count++];
            bool is_self = json_is_true (json_object_get (item, "self")) || number == this_peer;
            if (is_self) {
                *peer = me;
                peer->state = CW_PEER_THIS;
            }
            else {
                cw_peer_t *known = s_find_address (old, old_count, address);
                bool gone = false;
                if (known && known->state != CW_PEER_THIS)
                    *peer = *known;
                else {
                    cw_copy (peer->address, sizeof peer->address, address);
                    s_load (self, peer, &gone);
                    peer->state = gone ? CW_PEER_GONE : peer->lost_at_ms ? CW_PEER_LOST : CW_PEER_LIVE;
                }
                bool alive = json_is_true (json_object_get (item, "alive"));
                if (alive) {
                    peer->state = CW_PEER_LIVE;
                    peer->lost_at_ms = 0;
                }
                else {
                    if (!peer->lost_at_ms)
                        peer->lost_at_ms = now;
                    peer->state = s_lost_state (self, peer, now);
                }
            }
            peer->peer = number;
            cw_copy (peer->address, sizeof peer->address, address);
            const char *name = cw_jtext (item, "system_name");
            if (*name && !is_self)
                cw_copy (peer->system_name, sizeof peer->system_name, name);
        }
        if (!count) {    //  nothing usable: stay alone
            fresh [0] = me;
            count = 1;
            this_peer = primary = 1;
            clustered = false;
        }
    }
    //  Peers that left the list are forgotten
    for (int i = 0; i < old_count; i++)
        if (old [i].state != CW_PEER_THIS && *old [i].address && !s_find_address (fresh, count, old [i].address))
            s_forget (self, &old [i]);

    bool changed = count != old_count || this_peer != self->this_peer || primary != self->primary
                || clustered != self->clustered;
    for (int i = 0; i < count && !changed; i++)
        changed = fresh [i].peer != old [i].peer || fresh [i].state != old [i].state
               || strcmp (fresh [i].address, old [i].address) != 0;
    memcpy (self->peers, fresh, sizeof fresh);
    self->count = count;
    self->this_peer = this_peer;
    self->primary = primary;
    self->clustered = clustered;
    self->is_primary = !clustered || json_is_true (json_object_get (body, "is_primary")) || primary == this_peer;
    for (int i = 0; i < count; i++)
        if (changed)
            s_save (self, &self->peers [i]);
    return changed;
}

bool
cw_peers_report (cw_peers_t *self, int number, const char *system_name, json_t *body)
{
    cw_peer_t *peer = cw_peers_get (self, number);
    if (!peer || peer->state == CW_PEER_THIS || !json_is_object (body))
        return false;
    cw_peer_t before = *peer;
    if (system_name && *system_name)
        cw_copy (peer->system_name, sizeof peer->system_name, system_name);
    s_counts_read (json_object_get (body, "installed"), peer->installed);
    s_counts_read (json_object_get (body, "used"), peer->used);
    s_counts_read (json_object_get (body, "share"), peer->share);
    s_features_read (peer, json_object_get (body, "features"));
    peer->reported = true;
    bool changed = memcmp (&before, peer, sizeof before) != 0;
    //  Persist what matters after a restart (keys, share), not every use
    if (!before.reported || memcmp (before.installed, peer->installed, sizeof before.installed) != 0
        || memcmp (before.share, peer->share, sizeof before.share) != 0 || before.feature_count != peer->feature_count
        || strcmp (before.system_name, peer->system_name) != 0)
        s_save (self, peer);
    return changed;
}

bool
cw_peers_set_own (cw_peers_t *self, const int64_t installed [CW_POOL_KINDS], json_t *features)
{
    cw_peer_t *me = cw_peers_self (self);
    bool changed = memcmp (me->installed, installed, sizeof me->installed) != 0;
    memcpy (me->installed, installed, sizeof me->installed);
    return s_features_read (me, features) || changed;
}

bool
cw_peers_tick (cw_peers_t *self, int64_t now)
{
    bool changed = false;
    for (int i = 0; i < self->count; i++) {
        cw_peer_t *peer = &self->peers [i];
        if (peer->state == CW_PEER_LOST && s_lost_state (self, peer, now) == CW_PEER_GONE) {
            peer->state = CW_PEER_GONE;
            s_save (self, peer);
            changed = true;
        }
    }
    return changed;
}

// ---------------------------------------------------------------------------
//  Sums

bool
cw_peers_counts (const cw_peer_t *peer)
{
    return peer->state != CW_PEER_GONE;
}

int64_t
cw_peers_pool (cw_peers_t *self, int kind)
{
    int64_t pool = 0;
    for (int i = 0; i < self->count; i++)
        if (cw_peers_counts (&self->peers [i]))
            pool += self->peers [i].installed [kind];
    return pool;
}

int64_t
cw_peers_used (cw_peers_t *self, int kind)
{
    int64_t used = 0;
    for (int i = 0; i < self->count; i++)
        if (cw_peers_counts (&self->peers [i]))
            used += self->peers [i].used [kind];
    return used;
}

json_t *
cw_peers_report_body (cw_peers_t *self)
{
    cw_peer_t *me = cw_peers_self (self);
    return json_pack ("{s:o, s:o, s:o, s:o}", "installed", s_counts_json (me->installed), "used",
                      s_counts_json (me->used), "share", s_counts_json (me->share), "features", s_features_json (me));
}
