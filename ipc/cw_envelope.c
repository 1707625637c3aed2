/*  cw_envelope.c - encode and decode the seven-frame envelope (cw_envelope.h).

    Decoding checks the frame count, the signature, the type name, that the
    correlation id is decimal, and that no frame has an embedded NUL or is
    larger than CW_ENVELOPE_MAX_FRAME; anything else is malformed and
    counted. Strings in the decoded envelope are fresh NUL-terminated copies.
*/
#include "cw_envelope.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CW_ENVELOPE_MAX_FRAME (16 * 1024 * 1024)

static uint64_t s_malformed = 0;

static const char *s_type_names [] = { "INVALID", "READY", "HEARTBEAT", "REQUEST", "REPLY", "EVENT", "STATE", "TERM" };

const char *
cw_msg_type_name (cw_msg_type_t type)
{
    if ((int) type < 0 || type > CW_MSG_TERM)
        return "INVALID";
    return s_type_names [type];
}

cw_msg_type_t
cw_msg_type_parse (const char *name)
{
    for (int i = CW_MSG_READY; name && i <= CW_MSG_TERM; i++)
        if (strcmp (name, s_type_names [i]) == 0)
            return (cw_msg_type_t) i;
    return CW_MSG_INVALID;
}

zmsg_t *
cw_envelope_encode (cw_msg_type_t type, uint64_t corr, const char *from, const char *to, const char *command,
                    const char *body)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return NULL;
    char corr_text [24];
    snprintf (corr_text, sizeof corr_text, "%llu", (unsigned long long) corr);
    zmsg_addstr (msg, CW_ENVELOPE_SIGNATURE);
    zmsg_addstr (msg, cw_msg_type_name (type));
    zmsg_addstr (msg, corr_text);
    zmsg_addstr (msg, from ? from : "");
    zmsg_addstr (msg, to ? to : "");
    zmsg_addstr (msg, command ? command : "");
    zmsg_addstr (msg, body ? body : "");
    return msg;
}

//  A copy of FRAME as a C string, or NULL if it holds a NUL or is too big.
static char *
s_frame_text (zframe_t *frame)
{
    size_t size = zframe_size (frame);
    if (size > CW_ENVELOPE_MAX_FRAME)
        return NULL;
    const byte *data = zframe_data (frame);
    if (size && memchr (data, 0, size))
        return NULL;
    char *text = malloc (size + 1);
    if (!text)
        return NULL;
    if (size)
        memcpy (text, data, size);
    text [size] = 0;
    return text;
}

static int
s_malformed_reason (char *err, size_t errlen, const char *reason)
{
    s_malformed++;
    if (err && errlen)
        snprintf (err, errlen, "%s", reason);
    return -1;
}

int
cw_envelope_decode (zmsg_t *msg, cw_envelope_t *self, char *err, size_t errlen)
{
    memset (self, 0, sizeof *self);
    if (!msg || zmsg_size (msg) != CW_ENVELOPE_FRAMES)
        return s_malformed_reason (err, errlen, "wrong number of frames");
    zframe_t *frame = zmsg_first (msg);
    if (zframe_size (frame) != strlen (CW_ENVELOPE_SIGNATURE)
        || memcmp (zframe_data (frame), CW_ENVELOPE_SIGNATURE, zframe_size (frame)) != 0)
        return s_malformed_reason (err, errlen, "bad signature (expected CWE1)");

    char *texts [6] = { 0 };
    for (int i = 0; i < 6; i++) {
        frame = zmsg_next (msg);
        texts [i] = s_frame_text (frame);
        if (!texts [i]) {
            for (int j = 0; j < i; j++)
                free (texts [j]);
            return s_malformed_reason (err, errlen, "frame holds NUL or is too large");
        }
    }
    const char *reason = NULL;
    cw_msg_type_t type = cw_msg_type_parse (texts [0]);
    if (type == CW_MSG_INVALID)
        reason = "unknown message type";
    char *end = NULL;
    errno = 0;
    unsigned long long corr = strtoull (texts [1], &end, 10);
    if (!reason && (!*texts [1] || *end || errno || texts [1][0] == '-'))
        reason = "correlation id is not a decimal number";
    if (reason) {
        for (int i = 0; i < 6; i++)
            free (texts [i]);
        return s_malformed_reason (err, errlen, reason);
    }
    free (texts [0]);
    free (texts [1]);
    self->type = type;
    self->corr = corr;
    self->from = texts [2];
    self->to = texts [3];
    self->command = texts [4];
    self->body = texts [5];
    return 0;
}

void
cw_envelope_clear (cw_envelope_t *self)
{
    if (!self)
        return;
    free (self->from);
    free (self->to);
    free (self->command);
    free (self->body);
    memset (self, 0, sizeof *self);
}

int
cw_envelope_send (zsock_t *sock, cw_msg_type_t type, uint64_t corr, const char *from, const char *to,
                  const char *command, const char *body)
{
    zmsg_t *msg = cw_envelope_encode (type, corr, from, to, command, body);
    if (!msg)
        return -1;
    if (zmsg_send (&msg, sock) != 0) {
        zmsg_destroy (&msg);
        return -1;
    }
    return 0;
}

zmsg_t *
cw_recv_nowait (zsock_t *sock)
{
    void *handle = zsock_resolve (sock);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, handle, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return NULL;
    }
    zmsg_t *msg = zmsg_new ();
    for (;;) {
        zframe_t *frame = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
        bool more = zmq_msg_more (&part);
        zmq_msg_close (&part);
        zmsg_append (msg, &frame);
        if (!more)
            break;
        //  The rest of a multipart message is already here (atomic delivery)
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, handle, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
    }
    return msg;
}

uint64_t
cw_envelope_malformed (void)
{
    return s_malformed;
}

void
cw_envelope_count_malformed (void)
{
    s_malformed++;
}
