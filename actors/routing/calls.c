/*  calls.c - the calls of the cluster (see calls.h).

    This peer's calls are a CZMQ hash by Call-ID; each entry is one
    allocation. The other peers' calls are kept as the JSON lists they
    announced, one per peer number.
*/
#include "calls.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    char id [CW_CALLS_ID_MAX];
    char from [CW_CALLS_URI_MAX];
    char to [CW_CALLS_URI_MAX];
    int peer;
    cw_call_state_t state;
    int64_t started_ms;
    int64_t active_ms;
    char lease [CW_CALLS_LEASE_MAX];
} s_call_t;

struct _cw_calls_t {
    zhashx_t *calls;                        //  id -> s_call_t
    json_t *remote [CW_CALLS_PEERS + 1];    //  peer -> its announced list
};

static void
s_call_free (void **item)
{
    free (*item);
    *item = NULL;
}

cw_calls_t *
cw_calls_new (void)
{
    cw_calls_t *self = (cw_calls_t *) zmalloc (sizeof (cw_calls_t));
    self->calls = zhashx_new ();
    zhashx_set_destructor (self->calls, s_call_free);
    return self;
}

void
cw_calls_destroy (cw_calls_t **self_p)
{
    cw_calls_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->calls);
    for (int peer = 0; peer <= CW_CALLS_PEERS; peer++)
        json_decref (self->remote [peer]);
    free (self);
    *self_p = NULL;
}

const char *
cw_call_state_name (cw_call_state_t state)
{
    switch (state) {
        case CW_CALL_RINGING:
            return "ringing";
        case CW_CALL_CONNECTED:
            return "connected";
        default:
            return "proceeding";
    }
}

static void
s_copy (char *out, size_t size, const char *text)
{
    snprintf (out, size, "%s", text ? text : "");
}

int
cw_calls_add (cw_calls_t *self, const char *id, const char *from, const char *to, int peer, int64_t now_ms,
              const char *lease)
{
    if (!id || !*id || strlen (id) >= CW_CALLS_ID_MAX || zhashx_lookup (self->calls, id)
        || zhashx_size (self->calls) >= CW_CALLS_MAX)
        return -1;
    s_call_t *call = (s_call_t *) zmalloc (sizeof (s_call_t));
    s_copy (call->id, sizeof call->id, id);
    s_copy (call->from, sizeof call->from, from);
    s_copy (call->to, sizeof call->to, to);
    s_copy (call->lease, sizeof call->lease, lease);
    call->peer = peer;
    call->state = CW_CALL_PROCEEDING;
    call->started_ms = now_ms;
    call->active_ms = now_ms;
    zhashx_insert (self->calls, id, call);
    return 0;
}

bool
cw_calls_has (cw_calls_t *self, const char *id)
{
    return id && zhashx_lookup (self->calls, id) != NULL;
}

int
cw_calls_set_state (cw_calls_t *self, const char *id, cw_call_state_t state, int64_t now_ms)
{
    s_call_t *call = id ? (s_call_t *) zhashx_lookup (self->calls, id) : NULL;
    if (!call)
        return -1;
    if (call->state != CW_CALL_CONNECTED)
        call->state = state;
    call->active_ms = now_ms;
    return 0;
}

void
cw_calls_touch (cw_calls_t *self, const char *id, int64_t now_ms)
{
    s_call_t *call = id ? (s_call_t *) zhashx_lookup (self->calls, id) : NULL;
    if (call)
        call->active_ms = now_ms;
}

bool
cw_calls_end (cw_calls_t *self, const char *id, char *lease, size_t leaselen)
{
    if (lease && leaselen)
        lease [0] = 0;
    s_call_t *call = id ? (s_call_t *) zhashx_lookup (self->calls, id) : NULL;
    if (!call)
        return false;
    if (lease && leaselen)
        s_copy (lease, leaselen, call->lease);
    zhashx_delete (self->calls, id);
    return true;
}

size_t
cw_calls_expire (cw_calls_t *self, int64_t now_ms, int64_t idle_ms, cw_calls_ended_fn *fn, void *arg)
{
    zlist_t *ended = zlist_new ();
    for (s_call_t *call = (s_call_t *) zhashx_first (self->calls); call; call = (s_call_t *) zhashx_next (self->calls))
        if (now_ms - call->active_ms > idle_ms)
            zlist_append (ended, call->id);
    size_t count = 0;
    for (const char *id = (const char *) zlist_first (ended); id; id = (const char *) zlist_next (ended)) {
        s_call_t *call = (s_call_t *) zhashx_lookup (self->calls, id);
        if (fn)
            fn (call->id, call->lease, arg);
        zhashx_delete (self->calls, id);
        count++;
    }
    zlist_destroy (&ended);
    return count;
}

size_t
cw_calls_count (cw_calls_t *self)
{
    return zhashx_size (self->calls);
}

//  MS (wall clock) as "2026-11-30T22:05:52Z" into OUT
static void
s_iso (int64_t ms, char *out, size_t size)
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *
cw_calls_list_own (cw_calls_t *self)
{
    //  Oldest first: sorted by start, then Call-ID
    size_t count = zhashx_size (self->calls);
    s_call_t **sorted = (s_call_t **) malloc ((count ? count : 1) * sizeof (s_call_t *));
    size_t n = 0;
    for (s_call_t *call = (s_call_t *) zhashx_first (self->calls); call && n < count;
         call = (s_call_t *) zhashx_next (self->calls))
        sorted [n++] = call;
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0
                           && (sorted [j - 1]->started_ms > sorted [j]->started_ms
                               || (sorted [j - 1]->started_ms == sorted [j]->started_ms
                                   && strcmp (sorted [j - 1]->id, sorted [j]->id) > 0));
             j--) {
            s_call_t *swap = sorted [j];
            sorted [j] = sorted [j - 1];
            sorted [j - 1] = swap;
        }
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++) {
        char started [32];
        s_iso (sorted [i]->started_ms, started, sizeof started);
        json_array_append_new (list,
                               json_pack ("{s:s, s:s, s:s, s:i, s:s, s:s}", "id", sorted [i]->id, "from",
                                          sorted [i]->from, "to", sorted [i]->to, "peer", sorted [i]->peer, "state",
                                          cw_call_state_name (sorted [i]->state), "started_at", started));
    }
    free (sorted);
    return list;
}

int
cw_calls_set_remote (cw_calls_t *self, int peer, json_t *calls)
{
    if (peer < 1 || peer > CW_CALLS_PEERS || !json_is_array (calls))
        return -1;
    json_decref (self->remote [peer]);
    self->remote [peer] = json_deep_copy (calls);
    return 0;
}

json_t *
cw_calls_list_all (cw_calls_t *self, int this_peer, cw_calls_alive_fn *alive, void *arg)
{
    json_t *list = cw_calls_list_own (self);
    for (int peer = 1; peer <= CW_CALLS_PEERS; peer++) {
        if (peer == this_peer || !self->remote [peer] || (alive && !alive (peer, arg)))
            continue;
        size_t i;
        json_t *call;
        json_array_foreach (self->remote [peer], i, call)
            if (json_is_object (call))
                json_array_append (list, call);
    }
    return list;
}

json_t *
cw_calls_figures (cw_calls_t *self, int this_peer, cw_calls_alive_fn *alive, void *arg)
{
    json_t *per_peer = json_object ();
    for (int peer = 1; peer <= CW_CALLS_PEERS; peer++) {
        size_t count;
        if (peer == this_peer)
            count = cw_calls_count (self);
        else if (self->remote [peer] && (!alive || alive (peer, arg)))
            count = json_array_size (self->remote [peer]);
        else
            continue;
        if (count || peer == this_peer) {
            char name [8];
            snprintf (name, sizeof name, "%d", peer);
            json_object_set_new (per_peer, name, json_integer ((json_int_t) count));
        }
    }
    return json_pack ("{s:I, s:o}", "this_peer", (json_int_t) cw_calls_count (self), "per_peer", per_peer);
}
