/*  tms_queue.h - the durable, bounded queue of feedback events for the
    external manager, and the small facts the tms actor keeps beside it.

    One SQLite file (<state_dir>/tms.db, WAL, synchronous=FULL, 0600):
        events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at, type, body)
        meta   (key TEXT PRIMARY KEY, value TEXT)
    An event is committed before tms_queue_push returns, so it survives a
    kill -9 of the actor from then on; it leaves the table only through
    tms_queue_delete_upto, called after the manager answered 2xx for it.
    Past BOUND events the oldest are deleted and counted ("dropped", kept
    in meta, so the count survives restarts too).
*/
#ifndef TMS_QUEUE_H
#define TMS_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _tms_queue_t tms_queue_t;

#define TMS_QUEUE_BOUND 100000

//  Open (create) the queue at PATH holding at most BOUND events. NULL with
//  the reason in ERR.
tms_queue_t *tms_queue_new (const char *path, size_t bound, char *err, size_t errlen);
void tms_queue_destroy (tms_queue_t **self_p);

//  Append an event of TYPE with BODY (borrowed) stamped AT (RFC 3339 UTC),
//  committed before return, together with meta KEY = VALUE when KEY is not
//  NULL (what the event was made from, so it is made once). Returns its
//  seq, or -1 on a database error.
int64_t tms_queue_push (tms_queue_t *self, const char *type, const char *at, json_t *body, const char *key,
                        const char *value);
//  The oldest LIMIT events as a new array of {"seq", "at", "type", "data"}.
json_t *tms_queue_peek (tms_queue_t *self, size_t limit);
//  Delete every event with seq <= SEQ (the manager accepted them).
int tms_queue_delete_upto (tms_queue_t *self, int64_t seq);

size_t tms_queue_length (tms_queue_t *self);
int64_t tms_queue_dropped (tms_queue_t *self);
//  The "at" of the oldest event as a new string, or NULL when empty.
char *tms_queue_oldest (tms_queue_t *self);

//  meta: small text values (NULL when absent; the result is owned by the
//  caller). Set returns 0 or -1.
char *tms_queue_meta_get (tms_queue_t *self, const char *key);
int tms_queue_meta_set (tms_queue_t *self, const char *key, const char *value);

#endif
