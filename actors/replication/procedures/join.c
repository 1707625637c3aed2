/*  join.c - `causeway cluster join`: a node takes a join token (made on the
    primary by cluster.token, membership.c), checks the primary against
    it, redeems it, and takes the clustering settings it carries.

      cluster.join {primary?, token}
          on the new node: check the token, connect to the primary over TLS
          (bound to peering.address), compare the primary's certificate
          with the token's fingerprint, redeem the token (once), take the
          clustering settings of the token; restart.
      cluster.redeem_token {nonce}   (peer command, on the primary)
          the joining node redeems the outstanding join token: once.

    Join, on the wire (link/dial.h): the new node dials primary:port from
    its peering.address (the token already put that address in the
    primary's peer list, so the accept filter lets it in), completes TLS
    presenting its own certificate, compares the server certificate's
    SHA-256 with the token's, then speaks the peer-link protocol as the
    peer it is about to be: HELLO {index, address}, and a REQUEST {"op":
    "control", "command": "cluster.redeem_token", "args": {"nonce"}}. The
    primary checks the nonce against its outstanding token and the
    sender's address against the token's, and forgets the token: a second
    use is refused. The fingerprint is checked once, at join; it is not
    kept afterwards (the links' TLS mode governs from then on).

    The dial is blocking, so it runs on a short-lived worker thread (4 s
    in all, retried while the primary does not accept yet), which reports
    through a pipe polled by the actor's zloop; the actor keeps
    heartbeating to the supervisor meanwhile. On the engine, the join is
    two steps: "check the primary" waits for the thread's answer, "take
    the settings" stores them and restarts the node.
*/
#include "join.h"
#include "cw_text.h"
#include "dial.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define S_TOKEN_MAX 8192
#define S_JOIN_TIMEOUT_MS 4000

typedef struct {
    cw_proc_request_t request;    //  first: see cw_proc_end_answer
    //  inputs of the worker thread
    char primary [256];    //  address to connect to (IP or FQDN)
    int port;
    int ip_version;
    char bind_ip [64];    //  this node's peering.address
    char cert [PATH_MAX];
    char key [PATH_MAX];
    char fingerprint [65];
    int my_index;
    char my_address [256];    //  this node's entry in the token's list
    char nonce [80];
    cw_mapping_t mapping;    //  the token's address mapping
    //  outputs of the worker thread
    int rc;
    char error [512];
    char got [65];
    //  plumbing
    int pipe_fd [2];
    bool polling;
    bool thread_started;
    pthread_t thread;
    void *token;    //  the engine's, for the thread's answer
    cw_cluster_settings_t settings;
    json_t *mapping_list;    //  the token's address_mapping ([] none)
} s_join_t;

// ---------------------------------------------------------------------------
//  The worker thread: connect, TLS, pin, HELLO, redeem

//  Send the HELLO and the redemption on DIAL. 0, -1 (retry), -2 (final).
static int
s_join_redeem (s_join_t *job, cw_dial_t *dial)
{
    json_t *hello = json_pack ("{s:i, s:s}", "index", job->my_index, "address", job->my_address);
    int sent = cw_dial_send (dial, CW_FRAME_TYPE_HELLO, 0, hello);
    json_decref (hello);
    uint8_t type = 0;
    uint64_t corr = 0;
    json_t *json = NULL;
    if (sent || cw_dial_recv (dial, &type, &corr, &json) || type != CW_FRAME_TYPE_HELLO) {
        json_decref (json);
        snprintf (job->error, sizeof job->error, "the primary closed the connection during HELLO");
        return -1;
    }
    bool welcome = json_is_true (json_object_get (json, "ok"));
    if (!welcome)    //  it may not have applied the new peer list yet: retry
        snprintf (job->error, sizeof job->error, "the primary refused this node: %s", cw_jtext (json, "error"));
    json_decref (json);
    if (!welcome)
        return -1;
    json_t *request = cw_proc_control ("cluster.redeem_token", json_pack ("{s:s}", "nonce", job->nonce));
    sent = cw_dial_send (dial, CW_FRAME_REQUEST, 1, request);
    json_decref (request);
    if (sent) {
        snprintf (job->error, sizeof job->error, "cannot send the token to the primary");
        return -1;
    }
    json = NULL;
    do {
        json_decref (json);
        if (cw_dial_recv (dial, &type, &corr, &json)) {
            snprintf (job->error, sizeof job->error, "the primary did not answer the token redemption");
            return -2;
        }
    } while (type != CW_FRAME_REPLY || corr != 1);
    int rc = 0;
    if (!json_is_true (json_object_get (json, "ok"))) {
        snprintf (job->error, sizeof job->error, "the primary refused the token: %s",
                  cw_jtext (json_object_get (json, "body"), "error"));
        rc = -2;
    }
    json_decref (json);
    return rc;
}

//  One attempt: connect, TLS, pin, then redeem. 0, -1 (retry), -2 (final).
static int
s_join_attempt (s_join_t *job, const char *ip, int64_t deadline)
{
    bool final = false;
    char err [400];
    cw_dial_t *dial = cw_dial_open (ip, job->port, job->bind_ip, job->primary, job->cert, job->key, deadline, &final,
                                    err, sizeof err);
    if (!dial) {
        bool handshake = strncmp (err, "TLS handshake", 13) == 0;
        snprintf (job->error, sizeof job->error, "%s%s", err,
                  handshake ? " (is this node in the primary's peer list yet?)" : "");
        return final ? -2 : -1;
    }
    int rc = -2;
    if (cw_dial_peer_fingerprint (dial, job->got) != 0)
        snprintf (job->error, sizeof job->error, "the primary presented no certificate");
    else if (strcasecmp (job->got, job->fingerprint) != 0)
        snprintf (job->error, sizeof job->error,
                  "the primary's certificate does not match the token: expected "
                  "SHA-256 %s, got %s (%s:%d is not the primary that made the token)",
                  job->fingerprint, job->got, ip, job->port);
    else
        rc = s_join_redeem (job, dial);
    cw_dial_close (&dial);
    return rc;
}

static void *
s_join_thread (void *arg)
{
    s_join_t *job = arg;
    int64_t deadline = cw_mono_ms () + S_JOIN_TIMEOUT_MS;
    char ip [64], via [256];
    job->rc = -1;
    if (cw_peerlink_resolve (job->primary, job->mapping.items, (size_t) job->mapping.count, job->ip_version, ip,
                             sizeof ip, via, sizeof via)
        != 0)
        snprintf (job->error, sizeof job->error, "the primary's address %.200s does not resolve: %.200s", job->primary,
                  via);
    else
        while (true) {
            int rc = s_join_attempt (job, ip, deadline);
            if (rc == 0 || rc == -2) {
                job->rc = rc;
                break;
            }
            if (cw_mono_ms () + 300 >= deadline)
                break;
            usleep (300 * 1000);
        }
    char byte = 1;
    if (write (job->pipe_fd [1], &byte, 1) < 0) {
        //  the loop then never hears of it: nothing else to do
    }
    return NULL;
}

// ---------------------------------------------------------------------------
//  The procedure

static void
s_join_stop_polling (s_join_t *job)
{
    if (!job->polling)
        return;
    zmq_pollitem_t item = { NULL, job->pipe_fd [0], ZMQ_POLLIN, 0 };
    zloop_poller_end (cw_cluster_loop (job->request.env->core), &item);
    job->polling = false;
}

static void
s_join_free (void *ctx)
{
    s_join_t *job = ctx;
    s_join_stop_polling (job);
    if (job->thread_started)
        pthread_join (job->thread, NULL);
    if (job->pipe_fd [0] >= 0)
        close (job->pipe_fd [0]);
    if (job->pipe_fd [1] >= 0)
        close (job->pipe_fd [1]);
    json_decref (job->mapping_list);
    sodium_memzero (job->nonce, sizeof job->nonce);
    free (job);
}

//  The worker thread ended: hand its outcome to the engine.
static int
s_on_join_done (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    s_join_t *job = arg;
    char byte;
    if (read (item->fd, &byte, 1) < 0 && errno == EAGAIN)
        return 0;
    s_join_stop_polling (job);
    pthread_join (job->thread, NULL);
    job->thread_started = false;
    json_t *answer = job->rc == 0 ? json_object () : json_pack ("{s:s}", "error", job->error);
    cw_engine_deliver (job->token, job->rc == 0, answer);
    json_decref (answer);
    return 0;
}

static cw_step_result_t
s_check_primary (cw_engine_t *engine, void *ctx)
{
    s_join_t *job = ctx;
    zloop_t *loop = cw_cluster_loop (job->request.env->core);
    job->token = cw_engine_expect (engine, 0, 0);
    if (pipe2 (job->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0) {
        cw_engine_fail (engine, "cluster.join: pipe: %s", strerror (errno));
        return CW_STEP_FAIL;
    }
    zmq_pollitem_t poll_item = { NULL, job->pipe_fd [0], ZMQ_POLLIN, 0 };
    if (!job->token || zloop_poller (loop, &poll_item, s_on_join_done, job) != 0) {
        cw_engine_fail (engine, "cluster.join: cannot watch the join");
        return CW_STEP_FAIL;
    }
    job->polling = true;
    if (pthread_create (&job->thread, NULL, s_join_thread, job) != 0) {
        cw_engine_fail (engine, "cluster.join: cannot start the join");
        return CW_STEP_FAIL;
    }
    job->thread_started = true;
    cw_info ("cluster: join: checking the primary %s:%d against the token (this node would be peer %d)", job->primary,
             job->port, job->my_index);
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_on_checked (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json)
{
    (void) ctx;
    (void) peer;
    (void) tag;
    if (ok)
        return CW_STEP_NEXT;
    cw_engine_fail (engine, "cluster.join: %s", cw_jtext (json, "error"));
    return CW_STEP_FAIL;
}

static cw_step_result_t
s_take_settings (cw_engine_t *engine, void *ctx)
{
    s_join_t *job = ctx;
    cw_cluster_t *core = job->request.env->core;
    cw_info ("cluster: join: the primary's certificate matches the token (sha256 %s); token redeemed", job->got);
    char err [512];
    json_t *on = json_string ("on");
    int rc = 0;
    if (json_array_size (job->mapping_list))
        rc = cw_proc_set_key (core, "cluster.address_mapping", job->mapping_list, err, sizeof err)
          || cw_proc_set_key (core, "cluster.address_mapping.enabled", on, err, sizeof err);
    json_decref (on);
    if (rc || cw_settings_store (cw_cluster_store (core), &job->settings, err, sizeof err)) {
        cw_engine_fail (engine, "cluster.join: %s", err);
        return CW_STEP_FAIL;
    }
    cw_info ("cluster: joined the cluster %s as peer %d (primary %d); restarting", job->settings.name, job->my_index,
             job->settings.primary);
    cw_proc_answer_and_restart (core, &job->request.target,
                                json_pack ("{s:b, s:i, s:b, s:o, s:s}", "joined", true, "index", job->my_index,
                                           "restarting", true, "peers", cw_settings_peers_json (&job->settings),
                                           "message",
                                           "joined: this node restarts now and takes the primary's "
                                           "configuration"));
    return CW_STEP_DONE;
}

static const cw_step_t s_join_steps [] = {
    { .name = "check the primary", .enter = s_check_primary, .on_reply = s_on_checked },
    { .name = "take the settings", .enter = s_take_settings },
    { .name = NULL }
};
static const cw_procedure_t s_join_procedure = { .name = "cluster.join",
                                                 .steps = s_join_steps,
                                                 .busy = "a join is already in progress",
                                                 .on_end = cw_proc_end_answer,
                                                 .free_ctx = s_join_free };

// ---------------------------------------------------------------------------
//  cluster.join: the token

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
    if (sodium_base642bin (bin, len, text, len, " \n\r\t", &bin_len, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
        == 0)
        json = json_loadb ((const char *) bin, bin_len, 0, NULL);
    free (bin);
    if (!json_is_object (json)) {
        json_decref (json);
        snprintf (err, errlen,
                  "this is not a join token (make one on the primary with `causeway cluster "
                  "token ADDRESS`)");
        return NULL;
    }
    return json;
}

//  What is wrong with TOKEN's form, or NULL.
static const char *
s_token_problem (json_t *token)
{
    json_t *peers = json_object_get (token, "peers");
    json_t *expires = json_object_get (token, "expires");
    json_t *port = json_object_get (token, "port");
    if (json_integer_value (json_object_get (token, "v")) != CW_JOIN_TOKEN_VERSION)
        return "the token is of an unknown version";
    if (!json_is_array (peers) || json_array_size (peers) < 1 || json_array_size (peers) > CW_CLUSTER_MAX_PEERS
        || !json_is_integer (expires) || !json_is_integer (port) || json_integer_value (port) < 1
        || json_integer_value (port) > 65535 || strlen (cw_jtext (token, "fingerprint")) != 64
        || !*cw_jtext (token, "nonce") || strlen (cw_jtext (token, "nonce")) >= sizeof ((s_join_t *) 0)->nonce)
        return "the token is malformed";
    if (json_integer_value (expires) < (json_int_t) time (NULL))
        return "the token has expired; make a new one on the primary with `causeway cluster token ADDRESS`";
    return NULL;
}

//  The settings and the address mapping of TOKEN into JOB.
static void
s_token_take (s_join_t *job, json_t *token)
{
    cw_cluster_settings_t *s = &job->settings;
    cw_settings_from_json (token, s);
    job->mapping_list = json_array ();
    size_t i;
    json_t *item;
    cw_mapping_t *mapping = &job->mapping;
    json_array_foreach (json_object_get (token, "address_mapping"), i, item) {
        const char *text = json_string_value (item);
        const char *equals = text ? strchr (text, '=') : NULL;
        if (!equals || mapping->count >= CW_MAPPING_MAX)
            continue;
        json_array_append (job->mapping_list, item);
        char (*pair) [256] = mapping->texts [mapping->count];
        snprintf (pair [0], 256, "%.*s", (int) (equals - text), text);
        cw_copy (pair [1], 256, equals + 1);
        mapping->items [mapping->count] = (cw_peerlink_mapping_t){ .fqdn = pair [0], .ip = pair [1] };
        mapping->count++;
    }
    cw_copy (job->fingerprint, sizeof job->fingerprint, cw_jtext (token, "fingerprint"));
    cw_copy (job->nonce, sizeof job->nonce, cw_jtext (token, "nonce"));
    job->port = (int) json_integer_value (json_object_get (token, "port"));
}

//  Is JOB's token for this node? NULL, or an error body.
static json_t *
s_token_for_us (cw_cluster_t *core, s_join_t *job, const char *own)
{
    const char *command = "cluster.join";
    cw_cluster_settings_t *s = &job->settings;
    int index = cw_settings_own_index (s, own, &job->mapping);
    char err [512];
    if (s->primary < 1 || s->primary > s->peer_count)
        return cw_error_body ("%s: the token is malformed (primary index %d of %d peers)", command, s->primary,
                              s->peer_count);
    if (!index)
        return cw_error_body ("%s: this node (peering.address %s) is not in the token's peer list (%s...): "
                              "the token was made for another node; make one for %s on the primary",
                              command, own, s->peers [0], own);
    if (index == s->primary)
        return cw_error_body ("%s: the token names this node as the primary", command);
    if (cw_settings_check (s, err, sizeof err))
        return cw_error_body ("%s: the token's clustering settings are not valid: %s", command, err);
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    job->my_index = index;
    cw_copy (job->my_address, sizeof job->my_address, s->peers [index - 1]);
    job->ip_version = s->ip_version;
    cw_copy (job->bind_ip, sizeof job->bind_ip, own);
    cw_copy (job->cert, sizeof job->cert, boot->peering.certificate);
    cw_copy (job->key, sizeof job->key, boot->peering.private_key);
    return NULL;
}

static cw_reply_status_t
s_join (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_proc_env_t *env = arg;
    cw_cluster_t *core = env->core;
    const char *command = "cluster.join";
    const cw_bootstrap_t *boot = cw_cluster_boot (core);
    const cw_cluster_settings_t *effective = cw_cluster_effective (core);
    const char *own = boot->peering.address;
    if (effective->peer_count > 0)
        return cw_proc_refuse (reply, cw_error_body ("%s: this node is already in a cluster (%s, peer %d of %d); "
                                                     "remove it from that cluster first",
                                                     command, effective->name, cw_cluster_this_peer (core),
                                                     effective->peer_count));
    json_t *error = cw_engine_refusal (env->engine, command);
    if (!error && (!own || !*own))
        error = cw_error_body ("%s: peering.address is not set in the bootstrap file %s; set the address this "
                               "node clusters on and restart causewayd",
                               command, boot->file);
    if (!error)
        error = cw_proc_check_tls_files (core, command);
    if (error)
        return cw_proc_refuse (reply, error);
    char err [512];
    json_t *token = s_token_decode (cw_jtext (args, "token"), err, sizeof err);
    if (!token)
        return cw_proc_refuse (reply, cw_error_body ("%s: %s", command, err));
    const char *problem = s_token_problem (token);
    if (problem) {
        json_decref (token);
        return cw_proc_refuse (reply, cw_error_body ("%s: %s", command, problem));
    }
    s_join_t *job = calloc (1, sizeof *job);
    job->pipe_fd [0] = job->pipe_fd [1] = -1;
    job->request.env = env;
    job->request.target = cw_proc_target (req);
    s_token_take (job, token);
    json_decref (token);
    if ((error = s_token_for_us (core, job, own))) {
        s_join_free (job);
        return cw_proc_refuse (reply, error);
    }
    const char *primary = cw_jtext (args, "primary");
    cw_copy (job->primary, sizeof job->primary, *primary ? primary : job->settings.peers [job->settings.primary - 1]);
    return cw_proc_start (env->engine, &s_join_procedure, job, NULL, reply);
}

// ---------------------------------------------------------------------------
//  cluster.redeem_token (on the primary)

static void
s_redeem_token (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    cw_join_token_t *kept = &((cw_proc_env_t *) arg)->token;
    int sender = cw_cluster_sender (core, target);
    const char *nonce = cw_jtext (args, "nonce");
    const char *error = NULL;
    char hash [65];
    cw_proc_sha256_hex (nonce, strlen (nonce), hash);
    if (!cw_cluster_is_primary (core))
        error = "this peer is not the configuration primary";
    else if (!kept->outstanding)
        error = "no join token is outstanding (it was used, replaced by a newer one, or the primary restarted); "
                "make a new one with `causeway cluster token ADDRESS`";
    else if (sodium_memcmp (hash, kept->nonce_hash, 64) != 0)
        error = "it is not the primary's outstanding join token (a newer one replaced it?)";
    else if ((int64_t) time (NULL) * 1000 > kept->expires_ms)
        error = "the join token has expired";
    else if (sender < 1 || !cw_settings_same_address (cw_proc_address (core, sender), kept->address))
        error = "the join token was made for another address";
    if (error) {
        cw_warn ("cluster: join token refused from peer %d: %s", sender, error);
        cw_cluster_answer (core, target, false, cw_error_body ("%s", error));
        return;
    }
    kept->outstanding = false;
    cw_info ("cluster: join token redeemed by peer %d (%s)", sender, kept->address);
    cw_cluster_answer (core, target, true, json_pack ("{s:b, s:i}", "redeemed", true, "index", sender));
}

// ---------------------------------------------------------------------------
//  Tables

const cw_command_t cw_join_commands [] = {
    { "cluster.join", s_join, 0, "join a cluster with a token made on its primary" }, { NULL, NULL, 0, NULL }
};

const cw_peer_command_t cw_join_peer_commands [] = { { "cluster.redeem_token", s_redeem_token }, { NULL, NULL } };
