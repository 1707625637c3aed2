/*  binding_store.h - this peer's own registrations on disk, so that they
    survive a kill -9 of the routing actor.

    The location table (location.h) is memory: when the routing actor dies,
    causewayd starts it again with an empty table, and every endpoint that
    registered here would be unreachable until it registers again. The
    store keeps a copy of each own binding (with the license kind it took)
    in an SQLite file in the node's runtime_dir, and the next instance of
    the actor reads it back at start.

    Writes are grouped: put and remove only queue a change (a prepared
    statement inside an open transaction); cw_binding_store_commit writes
    every change queued since the last one in one transaction. The caller
    commits before it answers the REGISTERs whose bindings it changed, so
    an acknowledged registration is on disk. No fsync: the file has to
    survive the death of the process, not of the machine (the kernel keeps
    what was written), and it belongs to one start of the node like the
    licensing leases: a store written under another CAUSEWAY_BOOT_ID is
    emptied when opened (after a node restart every lease is gone and the
    peers have taken over). A file that SQLite finds damaged (not a
    database, corrupt, quick_check failing) is moved aside
    (<file>.damaged-<time>) and the store starts empty.
*/
#ifndef CW_BINDING_STORE_H
#define CW_BINDING_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "location.h"

#define CW_BINDING_STORE_FILE "routing.bindings"
#define CW_BINDING_STORE_KIND_MAX 32

typedef struct _cw_binding_store_t cw_binding_store_t;

//  Open (or create) the store at PATH for node start BOOT_ID. *WIPED is
//  set when a store of another start was emptied; *DAMAGED (may be NULL)
//  gets a new string naming the damage and where the file went when a
//  damaged file was moved aside (the caller frees it). NULL with the
//  reason in ERR when no store can be opened at PATH.
cw_binding_store_t *cw_binding_store_open (const char *path, const char *boot_id, bool *wiped, char **damaged,
                                           char *err, size_t errlen);
//  Commits what is queued, then closes.
void cw_binding_store_destroy (cw_binding_store_t **self_p);

//  Queue BINDING (keyed by its AOR and contact) with its license KIND
//  ("desktop_systems", "room_systems"; "" = none). 0, or -1 when the
//  write failed (logged; the store stays usable).
int cw_binding_store_put (cw_binding_store_t *self, const cw_binding_t *binding, const char *kind);
//  Queue the removal of the binding of AOR with CONTACT. 0 or -1.
int cw_binding_store_remove (cw_binding_store_t *self, const char *aor, const char *contact);
//  Changes queued since the last commit.
size_t cw_binding_store_pending (cw_binding_store_t *self);
//  Write the queued changes in one transaction. 0 (also when nothing was
//  queued), or -1 when the transaction failed (logged; those changes are
//  lost, the store stays usable).
int cw_binding_store_commit (cw_binding_store_t *self);

//  Read the store: FN gets each binding that has not expired at NOW_MS
//  (its license kind in KIND) and returns false to have it deleted.
//  Expired bindings, and rows that are not a valid binding, are deleted
//  and counted in *EXPIRED and *INVALID (either may be NULL); the
//  deletions are committed before it returns. Returns how many FN kept.
typedef bool (cw_binding_store_fn) (const cw_binding_t *binding, const char *kind, void *arg);
size_t cw_binding_store_load (cw_binding_store_t *self, int64_t now_ms, cw_binding_store_fn *fn, void *arg,
                              size_t *expired, size_t *invalid);

//  Bindings stored (committed).
size_t cw_binding_store_count (cw_binding_store_t *self);
//  The file's path (borrowed).
const char *cw_binding_store_path (cw_binding_store_t *self);
//  Transactions written, and writes that failed, since open.
uint64_t cw_binding_store_commits (cw_binding_store_t *self);
uint64_t cw_binding_store_failures (cw_binding_store_t *self);

#endif
