/*  dialplan_store.h - the routing actor's dial plan (dialplan.h) kept
    current with the cluster-wide data, and its commands.

    Loads the namespaces "routing.transforms" and "routing.search_rules"
    (replication.data.list, page by page) once the actor runs, applies the
    EVENTs data.changed.routing.transforms / data.changed.routing.search_rules
    (rows null: the namespace is loaded again), and declares on the actor:

      transforms.add {rule} | {"rule": {rule}, "replace": true}
          -> {"transform": {normalized rule}}
      transforms.remove {name} -> {"name", "removed": true}
      transforms.list {} -> {"transforms": [...], "loading"}
      transforms.test {alias} -> {"alias", "result", "transform"|null, "steps"}
      search_rules.add {rule} | {"rule": {rule}, "replace": true}
          -> {"search_rule": {normalized rule}}
      search_rules.remove {name} -> {"name", "removed": true}
      search_rules.list {} -> {"search_rules": [...], "loading"}

    A rule is checked before it is written ("<field>: <what is allowed>");
    add refuses a name that exists unless "replace" is true. Writes are
    answered once the replication actor has stored them. The stored value
    is the normalized rule as JSON text. A search rule's target need not
    be a zone that exists yet.
*/
#ifndef CW_DIALPLAN_STORE_H
#define CW_DIALPLAN_STORE_H

#include "dialplan.h"
#include "routing.h"

typedef struct _cw_dialplan_store_t cw_dialplan_store_t;

//  Declare the commands on ROUTING's actor; the rules load on the first
//  tick. NULL with the reason in ERR.
cw_dialplan_store_t *cw_dialplan_store_new (cw_routing_t *routing, char *err, size_t errlen);
void cw_dialplan_store_destroy (cw_dialplan_store_t **self_p);

//  The dial plan in memory (owned by the store; the search reads it).
cw_dialplan_t *cw_dialplan_store_dialplan (cw_dialplan_store_t *self);

#endif
