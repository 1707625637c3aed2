/*  cw_placeholder.c - the main loop of a placeholder actor (see
    cw_placeholder.h): one copy instead of four.
*/
#include "cw_placeholder.h"

#include <string.h>
#include <unistd.h>
#include "cw_actor.h"

typedef struct {
    int64_t started;                    //  zclock_mono at start
    int config_seen;                    //  config.changed.* STATE messages received
    const char *const *status_commands;
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
s_on_request (cw_actor_t *self, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) args;
    s_state_t *state = arg;
    for (int i = 0; state->status_commands[i]; i++)
        if (strcmp (req->command, state->status_commands[i]) == 0) {
            *reply = json_pack ("{s:s, s:i, s:I, s:i}", "actor", cw_actor_name (self),
                                "pid", (int) getpid (),
                                "uptime_s", (json_int_t) ((zclock_mono () - state->started) / 1000),
                                "config_seen", state->config_seen);
            return CW_REPLY_OK;
        }
    *reply = cw_error_body ("unknown command '%.100s'", req->command);
    return CW_REPLY_ERROR;
}

int
cw_placeholder_main (const char *name, const char *const *status_commands, int argc, char **argv)
{
    s_state_t state = { zclock_mono (), 0, status_commands };
    cw_actor_t *actor = cw_actor_new (name, argc, argv);
    if (!actor)
        return 1;
    cw_actor_on_event (actor, s_on_event, &state);
    cw_actor_on_request (actor, s_on_request, &state);
    int status = 1;
    if (cw_actor_ready (actor) == 0)
        status = cw_actor_run (actor);
    cw_actor_destroy (&actor);
    return status;
}
