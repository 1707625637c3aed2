/*  main.c - causeway-licensing: the licensing actor process.

    Thin: connect through the actor runtime, open the licensing state
    (licensing.h: <state_dir>/licensing.db and the lease table under
    runtime_dir), declare its commands, signal READY and run the loop.
    Without its state (a state_dir it cannot write) it still becomes READY,
    reports the problem to causewayd (`causeway status` shows it) and
    answers every license command with it.
*/
#include "cw_actor.h"
#include "licensing.h"

//  Every license command while there is no licensing state: the problem
static cw_reply_status_t
s_unavailable (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    *reply = cw_error_body ("%s", (const char *) arg);
    return CW_REPLY_ERROR;
}

static const cw_command_t s_unavailable_commands [] = {
    { "license.add", s_unavailable, 0, "install an option key on this peer {key}" },
    { "license.remove", s_unavailable, 0, "remove an option key from this peer {key: text or serial}" },
    { "license.list", s_unavailable, CW_CMD_IDEMPOTENT, "this peer's option keys, decoded" },
    { "license.status", s_unavailable, CW_CMD_IDEMPOTENT, "the pool per license kind, what each peer uses" },
    { "licensing.status", s_unavailable, CW_CMD_IDEMPOTENT, "the same as license.status" },
    { "license.acquire", s_unavailable, 0, "take one license {kind}: {granted, lease}" },
    { "license.release", s_unavailable, 0, "give a lease back {lease}" },
    { NULL, NULL, 0, NULL }
};

//  No licensing state (PROBLEM says why, e.g. an unwritable state_dir):
//  say so to causewayd and to every request until stopped, rather than
//  fail in a restart loop with nothing said.
static int
s_run_without_state (cw_actor_t *actor, const char *problem)
{
    char text [1200];
    snprintf (text, sizeof text, "no licensing state: %s", problem);
    cw_error ("%s", text);
    cw_actor_publish (actor, "actor.problem.licensing", json_pack ("{s:s}", "problem", text), true);
    if (cw_actor_commands (actor, s_unavailable_commands, text) != 0)
        return 1;
    return cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
}

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("licensing", argc, argv);
    if (!actor)
        return 1;
    char err [1024];
    cw_licensing_t *licensing = cw_licensing_new (actor, err, sizeof err);
    if (!licensing) {
        int rc = s_run_without_state (actor, err);
        cw_actor_destroy (&actor);
        return rc;
    }
    int rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
    cw_licensing_destroy (&licensing);
    cw_actor_destroy (&actor);
    return rc;
}
