/*  fuzz_frame.c - libFuzzer target: the peer frame codec
    (actors/replication/link/frame.c), cw_frame_decode and cw_frame_json,
    on any byte stream, as a peer's reader sees it.

    The input is read as a stream of frames, the way peerlink reads a TLS
    connection: decode at the start, take frame->size bytes, again, until
    the bytes are malformed or incomplete. Properties of each step:
      - a complete frame lies inside the buffer, its header encodes back to
        the same 18 bytes (cw_frame_header), and cw_frame_wanted says its size;
      - one byte less of it is INCOMPLETE (a reader waits, never misreads);
      - with a smaller maximum (as before HELLO) it is either the same frame
        or refused for its length, never something else;
      - its JSON, when it parses, encodes into a frame (cw_frame_encode) that
        decodes to the same type, correlation id, JSON value and blob;
      - a refusal always says what is wrong.
*/
#include <string.h>

#include "frame.h"
#include "fuzz.h"

#define S_SMALL_MAX 4096    //  a frame size limit like the one before HELLO

static void
s_check_round_trip (const cw_frame_t *frame, json_t *json)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    if (cw_frame_encode (frame->type, frame->corr, json, frame->blob, frame->blob_len, &out, &out_len) != 0)
        return;    //  the JSON re-dumped may be longer than CW_FRAME_MAX: not an error of the codec
    cw_frame_t again;
    char what [256];
    if (cw_frame_decode (out, out_len, 0, &again, what, sizeof what) != CW_FRAME_COMPLETE)
        fuzz_fail ("an encoded frame does not decode: %s", what);
    if (again.size != out_len || again.type != frame->type || again.corr != frame->corr
        || again.blob_len != frame->blob_len
        || (frame->blob_len && memcmp (again.blob, frame->blob, frame->blob_len) != 0))
        fuzz_fail ("an encoded frame decodes to another frame");
    json_t *parsed = NULL;
    if (cw_frame_json (&again, &parsed, what, sizeof what) != 0)
        fuzz_fail ("the JSON of an encoded frame does not parse: %s", what);
    if ((json == NULL) != (parsed == NULL) || (json && !json_equal (json, parsed)))
        fuzz_fail ("the JSON of an encoded frame is another value");
    json_decref (parsed);
    free (out);
}

static void
s_check_frame (const uint8_t *data, size_t size, const cw_frame_t *frame)
{
    if (frame->size < CW_FRAME_HEADER || frame->size > size)
        fuzz_fail ("frame size %zu outside the %zu bytes given", frame->size, size);
    if (CW_FRAME_HEADER + frame->json_len + frame->blob_len != frame->size)
        fuzz_fail ("header + json + blob is not the frame size");
    if ((frame->json_len == 0) != (frame->json == NULL) || (frame->blob_len == 0) != (frame->blob == NULL))
        fuzz_fail ("json/blob pointers disagree with their lengths");
    if (frame->json && (const uint8_t *) frame->json != data + CW_FRAME_HEADER)
        fuzz_fail ("json does not start after the header");
    if (frame->blob && frame->blob + frame->blob_len != data + frame->size)
        fuzz_fail ("the blob does not end the frame");
    if (cw_frame_wanted (data, size) != frame->size)
        fuzz_fail ("cw_frame_wanted disagrees with the decoded size");
    uint8_t header [CW_FRAME_HEADER];
    if (cw_frame_header (header, frame->type, frame->corr, frame->json_len, frame->blob_len) != 0
        || memcmp (header, data, CW_FRAME_HEADER) != 0)
        fuzz_fail ("the header does not encode back to the same bytes");

    cw_frame_t part;
    cw_frame_result_t rc = cw_frame_decode (data, frame->size - 1, 0, &part, NULL, 0);
    if (rc != CW_FRAME_INCOMPLETE)
        fuzz_fail ("a frame cut one byte short is %s, not incomplete",
                   rc == CW_FRAME_COMPLETE ? "complete" : "malformed");

    cw_frame_t small;
    char what [256] = "";
    rc = cw_frame_decode (data, size, S_SMALL_MAX, &small, what, sizeof what);
    if (frame->size - 4 <= S_SMALL_MAX) {
        if (rc != CW_FRAME_COMPLETE || small.size != frame->size || small.corr != frame->corr)
            fuzz_fail ("a frame under the smaller maximum decodes differently");
    }
    else if (rc != CW_FRAME_MALFORMED || !strstr (what, "above the maximum"))
        fuzz_fail ("a frame over the smaller maximum is not refused for its length (%s)", what);

    json_t *json = NULL;
    what [0] = 0;
    if (cw_frame_json (frame, &json, what, sizeof what) == 0)
        s_check_round_trip (frame, json);
    else if (json || strncmp (what, "invalid JSON", 12) != 0)
        fuzz_fail ("cw_frame_json failed without saying why, or left a value");
    json_decref (json);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t pos = 0;
    for (int frames = 0; frames < 1000; frames++) {
        cw_frame_t frame;
        char what [256] = "";
        cw_frame_result_t rc = cw_frame_decode (data + pos, size - pos, 0, &frame, what, sizeof what);
        if (rc == CW_FRAME_MALFORMED) {
            if (!*what)
                fuzz_fail ("a malformed frame without a reason");
            break;
        }
        if (rc == CW_FRAME_INCOMPLETE) {
            if (size - pos >= 4 && cw_frame_wanted (data + pos, size - pos) <= size - pos)
                fuzz_fail ("incomplete although cw_frame_wanted bytes are there");
            break;
        }
        if (rc != CW_FRAME_COMPLETE)
            fuzz_fail ("cw_frame_decode returned %d", (int) rc);
        s_check_frame (data + pos, size - pos, &frame);
        pos += frame.size;
    }
    return 0;
}
