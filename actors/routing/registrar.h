/*  registrar.h - the SIP registrar: REGISTER in, bindings in the
    cluster-wide location table, a license per registered device.

    A REGISTER (the core hands it over with cw_routing_on_method) is
    checked in this order: the To-URI's domain must be one of the cluster
    key `sip.domains` (404 otherwise; while the list is empty, the peer's
    own `dns.domain` is the one domain, and with neither every domain is
    served); when an auth object was given: digest authentication if
    cw_auth_required (401 with its challenge, 403; the authenticated user
    must be the AOR's user, else 403) and the registration policy (403 with
    a Warning naming the rule);
    the Contact headers (400 when malformed, when `*` comes with other
    contacts or without Expires: 0); each contact's expiry (423 Interval
    Too Brief with Min-Expires when below `sip.registration.min_expires`,
    cut to `sip.registration.max_expires`, `sip.registration.default_expires`
    when none is given); and Call-ID/CSeq ordering against the binding it
    updates (500 when the CSeq went back; the same CSeq again is a
    retransmission and is answered again).

    A contact with +sip.instance and reg-id in a REGISTER whose Supported
    has "outbound" is an RFC 5626 flow: the binding keeps the flow it came
    on (removed at once when that connection closes), replaces an own
    binding of the same instance and reg-id, and the 200 has Require:
    outbound and Flow-Timer. Path headers are stored and echoed (Supported:
    path).

    Each new binding takes one license from the licensing actor
    (license.acquire; kind room_systems when the User-Agent matches one of
    the glob patterns of `sip.registration.room_system_agents`, else
    desktop_systems) before the REGISTER is answered; a refusal is 403 with
    a Warning giving the licensing actor's reason; no answer from the
    licensing actor within CW_REGISTRAR_LICENSE_TIMEOUT_MS is 503 with
    Retry-After and a Warning (nothing is registered without a license).
    The lease is released when the binding goes, however it goes (expiry,
    unregister, lost flow). Retransmissions of a REGISTER waiting for its
    licenses are dropped.

    Own bindings survive a restart of the routing actor (kill -9
    included): every change is written to the binding store
    (binding_store.h, <runtime_dir>/routing.bindings) and the answers to
    the REGISTERs that made them are sent after the store's commit, which
    groups the changes of CW_REGISTRAR_COMMIT_MS (at most
    CW_REGISTRAR_COMMIT_BATCH answers wait). At start the registrar reads
    the store back: bindings expired meanwhile are dropped, and so are
    outbound bindings whose flow was a TCP or TLS connection of the
    process that died (UDP flows are kept); the others are in the table
    before the first REGISTER is read, under a new epoch, so the other
    peers pull them (about 14 us each: 1.4 s for 100,000; what is not
    restored within CW_REGISTRAR_RESTORE_BUDGET_MS is dropped and counted,
    as READY must come in time). Their leases went with the previous process (the
    licensing actor frees a stopped actor's): after READY the registrar
    takes them again, one license.acquire {kind, count} per kind and
    CW_REGISTRAR_RELICENSE_COUNT bindings; a refusal drops those bindings
    (logged), no answer is asked again after
    CW_REGISTRAR_RELICENSE_RETRY_MS. The store belongs to one start of the
    node, like the licensing leases: after a restart of causewayd the
    registrations start empty. When the store cannot be opened the
    registrar runs memory only and routing.status says so.

    The 200 lists every current own contact of the AOR with its expires.
    The registrar also declares the commands registrations.list {aor?,
    peer?} and routing.location.dump, and keeps the table cluster-wide
    (location_sync.h).

    The pure parts (parsing a Contact header, the expiry rules, the AOR's
    normal form, the domain and User-Agent rules) are exported for tests.
*/
#ifndef CW_REGISTRAR_H
#define CW_REGISTRAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "location.h"

#define CW_REGISTRAR_LICENSE_TIMEOUT_MS 4000
#define CW_REGISTRAR_FLOW_TIMER_S 120
#define CW_REGISTRAR_CONTACTS_MAX 16         //  per REGISTER
#define CW_REGISTRAR_COMMIT_MS 1             //  changes written together (and their 200s held) this long
#define CW_REGISTRAR_COMMIT_BATCH 512        //  or until this many answers wait
#define CW_REGISTRAR_RELICENSE_COUNT 1000    //  restored bindings per license.acquire
#define CW_REGISTRAR_RELICENSE_BATCHES 50    //  license.acquire sent per tick
#define CW_REGISTRAR_RELICENSE_RETRY_MS 2000
#define CW_REGISTRAR_RESTORE_BUDGET_MS 4000    //  restoring at start stops after this long

typedef struct _cw_registrar_t cw_registrar_t;
typedef struct _cw_routing_t cw_routing_t;
typedef struct _cw_auth_t cw_auth_t;

//  Declare the REGISTER method, the flow-closed, tick and event hooks and
//  the commands on ROUTING; AUTH may be NULL (no authentication: every
//  REGISTER for a served domain is accepted). NULL with the reason in ERR.
cw_registrar_t *cw_registrar_new (cw_routing_t *routing, cw_auth_t *auth, char *err, size_t errlen);
void cw_registrar_destroy (cw_registrar_t **self_p);

//  The table (borrowed), e.g. for the proxy's lookups.
cw_location_t *cw_registrar_location (cw_registrar_t *self);
//  For routing.status: {"bindings": N, "per_peer": {"1": N, ...}, "sync":
//  {...counters...}, "pending": N, "registered", "refused", "released",
//  "store": {"path", "state", "commits", "write_failures", "restored",
//  "dropped_expired", "dropped_lost_connections", "dropped_invalid",
//  "dropped_late",
//  "awaiting_license", "licenses_reacquired", "dropped_no_license",
//  "answers_waiting", "problem"?}}. New reference.
json_t *cw_registrar_status (cw_registrar_t *self);

// ---------------------------------------------------------------------------
//  Pure parts

typedef struct {
    bool star;                         //  "*"
    char uri [CW_LOCATION_URI_MAX];    //  the URI, without <>
    int64_t expires;                   //  the expires parameter, -1 = none
    char instance [128];               //  +sip.instance, unquoted ("" = none)
    int reg_id;                        //  reg-id (0 = none)
} cw_reg_contact_t;

//  Parse one Contact header VALUE (it may list several contacts, comma-
//  separated) into OUT (at most MAX), adding to *COUNT. 0, or -1 when it
//  is malformed or has more than MAX contacts.
int cw_registrar_contacts_parse (const char *value, cw_reg_contact_t *out, size_t max, size_t *count);

//  Contact: * is allowed only alone and with Expires: 0 (HEADER_EXPIRES,
//  -1 = no Expires header). 0, or -1 with the reason in WHY.
int cw_registrar_check_star (const cw_reg_contact_t *contacts, size_t count, int64_t header_expires, char *why,
                             size_t whylen);

//  The expiry granted to a contact: its own expires parameter
//  (CONTACT_EXPIRES, -1 = none), else the Expires header (HEADER_EXPIRES,
//  -1 = none), else DEFAULT; longer than MAX is cut to MAX. Returns the
//  seconds granted (0 = remove), or -1 when it is shorter than MIN (423).
int64_t cw_registrar_expiry (int64_t contact_expires, int64_t header_expires, int64_t min, int64_t max, int64_t dflt);

//  The AOR's normal form "sip:user@domain" (domain lower-case; "sip:domain"
//  with no user) into OUT. -1 when it does not fit or HOST is empty.
int cw_registrar_aor (const char *user, const char *host, char *out, size_t outlen);

//  Is HOST one of DOMAINS (a JSON list; compared without case)? An empty
//  or absent list serves FALLBACK only, or every domain when FALLBACK is
//  NULL or "".
bool cw_registrar_domain_served (json_t *domains, const char *fallback, const char *host);

//  "room_systems" when USER_AGENT matches one of PATTERNS (a JSON list of
//  glob patterns, compared without case), else "desktop_systems".
const char *cw_registrar_license_kind (json_t *patterns, const char *user_agent);

//  Call-ID/CSeq ordering: may a REGISTER with CALL_ID and CSEQ update a
//  binding last registered with OLD_CALL_ID and OLD_CSEQ?
bool cw_registrar_in_order (const char *old_call_id, uint32_t old_cseq, const char *call_id, uint32_t cseq);

#endif
