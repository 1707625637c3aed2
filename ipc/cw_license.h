/*  cw_license.h - option keys: the signed token, its kinds, and issuers.

    A key is one line of text:

        CWL1.<payload>.<signature>

    <payload> is base64url (no padding) of a compact JSON object
        {"v":1, "serial":"<32 hex>", "issuer":"<16 hex key id>",
         "kind":"rich_media_sessions", "count":50,
         "system":"peer1",          (optional: bound to this system name)
         "expires":"2027-12-31",    (optional: last day it is valid, UTC)
         "issued":"2026-11-30"}
    and <signature> is base64url of the Ed25519 signature (libsodium
    crypto_sign_detached) of the bytes "CWL1." + <payload>, made with the
    issuer's secret key. The key id is the first 8 bytes (16 hex digits) of
    the BLAKE2b-256 hash of the issuer's public key, so a verifier finds the
    issuer to check with.

    Kinds: the capacity kinds rich_media_sessions, room_systems,
    desktop_systems, traversal_calls, non_traversal_calls (count 1..1000000,
    pooled across the cluster), and feature kinds "feature:<name>" (<name>
    1-48 of [a-z0-9-], count 1; must be the same set on every peer).

    Files: an issuer's public key file holds one line
        causeway-license-issuer ed25519 <base64 public key>
    and its secret key file (mode 0600) one line
        causeway-license-secret ed25519 <base64 64-byte secret key>

    Decoding never trusts its input: a malformed token, a bad signature,
    an unknown issuer, an expired key and a key bound to another system are
    told apart (cw_license_status_t) with a message saying which.
*/
#ifndef CW_LICENSE_H
#define CW_LICENSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CW_LICENSE_PREFIX "CWL1."
#define CW_LICENSE_MAX_TEXT 1024    //  a key longer than this is malformed
#define CW_LICENSE_KIND_MAX 64      //  "feature:" + 48 + NUL fits
#define CW_LICENSE_SYSTEM_MAX 64
#define CW_LICENSE_KEY_ID_HEX 16
#define CW_LICENSE_PUBLIC_BYTES 32
#define CW_LICENSE_SECRET_BYTES 64
#define CW_LICENSE_MAX_ISSUERS 16
#define CW_LICENSE_COUNT_MAX 1000000

//  The capacity kinds, in this order (index = cw_license_capacity_index).
#define CW_LICENSE_CAPACITY_KINDS 5
extern const char *const cw_license_capacity_kinds [CW_LICENSE_CAPACITY_KINDS];

typedef enum {
    CW_LICENSE_OK = 0,
    CW_LICENSE_MALFORMED,    //  not a CWL1 token, bad base64/JSON, bad field
    CW_LICENSE_UNKNOWN_ISSUER,    //  forged: no configured issuer has its key id
    CW_LICENSE_BAD_SIGNATURE,     //  altered: the signature does not match
    CW_LICENSE_EXPIRED,           //  valid, but its expiry day is past
    CW_LICENSE_WRONG_SYSTEM       //  valid, but bound to another system name
} cw_license_status_t;

typedef struct {
    char serial [33];                       //  32 hex digits, unique per key
    char issuer [CW_LICENSE_KEY_ID_HEX + 1];    //  key id of the issuer
    char kind [CW_LICENSE_KIND_MAX];
    int64_t count;
    char system [CW_LICENSE_SYSTEM_MAX];    //  "" = not bound
    char expires [11];                      //  "YYYY-MM-DD" or "" = never
    char issued [11];                       //  "YYYY-MM-DD"
} cw_license_key_t;

typedef struct {
    char key_id [CW_LICENSE_KEY_ID_HEX + 1];
    unsigned char public_key [CW_LICENSE_PUBLIC_BYTES];
    char path [512];    //  the file it was read from, for messages
} cw_license_issuer_t;

//  True for a capacity kind or a well-formed "feature:<name>".
bool cw_license_kind_valid (const char *kind);
bool cw_license_kind_is_feature (const char *kind);
//  Index of capacity KIND in cw_license_capacity_kinds, or -1.
int cw_license_capacity_index (const char *kind);

//  The key id (16 hex + NUL into OUT) of PUBLIC_KEY.
void cw_license_key_id (const unsigned char public_key [CW_LICENSE_PUBLIC_BYTES], char out [CW_LICENSE_KEY_ID_HEX + 1]);

//  Read an issuer's public key file. 0, or -1 with the reason (naming the
//  file and, for a bad line, the line number) in ERR.
int cw_license_issuer_load (const char *path, cw_license_issuer_t *issuer, char *err, size_t errlen);

//  Make a new issuer key pair: DIR/issuer.key (0600, refused if it exists)
//  and DIR/issuer.pub. 0, or -1 with the reason in ERR.
int cw_license_keygen (const char *dir, char *err, size_t errlen);

//  Read a secret key file (refused when group or others may read it).
int cw_license_secret_load (const char *path, unsigned char secret [CW_LICENSE_SECRET_BYTES], char *err,
                            size_t errlen);

//  Issue a key: fills a fresh serial, issuer and issued date in KEY (kind,
//  count, system and expires are the caller's, validated here) and writes
//  the token (NUL-terminated) to OUT. 0, or -1 with the reason in ERR.
int cw_license_issue (const unsigned char secret [CW_LICENSE_SECRET_BYTES], cw_license_key_t *key, char *out,
                      size_t outlen, char *err, size_t errlen);

//  Decode TEXT (surrounding white space ignored) into KEY without checking
//  the signature (for `show`). CW_LICENSE_OK or MALFORMED with ERR.
cw_license_status_t cw_license_decode (const char *text, cw_license_key_t *key, char *err, size_t errlen);

//  Decode and verify TEXT against ISSUERS (COUNT of them), expiry against
//  NOW (UTC day) and binding against SYSTEM_NAME (NULL = not checked).
//  KEY is filled whenever the payload decoded (also for EXPIRED and
//  WRONG_SYSTEM). ERR says what is wrong in words an operator understands,
//  e.g. "refused: the key is expired (it was valid until 2025-01-31)".
cw_license_status_t cw_license_verify (const char *text, const cw_license_issuer_t *issuers, size_t count,
                                       time_t now, const char *system_name, cw_license_key_t *key, char *err,
                                       size_t errlen);

//  "ok" | "malformed" | "forged" | "altered" | "expired" | "wrong system".
const char *cw_license_status_name (cw_license_status_t status);

//  Days from NOW until the end of KEY's expiry day (0 = expires today,
//  negative = expired); INT32_MAX when the key never expires.
int cw_license_days_left (const cw_license_key_t *key, time_t now);

#endif
