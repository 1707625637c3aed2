/*  cluster_procedures.c - the orchestrated membership procedures of
    `causeway cluster ...` (issue #3 section 3, SPEC section 4).

    Each command performs, from one node, the steps the guide has an
    administrator do by hand on every peer, in the guide's order:

      cluster.form {name?, ip_version?, tls_verify?}       procedure 1
          on a node that is not clustered: the clustering settings of a
          cluster of one (peer 1 = peering.address, primary 1); restart.
      cluster.token {address, ttl_s?}                      procedure 2, part 1
          on the primary: add ADDRESS at the first empty slot (pushed to
          every live subordinate) and make a one-time join token that pins
          the primary's certificate.
      cluster.join {primary, token}                        procedure 2, part 2
          on the new node: check the token, connect to the primary over TLS
          (bound to peering.address), compare the primary's certificate
          with the token's fingerprint, redeem the token (once), take the
          clustering settings of the token; restart.
      cluster.add {address}                                procedure 2
          on the primary: as token, without the token; the new peer is set
          up the guide's way (or with join) and restarted.
      cluster.remove {address, dead?}                      procedures 3, 4
          a live peer is told to clear its peer list and restart (the
          factory reset); then the list closes its gap on the primary and
          every remaining live subordinate.
      cluster.set_primary {index}                          procedure 7
          the new primary first, then the others, then this node.
      cluster.replace {old, new}                           procedure 9
          remove OLD (reset when live), add NEW at the end of the list.
      cluster.disband {reset_primary?}                     procedure 6
          every subordinate removed (live ones reset), then the primary
          alone, or reset too.

    Peer control commands (from another peer, over the peer links):
      cluster.apply_settings {name?, primary?, ip_version?, tls_verify?,
                              peers?, restart?}
          store the given clustering keys ("the same full clustering
          settings on every subordinate"); restart: true restarts, false
          never, absent restarts only when the change cannot take effect
          live (this peer's slot moved, it left the list, IP version or TLS
          mode changed). Accepted from the configuration primary, or from
          any peer while the primary is dead (changing a dead primary).
      cluster.redeem_token {nonce}
          the joining node redeems the join token on the primary: once.

    Multi-step procedures run as an s_op_t: a step sends its peer calls,
    and the last answer (or timeout) runs the next step; the requester is
    answered at the end. Membership changes are refused on a node that is
    not the primary (naming the primary) and while a peer is joining,
    upgrading or restarting, unless args.force is true.

    The join token is base64url (no padding) of JSON {"v": 1, "name",
    "primary", "ip_version", "tls_verify", "peers", "primary_address",
    "port", "fingerprint" (hex SHA-256 of the primary's certificate, DER),
    "expires" (unix seconds), "nonce", "address" (the new peer's),
    "address_mapping" (when enabled on the primary)}. The primary keeps
    only SHA-256(nonce), the address and the expiry, in memory: one token
    is outstanding at a time (a new token replaces it), and a restart of
    the primary forgets it. The fingerprint is checked once, at join; it
    is not kept afterwards (the links' TLS mode governs from then on).

    Join, on the wire: the new node dials primary:port from its
    peering.address (the token already put that address in the primary's
    peer list, so the accept filter lets it in), completes TLS presenting
    its own certificate, compares the server certificate's SHA-256 with the
    token's, then speaks the peer-link protocol as the peer it is about to
    be: HELLO {index, address}, and a REQUEST {"op": "control", "command":
    "cluster.redeem_token", "args": {"nonce"}}. The primary checks the
    nonce against its outstanding token and the sender's address against
    the token's, and forgets the token: a second use is refused.

    cluster.remove --dead never contacts the peer, even when it answers
    (it keeps its settings: the guide's "reset it before it rejoins").
    cluster.replace resets OLD when it is live and drops it otherwise.
    A subordinate whose slot moves (a gap closed before it) restarts by
    itself when it gets the new list; so does the primary.

    cluster_fqdn.c (the FQDN and TLS procedures) plugs in here: both entry
    points ask it first.

    The TLS check of join runs in a short-lived thread (blocking socket,
    4 s in all, retried while the primary does not accept yet), which
    reports through a pipe polled by the actor's zloop, so the actor keeps
    heartbeating to the supervisor meanwhile.
*/
#include "cw_text.h"
#include "cluster_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define S_TOKEN_VERSION 1
#define S_TOKEN_TTL_DEFAULT 3600
#define S_TOKEN_TTL_MAX (7 * 86400)
#define S_TOKEN_MAX 8192
#define S_JOIN_TIMEOUT_MS 4000
#define S_OP_CALL_TIMEOUT_MS 2500
#define S_FRAME_MAX (1024 * 1024)

static const char *S_NEXT_HINT =
    "on the new peer run the same clustering settings (or `causeway cluster join`) and restart it";

// ---------------------------------------------------------------------------
//  Small helpers

static const char *
s_jstr (json_t *object, const char *name)
{
    const char *text = json_string_value (json_object_get (object, name));
    return text ? text : "";
}

static int64_t
s_wall_s (void)
{
    return (int64_t) time (NULL);
}

static void
s_sha256_hex (const void *data, size_t len, char out[65])
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (hash, data, len);
    sodium_bin2hex (out, 65, hash, sizeof hash);
}

static json_t *
s_peers_json (const cw_cluster_settings_t *s)
{
    json_t *peers = json_array ();
    for (int i = 0; i < s->peer_count; i++)
        json_array_append_new (peers, json_string (s->peers[i]));
    return peers;
}

static json_t *
s_settings_json (const cw_cluster_settings_t *s)
{
    return json_pack ("{s:s, s:i, s:i, s:s, s:o}", "name", s->name, "primary", s->primary,
                      "ip_version", s->ip_version ? s->ip_version : 4,
                      "tls_verify", *s->tls_verify ? s->tls_verify : "permissive",
                      "peers", s_peers_json (s));
}

//  Same address? IP literals compare canonically, names case-insensitively.
static bool
s_same_address (const char *a, const char *b)
{
    char ca[64], cb[64];
    if (cw_valid_ip (a, ca) && cw_valid_ip (b, cb))
        return strcmp (ca, cb) == 0;
    size_t la = strlen (a), lb = strlen (b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

//  Index (1..) of ADDRESS in S, 0 when not there.
static int
s_index_of (const cw_cluster_settings_t *s, const char *address)
{
    for (int i = 0; i < s->peer_count; i++)
        if (s_same_address (s->peers[i], address))
            return i + 1;
    return 0;
}

//  S without slot INDEX (1..), the gap closed; the primary index follows
//  its peer when it moved up.
static void
s_remove_slot (cw_cluster_settings_t *s, int index)
{
    for (int i = index - 1; i < s->peer_count - 1; i++)
        cw_copy (s->peers[i], sizeof s->peers[i], s->peers[i + 1]);
    s->peers[s->peer_count - 1][0] = 0;
    s->peer_count--;
    if (s->primary > index)
        s->primary--;
}

//  This node's index in S: the slot that is, or resolves to, its
//  peering.address (as the core finds itself). 0 when none.
static int
s_own_index (cw_cluster_t *self, const cw_cluster_settings_t *s, const cw_peerlink_mapping_t *mapping,
             int count)
{
    const char *own = self->boot->peering.address;
    if (!own || !*own)
        return 0;
    for (int i = 0; i < s->peer_count; i++) {
        if (s_same_address (s->peers[i], own))
            return i + 1;
        char ip[64], via[256];
        if (cw_valid_ip (s->peers[i], NULL))
            continue;
        if (cw_peerlink_resolve (s->peers[i], mapping, (size_t) count, s->ip_version, ip, sizeof ip,
                                 via, sizeof via) == 0
        &&  s_same_address (ip, own))
            return i + 1;
    }
    return 0;
}

static int
s_own_index_stored (cw_cluster_t *self, const cw_cluster_settings_t *s)
{
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int count = cw_cluster_mapping (self, mapping, texts, 12);
    return s_own_index (self, s, mapping, count);
}

//  Can the stored settings S take effect without a restart of this node?
//  (The rule of the core's live apply: an existing member keeps its slot,
//  IP version and TLS mode.)
static bool
s_needs_restart (cw_cluster_t *self, const cw_cluster_settings_t *s)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0)
        return s->peer_count > 0;               //  joining
    if (s->peer_count == 0)
        return true;                            //  leaving: the factory reset
    if (s->ip_version != self->effective.ip_version || strcmp (s->tls_verify, self->effective.tls_verify) != 0)
        return true;
    return s_own_index_stored (self, s) != self->this_peer;
}

//  Check VALUE for key NAME; the normalised value (new) or NULL with ERR.
static json_t *
s_normal (const char *name, json_t *value, char *err, size_t errlen)
{
    const cw_config_key_t *key = cw_registry_lookup (name);
    if (!key) {
        snprintf (err, errlen, "unknown key '%s'", name);
        return NULL;
    }
    return cw_registry_normalize (key, value, err, errlen);
}

//  The clustering keys of S as JSON values (VALUES[5], new), in the order
//  of S_KEYS.
static const char *S_KEYS[5] = { "cluster.name", "cluster.primary", "cluster.ip_version",
                                 "cluster.tls_verify", "cluster.peers" };

static void
s_settings_values (const cw_cluster_settings_t *s, json_t *values[5])
{
    char ip_version[8];
    snprintf (ip_version, sizeof ip_version, "%d", s->ip_version ? s->ip_version : 4);
    values[0] = json_string (s->name);
    values[1] = json_integer (s->primary ? s->primary : 1);
    values[2] = json_string (ip_version);
    values[3] = json_string (*s->tls_verify ? s->tls_verify : "permissive");
    values[4] = s_peers_json (s);
}

//  Check the clustering keys of S as the registry would. 0 or -1 with ERR.
static int
s_check_settings (const cw_cluster_settings_t *s, char *err, size_t errlen)
{
    json_t *values[5];
    s_settings_values (s, values);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        json_t *normal = rc == 0 ? s_normal (S_KEYS[i], values[i], err, errlen) : NULL;
        if (rc == 0 && !normal)
            rc = -1;
        json_decref (normal);
        json_decref (values[i]);
    }
    return rc;
}

//  Store the clustering keys of S on this node (each checked first, then
//  all written). 0 or -1 with ERR.
static int
s_store_settings (cw_cluster_t *self, const cw_cluster_settings_t *s, char *err, size_t errlen)
{
    if (s_check_settings (s, err, errlen))
        return -1;
    json_t *values[5];
    s_settings_values (s, values);
    int rc = 0;
    for (int i = 0; i < 5; i++) {
        if (rc == 0)
            rc = cw_cluster_set_key (self, S_KEYS[i], values[i], err, errlen);
        json_decref (values[i]);
    }
    return rc;
}

//  Current (effective) index of the peer at ADDRESS, 0 if none.
static int
s_effective_index (cw_cluster_t *self, const char *address)
{
    return s_index_of (&self->effective, address);
}

//  Is the peer at ADDRESS alive with its link up (a call can reach it)?
static bool
s_reachable (cw_cluster_t *self, const char *address)
{
    int index = s_effective_index (self, address);
    return index > 0 && index != self->this_peer && cw_cluster_peer_alive (self, index)
        && self->peers[index - 1].link_up;
}

//  Which peer sent the request that came in on TARGET's link (0 unknown).
static int
s_sender (cw_cluster_t *self, const cw_reply_target_t *target)
{
    if (!target->remote || !self->links)
        return 0;
    for (int i = 1; i <= self->effective.peer_count; i++) {
        cw_peerlink_peer_status_t status;
        if (cw_peerlink_peer_status (self->links, i, &status) == 0
        &&  (status.inbound.link_id == target->link_id || status.outbound.link_id == target->link_id))
            return i;
    }
    return 0;
}

//  Does a peer's last heartbeat show it holds what this node holds (same
//  replication history and sequence)? Its own "joining" flag lags by a
//  heartbeat: it learns it is in sync from the primary's next heartbeat.
static bool
s_holds_ours (cw_cluster_t *self, const cw_peer_view_t *v)
{
    char mine[40];
    cw_replog_cluster_id (self->replog, mine, sizeof mine);
    return *mine && strcmp (mine, v->cluster_id) == 0 && v->applied_seq == cw_replog_applied_seq (self->replog);
}

//  Why a membership change must wait (a peer joining, upgrading,
//  restarting), or "" when it may go ahead. EXCEPT (may be NULL) is the
//  address of the peer the change is about (it does not block its own
//  removal).
static void
s_blocker (cw_cluster_t *self, const char *except, char *why, size_t size)
{
    why[0] = 0;
    int64_t now = zclock_mono ();
    for (int i = 0; i < self->effective.peer_count; i++) {
        if (i + 1 == self->this_peer || (except && s_same_address (self->effective.peers[i], except)))
            continue;
        cw_peer_state_t *peer = &self->peers[i];
        bool alive = cw_cluster_peer_alive (self, i + 1);
        const char *what = NULL;
        if (alive && peer->view.upgrading)
            what = "upgrading";
        else
        if (alive && peer->view.joining && !s_holds_ours (self, &peer->view))
            what = "joining the cluster (it has not taken the primary's configuration yet)";
        else
        if (peer->restarting_since && now - peer->restarting_since < CW_RESTARTING_GRACE_MS)
            what = "restarting";
        if (what) {
            snprintf (why, size, "peer %d (%s) is %s", i + 1, self->effective.peers[i], what);
            return;
        }
    }
}

static bool
s_force (json_t *args)
{
    return json_is_true (json_object_get (args, "force"));
}

//  Refusals common to the membership changes run on the primary. Returns
//  an error body, or NULL when COMMAND may go ahead.
static json_t *
s_primary_check (cw_cluster_t *self, const char *command)
{
    if (self->effective.peer_count == 0 || self->this_peer == 0)
        return cw_error_body ("%s: this node is not in a cluster; form one with `causeway cluster form` "
                              "or join one with `causeway cluster join`", command);
    if (!self->is_primary) {
        int primary = self->effective.primary;
        return cw_error_body ("%s: this node is peer %d, not the configuration primary; run it on the "
                              "primary, peer %d (%s)", command, self->this_peer, primary,
                              primary >= 1 && primary <= self->effective.peer_count
                              ? self->effective.peers[primary - 1] : "?");
    }
    return NULL;
}

//  A refusal while a peer is joining, upgrading or restarting (unless
//  args.force): an error body, or NULL when COMMAND may go ahead. Checked
//  after the arguments, so a wrong request gets its own error at once.
static json_t *
s_settled_check (cw_cluster_t *self, const char *command, json_t *args, const char *except)
{
    char why[512];
    s_blocker (self, except, why, sizeof why);
    if (*why && !s_force (args))
        return cw_error_body ("%s refused: %s; retry when it is active, or force it (\"force\": true)",
                              command, why);
    return NULL;
}

//  ADDRESS checked as a peer address (IP literal of the cluster's IP
//  version, or FQDN), canonical into OUT. NULL or an error body.
static json_t *
s_check_address (cw_cluster_t *self, const char *command, const char *address, char *out, size_t size)
{
    char canon[64];
    if (!address || !*address)
        return cw_error_body ("%s: an address (IP address or FQDN) is required", command);
    if (cw_valid_ip (address, canon)) {
        bool v6 = strchr (canon, ':') != NULL;
        int version = self->effective.ip_version ? self->effective.ip_version : 4;
        if ((version == 6) != v6)
            return cw_error_body ("%s: %s is an IPv%d address, but the cluster's IP version is %d",
                                  command, address, v6 ? 6 : 4, version);
        cw_copy (out, size, canon);
        return NULL;
    }
    if (!cw_valid_fqdn (address))
        return cw_error_body ("%s: '%.200s' is neither an IP address nor a fully qualified domain name",
                              command, address);
    cw_copy (out, size, address);
    return NULL;
}

static cw_reply_target_t
s_target (const cw_envelope_t *req)
{
    cw_reply_target_t target;
    memset (&target, 0, sizeof target);
    target.remote = false;
    target.corr = req->corr;
    cw_copy (target.to, sizeof target.to, req->from);
    return target;
}

//  Answer TARGET, then restart the node (the reply goes out first: both
//  travel in order through the broker).
static void
s_answer_and_restart (cw_cluster_t *self, const cw_reply_target_t *target, json_t *body)
{
    cw_cluster_answer (self, target, true, body);
    cw_info ("cluster: restarting the node for the new clustering settings");
    cw_cluster_request_restart (self);
}

// ---------------------------------------------------------------------------
//  Multi-step operations

typedef struct _s_op_t s_op_t;
typedef void (s_step_fn) (cw_cluster_t *self, s_op_t *op);

struct _s_op_t {
    cw_reply_target_t target;
    char command[40];
    cw_cluster_settings_t after;    //  the clustering settings the operation makes
    char subject[256];              //  the peer the operation is about (removed, ...)
    char added[256];                //  the peer added ("" none)
    bool dead;                      //  remove: do not contact the removed peer
    bool reset_primary;             //  disband
    int new_primary;                //  set_primary
    int waiting;                    //  calls in flight
    s_step_fn *next;                //  runs when the last call answered
    json_t *reached;                //  addresses that applied the step's push
    json_t *unreached;              //  [{"address", "error"}]
    json_t *reset;                  //  addresses told to reset
    json_t *not_reset;              //  [{"address", "error"}]
    json_t *dropped;                //  dead addresses dropped
    bool subject_failed;
    char subject_error[256];
    bool make_token;                //  token: make the token at the end
    int ttl_s;
};

typedef struct {
    s_op_t *op;
    char address[256];
    bool is_subject;
} s_op_call_t;

static s_op_t *
s_op_new (const cw_reply_target_t *target, const char *command)
{
    s_op_t *op = calloc (1, sizeof *op);
    op->target = *target;
    cw_copy (op->command, sizeof op->command, command);
    op->reached = json_array ();
    op->unreached = json_array ();
    op->reset = json_array ();
    op->not_reset = json_array ();
    op->dropped = json_array ();
    return op;
}

static void
s_op_destroy (s_op_t **op_p)
{
    s_op_t *op = *op_p;
    if (!op)
        return;
    json_decref (op->reached);
    json_decref (op->unreached);
    json_decref (op->reset);
    json_decref (op->not_reset);
    json_decref (op->dropped);
    free (op);
    *op_p = NULL;
}

static void
s_op_fail (cw_cluster_t *self, s_op_t *op, json_t *body)
{
    cw_warn ("cluster: %s failed: %s", op->command, s_jstr (body, "error"));
    cw_cluster_answer (self, &op->target, false, body);
    s_op_destroy (&op);
}

static void
s_on_op_reply (cw_cluster_t *self, int peer, bool ok, json_t *json, const uint8_t *blob,
               size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_op_call_t *call = arg;
    s_op_t *op = call->op;
    const char *error = ok ? "" : *s_jstr (json, "error") ? s_jstr (json, "error") : "no answer";
    if (ok)
        cw_info ("cluster: %s: peer %d (%s) applied restarting=%s", op->command, peer, call->address,
                 json_is_true (json_object_get (json, "restarting")) ? "yes" : "no");
    else
        cw_warn ("cluster: %s: peer %d (%s) did not apply: %s", op->command, peer, call->address, error);
    if (call->is_subject) {
        op->subject_failed = !ok;
        cw_copy (op->subject_error, sizeof op->subject_error, error);
    }
    else
    if (ok)
        json_array_append_new (op->reached, json_string (call->address));
    else
        json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", call->address, "error", error));
    free (call);
    if (--op->waiting == 0 && op->next) {
        s_step_fn *next = op->next;
        op->next = NULL;
        next (self, op);
    }
}

//  Send cluster.apply_settings ARGS (stolen) to the peer at ADDRESS.
//  -1 when it cannot be reached now.
static int
s_op_call (cw_cluster_t *self, s_op_t *op, const char *address, json_t *args, bool is_subject)
{
    int index = s_effective_index (self, address);
    if (is_subject) {
        op->subject_failed = true;      //  until it answers
        cw_copy (op->subject_error, sizeof op->subject_error, "unreachable");
    }
    if (!s_reachable (self, address)) {
        json_decref (args);
        return -1;
    }
    s_op_call_t *call = calloc (1, sizeof *call);
    call->op = op;
    call->is_subject = is_subject;
    cw_copy (call->address, sizeof call->address, address);
    json_t *request = json_pack ("{s:s, s:s, s:o}", "op", "control", "command", "cluster.apply_settings",
                                 "args", args);
    if (cw_cluster_peer_call (self, index, request, NULL, 0, s_on_op_reply, call, S_OP_CALL_TIMEOUT_MS) != 0) {
        free (call);
        return -1;
    }
    op->waiting++;
    cw_info ("cluster: %s: asked peer %d (%s) to apply new clustering settings", op->command, index, address);
    return 0;
}

//  Run NEXT when every call sent so far has answered (now if none).
static void
s_op_then (cw_cluster_t *self, s_op_t *op, s_step_fn *next)
{
    if (op->waiting == 0)
        next (self, op);
    else
        op->next = next;
}

//  Push op->after to every live subordinate in it (the guide's "the same
//  full clustering settings on every subordinate"), then NEXT.
static void
s_op_push_all (cw_cluster_t *self, s_op_t *op, s_step_fn *next)
{
    const char *own = self->this_peer ? self->effective.peers[self->this_peer - 1] : "";
    for (int i = 0; i < op->after.peer_count; i++) {
        const char *address = op->after.peers[i];
        if (s_same_address (address, own) || (*op->added && s_same_address (address, op->added)))
            continue;
        if (s_op_call (self, op, address, s_settings_json (&op->after), false) != 0)
            json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", address, "error",
                                   s_effective_index (self, address) ? "unreachable" : "not a peer yet"));
    }
    s_op_then (self, op, next);
}

//  Store op->after on this node; *RESTART says whether the node must
//  restart for it. NULL or an error body.
static json_t *
s_op_store_local (cw_cluster_t *self, s_op_t *op, bool *restart)
{
    char err[512];
    *restart = s_needs_restart (self, &op->after);
    if (s_store_settings (self, &op->after, err, sizeof err))
        return cw_error_body ("%s: the new settings could not be stored on this node: %s", op->command, err);
    cw_info ("cluster: %s: stored peers=%d primary=%d restart=%s", op->command, op->after.peer_count,
             op->after.primary, *restart ? "yes" : "no");
    return NULL;
}

//  The reply body fields every membership change has.
static json_t *
s_op_body (s_op_t *op)
{
    json_t *body = json_pack ("{s:o, s:i}", "peers", s_peers_json (&op->after), "primary", op->after.primary);
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    return body;
}

//  Finish: store locally, answer, restart when needed.
static void
s_op_finish (cw_cluster_t *self, s_op_t *op, json_t *body)
{
    bool restart = false;
    json_t *error = s_op_store_local (self, op, &restart);
    if (error) {
        json_decref (body);
        s_op_fail (self, op, error);
        return;
    }
    if (json_array_size (op->unreached)) {
        char message[1024] = "";
        size_t i;
        json_t *item;
        json_array_foreach (op->unreached, i, item) {
            size_t used = strlen (message);
            snprintf (message + used, sizeof message - used, "%s%s", used ? ", " : "", s_jstr (item, "address"));
        }
        if (!json_object_get (body, "message")) {
            char text[1400];
            snprintf (text, sizeof text, "not updated (unreachable): %s; set the same clustering settings "
                      "on them when they are back", message);
            json_object_set_new (body, "message", json_string (text));
        }
    }
    json_object_set_new (body, "restarting", json_boolean (restart));
    cw_info ("cluster: %s done peers=%d primary=%d", op->command, op->after.peer_count, op->after.primary);
    if (restart)
        s_answer_and_restart (self, &op->target, body);
    else
        cw_cluster_answer (self, &op->target, true, body);
    s_op_destroy (&op);
}

// ---------------------------------------------------------------------------
//  cluster.form

static bool
s_readable (const char *path)
{
    return path && *path && access (path, R_OK) == 0;
}

static json_t *
s_check_tls_files (cw_cluster_t *self, const char *command)
{
    const char *cert = self->boot->peering.certificate;
    const char *key = self->boot->peering.private_key;
    if (!s_readable (cert) || !s_readable (key))
        return cw_error_body ("%s: this node has no certificate to cluster with: peering.certificate "
                              "(%s) and peering.private_key (%s) in %s must be readable files; install "
                              "them (a factory reset removes them) and run it again", command,
                              cert && *cert ? cert : "not set", key && *key ? key : "not set",
                              self->boot->file);
    return NULL;
}

static void
s_form (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply,
        cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    const char *address = self->boot->peering.address;
    if (self->effective.peer_count > 0) {
        *reply = cw_error_body ("cluster.form: this node is already in a cluster (%s, peer %d of %d)",
                                self->effective.name, self->this_peer, self->effective.peer_count);
        return;
    }
    if (!address || !*address) {
        *reply = cw_error_body ("cluster.form: peering.address is not set in the bootstrap file %s; set "
                                "the address this node clusters on (peering { address = \"...\"; }) and "
                                "restart causewayd", self->boot->file);
        return;
    }
    if ((*reply = s_check_tls_files (self, "cluster.form")))
        return;
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    cw_cluster_settings_t s;
    memset (&s, 0, sizeof s);
    const char *name = s_jstr (args, "name");
    cw_copy (s.name, sizeof s.name, *name ? name : stored.name);
    if (!*s.name) {
        *reply = cw_error_body ("cluster.form: a cluster name is needed: give --name (the FQDN of the "
                                "cluster's DNS SRV records, e.g. cluster1.example.com) or set cluster.name");
        return;
    }
    json_t *version = json_object_get (args, "ip_version");
    if (json_is_integer (version))
        s.ip_version = (int) json_integer_value (version);
    else
    if (json_is_string (version))
        s.ip_version = atoi (json_string_value (version));
    else
        s.ip_version = stored.ip_version ? stored.ip_version : 4;
    const char *tls = s_jstr (args, "tls_verify");
    cw_copy (s.tls_verify, sizeof s.tls_verify, *tls ? tls : *stored.tls_verify ? stored.tls_verify : "permissive");
    if (s.ip_version != 4 && s.ip_version != 6) {
        *reply = cw_error_body ("cluster.form: ip_version must be 4 or 6");
        return;
    }
    char canon[64];
    if (cw_valid_ip (address, canon) && (strchr (canon, ':') != NULL) != (s.ip_version == 6)) {
        *reply = cw_error_body ("cluster.form: peering.address %s is not an IPv%d address; give "
                                "--ip-version %d or change peering.address", address, s.ip_version,
                                s.ip_version == 6 ? 4 : 6);
        return;
    }
    s.primary = 1;
    cw_copy (s.peers[0], sizeof s.peers[0], address);
    s.peer_count = 1;
    char err[512];
    if (s_store_settings (self, &s, err, sizeof err)) {
        *reply = cw_error_body ("cluster.form: %s", err);
        return;
    }
    cw_info ("cluster: cluster.form name=%s address=%s ip_version=%d tls=%s; restarting", s.name, address,
             s.ip_version, s.tls_verify);
    cw_reply_target_t target = s_target (req);
    s_answer_and_restart (self, &target,
                          json_pack ("{s:b, s:o, s:s}", "restarting", true, "settings", s_settings_json (&s),
                                     "message", "cluster of one formed: this node is peer 1 and the "
                                     "primary; it restarts now"));
    *reply = NULL;
    *status = CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  cluster.token

//  Hex SHA-256 of the DER of the first certificate in FILE.
static int
s_cert_fingerprint (const char *file, char out[65], char *err, size_t errlen)
{
    FILE *in = fopen (file, "r");
    if (!in) {
        snprintf (err, errlen, "cannot read the certificate %s: %s", file, strerror (errno));
        return -1;
    }
    X509 *cert = PEM_read_X509 (in, NULL, NULL, NULL);
    fclose (in);
    if (!cert) {
        snprintf (err, errlen, "%s holds no PEM certificate", file);
        return -1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = X509_digest (cert, EVP_sha256 (), md, &len);
    X509_free (cert);
    if (!ok || len != 32) {
        snprintf (err, errlen, "cannot hash the certificate %s", file);
        return -1;
    }
    sodium_bin2hex (out, 65, md, len);
    return 0;
}

static json_t *
s_mapping_json (cw_cluster_t *self)
{
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int count = cw_cluster_mapping (self, mapping, texts, 12);
    json_t *list = json_array ();
    for (int i = 0; i < count; i++) {
        char entry[520];
        snprintf (entry, sizeof entry, "%s=%s", mapping[i].fqdn, mapping[i].ip);
        json_array_append_new (list, json_string (entry));
    }
    return list;
}

static void
s_token_finish (cw_cluster_t *self, s_op_t *op)
{
    bool restart = false;
    if (*op->added) {
        json_t *error = s_op_store_local (self, op, &restart);
        if (error) {
            s_op_fail (self, op, error);
            return;
        }
    }
    char fingerprint[65], err[512];
    if (s_cert_fingerprint (self->boot->peering.certificate, fingerprint, err, sizeof err)) {
        s_op_fail (self, op, cw_error_body ("cluster.token: %s", err));
        return;
    }
    unsigned char random[16];
    randombytes_buf (random, sizeof random);
    char nonce[33];
    sodium_bin2hex (nonce, sizeof nonce, random, sizeof random);
    int64_t expires = s_wall_s () + op->ttl_s;
    int index = s_index_of (&op->after, op->subject);
    json_t *token = json_pack ("{s:i, s:s, s:i, s:i, s:s, s:o, s:s, s:i, s:s, s:I, s:s, s:s, s:o}",
                               "v", S_TOKEN_VERSION, "name", op->after.name, "primary", op->after.primary,
                               "ip_version", op->after.ip_version ? op->after.ip_version : 4,
                               "tls_verify", *op->after.tls_verify ? op->after.tls_verify : "permissive",
                               "peers", s_peers_json (&op->after),
                               "primary_address", op->after.peers[op->after.primary - 1],
                               "port", self->boot->peering.port, "fingerprint", fingerprint,
                               "expires", (json_int_t) expires, "nonce", nonce, "address", op->subject,
                               "address_mapping", s_mapping_json (self));
    char *text = json_dumps (token, JSON_COMPACT);
    json_decref (token);
    size_t len = strlen (text);
    size_t b64len = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *b64 = malloc (b64len);
    sodium_bin2base64 (b64, b64len, (const unsigned char *) text, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free (text);
    char hash[65];
    s_sha256_hex (nonce, strlen (nonce), hash);
    free (self->join_token_hash);
    self->join_token_hash = strdup (hash);
    cw_copy (self->join_token_address, sizeof self->join_token_address, op->subject);
    self->join_token_expires = expires * 1000;
    sodium_memzero (nonce, sizeof nonce);
    cw_info ("cluster: join token made for %s index=%d expires_in_s=%d", op->subject, index, op->ttl_s);
    char message[700];
    snprintf (message, sizeof message, "on %.256s run: causeway cluster join %.256s TOKEN (it works once, "
              "for %d s)", op->subject, op->after.peers[op->after.primary - 1], op->ttl_s);
    json_t *body = json_pack ("{s:s, s:i, s:I, s:o, s:s}", "token", b64, "index", index,
                              "expires_at", (json_int_t) expires, "peers", s_peers_json (&op->after),
                              "message", message);
    free (b64);
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    if (restart)
        s_answer_and_restart (self, &op->target, body);
    else
        cw_cluster_answer (self, &op->target, true, body);
    s_op_destroy (&op);
}

//  cluster.token and cluster.add: ADDRESS into the first empty slot.
static void
s_add_or_token (cw_cluster_t *self, const cw_envelope_t *req, const char *command, json_t *args,
                json_t **reply, cw_reply_status_t *status);

static void
s_add_finish (cw_cluster_t *self, s_op_t *op)
{
    json_t *body = s_op_body (op);
    json_object_set_new (body, "index", json_integer (s_index_of (&op->after, op->added)));
    json_object_set_new (body, "next", json_string (S_NEXT_HINT));
    if (!json_array_size (op->unreached))
        json_object_set_new (body, "message", json_string (S_NEXT_HINT));
    s_op_finish (self, op, body);
}

static void
s_add_or_token (cw_cluster_t *self, const cw_envelope_t *req, const char *command, json_t *args,
                json_t **reply, cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    bool token = strcmp (command, "cluster.token") == 0;
    char address[256];
    if ((*reply = s_primary_check (self, command)))
        return;
    if ((*reply = s_check_address (self, command, s_jstr (args, "address"), address, sizeof address)))
        return;
    int ttl = S_TOKEN_TTL_DEFAULT;
    json_t *jttl = json_object_get (args, "ttl_s");
    if (token && jttl && !json_is_null (jttl)) {
        if (!json_is_integer (jttl) || json_integer_value (jttl) < 10 || json_integer_value (jttl) > S_TOKEN_TTL_MAX) {
            *reply = cw_error_body ("cluster.token: ttl_s must be an integer 10..%d (seconds)", S_TOKEN_TTL_MAX);
            return;
        }
        ttl = (int) json_integer_value (jttl);
    }
    if (token && (*reply = s_check_tls_files (self, command)))
        return;
    cw_cluster_settings_t s;
    cw_cluster_stored_settings (self, &s);
    int index = s_index_of (&s, address);
    if (index && index == s_own_index_stored (self, &s)) {
        *reply = cw_error_body ("%s: %s is this node (peer %d)", command, address, index);
        return;
    }
    if (index && !token) {
        *reply = cw_error_body ("cluster.add: %s is already peer %d", address, index);
        return;
    }
    if (!index && s.peer_count >= CW_CLUSTER_MAX_PEERS) {
        *reply = cw_error_body ("%s: the cluster already has %d peers, the most it can have; remove one first",
                                command, CW_CLUSTER_MAX_PEERS);
        return;
    }
    if ((*reply = s_settled_check (self, command, args, NULL)))
        return;
    cw_reply_target_t target = s_target (req);
    s_op_t *op = s_op_new (&target, command);
    op->after = s;
    op->ttl_s = ttl;
    cw_copy (op->subject, sizeof op->subject, address);
    if (!index) {
        cw_copy (op->after.peers[op->after.peer_count], sizeof op->after.peers[0], address);
        op->after.peer_count++;
        cw_copy (op->added, sizeof op->added, address);
        cw_info ("cluster: %s: adding %s as peer %d", command, address, op->after.peer_count);
    }
    *reply = NULL;
    *status = CW_REPLY_DEFERRED;
    if (token) {
        if (*op->added)
            s_op_push_all (self, op, s_token_finish);
        else
            s_token_finish (self, op);
    }
    else
        s_op_push_all (self, op, s_add_finish);
}

// ---------------------------------------------------------------------------
//  cluster.remove and cluster.replace

static void
s_remove_finish (cw_cluster_t *self, s_op_t *op)
{
    json_t *body = s_op_body (op);
    json_object_set_new (body, "removed", json_string (op->subject));
    json_object_set_new (body, "reset", json_boolean (json_array_size (op->reset) > 0));
    if (*op->added) {
        json_object_set_new (body, "index", json_integer (s_index_of (&op->after, op->added)));
        json_object_set_new (body, "next", json_string (S_NEXT_HINT));
        if (!json_array_size (op->unreached))
            json_object_set_new (body, "message", json_string (S_NEXT_HINT));
    }
    else
    if (op->dead && !json_array_size (op->unreached))
        json_object_set_new (body, "message", json_string ("the removed peer was not reset: if it ever comes "
                                                           "back, clear its peer list and restart it (factory "
                                                           "reset) before it rejoins"));
    s_op_finish (self, op, body);
}

//  The removed peer answered (or not): go on with the others.
static void
s_remove_after_subject (cw_cluster_t *self, s_op_t *op)
{
    if (op->subject_failed) {
        int index = s_effective_index (self, op->subject);
        s_op_fail (self, op, cw_error_body ("%s: peer %d (%s) did not take the reset (%s); nothing was changed. "
                                            "If it is dead, use --dead", op->command, index, op->subject,
                                            op->subject_error));
        return;
    }
    if (!op->dead && !json_array_size (op->dropped))
        json_array_append_new (op->reset, json_string (op->subject));
    s_op_push_all (self, op, s_remove_finish);
}

static void
s_remove_or_replace (cw_cluster_t *self, const cw_envelope_t *req, const char *command, json_t *args,
                     json_t **reply, cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    bool replace = strcmp (command, "cluster.replace") == 0;
    const char *old_arg = s_jstr (args, replace ? "old" : "address");
    char old[256], added[256] = "";
    if ((*reply = s_primary_check (self, command)))
        return;
    if (!*old_arg) {
        *reply = cw_error_body ("%s: the address of the peer to remove is required", command);
        return;
    }
    cw_copy (old, sizeof old, old_arg);
    cw_cluster_settings_t s;
    cw_cluster_stored_settings (self, &s);
    int index = s_index_of (&s, old);
    if (!index) {
        *reply = cw_error_body ("%s: %s is not in the peer list (%d peers)", command, old, s.peer_count);
        return;
    }
    cw_copy (old, sizeof old, s.peers[index - 1]);
    if (index == s_own_index_stored (self, &s) || index == s.primary) {
        *reply = cw_error_body ("%s: %s is the configuration primary (peer %d); change the primary first "
                                "(`causeway cluster set-primary N` to another peer)", command, old, index);
        return;
    }
    if (replace) {
        if ((*reply = s_check_address (self, command, s_jstr (args, "new"), added, sizeof added)))
            return;
        int there = s_index_of (&s, added);
        if (there) {
            *reply = cw_error_body ("cluster.replace: %s is already peer %d", added, there);
            return;
        }
    }
    bool dead = json_is_true (json_object_get (args, "dead"));
    bool live = s_reachable (self, old);
    int effective_index = s_effective_index (self, old);
    if (!replace && !dead && !live) {
        *reply = cw_error_body ("cluster.remove: peer %d (%s) is unreachable; if it is dead, use --dead "
                                "(it is then removed without a reset)", effective_index ? effective_index : index,
                                old);
        return;
    }
    if ((*reply = s_settled_check (self, command, args, old)))
        return;
    cw_reply_target_t target = s_target (req);
    s_op_t *op = s_op_new (&target, command);
    cw_copy (op->subject, sizeof op->subject, old);
    op->dead = dead || !live;
    op->after = s;
    s_remove_slot (&op->after, index);
    if (*added) {
        cw_copy (op->after.peers[op->after.peer_count], sizeof op->after.peers[0], added);
        op->after.peer_count++;
        cw_copy (op->added, sizeof op->added, added);
    }
    cw_info ("cluster: %s: removing peer %d (%s) %s%s%s", command, index, old,
             op->dead ? "without a reset (dead)" : "with a factory reset",
             *added ? ", adding " : "", added);
    *reply = NULL;
    *status = CW_REPLY_DEFERRED;
    if (op->dead) {
        json_array_append_new (op->dropped, json_string (old));
        if (live)
            cw_warn ("cluster: %s: peer %d (%s) is alive but removed as dead: it keeps its settings", command,
                     index, old);
        s_remove_after_subject (self, op);
        return;
    }
    //  The removed peer first: it clears its list and restarts (the reset)
    s_op_call (self, op, old, json_pack ("{s:[], s:b}", "peers", "restart", true), true);
    s_op_then (self, op, s_remove_after_subject);
}

// ---------------------------------------------------------------------------
//  cluster.set_primary

static void
s_set_primary_local (cw_cluster_t *self, s_op_t *op)
{
    json_t *body = json_pack ("{s:i, s:o}", "primary", op->new_primary, "peers", s_peers_json (&op->after));
    if (json_array_size (op->unreached))
        json_object_set (body, "not_updated", op->unreached);
    s_op_finish (self, op, body);
}

static void
s_set_primary_others (cw_cluster_t *self, s_op_t *op)
{
    if (op->subject_failed) {
        s_op_fail (self, op, cw_error_body ("cluster.set_primary: the new primary, peer %d (%s), did not take "
                                            "the change (%s); nothing was changed", op->new_primary,
                                            op->subject, op->subject_error));
        return;
    }
    cw_info ("cluster: set_primary: peer %d took the role; telling the others", op->new_primary);
    const char *own = self->this_peer ? self->effective.peers[self->this_peer - 1] : "";
    for (int i = 0; i < op->after.peer_count; i++) {
        const char *address = op->after.peers[i];
        if (s_same_address (address, own) || i + 1 == op->new_primary)
            continue;
        if (s_op_call (self, op, address, json_pack ("{s:i}", "primary", op->new_primary), false) != 0)
            json_array_append_new (op->unreached, json_pack ("{s:s, s:s}", "address", address, "error", "unreachable"));
    }
    s_op_then (self, op, s_set_primary_local);
}

static void
s_set_primary (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply,
               cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    const char *command = "cluster.set_primary";
    if (self->effective.peer_count == 0 || self->this_peer == 0) {
        *reply = cw_error_body ("%s: this node is not in a cluster", command);
        return;
    }
    cw_cluster_settings_t s;
    cw_cluster_stored_settings (self, &s);
    json_t *jindex = json_object_get (args, "index");
    int n = json_is_integer (jindex) ? (int) json_integer_value (jindex)
          : json_is_string (jindex) ? atoi (json_string_value (jindex)) : 0;
    if (n < 1 || n > s.peer_count) {
        *reply = cw_error_body ("%s: index must be a peer's index, 1..%d", command, s.peer_count);
        return;
    }
    int primary = self->effective.primary;
    bool primary_alive = cw_cluster_peer_alive (self, primary);
    if (!self->is_primary && primary_alive) {
        *reply = cw_error_body ("%s: this node is peer %d, not the configuration primary; run it on the "
                                "primary, peer %d (%s)", command, self->this_peer, primary,
                                self->effective.peers[primary - 1]);
        return;
    }
    if (n == primary && n == s.primary) {
        *reply = cw_error_body ("%s: peer %d is already the configuration primary", command, n);
        return;
    }
    const char *address = s.peers[n - 1];
    int own = s_own_index_stored (self, &s);
    if (n != own && !s_reachable (self, address)) {
        *reply = cw_error_body ("%s: peer %d (%s) is not alive; only a live peer can become the primary",
                                command, n, address);
        return;
    }
    if ((*reply = s_settled_check (self, command, args, primary_alive ? NULL
                                                      : self->effective.peers[primary - 1])))
        return;
    cw_reply_target_t target = s_target (req);
    s_op_t *op = s_op_new (&target, command);
    op->after = s;
    op->after.primary = n;
    op->new_primary = n;
    cw_copy (op->subject, sizeof op->subject, address);
    cw_info ("cluster: set_primary: peer %d (%s) becomes the primary (was %d)", n, address, primary);
    *reply = NULL;
    *status = CW_REPLY_DEFERRED;
    if (n != own)
        s_op_call (self, op, address, json_pack ("{s:i}", "primary", n), true);
    s_op_then (self, op, s_set_primary_others);
}

// ---------------------------------------------------------------------------
//  cluster.disband

static void
s_disband_finish (cw_cluster_t *self, s_op_t *op)
{
    //  Subordinates that did not take the reset are dropped all the same
    json_t *removed = json_array ();
    json_array_extend (removed, op->reset);
    json_array_extend (removed, op->dropped);
    size_t i;
    json_t *item;
    json_array_foreach (op->not_reset, i, item)
        json_array_append (removed, json_object_get (item, "address"));
    json_t *body = json_pack ("{s:o, s:O, s:O, s:b}", "removed", removed, "reset", op->reset,
                              "dropped", op->dropped, "reset_primary", op->reset_primary);
    if (json_array_size (op->not_reset)) {
        json_object_set (body, "not_reset", op->not_reset);
        json_object_set_new (body, "message", json_string ("some peers did not take the reset: clear their "
                                                           "peer list and restart them by hand"));
    }
    //  The primary: a cluster of one, or the factory reset too
    s_op_finish (self, op, body);
}

static void
s_on_disband_reply (cw_cluster_t *self, s_op_t *op)
{
    (void) self;
    //  s_on_op_reply put every subordinate in reached / unreached
    size_t i;
    json_t *item;
    json_array_foreach (op->reached, i, item)
        json_array_append (op->reset, item);
    json_array_foreach (op->unreached, i, item)
        json_array_append (op->not_reset, item);
    json_array_clear (op->reached);
    json_array_clear (op->unreached);
    s_disband_finish (self, op);
}

static void
s_disband (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply,
           cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    const char *command = "cluster.disband";
    if ((*reply = s_primary_check (self, command)))
        return;
    cw_cluster_settings_t s;
    cw_cluster_stored_settings (self, &s);
    int own = s_own_index_stored (self, &s);
    if (!own) {
        *reply = cw_error_body ("%s: this node is not in its stored peer list", command);
        return;
    }
    if ((*reply = s_settled_check (self, command, args, NULL)))
        return;
    cw_reply_target_t target = s_target (req);
    s_op_t *op = s_op_new (&target, command);
    op->reset_primary = json_is_true (json_object_get (args, "reset_primary"));
    op->after = s;
    memset (op->after.peers, 0, sizeof op->after.peers);
    op->after.peer_count = 0;
    op->after.primary = 1;
    if (!op->reset_primary) {
        cw_copy (op->after.peers[0], sizeof op->after.peers[0], s.peers[own - 1]);
        op->after.peer_count = 1;
    }
    *reply = NULL;
    *status = CW_REPLY_DEFERRED;
    cw_info ("cluster: disband: removing %d subordinates reset_primary=%s", s.peer_count - 1,
             op->reset_primary ? "yes" : "no");
    for (int i = 0; i < s.peer_count; i++) {
        if (i + 1 == own)
            continue;
        if (s_op_call (self, op, s.peers[i], json_pack ("{s:[], s:b}", "peers", "restart", true), false) != 0) {
            cw_info ("cluster: disband: peer %d (%s) is unreachable: dropped without a reset", i + 1, s.peers[i]);
            json_array_append_new (op->dropped, json_string (s.peers[i]));
        }
    }
    s_op_then (self, op, s_on_disband_reply);
}

// ---------------------------------------------------------------------------
//  cluster.join: the token, the pinned TLS check and its redemption

typedef struct {
    //  inputs
    char primary[256];              //  address to connect to (IP or FQDN)
    int port;
    int ip_version;
    char bind_ip[64];               //  this node's peering.address
    char cert[PATH_MAX];
    char key[PATH_MAX];
    char fingerprint[65];
    int my_index;
    char my_address[256];           //  this node's entry in the token's list
    char nonce[80];
    cw_peerlink_mapping_t mapping[12];
    char texts[12][2][256];
    int mapping_count;
    //  outputs
    int rc;
    bool pin_failed;
    char error[512];
    char got[65];
    //  plumbing
    int pipe_fd[2];
    pthread_t thread;
    cw_cluster_t *self;
    cw_reply_target_t target;
    cw_cluster_settings_t settings;
    json_t *mapping_list;           //  the token's address_mapping ([] none)
} s_join_t;

static s_join_t *s_join_running = NULL;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_set_timeouts (int fd, int64_t ms)
{
    if (ms < 1)
        ms = 1;
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

//  TCP connect to IP:PORT from BIND_IP, within DEADLINE (monotonic ms).
static int
s_tcp_connect (const char *ip, int port, const char *bind_ip, int64_t deadline, char *err, size_t errlen)
{
    struct sockaddr_storage to, from;
    socklen_t to_len, from_len;
    memset (&to, 0, sizeof to);
    memset (&from, 0, sizeof from);
    bool v6 = strchr (ip, ':') != NULL;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &to, *b = (struct sockaddr_in6 *) &from;
        a->sin6_family = b->sin6_family = AF_INET6;
        a->sin6_port = htons ((uint16_t) port);
        if (inet_pton (AF_INET6, ip, &a->sin6_addr) != 1 || inet_pton (AF_INET6, bind_ip, &b->sin6_addr) != 1) {
            snprintf (err, errlen, "bad address %s or %s", ip, bind_ip);
            return -1;
        }
        to_len = from_len = sizeof (struct sockaddr_in6);
    }
    else {
        struct sockaddr_in *a = (struct sockaddr_in *) &to, *b = (struct sockaddr_in *) &from;
        a->sin_family = b->sin_family = AF_INET;
        a->sin_port = htons ((uint16_t) port);
        if (inet_pton (AF_INET, ip, &a->sin_addr) != 1 || inet_pton (AF_INET, bind_ip, &b->sin_addr) != 1) {
            snprintf (err, errlen, "bad address %s or %s (IP versions differ?)", ip, bind_ip);
            return -1;
        }
        to_len = from_len = sizeof (struct sockaddr_in);
    }
    int fd = socket (v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf (err, errlen, "socket: %s", strerror (errno));
        return -1;
    }
    if (bind (fd, (struct sockaddr *) &from, from_len) != 0) {
        snprintf (err, errlen, "cannot bind to this node's peering.address %s: %s", bind_ip, strerror (errno));
        close (fd);
        return -1;
    }
    if (connect (fd, (struct sockaddr *) &to, to_len) != 0 && errno != EINPROGRESS) {
        snprintf (err, errlen, "connect to %s:%d: %s", ip, port, strerror (errno));
        close (fd);
        return -1;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLOUT };
    int64_t left = deadline - s_mono_ms ();
    int rc = left > 0 ? poll (&pfd, 1, (int) left) : 0;
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (rc <= 0) {
        snprintf (err, errlen, "connect to %s:%d timed out", ip, port);
        close (fd);
        return -1;
    }
    getsockopt (fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error) {
        snprintf (err, errlen, "connect to %s:%d: %s", ip, port, strerror (so_error));
        close (fd);
        return -1;
    }
    int flags = fcntl (fd, F_GETFL);
    fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
    s_set_timeouts (fd, deadline - s_mono_ms ());
    return fd;
}

static int
s_ssl_write_all (SSL *ssl, const unsigned char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        int n = SSL_write (ssl, data + done, (int) (len - done));
        if (n <= 0)
            return -1;
        done += (size_t) n;
    }
    return 0;
}

static int
s_ssl_read_all (SSL *ssl, unsigned char *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        int n = SSL_read (ssl, data + done, (int) (len - done));
        if (n <= 0)
            return -1;
        done += (size_t) n;
    }
    return 0;
}

static void
s_put_u32 (unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

static uint32_t
s_get_u32 (const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

//  One peer-link frame (see peerlink.h): TYPE, CORR, JSON text.
static int
s_frame_send (SSL *ssl, uint8_t type, uint64_t corr, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT);
    size_t json_len = strlen (text);
    size_t rest = 1 + 1 + 8 + 4 + json_len;
    unsigned char *frame = malloc (4 + rest);
    s_put_u32 (frame, (uint32_t) rest);
    frame[4] = CW_PEERLINK_VERSION;
    frame[5] = type;
    for (int i = 0; i < 8; i++)
        frame[6 + i] = (unsigned char) (corr >> (56 - 8 * i));
    s_put_u32 (frame + 14, (uint32_t) json_len);
    memcpy (frame + 18, text, json_len);
    int rc = s_ssl_write_all (ssl, frame, 4 + rest);
    free (frame);
    free (text);
    return rc;
}

//  The next frame: its type, corr and JSON (new; NULL when empty).
static int
s_frame_recv (SSL *ssl, uint8_t *type, uint64_t *corr, json_t **json)
{
    unsigned char head[4];
    if (s_ssl_read_all (ssl, head, 4))
        return -1;
    uint32_t rest = s_get_u32 (head);
    if (rest < 14 || rest > S_FRAME_MAX)
        return -1;
    unsigned char *body = malloc (rest);
    if (s_ssl_read_all (ssl, body, rest)) {
        free (body);
        return -1;
    }
    *type = body[1];
    *corr = 0;
    for (int i = 0; i < 8; i++)
        *corr = *corr << 8 | body[2 + i];
    uint32_t json_len = s_get_u32 (body + 10);
    *json = NULL;
    if (body[0] != CW_PEERLINK_VERSION || json_len > rest - 14) {
        free (body);
        return -1;
    }
    if (json_len)
        *json = json_loadb ((const char *) body + 14, json_len, JSON_DECODE_ANY, NULL);
    free (body);
    return 0;
}

//  One attempt: connect, TLS, pin, HELLO, redeem. 0, -1 (retry), -2 (final).
static int
s_join_attempt (s_join_t *job, const char *ip, int64_t deadline)
{
    int fd = s_tcp_connect (ip, job->port, job->bind_ip, deadline, job->error, sizeof job->error);
    if (fd < 0)
        return -1;
    SSL_CTX *ctx = SSL_CTX_new (TLS_client_method ());
    SSL *ssl = NULL;
    X509 *cert = NULL;
    json_t *json = NULL;
    int rc = -1;
    if (!ctx) {
        snprintf (job->error, sizeof job->error, "cannot create a TLS context");
        goto done;
    }
    SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);     //  pinned below, by fingerprint
    if (SSL_CTX_use_certificate_chain_file (ctx, job->cert) != 1
    ||  SSL_CTX_use_PrivateKey_file (ctx, job->key, SSL_FILETYPE_PEM) != 1) {
        snprintf (job->error, sizeof job->error, "cannot load this node's certificate %.200s / key %.200s",
                  job->cert, job->key);
        rc = -2;
        goto done;
    }
    ssl = SSL_new (ctx);
    SSL_set_fd (ssl, fd);
    if (!cw_valid_ip (job->primary, NULL))
        SSL_set_tlsext_host_name (ssl, job->primary);
    ERR_clear_error ();
    if (SSL_connect (ssl) != 1) {
        snprintf (job->error, sizeof job->error, "TLS handshake with %s:%d failed (is this node in the "
                  "primary's peer list yet?)", ip, job->port);
        goto done;
    }
    cert = SSL_get1_peer_certificate (ssl);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!cert || !X509_digest (cert, EVP_sha256 (), md, &md_len) || md_len != 32) {
        snprintf (job->error, sizeof job->error, "the primary presented no certificate");
        job->pin_failed = true;
        rc = -2;
        goto done;
    }
    sodium_bin2hex (job->got, sizeof job->got, md, md_len);
    if (strcasecmp (job->got, job->fingerprint) != 0) {
        snprintf (job->error, sizeof job->error, "the primary's certificate does not match the token: expected "
                  "SHA-256 %s, got %s (%s:%d is not the primary that made the token)", job->fingerprint,
                  job->got, ip, job->port);
        job->pin_failed = true;
        rc = -2;
        goto done;
    }
    //  The peer-link HELLO, as the peer this node is about to become
    json_t *hello = json_pack ("{s:i, s:s}", "index", job->my_index, "address", job->my_address);
    int sent = s_frame_send (ssl, CW_PEERLINK_TYPE_HELLO, 0, hello);
    json_decref (hello);
    uint8_t type = 0;
    uint64_t corr = 0;
    if (sent || s_frame_recv (ssl, &type, &corr, &json) || type != CW_PEERLINK_TYPE_HELLO) {
        snprintf (job->error, sizeof job->error, "the primary closed the connection during HELLO");
        goto done;
    }
    if (!json_is_true (json_object_get (json, "ok"))) {
        snprintf (job->error, sizeof job->error, "the primary refused this node: %s", s_jstr (json, "error"));
        goto done;      //  it may not have applied the new peer list yet: retry
    }
    json_decref (json);
    json = NULL;
    json_t *request = json_pack ("{s:s, s:s, s:{s:s}}", "op", "control", "command", "cluster.redeem_token",
                                 "args", "nonce", job->nonce);
    sent = s_frame_send (ssl, CW_FRAME_REQUEST, 1, request);
    json_decref (request);
    if (sent) {
        snprintf (job->error, sizeof job->error, "cannot send the token to the primary");
        goto done;
    }
    while (true) {
        if (s_frame_recv (ssl, &type, &corr, &json)) {
            snprintf (job->error, sizeof job->error, "the primary did not answer the token redemption");
            rc = -2;
            goto done;
        }
        if (type == CW_FRAME_REPLY && corr == 1)
            break;
        json_decref (json);
        json = NULL;
    }
    if (!json_is_true (json_object_get (json, "ok"))) {
        snprintf (job->error, sizeof job->error, "the primary refused the token: %s",
                  s_jstr (json_object_get (json, "body"), "error"));
        rc = -2;
        goto done;
    }
    rc = 0;
done:
    json_decref (json);
    X509_free (cert);
    if (ssl) {
        SSL_shutdown (ssl);
        SSL_free (ssl);
    }
    SSL_CTX_free (ctx);
    close (fd);
    return rc;
}

static void *
s_join_thread (void *arg)
{
    s_join_t *job = arg;
    int64_t deadline = s_mono_ms () + S_JOIN_TIMEOUT_MS;
    char ip[64], via[256];
    job->rc = -1;
    if (cw_peerlink_resolve (job->primary, job->mapping, (size_t) job->mapping_count, job->ip_version, ip,
                             sizeof ip, via, sizeof via) != 0)
        snprintf (job->error, sizeof job->error, "the primary's address %.200s does not resolve: %.200s", job->primary,
                  via);
    else
        while (true) {
            int rc = s_join_attempt (job, ip, deadline);
            if (rc == 0 || rc == -2) {
                job->rc = rc;
                break;
            }
            if (s_mono_ms () + 300 >= deadline)
                break;
            usleep (300 * 1000);
        }
    char byte = 1;
    if (write (job->pipe_fd[1], &byte, 1) < 0) {
        //  the loop then never hears of it: nothing else to do
    }
    return NULL;
}

static void
s_join_free (s_join_t *job)
{
    close (job->pipe_fd[0]);
    close (job->pipe_fd[1]);
    json_decref (job->mapping_list);
    sodium_memzero (job->nonce, sizeof job->nonce);
    free (job);
}

static int
s_on_join_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    s_join_t *job = arg;
    cw_cluster_t *self = job->self;
    char byte;
    if (read (item->fd, &byte, 1) < 0 && errno == EAGAIN)
        return 0;
    zloop_poller_end (loop, item);
    pthread_join (job->thread, NULL);
    s_join_running = NULL;
    if (job->rc != 0) {
        cw_warn ("cluster: join failed: %s", job->error);
        cw_cluster_answer (self, &job->target, false, cw_error_body ("cluster.join: %s", job->error));
        s_join_free (job);
        return 0;
    }
    cw_info ("cluster: join: the primary's certificate matches the token (sha256 %s); token redeemed", job->got);
    char err[512];
    if (json_array_size (job->mapping_list)
    &&  (cw_cluster_set_key (self, "cluster.address_mapping", job->mapping_list, err, sizeof err)
      || cw_cluster_set_key (self, "cluster.address_mapping.enabled", json_string ("on"), err, sizeof err))) {
        cw_cluster_answer (self, &job->target, false, cw_error_body ("cluster.join: %s", err));
        s_join_free (job);
        return 0;
    }
    if (s_store_settings (self, &job->settings, err, sizeof err)) {
        cw_cluster_answer (self, &job->target, false, cw_error_body ("cluster.join: %s", err));
        s_join_free (job);
        return 0;
    }
    cw_info ("cluster: joined the cluster %s as peer %d (primary %d); restarting", job->settings.name,
             job->my_index, job->settings.primary);
    s_answer_and_restart (self, &job->target,
                          json_pack ("{s:b, s:i, s:b, s:o, s:s}", "joined", true, "index", job->my_index,
                                     "restarting", true, "peers", s_peers_json (&job->settings), "message",
                                     "joined: this node restarts now and takes the primary's configuration"));
    s_join_free (job);
    return 0;
}

//  Decode TEXT (base64url JSON). A new object or NULL with ERR.
static json_t *
s_token_decode (const char *text, char *err, size_t errlen)
{
    size_t len = strlen (text);
    if (len == 0 || len > S_TOKEN_MAX) {
        snprintf (err, errlen, "the token is empty or too long");
        return NULL;
    }
    unsigned char *bin = malloc (len + 1);
    size_t bin_len = 0;
    json_t *json = NULL;
    if (sodium_base642bin (bin, len, text, len, " \n\r\t", &bin_len, NULL,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
        json = json_loadb ((const char *) bin, bin_len, 0, NULL);
    free (bin);
    if (!json_is_object (json)) {
        json_decref (json);
        snprintf (err, errlen, "this is not a join token (make one on the primary with `causeway cluster "
                  "token ADDRESS`)");
        return NULL;
    }
    return json;
}

static void
s_join (cw_cluster_t *self, const cw_envelope_t *req, json_t *args, json_t **reply, cw_reply_status_t *status)
{
    *status = CW_REPLY_ERROR;
    const char *command = "cluster.join";
    const char *own = self->boot->peering.address;
    if (self->effective.peer_count > 0) {
        *reply = cw_error_body ("%s: this node is already in a cluster (%s, peer %d of %d); remove it from "
                                "that cluster first", command, self->effective.name, self->this_peer,
                                self->effective.peer_count);
        return;
    }
    if (s_join_running) {
        *reply = cw_error_body ("%s: a join is already in progress", command);
        return;
    }
    if (!own || !*own) {
        *reply = cw_error_body ("%s: peering.address is not set in the bootstrap file %s; set the address this "
                                "node clusters on and restart causewayd", command, self->boot->file);
        return;
    }
    if ((*reply = s_check_tls_files (self, command)))
        return;
    char err[512];
    json_t *token = s_token_decode (s_jstr (args, "token"), err, sizeof err);
    if (!token) {
        *reply = cw_error_body ("%s: %s", command, err);
        return;
    }
    s_join_t *job = calloc (1, sizeof *job);
    job->pipe_fd[0] = job->pipe_fd[1] = -1;
    cw_cluster_settings_t *s = &job->settings;
    json_t *peers = json_object_get (token, "peers");
    json_t *expires = json_object_get (token, "expires");
    json_t *port = json_object_get (token, "port");
    const char *problem = NULL;
    if (json_integer_value (json_object_get (token, "v")) != S_TOKEN_VERSION)
        problem = "the token is of an unknown version";
    else
    if (!json_is_array (peers) || json_array_size (peers) < 1 || json_array_size (peers) > CW_CLUSTER_MAX_PEERS
    ||  !json_is_integer (expires) || !json_is_integer (port) || json_integer_value (port) < 1
    ||  json_integer_value (port) > 65535 || strlen (s_jstr (token, "fingerprint")) != 64
    ||  !*s_jstr (token, "nonce") || strlen (s_jstr (token, "nonce")) >= sizeof job->nonce)
        problem = "the token is malformed";
    else
    if (json_integer_value (expires) < s_wall_s ())
        problem = "the token has expired; make a new one on the primary with `causeway cluster token ADDRESS`";
    if (problem) {
        *reply = cw_error_body ("%s: %s", command, problem);
        json_decref (token);
        s_join_free (job);
        return;
    }
    cw_copy (s->name, sizeof s->name, s_jstr (token, "name"));
    s->primary = (int) json_integer_value (json_object_get (token, "primary"));
    s->ip_version = (int) json_integer_value (json_object_get (token, "ip_version"));
    cw_copy (s->tls_verify, sizeof s->tls_verify, s_jstr (token, "tls_verify"));
    size_t i;
    json_t *item;
    json_array_foreach (peers, i, item) {
        cw_copy (s->peers[i], sizeof s->peers[i], json_string_value (item));
        s->peer_count = (int) i + 1;
    }
    job->mapping_list = json_array ();
    json_array_foreach (json_object_get (token, "address_mapping"), i, item) {
        const char *text = json_string_value (item);
        const char *equals = text ? strchr (text, '=') : NULL;
        if (!equals || job->mapping_count >= 12)
            continue;
        json_array_append (job->mapping_list, item);
        int n = job->mapping_count++;
        snprintf (job->texts[n][0], 256, "%.*s", (int) (equals - text), text);
        cw_copy (job->texts[n][1], 256, equals + 1);
        job->mapping[n].fqdn = job->texts[n][0];
        job->mapping[n].ip = job->texts[n][1];
    }
    int index = s_own_index (self, s, job->mapping, job->mapping_count);
    cw_copy (job->fingerprint, sizeof job->fingerprint, s_jstr (token, "fingerprint"));
    cw_copy (job->nonce, sizeof job->nonce, s_jstr (token, "nonce"));
    job->port = (int) json_integer_value (port);
    json_decref (token);
    *reply = NULL;
    if (s->primary < 1 || s->primary > s->peer_count)
        *reply = cw_error_body ("%s: the token is malformed (primary index %d of %d peers)", command, s->primary,
                                s->peer_count);
    else
    if (!index)
        *reply = cw_error_body ("%s: this node (peering.address %s) is not in the token's peer list (%s...): "
                                "the token was made for another node; make one for %s on the primary", command,
                                own, s->peers[0], own);
    else
    if (index == s->primary)
        *reply = cw_error_body ("%s: the token names this node as the primary", command);
    else
    if (s_check_settings (s, err, sizeof err))
        *reply = cw_error_body ("%s: the token's clustering settings are not valid: %s", command, err);
    if (*reply) {
        s_join_free (job);
        return;
    }
    job->self = self;
    job->target = s_target (req);
    job->my_index = index;
    cw_copy (job->my_address, sizeof job->my_address, s->peers[index - 1]);
    const char *primary = s_jstr (args, "primary");
    cw_copy (job->primary, sizeof job->primary, *primary ? primary : s->peers[s->primary - 1]);
    job->ip_version = s->ip_version;
    cw_copy (job->bind_ip, sizeof job->bind_ip, own);
    cw_copy (job->cert, sizeof job->cert, self->boot->peering.certificate);
    cw_copy (job->key, sizeof job->key, self->boot->peering.private_key);
    if (pipe2 (job->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        *reply = cw_error_body ("%s: pipe: %s", command, strerror (errno));
        s_join_free (job);
        return;
    }
    zmq_pollitem_t poll_item = { NULL, job->pipe_fd[0], ZMQ_POLLIN, 0 };
    if (zloop_poller (self->loop, &poll_item, s_on_join_done, job) != 0) {
        *reply = cw_error_body ("%s: cannot watch the join", command);
        s_join_free (job);
        return;
    }
    if (pthread_create (&job->thread, NULL, s_join_thread, job) != 0) {
        zloop_poller_end (self->loop, &poll_item);
        *reply = cw_error_body ("%s: cannot start the join", command);
        s_join_free (job);
        return;
    }
    s_join_running = job;
    cw_info ("cluster: join: checking the primary %s:%d against the token (this node would be peer %d)",
             job->primary, job->port, index);
    *status = CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  Peer control commands

static void
s_apply_settings (cw_cluster_t *self, json_t *args, const cw_reply_target_t *target)
{
    int sender = s_sender (self, target);
    int primary = self->effective.primary;
    if (target->remote && sender != primary && cw_cluster_peer_alive (self, primary)) {
        cw_warn ("cluster: refused clustering settings from peer %d: it is not the primary (peer %d)", sender,
                 primary);
        cw_cluster_answer (self, target, false,
                           cw_error_body ("peer %d takes clustering settings only from its configuration "
                                          "primary, peer %d", self->this_peer, primary));
        return;
    }
    static const char *names[] = { "name", "primary", "ip_version", "tls_verify", "peers" };
    static const char *keys[] = { "cluster.name", "cluster.primary", "cluster.ip_version",
                                  "cluster.tls_verify", "cluster.peers" };
    json_t *normal[5] = { NULL };
    char err[512];
    bool any = false;
    for (int i = 0; i < 5; i++) {
        json_t *value = json_object_get (args, names[i]);
        if (!value)
            continue;
        if (json_is_integer (value) && i == 2) {
            char text[8];
            snprintf (text, sizeof text, "%d", (int) json_integer_value (value));
            normal[i] = json_string (text);
        }
        else
        if (!(normal[i] = s_normal (keys[i], value, err, sizeof err))) {
            for (int j = 0; j < i; j++)
                json_decref (normal[j]);
            cw_cluster_answer (self, target, false, cw_error_body ("%s", err));
            return;
        }
        any = true;
    }
    int rc = 0;
    for (int i = 0; i < 5 && rc == 0; i++)
        if (normal[i])
            rc = cw_cluster_set_key (self, keys[i], normal[i], err, sizeof err);
    for (int i = 0; i < 5; i++)
        json_decref (normal[i]);
    if (rc) {
        cw_cluster_answer (self, target, false, cw_error_body ("%s", err));
        return;
    }
    cw_cluster_settings_t stored;
    cw_cluster_stored_settings (self, &stored);
    json_t *jrestart = json_object_get (args, "restart");
    bool restart = json_is_boolean (jrestart) ? json_is_true (jrestart) : s_needs_restart (self, &stored);
    cw_info ("cluster: clustering settings from peer %d stored peers=%d primary=%d restart=%s%s", sender,
             stored.peer_count, stored.primary, restart ? "yes" : "no",
             stored.peer_count == 0 ? " (left the cluster: factory reset at restart)" : "");
    json_t *body = json_pack ("{s:b, s:b, s:b}", "applied", true, "changed", any, "restarting", restart);
    if (restart)
        s_answer_and_restart (self, target, body);
    else
        cw_cluster_answer (self, target, true, body);
}

static void
s_redeem_token (cw_cluster_t *self, json_t *args, const cw_reply_target_t *target)
{
    int sender = s_sender (self, target);
    const char *nonce = s_jstr (args, "nonce");
    const char *error = NULL;
    char hash[65];
    s_sha256_hex (nonce, strlen (nonce), hash);
    if (!self->is_primary)
        error = "this peer is not the configuration primary";
    else
    if (!self->join_token_hash)
        error = "no join token is outstanding (it was used, replaced by a newer one, or the primary restarted); "
                "make a new one with `causeway cluster token ADDRESS`";
    else
    if (sodium_memcmp (hash, self->join_token_hash, 64) != 0)
        error = "it is not the primary's outstanding join token (a newer one replaced it?)";
    else
    if ((int64_t) time (NULL) * 1000 > self->join_token_expires)
        error = "the join token has expired";
    else
    if (sender < 1 || sender > self->effective.peer_count
    ||  !s_same_address (self->effective.peers[sender - 1], self->join_token_address))
        error = "the join token was made for another address";
    if (error) {
        cw_warn ("cluster: join token refused from peer %d: %s", sender, error);
        cw_cluster_answer (self, target, false, cw_error_body ("%s", error));
        return;
    }
    free (self->join_token_hash);
    self->join_token_hash = NULL;
    cw_info ("cluster: join token redeemed by peer %d (%s)", sender, self->join_token_address);
    cw_cluster_answer (self, target, true, json_pack ("{s:b, s:i}", "redeemed", true, "index", sender));
}

// ---------------------------------------------------------------------------
//  Entry points

bool
cw_cluster_procedure (cw_cluster_t *self, const cw_envelope_t *req, const char *command,
                      json_t *args, json_t **reply, cw_reply_status_t *status)
{
    if (cw_cluster_fqdn_procedure (self, req, command, args, reply, status))
        return true;
    json_t *empty = NULL;
    if (!json_is_object (args))
        args = empty = json_object ();
    bool handled = true;
    if (strcmp (command, "cluster.form") == 0)
        s_form (self, req, args, reply, status);
    else
    if (strcmp (command, "cluster.token") == 0 || strcmp (command, "cluster.add") == 0)
        s_add_or_token (self, req, command, args, reply, status);
    else
    if (strcmp (command, "cluster.join") == 0)
        s_join (self, req, args, reply, status);
    else
    if (strcmp (command, "cluster.remove") == 0 || strcmp (command, "cluster.replace") == 0)
        s_remove_or_replace (self, req, command, args, reply, status);
    else
    if (strcmp (command, "cluster.set_primary") == 0)
        s_set_primary (self, req, args, reply, status);
    else
    if (strcmp (command, "cluster.disband") == 0)
        s_disband (self, req, args, reply, status);
    else
        handled = false;
    if (handled && *status == CW_REPLY_ERROR && *reply)
        cw_warn ("cluster: refused: %s", s_jstr (*reply, "error"));
    json_decref (empty);
    return handled;
}

bool
cw_cluster_procedure_control (cw_cluster_t *self, const char *command, json_t *args,
                              const cw_reply_target_t *target)
{
    if (cw_cluster_fqdn_control (self, command, args, target))
        return true;
    json_t *empty = NULL;
    if (!json_is_object (args))
        args = empty = json_object ();
    bool handled = true;
    if (strcmp (command, "cluster.apply_settings") == 0)
        s_apply_settings (self, args, target);
    else
    if (strcmp (command, "cluster.redeem_token") == 0)
        s_redeem_token (self, args, target);
    else
        handled = false;
    json_decref (empty);
    return handled;
}
