/*  procedures.c - the procedure families registered with the actor and
    the core (procedures.h).

    The engine runs on the core: its clock is zclock_mono, its peer calls
    are cw_cluster_peer_call (the answer handed back with
    cw_engine_deliver), its status kept in the configuration store's
    database, and a 250 ms timer of the actor's loop ticks it.

    The guard of primary-only commands (CW_CMD_PRIMARY_ONLY) asks the
    family that declares the command, so each keeps its own wording.
*/
#include "procedures.h"
#include "common.h"
#include "join.h"
#include "membership.h"
#include "readonly.h"
#include "rolling.h"

#include <stdlib.h>

#define S_TICK_MS 250

struct _cw_procedures_t {
    cw_proc_env_t env;
    int timer_id;
};

//  The families: their tables, and who words a primary-only refusal.
static const struct {
    const cw_command_t *commands;
    const cw_peer_command_t *peer_commands;
    json_t *(*primary_check) (cw_cluster_t *core, const char *command);
} s_families [] = {
    { cw_membership_commands, cw_membership_peer_commands, cw_membership_primary_check },
    { cw_join_commands, cw_join_peer_commands, NULL },
    { cw_rolling_commands, cw_rolling_peer_commands, cw_rolling_primary_check },
    { cw_readonly_commands, NULL, NULL },
};
#define S_FAMILIES (sizeof s_families / sizeof s_families [0])

static int64_t
s_now (void *env)
{
    (void) env;
    return zclock_mono ();
}

static void
s_on_reply (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    (void) core;
    (void) peer;
    (void) blob;
    (void) blob_len;
    cw_engine_deliver (arg, ok, json);
}

static int
s_call (void *env, int peer, json_t *request, int timeout_ms, void *token)
{
    return cw_cluster_peer_call ((cw_cluster_t *) env, peer, request, NULL, 0, s_on_reply, token, timeout_ms);
}

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_engine_tick (((cw_procedures_t *) arg)->env.engine);
    return 0;
}

static bool
s_guard (cw_actor_t *actor, const cw_command_t *command, json_t **reply, void *arg)
{
    (void) actor;
    cw_procedures_t *self = arg;
    for (size_t f = 0; f < S_FAMILIES; f++)
        for (const cw_command_t *c = s_families [f].commands; c->name; c++)
            if (c == command && s_families [f].primary_check) {
                *reply = s_families [f].primary_check (self->env.core, command->name);
                if (*reply)
                    cw_warn ("cluster: refused: %s", cw_jtext (*reply, "error"));
                return *reply == NULL;
            }
    return true;
}

cw_procedures_t *
cw_procedures_new (cw_cluster_t *core)
{
    cw_procedures_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->env.core = core;
    self->timer_id = -1;
    cw_engine_io_t io = { .now_ms = s_now, .call = s_call, .env = core };
    self->env.engine = cw_engine_new (&io, cw_config_store_db (cw_cluster_store (core)));
    cw_actor_t *actor = cw_cluster_actor (core);
    int rc = self->env.engine ? 0 : -1;
    for (size_t f = 0; f < S_FAMILIES && rc == 0; f++) {
        rc = cw_actor_commands (actor, s_families [f].commands, &self->env);
        if (rc == 0 && s_families [f].peer_commands)
            rc = cw_cluster_peer_commands (core, s_families [f].peer_commands, &self->env);
    }
    if (rc == 0)
        self->timer_id = zloop_timer (cw_cluster_loop (core), S_TICK_MS, 0, s_tick, self);
    if (rc || self->timer_id < 0) {
        cw_procedures_destroy (&self);
        return NULL;
    }
    cw_actor_on_guard (actor, s_guard, self);
    return self;
}

void
cw_procedures_destroy (cw_procedures_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_procedures_t *self = *self_p;
    if (self->timer_id >= 0)
        zloop_timer_end (cw_cluster_loop (self->env.core), self->timer_id);
    cw_engine_destroy (&self->env.engine);
    free (self);
    *self_p = NULL;
}
