/*  routing.c - the routing actor's SIP core (see routing.h).

    libre does the SIP work below the application: parsing, the server and
    client transactions, the UDP/TCP/TLS transports (and, on TCP, the
    CRLFCRLF -> CRLF keep-alive answer of RFC 5626; STUN keep-alives on
    UDP). This file binds the listeners of the bootstrap file, runs every
    request through the checks in s_on_request (size, mandatory headers,
    CSeq, Max-Forwards, maintenance mode) and hands it to the module that
    declared its method, answering OPTIONS itself and 501 for the rest.

    One process loop: libre's re_main. The actor runtime is driven from it
    in external-loop mode: its descriptors (the broker socket's ZMQ_FD and
    the signal descriptor) are watched with fd_listen, a libre timer calls
    cw_actor_turn when the runtime's next timer is due, and a turn follows
    every request a module handled (a module's send may take the broker
    socket's edge). A turn that says "stop" ends re_main.

    A listener that cannot bind (or a TLS listener without a usable
    certificate) does not stop the actor: its state in routing.status says
    why, alarm 40001 (40002 for the certificate) is raised, and binding is
    tried again every S_RETRY_MS until it works, when the alarm clears.

    Counting what libre drops: a UDP datagram libre cannot parse never
    reaches the core, so each UDP socket gets a libre helper (it sees every
    datagram first) and the trace hook (it sees every message libre
    decoded): a datagram flagged by the first and not cleared by the second
    was dropped, and is counted malformed. The helper goes on with the first
    message the socket delivers: right after binding, the core sends the
    socket one OPTIONS of its own (the probe, recognised by its Call-ID and
    otherwise ignored). The helper also raises the socket's receive size
    from libre's 8 KiB, so that a larger datagram is refused (513) rather
    than cut.

    Flows: a TCP or TLS connection gets its token ("tcp:IP:PORT#N") with
    the first request on it, and a libre keep-alive entry on it tells us
    when it closes (the entry's handler runs from libre's connection close
    with the reason: a parse error or EOVERFLOW counts as malformed /
    oversized).
*/
#include "routing.h"
#include "cw_alarm.h"
#include "cw_text.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_MAX_MESSAGE 32768    //  bytes: larger SIP messages are refused (513)
#define S_RETRY_MS 5000        //  a listener that failed is bound again this often
#define S_TICK_MS 100
#define S_RETRY_AFTER_S 60    //  Retry-After of the 503 in maintenance mode
#define S_MAX_METHODS 32      //  distinct method names counted (others: "other")
#define S_MAX_HOOKS 16
//  libre's hash tables: 32 server-transaction buckets collapse throughput
//  under load (STACK.md), so they are sized for tens of thousands
#define S_CTRANS_BUCKETS 16384
#define S_STRANS_BUCKETS 65536
#define S_CONN_BUCKETS 4096
//  A keep-alive entry on a connection only to hear when it closes: libre
//  would ping the client with CRLFCRLF after about this many seconds
//  (weeks), long after its own 15-minute idle close
#define S_WATCH_ONLY_S 3000000u
#define S_UDP_RXSZ 65536    //  the largest datagram libre reads whole
#define S_ALARM_LISTENER 40001
#define S_ALARM_TLS 40002

typedef struct {
    cw_sip_listener_t config;
    enum sip_transp tp;
    bool bound;
    bool alarmed;
    char name [80];      //  "udp:127.0.1.1:5060" (the alarm's subject)
    char state [300];    //  "listening" | "failed: REASON"
} s_listener_t;

typedef struct {
    char method [32];
    cw_sip_method_fn *fn;
    void *arg;
} s_method_t;

typedef struct {
    char prefix [64];
    cw_routing_event_fn *fn;
    void *arg;
} s_event_hook_t;

typedef struct {
    cw_routing_t *owner;
    void *conn;                  //  libre's connection (msg->sock): the key
    struct sip_keepalive *ka;    //  its handler runs when the connection closes
    char token [CW_ROUTING_FLOW_MAX];
} s_flow_t;

struct _cw_routing_t {
    cw_actor_t *actor;
    struct sip *sip;
    struct sip_lsnr *request_lsnr;
    struct sip_lsnr *response_lsnr;
    struct tls *tls;
    bool tls_alarmed;
    char tls_problem [300];    //  "" = the certificate is fine (or not needed)
    struct tmr actor_tmr;
    struct tmr tick_tmr;
    int fds [4];
    int fd_count;
    bool stopping;
    int64_t started;    //  zclock_mono
    int64_t next_retry;
    s_listener_t listeners [CW_MAX_SIP_LISTENERS];
    int listener_count;
    s_method_t methods [S_MAX_METHODS];
    int method_count;
    struct {
        cw_flow_closed_fn *fn;
        void *arg;
    } flow_hooks [S_MAX_HOOKS];
    int flow_hook_count;
    struct {
        cw_routing_tick_fn *fn;
        void *arg;
    } tick_hooks [S_MAX_HOOKS];
    int tick_hook_count;
    struct {
        cw_routing_status_fn *fn;
        void *arg;
    } status_hooks [S_MAX_HOOKS];
    int status_hook_count;
    s_event_hook_t event_hooks [S_MAX_HOOKS];
    int event_hook_count;
    cw_routing_response_fn *response_hook;
    void *response_hook_arg;
    void *udp_socks [CW_MAX_SIP_LISTENERS];    //  libre's UDP sockets with our helper
    int udp_sock_count;
    bool udp_pending;      //  a datagram was read and not decoded (yet)
    char probe_id [48];    //  Call-ID of the probes
    zhashx_t *flows;       //  "%p" of the connection -> s_flow_t
    uint64_t next_flow;
    json_t *config;    //  key -> value (config.changed.*)
    json_t *peers;     //  the last cluster.peers body (NULL = none yet)
    int config_seen;
    bool maintenance;
    uint64_t malformed;
    uint64_t oversized;
    json_t *requests;    //  method -> count
};

// ---------------------------------------------------------------------------
//  Driving the actor runtime from libre's loop

static void
s_actor_turn (cw_routing_t *self)
{
    if (cw_actor_turn (self->actor) < 0 && !self->stopping) {
        self->stopping = true;
        re_cancel ();
    }
}

static void
s_on_actor_fd (int flags, void *arg)
{
    (void) flags;
    s_actor_turn ((cw_routing_t *) arg);
}

static void
s_on_actor_tmr (void *arg)
{
    cw_routing_t *self = arg;
    s_actor_turn (self);
    if (!self->stopping) {
        int timeout = cw_actor_timeout (self->actor);
        tmr_start (&self->actor_tmr, timeout > 0 ? (uint64_t) timeout : 1, s_on_actor_tmr, self);
    }
}

// ---------------------------------------------------------------------------
//  TLS: the certificate and key of the bootstrap file, checked with
//  OpenSSL so that a problem is reported with its reason

//  Read FILE whole into a new NUL-terminated buffer (*LEN its length).
static char *
s_read_file (const char *file, size_t *len, char *why, size_t whylen)
{
    FILE *stream = fopen (file, "rb");
    if (!stream) {
        cw_errorf (why, whylen, "cannot read %s: %s", file, strerror (errno));
        return NULL;
    }
    char *buffer = NULL;
    size_t size = 0;
    char chunk [4096];
    size_t got;
    while ((got = fread (chunk, 1, sizeof chunk, stream)) > 0 && size < 1024 * 1024) {
        char *grown = realloc (buffer, size + got + 1);
        if (!grown)
            break;
        buffer = grown;
        memcpy (buffer + size, chunk, got);
        size += got;
    }
    fclose (stream);
    if (!buffer) {
        cw_errorf (why, whylen, "%s is empty", file);
        return NULL;
    }
    buffer [size] = 0;
    *len = size;
    return buffer;
}

static const char *
s_openssl_reason (void)
{
    unsigned long code = ERR_get_error ();
    ERR_clear_error ();
    const char *reason = code ? ERR_reason_error_string (code) : NULL;
    return reason ? reason : "not a PEM file";
}

//  A new libre TLS context from the certificate and key, or NULL with the
//  problem in WHY. *EXPIRED: it loaded, but the certificate is out of date.
static struct tls *
s_tls_load (const cw_bootstrap_t *boot, bool *expired, char *why, size_t whylen)
{
    *expired = false;
    size_t cert_len = 0, key_len = 0;
    char *cert = s_read_file (boot->sip.certificate, &cert_len, why, whylen);
    char *key = cert ? s_read_file (boot->sip.private_key, &key_len, why, whylen) : NULL;
    struct tls *tls = NULL;
    X509 *x509 = NULL;
    EVP_PKEY *pkey = NULL;
    if (!cert || !key)
        goto done;
    BIO *bio = BIO_new_mem_buf (cert, (int) cert_len);
    x509 = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
    BIO_free (bio);
    if (!x509) {
        cw_errorf (why, whylen, "sip.certificate %s: %s", boot->sip.certificate, s_openssl_reason ());
        goto done;
    }
    bio = BIO_new_mem_buf (key, (int) key_len);
    pkey = bio ? PEM_read_bio_PrivateKey (bio, NULL, NULL, NULL) : NULL;
    BIO_free (bio);
    if (!pkey) {
        cw_errorf (why, whylen, "sip.private_key %s: %s", boot->sip.private_key, s_openssl_reason ());
        goto done;
    }
    if (X509_check_private_key (x509, pkey) != 1) {
        ERR_clear_error ();
        cw_errorf (why, whylen, "sip.private_key %s does not belong to sip.certificate %s", boot->sip.private_key,
                   boot->sip.certificate);
        goto done;
    }
    int err = tls_alloc (&tls, TLS_METHOD_SSLV23, NULL, NULL);
    if (!err)
        err = tls_set_certificate_pem (tls, cert, cert_len, key, key_len);
    if (err) {
        cw_errorf (why, whylen, "the TLS context cannot use sip.certificate %s: %s", boot->sip.certificate,
                   strerror (err));
        tls = mem_deref (tls);
        goto done;
    }
    if (X509_cmp_current_time (X509_get0_notAfter (x509)) < 0) {
        *expired = true;
        cw_errorf (why, whylen, "sip.certificate %s has expired", boot->sip.certificate);
    }
done:
    X509_free (x509);
    EVP_PKEY_free (pkey);
    if (key)
        OPENSSL_cleanse (key, key_len);
    free (key);
    free (cert);
    return tls;
}

// ---------------------------------------------------------------------------
//  Listeners

static bool
s_needs_tls (cw_routing_t *self)
{
    for (int i = 0; i < self->listener_count; i++)
        if (self->listeners [i].tp == SIP_TRANSP_TLS && !self->listeners [i].bound)
            return true;
    return false;
}

//  Load the TLS context when a tls: listener still needs it; raise or
//  clear alarm 40002.
static void
s_tls_prepare (cw_routing_t *self)
{
    if (self->tls || !s_needs_tls (self))
        return;
    bool expired = false;
    char why [300] = "";
    self->tls = s_tls_load (cw_actor_bootstrap (self->actor), &expired, why, sizeof why);
    if (self->tls && !expired) {
        self->tls_problem [0] = 0;
        if (self->tls_alarmed)
            cw_alarm_clear (self->actor, S_ALARM_TLS, "");
        self->tls_alarmed = false;
        return;
    }
    if (strcmp (why, self->tls_problem) != 0 || !self->tls_alarmed) {
        cw_warn ("sip tls problem=\"%s\"", why);
        cw_alarm_raise (self->actor, S_ALARM_TLS, "", why);
        self->tls_alarmed = true;
    }
    cw_copy (self->tls_problem, sizeof self->tls_problem, why);
}

// ---------------------------------------------------------------------------
//  UDP: what libre drops, counted

//  A datagram read before this one and never decoded was dropped by libre.
static void
s_udp_settle (cw_routing_t *self)
{
    if (!self->udp_pending)
        return;
    self->udp_pending = false;
    self->malformed++;
    cw_info ("sip datagram dropped reason=\"not a SIP message libre can parse\"");
}

static bool
s_on_udp_datagram (struct sa *src, struct mbuf *mb, void *arg)
{
    (void) src;
    cw_routing_t *self = arg;
    s_udp_settle (self);
    const uint8_t *data = mbuf_buf (mb);
    size_t len = mbuf_get_left (mb);
    //  STUN (RFC 5389: two zero bits, then the magic cookie) is libre's;
    //  4 bytes or fewer (a CRLFCRLF keep-alive) it ignores
    bool stun = len >= 20 && (data [0] & 0xc0) == 0 && data [4] == 0x21 && data [5] == 0x12 && data [6] == 0xa4
             && data [7] == 0x42;
    self->udp_pending = len > 4 && !stun;
    return false;    //  libre goes on with it
}

static void
s_on_trace (bool tx, enum sip_transp tp, const struct sa *src, const struct sa *dst, const uint8_t *pkt, size_t len,
            void *arg)
{
    (void) src;
    (void) dst;
    (void) pkt;
    (void) len;
    if (!tx && tp == SIP_TRANSP_UDP)
        ((cw_routing_t *) arg)->udp_pending = false;
}

//  SOCK (libre's UDP socket a message came on) watched by our helper.
static void
s_udp_watch (cw_routing_t *self, void *sock)
{
    for (int i = 0; i < self->udp_sock_count; i++)
        if (self->udp_socks [i] == sock)
            return;
    if (!sock || self->udp_sock_count >= CW_MAX_SIP_LISTENERS)
        return;
    udp_rxsz_set (sock, S_UDP_RXSZ);
    if (udp_register_helper (NULL, sock, 0, NULL, s_on_udp_datagram, self) == 0)
        self->udp_socks [self->udp_sock_count++] = sock;
}

//  One OPTIONS of ours to the UDP listener at LADDR, so that its socket
//  shows itself at once (s_udp_watch).
static void
s_udp_probe (cw_routing_t *self, const struct sa *laddr)
{
    int fd = socket (sa_af (laddr), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    char probe [512];
    int len = re_snprintf (probe, sizeof probe,
                           "OPTIONS sip:%J SIP/2.0\r\nVia: SIP/2.0/UDP %J;branch=z9hG4bK%s\r\n"
                           "From: <sip:probe@invalid>;tag=probe\r\nTo: <sip:%J>\r\nCall-ID: %s\r\n"
                           "CSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\nContent-Length: 0\r\n\r\n",
                           laddr, laddr, self->probe_id, laddr, self->probe_id);
    if (len > 0 && sendto (fd, probe, (size_t) len, 0, &laddr->u.sa, laddr->len) < 0)
        cw_debug ("sip probe not sent error=\"%s\"", strerror (errno));
    close (fd);
}

//  The probe: watch its socket, answer nothing.
static bool
s_is_probe (cw_routing_t *self, const struct sip_msg *msg)
{
    return msg->tp == SIP_TRANSP_UDP && pl_strcmp (&msg->callid, self->probe_id) == 0;
}

static void
s_listener_bind (cw_routing_t *self, s_listener_t *listener)
{
    struct sa laddr;
    int err = sa_set_str (&laddr, listener->config.address, (uint16_t) listener->config.port);
    char reason [300] = "";
    bool certificate = false;    //  down for the certificate: alarm 40002 says it
    if (!err && listener->tp == SIP_TRANSP_TLS) {
        if (!self->tls) {
            cw_copy (reason, sizeof reason, self->tls_problem);
            certificate = true;
        }
        else
            err = sip_transp_add (self->sip, SIP_TRANSP_TLS, &laddr, self->tls);
    }
    else if (!err)
        err = sip_transp_add (self->sip, listener->tp, &laddr);
    if (err && !*reason)
        cw_copy (reason, sizeof reason, strerror (err));
    if (!*reason) {
        listener->bound = true;
        cw_copy (listener->state, sizeof listener->state, "listening");
        if (listener->tp == SIP_TRANSP_UDP)
            s_udp_probe (self, &laddr);
        cw_info ("sip listening on=%s", listener->name);
        if (listener->alarmed)
            cw_alarm_clear (self->actor, S_ALARM_LISTENER, listener->name);
        listener->alarmed = false;
        return;
    }
    char state [sizeof listener->state];
    snprintf (state, sizeof state, "failed: %.*s", (int) (sizeof state - sizeof "failed: "), reason);
    if (certificate) {
        if (listener->alarmed)
            cw_alarm_clear (self->actor, S_ALARM_LISTENER, listener->name);
        listener->alarmed = false;
    }
    else if (!listener->alarmed || strcmp (state, listener->state) != 0) {
        char detail [1024];    //  the name and the reason fit whole
        snprintf (detail, sizeof detail, "cannot listen for SIP on %s: %s; trying again every %d s", listener->name,
                  reason, S_RETRY_MS / 1000);
        cw_warn ("sip listener failed on=%s reason=\"%s\"", listener->name, reason);
        cw_alarm_raise (self->actor, S_ALARM_LISTENER, listener->name, detail);
        listener->alarmed = true;
    }
    cw_copy (listener->state, sizeof listener->state, state);
}

//  Bind every listener not bound yet.
static void
s_listeners_bind (cw_routing_t *self)
{
    s_tls_prepare (self);
    for (int i = 0; i < self->listener_count; i++)
        if (!self->listeners [i].bound)
            s_listener_bind (self, &self->listeners [i]);
    self->next_retry = zclock_mono () + S_RETRY_MS;
}

static void
s_on_tick (void *arg)
{
    cw_routing_t *self = arg;
    tmr_start (&self->tick_tmr, S_TICK_MS, s_on_tick, self);
    s_udp_settle (self);
    if (zclock_mono () >= self->next_retry) {
        bool unbound = false;
        for (int i = 0; i < self->listener_count; i++)
            unbound |= !self->listeners [i].bound;
        if (unbound) {
            //  A certificate that failed is read again with the retry
            if (self->tls_problem [0] && s_needs_tls (self))
                self->tls = mem_deref (self->tls);
            s_listeners_bind (self);
        }
        else
            self->next_retry = zclock_mono () + S_RETRY_MS;
    }
    int64_t now = zclock_time ();
    for (int i = 0; i < self->tick_hook_count; i++)
        self->tick_hooks [i].fn (self, now, self->tick_hooks [i].arg);
    if (self->tick_hook_count)
        s_actor_turn (self);
}

// ---------------------------------------------------------------------------
//  Flows

static void
s_on_flow_closed (int err, void *arg)
{
    s_flow_t *flow = arg;
    cw_routing_t *self = flow->owner;
    flow->ka = NULL;    //  libre has freed it
    //  libre closes a connection on a message it cannot parse (EBADMSG,
    //  or its header parsers' ENOENT / EINVAL / ERANGE) and on one larger
    //  than its 64 KiB buffer (EOVERFLOW)
    if (err == EBADMSG || err == ENOENT || err == EINVAL || err == ERANGE)
        self->malformed++;
    else if (err == EOVERFLOW)
        self->oversized++;
    cw_debug ("sip flow closed flow=%s reason=\"%s\"", flow->token, strerror (err));
    char token [CW_ROUTING_FLOW_MAX];
    cw_copy (token, sizeof token, flow->token);
    char key [32];
    snprintf (key, sizeof key, "%p", flow->conn);
    zhashx_delete (self->flows, key);    //  frees FLOW
    for (int i = 0; i < self->flow_hook_count; i++)
        self->flow_hooks [i].fn (self, token, self->flow_hooks [i].arg);
    s_actor_turn (self);
}

static void
s_flow_destroy (void **item)
{
    s_flow_t *flow = *item;
    if (flow) {
        mem_deref (flow->ka);
        free (flow);
    }
    *item = NULL;
}

static const char *
s_tp_name (enum sip_transp tp)
{
    return tp == SIP_TRANSP_UDP ? "udp" : tp == SIP_TRANSP_TCP ? "tcp" : tp == SIP_TRANSP_TLS ? "tls" : "other";
}

//  "udp:IP:PORT" of MSG's source, for log lines (static buffer).
static const char *
s_source (const struct sip_msg *msg)
{
    static char text [80];
    re_snprintf (text, sizeof text, "%s:%J", s_tp_name (msg->tp), &msg->src);
    return text;
}

//  The flow token of MSG into TOKEN: "udp:IP:PORT", or the connection's.
static void
s_flow_of (cw_routing_t *self, const struct sip_msg *msg, char *token, size_t size)
{
    if (msg->tp == SIP_TRANSP_UDP || !msg->sock) {
        re_snprintf (token, size, "%s:%J", s_tp_name (msg->tp), &msg->src);
        return;
    }
    char key [32];
    snprintf (key, sizeof key, "%p", msg->sock);
    s_flow_t *flow = zhashx_lookup (self->flows, key);
    if (!flow) {
        flow = calloc (1, sizeof *flow);
        if (!flow) {
            re_snprintf (token, size, "%s:%J", s_tp_name (msg->tp), &msg->src);
            return;
        }
        flow->owner = self;
        flow->conn = msg->sock;
        re_snprintf (flow->token, sizeof flow->token, "%s:%J#%llu", s_tp_name (msg->tp), &msg->src,
                     (unsigned long long) ++self->next_flow);
        int err = sip_keepalive_start (&flow->ka, self->sip, msg, S_WATCH_ONLY_S, s_on_flow_closed, flow);
        if (err)
            cw_debug ("sip flow not watched flow=%s reason=\"%s\"", flow->token, strerror (err));
        zhashx_insert (self->flows, key, flow);
    }
    cw_copy (token, size, flow->token);
}

// ---------------------------------------------------------------------------
//  Requests

static void
s_count_method (cw_routing_t *self, const char *method)
{
    json_t *count = json_object_get (self->requests, method);
    if (!count && json_object_size (self->requests) >= S_MAX_METHODS)
        method = "other";
    count = json_object_get (self->requests, method);
    json_object_set_new (self->requests, method, json_integer (count ? json_integer_value (count) + 1 : 1));
}

static bool
s_is_token (const struct pl *pl)
{
    static const char extra [] = "-.!%*_+`'~";
    for (size_t i = 0; i < pl->l; i++)
        if (!isalnum ((unsigned char) pl->p [i]) && !strchr (extra, pl->p [i]))
            return false;
    return pl->l > 0;
}

static bool
s_is_number (const struct pl *pl, uint64_t max)
{
    uint64_t value = 0;
    if (!pl->l || pl->l > 10)
        return false;
    for (size_t i = 0; i < pl->l; i++) {
        if (!isdigit ((unsigned char) pl->p [i]))
            return false;
        value = value * 10 + (uint64_t) (pl->p [i] - '0');
    }
    return value <= max;
}

static s_method_t *
s_method_find (cw_routing_t *self, const char *method)
{
    for (int i = 0; i < self->method_count; i++)
        if (strcmp (self->methods [i].method, method) == 0)
            return &self->methods [i];
    return NULL;
}

//  "Allow: OPTIONS, <declared methods>\r\n" into BUF.
static void
s_allow (cw_routing_t *self, char *buf, size_t size)
{
    size_t used = (size_t) snprintf (buf, size, "Allow: OPTIONS");
    for (int i = 0; i < self->method_count && used < size; i++)
        if (strcmp (self->methods [i].method, "OPTIONS") != 0)
            used += (size_t) snprintf (buf + used, size - used, ", %s", self->methods [i].method);
    if (used < size)
        snprintf (buf + used, size - used, "\r\n");
}

//  What is wrong with MSG (a request libre parsed), or NULL.
static const char *
s_malformed (const struct sip_msg *msg)
{
    if (!sip_msg_hdr (msg, SIP_HDR_VIA))
        return "Missing Via header";
    if (!sip_msg_hdr (msg, SIP_HDR_FROM))
        return "Missing From header";
    if (!sip_msg_hdr (msg, SIP_HDR_TO))
        return "Missing To header";
    if (!pl_isset (&msg->callid))
        return "Missing Call-ID header";
    const struct sip_hdr *cseq = sip_msg_hdr (msg, SIP_HDR_CSEQ);
    if (!cseq)
        return "Missing CSeq header";
    struct pl number = { cseq->val.p, 0 };
    while (number.l < cseq->val.l && isdigit ((unsigned char) number.p [number.l]))
        number.l++;
    if (!s_is_number (&number, 2147483647u))
        return "Bad CSeq number";
    if (pl_cmp (&msg->cseq.met, &msg->met) != 0)
        return "CSeq method does not match the request";
    if (pl_isset (&msg->maxfwd) && !s_is_number (&msg->maxfwd, 255))
        return "Bad Max-Forwards";
    if (pl_isset (&msg->clen)) {
        if (!s_is_number (&msg->clen, S_MAX_MESSAGE))
            return "Bad Content-Length";
        if (pl_u32 (&msg->clen) > mbuf_get_left (msg->mb))
            return "Content-Length larger than the body";
    }
    if (!s_is_token (&msg->met) || msg->met.l >= sizeof (((s_method_t *) 0)->method))
        return "Bad method";
    return NULL;
}

static void
s_reply_text (cw_routing_t *self, const struct sip_msg *msg, uint16_t scode, const char *reason)
{
    if (cw_routing_reply (self, msg, scode, reason, NULL))
        cw_debug ("sip reply failed code=%u to=%s", scode, s_source (msg));
}

//  Every request: the checks, then its module (or OPTIONS / 501 here).
static bool
s_on_request (const struct sip_msg *msg, void *arg)
{
    cw_routing_t *self = arg;
    if (msg->tp == SIP_TRANSP_UDP)
        s_udp_watch (self, msg->sock);
    if (s_is_probe (self, msg))
        return true;
    char method [32];
    cw_copy (method, sizeof method, "other");
    if (msg->met.l < sizeof method && s_is_token (&msg->met))
        pl_strcpy (&msg->met, method, sizeof method);
    s_count_method (self, method);

    if (msg->mb->end > S_MAX_MESSAGE) {
        self->oversized++;
        cw_warn ("sip message refused reason=oversized bytes=%zu from=%s", msg->mb->end, s_source (msg));
        s_reply_text (self, msg, 513, "Message Too Large");
        return true;
    }
    const char *problem = s_malformed (msg);
    if (problem) {
        self->malformed++;
        cw_info ("sip message dropped reason=\"%s\" from=%s", problem, s_source (msg));
        if (sip_msg_hdr (msg, SIP_HDR_VIA) && sip_msg_hdr (msg, SIP_HDR_CSEQ) && pl_isset (&msg->callid))
            s_reply_text (self, msg, 400, problem);
        return true;
    }
    bool ack = strcmp (method, "ACK") == 0;
    bool options = strcmp (method, "OPTIONS") == 0;
    if (!ack && pl_isset (&msg->maxfwd) && pl_u32 (&msg->maxfwd) == 0 && !options) {
        s_reply_text (self, msg, 483, "Too Many Hops");
        return true;
    }
    bool in_dialog = pl_isset (&msg->to.tag);
    if (self->maintenance && !in_dialog && !ack && strcmp (method, "CANCEL") != 0) {
        char headers [64];
        snprintf (headers, sizeof headers, "Retry-After: %d\r\n", S_RETRY_AFTER_S);
        if (cw_routing_reply (self, msg, 503, "Maintenance Mode", headers))
            cw_debug ("sip reply failed code=503");
        return true;
    }
    s_method_t *handler = s_method_find (self, method);
    if (handler) {
        char flow [CW_ROUTING_FLOW_MAX];
        s_flow_of (self, msg, flow, sizeof flow);
        handler->fn (self, msg, flow, handler->arg);
        s_actor_turn (self);    //  the module may have sent on the actor
        return true;
    }
    if (ack)
        return true;    //  the ACK of a final answer given here: nothing to do
    char allow [512];
    s_allow (self, allow, sizeof allow);
    if (options) {
        if (msg->tp != SIP_TRANSP_UDP) {
            char flow [CW_ROUTING_FLOW_MAX];
            s_flow_of (self, msg, flow, sizeof flow);
        }
        if (cw_routing_reply (self, msg, 200, "OK", allow))
            cw_debug ("sip reply failed code=200");
        return true;
    }
    if (cw_routing_reply (self, msg, 501, "Not Implemented", allow))
        cw_debug ("sip reply failed code=501");
    return true;
}

//  A response no client transaction of ours was waiting for: dropped.
static bool
s_on_response (const struct sip_msg *msg, void *arg)
{
    cw_routing_t *self = arg;
    if (msg->tp == SIP_TRANSP_UDP)
        s_udp_watch (self, msg->sock);
    if (self->response_hook && self->response_hook (self, msg, self->response_hook_arg))
        return true;
    cw_debug ("sip stray response dropped code=%u from=%s", msg->scode, s_source (msg));
    return true;
}

// ---------------------------------------------------------------------------
//  The actor side: events and routing.status

static bool
s_truthy (json_t *value)
{
    if (json_is_true (value))
        return true;
    const char *text = json_string_value (value);
    return text && (strcasecmp (text, "on") == 0 || strcasecmp (text, "true") == 0);
}

static void
s_on_event (cw_actor_t *actor, const cw_envelope_t *ev, json_t *body, void *arg)
{
    (void) actor;
    cw_routing_t *self = arg;
    const char *topic = ev->command;
    if (ev->type == CW_MSG_STATE && strncmp (topic, "config.changed.", 15) == 0) {
        self->config_seen++;
        json_t *value = json_object_get (body, "value");
        json_object_set (self->config, topic + 15, value ? value : json_null ());
        if (strcmp (topic + 15, "maintenance.mode") == 0) {
            bool on = s_truthy (value);
            if (on != self->maintenance)
                cw_info ("sip maintenance mode=%s", on ? "on" : "off");
            self->maintenance = on;
        }
    }
    else if (strcmp (topic, "cluster.peers") == 0 && json_is_object (body)) {
        json_decref (self->peers);
        self->peers = json_incref (body);
    }
    for (int i = 0; i < self->event_hook_count; i++) {
        s_event_hook_t *hook = &self->event_hooks [i];
        if (strncmp (topic, hook->prefix, strlen (hook->prefix)) == 0)
            hook->fn (self, topic, body, hook->arg);
    }
}

void
cw_routing_on_status (cw_routing_t *self, cw_routing_status_fn *fn, void *arg)
{
    assert (self->status_hook_count < S_MAX_HOOKS);
    self->status_hooks [self->status_hook_count].fn = fn;
    self->status_hooks [self->status_hook_count++].arg = arg;
}

static cw_reply_status_t
s_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) req;
    (void) args;
    cw_routing_t *self = arg;
    s_udp_settle (self);
    json_t *listeners = json_array ();
    for (int i = 0; i < self->listener_count; i++) {
        s_listener_t *listener = &self->listeners [i];
        json_array_append_new (listeners, json_pack ("{s:s, s:s, s:i, s:s}", "transport", listener->config.transport,
                                                     "address", listener->config.address, "port", listener->config.port,
                                                     "state", listener->state));
    }
    *reply = json_pack ("{s:s, s:i, s:I, s:i, s:o, s:I, s:I, s:O, s:b, s:i, s:i, s:i}", "actor", cw_actor_name (actor),
                        "pid", (int) getpid (), "uptime_s", (json_int_t) ((zclock_mono () - self->started) / 1000),
                        "config_seen", self->config_seen, "listeners", listeners, "malformed",
                        (json_int_t) self->malformed, "oversized", (json_int_t) self->oversized, "requests",
                        self->requests, "maintenance", self->maintenance, "this_peer", cw_routing_this_peer (self),
                        "peers", cw_routing_peer_count (self), "flows", (int) zhashx_size (self->flows));
    for (int i = 0; i < self->status_hook_count; i++)
        self->status_hooks [i].fn (self, *reply, self->status_hooks [i].arg);
    if (!self->listener_count)
        json_object_set_new (*reply, "note",
                             json_string ("no SIP listener: sip.listen of the bootstrap file is empty or absent"));
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "routing.status", s_status, CW_CMD_IDEMPOTENT,
      "the SIP listeners and their state, requests per method, malformed and oversized messages dropped, "
      "maintenance mode, this peer" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Construction

//  As many descriptors as the process may open, for libre's table
static int
s_fd_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        return 1024;
    if (limit.rlim_cur < limit.rlim_max && limit.rlim_cur < 65536) {
        limit.rlim_cur = limit.rlim_max < 65536 ? limit.rlim_max : 65536;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    return limit.rlim_cur > 65536 ? 65536 : (int) limit.rlim_cur;
}

cw_routing_t *
cw_routing_new (cw_actor_t *actor, char *err, size_t errlen)
{
    int rc = libre_init ();
    if (rc) {
        cw_errorf (err, errlen, "cannot start libre: %s", strerror (rc));
        return NULL;
    }
    fd_setsize (s_fd_limit ());
    cw_routing_t *self = calloc (1, sizeof *self);
    if (!self) {
        libre_close ();
        cw_errorf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->started = zclock_mono ();
    self->flows = zhashx_new ();
    zhashx_set_destructor (self->flows, s_flow_destroy);
    self->config = json_object ();
    self->requests = json_object ();
    tmr_init (&self->actor_tmr);
    tmr_init (&self->tick_tmr);
    rc = sip_alloc (&self->sip, NULL, S_CTRANS_BUCKETS, S_STRANS_BUCKETS, S_CONN_BUCKETS, "Causeway/" CW_VERSION, NULL,
                    self);
    snprintf (self->probe_id, sizeof self->probe_id, "cw-probe-%d-%llx", (int) getpid (),
              (unsigned long long) zclock_time ());
    if (!rc)
        sip_set_trace_handler (self->sip, s_on_trace);
    if (!rc)
        rc = sip_listen (&self->request_lsnr, self->sip, true, s_on_request, self);
    if (!rc)
        rc = sip_listen (&self->response_lsnr, self->sip, false, s_on_response, self);
    if (rc) {
        cw_errorf (err, errlen, "cannot set up the SIP stack: %s", strerror (rc));
        cw_routing_destroy (&self);
        return NULL;
    }
    const cw_bootstrap_t *boot = cw_actor_bootstrap (actor);
    for (int i = 0; i < boot->sip.listen_count; i++) {
        s_listener_t *listener = &self->listeners [self->listener_count++];
        listener->config = boot->sip.listen [i];
        listener->tp = strcmp (listener->config.transport, "udp") == 0 ? SIP_TRANSP_UDP
                     : strcmp (listener->config.transport, "tcp") == 0 ? SIP_TRANSP_TCP
                                                                       : SIP_TRANSP_TLS;
        snprintf (listener->name, sizeof listener->name,
                  strchr (listener->config.address, ':') ? "%s:[%s]:%d" : "%s:%s:%d", listener->config.transport,
                  listener->config.address, listener->config.port);
    }
    s_listeners_bind (self);
    if (!self->listener_count)
        cw_info ("sip not listening: sip.listen of the bootstrap file is empty or absent");
    //  A listener of an earlier run may have left its alarm raised
    for (int i = 0; i < self->listener_count; i++)
        if (self->listeners [i].bound)
            cw_alarm_clear (actor, S_ALARM_LISTENER, self->listeners [i].name);
    if (!s_needs_tls (self) && !self->tls_problem [0])
        cw_alarm_clear (actor, S_ALARM_TLS, "");

    cw_actor_on_event (actor, s_on_event, self);
    if (cw_actor_commands (actor, s_commands, self)) {
        cw_errorf (err, errlen, "cannot declare the routing commands");
        cw_routing_destroy (&self);
        return NULL;
    }
    self->fd_count = cw_actor_fds (actor, self->fds, 4);
    for (int i = 0; i < self->fd_count; i++) {
        rc = fd_listen (self->fds [i], FD_READ, s_on_actor_fd, self);
        if (rc) {
            cw_errorf (err, errlen, "cannot watch the actor's descriptor %d: %s", self->fds [i], strerror (rc));
            self->fd_count = i;
            cw_routing_destroy (&self);
            return NULL;
        }
    }
    tmr_start (&self->actor_tmr, 1, s_on_actor_tmr, self);
    tmr_start (&self->tick_tmr, S_TICK_MS, s_on_tick, self);
    return self;
}

void
cw_routing_destroy (cw_routing_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_routing_t *self = *self_p;
    tmr_cancel (&self->actor_tmr);
    tmr_cancel (&self->tick_tmr);
    for (int i = 0; i < self->fd_count; i++)
        fd_close (self->fds [i]);
    zhashx_destroy (&self->flows);
    self->request_lsnr = mem_deref (self->request_lsnr);
    self->response_lsnr = mem_deref (self->response_lsnr);
    if (self->sip)
        sip_close (self->sip, true);
    self->sip = mem_deref (self->sip);
    self->tls = mem_deref (self->tls);
    json_decref (self->config);
    json_decref (self->peers);
    json_decref (self->requests);
    free (self);
    *self_p = NULL;
    libre_close ();
}

int
cw_routing_run (cw_routing_t *self)
{
    if (cw_actor_ready (self->actor))
        return 1;
    s_actor_turn (self);
    if (!self->stopping) {
        int rc = re_main (NULL);
        if (rc && !self->stopping) {
            cw_error ("sip loop failed: %s", strerror (rc));
            return 1;
        }
    }
    cw_info ("stopped");
    return 0;
}

// ---------------------------------------------------------------------------
//  Accessors and hooks

cw_actor_t *
cw_routing_actor (cw_routing_t *self)
{
    return self->actor;
}

struct sip *
cw_routing_sip (cw_routing_t *self)
{
    return self->sip;
}

int
cw_routing_on_method (cw_routing_t *self, const char *method, cw_sip_method_fn *fn, void *arg)
{
    assert (method && fn);
    assert (!s_method_find (self, method));
    if (self->method_count >= S_MAX_METHODS || strlen (method) >= sizeof self->methods [0].method)
        return -1;
    s_method_t *entry = &self->methods [self->method_count++];
    cw_copy (entry->method, sizeof entry->method, method);
    entry->fn = fn;
    entry->arg = arg;
    return 0;
}

void
cw_routing_on_flow_closed (cw_routing_t *self, cw_flow_closed_fn *fn, void *arg)
{
    assert (self->flow_hook_count < S_MAX_HOOKS);
    self->flow_hooks [self->flow_hook_count].fn = fn;
    self->flow_hooks [self->flow_hook_count++].arg = arg;
}

void
cw_routing_on_response (cw_routing_t *self, cw_routing_response_fn *fn, void *arg)
{
    self->response_hook = fn;
    self->response_hook_arg = arg;
}

void
cw_routing_on_tick (cw_routing_t *self, cw_routing_tick_fn *fn, void *arg)
{
    assert (self->tick_hook_count < S_MAX_HOOKS);
    self->tick_hooks [self->tick_hook_count].fn = fn;
    self->tick_hooks [self->tick_hook_count++].arg = arg;
}

void
cw_routing_on_event (cw_routing_t *self, const char *prefix, cw_routing_event_fn *fn, void *arg)
{
    assert (self->event_hook_count < S_MAX_HOOKS);
    s_event_hook_t *hook = &self->event_hooks [self->event_hook_count++];
    cw_copy (hook->prefix, sizeof hook->prefix, prefix);
    hook->fn = fn;
    hook->arg = arg;
}

json_t *
cw_routing_config (cw_routing_t *self, const char *key)
{
    return json_object_get (self->config, key);
}

int64_t
cw_routing_config_int (cw_routing_t *self, const char *key, int64_t dflt)
{
    json_t *value = cw_routing_config (self, key);
    if (json_is_integer (value))
        return json_integer_value (value);
    if (json_is_string (value))
        return strtoll (json_string_value (value), NULL, 10);
    return dflt;
}

bool
cw_routing_alive_fn (int peer, void *arg)
{
    return cw_routing_peer_alive ((cw_routing_t *) arg, peer);
}

bool
cw_routing_pl_copy (const struct pl *pl, char *out, size_t outlen)
{
    out [0] = 0;
    if (!pl || !pl->p)
        return true;
    if (pl->l >= outlen)
        return false;
    memcpy (out, pl->p, pl->l);
    out [pl->l] = 0;
    return true;
}

void
cw_routing_warning_text (const char *text, char *out, size_t outlen)
{
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < outlen; p++)
        out [n++] = (*p == '"' || *p == '\\' || (unsigned char) *p < 0x20) ? '\'' : *p;
    out [n] = 0;
}

int
cw_routing_this_peer (cw_routing_t *self)
{
    int peer = (int) json_integer_value (json_object_get (self->peers, "this_peer"));
    return peer > 0 ? peer : 1;
}

bool
cw_routing_peer_alive (cw_routing_t *self, int peer)
{
    if (peer == cw_routing_this_peer (self))
        return true;
    json_t *peers = json_object_get (self->peers, "peers");
    size_t index;
    json_t *entry;
    json_array_foreach (peers, index, entry) {
        if (json_integer_value (json_object_get (entry, "peer")) == peer)
            return json_is_true (json_object_get (entry, "alive"));
    }
    return false;
}

int
cw_routing_peer_count (cw_routing_t *self)
{
    size_t count = json_array_size (json_object_get (self->peers, "peers"));
    return count ? (int) count : 1;
}

int
cw_routing_reply (cw_routing_t *self, const struct sip_msg *msg, uint16_t scode, const char *reason,
                  const char *headers)
{
    int err = sip_replyf (self->sip, msg, scode, reason, "%sContent-Length: 0\r\n\r\n", headers ? headers : "");
    return err ? -1 : 0;
}
