/*  zones.h - the zones a search can target besides the local zone:
    neighbour zones (another system or another cluster, by its addresses)
    and DNS zones (RFC 3263 on the alias's domain).

    Zones are cluster-wide data (namespace "routing.zones"; key = the
    zone's name, value = its JSON below), changed on the primary, validated
    on write, kept in memory on every peer and kept current by the EVENTs
    data.changed.routing.zones. "local" is reserved (the local zone: the
    cluster's registrations).

    A neighbour zone: {"name", "type": "neighbour", "addresses": ["IP" or
    "IP:PORT" or "host:port", ...] (tried in this order), "transport":
    "udp" | "tcp" | "tls", "port" (default 5060, 5061 for tls),
    "keepalive_s" (OPTIONS every N s, 5..3600, default 30)}. Every peer
    sends OPTIONS to each address (libre's SIP client) and keeps per
    address "active" / "failed" (no answer within 5 s, or a transport
    error); the zone is "active" while one address is, else "failed" and
    alarm 40010 (subject: the zone's name) is raised until one answers.
    A request to the zone tries the active addresses in order: the next on
    503, 408 or a transport error (failover), the answer of the last
    otherwise.

    A DNS zone: {"name", "type": "dns", "transport": preferred transport
    or "any"}. The alias's domain (the part after '@', or the whole alias
    when it is a host) is resolved with c-ares, driven from the routing
    actor's loop: NAPTR (SIP+D2U/D2T/D2S) -> SRV (priority ascending,
    weight-random within a priority, RFC 2782) -> A/AAAA, with a cache kept
    for each record's TTL (at least 1 s, at most 1 h); a domain without
    NAPTR/SRV uses A/AAAA on port 5060. A request to the zone tries the
    targets in that order with the same failover. The DNS servers are the
    key dns.servers (an IP or IP:PORT each), else /etc/resolv.conf.

    Commands (declared on the routing actor):
      zones.add {zone}  zones.remove {name}  zones.list {}
      zones.status {}  -> {"zones": [{"name", "type", "state",
                          "addresses": [{"address", "state", "last_ok",
                          "error"}]}]} (this peer's view)
*/
#ifndef CW_ZONES_H
#define CW_ZONES_H

#include "routing.h"

#define CW_ZONES_TARGETS_MAX 16

typedef struct _cw_zones_t cw_zones_t;

//  Declare the zones.* commands on ROUTING, start loading the zones and
//  their keep-alives. NULL with the reason in ERR.
cw_zones_t *cw_zones_new (cw_routing_t *routing, char *err, size_t errlen);
void cw_zones_destroy (cw_zones_t **self_p);

//  Check ZONE (borrowed); a normalized copy in *NORMALIZED. -1 with
//  "<field>: <what is allowed>" in ERR. (Pure: no actor.)
int cw_zones_check (json_t *zone, json_t **normalized, char *err, size_t errlen);

//  A neighbour address (IP, IP:PORT, [IPv6]:PORT or host:port) into HOST
//  and *PORT (0 when none). -1 when it is none of these. (Pure.)
int cw_zones_address_parse (const char *text, char *host, size_t hostlen, uint16_t *port);

//  Whether zone NAME exists (not "local")
bool cw_zones_exists (cw_zones_t *self, const char *name);
//  The neighbour zone whose addresses include SOURCE (the IP of a
//  request's sender), or NULL: a request from another cluster
const char *cw_zones_of_source (cw_zones_t *self, const struct sa *source);

//  One next hop of a zone
typedef struct {
    struct sa addr;
    enum sip_transp transport;
    char host [256];    //  the name it was found under (SRV target), for the Request-URI/TLS
} cw_zone_target_t;

//  The next hops for ALIAS in zone NAME, in the order to try them (only
//  the active addresses of a neighbour zone; a DNS zone resolves the
//  alias's domain, from the cache or asynchronously). FN is called once,
//  possibly before this returns: ERR NULL with COUNT targets, or ERR the
//  reason (unknown zone, zone failed, no DNS record, DNS error). STEPS
//  (may be NULL) gets {"step": "zone", "zone", "type", "query", "result"}
//  entries (the DNS queries made and their answers).
typedef void (cw_zones_targets_fn) (const cw_zone_target_t *targets, size_t count, const char *err, void *arg);
void cw_zones_targets (cw_zones_t *self, const char *name, const char *alias, cw_zones_targets_fn *fn, void *arg,
                       json_t *steps);
//  Never call FN for ARG again (its caller is going away): pending DNS
//  answers for it are dropped.
void cw_zones_cancel (cw_zones_t *self, void *arg);

#endif
