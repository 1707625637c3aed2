/*  web.h - the web admin's handler interface: routes, requests, responses.

    webadmin.c owns the HTTPS daemons. Every module of the actor (pages,
    the REST API, /metrics, login) declares its routes in a table of
    web_route_t; the server matches a request's method and path against
    the tables (a "{}" segment of a pattern matches one path segment, read
    with web_param), checks its access (below) and calls the handler.

    A handler answers with web_respond / web_json / web_error / ... at once,
    or later: it may start calls to other actors (web_call) and answer from
    their callbacks; the connection is suspended meanwhile and resumed when
    the answer is set and no call is outstanding. Every request gets exactly
    one answer (a handler that returns without one and without a call in
    flight gets 500). Calls time out after WEB_CALL_TIMEOUT_MS (the callback
    then sees ok false and {"error": "timed out"}).

    Access (web_route_t.access):
      WEB_OPEN    no login (the login page, static files)
      WEB_PAGE    a session (cookie cw_session); without one a GET is
                  redirected to /login?next=PATH, anything else is 403; a
                  POST must carry the session's CSRF token (form field or
                  multipart part "csrf", or header X-CSRF-Token), else 403
      WEB_API     an API token (Authorization: Bearer), HTTP Basic with an
                  administrator account, or a session (non-GET: the CSRF
                  header); else 401 with WWW-Authenticate
      WEB_METRICS open to webadmin.metrics_allow, else as WEB_API

    Every response carries the security headers (CSP without inline script
    or style, frame denial, HSTS on HTTPS, nosniff, no-referrer, no-store).
*/
#ifndef WEBADMIN_WEB_H
#define WEBADMIN_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "cw_actor.h"

#define WEB_CALL_TIMEOUT_MS 10000
//  Largest request body read (bigger: 413)
#define WEB_MAX_BODY (64 * 1024 * 1024)

typedef struct _webadmin_t webadmin_t;
typedef struct _web_request_t web_request_t;

typedef enum {
    WEB_OPEN,
    WEB_PAGE,
    WEB_API,
    WEB_METRICS
} web_access_t;

typedef void (web_handler_fn) (web_request_t *req);

typedef struct {
    const char *method;     //  "GET", "POST", "PUT", "DELETE"; GET also serves HEAD
    const char *pattern;    //  "/api/v1/alarms/{}/ack"
    web_access_t access;
    web_handler_fn *handler;
    const char *summary;    //  one line, for the route listing
} web_route_t;

// ---------------------------------------------------------------------------
//  The request

webadmin_t *web_server (web_request_t *req);
cw_actor_t *web_actor (web_request_t *req);
const char *web_method (web_request_t *req);
//  The path, percent-decoded by libmicrohttpd, without the query
const char *web_path (web_request_t *req);
//  Segment N (0-based) of those the pattern's "{}" matched, or NULL
const char *web_param (web_request_t *req, int n);
//  A query argument, header or cookie; NULL when absent
const char *web_query (web_request_t *req, const char *name);
const char *web_header (web_request_t *req, const char *name);
const char *web_cookie (web_request_t *req, const char *name);
//  The body read (NUL-terminated; LEN may be NULL); "" when none
const char *web_body (web_request_t *req, size_t *len);
//  A field of an application/x-www-form-urlencoded body (decoded), or NULL
const char *web_form (web_request_t *req, const char *name);
//  A part of a multipart/form-data body: its bytes (not NUL-terminated,
//  *LEN of them; borrowed from the body), or NULL
const char *web_part (web_request_t *req, const char *name, size_t *len);
//  The body parsed as a JSON object (owned by the request), or NULL
json_t *web_body_json (web_request_t *req);
//  The client's address as text ("127.0.0.1", "::1")
const char *web_client (web_request_t *req);
//  The authenticated account name, or NULL (WEB_OPEN; metrics_allow)
const char *web_user (web_request_t *req);
//  The session's CSRF token (WEB_PAGE, or WEB_API by session), or NULL
const char *web_csrf (web_request_t *req);
//  Whether the request came with the session cookie (pages, the pages' script)
bool web_by_session (web_request_t *req);
//  A handler's own data kept until the request ends; FREE_FN (may be NULL)
//  is called on it then.
void web_set_data (web_request_t *req, void *data, void (*free_fn) (void *));
void *web_data (web_request_t *req);

// ---------------------------------------------------------------------------
//  Answers (each sets the one answer; a second one is ignored and logged)

//  BODY copied; TYPE e.g. "text/html; charset=utf-8"
void web_respond (web_request_t *req, unsigned status, const char *type, const char *body, size_t len);
//  Takes BODY (a string made with malloc) without copying
void web_respond_owned (web_request_t *req, unsigned status, const char *type, char *body, size_t len);
//  Takes the reference of BODY (compact JSON, a newline at the end)
void web_json (web_request_t *req, unsigned status, json_t *body);
//  {"error": MESSAGE}
void web_error (web_request_t *req, unsigned status, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
//  303 See Other to LOCATION (a local path)
void web_redirect (web_request_t *req, const char *location);
//  Add a header to the answer (before it is set). Set-Cookie may be added
//  more than once.
void web_add_header (web_request_t *req, const char *name, const char *value);
//  Whether the answer is set
bool web_answered (web_request_t *req);

// ---------------------------------------------------------------------------
//  Calls to other actors, by command name (routed to the actor that
//  declared it, as the control socket does; "" owns causewayd's own)

typedef void (web_call_fn) (web_request_t *req, bool ok, json_t *body, void *arg);
//  Start COMMAND with ARGS (taken; NULL = {}). FN is called once with the
//  reply (BODY borrowed), or with ok false and {"error": ...} when no actor
//  serves COMMAND, it could not be sent or it timed out. A command no actor
//  is known to serve waits for causewayd's routes to be asked again (an
//  actor that has just started). Returns 0 (-1 only out of memory, FN
//  called before it returns).
int web_call (web_request_t *req, const char *command, json_t *args, web_call_fn *fn, void *arg);
//  As web_call, for an ARG that FN frees: when the server stops with the
//  call in flight (FN never called), ARG is freed with FREE_ARG instead.
int web_call_owning (web_request_t *req, const char *command, json_t *args, web_call_fn *fn, void *arg,
                     void (*free_arg) (void *arg));
//  The actor that serves COMMAND, or NULL when none declared it (yet).
const char *web_route_of (webadmin_t *self, const char *command);

// ---------------------------------------------------------------------------
//  Streams (Server-Sent Events): the answer stays open; text is pushed with
//  web_stream_send until the client goes away or the server stops.

typedef struct _web_stream_t web_stream_t;
//  Answer REQ with a text/event-stream kept open. The stream belongs to the
//  server; ON_CLOSE (may be NULL) is called with ARG when it ends.
web_stream_t *web_stream_open (web_request_t *req, void (*on_close) (web_stream_t *stream, void *arg), void *arg);
//  Queue TEXT (an SSE block, "event: x\ndata: ...\n\n") on STREAM.
void web_stream_send (web_stream_t *stream, const char *text);
//  The account that opened the stream
const char *web_stream_user (web_stream_t *stream);

// ---------------------------------------------------------------------------
//  Server-wide

//  Register a table of routes (static, ends with a NULL pattern).
int web_routes_add (webadmin_t *self, const web_route_t *table);
//  Every route registered, as {"routes": [{"method","path","access","summary"}]}
json_t *web_routes_json (webadmin_t *self);
//  Whether the node has a webadmin listener: the first HTTPS URL of this
//  node ("https://127.0.0.1:8443"), for links
const char *web_base_url (webadmin_t *self);

#endif
