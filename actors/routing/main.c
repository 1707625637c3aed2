/*  main.c - causeway-routing: a placeholder process for the routing actor.

    Its real function (call routing: SIP registrar and proxy, cluster-wide location, peer selection) arrives with its own issue. Until then it is a
    real, supervised actor that answers routing.status
    (see ipc/cw_placeholder.h).
*/
#include <stddef.h>
#include "cw_placeholder.h"

int
main (int argc, char **argv)
{
    static const char *const status_commands [] = { "routing.status", NULL };
    return cw_placeholder_main ("routing", status_commands, argc, argv);
}
