/*  fuzz_envelope.c - libFuzzer target: cw_envelope_decode (ipc/cw_envelope.c)
    on any sequence of frames.

    Properties: decoding never crashes; a refusal counts exactly one
    malformed message and says why; an envelope that decodes has every
    string set, and encoding it again gives frames that decode to the same
    envelope (type, correlation id, from, to, command, body).
*/
#include <string.h>

#include "cw_envelope.h"
#include "fuzz.h"

static void
s_same (const char *what, const char *a, const char *b)
{
    if (!a || !b || strcmp (a, b) != 0)
        fuzz_fail ("re-encoded envelope: %s differs ('%s' / '%s')", what, a ? a : "(null)", b ? b : "(null)");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmsg_t *msg = fuzz_frames (data, size);
    cw_envelope_t env;
    char err [256] = "";
    uint64_t before = cw_envelope_malformed ();
    int rc = cw_envelope_decode (msg, &env, err, sizeof err);
    if (rc != 0) {
        if (rc != -1)
            fuzz_fail ("decode returned %d", rc);
        if (cw_envelope_malformed () != before + 1)
            fuzz_fail ("a refused envelope was not counted once");
        if (!*err)
            fuzz_fail ("a refused envelope has no reason");
        if (env.from || env.to || env.command || env.body)
            fuzz_fail ("a refused envelope left strings behind");
        zmsg_destroy (&msg);
        return 0;
    }
    if (cw_envelope_malformed () != before)
        fuzz_fail ("an envelope that decoded was counted as malformed");
    if (!env.from || !env.to || !env.command || !env.body)
        fuzz_fail ("a decoded envelope has a NULL string");
    if (env.type == CW_MSG_INVALID)
        fuzz_fail ("a decoded envelope has type INVALID");

    zmsg_t *again = cw_envelope_encode (env.type, env.corr, env.from, env.to, env.command, env.body);
    cw_envelope_t copy;
    if (cw_envelope_decode (again, &copy, err, sizeof err) != 0)
        fuzz_fail ("a decoded envelope does not decode once encoded again: %s", err);
    if (copy.type != env.type || copy.corr != env.corr)
        fuzz_fail ("re-encoded envelope: type or correlation id differs");
    s_same ("from", env.from, copy.from);
    s_same ("to", env.to, copy.to);
    s_same ("command", env.command, copy.command);
    s_same ("body", env.body, copy.body);
    cw_envelope_clear (&copy);
    cw_envelope_clear (&env);
    if (env.from || env.body)
        fuzz_fail ("cw_envelope_clear left a pointer");
    zmsg_destroy (&again);
    zmsg_destroy (&msg);
    return 0;
}
