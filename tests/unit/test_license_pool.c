/*  test_license_pool.c - unit tests of the cluster-wide license pool
    (actors/licensing/pool.c): the local side, each rule of the ledger, and
    a randomized simulation.

    The rule tests deliver offers and acks at once (s_settle) or by hand.
    The simulation runs one ledger and up to six local sides over a message
    queue that delays, reorders, loses and duplicates, with random acquires
    and releases, peers partitioned and healed, dropped and re-added, pool
    changes and primary restarts (a new epoch, the ledger rebuilt from the
    RESERVED values persisted before each offer). After every step it
    checks safety; at the end of every run it heals everything, delivers
    every message and checks liveness: every peer acquiring until refused
    is answered, EXHAUSTED comes only when the pool is used up, together
    they use exactly the pool, and acquire/release pairs then send nothing.
    A failing run prints its seed; CW_POOL_SEED=<n> replays one seed,
    CW_POOL_SEEDS=<n> runs seeds 1..n (200 by default), CW_POOL_STEPS=<n>
    makes each run n steps long (3000).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define K CW_POOL_KINDS
#define N CW_POOL_PEERS

//  ---------------------------------------------------------------------
//  Helpers for the rule tests: offers delivered at once

static cw_pool_local_t s_local [N + 1];

static int64_t
s_held (const cw_pool_local_t *l, int k)
{
    return l->share [k] > l->used [k] ? l->share [k] : l->used [k];
}

//  Deliver every offer the ledger has, and the acks, until it is quiet.
//  Returns the number of offers; the last one to each peer in LAST.
static int
s_settle (cw_pool_ledger_t *ledger, cw_pool_offer_t last [N + 1])
{
    int offers = 0;
    for (int round = 0; round < 1000; round++) {
        bool any = false;
        for (int p = 1; p <= N; p++) {
            cw_pool_offer_t offer;
            if (!cw_pool_ledger_next_offer (ledger, p, &offer))
                continue;
            cw_pool_ack_t ack;
            cw_pool_local_offer (&s_local [p], &offer, &ack);
            if (last)
                last [p] = offer;
            cw_pool_ledger_ack (ledger, p, &ack);
            offers++;
            any = true;
        }
        if (!any)
            return offers;
    }
    fail_msg ("the ledger never went quiet");
    return offers;
}

static cw_pool_ledger_t *
s_cluster (int peers, int64_t pool)
{
    memset (s_local, 0, sizeof s_local);
    cw_pool_ledger_t *ledger = cw_pool_ledger_new (1000);
    assert_non_null (ledger);
    for (int k = 0; k < K; k++)
        cw_pool_ledger_set_pool (ledger, k, pool);
    for (int p = 1; p <= peers; p++)
        cw_pool_ledger_set_peer (ledger, p, true, NULL);
    s_settle (ledger, NULL);
    return ledger;
}

static int64_t
s_sum_share (int k)
{
    int64_t sum = 0;
    for (int p = 1; p <= N; p++)
        sum += s_held (&s_local [p], k);
    return sum;
}

//  ---------------------------------------------------------------------
//  The local side

static void
test_local_acquire_within_share (void **state)
{
    (void) state;
    cw_pool_local_t l;
    memset (&l, 0, sizeof l);
    assert_false (cw_pool_local_acquire (&l, 0));    //  no share yet
    l.share [0] = 2;
    assert_true (cw_pool_local_acquire (&l, 0));
    assert_true (cw_pool_local_acquire (&l, 0));
    assert_false (cw_pool_local_acquire (&l, 0));
    assert_int_equal (l.used [0], 2);
    cw_pool_local_release (&l, 0);
    assert_true (cw_pool_local_acquire (&l, 0));
    cw_pool_local_release (&l, 0);
    cw_pool_local_release (&l, 0);
    cw_pool_local_release (&l, 0);    //  never below 0
    assert_int_equal (l.used [0], 0);
    assert_false (cw_pool_local_acquire (&l, -1));
    assert_false (cw_pool_local_acquire (&l, K));
    cw_pool_local_release (&l, K);
}

//  Acquire and release touch one counter and nothing else, with no
//  allocation and no per-lease state: O(1) whatever the share.
static void
test_local_is_constant_time (void **state)
{
    (void) state;
    cw_pool_local_t l, before;
    memset (&l, 0, sizeof l);
    l.share [2] = 1000000;
    for (int64_t i = 0; i < 1000000; i++) {
        before = l;
        assert_true (cw_pool_local_acquire (&l, 2));
        before.used [2]++;
        if (i % 99991 == 0)
            assert_memory_equal (&l, &before, sizeof l);
    }
    assert_false (cw_pool_local_acquire (&l, 2));
    for (int64_t i = 0; i < 1000000; i++) {
        before = l;
        cw_pool_local_release (&l, 2);
        before.used [2]--;
        if (i % 99991 == 0)
            assert_memory_equal (&l, &before, sizeof l);
    }
    assert_int_equal (l.used [2], 0);
    assert_int_equal (sizeof l, sizeof (int64_t) * 2 * K + sizeof (uint64_t) * 2);
}

static void
test_local_applies_only_newer_offers (void **state)
{
    (void) state;
    cw_pool_local_t l;
    memset (&l, 0, sizeof l);
    cw_pool_offer_t o = { .epoch = 5, .seq = 3 };
    cw_pool_ack_t ack;
    for (int k = 0; k < K; k++)
        o.target [k] = -1;
    o.target [0] = 10;
    assert_true (cw_pool_local_offer (&l, &o, &ack));
    assert_int_equal (l.share [0], 10);
    assert_int_equal (ack.epoch, 5);
    assert_int_equal (ack.seq, 3);
    assert_int_equal (ack.share [0], 10);
    //  The same (duplicate) and an older seq: not applied, the ack says
    //  what is held now and the last (epoch, seq) applied
    o.target [0] = 20;
    assert_false (cw_pool_local_offer (&l, &o, &ack));
    o.seq = 2;
    assert_false (cw_pool_local_offer (&l, &o, &ack));
    assert_int_equal (l.share [0], 10);
    assert_int_equal (ack.seq, 3);
    assert_int_equal (ack.share [0], 10);
    //  An older epoch, whatever its seq
    o.epoch = 4;
    o.seq = 999;
    assert_false (cw_pool_local_offer (&l, &o, &ack));
    assert_int_equal (l.share [0], 10);
    //  A newer epoch wins with any seq; -1 leaves the share
    o.epoch = 6;
    o.seq = 1;
    o.target [0] = -1;
    o.target [1] = 4;
    assert_true (cw_pool_local_offer (&l, &o, &ack));
    assert_int_equal (l.share [0], 10);
    assert_int_equal (l.share [1], 4);
    assert_int_equal (ack.epoch, 6);
    assert_int_equal (ack.seq, 1);
    //  A target no pool can have is ignored
    o.seq = 2;
    o.target [1] = CW_POOL_COUNT_MAX + 1;
    cw_pool_local_offer (&l, &o, &ack);
    assert_int_equal (l.share [1], 4);
}

static void
test_local_share_never_below_used_unless_binding (void **state)
{
    (void) state;
    cw_pool_local_t l;
    memset (&l, 0, sizeof l);
    l.share [0] = 10;
    for (int i = 0; i < 7; i++)
        assert_true (cw_pool_local_acquire (&l, 0));
    cw_pool_offer_t o = { .epoch = 1, .seq = 1 };
    cw_pool_ack_t ack;
    for (int k = 0; k < K; k++)
        o.target [k] = -1;
    o.target [0] = 3;    //  a lowering offer: keeps what is used
    cw_pool_local_offer (&l, &o, &ack);
    assert_int_equal (l.share [0], 7);
    assert_int_equal (ack.share [0], 7);
    cw_pool_local_release (&l, 0);
    assert_true (cw_pool_local_acquire (&l, 0));    //  room of its own leases
    //  A binding one (a shrunk pool): nothing new until below the target
    o.seq = 2;
    o.binding [0] = true;
    cw_pool_local_offer (&l, &o, &ack);
    assert_int_equal (ack.share [0], 3);
    assert_int_equal (ack.used [0], 7);
    for (int i = 0; i < 4; i++) {
        cw_pool_local_release (&l, 0);
        assert_false (cw_pool_local_acquire (&l, 0));
    }
    cw_pool_local_release (&l, 0);    //  used 2 < 3
    assert_true (cw_pool_local_acquire (&l, 0));
    assert_false (cw_pool_local_acquire (&l, 0));
}

static void
test_local_clamp_only_lowers (void **state)
{
    (void) state;
    cw_pool_local_t l;
    memset (&l, 0, sizeof l);
    l.share [0] = 10;
    l.used [0] = 4;
    cw_pool_local_clamp (&l, 0, 20);
    assert_int_equal (l.share [0], 10);
    cw_pool_local_clamp (&l, 0, 6);
    assert_int_equal (l.share [0], 6);
    cw_pool_local_clamp (&l, 0, 1);
    assert_int_equal (l.share [0], 4);    //  never below used
    cw_pool_local_clamp (&l, K, 0);
}

//  ---------------------------------------------------------------------
//  The ledger

static void
test_ledger_probes_then_splits_the_free_part (void **state)
{
    (void) state;
    memset (s_local, 0, sizeof s_local);
    cw_pool_ledger_t *ledger = cw_pool_ledger_new (1000);
    cw_pool_ledger_set_pool (ledger, 0, 10);
    for (int p = 1; p <= 3; p++)
        cw_pool_ledger_set_peer (ledger, p, true, NULL);
    //  First a probe to each peer, nothing decided before the acks
    cw_pool_offer_t offer;
    for (int p = 1; p <= 3; p++) {
        assert_true (cw_pool_ledger_next_offer (ledger, p, &offer));
        assert_int_equal (offer.epoch, 1000);
        assert_int_equal (offer.seq, 1);
        for (int k = 0; k < K; k++)
            assert_int_equal (offer.target [k], -1);
        //  at most one outstanding
        assert_true (cw_pool_ledger_outstanding (ledger, p));
        assert_false (cw_pool_ledger_next_offer (ledger, p, &offer));
        cw_pool_ack_t ack;
        cw_pool_local_offer (&s_local [p], &offer, &ack);
        cw_pool_ledger_ack (ledger, p, &ack);
    }
    assert_int_equal (s_settle (ledger, NULL), 3);
    assert_int_equal (s_local [1].share [0] + s_local [2].share [0] + s_local [3].share [0], 10);
    for (int p = 1; p <= 3; p++) {
        assert_in_range (s_local [p].share [0], 3, 4);
        int64_t reserved [K];
        assert_true (cw_pool_ledger_reserved (ledger, p, reserved));
        assert_int_equal (reserved [0], s_local [p].share [0]);
    }
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 0);
    //  Steady state: acquire/release within the share sends nothing, and
    //  the same pool set again is no change
    for (int i = 0; i < 1000; i++) {
        int p = 1 + i % 3;
        assert_true (cw_pool_local_acquire (&s_local [p], 0));
        cw_pool_local_release (&s_local [p], 0);
    }
    cw_pool_ledger_set_pool (ledger, 0, 10);
    assert_int_equal (s_settle (ledger, NULL), 0);
    //  The pool grows: the new part is split
    cw_pool_ledger_set_pool (ledger, 0, 16);
    s_settle (ledger, NULL);
    assert_int_equal (s_sum_share (0), 16);
    for (int p = 1; p <= 3; p++)
        assert_in_range (s_local [p].share [0], 5, 6);
    assert_false (cw_pool_ledger_reserved (ledger, 4, (int64_t [K]){ 0 }));
    cw_pool_ledger_destroy (&ledger);
    assert_null (ledger);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_demand_served_from_free (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (2, 0);
    //  A pool of 10 appears, but the peers' acks are not in yet: the free
    //  part goes to the demander at once
    cw_pool_ledger_set_pool (ledger, 1, 10);
    cw_pool_offer_t offer;
    cw_pool_ledger_demand (ledger, 2, 1, 3);
    assert_true (cw_pool_ledger_next_offer (ledger, 2, &offer));
    assert_true (offer.target [1] >= 3);
    assert_false (offer.exhausted [1]);
    cw_pool_ack_t ack;
    cw_pool_local_offer (&s_local [2], &offer, &ack);
    cw_pool_ledger_ack (ledger, 2, &ack);
    s_settle (ledger, NULL);
    assert_true (s_local [2].share [1] >= 3);
    assert_int_equal (s_sum_share (1), 10);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_reclaims_spare_by_halving (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (3, 12);    //  4 each
    for (int p = 1; p <= 3; p++)
        assert_int_equal (s_local [p].share [0], 4);
    //  Peer 1 uses 4, peer 2 uses 1, peer 3 nothing; peer 1 wants 2 more
    for (int i = 0; i < 4; i++)
        assert_true (cw_pool_local_acquire (&s_local [1], 0));
    assert_false (cw_pool_local_acquire (&s_local [1], 0));
    assert_true (cw_pool_local_acquire (&s_local [2], 0));
    cw_pool_ledger_demand (ledger, 1, 0, 2);
    //  Lowering offers to the others, none to the demander yet
    cw_pool_offer_t offer;
    assert_false (cw_pool_ledger_next_offer (ledger, 1, &offer));
    assert_true (cw_pool_ledger_next_offer (ledger, 2, &offer));
    //  peer 2's spare 4 - 0 (as last acknowledged) halves to 2; it uses 1
    //  now, which it keeps
    assert_int_equal (offer.target [0], 2);
    assert_false (offer.binding [0]);
    cw_pool_ack_t ack;
    cw_pool_local_offer (&s_local [2], &offer, &ack);
    cw_pool_ledger_ack (ledger, 2, &ack);
    assert_true (cw_pool_ledger_next_offer (ledger, 3, &offer));
    assert_int_equal (offer.target [0], 2);
    cw_pool_local_offer (&s_local [3], &offer, &ack);
    cw_pool_ledger_ack (ledger, 3, &ack);
    //  4 came back; the demander gets it
    //  What came back went to the demander as soon as it did (peer 2's 2
    //  cover the demand, peer 3's stay free)
    s_settle (ledger, NULL);
    assert_int_equal (s_local [1].share [0], 6);
    assert_int_equal (s_local [2].share [0], 2);
    assert_int_equal (s_local [3].share [0], 2);
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 2);
    assert_int_equal (s_settle (ledger, NULL), 0);
    assert_true (cw_pool_local_acquire (&s_local [1], 0));
    assert_true (cw_pool_local_acquire (&s_local [1], 0));
    assert_false (cw_pool_local_acquire (&s_local [1], 0));
    //  The next demand is served from the free part at once: one offer
    cw_pool_ledger_demand (ledger, 1, 0, 1);
    assert_false (cw_pool_ledger_next_offer (ledger, 2, &offer));
    assert_false (cw_pool_ledger_next_offer (ledger, 3, &offer));
    assert_int_equal (s_settle (ledger, NULL), 1);
    assert_int_equal (s_local [1].share [0], 8);
    assert_int_equal (s_sum_share (0), 12);
    cw_pool_ledger_destroy (&ledger);
}

//  Acquire on PEER until refused, demand, settle; true when the answer
//  was EXHAUSTED. Counts the grants in *GRANTED.
static bool
s_fill (cw_pool_ledger_t *ledger, int peer, int k, int64_t *granted)
{
    for (int round = 0; round < 100; round++) {
        while (cw_pool_local_acquire (&s_local [peer], k))
            (*granted)++;
        cw_pool_ledger_demand (ledger, peer, k, 1);
        cw_pool_offer_t last [N + 1];
        memset (last, 0, sizeof last);
        s_settle (ledger, last);
        if (last [peer].exhausted [k])
            return true;
    }
    fail_msg ("peer %d never answered", peer);
    return false;
}

static void
test_ledger_whole_pool_usable_then_exhausted (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (3, 25);
    int64_t granted = 0;
    //  Peer 3 alone takes everything, then the others are refused
    assert_true (s_fill (ledger, 3, 0, &granted));
    assert_int_equal (granted, 25);
    assert_int_equal (s_local [3].used [0], 25);
    int64_t none = 0;
    assert_true (s_fill (ledger, 1, 0, &none));
    assert_int_equal (none, 0);
    //  After releases on peer 3, a demand elsewhere is served again
    for (int i = 0; i < 5; i++)
        cw_pool_local_release (&s_local [3], 0);
    assert_false (s_fill (ledger, 2, 0, &none) && none == 0);
    assert_int_equal (none, 5);
    assert_int_equal (s_sum_share (0), 25);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_lost_peer_untouched (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (3, 30);    //  10 each
    cw_pool_ledger_set_peer (ledger, 3, false, NULL);
    s_settle (ledger, NULL);
    int64_t granted = 0;
    assert_true (s_fill (ledger, 1, 0, &granted));
    //  Peer 1 got peer 2's spare, never peer 3's
    assert_int_equal (granted, 20);
    assert_int_equal (s_local [3].share [0], 10);
    int64_t reserved [K];
    cw_pool_ledger_reserved (ledger, 3, reserved);
    assert_int_equal (reserved [0], 10);
    cw_pool_peer_status_t st;
    assert_true (cw_pool_ledger_peer_status (ledger, 3, &st));
    assert_false (st.live);
    assert_int_equal (st.reserved [0], 10);
    //  Peer 3 comes back: probed, then its spare can be reclaimed
    cw_pool_ledger_set_peer (ledger, 3, true, NULL);
    cw_pool_offer_t offer;
    assert_true (cw_pool_ledger_next_offer (ledger, 3, &offer));
    assert_int_equal (offer.target [0], -1);
    cw_pool_ack_t ack;
    cw_pool_local_offer (&s_local [3], &offer, &ack);
    cw_pool_ledger_ack (ledger, 3, &ack);
    s_settle (ledger, NULL);
    granted = 0;
    assert_true (s_fill (ledger, 1, 0, &granted));
    assert_int_equal (granted, 10);
    assert_int_equal (s_local [1].used [0], 30);
    //  Dropped for good: its reservation goes back to the free part,
    //  split among the live peers
    cw_pool_ledger_set_peer (ledger, 2, false, NULL);
    s_local [2].share [0] = 0;    //  (it left)
    cw_pool_ledger_drop_peer (ledger, 2);
    assert_false (cw_pool_ledger_peer_status (ledger, 2, &st));
    s_settle (ledger, NULL);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_drop_frees_the_reservation (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (3, 30);
    cw_pool_ledger_set_peer (ledger, 3, false, NULL);
    s_settle (ledger, NULL);
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 0);
    memset (&s_local [3], 0, sizeof s_local [3]);
    cw_pool_ledger_drop_peer (ledger, 3);
    s_settle (ledger, NULL);
    assert_int_equal (s_local [1].share [0], 15);
    assert_int_equal (s_local [2].share [0], 15);
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 0);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_ignores_stale_and_malformed_acks (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (2, 10);    //  5 each
    cw_pool_ack_t good;
    cw_pool_offer_t probe = { .epoch = 1000, .seq = s_local [1].seq };
    for (int k = 0; k < K; k++)
        probe.target [k] = -1;
    cw_pool_local_offer (&s_local [1], &probe, &good);    //  a duplicate: the current state
    //  A repeated ack of the last offer: taken once only
    cw_pool_ack_t fake = good;
    fake.share [0] = 0;
    cw_pool_ledger_ack (ledger, 1, &fake);
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 0);
    //  Another epoch, a future seq, negative counts, unknown peers
    cw_pool_ledger_demand (ledger, 2, 0, 1);    //  an offer to peer 1 outstanding
    cw_pool_offer_t offer;
    assert_true (cw_pool_ledger_next_offer (ledger, 1, &offer));
    cw_pool_ack_t ack;
    cw_pool_local_offer (&s_local [1], &offer, &ack);
    fake = ack;
    fake.epoch = 999;
    fake.share [0] = 0;
    cw_pool_ledger_ack (ledger, 1, &fake);
    fake.epoch = ack.epoch;
    fake.seq = ack.seq + 1;
    cw_pool_ledger_ack (ledger, 1, &fake);
    fake.seq = ack.seq;
    fake.used [3] = -1;
    cw_pool_ledger_ack (ledger, 1, &fake);
    fake.used [3] = 0;
    fake.share [4] = CW_POOL_COUNT_MAX + 1;
    cw_pool_ledger_ack (ledger, 1, &fake);
    assert_true (cw_pool_ledger_outstanding (ledger, 1));
    cw_pool_ledger_ack (ledger, 0, &ack);
    cw_pool_ledger_ack (ledger, N + 1, &ack);
    cw_pool_ledger_demand (ledger, 4, 0, 1);    //  not declared
    cw_pool_ledger_demand (ledger, 1, K, 1);
    cw_pool_ledger_demand (ledger, 1, 0, -5);
    cw_pool_ledger_set_pool (ledger, 0, -1);
    cw_pool_ledger_set_pool (ledger, 0, CW_POOL_COUNT_MAX + 1);
    cw_pool_ledger_set_pool (ledger, K, 1);
    assert_int_equal (cw_pool_ledger_pool (ledger, 0), 10);
    //  The true ack completes it
    cw_pool_ledger_ack (ledger, 1, &ack);
    assert_false (cw_pool_ledger_outstanding (ledger, 1));
    s_settle (ledger, NULL);
    assert_int_equal (s_sum_share (0), 10);
    assert_true (s_local [2].share [0] > 5);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_lost_offer_keeps_reservation_and_resyncs (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (2, 0);
    cw_pool_ledger_set_pool (ledger, 0, 10);
    cw_pool_ledger_demand (ledger, 1, 0, 4);
    cw_pool_offer_t offer, late;
    assert_true (cw_pool_ledger_next_offer (ledger, 1, &offer));
    int64_t raised = offer.target [0];
    assert_true (raised >= 4);
    late = offer;
    //  No answer: lost. Reserved stays at the raise; the next offer is at
    //  least a probe
    cw_pool_ledger_offer_lost (ledger, 1);
    int64_t reserved [K];
    cw_pool_ledger_reserved (ledger, 1, reserved);
    assert_int_equal (reserved [0], raised);
    assert_true (cw_pool_ledger_next_offer (ledger, 1, &offer));
    assert_true (offer.seq > late.seq);
    //  The lost one arrives late, then the new one: both applied in order,
    //  and the demand is answered again (a raise or EXHAUSTED)
    cw_pool_ack_t ack;
    assert_true (cw_pool_local_offer (&s_local [1], &late, &ack));
    cw_pool_ledger_ack (ledger, 1, &ack);    //  not the latest: ignored
    assert_true (cw_pool_ledger_outstanding (ledger, 1));
    assert_true (cw_pool_local_offer (&s_local [1], &offer, &ack));
    cw_pool_ledger_ack (ledger, 1, &ack);
    cw_pool_offer_t last [N + 1];
    memset (last, 0, sizeof last);
    s_settle (ledger, last);
    assert_true (last [1].target [0] > raised || last [1].exhausted [0]);
    assert_true (s_sum_share (0) <= 10);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_restart_probes_and_trusts_persisted (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (3, 30);    //  10 each
    int64_t persisted [N + 1][K];
    for (int p = 1; p <= 3; p++)
        cw_pool_ledger_reserved (ledger, p, persisted [p]);
    cw_pool_ledger_destroy (&ledger);
    //  The primary restarts; peer 3 is unreachable
    ledger = cw_pool_ledger_new (2000);
    for (int k = 0; k < K; k++)
        cw_pool_ledger_set_pool (ledger, k, 30);
    for (int p = 1; p <= 3; p++)
        cw_pool_ledger_set_peer (ledger, p, p != 3, persisted [p]);
    assert_int_equal (cw_pool_ledger_free (ledger, 0), 0);
    cw_pool_offer_t offer;
    assert_true (cw_pool_ledger_next_offer (ledger, 1, &offer));
    assert_int_equal (offer.epoch, 2000);
    for (int k = 0; k < K; k++)
        assert_int_equal (offer.target [k], -1);
    assert_false (cw_pool_ledger_next_offer (ledger, 3, &offer));
    //  An offer of the old epoch still in flight is now stale
    cw_pool_offer_t old = { .epoch = 1000, .seq = 99 };
    old.target [0] = 30;
    cw_pool_ack_t ack;
    cw_pool_local_offer (&s_local [1], &offer, &ack);
    assert_false (cw_pool_local_offer (&s_local [1], &old, &ack));
    cw_pool_ledger_ack (ledger, 1, &ack);
    s_settle (ledger, NULL);
    int64_t granted = 0;
    assert_true (s_fill (ledger, 2, 0, &granted));
    assert_int_equal (granted, 20);    //  its own 10 and peer 1's, not peer 3's
    cw_pool_peer_status_t st;
    cw_pool_ledger_peer_status (ledger, 3, &st);
    assert_int_equal (st.reserved [0], 10);
    assert_int_equal (st.share [0], -1);
    assert_int_equal (cw_pool_ledger_epoch (ledger), 2000);
    cw_pool_ledger_destroy (&ledger);
}

static void
test_ledger_shrink_takes_spare_then_binds (void **state)
{
    (void) state;
    cw_pool_ledger_t *ledger = s_cluster (2, 20);    //  10 each
    for (int i = 0; i < 8; i++)
        assert_true (cw_pool_local_acquire (&s_local [1], 0));
    for (int i = 0; i < 2; i++)
        assert_true (cw_pool_local_acquire (&s_local [2], 0));
    //  To 14: spare taken (as last known: all of it), the rest probed
    cw_pool_ledger_set_pool (ledger, 0, 14);
    s_settle (ledger, NULL);
    assert_true (s_sum_share (0) <= 14);
    //  To 6, below what is used (10): binding offers; nothing new until
    //  releases bring each peer below its target
    cw_pool_ledger_set_pool (ledger, 0, 6);
    s_settle (ledger, NULL);
    assert_int_equal (s_local [1].share [0] + s_local [2].share [0], 6);
    assert_false (cw_pool_local_acquire (&s_local [1], 0));
    assert_false (cw_pool_local_acquire (&s_local [2], 0));
    //  and no churn
    assert_int_equal (s_settle (ledger, NULL), 0);
    int64_t total_used = s_local [1].used [0] + s_local [2].used [0];
    assert_int_equal (total_used, 10);
    for (int i = 0; i < 8; i++)
        cw_pool_local_release (&s_local [1], 0);
    for (int i = 0; i < 2; i++)
        cw_pool_local_release (&s_local [2], 0);
    int64_t granted = 0;
    s_fill (ledger, 1, 0, &granted);
    s_fill (ledger, 2, 0, &granted);
    assert_int_equal (granted, 6);
    cw_pool_ledger_destroy (&ledger);
}

//  ---------------------------------------------------------------------
//  The simulation

typedef enum {
    M_OFFER,
    M_ACK,
    M_DEMAND
} s_mtype_t;

typedef struct {
    s_mtype_t type;
    int peer;    //  the peer it goes to (OFFER) or comes from
    cw_pool_offer_t offer;
    cw_pool_ack_t ack;
    int kind;
    int64_t need;
} s_msg_t;

#define QMAX 4096

typedef struct {
    uint64_t rng;
    int peers;    //  peers 1..peers take part; 1 hosts the primary
    cw_pool_ledger_t *ledger;
    uint64_t epoch;
    int64_t pool [K];
    cw_pool_local_t local [N + 1];
    bool member [N + 1];       //  declared (not dropped)
    bool reachable [N + 1];    //  its messages get through
    bool told_live [N + 1];    //  what the ledger was told
    int64_t persisted [N + 1][K];
    uint64_t sent_at [N + 1];
    bool demanding [N + 1][K];    //  a DEMAND sent, not answered
    uint64_t demanded_at [N + 1][K];
    bool answered [N + 1][K];      //  an offer raised the share or said EXHAUSTED
    bool exhausted [N + 1][K];     //  told EXHAUSTED with acquires still waiting
    int64_t waiting [N + 1][K];    //  acquires waiting for the answer to a DEMAND
    bool shrunk [K];
    s_msg_t q [QMAX];
    int qlen;
    uint64_t now;
    int loss, dup;    //  per mille
    uint64_t offers;
} s_world_t;

static uint64_t
s_rand (s_world_t *w)
{
    //  splitmix64
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int
s_pick (s_world_t *w, int n)
{
    return (int) (s_rand (w) % (uint64_t) n);
}

static bool
s_chance (s_world_t *w, int per_mille)
{
    return s_pick (w, 1000) < per_mille;
}

static uint64_t s_seed;    //  of the run in progress, printed on failure
static struct {
    uint64_t steps, offers, exhausted, binding, restarts, drops, lost;
} s_stats;    //  what the runs went through, printed at the end

#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            print_error ("seed %llu step %llu: ", (unsigned long long) s_seed, (unsigned long long) w->now);           \
            print_error (__VA_ARGS__);                                                                                 \
            print_error ("\n");                                                                                        \
            fail ();                                                                                                   \
        }                                                                                                              \
    } while (0)

static void
s_send (s_world_t *w, const s_msg_t *m)
{
    if (w->qlen < QMAX)
        w->q [w->qlen++] = *m;
}

static int64_t
s_sum_reserved (s_world_t *w, int k)
{
    int64_t sum = 0;
    for (int p = 1; p <= w->peers; p++) {
        int64_t r [K];
        if (cw_pool_ledger_reserved (w->ledger, p, r))
            sum += r [k];
    }
    return sum;
}

//  Take every offer the ledger has (persisting RESERVED first, as the
//  actor does) and queue it.
static void
s_pump (s_world_t *w)
{
    for (int p = 1; p <= w->peers; p++) {
        s_msg_t m = { .type = M_OFFER, .peer = p };
        while (cw_pool_ledger_next_offer (w->ledger, p, &m.offer)) {
            cw_pool_ledger_reserved (w->ledger, p, w->persisted [p]);
            w->sent_at [p] = w->now;
            w->offers++;
            s_send (w, &m);
        }
    }
}

//  Safety, after every step. Each peer holds at most what the ledger
//  reserves for it; the ledger never raises the sum of RESERVED above the
//  pool; so, unless the pool shrank (since the sum was last within it),
//  what the peers hold adds up to at most the pool.
static void
s_check_safety (s_world_t *w, const int64_t sum_before [K])
{
    for (int k = 0; k < K; k++) {
        int64_t held = 0;
        for (int p = 1; p <= w->peers; p++) {
            int64_t h = s_held (&w->local [p], k);
            held += h;
            int64_t r [K];
            if (cw_pool_ledger_reserved (w->ledger, p, r))
                CHECK (h <= r [k], "peer %d kind %d holds %lld > reserved %lld", p, k, (long long) h,
                       (long long) r [k]);
            else
                CHECK (h == 0, "peer %d not in the ledger holds %lld of kind %d", p, (long long) h, k);
        }
        int64_t sum = s_sum_reserved (w, k);
        if (sum_before)
            CHECK (sum <= w->pool [k] || sum <= sum_before [k], "kind %d reserved raised to %lld above pool %lld", k,
                   (long long) sum, (long long) w->pool [k]);
        if (sum <= w->pool [k])
            w->shrunk [k] = false;
        if (!w->shrunk [k])
            CHECK (held <= w->pool [k], "kind %d: peers hold %lld > pool %lld", k, (long long) held,
                   (long long) w->pool [k]);
    }
}

static void
s_snapshot (s_world_t *w, int64_t sums [K])
{
    for (int k = 0; k < K; k++)
        sums [k] = s_sum_reserved (w, k);
}

static void
s_deliver (s_world_t *w, int i, bool reliable)
{
    s_msg_t m = w->q [i];
    if (reliable || !s_chance (w, w->dup))
        w->q [i] = w->q [--w->qlen];
    if (!w->reachable [m.peer] || !w->member [m.peer])
        return;    //  partitioned: lost
    if (!reliable && s_chance (w, w->loss))
        return;
    int64_t before [K];
    s_snapshot (w, before);
    if (getenv ("CW_POOL_TRACE")) {
        int t = atoi (getenv ("CW_POOL_TRACE"));
        if (m.type == M_OFFER)
            print_error ("%llu offer->%d e%llu s%llu t=%lld x=%d b=%d | local share %lld used %lld\n",
                         (unsigned long long) w->now, m.peer, (unsigned long long) m.offer.epoch,
                         (unsigned long long) m.offer.seq, (long long) m.offer.target [t], m.offer.exhausted [t],
                         m.offer.binding [t], (long long) w->local [m.peer].share [t],
                         (long long) w->local [m.peer].used [t]);
        else if (m.type == M_ACK)
            print_error ("%llu ack<-%d e%llu s%llu share=%lld used=%lld\n", (unsigned long long) w->now, m.peer,
                         (unsigned long long) m.ack.epoch, (unsigned long long) m.ack.seq, (long long) m.ack.share [t],
                         (long long) m.ack.used [t]);
        else if (m.kind == t)
            print_error ("%llu demand<-%d n%lld free%lld\n", (unsigned long long) w->now, m.peer, (long long) m.need,
                         (long long) cw_pool_ledger_free (w->ledger, m.kind));
    }
    if (m.type == M_OFFER) {
        for (int k = 0; k < K; k++) {
            s_stats.exhausted += m.offer.exhausted [k];
            s_stats.binding += m.offer.binding [k];
        }
        cw_pool_local_t *l = &w->local [m.peer];
        int64_t share [K];
        memcpy (share, l->share, sizeof share);
        s_msg_t a = { .type = M_ACK, .peer = m.peer };
        if (cw_pool_local_offer (l, &m.offer, &a.ack))
            for (int k = 0; k < K; k++) {
                //  the actor retries its waiting acquires on every offer,
                //  and refuses them on EXHAUSTED
                while (w->waiting [m.peer][k] > 0 && cw_pool_local_acquire (l, k))
                    w->waiting [m.peer][k]--;
                if (l->share [k] > share [k] || m.offer.exhausted [k]) {
                    w->answered [m.peer][k] = true;
                    w->demanding [m.peer][k] = false;
                }
                if (m.offer.exhausted [k] && w->waiting [m.peer][k] > 0) {
                    w->exhausted [m.peer][k] = true;    //  acquires refused
                    w->waiting [m.peer][k] = 0;
                }
            }
        s_send (w, &a);
        return;
    }
    if (m.type == M_ACK)
        cw_pool_ledger_ack (w->ledger, m.peer, &m.ack);
    else
        cw_pool_ledger_demand (w->ledger, m.peer, m.kind, m.need);
    s_check_safety (w, before);
    s_pump (w);
}

static void
s_demand (s_world_t *w, int p, int k, int64_t need)
{
    s_msg_t m = { .type = M_DEMAND, .peer = p, .kind = k, .need = need };
    w->demanding [p][k] = true;
    w->demanded_at [p][k] = w->now;
    w->answered [p][k] = false;
    w->exhausted [p][k] = false;
    w->waiting [p][k] = need;
    s_send (w, &m);
}

static void
s_restart_primary (s_world_t *w)
{
    cw_pool_ledger_destroy (&w->ledger);
    w->ledger = cw_pool_ledger_new (++w->epoch);
    for (int k = 0; k < K; k++)
        cw_pool_ledger_set_pool (w->ledger, k, w->pool [k]);
    for (int p = 1; p <= w->peers; p++)
        if (w->member [p])
            cw_pool_ledger_set_peer (w->ledger, p, w->told_live [p], w->persisted [p]);
    //  Demands in flight to the old one are gone with it
    for (int i = 0; i < w->qlen;)
        if (w->q [i].type == M_DEMAND)
            w->q [i] = w->q [--w->qlen];
        else
            i++;
    memset (w->demanding, 0, sizeof w->demanding);
    memset (w->waiting, 0, sizeof w->waiting);
}

static void
s_purge (s_world_t *w, int p)
{
    for (int i = 0; i < w->qlen;)
        if (w->q [i].peer == p)
            w->q [i] = w->q [--w->qlen];
        else
            i++;
}

static void
s_step (s_world_t *w)
{
    w->now++;
    int64_t before [K];
    s_snapshot (w, before);
    int p = 1 + s_pick (w, w->peers);
    int k = s_pick (w, K);
    int what = s_pick (w, 1000);
    bool ledger_call = false;
    if (what < 300) {
        //  acquire; refused: demand (at most one outstanding, renewed late)
        if (w->member [p] && !cw_pool_local_acquire (&w->local [p], k)
            && (!w->demanding [p][k] || w->now - w->demanded_at [p][k] > 200))
            s_demand (w, p, k, 1 + s_pick (w, 3));
    }
    else if (what < 550) {
        cw_pool_local_release (&w->local [p], k);
    }
    else if (what < 900) {
        if (w->qlen > 0)
            s_deliver (w, s_pick (w, w->qlen), false);
        return;
    }
    else if (what < 930) {
        //  timeouts
        for (int i = 1; i <= w->peers; i++)
            if (cw_pool_ledger_outstanding (w->ledger, i)
                && w->now - w->sent_at [i] > 50 + (uint64_t) s_pick (w, 100)) {
                cw_pool_ledger_offer_lost (w->ledger, i);
                s_stats.lost++;
            }
        ledger_call = true;
    }
    else if (what < 950) {
        //  partition or heal a peer (not the primary's own)
        if (p != 1 && w->member [p]) {
            if (s_chance (w, 200))
                w->told_live [p] = !w->told_live [p];    //  the cluster view is wrong for a while
            else {
                w->reachable [p] = !w->reachable [p];
                if (w->reachable [p] || s_chance (w, 700))
                    w->told_live [p] = w->reachable [p];    //  (or the ledger does not notice yet)
            }
            cw_pool_ledger_set_peer (w->ledger, p, w->told_live [p], NULL);
            ledger_call = true;
        }
    }
    else if (what < 960) {
        //  drop a partitioned peer for good, or bring a dropped one back
        if (p != 1 && w->member [p] && !w->reachable [p]) {
            cw_pool_ledger_drop_peer (w->ledger, p);
            s_stats.drops++;
            w->member [p] = false;
            s_purge (w, p);
            memset (&w->local [p], 0, sizeof w->local [p]);
            memset (w->persisted [p], 0, sizeof w->persisted [p]);
            ledger_call = true;
        }
        else if (!w->member [p]) {
            w->member [p] = true;
            w->reachable [p] = true;
            w->told_live [p] = true;
            cw_pool_ledger_set_peer (w->ledger, p, true, w->persisted [p]);
            ledger_call = true;
        }
    }
    else if (what < 985) {
        int64_t pool = s_pick (w, 60);
        if (pool < w->pool [k])
            w->shrunk [k] = true;
        w->pool [k] = pool;
        cw_pool_ledger_set_pool (w->ledger, k, pool);
        ledger_call = true;
    }
    else if (what < 990) {
        s_restart_primary (w);
        s_stats.restarts++;
        s_pump (w);
        s_check_safety (w, NULL);
        return;
    }
    if (ledger_call) {
        s_check_safety (w, before);
        s_pump (w);
    }
    s_check_safety (w, NULL);
}

//  Deliver everything, reliably, in random order; lost offers time out.
static void
s_quiesce (s_world_t *w)
{
    for (int round = 0; round < 100000; round++) {
        if (w->qlen > 0) {
            w->now++;
            s_deliver (w, s_pick (w, w->qlen), true);
            s_check_safety (w, NULL);
            continue;
        }
        bool lost = false;
        for (int p = 1; p <= w->peers; p++)
            if (cw_pool_ledger_outstanding (w->ledger, p)) {
                cw_pool_ledger_offer_lost (w->ledger, p);
                lost = true;
            }
        s_pump (w);
        if (!lost && w->qlen == 0)
            return;
    }
    CHECK (false, "never quiet");
}

static void
s_dump (s_world_t *w, int k)
{
    print_error ("kind %d pool %lld free %lld\n", k, (long long) w->pool [k],
                 (long long) cw_pool_ledger_free (w->ledger, k));
    for (int p = 1; p <= w->peers; p++) {
        cw_pool_peer_status_t st;
        cw_pool_ledger_peer_status (w->ledger, p, &st);
        print_error (
            "  peer %d local share %lld used %lld | ledger live %d acked %d reserved %lld share %lld used %lld "
            "demand %lld\n",
            p, (long long) w->local [p].share [k], (long long) w->local [p].used [k], st.live, st.acked,
            (long long) st.reserved [k], (long long) st.share [k], (long long) st.used [k], (long long) st.demand [k]);
    }
}

//  Liveness: heal everything; every peer acquires until refused, demanding
//  more each time, until each was told EXHAUSTED for each kind.
static void
s_check_liveness (s_world_t *w)
{
    w->loss = 0;
    w->dup = 0;
    for (int p = 1; p <= w->peers; p++) {
        if (!w->member [p]) {
            w->member [p] = true;
            memset (&w->local [p], 0, sizeof w->local [p]);
            memset (w->persisted [p], 0, sizeof w->persisted [p]);
        }
        w->reachable [p] = true;
        w->told_live [p] = true;
        cw_pool_ledger_set_peer (w->ledger, p, true, w->persisted [p]);
    }
    s_pump (w);
    s_quiesce (w);
    memset (w->demanding, 0, sizeof w->demanding);
    memset (w->waiting, 0, sizeof w->waiting);
    for (int k = 0; k < K; k++) {
        //  A shrunk pool: the peers cut below what they use release down
        //  to their shares; then the shares are within the pool
        int64_t held = 0;
        for (int p = 1; p <= w->peers; p++) {
            while (w->local [p].used [k] > w->local [p].share [k])
                cw_pool_local_release (&w->local [p], k);
            held += w->local [p].share [k];
        }
        CHECK (held <= w->pool [k], "kind %d: shares %lld above pool %lld at rest", k, (long long) held,
               (long long) w->pool [k]);
        if (getenv ("CW_POOL_DUMP"))
            s_dump (w, k);
        bool done [N + 1] = { false };
        int left = w->peers;
        for (int round = 0; left > 0; round++) {
            CHECK (round < 2000, "kind %d: peers still not exhausted after %d rounds", k, round);
            int p = 1 + s_pick (w, w->peers);
            if (done [p])
                continue;
            while (cw_pool_local_acquire (&w->local [p], k))
                ;
            s_demand (w, p, k, 1 + s_pick (w, 4));
            s_quiesce (w);
            CHECK (w->answered [p][k], "kind %d: peer %d's demand got no answer", k, p);
            if (w->exhausted [p][k]) {
                int64_t total = 0;
                for (int i = 1; i <= w->peers; i++)
                    total += w->local [i].used [k];
                if (total < w->pool [k])
                    s_dump (w, k);
                CHECK (total >= w->pool [k], "kind %d: peer %d told EXHAUSTED with %lld of %lld used", k, p,
                       (long long) total, (long long) w->pool [k]);
                done [p] = true;
                left--;
            }
        }
        int64_t total = 0;
        for (int p = 1; p <= w->peers; p++)
            total += w->local [p].used [k];
        if (total != w->pool [k])
            s_dump (w, k);
        CHECK (total == w->pool [k], "kind %d: together %lld granted, pool %lld", k, (long long) total,
               (long long) w->pool [k]);
    }
    //  No churn: acquire/release pairs within the shares send nothing
    uint64_t offers = w->offers;
    for (int i = 0; i < 1000; i++) {
        int p = 1 + s_pick (w, w->peers);
        int k = s_pick (w, K);
        if (w->local [p].used [k] > 0 && w->local [p].used [k] <= w->local [p].share [k]) {
            cw_pool_local_release (&w->local [p], k);
            CHECK (cw_pool_local_acquire (&w->local [p], k), "re-acquire refused");
        }
    }
    s_pump (w);
    CHECK (w->offers == offers && w->qlen == 0, "offers sent in the steady state");
}

static void
s_run (uint64_t seed, int steps)
{
    s_seed = seed;
    s_world_t *w = calloc (1, sizeof *w);
    assert_non_null (w);
    w->rng = seed;
    w->peers = 1 + s_pick (w, N);
    w->epoch = 1;
    w->ledger = cw_pool_ledger_new (w->epoch);
    w->loss = s_pick (w, 200);
    w->dup = s_pick (w, 100);
    for (int k = 0; k < K; k++) {
        w->pool [k] = s_pick (w, 40);
        cw_pool_ledger_set_pool (w->ledger, k, w->pool [k]);
    }
    for (int p = 1; p <= w->peers; p++) {
        w->member [p] = true;
        w->reachable [p] = true;
        w->told_live [p] = true;
        cw_pool_ledger_set_peer (w->ledger, p, true, NULL);
    }
    s_pump (w);
    for (int i = 0; i < steps; i++)
        s_step (w);
    s_stats.steps += w->now;
    s_stats.offers += w->offers;
    s_check_liveness (w);
    cw_pool_ledger_destroy (&w->ledger);
    free (w);
}

static void
test_simulation (void **state)
{
    (void) state;
    const char *long_runs = getenv ("CW_POOL_STEPS");
    int steps = long_runs ? atoi (long_runs) : 3000;
    const char *one = getenv ("CW_POOL_SEED");
    if (one) {
        s_run (strtoull (one, NULL, 10), steps);
        return;
    }
    const char *many = getenv ("CW_POOL_SEEDS");
    uint64_t seeds = many ? strtoull (many, NULL, 10) : 200;
    for (uint64_t seed = 1; seed <= seeds; seed++)
        s_run (seed, steps);
    print_message ("%llu runs: %llu steps, %llu offers (%llu EXHAUSTED, %llu binding), %llu timeouts, %llu primary "
                   "restarts, %llu peers dropped\n",
                   (unsigned long long) seeds, (unsigned long long) s_stats.steps, (unsigned long long) s_stats.offers,
                   (unsigned long long) s_stats.exhausted, (unsigned long long) s_stats.binding,
                   (unsigned long long) s_stats.lost, (unsigned long long) s_stats.restarts,
                   (unsigned long long) s_stats.drops);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_local_acquire_within_share),
        cmocka_unit_test (test_local_is_constant_time),
        cmocka_unit_test (test_local_applies_only_newer_offers),
        cmocka_unit_test (test_local_share_never_below_used_unless_binding),
        cmocka_unit_test (test_local_clamp_only_lowers),
        cmocka_unit_test (test_ledger_probes_then_splits_the_free_part),
        cmocka_unit_test (test_ledger_demand_served_from_free),
        cmocka_unit_test (test_ledger_reclaims_spare_by_halving),
        cmocka_unit_test (test_ledger_whole_pool_usable_then_exhausted),
        cmocka_unit_test (test_ledger_lost_peer_untouched),
        cmocka_unit_test (test_ledger_drop_frees_the_reservation),
        cmocka_unit_test (test_ledger_ignores_stale_and_malformed_acks),
        cmocka_unit_test (test_ledger_lost_offer_keeps_reservation_and_resyncs),
        cmocka_unit_test (test_ledger_restart_probes_and_trusts_persisted),
        cmocka_unit_test (test_ledger_shrink_takes_spare_then_binds),
        cmocka_unit_test (test_simulation),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
