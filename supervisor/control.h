/*  control.h - the control server: a ROUTER at control.endpoint (and,
    optionally, a CURVE ROUTER at control.curve_endpoint) speaking the
    3-frame CW1 protocol (see cw_control.h).

    A request is answered by the supervisor itself (the LOCAL hook) or
    relayed by command prefix to an actor as a REQUEST from "@control"
    (alarms.* -> alarms; config.*, cluster.*, backup.*, xcommand.* ->
    replication; license.* -> licensing; tms.*, routing.*, webadmin.* to the
    actor of that name). A relayed request is remembered in the pending
    table under a fresh correlation id (-> the client's routing id, its
    deadline); the actor's REPLY, handed back by the broker, becomes the
    client's 3-frame reply. Malformed input gets an error reply, is counted
    and logged (at most one line a second), and never crashes anything.

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
    //  Send REQUEST COMMAND with BODY to ACTOR from "@control" under CORR.
    //  Returns true if the actor was ready (delivered at once).
    bool (*relay) (void *arg, const char *actor, uint64_t corr, const char *command,
                   const char *body);
    void *arg;
} cw_ctl_hooks_t;

//  Bind the control endpoint(s) of BOOT and add them to LOOP. NULL with a
//  message in ERR when an endpoint cannot be served.
cw_ctl_t *cw_ctl_new (const cw_bootstrap_t *boot, zloop_t *loop, const cw_ctl_hooks_t *hooks,
                      char *err, size_t errlen);
void cw_ctl_destroy (cw_ctl_t **self_p);

void cw_ctl_set_request_timeout (cw_ctl_t *self, int timeout_ms);
//  A REPLY addressed to "@control".
void cw_ctl_on_reply (cw_ctl_t *self, const cw_envelope_t *env);
//  The process of actor NAME exited. Requests it had in hand fail now,
//  except idempotent ones (cw_ctl_idempotent) when RESTARTING: those are
//  relayed once more, to the next instance.
void cw_ctl_actor_exited (cw_ctl_t *self, const char *name, bool restarting);
//  Actor NAME is ready and was handed what waited for it.
void cw_ctl_actor_ready (cw_ctl_t *self, const char *name);
//  Is COMMAND safe to deliver twice (alarms.*, config.get/list/set/unset,
//  cluster.status, cluster.alarms, replication.status, *.status)?
bool cw_ctl_idempotent (const char *command);
//  Expire pending requests. Call periodically.
void cw_ctl_tick (cw_ctl_t *self, int64_t now);
uint64_t cw_ctl_malformed (cw_ctl_t *self);
//  The actor a command is relayed to, or NULL.
const char *cw_ctl_route (const char *command);

#endif
