/*  routing.h - the routing actor's SIP core: the loop, the transports, the
    checks every request passes, and the hooks the SIP modules plug into.

    libre owns the process's loop (re_main); the actor runtime's broker
    socket and timers are driven from it (cw_actor_turn). The core listens
    on every `sip.listen` address of the bootstrap file (udp:, tcp:, tls:
    IP:PORT), counts and drops what does not parse, refuses what is too
    large, answers OPTIONS and CRLF keep-alives itself, answers 503 with
    Retry-After to new requests while maintenance.mode is on, checks
    Max-Forwards, and hands each other request to the module that declared
    its method (cw_routing_on_method); a method nobody declared gets 501
    with an Allow header (OPTIONS is answered 200 here unless a module
    declared it; an ACK nobody declared is absorbed).

    The checks, in order: larger than 32768 bytes -> 513 (counted
    oversized); no Via, From, To, Call-ID or CSeq, a CSeq whose number is
    not 0..2^31-1 or whose method is not the request's, a Max-Forwards that
    is not 0..255, a Content-Length beyond the body, a method that is not a
    token -> 400 when it can be answered, else dropped (counted malformed);
    Max-Forwards 0 -> 483 (but OPTIONS, RFC 3261 11); maintenance.mode on
    -> 503 with Retry-After to every request outside a dialog but ACK and
    CANCEL. What libre cannot parse it drops before the core sees it; the
    core counts it as malformed all the same on UDP (a helper on each UDP
    socket), and on TCP/TLS when libre closes a connection that had a flow
    for it (an overflow of libre's 64 KiB buffer counts as oversized).

    A FLOW is how this peer reaches an endpoint back: the connection a
    request came in on (tcp/tls; its token stays valid while the connection
    lives) or "udp:<ip:port>" for UDP. When a connection closes, the
    modules hear it (cw_routing_on_flow_closed) at once.

    The modules (registrar, auth, proxy) are wired in main.c; they use the
    core's libre `struct sip`, its actor, its view of the cluster
    (cluster.peers) and of the configuration (config.changed.* STATE).
*/
#ifndef CW_ROUTING_H
#define CW_ROUTING_H

#include "cw_actor.h"    //  CZMQ and jansson first

//  libre's headers one by one: its umbrella re.h brings re_json.h, whose
//  JSON_* enumerators clash with jansson's. They are read with the
//  configuration libre itself was built with (C99 bool and integer types,
//  IPv6 in struct sa); without it re_types.h turns bool into a signed char.
#ifndef HAVE_STDBOOL_H
#define HAVE_STDBOOL_H 1
#endif
#ifndef HAVE_INTTYPES_H
#define HAVE_INTTYPES_H 1
#endif
#ifndef HAVE_INET6
#define HAVE_INET6 1
#endif
#include <re_types.h>
#include <re_fmt.h>
#include <re_mem.h>
#include <re_mbuf.h>
#include <re_list.h>
#include <re_hash.h>
#include <re_sa.h>
#include <re_main.h>
#include <re_tmr.h>
#include <re_tcp.h>
#include <re_udp.h>
#include <re_srtp.h>
#include <re_tls.h>
#include <re_msg.h>
#include <re_uri.h>
#include <re_sys.h>
#include <re_dns.h>
#include <re_sip.h>
#include <stdbool.h>
#include <stdint.h>

#define CW_ROUTING_FLOW_MAX 64

typedef struct _cw_routing_t cw_routing_t;

//  Bind every sip.listen address of ACTOR's bootstrap file, declare
//  routing.status on ACTOR and set up the loop. A listener that cannot
//  bind (or a tls: listener without a usable certificate) is not fatal: it
//  is reported (routing.status, alarm 40001 / 40002) and bound again every
//  few seconds. NULL with the reason in ERR when the SIP stack cannot start.
cw_routing_t *cw_routing_new (cw_actor_t *actor, char *err, size_t errlen);
void cw_routing_destroy (cw_routing_t **self_p);
//  Signal READY and run until stopped (re_main; $TERM or SIGTERM end it,
//  with the stop handler of cw_actor_on_stop run first). The process exit
//  status: 0, or 1 when the loop failed.
int cw_routing_run (cw_routing_t *self);

cw_actor_t *cw_routing_actor (cw_routing_t *self);
struct sip *cw_routing_sip (cw_routing_t *self);

// ---------------------------------------------------------------------------
//  Hooks for the SIP modules

//  Handle requests of METHOD ("REGISTER", "INVITE", ...; one module per
//  method) that passed the core's checks. FLOW is the flow token. The
//  handler must answer (now, or later with a reference on MSG).
typedef void (cw_sip_method_fn) (cw_routing_t *self, const struct sip_msg *msg, const char *flow, void *arg);
int cw_routing_on_method (cw_routing_t *self, const char *method, cw_sip_method_fn *fn, void *arg);

//  A connection (flow) closed.
typedef void (cw_flow_closed_fn) (cw_routing_t *self, const char *flow, void *arg);
void cw_routing_on_flow_closed (cw_routing_t *self, cw_flow_closed_fn *fn, void *arg);

//  A response no client transaction was waiting for (e.g. a 2xx
//  retransmission a proxy passes on). The hook returns true when it took
//  it; otherwise (or with no hook) it is dropped. One hook.
typedef bool (cw_routing_response_fn) (cw_routing_t *self, const struct sip_msg *msg, void *arg);
void cw_routing_on_response (cw_routing_t *self, cw_routing_response_fn *fn, void *arg);

//  Called every 100 ms with the wall clock in ms.
typedef void (cw_routing_tick_fn) (cw_routing_t *self, int64_t now_ms, void *arg);
void cw_routing_on_tick (cw_routing_t *self, cw_routing_tick_fn *fn, void *arg);

//  EVENTs and STATEs whose topic starts with PREFIX (e.g. "cluster.routing.").
typedef void (cw_routing_event_fn) (cw_routing_t *self, const char *topic, json_t *body, void *arg);
void cw_routing_on_event (cw_routing_t *self, const char *prefix, cw_routing_event_fn *fn, void *arg);

//  Add the module's own figures to routing.status's body STATUS (borrowed).
typedef void (cw_routing_status_fn) (cw_routing_t *self, json_t *status, void *arg);
void cw_routing_on_status (cw_routing_t *self, cw_routing_status_fn *fn, void *arg);

//  The value of configuration KEY as last announced (config.changed.KEY),
//  borrowed; NULL until announced.
json_t *cw_routing_config (cw_routing_t *self, const char *key);

//  Configuration KEY as an integer (a JSON integer or a decimal string),
//  DFLT when not announced or not a number.
int64_t cw_routing_config_int (cw_routing_t *self, const char *key, int64_t dflt);

//  The cluster as the replication actor last said (cluster.peers): this
//  node's peer number (1 when not clustered), whether peer N is alive
//  (always true for this node), and how many peers there are.
int cw_routing_this_peer (cw_routing_t *self);
bool cw_routing_peer_alive (cw_routing_t *self, int peer);
int cw_routing_peer_count (cw_routing_t *self);

//  cw_location_alive_fn over ARG, a cw_routing_t: cw_routing_peer_alive.
bool cw_routing_alive_fn (int peer, void *arg);

//  Copy PL into OUT as a C string ("" when PL is unset). False (OUT "")
//  when it does not fit.
bool cw_routing_pl_copy (const struct pl *pl, char *out, size_t outlen);

//  TEXT as the quoted text of a Warning header into OUT: quotes,
//  backslashes and control characters become '.
void cw_routing_warning_text (const char *text, char *out, size_t outlen);

//  Send MSG's stateless reply with SCODE/REASON and extra header lines
//  HEADERS ("Name: value\r\n"..., may be NULL). 0 or -1.
int cw_routing_reply (cw_routing_t *self, const struct sip_msg *msg, uint16_t scode, const char *reason,
                      const char *headers);

#endif
