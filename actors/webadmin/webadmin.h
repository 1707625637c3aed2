/*  webadmin.h - the web admin actor's HTTPS server.

    webadmin_new starts one libmicrohttpd daemon per address of
    webadmin.listen (HTTPS, TLS 1.2+, the certificate and key of the
    bootstrap file) and per address of webadmin.redirect (plain HTTP that
    answers every request with 308 to the first HTTPS address). Each daemon
    runs in external-epoll mode: its epoll descriptor is a poller of the
    actor's zloop, which calls MHD_run when it is readable and on a timer.

    Requests are dispatched to the routes the modules registered (web.h);
    the server checks each route's access with the sessions (session.h) and
    the accounts (accounts.h), and answers what a handler could not
    (404, 405, 401, 403, 413, 500, 503).
*/
#ifndef WEBADMIN_H
#define WEBADMIN_H

#include <jansson.h>
#include "accounts.h"
#include "audit.h"
#include "cw_actor.h"
#include "web.h"

typedef struct _sessions_t sessions_t;

//  Start the daemons of the actor's bootstrap (none without webadmin.listen)
//  and attach them to its loop. ACCOUNTS and AUDIT are borrowed (AUDIT may
//  be NULL). NULL with the reason in ERR.
webadmin_t *webadmin_new (cw_actor_t *actor, accounts_t *accounts, audit_t *audit, char *err, size_t errlen);
//  Answer what is suspended (503), close the streams, stop the daemons.
//  Accepts NULL.
void webadmin_destroy (webadmin_t **self_p);
//  Feed the actor's EVENT/STATE messages (actor.ready: the command routes
//  again; config.changed.*: the settings).
void webadmin_on_event (webadmin_t *self, const cw_envelope_t *ev, json_t *body);

//  The borrowed parts, for the modules
accounts_t *webadmin_accounts (webadmin_t *self);
audit_t *webadmin_audit (webadmin_t *self);
sessions_t *webadmin_sessions (webadmin_t *self);
//  The current value of configuration KEY as the replication actor
//  published it (config.changed.*), or NULL; borrowed.
json_t *webadmin_config (webadmin_t *self, const char *key);
//  ... as an integer, DFLT when unknown
int64_t webadmin_config_int (webadmin_t *self, const char *key, int64_t dflt);
//  Record one change in the audit log, by REQ's user and address
void webadmin_audit_request (web_request_t *req, const char *action, const char *detail, const char *result);

#endif
