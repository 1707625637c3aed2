/*  cluster_internal.h - the cluster core's own struct, for the files of
    the core only (the procedures see the core through core.h).
*/
#ifndef CW_CLUSTER_INTERNAL_H
#define CW_CLUSTER_INTERNAL_H

#include "core.h"
#include "cluster_alarms.h"
#include "peerlink.h"
#include "replog.h"

typedef struct {
    cw_peer_view_t view;        //  what we know (heartbeat contents, link state)
    int64_t last_heard;         //  zclock_mono of the last heartbeat, 0 never
    int64_t echo_t;             //  its "t_us" in the last heartbeat it sent us
    int64_t echo_received;      //  our zclock_usecs when that arrived
    char head_hash[72];         //  its replog head hash
    int64_t sent_seq;           //  primary: highest changeset sent to it
    int64_t acked_seq;          //  primary: highest changeset it confirmed
    bool syncing;               //  primary: catch-up / snapshot in flight
    int64_t sync_deadline;
    int64_t restarting_since;   //  it announced a restart (0 = no)
    bool link_up;               //  our outbound link to it is up
} cw_peer_state_t;

struct _cw_cluster_t {
    cw_actor_t *actor;
    cw_config_store_t *store;
    cw_replog_t *replog;
    const cw_bootstrap_t *boot;
    zloop_t *loop;
    int timer_id;
    char boot_id[64];
    cw_cluster_settings_t effective;
    int this_peer;                  //  1..6, 0 = not in the list
    bool is_primary;
    char links_error[512];          //  why the peer links could not start ("" = fine)
    cw_peerlink_t *links;
    cw_peer_state_t peers[CW_CLUSTER_MAX_PEERS];
    //  replication state of this node
    bool in_sync;                   //  subordinate: matched the primary since start
    bool conflict;
    char replication_error[256];
    bool sync_failed;
    char sync_error[256];
    bool stopping;
    bool factory_reset_done;        //  performed at this start
    uint64_t next_corr;
    zlistx_t *calls;                //  cw_peer_call_t: our requests to peers
    zlistx_t *waiters;              //  config.set --wait and forwards waiting for acks
    zlistx_t *sync_waiters;         //  ForceConfigUpdate requests waiting to be in sync again
    cw_alarm_want_t alarms[CW_CLUSTER_ALARMS_MAX];
    int alarm_count;
    bool alarms_known;              //  alarms[] reflects the alarm table (read at start)
    char mapping_text[2048];
    char summary_text[512];         //  last cluster.summary published        //  last address mapping given to the links
    zlistx_t *peer_commands;        //  s_peer_table_t: cw_cluster_peer_commands
};

//  Transitional: settings.h has these as functions of the store.
//  The clustering settings as stored now (what the next restart applies).
void cw_cluster_stored_settings (cw_cluster_t *self, cw_cluster_settings_t *out);
//  The address mapping in effect ("fqdn=ip" entries of
//  cluster.address_mapping when cluster.address_mapping.enabled is on)
//  into OUT, with the strings in TEXTS; at most MAX. Returns the count.
int cw_cluster_mapping (cw_cluster_t *self, cw_peerlink_mapping_t *out, char texts[][2][256], int max);
//  Set a key through the config store as an administrator would (no
//  forwarding); VALUE borrowed. 0, or -1 with ERR.
int cw_cluster_set_key (cw_cluster_t *self, const char *name, json_t *value, char *err, size_t errlen);

#endif
