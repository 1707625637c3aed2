/*  phonebook.c - the phone book entries in memory, indexed for prefix
    search (phonebook.h).

    An entry's texts are one block: id, book, name, uri, number, sort key,
    then its tokens, each ended by a 0, the tokens by one more. Slots of
    the entries array are found by id through an open-addressing table
    (linear probing, deletion by shifting back). The sorted arrays hold
    (first 8 bytes of the key, entry, offset of the key in the block):
    most comparisons are settled by the first integer.
*/
#include "phonebook.h"

#include <stdlib.h>
#include <string.h>

#include "directory.h"

#define S_KEY_MAX 256
#define S_TOKENS_MAX 1024
#define S_BLOB_MAX 60000
//  Token ranges scanned for the first matches by name up to this many;
//  more: the names array is walked in order, testing each entry
#define S_SCAN_MAX 300000
//  Entries a walk tests without a match before it scans the range instead
#define S_WALK_MAX 5000
//  The most entries a search returns (+ 1 to tell "more")
#define S_LIMIT_MAX 1000
//  A search merges the changes first when there are more than this many
#define S_DELTA_MAX 2048

enum {
    S_BOOK,
    S_NAME,
    S_URI,
    S_NUMBER,
    S_SORTKEY,
    S_TOKENS,
    S_FIELDS
};

//  The generation of a removed entry (its texts kept until the next merge)
#define S_DEAD UINT32_MAX

typedef struct {
    char *blob;    //  NULL: a free slot
    uint64_t hash;
    uint32_t gen;
    uint16_t off [S_FIELDS];
} s_entry_t;

typedef struct {
    uint64_t prefix;       //  the key's first 8 bytes
    uint64_t next;         //  its next 8 bytes
    uint64_t name;         //  the first 8 bytes of the entry's sort key
    uint64_t name_next;    //  its next 8 bytes
    uint32_t entry;
    uint16_t off;
} s_key_t;

typedef struct {
    uint32_t *items;
    size_t count, max;
} s_list_t;

typedef struct {
    s_key_t *items;
    size_t count, max;
} s_keys_t;

struct _tms_phonebook_t {
    s_entry_t *entries;
    size_t count, max;    //  slots used, allocated
    size_t live;
    uint32_t *table;     //  entry + 1, 0 = empty
    size_t table_max;    //  a power of 2
    s_list_t free;       //  slots to reuse
    s_list_t dead;       //  removed since the last merge: reused after it
    s_list_t delta;      //  put since the last merge
    s_keys_t names;      //  sort keys, sorted
    s_keys_t tokens;     //  tokens, sorted
    uint32_t gen;
    tms_phonebook_alive_fn *alive;
    void *alive_arg;
};

static int
s_list_push (s_list_t *list, uint32_t value)
{
    if (list->count == list->max) {
        size_t max = list->max ? list->max * 2 : 256;
        uint32_t *items = realloc (list->items, max * sizeof *items);
        if (!items)
            return -1;
        list->items = items;
        list->max = max;
    }
    list->items [list->count++] = value;
    return 0;
}

static int
s_keys_reserve (s_keys_t *keys, size_t count)
{
    if (count <= keys->max)
        return 0;
    size_t max = keys->max ? keys->max : 64;
    while (max < count)
        max *= 2;
    s_key_t *items = realloc (keys->items, max * sizeof *items);
    if (!items)
        return -1;
    keys->items = items;
    keys->max = max;
    return 0;
}

static uint64_t
s_hash (const char *text)
{
    uint64_t hash = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        hash = (hash ^ *p) * 1099511628211ull;
    return hash;
}

//  The first 8 bytes of KEY as a big-endian integer (0 after its end)
static uint64_t
s_prefix (const char *key)
{
    if (!key)
        return 0;
    uint64_t prefix = 0;
    for (int i = 0; i < 8; i++) {
        prefix <<= 8;
        if (*key)
            prefix |= (unsigned char) *key++;
    }
    return prefix;
}

//  KEY's bytes 8..15 as a big-endian integer (0 after its end)
static uint64_t
s_next (const char *key)
{
    size_t len = strnlen (key, 8);
    return len == 8 ? s_prefix (key + 8) : 0;
}

static inline bool
s_live (const tms_phonebook_t *self, uint32_t entry)
{
    return self->entries [entry].gen != S_DEAD;
}

static inline const char *
s_text (const tms_phonebook_t *self, uint32_t entry, int field)
{
    return self->entries [entry].blob + self->entries [entry].off [field];
}

//  Keys by text, then by entry id
static int
s_key_compare (const void *a, const void *b, void *arg)
{
    const s_key_t *x = a, *y = b;
    if (x->prefix != y->prefix)
        return x->prefix < y->prefix ? -1 : 1;
    if (x->next != y->next)
        return x->next < y->next ? -1 : 1;
    const tms_phonebook_t *self = arg;
    const char *xblob = self->entries [x->entry].blob, *yblob = self->entries [y->entry].blob;
    int c = strcmp (xblob + x->off, yblob + y->off);
    return c ? c : strcmp (xblob, yblob);
}

static s_key_t
s_name_key (const tms_phonebook_t *self, uint32_t entry)
{
    const char *sortkey = s_text (self, entry, S_SORTKEY);
    uint64_t prefix = s_prefix (sortkey);
    uint64_t next = s_next (sortkey);
    s_key_t key = { prefix, next, prefix, next, entry, self->entries [entry].off [S_SORTKEY] };
    return key;
}

// ---------------------------------------------------------------------------
//  The id table

//  The table slot holding ID, or the empty one where it would go
static size_t
s_slot (const tms_phonebook_t *self, const char *id)
{
    size_t mask = self->table_max - 1, i = s_hash (id) & mask;
    while (self->table [i] && strcmp (self->entries [self->table [i] - 1].blob, id) != 0)
        i = (i + 1) & mask;
    return i;
}

static int
s_table_grow (tms_phonebook_t *self)
{
    if ((self->live + 1) * 2 <= self->table_max)
        return 0;
    size_t max = self->table_max ? self->table_max * 2 : 1024;
    uint32_t *table = calloc (max, sizeof *table);
    if (!table)
        return -1;
    free (self->table);
    self->table = table;
    self->table_max = max;
    for (size_t e = 0; e < self->count; e++)
        if (s_live (self, (uint32_t) e))
            self->table [s_slot (self, self->entries [e].blob)] = (uint32_t) e + 1;
    return 0;
}

//  Empty table slot I, shifting back the entries probed past it
static void
s_table_delete (tms_phonebook_t *self, size_t i)
{
    size_t mask = self->table_max - 1;
    self->table [i] = 0;
    for (size_t j = (i + 1) & mask; self->table [j]; j = (j + 1) & mask) {
        size_t home = s_hash (self->entries [self->table [j] - 1].blob) & mask;
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            self->table [i] = self->table [j];
            self->table [j] = 0;
            i = j;
        }
    }
}

// ---------------------------------------------------------------------------
//  Entries

tms_phonebook_t *
tms_phonebook_new (void)
{
    tms_phonebook_t *self = calloc (1, sizeof *self);
    if (self && s_table_grow (self) != 0) {
        free (self);
        return NULL;
    }
    return self;
}

void
tms_phonebook_destroy (tms_phonebook_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_phonebook_t *self = *self_p;
    for (size_t e = 0; e < self->count; e++)
        free (self->entries [e].blob);
    free (self->entries);
    free (self->table);
    free (self->free.items);
    free (self->dead.items);
    free (self->delta.items);
    free (self->names.items);
    free (self->tokens.items);
    free (self);
    *self_p = NULL;
}

size_t
tms_phonebook_size (tms_phonebook_t *self)
{
    return self->live;
}

size_t
tms_phonebook_pending (tms_phonebook_t *self)
{
    return self->delta.count + self->dead.count;
}

//  Mark entry E removed (its texts freed and its slot reused after the
//  next merge: the sorted arrays still point to them)
static void
s_kill (tms_phonebook_t *self, uint32_t e)
{
    self->entries [e].gen = S_DEAD;
    self->live--;
    //  Out of memory: the slot is not reused, nothing worse
    s_list_push (&self->dead, e);
}

bool
tms_phonebook_touch (tms_phonebook_t *self, const char *id, uint64_t text_hash)
{
    size_t slot = s_slot (self, id);
    if (!self->table [slot])
        return false;
    s_entry_t *entry = &self->entries [self->table [slot] - 1];
    if (entry->hash != text_hash)
        return false;
    entry->gen = self->gen;
    return true;
}

bool
tms_phonebook_remove (tms_phonebook_t *self, const char *id)
{
    size_t slot = s_slot (self, id);
    if (!self->table [slot])
        return false;
    s_kill (self, self->table [slot] - 1);
    s_table_delete (self, slot);
    return true;
}

//  Room for one more entry. 0 or -1.
static int
s_entries_reserve (tms_phonebook_t *self)
{
    if (self->free.count || self->count < self->max)
        return 0;
    size_t max = self->max ? self->max * 2 : 1024;
    s_entry_t *entries = max < UINT32_MAX ? realloc (self->entries, max * sizeof *entries) : NULL;
    if (!entries)
        return -1;
    self->entries = entries;
    self->max = max;
    return 0;
}

int
tms_phonebook_put (tms_phonebook_t *self, const char *id, const char *book, const char *name, const char *uri,
                   const char *number, uint64_t text_hash)
{
    char sortkey [S_KEY_MAX], tokens [S_TOKENS_MAX];
    tms_directory_tokens (name, number, uri, sortkey, sizeof sortkey, tokens, sizeof tokens);
    const char *texts [S_FIELDS] = { book, name, uri, number, sortkey, tokens };
    size_t lens [S_FIELDS + 1], total = (lens [S_FIELDS] = strlen (id)) + 1;
    for (int f = 0; f < S_FIELDS; f++)
        total += (lens [f] = strlen (texts [f] ? texts [f] : "")) + 1;
    total += lens [S_TOKENS] > 0;
    char *blob = total <= S_BLOB_MAX ? malloc (total) : NULL;
    if (!blob || s_table_grow (self) != 0 || s_entries_reserve (self) != 0) {
        free (blob);
        tms_phonebook_remove (self, id);
        return -1;
    }
    s_entry_t entry = { blob, text_hash, self->gen, { 0 } };
    size_t at = lens [S_FIELDS] + 1;
    memcpy (blob, id, at);
    for (int f = 0; f < S_FIELDS; f++) {
        entry.off [f] = (uint16_t) at;
        memcpy (blob + at, texts [f] ? texts [f] : "", lens [f] + 1);
        at += lens [f] + 1;
    }
    //  Tokens: "\n" between them become 0s, one more 0 ends them
    for (char *p = blob + entry.off [S_TOKENS]; *p; p++)
        if (*p == '\n')
            *p = 0;
    if (lens [S_TOKENS])
        blob [at] = 0;
    size_t slot = s_slot (self, id);
    if (self->table [slot])
        s_kill (self, self->table [slot] - 1);
    uint32_t e = self->free.count ? self->free.items [--self->free.count] : (uint32_t) self->count++;
    self->entries [e] = entry;
    self->table [slot] = e + 1;
    self->live++;
    if (s_list_push (&self->delta, e) != 0) {
        tms_phonebook_remove (self, id);
        return -1;
    }
    return 0;
}

void
tms_phonebook_sweep_begin (tms_phonebook_t *self)
{
    self->gen++;
}

size_t
tms_phonebook_sweep_end (tms_phonebook_t *self)
{
    size_t removed = 0;
    for (size_t e = 0; e < self->count; e++)
        if (self->entries [e].blob && s_live (self, (uint32_t) e) && self->entries [e].gen != self->gen) {
            tms_phonebook_remove (self, self->entries [e].blob);
            removed++;
        }
    return removed;
}

// ---------------------------------------------------------------------------
//  The sorted arrays

void
tms_phonebook_set_alive (tms_phonebook_t *self, tms_phonebook_alive_fn *alive, void *arg)
{
    self->alive = alive;
    self->alive_arg = arg;
}

//  Every 64K steps of a long merge or sort: tell the owner
static inline void
s_step (tms_phonebook_t *self, size_t step)
{
    if (self->alive && (step & 0xFFFF) == 0)
        self->alive (self->alive_arg);
}

//  Sort KEYS: runs of 64K sorted, then merged pairwise (the owner is told
//  it is alive in between). 0 or -1.
static int
s_sort (tms_phonebook_t *self, s_keys_t *keys)
{
    const size_t run = 65536;
    for (size_t lo = 0; lo < keys->count; lo += run) {
        size_t n = keys->count - lo < run ? keys->count - lo : run;
        qsort_r (keys->items + lo, n, sizeof (s_key_t), s_key_compare, self);
        s_step (self, 0);
    }
    if (keys->count <= run)
        return 0;
    s_key_t *from = keys->items, *to = malloc (keys->count * sizeof (s_key_t));
    if (!to)
        return -1;
    size_t step = 0;
    for (size_t width = run; width < keys->count; width *= 2) {
        for (size_t lo = 0; lo < keys->count; lo += 2 * width) {
            size_t mid = lo + width < keys->count ? lo + width : keys->count;
            size_t hi = lo + 2 * width < keys->count ? lo + 2 * width : keys->count;
            size_t i = lo, j = mid, k = lo;
            while (i < mid || j < hi) {
                bool right = i == mid || (j < hi && s_key_compare (&from [j], &from [i], self) < 0);
                to [k++] = right ? from [j++] : from [i++];
                s_step (self, ++step);
            }
        }
        s_key_t *swap = from;
        from = to;
        to = swap;
    }
    free (to);
    keys->items = from;
    keys->max = keys->count;
    return 0;
}

//  The keys of the live entries of the delta, sorted, into NAMES and TOKENS
static int
s_delta_keys (tms_phonebook_t *self, s_keys_t *names, s_keys_t *tokens)
{
    for (size_t i = 0; i < self->delta.count; i++) {
        uint32_t e = self->delta.items [i];
        s_step (self, i);
        if (!s_live (self, e))
            continue;
        if (s_keys_reserve (names, names->count + 1) != 0)
            return -1;
        names->items [names->count++] = s_name_key (self, e);
        const char *blob = self->entries [e].blob;
        uint64_t name = names->items [names->count - 1].prefix, name_next = names->items [names->count - 1].next;
        for (const char *token = s_text (self, e, S_TOKENS); *token; token += strlen (token) + 1) {
            if (s_keys_reserve (tokens, tokens->count + 1) != 0)
                return -1;
            s_key_t key = { s_prefix (token), s_next (token), name, name_next, e, (uint16_t) (token - blob) };
            tokens->items [tokens->count++] = key;
        }
    }
    return s_sort (self, names) == 0 && s_sort (self, tokens) == 0 ? 0 : -1;
}

//  KEYS merged with the sorted ADD (emptied when taken over) into OUT,
//  leaving out removed entries. 0 or -1.
static int
s_merge (tms_phonebook_t *self, const s_keys_t *keys, s_keys_t *add, s_keys_t *out)
{
    if (!keys->count) {
        //  ADD (live entries only) taken as it is
        *out = *add;
        memset (add, 0, sizeof *add);
        return 0;
    }
    out->max = keys->count + add->count + 1;
    out->items = malloc (out->max * sizeof (s_key_t));
    if (!out->items)
        return -1;
    size_t n = 0, i = 0, j = 0;
    while (i < keys->count || j < add->count) {
        bool take_add = i == keys->count
                     || (j < add->count && s_key_compare (&add->items [j], &keys->items [i], self) < 0);
        const s_key_t *key = take_add ? &add->items [j++] : &keys->items [i++];
        if (s_live (self, key->entry))
            out->items [n++] = *key;
        s_step (self, i + j);
    }
    out->count = n;
    return 0;
}

int
tms_phonebook_settle (tms_phonebook_t *self)
{
    if (!tms_phonebook_pending (self))
        return 0;
    s_keys_t names = { 0 }, tokens = { 0 }, new_names = { 0 }, new_tokens = { 0 };
    //  Both merged before either is kept: a failure leaves them as they were
    int rc = s_delta_keys (self, &names, &tokens);
    if (rc == 0)
        rc = s_merge (self, &self->names, &names, &new_names);
    free (names.items);
    if (rc == 0)
        rc = s_merge (self, &self->tokens, &tokens, &new_tokens);
    free (tokens.items);
    if (rc != 0) {
        free (new_names.items);
        free (new_tokens.items);
        return -1;
    }
    free (self->names.items);
    free (self->tokens.items);
    self->names = new_names;
    self->tokens = new_tokens;
    self->delta.count = 0;
    for (size_t i = 0; i < self->dead.count; i++) {
        uint32_t e = self->dead.items [i];
        s_step (self, i);
        free (self->entries [e].blob);
        self->entries [e].blob = NULL;
        s_list_push (&self->free, e);
    }
    self->dead.count = 0;
    return 0;
}

// ---------------------------------------------------------------------------
//  Search

//  The first index of KEYS whose text, cut to QLEN bytes, is not below Q
//  (ABOVE: above Q)
static size_t
s_bound (const tms_phonebook_t *self, const s_keys_t *keys, const char *q, size_t qlen, bool above)
{
    size_t lo = 0, hi = keys->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const s_key_t *key = &keys->items [mid];
        int c = strncmp (self->entries [key->entry].blob + key->off, q, qlen);
        if (c < 0 || (above && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

//  True when entry E is live and its sort key or a token starts with Q
static bool
s_matches (const tms_phonebook_t *self, uint32_t e, const char *q, size_t qlen)
{
    if (!s_live (self, e))
        return false;
    if (strncmp (s_text (self, e, S_SORTKEY), q, qlen) == 0)
        return true;
    for (const char *token = s_text (self, e, S_TOKENS); *token; token += strlen (token) + 1)
        if (strncmp (token, q, qlen) == 0)
            return true;
    return false;
}

//  The first matches by name, at most MAX (sorted, each entry once)
typedef struct {
    s_key_t *items;
    size_t count, max;
} s_top_t;

//  Add entry E (live) to TOP unless it is there or comes after the first MAX
static void
s_top_add (const tms_phonebook_t *self, s_top_t *top, uint32_t e)
{
    s_key_t key = s_name_key (self, e);
    if (top->count == top->max && s_key_compare (&key, &top->items [top->count - 1], (void *) self) >= 0)
        return;
    for (size_t i = 0; i < top->count; i++)
        if (top->items [i].entry == e)
            return;
    size_t at = top->count < top->max ? top->count++ : top->max - 1;
    while (at > 0 && s_key_compare (&key, &top->items [at - 1], (void *) self) < 0) {
        top->items [at] = top->items [at - 1];
        at--;
    }
    top->items [at] = key;
}

//  The first matches by name of the token range [LO, HI) into TOP: most
//  are left out by the first 16 bytes of their sort key alone
static void
s_top_scan (const tms_phonebook_t *self, size_t lo, size_t hi, s_top_t *top)
{
    for (size_t i = lo; i < hi; i++) {
        const s_key_t *token = &self->tokens.items [i];
        const s_key_t *worst = &top->items [top->max - 1];
        if (top->count == top->max
            && (token->name > worst->prefix || (token->name == worst->prefix && token->name_next > worst->next)))
            continue;
        if (s_live (self, token->entry))
            s_top_add (self, top, token->entry);
    }
}

size_t
tms_phonebook_search (tms_phonebook_t *self, const char *q, size_t limit, tms_phonebook_entry_t *out, bool *more)
{
    if (self->delta.count > S_DELTA_MAX)
        tms_phonebook_settle (self);
    if (limit > S_LIMIT_MAX)
        limit = S_LIMIT_MAX;
    size_t qlen = strlen (q);
    size_t nlo = s_bound (self, &self->names, q, qlen, false), nhi = s_bound (self, &self->names, q, qlen, true);
    size_t tlo = s_bound (self, &self->tokens, q, qlen, false), thi = s_bound (self, &self->tokens, q, qlen, true);
    //  TOP: the first matches by name besides the name range
    s_key_t items [S_LIMIT_MAX + 1];
    s_top_t top = { items, 0, limit + 1 };
    if (thi - tlo <= S_SCAN_MAX)
        s_top_scan (self, tlo, thi, &top);
    else {
        //  Broad: the names in order, tested, up to the limit
        size_t missed = 0;
        for (size_t i = 0; i < self->names.count && top.count < top.max; i++) {
            uint32_t e = self->names.items [i].entry;
            if (s_matches (self, e, q, qlen))
                s_top_add (self, &top, e);
            else if (++missed > S_WALK_MAX) {
                //  Few matches early in the name order
                s_top_scan (self, tlo, thi, &top);
                break;
            }
        }
    }
    for (size_t i = 0; i < self->delta.count; i++)
        if (s_matches (self, self->delta.items [i], q, qlen))
            s_top_add (self, &top, self->delta.items [i]);
    s_top_t cand = top;
    //  Merged with the name range, each entry once
    size_t n = 0, i = 0, j = nlo;
    uint32_t last = UINT32_MAX;
    while (n <= limit && (i < cand.count || j < nhi)) {
        if (j < nhi && !s_live (self, self->names.items [j].entry)) {
            j++;
            continue;
        }
        bool take_cand = j == nhi
                      || (i < cand.count && s_key_compare (&cand.items [i], &self->names.items [j], self) <= 0);
        uint32_t e = take_cand ? cand.items [i++].entry : self->names.items [j++].entry;
        if (e == last)
            continue;
        last = e;
        if (n < limit) {
            out [n].id = self->entries [e].blob;
            out [n].book = s_text (self, e, S_BOOK);
            out [n].name = s_text (self, e, S_NAME);
            out [n].uri = s_text (self, e, S_URI);
            out [n].number = s_text (self, e, S_NUMBER);
        }
        n++;
    }
    *more = n > limit;
    return n > limit ? limit : n;
}
