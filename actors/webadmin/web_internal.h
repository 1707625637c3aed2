/*  web_internal.h - what the web admin's server files share and nothing
    else sees: the server, the request, the stream and the call as
    structures, and the few functions that cross those files.

    webadmin.c   the daemons, routes, access, dispatch, calls, settings
    request.c    the request's accessors (web.h), its body parsed, answers
    stream.c     Server-Sent Events streams
*/
#ifndef WEBADMIN_WEB_INTERNAL_H
#define WEBADMIN_WEB_INTERNAL_H

#include <arpa/inet.h>
#include <microhttpd.h>
#include "cw_mhd.h"
#include "webadmin.h"

#define WEB_MAX_DAEMONS (2 * CW_MAX_WEB_LISTENERS)
#define WEB_MAX_TABLES 16
#define WEB_MAX_PARAMS 4
#define WEB_MAX_HEADERS 8
#define WEB_MAX_STREAMS 64
#define WEB_STREAM_PING_MS 15000
//  GnuTLS priorities: TLS 1.2 and 1.3 only
#define WEB_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define WEB_CSP                                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "              \
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'"

typedef struct _web_call_t web_call_t;

typedef struct {
    webadmin_t *owner;
    cw_mhd_t mhd;    //  the daemon in the zloop, named "https 127.0.0.1:8443" in logs
    bool https;
} web_daemon_t;

struct _web_stream_t {
    webadmin_t *owner;
    web_request_t *req;    //  NULL once the request ended
    struct MHD_Connection *con;
    web_daemon_t *daemon;
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
    web_daemon_t daemons [WEB_MAX_DAEMONS];
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
    const web_route_t *tables [WEB_MAX_TABLES];
    int table_count;
    json_t *routes;    //  command -> actor, from causewayd's commands.routes
    bool routes_asked;
    web_call_t *calls;           //  every web_call in flight
    json_t *config;              //  key -> value (config.changed.*)
    web_request_t *suspended;    //  requests waiting on other actors
    web_stream_t *streams [WEB_MAX_STREAMS];
    int stream_count;
};

typedef enum {
    WEB_NEW,           //  headers seen, body being read
    WEB_DISPATCHED,    //  handler called; waiting for its answer or calls
    WEB_QUEUED         //  response queued (or the connection is a stream)
} web_state_t;

struct _web_request_t {
    web_daemon_t *daemon;
    struct MHD_Connection *con;
    web_state_t state;
    char method [16];
    char *path;
    char *params [WEB_MAX_PARAMS];
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
    char *headers [WEB_MAX_HEADERS][2];
    int header_count;
    web_stream_t *stream;
};

//  A web_call in flight: sent, or waiting for the routes (UNROUTED, with
//  its ARGS) when no actor was known to serve the command
struct _web_call_t {
    webadmin_t *owner;
    web_request_t *req;
    web_call_fn *fn;
    void *arg;
    void (*free_arg) (void *arg);    //  NULL: ARG is not the call's
    char command [96];
    bool unrouted;
    json_t *args;
    web_call_t *prev, *next;    //  in webadmin_t.calls
};

//  Resume REQ when it waits, has its answer and no call in flight
void web_resume (web_request_t *req);
//  Run DAEMON while libmicrohttpd has work now
void web_daemon_run (web_daemon_t *daemon);
//  The headers every answer carries (HSTS on HTTPS)
void web_security_headers (struct MHD_Response *response, bool https);

#endif
