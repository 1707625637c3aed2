/*  frame.h - the one codec of the peer frame, the unit every peer
    connection carries inside TLS (the managed links of peerlink.h and the
    one-shot dial of dial.h).

    Wire format (big-endian integers):
        [u32 length of the rest][u8 version = 1][u8 type]
        [u64 corr][u32 json_len][json bytes][blob bytes]
    "length of the rest" covers version..blob: at least CW_FRAME_FIXED
    (an empty frame), at most CW_FRAME_MAX. json is UTF-8 JSON text (any
    JSON value) or empty (json_len = 0); the blob is opaque bytes, the rest
    of the frame after the JSON (may be empty). Types 0 (HELLO) and 255
    (CHUNK: a piece of a message larger than one frame, see peerlink.h)
    belong to the links themselves; callers use types 1..254.

    Encoding writes the 18 header bytes (cw_frame_header) or a whole frame
    (cw_frame_encode). Decoding (cw_frame_decode) looks at the start of a
    byte buffer and says one of: a complete frame is there (and how many
    bytes it takes), more bytes are needed, or the bytes are malformed
    (with what is wrong). It never copies: the frame it returns points into
    the buffer. It is the same function for a non-blocking reader that
    buffers what arrived and for a blocking reader that reads exactly
    cw_frame_wanted () bytes at a time. Bytes from a peer are validated,
    never asserted on.
*/
#ifndef CW_FRAME_H
#define CW_FRAME_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_FRAME_VERSION 1
#define CW_FRAME_TYPE_HELLO 0
#define CW_FRAME_TYPE_CHUNK 255
#define CW_FRAME_MAX (1024u * 1024u * 1024u)    //  largest "length of the rest" (a snapshot of cluster.db)
#define CW_FRAME_HEADER 18                      //  bytes before the JSON
#define CW_FRAME_FIXED 14                       //  header bytes counted in the length

//  What cw_frame_decode found at the start of the buffer.
typedef enum {
    CW_FRAME_MALFORMED = -1,    //  not a frame: close the connection
    CW_FRAME_COMPLETE = 0,      //  one whole frame, described in *frame
    CW_FRAME_INCOMPLETE = 1     //  a valid start: wait for more bytes
} cw_frame_result_t;

//  A decoded frame. json and blob point into the buffer given to
//  cw_frame_decode (valid while it is); NULL when their length is 0.
typedef struct {
    uint8_t type;
    uint64_t corr;
    const char *json;    //  JSON text, NOT NUL-terminated
    size_t json_len;
    const uint8_t *blob;
    size_t blob_len;
    size_t size;    //  bytes the frame takes in the buffer (4 + length)
} cw_frame_t;

//  Write the CW_FRAME_HEADER bytes of a frame whose JSON text and blob
//  have these lengths into HEADER. Returns 0, or -1 when the frame would
//  be longer than CW_FRAME_MAX.
int cw_frame_header (uint8_t header [CW_FRAME_HEADER], uint8_t type, uint64_t corr, size_t json_len, size_t blob_len);

//  Encode a whole frame: TYPE, CORR, JSON (borrowed, may be NULL = empty;
//  dumped compact) and BLOB (may be NULL when BLOB_LEN is 0). On success
//  *out is a new malloc'd buffer of *out_len bytes, owned by the caller;
//  returns 0. Returns -1 (*out NULL) when JSON cannot be dumped, the frame
//  is too large, or memory runs out.
int cw_frame_encode (uint8_t type, uint64_t corr, json_t *json, const void *blob, size_t blob_len, uint8_t **out,
                     size_t *out_len);

//  Decode the frame at the start of DATA (SIZE bytes available). MAX
//  limits "length of the rest" (0 = CW_FRAME_MAX; a larger value is
//  capped to it). Checks, in this order, as soon as the bytes for each are
//  there: length >= CW_FRAME_FIXED, length <= MAX, version == 1, then,
//  once the whole frame is there, json_len <= length - CW_FRAME_FIXED.
//  The JSON is not parsed here (see cw_frame_json).
//  Returns CW_FRAME_COMPLETE with *frame filled (frame->size bytes
//  consumed), CW_FRAME_INCOMPLETE when more bytes are needed, or
//  CW_FRAME_MALFORMED with what is wrong in WHAT (e.g. "unsupported
//  version 2"; WHAT may be NULL).
cw_frame_result_t cw_frame_decode (const uint8_t *data, size_t size, size_t max, cw_frame_t *frame, char *what,
                                   size_t whatlen);

//  How many bytes the frame that starts DATA needs in total: 4 while
//  fewer than 4 bytes are there, else 4 + its length field (not checked:
//  call cw_frame_decode for that). For readers sizing their buffer.
size_t cw_frame_wanted (const uint8_t *data, size_t size);

//  Parse FRAME's JSON. Returns 0 with *json a new reference (NULL when the
//  frame has no JSON), or -1 with WHAT = "invalid JSON: <why>" (the frame
//  is then malformed).
int cw_frame_json (const cw_frame_t *frame, json_t **json, char *what, size_t whatlen);

#endif
