/*  zones_dns.h - the DNS side of the zones: RFC 3263 resolution of an
    alias's domain (NAPTR -> SRV -> A/AAAA) with c-ares driven from the
    routing actor's libre loop (its sockets watched with fd_listen, its
    timeouts handled on the core's tick; no thread), and a cache of every
    answer for its TTL (1 s .. 1 h). The servers are the configuration key
    dns.servers (IP or IP:PORT each), else those of /etc/resolv.conf.

    The pure parts (the answer parser, the RFC 2782 order of SRV records,
    the choice of NAPTR records, the TTL rules) need no loop: the unit
    tests call them.
*/
#ifndef CW_ZONES_DNS_H
#define CW_ZONES_DNS_H

#include "zones.h"

#define CW_DNS_NAME_MAX 256
#define CW_DNS_RECORDS_MAX 16
#define CW_DNS_TTL_MIN_S 1
#define CW_DNS_TTL_MAX_S 3600

#define CW_DNS_A 1
#define CW_DNS_SRV 33
#define CW_DNS_NAPTR 35
#define CW_DNS_AAAA 28

//  One answer record (the fields of its type)
typedef struct {
    uint16_t type;
    uint32_t ttl;
    uint16_t order, preference;    //  NAPTR
    char flags [16];
    char service [64];
    char replacement [CW_DNS_NAME_MAX];
    uint16_t priority, weight, port;    //  SRV
    char target [CW_DNS_NAME_MAX];
    struct sa addr;    //  A / AAAA (port 0)
} cw_dns_rr_t;

// ---------------------------------------------------------------------------
//  Pure parts

//  The records of TYPE in the DNS answer ABUF (ALEN bytes) into OUT (at
//  most MAX). *TTL gets the smallest TTL of those records, or for an
//  answer without them the TTL of the authority's SOA (0 when none).
//  Returns how many, or -1 when the answer cannot be read.
int cw_zones_dns_parse (const unsigned char *abuf, int alen, uint16_t type, cw_dns_rr_t *out, size_t max,
                        uint32_t *ttl);

//  A TTL as cached: at least CW_DNS_TTL_MIN_S, at most CW_DNS_TTL_MAX_S.
uint32_t cw_zones_dns_ttl (uint32_t ttl);
//  Whether an answer stored at STORED_MS with TTL_S (already clamped) is
//  still fresh at NOW_MS.
bool cw_zones_dns_fresh (int64_t stored_ms, uint32_t ttl_s, int64_t now_ms);

//  SRV records in the order to try them (RFC 2782): priority ascending;
//  within a priority, weighted random selection (RANDOM returns a number
//  0..2^32-1 each time it is called with RNG). A weight 0 record is picked
//  with a small chance when others have weight.
typedef uint32_t (cw_dns_random_fn) (void *rng);
void cw_zones_dns_srv_order (cw_dns_rr_t *srv, size_t count, cw_dns_random_fn *random, void *rng);

//  The SIP NAPTR records of NAPTR (COUNT) in the order to use them: flag
//  "s", service SIP+D2U / SIP+D2T / SIP+D2S (a TRANSPORT other than "any"
//  keeps only its own), by order then preference. Their indexes into
//  PICKED (at most MAX); returns how many.
size_t cw_zones_dns_naptr_select (const cw_dns_rr_t *naptr, size_t count, const char *transport, size_t *picked,
                                  size_t max);
//  The transport of a SIP NAPTR service ("SIP+D2T" -> "tcp"), or NULL.
const char *cw_zones_dns_naptr_transport (const char *service);

//  The domain to resolve for ALIAS: the part after '@' (without a port or
//  parameters), or ALIAS itself. -1 when there is none.
int cw_zones_dns_domain (const char *alias, char *domain, size_t domainlen);

// ---------------------------------------------------------------------------
//  The resolver (in the routing actor)

typedef struct _cw_zones_dns_t cw_zones_dns_t;

cw_zones_dns_t *cw_zones_dns_new (cw_routing_t *routing, char *err, size_t errlen);
void cw_zones_dns_destroy (cw_zones_dns_t **self_p);

//  The targets of ALIAS by RFC 3263 for zone ZONE (its TRANSPORT: udp,
//  tcp, tls or any), as cw_zones_targets says (FN called once, maybe at
//  once; STEPS must live until then or until cw_zones_dns_cancel (ARG)).
void cw_zones_dns_targets (cw_zones_dns_t *self, const char *zone, const char *transport, const char *alias,
                           cw_zones_targets_fn *fn, void *arg, json_t *steps);
void cw_zones_dns_cancel (cw_zones_dns_t *self, void *arg);

//  The address of HOST (A, else AAAA) with PORT into ADDR: 0 when known
//  (from the cache), 1 when asked (try again later), -1 with WHY.
int cw_zones_dns_host (cw_zones_dns_t *self, const char *host, uint16_t port, struct sa *addr, char *why,
                       size_t whylen);

//  The servers in use, as a JSON array of "IP:PORT" (new reference).
json_t *cw_zones_dns_servers (cw_zones_dns_t *self);

#endif
