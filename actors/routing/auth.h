/*  auth.h - who may register and call: digest authentication (RFC 8760:
    SHA-256 and MD5, RFC 3261 22) against the cluster-wide credentials, and
    the registration allow/deny policy by alias pattern.

    Credentials are cluster-wide data (the replication actor's data API,
    namespace "sip.credentials"): per user name only the digest hashes
    (HA1 = H(user:realm:password) with SHA-256 and with MD5), never the
    password. They are managed with the commands credentials.add {name,
    password} (the hashes are computed here; the password is dropped at
    once and never logged), credentials.remove {name}, credentials.list
    ({"credentials": [{"name", "realm"}]}), which this module declares on
    the actor. A nonce is stateless: a timestamp and an HMAC of it under a
    per-start secret, valid for a limited time (stale=true after it).

    The realm is the cluster key sip.auth.realm, or when it is "" the first
    of sip.domains, else "causeway". HA1 depends on the realm: after the
    realm changes, the credentials made for the old one no longer match
    (FORBIDDEN) until they are set again; credentials.list shows each
    one's realm beside the realm in force. This module keeps every
    credential in memory, loaded at start (replication.data.list) and kept
    current by the EVENT data.changed.sip.credentials, so a check never
    waits.
*/
#ifndef CW_AUTH_H
#define CW_AUTH_H

#include "routing.h"

typedef struct _cw_auth_t cw_auth_t;

typedef enum {
    CW_AUTH_OK = 0,       //  authenticated as USER
    CW_AUTH_CHALLENGE,    //  answer 401/407 with HEADERS (no or stale credentials)
    CW_AUTH_FORBIDDEN     //  wrong credentials: answer 403
} cw_auth_result_t;

//  Declare the credentials.* commands on ROUTING's actor and load the
//  credentials. NULL with the reason in ERR.
cw_auth_t *cw_auth_new (cw_routing_t *routing, char *err, size_t errlen);
void cw_auth_destroy (cw_auth_t **self_p);

//  Check MSG's Authorization (Proxy-Authorization when PROXY) header for
//  REALM (NULL = the realm in force, cw_auth_realm). OK: USER filled.
//  CHALLENGE: HEADERS gets the WWW-Authenticate (Proxy-Authenticate) lines
//  to send with 401 (407), one per algorithm, SHA-256 first (cluster key
//  sip.auth.algorithms: both, or md5 or sha256 alone for clients that
//  read only the first challenge); with
//  stale=true when the response was right but the nonce expired or was
//  made by another start or peer. FORBIDDEN: the credentials do not match
//  (unknown user, credentials of another realm, wrong response, a digest
//  uri other than the Request-URI, malformed Digest credentials).
//  Credentials of other realms or other schemes are ignored.
cw_auth_result_t cw_auth_check (cw_auth_t *self, const struct sip_msg *msg, const char *realm, bool proxy, char *user,
                                size_t userlen, char *headers, size_t headerslen);

//  True when the cluster key sip.auth.required is on: the registrar then
//  calls cw_auth_check for every REGISTER.
bool cw_auth_required (cw_auth_t *self);

//  The realm in force (see above), borrowed until the next call.
const char *cw_auth_realm (cw_auth_t *self);

//  The registration policy (cluster keys sip.registration.allow and
//  sip.registration.deny, lists of alias patterns; syntax in policy.h):
//  true when AOR may register; REASON says which rule refused (or
//  allowed) it.
bool cw_auth_may_register (cw_auth_t *self, const char *aor, char *reason, size_t reasonlen);

#endif
