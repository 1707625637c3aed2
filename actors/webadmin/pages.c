/*  pages.c - the page machinery of pages.h, and the pages that show what
    the actors report: Status, Alarms, Licensing, Registrations, Calls, TMS.

    A page_t gathers replies: each page_ask is one web_call whose reply is
    kept by label; the count of outstanding calls starts at one (held until
    page_go), so a call that fails at once cannot render the page before
    every call was started. The page renders when the count reaches zero.
*/

#include "pages.h"
#include <microhttpd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cw_text.h"

// ---------------------------------------------------------------------------
//  The machinery

typedef struct {
    page_t *page;
    char label [64];
} s_ask_t;

static void
s_page_free (void *arg)
{
    page_t *self = (page_t *) arg;
    json_decref (self->replies);
    json_decref (self->deferred);
    json_decref (self->form);
    free (self->message);
    free (self->error_key);
    free (self->error_text);
    if (self->extra && self->free_extra)
        self->free_extra (self->extra);
    free (self);
}

static void
s_page_done (page_t *self)
{
    if (--self->pending == 0 && !web_answered (self->req))
        self->render (self->req, self);
}

static json_t *s_actor (page_t *self, const char *name);

//  Status is in: start or answer the asks that waited for it
static void
s_run_deferred (page_t *self)
{
    json_t *deferred = self->deferred;
    self->deferred = NULL;
    size_t i;
    json_t *ask;
    json_array_foreach (deferred, i, ask) {
        const char *label = json_string_value (json_array_get (ask, 0));
        const char *actor = json_string_value (json_array_get (ask, 1));
        json_t *entry = s_actor (self, actor);
        const char *state = cw_jtext (entry, "state");
        if (page_reply (self, "status") && strcmp (state, "running") != 0) {
            char error [256];
            snprintf (error, sizeof error, "the %s actor is not running (state %s)", actor,
                      entry ? state : "not configured on this node");
            json_object_set_new (self->replies, label, json_pack ("{s:b, s:{s:s}}", "ok", 0, "body", "error", error));
        }
        else
            page_ask (self, label, json_string_value (json_array_get (ask, 2)), json_incref (json_array_get (ask, 3)));
        self->pending--;    //  page_ask counted it again
    }
    json_decref (deferred);
}

static void
s_on_reply (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) req;
    s_ask_t *ask = (s_ask_t *) arg;
    page_t *self = ask->page;
    json_object_set_new (self->replies, ask->label,
                         json_pack ("{s:b, s:O}", "ok", ok, "body", body ? body : json_null ()));
    if (strcmp (ask->label, "status") == 0 && self->deferred)
        s_run_deferred (self);
    free (ask);
    s_page_done (self);
}

void
page_ask_running (page_t *self, const char *label, const char *actor, const char *command, json_t *args)
{
    if (json_object_get (self->replies, "status")) {    //  status already in
        json_t *entry = s_actor (self, actor);
        if (page_reply (self, "status") && strcmp (cw_jtext (entry, "state"), "running") != 0) {
            json_decref (args);
            char error [256];
            snprintf (error, sizeof error, "the %s actor is not running (state %s)", actor,
                      entry ? cw_jtext (entry, "state") : "not configured on this node");
            json_object_set_new (self->replies, label, json_pack ("{s:b, s:{s:s}}", "ok", 0, "body", "error", error));
        }
        else
            page_ask (self, label, command, args);
        return;
    }
    if (!self->deferred)
        self->deferred = json_array ();
    json_array_append_new (self->deferred,
                           json_pack ("[s, s, s, o]", label, actor, command, args ? args : json_object ()));
    self->pending++;
}

page_t *
page_new (web_request_t *req, page_render_fn *render)
{
    page_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->req = req;
    self->render = render;
    self->replies = json_object ();
    self->pending = 1;
    self->status = MHD_HTTP_OK;
    web_set_data (req, self, s_page_free);
    page_ask (self, "status", "status", NULL);
    page_ask_running (self, "cluster", "replication", "cluster.status", NULL);
    return self;
}

void
page_ask (page_t *self, const char *label, const char *command, json_t *args)
{
    s_ask_t *ask = calloc (1, sizeof *ask);
    if (!ask) {
        json_decref (args);
        json_object_set_new (self->replies, label,
                             json_pack ("{s:b, s:{s:s}}", "ok", 0, "body", "error", "out of memory"));
        return;
    }
    ask->page = self;
    snprintf (ask->label, sizeof ask->label, "%s", label);
    self->pending++;
    web_call_owning (self->req, command, args, s_on_reply, ask, free);
}

void
page_go (page_t *self)
{
    s_page_done (self);
}

json_t *
page_reply (page_t *self, const char *label)
{
    json_t *entry = json_object_get (self->replies, label);
    return json_is_true (json_object_get (entry, "ok")) ? json_object_get (entry, "body") : NULL;
}

const char *
page_error (page_t *self, const char *label)
{
    json_t *entry = json_object_get (self->replies, label);
    if (!entry || json_is_true (json_object_get (entry, "ok")))
        return "";
    const char *text = cw_jtext (json_object_get (entry, "body"), "error");
    return *text ? text : "no answer";
}

void
page_message (page_t *self, bool error, const char *fmt, ...)
{
    char text [2048];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    free (self->message);
    self->message = strdup (text);
    self->message_error = error;
}

void
page_refuse (page_t *self, const char *key, const char *text)
{
    free (self->error_key);
    free (self->error_text);
    self->error_key = strdup (key);
    self->error_text = strdup (text);
}

html_t *
page_begin (page_t *self, const char *title, const char *current)
{
    html_t *html = html_new ();
    if (!html)
        return NULL;
    json_t *cluster = page_reply (self, "cluster");
    html_begin (html, self->req, title, current, json_is_true (json_object_get (cluster, "factory_reset_pending")));
    if (self->message) {
        html_raw (html, "<p id=\"message\" class=\"%s\" role=\"status\">", self->message_error ? "error" : "ok");
        html_text (html, self->message);
        html_raw (html, "</p>\n");
    }
    return html;
}

void
page_send (page_t *self, html_t **html_p)
{
    if (!*html_p) {
        web_error (self->req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    html_end (*html_p);
    html_send (html_p, self->req, self->status);
}

//  The actor NAME of causewayd's status, or NULL
static json_t *
s_actor (page_t *self, const char *name)
{
    json_t *actors = json_object_get (page_reply (self, "status"), "actors");
    size_t i;
    json_t *actor;
    json_array_foreach (actors, i, actor)
        if (strcmp (cw_jtext (actor, "name"), name) == 0)
            return actor;
    return NULL;
}

bool
page_actor_down (page_t *self, html_t *html, const char *actor, const char *label)
{
    json_t *entry = s_actor (self, actor);
    const char *state = cw_jtext (entry, "state");
    bool known = page_reply (self, "status") != NULL;
    bool running = !known || strcmp (state, "running") == 0;
    bool failed = label && !page_reply (self, label);
    if (running && !failed)
        return false;
    html_raw (html, "<p class=\"actor-down\" data-actor=\"");
    html_text (html, actor);
    html_raw (html, "\">The ");
    html_text (html, actor);
    html_raw (html, " actor is not running");
    if (known && !running) {
        html_raw (html, " (state ");
        html_text (html, entry ? state : "not configured on this node");
        html_raw (html, ")");
    }
    if (failed) {
        html_raw (html, ": ");
        html_text (html, page_error (self, label));
    }
    html_raw (html, ".</p>\n");
    return true;
}

bool
page_subordinate (page_t *self)
{
    json_t *cluster = page_reply (self, "cluster");
    json_int_t me = json_integer_value (json_object_get (cluster, "this_peer"));
    json_int_t primary = json_integer_value (json_object_get (cluster, "primary"));
    return me > 0 && primary > 0 && me != primary;
}

bool
page_primary_note (page_t *self, html_t *html)
{
    if (!page_subordinate (self))
        return false;
    json_t *cluster = page_reply (self, "cluster");
    json_int_t primary = json_integer_value (json_object_get (cluster, "primary"));
    const char *address = "";
    size_t i;
    json_t *peer;
    json_array_foreach (json_object_get (cluster, "peers"), i, peer)
        if (json_integer_value (json_object_get (peer, "index")) == primary)
            address = cw_jtext (peer, "address");
    //  The primary serves its pages on the port this peer uses
    const char *base = web_base_url (web_server (self->req));
    const char *port = strrchr (base, ':');
    char url [512];
    snprintf (url, sizeof url, strchr (address, ':') ? "https://[%s]%s/" : "https://%s%s/", address,
              port && strchr (port, ']') == NULL ? port : ":443");
    html_raw (html,
              "<p id=\"primary-note\" class=\"note\">Cluster-wide changes are made on the configuration "
              "primary (peer %lld): <a href=\"",
              (long long) primary);
    html_text (html, url);
    html_raw (html, "\">");
    html_text (html, url);
    html_raw (html, "</a>. The forms for them are disabled here.</p>\n");
    return true;
}

char *
page_value_text (json_t *value)
{
    if (json_is_string (value))
        return strdup (json_string_value (value));
    if (json_is_array (value)) {
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream (&text, &size);
        if (!out)
            return NULL;
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item) {
            char *one = page_value_text (item);
            fprintf (out, "%s%s", i ? "," : "", one ? one : "");
            free (one);
        }
        fclose (out);
        return text;
    }
    if (!value || json_is_null (value))
        return strdup ("");
    return json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
}

static void
s_cell (html_t *html, json_t *value)
{
    if (json_is_object (value)
        || (json_is_array (value) && json_array_size (value) > 0
            && (json_is_object (json_array_get (value, 0)) || json_is_array (json_array_get (value, 0)))))
        page_json (html, value, NULL);
    else {
        char *text = page_value_text (value);
        html_text (html, text);
        free (text);
    }
}

void
page_json (html_t *html, json_t *value, const char *id)
{
    if (json_is_array (value) && json_array_size (value) && json_is_object (json_array_get (value, 0))) {
        //  The columns: every member of every row, in order of appearance
        json_t *columns = json_array ();
        json_t *seen = json_object ();
        size_t i;
        json_t *row;
        json_array_foreach (value, i, row) {
            const char *key;
            json_t *v;
            json_object_foreach (row, key, v)
                if (!json_object_get (seen, key)) {
                    json_object_set_new (seen, key, json_true ());
                    json_array_append_new (columns, json_string (key));
                }
        }
        html_raw (html, "<table");
        if (id) {
            html_raw (html, " id=\"");
            html_text (html, id);
            html_raw (html, "\"");
        }
        html_raw (html, "><thead><tr>");
        size_t c;
        json_t *column;
        json_array_foreach (columns, c, column) {
            html_raw (html, "<th>");
            html_text (html, json_string_value (column));
            html_raw (html, "</th>");
        }
        html_raw (html, "</tr></thead><tbody>\n");
        json_array_foreach (value, i, row) {
            html_raw (html, "<tr>");
            json_array_foreach (columns, c, column) {
                html_raw (html, "<td>");
                s_cell (html, json_object_get (row, json_string_value (column)));
                html_raw (html, "</td>");
            }
            html_raw (html, "</tr>\n");
        }
        html_raw (html, "</tbody></table>\n");
        json_decref (columns);
        json_decref (seen);
    }
    else if (json_is_object (value)) {
        html_raw (html, "<table class=\"kv\"");
        if (id) {
            html_raw (html, " id=\"");
            html_text (html, id);
            html_raw (html, "\"");
        }
        html_raw (html, "><tbody>\n");
        const char *key;
        json_t *v;
        json_object_foreach (value, key, v) {
            html_raw (html, "<tr><th>");
            html_text (html, key);
            html_raw (html, "</th><td>");
            s_cell (html, v);
            html_raw (html, "</td></tr>\n");
        }
        html_raw (html, "</tbody></table>\n");
    }
    else if (json_is_array (value) && json_array_size (value) == 0)
        html_raw (html, "<p class=\"empty\">None.</p>\n");
    else {
        html_raw (html, "<p>");
        s_cell (html, value);
        html_raw (html, "</p>\n");
    }
}

// ---------------------------------------------------------------------------
//  Status

static void
s_render_status (web_request_t *req, page_t *page)
{
    (void) req;
    html_t *html = page_begin (page, "Status", "/");
    if (!html) {
        page_send (page, &html);
        return;
    }
    json_t *status = page_reply (page, "status");
    if (!status) {
        html_raw (html, "<p class=\"actor-down\">causewayd did not answer status: ");
        html_text (html, page_error (page, "status"));
        html_raw (html, "</p>\n");
    }
    else {
        html_raw (html, "<table class=\"kv\" id=\"system\"><tbody><tr><th>System name</th><td id=\"system-name\">");
        html_text (html, cw_jtext (status, "system_name"));
        html_raw (html, "</td></tr><tr><th>Node</th><td>");
        html_text (html, cw_jtext (status, "node"));
        html_raw (html, "</td></tr><tr><th>Type</th><td>");
        html_text (html, cw_jtext (status, "type"));
        html_raw (html, "</td></tr><tr><th>Version</th><td>");
        html_text (html, cw_jtext (status, "version"));
        json_int_t up = json_integer_value (json_object_get (status, "uptime_s"));
        html_raw (html, "</td></tr><tr><th>Up</th><td>%lldd %02lldh %02lldm %02llds</td></tr>", (long long) up / 86400,
                  (long long) up / 3600 % 24, (long long) up / 60 % 60, (long long) up % 60);
        json_t *alarms = json_object_get (page_reply (page, "alarms"), "alarms");
        html_raw (html, "<tr><th>Active alarms</th><td><a href=\"/alarms\" id=\"alarm-count\">");
        if (alarms)
            html_raw (html, "%zu", json_array_size (alarms));
        else
            html_text (html, "unknown");
        html_raw (html, "</a></td></tr></tbody></table>\n");
        page_actor_down (page, html, "alarms", "alarms");
        html_raw (html, "<h2>Actors</h2>\n<table id=\"actors\"><thead><tr><th>Name</th><th>State</th><th>Restarts</th>"
                        "<th>PID</th><th>Since</th></tr></thead><tbody>\n");
        size_t i;
        json_t *actor;
        json_array_foreach (json_object_get (status, "actors"), i, actor) {
            html_raw (html, "<tr data-actor=\"");
            html_text (html, cw_jtext (actor, "name"));
            html_raw (html, "\"><td>");
            html_text (html, cw_jtext (actor, "name"));
            html_raw (html, "</td><td class=\"state-");
            html_text (html, cw_jtext (actor, "state"));
            html_raw (html, "\">");
            html_text (html, cw_jtext (actor, "state"));
            html_raw (html, "</td><td>%lld</td><td>%lld</td><td>",
                      (long long) json_integer_value (json_object_get (actor, "restarts")),
                      (long long) json_integer_value (json_object_get (actor, "pid")));
            html_text (html, cw_jtext (actor, "since"));
            html_raw (html, "</td></tr>\n");
            const char *problem = cw_jtext (actor, "problem");
            if (*problem) {
                html_raw (html, "<tr class=\"problem\"><td colspan=\"5\" class=\"error\">Problem: ");
                html_text (html, problem);
                html_raw (html, "</td></tr>\n");
            }
        }
        html_raw (html, "</tbody></table>\n");
    }
    html_raw (html, "<h2>Peers</h2>\n");
    json_t *cluster = page_reply (page, "cluster");
    if (!page_actor_down (page, html, "replication", "cluster")) {
        json_t *peers = json_object_get (cluster, "peers");
        if (json_array_size (peers) == 0)
            html_raw (html, "<p id=\"not-clustered\">This system is not in a cluster.</p>\n");
        html_raw (html, "<table id=\"peers\"><thead><tr><th>Peer</th><th>Address</th><th>System name</th>"
                        "<th>State</th><th>RTT (ms)</th><th>Lag</th></tr></thead><tbody>\n");
        size_t i;
        json_t *peer;
        json_array_foreach (peers, i, peer) {
            const char *state = cw_jtext (peer, "state");
            html_raw (html, "<tr><td>%lld</td><td>", (long long) json_integer_value (json_object_get (peer, "index")));
            html_text (html, cw_jtext (peer, "address"));
            html_raw (html, "</td><td>");
            html_text (html, cw_jtext (peer, "system_name"));
            html_raw (html, "</td><td>");
            html_text (html, strcmp (state, "this-system") == 0 ? "This system" : state);
            html_raw (html, "</td><td>%.2f</td><td>%lld</td></tr>\n",
                      json_number_value (json_object_get (peer, "rtt_ms")),
                      (long long) json_integer_value (json_object_get (peer, "lag")));
        }
        html_raw (html, "</tbody></table>\n<p>Cluster database: ");
        html_text (html, cw_jtext (cluster, "database"));
        html_raw (html, "</p>\n");
    }
    page_send (page, &html);
}

static void
s_get_status (web_request_t *req)
{
    page_t *page = page_new (req, s_render_status);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page_ask_running (page, "alarms", "alarms", "alarms.list", NULL);
    page_go (page);
}

// ---------------------------------------------------------------------------
//  Alarms

static void
s_alarm_row (html_t *html, web_request_t *req, json_t *alarm)
{
    const char *uuid = cw_jtext (alarm, "uuid");
    const char *state = cw_jtext (alarm, "state");
    html_raw (html, "<tr data-uuid=\"");
    html_text (html, uuid);
    html_raw (html, "\" class=\"sev-");
    html_text (html, cw_jtext (alarm, "severity"));
    html_raw (html, "\"><td class=\"c-id\">%lld</td><td class=\"c-severity\">",
              (long long) json_integer_value (json_object_get (alarm, "id")));
    html_text (html, cw_jtext (alarm, "severity"));
    html_raw (html, "</td><td class=\"c-title\">");
    html_text (html, cw_jtext (alarm, "title"));
    html_raw (html, "</td><td class=\"c-detail\">");
    html_text (html, cw_jtext (alarm, "detail"));
    html_raw (html, "</td><td class=\"c-peer\">");
    html_text (html, cw_jtext (alarm, "peer"));
    html_raw (html, "</td><td class=\"c-state\">");
    html_text (html, state);
    html_raw (html, "</td><td class=\"c-raised\">");
    html_text (html, cw_jtext (alarm, "raised_at"));
    html_raw (html, "</td><td class=\"c-ack\">");
    if (strcmp (state, "raised") == 0) {
        html_raw (html, "<form method=\"post\" action=\"/alarms/");
        html_text (html, uuid);
        html_raw (html, "/ack\">");
        html_csrf (html, req);
        html_raw (html, "<button type=\"submit\">Acknowledge</button></form>");
    }
    html_raw (html, "</td></tr>\n");
}

static void
s_render_alarms (web_request_t *req, page_t *page)
{
    html_t *html = page_begin (page, "Alarms", "/alarms");
    if (!html) {
        page_send (page, &html);
        return;
    }
    page_actor_down (page, html, "alarms", "alarms");
    json_t *alarms = json_object_get (page_reply (page, "alarms"), "alarms");
    html_raw (html, "<p>Raised and acknowledged alarms of this peer, updated live. <span id=\"live\" "
                    "class=\"live\"></span></p>\n");
    html_raw (html, "<table id=\"alarms\"><thead><tr><th>ID</th><th>Severity</th><th>Title</th><th>Detail</th>"
                    "<th>Peer</th><th>State</th><th>Raised</th><th>Action</th></tr></thead><tbody>\n");
    size_t i;
    json_t *alarm;
    json_array_foreach (alarms, i, alarm)
        s_alarm_row (html, req, alarm);
    html_raw (html, "</tbody></table>\n");
    if (alarms && json_array_size (alarms) == 0)
        html_raw (html, "<p id=\"no-alarms\" class=\"empty\">No active alarms.</p>\n");
    page_send (page, &html);
}

static void
s_get_alarms (web_request_t *req)
{
    page_t *page = page_new (req, s_render_alarms);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page_ask_running (page, "alarms", "alarms", "alarms.list", NULL);
    page_go (page);
}

static void
s_on_ack (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    const char *uuid = web_param (req, 0);
    const char *error = cw_jtext (body, "error");
    webadmin_audit_request (req, "alarms.ack", uuid, ok ? NULL : error);
    if (ok) {
        web_redirect (req, "/alarms");
        return;
    }
    //  The list again, with the reason the ack failed
    page_t *page = page_new (req, s_render_alarms);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->status = MHD_HTTP_BAD_REQUEST;
    page_message (page, true, "The alarm %s was not acknowledged: %s", uuid, *error ? error : "no answer");
    page_ask_running (page, "alarms", "alarms", "alarms.list", NULL);
    page_go (page);
}

static void
s_post_ack (web_request_t *req)
{
    web_call (req, "alarms.ack", json_pack ("{s:s}", "uuid", web_param (req, 0)), s_on_ack, NULL);
}

// ---------------------------------------------------------------------------
//  Licensing, registrations, calls, TMS: what those actors report

typedef struct {
    const char *path;
    const char *title;
    const char *actor;
    const char *command;
    const char *member;    //  the list in the reply shown as the main table (NULL: the whole reply)
    const char *table_id;
    const char *intro;
} s_report_t;

static const s_report_t s_reports [] = {
    { "/licensing", "Licensing", "licensing", "license.status", NULL, "licensing",
      "The license pool of this peer and the cluster, as the licensing actor reports it (license.status)." },
    { "/registrations", "Registrations", "routing", "registrations.list", "registrations", "registrations",
      "The SIP registrations of every peer, as the routing actor's registrar reports them (registrations.list)." },
    { "/calls", "Calls", "routing", "calls.list", "calls", "calls",
      "The calls in progress on every live peer, as the routing actor reports them (calls.list)." },
    { "/tms", "TMS", "tms", "tms.status", NULL, "tms",
      "The TMS actor (provisioning by an external manager) is a placeholder on this release: it runs "
      "supervised and reports only its status (tms.status)." },
    { NULL, NULL, NULL, NULL, NULL, NULL, NULL },
};

static const s_report_t *
s_report_of (web_request_t *req)
{
    for (const s_report_t *r = s_reports; r->path; r++)
        if (strcmp (r->path, web_path (req)) == 0)
            return r;
    return NULL;
}

//  license.status: a row per license kind and peer (the pool's figures,
//  then what that peer has installed, uses and holds as its share), then
//  the rest of the reply
static void
s_licenses (html_t *html, json_t *reply)
{
    html_raw (html, "<h2>Licenses</h2>\n<table id=\"licenses\"><thead><tr><th>Kind</th><th>Pool</th><th>Used</th>"
                    "<th>Free</th><th>Peer</th><th>Installed</th><th>Used there</th><th>Share</th><th>State</th>"
                    "</tr></thead><tbody>\n");
    const char *kind;
    json_t *type;
    json_object_foreach (json_object_get (reply, "types"), kind, type) {
        json_t *by_peer = json_object_get (type, "by_peer");
        size_t rows = json_object_size (by_peer) ? json_object_size (by_peer) : 1;
        html_raw (html, "<tr data-kind=\"");
        html_text (html, kind);
        html_raw (html, "\"><td rowspan=\"%zu\">", rows);
        html_text (html, kind);
        html_raw (html, "</td><td rowspan=\"%zu\">%lld</td><td rowspan=\"%zu\">%lld</td><td rowspan=\"%zu\">%lld</td>",
                  rows, (long long) json_integer_value (json_object_get (type, "pool")), rows,
                  (long long) json_integer_value (json_object_get (type, "used")), rows,
                  (long long) json_integer_value (json_object_get (type, "free")));
        if (json_object_size (by_peer) == 0)
            html_raw (html, "<td colspan=\"5\"></td></tr>\n");
        const char *name;
        json_t *peer;
        size_t i = 0;
        json_object_foreach (by_peer, name, peer) {
            if (i++)
                html_raw (html, "<tr>");
            html_raw (html, "<td>");
            html_text (html, name);
            html_raw (html, "</td><td>%lld</td><td>%lld</td><td>%lld</td><td>",
                      (long long) json_integer_value (json_object_get (peer, "installed")),
                      (long long) json_integer_value (json_object_get (peer, "used")),
                      (long long) json_integer_value (json_object_get (peer, "share")));
            html_text (html, cw_jtext (peer, "state"));
            html_raw (html, "</td></tr>\n");
        }
    }
    html_raw (html, "</tbody></table>\n");
    json_t *rest = json_deep_copy (reply);
    json_object_del (rest, "types");
    html_raw (html, "<h2>The licensing actor</h2>\n");
    page_json (html, rest, "licensing");
    json_decref (rest);
}

static void
s_render_report (web_request_t *req, page_t *page)
{
    const s_report_t *report = s_report_of (req);
    html_t *html = page_begin (page, report->title, report->path);
    if (!html) {
        page_send (page, &html);
        return;
    }
    html_raw (html, "<p>");
    html_text (html, report->intro);
    html_raw (html, "</p>\n");
    if (!page_actor_down (page, html, report->actor, "report")) {
        json_t *reply = page_reply (page, "report");
        json_t *main = report->member ? json_object_get (reply, report->member) : NULL;
        if (main) {
            html_raw (html, "<p class=\"count\">%zu %s.</p>\n", json_array_size (main),
                      strcmp (report->member, "calls") == 0 ? "calls in progress" : "registrations");
            if (json_array_size (main) == 0)
                html_raw (html, "<table id=\"%s\"><tbody></tbody></table>\n", report->table_id);
            else
                page_json (html, main, report->table_id);
            //  Anything else the reply says
            json_t *rest = json_deep_copy (reply);
            json_object_del (rest, report->member);
            if (json_object_size (rest)) {
                html_raw (html, "<h2>More</h2>\n");
                page_json (html, rest, NULL);
            }
            json_decref (rest);
        }
        else if (strcmp (report->command, "license.status") == 0)
            s_licenses (html, reply);
        else
            page_json (html, reply, report->table_id);
    }
    page_send (page, &html);
}

static void
s_get_report (web_request_t *req)
{
    const s_report_t *report = s_report_of (req);
    page_t *page = report ? page_new (req, s_render_report) : NULL;
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page_ask_running (page, "report", report->actor, report->command, NULL);
    page_go (page);
}

// ---------------------------------------------------------------------------
//  Routes

static const web_route_t s_routes [] = {
    { "GET", "/", WEB_PAGE, s_get_status, "Status: the node, its actors, peers and the alarm count" },
    { "GET", "/alarms", WEB_PAGE, s_get_alarms, "Alarms: the active alarms, updated live" },
    { "POST", "/alarms/{}/ack", WEB_PAGE, s_post_ack, "acknowledge an alarm (alarms.ack), back to /alarms" },
    { "GET", "/events/alarms", WEB_PAGE, events_alarms, "the alarm socket as Server-Sent Events (event: alarm)" },
    { "GET", "/licensing", WEB_PAGE, s_get_report, "Licensing: license.status" },
    { "GET", "/registrations", WEB_PAGE, s_get_report, "Registrations: registrations.list" },
    { "GET", "/calls", WEB_PAGE, s_get_report, "Calls: calls.list" },
    { "GET", "/tms", WEB_PAGE, s_get_report, "TMS: tms.status" },
    { NULL, NULL, 0, NULL, NULL },
};

int
pages_routes (webadmin_t *web)
{
    if (web_routes_add (web, s_routes) || pages_cluster_routes (web) || pages_config_routes (web))
        return -1;
    return 0;
}
