/*  test_location.c - unit tests of the cluster-wide location table
    (actors/routing/location.c), which needs no sockets.

    Own bindings: put, refresh, several contacts per AOR, removal (by
    contact, by flow, by expiry) with the removal hook, the limits. Lookups:
    expired bindings and dead owners skipped, one binding per outbound
    instance with this peer's preferred. Between two tables, as two peers
    use them: changes applied in order, a missing change seen as a gap, a
    new epoch seen as a gap, a dump replacing what was known, an owner
    forgotten, malformed messages refused without a change. And 100,000
    bindings put and looked up (no timing assertion: the bench measures).

    The sync (location_sync.c) with a real actor whose broker is a ROUTER
    socket of this test standing in for causewayd: what it asks of the
    replication actor (broadcasts, batched; pulls, one per owner at a time)
    and what it does with the other peers' messages.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "location.h"
#include "location_sync.h"

#define NOW 1000000000LL

static cw_binding_t
s_binding (const char *aor, const char *contact, int64_t expires_ms)
{
    cw_binding_t b;
    memset (&b, 0, sizeof b);
    snprintf (b.aor, sizeof b.aor, "%s", aor);
    snprintf (b.contact, sizeof b.contact, "%s", contact);
    b.expires_ms = expires_ms;
    snprintf (b.transport, sizeof b.transport, "udp");
    snprintf (b.source, sizeof b.source, "127.0.0.1:5070");
    return b;
}

typedef struct {
    int count;
    char last [CW_LOCATION_URI_MAX];
    char license [32];
} s_removed_t;

static void
s_on_removed (const cw_binding_t *binding, void *arg)
{
    s_removed_t *removed = (s_removed_t *) arg;
    removed->count++;
    snprintf (removed->last, sizeof removed->last, "%s", binding->contact);
    snprintf (removed->license, sizeof removed->license, "%s", binding->license);
}

static void
test_put_lookup_remove (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (2, 111);
    s_removed_t removed = { 0 };
    cw_location_on_remove (table, s_on_removed, &removed);
    assert_int_equal (cw_location_this_peer (table), 2);

    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1:5060", NOW + 60000);
    cw_binding_t b = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.2:5060", NOW + 120000);
    snprintf (a.license, sizeof a.license, "1a.1");
    assert_int_equal (cw_location_put (table, &a), 1);
    assert_int_equal (cw_location_put (table, &b), 2);
    //  A refresh is a change of its own, not a new binding
    b.expires_ms = NOW + 180000;
    assert_int_equal (cw_location_put (table, &b), 3);
    assert_int_equal (cw_location_count (table, 2), 2);
    assert_int_equal (cw_location_count (table, 0), 2);

    cw_binding_t out [8];
    assert_int_equal (cw_location_lookup (table, "sip:alice@example.com", NOW, NULL, NULL, out, 8), 2);
    //  The latest expiry first, every binding owned by this peer
    assert_string_equal (out [0].contact, "sip:alice@192.0.2.2:5060");
    assert_int_equal (out [0].expires_ms, NOW + 180000);
    assert_int_equal (out [0].owner, 2);
    assert_string_equal (out [1].contact, "sip:alice@192.0.2.1:5060");
    assert_int_equal (cw_location_lookup (table, "sip:alice@example.com", NOW, NULL, NULL, out, 1), 1);
    assert_int_equal (cw_location_lookup (table, "sip:bob@example.com", NOW, NULL, NULL, out, 8), 0);
    //  Expired bindings are never returned
    assert_int_equal (cw_location_lookup (table, "sip:alice@example.com", NOW + 100000, NULL, NULL, out, 8), 1);

    //  The registrar's view includes what expired
    assert_int_equal (cw_location_own (table, "sip:alice@example.com", out, 8), 2);

    assert_int_equal (cw_location_remove (table, "sip:alice@example.com", "sip:alice@192.0.2.1:5060"), 4);
    assert_int_equal (removed.count, 1);
    assert_string_equal (removed.last, "sip:alice@192.0.2.1:5060");
    assert_string_equal (removed.license, "1a.1");
    assert_int_equal (cw_location_remove (table, "sip:alice@example.com", "sip:alice@192.0.2.1:5060"), 0);
    assert_int_equal (cw_location_remove (table, "sip:nobody@example.com", "sip:x@y"), 0);
    assert_int_equal (cw_location_count (table, 2), 1);

    uint64_t epoch = 0;
    assert_int_equal (cw_location_seq (table, 2, &epoch), 4);
    assert_int_equal (epoch, 111);
    cw_location_destroy (&table);
    assert_null (table);
    cw_location_destroy (&table);
}

static void
test_list_json (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (1, 5);
    cw_binding_t a = s_binding ("sip:bob@example.com", "sip:bob@192.0.2.9;transport=tcp", NOW + 30500);
    snprintf (a.instance, sizeof a.instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    a.reg_id = 1;
    snprintf (a.transport, sizeof a.transport, "tcp");
    snprintf (a.path, sizeof a.path, "<sip:edge.example.com;lr>");
    assert_true (cw_location_put (table, &a) > 0);
    cw_binding_t b = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 10000);
    assert_true (cw_location_put (table, &b) > 0);
    cw_binding_t gone = s_binding ("sip:carol@example.com", "sip:carol@192.0.2.3", NOW - 1);
    assert_true (cw_location_put (table, &gone) > 0);

    json_t *list = cw_location_list (table, NULL, 0, NOW);
    assert_int_equal (json_array_size (list), 2);
    //  Sorted by AOR; expired bindings left out
    json_t *first = json_array_get (list, 0);
    assert_string_equal (json_string_value (json_object_get (first, "aor")), "sip:alice@example.com");
    json_t *row = json_array_get (list, 1);
    const char *fields [] = { "aor", "contact", "peer", "expires", "instance", "reg_id", "transport", "source" };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++)
        assert_non_null (json_object_get (row, fields [i]));
    assert_string_equal (json_string_value (json_object_get (row, "contact")), "sip:bob@192.0.2.9;transport=tcp");
    assert_int_equal (json_integer_value (json_object_get (row, "peer")), 1);
    assert_int_equal (json_integer_value (json_object_get (row, "expires")), 31);
    assert_int_equal (json_integer_value (json_object_get (row, "reg_id")), 1);
    assert_string_equal (json_string_value (json_object_get (row, "transport")), "tcp");
    assert_string_equal (json_string_value (json_object_get (row, "source")), "127.0.0.1:5070");
    assert_string_equal (json_string_value (json_object_get (row, "instance")),
                         "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    json_decref (list);

    list = cw_location_list (table, "sip:alice@example.com", 0, NOW);
    assert_int_equal (json_array_size (list), 1);
    json_decref (list);
    list = cw_location_list (table, NULL, 3, NOW);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);
    list = cw_location_list (table, "sip:nobody@example.com", 0, NOW);
    assert_int_equal (json_array_size (list), 0);
    json_decref (list);
    cw_location_destroy (&table);
}

static void
test_flows_and_expiry (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (1, 5);
    s_removed_t removed = { 0 };
    cw_location_on_remove (table, s_on_removed, &removed);
    //  Two AORs on one connection, a third on another
    cw_binding_t a = s_binding ("sip:a@example.com", "sip:a@192.0.2.1;transport=tcp", NOW + 60000);
    cw_binding_t b = s_binding ("sip:b@example.com", "sip:b@192.0.2.1;transport=tcp", NOW + 60000);
    cw_binding_t c = s_binding ("sip:c@example.com", "sip:c@192.0.2.2;transport=tcp", NOW + 60000);
    snprintf (a.flow, sizeof a.flow, "tcp:7");
    snprintf (b.flow, sizeof b.flow, "tcp:7");
    snprintf (c.flow, sizeof c.flow, "tcp:8");
    assert_true (cw_location_put (table, &a) && cw_location_put (table, &b) && cw_location_put (table, &c));
    //  A refresh over another connection moves the binding to that flow
    snprintf (b.flow, sizeof b.flow, "tcp:9");
    assert_true (cw_location_put (table, &b) > 0);
    assert_int_equal (cw_location_remove_flow (table, "tcp:7"), 1);
    assert_int_equal (removed.count, 1);
    assert_string_equal (removed.last, "sip:a@192.0.2.1;transport=tcp");
    assert_int_equal (cw_location_remove_flow (table, "tcp:7"), 0);
    assert_int_equal (cw_location_remove_flow (table, ""), 0);
    assert_int_equal (cw_location_remove_flow (table, "tcp:9"), 1);
    assert_int_equal (cw_location_count (table, 1), 1);

    //  Expiry: nothing before the time, everything due after it
    cw_binding_t d = s_binding ("sip:d@example.com", "sip:d@192.0.2.4", NOW + 1000);
    cw_binding_t e = s_binding ("sip:d@example.com", "sip:d@192.0.2.5", NOW + 2000);
    assert_true (cw_location_put (table, &d) && cw_location_put (table, &e));
    assert_int_equal (cw_location_expire (table, NOW), 0);
    assert_int_equal (cw_location_expire (table, NOW + 1000), 1);
    assert_int_equal (cw_location_expire (table, NOW + 1500), 0);
    assert_int_equal (cw_location_expire (table, NOW + 2500), 1);
    assert_int_equal (cw_location_expire (table, NOW + 59999), 0);
    assert_int_equal (cw_location_expire (table, NOW + 60000), 1);
    assert_int_equal (cw_location_count (table, 0), 0);
    assert_int_equal (removed.count, 5);
    cw_location_destroy (&table);
}

static void
test_limits (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (1, 5);
    char contact [64];
    for (int i = 0; i < CW_LOCATION_MAX_CONTACTS; i++) {
        snprintf (contact, sizeof contact, "sip:x@192.0.2.%d", i);
        cw_binding_t b = s_binding ("sip:x@example.com", contact, NOW + 60000);
        assert_true (cw_location_put (table, &b) > 0);
    }
    cw_binding_t more = s_binding ("sip:x@example.com", "sip:x@198.51.100.1", NOW + 60000);
    assert_int_equal (cw_location_put (table, &more), 0);
    //  A refresh of a binding it has is still allowed
    cw_binding_t again = s_binding ("sip:x@example.com", "sip:x@192.0.2.0", NOW + 90000);
    assert_true (cw_location_put (table, &again) > 0);
    cw_binding_t empty = s_binding ("", "sip:x@192.0.2.1", NOW + 60000);
    assert_int_equal (cw_location_put (table, &empty), 0);
    cw_location_destroy (&table);
}

static bool
s_alive (int owner, void *arg)
{
    int dead = *(int *) arg;
    return owner != dead;
}

//  Peer 1 and peer 2, each with its own table and the other's bindings
static void
test_two_peers (void **state)
{
    (void) state;
    cw_location_t *one = cw_location_new (1, 1000);
    cw_location_t *two = cw_location_new (2, 2000);

    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 60000);
    cw_binding_t b = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.2", NOW + 60000);
    cw_binding_t c = s_binding ("sip:bob@example.com", "sip:bob@192.0.2.3", NOW + 60000);
    cw_location_put (one, &a);
    cw_location_put (one, &b);
    //  Peer 2 has never heard of peer 1: its first changes apply from 1
    json_t *msg = cw_location_changes_since (one, 0, 500);
    assert_non_null (msg);
    assert_int_equal (json_integer_value (json_object_get (msg, "from_seq")), 1);
    assert_int_equal (json_integer_value (json_object_get (msg, "to_seq")), 2);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_APPLIED);
    //  Twice is stale
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_STALE);
    json_decref (msg);
    assert_null (cw_location_changes_since (one, 2, 500));
    uint64_t epoch = 0;
    assert_int_equal (cw_location_seq (two, 1, &epoch), 2);
    assert_int_equal (epoch, 1000);
    assert_int_equal (cw_location_count (two, 1), 2);

    //  A peer's own messages are never applied by itself
    msg = cw_location_changes_since (two, 0, 10);
    assert_null (msg);
    cw_location_put (two, &c);
    msg = cw_location_changes_since (two, 0, 10);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_STALE);
    assert_int_equal (cw_location_apply (one, msg), CW_LOCATION_APPLIED);
    json_decref (msg);

    //  Lookups on peer 2 see peer 1's bindings, unless peer 1 is dead
    cw_binding_t out [8];
    int dead = 0;
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, s_alive, &dead, out, 8), 2);
    assert_int_equal (out [0].owner, 1);
    dead = 1;
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, s_alive, &dead, out, 8), 0);
    //  ... and on peer 1, its own are always usable
    assert_int_equal (cw_location_lookup (one, "sip:alice@example.com", NOW, s_alive, &dead, out, 8), 2);

    //  Changes in order: a removal and a refresh, sent one by one
    cw_location_remove (one, "sip:alice@example.com", "sip:alice@192.0.2.1");    //  3
    b.expires_ms = NOW + 90000;
    cw_location_put (one, &b);    //  4
    json_t *third = cw_location_changes_since (one, 2, 1);
    json_t *fourth = cw_location_changes_since (one, 3, 1);
    assert_int_equal (json_integer_value (json_object_get (third, "to_seq")), 3);
    //  The fourth before the third is a gap, and changes nothing
    assert_int_equal (cw_location_apply (two, fourth), CW_LOCATION_GAP);
    assert_int_equal (cw_location_count (two, 1), 2);
    assert_int_equal (cw_location_apply (two, third), CW_LOCATION_APPLIED);
    assert_int_equal (cw_location_apply (two, fourth), CW_LOCATION_APPLIED);
    json_decref (third);
    json_decref (fourth);
    dead = 0;
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, s_alive, &dead, out, 8), 1);
    assert_int_equal (out [0].expires_ms, NOW + 90000);

    //  "My last change is 4" from peer 1: peer 2 is up to date
    json_t *state4 = json_pack ("{s:i, s:I, s:I, s:I, s:[]}", "owner", 1, "epoch", (json_int_t) 1000, "from_seq",
                                (json_int_t) 5, "to_seq", (json_int_t) 4, "changes");
    assert_int_equal (cw_location_apply (two, state4), CW_LOCATION_STALE);
    json_decref (state4);
    //  "... is 6": peer 2 missed two changes
    json_t *state6 = json_pack ("{s:i, s:I, s:I, s:I, s:[]}", "owner", 1, "epoch", (json_int_t) 1000, "from_seq",
                                (json_int_t) 7, "to_seq", (json_int_t) 6, "changes");
    assert_int_equal (cw_location_apply (two, state6), CW_LOCATION_GAP);
    json_decref (state6);

    //  Peer 1 restarts: a new table, a new epoch. Its first change is a gap
    //  for peer 2, which pulls the dump; the dump replaces what it knew.
    cw_location_destroy (&one);
    one = cw_location_new (1, 1500);
    cw_binding_t d = s_binding ("sip:dave@example.com", "sip:dave@192.0.2.4", NOW + 60000);
    cw_location_put (one, &d);
    msg = cw_location_changes_since (one, 0, 500);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_GAP);
    json_decref (msg);
    json_t *dump = cw_location_dump (one);
    assert_int_equal (json_integer_value (json_object_get (dump, "seq")), 1);
    assert_int_equal (json_array_size (json_object_get (dump, "bindings")), 1);
    assert_int_equal (cw_location_load (two, dump), CW_LOCATION_APPLIED);
    //  A peer never loads a dump of its own number
    assert_int_equal (cw_location_load (one, dump), CW_LOCATION_INVALID);
    json_decref (dump);
    assert_int_equal (cw_location_count (two, 1), 1);
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, NULL, NULL, out, 8), 0);
    assert_int_equal (cw_location_lookup (two, "sip:dave@example.com", NOW, NULL, NULL, out, 8), 1);
    assert_int_equal (cw_location_seq (two, 1, &epoch), 1);
    assert_int_equal (epoch, 1500);
    //  Changes after the dump apply in order; an old epoch's are stale
    cw_location_remove (one, "sip:dave@example.com", "sip:dave@192.0.2.4");
    msg = cw_location_changes_since (one, 1, 500);
    json_t *old = json_deep_copy (msg);
    json_object_set_new (old, "epoch", json_integer (1000));
    assert_int_equal (cw_location_apply (two, old), CW_LOCATION_STALE);
    json_decref (old);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_APPLIED);
    json_decref (msg);
    assert_int_equal (cw_location_count (two, 1), 0);

    //  Peer 1 leaves: peer 2 forgets it
    cw_location_put (one, &a);
    msg = cw_location_changes_since (one, 2, 500);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_APPLIED);
    json_decref (msg);
    assert_int_equal (cw_location_count (two, 1), 1);
    cw_location_forget (two, 1);
    assert_int_equal (cw_location_count (two, 1), 0);
    assert_int_equal (cw_location_seq (two, 1, NULL), 0);
    //  Peer 2's own stay
    assert_int_equal (cw_location_count (two, 2), 1);
    assert_int_equal (cw_location_lookup (two, "sip:bob@example.com", NOW, NULL, NULL, out, 8), 1);

    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

//  The removal hook is for own bindings only: another owner's go quietly
static void
test_remote_removals_quiet (void **state)
{
    (void) state;
    cw_location_t *one = cw_location_new (1, 1);
    cw_location_t *two = cw_location_new (2, 2);
    s_removed_t removed = { 0 };
    cw_location_on_remove (two, s_on_removed, &removed);
    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 1000);
    snprintf (a.flow, sizeof a.flow, "tcp:1");
    cw_location_put (one, &a);
    cw_location_remove (one, "sip:alice@example.com", "sip:alice@192.0.2.1");
    json_t *msg = cw_location_changes_since (one, 0, 0);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_APPLIED);
    json_decref (msg);
    //  Peer 1's flow token means nothing on peer 2
    cw_location_put (one, &a);
    msg = cw_location_changes_since (one, 2, 0);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_APPLIED);
    json_decref (msg);
    assert_int_equal (cw_location_remove_flow (two, "tcp:1"), 0);
    assert_int_equal (cw_location_expire (two, NOW + 5000), 0);
    cw_location_forget (two, 1);
    assert_int_equal (removed.count, 0);
    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

//  One instance registered through two peers (SIP outbound): one binding of
//  it is used, this peer's if it has one, else the latest
static void
test_outbound_instance (void **state)
{
    (void) state;
    cw_location_t *one = cw_location_new (1, 1);
    cw_location_t *two = cw_location_new (2, 2);
    cw_binding_t via1 = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1;ob", NOW + 60000);
    snprintf (via1.instance, sizeof via1.instance, "<urn:uuid:1>");
    via1.reg_id = 1;
    cw_binding_t via2 = via1;
    via2.reg_id = 2;
    via2.expires_ms = NOW + 30000;
    snprintf (via2.contact, sizeof via2.contact, "sip:alice@192.0.2.1;ob;x=2");
    cw_location_put (one, &via1);
    cw_location_put (two, &via2);
    json_t *msg = cw_location_changes_since (one, 0, 0);
    cw_location_apply (two, msg);
    json_decref (msg);
    msg = cw_location_changes_since (two, 0, 0);
    cw_location_apply (one, msg);
    json_decref (msg);
    //  Different reg-ids are different flows: both usable
    cw_binding_t out [4];
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, NULL, NULL, out, 4), 2);
    //  The same reg-id on two peers: one of them
    via2.reg_id = 1;
    cw_location_put (two, &via2);
    assert_int_equal (cw_location_lookup (two, "sip:alice@example.com", NOW, NULL, NULL, out, 4), 1);
    assert_int_equal (out [0].owner, 2);
    int dead = 2;
    msg = cw_location_changes_since (two, 1, 0);
    cw_location_apply (one, msg);
    json_decref (msg);
    assert_int_equal (cw_location_lookup (one, "sip:alice@example.com", NOW, s_alive, &dead, out, 4), 1);
    assert_int_equal (out [0].owner, 1);
    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

static void
test_malformed (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (2, 1);
    const char *bad [] = {
        "[]",
        "{}",
        "{\"owner\": 9, \"epoch\": 1, \"from_seq\": 1, \"to_seq\": 1, \"changes\": [{}]}",
        "{\"owner\": 1, \"epoch\": 1, \"from_seq\": 1, \"to_seq\": 2, \"changes\": [{}]}",
        "{\"owner\": 1, \"epoch\": 1, \"from_seq\": 1, \"to_seq\": 1, \"changes\": [{\"seq\": 1, \"op\": \"put\"}]}",
        "{\"owner\": 1, \"epoch\": 1, \"from_seq\": 1, \"to_seq\": 1, \"changes\": [{\"seq\": 2, \"op\": \"del\", "
        "\"aor\": \"a\", \"contact\": \"b\"}]}",
        "{\"owner\": 1, \"epoch\": -1, \"from_seq\": 1, \"to_seq\": 1, \"changes\": [{\"seq\": 1, \"op\": \"del\", "
        "\"aor\": \"a\", \"contact\": \"b\"}]}",
        "{\"owner\": 1, \"epoch\": 1, \"from_seq\": 1, \"to_seq\": 2, \"changes\": [{\"seq\": 1, \"op\": \"put\", "
        "\"binding\": {\"aor\": \"sip:a@b\", \"contact\": \"sip:c\", \"expires_ms\": 5}}, {\"seq\": 2, \"op\": "
        "\"put\", \"binding\": {\"aor\": \"\", \"contact\": \"sip:c\", \"expires_ms\": 5}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *msg = json_loads (bad [i], 0, NULL);
        assert_non_null (msg);
        assert_int_equal (cw_location_apply (table, msg), CW_LOCATION_INVALID);
        assert_int_equal (cw_location_load (table, msg), CW_LOCATION_INVALID);
        json_decref (msg);
    }
    //  Nothing was applied, not even the first, good, change of the last
    assert_int_equal (cw_location_count (table, 0), 0);
    assert_int_equal (cw_location_seq (table, 1, NULL), 0);
    json_t *dump = json_loads ("{\"owner\": 1, \"epoch\": 1, \"seq\": 3, \"bindings\": [{\"aor\": \"sip:a@b\", "
                               "\"contact\": \"sip:c\", \"expires_ms\": \"soon\"}]}",
                               0, NULL);
    assert_int_equal (cw_location_load (table, dump), CW_LOCATION_INVALID);
    json_decref (dump);
    cw_location_destroy (&table);
}

static void
test_renumbered (void **state)
{
    (void) state;
    cw_location_t *table = cw_location_new (1, 1);
    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 60000);
    cw_location_put (table, &a);
    //  Something known of peer 3 before this node became peer 3
    cw_location_t *three = cw_location_new (3, 3);
    cw_binding_t b = s_binding ("sip:bob@example.com", "sip:bob@192.0.2.2", NOW + 60000);
    cw_location_put (three, &b);
    json_t *dump = cw_location_dump (three);
    assert_int_equal (cw_location_load (table, dump), CW_LOCATION_APPLIED);
    json_decref (dump);
    cw_location_set_this_peer (table, 3);
    assert_int_equal (cw_location_this_peer (table), 3);
    assert_int_equal (cw_location_count (table, 1), 0);
    assert_int_equal (cw_location_count (table, 3), 1);
    cw_binding_t out [2];
    assert_int_equal (cw_location_lookup (table, "sip:alice@example.com", NOW, NULL, NULL, out, 2), 1);
    assert_int_equal (out [0].owner, 3);
    assert_int_equal (cw_location_lookup (table, "sip:bob@example.com", NOW, NULL, NULL, out, 2), 0);
    json_t *msg = cw_location_changes_since (table, 0, 0);
    assert_int_equal (json_integer_value (json_object_get (msg, "owner")), 3);
    json_decref (msg);
    cw_location_destroy (&three);
    cw_location_destroy (&table);
}

//  The change ring: a receiver far behind gets the oldest change kept and
//  sees the gap
static void
test_log_ring (void **state)
{
    (void) state;
    cw_location_t *one = cw_location_new (1, 1);
    cw_location_t *two = cw_location_new (2, 2);
    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 60000);
    for (int i = 0; i < CW_LOCATION_LOG + 10; i++) {
        a.expires_ms = NOW + 60000 + i;
        assert_true (cw_location_put (one, &a) > 0);
    }
    json_t *msg = cw_location_changes_since (one, 0, 500);
    assert_int_equal (json_integer_value (json_object_get (msg, "from_seq")), 11);
    assert_int_equal (json_array_size (json_object_get (msg, "changes")), 500);
    assert_int_equal (cw_location_apply (two, msg), CW_LOCATION_GAP);
    json_decref (msg);
    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

//  100,000 AORs on this peer and their copy on another: every put and
//  lookup answers, and the dump carries them all
static void
test_hundred_thousand (void **state)
{
    (void) state;
    const int count = 100000;
    cw_location_t *one = cw_location_new (1, 1);
    cw_location_t *two = cw_location_new (2, 2);
    char aor [64], contact [64];
    for (int i = 0; i < count; i++) {
        snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        snprintf (contact, sizeof contact, "sip:user%d@10.%d.%d.%d:5060", i, i >> 16, (i >> 8) & 255, i & 255);
        cw_binding_t b = s_binding (aor, contact, NOW + 3600000);
        assert_int_equal (cw_location_put (one, &b), (uint64_t) i + 1);
    }
    assert_int_equal (cw_location_count (one, 1), count);
    json_t *dump = cw_location_dump (one);
    assert_int_equal (json_array_size (json_object_get (dump, "bindings")), count);
    assert_int_equal (cw_location_load (two, dump), CW_LOCATION_APPLIED);
    json_decref (dump);
    assert_int_equal (cw_location_count (two, 1), count);
    cw_binding_t out [2];
    for (int i = 0; i < count; i++) {
        snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        assert_int_equal (cw_location_lookup (one, aor, NOW, NULL, NULL, out, 2), 1);
        assert_int_equal (cw_location_lookup (two, aor, NOW, NULL, NULL, out, 2), 1);
        assert_int_equal (out [0].owner, 1);
    }
    assert_int_equal (cw_location_expire (one, NOW + 3600000), count);
    assert_int_equal (cw_location_count (one, 0), 0);
    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

// ---------------------------------------------------------------------------
//  The sync, with a ROUTER standing in for causewayd's broker

#define S_BROKER "inproc://test-location-sync-broker"

typedef struct {
    int broadcasts;
    int changes;    //  in the broadcasts
    int pulls;
    int pulled [CW_LOCATION_PEERS + 1];
} s_seen_t;

//  Read what the actor sent within WAIT_MS
static void
s_drain (zsock_t *broker, s_seen_t *seen, int wait_ms)
{
    zpoller_t *poller = zpoller_new (broker, NULL);
    while (zpoller_wait (poller, wait_ms)) {
        zmsg_t *msg = zmsg_recv (broker);
        char *identity = zmsg_popstr (msg);
        cw_envelope_t env;
        char err [128];
        if (cw_envelope_decode (msg, &env, err, sizeof err) == 0) {
            if (env.type == CW_MSG_REQUEST && strcmp (env.command, "replication.broadcast") == 0) {
                json_t *args = json_loads (env.body, 0, NULL);
                assert_string_equal (json_string_value (json_object_get (args, "topic")), "routing.location");
                json_t *body = json_object_get (args, "body");
                assert_int_equal (json_integer_value (json_object_get (body, "owner")), 1);
                seen->broadcasts++;
                seen->changes += (int) json_array_size (json_object_get (body, "changes"));
                json_decref (args);
            }
            else if (env.type == CW_MSG_REQUEST && strcmp (env.command, "replication.peer_request") == 0) {
                json_t *args = json_loads (env.body, 0, NULL);
                assert_string_equal (json_string_value (json_object_get (args, "command")), "routing.location.dump");
                assert_string_equal (json_string_value (json_object_get (args, "actor")), "routing");
                int peer = (int) json_integer_value (json_object_get (args, "peer"));
                assert_true (peer >= 1 && peer <= CW_LOCATION_PEERS);
                seen->pulls++;
                seen->pulled [peer]++;
                json_decref (args);
            }
            cw_envelope_clear (&env);
        }
        zstr_free (&identity);
        zmsg_destroy (&msg);
        wait_ms = 50;
    }
    zpoller_destroy (&poller);
}

static bool s_dead [CW_LOCATION_PEERS + 1];

//  Peers 1..3 exist, and live unless marked dead
static bool
s_sync_alive (int owner, void *arg)
{
    (void) arg;
    return owner <= 3 && !s_dead [owner];
}

static void
test_sync (void **state)
{
    (void) state;
    char dir [] = "/tmp/cw-test-sync-XXXXXX";
    assert_non_null (mkdtemp (dir));
    char path [128];
    snprintf (path, sizeof path, "%s/causeway.conf", dir);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file,
             "node: { name = \"peer1\"; type = \"core\"; runtime_dir = \"%s/run\"; state_dir = \"%s/state\";"
             " log_level = \"error\"; };\n",
             dir, dir);
    fclose (file);
    zsock_t *broker = zsock_new (ZMQ_ROUTER);
    assert_int_equal (zsock_bind (broker, S_BROKER), 0);
    setenv ("CAUSEWAY_BROKER", S_BROKER, 1);
    char *argv [] = { "test_location", "--config", path, "--name", "routing", NULL };
    cw_actor_t *actor = cw_actor_new ("routing", 5, argv);
    assert_non_null (actor);
    cw_location_t *table = cw_location_new (1, 100);
    cw_location_sync_t *sync = cw_location_sync_new (actor, table);
    memset (s_dead, 0, sizeof s_dead);
    s_seen_t seen = { 0 };

    //  Alone: changes are not sent anywhere
    cw_binding_t a = s_binding ("sip:alice@example.com", "sip:alice@192.0.2.1", NOW + 60000);
    cw_location_put (table, &a);
    assert_int_equal (cw_location_sync_due (sync, NOW), 0);
    cw_location_sync_tick (sync, NOW, 1, 1, s_sync_alive, NULL);
    assert_int_equal (cw_location_sync_flush (sync, NOW), 0);
    assert_int_equal (cw_location_sync_due (sync, NOW), -1);

    //  Three peers: the first tick pulls from both others and announces
    cw_location_sync_tick (sync, NOW, 1, 3, s_sync_alive, NULL);
    s_drain (broker, &seen, 1000);
    assert_int_equal (seen.pulls, 2);
    assert_int_equal (seen.pulled [2], 1);
    assert_int_equal (seen.pulled [3], 1);
    assert_int_equal (seen.broadcasts, 1);
    assert_int_equal (seen.changes, 0);

    //  A few changes: sent within the batch time, in one message
    for (int i = 0; i < 3; i++) {
        char contact [64];
        snprintf (contact, sizeof contact, "sip:alice@192.0.2.%d", 10 + i);
        cw_binding_t b = s_binding ("sip:alice@example.com", contact, NOW + 60000);
        cw_location_put (table, &b);
    }
    int64_t due = cw_location_sync_due (sync, NOW + 1);
    assert_true (due >= 0 && due <= CW_LOCATION_SYNC_BATCH_MS);
    assert_int_equal (cw_location_sync_flush (sync, NOW + 1 + due), 1);
    assert_int_equal (cw_location_sync_due (sync, NOW + 10), -1);
    //  Under load: at once when a batch is full, several messages
    for (int i = 0; i < CW_LOCATION_SYNC_BATCH + 100; i++) {
        char aor [64];
        snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        cw_binding_t b = s_binding (aor, "sip:u@192.0.2.99", NOW + 60000);
        cw_location_put (table, &b);
    }
    assert_int_equal (cw_location_sync_due (sync, NOW + 2), 0);
    assert_int_equal (cw_location_sync_flush (sync, NOW + 2), 2);
    seen = (s_seen_t){ 0 };
    s_drain (broker, &seen, 1000);
    assert_int_equal (seen.broadcasts, 3);
    assert_int_equal (seen.changes, 3 + CW_LOCATION_SYNC_BATCH + 100);

    //  Another peer's messages: applied in order; a peer speaking for
    //  another is dropped; a gap asks for a pull, but one is in flight
    cw_location_t *two = cw_location_new (2, 200);
    cw_binding_t b2 = s_binding ("sip:bob@example.com", "sip:bob@192.0.2.2", NOW + 60000);
    cw_location_put (two, &b2);
    json_t *event = json_pack ("{s:i, s:s, s:o}", "peer", 2, "system_name", "peer2", "body",
                               cw_location_changes_since (two, 0, 10));
    cw_location_sync_event (sync, event);
    assert_int_equal (cw_location_count (table, 2), 1);
    json_object_set_new (event, "peer", json_integer (3));
    cw_location_sync_event (sync, event);
    json_decref (event);
    cw_location_put (two, &b2);
    cw_location_put (two, &b2);
    event = json_pack ("{s:i, s:s, s:o}", "peer", 2, "system_name", "peer2", "body",
                       cw_location_changes_since (two, 2, 10));
    cw_location_sync_event (sync, event);
    json_decref (event);
    json_t *status = cw_location_sync_status (sync);
    assert_int_equal (json_integer_value (json_object_get (status, "applied")), 1);
    assert_int_equal (json_integer_value (json_object_get (status, "invalid")), 1);
    assert_int_equal (json_integer_value (json_object_get (status, "gaps")), 1);
    assert_int_equal (json_integer_value (json_object_get (status, "pulls")), 2);
    json_decref (status);

    //  Peer 3 dies and comes back: pulled again (its first pull is still
    //  in flight here, so the new one waits for it)
    s_dead [3] = true;
    cw_location_sync_tick (sync, NOW + 100, 1, 3, s_sync_alive, NULL);
    s_dead [3] = false;
    cw_location_sync_tick (sync, NOW + 200, 1, 3, s_sync_alive, NULL);
    seen = (s_seen_t){ 0 };
    s_drain (broker, &seen, 300);
    assert_int_equal (seen.pulls, 0);

    //  Not clustered any more: the other owners are forgotten
    cw_location_sync_tick (sync, NOW + 300, 1, 1, s_sync_alive, NULL);
    assert_int_equal (cw_location_count (table, 2), 0);
    assert_int_equal (cw_location_count (table, 1), 4 + CW_LOCATION_SYNC_BATCH + 100);

    cw_location_destroy (&two);
    cw_location_sync_destroy (&sync);
    cw_location_destroy (&table);
    cw_actor_destroy (&actor);
    zsock_destroy (&broker);
    char command [160];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    assert_int_equal (system (command), 0);
}

//  A table pulled in pages: every binding comes over (odd characters, a
//  shared domain, a contact equal to the AOR's user at the source), the
//  pages in any order after the first; what the owner no longer has is
//  gone after the last page; a page of another snapshot, a page twice, a
//  malformed page are refused; the snapshot goes after its last page
static void
test_pages (void **state)
{
    (void) state;
    const int count = 30000;
    cw_location_t *one = cw_location_new (1, 1);
    cw_location_t *two = cw_location_new (2, 2);
    char aor [128], contact [128];
    for (int i = 0; i < count; i++) {
        if (i % 7 == 0)
            snprintf (aor, sizeof aor, "sip:we%%ird \"%d\"@Other.example.com", i);
        else
            snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        snprintf (contact, sizeof contact, i % 11 == 0 ? "~sip:x%d@10.0.0.1;ob" : "sip:user%d@127.0.0.1:5070", i);
        cw_binding_t b = s_binding (aor, contact, NOW + 3600000 + i);
        if (i % 13 == 0) {
            snprintf (b.instance, sizeof b.instance, "<urn:uuid:%d>", i);
            b.reg_id = 2;
            snprintf (b.path, sizeof b.path, "<sip:p@x;lr>");
        }
        snprintf (b.user_agent, sizeof b.user_agent, i % 19 ? "phone" : "UA \\ %%41");
        snprintf (b.call_id, sizeof b.call_id, "%d@here", i);
        b.cseq = 5;
        assert_true (cw_location_put (one, &b) > 0);
    }
    //  Something peer 2 knew of peer 1 that peer 1 no longer has
    cw_binding_t gone = s_binding ("sip:gone@example.com", "sip:gone@192.0.2.1", NOW + 60000);
    cw_location_t *old = cw_location_new (1, 1);
    cw_location_put (old, &gone);
    json_t *dump = cw_location_dump (old);
    assert_int_equal (cw_location_load (two, dump), CW_LOCATION_APPLIED);
    json_decref (dump);
    cw_location_destroy (&old);

    char err [256];
    json_t *args = json_pack ("{s:i, s:i}", "peer", 2, "page", 0);
    json_t *first = cw_location_dump_args (one, args, NOW, err, sizeof err);
    json_decref (args);
    assert_non_null (first);
    size_t pages = (size_t) json_integer_value (json_object_get (first, "pages"));
    json_int_t snapshot = json_integer_value (json_object_get (first, "snapshot"));
    assert_true (pages >= 2);
    bool complete = true;
    assert_int_equal (cw_location_load_page (two, first, &complete), CW_LOCATION_APPLIED);
    assert_false (complete);
    //  Page 0 again is refused as a second page of the load
    json_t *others [16];
    assert_true (pages <= 16);
    for (size_t page = 1; page < pages; page++) {
        args = json_pack ("{s:i, s:I, s:I}", "peer", 2, "page", (json_int_t) page, "snapshot", snapshot);
        others [page] = cw_location_dump_args (one, args, NOW, err, sizeof err);
        json_decref (args);
        assert_non_null (others [page]);
    }
    //  Every page served: the snapshot is gone
    args = json_pack ("{s:i, s:i, s:I}", "peer", 2, "page", 1, "snapshot", snapshot);
    assert_null (cw_location_dump_args (one, args, NOW, err, sizeof err));
    json_decref (args);
    //  A malformed page is refused and stops the load
    json_t *bad = json_deep_copy (others [1]);
    json_object_set_new (bad, "records", json_string ("sip:a@b %ZZ 1 0\n"));
    assert_int_equal (cw_location_load_page (two, bad, &complete), CW_LOCATION_INVALID);
    json_decref (bad);
    assert_int_equal (cw_location_load_page (two, others [1], &complete), CW_LOCATION_INVALID);
    //  Again from page 0, the other pages last to first
    assert_int_equal (cw_location_load_page (two, first, &complete), CW_LOCATION_APPLIED);
    for (size_t page = pages - 1; page >= 1; page--) {
        assert_int_equal (cw_location_load_page (two, others [page], &complete), CW_LOCATION_APPLIED);
        assert_int_equal (complete, page == 1);
        if (page == pages - 1)    //  twice: refused
            assert_int_equal (cw_location_load_page (two, others [page], &complete), CW_LOCATION_INVALID);
    }
    assert_int_equal (cw_location_count (two, 1), count);
    assert_int_equal (cw_location_seq (two, 1, NULL), cw_location_seq (one, 1, NULL));
    cw_binding_t x [2], y [2];
    assert_int_equal (cw_location_lookup (two, "sip:gone@example.com", NOW, NULL, NULL, y, 2), 0);
    for (int i = 0; i < count; i++) {
        if (i % 7 == 0)
            snprintf (aor, sizeof aor, "sip:we%%ird \"%d\"@Other.example.com", i);
        else
            snprintf (aor, sizeof aor, "sip:user%d@example.com", i);
        assert_int_equal (cw_location_lookup (one, aor, NOW, NULL, NULL, x, 2), 1);
        assert_int_equal (cw_location_lookup (two, aor, NOW, NULL, NULL, y, 2), 1);
        assert_string_equal (x [0].contact, y [0].contact);
        assert_true (x [0].expires_ms == y [0].expires_ms);
        assert_string_equal (x [0].instance, y [0].instance);
        assert_int_equal (x [0].reg_id, y [0].reg_id);
        assert_string_equal (x [0].path, y [0].path);
        assert_string_equal (x [0].source, y [0].source);
        assert_string_equal (x [0].user_agent, y [0].user_agent);
        assert_int_equal (y [0].owner, 1);
        assert_string_equal (y [0].call_id, "");    //  the owner's own
    }
    json_decref (first);
    for (size_t page = 1; page < pages; page++)
        json_decref (others [page]);
    //  Peer 1 never takes its own pages
    args = json_pack ("{s:i, s:i}", "peer", 1, "page", 0);
    first = cw_location_dump_args (one, args, NOW, err, sizeof err);
    assert_int_equal (cw_location_load_page (one, first, &complete), CW_LOCATION_INVALID);
    json_decref (first);
    json_decref (args);
    cw_location_destroy (&one);
    cw_location_destroy (&two);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_put_lookup_remove),
        cmocka_unit_test (test_list_json),
        cmocka_unit_test (test_flows_and_expiry),
        cmocka_unit_test (test_limits),
        cmocka_unit_test (test_two_peers),
        cmocka_unit_test (test_remote_removals_quiet),
        cmocka_unit_test (test_outbound_instance),
        cmocka_unit_test (test_malformed),
        cmocka_unit_test (test_renumbered),
        cmocka_unit_test (test_log_ring),
        cmocka_unit_test (test_hundred_thousand),
        cmocka_unit_test (test_sync),
        cmocka_unit_test (test_pages),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
