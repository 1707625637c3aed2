/*  test_dnstool.c - unit tests of the DNS and firewall tools
    (tools/cw_dnstool.c): the text of `dns records` (every SRV name of the
    guide for every peer, the same priority and weight for all, collab-edge
    only for edge clusters, NAPTR, A/AAAA hints), the nftables ruleset of
    `firewall rules` (checked with `nft -c -f` when nft can run here), the
    cluster description built from the daemon's JSON replies, and the
    usage errors of `dns check`.

    The check_* tests run `dns check` against a real DNS server: they are
    skipped unless CW_DNS_SERVER=IP:PORT names a server that serves the
    zones of tests/integration/test_dns_tools.py (which starts dnsmasq and
    runs this program with CW_DNS_SERVER set). The zones, in short:
      good.test  every record, correct (and _collab-edge._tls)
      bad.test   no _h323rs._udp, _sip._tcp of peer 2 on port 5070,
                 NAPTR without SIP+D2U
      odd.test   an extra target rogue.example.test, peer 3 with a
                 different priority, NAPTR SIP+D2T pointing elsewhere
    and the peers: peer1.example.test = 127.0.1.1, peer2.example.test =
    127.0.1.2, cw3.example.test = 127.0.1.3 (peer 3 is known only by IP).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cw_dnstool.h"

//  ---------------------------------------------------------------------
//  Helpers

typedef int (s_tool_fn) (const cw_dnstool_cluster_t *self, FILE *out);

//  Runs TOOL, returns its output (caller frees) and its exit status in RC
static char *
s_run (s_tool_fn *tool, const cw_dnstool_cluster_t *cluster, int *rc)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_non_null (out);
    *rc = tool (cluster, out);
    fclose (out);
    return text;
}

static void
s_add_peer (cw_dnstool_cluster_t *self, const char *address, const char *fqdn, const char *ip)
{
    cw_dnstool_peer_t *peer = &self->peers [self->peer_count++];
    memset (peer, 0, sizeof (*peer));
    peer->index = self->peer_count;
    snprintf (peer->address, sizeof (peer->address), "%s", address);
    snprintf (peer->fqdn, sizeof (peer->fqdn), "%s", fqdn ? fqdn : "");
    snprintf (peer->ip, sizeof (peer->ip), "%s", ip ? ip : "");
}

static void
s_add_mapping (cw_dnstool_cluster_t *self, const char *fqdn, const char *ip)
{
    cw_dnstool_mapping_t *mapping = &self->mappings [self->mapping_count++];
    snprintf (mapping->fqdn, sizeof (mapping->fqdn), "%s", fqdn);
    snprintf (mapping->ip, sizeof (mapping->ip), "%s", ip);
}

//  Three peers the three ways a peer can be named: an explicit FQDN, an
//  FQDN address (IP from the mapping), an IP only.
static void
s_cluster3 (cw_dnstool_cluster_t *self, cw_dnstool_node_type_t type)
{
    cw_dnstool_cluster_init (self);
    snprintf (self->name, sizeof (self->name), "cluster1.example.com");
    self->type = type;
    self->this_peer = 1;
    s_add_peer (self, "127.0.1.1", "expe1.example.com", NULL);
    s_add_peer (self, "expe2.example.com", NULL, NULL);
    s_add_peer (self, "127.0.1.3", NULL, NULL);
    s_add_mapping (self, "expe2.example.com", "127.0.1.2");
}

typedef struct {
    char owner [300];
    int ttl, priority, weight, port;
    char target [300];
} s_srv_line_t;

//  The SRV lines of TEXT (at most MAX)
static int
s_srv_lines (const char *text, s_srv_line_t *lines, int max)
{
    int count = 0;
    const char *line = text;
    while (line && *line && count < max) {
        s_srv_line_t srv;
        if (*line != ';'
            && sscanf (line, "%299s %d IN SRV %d %d %d %299s", srv.owner, &srv.ttl, &srv.priority, &srv.weight,
                       &srv.port, srv.target)
                   == 6)
            lines [count++] = srv;
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return count;
}

static bool
s_has_srv (s_srv_line_t *lines, int count, const char *owner, int port, const char *target)
{
    for (int i = 0; i < count; i++)
        if (strcmp (lines [i].owner, owner) == 0 && lines [i].port == port && strcmp (lines [i].target, target) == 0)
            return true;
    return false;
}

//  ---------------------------------------------------------------------
//  dns records

static void
test_services_table (void **state)
{
    (void) state;
    size_t count;
    const cw_dnstool_service_t *services = cw_dnstool_services (&count);
    assert_int_equal (count, 7);
    const char *names [] = { "_sips._tcp",   "_sip._tcp",    "_sip._udp",        "_h323ls._udp",
                             "_h323cs._tcp", "_h323rs._udp", "_collab-edge._tls" };
    const int ports [] = { 5061, 5060, 5060, 1719, 1720, 1719, 8443 };
    for (size_t i = 0; i < count; i++) {
        assert_string_equal (services [i].service, names [i]);
        assert_int_equal (services [i].port, ports [i]);
        assert_int_equal (services [i].edge_only, i == 6);
    }
}

static void
test_records_core (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    s_cluster3 (&cluster, CW_DNSTOOL_CORE);
    int rc;
    char *text = s_run (cw_dnstool_records, &cluster, &rc);
    assert_int_equal (rc, 0);

    s_srv_line_t lines [64];
    int count = s_srv_lines (text, lines, 64);
    assert_int_equal (count, 6 * 3);    //  six services x three peers
    const char *targets [] = { "expe1.example.com.", "expe2.example.com.", "peer3.example.com." };
    size_t services;
    const cw_dnstool_service_t *service = cw_dnstool_services (&services);
    for (size_t s = 0; s < services; s++) {
        char owner [64];
        snprintf (owner, sizeof (owner), "%s.example.com.", service [s].service);
        for (int p = 0; p < 3; p++)
            assert_int_equal (s_has_srv (lines, count, owner, service [s].port, targets [p]), !service [s].edge_only);
    }
    //  The same priority and weight for every record, the default TTL
    for (int i = 0; i < count; i++) {
        assert_int_equal (lines [i].priority, lines [0].priority);
        assert_int_equal (lines [i].weight, lines [0].weight);
        assert_int_equal (lines [i].ttl, 3600);
    }
    assert_null (strstr (text, "collab-edge"));
    //  NAPTR: TLS, then TCP, then UDP, pointing at the SRV names
    assert_non_null (
        strstr (text, "example.com. 3600 IN NAPTR 10 100 \"s\" \"SIPS+D2T\" \"\" _sips._tcp.example.com.\n"));
    assert_non_null (
        strstr (text, "example.com. 3600 IN NAPTR 12 100 \"s\" \"SIP+D2T\" \"\" _sip._tcp.example.com.\n"));
    assert_non_null (
        strstr (text, "example.com. 3600 IN NAPTR 14 100 \"s\" \"SIP+D2U\" \"\" _sip._udp.example.com.\n"));
    //  A records: explicit, through the mapping, and the hint for the
    //  peer known only by IP
    assert_non_null (strstr (text, "\nexpe1.example.com. 3600 IN A 127.0.1.1\n"));
    assert_non_null (strstr (text, "\nexpe2.example.com. 3600 IN A 127.0.1.2\n"));
    assert_non_null (strstr (text, "\npeer3.example.com. 3600 IN A 127.0.1.3\n"));
    assert_non_null (strstr (text, "; peer 3 is known only by its IP address 127.0.1.3"));
    free (text);
}

static void
test_records_edge (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    s_cluster3 (&cluster, CW_DNSTOOL_EDGE);
    cluster.ttl = 86400;
    int rc;
    char *text = s_run (cw_dnstool_records, &cluster, &rc);
    assert_int_equal (rc, 0);
    s_srv_line_t lines [64];
    int count = s_srv_lines (text, lines, 64);
    assert_int_equal (count, 7 * 3);
    assert_true (s_has_srv (lines, count, "_collab-edge._tls.example.com.", 8443, "expe1.example.com."));
    assert_true (s_has_srv (lines, count, "_collab-edge._tls.example.com.", 8443, "expe2.example.com."));
    assert_true (s_has_srv (lines, count, "_collab-edge._tls.example.com.", 8443, "peer3.example.com."));
    assert_true (s_has_srv (lines, count, "_h323rs._udp.example.com.", 1719, "expe2.example.com."));
    for (int i = 0; i < count; i++) {
        assert_int_equal (lines [i].ttl, 86400);
        assert_int_equal (lines [i].priority, lines [0].priority);
        assert_int_equal (lines [i].weight, lines [0].weight);
    }
    free (text);
}

static void
test_records_domain_and_ipv6 (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    cw_dnstool_cluster_init (&cluster);
    char domain [256];
    //  The domain: the domain part of the cluster name, or the name itself
    snprintf (cluster.name, sizeof (cluster.name), "example.org");
    cw_dnstool_domain (&cluster, domain, sizeof (domain));
    assert_string_equal (domain, "example.org");
    snprintf (cluster.name, sizeof (cluster.name), "vcs.cluster.Example.ORG.");
    cw_dnstool_domain (&cluster, domain, sizeof (domain));
    assert_string_equal (domain, "cluster.example.org");
    snprintf (cluster.domain, sizeof (cluster.domain), "sip.example.net");
    cw_dnstool_domain (&cluster, domain, sizeof (domain));
    assert_string_equal (domain, "sip.example.net");

    cluster.ip_version = 6;
    s_add_peer (&cluster, "2001:db8::1", "a.example.net", NULL);
    s_add_peer (&cluster, "b.example.net", NULL, NULL);    //  not in any mapping
    int rc;
    char *text = s_run (cw_dnstool_records, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (text, "_sips._tcp.sip.example.net."));
    assert_non_null (strstr (text, "\na.example.net. 3600 IN AAAA 2001:db8::1\n"));
    assert_non_null (strstr (text, "; peer 2 b.example.net: its address is not known here"));
    assert_non_null (strstr (text, "publish its AAAA record"));
    free (text);
}

static void
test_records_refused (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    cw_dnstool_cluster_init (&cluster);
    int rc;
    char *text = s_run (cw_dnstool_records, &cluster, &rc);    //  no peers
    assert_int_equal (rc, 1);
    assert_string_equal (text, "");
    free (text);
    s_add_peer (&cluster, "127.0.1.1", NULL, NULL);
    text = s_run (cw_dnstool_records, &cluster, &rc);    //  no name
    assert_int_equal (rc, 1);
    free (text);
    snprintf (cluster.name, sizeof (cluster.name), "cluster1.example.com");
    snprintf (cluster.peers [0].address, sizeof (cluster.peers [0].address), "bad name\n$ORIGIN evil.");
    text = s_run (cw_dnstool_records, &cluster, &rc);    //  garbage address
    assert_int_equal (rc, 1);
    assert_string_equal (text, "");
    free (text);
}

//  ---------------------------------------------------------------------
//  firewall rules

//  0 = nft accepted FILE, 1 = refused it, -1 = nft cannot check here
static int
s_nft_check (const char *text)
{
    if (system ("nft --version >/dev/null 2>&1") != 0)
        return -1;
    char path [] = "/tmp/test_dnstool_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    assert_non_null (file);
    //  Probe: can nft check a trivial ruleset here (netlink, privileges)?
    fputs ("table inet cw_probe {\n}\n", file);
    fclose (file);
    char command [128];
    snprintf (command, sizeof (command), "nft -c -f %s >/dev/null 2>&1", path);
    if (system (command) != 0) {
        unlink (path);
        return -1;
    }
    file = fopen (path, "w");
    assert_non_null (file);
    fputs (text, file);
    fclose (file);
    snprintf (command, sizeof (command), "nft -c -f %s", path);
    int rc = system (command);
    unlink (path);
    return rc == 0 ? 0 : 1;
}

static void
test_firewall_ipv4 (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    s_cluster3 (&cluster, CW_DNSTOOL_CORE);
    s_add_peer (&cluster, "expe4.example.com", NULL, NULL);    //  FQDN without mapping
    s_add_peer (&cluster, "2001:db8::5", NULL, NULL);          //  the other IP version
    int rc;
    char *text = s_run (cw_dnstool_firewall, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (text, "table inet causeway_cluster {\n"));
    assert_non_null (strstr (text, "type filter hook input priority 0; policy accept;"));
    assert_non_null (strstr (text, "        type ipv4_addr\n"));
    //  The other peers only: not this peer (1), the mapped FQDN resolved
    assert_non_null (strstr (text, "elements = { 127.0.1.2, 127.0.1.3 }\n"));
    assert_null (strstr (text, "127.0.1.1,"));
    assert_non_null (strstr (text, "# peer 2 expe2.example.com = 127.0.1.2 (address mapping)"));
    assert_non_null (strstr (text, "# peer 4 expe4.example.com: not in the address mapping: resolve it"));
    assert_non_null (strstr (text, "# peer 5: 2001:db8::5 is not an IPv4 address"));
    //  Accept from the set, drop every other TCP to both ports, in that order
    const char *accept = strstr (text, "tcp dport { 4371, 4372 } ip saddr @peers accept\n");
    const char *drop = strstr (text, "tcp dport { 4371, 4372 } counter drop\n");
    assert_non_null (accept);
    assert_non_null (drop);
    assert_true (accept < drop);
    int nft = s_nft_check (text);
    if (nft >= 0)
        assert_int_equal (nft, 0);
    free (text);
}

static void
test_firewall_ipv6_one_port (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    cw_dnstool_cluster_init (&cluster);
    snprintf (cluster.name, sizeof (cluster.name), "cluster6.example.com");
    cluster.ip_version = 6;
    cluster.ports [1] = 0;
    cluster.this_peer = 2;
    s_add_peer (&cluster, "2001:db8::1", NULL, NULL);
    s_add_peer (&cluster, "2001:db8::2", NULL, NULL);
    s_add_peer (&cluster, "c.example.com", NULL, NULL);
    s_add_mapping (&cluster, "c.example.com", "2001:DB8:0:0::3");
    int rc;
    char *text = s_run (cw_dnstool_firewall, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (text, "        type ipv6_addr\n"));
    assert_non_null (strstr (text, "elements = { 2001:db8::1, 2001:db8::3 }\n"));
    assert_non_null (strstr (text, "tcp dport 4371 ip6 saddr @peers accept\n"));
    assert_non_null (strstr (text, "tcp dport 4371 counter drop\n"));
    assert_null (strstr (text, "4372"));
    int nft = s_nft_check (text);
    if (nft >= 0)
        assert_int_equal (nft, 0);
    free (text);

    //  No peer address known: an empty set, still valid, everyone dropped
    cluster.mapping_count = 0;
    cluster.peer_count = 2;
    cluster.this_peer = 1;
    snprintf (cluster.peers [1].address, sizeof (cluster.peers [1].address), "d.example.com");
    text = s_run (cw_dnstool_firewall, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_null (strstr (text, "elements"));
    nft = s_nft_check (text);
    if (nft >= 0)
        assert_int_equal (nft, 0);
    free (text);

    //  No clustering port at all
    cluster.ports [0] = 0;
    text = s_run (cw_dnstool_firewall, &cluster, &rc);
    assert_int_equal (rc, 1);
    free (text);
}

//  The nft check itself can fail: a broken ruleset is refused
static void
test_nft_check_refuses_garbage (void **state)
{
    (void) state;
    int nft = s_nft_check ("table inet causeway_cluster {\n    chain input {\n"
                           "        tcp dport 4371 ip saddr { 127.0.1.999 } accept\n    }\n}\n");
    if (nft < 0)
        skip ();
    assert_int_equal (nft, 1);
}

//  ---------------------------------------------------------------------
//  The cluster description from the daemon's replies

static void
test_from_json (void **state)
{
    (void) state;
    json_error_t jerr;
    json_t *status =
        json_loads ("{\"name\": \"cluster1.example.com\", \"primary\": 1, \"this_peer\": 2, \"ip_version\": 4,"
                    " \"address_mapping\": {\"enabled\": true, \"mappings\": [\"expe3.example.com=127.0.1.3\"]},"
                    " \"peers\": [{\"index\": 1, \"address\": \"127.0.1.1\", \"type\": \"edge\"},"
                    "             {\"index\": 2, \"address\": \"127.0.1.2\", \"type\": \"edge\"},"
                    "             {\"index\": 3, \"address\": \"expe3.example.com\", \"type\": \"edge\"}]}",
                    0, &jerr);
    assert_non_null (status);
    json_t *config = json_loads ("{\"config\": [{\"key\": \"dns.domain\", \"value\": \"example.com\"},"
                                 "             {\"key\": \"dns.hostname\", \"value\": \"expe2\"}]}",
                                 0, &jerr);
    assert_non_null (config);
    cw_dnstool_cluster_t cluster;
    cw_dnstool_cluster_init (&cluster);
    char err [256] = "";
    assert_int_equal (cw_dnstool_cluster_from_json (&cluster, status, config, err, sizeof (err)), 0);
    assert_string_equal (cluster.name, "cluster1.example.com");
    assert_int_equal (cluster.this_peer, 2);
    assert_int_equal (cluster.type, CW_DNSTOOL_EDGE);
    assert_int_equal (cluster.peer_count, 3);
    assert_string_equal (cluster.peers [2].address, "expe3.example.com");
    assert_string_equal (cluster.peers [1].fqdn, "expe2.example.com");
    assert_int_equal (cluster.mapping_count, 1);
    assert_int_equal (cluster.ports [0], 4371);

    //  ... so records and firewall use them
    int rc;
    char *text = s_run (cw_dnstool_records, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (text, "_collab-edge._tls.example.com. 3600 IN SRV 10 10 8443 expe2.example.com.\n"));
    assert_non_null (strstr (text, "_collab-edge._tls.example.com. 3600 IN SRV 10 10 8443 expe3.example.com.\n"));
    free (text);
    text = s_run (cw_dnstool_firewall, &cluster, &rc);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (text, "elements = { 127.0.1.1, 127.0.1.3 }\n"));
    free (text);

    //  A disabled mapping is ignored; peers from config.list when the
    //  status has none
    json_decref (status);
    json_decref (config);
    config = json_loads ("{\"config\": [{\"key\": \"cluster.name\", \"value\": \"c.example.org\"},"
                         "  {\"key\": \"cluster.peers\", \"value\": [\"127.0.1.1\", \"p2.example.org\"]},"
                         "  {\"key\": \"cluster.address_mapping.enabled\", \"value\": \"off\"},"
                         "  {\"key\": \"cluster.address_mapping\", \"value\": [\"p2.example.org=127.0.1.2\"]}]}",
                         0, &jerr);
    assert_non_null (config);
    cw_dnstool_cluster_init (&cluster);
    assert_int_equal (cw_dnstool_cluster_from_json (&cluster, NULL, config, err, sizeof (err)), 0);
    assert_string_equal (cluster.name, "c.example.org");
    assert_int_equal (cluster.peer_count, 2);
    assert_int_equal (cluster.peers [1].index, 2);
    assert_int_equal (cluster.mapping_count, 0);
    json_decref (config);

    //  No peers at all: refused with a reason
    cw_dnstool_cluster_init (&cluster);
    status = json_loads ("{\"name\": \"c.example.org\", \"peers\": []}", 0, &jerr);
    assert_int_equal (cw_dnstool_cluster_from_json (&cluster, status, NULL, err, sizeof (err)), -1);
    assert_non_null (strstr (err, "no peers"));
    json_decref (status);
}

//  ---------------------------------------------------------------------
//  dns check

static void
test_check_usage (void **state)
{
    (void) state;
    cw_dnstool_cluster_t cluster;
    s_cluster3 (&cluster, CW_DNSTOOL_CORE);
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_int_equal (cw_dnstool_check (&cluster, "not a domain", NULL, false, out), 2);
    assert_int_equal (cw_dnstool_check (&cluster, NULL, NULL, false, out), 2);
    assert_int_equal (cw_dnstool_check (&cluster, "example.com", "not-an-address", false, out), 2);
    fclose (out);
    assert_string_equal (text, "");
    free (text);
}

//  The cluster of the zones served by test_dns_tools.py
static void
s_test_cluster (cw_dnstool_cluster_t *self, cw_dnstool_node_type_t type)
{
    cw_dnstool_cluster_init (self);
    snprintf (self->name, sizeof (self->name), "cluster.example.test");
    self->type = type;
    self->this_peer = 1;
    s_add_peer (self, "127.0.1.1", "peer1.example.test", NULL);
    s_add_peer (self, "peer2.example.test", NULL, NULL);
    s_add_peer (self, "127.0.1.3", NULL, NULL);    //  known only by IP
    s_add_mapping (self, "peer2.example.test", "127.0.1.2");
}

//  Runs dns check of DOMAIN, prints and returns the output
static char *
s_check (const cw_dnstool_cluster_t *cluster, const char *domain, bool json, int *rc)
{
    const char *server = getenv ("CW_DNS_SERVER");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    assert_non_null (out);
    *rc = cw_dnstool_check (cluster, domain, server, json, out);
    fclose (out);
    printf ("--- dns check %s%s (exit %d)\n%s", domain, json ? " --json" : "", *rc, text);
    fflush (stdout);
    return text;
}

//  The check_* tests need the DNS server of test_dns_tools.py
#define S_NEED_SERVER()                                                                                                \
    do {                                                                                                               \
        const char *server_ = getenv ("CW_DNS_SERVER");                                                                \
        if (!server_ || !*server_) {                                                                                   \
            print_message ("CW_DNS_SERVER not set: run tests/integration/test_dns_tools.py\n");                        \
            skip ();                                                                                                   \
        }                                                                                                              \
    } while (0)

static void
check_good_zone (void **state)
{
    (void) state;
    S_NEED_SERVER ();
    cw_dnstool_cluster_t cluster;
    int rc;
    for (int type = 0; type < 2; type++) {
        s_test_cluster (&cluster, type ? CW_DNSTOOL_EDGE : CW_DNSTOOL_CORE);
        char *text = s_check (&cluster, "good.test", false, &rc);
        assert_int_equal (rc, 0);
        assert_non_null (strstr (text, "OK              SRV    _sips._tcp.good.test: 3 peers on port 5061"));
        assert_non_null (strstr (text, "OK              SRV    _h323rs._udp.good.test: 3 peers on port 1719"));
        assert_non_null (strstr (text, "OK              NAPTR  good.test: SIP+D2U -> _sip._udp.good.test"));
        assert_non_null (strstr (text, "OK              A/AAAA peer2.example.test: resolves to 127.0.1.2"));
        assert_non_null (strstr (text, "OK              A/AAAA cw3.example.test: resolves to 127.0.1.3"));
        assert_true ((strstr (text, "_collab-edge._tls.good.test: 3 peers on port 8443") != NULL) == (type == 1));
        assert_non_null (strstr (text, "all records present and correct"));
        free (text);
    }
}

static void
check_bad_zone (void **state)
{
    (void) state;
    S_NEED_SERVER ();
    cw_dnstool_cluster_t cluster;
    s_test_cluster (&cluster, CW_DNSTOOL_EDGE);
    int rc;
    char *text = s_check (&cluster, "bad.test", false, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (
        strstr (text, "MISSING         SRV    _h323rs._udp.bad.test: no record; want 3 peers on port 1719"));
    assert_non_null (
        strstr (text,
                "WRONG-PORT      SRV    _sip._tcp.bad.test: peer 2 (peer2.example.test) is on port 5070, want 5060"));
    assert_non_null (strstr (text, "MISSING         SRV    _collab-edge._tls.bad.test: no record"));
    assert_non_null (strstr (text, "MISSING         NAPTR  bad.test: no SIP+D2U record"));
    assert_non_null (strstr (text, "OK              SRV    _sips._tcp.bad.test"));
    assert_non_null (strstr (text, "4 problems found"));
    free (text);

    //  The same as JSON
    text = s_check (&cluster, "bad.test", true, &rc);
    assert_int_equal (rc, 1);
    json_error_t jerr;
    json_t *body = json_loads (text, 0, &jerr);
    assert_non_null (body);
    assert_false (json_is_true (json_object_get (body, "ok")));
    assert_int_equal (json_integer_value (json_object_get (body, "problems")), 4);
    bool wrong_port = false, missing = false;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (body, "checks"), i, item) {
        const char *name = json_string_value (json_object_get (item, "name"));
        const char *status = json_string_value (json_object_get (item, "status"));
        if (strcmp (name, "_sip._tcp.bad.test") == 0 && strcmp (status, "wrong-port") == 0) {
            assert_int_equal (json_integer_value (json_object_get (item, "peer")), 2);
            wrong_port = true;
        }
        if (strcmp (name, "_h323rs._udp.bad.test") == 0 && strcmp (status, "missing") == 0)
            missing = true;
    }
    assert_true (wrong_port);
    assert_true (missing);
    json_decref (body);
    free (text);
}

static void
check_odd_zone (void **state)
{
    (void) state;
    S_NEED_SERVER ();
    cw_dnstool_cluster_t cluster;
    s_test_cluster (&cluster, CW_DNSTOOL_CORE);
    int rc;
    char *text = s_check (&cluster, "odd.test", false, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (
        strstr (text,
                "EXTRA-TARGET    SRV    _sips._tcp.odd.test: target rogue.example.test (port 5061) is not a peer"));
    assert_non_null (strstr (text, "PRIORITY-WEIGHT SRV    _sip._tcp.odd.test: priority/weight differ across peers"));
    assert_non_null (
        strstr (text,
                "WRONG-TARGET    SRV    _h323cs._tcp.odd.test: target rogue.example.test (port 1720) is not a peer;"
                " peer 3 (127.0.1.3, known only by IP) has no record"));
    assert_non_null (strstr (
        text, "WRONG-TARGET    NAPTR  odd.test: SIP+D2T points at _sip._tcp.elsewhere.test, want _sip._tcp.odd.test"));
    free (text);

    //  The DNS says peer 2 is 127.0.1.2; the mapping says otherwise
    snprintf (cluster.mappings [0].ip, sizeof (cluster.mappings [0].ip), "127.0.1.22");
    text = s_check (&cluster, "good.test", false, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (
        strstr (text,
                "WRONG-ADDRESS   A/AAAA peer2.example.test: resolves to 127.0.1.2; peer 2's address is 127.0.1.22"));
    assert_non_null (strstr (text, "1 problem found"));
    free (text);
}

static void
check_unknown_domain (void **state)
{
    (void) state;
    S_NEED_SERVER ();
    cw_dnstool_cluster_t cluster;
    s_test_cluster (&cluster, CW_DNSTOOL_CORE);
    int rc;
    char *text = s_check (&cluster, "nothing.test", false, &rc);
    assert_int_equal (rc, 1);
    assert_non_null (strstr (text, "MISSING         SRV    _sips._tcp.nothing.test: no record"));
    assert_non_null (strstr (text, "MISSING         NAPTR  nothing.test: no SIPS+D2T record"));
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_services_table),
        cmocka_unit_test (test_records_core),
        cmocka_unit_test (test_records_edge),
        cmocka_unit_test (test_records_domain_and_ipv6),
        cmocka_unit_test (test_records_refused),
        cmocka_unit_test (test_firewall_ipv4),
        cmocka_unit_test (test_firewall_ipv6_one_port),
        cmocka_unit_test (test_nft_check_refuses_garbage),
        cmocka_unit_test (test_from_json),
        cmocka_unit_test (test_check_usage),
        cmocka_unit_test (check_good_zone),
        cmocka_unit_test (check_bad_zone),
        cmocka_unit_test (check_odd_zone),
        cmocka_unit_test (check_unknown_domain),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
