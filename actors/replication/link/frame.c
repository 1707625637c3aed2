/*  frame.c - the one codec of the peer frame (see frame.h for the wire
    format and the contract).

    Integers are written and read byte by byte, big-endian, so the code
    does not depend on the host's byte order or on alignment. Decoding
    checks each field as soon as its bytes are there, so a reader learns
    of a bad length or version without waiting for a frame that will never
    be complete.
*/
#include "frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_put_u32 (uint8_t *p, uint32_t v)
{
    p [0] = (uint8_t) (v >> 24);
    p [1] = (uint8_t) (v >> 16);
    p [2] = (uint8_t) (v >> 8);
    p [3] = (uint8_t) v;
}

static uint32_t
s_get_u32 (const uint8_t *p)
{
    return ((uint32_t) p [0] << 24) | ((uint32_t) p [1] << 16) | ((uint32_t) p [2] << 8) | (uint32_t) p [3];
}

//  Say what is malformed: TEXT, with NUMBER after it when >= 0.
static cw_frame_result_t
s_malformed (char *what, size_t whatlen, const char *text, long number, const char *tail)
{
    if (what && whatlen) {
        if (number >= 0)
            snprintf (what, whatlen, "%s %ld%s", text, number, tail);
        else
            snprintf (what, whatlen, "%s", text);
    }
    return CW_FRAME_MALFORMED;
}

int
cw_frame_header (uint8_t header [CW_FRAME_HEADER], uint8_t type, uint64_t corr, size_t json_len, size_t blob_len)
{
    if (json_len > CW_FRAME_MAX || blob_len > CW_FRAME_MAX || CW_FRAME_FIXED + json_len + blob_len > CW_FRAME_MAX)
        return -1;
    s_put_u32 (header, (uint32_t) (CW_FRAME_FIXED + json_len + blob_len));
    header [4] = CW_FRAME_VERSION;
    header [5] = type;
    s_put_u32 (header + 6, (uint32_t) (corr >> 32));
    s_put_u32 (header + 10, (uint32_t) corr);
    s_put_u32 (header + 14, (uint32_t) json_len);
    return 0;
}

int
cw_frame_encode (uint8_t type, uint64_t corr, json_t *json, const void *blob, size_t blob_len, uint8_t **out,
                 size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (blob_len && !blob)
        return -1;
    char *text = NULL;
    if (json) {
        text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            return -1;
    }
    size_t json_len = text ? strlen (text) : 0;
    uint8_t header [CW_FRAME_HEADER];
    if (cw_frame_header (header, type, corr, json_len, blob_len)) {
        free (text);
        return -1;
    }
    size_t total = CW_FRAME_HEADER + json_len + blob_len;
    uint8_t *frame = malloc (total);
    if (!frame) {
        free (text);
        return -1;
    }
    memcpy (frame, header, CW_FRAME_HEADER);
    if (json_len)
        memcpy (frame + CW_FRAME_HEADER, text, json_len);
    if (blob_len)
        memcpy (frame + CW_FRAME_HEADER + json_len, blob, blob_len);
    free (text);
    *out = frame;
    *out_len = total;
    return 0;
}

cw_frame_result_t
cw_frame_decode (const uint8_t *data, size_t size, size_t max, cw_frame_t *frame, char *what, size_t whatlen)
{
    if (what && whatlen)
        what [0] = 0;
    if (max == 0 || max > CW_FRAME_MAX)
        max = CW_FRAME_MAX;
    if (size < 4)
        return CW_FRAME_INCOMPLETE;
    uint32_t length = s_get_u32 (data);
    if (length < CW_FRAME_FIXED)
        return s_malformed (what, whatlen, "length shorter than the header", -1, "");
    if (length > max)
        return s_malformed (what, whatlen, "length", (long) length, " above the maximum");
    if (size < 5)
        return CW_FRAME_INCOMPLETE;
    if (data [4] != CW_FRAME_VERSION)
        return s_malformed (what, whatlen, "unsupported version", data [4], "");
    if (size - 4 < length)
        return CW_FRAME_INCOMPLETE;
    uint32_t json_len = s_get_u32 (data + 14);
    if (json_len > length - CW_FRAME_FIXED)
        return s_malformed (what, whatlen, "json_len exceeds the frame", -1, "");
    frame->type = data [5];
    frame->corr = ((uint64_t) s_get_u32 (data + 6) << 32) | s_get_u32 (data + 10);
    frame->json_len = json_len;
    frame->json = json_len ? (const char *) data + CW_FRAME_HEADER : NULL;
    frame->blob_len = length - CW_FRAME_FIXED - json_len;
    frame->blob = frame->blob_len ? data + CW_FRAME_HEADER + json_len : NULL;
    frame->size = 4 + (size_t) length;
    return CW_FRAME_COMPLETE;
}

size_t
cw_frame_wanted (const uint8_t *data, size_t size)
{
    if (size < 4)
        return 4;
    return 4 + (size_t) s_get_u32 (data);
}

int
cw_frame_json (const cw_frame_t *frame, json_t **json, char *what, size_t whatlen)
{
    *json = NULL;
    if (!frame->json_len)
        return 0;
    json_error_t jerr;
    *json = json_loadb (frame->json, frame->json_len, JSON_DECODE_ANY, &jerr);
    if (!*json) {
        if (what && whatlen)
            snprintf (what, whatlen, "invalid JSON: %s", jerr.text);
        return -1;
    }
    return 0;
}
