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

// ---------------------------------------------------------------------------
//  The pure pieces (no actor), for the tests

//  Whether NAME is an account name: 1-64 of [A-Za-z0-9._@-].
bool accounts_name_valid (const char *name);
//  The argon2id hash of PASSWORD (LEN bytes) into HASH (crypto_pwhash_STRBYTES,
//  128). 0, or -1 (out of memory).
int accounts_password_hash (const char *password, size_t len, char *hash, size_t hashlen);
//  Whether PASSWORD (LEN bytes) matches HASH.
bool accounts_password_check (const char *hash, const char *password, size_t len);

#define ACCOUNTS_TOKEN_ID_HEX 16        //  the public id: 8 random bytes in hex
#define ACCOUNTS_TOKEN_SECRET_HEX 64    //  the secret: 32 random bytes in hex
#define ACCOUNTS_TOKEN_HASH_HEX 64      //  BLAKE2b-256 of the secret, in hex
#define ACCOUNTS_TOKEN_LEN (4 + ACCOUNTS_TOKEN_ID_HEX + 1 + ACCOUNTS_TOKEN_SECRET_HEX)
//  A new token "cwt_<id>_<secret>" into TOKEN (ACCOUNTS_TOKEN_LEN + 1),
//  its id into ID (ACCOUNTS_TOKEN_ID_HEX + 1) and the hash to store into
//  HASH (ACCOUNTS_TOKEN_HASH_HEX + 1).
void accounts_token_new (char *token, char *id, char *hash);
//  Split TOKEN: its id into ID (ACCOUNTS_TOKEN_ID_HEX + 1) and the hash of
//  its secret into HASH (ACCOUNTS_TOKEN_HASH_HEX + 1). 0, or -1 when TOKEN
//  is not a token's shape.
int accounts_token_parse (const char *token, char *id, char *hash);

//  Remembered positive password checks: a keyed BLAKE2b (random key per
//  cache) of name, password and stored hash -> when it expires.
typedef struct _accounts_cache_t accounts_cache_t;
#define ACCOUNTS_CACHE_MS 60000
accounts_cache_t *accounts_cache_new (void);
void accounts_cache_destroy (accounts_cache_t **self_p);
//  Whether (NAME, PASSWORD, HASH) was remembered less than
//  ACCOUNTS_CACHE_MS before NOW_MS (a monotonic clock).
bool accounts_cache_hit (accounts_cache_t *self, const char *name, const char *password, const char *hash,
                         int64_t now_ms);
void accounts_cache_remember (accounts_cache_t *self, const char *name, const char *password, const char *hash,
                              int64_t now_ms);
//  Forget everything remembered.
void accounts_cache_forget (accounts_cache_t *self);

#endif
