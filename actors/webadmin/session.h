/*  session.h - logins, sessions and lockout of the web admin.

    A session is made by a login (POST /login with an administrator's name
    and password): 32 random bytes, base64url, in the cookie cw_session
    (Secure; HttpOnly; SameSite=Strict; Path=/). The server keeps only a
    BLAKE2b hash of it, with the account, a CSRF token (32 random bytes)
    and the last use. A session ends at logout, after
    webadmin.session_idle_s without a request (default 1800), when its
    account is removed or its password changed, and when the actor stops
    (sessions are per peer and in memory: a restarted actor asks for a new
    login). At most 10,000 sessions: the least recently used goes first.

    The login form itself carries a token bound to a pre-session cookie
    (cw_login), so a login cannot be forged from another site either.

    Lockout: webadmin.lockout_failures (default 5) failed logins for one
    account, or from one address, within webadmin.lockout_s (default 900)
    lock that account / address for webadmin.lockout_s: every login then
    fails with "Locked", the right password too, and the lock is written
    to the audit log. The same counts apply to HTTP Basic on the API.

    Routes (WEB_OPEN): GET /login, POST /login; (WEB_PAGE) POST /logout.
*/
#ifndef WEBADMIN_SESSION_H
#define WEBADMIN_SESSION_H

#include "webadmin.h"

#define SESSION_COOKIE "cw_session"
#define SESSION_LOGIN_COOKIE "cw_login"

sessions_t *sessions_new (webadmin_t *web);
void sessions_destroy (sessions_t **self_p);
//  Whether cookie value ID is a live session; its account in USER and
//  CSRF token in CSRF; its idle clock restarts.
bool sessions_check (sessions_t *self, const char *id, char *user, size_t userlen, char *csrf, size_t csrflen);
//  Constant-time comparison of two CSRF tokens
bool sessions_csrf_equal (const char *expected, const char *given);
//  Check NAME/PASSWORD from ADDRESS, with the lockout. 0 when they match;
//  else 401 (wrong) or 429 (locked). With ID non-NULL a session is made on
//  success and its cookie value written to ID (IDLEN >= 64).
unsigned sessions_login (sessions_t *self, const char *name, const char *password, const char *address, char *id,
                         size_t idlen);
//  Seconds left of the lock on NAME or ADDRESS (0: not locked)
int64_t sessions_locked (sessions_t *self, const char *name, const char *address);
//  End the session of cookie value ID / every session of account NAME
void sessions_drop (sessions_t *self, const char *id);
void sessions_drop_account (sessions_t *self, const char *name);
//  Drop idle sessions and stale lockout counts (the server's timer)
void sessions_expire (sessions_t *self);
//  Number of live sessions
size_t sessions_count (sessions_t *self);

//  PATH percent-encoded for /login?next= (a new string), or NULL
char *session_next_param (const char *path);
//  Answer REQ with a small HTML page saying MESSAGE (status STATUS)
void session_refuse_page (web_request_t *req, unsigned status, const char *message);
//  Register the login routes on WEB
int session_routes (webadmin_t *web);

#endif
