/*  keyring.h - this peer's option keys: the signed texts in licensing.db,
    verified against the bootstrap file's issuers.

    The text as installed is the truth: every key is verified again at load,
    and by cw_keyring_verify (expiry every minute, the binding when the
    system name changes); what counts (capacity per kind, feature names)
    comes from the keys that verify now.
*/
#ifndef CW_KEYRING_H
#define CW_KEYRING_H

#include <jansson.h>
#include <time.h>

#include "cw_bootstrap.h"
#include "keystore.h"
#include "pool.h"
#include "rules.h"

#define CW_KEYRING_MAX 256    //  keys one peer may hold

typedef struct {
    cw_license_issuer_t issuers [CW_LICENSE_MAX_ISSUERS];
    size_t issuer_count;
    cw_keystore_t *store;    //  borrowed
    cw_lkey_t keys [CW_KEYRING_MAX];
    char texts [CW_KEYRING_MAX][CW_LICENSE_MAX_TEXT + 1];
    size_t count;
} cw_keyring_t;

//  Read the issuers of BOOT (a file that does not load is logged and
//  skipped) and the keys in STORE (borrowed, outlives SELF).
void cw_keyring_init (cw_keyring_t *self, cw_keystore_t *store, const cw_bootstrap_t *boot);

//  Verify every key at NOW for SYSTEM_NAME; what counts into INSTALLED
//  (per capacity kind) and FEATURES (a JSON array, appended to).
void cw_keyring_verify (cw_keyring_t *self, const char *system_name, time_t now, int64_t installed [CW_POOL_KINDS],
                        json_t *features);

//  Verify TEXT and install it (durably) when it is valid: 0 with the key
//  in ADDED, or -1 with the refusal in ERR (the verifier's words).
int cw_keyring_add (cw_keyring_t *self, const char *text, const char *system_name, cw_lkey_t *added, char *err,
                    size_t errlen);
//  Remove the key named by KEY (its text or its serial): 0 with its serial
//  in SERIAL, or -1 with ERR.
int cw_keyring_remove (cw_keyring_t *self, const char *key, char serial [64], char *err, size_t errlen);

//  KEY as license.list shows it (never the signature). New reference.
json_t *cw_keyring_key_json (const cw_lkey_t *key);

#endif
