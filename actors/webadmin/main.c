/*  main.c - causeway-webadmin: a placeholder process for the webadmin actor.

    Its real function (the HTTPS admin pages and the JSON REST API) arrives with its own issue. Until then it is a
    real, supervised actor that answers webadmin.status
    (see ipc/cw_placeholder.h).
*/
#include <stddef.h>
#include "cw_placeholder.h"

int
main (int argc, char **argv)
{
    static const char *const status_commands [] = { "webadmin.status", NULL };
    return cw_placeholder_main ("webadmin", status_commands, argc, argv);
}
