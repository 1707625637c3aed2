/*  cw_admins.c - the web administrators' accounts and API tokens, loaded
    and checked (see cw_admins.h).

    Two namespaces of the replication actor's data, each held in memory as
    a hash table: webadmin.accounts (name -> argon2id hash, created,
    changed) and webadmin.tokens (id -> account name, BLAKE2b hash of the
    secret, created). Each is kept loaded by a data mirror
    (cw_data_mirror.h: loaded page by page once the actor runs, each
    data.changed.webadmin.* event with rows applied as it comes). A row
    that does not read is logged and left out. Positive password checks
    are remembered under a keyed hash, never the password itself.
*/
#include "cw_admins.h"

#include <string.h>

#include "cw_data_mirror.h"
#include "cw_text.h"

#define S_CACHE_MAX 4096

//  One namespace: its table and its load
typedef struct {
    cw_admins_t *self;
    const char *ns;
    zhashx_t *table;             //  key -> cw_admin_account_t / cw_admin_token_t
    cw_data_mirror_t *mirror;    //  keeps it loaded from the cluster-wide data
} s_space_t;

struct _cw_admins_t {
    cw_actor_t *actor;
    char log [32];
    s_space_t accounts;
    s_space_t tokens;
    cw_admins_cache_t *cache;
    int timer;           //  ticks the mirrors
    int first;           //  the first tick, as soon as the loop runs
    char *dummy_hash;    //  checked against for an unknown name (same time)
};

// ---------------------------------------------------------------------------
//  The pure pieces

bool
cw_admins_name_valid (const char *name)
{
    size_t len = name ? strnlen (name, CW_ADMINS_NAME_MAX + 1) : 0;
    if (len == 0 || len > CW_ADMINS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr ("._@-", c)))
            return false;
    }
    return true;
}

int
cw_admins_password_hash (const char *password, size_t len, char *hash, size_t hashlen)
{
    if (hashlen < crypto_pwhash_STRBYTES)
        return -1;
    return crypto_pwhash_str (hash, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

bool
cw_admins_password_check (const char *hash, const char *password, size_t len)
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
cw_admins_token_new (char *token, char *id, char *hash)
{
    uint8_t raw_id [CW_ADMINS_TOKEN_ID_HEX / 2], raw_secret [CW_ADMINS_TOKEN_SECRET_HEX / 2];
    randombytes_buf (raw_id, sizeof raw_id);
    randombytes_buf (raw_secret, sizeof raw_secret);
    char secret [CW_ADMINS_TOKEN_SECRET_HEX + 1];
    sodium_bin2hex (id, CW_ADMINS_TOKEN_ID_HEX + 1, raw_id, sizeof raw_id);
    sodium_bin2hex (secret, sizeof secret, raw_secret, sizeof raw_secret);
    memcpy (token, "cwt_", 4);
    memcpy (token + 4, id, CW_ADMINS_TOKEN_ID_HEX);
    token [4 + CW_ADMINS_TOKEN_ID_HEX] = '_';
    memcpy (token + 5 + CW_ADMINS_TOKEN_ID_HEX, secret, CW_ADMINS_TOKEN_SECRET_HEX + 1);
    uint8_t digest [crypto_generichash_BYTES];
    s_token_digest (secret, CW_ADMINS_TOKEN_SECRET_HEX, digest);
    sodium_bin2hex (hash, CW_ADMINS_TOKEN_HASH_HEX + 1, digest, sizeof digest);
    sodium_memzero (raw_secret, sizeof raw_secret);
    sodium_memzero (secret, sizeof secret);
}

int
cw_admins_token_parse (const char *token, char *id, char *hash)
{
    if (!token || strnlen (token, CW_ADMINS_TOKEN_LEN + 1) != CW_ADMINS_TOKEN_LEN || strncmp (token, "cwt_", 4) != 0
        || token [4 + CW_ADMINS_TOKEN_ID_HEX] != '_' || !s_hex (token + 4, CW_ADMINS_TOKEN_ID_HEX)
        || !s_hex (token + 5 + CW_ADMINS_TOKEN_ID_HEX, CW_ADMINS_TOKEN_SECRET_HEX))
        return -1;
    memcpy (id, token + 4, CW_ADMINS_TOKEN_ID_HEX);
    id [CW_ADMINS_TOKEN_ID_HEX] = 0;
    uint8_t digest [crypto_generichash_BYTES];
    s_token_digest (token + 5 + CW_ADMINS_TOKEN_ID_HEX, CW_ADMINS_TOKEN_SECRET_HEX, digest);
    sodium_bin2hex (hash, CW_ADMINS_TOKEN_HASH_HEX + 1, digest, sizeof digest);
    return 0;
}

// ---------------------------------------------------------------------------
//  The positive-check cache

struct _cw_admins_cache_t {
    uint8_t key [crypto_generichash_KEYBYTES];
    zhashx_t *until;    //  hex of the keyed hash -> int64_t expiry (ms)
};

cw_admins_cache_t *
cw_admins_cache_new (void)
{
    cw_admins_cache_t *self = calloc (1, sizeof *self);
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
cw_admins_cache_destroy (cw_admins_cache_t **self_p)
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
s_cache_key (cw_admins_cache_t *self, const char *name, const char *password, const char *hash, char *hex)
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
cw_admins_cache_hit (cw_admins_cache_t *self, const char *name, const char *password, const char *hash, int64_t now_ms)
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
cw_admins_cache_remember (cw_admins_cache_t *self, const char *name, const char *password, const char *hash,
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
    zhashx_update (self->until, key, zsys_sprintf ("%lld", (long long) (now_ms + CW_ADMINS_CACHE_MS)));
}

void
cw_admins_cache_forget (cw_admins_cache_t *self)
{
    zhashx_purge (self->until);
}

// ---------------------------------------------------------------------------
//  The tables

static void
s_item_free (void **item)
{
    if (item && *item) {
        sodium_memzero (*item, sizeof (cw_admin_account_t) > sizeof (cw_admin_token_t) ? sizeof (cw_admin_account_t) : sizeof (cw_admin_token_t));
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
    return calloc (1, sizeof (cw_admin_account_t) > sizeof (cw_admin_token_t) ? sizeof (cw_admin_account_t) : sizeof (cw_admin_token_t));
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
        cw_admin_account_t *account = item;
        const char *hash = cw_jtext (json, "hash");
        if (cw_admins_name_valid (key) && strncmp (hash, "$argon2id$", 10) == 0
            && strlen (hash) < sizeof account->hash) {
            cw_copy (account->hash, sizeof account->hash, hash);
            cw_copy (account->created, sizeof account->created, cw_jtext (json, "created"));
            cw_copy (account->changed, sizeof account->changed, cw_jtext (json, "changed"));
            good = true;
        }
    }
    else if (item) {
        cw_admin_token_t *token = item;
        const char *name = cw_jtext (json, "name"), *hash = cw_jtext (json, "hash");
        if (strlen (key) == CW_ADMINS_TOKEN_ID_HEX && s_hex (key, CW_ADMINS_TOKEN_ID_HEX) && cw_admins_name_valid (name)
            && strlen (hash) == CW_ADMINS_TOKEN_HASH_HEX
            && sodium_hex2bin (token->hash, sizeof token->hash, hash, CW_ADMINS_TOKEN_HASH_HEX, NULL, NULL, NULL) == 0) {
            cw_copy (token->name, sizeof token->name, name);
            cw_copy (token->created, sizeof token->created, cw_jtext (json, "created"));
            good = true;
        }
    }
    if (good)
        zhashx_update (table, key, item);
    else {
        cw_warn ("%s: the stored row %s key=%.64s cannot be read; left out", space->self->log, space->ns, key);
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
        cw_error ("%s: out of memory loading %s", space->self->log, space->ns);
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (rows, key, value) {
        s_table_apply (space, table, key, json_string_value (value));
    }
    zhashx_destroy (&space->table);
    space->table = table;
    cw_admins_cache_forget (space->self->cache);
    cw_info ("%s: loaded ns=%s rows=%zu", space->self->log, space->ns, zhashx_size (space->table));
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
    cw_admins_t *self = arg;
    cw_data_mirror_tick (self->accounts.mirror);
    cw_data_mirror_tick (self->tokens.mirror);
    return 0;
}

bool
cw_admins_on_event (cw_admins_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self || (ev->type != CW_MSG_EVENT && ev->type != CW_MSG_STATE))
        return false;
    if (cw_data_mirror_on_event (self->accounts.mirror, ev->command, body)) {
        cw_admins_cache_forget (self->cache);
        return true;
    }
    return cw_data_mirror_on_event (self->tokens.mirror, ev->command, body);
}

// ---------------------------------------------------------------------------
//  The checks

bool
cw_admins_loaded (cw_admins_t *self)
{
    return self && cw_data_mirror_loaded (self->accounts.mirror) && cw_data_mirror_loaded (self->tokens.mirror);
}

static bool
s_exists (cw_admins_t *self, const char *name)
{
    return self && name && zhashx_lookup (self->accounts.table, name) != NULL;
}

bool
cw_admins_verify_password (cw_admins_t *self, const char *name, const char *password)
{
    if (!cw_admins_loaded (self) || !name || !password)
        return false;
    size_t len = strnlen (password, CW_ADMINS_PASSWORD_MAX + 1);
    if (len > CW_ADMINS_PASSWORD_MAX)
        return false;
    const cw_admin_account_t *account = zhashx_lookup (self->accounts.table, name);
    if (!account) {
        //  The same work as for a known name, so the time does not tell
        if (!self->dummy_hash) {
            self->dummy_hash = calloc (1, crypto_pwhash_STRBYTES);
            if (self->dummy_hash
                && cw_admins_password_hash ("not a password", 14, self->dummy_hash, crypto_pwhash_STRBYTES) != 0)
                zstr_free (&self->dummy_hash);
        }
        if (self->dummy_hash)
            cw_admins_password_check (self->dummy_hash, password, len);
        return false;
    }
    int64_t now = zclock_mono ();
    if (cw_admins_cache_hit (self->cache, name, password, account->hash, now))
        return true;
    if (!cw_admins_password_check (account->hash, password, len))
        return false;
    cw_admins_cache_remember (self->cache, name, password, account->hash, now);
    return true;
}

bool
cw_admins_verify_token (cw_admins_t *self, const char *token, char *name, size_t namelen)
{
    if (namelen)
        name [0] = 0;
    char id [CW_ADMINS_TOKEN_ID_HEX + 1], hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
    if (!cw_admins_loaded (self) || cw_admins_token_parse (token, id, hash) != 0)
        return false;
    const cw_admin_token_t *stored = zhashx_lookup (self->tokens.table, id);
    uint8_t digest [crypto_generichash_BYTES];
    if (!stored || sodium_hex2bin (digest, sizeof digest, hash, CW_ADMINS_TOKEN_HASH_HEX, NULL, NULL, NULL) != 0)
        return false;
    bool match = sodium_memcmp (digest, stored->hash, sizeof digest) == 0;
    sodium_memzero (digest, sizeof digest);
    if (!match || !s_exists (self, stored->name))
        return false;
    cw_copy (name, namelen, stored->name);
    return true;
}

// ---------------------------------------------------------------------------
//  The tables for the owner of the changes

zhashx_t *
cw_admins_accounts (cw_admins_t *self)
{
    return self->accounts.table;
}

zhashx_t *
cw_admins_tokens (cw_admins_t *self)
{
    return self->tokens.table;
}

void
cw_admins_set_account (cw_admins_t *self, const char *name, const cw_admin_account_t *account)
{
    cw_admins_cache_forget (self->cache);
    if (!account) {
        zhashx_delete (self->accounts.table, name);
        return;
    }
    cw_admin_account_t *copy = s_item_new ();
    if (copy) {
        *copy = *account;
        zhashx_update (self->accounts.table, name, copy);
    }
}

void
cw_admins_set_token (cw_admins_t *self, const char *id, const cw_admin_token_t *token)
{
    if (!token) {
        zhashx_delete (self->tokens.table, id);
        return;
    }
    cw_admin_token_t *copy = s_item_new ();
    if (copy) {
        *copy = *token;
        zhashx_update (self->tokens.table, id, copy);
    }
}

// ---------------------------------------------------------------------------
//  Life cycle

cw_admins_t *
cw_admins_new (cw_actor_t *actor, const char *log)
{
    if (sodium_init () < 0)
        return NULL;
    cw_admins_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->actor = actor;
    cw_copy (self->log, sizeof self->log, log);
    self->accounts = (s_space_t){ .self = self, .ns = CW_ADMINS_NS_ACCOUNTS, .table = s_table_new () };
    self->tokens = (s_space_t){ .self = self, .ns = CW_ADMINS_NS_TOKENS, .table = s_table_new () };
    self->accounts.mirror = cw_data_mirror_new (actor, CW_ADMINS_NS_ACCOUNTS, self->log, s_on_loaded, s_on_changed,
                                                &self->accounts);
    self->tokens.mirror = cw_data_mirror_new (actor, CW_ADMINS_NS_TOKENS, self->log, s_on_loaded, s_on_changed,
                                              &self->tokens);
    self->cache = cw_admins_cache_new ();
    self->timer = self->first = -1;
    if (!self->accounts.table || !self->tokens.table || !self->accounts.mirror || !self->tokens.mirror
        || !self->cache) {
        cw_admins_destroy (&self);
        return NULL;
    }
    //  Loaded on the first tick, once the actor is READY
    cw_data_mirror_start (self->accounts.mirror);
    cw_data_mirror_start (self->tokens.mirror);
    self->first = zloop_timer (cw_actor_loop (actor), 1, 1, s_on_timer, self);
    self->timer = zloop_timer (cw_actor_loop (actor), 250, 0, s_on_timer, self);
    if (self->timer < 0 || self->first < 0) {
        cw_admins_destroy (&self);
        return NULL;
    }
    return self;
}

void
cw_admins_destroy (cw_admins_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_admins_t *self = *self_p;
    if (self->timer > 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->timer);
    if (self->first > 0)
        zloop_timer_end (cw_actor_loop (self->actor), self->first);
    zhashx_destroy (&self->accounts.table);
    cw_data_mirror_destroy (&self->accounts.mirror);
    zhashx_destroy (&self->tokens.table);
    cw_data_mirror_destroy (&self->tokens.mirror);
    cw_admins_cache_destroy (&self->cache);
    free (self->dummy_hash);
    free (self);
    *self_p = NULL;
}
