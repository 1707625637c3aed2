/*  causeway.c - the admin CLI of a Causeway node.

    causeway [--config FILE] [--endpoint EP] [--json] [--timeout MS] COMMAND ...

    Each command is one row of s_commands below: the words a user types,
    the control command sent to causewayd (see cw_control.h), how its
    positional arguments and options become the JSON arguments, and how an
    "ok" body is printed (cli_output.c). Local commands (help, version,
    keygen, alarms watch) have a run function instead (cli_local.c), and so
    do the clustering commands that do more than one request (cli_cluster.c:
    cluster check, backup, dns, firewall), and `license acquire`, whose
    --hold keeps its one connection (which owns the lease) until a signal.

    The command line is read in one pass: global options may stand anywhere,
    the first words select the row (words are read until they name one), the
    remaining words are its positional arguments, other options must be the
    row's own. Anything wrong is a usage error (exit 2) that says what was
    expected; a failed request exits 1, an unreachable daemon 3. The words
    after "xcommand" are matched ignoring case (the guide's
    `xcommand ForceConfigUpdate`).

    The control endpoint is --endpoint, else $CAUSEWAY_ENDPOINT, else
    control.endpoint of the --config file, else of /etc/causeway/causeway.conf.
*/

#include "cli.h"
#include "cw_alarm.h"
#include "cw_control.h"
#include "cw_log.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

static int s_run_help (cli_t *cli, const cli_command_t *cmd, json_t *args);
static int s_run_license_acquire (cli_t *cli, const cli_command_t *cmd, json_t *args);
static int s_run_with_password (cli_t *cli, const cli_command_t *cmd, json_t *args);

static const char *s_check_diff (json_t *args);

//  ---------------------------------------------------------------------
//  The command table

// clang-format off
static const cli_command_t s_commands [] = {
    { .words = "status", .wire = "status",
      .render = cli_render_status,
      .summary = "show the node, its version and uptime, and every actor" },
    { .words = "actors list", .wire = "actors.list",
      .render = cli_render_actors,
      .summary = "list the actors: name, pid, state, restarts, since" },
    { .words = "actors start", .wire = "actors.start",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_actor, .done = "actor %s started",
      .summary = "start a stopped or failed actor (clears its alarm 10001)" },
    { .words = "actors stop", .wire = "actors.stop",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_actor, .done = "actor %s stopped",
      .summary = "stop an actor (it stays stopped until started)" },
    { .words = "actors restart", .wire = "actors.restart",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_actor, .done = "actor %s restarted",
      .summary = "restart an actor" },
    { .words = "alarms list", .wire = "alarms.list",
      .opts = { { "--all", "all", NULL, "also list cleared alarms", .flags = CLI_OPT_ALWAYS },
                { "--cluster", NULL, NULL, "the alarms of every reachable peer (cluster.alarms)",
                  .wire = "cluster.alarms" } },
      .render = cli_render_alarms,
      .summary = "list the raised and acknowledged alarms (--cluster: of every peer)",
      .help = "With --cluster the alarms of every reachable peer are listed (the PEER\n"
              "column says whose); peers that did not answer are named after the table." },
    { .words = "alarms ack", .wire = "alarms.ack",
      .args = { { "UUID", "uuid", CLI_ARG_STRING } },
      .render = cli_render_alarm, .done = "alarm %s acknowledged",
      .summary = "acknowledge an alarm occurrence (its uuid from `alarms list`)" },
    { .words = "alarms raise", .wire = "alarms.raise",
      .args = { { "ID", "id", CLI_ARG_ALARM_ID }, { "DETAIL", "detail", CLI_ARG_STRING } },
      .render = cli_render_alarm, .done = "alarm %s raised",
      .summary = "raise an operator alarm (ID 90000-99999)",
      .help = "ID is a number; causewayd refuses ids outside the operator range 90000-99999." },
    { .words = "alarms clear", .wire = "alarms.clear",
      .args = { { "ID", "id", CLI_ARG_ALARM_ID } },
      .render = cli_render_alarm, .done = "alarm %s cleared",
      .summary = "clear an operator alarm (ID 90000-99999)",
      .help = "ID is a number; causewayd refuses ids outside the operator range 90000-99999." },
    { .words = "alarms watch", .run = cli_run_watch,
      .opts = { { "--alarm-endpoint", "endpoint", "EP", "the alarm socket (default: first of alarms.publish)" } },
      .summary = "print every message of the alarm socket until interrupted",
      .help = "Subscribes to the alarm socket (the first alarms.publish endpoint of the\n"
              "bootstrap file, or --alarm-endpoint / $CAUSEWAY_ALARM_ENDPOINT) and prints\n"
              "one line per message: the topic and a readable summary, or with --json\n"
              "the topic, a space and the alarm's JSON object. Stops on SIGINT." },
    { .words = "config get", .wire = "config.get",
      .args = { { "KEY", "key", CLI_ARG_STRING } },
      .render = cli_render_config_get,
      .summary = "print the value of KEY alone (lists comma-separated)" },
    { .words = "config set", .wire = "config.set",
      .args = { { "KEY", "key", CLI_ARG_STRING }, { "VALUE", "value", CLI_ARG_STRING } },
      .opts = { { "--wait", "wait", NULL, "return when every live peer has applied the change" },
                { "--force", "force", NULL, "change even while a peer is joining, restarting or upgrading" } },
      .render = cli_render_config_set,
      .summary = "set KEY (a list is written comma-separated: a,b)",
      .help = "A cluster-scope key set on a subordinate is forwarded to the primary; the\n"
              "command returns when the primary has committed it (--wait: when every live\n"
              "peer has applied it)." },
    { .words = "config unset", .wire = "config.unset",
      .args = { { "KEY", "key", CLI_ARG_STRING } },
      .render = cli_render_config_set,
      .summary = "return KEY to its default" },
    { .words = "config list", .wire = "config.list",
      .args = { { "PREFIX", "prefix", CLI_ARG_OPTIONAL } },
      .render = cli_render_config_list,
      .summary = "list every key (or those starting with PREFIX): KEY VALUE SCOPE" },
    { .words = "cluster status", .wire = "cluster.status",
      .render = cli_render_cluster_status, .shows_message = true,
      .summary = "show the cluster and every peer: state, certificate, RTT, replication",
      .help = "Prints the cluster name, the primary's index, this peer's index, the IP\n"
              "version, the TLS mode, the address mapping and the database status (a\n"
              "FACTORY RESET PENDING line when every peer address was cleared), then one\n"
              "row per peer: INDEX ADDRESS SYSTEM-NAME STATE CERTIFICATE RTT(ms) APPLIED\n"
              "LAG VERSION TYPE MAINT, and the SHA-256 of each peer's pinned certificate\n"
              "(with the refused one while it waits for `cluster trust-peer N`). --json\n"
              "prints the reply body." },
    { .words = "cluster form", .wire = "cluster.form",
      .opts = { { "--name", "name", "FQDN", "the cluster name (default: the stored cluster.name)" },
                { "--ip-version", "ip_version", "4|6", "the IP version of the peer links",
                  .flags = CLI_OPT_INT, .choices = "4|6" },
                { "--tls-verify", "tls_verify", "permissive|enforce", "the TLS verification of the peer links",
                  .choices = "permissive|enforce" } },
      .done = "cluster formed: this node is peer 1 and the primary",
      .summary = "form a cluster of one with this node as peer 1 and the primary" },
    { .words = "cluster token", .wire = "cluster.token",
      .args = { { "ADDRESS", "address", CLI_ARG_STRING } },
      .opts = { { "--ttl", "ttl_s", "S", "seconds the token stays valid", .flags = CLI_OPT_INT } },
      .render = cli_render_cluster_token, .shows_message = true,
      .summary = "print a one-time token for the node at ADDRESS to join (run on the primary)",
      .help = "The token pins the primary's certificate; give it to `causeway cluster join`\n"
              "on the new node. It is printed alone on a line." },
    { .words = "cluster join", .wire = "cluster.join",
      .args = { { "PRIMARY", "primary", CLI_ARG_STRING }, { "TOKEN", "token", CLI_ARG_STRING } },
      .done = "joining the cluster of %s",
      .summary = "join the cluster whose primary is PRIMARY (run on the new node)" },
    { .words = "cluster add", .wire = "cluster.add",
      .args = { { "ADDRESS", "address", CLI_ARG_STRING } },
      .done = "peer %s added",
      .summary = "add the peer at ADDRESS to the first empty slot (run on the primary)" },
    { .words = "cluster remove", .wire = "cluster.remove",
      .args = { { "ADDRESS", "address", CLI_ARG_STRING } },
      .opts = { { "--dead", "dead", NULL, "the peer is dead: do not ask it to reset",
                  .flags = CLI_OPT_ALWAYS } },
      .done = "peer %s removed",
      .summary = "remove the peer at ADDRESS and close the gap (run on the primary)" },
    { .words = "cluster set-primary", .wire = "cluster.set_primary",
      .args = { { "N", "index", CLI_ARG_PEER_INDEX } },
      .done = "the primary is now peer %s",
      .summary = "make peer N (1-6) the primary" },
    { .words = "cluster replace", .wire = "cluster.replace",
      .args = { { "OLD", "old", CLI_ARG_STRING }, { "NEW", "new", CLI_ARG_STRING } },
      .done = "peer %s replaced",
      .summary = "remove the peer at OLD (reset it if live) and add the node at NEW at the end of the list" },
    { .words = "cluster disband", .wire = "cluster.disband",
      .opts = { { "--reset-primary", "reset_primary", NULL, "also factory-reset the primary",
                  .flags = CLI_OPT_ALWAYS } },
      .done = "cluster disbanded",
      .summary = "remove every subordinate, leaving the primary alone" },
    { .words = "cluster suggest-mappings", .wire = "cluster.suggest_mappings",
      .opts = { { "--apply", "apply", NULL, "also set them as cluster.address_mapping",
                  .flags = CLI_OPT_ALWAYS } },
      .render = cli_render_cluster_mappings, .shows_message = true,
      .summary = "print an FQDN=IP address mapping for every peer (--apply: set it)" },
    { .words = "cluster use-fqdns", .wire = "cluster.use_fqdns",
      .done = "the peer list now uses FQDNs",
      .summary = "replace each peer's IP by its FQDN in the peer list, one peer at a time" },
    { .words = "cluster enforce-tls", .wire = "cluster.enforce_tls",
      .done = "TLS verification is now enforce",
      .summary = "switch TLS verification to enforce (refused while a certificate would fail)" },
    { .words = "cluster force-config-update", .wire = "cluster.force_config_update",
      .done = "configuration replaced by the primary's",
      .summary = "discard this peer's cluster configuration and take the primary's" },
    { .words = "cluster diff", .wire = "cluster.diff",
      .args = { { "A", "a", CLI_ARG_OPTIONAL }, { "B", "b", CLI_ARG_OPTIONAL } },
      .check = s_check_diff,
      .render = cli_render_cluster_diff, .shows_message = true,
      .summary = "the configuration keys whose values differ between peers A and B",
      .help = "Prints KEY, the value on A and the value on B, one key per line.\n"
              "Give both A and B (peer addresses), or neither (causewayd's default pair)." },
    { .words = "cluster trust-peer", .wire = "cluster.trust_peer",
      .args = { { "N", "peer", CLI_ARG_PEER_INDEX } },
      .summary = "accept the certificate peer N now presents in place of its pinned one (alarm 20040)",
      .help = "In permissive mode each peer pins the certificate every other peer first\n"
              "linked with; a different one is refused and raises alarm 20040 with both\n"
              "SHA-256 fingerprints. Run on each peer that raised it, once the new\n"
              "certificate is known to be the peer's." },
    { .words = "cluster check", .wire = "cluster.check",
      .run = cli_run_cluster_check,
      .summary = "check the requirements of clustering; each unmet one with its fix",
      .help = "Exits 1 when a requirement is not met." },
    { .words = "xcommand ForceConfigUpdate", .wire = "cluster.force_config_update",
      .done = "configuration replaced by the primary's",
      .summary = "the guide's name of `cluster force-config-update`" },
    { .words = "backup create", .wire = "backup.create",
      .args = { { "FILE", "file", CLI_ARG_STRING } },
      .opts = { { "--passphrase-file", "passphrase_file", "F", "read the passphrase from the first line of F" } },
      .run = cli_run_backup, .done = "backup written to %s",
      .summary = "write an encrypted backup of this node's configuration to FILE",
      .help = "FILE is written by causewayd (a relative FILE is made absolute here).\n"
              "The passphrase: --passphrase-file F, else $CAUSEWAY_BACKUP_PASSPHRASE,\n"
              "else asked twice on the terminal. It cannot be empty." },
    { .words = "backup restore", .wire = "backup.restore",
      .args = { { "FILE", "file", CLI_ARG_STRING } },
      .opts = { { "--passphrase-file", "passphrase_file", "F", "read the passphrase from the first line of F" } },
      .run = cli_run_backup, .done = "backup %s restored",
      .summary = "restore this node's configuration from the encrypted backup FILE",
      .help = "FILE is read by causewayd (a relative FILE is made absolute here).\n"
              "The passphrase: --passphrase-file F, else $CAUSEWAY_BACKUP_PASSPHRASE,\n"
              "else asked on the terminal. It cannot be empty." },
    { .words = "dns records", .run = cli_run_dns_records,
      .opts = { { "--ttl", "ttl", "N", "the TTL of the records (default 3600)", .flags = CLI_OPT_INT } },
      .summary = "print the SRV, NAPTR and A/AAAA records of the cluster in zone-file form",
      .help = "Asks causewayd for cluster.status and config.list." },
    { .words = "dns check", .run = cli_run_dns_check, .check = cli_check_dns_check,
      .args = { { "DOMAIN", "domain", CLI_ARG_LOCAL } },
      .opts = { { "--server", "server", "IP:PORT", "the DNS server to ask (default: the system's)" } },
      .summary = "query the cluster's DNS records for DOMAIN and report what is missing or wrong",
      .help = "Exits 1 when a record is missing or wrong. Asks causewayd for\n"
              "cluster.status and config.list." },
    { .words = "firewall rules", .run = cli_run_firewall_rules,
      .summary = "print nftables rules that drop TCP to the clustering ports from non-peers",
      .help = "The ports are peering.port and peering.port2 of the bootstrap file.\n"
              "Asks causewayd for cluster.status and config.list." },
    { .words = "license add", .wire = "license.add",
      .args = { { "KEY", "key", CLI_ARG_STRING } },
      .render = cli_render_license_key, .done = "option key added",
      .summary = "install an option key on this peer (refused if forged, altered, expired or bound elsewhere)",
      .help = "KEY is one line CWL1.<payload>.<signature>, as `causeway-license issue` prints it.\n"
              "It must be signed by an issuer of licensing.issuers in the bootstrap file, not\n"
              "expired, and bound to this peer's system name if bound at all; the refusal\n"
              "says which. Capacity keys join the cluster's pool; feature keys must be\n"
              "installed on every peer." },
    { .words = "license remove", .wire = "license.remove",
      .args = { { "KEY|SERIAL", "key", CLI_ARG_STRING } },
      .render = cli_render_license_key, .done = "option key removed",
      .summary = "remove an option key from this peer, named by the key or its serial" },
    { .words = "license list", .wire = "license.list",
      .render = cli_render_license_list,
      .summary = "this peer's option keys, decoded: serial, kind, count, system, expiry, state",
      .help = "STATE is active, expired, wrong system (bound to another system name) or\n"
              "unknown issuer (its issuer is no longer in licensing.issuers)." },
    { .words = "license status", .wire = "license.status",
      .render = cli_render_license_status,
      .summary = "per license type: the pool, used and free, and each peer's keys, use and share",
      .help = "The pool of a capacity kind is the sum of the keys of every live peer, and of\n"
              "each lost peer until its grace period (licensing.lost_peer_grace_s) ends.\n"
              "Also lists each peer's feature keys and says whether they differ." },
    { .words = "license acquire", .wire = "license.acquire",
      .args = { { "KIND", "kind", CLI_ARG_STRING } },
      .opts = { { "--hold", "hold", NULL, "keep the lease until interrupted, then release it" } },
      .run = s_run_license_acquire, .render = cli_render_license_acquire,
      .summary = "take one license of KIND from the pool (exit 1 when refused)",
      .help = "Prints \"granted: lease L\" or \"refused: REASON\" (exit 1). The lease belongs to\n"
              "this client and is freed when it disconnects; --hold keeps the connection\n"
              "open until SIGINT or SIGTERM, then releases the lease and exits 0." },
    { .words = "license release", .wire = "license.release",
      .args = { { "LEASE", "lease", CLI_ARG_STRING } },
      .done = "lease %s released",
      .summary = "give back the license of LEASE" },
    { .words = "routing status", .wire = "routing.status",
      .render = cli_render_routing_status,
      .summary = "the SIP listeners and their state, requests per method, messages dropped, maintenance mode",
      .help = "A listener that cannot bind shows \"failed: REASON\" (alarm 40001) and is bound\n"
              "again every few seconds. \"dropped\" counts the malformed and oversized SIP\n"
              "messages refused since the routing actor started." },
    { .words = "registrations list", .wire = "registrations.list",
      .opts = { { "--aor", "aor", "AOR", "only the registrations of this address of record" },
                { "--peer", "peer", "N", "only the registrations peer N holds", CLI_OPT_INT } },
      .render = cli_render_registrations,
      .summary = "the cluster's SIP registrations: AOR, contact, peer, expiry, transport, source" },
    { .words = "locate", .wire = "routing.locate",
      .args = { { "ALIAS", "alias", CLI_ARG_STRING } },
      .opts = { { "--source", "source", "SOURCE",
                  "where the request would come from: any (default), registered, authenticated or zone:NAME" } },
      .render = cli_render_locate,
      .summary = "run the transforms and search rules on ALIAS without placing a call; every step and the result" },
    { .words = "search-history", .wire = "routing.search_history",
      .opts = { { "--limit", "limit", "N", "only the newest N searches", CLI_OPT_INT } },
      .render = cli_render_search_history,
      .summary = "the last searches of the peer asked (up to 1,000; calls and locates), newest first, with their steps" },
    { .words = "calls list", .wire = "calls.list",
      .render = cli_render_calls,
      .summary = "the calls in progress: id, from, to, peer, state, start" },
    { .words = "transforms add", .wire = "transforms.add",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--priority", "priority", "N", "1 (first) to 65534" },
                { "--type", "pattern_type", "exact|prefix|suffix|regex", "how the pattern matches the alias" },
                { "--pattern", "pattern", "P", "the pattern (regex: POSIX extended, matches the whole alias)" },
                { "--replace", "replace", "R", "what the matched part becomes (regex: \\1..\\9 are the groups)" },
                { "--state", "state", "on|off", "off: kept but skipped (default on)" } },
      .check = cli_check_dialplan_rule, .render = cli_render_done, .done = "transform %s added",
      .summary = "add a transform, applied to every alias before the search (cluster-wide)",
      .help = "Transforms run lowest priority first; the first that matches changes the\n"
              "alias and no other runs. A bad rule is refused with the field at fault." },
    { .words = "transforms remove", .wire = "transforms.remove",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_done, .done = "transform %s removed",
      .summary = "remove the transform NAME" },
    { .words = "transforms list", .wire = "transforms.list",
      .render = cli_render_transforms,
      .summary = "the transforms, lowest priority first: priority, name, type, pattern, replace, state" },
    { .words = "transforms test", .wire = "transforms.test",
      .args = { { "ALIAS", "alias", CLI_ARG_STRING } },
      .render = cli_render_transforms_test,
      .summary = "what the transforms make of ALIAS, and which one matched" },
    { .words = "search-rules add", .wire = "search_rules.add",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--priority", "priority", "N", "1 (first) to 65534; equal priorities are searched together" },
                { "--target", "target", "local|ZONE", "where the alias is searched" },
                { "--source", "source", "S",
                  "any, registered, authenticated or zone:NAME: the requests it applies to (default any)" },
                { "--authenticated", "authenticated", "yes|no", "the request must be authenticated (default no)" },
                { "--mode", "mode", "any|pattern", "any alias, or only those matching the pattern (default any)" },
                { "--type", "pattern_type", "T", "exact, prefix, suffix or regex: how the pattern matches the alias" },
                { "--pattern", "pattern", "P", "the pattern (regex: POSIX extended, matches the whole alias)" },
                { "--behaviour", "behaviour", "B", "leave, strip or replace: what becomes of the matched part (default leave)" },
                { "--replace", "replace", "R", "the replacement (regex: \\1..\\9 are the groups)" },
                { "--on-match", "on_match", "stop|continue", "after a match: stop or go on to the next priority" },
                { "--state", "state", "on|off", "off: kept but skipped (default on)" } },
      .check = cli_check_dialplan_rule, .render = cli_render_done, .done = "search rule %s added",
      .summary = "add a search rule: which aliases are searched where (cluster-wide)",
      .help = "Rules are searched lowest priority first; rules of equal priority are searched\n"
              "together. The search ends at the first priority that found the alias, or after\n"
              "one whose matching rule says --on-match stop (the default). A target zone need\n"
              "not exist yet. A bad rule is refused with the field at fault." },
    { .words = "search-rules remove", .wire = "search_rules.remove",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_done, .done = "search rule %s removed",
      .summary = "remove the search rule NAME" },
    { .words = "search-rules list", .wire = "search_rules.list",
      .render = cli_render_search_rules,
      .summary = "the search rules, lowest priority first, with their source, pattern and target" },
    { .words = "credentials add", .wire = "credentials.add",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--password-file", "password_file", "F",
                  "the password is the first line of F (else it is asked on the terminal, not echoed)" } },
      .run = s_run_with_password, .done = "credentials of %s added",
      .summary = "add or replace the SIP digest credentials of user NAME (cluster-wide)",
      .help = "The password is never taken from the command line: it is the first line of\n"
              "--password-file F, or typed on the terminal without echo. Only its digest\n"
              "hashes are stored." },
    { .words = "credentials remove", .wire = "credentials.remove",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .done = "credentials of %s removed",
      .summary = "remove the SIP digest credentials of user NAME" },
    { .words = "credentials list", .wire = "credentials.list",
      .summary = "the users that have SIP digest credentials (never a password or hash)" },
    { .words = "zones add", .wire = "zones.add",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--type", "type", "neighbour|dns", "a neighbour zone (its addresses) or a DNS zone (RFC 3263)",
                  .choices = "neighbour|dns" },
                { "--address", "addresses", "A[,B...]", "neighbour: IP, IP:PORT or host:port, tried in this order" },
                { "--transport", "transport", "udp|tcp|tls|any", "udp, tcp or tls (dns: also any, the default)",
                  .choices = "udp|tcp|tls|any" },
                { "--port", "port", "N", "neighbour: the port of addresses without one (5060, tls 5061)",
                  .flags = CLI_OPT_INT },
                { "--keepalive", "keepalive_s", "S", "neighbour: seconds between OPTIONS (5..3600, default 30)",
                  .flags = CLI_OPT_INT } },
      .render = cli_render_done, .done = "zone %s added",
      .summary = "add or replace a neighbour or DNS zone (cluster-wide)",
      .help = "A neighbour zone: `zones add NAME --type neighbour --address A[,B...]\n"
              "[--transport udp|tcp|tls] [--port N] [--keepalive S]`; every peer sends OPTIONS to\n"
              "each address every S seconds and raises alarm 40010 while none answers.\n"
              "A DNS zone: `zones add NAME --type dns [--transport udp|tcp|tls|any]`; the alias's\n"
              "domain is resolved NAPTR -> SRV -> A/AAAA with the servers of dns.servers." },
    { .words = "zones remove", .wire = "zones.remove",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_done, .done = "zone %s removed",
      .summary = "remove a zone (and its alarm)" },
    { .words = "zones list", .wire = "zones.list",
      .render = cli_render_zones_list,
      .summary = "the zones: name, type, transport, port, keep-alive, addresses" },
    { .words = "zones status", .wire = "zones.status",
      .render = cli_render_zones_status,
      .summary = "this peer's view of each zone: state, and each address's keep-alive state, last answer, error" },
    { .words = "zones resolve", .wire = "zones.resolve",
      .args = { { "ZONE", "zone", CLI_ARG_STRING }, { "ALIAS", "alias", CLI_ARG_STRING } },
      .render = cli_render_zones_resolve,
      .summary = "the next hops of ALIAS in ZONE in the order tried, with the DNS queries made" },
    { .words = "admin add", .wire = "webadmin.admin.add",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--password-file", "password_file", "F",
                  "the password is the first line of F (else it is asked on the terminal, not echoed)" } },
      .run = s_run_with_password, .render = cli_render_done, .done = "web administrator %s added",
      .summary = "add a web administrator account NAME (cluster-wide)",
      .help = "NAME: 1-64 of A-Z a-z 0-9 . _ @ -. The password (8 characters at least) is\n"
              "never taken from the command line: it is the first line of --password-file F,\n"
              "or typed on the terminal without echo. Only its argon2id hash is stored." },
    { .words = "admin passwd", .wire = "webadmin.admin.passwd",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .opts = { { "--password-file", "password_file", "F",
                  "the password is the first line of F (else it is asked on the terminal, not echoed)" } },
      .run = s_run_with_password, .render = cli_render_done, .done = "password of %s changed",
      .summary = "set the password of web administrator NAME (cluster-wide)" },
    { .words = "admin remove", .wire = "webadmin.admin.remove",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_done, .done = "web administrator %s removed (and its API tokens)",
      .summary = "remove web administrator NAME and its API tokens" },
    { .words = "admin list", .wire = "webadmin.admin.list",
      .render = cli_render_admin_list,
      .summary = "the web administrators: name, created, changed, API token ids (never a hash)" },
    { .words = "admin token", .wire = "webadmin.admin.token",
      .args = { { "NAME", "name", CLI_ARG_STRING } },
      .render = cli_render_admin_token,
      .summary = "make an API token for web administrator NAME; printed once, alone on a line",
      .help = "The token (cwt_<id>_<secret>) authenticates REST requests as NAME\n"
              "(Authorization: Bearer TOKEN). Only a hash of it is stored: it cannot be\n"
              "shown again. Revoke it with `causeway admin token-revoke ID`." },
    { .words = "admin token-revoke", .wire = "webadmin.admin.token.revoke",
      .args = { { "ID", "id", CLI_ARG_STRING } },
      .render = cli_render_done, .done = "API token %s revoked",
      .summary = "revoke the API token ID (its id from `admin list`)" },
    { .words = "audit", .wire = "webadmin.audit",
      .opts = { { "--limit", "limit", "N", "at most N entries (1-1000, default 100)", .flags = CLI_OPT_INT },
                { "--before", "before", "SEQ", "only entries older than SEQ (to page back)", .flags = CLI_OPT_INT } },
      .render = cli_render_audit,
      .summary = "this peer's audit log, newest first: at, user, source, action, detail, result",
      .help = "Every change made through the web admin or `causeway admin` is recorded on the\n"
              "peer that made it, with who (the web user, or @control:<id> for the CLI), from\n"
              "where, and the result. Never a password or token." },
    { .words = "tms status", .wire = "tms.status",
      .render = cli_render_tms_status,
      .summary = "the external manager: state (active, initialising, failed), reason, event queue",
      .help = "State, the reason when not active, the manager's URL, the feedback event queue\n"
              "(length, dropped beyond its bound, oldest) and the last success. Alarm 50001\n"
              "is raised while the state is failed." },
    { .words = "tms credentials", .wire = "tms.credentials.set",
      .args = { { "USER", "user", CLI_ARG_STRING } },
      .opts = { { "--password-file", "password_file", "F",
                  "the password is the first line of F (else it is asked on the terminal, not echoed)" } },
      .run = s_run_with_password, .render = cli_render_done, .done = "credentials of the manager set (user %s)",
      .summary = "set the user and password this peer gives the external manager (sealed at rest)",
      .help = "The password is never taken from the command line: it is the first line of\n"
              "--password-file F, or typed on the terminal without echo. It is stored sealed\n"
              "(libsodium secretbox, key in <state_dir>/tms.key) and never shown or logged." },
    { .words = "tms refresh", .wire = "tms.refresh",
      .args = { { "SERVICE", "service", CLI_ARG_OPTIONAL } },
      .render = cli_render_tms_refresh,
      .summary = "force a full pull from the manager of SERVICE (users, findme, phonebooks, templates) or of all",
      .help = "The guide's Force refresh: the configuration primary pulls the service again\n"
              "from revision 0; rows the manager removed are removed cluster-wide. Refused on\n"
              "a subordinate (it names the primary) and while provisioning is stopped.\n"
              "`causeway tms status` shows each service's state, revision, rows and errors." },
    { .words = "tms diff", .run = cli_run_tms_diff,
      .opts = { { "--user", "user", "NAME", "an administrator account of the web admin (HTTP Basic)" },
                { "--password-file", "password_file", "F", "its password: the first line of F" },
                { "--token-file", "token_file", "F", "an API token (the first line of F) instead of --user" },
                { "--cacert", "cacert", "FILE", "the CA (PEM) the peers' web certificates must chain to "
                                                "(default: the system's CA store)" },
                { "--port", "port", "N", "the peers' web admin port (default: this node's webadmin.listen port)",
                  .flags = CLI_OPT_INT } },
      .render = cli_render_tms_diff,
      .summary = "fetch /alternatesconfiguration.xml from every peer and print what differs (exit 1 if anything)",
      .help = "The guide's cluster diagnostic (wget of every peer's alternatesconfiguration.xml,\n"
              "then diff) in one command. Each peer's document is compared line by line with\n"
              "the primary's (or the first one read); ThisSystem and Alternates name the peer\n"
              "itself and are not compared. Exit 0 when every peer was read and none differs,\n"
              "1 otherwise. The certificate is always checked, with the host name." },
    { .words = "findme list", .wire = "tms.findme.list",
      .opts = { { "--query", "query", "Q", "only the accounts whose alias, id or user starts with Q (any case)" },
                { "--limit", "limit", "N", "at most N accounts (1-1000, default 100)", .flags = CLI_OPT_INT },
                { "--after", "after", "ID", "the accounts after account ID (to page on)" } },
      .render = cli_render_findme_list,
      .summary = "the FindMe accounts this peer serves, by id: alias, user, active location and its devices",
      .help = "The accounts come from the external manager (pulled by the primary) and are\n"
              "served from this peer's copy, also while the primary or the manager is away." },
    { .words = "findme show", .wire = "tms.findme.show",
      .args = { { "ID|ALIAS", "id", CLI_ARG_STRING } },
      .run = cli_run_findme_show, .render = cli_render_findme_show,
      .summary = "one FindMe account by id or alias (user@domain): its locations and devices" },
    { .words = "phonebook search", .wire = "tms.phonebook.search",
      .args = { { "QUERY", "query", CLI_ARG_STRING } },
      .opts = { { "--limit", "limit", "N", "at most N entries (1-100, default 20)", .flags = CLI_OPT_INT } },
      .render = cli_render_phonebook_search,
      .summary = "phone book entries whose name, a word of the name, number or URI starts with QUERY",
      .help = "Case-insensitive prefix search, ordered by name: \"gra\" finds Grace Hansen,\n"
              "\"hans\" finds her by surname, \"+44 20\" or \"4420\" by number, \"sip:bob\" or\n"
              "\"bob@\" by URI. Served from this peer's copy of the phone books." },
    { .words = "restart", .wire = "restart",
      .render = cli_render_done, .done = "causewayd is restarting",
      .summary = "restart the node: stop every actor, then causewayd starts again" },
    { .words = "shutdown", .wire = "shutdown",
      .render = cli_render_done, .done = "causewayd is shutting down",
      .summary = "stop every actor and causewayd" },
    { .words = "keygen", .run = cli_run_keygen,
      .args = { { "FILE", "file", CLI_ARG_LOCAL } },
      .summary = "write a new CURVE client certificate (FILE, FILE_secret) and print its public key",
      .help = "FILE is the public certificate (copy it into the node's\n"
              "control.authorized_keys_dir); FILE_secret (mode 0600) is what --cert takes." },
    { .words = "version", .run = cli_run_version,
      .summary = "print the version of causeway and, if reachable, of causewayd" },
    { .words = "help", .run = s_run_help,
      .args = { { "COMMAND", "command", CLI_ARG_OPTIONAL } },
      .summary = "this help; `causeway help COMMAND` or `causeway COMMAND --help` for one command" },
};
// clang-format on
#define S_COMMAND_COUNT (sizeof s_commands / sizeof s_commands [0])

//  cluster diff [A B]: both or neither
static const char *
s_check_diff (json_t *args)
{
    if (json_object_get (args, "a") && !json_object_get (args, "b"))
        return "give both A and B, or neither";
    return NULL;
}

//  ---------------------------------------------------------------------
//  Messages

void
cli_error (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fputs ("causeway: ", stderr);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
    va_end (args);
}

const char *
cli_usage (const cli_command_t *cmd, char *buf, size_t len)
{
    size_t used = snprintf (buf, len, "causeway %s", cmd->words);
    //  Optional arguments in a row share one bracket: "[A B]"
    for (int i = 0; i < CLI_MAX_ARGS && cmd->args [i].metavar && used < len; i++) {
        bool optional = cmd->args [i].type == CLI_ARG_OPTIONAL;
        bool opens = optional && (i == 0 || cmd->args [i - 1].type != CLI_ARG_OPTIONAL);
        bool closes = optional
                   && (i + 1 == CLI_MAX_ARGS || !cmd->args [i + 1].metavar
                       || cmd->args [i + 1].type != CLI_ARG_OPTIONAL);
        used += snprintf (buf + used, len - used, " %s%s%s", opens ? "[" : "", cmd->args [i].metavar,
                          closes ? "]" : "");
    }
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts [i].option && used < len; i++) {
        if (cmd->opts [i].metavar)
            used += snprintf (buf + used, len - used, " [%s %s]", cmd->opts [i].option, cmd->opts [i].metavar);
        else
            used += snprintf (buf + used, len - used, " [%s]", cmd->opts [i].option);
    }
    return buf;
}

static const char s_global_help [] =
    "Global options (anywhere on the line):\n"
    "  --config FILE        bootstrap file (default " CW_DEFAULT_CONFIG ")\n"
    "  --endpoint EP        control endpoint (default $CAUSEWAY_ENDPOINT, else\n"
    "                       control.endpoint of the bootstrap file)\n"
    "  --json               print the reply body as JSON (--compact: on one line)\n"
    "  --timeout MS         how long to wait for causewayd (default 10000)\n"
    "  --server-key Z85     CURVE: the server's public key ($CAUSEWAY_SERVER_KEY)\n"
    "  --cert FILE          CURVE: this client's secret certificate ($CAUSEWAY_CERT)\n"
    "  --alarm-endpoint EP  alarm socket for `alarms watch` ($CAUSEWAY_ALARM_ENDPOINT)\n"
    "\n"
    "Exit status: 0 success, 1 the request failed, 2 usage error,\n"
    "3 causewayd could not be reached.\n";

static void
s_print_command_help (FILE *out, const cli_command_t *cmd)
{
    char usage [256];
    fprintf (out, "usage: %s\n\n%s.\n", cli_usage (cmd, usage, sizeof usage), cmd->summary);
    bool has_opts = cmd->opts [0].option != NULL;
    if (has_opts)
        fprintf (out, "\nOptions:\n");
    for (int i = 0; i < CLI_MAX_OPTS && cmd->opts [i].option; i++) {
        char left [64];
        snprintf (left, sizeof left, "%s%s%s", cmd->opts [i].option, cmd->opts [i].metavar ? " " : "",
                  cmd->opts [i].metavar ? cmd->opts [i].metavar : "");
        fprintf (out, "  %-20s %s\n", left, cmd->opts [i].help);
    }
    if (cmd->help)
        fprintf (out, "\n%s\n", cmd->help);
    if (cmd->wire)
        fprintf (out, "\nControl command: %s\n", cmd->wire);
}

static void
s_print_help (FILE *out)
{
    fprintf (out, "usage: causeway [--config FILE] [--endpoint EP] [--json] [--timeout MS] COMMAND ...\n\n"
                  "Commands:\n");
    for (size_t i = 0; i < S_COMMAND_COUNT; i++) {
        char usage [256];
        cli_usage (&s_commands [i], usage, sizeof usage);
        const char *text = usage + strlen ("causeway ");
        if (strlen (text) > 30)
            fprintf (out, "  %s\n  %-30s %s\n", text, "", s_commands [i].summary);
        else
            fprintf (out, "  %-30s %s\n", text, s_commands [i].summary);
    }
    fprintf (out, "\n%s", s_global_help);
}

//  Words of CMD, one at a time: the Nth word into BUF (or NULL).
static const char *
s_word (const char *words, int n, char *buf, size_t len)
{
    const char *p = words;
    for (int i = 0; i < n && p; i++) {
        p = strchr (p, ' ');
        if (p)
            p++;
    }
    if (!p)
        return NULL;
    size_t wl = strcspn (p, " ");
    if (wl >= len)
        wl = len - 1;
    memcpy (buf, p, wl);
    buf [wl] = 0;
    return buf;
}

//  Does WORD name the Nth word of the row WORDS? Words after "xcommand"
//  are matched ignoring case, as the guide's xConfiguration shell does.
static bool
s_word_equal (const char *words, int n, const char *word)
{
    char buf [64];
    if (!s_word (words, n, buf, sizeof buf))
        return false;
    if (n > 0 && strncmp (words, "xcommand ", 9) == 0)
        return strcasecmp (buf, word) == 0;
    return strcmp (buf, word) == 0;
}

static int
s_word_count (const char *words)
{
    int n = 1;
    for (const char *p = words; *p; p++)
        n += *p == ' ';
    return n;
}

//  The row named by WORDS (n words), or NULL; *PREFIX set when WORDS start
//  one or more rows but name none.
static const cli_command_t *
s_lookup (char **words, int n, bool *prefix)
{
    *prefix = false;
    for (size_t i = 0; i < S_COMMAND_COUNT; i++) {
        const cli_command_t *cmd = &s_commands [i];
        int count = s_word_count (cmd->words);
        if (count < n)
            continue;
        bool match = true;
        for (int w = 0; w < n && match; w++)
            match = s_word_equal (cmd->words, w, words [w]);
        if (!match)
            continue;
        if (count == n)
            return cmd;
        *prefix = true;
    }
    return NULL;
}

//  "list, start, stop, restart" for the rows under the words of GROUP.
static void
s_subcommands (char **words, int n, char *buf, size_t len)
{
    size_t used = 0;
    buf [0] = 0;
    for (size_t i = 0; i < S_COMMAND_COUNT; i++) {
        const cli_command_t *cmd = &s_commands [i];
        if (s_word_count (cmd->words) <= n)
            continue;
        bool match = true;
        char word [64];
        for (int w = 0; w < n && match; w++)
            match = s_word_equal (cmd->words, w, words [w]);
        if (match && used < len)
            used += snprintf (buf + used, len - used, "%s%s", used ? ", " : "",
                              s_word (cmd->words, n, word, sizeof word));
    }
}

static int
s_run_help (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    (void) cli;
    (void) cmd;
    const char *topic = json_string_value (json_object_get (args, "command"));
    if (!topic) {
        s_print_help (stdout);
        return CLI_EXIT_OK;
    }
    //  "help alarms raise" arrives as "alarms raise" (the rest joined)
    char *copy = strdup (topic);
    char *words [8];
    int n = 0;
    for (char *tok = strtok (copy, " "); tok && n < 8; tok = strtok (NULL, " "))
        words [n++] = tok;
    bool prefix;
    const cli_command_t *row = s_lookup (words, n, &prefix);
    if (row)
        s_print_command_help (stdout, row);
    else if (prefix) {
        printf ("Commands under '%s':\n", topic);
        for (size_t i = 0; i < S_COMMAND_COUNT; i++)
            if (strncmp (s_commands [i].words, topic, strlen (topic)) == 0
                && s_commands [i].words [strlen (topic)] == ' ') {
                char usage [256];
                printf ("  %-34s %s\n", cli_usage (&s_commands [i], usage, sizeof usage) + strlen ("causeway "),
                        s_commands [i].summary);
            }
    }
    free (copy);
    if (!row && !prefix) {
        cli_error ("help: unknown command '%s'; `causeway help` lists them", topic);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

//  ---------------------------------------------------------------------
//  Endpoint and requests

static void
s_ignore_warning (const char *message, void *arg)
{
    (void) message;
    (void) arg;
}

cw_bootstrap_t *
cli_bootstrap (cli_t *cli, int *exit_code)
{
    if (cli->boot)
        return cli->boot;
    const char *file = cli->config_file ? cli->config_file : CW_DEFAULT_CONFIG;
    char err [512];
    cli->boot = cw_bootstrap_load (file, err, sizeof err, s_ignore_warning, NULL);
    if (!cli->boot) {
        if (cli->config_file) {
            cli_error ("%s", err);
            *exit_code = CLI_EXIT_USAGE;
        }
        else {
            cli_error ("cannot find causewayd: %s; give --endpoint, $CAUSEWAY_ENDPOINT or --config FILE", err);
            *exit_code = CLI_EXIT_UNREACHABLE;
        }
    }
    return cli->boot;
}

const char *
cli_control_endpoint (cli_t *cli, int *exit_code)
{
    if (cli->endpoint)
        return cli->endpoint;
    cw_bootstrap_t *boot = cli_bootstrap (cli, exit_code);
    if (!boot)
        return NULL;
    if (!boot->control.endpoint || !*boot->control.endpoint) {
        cli_error ("%s: control.endpoint is empty", boot->file);
        *exit_code = CLI_EXIT_USAGE;
        return NULL;
    }
    return boot->control.endpoint;
}

int
cli_request (cli_t *cli, const char *command, json_t *args, json_t **body, bool quiet_unreachable, char *err,
             size_t errlen)
{
    *body = NULL;
    int exit_code = CLI_EXIT_UNREACHABLE;
    const char *endpoint = cli_control_endpoint (cli, &exit_code);
    if (!endpoint) {
        snprintf (err, errlen, "no control endpoint");
        return exit_code;
    }
    cw_control_t *client = cw_control_new (endpoint, cli->server_key, cli->cert_file, cli->timeout_ms, err, errlen);
    if (!client) {
        cli_error ("%s", err);
        return CLI_EXIT_USAGE;
    }
    json_t *reply = NULL;
    cw_call_status_t status = cw_control_call (client, command, args, &reply, err, errlen);
    cw_control_destroy (&client);
    if (status == CW_CALL_OK) {
        *body = reply;
        return CLI_EXIT_OK;
    }
    json_decref (reply);
    if (status == CW_CALL_ERROR) {
        cli_error ("%s", err);
        return CLI_EXIT_FAILED;
    }
    if (!quiet_unreachable)
        cli_error ("%s", err);
    return zsys_interrupted ? 130 : CLI_EXIT_UNREACHABLE;
}

//  ---------------------------------------------------------------------
//  license acquire [--hold]: the lease belongs to the control connection,
//  so --hold keeps this one open until interrupted, then releases it on
//  the same connection.

static int
s_run_license_acquire (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    bool hold = json_is_true (json_object_get (args, "hold"));
    json_t *request = json_pack ("{s:O}", "kind", json_object_get (args, "kind"));
    int exit_code = CLI_EXIT_UNREACHABLE;
    const char *endpoint = cli_control_endpoint (cli, &exit_code);
    if (!endpoint) {
        json_decref (request);
        return exit_code;
    }
    char err [512];
    cw_control_t *client = cw_control_new (endpoint, cli->server_key, cli->cert_file, cli->timeout_ms, err, sizeof err);
    if (!client) {
        json_decref (request);
        cli_error ("%s", err);
        return CLI_EXIT_USAGE;
    }
    json_t *reply = NULL;
    cw_call_status_t status = cw_control_call (client, cmd->wire, request, &reply, err, sizeof err);
    json_decref (request);
    int rc = CLI_EXIT_OK;
    if (status != CW_CALL_OK) {
        cli_error ("%s", err);
        rc = status == CW_CALL_ERROR ? CLI_EXIT_FAILED : zsys_interrupted ? 130 : CLI_EXIT_UNREACHABLE;
    }
    else {
        cli_render_reply (cli, cmd, reply, args);
        if (!json_is_true (json_object_get (reply, "granted")))
            rc = CLI_EXIT_FAILED;
    }
    const char *lease = json_string_value (json_object_get (reply, "lease"));
    if (rc == CLI_EXIT_OK && hold && !lease) {
        cli_error ("the reply names no lease to hold");
        rc = CLI_EXIT_FAILED;
    }
    if (rc == CLI_EXIT_OK && hold) {
        fprintf (stderr, "holding lease %s until interrupted (Ctrl-C releases it)\n", lease);
        fflush (stdout);
        fflush (stderr);
        while (!zsys_interrupted)
            zclock_sleep (100);
        //  The release is sent on the same connection, after the signal
        zsys_interrupted = 0;
        json_t *release = json_pack ("{s:s}", "lease", lease);
        json_t *answer = NULL;
        status = cw_control_call (client, "license.release", release, &answer, err, sizeof err);
        json_decref (release);
        if (status != CW_CALL_OK) {
            cli_error ("could not release lease %s: %s", lease, err);
            rc = status == CW_CALL_ERROR ? CLI_EXIT_FAILED : CLI_EXIT_UNREACHABLE;
        }
        else if (cli->json)
            cli_print_json (cli, answer);
        else
            printf ("released: lease %s\n", lease);
        json_decref (answer);
    }
    json_decref (reply);
    cw_control_destroy (&client);
    return rc;
}

//  ---------------------------------------------------------------------
//  Command line

typedef struct {
    const char *name;
    size_t offset;    //  of the const char * (or bool) in cli_t
    bool takes_value;
} s_global_opt_t;

#define S_OPT(name, field, value)                                                                                      \
    {                                                                                                                  \
        name, offsetof (cli_t, field), value                                                                           \
    }
static const s_global_opt_t s_globals [] = {
    S_OPT ("--config", config_file, true),
    S_OPT ("--endpoint", endpoint, true),
    S_OPT ("--server-key", server_key, true),
    S_OPT ("--cert", cert_file, true),
    S_OPT ("--alarm-endpoint", alarm_endpoint, true),
    S_OPT ("--timeout", timeout_ms, true),
    S_OPT ("--json", json, false),
    S_OPT ("--compact", compact, false),
};

//  Usage error about CMD (or the whole command line when NULL).
int
cli_usage_error (const cli_command_t *cmd, const char *fmt, ...)
{
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    if (cmd) {
        char usage [256];
        fprintf (stderr, "causeway: %s: %s\nusage: %s\n", cmd->words, message, cli_usage (cmd, usage, sizeof usage));
    }
    else
        fprintf (stderr,
                 "causeway: %s\n"
                 "usage: causeway [--config FILE] [--endpoint EP] [--json] [--timeout MS] COMMAND ...\n"
                 "`causeway help` lists the commands.\n",
                 message);
    return CLI_EXIT_USAGE;
}

//  A whole decimal number (an optional sign, digits, nothing else).
static int
s_parse_integer (const char *text, long long *value)
{
    char *end;
    errno = 0;
    *value = strtoll (text, &end, 10);
    if (errno || end == text || *end || *text == ' ' || *text == '\t')
        return -1;
    return 0;
}

//  Is VALUE one of CHOICES ("a|b|c")?
static bool
s_is_choice (const char *choices, const char *value)
{
    size_t len = strlen (value);
    for (const char *p = choices; *p;) {
        size_t n = strcspn (p, "|");
        if (n == len && strncmp (p, value, n) == 0)
            return true;
        p += n + (p [n] == '|');
    }
    return false;
}

//  Turns the value of option OPT into its JSON value in ARGS, or a usage error.
static int
s_add_opt (const cli_command_t *cmd, const cli_opt_t *opt, const char *value, json_t *args)
{
    if (!value) {
        json_object_set_new (args, opt->key, json_true ());
        return 0;
    }
    if (opt->choices && !s_is_choice (opt->choices, value)) {
        //  "4|6" -> "4 or 6"
        char choices [128] = "";
        for (const char *p = opt->choices; *p && strlen (choices) + 5 < sizeof choices; p++)
            if (*p == '|')
                strcat (choices, " or ");
            else
                strncat (choices, p, 1);
        return cli_usage_error (cmd, "%s must be %s, not '%s'", opt->option, choices, value);
    }
    if (opt->flags & CLI_OPT_INT) {
        long long number;
        if (s_parse_integer (value, &number) != 0 || number <= 0)
            return cli_usage_error (cmd, "%s must be a positive number, not '%s'", opt->option, value);
        json_object_set_new (args, opt->key, json_integer (number));
    }
    else
        json_object_set_new (args, opt->key, json_string (value));
    return 0;
}

//  Turns positional argument WORD into its JSON value in ARGS, or a usage error.
static int
s_add_arg (const cli_command_t *cmd, const cli_arg_t *arg, const char *word, json_t *args)
{
    if (arg->type == CLI_ARG_ALARM_ID) {
        //  Only "is it a number" is checked here: the range is causewayd's
        //  to refuse (it names the operator range in its message)
        long long id;
        if (s_parse_integer (word, &id) != 0)
            return cli_usage_error (cmd, "%s must be a number %d-%d (the operator range), not '%s'", arg->metavar,
                                    CW_ALARM_OPERATOR_MIN, CW_ALARM_OPERATOR_MAX, word);
        json_object_set_new (args, arg->key, json_integer (id));
    }
    else if (arg->type == CLI_ARG_PEER_INDEX) {
        long long index;
        if (s_parse_integer (word, &index) != 0 || index < 1 || index > CLI_MAX_PEERS)
            return cli_usage_error (cmd, "%s must be a peer index 1-%d, not '%s'", arg->metavar, CLI_MAX_PEERS, word);
        json_object_set_new (args, arg->key, json_integer (index));
    }
    else
        json_object_set_new (args, arg->key, json_string (word));
    return 0;
}

void
cli_render_reply (cli_t *cli, const cli_command_t *cmd, json_t *body, json_t *args)
{
    if (cli->json) {
        cli_print_json (cli, body);
        return;
    }
    const char *message = json_string_value (json_object_get (body, "message"));
    if (message && !(cmd->render && cmd->shows_message))
        printf ("%s\n", message);
    else if (cmd->done && json_object_size (body) == 0)
        cli_print_done (cmd, args);
    else if (cmd->render)
        cmd->render (cli, cmd, args, body);
    else
        cli_render_generic (cli, cmd, args, body);
}

static int
s_parse_timeout (const char *text, int *timeout_ms)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value <= 0 || value > INT_MAX)
        return -1;
    *timeout_ms = (int) value;
    return 0;
}

static void
s_cli_destroy (cli_t *cli)
{
    cw_bootstrap_destroy (&cli->boot);
}

int
main (int argc, char *argv [])
{
    cli_t cli = {
        .endpoint = getenv ("CAUSEWAY_ENDPOINT"),
        .alarm_endpoint = getenv ("CAUSEWAY_ALARM_ENDPOINT"),
        .server_key = getenv ("CAUSEWAY_SERVER_KEY"),
        .cert_file = getenv ("CAUSEWAY_CERT"),
        .timeout_ms = CLI_DEFAULT_TIMEOUT_MS,
    };
    //  Empty environment variables count as unset
    if (cli.endpoint && !*cli.endpoint)
        cli.endpoint = NULL;
    if (cli.alarm_endpoint && !*cli.alarm_endpoint)
        cli.alarm_endpoint = NULL;
    if (cli.server_key && !*cli.server_key)
        cli.server_key = NULL;
    if (cli.cert_file && !*cli.cert_file)
        cli.cert_file = NULL;
    //  The CLI logs nothing unless something is really wrong
    cw_log_init ("causeway", CW_LOG_ERROR);

    char *words [8];
    int word_count = 0;
    const cli_command_t *cmd = NULL;
    json_t *args = json_object ();
    int arg_index = 0;    //  next positional argument of CMD
    bool want_help = false;
    bool end_of_options = false;
    const char *timeout_text = NULL;
    const char *wire = NULL;    //  a row's option may send another command
    int rc = CLI_EXIT_OK;

    for (int i = 1; i < argc && rc == CLI_EXIT_OK; i++) {
        const char *token = argv [i];
        if (!end_of_options && strcmp (token, "--") == 0) {
            end_of_options = true;
            continue;
        }
        if (!end_of_options && token [0] == '-' && token [1]) {
            //  --name or --name=value
            char name [64];
            const char *inline_value = strchr (token, '=');
            size_t name_len = inline_value ? (size_t) (inline_value - token) : strlen (token);
            snprintf (name, sizeof name, "%.*s", (int) name_len, token);
            if (inline_value)
                inline_value++;
            if (strcmp (name, "--help") == 0 || strcmp (name, "-h") == 0) {
                want_help = true;
                continue;
            }
            const s_global_opt_t *global = NULL;
            for (size_t g = 0; g < sizeof s_globals / sizeof s_globals [0]; g++)
                if (strcmp (s_globals [g].name, name) == 0)
                    global = &s_globals [g];
            const cli_opt_t *own = NULL;
            for (int o = 0; cmd && !global && o < CLI_MAX_OPTS && cmd->opts [o].option; o++)
                if (strcmp (cmd->opts [o].option, name) == 0)
                    own = &cmd->opts [o];
            if (!global && !own) {
                rc = cli_usage_error (cmd, "unknown option '%s'", name);
                break;
            }
            bool takes_value = global ? global->takes_value : own->metavar != NULL;
            const char *value = inline_value;
            if (takes_value && !value) {
                if (i + 1 >= argc) {
                    rc = cli_usage_error (cmd, "%s needs a value", name);
                    break;
                }
                value = argv [++i];
            }
            if (!takes_value && inline_value) {
                rc = cli_usage_error (cmd, "%s takes no value", name);
                break;
            }
            if (own && own->wire)
                wire = own->wire;
            else if (own) {
                rc = s_add_opt (cmd, own, value, args);
                if (rc != CLI_EXIT_OK)
                    break;
            }
            else if (strcmp (global->name, "--timeout") == 0)
                timeout_text = value;
            else if (takes_value)
                *(const char **) ((char *) &cli + global->offset) = value;
            else
                *(bool *) ((char *) &cli + global->offset) = true;
            continue;
        }
        //  A word: part of the command name, or a positional argument
        if (!cmd) {
            if (word_count == 8) {
                rc = cli_usage_error (NULL, "unknown command");
                break;
            }
            words [word_count++] = (char *) token;
            bool prefix;
            cmd = s_lookup (words, word_count, &prefix);
            if (!cmd && !prefix) {
                char joined [256] = "";
                for (int w = 0; w < word_count; w++)
                    snprintf (joined + strlen (joined), sizeof joined - strlen (joined), "%s%s", w ? " " : "",
                              words [w]);
                rc = cli_usage_error (NULL, "unknown command '%s'", joined);
            }
            continue;
        }
        if (cmd->run == s_run_help) {
            //  help takes the rest of the line as one command name
            json_t *so_far = json_object_get (args, "command");
            char joined [256];
            snprintf (joined, sizeof joined, "%s%s%s", so_far ? json_string_value (so_far) : "", so_far ? " " : "",
                      token);
            json_object_set_new (args, "command", json_string (joined));
            continue;
        }
        if (arg_index >= CLI_MAX_ARGS || !cmd->args [arg_index].metavar) {
            rc = cli_usage_error (cmd, "unexpected argument '%s'", token);
            break;
        }
        rc = s_add_arg (cmd, &cmd->args [arg_index], token, args);
        arg_index++;
    }
    if (rc == CLI_EXIT_OK && timeout_text && s_parse_timeout (timeout_text, &cli.timeout_ms) != 0)
        rc = cli_usage_error (NULL, "--timeout must be a positive number of milliseconds, not '%s'", timeout_text);
    if (rc == CLI_EXIT_OK && !cmd && word_count > 0) {
        char group [64];
        s_subcommands (words, word_count, group, sizeof group);
        if (want_help) {
            json_t *topic = json_pack ("{s:s}", "command", words [0]);
            rc = s_run_help (&cli, NULL, topic);
            json_decref (topic);
        }
        else
            rc = cli_usage_error (NULL, "%s: expected one of: %s", words [0], group);
    }
    else if (rc == CLI_EXIT_OK && !cmd) {
        if (want_help)
            s_print_help (stdout);
        else {
            s_print_help (stderr);
            rc = CLI_EXIT_USAGE;
        }
    }
    else if (rc == CLI_EXIT_OK && want_help)
        s_print_command_help (stdout, cmd);
    else if (rc == CLI_EXIT_OK) {
        //  Every required positional argument given?
        for (int a = arg_index; a < CLI_MAX_ARGS && cmd->args [a].metavar && rc == 0; a++)
            if (cmd->args [a].type != CLI_ARG_OPTIONAL)
                rc = cli_usage_error (cmd, "missing %s", cmd->args [a].metavar);
        const char *problem = rc == CLI_EXIT_OK && cmd->check ? cmd->check (args) : NULL;
        if (problem)
            rc = cli_usage_error (cmd, "%s", problem);
        //  Flags sent as false when not given
        for (int o = 0; rc == CLI_EXIT_OK && o < CLI_MAX_OPTS && cmd->opts [o].option; o++)
            if ((cmd->opts [o].flags & CLI_OPT_ALWAYS) && cmd->opts [o].key
                && !json_object_get (args, cmd->opts [o].key))
                json_object_set_new (args, cmd->opts [o].key, json_false ());
        if (rc == CLI_EXIT_OK && (cli.server_key == NULL) != (cli.cert_file == NULL))
            rc = cli_usage_error (NULL, "CURVE needs both --server-key (or $CAUSEWAY_SERVER_KEY) "
                                        "and --cert (or $CAUSEWAY_CERT)");
        if (rc == CLI_EXIT_OK && cmd->run)
            rc = cmd->run (&cli, cmd, args);
        else if (rc == CLI_EXIT_OK) {
            json_t *body;
            char err [512];
            rc = cli_request (&cli, wire ? wire : cmd->wire, args, &body, false, err, sizeof err);
            if (rc == CLI_EXIT_OK)
                cli_render_reply (&cli, cmd, body, args);
            json_decref (body);
        }
    }
    json_decref (args);
    s_cli_destroy (&cli);
    fflush (stdout);
    return rc;
}

//  ---------------------------------------------------------------------
//  credentials add, admin add, admin passwd: the password from a file or
//  the terminal, sent as "password" beside "name"

#define S_PASSWORD_MAX 512

//  One line from the terminal on stdin without echo into BUF. 0 or -1.
static int
s_read_password_tty (const char *prompt, char *buf, size_t len)
{
    struct termios tty, saved;
    bool have_tty = tcgetattr (STDIN_FILENO, &tty) == 0;
    if (have_tty) {
        saved = tty;
        tty.c_lflag &= ~(ECHO | ECHOE | ECHOK | ECHONL);
        tty.c_lflag |= ICANON;
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &tty);
    }
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
        rc = -1;
    buf [used < len ? used : len - 1] = 0;
    if (have_tty)
        tcsetattr (STDIN_FILENO, TCSAFLUSH, &saved);
    fputc ('\n', stderr);
    return rc;
}

static int
s_run_with_password (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    char password [S_PASSWORD_MAX];
    password [0] = 0;
    const char *file = json_string_value (json_object_get (args, "password_file"));
    if (file) {
        FILE *in = fopen (file, "r");
        if (!in)
            return cli_usage_error (cmd, "cannot read the password file %s: %s", file, strerror (errno));
        bool got = fgets (password, sizeof password, in) != NULL;
        fclose (in);
        if (!got)
            password [0] = 0;
        size_t n = strlen (password);
        if (n == sizeof password - 1 && password [n - 1] != '\n') {
            explicit_bzero (password, sizeof password);
            return cli_usage_error (cmd, "the password in %s is longer than %d characters", file, S_PASSWORD_MAX - 2);
        }
        while (n && (password [n - 1] == '\n' || password [n - 1] == '\r'))
            password [--n] = 0;
    }
    else if (s_read_password_tty ("password: ", password, sizeof password) != 0) {
        explicit_bzero (password, sizeof password);
        return cli_usage_error (cmd, "no password read from the terminal (or longer than %d characters)",
                                S_PASSWORD_MAX - 2);
    }
    if (!*password)
        return cli_usage_error (cmd, "the password is empty%s%s", file ? " in " : "", file ? file : "");
    //  The row's own arguments (name, user...) and the password, never the file name
    json_t *request = json_deep_copy (args);
    json_object_del (request, "password_file");
    json_object_set_new (request, "password", json_string (password));
    explicit_bzero (password, sizeof password);
    json_t *body = NULL;
    char err [512];
    int rc = cli_request (cli, cmd->wire, request, &body, false, err, sizeof err);
    //  The request's copy of the password is wiped before it is freed
    json_t *copy = json_object_get (request, "password");
    const char *text = json_string_value (copy);
    if (text)
        explicit_bzero ((char *) text, strlen (text));
    json_decref (request);
    if (rc == CLI_EXIT_OK)
        cli_render_reply (cli, cmd, body, args);
    json_decref (body);
    return rc;
}
