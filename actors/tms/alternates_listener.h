/*  alternates_listener.h - the tms actor's fallback for
    /alternatesconfiguration.xml: a minimal HTTPS server for a peer on
    which the web admin actor does not run.

    Every peer serves the document (ipc/cw_alternates.h), the web admin
    actor when it runs. When it does not, this listener serves it on the
    same addresses (the bootstrap's webadmin.listen, its certificate and
    key; TLS 1.2 or 1.3), so a manager or `causeway tms diff` finds it at
    the same URL:

      - webadmin is not in the bootstrap's actors list: listening from the
        start;
      - webadmin is in it: listening while causewayd says it is stopped or
        failed (asked with actors.list at start and after each EVENT
        actor.down of webadmin), until the EVENT actor.ready of webadmin.

    Both listeners set SO_REUSEPORT, so a web admin started again binds
    while this one still listens; this one closes on its actor.ready.

    It serves only GET (and HEAD) /alternatesconfiguration.xml: 404 for any
    other path, 405 for another method, 401 with WWW-Authenticate: Basic
    realm="Causeway" without valid credentials (HTTP Basic with a web
    administrator account, or Authorization: Bearer with an API token:
    ipc/cw_admins.h, the same cluster-wide accounts as the web admin), 503
    while the accounts are loading or when config.list or cluster.status
    does not answer. Neither a password nor the Authorization header is
    ever logged.
*/
#ifndef TMS_ALTERNATES_LISTENER_H
#define TMS_ALTERNATES_LISTENER_H

#include "cw_actor.h"

typedef struct _tms_alternates_t tms_alternates_t;

//  The fallback listener of ACTOR (borrowed, outlives it): loads the
//  accounts (call before READY) and decides when to listen as above. NULL
//  with the reason in ERR (out of memory).
tms_alternates_t *tms_alternates_new (cw_actor_t *actor, char *err, size_t errlen);
void tms_alternates_destroy (tms_alternates_t **self_p);
//  Feed every EVENT/STATE the actor receives (actor.down, actor.ready,
//  data.changed.webadmin.*). BODY borrowed.
void tms_alternates_on_event (tms_alternates_t *self, const cw_envelope_t *ev, json_t *body);
//  {"listening": bool, "addresses": ["IP:PORT", ...], "served": N,
//  "refused": N, "reason": "..."}: a new object.
json_t *tms_alternates_status (tms_alternates_t *self);

#endif
