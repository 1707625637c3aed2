/*  calls.h - the calls of the cluster: who calls whom, on which peer, in
    which state, and the license each call holds.

    A call is an INVITE dialog that entered the cluster on this peer (the
    proxy creates it when the INVITE arrives from outside the cluster and
    its license was granted). It is identified by the INVITE's Call-ID and
    goes "proceeding" (forwarded, no answer yet) -> "ringing" (a 18x came
    back) -> "connected" (a 2xx came back); it ends at BYE, CANCEL, a final
    failure, or when it has been quiet too long (cw_calls_expire: the
    dialog timeout of a call whose BYE never came). Whoever ends a call
    gets its lease back to release it.

    The other peers' calls are known from what they announce (their lists,
    replaced as a whole), so `calls.list` and routing.status show every
    peer's calls from any peer. This module is pure data: no SIP, no
    sockets, so the tests need neither.
*/
#ifndef CW_CALLS_H
#define CW_CALLS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_CALLS_PEERS 6
#define CW_CALLS_MAX 100000    //  calls in progress on one peer
#define CW_CALLS_ID_MAX 256
#define CW_CALLS_URI_MAX 256
#define CW_CALLS_LEASE_MAX 64

typedef enum {
    CW_CALL_PROCEEDING = 0,
    CW_CALL_RINGING,
    CW_CALL_CONNECTED
} cw_call_state_t;

typedef struct _cw_calls_t cw_calls_t;

//  A new, empty table. Owned.
cw_calls_t *cw_calls_new (void);
void cw_calls_destroy (cw_calls_t **self_p);

//  "proceeding", "ringing" or "connected".
const char *cw_call_state_name (cw_call_state_t state);

//  A new call ID (the Call-ID) FROM -> TO on peer PEER, started at NOW_MS
//  (wall clock), holding LEASE ("" = none). 0, or -1 when ID is already a
//  call, is empty or too long, or the table is full.
int cw_calls_add (cw_calls_t *self, const char *id, const char *from, const char *to, int peer, int64_t now_ms,
                  const char *lease);
//  Is ID a call in progress here?
bool cw_calls_has (cw_calls_t *self, const char *id);
//  Move call ID to STATE (never back from connected) and note activity at
//  NOW_MS. 0, or -1 when there is no such call.
int cw_calls_set_state (cw_calls_t *self, const char *id, cw_call_state_t state, int64_t now_ms);
//  Note activity on call ID (an in-dialog request) at NOW_MS.
void cw_calls_touch (cw_calls_t *self, const char *id, int64_t now_ms);
//  End call ID: its lease into LEASE (LEASELEN bytes, "" when it had
//  none). true when it was a call.
bool cw_calls_end (cw_calls_t *self, const char *id, char *lease, size_t leaselen);

//  Calls whose last activity is older than IDLE_MS at NOW_MS end; FN is
//  called with each one's ID and lease just before it goes. Returns how
//  many ended.
typedef void (cw_calls_ended_fn) (const char *id, const char *lease, void *arg);
size_t cw_calls_expire (cw_calls_t *self, int64_t now_ms, int64_t idle_ms, cw_calls_ended_fn *fn, void *arg);

//  How many calls are in progress on this peer.
size_t cw_calls_count (cw_calls_t *self);

//  Is peer PEER alive? (NULL in the calls below: every peer is.)
typedef bool (cw_calls_alive_fn) (int peer, void *arg);

//  This peer's calls as JSON: [{"id", "from", "to", "peer", "state",
//  "started_at"}] ("started_at" in ISO 8601 UTC). New reference.
json_t *cw_calls_list_own (cw_calls_t *self);
//  Replace what is known of PEER's calls by CALLS (a list as
//  cw_calls_list_own gives; borrowed, copied). -1 when PEER is out of
//  range or CALLS is not a list.
int cw_calls_set_remote (cw_calls_t *self, int peer, json_t *calls);
//  Every call: this peer's, then the live peers' (not THIS_PEER's
//  announcements). New reference.
json_t *cw_calls_list_all (cw_calls_t *self, int this_peer, cw_calls_alive_fn *alive, void *arg);
//  {"this_peer": N, "per_peer": {"1": N, ...}} (live peers with calls, and
//  this peer always). New reference.
json_t *cw_calls_figures (cw_calls_t *self, int this_peer, cw_calls_alive_fn *alive, void *arg);

#endif
