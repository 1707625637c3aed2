/*  rowscan.h - JSON rows read in place, without building them.

    The provisioning pull and the directory handle millions of small,
    flat JSON objects ({"id":"e1","rev":2,"name":"..."}). Building each
    one with jansson (a node and an allocation per member) and writing it
    out again was most of the tms actor's time during a full pull. These
    helpers check a JSON text exactly as strictly as jansson reads it
    (RFC 8259 grammar, UTF-8, escapes, no \u0000, nesting up to 2048) and
    find the members of an object as spans of that text, so a row's text
    can be kept as it came and only the members wanted are decoded.

    What they do not do: build values, or accept anything jansson would
    refuse. A caller that needs more than a flat member reads the span
    with jansson.
*/
#ifndef TMS_ROWSCAN_H
#define TMS_ROWSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A value's text: AT[0..LEN), a string with its quotes; AT NULL: absent
typedef struct {
    const char *at;
    size_t len;
} tms_span_t;

//  Skip white space, then one JSON value, from *P (not beyond END),
//  checking it. 0 with *P just past it, or -1 (not valid JSON).
int tms_scan_value (const char **p, const char *end);

//  Skip white space from *P; the next byte, or 0 at END.
char tms_scan_ws (const char **p, const char *end);

//  TEXT[0..LEN) must be one JSON object (white space around allowed):
//  the values of its members named NAMES[0..COUNT) into FOUND[0..COUNT)
//  (the last one when a name repeats, as jansson keeps). 0, or -1 when
//  TEXT is not a valid JSON object. Member names with escapes are never
//  matched (no row member needs one).
int tms_scan_object (const char *text, size_t len, const char *const *names, int count, tms_span_t *found);

//  SPAN's string decoded into BUF: BUF, or NULL when SPAN is absent, not
//  a string, or too long (BUFLEN must exceed the decoded length by 4:
//  SPAN.len + 4 is always enough).
const char *tms_scan_string (tms_span_t span, char *buf, size_t buflen);

//  SPAN as an integer (a JSON number without fraction or exponent that
//  fits 64 bits): true with *VALUE, else false.
bool tms_scan_int (tms_span_t span, int64_t *value);

//  SPAN is the literal true
bool tms_scan_true (tms_span_t span);

#endif
