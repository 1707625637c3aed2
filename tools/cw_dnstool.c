/*  cw_dnstool.c - `causeway dns records`, `dns check`, `firewall rules`.

    The three tools of the guide's reference chapter, as functions of a
    cluster description (cw_dnstool.h) and an output FILE, returning the
    command's exit status.

    records   prints, in zone-file form, the SRV records of the guide
              (_sips._tcp 5061, _sip._tcp 5060, _sip._udp 5060,
              _h323ls._udp 1719, _h323cs._tcp 1720, _h323rs._udp 1719, and
              _collab-edge._tls 8443 for edge clusters) with every peer as
              a target with the same priority and weight, the NAPTR
              records of the domain (SIPS+D2T, SIP+D2T, SIP+D2U), and an
              A/AAAA record per peer.
    check     asks a DNS server for the same records with c-ares (all
              queries in flight at once, driven by select() until every
              answer is in or timed out; a second round resolves SRV
              targets that may be peers known only by IP), compares with
              what `records` would print and collects one finding per
              record or problem, printed as lines or as one JSON object.
    firewall  prints an nftables table `inet causeway_cluster` with a set
              of the other peers' addresses and an input chain that
              accepts TCP to the clustering ports from the set and drops
              all other TCP to them.

    Input comes from the daemon's replies: every name and address is
    validated before it is printed into a zone file or a ruleset.
*/

#include "cw_dnstool.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/select.h>

//  ---------------------------------------------------------------------
//  Names, addresses, peers

static const cw_dnstool_service_t s_services [] = {
    { "_sips._tcp", 5061, false },       { "_sip._tcp", 5060, false },    { "_sip._udp", 5060, false },
    { "_h323ls._udp", 1719, false },     { "_h323cs._tcp", 1720, false }, { "_h323rs._udp", 1719, false },
    { "_collab-edge._tls", 8443, true },
};
#define S_SERVICE_COUNT (sizeof (s_services) / sizeof (s_services [0]))

//  The NAPTR records of the guide: SIP over TLS first, then TCP, then UDP
typedef struct {
    int order;
    int preference;
    const char *service;
    const char *srv;    //  the SRV name (without the domain) it points at
} s_naptr_t;

static const s_naptr_t s_naptrs [] = {
    { 10, 100, "SIPS+D2T", "_sips._tcp" },
    { 12, 100, "SIP+D2T", "_sip._tcp" },
    { 14, 100, "SIP+D2U", "_sip._udp" },
};
#define S_NAPTR_COUNT (sizeof (s_naptrs) / sizeof (s_naptrs [0]))

const cw_dnstool_service_t *
cw_dnstool_services (size_t *count)
{
    if (count)
        *count = S_SERVICE_COUNT;
    return s_services;
}

static void
s_copy (char *dest, size_t len, const char *src)
{
    if (!len)
        return;
    size_t n = src ? strlen (src) : 0;
    if (n > len - 1)
        n = len - 1;
    if (n)
        memcpy (dest, src, n);
    dest [n] = 0;
}

//  Returns AF_INET or AF_INET6 when TEXT is an IP literal, writing its
//  canonical form into CANON (may be NULL); 0 otherwise.
static int
s_ip_family (const char *text, char *canon, size_t len)
{
    unsigned char bin [sizeof (struct in6_addr)];
    if (!text || !*text)
        return 0;
    if (inet_pton (AF_INET, text, bin) == 1) {
        if (canon)
            inet_ntop (AF_INET, bin, canon, (socklen_t) len);
        return AF_INET;
    }
    if (inet_pton (AF_INET6, text, bin) == 1) {
        if (canon)
            inet_ntop (AF_INET6, bin, canon, (socklen_t) len);
        return AF_INET6;
    }
    return 0;
}

//  A DNS name: 1..253 characters without the trailing dot, labels of
//  1..63 letters, digits, '-' or '_', not an IP literal.
static bool
s_valid_name (const char *text)
{
    if (!text || !*text || s_ip_family (text, NULL, 0))
        return false;
    size_t len = strlen (text);
    if (text [len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        }
        else if (isalnum (c) || c == '-' || c == '_') {
            if (++label > 63)
                return false;
        }
        else
            return false;
    }
    return label > 0;
}

//  Copies a name without its trailing dot, lower case
static void
s_name_copy (char *dest, size_t len, const char *src)
{
    s_copy (dest, len, src);
    size_t n = strlen (dest);
    if (n && dest [n - 1] == '.')
        dest [n - 1] = 0;
    for (char *c = dest; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
}

//  Two names equal, ignoring case and a trailing dot
static bool
s_name_eq (const char *a, const char *b)
{
    char x [CW_DNSTOOL_NAME_MAX], y [CW_DNSTOOL_NAME_MAX];
    s_name_copy (x, sizeof (x), a);
    s_name_copy (y, sizeof (y), b);
    return *x && strcmp (x, y) == 0;
}

//  Two IP literals equal (canonical forms)
static bool
s_ip_eq (const char *a, const char *b)
{
    char x [CW_DNSTOOL_IP_MAX], y [CW_DNSTOOL_IP_MAX];
    return s_ip_family (a, x, sizeof (x)) && s_ip_family (b, y, sizeof (y)) && strcmp (x, y) == 0;
}

void
cw_dnstool_domain (const cw_dnstool_cluster_t *self, char *buf, size_t len)
{
    if (!buf || !len)
        return;
    *buf = 0;
    if (!self)
        return;
    if (*self->domain) {
        s_name_copy (buf, len, self->domain);
        return;
    }
    char name [CW_DNSTOOL_NAME_MAX];
    s_name_copy (name, sizeof (name), self->name);
    const char *dot = strchr (name, '.');
    if (dot && strchr (dot + 1, '.'))
        s_copy (buf, len, dot + 1);    //  cluster1.example.com -> example.com
    else
        s_copy (buf, len, name);    //  example.com stays
}

//  What the tools know of one peer
typedef struct {
    int index;
    char name [CW_DNSTOOL_NAME_MAX];    //  SRV target (lower case, no dot)
    bool suggested;                     //  name is our suggestion: peer known only by IP
    char ip [CW_DNSTOOL_IP_MAX];        //  canonical, "" = unknown
    int family;                         //  of ip, 0 = unknown
} s_peer_t;

static const char *
s_mapping_ip (const cw_dnstool_cluster_t *self, const char *name)
{
    for (int i = 0; i < self->mapping_count && i < CW_DNSTOOL_MAX_MAPPINGS; i++)
        if (s_name_eq (self->mappings [i].fqdn, name) && s_ip_family (self->mappings [i].ip, NULL, 0))
            return self->mappings [i].ip;
    return NULL;
}

static const char *
s_mapping_name (const cw_dnstool_cluster_t *self, const char *ip)
{
    for (int i = 0; i < self->mapping_count && i < CW_DNSTOOL_MAX_MAPPINGS; i++)
        if (s_ip_eq (self->mappings [i].ip, ip) && s_valid_name (self->mappings [i].fqdn))
            return self->mappings [i].fqdn;
    return NULL;
}

//  Resolves what we know of peer I (see the header for the rules).
static void
s_peer_resolve (const cw_dnstool_cluster_t *self, int i, const char *domain, s_peer_t *peer)
{
    const cw_dnstool_peer_t *source = &self->peers [i];
    memset (peer, 0, sizeof (*peer));
    peer->index = source->index > 0 ? source->index : i + 1;

    //  IP: explicit, the address itself, the mapping of fqdn or address
    const char *ip = NULL;
    if (s_ip_family (source->ip, NULL, 0))
        ip = source->ip;
    else if (s_ip_family (source->address, NULL, 0))
        ip = source->address;
    else if (*source->fqdn && s_mapping_ip (self, source->fqdn))
        ip = s_mapping_ip (self, source->fqdn);
    else if (s_mapping_ip (self, source->address))
        ip = s_mapping_ip (self, source->address);
    if (ip)
        peer->family = s_ip_family (ip, peer->ip, sizeof (peer->ip));

    //  Name: explicit, the address, the mapping of the IP, else suggested
    const char *name = NULL;
    if (s_valid_name (source->fqdn))
        name = source->fqdn;
    else if (s_valid_name (source->address))
        name = source->address;
    else if (*peer->ip && s_mapping_name (self, peer->ip))
        name = s_mapping_name (self, peer->ip);
    if (name)
        s_name_copy (peer->name, sizeof (peer->name), name);
    else {
        snprintf (peer->name, sizeof (peer->name), "peer%d.%s", peer->index, domain);
        peer->suggested = true;
    }
}

//  Validates what every tool needs; message on stderr.
static int
s_check_cluster (const cw_dnstool_cluster_t *self, const char *tool, bool need_name)
{
    if (!self) {
        fprintf (stderr, "%s: no cluster description\n", tool);
        return -1;
    }
    if (self->peer_count < 1 || self->peer_count > CW_DNSTOOL_MAX_PEERS) {
        fprintf (stderr, "%s: the cluster has no peers (set cluster.peers)\n", tool);
        return -1;
    }
    for (int i = 0; i < self->peer_count; i++) {
        const cw_dnstool_peer_t *peer = &self->peers [i];
        if (!s_ip_family (peer->address, NULL, 0) && !s_valid_name (peer->address)) {
            fprintf (stderr,
                     "%s: the address of peer %d is neither an IP address nor an FQDN"
                     " (check cluster.peers)\n",
                     tool, peer->index > 0 ? peer->index : i + 1);
            return -1;
        }
    }
    if (need_name && !s_valid_name (self->name)) {
        fprintf (stderr,
                 "%s: the cluster name is not configured or not an FQDN"
                 " (set cluster.name, e.g. cluster1.example.com)\n",
                 tool);
        return -1;
    }
    return 0;
}

static int
s_ttl (const cw_dnstool_cluster_t *self)
{
    return self->ttl > 0 ? self->ttl : CW_DNSTOOL_DEFAULT_TTL;
}

//  ---------------------------------------------------------------------
//  Cluster description from the daemon's replies

void
cw_dnstool_cluster_init (cw_dnstool_cluster_t *self)
{
    if (!self)
        return;
    memset (self, 0, sizeof (*self));
    self->type = CW_DNSTOOL_CORE;
    self->ip_version = 4;
    self->ports [0] = 4371;
    self->ports [1] = 4372;
    self->ttl = CW_DNSTOOL_DEFAULT_TTL;
}

static void
s_err (char *err, size_t errlen, const char *format, ...)
{
    if (!err || !errlen)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (err, errlen, format, args);
    va_end (args);
}

//  The value of KEY in a config.list body, or NULL
static json_t *
s_config_value (json_t *config, const char *key)
{
    json_t *list = json_is_object (config) ? json_object_get (config, "config") : NULL;
    size_t i;
    json_t *entry;
    json_array_foreach (list, i, entry) {
        const char *name = json_string_value (json_object_get (entry, "key"));
        if (name && strcmp (name, key) == 0)
            return json_object_get (entry, "value");
    }
    return NULL;
}

//  An integer given as a JSON integer or a string of digits; -1 otherwise
static int
s_json_int (json_t *value)
{
    if (json_is_integer (value))
        return (int) json_integer_value (value);
    const char *text = json_string_value (value);
    if (text && *text && strspn (text, "0123456789") == strlen (text) && strlen (text) < 9)
        return atoi (text);
    return -1;
}

static bool
s_json_on (json_t *value)
{
    if (json_is_boolean (value))
        return json_is_true (value);
    const char *text = json_string_value (value);
    return text
        && (strcasecmp (text, "on") == 0 || strcasecmp (text, "true") == 0 || strcasecmp (text, "yes") == 0
            || strcmp (text, "1") == 0);
}

static void
s_add_mapping (cw_dnstool_cluster_t *self, const char *fqdn, const char *ip)
{
    if (!fqdn || !ip || self->mapping_count >= CW_DNSTOOL_MAX_MAPPINGS)
        return;
    if (!s_valid_name (fqdn) || !s_ip_family (ip, NULL, 0))
        return;
    cw_dnstool_mapping_t *mapping = &self->mappings [self->mapping_count++];
    s_copy (mapping->fqdn, sizeof (mapping->fqdn), fqdn);
    s_copy (mapping->ip, sizeof (mapping->ip), ip);
}

//  A list of "FQDN=IP" strings or {"fqdn","ip"} objects, or an object
//  fqdn -> ip
static void
s_add_mappings (cw_dnstool_cluster_t *self, json_t *list)
{
    size_t i;
    json_t *item;
    if (json_is_object (list)) {
        const char *key;
        json_object_foreach (list, key, item)
            s_add_mapping (self, key, json_string_value (item));
        return;
    }
    json_array_foreach (list, i, item) {
        if (json_is_string (item)) {
            char text [CW_DNSTOOL_NAME_MAX + CW_DNSTOOL_IP_MAX];
            s_copy (text, sizeof (text), json_string_value (item));
            char *equals = strchr (text, '=');
            if (equals) {
                *equals = 0;
                s_add_mapping (self, text, equals + 1);
            }
        }
        else if (json_is_object (item)) {
            json_t *fqdn = json_object_get (item, "fqdn");
            if (!fqdn)
                fqdn = json_object_get (item, "name");
            json_t *ip = json_object_get (item, "ip");
            if (!ip)
                ip = json_object_get (item, "address");
            s_add_mapping (self, json_string_value (fqdn), json_string_value (ip));
        }
    }
}

static void
s_add_address_mapping (cw_dnstool_cluster_t *self, json_t *mapping, json_t *enabled)
{
    if (json_is_object (mapping)
        && (json_object_get (mapping, "enabled") || json_object_get (mapping, "mappings")
            || json_object_get (mapping, "entries"))) {
        json_t *flag = json_object_get (mapping, "enabled");
        if (flag && !s_json_on (flag))
            return;
        json_t *list = json_object_get (mapping, "mappings");
        if (!list)
            list = json_object_get (mapping, "entries");
        s_add_mappings (self, list);
        return;
    }
    if (enabled && !s_json_on (enabled))
        return;
    s_add_mappings (self, mapping);
}

int
cw_dnstool_cluster_from_json (cw_dnstool_cluster_t *self, json_t *status, json_t *config, char *err, size_t errlen)
{
    if (!self) {
        s_err (err, errlen, "no cluster description");
        return -1;
    }
    if (status && !json_is_object (status)) {
        s_err (err, errlen, "cluster.status reply is not a JSON object");
        return -1;
    }
    if (config && !json_is_object (config)) {
        s_err (err, errlen, "config.list reply is not a JSON object");
        return -1;
    }
    //  Name, IP version, this peer
    json_t *value = json_object_get (status, "name");
    if (!json_is_string (value))
        value = s_config_value (config, "cluster.name");
    if (json_is_string (value))
        s_copy (self->name, sizeof (self->name), json_string_value (value));
    value = json_object_get (status, "ip_version");
    if (s_json_int (value) < 0)
        value = s_config_value (config, "cluster.ip_version");
    int version = s_json_int (value);
    if (version == 4 || version == 6)
        self->ip_version = version;
    int this_peer = s_json_int (json_object_get (status, "this_peer"));
    self->this_peer = this_peer > 0 && this_peer <= CW_DNSTOOL_MAX_PEERS ? this_peer : 0;

    //  Peers: cluster.status peers[], else the cluster.peers list
    self->peer_count = 0;
    json_t *peers = json_object_get (status, "peers");
    size_t i;
    json_t *item;
    if (json_is_array (peers) && json_array_size (peers) > 0) {
        json_array_foreach (peers, i, item) {
            const char *address = json_string_value (json_object_get (item, "address"));
            if (!address || !*address || self->peer_count >= CW_DNSTOOL_MAX_PEERS)
                continue;
            cw_dnstool_peer_t *peer = &self->peers [self->peer_count++];
            memset (peer, 0, sizeof (*peer));
            int index = s_json_int (json_object_get (item, "index"));
            peer->index = index > 0 ? index : self->peer_count;
            s_copy (peer->address, sizeof (peer->address), address);
            const char *type = json_string_value (json_object_get (item, "type"));
            if (type && peer->index == self->this_peer)
                self->type = strcasecmp (type, "edge") == 0 ? CW_DNSTOOL_EDGE : CW_DNSTOOL_CORE;
        }
    }
    else {
        json_t *list = s_config_value (config, "cluster.peers");
        json_array_foreach (list, i, item) {
            const char *address = json_string_value (item);
            if (!address || !*address || self->peer_count >= CW_DNSTOOL_MAX_PEERS)
                continue;
            cw_dnstool_peer_t *peer = &self->peers [self->peer_count++];
            memset (peer, 0, sizeof (*peer));
            peer->index = (int) i + 1;
            s_copy (peer->address, sizeof (peer->address), address);
        }
    }
    //  Address mapping (only when enabled)
    self->mapping_count = 0;
    value = json_object_get (status, "address_mapping");
    if (value)
        s_add_address_mapping (self, value, NULL);
    else
        s_add_address_mapping (self, s_config_value (config, "cluster.address_mapping"),
                               s_config_value (config, "cluster.address_mapping.enabled"));

    //  This peer's FQDN: dns.hostname + dns.domain
    const char *hostname = json_string_value (s_config_value (config, "dns.hostname"));
    const char *domain = json_string_value (s_config_value (config, "dns.domain"));
    if (self->this_peer && hostname && *hostname && domain && *domain) {
        char fqdn [CW_DNSTOOL_NAME_MAX];
        snprintf (fqdn, sizeof (fqdn), "%.63s.%.180s", hostname, domain);
        for (int p = 0; p < self->peer_count; p++)
            if (self->peers [p].index == self->this_peer && s_valid_name (fqdn))
                s_copy (self->peers [p].fqdn, sizeof (self->peers [p].fqdn), fqdn);
    }
    if (self->peer_count == 0) {
        s_err (err, errlen, "the cluster has no peers (cluster.peers is empty)");
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  dns records

int
cw_dnstool_records (const cw_dnstool_cluster_t *self, FILE *out)
{
    if (s_check_cluster (self, "dns records", true))
        return CW_DNSTOOL_PROBLEMS;
    char domain [CW_DNSTOOL_NAME_MAX];
    cw_dnstool_domain (self, domain, sizeof (domain));
    if (!s_valid_name (domain)) {
        fprintf (stderr, "dns records: '%s' is not a DNS domain\n", domain);
        return CW_DNSTOOL_PROBLEMS;
    }
    s_peer_t peers [CW_DNSTOOL_MAX_PEERS];
    for (int i = 0; i < self->peer_count; i++)
        s_peer_resolve (self, i, domain, &peers [i]);
    int ttl = s_ttl (self);
    bool edge = self->type == CW_DNSTOOL_EDGE;

    fprintf (out, "; DNS records for the Causeway cluster %s (%s, %d peer%s), domain %s.\n", self->name,
             edge ? "edge" : "core", self->peer_count, self->peer_count == 1 ? "" : "s", domain);
    fprintf (out, "; Every peer has the same priority (%d) and weight (%d), so each is used equally.\n",
             CW_DNSTOOL_PRIORITY, CW_DNSTOOL_WEIGHT);

    //  Width of the owner column
    int width = 0;
    for (size_t s = 0; s < S_SERVICE_COUNT; s++)
        if (edge || !s_services [s].edge_only) {
            int len = (int) (strlen (s_services [s].service) + strlen (domain) + 2);
            if (len > width)
                width = len;
        }
    fprintf (out, "\n; SRV records\n");
    for (size_t s = 0; s < S_SERVICE_COUNT; s++) {
        if (s_services [s].edge_only && !edge)
            continue;
        char owner [CW_DNSTOOL_NAME_MAX + 32];
        snprintf (owner, sizeof (owner), "%s.%s.", s_services [s].service, domain);
        for (int i = 0; i < self->peer_count; i++)
            fprintf (out, "%-*s %d IN SRV %d %d %d %s.\n", width, owner, ttl, CW_DNSTOOL_PRIORITY, CW_DNSTOOL_WEIGHT,
                     s_services [s].port, peers [i].name);
    }
    fprintf (out, "\n; NAPTR records (SIP over TLS first, then TCP, then UDP)\n");
    for (size_t n = 0; n < S_NAPTR_COUNT; n++)
        fprintf (out, "%s. %d IN NAPTR %d %d \"s\" \"%s\" \"\" %s.%s.\n", domain, ttl, s_naptrs [n].order,
                 s_naptrs [n].preference, s_naptrs [n].service, s_naptrs [n].srv, domain);

    fprintf (out, "\n; Address records of the peers (an A or AAAA record per peer, as the guide recommends)\n");
    for (int i = 0; i < self->peer_count; i++) {
        const s_peer_t *peer = &peers [i];
        const char *rtype = peer->family == AF_INET6 ? "AAAA" : "A";
        if (peer->suggested)
            fprintf (out,
                     "; peer %d is known only by its IP address %s: the SRV records above use the"
                     " suggested name %s; publish this %s record, or give the peer an FQDN"
                     " (dns.hostname/dns.domain and the address mapping)\n",
                     peer->index, peer->ip, peer->name, rtype);
        if (*peer->ip)
            fprintf (out, "%s. %d IN %s %s\n", peer->name, ttl, rtype, peer->ip);
        else
            fprintf (out,
                     "; peer %d %s: its address is not known here (not in the address"
                     " mapping): publish its %s record\n",
                     peer->index, peer->name, self->ip_version == 6 ? "AAAA" : "A");
    }
    return CW_DNSTOOL_OK;
}

//  ---------------------------------------------------------------------
//  firewall rules

int
cw_dnstool_firewall (const cw_dnstool_cluster_t *self, FILE *out)
{
    if (s_check_cluster (self, "firewall rules", false))
        return CW_DNSTOOL_PROBLEMS;
    int ports [2], port_count = 0;
    for (int p = 0; p < 2; p++)
        if (self->ports [p] > 0 && self->ports [p] < 65536 && (port_count == 0 || ports [0] != self->ports [p]))
            ports [port_count++] = self->ports [p];
    if (port_count == 0) {
        fprintf (stderr, "firewall rules: no clustering ports (peering.port)\n");
        return CW_DNSTOOL_PROBLEMS;
    }
    char portset [32];
    if (port_count == 1)
        snprintf (portset, sizeof (portset), "%d", ports [0]);
    else
        snprintf (portset, sizeof (portset), "{ %d, %d }", ports [0], ports [1]);
    int family = self->ip_version == 6 ? AF_INET6 : AF_INET;
    char domain [CW_DNSTOOL_NAME_MAX];
    cw_dnstool_domain (self, domain, sizeof (domain));
    if (!s_valid_name (domain))
        s_copy (domain, sizeof (domain), "invalid");

    s_peer_t peers [CW_DNSTOOL_MAX_PEERS];
    const s_peer_t *this_peer = NULL;
    for (int i = 0; i < self->peer_count; i++) {
        s_peer_resolve (self, i, domain, &peers [i]);
        if (peers [i].index == self->this_peer)
            this_peer = &peers [i];
    }
    char portlist [32];
    if (port_count == 1)
        snprintf (portlist, sizeof (portlist), "port %d", ports [0]);
    else
        snprintf (portlist, sizeof (portlist), "ports %d and %d", ports [0], ports [1]);
    fprintf (out, "#!/usr/sbin/nft -f\n");
    fprintf (out, "# Causeway cluster %s: TCP to the clustering %s is accepted only\n",
             s_valid_name (self->name) ? self->name : "(no name)", portlist);
    fprintf (out, "# from the other peers; all other TCP to %s is dropped.\n",
             port_count > 1 ? "those ports" : "that port");
    if (this_peer)
        fprintf (out, "# For peer %d (%s). Load with: nft -f FILE\n", this_peer->index,
                 *this_peer->ip ? this_peer->ip : this_peer->name);
    else
        fprintf (out, "# This peer's index is unknown: every peer is allowed. Load with: nft -f FILE\n");

    //  The elements, and a comment line for each peer left out
    char elements [CW_DNSTOOL_MAX_PEERS * (CW_DNSTOOL_IP_MAX + 2) + 1] = "";
    for (int i = 0; i < self->peer_count; i++) {
        const s_peer_t *peer = &peers [i];
        const cw_dnstool_peer_t *source = &self->peers [i];
        if (peer == this_peer)
            continue;
        bool literal = s_ip_family (source->address, NULL, 0) != 0;
        if (!*peer->ip) {
            fprintf (out,
                     "# peer %d %s: not in the address mapping: resolve it and add its address:\n"
                     "#   nft add element inet causeway_cluster peers { ADDRESS }\n",
                     peer->index, peer->name);
            continue;
        }
        if (peer->family != family) {
            fprintf (out, "# peer %d%s%s: %s is not an IPv%d address (cluster.ip_version): left out\n", peer->index,
                     literal ? "" : " ", literal ? "" : peer->name, peer->ip, self->ip_version);
            continue;
        }
        if (!literal)
            fprintf (out, "# peer %d %s = %s (address mapping)\n", peer->index, source->address, peer->ip);
        if (*elements)
            strcat (elements, ", ");
        strcat (elements, peer->ip);
    }
    fprintf (out, "table inet causeway_cluster\n");
    fprintf (out, "delete table inet causeway_cluster\n");
    fprintf (out, "table inet causeway_cluster {\n");
    fprintf (out, "    set peers {\n");
    fprintf (out, "        type %s\n", family == AF_INET6 ? "ipv6_addr" : "ipv4_addr");
    if (*elements)
        fprintf (out, "        elements = { %s }\n", elements);
    fprintf (out, "    }\n");
    fprintf (out, "    chain input {\n");
    fprintf (out, "        type filter hook input priority 0; policy accept;\n");
    fprintf (out, "        tcp dport %s %s saddr @peers accept\n", portset, family == AF_INET6 ? "ip6" : "ip");
    fprintf (out, "        tcp dport %s counter drop\n", portset);
    fprintf (out, "    }\n");
    fprintf (out, "}\n");
    return CW_DNSTOOL_OK;
}

//  ---------------------------------------------------------------------
//  dns check: queries

#define S_TYPE_A 1
#define S_TYPE_AAAA 28
#define S_TYPE_SRV 33
#define S_TYPE_NAPTR 35
#define S_CLASS_IN 1

typedef struct {
    char name [CW_DNSTOOL_NAME_MAX + 32];
    int type;
    int status;             //  ARES_SUCCESS, ARES_ENOTFOUND, ...
    unsigned char *abuf;    //  the answer, owned
    int alen;
} s_query_t;

static void
s_on_answer (void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void) timeouts;
    s_query_t *query = (s_query_t *) arg;
    query->status = status;
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        query->abuf = (unsigned char *) malloc ((size_t) alen);
        if (query->abuf) {
            memcpy (query->abuf, abuf, (size_t) alen);
            query->alen = alen;
        }
        else
            query->status = ARES_ENOMEM;
    }
}

//  Sends every query and waits until all are answered or timed out
static void
s_run (ares_channel channel, s_query_t *queries, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        queries [i].status = ARES_ETIMEOUT;
        ares_query (channel, queries [i].name, S_CLASS_IN, queries [i].type, s_on_answer, &queries [i]);
    }
    while (true) {
        fd_set readers, writers;
        FD_ZERO (&readers);
        FD_ZERO (&writers);
        int nfds = ares_fds (channel, &readers, &writers);
        if (nfds == 0)
            break;
        struct timeval wait, *timeout = ares_timeout (channel, NULL, &wait);
        select (nfds, &readers, &writers, NULL, timeout);
        ares_process (channel, &readers, &writers);
    }
}

static void
s_queries_free (s_query_t *queries, size_t count)
{
    for (size_t i = 0; queries && i < count; i++)
        free (queries [i].abuf);
    free (queries);
}

static s_query_t *
s_query_find (s_query_t *queries, size_t count, const char *name, int type)
{
    for (size_t i = 0; i < count; i++)
        if (queries [i].type == type && s_name_eq (queries [i].name, name))
            return &queries [i];
    return NULL;
}

//  Absent: the name does not exist or has no record of this type
static bool
s_absent (int status)
{
    return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

//  The addresses of NAME (A and AAAA answers in QUERIES) into ADDRS
//  (canonical), returns how many; *FAILED is set when a query failed for
//  another reason than absence.
#define S_MAX_ADDRS 16
static int
s_addresses (s_query_t *queries, size_t count, const char *name, char addrs [S_MAX_ADDRS][CW_DNSTOOL_IP_MAX],
             int *failed_status)
{
    int found = 0;
    *failed_status = ARES_SUCCESS;
    for (int t = 0; t < 2; t++) {
        s_query_t *query = s_query_find (queries, count, name, t == 0 ? S_TYPE_A : S_TYPE_AAAA);
        if (!query)
            continue;
        if (query->status != ARES_SUCCESS) {
            if (!s_absent (query->status))
                *failed_status = query->status;
            continue;
        }
        if (t == 0) {
            struct ares_addrttl ttls [S_MAX_ADDRS];
            int n = S_MAX_ADDRS;
            if (ares_parse_a_reply (query->abuf, query->alen, NULL, ttls, &n) == ARES_SUCCESS)
                for (int i = 0; i < n && found < S_MAX_ADDRS; i++)
                    inet_ntop (AF_INET, &ttls [i].ipaddr, addrs [found++], CW_DNSTOOL_IP_MAX);
        }
        else {
            struct ares_addr6ttl ttls [S_MAX_ADDRS];
            int n = S_MAX_ADDRS;
            if (ares_parse_aaaa_reply (query->abuf, query->alen, NULL, ttls, &n) == ARES_SUCCESS)
                for (int i = 0; i < n && found < S_MAX_ADDRS; i++)
                    inet_ntop (AF_INET6, &ttls [i].ip6addr, addrs [found++], CW_DNSTOOL_IP_MAX);
        }
    }
    return found;
}

static bool
s_addresses_have (char addrs [S_MAX_ADDRS][CW_DNSTOOL_IP_MAX], int count, const char *ip)
{
    for (int i = 0; i < count; i++)
        if (s_ip_eq (addrs [i], ip))
            return true;
    return false;
}

static void
s_addresses_join (char addrs [S_MAX_ADDRS][CW_DNSTOOL_IP_MAX], int count, char *buf, size_t len)
{
    *buf = 0;
    for (int i = 0; i < count; i++) {
        size_t used = strlen (buf);
        snprintf (buf + used, len - used, "%s%s", i ? ", " : "", addrs [i]);
    }
}

//  ---------------------------------------------------------------------
//  dns check: findings

typedef struct {
    char name [CW_DNSTOOL_NAME_MAX + 32];
    const char *type;      //  "SRV", "NAPTR", "A/AAAA"
    const char *status;    //  see s_is_problem
    int peer;              //  0 = not about one peer
    char detail [600];
} s_finding_t;

typedef struct {
    s_finding_t *items;
    size_t count, cap;
} s_findings_t;

static void
s_add (s_findings_t *self, const char *name, const char *type, const char *status, int peer, const char *format, ...)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 32;
        s_finding_t *items = (s_finding_t *) realloc (self->items, cap * sizeof (s_finding_t));
        if (!items)
            return;
        self->items = items;
        self->cap = cap;
    }
    s_finding_t *finding = &self->items [self->count++];
    s_copy (finding->name, sizeof (finding->name), name);
    finding->type = type;
    finding->status = status;
    finding->peer = peer;
    va_list args;
    va_start (args, format);
    vsnprintf (finding->detail, sizeof (finding->detail), format, args);
    va_end (args);
    //  Names in answers come from the DNS server: printable ASCII only
    //  (no terminal escapes, valid UTF-8 for the JSON)
    for (char *c = finding->name; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
    for (char *c = finding->detail; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
}

static bool
s_is_problem (const s_finding_t *finding)
{
    return strcmp (finding->status, "ok") != 0 && strcmp (finding->status, "unverified") != 0;
}

static void
s_peer_label (const s_peer_t *peer, char *buf, size_t len)
{
    if (peer->suggested)
        snprintf (buf, len, "peer %d (%s, known only by IP)", peer->index, peer->ip);
    else
        snprintf (buf, len, "peer %d (%s)", peer->index, peer->name);
}

//  One SRV record of an answer, matched to a peer
typedef struct {
    char target [CW_DNSTOOL_NAME_MAX];
    int port, priority, weight;
    int peer;    //  position in the peers array + 1, 0 = not a peer
} s_srv_t;

#define S_MAX_SRV 64

static int
s_srv_parse (s_query_t *query, s_srv_t *records)
{
    struct ares_srv_reply *reply = NULL;
    if (!query || query->status != ARES_SUCCESS
        || ares_parse_srv_reply (query->abuf, query->alen, &reply) != ARES_SUCCESS)
        return 0;
    int count = 0;
    for (struct ares_srv_reply *srv = reply; srv && count < S_MAX_SRV; srv = srv->next) {
        s_name_copy (records [count].target, sizeof (records [count].target), srv->host);
        records [count].port = srv->port;
        records [count].priority = srv->priority;
        records [count].weight = srv->weight;
        records [count].peer = 0;
        count++;
    }
    ares_free_data (reply);
    return count;
}

//  Checks one SRV name against the peers
static void
s_check_srv (s_findings_t *findings, const char *owner, int want_port, s_query_t *query, const s_peer_t *peers,
             int peer_count, s_query_t *targets, size_t target_count)
{
    if (!query || s_absent (query->status)) {
        s_add (findings, owner, "SRV", "missing", 0, "no record; want %d peer%s on port %d", peer_count,
               peer_count == 1 ? "" : "s", want_port);
        return;
    }
    if (query->status != ARES_SUCCESS) {
        s_add (findings, owner, "SRV", "error", 0, "query failed: %s", ares_strerror (query->status));
        return;
    }
    s_srv_t records [S_MAX_SRV];
    int count = s_srv_parse (query, records);
    if (count == 0) {
        s_add (findings, owner, "SRV", "error", 0, "unreadable answer");
        return;
    }
    size_t first = findings->count;
    //  Match each record to a peer: by name, else by address for a peer
    //  known only by IP
    for (int r = 0; r < count; r++) {
        for (int p = 0; p < peer_count && !records [r].peer; p++)
            if (!peers [p].suggested && s_name_eq (records [r].target, peers [p].name))
                records [r].peer = p + 1;
        for (int p = 0; p < peer_count && !records [r].peer; p++) {
            if (!peers [p].suggested || !*peers [p].ip)
                continue;
            char addrs [S_MAX_ADDRS][CW_DNSTOOL_IP_MAX];
            int failed;
            int n = s_addresses (targets, target_count, records [r].target, addrs, &failed);
            if (s_addresses_have (addrs, n, peers [p].ip) || s_name_eq (records [r].target, peers [p].name))
                records [r].peer = p + 1;
        }
    }
    //  Each peer: present, on the right port?
    int missing [CW_DNSTOOL_MAX_PEERS], missing_count = 0;
    for (int p = 0; p < peer_count; p++) {
        int matched = 0, right = 0, wrong_port = 0;
        for (int r = 0; r < count; r++)
            if (records [r].peer == p + 1) {
                matched++;
                if (records [r].port == want_port)
                    right++;
                else
                    wrong_port = records [r].port;
            }
        char label [CW_DNSTOOL_NAME_MAX + 64];
        s_peer_label (&peers [p], label, sizeof (label));
        if (!matched)
            missing [missing_count++] = p;
        else if (!right)
            s_add (findings, owner, "SRV", "wrong-port", peers [p].index, "%s is on port %d, want %d", label,
                   wrong_port, want_port);
    }
    //  Records that are not peers: wrong target in place of a missing
    //  peer, else an extra target
    int next_missing = 0;
    for (int r = 0; r < count; r++) {
        if (records [r].peer)
            continue;
        if (next_missing < missing_count) {
            const s_peer_t *peer = &peers [missing [next_missing++]];
            char label [CW_DNSTOOL_NAME_MAX + 64];
            s_peer_label (peer, label, sizeof (label));
            s_add (findings, owner, "SRV", "wrong-target", peer->index,
                   "target %s (port %d) is not a peer; %s has no record", records [r].target, records [r].port, label);
        }
        else
            s_add (findings, owner, "SRV", "extra-target", 0, "target %s (port %d) is not a peer of the cluster",
                   records [r].target, records [r].port);
    }
    for (; next_missing < missing_count; next_missing++) {
        const s_peer_t *peer = &peers [missing [next_missing]];
        char label [CW_DNSTOOL_NAME_MAX + 64];
        s_peer_label (peer, label, sizeof (label));
        s_add (findings, owner, "SRV", "missing", peer->index, "%s has no record (want port %d)", label, want_port);
    }
    //  The same priority and weight for every peer
    int priority = -1, weight = -1;
    bool differ = false;
    char pairs [600] = "";
    for (int r = 0; r < count; r++) {
        if (!records [r].peer)
            continue;
        if (priority < 0) {
            priority = records [r].priority;
            weight = records [r].weight;
        }
        else if (records [r].priority != priority || records [r].weight != weight)
            differ = true;
        size_t used = strlen (pairs);
        snprintf (pairs + used, sizeof (pairs) - used, "%speer %d %d/%d", used ? ", " : "",
                  peers [records [r].peer - 1].index, records [r].priority, records [r].weight);
    }
    if (differ)
        s_add (findings, owner, "SRV", "priority-weight", 0,
               "priority/weight differ across peers (%s): give every peer the same priority and weight", pairs);
    if (findings->count == first)
        s_add (findings, owner, "SRV", "ok", 0, "%d peer%s on port %d, priority %d weight %d", peer_count,
               peer_count == 1 ? "" : "s", want_port, priority, weight);
}

static void
s_check_naptr (s_findings_t *findings, const char *domain, s_query_t *query)
{
    struct ares_naptr_reply *reply = NULL;
    if (query && query->status != ARES_SUCCESS && !s_absent (query->status)) {
        s_add (findings, domain, "NAPTR", "error", 0, "query failed: %s", ares_strerror (query->status));
        return;
    }
    if (query && query->status == ARES_SUCCESS
        && ares_parse_naptr_reply (query->abuf, query->alen, &reply) != ARES_SUCCESS) {
        s_add (findings, domain, "NAPTR", "error", 0, "unreadable answer");
        return;
    }
    for (size_t n = 0; n < S_NAPTR_COUNT; n++) {
        char want [CW_DNSTOOL_NAME_MAX + 32];
        snprintf (want, sizeof (want), "%s.%s", s_naptrs [n].srv, domain);
        struct ares_naptr_reply *found = NULL;
        for (struct ares_naptr_reply *naptr = reply; naptr && !found; naptr = naptr->next)
            if (naptr->service && strcasecmp ((const char *) naptr->service, s_naptrs [n].service) == 0)
                found = naptr;
        if (!found)
            s_add (findings, domain, "NAPTR", "missing", 0, "no %s record; want \"s\" -> %s", s_naptrs [n].service,
                   want);
        else if (!found->flags || strcasecmp ((const char *) found->flags, "s") != 0)
            s_add (findings, domain, "NAPTR", "wrong-target", 0, "%s has flags \"%s\", want \"s\" -> %s",
                   s_naptrs [n].service, found->flags ? (const char *) found->flags : "", want);
        else if (!s_name_eq (found->replacement, want))
            s_add (findings, domain, "NAPTR", "wrong-target", 0, "%s points at %s, want %s", s_naptrs [n].service,
                   found->replacement ? found->replacement : "", want);
        else
            s_add (findings, domain, "NAPTR", "ok", 0, "%s -> %s (order %d, preference %d)", s_naptrs [n].service, want,
                   found->order, found->preference);
    }
    if (reply)
        ares_free_data (reply);
}

static void
s_check_addresses (s_findings_t *findings, const s_peer_t *peers, int peer_count, s_query_t *queries,
                   size_t query_count, s_query_t *targets, size_t target_count)
{
    for (int p = 0; p < peer_count; p++) {
        const s_peer_t *peer = &peers [p];
        char addrs [S_MAX_ADDRS][CW_DNSTOOL_IP_MAX];
        char list [S_MAX_ADDRS * (CW_DNSTOOL_IP_MAX + 2)];
        int failed;
        if (peer->suggested) {
            //  Known only by IP: which SRV target resolves to it?
            const char *by = NULL;
            for (size_t t = 0; t < target_count && !by; t += 2) {
                int n = s_addresses (targets, target_count, targets [t].name, addrs, &failed);
                if (s_addresses_have (addrs, n, peer->ip))
                    by = targets [t].name;
            }
            if (by)
                s_add (findings, by, "A/AAAA", "ok", peer->index, "resolves to %s, peer %d's address", peer->ip,
                       peer->index);
            else
                s_add (findings, peer->ip, "A/AAAA", "missing", peer->index,
                       "no SRV target resolves to %s (peer %d has no FQDN: publish an A/AAAA record"
                       " for it, see `causeway dns records`)",
                       peer->ip, peer->index);
            continue;
        }
        int n = s_addresses (queries, query_count, peer->name, addrs, &failed);
        s_addresses_join (addrs, n, list, sizeof (list));
        if (n == 0 && failed != ARES_SUCCESS)
            s_add (findings, peer->name, "A/AAAA", "error", peer->index, "query failed: %s", ares_strerror (failed));
        else if (n == 0)
            s_add (findings, peer->name, "A/AAAA", "missing", peer->index, "no A/AAAA record%s%s",
                   *peer->ip ? "; want " : "", peer->ip);
        else if (!*peer->ip)
            s_add (findings, peer->name, "A/AAAA", "unverified", peer->index,
                   "resolves to %s (peer %d's address is not known here: not in the address mapping)", list,
                   peer->index);
        else if (s_addresses_have (addrs, n, peer->ip))
            s_add (findings, peer->name, "A/AAAA", "ok", peer->index, "resolves to %s", list);
        else
            s_add (findings, peer->name, "A/AAAA", "wrong-address", peer->index,
                   "resolves to %s; peer %d's address is %s", list, peer->index, peer->ip);
    }
}

//  ---------------------------------------------------------------------
//  dns check: output

static int
s_render (const cw_dnstool_cluster_t *self, const char *domain, const char *server, s_findings_t *findings, bool json,
          FILE *out)
{
    size_t problems = 0;
    for (size_t i = 0; i < findings->count; i++)
        if (s_is_problem (&findings->items [i]))
            problems++;
    if (json) {
        json_t *checks = json_array ();
        for (size_t i = 0; i < findings->count; i++) {
            const s_finding_t *finding = &findings->items [i];
            json_t *item = json_pack ("{s:s, s:s, s:s, s:s}", "name", finding->name, "type", finding->type, "status",
                                      finding->status, "detail", finding->detail);
            if (!item)
                continue;
            json_object_set_new (item, "peer", finding->peer ? json_integer (finding->peer) : json_null ());
            json_array_append_new (checks, item);
        }
        json_t *body = json_pack ("{s:s, s:s?, s:s, s:s, s:b, s:I, s:o}", "domain", domain, "server", server, "cluster",
                                  s_valid_name (self->name) ? self->name : "", "type",
                                  self->type == CW_DNSTOOL_EDGE ? "edge" : "core", "ok", problems == 0, "problems",
                                  (json_int_t) problems, "checks", checks);
        if (body) {
            char *text = json_dumps (body, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
            if (text)
                fprintf (out, "%s\n", text);
            free (text);
            json_decref (body);
        }
    }
    else {
        fprintf (out, "dns check %s (server %s): cluster %s, %s, %d peer%s\n", domain,
                 server ? server : "system resolver", s_valid_name (self->name) ? self->name : "(no name)",
                 self->type == CW_DNSTOOL_EDGE ? "edge" : "core", self->peer_count, self->peer_count == 1 ? "" : "s");
        for (size_t i = 0; i < findings->count; i++) {
            const s_finding_t *finding = &findings->items [i];
            char status [32];
            size_t k = 0;
            for (; finding->status [k] && k < sizeof (status) - 1; k++)
                status [k] = (char) toupper ((unsigned char) finding->status [k]);
            status [k] = 0;
            fprintf (out, "%-15s %-6s %s: %s\n", status, finding->type, finding->name, finding->detail);
        }
        if (problems)
            fprintf (out, "%zu problem%s found\n", problems, problems == 1 ? "" : "s");
        else
            fprintf (out, "all records present and correct\n");
    }
    return problems ? CW_DNSTOOL_PROBLEMS : CW_DNSTOOL_OK;
}

//  ---------------------------------------------------------------------
//  dns check

int
cw_dnstool_check (const cw_dnstool_cluster_t *self, const char *domain_arg, const char *server, bool json, FILE *out)
{
    if (s_check_cluster (self, "dns check", false))
        return CW_DNSTOOL_PROBLEMS;
    if (!domain_arg || !s_valid_name (domain_arg)) {
        fprintf (stderr, "dns check: '%s' is not a DNS domain\n", domain_arg ? domain_arg : "");
        return CW_DNSTOOL_USAGE;
    }
    char domain [CW_DNSTOOL_NAME_MAX];
    s_name_copy (domain, sizeof (domain), domain_arg);
    if (server && !*server)
        server = NULL;

    s_peer_t peers [CW_DNSTOOL_MAX_PEERS];
    bool ip_only = false;
    for (int i = 0; i < self->peer_count; i++) {
        s_peer_resolve (self, i, domain, &peers [i]);
        if (peers [i].suggested && *peers [i].ip)
            ip_only = true;
    }
    bool edge = self->type == CW_DNSTOOL_EDGE;

    //  The channel: our own server when given, no search domains
    if (ares_library_init (ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        fprintf (stderr, "dns check: cannot initialise c-ares\n");
        return CW_DNSTOOL_PROBLEMS;
    }
    ares_channel channel;
    struct ares_options options;
    memset (&options, 0, sizeof (options));
    options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    options.timeout = 2000;
    options.tries = 2;
    int status = ares_init_options (&channel, &options, ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (status != ARES_SUCCESS) {
        fprintf (stderr, "dns check: cannot initialise the resolver: %s\n", ares_strerror (status));
        ares_library_cleanup ();
        return CW_DNSTOOL_PROBLEMS;
    }
    if (server) {
        status = ares_set_servers_ports_csv (channel, server);
        if (status != ARES_SUCCESS) {
            fprintf (stderr, "dns check: --server '%s' is not IP:PORT (%s)\n", server, ares_strerror (status));
            ares_destroy (channel);
            ares_library_cleanup ();
            return CW_DNSTOOL_USAGE;
        }
    }
    //  Round 1: SRV, NAPTR, A/AAAA of every named peer
    size_t count = 0;
    s_query_t *queries = (s_query_t *) calloc (S_SERVICE_COUNT + 1 + 2 * CW_DNSTOOL_MAX_PEERS, sizeof (s_query_t));
    s_findings_t findings = { NULL, 0, 0 };
    s_query_t *targets = NULL;
    size_t target_count = 0;
    if (!queries)
        goto fail;
    for (size_t s = 0; s < S_SERVICE_COUNT; s++)
        if (edge || !s_services [s].edge_only) {
            snprintf (queries [count].name, sizeof (queries [count].name), "%s.%s", s_services [s].service, domain);
            queries [count++].type = S_TYPE_SRV;
        }
    s_copy (queries [count].name, sizeof (queries [count].name), domain);
    queries [count++].type = S_TYPE_NAPTR;
    for (int p = 0; p < self->peer_count; p++)
        if (!peers [p].suggested)
            for (int t = 0; t < 2; t++) {
                s_copy (queries [count].name, sizeof (queries [count].name), peers [p].name);
                queries [count++].type = t == 0 ? S_TYPE_A : S_TYPE_AAAA;
            }
    s_run (channel, queries, count);

    //  Round 2: A/AAAA of the SRV targets that are not named peers, when
    //  a peer is known only by IP (such a target may be that peer)
    if (ip_only) {
        targets = (s_query_t *) calloc (2 * S_MAX_SRV, sizeof (s_query_t));
        if (!targets)
            goto fail;
        for (size_t q = 0; q < count; q++) {
            if (queries [q].type != S_TYPE_SRV)
                continue;
            s_srv_t records [S_MAX_SRV];
            int n = s_srv_parse (&queries [q], records);
            for (int r = 0; r < n && target_count + 2 <= 2 * S_MAX_SRV; r++) {
                bool known = s_query_find (targets, target_count, records [r].target, S_TYPE_A) != NULL;
                for (int p = 0; p < self->peer_count && !known; p++)
                    if (!peers [p].suggested && s_name_eq (peers [p].name, records [r].target))
                        known = true;
                if (known || !s_valid_name (records [r].target))
                    continue;
                for (int t = 0; t < 2; t++) {
                    s_copy (targets [target_count].name, sizeof (targets [0].name), records [r].target);
                    targets [target_count++].type = t == 0 ? S_TYPE_A : S_TYPE_AAAA;
                }
            }
        }
        s_run (channel, targets, target_count);
    }
    //  Compare
    for (size_t s = 0; s < S_SERVICE_COUNT; s++) {
        if (s_services [s].edge_only && !edge)
            continue;
        char owner [CW_DNSTOOL_NAME_MAX + 32];
        snprintf (owner, sizeof (owner), "%s.%s", s_services [s].service, domain);
        s_check_srv (&findings, owner, s_services [s].port, s_query_find (queries, count, owner, S_TYPE_SRV), peers,
                     self->peer_count, targets, target_count);
    }
    s_check_naptr (&findings, domain, s_query_find (queries, count, domain, S_TYPE_NAPTR));
    s_check_addresses (&findings, peers, self->peer_count, queries, count, targets, target_count);

    int rc = s_render (self, domain, server, &findings, json, out);
    free (findings.items);
    s_queries_free (queries, count);
    s_queries_free (targets, target_count);
    ares_destroy (channel);
    ares_library_cleanup ();
    return rc;

fail:
    fprintf (stderr, "dns check: out of memory\n");
    free (findings.items);
    s_queries_free (queries, count);
    s_queries_free (targets, target_count);
    ares_destroy (channel);
    ares_library_cleanup ();
    return CW_DNSTOOL_PROBLEMS;
}
