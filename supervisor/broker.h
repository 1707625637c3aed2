/*  broker.h - the ROUTER at control.broker_endpoint that carries the
    seven-frame envelopes (cw_envelope.h) between actors, the supervisor and
    control clients.

    Every actor connects a DEALER whose routing identity is its name. The
    broker overwrites `from` with that identity (no spoofing) and routes by
    `to`: an actor name, "" (the supervisor), "*" (EVENT/STATE to every
    other ready actor), "@control:<id>" / "@supervisor" (replies for a
    control client, through the control server, and for the supervisor's
    own requests). Messages for a known actor
    that is not ready yet are queued until it is READY or until
    request_timeout_ms passes; a REQUEST that cannot be delivered gets an
    error REPLY from "@supervisor" (so a sender's reliable outbox knows the
    destination itself did not refuse it). STATE messages are retained by
    topic and replayed to each actor when it becomes ready. Garbage is
    counted (cw_envelope_malformed), logged and dropped.

    The broker knows nothing of processes: the supervisor tells it when an
    actor is ready or gone, and it asks the supervisor through hooks.
*/
#ifndef CW_BROKER_H
#define CW_BROKER_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cw_envelope.h"

typedef struct _cw_broker_t cw_broker_t;

typedef struct {
    //  State name of known actor NAME ("backoff" ...), or NULL if NAME is
    //  not an actor. Only asked for actors that are not ready.
    const char *(*actor_state) (void *arg, const char *name);
    //  True when messages for NAME should wait (it will come back).
    bool (*actor_pending) (void *arg, const char *name);
    //  READY from actor NAME (BODY is its JSON body).
    void (*on_ready) (void *arg, const char *name, const char *body);
    //  Any message from actor NAME (heartbeat or other): it is alive.
    void (*on_alive) (void *arg, const char *name);
    //  A REQUEST for the supervisor itself (to "").
    void (*on_request) (void *arg, const cw_envelope_t *env);
    //  A REPLY for "@control:<id>" or "@supervisor" (or any other "@...").
    void (*on_reply) (void *arg, const cw_envelope_t *env);
    //  A STATE message passed through (the supervisor watches some topics).
    void (*on_state) (void *arg, const char *topic, const char *body);
    void *arg;
} cw_broker_hooks_t;

//  Bind ENDPOINT (ipc socket file made 0600) and add the socket to LOOP.
cw_broker_t *cw_broker_new (const char *endpoint, zloop_t *loop, const cw_broker_hooks_t *hooks, char *err,
                            size_t errlen);
void cw_broker_destroy (cw_broker_t **self_p);

void cw_broker_set_request_timeout (cw_broker_t *self, int timeout_ms);

//  Route a message that did not come from the socket (from "@control:<id>",
//  "@supervisor"). FROM is trusted.
void cw_broker_deliver (cw_broker_t *self, cw_msg_type_t type, uint64_t corr, const char *from, const char *to,
                        const char *command, const char *body);

//  Publish EVENT TOPIC with BODY (taken over; NULL = {}) from "@supervisor"
//  to every ready actor but EXCEPT (NULL: to all).
void cw_broker_publish (cw_broker_t *self, const char *topic, json_t *body, const char *except);
//  Actor NAME is ready: replay retained STATE, deliver what waited for it,
//  publish EVENT actor.ready {"name": NAME, "pid": PID} to the others.
void cw_broker_actor_ready (cw_broker_t *self, const char *name, int pid);
//  Actor NAME is no longer ready. If it will not come back (stopped,
//  failed, removed), queued requests for it fail at once.
void cw_broker_actor_down (cw_broker_t *self, const char *name, bool final);
bool cw_broker_is_ready (cw_broker_t *self, const char *name);
//  The data.changed namespaces actor NAME asked for (READY's "data": an
//  array of "ns" or "prefix."; borrowed). NULL: it gets every one (an
//  actor that does not say, such as a tool). Broadcasts of EVENT
//  data.changed.<ns> skip an actor that did not ask for ns.
void cw_broker_actor_wants (cw_broker_t *self, const char *name, json_t *data);
//  Send TERM to actor NAME (when it is connected).
void cw_broker_send_term (cw_broker_t *self, const char *name);

//  Expire queued messages. Call periodically.
void cw_broker_tick (cw_broker_t *self, int64_t now);
size_t cw_broker_queued (cw_broker_t *self);

#endif
