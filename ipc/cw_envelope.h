/*  cw_envelope.h - the one message codec between Causeway processes.

    Every message between the supervisor's broker and an actor is a ZeroMQ
    multipart message of exactly seven frames (a ROUTER adds the peer
    identity in front, which the broker strips and adds itself):

      0  signature   "CWE1"  (protocol "CWE", version 1)
      1  type        READY | HEARTBEAT | REQUEST | REPLY | EVENT | STATE | TERM
      2  corr        correlation id, decimal text ("0" when unused)
      3  from        sender name: actor name, "@supervisor", or a control
                     client via the supervisor: "@control:<id>", <id> a
                     decimal number unique to one control connection for
                     the life of causewayd (plain "@control" when the
                     connection has no descriptor, as inproc in tests);
                     when that connection closes, causewayd publishes
                     EVENT control.client.closed {"client": "@control:<id>"}
      4  to          destination: actor name, "" = the supervisor, "*" = all
      5  command     REQUEST: command name ("alarms.raise");
                     REPLY: "ok" or "error"; EVENT/STATE: topic
      6  body        JSON text (may be empty = {})

    STATE is an EVENT the broker retains (last value per topic) and replays
    to every actor when it becomes ready. A frame sequence that does not
    decode is counted (cw_envelope_malformed), logged by the caller, and
    dropped; decoding never asserts on input.
*/
#ifndef CW_ENVELOPE_H
#define CW_ENVELOPE_H

#include <czmq.h>
#include <stdint.h>

#define CW_ENVELOPE_SIGNATURE "CWE1"
#define CW_ENVELOPE_FRAMES 7

typedef enum {
    CW_MSG_INVALID = 0,
    CW_MSG_READY,
    CW_MSG_HEARTBEAT,
    CW_MSG_REQUEST,
    CW_MSG_REPLY,
    CW_MSG_EVENT,
    CW_MSG_STATE,
    CW_MSG_TERM
} cw_msg_type_t;

typedef struct {
    cw_msg_type_t type;
    uint64_t corr;
    char *from;       //  owned
    char *to;         //  owned
    char *command;    //  owned
    char *body;       //  owned, NUL-terminated JSON text ("" allowed)
} cw_envelope_t;

const char *cw_msg_type_name (cw_msg_type_t type);
cw_msg_type_t cw_msg_type_parse (const char *name);

//  Build a new message; strings may be NULL (sent as ""). Caller owns it.
zmsg_t *cw_envelope_encode (cw_msg_type_t type, uint64_t corr, const char *from, const char *to, const char *command,
                            const char *body);
//  Decode MSG (not consumed, not modified) into SELF. Returns 0, or -1
//  and a reason in ERR; on -1 the malformed counter is incremented.
int cw_envelope_decode (zmsg_t *msg, cw_envelope_t *self, char *err, size_t errlen);
//  Free the strings inside SELF (not SELF itself) and zero it.
void cw_envelope_clear (cw_envelope_t *self);
//  Send an envelope on SOCK; returns 0 or -1.
int cw_envelope_send (zsock_t *sock, cw_msg_type_t type, uint64_t corr, const char *from, const char *to,
                      const char *command, const char *body);
//  Receive one whole multipart message without waiting; NULL when none is
//  queued. Cheaper than polling zsock_events before every zmsg_recv.
zmsg_t *cw_recv_nowait (zsock_t *sock);
//  Malformed messages decoded in this process so far.
uint64_t cw_envelope_malformed (void);
void cw_envelope_count_malformed (void);

#endif
