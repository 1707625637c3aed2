/*  accounts.c - the web administrators' accounts and API tokens (see
    accounts.h).

    Two namespaces of the replication actor's data, each held in memory as
    a hash table: webadmin.accounts (name -> argon2id hash, created,
    changed) and webadmin.tokens (id -> account name, BLAKE2b hash of the
    secret, created). Each is kept loaded by a data mirror
    (cw_data_mirror.h: loaded page by page once the actor runs, each
    data.changed.webadmin.* event with rows applied as it comes).

    A command that changes something validates, then writes with
    replication.data.put and is answered (DEFERRED) when the write is;
    removing an account is two writes, its tokens first, so a token never
    outlives its account. Every change attempted is recorded in the audit
    log with its result. A password is wiped from the request once hashed,
    and neither it nor a token's secret reaches a log line or the audit.
*/
#include "accounts.h"

#include <sodium.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "cw_data_mirror.h"
#include "cw_text.h"

#define S_NS_ACCOUNTS "webadmin.accounts"
#define S_NS_TOKENS "webadmin.tokens"
#define S_NAME_MAX 64
#define S_PASSWORD_MIN 8
#define S_PASSWORD_MAX 1024
#define S_CACHE_MAX 4096
#define S_PUT_TIMEOUT_MS 8000

typedef struct {
    char hash [crypto_pwhash_STRBYTES];
    char created [32];
    char changed [32];
} s_account_t;

typedef struct {
    char name [S_NAME_MAX + 1];
    uint8_t hash [crypto_generichash_BYTES];
    char created [32];
} s_token_t;

//  One namespace: its table and its load
typedef struct {
    accounts_t *self;
    const char *ns;
    zhashx_t *table;             //  key -> s_account_t / s_token_t
    cw_data_mirror_t *mirror;    //  keeps it loaded from the cluster-wide data
} s_space_t;

struct _accounts_t {
    cw_actor_t *actor;
    audit_t *audit;
    s_space_t accounts;
    s_space_t tokens;
    accounts_cache_t *cache;
    zlistx_t *ops;       //  the changes waiting for their write
    int timer;           //  ticks the mirrors
    int first;           //  the first tick, as soon as the loop runs
    char *dummy_hash;    //  checked against for an unknown name (same time)
};

// ---------------------------------------------------------------------------
//  The pure pieces

bool
accounts_name_valid (const char *name)
{
    size_t len = name ? strnlen (name, S_NAME_MAX + 1) : 0;
    if (len == 0 || len > S_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr ("._@-", c)))
            return false;
    }
    return true;
}

int
accounts_password_hash (const char *password, size_t len, char *hash, size_t hashlen)
{
    if (hashlen < crypto_pwhash_STRBYTES)
        return -1;
    return crypto_pwhash_str (hash, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

bool
accounts_password_check (const char *hash, const char *password, size_t len)
{
    return crypto_pwhash_str_verify (hash, password, len) == 0;
}

static bool
s_hex (const char *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((text [i] >= '0' && text [i] <= '9') || (text [i] >= 'a' && text [i] <= 'f')))
            return false;
    return true;
}

//  The stored hash of SECRET (LEN characters), binary
static void
s_token_digest (const char *secret, size_t len, uint8_t *digest)
{
    crypto_generichash (digest, crypto_generichash_BYTES, (const unsigned char *) secret, len, NULL, 0);
}

void
accounts_token_new (char *token, char *id, char *hash)
{
    uint8_t raw_id [ACCOUNTS_TOKEN_ID_HEX / 2], raw_secret [ACCOUNTS_TOKEN_SECRET_HEX / 2];
    randombytes_buf (raw_id, sizeof raw_id);
    randombytes_buf (raw_secret, sizeof raw_secret);
    char secret [ACCOUNTS_TOKEN_SECRET_HEX + 1];
    sodium_bin2hex (id, ACCOUNTS_TOKEN_ID_HEX + 1, raw_id, sizeof raw_id);
    sodium_bin2hex (secret, sizeof secret, raw_secret, sizeof raw_secret);
    memcpy (token, "cwt_", 4);
    memcpy (token + 4, id, ACCOUNTS_TOKEN_ID_HEX);
    token [4 + ACCOUNTS_TOKEN_ID_HEX] = '_';
    memcpy (token + 5 + ACCOUNTS_TOKEN_ID_HEX, secret, ACCOUNTS_TOKEN_SECRET_HEX + 1);
    uint8_t digest [crypto_generichash_BYTES];
    s_token_digest (secret, ACCOUNTS_TOKEN_SECRET_HEX, digest);
    sodium_bin2hex (hash, ACCOUNTS_TOKEN_HASH_HEX + 1, digest, sizeof digest);
    sodium_memzero (raw_secret, sizeof raw_secret);
    sodium_memzero (secret, sizeof secret);
}

int
accounts_token_parse (const char *token, char *id, char *hash)
{
    if (!token || strnlen (token, ACCOUNTS_TOKEN_LEN + 1) != ACCOUNTS_TOKEN_LEN || strncmp (token, "cwt_", 4) != 0
        || token [4 + ACCOUNTS_TOKEN_ID_HEX] != '_' || !s_hex (token + 4, ACCOUNTS_TOKEN_ID_HEX)
        || !s_hex (token + 5 + ACCOUNTS_TOKEN_ID_HEX, ACCOUNTS_TOKEN_SECRET_HEX))
        return -1;
    memcpy (id, token + 4, ACCOUNTS_TOKEN_ID_HEX);
    id [ACCOUNTS_TOKEN_ID_HEX] = 0;
    uint8_t digest [crypto_generichash_BYTES];
    s_token_digest (token + 5 + ACCOUNTS_TOKEN_ID_HEX, ACCOUNTS_TOKEN_SECRET_HEX, digest);
    sodium_bin2hex (hash, ACCOUNTS_TOKEN_HASH_HEX + 1, digest, sizeof digest);
    return 0;
}

// ---------------------------------------------------------------------------
//  The positive-check cache

struct _accounts_cache_t {
    uint8_t key [crypto_generichash_KEYBYTES];
    zhashx_t *until;    //  hex of the keyed hash -> int64_t expiry (ms)
};

accounts_cache_t *
accounts_cache_new (void)
{
    accounts_cache_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    crypto_generichash_keygen (self->key);
    self->until = zhashx_new ();
    if (!self->until) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->until, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->until, NULL);
    return self;
}

void
accounts_cache_destroy (accounts_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->until);
    sodium_memzero ((*self_p)->key, sizeof (*self_p)->key);
    free (*self_p);
    *self_p = NULL;
}

//  The cache's name of (NAME, PASSWORD, HASH) into HEX (65 bytes)
static void
s_cache_key (accounts_cache_t *self, const char *name, const char *password, const char *hash, char *hex)
{
    crypto_generichash_state state;
    crypto_generichash_init (&state, self->key, sizeof self->key, 32);
    const char *parts [] = { name, password, hash };
    for (int i = 0; i < 3; i++)    //  each with its NUL: no two triples run together alike
        crypto_generichash_update (&state, (const unsigned char *) parts [i], strlen (parts [i]) + 1);
    uint8_t digest [32];
    crypto_generichash_final (&state, digest, sizeof digest);
    sodium_bin2hex (hex, 65, digest, sizeof digest);
    sodium_memzero (&state, sizeof state);
}

bool
accounts_cache_hit (accounts_cache_t *self, const char *name, const char *password, const char *hash, int64_t now_ms)
{
    char key [65];
    s_cache_key (self, name, password, hash, key);
    const char *until = zhashx_lookup (self->until, key);
    if (!until)
        return false;
    if (now_ms < atoll (until))
        return true;
    zhashx_delete (self->until, key);
    return false;
}

void
accounts_cache_remember (accounts_cache_t *self, const char *name, const char *password, const char *hash,
                         int64_t now_ms)
{
    if (zhashx_size (self->until) >= S_CACHE_MAX) {
        //  Drop what has expired; when all are fresh, start over
        zlistx_t *keys = zhashx_keys (self->until);
        for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys))
            if (now_ms >= atoll (zhashx_lookup (self->until, key)))
                zhashx_delete (self->until, key);
        zlistx_destroy (&keys);
        if (zhashx_size (self->until) >= S_CACHE_MAX)
            zhashx_purge (self->until);
    }
    char key [65];
    s_cache_key (self, name, password, hash, key);
    zhashx_update (self->until, key, zsys_sprintf ("%lld", (long long) (now_ms + ACCOUNTS_CACHE_MS)));
}

void
accounts_cache_forget (accounts_cache_t *self)
{
    zhashx_purge (self->until);
}

// ---------------------------------------------------------------------------
//  The tables

static void
s_item_free (void **item)
{
    if (item && *item) {
        sodium_memzero (*item, sizeof (s_account_t) > sizeof (s_token_t) ? sizeof (s_account_t) : sizeof (s_token_t));
        free (*item);
        *item = NULL;
    }
}

static zhashx_t *
s_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (table)
        zhashx_set_destructor (table, s_item_free);
    return table;
}

//  An item as large as either kind, so s_item_free may wipe either
static void *
s_item_new (void)
{
    return calloc (1, sizeof (s_account_t) > sizeof (s_token_t) ? sizeof (s_account_t) : sizeof (s_token_t));
}

//  Put KEY's row from VALUE (the stored JSON text; NULL = remove) into
//  SPACE's TABLE. A value that does not read is logged and left out.
static void
s_table_apply (s_space_t *space, zhashx_t *table, const char *key, const char *value)
{
    if (!value) {
        zhashx_delete (table, key);
        return;
    }
    json_t *json = json_loads (value, 0, NULL);
    void *item = s_item_new ();
    bool good = false;
    if (item && space == &space->self->accounts) {
        s_account_t *account = item;
        const char *hash = cw_jtext (json, "hash");
        if (accounts_name_valid (key) && strncmp (hash, "$argon2id$", 10) == 0
            && strlen (hash) < sizeof account->hash) {
            cw_copy (account->hash, sizeof account->hash, hash);
            cw_copy (account->created, sizeof account->created, cw_jtext (json, "created"));
            cw_copy (account->changed, sizeof account->changed, cw_jtext (json, "changed"));
            good = true;
        }
    }
    else if (item) {
        s_token_t *token = item;
        const char *name = cw_jtext (json, "name"), *hash = cw_jtext (json, "hash");
        if (strlen (key) == ACCOUNTS_TOKEN_ID_HEX && s_hex (key, ACCOUNTS_TOKEN_ID_HEX) && accounts_name_valid (name)
            && strlen (hash) == ACCOUNTS_TOKEN_HASH_HEX
            && sodium_hex2bin (token->hash, sizeof token->hash, hash, ACCOUNTS_TOKEN_HASH_HEX, NULL, NULL, NULL) == 0) {
            cw_copy (token->name, sizeof token->name, name);
            cw_copy (token->created, sizeof token->created, cw_jtext (json, "created"));
            good = true;
        }
    }
    if (good)
        zhashx_update (table, key, item);
    else {
        cw_warn ("accounts: the stored row %s key=%.64s cannot be read; left out", space->ns, key);
        s_item_free (&item);
        zhashx_delete (table, key);
    }
    json_decref (json);
}

//  A load of SPACE is complete: its new table replaces the old
static void
s_on_loaded (json_t *rows, void *arg)
{
    s_space_t *space = arg;
    zhashx_t *table = s_table_new ();
    if (!table) {
        cw_error ("accounts: out of memory loading %s", space->ns);
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (rows, key, value) {
        s_table_apply (space, table, key, json_string_value (value));
    }
    zhashx_destroy (&space->table);
    space->table = table;
    accounts_cache_forget (space->self->cache);
    cw_info ("accounts: loaded ns=%s rows=%zu", space->ns, zhashx_size (space->table));
}

static void
s_on_changed (const char *key, const char *value, void *arg)
{
    s_space_t *space = arg;
    s_table_apply (space, space->table, key, value);
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    accounts_t *self = arg;
    cw_data_mirror_tick (self->accounts.mirror);
    cw_data_mirror_tick (self->tokens.mirror);
    return 0;
}

void
accounts_on_event (accounts_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self || (ev->type != CW_MSG_EVENT && ev->type != CW_MSG_STATE))
        return;
    if (cw_data_mirror_on_event (self->accounts.mirror, ev->command, body))
        accounts_cache_forget (self->cache);
    else
        cw_data_mirror_on_event (self->tokens.mirror, ev->command, body);
}

// ---------------------------------------------------------------------------
//  The checks

bool
accounts_loaded (accounts_t *self)
{
    return self && cw_data_mirror_loaded (self->accounts.mirror) && cw_data_mirror_loaded (self->tokens.mirror);
}

size_t
accounts_count (accounts_t *self)
{
    return self ? zhashx_size (self->accounts.table) : 0;
}

bool
accounts_exists (accounts_t *self, const char *name)
{
    return self && name && zhashx_lookup (self->accounts.table, name) != NULL;
}

bool
accounts_stamp (accounts_t *self, const char *name, char *stamp, size_t stamplen)
{
    const s_account_t *account = self && name ? zhashx_lookup (self->accounts.table, name) : NULL;
    if (!account || stamplen < 33)
        return false;
    uint8_t digest [16];
    crypto_generichash (digest, sizeof digest, (const uint8_t *) account->hash, strlen (account->hash), NULL, 0);
    sodium_bin2hex (stamp, stamplen, digest, sizeof digest);
    return true;
}

bool
accounts_verify_password (accounts_t *self, const char *name, const char *password)
{
    if (!accounts_loaded (self) || !name || !password)
        return false;
    size_t len = strnlen (password, S_PASSWORD_MAX + 1);
    if (len > S_PASSWORD_MAX)
        return false;
    const s_account_t *account = zhashx_lookup (self->accounts.table, name);
    if (!account) {
        //  The same work as for a known name, so the time does not tell
        if (!self->dummy_hash) {
            self->dummy_hash = calloc (1, crypto_pwhash_STRBYTES);
            if (self->dummy_hash
                && accounts_password_hash ("not a password", 14, self->dummy_hash, crypto_pwhash_STRBYTES) != 0)
                zstr_free (&self->dummy_hash);
        }
        if (self->dummy_hash)
            accounts_password_check (self->dummy_hash, password, len);
        return false;
    }
    int64_t now = zclock_mono ();
    if (accounts_cache_hit (self->cache, name, password, account->hash, now))
        return true;
    if (!accounts_password_check (account->hash, password, len))
        return false;
    accounts_cache_remember (self->cache, name, password, account->hash, now);
    return true;
}

bool
accounts_verify_token (accounts_t *self, const char *token, char *name, size_t namelen)
{
    if (namelen)
        name [0] = 0;
    char id [ACCOUNTS_TOKEN_ID_HEX + 1], hash [ACCOUNTS_TOKEN_HASH_HEX + 1];
    if (!accounts_loaded (self) || accounts_token_parse (token, id, hash) != 0)
        return false;
    const s_token_t *stored = zhashx_lookup (self->tokens.table, id);
    uint8_t digest [crypto_generichash_BYTES];
    if (!stored || sodium_hex2bin (digest, sizeof digest, hash, ACCOUNTS_TOKEN_HASH_HEX, NULL, NULL, NULL) != 0)
        return false;
    bool match = sodium_memcmp (digest, stored->hash, sizeof digest) == 0;
    sodium_memzero (digest, sizeof digest);
    if (!match || !accounts_exists (self, stored->name))
        return false;
    cw_copy (name, namelen, stored->name);
    return true;
}

// ---------------------------------------------------------------------------
//  Changes: one state machine per command in hand

typedef enum {
    S_ADD = 0,
    S_PASSWD,
    S_REMOVE,
    S_TOKEN,
    S_REVOKE
} s_kind_t;

static const char *s_action [] = { "admin.add", "admin.passwd", "admin.remove", "admin.token", "admin.token.revoke" };
static const char *s_wire [] = { "webadmin.admin.add", "webadmin.admin.passwd", "webadmin.admin.remove",
                                 "webadmin.admin.token", "webadmin.admin.token.revoke" };

typedef enum {
    S_STEP_TOKENS = 0,    //  remove: the account's tokens being deleted
    S_STEP_ACCOUNT        //  the account's (or the token's) row being written
} s_step_t;

typedef struct {
    accounts_t *self;
    s_kind_t kind;
    s_step_t step;
    //  who asked: a control client or another actor (TO, CORR), or a web page (DONE)
    char to [64];
    uint64_t corr;
    accounts_done_fn *done;
    void *done_arg;
    char user [128];
    char source [128];
    //  what is written
    char name [S_NAME_MAX + 1];
    char id [ACCOUNTS_TOKEN_ID_HEX + 1];
    s_account_t account;
    s_token_t token;
    char token_text [ACCOUNTS_TOKEN_LEN + 1];    //  for the reply only
    zlistx_t *token_ids;                         //  remove: the ids deleted
    void *handle;                                //  in the accounts' OPS
} s_op_t;

static void
s_op_free (s_op_t **op_p)
{
    s_op_t *op = *op_p;
    if (!op)
        return;
    zlistx_destroy (&op->token_ids);
    sodium_memzero (op, sizeof *op);
    free (op);
    *op_p = NULL;
}

//  Answer OP's asker with OK and BODY (taken), record it in the audit log.
//  OP is not freed.
//  Whether OP is written to the audit log here: not when the web admin's
//  own REST API sent it through the broker (the API records it with the
//  web user and the client's address)
static bool
s_audited (accounts_t *self, const s_op_t *op)
{
    return self->audit && strcmp (op->user, cw_actor_name (self->actor)) != 0;
}

static void
s_answer (s_op_t *op, bool ok, json_t *body)
{
    accounts_t *self = op->self;
    char detail [256];
    if (op->kind == S_TOKEN)
        snprintf (detail, sizeof detail, "name=%s id=%s", op->name, op->id [0] ? op->id : "-");
    else if (op->kind == S_REVOKE)
        snprintf (detail, sizeof detail, "id=%s", op->id);
    else
        snprintf (detail, sizeof detail, "name=%s", op->name);
    const char *error = ok ? NULL : cw_jtext (body, "error");
    if (s_audited (self, op))
        audit_record (self->audit, op->user, op->source, s_action [op->kind], detail, error);
    if (ok)
        cw_info ("accounts: %s %s by=%s", s_action [op->kind], detail, op->user);
    else
        cw_info ("accounts: %s refused %s by=%s reason=\"%s\"", s_action [op->kind], detail, op->user, error);
    if (op->done)
        op->done (ok, body, op->done_arg);
    else
        cw_actor_reply (self->actor, op->to, op->corr, ok, json_incref (body));
    json_decref (body);
}

static void s_on_put (cw_actor_t *actor, bool ok, json_t *body, void *arg);

//  Write ROWS (taken) of NS for OP. 0, or -1 (OP answered).
static int
s_put (s_op_t *op, const char *ns, json_t *rows)
{
    json_t *args = json_pack ("{s:s, s:o}", "ns", ns, "rows", rows);
    if (!args
        || cw_actor_request (op->self->actor, "replication", "replication.data.put", args, s_on_put, op,
                             S_PUT_TIMEOUT_MS)
               != 0) {
        s_answer (op, false,
                  cw_error_body ("%s: not stored: the replication actor cannot be asked", s_wire [op->kind]));
        return -1;
    }
    return 0;
}

//  The JSON text stored for OP's account or token
static json_t *
s_value (s_op_t *op)
{
    json_t *value;
    if (op->kind == S_TOKEN) {
        char hash [ACCOUNTS_TOKEN_HASH_HEX + 1];
        sodium_bin2hex (hash, sizeof hash, op->token.hash, sizeof op->token.hash);
        value = json_pack ("{s:s, s:s, s:s}", "name", op->token.name, "hash", hash, "created", op->token.created);
    }
    else
        value = json_pack ("{s:s, s:s, s:s}", "hash", op->account.hash, "created", op->account.created, "changed",
                           op->account.changed);
    char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (value);
    json_t *string = text ? json_string (text) : NULL;    //  NULL: the put fails, nothing is deleted
    free (text);
    return string;
}

static void
s_finish (s_op_t *op)
{
    zlistx_delete (op->self->ops, op->handle);
}

static void
s_on_put (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_op_t *op = arg;
    accounts_t *self = op->self;
    if (!ok) {
        s_answer (op, false, cw_error_body ("%s: not stored: %s", s_wire [op->kind], cw_jtext (body, "error")));
        s_finish (op);
        return;
    }
    if (op->kind == S_REMOVE && op->step == S_STEP_TOKENS) {
        //  the tokens are gone (written): the account next
        op->step = S_STEP_ACCOUNT;
        for (const char *id = zlistx_first (op->token_ids); id; id = zlistx_next (op->token_ids))
            zhashx_delete (self->tokens.table, id);
        if (s_put (op, S_NS_ACCOUNTS, json_pack ("[[s, n]]", op->name)) != 0)
            s_finish (op);
        return;
    }
    //  This peer sees its own change at once; the others by data.changed
    json_t *reply = NULL;
    switch (op->kind) {
        case S_ADD:
        case S_PASSWD: {
            s_account_t *account = s_item_new ();
            if (account) {
                *account = op->account;
                zhashx_update (self->accounts.table, op->name, account);
            }
            accounts_cache_forget (self->cache);
            reply = op->kind == S_ADD ? json_pack ("{s:s, s:s}", "name", op->name, "created", op->account.created)
                                      : json_pack ("{s:s, s:s}", "name", op->name, "changed", op->account.changed);
            break;
        }
        case S_REMOVE:
            zhashx_delete (self->accounts.table, op->name);
            accounts_cache_forget (self->cache);
            reply = json_pack ("{s:s, s:b}", "name", op->name, "removed", 1);
            break;
        case S_TOKEN: {
            s_token_t *token = s_item_new ();
            if (token) {
                *token = op->token;
                zhashx_update (self->tokens.table, op->id, token);
            }
            reply = json_pack ("{s:s, s:s, s:s}", "name", op->name, "id", op->id, "token", op->token_text);
            break;
        }
        case S_REVOKE:
            zhashx_delete (self->tokens.table, op->id);
            reply = json_pack ("{s:s, s:b}", "id", op->id, "revoked", 1);
            break;
    }
    s_answer (op, true, reply);
    s_finish (op);
}

static void
s_now_iso (char *buf, size_t len)
{
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  Check the password member of ARGS and hash it into OP->account; wipe it
//  in ARGS. NULL, or what is wrong.
static const char *
s_take_password (s_op_t *op, json_t *args)
{
    json_t *password = json_object_get (args, "password");
    size_t length = json_is_string (password) ? json_string_length (password) : 0;
    const char *text = json_string_value (password);
    const char *wrong = NULL;
    if (!text)
        wrong = "'password' is missing";
    else if (strlen (text) != length)
        wrong = "'password' must not contain a NUL character";
    else if (length < S_PASSWORD_MIN || length > S_PASSWORD_MAX)
        wrong = "'password' must be 8..1024 characters";
    else if (accounts_password_hash (text, length, op->account.hash, sizeof op->account.hash) != 0)
        wrong = "the password could not be hashed (out of memory)";
    if (length)
        sodium_memzero ((char *) text, length);
    return wrong;
}

//  Start OP (its asker filled in) as KIND with ARGS. OK or ERROR (*REPLY
//  set, OP freed) or DEFERRED (OP in hand).
static cw_reply_status_t
s_start (accounts_t *self, s_op_t *op, json_t *args, json_t **reply)
{
    op->self = self;
    const char *wrong = NULL;
    char why [160];
    const char *name = cw_jtext (args, "name");
    const char *id = cw_jtext (args, "id");
    if (op->kind == S_REVOKE)
        cw_copy (op->id, sizeof op->id, id);
    else
        cw_copy (op->name, sizeof op->name, name);
    if (!accounts_loaded (self))
        wrong = "the accounts are still being loaded from the replication actor; try again";
    else if (op->kind != S_REVOKE) {
        if (!accounts_name_valid (name))
            wrong = "'name' must be 1..64 characters of A-Z a-z 0-9 . _ @ -";
    }
    else {
        if (!zhashx_lookup (self->tokens.table, id)) {
            snprintf (why, sizeof why, "no token with id '%.32s'", id);
            wrong = why;
        }
    }
    const s_account_t *account = wrong || op->kind == S_REVOKE ? NULL : zhashx_lookup (self->accounts.table, name);
    if (!wrong && op->kind == S_ADD && account) {
        snprintf (why, sizeof why, "account '%s' already exists (causeway admin passwd changes its password)", name);
        wrong = why;
    }
    else if (!wrong && op->kind != S_ADD && op->kind != S_REVOKE && !account) {
        snprintf (why, sizeof why, "no account '%s'", name);
        wrong = why;
    }
    if (op->kind == S_ADD || op->kind == S_PASSWD) {
        //  Taken (and wiped) even when something else is wrong
        const char *bad = s_take_password (op, args);
        if (!wrong)
            wrong = bad;
    }
    if (!wrong) {
        char now [32];
        s_now_iso (now, sizeof now);
        if (op->kind == S_ADD) {
            cw_copy (op->account.created, sizeof op->account.created, now);
            cw_copy (op->account.changed, sizeof op->account.changed, now);
        }
        else if (op->kind == S_PASSWD) {
            cw_copy (op->account.created, sizeof op->account.created, account->created);
            cw_copy (op->account.changed, sizeof op->account.changed, now);
        }
        else if (op->kind == S_TOKEN) {
            char hash [ACCOUNTS_TOKEN_HASH_HEX + 1];
            accounts_token_new (op->token_text, op->id, hash);
            sodium_hex2bin (op->token.hash, sizeof op->token.hash, hash, ACCOUNTS_TOKEN_HASH_HEX, NULL, NULL, NULL);
            cw_copy (op->token.name, sizeof op->token.name, name);
            cw_copy (op->token.created, sizeof op->token.created, now);
        }
        else if (op->kind == S_REMOVE) {
            op->token_ids = zlistx_new ();
            if (!op->token_ids)
                wrong = "out of memory";
            else {
                zlistx_set_destructor (op->token_ids, (zlistx_destructor_fn *) zstr_free);
                zlistx_set_duplicator (op->token_ids, (zlistx_duplicator_fn *) strdup);
                for (s_token_t *token = zhashx_first (self->tokens.table); token;
                     token = zhashx_next (self->tokens.table))
                    if (strcmp (token->name, name) == 0)
                        zlistx_add_end (op->token_ids, (void *) zhashx_cursor (self->tokens.table));
            }
        }
    }
    if (wrong) {
        json_t *body = cw_error_body ("%s: %s", s_wire [op->kind], wrong);
        *reply = json_incref (body);
        op->done = NULL;    //  the caller answers
        if (s_audited (self, op)) {
            char detail [256];
            snprintf (detail, sizeof detail, op->kind == S_REVOKE ? "id=%s" : "name=%s",
                      op->kind == S_REVOKE ? op->id : op->name);
            audit_record (self->audit, op->user, op->source, s_action [op->kind], detail, cw_jtext (body, "error"));
        }
        cw_info ("accounts: %s refused by=%s reason=\"%s\"", s_action [op->kind], op->user, cw_jtext (body, "error"));
        json_decref (body);
        s_op_free (&op);
        return CW_REPLY_ERROR;
    }
    op->handle = zlistx_add_end (self->ops, op);
    int rc;
    if (op->kind == S_REMOVE && zlistx_size (op->token_ids)) {
        json_t *rows = json_array ();
        for (const char *id = zlistx_first (op->token_ids); id; id = zlistx_next (op->token_ids))
            json_array_append_new (rows, json_pack ("[s, n]", id));
        rc = s_put (op, S_NS_TOKENS, rows);
    }
    else {
        op->step = S_STEP_ACCOUNT;
        if (op->kind == S_REVOKE)
            rc = s_put (op, S_NS_TOKENS, json_pack ("[[s, n]]", op->id));
        else if (op->kind == S_TOKEN)
            rc = s_put (op, S_NS_TOKENS, json_pack ("[[s, o]]", op->id, s_value (op)));
        else if (op->kind == S_REMOVE)
            rc = s_put (op, S_NS_ACCOUNTS, json_pack ("[[s, n]]", op->name));
        else
            rc = s_put (op, S_NS_ACCOUNTS, json_pack ("[[s, o]]", op->name, s_value (op)));
    }
    if (rc != 0)
        s_finish (op);    //  answered by s_put
    return CW_REPLY_DEFERRED;
}

static s_op_t *
s_op_new (s_kind_t kind, const char *user, const char *source)
{
    s_op_t *op = calloc (1, sizeof *op);
    if (op) {
        op->kind = kind;
        cw_copy (op->user, sizeof op->user, user);
        cw_copy (op->source, sizeof op->source, source);
    }
    return op;
}

static cw_reply_status_t
s_command (s_kind_t kind, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    s_op_t *op = s_op_new (kind, req->from, req->from);
    if (!op) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    cw_copy (op->to, sizeof op->to, req->from);
    op->corr = req->corr;
    return s_start ((accounts_t *) arg, op, args, reply);
}

static cw_reply_status_t
s_cmd_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_command (S_ADD, req, args, reply, arg);
}

static cw_reply_status_t
s_cmd_passwd (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_command (S_PASSWD, req, args, reply, arg);
}

static cw_reply_status_t
s_cmd_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_command (S_REMOVE, req, args, reply, arg);
}

static cw_reply_status_t
s_cmd_token (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_command (S_TOKEN, req, args, reply, arg);
}

static cw_reply_status_t
s_cmd_revoke (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_command (S_REVOKE, req, args, reply, arg);
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (json_string_value (json_object_get (*(json_t *const *) a, "name")),
                   json_string_value (json_object_get (*(json_t *const *) b, "name")));
}

static cw_reply_status_t
s_cmd_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    accounts_t *self = arg;
    size_t count = zhashx_size (self->accounts.table), n = 0;
    json_t **entries = calloc (count ? count : 1, sizeof (json_t *));
    if (!entries) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    for (s_account_t *account = zhashx_first (self->accounts.table); account && n < count;
         account = zhashx_next (self->accounts.table)) {
        const char *name = zhashx_cursor (self->accounts.table);
        entries [n++] = json_pack ("{s:s, s:s, s:s, s:[]}", "name", name, "created", account->created, "changed",
                                   account->changed, "tokens");
    }
    qsort (entries, n, sizeof (json_t *), s_compare_names);
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (list, entries [i]);
    free (entries);
    //  Each account's tokens, by id (the public part)
    for (s_token_t *token = zhashx_first (self->tokens.table); token; token = zhashx_next (self->tokens.table)) {
        size_t i;
        json_t *entry;
        json_array_foreach (list, i, entry)
            if (strcmp (json_string_value (json_object_get (entry, "name")), token->name) == 0)
                json_array_append_new (json_object_get (entry, "tokens"),
                                       json_pack ("{s:s, s:s}", "id", (const char *) zhashx_cursor (self->tokens.table),
                                                  "created", token->created));
    }
    *reply = json_pack ("{s:o, s:b}", "accounts", list, "loaded", accounts_loaded (self));
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "webadmin.admin.add", s_cmd_add, 0, "add a web administrator account (cluster-wide)" },
    { "webadmin.admin.passwd", s_cmd_passwd, 0, "set the password of a web administrator" },
    { "webadmin.admin.remove", s_cmd_remove, 0, "remove a web administrator account and its API tokens" },
    { "webadmin.admin.list", s_cmd_list, CW_CMD_IDEMPOTENT,
      "the web administrator accounts and their API token ids (never a hash)" },
    { "webadmin.admin.token", s_cmd_token, 0, "make an API token for an account (shown once)" },
    { "webadmin.admin.token.revoke", s_cmd_revoke, 0, "revoke an API token by its id" },
    { NULL, NULL, 0, NULL }
};

int
accounts_run (accounts_t *self, const char *command, json_t *args, const char *user, const char *source,
              accounts_done_fn *done, void *arg)
{
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (command && strcmp (command, s_wire [i]) == 0)
            kind = i;
    if (kind < 0 || !done)
        return -1;
    s_op_t *op = s_op_new ((s_kind_t) kind, user, source);
    json_t *reply = NULL;
    if (!op)
        reply = cw_error_body ("out of memory");
    else {
        op->done = done;
        op->done_arg = arg;
        if (s_start (self, op, args, &reply) == CW_REPLY_DEFERRED)
            return 0;
    }
    done (false, reply, arg);
    json_decref (reply);
    return 0;
}

// ---------------------------------------------------------------------------
//  Life cycle

accounts_t *
accounts_new (cw_actor_t *actor, audit_t *audit, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "accounts: libsodium cannot start");
        return NULL;
    }
    accounts_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "accounts: out of memory");
        return NULL;
    }
    self->actor = actor;
    self->audit = audit;
    self->accounts = (s_space_t){ .self = self, .ns = S_NS_ACCOUNTS, .table = s_table_new () };
    self->tokens = (s_space_t){ .self = self, .ns = S_NS_TOKENS, .table = s_table_new () };
    self->accounts.mirror = cw_data_mirror_new (actor, S_NS_ACCOUNTS, "accounts", s_on_loaded, s_on_changed,
                                                &self->accounts);
    self->tokens.mirror = cw_data_mirror_new (actor, S_NS_TOKENS, "accounts", s_on_loaded, s_on_changed, &self->tokens);
    self->cache = accounts_cache_new ();
    self->ops = zlistx_new ();
    if (!self->accounts.table || !self->tokens.table || !self->accounts.mirror || !self->tokens.mirror || !self->cache
        || !self->ops) {
        snprintf (err, errlen, "accounts: out of memory");
        accounts_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->ops, (zlistx_destructor_fn *) s_op_free);
    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "accounts: cannot declare the webadmin.admin commands");
        accounts_destroy (&self);
        return NULL;
    }
    //  Loaded on the first tick, once the actor is READY
    cw_data_mirror_start (self->accounts.mirror);
    cw_data_mirror_start (self->tokens.mirror);
    self->first = zloop_timer (cw_actor_loop (actor), 1, 1, s_on_timer, self);
    self->timer = zloop_timer (cw_actor_loop (actor), 250, 0, s_on_timer, self);
    if (self->timer < 0 || self->first < 0) {
        snprintf (err, errlen, "accounts: cannot start a timer");
        accounts_destroy (&self);
        return NULL;
    }
    return self;
}

void
accounts_destroy (accounts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    accounts_t *self = *self_p;
    if (self->timer > 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->timer);
    if (self->first > 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->first);
    zlistx_destroy (&self->ops);
    zhashx_destroy (&self->accounts.table);
    cw_data_mirror_destroy (&self->accounts.mirror);
    zhashx_destroy (&self->tokens.table);
    cw_data_mirror_destroy (&self->tokens.mirror);
    accounts_cache_destroy (&self->cache);
    free (self->dummy_hash);
    free (self);
    *self_p = NULL;
}
