/*  cluster_view.h - a plain snapshot of what this peer knows about its
    cluster, taken by the cluster core (core.c) on every heartbeat tick.

    The alarm evaluation and `cluster check` (the rule tables of
    cluster_alarms.c, applied by cluster_rules.c) read only this struct, so
    they are pure functions that unit tests can drive with hand-made views. Strings are NUL-terminated, "" when unknown.
*/
#ifndef CW_CLUSTER_VIEW_H
#define CW_CLUSTER_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#define CW_CLUSTER_MAX_PEERS 6
#define CW_RTT_ALARM_MS 80.0

//  The clustering settings (peer-scope keys cluster.*), either as they are
//  in effect (loaded at the last restart) or as stored now.
typedef struct {
    char name [256];                           //  cluster.name ("" = not configured)
    int primary;                               //  cluster.primary 1..6 (0 = unset)
    int ip_version;                            //  4 | 6
    char tls_verify [16];                      //  "permissive" | "enforce"
    char peers [CW_CLUSTER_MAX_PEERS][256];    //  cluster.peers, "" = empty slot
    int peer_count;                            //  number of entries in cluster.peers
} cw_cluster_settings_t;

//  What this peer knows of one peer (its own slot included).
typedef struct {
    int index;                   //  1..6
    char address [256];          //  as configured (IP or FQDN)
    char ip [64];                //  resolved, "" if it does not resolve
    char resolve_error [256];    //  why it does not resolve
    bool is_self;
    //  Link state (other peers only)
    bool alive;          //  heartbeats seen within the dead interval
    bool ever_seen;      //  a heartbeat arrived since start
    bool tcp_failing;    //  TCP connect to its clustering port fails
    char tcp_error [256];
    bool tls_failing;    //  TLS handshake / certificate check fails
    char tls_error [256];
    char certificate [256];     //  "ok" | "not verified (permissive)" | reason
    double rtt_ms;              //  last heartbeat round trip, < 0 unknown
    int64_t clock_offset_ms;    //  its clock minus ours (heartbeat estimate)
    //  From its last heartbeat (or our own values for is_self)
    char version [32];
    char type [8];    //  "core" | "edge"
    char system_name [64];
    char dns_domain [256];
    char dns_hostname [64];
    char cluster_name [256];
    int primary;    //  its cluster.primary in effect
    int ip_version;
    char tls_verify [16];
    char peers_digest [65];    //  hex SHA-256 of its ordered peer list
    bool maintenance;
    bool h323_mode;
    double load;    //  0..1: max of CPU load and calls / capacity
    int calls;      //  calls in progress (its routing actor's count)
    int64_t applied_seq;
    char cluster_id [40];    //  replication history id ("" = none)
    bool joining;            //  announced: joining, has no configuration yet
    bool restarting;         //  announced: restart in progress
    bool upgrading;          //  announced: upgrade in progress
    bool clock_synced;
} cw_peer_view_t;

typedef struct {
    cw_cluster_settings_t effective;    //  in effect since the last restart
    cw_cluster_settings_t stored;       //  as set now (differs => restart required)
    char peering_address [256];         //  bootstrap peering.address
    int this_peer;                      //  our index in effective.peers, 0 = not in it
    bool clustered;                     //  effective.peer_count > 0
    bool is_primary;
    char node_type [8];            //  bootstrap node.type
    char version [32];             //  CW_VERSION
    bool h323_mode;                //  cluster key h323.mode
    bool clock_synced;             //  kernel reports the clock synchronised
    bool ntp_configured;           //  ntp.servers not empty
    bool factory_reset_pending;    //  stored peer list empty, effective not
    bool database_missing;         //  cluster.db vanished / unreadable
    char database_error [256];
    //  Replication state of this peer
    int64_t applied_seq;
    char cluster_id [40];
    bool in_sync;                    //  holds the primary's configuration (the primary: always)
    bool replication_conflict;       //  our data conflicts with the primary's (20011)
    char replication_error [256];    //  last automatic replication error (20009), "" none
    bool sync_failed;                //  snapshot / full sync failed (20025)
    char sync_error [256];
    bool replication_paused;                        //  paused: versions differ (20008)
    cw_peer_view_t peers [CW_CLUSTER_MAX_PEERS];    //  [i] is index i+1; valid for i < effective.peer_count
    //  For `cluster check` (a DNS server, or an address mapping entry for
    //  every peer)
    int dns_server_count;                            //  entries in dns.servers
    bool address_mapping_enabled;                    //  cluster.address_mapping.enabled
    int mapping_count;                               //  entries used in mappings (0..6)
    char mappings [CW_CLUSTER_MAX_PEERS][2][256];    //  [i][0] FQDN, [i][1] IP (cluster.address_mapping)
} cw_cluster_view_t;

#endif
