/*  cw_license.c - option keys: encode, sign, decode and verify CWL1 tokens.

    A token is "CWL1." + base64url(payload JSON) + "." + base64url(Ed25519
    signature of "CWL1." + the payload part). Decoding takes the token apart
    with bounds on every part (the whole text, each base64 part, the JSON),
    then checks every field of the payload; only a token that decodes is
    verified: its issuer key id must be one of the configured issuers, the
    signature must match, its expiry day must not be past and its system
    binding must name this system. Each failure has its own status and a
    message that starts with what happened ("malformed: ...", "refused:
    the key is forged ...").

    Issuer files are one line of text each (see cw_license.h). The secret
    key file is written 0600 with O_EXCL and read only when neither group
    nor others may read it.
*/
#include "cw_license.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const cw_license_capacity_kinds [CW_LICENSE_CAPACITY_KINDS] = { "rich_media_sessions", "room_systems",
                                                                            "desktop_systems", "traversal_calls",
                                                                            "non_traversal_calls" };

#define S_PUBLIC_TAG "causeway-license-issuer ed25519 "
#define S_SECRET_TAG "causeway-license-secret ed25519 "
#define S_FEATURE_PREFIX "feature:"
#define S_FEATURE_NAME_MAX 48
#define S_SIGNATURE_BYTES 64
//  The payload JSON decoded from at most CW_LICENSE_MAX_TEXT base64 characters
#define S_PAYLOAD_MAX (CW_LICENSE_MAX_TEXT / 4 * 3 + 3)

static int s_error (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static int
s_error (char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list args;
        va_start (args, fmt);
        vsnprintf (err, errlen, fmt, args);
        va_end (args);
    }
    return -1;
}

static bool
s_sodium_ready (void)
{
    return sodium_init () >= 0;
}

// ---------------------------------------------------------------------------
//  Kinds, dates, names

int
cw_license_capacity_index (const char *kind)
{
    for (int i = 0; kind && i < CW_LICENSE_CAPACITY_KINDS; i++)
        if (strcmp (kind, cw_license_capacity_kinds [i]) == 0)
            return i;
    return -1;
}

bool
cw_license_kind_is_feature (const char *kind)
{
    if (!kind || strncmp (kind, S_FEATURE_PREFIX, strlen (S_FEATURE_PREFIX)) != 0)
        return false;
    const char *name = kind + strlen (S_FEATURE_PREFIX);
    size_t length = strlen (name);
    if (length < 1 || length > S_FEATURE_NAME_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name [i] >= 'a' && name [i] <= 'z') || (name [i] >= '0' && name [i] <= '9') || name [i] == '-'))
            return false;
    return true;
}

bool
cw_license_kind_valid (const char *kind)
{
    return cw_license_capacity_index (kind) >= 0 || cw_license_kind_is_feature (kind);
}

//  Days since 1970-01-01 of a proleptic Gregorian date.
static int64_t
s_days_from_civil (int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned) (y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

//  TEXT is a real day "YYYY-MM-DD" (years 1970..9999): its day number.
static bool
s_parse_date (const char *text, int64_t *day)
{
    if (!text || strlen (text) != 10 || text [4] != '-' || text [7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text [i] < '0' || text [i] > '9'))
            return false;
    int year = atoi (text);
    int month = (text [5] - '0') * 10 + (text [6] - '0');
    int mday = (text [8] - '0') * 10 + (text [9] - '0');
    static const int lengths [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (year < 1970 || month < 1 || month > 12 || mday < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int longest = lengths [month - 1] + (month == 2 && leap);
    if (mday > longest)
        return false;
    if (day)
        *day = s_days_from_civil (year, (unsigned) month, (unsigned) mday);
    return true;
}

static int64_t
s_today (time_t now)
{
    int64_t seconds = (int64_t) now;
    return seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
}

//  1-63 characters, none of them a control character (the rule of node.name).
static bool
s_system_valid (const char *name)
{
    size_t length = strlen (name);
    if (length < 1 || length >= CW_LICENSE_SYSTEM_MAX)
        return false;
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) name [i] < 0x20 || name [i] == 0x7f)
            return false;
    return true;
}

static bool
s_hex_valid (const char *text, size_t length)
{
    if (strlen (text) != length)
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((text [i] >= '0' && text [i] <= '9') || (text [i] >= 'a' && text [i] <= 'f')))
            return false;
    return true;
}

const char *
cw_license_status_name (cw_license_status_t status)
{
    switch (status) {
        case CW_LICENSE_OK:
            return "ok";
        case CW_LICENSE_MALFORMED:
            return "malformed";
        case CW_LICENSE_UNKNOWN_ISSUER:
            return "forged";
        case CW_LICENSE_BAD_SIGNATURE:
            return "altered";
        case CW_LICENSE_EXPIRED:
            return "expired";
        case CW_LICENSE_WRONG_SYSTEM:
            return "wrong system";
    }
    return "malformed";
}

int
cw_license_days_left (const cw_license_key_t *key, time_t now)
{
    int64_t last;
    if (!key || !key->expires [0] || !s_parse_date (key->expires, &last))
        return INT32_MAX;
    int64_t left = last - s_today (now);
    if (left > INT32_MAX - 1)
        return INT32_MAX - 1;
    if (left < INT32_MIN)
        return INT32_MIN;
    return (int) left;
}

// ---------------------------------------------------------------------------
//  Keys and key files

void
cw_license_key_id (const unsigned char public_key [CW_LICENSE_PUBLIC_BYTES], char out [CW_LICENSE_KEY_ID_HEX + 1])
{
    unsigned char hash [32];
    crypto_generichash (hash, sizeof hash, public_key, CW_LICENSE_PUBLIC_BYTES, NULL, 0);
    sodium_bin2hex (out, CW_LICENSE_KEY_ID_HEX + 1, hash, CW_LICENSE_KEY_ID_HEX / 2);
}

//  Reads the one key line of PATH that starts with TAG (blank lines and
//  "#" comments allowed) and decodes its base64 into OUT (exactly SIZE
//  bytes). WHAT names the file's kind for messages.
static int
s_read_key_file (const char *path, const char *tag, const char *what, unsigned char *out, size_t size, char *err,
                 size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return s_error (err, errlen, "cannot read the %s '%s': %s", what, path, strerror (errno));
    char line [512];
    int number = 0, found = 0, rc = -1;
    while (fgets (line, sizeof line, file)) {
        number++;
        size_t length = strlen (line);
        if (length == sizeof line - 1 && line [length - 1] != '\n') {
            s_error (err, errlen, "%s:%d: not an %s: the line is too long", path, number, what);
            goto done;
        }
        while (length
               && (line [length - 1] == '\n' || line [length - 1] == '\r' || line [length - 1] == ' '
                   || line [length - 1] == '\t'))
            line [--length] = 0;
        const char *text = line + strspn (line, " \t");
        if (!*text || *text == '#')
            continue;
        size_t decoded = 0;
        const char *end = NULL;
        if (found || strncmp (text, tag, strlen (tag)) != 0
            || sodium_base642bin (out, size, text + strlen (tag), strlen (text + strlen (tag)), NULL, &decoded, &end,
                                  sodium_base64_VARIANT_ORIGINAL)
                   != 0
            || decoded != size || *end) {
            s_error (err, errlen, "%s:%d: not an %s: expected one line '%s<base64 of %zu bytes>'", path, number, what,
                     tag, size);
            goto done;
        }
        found = number;
    }
    if (ferror (file))
        s_error (err, errlen, "cannot read the %s '%s': %s", what, path, strerror (errno));
    else if (!found)
        s_error (err, errlen, "%s: not an %s: no line '%s<base64>'", path, what, tag);
    else
        rc = 0;
done:
    fclose (file);
    return rc;
}

int
cw_license_issuer_load (const char *path, cw_license_issuer_t *issuer, char *err, size_t errlen)
{
    memset (issuer, 0, sizeof *issuer);
    if (!s_sodium_ready ())
        return s_error (err, errlen, "cannot initialise libsodium");
    if (!path || !*path)
        return s_error (err, errlen, "no issuer public key file named");
    if (strlen (path) >= sizeof issuer->path)
        return s_error (err, errlen, "the path of the issuer public key file is too long (%zu characters, at most %zu)",
                        strlen (path), sizeof issuer->path - 1);
    struct stat st;
    if (stat (path, &st) == 0 && !S_ISREG (st.st_mode))
        return s_error (err, errlen, "the issuer public key file '%s' is %s, not a file", path,
                        S_ISDIR (st.st_mode) ? "a folder" : "not a regular file");
    if (s_read_key_file (path, S_PUBLIC_TAG, "issuer public key file", issuer->public_key, CW_LICENSE_PUBLIC_BYTES, err,
                         errlen))
        return -1;
    cw_license_key_id (issuer->public_key, issuer->key_id);
    snprintf (issuer->path, sizeof issuer->path, "%s", path);
    return 0;
}

int
cw_license_secret_load (const char *path, unsigned char secret [CW_LICENSE_SECRET_BYTES], char *err, size_t errlen)
{
    if (!s_sodium_ready ())
        return s_error (err, errlen, "cannot initialise libsodium");
    struct stat st;
    if (stat (path, &st) != 0)
        return s_error (err, errlen, "cannot read the issuer secret key file '%s': %s", path, strerror (errno));
    if (!S_ISREG (st.st_mode))
        return s_error (err, errlen, "the issuer secret key file '%s' is not a file", path);
    if (st.st_mode & (S_IRGRP | S_IROTH))
        return s_error (err, errlen,
                        "refused: the issuer secret key file '%s' may be read by %s (mode %04o); "
                        "make it private with: chmod 600 %s",
                        path,
                        (st.st_mode & S_IRGRP) && (st.st_mode & S_IROTH) ? "group and others"
                        : st.st_mode & S_IRGRP                           ? "its group"
                                                                         : "others",
                        (unsigned) (st.st_mode & 07777), path);
    if (s_read_key_file (path, S_SECRET_TAG, "issuer secret key file", secret, CW_LICENSE_SECRET_BYTES, err, errlen))
        return -1;
    //  The secret holds its seed and its public key: they must belong together
    unsigned char public_key [CW_LICENSE_PUBLIC_BYTES], check [CW_LICENSE_SECRET_BYTES];
    crypto_sign_seed_keypair (public_key, check, secret);
    bool same = sodium_memcmp (check, secret, CW_LICENSE_SECRET_BYTES) == 0;
    sodium_memzero (check, sizeof check);
    if (!same) {
        sodium_memzero (secret, CW_LICENSE_SECRET_BYTES);
        return s_error (err, errlen, "%s: not an issuer secret key: its public half does not match its seed", path);
    }
    return 0;
}

//  Writes TEXT into the new file PATH with MODE; fails if it exists.
static int
s_write_new (const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return s_error (err, errlen, "cannot create '%s': %s", path, strerror (errno));
    size_t length = strlen (text);
    bool ok = fchmod (fd, mode) == 0 && write (fd, text, length) == (ssize_t) length && fsync (fd) == 0;
    int saved = errno;
    if (close (fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink (path);
        return s_error (err, errlen, "cannot write '%s': %s", path, strerror (saved));
    }
    return 0;
}

int
cw_license_keygen (const char *dir, char *err, size_t errlen)
{
    if (!s_sodium_ready ())
        return s_error (err, errlen, "cannot initialise libsodium");
    if (!dir || !*dir)
        return s_error (err, errlen, "no folder named for the issuer keys");
    struct stat st;
    if (stat (dir, &st) != 0) {
        //  Each missing folder on the way, owner-only
        char partial [4096];
        if (strlen (dir) >= sizeof partial)
            return s_error (err, errlen, "the folder name '%s' is too long", dir);
        snprintf (partial, sizeof partial, "%s", dir);
        for (char *slash = partial + 1;; slash++) {
            bool last = *slash == 0;
            if (*slash != '/' && !last)
                continue;
            *slash = 0;
            if (mkdir (partial, 0700) != 0 && errno != EEXIST)
                return s_error (err, errlen, "cannot create the folder '%s': %s", partial, strerror (errno));
            if (last)
                break;
            *slash = '/';
        }
        if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode))
            return s_error (err, errlen, "cannot create the folder '%s'", dir);
    }
    else if (!S_ISDIR (st.st_mode))
        return s_error (err, errlen, "'%s' is not a folder", dir);
    char key_path [4200], pub_path [4200];
    int n1 = snprintf (key_path, sizeof key_path, "%s/issuer.key", dir);
    int n2 = snprintf (pub_path, sizeof pub_path, "%s/issuer.pub", dir);
    if (n1 < 0 || n2 < 0 || (size_t) n1 >= sizeof key_path || (size_t) n2 >= sizeof pub_path)
        return s_error (err, errlen, "the folder name '%s' is too long", dir);
    if (lstat (key_path, &st) == 0 || lstat (pub_path, &st) == 0)
        return s_error (err, errlen,
                        "refused: '%s' already holds an issuer key (%s exists); it is not overwritten: every key "
                        "it issued would become unverifiable",
                        dir, lstat (key_path, &st) == 0 ? key_path : pub_path);

    unsigned char public_key [CW_LICENSE_PUBLIC_BYTES], secret [CW_LICENSE_SECRET_BYTES];
    crypto_sign_keypair (public_key, secret);
    char secret_b64 [sodium_base64_ENCODED_LEN (CW_LICENSE_SECRET_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    char public_b64 [sodium_base64_ENCODED_LEN (CW_LICENSE_PUBLIC_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64 (secret_b64, sizeof secret_b64, secret, sizeof secret, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64 (public_b64, sizeof public_b64, public_key, sizeof public_key, sodium_base64_VARIANT_ORIGINAL);
    char secret_line [sizeof secret_b64 + 64], public_line [sizeof public_b64 + 64];
    snprintf (secret_line, sizeof secret_line, "%s%s\n", S_SECRET_TAG, secret_b64);
    snprintf (public_line, sizeof public_line, "%s%s\n", S_PUBLIC_TAG, public_b64);
    int rc = s_write_new (key_path, secret_line, 0600, err, errlen);
    if (rc == 0 && s_write_new (pub_path, public_line, 0644, err, errlen) != 0) {
        unlink (key_path);
        rc = -1;
    }
    sodium_memzero (secret, sizeof secret);
    sodium_memzero (secret_b64, sizeof secret_b64);
    sodium_memzero (secret_line, sizeof secret_line);
    return rc;
}

// ---------------------------------------------------------------------------
//  Issuing

//  Checks the caller's fields of KEY (kind, count, system, expires).
static int
s_check_fields (const cw_license_key_t *key, char *err, size_t errlen)
{
    if (!cw_license_kind_valid (key->kind))
        return s_error (err, errlen,
                        "the kind '%.64s' is not a license kind: expected one of rich_media_sessions, room_systems, "
                        "desktop_systems, traversal_calls, non_traversal_calls, or feature:<name> (name 1-48 of "
                        "a-z, 0-9, -)",
                        key->kind);
    if (cw_license_kind_is_feature (key->kind) && key->count != 1)
        return s_error (err, errlen, "a feature key has count 1 (got %lld for %s)", (long long) key->count, key->kind);
    if (key->count < 1 || key->count > CW_LICENSE_COUNT_MAX)
        return s_error (err, errlen, "the count must be 1..%d (got %lld)", CW_LICENSE_COUNT_MAX,
                        (long long) key->count);
    if (key->system [0] && !s_system_valid (key->system))
        return s_error (err, errlen, "the system name must be 1-%d characters, none of them a control character",
                        CW_LICENSE_SYSTEM_MAX - 1);
    if (key->expires [0] && !s_parse_date (key->expires, NULL))
        return s_error (err, errlen, "the expiry date must be a real day YYYY-MM-DD (got '%.10s')", key->expires);
    return 0;
}

int
cw_license_issue (const unsigned char secret [CW_LICENSE_SECRET_BYTES], cw_license_key_t *key, char *out, size_t outlen,
                  char *err, size_t errlen)
{
    if (!s_sodium_ready ())
        return s_error (err, errlen, "cannot initialise libsodium");
    if (!out || outlen == 0)
        return s_error (err, errlen, "no room for the key");
    //  Terminate the caller's strings before reading them
    key->kind [sizeof key->kind - 1] = 0;
    key->system [sizeof key->system - 1] = 0;
    key->expires [sizeof key->expires - 1] = 0;
    if (s_check_fields (key, err, errlen))
        return -1;
    unsigned char serial [16], public_key [CW_LICENSE_PUBLIC_BYTES];
    randombytes_buf (serial, sizeof serial);
    sodium_bin2hex (key->serial, sizeof key->serial, serial, sizeof serial);
    crypto_sign_ed25519_sk_to_pk (public_key, secret);
    cw_license_key_id (public_key, key->issuer);
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (key->issued, sizeof key->issued, "%Y-%m-%d", &tm);

    json_t *payload = json_pack ("{s:i, s:s, s:s, s:s, s:I}", "v", 1, "serial", key->serial, "issuer", key->issuer,
                                 "kind", key->kind, "count", (json_int_t) key->count);
    if (payload && key->system [0])
        json_object_set_new (payload, "system", json_string (key->system));
    if (payload && key->expires [0])
        json_object_set_new (payload, "expires", json_string (key->expires));
    if (payload)
        json_object_set_new (payload, "issued", json_string (key->issued));
    char *json = payload ? json_dumps (payload, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (payload);
    if (!json)
        return s_error (err, errlen, "out of memory");
    size_t json_length = strlen (json);
    size_t payload_length = sodium_base64_ENCODED_LEN (json_length, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t prefix = strlen (CW_LICENSE_PREFIX);
    size_t signature_length = sodium_base64_ENCODED_LEN (S_SIGNATURE_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    //  prefix + payload (ENCODED_LEN counts a NUL) + "." + signature + NUL
    size_t total = prefix + payload_length + signature_length;
    if (total - 1 > CW_LICENSE_MAX_TEXT || total > outlen) {
        free (json);
        return s_error (err, errlen, "the key would be %zu characters, longer than %zu", total - 1,
                        outlen - 1 < CW_LICENSE_MAX_TEXT ? outlen - 1 : (size_t) CW_LICENSE_MAX_TEXT);
    }
    memcpy (out, CW_LICENSE_PREFIX, prefix);
    sodium_bin2base64 (out + prefix, payload_length, (const unsigned char *) json, json_length,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free (json);
    size_t signed_length = strlen (out);
    unsigned char signature [S_SIGNATURE_BYTES];
    crypto_sign_detached (signature, NULL, (const unsigned char *) out, signed_length, secret);
    out [signed_length] = '.';
    sodium_bin2base64 (out + signed_length + 1, outlen - signed_length - 1, signature, sizeof signature,
                       sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return 0;
}

// ---------------------------------------------------------------------------
//  Decoding

//  A string field NAME of PAYLOAD copied into OUT (SIZE with its NUL).
//  1 = copied, 0 = absent, -1 = not a string or too long.
static int
s_string_field (json_t *payload, const char *name, char *out, size_t size)
{
    json_t *value = json_object_get (payload, name);
    if (!value)
        return 0;
    if (!json_is_string (value) || json_string_length (value) >= size
        || strlen (json_string_value (value)) != json_string_length (value))
        return -1;
    memcpy (out, json_string_value (value), json_string_length (value) + 1);
    return 1;
}

//  Takes TEXT apart: KEY from the payload, SIGNATURE, and the signed part
//  (TEXT from its prefix to the second dot) as *SIGNED and *SIGNED_LENGTH.
static cw_license_status_t
s_parse (const char *text, cw_license_key_t *key, unsigned char signature [S_SIGNATURE_BYTES], const char **signed_part,
         size_t *signed_length, char *err, size_t errlen)
{
    memset (key, 0, sizeof *key);
    if (!text) {
        s_error (err, errlen, "malformed: no key given");
        return CW_LICENSE_MALFORMED;
    }
    //  Surrounding white space ignored; never more than the longest key read
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t length = strnlen (text, CW_LICENSE_MAX_TEXT + 64);
    while (length
           && (text [length - 1] == ' ' || text [length - 1] == '\t' || text [length - 1] == '\n'
               || text [length - 1] == '\r'))
        length--;
    if (length == 0) {
        s_error (err, errlen, "malformed: the key is empty");
        return CW_LICENSE_MALFORMED;
    }
    if (length > CW_LICENSE_MAX_TEXT) {
        s_error (err, errlen, "malformed: the key is longer than any option key (at most %d characters)",
                 CW_LICENSE_MAX_TEXT);
        return CW_LICENSE_MALFORMED;
    }
    size_t prefix = strlen (CW_LICENSE_PREFIX);
    if (length < prefix || memcmp (text, CW_LICENSE_PREFIX, prefix) != 0) {
        s_error (err, errlen, "malformed: an option key starts with '%s'", CW_LICENSE_PREFIX);
        return CW_LICENSE_MALFORMED;
    }
    const char *payload_b64 = text + prefix;
    const char *dot = memchr (payload_b64, '.', length - prefix);
    if (!dot) {
        s_error (err, errlen, "malformed: the key has no signature part (expected CWL1.<payload>.<signature>)");
        return CW_LICENSE_MALFORMED;
    }
    size_t payload_length = (size_t) (dot - payload_b64);
    const char *signature_b64 = dot + 1;
    size_t signature_length = length - prefix - payload_length - 1;
    if (memchr (signature_b64, '.', signature_length)) {
        s_error (err, errlen, "malformed: the key has more than three parts (expected CWL1.<payload>.<signature>)");
        return CW_LICENSE_MALFORMED;
    }
    unsigned char payload [S_PAYLOAD_MAX];
    size_t decoded = 0;
    const char *end = NULL;
    if (payload_length == 0
        || sodium_base642bin (payload, sizeof payload, payload_b64, payload_length, NULL, &decoded, &end,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING)
               != 0
        || end != payload_b64 + payload_length) {
        s_error (err, errlen, "malformed: the payload part is not base64url");
        return CW_LICENSE_MALFORMED;
    }
    size_t signature_decoded = 0;
    if (sodium_base642bin (signature, S_SIGNATURE_BYTES, signature_b64, signature_length, NULL, &signature_decoded,
                           &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING)
            != 0
        || end != signature_b64 + signature_length || signature_decoded != S_SIGNATURE_BYTES) {
        s_error (err, errlen, "malformed: the signature part is not the base64url of a %d-byte signature",
                 S_SIGNATURE_BYTES);
        return CW_LICENSE_MALFORMED;
    }
    *signed_part = text;
    *signed_length = (size_t) (dot - text);

    json_error_t jerr;
    json_t *object = json_loadb ((const char *) payload, decoded, JSON_REJECT_DUPLICATES, &jerr);
    cw_license_status_t status = CW_LICENSE_MALFORMED;
    json_t *v = json_object_get (object, "v");
    json_t *count = json_object_get (object, "count");
    if (!object)
        s_error (err, errlen, "malformed: the payload is not valid JSON (%s)", jerr.text);
    else if (!json_is_object (object))
        s_error (err, errlen, "malformed: the payload is not a JSON object");
    else if (!json_is_integer (v) || json_integer_value (v) != 1)
        s_error (err, errlen, "malformed: the payload's version 'v' must be 1");
    else if (s_string_field (object, "serial", key->serial, sizeof key->serial) != 1 || !s_hex_valid (key->serial, 32))
        s_error (err, errlen, "malformed: the payload's 'serial' must be 32 hex digits");
    else if (s_string_field (object, "issuer", key->issuer, sizeof key->issuer) != 1
             || !s_hex_valid (key->issuer, CW_LICENSE_KEY_ID_HEX))
        s_error (err, errlen, "malformed: the payload's 'issuer' must be a key id of %d hex digits",
                 CW_LICENSE_KEY_ID_HEX);
    else if (s_string_field (object, "kind", key->kind, sizeof key->kind) != 1 || !cw_license_kind_valid (key->kind))
        s_error (err, errlen, "malformed: the payload's 'kind' is not a license kind");
    else if (!json_is_integer (count) || json_integer_value (count) < 1
             || json_integer_value (count) > CW_LICENSE_COUNT_MAX)
        s_error (err, errlen, "malformed: the payload's 'count' must be 1..%d", CW_LICENSE_COUNT_MAX);
    else if (cw_license_kind_is_feature (key->kind) && json_integer_value (count) != 1)
        s_error (err, errlen, "malformed: the payload's 'count' must be 1 for a feature key");
    else if (s_string_field (object, "system", key->system, sizeof key->system) < 0
             || (json_object_get (object, "system") && !s_system_valid (key->system)))
        s_error (err, errlen, "malformed: the payload's 'system' must be 1-%d characters, none a control character",
                 CW_LICENSE_SYSTEM_MAX - 1);
    else if (s_string_field (object, "expires", key->expires, sizeof key->expires) < 0
             || (json_object_get (object, "expires") && !s_parse_date (key->expires, NULL)))
        s_error (err, errlen, "malformed: the payload's 'expires' must be a real day YYYY-MM-DD");
    else if (s_string_field (object, "issued", key->issued, sizeof key->issued) != 1
             || !s_parse_date (key->issued, NULL))
        s_error (err, errlen, "malformed: the payload's 'issued' must be a real day YYYY-MM-DD");
    else {
        key->count = json_integer_value (count);
        status = CW_LICENSE_OK;
    }
    json_decref (object);
    if (status != CW_LICENSE_OK) {
        memset (key, 0, sizeof *key);
        return status;
    }
    return CW_LICENSE_OK;
}

cw_license_status_t
cw_license_decode (const char *text, cw_license_key_t *key, char *err, size_t errlen)
{
    unsigned char signature [S_SIGNATURE_BYTES];
    const char *signed_part;
    size_t signed_length;
    if (err && errlen)
        err [0] = 0;
    return s_parse (text, key, signature, &signed_part, &signed_length, err, errlen);
}

cw_license_status_t
cw_license_verify (const char *text, const cw_license_issuer_t *issuers, size_t count, time_t now,
                   const char *system_name, cw_license_key_t *key, char *err, size_t errlen)
{
    unsigned char signature [S_SIGNATURE_BYTES];
    const char *signed_part = NULL;
    size_t signed_length = 0;
    if (err && errlen)
        err [0] = 0;
    cw_license_status_t status = s_parse (text, key, signature, &signed_part, &signed_length, err, errlen);
    if (status != CW_LICENSE_OK && signed_part && s_sodium_ready ()) {
        //  A well-formed token whose payload does not decode: changed bytes
        //  unless a configured issuer signed exactly this content
        bool signed_by_issuer = false;
        for (size_t i = 0; issuers && i < count && !signed_by_issuer; i++)
            signed_by_issuer = crypto_sign_verify_detached (signature, (const unsigned char *) signed_part,
                                                            signed_length, issuers [i].public_key)
                            == 0;
        if (!signed_by_issuer) {
            s_error (err, errlen,
                     "refused: the key is altered (its content does not decode and no configured issuer signed it)");
            return CW_LICENSE_BAD_SIGNATURE;
        }
    }
    if (status != CW_LICENSE_OK)
        return status;
    if (!s_sodium_ready ()) {
        s_error (err, errlen, "malformed: cannot initialise libsodium to check the signature");
        return CW_LICENSE_MALFORMED;
    }
    const cw_license_issuer_t *issuer = NULL;
    for (size_t i = 0; issuers && i < count && !issuer; i++)
        if (strcmp (issuers [i].key_id, key->issuer) == 0)
            issuer = &issuers [i];
    if (!issuer) {
        if (count == 0)
            s_error (err, errlen,
                     "refused: the key is forged (not signed by any configured issuer: key id %s; no issuer is "
                     "configured in licensing.issuers of the bootstrap file)",
                     key->issuer);
        else
            s_error (err, errlen, "refused: the key is forged (not signed by any configured issuer: key id %s)",
                     key->issuer);
        return CW_LICENSE_UNKNOWN_ISSUER;
    }
    if (crypto_sign_verify_detached (signature, (const unsigned char *) signed_part, signed_length, issuer->public_key)
        != 0) {
        s_error (err, errlen, "refused: the key is altered (the signature does not match its content)");
        return CW_LICENSE_BAD_SIGNATURE;
    }
    if (cw_license_days_left (key, now) < 0) {
        s_error (err, errlen, "refused: the key is expired (it was valid until %s)", key->expires);
        return CW_LICENSE_EXPIRED;
    }
    if (system_name && key->system [0] && strcmp (system_name, key->system) != 0) {
        s_error (err, errlen, "refused: the key is bound to system '%s', this system is '%s'", key->system,
                 system_name);
        return CW_LICENSE_WRONG_SYSTEM;
    }
    return CW_LICENSE_OK;
}
