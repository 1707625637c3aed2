/*  main.c - causeway-routing: the routing actor (SIP registrar and proxy).

    Connects to causewayd, sets up the SIP core (routing.h: listeners,
    checks, the loop), wires the SIP modules into it, then runs libre's
    loop until $TERM or SIGTERM (exit 0).
*/
#include <stdio.h>
#include "routing.h"

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("routing", argc, argv);
    if (!actor)
        return 1;
    char err [512];
    cw_routing_t *routing = cw_routing_new (actor, err, sizeof err);
    if (!routing) {
        cw_error ("cannot start: %s", err);
        cw_actor_destroy (&actor);
        return 1;
    }
    int status = cw_routing_run (routing);
    cw_routing_destroy (&routing);
    cw_actor_destroy (&actor);
    return status;
}
