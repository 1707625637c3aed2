/*  test_cluster_alarms.c - unit tests of the cluster alarm evaluation and
    the requirement check of `cluster check` (the rule tables of
    actors/replication/cluster/cluster_alarms.c).

    Each test builds a view by hand: a healthy three-peer cluster (this peer
    is peer 1, the primary), then adds one cause and checks that exactly the
    expected alarm (id, subject, detail) appears, and that it goes when the
    cause goes. Also: the peer-list digest against independently computed
    SHA-256 values, the diff of two evaluations, `cluster check`, that
    every id the evaluation can return has a catalogue row, and, row by
    row of the alarm table, a view that raises it and one that clears it.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_alarms.h"
#include "cw_alarm.h"

//  ---------------------------------------------------------------------
//  Helpers

static cw_cluster_view_t s_view;
static cw_alarm_want_t s_out [CW_CLUSTER_ALARMS_MAX];
static int s_count;

static void
s_settings (cw_cluster_settings_t *s, int peers)
{
    memset (s, 0, sizeof *s);
    strcpy (s->name, "cluster1.example.com");
    s->primary = peers ? 1 : 0;
    s->ip_version = 4;
    strcpy (s->tls_verify, "permissive");
    for (int i = 0; i < peers; i++)
        snprintf (s->peers [i], sizeof s->peers [i], "127.0.1.%d", i + 1);
    s->peer_count = peers;
}

//  A healthy cluster of PEERS peers; this peer is peer 1, the primary.
static void
s_healthy (int peers)
{
    cw_cluster_view_t *v = &s_view;
    memset (v, 0, sizeof *v);
    s_settings (&v->effective, peers);
    v->stored = v->effective;
    strcpy (v->peering_address, "127.0.1.1");
    v->this_peer = peers ? 1 : 0;
    v->clustered = peers > 0;
    v->is_primary = peers > 0;
    strcpy (v->node_type, "core");
    strcpy (v->version, "1.2.0");
    v->h323_mode = true;
    v->clock_synced = true;
    v->ntp_configured = true;
    v->dns_server_count = 1;
    char digest [65];
    cw_cluster_peers_digest (&v->effective, digest);
    for (int i = 0; i < peers; i++) {
        cw_peer_view_t *p = &v->peers [i];
        p->index = i + 1;
        strcpy (p->address, v->effective.peers [i]);
        strcpy (p->ip, v->effective.peers [i]);
        p->is_self = i == 0;
        p->alive = i != 0;
        p->ever_seen = i != 0;
        strcpy (p->certificate, "ok");
        p->rtt_ms = i == 0 ? -1 : 1.5;
        strcpy (p->version, "1.2.0");
        strcpy (p->type, "core");
        snprintf (p->system_name, sizeof p->system_name, "peer%d", i + 1);
        strcpy (p->dns_domain, "example.com");
        snprintf (p->dns_hostname, sizeof p->dns_hostname, "peer%d", i + 1);
        strcpy (p->cluster_name, "cluster1.example.com");
        p->primary = 1;
        p->ip_version = 4;
        strcpy (p->tls_verify, "permissive");
        strcpy (p->peers_digest, digest);
        p->h323_mode = true;
        p->clock_synced = true;
    }
}

static int
s_eval (void)
{
    memset (s_out, 0x5a, sizeof s_out);
    s_count = cw_cluster_alarms_evaluate (&s_view, s_out, CW_CLUSTER_ALARMS_MAX);
    assert_true (s_count >= 0);
    //  sorted by id, unique by (id, subject), valid UTF-8, in the catalogue
    for (int i = 0; i < s_count; i++) {
        if (i > 0)
            assert_true (s_out [i - 1].id <= s_out [i].id);
        for (int j = 0; j < i; j++)
            assert_false (s_out [j].id == s_out [i].id && strcmp (s_out [j].subject, s_out [i].subject) == 0);
        json_t *text = json_string (s_out [i].detail);
        assert_non_null (text);
        json_decref (text);
        assert_true (strlen (s_out [i].detail) > 0);
        assert_non_null (cw_alarm_lookup (s_out [i].id));
    }
    return s_count;
}

static const cw_alarm_want_t *
s_find (int id, const char *subject)
{
    for (int i = 0; i < s_count; i++)
        if (s_out [i].id == id && strcmp (s_out [i].subject, subject) == 0)
            return &s_out [i];
    return NULL;
}

//  Print what was raised (for failing tests).
static void
s_dump (void)
{
    for (int i = 0; i < s_count; i++)
        print_message ("  %d [%s] %s\n", s_out [i].id, s_out [i].subject, s_out [i].detail);
}

//  Exactly one alarm: ID about SUBJECT, its detail containing each of the
//  NULL-terminated substrings.
static void
s_expect_only (int id, const char *subject, ...)
{
    s_eval ();
    if (s_count != 1 || !s_find (id, subject)) {
        s_dump ();
        fail_msg ("expected only %d [%s], got %d alarms", id, subject, s_count);
    }
    va_list args;
    va_start (args, subject);
    const char *part;
    while ((part = va_arg (args, const char *))) {
        if (!strstr (s_out [0].detail, part))
            fail_msg ("detail '%s' lacks '%s'", s_out [0].detail, part);
    }
    va_end (args);
}

static void
s_expect_none (void)
{
    s_eval ();
    if (s_count != 0) {
        s_dump ();
        fail_msg ("expected no alarm, got %d", s_count);
    }
}

//  ---------------------------------------------------------------------
//  Not clustered

static void
test_not_clustered (void **state)
{
    (void) state;
    s_healthy (0);
    s_expect_none ();
    //  Causes that only matter in a cluster raise nothing
    s_view.h323_mode = false;
    s_view.clock_synced = false;
    s_view.this_peer = 0;
    s_view.effective.name [0] = 0;
    s_view.stored.name [0] = 0;
    s_view.replication_error [0] = 0;
    s_expect_none ();

    //  New clustering settings stored, not yet in effect: restart required
    s_settings (&s_view.stored, 2);
    s_expect_only (20007, "", "cluster.peers '' -> '127.0.1.1,127.0.1.2'", "cluster.primary 0 -> 1", "causeway restart",
                   NULL);
    s_view.stored = s_view.effective;
    s_expect_none ();

    //  Only the TLS mode differs: 20020 instead
    strcpy (s_view.stored.tls_verify, "enforce");
    s_expect_only (20020, "", "cluster.tls_verify permissive -> enforce", NULL);
    //  TLS and something else: 20007, naming both
    s_view.stored.ip_version = 6;
    s_expect_only (20007, "", "cluster.tls_verify permissive -> enforce", "cluster.ip_version 4 -> 6", NULL);
    s_view.stored = s_view.effective;

    s_view.factory_reset_pending = true;
    s_expect_only (20036, "", "factory defaults", NULL);
    s_view.factory_reset_pending = false;
    s_expect_none ();
}

//  ---------------------------------------------------------------------
//  Clustered: the healthy cluster, then one cause at a time

static void
test_healthy (void **state)
{
    (void) state;
    for (int peers = 1; peers <= 6; peers++) {
        s_healthy (peers);
        s_expect_none ();
    }
    assert_int_equal (cw_cluster_alarms_evaluate (NULL, s_out, 4), -1);
    assert_int_equal (cw_cluster_alarms_evaluate (&s_view, NULL, 4), -1);
}

static void
test_node_settings (void **state)
{
    (void) state;
    s_healthy (3);
    //  20019: no cluster name (peers report the same empty name)
    s_view.effective.name [0] = 0;
    s_view.stored.name [0] = 0;
    for (int i = 0; i < 3; i++)
        s_view.peers [i].cluster_name [0] = 0;
    s_expect_only (20019, "", "cluster.name", NULL);
    s_healthy (3);
    s_expect_none ();

    //  20015: not in the list
    s_view.this_peer = 0;
    s_view.peers [0].is_self = false;
    s_view.peers [0].alive = true;
    strcpy (s_view.peering_address, "127.0.1.9");
    s_expect_only (20015, "", "127.0.1.9", "127.0.1.1, 127.0.1.2, 127.0.1.3", NULL);
    s_healthy (3);

    //  20018: H.323 mode off
    s_view.h323_mode = false;
    s_expect_only (20018, "", "h323.mode", NULL);
    s_view.h323_mode = true;
    s_expect_none ();

    //  20007 / 20020 / 20036 also when clustered
    s_view.stored.primary = 2;
    s_expect_only (20007, "", "cluster.primary 1 -> 2", NULL);
    s_view.stored.primary = 1;
    strcpy (s_view.stored.tls_verify, "enforce");
    s_expect_only (20020, "", "permissive -> enforce", NULL);
    strcpy (s_view.stored.tls_verify, "permissive");
    s_view.stored.peer_count = 0;
    memset (s_view.stored.peers, 0, sizeof s_view.stored.peers);
    s_view.factory_reset_pending = true;
    //  the pending reset, not a plain "restart required"
    s_expect_only (20036, "", "127.0.1.1,127.0.1.2,127.0.1.3", NULL);
    s_view.factory_reset_pending = false;
    s_view.stored = s_view.effective;
    s_expect_none ();
}

static void
test_invalid_settings (void **state)
{
    (void) state;
    s_healthy (3);
    //  primary outside the list (peers agree on it, so only 20003)
    s_view.effective.primary = s_view.stored.primary = 4;
    for (int i = 0; i < 3; i++)
        s_view.peers [i].primary = 4;
    s_view.is_primary = false;
    s_expect_only (20003, "", "cluster.primary is 4, outside 1..3", NULL);
    s_healthy (3);

    //  a gap
    s_view.effective.peers [1][0] = 0;
    s_view.peers [1].address [0] = 0;
    s_view.stored = s_view.effective;
    for (int i = 0; i < 3; i++)
        cw_cluster_peers_digest (&s_view.effective, s_view.peers [i].peers_digest);
    //  the empty slot gets no per-peer alarm, even when "dead"
    s_view.peers [1].alive = false;
    s_expect_only (20003, "", "peer 2 address is empty but peer 3 is set", NULL);
    s_healthy (3);

    //  duplicate addresses: one alarm per (id, subject)
    strcpy (s_view.effective.peers [2], "127.0.1.2");
    strcpy (s_view.peers [2].address, "127.0.1.2");
    s_view.stored = s_view.effective;
    s_view.peers [1].alive = false;
    s_view.peers [2].alive = false;
    s_eval ();
    assert_non_null (strstr (s_find (20003, "")->detail, "same address 127.0.1.2"));
    const cw_alarm_want_t *dead = s_find (20004, "127.0.1.2");
    assert_non_null (dead);
    assert_non_null (strstr (dead->detail, "peer 2 (127.0.1.2)"));
    assert_non_null (strstr (dead->detail, "peer 3 (127.0.1.2)"));
    s_healthy (3);

    //  an IPv6 literal in an IPv4 cluster
    strcpy (s_view.effective.peers [2], "::1");
    strcpy (s_view.peers [2].address, "::1");
    s_view.stored = s_view.effective;
    s_view.peers [2].alive = false;
    s_eval ();
    assert_non_null (strstr (s_find (20003, "")->detail, "peer 3 address ::1 is IPv6"));

    //  cw_cluster_settings_check alone
    char err [512];
    cw_cluster_settings_t s;
    s_settings (&s, 2);
    assert_int_equal (cw_cluster_settings_check (&s, err, sizeof err), 0);
    assert_string_equal (err, "");
    strcpy (s.tls_verify, "strict");
    s.ip_version = 5;
    assert_int_equal (cw_cluster_settings_check (&s, err, sizeof err), -1);
    assert_non_null (strstr (err, "cluster.tls_verify is 'strict'"));
    assert_non_null (strstr (err, "cluster.ip_version is 5"));
    s_settings (&s, 0);
    assert_int_equal (cw_cluster_settings_check (&s, err, sizeof err), -1);
}

static void
test_peer_links (void **state)
{
    (void) state;
    s_healthy (3);
    //  20004: a dead peer, never seen
    s_view.peers [2].alive = false;
    s_view.peers [2].ever_seen = false;
    s_expect_only (20004, "127.0.1.3", "peer 3 (127.0.1.3) not heard from", NULL);
    //  seen before, now silent, TCP failing too: 20004 + 20021
    s_view.peers [2].ever_seen = true;
    s_view.peers [2].tcp_failing = true;
    strcpy (s_view.peers [2].tcp_error, "Connection refused");
    s_eval ();
    assert_int_equal (s_count, 2);
    assert_non_null (strstr (s_find (20004, "127.0.1.3")->detail, "stopped sending heartbeats"));
    assert_non_null (strstr (s_find (20021, "127.0.1.3")->detail, "Connection refused"));
    assert_non_null (strstr (s_find (20021, "127.0.1.3")->detail, "peer 3 (127.0.1.3)"));
    s_healthy (3);
    s_expect_none ();

    //  alive but joining: 20004 expected
    s_view.peers [1].joining = true;
    s_expect_only (20004, "127.0.1.2", "joining", NULL);
    s_view.peers [1].joining = false;

    //  20006: TLS failing, detail = its reason
    s_view.peers [1].tls_failing = true;
    strcpy (s_view.peers [1].tls_error, "certificate SAN does not contain peer2.example.com");
    s_expect_only (20006, "127.0.1.2", "peer 2 (127.0.1.2)", "SAN does not contain peer2.example.com", NULL);
    s_healthy (3);

    //  20005: the address does not resolve
    s_view.peers [1].alive = true;
    strcpy (s_view.peers [1].resolve_error, "Name or service not known");
    s_expect_only (20005, "127.0.1.2", "Name or service not known", NULL);
    s_healthy (3);

    //  The own slot never gets link alarms
    s_view.peers [0].alive = false;
    s_view.peers [0].tcp_failing = true;
    s_view.peers [0].tls_failing = true;
    s_view.peers [0].rtt_ms = 500;
    s_view.peers [0].clock_offset_ms = 100000;
    strcpy (s_view.peers [0].type, "edge");
    strcpy (s_view.peers [0].version, "0.1");
    s_view.peers [0].primary = 3;
    s_expect_none ();
    //  even when only this_peer says which slot is ours
    s_view.peers [0].is_self = false;
    s_expect_none ();
}

static void
test_primary (void **state)
{
    (void) state;
    //  This peer is a subordinate (peer 2); the primary is peer 1
    s_healthy (3);
    s_view.this_peer = 2;
    s_view.is_primary = false;
    s_view.peers [0].is_self = false;
    s_view.peers [0].alive = true;
    s_view.peers [0].rtt_ms = 1;
    s_view.peers [1].is_self = true;
    s_view.peers [1].alive = false;
    s_expect_none ();

    //  20016: the primary is dead (and 20004 about it)
    s_view.peers [0].alive = false;
    s_eval ();
    assert_int_equal (s_count, 2);
    assert_non_null (s_find (20004, "127.0.1.1"));
    assert_non_null (strstr (s_find (20016, "")->detail, "peer 1 (127.0.1.1)"));
    s_view.peers [0].alive = true;
    s_expect_none ();
    //  The primary itself never raises 20016
    s_healthy (3);
    s_view.peers [2].alive = false;
    s_eval ();
    assert_null (s_find (20016, ""));

    //  20017: an alive peer has another primary index
    s_healthy (3);
    s_view.peers [2].primary = 2;
    s_expect_only (20017, "127.0.1.3", "peer 3 (127.0.1.3) has configuration primary 2", NULL);
    //  a dead peer's stale values raise no mismatch
    s_view.peers [2].alive = false;
    s_eval ();
    assert_null (s_find (20017, "127.0.1.3"));
}

static void
test_mismatches (void **state)
{
    (void) state;
    s_healthy (3);
    //  20024: peer list digest differs
    strcpy (s_view.peers [1].peers_digest, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    s_expect_only (20024, "127.0.1.2", "peer 2 (127.0.1.2)", "127.0.1.1,127.0.1.2,127.0.1.3", NULL);
    s_healthy (3);

    //  20012: cluster name or IP version; case of the name does not matter
    strcpy (s_view.peers [2].cluster_name, "CLUSTER1.example.com");
    s_expect_none ();
    strcpy (s_view.peers [2].cluster_name, "other.example.com");
    s_expect_only (20012, "127.0.1.3", "'other.example.com'", NULL);
    s_view.peers [2].ip_version = 6;
    s_expect_only (20012, "127.0.1.3", "'other.example.com'", "IP version 6", NULL);
    s_healthy (3);

    //  20020 per peer: TLS mode differs
    strcpy (s_view.peers [1].tls_verify, "enforce");
    s_expect_only (20020, "127.0.1.2", "enforce", "permissive", NULL);
    s_healthy (3);

    //  20032: node type, with the exact detail
    strcpy (s_view.peers [1].type, "edge");
    s_expect_only (20032, "127.0.1.2", NULL);
    assert_string_equal (s_out [0].detail, "peer 2 (127.0.1.2) reports node type edge; this peer is core");
    s_healthy (3);

    //  20033: version
    strcpy (s_view.peers [2].version, "1.3.0");
    s_expect_only (20033, "127.0.1.3", "runs version 1.3.0; this peer runs 1.2.0", NULL);
    //  ... and 20008 when replication is paused for it
    s_view.replication_paused = true;
    s_eval ();
    assert_int_equal (s_count, 2);
    assert_non_null (strstr (s_find (20008, "")->detail, "paused"));
    s_healthy (3);
    s_view.peers [1].upgrading = true;
    s_expect_only (20008, "", "peer 2 (127.0.1.2) announced an upgrade", NULL);
    s_healthy (3);

    //  20034: same system name, case-insensitive
    strcpy (s_view.peers [2].system_name, "PEER1");
    s_expect_only (20034, "127.0.1.3", "'PEER1'", NULL);
    s_healthy (3);

    //  20035: DNS domain; a trailing dot and case do not matter
    strcpy (s_view.peers [1].dns_domain, "Example.COM.");
    s_expect_none ();
    strcpy (s_view.peers [1].dns_domain, "example.org");
    s_expect_only (20035, "127.0.1.2", "'example.org'", "'example.com'", NULL);
    s_healthy (3);
}

static void
test_rtt_and_clock (void **state)
{
    (void) state;
    s_healthy (3);
    s_view.peers [1].rtt_ms = 80.0;
    s_expect_none ();
    s_view.peers [1].rtt_ms = 95.25;
    s_expect_only (20031, "127.0.1.2", "95.2 ms", "limit 80 ms", NULL);
    //  a dead peer's last RTT does not keep the alarm
    s_view.peers [1].alive = false;
    s_eval ();
    assert_null (s_find (20031, "127.0.1.2"));
    s_healthy (3);

    //  this peer's clock
    s_view.clock_synced = false;
    s_expect_only (20030, "", "NTP servers in ntp.servers are unreachable", NULL);
    s_view.ntp_configured = false;
    s_expect_only (20030, "", "no NTP server is configured", NULL);
    s_view.clock_synced = true;
    s_expect_none ();

    //  a peer's clock skew
    s_view.peers [2].clock_offset_ms = 5000;
    s_expect_none ();
    s_view.peers [2].clock_offset_ms = -6500;
    s_expect_only (20030, "127.0.1.3", "-6.5 s", NULL);
    s_view.peers [2].clock_offset_ms = 5001;
    s_expect_only (20030, "127.0.1.3", "+5.0 s", NULL);
    //  own clock and a skewed peer: two alarms of one id, node-wide first
    s_view.clock_synced = false;
    s_eval ();
    assert_int_equal (s_count, 2);
    assert_string_equal (s_out [0].subject, "");
    assert_string_equal (s_out [1].subject, "127.0.1.3");
}

static void
test_replication_state (void **state)
{
    (void) state;
    s_healthy (3);
    s_view.replication_conflict = true;
    s_expect_only (20011, "", "peer 1 (127.0.1.1)", "synchronised manually", NULL);
    s_view.replication_conflict = false;
    strcpy (s_view.replication_error, "changeset 42 did not apply: constraint failed");
    s_expect_only (20009, "", "changeset 42", NULL);
    s_view.replication_error [0] = 0;
    s_view.sync_failed = true;
    strcpy (s_view.sync_error, "snapshot truncated");
    s_expect_only (20025, "", "snapshot truncated", NULL);
    s_view.sync_failed = false;
    s_view.database_missing = true;
    strcpy (s_view.database_error, "cluster.db: no such file");
    s_expect_only (20014, "", "cluster.db: no such file", NULL);
    s_view.database_missing = false;
    s_expect_none ();
}

//  Everything wrong at once: ids sorted, all in the catalogue, room enough,
//  MAX respected, details valid UTF-8 even when cut.
static void
test_everything_wrong (void **state)
{
    (void) state;
    s_healthy (6);
    s_view.effective.name [0] = 0;
    s_view.stored.ip_version = 6;
    s_view.h323_mode = false;
    s_view.clock_synced = false;
    s_view.replication_conflict = true;
    s_view.replication_paused = true;
    strcpy (s_view.replication_error, "x");
    s_view.sync_failed = true;
    s_view.database_missing = true;
    for (int i = 1; i < 6; i++) {
        cw_peer_view_t *p = &s_view.peers [i];
        p->tcp_failing = true;
        p->tls_failing = true;
        p->joining = true;
        strcpy (p->resolve_error, "nope");
        strcpy (p->type, "edge");
        strcpy (p->version, "9");
        strcpy (p->system_name, "peer1");
        strcpy (p->dns_domain, "x.org");
        p->rtt_ms = 100;
        p->clock_offset_ms = 9000;
        p->primary = 2;
        p->ip_version = 6;
        strcpy (p->tls_verify, "enforce");
        strcpy (p->peers_digest, "00");
        //  a long multibyte name: the 20012 detail is cut, still UTF-8
        p->cluster_name [0] = 0;
        for (int k = 0; k < 80; k++)
            strcat (p->cluster_name, "\xe6\x97\xa5");    //  日
    }
    s_eval ();
    assert_true (s_count > 60);
    assert_true (s_count <= CW_CLUSTER_ALARMS_MAX);
    static const int ids [] = { 20004, 20005, 20006, 20007, 20008, 20009, 20011, 20012, 20014, 20017, 20018,
                                20019, 20020, 20021, 20024, 20025, 20030, 20031, 20032, 20033, 20034, 20035 };
    for (size_t k = 0; k < sizeof ids / sizeof ids [0]; k++) {
        bool found = false;
        for (int i = 0; i < s_count; i++)
            found = found || s_out [i].id == ids [k];
        if (!found)
            fail_msg ("alarm %d missing", ids [k]);
    }
    assert_non_null (s_find (20012, "127.0.1.4"));

    //  a small OUT: MAX respected
    cw_alarm_want_t small [3];
    assert_int_equal (cw_cluster_alarms_evaluate (&s_view, small, 3), 3);
}

//  A detail longer than 511 bytes is cut on a UTF-8 character boundary
//  (cw_alarm_raise refuses text that is not UTF-8).
static void
test_detail_utf8_cut (void **state)
{
    (void) state;
    for (int shift = 0; shift < 3; shift++) {
        s_healthy (0);
        s_view.effective.name [0] = 0;
        s_view.stored.name [0] = 0;
        for (int k = 0; k < shift; k++) {
            strcat (s_view.effective.name, "a");
            strcat (s_view.stored.name, "b");
        }
        for (int k = 0; k < 80; k++) {
            strcat (s_view.effective.name, "\xe6\x97\xa5");    //  日
            strcat (s_view.stored.name, "\xe6\x9c\xac");       //  本
        }
        s_eval ();    //  checks every detail is valid UTF-8
        assert_int_equal (s_count, 1);
        assert_int_equal (s_out [0].id, 20007);
        size_t len = strlen (s_out [0].detail);
        assert_true (len <= 511 && len >= 508);
    }
}

//  ---------------------------------------------------------------------
//  Digest

static void
test_digest (void **state)
{
    (void) state;
    cw_cluster_settings_t s;
    char out [65];
    s_settings (&s, 3);
    cw_cluster_peers_digest (&s, out);
    //  sha256("127.0.1.1\n127.0.1.2\n127.0.1.3") (Python hashlib)
    assert_string_equal (out, "94e8cddc1b2e828a688b2f2c7526fd740783ea5bced9112a7b2d47cad3fe805c");
    //  empty slots excluded
    s.peer_count = 4;
    strcpy (s.peers [3], "127.0.1.3");
    strcpy (s.peers [2], "");
    cw_cluster_peers_digest (&s, out);
    assert_string_equal (out, "94e8cddc1b2e828a688b2f2c7526fd740783ea5bced9112a7b2d47cad3fe805c");
    //  order matters
    strcpy (s.peers [0], "127.0.1.2");
    strcpy (s.peers [1], "127.0.1.1");
    cw_cluster_peers_digest (&s, out);
    assert_string_not_equal (out, "94e8cddc1b2e828a688b2f2c7526fd740783ea5bced9112a7b2d47cad3fe805c");
    //  empty list, one FQDN
    s_settings (&s, 0);
    cw_cluster_peers_digest (&s, out);
    assert_string_equal (out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    strcpy (s.peers [0], "a.example.com");
    s.peer_count = 1;
    cw_cluster_peers_digest (&s, out);
    assert_string_equal (out, "7653e4959f8eac25a7d55884d60580c5c3cf122e12ed0a34f48251bb3ea749ce");
}

//  ---------------------------------------------------------------------
//  Diff

static cw_alarm_want_t
s_want (int id, const char *subject, const char *detail)
{
    cw_alarm_want_t w;
    memset (&w, 0, sizeof w);
    w.id = id;
    strcpy (w.subject, subject);
    strcpy (w.detail, detail);
    return w;
}

static void
test_diff (void **state)
{
    (void) state;
    cw_alarm_want_t before [3] = {
        s_want (20004, "127.0.1.2", "peer 2 dead"),
        s_want (20004, "127.0.1.3", "peer 3 dead"),
        s_want (20030, "", "clock"),
    };
    cw_alarm_want_t after [3] = {
        s_want (20004, "127.0.1.3", "peer 3 dead; TCP: refused"),    //  detail changed
        s_want (20030, "", "clock"),                                 //  same
        s_want (20031, "127.0.1.2", "rtt 90 ms"),                    //  new
    };
    cw_alarm_want_t raise [3], clear [3];
    int nraise = -1, nclear = -1;
    assert_int_equal (cw_cluster_alarms_diff (before, 3, after, 3, raise, &nraise, clear, &nclear), 0);
    assert_int_equal (nraise, 2);
    assert_int_equal (raise [0].id, 20004);
    assert_string_equal (raise [0].subject, "127.0.1.3");
    assert_string_equal (raise [0].detail, "peer 3 dead; TCP: refused");
    assert_int_equal (raise [1].id, 20031);
    assert_int_equal (nclear, 1);
    assert_int_equal (clear [0].id, 20004);
    assert_string_equal (clear [0].subject, "127.0.1.2");

    //  same subject, other id: distinct keys
    cw_alarm_want_t a [1] = { s_want (20031, "127.0.1.3", "x") };
    cw_alarm_want_t b [1] = { s_want (20032, "127.0.1.3", "x") };
    assert_int_equal (cw_cluster_alarms_diff (a, 1, b, 1, raise, &nraise, clear, &nclear), 0);
    assert_int_equal (nraise, 1);
    assert_int_equal (nclear, 1);

    //  no change; first evaluation; everything gone
    assert_int_equal (cw_cluster_alarms_diff (after, 3, after, 3, raise, &nraise, clear, &nclear), 0);
    assert_int_equal (nraise, 0);
    assert_int_equal (nclear, 0);
    assert_int_equal (cw_cluster_alarms_diff (NULL, 0, after, 3, raise, &nraise, clear, &nclear), 0);
    assert_int_equal (nraise, 3);
    assert_int_equal (nclear, 0);
    assert_int_equal (cw_cluster_alarms_diff (after, 3, NULL, 0, raise, &nraise, clear, &nclear), 0);
    assert_int_equal (nraise, 0);
    assert_int_equal (nclear, 3);
    assert_int_equal (cw_cluster_alarms_diff (NULL, 2, after, 3, raise, &nraise, clear, &nclear), -1);
    assert_int_equal (cw_cluster_alarms_diff (before, 3, after, 3, NULL, &nraise, clear, &nclear), -1);

    //  a whole round: healthy -> peer dead -> healthy
    s_healthy (3);
    cw_alarm_want_t e0 [CW_CLUSTER_ALARMS_MAX], e1 [CW_CLUSTER_ALARMS_MAX];
    cw_alarm_want_t r [CW_CLUSTER_ALARMS_MAX], c [CW_CLUSTER_ALARMS_MAX];
    int n0 = cw_cluster_alarms_evaluate (&s_view, e0, CW_CLUSTER_ALARMS_MAX);
    s_view.peers [2].alive = false;
    int n1 = cw_cluster_alarms_evaluate (&s_view, e1, CW_CLUSTER_ALARMS_MAX);
    assert_int_equal (cw_cluster_alarms_diff (e0, n0, e1, n1, r, &nraise, c, &nclear), 0);
    assert_int_equal (nraise, 1);
    assert_int_equal (r [0].id, 20004);
    assert_int_equal (nclear, 0);
    assert_int_equal (cw_cluster_alarms_diff (e1, n1, e0, n0, r, &nraise, c, &nclear), 0);
    assert_int_equal (nraise, 0);
    assert_int_equal (nclear, 1);
    assert_string_equal (c [0].subject, "127.0.1.3");
}

//  ---------------------------------------------------------------------
//  cluster check

static json_t *s_report;

//  Run the check; return the number of problems.
static size_t
s_check (void)
{
    json_decref (s_report);
    s_report = cw_cluster_check (&s_view);
    assert_non_null (s_report);
    json_t *problems = json_object_get (s_report, "problems");
    assert_true (json_is_array (problems));
    assert_true (json_is_boolean (json_object_get (s_report, "ok")));
    assert_int_equal (json_is_true (json_object_get (s_report, "ok")), json_array_size (problems) == 0);
    size_t i;
    json_t *problem;
    json_array_foreach (problems, i, problem) {
        assert_true (json_is_string (json_object_get (problem, "requirement")));
        json_t *peer = json_object_get (problem, "peer");
        assert_true (json_is_null (peer) || json_is_integer (peer));
        assert_true (strlen (json_string_value (json_object_get (problem, "detail"))) > 0);
        assert_true (strlen (json_string_value (json_object_get (problem, "fix"))) > 0);
    }
    return json_array_size (problems);
}

//  The problem about REQUIREMENT (and PEER, 0 = null; -1 = any), or fail.
static json_t *
s_problem (const char *requirement, int peer)
{
    size_t i;
    json_t *problem;
    json_array_foreach (json_object_get (s_report, "problems"), i, problem) {
        if (strcmp (json_string_value (json_object_get (problem, "requirement")), requirement) != 0)
            continue;
        json_t *p = json_object_get (problem, "peer");
        if (peer < 0 || (peer == 0 && json_is_null (p)) || (peer > 0 && json_integer_value (p) == peer))
            return problem;
    }
    char *text = json_dumps (s_report, JSON_INDENT (2));
    print_message ("%s\n", text);
    free (text);
    fail_msg ("no problem %s peer %d", requirement, peer);
    return NULL;
}

static void
s_expect_problem (const char *requirement, int peer, const char *detail_part, const char *fix_part)
{
    size_t count = s_check ();
    if (count != 1) {
        char *text = json_dumps (s_report, JSON_INDENT (2));
        print_message ("%s\n", text);
        free (text);
        fail_msg ("expected one problem (%s), got %zu", requirement, count);
    }
    json_t *problem = s_problem (requirement, peer);
    const char *detail = json_string_value (json_object_get (problem, "detail"));
    const char *fix = json_string_value (json_object_get (problem, "fix"));
    if (detail_part && !strstr (detail, detail_part))
        fail_msg ("detail '%s' lacks '%s'", detail, detail_part);
    if (fix_part && !strstr (fix, fix_part))
        fail_msg ("fix '%s' lacks '%s'", fix, fix_part);
}

static void
test_check_healthy (void **state)
{
    (void) state;
    s_healthy (3);
    assert_int_equal (s_check (), 0);
    assert_true (json_is_true (json_object_get (s_report, "ok")));
    json_t *checked = json_object_get (s_report, "checked");
    static const char *names [] = {
        "node_type", "software_version",   "distinct_ip_address",    "distinct_system_name", "dns_domain",
        "rtt",       "clock_synchronised", "dns_or_address_mapping", "certificate",          "cluster_name",
        "h323_mode"
    };
    for (size_t k = 0; k < sizeof names / sizeof names [0]; k++) {
        bool found = false;
        size_t i;
        json_t *name;
        json_array_foreach (checked, i, name)
            found = found || strcmp (json_string_value (name), names [k]) == 0;
        if (!found)
            fail_msg ("'%s' not in checked", names [k]);
    }
    assert_null (cw_cluster_check (NULL));
    json_decref (s_report);
    s_report = NULL;
}

static void
test_check_peers (void **state)
{
    (void) state;
    s_healthy (3);
    strcpy (s_view.peers [1].type, "edge");
    s_expect_problem ("node_type", 2, "peer 2 (127.0.1.2) is edge; this peer is core",
                      "causeway cluster remove 127.0.1.2");
    s_healthy (3);
    strcpy (s_view.peers [2].version, "1.1.0");
    s_expect_problem ("software_version", 3, "runs 1.1.0; this peer runs 1.2.0", "primary first");
    s_healthy (3);
    strcpy (s_view.peers [2].ip, "127.0.1.2");
    s_expect_problem ("distinct_ip_address", 3, "same address 127.0.1.2", "causeway cluster replace");
    s_healthy (3);
    strcpy (s_view.peers [2].system_name, "Peer2");
    s_expect_problem ("distinct_system_name", 3, "both named 'Peer2'", "system.name");
    s_healthy (3);
    strcpy (s_view.peers [1].dns_domain, "example.net");
    s_expect_problem ("dns_domain", 2, "'example.net'", "dns.domain example.com");
    s_healthy (3);
    s_view.peers [1].rtt_ms = 120;
    s_expect_problem ("rtt", 2, "120.0 ms", "80 ms");
    s_healthy (3);
    s_view.peers [1].clock_synced = false;
    s_expect_problem ("clock_synchronised", 2, "not synchronised", "ntp.servers");
    s_healthy (3);
    s_view.peers [1].clock_offset_ms = -7000;
    s_expect_problem ("clock_synchronised", 2, "-7.0 s", "ntp.servers");
    s_healthy (3);
    s_view.peers [1].tls_failing = true;
    strcpy (s_view.peers [1].tls_error, "unable to get local issuer certificate");
    s_expect_problem ("certificate", 2, "unable to get local issuer certificate", "SAN");
    s_healthy (3);
    strcpy (s_view.peers [0].certificate, "no certificate configured");
    s_expect_problem ("certificate", 1, "no certificate configured", "peering.certificate");
    strcpy (s_view.peers [0].certificate, "not verified (permissive)");
    assert_int_equal (s_check (), 0);
    s_healthy (3);
    s_view.peers [2].h323_mode = false;
    s_expect_problem ("h323_mode", 3, "H.323 mode off", "h323.mode on");
    s_healthy (3);
    s_view.peers [2].primary = 2;
    s_expect_problem ("cluster_settings", 3, "primary 2 (this peer 1)", "causeway restart");
    s_healthy (3);
    s_view.peers [2].alive = false;
    s_view.peers [2].tcp_failing = true;
    strcpy (s_view.peers [2].tcp_error, "No route to host");
    //  a dead peer's stale values are not judged
    strcpy (s_view.peers [2].type, "edge");
    s_expect_problem ("peer_reachable", 3, "No route to host", "causeway firewall rules");
    json_decref (s_report);
    s_report = NULL;
}

static void
test_check_node (void **state)
{
    (void) state;
    s_healthy (3);
    s_view.clock_synced = false;
    s_expect_problem ("clock_synchronised", 1, "NTP servers do not answer", "ntp.servers");
    s_view.ntp_configured = false;
    s_expect_problem ("clock_synchronised", 1, "no NTP server is configured", "causeway config set ntp.servers");
    s_healthy (3);
    s_view.h323_mode = false;
    s_expect_problem ("h323_mode", 0, "h323.mode is off", "causeway config set h323.mode on");
    s_healthy (3);

    //  cluster name: configured, and an FQDN
    s_view.effective.name [0] = 0;
    for (int i = 0; i < 3; i++)
        s_view.peers [i].cluster_name [0] = 0;
    s_expect_problem ("cluster_name", 0, "not configured", "cluster.name cluster1.example.com");
    strcpy (s_view.effective.name, "cluster1");
    for (int i = 0; i < 3; i++)
        strcpy (s_view.peers [i].cluster_name, "cluster1");
    s_expect_problem ("cluster_name", 0, "not a fully qualified", "cluster1.example.com");
    strcpy (s_view.effective.name, "10.0.0.1");
    for (int i = 0; i < 3; i++)
        strcpy (s_view.peers [i].cluster_name, "10.0.0.1");
    s_expect_problem ("cluster_name", 0, "not a fully qualified", NULL);
    s_healthy (3);

    //  DNS servers or address mapping for every peer
    s_view.dns_server_count = 0;
    s_expect_problem ("dns_or_address_mapping", 1, "address mapping is off", "dns.servers");
    s_view.address_mapping_enabled = true;
    s_view.mapping_count = 3;
    for (int i = 0; i < 3; i++) {
        snprintf (s_view.mappings [i][0], 256, "peer%d.example.com", i + 1);
        snprintf (s_view.mappings [i][1], 256, "127.0.1.%d", i + 1);
    }
    assert_int_equal (s_check (), 0);
    //  peer 3's mapping missing
    s_view.mapping_count = 2;
    s_expect_problem ("dns_or_address_mapping", 3, "no entry for peer 3 (127.0.1.3)",
                      "causeway cluster suggest-mappings");
    //  FQDN addresses are matched by name
    s_view.mapping_count = 3;
    strcpy (s_view.effective.peers [1], "PEER2.example.com.");
    strcpy (s_view.peers [1].address, "PEER2.example.com.");
    s_view.stored = s_view.effective;
    for (int i = 0; i < 3; i++)
        cw_cluster_peers_digest (&s_view.effective, s_view.peers [i].peers_digest);
    assert_int_equal (s_check (), 0);
    strcpy (s_view.mappings [1][0], "peer2.example.org");
    s_expect_problem ("dns_or_address_mapping", 2, "peer 2 (PEER2.example.com.)", NULL);
    s_healthy (3);

    //  not in the list; invalid settings
    s_view.this_peer = 0;
    s_view.peers [0].is_self = false;
    s_view.peers [0].alive = true;
    strcpy (s_view.peering_address, "127.0.1.7");
    s_expect_problem ("cluster_settings", 0, "127.0.1.7", "cluster add");
    s_healthy (3);
    s_view.effective.primary = 5;
    for (int i = 0; i < 3; i++)
        s_view.peers [i].primary = 5;
    s_expect_problem ("cluster_settings", 0, "cluster.primary is 5", NULL);

    //  not clustered: only local requirements, name from the stored settings
    s_healthy (0);
    s_view.stored.name [0] = 0;
    s_view.effective.name [0] = 0;
    s_expect_problem ("cluster_name", 0, "not configured", NULL);
    strcpy (s_view.stored.name, "c.example.com");
    assert_int_equal (s_check (), 0);
    s_view.dns_server_count = 0;
    s_view.clock_synced = false;
    assert_int_equal (s_check (), 2);
    s_problem ("dns_or_address_mapping", 0);
    s_problem ("clock_synchronised", 0);
    json_decref (s_report);
    s_report = NULL;
}

//  ---------------------------------------------------------------------
//  Every row of the alarm table: a view that raises it, one that clears it

//  One cause a row: the healthy three-peer cluster (this peer is peer 1,
//  the primary) with one thing wrong; per-peer causes are about peer 3.
typedef struct {
    int id;
    const char *subject;
    const char *detail_part;
} s_cause_t;

static const s_cause_t s_causes [] = {
    { 20003, "", "cluster.primary is 4, outside 1..3" },
    { 20004, "127.0.1.3", "peer 3 (127.0.1.3) not heard from since this peer started" },
    { 20005, "127.0.1.3", "peer 3 address 127.0.1.3 does not resolve: no such host" },
    { 20006, "127.0.1.3", "TLS with peer 3 (127.0.1.3) fails: bad certificate" },
    { 20007, "", "cluster.primary 1 -> 2" },
    { 20008, "", "automatic replication is paused" },
    { 20009, "", "automatic replication failed: changeset 7" },
    { 20011, "", "conflicts with the primary's, peer 1 (127.0.1.1)" },
    { 20012, "127.0.1.3", "cluster name 'other.example.com', this peer 'cluster1.example.com'" },
    { 20014, "", "missing or unreadable: gone" },
    { 20015, "", "127.0.1.9 is not in the peer list (127.0.1.1, 127.0.1.2, 127.0.1.3)" },
    { 20016, "", "the configuration primary, peer 1 (127.0.1.1), is not reachable" },
    { 20017, "127.0.1.3", "has configuration primary 2; this peer has 1" },
    { 20018, "", "h323.mode is off" },
    { 20019, "", "cluster.name is not set on this peer (clustered with 3 peers)" },
    { 20020, "", "TLS verification mode changed (cluster.tls_verify permissive -> enforce)" },
    { 20020, "127.0.1.3", "has TLS verification mode enforce; this peer has permissive" },
    { 20021, "127.0.1.3", "TCP to peer 3 (127.0.1.3) on its clustering port fails: refused" },
    { 20024, "127.0.1.3", "has a different peer list (digest 00)" },
    { 20025, "", "full synchronisation of the cluster database failed: truncated" },
    { 20030, "", "this peer's clock is not synchronised" },
    { 20030, "127.0.1.3", "clock differs from this peer's by +9.0 s (limit 5 s)" },
    { 20031, "127.0.1.3", "round-trip time to peer 3 (127.0.1.3) is 100.0 ms (limit 80 ms)" },
    { 20032, "127.0.1.3", "reports node type edge; this peer is core" },
    { 20033, "127.0.1.3", "runs version 1.3.0; this peer runs 1.2.0" },
    { 20034, "127.0.1.3", "has the same system name 'PEER1' as this peer (peer 1)" },
    { 20035, "127.0.1.3", "has DNS domain 'example.org'; this peer has 'example.com'" },
    { 20036, "", "restore '127.0.1.1,127.0.1.2,127.0.1.3' (same order) to cancel" },
};

//  The alarm ID about SUBJECT in LIST (COUNT entries), or NULL.
static const cw_alarm_want_t *
s_find_in (const cw_alarm_want_t *list, int count, int id, const char *subject)
{
    for (int i = 0; i < count; i++)
        if (list [i].id == id && strcmp (list [i].subject, subject) == 0)
            return &list [i];
    return NULL;
}

//  Make the healthy view wrong in CAUSE's way.
static void
s_cause (const s_cause_t *cause)
{
    cw_cluster_view_t *v = &s_view;
    cw_peer_view_t *peer3 = &v->peers [2];
    bool node = cause->subject [0] == 0;
    switch (cause->id) {
        case 20003:
            v->effective.primary = v->stored.primary = 4;
            for (int i = 0; i < 3; i++)
                v->peers [i].primary = 4;
            v->is_primary = false;
            break;
        case 20004:
            peer3->alive = false;
            peer3->ever_seen = false;
            break;
        case 20005:
            strcpy (peer3->resolve_error, "no such host");
            break;
        case 20006:
            peer3->tls_failing = true;
            strcpy (peer3->tls_error, "bad certificate");
            break;
        case 20007:
            v->stored.primary = 2;
            break;
        case 20008:
            v->replication_paused = true;
            break;
        case 20009:
            strcpy (v->replication_error, "changeset 7");
            break;
        case 20011:
            v->replication_conflict = true;
            break;
        case 20012:
            strcpy (peer3->cluster_name, "other.example.com");
            break;
        case 20014:
            v->database_missing = true;
            strcpy (v->database_error, "gone");
            break;
        case 20015:
            v->this_peer = 0;
            v->peers [0].is_self = false;
            v->peers [0].alive = true;
            strcpy (v->peering_address, "127.0.1.9");
            break;
        case 20016:
            v->this_peer = 2;
            v->is_primary = false;
            v->peers [0].is_self = false;
            v->peers [1].is_self = true;
            v->peers [1].alive = false;
            break;
        case 20017:
            peer3->primary = 2;
            break;
        case 20018:
            v->h323_mode = false;
            break;
        case 20019:
            v->effective.name [0] = v->stored.name [0] = 0;
            for (int i = 0; i < 3; i++)
                v->peers [i].cluster_name [0] = 0;
            break;
        case 20020:
            strcpy (node ? v->stored.tls_verify : peer3->tls_verify, "enforce");
            break;
        case 20021:
            peer3->tcp_failing = true;
            strcpy (peer3->tcp_error, "refused");
            break;
        case 20024:
            strcpy (peer3->peers_digest, "00");
            break;
        case 20025:
            v->sync_failed = true;
            strcpy (v->sync_error, "truncated");
            break;
        case 20030:
            if (node)
                v->clock_synced = false;
            else
                peer3->clock_offset_ms = 9000;
            break;
        case 20031:
            peer3->rtt_ms = 100;
            break;
        case 20032:
            strcpy (peer3->type, "edge");
            break;
        case 20033:
            strcpy (peer3->version, "1.3.0");
            break;
        case 20034:
            strcpy (peer3->system_name, "PEER1");
            break;
        case 20035:
            strcpy (peer3->dns_domain, "example.org");
            break;
        case 20036:
            v->stored.peer_count = 0;
            memset (v->stored.peers, 0, sizeof v->stored.peers);
            v->factory_reset_pending = true;
            break;
        default:
            fail_msg ("no cause for %d", cause->id);
    }
}

static void
test_every_rule (void **state)
{
    (void) state;
    size_t ncauses = sizeof s_causes / sizeof s_causes [0];
    //  The table: in id order, every id in the catalogue, and as many
    //  causes for an id as it has rows (20020, 20030: node-wide and per peer)
    int ids [64];
    int rows = cw_cluster_alarms_rules (ids, 64);
    assert_true (rows > 0 && rows <= 64);
    assert_int_equal (cw_cluster_alarms_rules (NULL, 0), rows);
    assert_int_equal ((size_t) rows, ncauses);
    for (int r = 0; r < rows; r++) {
        assert_non_null (cw_alarm_lookup (ids [r]));
        if (r > 0)
            assert_true (ids [r - 1] <= ids [r]);
        assert_int_equal (ids [r], s_causes [r].id);
    }
    //  Each cause raises its alarm about its subject, with its detail; the
    //  healthy view clears it again
    for (size_t c = 0; c < ncauses; c++) {
        const s_cause_t *cause = &s_causes [c];
        s_healthy (3);
        s_cause (cause);
        s_eval ();
        const cw_alarm_want_t *want = s_find (cause->id, cause->subject);
        if (!want || !strstr (want->detail, cause->detail_part)) {
            s_dump ();
            fail_msg ("%d [%s] not raised with '%s'", cause->id, cause->subject, cause->detail_part);
        }
        cw_alarm_want_t before [CW_CLUSTER_ALARMS_MAX];
        int nbefore = s_count;
        memcpy (before, s_out, sizeof before);
        s_healthy (3);
        s_expect_none ();
        cw_alarm_want_t raise [CW_CLUSTER_ALARMS_MAX], clear [CW_CLUSTER_ALARMS_MAX];
        int nraise, nclear;
        assert_int_equal (cw_cluster_alarms_diff (before, nbefore, s_out, s_count, raise, &nraise, clear, &nclear), 0);
        assert_int_equal (nclear, nbefore);
        assert_non_null (s_find_in (clear, nclear, cause->id, cause->subject));
    }
}

//  ---------------------------------------------------------------------
//  The order of the check's problems

static void
test_check_order (void **state)
{
    (void) state;
    //  peer 2 alive with another type and version, peer 3 unreachable and
    //  on peer 2's IP address, peer 2's certificate refused, this peer's
    //  clock not synchronised, H.323 mode off
    s_healthy (3);
    strcpy (s_view.peers [1].type, "edge");
    strcpy (s_view.peers [1].version, "9.9");
    strcpy (s_view.peers [1].certificate, "expired");
    s_view.peers [2].alive = false;
    strcpy (s_view.peers [2].ip, "127.0.1.2");
    s_view.clock_synced = false;
    s_view.h323_mode = false;
    static const struct {
        const char *requirement;
        int peer;
    } expected [] = {
        { "node_type", 2 },   { "software_version", 2 },   { "peer_reachable", 3 }, { "distinct_ip_address", 3 },
        { "certificate", 2 }, { "clock_synchronised", 1 }, { "h323_mode", 0 },
    };
    size_t count = sizeof expected / sizeof expected [0];
    assert_int_equal (s_check (), count);
    json_t *problems = json_object_get (s_report, "problems");
    json_t *checked = json_object_get (s_report, "checked");
    for (size_t k = 0; k < count; k++) {
        json_t *problem = json_array_get (problems, k);
        const char *requirement = json_string_value (json_object_get (problem, "requirement"));
        json_t *peer = json_object_get (problem, "peer");
        assert_string_equal (requirement, expected [k].requirement);
        assert_int_equal (json_is_null (peer) ? 0 : json_integer_value (peer), expected [k].peer);
        //  every requirement reported is one of "checked"
        bool listed = false;
        size_t i;
        json_t *name;
        json_array_foreach (checked, i, name)
            listed = listed || strcmp (json_string_value (name), requirement) == 0;
        assert_true (listed);
    }
    json_decref (s_report);
    s_report = NULL;
}

//  ---------------------------------------------------------------------
//  The catalogue rows of the cluster

static void
test_catalogue (void **state)
{
    (void) state;
    static const int ids [] = { 20003, 20004, 20005, 20006, 20007, 20008, 20009, 20011, 20012,
                                20014, 20015, 20016, 20017, 20018, 20019, 20020, 20021, 20024,
                                20025, 20030, 20031, 20032, 20033, 20034, 20035, 20036 };
    for (size_t k = 0; k < sizeof ids / sizeof ids [0]; k++) {
        const cw_alarm_def_t *def = cw_alarm_lookup (ids [k]);
        if (!def)
            fail_msg ("alarm %d not in the catalogue", ids [k]);
        assert_true (cw_alarm_severity_valid (def->severity));
        assert_true (strlen (def->title) > 0);
        //  every action names a Causeway command
        if (!strstr (def->action, "`causeway ") && ids [k] != 20008)
            fail_msg ("action of %d names no command: %s", ids [k], def->action);
    }
    assert_string_equal (cw_alarm_lookup (20025)->severity, "critical");
    assert_non_null (strstr (cw_alarm_lookup (20011)->action, "causeway xcommand ForceConfigUpdate"));
    assert_non_null (strstr (cw_alarm_lookup (20014)->action, "causeway restart"));
    assert_non_null (strstr (cw_alarm_lookup (20018)->action, "h323.mode on"));
    assert_null (cw_alarm_lookup (20001));
    assert_null (cw_alarm_lookup (20010));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_not_clustered),
        cmocka_unit_test (test_healthy),
        cmocka_unit_test (test_node_settings),
        cmocka_unit_test (test_invalid_settings),
        cmocka_unit_test (test_peer_links),
        cmocka_unit_test (test_primary),
        cmocka_unit_test (test_mismatches),
        cmocka_unit_test (test_rtt_and_clock),
        cmocka_unit_test (test_replication_state),
        cmocka_unit_test (test_everything_wrong),
        cmocka_unit_test (test_detail_utf8_cut),
        cmocka_unit_test (test_digest),
        cmocka_unit_test (test_diff),
        cmocka_unit_test (test_check_healthy),
        cmocka_unit_test (test_check_peers),
        cmocka_unit_test (test_check_node),
        cmocka_unit_test (test_every_rule),
        cmocka_unit_test (test_check_order),
        cmocka_unit_test (test_catalogue),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
