/*  cw_data_mirror.c - an actor's copy of one namespace of cluster-wide
    data (see cw_data_mirror.h).
*/
#include "cw_data_mirror.h"

#include <stdlib.h>
#include <string.h>
#include "cw_log.h"
#include "cw_text.h"

#define S_RETRY_MS 1000           //  a failed load is tried again after this
#define S_LIST_TIMEOUT_MS 5000    //  one page of replication.data.list

struct _cw_data_mirror_t {
    cw_actor_t *actor;
    char ns [128];
    char topic [160];    //  data.changed.<ns>
    char log [32];
    cw_data_loaded_fn *loaded_fn;
    cw_data_changed_fn *changed_fn;
    void *arg;
    json_t *loading;      //  the rows a running load gathered, or NULL
    bool reload_again;    //  a change arrived during the load
    bool loaded;
    int64_t due_ms;    //  a load is due at (zclock_mono; 0 = none)
};

static void s_load (cw_data_mirror_t *self, const char *after);

static void
s_retry_later (cw_data_mirror_t *self)
{
    json_decref (self->loading);
    self->loading = NULL;
    self->due_ms = zclock_mono () + S_RETRY_MS;
}

static void
s_on_list (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_data_mirror_t *self = arg;
    if (!self->loading)
        return;
    if (!ok) {
        cw_warn ("%s: cannot load %s (%s); trying again", self->log, self->ns, cw_jtext (body, "error"));
        s_retry_later (self);
        return;
    }
    size_t i;
    json_t *row;
    const char *last = NULL;
    json_array_foreach (json_object_get (body, "rows"), i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        json_t *value = json_array_get (row, 1);
        if (key && json_is_string (value)) {
            json_object_set (self->loading, key, value);
            last = key;
        }
    }
    if (json_is_true (json_object_get (body, "more")) && last) {
        s_load (self, last);
        return;
    }
    json_t *rows = self->loading;
    self->loading = NULL;
    self->loaded = true;
    self->loaded_fn (rows, self->arg);
    json_decref (rows);
    if (self->reload_again) {
        self->reload_again = false;
        s_load (self, NULL);
    }
}

//  Ask for the page after AFTER (NULL: start a new load, or mark the
//  running one to be followed by another)
static void
s_load (cw_data_mirror_t *self, const char *after)
{
    if (!after) {
        if (self->loading) {
            self->reload_again = true;
            return;
        }
        self->loading = json_object ();
        if (!self->loading) {
            s_retry_later (self);
            return;
        }
    }
    if (cw_actor_request (self->actor, "replication", "replication.data.list",
                          json_pack ("{s:s, s:s}", "ns", self->ns, "after", after ? after : ""), s_on_list, self,
                          S_LIST_TIMEOUT_MS)
        != 0)
        s_retry_later (self);
}

cw_data_mirror_t *
cw_data_mirror_new (cw_actor_t *actor, const char *ns, const char *log, cw_data_loaded_fn *loaded,
                    cw_data_changed_fn *changed, void *arg)
{
    if (!actor || !ns || !*ns || strlen (ns) >= 128 || !loaded || !changed)
        return NULL;
    cw_data_mirror_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    cw_copy (self->ns, sizeof self->ns, ns);
    snprintf (self->topic, sizeof self->topic, "data.changed.%s", ns);
    cw_copy (self->log, sizeof self->log, log ? log : "mirror");
    self->loaded_fn = loaded;
    self->changed_fn = changed;
    self->arg = arg;
    cw_actor_want_data (actor, ns);
    return self;
}

void
cw_data_mirror_destroy (cw_data_mirror_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_data_mirror_t *self = *self_p;
    json_decref (self->loading);
    free (self);
    *self_p = NULL;
}

void
cw_data_mirror_start (cw_data_mirror_t *self)
{
    if (self && !self->loading && !self->due_ms)
        self->due_ms = 1;    //  at the next tick
}

void
cw_data_mirror_tick (cw_data_mirror_t *self)
{
    if (self && self->due_ms && zclock_mono () >= self->due_ms) {
        self->due_ms = 0;
        s_load (self, NULL);
    }
}

bool
cw_data_mirror_on_event (cw_data_mirror_t *self, const char *topic, json_t *body)
{
    if (!self || !topic || strcmp (topic, self->topic) != 0)
        return false;
    json_t *rows = json_object_get (body, "rows");
    if (!json_is_array (rows) || self->loading || !self->loaded) {
        if (!self->due_ms)    //  else a load is due anyway
            s_load (self, NULL);
        return true;
    }
    size_t i;
    json_t *row;
    json_array_foreach (rows, i, row) {
        const char *key = json_string_value (json_array_get (row, 0));
        if (key)
            self->changed_fn (key, json_string_value (json_array_get (row, 1)), self->arg);
    }
    return true;
}

bool
cw_data_mirror_loaded (cw_data_mirror_t *self)
{
    return self && self->loaded;
}

bool
cw_data_mirror_loading (cw_data_mirror_t *self)
{
    return self && self->loading;
}

const char *
cw_data_mirror_ns (cw_data_mirror_t *self)
{
    return self ? self->ns : "";
}
