/*  resolve.c - a peer's configured address to IP addresses (see
    resolve.h): IP literal, else the address mapping, else DNS.
*/
#include "resolve.h"
#include "netaddr.h"
#include "cw_text.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

bool
cw_name_equal (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la && a [la - 1] == '.')
        la--;
    if (lb && b [lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

bool
cw_resolution_has (const cw_resolution_t *res, const char *ip)
{
    for (int i = 0; i < res->count; i++)
        if (strcmp (res->ips [i], ip) == 0)
            return true;
    return false;
}

static int
s_resolve_dns (const char *address, int ip_version, cw_resolution_t *out)
{
    out->dns = true;
    struct addrinfo hints, *res = NULL;
    memset (&hints, 0, sizeof (hints));
    hints.ai_family = ip_version == 4 ? AF_INET : ip_version == 6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo (address, NULL, &hints, &res);
    if (rc != 0) {
        snprintf (out->via, sizeof (out->via), "%s does not resolve (no address mapping, DNS: %s)", address,
                  gai_strerror (rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && out->count < CW_RESOLVE_MAX_IPS; ai = ai->ai_next) {
        char ip [CW_RESOLVE_IP_MAX];
        cw_sockaddr_ip ((struct sockaddr_storage *) ai->ai_addr, ip, sizeof (ip), NULL);
        if (*ip && !cw_resolution_has (out, ip))
            cw_copy (out->ips [out->count++], CW_RESOLVE_IP_MAX, ip);
    }
    freeaddrinfo (res);
    if (out->count == 0) {
        snprintf (out->via, sizeof (out->via), "%s does not resolve (no address mapping, DNS: no address)", address);
        return -1;
    }
    cw_copy (out->via, sizeof (out->via), "DNS");
    return 0;
}

int
cw_resolve (const char *address, const cw_address_mapping_t *mapping, size_t count, int ip_version,
            cw_resolution_t *out)
{
    memset (out, 0, sizeof (*out));
    if (!address)
        address = "";
    if (cw_ip_normalize (address, out->ips [0], CW_RESOLVE_IP_MAX)) {
        out->count = 1;
        cw_copy (out->via, sizeof (out->via), "IP literal");
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        if (mapping [i].fqdn && cw_name_equal (mapping [i].fqdn, address)) {
            if (!cw_ip_normalize (mapping [i].ip, out->ips [0], CW_RESOLVE_IP_MAX)) {
                snprintf (out->via, sizeof (out->via), "address mapping of %s has an invalid IP '%s'", address,
                          mapping [i].ip ? mapping [i].ip : "");
                return -1;
            }
            out->count = 1;
            cw_copy (out->via, sizeof (out->via), "address mapping");
            return 0;
        }
    }
    return s_resolve_dns (address, ip_version, out);
}

cw_address_mapping_t *
cw_mapping_copy (const cw_address_mapping_t *mapping, size_t count)
{
    if (count == 0)
        return NULL;
    size_t size = count * sizeof (cw_address_mapping_t);
    for (size_t i = 0; i < count; i++)
        size += strlen (mapping [i].fqdn) + strlen (mapping [i].ip) + 2;
    cw_address_mapping_t *copy = malloc (size);
    if (!copy)
        return NULL;
    char *text = (char *) (copy + count);
    for (size_t i = 0; i < count; i++) {
        size_t lf = strlen (mapping [i].fqdn) + 1, li = strlen (mapping [i].ip) + 1;
        copy [i].fqdn = memcpy (text, mapping [i].fqdn, lf);
        copy [i].ip = memcpy (text + lf, mapping [i].ip, li);
        text += lf + li;
    }
    return copy;
}
