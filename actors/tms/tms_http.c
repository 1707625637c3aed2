/*  tms_http.c - libcurl's multi interface in a zloop (see tms_http.h).

    Socket callback: CURL_POLL_IN/OUT/INOUT replace the descriptor's zloop
    poller with one for those events, CURL_POLL_REMOVE ends it. Timer
    callback: -1 cancels our timer, any other value (re)arms a one-shot
    zloop timer (libcurl must not be called back from inside its own
    callback, so even 0 goes through the loop). A poller or the timer calls
    curl_multi_socket_action and then collects finished transfers.
*/
#include "tms_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct _tms_http_t {
    zloop_t *loop;
    CURLM *multi;
    int timer_id;    //  -1 = none
    CURL *easy;      //  the request in flight, or NULL
    struct curl_slist *headers;
    char *body;    //  the request body (libcurl does not copy POSTFIELDS)
    char *response;
    size_t response_len;
    size_t max_response;
    char errbuf [CURL_ERROR_SIZE];
    tms_http_done_fn *done;
    void *arg;
};

static void s_check_done (tms_http_t *self);

static int
s_on_socket_ready (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    tms_http_t *self = arg;
    int mask = 0;
    if (item->revents & ZMQ_POLLIN)
        mask |= CURL_CSELECT_IN;
    if (item->revents & ZMQ_POLLOUT)
        mask |= CURL_CSELECT_OUT;
    if (item->revents & ZMQ_POLLERR)
        mask |= CURL_CSELECT_ERR;
    int running = 0;
    curl_multi_socket_action (self->multi, item->fd, mask, &running);
    s_check_done (self);
    return 0;
}

static int
s_on_socket (CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_arg)
{
    (void) easy;
    (void) socket_arg;
    tms_http_t *self = arg;
    zmq_pollitem_t item = { NULL, fd, 0, 0 };
    zloop_poller_end (self->loop, &item);
    if (what == CURL_POLL_REMOVE)
        return 0;
    item.events = (short) ((what & CURL_POLL_IN ? ZMQ_POLLIN : 0) | (what & CURL_POLL_OUT ? ZMQ_POLLOUT : 0));
    if (zloop_poller (self->loop, &item, s_on_socket_ready, self) != 0)
        return -1;
    zloop_poller_set_tolerant (self->loop, &item);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_http_t *self = arg;
    self->timer_id = -1;
    int running = 0;
    curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s_check_done (self);
    return 0;
}

static int
s_on_timeout_change (CURLM *multi, long timeout_ms, void *arg)
{
    (void) multi;
    tms_http_t *self = arg;
    if (self->timer_id >= 0) {
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
    if (timeout_ms >= 0) {
        self->timer_id = zloop_timer (self->loop, timeout_ms > 0 ? (size_t) timeout_ms : 1, 1, s_on_timer, self);
        if (self->timer_id < 0)
            return -1;
    }
    return 0;
}

static size_t
s_on_data (char *data, size_t size, size_t count, void *arg)
{
    tms_http_t *self = arg;
    size_t len = size * count;
    if (self->response_len + len > self->max_response)
        return 0;    //  a reply this large is no answer of ours: abort
    char *grown = realloc (self->response, self->response_len + len + 1);
    if (!grown)
        return 0;
    self->response = grown;
    memcpy (self->response + self->response_len, data, len);
    self->response_len += len;
    self->response [self->response_len] = 0;
    return len;
}

static void
s_release (tms_http_t *self)
{
    if (self->easy) {
        curl_multi_remove_handle (self->multi, self->easy);
        curl_easy_cleanup (self->easy);
        self->easy = NULL;
    }
    curl_slist_free_all (self->headers);
    self->headers = NULL;
    free (self->body);
    self->body = NULL;
    free (self->response);
    self->response = NULL;
    self->response_len = 0;
}

static void
s_check_done (tms_http_t *self)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE || msg->easy_handle != self->easy)
            continue;
        long status = 0;
        curl_easy_getinfo (self->easy, CURLINFO_RESPONSE_CODE, &status);
        char error [CURL_ERROR_SIZE + 64];
        const char *why = NULL;
        if (msg->data.result != CURLE_OK) {
            snprintf (error, sizeof error, "%s", *self->errbuf ? self->errbuf : curl_easy_strerror (msg->data.result));
            why = error;
        }
        tms_http_done_fn *done = self->done;
        void *arg = self->arg;
        //  The callback may start the next request: hand it the body, then release
        char *response = self->response;
        size_t len = self->response_len;
        self->response = NULL;
        self->response_len = 0;
        s_release (self);
        if (done)
            done (status, response ? response : "", len, why, arg);
        free (response);
        return;
    }
}

tms_http_t *
tms_http_new (zloop_t *loop)
{
    //  Counted by libcurl: each tms_http_destroy gives one back
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    tms_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        curl_global_cleanup ();
        return NULL;
    }
    self->loop = loop;
    self->timer_id = -1;
    self->multi = curl_multi_init ();
    if (!self->multi) {
        free (self);
        curl_global_cleanup ();
        return NULL;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_on_timeout_change);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

void
tms_http_destroy (tms_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_http_t *self = *self_p;
    s_release (self);
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    curl_multi_cleanup (self->multi);
    free (self);
    *self_p = NULL;
    curl_global_cleanup ();
}

bool
tms_http_busy (tms_http_t *self)
{
    return self->easy != NULL;
}

void
tms_http_cancel (tms_http_t *self)
{
    s_release (self);
}

//  Start a request: a POST of REQ->body, or a GET
static int
s_start (tms_http_t *self, const tms_http_request_t *req, bool post, tms_http_done_fn *done, void *arg)
{
    if (self->easy)
        return -1;
    self->easy = curl_easy_init ();
    self->body = strdup (post && req->body ? req->body : "");
    self->headers = curl_slist_append (NULL, "Content-Type: application/json");
    if (self->headers)
        self->headers = curl_slist_append (self->headers, "Accept: application/json");
    if (!self->easy || !self->body || !self->headers) {
        s_release (self);
        return -1;
    }
    self->errbuf [0] = 0;
    self->max_response = req->max_response > 0 ? req->max_response : 1024 * 1024;
    CURL *e = self->easy;
    curl_easy_setopt (e, CURLOPT_URL, req->url);
    if (post) {
        curl_easy_setopt (e, CURLOPT_POST, 1L);
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, self->body);
        curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE, (long) strlen (self->body));
    }
    else
        curl_easy_setopt (e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt (e, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (e, CURLOPT_ERRORBUFFER, self->errbuf);
    curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L);
    //  A new connection each time, unless asked: requests are seconds
    //  apart, and a changed certificate or CA is seen at the next request
    if (!req->keep_alive) {
        curl_easy_setopt (e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt (e, CURLOPT_FORBID_REUSE, 1L);
    }
    curl_easy_setopt (e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (req->user_agent)
        curl_easy_setopt (e, CURLOPT_USERAGENT, req->user_agent);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 10000L);
    curl_easy_setopt (e, CURLOPT_CONNECTTIMEOUT_MS, 15000L);
    curl_easy_setopt (e, CURLOPT_SSL_VERIFYPEER, req->verify ? 1L : 0L);
    curl_easy_setopt (e, CURLOPT_SSL_VERIFYHOST, req->verify ? 2L : 0L);
    if (req->ca_file && *req->ca_file)
        curl_easy_setopt (e, CURLOPT_CAINFO, req->ca_file);
    if (req->user && *req->user) {
        curl_easy_setopt (e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt (e, CURLOPT_USERNAME, req->user);
        curl_easy_setopt (e, CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    self->done = done;
    self->arg = arg;
    if (curl_multi_add_handle (self->multi, e) != CURLM_OK) {
        s_release (self);
        return -1;
    }
    return 0;
}

int
tms_http_post (tms_http_t *self, const tms_http_request_t *req, tms_http_done_fn *done, void *arg)
{
    return s_start (self, req, true, done, arg);
}

int
tms_http_get (tms_http_t *self, const tms_http_request_t *req, tms_http_done_fn *done, void *arg)
{
    return s_start (self, req, false, done, arg);
}
