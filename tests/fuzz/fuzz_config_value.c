/*  fuzz_config_value.c - libFuzzer target: cw_registry_normalize
    (actors/replication/store/registry.c), the one check of a configuration
    value from outside, for every key of the registry.

    The input is tried as a JSON value (what a control client sends in
    "value") and as a plain string (what the CLI sends), against every key.
    Properties: a refusal names the key and says what is allowed; an
    accepted value is in stored form, so normalizing it again (also after a
    trip through JSON text, as it is stored) gives the same value. The input
    is also looked up as a key name, and the "unknown key" message with its
    suggestions is built for it.
*/
#include <string.h>

#include "fuzz.h"
#include "registry.h"

static void
s_check (const cw_config_key_t *key, json_t *value)
{
    char err [1024] = "";
    json_t *stored = cw_registry_normalize (key, value, err, sizeof err);
    if (!stored) {
        size_t n = strlen (key->name);
        if (strncmp (err, key->name, n) != 0 || err [n] != ':' || !strstr (err, "allowed"))
            fuzz_fail ("refusal for %s does not name the key and what is allowed: %s", key->name, err);
        return;
    }
    char again_err [1024] = "";
    json_t *again = cw_registry_normalize (key, stored, again_err, sizeof again_err);
    if (!again || !json_equal (again, stored))
        fuzz_fail ("%s: the stored form is not stable under normalization (%s)", key->name, again_err);
    char *text = json_dumps (stored, JSON_ENCODE_ANY | JSON_COMPACT);
    json_t *loaded = text ? json_loads (text, JSON_DECODE_ANY, NULL) : NULL;
    json_t *reloaded = loaded ? cw_registry_normalize (key, loaded, NULL, 0) : NULL;
    if (!reloaded || !json_equal (reloaded, stored))
        fuzz_fail ("%s: the stored form does not survive its JSON text %s", key->name, text ? text : "(null)");
    json_decref (reloaded);
    json_decref (loaded);
    free (text);
    json_decref (again);
    json_decref (stored);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    json_t *as_json = json_loadb ((const char *) data, size, JSON_DECODE_ANY, NULL);
    json_t *as_string = json_stringn ((const char *) data, size);    //  NULL unless valid UTF-8
    size_t count = 0;
    const cw_config_key_t *keys = cw_registry_keys (&count);
    for (size_t i = 0; i < count; i++) {
        if (as_json)
            s_check (&keys [i], as_json);
        if (as_string)
            s_check (&keys [i], as_string);
    }
    json_decref (as_json);
    json_decref (as_string);

    char name [300];
    size_t n = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy (name, data, n);
    name [n] = 0;
    const cw_config_key_t *key = cw_registry_lookup (name);
    if (key && strcmp (key->name, name) != 0)
        fuzz_fail ("lookup of '%s' found '%s'", name, key->name);
    char message [1024];
    cw_registry_unknown_message (name, message, sizeof message);
    if (strncmp (message, "unknown key", 11) != 0)
        fuzz_fail ("the unknown-key message is '%s'", message);
    return 0;
}
