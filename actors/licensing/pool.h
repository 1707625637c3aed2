/*  pool.h - the cluster-wide pool of capacity licenses: who may grant how
    many, decided without I/O (the licensing actor carries the messages).

    The scheme is escrow by shares. For each capacity kind the pool P is
    the sum of the keys installed on the live peers (plus the lost peers'
    during their grace period). The configuration primary keeps a LEDGER:
    for each peer, RESERVED = the most that peer may be granting. Every
    peer keeps a LOCAL side: SHARE (what it may grant) and USED (leases it
    granted and holds). An acquire is local: granted when USED < SHARE.

    Invariant (the safety property the tests check): for every kind,
        sum over peers of their actual SHARE <= sum of RESERVED <= P
    except that a shrinking pool (a key removed, a lost peer's grace over)
    cannot take back what is already USED: shares never drop below USED, so
    then sum(USED) may stay above P until leases are released, and nothing
    new is granted until it is below again.

    Messages (all per peer, kinds as indexes 0..CW_LICENSE_CAPACITY_KINDS-1):
      DEMAND   peer -> primary  {kind, need}: my share is exhausted, I have
               NEED acquires waiting.
      OFFER    primary -> peer  {epoch, seq, target[k]} (target -1 = no
               change): set SHARE = max (target, USED); EXHAUSTED[k] tells
               the peer that the pool has nothing more for kind k now
               (refuse the waiting acquires).
      ACK      peer -> primary  (the reply to an OFFER) {epoch, seq,
               share[k], used[k]}: what the peer applied.
    The primary raises RESERVED to max (RESERVED, target) BEFORE it sends an
    offer (the caller persists the ledger first), and sets RESERVED to the
    acknowledged SHARE on an ACK. At most one offer per peer is outstanding;
    a lost offer (timeout) leaves RESERVED at the higher value until a later
    offer is acknowledged. A peer ignores offers whose (epoch, seq) is not
    newer than the last it applied, and offers from anyone but the primary
    it believes in. A peer's SHARE changes only by offers.

    Rebalancing: when the pool changes, the primary splits the free part
    (P - sum RESERVED, never negative) among the live peers. On a DEMAND it
    grants from the free part at once; when there is not enough, it halves
    every other live peer's spare (SHARE - USED) with lowering offers and
    grants from what comes back, repeating while any live peer has spare;
    when no live peer has spare and nothing is free, it answers EXHAUSTED.
    A lost peer's RESERVED is never touched (it may still be granting on
    the other side of a partition) until the caller drops the peer.
*/
#ifndef CW_POOL_H
#define CW_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "cw_license.h"

#define CW_POOL_KINDS CW_LICENSE_CAPACITY_KINDS
#define CW_POOL_PEERS 6    //  peers are 1..CW_POOL_PEERS

typedef struct {
    uint64_t epoch;                    //  the primary's incarnation (its start, monotonic per primary)
    uint64_t seq;                      //  per (epoch, peer), increasing
    int64_t target [CW_POOL_KINDS];    //  -1 = no change
    bool exhausted [CW_POOL_KINDS];
} cw_pool_offer_t;

typedef struct {
    uint64_t epoch;
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
//  USED < SHARE.
bool cw_pool_local_acquire (cw_pool_local_t *self, int kind);
//  Return one license of KIND (USED decremented, never below 0).
void cw_pool_local_release (cw_pool_local_t *self, int kind);
//  Apply OFFER unless stale; fill ACK with what this peer holds now (also
//  for a stale offer, so the primary learns the truth). True when applied.
bool cw_pool_local_offer (cw_pool_local_t *self, const cw_pool_offer_t *offer, cw_pool_ack_t *ack);

// ---------------------------------------------------------------------------
//  The ledger (the primary only)

typedef struct _cw_pool_ledger_t cw_pool_ledger_t;

//  A new ledger for epoch EPOCH (e.g. the start time in ms of the
//  primary's licensing actor; must grow across restarts). Owned.
cw_pool_ledger_t *cw_pool_ledger_new (uint64_t epoch);
void cw_pool_ledger_destroy (cw_pool_ledger_t **self_p);

//  The pool of KIND.
void cw_pool_ledger_set_pool (cw_pool_ledger_t *self, int kind, int64_t pool);
//  What is known of PEER: LIVE (reachable now), and the most it may be
//  granting (RESERVED, e.g. from the persisted ledger or its last report;
//  used when the ledger knows nothing better). A peer never declared is
//  not in the cluster.
void cw_pool_ledger_set_peer (cw_pool_ledger_t *self, int peer, bool live, const int64_t reserved [CW_POOL_KINDS]);
//  PEER left the pool for good (removed, or its grace ended): its
//  reservation is dropped.
void cw_pool_ledger_drop_peer (cw_pool_ledger_t *self, int peer);

//  PEER has NEED acquires of KIND waiting (DEMAND).
void cw_pool_ledger_demand (cw_pool_ledger_t *self, int peer, int kind, int64_t need);
//  The ACK of PEER's outstanding offer (stale acks are ignored; the ledger
//  takes the acknowledged shares as exact).
void cw_pool_ledger_ack (cw_pool_ledger_t *self, int peer, const cw_pool_ack_t *ack);
//  PEER's outstanding offer got no answer: it stays reserved at the higher
//  value, and another offer may be sent.
void cw_pool_ledger_offer_lost (cw_pool_ledger_t *self, int peer);

//  The next offer to send to PEER, if any: true and OFFER filled (RESERVED
//  already raised: persist cw_pool_ledger_reserved, then send). At most one
//  outstanding per peer: false while one is.
bool cw_pool_ledger_next_offer (cw_pool_ledger_t *self, int peer, cw_pool_offer_t *offer);

//  RESERVED[k] of PEER (what to persist); false for an unknown peer.
bool cw_pool_ledger_reserved (cw_pool_ledger_t *self, int peer, int64_t reserved [CW_POOL_KINDS]);
//  The free part of KIND's pool (P - sum RESERVED, may be negative).
int64_t cw_pool_ledger_free (cw_pool_ledger_t *self, int kind);

#endif
