/*  proxy.h - the transaction-stateful SIP proxy and the calls.

    Out-of-dialog requests (INVITE, MESSAGE, SUBSCRIBE, ...) for a user of
    one of the cluster's domains (`sip.domains`, as the registrar serves
    them; another domain: 404, this is no open relay) are forwarded to
    where the user is registered (the location table): a contact of this
    peer is reached over its own flow (the connection, or the source of
    its REGISTER for SIP outbound and TCP/TLS), through its Path when it
    registered with one, else at its Contact; the contacts of another peer
    are reached through THAT peer (one branch per peer, to the SIP
    listener it announced), which delivers them over its own flows and,
    for a request that came from a peer, looks at its own contacts only.
    Nobody registered: 480. Every contact is tried at once (parallel
    forking): a 2xx is passed upstream at once and cancels the others, a
    6xx cancels the others and is passed upstream, otherwise the best final
    answer (lowest class; a 503 becomes 500) when every branch has
    answered. An INVITE with no final answer within
    `call_routing.ringing_timeout_s` is cancelled downstream and answered
    408. A CANCEL (answered 200 by libre) cancels every branch and the
    INVITE gets 487. Loops (the same request coming back) get 482 from
    libre's server transactions; Max-Forwards is decremented (the core
    answers 483 at 0).

    Record-Route: with `call_routing.signaling_optimization` off, every
    dialog-creating request (INVITE, SUBSCRIBE, REFER) is record-routed;
    with it on, only when a target needs this peer in the path (it is on a
    flow: SIP outbound, TCP or TLS). The Record-Route is doubled (one URI
    facing each side) and a URI facing a connection carries it in its user
    part, so the dialog's requests find the endpoint's connection again.
    In-dialog requests naming this peer in their top Route are loose-routed
    to the next Route or the Request-URI (ACK statelessly, the others with
    a transaction). 2xx retransmissions that arrive after the transaction
    ended are passed upstream statelessly along their Via.

    Calls: an INVITE that enters the cluster on this peer (it did not come
    from another peer) takes one `rich_media_sessions` license from the
    licensing actor (license.acquire) before it is forwarded; a refusal is
    503 with a Warning giving the licensing actor's reason (Retry-After
    too when the licensing actor did not answer within
    CW_PROXY_LICENSE_TIMEOUT_MS). The call (calls.h) lives until its BYE, a
    CANCEL, a final failure, or `call_routing.dialog_timeout_s` without any
    in-dialog request; a call this peer does not record-route ends for it
    with its final answer. The license goes back however the call ends;
    when the routing actor itself goes, the licensing actor frees its
    leases (actor.down).

    Each peer announces its SIP listeners and its calls to the others
    (replication.broadcast, topic routing.proxy: every
    CW_PROXY_ANNOUNCE_MS and soon after its calls change), so any peer
    lists every call (`calls.list`) and routing.status has the counts:
    "calls": {"this_peer": N, "per_peer": {"1": N, ...}}.
*/
#ifndef CW_PROXY_H
#define CW_PROXY_H

#include <jansson.h>
#include <stddef.h>

#define CW_PROXY_LICENSE_TIMEOUT_MS 4000
#define CW_PROXY_ANNOUNCE_MS 2000
#define CW_PROXY_ANNOUNCE_SOON_MS 200
#define CW_PROXY_BRANCHES_MAX 16         //  forks of one request
#define CW_PROXY_ANNOUNCED_CALLS 1000    //  calls listed in one announcement

typedef struct _cw_proxy_t cw_proxy_t;
typedef struct _cw_routing_t cw_routing_t;
typedef struct _cw_registrar_t cw_registrar_t;

//  Declare the proxied methods (INVITE, ACK, BYE, CANCEL, and the other
//  methods of RFC 3261 and its extensions), the calls.list command, the
//  hooks and the status figures on ROUTING; lookups in REGISTRAR's table.
//  NULL with the reason in ERR.
cw_proxy_t *cw_proxy_new (cw_routing_t *routing, cw_registrar_t *registrar, char *err, size_t errlen);
//  Search out-of-dialog requests with SEARCH (search.h; borrowed, NULL =
//  none): while it has search rules, the requests it wants go where it
//  found them (the location table, a peer, a zone's next hops with
//  failover on 503, 408 or a transport error), instead of the domain check
//  and location lookup above.
typedef struct _cw_search_t cw_search_t;
void cw_proxy_set_search (cw_proxy_t *self, cw_search_t *search);
//  Ring the devices of FindMe aliases with FINDME (findme.h; borrowed,
//  NULL = none): an out-of-dialog request whose Request-URI is a FindMe
//  alias (after the transforms and before the search rules when there is
//  a search, see cw_search_set_findme; else after the domain check) is
//  forked to every contact of each registered device of the account's
//  active location, parallel as for the contacts of one AOR.
typedef struct _cw_findme_t cw_findme_t;
void cw_proxy_set_findme (cw_proxy_t *self, cw_findme_t *findme);
//  Pending transactions are dropped (their branches cancelled by libre).
void cw_proxy_destroy (cw_proxy_t **self_p);

// ---------------------------------------------------------------------------
//  Pure parts

//  A flow FLOW ("tcp:IP:PORT", "tls:[IPv6]:PORT", ...) as the user part of
//  a Record-Route URI ("cwf-" and hex) into OUT. -1 when it does not fit.
int cw_proxy_flow_encode (const char *flow, char *out, size_t outlen);
//  The flow of a user part USER (LEN bytes) made by cw_proxy_flow_encode
//  into OUT. -1 when USER is not one.
int cw_proxy_flow_decode (const char *user, size_t len, char *out, size_t outlen);

//  The rank of a final answer SCODE among a fork's answers (RFC 3261
//  16.7): lower is better; a 6xx is best of all but a 2xx.
int cw_proxy_answer_rank (int scode);

#endif
