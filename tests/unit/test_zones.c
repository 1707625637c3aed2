/*  test_zones.c - unit tests of the pure parts of the zones
    (actors/routing/zones.c, zones_dns.c): the check of a zone and its
    errors, neighbour addresses, the RFC 2782 order of SRV records (with a
    seeded random), the choice of NAPTR records, the DNS answer parser
    (TTLs, compressed names, the SOA of a negative answer), the TTL rules
    of the cache and the domain of an alias.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "zones_dns.h"

static json_t *
s_check_ok (const char *text)
{
    json_t *zone = json_loads (text, 0, NULL);
    assert_non_null (zone);
    json_t *normalized = NULL;
    char err [256] = "";
    int rc = cw_zones_check (zone, &normalized, err, sizeof err);
    if (rc)
        fail_msg ("%s refused: %s", text, err);
    json_decref (zone);
    return normalized;
}

static void
s_check_refused (const char *text, const char *expected)
{
    json_t *zone = json_loads (text, 0, NULL);
    assert_non_null (zone);
    json_t *normalized = NULL;
    char err [256] = "";
    assert_int_equal (cw_zones_check (zone, &normalized, err, sizeof err), -1);
    assert_null (normalized);
    if (!strstr (err, expected))
        fail_msg ("%s: '%s' does not say '%s'", text, err, expected);
    json_decref (zone);
}

static void
test_check (void **state)
{
    (void) state;
    json_t *zone = s_check_ok (
        "{\"name\": \"b\", \"type\": \"neighbour\", \"addresses\": \"192.0.2.1, 192.0.2.2:5070\"}");
    json_t *expected = json_loads ("{\"name\": \"b\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1\", "
                                   "\"192.0.2.2:5070\"], \"transport\": \"udp\", \"port\": 5060, \"keepalive_s\": 30}",
                                   0, NULL);
    assert_true (json_equal (zone, expected));
    json_decref (zone);
    json_decref (expected);
    zone = s_check_ok ("{\"name\": \"t\", \"type\": \"neighbour\", \"addresses\": [\"peer.example.com:5061\"], "
                       "\"transport\": \"tls\", \"keepalive_s\": \"60\"}");
    assert_int_equal (json_integer_value (json_object_get (zone, "port")), 5061);
    assert_int_equal (json_integer_value (json_object_get (zone, "keepalive_s")), 60);
    json_decref (zone);
    zone = s_check_ok ("{\"name\": \"d\", \"type\": \"dns\"}");
    assert_string_equal (json_string_value (json_object_get (zone, "transport")), "any");
    json_decref (zone);

    s_check_refused ("[]", "zone: a JSON object");
    s_check_refused ("{\"type\": \"dns\"}", "name: 1..64");
    s_check_refused ("{\"name\": \"LOCAL\", \"type\": \"dns\"}", "name: any name but 'local'");
    s_check_refused ("{\"name\": \"x\", \"type\": \"h323\"}", "type: neighbour | dns");
    s_check_refused ("{\"name\": \"x\", \"type\": \"dns\", \"transport\": \"sctp\"}",
                     "transport: udp | tcp | tls | any");
    s_check_refused (
        "{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1\"], \"transport\": \"any\"}",
        "transport: udp | tcp | tls");
    s_check_refused ("{\"name\": \"x\", \"type\": \"dns\", \"port\": 5060}", "port: not a field of a DNS zone");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\"}", "addresses: 1..16");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": []}", "addresses: 1..16");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1:0\"]}",
                     "addresses: '192.0.2.1:0' is not");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"a b\"]}", "addresses: 'a b' is not");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1\", \"192.0.2.1\"]}",
                     "listed twice");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1\"], \"port\": 70000}",
                     "port: 1..65535");
    s_check_refused ("{\"name\": \"x\", \"type\": \"neighbour\", \"addresses\": [\"192.0.2.1\"], \"keepalive_s\": 4}",
                     "keepalive_s: 5..3600");
}

static void
test_address_parse (void **state)
{
    (void) state;
    char host [128];
    uint16_t port;
    assert_int_equal (cw_zones_address_parse ("192.0.2.1", host, sizeof host, &port), 0);
    assert_string_equal (host, "192.0.2.1");
    assert_int_equal (port, 0);
    assert_int_equal (cw_zones_address_parse ("192.0.2.1:5070", host, sizeof host, &port), 0);
    assert_int_equal (port, 5070);
    assert_int_equal (cw_zones_address_parse ("[2001:db8::1]:5080", host, sizeof host, &port), 0);
    assert_string_equal (host, "2001:db8::1");
    assert_int_equal (port, 5080);
    assert_int_equal (cw_zones_address_parse ("2001:db8::1", host, sizeof host, &port), 0);
    assert_int_equal (port, 0);
    assert_int_equal (cw_zones_address_parse ("sip.example.com:5060", host, sizeof host, &port), 0);
    assert_string_equal (host, "sip.example.com");
    assert_int_equal (cw_zones_address_parse ("", host, sizeof host, &port), -1);
    assert_int_equal (cw_zones_address_parse ("host:", host, sizeof host, &port), -1);
    assert_int_equal (cw_zones_address_parse ("host:99999", host, sizeof host, &port), -1);
    assert_int_equal (cw_zones_address_parse ("bad_host!", host, sizeof host, &port), -1);
}

//  A seeded random (xorshift), so that the draws are the same every run
static uint32_t
s_random (void *rng)
{
    uint32_t *x = rng;
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static cw_dns_rr_t
s_srv (uint16_t priority, uint16_t weight, const char *target)
{
    cw_dns_rr_t rr;
    memset (&rr, 0, sizeof rr);
    rr.type = CW_DNS_SRV;
    rr.priority = priority;
    rr.weight = weight;
    rr.port = 5060;
    strcpy (rr.target, target);
    return rr;
}

static void
test_srv_order (void **state)
{
    (void) state;
    uint32_t seed = 12345;
    //  Priority first, whatever the weights
    cw_dns_rr_t srv [4] = { s_srv (30, 100, "c"), s_srv (10, 1, "a"), s_srv (20, 0, "b"), s_srv (40, 5, "d") };
    cw_zones_dns_srv_order (srv, 4, s_random, &seed);
    assert_string_equal (srv [0].target, "a");
    assert_string_equal (srv [1].target, "b");
    assert_string_equal (srv [2].target, "c");
    assert_string_equal (srv [3].target, "d");
    //  Within a priority: weight 90 first about 90% of the time
    int heavy_first = 0, zero_first = 0;
    for (int run = 0; run < 10000; run++) {
        cw_dns_rr_t pair [3] = { s_srv (10, 10, "light"), s_srv (10, 90, "heavy"), s_srv (5, 0, "top") };
        cw_zones_dns_srv_order (pair, 3, s_random, &seed);
        assert_string_equal (pair [0].target, "top");
        heavy_first += strcmp (pair [1].target, "heavy") == 0;
        cw_dns_rr_t zero [2] = { s_srv (1, 100, "weighted"), s_srv (1, 0, "zero") };
        cw_zones_dns_srv_order (zero, 2, s_random, &seed);
        zero_first += strcmp (zero [0].target, "zero") == 0;
    }
    assert_in_range (heavy_first, 8700, 9300);
    //  RFC 2782: a weight 0 record has a small chance (1 in 101 here)
    assert_in_range (zero_first, 40, 200);
    //  All weights 0: the order given
    cw_dns_rr_t zeros [3] = { s_srv (1, 0, "x"), s_srv (1, 0, "y"), s_srv (1, 0, "z") };
    cw_zones_dns_srv_order (zeros, 3, s_random, &seed);
    assert_string_equal (zeros [0].target, "x");
    assert_string_equal (zeros [2].target, "z");
}

static cw_dns_rr_t
s_naptr (uint16_t order, uint16_t preference, const char *flags, const char *service, const char *replacement)
{
    cw_dns_rr_t rr;
    memset (&rr, 0, sizeof rr);
    rr.type = CW_DNS_NAPTR;
    rr.order = order;
    rr.preference = preference;
    strcpy (rr.flags, flags);
    strcpy (rr.service, service);
    strcpy (rr.replacement, replacement);
    return rr;
}

static void
test_naptr_select (void **state)
{
    (void) state;
    cw_dns_rr_t naptr [6] = {
        s_naptr (20, 10, "s", "SIP+D2U", "_sip._udp.example.com"),
        s_naptr (10, 20, "s", "SIP+D2T", "_sip._tcp.example.com"),
        s_naptr (10, 10, "S", "SIPS+D2T", "_sips._tcp.example.com"),
        s_naptr (5, 10, "u", "E2U+sip", "!^.*$!sip:info@example.com!"),    //  not SIP NAPTR
        s_naptr (5, 10, "s", "SIP+D2S", "_sip._sctp.example.com"),         //  SCTP: no such transport here
        s_naptr (1, 1, "s", "SIP+D2U", ""),                                //  no replacement
    };
    size_t picked [6];
    size_t n = cw_zones_dns_naptr_select (naptr, 6, "any", picked, 6);
    assert_int_equal (n, 3);
    assert_int_equal (picked [0], 2);    //  order 10, preference 10
    assert_int_equal (picked [1], 1);    //  order 10, preference 20
    assert_int_equal (picked [2], 0);    //  order 20
    n = cw_zones_dns_naptr_select (naptr, 6, "udp", picked, 6);
    assert_int_equal (n, 1);
    assert_int_equal (picked [0], 0);
    n = cw_zones_dns_naptr_select (naptr, 6, "tls", picked, 6);
    assert_int_equal (n, 1);
    assert_int_equal (picked [0], 2);
    assert_string_equal (cw_zones_dns_naptr_transport ("sip+d2t"), "tcp");
    assert_null (cw_zones_dns_naptr_transport ("SIP+D2S"));
}

// ---------------------------------------------------------------------------
//  DNS answers written by hand

typedef struct {
    unsigned char data [1024];
    size_t len;
} s_msg_t;

static void
s_put (s_msg_t *m, const void *bytes, size_t len)
{
    memcpy (m->data + m->len, bytes, len);
    m->len += len;
}

static void
s_u16 (s_msg_t *m, uint16_t v)
{
    unsigned char b [2] = { (unsigned char) (v >> 8), (unsigned char) v };
    s_put (m, b, 2);
}

static void
s_u32 (s_msg_t *m, uint32_t v)
{
    s_u16 (m, (uint16_t) (v >> 16));
    s_u16 (m, (uint16_t) v);
}

static void
s_dname (s_msg_t *m, const char *name)
{
    while (*name) {
        const char *dot = strchr (name, '.');
        size_t len = dot ? (size_t) (dot - name) : strlen (name);
        unsigned char l = (unsigned char) len;
        s_put (m, &l, 1);
        s_put (m, name, len);
        name += len + (dot ? 1 : 0);
    }
    unsigned char zero = 0;
    s_put (m, &zero, 1);
}

//  A header and the question NAME/TYPE (the name at offset 12)
static void
s_header (s_msg_t *m, const char *name, uint16_t type, uint16_t answers, uint16_t authority)
{
    m->len = 0;
    s_u16 (m, 0x1234);
    s_u16 (m, 0x8180);
    s_u16 (m, 1);
    s_u16 (m, answers);
    s_u16 (m, authority);
    s_u16 (m, 0);
    s_dname (m, name);
    s_u16 (m, type);
    s_u16 (m, 1);
}

//  An RR whose owner is the question's name (a compression pointer)
static size_t
s_rr (s_msg_t *m, uint16_t type, uint32_t ttl)
{
    s_u16 (m, 0xc00c);
    s_u16 (m, type);
    s_u16 (m, 1);
    s_u32 (m, ttl);
    s_u16 (m, 0);    //  rdlength, set by s_rr_end
    return m->len;
}

static void
s_rr_end (s_msg_t *m, size_t start)
{
    uint16_t len = (uint16_t) (m->len - start);
    m->data [start - 2] = (unsigned char) (len >> 8);
    m->data [start - 1] = (unsigned char) len;
}

static void
test_parse (void **state)
{
    (void) state;
    s_msg_t m;
    cw_dns_rr_t rr [4];
    uint32_t ttl;
    //  SRV: two records, the smallest TTL wins
    s_header (&m, "_sip._udp.example.com", CW_DNS_SRV, 2, 0);
    size_t at = s_rr (&m, CW_DNS_SRV, 300);
    s_u16 (&m, 10);
    s_u16 (&m, 60);
    s_u16 (&m, 5070);
    s_dname (&m, "sip1.example.com");
    s_rr_end (&m, at);
    at = s_rr (&m, CW_DNS_SRV, 120);
    s_u16 (&m, 20);
    s_u16 (&m, 0);
    s_u16 (&m, 5071);
    s_dname (&m, "sip2.example.com");
    s_rr_end (&m, at);
    assert_int_equal (cw_zones_dns_parse (m.data, (int) m.len, CW_DNS_SRV, rr, 4, &ttl), 2);
    assert_int_equal (ttl, 120);
    assert_int_equal (rr [0].priority, 10);
    assert_int_equal (rr [0].weight, 60);
    assert_int_equal (rr [0].port, 5070);
    assert_string_equal (rr [0].target, "sip1.example.com");
    assert_string_equal (rr [1].target, "sip2.example.com");
    //  Cut short: unreadable
    assert_int_equal (cw_zones_dns_parse (m.data, (int) m.len - 3, CW_DNS_SRV, rr, 4, &ttl), -1);
    //  NAPTR
    s_header (&m, "example.com", CW_DNS_NAPTR, 1, 0);
    at = s_rr (&m, CW_DNS_NAPTR, 3600);
    s_u16 (&m, 10);
    s_u16 (&m, 50);
    s_put (&m, "\x01s", 2);
    s_put (&m, "\x07SIP+D2T", 8);
    s_put (&m, "\x00", 1);
    s_dname (&m, "_sip._tcp.example.com");
    s_rr_end (&m, at);
    assert_int_equal (cw_zones_dns_parse (m.data, (int) m.len, CW_DNS_NAPTR, rr, 4, &ttl), 1);
    assert_int_equal (rr [0].order, 10);
    assert_int_equal (rr [0].preference, 50);
    assert_string_equal (rr [0].flags, "s");
    assert_string_equal (rr [0].service, "SIP+D2T");
    assert_string_equal (rr [0].replacement, "_sip._tcp.example.com");
    //  A, beside a record of another type
    s_header (&m, "sip1.example.com", CW_DNS_A, 2, 0);
    at = s_rr (&m, 5 /* CNAME */, 10);
    s_dname (&m, "other.example.com");
    s_rr_end (&m, at);
    at = s_rr (&m, CW_DNS_A, 45);
    s_put (&m, "\xc0\x00\x02\x0b", 4);
    s_rr_end (&m, at);
    assert_int_equal (cw_zones_dns_parse (m.data, (int) m.len, CW_DNS_A, rr, 4, &ttl), 1);
    assert_int_equal (ttl, 45);
    char text [64];
    assert_int_equal (sa_ntop (&rr [0].addr, text, sizeof text), 0);
    assert_string_equal (text, "192.0.2.11");
    //  No record, an SOA in the authority section: its TTL, at most its MINIMUM
    s_header (&m, "nothing.example.com", CW_DNS_NAPTR, 0, 1);
    at = s_rr (&m, 6 /* SOA */, 900);
    s_dname (&m, "ns.example.com");
    s_dname (&m, "admin.example.com");
    s_u32 (&m, 1);
    s_u32 (&m, 3600);
    s_u32 (&m, 600);
    s_u32 (&m, 86400);
    s_u32 (&m, 300);
    s_rr_end (&m, at);
    assert_int_equal (cw_zones_dns_parse (m.data, (int) m.len, CW_DNS_NAPTR, rr, 4, &ttl), 0);
    assert_int_equal (ttl, 300);
    assert_int_equal (cw_zones_dns_parse (m.data, 5, CW_DNS_NAPTR, rr, 4, &ttl), -1);
}

static void
test_cache_rules (void **state)
{
    (void) state;
    assert_int_equal (cw_zones_dns_ttl (0), 1);
    assert_int_equal (cw_zones_dns_ttl (60), 60);
    assert_int_equal (cw_zones_dns_ttl (86400), 3600);
    assert_true (cw_zones_dns_fresh (10000, 60, 10000));
    assert_true (cw_zones_dns_fresh (10000, 60, 69999));
    assert_false (cw_zones_dns_fresh (10000, 60, 70000));
    assert_false (cw_zones_dns_fresh (10000, 1, 11000));
    assert_false (cw_zones_dns_fresh (10000, 60, 9999));    //  a clock that went back
}

static void
test_domain (void **state)
{
    (void) state;
    char domain [64];
    assert_int_equal (cw_zones_dns_domain ("alice@Example.COM", domain, sizeof domain), 0);
    assert_string_equal (domain, "example.com");
    assert_int_equal (cw_zones_dns_domain ("sip:bob@example.com:5070;transport=tcp", domain, sizeof domain), 0);
    assert_string_equal (domain, "example.com");
    assert_int_equal (cw_zones_dns_domain ("example.org.", domain, sizeof domain), 0);
    assert_string_equal (domain, "example.org");
    assert_int_equal (cw_zones_dns_domain ("carol@[2001:db8::1]:5060", domain, sizeof domain), 0);
    assert_string_equal (domain, "2001:db8::1");
    assert_int_equal (cw_zones_dns_domain ("dave@", domain, sizeof domain), -1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_check),     cmocka_unit_test (test_address_parse),
        cmocka_unit_test (test_srv_order), cmocka_unit_test (test_naptr_select),
        cmocka_unit_test (test_parse),     cmocka_unit_test (test_cache_rules),
        cmocka_unit_test (test_domain),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
