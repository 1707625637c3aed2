/*  main.c - causeway-webadmin: the web admin actor process.

    Thin: connect through the actor runtime, start the HTTPS and redirect
    daemons of the bootstrap's webadmin section (webadmin.c), declare
    webadmin.status (its addresses, and the config.changed.* it has
    seen), become READY and run the loop. A daemon that cannot start (the
    address in use) is a problem said to causewayd as the
    retained STATE actor.problem.webadmin; the actor then serves
    webadmin.status without a web server rather than crash-looping.
*/

#include "webadmin.h"

typedef struct {
    webadmin_t *web;    //  NULL when the web server could not start
    int config_seen;    //  config.changed.* STATE messages received
} s_state_t;

static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    (void) body;
    if (ev->type == CW_MSG_STATE && strncmp (ev->command, "config.changed.", 15) == 0)
        ((s_state_t *) arg)->config_seen++;
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
    *reply = json_pack ("{s:s, s:i, s:o, s:b, s:i}", "actor", cw_actor_name (actor), "pid", (int) getpid (), "listen",
                        listen, "serving", state->web != NULL, "config_seen", state->config_seen);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = { { "webadmin.status", s_status, CW_CMD_IDEMPOTENT,
                                              "the web admin actor: its HTTPS addresses" },
                                            { NULL, NULL, 0, NULL } };

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("webadmin", argc, argv);
    if (!actor)
        return 1;
    char err [1024];
    s_state_t state = { webadmin_new (actor, err, sizeof err), 0 };
    if (!state.web) {
        cw_error ("%s", err);
        cw_actor_publish (actor, "actor.problem.webadmin", json_pack ("{s:s}", "problem", err), true);
    }
    cw_actor_on_event (actor, s_on_event, &state);
    int rc = 1;
    if (cw_actor_commands (actor, s_commands, &state) == 0 && cw_actor_ready (actor) == 0)
        rc = cw_actor_run (actor);
    webadmin_destroy (&state.web);
    cw_actor_destroy (&actor);
    return rc;
}
