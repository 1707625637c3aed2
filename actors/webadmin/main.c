/*  main.c - causeway-webadmin: the web admin actor process.

    Thin: connect through the actor runtime, start the HTTPS and redirect
    daemons of the bootstrap's webadmin section (webadmin.c), declare
    webadmin.status, become READY and run the loop. A daemon that cannot
    start (the address in use) is a problem said to causewayd as the
    retained STATE actor.problem.webadmin; the actor then serves
    webadmin.status without a web server rather than crash-looping.
*/

#include "webadmin.h"

static cw_reply_status_t
s_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) req;
    (void) args;
    (void) arg;
    const cw_bootstrap_t *boot = cw_actor_bootstrap (actor);
    json_t *listen = json_array ();
    for (int i = 0; i < boot->webadmin.listen_count; i++)
        json_array_append_new (listen,
                               json_sprintf (strchr (boot->webadmin.listen [i].address, ':') ? "https://[%s]:%d/"
                                                                                             : "https://%s:%d/",
                                             boot->webadmin.listen [i].address, boot->webadmin.listen [i].port));
    *reply = json_pack ("{s:s, s:i, s:o, s:b}", "actor", cw_actor_name (actor), "pid", (int) getpid (), "listen",
                        listen, "serving", arg != NULL);
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
    webadmin_t *web = webadmin_new (actor, err, sizeof err);
    if (!web) {
        cw_error ("%s", err);
        cw_actor_publish (actor, "actor.problem.webadmin", json_pack ("{s:s}", "problem", err), true);
    }
    int rc = 1;
    if (cw_actor_commands (actor, s_commands, web) == 0 && cw_actor_ready (actor) == 0)
        rc = cw_actor_run (actor);
    webadmin_destroy (&web);
    cw_actor_destroy (&actor);
    return rc;
}
