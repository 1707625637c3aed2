/*  test_bootstrap.c - the bootstrap loader: defaults, path handling, and
    the messages a person reads for a syntax error, a bad value and an
    unknown key. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_bootstrap.h"

static char s_dir [64];
static char s_warnings [2048];

static void
s_warn (const char *message, void *arg)
{
    (void) arg;
    strncat (s_warnings, message, sizeof s_warnings - strlen (s_warnings) - 2);
    strcat (s_warnings, "\n");
}

//  Write TEXT to a file in the test folder; returns its path (static).
static const char *
s_write (const char *text)
{
    static char path [128];
    snprintf (path, sizeof path, "%s/test.conf", s_dir);
    FILE *file = fopen (path, "w");
    fputs (text, file);
    fclose (file);
    return path;
}

static cw_bootstrap_t *
s_load (const char *text, char *err, size_t errlen)
{
    s_warnings [0] = 0;
    return cw_bootstrap_load (s_write (text), err, errlen, s_warn, NULL);
}

static void
test_defaults_and_relative_paths (void **state)
{
    (void) state;
    char err [512];
    cw_bootstrap_t *b = s_load ("node: { name = \"edge7\"; runtime_dir = \"run\"; state_dir = \"st\"; };\n", err,
                                sizeof err);
    assert_non_null (b);
    assert_string_equal (b->node.name, "edge7");
    assert_string_equal (b->node.type, "core");
    char expected [256];
    snprintf (expected, sizeof expected, "%s/run", s_dir);
    assert_string_equal (b->node.runtime_dir, expected);
    snprintf (expected, sizeof expected, "ipc://%s/run/control", s_dir);
    assert_string_equal (b->control.endpoint, expected);
    snprintf (expected, sizeof expected, "ipc://%s/run/alarms", s_dir);
    assert_int_equal (b->alarms.publish_count, 1);
    assert_string_equal (b->alarms.publish [0], expected);
    assert_int_equal (b->supervisor.intensity, 5);
    assert_int_equal (b->supervisor.period_s, 30);
    assert_int_equal (b->actor_count, 6);
    assert_string_equal (b->actors [0].name, "alarms");
    assert_string_equal (b->actors [5].name, "webadmin");
    assert_int_equal (b->peering.port, 4371);
    assert_string_equal (s_warnings, "");
    cw_bootstrap_destroy (&b);
    assert_null (b);
}

static void
test_syntax_error_names_file_and_line (void **state)
{
    (void) state;
    char err [512];
    cw_bootstrap_t *b = s_load ("node: {\n  name = \"x\";\n  type = ;\n};\n", err, sizeof err);
    assert_null (b);
    char expected [128];
    snprintf (expected, sizeof expected, "%s/test.conf:3: ", s_dir);
    assert_non_null (strstr (err, expected));
}

static void
test_bad_values_name_key_and_allowed (void **state)
{
    (void) state;
    char err [512];
    assert_null (s_load ("supervisor: {\n intensity = 0;\n};\n", err, sizeof err));
    assert_non_null (strstr (err, ":2: key 'supervisor.intensity': must be an integer 1..1000"));
    assert_null (s_load ("node: { type = \"middle\"; };\n", err, sizeof err));
    assert_non_null (strstr (err, "key 'node.type': 'middle' is not allowed; allowed: core, edge"));
    assert_null (s_load ("node: { name = 5; };\n", err, sizeof err));
    assert_non_null (strstr (err, "key 'node.name': must be a string"));
    assert_null (s_load ("actors = ( { name = \"alarms\"; restart = \"sometimes\"; } );\n", err, sizeof err));
    assert_non_null (strstr (err, "'sometimes' is not allowed; allowed: permanent, transient, temporary"));
    assert_null (s_load ("actors = ( { name = \"alarms\"; }, { name = \"alarms\"; } );\n", err, sizeof err));
    assert_non_null (strstr (err, "listed twice"));
    assert_null (s_load ("control: { endpoint = \"http://x\"; };\n", err, sizeof err));
    assert_non_null (strstr (err, "key 'control.endpoint'"));
    assert_null (cw_bootstrap_load ("/nonexistent/causeway.conf", err, sizeof err, NULL, NULL));
    assert_non_null (strstr (err, "/nonexistent/causeway.conf"));
}

static void
test_unknown_keys_warned (void **state)
{
    (void) state;
    char err [512];
    cw_bootstrap_t *b = s_load ("node: { name = \"a\"; colour = \"blue\"; };\nfoo = 1;\n"
                                "actors = ( { name = \"alarms\"; restrat = \"permanent\"; } );\n",
                                err, sizeof err);
    assert_non_null (b);
    assert_non_null (strstr (s_warnings, "test.conf:1: unknown key 'node.colour'"));
    assert_non_null (strstr (s_warnings, "unknown key 'foo'"));
    assert_non_null (strstr (s_warnings, "test.conf:3: unknown key 'actors.[0].restrat'"));
    assert_int_equal (b->actor_count, 1);
    cw_bootstrap_destroy (&b);
}

static void
test_example_files_are_valid (void **state)
{
    (void) state;
    char err [512];
    const char *files [] = { CW_SOURCE_DIR "/etc/causeway.conf", CW_SOURCE_DIR "/etc/causeway-dev.conf" };
    for (int i = 0; i < 2; i++) {
        s_warnings [0] = 0;
        cw_bootstrap_t *b = cw_bootstrap_load (files [i], err, sizeof err, s_warn, NULL);
        if (!b)
            fail_msg ("%s", err);
        assert_string_equal (s_warnings, "");
        assert_int_equal (b->actor_count, 6);
        cw_bootstrap_destroy (&b);
    }
}

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cwboot.XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    char path [128];
    snprintf (path, sizeof path, "%s/test.conf", s_dir);
    unlink (path);
    rmdir (s_dir);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults_and_relative_paths),
        cmocka_unit_test (test_syntax_error_names_file_and_line),
        cmocka_unit_test (test_bad_values_name_key_and_allowed),
        cmocka_unit_test (test_unknown_keys_warned),
        cmocka_unit_test (test_example_files_are_valid),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
