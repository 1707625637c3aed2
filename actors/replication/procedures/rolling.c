/*  rolling.c - the rolling procedures of the guide, run as one command on
    the configuration primary: one peer at a time, each restarting, the
    primary last.

      cluster.use_fqdns {}     the guide's "move a cluster from IP addresses
             to FQDNs": one peer address at a time, on every peer,
             restarting that peer, waiting for it, the primary last.
      cluster.enforce_tls {}   every peer address must be an FQDN, every
             peer alive and its certificate pass the links' own rule
             (link/cert.h: chain to its CAs and to ours, a SAN naming its
             FQDN); then each subordinate in turn gets
             cluster.tls_verify=enforce and restarts, the primary last.
          Both answer at once with the plan ({"plan", "started": true,
          "message"}) and run on the engine in the background.
      cluster.use_fqdns_status / cluster.enforce_tls_status
          the progress (engine.h's status): {"procedure", "state":
          idle|running|done|failed, "step", "steps": [{peer, address, to,
          state, detail}], "log", "error"}. The outcome of the last run is
          kept in config.db, so it is still there after the primary's own
          restart ("finished_at"). While one runs, or the primary restarts
          to finish one, a new one is refused.

    Peer commands:
      cluster.cert_check {fqdn}  -> {"ok", "reason", "names", "certificate"}
          this peer's peering.certificate checked against its own
          peering.ca_file and FQDN (cw_cert_check).
      cluster.fqdn_probe {}      -> {"boot_id", "peers", "tls_verify",
          "this_peer", "primary"}: the settings in effect and the id of
          this start, so the primary sees that a peer restarted and took a
          change.

    The steps of one peer, repeated for each peer of the plan:
      settle   every peer alive and settled (30 s);
      probe    learn the peer's boot id (30 s);
      push     cluster.apply_settings {peers | tls_verify, restart} to the
               peers (use_fqdns: all, the peer of the step restarting;
               enforce_tls: that peer);
      local    use_fqdns: the new list on this node (applied live);
      restart  the peer comes back with a new boot id and the change (90 s);
      alive    ... and is alive and in sync again (60 s), then the next peer.
    The primary's own step saves the change and restarts this node.
*/
#include "rolling.h"
#include "cert.h"
#include "cw_text.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_PROBE_EVERY_MS 500
#define S_CALL_MS 2500        //  a peer call (the control relay waits 2x request_timeout)
#define S_RESTART_MS 90000    //  a peer restarts and takes its change
#define S_ALIVE_MS 60000      //  ... and is alive and in sync again
#define S_SETTLE_MS 30000     //  every peer alive before a step starts

typedef struct {
    cw_proc_env_t *env;
    bool use_fqdns;    //  else enforce_tls
    int peer;          //  the peer of the current plan item
    char old_boot [64];
    bool probe_out;
    int64_t next_probe;
    char push_error [512];
    bool restart_self;                        //  the primary's own step is done
    char list [CW_CLUSTER_MAX_PEERS][256];    //  use_fqdns: the peer list so far
    int count;
    char fqdn [CW_CLUSTER_MAX_PEERS][256];    //  use_fqdns: each peer's FQDN
} s_roll_t;

static bool
s_is_ip (const char *address)
{
    char canon [64];
    return cw_valid_ip (address, canon);
}

static json_t *
s_list_json (s_roll_t *roll)
{
    json_t *list = json_array ();
    for (int i = 0; i < roll->count; i++)
        json_array_append_new (list, json_string (roll->list [i]));
    return list;
}

static int
s_plan_peer (cw_engine_t *engine)
{
    return (int) json_integer_value (json_object_get (cw_engine_plan_item (engine), "peer"));
}

//  The check of every tick: this node must still be the primary.
static bool
s_still_primary (cw_engine_t *engine, s_roll_t *roll)
{
    if (cw_cluster_is_primary (roll->env->core))
        return true;
    cw_engine_fail (engine, "this node is no longer the configuration primary");
    return false;
}

//  Ask peer P for its boot id and settings (once at a time).
static void
s_probe (cw_engine_t *engine, s_roll_t *roll)
{
    if (!roll->probe_out
        && cw_engine_call (engine, roll->peer, 0, cw_proc_control ("cluster.fqdn_probe", json_object ()), S_CALL_MS)
               == 0)
        roll->probe_out = true;
}

// ---------------------------------------------------------------------------
//  The steps

static cw_step_result_t
s_wait (cw_engine_t *engine, void *ctx)
{
    (void) engine;
    (void) ctx;
    return CW_STEP_WAIT;
}

//  This node's own step (the last): save; the node restarts at the end.
static cw_step_result_t
s_own_step (cw_engine_t *engine, s_roll_t *roll)
{
    cw_cluster_t *core = roll->env->core;
    char err [512];
    json_t *value = roll->use_fqdns ? s_list_json (roll) : json_string ("enforce");
    int rc = cw_proc_set_key (core, roll->use_fqdns ? "cluster.peers" : "cluster.tls_verify", value, err, sizeof err);
    json_decref (value);
    if (rc) {
        cw_engine_fail (engine, "cannot save the change on this node: %s", err);
        return CW_STEP_FAIL;
    }
    cw_engine_plan_state (engine, "done", "saved; this primary restarted");
    cw_engine_log (engine, "saved on this node (peer %d); restarting this primary", cw_cluster_this_peer (core));
    roll->restart_self = true;
    return CW_STEP_DONE;
}

static cw_step_result_t
s_settle_tick (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    cw_cluster_t *core = roll->env->core;
    if (!s_still_primary (engine, roll))
        return CW_STEP_FAIL;
    char why [512];
    cw_proc_not_settled (core, true, why, sizeof why);
    if (*why)
        return CW_STEP_WAIT;
    int p = roll->peer;
    cw_engine_plan_state (engine, "running", "");
    if (roll->use_fqdns && p >= 1 && p <= roll->count)
        cw_copy (roll->list [p - 1], sizeof roll->list [0], roll->fqdn [p - 1]);
    if (p == cw_cluster_this_peer (core) && !roll->use_fqdns)
        return s_own_step (engine, roll);
    if (p == cw_cluster_this_peer (core))
        cw_engine_goto (engine, "push");
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_settle_timeout (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    char why [512];
    cw_proc_not_settled (roll->env->core, true, why, sizeof why);
    if (!*why)
        return s_settle_tick (engine, ctx);
    cw_engine_fail (engine, "before the step of peer %d: %s", roll->peer, why);
    return CW_STEP_FAIL;
}

static cw_step_result_t
s_probe_enter (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    roll->probe_out = false;
    s_probe (engine, roll);
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_probe_tick (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    if (!s_still_primary (engine, roll))
        return CW_STEP_FAIL;
    s_probe (engine, roll);
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_probe_reply (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    (void) engine;
    (void) peer;
    (void) tag;
    s_roll_t *roll = ctx;
    roll->probe_out = false;
    if (!ok)
        return CW_STEP_WAIT;    //  asked again on a later tick
    cw_copy (roll->old_boot, sizeof roll->old_boot, cw_jtext (json, "boot_id"));
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_probe_timeout (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    cw_engine_fail (engine, "peer %d (%s) does not answer", roll->peer, cw_proc_address (roll->env->core, roll->peer));
    return CW_STEP_FAIL;
}

//  The push answered: fail, the primary's own step, or on.
static cw_step_result_t
s_push_done (cw_engine_t *engine, s_roll_t *roll)
{
    if (cw_engine_calls_out (engine) > 0)
        return CW_STEP_WAIT;
    if (*roll->push_error) {
        cw_engine_fail (engine, "%s", roll->push_error);
        return CW_STEP_FAIL;
    }
    if (roll->peer == cw_cluster_this_peer (roll->env->core))
        return s_own_step (engine, roll);
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_push_enter (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    cw_cluster_t *core = roll->env->core;
    int p = roll->peer;
    roll->push_error [0] = 0;
    for (int j = 1; j <= cw_cluster_effective (core)->peer_count; j++) {
        if (j == cw_cluster_this_peer (core) || (!roll->use_fqdns && j != p))
            continue;
        bool restart = j == p;
        json_t *args = roll->use_fqdns ? json_pack ("{s:o, s:b}", "peers", s_list_json (roll), "restart", restart)
                                       : json_pack ("{s:s, s:b}", "tls_verify", "enforce", "restart", restart);
        if (cw_engine_call (engine, j, 0, cw_proc_control ("cluster.apply_settings", args), S_CALL_MS) != 0) {
            cw_engine_fail (engine,
                            "cannot reach peer %d (%s) to push the settings; the peers pushed so far already "
                            "saved them: run `causeway cluster use-fqdns` again when it is back",
                            j, cw_proc_address (core, j));
            return CW_STEP_FAIL;
        }
    }
    if (roll->use_fqdns)
        cw_engine_log (engine, "peer list %s pushed to the other peers (peer %d restarts)", roll->list [p - 1], p);
    else
        cw_engine_log (engine, "cluster.tls_verify=enforce pushed to peer %d (%s), which restarts", p,
                       cw_proc_address (core, p));
    return s_push_done (engine, roll);
}

static cw_step_result_t
s_push_reply (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    (void) tag;
    s_roll_t *roll = ctx;
    const char *address = cw_proc_address (roll->env->core, peer);
    if (ok)
        cw_engine_log (engine, "peer %d (%s) saved the settings%s", peer, address,
                       peer == roll->peer ? " and restarts" : "");
    else if (peer == roll->peer)
        //  It may have gone down before its answer: its restart tells
        cw_engine_log (engine, "peer %d (%s) did not confirm (%s); waiting for its restart", peer, address,
                       cw_jtext (json, "error"));
    else if (!*roll->push_error)
        snprintf (roll->push_error, sizeof roll->push_error, "peer %d (%s) did not take the settings: %.300s", peer,
                  address, cw_jtext (json, "error"));
    return s_push_done (engine, roll);
}

static cw_step_result_t
s_local_enter (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    if (roll->use_fqdns) {
        char err [512];
        json_t *list = s_list_json (roll);
        int rc = cw_proc_set_key (roll->env->core, "cluster.peers", list, err, sizeof err);
        json_decref (list);
        if (rc) {
            cw_engine_fail (engine, "cannot save the peer list on this node: %s", err);
            return CW_STEP_FAIL;
        }
        cw_engine_log (engine, "peer list saved on this node (applied live)");
    }
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_restart_enter (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    roll->next_probe = cw_engine_now (engine) + S_PROBE_EVERY_MS;
    roll->probe_out = false;
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_restart_tick (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    if (!s_still_primary (engine, roll))
        return CW_STEP_FAIL;
    int64_t now = cw_engine_now (engine);
    if (!roll->probe_out && now >= roll->next_probe) {
        roll->next_probe = now + S_PROBE_EVERY_MS;
        s_probe (engine, roll);
    }
    return CW_STEP_WAIT;
}

//  A probe answered while the peer restarts: a new start of the peer, and
//  did it take the change?
static cw_step_result_t
s_restart_reply (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    (void) tag;
    s_roll_t *roll = ctx;
    roll->probe_out = false;
    const char *boot = cw_jtext (json, "boot_id");
    if (!ok || !*boot || strcmp (boot, roll->old_boot) == 0)
        return CW_STEP_WAIT;
    bool taken;
    if (roll->use_fqdns) {
        json_t *peers = json_object_get (json, "peers");
        const char *address = json_string_value (json_array_get (peers, (size_t) peer - 1));
        taken = address && strcasecmp (address, roll->fqdn [peer - 1]) == 0;
    }
    else
        taken = strcmp (cw_jtext (json, "tls_verify"), "enforce") == 0;
    const char *address = cw_proc_address (roll->env->core, peer);
    if (!taken) {
        cw_engine_fail (engine,
                        "peer %d (%s) restarted without taking the change (its settings in effect: %s); "
                        "check `causeway config get cluster.peers` and `cluster.tls_verify` on it",
                        peer, address, roll->use_fqdns ? "an unchanged peer list" : cw_jtext (json, "tls_verify"));
        return CW_STEP_FAIL;
    }
    cw_engine_log (engine, "peer %d (%s) restarted with the change", peer, address);
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_restart_timeout (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    int p = roll->peer;
    cw_engine_fail (engine,
                    "peer %d (%s) did not come back with the change within %d s; check it "
                    "(`causeway cluster status` there) and run the command again",
                    p, roll->use_fqdns ? roll->fqdn [p - 1] : cw_proc_address (roll->env->core, p),
                    S_RESTART_MS / 1000);
    return CW_STEP_FAIL;
}

//  Why the peer of the step is not active again with the change ("" when it is).
static void
s_not_back (s_roll_t *roll, char *why, size_t size)
{
    cw_cluster_t *core = roll->env->core;
    int p = roll->peer;
    cw_proc_not_settled (core, true, why, size);
    if (!*why && roll->use_fqdns && strcasecmp (cw_proc_address (core, p), roll->fqdn [p - 1]) != 0)
        snprintf (why, size, "the new list is not in effect here");
}

static cw_step_result_t
s_alive_tick (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    if (!s_still_primary (engine, roll))
        return CW_STEP_FAIL;
    char why [512];
    s_not_back (roll, why, sizeof why);
    if (*why)
        return CW_STEP_WAIT;
    cw_engine_plan_state (engine, "done", "");
    cw_engine_log (engine, "peer %d (%s) is active again", roll->peer, cw_proc_address (roll->env->core, roll->peer));
    if (!cw_engine_plan_next (engine))
        return CW_STEP_DONE;
    roll->peer = s_plan_peer (engine);
    cw_engine_goto (engine, "settle");
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_alive_timeout (cw_engine_t *engine, void *ctx)
{
    s_roll_t *roll = ctx;
    char why [512];
    s_not_back (roll, why, sizeof why);
    if (!*why)
        return s_alive_tick (engine, ctx);
    cw_engine_fail (engine, "after the restart of peer %d: %s", roll->peer, why);
    return CW_STEP_FAIL;
}

static void
s_roll_end (cw_engine_t *engine, void *ctx, bool ok, const char *error)
{
    (void) error;
    s_roll_t *roll = ctx;
    if (ok && roll->restart_self) {
        cw_engine_hold (engine);
        cw_cluster_request_restart (roll->env->core);
    }
}

static const cw_step_t s_roll_steps [] = {
    { "settle", s_wait, NULL, s_settle_tick, S_SETTLE_MS, s_settle_timeout },
    { "probe", s_probe_enter, s_probe_reply, s_probe_tick, S_SETTLE_MS, s_probe_timeout },
    { "push", s_push_enter, s_push_reply, NULL, 0, NULL },
    { "local", s_local_enter, NULL, NULL, 0, NULL },
    { "restart", s_restart_enter, s_restart_reply, s_restart_tick, S_RESTART_MS, s_restart_timeout },
    { "alive", s_wait, NULL, s_alive_tick, S_ALIVE_MS, s_alive_timeout },
    { NULL, NULL, NULL, NULL, 0, NULL }
};
static const cw_procedure_t s_use_fqdns_procedure = {
    .name = "use_fqdns", .steps = s_roll_steps, .keep_status = true, .on_end = s_roll_end, .free_ctx = free
};
static const cw_procedure_t s_enforce_tls_procedure = {
    .name = "enforce_tls", .steps = s_roll_steps, .keep_status = true, .on_end = s_roll_end, .free_ctx = free
};

//  Start a rolling procedure with ROLL (taken) and PLAN (the visible steps,
//  stolen). 0, or -1 with ERR.
static int
s_roll_start (cw_proc_env_t *env, s_roll_t *roll, json_t *plan, char *err, size_t errlen)
{
    roll->env = env;
    roll->peer = (int) json_integer_value (json_object_get (json_array_get (plan, 0), "peer"));
    return cw_engine_start (env->engine, roll->use_fqdns ? &s_use_fqdns_procedure : &s_enforce_tls_procedure, roll,
                            plan, err, errlen);
}

//  A visible step of the plan: PEER from its address to TO.
static json_t *
s_plan_item (cw_cluster_t *core, int peer, const char *to)
{
    return json_pack ("{s:i, s:s, s:s, s:s, s:s}", "peer", peer, "address", cw_proc_address (core, peer), "to", to,
                      "state", "pending", "detail", "");
}

//  The step order: every peer in index order, this primary last.
static int
s_order (cw_cluster_t *core, int *order)
{
    int n = 0;
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++)
        if (i != cw_cluster_this_peer (core))
            order [n++] = i;
    order [n++] = cw_cluster_this_peer (core);
    return n;
}

// ---------------------------------------------------------------------------
//  cluster.use_fqdns

//  Peer I's FQDN into ROLL->fqdn, or why it cannot be used into PROBLEMS.
static void
s_fqdn_of (cw_cluster_t *core, const cw_mapping_t *mapping, int i, s_roll_t *roll, char *problems, size_t size)
{
    char fqdn [520], ip [64], want [64], via [256], reason [512] = "", fix [512] = "";
    if (cw_proc_peer_fqdn (core, i, fqdn, sizeof fqdn, reason, sizeof reason, fix, sizeof fix) != 0)
        ;
    else if (strlen (fqdn) >= sizeof roll->fqdn [0])
        snprintf (reason, sizeof reason, "peer %d's FQDN %.80s... is too long", i, fqdn);
    else if (cw_proc_peer_ip (core, mapping, i, want, sizeof want, reason, sizeof reason) != 0)
        snprintf (fix, sizeof fix, "check cluster.peers");
    else if (cw_proc_resolve (core, mapping, fqdn, ip, sizeof ip, via, sizeof via) != 0) {
        snprintf (reason, sizeof reason, "peer %d's FQDN: %.300s", i, via);
        snprintf (fix, sizeof fix,
                  "add %.250s=%s to the address mapping (`causeway cluster suggest-mappings "
                  "--apply`) or to DNS",
                  fqdn, want);
    }
    else if (strcmp (ip, want) != 0) {
        snprintf (reason, sizeof reason, "peer %d's FQDN %.250s resolves (%.60s) to %s, not to its address %s", i, fqdn,
                  via, ip, want);
        snprintf (fix, sizeof fix, "correct the address mapping or DNS for %.250s", fqdn);
    }
    for (int j = 1; j < i && !*reason; j++)
        if (strcasecmp (roll->fqdn [j - 1], fqdn) == 0) {
            snprintf (reason, sizeof reason, "peers %d and %d have the same FQDN %.250s", j, i, fqdn);
            snprintf (fix, sizeof fix, "give each peer its own dns.hostname");
        }
    if (*reason) {
        size_t used = strlen (problems);
        snprintf (problems + used, size - used, "%s%s (fix: %s)", used ? "; " : "", reason, fix);
    }
    else
        cw_copy (roll->fqdn [i - 1], sizeof roll->fqdn [i - 1], fqdn);
}

//  Refusals of use_fqdns before the FQDNs are looked at: an error body,
//  a reply that nothing is to do (*REPLY set, NULL returned), or NULL.
static json_t *
s_use_fqdns_check (cw_proc_env_t *env, json_t **reply)
{
    cw_cluster_t *core = env->core;
    json_t *error = cw_engine_refusal (env->engine, "cluster use-fqdns");
    if (error)
        return error;
    int ips = 0;
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++)
        ips += s_is_ip (cw_proc_address (core, i));
    if (ips == 0) {
        *reply = json_pack ("{s:[], s:b, s:s}", "plan", "started", false, "message",
                            "every peer address is already an FQDN");
        return NULL;
    }
    char why [512];
    cw_proc_not_settled (core, false, why, sizeof why);
    if (*why)
        return cw_error_body ("cluster use-fqdns needs every peer active: %s; retry when `causeway "
                              "cluster status` shows every peer active",
                              why);
    cw_cluster_settings_t stored;
    cw_proc_stored (core, &stored);
    json_t *saved = cw_settings_json (&stored);
    json_t *in_effect = cw_settings_json (cw_cluster_effective (core));
    bool same = json_equal (saved, in_effect);
    json_decref (saved);
    json_decref (in_effect);
    if (!same)
        return cw_error_body ("the clustering settings saved on this node differ from those in effect; "
                              "restart it (`causeway restart`) or restore them before cluster use-fqdns");
    return NULL;
}

static cw_reply_status_t
s_use_fqdns (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_proc_env_t *env = arg;
    cw_cluster_t *core = env->core;
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    *reply = NULL;
    json_t *error = s_use_fqdns_check (env, reply);
    if (error || *reply)
        return error ? cw_proc_refuse (reply, error) : CW_REPLY_OK;
    cw_mapping_t mapping;
    cw_settings_mapping (cw_cluster_store (core), &mapping);
    s_roll_t *roll = calloc (1, sizeof *roll);
    roll->use_fqdns = true;
    char problems [3072] = "";
    for (int i = 1; i <= effective->peer_count; i++)
        s_fqdn_of (core, &mapping, i, roll, problems, sizeof problems);
    if (*problems) {
        free (roll);
        return cw_proc_refuse (reply, cw_error_body ("cluster use-fqdns refused: %s", problems));
    }
    //  The plan: one step per peer whose address is not yet its FQDN
    int order [CW_CLUSTER_MAX_PEERS];
    int n = s_order (core, order);
    json_t *steps = json_array ();
    json_t *plan = json_array ();
    char text [1536] = "";
    for (int k = 0; k < n; k++) {
        int i = order [k];
        const char *from = cw_proc_address (core, i);
        if (strcasecmp (from, roll->fqdn [i - 1]) == 0)
            continue;
        json_array_append_new (steps, s_plan_item (core, i, roll->fqdn [i - 1]));
        json_array_append_new (plan, json_pack ("{s:i, s:s, s:s, s:b}", "peer", i, "from", from, "to",
                                                roll->fqdn [i - 1], "restart", true));
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "%speer %d %s -> %s", used ? ", " : "", i, from, roll->fqdn [i - 1]);
    }
    if (json_array_size (steps) == 0) {
        json_decref (steps);
        free (roll);
        *reply = json_pack ("{s:o, s:b, s:s}", "plan", plan, "started", false, "message",
                            "every peer address is already its FQDN");
        return CW_REPLY_OK;
    }
    //  Each step replaces one slot: the list grows step by step
    for (int i = 0; i < effective->peer_count; i++)
        cw_copy (roll->list [i], sizeof roll->list [i], effective->peers [i]);
    roll->count = effective->peer_count;
    char err [768];
    if (s_roll_start (env, roll, steps, err, sizeof err)) {
        json_decref (plan);
        return cw_proc_refuse (reply, cw_error_body ("%s", err));
    }
    char message [2048];
    snprintf (message, sizeof message,
              "moving the peer list to FQDNs, one peer at a time (%s): each peer restarts after its change, "
              "this primary last. Follow it with `causeway cluster status` (and the control command "
              "cluster.use_fqdns_status)",
              text);
    *reply = json_pack ("{s:o, s:b, s:s}", "plan", plan, "started", true, "message", message);
    return CW_REPLY_OK;
}

// ---------------------------------------------------------------------------
//  cluster.enforce_tls: every certificate checked first (this peer's here,
//  the others' by cluster.cert_check, and theirs against our CAs too),
//  then the rolling procedure.

typedef struct {
    cw_proc_env_t *env;
    cw_reply_target_t target;
    json_t *checks;    //  [{peer, address, ok, reason}]
    int waiting;
} s_tls_t;

static void
s_tls_add (s_tls_t *tls, int peer, const char *address, bool ok, const char *reason)
{
    json_array_append_new (tls->checks, json_pack ("{s:i, s:s, s:b, s:s}", "peer", peer, "address", address, "ok", ok,
                                                   "reason", reason));
}

//  The checks that failed, as one text into FAILURES ("" none).
static void
s_tls_failures (s_tls_t *tls, char *failures, size_t size)
{
    failures [0] = 0;
    size_t i;
    json_t *check;
    json_array_foreach (tls->checks, i, check) {
        if (json_is_true (json_object_get (check, "ok")))
            continue;
        size_t used = strlen (failures);
        snprintf (failures + used, size - used, "%speer %d (%s): %s", used ? "; " : "",
                  (int) json_integer_value (json_object_get (check, "peer")), cw_jtext (check, "address"),
                  cw_jtext (check, "reason"));
    }
}

//  Every check answered: refuse, or start the procedure.
static void
s_tls_done (s_tls_t *tls)
{
    if (--tls->waiting > 0)
        return;
    cw_cluster_t *core = tls->env->core;
    char failures [3072];
    s_tls_failures (tls, failures, sizeof failures);
    json_t *body = cw_proc_primary_only (core, "cluster enforce-tls");
    if (!body)
        body = cw_engine_refusal (tls->env->engine, "cluster enforce-tls");
    if (!body && *failures)
        body = cw_error_body ("TLS verification not changed: with enforce these peers would be refused: "
                              "%s. Give each peer a certificate whose SAN names its address in the "
                              "peer list, signed by a CA every peer trusts",
                              failures);
    int order [CW_CLUSTER_MAX_PEERS];
    int n = body ? 0 : s_order (core, order);
    json_t *steps = json_array ();
    json_t *plan = json_array ();
    for (int k = 0; k < n; k++) {
        json_array_append_new (steps, s_plan_item (core, order [k], "enforce"));
        json_array_append_new (plan, json_pack ("{s:i, s:s, s:b}", "peer", order [k], "address",
                                                cw_proc_address (core, order [k]), "restart", true));
    }
    char err [768];
    if (!body && s_roll_start (tls->env, calloc (1, sizeof (s_roll_t)), steps, err, sizeof err))
        body = cw_error_body ("%s", err);
    else if (body)
        json_decref (steps);
    if (body) {
        json_decref (plan);
        json_object_set_new (body, "checks", tls->checks);
        cw_cluster_answer (core, &tls->target, false, body);
    }
    else
        cw_cluster_answer (core, &tls->target, true,
                           json_pack ("{s:o, s:b, s:o, s:s}", "plan", plan, "started", true, "checks", tls->checks,
                                      "message",
                                      "every certificate passed; switching TLS verification to enforce "
                                      "one peer at a time (each restarts, this primary last). Follow it with "
                                      "`causeway cluster status` (and the control command "
                                      "cluster.enforce_tls_status)"));
    free (tls);
}

static void
s_on_cert_checked (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_tls_t *tls = arg;
    const char *address = cw_proc_address (core, peer);
    const char *ca_file = cw_cluster_boot (core)->peering.ca_file;
    if (!ok)
        s_tls_add (tls, peer, address, false,
                   json_object_get (json, "error") ? cw_jtext (json, "error")
                                                   : "the certificate check failed on that peer");
    else if (!json_is_true (json_object_get (json, "ok")))
        s_tls_add (tls, peer, address, false, cw_jtext (json, "reason"));
    else {
        //  Its certificate must also chain to the CAs this peer trusts
        const char *pem = cw_jtext (json, "certificate");
        json_t *here = *pem ? cw_cert_check (NULL, pem, ca_file, address, false) : NULL;
        if (here && !json_is_true (json_object_get (here, "ok"))) {
            char reason [600];
            snprintf (reason, sizeof reason, "not trusted by the primary: %s", cw_jtext (here, "reason"));
            s_tls_add (tls, peer, address, false, reason);
        }
        else
            s_tls_add (tls, peer, address, true, "ok");
        json_decref (here);
    }
    s_tls_done (tls);
}

//  Refusals of enforce_tls before the certificates are checked: an error
//  body, a reply that nothing is to do (*REPLY set, NULL returned), or NULL.
static json_t *
s_enforce_tls_check (cw_proc_env_t *env, json_t **reply)
{
    cw_cluster_t *core = env->core;
    json_t *error = cw_engine_refusal (env->engine, "cluster enforce-tls");
    if (error)
        return error;
    cw_cluster_settings_t stored;
    cw_proc_stored (core, &stored);
    if (strcmp (cw_cluster_effective (core)->tls_verify, "enforce") == 0
        && strcmp (stored.tls_verify, "enforce") == 0) {
        *reply = json_pack ("{s:b, s:s}", "started", false, "message", "TLS verification is already enforce");
        return NULL;
    }
    char ips [1024] = "";
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++)
        if (s_is_ip (cw_proc_address (core, i))) {
            size_t used = strlen (ips);
            snprintf (ips + used, sizeof ips - used, "%speer %d (%s)", used ? ", " : "", i, cw_proc_address (core, i));
        }
    if (*ips)
        return cw_error_body ("TLS verification not changed: enforce needs every peer address to be the FQDN "
                              "in its certificate, and these are IP addresses: %s; run `causeway cluster "
                              "use-fqdns` first",
                              ips);
    char why [512];
    cw_proc_not_settled (core, false, why, sizeof why);
    if (*why)
        return cw_error_body ("TLS verification not changed: every peer must be active to check its "
                              "certificate, and %s",
                              why);
    return NULL;
}

static cw_reply_status_t
s_enforce_tls (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) args;
    cw_proc_env_t *env = arg;
    cw_cluster_t *core = env->core;
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    *reply = NULL;
    json_t *error = s_enforce_tls_check (env, reply);
    if (error || *reply)
        return error ? cw_proc_refuse (reply, error) : CW_REPLY_OK;
    s_tls_t *tls = calloc (1, sizeof *tls);
    tls->env = env;
    tls->target = cw_proc_target (req);
    tls->checks = json_array ();
    tls->waiting = 1;
    for (int i = 1; i <= cw_cluster_effective (core)->peer_count; i++) {
        const char *address = cw_proc_address (core, i);
        if (i == cw_cluster_this_peer (core)) {
            json_t *mine = cw_cert_check (boot->peering.certificate, NULL, boot->peering.ca_file, address, false);
            s_tls_add (tls, i, address, json_is_true (json_object_get (mine, "ok")), cw_jtext (mine, "reason"));
            json_decref (mine);
            continue;
        }
        json_t *call = cw_proc_control ("cluster.cert_check", json_pack ("{s:s}", "fqdn", address));
        if (cw_cluster_peer_call (core, i, call, NULL, 0, s_on_cert_checked, tls, S_CALL_MS) == 0)
            tls->waiting++;
        else
            s_tls_add (tls, i, address, false, "unreachable: its certificate could not be checked");
    }
    s_tls_done (tls);
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  Status and peer commands

//  cluster.use_fqdns_status and cluster.enforce_tls_status: the status of
//  the procedure the command names.
static cw_reply_status_t
s_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) args;
    char procedure [64];
    const char *name = req->command + strlen ("cluster.");
    snprintf (procedure, sizeof procedure, "%.*s", (int) (strlen (name) - strlen ("_status")), name);
    for (char *p = procedure; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    *reply = cw_engine_status (((cw_proc_env_t *) arg)->engine, procedure);
    return CW_REPLY_OK;
}

static void
s_cert_check (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    (void) arg;
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    const char *fqdn = cw_jtext (args, "fqdn");
    json_t *result = cw_cert_check (boot->peering.certificate, NULL, boot->peering.ca_file, fqdn, true);
    cw_info ("cluster: certificate check for %s: %s", fqdn, cw_jtext (result, "reason"));
    cw_cluster_answer (core, target, true, result);
}

static void
s_fqdn_probe (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    (void) args;
    (void) arg;
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    cw_cluster_answer (core, target, true,
                       json_pack ("{s:s, s:o, s:s, s:i, s:i}", "boot_id", cw_cluster_boot_id (core), "peers",
                                  cw_settings_peers_json (effective), "tls_verify", effective->tls_verify, "this_peer",
                                  cw_cluster_this_peer (core), "primary", effective->primary));
}

json_t *
cw_rolling_primary_check (cw_cluster_t *core, const char *command)
{
    return cw_proc_primary_only (core, strcmp (command, "cluster.use_fqdns") == 0 ? "cluster use-fqdns"
                                                                                  : "cluster enforce-tls");
}

// ---------------------------------------------------------------------------
//  Tables

const cw_command_t cw_rolling_commands [] = {
    { "cluster.use_fqdns", s_use_fqdns, CW_CMD_PRIMARY_ONLY, "move the peer list to FQDNs, one peer at a time" },
    { "cluster.enforce_tls", s_enforce_tls, CW_CMD_PRIMARY_ONLY,
      "switch TLS verification to enforce, one peer at a time" },
    { "cluster.use_fqdns_status", s_status, 0, "progress of cluster.use_fqdns" },
    { "cluster.enforce_tls_status", s_status, 0, "progress of cluster.enforce_tls" },
    { NULL, NULL, 0, NULL }
};

const cw_peer_command_t cw_rolling_peer_commands [] = { { "cluster.cert_check", s_cert_check },
                                                        { "cluster.fqdn_probe", s_fqdn_probe },
                                                        { NULL, NULL } };
