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
    data.changed.webadmin.tokens, so a check never waits on another process
    (ipc/cw_admins.h, shared with the tms actor's fallback listener).

    Commands declared on the actor (the CLI's `causeway admin ...`):
      webadmin.admin.add {name, password}     -> {"name", "created"}
      webadmin.admin.passwd {name, password}  -> {"name", "changed"}
      webadmin.admin.remove {name}            -> {"name", "removed": true}
                                                 (its tokens go with it)
      webadmin.admin.list {}                  -> {"accounts": [{"name",
                                                 "created", "changed",
                                                 "tokens"}], "loaded"}
                                                 ("tokens": [{"id",
                                                 "created"}], never a
                                                 hash)
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
//  A fingerprint of NAME's password (hex BLAKE2b-128 of its stored hash)
//  into STAMP (STAMPLEN >= 33): it changes when the password does, so a
//  session made before a change can be ended. false when NAME is unknown.
bool accounts_stamp (accounts_t *self, const char *name, char *stamp, size_t stamplen);
//  Whether PASSWORD is NAME's (argon2id verify: tens of milliseconds). A
//  positive answer is remembered for 60 s under a keyed hash of the pair
//  (so HTTP Basic on every request stays fast); a password change or
//  removal forgets it.
bool accounts_verify_password (accounts_t *self, const char *name, const char *password);
//  Whether TOKEN ("cwt_<id>_<secret>") is valid; the account it belongs to
//  in NAME (NAMELEN bytes).
bool accounts_verify_token (accounts_t *self, const char *token, char *name, size_t namelen);

//  Run one of the commands above for a web page: COMMAND is its wire name
//  ("webadmin.admin.passwd"), ARGS its arguments (borrowed; a "password"
//  in them is wiped), USER the web user and SOURCE the client's address,
//  as the audit log records them. DONE is called once with OK and the
//  reply body (borrowed), possibly before this returns; it is not called
//  after accounts_destroy. 0, or -1 when COMMAND is not one of them.
typedef void (accounts_done_fn) (bool ok, json_t *body, void *arg);
int accounts_run (accounts_t *self, const char *command, json_t *args, const char *user, const char *source,
                  accounts_done_fn *done, void *arg);

//  The pure pieces (names, hashes, tokens, the positive-check cache) are
//  in ipc/cw_admins.h.

#endif
