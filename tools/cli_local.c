/*  cli_local.c - causeway commands that are more than one control request.

    alarms watch  subscribes to the alarm socket (XPUB of the alarms actor,
                  two frames per message: topic, JSON) and prints each
                  message until SIGINT/SIGTERM (CZMQ's handler sets
                  zsys_interrupted and the blocking receive returns).
    keygen FILE   writes a new CURVE certificate with zcert_save: FILE is
                  the public part for the node's authorized_keys_dir,
                  FILE_secret (0600) the client's secret for --cert.
    version       the CLI's version, and causewayd's from `status`.
*/

#include "cli.h"
#include "cw_control.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

//  ---------------------------------------------------------------------
//  alarms watch

//  The alarm endpoint: --alarm-endpoint / $CAUSEWAY_ALARM_ENDPOINT, else
//  the first alarms.publish of the bootstrap file.
static const char *
s_alarm_endpoint (cli_t *cli, json_t *args, int *exit_code)
{
    const char *endpoint = json_string_value (json_object_get (args, "endpoint"));
    if (endpoint)
        return endpoint;
    if (cli->alarm_endpoint)
        return cli->alarm_endpoint;
    cw_bootstrap_t *boot = cli_bootstrap (cli, exit_code);
    if (!boot)
        return NULL;
    if (boot->alarms.publish_count < 1 || !*boot->alarms.publish [0]) {
        cli_error ("%s: alarms.publish is empty; give --alarm-endpoint EP", boot->file);
        *exit_code = CLI_EXIT_USAGE;
        return NULL;
    }
    return boot->alarms.publish [0];
}

int
cli_run_watch (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    int exit_code = CLI_EXIT_UNREACHABLE;
    const char *endpoint = s_alarm_endpoint (cli, args, &exit_code);
    if (!endpoint)
        return exit_code;
    if (strncmp (endpoint, "ipc://", 6) == 0 && endpoint [6] != '@') {
        struct stat st;
        if (stat (endpoint + 6, &st) != 0) {
            cli_error ("cannot reach the alarm socket at %s (no socket file %s); is causewayd running?", endpoint,
                       endpoint + 6);
            return CLI_EXIT_UNREACHABLE;
        }
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub) {
        cli_error ("cannot create a socket: %s", zmq_strerror (zmq_errno ()));
        return CLI_EXIT_FAILED;
    }
    if (cli->server_key && cli->cert_file && strncmp (endpoint, "tcp://", 6) == 0) {
        //  A CURVE-protected alarm endpoint takes the same credentials
        zcert_t *cert = zcert_load (cli->cert_file);
        if (!cert) {
            cli_error ("cannot load the client certificate %s", cli->cert_file);
            zsock_destroy (&sub);
            return CLI_EXIT_USAGE;
        }
        zcert_apply (cert, sub);
        zsock_set_curve_serverkey (sub, cli->server_key);
        zcert_destroy (&cert);
    }
    zsock_set_linger (sub, 0);
    zsock_set_subscribe (sub, "");
    if (zsock_connect (sub, "%s", endpoint) != 0) {
        cli_error ("invalid alarm endpoint '%s': %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&sub);
        return CLI_EXIT_USAGE;
    }
    if (isatty (STDERR_FILENO))
        fprintf (stderr, "watching %s (Ctrl-C to stop)\n", endpoint);
    int rc = CLI_EXIT_OK;
    while (!zsys_interrupted) {
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            break;    //  interrupted
        char *topic = zmsg_popstr (msg);
        zframe_t *frame = zmsg_pop (msg);
        if (topic && frame) {
            if (cli->json) {
                //  the topic, a space, the raw JSON object: one line
                printf ("%s %.*s\n", topic, (int) zframe_size (frame), (const char *) zframe_data (frame));
            }
            else {
                json_t *body = json_loadb ((const char *) zframe_data (frame), zframe_size (frame), 0, NULL);
                cli_print_alarm_event (topic, body);
                json_decref (body);
            }
            if (fflush (stdout) != 0) {
                rc = CLI_EXIT_FAILED;    //  the reader went away
                free (topic);
                zframe_destroy (&frame);
                zmsg_destroy (&msg);
                break;
            }
        }
        free (topic);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sub);
    return rc;
}

//  ---------------------------------------------------------------------
//  keygen

int
cli_run_keygen (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    const char *file = json_string_value (json_object_get (args, "file"));
    char secret [PATH_MAX];
    if (snprintf (secret, sizeof secret, "%s_secret", file) >= (int) sizeof secret) {
        cli_error ("keygen: the file name is too long");
        return CLI_EXIT_USAGE;
    }
    struct stat st;
    if (stat (file, &st) == 0 || stat (secret, &st) == 0) {
        cli_error ("keygen: %s or %s already exists; not overwriting a key", file, secret);
        return CLI_EXIT_FAILED;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        cli_error ("keygen: cannot create a key pair");
        return CLI_EXIT_FAILED;
    }
    char host [256] = "";
    gethostname (host, sizeof host - 1);
    zcert_set_meta (cert, "name", "causeway client on %s", host);
    zcert_set_meta (cert, "created-by", "causeway keygen %s", CW_VERSION);
    //  zcert_save writes the secret file under a private umask; make sure
    mode_t old = umask (077);
    int rc = zcert_save (cert, file);
    umask (old);
    if (rc != 0) {
        cli_error ("keygen: cannot write %s: %s", file, strerror (errno));
        zcert_destroy (&cert);
        return CLI_EXIT_FAILED;
    }
    chmod (secret, 0600);
    chmod (file, 0644);
    if (cli->json) {
        json_t *body = json_pack ("{s:s, s:s, s:s}", "public_key", zcert_public_txt (cert), "public_file", file,
                                  "secret_file", secret);
        cli_print_json (cli, body);
        json_decref (body);
    }
    else {
        printf ("%s\n", zcert_public_txt (cert));
        if (isatty (STDERR_FILENO))
            fprintf (stderr,
                     "wrote %s (public: copy it into control.authorized_keys_dir) "
                     "and %s (secret, for --cert)\n",
                     file, secret);
    }
    zcert_destroy (&cert);
    return CLI_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  version

int
cli_run_version (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cmd;
    (void) args;
    json_t *status = NULL;
    char err [512] = "";
    int exit_code = CLI_EXIT_UNREACHABLE;
    //  Only ask the daemon when we know where it is; no config is no error here
    bool known = cli->endpoint || cli->config_file || access (CW_DEFAULT_CONFIG, R_OK) == 0;
    if (known && cli_control_endpoint (cli, &exit_code))
        cli_request (cli, "status", NULL, &status, true, err, sizeof err);
    const char *daemon = status ? json_string_value (json_object_get (status, "version")) : NULL;
    if (cli->json) {
        json_t *body = json_pack ("{s:s, s:o}", "cli", CW_VERSION, "daemon",
                                  daemon ? json_string (daemon) : json_null ());
        cli_print_json (cli, body);
        json_decref (body);
    }
    else {
        printf ("causeway %s\n", CW_VERSION);
        if (daemon)
            printf ("causewayd %s\n", daemon);
        else if (*err)
            fprintf (stderr, "causeway: causewayd: %s\n", err);
    }
    json_decref (status);
    return CLI_EXIT_OK;
}
