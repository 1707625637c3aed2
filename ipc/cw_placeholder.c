/*  cw_placeholder.c - the main loop of a placeholder actor (see
    cw_placeholder.h): one copy instead of four.

    Its status commands become a command table (idempotent), so the actor
    runtime answers them and announces them in READY; any other request
    gets the runtime's "unknown command".
*/
#include "cw_placeholder.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_actor.h"

typedef struct {
    int64_t started;    //  zclock_mono at start
    int config_seen;    //  config.changed.* STATE messages received
} s_state_t;

static void
s_on_event (cw_actor_t *self, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) self;
    (void) body;
    s_state_t *state = arg;
    if (ev->type == CW_MSG_STATE && strncmp (ev->command, "config.changed.", 15) == 0)
        state->config_seen++;
}

static cw_reply_status_t
s_status (cw_actor_t *self, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) req;
    (void) args;
    s_state_t *state = arg;
    *reply = json_pack ("{s:s, s:i, s:I, s:i}", "actor", cw_actor_name (self), "pid", (int) getpid (), "uptime_s",
                        (json_int_t) ((zclock_mono () - state->started) / 1000), "config_seen", state->config_seen);
    return CW_REPLY_OK;
}

int
cw_placeholder_main (const char *name, const char *const *status_commands, int argc, char **argv)
{
    s_state_t state = { zclock_mono (), 0 };
    size_t count = 0;
    while (status_commands [count])
        count++;
    cw_command_t *commands = calloc (count + 1, sizeof *commands);
    if (!commands)
        return 1;
    for (size_t i = 0; i < count; i++)
        commands [i] = (cw_command_t){ status_commands [i], s_status, CW_CMD_IDEMPOTENT,
                                       "this actor's pid, uptime and config changes seen" };
    cw_actor_t *actor = cw_actor_new (name, argc, argv);
    if (!actor) {
        free (commands);
        return 1;
    }
    cw_actor_on_event (actor, s_on_event, &state);
    int status = 1;
    if (cw_actor_commands (actor, commands, &state) == 0 && cw_actor_ready (actor) == 0)
        status = cw_actor_run (actor);
    cw_actor_destroy (&actor);
    free (commands);
    return status;
}
