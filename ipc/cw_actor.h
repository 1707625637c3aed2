/*  cw_actor.h - the actor runtime: what every causeway-<name> process runs.

    An actor is started by causewayd as
        causeway-<name> --config FILE [--name NAME]
    with CAUSEWAY_BROKER (the broker endpoint) and CAUSEWAY_HEARTBEAT_MS in
    its environment (both derived from the bootstrap file when absent, so
    an actor can also be run by hand). cw_actor_new loads the bootstrap file,
    connects a DEALER (identity = actor name) to the supervisor's broker and
    sets up a zloop with: the broker socket, a heartbeat timer, SIGTERM
    (signalfd) and parent-death detection (PR_SET_PDEATHSIG plus a getppid
    check on every heartbeat). The actor registers handlers, opens what it
    needs, calls cw_actor_ready (READY only when it can serve) and then
    cw_actor_run, which returns when $TERM or SIGTERM arrives (the message
    in hand is finished first) with the exit status to use (0).

    Requests to this actor arrive through the request handler; it returns
    CW_REPLY_OK / CW_REPLY_ERROR with a JSON body, or CW_REPLY_DEFERRED and
    answers later with cw_actor_reply. Outgoing requests (cw_actor_request)
    get their reply through a callback, or a synthesized error reply
    {"error": "timed out"} after the timeout.

    Reliable requests (cw_actor_request_reliable, used for alarms) are kept
    in an outbox and re-sent until the destination acknowledges them, also
    across a restart of the destination; a newer reliable request with the
    same KEY replaces an older unacknowledged one (last state wins).

    An actor whose loop belongs to another library (the routing actor runs
    libre's re_main) does not call cw_actor_run: it watches the descriptors
    of cw_actor_fds in its own loop and calls cw_actor_turn, which does in
    one non-blocking pass what the zloop would do (see "External loop").
*/
#ifndef CW_ACTOR_H
#define CW_ACTOR_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include "cw_bootstrap.h"
#include "cw_envelope.h"
#include "cw_log.h"

typedef struct _cw_actor_t cw_actor_t;

typedef enum {
    CW_REPLY_OK = 0,
    CW_REPLY_ERROR = 1,
    CW_REPLY_DEFERRED = 2
} cw_reply_status_t;

//  Handle REQ (owned by the runtime). Set *REPLY (a new JSON object, owned
//  by the runtime afterwards) and return OK or ERROR; for ERROR use
//  cw_error_body. Return DEFERRED to answer later with cw_actor_reply
//  (keep req->corr and req->from).
typedef cw_reply_status_t (cw_request_fn) (cw_actor_t *self, const cw_envelope_t *req, json_t *args, json_t **reply,
                                           void *arg);
//  Handle an EVENT or STATE from another process (topic in ev->command).
typedef void (cw_event_fn) (cw_actor_t *self, const cw_envelope_t *ev, json_t *body, void *arg);
//  The answer to one of our requests. OK is false for an error reply or a
//  timeout (then BODY is {"error": "..."}).
typedef void (cw_reply_fn) (cw_actor_t *self, bool ok, json_t *body, void *arg);

//  Parse argv (--config FILE, --name NAME), load the bootstrap file, set up
//  logging and connect to the broker. DEFAULT_NAME is used without --name.
//  NULL with a message on stderr when the actor cannot start.
cw_actor_t *cw_actor_new (const char *default_name, int argc, char **argv);
void cw_actor_destroy (cw_actor_t **self_p);

const char *cw_actor_name (cw_actor_t *self);
const cw_bootstrap_t *cw_actor_bootstrap (cw_actor_t *self);
zloop_t *cw_actor_loop (cw_actor_t *self);

//  A command this actor serves, declared once as data. NAME is the exact
//  wire name ("cluster.status"), matched without regard to case; the
//  handler's request carries NAME as spelled in the table. FLAGS:
//    CW_CMD_IDEMPOTENT     safe to deliver twice; causewayd relays it again
//                          to a restarted instance when the first died with
//                          it in hand
//    CW_CMD_PRIMARY_ONLY   refused by the guard (cw_actor_on_guard) unless
//                          it allows it, e.g. only on the cluster primary
//  A table ends with an entry whose NAME is NULL.
#define CW_CMD_IDEMPOTENT 0x01u
#define CW_CMD_PRIMARY_ONLY 0x02u
typedef struct {
    const char *name;
    cw_request_fn *handler;
    unsigned flags;
    const char *summary;    //  one line for `help` and the REST API
} cw_command_t;

//  Serve the commands of TABLE (borrowed, static) with ARG passed to each
//  handler. Several tables may be added (one per module); a name declared
//  twice is a programming error. Requests for other commands go to the
//  catch-all handler (cw_actor_on_request), else get "unknown command".
//  The names and flags are announced to causewayd in READY, so it routes
//  these commands here with no list of its own.
int cw_actor_commands (cw_actor_t *self, const cw_command_t *table, void *arg);
//  The command NAME declares (case-insensitive), or NULL.
const cw_command_t *cw_actor_command (cw_actor_t *self, const char *name);
//  Called before a handler of a command with flags beyond IDEMPOTENT;
//  return true to let it run, or false with *REPLY set to an error body.
typedef bool (cw_guard_fn) (cw_actor_t *self, const cw_command_t *command, json_t **reply, void *arg);
void cw_actor_on_guard (cw_actor_t *self, cw_guard_fn *fn, void *arg);

//  The catch-all request handler, for commands no table declares.
void cw_actor_on_request (cw_actor_t *self, cw_request_fn *fn, void *arg);
void cw_actor_on_event (cw_actor_t *self, cw_event_fn *fn, void *arg);
//  Events whose topic starts with PREFIX are first offered to FN with
//  their body unparsed (EV->body, JSON text): for bulk events an actor
//  reads in place rather than as a tree. FN returns true when it took the
//  event; false: it is parsed and given to the on_event handler as any
//  other. One such handler; 0, or -1 when PREFIX is empty or too long.
typedef bool (cw_raw_event_fn) (cw_actor_t *self, const cw_envelope_t *ev, void *arg);
int cw_actor_on_raw_event (cw_actor_t *self, const char *prefix, cw_raw_event_fn *fn, void *arg);
//  Called when $TERM/SIGTERM arrives, before the loop ends (flush here).
void cw_actor_on_stop (cw_actor_t *self, void (*fn) (cw_actor_t *self, void *arg), void *arg);

//  Receive the EVENT data.changed.<ns> of namespace NS of cluster-wide
//  data (NS, or every namespace starting with NS when it ends with ".").
//  An actor gets only the data.changed events it asked for (none unless
//  it calls this): the broker filters them, so a bulk load of a namespace
//  costs nothing to the actors that do not read it. Call before READY.
int cw_actor_want_data (cw_actor_t *self, const char *ns);
//  Tell the supervisor this actor can serve. Call once, after setup.
int cw_actor_ready (cw_actor_t *self);
//  Run the loop until asked to stop. Returns the process exit status.
int cw_actor_run (cw_actor_t *self);
//  Ask the loop to end (as if $TERM arrived).
void cw_actor_stop (cw_actor_t *self);
//  Send a heartbeat now: for an actor inside a long step (a backup's key
//  derivation) that waits on a worker thread and must not look hung.
int cw_actor_heartbeat (cw_actor_t *self);

// ---------------------------------------------------------------------------
//  External loop: the actor driven from another library's loop
//
//  Call cw_actor_turn when a descriptor of cw_actor_fds is readable, when
//  cw_actor_timeout ms have passed since the last turn, and after anything
//  of your own that sent on the actor outside a turn (a deferred reply, a
//  request, a publish): the broker socket's ZMQ_FD signals an edge, not a
//  level, and any send can consume that edge, so only a turn (which asks
//  ZeroMQ what is pending) is sure to see the messages waiting. zloop mode
//  (cw_actor_run) is unaffected; use one mode or the other.

//  The descriptors to watch for reading: the broker socket's ZMQ_FD and the
//  signal descriptor (SIGTERM/SIGINT), at most MAX into FDS. Returns how many.
int cw_actor_fds (cw_actor_t *self, int *fds, int max);
//  Handle everything pending without blocking: a signal, every broker
//  message (asking ZeroMQ again after each batch, as handlers send), and
//  the runtime's due timers (heartbeat and parent check, request timeouts,
//  outbox re-sends). Returns 0, or -1 when the actor must stop ($TERM,
//  SIGTERM, cw_actor_stop, the parent gone); the stop handler
//  (cw_actor_on_stop) has then run, once. A turn called from inside a
//  turn (a handler's code) returns at once.
int cw_actor_turn (cw_actor_t *self);
//  Milliseconds until the runtime needs the next turn (0..100): 0 when
//  messages are still waiting.
int cw_actor_timeout (cw_actor_t *self);

//  Answer a deferred request. Takes ownership of BODY.
int cw_actor_reply (cw_actor_t *self, const char *to, uint64_t corr, bool ok, json_t *body);
//  Send a request to actor TO ("" = the supervisor). Takes ownership of
//  ARGS (NULL = {}). CB may be NULL (fire and forget). TIMEOUT_MS <= 0
//  means 5000.
int cw_actor_request (cw_actor_t *self, const char *to, const char *command, json_t *args, cw_reply_fn *cb, void *arg,
                      int timeout_ms);
//  Answer now, with ok false and {"error": REASON}, every request still
//  waiting whose callback is CB: for a module that stops while a request it
//  made is pending (its callback frees the argument; an actor destroyed
//  with requests pending never calls their callbacks). Returns how many.
size_t cw_actor_fail_requests (cw_actor_t *self, cw_reply_fn *cb, const char *reason);
//  As above, re-sent until acknowledged; KEY groups requests of which only
//  the latest matters (e.g. "10001/alarms").
int cw_actor_request_reliable (cw_actor_t *self, const char *to, const char *command, json_t *args, const char *key);
//  Number of reliable requests not yet acknowledged.
size_t cw_actor_outbox_size (cw_actor_t *self);
//  Publish an event to every other actor. RETAINED: the broker keeps the
//  last one per topic and replays it to actors that start later.
int cw_actor_publish (cw_actor_t *self, const char *topic, json_t *body, bool retained);

//  {"error": MESSAGE} formatted.
json_t *cw_error_body (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
