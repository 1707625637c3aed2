/*  resolve.h - how a peer's configured address becomes IP addresses, the
    one way the links, their accept filter and the one-shot dial find a
    peer: an IP literal is itself; else the cluster address mapping, if it
    lists the name; else DNS (getaddrinfo, blocking).

    Names compare case-insensitively with a trailing dot ignored, in the
    mapping as everywhere a peer's address is compared.
*/
#ifndef CW_RESOLVE_H
#define CW_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>

#define CW_RESOLVE_MAX_IPS 8
#define CW_RESOLVE_IP_MAX 64

//  One FQDN -> IP pair of the address mapping (the strings are borrowed).
typedef struct {
    const char *fqdn;
    const char *ip;
} cw_address_mapping_t;

//  The answer for one address.
typedef struct {
    char ips [CW_RESOLVE_MAX_IPS][CW_RESOLVE_IP_MAX];    //  normalised, no duplicates
    int count;                                           //  0 = does not resolve
    bool dns;                                            //  asked DNS (the answer ages; refresh it)
    char via [512];                                      //  "IP literal" | "address mapping" | "DNS" | why not
} cw_resolution_t;

//  Resolve ADDRESS with MAPPING (COUNT entries, may be NULL when 0; an
//  entry without an FQDN is skipped) and, failing that, DNS for
//  IP_VERSION (4, 6, or 0 = either). Returns 0 with
//  *OUT filled, or -1 with OUT->count 0 and the reason in OUT->via, e.g.
//  "peer1.example.com does not resolve (no address mapping, DNS: Name or
//  service not known)" or "address mapping of x has an invalid IP 'y'".
int cw_resolve (const char *address, const cw_address_mapping_t *mapping, size_t count, int ip_version,
                cw_resolution_t *out);

//  True when IP (normalised) is one of RES's addresses.
bool cw_resolution_has (const cw_resolution_t *res, const char *ip);

//  Host names equal, case-insensitively, ignoring one trailing dot.
bool cw_name_equal (const char *a, const char *b);

//  A deep copy of MAPPING (COUNT entries; every string must be set) in one
//  allocation, owned by the caller (free ()); NULL when COUNT is 0 or
//  memory runs out.
cw_address_mapping_t *cw_mapping_copy (const cw_address_mapping_t *mapping, size_t count);

#endif
