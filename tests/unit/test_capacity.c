/*  test_capacity.c - unit tests of the cluster's call capacity figure
    (actors/routing/capacity.c): calls per peer times the live peers, at
    most four of them counted; the default when the cluster key is not
    set; what the figure says it is based on.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "capacity.h"

static json_int_t
s_int (json_t *figure, const char *name)
{
    json_t *value = json_object_get (figure, name);
    assert_true (json_is_integer (value));
    return json_integer_value (value);
}

static void
test_peers_one_to_six (void **state)
{
    (void) state;
    //  Peers 1..4 add capacity, 5 and 6 resilience only
    const json_int_t expected [7] = { 0, 800, 1600, 2400, 3200, 3200, 3200 };
    for (int live = 1; live <= 6; live++) {
        json_t *figure = cw_capacity_compute (800, CW_CAPACITY_KEY, live);
        assert_int_equal (s_int (figure, "calls_per_peer"), 800);
        assert_int_equal (s_int (figure, "peers_live"), live);
        assert_int_equal (s_int (figure, "peers_counted"), live < 4 ? live : 4);
        assert_int_equal (s_int (figure, "peers_max_counted"), 4);
        assert_int_equal (s_int (figure, "cluster_calls"), expected [live]);
        assert_string_equal (json_string_value (json_object_get (figure, "source")), CW_CAPACITY_KEY);
        assert_non_null (strstr (json_string_value (json_object_get (figure, "basis")), "800 calls per peer"));
        json_decref (figure);
    }
}

static void
test_default (void **state)
{
    (void) state;
    //  Not set (or not a positive number): the default, and it says so
    json_t *figure = cw_capacity_compute (0, CW_CAPACITY_KEY, 1);
    assert_int_equal (s_int (figure, "calls_per_peer"), CW_CAPACITY_CALLS_PER_PEER);
    assert_int_equal (s_int (figure, "cluster_calls"), CW_CAPACITY_CALLS_PER_PEER);
    assert_string_equal (json_string_value (json_object_get (figure, "source")), "default");
    assert_non_null (strstr (json_string_value (json_object_get (figure, "basis")), "(default) x 1 of 1 live peer"));
    json_decref (figure);
    //  No live peer known yet counts as this one
    figure = cw_capacity_compute (-5, NULL, 0);
    assert_int_equal (s_int (figure, "peers_counted"), 1);
    assert_int_equal (s_int (figure, "cluster_calls"), CW_CAPACITY_CALLS_PER_PEER);
    json_decref (figure);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_peers_one_to_six),
        cmocka_unit_test (test_default),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
