/*  test_licensing.c - unit tests of the licensing actor's modules that need
    no sockets: the lease table (leases.c), what a peer knows of the others
    (peers.c, with licensing.db from keystore.c) and the alarm rules
    (rules.c).

    The lease table is exercised as the actor uses it, including what a
    kill -9 leaves (the mapped file reopened by a new instance of the same
    node start) and a node restart (another boot id: empty). The peers are
    driven with cluster.peers bodies as the replication actor publishes
    them; a lost peer's grace survives a restart of the node because its
    lost time is in licensing.db.
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

#include "cw_alarm.h"
#include "keystore.h"
#include "leases.h"
#include "peers.h"
#include "rules.h"

static char s_dir [256];

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cw-test-licensing-XXXXXX");
    assert_non_null (mkdtemp (s_dir));
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    assert_int_equal (system (cmd), 0);
    return 0;
}

static void
s_path (char *out, size_t size, const char *name)
{
    snprintf (out, size, "%s/%s", s_dir, name);
}

// ---------------------------------------------------------------------------
//  Leases

static void
test_leases_take_give (void **state)
{
    (void) state;
    char path [300], err [256], id [CW_LEASE_ID_MAX], id2 [CW_LEASE_ID_MAX], owner [CW_LEASES_OWNER_MAX];
    s_path (path, sizeof path, "leases");
    bool wiped = true;
    cw_leases_t *leases = cw_leases_open (path, "boot-1", &wiped, err, sizeof err);
    assert_non_null (leases);
    assert_false (wiped);
    assert_int_equal (cw_leases_take (leases, "routing", 100, 0, id), 0);
    assert_int_equal (cw_leases_take (leases, "@control:7", 0, 2, id2), 0);
    assert_string_not_equal (id, id2);
    assert_int_equal (cw_leases_held (leases, 0), 1);
    assert_int_equal (cw_leases_held (leases, 2), 1);
    assert_int_equal (cw_leases_owner_count (leases), 2);
    int kind = -1;
    assert_int_equal (cw_leases_give (leases, id2, &kind, owner), 0);
    assert_int_equal (kind, 2);
    assert_string_equal (owner, "@control:7");
    //  Twice, or a made-up id: refused
    assert_int_equal (cw_leases_give (leases, id2, &kind, owner), -1);
    assert_int_equal (cw_leases_give (leases, "zz", &kind, owner), -1);
    assert_int_equal (cw_leases_give (leases, "0.0", &kind, owner), -1);
    assert_int_equal (cw_leases_give (leases, "", &kind, owner), -1);
    //  A reused slot gets a new generation: the old id stays void
    char id3 [CW_LEASE_ID_MAX];
    assert_int_equal (cw_leases_take (leases, "routing", 100, 1, id3), 0);
    assert_string_not_equal (id3, id2);
    assert_int_equal (cw_leases_give (leases, id2, NULL, NULL), -1);
    assert_int_equal (cw_leases_give (leases, id3, NULL, NULL), 0);
    assert_int_equal (cw_leases_give (leases, id, NULL, NULL), 0);
    assert_int_equal (cw_leases_owner_count (leases), 0);
    cw_leases_destroy (&leases);
    assert_null (leases);
}

static void
test_leases_survive_actor_restart (void **state)
{
    (void) state;
    char path [300], err [256], id [CW_LEASE_ID_MAX];
    s_path (path, sizeof path, "leases");
    bool wiped;
    cw_leases_t *leases = cw_leases_open (path, "boot-1", &wiped, err, sizeof err);
    assert_non_null (leases);
    for (int i = 0; i < 1000; i++)
        assert_int_equal (cw_leases_take (leases, i % 2 ? "routing" : "webadmin", 10, i % 5, id), 0);
    cw_leases_local (leases)->share [3] = 400;
    cw_leases_local (leases)->seq = 9;
    //  No orderly close: the next instance maps the same file
    cw_leases_t *again = cw_leases_open (path, "boot-1", &wiped, err, sizeof err);
    assert_non_null (again);
    assert_false (wiped);
    for (int k = 0; k < 5; k++)
        assert_int_equal (cw_leases_held (again, k), 200);
    assert_int_equal (cw_leases_local (again)->used [3], 200);    //  recounted from the slots
    assert_int_equal (cw_leases_local (again)->share [3], 400);
    assert_int_equal (cw_leases_local (again)->seq, 9);
    assert_int_equal (cw_leases_give (again, id, NULL, NULL), 0);    //  the last one taken
    int64_t freed [CW_POOL_KINDS] = { 0 };
    assert_int_equal (cw_leases_drop_owner (again, "routing", freed), 499);    //  less the one given back
    int64_t total = 0;
    for (int k = 0; k < 5; k++)
        total += freed [k];
    assert_int_equal (total, 499);
    assert_int_equal (cw_leases_drop_owner (again, "nobody", freed), 0);
    assert_int_equal (cw_leases_owner_count (again), 1);
    cw_leases_destroy (&again);
    cw_leases_destroy (&leases);
    //  Another start of the node: nobody holds anything
    leases = cw_leases_open (path, "boot-2", &wiped, err, sizeof err);
    assert_non_null (leases);
    assert_true (wiped);
    for (int k = 0; k < 5; k++)
        assert_int_equal (cw_leases_held (leases, k), 0);
    assert_int_equal (cw_leases_local (leases)->share [3], 0);
    cw_leases_destroy (&leases);
}

static bool
s_keep_pid_20 (const char *owner, int pid, void *arg)
{
    (void) arg;
    return strcmp (owner, "routing") != 0 || pid == 20;
}

static void
test_leases_drop_stale (void **state)
{
    (void) state;
    char path [300], err [256], id [CW_LEASE_ID_MAX];
    s_path (path, sizeof path, "leases");
    bool wiped;
    cw_leases_t *leases = cw_leases_open (path, "boot-1", &wiped, err, sizeof err);
    assert_non_null (leases);
    assert_int_equal (cw_leases_take (leases, "routing", 10, 0, id), 0);    //  the instance before
    assert_int_equal (cw_leases_take (leases, "routing", 10, 0, id), 0);
    assert_int_equal (cw_leases_take (leases, "routing", 20, 0, id), 0);    //  the instance now
    assert_int_equal (cw_leases_take (leases, "tms", 30, 1, id), 0);
    int64_t freed [CW_POOL_KINDS] = { 0 };
    assert_int_equal (cw_leases_drop_stale (leases, s_keep_pid_20, NULL, freed), 2);
    assert_int_equal (freed [0], 2);
    assert_int_equal (cw_leases_held (leases, 0), 1);
    assert_int_equal (cw_leases_held (leases, 1), 1);
    cw_leases_destroy (&leases);
}

static void
test_leases_damaged_file (void **state)
{
    (void) state;
    char path [300], err [256];
    s_path (path, sizeof path, "leases");
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fputs ("not a lease table", file);
    fclose (file);
    bool wiped;
    cw_leases_t *leases = cw_leases_open (path, "boot-1", &wiped, err, sizeof err);
    assert_non_null (leases);
    assert_int_equal (cw_leases_held (leases, 0), 0);
    cw_leases_destroy (&leases);
    //  A directory where the file should be: a clear error
    s_path (path, sizeof path, "");
    assert_null (cw_leases_open (path, "boot-1", &wiped, err, sizeof err));
    assert_non_null (strstr (err, s_dir));
}

// ---------------------------------------------------------------------------
//  Peers

static json_t *
s_list (int this_peer, int primary, bool alive2, bool alive3)
{
    return json_pack ("{s:i, s:i, s:b, s:[{s:i, s:s, s:s, s:b, s:b}, {s:i, s:s, s:s, s:b, s:b}, {s:i, s:s, s:s, "
                      "s:b, s:b}]}",
                      "this_peer", this_peer, "primary", primary, "is_primary", this_peer == primary, "peers", "peer",
                      1, "address", "127.0.1.1", "system_name", "peer1", "alive", true, "self", this_peer == 1, "peer",
                      2, "address", "127.0.1.2", "system_name", "peer2", "alive", alive2, "self", this_peer == 2,
                      "peer", 3, "address", "127.0.1.3", "system_name", "peer3", "alive", alive3, "self",
                      this_peer == 3);
}

static json_t *
s_report_body (int64_t rms, const char *feature)
{
    json_t *body = json_pack ("{s:{s:I}, s:{s:I}, s:{s:I}, s:[]}", "installed", "rich_media_sessions", (json_int_t) rms,
                              "used", "rich_media_sessions", (json_int_t) 1, "share", "rich_media_sessions",
                              (json_int_t) 5, "features");
    if (feature)
        json_array_append_new (json_object_get (body, "features"), json_string (feature));
    return body;
}

static void
test_peers_pool_and_grace (void **state)
{
    (void) state;
    char err [256];
    char *replaced = NULL;
    cw_keystore_t *store = cw_keystore_open (s_dir, &replaced, err, sizeof err);
    assert_non_null (store);
    assert_null (replaced);
    cw_peers_t peers;
    cw_peers_init (&peers, store, 10000, "peer1");
    int64_t mine [CW_POOL_KINDS] = { 100, 0, 0, 0, 0 };
    json_t *features = json_pack ("[s]", "feature:traversal");
    assert_true (cw_peers_set_own (&peers, mine, features));
    assert_int_equal (cw_peers_pool (&peers, 0), 100);
    assert_false (peers.clustered);

    json_t *list = s_list (1, 1, true, true);
    assert_true (cw_peers_set_list (&peers, list, 1000000));
    json_decref (list);
    assert_true (peers.clustered);
    assert_true (peers.is_primary);
    assert_int_equal (peers.count, 3);
    json_t *body = s_report_body (50, "feature:traversal");
    assert_true (cw_peers_report (&peers, 2, "peer2", body));
    assert_false (cw_peers_report (&peers, 2, "peer2", body));    //  same again: no change
    json_decref (body);
    assert_int_equal (cw_peers_pool (&peers, 0), 150);
    assert_int_equal (cw_peers_get (&peers, 2)->share [0], 5);

    //  Peer 2 lost at t = 2,000,000: its keys stay for the grace
    list = s_list (1, 1, false, true);
    assert_true (cw_peers_set_list (&peers, list, 2000000));
    assert_int_equal (cw_peers_get (&peers, 2)->state, CW_PEER_LOST);
    assert_int_equal (cw_peers_pool (&peers, 0), 150);
    assert_false (cw_peers_tick (&peers, 2009999));
    //  A restart of this node: the lost time comes from licensing.db
    cw_peers_t again;
    cw_peers_init (&again, store, 10000, "peer1");
    assert_true (cw_peers_set_list (&again, list, 2005000));
    assert_int_equal (cw_peers_get (&again, 2)->lost_at_ms, 2000000);
    assert_int_equal (cw_peers_get (&again, 2)->installed [0], 50);
    assert_true (cw_peers_tick (&again, 2010000));
    assert_int_equal (cw_peers_get (&again, 2)->state, CW_PEER_GONE);
    assert_int_equal (cw_peers_pool (&again, 0), 0 + 0);    //  its own keys were never set in AGAIN
    assert_true (cw_peers_tick (&peers, 2010000));
    assert_int_equal (cw_peers_pool (&peers, 0), 100);
    json_decref (list);
    //  Back: in the pool again, not lost
    list = s_list (1, 1, true, true);
    assert_true (cw_peers_set_list (&peers, list, 2020000));
    assert_int_equal (cw_peers_get (&peers, 2)->state, CW_PEER_LIVE);
    assert_int_equal (cw_peers_get (&peers, 2)->lost_at_ms, 0);
    assert_int_equal (cw_peers_pool (&peers, 0), 150);
    json_decref (list);
    //  Removed from the list: forgotten, on disk too
    list = json_pack ("{s:i, s:i, s:b, s:[{s:i, s:s, s:s, s:b, s:b}]}", "this_peer", 1, "primary", 1, "is_primary", 1,
                      "peers", "peer", 1, "address", "127.0.1.1", "system_name", "peer1", "alive", true, "self", true);
    assert_true (cw_peers_set_list (&peers, list, 2030000));
    json_decref (list);
    assert_null (cw_peers_get (&peers, 2));
    json_t *stored = cw_keystore_get (store, "peer/127.0.1.2");
    assert_null (stored);
    json_decref (features);
    cw_keystore_destroy (&store);
}

static void
test_keystore_damaged (void **state)
{
    (void) state;
    char err [512], path [300];
    char *replaced = NULL;
    cw_keystore_t *store = cw_keystore_open (s_dir, &replaced, err, sizeof err);
    assert_non_null (store);
    assert_int_equal (cw_keystore_add (store, "aa", "CWL1.x.y", err, sizeof err), 0);
    assert_int_equal (cw_keystore_add (store, "aa", "CWL1.x.y", err, sizeof err), 1);    //  twice
    cw_keystore_destroy (&store);
    //  Garbage where the database was: moved aside, a fresh one, and why
    s_path (path, sizeof path, "licensing.db");
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    for (int i = 0; i < 512; i++)
        fputs ("garbage!", file);
    fclose (file);
    store = cw_keystore_open (s_dir, &replaced, err, sizeof err);
    assert_non_null (store);
    assert_non_null (replaced);
    assert_non_null (strstr (replaced, "moved aside to"));
    assert_non_null (strstr (replaced, "causeway license add"));
    free (replaced);
    assert_int_equal (cw_keystore_remove (store, "aa", err, sizeof err), 1);    //  empty now
    cw_keystore_destroy (&store);
    //  Recorded as having existed, now gone: damaged, not a fresh install
    assert_int_equal (unlink (path), 0);
    store = cw_keystore_open (s_dir, &replaced, err, sizeof err);
    assert_non_null (store);
    assert_non_null (replaced);
    free (replaced);
    cw_keystore_destroy (&store);
    //  A state_dir that is a file: named, nothing opened
    s_path (path, sizeof path, "not-a-dir");
    file = fopen (path, "w");
    assert_non_null (file);
    fclose (file);
    assert_null (cw_keystore_open (path, &replaced, err, sizeof err));
    assert_non_null (strstr (err, "not-a-dir"));
}

// ---------------------------------------------------------------------------
//  Rules

static const cw_lalarm_t *
s_alarm (const cw_lalarm_t *list, size_t count, int id, const char *subject)
{
    for (size_t i = 0; i < count; i++)
        if (list [i].id == id && (!subject || strcmp (list [i].subject, subject) == 0))
            return &list [i];
    return NULL;
}

//  The detail of alarm ID about SUBJECT, failing the test when it is not wanted
static const char *
s_detail (const cw_lalarm_t *list, size_t count, int id, const char *subject)
{
    const cw_lalarm_t *alarm = s_alarm (list, count, id, subject);
    if (!alarm)
        fail_msg ("alarm %d about '%s' not wanted", id, subject);
    return alarm ? alarm->detail : "";
}

static void
test_rules (void **state)
{
    (void) state;
    cw_peers_t peers;
    cw_peers_init (&peers, NULL, 3600000, "peer1");
    int64_t mine [CW_POOL_KINDS] = { 0, 10, 0, 0, 0 };
    json_t *features = json_pack ("[s]", "feature:traversal");
    cw_peers_set_own (&peers, mine, features);
    json_decref (features);
    json_t *list = s_list (1, 1, true, true);
    cw_peers_set_list (&peers, list, 1000000);
    json_decref (list);
    json_t *body = s_report_body (50, NULL);    //  peer2: 50 rms, no feature
    cw_peers_report (&peers, 2, "peer2", body);
    json_decref (body);

    cw_lalarm_t out [CW_RULES_MAX];
    size_t count = cw_rules_evaluate (&peers, NULL, 0, 1000000, out, CW_RULES_MAX);
    //  No rms key here while the pool has some: 30022 (info)
    const char *detail = s_detail (out, count, 30022, "rich_media_sessions");
    assert_non_null (strstr (detail, "peer2 50"));
    assert_null (s_alarm (out, count, 30022, "room_systems"));
    //  Features differ: named
    detail = s_detail (out, count, 30023, "");
    assert_non_null (strstr (detail, "feature:traversal is on peer1 but not on peer2"));
    assert_null (s_alarm (out, count, 30020, NULL));
    assert_null (s_alarm (out, count, 30012, NULL));

    //  Pool use: 45 of 50 -> 90%; 50 of 50 -> used up
    cw_peers_get (&peers, 2)->used [0] = 45;
    count = cw_rules_evaluate (&peers, NULL, 0, 1000000, out, CW_RULES_MAX);
    assert_non_null (s_alarm (out, count, 30020, "rich_media_sessions"));
    assert_null (s_alarm (out, count, 30021, NULL));
    cw_peers_get (&peers, 2)->used [0] = 50;
    count = cw_rules_evaluate (&peers, NULL, 0, 1000000, out, CW_RULES_MAX);
    assert_non_null (s_alarm (out, count, 30021, "rich_media_sessions"));
    assert_null (s_alarm (out, count, 30020, NULL));

    //  Peer 2 lost: a countdown, then gone
    list = s_list (1, 1, false, true);
    cw_peers_set_list (&peers, list, 2000000);
    json_decref (list);
    count = cw_rules_evaluate (&peers, NULL, 0, 2000000 + 60000, out, CW_RULES_MAX);
    detail = s_detail (out, count, 30012, "127.0.1.2");
    assert_non_null (strstr (detail, "rich_media_sessions 50"));
    assert_non_null (strstr (detail, "59 min left"));
    assert_null (s_alarm (out, count, 30023, NULL));    //  a lost peer's features are not compared
    cw_peers_tick (&peers, 2000000 + 3600000);
    count = cw_rules_evaluate (&peers, NULL, 0, 2000000 + 3600000, out, CW_RULES_MAX);
    assert_null (s_alarm (out, count, 30012, NULL));
    assert_non_null (s_alarm (out, count, 30013, "127.0.1.2"));
    assert_null (s_alarm (out, count, 30022, "rich_media_sessions"));    //  the pool has none now

    //  Keys: expiring soon, and one that no longer counts
    cw_lkey_t keys [2];
    memset (keys, 0, sizeof keys);
    strcpy (keys [0].key.serial, "aa");
    strcpy (keys [0].key.kind, "room_systems");
    keys [0].key.count = 10;
    strcpy (keys [0].key.expires, "2026-12-10");
    keys [0].days_left = 10;
    strcpy (keys [1].key.serial, "bb");
    strcpy (keys [1].key.kind, "feature:traversal");
    keys [1].key.count = 1;
    keys [1].status = CW_LICENSE_EXPIRED;
    strcpy (keys [1].why, "refused: the key is expired (it was valid until 2026-11-01)");
    count = cw_rules_evaluate (&peers, keys, 2, 2000000, out, CW_RULES_MAX);
    detail = s_detail (out, count, 30024, "aa");
    assert_non_null (strstr (detail, "2026-12-10 (10 days left)"));
    detail = s_detail (out, count, 30025, "bb");
    assert_non_null (strstr (detail, "expired"));
}

static void
test_catalogue (void **state)
{
    (void) state;
    const int ids [] = { 30012, 30013, 30020, 30021, 30022, 30023, 30024, 30025 };
    for (size_t i = 0; i < sizeof ids / sizeof ids [0]; i++) {
        const cw_alarm_def_t *def = cw_alarm_lookup (ids [i]);
        assert_non_null (def);
        assert_int_equal (def->id, ids [i]);
    }
    assert_string_equal (cw_alarm_lookup (30022)->severity, "info");
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_leases_take_give, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_leases_survive_actor_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_leases_drop_stale, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_leases_damaged_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_peers_pool_and_grace, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_keystore_damaged, s_setup, s_teardown),
        cmocka_unit_test (test_rules),
        cmocka_unit_test (test_catalogue),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
