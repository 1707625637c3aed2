/*  tms.h - the tms actor's connection to the external manager.

    The actor registers this peer with the manager named by the
    cluster-wide keys tms.address, tms.path, tms.protocol and
    tms.verify_certificate (with this peer's tms.ca_file), then posts it
    feedback events: alarms (from the alarms actor's PUB socket),
    configuration changes (config.changed.* STATE), and a boot event when
    causewayd itself started. Events wait in a durable, bounded queue
    (tms_queue.h) and leave it only after the manager answered 2xx, so a
    manager outage or a kill -9 of the actor loses none.

    State: initialising (no manager configured, or registering), active
    (the last request got a 2xx), failed (with the reason: connection,
    certificate, HTTP status, timeout, truncated or unreadable reply);
    alarm 50001 while failed, retries with a backoff of 1, 2, 4 ... seconds
    up to tms.heartbeat_s; a heartbeat every tms.heartbeat_s while active.

    Credentials for the manager (HTTP Basic) are set with
    tms.credentials.set {user, password} and kept sealed at rest: libsodium
    crypto_secretbox (XSalsa20-Poly1305) under a random key in
    <state_dir>/tms.key (0600), the sealed text in tms.db. They are per
    peer, never logged, never in a reply.

    Commands: tms.status (with "provisioning": provision.h, and
    "alternates": alternates_listener.h), tms.credentials.set;
    the provisioning services (provision.h) declare their own.
*/
#ifndef TMS_H
#define TMS_H

#include "cw_actor.h"

typedef struct _tms_t tms_t;

//  Open <state_dir>/tms.db, connect to the alarm socket, declare the
//  commands on ACTOR (borrowed, outlives the result).
//  NULL with the reason in ERR.
tms_t *tms_new (cw_actor_t *actor, char *err, size_t errlen);
void tms_destroy (tms_t **self_p);
//  Feed every EVENT/STATE the actor receives (main.c's event handler
//  calls it): config.changed.* reconfigures the connection. BODY borrowed.
void tms_on_event (tms_t *self, const cw_envelope_t *ev, json_t *body);

//  The status reply body (new object): {"state", "reason", "manager",
//  "queue": {"length", "dropped", "oldest"}, "last_success", ...,
//  "provisioning": {...}, "alternates": {"listening", "addresses", "served",
//  "refused", "reason"}}.
json_t *tms_status (tms_t *self);

//  Replace the string *FIELD (owned, may be NULL) by a copy of VALUE (NULL
//  = ""); left as it was when out of memory.
void tms_set_text (char **field, const char *value);

//  Pure helpers, exposed for the unit tests.
//  True when ADDRESS is a host name or IP address with an optional :port
//  (IPv6 in brackets when a port follows).
bool tms_address_valid (const char *address);
//  PROTOCOL://ADDRESS/PATH/OPERATION into BUF; -1 when it does not fit.
int tms_url (char *buf, size_t len, const char *protocol, const char *address, const char *path, const char *operation);

#endif
