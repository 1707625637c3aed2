/*  keystore.h - the licensing actor's durable state: <state_dir>/licensing.db.

    Two tables. `keys` holds the option keys installed on this peer, as
    the signed text the operator added (verified again at every start:
    the text is the truth, nothing derived is trusted from disk). `state`
    is a small key -> JSON store for what must outlive a restart of the
    actor or the node: what this peer knows of every other peer (by
    address: its keys, when it was lost), the primary's ledger of
    reservations, and the last ledger epoch.

    WAL with synchronous=FULL: an add or remove is answered only after it
    is committed, so it survives kill -9 of any process and a power cut.
    The file is peer-scope: never replicated, and a factory reset leaves
    it alone (option keys stay, as on Expressway).
*/
#ifndef CW_KEYSTORE_H
#define CW_KEYSTORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CW_KEYSTORE_FILE "licensing.db"

typedef struct _cw_keystore_t cw_keystore_t;

//  Open (create) DIR/licensing.db. A state_dir that cannot be used is
//  named in ERR (cw_statefile.h). A database recorded as having existed
//  but now missing or empty, or one SQLite finds damaged, is moved aside
//  and a fresh one started: *REPLACED (malloc'd, the caller frees; NULL
//  when nothing happened) says what and where it went, for alarm 10002.
//  NULL with the reason in ERR when nothing could be opened.
cw_keystore_t *cw_keystore_open (const char *dir, char **replaced, char *err, size_t errlen);
void cw_keystore_destroy (cw_keystore_t **self_p);

//  Store key TEXT under SERIAL. 0; 1 when SERIAL is already installed;
//  -1 with ERR.
int cw_keystore_add (cw_keystore_t *self, const char *serial, const char *text, char *err, size_t errlen);
//  Remove the key with serial SERIAL. 0; 1 when there is none; -1 with ERR.
int cw_keystore_remove (cw_keystore_t *self, const char *serial, char *err, size_t errlen);
//  Call FN for every installed key, oldest first.
typedef void (cw_keystore_key_fn) (const char *serial, const char *text, void *arg);
int cw_keystore_each_key (cw_keystore_t *self, cw_keystore_key_fn *fn, void *arg);

//  The JSON stored under NAME (new reference), or NULL.
json_t *cw_keystore_get (cw_keystore_t *self, const char *name);
//  Store VALUE (borrowed) under NAME; NULL deletes. 0 or -1.
int cw_keystore_put (cw_keystore_t *self, const char *name, json_t *value);
//  Call FN for every NAME that starts with PREFIX.
typedef void (cw_keystore_state_fn) (const char *name, json_t *value, void *arg);
int cw_keystore_each (cw_keystore_t *self, const char *prefix, cw_keystore_state_fn *fn, void *arg);

#endif
