/*  provision.c - the provisioning services (see provision.h).

    Each service is a small state machine driven by s_step, which looks at
    what is in flight and decides the next move:

      not active (not the primary, no manager, stopped)  -> cancel, standby
      cursor not read yet       -> replication.data.get tms.provisioning/S
      a full pull asked for     -> once no put is in flight: from revision 0
      no GET in flight, no page waiting, no retry pending
                                -> GET since=fetched (wait=W when the last
                                   page said no more: a long poll)

    A page that arrives is put at once when fewer than S_PUTS puts are in
    flight, else it waits (one page at most): the GET of a page, the
    commit of the next and the subordinates' apply of the one before
    overlap. A put
    acknowledged sends the cursor put (or first a count, at the end of a
    run) and the waiting page's put. Every request carries a ticket with
    the service's generation: a stop, a new manager or a failure bumps it,
    and the answers of the older generation change nothing.
*/
#include "provision.h"
#include "rowscan.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tms.h"
#include "cw_text.h"
#include "tms_http.h"

#define S_PAGE 10000                         //  rows per GET, per put
#define S_WAIT_S 25                          //  the long poll
#define S_MAX_RESPONSE (64 * 1024 * 1024)    //  a page of 10,000 FindMe rows is ~3.4 MB
#define S_PUT_MS 45000                       //  beyond the replication actor's wait (30 s)
#define S_BACKOFF_MAX_S 30
#define S_PUTS 2    //  rows puts in flight per service: the next page is on its way while one is applied
#define S_TICKETS 8
#define S_NS "tms.provisioning"

const char *tms_provision_services [] = { "users", "findme", "phonebooks", "templates", NULL };
#define S_SERVICES 4

typedef enum {
    S_STANDBY = 0,
    S_IDLE,
    S_PULLING,
    S_FAILED,
    S_STOPPED
} s_state_t;

typedef enum {
    K_CURSOR_GET = 0,
    K_ROWS_PUT,
    K_COUNT,
    K_CURSOR_PUT
} s_kind_t;

typedef struct _s_service_t s_service_t;

typedef struct {
    s_service_t *service;
    bool in_use;
    uint64_t generation;
    s_kind_t kind;
    int64_t rev;    //  the revision a rows put or cursor put covers
    bool last;      //  rows put: the last page of a run
} s_ticket_t;

struct _s_service_t {
    tms_provision_t *owner;
    const char *name;
    char ns [32];
    tms_http_t *http;
    s_state_t state;
    uint64_t generation;
    bool loaded, loading;    //  the cursor was read / is being read
    int64_t cursor;          //  revision of tms.provisioning/S (acknowledged)
    int64_t acked;           //  last rev whose rows put was acknowledged
    int64_t fetched;         //  last rev asked for (the next GET's since)
    bool full;               //  a full pull is under way
    bool full_requested;
    bool tail;       //  the last page said no more
    bool open;       //  rows arrived since the last count (a run to close)
    json_t *page;    //  rows fetched, waiting for the put in flight
    int64_t page_rev;
    bool page_last;
    int puts_inflight;    //  rows puts not answered yet (at most S_PUTS)
    bool count_inflight;
    int64_t manager_rev;
    int64_t rows;      //  rows of the namespace at the last sync
    int64_t pulled;    //  rows received in this run
    int64_t last_sync;
    int64_t errors;
    char last_error [512];
    int backoff_s;
    int timer_id;
    s_ticket_t tickets [S_TICKETS];
};

struct _tms_provision_t {
    cw_actor_t *actor;
    zloop_t *loop;
    tms_queue_t *meta;
    bool stopped;
    bool peers_known;
    bool primary;
    int primary_peer;
    char primary_address [256];
    char agent [200];    //  User-Agent: causeway/VERSION (node NAME)
    char *protocol, *address, *path, *ca_file, *user, *password;
    bool verify;
    s_service_t services [S_SERVICES];
};

static void s_step (s_service_t *svc);

//  ---------------------------------------------------------------------
//  Helpers

static const char *
s_state_name (s_state_t state)
{
    return state == S_IDLE    ? "idle"
         : state == S_PULLING ? "pulling"
         : state == S_FAILED  ? "failed"
         : state == S_STOPPED ? "stopped"
                              : "standby";
}

static s_ticket_t *
s_ticket (s_service_t *svc, s_kind_t kind, int64_t rev)
{
    for (int i = 0; i < S_TICKETS; i++)
        if (!svc->tickets [i].in_use) {
            s_ticket_t *t = &svc->tickets [i];
            t->service = svc;
            t->in_use = true;
            t->generation = svc->generation;
            t->kind = kind;
            t->rev = rev;
            t->last = false;
            return t;
        }
    return NULL;
}

static bool
s_active (tms_provision_t *self)
{
    return !self->stopped && self->peers_known && self->primary && *self->address;
}

static int
s_on_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_service_t *svc = arg;
    svc->timer_id = -1;
    s_step (svc);
    return 0;
}

//  Drop what is in flight: answers of the older generation are ignored
static void
s_reset (s_service_t *svc)
{
    svc->generation++;
    tms_http_cancel (svc->http);
    json_decref (svc->page);
    svc->page = NULL;
    svc->puts_inflight = 0;
    svc->count_inflight = false;
    svc->loading = false;
    svc->tail = false;
    svc->fetched = svc->acked > svc->cursor ? svc->acked : svc->cursor;
    if (svc->timer_id >= 0) {
        zloop_timer_end (svc->owner->loop, svc->timer_id);
        svc->timer_id = -1;
    }
}

//  A failure: the reason shown, the in-flight work dropped, a retry later
static void s_fail (s_service_t *svc, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_fail (s_service_t *svc, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (svc->last_error, sizeof svc->last_error, fmt, ap);
    va_end (ap);
    svc->errors++;
    if (svc->state != S_FAILED)
        cw_warn ("provisioning service=%s state=failed reason=\"%s\"", svc->name, svc->last_error);
    s_reset (svc);
    svc->state = S_FAILED;
    int delay = svc->backoff_s > 0 ? svc->backoff_s : 1;
    svc->backoff_s = delay * 2 > S_BACKOFF_MAX_S ? S_BACKOFF_MAX_S : delay * 2;
    svc->timer_id = zloop_timer (svc->owner->loop, (size_t) delay * 1000, 1, s_on_retry, svc);
}

//  ---------------------------------------------------------------------
//  A page of the manager's answer

//  The put's value for manager row ROW (its text, checked): the text as it
//  came, or (a row that says "deleted": false) as jansson writes it
//  without that member; NULL out of memory
static json_t *
s_row_value (tms_span_t row, tms_span_t deleted)
{
    if (!deleted.at)
        return json_stringn_nocheck (row.at, row.len);    //  checked UTF-8
    json_t *object = json_loadb (row.at, row.len, 0, NULL);
    json_object_del (object, "deleted");
    char *text = json_dumps (object, JSON_COMPACT);
    json_decref (object);
    json_t *value = text ? json_string_nocheck (text) : NULL;
    free (text);
    return value;
}

int
tms_provision_page (const char *body, size_t len, int64_t since, json_t **rows, int64_t *last, int64_t *revision,
                    bool *more, char *err, size_t errlen)
{
    *rows = NULL;
    *last = since;
    //  Checked whole first (as strictly as jansson), then read in place:
    //  a page of 10,000 rows is never built as a tree
    static const char *const page_names [] = { "revision", "more", "rows" };
    tms_span_t page [3];
    int64_t rev_value = 0;
    if (tms_scan_object (body, len, page_names, 3, page) != 0 || !page [2].at || page [2].at [0] != '['
        || !tms_scan_int (page [0], &rev_value)) {
        snprintf (err, errlen, "the manager's answer is not {\"revision\", \"rows\": [...]}");
        return -1;
    }
    *revision = rev_value;
    *more = tms_scan_true (page [1]);
    json_t *out = json_array ();
    int64_t previous = since;
    const char *p = page [2].at + 1, *end = page [2].at + page [2].len;
    for (size_t i = 0; out && tms_scan_ws (&p, end) != ']'; i++) {
        static const char *const row_names [] = { "id", "rev", "deleted" };
        tms_span_t member [3];
        tms_span_t row = { p, 0 };
        tms_scan_value (&p, end);
        row.len = (size_t) (p - row.at);
        if (tms_scan_ws (&p, end) == ',')
            p++;
        char id [1024];
        int64_t r = 0;
        if (tms_scan_object (row.at, row.len, row_names, 3, member) != 0
            || !tms_scan_string (member [0], id, sizeof id) || !*id || !tms_scan_int (member [1], &r)) {
            snprintf (err, errlen, "row %zu of the manager's answer has no string \"id\" and integer \"rev\"", i);
            json_decref (out);
            return -1;
        }
        if (r <= previous) {
            snprintf (err, errlen, "row %s of the manager's answer has rev %lld, not after %lld", id, (long long) r,
                      (long long) previous);
            json_decref (out);
            return -1;
        }
        previous = r;
        json_t *value = tms_scan_true (member [2]) ? json_null () : s_row_value (row, member [2]);
        json_t *pair = value ? json_pack ("[s, o]", id, value) : NULL;
        if (!pair || json_array_append_new (out, pair) != 0) {
            snprintf (err, errlen, "out of memory");
            json_decref (out);
            return -1;
        }
    }
    if (!out) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    *last = previous;
    *rows = out;
    return 0;
}

//  ---------------------------------------------------------------------
//  Writes through the replication actor

static void s_on_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg);

static void
s_put_cursor (s_service_t *svc, int64_t rev, bool full)
{
    s_ticket_t *t = s_ticket (svc, K_CURSOR_PUT, rev);
    if (!t) {
        s_fail (svc, "too many requests in flight");
        return;
    }
    json_t *cursor = json_pack ("{s:I, s:b, s:I, s:I}", "revision", (json_int_t) rev, "full", full, "last_sync",
                                (json_int_t) svc->last_sync, "rows", (json_int_t) svc->rows);
    char *text = json_dumps (cursor, JSON_COMPACT);
    json_decref (cursor);
    json_t *args = json_pack ("{s:s, s:[[s, s]]}", "ns", S_NS, "rows", svc->name, text ? text : "{}");
    free (text);
    cw_actor_request (svc->owner->actor, "replication", "replication.data.put", args, s_on_reply, t, S_PUT_MS);
}

//  Put ROWS (stolen), the page up to REV; LAST: no more after it
static void
s_put_rows (s_service_t *svc, json_t *rows, int64_t rev, bool last)
{
    s_ticket_t *t = s_ticket (svc, K_ROWS_PUT, rev);
    if (!t) {
        json_decref (rows);
        s_fail (svc, "too many requests in flight");
        return;
    }
    t->last = last;
    svc->puts_inflight++;
    //  wait: answered once every live peer applied it, so the primary
    //  writes no faster than the subordinates apply (a subordinate more
    //  than the primary's history behind would need a snapshot)
    json_t *args = json_pack ("{s:s, s:o, s:b}", "ns", svc->ns, "rows", rows, "wait", 1);
    cw_actor_request (svc->owner->actor, "replication", "replication.data.put", args, s_on_reply, t, S_PUT_MS);
}

static void
s_on_put (s_service_t *svc, s_ticket_t *t, bool ok, json_t *body)
{
    //  Committed on the primary but a live subordinate is late: the rows
    //  are cluster-wide all the same (it catches up), go on
    if (!ok && strstr (cw_jtext (body, "error"), "committed on the primary")) {
        cw_warn ("provisioning service=%s put: %s", svc->name, cw_jtext (body, "error"));
        ok = true;
    }
    if (!ok) {
        s_fail (svc, "replication.data.put %s: %s", svc->ns, cw_jtext (body, "error"));
        return;
    }
    svc->puts_inflight--;
    svc->acked = t->rev;
    //  The last page of a run gets its cursor after the count (s_step)
    if (!t->last)
        s_put_cursor (svc, t->rev, svc->full);
    if (svc->page) {
        json_t *rows = svc->page;
        svc->page = NULL;
        s_put_rows (svc, rows, svc->page_rev, svc->page_last);
    }
    s_step (svc);
}

static void
s_on_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_ticket_t *t = arg;
    s_service_t *svc = t->service;
    t->in_use = false;
    if (t->generation != svc->generation)
        return;    //  an answer to work dropped since
    switch (t->kind) {
        case K_CURSOR_GET: {
            svc->loading = false;
            if (!ok) {
                s_fail (svc, "cannot read the cursor %s/%s: %s", S_NS, svc->name, cw_jtext (body, "error"));
                return;
            }
            json_t *cursor = json_loads (cw_jtext (body, "value"), 0, NULL);
            svc->cursor = json_integer_value (json_object_get (cursor, "revision"));
            svc->full = json_is_true (json_object_get (cursor, "full"));
            svc->last_sync = json_integer_value (json_object_get (cursor, "last_sync"));
            svc->rows = json_integer_value (json_object_get (cursor, "rows"));
            json_decref (cursor);
            svc->acked = svc->fetched = svc->cursor;
            svc->open = svc->full;
            svc->loaded = true;
            cw_info ("provisioning service=%s resumes from revision=%lld full=%s", svc->name, (long long) svc->cursor,
                     svc->full ? "yes" : "no");
            s_step (svc);
            break;
        }
        case K_ROWS_PUT:
            s_on_put (svc, t, ok, body);
            break;
        case K_COUNT:
            svc->count_inflight = false;
            if (!ok) {
                s_fail (svc, "replication.data.count %s: %s", svc->ns, cw_jtext (body, "error"));
                return;
            }
            svc->rows = json_integer_value (json_object_get (body, "rows"));
            svc->last_sync = (int64_t) time (NULL);
            svc->open = false;
            if (svc->full)
                cw_info ("provisioning service=%s full pull done revision=%lld rows=%lld", svc->name,
                         (long long) t->rev, (long long) svc->rows);
            svc->full = false;
            s_put_cursor (svc, t->rev, false);
            s_step (svc);
            break;
        case K_CURSOR_PUT:
            if (!ok) {
                s_fail (svc, "replication.data.put %s/%s: %s", S_NS, svc->name, cw_jtext (body, "error"));
                return;
            }
            svc->cursor = t->rev;
            s_step (svc);
            break;
    }
}

//  ---------------------------------------------------------------------
//  GETs from the manager

static void
s_on_page (long status, const char *body, size_t len, const char *error, void *arg)
{
    s_service_t *svc = arg;
    if (error) {
        s_fail (svc, "%s", error);
        return;
    }
    if (status < 200 || status > 299) {
        s_fail (svc, "the manager answered HTTP %ld", status);
        return;
    }
    json_t *rows;
    int64_t last, revision;
    bool more;
    char err [512];
    if (tms_provision_page (body, len, svc->fetched, &rows, &last, &revision, &more, err, sizeof err) != 0) {
        s_fail (svc, "%s", err);
        return;
    }
    svc->backoff_s = 1;
    if (svc->state == S_FAILED) {
        cw_info ("provisioning service=%s the manager answers again", svc->name);
        svc->state = S_PULLING;
    }
    svc->manager_rev = revision;
    svc->tail = !more;
    size_t count = json_array_size (rows);
    if (count == 0) {
        json_decref (rows);
        s_step (svc);    //  a long poll that ended with nothing new
        return;
    }
    if (!svc->open)
        svc->pulled = 0;
    svc->open = true;
    svc->pulled += (int64_t) count;
    svc->fetched = last;
    if (svc->puts_inflight >= S_PUTS) {
        svc->page = rows;
        svc->page_rev = last;
        svc->page_last = !more;
    }
    else
        s_put_rows (svc, rows, last, !more);
    s_step (svc);
}

static void
s_get (s_service_t *svc)
{
    tms_provision_t *self = svc->owner;
    char url [1400];
    int wait = svc->tail ? S_WAIT_S : 0;
    const char *path = self->path;
    while (*path == '/')
        path++;
    int n = snprintf (url, sizeof url, "%s://%s/%s/Provisioning?service=%s&since=%lld&limit=%d&wait=%d", self->protocol,
                      self->address, path, svc->name, (long long) svc->fetched, S_PAGE, wait);
    if (n < 0 || (size_t) n >= sizeof url) {
        s_fail (svc, "the manager's URL is too long");
        return;
    }
    tms_http_request_t req = { .url = url,
                               .user = self->user,
                               .password = self->password,
                               .verify = self->verify,
                               .ca_file = self->ca_file,
                               .timeout_ms = (wait + 30) * 1000L,
                               .max_response = S_MAX_RESPONSE,
                               .keep_alive = false,    //  each page checks the certificate anew
                               .user_agent = self->agent };
    if (tms_http_get (svc->http, &req, s_on_page, svc) != 0)
        s_fail (svc, "cannot start a request to the manager (out of memory)");
}

//  ---------------------------------------------------------------------
//  The state machine

static void
s_step (s_service_t *svc)
{
    tms_provision_t *self = svc->owner;
    if (!s_active (self)) {
        if (svc->state != S_STANDBY && svc->state != S_STOPPED)
            s_reset (svc);
        svc->state = self->stopped ? S_STOPPED : S_STANDBY;
        svc->loaded = false;    //  read the cursor again when active again
        svc->full_requested = false;
        return;
    }
    if (svc->state == S_STANDBY || svc->state == S_STOPPED)
        svc->state = S_PULLING;
    if (!svc->loaded) {
        if (!svc->loading) {
            s_ticket_t *t = s_ticket (svc, K_CURSOR_GET, 0);
            if (!t)
                return;
            svc->loading = true;
            cw_actor_request (self->actor, "replication", "replication.data.get",
                              json_pack ("{s:s, s:s}", "ns", S_NS, "key", svc->name), s_on_reply, t, S_PUT_MS);
        }
        return;
    }
    if (svc->timer_id >= 0)
        return;    //  a retry is pending
    if (svc->full_requested && svc->puts_inflight == 0 && !svc->count_inflight) {
        svc->full_requested = false;
        s_reset (svc);
        svc->full = true;
        svc->open = true;
        svc->fetched = svc->acked = 0;
        svc->pulled = 0;
        cw_info ("provisioning service=%s full pull from revision 0", svc->name);
    }
    bool quiet = svc->tail && svc->puts_inflight == 0 && !svc->count_inflight && !svc->page && !svc->full_requested;
    if (quiet && svc->open) {
        //  The end of a run: count the rows, then write the cursor
        s_ticket_t *c = s_ticket (svc, K_COUNT, svc->acked);
        if (c) {
            svc->count_inflight = true;
            cw_actor_request (self->actor, "replication", "replication.data.count", json_pack ("{s:s}", "ns", svc->ns),
                              s_on_reply, c, S_PUT_MS);
        }
    }
    else if (quiet && svc->cursor == svc->acked) {
        if (svc->state != S_IDLE)
            cw_info ("provisioning service=%s idle revision=%lld rows=%lld", svc->name, (long long) svc->cursor,
                     (long long) svc->rows);
        svc->state = S_IDLE;
    }
    else if (svc->state != S_FAILED)
        svc->state = S_PULLING;
    if (!tms_http_busy (svc->http) && !svc->page && !svc->full_requested)
        s_get (svc);
}

static void
s_step_all (tms_provision_t *self)
{
    for (int i = 0; i < S_SERVICES; i++)
        s_step (&self->services [i]);
}

//  ---------------------------------------------------------------------
//  Commands

static bool
s_service_named (const char *name)
{
    for (int i = 0; tms_provision_services [i]; i++)
        if (streq (name, tms_provision_services [i]))
            return true;
    return false;
}

static cw_reply_status_t
s_refresh (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    tms_provision_t *self = arg;
    const char *service = cw_jtext (args, "service");
    if (*service && !s_service_named (service)) {
        *reply = cw_error_body ("no such provisioning service: %s (users, findme, phonebooks, templates)", service);
        return CW_REPLY_ERROR;
    }
    if (self->stopped) {
        *reply = cw_error_body ("provisioning is stopped on this peer: tms.provisioning.start first");
        return CW_REPLY_ERROR;
    }
    if (!self->peers_known || !self->primary) {
        if (self->primary_peer > 0)
            *reply = cw_error_body ("this peer is not the configuration primary: only the primary, peer %d (%s), "
                                    "pulls from the manager; refresh there",
                                    self->primary_peer, self->primary_address);
        else
            *reply = cw_error_body ("this peer does not know the configuration primary yet");
        return CW_REPLY_ERROR;
    }
    if (!*self->address) {
        *reply = cw_error_body ("no manager: tms.address is empty");
        return CW_REPLY_ERROR;
    }
    json_t *list = json_array ();
    for (int i = 0; i < S_SERVICES; i++) {
        s_service_t *svc = &self->services [i];
        if (*service && !streq (service, svc->name))
            continue;
        svc->full_requested = true;
        svc->backoff_s = 1;
        if (svc->timer_id >= 0) {
            zloop_timer_end (self->loop, svc->timer_id);
            svc->timer_id = -1;
        }
        //  A long poll in flight gives way at once
        if (svc->puts_inflight == 0 && !svc->count_inflight)
            tms_http_cancel (svc->http);
        json_array_append_new (list, json_string (svc->name));
        svc->state = S_PULLING;
        s_step (svc);
    }
    *reply = json_pack ("{s:o}", "refresh", list);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_stop_start (tms_provision_t *self, bool stop, json_t **reply)
{
    if (tms_queue_meta_set (self->meta, "provisioning", stop ? "stopped" : "started") != 0) {
        *reply = cw_error_body ("cannot store the provisioning state in tms.db");
        return CW_REPLY_ERROR;
    }
    if (self->stopped != stop)
        cw_info ("provisioning %s", stop ? "stopped" : "started");
    self->stopped = stop;
    s_step_all (self);
    *reply = json_pack ("{s:s}", "provisioning", stop ? "stopped" : "started");
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_stop (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    return s_stop_start ((tms_provision_t *) arg, true, reply);
}

static cw_reply_status_t
s_start (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    return s_stop_start ((tms_provision_t *) arg, false, reply);
}

static const cw_command_t s_commands [] = {
    { "tms.refresh", s_refresh, CW_CMD_IDEMPOTENT,
      "a full pull from the manager of {service?} (users, findme, phonebooks, templates), or of every service" },
    { "tms.provisioning.stop", s_stop, CW_CMD_IDEMPOTENT, "stop pulling from the manager on this peer (kept)" },
    { "tms.provisioning.start", s_start, CW_CMD_IDEMPOTENT, "pull from the manager again on this peer" },
    { NULL, NULL, 0, NULL }
};

//  ---------------------------------------------------------------------
//  Status and events

json_t *
tms_provision_status (tms_provision_t *self)
{
    const char *role = self->stopped ? "stopped" : self->peers_known && self->primary ? "primary" : "subordinate";
    const char *reason = self->stopped      ? "provisioning is stopped (tms.provisioning.start)"
                       : !self->peers_known ? "waiting for the cluster state"
                       : !self->primary     ? "only the configuration primary pulls"
                       : !*self->address    ? "no manager: tms.address is empty"
                                            : "";
    json_t *services = json_object ();
    for (int i = 0; i < S_SERVICES; i++) {
        s_service_t *svc = &self->services [i];
        json_t *one = json_pack ("{s:s, s:I, s:I, s:I, s:s, s:I, s:I, s:b}", "state", s_state_name (svc->state),
                                 "revision", (json_int_t) svc->cursor, "rows", (json_int_t) svc->rows, "errors",
                                 (json_int_t) svc->errors, "last_error", svc->last_error, "manager_revision",
                                 (json_int_t) svc->manager_rev, "pulled", (json_int_t) svc->pulled, "full",
                                 svc->full || svc->full_requested);
        json_object_set_new (one, "last_sync",
                             svc->last_sync ? json_integer ((json_int_t) svc->last_sync) : json_null ());
        json_object_set_new (services, svc->name, one);
    }
    json_t *status = json_pack ("{s:s, s:s, s:o}", "role", role, "reason", reason, "services", services);
    if (self->primary_peer > 0)
        json_object_set_new (status, "primary",
                             json_pack ("{s:i, s:s}", "peer", self->primary_peer, "address", self->primary_address));
    return status;
}

void
tms_provision_on_event (tms_provision_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!streq (ev->command, "cluster.peers"))
        return;
    json_t *peers = json_object_get (body, "peers");
    bool clustered = json_is_array (peers) && json_array_size (peers) > 0;
    bool primary = !clustered || json_is_true (json_object_get (body, "is_primary"));
    self->primary_peer = clustered ? (int) json_integer_value (json_object_get (body, "primary")) : 0;
    self->primary_address [0] = 0;
    size_t i;
    json_t *peer;
    json_array_foreach (peers, i, peer)
        if (json_integer_value (json_object_get (peer, "peer")) == self->primary_peer)
            snprintf (self->primary_address, sizeof self->primary_address, "%s", cw_jtext (peer, "address"));
    if (!self->peers_known || primary != self->primary)
        cw_info ("provisioning role=%s", primary ? "primary" : "subordinate");
    self->peers_known = true;
    self->primary = primary;
    s_step_all (self);
}

void
tms_provision_configure (tms_provision_t *self, const tms_manager_t *m)
{
    bool changed = strcmp (self->address, m->address ? m->address : "") != 0
                || strcmp (self->protocol, m->protocol ? m->protocol : "") != 0
                || strcmp (self->path, m->path ? m->path : "") != 0
                || strcmp (self->ca_file, m->ca_file ? m->ca_file : "") != 0 || self->verify != m->verify
                || strcmp (self->user, m->user ? m->user : "") != 0
                || strcmp (self->password, m->password ? m->password : "") != 0;
    if (!changed)
        return;
    tms_set_text (&self->protocol, m->protocol);
    tms_set_text (&self->address, m->address);
    tms_set_text (&self->path, m->path);
    tms_set_text (&self->ca_file, m->ca_file);
    tms_set_text (&self->user, m->user);
    tms_set_text (&self->password, m->password);
    self->verify = m->verify;
    for (int i = 0; i < S_SERVICES; i++) {
        s_service_t *svc = &self->services [i];
        s_reset (svc);
        svc->backoff_s = 1;
        if (svc->state == S_FAILED)
            svc->state = S_PULLING;
        s_step (svc);
    }
}

//  ---------------------------------------------------------------------
//  Life

tms_provision_t *
tms_provision_new (cw_actor_t *actor, tms_queue_t *meta, char *err, size_t errlen)
{
    tms_provision_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->loop = cw_actor_loop (actor);
    self->meta = meta;
    self->verify = true;
    snprintf (self->agent, sizeof self->agent, "causeway/%s (node %.100s)", CW_VERSION,
              cw_actor_bootstrap (actor)->node.name);
    tms_set_text (&self->protocol, "https");
    tms_set_text (&self->address, "");
    tms_set_text (&self->path, "");
    tms_set_text (&self->ca_file, "");
    tms_set_text (&self->user, "");
    tms_set_text (&self->password, "");
    char *stopped = tms_queue_meta_get (meta, "provisioning");
    self->stopped = stopped && streq (stopped, "stopped");
    free (stopped);
    for (int i = 0; i < S_SERVICES; i++) {
        s_service_t *svc = &self->services [i];
        svc->owner = self;
        svc->name = tms_provision_services [i];
        snprintf (svc->ns, sizeof svc->ns, "tms.%s", svc->name);
        svc->timer_id = -1;
        svc->backoff_s = 1;
        svc->state = self->stopped ? S_STOPPED : S_STANDBY;
        svc->http = tms_http_new (self->loop);
        if (!svc->http) {
            snprintf (err, errlen, "libcurl cannot start");
            tms_provision_destroy (&self);
            return NULL;
        }
    }
    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "out of memory");
        tms_provision_destroy (&self);
        return NULL;
    }
    return self;
}

void
tms_provision_destroy (tms_provision_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_provision_t *self = *self_p;
    for (int i = 0; i < S_SERVICES; i++) {
        s_service_t *svc = &self->services [i];
        if (svc->timer_id >= 0)
            zloop_timer_end (self->loop, svc->timer_id);
        tms_http_destroy (&svc->http);
        json_decref (svc->page);
    }
    free (self->protocol);
    free (self->address);
    free (self->path);
    free (self->ca_file);
    free (self->user);
    if (self->password)
        memset (self->password, 0, strlen (self->password));
    free (self->password);
    free (self);
    *self_p = NULL;
}
