/*  stream.c - Server-Sent Events: an answer kept open (web.h streams).

    The response comes from a content-reader callback that copies what
    web_stream_send queued; with nothing queued it suspends the connection
    until the next send or the server's keep-alive comment (every
    WEB_STREAM_PING_MS), which also finds clients that went away. A client
    that reads nothing while 1 MiB is queued is dropped.
*/

#include <string.h>
#include "web_internal.h"

// ---------------------------------------------------------------------------
//  Streams

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    web_stream_t *stream = (web_stream_t *) cls;
    if (stream->closing)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (stream->offset < stream->queued) {
        size_t n = stream->queued - stream->offset;
        if (n > max)
            n = max;
        memcpy (buf, stream->queue + stream->offset, n);
        stream->offset += n;
        if (stream->offset == stream->queued)
            stream->offset = stream->queued = 0;
        return (ssize_t) n;
    }
    //  Nothing to send: wait for web_stream_send or the keep-alive
    stream->suspended = true;
    MHD_suspend_connection (stream->con);
    return 0;
}

static void
s_stream_unlist (webadmin_t *self, web_stream_t *stream)
{
    for (int i = 0; i < self->stream_count; i++)
        if (self->streams [i] == stream) {
            self->streams [i] = self->streams [--self->stream_count];
            break;
        }
}

//  libmicrohttpd is done with the stream's response
static void
s_stream_free (void *cls)
{
    web_stream_t *stream = (web_stream_t *) cls;
    s_stream_unlist (stream->owner, stream);
    if (stream->on_close)
        stream->on_close (stream, stream->arg);
    if (stream->req)
        stream->req->stream = NULL;
    free (stream->queue);
    free (stream);
}

static void
s_stream_wake (web_stream_t *stream)
{
    if (stream->suspended) {
        stream->suspended = false;
        MHD_resume_connection (stream->con);
        web_daemon_run (stream->daemon);
    }
}

web_stream_t *
web_stream_open (web_request_t *req, void (*on_close) (web_stream_t *stream, void *arg), void *arg)
{
    webadmin_t *self = req->daemon->owner;
    if (req->answered || req->stream)
        return NULL;
    if (self->stream_count >= WEB_MAX_STREAMS) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "too many event streams open (%d)", WEB_MAX_STREAMS);
        return NULL;
    }
    web_stream_t *stream = calloc (1, sizeof *stream);
    if (!stream) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    stream->owner = self;
    stream->req = req;
    stream->con = req->con;
    stream->daemon = req->daemon;
    snprintf (stream->user, sizeof stream->user, "%s", req->user);
    stream->on_close = on_close;
    stream->arg = arg;
    stream->last_sent = zclock_mono ();
    struct MHD_Response *response = MHD_create_response_from_callback (MHD_SIZE_UNKNOWN, 4096, s_stream_read, stream,
                                                                       s_stream_free);
    if (!response) {
        free (stream);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    web_security_headers (response, req->daemon->https);
    self->streams [self->stream_count++] = stream;
    req->stream = stream;
    req->answered = true;
    req->state = WEB_QUEUED;
    MHD_queue_response (req->con, MHD_HTTP_OK, response);
    MHD_destroy_response (response);
    web_stream_send (stream, ": stream open\n\n");
    return stream;
}

void
web_stream_send (web_stream_t *stream, const char *text)
{
    size_t len = strlen (text);
    //  A client that reads nothing for long is dropped (1 MiB behind)
    if (stream->queued + len > 1024 * 1024) {
        stream->closing = true;
        s_stream_wake (stream);
        return;
    }
    char *queue = realloc (stream->queue, stream->queued + len);
    if (!queue)
        return;
    memcpy (queue + stream->queued, text, len);
    stream->queue = queue;
    stream->queued += len;
    stream->last_sent = zclock_mono ();
    s_stream_wake (stream);
}

const char *
web_stream_user (web_stream_t *stream)
{
    return stream->user;
}
