/*  main.c - causeway-alarms: the alarms actor process.

    Thin: connect through the actor runtime, open the alarm table at
    <state_dir>/alarms.db, bind an XPUB socket at every alarms.publish
    endpoint, declare the alarms.* commands (s_commands: every one is
    idempotent, as a raise, clear or ack applied twice leaves the table as
    once) with alarms.c as their handler, and run the loop. Requests that
    change the table are answered after their batch is committed (see
    alarms.h); the retained STATE config.changed.system.name gives the
    system name used as the "peer" of alarms.

    A damaged or unusable alarm table never leaves the node silent: the
    problem (file, SQLite's error, fix) goes to causewayd as the retained
    STATE actor.problem.alarms {"problem"}, which `causeway status`, the
    systemd STATUS= line and causewayd's log show. When alarms.db cannot be
    opened at all (an unwritable state_dir), the actor still becomes READY
    and answers every alarms.* request with that problem, rather than
    failing in a restart loop with nothing said.
*/

#include "alarms.h"
#include "cw_actor.h"

static void
s_reply (const char *to, uint64_t corr, bool ok, json_t *body, void *arg)
{
    cw_actor_reply ((cw_actor_t *) arg, to, corr, ok, body);
}

static cw_reply_status_t
s_on_request (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    alarms_status_t status = alarms_request ((alarms_t *) arg, req->from, req->corr, req->command, args, reply);
    return status == ALARMS_DEFERRED ? CW_REPLY_DEFERRED : status == ALARMS_OK ? CW_REPLY_OK : CW_REPLY_ERROR;
}

//  The commands this actor serves (announced in READY; causewayd routes
//  them here). All idempotent: delivered twice after a crash they leave
//  the table as delivered once.
static const cw_command_t s_commands [] = {
    { "alarms.raise", s_on_request, CW_CMD_IDEMPOTENT, "raise alarm {id, detail} (or update it)" },
    { "alarms.clear", s_on_request, CW_CMD_IDEMPOTENT, "clear alarm {id}" },
    { "alarms.ack", s_on_request, CW_CMD_IDEMPOTENT, "acknowledge alarm {uuid}" },
    { "alarms.list", s_on_request, CW_CMD_IDEMPOTENT, "the active alarms ({all: true}: cleared too)" },
    { NULL, NULL, 0, NULL }
};

static void
s_report (cw_actor_t *actor, const char *problem)
{
    cw_error ("%s", problem);
    cw_actor_publish (actor, "actor.problem.alarms", json_pack ("{s:s}", "problem", problem), true);
}

static void
s_on_problem (const char *problem, void *arg)
{
    s_report ((cw_actor_t *) arg, problem);
}

//  Every command while there is no alarm table: the problem
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
    { "alarms.raise", s_unavailable, CW_CMD_IDEMPOTENT, "raise alarm {id, detail} (or update it)" },
    { "alarms.clear", s_unavailable, CW_CMD_IDEMPOTENT, "clear alarm {id}" },
    { "alarms.ack", s_unavailable, CW_CMD_IDEMPOTENT, "acknowledge alarm {uuid}" },
    { "alarms.list", s_unavailable, CW_CMD_IDEMPOTENT, "the active alarms ({all: true}: cleared too)" },
    { NULL, NULL, 0, NULL }
};

//  No alarm table (PROBLEM says why): serve errors that say so until stopped.
static int
s_run_without_table (cw_actor_t *actor, const char *problem)
{
    char *text = strdup (problem);
    int rc = 1;
    if (text && cw_actor_commands (actor, s_unavailable_commands, text) == 0) {
        s_report (actor, text);
        rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
    }
    free (text);
    return rc;
}

static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    if (streq (ev->command, "config.changed.system.name")) {
        const char *name = json_string_value (json_object_get (body, "value"));
        if (name && *name)
            alarms_set_peer ((alarms_t *) arg, name);
        else    //  unset: back to the bootstrap name
            alarms_set_peer ((alarms_t *) arg, cw_actor_bootstrap (actor)->node.name);
    }
}

static void
s_on_stop (cw_actor_t *actor, void *arg)
{
    (void) actor;
    alarms_flush ((alarms_t *) arg);    //  commit and answer what is in hand
}

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("alarms", argc, argv);
    if (!actor)
        return 1;
    const cw_bootstrap_t *boot = cw_actor_bootstrap (actor);

    char path [4096], err [512];
    snprintf (path, sizeof path, "%s/alarms.db", boot->node.state_dir);
    alarms_t *alarms = alarms_new (path, boot->node.name, err, sizeof err);
    if (!alarms) {
        char problem [1024];
        snprintf (problem, sizeof problem, "no alarm table: %s", err);
        int rc = s_run_without_table (actor, problem);
        cw_actor_destroy (&actor);
        return rc;
    }
    if (alarms_replaced (alarms)) {
        char problem [8192];
        snprintf (problem, sizeof problem, "%s was damaged: %s", path, alarms_replaced (alarms));
        s_report (actor, problem);
    }
    alarms_on_problem (alarms, s_on_problem, actor);
    for (int i = 0; i < boot->alarms.publish_count; i++)
        if (alarms_bind (alarms, boot->alarms.publish [i], err, sizeof err) != 0) {
            cw_error ("cannot start: %s", err);
            alarms_destroy (&alarms);
            cw_actor_destroy (&actor);
            return 1;
        }
    alarms_set_replier (alarms, s_reply, actor);
    if (alarms_attach (alarms, cw_actor_loop (actor), boot->alarms.heartbeat_ms) != 0) {
        cw_error ("cannot start: the event loop refused the alarm sockets");
        alarms_destroy (&alarms);
        cw_actor_destroy (&actor);
        return 1;
    }
    if (cw_actor_commands (actor, s_commands, alarms) != 0) {
        cw_error ("cannot start: out of memory");
        alarms_destroy (&alarms);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_actor_on_event (actor, s_on_event, alarms);
    cw_actor_on_stop (actor, s_on_stop, alarms);
    cw_info ("alarm table open path=%s active=%d", path, alarms_active_count (alarms));

    int rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
    alarms_flush (alarms);
    alarms_destroy (&alarms);
    cw_actor_destroy (&actor);
    return rc;
}
