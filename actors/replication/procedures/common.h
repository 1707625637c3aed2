/*  common.h - what the procedure families (membership.c, join.c,
    rolling.c, readonly.c) share: small helpers over the core's API
    (core.h) and the clustering settings (settings.h). No state: each
    family keeps its own, and the running procedure lives in the engine.
*/
#ifndef CW_PROC_COMMON_H
#define CW_PROC_COMMON_H

#include <jansson.h>
#include <stdbool.h>
#include "core.h"
#include "cw_text.h"
#include "engine.h"

//  The outstanding join token, as the primary keeps it: only SHA-256 of
//  its nonce, the address it was made for and its expiry, in memory. One
//  at a time (a new token replaces it); a restart forgets it.
typedef struct {
    bool outstanding;
    char nonce_hash [65];    //  hex SHA-256 of the nonce
    char address [256];
    int64_t expires_ms;    //  wall clock
} cw_join_token_t;

#define CW_JOIN_TOKEN_VERSION 1

//  What every family's handlers get as ARG.
typedef struct {
    cw_cluster_t *core;
    cw_engine_t *engine;
    cw_join_token_t token;
} cw_proc_env_t;

//  The head of the context of a procedure that answers a requester: its
//  first member, so cw_proc_end_answer can read it.
typedef struct {
    cw_proc_env_t *env;
    cw_reply_target_t target;
} cw_proc_request_t;

//  on_end of a procedure whose context starts with a cw_proc_request_t:
//  when it failed, answer the requester with the reason.
void cw_proc_end_answer (cw_engine_t *engine, void *ctx, bool ok, const char *error);

//  Hex SHA-256 of LEN bytes at DATA into OUT.
void cw_proc_sha256_hex (const void *data, size_t len, char out [65]);

//  The reply target of a local request REQ.
cw_reply_target_t cw_proc_target (const cw_envelope_t *req);
//  Answer TARGET (BODY stolen), then restart the node (the reply goes out
//  first: both travel in order through the broker).
void cw_proc_answer_and_restart (cw_cluster_t *core, const cw_reply_target_t *target, json_t *body);
//  Refuse a request: *REPLY = BODY (stolen), logged. CW_REPLY_ERROR.
cw_reply_status_t cw_proc_refuse (json_t **reply, json_t *body);
//  Start DEF on the engine with CTX (taken) and PLAN (stolen, may be
//  NULL): CW_REPLY_DEFERRED (the procedure answers), or CW_REPLY_ERROR
//  with *REPLY when another procedure runs.
cw_reply_status_t cw_proc_start (cw_engine_t *engine, const cw_procedure_t *def, void *ctx, json_t *plan,
                                 json_t **reply);
//  A control REQUEST to a peer: {"op": "control", "command", "args"}
//  (ARGS stolen; new).
json_t *cw_proc_control (const char *command, json_t *args);

//  The clustering settings stored on this node now.
void cw_proc_stored (cw_cluster_t *core, cw_cluster_settings_t *out);
//  This node's slot in S (stored address mapping), 0 when none.
int cw_proc_own_index (cw_cluster_t *core, const cw_cluster_settings_t *s);
//  Must this node restart for the stored settings S to take effect?
//  (The rule of the core's live apply: an existing member keeps its
//  slot, IP version and TLS mode.)
bool cw_proc_needs_restart (cw_cluster_t *core, const cw_cluster_settings_t *s);
//  Set NAME on this node as an administrator would (VALUE borrowed). 0,
//  or -1 with ERR.
int cw_proc_set_key (cw_cluster_t *core, const char *name, json_t *value, char *err, size_t errlen);

//  This node's certificate and key must be readable files to cluster:
//  NULL, or an error body naming COMMAND.
json_t *cw_proc_check_tls_files (cw_cluster_t *core, const char *command);
//  The address of peer INDEX in the settings in effect, "?" out of range.
const char *cw_proc_address (cw_cluster_t *core, int index);
//  True when this node is in a cluster in effect.
bool cw_proc_clustered (cw_cluster_t *core);
//  The refusal of COMMAND (as users type it) off the primary: an error
//  body "COMMAND runs on the configuration primary, ...", or NULL.
json_t *cw_proc_primary_only (cw_cluster_t *core, const char *command);
//  Resolve ADDRESS as the peer links do (MAPPING). 0, or -1 (why in VIA).
int cw_proc_resolve (cw_cluster_t *core, const cw_mapping_t *mapping, const char *address, char *ip, size_t iplen,
                     char *via, size_t vialen);
//  The IP peer INDEX clusters on: what its slot resolves to (this peer:
//  its peering address when its slot does not resolve). 0, or -1 with WHY.
int cw_proc_peer_ip (cw_cluster_t *core, const cw_mapping_t *mapping, int index, char *ip, size_t iplen, char *why,
                     size_t whylen);
//  The FQDN peer INDEX reports (dns.hostname.dns.domain, lower case). 0,
//  or -1 with the reason WHY and the FIX.
int cw_proc_peer_fqdn (cw_cluster_t *core, int index, char *fqdn, size_t size, char *why, size_t whylen, char *fix,
                       size_t fixlen);
//  Why every peer is not alive and settled (with JOINING: in sync with
//  the primary too), or "" when they are.
void cw_proc_not_settled (cw_cluster_t *core, bool joining, char *why, size_t size);

#endif
