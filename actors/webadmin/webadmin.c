/*  webadmin.c - HTTPS and redirect daemons (libmicrohttpd) in the actor's zloop.

    Every daemon is created with MHD_USE_EPOLL (external epoll): its epoll
    descriptor becomes a zloop poller and a 500 ms timer runs MHD_run for
    connection timeouts. A request for /metrics from an allowed address is
    suspended (MHD_suspend_connection) while causewayd answers `status`
    through the broker (cw_actor_request); the reply callback formats the
    text, resumes the connection and runs the daemon, which calls the
    access handler again to queue the response. Suspended requests are kept
    in a list so that webadmin_destroy can answer them (503) before it stops
    the daemons (MHD refuses to stop with suspended connections).
*/

#include "webadmin.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>

#define S_MAX_DAEMONS (2 * CW_MAX_WEB_LISTENERS)
//  GnuTLS priorities: TLS 1.2 and 1.3 only
#define S_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

typedef struct _s_request_t s_request_t;

typedef struct {
    webadmin_t *owner;
    struct MHD_Daemon *daemon;
    bool https;
    char name [80];    //  "https 127.0.0.1:8443" for logs
} s_daemon_t;

struct _webadmin_t {
    cw_actor_t *actor;
    const cw_bootstrap_t *boot;
    s_daemon_t daemons [S_MAX_DAEMONS];
    int daemon_count;
    int timer_id;
    char *cert_pem, *key_pem;
    //  metrics_allow as binary addresses
    struct {
        int family;
        unsigned char ip [16];
    } allow [CW_MAX_METRICS_ALLOW];
    int allow_count;
    s_request_t *suspended;    //  list of requests waiting on causewayd
};

typedef enum {
    S_NEW,
    S_WAITING,
    S_DONE
} s_state_t;

struct _s_request_t {
    s_daemon_t *daemon;
    struct MHD_Connection *con;
    s_state_t state;
    unsigned status;      //  HTTP status once DONE
    char *body;           //  once DONE
    s_request_t *next;    //  in webadmin_t.suspended
};

// ---------------------------------------------------------------------------
//  Prometheus text

static void
s_label (FILE *out, const char *text)
{
    for (const char *c = text ? text : ""; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc ('\\', out);
        if (*c == '\n')
            fputs ("\\n", out);
        else
            fputc (*c, out);
    }
}

char *
webadmin_metrics (json_t *status)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    json_t *actors = json_object_get (status, "actors");
    fputs ("# HELP causeway_up 1 while causewayd answers status.\n# TYPE causeway_up gauge\ncauseway_up 1\n", out);
    fprintf (out,
             "# HELP causeway_uptime_seconds Seconds since causewayd started.\n"
             "# TYPE causeway_uptime_seconds gauge\ncauseway_uptime_seconds %lld\n",
             (long long) json_integer_value (json_object_get (status, "uptime_s")));
    fputs ("# HELP causeway_actor_restarts_total Restarts of each actor since causewayd started.\n"
           "# TYPE causeway_actor_restarts_total counter\n",
           out);
    size_t i;
    json_t *actor;
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_restarts_total{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fprintf (out, "\"} %lld\n", (long long) json_integer_value (json_object_get (actor, "restarts")));
    }
    fputs ("# HELP causeway_actor_state The state of each actor (the series with value 1).\n"
           "# TYPE causeway_actor_state gauge\n",
           out);
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_state{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fputs ("\",state=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "state")));
        fputs ("\"} 1\n", out);
    }
    json_t *malformed = json_object_get (status, "malformed");
    fprintf (out,
             "# HELP causeway_malformed_total Malformed messages dropped, by where they arrived.\n"
             "# TYPE causeway_malformed_total counter\n"
             "causeway_malformed_total{socket=\"control\"} %lld\n"
             "causeway_malformed_total{socket=\"broker\"} %lld\n",
             (long long) json_integer_value (json_object_get (malformed, "control")),
             (long long) json_integer_value (json_object_get (malformed, "broker")));
    fclose (out);
    return text;
}

// ---------------------------------------------------------------------------
//  Responses

static enum MHD_Result
s_respond (struct MHD_Connection *con, unsigned status, const char *type, const char *body, const char *location)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (body), (void *) body,
                                                                     MHD_RESPMEM_MUST_COPY);
    if (!response)
        return MHD_NO;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (location)
        MHD_add_response_header (response, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result rc = MHD_queue_response (con, status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_error (struct MHD_Connection *con, unsigned status, const char *message)
{
    char body [256];
    snprintf (body, sizeof body, "{\"error\": \"%s\"}\n", message);
    return s_respond (con, status, "application/json", body, NULL);
}

//  Whether the client of CON is in webadmin.metrics_allow
static bool
s_allowed (webadmin_t *self, struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
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

//  Plain HTTP: 308 to the same path (not the query: libmicrohttpd hands
//  the path alone) on the first HTTPS address, under the host name the
//  client used when it is a plain one
static enum MHD_Result
s_redirect (webadmin_t *self, struct MHD_Connection *con, const char *url)
{
    const cw_web_listener_t *target = &self->boot->webadmin.listen [0];
    const char *host = MHD_lookup_connection_value (con, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
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
    return s_respond (con, MHD_HTTP_PERMANENT_REDIRECT, "text/plain", "moved to HTTPS\n", location);
}

// ---------------------------------------------------------------------------
//  /metrics: ask causewayd for status, suspended meanwhile

static void
s_unlist (webadmin_t *self, s_request_t *req)
{
    for (s_request_t **p = &self->suspended; *p; p = &(*p)->next)
        if (*p == req) {
            *p = req->next;
            break;
        }
    req->next = NULL;
}

static void
s_on_status (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_request_t *req = (s_request_t *) arg;
    webadmin_t *self = req->daemon->owner;
    if (req->state != S_WAITING)
        return;
    if (ok) {
        req->body = webadmin_metrics (body);
        req->status = req->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
    else {
        cw_warn ("webadmin: /metrics: causewayd did not answer status: %s",
                 json_string_value (json_object_get (body, "error")));
        req->status = MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    req->state = S_DONE;
    s_unlist (self, req);
    MHD_resume_connection (req->con);
    MHD_run (req->daemon->daemon);
}

static enum MHD_Result
s_metrics (s_daemon_t *daemon, struct MHD_Connection *con, s_request_t *req)
{
    webadmin_t *self = daemon->owner;
    if (req->state == S_DONE) {
        if (req->status == MHD_HTTP_OK)
            return s_respond (con, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", req->body, NULL);
        return s_error (con, req->status, "causewayd did not answer status");
    }
    if (!s_allowed (self, con))
        return s_error (con, MHD_HTTP_FORBIDDEN, "forbidden: this address is not in webadmin.metrics_allow");
    req->state = S_WAITING;
    req->next = self->suspended;
    self->suspended = req;
    MHD_suspend_connection (con);
    if (cw_actor_request (self->actor, "", "status", NULL, s_on_status, req, 5000) != 0) {
        req->state = S_DONE;
        req->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        s_unlist (self, req);
        MHD_resume_connection (con);
    }
    return MHD_YES;
}

// ---------------------------------------------------------------------------
//  The access handler of every daemon

static enum MHD_Result
s_on_access (void *cls, struct MHD_Connection *con, const char *url, const char *method, const char *version,
             const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    s_daemon_t *daemon = (s_daemon_t *) cls;
    s_request_t *req = (s_request_t *) *con_cls;
    if (!req) {    //  first call: headers only
        req = calloc (1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->daemon = daemon;
        req->con = con;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {    //  no path takes a body yet: discard it
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!daemon->https)
        return s_redirect (daemon->owner, con, url);
    if (strcmp (url, "/metrics") == 0) {
        if (strcmp (method, MHD_HTTP_METHOD_GET) && strcmp (method, MHD_HTTP_METHOD_HEAD))
            return s_error (con, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        return s_metrics (daemon, con, req);
    }
    return s_error (con, MHD_HTTP_NOT_FOUND, "not found");
}

static void
s_on_completed (void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void) con;
    (void) code;
    s_daemon_t *daemon = (s_daemon_t *) cls;
    s_request_t *req = (s_request_t *) *con_cls;
    if (!req)
        return;
    s_unlist (daemon->owner, req);
    free (req->body);
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
s_on_epoll (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    MHD_run (((s_daemon_t *) arg)->daemon);
    return 0;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    webadmin_t *self = (webadmin_t *) arg;
    for (int i = 0; i < self->daemon_count; i++)
        MHD_run (self->daemons [i].daemon);
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
                                       MHD_OPTION_CONNECTION_LIMIT, (unsigned) 256, MHD_OPTION_ARRAY, tls,
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
webadmin_new (cw_actor_t *actor, char *err, size_t errlen)
{
    webadmin_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->boot = cw_actor_bootstrap (actor);
    self->timer_id = -1;
    const cw_bootstrap_t *boot = self->boot;
    for (int i = 0; i < boot->webadmin.metrics_allow_count; i++) {
        const char *text = boot->webadmin.metrics_allow [i];
        if (inet_pton (AF_INET, text, self->allow [self->allow_count].ip) == 1)
            self->allow [self->allow_count++].family = AF_INET;
        else if (inet_pton (AF_INET6, text, self->allow [self->allow_count].ip) == 1)
            self->allow [self->allow_count++].family = AF_INET6;
    }
    if (boot->webadmin.listen_count) {
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
    return self;
}

void
webadmin_destroy (webadmin_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    webadmin_t *self = *self_p;
    //  Answer what waits on causewayd: MHD cannot stop with it suspended
    while (self->suspended) {
        s_request_t *req = self->suspended;
        self->suspended = req->next;
        req->next = NULL;
        req->state = S_DONE;
        req->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        MHD_resume_connection (req->con);
    }
    zloop_t *loop = cw_actor_loop (self->actor);
    if (self->timer_id >= 0)
        zloop_timer_end (loop, self->timer_id);
    for (int i = 0; i < self->daemon_count; i++) {
        MHD_run (self->daemons [i].daemon);
        const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemons [i].daemon, MHD_DAEMON_INFO_EPOLL_FD);
        if (info) {
            zmq_pollitem_t item = { NULL, info->epoll_fd, ZMQ_POLLIN, 0 };
            zloop_poller_end (loop, &item);
        }
        MHD_stop_daemon (self->daemons [i].daemon);
    }
    free (self->cert_pem);
    free (self->key_pem);
    free (self);
    *self_p = NULL;
}
