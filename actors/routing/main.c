/*  main.c - causeway-routing: the routing actor (SIP registrar and proxy).

    Connects to causewayd, sets up the SIP core (routing.h: listeners,
    checks, the loop), wires the SIP modules into it (auth.h: digest
    authentication and the registration policy; registrar.h: REGISTER and
    the cluster-wide location table; proxy.h: the proxy and the calls;
    capacity.h: the capacity figure of routing.status; zones.h and
    search.h: the zones and the search the proxy runs while the dial plan
    has search rules; findme.h: the FindMe accounts whose aliases ring
    their active location's devices),
    then runs libre's loop until $TERM or
    SIGTERM (exit 0). The modules go before the core: they hold libre
    timers and messages.
*/
#include <stdio.h>

#include "auth.h"
#include "capacity.h"
#include "dialplan_store.h"
#include "findme.h"
#include "proxy.h"
#include "registrar.h"
#include "routing.h"
#include "search.h"
#include "zones.h"

//  routing.status: the registrar's figures under "registrar"
static void
s_registrar_status (cw_routing_t *routing, json_t *status, void *arg)
{
    (void) routing;
    json_object_set_new (status, "registrar", cw_registrar_status ((cw_registrar_t *) arg));
}

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
    cw_auth_t *auth = cw_auth_new (routing, err, sizeof err);
    cw_registrar_t *registrar = auth ? cw_registrar_new (routing, auth, err, sizeof err) : NULL;
    if (!registrar) {
        cw_error ("cannot start: %s", err);
        cw_auth_destroy (&auth);
        cw_routing_destroy (&routing);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_routing_on_status (routing, s_registrar_status, registrar);
    cw_dialplan_store_t *dialplan = cw_dialplan_store_new (routing, err, sizeof err);
    cw_proxy_t *proxy = dialplan ? cw_proxy_new (routing, registrar, err, sizeof err) : NULL;
    if (!proxy) {
        cw_error ("cannot start: %s", err);
        cw_dialplan_store_destroy (&dialplan);
        cw_registrar_destroy (&registrar);
        cw_auth_destroy (&auth);
        cw_routing_destroy (&routing);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_capacity_t *capacity = cw_capacity_new (routing);
    cw_zones_t *zones = cw_zones_new (routing, err, sizeof err);
    if (!zones)
        cw_error ("zones not available: %s", err);
    //  The search needs the zones; without them the proxy routes as before
    cw_search_t *search = zones ? cw_search_new (routing, cw_dialplan_store_dialplan (dialplan), zones, err, sizeof err)
                                : NULL;
    if (zones && !search)
        cw_error ("the search is not available: %s", err);
    cw_findme_t *findme = cw_findme_new (routing);
    if (!findme)
        cw_error ("FindMe not available: out of memory");
    cw_proxy_set_findme (proxy, findme);
    if (search) {
        cw_search_set_location (search, cw_registrar_location (registrar));
        cw_search_set_findme (search, findme);
        cw_proxy_set_search (proxy, search);
    }
    int status = cw_routing_run (routing);
    cw_capacity_destroy (&capacity);
    cw_proxy_destroy (&proxy);
    cw_search_destroy (&search);
    cw_findme_destroy (&findme);
    cw_zones_destroy (&zones);
    cw_dialplan_store_destroy (&dialplan);
    cw_registrar_destroy (&registrar);
    cw_auth_destroy (&auth);
    cw_routing_destroy (&routing);
    cw_actor_destroy (&actor);
    return status;
}
