/*  pinning.h - trust on first use of the peers' certificates, as SSH does
    with host keys.

    In permissive mode the links do not verify certificates against a CA
    (the guide's meaning of permissive). Pinning goes further: the SHA-256
    fingerprint of the certificate a peer presents the first time it links
    is remembered, and from then on a link from or to that peer whose
    certificate has another fingerprint is refused, and alarm 20040
    (CW_PINNING_ALARM) is raised on this node naming the peer, the pinned
    and the presented fingerprints, until an administrator accepts the new
    certificate (cw_pinning_trust: `causeway cluster trust-peer N`) or the
    peer presents the pinned one again.

    In enforce mode the CA and the peer's name decide (peerlink.h); the pin
    then follows the certificate the peer presents, so a certificate the
    CA renewed replaces it without an alarm and a later return to
    permissive starts from the last verified certificate.

    Pins are kept by the peer's configured address (lower case, no
    trailing dot: the index of a peer changes when a gap in the list is
    closed, its address does not) in config.db, table
        peer_pins (address TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
                   refused TEXT NOT NULL, changed_at TEXT NOT NULL)
    written before the link is let up or refused, so they survive restarts
    and kill -9. REFUSED is the fingerprint refused last ("" none): after a
    restart the alarm is raised again without waiting for the peer. A peer
    removed from the peer list loses its pin (cw_pinning_retain): a node
    that comes back at that address is trusted on first use again.

    The alarm is raised and cleared through the alarms actor (cw_alarm.h),
    subject the peer's address: once when a refusal is recorded, and once
    more by the first tick of a new process for a refusal kept in
    peer_pins (the cluster alarms' sweep leaves 20040 alone: its owner is
    here).
*/
#ifndef CW_PINNING_H
#define CW_PINNING_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include "cw_actor.h"

#define CW_PINNING_ALARM 20040
#define CW_PINNING_FINGERPRINT 65    //  64 hex characters and a NUL

typedef struct _cw_pinning_t cw_pinning_t;

//  Load the pins from DB (config.db's connection, borrowed), creating the
//  table when missing. ACTOR (borrowed) raises the alarms; NULL = none
//  (tests). NULL with ERR on a database error.
cw_pinning_t *cw_pinning_new (cw_actor_t *actor, sqlite3 *db, char *err, size_t errlen);
void cw_pinning_destroy (cw_pinning_t **self_p);

//  Peer INDEX, configured as ADDRESS, presented the certificate whose
//  fingerprint is FINGERPRINT ("" none); VERIFIED when the CA check of
//  enforce mode passed. Pins it when ADDRESS has no pin yet (or VERIFIED)
//  and returns 0 (the link may come up); returns 0 when it is the pinned
//  one (clearing an outstanding refusal); otherwise records the refusal,
//  raises the alarm and returns -1 with REASON.
int cw_pinning_check (cw_pinning_t *self, int index, const char *address, const char *fingerprint, bool verified,
                      char *reason, size_t size);

//  Accept the certificate peer INDEX (ADDRESS) was last refused for: it
//  becomes the pin and the alarm is cleared. 0 with the new pin and the
//  old one in FINGERPRINT / PREVIOUS (CW_PINNING_FINGERPRINT bytes each,
//  may be NULL), or -1 with ERR (no refusal outstanding for that peer,
//  database error).
int cw_pinning_trust (cw_pinning_t *self, int index, const char *address, char *fingerprint, char *previous, char *err,
                      size_t errlen);

//  The pin of ADDRESS ("" none) and the fingerprint it was last refused
//  for ("" none). Borrowed, valid until the next call that changes pins.
const char *cw_pinning_pinned (cw_pinning_t *self, const char *address);
const char *cw_pinning_refused (cw_pinning_t *self, const char *address);

//  Keep the pins of the COUNT addresses of PEERS (rows of 256 bytes, ""
//  for an empty slot: cw_cluster_settings_t.peers) and forget the others,
//  clearing their alarms.
void cw_pinning_retain (cw_pinning_t *self, const char (*peers) [256], int count);

//  Raise again the alarms of outstanding refusals when due (see above).
//  Call it on a timer.
void cw_pinning_tick (cw_pinning_t *self);

#endif
