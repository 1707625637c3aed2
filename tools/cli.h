/*  cli.h - the pieces of the `causeway` admin CLI shared by its files.

    causeway.c holds main, the global options, the command table and the
    dispatcher; cli_output.c prints reply bodies as tables; cli_local.c
    holds the commands that do not (only) send one control request
    (alarms watch, keygen, version); cli_cluster.c the clustering commands
    that do more than one request (backup create/restore with their
    passphrase, dns records/check, firewall rules).

    A command is one row of the table in causeway.c: the words that name it
    ("alarms raise"), the control command it sends ("alarms.raise"), its
    positional arguments and options (each mapped to a key of the JSON
    arguments), and how an "ok" body is printed. Adding a command that sends
    one request is adding one row.
*/
#ifndef CW_CLI_H
#define CW_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cw_bootstrap.h"

//  Exit status of the causeway command
#define CLI_EXIT_OK 0             //  success
#define CLI_EXIT_FAILED 1         //  the request failed (message on stderr)
#define CLI_EXIT_USAGE 2          //  usage error
#define CLI_EXIT_UNREACHABLE 3    //  causewayd could not be reached

#define CLI_DEFAULT_TIMEOUT_MS 10000
#define CLI_MAX_ARGS 4
#define CLI_MAX_OPTS 12

typedef enum {
    CLI_ARG_STRING = 0,    //  required word, sent as a JSON string
    CLI_ARG_OPTIONAL,      //  optional word, sent as a JSON string when given
    CLI_ARG_ALARM_ID,      //  required alarm id: a number, sent as a JSON integer
                           //  (the daemon refuses ids outside 90000-99999)
    CLI_ARG_PEER_INDEX,    //  required peer index 1..CLI_MAX_PEERS, sent as a JSON integer
    CLI_ARG_LOCAL          //  required word used by a local command, not sent
} cli_arg_type_t;

#define CLI_MAX_PEERS 6

//  cli_opt_t flags
#define CLI_OPT_INT 1       //  the value is a positive number, sent as a JSON integer
#define CLI_OPT_ALWAYS 2    //  a flag sent as false when not given (else only true when given)

typedef struct {
    const char *metavar;    //  "NAME", shown in the usage line
    const char *key;        //  JSON key in the arguments ("name")
    cli_arg_type_t type;
} cli_arg_t;

typedef struct {
    const char *option;     //  "--all"
    const char *key;        //  JSON key ("all"); a flag without metavar sends true;
                            //  NULL = not sent (see wire)
    const char *metavar;    //  NULL = a flag; "IP:PORT" = takes a value, sent as a string
    const char *help;
    int flags;              //  CLI_OPT_INT, CLI_OPT_ALWAYS
    const char *choices;    //  "permissive|enforce": the only values allowed (NULL = any)
    const char *wire;       //  a flag that sends the command as this control command instead
} cli_opt_t;

typedef struct _cli_t cli_t;
typedef struct _cli_command_t cli_command_t;

//  Prints an "ok" body for a person (tables); --json bypasses it.
typedef void (cli_render_fn) (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  Runs a local command; ARGS holds the positional arguments and options
//  by key (as the request would). Returns the exit status.
typedef int (cli_run_fn) (cli_t *cli, const cli_command_t *cmd, json_t *args);
//  Checks the arguments together after parsing: NULL when they are
//  right, else what is wrong (a usage error).
typedef const char *(cli_check_fn) (json_t *args);

struct _cli_command_t {
    const char *words;    //  "alarms raise": what the user types
    const char *wire;     //  control command ("alarms.raise"); NULL for local commands
    cli_arg_t args [CLI_MAX_ARGS];
    cli_opt_t opts [CLI_MAX_OPTS];
    cli_render_fn *render;    //  NULL = cli_render_generic
    bool shows_message;       //  render prints the body's "message" itself (else a
                              //  body with a "message" prints only that)
    cli_run_fn *run;          //  local commands: run instead of one request
    cli_check_fn *check;      //  NULL = every combination of arguments is valid
    const char *done;         //  printed after an ok reply without a message ("%s" = first arg)
    const char *summary;      //  one line for `causeway help`
    const char *help;         //  more text for `causeway COMMAND --help` (may be NULL)
};

struct _cli_t {
    //  global options
    const char *config_file;       //  --config, NULL = default file
    const char *endpoint;          //  --endpoint or $CAUSEWAY_ENDPOINT
    const char *alarm_endpoint;    //  --alarm-endpoint or $CAUSEWAY_ALARM_ENDPOINT
    const char *server_key;        //  --server-key or $CAUSEWAY_SERVER_KEY
    const char *cert_file;         //  --cert or $CAUSEWAY_CERT
    bool json;                     //  --json
    bool compact;                  //  --compact: one-line JSON
    int timeout_ms;                //  --timeout
    cw_bootstrap_t *boot;          //  loaded on demand
};

//  ---------------------------------------------------------------------
//  causeway.c

//  "causeway: MESSAGE" on stderr.
void cli_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
//  The bootstrap file (--config or the default). Returns NULL and prints
//  the reason; *EXIT_CODE gets 2 (an explicit --config) or 3 (the default).
cw_bootstrap_t *cli_bootstrap (cli_t *cli, int *exit_code);
//  The control endpoint by precedence, or NULL (reason printed, *EXIT_CODE set).
const char *cli_control_endpoint (cli_t *cli, int *exit_code);
//  Sends one request. On "ok" *BODY is the reply (owned by the caller) and
//  0 is returned; otherwise the error is printed and the exit status
//  returned. QUIET_UNREACHABLE: return 3 without printing.
int cli_request (cli_t *cli, const char *command, json_t *args, json_t **body, bool quiet_unreachable, char *err,
                 size_t errlen);
//  Usage line of CMD ("causeway alarms raise ID DETAIL") into BUF.
const char *cli_usage (const cli_command_t *cmd, char *buf, size_t len);
//  A usage error about CMD: "causeway: WORDS: MESSAGE" and its usage line
//  on stderr. Returns CLI_EXIT_USAGE.
int cli_usage_error (const cli_command_t *cmd, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  Prints the "ok" BODY of CMD: JSON with --json, else its "message",
//  else its done text (empty body), else its renderer.
void cli_render_reply (cli_t *cli, const cli_command_t *cmd, json_t *body, json_t *args);

//  ---------------------------------------------------------------------
//  cli_output.c

//  Prints BODY as JSON (pretty unless --compact).
void cli_print_json (cli_t *cli, json_t *body);
//  A JSON value as a person reads it: strings bare, lists comma-separated,
//  null as "". Returns a new string.
char *cli_value_text (json_t *value);
//  CMD's done message ("%s" = its first argument in ARGS).
void cli_print_done (const cli_command_t *cmd, json_t *args);
//  The text of field KEY of OBJ, or "-" when missing or empty (new string).
char *cli_field (json_t *obj, const char *key);
//  SECONDS as "3d 04h 05m", "2h 03m 04s", "12s" into BUF.
void cli_duration (long long seconds, char *buf, size_t len);
//  An aligned table for the renderers: columns as wide as their widest
//  cell, two spaces apart, the last one unpadded.
typedef struct _cli_table_t cli_table_t;
//  A table of COLUMNS (at most 12) with HEADER (COLUMNS strings).
cli_table_t *cli_table_new (int columns, const char *const *header);
//  Add a row; takes ownership of the COLUMNS strings in CELLS.
void cli_table_add (cli_table_t *self, char **cells);
//  Print the table (each row after INDENT spaces) and destroy it.
void cli_table_print_indent_destroy (cli_table_t **self_p, int indent);
void cli_table_print_destroy (cli_table_t **self_p);
//  Prints CMD's done message whatever the body says.
void cli_render_done (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_generic (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_actors (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_actor (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_alarms (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_alarm (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_config_get (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_config_set (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_config_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_cluster_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_cluster_token (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_cluster_mappings (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_cluster_diff (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_cluster_check (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  license add|remove: "DONE: serial S, KIND x COUNT ..." when the body names the key.
void cli_render_license_key (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  license list: one row per installed key (never its signature).
void cli_render_license_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  license status: per license type the pool, used, free and a row per
//  peer; lost peers and when their licenses leave; the feature keys.
void cli_render_license_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  license acquire: "granted: lease L" or "refused: REASON".
void cli_render_license_acquire (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  routing status: the listeners and their state, requests per method,
//  messages dropped, maintenance mode.
void cli_render_routing_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  registrations list: one row per binding; calls list: one row per call.
void cli_render_registrations (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_calls (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_locate (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_search_history (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  transforms list, search-rules list: one row per rule, lowest priority
//  first; transforms test: the alias before and after, and the transform.
void cli_render_transforms (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_transforms_test (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_search_rules (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  transforms add, search-rules add: the options' words as the rule's JSON
//  (--priority a number, --authenticated yes|no a boolean, --mode any|pattern
//  any_alias|pattern_match); anything else is left for causewayd to judge.
const char *cli_check_dialplan_rule (json_t *args);
//  admin list: one row per web administrator (never a hash); admin token:
//  the token alone on stdout (its id on stderr); audit: one row per entry.
void cli_render_admin_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_admin_token (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_audit (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  tms status: the manager connection, then one line per provisioning
//  service; tms refresh: the services whose full pull started.
void cli_render_tms_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_tms_refresh (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  zones list: one row per zone; zones status: one row per address with
//  its keep-alive state; zones resolve: the DNS steps, then the targets.
void cli_render_zones_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_zones_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_zones_resolve (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  tms diff: each peer read or not, then the lines that differ from the
//  reference's, or "no differences".
void cli_render_tms_diff (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  findme list: one row per account (its active location's devices) and
//  how to page on; findme show: the account, then its locations; phonebook
//  search: one row per entry.
void cli_render_findme_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_findme_show (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
void cli_render_phonebook_search (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body);
//  findme show ID|ALIAS: sent as {"alias"} when the word has an '@', else {"id"}.
int cli_run_findme_show (cli_t *cli, const cli_command_t *cmd, json_t *args);
//  One alarm-socket message as a readable line.
void cli_print_alarm_event (const char *topic, json_t *body);

//  ---------------------------------------------------------------------
//  cli_local.c

int cli_run_watch (cli_t *cli, const cli_command_t *cmd, json_t *args);
int cli_run_keygen (cli_t *cli, const cli_command_t *cmd, json_t *args);
int cli_run_version (cli_t *cli, const cli_command_t *cmd, json_t *args);

//  ---------------------------------------------------------------------
//  cli_cluster.c

//  cluster check: the request, its problems printed, exit 1 when not ok.
int cli_run_cluster_check (cli_t *cli, const cli_command_t *cmd, json_t *args);
//  backup create|restore FILE: FILE made absolute, the passphrase from
//  $CAUSEWAY_BACKUP_PASSPHRASE / --passphrase-file / the terminal.
int cli_run_backup (cli_t *cli, const cli_command_t *cmd, json_t *args);
//  dns records, dns check, firewall rules: cluster.status + config.list,
//  then the cw_dnstool library.
int cli_run_dns_records (cli_t *cli, const cli_command_t *cmd, json_t *args);
int cli_run_dns_check (cli_t *cli, const cli_command_t *cmd, json_t *args);
//  dns check: DOMAIN a DNS name, --server IP[:PORT] (before any request)
const char *cli_check_dns_check (json_t *args);
int cli_run_firewall_rules (cli_t *cli, const cli_command_t *cmd, json_t *args);

//  ---------------------------------------------------------------------
//  cli_alternates.c

//  tms diff: every peer's /alternatesconfiguration.xml over HTTPS
//  (libcurl), compared with the primary's; exit 1 when one differs or
//  could not be read.
int cli_run_tms_diff (cli_t *cli, const cli_command_t *cmd, json_t *args);

#endif
