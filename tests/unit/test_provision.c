/*  test_provision.c - unit tests of the provisioning services' pure part:
    reading a page of the manager's Provisioning answer into the rows to
    put (tms_provision_page): values as compact JSON without "deleted",
    removals as null, and every malformed answer refused with a reason.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>

#include "provision.h"

static int
s_page (const char *body, int64_t since, json_t **rows, int64_t *last, int64_t *revision, bool *more, char *err)
{
    return tms_provision_page (body, strlen (body), since, rows, last, revision, more, err, 512);
}

static void
test_rows (void **state)
{
    (void) state;
    json_t *rows;
    int64_t last, revision;
    bool more;
    char err [512];
    const char *body = "{\"service\":\"users\",\"revision\":9,\"more\":true,\"rows\":["
                       "{\"id\":\"u1\",\"rev\":3,\"username\":\"a\",\"aliases\":[\"a@x\"]},"
                       "{\"id\":\"u2\",\"rev\":5,\"deleted\":true},"
                       "{\"id\":\"u3\",\"rev\":7,\"deleted\":false,\"username\":\"c\"}]}";
    assert_int_equal (s_page (body, 2, &rows, &last, &revision, &more, err), 0);
    assert_int_equal (last, 7);
    assert_int_equal (revision, 9);
    assert_true (more);
    assert_int_equal (json_array_size (rows), 3);
    assert_string_equal (json_string_value (json_array_get (json_array_get (rows, 0), 0)), "u1");
    assert_string_equal (json_string_value (json_array_get (json_array_get (rows, 0), 1)),
                         "{\"id\":\"u1\",\"rev\":3,\"username\":\"a\",\"aliases\":[\"a@x\"]}");
    assert_true (json_is_null (json_array_get (json_array_get (rows, 1), 1)));
    //  "deleted": false is not kept in the value
    assert_string_equal (json_string_value (json_array_get (json_array_get (rows, 2), 1)),
                         "{\"id\":\"u3\",\"rev\":7,\"username\":\"c\"}");
    json_decref (rows);

    //  An empty page: nothing to put, LAST stays SINCE
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[],\"more\":false}", 4, &rows, &last, &revision, &more, err),
                      0);
    assert_int_equal (json_array_size (rows), 0);
    assert_int_equal (last, 4);
    assert_false (more);
    json_decref (rows);
}

static void
test_refused (void **state)
{
    (void) state;
    json_t *rows;
    int64_t last, revision;
    bool more;
    char err [512];
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[{\"id\":\"u", 0, &rows, &last, &revision, &more, err), -1);
    assert_null (rows);
    assert_non_null (strstr (err, "not {"));
    assert_int_equal (s_page ("<html>500</html>", 0, &rows, &last, &revision, &more, err), -1);
    assert_int_equal (s_page ("{\"rows\":[]}", 0, &rows, &last, &revision, &more, err), -1);
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[{\"rev\":1}]}", 0, &rows, &last, &revision, &more, err), -1);
    assert_non_null (strstr (err, "\"id\""));
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[{\"id\":\"a\",\"rev\":\"1\"}]}", 0, &rows, &last, &revision,
                              &more, err),
                      -1);
    //  revs must increase and follow SINCE
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[{\"id\":\"a\",\"rev\":3},{\"id\":\"b\",\"rev\":3}]}", 0, &rows,
                              &last, &revision, &more, err),
                      -1);
    assert_non_null (strstr (err, "not after 3"));
    assert_int_equal (s_page ("{\"revision\":4,\"rows\":[{\"id\":\"a\",\"rev\":2}]}", 2, &rows, &last, &revision, &more,
                              err),
                      -1);
    assert_null (rows);
}

static void
test_services (void **state)
{
    (void) state;
    const char *want [] = { "users", "findme", "phonebooks", "templates", NULL };
    for (int i = 0; want [i]; i++)
        assert_string_equal (tms_provision_services [i], want [i]);
    assert_null (tms_provision_services [4]);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_rows),
        cmocka_unit_test (test_refused),
        cmocka_unit_test (test_services),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
