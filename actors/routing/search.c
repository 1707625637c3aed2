/*  search.c - the search of an out-of-dialog request (see search.h).

    A search is a WALK (s_walk_t): the alias is transformed, the dial
    plan gives the groups of targets (cw_dialplan_plan), and the walk
    takes them one group at a time: a "local" target is looked up in the
    location table at once, a zone target asks the zones for its next hops
    (a DNS zone may answer later). When every target of a group has
    answered, the walk ends if one found the alias (the result: every
    target of the group that found it) or if the group held a "stop"
    rule; otherwise it goes on to the next group. The same walk serves a
    real request (the proxy forwards to the result) and routing.locate
    (the result is the command's answer); both are kept in the history.

    The peers' calls and maintenance modes come from the replication
    actor's cluster.status (the heartbeats), asked every S_STATUS_EVERY_MS:
    the peer with the fewest calls relative to the capacity
    (call_routing.calls_per_peer) not in maintenance gets the requests of
    neighbour zones.

    The loop guard: the ids of the searches this peer made or forwarded
    (X-Causeway-Search) are kept S_SEEN_MS; a request that comes back
    with one of them is answered 482.
*/
#include "search.h"

#include "capacity.h"
#include "cw_text.h"
#include "findme.h"
#include "location.h"
#include "registrar.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_SEEN_MS 60000
#define S_STATUS_EVERY_MS 1000
#define S_PEERS_MAX 6
#define S_TIMES 1000
#define S_LOOKUP_MAX 8

typedef struct _s_walk_t s_walk_t;

//  One target of the group being searched
typedef struct {
    s_walk_t *walk;
    const char *rule;
    char target [CW_SEARCH_ZONE_MAX];
    char alias [CW_DIALPLAN_ALIAS_MAX];
    bool stop;
    bool pending;
    bool found;
    cw_search_route_t route;
} s_item_t;

struct _s_walk_t {
    cw_search_t *search;
    cw_dialplan_source_t source;
    char zone [CW_SEARCH_ZONE_MAX];    //  what source.zone points to
    bool allow_peers;                  //  the local zone's contacts of other peers count
    char id [CW_SEARCH_ID_MAX];
    char alias [CW_DIALPLAN_ALIAS_MAX];
    char transformed [CW_DIALPLAN_ALIAS_MAX];
    char last_rule [128];
    json_t *groups;    //  the plan
    size_t group;      //  the group being searched
    s_item_t *items;
    size_t item_count;
    size_t pending;
    bool starting;    //  inside s_group_start: answers that come at once wait
    json_t *entry;    //  the history entry being written (steps inside)
    int64_t started_us;
    cw_search_done_fn *done;
    void *arg;
    //  routing.locate: answer this command instead
    char reply_to [256];
    uint64_t corr;
    bool locate;
    void *handle;
};

struct _cw_search_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    cw_dialplan_t *dialplan;
    cw_zones_t *zones;
    cw_location_t *location;
    cw_findme_t *findme;    //  NULL = none
    zlistx_t *walks;
    json_t *history;    //  newest last, at most CW_SEARCH_HISTORY
    zhashx_t *seen;     //  search id -> expiry (ms, as a pointer-sized integer)
    int64_t next_status_ms;
    int64_t next_seen_ms;
    bool status_asked;
    double loads [S_PEERS_MAX + 1];
    bool maintenance [S_PEERS_MAX + 1];
    bool alive [S_PEERS_MAX + 1];
    int peer_count;
    uint64_t serial;
    int64_t times [S_TIMES];    //  microseconds of the last searches (ring)
    size_t time_count;
    uint64_t searches, found, not_found, handed, loops;
};

// ---------------------------------------------------------------------------
//  Pure parts

int
cw_search_least_loaded (const double *loads, const bool *maintenance, const bool *alive, int count, int this_peer)
{
    int best = 0;
    for (int peer = 1; peer <= count; peer++) {
        if (maintenance [peer] || !(alive [peer] || peer == this_peer))
            continue;
        if (!best || loads [peer] < loads [best] || (loads [peer] == loads [best] && peer == this_peer))
            best = peer;
    }
    return best ? best : this_peer;
}

//  ALIAS ("user@host" or "host") as an AOR into OUT
static int
s_aor (const char *alias, char *out, size_t outlen)
{
    const char *at = strrchr (alias, '@');
    char user [CW_DIALPLAN_ALIAS_MAX] = "";
    if (at)
        snprintf (user, sizeof user, "%.*s", (int) (at - alias), alias);
    const char *host = at ? at + 1 : alias;
    if (strncasecmp (user, "sip:", 4) == 0)
        memmove (user, user + 4, strlen (user + 4) + 1);
    return cw_registrar_aor (user, host, out, outlen);
}

// ---------------------------------------------------------------------------
//  History and figures

static void
s_history_add (cw_search_t *self, json_t *entry)
{
    json_array_append (self->history, entry);
    while (json_array_size (self->history) > CW_SEARCH_HISTORY)
        json_array_remove (self->history, 0);
}

static int
s_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static json_t *
s_figures (cw_search_t *self)
{
    json_t *times = json_object ();
    size_t n = self->time_count < S_TIMES ? self->time_count : S_TIMES;
    if (n) {
        int64_t *sorted = malloc (n * sizeof *sorted);
        if (sorted) {
            memcpy (sorted, self->times, n * sizeof *sorted);
            qsort (sorted, n, sizeof *sorted, s_cmp_i64);
            json_object_set_new (times, "count", json_integer ((json_int_t) n));
            json_object_set_new (times, "median_us", json_integer (sorted [n / 2]));
            json_object_set_new (times, "p99_us", json_integer (sorted [(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]));
            json_object_set_new (times, "max_us", json_integer (sorted [n - 1]));
            free (sorted);
        }
    }
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "searches", (json_int_t) self->searches, "found",
                      (json_int_t) self->found, "not_found", (json_int_t) self->not_found, "handed",
                      (json_int_t) self->handed, "loops", (json_int_t) self->loops, "transforms",
                      (json_int_t) cw_dialplan_transform_count (self->dialplan), "search_rules",
                      (json_int_t) cw_dialplan_search_rule_count (self->dialplan), "time", times);
}

static void
s_status (cw_routing_t *routing, json_t *status, void *arg)
{
    (void) routing;
    json_object_set_new (status, "search", s_figures ((cw_search_t *) arg));
}

// ---------------------------------------------------------------------------
//  The walk

static void s_group_start (s_walk_t *walk);

static void
s_walk_free (s_walk_t *walk)
{
    cw_search_t *self = walk->search;
    for (size_t i = 0; i < walk->item_count; i++)
        if (walk->items [i].pending)
            cw_zones_cancel (self->zones, &walk->items [i]);
    free (walk->items);
    json_decref (walk->groups);
    json_decref (walk->entry);
    free (walk);
}

static void
s_step (s_walk_t *walk, json_t *step)
{
    json_array_append_new (json_object_get (walk->entry, "steps"), step);
}

//  The walk is over: RESULT goes to whoever asked, the entry to the history
static void
s_walk_end (s_walk_t *walk, cw_search_result_t *result, const char *text)
{
    cw_search_t *self = walk->search;
    int64_t us = zclock_usecs () - walk->started_us;
    if (!walk->locate) {
        self->times [self->time_count++ % S_TIMES] = us;
        self->searches++;
    }
    if (result->scode)
        self->not_found++;
    else
        self->found++;
    json_t *routes = json_array ();
    for (size_t i = 0; i < result->count; i++) {
        const cw_search_route_t *r = &result->routes [i];
        json_t *hops = json_array ();
        for (size_t h = 0; h < r->hop_count; h++) {
            char text [320];
            re_snprintf (text, sizeof text, "%s:%J", sip_transp_name (r->hops [h].transport), &r->hops [h].addr);
            json_array_append_new (hops, json_string (text));
        }
        json_array_append_new (routes, json_pack ("{s:s, s:s, s:o}", "target", r->local ? "local" : r->zone, "alias",
                                                  r->alias, "next_hops", hops));
    }
    s_step (walk, json_pack ("{s:s, s:s, s:o, s:i}", "step", "result", "result", text, "routes", routes, "status",
                             result->scode ? result->scode : 0));
    json_object_set_new (walk->entry, "result", json_string (text));
    json_object_set_new (walk->entry, "status", json_integer (result->scode));
    json_object_set_new (walk->entry, "time_us", json_integer (us));
    s_history_add (self, walk->entry);
    if (walk->locate)
        cw_actor_reply (self->actor, walk->reply_to, walk->corr, true,
                        json_pack ("{s:s, s:s, s:O, s:s, s:O}", "alias", walk->alias, "transformed", walk->transformed,
                                   "steps", json_object_get (walk->entry, "steps"), "result", text, "routes", routes));
    else
        walk->done (result, walk->arg);
    zlistx_detach (self->walks, walk->handle);
    s_walk_free (walk);
}

static void
s_not_found (s_walk_t *walk, const char *why)
{
    cw_search_result_t *result = calloc (1, sizeof *result);
    if (!result)
        return;
    char text [300];
    if (!walk->last_rule [0])
        snprintf (text, sizeof text, "no search rule matched");
    else
        snprintf (text, sizeof text, "not found by rule %.120s%s%.100s", walk->last_rule, why ? ": " : "",
                  why ? why : "");
    result->scode = 404;
    snprintf (result->reason, sizeof result->reason, "Not Found");
    snprintf (result->warning, sizeof result->warning, "%s", text);
    s_walk_end (walk, result, text);
    free (result);
}

//  Every target of the group answered: found, stop, or the next group
static void
s_group_done (s_walk_t *walk)
{
    cw_search_result_t *result = calloc (1, sizeof *result);
    if (!result)
        return;
    bool stop = false;
    snprintf (result->header, sizeof result->header, "%s", walk->id);
    char text [400] = "";
    for (size_t i = 0; i < walk->item_count; i++) {
        s_item_t *item = &walk->items [i];
        stop |= item->stop;
        if (!item->found || result->count >= CW_SEARCH_ROUTES_MAX)
            continue;
        result->routes [result->count++] = item->route;
        size_t len = strlen (text);
        snprintf (text + len, sizeof text - len, "%sfound by rule %s in %s as %s", len ? "; " : "", item->rule,
                  item->target, item->alias);
    }
    free (walk->items);
    walk->items = NULL;
    walk->item_count = 0;
    if (result->count) {
        s_walk_end (walk, result, text);
        free (result);
        return;
    }
    free (result);
    walk->group++;
    if (stop || walk->group >= json_array_size (walk->groups))
        s_not_found (walk, NULL);
    else
        s_group_start (walk);
}

static void
s_on_targets (const cw_zone_target_t *targets, size_t count, const char *err, void *arg)
{
    s_item_t *item = (s_item_t *) arg;
    s_walk_t *walk = item->walk;
    item->pending = false;
    if (!err && count) {
        item->found = true;
        item->route.hop_count = count < CW_ZONES_TARGETS_MAX ? count : CW_ZONES_TARGETS_MAX;
        memcpy (item->route.hops, targets, item->route.hop_count * sizeof *targets);
    }
    s_step (walk,
            json_pack ("{s:s, s:s, s:s, s:b, s:i, s:s?}", "step", "target", "target", item->target, "alias",
                       item->alias, "found", item->found, "next_hops", (int) item->route.hop_count, "error", err));
    walk->pending--;
    if (!walk->pending && !walk->starting)
        s_group_done (walk);
}

static void
s_lookup_local (s_walk_t *walk, s_item_t *item)
{
    cw_search_t *self = walk->search;
    char aor [CW_LOCATION_AOR_MAX];
    size_t found = 0;
    if (self->location && s_aor (item->alias, aor, sizeof aor) == 0) {
        cw_binding_t *out = malloc (S_LOOKUP_MAX * sizeof *out);
        size_t count = out ? cw_location_lookup (self->location, aor, zclock_time (), cw_routing_alive_fn,
                                                 self->routing, out, S_LOOKUP_MAX)
                           : 0;
        int this_peer = cw_routing_this_peer (self->routing);
        for (size_t i = 0; i < count; i++)
            if (walk->allow_peers || out [i].owner == this_peer || out [i].owner <= 0)
                found++;
        free (out);
        snprintf (item->route.alias, sizeof item->route.alias, "%s", aor);
    }
    item->route.local = true;
    item->found = found > 0;
    s_step (walk, json_pack ("{s:s, s:s, s:s, s:b, s:i}", "step", "target", "target", "local", "alias", item->alias,
                             "found", item->found, "contacts", (int) found));
}

static void
s_group_start (s_walk_t *walk)
{
    cw_search_t *self = walk->search;
    json_t *group = json_array_get (walk->groups, walk->group);
    size_t count = json_array_size (group);
    walk->items = calloc (count ? count : 1, sizeof (s_item_t));
    if (!walk->items) {
        s_not_found (walk, "out of memory");
        return;
    }
    walk->item_count = count;
    walk->starting = true;
    for (size_t i = 0; i < count; i++) {
        json_t *t = json_array_get (group, i);
        s_item_t *item = &walk->items [i];
        item->walk = walk;
        item->rule = json_string_value (json_object_get (t, "rule"));
        if (!item->rule)
            item->rule = "";
        snprintf (walk->last_rule, sizeof walk->last_rule, "%s", item->rule);
        snprintf (item->target, sizeof item->target, "%s", cw_jtext (t, "target"));
        snprintf (item->alias, sizeof item->alias, "%s", cw_jtext (t, "alias"));
        item->stop = json_is_true (json_object_get (t, "stop"));
        snprintf (item->route.alias, sizeof item->route.alias, "%s", item->alias);
        snprintf (item->route.zone, sizeof item->route.zone, "%s", item->target);
        if (strcmp (item->target, "local") == 0)
            s_lookup_local (walk, item);
        else {
            item->pending = true;
            walk->pending++;
            cw_zones_targets (self->zones, item->target, item->alias, s_on_targets, item,
                              json_object_get (walk->entry, "steps"));
        }
    }
    walk->starting = false;
    if (!walk->pending)
        s_group_done (walk);
}

//  The wall clock as "YYYY-MM-DDTHH:MM:SSZ" into OUT
static void
s_now_text (char *out, size_t outlen)
{
    time_t t = time (NULL);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  A new walk of ALIAS from SOURCE, in the list; its entry started
static s_walk_t *
s_walk_new (cw_search_t *self, const char *alias, const char *zone, bool registered, bool authenticated, const char *id)
{
    s_walk_t *walk = (s_walk_t *) zmalloc (sizeof (s_walk_t));
    walk->search = self;
    walk->started_us = zclock_usecs ();
    snprintf (walk->alias, sizeof walk->alias, "%s", alias);
    snprintf (walk->zone, sizeof walk->zone, "%s", zone);
    walk->source.zone = walk->zone;
    walk->source.registered = registered;
    walk->source.authenticated = authenticated;
    if (id && *id)
        snprintf (walk->id, sizeof walk->id, "%s", id);
    else
        snprintf (walk->id, sizeof walk->id, "%d-%" PRIx64 "-%" PRIx64, cw_routing_this_peer (self->routing),
                  (uint64_t) zclock_time (), ++self->serial);
    char now [40];
    s_now_text (now, sizeof now);
    const char *source = !zone [0] ? (authenticated ? "authenticated" : registered ? "registered" : "any") : zone;
    walk->entry = json_pack ("{s:s, s:s, s:s, s:s, s:[]}", "id", walk->id, "at", now, "alias", alias, "source", source,
                             "steps");
    walk->handle = zlistx_add_end (self->walks, walk);
    return walk;
}

//  When the transformed alias is a FindMe alias: its step, and the walk
//  ends with the registered devices of the active location (or the
//  account's 404 / 480). True when it was one.
static bool
s_findme (s_walk_t *walk)
{
    cw_search_t *self = walk->search;
    char aor [CW_LOCATION_AOR_MAX];
    if (!self->findme || cw_findme_aor (walk->transformed, aor, sizeof aor) != 0)
        return false;
    cw_findme_result_t *found = (cw_findme_result_t *) malloc (sizeof *found);
    cw_search_result_t *result = found ? (cw_search_result_t *) calloc (1, sizeof *result) : NULL;
    if (!result || !cw_findme_locate (self->findme, aor, self->location, self->routing, found)) {
        free (found);
        free (result);
        return false;
    }
    s_step (walk, cw_findme_step (found));
    snprintf (result->header, sizeof result->header, "%s", walk->id);
    char text [400];
    if (found->scode) {
        result->scode = found->scode;
        cw_copy (result->reason, sizeof result->reason, found->reason);
        cw_copy (result->warning, sizeof result->warning, found->warning);
        cw_copy (text, sizeof text, found->warning);
    }
    else {
        for (size_t i = 0; i < found->count && result->count < CW_SEARCH_ROUTES_MAX; i++) {
            if (!found->devices [i].registered)
                continue;
            cw_search_route_t *route = &result->routes [result->count++];
            route->local = true;
            cw_copy (route->alias, sizeof route->alias, found->devices [i].aor);
        }
        snprintf (text, sizeof text, "FindMe account %.100s: %zu registered device(s) of location '%.100s'", found->id,
                  result->count, found->location);
    }
    s_walk_end (walk, result, text);
    free (found);
    free (result);
    return true;
}

//  Transform and plan, then the first group. A locate records every
//  transform and rule looked at; a real request only the transform and
//  the rules that matched (building a step for each of a thousand rules
//  would cost more than the search itself).
static void
s_walk_start (s_walk_t *walk)
{
    cw_search_t *self = walk->search;
    json_t *steps = json_object_get (walk->entry, "steps");
    char name [128];
    cw_dialplan_transform (self->dialplan, walk->alias, walk->transformed, sizeof walk->transformed, name, sizeof name,
                           walk->locate ? steps : NULL);
    if (!walk->locate && name [0])
        json_array_append_new (steps, json_pack ("{s:s, s:s, s:b, s:s}", "step", "transform", "name", name, "matched",
                                                 true, "alias", walk->transformed));
    json_object_set_new (walk->entry, "transformed", json_string (walk->transformed));
    if (s_findme (walk))
        return;
    walk->groups = cw_dialplan_plan (self->dialplan, walk->transformed, &walk->source, walk->locate ? steps : NULL);
    size_t i, j;
    json_t *step, *group;
    if (walk->locate) {
        //  The name of the last rule that matched, from the steps
        json_array_foreach (steps, i, step)
            if (strcmp (cw_jtext (step, "step"), "rule") == 0 && json_is_true (json_object_get (step, "matched")))
                snprintf (walk->last_rule, sizeof walk->last_rule, "%s", cw_jtext (step, "name"));
    }
    else
        json_array_foreach (walk->groups, i, group)
            json_array_foreach (group, j, step) {
                snprintf (walk->last_rule, sizeof walk->last_rule, "%s", cw_jtext (step, "rule"));
                json_array_append_new (steps,
                                       json_pack ("{s:s, s:s, s:b, s:s, s:s}", "step", "rule", "name",
                                                  cw_jtext (step, "rule"), "matched", true, "alias",
                                                  cw_jtext (step, "alias"), "target", cw_jtext (step, "target")));
            }
    if (json_array_size (walk->groups) == 0) {
        s_not_found (walk, NULL);
        return;
    }
    s_group_start (walk);
}

// ---------------------------------------------------------------------------
//  Requests

//  The value of MSG's X-Causeway-Search: the id into ID, the hand-off
//  zone (";handoff=ZONE") into ZONE
static void
s_header (const struct sip_msg *msg, char *id, size_t idlen, char *zone, size_t zonelen)
{
    id [0] = 0;
    zone [0] = 0;
    const struct sip_hdr *hdr = sip_msg_xhdr (msg, CW_SEARCH_HEADER);
    if (!hdr)
        return;
    char value [CW_SEARCH_ID_MAX + CW_SEARCH_ZONE_MAX + 16];
    if (!cw_routing_pl_copy (&hdr->val, value, sizeof value))
        return;
    char *semi = strchr (value, ';');
    if (semi) {
        *semi = 0;
        const char *p = strstr (semi + 1, "handoff=");
        if (p)
            snprintf (zone, zonelen, "%s", p + 8);
    }
    size_t n = 0;
    for (const char *c = value; *c && n + 1 < idlen; c++)
        if (isalnum ((unsigned char) *c) || *c == '-' || *c == '.')
            id [n++] = *c;
    id [n] = 0;
}

static bool
s_seen (cw_search_t *self, const char *id)
{
    void *expiry = zhashx_lookup (self->seen, id);
    return expiry && (int64_t) (intptr_t) expiry > zclock_time ();
}

static void
s_remember (cw_search_t *self, const char *id)
{
    zhashx_update (self->seen, id, (void *) (intptr_t) (zclock_time () + S_SEEN_MS));
}

static void
s_answer_now (cw_search_t *self, uint16_t scode, const char *reason, const char *warning, const char *alias,
              const char *source, const char *id, cw_search_done_fn *fn, void *arg)
{
    cw_search_result_t *result = calloc (1, sizeof *result);
    if (!result)
        return;
    result->scode = scode;
    snprintf (result->reason, sizeof result->reason, "%s", reason);
    snprintf (result->warning, sizeof result->warning, "%s", warning);
    char now [40];
    s_now_text (now, sizeof now);
    json_t *entry = json_pack ("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i}], s:s, s:i}", "id", id, "at", now, "alias",
                               alias, "source", source, "steps", "step", "result", "result", warning, "status", scode,
                               "result", warning, "status", scode);
    s_history_add (self, entry);
    json_decref (entry);
    fn (result, arg);
    free (result);
}

bool
cw_search_enabled (cw_search_t *self)
{
    return self && cw_dialplan_search_rule_count (self->dialplan) > 0;
}

bool
cw_search_wants (cw_search_t *self, const struct sip_msg *msg, bool from_peer)
{
    if (!cw_search_enabled (self))
        return false;
    if (!from_peer)
        return true;
    char id [CW_SEARCH_ID_MAX], handoff [CW_SEARCH_ZONE_MAX];
    s_header (msg, id, sizeof id, handoff, sizeof handoff);
    return handoff [0] != 0;    //  else a peer's branch toward the contacts it found here
}

bool
cw_search_request (cw_search_t *self, const struct sip_msg *msg, bool from_peer, cw_search_done_fn *fn, void *arg)
{
    if (!cw_search_wants (self, msg, from_peer))
        return false;
    char id [CW_SEARCH_ID_MAX], handoff [CW_SEARCH_ZONE_MAX];
    s_header (msg, id, sizeof id, handoff, sizeof handoff);
    char user [128], host [256], alias [CW_DIALPLAN_ALIAS_MAX];
    cw_routing_pl_copy (&msg->uri.user, user, sizeof user);
    cw_routing_pl_copy (&msg->uri.host, host, sizeof host);
    if (user [0])
        snprintf (alias, sizeof alias, "%.127s@%.120s", user, host);
    else
        snprintf (alias, sizeof alias, "%s", host);
    const char *zone = handoff [0] ? handoff : from_peer ? "" : cw_zones_of_source (self->zones, &msg->src);
    if (!zone)
        zone = "";
    if (id [0] && s_seen (self, id)) {
        self->loops++;
        char text [200];
        snprintf (text, sizeof text, "loop detected: search %s came back", id);
        cw_info ("routing: %s for %s", text, alias);
        s_answer_now (self, 482, "Loop Detected", text, alias, zone [0] ? zone : "any", id, fn, arg);
        return true;
    }
    //  From a neighbour cluster: to the least loaded peer, which searches it
    if (zone [0] && !from_peer) {
        int this_peer = cw_routing_this_peer (self->routing);
        int count = self->peer_count < S_PEERS_MAX ? self->peer_count : S_PEERS_MAX;
        int best = count > 1 ? cw_search_least_loaded (self->loads, self->maintenance, self->alive, count, this_peer)
                             : this_peer;
        if (best != this_peer) {
            self->handed++;
            cw_search_result_t *result = calloc (1, sizeof *result);
            if (!result)
                return true;
            s_walk_t *walk = s_walk_new (self, alias, zone, false, false, id);
            snprintf (walk->transformed, sizeof walk->transformed, "%s", alias);
            json_object_set_new (walk->entry, "transformed", json_string (alias));
            walk->done = fn;
            walk->arg = arg;
            result->count = 1;
            result->routes [0].peer = best;
            snprintf (result->routes [0].alias, sizeof result->routes [0].alias, "%s", alias);
            snprintf (result->header, sizeof result->header, "%s;handoff=%s", walk->id, zone);
            char text [120];
            snprintf (text, sizeof text, "handed to peer %d (least loaded, not in maintenance)", best);
            s_walk_end (walk, result, text);
            free (result);
            return true;
        }
    }
    bool registered = false;
    char from [CW_LOCATION_AOR_MAX], fuser [128], fhost [256];
    if (!zone [0] && self->location && cw_routing_pl_copy (&msg->from.uri.user, fuser, sizeof fuser)
        && cw_routing_pl_copy (&msg->from.uri.host, fhost, sizeof fhost)
        && cw_registrar_aor (fuser, fhost, from, sizeof from) == 0) {
        cw_binding_t binding;
        registered = cw_location_lookup (self->location, from, zclock_time (), cw_routing_alive_fn, self->routing,
                                         &binding, 1)
                   > 0;
    }
    s_walk_t *walk = s_walk_new (self, alias, zone [0] ? zone : "local", registered, false, id);
    walk->allow_peers = !from_peer || handoff [0];
    walk->done = fn;
    walk->arg = arg;
    s_remember (self, walk->id);
    s_walk_start (walk);
    return true;
}

void
cw_search_cancel (cw_search_t *self, void *arg)
{
    if (!self)
        return;
    s_walk_t *walk = (s_walk_t *) zlistx_first (self->walks);
    while (walk) {
        s_walk_t *next = (s_walk_t *) zlistx_next (self->walks);
        if (!walk->locate && walk->arg == arg) {
            zlistx_detach (self->walks, walk->handle);
            s_walk_free (walk);
        }
        walk = next;
    }
}

void
cw_search_set_location (cw_search_t *self, cw_location_t *location)
{
    self->location = location;
}

void
cw_search_set_findme (cw_search_t *self, cw_findme_t *findme)
{
    self->findme = findme;
}

// ---------------------------------------------------------------------------
//  The peers' loads (cluster.status)

static void
s_on_cluster_status (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_search_t *self = (cw_search_t *) arg;
    self->status_asked = false;
    json_t *peers = json_object_get (body, "peers");
    if (!ok || !json_is_array (peers))
        return;
    int count = 0;
    size_t i;
    json_t *peer;
    json_array_foreach (peers, i, peer) {
        int index = (int) json_integer_value (json_object_get (peer, "index"));
        if (index < 1 || index > S_PEERS_MAX)
            continue;
        const char *state = cw_jtext (peer, "state");
        //  Calls in progress relative to the capacity (the heartbeat's
        //  "load" is the CPU's when higher: a busy machine hides the calls)
        int64_t capacity = cw_routing_config_int (self->routing, CW_CAPACITY_KEY, CW_CAPACITY_CALLS_PER_PEER);
        self->loads [index] = (double) json_integer_value (json_object_get (peer, "calls"))
                            / (double) (capacity > 0 ? capacity : CW_CAPACITY_CALLS_PER_PEER);
        self->maintenance [index] = json_is_true (json_object_get (peer, "maintenance"));
        self->alive [index] = strcmp (state, "active") == 0 || strcmp (state, "this-system") == 0;
        if (index > count)
            count = index;
    }
    self->peer_count = count;
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    cw_search_t *self = (cw_search_t *) arg;
    if (now_ms >= self->next_status_ms && !self->status_asked) {
        self->next_status_ms = now_ms + S_STATUS_EVERY_MS;
        if (cw_actor_request (self->actor, "replication", "cluster.status", json_object (), s_on_cluster_status, self,
                              S_STATUS_EVERY_MS * 3)
            == 0)
            self->status_asked = true;
    }
    if (now_ms >= self->next_seen_ms) {
        self->next_seen_ms = now_ms + S_SEEN_MS / 4;
        zlistx_t *old = zlistx_new ();
        int64_t now = zclock_time ();
        for (void *expiry = zhashx_first (self->seen); expiry; expiry = zhashx_next (self->seen))
            if ((int64_t) (intptr_t) expiry <= now)
                zlistx_add_end (old, (void *) zhashx_cursor (self->seen));
        for (void *key = zlistx_first (old); key; key = zlistx_next (old))
            zhashx_delete (self->seen, key);
        zlistx_destroy (&old);
    }
}

// ---------------------------------------------------------------------------
//  Commands

static cw_reply_status_t
s_cmd_locate (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_search_t *self = (cw_search_t *) arg;
    const char *alias = cw_jtext (args, "alias");
    const char *source = cw_jtext (args, "source");
    if (!*alias || strlen (alias) >= CW_DIALPLAN_ALIAS_MAX) {
        *reply = cw_error_body ("alias: a SIP alias (user@domain or domain) of at most %d characters is required",
                                CW_DIALPLAN_ALIAS_MAX - 1);
        return CW_REPLY_ERROR;
    }
    if (strncasecmp (alias, "sip:", 4) == 0)
        alias += 4;
    bool registered = false, authenticated = false;
    const char *zone = "";
    if (!*source || strcmp (source, "any") == 0)
        ;
    else if (strcmp (source, "registered") == 0)
        registered = true;
    else if (strcmp (source, "authenticated") == 0)
        registered = authenticated = true;
    else if (strncmp (source, "zone:", 5) == 0
             && (strcmp (source + 5, "local") == 0 || cw_zones_exists (self->zones, source + 5)))
        zone = source + 5;
    else {
        *reply = cw_error_body ("source: any, registered, authenticated or zone:NAME of an existing zone (not '%s')",
                                source);
        return CW_REPLY_ERROR;
    }
    s_walk_t *walk = s_walk_new (self, alias, zone, registered, authenticated, NULL);
    walk->locate = true;
    walk->allow_peers = true;
    snprintf (walk->reply_to, sizeof walk->reply_to, "%s", req->from);
    walk->corr = req->corr;
    json_object_set_new (walk->entry, "locate", json_true ());
    s_walk_start (walk);
    return CW_REPLY_DEFERRED;
}

static cw_reply_status_t
s_cmd_history (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    cw_search_t *self = (cw_search_t *) arg;
    json_t *limit_j = json_object_get (args, "limit");
    json_int_t limit = CW_SEARCH_HISTORY;
    if (limit_j && !json_is_null (limit_j)) {
        if (!json_is_integer (limit_j) || json_integer_value (limit_j) < 1) {
            *reply = cw_error_body ("limit: a whole number of at least 1");
            return CW_REPLY_ERROR;
        }
        limit = json_integer_value (limit_j);
    }
    json_t *list = json_array ();
    for (size_t i = json_array_size (self->history); i > 0 && (json_int_t) json_array_size (list) < limit; i--)
        json_array_append (list, json_array_get (self->history, i - 1));
    *reply = json_pack ("{s:o}", "searches", list);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "routing.locate", s_cmd_locate, CW_CMD_IDEMPOTENT,
      "run the transforms and search rules on an alias without placing a call; every step" },
    { "routing.search_history", s_cmd_history, CW_CMD_IDEMPOTENT,
      "the last searches of this peer (real ones and locates), newest first" },
    { NULL, NULL, 0, NULL },
};

// ---------------------------------------------------------------------------
//  Life cycle

cw_search_t *
cw_search_new (cw_routing_t *routing, cw_dialplan_t *dialplan, cw_zones_t *zones, char *err, size_t errlen)
{
    cw_search_t *self = (cw_search_t *) zmalloc (sizeof (cw_search_t));
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    self->dialplan = dialplan;
    self->zones = zones;
    self->walks = zlistx_new ();
    self->history = json_array ();
    self->seen = zhashx_new ();
    self->peer_count = 1;
    self->alive [1] = true;
    if (cw_actor_commands (self->actor, s_commands, self) != 0) {
        snprintf (err, errlen, "the search's commands cannot be declared");
        cw_search_destroy (&self);
        return NULL;
    }
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_routing_on_status (routing, s_status, self);
    return self;
}

void
cw_search_destroy (cw_search_t **self_p)
{
    cw_search_t *self = *self_p;
    if (!self)
        return;
    for (s_walk_t *walk = (s_walk_t *) zlistx_first (self->walks); walk; walk = (s_walk_t *) zlistx_next (self->walks))
        s_walk_free (walk);
    zlistx_destroy (&self->walks);
    json_decref (self->history);
    zhashx_destroy (&self->seen);
    free (self);
    *self_p = NULL;
}
