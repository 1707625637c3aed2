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

// ---------------------------------------------------------------------------
//  The search of a real request, as the proxy runs it

typedef struct _cw_location_t cw_location_t;

#define CW_SEARCH_ROUTES_MAX 8
#define CW_SEARCH_ID_MAX 48
#define CW_SEARCH_ZONE_MAX 64

//  One place the search found the alias in
typedef struct {
    bool local;                                      //  the location table (ALIAS is the AOR, "sip:user@host")
    int peer;                                        //  > 0: hand the request to this peer of the cluster (it searches)
    char zone [CW_SEARCH_ZONE_MAX];                  //  the zone, when neither
    char alias [CW_DIALPLAN_ALIAS_MAX];              //  the alias to reach there (user@host)
    cw_zone_target_t hops [CW_ZONES_TARGETS_MAX];    //  a zone's next hops, in the order to try them
    size_t hop_count;
} cw_search_route_t;

//  What the search decided: SCODE 0 forward to ROUTES (searched in
//  parallel), else answer SCODE/REASON with the WARNING text (may be "").
//  HEADER is the X-Causeway-Search value for the requests it sends.
typedef struct {
    uint16_t scode;
    char reason [48];
    char warning [320];
    char header [CW_SEARCH_ID_MAX + CW_SEARCH_ZONE_MAX + 16];
    cw_search_route_t routes [CW_SEARCH_ROUTES_MAX];
    size_t count;
} cw_search_result_t;

//  The search of a request is done. RESULT is borrowed for the call.
typedef void (cw_search_done_fn) (const cw_search_result_t *result, void *arg);

//  Where the local zone's lookups go (the registrar's table, borrowed)
void cw_search_set_location (cw_search_t *self, cw_location_t *location);

//  Where FindMe aliases are looked up (findme.h, borrowed; NULL = none):
//  after the transforms and before the search rules, an alias that is a
//  FindMe alias ends the walk with a "findme" step listing the devices of
//  the account's active location: the result is one local route per
//  registered device (its AOR as the alias), or 404 / 480 with the
//  account's Warning.
typedef struct _cw_findme_t cw_findme_t;
void cw_search_set_findme (cw_search_t *self, cw_findme_t *findme);

//  Whether the proxy searches at all: false while the dial plan has no
//  search rule (then the proxy routes as it always did: its domains and
//  the location table).
bool cw_search_enabled (cw_search_t *self);

//  Whether MSG (an out-of-dialog request) is for the search: there are
//  search rules, and it did not come from another peer of this cluster
//  (FROM_PEER) unless that peer handed it on from a neighbour zone (then
//  it carries "X-Causeway-Search: ID;handoff=ZONE"). A request from a
//  peer that is not searched is routed on its Request-URI as before.
//  cw_search_request searches it: FN is called once, possibly before this
//  returns, unless cw_search_cancel (ARG). False when it is not for the
//  search (FN not called).
bool cw_search_wants (cw_search_t *self, const struct sip_msg *msg, bool from_peer);
bool cw_search_request (cw_search_t *self, const struct sip_msg *msg, bool from_peer, cw_search_done_fn *fn, void *arg);
void cw_search_cancel (cw_search_t *self, void *arg);

//  The peer with the lowest load not in maintenance (this peer when none
//  else fits), of LOADS/MAINTENANCE indexed 1..COUNT; THIS_PEER is ours.
//  (Pure.)
int cw_search_least_loaded (const double *loads, const bool *maintenance, const bool *alive, int count, int this_peer);

#endif
