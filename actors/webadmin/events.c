/*  events.c - the live alarm stream of the web pages: GET /events/alarms.

    Each stream (Server-Sent Events, web_stream_open) has its own SUB
    socket on the alarms actor's PUB socket (the first alarms.publish
    endpoint of the bootstrap file), subscribed to "alarm.", read in the
    actor's zloop. A new subscription makes the alarms actor replay every
    active alarm, so a page that (re)connects is sent the present at once,
    then every change. Each alarm message becomes

        event: alarm
        data: <the alarm object, JSON on one line>

    and each alarm.snapshot (the uuids of every active alarm, after a
    replay) "event: snapshot", so the page can drop rows that were cleared
    while it was not listening. The socket is closed when the stream ends
    (client gone, server stopping).
*/

#include "pages.h"
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    web_stream_t *stream;
    zsock_t *sub;
    zloop_t *loop;
    bool reading;    //  inside s_on_message
    bool closed;     //  the stream ended while reading
} s_feed_t;

static void
s_feed_destroy (s_feed_t *feed)
{
    zloop_reader_end (feed->loop, feed->sub);
    zsock_destroy (&feed->sub);
    free (feed);
}

static int
s_on_message (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_feed_t *feed = (s_feed_t *) arg;
    feed->reading = true;
    for (int n = 0; n < 256 && !feed->closed && (zsock_events (reader) & ZMQ_POLLIN); n++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        char *topic = zmsg_popstr (msg);
        char *text = zmsg_popstr (msg);
        json_t *body = text ? json_loads (text, 0, NULL) : NULL;
        const char *event = NULL;
        if (topic && json_is_object (body)) {
            if (strcmp (topic, "alarm.snapshot") == 0)
                event = "snapshot";
            else if (strncmp (topic, "alarm.", 6) == 0 && json_object_get (body, "uuid"))
                event = "alarm";
        }
        char *data = event ? json_dumps (body, JSON_COMPACT) : NULL;
        if (data) {
            size_t len = strlen (event) + strlen (data) + 32;
            char *block = malloc (len);
            if (block) {
                snprintf (block, len, "event: %s\ndata: %s\n\n", event, data);
                web_stream_send (feed->stream, block);
                free (block);
            }
        }
        free (data);
        json_decref (body);
        free (topic);
        free (text);
        zmsg_destroy (&msg);
    }
    feed->reading = false;
    if (feed->closed)
        s_feed_destroy (feed);
    return 0;
}

static void
s_on_close (web_stream_t *stream, void *arg)
{
    (void) stream;
    s_feed_t *feed = (s_feed_t *) arg;
    if (feed->reading)
        feed->closed = true;
    else
        s_feed_destroy (feed);
}

void
events_alarms (web_request_t *req)
{
    const cw_bootstrap_t *boot = cw_actor_bootstrap (web_actor (req));
    if (boot->alarms.publish_count == 0) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "the bootstrap file names no alarms.publish endpoint");
        return;
    }
    s_feed_t *feed = calloc (1, sizeof *feed);
    if (!feed) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    feed->loop = cw_actor_loop (web_actor (req));
    feed->sub = zsock_new (ZMQ_SUB);
    if (!feed->sub || zsock_connect (feed->sub, "%s", boot->alarms.publish [0]) != 0) {
        zsock_destroy (&feed->sub);
        free (feed);
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "cannot connect to the alarm socket %s",
                   boot->alarms.publish [0]);
        return;
    }
    zsock_set_linger (feed->sub, 0);
    zsock_set_rcvhwm (feed->sub, 10000);
    zsock_set_subscribe (feed->sub, "alarm.");
    feed->stream = web_stream_open (req, s_on_close, feed);
    if (!feed->stream) {
        zsock_destroy (&feed->sub);
        free (feed);
        return;
    }
    if (zloop_reader (feed->loop, feed->sub, s_on_message, feed) != 0)
        cw_warn ("webadmin: the event loop refused the alarm stream's socket");
    else
        zloop_reader_set_tolerant (feed->loop, feed->sub);
}
