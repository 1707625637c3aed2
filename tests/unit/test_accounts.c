/*  test_accounts.c - unit tests of the pure pieces of the web
    administrators' accounts (ipc/cw_admins.c): the account
    name rule, argon2id hashing and checking, API tokens (shape, parse,
    the stored hash matching, a changed secret not matching), and the
    positive-check cache (a hit only for the same name, password and
    stored hash, within 60 s, none after forgetting, and keys that differ
    between two caches).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include "cw_admins.h"

static void
test_names (void **state)
{
    (void) state;
    const char *good [] = { "a", "alice", "Bob.Smith", "ops_team-1", "admin@example.com", NULL };
    for (int i = 0; good [i]; i++)
        if (!cw_admins_name_valid (good [i]))
            fail_msg ("'%s' refused", good [i]);
    char longest [65];
    memset (longest, 'x', 64);
    longest [64] = 0;
    assert_true (cw_admins_name_valid (longest));
    char too_long [66];
    memset (too_long, 'x', 65);
    too_long [65] = 0;
    const char *bad [] = { "", "bad name", "a:b", "a/b", "quote\"", "tab\t", "é", "semi;colon", too_long, NULL };
    for (int i = 0; bad [i]; i++)
        if (cw_admins_name_valid (bad [i]))
            fail_msg ("'%s' accepted", bad [i]);
    assert_false (cw_admins_name_valid (NULL));
}

static void
test_password_hash (void **state)
{
    (void) state;
    assert_true (sodium_init () >= 0);
    char hash [crypto_pwhash_STRBYTES], again [crypto_pwhash_STRBYTES];
    assert_int_equal (cw_admins_password_hash ("correct horse", 13, hash, sizeof hash), 0);
    assert_int_equal (strncmp (hash, "$argon2id$", 10), 0);
    assert_null (strstr (hash, "correct horse"));
    assert_true (cw_admins_password_check (hash, "correct horse", 13));
    assert_false (cw_admins_password_check (hash, "correct horsf", 13));
    assert_false (cw_admins_password_check (hash, "correct hors", 12));
    //  salted: the same password hashes differently each time
    assert_int_equal (cw_admins_password_hash ("correct horse", 13, again, sizeof again), 0);
    assert_string_not_equal (hash, again);
    assert_true (cw_admins_password_check (again, "correct horse", 13));
    assert_int_equal (cw_admins_password_hash ("x", 1, hash, 16), -1);
}

static void
test_tokens (void **state)
{
    (void) state;
    char token [CW_ADMINS_TOKEN_LEN + 1], id [CW_ADMINS_TOKEN_ID_HEX + 1], hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
    cw_admins_token_new (token, id, hash);
    assert_int_equal (strlen (token), CW_ADMINS_TOKEN_LEN);
    assert_int_equal (strncmp (token, "cwt_", 4), 0);
    assert_int_equal (strncmp (token + 4, id, CW_ADMINS_TOKEN_ID_HEX), 0);
    assert_int_equal (token [4 + CW_ADMINS_TOKEN_ID_HEX], '_');
    assert_int_equal (strlen (hash), CW_ADMINS_TOKEN_HASH_HEX);
    //  the stored hash is not the secret
    assert_null (strstr (token, hash));

    char got_id [CW_ADMINS_TOKEN_ID_HEX + 1], got_hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
    assert_int_equal (cw_admins_token_parse (token, got_id, got_hash), 0);
    assert_string_equal (got_id, id);
    assert_string_equal (got_hash, hash);

    //  one character of the secret changed: same id, another hash
    char other [CW_ADMINS_TOKEN_LEN + 1];
    memcpy (other, token, sizeof other);
    other [CW_ADMINS_TOKEN_LEN - 1] = other [CW_ADMINS_TOKEN_LEN - 1] == 'a' ? 'b' : 'a';
    assert_int_equal (cw_admins_token_parse (other, got_id, got_hash), 0);
    assert_string_equal (got_id, id);
    assert_string_not_equal (got_hash, hash);

    //  two tokens differ
    char second [CW_ADMINS_TOKEN_LEN + 1], second_id [CW_ADMINS_TOKEN_ID_HEX + 1],
        second_hash [CW_ADMINS_TOKEN_HASH_HEX + 1];
    cw_admins_token_new (second, second_id, second_hash);
    assert_string_not_equal (second, token);
    assert_string_not_equal (second_id, id);

    //  shapes that are not a token
    char shorter [CW_ADMINS_TOKEN_LEN + 1];
    memcpy (shorter, token, sizeof shorter);
    shorter [CW_ADMINS_TOKEN_LEN - 1] = 0;
    char upper [CW_ADMINS_TOKEN_LEN + 1];
    memcpy (upper, token, sizeof upper);
    upper [5] = 'G';
    char prefix [CW_ADMINS_TOKEN_LEN + 1];
    memcpy (prefix, token, sizeof prefix);
    prefix [0] = 'x';
    char separator [CW_ADMINS_TOKEN_LEN + 1];
    memcpy (separator, token, sizeof separator);
    separator [4 + CW_ADMINS_TOKEN_ID_HEX] = '-';
    const char *bad [] = { "", "cwt_", shorter, upper, prefix, separator, NULL };
    for (int i = 0; bad [i]; i++)
        if (cw_admins_token_parse (bad [i], got_id, got_hash) == 0)
            fail_msg ("'%s' parsed", bad [i]);
    assert_int_equal (cw_admins_token_parse (NULL, got_id, got_hash), -1);
}

static void
test_cache (void **state)
{
    (void) state;
    cw_admins_cache_t *cache = cw_admins_cache_new ();
    assert_non_null (cache);
    const char *stored = "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA";
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 1000));
    cw_admins_cache_remember (cache, "alice", "secret-1", stored, 1000);
    assert_true (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 1000));
    assert_true (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 1000 + CW_ADMINS_CACHE_MS - 1));
    //  another password, name, or stored hash (the password changed elsewhere)
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-2", stored, 2000));
    assert_false (cw_admins_cache_hit (cache, "bob", "secret-1", stored, 2000));
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-1", "$argon2id$other", 2000));
    //  the pair does not run together: ("ab", "c") is not ("a", "bc")
    cw_admins_cache_remember (cache, "ab", "c", stored, 1000);
    assert_false (cw_admins_cache_hit (cache, "a", "bc", stored, 1000));
    //  expired
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 1000 + CW_ADMINS_CACHE_MS));
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 1000));
    //  forgotten
    cw_admins_cache_remember (cache, "alice", "secret-1", stored, 5000);
    cw_admins_cache_forget (cache);
    assert_false (cw_admins_cache_hit (cache, "alice", "secret-1", stored, 5000));
    //  another cache has another key: what one remembers the other does not
    cw_admins_cache_t *other = cw_admins_cache_new ();
    cw_admins_cache_remember (cache, "alice", "secret-1", stored, 5000);
    assert_false (cw_admins_cache_hit (other, "alice", "secret-1", stored, 5000));
    //  many entries: bounded, the newest still remembered
    for (int i = 0; i < 5000; i++) {
        char name [16];
        snprintf (name, sizeof name, "u%d", i);
        cw_admins_cache_remember (other, name, "pw", stored, 10000 + i);
    }
    assert_true (cw_admins_cache_hit (other, "u4999", "pw", stored, 20000));
    cw_admins_cache_destroy (&other);
    cw_admins_cache_destroy (&cache);
    assert_null (cache);
    cw_admins_cache_destroy (&cache);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_names),
        cmocka_unit_test (test_password_hash),
        cmocka_unit_test (test_tokens),
        cmocka_unit_test (test_cache),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
