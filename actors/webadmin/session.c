/*  session.c - logins, sessions and lockout of the web admin (session.h).

    Sessions live in a hash table keyed by the hex BLAKE2b of the cookie
    value, so the table never holds a usable cookie. Failed logins are
    counted in a second table keyed "account:<name>" and "address:<ip>":
    a window opens at the first failure and lasts webadmin.lockout_s; the
    failure that reaches webadmin.lockout_failures locks the key until
    lockout_s after it. A success clears the account's and the address's
    counts. The timer of the server (every 500 ms) drops idle sessions and
    stale counts.
*/

#include "session.h"
#include <microhttpd.h>
#include <sodium.h>
#include <string.h>
#include "html.h"

#define S_MAX_SESSIONS 10000
#define S_MAX_FAILURE_KEYS 100000
#define S_DEFAULT_IDLE_S 1800
#define S_DEFAULT_FAILURES 5
#define S_DEFAULT_LOCKOUT_S 900
#define S_ID_BYTES 32

typedef struct {
    char user [72];
    char csrf [72];
    char stamp [40];      //  accounts_stamp at login: a password change ends the session
    int64_t last_used;    //  zclock_mono
} s_session_t;

typedef struct {
    int count;
    int64_t window_start;
    int64_t locked_until;
} s_failures_t;

struct _sessions_t {
    webadmin_t *web;
    zhashx_t *sessions;    //  hex hash of the cookie -> s_session_t
    zhashx_t *failures;    //  "account:NAME" / "address:IP" -> s_failures_t
    unsigned char login_key [crypto_generichash_KEYBYTES];
    int64_t last_expire;
};

static void
s_free (void **item)
{
    if (*item) {
        sodium_memzero (*item, sizeof (s_session_t));
        free (*item);
        *item = NULL;
    }
}

static void
s_free_plain (void **item)
{
    free (*item);
    *item = NULL;
}

sessions_t *
sessions_new (webadmin_t *web)
{
    if (sodium_init () < 0)
        return NULL;
    sessions_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->web = web;
    self->sessions = zhashx_new ();
    self->failures = zhashx_new ();
    zhashx_set_destructor (self->sessions, s_free);
    zhashx_set_destructor (self->failures, s_free_plain);
    randombytes_buf (self->login_key, sizeof self->login_key);
    return self;
}

void
sessions_destroy (sessions_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sessions_t *self = *self_p;
    zhashx_destroy (&self->sessions);
    zhashx_destroy (&self->failures);
    sodium_memzero (self->login_key, sizeof self->login_key);
    free (self);
    *self_p = NULL;
}

//  The table key of cookie value ID: hex BLAKE2b-256
static void
s_key (const char *id, char key [2 * crypto_generichash_BYTES + 1])
{
    unsigned char hash [crypto_generichash_BYTES];
    crypto_generichash (hash, sizeof hash, (const unsigned char *) id, strlen (id), NULL, 0);
    sodium_bin2hex (key, 2 * crypto_generichash_BYTES + 1, hash, sizeof hash);
}

static void
s_random_text (char *out, size_t outlen)
{
    unsigned char bytes [S_ID_BYTES];
    randombytes_buf (bytes, sizeof bytes);
    sodium_bin2base64 (out, outlen, bytes, sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero (bytes, sizeof bytes);
}

static int64_t
s_idle_ms (sessions_t *self)
{
    return webadmin_config_int (self->web, "webadmin.session_idle_s", S_DEFAULT_IDLE_S) * 1000;
}

bool
sessions_check (sessions_t *self, const char *id, char *user, size_t userlen, char *csrf, size_t csrflen)
{
    if (!id || strlen (id) > 128)
        return false;
    char key [2 * crypto_generichash_BYTES + 1];
    s_key (id, key);
    s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, key);
    if (!session)
        return false;
    int64_t now = zclock_mono ();
    char stamp [40];
    if (now - session->last_used > s_idle_ms (self)
        || !accounts_stamp (webadmin_accounts (self->web), session->user, stamp, sizeof stamp)
        || strcmp (stamp, session->stamp) != 0) {
        zhashx_delete (self->sessions, key);
        return false;
    }
    session->last_used = now;
    snprintf (user, userlen, "%s", session->user);
    snprintf (csrf, csrflen, "%s", session->csrf);
    return true;
}

bool
sessions_csrf_equal (const char *expected, const char *given)
{
    size_t len = strlen (expected);
    return len > 0 && strlen (given) == len && sodium_memcmp (expected, given, len) == 0;
}

// ---------------------------------------------------------------------------
//  Lockout

static s_failures_t *
s_failures (sessions_t *self, const char *kind, const char *what, bool make)
{
    char key [200];
    snprintf (key, sizeof key, "%s:%s", kind, what);
    s_failures_t *failures = (s_failures_t *) zhashx_lookup (self->failures, key);
    if (!failures && make && zhashx_size (self->failures) < S_MAX_FAILURE_KEYS) {
        failures = calloc (1, sizeof *failures);
        if (failures)
            zhashx_insert (self->failures, key, failures);
    }
    return failures;
}

static int64_t
s_left (s_failures_t *failures, int64_t now)
{
    return failures && failures->locked_until > now ? (failures->locked_until - now + 999) / 1000 : 0;
}

int64_t
sessions_locked (sessions_t *self, const char *name, const char *address)
{
    int64_t now = zclock_mono ();
    int64_t by_name = s_left (s_failures (self, "account", name, false), now);
    int64_t by_address = s_left (s_failures (self, "address", address, false), now);
    return by_name > by_address ? by_name : by_address;
}

//  One more failure for KIND:WHAT; true when it has just locked it
static bool
s_fail (sessions_t *self, const char *kind, const char *what, int64_t now)
{
    s_failures_t *failures = s_failures (self, kind, what, true);
    if (!failures)
        return false;
    int64_t window = webadmin_config_int (self->web, "webadmin.lockout_s", S_DEFAULT_LOCKOUT_S) * 1000;
    int64_t limit = webadmin_config_int (self->web, "webadmin.lockout_failures", S_DEFAULT_FAILURES);
    if (failures->count == 0 || now - failures->window_start > window) {
        failures->count = 0;
        failures->window_start = now;
    }
    failures->count++;
    if (failures->count >= limit && failures->locked_until <= now) {
        failures->locked_until = now + window;
        return true;
    }
    return false;
}

static void
s_clear (sessions_t *self, const char *kind, const char *what)
{
    char key [200];
    snprintf (key, sizeof key, "%s:%s", kind, what);
    zhashx_delete (self->failures, key);
}

unsigned
sessions_login (sessions_t *self, const char *name, const char *password, const char *address, char *id, size_t idlen)
{
    if (sessions_locked (self, name, address) > 0)
        return MHD_HTTP_TOO_MANY_REQUESTS;
    int64_t now = zclock_mono ();
    if (!accounts_verify_password (webadmin_accounts (self->web), name, password)) {
        bool locked_name = s_fail (self, "account", name, now);
        bool locked_address = s_fail (self, "address", address, now);
        audit_t *audit = webadmin_audit (self->web);
        if (audit && locked_name)
            audit_record (audit, name, address, "lockout", "account locked after repeated failed logins", "locked");
        if (audit && locked_address)
            audit_record (audit, name, address, "lockout", "address locked after repeated failed logins", "locked");
        if (locked_name || locked_address)
            cw_warn ("webadmin: logins locked after repeated failures (account or address %s)", address);
        return MHD_HTTP_UNAUTHORIZED;
    }
    s_clear (self, "account", name);
    s_clear (self, "address", address);
    if (!id)
        return 0;
    if (zhashx_size (self->sessions) >= S_MAX_SESSIONS) {
        //  Full: the least recently used goes
        const char *oldest_key = NULL;
        int64_t oldest = INT64_MAX;
        for (s_session_t *session = zhashx_first (self->sessions); session; session = zhashx_next (self->sessions))
            if (session->last_used < oldest) {
                oldest = session->last_used;
                oldest_key = (const char *) zhashx_cursor (self->sessions);
            }
        if (oldest_key) {
            char key [2 * crypto_generichash_BYTES + 1];
            snprintf (key, sizeof key, "%s", oldest_key);
            zhashx_delete (self->sessions, key);
        }
    }
    s_session_t *session = calloc (1, sizeof *session);
    if (!session)
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    snprintf (session->user, sizeof session->user, "%s", name);
    accounts_stamp (webadmin_accounts (self->web), name, session->stamp, sizeof session->stamp);
    s_random_text (session->csrf, sizeof session->csrf);
    session->last_used = now;
    s_random_text (id, idlen);
    char key [2 * crypto_generichash_BYTES + 1];
    s_key (id, key);
    zhashx_update (self->sessions, key, session);
    return 0;
}

void
sessions_drop (sessions_t *self, const char *id)
{
    if (!id || strlen (id) > 128)
        return;
    char key [2 * crypto_generichash_BYTES + 1];
    s_key (id, key);
    zhashx_delete (self->sessions, key);
}

void
sessions_drop_account (sessions_t *self, const char *name)
{
    zlistx_t *keys = zhashx_keys (self->sessions);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, key);
        if (session && strcmp (session->user, name) == 0)
            zhashx_delete (self->sessions, key);
    }
    zlistx_destroy (&keys);
}

void
sessions_expire (sessions_t *self)
{
    int64_t now = zclock_mono ();
    if (now - self->last_expire < 5000)
        return;
    self->last_expire = now;
    int64_t idle = s_idle_ms (self);
    int64_t window = webadmin_config_int (self->web, "webadmin.lockout_s", S_DEFAULT_LOCKOUT_S) * 1000;
    zlistx_t *keys = zhashx_keys (self->sessions);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_session_t *session = (s_session_t *) zhashx_lookup (self->sessions, key);
        if (session && now - session->last_used > idle)
            zhashx_delete (self->sessions, key);
    }
    zlistx_destroy (&keys);
    keys = zhashx_keys (self->failures);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_failures_t *failures = (s_failures_t *) zhashx_lookup (self->failures, key);
        if (failures && failures->locked_until <= now && now - failures->window_start > window)
            zhashx_delete (self->failures, key);
    }
    zlistx_destroy (&keys);
}

size_t
sessions_count (sessions_t *self)
{
    return zhashx_size (self->sessions);
}

// ---------------------------------------------------------------------------
//  Pages

char *
session_next_param (const char *path)
{
    if (!path || path [0] != '/' || path [1] == '/' || strcmp (path, "/login") == 0 || strlen (path) > 512)
        return NULL;
    char *out = malloc (3 * strlen (path) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const unsigned char *c = (const unsigned char *) path; *c; c++)
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr ("/-._~", *c))
            *o++ = (char) *c;
        else
            o += sprintf (o, "%%%02X", *c);
    *o = 0;
    return out;
}

void
session_refuse_page (web_request_t *req, unsigned status, const char *message)
{
    html_t *page = html_new ();
    if (!page) {
        web_respond (req, status, "text/plain; charset=utf-8", message, strlen (message));
        return;
    }
    html_begin (page, req, "Refused", NULL, false);
    html_raw (page, "<p class=\"error\" id=\"refused\">");
    html_text (page, message);
    html_raw (page, "</p><p><a href=\"/\">Back to the status page</a></p>");
    html_end (page);
    html_send (&page, req, status);
}

//  The login form's token: keyed BLAKE2b of the pre-session cookie
static void
s_login_token (sessions_t *self, const char *cookie, char *out, size_t outlen)
{
    unsigned char hash [32];
    crypto_generichash (hash, sizeof hash, (const unsigned char *) cookie, strlen (cookie), self->login_key,
                        sizeof self->login_key);
    sodium_bin2hex (out, outlen, hash, sizeof hash);
}

static bool
s_login_cookie_ok (const char *cookie)
{
    return cookie && strlen (cookie) >= 40 && strlen (cookie) <= 64
        && strspn (cookie, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen (cookie);
}

//  The login page; MESSAGE (may be NULL) in #login-error
static void
s_login_page (web_request_t *req, unsigned status, const char *message)
{
    sessions_t *self = webadmin_sessions (web_server (req));
    const char *cookie = web_cookie (req, SESSION_LOGIN_COOKIE);
    char fresh [64];
    if (!s_login_cookie_ok (cookie)) {
        s_random_text (fresh, sizeof fresh);
        cookie = fresh;
        char header [160];
        snprintf (header, sizeof header, "%s=%s; Secure; HttpOnly; SameSite=Strict; Path=/login", SESSION_LOGIN_COOKIE,
                  fresh);
        web_add_header (req, MHD_HTTP_HEADER_SET_COOKIE, header);
    }
    char token [65];
    s_login_token (self, cookie, token, sizeof token);
    const char *next = web_query (req, "next");
    if (!next)
        next = web_form (req, "next");
    html_t *page = html_new ();
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    html_begin (page, req, "Log in", NULL, false);
    if (message) {
        html_raw (page, "<p class=\"error\" id=\"login-error\">");
        html_text (page, message);
        html_raw (page, "</p>");
    }
    html_raw (page,
              "<form id=\"login\" method=\"post\" action=\"/login\">"
              "<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
              token);
    if (next && next [0] == '/' && next [1] != '/') {
        html_raw (page, "<input type=\"hidden\" name=\"next\" value=\"");
        html_text (page, next);
        html_raw (page, "\">");
    }
    html_raw (page, "<label>Name <input name=\"name\" autocomplete=\"username\" required autofocus></label>"
                    "<label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" "
                    "required></label><button type=\"submit\">Log in</button></form>");
    html_end (page);
    html_send (&page, req, status);
}

static void
s_get_login (web_request_t *req)
{
    s_login_page (req, MHD_HTTP_OK, NULL);
}

static void
s_post_login (web_request_t *req)
{
    webadmin_t *web = web_server (req);
    sessions_t *self = webadmin_sessions (web);
    const char *cookie = web_cookie (req, SESSION_LOGIN_COOKIE);
    const char *token = web_form (req, "csrf");
    char expected [65];
    if (s_login_cookie_ok (cookie))
        s_login_token (self, cookie, expected, sizeof expected);
    if (!s_login_cookie_ok (cookie) || !token || !sessions_csrf_equal (expected, token)) {
        session_refuse_page (req, MHD_HTTP_FORBIDDEN,
                             "Refused: the form's security token is missing or wrong (CSRF); load the login page "
                             "again.");
        return;
    }
    const char *name = web_form (req, "name");
    const char *password = web_form (req, "password");
    if (!name || !*name || !password || strlen (name) > 64) {
        s_login_page (req, MHD_HTTP_BAD_REQUEST, "Give a name and a password.");
        return;
    }
    if (!accounts_loaded (webadmin_accounts (web))) {
        s_login_page (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "The accounts are not loaded yet (is the replication actor running?); try again shortly.");
        return;
    }
    char id [64];
    unsigned status = sessions_login (self, name, password, web_client (req), id, sizeof id);
    if (status == MHD_HTTP_TOO_MANY_REQUESTS) {
        int64_t left = sessions_locked (self, name, web_client (req));
        char message [200];
        snprintf (message, sizeof message,
                  "Locked: too many failed logins for this account or from this address; try again in %lld minute%s.",
                  (long long) ((left + 59) / 60), (left + 59) / 60 == 1 ? "" : "s");
        webadmin_audit_request (req, "login", name, "locked");
        s_login_page (req, MHD_HTTP_TOO_MANY_REQUESTS, message);
        return;
    }
    if (status) {
        webadmin_audit_request (req, "login", name, "wrong name or password");
        s_login_page (req, status == MHD_HTTP_UNAUTHORIZED ? status : MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "Wrong name or password.");
        return;
    }
    audit_t *audit = webadmin_audit (web);
    if (audit)
        audit_record (audit, name, web_client (req), "login", "", NULL);
    char header [160];
    snprintf (header, sizeof header, "%s=%s; Secure; HttpOnly; SameSite=Strict; Path=/", SESSION_COOKIE, id);
    sodium_memzero (id, sizeof id);
    web_add_header (req, MHD_HTTP_HEADER_SET_COOKIE, header);
    sodium_memzero (header, sizeof header);
    const char *next = web_form (req, "next");
    web_redirect (req, next && next [0] == '/' && next [1] != '/' ? next : "/");
}

static void
s_post_logout (web_request_t *req)
{
    sessions_drop (webadmin_sessions (web_server (req)), web_cookie (req, SESSION_COOKIE));
    webadmin_audit_request (req, "logout", "", NULL);
    web_add_header (req, MHD_HTTP_HEADER_SET_COOKIE,
                    SESSION_COOKIE "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    web_redirect (req, "/login");
}

static const web_route_t s_routes [] = {
    { "GET", "/login", WEB_OPEN, s_get_login, "the login form" },
    { "POST", "/login", WEB_OPEN, s_post_login, "log in: name, password (and the form's token); sets cw_session" },
    { "POST", "/logout", WEB_PAGE, s_post_logout, "end the session" },
    { NULL, NULL, 0, NULL, NULL },
};

int
session_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
