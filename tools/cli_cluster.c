/*  cli_cluster.c - the clustering commands of the causeway CLI that do
    more than send one request and print its reply.

    cluster check   cluster.check {}; prints each unmet requirement with
                    its fix and exits 1 when the reply says "ok": false.
    backup create FILE / backup restore FILE
                    backup.create|restore {file, passphrase}. FILE is made
                    absolute here (causewayd runs in another directory).
                    The passphrase comes from --passphrase-file F (its first
                    line), else $CAUSEWAY_BACKUP_PASSPHRASE, else the
                    terminal (stdin a tty: echo off with termios, asked
                    twice for create, once for restore). An empty one is a
                    usage error. It is never printed, and wiped from memory
                    after the request.
    dns records / dns check DOMAIN / firewall rules
                    ask causewayd for cluster.status and config.list, fill
                    a cw_dnstool_cluster_t from them (the clustering ports
                    from peering.port/port2 of the bootstrap file when one
                    is readable) and return what the cw_dnstool call
                    returns.
*/

#include "cli.h"
#include "cw_dnstool.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

//  ---------------------------------------------------------------------
//  cluster check

int
cli_run_cluster_check (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    json_t *body;
    char err [512];
    int rc = cli_request (cli, cmd->wire, args, &body, false, err, sizeof err);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (cli->json)
        cli_print_json (cli, body);
    else
        cli_render_cluster_check (cli, cmd, args, body);
    json_t *problems = json_object_get (body, "problems");
    bool ok = json_is_true (json_object_get (body, "ok"))
           || (!json_object_get (body, "ok") && json_is_array (problems) && json_array_size (problems) == 0);
    json_decref (body);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

//  ---------------------------------------------------------------------
//  backup create | restore

#define S_PASSPHRASE_MAX 1024

//  The terminal settings to put back if a signal arrives while echo is off
static struct termios s_saved_tty;
static volatile sig_atomic_t s_echo_off;

static void
s_restore_tty_and_die (int signum)
{
    if (s_echo_off)
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &s_saved_tty);
    signal (signum, SIG_DFL);
    raise (signum);
}

//  Reads one line from the terminal on stdin without echo into BUF.
//  Returns 0, or -1 (end of input, or a line too long).
static int
s_read_hidden (const char *prompt, char *buf, size_t len)
{
    struct termios tty;
    bool have_tty = tcgetattr (STDIN_FILENO, &tty) == 0;
    struct sigaction action = { .sa_handler = s_restore_tty_and_die }, old_int, old_term, old_hup;
    if (have_tty) {
        s_saved_tty = tty;
        sigemptyset (&action.sa_mask);
        sigaction (SIGINT, &action, &old_int);
        sigaction (SIGTERM, &action, &old_term);
        sigaction (SIGHUP, &action, &old_hup);
        tty.c_lflag &= ~(ECHO | ECHOE | ECHOK | ECHONL);
        tty.c_lflag |= ICANON;
        s_echo_off = 1;
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &tty);
    }
    //  The prompt only once echo is off: what is typed after it is never shown
    fputs (prompt, stderr);
    fflush (stderr);
    size_t used = 0;
    int rc = -1;
    while (used < len) {
        char c;
        ssize_t n = read (STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c == '\n' || c == '\r') {
            rc = 0;
            break;
        }
        buf [used++] = c;
    }
    if (used == len)
        rc = -1;    //  too long: refused rather than cut
    buf [used < len ? used : len - 1] = 0;
    if (have_tty) {
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &s_saved_tty);
        s_echo_off = 0;
        sigaction (SIGINT, &old_int, NULL);
        sigaction (SIGTERM, &old_term, NULL);
        sigaction (SIGHUP, &old_hup, NULL);
    }
    fputc ('\n', stderr);
    return rc;
}

//  The first line of FILE into BUF (without its line end). Returns 0, or
//  a usage error.
static int
s_read_passphrase_file (const cli_command_t *cmd, const char *file, char *buf, size_t len)
{
    FILE *in = fopen (file, "r");
    if (!in)
        return cli_usage_error (cmd, "cannot read the passphrase file %s: %s", file, strerror (errno));
    bool got = fgets (buf, (int) len, in) != NULL;
    int error = ferror (in);
    fclose (in);
    if (!got && error)
        return cli_usage_error (cmd, "cannot read the passphrase file %s", file);
    if (!got)
        buf [0] = 0;
    size_t n = strlen (buf);
    if (n == len - 1 && buf [n - 1] != '\n') {
        explicit_bzero (buf, len);
        return cli_usage_error (cmd, "the passphrase in %s is longer than %d characters", file, S_PASSPHRASE_MAX - 2);
    }
    if (n && buf [n - 1] == '\n')
        buf [--n] = 0;
    if (n && buf [n - 1] == '\r')
        buf [--n] = 0;
    return 0;
}

//  The passphrase into BUF, or a usage error (nothing, or empty).
static int
s_passphrase (const cli_command_t *cmd, json_t *args, bool confirm, char *buf, size_t len)
{
    buf [0] = 0;
    const char *file = json_string_value (json_object_get (args, "passphrase_file"));
    const char *env = getenv ("CAUSEWAY_BACKUP_PASSPHRASE");
    const char *source;
    if (file) {
        int rc = s_read_passphrase_file (cmd, file, buf, len);
        if (rc)
            return rc;
        source = file;
    }
    else if (env) {
        if (strlen (env) >= len)
            return cli_usage_error (cmd, "$CAUSEWAY_BACKUP_PASSPHRASE is longer than %d characters",
                                    S_PASSPHRASE_MAX - 1);
        snprintf (buf, len, "%s", env);
        source = "$CAUSEWAY_BACKUP_PASSPHRASE";
    }
    else if (isatty (STDIN_FILENO)) {
        if (s_read_hidden ("backup passphrase: ", buf, len) != 0) {
            explicit_bzero (buf, len);
            return cli_usage_error (cmd, "no passphrase read from the terminal");
        }
        if (confirm && *buf) {
            char again [S_PASSPHRASE_MAX];
            int rc = s_read_hidden ("the same passphrase again: ", again, sizeof again);
            bool same = rc == 0 && strcmp (buf, again) == 0;
            explicit_bzero (again, sizeof again);
            if (!same) {
                explicit_bzero (buf, len);
                return cli_usage_error (cmd, "the two passphrases differ");
            }
        }
        source = "the terminal";
    }
    else
        return cli_usage_error (cmd, "no passphrase: give --passphrase-file F, set "
                                     "$CAUSEWAY_BACKUP_PASSPHRASE, or run it on a terminal");
    if (!*buf)
        return cli_usage_error (cmd,
                                "the passphrase (from %s) is empty; an empty passphrase "
                                "is refused",
                                source);
    return 0;
}

int
cli_run_backup (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    const char *file = json_string_value (json_object_get (args, "file"));
    if (!file || !*file)
        return cli_usage_error (cmd, "FILE is empty");
    //  causewayd resolves paths against its own directory: send an absolute one
    char path [PATH_MAX];
    if (file [0] == '/')
        snprintf (path, sizeof path, "%s", file);
    else {
        char cwd [PATH_MAX];
        if (!getcwd (cwd, sizeof cwd)) {
            cli_error ("cannot find the current directory: %s", strerror (errno));
            return CLI_EXIT_FAILED;
        }
        const char *rest = strncmp (file, "./", 2) == 0 ? file + 2 : file;
        if (snprintf (path, sizeof path, "%s/%s", strcmp (cwd, "/") ? cwd : "", rest) >= (int) sizeof path)
            return cli_usage_error (cmd, "FILE: the path is too long");
    }
    char passphrase [S_PASSPHRASE_MAX];
    int rc = s_passphrase (cmd, args, strcmp (cmd->wire, "backup.create") == 0, passphrase, sizeof passphrase);
    if (rc != 0)
        return rc;
    json_t *request = json_pack ("{s:s, s:s}", "file", path, "passphrase", passphrase);
    explicit_bzero (passphrase, sizeof passphrase);
    json_t *body = NULL;
    char err [512];
    rc = request ? cli_request (cli, cmd->wire, request, &body, false, err, sizeof err) : CLI_EXIT_FAILED;
    //  Wipe jansson's copy too before it is freed
    json_t *sent = json_object_get (request, "passphrase");
    if (json_is_string (sent))
        explicit_bzero ((char *) json_string_value (sent), json_string_length (sent));
    json_decref (request);
    if (rc == CLI_EXIT_OK) {
        //  What is printed: the file, never the passphrase
        json_t *shown = json_pack ("{s:s}", "file", path);
        cli_render_reply (cli, cmd, body, shown);
        json_decref (shown);
    }
    json_decref (body);
    return rc;
}

//  ---------------------------------------------------------------------
//  dns records | dns check | firewall rules

//  Fills CLUSTER from the daemon's cluster.status and config.list, and the
//  clustering ports from the bootstrap file. Returns 0 or an exit status.
static int
s_dns_cluster (cli_t *cli, cw_dnstool_cluster_t *cluster)
{
    cw_dnstool_cluster_init (cluster);
    json_t *status = NULL;
    json_t *config = NULL;
    char err [512];
    json_t *empty = json_object ();
    int rc = cli_request (cli, "cluster.status", empty, &status, false, err, sizeof err);
    if (rc == CLI_EXIT_OK)
        rc = cli_request (cli, "config.list", empty, &config, false, err, sizeof err);
    json_decref (empty);
    if (rc == CLI_EXIT_OK && cw_dnstool_cluster_from_json (cluster, status, config, err, sizeof err) != 0) {
        cli_error ("%s", err);
        rc = CLI_EXIT_FAILED;
    }
    json_decref (status);
    json_decref (config);
    if (rc != CLI_EXIT_OK)
        return rc;
    //  The ports: the bootstrap file's (already loaded when it gave the
    //  endpoint), when there is one to read; else the defaults
    const char *file = cli->config_file ? cli->config_file : CW_DEFAULT_CONFIG;
    cw_bootstrap_t *boot = cli->boot;
    if (!boot && access (file, R_OK) == 0) {
        int exit_code = CLI_EXIT_USAGE;
        boot = cli_bootstrap (cli, &exit_code);
        if (!boot)
            return exit_code;
    }
    if (boot) {
        cluster->ports [0] = boot->peering.port;
        cluster->ports [1] = boot->peering.port2;
    }
    return CLI_EXIT_OK;
}

int
cli_run_dns_records (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    cw_dnstool_cluster_t cluster;
    int rc = s_dns_cluster (cli, &cluster);
    if (rc != CLI_EXIT_OK)
        return rc;
    json_t *ttl = json_object_get (args, "ttl");
    if (json_is_integer (ttl)) {
        if (json_integer_value (ttl) > INT_MAX)
            return cli_usage_error (cmd, "--ttl is too large");
        cluster.ttl = (int) json_integer_value (ttl);
    }
    return cw_dnstool_records (&cluster, stdout);
}

//  A DNS name as cw_dnstool takes it: labels of letters, digits, '-', '_'
static bool
s_valid_domain (const char *text)
{
    size_t len = strlen (text);
    if (len && text [len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    unsigned char probe [sizeof (struct in6_addr)];
    if (inet_pton (AF_INET, text, probe) == 1 || inet_pton (AF_INET6, text, probe) == 1)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        }
        else if ((isalnum (c) || c == '-' || c == '_') && ++label <= 63)
            continue;
        else
            return false;
    }
    return label > 0;
}

//  "IP", "IP:PORT" or "[IPv6]:PORT"
static bool
s_valid_server (const char *text)
{
    char host [INET6_ADDRSTRLEN + 2];
    const char *port = NULL;
    unsigned char probe [sizeof (struct in6_addr)];
    if (text [0] == '[') {
        const char *close = strchr (text, ']');
        if (!close || (size_t) (close - text - 1) >= sizeof host || close [1] != ':')
            return false;
        snprintf (host, sizeof host, "%.*s", (int) (close - text - 1), text + 1);
        if (inet_pton (AF_INET6, host, probe) != 1)
            return false;
        port = close + 2;
    }
    else {
        if (inet_pton (AF_INET6, text, probe) == 1)
            return true;    //  a bare IPv6 address
        const char *colon = strchr (text, ':');
        size_t n = colon ? (size_t) (colon - text) : strlen (text);
        if (n >= sizeof host)
            return false;
        snprintf (host, sizeof host, "%.*s", (int) n, text);
        if (inet_pton (AF_INET, host, probe) != 1)
            return false;
        port = colon ? colon + 1 : NULL;
    }
    if (!port)
        return true;
    char *end;
    errno = 0;
    long number = strtol (port, &end, 10);
    return *port && !errno && !*end && number >= 1 && number <= 65535;
}

const char *
cli_check_dns_check (json_t *args)
{
    const char *domain = json_string_value (json_object_get (args, "domain"));
    const char *server = json_string_value (json_object_get (args, "server"));
    if (domain && !s_valid_domain (domain))
        return "DOMAIN must be a DNS domain (example.com)";
    if (server && !s_valid_server (server))
        return "--server must be IP, IP:PORT or [IPv6]:PORT";
    return NULL;
}

int
cli_run_dns_check (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    cw_dnstool_cluster_t cluster;
    int rc = s_dns_cluster (cli, &cluster);
    if (rc != CLI_EXIT_OK)
        return rc;
    return cw_dnstool_check (&cluster, json_string_value (json_object_get (args, "domain")),
                             json_string_value (json_object_get (args, "server")), cli->json, stdout);
}

int
cli_run_firewall_rules (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    (void) args;
    cw_dnstool_cluster_t cluster;
    int rc = s_dns_cluster (cli, &cluster);
    if (rc != CLI_EXIT_OK)
        return rc;
    return cw_dnstool_firewall (&cluster, stdout);
}
