/*  alarms.h - the alarms actor's logic as a library: the alarm table in
    SQLite, the XPUB publisher and the command handling.

    alarms_t owns the database (<state_dir>/alarms.db, WAL) and the XPUB
    sockets. It knows nothing of the actor runtime: requests come in through
    alarms_request and answers to deferred requests leave through the reply
    callback, so the unit tests drive it without any process around it.

    Batching: a request that changes the table (raise, clear, ack) opens a
    transaction if none is open, applies its change and is answered only
    after alarms_flush has committed the batch (alarms_request returns
    ALARMS_DEFERRED). After alarms_attach, the flush runs from a 0 ms zloop
    timer, so every request that arrived in the same loop pass shares one
    commit. The PUB messages and syslog lines of a batch go out after the
    commit, before the replies.

    Sequence numbers: every committed change takes the next number of the
    node's counter (kept in alarms.db, so it only increases, across restarts
    and kill -9); each message on the XPUB sockets carries one as "seq" (see
    alarms.c), and a replay to a new subscriber ends with an "alarm.snapshot"
    message {peer, seq, uuids} naming every active alarm.
*/
#ifndef CW_ALARMS_H
#define CW_ALARMS_H

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _alarms_t alarms_t;

typedef enum {
    ALARMS_OK = 0,
    ALARMS_ERROR = 1,
    ALARMS_DEFERRED = 2
} alarms_status_t;

//  Send the answer to deferred request CORR from TO. Takes ownership of BODY.
typedef void (alarms_reply_fn) (const char *to, uint64_t corr, bool ok, json_t *body, void *arg);

//  Open (create) the alarm table at DB_PATH. PEER is the system name put
//  in new alarms until alarms_set_peer. NULL with the reason in ERR (also
//  "state_dir DIR is not writable: REASON", see cw_statefile.h).
//
//  Damage found at open (a table recorded as existing that is now missing
//  or empty, a file SQLite calls "not a database", or a failed PRAGMA
//  quick_check) does not stop it: the file is moved aside as
//  <path>.damaged-<time>, an empty table is started and alarm 10002
//  (subject the file name, e.g. "alarms.db") is raised in it, saying what
//  was found and where the file went (alarms_replaced). A start that finds
//  the table sound clears that alarm.
alarms_t *alarms_new (const char *db_path, const char *peer, char *err, size_t errlen);
//  What alarms_new found and replaced (NULL when the table was sound).
const char *alarms_replaced (alarms_t *self);

//  Damage found at run time: a statement that fails with SQLITE_CORRUPT or
//  SQLITE_NOTADB puts the table out of service. From then on every request
//  is answered with PROBLEM (the file, SQLite's error and the fix: restart
//  the actor, whose next start replaces the file); FN is called once with
//  it. alarms_problem: that text, or NULL while the table is in service.
typedef void (alarms_problem_fn) (const char *problem, void *arg);
void alarms_on_problem (alarms_t *self, alarms_problem_fn *fn, void *arg);
const char *alarms_problem (alarms_t *self);
//  Commits nothing: flush first (alarms_flush) to answer pending requests.
void alarms_destroy (alarms_t **self_p);

//  Bind one more XPUB socket at ENDPOINT. 0 or -1 with the reason in ERR.
int alarms_bind (alarms_t *self, const char *endpoint, char *err, size_t errlen);
//  Register the XPUB readers, the heartbeat timer (HEARTBEAT_MS, <= 0 =
//  none) and the batch flush timer on LOOP.
int alarms_attach (alarms_t *self, zloop_t *loop, int heartbeat_ms);
void alarms_set_replier (alarms_t *self, alarms_reply_fn *fn, void *arg);

//  The system name used as "peer" from now on (config system.name).
void alarms_set_peer (alarms_t *self, const char *peer);
const char *alarms_peer (alarms_t *self);

//  Handle COMMAND (alarms.raise | alarms.clear | alarms.ack | alarms.list)
//  with ARGS (borrowed, may be NULL) from FROM ("@control:<id>" = an operator).
//  OK / ERROR: *REPLY is a new object for the caller. DEFERRED: the answer
//  goes to the reply callback after the commit (CORR and FROM are kept).
alarms_status_t alarms_request (alarms_t *self, const char *from, uint64_t corr, const char *command, json_t *args,
                                json_t **reply);
//  Commit the open batch, publish its changes, log them to syslog and send
//  the deferred replies. Returns the number of requests answered, or -1
//  when the commit failed (then every one of them got an error reply).
int alarms_flush (alarms_t *self);
bool alarms_pending (alarms_t *self);

//  Read the subscription messages waiting on XPUB socket INDEX; when there
//  was a subscription, replay the active alarms on that socket and end with
//  the "alarm.snapshot" message. Returns subscriptions seen.
int alarms_subscriptions (alarms_t *self, size_t index);
size_t alarms_xpub_count (alarms_t *self);
zsock_t *alarms_xpub (alarms_t *self, size_t index);
//  Publish the "heartbeat" message now.
int alarms_heartbeat (alarms_t *self);
//  The sequence number of the last committed (and published) change; 0
//  before the first.
int64_t alarms_seq (alarms_t *self);
//  Number of raised + acknowledged alarms.
int alarms_active_count (alarms_t *self);
//  Keep at most KEEP cleared alarms (the newest). Returns rows deleted.
int alarms_prune (alarms_t *self, int keep);

//  The syslog line of a change of ALARM (Event EVENT, e.g. "Alarm Raised")
//  into BUF; returns the syslog priority for the alarm's severity.
int alarms_format_syslog (json_t *alarm, const char *event, char *buf, size_t len);

//  Format the realtime clock as RFC 3339 UTC with milliseconds into BUF
//  (at least 32 bytes).
void alarms_now (char *buf, size_t len);

#endif
