/*  findme.h - the FindMe accounts: a call to a FindMe alias rings the
    devices of the account's active location.

    The accounts are cluster-wide data written by the primary's tms actor
    (the replication actor's data API, namespace "tms.findme", key the
    account id, value the JSON text {"id", "user", "alias",
    "active_location", "locations": [{"name", "devices": [alias, ...]}]};
    a removed account is a deleted row). Every peer's routing actor keeps
    them in memory, indexed by the account id and by the alias normalised
    as the location table normalises AORs ("sip:user@domain", the domain
    in lower case), so a call never waits: loaded page by page with
    replication.data.list at start (and again when a data.changed event has
    no rows), and kept current by EVENT data.changed.tms.findme, whose rows
    are applied as they come (to the table being loaded as well while a
    load is under way: events and replies travel the same socket in order).
    Each account is one allocation holding its strings back to back (the
    devices already normalised), so 100,000 accounts take a few tens of
    megabytes.

    Where the proxy asks (proxy.c, and the search when the dial plan has
    search rules, search.c): after the transforms, before the search rules,
    the alias of an out-of-dialog request is looked up here; when it is a
    FindMe alias, the request is forked to every device of the active
    location that is registered in the cluster (each device looked up in
    the location table like any alias), the first 2xx wins and the other
    branches are cancelled. No device of the location registered: 480 with
    a Warning; an active location the account does not have: 404 with a
    Warning. A change of active_location applies to the next call. The
    devices of a FindMe alias are never expanded again (a device that is
    itself a FindMe alias is looked up as a registration only).

    routing.status gains "findme": {"accounts", "loaded", "loads",
    "load_ms", "unreadable"}.
*/
#ifndef CW_FINDME_H
#define CW_FINDME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "location.h"

#define CW_FINDME_NS "tms.findme"
#define CW_FINDME_DEVICES_MAX 8      //  devices of one location looked at (the first ones)
#define CW_FINDME_VALUE_MAX 65536    //  a longer value is unreadable
#define CW_FINDME_NAME_MAX 128       //  account id, location name

typedef struct _cw_findme_t cw_findme_t;
typedef struct _cw_routing_t cw_routing_t;

//  What a FindMe alias leads to. SCODE 0: ring the devices whose
//  REGISTERED is true (at least one); 404 (no such active location) or
//  480 (no device registered): answer SCODE/REASON with the WARNING text.
typedef struct {
    uint16_t scode;
    char reason [48];
    char warning [320];
    char id [CW_FINDME_NAME_MAX];          //  the account
    char alias [CW_LOCATION_AOR_MAX];      //  the FindMe alias, as an AOR
    char location [CW_FINDME_NAME_MAX];    //  the active location ("" = none)
    size_t count;                          //  devices of the location listed below
    size_t registered;                     //  of them, registered in the cluster
    struct {
        char aor [CW_LOCATION_AOR_MAX];    //  "sip:user@domain"
        bool registered;
    } devices [CW_FINDME_DEVICES_MAX];
} cw_findme_result_t;

//  The accounts of ROUTING's cluster, loaded and kept current from the
//  replication actor; with ROUTING NULL, an empty table filled only with
//  cw_findme_apply (tests, benchmarks). Owned; NULL when out of memory.
cw_findme_t *cw_findme_new (cw_routing_t *routing);
void cw_findme_destroy (cw_findme_t **self_p);

//  Put the account of row KEY from VALUE (its JSON text; NULL = the row
//  was deleted). 0, or -1 when VALUE does not read as an account (no
//  alias, a device that is not user@domain, too long): the row is then
//  left out (and any account it replaced removed).
int cw_findme_apply (cw_findme_t *self, const char *key, const char *value);
//  How many accounts are in the table.
size_t cw_findme_count (cw_findme_t *self);

//  The devices a FindMe alias leads to: when AOR (normalised,
//  "sip:user@domain") is the alias of an account, fill RESULT and return
//  true, each device marked registered per REGISTERED (which may be NULL:
//  none registered); false when it is not a FindMe alias.
typedef bool (cw_findme_registered_fn) (const char *aor, void *arg);
bool cw_findme_resolve (cw_findme_t *self, const char *aor, cw_findme_registered_fn *registered, void *arg,
                        cw_findme_result_t *result);
//  cw_findme_resolve with a device registered when LOCATION has a usable
//  binding of it now, on a live peer (ROUTING's view; may be NULL).
bool cw_findme_locate (cw_findme_t *self, const char *aor, cw_location_t *location, cw_routing_t *routing,
                       cw_findme_result_t *result);

//  RESULT as a search step: {"step": "findme", "account", "alias",
//  "location", "devices": [{"alias", "registered"}], "registered",
//  "status"}. New reference.
json_t *cw_findme_step (const cw_findme_result_t *result);

//  "user@domain" (or "sip:user@domain") as an AOR into OUT (the location
//  table's form). 0, or -1 when ALIAS has no user or domain or does not fit.
int cw_findme_aor (const char *alias, char *out, size_t outlen);

#endif
