/*  outbox.h - the supervisor's own reliable requests to the alarms actor
    (raise / clear alarm 10001 for an actor).

    One entry per (alarm id, subject): a newer raise or clear replaces an
    unacknowledged older one (last state wins), under a new correlation id
    so a late answer to the old one is ignored. Entries are sent as
    REQUESTs from "@supervisor" to "alarms" while the alarms actor is
    ready, re-sent every CW_OUTBOX_RESEND_MS and whenever alarms becomes
    ready again, and dropped on an "ok" reply (or on an error from the
    alarms actor itself, which re-sending cannot fix).
*/
#ifndef CW_OUTBOX_H
#define CW_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "broker.h"

#define CW_OUTBOX_MAX 64
#define CW_OUTBOX_RESEND_MS 2000
#define CW_OUTBOX_ACTOR "alarms"
#define CW_OUTBOX_FROM "@supervisor"

typedef struct _cw_outbox_t cw_outbox_t;

cw_outbox_t *cw_outbox_new (cw_broker_t *broker);
void cw_outbox_destroy (cw_outbox_t **self_p);
//  Queue alarms.raise {id, subject, detail}.
void cw_outbox_raise (cw_outbox_t *self, int id, const char *subject, const char *detail);
//  Queue alarms.clear {id, subject}.
void cw_outbox_clear (cw_outbox_t *self, int id, const char *subject);
//  The alarms actor became ready: send everything now.
void cw_outbox_flush (cw_outbox_t *self);
//  A REPLY for "@supervisor". Returns true if it was ours.
bool cw_outbox_on_reply (cw_outbox_t *self, uint64_t corr, bool ok, const char *from, const char *body);
//  Re-send what waited too long.
void cw_outbox_tick (cw_outbox_t *self, int64_t now);
int cw_outbox_size (cw_outbox_t *self);

#endif
