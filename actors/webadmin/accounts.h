/*  accounts.h - the web administrators: accounts and API tokens.

    Accounts are cluster-wide data (the replication actor's data API,
    namespace "webadmin.accounts": key = account name, value = JSON
    {"hash": "$argon2id$...", "created": "<ISO 8601>", "changed": "..."}),
    so an account added or a password set on the primary works on every
    peer. Passwords are hashed with argon2id (libsodium crypto_pwhash_str,
    its INTERACTIVE limits); a password is never stored, logged or answered.
    API tokens (namespace "webadmin.tokens": key = the token's public id,
    value = {"name", "hash": BLAKE2b of the secret, "created"}) are
    "cwt_<id>_<secret>", shown once when made.

    The actor keeps a copy in memory, loaded at start (replication.data.list)
    and kept current by the EVENTs data.changed.webadmin.accounts /
    data.changed.webadmin.tokens, so a check never waits on another process.

    Commands declared on the actor (the CLI's `causeway admin ...`):
      webadmin.admin.add {name, password}     -> {"name", "created"}
      webadmin.admin.passwd {name, password}  -> {"name", "changed"}
      webadmin.admin.remove {name}            -> {"name", "removed": true}
                                                 (its tokens go with it)
      webadmin.admin.list {}                  -> {"accounts": [{"name",
                                                 "created", "changed",
                                                 "tokens"}]}
      webadmin.admin.token {name}             -> {"name", "id", "token"}
      webadmin.admin.token.revoke {id}        -> {"id", "revoked": true}
    Names: 1-64 of [A-Za-z0-9._@-]; passwords: 8-1024 bytes.
*/
#ifndef WEBADMIN_ACCOUNTS_H
#define WEBADMIN_ACCOUNTS_H

#include <jansson.h>
#include "cw_actor.h"

typedef struct _accounts_t accounts_t;
typedef struct _audit_t audit_t;

//  Declare the webadmin.admin.* commands on ACTOR and start loading the
//  accounts. AUDIT (borrowed, may be NULL) records every change made
//  through the commands. NULL with the reason in ERR.
accounts_t *accounts_new (cw_actor_t *actor, audit_t *audit, char *err, size_t errlen);
void accounts_destroy (accounts_t **self_p);
//  Feed the actor's EVENT/STATE messages (data.changed.webadmin.*).
void accounts_on_event (accounts_t *self, const cw_envelope_t *ev, json_t *body);

//  Whether the accounts have been loaded (until then every check fails).
bool accounts_loaded (accounts_t *self);
//  Number of accounts.
size_t accounts_count (accounts_t *self);
//  Whether account NAME exists.
bool accounts_exists (accounts_t *self, const char *name);
//  Whether PASSWORD is NAME's (argon2id verify: tens of milliseconds). A
//  positive answer is remembered for 60 s under a keyed hash of the pair
//  (so HTTP Basic on every request stays fast); a password change or
//  removal forgets it.
bool accounts_verify_password (accounts_t *self, const char *name, const char *password);
//  Whether TOKEN ("cwt_<id>_<secret>") is valid; the account it belongs to
//  in NAME (NAMELEN bytes).
bool accounts_verify_token (accounts_t *self, const char *token, char *name, size_t namelen);

#endif
