/*  main.c - causewayd: the one process a service manager starts.

    causewayd [--config FILE]        run the node (default /etc/causeway/causeway.conf)
    causewayd --check-config FILE    validate FILE, print the error, exit 0 or 1
    causewayd --version | --help

    Before anything else: umask 077 and the signals the supervisor reads
    through its signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) are blocked, so
    the threads ZeroMQ starts inherit the mask. The soft limit on open files
    is raised to the hard limit (every control client and every actor link
    is a descriptor; libzmq aborts the process when accept fails with EMFILE
    on an ipc socket), and both are logged. After a `restart` control
    command the process execs itself with the same argv (same pid, so
    systemd keeps tracking it) and re-reads the bootstrap file.
*/
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cw_bootstrap.h"
#include "cw_log.h"
#include "supervisor.h"

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: causewayd [--config FILE]\n"
             "       causewayd --check-config FILE\n"
             "       causewayd --version | --help\n"
             "\n"
             "  --config FILE        bootstrap file (default %s)\n"
             "  --check-config FILE  validate FILE and exit 0 (valid) or 1 (the error is printed)\n"
             "  --version            print the version\n"
             "  --help               this text\n",
             CW_DEFAULT_CONFIG);
}

static void
s_check_warning (const char *message, void *arg)
{
    (void) arg;
    fprintf (stderr, "warning: %s\n", message);
}

//  Raise the soft RLIMIT_NOFILE to the hard limit (capped at what the
//  kernel allows one process, fs.nr_open) and log both.
static void
s_raise_nofile (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit)) {
        cw_warn ("cannot read the open-file limit: %s", strerror (errno));
        return;
    }
    rlim_t before = limit.rlim_cur;
    rlim_t target = limit.rlim_max;
    if (target == RLIM_INFINITY || target > (1u << 20)) {
        target = 1u << 20;
        FILE *file = fopen ("/proc/sys/fs/nr_open", "r");
        unsigned long nr_open = 0;
        if (file) {
            if (fscanf (file, "%lu", &nr_open) == 1 && nr_open > 0)
                target = (rlim_t) nr_open;
            fclose (file);
        }
        if (limit.rlim_max != RLIM_INFINITY && target > limit.rlim_max)
            target = limit.rlim_max;
    }
    if (target > before) {
        limit.rlim_cur = target;
        if (setrlimit (RLIMIT_NOFILE, &limit))
            cw_warn ("cannot raise the open-file limit soft=%llu hard=%llu: %s", (unsigned long long) before,
                     (unsigned long long) limit.rlim_max, strerror (errno));
    }
    getrlimit (RLIMIT_NOFILE, &limit);
    cw_info ("open-file limit soft=%llu (was %llu) hard=%llu", (unsigned long long) limit.rlim_cur,
             (unsigned long long) before, (unsigned long long) limit.rlim_max);
}

static int
s_check_config (const char *file)
{
    char err [1024];
    cw_bootstrap_t *boot = cw_bootstrap_load (file, err, sizeof err, s_check_warning, NULL);
    if (!boot) {
        fprintf (stderr, "%s\n", err);
        return 1;
    }
    printf ("%s: ok (%d actors)\n", boot->file, boot->actor_count);
    cw_bootstrap_destroy (&boot);
    return 0;
}

int
main (int argc, char **argv)
{
    static const struct option options [] = { { "config", required_argument, NULL, 'c' },
                                              { "check-config", required_argument, NULL, 'k' },
                                              { "version", no_argument, NULL, 'V' },
                                              { "help", no_argument, NULL, 'h' },
                                              { NULL, 0, NULL, 0 } };
    const char *config = CW_DEFAULT_CONFIG;
    const char *check = NULL;
    int option;
    while ((option = getopt_long (argc, argv, "c:h", options, NULL)) != -1) {
        switch (option) {
            case 'c':
                config = optarg;
                break;
            case 'k':
                check = optarg;
                break;
            case 'V':
                printf ("causewayd %s\n", CW_VERSION);
                return 0;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                s_usage (stderr);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "causewayd: unexpected argument '%s'\n", argv [optind]);
        s_usage (stderr);
        return 2;
    }
    cw_log_init ("causewayd", CW_LOG_INFO);
    if (check)
        return s_check_config (check);

    umask (077);
    s_raise_nofile ();
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGCHLD);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    sigaddset (&mask, SIGHUP);
    sigprocmask (SIG_BLOCK, &mask, NULL);
    signal (SIGPIPE, SIG_IGN);
    //  CZMQ must not install its own SIGINT/SIGTERM handlers
    setenv ("ZSYS_SIGHANDLER", "false", 1);
    zsys_handler_set (NULL);

    //  A new id for every start (also the re-exec of `causeway restart`):
    //  actors inherit it and so tell a node restart from their own restart
    unsigned char random_id [8] = { 0 };
    FILE *urandom = fopen ("/dev/urandom", "rb");
    if (urandom) {
        if (fread (random_id, 1, sizeof random_id, urandom) != sizeof random_id)
            memset (random_id, 0, sizeof random_id);
        fclose (urandom);
    }
    char boot_id [64];
    int used = snprintf (boot_id, sizeof boot_id, "%lx-", (unsigned long) time (NULL));
    for (size_t i = 0; i < sizeof random_id; i++)
        used += snprintf (boot_id + used, sizeof boot_id - (size_t) used, "%02x", random_id [i]);
    setenv ("CAUSEWAY_BOOT_ID", boot_id, 1);

    char err [1024];
    cw_supervisor_t *supervisor = cw_supervisor_new (config, err, sizeof err);
    if (!supervisor) {
        fprintf (stderr, "causewayd: %s\n", err);
        zsys_shutdown ();
        return 1;
    }
    int status = cw_supervisor_run (supervisor);
    bool exec_self = cw_supervisor_wants_exec (supervisor);
    cw_supervisor_destroy (&supervisor);
    zsys_shutdown ();
    if (exec_self) {
        execv ("/proc/self/exe", argv);
        fprintf (stderr, "causewayd: restart failed: exec /proc/self/exe: %s\n", strerror (errno));
        return 1;
    }
    return status;
}
