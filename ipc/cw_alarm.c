/*  cw_alarm.c - the alarm catalogue and the calls actors use to raise and
    clear alarms.

    s_catalogue below is THE table of alarm ids in the code (the README has
    the same table): one row per id with its severity, a one-line title and
    the action that fixes it. Keep it sorted by id; later issues add the
    cluster alarms (20000s) and the license alarms (30000s) here. The
    operator range 90000-99999 has one generic entry: operators' own checks
    raise and clear those ids over the control protocol.

    cw_alarm_raise / cw_alarm_clear send a reliable request to the alarms
    actor keyed "<id>/<subject>": the runtime re-sends it until the alarms
    actor has committed it, and a clear replaces a raise of the same alarm
    that was not acknowledged yet (last state wins).
*/

#include "cw_alarm.h"
#include "cw_actor.h"

#include <stdio.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The catalogue: sorted by id

static const cw_alarm_def_t s_catalogue [] = {
    { CW_ALARM_ACTOR_FAILED, "error", "Actor failed: restart limit reached",
      "Check the actor's log (journalctl -u causeway), fix the cause, "
      "then run `causeway actors start NAME`" },
    //  Raised by the actor that owns the database; SUBJECT is its file name
    //  (config.db, cluster.db, alarms.db, licensing.db). See cw_statefile.h.
    { 10002, "critical", "Damaged database",
      "Read the alarm's detail: it names the file, the error and where the damaged file was "
      "moved. config.db or cluster.db: restore a backup (`causeway backup restore FILE`); on a "
      "subordinate of a cluster, `causeway xcommand ForceConfigUpdate` takes the primary's copy "
      "of cluster.db. alarms.db: nothing to restore (the old alarms are in the moved file); "
      "the alarm clears at the next start of the alarms actor. licensing.db: install this peer's "
      "option keys again (`causeway license add KEY`; the old keys are in the moved file); the "
      "alarm clears at the next start of the licensing actor" },

    //  Cluster alarms: raised and cleared by the replication
    //  actor from its view of the cluster (actors/replication/cluster_alarms.c).
    //  SUBJECT is the peer address for per-peer alarms, "" for node-wide ones.
    { 20003, "error", "Invalid cluster configuration",
      "Correct the clustering settings on the primary (`causeway config list cluster`): "
      "primary index within the peer list, no empty slots between peers, no duplicate "
      "addresses; copy the same settings to every peer, then `causeway restart` each "
      "changed peer" },
    { 20004, "error", "Cluster communication failure",
      "Check that the peer named in the alarm is running and reachable on the clustering "
      "ports (`causeway cluster status`, `causeway firewall rules`); expected while a "
      "peer joins or restarts, and clears by itself when it has joined" },
    { 20005, "error", "Invalid peer address",
      "Correct the peer address (an IP address, or an FQDN that resolves through the "
      "address mapping or DNS): `causeway cluster replace OLD NEW` on the primary, or add "
      "a mapping with `causeway cluster suggest-mappings`" },
    { 20006, "error", "Cluster database communication failure",
      "Fix the TLS connection to the peer named in the alarm: its certificate must chain "
      "to a CA every peer trusts and, in enforce mode, its SAN must contain the peer's "
      "FQDN resolving to its address (peering.certificate, peering.ca_file); "
      "`causeway cluster status` shows the reason, `causeway cluster check` the fix" },
    { 20007, "warning", "Restart required: clustering settings changed",
      "Run `causeway restart` on this peer so the new clustering settings take effect "
      "(the primary first, then the other peers one at a time)" },
    { 20008, "warning", "Cluster replication paused: upgrade in progress",
      "Wait until the upgrade is complete on every peer (the primary first); automatic "
      "replication resumes by itself when all peers run the same version" },
    { 20009, "error", "Cluster replication error: automatic replication failed",
      "Check `causeway cluster status` on this peer and on the primary; if the error "
      "persists, take a backup (`causeway backup create FILE`) and run "
      "`causeway xcommand ForceConfigUpdate` on this subordinate" },
    { 20011, "error",
      "Cluster replication error: configuration conflicts with the primary; "
      "synchronise manually",
      "On this subordinate, take a backup (`causeway backup create FILE`), then run "
      "`causeway xcommand ForceConfigUpdate` to discard its cluster-wide configuration "
      "and take the primary's; only when the primary's configuration is good" },
    { 20012, "error", "Cluster settings mismatch",
      "Set the same cluster name and IP version as on the primary on the peer named in "
      "the alarm (`causeway config set cluster.name ...`, `causeway config set "
      "cluster.ip_version ...`), then `causeway restart` that peer" },
    { 20014, "error", "Cluster replication error: configuration file not found; restart the node",
      "Restart the node: `causeway restart` on this peer (on the primary too if the "
      "alarm names it); if it persists, run `causeway xcommand ForceConfigUpdate` "
      "on this subordinate" },
    { 20015, "error", "Cluster replication error: this peer is not in the peer list",
      "On the primary, check and correct the peer list (`causeway config get "
      "cluster.peers`) so that it holds this peer's peering.address, copy the same list "
      "to every peer, then `causeway restart` this peer" },
    { 20016, "error", "Configuration primary unreachable",
      "Check that the primary is running and reachable (`causeway cluster status`); this "
      "peer keeps serving on its last configuration. If the primary is gone for good, "
      "make another peer the primary: `causeway cluster set-primary N`" },
    { 20017, "error", "Cluster replication error: configuration primary ID inconsistent",
      "Set the same `cluster.primary` on every peer (the new primary first, then the "
      "others) and `causeway restart` each changed peer; expected for a few seconds "
      "during `causeway cluster set-primary N`. If it persists, run "
      "`causeway xcommand ForceConfigUpdate` on this subordinate" },
    { 20018, "error", "Invalid clustering configuration: H.323 mode must be on",
      "Turn H.323 mode on, on the primary: `causeway config set h323.mode on` "
      "(clustering uses H.323 between peers)" },
    { 20019, "warning", "Cluster name not configured",
      "Set the same cluster name, a routable FQDN used in the cluster's DNS SRV records "
      "(e.g. cluster1.example.com), on every peer: `causeway config set cluster.name "
      "cluster1.example.com`, then `causeway restart`" },
    { 20020, "warning", "Restart required: TLS verification mode mismatch",
      "Set the same TLS verification mode on every peer (`causeway config set "
      "cluster.tls_verify permissive|enforce`, or `causeway cluster enforce-tls` on the "
      "primary), then `causeway restart` each changed peer" },
    { 20021, "error", "TCP connections to peers on the clustering ports failing",
      "Allow TCP between the peers on the clustering ports 4371 and 4372 (`causeway "
      "firewall rules` prints the nftables rules); check that the peer named in the "
      "alarm is running and its address is right" },
    { 20024, "error", "Cluster configuration inconsistent: peer lists differ",
      "Make the peer list identical, in the same order, on every peer (copy the "
      "primary's `cluster.peers` with `causeway config set cluster.peers A,B,...`), "
      "then `causeway restart` each changed peer" },
    { 20025, "critical", "Failed to synchronise the cluster database",
      "Run `causeway xcommand ForceConfigUpdate` on this peer; if it fails again, remove "
      "the peer from the cluster (`causeway cluster remove ADDRESS` on the primary), "
      "restore its last backup (`causeway backup restore FILE`) and add it back "
      "(`causeway cluster add ADDRESS`)" },
    { 20030, "error", "Cluster replication error: clock not synchronised / NTP server unreachable",
      "Configure an NTP server this peer can reach: `causeway config set ntp.servers "
      "HOST` (every peer the same); peers' clocks must agree within 5 s" },
    { 20031, "warning", "Round-trip time to a peer above 80 ms",
      "Peers of a cluster must be within 80 ms round trip (40 ms one way) of each other: "
      "fix the network path to the peer named in the alarm, or remove it from the "
      "cluster (`causeway cluster remove ADDRESS` on the primary)" },
    { 20032, "error", "Node type mismatch: core and edge nodes in one cluster",
      "A cluster never mixes core and edge nodes: remove the peer of the other type "
      "(`causeway cluster remove ADDRESS` on the primary) and add a node of the same "
      "type (bootstrap node.type)" },
    { 20033, "warning", "Software version mismatch between peers",
      "Upgrade every peer to the same software version, the primary first, then the "
      "others one at a time (`causeway version` shows it)" },
    { 20034, "error", "Duplicate system name in the cluster",
      "Give every peer its own system name: `causeway config set system.name NAME` on "
      "one of the two peers" },
    { 20035, "warning", "DNS domain mismatch between peers",
      "Set the same DNS domain on every peer: `causeway config set dns.domain DOMAIN`" },
    { 20036, "warning", "Factory reset pending: all peer addresses cleared",
      "Run `causeway restart` to leave the cluster and reset this peer to factory "
      "defaults; to cancel, restore the same peer list in the same order "
      "(`causeway config set cluster.peers A,B,...`) before restarting" },
    { 20040, "error", "Peer certificate changed: links with the peer refused",
      "Find out why the peer named in the alarm presents another certificate (the detail gives the "
      "pinned and the new SHA-256 fingerprints; on that peer: `openssl x509 -noout -fingerprint "
      "-sha256 -in CERT`). If the change is expected (a new certificate or a replaced machine), accept "
      "it on this peer with `causeway cluster trust-peer N`; otherwise treat it as an impersonation "
      "attempt" },
    { 30012, "warning", "Lost peer's licenses stay in the pool for the grace period",
      "Bring the peer named in the alarm back (its licenses stay in the pool until the time in the detail), "
      "or remove it from the cluster (`causeway cluster remove ADDRESS` on the primary) and install its "
      "capacity keys on another peer (`causeway license add KEY`)" },
    { 30013, "error", "Lost peer's licenses have left the pool",
      "The peer named in the alarm was lost for longer than licensing.lost_peer_grace_s: bring it back "
      "(its licenses return to the pool when it rejoins) or install its capacity keys on another peer "
      "(`causeway license add KEY`); acknowledge the alarm once handled" },
    { 30020, "warning", "License pool at 90% or more",
      "Add capacity keys of the kind named in the alarm on any peer (`causeway license add KEY`); "
      "`causeway license status` shows the pool and what each peer uses" },
    { 30021, "error", "License pool used up: calls are refused",
      "Add capacity keys of the kind named in the alarm on any peer (`causeway license add KEY`), or wait "
      "for calls to end; `causeway license status` shows what each peer uses" },
    { 30022, "info", "This peer has no key for a license kind the cluster has",
      "Nothing to do while another peer's keys of this kind are in the pool (licenses are pooled across the "
      "cluster): acknowledge the alarm (`causeway alarms ack UUID`); install a key on this peer "
      "(`causeway license add KEY`) if it must work alone" },
    { 30023, "error", "Feature option keys differ between peers",
      "Install the same set of feature keys on every peer (`causeway license list` on each; "
      "`causeway license add KEY` where one is missing, `causeway license remove KEY` where one is extra)" },
    { 30024, "warning", "Option key expires within 30 days",
      "Get a renewed key from the issuer and install it (`causeway license add KEY`) before the date in "
      "the detail, then remove the old one (`causeway license remove SERIAL`)" },
    { 30025, "error", "Option key expired or no longer valid on this peer",
      "The key named in the alarm no longer counts (expired, bound to another system name, or its issuer "
      "is no longer configured): install a valid key (`causeway license add KEY`) and remove this one "
      "(`causeway license remove SERIAL`)" },

    //  SIP alarms: raised and cleared by the routing actor
    //  (actors/routing/routing.c). SUBJECT of 40001 is the listener
    //  ("udp:192.0.2.10:5060"); 40002 has none.
    { 40001, "error", "SIP listener cannot bind: no SIP on that address",
      "Free the address and port named in the alarm (`ss -lunpt` shows which program holds it) or "
      "correct sip.listen in the bootstrap file to an address of this host and `causeway restart`; "
      "the routing actor retries every few seconds and clears the alarm once it listens" },
    { 40002, "error", "SIP TLS certificate problem: TLS listeners down or certificate expired",
      "Install a valid PEM certificate and its private key at the paths of sip.certificate and "
      "sip.private_key (readable by the causeway user, the key matching the certificate, not "
      "expired); the routing actor reads them again every few seconds and clears the alarm" },
    //  Raised by the routing actor (actors/routing/zones.c) while no address
    //  of a neighbour zone answers its OPTIONS keep-alive; SUBJECT is the
    //  zone's name.
    { 40010, "error", "Neighbour zone failed: no address answers OPTIONS",
      "Check that the system named by the zone's addresses is running and reachable from this peer "
      "(`causeway zones status` shows each address's error); correct the addresses, transport or port "
      "with `causeway zones add NAME ...`; the alarm clears as soon as one address answers" },

    //  External manager alarms (50000-50099): raised by the tms actor while it
    //  cannot reach or register with the manager (SUBJECT "").
    { 50001, "warning", "External manager connection failed",
      "Read the reason in `causeway tms status`: check tms.address, tms.path and tms.protocol "
      "(`causeway config list tms`), that the manager is running and reachable, its certificate "
      "(tms.verify_certificate, tms.ca_file) and the credentials (`causeway tms credentials USER`); "
      "feedback events wait in the queue and the alarm clears as soon as the manager answers" },
};

//  The generic entry for the operator range.
static const cw_alarm_def_t s_operator = { CW_ALARM_OPERATOR_MIN, "warning", "Operator alarm",
                                           "Fixed by the check that raised it" };

#define CATALOGUE_SIZE (sizeof s_catalogue / sizeof s_catalogue [0])

const cw_alarm_def_t *
cw_alarm_lookup (int id)
{
    if (cw_alarm_is_operator (id))
        return &s_operator;
    //  Binary search: the table is sorted by id
    size_t lo = 0, hi = CATALOGUE_SIZE;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s_catalogue [mid].id == id)
            return &s_catalogue [mid];
        if (s_catalogue [mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const cw_alarm_def_t *
cw_alarm_catalogue (size_t *count)
{
    if (count)
        *count = CATALOGUE_SIZE;
    return s_catalogue;
}

bool
cw_alarm_is_operator (int id)
{
    return id >= CW_ALARM_OPERATOR_MIN && id <= CW_ALARM_OPERATOR_MAX;
}

bool
cw_alarm_severity_valid (const char *severity)
{
    if (!severity)
        return false;
    return streq (severity, "info") || streq (severity, "warning") || streq (severity, "error")
        || streq (severity, "critical");
}

//  ---------------------------------------------------------------------
//  Raise and clear through the alarms actor

static int
s_send (cw_actor_t *self, const char *command, int id, const char *subject, const char *detail)
{
    if (!self)
        return -1;
    if (!subject)
        subject = "";
    json_t *args = detail ? json_pack ("{s:i, s:s, s:s}", "id", id, "subject", subject, "detail", detail)
                          : json_pack ("{s:i, s:s}", "id", id, "subject", subject);
    if (!args)
        return -1;    //  e.g. SUBJECT or DETAIL not UTF-8
    char key [256];
    snprintf (key, sizeof key, "%d/%s", id, subject);
    return cw_actor_request_reliable (self, "alarms", command, args, key);
}

int
cw_alarm_raise (cw_actor_t *self, int id, const char *subject, const char *detail)
{
    return s_send (self, "alarms.raise", id, subject, detail ? detail : "");
}

int
cw_alarm_clear (cw_actor_t *self, int id, const char *subject)
{
    return s_send (self, "alarms.clear", id, subject, NULL);
}
