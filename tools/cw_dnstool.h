/*  cw_dnstool.h - the DNS and firewall tools of the guide's reference
    chapter, for the `causeway` CLI: `dns records`, `dns check`,
    `firewall rules`.

    The CLI describes the cluster in a cw_dnstool_cluster_t (filled from
    the daemon's `cluster.status` and `config.list` replies with
    cw_dnstool_cluster_from_json, then adjusted from the bootstrap file)
    and calls one of the three tools with the FILE to print on. Each tool
    returns the exit status of the command: CW_DNSTOOL_OK (0),
    CW_DNSTOOL_PROBLEMS (1: problems found or failure; a failure's message
    goes to stderr), CW_DNSTOOL_USAGE (2: bad arguments, message on stderr).

    How a peer is named (the target of its SRV records): its `fqdn` when
    set; else its address when that is an FQDN; else the FQDN that the
    address mapping gives for its IP; else (known only by IP) a suggested
    name peerN.<domain>, which `dns records` prints with the A/AAAA record
    to publish. How a peer's IP is known: its `ip` when set; else its
    address when that is an IP; else the address mapping of its name.

    The SRV/NAPTR domain is the `domain` field when set, else the domain
    part of the cluster name (the guide: "the domain part of the cluster
    name is the domain used in the SRV records that address the cluster";
    cluster1.example.com -> example.com; a name of two labels is used as
    it is).
*/
#ifndef CW_DNSTOOL_H
#define CW_DNSTOOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define CW_DNSTOOL_OK 0
#define CW_DNSTOOL_PROBLEMS 1
#define CW_DNSTOOL_USAGE 2

#define CW_DNSTOOL_MAX_PEERS 6
#define CW_DNSTOOL_MAX_MAPPINGS 32
#define CW_DNSTOOL_NAME_MAX 256    //  an FQDN (253) and its NUL
#define CW_DNSTOOL_IP_MAX 64       //  an IPv4/IPv6 literal and its NUL
#define CW_DNSTOOL_DEFAULT_TTL 3600
#define CW_DNSTOOL_PRIORITY 10    //  the same for every peer (the guide)
#define CW_DNSTOOL_WEIGHT 10      //  the same for every peer (the guide)

typedef enum {
    CW_DNSTOOL_CORE = 0,
    CW_DNSTOOL_EDGE = 1
} cw_dnstool_node_type_t;

typedef struct {
    int index;                             //  1..6, position in cluster.peers
    char address [CW_DNSTOOL_NAME_MAX];    //  as in cluster.peers: IP or FQDN
    char fqdn [CW_DNSTOOL_NAME_MAX];       //  hostname.domain, "" = unknown
    char ip [CW_DNSTOOL_IP_MAX];           //  clustering IP, "" = unknown
} cw_dnstool_peer_t;

typedef struct {
    char fqdn [CW_DNSTOOL_NAME_MAX];
    char ip [CW_DNSTOOL_IP_MAX];
} cw_dnstool_mapping_t;

typedef struct {
    char name [CW_DNSTOOL_NAME_MAX];      //  cluster.name (FQDN)
    char domain [CW_DNSTOOL_NAME_MAX];    //  SRV/NAPTR domain, "" = from name
    cw_dnstool_node_type_t type;          //  core | edge
    int ip_version;                       //  4 | 6
    int ports [2];                        //  clustering ports (peering.port,
                                          //  peering.port2); 0 = none
    int ttl;                              //  records TTL, 0 = 3600
    int this_peer;                        //  index of this peer, 0 = unknown
                                          //  (firewall: then every peer)
    cw_dnstool_peer_t peers [CW_DNSTOOL_MAX_PEERS];
    int peer_count;
    //  The address mapping; fill it only when it is enabled
    //  (cluster.address_mapping.enabled): consulted before DNS.
    cw_dnstool_mapping_t mappings [CW_DNSTOOL_MAX_MAPPINGS];
    int mapping_count;
} cw_dnstool_cluster_t;

//  One SRV service of the guide ("_sips._tcp", 5061); edge_only = only
//  for edge clusters (_collab-edge._tls).
typedef struct {
    const char *service;
    int port;
    bool edge_only;
} cw_dnstool_service_t;

//  The SRV services in the order they are printed and checked.
const cw_dnstool_service_t *cw_dnstool_services (size_t *count);

//  Clears SELF and sets the defaults: core, IPv4, ports 4371 and 4372,
//  TTL 3600.
void cw_dnstool_cluster_init (cw_dnstool_cluster_t *self);

//  Fills SELF (after cw_dnstool_cluster_init) from a `cluster.status`
//  reply body (STATUS: name, ip_version, this_peer, address_mapping,
//  peers[].index/address/type) and a `config.list` reply body (CONFIG, may
//  be NULL: {"config": [{"key","value"}]} - dns.hostname and dns.domain
//  give this peer's FQDN; cluster.* keys are used when STATUS lacks them).
//  address_mapping may be a list of "FQDN=IP" strings or of {"fqdn","ip"}
//  objects, or an object {"enabled": bool, "mappings"|"entries": list};
//  a disabled mapping is ignored. Returns 0, or -1 with the reason in ERR.
int cw_dnstool_cluster_from_json (cw_dnstool_cluster_t *self, json_t *status, json_t *config, char *err, size_t errlen);

//  The SRV/NAPTR domain of SELF into BUF (see above).
void cw_dnstool_domain (const cw_dnstool_cluster_t *self, char *buf, size_t len);

//  `causeway dns records`: prints the SRV records of every peer (same
//  priority and weight; _collab-edge._tls for edge clusters), the NAPTR
//  records of the domain and the A/AAAA records of the peers, in zone
//  file form, on OUT. Returns 0, or 1 (message on stderr) when the
//  cluster has no name or no peers.
int cw_dnstool_records (const cw_dnstool_cluster_t *self, FILE *out);

//  `causeway dns check DOMAIN [--server IP:PORT] [--json]`: queries the
//  records of `dns records` for DOMAIN with c-ares (SERVER "IP:PORT",
//  "[IPv6]:PORT" or "IP"; NULL = the system resolvers), and the A/AAAA
//  records of every peer name, and prints one line per record (or one
//  JSON object when JSON) on OUT: ok / missing / wrong target / wrong port
//  / different priority or weight across peers / extra target / wrong
//  address. Blocks until every answer is in or timed out. Returns 0 when
//  everything is present and correct, 1 otherwise, 2 on a bad DOMAIN or
//  SERVER.
int cw_dnstool_check (const cw_dnstool_cluster_t *self, const char *domain, const char *server, bool json, FILE *out);

//  `causeway firewall rules`: prints an nftables ruleset (table inet
//  causeway_cluster) that accepts TCP to the clustering ports only from
//  the other peers' addresses (of the cluster's IP version) and drops all
//  other TCP to them. Valid `nft -f` input. Returns 0, or 1 (message on
//  stderr) when there are no clustering ports.
int cw_dnstool_firewall (const cw_dnstool_cluster_t *self, FILE *out);

#endif
