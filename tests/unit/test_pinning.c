/*  test_pinning.c - tests of the peers' pinned certificates (actors/
    replication/cluster/pinning.c) on a SQLite database file of their
    own: first use pins, a change is refused until trusted, enforce mode
    moves the pin, pins survive a reopen, removed peers are forgotten.
    No actor: the alarms are the integration tests' business
    (test_cluster_pinning.py).
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

#include "cw_log.h"
#include "pinning.h"

#define FP_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define FP_C "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static char s_path [256];

static sqlite3 *
s_open (void)
{
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (s_path, &db), SQLITE_OK);
    return db;
}

static int
s_setup (void **state)
{
    (void) state;
    cw_log_init ("test_pinning", CW_LOG_ERROR);
    snprintf (s_path, sizeof s_path, "/tmp/cw_pinning_%d.db", (int) getpid ());
    unlink (s_path);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    unlink (s_path);
    return 0;
}

static void
test_first_use_change_trust (void **state)
{
    (void) state;
    sqlite3 *db = s_open ();
    char err [512], reason [512];
    cw_pinning_t *pins = cw_pinning_new (NULL, db, err, sizeof err);
    assert_non_null (pins);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), "");
    //  nothing to trust before a refusal
    assert_int_equal (cw_pinning_trust (pins, 2, "127.0.1.2", NULL, NULL, err, sizeof err), -1);
    assert_non_null (strstr (err, "has not linked yet"));

    //  first use pins; the same certificate again is fine
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_A, false, reason, sizeof reason), 0);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_A);
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_A, false, reason, sizeof reason), 0);
    assert_int_equal (cw_pinning_trust (pins, 2, "127.0.1.2", NULL, NULL, err, sizeof err), -1);
    assert_non_null (strstr (err, "nothing to accept"));
    //  no certificate at all is refused, and pins nothing
    assert_int_equal (cw_pinning_check (pins, 3, "127.0.1.3", "", false, reason, sizeof reason), -1);
    assert_non_null (strstr (reason, "presented no certificate"));
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.3"), "");

    //  another certificate: refused, with both fingerprints in the reason
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_B, false, reason, sizeof reason), -1);
    assert_non_null (strstr (reason, FP_A));
    assert_non_null (strstr (reason, FP_B));
    assert_non_null (strstr (reason, "trust-peer 2"));
    assert_string_equal (cw_pinning_refused (pins, "127.0.1.2"), FP_B);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_A);
    //  the pinned one again ends the refusal
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_A, false, reason, sizeof reason), 0);
    assert_string_equal (cw_pinning_refused (pins, "127.0.1.2"), "");
    //  refused again, then trusted: the refused one becomes the pin
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_B, false, reason, sizeof reason), -1);
    char now [CW_PINNING_FINGERPRINT], before [CW_PINNING_FINGERPRINT];
    assert_int_equal (cw_pinning_trust (pins, 2, "127.0.1.2", now, before, err, sizeof err), 0);
    assert_string_equal (now, FP_B);
    assert_string_equal (before, FP_A);
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_B, false, reason, sizeof reason), 0);
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_A, false, reason, sizeof reason), -1);

    //  enforce mode (verified by the CA): the pin follows without a refusal
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_C, true, reason, sizeof reason), 0);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_C);
    assert_string_equal (cw_pinning_refused (pins, "127.0.1.2"), "");

    //  addresses compare without case or trailing dot
    assert_int_equal (cw_pinning_check (pins, 3, "Peer3.Example.COM.", FP_A, false, reason, sizeof reason), 0);
    assert_string_equal (cw_pinning_pinned (pins, "peer3.example.com"), FP_A);
    assert_int_equal (cw_pinning_check (pins, 3, "peer3.example.com", FP_B, false, reason, sizeof reason), -1);
    cw_pinning_destroy (&pins);
    assert_null (pins);
    sqlite3_close (db);

    //  everything survives a reopen, the outstanding refusal included
    db = s_open ();
    pins = cw_pinning_new (NULL, db, err, sizeof err);
    assert_non_null (pins);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_C);
    assert_string_equal (cw_pinning_pinned (pins, "peer3.example.com"), FP_A);
    assert_string_equal (cw_pinning_refused (pins, "peer3.example.com"), FP_B);
    assert_int_equal (cw_pinning_check (pins, 2, "127.0.1.2", FP_A, false, reason, sizeof reason), -1);

    //  a peer that leaves the list is forgotten, in the database too
    char peers [6][256] = { "127.0.1.1", "127.0.1.2" };
    cw_pinning_retain (pins, (const char (*) [256]) peers, 2);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_C);
    assert_string_equal (cw_pinning_pinned (pins, "peer3.example.com"), "");
    cw_pinning_tick (pins);
    cw_pinning_destroy (&pins);
    sqlite3_close (db);
    db = s_open ();
    pins = cw_pinning_new (NULL, db, err, sizeof err);
    assert_string_equal (cw_pinning_pinned (pins, "peer3.example.com"), "");
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), FP_C);
    //  an empty list forgets every pin
    cw_pinning_retain (pins, (const char (*) [256]) peers, 0);
    assert_string_equal (cw_pinning_pinned (pins, "127.0.1.2"), "");
    cw_pinning_destroy (&pins);
    sqlite3_close (db);
}

//  A database that cannot hold the table: a clear error, no object.
static void
test_database_error (void **state)
{
    (void) state;
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open_v2 (":memory:", &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal (sqlite3_exec (db, "PRAGMA query_only = 1", NULL, NULL, NULL), SQLITE_OK);
    char err [512] = "";
    assert_null (cw_pinning_new (NULL, db, err, sizeof err));
    assert_non_null (strstr (err, "pinned certificates"));
    sqlite3_close (db);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_first_use_change_trust, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_database_error, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
