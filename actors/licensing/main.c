/*  main.c - causeway-licensing: the licensing actor process.

    Thin: connect through the actor runtime, open the licensing state
    (licensing.h: <state_dir>/licensing.db and the lease table under
    runtime_dir), declare its commands, signal READY and run the loop.
*/
#include "cw_actor.h"
#include "licensing.h"

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("licensing", argc, argv);
    if (!actor)
        return 1;
    char err [1024];
    cw_licensing_t *licensing = cw_licensing_new (actor, err, sizeof err);
    if (!licensing) {
        cw_error ("cannot start: %s", err);
        cw_actor_publish (actor, "actor.problem.licensing", json_pack ("{s:s}", "problem", err), true);
        cw_actor_destroy (&actor);
        return 1;
    }
    int rc = cw_actor_ready (actor) == 0 ? cw_actor_run (actor) : 1;
    cw_licensing_destroy (&licensing);
    cw_actor_destroy (&actor);
    return rc;
}
