/*  main.c - causeway-tms: the tms actor process.

    Thin: connect through the actor runtime, open the external manager's
    connection (tms.h: <state_dir>/tms.db, the alarm socket, libcurl in the
    actor's zloop), the SNMP sub-agent (snmp.h) and the provisioning data's
    read model (directory.h), signal READY and run the loop. Without its state (a
    state_dir it cannot write) it still becomes READY, reports the problem
    to causewayd (`causeway status` shows it) and answers tms.status with it.
*/
#include "cw_actor.h"
#include "directory.h"
#include "snmp.h"
#include "tms.h"

typedef struct {
    tms_t *tms;
    cw_snmp_t *snmp;
    tms_directory_t *directory;
} s_parts_t;

//  Every EVENT/STATE goes to both parts; each takes what it needs
static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    s_parts_t *parts = arg;
    tms_on_event (parts->tms, ev, body);
    if (parts->snmp)
        cw_snmp_on_event (parts->snmp, ev, body);
    tms_directory_on_event (parts->directory, ev, body);
}

//  The phone book's bulk events, read in place by the directory
static bool
s_on_raw_event (cw_actor_t *actor, const cw_envelope_t *ev, void *arg)
{
    (void) actor;
    s_parts_t *parts = arg;
    return tms_directory_on_raw_event (parts->directory, ev);
}

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
    { "tms.status", s_unavailable, CW_CMD_IDEMPOTENT, "the external manager: state, reason, queue" },
    { "tms.credentials.set", s_unavailable, CW_CMD_IDEMPOTENT, "the manager's credentials {user, password}" },
    { NULL, NULL, 0, NULL }
};

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("tms", argc, argv);
    if (!actor)
        return 1;
    char err [1024], problem [1200];
    tms_t *tms = tms_new (actor, err, sizeof err);
    int rc = 1;
    if (tms) {
        s_parts_t parts = { tms, cw_snmp_new (actor, err, sizeof err), NULL };
        if (!parts.snmp) {
            snprintf (problem, sizeof problem, "no SNMP sub-agent: %s", err);
            cw_error ("%s", problem);
            cw_actor_publish (actor, "actor.problem.tms", json_pack ("{s:s}", "problem", problem), true);
        }
        parts.directory = tms_directory_new (actor, err, sizeof err);
        cw_actor_want_data (actor, "tms.");    //  the directory reads every tms.* namespace
        if (!parts.directory) {
            snprintf (problem, sizeof problem, "no provisioning directory: %s", err);
            cw_error ("%s", problem);
            cw_actor_publish (actor, "actor.problem.tms", json_pack ("{s:s}", "problem", problem), true);
        }
        cw_actor_on_event (actor, s_on_event, &parts);
        cw_actor_on_raw_event (actor, "data.changed.tms.phonebooks", s_on_raw_event, &parts);
        rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
        tms_directory_destroy (&parts.directory);
        cw_snmp_destroy (&parts.snmp);
    }
    else {
        snprintf (problem, sizeof problem, "no tms state: %s", err);
        cw_error ("%s", problem);
        cw_actor_publish (actor, "actor.problem.tms", json_pack ("{s:s}", "problem", problem), true);
        if (cw_actor_commands (actor, s_unavailable_commands, problem) == 0)
            rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
    }
    tms_destroy (&tms);
    cw_actor_destroy (&actor);
    return rc;
}
