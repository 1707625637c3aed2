/*  test_webadmin_api.c - unit tests of the REST API's error statuses
    (api_status_for, with the texts the actors really answer) and of the
    Prometheus text of /metrics (metrics_text) for replies of a cluster of
    two, and with the actors that did not answer left out.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "api.h"
#include "metrics.h"

static void
test_status_for (void **state)
{
    (void) state;
    assert_int_equal (api_status_for ("h323.ttl_s: 5 is out of range; allowed: integer 60..65534"), 400);
    assert_int_equal (api_status_for ("unknown key 'no.such_key'"), 404);
    assert_int_equal (api_status_for ("no alarm with uuid 'x'"), 404);
    assert_int_equal (api_status_for ("no actor named 'x'; actors are: alarms"), 404);
    assert_int_equal (api_status_for ("webadmin.admin.remove: no account 'carol'"), 404);
    assert_int_equal (api_status_for ("no installed key with serial 1 (see causeway license list)"), 404);
    assert_int_equal (api_status_for ("cluster.add: this node is peer 2, not the configuration primary; run it on "
                                      "the primary, peer 1 (127.0.1.1)"),
                      409);
    assert_int_equal (api_status_for ("h323.ttl_s: cluster-scope changes must be made on the configuration primary"),
                      409);
    assert_int_equal (api_status_for ("cluster.token runs on the configuration primary, peer 1 (127.0.1.1); this "
                                      "is peer 2"),
                      409);
    assert_int_equal (api_status_for ("cluster.disband: this node is not in a cluster; form one"), 409);
    assert_int_equal (api_status_for ("webadmin.admin.add: account 'carol' already exists"), 409);
    assert_int_equal (api_status_for ("actor 'tms' is not running (state stopped)"), 503);
    assert_int_equal (api_status_for ("no actor serves this command now (is it running?)"), 503);
    assert_int_equal (api_status_for ("timed out"), 503);
    assert_int_equal (api_status_for ("busy: 4096 requests in flight"), 503);
    assert_int_equal (api_status_for ("unknown command 'tms.status'"), 503);
    assert_int_equal (api_status_for ("request too large: 2000000 bytes, the limit is 1048576"), 413);
    assert_int_equal (api_status_for (NULL), 500);
}

static char *
s_text (const char *replies)
{
    json_t *json = json_loads (replies, 0, NULL);
    assert_non_null (json);
    char *text = metrics_text (json);
    json_decref (json);
    assert_non_null (text);
    return text;
}

static void
test_metrics_cluster (void **state)
{
    (void) state;
    char *text = s_text (
        "{\"status\": {\"uptime_s\": 7, \"actors\": [{\"name\": \"tms\", \"state\": \"running\", \"restarts\": 2}],"
        " \"malformed\": {\"control\": 1, \"broker\": 0}},"
        " \"alarms.list\": {\"alarms\": [{\"severity\": \"warning\", \"state\": \"raised\"},"
        " {\"severity\": \"critical\", \"state\": \"acknowledged\"}, {\"severity\": \"warning\", \"state\": "
        "\"raised\"}]},"
        " \"cluster.status\": {\"peers\": [{\"index\": 1, \"address\": \"127.0.1.1\", \"state\": \"this-system\","
        " \"lag\": 0, \"applied_seq\": 42, \"rtt_ms\": null}, {\"index\": 2, \"address\": \"127.0.1.2\", "
        "\"state\": \"failed\", \"lag\": 3, \"applied_seq\": 39, \"rtt_ms\": 0.25}]},"
        " \"routing.status\": {\"requests\": {\"OPTIONS\": 12}, \"registrar\": {\"bindings\": 5, \"per_peer\": "
        "{\"1\": 3, \"2\": 2}}, \"calls\": {\"this_peer\": 4, \"per_peer\": {\"1\": 4}}},"
        " \"license.status\": {\"types\": {\"room_systems\": {\"pool\": 60, \"used\": 3, \"free\": 57}}}}");
    assert_non_null (strstr (text, "causeway_uptime_seconds 7\n"));
    assert_non_null (strstr (text, "causeway_actor_restarts_total{actor=\"tms\"} 2\n"));
    assert_non_null (strstr (text, "causeway_malformed_total{socket=\"control\"} 1\n"));
    assert_non_null (strstr (text, "causeway_actor_answering{actor=\"routing\"} 1\n"));
    assert_non_null (strstr (text, "causeway_alarms{severity=\"warning\"} 2\n"));
    assert_non_null (strstr (text, "causeway_alarms{severity=\"critical\"} 1\n"));
    assert_non_null (strstr (text, "causeway_alarms{severity=\"info\"} 0\n"));
    assert_non_null (strstr (text, "causeway_alarms_by_state{state=\"acknowledged\"} 1\n"));
    assert_non_null (strstr (text, "causeway_cluster_peers_alive 1\n"));
    assert_non_null (strstr (text, "causeway_cluster_peer_up{peer=\"2\",address=\"127.0.1.2\"} 0\n"));
    assert_non_null (strstr (text, "causeway_replication_lag{peer=\"2\",address=\"127.0.1.2\"} 3\n"));
    assert_non_null (strstr (text, "causeway_replication_applied_seq{peer=\"1\",address=\"127.0.1.1\"} 42\n"));
    assert_non_null (strstr (text, "causeway_cluster_peer_rtt_seconds{peer=\"2\",address=\"127.0.1.2\"} 0.000250\n"));
    //  No RTT is not an RTT of 0
    assert_null (strstr (text, "causeway_cluster_peer_rtt_seconds{peer=\"1\""));
    assert_non_null (strstr (text, "causeway_sip_registrations 5\n"));
    assert_non_null (strstr (text, "causeway_sip_registrations_by_peer{peer=\"2\"} 2\n"));
    assert_non_null (strstr (text, "causeway_sip_calls 4\n"));
    assert_non_null (strstr (text, "causeway_sip_requests_total{method=\"OPTIONS\"} 12\n"));
    assert_non_null (strstr (text, "causeway_licenses_free{kind=\"room_systems\"} 57\n"));
    assert_non_null (strstr (text, "# TYPE causeway_licenses_pool gauge\n"));
    free (text);
}

static void
test_metrics_left_out (void **state)
{
    (void) state;
    char *text = s_text ("{\"status\": {\"uptime_s\": 1, \"actors\": [{\"name\": \"a\\\"b\", \"state\": "
                         "\"running\", \"restarts\": 0}]}}");
    assert_non_null (strstr (text, "causeway_actor_answering{actor=\"alarms\"} 0\n"));
    assert_non_null (strstr (text, "causeway_actor_answering{actor=\"licensing\"} 0\n"));
    assert_null (strstr (text, "causeway_alarms"));
    assert_null (strstr (text, "causeway_cluster_"));
    assert_null (strstr (text, "causeway_sip_"));
    assert_null (strstr (text, "causeway_licenses_"));
    //  Label values escaped
    assert_non_null (strstr (text, "causeway_actor_restarts_total{actor=\"a\\\"b\"} 0\n"));
    free (text);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_status_for),
        cmocka_unit_test (test_metrics_cluster),
        cmocka_unit_test (test_metrics_left_out),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
