/*  digest.h - HTTP digest authentication as SIP uses it (RFC 3261 22.4,
    RFC 7616, RFC 8760): parsing a credentials value (Authorization or
    Proxy-Authorization), HA1 and response computation with SHA-256 and
    MD5, challenge lines, and stateless nonces.

    A nonce is the time it was made (seconds) and an HMAC-SHA-256 of that
    time and the realm under a key made at start (cw_digest_key_new), in
    hex: any peer start checks its own nonces without remembering them,
    and a nonce of another start or another peer fails its MAC. The module
    is pure: no sockets, no clock, no allocation; the tests need nothing
    else.
*/
#ifndef CW_DIGEST_H
#define CW_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CW_DIGEST_MD5 = 0,
    CW_DIGEST_SHA256 = 1
} cw_digest_alg_t;

#define CW_DIGEST_HEX_MAX 65      //  SHA-256 in hex, with its NUL
#define CW_DIGEST_KEY_BYTES 32    //  the nonce key
#define CW_DIGEST_NONCE_MAX 49    //  16 hex of time + 32 hex of MAC, NUL

//  A parsed credentials value: each field a NUL-terminated copy, quotes
//  and escapes removed ("" when absent).
typedef struct {
    cw_digest_alg_t alg;    //  from algorithm= (MD5 when absent)
    char username [128];
    char realm [128];
    char nonce [128];
    char uri [512];
    char response [CW_DIGEST_HEX_MAX];
    char cnonce [128];
    char opaque [128];
    char qop [16];    //  "auth" or ""
    char nc [9];      //  8 hex digits or ""
} cw_digest_creds_t;

//  The name of ALG as written in algorithm= ("MD5", "SHA-256").
const char *cw_digest_alg_name (cw_digest_alg_t alg);
//  Hex length of ALG's digests (32 or 64).
size_t cw_digest_hex_len (cw_digest_alg_t alg);

//  Parse VALUE (LEN bytes, not necessarily NUL-terminated): the scheme
//  "Digest" then name=value pairs. Unknown parameters are ignored. Fails
//  (-1, with the reason in ERR) for another scheme, bad syntax, a
//  parameter given twice, a value too long for its field, a missing
//  username, realm, nonce, uri or response, an algorithm other than MD5
//  or SHA-256, a qop other than auth, qop=auth without nc (8 hex digits)
//  and cnonce, userhash=true, or a response that is not hex of the
//  algorithm's length. 0 on success. Never reads past VALUE + LEN.
int cw_digest_parse (const char *value, size_t len, cw_digest_creds_t *creds, char *err, size_t errlen);

//  HA1 = H(user ":" realm ":" password) in lower-case hex into HEX (at
//  least CW_DIGEST_HEX_MAX bytes).
void cw_digest_ha1 (cw_digest_alg_t alg, const char *user, const char *realm, const char *password, char *hex);

//  The response CREDS should carry for METHOD, given HA1 (hex): with
//  qop=auth H(HA1:nonce:nc:cnonce:auth:H(METHOD:uri)), without qop
//  H(HA1:nonce:H(METHOD:uri)). Into HEX (CW_DIGEST_HEX_MAX bytes).
void cw_digest_response (const cw_digest_creds_t *creds, const char *ha1, const char *method, char *hex);

//  True when CREDS' response is the right one for METHOD and HA1
//  (compared in constant time, hex case ignored).
bool cw_digest_verify (const cw_digest_creds_t *creds, const char *ha1, const char *method);

//  A new random nonce key into KEY.
void cw_digest_key_new (uint8_t key [CW_DIGEST_KEY_BYTES]);

//  A nonce for REALM made at NOW_S (seconds) into NONCE
//  (CW_DIGEST_NONCE_MAX bytes).
void cw_digest_nonce_make (const uint8_t key [CW_DIGEST_KEY_BYTES], const char *realm, int64_t now_s, char *nonce);

typedef enum {
    CW_NONCE_VALID = 0,
    CW_NONCE_STALE,     //  ours, but older than LIFETIME_S
    CW_NONCE_INVALID    //  not made with this key for this realm, or from the future
} cw_nonce_status_t;

//  Check NONCE for REALM at NOW_S: made with KEY, at most LIFETIME_S
//  seconds ago (and not more than a few seconds ahead).
cw_nonce_status_t cw_digest_nonce_check (const uint8_t key [CW_DIGEST_KEY_BYTES], const char *realm, const char *nonce,
                                         int64_t now_s, int lifetime_s);

//  One challenge header line, "WWW-Authenticate: Digest realm=...,
//  nonce=..., [opaque=...,] algorithm=ALG, qop=\"auth\"[, stale=true]\r\n"
//  (Proxy-Authenticate when PROXY), into BUF. OPAQUE may be NULL. Returns
//  the length written, or -1 when it does not fit (BUF then "").
int cw_digest_challenge (cw_digest_alg_t alg, const char *realm, const char *nonce, const char *opaque, bool stale,
                         bool proxy, char *buf, size_t size);

//  True when REALM can be written in a challenge: 1..127 printable ASCII
//  characters, no '"' and no '\\'.
bool cw_digest_realm_valid (const char *realm);

#endif
