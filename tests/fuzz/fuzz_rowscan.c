/*  fuzz_rowscan.c - libFuzzer target: the in-place JSON row reader
    (actors/tms/rowscan.c) against jansson, on any bytes.

    Properties: the reader accepts exactly the texts jansson reads as one
    value; for an object, every member it finds holds what jansson holds
    under that name (a string decodes to the same bytes, an integer to the
    same number, true to true). The input is read, up to its first NUL
    byte, from a buffer of exactly that size, so ASan sees any read past
    it.

    The module is pure (no state, no allocation), so it is compiled into
    this target.
*/
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../actors/tms/rowscan.c"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    //  Up to the first NUL byte: jansson ends a text there (the events and
    //  rows are C strings); the reader refuses one inside a value
    const uint8_t *nul = memchr (data, 0, size);
    if (nul)
        size = (size_t) (nul - data);
    char *text = malloc (size ? size : 1);
    memcpy (text, data, size);
    const char *p = text, *end = text + size;
    bool scanned = tms_scan_value (&p, end) == 0;
    if (scanned) {
        tms_scan_ws (&p, end);
        scanned = p == end;
    }
    json_t *parsed = json_loadb (text, size, JSON_DECODE_ANY, NULL);
    if (scanned != (parsed != NULL))
        fuzz_fail ("rowscan %s a text jansson %s", scanned ? "accepts" : "refuses", parsed ? "reads" : "refuses");
    if (json_is_object (parsed)) {
        //  Up to 4 of its member names (without a 0 inside) looked up
        const char *names [4];
        int count = 0;
        const char *key;
        json_t *value;
        json_object_foreach (parsed, key, value) {
            if (count < 4)
                names [count++] = key;
        }
        tms_span_t found [4];
        if (tms_scan_object (text, size, names, count, found) != 0)
            fuzz_fail ("an object jansson reads is not one for tms_scan_object");
        for (int i = 0; i < count; i++) {
            json_t *want = json_object_get (parsed, names [i]);
            if (!found [i].at)
                continue;    //  a name written with escapes is never matched
            size_t room = found [i].len + 4;
            char *buf = malloc (room);
            const char *got = tms_scan_string (found [i], buf, room);
            if (json_is_string (want)) {
                if (!got || strlen (got) != json_string_length (want)
                    || memcmp (got, json_string_value (want), strlen (got)) != 0)
                    fuzz_fail ("member %s decodes differently", names [i]);
            }
            else if (got)
                fuzz_fail ("member %s is not a string but decodes as one", names [i]);
            int64_t n;
            if (json_is_integer (want) && (!tms_scan_int (found [i], &n) || n != json_integer_value (want)))
                fuzz_fail ("member %s is not the same integer", names [i]);
            if (tms_scan_true (found [i]) != json_is_true (want))
                fuzz_fail ("member %s: true differs", names [i]);
            free (buf);
        }
    }
    json_decref (parsed);
    free (text);
    return 0;
}
