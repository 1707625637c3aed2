/*  phonebook.h - the phone book entries (tms.phonebooks) in memory, indexed
    for prefix search.

    Each entry is kept once (its texts in one block) and found by id
    through a hash table. Its search keys are the normalised name (the
    sort key) and its tokens (tms_directory_tokens: the name from each
    later word, the number's digits, the URI without its scheme); they
    are held in two sorted arrays of (key, entry): names and tokens. A
    new or changed entry goes to a small unsorted delta, merged into the
    sorted arrays (one linear merge) by tms_phonebook_settle or when a
    search finds the delta bigger than a few thousand entries; a removed
    or replaced entry is marked dead and dropped from the arrays at the
    next merge, its slot then reused.

    A search for a query key Q (tms_directory_query_key) matches the
    entries whose sort key or a token starts with Q, ordered by sort key
    then id. The name range and the token range are found by binary
    search; the name range is in order already; the first matches by
    name of the token range are picked by a scan that compares the first
    16 bytes of each entry's sort key (kept in the token array) and reads
    few texts; a very broad token range (most entries match) is handled
    by walking the names array in order, testing each entry, until the
    limit is passed.

    Not thread safe; the returned texts are valid until the next change.
*/
#ifndef TMS_PHONEBOOK_H
#define TMS_PHONEBOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _tms_phonebook_t tms_phonebook_t;

typedef struct {
    const char *id;
    const char *book;
    const char *name;
    const char *uri;
    const char *number;
} tms_phonebook_entry_t;

//  An empty phone book; NULL when out of memory
tms_phonebook_t *tms_phonebook_new (void);
void tms_phonebook_destroy (tms_phonebook_t **self_p);

//  Live entries
size_t tms_phonebook_size (tms_phonebook_t *self);

//  True when entry ID is there with TEXT_HASH (a hash of the row's text):
//  it is then marked seen by the current sweep (tms_phonebook_sweep_begin)
bool tms_phonebook_touch (tms_phonebook_t *self, const char *id, uint64_t text_hash);

//  Put (add or replace) entry ID with its texts (NULL reads as ""),
//  marked seen by the current sweep. 0, or -1 when out of memory or
//  the texts are too long (over 60,000 bytes together): then ID is
//  not there.
int tms_phonebook_put (tms_phonebook_t *self, const char *id, const char *book, const char *name, const char *uri,
                       const char *number, uint64_t text_hash);

//  Remove entry ID: true when it was there
bool tms_phonebook_remove (tms_phonebook_t *self, const char *id);

//  A full read of the entries: begin marks every entry unseen; after
//  putting (or touching) every entry read, end removes those not seen.
//  Returns the number removed.
void tms_phonebook_sweep_begin (tms_phonebook_t *self);
size_t tms_phonebook_sweep_end (tms_phonebook_t *self);

//  A long merge (a big load: seconds) calls ALIVE (ARG) every few
//  milliseconds, e.g. to send the actor's heartbeat
typedef void (tms_phonebook_alive_fn) (void *arg);
void tms_phonebook_set_alive (tms_phonebook_t *self, tms_phonebook_alive_fn *alive, void *arg);

//  Entries changed since the last merge (not in the sorted arrays yet)
size_t tms_phonebook_pending (tms_phonebook_t *self);

//  Merge the changes into the sorted arrays. 0 or -1 (out of memory:
//  they stay pending, searches still find them).
int tms_phonebook_settle (tms_phonebook_t *self);

//  The entries matching the query key Q (non-empty), ordered by sort key
//  then id: the first LIMIT into OUT (room for LIMIT), their count
//  returned, *MORE telling whether there are others.
size_t tms_phonebook_search (tms_phonebook_t *self, const char *q, size_t limit, tms_phonebook_entry_t *out,
                             bool *more);

#endif
