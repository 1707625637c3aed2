/*  fuzz_digest.c - libFuzzer target: cw_digest_parse
    (actors/routing/digest.c), the parser of the Authorization and
    Proxy-Authorization values a SIP client sends, on any bytes.

    The input is parsed from a buffer of exactly its size (ASan sees any
    read past it). Properties: a parse that succeeds has every field
    terminated inside its buffer, the username, realm, nonce, uri and
    response present, a response of hex digits of the algorithm's length,
    qop "" or "auth" and, with auth, an nc of 8 hex digits and a cnonce;
    the same input parses the same way twice; checking the response and
    the nonce of what parsed never crashes, and a nonce from the input
    never passes as one this key made unless the key made it.

    The fuzz targets link the libraries tests/fuzz/CMakeLists.txt names;
    the digest module is pure (OpenSSL and libsodium only), so it is
    compiled into this target.
*/
#include <sodium.h>
#include <string.h>

#include "../../actors/routing/digest.c"
#include "fuzz.h"

static uint8_t s_key [CW_DIGEST_KEY_BYTES];

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    if (sodium_init () < 0)
        fuzz_fail ("cannot initialise libsodium");
    memset (s_key, 7, sizeof s_key);
    return 0;
}

static void
s_terminated (const char *field, size_t size, const char *name)
{
    if (!memchr (field, 0, size))
        fuzz_fail ("%s is not terminated inside its field", name);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *value = malloc (size ? size : 1);
    memcpy (value, data, size);
    cw_digest_creds_t creds, again;
    char err [128] = "", err2 [128] = "";
    int rc = cw_digest_parse (value, size, &creds, err, sizeof err);
    if (rc != 0 && rc != -1)
        fuzz_fail ("parse returned %d", rc);
    if (rc == -1 && !err [0])
        fuzz_fail ("refused without a reason");
    if (cw_digest_parse (value, size, &again, err2, sizeof err2) != rc || strcmp (err, err2) != 0
        || (rc == 0 && memcmp (&creds, &again, sizeof creds) != 0))
        fuzz_fail ("the same input parsed twice gives two answers");
    if (rc == 0) {
        s_terminated (creds.username, sizeof creds.username, "username");
        s_terminated (creds.realm, sizeof creds.realm, "realm");
        s_terminated (creds.nonce, sizeof creds.nonce, "nonce");
        s_terminated (creds.uri, sizeof creds.uri, "uri");
        s_terminated (creds.response, sizeof creds.response, "response");
        s_terminated (creds.cnonce, sizeof creds.cnonce, "cnonce");
        s_terminated (creds.opaque, sizeof creds.opaque, "opaque");
        s_terminated (creds.qop, sizeof creds.qop, "qop");
        s_terminated (creds.nc, sizeof creds.nc, "nc");
        if (!creds.username [0] || !creds.realm [0] || !creds.nonce [0] || !creds.uri [0])
            fuzz_fail ("a required parameter is empty");
        if (strlen (creds.response) != cw_digest_hex_len (creds.alg))
            fuzz_fail ("a response of %zu characters for %s", strlen (creds.response), cw_digest_alg_name (creds.alg));
        for (const char *p = creds.response; *p; p++)
            if (!isxdigit ((unsigned char) *p))
                fuzz_fail ("a response with a non-hex character");
        if (creds.qop [0] && (strcmp (creds.qop, "auth") != 0 || strlen (creds.nc) != 8 || !creds.cnonce [0]))
            fuzz_fail ("qop '%s' with nc '%s'", creds.qop, creds.nc);
        char ha1 [CW_DIGEST_HEX_MAX];
        cw_digest_ha1 (creds.alg, creds.username, creds.realm, "password", ha1);
        (void) cw_digest_verify (&creds, ha1, "REGISTER");
        char made [CW_DIGEST_NONCE_MAX];
        cw_digest_nonce_make (s_key, creds.realm, 1000, made);
        if (cw_digest_nonce_check (s_key, creds.realm, creds.nonce, 1000, 300) == CW_NONCE_VALID
            && strcmp (made, creds.nonce) != 0)
            fuzz_fail ("a nonce this key did not make passed");
    }
    free (value);
    return 0;
}
