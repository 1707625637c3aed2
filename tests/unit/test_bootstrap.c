/*  test_bootstrap.c - the bootstrap loader: defaults, path handling, and
    the messages a person reads for a syntax error, a bad value, an unknown
    key, and each value that is well formed but would break the node. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cw_bootstrap.h"
#include "cw_license.h"

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

//  Create the file NAME (MODE) in the test folder; returns its path (static).
static const char *
s_touch (const char *name, int mode)
{
    static char path [128];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    fputs ("#!/bin/sh\n", file);
    fclose (file);
    chmod (path, (mode_t) mode);
    return path;
}

//  TEXT (a printf format with ARGS) must be refused naming test.conf, LINE
//  and KEY, with WHAT in the message.
static void
s_refused (int line, const char *key, const char *what, const char *format, ...)
{
    char text [2048], err [1024], expected [256];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    cw_bootstrap_t *b = s_load (text, err, sizeof err);
    if (b) {
        cw_bootstrap_destroy (&b);
        fail_msg ("accepted:\n%s", text);
    }
    snprintf (expected, sizeof expected, "%s/test.conf:%d: key '%s': ", s_dir, line, key);
    if (strncmp (err, expected, strlen (expected)) != 0 || !strstr (err, what))
        fail_msg ("expected '%s...%s', got '%s'", expected, what, err);
}

//  TEXT (a printf format) must load.
static void
s_accepted (const char *format, ...)
{
    char text [2048], err [1024];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    cw_bootstrap_t *b = s_load (text, err, sizeof err);
    if (!b)
        fail_msg ("refused: %s\n%s", err, text);
    cw_bootstrap_destroy (&b);
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
    assert_non_null (strstr (err, "key 'node.type': must be one of core, edge (got 'middle')"));
    assert_null (s_load ("node: { name = 5; };\n", err, sizeof err));
    assert_non_null (strstr (err, "key 'node.name': must be a string"));
    assert_null (s_load ("actors = ( { name = \"alarms\"; restart = \"sometimes\"; } );\n", err, sizeof err));
    assert_non_null (strstr (err, "must be one of permanent, transient, temporary (got 'sometimes')"));
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

//  The node's folders, in "node:" at line 2, for state_dir or runtime_dir
#define S_NODE "# the node\nnode: {\n  runtime_dir = \"%s\";\n  state_dir = \"%s\";\n};\n"

static void
test_state_dir_in_the_root_or_the_kernel_refused (void **state)
{
    (void) state;
    char run [128];
    snprintf (run, sizeof run, "%s/run", s_dir);
    s_refused (4, "node.state_dir", "must be a folder for the node's files, not the filesystem root (got '/')", S_NODE,
               run, "/");
    s_refused (4, "node.state_dir", "not the filesystem root", S_NODE, run, "/var/..//./");
    s_refused (4, "node.state_dir", "not in /proc, /sys or /dev (got '/proc/self', which is '/proc/", S_NODE, run,
               "/proc/self");
    s_refused (4, "node.state_dir", "not in /proc, /sys or /dev", S_NODE, run, "/proc/causeway");
    s_refused (4, "node.state_dir", "not in /proc, /sys or /dev", S_NODE, run, "/sys/fs/causeway");
    s_refused (4, "node.state_dir", "not in /proc, /sys or /dev", S_NODE, run, "/dev");
    s_refused (4, "node.state_dir", "not in /proc, /sys or /dev", S_NODE, run, "/dev/shm");
    s_refused (3, "node.runtime_dir", "not in /proc, /sys or /dev", S_NODE, "/dev/causeway", "/var/lib/causeway");
    s_refused (3, "node.runtime_dir", "not the filesystem root", S_NODE, "/", "/var/lib/causeway");
    //  A folder of its own in the /dev/shm tmpfs is fine
    s_accepted (S_NODE, "/dev/shm/causeway-test", "/dev/shm/causeway-test-state");
}

static void
test_folder_that_is_a_file_refused (void **state)
{
    (void) state;
    char file [128], run [128], below [160];
    snprintf (file, sizeof file, "%s", s_touch ("afile", 0600));
    snprintf (run, sizeof run, "%s/run", s_dir);
    snprintf (below, sizeof below, "%s/deeper/state", file);
    s_refused (4, "node.state_dir", "must be a folder (got '", S_NODE, run, file);
    s_refused (4, "node.state_dir", "which exists and is not a folder", S_NODE, run, file);
    s_refused (3, "node.runtime_dir", "must be a folder that can be created", S_NODE, below, s_dir);
    //  The node's own folder, and one that does not exist yet, are fine
    s_accepted (S_NODE, run, s_dir);
}

static void
test_folder_paths_that_break_the_store_refused (void **state)
{
    (void) state;
    char run [128], quoted [128], longer [160];
    snprintf (run, sizeof run, "%s/run", s_dir);
    snprintf (quoted, sizeof quoted, "%s/it's", s_dir);
    s_refused (4, "node.state_dir", "must be a path without a single quote", S_NODE, run, quoted);
    snprintf (longer, sizeof longer, "/tmp/%0100d", 0);
    s_refused (3, "node.runtime_dir", "must be at most 99 characters, so that its sockets", S_NODE, longer, s_dir);
    s_refused (3, "node.runtime_dir", "must be a path without variables", S_NODE, "${state_dir}/run", s_dir);
    s_refused (4, "node.state_dir", "must be a path without variables", S_NODE, run, "${runtime_dir}/state");
    s_refused (1, "node.name", "none of them a control character", "node: { name = \"a\\tb\"; };\n");
}

static void
test_undefined_variable_refused (void **state)
{
    (void) state;
    s_refused (3, "alarms.publish",
               "must use only the variables ${runtime_dir} and ${state_dir} "
               "(got 'ipc://${run_dir}/alarms': undefined variable '${run_dir}')",
               "alarms: {\n  publish = [ \"ipc://${runtime_dir}/alarms\",\n    \"ipc://${run_dir}/alarms\" ];\n};\n");
    s_refused (2, "control.endpoint", "undefined variable '${HOME}'",
               "control: {\n  endpoint = \"ipc://${HOME}/control\";\n};\n");
    s_refused (2, "control.endpoint", "must close '${' with '}'",
               "control: {\n  endpoint = \"ipc://${runtime_dir/control\";\n};\n");
    s_refused (2, "peering.ca_file", "undefined variable '${statedir}'",
               "peering: {\n  ca_file = \"${statedir}/ca.pem\";\n};\n");
    s_refused (2, "actors.[0].path", "undefined variable '${bin}'",
               "actors = (\n  { name = \"alarms\"; path = \"${bin}/causeway-alarms\"; } );\n");
    //  A lone $ is no variable
    s_accepted ("node: { runtime_dir = \"%s/r$x\"; state_dir = \"%s/s\"; };\n", s_dir, s_dir);
}

static void
test_two_endpoints_alike_refused (void **state)
{
    (void) state;
    s_refused (3, "control.endpoint", "must not overlap another endpoint of the node (got 'ipc://",
               "node: { runtime_dir = \"%s/run\"; state_dir = \"%s/st\"; };\n"
               "alarms: { publish = [ \"ipc://${runtime_dir}/alarms\" ]; };\n"
               "control: { endpoint = \"ipc://${runtime_dir}/alarms\"; };\n",
               s_dir, s_dir);
    s_refused (3, "control.endpoint", "alarms.publish at line 2 binds 'ipc://",
               "node: { runtime_dir = \"%s/run\"; state_dir = \"%s/st\"; };\n"
               "alarms: { publish = [ \"ipc://${runtime_dir}/alarms\" ]; };\n"
               "control: { endpoint = \"ipc://${runtime_dir}/./x/../alarms\"; };\n",
               s_dir, s_dir);
    s_refused (2, "control.endpoint", "causewayd's broker socket binds 'ipc://",
               "node: { runtime_dir = \"%s/run\"; state_dir = \"%s/st\"; };\n"
               "control: { endpoint = \"ipc://${runtime_dir}/broker\"; };\n",
               s_dir, s_dir);
    s_refused (2, "alarms.publish", "alarms.publish at line 3 binds 'tcp://127.0.0.1:4390'",
               "alarms: {\n  publish = [ \"tcp://*:4390\",\n    \"tcp://127.0.0.1:4390\" ];\n};\n");
    s_refused (2, "control.curve_endpoint", "alarms.publish at line 5 binds",
               "control: {\n  curve_endpoint = \"tcp://127.0.0.1:4380\"; authorized_keys_dir = \"%s\";\n};\n"
               "alarms: {\n  publish = [ \"tcp://127.0.0.1:4380\" ];\n};\n",
               s_dir);
    s_refused (2, "alarms.publish", "peering.port at line 6 listens on 127.0.1.1 port 4371",
               "alarms: {\n  publish = [ \"tcp://0.0.0.0:4371\" ];\n};\n"
               "peering: {\n  address = \"127.0.1.1\";\n  port = 4371;\n};\n");
    //  Different ports, different addresses, other families: fine
    s_accepted ("alarms: { publish = [ \"tcp://127.0.0.1:4390\", \"tcp://127.0.0.2:4390\", \"tcp://*:4391\" ]; };\n"
                "peering: { address = \"::1\"; port = 4390; };\n");
}

static void
test_bad_tcp_endpoints_refused (void **state)
{
    (void) state;
    s_refused (2, "alarms.publish", "with ADDRESS an IPv4 address, four numbers 0..255 and PORT 1..65535",
               "alarms: {\n  publish = [ \"tcp://256.1.1.1:99999\" ];\n};\n");
    s_refused (2, "alarms.publish", "four numbers 0..255 (got 'tcp://1.2.3:4390')",
               "alarms: {\n  publish = [ \"tcp://1.2.3:4390\" ];\n};\n");
    s_refused (2, "alarms.publish", "with PORT 1..65535 (got 'tcp://127.0.0.1:99999')",
               "alarms: {\n  publish = [ \"tcp://127.0.0.1:99999\" ];\n};\n");
    s_refused (2, "alarms.publish", "with PORT 1..65535", "alarms: {\n  publish = [ \"tcp://127.0.0.1:0\" ];\n};\n");
    s_refused (2, "alarms.publish", "with PORT 1..65535", "alarms: {\n  publish = [ \"tcp://127.0.0.1:*\" ];\n};\n");
    s_refused (2, "alarms.publish", "must be tcp://ADDRESS:PORT (got 'tcp://127.0.0.1')",
               "alarms: {\n  publish = [ \"tcp://127.0.0.1\" ];\n};\n");
    s_refused (2, "alarms.publish", "do not enable IPv6", "alarms: {\n  publish = [ \"tcp://[::1]:4390\" ];\n};\n");
    s_refused (2, "alarms.publish", "looks no name up in DNS",
               "alarms: {\n  publish = [ \"tcp://localhost:4390\" ];\n};\n");
    s_refused (2, "control.endpoint", "an IPv4 address that clients connect to, not *",
               "control: {\n  endpoint = \"tcp://*:4380\";\n};\n");
    s_refused (2, "control.endpoint", "an IPv4 address such as 127.0.0.1",
               "control: {\n  endpoint = \"tcp://lo:4380\";\n};\n");
    s_refused (2, "control.curve_endpoint", "must be tcp://ADDRESS:PORT or \"\"",
               "control: {\n  curve_endpoint = \"ipc:///tmp/curve\"; authorized_keys_dir = \"%s\";\n};\n", s_dir);
    //  A socket that only binds may name all interfaces or one of them
    s_accepted ("alarms: { publish = [ \"tcp://*:4390\", \"tcp://lo:4391\", \"tcp://127.0.0.1:65535\" ]; };\n"
                "control: { endpoint = \"tcp://127.0.0.1:4380\"; };\n");
}

static void
test_bad_transports_and_ipc_paths_refused (void **state)
{
    (void) state;
    s_refused (2, "alarms.publish", "not inproc://", "alarms: {\n  publish = [ \"inproc://alarms\" ];\n};\n");
    s_refused (2, "control.endpoint", "must be ipc://PATH or tcp://ADDRESS:PORT (got 'pgm://eth0;239.1.1.1:5555')",
               "control: {\n  endpoint = \"pgm://eth0;239.1.1.1:5555\";\n};\n");
    s_refused (2, "control.endpoint", "must be ipc:// and an absolute path",
               "control: {\n  endpoint = \"ipc://run/control\";\n};\n");
    s_refused (2, "control.endpoint", "with a path of its own", "control: {\n  endpoint = \"ipc://*\";\n};\n");
    s_refused (2, "alarms.publish", "with PATH at most 107 characters",
               "alarms: {\n  publish = [ \"ipc:///tmp/%0110d\" ];\n};\n", 0);
    s_refused (2, "alarms.publish", "exists and is not a socket, and binding would delete it",
               "alarms: {\n  publish = [ \"ipc://%s\" ];\n};\n", s_touch ("afile", 0600));
    s_refused (2, "alarms.publish", "must be in a folder that exists",
               "alarms: {\n  publish = [ \"ipc://%s/no/such/x\" ];\n};\n", s_dir);
    s_refused (2, "control.endpoint", "not node.runtime_dir, node.state_dir or causewayd's lock file",
               "control: {\n  endpoint = \"ipc://${runtime_dir}/causewayd.lock\";\n};\n");
    //  Abstract names, and a socket in the folders causewayd creates, are fine
    s_accepted ("alarms: { publish = [ \"ipc://@causeway-test-alarms\", \"ipc://${state_dir}/alarms\" ]; };\n");
}

static void
test_peering_address_and_files_refused (void **state)
{
    (void) state;
    s_refused (2, "peering.address", "must be this node's IP address, an IPv4 or IPv6 literal",
               "peering: {\n"
               "  address = \"not an ip\";\n};\n");
    s_refused (2, "peering.address", "(got 'peer1.example.com')",
               "peering: {\n  address = \"peer1.example.com\";\n};\n");
    s_refused (2, "peering.address", "(got '[::1]')", "peering: {\n  address = \"[::1]\";\n};\n");
    s_refused (2, "peering.address", "not a wildcard, broadcast or multicast",
               "peering: {\n  address = \"0.0.0.0\";\n};\n");
    s_refused (2, "peering.address", "not a wildcard", "peering: {\n  address = \"::\";\n};\n");
    s_refused (2, "peering.address", "multicast", "peering: {\n  address = \"239.1.1.1\";\n};\n");
    s_refused (3, "peering.certificate", "must name a PEM file when peering.address is set",
               "peering: {\n  address = \"127.0.1.1\";\n  certificate = \"\";\n};\n");
    s_refused (3, "peering.ca_file", "must be a file (got '",
               "peering: {\n  address = \"127.0.1.1\";\n  ca_file = \"%s\";\n};\n", s_dir);
    s_refused (3, "peering.private_key", "a part of the path is a file",
               "peering: {\n  address = \"127.0.1.1\";\n  private_key = \"%s/key.pem\";\n};\n",
               s_touch ("afile", 0600));
    //  Files not there yet (installed later), and no address at all, are fine
    s_accepted ("peering: { address = \"127.0.1.1\"; ca_file = \"\"; };\n");
    s_accepted ("peering: { address = \"2001:db8::10\"; };\n");
    s_accepted ("peering: { address = \"\"; certificate = \"%s\"; };\n", s_dir);
}

static void
test_actor_path_refused (void **state)
{
    (void) state;
    s_refused (2, "actors.[0].path", "which does not exist",
               "actors = (\n  { name = \"alarms\"; path = \"%s/missing\"; } );\n", s_dir);
    s_refused (2, "actors.[0].path", "which is a folder", "actors = (\n  { name = \"alarms\"; path = \"%s\"; } );\n",
               s_dir);
    s_refused (2, "actors.[0].path", "which is not executable",
               "actors = (\n  { name = \"alarms\"; path = \"%s\"; } );\n", s_touch ("notexec", 0644));
    s_accepted ("actors = ( { name = \"alarms\"; path = \"%s\"; } );\n", s_touch ("exec", 0755));
}

static void
test_keys_dir_that_is_a_file_refused (void **state)
{
    (void) state;
    s_refused (2, "control.authorized_keys_dir", "must be a folder of client certificates",
               "control: { curve_endpoint = \"tcp://127.0.0.1:4380\";\n  authorized_keys_dir = \"%s\"; };\n",
               s_touch ("afile", 0600));
}

static void
test_example_files_are_valid (void **state)
{
    (void) state;
    char err [512];
    //  The dev file as tools/run.sh runs it: a copy in etc/ beside var/,
    //  whose web admin certificate tools/dev-cert.sh makes at first run
    char dev [256], command [1024];
    snprintf (command, sizeof command,
              "mkdir -p %s/dev/etc && cp %s/etc/causeway-dev.conf %s/dev/etc/ && %s/tools/dev-cert.sh %s/dev/var/state "
              ">/dev/null",
              s_dir, CW_SOURCE_DIR, s_dir, CW_SOURCE_DIR, s_dir);
    assert_int_equal (system (command), 0);
    snprintf (dev, sizeof dev, "%s/dev/etc/causeway-dev.conf", s_dir);
    const char *files [] = { CW_SOURCE_DIR "/etc/causeway.conf", dev };
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

static void
test_licensing_section (void **state)
{
    (void) state;
    char err [1024], dir [128], expected [512];
    //  Absent: no issuer (no key can be added), the grace period's default
    cw_bootstrap_t *b = s_load ("node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n", err, sizeof err);
    assert_non_null (b);
    assert_int_equal (b->licensing.issuer_count, 0);
    assert_int_equal (b->licensing.lost_peer_grace_s, 259200);
    cw_bootstrap_destroy (&b);
    //  A real issuer, by a path relative to the file and by ${state_dir}
    snprintf (dir, sizeof dir, "%s/st/lic", s_dir);
    assert_int_equal (cw_license_keygen (dir, err, sizeof err), 0);
    b = s_load ("node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
                "licensing: {\n"
                "  issuers = [ \"st/lic/issuer.pub\", \"${state_dir}/lic/issuer.pub\" ];\n"
                "  lost_peer_grace_s = 60;\n"
                "};\n",
                err, sizeof err);
    if (!b)
        fail_msg ("%s", err);
    assert_int_equal (b->licensing.issuer_count, 2);
    snprintf (expected, sizeof expected, "%s/st/lic/issuer.pub", s_dir);
    assert_string_equal (b->licensing.issuers [0], expected);
    assert_string_equal (b->licensing.issuers [1], expected);
    assert_int_equal (b->licensing.lost_peer_grace_s, 60);
    assert_string_equal (s_warnings, "");
    cw_bootstrap_destroy (&b);
    //  An empty list is fine
    s_accepted ("node: { runtime_dir = \"run\"; state_dir = \"st\"; };\nlicensing: { issuers = [ ]; };\n");
    //  A missing file, a file that is not an issuer key, a folder: the
    //  file, its line and the key named, and why
    s_refused (4, "licensing.issuers", "nowhere.pub': No such file or directory",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\nlicensing: {\n"
               "  issuers = [ \"st/lic/issuer.pub\",\n \"st/lic/nowhere.pub\" ];\n};\n");
    snprintf (expected, sizeof expected, "%s/st/lic/issuer.key:1: not an issuer public key file", s_dir);
    s_refused (2, "licensing.issuers", expected,
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
               "licensing: { issuers = [ \"st/lic/issuer.key\" ]; };\n");
    s_refused (2, "licensing.issuers", "a folder",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
               "licensing: { issuers = [ \"st/lic\" ]; };\n");
    s_refused (2, "licensing.issuers", "must be a list",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
               "licensing: { issuers = \"st/lic/issuer.pub\"; };\n");
    s_refused (2, "licensing.issuers", "path of an issuer.pub file",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\nlicensing: { issuers = [ 5 ]; };\n");
    s_refused (2, "licensing.issuers", "undefined variable",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
               "licensing: { issuers = [ \"${home}/issuer.pub\" ]; };\n");
    s_refused (2, "licensing.issuers", "at most 16",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\nlicensing: { issuers = [ "
               "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\" "
               "]; };\n");
    //  The grace period's range
    s_refused (2, "licensing.lost_peer_grace_s", "must be an integer 1..315360000 (got 0)",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\nlicensing: { lost_peer_grace_s = 0; };\n");
    s_refused (2, "licensing.lost_peer_grace_s", "must be an integer 1..315360000 (got 315360001)",
               "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
               "licensing: { lost_peer_grace_s = 315360001; };\n");
    s_accepted ("node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
                "licensing: { lost_peer_grace_s = 315360000; };\n");
    //  Unknown keys warned like any section's
    s_accepted ("node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n"
                "licensing: { issuer = [ ]; };\n");
    assert_non_null (strstr (s_warnings, "unknown key 'licensing.issuer' ignored"));
    char path [160];
    snprintf (path, sizeof path, "%s/issuer.key", dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/issuer.pub", dir);
    unlink (path);
    rmdir (dir);
    snprintf (path, sizeof path, "%s/st", s_dir);
    rmdir (path);
}

static void
test_sip_section (void **state)
{
    (void) state;
    char err [1024], expected [256];
    const char *node = "node: { runtime_dir = \"run\"; state_dir = \"st\"; };\n";
    //  Absent, or an empty list: no listener
    cw_bootstrap_t *b = s_load (node, err, sizeof err);
    assert_non_null (b);
    assert_int_equal (b->sip.listen_count, 0);
    cw_bootstrap_destroy (&b);
    s_accepted ("%ssip: { listen = [ ]; };\n", node);
    //  Every transport, IPv4 and IPv6; the TLS files relative to the file
    s_touch ("sip.crt", 0644);
    s_touch ("sip.key", 0600);
    char text [1024];
    snprintf (text, sizeof text,
              "%ssip: { listen = [ \"udp:127.0.1.1:5060\", \"tcp:127.0.1.1:5060\", \"tls:127.0.1.1:5061\", "
              "\"udp:[::1]:5062\" ];\n  certificate = \"sip.crt\"; private_key = \"./sip.key\"; };\n",
              node);
    b = s_load (text, err, sizeof err);
    if (!b)
        fail_msg ("%s", err);
    assert_int_equal (b->sip.listen_count, 4);
    assert_string_equal (b->sip.listen [0].transport, "udp");
    assert_string_equal (b->sip.listen [0].address, "127.0.1.1");
    assert_int_equal (b->sip.listen [0].port, 5060);
    assert_string_equal (b->sip.listen [2].transport, "tls");
    assert_int_equal (b->sip.listen [2].port, 5061);
    assert_string_equal (b->sip.listen [3].address, "::1");
    snprintf (expected, sizeof expected, "%s/sip.crt", s_dir);
    assert_string_equal (b->sip.certificate, expected);
    snprintf (expected, sizeof expected, "%s/sip.key", s_dir);
    assert_string_equal (b->sip.private_key, expected);
    cw_bootstrap_destroy (&b);
    //  Bad listeners name the file, the line and the key
    s_refused (2, "sip.listen", "transport must be udp, tcp or tls (got 'sctp:127.0.1.1:5060')",
               "%ssip: { listen = [ \"sctp:127.0.1.1:5060\" ]; };\n", node);
    s_refused (4, "sip.listen", "IPv4 or IPv6 literal (got 'udp:sip.example.com:5060')",
               "%ssip: {\n listen = [ \"udp:127.0.1.1:5060\",\n \"udp:sip.example.com:5060\" ]; };\n", node);
    s_refused (2, "sip.listen", "port must be 1..65535 (got 'tcp:127.0.1.1:70000')",
               "%ssip: { listen = [ \"tcp:127.0.1.1:70000\" ]; };\n", node);
    s_refused (2, "sip.listen", "the port is missing", "%ssip: { listen = [ \"tcp:127.0.1.1\" ]; };\n", node);
    s_refused (2, "sip.listen", "IPv6 address must be in brackets", "%ssip: { listen = [ \"udp:::1:5060\" ]; };\n",
               node);
    s_refused (2, "sip.listen", "must be a string", "%ssip: { listen = [ 5060 ]; };\n", node);
    s_refused (2, "sip.listen", "must be a list", "%ssip: { listen = \"udp:127.0.1.1:5060\"; };\n", node);
    s_refused (2, "sip.listen", "same TCP socket 127.0.1.1:5060",
               "%ssip: { listen = [ \"tcp:127.0.1.1:5060\", \"tls:127.0.1.1:5060\" ];"
               " certificate = \"sip.crt\"; private_key = \"sip.key\"; };\n",
               node);
    s_refused (2, "sip.listen", "at most 16 listeners",
               "%ssip: { listen = [ \"udp:127.0.1.1:1\", \"udp:127.0.1.1:2\", \"udp:127.0.1.1:3\", "
               "\"udp:127.0.1.1:4\", \"udp:127.0.1.1:5\", \"udp:127.0.1.1:6\", \"udp:127.0.1.1:7\", "
               "\"udp:127.0.1.1:8\", \"udp:127.0.1.1:9\", \"udp:127.0.1.1:10\", \"udp:127.0.1.1:11\", "
               "\"udp:127.0.1.1:12\", \"udp:127.0.1.1:13\", \"udp:127.0.1.1:14\", \"udp:127.0.1.1:15\", "
               "\"udp:127.0.1.1:16\", \"udp:127.0.1.1:17\" ]; };\n",
               node);
    //  udp and tcp share a port number; tcp and tls do not
    s_accepted ("%ssip: { listen = [ \"udp:127.0.1.1:5060\", \"tcp:127.0.1.1:5060\" ]; };\n", node);
    //  A tls: listener needs both files, existing and readable
    s_refused (2, "sip.certificate", "must name a PEM file when sip.listen has a tls: listener",
               "%ssip: { listen = [ \"tls:127.0.1.1:5061\" ]; private_key = \"sip.key\"; };\n", node);
    s_refused (3, "sip.private_key", "must be a readable PEM file (got '",
               "%ssip: { listen = [ \"tls:127.0.1.1:5061\" ]; certificate = \"sip.crt\";\n"
               " private_key = \"missing.key\"; };\n",
               node);
    s_refused (2, "sip.certificate", "which is a folder",
               "%ssip: { listen = [ \"tls:127.0.1.1:5061\" ]; certificate = \"/tmp\"; private_key = \"sip.key\"; };\n",
               node);
    //  Without a tls: listener the files are not needed
    s_accepted ("%ssip: { listen = [ \"udp:127.0.1.1:5060\" ]; certificate = \"missing.crt\"; };\n", node);
    //  Unknown keys warned like any section's
    s_accepted ("%ssip: { listen = [ ]; listeners = [ ]; };\n", node);
    assert_non_null (strstr (s_warnings, "unknown key 'sip.listeners' ignored"));
    char path [160];
    snprintf (path, sizeof path, "%s/sip.crt", s_dir);
    unlink (path);
    snprintf (path, sizeof path, "%s/sip.key", s_dir);
    unlink (path);
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
    char command [128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    return system (command) == 0 ? 0 : -1;
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults_and_relative_paths),
        cmocka_unit_test (test_syntax_error_names_file_and_line),
        cmocka_unit_test (test_bad_values_name_key_and_allowed),
        cmocka_unit_test (test_unknown_keys_warned),
        cmocka_unit_test (test_state_dir_in_the_root_or_the_kernel_refused),
        cmocka_unit_test (test_folder_that_is_a_file_refused),
        cmocka_unit_test (test_folder_paths_that_break_the_store_refused),
        cmocka_unit_test (test_undefined_variable_refused),
        cmocka_unit_test (test_two_endpoints_alike_refused),
        cmocka_unit_test (test_bad_tcp_endpoints_refused),
        cmocka_unit_test (test_bad_transports_and_ipc_paths_refused),
        cmocka_unit_test (test_peering_address_and_files_refused),
        cmocka_unit_test (test_actor_path_refused),
        cmocka_unit_test (test_keys_dir_that_is_a_file_refused),
        cmocka_unit_test (test_example_files_are_valid),
        cmocka_unit_test (test_licensing_section),
        cmocka_unit_test (test_sip_section),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
