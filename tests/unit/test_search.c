/*  test_search.c - unit tests of the pure part of the search
    (actors/routing/search.c): the choice of the peer a request from a
    neighbour cluster is handed to.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "search.h"

static void
test_least_loaded_skips_maintenance_and_dead_peers (void **state)
{
    (void) state;
    double loads [4] = { 0, 0.5, 0.0, 0.1 };
    bool maintenance [4] = { false, false, true, false };
    bool alive [4] = { false, true, true, true };
    //  Peer 2 has no calls but is in maintenance: peer 3
    assert_int_equal (cw_search_least_loaded (loads, maintenance, alive, 3, 1), 3);
    alive [3] = false;
    //  Peer 3 is down too: only this peer is left
    assert_int_equal (cw_search_least_loaded (loads, maintenance, alive, 3, 1), 1);
}

static void
test_least_loaded_tie_keeps_this_peer (void **state)
{
    (void) state;
    double loads [4] = { 0, 0.2, 0.2, 0.2 };
    bool maintenance [4] = { false };
    bool alive [4] = { false, true, true, true };
    assert_int_equal (cw_search_least_loaded (loads, maintenance, alive, 3, 2), 2);
    loads [3] = 0.1;
    assert_int_equal (cw_search_least_loaded (loads, maintenance, alive, 3, 2), 3);
}

static void
test_least_loaded_everyone_in_maintenance (void **state)
{
    (void) state;
    double loads [3] = { 0, 0, 0 };
    bool maintenance [3] = { false, true, true };
    bool alive [3] = { false, true, true };
    //  Nobody fits: this peer keeps it (the core refuses new calls itself)
    assert_int_equal (cw_search_least_loaded (loads, maintenance, alive, 2, 1), 1);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_least_loaded_skips_maintenance_and_dead_peers),
        cmocka_unit_test (test_least_loaded_tie_keeps_this_peer),
        cmocka_unit_test (test_least_loaded_everyone_in_maintenance),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
