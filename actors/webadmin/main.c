/*  main.c - causeway-webadmin: the web admin actor process.

    Thin: connect through the actor runtime, open the audit log and the
    accounts (their commands: webadmin.audit, webadmin.admin.*), start the
    HTTPS and redirect daemons of the bootstrap's webadmin section with the
    routes of every module (login, static files, /metrics, pages, REST
    API, /alternatesconfiguration.xml), declare webadmin.status, become
    READY and run the loop. A daemon that cannot start (the address in
    use) is a problem said to causewayd as the retained STATE
    actor.problem.webadmin; the actor then serves its commands without a
    web server rather than crash-looping.
*/

#include "alternates.h"
#include "api.h"
#include "metrics.h"
#include "pages.h"
#include "session.h"
#include "static_routes.h"
#include "webadmin.h"

typedef struct {
    accounts_t *accounts;
    audit_t *audit;
    webadmin_t *web;    //  NULL when the web server could not start
    int config_seen;    //  config.changed.* STATE messages received
} s_state_t;

static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    s_state_t *state = (s_state_t *) arg;
    if (ev->type == CW_MSG_STATE && strncmp (ev->command, "config.changed.", 15) == 0)
        state->config_seen++;
    if (state->accounts)
        accounts_on_event (state->accounts, ev, body);
    webadmin_on_event (state->web, ev, body);
}

static cw_reply_status_t
s_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) req;
    (void) args;
    s_state_t *state = (s_state_t *) arg;
    const cw_bootstrap_t *boot = cw_actor_bootstrap (actor);
    json_t *listen = json_array ();
    for (int i = 0; i < boot->webadmin.listen_count; i++)
        json_array_append_new (listen,
                               json_sprintf (strchr (boot->webadmin.listen [i].address, ':') ? "https://[%s]:%d/"
                                                                                             : "https://%s:%d/",
                                             boot->webadmin.listen [i].address, boot->webadmin.listen [i].port));
    *reply = json_pack ("{s:s, s:i, s:o, s:b, s:i, s:i, s:b}", "actor", cw_actor_name (actor), "pid", (int) getpid (),
                        "listen", listen, "serving", state->web != NULL, "config_seen", state->config_seen, "sessions",
                        state->web ? (int) sessions_count (webadmin_sessions (state->web)) : 0, "accounts_loaded",
                        state->accounts && accounts_loaded (state->accounts));
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_routes (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    s_state_t *state = (s_state_t *) arg;
    if (!state->web) {
        *reply = cw_error_body ("the web server is not running (see causeway status)");
        return CW_REPLY_ERROR;
    }
    *reply = web_routes_json (state->web);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "webadmin.status", s_status, CW_CMD_IDEMPOTENT, "the web admin actor: its HTTPS addresses, sessions" },
    { "webadmin.routes", s_routes, CW_CMD_IDEMPOTENT, "every route of the web server: method, path, access, summary" },
    { NULL, NULL, 0, NULL }
};

//  The web server and the routes of every module
static webadmin_t *
s_web_new (cw_actor_t *actor, s_state_t *state, char *err, size_t errlen)
{
    webadmin_t *web = webadmin_new (actor, state->accounts, state->audit, err, errlen);
    if (!web)
        return NULL;
    if (session_routes (web) || static_routes (web) || metrics_routes (web) || pages_routes (web) || api_routes (web)
        || alternates_routes (web)) {
        snprintf (err, errlen, "too many route tables");
        webadmin_destroy (&web);
    }
    return web;
}

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("webadmin", argc, argv);
    if (!actor)
        return 1;
    char err [1024];
    s_state_t state = { NULL, NULL, NULL, 0 };
    state.audit = audit_new (actor, err, sizeof err);
    if (!state.audit) {
        cw_error ("%s", err);
        cw_actor_publish (actor, "actor.problem.webadmin", json_pack ("{s:s}", "problem", err), true);
    }
    state.accounts = accounts_new (actor, state.audit, err, sizeof err);
    if (!state.accounts) {
        cw_error ("%s", err);
        cw_actor_destroy (&actor);
        return 1;
    }
    state.web = s_web_new (actor, &state, err, sizeof err);
    if (!state.web) {
        cw_error ("%s", err);
        cw_actor_publish (actor, "actor.problem.webadmin", json_pack ("{s:s}", "problem", err), true);
    }
    cw_actor_on_event (actor, s_on_event, &state);
    int rc = 1;
    if (cw_actor_commands (actor, s_commands, &state) == 0 && cw_actor_ready (actor) == 0)
        rc = cw_actor_run (actor);
    webadmin_destroy (&state.web);
    accounts_destroy (&state.accounts);
    audit_destroy (&state.audit);
    cw_actor_destroy (&actor);
    return rc;
}
