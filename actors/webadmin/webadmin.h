/*  webadmin.h - the web admin actor's HTTP side: HTTPS, redirects, /metrics.

    webadmin_new starts one libmicrohttpd daemon per address of
    webadmin.listen (HTTPS, TLS 1.2+, the certificate and key of the
    bootstrap file) and per address of webadmin.redirect (plain HTTP that
    answers every request with 308 to the first HTTPS address). Each daemon
    runs in external-epoll mode: its epoll descriptor is a poller of the
    actor's zloop, which calls MHD_run when it is readable and on a timer.

    This first slice serves only GET /metrics (Prometheus text, made from
    causewayd's `status`, asked through the broker while the connection is
    suspended) to the addresses of webadmin.metrics_allow (403 for others);
    every other path is 404: there is no unauthenticated API.
*/
#ifndef WEBADMIN_H
#define WEBADMIN_H

#include <jansson.h>
#include "cw_actor.h"

typedef struct _webadmin_t webadmin_t;

//  Start the daemons of the actor's bootstrap (none without webadmin.listen)
//  and attach them to its loop. NULL with the reason in ERR.
webadmin_t *webadmin_new (cw_actor_t *actor, char *err, size_t errlen);
//  Answer what is suspended (503), stop the daemons. Accepts NULL.
void webadmin_destroy (webadmin_t **self_p);

//  The Prometheus text for STATUS (the body of `status`); a new string the
//  caller frees.
char *webadmin_metrics (json_t *status);

#endif
