/*  accounts.c - the web administrators' accounts and API tokens (see
    accounts.h).

    The tables (webadmin.accounts: name -> argon2id hash, created, changed;
    webadmin.tokens: id -> account name, BLAKE2b hash of the secret,
    created) are loaded and checked by ipc/cw_admins.h, which the tms
    actor's fallback listener shares; this file makes the changes.

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
#include "cw_admins.h"
#include "cw_text.h"

#define S_PASSWORD_MIN 8
#define S_PUT_TIMEOUT_MS 8000

struct _accounts_t {
    cw_actor_t *actor;
    audit_t *audit;
    cw_admins_t *admins;    //  the tables, loaded and checked
    zlistx_t *ops;          //  the changes waiting for their write
};

// ---------------------------------------------------------------------------
//  The checks (cw_admins.h)

void
accounts_on_event (accounts_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (self)
        cw_admins_on_event (self->admins, ev, body);
}

bool
accounts_loaded (accounts_t *self)
{
    return self && cw_admins_loaded (self->admins);
}

size_t
accounts_count (accounts_t *self)
{
    return self ? zhashx_size (cw_admins_accounts (self->admins)) : 0;
}

bool
accounts_exists (accounts_t *self, const char *name)
{
    return self && name && zhashx_lookup (cw_admins_accounts (self->admins), name) != NULL;
}

bool
accounts_stamp (accounts_t *self, const char *name, char *stamp, size_t stamplen)
{
    const cw_admin_account_t *account = self && name ? zhashx_lookup (cw_admins_accounts (self->admins), name) : NULL;
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
    return self && cw_admins_verify_password (self->admins, name, password);
}

bool
accounts_verify_token (accounts_t *self, const char *token, char *name, size_t namelen)
{
    if (!self) {
        if (namelen)
            name [0] = 0;
        return false;
    }
    return cw_admins_verify_token (self->admins, token, name, namelen);
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
    char name [CW_ADMINS_NAME_MAX + 1];
    char id [CW_ADMINS_TOKEN_ID_HEX + 1];
    cw_admin_account_t account;
    cw_admin_token_t token;
    char token_text [CW_ADMINS_TOKEN_LEN + 1];    //  for the reply only
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
        char hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
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
            cw_admins_set_token (self->admins, id, NULL);
        if (s_put (op, CW_ADMINS_NS_ACCOUNTS, json_pack ("[[s, n]]", op->name)) != 0)
            s_finish (op);
        return;
    }
    //  This peer sees its own change at once; the others by data.changed
    json_t *reply = NULL;
    switch (op->kind) {
        case S_ADD:
        case S_PASSWD:
            cw_admins_set_account (self->admins, op->name, &op->account);
            reply = op->kind == S_ADD ? json_pack ("{s:s, s:s}", "name", op->name, "created", op->account.created)
                                      : json_pack ("{s:s, s:s}", "name", op->name, "changed", op->account.changed);
            break;
        case S_REMOVE:
            cw_admins_set_account (self->admins, op->name, NULL);
            reply = json_pack ("{s:s, s:b}", "name", op->name, "removed", 1);
            break;
        case S_TOKEN:
            cw_admins_set_token (self->admins, op->id, &op->token);
            reply = json_pack ("{s:s, s:s, s:s}", "name", op->name, "id", op->id, "token", op->token_text);
            break;
        case S_REVOKE:
            cw_admins_set_token (self->admins, op->id, NULL);
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
    else if (length < S_PASSWORD_MIN || length > CW_ADMINS_PASSWORD_MAX)
        wrong = "'password' must be 8..1024 characters";
    else if (cw_admins_password_hash (text, length, op->account.hash, sizeof op->account.hash) != 0)
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
        if (!cw_admins_name_valid (name))
            wrong = "'name' must be 1..64 characters of A-Z a-z 0-9 . _ @ -";
    }
    else {
        if (!zhashx_lookup (cw_admins_tokens (self->admins), id)) {
            snprintf (why, sizeof why, "no token with id '%.32s'", id);
            wrong = why;
        }
    }
    const cw_admin_account_t *account = wrong || op->kind == S_REVOKE ? NULL : zhashx_lookup (cw_admins_accounts (self->admins), name);
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
            char hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
            cw_admins_token_new (op->token_text, op->id, hash);
            sodium_hex2bin (op->token.hash, sizeof op->token.hash, hash, CW_ADMINS_TOKEN_HASH_HEX, NULL, NULL, NULL);
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
                for (cw_admin_token_t *token = zhashx_first (cw_admins_tokens (self->admins)); token;
                     token = zhashx_next (cw_admins_tokens (self->admins)))
                    if (strcmp (token->name, name) == 0)
                        zlistx_add_end (op->token_ids, (void *) zhashx_cursor (cw_admins_tokens (self->admins)));
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
        rc = s_put (op, CW_ADMINS_NS_TOKENS, rows);
    }
    else {
        op->step = S_STEP_ACCOUNT;
        if (op->kind == S_REVOKE)
            rc = s_put (op, CW_ADMINS_NS_TOKENS, json_pack ("[[s, n]]", op->id));
        else if (op->kind == S_TOKEN)
            rc = s_put (op, CW_ADMINS_NS_TOKENS, json_pack ("[[s, o]]", op->id, s_value (op)));
        else if (op->kind == S_REMOVE)
            rc = s_put (op, CW_ADMINS_NS_ACCOUNTS, json_pack ("[[s, n]]", op->name));
        else
            rc = s_put (op, CW_ADMINS_NS_ACCOUNTS, json_pack ("[[s, o]]", op->name, s_value (op)));
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
    size_t count = zhashx_size (cw_admins_accounts (self->admins)), n = 0;
    json_t **entries = calloc (count ? count : 1, sizeof (json_t *));
    if (!entries) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    for (cw_admin_account_t *account = zhashx_first (cw_admins_accounts (self->admins)); account && n < count;
         account = zhashx_next (cw_admins_accounts (self->admins))) {
        const char *name = zhashx_cursor (cw_admins_accounts (self->admins));
        entries [n++] = json_pack ("{s:s, s:s, s:s, s:[]}", "name", name, "created", account->created, "changed",
                                   account->changed, "tokens");
    }
    qsort (entries, n, sizeof (json_t *), s_compare_names);
    json_t *list = json_array ();
    for (size_t i = 0; i < n; i++)
        json_array_append_new (list, entries [i]);
    free (entries);
    //  Each account's tokens, by id (the public part)
    for (cw_admin_token_t *token = zhashx_first (cw_admins_tokens (self->admins)); token; token = zhashx_next (cw_admins_tokens (self->admins))) {
        size_t i;
        json_t *entry;
        json_array_foreach (list, i, entry)
            if (strcmp (json_string_value (json_object_get (entry, "name")), token->name) == 0)
                json_array_append_new (json_object_get (entry, "tokens"),
                                       json_pack ("{s:s, s:s}", "id", (const char *) zhashx_cursor (cw_admins_tokens (self->admins)),
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
    accounts_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "accounts: out of memory");
        return NULL;
    }
    self->actor = actor;
    self->audit = audit;
    //  Loaded on the first tick, once the actor is READY
    self->admins = cw_admins_new (actor, "accounts");
    self->ops = zlistx_new ();
    if (!self->admins || !self->ops) {
        snprintf (err, errlen, "accounts: out of memory (or libsodium cannot start)");
        accounts_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->ops, (zlistx_destructor_fn *) s_op_free);
    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "accounts: cannot declare the webadmin.admin commands");
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
    zlistx_destroy (&self->ops);
    cw_admins_destroy (&self->admins);
    free (self);
    *self_p = NULL;
}
