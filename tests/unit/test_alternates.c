/*  test_alternates.c - unit tests of the document of
    /alternatesconfiguration.xml (cw_alternates_xml): only cluster-scope keys,
    sorted whatever the order of config.list; values as text, escaped;
    sealed secrets without their ciphertext; the peer list, this system
    and the alternates from cluster.status; a node not in a cluster.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cw_alternates.h"

static char *
s_xml (const char *config, const char *cluster)
{
    json_t *c = json_loads (config, 0, NULL);
    json_t *s = json_loads (cluster, 0, NULL);
    assert_non_null (c);
    assert_non_null (s);
    char *text = cw_alternates_xml (c, s);
    json_decref (c);
    json_decref (s);
    assert_non_null (text);
    return text;
}

static const char *s_config = "{\"config\": ["
                              " {\"key\": \"sip.mode\", \"value\": \"on\", \"scope\": \"cluster\"},"
                              " {\"key\": \"system.name\", \"value\": \"peer2\", \"scope\": \"peer\"},"
                              " {\"key\": \"h323.ttl_s\", \"value\": 3600, \"scope\": \"cluster\"},"
                              " {\"key\": \"x.list\", \"value\": [\"a<b\", \"c&d\"], \"scope\": \"cluster\"},"
                              " {\"key\": \"x.secret\", \"value\": \"sealed:QUJD\", \"scope\": \"cluster\"},"
                              " {\"key\": \"dns.domain\", \"value\": \"example.com\", \"scope\": \"peer\"}]}";

static void
test_cluster (void **state)
{
    (void) state;
    char *text = s_xml (s_config, "{\"name\": \"c1.example.com\", \"primary\": 1, \"this_peer\": 2,"
                                  " \"ip_version\": 4, \"tls_verify\": \"permissive\", \"peers\": ["
                                  " {\"index\": 1, \"address\": \"127.0.1.1\", \"state\": \"active\"},"
                                  " {\"index\": 2, \"address\": \"127.0.1.2\", \"state\": \"this-system\"},"
                                  " {\"index\": 3, \"address\": \"127.0.1.3\", \"state\": \"failed\"}]}");
    const char *expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                           "<AlternatesConfiguration version=\"1\">\n"
                           "  <Cluster>\n"
                           "    <Name>c1.example.com</Name>\n"
                           "    <PrimaryIndex>1</PrimaryIndex>\n"
                           "    <IpVersion>4</IpVersion>\n"
                           "    <TlsVerify>permissive</TlsVerify>\n"
                           "    <Peers>\n"
                           "      <Peer index=\"1\">127.0.1.1</Peer>\n"
                           "      <Peer index=\"2\">127.0.1.2</Peer>\n"
                           "      <Peer index=\"3\">127.0.1.3</Peer>\n"
                           "    </Peers>\n"
                           "  </Cluster>\n"
                           "  <Configuration>\n"
                           "    <Key name=\"h323.ttl_s\">3600</Key>\n"
                           "    <Key name=\"sip.mode\">on</Key>\n"
                           "    <Key name=\"x.list\">[&quot;a&lt;b&quot;,&quot;c&amp;d&quot;]</Key>\n"
                           "    <Key name=\"x.secret\" sealed=\"true\"/>\n"
                           "  </Configuration>\n"
                           "  <ThisSystem index=\"2\">127.0.1.2</ThisSystem>\n"
                           "  <Alternates>\n"
                           "    <Alternate index=\"1\">127.0.1.1</Alternate>\n"
                           "    <Alternate index=\"3\">127.0.1.3</Alternate>\n"
                           "  </Alternates>\n"
                           "</AlternatesConfiguration>\n";
    assert_string_equal (text, expected);
    free (text);
}

static void
test_alone (void **state)
{
    (void) state;
    char *text = s_xml ("{\"config\": [{\"key\": \"h323.mode\", \"value\": \"on\", \"scope\": \"cluster\"},"
                        " {\"key\": \"a.b\", \"value\": \"x\\n<y>\\u0001\", \"scope\": \"cluster\"}]}",
                        "{\"name\": \"\", \"primary\": 1, \"this_peer\": 0, \"ip_version\": 4,"
                        " \"tls_verify\": \"permissive\", \"peers\": []}");
    assert_non_null (strstr (text, "  <Cluster>\n    <Name></Name>\n"));
    assert_null (strstr (text, "<Peers>"));
    assert_non_null (
        strstr (text, "    <Key name=\"a.b\">x&#10;&lt;y&gt;</Key>\n    <Key name=\"h323.mode\">on</Key>\n"));
    assert_non_null (strstr (text, "  <ThisSystem/>\n  <Alternates/>\n</AlternatesConfiguration>\n"));
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_cluster),
        cmocka_unit_test (test_alone),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
