/*  fuzz_bootstrap.c - libFuzzer target: cw_bootstrap_load (ipc/cw_bootstrap.c)
    on any file text.

    Each input is written to causeway.conf in a private temporary folder
    and loaded. Properties: a refusal names the file; every warning names
    the file; a loaded bootstrap has absolute runtime and state folders,
    control and broker endpoints that are ipc:// or tcp://, 1..CW_MAX_ACTORS
    actors with valid, distinct names, at most CW_MAX_PUBLISH alarm
    endpoints, and destroying it leaks nothing (ASan). Inputs with an
    @include directive are skipped: libconfig would read whatever file it
    names (a FIFO blocks the fuzzer), and an include is the administrator's
    own file, not untrusted text.
*/
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "cw_bootstrap.h"
#include "cw_log.h"
#include "fuzz.h"

static char s_dir [64];
static char s_file [PATH_MAX + 16];

static void
s_cleanup (void)
{
    unlink (s_file);
    rmdir (s_dir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    cw_log_init ("fuzz_bootstrap", CW_LOG_ERROR);
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/cw-fuzz-XXXXXX", tmp && *tmp && strlen (tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp (s_dir))
        fuzz_fail ("cannot make a temporary folder %s", s_dir);
    //  The loader names the file by its real path
    char real [PATH_MAX];
    if (!realpath (s_dir, real))
        fuzz_fail ("cannot resolve %s", s_dir);
    snprintf (s_file, sizeof s_file, "%s/causeway.conf", real);
    atexit (s_cleanup);
    return 0;
}

static void
s_warning (const char *message, void *arg)
{
    const char *file = arg;
    if (strncmp (message, file, strlen (file)) != 0)
        fuzz_fail ("a warning does not name the file: %s", message);
}

static bool
s_endpoint (const char *endpoint)
{
    return endpoint && (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "tcp://", 6) == 0);
}

static bool
s_actor_name (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > 32)
        return false;
    return strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

static void
s_check (const cw_bootstrap_t *boot)
{
    if (!boot->node.runtime_dir || boot->node.runtime_dir [0] != '/' || !boot->node.state_dir
        || boot->node.state_dir [0] != '/')
        fuzz_fail ("runtime_dir / state_dir not absolute");
    if (!s_endpoint (boot->control.endpoint))
        fuzz_fail ("control.endpoint '%s' is not ipc:// or tcp://", boot->control.endpoint);
    if (boot->control.broker_endpoint && !s_endpoint (boot->control.broker_endpoint))
        fuzz_fail ("broker endpoint '%s' is not ipc:// or tcp://", boot->control.broker_endpoint);
    if (boot->alarms.publish_count < 0 || boot->alarms.publish_count > CW_MAX_PUBLISH)
        fuzz_fail ("%d alarm endpoints", boot->alarms.publish_count);
    for (int i = 0; i < boot->alarms.publish_count; i++)
        if (!s_endpoint (boot->alarms.publish [i]))
            fuzz_fail ("alarm endpoint '%s' is not ipc:// or tcp://", boot->alarms.publish [i]);
    if (boot->actor_count < 0 || boot->actor_count > CW_MAX_ACTORS)
        fuzz_fail ("%d actors", boot->actor_count);
    for (int i = 0; i < boot->actor_count; i++) {
        if (!s_actor_name (boot->actors [i].name))
            fuzz_fail ("actor name '%s' accepted", boot->actors [i].name);
        if (cw_bootstrap_actor (boot, boot->actors [i].name) != &boot->actors [i])
            fuzz_fail ("actor '%s' listed twice", boot->actors [i].name);
        if (boot->actors [i].path && boot->actors [i].path [0] != '/')
            fuzz_fail ("actor path '%s' not absolute", boot->actors [i].path);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 65536 || memmem (data, size, "@include", 8))
        return 0;
    FILE *file = fopen (s_file, "w");
    if (!file)
        fuzz_fail ("cannot write %s", s_file);
    if (size && fwrite (data, 1, size, file) != size)
        fuzz_fail ("cannot write %s", s_file);
    fclose (file);
    char err [1024] = "";
    cw_bootstrap_t *boot = cw_bootstrap_load (s_file, err, sizeof err, s_warning, s_file);
    if (!boot) {
        if (strncmp (err, s_file, strlen (s_file)) != 0)
            fuzz_fail ("a refusal does not name the file: %s", err);
        return 0;
    }
    s_check (boot);
    cw_bootstrap_destroy (&boot);
    if (boot)
        fuzz_fail ("cw_bootstrap_destroy did not clear the pointer");
    return 0;
}
