/*  leases.h - the licenses this peer has granted: who holds which.

    A lease is one license of one capacity kind, held by an OWNER: an actor
    (its name, e.g. "routing") or a control client ("@control:<id>"). The
    table lives in a file mapped into memory (<runtime_dir>/licensing.leases)
    so that it survives a kill -9 of the licensing actor at no cost per
    acquire: the page cache keeps what the process wrote. The file is bound
    to one start of the node (CAUSEWAY_BOOT_ID): after a node restart every
    holder is gone too, and the table starts empty.

    Besides the slots, the file keeps the local side of the pool
    (cw_pool_local_t: this peer's share and what it applied last), so a
    restarted actor grants exactly what it may.

    A lease id is "<slot>.<generation>" in hex; a slot's generation grows on
    every reuse, so a stale id never releases someone else's lease.
    Acquire and release are O(1) (a free-slot stack; owners in a small
    table looked up by name).
*/
#ifndef CW_LEASES_H
#define CW_LEASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"

#define CW_LEASES_SLOTS (1u << 20)    //  leases one peer can hold at once
#define CW_LEASES_OWNERS 4096         //  distinct owners at once
#define CW_LEASES_OWNER_MAX 48        //  owner name bytes (with NUL)
#define CW_LEASE_ID_MAX 24

typedef struct _cw_leases_t cw_leases_t;

//  Open (or create) the table at PATH for node start BOOT_ID. A table of
//  another start, or one that is not ours, is started afresh (WIPED set).
//  NULL with the reason in ERR.
cw_leases_t *cw_leases_open (const char *path, const char *boot_id, bool *wiped, char *err, size_t errlen);
void cw_leases_destroy (cw_leases_t **self_p);

//  The local side of the pool, in the mapped file (read and write it in
//  place; it is saved by the kernel like the slots).
cw_pool_local_t *cw_leases_local (cw_leases_t *self);

//  Take a slot for OWNER (PID: the owner's process, 0 = unknown) of KIND
//  and write its id to ID. 0, or -1 when the table or the owner table is
//  full. The caller decided the grant (cw_pool_local_acquire).
int cw_leases_take (cw_leases_t *self, const char *owner, int pid, int kind, char id [CW_LEASE_ID_MAX]);
//  Release lease ID. Its kind into *KIND and its owner into OWNER (may be
//  NULL). 0, or -1 when ID is not a lease held now.
int cw_leases_give (cw_leases_t *self, const char *id, int *kind, char owner [CW_LEASES_OWNER_MAX]);

//  Release every lease of OWNER (whatever pid took it); the per kind
//  counts of what was freed are added to FREED. Returns how many.
size_t cw_leases_drop_owner (cw_leases_t *self, const char *owner, int64_t freed [CW_POOL_KINDS]);
//  Release every lease whose holder KEEP (called once per holder with its
//  name and the pid recorded when it took them) says is gone. Returns how
//  many; the per kind counts are added to FREED.
typedef bool (cw_leases_keep_fn) (const char *owner, int pid, void *arg);
size_t cw_leases_drop_stale (cw_leases_t *self, cw_leases_keep_fn *keep, void *arg, int64_t freed [CW_POOL_KINDS]);

//  Leases held now, per kind (recounted from the slots at open).
int64_t cw_leases_held (cw_leases_t *self, int kind);
//  Number of distinct owners holding leases.
size_t cw_leases_owner_count (cw_leases_t *self);

#endif
