/*  webadmin.c - the HTTPS server of the web admin (libmicrohttpd in the
    actor's zloop) and the request life cycle of web.h.

    Every daemon is created with MHD_USE_EPOLL (external epoll): its epoll
    descriptor becomes a zloop poller, and a 500 ms timer runs MHD_run for
    connection timeouts and the streams' keep-alive. libmicrohttpd calls
    the access handler several times per request: first with the headers
    (a request object is made), then with pieces of the body (appended, up
    to WEB_MAX_BODY), then once more with none: the request is dispatched
    (route, access, handler). A handler that answers at once has its
    response queued in that same call; one that waits on other actors
    (web_call) leaves the connection suspended, and the last reply resumes
    it so that libmicrohttpd calls the access handler again, which queues
    the answer. Suspended requests are listed, so that webadmin_destroy
    answers them (503) before it stops the daemons (libmicrohttpd cannot
    stop with suspended connections); their calls' callbacks never run
    after that (the actor's loop has stopped).

    Streams (Server-Sent Events) are responses from a content-reader
    callback: it copies what web_stream_send queued, and with nothing
    queued suspends the connection until the next send or the 15 s
    keep-alive comment, which also finds clients that went away.
*/

#include "webadmin.h"
#include "session.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sodium.h>
#include <string.h>

#define S_MAX_DAEMONS (2 * CW_MAX_WEB_LISTENERS)
#define S_MAX_TABLES 16
#define S_MAX_PARAMS 4
#define S_MAX_HEADERS 8
#define S_MAX_STREAMS 64
#define S_STREAM_PING_MS 15000
//  GnuTLS priorities: TLS 1.2 and 1.3 only
#define S_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define S_CSP                                                                                                          \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "              \
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

typedef struct _s_call_t s_call_t;

typedef struct {
    webadmin_t *owner;
    struct MHD_Daemon *daemon;
    bool https;
    char name [80];    //  "https 127.0.0.1:8443" for logs
    int soon_timer;    //  a 1 ms zloop timer while work is pending, or -1
} s_daemon_t;

struct _web_stream_t {
    webadmin_t *owner;
    web_request_t *req;    //  NULL once the request ended
    struct MHD_Connection *con;
    s_daemon_t *daemon;
    char user [72];
    char *queue;    //  text not yet read by libmicrohttpd
    size_t queued, offset;
    bool suspended;
    bool closing;
    int64_t last_sent;
    void (*on_close) (web_stream_t *stream, void *arg);
    void *arg;
};

struct _webadmin_t {
    cw_actor_t *actor;
    const cw_bootstrap_t *boot;
    accounts_t *accounts;
    audit_t *audit;
    sessions_t *sessions;
    s_daemon_t daemons [S_MAX_DAEMONS];
    int daemon_count;
    int timer_id;
    char *cert_pem, *key_pem;
    char base_url [96];
    //  metrics_allow as binary addresses
    struct {
        int family;
        unsigned char ip [16];
    } allow [CW_MAX_METRICS_ALLOW];
    int allow_count;
    const web_route_t *tables [S_MAX_TABLES];
    int table_count;
    json_t *routes;    //  command -> actor, from causewayd's commands.routes
    bool routes_asked;
    s_call_t *calls;             //  every web_call in flight
    json_t *config;              //  key -> value (config.changed.*)
    web_request_t *suspended;    //  requests waiting on other actors
    web_stream_t *streams [S_MAX_STREAMS];
    int stream_count;
};

typedef enum {
    S_NEW,           //  headers seen, body being read
    S_DISPATCHED,    //  handler called; waiting for its answer or calls
    S_QUEUED         //  response queued (or the connection is a stream)
} s_state_t;

struct _web_request_t {
    s_daemon_t *daemon;
    struct MHD_Connection *con;
    s_state_t state;
    char method [16];
    char *path;
    char *params [S_MAX_PARAMS];
    int param_count;
    FILE *body_out;    //  while the body is read
    char *body;
    size_t body_len;
    bool too_large;
    json_t *form;    //  the urlencoded body, parsed once
    json_t *json;    //  the JSON body, parsed once
    char client [INET6_ADDRSTRLEN];
    char user [72];
    char csrf [72];
    bool by_session;
    void *data;
    void (*free_data) (void *);
    int calls;          //  web_call in flight
    bool in_handler;    //  the route's handler is running
    bool suspended;
    web_request_t *next;    //  in webadmin_t.suspended
    //  The answer
    bool answered;
    unsigned status;
    char *type;
    char *answer;
    size_t answer_len;
    char *headers [S_MAX_HEADERS][2];
    int header_count;
    web_stream_t *stream;
};

//  A web_call in flight: sent, or waiting for the routes (UNROUTED, with
//  its ARGS) when no actor was known to serve the command
struct _s_call_t {
    webadmin_t *owner;
    web_request_t *req;
    web_call_fn *fn;
    void *arg;
    char command [96];
    bool unrouted;
    json_t *args;
    s_call_t *prev, *next;    //  in webadmin_t.calls
};

static void s_resume (web_request_t *req);
static void s_run (s_daemon_t *daemon);

// ---------------------------------------------------------------------------
//  The request (web.h)

webadmin_t *
web_server (web_request_t *req)
{
    return req->daemon->owner;
}

cw_actor_t *
web_actor (web_request_t *req)
{
    return req->daemon->owner->actor;
}

const char *
web_method (web_request_t *req)
{
    return req->method;
}

const char *
web_path (web_request_t *req)
{
    return req->path;
}

const char *
web_param (web_request_t *req, int n)
{
    return n >= 0 && n < req->param_count ? req->params [n] : NULL;
}

const char *
web_query (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_GET_ARGUMENT_KIND, name);
}

const char *
web_header (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_HEADER_KIND, name);
}

const char *
web_cookie (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_COOKIE_KIND, name);
}

const char *
web_body (web_request_t *req, size_t *len)
{
    if (len)
        *len = req->body ? req->body_len : 0;
    return req->body ? req->body : "";
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Decode application/x-www-form-urlencoded text of LEN bytes into a new
//  string (plus as space, %XX); NULL for bad escapes or NUL bytes
static char *
s_urldecode (const char *text, size_t len)
{
    char *out = malloc (len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int hi = i + 2 < len ? s_hex (text [i + 1]) : -1;
            int lo = i + 2 < len ? s_hex (text [i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free (out);
                return NULL;
            }
            c = (char) (hi * 16 + lo);
            i += 2;
        }
        if (c == 0) {
            free (out);
            return NULL;
        }
        out [n++] = c;
    }
    out [n] = 0;
    return out;
}

const char *
web_form (web_request_t *req, const char *name)
{
    if (!req->form) {
        req->form = json_object ();
        const char *text = web_body (req, NULL);
        while (*text) {
            const char *end = strchr (text, '&');
            size_t len = end ? (size_t) (end - text) : strlen (text);
            const char *eq = memchr (text, '=', len);
            if (eq) {
                char *key = s_urldecode (text, (size_t) (eq - text));
                char *value = s_urldecode (eq + 1, len - (size_t) (eq - text) - 1);
                //  The first of a repeated field counts
                if (key && value && !json_object_get (req->form, key))
                    json_object_set_new (req->form, key, json_string (value));
                free (key);
                free (value);
            }
            text += len + (end ? 1 : 0);
        }
    }
    return json_string_value (json_object_get (req->form, name));
}

//  multipart/form-data: the part called NAME (its bytes in *LEN), or NULL
static const char *
s_part (const char *body, size_t body_len, const char *boundary, const char *name, size_t *len)
{
    char delimiter [256];
    int dlen = snprintf (delimiter, sizeof delimiter, "--%s", boundary);
    if (dlen <= 2 || (size_t) dlen >= sizeof delimiter)
        return NULL;
    char wanted [160];
    snprintf (wanted, sizeof wanted, "name=\"%s\"", name);
    const char *end = body + body_len;
    const char *at = memmem (body, body_len, delimiter, (size_t) dlen);
    while (at) {
        const char *headers = at + dlen;
        if (end - headers < 2 || memcmp (headers, "\r\n", 2) != 0)
            return NULL;    //  "--" after the last part, or malformed
        headers += 2;
        const char *content = memmem (headers, (size_t) (end - headers), "\r\n\r\n", 4);
        if (!content)
            return NULL;
        content += 4;
        char next_delimiter [260];
        int nlen = snprintf (next_delimiter, sizeof next_delimiter, "\r\n%s", delimiter);
        const char *next = memmem (content, (size_t) (end - content), next_delimiter, (size_t) nlen);
        if (!next)
            return NULL;
        //  Is this part NAME? (its Content-Disposition, before the blank line)
        const char *found = memmem (headers, (size_t) (content - headers), wanted, strlen (wanted));
        if (found && (found == headers || found [-1] == ' ' || found [-1] == ';')) {
            *len = (size_t) (next - content);
            return content;
        }
        at = next + 2;
    }
    return NULL;
}

//  The boundary parameter of a multipart Content-Type, into OUT
static bool
s_boundary (const char *type, char *out, size_t len)
{
    if (!type || strncasecmp (type, "multipart/form-data", 19) != 0)
        return false;
    const char *b = strstr (type, "boundary=");
    if (!b)
        return false;
    b += 9;
    bool quoted = *b == '"';
    b += quoted;
    size_t n = strcspn (b, quoted ? "\"" : "; \t");
    if (n == 0 || n >= len || n > 70)
        return false;
    memcpy (out, b, n);
    out [n] = 0;
    return true;
}

const char *
web_part (web_request_t *req, const char *name, size_t *len)
{
    char boundary [80];
    size_t body_len;
    const char *body = web_body (req, &body_len);
    *len = 0;
    if (!s_boundary (web_header (req, MHD_HTTP_HEADER_CONTENT_TYPE), boundary, sizeof boundary))
        return NULL;
    return s_part (body, body_len, boundary, name, len);
}

json_t *
web_body_json (web_request_t *req)
{
    if (!req->json && req->body && req->body_len) {
        json_t *json = json_loadb (req->body, req->body_len, 0, NULL);
        if (json_is_object (json))
            req->json = json;
        else
            json_decref (json);
    }
    return req->json;
}

const char *
web_client (web_request_t *req)
{
    return req->client;
}

const char *
web_user (web_request_t *req)
{
    return *req->user ? req->user : NULL;
}

const char *
web_csrf (web_request_t *req)
{
    return *req->csrf ? req->csrf : NULL;
}

bool
web_by_session (web_request_t *req)
{
    return req->by_session;
}

void
web_set_data (web_request_t *req, void *data, void (*free_fn) (void *))
{
    if (req->data && req->free_data)
        req->free_data (req->data);
    req->data = data;
    req->free_data = free_fn;
}

void *
web_data (web_request_t *req)
{
    return req->data;
}

// ---------------------------------------------------------------------------
//  Answers

void
web_respond_owned (web_request_t *req, unsigned status, const char *type, char *body, size_t len)
{
    if (req->answered) {
        cw_warn ("webadmin: %s %s: a second answer (%u) ignored", req->method, req->path, status);
        free (body);
        return;
    }
    req->answered = true;
    req->status = status;
    req->type = strdup (type);
    req->answer = body;
    req->answer_len = len;
    s_resume (req);
}

void
web_respond (web_request_t *req, unsigned status, const char *type, const char *body, size_t len)
{
    char *copy = malloc (len + 1);
    if (copy) {
        memcpy (copy, body, len);
        copy [len] = 0;
    }
    web_respond_owned (req, copy ? status : MHD_HTTP_INTERNAL_SERVER_ERROR, type, copy ? copy : strdup (""),
                       copy ? len : 0);
}

void
web_json (web_request_t *req, unsigned status, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text) {
        web_respond (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", "{\"error\":\"out of memory\"}\n", 25);
        return;
    }
    size_t len = strlen (text);
    char *line = realloc (text, len + 2);
    if (line) {
        line [len++] = '\n';
        line [len] = 0;
        text = line;
    }
    web_respond_owned (req, status, "application/json", text, len);
}

void
web_error (web_request_t *req, unsigned status, const char *fmt, ...)
{
    char message [1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    web_json (req, status, json_pack ("{s:s}", "error", message));
}

void
web_redirect (web_request_t *req, const char *location)
{
    //  Local paths only: no scheme, no "//host"
    if (!location || location [0] != '/' || location [1] == '/' || location [1] == '\\' || strpbrk (location, "\r\n"))
        location = "/";
    web_add_header (req, MHD_HTTP_HEADER_LOCATION, location);
    web_respond (req, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "see other\n", 10);
}

void
web_add_header (web_request_t *req, const char *name, const char *value)
{
    if (req->answered || req->header_count >= S_MAX_HEADERS || strpbrk (value, "\r\n"))
        return;
    req->headers [req->header_count][0] = strdup (name);
    req->headers [req->header_count][1] = strdup (value);
    req->header_count++;
}

bool
web_answered (web_request_t *req)
{
    return req->answered;
}

// ---------------------------------------------------------------------------
//  Calls to other actors

static void s_ask_routes (webadmin_t *self);

const char *
web_route_of (webadmin_t *self, const char *command)
{
    const char *actor = json_string_value (json_object_get (self->routes, command));
    if (!actor)
        s_ask_routes (self);
    return actor;
}

static void
s_call_unlink (s_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        call->owner->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

//  CALL is answered (BODY borrowed): its callback, then the request's
//  answer or resumption when it was the last call
static void
s_call_finish (s_call_t *call, bool ok, json_t *body)
{
    web_request_t *req = call->req;
    s_call_unlink (call);
    call->fn (req, ok, body, call->arg);
    json_decref (call->args);
    free (call);
    req->calls--;
    if (req->in_handler)
        return;    //  s_dispatch checks the answer when the handler returns
    if (req->calls == 0 && !req->answered) {
        cw_warn ("webadmin: %s %s: no answer after the last call", req->method, req->path);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error: no answer");
    }
    else
        s_resume (req);
}

static void
s_call_fail (s_call_t *call, const char *message)
{
    json_t *error = json_pack ("{s:s}", "error", message);
    s_call_finish (call, false, error);
    json_decref (error);
}

static void
s_on_call_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_call_finish ((s_call_t *) arg, ok, body);
}

static void
s_call_send (s_call_t *call, const char *to)
{
    json_t *args = call->args;
    call->args = NULL;
    call->unrouted = false;
    if (cw_actor_request (call->owner->actor, to, call->command, args, s_on_call_reply, call, WEB_CALL_TIMEOUT_MS) != 0)
        s_call_fail (call, "the request could not be sent to the actor");
}

int
web_call (web_request_t *req, const char *command, json_t *args, web_call_fn *fn, void *arg)
{
    webadmin_t *self = req->daemon->owner;
    s_call_t *call = calloc (1, sizeof *call);
    if (!call) {
        json_decref (args);
        json_t *error = json_pack ("{s:s}", "error", "out of memory");
        fn (req, false, error, arg);
        json_decref (error);
        return -1;
    }
    call->owner = self;
    call->req = req;
    call->fn = fn;
    call->arg = arg;
    call->args = args;
    snprintf (call->command, sizeof call->command, "%s", command);
    call->next = self->calls;
    if (self->calls)
        self->calls->prev = call;
    self->calls = call;
    req->calls++;
    const char *to = json_string_value (json_object_get (self->routes, command));
    if (to)
        s_call_send (call, to);
    else {
        //  Not known (yet): ask causewayd again and send it then
        call->unrouted = true;
        s_ask_routes (self);
        if (!self->routes_asked)
            s_call_fail (call, "causewayd cannot be asked which actor serves this command");
    }
    return 0;
}

static void
s_on_routes (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    webadmin_t *self = (webadmin_t *) arg;
    self->routes_asked = false;
    json_t *routes = json_object_get (body, "routes");
    if (ok && json_is_object (routes)) {
        json_decref (self->routes);
        self->routes = json_incref (routes);
    }
    else
        cw_warn ("webadmin: causewayd did not answer commands.routes: %s",
                 json_string_value (json_object_get (body, "error")));
    //  The calls that waited for this answer
    s_call_t *call = self->calls;
    while (call) {
        s_call_t *next = call->next;
        if (call->unrouted) {
            const char *to = json_string_value (json_object_get (self->routes, call->command));
            if (to)
                s_call_send (call, to);
            else
                s_call_fail (call, "no actor serves this command now (is it running?)");
        }
        call = next;
    }
}

static void
s_ask_routes (webadmin_t *self)
{
    if (self->routes_asked)
        return;
    self->routes_asked = true;
    if (cw_actor_request (self->actor, "", "commands.routes", NULL, s_on_routes, self, 5000) != 0)
        self->routes_asked = false;
}

// ---------------------------------------------------------------------------
//  Settings and events

json_t *
webadmin_config (webadmin_t *self, const char *key)
{
    return json_object_get (self->config, key);
}

int64_t
webadmin_config_int (webadmin_t *self, const char *key, int64_t dflt)
{
    json_t *value = webadmin_config (self, key);
    if (json_is_integer (value))
        return json_integer_value (value);
    if (json_is_string (value))
        return strtoll (json_string_value (value), NULL, 10);
    return dflt;
}

void
webadmin_on_event (webadmin_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self)
        return;
    if (strcmp (ev->command, "actor.ready") == 0)
        s_ask_routes (self);
    else if (ev->type == CW_MSG_STATE && strncmp (ev->command, "config.changed.", 15) == 0) {
        json_t *value = json_object_get (body, "value");
        if (value)
            json_object_set (self->config, ev->command + 15, value);
    }
}

accounts_t *
webadmin_accounts (webadmin_t *self)
{
    return self->accounts;
}

audit_t *
webadmin_audit (webadmin_t *self)
{
    return self->audit;
}

sessions_t *
webadmin_sessions (webadmin_t *self)
{
    return self->sessions;
}

void
webadmin_audit_request (web_request_t *req, const char *action, const char *detail, const char *result)
{
    webadmin_t *self = req->daemon->owner;
    if (self->audit)
        audit_record (self->audit, *req->user ? req->user : "-", req->client, action, detail, result);
}

// ---------------------------------------------------------------------------
//  Routes

int
web_routes_add (webadmin_t *self, const web_route_t *table)
{
    if (self->table_count >= S_MAX_TABLES)
        return -1;
    self->tables [self->table_count++] = table;
    return 0;
}

static const char *
s_access_name (web_access_t access)
{
    return access == WEB_OPEN ? "open" : access == WEB_PAGE ? "page" : access == WEB_API ? "api" : "metrics";
}

json_t *
web_routes_json (webadmin_t *self)
{
    json_t *routes = json_array ();
    for (int t = 0; t < self->table_count; t++)
        for (const web_route_t *route = self->tables [t]; route->pattern; route++)
            json_array_append_new (routes, json_pack ("{s:s, s:s, s:s, s:s}", "method", route->method, "path",
                                                      route->pattern, "access", s_access_name (route->access),
                                                      "summary", route->summary ? route->summary : ""));
    return json_pack ("{s:o}", "routes", routes);
}

const char *
web_base_url (webadmin_t *self)
{
    return self->base_url;
}

//  Whether PATH matches PATTERN; the "{}" segments into REQ's params
static bool
s_match (web_request_t *req, const char *pattern, const char *path)
{
    for (int i = 0; i < req->param_count; i++)
        free (req->params [i]);
    req->param_count = 0;
    while (*pattern && *path) {
        if (pattern [0] == '{' && pattern [1] == '}') {
            const char *end = strchr (path, '/');
            size_t len = end ? (size_t) (end - path) : strlen (path);
            if (len == 0 || req->param_count >= S_MAX_PARAMS)
                return false;
            req->params [req->param_count++] = strndup (path, len);
            path += len;
            pattern += 2;
        }
        else if (*pattern++ != *path++)
            return false;
    }
    return *pattern == 0 && *path == 0;
}

// ---------------------------------------------------------------------------
//  Access

//  Whether the client of REQ is in webadmin.metrics_allow
static bool
s_allowed (webadmin_t *self, web_request_t *req)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (req->con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return false;
    const struct sockaddr *sa = info->client_addr;
    for (int i = 0; i < self->allow_count; i++) {
        if (sa->sa_family == AF_INET && self->allow [i].family == AF_INET
            && memcmp (&((const struct sockaddr_in *) sa)->sin_addr, self->allow [i].ip, 4) == 0)
            return true;
        if (sa->sa_family == AF_INET6 && self->allow [i].family == AF_INET6
            && memcmp (&((const struct sockaddr_in6 *) sa)->sin6_addr, self->allow [i].ip, 16) == 0)
            return true;
    }
    return false;
}

static bool
s_is_read (const char *method)
{
    return strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
}

//  The session of REQ's cookie, if any: user and CSRF token set. A
//  non-read request must also carry the token (form field or header).
//  0 when it passes, else the HTTP status to answer.
static unsigned
s_check_session (webadmin_t *self, web_request_t *req, bool *csrf_ok)
{
    const char *cookie = web_cookie (req, SESSION_COOKIE);
    *csrf_ok = false;
    if (!cookie || !sessions_check (self->sessions, cookie, req->user, sizeof req->user, req->csrf, sizeof req->csrf))
        return MHD_HTTP_UNAUTHORIZED;
    req->by_session = true;
    if (s_is_read (req->method)) {
        *csrf_ok = true;
        return 0;
    }
    const char *token = web_header (req, "X-CSRF-Token");
    char part [72] = "";
    if (!token) {
        const char *type = web_header (req, MHD_HTTP_HEADER_CONTENT_TYPE);
        size_t len = 0;
        const char *found = NULL;
        if (type && strncasecmp (type, "application/x-www-form-urlencoded", 33) == 0)
            token = web_form (req, "csrf");
        else if ((found = web_part (req, "csrf", &len)) && len < sizeof part) {
            memcpy (part, found, len);
            token = part;
        }
    }
    *csrf_ok = token && sessions_csrf_equal (req->csrf, token);
    return *csrf_ok ? 0 : MHD_HTTP_FORBIDDEN;
}

//  API credentials: Bearer token, HTTP Basic, or the session. 0 when they
//  pass, else the status (401, 403 CSRF, 429 locked).
static unsigned
s_check_api (webadmin_t *self, web_request_t *req)
{
    const char *authorization = web_header (req, MHD_HTTP_HEADER_AUTHORIZATION);
    if (authorization && strncasecmp (authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        while (*token == ' ')
            token++;
        return accounts_verify_token (self->accounts, token, req->user, sizeof req->user) ? 0 : MHD_HTTP_UNAUTHORIZED;
    }
    if (authorization && strncasecmp (authorization, "Basic ", 6) == 0) {
        char *password = NULL;
        char *name = MHD_basic_auth_get_username_password (req->con, &password);
        unsigned status = MHD_HTTP_UNAUTHORIZED;
        if (name && password)
            status = sessions_login (self->sessions, name, password, req->client, NULL, 0);
        if (status == 0)
            snprintf (req->user, sizeof req->user, "%s", name);
        if (password) {
            sodium_memzero (password, strlen (password));
            MHD_free (password);
        }
        if (name)
            MHD_free (name);
        return status;
    }
    bool csrf_ok;
    unsigned status = s_check_session (self, req, &csrf_ok);
    return status;
}

static void
s_refuse_api (web_request_t *req, unsigned status)
{
    if (status == MHD_HTTP_UNAUTHORIZED) {
        web_add_header (req, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"Causeway\", charset=\"UTF-8\"");
        web_error (req, status,
                   "authentication required: an API token (Authorization: Bearer), HTTP Basic with an "
                   "administrator account, or a session");
    }
    else if (status == MHD_HTTP_TOO_MANY_REQUESTS)
        web_error (req, status, "locked: too many failed logins for this account or address; try again later");
    else
        web_error (req, status, "refused: the security token (X-CSRF-Token) is missing or wrong");
}

// ---------------------------------------------------------------------------
//  Dispatch

//  Plain HTTP: 308 to the same path (not the query: libmicrohttpd hands
//  the path alone) on the first HTTPS address, under the host name the
//  client used when it is a plain one
static void
s_redirect_to_https (webadmin_t *self, web_request_t *req, const char *url)
{
    const cw_web_listener_t *target = &self->boot->webadmin.listen [0];
    const char *host = web_header (req, MHD_HTTP_HEADER_HOST);
    char name [256];
    bool v6 = strchr (target->address, ':') != NULL;
    snprintf (name, sizeof name, v6 ? "[%s]" : "%s", target->address);
    if (host && *host && strlen (host) < sizeof name
        && strspn (host, "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
               == strlen (host)) {
        snprintf (name, sizeof name, "%s", host);
        //  Drop the client's port (the one of the redirect listener)
        char *close = strrchr (name, ']');
        char *colon = strrchr (name, ':');
        if (colon && (name [0] != '[' || (close && colon > close)))
            *colon = 0;
    }
    //  The path only when it is plain printable text (no header injection)
    const char *path = url && *url == '/' && strlen (url) < 2048 ? url : "/";
    for (const char *c = path; *c; c++)
        if ((unsigned char) *c <= ' ' || (unsigned char) *c >= 0x7f) {
            path = "/";
            break;
        }
    char location [2400];
    snprintf (location, sizeof location, "https://%s:%d%s", name, target->port, path);
    web_add_header (req, MHD_HTTP_HEADER_LOCATION, location);
    web_respond (req, MHD_HTTP_PERMANENT_REDIRECT, "text/plain; charset=utf-8", "moved to HTTPS\n", 15);
}

static void
s_dispatch (webadmin_t *self, web_request_t *req)
{
    if (!req->daemon->https) {
        s_redirect_to_https (self, req, req->path);
        return;
    }
    if (req->too_large) {
        web_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large: the limit is %d bytes", WEB_MAX_BODY);
        return;
    }
    const char *method = strcmp (req->method, "HEAD") == 0 ? "GET" : req->method;
    const web_route_t *found = NULL;
    bool path_known = false;
    for (int t = 0; t < self->table_count && !found; t++)
        for (const web_route_t *route = self->tables [t]; route->pattern; route++)
            if (s_match (req, route->pattern, req->path)) {
                path_known = true;
                if (strcmp (route->method, method) == 0) {
                    found = route;
                    break;
                }
            }
    bool api = strncmp (req->path, "/api/", 5) == 0 || strcmp (req->path, "/metrics") == 0;
    if (!found) {
        if (!api && !path_known && strcmp (method, "GET") == 0) {
            //  A page that does not exist: the same answer logged in or not
            web_respond (req, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", "not found\n", 10);
            return;
        }
        if (path_known)
            web_error (req, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed on %s", req->method, req->path);
        else
            web_error (req, MHD_HTTP_NOT_FOUND, "not found: %s", req->path);
        return;
    }
    if (found->access == WEB_PAGE) {
        bool csrf_ok;
        unsigned status = s_check_session (self, req, &csrf_ok);
        if (status == MHD_HTTP_UNAUTHORIZED) {
            if (s_is_read (req->method)) {
                char *next = session_next_param (req->path);
                char location [2200];
                snprintf (location, sizeof location, "/login%s%s", next ? "?next=" : "", next ? next : "");
                free (next);
                web_redirect (req, location);
            }
            else
                session_refuse_page (req, MHD_HTTP_FORBIDDEN,
                                     "Refused: no session (log in again); nothing was changed.");
            return;
        }
        if (status) {
            session_refuse_page (req, MHD_HTTP_FORBIDDEN,
                                 "Refused: the form's security token is missing or wrong (CSRF); nothing was changed.");
            return;
        }
    }
    else if (found->access == WEB_API || (found->access == WEB_METRICS && !s_allowed (self, req))) {
        unsigned status = s_check_api (self, req);
        if (status) {
            s_refuse_api (req, status);
            return;
        }
    }
    req->in_handler = true;
    found->handler (req);
    req->in_handler = false;
    if (!req->answered && req->calls == 0 && !req->stream) {
        cw_warn ("webadmin: %s %s: the handler gave no answer", req->method, req->path);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error: no answer");
    }
}

static void
s_security_headers (struct MHD_Response *response, bool https)
{
    MHD_add_response_header (response, "Content-Security-Policy", S_CSP);
    MHD_add_response_header (response, "X-Frame-Options", "DENY");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (response, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (https)
        MHD_add_response_header (response, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result
s_queue (web_request_t *req)
{
    req->state = S_QUEUED;
    struct MHD_Response *response = MHD_create_response_from_buffer (req->answer_len, req->answer,
                                                                     MHD_RESPMEM_MUST_FREE);
    if (!response)
        return MHD_NO;
    req->answer = NULL;    //  the response frees it
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, req->type ? req->type : "text/plain");
    s_security_headers (response, req->daemon->https);
    for (int i = 0; i < req->header_count; i++)
        MHD_add_response_header (response, req->headers [i][0], req->headers [i][1]);
    enum MHD_Result rc = MHD_queue_response (req->con, req->status, response);
    MHD_destroy_response (response);
    return rc;
}

static void
s_unlist (webadmin_t *self, web_request_t *req)
{
    for (web_request_t **p = &self->suspended; *p; p = &(*p)->next)
        if (*p == req) {
            *p = req->next;
            break;
        }
    req->next = NULL;
}

//  Resume REQ when it waits, has its answer and no call in flight
static void
s_resume (web_request_t *req)
{
    if (!req->suspended || !req->answered || req->calls > 0)
        return;
    req->suspended = false;
    s_unlist (req->daemon->owner, req);
    MHD_resume_connection (req->con);
    s_run (req->daemon);
}

// ---------------------------------------------------------------------------
//  Streams

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    web_stream_t *stream = (web_stream_t *) cls;
    if (stream->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (stream->offset < stream->queued) {
        size_t n = stream->queued - stream->offset;
        if (n > max)
            n = max;
        memcpy (buf, stream->queue + stream->offset, n);
        stream->offset += n;
        if (stream->offset == stream->queued)
            stream->offset = stream->queued = 0;
        return (ssize_t) n;
    }
    //  Nothing to send: wait for web_stream_send or the keep-alive
    stream->suspended = true;
    MHD_suspend_connection (stream->con);
    return 0;
}

static void
s_stream_unlist (webadmin_t *self, web_stream_t *stream)
{
    for (int i = 0; i < self->stream_count; i++)
        if (self->streams [i] == stream) {
            self->streams [i] = self->streams [--self->stream_count];
            break;
        }
}

//  libmicrohttpd is done with the stream's response
static void
s_stream_free (void *cls)
{
    web_stream_t *stream = (web_stream_t *) cls;
    s_stream_unlist (stream->owner, stream);
    if (stream->on_close)
        stream->on_close (stream, stream->arg);
    if (stream->req)
        stream->req->stream = NULL;
    free (stream->queue);
    free (stream);
}

static void
s_stream_wake (web_stream_t *stream)
{
    if (stream->suspended) {
        stream->suspended = false;
        MHD_resume_connection (stream->con);
        s_run (stream->daemon);
    }
}

web_stream_t *
web_stream_open (web_request_t *req, void (*on_close) (web_stream_t *stream, void *arg), void *arg)
{
    webadmin_t *self = req->daemon->owner;
    if (req->answered || req->stream)
        return NULL;
    if (self->stream_count >= S_MAX_STREAMS) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams open (%d)", S_MAX_STREAMS);
        return NULL;
    }
    web_stream_t *stream = calloc (1, sizeof *stream);
    if (!stream) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    stream->owner = self;
    stream->req = req;
    stream->con = req->con;
    stream->daemon = req->daemon;
    snprintf (stream->user, sizeof stream->user, "%s", req->user);
    stream->on_close = on_close;
    stream->arg = arg;
    stream->last_sent = zclock_mono ();
    struct MHD_Response *response = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_stream_read, stream,
                                                                       s_stream_free);
    if (!response) {
        free (stream);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    s_security_headers (response, req->daemon->https);
    self->streams [self->stream_count++] = stream;
    req->stream = stream;
    req->answered = true;
    req->state = S_QUEUED;
    MHD_queue_response (req->con, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    web_stream_send (stream, ": stream open\n\n");
    return stream;
}

void
web_stream_send (web_stream_t *stream, const char *text)
{
    size_t len = strlen (text);
    //  A client that reads nothing for long is dropped (1 MiB behind)
    if (stream->queued + len > 1024 * 1024) {
        stream->closing = true;
        s_stream_wake (stream);
        return;
    }
    char *queue = realloc (stream->queue, stream->queued + len);
    if (!queue)
        return;
    memcpy (queue + stream->queued, text, len);
    stream->queue = queue;
    stream->queued += len;
    stream->last_sent = zclock_mono ();
    s_stream_wake (stream);
}

const char *
web_stream_user (web_stream_t *stream)
{
    return stream->user;
}

// ---------------------------------------------------------------------------
//  The access handler of every daemon

static enum MHD_Result
s_on_access (void *cls, struct MHD_Connection *con, const char *url, const char *method, const char *version,
             const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    s_daemon_t *daemon = (s_daemon_t *) cls;
    webadmin_t *self = daemon->owner;
    web_request_t *req = (web_request_t *) *con_cls;
    if (!req) {    //  first call: headers only
        req = calloc (1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->daemon = daemon;
        req->con = con;
        snprintf (req->method, sizeof req->method, "%s", method);
        req->path = strdup (url && *url ? url : "/");
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info && info->client_addr) {
            const struct sockaddr *sa = info->client_addr;
            if (sa->sa_family == AF_INET)
                inet_ntop (AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, req->client, sizeof req->client);
            else if (sa->sa_family == AF_INET6)
                inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, req->client, sizeof req->client);
        }
        *con_cls = req;
        return req->path ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        if (!req->too_large && req->body_len + *upload_data_size > WEB_MAX_BODY)
            req->too_large = true;
        if (!req->too_large) {
            if (!req->body_out)
                req->body_out = open_memstream (&req->body, &req->body_len);
            if (!req->body_out || fwrite (upload_data, 1, *upload_data_size, req->body_out) != *upload_data_size)
                req->too_large = true;
            else
                fflush (req->body_out);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->state == S_NEW) {
        if (req->body_out) {
            fclose (req->body_out);
            req->body_out = NULL;
        }
        req->state = S_DISPATCHED;
        s_dispatch (self, req);
        if (req->stream)
            return MHD_YES;
        if (!req->answered || req->calls > 0) {
            req->suspended = true;
            req->next = self->suspended;
            self->suspended = req;
            MHD_suspend_connection (con);
            return MHD_YES;
        }
    }
    if (req->state == S_DISPATCHED && req->answered)
        return s_queue (req);
    return MHD_YES;
}

static void
s_on_completed (void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void) con;
    (void) code;
    s_daemon_t *daemon = (s_daemon_t *) cls;
    web_request_t *req = (web_request_t *) *con_cls;
    if (!req)
        return;
    s_unlist (daemon->owner, req);
    if (req->stream)
        req->stream->req = NULL;
    if (req->body_out)
        fclose (req->body_out);
    free (req->body);
    free (req->path);
    for (int i = 0; i < req->param_count; i++)
        free (req->params [i]);
    json_decref (req->form);
    json_decref (req->json);
    if (req->data && req->free_data)
        req->free_data (req->data);
    free (req->type);
    free (req->answer);
    for (int i = 0; i < req->header_count; i++) {
        free (req->headers [i][0]);
        free (req->headers [i][1]);
    }
    sodium_memzero (req->csrf, sizeof req->csrf);
    free (req);
    *con_cls = NULL;
}

static void
s_on_mhd_log (void *cls, const char *fmt, va_list ap)
{
    char text [512];
    vsnprintf (text, sizeof text, fmt, ap);
    size_t len = strlen (text);
    while (len && text [len - 1] == '\n')
        text [--len] = 0;
    cw_warn ("webadmin: %s: %s", ((s_daemon_t *) cls)->name, text);
}

// ---------------------------------------------------------------------------
//  Daemons in the zloop

static int
s_on_soon (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_daemon_t *daemon = (s_daemon_t *) arg;
    daemon->soon_timer = -1;
    s_run (daemon);
    return 0;
}

//  Run DAEMON while it has work now (libmicrohttpd's timeout is 0: resumed
//  connections, TLS records already read into GnuTLS's buffers, which the
//  epoll descriptor no longer shows); what is left after a few rounds gets
//  a 1 ms timer rather than waiting for the 500 ms tick.
static void
s_run (s_daemon_t *daemon)
{
    MHD_UNSIGNED_LONG_LONG timeout = 1;
    for (int round = 0; round < 4; round++) {
        MHD_run (daemon->daemon);
        if (MHD_get_timeout (daemon->daemon, &timeout) != MHD_YES || timeout > 0)
            return;
    }
    if (timeout == 0 && daemon->soon_timer < 0)
        daemon->soon_timer = zloop_timer (cw_actor_loop (daemon->owner->actor), 1, 1, s_on_soon, daemon);
}

static int
s_on_epoll (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    s_run ((s_daemon_t *) arg);
    return 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    webadmin_t *self = (webadmin_t *) arg;
    int64_t now = zclock_mono ();
    for (int i = self->stream_count - 1; i >= 0; i--) {
        web_stream_t *stream = self->streams [i];
        if (now - stream->last_sent >= S_STREAM_PING_MS)
            web_stream_send (stream, ": keep-alive\n\n");
    }
    sessions_expire (self->sessions);
    for (int i = 0; i < self->daemon_count; i++)
        s_run (&self->daemons [i]);
    return 0;
}

static char *
s_read_file (const char *path, char *err, size_t errlen, const char *key)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "cannot read %s '%s': %s", key, path, strerror (errno));
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    char buffer [4096];
    size_t n;
    while (out && (n = fread (buffer, 1, sizeof buffer, file)) > 0)
        fwrite (buffer, 1, n, out);
    fclose (file);
    if (out)
        fclose (out);
    if (!text)
        snprintf (err, errlen, "cannot read %s '%s': out of memory", key, path);
    return text;
}

static int
s_start (webadmin_t *self, const cw_web_listener_t *at, bool https, char *err, size_t errlen)
{
    s_daemon_t *daemon = &self->daemons [self->daemon_count];
    daemon->owner = self;
    daemon->https = https;
    daemon->soon_timer = -1;
    bool v6 = strchr (at->address, ':') != NULL;
    snprintf (daemon->name, sizeof daemon->name, v6 ? "%s [%s]:%d" : "%s %s:%d", https ? "https" : "redirect",
              at->address, at->port);
    struct sockaddr_storage addr;
    memset (&addr, 0, sizeof addr);
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons ((uint16_t) at->port);
        inet_pton (AF_INET6, at->address, &sin6->sin6_addr);
    }
    else {
        struct sockaddr_in *sin = (struct sockaddr_in *) &addr;
        sin->sin_family = AF_INET;
        sin->sin_port = htons ((uint16_t) at->port);
        inet_pton (AF_INET, at->address, &sin->sin_addr);
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0)
                   | (https ? MHD_USE_TLS : 0);
    struct MHD_OptionItem tls [] = {
        { https ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, self->cert_pem },
        { MHD_OPTION_HTTPS_MEM_KEY, 0, self->key_pem },
        { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) S_TLS_PRIORITIES },
        { MHD_OPTION_END, 0, NULL },
    };
    daemon->daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_on_access, daemon, MHD_OPTION_EXTERNAL_LOGGER,
                                       s_on_mhd_log, daemon,    //  first
                                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr, MHD_OPTION_NOTIFY_COMPLETED,
                                       s_on_completed, daemon, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30,
                                       MHD_OPTION_CONNECTION_LIMIT, (unsigned) 512, MHD_OPTION_ARRAY, tls,
                                       MHD_OPTION_END);
    if (!daemon->daemon) {
        snprintf (err, errlen, "webadmin.%s: cannot listen on %s (in use, or not an address of this host?)",
                  https ? "listen" : "redirect", daemon->name);
        return -1;
    }
    self->daemon_count++;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (daemon->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    zmq_pollitem_t item = { NULL, info ? info->epoll_fd : -1, ZMQ_POLLIN, 0 };
    if (!info || zloop_poller (cw_actor_loop (self->actor), &item, s_on_epoll, daemon) != 0) {
        snprintf (err, errlen, "%s: the event loop refused the daemon's epoll descriptor", daemon->name);
        return -1;
    }
    cw_info ("webadmin: serving %s", daemon->name);
    return 0;
}

webadmin_t *
webadmin_new (cw_actor_t *actor, accounts_t *accounts, audit_t *audit, char *err, size_t errlen)
{
    webadmin_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->accounts = accounts;
    self->audit = audit;
    self->boot = cw_actor_bootstrap (actor);
    self->timer_id = -1;
    self->routes = json_object ();
    self->config = json_object ();
    self->sessions = sessions_new (self);
    if (!self->sessions) {
        snprintf (err, errlen, "out of memory");
        webadmin_destroy (&self);
        return NULL;
    }
    const cw_bootstrap_t *boot = self->boot;
    for (int i = 0; i < boot->webadmin.metrics_allow_count; i++) {
        const char *text = boot->webadmin.metrics_allow [i];
        if (inet_pton (AF_INET, text, self->allow [self->allow_count].ip) == 1)
            self->allow [self->allow_count++].family = AF_INET;
        else if (inet_pton (AF_INET6, text, self->allow [self->allow_count].ip) == 1)
            self->allow [self->allow_count++].family = AF_INET6;
    }
    if (boot->webadmin.listen_count) {
        const cw_web_listener_t *first = &boot->webadmin.listen [0];
        snprintf (self->base_url, sizeof self->base_url,
                  strchr (first->address, ':') ? "https://[%s]:%d" : "https://%s:%d", first->address, first->port);
        self->cert_pem = s_read_file (boot->webadmin.certificate, err, errlen, "webadmin.certificate");
        self->key_pem = self->cert_pem ? s_read_file (boot->webadmin.private_key, err, errlen, "webadmin.private_key")
                                       : NULL;
        if (!self->key_pem) {
            webadmin_destroy (&self);
            return NULL;
        }
    }
    for (int i = 0; i < boot->webadmin.listen_count; i++)
        if (s_start (self, &boot->webadmin.listen [i], true, err, errlen)) {
            webadmin_destroy (&self);
            return NULL;
        }
    for (int i = 0; i < boot->webadmin.redirect_count; i++)
        if (s_start (self, &boot->webadmin.redirect [i], false, err, errlen)) {
            webadmin_destroy (&self);
            return NULL;
        }
    if (self->daemon_count)
        self->timer_id = zloop_timer (cw_actor_loop (actor), 500, 0, s_on_tick, self);
    s_ask_routes (self);
    return self;
}

void
webadmin_destroy (webadmin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    webadmin_t *self = *self_p;
    //  Answer what waits on other actors: libmicrohttpd cannot stop with it
    //  suspended (the calls' callbacks never come: the loop has stopped)
    while (self->suspended) {
        web_request_t *req = self->suspended;
        self->suspended = req->next;
        req->next = NULL;
        req->suspended = false;
        req->calls = 0;
        if (!req->answered)
            web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the web admin is stopping");
        MHD_resume_connection (req->con);
    }
    for (int i = 0; i < self->stream_count; i++) {
        self->streams [i]->closing = true;
        if (self->streams [i]->suspended) {
            self->streams [i]->suspended = false;
            MHD_resume_connection (self->streams [i]->con);
        }
    }
    zloop_t *loop = cw_actor_loop (self->actor);
    if (self->timer_id >= 0)
        zloop_timer_end (loop, self->timer_id);
    for (int i = 0; i < self->daemon_count; i++) {
        if (self->daemons [i].soon_timer >= 0)
            zloop_timer_end (loop, self->daemons [i].soon_timer);
        MHD_run (self->daemons [i].daemon);
        const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemons [i].daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (info) {
            zmq_pollitem_t item = { NULL, info->epoll_fd, ZMQ_POLLIN, 0 };
            zloop_poller_end (loop, &item);
        }
        MHD_stop_daemon (self->daemons [i].daemon);
    }
    //  The calls still in flight (their replies will never be read)
    while (self->calls) {
        s_call_t *call = self->calls;
        s_call_unlink (call);
        json_decref (call->args);
        free (call);
    }
    sessions_destroy (&self->sessions);
    json_decref (self->routes);
    json_decref (self->config);
    free (self->cert_pem);
    free (self->key_pem);
    free (self);
    *self_p = NULL;
}
