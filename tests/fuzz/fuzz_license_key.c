/*  fuzz_license_key.c - libFuzzer target: cw_license_decode and
    cw_license_verify (ipc/cw_license.c) on any text.

    The input, as a C string (cut at its first NUL), is decoded and then
    verified against a fixed issuer (its key pair made from a constant
    seed, so that the seeds carry real signatures), a fixed day and the
    system name "peer1". Properties: every status is one of the enum and
    has a message saying what happened ("malformed: ..." or "refused:
    ..."); decode and verify agree on whether the token is malformed and,
    when it is not, on every field; a decoded key holds only valid values
    (kind, count 1..1000000 and 1 for features, 32 hex serial, 16 hex
    issuer, real dates, a system name of 0-63 characters); a key that
    verifies has this issuer's key id, was not expired on the day and is
    not bound elsewhere; the same input gives the same answer twice.

    With CW_FUZZ_SEEDS_OUT=DIR in the environment, the set-up writes keys
    signed by the fixed issuer (and broken variants) into DIR: that is how
    tests/fuzz/corpus/fuzz_license_key/ was made.
*/
#include <sodium.h>
#include <string.h>

#include "cw_license.h"
#include "fuzz.h"

//  2026-06-15 12:00:00 UTC
#define S_NOW ((time_t) 1781524800)

static cw_license_issuer_t s_issuer;
static unsigned char s_secret [CW_LICENSE_SECRET_BYTES];

static void
s_write_seed (const char *dir, const char *name, const char *text)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        fuzz_fail ("cannot write %s", path);
    fputs (text, file);
    fclose (file);
}

static void
s_issue (const char *kind, int64_t count, const char *system, const char *expires, char *out)
{
    cw_license_key_t key;
    memset (&key, 0, sizeof key);
    snprintf (key.kind, sizeof key.kind, "%s", kind);
    key.count = count;
    snprintf (key.system, sizeof key.system, "%s", system);
    snprintf (key.expires, sizeof key.expires, "%s", expires);
    char err [600];
    if (cw_license_issue (s_secret, &key, out, CW_LICENSE_MAX_TEXT + 1, err, sizeof err))
        fuzz_fail ("cannot issue a seed key: %s", err);
}

static void
s_write_seeds (const char *dir)
{
    char token [CW_LICENSE_MAX_TEXT + 1], variant [CW_LICENSE_MAX_TEXT + 8];
    s_issue ("rich_media_sessions", 50, "", "", token);
    s_write_seed (dir, "capacity", token);
    snprintf (variant, sizeof variant, "%.*s", (int) (strrchr (token, '.') - token), token);
    s_write_seed (dir, "no-signature", variant);
    snprintf (variant, sizeof variant, "%s", token);
    variant [strlen (variant) - 5] ^= 0x01;
    s_write_seed (dir, "altered-signature", variant);
    snprintf (variant, sizeof variant, "  %s\n", token);
    s_write_seed (dir, "white-space", variant);
    s_issue ("room_systems", 1000000, "peer1", "2027-12-31", token);
    s_write_seed (dir, "bound-expiring", token);
    s_issue ("traversal_calls", 7, "peerX", "", token);
    s_write_seed (dir, "wrong-system", token);
    s_issue ("non_traversal_calls", 3, "", "2025-01-31", token);
    s_write_seed (dir, "expired", token);
    s_issue ("desktop_systems", 12, "", "2026-06-15", token);
    s_write_seed (dir, "last-day", token);
    s_issue ("feature:h323-interworking", 1, "", "", token);
    s_write_seed (dir, "feature", token);
    s_write_seed (dir, "prefix-only", "CWL1.");
    s_write_seed (dir, "empty-parts", "CWL1..");
    s_write_seed (dir, "not-a-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5");
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    if (sodium_init () < 0)
        fuzz_fail ("cannot initialise libsodium");
    unsigned char seed [crypto_sign_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; i++)
        seed [i] = (unsigned char) i;
    crypto_sign_seed_keypair (s_issuer.public_key, s_secret, seed);
    cw_license_key_id (s_issuer.public_key, s_issuer.key_id);
    snprintf (s_issuer.path, sizeof s_issuer.path, "fixed issuer");
    const char *out = getenv ("CW_FUZZ_SEEDS_OUT");
    if (out && *out)
        s_write_seeds (out);
    return 0;
}

static bool
s_hex (const char *text, size_t length)
{
    if (strnlen (text, length + 1) != length)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((text [i] >= '0' && text [i] <= '9') || (text [i] >= 'a' && text [i] <= 'f')))
            return false;
    return true;
}

static bool
s_date (const char *text)
{
    if (strnlen (text, 11) != 10 || text [4] != '-' || text [7] != '-')
        return false;
    cw_license_key_t probe;
    memset (&probe, 0, sizeof probe);
    memcpy (probe.expires, text, 11);
    return cw_license_days_left (&probe, S_NOW) != INT32_MAX;
}

//  Every field of a decoded KEY holds a valid value.
static void
s_check_key (const cw_license_key_t *key)
{
    if (memchr (key->kind, 0, sizeof key->kind) == NULL || memchr (key->system, 0, sizeof key->system) == NULL)
        fuzz_fail ("a field is not terminated");
    if (!cw_license_kind_valid (key->kind))
        fuzz_fail ("decoded kind '%s' is not valid", key->kind);
    if (key->count < 1 || key->count > CW_LICENSE_COUNT_MAX)
        fuzz_fail ("decoded count %lld out of range", (long long) key->count);
    if (cw_license_kind_is_feature (key->kind) && key->count != 1)
        fuzz_fail ("feature key with count %lld", (long long) key->count);
    if (!s_hex (key->serial, 32))
        fuzz_fail ("serial '%.40s' is not 32 hex digits", key->serial);
    if (!s_hex (key->issuer, CW_LICENSE_KEY_ID_HEX))
        fuzz_fail ("issuer '%.20s' is not a key id", key->issuer);
    if (!s_date (key->issued))
        fuzz_fail ("issued '%.12s' is not a day", key->issued);
    if (key->expires [0] && !s_date (key->expires))
        fuzz_fail ("expires '%.12s' is not a day", key->expires);
    for (const char *p = key->system; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == 0x7f)
            fuzz_fail ("system name with a control character");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 4 * CW_LICENSE_MAX_TEXT)
        return 0;
    char *text = malloc (size + 1);
    memcpy (text, data, size);
    text [size] = 0;

    cw_license_key_t decoded, verified, again;
    char err [600] = "", err2 [600] = "";
    cw_license_status_t d = cw_license_decode (text, &decoded, err, sizeof err);
    if (d != CW_LICENSE_OK && d != CW_LICENSE_MALFORMED)
        fuzz_fail ("decode returned %d", (int) d);
    if (d == CW_LICENSE_MALFORMED && strncmp (err, "malformed: ", 11) != 0)
        fuzz_fail ("malformed without saying so: '%s'", err);
    if (d == CW_LICENSE_OK)
        s_check_key (&decoded);

    cw_license_status_t v = cw_license_verify (text, &s_issuer, 1, S_NOW, "peer1", &verified, err, sizeof err);
    if (v < CW_LICENSE_OK || v > CW_LICENSE_WRONG_SYSTEM)
        fuzz_fail ("verify returned %d", (int) v);
    //  A well-formed token whose content does not decode is "altered" to
    //  verify unless the issuer signed exactly that content
    bool unsigned_content = d == CW_LICENSE_MALFORMED && v == CW_LICENSE_BAD_SIGNATURE;
    if (!unsigned_content && (v == CW_LICENSE_MALFORMED) != (d == CW_LICENSE_MALFORMED))
        fuzz_fail ("decode says %s, verify says %s", cw_license_status_name (d), cw_license_status_name (v));
    if (v != CW_LICENSE_OK && v != CW_LICENSE_MALFORMED && strncmp (err, "refused: ", 9) != 0)
        fuzz_fail ("%s without saying so: '%s'", cw_license_status_name (v), err);
    if (v != CW_LICENSE_MALFORMED && memcmp (&decoded, &verified, sizeof decoded) != 0)
        fuzz_fail ("decode and verify disagree on the fields");
    if (v == CW_LICENSE_OK) {
        if (strcmp (verified.issuer, s_issuer.key_id) != 0)
            fuzz_fail ("verified a key of issuer %s", verified.issuer);
        if (cw_license_days_left (&verified, S_NOW) < 0)
            fuzz_fail ("verified a key that expired on %s", verified.expires);
        if (verified.system [0] && strcmp (verified.system, "peer1") != 0)
            fuzz_fail ("verified a key bound to '%s'", verified.system);
    }
    if (cw_license_verify (text, &s_issuer, 1, S_NOW, "peer1", &again, err2, sizeof err2) != v
        || strcmp (err, err2) != 0)
        fuzz_fail ("the same input verified twice gives two answers");
    //  Without issuers nothing verifies
    cw_license_status_t none = cw_license_verify (text, NULL, 0, S_NOW, NULL, &again, err2, sizeof err2);
    bool none_unsigned = d == CW_LICENSE_MALFORMED && none == CW_LICENSE_BAD_SIGNATURE;
    if (none == CW_LICENSE_OK || (!none_unsigned && (none == CW_LICENSE_MALFORMED) != (d == CW_LICENSE_MALFORMED)))
        fuzz_fail ("verified without an issuer: %s", cw_license_status_name (none));
    free (text);
    return 0;
}
