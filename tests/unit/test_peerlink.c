/*  test_peerlink.c - tests of the TLS peer links (actors/replication/
    peerlink.c): two or three cw_peerlink_t instances in this process, on
    127.0.1.1..3, driven by one zloop; test certificates made by
    tests/integration/make_certs.sh, plus one named by a partial wildcard.
    A raw OpenSSL client (in a thread, so the zloop keeps running) plays a
    peer that sends garbage, and a raw TCP socket from 127.0.1.9 plays a
    stranger.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cert.h"
#include "cw_log.h"
#include "peerlink.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#define S_PORT 14371
#define S_BLOB_SIZE (5 * 1024 * 1024 + 123)

static char s_certs [256];    //  directory of the test certificates

//  ---------------------------------------------------------------------
//  A test node: one cw_peerlink_t plus what its callbacks saw

typedef struct {
    cw_peerlink_t *pl;
    int index;
    int messages;
    int last_peer;
    uint64_t last_link;
    cw_peerlink_dir_t last_dir;
    uint8_t last_type;
    uint64_t last_corr;
    char last_json [256];
    uint8_t *last_blob;
    size_t last_blob_len;
    bool echo;    //  answer every inbound message with type+1
    int link_events;
} node_t;

static void
s_on_message (cw_peerlink_t *pl, int peer, uint64_t link_id, cw_peerlink_dir_t dir, uint8_t type, uint64_t corr,
              const char *json_text, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    node_t *node = (node_t *) arg;
    node->messages++;
    node->last_peer = peer;
    node->last_link = link_id;
    node->last_dir = dir;
    node->last_type = type;
    node->last_corr = corr;
    snprintf (node->last_json, sizeof (node->last_json), "%s", json_text);
    if (json_text [0])
        assert_non_null (json);
    free (node->last_blob);
    node->last_blob = NULL;
    node->last_blob_len = blob_len;
    if (blob_len) {
        node->last_blob = malloc (blob_len);
        memcpy (node->last_blob, blob, blob_len);
    }
    if (node->echo && dir == CW_PEERLINK_INBOUND)
        assert_int_equal (cw_peerlink_reply (pl, link_id, (uint8_t) (type + 1), corr, json_text, blob, blob_len), 0);
}

static void
s_on_link (cw_peerlink_t *pl, int peer, cw_peerlink_dir_t dir, bool up, const char *reason, void *arg)
{
    (void) pl;
    node_t *node = (node_t *) arg;
    node->link_events++;
    assert_true (peer >= 1 && peer <= CW_PEERLINK_MAX_PEERS);
    assert_true (up || *reason);    //  a down link always says why
    (void) dir;
}

typedef struct {
    const char *address [CW_PEERLINK_MAX_PEERS];
    cw_peerlink_mapping_t mapping [CW_PEERLINK_MAX_PEERS];
    size_t mapping_count;
} table_t;

//  peerN.example.com for N = 1..count, mapped to 127.0.1.N
static void
s_fqdn_table (table_t *table, int count)
{
    static char names [CW_PEERLINK_MAX_PEERS][32], ips [CW_PEERLINK_MAX_PEERS][32];
    memset (table, 0, sizeof (*table));
    for (int i = 0; i < count; i++) {
        snprintf (names [i], sizeof (names [i]), "peer%d.example.com", i + 1);
        snprintf (ips [i], sizeof (ips [i]), "127.0.1.%d", i + 1);
        table->address [i] = names [i];
        table->mapping [i].fqdn = names [i];
        table->mapping [i].ip = ips [i];
    }
    table->mapping_count = (size_t) count;
}

static void
s_ip_table (table_t *table, int count)
{
    static char ips [CW_PEERLINK_MAX_PEERS][32];
    memset (table, 0, sizeof (*table));
    for (int i = 0; i < count; i++) {
        snprintf (ips [i], sizeof (ips [i]), "127.0.1.%d", i + 1);
        table->address [i] = ips [i];
    }
}

static void
s_peers (cw_peerlink_peers_t *peers, const table_t *table, int index)
{
    memset (peers, 0, sizeof (*peers));
    peers->self_index = index;
    for (int i = 0; i < CW_PEERLINK_MAX_PEERS; i++)
        peers->address [i] = table->address [i];
    peers->mapping = table->mapping;
    peers->mapping_count = table->mapping_count;
}

static node_t *s_running [8];

//  Start node INDEX on 127.0.1.INDEX with certificate CERT (file stem).
static void
s_node_start (node_t *node, zloop_t *loop, int index, cw_peerlink_verify_t verify, const char *cert,
              const table_t *table)
{
    memset (node, 0, sizeof (*node));
    node->index = index;
    char address [32], crt [512], key [512], ca [512], err [512] = "";
    snprintf (address, sizeof (address), "127.0.1.%d", index);
    snprintf (crt, sizeof (crt), "%s/%s.crt", s_certs, cert);
    snprintf (key, sizeof (key), "%s/%s.key", s_certs, cert);
    snprintf (ca, sizeof (ca), "%s/ca.crt", s_certs);
    cw_peerlink_config_t cfg;
    memset (&cfg, 0, sizeof (cfg));
    cfg.listen_address = address;
    cfg.port = S_PORT;
    cfg.certificate = crt;
    cfg.private_key = key;
    cfg.ca_file = ca;
    cfg.verify = verify;
    s_peers (&cfg.peers, table, index);
    cfg.on_message = s_on_message;
    cfg.on_link = s_on_link;
    cfg.arg = node;
    node->pl = cw_peerlink_new (loop, &cfg, err, sizeof (err));
    if (!node->pl)
        fail_msg ("cw_peerlink_new: %s", err);
    for (size_t i = 0; i < sizeof (s_running) / sizeof (s_running [0]); i++)
        if (!s_running [i]) {
            s_running [i] = node;
            break;
        }
}

//  Nodes and loops still running, cleaned up by s_teardown when a test
//  fails half way (cmocka leaves the test function with a longjmp).
static zloop_t *s_loop;

static zloop_t *
s_loop_new (void)
{
    s_loop = zloop_new ();
    return s_loop;
}

static void
s_node_stop (node_t *node)
{
    for (size_t i = 0; i < sizeof (s_running) / sizeof (s_running [0]); i++)
        if (s_running [i] == node)
            s_running [i] = NULL;
    cw_peerlink_destroy (&node->pl);
    assert_null (node->pl);
    free (node->last_blob);
    node->last_blob = NULL;
}

static cw_peerlink_peer_status_t
s_status (node_t *node, int peer)
{
    cw_peerlink_peer_status_t st;
    assert_int_equal (cw_peerlink_peer_status (node->pl, peer, &st), 0);
    return st;
}

static cw_peerlink_stats_t
s_stats (node_t *node)
{
    cw_peerlink_stats_t stats;
    cw_peerlink_stats (node->pl, &stats);
    return stats;
}

//  ---------------------------------------------------------------------
//  Running the loop until something happens

typedef bool (s_cond_fn) (void *arg);

typedef struct {
    s_cond_fn *cond;
    void *arg;
    int64_t deadline;
    bool met;
} s_wait_t;

static int
s_wait_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_wait_t *wait = (s_wait_t *) arg;
    if (wait->cond (wait->arg)) {
        wait->met = true;
        return -1;
    }
    return zclock_mono () > wait->deadline ? -1 : 0;
}

static bool
s_run_until (zloop_t *loop, s_cond_fn *cond, void *arg, int timeout_ms)
{
    s_wait_t wait = { cond, arg, zclock_mono () + timeout_ms, false };
    if (cond (arg))
        return true;
    int id = zloop_timer (loop, 5, 0, s_wait_timer, &wait);
    zloop_start (loop);
    zloop_timer_end (loop, id);
    return wait.met;
}

typedef struct {
    node_t **nodes;
    int count;
} s_mesh_t;

//  Every node has both links up to every other node.
static bool
s_mesh_up (void *arg)
{
    s_mesh_t *mesh = (s_mesh_t *) arg;
    for (int i = 0; i < mesh->count; i++)
        for (int j = 0; j < mesh->count; j++) {
            if (i == j)
                continue;
            cw_peerlink_peer_status_t st;
            cw_peerlink_peer_status (mesh->nodes [i]->pl, mesh->nodes [j]->index, &st);
            if (!st.outbound.up || !st.inbound.up)
                return false;
        }
    return true;
}

static bool
s_wait_mesh (zloop_t *loop, node_t **nodes, int count)
{
    s_mesh_t mesh = { nodes, count };
    return s_run_until (loop, s_mesh_up, &mesh, 10000);
}

typedef struct {
    node_t *node;
    int messages;
} s_msg_wait_t;

static bool
s_got_messages (void *arg)
{
    s_msg_wait_t *wait = (s_msg_wait_t *) arg;
    return wait->node->messages >= wait->messages;
}

static bool
s_wait_messages (zloop_t *loop, node_t *node, int messages)
{
    s_msg_wait_t wait = { node, messages };
    return s_run_until (loop, s_got_messages, &wait, 10000);
}

//  Status fields reach some text
typedef struct {
    node_t *node;
    int peer;
    const char *field;    //  "out.last_error" | "in.last_error" | "out.certificate" | "in.certificate"
    const char *needle;
} s_text_wait_t;

static const char *
s_field (const cw_peerlink_peer_status_t *st, const char *field)
{
    if (streq (field, "out.last_error"))
        return st->outbound.last_error;
    if (streq (field, "in.last_error"))
        return st->inbound.last_error;
    if (streq (field, "out.certificate"))
        return st->outbound.certificate;
    if (streq (field, "in.certificate"))
        return st->inbound.certificate;
    return st->last_error;
}

static bool
s_has_text (void *arg)
{
    s_text_wait_t *wait = (s_text_wait_t *) arg;
    cw_peerlink_peer_status_t st;
    cw_peerlink_peer_status (wait->node->pl, wait->peer, &st);
    return strstr (s_field (&st, wait->field), wait->needle) != NULL;
}

static void
s_expect_text (zloop_t *loop, node_t *node, int peer, const char *field, const char *needle)
{
    s_text_wait_t wait = { node, peer, field, needle };
    if (!s_run_until (loop, s_has_text, &wait, 10000)) {
        cw_peerlink_peer_status_t st = s_status (node, peer);
        fail_msg ("node %d peer %d %s: expected '%s', got '%s'", node->index, peer, field, needle,
                  s_field (&st, field));
    }
}

typedef struct {
    node_t *node;
    uint64_t rejected, malformed;
} s_stats_wait_t;

static bool
s_stats_reached (void *arg)
{
    s_stats_wait_t *wait = (s_stats_wait_t *) arg;
    cw_peerlink_stats_t stats = s_stats (wait->node);
    return stats.rejected_connections >= wait->rejected && stats.malformed_frames >= wait->malformed;
}

static bool
s_wait_stats (zloop_t *loop, node_t *node, uint64_t rejected, uint64_t malformed)
{
    s_stats_wait_t wait = { node, rejected, malformed };
    return s_run_until (loop, s_stats_reached, &wait, 10000);
}

//  ---------------------------------------------------------------------
//  Setup: certificates

static int
s_group_setup (void **state)
{
    (void) state;
    cw_log_init ("test_peerlink", CW_LOG_WARN);
    snprintf (s_certs, sizeof (s_certs), "/tmp/cw_peerlink_XXXXXX");
    if (!mkdtemp (s_certs))
        return -1;
    char command [1024];
    snprintf (command, sizeof (command), "sh '%s/tests/integration/make_certs.sh' '%s' 3", CW_SOURCE_DIR, s_certs);
    if (system (command) != 0)
        return -1;
    //  partial.crt: signed by the test CA, its only name the partial
    //  wildcard DNS:*2.example.com (OpenSSL's default matching would take
    //  it for peer2.example.com)
    snprintf (command, sizeof (command),
              "cd '%s' && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
              "-keyout partial.key -out partial.csr -subj '/O=Causeway tests/CN=partial' 2>/dev/null "
              "&& printf 'basicConstraints=CA:FALSE\\nkeyUsage=critical,digitalSignature\\n"
              "extendedKeyUsage=serverAuth,clientAuth\\nsubjectAltName=DNS:*2.example.com\\n' > partial.ext "
              "&& openssl x509 -req -in partial.csr -CA ca.crt -CAkey ca.key -CAserial ca.srl -days 30 "
              "-sha256 -extfile partial.ext -out partial.crt 2>/dev/null",
              s_certs);
    return system (command) == 0 ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    char command [512];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_certs);
    return system (command) == 0 ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Tests

static void
test_bad_configuration (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_ip_table (&table, 2);
    char crt [512], key [512], ca [512], err [512] = "";
    snprintf (crt, sizeof (crt), "%s/peer1.crt", s_certs);
    snprintf (key, sizeof (key), "%s/peer1.key", s_certs);
    snprintf (ca, sizeof (ca), "%s/ca.crt", s_certs);
    cw_peerlink_config_t cfg;
    memset (&cfg, 0, sizeof (cfg));
    cfg.listen_address = "127.0.1.1";
    cfg.port = S_PORT;
    cfg.certificate = "/nonexistent/peer1.crt";
    cfg.private_key = key;
    cfg.ca_file = ca;
    s_peers (&cfg.peers, &table, 1);
    assert_null (cw_peerlink_new (loop, &cfg, err, sizeof (err)));
    assert_non_null (strstr (err, "/nonexistent/peer1.crt"));

    cfg.certificate = crt;
    cfg.private_key = "/nonexistent/peer1.key";
    assert_null (cw_peerlink_new (loop, &cfg, err, sizeof (err)));
    assert_non_null (strstr (err, "/nonexistent/peer1.key"));

    //  a key that is not the certificate's
    char other [512];
    snprintf (other, sizeof (other), "%s/peer2.key", s_certs);
    cfg.private_key = other;
    assert_null (cw_peerlink_new (loop, &cfg, err, sizeof (err)));
    assert_non_null (strstr (err, "does not match"));

    //  enforce without a CA file
    cfg.private_key = key;
    cfg.ca_file = NULL;
    cfg.verify = CW_PEERLINK_ENFORCE;
    assert_null (cw_peerlink_new (loop, &cfg, err, sizeof (err)));
    assert_non_null (strstr (err, "ca_file"));

    //  this peer's slot is empty
    cfg.verify = CW_PEERLINK_PERMISSIVE;
    cfg.peers.self_index = 4;
    assert_null (cw_peerlink_new (loop, &cfg, err, sizeof (err)));
    assert_non_null (strstr (err, "index 4"));

    //  and the good one works
    cfg.peers.self_index = 1;
    cw_peerlink_t *pl = cw_peerlink_new (loop, &cfg, err, sizeof (err));
    assert_non_null (pl);
    assert_int_equal (cw_peerlink_port (pl), S_PORT);
    cw_peerlink_destroy (&pl);
    assert_null (pl);
    zloop_destroy (&loop);
    s_loop = NULL;
}

static void
test_resolve (void **state)
{
    (void) state;
    cw_peerlink_mapping_t mapping [] = { { "Peer2.Example.com.", "127.0.1.2" } };
    char ip [64], via [256];
    assert_int_equal (cw_peerlink_resolve ("127.0.1.5", mapping, 1, 4, ip, sizeof (ip), via, sizeof (via)), 0);
    assert_string_equal (ip, "127.0.1.5");
    assert_string_equal (via, "IP literal");
    assert_int_equal (cw_peerlink_resolve ("peer2.example.com", mapping, 1, 4, ip, sizeof (ip), via, sizeof (via)), 0);
    assert_string_equal (ip, "127.0.1.2");
    assert_string_equal (via, "address mapping");
    assert_int_equal (cw_peerlink_resolve ("localhost", NULL, 0, 4, ip, sizeof (ip), via, sizeof (via)), 0);
    assert_string_equal (ip, "127.0.0.1");
    assert_string_equal (via, "DNS");
    assert_int_equal (cw_peerlink_resolve ("nonexistent.invalid", mapping, 1, 4, ip, sizeof (ip), via, sizeof (via)),
                      -1);
    assert_non_null (strstr (via, "nonexistent.invalid"));
}

//  Permissive: links up both ways, messages with a multi-megabyte blob
//  both ways, requests on the outbound link answered on the inbound one.
static void
test_permissive_exchange (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_ip_table (&table, 2);
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_PERMISSIVE, "peer1", &table);
    //  b presents a certificate from the untrusted CA: permissive does not care
    s_node_start (&b, loop, 2, CW_PEERLINK_PERMISSIVE, "peer2-untrusted", &table);
    b.echo = true;
    node_t *nodes [] = { &a, &b };
    assert_true (s_wait_mesh (loop, nodes, 2));

    cw_peerlink_peer_status_t st = s_status (&a, 2);
    assert_true (st.up);
    assert_string_equal (st.certificate, "not verified (permissive)");
    assert_string_equal (st.ip, "127.0.1.2");
    assert_string_equal (st.resolution, "IP literal");
    st = s_status (&a, 1);
    assert_true (st.self);
    assert_false (st.up);

    uint8_t *blob = malloc (S_BLOB_SIZE);
    for (size_t i = 0; i < S_BLOB_SIZE; i++)
        blob [i] = (uint8_t) (i * 7 + (i >> 13));
    //  a -> b on a's outbound link; b echoes on its inbound link
    assert_int_equal (cw_peerlink_send (a.pl, 2, 5, 42, "{\"hello\":\"wörld\"}", blob, S_BLOB_SIZE), 0);
    assert_true (s_wait_messages (loop, &a, 1));
    assert_int_equal (b.messages, 1);
    assert_int_equal (b.last_peer, 1);
    assert_int_equal (b.last_dir, CW_PEERLINK_INBOUND);
    assert_int_equal (b.last_type, 5);
    assert_true (b.last_corr == 42);
    assert_string_equal (b.last_json, "{\"hello\":\"wörld\"}");
    assert_int_equal (b.last_blob_len, S_BLOB_SIZE);
    assert_memory_equal (b.last_blob, blob, S_BLOB_SIZE);
    //  the echo came back to a on its outbound link
    assert_int_equal (a.last_peer, 2);
    assert_int_equal (a.last_dir, CW_PEERLINK_OUTBOUND);
    assert_int_equal (a.last_type, 6);
    assert_true (a.last_corr == 42);
    assert_int_equal (a.last_blob_len, S_BLOB_SIZE);
    assert_memory_equal (a.last_blob, blob, S_BLOB_SIZE);

    //  b -> a on b's outbound link, no JSON, blob only; then JSON only
    b.echo = false;
    assert_int_equal (cw_peerlink_send (b.pl, 1, 9, 7, NULL, blob, S_BLOB_SIZE), 0);
    assert_true (s_wait_messages (loop, &a, 2));
    assert_int_equal (a.last_dir, CW_PEERLINK_INBOUND);
    assert_int_equal (a.last_type, 9);
    assert_string_equal (a.last_json, "");
    assert_memory_equal (a.last_blob, blob, S_BLOB_SIZE);
    assert_int_equal (cw_peerlink_send (b.pl, 1, 10, 8, "[1,2,3]", NULL, 0), 0);
    assert_true (s_wait_messages (loop, &a, 3));
    assert_string_equal (a.last_json, "[1,2,3]");
    assert_int_equal (a.last_blob_len, 0);
    //  many small frames keep their order
    for (int i = 0; i < 200; i++)
        assert_int_equal (cw_peerlink_send (b.pl, 1, 11, (uint64_t) i, "{}", NULL, 0), 0);
    assert_true (s_wait_messages (loop, &a, 203));
    assert_true (a.last_corr == 199);
    free (blob);

    //  refusals: no such peer, self, reserved type
    assert_int_equal (cw_peerlink_send (a.pl, 3, 5, 1, "{}", NULL, 0), -1);
    assert_int_equal (cw_peerlink_send (a.pl, 1, 5, 1, "{}", NULL, 0), -1);
    assert_int_equal (cw_peerlink_send (a.pl, 2, 0, 1, "{}", NULL, 0), -1);
    assert_int_equal (cw_peerlink_reply (a.pl, 999999, 5, 1, "{}", NULL, 0), -1);

    st = s_status (&a, 2);
    assert_true (st.outbound.frames_out >= 2);
    assert_true (st.outbound.bytes_out > S_BLOB_SIZE);
    assert_true (st.inbound.frames_in >= 203);
    cw_peerlink_stats_t stats = s_stats (&a);
    assert_true (stats.malformed_frames == 0);
    assert_true (stats.rejected_connections == 0);

    //  b goes away: a sees both links down, then b comes back
    s_node_stop (&b);
    s_expect_text (loop, &a, 2, "out.last_error", "connection refused");
    assert_false (s_status (&a, 2).up);
    s_node_start (&b, loop, 2, CW_PEERLINK_PERMISSIVE, "peer2", &table);
    assert_true (s_wait_mesh (loop, nodes, 2));

    //  update_peers: a drops peer 2 -> links closed, b's dials are refused
    //  at accept; restoring the table brings them back
    cw_peerlink_peers_t peers;
    table_t shrunk = table;
    shrunk.address [1] = NULL;
    s_peers (&peers, &shrunk, 1);
    char err [256];
    assert_int_equal (cw_peerlink_update_peers (a.pl, &peers, err, sizeof (err)), 0);
    st = s_status (&a, 2);
    assert_false (st.configured);
    assert_false (st.up);
    assert_false (st.inbound.up);
    assert_true (s_wait_stats (loop, &a, 1, 0));
    s_peers (&peers, &table, 1);
    assert_int_equal (cw_peerlink_update_peers (a.pl, &peers, err, sizeof (err)), 0);
    assert_true (s_wait_mesh (loop, nodes, 2));

    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Enforce with good certificates, FQDN peers mapped to 127.0.1.N.
static void
test_enforce_good (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 3);
    static node_t a, b, c;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "peer2", &table);
    s_node_start (&c, loop, 3, CW_PEERLINK_ENFORCE, "peer3", &table);
    c.echo = true;
    node_t *nodes [] = { &a, &b, &c };
    assert_true (s_wait_mesh (loop, nodes, 3));
    for (int i = 0; i < 3; i++)
        for (int p = 1; p <= 3; p++) {
            if (p == nodes [i]->index)
                continue;
            cw_peerlink_peer_status_t st = s_status (nodes [i], p);
            assert_string_equal (st.certificate, "ok");
            assert_string_equal (st.outbound.certificate, "ok");
            assert_string_equal (st.inbound.certificate, "ok");
            assert_string_equal (st.resolution, "address mapping");
        }
    assert_int_equal (cw_peerlink_send (a.pl, 3, 20, 1, "{\"x\":1}", "abc", 3), 0);
    assert_int_equal (cw_peerlink_send (b.pl, 3, 20, 2, "{\"x\":2}", NULL, 0), 0);
    assert_true (s_wait_messages (loop, &a, 1));
    assert_true (s_wait_messages (loop, &b, 1));
    assert_true (a.last_corr == 1 && a.last_blob_len == 3);
    assert_true (b.last_corr == 2 && b.last_peer == 3);
    assert_int_equal (c.messages, 2);
    cw_peerlink_stats_t stats = s_stats (&c);
    assert_true (stats.handshake_failures == 0 && stats.rejected_connections == 0);
    s_node_stop (&a);
    s_node_stop (&b);
    s_node_stop (&c);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Enforce, peer 2 presents a certificate for wrong.example.com.
static void
test_enforce_wrong_san (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "wrong-san", &table);
    //  a dialing b checks b's server certificate
    s_expect_text (loop, &a, 2, "out.certificate", "certificate SAN/CN does not contain peer2.example.com");
    //  b dialing a: a checks b's client certificate after HELLO and says why
    s_expect_text (loop, &a, 2, "in.certificate", "certificate SAN/CN does not contain peer2.example.com");
    s_expect_text (loop, &b, 1, "out.last_error",
                   "rejected by peer 1: certificate SAN/CN does not contain peer2.example.com");
    cw_peerlink_peer_status_t st = s_status (&a, 2);
    assert_false (st.up);
    assert_false (st.inbound.up);
    assert_non_null (strstr (st.certificate, "SAN/CN does not contain"));
    assert_false (s_status (&b, 1).up);
    assert_true (s_stats (&a).handshake_failures >= 2);
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Enforce, peer 2's certificate names it only by a partial wildcard: the
//  link refuses it, by the same rule as the enforce-tls pre-check.
static void
test_enforce_partial_wildcard (void **state)
{
    (void) state;
    char crt [512], ca [512];
    snprintf (crt, sizeof (crt), "%s/partial.crt", s_certs);
    snprintf (ca, sizeof (ca), "%s/ca.crt", s_certs);
    FILE *in = fopen (crt, "r");
    assert_non_null (in);
    X509 *cert = PEM_read_X509 (in, NULL, NULL, NULL);
    fclose (in);
    assert_non_null (cert);
    assert_int_equal (X509_check_host (cert, "peer2.example.com", 0, 0, NULL), 1);
    X509_free (cert);
    json_t *check = cw_cert_check (crt, NULL, ca, "peer2.example.com", false);
    assert_false (json_is_true (json_object_get (check, "ok")));
    json_decref (check);

    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "partial", &table);
    s_expect_text (loop, &a, 2, "out.certificate", "certificate SAN/CN does not contain peer2.example.com");
    s_expect_text (loop, &a, 2, "in.certificate", "certificate SAN/CN does not contain peer2.example.com");
    assert_false (s_status (&a, 2).up);
    assert_false (s_status (&b, 1).up);
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Enforce, peer 2's certificate comes from a CA nobody trusts.
static void
test_enforce_untrusted_ca (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "peer2-untrusted", &table);
    s_expect_text (loop, &a, 2, "out.certificate", "certificate not trusted: unable to get local issuer certificate");
    s_expect_text (loop, &a, 2, "in.certificate", "certificate not trusted: unable to get local issuer certificate");
    s_expect_text (loop, &b, 1, "out.last_error", "TLS handshake failed");
    assert_false (s_status (&a, 2).up);
    assert_false (s_status (&a, 2).inbound.up);
    assert_false (s_status (&b, 1).up);
    assert_true (s_stats (&a).handshake_failures >= 2);
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Enforce, a's address mapping swaps peer2 and peer3: peer 2's
//  connection from 127.0.1.2 passes a's accept filter (peer 3's IP), but
//  its HELLO says index 2, whose FQDN maps to 127.0.1.3.
static void
test_enforce_mapping_mismatch (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t good, swapped;
    s_fqdn_table (&good, 3);
    swapped = good;
    swapped.mapping [1].ip = "127.0.1.3";
    swapped.mapping [2].ip = "127.0.1.2";
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &swapped);
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "peer2", &good);
    s_expect_text (loop, &a, 2, "in.last_error",
                   "peer2.example.com resolves to 127.0.1.3 via address mapping, connection came from 127.0.1.2");
    s_expect_text (loop, &b, 1, "out.last_error",
                   "rejected by peer 1: peer2.example.com resolves to 127.0.1.3 via address mapping, "
                   "connection came from 127.0.1.2");
    //  a dials peer 2 at 127.0.1.3, where nobody listens
    s_expect_text (loop, &a, 2, "out.last_error", "connect to 127.0.1.3:14371: connection refused");
    assert_false (s_status (&a, 2).up);
    assert_false (s_status (&a, 2).inbound.up);
    assert_true (s_stats (&a).rejected_connections >= 1);

    //  fixing the mapping live brings the links up
    cw_peerlink_peers_t peers;
    s_peers (&peers, &good, 1);
    char err [256];
    assert_int_equal (cw_peerlink_update_peers (a.pl, &peers, err, sizeof (err)), 0);
    node_t *nodes [] = { &a, &b };
    assert_true (s_wait_mesh (loop, nodes, 2));
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  A TCP connection from 127.0.1.9 is closed at accept, before TLS.
static void
test_accept_filter (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_ip_table (&table, 2);
    static node_t a;
    s_node_start (&a, loop, 1, CW_PEERLINK_PERMISSIVE, "peer1", &table);

    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.1.9", &from.sin_addr);
    inet_pton (AF_INET, "127.0.1.1", &to.sin_addr);
    to.sin_port = htons (S_PORT);
    assert_int_equal (bind (fd, (struct sockaddr *) &from, sizeof (from)), 0);
    assert_int_equal (connect (fd, (struct sockaddr *) &to, sizeof (to)), 0);
    assert_true (s_wait_stats (loop, &a, 1, 0));
    //  closed without a byte of TLS
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    assert_int_equal (poll (&pfd, 1, 5000), 1);
    char byte;
    ssize_t rc = recv (fd, &byte, 1, 0);
    assert_true (rc == 0 || (rc < 0 && errno == ECONNRESET));
    close (fd);
    cw_peerlink_stats_t stats = s_stats (&a);
    assert_true (stats.rejected_connections == 1);
    assert_true (stats.accepted_connections == 0);
    assert_true (stats.handshake_failures == 0);
    s_node_stop (&a);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  ---------------------------------------------------------------------
//  A raw TLS client from a peer's address that sends what it is told

typedef struct {
    const char *cert;        //  file stem
    int hello_index;         //  0 = send no HELLO
    const uint8_t *valid;    //  a valid frame to send first (after HELLO)
    size_t valid_len;
    const uint8_t *payload;    //  then these bytes
    size_t payload_len;
    bool close_after;    //  close right after the payload (truncation)
    //  results
    bool hello_ok;
    char hello_answer [256];
    bool closed_by_server;
    atomic_int done;
} raw_client_t;

static void
s_frame (uint8_t *buf, size_t *len, uint8_t version, uint8_t type, uint64_t corr, const char *json,
         uint32_t declared_json_len, uint32_t declared_length)
{
    size_t json_len = strlen (json);
    uint32_t length = declared_length ? declared_length : (uint32_t) (14 + json_len);
    buf [0] = (uint8_t) (length >> 24);
    buf [1] = (uint8_t) (length >> 16);
    buf [2] = (uint8_t) (length >> 8);
    buf [3] = (uint8_t) length;
    buf [4] = version;
    buf [5] = type;
    for (int i = 0; i < 8; i++)
        buf [6 + i] = (uint8_t) (corr >> (56 - 8 * i));
    uint32_t jl = declared_json_len ? declared_json_len : (uint32_t) json_len;
    buf [14] = (uint8_t) (jl >> 24);
    buf [15] = (uint8_t) (jl >> 16);
    buf [16] = (uint8_t) (jl >> 8);
    buf [17] = (uint8_t) jl;
    memcpy (buf + 18, json, json_len);
    *len = 18 + json_len;
}

static bool
s_ssl_read_all (SSL *ssl, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        int rc = SSL_read (ssl, buf + got, (int) (len - got));
        if (rc <= 0)
            return false;
        got += (size_t) rc;
    }
    return true;
}

static void *
s_raw_client (void *arg)
{
    raw_client_t *self = (raw_client_t *) arg;
    SSL_CTX *ctx = SSL_CTX_new (TLS_client_method ());
    char crt [512], key [512];
    snprintf (crt, sizeof (crt), "%s/%s.crt", s_certs, self->cert);
    snprintf (key, sizeof (key), "%s/%s.key", s_certs, self->cert);
    SSL_CTX_use_certificate_chain_file (ctx, crt);
    SSL_CTX_use_PrivateKey_file (ctx, key, SSL_FILETYPE_PEM);
    SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct timeval tv = { 5, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof (tv));
    struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.1.2", &from.sin_addr);
    inet_pton (AF_INET, "127.0.1.1", &to.sin_addr);
    to.sin_port = htons (S_PORT);
    SSL *ssl = NULL;
    if (bind (fd, (struct sockaddr *) &from, sizeof (from)) != 0
        || connect (fd, (struct sockaddr *) &to, sizeof (to)) != 0)
        goto done;
    ssl = SSL_new (ctx);
    SSL_set_fd (ssl, fd);
    if (SSL_connect (ssl) != 1)
        goto done;
    if (self->hello_index) {
        uint8_t buf [512];
        size_t len;
        char json [128];
        snprintf (json, sizeof (json), "{\"index\":%d,\"address\":\"peer%d.example.com\"}", self->hello_index,
                  self->hello_index);
        s_frame (buf, &len, 1, 0, 0, json, 0, 0);
        if (SSL_write (ssl, buf, (int) len) <= 0)
            goto done;
        uint8_t header [18];
        if (!s_ssl_read_all (ssl, header, 18))
            goto done;
        uint32_t length = ((uint32_t) header [0] << 24) | ((uint32_t) header [1] << 16) | ((uint32_t) header [2] << 8)
                        | header [3];
        size_t rest = length - 14;
        if (rest >= sizeof (self->hello_answer) || !s_ssl_read_all (ssl, (uint8_t *) self->hello_answer, rest))
            goto done;
        self->hello_answer [rest] = 0;
        self->hello_ok = strstr (self->hello_answer, "\"ok\":true") != NULL;
        if (!self->hello_ok)
            goto done;
    }
    if (self->valid_len && SSL_write (ssl, self->valid, (int) self->valid_len) <= 0)
        goto done;
    if (self->payload_len && SSL_write (ssl, self->payload, (int) self->payload_len) <= 0)
        goto done;
    if (self->close_after)
        goto done;
    //  wait for the server to close
    uint8_t sink [256];
    for (;;) {
        int rc = SSL_read (ssl, sink, sizeof (sink));
        if (rc <= 0) {
            int err = SSL_get_error (ssl, rc);
            self->closed_by_server = err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL;
            if (err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))
                self->closed_by_server = false;    //  timed out: not closed
            break;
        }
    }
done:
    if (ssl)
        SSL_free (ssl);
    close (fd);
    SSL_CTX_free (ctx);
    atomic_store (&self->done, 1);
    return NULL;
}

static bool
s_client_done (void *arg)
{
    return atomic_load (&((raw_client_t *) arg)->done) != 0;
}

//  Run a raw client against node a; returns after the client finished.
static void
s_raw_run (zloop_t *loop, raw_client_t *client)
{
    pthread_t thread;
    atomic_store (&client->done, 0);
    assert_int_equal (pthread_create (&thread, NULL, s_raw_client, client), 0);
    bool finished = s_run_until (loop, s_client_done, client, 15000);
    pthread_join (thread, NULL);
    assert_true (finished);
}

//  Garbage, malformed and truncated frames from a real peer's address
//  after a valid handshake: each is counted, the link closed, and the
//  module keeps working for the real peer afterwards.
static void
test_malformed_frames (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);

    uint8_t valid [256], bad [256];
    size_t valid_len, bad_len;
    s_frame (valid, &valid_len, 1, 7, 77, "{\"ok\":1}", 0, 0);
    uint64_t malformed = 0;

    //  1. bytes that are not a frame at all, before HELLO
    raw_client_t client;
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    client.payload = (const uint8_t *) "GET / HTTP/1.0\r\n\r\n";
    client.payload_len = 18;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));

    //  2. a valid frame is delivered, then a frame of version 2 closes the link
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    client.hello_index = 2;
    client.valid = valid;
    client.valid_len = valid_len;
    s_frame (bad, &bad_len, 2, 7, 78, "{}", 0, 0);
    client.payload = bad;
    client.payload_len = bad_len;
    s_raw_run (loop, &client);
    assert_true (client.hello_ok);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));
    assert_int_equal (a.messages, 1);
    assert_int_equal (a.last_type, 7);
    assert_true (a.last_corr == 77);
    assert_string_equal (a.last_json, "{\"ok\":1}");
    assert_int_equal (a.last_dir, CW_PEERLINK_INBOUND);
    assert_false (s_status (&a, 2).inbound.up);

    //  3. json_len larger than the frame
    client.hello_ok = client.closed_by_server = false;
    client.valid_len = 0;
    s_frame (bad, &bad_len, 1, 7, 79, "{}", 1000, 0);
    client.payload_len = bad_len;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));

    //  4. JSON that is not UTF-8
    client.hello_ok = client.closed_by_server = false;
    s_frame (bad, &bad_len, 1, 7, 80, "\"\xff\xfe\"", 0, 0);
    client.payload_len = bad_len;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));

    //  5. a length above the 256 MiB maximum
    client.hello_ok = client.closed_by_server = false;
    s_frame (bad, &bad_len, 1, 7, 81, "{}", 0, 0x7fffffff);
    client.payload_len = bad_len;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));

    //  6. a truncated frame, then the client closes
    client.hello_ok = client.closed_by_server = false;
    s_frame (bad, &bad_len, 1, 7, 82, "{\"a\":\"0123456789\"}", 0, 0);
    client.payload_len = bad_len - 5;
    client.close_after = true;
    s_raw_run (loop, &client);
    assert_true (client.hello_ok);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));

    //  7. HELLO naming a peer that is not configured: refused, not malformed
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    client.hello_index = 5;
    uint64_t rejected = s_stats (&a).rejected_connections;
    s_raw_run (loop, &client);
    assert_false (client.hello_ok);
    assert_non_null (strstr (client.hello_answer, "not a configured peer"));
    assert_true (s_wait_stats (loop, &a, rejected + 1, malformed));

    cw_peerlink_stats_t stats = s_stats (&a);
    assert_true (stats.malformed_frames == malformed);
    assert_int_equal (a.messages, 1);

    //  the module keeps working: the real peer 2 links up and talks
    static node_t b;
    s_node_start (&b, loop, 2, CW_PEERLINK_ENFORCE, "peer2", &table);
    node_t *nodes [] = { &a, &b };
    assert_true (s_wait_mesh (loop, nodes, 2));
    assert_int_equal (cw_peerlink_send (b.pl, 1, 12, 5, "{\"still\":true}", NULL, 0), 0);
    assert_true (s_wait_messages (loop, &a, 2));
    assert_string_equal (a.last_json, "{\"still\":true}");
    assert_true (s_stats (&a).malformed_frames == malformed);
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

static int
s_teardown (void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof (s_running) / sizeof (s_running [0]); i++)
        if (s_running [i])
            s_node_stop (s_running [i]);
    zloop_destroy (&s_loop);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_teardown (test_bad_configuration, s_teardown),
        cmocka_unit_test_teardown (test_resolve, s_teardown),
        cmocka_unit_test_teardown (test_permissive_exchange, s_teardown),
        cmocka_unit_test_teardown (test_enforce_good, s_teardown),
        cmocka_unit_test_teardown (test_enforce_wrong_san, s_teardown),
        cmocka_unit_test_teardown (test_enforce_partial_wildcard, s_teardown),
        cmocka_unit_test_teardown (test_enforce_untrusted_ca, s_teardown),
        cmocka_unit_test_teardown (test_enforce_mapping_mismatch, s_teardown),
        cmocka_unit_test_teardown (test_accept_filter, s_teardown),
        cmocka_unit_test_teardown (test_malformed_frames, s_teardown),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
