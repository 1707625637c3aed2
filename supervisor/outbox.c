/*  outbox.c - reliable alarm requests from the supervisor (see outbox.h).
    A fixed array of CW_OUTBOX_MAX entries; when it is full the oldest
    entry gives way (there are at most two per actor in practice).
*/
#include "outbox.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cw_log.h"

typedef struct {
    bool used;
    int id;
    char subject [64];
    char command [16];
    char *body;
    uint64_t corr;
    int64_t sent_at;    //  0 = never sent
    int64_t created;
} s_entry_t;

struct _cw_outbox_t {
    cw_broker_t *broker;
    s_entry_t entries [CW_OUTBOX_MAX];
    uint64_t next_corr;
};

cw_outbox_t *
cw_outbox_new (cw_broker_t *broker)
{
    cw_outbox_t *self = calloc (1, sizeof *self);
    if (self) {
        self->broker = broker;
        //  Distinct from control correlation ids, for readable logs
        self->next_corr = 1000000000ULL;
    }
    return self;
}

void
cw_outbox_destroy (cw_outbox_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < CW_OUTBOX_MAX; i++)
        free ((*self_p)->entries [i].body);
    free (*self_p);
    *self_p = NULL;
}

static void
s_send (cw_outbox_t *self, s_entry_t *entry)
{
    entry->corr = ++self->next_corr;
    entry->sent_at = zclock_mono ();
    cw_broker_deliver (self->broker, CW_MSG_REQUEST, entry->corr, CW_OUTBOX_FROM, CW_OUTBOX_ACTOR, entry->command,
                       entry->body);
}

static void
s_put (cw_outbox_t *self, const char *command, int id, const char *subject, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text)
        return;
    s_entry_t *slot = NULL, *oldest = NULL, *empty = NULL;
    for (int i = 0; i < CW_OUTBOX_MAX; i++) {
        s_entry_t *entry = &self->entries [i];
        if (!entry->used) {
            if (!empty)
                empty = entry;
            continue;
        }
        if (entry->id == id && strcmp (entry->subject, subject) == 0)
            slot = entry;
        if (!oldest || entry->created < oldest->created)
            oldest = entry;
    }
    if (!slot)
        slot = empty;
    if (!slot) {
        cw_warn ("alarm outbox full; dropping the oldest id=%d subject=%s", oldest->id, oldest->subject);
        slot = oldest;
    }
    free (slot->body);
    memset (slot, 0, sizeof *slot);
    slot->used = true;
    slot->id = id;
    snprintf (slot->subject, sizeof slot->subject, "%s", subject);
    snprintf (slot->command, sizeof slot->command, "%s", command);
    slot->body = text;
    slot->created = zclock_mono ();
    if (cw_broker_is_ready (self->broker, CW_OUTBOX_ACTOR))
        s_send (self, slot);
}

void
cw_outbox_raise (cw_outbox_t *self, int id, const char *subject, const char *detail)
{
    s_put (self, "alarms.raise", id, subject,
           json_pack ("{s:i, s:s, s:s}", "id", id, "subject", subject, "detail", detail));
}

void
cw_outbox_clear (cw_outbox_t *self, int id, const char *subject)
{
    s_put (self, "alarms.clear", id, subject, json_pack ("{s:i, s:s}", "id", id, "subject", subject));
}

void
cw_outbox_flush (cw_outbox_t *self)
{
    for (int i = 0; i < CW_OUTBOX_MAX; i++)
        if (self->entries [i].used)
            s_send (self, &self->entries [i]);
}

bool
cw_outbox_on_reply (cw_outbox_t *self, uint64_t corr, bool ok, const char *from, const char *body)
{
    for (int i = 0; i < CW_OUTBOX_MAX; i++) {
        s_entry_t *entry = &self->entries [i];
        if (!entry->used || entry->corr != corr)
            continue;
        if (ok || strcmp (from, CW_OUTBOX_ACTOR) == 0) {
            if (ok)
                cw_info ("alarm request acknowledged command=%s id=%d subject=%s", entry->command, entry->id,
                         entry->subject);
            else
                cw_warn ("alarm request refused command=%s id=%d subject=%s reply=%s", entry->command, entry->id,
                         entry->subject, body);
            free (entry->body);
            memset (entry, 0, sizeof *entry);
        }
        //  else: the broker could not deliver it; the next re-send will
        return true;
    }
    return false;
}

void
cw_outbox_tick (cw_outbox_t *self, int64_t now)
{
    if (!cw_broker_is_ready (self->broker, CW_OUTBOX_ACTOR))
        return;
    for (int i = 0; i < CW_OUTBOX_MAX; i++) {
        s_entry_t *entry = &self->entries [i];
        if (entry->used && now - entry->sent_at >= CW_OUTBOX_RESEND_MS)
            s_send (self, entry);
    }
}

int
cw_outbox_size (cw_outbox_t *self)
{
    int count = 0;
    for (int i = 0; i < CW_OUTBOX_MAX; i++)
        count += self->entries [i].used;
    return count;
}
