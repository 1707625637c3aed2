/*  test_cluster_core.c - three cluster cores in one process: the core,
    replication and the service of actors/replication/cluster/, each node
    with its own real configuration store in a temporary folder and its
    own actor runtime, connected by an in-memory transport instead of the
    TLS peer links (as libre tests its SIP client against an in-process
    fake server).

    The transport queues every frame; the test steps the nodes (one tick
    each, then delivers the queue until it is empty), and can cut a link,
    or make a node silent (its frames are dropped, its links stay up).
    Local requests go straight to the modules' command handlers; deferred
    answers come back through the actor runtime to a ROUTER socket that
    stands in for the supervisor's broker.

    What is checked is what a user would check: values readable on the
    other peers, `cluster status` and `replication status` fields, and the
    retained cluster.peers other actors see (read off the broker socket).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_log.h"
#include "layer.h"
#include "replication.h"
#include "service.h"

#define S_NODES 3
#define S_BROKER "inproc://test-cluster-core-broker"

// ---------------------------------------------------------------------------
//  The in-memory transport

typedef struct {
    int index;                   //  the node's slot
    cw_peerlink_config_t cfg;    //  its callbacks
} s_link_t;

typedef struct {
    int from, to;
    uint8_t type;
    uint64_t corr;
    uint64_t link_id;
    char *json;
    void *blob;
    size_t blob_len;
} s_frame_t;

static s_link_t *s_links [S_NODES + 1];
static bool s_up [S_NODES + 1][S_NODES + 1];    //  outbound link [a] -> [b] up
static bool s_silent [S_NODES + 1];             //  frames from this node are lost
static zlistx_t *s_queue;

//  Link ids: the outbound link from A to B is A * 10 + B.
static void *
s_start (zloop_t *loop, const cw_peerlink_config_t *cfg, char *err, size_t errlen)
{
    (void) loop;
    (void) err;
    (void) errlen;
    s_link_t *link = calloc (1, sizeof *link);
    link->index = cfg->peers.self_index;
    link->cfg = *cfg;
    s_links [link->index] = link;
    return link;
}

static void
s_stop (void **impl_p)
{
    s_link_t *link = *impl_p;
    s_links [link->index] = NULL;
    free (link);
    *impl_p = NULL;
}

static int
s_enqueue (int from, int to, uint8_t type, uint64_t corr, uint64_t link_id, const char *json, const void *blob,
           size_t blob_len)
{
    if (to < 1 || to > S_NODES || !s_links [to])
        return -1;
    s_frame_t *frame = calloc (1, sizeof *frame);
    *frame = (s_frame_t){ from, to, type, corr, link_id, strdup (json ? json : ""), NULL, blob_len };
    if (blob_len) {
        frame->blob = malloc (blob_len);
        memcpy (frame->blob, blob, blob_len);
    }
    zlistx_add_end (s_queue, frame);
    return 0;
}

static int
s_send (void *impl, int peer, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    s_link_t *link = impl;
    if (peer < 1 || peer > S_NODES || !s_up [link->index][peer])
        return -1;
    return s_enqueue (link->index, peer, type, corr, (uint64_t) (link->index * 10 + peer), json, blob, blob_len);
}

static int
s_reply (void *impl, uint64_t link_id, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    s_link_t *link = impl;
    int requester = (int) (link_id / 10);
    if (requester < 1 || requester > S_NODES || !s_up [requester][link->index])
        return -1;
    return s_enqueue (link->index, requester, type, corr, link_id, json, blob, blob_len);
}

static int
s_update_peers (void *impl, const cw_peerlink_peers_t *peers, char *err, size_t errlen)
{
    (void) impl;
    (void) peers;
    (void) err;
    (void) errlen;
    return 0;
}

static int
s_peer_status (void *impl, int peer, cw_peerlink_peer_status_t *status)
{
    s_link_t *link = impl;
    if (peer < 1 || peer > S_NODES)
        return -1;
    memset (status, 0, sizeof *status);
    status->index = peer;
    status->up = s_up [link->index][peer];
    strcpy (status->certificate, "ok");
    status->outbound.up = status->up;
    status->outbound.link_id = (uint64_t) (link->index * 10 + peer);
    status->inbound.link_id = (uint64_t) (peer * 10 + link->index);
    return 0;
}

static void
s_stats (void *impl, cw_peerlink_stats_t *stats)
{
    (void) impl;
    memset (stats, 0, sizeof *stats);
}

static cw_peerlink_t *
s_peerlink (void *impl)
{
    (void) impl;
    return NULL;
}

static const cw_transport_t s_fake = {
    .start = s_start,
    .stop = s_stop,
    .send = s_send,
    .reply = s_reply,
    .update_peers = s_update_peers,
    .peer_status = s_peer_status,
    .stats = s_stats,
    .peerlink = s_peerlink,
};

static void
s_frame_destroy (s_frame_t *frame)
{
    free (frame->json);
    free (frame->blob);
    free (frame);
}

//  Deliver queued frames until none is left.
static void
s_pump (void)
{
    s_frame_t *frame;
    while ((frame = zlistx_first (s_queue))) {
        zlistx_delete (s_queue, zlistx_cursor (s_queue));
        s_link_t *to = s_links [frame->to];
        if (to && !s_silent [frame->from]) {
            json_t *json = json_loads (frame->json, 0, NULL);
            cw_peerlink_dir_t dir = frame->type == CW_FRAME_REPLY ? CW_PEERLINK_OUTBOUND : CW_PEERLINK_INBOUND;
            to->cfg.on_message (NULL, frame->from, frame->link_id, dir, frame->type, frame->corr, frame->json, json,
                                frame->blob, frame->blob_len, to->cfg.arg);
            json_decref (json);
        }
        s_frame_destroy (frame);
    }
}

static void
s_link_event (int a, int b, bool up)
{
    s_up [a][b] = s_up [b][a] = up;
    int ends [2][2] = { { a, b }, { b, a } };
    for (int e = 0; e < 2; e++) {
        s_link_t *link = s_links [ends [e][0]];
        if (link) {
            link->cfg.on_link (NULL, ends [e][1], CW_PEERLINK_OUTBOUND, up, up ? "" : "connection closed",
                               link->cfg.arg);
            link->cfg.on_link (NULL, ends [e][1], CW_PEERLINK_INBOUND, up, up ? "" : "connection closed",
                               link->cfg.arg);
        }
    }
    s_pump ();
}

// ---------------------------------------------------------------------------
//  The nodes

typedef struct {
    char dir [64];
    cw_actor_t *actor;
    cw_config_store_t *store;
    cw_cluster_t *core;
    cw_replication_t *replication;
    cw_service_t *service;
} s_node_t;

static s_node_t s_nodes [S_NODES + 1];
static zsock_t *s_broker;
static uint64_t s_next_corr = 1000;
static json_t *s_peers_state [S_NODES + 1];    //  the last cluster.peers each node published
static int s_peers_published [S_NODES + 1];    //  how many times

//  Keep what a node's actor published that the tests look at.
static void
s_note (const char *identity, const cw_envelope_t *env)
{
    int i = 0;
    if (env->type != CW_MSG_STATE || strcmp (env->command, "cluster.peers") != 0
        || sscanf (identity, "replication%d", &i) != 1 || i < 1 || i > S_NODES)
        return;
    json_decref (s_peers_state [i]);
    s_peers_state [i] = json_loads (env->body, 0, NULL);
    assert_non_null (s_peers_state [i]);
    s_peers_published [i]++;
}

//  Read what waits on the broker socket: the REPLY CORR when it is there
//  (a new reference, *OK its kind), NULL when not; the rest is noted.
static json_t *
s_broker_read (uint64_t corr, bool *ok)
{
    zmsg_t *msg;
    while ((msg = cw_recv_nowait (s_broker))) {
        char *identity = zmsg_popstr (msg);
        cw_envelope_t env;
        char err [128];
        json_t *body = NULL;
        if (identity && cw_envelope_decode (msg, &env, err, sizeof err) == 0) {
            bool match = corr && env.type == CW_MSG_REPLY && env.corr == corr;
            if (match) {
                body = json_loads (env.body, 0, NULL);
                *ok = strcmp (env.command, "ok") == 0;
            }
            else
                s_note (identity, &env);
            cw_envelope_clear (&env);
        }
        zstr_free (&identity);
        zmsg_destroy (&msg);
        if (body)
            return body;
    }
    return NULL;
}

//  One tick of every node, then deliver everything; COUNT times.
static void
s_step (int count)
{
    for (int c = 0; c < count; c++) {
        for (int i = 1; i <= S_NODES; i++)
            if (s_nodes [i].core)
                cw_cluster_tick (s_nodes [i].core);
        s_pump ();
    }
}

static void
s_node_start (int i)
{
    s_node_t *node = &s_nodes [i];
    snprintf (node->dir, sizeof node->dir, "/tmp/cw-test-core-XXXXXX");
    assert_non_null (mkdtemp (node->dir));
    char path [128], name [32], state_dir [128], err [512];
    snprintf (path, sizeof path, "%s/causeway.conf", node->dir);
    snprintf (name, sizeof name, "replication%d", i);
    snprintf (state_dir, sizeof state_dir, "%s/state", node->dir);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    fprintf (file,
             "node: { name = \"peer%d\"; type = \"core\"; runtime_dir = \"%s/run\";"
             " state_dir = \"%s\"; log_level = \"error\"; };\n"
             "peering: { address = \"127.0.0.%d\"; port = 4371; };\n",
             i, node->dir, state_dir, i);
    fclose (file);
    setenv ("CAUSEWAY_BROKER", S_BROKER, 1);
    char *argv [] = { "test_cluster_core", "--config", path, "--name", name, NULL };
    node->actor = cw_actor_new ("replication", 5, argv);
    assert_non_null (node->actor);
    node->store = cw_config_store_new (state_dir, name, err, sizeof err);
    assert_non_null (node->store);
    cw_cluster_settings_t settings;
    memset (&settings, 0, sizeof settings);
    strcpy (settings.name, "test.example.com");
    settings.primary = 1;
    settings.ip_version = 4;
    strcpy (settings.tls_verify, "permissive");
    for (int p = 0; p < S_NODES; p++)
        snprintf (settings.peers [p], sizeof settings.peers [p], "127.0.0.%d", p + 1);
    settings.peer_count = S_NODES;
    assert_int_equal (cw_settings_store (node->store, &settings, err, sizeof err), 0);
    node->core = cw_cluster_new_on (node->actor, node->store, &s_fake, err, sizeof err);
    assert_non_null (node->core);
    node->replication = cw_replication_new (node->core);
    assert_non_null (node->replication);
    node->service = cw_service_new (node->core, node->replication);
    assert_non_null (node->service);
}

static void
s_node_stop (int i)
{
    s_node_t *node = &s_nodes [i];
    cw_service_destroy (&node->service);
    cw_replication_destroy (&node->replication);
    cw_cluster_destroy (&node->core);
    cw_config_store_destroy (&node->store);
    cw_actor_destroy (&node->actor);
    char command [128];
    snprintf (command, sizeof command, "rm -rf %s", node->dir);
    assert_int_equal (system (command), 0);
}

// ---------------------------------------------------------------------------
//  Requests

//  Run COMMAND with ARGS (JSON text) on node I through its module's table.
//  Returns OK / ERROR with *REPLY, or DEFERRED with *CORR to await.
static cw_reply_status_t
s_request (int i, const char *command, const char *args_text, json_t **reply, uint64_t *corr)
{
    const cw_command_t *tables [] = { cw_service_commands, cw_replication_commands };
    void *args_of [] = { s_nodes [i].service, s_nodes [i].replication };
    json_t *args = json_loads (args_text, 0, NULL);
    assert_non_null (args);
    cw_envelope_t req = { .type = CW_MSG_REQUEST,
                          .corr = s_next_corr++,
                          .from = "test",
                          .to = "replication",
                          .command = (char *) command,
                          .body = (char *) args_text };
    *corr = req.corr;
    *reply = NULL;
    for (size_t t = 0; t < 2; t++)
        for (const cw_command_t *c = tables [t]; c->name; c++)
            if (strcmp (c->name, command) == 0) {
                cw_reply_status_t status = c->handler (s_nodes [i].actor, &req, args, reply, args_of [t]);
                json_decref (args);
                return status;
            }
    fail_msg ("no handler for %s", command);
    return CW_REPLY_ERROR;
}

//  The deferred answer CORR, stepping the cluster until it arrives (at most
//  about two seconds). *OK tells which kind. New reference.
static json_t *
s_await (uint64_t corr, bool *ok)
{
    for (int round = 0; round < 200; round++) {
        s_step (1);
        json_t *body = s_broker_read (corr, ok);
        if (body)
            return body;
        zclock_sleep (10);
    }
    fail_msg ("no answer to request %llu", (unsigned long long) corr);
    return NULL;
}

//  Run COMMAND on node I and return its answer, deferred or not; assert
//  that it succeeded.
static json_t *
s_call_ok (int i, const char *command, const char *args_text)
{
    json_t *reply;
    uint64_t corr;
    cw_reply_status_t status = s_request (i, command, args_text, &reply, &corr);
    bool ok = status == CW_REPLY_OK;
    if (status == CW_REPLY_DEFERRED)
        reply = s_await (corr, &ok);
    if (!ok) {
        char *text = json_dumps (reply, JSON_COMPACT);
        fail_msg ("%s on node %d failed: %s", command, i, text);
    }
    return reply;
}

//  The value of key NAME on node I, as text.
static const char *
s_value (int i, const char *name)
{
    static char buf [256];
    return cw_config_store_text (s_nodes [i].store, name, buf, sizeof buf);
}

//  Field PEER's STATE in node I's cluster status.
static const char *
s_peer_state (int i, int peer)
{
    static char buf [32];
    json_t *status = cw_cluster_status (s_nodes [i].core);
    json_t *entry = json_array_get (json_object_get (status, "peers"), (size_t) peer - 1);
    snprintf (buf, sizeof buf, "%s", cw_jtext (entry, "state"));
    json_decref (status);
    return buf;
}

static const char *
s_database (int i)
{
    static char buf [32];
    json_t *status = cw_cluster_status (s_nodes [i].core);
    snprintf (buf, sizeof buf, "%s", cw_jtext (status, "database"));
    json_decref (status);
    return buf;
}

static void
s_set_on_primary (const char *key, const char *value_json)
{
    char args [256];
    snprintf (args, sizeof args, "{\"key\": \"%s\", \"value\": %s}", key, value_json);
    json_decref (s_call_ok (1, "config.set", args));
}

// ---------------------------------------------------------------------------
//  Fixture: three nodes, node 1 the primary with one change of its own,
//  all links up, the subordinates joined.

static int
s_setup (void **state)
{
    (void) state;
    memset (s_up, 0, sizeof s_up);
    memset (s_silent, 0, sizeof s_silent);
    s_queue = zlistx_new ();
    for (int i = 1; i <= S_NODES; i++)
        s_node_start (i);
    s_set_on_primary ("h323.ttl_s", "600");
    for (int a = 1; a <= S_NODES; a++)
        for (int b = a + 1; b <= S_NODES; b++)
            s_link_event (a, b, true);
    s_step (4);
    return 0;
}

static int
s_teardown (void **state)
{
    (void) state;
    for (int i = 1; i <= S_NODES; i++) {
        s_node_stop (i);
        json_decref (s_peers_state [i]);
        s_peers_state [i] = NULL;
        s_peers_published [i] = 0;
    }
    s_frame_t *frame;
    while ((frame = zlistx_first (s_queue))) {
        zlistx_delete (s_queue, zlistx_cursor (s_queue));
        s_frame_destroy (frame);
    }
    zlistx_destroy (&s_queue);
    return 0;
}

// ---------------------------------------------------------------------------
//  Tests

static void
test_join_takes_the_primarys_configuration (void **state)
{
    (void) state;
    for (int i = 2; i <= S_NODES; i++) {
        assert_string_equal (s_value (i, "h323.ttl_s"), "600");
        assert_string_equal (s_database (i), "active");
        json_t *status = s_call_ok (i, "replication.status", "{}");
        assert_true (json_is_true (json_object_get (status, "in_sync")));
        assert_false (json_is_true (json_object_get (status, "primary")));
        json_decref (status);
    }
    //  Everyone sees everyone
    for (int i = 1; i <= S_NODES; i++)
        for (int p = 1; p <= S_NODES; p++)
            assert_string_equal (s_peer_state (i, p), p == i ? "this-system" : "active");
}

static void
test_forwarded_write (void **state)
{
    (void) state;
    //  A cluster-wide key set on a subordinate is committed by the primary
    //  and reaches every peer; with wait, the answer comes once it did.
    json_t *reply = s_call_ok (2, "config.set", "{\"key\": \"sip.mode\", \"value\": \"off\", \"wait\": true}");
    assert_true (json_integer_value (json_object_get (reply, "seq")) > 0);
    json_decref (reply);
    for (int i = 1; i <= S_NODES; i++)
        assert_string_equal (s_value (i, "sip.mode"), "off");
    //  A value the registry refuses is refused on the subordinate at once
    json_t *error;
    uint64_t corr;
    assert_int_equal (s_request (3, "config.set", "{\"key\": \"h323.ttl_s\", \"value\": 5}", &error, &corr),
                      CW_REPLY_ERROR);
    json_decref (error);
    assert_string_equal (s_value (1, "h323.ttl_s"), "600");
}

static void
test_data_put_on_subordinate (void **state)
{
    (void) state;
    json_t *reply = s_call_ok (3, "replication.data.put",
                               "{\"ns\": \"tms\", \"rows\": [[\"k1\", \"v1\"], [\"k2\", \"v2\"]], \"wait\": true}");
    assert_int_equal (json_integer_value (json_object_get (reply, "rows")), 2);
    json_decref (reply);
    for (int i = 1; i <= S_NODES; i++) {
        reply = s_call_ok (i, "replication.data.get", "{\"ns\": \"tms\", \"key\": \"k1\"}");
        assert_string_equal (cw_jtext (reply, "value"), "v1");
        json_decref (reply);
        reply = s_call_ok (i, "replication.data.count", "{\"ns\": \"tms\"}");
        assert_int_equal (json_integer_value (json_object_get (reply, "rows")), 2);
        json_decref (reply);
    }
    //  A null value deletes the row everywhere
    json_decref (s_call_ok (2, "replication.data.put", "{\"ns\": \"tms\", \"rows\": [[\"k1\", null]]}"));
    s_step (2);
    reply = s_call_ok (3, "replication.data.get", "{\"ns\": \"tms\", \"key\": \"k1\"}");
    assert_true (json_is_null (json_object_get (reply, "value")));
    json_decref (reply);
}

static void
test_catch_up_after_missed_changes (void **state)
{
    (void) state;
    s_link_event (1, 3, false);
    s_set_on_primary ("h323.ttl_s", "700");
    s_set_on_primary ("sip.mode", "\"off\"");
    s_set_on_primary ("h323.ttl_s", "800");
    s_step (2);
    assert_string_equal (s_value (2, "h323.ttl_s"), "800");
    assert_string_equal (s_value (3, "h323.ttl_s"), "600");    //  missed them
    s_link_event (1, 3, true);
    s_step (4);
    assert_string_equal (s_value (3, "h323.ttl_s"), "800");
    assert_string_equal (s_value (3, "sip.mode"), "off");
    //  The primary sees peer 3 at its own sequence number, no lag
    json_t *status = cw_cluster_status (s_nodes [1].core);
    json_t *peer3 = json_array_get (json_object_get (status, "peers"), 2);
    assert_int_equal (json_integer_value (json_object_get (peer3, "applied_seq")),
                      json_integer_value (json_object_get (status, "applied_seq")));
    assert_int_equal (json_integer_value (json_object_get (peer3, "lag")), 0);
    json_decref (status);
}

static void
test_snapshot_when_history_is_gone (void **state)
{
    (void) state;
    cw_replog_set_history_limit (cw_cluster_replog (s_nodes [1].core), 1);
    s_link_event (1, 3, false);
    s_set_on_primary ("h323.ttl_s", "700");
    s_set_on_primary ("sip.mode", "\"off\"");
    s_set_on_primary ("h323.ttl_s", "900");
    //  Only the last change is retained: peer 3 cannot catch up from it
    assert_true (cw_replog_oldest_seq (cw_cluster_replog (s_nodes [1].core))
                 > cw_replog_applied_seq (cw_cluster_replog (s_nodes [3].core)) + 1);
    s_link_event (1, 3, true);
    s_step (4);
    assert_string_equal (s_value (3, "h323.ttl_s"), "900");
    assert_string_equal (s_value (3, "sip.mode"), "off");
    assert_int_equal (cw_replog_applied_seq (cw_cluster_replog (s_nodes [3].core)),
                      cw_replog_applied_seq (cw_cluster_replog (s_nodes [1].core)));
    assert_string_equal (s_database (3), "active");
}

static void
test_primary_change (void **state)
{
    (void) state;
    char err [256];
    json_t *two = json_integer (2);
    for (int i = 1; i <= S_NODES; i++)
        assert_int_equal (cw_config_store_set_named (s_nodes [i].store, "cluster.primary", two, err, sizeof err), 0);
    json_decref (two);
    s_step (3);
    assert_true (cw_cluster_is_primary (s_nodes [2].core));
    assert_false (cw_cluster_is_primary (s_nodes [1].core));
    for (int i = 1; i <= S_NODES; i++) {
        json_t *status = cw_cluster_status (s_nodes [i].core);
        assert_int_equal (json_integer_value (json_object_get (status, "primary")), 2);
        assert_false (json_is_true (json_object_get (status, "restart_required")));
        json_decref (status);
    }
    //  Writes now go to peer 2, from the old primary too
    json_decref (s_call_ok (1, "config.set", "{\"key\": \"h323.ttl_s\", \"value\": 1200, \"wait\": true}"));
    for (int i = 1; i <= S_NODES; i++)
        assert_string_equal (s_value (i, "h323.ttl_s"), "1200");
    json_t *status = s_call_ok (1, "replication.status", "{}");
    assert_false (json_is_true (json_object_get (status, "primary")));
    json_decref (status);
}

static void
test_silent_peer_becomes_dead (void **state)
{
    (void) state;
    assert_true (cw_cluster_peer_alive (s_nodes [1].core, 3));
    s_silent [3] = true;
    //  Still alive within the interval
    s_step (1);
    assert_true (cw_cluster_peer_alive (s_nodes [1].core, 3));
    zclock_sleep (CW_DEAD_AFTER_MS + 200);
    s_step (1);
    assert_false (cw_cluster_peer_alive (s_nodes [1].core, 3));
    assert_string_equal (s_peer_state (1, 3), "failed");
    assert_string_equal (s_peer_state (2, 3), "failed");
    assert_string_equal (s_peer_state (1, 2), "active");
    //  Writes go on without it
    json_decref (s_call_ok (2, "config.set", "{\"key\": \"sip.mode\", \"value\": \"off\", \"wait\": true}"));
    //  It speaks again: alive, and it catches up
    s_silent [3] = false;
    s_step (3);
    assert_string_equal (s_peer_state (1, 3), "active");
    assert_string_equal (s_value (3, "sip.mode"), "off");
}

//  Step the cluster until every message the actors sent is read (they
//  reach the broker socket through the actors' own I/O threads).
//  Field PEER of node I's cluster status, a new reference.
static json_t *
s_status_entry (int i, int peer)
{
    json_t *status = cw_cluster_status (s_nodes [i].core);
    json_t *entry = json_incref (json_array_get (json_object_get (status, "peers"), (size_t) peer - 1));
    json_decref (status);
    assert_non_null (entry);
    return entry;
}

//  cluster.calls.set ARGS on node I through the core's command table.
static cw_reply_status_t
s_calls_set (int i, const char *args_text)
{
    json_t *args = json_loads (args_text, 0, NULL);
    assert_non_null (args);
    cw_envelope_t req = { .type = CW_MSG_REQUEST,
                          .corr = s_next_corr++,
                          .from = "routing",
                          .to = "replication",
                          .command = (char *) "cluster.calls.set",
                          .body = (char *) args_text };
    json_t *reply = NULL;
    cw_reply_status_t status = CW_REPLY_ERROR;
    for (const cw_command_t *c = cw_cluster_commands; c->name; c++)
        if (strcmp (c->name, "cluster.calls.set") == 0)
            status = c->handler (s_nodes [i].actor, &req, args, &reply, s_nodes [i].core);
    json_decref (args);
    json_decref (reply);
    return status;
}

static void
test_calls_in_heartbeats (void **state)
{
    (void) state;
    //  Nobody said anything: calls 0 everywhere
    for (int i = 1; i <= S_NODES; i++)
        for (int p = 1; p <= S_NODES; p++) {
            json_t *entry = s_status_entry (i, p);
            assert_int_equal (json_integer_value (json_object_get (entry, "calls")), 0);
            assert_true (json_is_real (json_object_get (entry, "load")));
            json_decref (entry);
        }
    //  Bad figures are refused
    assert_int_equal (s_calls_set (3, "{\"calls\": -1, \"capacity\": 4}"), CW_REPLY_ERROR);
    assert_int_equal (s_calls_set (3, "{\"calls\": 1, \"capacity\": 0}"), CW_REPLY_ERROR);
    assert_int_equal (s_calls_set (3, "{\"calls\": \"2\"}"), CW_REPLY_ERROR);
    //  Peer 3 carries 3 calls of 4: its own status at once, the others'
    //  with its next heartbeat; the load is at least the share
    assert_int_equal (s_calls_set (3, "{\"calls\": 3, \"capacity\": 4}"), CW_REPLY_OK);
    s_step (2);
    for (int i = 1; i <= S_NODES; i++) {
        json_t *entry = s_status_entry (i, 3);
        assert_int_equal (json_integer_value (json_object_get (entry, "calls")), 3);
        double load = json_real_value (json_object_get (entry, "load"));
        assert_true (load >= 0.75 && load <= 1.0);
        json_decref (entry);
        entry = s_status_entry (i, 1);
        assert_int_equal (json_integer_value (json_object_get (entry, "calls")), 0);
        json_decref (entry);
    }
    //  More calls than capacity: the load is capped at 1; back to none
    assert_int_equal (s_calls_set (3, "{\"calls\": 9, \"capacity\": 4}"), CW_REPLY_OK);
    s_step (2);
    json_t *entry = s_status_entry (1, 3);
    assert_int_equal (json_integer_value (json_object_get (entry, "calls")), 9);
    assert_true (json_real_value (json_object_get (entry, "load")) == 1.0);
    json_decref (entry);
    assert_int_equal (s_calls_set (3, "{\"calls\": 0, \"capacity\": 4}"), CW_REPLY_OK);
    s_step (2);
    entry = s_status_entry (2, 3);
    assert_int_equal (json_integer_value (json_object_get (entry, "calls")), 0);
    json_decref (entry);
}

static void
s_settle (void)
{
    for (int round = 0; round < 5; round++) {
        zclock_sleep (20);
        bool ok;
        s_broker_read (0, &ok);
    }
}

//  Peer entry P (1..3) of the cluster.peers node I published last.
static json_t *
s_peers_entry (int i, int p)
{
    json_t *peers = json_object_get (s_peers_state [i], "peers");
    assert_int_equal (json_array_size (peers), S_NODES);
    json_t *entry = json_array_get (peers, (size_t) p - 1);
    assert_int_equal (json_integer_value (json_object_get (entry, "peer")), p);
    return entry;
}

static void
test_cluster_peers_published (void **state)
{
    (void) state;
    s_settle ();
    for (int i = 1; i <= S_NODES; i++) {
        json_t *peers = s_peers_state [i];
        assert_non_null (peers);
        assert_int_equal (json_integer_value (json_object_get (peers, "this_peer")), i);
        assert_int_equal (json_integer_value (json_object_get (peers, "primary")), 1);
        assert_true (json_is_true (json_object_get (peers, "is_primary")) == (i == 1));
        assert_string_equal (cw_jtext (peers, "system_name"), s_value (i, "system.name"));
        for (int p = 1; p <= S_NODES; p++) {
            json_t *entry = s_peers_entry (i, p);
            char address [32];
            snprintf (address, sizeof address, "127.0.0.%d", p);
            assert_string_equal (cw_jtext (entry, "address"), address);
            assert_string_equal (cw_jtext (entry, "system_name"), s_value (p, "system.name"));
            assert_true (json_is_true (json_object_get (entry, "alive")));
            assert_true (json_is_true (json_object_get (entry, "self")) == (p == i));
        }
    }
    //  Nothing changed: nothing is published again
    int before = s_peers_published [1];
    s_step (3);
    s_settle ();
    assert_int_equal (s_peers_published [1], before);
    //  Peer 3 falls silent: the others publish it dead, it still sees them
    s_silent [3] = true;
    zclock_sleep (CW_DEAD_AFTER_MS + 200);
    s_step (2);    //  the first tick may come before the others' heartbeats
    s_settle ();
    assert_true (s_peers_published [1] > before);
    for (int i = 1; i <= 2; i++) {
        assert_false (json_is_true (json_object_get (s_peers_entry (i, 3), "alive")));
        assert_true (json_is_true (json_object_get (s_peers_entry (i, 2 - (i == 2)), "alive")));
    }
    assert_true (json_is_true (json_object_get (s_peers_entry (3, 1), "alive")));
    //  A new system name shows in its own entry at once, and in the
    //  others' with its next heartbeat
    s_silent [3] = false;
    char err [256];
    json_t *name = json_string ("edge-three");
    assert_int_equal (cw_config_store_set_named (s_nodes [3].store, "system.name", name, err, sizeof err), 0);
    json_decref (name);
    s_step (2);
    s_settle ();
    assert_string_equal (cw_jtext (s_peers_state [3], "system_name"), "edge-three");
    assert_string_equal (cw_jtext (s_peers_entry (3, 3), "system_name"), "edge-three");
    assert_string_equal (cw_jtext (s_peers_entry (1, 3), "system_name"), "edge-three");
    assert_true (json_is_true (json_object_get (s_peers_entry (1, 3), "alive")));
}

int
main (void)
{
    cw_log_init ("test_cluster_core", CW_LOG_ERROR);
    unsetenv ("CAUSEWAY_BOOT_ID");
    s_broker = zsock_new (ZMQ_ROUTER);
    if (!s_broker)
        return 1;
    //  Each test's actors reconnect under the names of the last test's
    zsock_set_router_handover (s_broker, 1);
    if (zsock_bind (s_broker, S_BROKER) != 0)
        return 1;
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_join_takes_the_primarys_configuration, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_forwarded_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_data_put_on_subordinate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_catch_up_after_missed_changes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_snapshot_when_history_is_gone, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_primary_change, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_silent_peer_becomes_dead, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_calls_in_heartbeats, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cluster_peers_published, s_setup, s_teardown),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    zsock_destroy (&s_broker);
    return failed;
}
