/*  main.c - causeway-tms: a placeholder process for the tms actor.

    Its real function (the external manager (TMS-like provisioning): provisioning data, alternatesconfiguration.xml, force refresh) arrives with its own issue. Until then it is a
    real, supervised actor that answers tms.status
    (see ipc/cw_placeholder.h).
*/
#include <stddef.h>
#include "cw_placeholder.h"

int
main (int argc, char **argv)
{
    static const char *const status_commands [] = { "tms.status", NULL };
    return cw_placeholder_main ("tms", status_commands, argc, argv);
}
