/*  cw_admins.h - the web administrators' credentials as a read model: the
    accounts and API tokens every peer checks HTTP Basic and Bearer against.

    Accounts are cluster-wide data (the replication actor's data API,
    namespace "webadmin.accounts": key = account name, value = JSON
    {"hash": "$argon2id$...", "created": "<ISO 8601>", "changed": "..."}).
    Passwords are hashed with argon2id (libsodium crypto_pwhash_str, its
    INTERACTIVE limits); a password is never stored, logged or answered.
    API tokens (namespace "webadmin.tokens": key = the token's public id,
    value = {"name", "hash": BLAKE2b of the secret, "created"}) are
    "cwt_<id>_<secret>".

    A cw_admins_t keeps both namespaces in memory, each with a data mirror
    (cw_data_mirror.h): loaded once the actor runs, kept current by the
    EVENTs data.changed.webadmin.accounts / data.changed.webadmin.tokens,
    so a check never waits on another process. The web admin actor
    (actors/webadmin/accounts.c, which also makes the changes) and the tms
    actor's fallback listener for /alternatesconfiguration.xml both check
    with it.
*/
#ifndef CW_ADMINS_H
#define CW_ADMINS_H

#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include "cw_actor.h"

#define CW_ADMINS_NS_ACCOUNTS "webadmin.accounts"
#define CW_ADMINS_NS_TOKENS "webadmin.tokens"
#define CW_ADMINS_NAME_MAX 64
#define CW_ADMINS_PASSWORD_MAX 1024

//  One account's row, as loaded
typedef struct {
    char hash [crypto_pwhash_STRBYTES];
    char created [32];
    char changed [32];
} cw_admin_account_t;

//  One API token's row, as loaded (the hash of its secret, binary)
typedef struct {
    char name [CW_ADMINS_NAME_MAX + 1];
    uint8_t hash [crypto_generichash_BYTES];
    char created [32];
} cw_admin_token_t;

typedef struct _cw_admins_t cw_admins_t;

//  Both namespaces for ACTOR (borrowed, outlives the result), loaded on the
//  loop's first turn and kept loaded; LOG names the owner in log lines.
//  Make it before the actor is READY (it asks for the data.changed
//  events). NULL when out of memory.
cw_admins_t *cw_admins_new (cw_actor_t *actor, const char *log);
void cw_admins_destroy (cw_admins_t **self_p);
//  Give it an EVENT/STATE the actor received; true when it was one of its
//  data.changed events (and was taken). BODY borrowed.
bool cw_admins_on_event (cw_admins_t *self, const cw_envelope_t *ev, json_t *body);

//  Whether both namespaces have been loaded (until then every check fails).
bool cw_admins_loaded (cw_admins_t *self);
//  Whether PASSWORD is NAME's (argon2id verify: tens of milliseconds; an
//  unknown NAME costs the same). A positive answer is remembered for
//  CW_ADMINS_CACHE_MS under a keyed hash of the pair (so HTTP Basic on
//  every request stays fast); a change of the accounts forgets it.
bool cw_admins_verify_password (cw_admins_t *self, const char *name, const char *password);
//  Whether TOKEN ("cwt_<id>_<secret>") is valid and its account exists;
//  the account's name in NAME (NAMELEN bytes).
bool cw_admins_verify_token (cw_admins_t *self, const char *token, char *name, size_t namelen);
//  The tables, for the owner of the changes (accounts.c): name ->
//  cw_admin_account_t, id -> cw_admin_token_t. Borrowed; iterate, do not
//  keep the items.
zhashx_t *cw_admins_accounts (cw_admins_t *self);
zhashx_t *cw_admins_tokens (cw_admins_t *self);
//  A change this peer made, seen at once (the others see it by
//  data.changed): ACCOUNT (copied) as NAME's row, NULL = removed. Forgets
//  the remembered checks.
void cw_admins_set_account (cw_admins_t *self, const char *name, const cw_admin_account_t *account);
//  TOKEN (copied) as ID's row, NULL = removed.
void cw_admins_set_token (cw_admins_t *self, const char *id, const cw_admin_token_t *token);

// ---------------------------------------------------------------------------
//  The pure pieces (no actor), for the tests

//  Whether NAME is an account name: 1-64 of [A-Za-z0-9._@-].
bool cw_admins_name_valid (const char *name);
//  The argon2id hash of PASSWORD (LEN bytes) into HASH (crypto_pwhash_STRBYTES,
//  128). 0, or -1 (out of memory).
int cw_admins_password_hash (const char *password, size_t len, char *hash, size_t hashlen);
//  Whether PASSWORD (LEN bytes) matches HASH.
bool cw_admins_password_check (const char *hash, const char *password, size_t len);

#define CW_ADMINS_TOKEN_ID_HEX 16        //  the public id: 8 random bytes in hex
#define CW_ADMINS_TOKEN_SECRET_HEX 64    //  the secret: 32 random bytes in hex
#define CW_ADMINS_TOKEN_HASH_HEX 64      //  BLAKE2b-256 of the secret, in hex
#define CW_ADMINS_TOKEN_LEN (4 + CW_ADMINS_TOKEN_ID_HEX + 1 + CW_ADMINS_TOKEN_SECRET_HEX)
//  A new token "cwt_<id>_<secret>" into TOKEN (CW_ADMINS_TOKEN_LEN + 1),
//  its id into ID (CW_ADMINS_TOKEN_ID_HEX + 1) and the hash to store into
//  HASH (CW_ADMINS_TOKEN_HASH_HEX + 1).
void cw_admins_token_new (char *token, char *id, char *hash);
//  Split TOKEN: its id into ID (CW_ADMINS_TOKEN_ID_HEX + 1) and the hash of
//  its secret into HASH (CW_ADMINS_TOKEN_HASH_HEX + 1). 0, or -1 when TOKEN
//  is not a token's shape.
int cw_admins_token_parse (const char *token, char *id, char *hash);

//  Remembered positive password checks: a keyed BLAKE2b (random key per
//  cache) of name, password and stored hash -> when it expires.
typedef struct _cw_admins_cache_t cw_admins_cache_t;
#define CW_ADMINS_CACHE_MS 60000
cw_admins_cache_t *cw_admins_cache_new (void);
void cw_admins_cache_destroy (cw_admins_cache_t **self_p);
//  Whether (NAME, PASSWORD, HASH) was remembered less than
//  CW_ADMINS_CACHE_MS before NOW_MS (a monotonic clock).
bool cw_admins_cache_hit (cw_admins_cache_t *self, const char *name, const char *password, const char *hash,
                          int64_t now_ms);
void cw_admins_cache_remember (cw_admins_cache_t *self, const char *name, const char *password, const char *hash,
                               int64_t now_ms);
//  Forget everything remembered.
void cw_admins_cache_forget (cw_admins_cache_t *self);

#endif
