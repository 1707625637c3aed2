/*  pool.h - the cluster-wide pool of capacity licenses: who may grant how
    many, decided without I/O (the licensing actor carries the messages).

    The scheme is escrow by shares. For each capacity kind the pool P is
    the sum of the keys installed on the live peers (plus the lost peers'
    during their grace period). The configuration primary keeps a LEDGER:
    for each peer, RESERVED = the most that peer may be granting. Every
    peer keeps a LOCAL side: SHARE (its limit) and USED (leases it granted
    and holds); it HOLDS max (SHARE, USED). An acquire is local: granted
    when USED < SHARE.

    Invariant (the safety property the tests check): for every kind,
        sum over peers of what they hold <= sum of RESERVED <= P
    except that a shrinking pool (a key removed, a lost peer's grace over)
    cannot take back what is already USED: the ledger cuts the live peers'
    shares (binding offers, below USED if it must) so that they add up to
    P again; a peer cut below its USED grants nothing until its USED is
    below its new SHARE, so what the peers hold never grows while it is
    above P (raises already in flight when the pool shrank aside) and
    comes back within P as the cut peers release leases. A lost peer's
    share cannot be cut: while it is lost, the others are cut for it.

    Messages (all per peer, kinds as indexes 0..CW_LICENSE_CAPACITY_KINDS-1):
      DEMAND   peer -> primary  {kind, need}: my share is exhausted, I have
               NEED acquires waiting.
      OFFER    primary -> peer  {epoch, seq, target[k], binding[k],
               exhausted[k]} (target -1 = no change): set SHARE =
               max (target, USED), or SHARE = target when BINDING[k] (only
               a shrinking pool sends that: the peer then grants nothing of
               kind k until its USED is below the target); EXHAUSTED[k]
               tells the peer that the pool has nothing more for kind k now
               (refuse the waiting acquires).
      ACK      peer -> primary  (the reply to every OFFER, stale or not)
               {epoch, seq, share[k], used[k]}: the last offer the peer
               applied and what it holds now.
    The primary raises RESERVED before it sends an offer that raises a
    share (the caller persists the ledger first), and on the ACK of its
    latest offer sets RESERVED to what the peer holds (max (SHARE, USED)).
    At most one offer per peer is outstanding; a lost offer (timeout)
    leaves RESERVED at the higher value, and the next offer resyncs. A peer
    ignores offers whose (epoch, seq) is not newer than the last it
    applied (a newer epoch wins over any seq of an older one), and offers
    from anyone but the primary it believes in. A peer's SHARE changes
    only by offers (and by cw_pool_local_clamp, which only lowers it).

    Rebalancing: when the pool or the set of live peers changes, the
    primary splits the free part (P - sum RESERVED, never negative) among
    the live peers. On a DEMAND it grants from the free part at once; when
    there is not enough, it halves every other live peer's spare (SHARE -
    USED) with lowering offers and grants from what comes back, repeating
    while any live peer has spare; when no live peer has spare and nothing
    is free, it answers EXHAUSTED. A lost peer's RESERVED is never touched
    (it may still be granting on the other side of a partition) until the
    caller drops the peer. A pool below the sum of the shares is brought
    back with lowering offers: first the live peers' spare, then binding
    ones below USED.

    Refinements of the first draft of this contract (the reasons):
    - The ACK carries the (epoch, seq) of the last offer the peer APPLIED,
      not of the offer it answers, and the ledger takes an ACK only when
      that is its own epoch and its latest offer, and only once. An ACK
      for an older offer, a duplicate, or one arriving after a newer offer
      was sent says nothing exact about the share now, and taking it could
      lower RESERVED under a raise in flight.
    - RESERVED takes max (SHARE, USED) from the ACK, not SHARE: a peer above
      its target after a binding offer holds USED.
    - BINDING offers: with SHARE = max (target, USED) only, a peer above its
      target after a shrink would grant again after every release, and
      sum(USED) would never come back below the pool. Lowering offers for
      a DEMAND stay non-binding: the ledger knows USED only as of the last
      ACK, and a busy peer must not lose leases' room it already used.
    - The ledger decides a raise (and raises RESERVED) when an event makes
      it possible; next_offer returns it when the peer has no offer
      outstanding. The peer holds nothing of it before the offer reaches
      it, so persisting RESERVED between next_offer and the send is enough.
    - A lost offer that answered a DEMAND (a raise or EXHAUSTED) renews the
      demand, so the peer is answered again after the resync.
    - cw_pool_local_clamp: a peer cut off from the primary past the grace
      period lowers its own share to its own keys, so the cluster stays
      within the sum of all keys after the others drop it (see the README).

    All functions ignore out-of-range kinds and peers and malformed values
    (negative counts, counts above CW_POOL_COUNT_MAX) from messages: they
    come from other processes.
*/
#ifndef CW_POOL_H
#define CW_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "cw_license.h"

#define CW_POOL_KINDS CW_LICENSE_CAPACITY_KINDS
#define CW_POOL_PEERS 6                          //  peers are 1..CW_POOL_PEERS
#define CW_POOL_COUNT_MAX ((int64_t) 1 << 40)    //  a larger pool, share or count is malformed

typedef struct {
    uint64_t epoch;                    //  the primary's incarnation (its start, monotonic per primary)
    uint64_t seq;                      //  per (epoch, peer), increasing
    int64_t target [CW_POOL_KINDS];    //  -1 = no change
    bool binding [CW_POOL_KINDS];      //  target may go below USED (a shrinking pool)
    bool exhausted [CW_POOL_KINDS];
} cw_pool_offer_t;

typedef struct {
    uint64_t epoch;    //  of the last offer the peer applied
    uint64_t seq;
    int64_t share [CW_POOL_KINDS];
    int64_t used [CW_POOL_KINDS];
} cw_pool_ack_t;

// ---------------------------------------------------------------------------
//  The local side (every peer, the primary included)

typedef struct {
    int64_t share [CW_POOL_KINDS];
    int64_t used [CW_POOL_KINDS];
    uint64_t epoch;    //  of the last offer applied
    uint64_t seq;
} cw_pool_local_t;

//  Grant one license of KIND locally: true (USED incremented) when
//  USED < SHARE. O(1), no allocation.
bool cw_pool_local_acquire (cw_pool_local_t *self, int kind);
//  Return one license of KIND (USED decremented, never below 0).
void cw_pool_local_release (cw_pool_local_t *self, int kind);
//  Apply OFFER unless stale; fill ACK with what this peer holds now (also
//  for a stale offer, so the primary learns the truth). True when applied.
bool cw_pool_local_offer (cw_pool_local_t *self, const cw_pool_offer_t *offer, cw_pool_ack_t *ack);
//  Lower SHARE of KIND to at most max (LIMIT, USED) (never raises it). For
//  a peer that has been without the primary past the lost-peer grace: it
//  keeps at most its own keys while the others drop it from their pool.
void cw_pool_local_clamp (cw_pool_local_t *self, int kind, int64_t limit);

// ---------------------------------------------------------------------------
//  The ledger (the primary only)

typedef struct _cw_pool_ledger_t cw_pool_ledger_t;

//  A new ledger for epoch EPOCH: above every epoch a peer may have applied
//  (e.g. max (the start time in ms of the licensing actor, the largest
//  epoch the peers report + 1)), or the peers ignore its offers; two
//  ledgers must never share an epoch. Owned.
cw_pool_ledger_t *cw_pool_ledger_new (uint64_t epoch);
void cw_pool_ledger_destroy (cw_pool_ledger_t **self_p);

//  The pool of KIND. A change is a rebalancing event (the free part is
//  split among the live peers, a smaller pool takes shares back).
void cw_pool_ledger_set_pool (cw_pool_ledger_t *self, int kind, int64_t pool);
//  What is known of PEER: LIVE (reachable now), and the most it may be
//  granting (RESERVED, e.g. from the persisted ledger or its last report;
//  NULL = nothing). RESERVED is used while the ledger has no ACK of this
//  peer in this epoch (it keeps the larger of what it has and RESERVED);
//  it must be an upper bound of what the peer holds: the persisted
//  ledger's row, or for a peer it does not have, the peer's own keys (what
//  a peer clamps itself to). A peer never declared is not in the cluster.
//  A newly declared or newly live peer is probed (an offer with every
//  target -1) before anything is decided on its behalf.
void cw_pool_ledger_set_peer (cw_pool_ledger_t *self, int peer, bool live, const int64_t reserved [CW_POOL_KINDS]);
//  PEER left the pool for good (removed, or its grace ended): its
//  reservation is dropped.
void cw_pool_ledger_drop_peer (cw_pool_ledger_t *self, int peer);

//  PEER has NEED acquires of KIND waiting (DEMAND). Answered by an offer
//  raising the share or one saying EXHAUSTED[kind]. A repeated demand
//  before the answer only raises NEED.
void cw_pool_ledger_demand (cw_pool_ledger_t *self, int peer, int kind, int64_t need);
//  The ACK of PEER's outstanding offer (stale acks are ignored; the ledger
//  takes the acknowledged shares as exact).
void cw_pool_ledger_ack (cw_pool_ledger_t *self, int peer, const cw_pool_ack_t *ack);
//  PEER's outstanding offer got no answer: it stays reserved at the higher
//  value, and another offer may be sent (at least a probe, to resync).
void cw_pool_ledger_offer_lost (cw_pool_ledger_t *self, int peer);

//  The next offer to send to PEER, if any: true and OFFER filled (RESERVED
//  already raised: persist cw_pool_ledger_reserved, then send). At most one
//  outstanding per peer: false while one is, and for a peer not live.
//  Call it for every peer after each of the calls above.
bool cw_pool_ledger_next_offer (cw_pool_ledger_t *self, int peer, cw_pool_offer_t *offer);

//  RESERVED[k] of PEER (what to persist); false for an unknown peer.
bool cw_pool_ledger_reserved (cw_pool_ledger_t *self, int peer, int64_t reserved [CW_POOL_KINDS]);
//  The free part of KIND's pool (P - sum RESERVED, may be negative).
int64_t cw_pool_ledger_free (cw_pool_ledger_t *self, int kind);
//  The pool of KIND as last set.
int64_t cw_pool_ledger_pool (cw_pool_ledger_t *self, int kind);
uint64_t cw_pool_ledger_epoch (cw_pool_ledger_t *self);
//  True while an offer to PEER is outstanding (sent, neither acknowledged
//  nor lost).
bool cw_pool_ledger_outstanding (cw_pool_ledger_t *self, int peer);

//  What the ledger knows of one peer, for license.status.
typedef struct {
    bool live;
    bool outstanding;    //  an offer sent, not yet acknowledged
    bool acked;          //  share/used below are exact as of the last ACK
    int64_t reserved [CW_POOL_KINDS];
    int64_t share [CW_POOL_KINDS];     //  as acknowledged (-1 = no ACK yet)
    int64_t used [CW_POOL_KINDS];      //  as acknowledged (-1 = no ACK yet)
    int64_t demand [CW_POOL_KINDS];    //  acquires waiting, not answered yet
} cw_pool_peer_status_t;

//  Fill STATUS for PEER; false for a peer not declared.
bool cw_pool_ledger_peer_status (cw_pool_ledger_t *self, int peer, cw_pool_peer_status_t *status);

#endif
