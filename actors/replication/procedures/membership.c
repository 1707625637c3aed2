/*  membership.c - the orchestrated membership procedures of `causeway
    cluster ...`, as step lists on the procedure engine (engine.h).

    Each command performs, from one node, the steps the guide has an
    administrator do by hand on every peer, in the guide's order:

      cluster.form {name?, ip_version?, tls_verify?}
          on a node that is not clustered: the clustering settings of a
          cluster of one (peer 1 = peering.address, primary 1); restart.
      cluster.token {address, ttl_s?}
          on the primary: as add (when ADDRESS is new), then a one-time
          join token that pins the primary's certificate (join.c takes it).
      cluster.add {address}
          on the primary: ADDRESS into the first empty slot, pushed to
          every live subordinate; the new peer is set up the guide's way
          (or with join) and restarted.
      cluster.remove {address, dead?}
          a live peer is told to clear its peer list and restart (the
          factory reset); then the list closes its gap on the primary and
          every remaining live subordinate.
      cluster.set_primary {index}
          the new primary first, then the others, then this node.
      cluster.replace {old, new}
          remove OLD (reset when live), add NEW at the end of the list.
      cluster.disband {reset_primary?}
          provisioning stopped first (this node's tms actor is asked
          tms.provisioning.stop; one that does not run is no obstacle),
          every subordinate removed (live ones reset), then the primary
          alone, or reset too.

    Peer command (from another peer, over the peer links):
      cluster.apply_settings {name?, primary?, ip_version?, tls_verify?,
                              peers?, restart?}
          store the given clustering keys ("the same full clustering
          settings on every subordinate"); restart: true restarts, false
          never, absent restarts only when the change cannot take effect
          live (it left the list, its slot moved other than by a removal,
          IP version or TLS mode changed). Accepted from the configuration primary, or from
          any peer while the primary is dead (changing a dead primary).

    Membership changes are refused on a node that is not the primary
    (naming the primary; the actor's guard, cw_membership_primary_check)
    and while a peer is joining, upgrading or restarting, unless
    args.force is true. cluster.remove --dead never contacts the peer,
    even when it answers (it keeps its settings: the guide's "reset it
    before it rejoins"). A peer whose slot moves because a gap closed
    before it (a removal) applies the new list live, as the guide's peers
    do on Save: no restart, on the primary either.
*/
#include "membership.h"
#include "cert.h"
#include "cw_text.h"
#include "registry.h"
#include "replog.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_CALL_MS 2500
#define S_TOKEN_TTL_DEFAULT 3600
#define S_TOKEN_TTL_MAX (7 * 86400)
#define S_TAG_OTHER 0
#define S_TAG_SUBJECT 1

static const char *S_NEXT_HINT =
    "on the new peer run the same clustering settings (or `causeway cluster join`) and restart it";

// ---------------------------------------------------------------------------
//  Checks before a change

//  Does a peer's last heartbeat show it holds what this node holds (same
//  replication history and sequence)? Its own "joining" flag lags by a
//  heartbeat: it learns it is in sync from the primary's next heartbeat.
static bool
s_holds_ours (cw_cluster_t *core, const cw_peer_view_t *v)
{
    cw_replog_t *replog = cw_config_store_replog (cw_cluster_store (core));
    char mine [40];
    cw_replog_cluster_id (replog, mine, sizeof mine);
    return *mine && strcmp (mine, v->cluster_id) == 0 && v->applied_seq == cw_replog_applied_seq (replog);
}

//  Why a membership change must wait (a peer joining, upgrading,
//  restarting), or "" when it may go ahead. EXCEPT (may be NULL) is the
//  address of the peer the change is about (it does not block its own
//  removal).
static void
s_blocker (cw_cluster_t *core, const char *except, char *why, size_t size)
{
    why [0] = 0;
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    for (int i = 1; i <= effective->peer_count; i++) {
        if (i == cw_cluster_this_peer (core) || (except && cw_settings_same_address (effective->peers [i - 1], except)))
            continue;
        const cw_peer_view_t *view = cw_cluster_peer_view (core, i);
        bool alive = cw_cluster_peer_alive (core, i);
        const char *what = NULL;
        if (alive && view->upgrading)
            what = "upgrading";
        else if (alive && view->joining && !s_holds_ours (core, view))
            what = "joining the cluster (it has not taken the primary's configuration yet)";
        else if (cw_cluster_peer_restarting (core, i))
            what = "restarting";
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i, effective->peers [i - 1], what);
            return;
        }
    }
}

json_t *
cw_membership_primary_check (cw_cluster_t *core, const char *command)
{
    if (!cw_proc_clustered (core))
        return cw_error_body ("%s: this node is not in a cluster; form one with `causeway cluster form` "
                              "or join one with `causeway cluster join`",
                              command);
    if (!cw_cluster_is_primary (core)) {
        int primary = cw_cluster_effective (core)->primary;
        return cw_error_body ("%s: this node is peer %d, not the configuration primary; run it on the "
                              "primary, peer %d (%s)",
                              command, cw_cluster_this_peer (core), primary, cw_proc_address (core, primary));
    }
    return NULL;
}

//  A refusal while a peer is joining, upgrading or restarting (unless
//  args.force): an error body, or NULL when COMMAND may go ahead. Checked
//  after the arguments, so a wrong request gets its own error at once.
static json_t *
s_settled_check (cw_cluster_t *core, const char *command, json_t *args, const char *except)
{
    char why [512];
    s_blocker (core, except, why, sizeof why);
    if (*why && !json_is_true (json_object_get (args, "force")))
        return cw_error_body ("%s refused: %s; retry when it is active, or force it (\"force\": true)", command, why);
    return NULL;
}

//  ADDRESS checked as a peer address (IP literal of the cluster's IP
//  version, or FQDN), canonical into OUT. NULL or an error body.
static json_t *
s_check_address (cw_cluster_t *core, const char *command, const char *address, char *out, size_t size)
{
    char canon [64];
    if (!address || !*address)
        return cw_error_body ("%s: an address (IP address or FQDN) is required", command);
    if (cw_valid_ip (address, canon)) {
        bool v6 = strchr (canon, ':') != NULL;
        int version = cw_cluster_effective (core)->ip_version ? cw_cluster_effective (core)->ip_version : 4;
        if ((version == 6) != v6)
            return cw_error_body ("%s: %s is an IPv%d address, but the cluster's IP version is %d", command, address,
                                  v6 ? 6 : 4, version);
        cw_copy (out, size, canon);
        return NULL;
    }
    if (!cw_valid_fqdn (address))
        return cw_error_body ("%s: '%.200s' is neither an IP address nor a fully qualified domain name", command,
                              address);
    cw_copy (out, size, address);
    return NULL;
}

//  Is the peer at ADDRESS alive with its link up (a call can reach it)?
static bool
s_reachable (cw_cluster_t *core, const char *address)
{
    int index = cw_settings_index_of (cw_cluster_effective (core), address);
    return index > 0 && index != cw_cluster_this_peer (core) && cw_cluster_peer_alive (core, index)
        && cw_cluster_peer_link_up (core, index);
}

// ---------------------------------------------------------------------------
//  The context of a membership procedure, and the steps they share

typedef struct {
    cw_proc_request_t request;    //  first: see cw_proc_end_answer
    char command [40];
    cw_cluster_settings_t after;                    //  the clustering settings the procedure makes
    char subject [256];                             //  the peer the procedure is about (removed, ...)
    char added [256];                               //  the peer added ("" none)
    bool dead;                                      //  remove: do not contact the removed peer
    bool reset_primary;                             //  disband
    char provisioning [200];                        //  disband: what tms.provisioning.stop gave
    int new_primary;                                //  set_primary
    int ttl_s;                                      //  token: its lifetime
    char called [CW_CLUSTER_MAX_PEERS + 1][256];    //  address of each peer called
    json_t *reached;                                //  addresses that applied the step's push
    json_t *unreached;                              //  [{"address", "error"}]
    json_t *reset;                                  //  addresses told to reset
    json_t *not_reset;                              //  [{"address", "error"}]
    json_t *dropped;                                //  dead addresses dropped
    bool subject_failed;
    char subject_error [256];
} s_op_t;

static s_op_t *
s_op_new (cw_proc_env_t *env, const cw_envelope_t *req, const char *command, const cw_cluster_settings_t *s)
{
    s_op_t *op = calloc (1, sizeof *op);
    op->request.env = env;
    op->request.target = cw_proc_target (req);
    cw_copy (op->command, sizeof op->command, command);
    op->after = *s;
    op->reached = json_array ();
    op->unreached = json_array ();
    op->reset = json_array ();
    op->not_reset = json_array ();
    op->dropped = json_array ();
    return op;
}

static void
s_op_free (void *ctx)
{
    s_op_t *op = ctx;
    json_decref (op->reached);
    json_decref (op->unreached);
    json_decref (op->reset);
    json_decref (op->not_reset);
    json_decref (op->dropped);
    free (op);
}

static cw_step_result_t
s_op_on_reply (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    s_op_t *op = ctx;
    const char *address = op->called [peer];
    const char *error = ok ? "" : *cw_jtext (json, "error") ? cw_jtext (json, "error") : "no answer";
    if (ok)
        cw_info ("cluster: %s: peer %d (%s) applied restarting=%s", op->command, peer, address,
                 json_is_true (json_object_get (json, "restarting")) ? "yes" : "no");
    else
        cw_warn ("cluster: %s: peer %d (%s) did not apply: %s", op->command, peer, address, error);
    if (tag == S_TAG_SUBJECT) {
        op->subject_failed = !ok;
        cw_copy (op->subject_error, sizeof op->subject_error, error);
    }
    else if (ok)
        json_array_append_new (op->reached, json_string (address));
    else
        json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", address, "error", error));
    return cw_engine_calls_out (engine) > 0 ? CW_STEP_WAIT : CW_STEP_NEXT;
}

//  Send cluster.apply_settings ARGS (stolen) to the peer at ADDRESS.
//  -1 when it cannot be reached now.
static int
s_op_call (s_op_t *op, const char *address, json_t *args, int tag)
{
    cw_cluster_t *core = op->request.env->core;
    int index = cw_settings_index_of (cw_cluster_effective (core), address);
    if (tag == S_TAG_SUBJECT) {
        op->subject_failed = true;    //  until it answers
        cw_copy (op->subject_error, sizeof op->subject_error, "unreachable");
    }
    if (!s_reachable (core, address)) {
        json_decref (args);
        return -1;
    }
    cw_copy (op->called [index], sizeof op->called [index], address);
    if (cw_engine_call (op->request.env->engine, index, tag, cw_proc_control ("cluster.apply_settings", args),
                        S_CALL_MS)
        != 0)
        return -1;
    cw_info ("cluster: %s: asked peer %d (%s) to apply new clustering settings", op->command, index, address);
    return 0;
}

//  The step's result once its calls are sent: wait for them, or go on.
static cw_step_result_t
s_op_sent (cw_engine_t *engine)
{
    return cw_engine_calls_out (engine) > 0 ? CW_STEP_WAIT : CW_STEP_NEXT;
}

//  Push op->after to every live subordinate in it (the guide's "the same
//  full clustering settings on every subordinate").
static cw_step_result_t
s_op_push_all (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    cw_cluster_t *core = op->request.env->core;
    const char *own = cw_cluster_this_peer (core) ? cw_proc_address (core, cw_cluster_this_peer (core)) : "";
    for (int i = 0; i < op->after.peer_count; i++) {
        const char *address = op->after.peers [i];
        if (cw_settings_same_address (address, own) || (*op->added && cw_settings_same_address (address, op->added)))
            continue;
        if (s_op_call (op, address, cw_settings_json (&op->after), S_TAG_OTHER) != 0)
            json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", address, "error",
                                                             cw_settings_index_of (cw_cluster_effective (core), address)
                                                                 ? "unreachable"
                                                                 : "not a peer yet"));
    }
    return s_op_sent (engine);
}

//  Whether this node must restart for the clustering settings S: not for
//  the guide's removal of a peer, even when it moves this node's slot
//  (the core applies that live, cw_cluster_applies_live).
static bool
s_needs_restart (cw_cluster_t *core, const cw_cluster_settings_t *s)
{
    return cw_proc_needs_restart (core, s) && !cw_cluster_applies_live (core, s);
}

//  Store op->after on this node; *RESTART says whether the node must
//  restart for it. 0, or -1 with the engine's failure set.
static int
s_op_store_local (cw_engine_t *engine, s_op_t *op, bool *restart)
{
    char err [512];
    *restart = s_needs_restart (op->request.env->core, &op->after);
    if (cw_settings_store (cw_cluster_store (op->request.env->core), &op->after, err, sizeof err)) {
        cw_engine_fail (engine, "%s: the new settings could not be stored on this node: %s", op->command, err);
        return -1;
    }
    cw_info ("cluster: %s: stored peers=%d primary=%d restart=%s", op->command, op->after.peer_count, op->after.primary,
             *restart ? "yes" : "no");
    return 0;
}

//  The reply body fields every membership change has.
static json_t *
s_op_body (s_op_t *op)
{
    json_t *body = json_pack ("{s:o, s:i}", "peers", cw_settings_peers_json (&op->after), "primary", op->after.primary);
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    return body;
}

//  Answer with BODY (stolen), then restart when RESTART.
static void
s_op_answer (s_op_t *op, json_t *body, bool restart)
{
    if (restart)
        cw_proc_answer_and_restart (op->request.env->core, &op->request.target, body);
    else
        cw_cluster_answer (op->request.env->core, &op->request.target, true, body);
}

//  The last step: store locally, answer with BODY (stolen), restart when
//  needed.
static cw_step_result_t
s_op_finish (cw_engine_t *engine, s_op_t *op, json_t *body)
{
    bool restart = false;
    if (s_op_store_local (engine, op, &restart)) {
        json_decref (body);
        return CW_STEP_FAIL;
    }
    if (json_array_size (op->unreached) && !json_object_get (body, "message")) {
        char list [1024] = "";
        size_t i;
        json_t *item;
        json_array_foreach (op->unreached, i, item) {
            size_t used = strlen (list);
            snprintf (list + used, sizeof list - used, "%s%s", used ? ", " : "", cw_jtext (item, "address"));
        }
        char text [1400];
        snprintf (text, sizeof text,
                  "not updated (unreachable): %s; set the same clustering settings "
                  "on them when they are back",
                  list);
        json_object_set_new (body, "message", json_string (text));
    }
    json_object_set_new (body, "restarting", json_boolean (restart));
    cw_info ("cluster: %s done peers=%d primary=%d", op->command, op->after.peer_count, op->after.primary);
    s_op_answer (op, body, restart);
    return CW_STEP_DONE;
}

//  Add the "index" of the added peer and the hint for it to BODY.
static void
s_op_added_hint (s_op_t *op, json_t *body)
{
    json_object_set_new (body, "index", json_integer (cw_settings_index_of (&op->after, op->added)));
    json_object_set_new (body, "next", json_string (S_NEXT_HINT));
    if (!json_array_size (op->unreached))
        json_object_set_new (body, "message", json_string (S_NEXT_HINT));
}

// ---------------------------------------------------------------------------
//  cluster.form

//  The settings of a cluster of one from ARGS and the stored ones: NULL,
//  or an error body.
static json_t *
s_form_settings (cw_cluster_t *core, json_t *args, const char *address, cw_cluster_settings_t *s)
{
    cw_cluster_settings_t stored;
    cw_proc_stored (core, &stored);
    memset (s, 0, sizeof *s);
    const char *name = cw_jtext (args, "name");
    cw_copy (s->name, sizeof s->name, *name ? name : stored.name);
    if (!*s->name)
        return cw_error_body ("cluster.form: a cluster name is needed: give --name (the FQDN of the "
                              "cluster's DNS SRV records, e.g. cluster1.example.com) or set cluster.name");
    json_t *version = json_object_get (args, "ip_version");
    if (json_is_integer (version))
        s->ip_version = (int) json_integer_value (version);
    else if (json_is_string (version))
        s->ip_version = atoi (json_string_value (version));
    else
        s->ip_version = stored.ip_version ? stored.ip_version : 4;
    const char *tls = cw_jtext (args, "tls_verify");
    cw_copy (s->tls_verify, sizeof s->tls_verify, *tls ? tls : *stored.tls_verify ? stored.tls_verify : "permissive");
    if (s->ip_version != 4 && s->ip_version != 6)
        return cw_error_body ("cluster.form: ip_version must be 4 or 6");
    char canon [64];
    if (cw_valid_ip (address, canon) && (strchr (canon, ':') != NULL) != (s->ip_version == 6))
        return cw_error_body ("cluster.form: peering.address %s is not an IPv%d address; give "
                              "--ip-version %d or change peering.address",
                              address, s->ip_version, s->ip_version == 6 ? 4 : 6);
    s->primary = 1;
    cw_copy (s->peers [0], sizeof s->peers [0], address);
    s->peer_count = 1;
    return NULL;
}

static cw_reply_status_t
s_form (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_cluster_t *core = ((cw_proc_env_t *) arg)->core;
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    const char *address = boot->peering.address;
    if (effective->peer_count > 0)
        return cw_proc_refuse (reply,
                               cw_error_body ("cluster.form: this node is already in a cluster (%s, "
                                              "peer %d of %d)",
                                              effective->name, cw_cluster_this_peer (core), effective->peer_count));
    if (!address || !*address)
        return cw_proc_refuse (reply, cw_error_body ("cluster.form: peering.address is not set in the "
                                                     "bootstrap file %s; set the address this node clusters "
                                                     "on (peering { address = \"...\"; }) and restart "
                                                     "causewayd",
                                                     boot->file));
    json_t *error = cw_proc_check_tls_files (core, "cluster.form");
    cw_cluster_settings_t s;
    if (!error)
        error = s_form_settings (core, args, address, &s);
    if (error)
        return cw_proc_refuse (reply, error);
    char err [512];
    if (cw_settings_store (cw_cluster_store (core), &s, err, sizeof err))
        return cw_proc_refuse (reply, cw_error_body ("cluster.form: %s", err));
    cw_info ("cluster: cluster.form name=%s address=%s ip_version=%d tls=%s; restarting", s.name, address, s.ip_version,
             s.tls_verify);
    cw_reply_target_t target = cw_proc_target (req);
    cw_proc_answer_and_restart (core, &target,
                                json_pack ("{s:b, s:o, s:s}", "restarting", true, "settings", cw_settings_json (&s),
                                           "message",
                                           "cluster of one formed: this "
                                           "node is peer 1 and the primary; it restarts now"));
    *reply = NULL;
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  cluster.add

static cw_step_result_t
s_add_finish (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    json_t *body = s_op_body (op);
    s_op_added_hint (op, body);
    return s_op_finish (engine, op, body);
}

static const cw_step_t s_add_steps [] = {
    { .name = "push the new peer list", .enter = s_op_push_all, .on_reply = s_op_on_reply },
    { .name = "store and answer", .enter = s_add_finish },
    { .name = NULL }
};
static const cw_procedure_t s_add_procedure = {
    .name = "cluster.add", .steps = s_add_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};

//  The checks add and token share, after the address: the stored
//  settings into S and ADDRESS's slot in them into *INDEX (0: a new
//  peer). NULL, or an error body.
static json_t *
s_add_check (cw_cluster_t *core, const char *command, json_t *args, const char *address, cw_cluster_settings_t *s,
             int *index)
{
    bool token = strcmp (command, "cluster.token") == 0;
    cw_proc_stored (core, s);
    *index = cw_settings_index_of (s, address);
    if (*index && *index == cw_proc_own_index (core, s))
        return cw_error_body ("%s: %s is this node (peer %d)", command, address, *index);
    if (*index && !token)
        return cw_error_body ("cluster.add: %s is already peer %d", address, *index);
    if (!*index && s->peer_count >= CW_CLUSTER_MAX_PEERS)
        return cw_error_body ("%s: the cluster already has %d peers, the most it can have; remove one first", command,
                              CW_CLUSTER_MAX_PEERS);
    return s_settled_check (core, command, args, NULL);
}

//  A new procedure context for add or token: ADDRESS added to S when
//  INDEX is 0.
static s_op_t *
s_add_op (cw_proc_env_t *env, const cw_envelope_t *req, const char *command, const cw_cluster_settings_t *s,
          const char *address, int index)
{
    s_op_t *op = s_op_new (env, req, command, s);
    cw_copy (op->subject, sizeof op->subject, address);
    if (!index) {
        cw_copy (op->after.peers [op->after.peer_count], sizeof op->after.peers [0], address);
        op->after.peer_count++;
        cw_copy (op->added, sizeof op->added, address);
        cw_info ("cluster: %s: adding %s as peer %d", command, address, op->after.peer_count);
    }
    return op;
}

static cw_reply_status_t
s_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_proc_env_t *env = arg;
    const char *command = "cluster.add";
    char address [256];
    cw_cluster_settings_t s;
    int index = 0;
    json_t *error = s_check_address (env->core, command, cw_jtext (args, "address"), address, sizeof address);
    if (!error)
        error = s_add_check (env->core, command, args, address, &s, &index);
    if (error)
        return cw_proc_refuse (reply, error);
    s_op_t *op = s_add_op (env, req, command, &s, address, index);
    return cw_proc_start (env->engine, &s_add_procedure, op, NULL, reply);
}

// ---------------------------------------------------------------------------
//  cluster.token: as add (when the address is not in the list yet), then
//  a one-time join token that pins the primary's certificate.
//
//  The token is base64url (no padding) of JSON {"v": 1, "name",
//  "primary", "ip_version", "tls_verify", "peers", "primary_address",
//  "port", "fingerprint" (hex SHA-256 of the primary's certificate, DER),
//  "expires" (unix seconds), "nonce", "address" (the new peer's),
//  "address_mapping" (the mapping in effect on the primary)}. The primary
//  keeps it as cw_join_token_t; join.c redeems it.

static json_t *
s_mapping_json (cw_cluster_t *core)
{
    cw_mapping_t mapping;
    cw_settings_mapping (cw_cluster_store (core), &mapping);
    json_t *list = json_array ();
    for (int i = 0; i < mapping.count; i++) {
        char entry [520];
        snprintf (entry, sizeof entry, "%s=%s", mapping.items [i].fqdn, mapping.items [i].ip);
        json_array_append_new (list, json_string (entry));
    }
    return list;
}

//  The token's text (new, base64url) for OP, with NONCE and EXPIRES.
static char *
s_token_text (s_op_t *op, const char *fingerprint, const char *nonce, int64_t expires)
{
    cw_cluster_t *core = op->request.env->core;
    const cw_cluster_settings_t *after = &op->after;
    json_t *token = json_pack ("{s:i, s:s, s:i, s:i, s:s, s:o, s:s, s:i, s:s, s:I, s:s, s:s, s:o}", "v",
                               CW_JOIN_TOKEN_VERSION, "name", after->name, "primary", after->primary, "ip_version",
                               after->ip_version ? after->ip_version : 4, "tls_verify",
                               *after->tls_verify ? after->tls_verify : "permissive", "peers",
                               cw_settings_peers_json (after), "primary_address", after->peers [after->primary - 1],
                               "port", cw_cluster_boot (core)->peering.port, "fingerprint", fingerprint, "expires",
                               (json_int_t) expires, "nonce", nonce, "address", op->subject, "address_mapping",
                               s_mapping_json (core));
    char *text = json_dumps (token, JSON_COMPACT);
    json_decref (token);
    size_t len = strlen (text);
    size_t b64len = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *b64 = malloc (b64len);
    sodium_bin2base64 (b64, b64len, (const unsigned char *) text, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free (text);
    return b64;
}

static cw_step_result_t
s_token_push (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    return *op->added ? s_op_push_all (engine, op) : CW_STEP_NEXT;
}

static cw_step_result_t
s_token_finish (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    cw_cluster_t *core = op->request.env->core;
    bool restart = false;
    if (*op->added && s_op_store_local (engine, op, &restart))
        return CW_STEP_FAIL;
    char fingerprint [65], err [512];
    if (cw_cert_fingerprint_file (cw_cluster_boot (core)->peering.certificate, fingerprint, err, sizeof err)) {
        cw_engine_fail (engine, "cluster.token: %s", err);
        return CW_STEP_FAIL;
    }
    unsigned char random [16];
    randombytes_buf (random, sizeof random);
    char nonce [33];
    sodium_bin2hex (nonce, sizeof nonce, random, sizeof random);
    int64_t expires = (int64_t) time (NULL) + op->ttl_s;
    char *b64 = s_token_text (op, fingerprint, nonce, expires);
    cw_join_token_t *kept = &op->request.env->token;
    cw_proc_sha256_hex (nonce, strlen (nonce), kept->nonce_hash);
    cw_copy (kept->address, sizeof kept->address, op->subject);
    kept->expires_ms = expires * 1000;
    kept->outstanding = true;
    sodium_memzero (nonce, sizeof nonce);
    int index = cw_settings_index_of (&op->after, op->subject);
    cw_info ("cluster: join token made for %s index=%d expires_in_s=%d", op->subject, index, op->ttl_s);
    char message [700];
    snprintf (message, sizeof message,
              "on %.256s run: causeway cluster join %.256s TOKEN (it works once, "
              "for %d s)",
              op->subject, op->after.peers [op->after.primary - 1], op->ttl_s);
    json_t *body = json_pack ("{s:s, s:i, s:I, s:o, s:s}", "token", b64, "index", index, "expires_at",
                              (json_int_t) expires, "peers", cw_settings_peers_json (&op->after), "message", message);
    free (b64);
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    s_op_answer (op, body, restart);
    return CW_STEP_DONE;
}

static const cw_step_t s_token_steps [] = {
    { .name = "push the new peer list", .enter = s_token_push, .on_reply = s_op_on_reply },
    { .name = "make the token", .enter = s_token_finish },
    { .name = NULL }
};
static const cw_procedure_t s_token_procedure = {
    .name = "cluster.token", .steps = s_token_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};

static cw_reply_status_t
s_token (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_proc_env_t *env = arg;
    const char *command = "cluster.token";
    char address [256];
    json_t *error = s_check_address (env->core, command, cw_jtext (args, "address"), address, sizeof address);
    if (error)
        return cw_proc_refuse (reply, error);
    int ttl = S_TOKEN_TTL_DEFAULT;
    json_t *jttl = json_object_get (args, "ttl_s");
    if (jttl && !json_is_null (jttl)) {
        if (!json_is_integer (jttl) || json_integer_value (jttl) < 10 || json_integer_value (jttl) > S_TOKEN_TTL_MAX)
            return cw_proc_refuse (reply, cw_error_body ("cluster.token: ttl_s must be an integer 10..%d "
                                                         "(seconds)",
                                                         S_TOKEN_TTL_MAX));
        ttl = (int) json_integer_value (jttl);
    }
    cw_cluster_settings_t s;
    int index = 0;
    error = cw_proc_check_tls_files (env->core, command);
    if (!error)
        error = s_add_check (env->core, command, args, address, &s, &index);
    if (error)
        return cw_proc_refuse (reply, error);
    s_op_t *op = s_add_op (env, req, command, &s, address, index);
    op->ttl_s = ttl;
    return cw_proc_start (env->engine, &s_token_procedure, op, NULL, reply);
}

// ---------------------------------------------------------------------------
//  cluster.remove and cluster.replace

//  The removed peer first: it clears its list and restarts (the reset).
static cw_step_result_t
s_remove_subject (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    if (op->dead)
        return CW_STEP_NEXT;
    s_op_call (op, op->subject, json_pack ("{s:[], s:b}", "peers", "restart", true), S_TAG_SUBJECT);
    return s_op_sent (engine);
}

//  The removed peer answered (or not): go on with the others.
static cw_step_result_t
s_remove_others (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    if (!op->dead && op->subject_failed) {
        int index = cw_settings_index_of (cw_cluster_effective (op->request.env->core), op->subject);
        cw_engine_fail (engine,
                        "%s: peer %d (%s) did not take the reset (%s); nothing was changed. "
                        "If it is dead, use --dead",
                        op->command, index, op->subject, op->subject_error);
        return CW_STEP_FAIL;
    }
    if (!op->dead && !json_array_size (op->dropped))
        json_array_append_new (op->reset, json_string (op->subject));
    return s_op_push_all (engine, op);
}

static cw_step_result_t
s_remove_finish (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    json_t *body = s_op_body (op);
    json_object_set_new (body, "removed", json_string (op->subject));
    json_object_set_new (body, "reset", json_boolean (json_array_size (op->reset) > 0));
    if (*op->added)
        s_op_added_hint (op, body);
    else if (op->dead && !json_array_size (op->unreached))
        json_object_set_new (body, "message",
                             json_string ("the removed peer was not reset: if it ever comes "
                                          "back, clear its peer list and restart it (factory "
                                          "reset) before it rejoins"));
    return s_op_finish (engine, op, body);
}

static const cw_step_t s_remove_steps [] = {
    { .name = "reset the removed peer", .enter = s_remove_subject, .on_reply = s_op_on_reply },
    { .name = "push the new peer list", .enter = s_remove_others, .on_reply = s_op_on_reply },
    { .name = "store and answer", .enter = s_remove_finish },
    { .name = NULL }
};
static const cw_procedure_t s_remove_procedure = {
    .name = "cluster.remove", .steps = s_remove_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};
static const cw_procedure_t s_replace_procedure = {
    .name = "cluster.replace", .steps = s_remove_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};

//  The peer OLD that remove/replace is about, checked in the stored
//  settings S: its index, or 0 with *ERROR.
static int
s_removable (cw_cluster_t *core, const char *command, const cw_cluster_settings_t *s, char *old, size_t size,
             json_t **error)
{
    int index = cw_settings_index_of (s, old);
    if (!index) {
        *error = cw_error_body ("%s: %s is not in the peer list (%d peers)", command, old, s->peer_count);
        return 0;
    }
    cw_copy (old, size, s->peers [index - 1]);
    if (index == cw_proc_own_index (core, s) || index == s->primary) {
        *error = cw_error_body ("%s: %s is the configuration primary (peer %d); change the primary first "
                                "(`causeway cluster set-primary N` to another peer)",
                                command, old, index);
        return 0;
    }
    return index;
}

static cw_reply_status_t
s_remove_or_replace (cw_proc_env_t *env, const cw_envelope_t *req, const char *command, json_t *args, json_t **reply)
{
    cw_cluster_t *core = env->core;
    bool replace = strcmp (command, "cluster.replace") == 0;
    const char *old_arg = cw_jtext (args, replace ? "old" : "address");
    char old [256], added [256] = "";
    json_t *error = NULL;
    if (!*old_arg)
        return cw_proc_refuse (reply, cw_error_body ("%s: the address of the peer to remove is required", command));
    cw_copy (old, sizeof old, old_arg);
    cw_cluster_settings_t s;
    cw_proc_stored (core, &s);
    int index = s_removable (core, command, &s, old, sizeof old, &error);
    if (!index)
        return cw_proc_refuse (reply, error);
    if (replace && (error = s_check_address (core, command, cw_jtext (args, "new"), added, sizeof added)))
        return cw_proc_refuse (reply, error);
    if (replace && cw_settings_index_of (&s, added))
        return cw_proc_refuse (reply, cw_error_body ("cluster.replace: %s is already peer %d", added,
                                                     cw_settings_index_of (&s, added)));
    bool dead = json_is_true (json_object_get (args, "dead"));
    bool live = s_reachable (core, old);
    int effective_index = cw_settings_index_of (cw_cluster_effective (core), old);
    if (!replace && !dead && !live)
        return cw_proc_refuse (reply, cw_error_body ("cluster.remove: peer %d (%s) is unreachable; if it is "
                                                     "dead, use --dead (it is then removed without a reset)",
                                                     effective_index ? effective_index : index, old));
    if ((error = s_settled_check (core, command, args, old)))
        return cw_proc_refuse (reply, error);
    s_op_t *op = s_op_new (env, req, command, &s);
    cw_copy (op->subject, sizeof op->subject, old);
    op->dead = dead || !live;
    cw_settings_remove_slot (&op->after, index);
    if (*added) {
        cw_copy (op->after.peers [op->after.peer_count], sizeof op->after.peers [0], added);
        op->after.peer_count++;
        cw_copy (op->added, sizeof op->added, added);
    }
    cw_info ("cluster: %s: removing peer %d (%s) %s%s%s", command, index, old,
             op->dead ? "without a reset (dead)" : "with a factory reset", *added ? ", adding " : "", added);
    if (op->dead) {
        json_array_append_new (op->dropped, json_string (old));
        if (live)
            cw_warn ("cluster: %s: peer %d (%s) is alive but removed as dead: it keeps its settings", command, index,
                     old);
    }
    return cw_proc_start (env->engine, replace ? &s_replace_procedure : &s_remove_procedure, op, NULL, reply);
}

static cw_reply_status_t
s_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_remove_or_replace (arg, req, "cluster.remove", args, reply);
}

static cw_reply_status_t
s_replace (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_remove_or_replace (arg, req, "cluster.replace", args, reply);
}

// ---------------------------------------------------------------------------
//  cluster.set_primary

static cw_step_result_t
s_set_primary_subject (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    if (op->new_primary != cw_proc_own_index (op->request.env->core, &op->after))
        s_op_call (op, op->subject, json_pack ("{s:i}", "primary", op->new_primary), S_TAG_SUBJECT);
    return s_op_sent (engine);
}

static cw_step_result_t
s_set_primary_others (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    cw_cluster_t *core = op->request.env->core;
    if (op->subject_failed) {
        cw_engine_fail (engine,
                        "cluster.set_primary: the new primary, peer %d (%s), did not take the change "
                        "(%s); nothing was changed",
                        op->new_primary, op->subject, op->subject_error);
        return CW_STEP_FAIL;
    }
    cw_info ("cluster: set_primary: peer %d took the role; telling the others", op->new_primary);
    const char *own = cw_cluster_this_peer (core) ? cw_proc_address (core, cw_cluster_this_peer (core)) : "";
    for (int i = 0; i < op->after.peer_count; i++) {
        const char *address = op->after.peers [i];
        if (cw_settings_same_address (address, own) || i + 1 == op->new_primary)
            continue;
        if (s_op_call (op, address, json_pack ("{s:i}", "primary", op->new_primary), S_TAG_OTHER) != 0)
            json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", address, "error", "unreachable"));
    }
    return s_op_sent (engine);
}

static cw_step_result_t
s_set_primary_finish (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    json_t *body = json_pack ("{s:i, s:o}", "primary", op->new_primary, "peers", cw_settings_peers_json (&op->after));
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    return s_op_finish (engine, op, body);
}

static const cw_step_t s_set_primary_steps [] = {
    { .name = "the new primary", .enter = s_set_primary_subject, .on_reply = s_op_on_reply },
    { .name = "the other peers", .enter = s_set_primary_others, .on_reply = s_op_on_reply },
    { .name = "store and answer", .enter = s_set_primary_finish },
    { .name = NULL }
};
static const cw_procedure_t s_set_primary_procedure = {
    .name = "cluster.set_primary", .steps = s_set_primary_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};

static cw_reply_status_t
s_set_primary (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_proc_env_t *env = arg;
    cw_cluster_t *core = env->core;
    const char *command = "cluster.set_primary";
    if (!cw_proc_clustered (core))
        return cw_proc_refuse (reply, cw_error_body ("%s: this node is not in a cluster", command));
    cw_cluster_settings_t s;
    cw_proc_stored (core, &s);
    json_t *jindex = json_object_get (args, "index");
    int n = json_is_integer (jindex) ? (int) json_integer_value (jindex)
          : json_is_string (jindex)  ? atoi (json_string_value (jindex))
                                     : 0;
    if (n < 1 || n > s.peer_count)
        return cw_proc_refuse (reply, cw_error_body ("%s: index must be a peer's index, 1..%d", command, s.peer_count));
    int primary = cw_cluster_effective (core)->primary;
    bool primary_alive = cw_cluster_peer_alive (core, primary);
    if (!cw_cluster_is_primary (core) && primary_alive)
        return cw_proc_refuse (reply, cw_membership_primary_check (core, command));
    if (n == primary && n == s.primary)
        return cw_proc_refuse (reply, cw_error_body ("%s: peer %d is already the configuration primary", command, n));
    const char *address = s.peers [n - 1];
    if (n != cw_proc_own_index (core, &s) && !s_reachable (core, address))
        return cw_proc_refuse (reply, cw_error_body ("%s: peer %d (%s) is not alive; only a live peer can "
                                                     "become the primary",
                                                     command, n, address));
    json_t *error = s_settled_check (core, command, args, primary_alive ? NULL : cw_proc_address (core, primary));
    if (error)
        return cw_proc_refuse (reply, error);
    s_op_t *op = s_op_new (env, req, command, &s);
    op->after.primary = n;
    op->new_primary = n;
    cw_copy (op->subject, sizeof op->subject, address);
    cw_info ("cluster: set_primary: peer %d (%s) becomes the primary (was %d)", n, address, primary);
    return cw_proc_start (env->engine, &s_set_primary_procedure, op, NULL, reply);
}

// ---------------------------------------------------------------------------
//  cluster.disband

//  The local tms actor's answer, handed to the engine
static void
s_on_provisioning_stopped (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_engine_deliver (arg, ok, body);
}

//  The guide disbands with provisioning stopped: ask this node's tms actor
static cw_step_result_t
s_disband_stop_provisioning (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    void *token = cw_engine_expect (engine, 0, S_TAG_OTHER);
    if (!token) {
        cw_copy (op->provisioning, sizeof op->provisioning, "not asked: too many calls in flight");
        return CW_STEP_NEXT;
    }
    cw_actor_request (cw_cluster_actor (op->request.env->core), "tms", "tms.provisioning.stop", NULL,
                      s_on_provisioning_stopped, token, S_CALL_MS);
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_disband_on_provisioning (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    (void) engine;
    (void) peer;
    (void) tag;
    s_op_t *op = ctx;
    const char *error = cw_jtext (json, "error");
    if (ok)
        cw_copy (op->provisioning, sizeof op->provisioning, "stopped");
    else if (strstr (error, "no actor named") || strstr (error, "is not running"))
        cw_copy (op->provisioning, sizeof op->provisioning, "tms not running");
    else
        snprintf (op->provisioning, sizeof op->provisioning, "not stopped: %.150s", *error ? error : "no answer");
    cw_info ("cluster: disband: provisioning %s", op->provisioning);
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_disband_reset (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    cw_cluster_settings_t s;
    cw_proc_stored (op->request.env->core, &s);
    int own = cw_proc_own_index (op->request.env->core, &s);
    cw_info ("cluster: disband: removing %d subordinates reset_primary=%s", s.peer_count - 1,
             op->reset_primary ? "yes" : "no");
    for (int i = 0; i < s.peer_count; i++) {
        if (i + 1 == own)
            continue;
        if (s_op_call (op, s.peers [i], json_pack ("{s:[], s:b}", "peers", "restart", true), S_TAG_OTHER) != 0) {
            cw_info ("cluster: disband: peer %d (%s) is unreachable: dropped without a reset", i + 1, s.peers [i]);
            json_array_append_new (op->dropped, json_string (s.peers [i]));
        }
    }
    return s_op_sent (engine);
}

static cw_step_result_t
s_disband_finish (cw_engine_t *engine, void *ctx)
{
    s_op_t *op = ctx;
    //  s_op_on_reply put every subordinate in reached / unreached
    size_t i;
    json_t *item;
    json_array_foreach (op->reached, i, item)
        json_array_append (op->reset, item);
    json_array_foreach (op->unreached, i, item)
        json_array_append (op->not_reset, item);
    json_array_clear (op->reached);
    json_array_clear (op->unreached);
    //  Subordinates that did not take the reset are dropped all the same
    json_t *removed = json_array ();
    json_array_extend (removed, op->reset);
    json_array_extend (removed, op->dropped);
    json_array_foreach (op->not_reset, i, item)
        json_array_append (removed, json_object_get (item, "address"));
    json_t *body = json_pack ("{s:o, s:O, s:O, s:b, s:s}", "removed", removed, "reset", op->reset, "dropped",
                              op->dropped, "reset_primary", op->reset_primary, "provisioning", op->provisioning);
    if (json_array_size (op->not_reset)) {
        json_object_set (body, "not_reset", op->not_reset);
        json_object_set_new (body, "message",
                             json_string ("some peers did not take the reset: clear their "
                                          "peer list and restart them by hand"));
    }
    //  The primary: a cluster of one, or the factory reset too
    return s_op_finish (engine, op, body);
}

static const cw_step_t s_disband_steps [] = {
    { .name = "stop provisioning", .enter = s_disband_stop_provisioning, .on_reply = s_disband_on_provisioning },
    { .name = "reset the subordinates", .enter = s_disband_reset, .on_reply = s_op_on_reply },
    { .name = "store and answer", .enter = s_disband_finish },
    { .name = NULL }
};
static const cw_procedure_t s_disband_procedure = {
    .name = "cluster.disband", .steps = s_disband_steps, .on_end = cw_proc_end_answer, .free_ctx = s_op_free
};

static cw_reply_status_t
s_disband (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_proc_env_t *env = arg;
    const char *command = "cluster.disband";
    cw_cluster_settings_t s;
    cw_proc_stored (env->core, &s);
    int own = cw_proc_own_index (env->core, &s);
    if (!own)
        return cw_proc_refuse (reply, cw_error_body ("%s: this node is not in its stored peer list", command));
    json_t *error = s_settled_check (env->core, command, args, NULL);
    if (error)
        return cw_proc_refuse (reply, error);
    s_op_t *op = s_op_new (env, req, command, &s);
    op->reset_primary = json_is_true (json_object_get (args, "reset_primary"));
    memset (op->after.peers, 0, sizeof op->after.peers);
    op->after.peer_count = 0;
    op->after.primary = 1;
    if (!op->reset_primary) {
        cw_copy (op->after.peers [0], sizeof op->after.peers [0], s.peers [own - 1]);
        op->after.peer_count = 1;
    }
    return cw_proc_start (env->engine, &s_disband_procedure, op, NULL, reply);
}

// ---------------------------------------------------------------------------
//  Peer command: cluster.apply_settings

//  The clustering keys present in ARGS, normalised into NORMAL[5] (new).
//  Returns how many, or -1 with ERR.
static int
s_apply_values (json_t *args, json_t *normal [5], char *err, size_t errlen)
{
    static const char *names [] = { "name", "primary", "ip_version", "tls_verify", "peers" };
    static const char *keys [] = { "cluster.name", "cluster.primary", "cluster.ip_version", "cluster.tls_verify",
                                   "cluster.peers" };
    int count = 0;
    for (int i = 0; i < 5; i++) {
        json_t *value = json_object_get (args, names [i]);
        normal [i] = NULL;
        if (!value)
            continue;
        if (json_is_integer (value) && i == 2) {
            char text [8];
            snprintf (text, sizeof text, "%d", (int) json_integer_value (value));
            normal [i] = json_string (text);
        }
        else {
            const cw_config_key_t *key = cw_registry_lookup (keys [i]);
            normal [i] = key ? cw_registry_normalize (key, value, err, errlen) : NULL;
        }
        if (!normal [i]) {
            for (int j = 0; j < i; j++)
                json_decref (normal [j]);
            return -1;
        }
        count++;
    }
    return count;
}

static void
s_apply_settings (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    (void) arg;
    int sender = cw_cluster_sender (core, target);
    int primary = cw_cluster_effective (core)->primary;
    if (target->remote && sender != primary && cw_cluster_peer_alive (core, primary)) {
        cw_warn ("cluster: refused clustering settings from peer %d: it is not the primary (peer %d)", sender, primary);
        cw_cluster_answer (core, target, false,
                           cw_error_body ("peer %d takes clustering settings only from its configuration "
                                          "primary, peer %d",
                                          cw_cluster_this_peer (core), primary));
        return;
    }
    static const char *keys [] = { "cluster.name", "cluster.primary", "cluster.ip_version", "cluster.tls_verify",
                                   "cluster.peers" };
    json_t *normal [5];
    char err [512];
    int count = s_apply_values (args, normal, err, sizeof err);
    if (count < 0) {
        cw_cluster_answer (core, target, false, cw_error_body ("%s", err));
        return;
    }
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        if (normal [i] && rc == 0)
            rc = cw_proc_set_key (core, keys [i], normal [i], err, sizeof err);
        json_decref (normal [i]);
    }
    if (rc) {
        cw_cluster_answer (core, target, false, cw_error_body ("%s", err));
        return;
    }
    cw_cluster_settings_t stored;
    cw_proc_stored (core, &stored);
    json_t *jrestart = json_object_get (args, "restart");
    bool restart = json_is_boolean (jrestart) ? json_is_true (jrestart) : s_needs_restart (core, &stored);
    cw_info ("cluster: clustering settings from peer %d stored peers=%d primary=%d restart=%s%s", sender,
             stored.peer_count, stored.primary, restart ? "yes" : "no",
             stored.peer_count == 0 ? " (left the cluster: factory reset at restart)" : "");
    json_t *body = json_pack ("{s:b, s:b, s:b}", "applied", true, "changed", count > 0, "restarting", restart);
    if (restart)
        cw_proc_answer_and_restart (core, target, body);
    else
        cw_cluster_answer (core, target, true, body);
}

// ---------------------------------------------------------------------------
//  Tables

const cw_command_t cw_membership_commands [] = {
    { "cluster.form", s_form, 0, "make this node a cluster of one and restart" },
    { "cluster.token", s_token, CW_CMD_PRIMARY_ONLY, "add a peer and make a one-time join token for it" },
    { "cluster.add", s_add, CW_CMD_PRIMARY_ONLY, "add a peer to the cluster's peer list" },
    { "cluster.remove", s_remove, CW_CMD_PRIMARY_ONLY, "remove a peer (reset it when it is live)" },
    { "cluster.replace", s_replace, CW_CMD_PRIMARY_ONLY, "replace a peer by another address" },
    { "cluster.set_primary", s_set_primary, 0, "make another peer the configuration primary" },
    { "cluster.disband", s_disband, CW_CMD_PRIMARY_ONLY, "remove every subordinate from the cluster" },
    { NULL, NULL, 0, NULL }
};

const cw_peer_command_t cw_membership_peer_commands [] = { { "cluster.apply_settings", s_apply_settings },
                                                           { NULL, NULL } };
