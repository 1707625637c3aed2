/*  cluster_alarms.h - which cluster alarms should be active on this peer,
    and the requirement check behind `causeway cluster check`.

    Both are PURE functions of a cw_cluster_view_t (cluster_view.h): no I/O,
    no clock, no allocation except the JSON that cw_cluster_check returns.
    The cluster core takes a view on every heartbeat tick, calls
    cw_cluster_alarms_evaluate, compares the result with the previous one
    (cw_cluster_alarms_diff) and calls cw_alarm_raise / cw_alarm_clear for
    the differences. An alarm is keyed by (id, subject): SUBJECT is the
    peer's configured address for per-peer alarms, "" for node-wide ones.

    Both are tables of rules in cluster_alarms.c, one row a rule {id or
    requirement, scope, test, detail}, applied by one loop (cw_rules_apply,
    cluster_rules.c). The rows of the alarm table are the rows below, in
    id order; cw_cluster_alarms_rules lists their ids.

    Evaluation rules (N = a peer's index, "other peer" = a slot of
    effective.peers that is not this peer and whose address is not empty;
    "alive peer" = an other peer with alive == true; mismatch rules compare
    only alive peers, whose heartbeat values are current):

    | id    | subject | raised when                                                   |
    |-------|---------|---------------------------------------------------------------|
    |       |         | ---- always (clustered or not) ----                           |
    | 20036 | ""      | factory_reset_pending                                         |
    | 20007 | ""      | stored != effective clustering settings (name, primary,       |
    |       |         | ip_version, peer list), not when factory_reset_pending        |
    | 20020 | ""      | ONLY tls_verify differs between stored and effective          |
    |       |         | (when other settings differ too, 20007 says both)             |
    |       |         | ---- only when clustered (effective.peer_count > 0) ----      |
    | 20019 | ""      | effective.name is empty                                       |
    | 20015 | ""      | this_peer == 0 (peering.address is not in the peer list)      |
    | 20003 | ""      | effective settings invalid (cw_cluster_settings_check):       |
    |       |         | primary outside 1..peer_count, empty slots between entries,   |
    |       |         | duplicate addresses, more than 6 peers, ip_version not 4|6,    |
    |       |         | tls_verify not permissive|enforce, an IP literal of the other  |
    |       |         | family than ip_version                                        |
    | 20005 | addr    | a peer's resolve_error is not empty (own slot included)       |
    | 20018 | ""      | !h323_mode                                                    |
    | 20004 | addr    | an other peer is not alive, or is alive and `joining`         |
    |       |         | (expected while it joins; the guide says so)                  |
    | 20021 | addr    | an other peer has tcp_failing                                 |
    | 20006 | addr    | an other peer has tls_failing (detail = its tls_error)        |
    | 20016 | ""      | !is_primary, the primary index names an other peer, not alive |
    | 20017 | addr    | an alive peer's primary != effective.primary                  |
    | 20024 | addr    | an alive peer's peers_digest != cw_cluster_peers_digest       |
    |       |         | (effective)                                                   |
    | 20012 | addr    | an alive peer's cluster_name (case-insensitive) or ip_version |
    |       |         | differs from effective                                        |
    | 20020 | addr    | an alive peer's tls_verify != effective.tls_verify            |
    | 20032 | addr    | an alive peer's type != node_type                             |
    | 20033 | addr    | an alive peer's version != version                            |
    | 20008 | ""      | replication_paused, or an alive peer announced `upgrading`    |
    | 20034 | addr    | an alive peer's system_name == ours (the own slot's),         |
    |       |         | case-insensitive                                              |
    | 20035 | addr    | an alive peer's dns_domain != ours (the own slot's),          |
    |       |         | case-insensitive, a trailing dot ignored                      |
    | 20031 | addr    | an alive peer's rtt_ms > CW_RTT_ALARM_MS (80)                 |
    | 20030 | ""      | !clock_synced (detail: NTP servers configured or not)         |
    | 20030 | addr    | an alive peer's |clock_offset_ms| > CW_CLOCK_SKEW_ALARM_MS     |
    | 20011 | ""      | replication_conflict                                          |
    | 20009 | ""      | replication_error is not empty                                |
    | 20025 | ""      | sync_failed                                                   |
    | 20014 | ""      | database_missing                                              |

    The own slot (is_self, or index == this_peer) never gets a link or
    mismatch alarm. Two slots with the same address (an invalid list, 20003)
    give one alarm per (id, subject) whose detail joins both.
*/
#ifndef CW_CLUSTER_ALARMS_H
#define CW_CLUSTER_ALARMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "cluster_view.h"

//  Alarm ids of the cluster (the catalogue rows are in ipc/cw_alarm.c)
#define CW_ALARM_CLUSTER_INVALID_CONFIG 20003
#define CW_ALARM_CLUSTER_COMMS_FAILURE 20004
#define CW_ALARM_CLUSTER_INVALID_ADDRESS 20005
#define CW_ALARM_CLUSTER_DB_COMMS_FAILURE 20006
#define CW_ALARM_CLUSTER_RESTART_REQUIRED 20007
#define CW_ALARM_CLUSTER_UPGRADE_PAUSED 20008
#define CW_ALARM_CLUSTER_REPLICATION_ERROR 20009
#define CW_ALARM_CLUSTER_CONFLICT 20011
#define CW_ALARM_CLUSTER_SETTINGS_MISMATCH 20012
#define CW_ALARM_CLUSTER_DB_MISSING 20014
#define CW_ALARM_CLUSTER_NOT_IN_PEER_LIST 20015
#define CW_ALARM_CLUSTER_PRIMARY_UNREACHABLE 20016
#define CW_ALARM_CLUSTER_PRIMARY_MISMATCH 20017
#define CW_ALARM_CLUSTER_H323_OFF 20018
#define CW_ALARM_CLUSTER_NO_NAME 20019
#define CW_ALARM_CLUSTER_TLS_MISMATCH 20020
#define CW_ALARM_CLUSTER_TCP_FAILURE 20021
#define CW_ALARM_CLUSTER_PEERS_INCONSISTENT 20024
#define CW_ALARM_CLUSTER_SYNC_FAILED 20025
#define CW_ALARM_CLUSTER_CLOCK 20030
#define CW_ALARM_CLUSTER_RTT 20031
#define CW_ALARM_CLUSTER_TYPE_MISMATCH 20032
#define CW_ALARM_CLUSTER_VERSION_MISMATCH 20033
#define CW_ALARM_CLUSTER_DUPLICATE_NAME 20034
#define CW_ALARM_CLUSTER_DOMAIN_MISMATCH 20035
#define CW_ALARM_CLUSTER_RESET_PENDING 20036

//  A peer's clock may differ from ours by at most this much (heartbeat
//  estimate) before 20030 is raised about it.
#define CW_CLOCK_SKEW_ALARM_MS 5000

//  Room enough for every alarm cw_cluster_alarms_evaluate can return.
#define CW_CLUSTER_ALARMS_MAX 128

typedef struct {
    int id;
    char subject [128];    //  peer address, "" for node-wide alarms
    char detail [512];     //  one line, valid UTF-8, names the peer and the values
} cw_alarm_want_t;

//  Fill OUT (room for MAX entries) with every cluster alarm that should be
//  active now on this peer, in id order, unique by (id, subject); see the
//  table above. Returns the number written (at most MAX; MAX =
//  CW_CLUSTER_ALARMS_MAX always suffices), or -1 when VIEW or OUT is NULL.
int cw_cluster_alarms_evaluate (const cw_cluster_view_t *view, cw_alarm_want_t *out, int max);

//  The alarm ids of the evaluation's rule table, one per row in table
//  order (an id with a node-wide and a per-peer rule, 20020 and 20030,
//  comes twice). Writes at most MAX ids to IDS (may be NULL) and returns
//  the number of rows.
int cw_cluster_alarms_rules (int *ids, int max);

//  Compare two evaluations. TO_RAISE (room for NAFTER entries) gets what
//  is in AFTER but not in BEFORE, or in both with a different detail;
//  TO_CLEAR (room for NBEFORE entries) gets what is in BEFORE but not in
//  AFTER (key = (id, subject)). *NRAISE / *NCLEAR get the counts. BEFORE
//  may be NULL when NBEFORE is 0 (first evaluation). Returns 0, or -1 on
//  bad arguments.
int cw_cluster_alarms_diff (const cw_alarm_want_t *before, int nbefore, const cw_alarm_want_t *after, int nafter,
                            cw_alarm_want_t *to_raise, int *nraise, cw_alarm_want_t *to_clear, int *nclear);

//  OUT = lowercase hex SHA-256 (libsodium) of the addresses of
//  S->peers [0 .. peer_count-1] joined with "\n", in order, empty slots
//  excluded. An empty list hashes the empty string. This is the digest the
//  heartbeats carry (peers_digest).
void cw_cluster_peers_digest (const cw_cluster_settings_t *s, char out [65]);

//  0 when S is a valid set of clustering settings for a cluster (at least
//  one peer), else -1 with every problem, "; "-separated, in ERR.
int cw_cluster_settings_check (const cw_cluster_settings_t *s, char *err, size_t errlen);

//  True when A and B are the same clustering settings; IGNORE_TLS skips
//  tls_verify.
bool cw_cluster_settings_equal (const cw_cluster_settings_t *a, const cw_cluster_settings_t *b, bool ignore_tls);

//  The requirement check (`causeway cluster check`, control command
//  cluster.check): what the peers of a cluster must meet, as far as this
//  peer's view can tell. Returns a new JSON object (caller owns):
//    {"ok": bool, "problems": [{"requirement", "peer": N|null, "detail",
//     "fix"}], "checked": [requirement names]}
//  "peer" is the index of the peer the problem is about (this peer's index
//  for local problems; null for cluster-wide ones or when this peer is not
//  in the list). Problems come in the order of the check's table: each
//  other peer's together, then those over every slot (addresses, system
//  names, certificates), then this peer's. Requirement names (in this
//  order in "checked"):
//    node_type            same node type (core|edge) on every peer
//    software_version     same software version
//    distinct_ip_address  each peer its own address / IP address
//    distinct_system_name each peer its own system name
//    dns_domain           same DNS domain on every peer
//    rtt                  round trip to every other peer <= 80 ms
//    clock_synchronised   this peer's and the others' clocks synchronised,
//                         skew <= 5 s
//    dns_or_address_mapping  a DNS server, or an address mapping entry
//                         for every peer (mapping enabled)
//    certificate          a certificate identifying each peer (TLS not failing)
//    cluster_name         configured, and an FQDN
//    h323_mode            H.323 mode on
//    cluster_settings     (beyond the guide) valid settings, this peer in the list,
//                         same primary / peer list / name / IP version /
//                         TLS mode on the alive peers
//    peer_reachable       (beyond the guide) every other peer alive: the per-peer
//                         requirements above can only be checked for them
//  Not decidable from the view, so not checked: capacity class, direct
//  routing (no NAT), option keys, neighbour/traversal zones between peers.
//  Returns NULL when VIEW is NULL or out of memory.
json_t *cw_cluster_check (const cw_cluster_view_t *view);

#endif
