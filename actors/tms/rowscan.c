/*  rowscan.c - JSON rows read in place, without building them
    (rowscan.h).

    A recursive descent over the text. Strings are checked byte by byte:
    no control character, escapes from the JSON set with \uXXXX surrogates
    paired, the rest well-formed UTF-8 (no overlong form, no surrogate,
    nothing past U+10FFFF), as jansson checks them.
*/
#include "rowscan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH_MAX 2048    //  jansson's JSON_PARSER_MAX_DEPTH

static int s_value (const char **p, const char *end, int depth);

char
tms_scan_ws (const char **p, const char *end)
{
    const char *q = *p;
    while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
        q++;
    *p = q;
    return q < end ? *q : 0;
}

static int
s_hex4 (const char *q, const char *end, unsigned *out)
{
    if (end - q < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q [i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned) (c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned) (c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned) (c - 'A' + 10)
                                          : 16u;
        if (d == 16)
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

//  The code point of the \u escape at Q (just after "\u"), its low
//  surrogate included; *Q past it. -1 when malformed or U+0000.
static long
s_escape_u (const char **q, const char *end)
{
    unsigned hi;
    if (s_hex4 (*q, end, &hi))
        return -1;
    *q += 4;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return -1;    //  a lone low surrogate
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        unsigned lo;
        if (end - *q < 6 || (*q) [0] != '\\' || (*q) [1] != 'u' || s_hex4 (*q + 2, end, &lo) || lo < 0xDC00
            || lo > 0xDFFF)
            return -1;
        *q += 6;
        return 0x10000 + (((long) hi - 0xD800) << 10) + ((long) lo - 0xDC00);
    }
    return hi == 0 ? -1 : (long) hi;
}

//  The UTF-8 sequence at Q (its first byte >= 0x80): its length, or 0
static int
s_utf8 (const unsigned char *q, const unsigned char *end)
{
    unsigned c = q [0];
    int n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    }
    else
        return 0;
    if (end - q < n)
        return 0;
    unsigned cp = c & (0x3F >> (n - 1));
    for (int i = 1; i < n; i++) {
        if ((q [i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (q [i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

//  The string at *P (its opening quote); *P past the closing one. 0 / -1.
//  *ESCAPED: it holds an escape.
static int
s_string (const char **p, const char *end, bool *escaped)
{
    const char *q = *p + 1;
    bool any = false;
    while (q < end) {
        unsigned char c = (unsigned char) *q;
        if (c == '"') {
            *p = q + 1;
            if (escaped)
                *escaped = any;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            any = true;
            if (++q >= end)
                return -1;
            char e = *q++;
            if (e == 'u') {
                if (s_escape_u (&q, end) < 0)
                    return -1;
            }
            else if (!strchr ("\"\\/bfnrt", e) || !e)
                return -1;
        }
        else if (c >= 0x80) {
            int n = s_utf8 ((const unsigned char *) q, (const unsigned char *) end);
            if (!n)
                return -1;
            q += n;
        }
        else
            q++;
    }
    return -1;
}

//  The number at *P; *P past it. 0, or -1 when malformed or, as jansson
//  refuses them, an integer beyond 64 bits or a real beyond a double.
static int
s_number (const char **p, const char *end)
{
    const char *start = *p, *q = *p;
    bool real = false;
    if (q < end && *q == '-')
        q++;
    if (q >= end)
        return -1;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    else
        return -1;
    if (q < end && *q == '.') {
        real = true;
        q++;
        if (q >= end || *q < '0' || *q > '9')
            return -1;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || *q < '0' || *q > '9')
            return -1;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    }
    size_t len = (size_t) (q - start);
    int64_t integer;
    if (!real && !tms_scan_int ((tms_span_t) { start, len }, &integer))
        return -1;
    if (real) {
        char small [128];
        char *text = len < sizeof small ? small : malloc (len + 1);
        if (!text)
            return -1;
        memcpy (text, start, len);
        text [len] = 0;
        bool overflow = isinf (strtod (text, NULL));
        if (text != small)
            free (text);
        if (overflow)
            return -1;
    }
    *p = q;
    return 0;
}

static int
s_literal (const char **p, const char *end, const char *word)
{
    size_t n = strlen (word);
    if ((size_t) (end - *p) < n || memcmp (*p, word, n) != 0)
        return -1;
    *p += n;
    return 0;
}

//  The array or object at *P; for an object, each member's name span and
//  value span to FN (NULL: none)
typedef void (s_member_fn) (const char *name, size_t name_len, bool escaped, tms_span_t value, void *arg);

static int
s_container (const char **p, const char *end, int depth, s_member_fn *fn, void *arg)
{
    if (depth >= S_DEPTH_MAX)
        return -1;
    bool object = **p == '{';
    char close = object ? '}' : ']';
    (*p)++;
    if (tms_scan_ws (p, end) == close) {
        (*p)++;
        return 0;
    }
    while (true) {
        if (object) {
            if (tms_scan_ws (p, end) != '"')
                return -1;
            const char *name = *p + 1;
            bool escaped = false;
            if (s_string (p, end, &escaped))
                return -1;
            size_t name_len = (size_t) (*p - name - 1);
            if (tms_scan_ws (p, end) != ':')
                return -1;
            (*p)++;
            tms_scan_ws (p, end);
            const char *start = *p;
            if (s_value (p, end, depth + 1))
                return -1;
            if (fn)
                fn (name, name_len, escaped, (tms_span_t) { start, (size_t) (*p - start) }, arg);
        }
        else if (s_value (p, end, depth + 1))
            return -1;
        char c = tms_scan_ws (p, end);
        (*p)++;
        if (c == close)
            return 0;
        if (c != ',')
            return -1;
    }
}

static int
s_value (const char **p, const char *end, int depth)
{
    switch (tms_scan_ws (p, end)) {
        case '{':
        case '[':
            return s_container (p, end, depth, NULL, NULL);
        case '"':
            return s_string (p, end, NULL);
        case 't':
            return s_literal (p, end, "true");
        case 'f':
            return s_literal (p, end, "false");
        case 'n':
            return s_literal (p, end, "null");
        default:
            return s_number (p, end);
    }
}

int
tms_scan_value (const char **p, const char *end)
{
    return s_value (p, end, 0);
}

typedef struct {
    const char *const *names;
    int count;
    tms_span_t *found;
} s_wanted_t;

static void
s_member (const char *name, size_t name_len, bool escaped, tms_span_t value, void *arg)
{
    s_wanted_t *wanted = arg;
    if (escaped)
        return;
    for (int i = 0; i < wanted->count; i++)
        if (strlen (wanted->names [i]) == name_len && memcmp (wanted->names [i], name, name_len) == 0)
            wanted->found [i] = value;
}

int
tms_scan_object (const char *text, size_t len, const char *const *names, int count, tms_span_t *found)
{
    for (int i = 0; i < count; i++)
        found [i] = (tms_span_t) { NULL, 0 };
    const char *p = text, *end = text + len;
    if (tms_scan_ws (&p, end) != '{')
        return -1;
    s_wanted_t wanted = { names, count, found };
    if (s_container (&p, end, 0, s_member, &wanted))
        return -1;
    tms_scan_ws (&p, end);
    return p == end ? 0 : -1;
}

//  Code point CP as UTF-8 at OUT (room for 4): its length
static size_t
s_put_utf8 (char *out, long cp)
{
    if (cp < 0x80) {
        out [0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out [0] = (char) (0xC0 | (cp >> 6));
        out [1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out [0] = (char) (0xE0 | (cp >> 12));
        out [1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out [2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out [0] = (char) (0xF0 | (cp >> 18));
    out [1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out [2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out [3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

const char *
tms_scan_string (tms_span_t span, char *buf, size_t buflen)
{
    if (!span.at || span.len < 2 || span.at [0] != '"' || !buflen)
        return NULL;
    //  The span was checked when it was found: escapes are well formed
    const char *q = span.at + 1, *end = span.at + span.len - 1;
    size_t n = 0;
    while (q < end) {
        if (n + 4 >= buflen)
            return NULL;
        if (*q != '\\') {
            buf [n++] = *q++;
            continue;
        }
        q++;
        char e = *q++;
        switch (e) {
            case 'b':
                buf [n++] = '\b';
                break;
            case 'f':
                buf [n++] = '\f';
                break;
            case 'n':
                buf [n++] = '\n';
                break;
            case 'r':
                buf [n++] = '\r';
                break;
            case 't':
                buf [n++] = '\t';
                break;
            case 'u': {
                long cp = s_escape_u (&q, end);
                if (cp < 0)
                    return NULL;
                n += s_put_utf8 (buf + n, cp);
                break;
            }
            default:    //  " \ /
                buf [n++] = e;
                break;
        }
    }
    buf [n] = 0;
    return buf;
}

bool
tms_scan_int (tms_span_t span, int64_t *value)
{
    if (!span.at || !span.len)
        return false;
    const char *q = span.at, *end = span.at + span.len;
    bool negative = *q == '-';
    if (negative)
        q++;
    if (q == end)
        return false;
    uint64_t v = 0;
    uint64_t limit = negative ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
    for (; q < end; q++) {
        if (*q < '0' || *q > '9')
            return false;
        unsigned d = (unsigned) (*q - '0');
        if (v > (limit - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *value = negative ? (int64_t) (0 - v) : (int64_t) v;
    return true;
}

bool
tms_scan_true (tms_span_t span)
{
    return span.at && span.len == 4 && memcmp (span.at, "true", 4) == 0;
}
