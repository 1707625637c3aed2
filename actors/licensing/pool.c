/*  pool.c - the cluster-wide pool of capacity licenses (see pool.h).

    The local side is three counters per kind. The ledger keeps, per peer,
    what it reserved, what the peer last acknowledged, the demand not yet
    answered, and the offer it will send next (targets, binding and
    exhausted flags, or a bare probe). Every event (pool, peer, demand,
    ack, lost offer) runs s_plan, which decides per kind, only for peers
    that are SETTLED (live, no offer outstanding or pending, share known
    exactly from an ACK of the latest offer):
      1. grant the free part to the settled demanders;
      2. split the free part among the live peers after a pool or peer
         change, once every live peer is settled;
      3. for a demand still unserved, halve the spare of every other live
         peer (probing those whose information predates the demand), and
         answer EXHAUSTED once every other live peer is known, freshly, to
         have no spare and nothing is free;
      4. for a pool below the sum of the shares, take the live peers'
         spare, then (all of them known freshly) cut below USED with
         binding offers.
    Raises increase RESERVED when decided; lowerings lower it only when
    acknowledged. The plan is idempotent: a peer with an offer pending or
    outstanding is not planned for again, so nothing is sent in a steady
    state.
*/
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

#define K CW_POOL_KINDS

typedef struct {
    bool declared;
    bool live;
    bool outstanding;     //  an offer sent, neither acknowledged nor lost
    bool acked;           //  the latest offer sent was acknowledged (take one ACK only)
    bool known;           //  share/used exact: acknowledged, no offer sent since
    bool ever_acked;      //  an ACK taken in this epoch since declared
    uint64_t seq;         //  of the latest offer sent (kept across drop/declare)
    uint64_t info_gen;    //  when share/used were learnt
    int64_t reserved [K];
    int64_t share [K];
    int64_t used [K];
    int64_t demand [K];
    //  The next offer
    bool probe;
    int64_t want [K];
    bool binding [K];
    bool exhaust [K];
    bool answers [K];             //  the next offer answers a demand of that kind
    bool inflight_answers [K];    //  the outstanding one does
} s_peer_t;

struct _cw_pool_ledger_t {
    uint64_t epoch;
    uint64_t gen;    //  counts ACKs taken
    int64_t pool [K];
    bool split [K];            //  a pool or peer change waits to be split
    uint64_t fresh_gen [K];    //  decisions need information newer than this
    s_peer_t peer [CW_POOL_PEERS];
};

static bool
s_kind_ok (int kind)
{
    return kind >= 0 && kind < K;
}

// ---------------------------------------------------------------------------
//  The local side

bool
cw_pool_local_acquire (cw_pool_local_t *self, int kind)
{
    if (!s_kind_ok (kind) || self->used [kind] >= self->share [kind])
        return false;
    self->used [kind]++;
    return true;
}

void
cw_pool_local_release (cw_pool_local_t *self, int kind)
{
    if (s_kind_ok (kind) && self->used [kind] > 0)
        self->used [kind]--;
}

bool
cw_pool_local_offer (cw_pool_local_t *self, const cw_pool_offer_t *offer, cw_pool_ack_t *ack)
{
    bool newer = offer->epoch > self->epoch || (offer->epoch == self->epoch && offer->seq > self->seq);
    if (newer) {
        for (int k = 0; k < K; k++) {
            int64_t target = offer->target [k];
            if (target < 0 || target > CW_POOL_COUNT_MAX)
                continue;
            if (offer->binding [k] || target > self->used [k])
                self->share [k] = target;
            else
                self->share [k] = self->used [k];
        }
        self->epoch = offer->epoch;
        self->seq = offer->seq;
    }
    ack->epoch = self->epoch;
    ack->seq = self->seq;
    memcpy (ack->share, self->share, sizeof ack->share);
    memcpy (ack->used, self->used, sizeof ack->used);
    return newer;
}

void
cw_pool_local_clamp (cw_pool_local_t *self, int kind, int64_t limit)
{
    if (!s_kind_ok (kind))
        return;
    if (limit < self->used [kind])
        limit = self->used [kind];
    if (limit < self->share [kind])
        self->share [kind] = limit;
}

// ---------------------------------------------------------------------------
//  The ledger: helpers

static s_peer_t *
s_peer (cw_pool_ledger_t *self, int peer)
{
    if (!self || peer < 1 || peer > CW_POOL_PEERS)
        return NULL;
    return &self->peer [peer - 1];
}

static bool
s_pending (const s_peer_t *p)
{
    if (p->probe)
        return true;
    for (int k = 0; k < K; k++)
        if (p->want [k] >= 0 || p->exhaust [k])
            return true;
    return false;
}

//  Live, nothing pending or outstanding, share and used exact.
static bool
s_settled (const s_peer_t *p)
{
    return p->declared && p->live && !p->outstanding && p->known && !s_pending (p);
}

static int64_t
s_free (cw_pool_ledger_t *self, int k)
{
    int64_t reserved = 0;
    for (int i = 0; i < CW_POOL_PEERS; i++)
        if (self->peer [i].declared)
            reserved += self->peer [i].reserved [k];
    return self->pool [k] - reserved;
}

static void
s_raise (s_peer_t *p, int k, int64_t by)
{
    p->reserved [k] += by;
    p->want [k] = p->reserved [k];
    p->binding [k] = false;
}

static void
s_lower (s_peer_t *p, int k, int64_t target, bool binding)
{
    p->want [k] = target < 0 ? 0 : target;
    p->binding [k] = binding;
}

//  A pool or peer change: split the free part again, decide on fresh
//  information.
static void
s_changed (cw_pool_ledger_t *self, int k)
{
    self->split [k] = true;
    self->fresh_gen [k] = self->gen;
}

static bool
s_demand_open (cw_pool_ledger_t *self, int k)
{
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *p = &self->peer [i];
        if (p->declared && p->live && p->demand [k] > 0)
            return true;
    }
    return false;
}

static void
s_add_demand (cw_pool_ledger_t *self, s_peer_t *p, int k, int64_t need)
{
    if (p->demand [k] == 0)
        self->fresh_gen [k] = self->gen;    //  a new demander: learn afresh who has spare
    if (p->demand [k] < need)
        p->demand [k] = need;
}

//  Divide AMOUNT among the N peers of IDX as raises of kind K; returns
//  what each got in GOT.
static void
s_distribute (cw_pool_ledger_t *self, int k, const int *idx, int n, int64_t amount, int64_t *got)
{
    for (int j = 0; j < n; j++) {
        int64_t g = amount / n + (j < amount % n ? 1 : 0);
        got [j] = g;
        if (g > 0)
            s_raise (&self->peer [idx [j]], k, g);
    }
}

// ---------------------------------------------------------------------------
//  The plan

//  Steps 1 and 2: hand out the free part.
static void
s_plan_grant (cw_pool_ledger_t *self, int k)
{
    int idx [CW_POOL_PEERS];
    int64_t got [CW_POOL_PEERS];
    int n = 0;
    int64_t avail = s_free (self, k);
    if (avail > 0) {
        for (int i = 0; i < CW_POOL_PEERS; i++)
            if (s_settled (&self->peer [i]) && self->peer [i].demand [k] > 0)
                idx [n++] = i;
        if (n > 0) {
            s_distribute (self, k, idx, n, avail, got);
            for (int j = 0; j < n; j++) {
                s_peer_t *p = &self->peer [idx [j]];
                if (got [j] == 0)
                    continue;
                p->demand [k] = p->demand [k] > got [j] ? p->demand [k] - got [j] : 0;
                p->answers [k] = true;
            }
        }
    }
    if (!self->split [k])
        return;
    n = 0;
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *p = &self->peer [i];
        if (!p->declared || !p->live)
            continue;
        if (!s_settled (p))
            return;    //  split once every live peer's share is known
        idx [n++] = i;
    }
    avail = s_free (self, k);
    if (n > 0 && avail > 0)
        s_distribute (self, k, idx, n, avail, got);
    self->split [k] = false;
}

//  Step 3: a demand the free part could not cover. Returns false when
//  there is none.
static bool
s_plan_reclaim (cw_pool_ledger_t *self, int k)
{
    if (!s_demand_open (self, k))
        return false;
    if (s_free (self, k) > 0)
        return true;    //  a demander not settled yet gets it when it is
    bool done = true;
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *q = &self->peer [i];
        if (!q->declared || !q->live)
            continue;
        if (!s_settled (q)) {
            done = false;
            continue;
        }
        if (q->demand [k] > 0)
            continue;
        int64_t spare = q->share [k] - q->used [k];
        if (spare > 0) {
            s_lower (q, k, q->used [k] + spare / 2, false);
            done = false;
        }
        else if (q->info_gen <= self->fresh_gen [k]) {
            q->probe = true;
            done = false;
        }
    }
    //  Before EXHAUSTED, what the demanders hold must be fresh too: one
    //  may have released leases above its share since its last ACK
    bool stale = false;
    for (int i = 0; i < CW_POOL_PEERS && done; i++) {
        s_peer_t *p = &self->peer [i];
        if (p->declared && p->live && p->demand [k] > 0 && s_settled (p) && p->info_gen <= self->fresh_gen [k]) {
            p->probe = true;
            stale = true;
        }
    }
    if (done && !stale)
        for (int i = 0; i < CW_POOL_PEERS; i++) {
            s_peer_t *p = &self->peer [i];
            if (p->demand [k] > 0 && s_settled (p)) {
                p->exhaust [k] = true;
                p->answers [k] = true;
                p->demand [k] = 0;
            }
        }
    return true;
}

//  Step 4: the shares add up to more than the pool.
static void
s_plan_shrink (cw_pool_ledger_t *self, int k)
{
    int64_t limits = 0;
    bool waiting = false;
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *p = &self->peer [i];
        if (!p->declared)
            continue;
        if (p->live && s_settled (p))
            limits += p->share [k];
        else {
            limits += p->reserved [k];
            waiting |= p->live;
        }
    }
    int64_t excess = limits - self->pool [k];
    if (excess <= 0)
        return;
    //  The spare first, on what is known
    for (int i = 0; i < CW_POOL_PEERS && excess > 0; i++) {
        s_peer_t *q = &self->peer [i];
        if (!s_settled (q) || q->share [k] <= q->used [k])
            continue;
        int64_t cut = q->share [k] - q->used [k];
        if (cut > excess)
            cut = excess;
        s_lower (q, k, q->share [k] - cut, false);
        excess -= cut;
        waiting = true;
    }
    if (excess <= 0)
        return;
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *q = &self->peer [i];
        if (s_settled (q) && q->info_gen <= self->fresh_gen [k]) {
            q->probe = true;
            waiting = true;
        }
    }
    if (waiting)
        return;
    //  Every live peer known afresh to have no spare: cut below USED,
    //  evenly, the ones with the most first when it does not divide.
    int idx [CW_POOL_PEERS];
    int n = 0;
    for (int i = 0; i < CW_POOL_PEERS; i++)
        if (s_settled (&self->peer [i]) && self->peer [i].share [k] > 0)
            idx [n++] = i;
    int64_t cut [CW_POOL_PEERS] = { 0 };
    while (excess > 0) {
        int left = 0;
        for (int j = 0; j < n; j++)
            if (self->peer [idx [j]].share [k] - cut [j] > 0)
                left++;
        if (left == 0)
            break;
        int64_t each = excess / left > 0 ? excess / left : 1;
        for (int j = 0; j < n && excess > 0; j++) {
            int64_t room = self->peer [idx [j]].share [k] - cut [j];
            int64_t c = room < each ? room : each;
            cut [j] += c;
            excess -= c;
        }
    }
    for (int j = 0; j < n; j++)
        if (cut [j] > 0) {
            s_peer_t *q = &self->peer [idx [j]];
            s_lower (q, k, q->share [k] - cut [j], true);
        }
}

static void
s_plan (cw_pool_ledger_t *self)
{
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        s_peer_t *p = &self->peer [i];
        if (p->declared && p->live && !p->outstanding && !p->known && !s_pending (p))
            p->probe = true;
    }
    for (int k = 0; k < K; k++) {
        s_plan_grant (self, k);
        if (!s_plan_reclaim (self, k))
            s_plan_shrink (self, k);
    }
}

// ---------------------------------------------------------------------------
//  The ledger: API

cw_pool_ledger_t *
cw_pool_ledger_new (uint64_t epoch)
{
    cw_pool_ledger_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->epoch = epoch;
    for (int i = 0; i < CW_POOL_PEERS; i++) {
        self->peer [i].acked = true;
        for (int k = 0; k < K; k++)
            self->peer [i].want [k] = -1;
    }
    return self;
}

void
cw_pool_ledger_destroy (cw_pool_ledger_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

void
cw_pool_ledger_set_pool (cw_pool_ledger_t *self, int kind, int64_t pool)
{
    if (!self || !s_kind_ok (kind) || pool < 0 || pool > CW_POOL_COUNT_MAX || self->pool [kind] == pool)
        return;
    self->pool [kind] = pool;
    s_changed (self, kind);
    s_plan (self);
}

void
cw_pool_ledger_set_peer (cw_pool_ledger_t *self, int peer, bool live, const int64_t reserved [CW_POOL_KINDS])
{
    s_peer_t *p = s_peer (self, peer);
    if (!p)
        return;
    bool changed = false;
    if (!p->declared) {
        uint64_t seq = p->seq;
        memset (p, 0, sizeof *p);
        p->seq = seq;
        p->declared = true;
        p->acked = true;
        for (int k = 0; k < K; k++) {
            p->want [k] = -1;
            p->share [k] = -1;
            p->used [k] = -1;
        }
        changed = true;
    }
    if (reserved && !p->ever_acked)
        for (int k = 0; k < K; k++)
            if (reserved [k] > p->reserved [k])
                p->reserved [k] = reserved [k] > CW_POOL_COUNT_MAX ? CW_POOL_COUNT_MAX : reserved [k];
    if (p->live != live) {
        p->live = live;
        if (live)
            p->known = false;    //  probe it: it may have changed while away
        changed = true;
    }
    if (changed)
        for (int k = 0; k < K; k++)
            s_changed (self, k);
    s_plan (self);
}

void
cw_pool_ledger_drop_peer (cw_pool_ledger_t *self, int peer)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared)
        return;
    uint64_t seq = p->seq;
    memset (p, 0, sizeof *p);
    p->seq = seq;
    p->acked = true;
    for (int k = 0; k < K; k++) {
        p->want [k] = -1;
        s_changed (self, k);
    }
    s_plan (self);
}

void
cw_pool_ledger_demand (cw_pool_ledger_t *self, int peer, int kind, int64_t need)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared || !s_kind_ok (kind) || need <= 0)
        return;
    if (need > CW_POOL_COUNT_MAX)
        need = CW_POOL_COUNT_MAX;
    s_add_demand (self, p, kind, need);
    s_plan (self);
}

void
cw_pool_ledger_ack (cw_pool_ledger_t *self, int peer, const cw_pool_ack_t *ack)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared || !ack || p->acked || ack->epoch != self->epoch || ack->seq != p->seq || ack->seq == 0)
        return;
    for (int k = 0; k < K; k++)
        if (ack->share [k] < 0 || ack->used [k] < 0 || ack->share [k] > CW_POOL_COUNT_MAX
            || ack->used [k] > CW_POOL_COUNT_MAX)
            return;
    for (int k = 0; k < K; k++) {
        p->share [k] = ack->share [k];
        p->used [k] = ack->used [k];
        int64_t holds = ack->share [k] > ack->used [k] ? ack->share [k] : ack->used [k];
        //  (a raise decided but not sent stays reserved)
        if (p->want [k] >= 0 && !p->binding [k] && p->want [k] > holds)
            holds = p->want [k];
        p->reserved [k] = holds;
        p->inflight_answers [k] = false;
    }
    p->outstanding = false;
    p->acked = true;
    p->known = true;
    p->ever_acked = true;
    p->probe = false;
    p->info_gen = ++self->gen;
    s_plan (self);
}

void
cw_pool_ledger_offer_lost (cw_pool_ledger_t *self, int peer)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared || !p->outstanding)
        return;
    p->outstanding = false;
    p->known = false;
    for (int k = 0; k < K; k++)
        if (p->inflight_answers [k]) {
            p->inflight_answers [k] = false;
            s_add_demand (self, p, k, 1);    //  answer it again after the resync
        }
    s_plan (self);
}

bool
cw_pool_ledger_next_offer (cw_pool_ledger_t *self, int peer, cw_pool_offer_t *offer)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared || !p->live || p->outstanding || !s_pending (p))
        return false;    //  (every event has planned already)
    memset (offer, 0, sizeof *offer);
    offer->epoch = self->epoch;
    offer->seq = ++p->seq;
    for (int k = 0; k < K; k++) {
        offer->target [k] = p->want [k];
        offer->binding [k] = p->want [k] >= 0 && p->binding [k];
        offer->exhausted [k] = p->exhaust [k];
        p->inflight_answers [k] = p->answers [k];
        p->want [k] = -1;
        p->binding [k] = false;
        p->exhaust [k] = false;
        p->answers [k] = false;
    }
    p->probe = false;
    p->outstanding = true;
    p->acked = false;
    p->known = false;
    return true;
}

bool
cw_pool_ledger_reserved (cw_pool_ledger_t *self, int peer, int64_t reserved [CW_POOL_KINDS])
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared)
        return false;
    memcpy (reserved, p->reserved, sizeof p->reserved);
    return true;
}

int64_t
cw_pool_ledger_free (cw_pool_ledger_t *self, int kind)
{
    if (!self || !s_kind_ok (kind))
        return 0;
    return s_free (self, kind);
}

int64_t
cw_pool_ledger_pool (cw_pool_ledger_t *self, int kind)
{
    if (!self || !s_kind_ok (kind))
        return 0;
    return self->pool [kind];
}

uint64_t
cw_pool_ledger_epoch (cw_pool_ledger_t *self)
{
    return self ? self->epoch : 0;
}

bool
cw_pool_ledger_outstanding (cw_pool_ledger_t *self, int peer)
{
    s_peer_t *p = s_peer (self, peer);
    return p && p->declared && p->outstanding;
}

bool
cw_pool_ledger_peer_status (cw_pool_ledger_t *self, int peer, cw_pool_peer_status_t *status)
{
    s_peer_t *p = s_peer (self, peer);
    if (!p || !p->declared)
        return false;
    memset (status, 0, sizeof *status);
    status->live = p->live;
    status->outstanding = p->outstanding;
    status->acked = p->known;
    for (int k = 0; k < K; k++) {
        status->reserved [k] = p->reserved [k];
        status->share [k] = p->ever_acked ? p->share [k] : -1;
        status->used [k] = p->ever_acked ? p->used [k] : -1;
        status->demand [k] = p->demand [k];
    }
    return true;
}
