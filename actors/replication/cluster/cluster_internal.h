/*  cluster_internal.h - what the old procedures/ files (cluster_procedures.c,
    cluster_fqdn.c) still need from the core's inside while they are
    replaced by procedures written against core.h. Only they include it;
    it goes with them.
*/
#ifndef CW_CLUSTER_INTERNAL_H
#define CW_CLUSTER_INTERNAL_H

#include "core.h"
#include "cluster_alarms.h"
#include "peerlink.h"
#include "replog.h"
#include <string.h>

//  Peer frame types (peerlink type byte)
#define CW_FRAME_HEARTBEAT 1
#define CW_FRAME_REQUEST 2
#define CW_FRAME_REPLY 3

//  A copy of core.c's private struct, member for member, because the old
//  procedures read its members directly. core.c has the definition that
//  counts; change both or neither.
typedef struct {
    cw_peer_view_t view;
    int64_t last_heard;
    int64_t echo_t;
    int64_t echo_received;
    int64_t restarting_since;
    bool link_up;
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
    int this_peer;
    bool is_primary;
    char links_error[512];
    cw_peerlink_t *links;
    cw_peer_state_t peers[CW_CLUSTER_MAX_PEERS];
    char *join_token_hash;
    char join_token_address[256];
    int64_t join_token_expires;
    //  (core.c's own members follow; the procedures do not touch them)
};

//  The clustering settings as stored now (settings.h).
static inline void
cw_cluster_stored_settings (cw_cluster_t *self, cw_cluster_settings_t *out)
{
    cw_settings_stored (self->store, out);
}

//  The address mapping in effect into OUT / TEXTS; at most MAX. The count.
static inline int
cw_cluster_mapping (cw_cluster_t *self, cw_peerlink_mapping_t *out, char texts[][2][256], int max)
{
    cw_mapping_t mapping;
    cw_settings_mapping (self->store, &mapping);
    int count = mapping.count < max ? mapping.count : max;
    for (int i = 0; i < count; i++) {
        memcpy (texts[i], mapping.texts[i], sizeof mapping.texts[i]);
        out[i].fqdn = texts[i][0];
        out[i].ip = texts[i][1];
    }
    return count;
}

//  Set a key as an administrator would (no forwarding); VALUE borrowed.
static inline int
cw_cluster_set_key (cw_cluster_t *self, const char *name, json_t *value, char *err, size_t errlen)
{
    return cw_config_store_set_named (self->store, name, value, err, errlen);
}

//  cluster_procedures.c: the orchestrated commands. Returns true when it
//  handled COMMAND (then *STATUS and *REPLY are set).
bool cw_cluster_procedure (cw_cluster_t *self, const cw_envelope_t *req, const char *command,
                           json_t *args, json_t **reply, cw_reply_status_t *status);
//  A peer control command for the procedures (cluster.apply_settings ...);
//  true when handled (the answer is sent to TARGET, now or later).
bool cw_cluster_procedure_control (cw_cluster_t *self, const char *command, json_t *args,
                                   const cw_reply_target_t *target);

//  cluster_fqdn.c: the FQDN and TLS procedures (suggest-mappings, use-fqdns,
//  enforce-tls, diff). cw_cluster_procedure and cw_cluster_procedure_control
//  call these first; same contracts as the two above.
bool cw_cluster_fqdn_procedure (cw_cluster_t *self, const cw_envelope_t *req, const char *command,
                                json_t *args, json_t **reply, cw_reply_status_t *status);
bool cw_cluster_fqdn_control (cw_cluster_t *self, const char *command, json_t *args,
                              const cw_reply_target_t *target);

#endif
