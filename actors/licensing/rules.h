/*  rules.h - the licensing alarms, as rules over a snapshot.

    Each rule looks at the peers (peers.h) and this peer's keys and says
    which alarms should be up now, with their subject and detail; the actor
    raises what is new or changed and clears what is no longer wanted. No
    I/O here, so the tests need no sockets.

      30012  a lost peer's licenses stay in the pool (subject: its address;
             the detail counts down to when they leave)
      30013  a lost peer's licenses left the pool (subject: its address)
      30020  pool of a kind at 90% or more (subject: the kind)
      30021  pool of a kind used up (subject: the kind)
      30022  this peer has no key of a kind the cluster's pool has (info)
      30023  feature keys differ between peers (names the peers and keys)
      30024  a key expires within 30 days (subject: its serial)
      30025  a key no longer counts: expired, bound to another system,
             its issuer no longer configured (subject: its serial)
*/
#ifndef CW_RULES_H
#define CW_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "cw_license.h"
#include "peers.h"

#define CW_RULES_MAX 64

typedef struct {
    cw_license_key_t key;
    cw_license_status_t status;
    char why [256];    //  the verifier's words when status is not OK
    int days_left;
} cw_lkey_t;

typedef struct {
    int id;
    char subject [300];
    char detail [1024];
} cw_lalarm_t;

//  The alarms wanted now (at most MAX into OUT); returns how many.
size_t cw_rules_evaluate (cw_peers_t *peers, const cw_lkey_t *keys, size_t key_count, int64_t now_ms, cw_lalarm_t *out,
                          size_t max);

//  "2026-12-03T10:00:00Z" for wall time MS.
void cw_rules_time (int64_t ms, char out [32]);

#endif
