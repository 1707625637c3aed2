/*  location.h - the cluster-wide location table: who is registered where.

    Every peer holds every peer's registrations, each tagged with its OWNER
    (the peer number that accepted the REGISTER and holds the endpoint's
    connection or flow), so that a lookup is local. A binding is one
    contact of one address-of-record (AOR, "sip:alice@example.com"), with
    its expiry, the RFC 5626 instance and reg-id when the endpoint uses SIP
    outbound, the Path it registered with, and how to reach it (transport,
    source address, the flow the owner keeps).

    Changes are versioned per owner: each owner numbers its own changes
    (SEQ, strictly increasing from 1 within one EPOCH, the owner's start of
    the table); a change is an upsert or a removal of one binding. Another
    peer applies an owner's changes in order and pulls the owner's whole
    table (a DUMP) when it sees a gap, a new epoch, or when it starts or
    rejoins. The transport (the routing actor's cluster messages) is not
    here: this module is pure data, so the tests need no sockets.

    Lookups never return a binding that has expired, and skip the bindings
    of an owner the caller says is dead (after the dead-peer time its
    endpoints re-register elsewhere); an outbound binding of the same
    instance on a live owner is preferred at once.

    A binding is identified by (AOR, contact, owner): the same contact may
    be registered on two peers at once (an endpoint failing over). The
    table is a hash of AORs (CZMQ zhashx, which grows with it), so put,
    remove and lookup cost the same at 100 bindings and at 1,000,000; the
    bindings are stored compactly (their strings allocated to size), not
    as cw_binding_t. This peer's last changes are kept, as compact text,
    in a ring (CW_LOCATION_LOG changes): changes_since for a number older
    than the ring starts at the oldest change kept, so the receiver sees a
    gap and pulls a dump. A dump of a large table travels in pages
    (cw_location_dump_args, cw_location_load_page).

    Refined from the first contract: the limits below, cw_location_own
    (the registrar's view of one AOR), cw_location_on_remove (so whoever
    took a license for a binding gives it back however the binding goes)
    and cw_location_this_peer.
*/
#ifndef CW_LOCATION_H
#define CW_LOCATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_LOCATION_AOR_MAX 256
#define CW_LOCATION_URI_MAX 512
#define CW_LOCATION_PEERS 6
#define CW_LOCATION_MAX_BINDINGS 2000000    //  in the whole table, all owners
#define CW_LOCATION_MAX_CONTACTS 32         //  per AOR and owner
#define CW_LOCATION_LOG 65536               //  own changes kept for changes_since

typedef struct {
    char aor [CW_LOCATION_AOR_MAX];        //  normalised "sip:user@domain" (lower-case domain)
    char contact [CW_LOCATION_URI_MAX];    //  the Contact URI as registered
    int owner;                             //  peer number (1..6) that holds it
    int64_t expires_ms;                    //  wall clock, ms
    char instance [128];                   //  +sip.instance ("" = none)
    int reg_id;                            //  reg-id (0 = none)
    char path [CW_LOCATION_URI_MAX];       //  Path header values, comma-separated ("" = none)
    char transport [8];                    //  "udp" | "tcp" | "tls"
    char source [64];                      //  "ip:port" the REGISTER came from
    char flow [64];                        //  the owner's flow/connection token ("" = none)
    char user_agent [128];
    char call_id [128];    //  of the REGISTER (RFC 3261 10.3 ordering)
    uint32_t cseq;
    char license [32];    //  the lease the owner took for this device ("" = none)
} cw_binding_t;

typedef struct _cw_location_t cw_location_t;

//  A new table for peer THIS_PEER (the owner of the bindings put with
//  cw_location_put), epoch EPOCH (e.g. its start time in ms). Owned.
cw_location_t *cw_location_new (int this_peer, uint64_t epoch);
void cw_location_destroy (cw_location_t **self_p);

//  This peer's number changed (cluster membership): its own bindings are
//  re-tagged (what was known of another owner under the new number is
//  dropped).
void cw_location_set_this_peer (cw_location_t *self, int this_peer);
int cw_location_this_peer (cw_location_t *self);

//  Call FN with each own binding the table removes (cw_location_remove,
//  remove_flow, expire), just before it goes. One hook; NULL unsets.
typedef void (cw_location_removed_fn) (const cw_binding_t *binding, void *arg);
void cw_location_on_remove (cw_location_t *self, cw_location_removed_fn *fn, void *arg);

// ---------------------------------------------------------------------------
//  This peer's own bindings (each call is one numbered change)

//  Add or refresh BINDING (owner forced to this peer). Returns its change
//  number (> 0), or 0 when the table is full (CW_LOCATION_MAX_BINDINGS, or
//  CW_LOCATION_MAX_CONTACTS for this AOR) or the binding has no AOR or
//  contact.
uint64_t cw_location_put (cw_location_t *self, const cw_binding_t *binding);
//  Remove the binding of AOR with CONTACT; 0 when there is none.
uint64_t cw_location_remove (cw_location_t *self, const char *aor, const char *contact);
//  Remove every own binding whose flow is FLOW (a connection or flow
//  that was lost). Returns how many.
size_t cw_location_remove_flow (cw_location_t *self, const char *flow);
//  Remove own bindings expired at NOW_MS. Returns how many.
size_t cw_location_expire (cw_location_t *self, int64_t now_ms);

// ---------------------------------------------------------------------------
//  Lookups

typedef bool (cw_location_alive_fn) (int owner, void *arg);
//  The bindings of AOR usable now (not expired at NOW_MS, owner alive per
//  ALIVE, which may be NULL = all alive), at most MAX into OUT. Returns
//  how many.
size_t cw_location_lookup (cw_location_t *self, const char *aor, int64_t now_ms, cw_location_alive_fn *alive, void *arg,
                           cw_binding_t *out, size_t max);
//  This peer's own bindings of AOR, expired or not (the registrar's view),
//  at most MAX into OUT. Returns how many.
size_t cw_location_own (cw_location_t *self, const char *aor, cw_binding_t *out, size_t max);
//  Every binding (all owners, expired ones excluded), as JSON for
//  registrations.list: [{"aor", "contact", "peer", "expires", "instance",
//  "reg_id", "transport", "source", "path", "user_agent"}], "expires" in
//  seconds left, filtered by AOR and OWNER when not NULL / 0. New
//  reference.
json_t *cw_location_list (cw_location_t *self, const char *aor, int owner, int64_t now_ms);
//  Bindings per owner (for routing.status); OWNER 0: all.
size_t cw_location_count (cw_location_t *self, int owner);

// ---------------------------------------------------------------------------
//  Between peers

//  This peer's changes after SEQ, as one JSON message (at most MAX
//  changes): {"owner", "epoch", "from_seq", "to_seq", "changes": [...]},
//  each change {"seq", "op": "put", "binding": {...}} or {"seq", "op":
//  "del", "aor", "contact"}. NULL when there is nothing after SEQ. New
//  reference. A message with no changes, from_seq = S + 1 and to_seq = S,
//  says "my last change is S" (receivers behind it see a gap).
json_t *cw_location_changes_since (cw_location_t *self, uint64_t seq, size_t max);
//  This peer's whole table: {"owner", "epoch", "seq", "bindings": [...]}.
json_t *cw_location_dump (cw_location_t *self);

//  A whole table of 100,000 bindings is larger than one cluster message
//  may be, so a peer pulls it in pages. The answer to routing.location.dump
//  with ARGS (NULL or {} = the whole table, cw_location_dump):
//  {"peer": P, "page": 0} takes a snapshot of this peer's own table for
//  peer P (replacing P's previous one) and answers its first page;
//  {"peer": P, "page": N, "snapshot": ID} answers page N of P's snapshot
//  ID (the snapshot is dropped after its last page). A page is
//  {"owner", "epoch", "seq", "snapshot", "page", "pages", "count",
//  "records"}: RECORDS is the text of COUNT bindings, one line each,
//  fields separated by spaces and escaped (%XX), at most
//  CW_LOCATION_PAGE_BYTES of it (page 0: a sixteenth of that, so the
//  puller learns the page count soon). What only the owner uses (the
//  REGISTER's Call-ID and CSeq, the lease) is left out. NULL with a reason in ERR when ARGS are
//  wrong or the snapshot is gone (taken again, or older than
//  CW_LOCATION_SNAPSHOT_MS). New reference.
#define CW_LOCATION_PAGE_BYTES (2 * 1024 * 1024)
#define CW_LOCATION_SNAPSHOT_MS 30000
json_t *cw_location_dump_args (cw_location_t *self, json_t *args, int64_t now_ms, char *err, size_t errlen);

typedef enum {
    CW_LOCATION_APPLIED = 0,
    CW_LOCATION_STALE,     //  already had it: nothing to do
    CW_LOCATION_GAP,       //  a change is missing, or a new epoch: pull a dump
    CW_LOCATION_INVALID    //  malformed: dropped (counted by the caller)
} cw_location_result_t;

//  Apply another owner's CHANGES message (cw_location_changes_since). A
//  message of this peer's own number is STALE (never applied). The first
//  changes of an owner never heard of, from seq 1, are applied as they are.
cw_location_result_t cw_location_apply (cw_location_t *self, json_t *changes);
//  Replace everything known of the dump's owner by DUMP (INVALID for this
//  peer's own number).
cw_location_result_t cw_location_load (cw_location_t *self, json_t *dump);
//  Take PAGE, one page of another peer's snapshot (cw_location_dump_args;
//  page 0 first, the others in any order): its bindings are added or
//  refreshed at once, so a load goes on while the next pages travel. When
//  the snapshot's last page is in (*COMPLETE set), the owner's bindings
//  that no page carried are removed and the owner's epoch and last change
//  become the snapshot's. A page 0 starts a load over. INVALID when PAGE
//  is malformed (the load stops; the bindings before the bad record stay
//  until the owner's next load), of this peer's own number, or not of the
//  load under way; a load that does not complete leaves the owner's epoch
//  and last change unknown, so its next change is a gap.
cw_location_result_t cw_location_load_page (cw_location_t *self, json_t *page, bool *complete);
//  Forget everything of OWNER (it left the cluster).
void cw_location_forget (cw_location_t *self, int owner);
//  The last change of OWNER applied here (0 = none), and its epoch (EPOCH
//  may be NULL). For this peer: its own last change number and epoch.
uint64_t cw_location_seq (cw_location_t *self, int owner, uint64_t *epoch);

#endif
