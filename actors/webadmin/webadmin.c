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

    The request's accessors and answers are in request.c, the streams
    (Server-Sent Events) in stream.c; web_internal.h holds what they share.
*/

#include "web_internal.h"
#include "session.h"
#include "cw_mhd.h"
#include "cw_text.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sodium.h>
#include <string.h>

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
s_call_unlink (web_call_t *call)
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
s_call_finish (web_call_t *call, bool ok, json_t *body)
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
        web_resume (req);
}

static void
s_call_fail (web_call_t *call, const char *message)
{
    json_t *error = json_pack ("{s:s}", "error", message);
    s_call_finish (call, false, error);
    json_decref (error);
}

static void
s_on_call_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_call_finish ((web_call_t *) arg, ok, body);
}

static void
s_call_send (web_call_t *call, const char *to)
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
    return web_call_owning (req, command, args, fn, arg, NULL);
}

int
web_call_owning (web_request_t *req, const char *command, json_t *args, web_call_fn *fn, void *arg,
                 void (*free_arg) (void *arg))
{
    webadmin_t *self = req->daemon->owner;
    web_call_t *call = calloc (1, sizeof *call);
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
    call->free_arg = free_arg;
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
    web_call_t *call = self->calls;
    while (call) {
        web_call_t *next = call->next;
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
    if (self->table_count >= WEB_MAX_TABLES)
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
            if (len == 0 || req->param_count >= WEB_MAX_PARAMS)
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

void
web_security_headers (struct MHD_Response *response, bool https)
{
    MHD_add_response_header (response, "Content-Security-Policy", WEB_CSP);
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
    req->state = WEB_QUEUED;
    struct MHD_Response *response = MHD_create_response_from_buffer (req->answer_len, req->answer,
                                                                     MHD_RESPMEM_MUST_FREE);
    if (!response)
        return MHD_NO;
    req->answer = NULL;    //  the response frees it
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, req->type ? req->type : "text/plain");
    web_security_headers (response, req->daemon->https);
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
void
web_resume (web_request_t *req)
{
    if (!req->suspended || !req->answered || req->calls > 0)
        return;
    req->suspended = false;
    s_unlist (req->daemon->owner, req);
    MHD_resume_connection (req->con);
    web_daemon_run (req->daemon);
}

// ---------------------------------------------------------------------------
//  The access handler of every daemon

static enum MHD_Result
s_on_access (void *cls, struct MHD_Connection *con, const char *url, const char *method, const char *version,
             const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    web_daemon_t *daemon = (web_daemon_t *) cls;
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
    if (req->state == WEB_NEW) {
        if (req->body_out) {
            fclose (req->body_out);
            req->body_out = NULL;
        }
        req->state = WEB_DISPATCHED;
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
    if (req->state == WEB_DISPATCHED && req->answered)
        return s_queue (req);
    return MHD_YES;
}

static void
s_on_completed (void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void) con;
    (void) code;
    web_daemon_t *daemon = (web_daemon_t *) cls;
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

// ---------------------------------------------------------------------------
//  Daemons in the zloop (cw_mhd.h)

void
web_daemon_run (web_daemon_t *daemon)
{
    cw_mhd_run (&daemon->mhd);
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
        if (now - stream->last_sent >= WEB_STREAM_PING_MS)
            web_stream_send (stream, ": keep-alive\n\n");
    }
    sessions_expire (self->sessions);
    for (int i = 0; i < self->daemon_count; i++)
        web_daemon_run (&self->daemons [i]);
    return 0;
}

static int
s_start (webadmin_t *self, const cw_web_listener_t *at, bool https, char *err, size_t errlen)
{
    web_daemon_t *daemon = &self->daemons [self->daemon_count];
    daemon->owner = self;
    daemon->https = https;
    bool v6 = strchr (at->address, ':') != NULL;
    char name [80];
    snprintf (name, sizeof name, v6 ? "%s [%s]:%d" : "%s %s:%d", https ? "https" : "redirect", at->address,
              at->port);
    cw_mhd_init (&daemon->mhd, cw_actor_loop (self->actor), "webadmin", name);
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
        { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) WEB_TLS_PRIORITIES },
        { MHD_OPTION_END, 0, NULL },
    };
    daemon->mhd.daemon = MHD_start_daemon (flags, 0, NULL, NULL, s_on_access, daemon, MHD_OPTION_EXTERNAL_LOGGER,
                                       cw_mhd_log, &daemon->mhd,    //  first
                                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr, MHD_OPTION_NOTIFY_COMPLETED,
                                       s_on_completed, daemon, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30,
                                       MHD_OPTION_CONNECTION_LIMIT, (unsigned) 512,
                                       //  SO_REUSEPORT: binds while the tms actor's fallback listener
                                       //  for /alternatesconfiguration.xml still holds the port
                                       MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1, MHD_OPTION_ARRAY, tls,
                                       MHD_OPTION_END);
    if (!daemon->mhd.daemon) {
        snprintf (err, errlen, "webadmin.%s: cannot listen on %s (in use, or not an address of this host?)",
                  https ? "listen" : "redirect", daemon->mhd.name);
        return -1;
    }
    self->daemon_count++;
    if (cw_mhd_attach (&daemon->mhd, err, errlen) != 0)
        return -1;
    cw_info ("webadmin: serving %s", daemon->mhd.name);
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
        self->cert_pem = cw_read_text_file (boot->webadmin.certificate, err, errlen, "webadmin.certificate");
        self->key_pem = self->cert_pem ? cw_read_text_file (boot->webadmin.private_key, err, errlen, "webadmin.private_key")
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
    for (int i = 0; i < self->daemon_count; i++)
        cw_mhd_stop (&self->daemons [i].mhd);
    //  The calls still in flight (their replies will never be read), with
    //  the arguments their callbacks would have freed
    while (self->calls) {
        web_call_t *call = self->calls;
        s_call_unlink (call);
        if (call->free_arg)
            call->free_arg (call->arg);
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
