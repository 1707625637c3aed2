/*  proxy.c - the transaction-stateful SIP proxy and the calls (see
    proxy.h).

    A request to forward becomes a TRANSACTION (s_txn_t): libre's server
    transaction upstream (sip_strans: retransmissions, CANCEL, the 482 of a
    merged request), and one BRANCH per target, each a libre client
    transaction (sip_request: it puts our Via on top; the send hook adds
    the downstream-facing Record-Route). What each branch answers is
    decided in one place, s_on_branch_response; the transaction is freed
    when it has answered upstream, no branch is pending and no license
    request is in flight (s_txn_check).

    An INVITE entering the cluster here goes: planned (targets from the
    location table; none: 480) -> licensing (license.acquire in flight) ->
    forwarded (branches) -> answered. A CANCEL or the ringing timeout may
    come at any of these steps; a lease that arrives for a transaction that
    no longer wants it is released at once.

    The node's replication actor learns how many calls this peer carries
    and how many it can (call_routing.calls_per_peer): cluster.calls.set
    {calls, capacity}, at most every S_LOAD_EVERY_MS when the count
    changes and every S_LOAD_REFRESH_MS in any case (a restarted
    replication actor learns it again), so heartbeats carry the calls and
    count them in the peer's load.

    Its pure parts (flow tokens, the rank of an answer) are in
    proxy_pure.c.
*/
#include "proxy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#if __has_include(<re_sip.h>)
// ---------------------------------------------------------------------------
//  The SIP part

#include "calls.h"
#include "capacity.h"
#include "findme.h"
#include "location.h"
#include "registrar.h"
#include "routing.h"
#include "search.h"

#include <inttypes.h>

#define S_FLOW_MAX 96
#define S_HOP_MAX (CW_LOCATION_URI_MAX + 32)
#define S_DEFAULT_RINGING_S 120
#define S_DEFAULT_DIALOG_S 14400
#define S_EXPIRE_EVERY_MS 1000
#define S_LOAD_EVERY_MS 250
#define S_LOAD_REFRESH_MS 5000

typedef struct _s_txn_t s_txn_t;

//  Where one branch goes
typedef struct {
    char ruri [CW_LOCATION_URI_MAX];      //  its Request-URI
    char hop [S_HOP_MAX];                 //  the next hop URI
    char routes [CW_LOCATION_URI_MAX];    //  Route header value to add (a Path), "" = none
    char flow [S_FLOW_MAX];               //  the flow downstream ("tcp:IP:PORT"), "" = none
    int peer;                             //  0, or the peer it goes through
} s_target_t;

typedef struct {
    s_txn_t *txn;
    struct sip_request *req;    //  NULL once it is done
    bool started;
    s_target_t target;
    cw_zone_target_t *hops;    //  a zone's next hops (failover), NULL = none
    size_t hop_count, hop_next;
} s_branch_t;

struct _s_txn_t {
    cw_proxy_t *proxy;
    struct sip_strans *st;    //  NULL once a final answer went upstream
    struct sip_msg *msg;      //  the request (a reference)
    struct sa reply_dst;      //  where answers go upstream
    bool invite;
    bool from_peer;
    bool licensing;    //  license.acquire in flight
    bool answered;     //  a final answer went upstream
    bool connected;    //  a 2xx went upstream
    bool is_call;      //  a call of this peer (calls.h)
    bool record_route;
    bool searching;                                                  //  the search (search.h) in progress
    bool handed;                                                     //  handed on from a neighbour zone by another peer
    char search_hdr [CW_SEARCH_ID_MAX + CW_SEARCH_ZONE_MAX + 16];    //  X-Causeway-Search, "" = none
    char peer_ruri [CW_LOCATION_URI_MAX];    //  Request-URI toward the peers holding the alias, "" = as it came
    int popped;                              //  Route headers of ours at the top, not forwarded
    char call_id [CW_CALLS_ID_MAX];
    char flow_in [S_FLOW_MAX];    //  the flow upstream, "" = none
    s_branch_t branches [CW_PROXY_BRANCHES_MAX];
    size_t branch_count;
    uint16_t best_scode;     //  0 = none yet
    struct sip_msg *best;    //  the best final answer so far (a reference), NULL = generated
    struct tmr timer;        //  the ringing timeout
    bool busy;               //  inside a handler: not freed now
    void *handle;            //  in the proxy's list
};

typedef struct {
    struct sa addrs [CW_MAX_SIP_LISTENERS];
    int addr_count;
    char hop [S_HOP_MAX];    //  "sip:IP:PORT;transport=udp", "" = unknown
} s_peer_t;

struct _cw_proxy_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    struct sip *sip;
    cw_registrar_t *registrar;
    cw_calls_t *calls;
    cw_search_t *search;    //  NULL = none
    cw_findme_t *findme;    //  NULL = none
    zlistx_t *txns;         //  s_txn_t, every one in progress
    s_peer_t peers [CW_CALLS_PEERS + 1];
    json_t *listen;    //  this peer's listeners, as announced
    int64_t next_announce_ms;
    int64_t next_expire_ms;
    bool calls_changed;
    int64_t load_said_ms;       //  last cluster.calls.set, 0 never
    int64_t load_said_calls;    //  what it said
    int64_t load_said_capacity;
    uint64_t forwarded, answered_here, no_contact, no_license, timeouts, cancelled, loose_routed, stray_forwarded;
};

// ---------------------------------------------------------------------------
//  Small helpers

static int64_t
s_now (void)
{
    return zclock_time ();
}

static bool
s_config_on (cw_proxy_t *self, const char *key)
{
    json_t *value = cw_routing_config (self->routing, key);
    const char *text = json_string_value (value);
    return json_is_true (value) || (text && (strcasecmp (text, "on") == 0 || strcasecmp (text, "true") == 0));
}

static const char *
s_tp_param (enum sip_transp tp)
{
    return tp == SIP_TRANSP_TCP ? "tcp" : tp == SIP_TRANSP_TLS ? "tls" : "udp";
}

// ---------------------------------------------------------------------------
//  Calls

static void
s_release (cw_proxy_t *self, const char *lease)
{
    if (lease && *lease)
        cw_actor_request (self->actor, "licensing", "license.release", json_pack ("{s:s}", "lease", lease), NULL, NULL,
                          0);
}

static void
s_call_end (cw_proxy_t *self, const char *call_id, const char *why)
{
    char lease [CW_CALLS_LEASE_MAX];
    if (!cw_calls_end (self->calls, call_id, lease, sizeof lease))
        return;
    cw_info ("routing: call %s ended (%s)", call_id, why);
    s_release (self, lease);
    self->calls_changed = true;
}

static void
s_call_expired (const char *id, const char *lease, void *arg)
{
    cw_proxy_t *self = (cw_proxy_t *) arg;
    cw_info ("routing: call %s ended (no in-dialog request for call_routing.dialog_timeout_s)", id);
    s_release (self, lease);
    self->calls_changed = true;
}

// ---------------------------------------------------------------------------
//  Transactions: life cycle

static void
s_txn_free (s_txn_t *txn)
{
    tmr_cancel (&txn->timer);
    if (txn->searching)
        cw_search_cancel (txn->proxy->search, txn);
    for (size_t i = 0; i < txn->branch_count; i++) {
        txn->branches [i].req = (struct sip_request *) mem_deref (txn->branches [i].req);
        free (txn->branches [i].hops);
    }
    txn->st = (struct sip_strans *) mem_deref (txn->st);
    mem_deref (txn->best);
    mem_deref (txn->msg);
    free (txn);
}

static bool
s_pending (s_txn_t *txn)
{
    for (size_t i = 0; i < txn->branch_count; i++)
        if (txn->branches [i].req)
            return true;
    return false;
}

//  Free TXN when nothing is left to do for it
static void
s_txn_check (s_txn_t *txn)
{
    if (txn->busy || txn->licensing || txn->searching || !txn->answered || s_pending (txn))
        return;
    cw_proxy_t *self = txn->proxy;
    zlistx_detach (self->txns, txn->handle);
    s_txn_free (txn);
}

static void
s_cancel_branches (s_txn_t *txn)
{
    for (size_t i = 0; i < txn->branch_count; i++)
        if (txn->branches [i].req)
            sip_request_cancel (txn->branches [i].req);
}

//  A final answer generated here, upstream
static void
s_answer (s_txn_t *txn, uint16_t scode, const char *reason, const char *headers)
{
    cw_proxy_t *self = txn->proxy;
    if (txn->answered)
        return;
    txn->answered = true;
    self->answered_here++;
    int err = sip_treplyf (&txn->st, NULL, self->sip, txn->msg, false, scode, reason, "%sContent-Length: 0\r\n\r\n",
                           headers ? headers : "");
    if (err)
        cw_debug ("sip reply failed code=%u error=\"%s\"", scode, strerror (err));
    if (txn->is_call)
        s_call_end (self, txn->call_id, reason);
}

static void
s_answer_warning (s_txn_t *txn, uint16_t scode, const char *reason, const char *extra, const char *text)
{
    char clean [400], headers [600];
    cw_routing_warning_text (text, clean, sizeof clean);
    snprintf (headers, sizeof headers, "%sWarning: 399 causeway \"%s\"\r\n", extra ? extra : "", clean);
    s_answer (txn, scode, reason, headers);
}

// ---------------------------------------------------------------------------
//  Responses upstream

//  RESP without its top Via (ours), to pass upstream. NULL when out of
//  memory.
static struct mbuf *
s_relay_mb (const struct sip_msg *resp)
{
    struct mbuf *mb = mbuf_alloc (1024 + resp->mb->end);
    if (!mb)
        return NULL;
    int err = mbuf_printf (mb, "SIP/2.0 %u %r\r\n", resp->scode, &resp->reason);
    bool first_via = true;
    for (struct le *le = resp->hdrl.head; le; le = le->next) {
        const struct sip_hdr *hdr = (const struct sip_hdr *) le->data;
        if (hdr->id == SIP_HDR_VIA && first_via) {
            first_via = false;
            continue;
        }
        err |= mbuf_printf (mb, "%r: %r\r\n", &hdr->name, &hdr->val);
    }
    err |= mbuf_write_str (mb, "\r\n");
    err |= mbuf_write_mem (mb, mbuf_buf (resp->mb), mbuf_get_left (resp->mb));
    if (err)
        return (struct mbuf *) mem_deref (mb);
    mb->pos = 0;
    return mb;
}

//  Pass RESP upstream: through the server transaction while it lasts,
//  statelessly after (a second 2xx of a fork)
static void
s_relay (s_txn_t *txn, const struct sip_msg *resp)
{
    cw_proxy_t *self = txn->proxy;
    struct mbuf *mb = s_relay_mb (resp);
    if (!mb)
        return;
    int err;
    if (txn->st || !txn->answered)
        err = sip_strans_reply (&txn->st, self->sip, txn->msg, &txn->reply_dst, resp->scode, mb);
    else
        err = sip_send (self->sip, txn->msg->sock, txn->msg->tp, &txn->reply_dst, mb);
    if (err)
        cw_debug ("sip relay failed code=%u error=\"%s\"", resp->scode, strerror (err));
    mem_deref (mb);
}

//  Every branch has answered: the best answer goes upstream
static void
s_answer_best (s_txn_t *txn)
{
    if (txn->answered)
        return;
    if (txn->best && txn->best_scode != 503) {
        txn->answered = true;
        s_relay (txn, txn->best);
        if (txn->is_call)
            s_call_end (txn->proxy, txn->call_id, "final failure");
    }
    else if (txn->best_scode == 408)
        s_answer (txn, 408, "Request Timeout", NULL);    //  no branch answered in time
    else
        s_answer (txn, 500, "Server Internal Error", NULL);
}

static bool s_failover (s_branch_t *branch);

static void
s_on_branch_response (int err, const struct sip_msg *msg, void *arg)
{
    s_branch_t *branch = (s_branch_t *) arg;
    s_txn_t *txn = branch->txn;
    cw_proxy_t *self = txn->proxy;
    if (msg && msg->scode < 200) {
        if (msg->scode == 100 || txn->answered)
            return;
        s_relay (txn, msg);
        if (txn->is_call && msg->scode >= 180) {
            cw_calls_set_state (self->calls, txn->call_id, CW_CALL_RINGING, s_now ());
            self->calls_changed = true;
        }
        return;
    }
    //  A final answer, or none (err): this branch is done (libre frees it)
    uint16_t scode = msg ? msg->scode : err == ETIMEDOUT ? 408 : 503;
    if ((scode == 503 || scode == 408) && !txn->answered && s_failover (branch))
        return;    //  the zone's next hop is tried
    txn->busy = true;
    if (msg && scode < 300) {
        bool first = !txn->connected;
        txn->connected = true;
        s_relay (txn, msg);
        txn->answered = true;
        if (first && txn->invite) {
            s_cancel_branches (txn);
            tmr_cancel (&txn->timer);
            if (txn->is_call) {
                if (txn->record_route) {
                    cw_calls_set_state (self->calls, txn->call_id, CW_CALL_CONNECTED, s_now ());
                    self->calls_changed = true;
                }
                else
                    s_call_end (self, txn->call_id, "answered; this peer is not in the dialog's path");
            }
        }
    }
    else if (!txn->answered) {
        if (!txn->best_scode || cw_proxy_answer_rank (scode) < cw_proxy_answer_rank (txn->best_scode)) {
            txn->best_scode = scode;
            mem_deref (txn->best);
            txn->best = msg ? (struct sip_msg *) mem_ref ((void *) msg) : NULL;
        }
        if (scode >= 600 && txn->invite) {
            s_cancel_branches (txn);
            s_answer_best (txn);
        }
    }
    //  libre clears branch->req before this handler; the others may still run
    if (!txn->answered && !s_pending (txn))
        s_answer_best (txn);
    txn->busy = false;
    s_txn_check (txn);
}

// ---------------------------------------------------------------------------
//  Requests downstream

//  A Record-Route URI of ours at ADDR over TP, with FLOW in its user part
//  when there is one
static int
s_record_route (struct mbuf *mb, const struct sa *addr, enum sip_transp tp, const char *flow)
{
    char user [2 * S_FLOW_MAX + 8] = "";
    if (flow [0] && cw_proxy_flow_encode (flow, user, sizeof user - 1) == 0)
        strcat (user, "@");
    return mbuf_printf (mb, "Record-Route: <sip:%s%J;transport=%s;lr>\r\n", user, addr, s_tp_param (tp));
}

//  The send hook of a branch, after the Via libre wrote (LADDR: the
//  address it sends from): the Record-Route, one URI facing downstream,
//  then one facing upstream (one URI when both would be the same)
static int
s_on_send (enum sip_transp tp, const struct sa *laddr, const struct sa *dst, struct mbuf *mb, void *arg)
{
    (void) dst;
    s_branch_t *branch = (s_branch_t *) arg;
    s_txn_t *txn = branch->txn;
    if (!txn->record_route)
        return 0;
    int err = s_record_route (mb, laddr, tp, branch->target.flow);
    bool same = tp == txn->msg->tp && sa_cmp (laddr, &txn->msg->dst, SA_ALL) && !branch->target.flow [0]
             && !txn->flow_in [0];
    if (!same)
        err |= s_record_route (mb, &txn->msg->dst, txn->msg->tp, txn->flow_in);
    return err;
}

//  The request MSG as it goes to TARGET (NULL: as it is), after the Via
//  and the send hook's lines: Route (a Path) first, the request's headers
//  but the first POPPED Routes (ours) and Max-Forwards, received and rport
//  on the top Via, Max-Forwards less one, the body.
static struct mbuf *
s_forward_mb (const struct sip_msg *msg, const s_target_t *target, int popped, const char *search)
{
    struct mbuf *mb = mbuf_alloc (1024 + msg->mb->end);
    if (!mb)
        return NULL;
    int err = 0;
    if (target && target->routes [0])
        err |= mbuf_printf (mb, "Route: %s\r\n", target->routes);
    int routes = 0;
    bool first_via = true;
    for (struct le *le = msg->hdrl.head; le; le = le->next) {
        const struct sip_hdr *hdr = (const struct sip_hdr *) le->data;
        if (hdr->id == SIP_HDR_ROUTE && routes++ < popped)
            continue;
        if (hdr->id == SIP_HDR_MAX_FORWARDS)
            continue;
        if (search && search [0] && pl_strcasecmp (&hdr->name, CW_SEARCH_HEADER) == 0)
            continue;
        if (hdr->id == SIP_HDR_VIA && first_via) {
            //  received and rport, so that answers find the way back
            first_via = false;
            struct pl rp;
            err |= mbuf_printf (mb, "%r: ", &hdr->name);
            bool rport = !msg_param_exists (&msg->via.params, "rport", &rp);
            if (rport) {
                err |= mbuf_write_pl_skip (mb, &hdr->val, &rp);
                err |= mbuf_printf (mb, ";rport=%u", sa_port (&msg->src));
            }
            else
                err |= mbuf_write_pl (mb, &hdr->val);
            if (rport || !sa_cmp (&msg->src, &msg->via.addr, SA_ADDR))
                err |= mbuf_printf (mb, ";received=%j", &msg->src);
            err |= mbuf_write_str (mb, "\r\n");
            continue;
        }
        err |= mbuf_printf (mb, "%r: %r\r\n", &hdr->name, &hdr->val);
    }
    if (search && search [0])
        err |= mbuf_printf (mb, "%s: %s\r\n", CW_SEARCH_HEADER, search);
    uint32_t max_forwards = pl_isset (&msg->maxfwd) ? pl_u32 (&msg->maxfwd) : 71;
    err |= mbuf_printf (mb, "Max-Forwards: %u\r\n\r\n", max_forwards > 0 ? max_forwards - 1 : 0);
    err |= mbuf_write_mem (mb, mbuf_buf (msg->mb), mbuf_get_left (msg->mb));
    if (err)
        return (struct mbuf *) mem_deref (mb);
    mb->pos = 0;
    return mb;
}

//  Send one request toward HOP (a URI) with Request-URI RURI. STATEFUL: a
//  client transaction answering to BRANCH. 0 or an errno.
static int
s_send (cw_proxy_t *self, struct sip_request **reqp, bool stateful, const struct sip_msg *msg, const char *ruri,
        const char *hop, struct mbuf *mb, s_branch_t *branch)
{
    struct uri route;
    struct pl pl;
    pl_set_str (&pl, hop);
    if (uri_decode (&route, &pl) != 0)
        return EINVAL;
    char method [32];
    if (!cw_routing_pl_copy (&msg->met, method, sizeof method))
        return EINVAL;
    return sip_request (reqp, self->sip, stateful, method, -1, ruri, -1, &route, mb, (size_t) branch,
                        stateful ? s_on_send : NULL, stateful ? s_on_branch_response : NULL, branch);
}

//  Start every branch of TXN (the targets are in place)
static void
s_fork (s_txn_t *txn)
{
    cw_proxy_t *self = txn->proxy;
    char ruri [CW_LOCATION_URI_MAX];
    cw_routing_pl_copy (&txn->msg->ruri, ruri, sizeof ruri);
    for (size_t i = 0; i < txn->branch_count; i++) {
        s_branch_t *branch = &txn->branches [i];
        struct mbuf *mb = s_forward_mb (txn->msg, &branch->target, txn->popped, txn->search_hdr);
        int err = mb ? s_send (self, &branch->req, true, txn->msg, branch->target.ruri [0] ? branch->target.ruri : ruri,
                               branch->target.hop, mb, branch)
                     : ENOMEM;
        mem_deref (mb);
        branch->started = true;
        if (err) {
            cw_info ("sip branch not sent to=%s error=\"%s\"", branch->target.hop, strerror (err));
            branch->req = NULL;
            if (!txn->best_scode || cw_proxy_answer_rank (503) < cw_proxy_answer_rank (txn->best_scode))
                txn->best_scode = 503;
        }
        else
            self->forwarded++;
    }
    if (!s_pending (txn))
        s_answer_best (txn);
}

//  The next hop of BRANCH's zone after a 503, a 408 or a transport error:
//  true when a request went to one
static bool
s_failover (s_branch_t *branch)
{
    s_txn_t *txn = branch->txn;
    cw_proxy_t *self = txn->proxy;
    while (branch->hops && branch->hop_next < branch->hop_count) {
        const cw_zone_target_t *next = &branch->hops [branch->hop_next++];
        re_snprintf (branch->target.hop, sizeof branch->target.hop, "sip:%J;transport=%s", &next->addr,
                     s_tp_param (next->transport));
        struct mbuf *mb = s_forward_mb (txn->msg, &branch->target, txn->popped, txn->search_hdr);
        int err = mb ? s_send (self, &branch->req, true, txn->msg, branch->target.ruri, branch->target.hop, mb, branch)
                     : ENOMEM;
        mem_deref (mb);
        cw_info ("sip failover to=%s error=\"%s\"", branch->target.hop, err ? strerror (err) : "none");
        if (!err) {
            self->forwarded++;
            return true;
        }
        branch->req = NULL;
    }
    return false;
}

// ---------------------------------------------------------------------------
//  Targets

//  Is the URI in TEXT (LEN bytes, "<sip:...>" or "sip:...") one of our
//  listeners? Its user part into USER (the flow of our Record-Route).
static bool
s_uri_is_ours (cw_proxy_t *self, const struct pl *value, char *user, size_t userlen)
{
    struct sip_addr addr;
    if (sip_addr_decode (&addr, value) != 0)
        return false;
    struct sa sa;
    uint16_t port = addr.uri.port ? addr.uri.port : 5060;
    if (sa_set (&sa, &addr.uri.host, port) != 0)
        return false;
    if (!sip_transp_isladdr (self->sip, SIP_TRANSP_NONE, &sa))
        return false;
    if (user)
        cw_routing_pl_copy (&addr.uri.user, user, userlen);
    return true;
}

//  The next hop for a flow ("tcp:IP:PORT") into HOP
static int
s_flow_hop (const char *flow, char *hop, size_t hoplen)
{
    const char *colon = strchr (flow, ':');
    if (!colon || colon - flow > 3)
        return -1;
    int n = snprintf (hop, hoplen, "sip:%s;transport=%.*s", colon + 1, (int) (colon - flow), flow);
    return n > 0 && (size_t) n < hoplen ? 0 : -1;
}

//  A binding of this peer as a target
static void
s_target_own (const cw_binding_t *b, s_target_t *t)
{
    memset (t, 0, sizeof *t);
    snprintf (t->ruri, sizeof t->ruri, "%s", b->contact);
    bool connection = strcmp (b->transport, "tcp") == 0 || strcmp (b->transport, "tls") == 0;
    if (b->source [0] && (b->flow [0] || connection)) {
        snprintf (t->flow, sizeof t->flow, "%s:%s", b->transport, b->source);
        if (s_flow_hop (t->flow, t->hop, sizeof t->hop) != 0)
            t->flow [0] = 0;
    }
    if (b->path [0]) {
        //  Through the Path: its first URI is the next hop
        snprintf (t->routes, sizeof t->routes, "%s", b->path);
        const char *lt = strchr (b->path, '<');
        const char *gt = lt ? strchr (lt, '>') : NULL;
        if (lt && gt && (size_t) (gt - lt) < sizeof t->hop) {
            snprintf (t->hop, sizeof t->hop, "%.*s", (int) (gt - lt - 1), lt + 1);
            return;
        }
    }
    if (!t->hop [0])
        snprintf (t->hop, sizeof t->hop, "%s", b->contact);
}

//  Is MSG from another peer of the cluster (its SIP address)?
static bool
s_from_peer (cw_proxy_t *self, const struct sip_msg *msg)
{
    int this_peer = cw_routing_this_peer (self->routing);
    for (int peer = 1; peer <= CW_CALLS_PEERS; peer++) {
        if (peer == this_peer)
            continue;
        for (int i = 0; i < self->peers [peer].addr_count; i++)
            if (sa_cmp (&self->peers [peer].addrs [i], &msg->src, SA_ADDR))
                return true;
    }
    return false;
}

//  The targets of a request for AOR into TXN's branches. Returns how many.
static size_t
s_plan (cw_proxy_t *self, s_txn_t *txn, const char *aor)
{
    cw_binding_t *found = (cw_binding_t *) malloc (CW_PROXY_BRANCHES_MAX * 2 * sizeof (cw_binding_t));
    if (!found)
        return 0;
    cw_location_t *table = cw_registrar_location (self->registrar);
    size_t count = cw_location_lookup (table, aor, s_now (), cw_routing_alive_fn, self->routing, found,
                                       CW_PROXY_BRANCHES_MAX * 2);
    int this_peer = cw_routing_this_peer (self->routing);
    bool through [CW_CALLS_PEERS + 1] = { false };
    bool optimise = s_config_on (self, "call_routing.signaling_optimization");
    bool needs_path = false;
    for (size_t i = 0; i < count && txn->branch_count < CW_PROXY_BRANCHES_MAX; i++) {
        const cw_binding_t *b = &found [i];
        s_branch_t *branch = &txn->branches [txn->branch_count];
        memset (branch, 0, sizeof *branch);
        branch->txn = txn;
        //  A request handed on from a neighbour must not spiral back to the
        //  peer that handed it (its transaction would see a merged request):
        //  another peer's plain UDP contact is reached directly
        bool direct = txn->handed && !b->flow [0] && !b->path [0] && strcmp (b->transport, "udp") == 0;
        if (b->owner == this_peer || b->owner <= 0 || direct) {
            s_target_own (b, &branch->target);
            needs_path |= branch->target.flow [0] != 0;
        }
        else {
            //  One branch per peer, and none back to a peer it came from
            if ((txn->from_peer && !txn->handed) || b->owner > CW_CALLS_PEERS || through [b->owner])
                continue;
            if (!self->peers [b->owner].hop [0]) {
                cw_info ("sip peer %d has not announced its SIP listeners: its contacts of %s are not tried", b->owner,
                         aor);
                continue;
            }
            through [b->owner] = true;
            branch->target.peer = b->owner;
            snprintf (branch->target.ruri, sizeof branch->target.ruri, "%s", txn->peer_ruri);
            snprintf (branch->target.hop, sizeof branch->target.hop, "%s", self->peers [b->owner].hop);
        }
        txn->branch_count++;
    }
    free (found);
    bool dialog = txn->invite || pl_strcmp (&txn->msg->met, "SUBSCRIBE") == 0
               || pl_strcmp (&txn->msg->met, "REFER") == 0;
    //  Several AORs (a FindMe alias's devices) are planned one after the other
    txn->record_route |= dialog && (!optimise || needs_path || txn->flow_in [0]);
    return txn->branch_count;
}

// ---------------------------------------------------------------------------
//  Licenses

static void
s_licensed (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_txn_t *txn = (s_txn_t *) arg;
    cw_proxy_t *self = txn->proxy;
    txn->licensing = false;
    const char *lease = ok ? json_string_value (json_object_get (body, "lease")) : NULL;
    bool granted = ok && json_is_true (json_object_get (body, "granted")) && lease && *lease;
    if (txn->answered) {
        //  Cancelled or timed out meanwhile
        if (granted)
            s_release (self, lease);
        s_txn_check (txn);
        return;
    }
    if (!ok) {
        const char *why = json_string_value (json_object_get (body, "error"));
        char text [300];
        snprintf (text, sizeof text, "no rich_media_sessions license: the licensing actor did not answer (%s)",
                  why ? why : "no reason");
        cw_warn ("routing: call %s refused: %s", txn->call_id, text);
        self->no_license++;
        s_answer_warning (txn, 503, "Service Unavailable", "Retry-After: 30\r\n", text);
        s_txn_check (txn);
        return;
    }
    if (!granted) {
        const char *why = json_string_value (json_object_get (body, "reason"));
        char text [300];
        snprintf (text, sizeof text, "no rich_media_sessions license: %s", why ? why : "refused");
        cw_info ("routing: call %s refused: %s", txn->call_id, text);
        self->no_license++;
        s_answer_warning (txn, 503, "Service Unavailable", NULL, text);
        s_txn_check (txn);
        return;
    }
    char from [CW_CALLS_URI_MAX], to [CW_CALLS_URI_MAX];
    cw_routing_pl_copy (&txn->msg->from.auri, from, sizeof from);
    cw_routing_pl_copy (&txn->msg->to.auri, to, sizeof to);
    if (cw_calls_add (self->calls, txn->call_id, from, to, cw_routing_this_peer (self->routing), s_now (), lease)
        == 0) {
        txn->is_call = true;
        self->calls_changed = true;
        cw_info ("routing: call %s from %s to %s lease=%s", txn->call_id, from, to, lease);
    }
    else
        s_release (self, lease);    //  the Call-ID is a call already: it holds one
    s_fork (txn);
    s_txn_check (txn);
}

// ---------------------------------------------------------------------------
//  Requests in

static void
s_on_ringing_timeout (void *arg)
{
    s_txn_t *txn = (s_txn_t *) arg;
    if (txn->answered)
        return;
    txn->proxy->timeouts++;
    cw_info ("routing: %s: no final answer within call_routing.ringing_timeout_s", txn->call_id);
    s_cancel_branches (txn);
    s_answer (txn, 408, "Request Timeout", NULL);
    s_txn_check (txn);
}

static void
s_on_cancel (void *arg)
{
    s_txn_t *txn = (s_txn_t *) arg;
    txn->proxy->cancelled++;
    s_cancel_branches (txn);
    s_answer (txn, 487, "Request Terminated", NULL);
    s_txn_check (txn);
}

//  A new transaction for MSG, in the list
static s_txn_t *
s_txn_new (cw_proxy_t *self, const struct sip_msg *msg, const char *flow)
{
    s_txn_t *txn = (s_txn_t *) zmalloc (sizeof (s_txn_t));
    txn->proxy = self;
    txn->msg = (struct sip_msg *) mem_ref ((void *) msg);
    txn->invite = pl_strcmp (&msg->met, "INVITE") == 0;
    tmr_init (&txn->timer);
    cw_routing_pl_copy (&msg->callid, txn->call_id, sizeof txn->call_id);
    struct pl rp;
    sip_reply_addr (&txn->reply_dst, msg, !msg_param_exists (&msg->via.params, "rport", &rp));
    if (msg->tp != SIP_TRANSP_UDP && flow && *flow) {
        //  The connection upstream, as "tcp:IP:PORT"
        re_snprintf (txn->flow_in, sizeof txn->flow_in, "%s:%J", s_tp_param (msg->tp), &msg->src);
    }
    if (sip_strans_alloc (&txn->st, self->sip, msg, txn->invite ? s_on_cancel : NULL, txn) != 0) {
        mem_deref (txn->msg);
        free (txn);
        return NULL;
    }
    txn->handle = zlistx_add_end (self->txns, txn);
    return txn;
}

//  Pop the Routes of ours at the top of MSG: how many, and the flow of
//  the last one (the side the request goes to) into FLOW
static int
s_pop_routes (cw_proxy_t *self, const struct sip_msg *msg, char *flow, size_t flowlen, char *next, size_t nextlen)
{
    int popped = 0;
    flow [0] = 0;
    next [0] = 0;
    for (struct le *le = msg->hdrl.head; le; le = le->next) {
        const struct sip_hdr *hdr = (const struct sip_hdr *) le->data;
        if (hdr->id != SIP_HDR_ROUTE)
            continue;
        char user [2 * S_FLOW_MAX + 8];
        if (!next [0] && s_uri_is_ours (self, &hdr->val, user, sizeof user)) {
            popped++;
            if (cw_proxy_flow_decode (user, strlen (user), flow, flowlen) != 0)
                flow [0] = 0;
            continue;
        }
        //  The next hop: the first Route not ours
        struct sip_addr addr;
        if (sip_addr_decode (&addr, &hdr->val) == 0)
            cw_routing_pl_copy (&addr.auri, next, nextlen);
        break;
    }
    return popped;
}

//  An in-dialog request (or a pre-routed one) with our Route on top
static void
s_loose_route (cw_proxy_t *self, const struct sip_msg *msg, const char *flow, int popped, const char *route_flow,
               const char *next)
{
    char ruri [CW_LOCATION_URI_MAX];
    if (!cw_routing_pl_copy (&msg->ruri, ruri, sizeof ruri)) {
        cw_routing_reply (self->routing, msg, 414, "Request-URI Too Long", NULL);
        return;
    }
    char hop [S_HOP_MAX] = "";
    if (route_flow [0] && s_flow_hop (route_flow, hop, sizeof hop) != 0)
        hop [0] = 0;
    if (!hop [0])
        snprintf (hop, sizeof hop, "%s", next [0] ? next : ruri);
    self->loose_routed++;
    char call_id [CW_CALLS_ID_MAX];
    cw_routing_pl_copy (&msg->callid, call_id, sizeof call_id);
    bool ack = pl_strcmp (&msg->met, "ACK") == 0;
    if (pl_strcmp (&msg->met, "BYE") == 0)
        s_call_end (self, call_id, "BYE");
    else
        cw_calls_touch (self->calls, call_id, s_now ());
    if (ack) {
        struct mbuf *mb = s_forward_mb (msg, NULL, popped, NULL);
        int err = mb ? s_send (self, NULL, false, msg, ruri, hop, mb, NULL) : ENOMEM;
        if (err)
            cw_debug ("sip ACK not forwarded to=%s error=\"%s\"", hop, strerror (err));
        mem_deref (mb);
        return;
    }
    s_txn_t *txn = s_txn_new (self, msg, flow);
    if (!txn) {
        cw_routing_reply (self->routing, msg, 500, "Server Internal Error", NULL);
        return;
    }
    txn->popped = popped;
    txn->flow_in [0] = 0;
    s_branch_t *branch = &txn->branches [txn->branch_count++];
    branch->txn = txn;
    snprintf (branch->target.ruri, sizeof branch->target.ruri, "%s", ruri);
    snprintf (branch->target.hop, sizeof branch->target.hop, "%s", hop);
    txn->busy = true;
    s_fork (txn);
    txn->busy = false;
    s_txn_check (txn);
}

// ---------------------------------------------------------------------------
//  The search (search.h): where an out-of-dialog request goes when the
//  dial plan has search rules

static void s_proceed (s_txn_t *txn);

//  A zone's route as one branch: its next hops tried in order
static void
s_branch_zone (s_txn_t *txn, const cw_search_route_t *route)
{
    s_branch_t *branch = &txn->branches [txn->branch_count];
    memset (branch, 0, sizeof *branch);
    branch->txn = txn;
    branch->hops = (cw_zone_target_t *) malloc (route->hop_count * sizeof (cw_zone_target_t));
    if (!branch->hops || !route->hop_count) {
        free (branch->hops);
        branch->hops = NULL;
        return;
    }
    memcpy (branch->hops, route->hops, route->hop_count * sizeof (cw_zone_target_t));
    branch->hop_count = route->hop_count;
    branch->hop_next = 1;
    snprintf (branch->target.ruri, sizeof branch->target.ruri, "sip:%s", route->alias);
    re_snprintf (branch->target.hop, sizeof branch->target.hop, "sip:%J;transport=%s", &route->hops [0].addr,
                 s_tp_param (route->hops [0].transport));
    txn->branch_count++;
}

static void
s_on_searched (const cw_search_result_t *result, void *arg)
{
    s_txn_t *txn = (s_txn_t *) arg;
    cw_proxy_t *self = txn->proxy;
    txn->searching = false;
    if (txn->answered) {
        s_txn_check (txn);
        return;
    }
    snprintf (txn->search_hdr, sizeof txn->search_hdr, "%s", result->header);
    if (result->scode) {
        char clean [400], headers [600];
        cw_routing_warning_text (result->warning, clean, sizeof clean);
        re_snprintf (headers, sizeof headers, "Warning: 399 %J \"%s\"\r\n", &txn->msg->dst, clean);
        if (result->scode == 404)
            self->no_contact++;
        s_answer (txn, result->scode, result->reason, headers);
        s_txn_check (txn);
        return;
    }
    bool local = false;
    for (size_t i = 0; i < result->count && txn->branch_count < CW_PROXY_BRANCHES_MAX; i++) {
        const cw_search_route_t *route = &result->routes [i];
        if (route->local) {
            local = true;
            snprintf (txn->peer_ruri, sizeof txn->peer_ruri, "%s", route->alias);
            s_plan (self, txn, route->alias);
        }
        else if (route->peer > 0 && route->peer <= CW_CALLS_PEERS) {
            if (!self->peers [route->peer].hop [0]) {
                cw_info ("sip peer %d has not announced its SIP listeners: not handed to it", route->peer);
                continue;
            }
            s_branch_t *branch = &txn->branches [txn->branch_count++];
            memset (branch, 0, sizeof *branch);
            branch->txn = txn;
            branch->target.peer = route->peer;
            snprintf (branch->target.hop, sizeof branch->target.hop, "%s", self->peers [route->peer].hop);
        }
        else
            s_branch_zone (txn, route);
    }
    if (!local) {
        bool dialog = txn->invite || pl_strcmp (&txn->msg->met, "SUBSCRIBE") == 0
                   || pl_strcmp (&txn->msg->met, "REFER") == 0;
        txn->record_route = dialog && (!s_config_on (self, "call_routing.signaling_optimization") || txn->flow_in [0]);
    }
    if (txn->branch_count == 0) {
        self->no_contact++;
        s_answer (txn, 480, "Temporarily Unavailable", NULL);
    }
    else
        s_proceed (txn);
    s_txn_check (txn);
}

static void
s_search_start (cw_proxy_t *self, const struct sip_msg *msg, const char *flow, int popped, bool from_peer)
{
    s_txn_t *txn = s_txn_new (self, msg, flow);
    if (!txn) {
        cw_routing_reply (self->routing, msg, 500, "Server Internal Error", NULL);
        return;
    }
    txn->from_peer = from_peer;
    txn->handed = from_peer;    //  searched when from a peer: handed on from a neighbour
    txn->popped = popped;
    txn->busy = true;
    if (txn->invite
        && sip_treplyf (&txn->st, NULL, self->sip, msg, false, 100, "Trying", "Content-Length: 0\r\n\r\n") != 0)
        cw_debug ("sip 100 Trying not sent");
    txn->searching = true;
    if (!cw_search_request (self->search, msg, from_peer, s_on_searched, txn)) {
        txn->searching = false;
        s_answer (txn, 500, "Server Internal Error", NULL);
    }
    txn->busy = false;
    s_txn_check (txn);
}

void
cw_proxy_set_search (cw_proxy_t *self, cw_search_t *search)
{
    self->search = search;
}

void
cw_proxy_set_findme (cw_proxy_t *self, cw_findme_t *findme)
{
    self->findme = findme;
}

//  TXN's request is for a FindMe alias (FOUND): a branch per contact of
//  each registered device of the active location (a device on another
//  peer through that peer, with the device as the Request-URI), or the
//  account's 404 / 480
static void
s_plan_findme (cw_proxy_t *self, s_txn_t *txn, const cw_findme_result_t *found)
{
    if (!found->scode) {
        for (size_t i = 0; i < found->count; i++)
            if (found->devices [i].registered) {
                snprintf (txn->peer_ruri, sizeof txn->peer_ruri, "%s", found->devices [i].aor);
                s_plan (self, txn, found->devices [i].aor);
            }
        cw_info ("routing: %s is FindMe account %s: %zu branch(es) to %zu registered device(s) of location '%s'",
                 found->alias, found->id, txn->branch_count, found->registered, found->location);
    }
    if (found->scode || txn->branch_count == 0) {
        self->no_contact++;
        s_answer_warning (txn, found->scode ? found->scode : 480,
                          found->scode ? found->reason : "Temporarily Unavailable", NULL,
                          found->scode ? found->warning : "FindMe: no registered device can be reached");
        return;
    }
    s_proceed (txn);
}

static void
s_on_request (cw_routing_t *routing, const struct sip_msg *msg, const char *flow, void *arg)
{
    (void) routing;
    cw_proxy_t *self = (cw_proxy_t *) arg;
    bool ack = pl_strcmp (&msg->met, "ACK") == 0;
    bool cancel = pl_strcmp (&msg->met, "CANCEL") == 0;
    //  A CANCEL libre did not match to a transaction of ours
    if (cancel) {
        cw_routing_reply (self->routing, msg, 481, "Call/Transaction Does Not Exist", NULL);
        return;
    }
    char route_flow [S_FLOW_MAX], next [CW_LOCATION_URI_MAX];
    int popped = s_pop_routes (self, msg, route_flow, sizeof route_flow, next, sizeof next);
    //  A new request whose only Route is ours (an outbound proxy setting)
    //  is routed on its Request-URI like any other
    if (popped > 0 && (ack || pl_isset (&msg->to.tag) || next [0] || route_flow [0])) {
        s_loose_route (self, msg, flow, popped, route_flow, next);
        return;
    }
    if (ack)
        return;    //  not for a dialog through us: absorbed
    if (pl_isset (&msg->to.tag)) {
        cw_routing_reply (self->routing, msg, 481, "Call/Transaction Does Not Exist", NULL);
        return;
    }
    //  Out of dialog: a user of our domains
    char user [128], host [256], aor [CW_LOCATION_AOR_MAX];
    if (!cw_routing_pl_copy (&msg->uri.user, user, sizeof user)
        || !cw_routing_pl_copy (&msg->uri.host, host, sizeof host)
        || cw_registrar_aor (user, host, aor, sizeof aor) != 0) {
        cw_routing_reply (self->routing, msg, 400, "Bad Request", NULL);
        return;
    }
    bool from_peer = s_from_peer (self, msg);
    if (self->search && cw_search_wants (self->search, msg, from_peer)) {
        s_search_start (self, msg, flow, popped, from_peer);
        return;
    }
    //  A peer's branch to the contacts it found here was searched there
    bool searched = from_peer && cw_search_enabled (self->search);
    json_t *fallback = cw_routing_config (self->routing, "dns.domain");
    if (!searched
        && !cw_registrar_domain_served (cw_routing_config (self->routing, "sip.domains"), json_string_value (fallback),
                                        host)) {
        char headers [400];
        char clean [300];
        char text [400];    //  the host (< 256) and the words fit whole
        snprintf (text, sizeof text, "%s is not a domain of this cluster (sip.domains)", host);
        cw_routing_warning_text (text, clean, sizeof clean);
        snprintf (headers, sizeof headers, "Warning: 399 causeway \"%s\"\r\n", clean);
        cw_routing_reply (self->routing, msg, 404, "Not Found", headers);
        return;
    }
    s_txn_t *txn = s_txn_new (self, msg, flow);
    if (!txn) {
        cw_routing_reply (self->routing, msg, 500, "Server Internal Error", NULL);
        return;
    }
    txn->from_peer = from_peer;
    txn->popped = popped;
    txn->busy = true;
    if (txn->invite) {
        if (sip_treplyf (&txn->st, NULL, self->sip, msg, false, 100, "Trying", "Content-Length: 0\r\n\r\n") != 0)
            cw_debug ("sip 100 Trying not sent");
    }
    //  A FindMe alias (but never again for a peer's branch to a device)
    cw_findme_result_t *found = !from_peer && self->findme ? malloc (sizeof *found) : NULL;
    if (found && cw_findme_locate (self->findme, aor, cw_registrar_location (self->registrar), self->routing, found))
        s_plan_findme (self, txn, found);
    else if (s_plan (self, txn, aor) == 0) {
        self->no_contact++;
        s_answer (txn, 480, "Temporarily Unavailable", NULL);
    }
    else
        s_proceed (txn);
    free (found);
    txn->busy = false;
    s_txn_check (txn);
}

//  TXN's branches are planned: the ringing timer, the license of a call
//  entering the cluster here, then the branches
static void
s_proceed (s_txn_t *txn)
{
    cw_proxy_t *self = txn->proxy;
    if (txn->invite) {
        int64_t ringing = cw_routing_config_int (self->routing, "call_routing.ringing_timeout_s", S_DEFAULT_RINGING_S);
        tmr_start (&txn->timer, (uint64_t) (ringing > 0 ? ringing : S_DEFAULT_RINGING_S) * 1000, s_on_ringing_timeout,
                   txn);
        if (txn->from_peer || cw_calls_has (self->calls, txn->call_id))
            s_fork (txn);
        else {
            json_t *args = json_pack ("{s:s}", "kind", "rich_media_sessions");
            if (cw_actor_request (self->actor, "licensing", "license.acquire", args, s_licensed, txn,
                                  CW_PROXY_LICENSE_TIMEOUT_MS)
                == 0)
                txn->licensing = true;
            else {
                self->no_license++;
                s_answer_warning (txn, 503, "Service Unavailable", "Retry-After: 30\r\n",
                                  "no rich_media_sessions license: the licensing actor cannot be asked");
            }
        }
    }
    else
        s_fork (txn);
}

//  A response no transaction waited for (a 2xx retransmission, a second
//  2xx of a fork downstream): passed upstream along its Via when the top
//  Via is ours
static bool
s_on_stray_response (cw_routing_t *routing, const struct sip_msg *msg, void *arg)
{
    (void) routing;
    cw_proxy_t *self = (cw_proxy_t *) arg;
    if (msg->scode < 200 || msg->scode >= 300 || !sip_transp_isladdr (self->sip, SIP_TRANSP_NONE, &msg->via.addr))
        return false;
    const struct sip_hdr *second = NULL;
    int vias = 0;
    for (struct le *le = msg->hdrl.head; le && !second; le = le->next) {
        const struct sip_hdr *hdr = (const struct sip_hdr *) le->data;
        if (hdr->id == SIP_HDR_VIA && vias++ == 1)
            second = hdr;
    }
    struct sip_via via;
    if (!second || sip_via_decode (&via, &second->val) != 0)
        return false;
    struct sa dst = via.addr;
    struct pl value;
    if (msg_param_decode (&via.params, "received", &value) == 0)
        sa_set (&dst, &value, sa_port (&via.addr));
    if (msg_param_decode (&via.params, "rport", &value) == 0 && pl_u32 (&value))
        sa_set_port (&dst, (uint16_t) pl_u32 (&value));
    if (!sa_port (&dst))
        sa_set_port (&dst, via.tp == SIP_TRANSP_TLS ? 5061 : 5060);
    struct mbuf *mb = s_relay_mb (msg);
    if (mb && sip_send (self->sip, NULL, via.tp, &dst, mb) == 0)
        self->stray_forwarded++;
    mem_deref (mb);
    return true;
}

// ---------------------------------------------------------------------------
//  Between peers: listeners and calls

static void
s_announce (cw_proxy_t *self)
{
    json_t *calls = cw_calls_list_own (self->calls);
    while (json_array_size (calls) > CW_PROXY_ANNOUNCED_CALLS)
        json_array_remove (calls, json_array_size (calls) - 1);
    json_t *body = json_pack ("{s:O, s:o}", "listen", self->listen, "calls", calls);
    json_t *args = json_pack ("{s:s, s:o}", "topic", "routing.proxy", "body", body);
    cw_actor_request (self->actor, "replication", "replication.broadcast", args, NULL, NULL, 0);
}

static void
s_on_event (cw_routing_t *routing, const char *topic, json_t *event, void *arg)
{
    cw_proxy_t *self = (cw_proxy_t *) arg;
    if (strcmp (topic, "cluster.peers") == 0) {
        self->next_announce_ms = 0;    //  at the next tick
        return;
    }
    if (strcmp (topic, "cluster.routing.proxy") != 0)
        return;
    int peer = (int) json_integer_value (json_object_get (event, "peer"));
    json_t *body = json_object_get (event, "body");
    if (peer < 1 || peer > CW_CALLS_PEERS || peer == cw_routing_this_peer (routing) || !json_is_object (body))
        return;
    s_peer_t *entry = &self->peers [peer];
    entry->addr_count = 0;
    entry->hop [0] = 0;
    char tcp_hop [S_HOP_MAX] = "";
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (body, "listen"), i, item) {
        const char *text = json_string_value (item);
        const char *colon = text ? strchr (text, ':') : NULL;
        if (!colon || entry->addr_count >= CW_MAX_SIP_LISTENERS)
            continue;
        struct pl hostport;
        pl_set_str (&hostport, colon + 1);
        struct sa sa;
        if (sa_decode (&sa, hostport.p, hostport.l) != 0)
            continue;
        entry->addrs [entry->addr_count++] = sa;
        char *hop = strncmp (text, "udp:", 4) == 0 ? entry->hop : strncmp (text, "tcp:", 4) == 0 ? tcp_hop : NULL;
        if (hop && !hop [0])
            snprintf (hop, S_HOP_MAX, "sip:%s;transport=%.3s", colon + 1, text);
    }
    if (!entry->hop [0])
        snprintf (entry->hop, sizeof entry->hop, "%s", tcp_hop);
    cw_calls_set_remote (self->calls, peer, json_object_get (body, "calls"));
}

//  Tell the replication actor this peer's calls and capacity when they
//  changed (at most every S_LOAD_EVERY_MS) or every S_LOAD_REFRESH_MS.
static void
s_say_load (cw_proxy_t *self, int64_t now_ms)
{
    int64_t calls = (int64_t) cw_calls_count (self->calls);
    int64_t capacity = cw_routing_config_int (self->routing, CW_CAPACITY_KEY, CW_CAPACITY_CALLS_PER_PEER);
    if (capacity < 1)
        capacity = CW_CAPACITY_CALLS_PER_PEER;
    bool changed = calls != self->load_said_calls || capacity != self->load_said_capacity;
    int64_t since = now_ms - self->load_said_ms;    //  < 0: the wall clock went back
    if (self->load_said_ms && since >= 0 && since < (changed ? S_LOAD_EVERY_MS : S_LOAD_REFRESH_MS))
        return;
    self->load_said_ms = now_ms;
    self->load_said_calls = calls;
    self->load_said_capacity = capacity;
    cw_actor_request (self->actor, "replication", "cluster.calls.set",
                      json_pack ("{s:I, s:I}", "calls", (json_int_t) calls, "capacity", (json_int_t) capacity), NULL,
                      NULL, 0);
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    cw_proxy_t *self = (cw_proxy_t *) arg;
    s_say_load (self, now_ms);
    if (now_ms >= self->next_expire_ms) {
        self->next_expire_ms = now_ms + S_EXPIRE_EVERY_MS;
        int64_t idle = cw_routing_config_int (self->routing, "call_routing.dialog_timeout_s", S_DEFAULT_DIALOG_S);
        cw_calls_expire (self->calls, now_ms, (idle > 0 ? idle : S_DEFAULT_DIALOG_S) * 1000, s_call_expired, self);
    }
    if (self->calls_changed && self->next_announce_ms > now_ms + CW_PROXY_ANNOUNCE_SOON_MS)
        self->next_announce_ms = now_ms + CW_PROXY_ANNOUNCE_SOON_MS;
    if (now_ms >= self->next_announce_ms) {
        self->next_announce_ms = now_ms + CW_PROXY_ANNOUNCE_MS;
        self->calls_changed = false;
        if (cw_routing_peer_count (routing) > 1)
            s_announce (self);
    }
}

// ---------------------------------------------------------------------------
//  Status and commands

static void
s_status (cw_routing_t *routing, json_t *status, void *arg)
{
    cw_proxy_t *self = (cw_proxy_t *) arg;
    json_object_set_new (status, "calls",
                         cw_calls_figures (self->calls, cw_routing_this_peer (routing), cw_routing_alive_fn, routing));
    json_t *peers = json_object ();
    for (int peer = 1; peer <= CW_CALLS_PEERS; peer++)
        if (self->peers [peer].hop [0]) {
            char name [8];
            snprintf (name, sizeof name, "%d", peer);
            json_object_set_new (peers, name, json_string (self->peers [peer].hop));
        }
    json_object_set_new (status, "proxy",
                         json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "transactions",
                                    (json_int_t) zlistx_size (self->txns), "forwarded", (json_int_t) self->forwarded,
                                    "answered_here", (json_int_t) self->answered_here, "no_contact",
                                    (json_int_t) self->no_contact, "no_license", (json_int_t) self->no_license,
                                    "timeouts", (json_int_t) self->timeouts, "cancelled", (json_int_t) self->cancelled,
                                    "loose_routed", (json_int_t) self->loose_routed, "stray_forwarded",
                                    (json_int_t) self->stray_forwarded, "peer_listeners", peers));
}

static cw_reply_status_t
s_cmd_calls (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_proxy_t *self = (cw_proxy_t *) arg;
    *reply = json_pack ("{s:o}", "calls",
                        cw_calls_list_all (self->calls, cw_routing_this_peer (self->routing), cw_routing_alive_fn,
                                           self->routing));
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "calls.list", s_cmd_calls, CW_CMD_IDEMPOTENT,
      "the calls in progress on every live peer: id, from, to, peer, state, started_at" },
    { NULL, NULL, 0, NULL },
};

// ---------------------------------------------------------------------------
//  Life cycle

static const char *const s_methods [] = { "INVITE",  "ACK",       "BYE",    "CANCEL", "UPDATE",  "INFO", "PRACK",
                                          "MESSAGE", "SUBSCRIBE", "NOTIFY", "REFER",  "PUBLISH", NULL };

cw_proxy_t *
cw_proxy_new (cw_routing_t *routing, cw_registrar_t *registrar, char *err, size_t errlen)
{
    cw_proxy_t *self = (cw_proxy_t *) zmalloc (sizeof (cw_proxy_t));
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    self->sip = cw_routing_sip (routing);
    self->registrar = registrar;
    self->calls = cw_calls_new ();
    self->txns = zlistx_new ();
    self->listen = json_array ();
    const cw_bootstrap_t *boot = cw_actor_bootstrap (self->actor);
    for (int i = 0; i < boot->sip.listen_count; i++) {
        const cw_sip_listener_t *l = &boot->sip.listen [i];
        char text [96];
        snprintf (text, sizeof text, strchr (l->address, ':') ? "%s:[%s]:%d" : "%s:%s:%d", l->transport, l->address,
                  l->port);
        json_array_append_new (self->listen, json_string (text));
    }
    for (int i = 0; s_methods [i]; i++)
        if (cw_routing_on_method (routing, s_methods [i], s_on_request, self) != 0) {
            snprintf (err, errlen, "%s is already handled by another module", s_methods [i]);
            cw_proxy_destroy (&self);
            return NULL;
        }
    if (cw_actor_commands (self->actor, s_commands, self) != 0) {
        snprintf (err, errlen, "the proxy's commands cannot be declared");
        cw_proxy_destroy (&self);
        return NULL;
    }
    cw_routing_on_response (routing, s_on_stray_response, self);
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_routing_on_event (routing, "cluster.", s_on_event, self);
    cw_routing_on_status (routing, s_status, self);
    return self;
}

void
cw_proxy_destroy (cw_proxy_t **self_p)
{
    cw_proxy_t *self = *self_p;
    if (!self)
        return;
    //  The leases go with the actor (licensing frees an exiting actor's)
    for (s_txn_t *txn = (s_txn_t *) zlistx_first (self->txns); txn; txn = (s_txn_t *) zlistx_next (self->txns))
        s_txn_free (txn);
    zlistx_destroy (&self->txns);
    cw_calls_destroy (&self->calls);
    json_decref (self->listen);
    free (self);
    *self_p = NULL;
}

#endif
