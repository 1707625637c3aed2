/*  leases.c - the lease table in a mapped file (see leases.h).

    Layout of the file: a header (magic, the node start it belongs to, the
    local side of the pool), then CW_LEASES_OWNERS holder entries {name,
    pid, held}, then CW_LEASES_SLOTS slots {generation, holder, kind,
    state}. A holder is one (name, pid) pair. In memory only: a stack of
    free slots, the highest slot ever used (scans stop there) and an index
    of holders by "name/pid"; all three are rebuilt from the file at open.
*/
#include "leases.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_text.h"

#define S_MAGIC "CWLEASE1"
#define S_VERSION 1u
#define S_FREE 0
#define S_HELD 1

typedef struct {
    char magic [8];
    uint32_t version;
    uint32_t slots;
    uint32_t owners;
    uint32_t reserved;
    char boot_id [64];
    cw_pool_local_t local;
} s_header_t;

typedef struct {
    char name [CW_LEASES_OWNER_MAX];
    int32_t pid;
    uint32_t held;    //  0 = entry free
} s_owner_t;

typedef struct {
    uint32_t gen;
    uint16_t owner;
    uint8_t kind;
    uint8_t state;
} s_slot_t;

struct _cw_leases_t {
    int fd;
    size_t size;
    void *map;
    s_header_t *header;
    s_owner_t *owners;
    s_slot_t *slots;
    uint32_t *free_stack;    //  free slot indexes below HIGH, top at [free_count - 1]
    uint32_t free_count;
    uint32_t high;      //  slots [0, high) have been used
    zhashx_t *index;    //  "name/pid" -> owner index + 1
    int64_t held [CW_POOL_KINDS];
};

static size_t
s_file_size (void)
{
    return sizeof (s_header_t) + CW_LEASES_OWNERS * sizeof (s_owner_t) + (size_t) CW_LEASES_SLOTS * sizeof (s_slot_t);
}

static void
s_index_key (char *key, size_t size, const char *name, int pid)
{
    snprintf (key, size, "%s/%d", name, pid);
}

static void
s_index_put (cw_leases_t *self, uint32_t owner)
{
    char key [CW_LEASES_OWNER_MAX + 16];
    s_index_key (key, sizeof key, self->owners [owner].name, self->owners [owner].pid);
    zhashx_update (self->index, key, (void *) (uintptr_t) (owner + 1));
}

static void
s_index_del (cw_leases_t *self, uint32_t owner)
{
    char key [CW_LEASES_OWNER_MAX + 16];
    s_index_key (key, sizeof key, self->owners [owner].name, self->owners [owner].pid);
    zhashx_delete (self->index, key);
}

//  Rebuild the in-memory parts from the file; repair what a crash in the
//  middle of a change can leave (holder counts recounted from the slots).
static int
s_rebuild (cw_leases_t *self)
{
    uint32_t *counts = calloc (CW_LEASES_OWNERS, sizeof *counts);
    if (!counts)
        return -1;
    memset (self->held, 0, sizeof self->held);
    self->high = 0;
    for (uint32_t i = 0; i < CW_LEASES_SLOTS; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->state == S_HELD && (slot->owner >= CW_LEASES_OWNERS || slot->kind >= CW_POOL_KINDS))
            slot->state = S_FREE;    //  not ours: dropped
        if (slot->state == S_HELD) {
            counts [slot->owner]++;
            self->held [slot->kind]++;
        }
        if (slot->state != S_FREE || slot->gen != 0)
            self->high = i + 1;
    }
    self->free_count = 0;
    for (uint32_t i = self->high; i > 0; i--)
        if (self->slots [i - 1].state == S_FREE)
            self->free_stack [self->free_count++] = i - 1;
    for (uint32_t i = 0; i < CW_LEASES_OWNERS; i++) {
        self->owners [i].name [CW_LEASES_OWNER_MAX - 1] = 0;
        self->owners [i].held = counts [i];
        if (counts [i])
            s_index_put (self, i);
        else
            memset (&self->owners [i], 0, sizeof self->owners [i]);
    }
    free (counts);
    //  The local side: USED is what the slots say
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        self->header->local.used [k] = self->held [k];
        if (self->header->local.share [k] < 0)
            self->header->local.share [k] = 0;
    }
    return 0;
}

cw_leases_t *
cw_leases_open (const char *path, const char *boot_id, bool *wiped, char *err, size_t errlen)
{
    *wiped = false;
    cw_leases_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->fd = -1;
    self->size = s_file_size ();
    self->fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        cw_leases_destroy (&self);
        return NULL;
    }
    struct stat st;
    if (fstat (self->fd, &st) != 0 || ((size_t) st.st_size != self->size && ftruncate (self->fd, 0) != 0)
        || ftruncate (self->fd, (off_t) self->size) != 0) {
        snprintf (err, errlen, "cannot size %s: %s", path, strerror (errno));
        cw_leases_destroy (&self);
        return NULL;
    }
    self->map = mmap (NULL, self->size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd, 0);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        snprintf (err, errlen, "cannot map %s: %s", path, strerror (errno));
        cw_leases_destroy (&self);
        return NULL;
    }
    self->header = self->map;
    self->owners = (s_owner_t *) ((char *) self->map + sizeof (s_header_t));
    self->slots = (s_slot_t *) ((char *) self->owners + CW_LEASES_OWNERS * sizeof (s_owner_t));
    self->free_stack = malloc ((size_t) CW_LEASES_SLOTS * sizeof *self->free_stack);
    self->index = zhashx_new ();
    if (!self->free_stack || !self->index) {
        snprintf (err, errlen, "out of memory");
        cw_leases_destroy (&self);
        return NULL;
    }
    s_header_t *header = self->header;
    bool ours = memcmp (header->magic, S_MAGIC, 8) == 0 && header->version == S_VERSION
             && header->slots == CW_LEASES_SLOTS && header->owners == CW_LEASES_OWNERS
             && strncmp (header->boot_id, boot_id, sizeof header->boot_id) == 0;
    if (!ours) {
        //  Another start of the node (or a new file): nobody holds anything
        *wiped = memcmp (header->magic, S_MAGIC, 8) == 0;
        memset (self->map, 0, self->size);
        memcpy (header->magic, S_MAGIC, 8);
        header->version = S_VERSION;
        header->slots = CW_LEASES_SLOTS;
        header->owners = CW_LEASES_OWNERS;
        cw_copy (header->boot_id, sizeof header->boot_id, boot_id);
    }
    if (s_rebuild (self) != 0) {
        snprintf (err, errlen, "out of memory");
        cw_leases_destroy (&self);
        return NULL;
    }
    return self;
}

void
cw_leases_destroy (cw_leases_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_leases_t *self = *self_p;
    if (self->map)
        munmap (self->map, self->size);
    if (self->fd >= 0)
        close (self->fd);
    free (self->free_stack);
    zhashx_destroy (&self->index);
    free (self);
    *self_p = NULL;
}

cw_pool_local_t *
cw_leases_local (cw_leases_t *self)
{
    return &self->header->local;
}

//  The holder entry of (NAME, PID), made when missing; -1 when full.
static int
s_owner (cw_leases_t *self, const char *name, int pid)
{
    char key [CW_LEASES_OWNER_MAX + 16];
    s_index_key (key, sizeof key, name, pid);
    uintptr_t found = (uintptr_t) zhashx_lookup (self->index, key);
    if (found)
        return (int) (found - 1);
    for (uint32_t i = 0; i < CW_LEASES_OWNERS; i++)
        if (self->owners [i].held == 0) {
            cw_copy (self->owners [i].name, CW_LEASES_OWNER_MAX, name);
            self->owners [i].pid = pid;
            s_index_put (self, i);
            return (int) i;
        }
    return -1;
}

int
cw_leases_take (cw_leases_t *self, const char *owner, int pid, int kind, char id [CW_LEASE_ID_MAX])
{
    if (kind < 0 || kind >= CW_POOL_KINDS || strlen (owner) >= CW_LEASES_OWNER_MAX)
        return -1;
    uint32_t index;
    if (self->free_count > 0)
        index = self->free_stack [self->free_count - 1];
    else if (self->high < CW_LEASES_SLOTS)
        index = self->high;
    else
        return -1;
    int who = s_owner (self, owner, pid);
    if (who < 0)
        return -1;
    if (self->free_count > 0)
        self->free_count--;
    else
        self->high++;
    s_slot_t *slot = &self->slots [index];
    slot->gen++;
    slot->owner = (uint16_t) who;
    slot->kind = (uint8_t) kind;
    slot->state = S_HELD;
    self->owners [who].held++;
    self->held [kind]++;
    snprintf (id, CW_LEASE_ID_MAX, "%x.%x", index, slot->gen);
    return 0;
}

static void
s_free_slot (cw_leases_t *self, uint32_t index, int64_t freed [CW_POOL_KINDS])
{
    s_slot_t *slot = &self->slots [index];
    slot->state = S_FREE;
    s_owner_t *owner = &self->owners [slot->owner];
    if (owner->held > 0 && --owner->held == 0) {
        s_index_del (self, slot->owner);
        memset (owner, 0, sizeof *owner);
    }
    if (self->held [slot->kind] > 0)
        self->held [slot->kind]--;
    if (freed)
        freed [slot->kind]++;
    self->free_stack [self->free_count++] = index;
}

int
cw_leases_give (cw_leases_t *self, const char *id, int *kind, char owner [CW_LEASES_OWNER_MAX])
{
    unsigned int index, gen;
    char extra;
    if (!id || sscanf (id, "%x.%x%c", &index, &gen, &extra) != 2 || index >= self->high)
        return -1;
    s_slot_t *slot = &self->slots [index];
    if (slot->state != S_HELD || slot->gen != gen)
        return -1;
    if (kind)
        *kind = slot->kind;
    if (owner)
        cw_copy (owner, CW_LEASES_OWNER_MAX, self->owners [slot->owner].name);
    s_free_slot (self, index, NULL);
    return 0;
}

//  Free every held slot whose holder is marked in DOOMED.
static size_t
s_drop_marked (cw_leases_t *self, const bool *doomed, int64_t freed [CW_POOL_KINDS])
{
    size_t count = 0;
    for (uint32_t i = 0; i < self->high; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->state == S_HELD && doomed [slot->owner]) {
            s_free_slot (self, i, freed);
            count++;
        }
    }
    return count;
}

size_t
cw_leases_drop_owner (cw_leases_t *self, const char *owner, int64_t freed [CW_POOL_KINDS])
{
    bool doomed [CW_LEASES_OWNERS] = { false };
    bool any = false;
    for (uint32_t i = 0; i < CW_LEASES_OWNERS; i++)
        if (self->owners [i].held && strcmp (self->owners [i].name, owner) == 0)
            doomed [i] = any = true;
    return any ? s_drop_marked (self, doomed, freed) : 0;
}

size_t
cw_leases_drop_stale (cw_leases_t *self, cw_leases_keep_fn *keep, void *arg, int64_t freed [CW_POOL_KINDS])
{
    bool doomed [CW_LEASES_OWNERS] = { false };
    bool any = false;
    for (uint32_t i = 0; i < CW_LEASES_OWNERS; i++)
        if (self->owners [i].held && !keep (self->owners [i].name, self->owners [i].pid, arg))
            doomed [i] = any = true;
    return any ? s_drop_marked (self, doomed, freed) : 0;
}

int64_t
cw_leases_held (cw_leases_t *self, int kind)
{
    return kind >= 0 && kind < CW_POOL_KINDS ? self->held [kind] : 0;
}

size_t
cw_leases_owner_count (cw_leases_t *self)
{
    return zhashx_size (self->index);
}
