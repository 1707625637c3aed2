/*  pages.h - the web admin's server-rendered pages.

    Every page is made from the actors' real commands (web_call): a page
    handler makes a page_t, asks the commands it needs (page_ask; they run
    in parallel), and page_go renders it with the replies once the last
    one has come (or failed, or timed out). Every page also asks causewayd's
    `status` (the actors' states, to say plainly when an actor is not
    running) and `cluster.status` (the factory-reset banner and whether this
    peer is a subordinate): both are asked per page, so what a page shows
    is never older than the request.

    Routes (WEB_PAGE: a session, and the CSRF token on every POST):
      GET  /                                 Status (pages.c)
      GET  /alarms, POST /alarms/{uuid}/ack  Alarms (pages.c)
      GET  /events/alarms                    the live alarm stream (events.c)
      GET  /licensing, /registrations, /calls, /tms (pages.c)
      GET/POST /system/clustering, POST /system/clustering/suggest,
      POST /system/clustering/procedure      Clustering (pages_cluster.c)
      GET/POST /configuration                Configuration (pages_config.c)
      GET  /maintenance, POST /maintenance/mode, /maintenance/restart,
      /maintenance/backup, /maintenance/restore  Maintenance (pages_config.c)

    Every change is written to the audit log (webadmin_audit_request):
    action = the command, detail = the key and value or the uuid, never a
    secret.
*/
#ifndef WEBADMIN_PAGES_H
#define WEBADMIN_PAGES_H

#include "html.h"
#include "webadmin.h"

typedef struct _page_t page_t;
typedef void (page_render_fn) (web_request_t *req, page_t *page);

struct _page_t {
    web_request_t *req;
    page_render_fn *render;
    json_t *replies;     //  label -> {"ok": bool, "body": reply}
    int pending;         //  calls not answered yet (+1 until page_go)
    json_t *deferred;    //  [[label, actor, command, args], ...] until status is in
    unsigned status;     //  HTTP status of the page (200)
    char *message;       //  a result or error said at the top (NULL: none)
    bool message_error;
    char *error_key;    //  a form field / key whose value was refused
    char *error_text;
    json_t *form;    //  values to show again in a refused form (or NULL)
    void *extra;     //  a page's own state, freed with free_extra
    void (*free_extra) (void *);
};

//  A page for REQ (owned by the request); asks status and cluster.status
page_t *page_new (web_request_t *req, page_render_fn *render);
//  Ask COMMAND (ARGS taken, NULL = {}); its reply is kept under LABEL
void page_ask (page_t *self, const char *label, const char *command, json_t *args);
//  Ask COMMAND of ACTOR only once causewayd's status says ACTOR is
//  running; otherwise its reply under LABEL is the failure "the ACTOR actor
//  is not running (state S)" at once, not after causewayd's wait for it
void page_ask_running (page_t *self, const char *label, const char *actor, const char *command, json_t *args);
//  All asked: render when the last reply is in (at once if none is out)
void page_go (page_t *self);
//  The reply body under LABEL when the call succeeded, else NULL
json_t *page_reply (page_t *self, const char *label);
//  The error text of LABEL's call ("" when it succeeded or was not asked)
const char *page_error (page_t *self, const char *label);
//  Set the message said at the top of the page (copied)
void page_message (page_t *self, bool error, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
//  Set the field refused and why (copied)
void page_refuse (page_t *self, const char *key, const char *text);

//  The document up to the main content: the layout with the reset banner
//  (cluster.status says factory_reset_pending) and the page's message
html_t *page_begin (page_t *self, const char *title, const char *current);
//  Close and send the page with its status
void page_send (page_t *self, html_t **html_p);
//  When ACTOR is not running, or LABEL's call failed: say so (class
//  actor-down) and return true
bool page_actor_down (page_t *self, html_t *html, const char *actor, const char *label);
//  On a subordinate peer: the #primary-note with a link to the primary's
//  web address, and true (the caller disables cluster-wide forms)
bool page_primary_note (page_t *self, html_t *html);
//  Whether this peer is a subordinate of a cluster (cluster.status)
bool page_subordinate (page_t *self);
//  Any JSON value as HTML: an array of objects as a table (a column per
//  member), an object as a two-column table, a scalar as text. ID (may
//  be NULL) is the outer table's id.
void page_json (html_t *html, json_t *value, const char *id);
//  A JSON scalar or list as the text a person types ("a,b"; "on")
char *page_value_text (json_t *value);

//  The live alarm stream: GET /events/alarms (events.c)
void events_alarms (web_request_t *req);

//  The routes of each page module
int pages_cluster_routes (webadmin_t *web);
int pages_config_routes (webadmin_t *web);
//  Register every page route on WEB (0, or -1: too many tables)
int pages_routes (webadmin_t *web);

#endif
