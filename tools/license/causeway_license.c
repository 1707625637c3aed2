/*  causeway_license.c - causeway-license: run your own option-key issuer.

    causeway-license keygen DIR
    causeway-license issue --key DIR/issuer.key --kind KIND --count N
                           [--system NAME] [--expires YYYY-MM-DD]
    causeway-license show KEY [--json] [--issuer FILE]

    keygen makes an Ed25519 issuer key pair (DIR/issuer.key 0600, never
    overwritten, and DIR/issuer.pub for the nodes' licensing.issuers);
    issue signs one option key and prints only it on stdout, so that
    `KEY=$(causeway-license issue ...)` works; show decodes a key, and
    checks its signature and expiry only when given the issuer's public key.
    The codec is cw_license.c. Exit status: 0 done, 1 failed (a key file
    or a key refused), 2 usage error.
*/
#include "cw_license.h"

#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_EXIT_OK 0
#define S_EXIT_FAILED 1
#define S_EXIT_USAGE 2

static const char s_usage [] =
    "usage: causeway-license keygen DIR\n"
    "       causeway-license issue --key DIR/issuer.key --kind KIND --count N [--system NAME] "
    "[--expires YYYY-MM-DD]\n"
    "       causeway-license show KEY [--json] [--issuer FILE]\n";

static const char s_help [] = "\n"
                              "Make and read Causeway option keys (CWL1.<payload>.<signature>, Ed25519).\n"
                              "\n"
                              "  keygen DIR     write a new issuer key pair: DIR/issuer.key (secret, mode 0600;\n"
                              "                 an existing one is never overwritten) and DIR/issuer.pub (list it\n"
                              "                 in licensing.issuers of every node's bootstrap file); prints the\n"
                              "                 key id. DIR is created (0700) when missing.\n"
                              "  issue          sign one key and print it alone on stdout:\n"
                              "    --key FILE       the issuer's secret key (readable by its owner only)\n"
                              "    --kind KIND      rich_media_sessions, room_systems, desktop_systems,\n"
                              "                     traversal_calls, non_traversal_calls, or feature:<name>\n"
                              "                     (name 1-48 of a-z, 0-9, -)\n"
                              "    --count N        1..1000000 licenses (a feature key: 1, the default)\n"
                              "    --system NAME    bind the key to the node whose system name is NAME\n"
                              "    --expires DAY    the last day (UTC) the key is valid, YYYY-MM-DD\n"
                              "  show KEY       decode KEY (the signature is not checked)\n"
                              "    --json           print the fields as JSON\n"
                              "    --issuer FILE    check the signature and expiry against this issuer.pub\n"
                              "\n"
                              "Exit status: 0 done, 1 failed (a key file or the key refused), 2 usage error.\n";

static int s_usage_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static int
s_usage_error (const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    fputs ("causeway-license: ", stderr);
    vfprintf (stderr, fmt, args);
    fputc ('\n', stderr);
    va_end (args);
    fputs (s_usage, stderr);
    return S_EXIT_USAGE;
}

static int
s_failed (const char *message)
{
    fprintf (stderr, "causeway-license: %s\n", message);
    return S_EXIT_FAILED;
}

//  The options of a command: each --name takes a value, except the flags.
typedef struct {
    const char *name;
    bool flag;
    const char *value;    //  the value given ("" for a flag given), NULL = not given
} s_option_t;

//  Reads ARGV (after the command word) into OPTIONS and at most
//  MAX_WORDS positional words. 0 or a usage error.
static int
s_parse (const char *command, int argc, char *argv [], s_option_t *options, size_t option_count, const char **words,
         int max_words, int *word_count)
{
    *word_count = 0;
    bool end_of_options = false;
    for (int i = 0; i < argc; i++) {
        const char *token = argv [i];
        if (!end_of_options && strcmp (token, "--") == 0) {
            end_of_options = true;
            continue;
        }
        if (!end_of_options && token [0] == '-' && token [1]) {
            const char *equals = strchr (token, '=');
            size_t name_length = equals ? (size_t) (equals - token) : strlen (token);
            s_option_t *option = NULL;
            for (size_t o = 0; o < option_count; o++)
                if (strlen (options [o].name) == name_length && strncmp (options [o].name, token, name_length) == 0)
                    option = &options [o];
            if (!option)
                return s_usage_error ("%s: unknown option '%.*s'", command, (int) name_length, token);
            if (option->value)
                return s_usage_error ("%s: %s given twice", command, option->name);
            if (option->flag) {
                if (equals)
                    return s_usage_error ("%s: %s takes no value", command, option->name);
                option->value = "";
            }
            else if (equals)
                option->value = equals + 1;
            else if (i + 1 < argc)
                option->value = argv [++i];
            else
                return s_usage_error ("%s: %s needs a value", command, option->name);
            continue;
        }
        if (*word_count >= max_words)
            return s_usage_error ("%s: unexpected argument '%s'", command, token);
        words [(*word_count)++] = token;
    }
    return S_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  keygen DIR

static int
s_keygen (int argc, char *argv [])
{
    const char *words [1];
    int word_count;
    int rc = s_parse ("keygen", argc, argv, NULL, 0, words, 1, &word_count);
    if (rc)
        return rc;
    if (word_count != 1)
        return s_usage_error ("keygen: expected the folder for the issuer keys: keygen DIR");
    char err [600];
    if (cw_license_keygen (words [0], err, sizeof err))
        return s_failed (err);
    char path [4200];
    snprintf (path, sizeof path, "%s/issuer.pub", words [0]);
    cw_license_issuer_t issuer;
    if (cw_license_issuer_load (path, &issuer, err, sizeof err))
        return s_failed (err);
    printf ("secret key: %s/issuer.key (mode 0600: keep it private, it issues keys)\n", words [0]);
    printf ("public key: %s (list it in licensing.issuers of each node's bootstrap file)\n", path);
    printf ("key id:     %s\n", issuer.key_id);
    return S_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  issue

static int
s_issue (int argc, char *argv [])
{
    s_option_t options [] = {
        { "--key", false, NULL },    { "--kind", false, NULL },    { "--count", false, NULL },
        { "--system", false, NULL }, { "--expires", false, NULL },
    };
    const char *words [1];
    int word_count;
    int rc = s_parse ("issue", argc, argv, options, sizeof options / sizeof *options, words, 0, &word_count);
    if (rc)
        return rc;
    const char *key_file = options [0].value, *kind = options [1].value, *count_text = options [2].value,
               *system = options [3].value, *expires = options [4].value;
    if (!key_file)
        return s_usage_error ("issue: --key FILE is required: the issuer's secret key (from keygen DIR: "
                              "DIR/issuer.key)");
    if (!kind)
        return s_usage_error ("issue: --kind KIND is required");
    cw_license_key_t key;
    memset (&key, 0, sizeof key);
    if (strlen (kind) >= sizeof key.kind || !cw_license_kind_valid (kind))
        return s_usage_error ("issue: --kind must be one of rich_media_sessions, room_systems, desktop_systems, "
                              "traversal_calls, non_traversal_calls, or feature:<name> with name 1-48 of a-z, 0-9, "
                              "- (got '%s')",
                              kind);
    snprintf (key.kind, sizeof key.kind, "%s", kind);
    bool feature = cw_license_kind_is_feature (kind);
    if (!count_text && !feature)
        return s_usage_error ("issue: --count N is required: 1..%d licenses of %s", CW_LICENSE_COUNT_MAX, kind);
    if (count_text) {
        char *end = NULL;
        long long count = strtoll (count_text, &end, 10);
        bool digits = *count_text >= '0' && *count_text <= '9';
        if (!digits || *end || count < 1 || count > CW_LICENSE_COUNT_MAX)
            return s_usage_error ("issue: --count must be a whole number 1..%d (got '%s')", CW_LICENSE_COUNT_MAX,
                                  count_text);
        if (feature && count != 1)
            return s_usage_error ("issue: --count must be 1 for a feature key (got '%s')", count_text);
        key.count = count;
    }
    else
        key.count = 1;
    if (system) {
        size_t length = strlen (system);
        bool ok = length >= 1 && length < sizeof key.system;
        for (size_t i = 0; ok && i < length; i++)
            ok = (unsigned char) system [i] >= 0x20 && system [i] != 0x7f;
        if (!ok)
            return s_usage_error ("issue: --system must be a system name of 1-%d characters, none of them a "
                                  "control character (got '%s')",
                                  CW_LICENSE_SYSTEM_MAX - 1, system);
        snprintf (key.system, sizeof key.system, "%s", system);
    }
    if (expires) {
        cw_license_key_t probe;
        memset (&probe, 0, sizeof probe);
        if (strlen (expires) == 10)
            memcpy (probe.expires, expires, 11);
        //  A date that does not parse reads as "never expires"
        if (strlen (expires) != 10 || cw_license_days_left (&probe, time (NULL)) == INT32_MAX)
            return s_usage_error ("issue: --expires must be a real day YYYY-MM-DD, the last day the key is valid "
                                  "(got '%s')",
                                  expires);
        memcpy (key.expires, expires, 11);
        if (cw_license_days_left (&key, time (NULL)) < 0)
            fprintf (stderr, "causeway-license: warning: this key expired on %s; a node refuses it\n", expires);
    }
    unsigned char secret [CW_LICENSE_SECRET_BYTES];
    char err [600], token [CW_LICENSE_MAX_TEXT + 1];
    if (cw_license_secret_load (key_file, secret, err, sizeof err))
        return s_failed (err);
    rc = cw_license_issue (secret, &key, token, sizeof token, err, sizeof err);
    sodium_memzero (secret, sizeof secret);
    if (rc)
        return s_failed (err);
    printf ("%s\n", token);
    return S_EXIT_OK;
}

// ---------------------------------------------------------------------------
//  show KEY

static int
s_show (int argc, char *argv [])
{
    s_option_t options [] = { { "--json", true, NULL }, { "--issuer", false, NULL } };
    const char *words [1];
    int word_count;
    int rc = s_parse ("show", argc, argv, options, sizeof options / sizeof *options, words, 1, &word_count);
    if (rc)
        return rc;
    if (word_count != 1)
        return s_usage_error ("show: expected one option key: show CWL1.<payload>.<signature>");
    bool json = options [0].value != NULL;
    const char *issuer_file = options [1].value;
    char err [600];
    cw_license_issuer_t issuer;
    if (issuer_file && cw_license_issuer_load (issuer_file, &issuer, err, sizeof err))
        return s_failed (err);
    cw_license_key_t key;
    if (cw_license_decode (words [0], &key, err, sizeof err) != CW_LICENSE_OK)
        return s_failed (err);
    time_t now = time (NULL);
    cw_license_status_t status = CW_LICENSE_OK;
    char check [700];
    if (issuer_file) {
        status = cw_license_verify (words [0], &issuer, 1, now, NULL, &key, err, sizeof err);
        if (status == CW_LICENSE_OK)
            snprintf (check, sizeof check, "ok: signed by %s (key id %s) and valid", issuer_file, issuer.key_id);
        else
            snprintf (check, sizeof check, "%s", err);
    }
    else
        snprintf (check, sizeof check, "not checked (give --issuer FILE, the issuer.pub, to check it)");
    int days = cw_license_days_left (&key, now);
    if (json) {
        const char *signature = !issuer_file                      ? "not checked"
                              : status == CW_LICENSE_EXPIRED      ? "ok"
                              : status == CW_LICENSE_WRONG_SYSTEM ? "ok"
                                                                  : cw_license_status_name (status);
        json_t *body = json_pack ("{s:s, s:s, s:s, s:I}", "serial", key.serial, "issuer", key.issuer, "kind", key.kind,
                                  "count", (json_int_t) key.count);
        if (body && key.system [0])
            json_object_set_new (body, "system", json_string (key.system));
        if (body && key.expires [0])
            json_object_set_new (body, "expires", json_string (key.expires));
        if (body) {
            json_object_set_new (body, "issued", json_string (key.issued));
            json_object_set_new (body, "signature", json_string (signature));
            json_object_set_new (body, "check",
                                 json_string (issuer_file ? cw_license_status_name (status) : "not checked"));
        }
        if (body && key.expires [0])
            json_object_set_new (body, "days_left", json_integer (days));
        if (body && issuer_file && status != CW_LICENSE_OK)
            json_object_set_new (body, "message", json_string (err));
        char *text = body ? json_dumps (body, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref (body);
        if (!text)
            return s_failed ("out of memory");
        printf ("%s\n", text);
        free (text);
    }
    else {
        char expiry [64];
        if (!key.expires [0])
            snprintf (expiry, sizeof expiry, "never");
        else if (days >= 0)
            snprintf (expiry, sizeof expiry, "%s (%d day%s left)", key.expires, days, days == 1 ? "" : "s");
        else
            snprintf (expiry, sizeof expiry, "%s (expired %d day%s ago)", key.expires, -days, days == -1 ? "" : "s");
        printf ("serial:    %s\n", key.serial);
        printf ("issuer:    %s\n", key.issuer);
        printf ("kind:      %s\n", key.kind);
        printf ("count:     %lld\n", (long long) key.count);
        printf ("system:    %s\n", key.system [0] ? key.system : "any (not bound)");
        printf ("expires:   %s\n", expiry);
        printf ("issued:    %s\n", key.issued);
        printf ("signature: %s\n", check);
    }
    return status == CW_LICENSE_OK ? S_EXIT_OK : S_EXIT_FAILED;
}

int
main (int argc, char *argv [])
{
    if (sodium_init () < 0)
        return s_failed ("cannot initialise libsodium");
    for (int i = 1; i < argc; i++)
        if (strcmp (argv [i], "--help") == 0 || strcmp (argv [i], "-h") == 0) {
            printf ("%s%s", s_usage, s_help);
            return S_EXIT_OK;
        }
    if (argc < 2)
        return s_usage_error ("expected a command: keygen, issue or show");
    const char *command = argv [1];
    if (strcmp (command, "keygen") == 0)
        return s_keygen (argc - 2, argv + 2);
    if (strcmp (command, "issue") == 0)
        return s_issue (argc - 2, argv + 2);
    if (strcmp (command, "show") == 0)
        return s_show (argc - 2, argv + 2);
    return s_usage_error ("unknown command '%s': expected keygen, issue or show", command);
}
