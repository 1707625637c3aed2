/*  test_tms.c - unit tests of the tms actor's parts: the durable bounded
    event queue (tms_queue), the manager address check and URL (tms.c),
    and the libcurl multi client driven from a zloop (tms_http) against the
    real test manager (tests/tms_manager/manager.py) over plain HTTP and
    HTTPS with the test CA of make_certs.sh, on an ephemeral loopback port.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tms.h"
#include "tms_http.h"
#include "tms_queue.h"

static char s_dir [256];

static int
s_setup (void **state)
{
    (void) state;
    snprintf (s_dir, sizeof s_dir, "/tmp/cw-test-tms-XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void) state;
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system (cmd) == 0 ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  The queue

static void
test_queue_bound_drops_oldest_and_survives_reopen (void **state)
{
    (void) state;
    char path [300], err [256];
    snprintf (path, sizeof path, "%s/q.db", s_dir);
    tms_queue_t *q = tms_queue_new (path, 5, err, sizeof err);
    assert_non_null (q);
    for (int i = 1; i <= 7; i++) {
        json_t *body = json_pack ("{s:i}", "n", i);
        assert_int_equal (tms_queue_push (q, "alarm", "2026-01-01T00:00:00.000Z", body, NULL, NULL), i);
        json_decref (body);
    }
    assert_int_equal (tms_queue_length (q), 5);
    assert_int_equal (tms_queue_dropped (q), 2);
    json_t *events = tms_queue_peek (q, 100);
    assert_int_equal (json_array_size (events), 5);
    assert_int_equal (json_integer_value (json_object_get (json_array_get (events, 0), "seq")), 3);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (json_array_get (events, 0), "data"), "n")),
                      3);
    json_decref (events);
    //  An event and the fact it was made from commit together
    json_t *body = json_object ();
    assert_true (tms_queue_push (q, "config", "2026-01-01T00:00:01.000Z", body, "config:x", "\"y\"") > 0);
    json_decref (body);
    tms_queue_destroy (&q);

    q = tms_queue_new (path, 5, err, sizeof err);
    assert_non_null (q);
    assert_int_equal (tms_queue_length (q), 5);
    assert_int_equal (tms_queue_dropped (q), 3);
    char *meta = tms_queue_meta_get (q, "config:x");
    assert_string_equal (meta, "\"y\"");
    free (meta);
    char *oldest = tms_queue_oldest (q);
    assert_string_equal (oldest, "2026-01-01T00:00:00.000Z");
    free (oldest);
    assert_int_equal (tms_queue_delete_upto (q, 6), 0);
    assert_int_equal (tms_queue_length (q), 2);
    assert_int_equal (tms_queue_delete_upto (q, 100), 0);
    assert_int_equal (tms_queue_length (q), 0);
    assert_null (tms_queue_oldest (q));
    tms_queue_destroy (&q);
}

//  ---------------------------------------------------------------------
//  Address and URL

static void
test_address_valid (void **state)
{
    (void) state;
    const char *good [] = { "tms.example.com",   "tms.example.com:8443", "10.0.0.1", "10.0.0.1:443", "tms",
                            "[2001:db8::1]:443", "2001:db8::1",          NULL };
    const char *bad [] = { "",
                           "tms.example.com:",
                           "tms.example.com:0",
                           "tms.example.com:65536",
                           "tms:80:90x",
                           "http://tms",
                           "tms/path",
                           "user@tms",
                           "[10.0.0.1]:443",
                           "-tms",
                           "tms..example",
                           " tms",
                           NULL };
    for (int i = 0; good [i]; i++)
        assert_true (tms_address_valid (good [i]));
    for (int i = 0; bad [i]; i++)
        if (tms_address_valid (bad [i]))
            fail_msg ("'%s' accepted", bad [i]);
}

static void
test_url (void **state)
{
    (void) state;
    char url [200];
    assert_int_equal (tms_url (url, sizeof url, "https", "tms:8443", "/a/b.asmx", "Register"), 0);
    assert_string_equal (url, "https://tms:8443/a/b.asmx/Register");
    assert_int_equal (tms_url (url, sizeof url, "http", "10.0.0.1", "a.asmx", NULL), 0);
    assert_string_equal (url, "http://10.0.0.1/a.asmx");
    assert_int_equal (tms_url (url, 10, "http", "10.0.0.1", "a.asmx", NULL), -1);
}

//  ---------------------------------------------------------------------
//  libcurl in a zloop, against the test manager

typedef struct {
    bool done;
    long status;
    char body [512];
    char error [512];
} s_result_t;

static void
s_on_done (long status, const char *body, size_t len, const char *error, void *arg)
{
    (void) len;
    s_result_t *r = arg;
    r->done = true;
    r->status = status;
    snprintf (r->body, sizeof r->body, "%s", body);
    snprintf (r->error, sizeof r->error, "%s", error ? error : "");
}

static int
s_check (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    return ((s_result_t *) arg)->done ? -1 : 0;
}

static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *) &addr, &len), 0);
    close (fd);
    return ntohs (addr.sin_port);
}

static pid_t
s_manager (int port, int control, const char *fault, bool tls)
{
    char listen [64], ctl [64], cert [300], key [300], wcert [300], wkey [300];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf (ctl, sizeof ctl, "127.0.0.1:%d", control);
    snprintf (cert, sizeof cert, "%s/peer1.crt", s_dir);
    snprintf (key, sizeof key, "%s/peer1.key", s_dir);
    snprintf (wcert, sizeof wcert, "%s/peer1-untrusted.crt", s_dir);
    snprintf (wkey, sizeof wkey, "%s/peer1-untrusted.key", s_dir);
    pid_t pid = fork ();
    if (pid == 0) {
        if (tls)
            execl ("/usr/bin/python3", "python3", CW_SOURCE_DIR "/tests/tms_manager/manager.py", "--listen", listen,
                   "--control", ctl, "--fault", fault, "--cert", cert, "--key", key, "--wrong-cert", wcert,
                   "--wrong-key", wkey, (char *) NULL);
        else
            execl ("/usr/bin/python3", "python3", CW_SOURCE_DIR "/tests/tms_manager/manager.py", "--listen", listen,
                   "--control", ctl, "--fault", fault, (char *) NULL);
        _exit (127);
    }
    //  Wait until it accepts connections
    for (int i = 0; i < 100; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
        addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        int rc = connect (fd, (struct sockaddr *) &addr, sizeof addr);
        close (fd);
        if (rc == 0)
            return pid;
        usleep (50000);
    }
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    fail_msg ("the test manager did not start");
    return -1;
}

static void
s_post (const char *url, bool verify, const char *ca_file, s_result_t *r)
{
    zloop_t *loop = zloop_new ();
    tms_http_t *http = tms_http_new (loop);
    assert_non_null (http);
    memset (r, 0, sizeof *r);
    tms_http_request_t req = { .url = url,
                               .body = "{\"node_id\":\"peer1\"}",
                               .user = "u",
                               .password = "p",
                               .verify = verify,
                               .ca_file = ca_file,
                               .timeout_ms = 5000 };
    assert_int_equal (tms_http_post (http, &req, s_on_done, r), 0);
    assert_true (tms_http_busy (http));
    assert_int_equal (tms_http_post (http, &req, s_on_done, r), -1);    //  one at a time
    zloop_timer (loop, 10, 0, s_check, r);
    zloop_timer (loop, 8000, 1, s_check, r);
    zloop_start (loop);
    assert_false (tms_http_busy (http));
    tms_http_destroy (&http);
    zloop_destroy (&loop);
}

static void
test_http_in_zloop (void **state)
{
    (void) state;
    char cmd [400];
    snprintf (cmd, sizeof cmd, "sh %s/tests/integration/make_certs.sh %s 1 127.0.0. >/dev/null", CW_SOURCE_DIR, s_dir);
    assert_int_equal (system (cmd), 0);
    char url [200], ca [300];
    snprintf (ca, sizeof ca, "%s/ca.crt", s_dir);
    s_result_t r;

    //  plain HTTP: a 2xx with the manager's JSON
    int port = s_free_port (), control = s_free_port ();
    pid_t pid = s_manager (port, control, "none", false);
    snprintf (url, sizeof url,
              "http://127.0.0.1:%d/tms/public/external/management/SystemManagementService.asmx/Register", port);
    s_post (url, true, NULL, &r);
    assert_true (r.done);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.error, "");
    assert_non_null (strstr (r.body, "\"ok\""));
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);

    //  nobody listening: an error, no status
    s_post (url, true, NULL, &r);
    assert_true (r.done);
    assert_int_equal (r.status, 0);
    assert_true (strlen (r.error) > 0);

    //  HTTPS with the test CA (its certificate names 127.0.0.1)
    pid = s_manager (port, control, "none", true);
    snprintf (url, sizeof url,
              "https://127.0.0.1:%d/tms/public/external/management/SystemManagementService.asmx/Heartbeat", port);
    s_post (url, true, ca, &r);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.error, "");
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);

    //  a certificate of another CA: refused when verifying, accepted when not
    pid = s_manager (port, control, "cert", true);
    s_post (url, true, ca, &r);
    assert_int_equal (r.status, 0);
    assert_non_null (strcasestr (r.error, "certificate"));
    s_post (url, false, NULL, &r);
    assert_int_equal (r.status, 200);
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);

    //  a body shorter than its Content-Length: an error
    pid = s_manager (port, control, "truncate", false);
    snprintf (url, sizeof url,
              "http://127.0.0.1:%d/tms/public/external/management/SystemManagementService.asmx/Register", port);
    s_post (url, true, NULL, &r);
    assert_true (strlen (r.error) > 0);
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_queue_bound_drops_oldest_and_survives_reopen),
        cmocka_unit_test (test_address_valid),
        cmocka_unit_test (test_url),
        cmocka_unit_test (test_http_in_zloop),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
