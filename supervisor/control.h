/*  control.h - the control server: a ROUTER at control.endpoint (and,
    optionally, a CURVE ROUTER at control.curve_endpoint) speaking the
    3-frame CW1 protocol (see cw_control.h).

    A request is answered by the supervisor itself (the LOCAL hook) or
    relayed to the actor that declared the command, as a REQUEST from the
    control client that sent it: "@control:<id>", where <id> is a decimal
    number given to each accepted connection (on either socket), unique for
    the life of causewayd. A request is tied to its connection by the
    descriptor libzmq reports with each message (the "__fd" property) and
    the connections the socket monitors reported; a connection without a
    descriptor (inproc, in tests) is plain "@control". When a connection
    closes the CLIENT_CLOSED hook hears its name, so a lease or anything
    else a client took can be freed. The routes are learned from the actors: each READY lists
    the commands the actor serves and whether each is idempotent (its
    command tables, cw_actor.h); the supervisor passes that list to
    cw_ctl_declare. No command name is listed in supervisor/. Until every
    actor has declared once (cw_ctl_set_complete), requests for names not
    declared yet are held and relayed when their actor declares them; after
    that they get "unknown command 'NAME'". A relayed request is remembered
    in the pending table under a fresh correlation id (-> the client's
    routing id, its deadline); the actor's REPLY, handed back by the broker,
    becomes the client's 3-frame reply. Malformed input gets an error reply, is counted
    and logged (at most one line a second), and never crashes anything.

    Limits (control.c): a request's JSON arguments may be up to
    CW_CONTROL_MAX_REQUEST bytes (larger: an error reply); a frame over
    four times that closes that client's connection unread. Clients beyond a share of the open-file limit are refused
    at accept; a handshake must finish within 5 s; a client past its share
    of requests in flight is answered "busy: ...".

    The CURVE endpoint uses CZMQ's zauth: the server certificate lives in
    <state_dir>/control-curve.cert (+ _secret, 0600), created if missing;
    clients are accepted when their public certificate is in
    control.authorized_keys_dir.
*/
#ifndef CW_SUPERVISOR_CONTROL_H
#define CW_SUPERVISOR_CONTROL_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cw_bootstrap.h"
#include "cw_envelope.h"

typedef struct _cw_ctl_t cw_ctl_t;

typedef struct {
    //  Answer COMMAND if it is the supervisor's own: return true and set
    //  *OK and *REPLY (a new object, taken over). False = not local.
    bool (*local) (void *arg, const char *command, json_t *args, bool *ok, json_t **reply);
    //  Called after a local reply went out (restart / shutdown start here).
    void (*after_reply) (void *arg);
    //  Send REQUEST COMMAND with BODY to ACTOR under CORR, from the client
    //  that sent it (cw_ctl_request_client). Returns true if the actor was
    //  ready (delivered at once).
    bool (*relay) (void *arg, const char *actor, uint64_t corr, const char *command, const char *body);
    void *arg;
    //  The connection of control client CLIENT ("@control:<id>") closed.
    //  May be NULL.
    void (*client_closed) (void *arg, const char *client);
} cw_ctl_hooks_t;

//  The name of control clients as senders: "@control", then ":<id>".
#define CW_CTL_CLIENT "@control"
//  Is NAME a control client's name ("@control" or "@control:<id>")?
bool cw_ctl_is_client (const char *name);

//  Bind the control endpoint(s) of BOOT and add them to LOOP. NULL with a
//  message in ERR when an endpoint cannot be served.
cw_ctl_t *cw_ctl_new (const cw_bootstrap_t *boot, zloop_t *loop, const cw_ctl_hooks_t *hooks, char *err, size_t errlen);
void cw_ctl_destroy (cw_ctl_t **self_p);

void cw_ctl_set_request_timeout (cw_ctl_t *self, int timeout_ms);
//  A REPLY addressed to a control client (cw_ctl_is_client).
void cw_ctl_on_reply (cw_ctl_t *self, const cw_envelope_t *env);
//  The client that sent pending request CORR ("@control:<id>", or
//  "@control" when its connection has no descriptor), or NULL when no
//  request CORR is pending. Valid until the request is answered.
const char *cw_ctl_request_client (cw_ctl_t *self, uint64_t corr);
//  The control clients connected now, a new object: {"clients":
//  ["@control:3", ...]}, by id.
json_t *cw_ctl_clients (cw_ctl_t *self);
//  The routes learned from the actors: {"routes": {COMMAND: ACTOR, ...}}
//  with causewayd's own commands under "" (LOCAL: their names, NULL-ended).
json_t *cw_ctl_routes (cw_ctl_t *self, const char *const *local);
//  The process of actor NAME exited. Requests it had in hand fail now,
//  except those its actor declared idempotent when RESTARTING: those are
//  relayed once more, to the next instance.
void cw_ctl_actor_exited (cw_ctl_t *self, const char *name, bool restarting);
//  Actor NAME is ready and was handed what waited for it.
void cw_ctl_actor_ready (cw_ctl_t *self, const char *name);

//  Actor ACTOR serves COMMANDS (borrowed; the "commands" array of its
//  READY: [{"name": "alarms.raise", "idempotent": true}, ...]), replacing
//  what it declared before; NULL declares none. Entries that are not a
//  valid name with a boolean flag are skipped and logged. Held requests
//  for names declared now are relayed. 0, or -1 (no memory).
int cw_ctl_declare (cw_ctl_t *self, const char *actor, json_t *commands);
//  Has ACTOR declared its commands at least once?
bool cw_ctl_declared (cw_ctl_t *self, const char *actor);
//  Drop ACTOR's routes (it is no longer in the bootstrap file).
void cw_ctl_forget (cw_ctl_t *self, const char *actor);
//  COMPLETE: every actor that will come up has declared. Requests held for
//  an undeclared name fail now with "unknown command 'NAME'", and so do
//  new ones; false (an actor was added) holds them again.
void cw_ctl_set_complete (cw_ctl_t *self, bool complete);
//  The actor that declared COMMAND (matched without regard to case) and,
//  in *IDEMPOTENT (may be NULL), its flag; NULL when no actor declared it.
const char *cw_ctl_route (cw_ctl_t *self, const char *command, bool *idempotent);

//  Expire pending requests. Call periodically.
void cw_ctl_tick (cw_ctl_t *self, int64_t now);
uint64_t cw_ctl_malformed (cw_ctl_t *self);
//  The control sockets' counters, a new object: {"clients", "clients_max",
//  "pending", "refused", "oversized", "busy", "dropped", "max_request"}.
//  clients: connections open now; refused: connections shut at accept
//  (over clients_max); oversized: requests over max_request bytes
//  (answered with an error, or the connection closed when the frame
//  itself is over the limit); busy: requests answered "busy: ..."; dropped:
//  replies a client left no room for (it stopped reading).
json_t *cw_ctl_stats (cw_ctl_t *self);

#endif
