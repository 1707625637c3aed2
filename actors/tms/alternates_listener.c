/*  alternates_listener.c - the tms actor's fallback listener for
    /alternatesconfiguration.xml (see alternates_listener.h).

    libmicrohttpd in external-epoll mode, as the web admin drives it
    (cw_mhd.h: each daemon's epoll descriptor a zloop poller); a 500 ms
    tick runs the daemons (their timeouts) and, while the fallback is wanted but not
    listening (the port was refused), tries again every few seconds.

    A request is answered at once when it is refused (404, 405, 401, 503
    while the accounts load); otherwise it is suspended while config.list
    and cluster.status are asked of the replication actor at once, and
    answered with cw_alternates_xml when both replies are in. A request
    whose connection ends (or whose listener stops) while a reply is still
    due is left to the last reply to free: the callbacks never touch a
    listener that has gone.

    Whether to listen is decided by s_want: from the start when webadmin
    is not in the bootstrap's actors; otherwise from causewayd's actors.list
    (stopped or failed = listen), asked at start and after every actor.down
    of webadmin, until webadmin's actor.ready.
*/
#include "alternates_listener.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "cw_admins.h"
#include "cw_alternates.h"
#include "cw_mhd.h"
#include "cw_text.h"

#define S_PATH "/alternatesconfiguration.xml"
#define S_WEBADMIN "webadmin"
//  As the web admin's (WEB_TLS_PRIORITIES): TLS 1.2 and 1.3 only
#define S_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define S_TICK_MS 500
#define S_RETRY_MS 5000
#define S_CALL_TIMEOUT_MS 5000

typedef struct _s_req_t s_req_t;

typedef struct {
    tms_alternates_t *owner;
    cw_mhd_t mhd;    //  the daemon in the zloop, named "IP:PORT" (IPv6 in brackets)
} s_daemon_t;

struct _tms_alternates_t {
    cw_actor_t *actor;
    zloop_t *loop;
    const cw_bootstrap_t *boot;
    cw_admins_t *admins;    //  the web administrators, to check against
    bool in_bootstrap;      //  webadmin is one of the bootstrap's actors
    bool wanted;            //  the web admin does not run: serve
    s_daemon_t daemons [CW_MAX_WEB_LISTENERS];
    int daemon_count;       //  > 0 while listening
    int tick;
    int check;              //  the first actors.list, once the loop runs
    int64_t next_try;       //  when to try to listen again (zclock_mono)
    s_req_t *suspended;     //  requests waiting for their replies
    int64_t served, refused;
    char reason [200];      //  why it listens, or why not
};

//  One of a request's two calls, the callback's argument
typedef struct {
    s_req_t *req;
    const char *command;
} s_call_t;

struct _s_req_t {
    tms_alternates_t *owner;
    s_daemon_t *daemon;
    struct MHD_Connection *con;
    bool dispatched;
    bool suspended;
    bool gone;      //  the connection ended: free when no reply is due
    int waiting;    //  replies still due
    s_call_t calls [2];
    json_t *config, *cluster;
    char error [300];
    //  the answer
    unsigned status;
    char *body;
    size_t body_len;
    const char *type;
    bool challenge;    //  a 401: add WWW-Authenticate
    s_req_t *next;     //  in the owner's suspended list
};

static void s_stop (tms_alternates_t *self, const char *why);

// ---------------------------------------------------------------------------
//  Requests

static void
s_req_free (s_req_t *req)
{
    json_decref (req->config);
    json_decref (req->cluster);
    free (req->body);
    free (req);
}

static void
s_answer (s_req_t *req, unsigned status, const char *type, char *body)
{
    req->status = status;
    req->type = type;
    req->body = body;
    req->body_len = body ? strlen (body) : 0;
}

static void
s_answer_text (s_req_t *req, unsigned status, const char *text)
{
    char *body = zsys_sprintf ("%s\n", text);
    s_answer (req, status, "text/plain; charset=utf-8", body);
}

static void
s_unlist (tms_alternates_t *self, s_req_t *req)
{
    for (s_req_t **p = &self->suspended; *p; p = &(*p)->next)
        if (*p == req) {
            *p = req->next;
            break;
        }
    req->next = NULL;
}

static void
s_resume (s_req_t *req)
{
    tms_alternates_t *self = req->owner;
    s_unlist (self, req);
    req->suspended = false;
    MHD_resume_connection (req->con);
    cw_mhd_run (&req->daemon->mhd);
}

static void
s_on_reply (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_call_t *call = arg;
    s_req_t *req = call->req;
    if (ok && strcmp (call->command, "config.list") == 0)
        req->config = json_incref (body);
    else if (ok)
        req->cluster = json_incref (body);
    else if (!*req->error) {
        const char *why = json_string_value (json_object_get (body, "error"));
        snprintf (req->error, sizeof req->error, "%s: %s", call->command, why ? why : "no answer");
    }
    if (--req->waiting > 0)
        return;
    if (req->gone) {    //  nobody to answer (and maybe no listener)
        s_req_free (req);
        return;
    }
    if (!req->config || !req->cluster)
        s_answer_text (req, MHD_HTTP_SERVICE_UNAVAILABLE, req->error);
    else {
        char *text = cw_alternates_xml (req->config, req->cluster);
        if (text) {
            s_answer (req, MHD_HTTP_OK, "application/xml; charset=utf-8", text);
            req->owner->served++;
        }
        else
            s_answer_text (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    s_resume (req);
}

//  Whether the request's Authorization names a web administrator
static bool
s_authorized (tms_alternates_t *self, s_req_t *req)
{
    const char *authorization
        = MHD_lookup_connection_value (req->con, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    char name [CW_ADMINS_NAME_MAX + 1];
    if (authorization && strncasecmp (authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        while (*token == ' ')
            token++;
        return cw_admins_verify_token (self->admins, token, name, sizeof name);
    }
    if (!authorization || strncasecmp (authorization, "Basic ", 6) != 0)
        return false;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password (req->con, &password);
    bool ok = user && password && cw_admins_verify_password (self->admins, user, password);
    if (password) {
        sodium_memzero (password, strlen (password));
        MHD_free (password);
    }
    if (user)
        MHD_free (user);
    return ok;
}

//  Answer REQ at once, or start its two calls (REQ then waits)
static void
s_dispatch (tms_alternates_t *self, s_req_t *req, const char *url, const char *method)
{
    if (strcmp (url, S_PATH) != 0) {
        s_answer_text (req, MHD_HTTP_NOT_FOUND, "not found: this peer's tms actor serves only " S_PATH);
        return;
    }
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0) {
        s_answer_text (req, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET " S_PATH);
        return;
    }
    if (!cw_admins_loaded (self->admins)) {
        s_answer_text (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                       "the administrator accounts are still being loaded; try again");
        return;
    }
    if (!s_authorized (self, req)) {
        self->refused++;
        req->challenge = true;
        s_answer_text (req, MHD_HTTP_UNAUTHORIZED,
                       "authentication required: HTTP Basic with an administrator account, or an API token "
                       "(Authorization: Bearer)");
        return;
    }
    //  Both counted first: a call that fails at once answers through its callback
    req->waiting = 2;
    const char *commands [] = { "config.list", "cluster.status" };
    for (int i = 0; i < 2; i++) {
        req->calls [i] = (s_call_t){ req, commands [i] };
        if (cw_actor_request (self->actor, "replication", commands [i], NULL, s_on_reply, &req->calls [i],
                              S_CALL_TIMEOUT_MS)
            != 0) {
            snprintf (req->error, sizeof req->error, "%s: the replication actor cannot be asked", commands [i]);
            req->waiting--;
        }
    }
    if (req->waiting == 0)
        s_answer_text (req, MHD_HTTP_SERVICE_UNAVAILABLE, req->error);
}

static enum MHD_Result
s_queue (s_req_t *req)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (req->body_len, req->body, MHD_RESPMEM_MUST_FREE);
    if (!response)
        return MHD_NO;
    req->body = NULL;    //  the response frees it
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, req->type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, "X-Content-Type-Options", "nosniff");
    if (req->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (req->challenge)
        MHD_add_response_header (response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                 "Basic realm=\"Causeway\", charset=\"UTF-8\"");
    enum MHD_Result rc = MHD_queue_response (req->con, req->status, response);
    MHD_destroy_response (response);
    return rc;
}

static enum MHD_Result
s_on_access (void *cls, struct MHD_Connection *con, const char *url, const char *method, const char *version,
             const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    (void) upload_data;
    s_daemon_t *daemon = cls;
    tms_alternates_t *self = daemon->owner;
    s_req_t *req = *con_cls;
    if (!req) {    //  first call: headers only
        req = calloc (1, sizeof *req);
        if (!req)
            return MHD_NO;
        req->owner = self;
        req->daemon = daemon;
        req->con = con;
        *con_cls = req;
        return MHD_YES;
    }
    if (*upload_data_size) {    //  a body is not wanted: dropped
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!req->dispatched) {
        req->dispatched = true;
        s_dispatch (self, req, url ? url : "/", method ? method : "");
        if (!req->status) {
            req->suspended = true;
            req->next = self->suspended;
            self->suspended = req;
            MHD_suspend_connection (con);
            return MHD_YES;
        }
    }
    return req->status ? s_queue (req) : MHD_YES;
}

static void
s_on_completed (void *cls, struct MHD_Connection *con, void **con_cls, enum MHD_RequestTerminationCode code)
{
    (void) con;
    (void) code;
    s_daemon_t *daemon = cls;
    s_req_t *req = *con_cls;
    if (!req)
        return;
    *con_cls = NULL;
    s_unlist (daemon->owner, req);
    if (req->waiting > 0)
        req->gone = true;    //  the last reply frees it
    else
        s_req_free (req);
}

// ---------------------------------------------------------------------------
//  Listening

//  A daemon on AT; 0, or -1 with the reason in ERR
static int
s_open (tms_alternates_t *self, const cw_web_listener_t *at, const char *cert, const char *key, char *err,
        size_t errlen)
{
    s_daemon_t *daemon = &self->daemons [self->daemon_count];
    daemon->owner = self;
    char name [80];
    snprintf (name, sizeof name, strchr (at->address, ':') ? "[%s]:%d" : "%s:%d", at->address, at->port);
    cw_mhd_init (&daemon->mhd, self->loop, "alternates", name);
    char port [8];
    snprintf (port, sizeof port, "%d", at->port);
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    struct addrinfo *addr = NULL;
    if (getaddrinfo (at->address, port, &hints, &addr) != 0 || !addr) {
        snprintf (err, errlen, "%s is not an IP address and port", name);
        return -1;
    }
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG | MHD_USE_TLS
                   | (addr->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    daemon->mhd.daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_on_access, daemon, MHD_OPTION_EXTERNAL_LOGGER, cw_mhd_log, &daemon->mhd,    //  first
        MHD_OPTION_SOCK_ADDR, addr->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, s_on_completed, daemon,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 30, MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,    //  SO_REUSEPORT: the web admin binds beside it
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_PRIORITIES,
        S_TLS_PRIORITIES, MHD_OPTION_END);
    freeaddrinfo (addr);
    if (!daemon->mhd.daemon) {
        snprintf (err, errlen, "cannot listen on %s (in use, or not an address of this host?)", name);
        return -1;
    }
    self->daemon_count++;
    return cw_mhd_attach (&daemon->mhd, err, errlen);
}

//  Close every daemon; the requests that wait are answered 503 first
static void
s_close (tms_alternates_t *self)
{
    while (self->suspended) {
        s_req_t *req = self->suspended;
        self->suspended = req->next;
        req->next = NULL;
        req->suspended = false;
        s_answer_text (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the fallback listener is stopping");
        MHD_resume_connection (req->con);
    }
    for (int i = 0; i < self->daemon_count; i++)
        cw_mhd_stop (&self->daemons [i].mhd);
    self->daemon_count = 0;
}

static void
s_listen (tms_alternates_t *self)
{
    if (self->daemon_count)
        return;
    const cw_bootstrap_t *boot = self->boot;
    char err [600] = "";
    char *cert = cw_read_text_file (boot->webadmin.certificate, err, sizeof err, "webadmin.certificate");
    char *key = cert ? cw_read_text_file (boot->webadmin.private_key, err, sizeof err, "webadmin.private_key") : NULL;
    int rc = key ? 0 : -1;
    for (int i = 0; rc == 0 && i < boot->webadmin.listen_count; i++)
        rc = s_open (self, &boot->webadmin.listen [i], cert, key, err, sizeof err);
    if (key)
        sodium_memzero (key, strlen (key));
    free (cert);
    free (key);
    if (rc != 0) {
        s_close (self);
        self->next_try = zclock_mono () + S_RETRY_MS;
        cw_warn ("alternates: the fallback listener cannot start: %s (again in %d s)", err, S_RETRY_MS / 1000);
        return;
    }
    for (int i = 0; i < self->daemon_count; i++)
        cw_info ("alternates: fallback listening on https://%s" S_PATH " reason=\"%s\"", self->daemons [i].mhd.name,
                 self->reason);
}

static void
s_stop (tms_alternates_t *self, const char *why)
{
    self->wanted = false;
    cw_copy (self->reason, sizeof self->reason, why);
    if (!self->daemon_count)
        return;
    for (int i = 0; i < self->daemon_count; i++)
        cw_info ("alternates: fallback stops listening on %s reason=\"%s\"", self->daemons [i].mhd.name, why);
    s_close (self);
}

static void
s_want (tms_alternates_t *self, const char *why)
{
    self->wanted = true;
    cw_copy (self->reason, sizeof self->reason, why);
    s_listen (self);
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_alternates_t *self = arg;
    for (int i = 0; i < self->daemon_count; i++)
        cw_mhd_run (&self->daemons [i].mhd);
    if (self->wanted && !self->daemon_count && zclock_mono () >= self->next_try)
        s_listen (self);
    return 0;
}

// ---------------------------------------------------------------------------
//  Whether the web admin runs

static void
s_on_actors (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    tms_alternates_t *self = arg;
    if (!ok)
        return;
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (body, "actors"), index, entry) {
        if (strcmp (cw_jtext (entry, "name"), S_WEBADMIN) != 0)
            continue;
        const char *state = cw_jtext (entry, "state");
        char why [120];
        snprintf (why, sizeof why, "the web admin actor is %s", state);
        //  stopped but never launched: the startup sequence has not reached it yet
        bool stopped = strcmp (state, "stopped") == 0 && json_is_true (json_object_get (entry, "launched"));
        if (stopped || strcmp (state, "failed") == 0)
            s_want (self, why);
        else if (strcmp (state, "running") == 0)
            s_stop (self, why);
        return;
    }
    s_want (self, "the web admin actor is not in causewayd's actors");
}

static void
s_ask_actors (tms_alternates_t *self)
{
    cw_actor_request (self->actor, "", "actors.list", NULL, s_on_actors, self, 3000);
}

static int
s_on_check (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_alternates_t *self = arg;
    self->check = -1;
    s_ask_actors (self);
    return 0;
}

void
tms_alternates_on_event (tms_alternates_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self || (ev->type != CW_MSG_EVENT && ev->type != CW_MSG_STATE))
        return;
    if (cw_admins_on_event (self->admins, ev, body) || !self->in_bootstrap)
        return;
    if (strcmp (cw_jtext (body, "name"), S_WEBADMIN) != 0)
        return;
    if (strcmp (ev->command, "actor.ready") == 0)
        s_stop (self, "the web admin actor is ready");
    else if (strcmp (ev->command, "actor.down") == 0)
        s_ask_actors (self);    //  restarting, or stopped for good?
}

json_t *
tms_alternates_status (tms_alternates_t *self)
{
    json_t *addresses = json_array ();
    for (int i = 0; self && i < self->daemon_count; i++)
        json_array_append_new (addresses, json_string (self->daemons [i].mhd.name));
    return json_pack ("{s:b, s:o, s:I, s:I, s:s}", "listening", self && self->daemon_count > 0, "addresses",
                      addresses, "served", (json_int_t) (self ? self->served : 0), "refused",
                      (json_int_t) (self ? self->refused : 0), "reason", self ? self->reason : "");
}

// ---------------------------------------------------------------------------
//  Life

tms_alternates_t *
tms_alternates_new (cw_actor_t *actor, char *err, size_t errlen)
{
    tms_alternates_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "alternates: out of memory");
        return NULL;
    }
    self->actor = actor;
    self->loop = cw_actor_loop (actor);
    self->boot = cw_actor_bootstrap (actor);
    self->tick = self->check = -1;
    for (int i = 0; i < self->boot->actor_count; i++)
        if (strcmp (self->boot->actors [i].name, S_WEBADMIN) == 0)
            self->in_bootstrap = true;
    if (self->boot->webadmin.listen_count == 0) {
        cw_copy (self->reason, sizeof self->reason, "no webadmin.listen address in the bootstrap file");
        return self;
    }
    self->admins = cw_admins_new (actor, "alternates");
    self->tick = zloop_timer (self->loop, S_TICK_MS, 0, s_on_tick, self);
    if (!self->admins || self->tick < 0) {
        snprintf (err, errlen, "alternates: out of memory (or libsodium cannot start)");
        tms_alternates_destroy (&self);
        return NULL;
    }
    if (self->in_bootstrap) {
        cw_copy (self->reason, sizeof self->reason, "the web admin actor serves it");
        self->check = zloop_timer (self->loop, 1000, 1, s_on_check, self);
    }
    else
        s_want (self, "no web admin actor in the bootstrap file");
    return self;
}

void
tms_alternates_destroy (tms_alternates_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_alternates_t *self = *self_p;
    //  A request still waiting for the replication actor's replies is
    //  answered 503 (or freed, its connection gone) while its daemon runs
    cw_actor_fail_requests (self->actor, s_on_reply, "the tms actor is stopping");
    s_close (self);
    if (self->tick >= 0)
        zloop_timer_end (self->loop, self->tick);
    if (self->check >= 0)
        zloop_timer_end (self->loop, self->check);
    cw_admins_destroy (&self->admins);
    free (self);
    *self_p = NULL;
}
