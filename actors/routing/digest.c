/*  digest.c - HTTP digest authentication for SIP (see digest.h).

    The parser walks the value once with an index that is checked against
    its length before every read: a name is a token, a value a token or a
    quoted string (with backslash escapes), pairs are separated by commas
    and optional white space (folded lines included). Each known name has
    a field of fixed size; a value that does not fit is refused, never cut.

    Hashes: MD5 and SHA-256 through OpenSSL's EVP, the nonce MAC with
    libsodium's HMAC-SHA-256, comparisons in constant time.
*/
#include "digest.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_NONCE_SKEW_S 5    //  a nonce may come from a clock this far ahead

const char *
cw_digest_alg_name (cw_digest_alg_t alg)
{
    return alg == CW_DIGEST_SHA256 ? "SHA-256" : "MD5";
}

size_t
cw_digest_hex_len (cw_digest_alg_t alg)
{
    return alg == CW_DIGEST_SHA256 ? 64 : 32;
}

// ---------------------------------------------------------------------------
//  Hashing

typedef struct {
    EVP_MD_CTX *ctx;
    bool failed;
} s_hash_t;

static void
s_hash_begin (s_hash_t *self, cw_digest_alg_t alg)
{
    self->ctx = EVP_MD_CTX_new ();
    self->failed = !self->ctx
                || EVP_DigestInit_ex (self->ctx, alg == CW_DIGEST_SHA256 ? EVP_sha256 () : EVP_md5 (), NULL) != 1;
}

//  Add TEXT, preceded by ':' unless FIRST.
static void
s_hash_add (s_hash_t *self, const char *text, bool first)
{
    if (self->failed)
        return;
    if ((!first && EVP_DigestUpdate (self->ctx, ":", 1) != 1) || EVP_DigestUpdate (self->ctx, text, strlen (text)) != 1)
        self->failed = true;
}

//  The digest in lower-case hex into HEX (CW_DIGEST_HEX_MAX bytes); ""
//  when the library failed (matches no response).
static void
s_hash_end (s_hash_t *self, char *hex)
{
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    hex [0] = 0;
    if (!self->failed && EVP_DigestFinal_ex (self->ctx, md, &len) == 1 && len * 2 < CW_DIGEST_HEX_MAX)
        sodium_bin2hex (hex, CW_DIGEST_HEX_MAX, md, len);
    EVP_MD_CTX_free (self->ctx);
    self->ctx = NULL;
}

void
cw_digest_ha1 (cw_digest_alg_t alg, const char *user, const char *realm, const char *password, char *hex)
{
    s_hash_t hash;
    s_hash_begin (&hash, alg);
    s_hash_add (&hash, user, true);
    s_hash_add (&hash, realm, false);
    s_hash_add (&hash, password, false);
    s_hash_end (&hash, hex);
}

void
cw_digest_response (const cw_digest_creds_t *creds, const char *ha1, const char *method, char *hex)
{
    char ha2 [CW_DIGEST_HEX_MAX];
    s_hash_t hash;
    s_hash_begin (&hash, creds->alg);
    s_hash_add (&hash, method, true);
    s_hash_add (&hash, creds->uri, false);
    s_hash_end (&hash, ha2);

    s_hash_begin (&hash, creds->alg);
    s_hash_add (&hash, ha1, true);
    s_hash_add (&hash, creds->nonce, false);
    if (creds->qop [0]) {
        s_hash_add (&hash, creds->nc, false);
        s_hash_add (&hash, creds->cnonce, false);
        s_hash_add (&hash, creds->qop, false);
    }
    s_hash_add (&hash, ha2, false);
    s_hash_end (&hash, hex);
}

bool
cw_digest_verify (const cw_digest_creds_t *creds, const char *ha1, const char *method)
{
    char expected [CW_DIGEST_HEX_MAX], given [CW_DIGEST_HEX_MAX];
    cw_digest_response (creds, ha1, method, expected);
    size_t len = cw_digest_hex_len (creds->alg);
    if (strlen (expected) != len || strlen (creds->response) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        given [i] = (char) tolower ((unsigned char) creds->response [i]);
    return sodium_memcmp (expected, given, len) == 0;
}

// ---------------------------------------------------------------------------
//  Nonces

void
cw_digest_key_new (uint8_t key [CW_DIGEST_KEY_BYTES])
{
    randombytes_buf (key, CW_DIGEST_KEY_BYTES);
}

//  The MAC part (32 hex) of the nonce with time part STAMP (16 hex).
static void
s_nonce_mac (const uint8_t key [CW_DIGEST_KEY_BYTES], const char *realm, const char *stamp, char *mac_hex)
{
    crypto_auth_hmacsha256_state state;
    unsigned char mac [crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init (&state, key, CW_DIGEST_KEY_BYTES);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) stamp, 16);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) ":", 1);
    crypto_auth_hmacsha256_update (&state, (const unsigned char *) realm, strlen (realm));
    crypto_auth_hmacsha256_final (&state, mac);
    sodium_bin2hex (mac_hex, 33, mac, 16);
}

void
cw_digest_nonce_make (const uint8_t key [CW_DIGEST_KEY_BYTES], const char *realm, int64_t now_s, char *nonce)
{
    snprintf (nonce, 17, "%016llx", (unsigned long long) now_s);
    s_nonce_mac (key, realm, nonce, nonce + 16);
}

cw_nonce_status_t
cw_digest_nonce_check (const uint8_t key [CW_DIGEST_KEY_BYTES], const char *realm, const char *nonce, int64_t now_s,
                       int lifetime_s)
{
    if (strnlen (nonce, CW_DIGEST_NONCE_MAX) != CW_DIGEST_NONCE_MAX - 1)
        return CW_NONCE_INVALID;
    uint64_t stamp = 0;
    for (int i = 0; i < CW_DIGEST_NONCE_MAX - 1; i++) {
        char c = nonce [i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return CW_NONCE_INVALID;
        if (i < 16)
            stamp = (stamp << 4) | (uint64_t) (c <= '9' ? c - '0' : c - 'a' + 10);
    }
    char mac [33];
    s_nonce_mac (key, realm, nonce, mac);
    if (sodium_memcmp (mac, nonce + 16, 32) != 0)
        return CW_NONCE_INVALID;
    if (stamp > (uint64_t) INT64_MAX || (int64_t) stamp > now_s + S_NONCE_SKEW_S)
        return CW_NONCE_INVALID;
    return now_s - (int64_t) stamp > lifetime_s ? CW_NONCE_STALE : CW_NONCE_VALID;
}

// ---------------------------------------------------------------------------
//  Challenges

bool
cw_digest_realm_valid (const char *realm)
{
    size_t len = realm ? strnlen (realm, 128) : 0;
    if (len == 0 || len > 127)
        return false;
    for (size_t i = 0; i < len; i++)
        if (realm [i] < 0x20 || realm [i] > 0x7e || realm [i] == '"' || realm [i] == '\\')
            return false;
    return true;
}

int
cw_digest_challenge (cw_digest_alg_t alg, const char *realm, const char *nonce, const char *opaque, bool stale,
                     bool proxy, char *buf, size_t size)
{
    char opaque_part [160] = "";
    if (opaque && *opaque)
        snprintf (opaque_part, sizeof opaque_part, ", opaque=\"%.127s\"", opaque);
    int n = snprintf (buf, size, "%s: Digest realm=\"%s\", nonce=\"%s\"%s, algorithm=%s, qop=\"auth\"%s\r\n",
                      proxy ? "Proxy-Authenticate" : "WWW-Authenticate", realm, nonce, opaque_part,
                      cw_digest_alg_name (alg), stale ? ", stale=true" : "");
    if (n < 0 || (size_t) n >= size) {
        if (size)
            buf [0] = 0;
        return -1;
    }
    return n;
}

// ---------------------------------------------------------------------------
//  Parsing

typedef struct {
    const char *text;
    size_t len;
    size_t pos;
} s_cursor_t;

static bool
s_at (s_cursor_t *self, char c)
{
    return self->pos < self->len && self->text [self->pos] == c;
}

static void
s_skip_space (s_cursor_t *self)
{
    while (self->pos < self->len
           && (self->text [self->pos] == ' ' || self->text [self->pos] == '\t' || self->text [self->pos] == '\r'
               || self->text [self->pos] == '\n'))
        self->pos++;
}

//  RFC 3261 token characters
static bool
s_token_char (char c)
{
    return isalnum ((unsigned char) c) || (c && strchr ("-.!%*_+`'~", c));
}

//  A token or a quoted string into BUF (SIZE bytes). -1 when it is
//  empty, unterminated, holds a NUL or a control character, or does not fit.
static int
s_value (s_cursor_t *self, char *buf, size_t size)
{
    size_t used = 0;
    if (s_at (self, '"')) {
        self->pos++;
        for (;;) {
            if (self->pos >= self->len)
                return -1;    //  unterminated
            char c = self->text [self->pos++];
            if (c == '"')
                break;
            if (c == '\\') {
                if (self->pos >= self->len)
                    return -1;
                c = self->text [self->pos++];
            }
            if ((unsigned char) c < 0x20 && c != '\t')
                return -1;
            if (used + 1 >= size)
                return -1;
            buf [used++] = c;
        }
    }
    else {
        while (self->pos < self->len && s_token_char (self->text [self->pos])) {
            if (used + 1 >= size)
                return -1;
            buf [used++] = self->text [self->pos++];
        }
        if (used == 0)
            return -1;
    }
    buf [used] = 0;
    return 0;
}

static bool
s_hex (const char *text, size_t len)
{
    if (strlen (text) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isxdigit ((unsigned char) text [i]))
            return false;
    return true;
}

static int
s_fail (char *err, size_t errlen, const char *why)
{
    if (err && errlen)
        snprintf (err, errlen, "%s", why);
    return -1;
}

int
cw_digest_parse (const char *value, size_t len, cw_digest_creds_t *creds, char *err, size_t errlen)
{
    memset (creds, 0, sizeof *creds);
    s_cursor_t cur = { value, value ? len : 0, 0 };
    s_skip_space (&cur);
    if (cur.len - cur.pos < 7 || strncasecmp (cur.text + cur.pos, "Digest", 6) != 0 || !cur.text [cur.pos + 6]
        || !strchr (" \t\r\n", cur.text [cur.pos + 6]))
        return s_fail (err, errlen, "not Digest credentials");
    cur.pos += 6;

    char algorithm [32] = "", userhash [8] = "";
    struct {
        const char *name;
        char *field;
        size_t size;
        bool seen;
    } fields [] = {
        { "username", creds->username, sizeof creds->username, false },
        { "realm", creds->realm, sizeof creds->realm, false },
        { "nonce", creds->nonce, sizeof creds->nonce, false },
        { "uri", creds->uri, sizeof creds->uri, false },
        { "response", creds->response, sizeof creds->response, false },
        { "cnonce", creds->cnonce, sizeof creds->cnonce, false },
        { "opaque", creds->opaque, sizeof creds->opaque, false },
        { "qop", creds->qop, sizeof creds->qop, false },
        { "nc", creds->nc, sizeof creds->nc, false },
        { "algorithm", algorithm, sizeof algorithm, false },
        { "userhash", userhash, sizeof userhash, false },
    };
    size_t field_count = sizeof fields / sizeof fields [0];
    char ignored [1024];
    bool first = true;
    for (;;) {
        s_skip_space (&cur);
        if (cur.pos >= cur.len)
            break;
        if (!first) {
            if (!s_at (&cur, ','))
                return s_fail (err, errlen, "parameters must be separated by commas");
            cur.pos++;
            s_skip_space (&cur);
            if (cur.pos >= cur.len)
                break;    //  a trailing comma
        }
        first = false;
        size_t name_at = cur.pos;
        while (cur.pos < cur.len && s_token_char (cur.text [cur.pos]))
            cur.pos++;
        size_t name_len = cur.pos - name_at;
        if (name_len == 0)
            return s_fail (err, errlen, "a parameter has no name");
        s_skip_space (&cur);
        if (!s_at (&cur, '='))
            return s_fail (err, errlen, "a parameter has no value");
        cur.pos++;
        s_skip_space (&cur);
        char *field = ignored;
        size_t size = sizeof ignored;
        for (size_t i = 0; i < field_count; i++)
            if (strlen (fields [i].name) == name_len
                && strncasecmp (fields [i].name, cur.text + name_at, name_len) == 0) {
                if (fields [i].seen)
                    return s_fail (err, errlen, "a parameter is given twice");
                fields [i].seen = true;
                field = fields [i].field;
                size = fields [i].size;
                break;
            }
        if (s_value (&cur, field, size))
            return s_fail (err, errlen, "a parameter value is empty, unterminated or too long");
    }
    if (!creds->username [0] || !creds->realm [0] || !creds->nonce [0] || !creds->uri [0] || !creds->response [0])
        return s_fail (err, errlen, "username, realm, nonce, uri and response are required");
    if (!algorithm [0] || strcasecmp (algorithm, "MD5") == 0)
        creds->alg = CW_DIGEST_MD5;
    else if (strcasecmp (algorithm, "SHA-256") == 0)
        creds->alg = CW_DIGEST_SHA256;
    else
        return s_fail (err, errlen, "the algorithm must be SHA-256 or MD5");
    if (userhash [0] && strcasecmp (userhash, "false") != 0)
        return s_fail (err, errlen, "userhash is not supported");
    if (creds->qop [0]) {
        if (strcasecmp (creds->qop, "auth") != 0)
            return s_fail (err, errlen, "the qop must be auth");
        memcpy (creds->qop, "auth", 5);
        if (!s_hex (creds->nc, 8) || !creds->cnonce [0])
            return s_fail (err, errlen, "qop=auth needs nc (8 hex digits) and cnonce");
    }
    if (!s_hex (creds->response, cw_digest_hex_len (creds->alg)))
        return s_fail (err, errlen, "the response is not a digest of the algorithm");
    return 0;
}
