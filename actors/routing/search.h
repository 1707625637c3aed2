/*  search.h - the search of an out-of-dialog request: the transforms, the
    search rules and their targets (the local zone: the cluster's
    registrations; neighbour and DNS zones), as the proxy runs it for a
    real request and `causeway locate` runs it without placing a call.

    For a request the proxy forwards (proxy.c): the alias (the
    Request-URI's user@host) is transformed (dialplan.h), then the search
    rules' groups are tried in order: a "local" target is the location
    table (the contacts of this peer, or the peer that holds them); a zone
    target gives next hops (zones.h) tried in order with failover. No rule
    matched, or nothing found: 404 with a Warning naming the last rule
    tried (399 <peer> "no search rule matched" / "not found by rule X").

    Requests from a neighbour cluster (their source is an address of a
    neighbour zone, cw_zones_of_source) are handed to the peer of this
    cluster with the lowest load (calls in progress relative to capacity,
    from the heartbeats) that is not in maintenance mode, which searches
    them (a request handed on between peers is never handed on again).

    Loops: every request this cluster sends to a zone carries
    "X-Causeway-Search: <search id>" (made at the first peer, kept as the
    request travels); a request that comes back with an id this peer has
    seen in the last 60 s is refused 482 (Loop Detected), and Max-Forwards
    ends any other loop with 483.

    Search history: the last 1,000 searches of this peer (real ones and
    locates), each {"id", "at", "alias", "source", "transformed",
    "steps": [...], "result"}.

    Commands (declared on the routing actor):
      routing.locate {alias, source?: "any"|"registered"|"authenticated"|
                      "zone:NAME"} -> {"alias", "steps": [...], "result"}
      routing.search_history {limit?} -> {"searches": [...]} newest first
*/
#ifndef CW_SEARCH_H
#define CW_SEARCH_H

#include "dialplan.h"
#include "routing.h"
#include "zones.h"

#define CW_SEARCH_HISTORY 1000
#define CW_SEARCH_HEADER "X-Causeway-Search"

typedef struct _cw_search_t cw_search_t;

cw_search_t *cw_search_new (cw_routing_t *routing, cw_dialplan_t *dialplan, cw_zones_t *zones, char *err,
                            size_t errlen);
void cw_search_destroy (cw_search_t **self_p);

#endif
