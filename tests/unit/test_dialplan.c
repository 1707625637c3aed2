/*  test_dialplan.c - unit tests of the dial plan (actors/routing/dialplan.c):
    transforms of every pattern type, regex groups, bad rules refused with
    their field, priorities and groups of equal priority, stop and
    continue, the source kinds, rules switched off, the steps, and a plan
    of 1,000 rules.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dialplan.h"

static void
s_transform (cw_dialplan_t *plan, const char *name, int priority, const char *type, const char *pattern,
             const char *replace, const char *state)
{
    json_t *rule = json_pack ("{s:s, s:i, s:s, s:s, s:s, s:s}", "name", name, "priority", priority, "pattern_type",
                              type, "pattern", pattern, "replace", replace, "state", state);
    assert_int_equal (cw_dialplan_set_transform (plan, name, rule), 0);
    json_decref (rule);
}

//  A search rule from a JSON text
static void
s_rule (cw_dialplan_t *plan, const char *text)
{
    json_error_t error;
    json_t *rule = json_loads (text, 0, &error);
    assert_non_null (rule);
    char err [256] = "";
    json_t *normalized = NULL;
    int rc = cw_dialplan_check_search_rule (rule, &normalized, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "%s: %s\n", text, err);
    assert_int_equal (rc, 0);
    assert_int_equal (cw_dialplan_set_search_rule (plan, json_string_value (json_object_get (rule, "name")),
                                                   normalized),
                      0);
    json_decref (normalized);
    json_decref (rule);
}

static void
s_assert_transform (cw_dialplan_t *plan, const char *alias, const char *expected, const char *name)
{
    char out [CW_DIALPLAN_ALIAS_MAX], matched [64];
    cw_dialplan_transform (plan, alias, out, sizeof out, matched, sizeof matched, NULL);
    assert_string_equal (out, expected);
    assert_string_equal (matched, name);
}

static void
test_transform_types (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    s_transform (plan, "exact", 10, "exact", "reception", "1000@example.com", "on");
    s_transform (plan, "prefix", 20, "prefix", "00", "+", "on");
    s_transform (plan, "suffix", 30, "suffix", "@old.example.com", "@example.com", "on");
    s_transform (plan, "regex", 40, "regex", "([0-9]{4})@([a-z]+)\\.local", "\\1@\\2.example.com", "on");
    assert_int_equal (cw_dialplan_transform_count (plan), 4);
    s_assert_transform (plan, "reception", "1000@example.com", "exact");
    s_assert_transform (plan, "reception2", "reception2", "");
    s_assert_transform (plan, "0044123", "+44123", "prefix");
    s_assert_transform (plan, "alice@old.example.com", "alice@example.com", "suffix");
    s_assert_transform (plan, "1234@lab.local", "1234@lab.example.com", "regex");
    //  a regex matches the whole alias, never a part of it
    s_assert_transform (plan, "x1234@lab.local", "x1234@lab.local", "");
    s_assert_transform (plan, "1234@lab.localx", "1234@lab.localx", "");
    //  one transform per alias: the first that matches, lowest priority first
    s_transform (plan, "first", 5, "prefix", "0", "9", "on");
    s_assert_transform (plan, "0044123", "9044123", "first");
    //  a transform switched off is skipped
    s_transform (plan, "first", 5, "prefix", "0", "9", "off");
    s_assert_transform (plan, "0044123", "+44123", "prefix");
    //  removed
    assert_int_equal (cw_dialplan_set_transform (plan, "prefix", NULL), 0);
    s_assert_transform (plan, "0044123", "0044123", "");
    assert_int_equal (cw_dialplan_transform_count (plan), 4);
    cw_dialplan_clear (plan);
    assert_int_equal (cw_dialplan_transform_count (plan), 0);
    cw_dialplan_destroy (&plan);
    assert_null (plan);
}

static void
test_regex_groups (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    //  alternation stays inside the anchors; groups count from the user's first
    s_transform (plan, "alt", 1, "regex", "(alice|bob)@(.*)", "\\2/\\1\\\\", "on");
    s_assert_transform (plan, "bob@a.example", "a.example/bob\\", "alt");
    s_assert_transform (plan, "carol@a.example", "carol@a.example", "");
    //  a group that did not take part gives nothing
    s_transform (plan, "opt", 2, "regex", "(\\+)?([0-9]+)", "[\\1]\\2", "on");
    s_assert_transform (plan, "12345", "[]12345", "opt");
    s_assert_transform (plan, "+12345", "[+]12345", "opt");
    //  a literal start made optional by a quantifier is no prefix
    s_transform (plan, "quant", 3, "regex", "ab?c", "matched", "on");
    s_assert_transform (plan, "ac", "matched", "quant");
    s_assert_transform (plan, "abc", "matched", "quant");
    cw_dialplan_destroy (&plan);
}

static void
s_assert_refused (json_t *rule, bool search, const char *field)
{
    char err [256] = "";
    json_t *normalized = (json_t *) 1;
    int rc = search ? cw_dialplan_check_search_rule (rule, &normalized, err, sizeof err)
                    : cw_dialplan_check_transform (rule, &normalized, err, sizeof err);
    assert_int_equal (rc, -1);
    assert_null (normalized);
    char prefix [64];
    snprintf (prefix, sizeof prefix, "%s: ", field);
    if (strncmp (err, prefix, strlen (prefix)) != 0)
        fail_msg ("expected '%s...', got '%s'", prefix, err);
    assert_true (strlen (err) > strlen (prefix));
    //  and kept out of the dial plan
    cw_dialplan_t *plan = cw_dialplan_new ();
    const char *name = json_string_value (json_object_get (rule, "name"));
    if (name)
        assert_int_equal (search ? cw_dialplan_set_search_rule (plan, name, rule)
                                 : cw_dialplan_set_transform (plan, name, rule),
                          -1);
    assert_int_equal (cw_dialplan_transform_count (plan) + cw_dialplan_search_rule_count (plan), 0);
    cw_dialplan_destroy (&plan);
    json_decref (rule);
}

static void
test_refused (void **state)
{
    (void) state;
    const char *t = "{\"name\": \"t\", \"priority\": 1, \"pattern_type\": \"regex\", \"pattern\": \"a\"}";
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "regex", "pattern",
                                 "([0-9]"),
                      false, "pattern");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "regex", "pattern",
                                 "*a"),
                      false, "pattern");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "regex",
                                 "pattern", "(a)(b)", "replace", "\\3"),
                      false, "replace");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 0, "pattern_type", "prefix",
                                 "pattern", "a"),
                      false, "priority");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 65535, "pattern_type", "prefix",
                                 "pattern", "a"),
                      false, "priority");
    s_assert_refused (json_pack ("{s:s, s:s, s:s, s:s}", "name", "t", "priority", "1", "pattern_type", "prefix",
                                 "pattern", "a"),
                      false, "priority");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "glob", "pattern",
                                 "a"),
                      false, "pattern_type");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "prefix",
                                 "pattern", ""),
                      false, "pattern");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s, s:s}", "name", "t", "priority", 1, "pattern_type", "prefix",
                                 "pattern", "a", "state", "maybe"),
                      false, "state");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s}", "name", "", "priority", 1, "pattern_type", "prefix", "pattern",
                                 "a"),
                      false, "name");
    s_assert_refused (json_pack ("{s:s, s:i, s:s, s:s, s:i}", "name", "t", "priority", 1, "pattern_type", "prefix",
                                 "pattern", "a", "colour", 3),
                      false, "colour");
    s_assert_refused (json_loads (t, 0, NULL), true, "target");
    const char *base = "{\"name\": \"r\", \"priority\": 1, \"target\": \"local\"";
    const char *bad [][2] = {
        { ", \"source\": \"everyone\"}", "source" },
        { ", \"source\": \"zone:\"}", "source" },
        { ", \"authenticated\": \"yes\"}", "authenticated" },
        { ", \"mode\": \"some\"}", "mode" },
        { ", \"mode\": \"pattern_match\"}", "pattern_type" },
        { ", \"mode\": \"pattern_match\", \"pattern_type\": \"prefix\"}", "pattern" },
        { ", \"mode\": \"pattern_match\", \"pattern_type\": \"regex\", \"pattern\": \"(\"}", "pattern" },
        { ", \"mode\": \"pattern_match\", \"pattern_type\": \"regex\", \"pattern\": \"a\", \"behaviour\": \"strip\"}",
          "behaviour" },
        { ", \"mode\": \"pattern_match\", \"pattern_type\": \"prefix\", \"pattern\": \"a\", \"behaviour\": \"cut\"}",
          "behaviour" },
        { ", \"behaviour\": \"strip\"}", "behaviour" },
        { ", \"on_match\": \"halt\"}", "on_match" },
        { ", \"state\": \"1\"}", "state" },
        { ", \"target\": \"a zone\"}", "target" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char text [512];
        snprintf (text, sizeof text, "%s%s", base, bad [i][0]);
        //  the later "target" replaces the first one
        json_t *rule = json_loads (text, JSON_DECODE_ANY, NULL);
        assert_non_null (rule);
        s_assert_refused (rule, true, bad [i][1]);
    }
    //  defaults filled in
    json_t *normalized = NULL;
    char err [256];
    json_t *rule = json_loads ("{\"name\": \"r\", \"priority\": 7, \"target\": \"local\"}", 0, NULL);
    assert_int_equal (cw_dialplan_check_search_rule (rule, &normalized, err, sizeof err), 0);
    char *text = json_dumps (normalized, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal (text, "{\"authenticated\":false,\"behaviour\":\"leave\",\"mode\":\"any_alias\",\"name\":"
                               "\"r\",\"on_match\":\"stop\",\"pattern\":\"\",\"pattern_type\":\"prefix\","
                               "\"priority\":7,\"replace\":\"\",\"source\":\"any\",\"state\":\"on\",\"target\":"
                               "\"local\"}");
    free (text);
    json_decref (normalized);
    json_decref (rule);
    //  the name the rule is set under is the rule's own
    rule = json_loads (t, 0, NULL);
    cw_dialplan_t *plan = cw_dialplan_new ();
    assert_int_equal (cw_dialplan_set_transform (plan, "other", rule), -1);
    assert_int_equal (cw_dialplan_set_transform (plan, "t", rule), 0);
    cw_dialplan_destroy (&plan);
    json_decref (rule);
}

//  Records the groups the search offers; finds the alias in FOUND_IN
typedef struct {
    char seen [1024];
    const char *found_in;
} walk_t;

static bool
s_walk (const cw_dialplan_target_t *targets, size_t count, void *arg)
{
    walk_t *walk = (walk_t *) arg;
    bool found = false;
    size_t at = strlen (walk->seen);
    snprintf (walk->seen + at, sizeof walk->seen - at, "[");
    for (size_t i = 0; i < count; i++) {
        at = strlen (walk->seen);
        snprintf (walk->seen + at, sizeof walk->seen - at, "%s%s>%s:%s", i ? " " : "", targets [i].rule,
                  targets [i].target, targets [i].alias);
        if (walk->found_in && strcmp (targets [i].target, walk->found_in) == 0)
            found = true;
    }
    at = strlen (walk->seen);
    snprintf (walk->seen + at, sizeof walk->seen - at, "]");
    return found;
}

static void
test_groups_and_stop (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    s_rule (plan, "{\"name\": \"a\", \"priority\": 10, \"target\": \"local\", \"on_match\": \"continue\"}");
    s_rule (plan, "{\"name\": \"b\", \"priority\": 10, \"target\": \"east\", \"on_match\": \"continue\", \"mode\": "
                  "\"pattern_match\", \"pattern_type\": \"prefix\", \"pattern\": \"9\", \"behaviour\": \"strip\"}");
    s_rule (plan, "{\"name\": \"c\", \"priority\": 20, \"target\": \"west\", \"mode\": \"pattern_match\", "
                  "\"pattern_type\": \"suffix\", \"pattern\": \"@old\", \"behaviour\": \"replace\", \"replace\": "
                  "\"@new\"}");
    s_rule (plan, "{\"name\": \"d\", \"priority\": 30, \"target\": \"dns\"}");
    cw_dialplan_source_t source = { "local", true, true };
    //  nothing found: every group, until the stop of "c"
    walk_t walk = { "", NULL };
    char last [64];
    assert_int_equal (cw_dialplan_search (plan, "9123@old", &source, s_walk, &walk, NULL, last, sizeof last), 3);
    assert_string_equal (walk.seen, "[a>local:9123@old b>east:123@old][c>west:9123@new]");
    assert_string_equal (last, "c");
    //  found in the first group: the walk ends there
    walk_t found = { "", "east" };
    assert_int_equal (cw_dialplan_search (plan, "9123@old", &source, s_walk, &found, NULL, last, sizeof last), 2);
    assert_string_equal (found.seen, "[a>local:9123@old b>east:123@old]");
    assert_string_equal (last, "b");
    //  "c" does not match: the walk goes on to "d" (which stops)
    walk_t other = { "", NULL };
    assert_int_equal (cw_dialplan_search (plan, "555", &source, s_walk, &other, NULL, last, sizeof last), 2);
    assert_string_equal (other.seen, "[a>local:555][d>dns:555]");
    //  the plan: the same groups at once
    json_t *groups = cw_dialplan_plan (plan, "9123@old", &source, NULL);
    char *text = json_dumps (groups, JSON_SORT_KEYS | JSON_COMPACT);
    assert_string_equal (text, "[[{\"alias\":\"9123@old\",\"rule\":\"a\",\"stop\":false,\"target\":\"local\"},"
                               "{\"alias\":\"123@old\",\"rule\":\"b\",\"stop\":false,\"target\":\"east\"}],"
                               "[{\"alias\":\"9123@new\",\"rule\":\"c\",\"stop\":true,\"target\":\"west\"}]]");
    free (text);
    json_decref (groups);
    //  a rule switched off is skipped
    s_rule (plan, "{\"name\": \"a\", \"priority\": 10, \"target\": \"local\", \"state\": \"off\"}");
    walk_t off = { "", NULL };
    cw_dialplan_search (plan, "555", &source, s_walk, &off, NULL, NULL, 0);
    assert_string_equal (off.seen, "[d>dns:555]");
    //  no rule at all: nothing matched, no last rule
    assert_int_equal (cw_dialplan_set_search_rule (plan, "d", NULL), 0);
    assert_int_equal (cw_dialplan_search (plan, "555", &source, s_walk, &off, NULL, last, sizeof last), 0);
    assert_string_equal (last, "");
    cw_dialplan_destroy (&plan);
}

static void
test_sources (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    s_rule (plan, "{\"name\": \"any\", \"priority\": 1, \"target\": \"t-any\", \"on_match\": \"continue\"}");
    s_rule (plan, "{\"name\": \"reg\", \"priority\": 1, \"source\": \"registered\", \"target\": \"t-reg\", "
                  "\"on_match\": \"continue\"}");
    s_rule (plan, "{\"name\": \"auth\", \"priority\": 1, \"source\": \"authenticated\", \"target\": \"t-auth\", "
                  "\"on_match\": \"continue\"}");
    s_rule (plan, "{\"name\": \"zone\", \"priority\": 1, \"source\": \"zone:east\", \"target\": \"t-zone\", "
                  "\"on_match\": \"continue\"}");
    s_rule (plan, "{\"name\": \"must\", \"priority\": 1, \"authenticated\": true, \"target\": \"t-must\", "
                  "\"on_match\": \"continue\"}");
    struct {
        cw_dialplan_source_t source;
        const char *seen;
    } cases [] = {
        { { "", false, false }, "[any>t-any:x]" },
        { { "local", true, false }, "[any>t-any:x reg>t-reg:x]" },
        { { "local", false, true }, "[any>t-any:x auth>t-auth:x must>t-must:x]" },
        { { "east", false, false }, "[any>t-any:x zone>t-zone:x]" },
        { { "west", false, false }, "[any>t-any:x]" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        walk_t walk = { "", NULL };
        cw_dialplan_search (plan, "x", &cases [i].source, s_walk, &walk, NULL, NULL, 0);
        assert_string_equal (walk.seen, cases [i].seen);
    }
    //  no source at all: the same as an unknown one
    walk_t walk = { "", NULL };
    cw_dialplan_search (plan, "x", NULL, s_walk, &walk, NULL, NULL, 0);
    assert_string_equal (walk.seen, "[any>t-any:x]");
    cw_dialplan_destroy (&plan);
}

static void
test_steps (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    s_transform (plan, "t1", 1, "prefix", "x", "y", "on");
    s_transform (plan, "t2", 2, "prefix", "0", "+", "on");
    s_transform (plan, "t3", 3, "prefix", "0", "-", "on");
    json_t *steps = json_array ();
    char out [CW_DIALPLAN_ALIAS_MAX], name [64];
    cw_dialplan_transform (plan, "044", out, sizeof out, name, sizeof name, steps);
    assert_string_equal (out, "+44");
    s_rule (plan, "{\"name\": \"r1\", \"priority\": 5, \"target\": \"local\", \"mode\": \"pattern_match\", "
                  "\"pattern_type\": \"prefix\", \"pattern\": \"9\"}");
    s_rule (plan, "{\"name\": \"r2\", \"priority\": 6, \"target\": \"east\", \"mode\": \"pattern_match\", "
                  "\"pattern_type\": \"regex\", \"pattern\": \"\\\\+([0-9]+)\", \"behaviour\": \"replace\", "
                  "\"replace\": \"\\\\1@east\"}");
    s_rule (plan, "{\"name\": \"r3\", \"priority\": 7, \"target\": \"west\"}");
    cw_dialplan_source_t source = { "local", false, false };
    json_t *groups = cw_dialplan_plan (plan, out, &source, steps);
    char *text = json_dumps (steps, JSON_COMPACT);
    assert_string_equal (
        text,
        "[{\"step\":\"transform\",\"name\":\"t1\",\"matched\":false,\"alias\":\"044\"},"
        "{\"step\":\"transform\",\"name\":\"t2\",\"matched\":true,\"alias\":\"+44\"},"
        "{\"step\":\"rule\",\"name\":\"r1\",\"priority\":5,\"matched\":false,\"alias\":\"+44\",\"target\":\"local\"},"
        "{\"step\":\"rule\",\"name\":\"r2\",\"priority\":6,\"matched\":true,\"alias\":\"44@east\",\"target\":"
        "\"east\"}]");
    free (text);
    assert_int_equal (json_array_size (groups), 1);
    json_decref (groups);
    json_decref (steps);
    cw_dialplan_destroy (&plan);
}

static void
test_thousand_rules (void **state)
{
    (void) state;
    cw_dialplan_t *plan = cw_dialplan_new ();
    //  added in reverse order of priority: kept sorted anyway
    for (int i = 1000; i >= 1; i--) {
        char name [32], pattern [32], text [512];
        snprintf (name, sizeof name, "rule-%04d", i);
        snprintf (pattern, sizeof pattern, i % 2 ? "%d" : "%d[0-9]*", 10000 + i);
        snprintf (text, sizeof text,
                  "{\"name\": \"%s\", \"priority\": %d, \"target\": \"z%d\", \"mode\": \"pattern_match\", "
                  "\"pattern_type\": \"%s\", \"pattern\": \"%s\"}",
                  name, 1 + i / 2, i, i % 2 ? "prefix" : "regex", pattern);
        s_rule (plan, text);
    }
    for (int i = 1; i <= 100; i++) {
        char name [32], pattern [32];
        snprintf (name, sizeof name, "t-%03d", i);
        snprintf (pattern, sizeof pattern, "%03d", i);
        s_transform (plan, name, i, "prefix", pattern, "", "on");
    }
    assert_int_equal (cw_dialplan_search_rule_count (plan), 1000);
    assert_int_equal (cw_dialplan_transform_count (plan), 100);
    char out [CW_DIALPLAN_ALIAS_MAX], name [64];
    cw_dialplan_transform (plan, "10011000", out, sizeof out, name, sizeof name, NULL);
    //  "100" is transform 100: stripped
    assert_string_equal (out, "11000");
    assert_string_equal (name, "t-100");
    //  rule-0999 (priority 500, prefix 10999) and rule-1000 (priority 501, regex) both match 10999...:
    cw_dialplan_source_t source = { "local", false, false };
    walk_t walk = { "", NULL };
    char last [64];
    assert_int_equal (cw_dialplan_search (plan, "109995", &source, s_walk, &walk, NULL, last, sizeof last), 1);
    assert_string_equal (walk.seen, "[rule-0999>z999:109995]");
    //  the last rule matches only the regex one
    walk_t tail = { "", NULL };
    assert_int_equal (cw_dialplan_search (plan, "11000123", &source, s_walk, &tail, NULL, last, sizeof last), 1);
    assert_string_equal (tail.seen, "[rule-1000>z1000:11000123]");
    //  nothing matches: every rule looked at
    json_t *steps = json_array ();
    assert_int_equal (cw_dialplan_search (plan, "nobody", &source, s_walk, &walk, steps, last, sizeof last), 0);
    assert_int_equal (json_array_size (steps), 1000);
    json_decref (steps);
    cw_dialplan_destroy (&plan);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_transform_types), cmocka_unit_test (test_regex_groups), cmocka_unit_test (test_refused),
        cmocka_unit_test (test_groups_and_stop), cmocka_unit_test (test_sources),      cmocka_unit_test (test_steps),
        cmocka_unit_test (test_thousand_rules),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
