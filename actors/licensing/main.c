/*  main.c - causeway-licensing: a placeholder process for the licensing actor.

    Its real function (option keys and the cluster-wide pool of capacity licenses) arrives with its own issue. Until then it is a
    real, supervised actor that answers licensing.status (also as license.status, the prefix the control socket relays to this actor)
    (see ipc/cw_placeholder.h).
*/
#include <stddef.h>
#include "cw_placeholder.h"

int
main (int argc, char **argv)
{
    static const char *const status_commands [] = { "licensing.status", "license.status", NULL };
    return cw_placeholder_main ("licensing", status_commands, argc, argv);
}
