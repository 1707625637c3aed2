/*  test_peerlink.c - tests of the TLS peer links (actors/replication/
    peerlink.c): two or three cw_peerlink_t instances in this process, on
    127.0.1.1..3, driven by one zloop; test certificates made by
    tests/integration/make_certs.sh, plus one named by a partial wildcard.
    A raw OpenSSL client (in a thread, so the zloop keeps running) plays a
    peer that sends garbage, oversize frames before HELLO and broken
    chunked messages, and a raw TCP socket from 127.0.1.9 plays a
    stranger. Messages longer than a frame go through as chunks; the
    certificate hook sees every certificate and can refuse a link.
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

//  The clustering port of every node: the first port from 14371 up that is
//  free on 127.0.1.1-3 and 127.0.1.9 (another test may run beside this one)
static int S_PORT = 14371;
#define S_BLOB_SIZE (5 * 1024 * 1024 + 123)
#define S_BIG_SIZE (20 * 1024 * 1024 + 5)    //  longer than CW_PEERLINK_MAX_FRAME: chunks
#define S_SEEN_MAX 256

static char s_certs [256];                             //  directory of the test certificates
static char s_refuse [CW_PEERLINK_FINGERPRINT_MAX];    //  the certificate hook refuses this fingerprint

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
    uint8_t seen [S_SEEN_MAX];    //  types of the first messages, in order
    uint8_t *big_blob;            //  the last blob longer than CW_PEERLINK_MAX_FRAME
    size_t big_blob_len;
    int certificates;    //  calls of the certificate hook
    char last_fingerprint [CW_PEERLINK_FINGERPRINT_MAX];
    bool last_verified;
} node_t;

static void
s_on_message (cw_peerlink_t *pl, int peer, uint64_t link_id, cw_peerlink_dir_t dir, uint8_t type, uint64_t corr,
              const char *json_text, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    node_t *node = (node_t *) arg;
    if (node->messages < S_SEEN_MAX)
        node->seen [node->messages] = type;
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
    if (blob_len > CW_PEERLINK_MAX_FRAME) {
        free (node->big_blob);
        node->big_blob = malloc (blob_len);
        memcpy (node->big_blob, blob, blob_len);
        node->big_blob_len = blob_len;
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

static int
s_on_certificate (cw_peerlink_t *pl, int peer, cw_peerlink_dir_t dir, const char *fingerprint, bool verified,
                  char *reason, size_t size, void *arg)
{
    (void) pl;
    (void) peer;
    (void) dir;
    node_t *node = (node_t *) arg;
    node->certificates++;
    snprintf (node->last_fingerprint, sizeof (node->last_fingerprint), "%s", fingerprint);
    node->last_verified = verified;
    if (*s_refuse && streq (fingerprint, s_refuse)) {
        snprintf (reason, size, "certificate %s is pinned elsewhere", fingerprint);
        return -1;
    }
    return 0;
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
    cfg.on_certificate = s_on_certificate;
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
    free (node->big_blob);
    node->big_blob = NULL;
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
    char refused [80];
    snprintf (refused, sizeof refused, "connect to 127.0.1.3:%d: connection refused", S_PORT);
    s_expect_text (loop, &a, 2, "out.last_error", refused);
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
    size_t flood;        //  then this many more bytes (zeros), 64 KiB at a time
    //  results
    size_t flooded;    //  bytes of the flood SSL_write took before it failed
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
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof (tv));
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
    if (self->flood) {
        static const uint8_t zeros [65536];
        while (self->flooded < self->flood) {
            int rc = SSL_write (ssl, zeros, sizeof (zeros));
            if (rc <= 0) {
                //  reset by the server, unless the write merely timed out
                int err = SSL_get_error (ssl, rc);
                self->closed_by_server = err != SSL_ERROR_WANT_WRITE
                                      && !(err == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
                goto done;
            }
            self->flooded += (size_t) rc;
        }
    }
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

    //  5. a length above the maximum of an up link (CW_PEERLINK_MAX_FRAME)
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

//  A frame with a blob: [len][version 1][type][corr][json_len][json][blob]
//  into BUF; returns its length.
static size_t
s_frame_blob (uint8_t *buf, uint8_t type, uint64_t corr, const char *json, const uint8_t *blob, size_t blob_len)
{
    size_t json_len = json ? strlen (json) : 0;
    uint32_t length = (uint32_t) (14 + json_len + blob_len);
    buf [0] = (uint8_t) (length >> 24);
    buf [1] = (uint8_t) (length >> 16);
    buf [2] = (uint8_t) (length >> 8);
    buf [3] = (uint8_t) length;
    buf [4] = 1;
    buf [5] = type;
    for (int i = 0; i < 8; i++)
        buf [6 + i] = (uint8_t) (corr >> (56 - 8 * i));
    buf [14] = (uint8_t) (json_len >> 24);
    buf [15] = (uint8_t) (json_len >> 16);
    buf [16] = (uint8_t) (json_len >> 8);
    buf [17] = (uint8_t) json_len;
    if (json_len)
        memcpy (buf + 18, json, json_len);
    if (blob_len)
        memcpy (buf + 18 + json_len, blob, blob_len);
    return 18 + json_len + blob_len;
}

//  Before HELLO a frame may be 64 KiB long: a 255 MB length prefix closes
//  the connection as soon as its 4 bytes are read, so what the client
//  sends after it is never buffered (its writes fail once the server has
//  closed). After HELLO the limit is 8 MiB.
static void
test_pre_hello_limit (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a;
    s_node_start (&a, loop, 1, CW_PEERLINK_PERMISSIVE, "peer1", &table);

    static uint8_t bad [256];
    size_t bad_len;
    uint64_t malformed = 0;
    //  1. 255 MB announced before HELLO, then 64 MB of it sent
    raw_client_t client;
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    s_frame (bad, &bad_len, 1, 0, 0, "{}", 0, 255u * 1000u * 1000u);
    client.payload = bad;
    client.payload_len = bad_len;
    client.flood = 64u * 1024u * 1024u;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    //  at most what the sockets' buffers hold got through before the reset
    assert_true (client.flooded < 16u * 1024u * 1024u);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));
    s_expect_text (loop, &a, 2, "in.last_error", "before HELLO: length 255000000 above the maximum");

    //  2. just above the limit; a frame at the limit is read (and is not HELLO)
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    s_frame (bad, &bad_len, 1, 0, 0, "{}", 0, CW_PEERLINK_MAX_HELLO_FRAME + 1);
    client.payload = bad;
    client.payload_len = bad_len;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));
    s_expect_text (loop, &a, 2, "in.last_error", "length 65537 above the maximum");
    uint8_t *limit = calloc (1, CW_PEERLINK_MAX_HELLO_FRAME + 4);
    uint8_t *zeros = calloc (1, CW_PEERLINK_MAX_HELLO_FRAME);
    s_frame_blob (limit, 7, 1, NULL, zeros, CW_PEERLINK_MAX_HELLO_FRAME - 14);
    free (zeros);
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    client.payload = limit;
    client.payload_len = CW_PEERLINK_MAX_HELLO_FRAME + 4;
    s_raw_run (loop, &client);
    assert_true (client.closed_by_server);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));
    s_expect_text (loop, &a, 2, "in.last_error", "before HELLO: expected HELLO");
    free (limit);

    //  3. after HELLO: 8 MiB + 1 is refused at once
    memset (&client, 0, sizeof (client));
    client.cert = "peer2";
    client.hello_index = 2;
    s_frame (bad, &bad_len, 1, 7, 1, "{}", 0, CW_PEERLINK_MAX_FRAME + 1);
    client.payload = bad;
    client.payload_len = bad_len;
    client.flood = 64u * 1024u * 1024u;
    s_raw_run (loop, &client);
    assert_true (client.hello_ok);
    assert_true (client.closed_by_server);
    assert_true (client.flooded < 16u * 1024u * 1024u);
    assert_true (s_wait_stats (loop, &a, 0, ++malformed));
    assert_int_equal (a.messages, 0);
    assert_true (s_stats (&a).malformed_frames == malformed);
    s_node_stop (&a);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  A message longer than one frame goes as chunks and arrives whole, in
//  order with the frames around it, both on the outbound link and as an
//  answer on the inbound one; one longer than the message maximum is
//  refused.
static void
test_chunked_message (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_ip_table (&table, 2);
    static node_t a, b;
    s_node_start (&a, loop, 1, CW_PEERLINK_PERMISSIVE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_PERMISSIVE, "peer2", &table);
    node_t *nodes [] = { &a, &b };
    assert_true (s_wait_mesh (loop, nodes, 2));
    b.echo = true;

    uint8_t *blob = malloc (S_BIG_SIZE);
    for (size_t i = 0; i < S_BIG_SIZE; i++)
        blob [i] = (uint8_t) (i * 13 + (i >> 11));
    uint64_t frames_before = s_status (&a, 2).outbound.frames_out;
    assert_int_equal (cw_peerlink_send (a.pl, 2, 5, 1, "{\"n\":1}", NULL, 0), 0);
    assert_int_equal (cw_peerlink_send (a.pl, 2, 7, 2, "{\"big\":true}", blob, S_BIG_SIZE), 0);
    assert_int_equal (cw_peerlink_send (a.pl, 2, 9, 3, "{\"n\":3}", NULL, 0), 0);
    //  b got the three in order and echoed each on its inbound link
    assert_true (s_wait_messages (loop, &a, 3));
    assert_int_equal (b.messages, 3);
    assert_int_equal (b.seen [0], 5);
    assert_int_equal (b.seen [1], 7);
    assert_int_equal (b.seen [2], 9);
    assert_int_equal (b.big_blob_len, S_BIG_SIZE);
    assert_memory_equal (b.big_blob, blob, S_BIG_SIZE);
    assert_string_equal (b.last_json, "{\"n\":3}");
    assert_int_equal (a.seen [0], 6);
    assert_int_equal (a.seen [1], 8);
    assert_int_equal (a.seen [2], 10);
    assert_int_equal (a.last_dir, CW_PEERLINK_OUTBOUND);
    assert_int_equal (a.big_blob_len, S_BIG_SIZE);
    assert_memory_equal (a.big_blob, blob, S_BIG_SIZE);
    //  on the wire: 1 + ceil ((18 + json + blob) / chunk) + 1 frames
    size_t whole = CW_FRAME_HEADER + strlen ("{\"big\":true}") + S_BIG_SIZE;
    uint64_t chunks = (whole + CW_PEERLINK_CHUNK - 1) / CW_PEERLINK_CHUNK;
    assert_true (s_status (&a, 2).outbound.frames_out - frames_before == 2 + chunks);
    assert_true (s_stats (&a).malformed_frames == 0 && s_stats (&b).malformed_frames == 0);

    //  longer than the message maximum: refused before a byte is read
    assert_int_equal (cw_peerlink_send (a.pl, 2, 5, 4, NULL, blob, CW_PEERLINK_MAX_MESSAGE), -1);
    assert_int_equal (cw_peerlink_send (a.pl, 2, CW_PEERLINK_TYPE_CHUNK, 4, "{}", NULL, 0), -1);
    //  the link still works
    assert_int_equal (cw_peerlink_send (a.pl, 2, 11, 5, "{}", NULL, 0), 0);
    assert_true (s_wait_messages (loop, &a, 4));
    assert_int_equal (a.last_type, 12);
    free (blob);
    s_node_stop (&a);
    s_node_stop (&b);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  Broken chunked messages from a peer after HELLO: each is counted as
//  malformed and closes the link; a good chunked message sent before it
//  on the same connection is delivered.
static void
test_malformed_chunks (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_fqdn_table (&table, 2);
    static node_t a;
    s_node_start (&a, loop, 1, CW_PEERLINK_ENFORCE, "peer1", &table);

    //  A good chunked message: the frame {type 9, corr 5, {"c":1}, 40
    //  bytes} in two chunks
    static uint8_t inner [256], good [512], bad [512];
    uint8_t payload [40];
    memset (payload, 'p', sizeof (payload));
    size_t inner_len = s_frame_blob (inner, 9, 5, "{\"c\":1}", payload, sizeof (payload));
    char first [64];
    snprintf (first, sizeof (first), "{\"size\":%zu}", inner_len);
    size_t good_len = s_frame_blob (good, 255, 5, first, inner, 30);
    good_len += s_frame_blob (good + good_len, 255, 5, NULL, inner + 30, inner_len - 30);

    struct {
        const char *what;
        size_t len;
    } cases [6];
    int count = 0;
    size_t off = 0;
    uint8_t *p;
    //  a chunk outside a message
    p = bad + off;
    cases [count].what = "a chunk outside a chunked message";
    cases [count++].len = s_frame_blob (p, 255, 1, NULL, (const uint8_t *) "abc", 3);
    off += cases [count - 1].len;
    //  a size above the maximum
    p = bad + off;
    cases [count].what = "chunked message of 1100000000 bytes";
    cases [count++].len = s_frame_blob (p, 255, 1, "{\"size\":1100000000}", NULL, 0);
    off += cases [count - 1].len;
    //  more bytes than announced
    p = bad + off;
    cases [count].what = "chunks longer than their message";
    cases [count++].len = s_frame_blob (p, 255, 1, "{\"size\":20}", payload, 30);
    off += cases [count - 1].len;
    //  another frame inside a chunked message
    p = bad + off;
    cases [count].len = s_frame_blob (p, 255, 1, "{\"size\":100}", payload, 10);
    cases [count].len += s_frame_blob (p + cases [count].len, 7, 1, "{}", NULL, 0);
    cases [count++].what = "a frame inside a chunked message";
    off += cases [count - 1].len;
    //  a second start inside a message
    p = bad + off;
    cases [count].len = s_frame_blob (p, 255, 1, "{\"size\":100}", payload, 10);
    cases [count].len += s_frame_blob (p + cases [count].len, 255, 1, "{\"size\":100}", payload, 10);
    cases [count++].what = "a chunked message began inside another";
    off += cases [count - 1].len;
    //  a whole that is a HELLO
    p = bad + off;
    {
        uint8_t hello [64];
        size_t hello_len = s_frame_blob (hello, 0, 0, "{\"index\":2}", NULL, 0);
        char size [32];
        snprintf (size, sizeof (size), "{\"size\":%zu}", hello_len);
        cases [count].len = s_frame_blob (p, 255, 1, size, hello, hello_len);
        cases [count++].what = "a chunked message of a reserved type";
    }

    uint64_t malformed = 0;
    off = 0;
    for (int i = 0; i < count; i++) {
        raw_client_t client;
        memset (&client, 0, sizeof (client));
        client.cert = "peer2";
        client.hello_index = 2;
        client.valid = good;
        client.valid_len = good_len;
        client.payload = bad + off;
        client.payload_len = cases [i].len;
        off += cases [i].len;
        int messages = a.messages;
        s_raw_run (loop, &client);
        assert_true (client.hello_ok);
        assert_true (client.closed_by_server);
        assert_true (s_wait_stats (loop, &a, 0, ++malformed));
        s_expect_text (loop, &a, 2, "in.last_error", cases [i].what);
        assert_int_equal (a.messages, messages + 1);
        assert_int_equal (a.last_type, 9);
        assert_true (a.last_corr == 5);
        assert_string_equal (a.last_json, "{\"c\":1}");
        assert_int_equal (a.last_blob_len, sizeof (payload));
        assert_memory_equal (a.last_blob, payload, sizeof (payload));
    }
    s_node_stop (&a);
    zloop_destroy (&loop);
    s_loop = NULL;
}

//  The certificate hook sees the fingerprint of every certificate a peer
//  presents (shown in the status) and can refuse the link, both ways.
static void
test_certificate_hook (void **state)
{
    (void) state;
    zloop_t *loop = s_loop_new ();
    table_t table;
    s_ip_table (&table, 2);
    static node_t a, b;
    char good [65], other [65], path [512], err [256];
    snprintf (path, sizeof (path), "%s/peer2.crt", s_certs);
    assert_int_equal (cw_cert_fingerprint_file (path, good, err, sizeof (err)), 0);
    snprintf (path, sizeof (path), "%s/peer2-untrusted.crt", s_certs);
    assert_int_equal (cw_cert_fingerprint_file (path, other, err, sizeof (err)), 0);
    s_refuse [0] = 0;
    s_node_start (&a, loop, 1, CW_PEERLINK_PERMISSIVE, "peer1", &table);
    s_node_start (&b, loop, 2, CW_PEERLINK_PERMISSIVE, "peer2", &table);
    node_t *nodes [] = { &a, &b };
    assert_true (s_wait_mesh (loop, nodes, 2));
    assert_true (a.certificates >= 2);    //  its outbound and its inbound link
    assert_string_equal (a.last_fingerprint, good);
    assert_false (a.last_verified);
    cw_peerlink_peer_status_t st = s_status (&a, 2);
    assert_string_equal (st.fingerprint, good);
    assert_string_equal (st.outbound.fingerprint, good);
    assert_string_equal (st.inbound.fingerprint, good);

    //  b comes back with another certificate, which a refuses
    snprintf (s_refuse, sizeof (s_refuse), "%s", other);
    s_node_stop (&b);
    s_node_start (&b, loop, 2, CW_PEERLINK_PERMISSIVE, "peer2-untrusted", &table);
    s_expect_text (loop, &a, 2, "out.certificate", "is pinned elsewhere");
    s_expect_text (loop, &b, 1, "out.last_error", "rejected by peer 1: certificate");
    st = s_status (&a, 2);
    assert_false (st.up);
    assert_false (st.inbound.up);
    assert_string_equal (st.fingerprint, other);
    assert_true (s_stats (&a).handshake_failures >= 2);
    //  accepted again: the links come up
    s_refuse [0] = 0;
    assert_true (s_wait_mesh (loop, nodes, 2));
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

static bool
s_port_free (const char *ip, int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, ip, &addr.sin_addr);
    bool free_ = bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close (fd);
    return free_;
}

int
main (void)
{
    const char *ips [] = { "127.0.1.1", "127.0.1.2", "127.0.1.3", "127.0.1.9" };
    for (int port = 14371; port < 14371 + 2000; port += 2) {
        bool ok = true;
        for (size_t i = 0; i < sizeof ips / sizeof ips [0] && ok; i++)
            ok = s_port_free (ips [i], port) && s_port_free (ips [i], port + 1);
        if (ok) {
            S_PORT = port;
            break;
        }
    }
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
        cmocka_unit_test_teardown (test_pre_hello_limit, s_teardown),
        cmocka_unit_test_teardown (test_chunked_message, s_teardown),
        cmocka_unit_test_teardown (test_malformed_chunks, s_teardown),
        cmocka_unit_test_teardown (test_certificate_hook, s_teardown),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
