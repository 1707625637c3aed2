/*  cw_data_mirror.h - an actor's copy of one namespace of cluster-wide data.

    Cluster-wide data of the actors (SIP credentials, web administrators,
    the dial plan, zones, FindMe accounts ...) is kept by the replication
    actor (replication.data.put/list, EVENT data.changed.<ns>); an actor
    that reads it on every request keeps its own copy in memory. This
    module does the keeping, the same way for everyone:

    - a load reads the namespace page by page with replication.data.list
      (paged by `after`) and hands the whole of it to LOADED at once, so
      the owner swaps its table in one step and is never seen half loaded;
    - an EVENT data.changed.<ns> with rows hands each row to CHANGED (value
      NULL: the row was deleted); one with null rows, one that arrives
      before the first load or during a load starts a load again (after
      the running one: it may have missed the change);
    - a load that fails (no replication actor yet, an error) is tried
      again a second later.

    The owner calls cw_data_mirror_tick from a periodic timer of its loop
    (every 250 ms or so): the first load (cw_data_mirror_start) and the
    retries start there, so they start once the actor runs, whichever
    loop it runs (zloop, or libre's in the routing actor). Everything
    happens in the actor's thread.
*/
#ifndef CW_DATA_MIRROR_H
#define CW_DATA_MIRROR_H

#include <jansson.h>
#include <stdbool.h>
#include "cw_actor.h"

typedef struct _cw_data_mirror_t cw_data_mirror_t;

//  A load is complete: ROWS is {key: value text, ...}, every row of the
//  namespace (borrowed: copy what is kept).
typedef void (cw_data_loaded_fn) (json_t *rows, void *arg);
//  One row changed: VALUE is its new text, or NULL when it was deleted.
typedef void (cw_data_changed_fn) (const char *key, const char *value, void *arg);

//  A mirror of namespace NS for ACTOR (borrowed; it outlives the mirror),
//  which asks for NS's data.changed events (cw_actor_want_data): make it
//  before the actor is READY. LOG names the owner in log lines.
cw_data_mirror_t *cw_data_mirror_new (cw_actor_t *actor, const char *ns, const char *log, cw_data_loaded_fn *loaded,
                                      cw_data_changed_fn *changed, void *arg);
void cw_data_mirror_destroy (cw_data_mirror_t **self_p);
//  Load at the next tick (and keep trying until a load succeeds).
void cw_data_mirror_start (cw_data_mirror_t *self);
//  Start a load that is due. Call it periodically from the actor's loop.
void cw_data_mirror_tick (cw_data_mirror_t *self);
//  Give the mirror an EVENT/STATE the actor received; true when it was
//  data.changed.<its ns> (and was taken), false otherwise. BODY borrowed.
bool cw_data_mirror_on_event (cw_data_mirror_t *self, const char *topic, json_t *body);
//  True once a load completed.
bool cw_data_mirror_loaded (cw_data_mirror_t *self);
//  True while a load is running.
bool cw_data_mirror_loading (cw_data_mirror_t *self);
const char *cw_data_mirror_ns (cw_data_mirror_t *self);

#endif
