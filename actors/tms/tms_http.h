/*  tms_http.h - HTTP(S) POSTs to the external manager with libcurl's multi
    interface, driven from a zloop: no threads, no blocking call.

    libcurl tells us which descriptors to watch (CURLMOPT_SOCKETFUNCTION:
    each becomes a zloop poller) and when to call it back
    (CURLMOPT_TIMERFUNCTION: a one-shot zloop timer); both end in
    curl_multi_socket_action, after which finished transfers are read with
    curl_multi_info_read and handed to their callback. One request at a
    time is all the tms actor needs, and all this module allows; each on a
    new connection (requests are seconds apart, and a changed certificate
    or CA must be seen at the next one).
*/
#ifndef TMS_HTTP_H
#define TMS_HTTP_H

#include <czmq.h>
#include <stdbool.h>

typedef struct _tms_http_t tms_http_t;

typedef struct {
    const char *url;
    const char *body;          //  JSON text, sent as application/json
    const char *user;          //  HTTP Basic; NULL = none
    const char *password;      //  never logged
    bool verify;               //  verify the server's certificate and host name
    const char *ca_file;       //  PEM bundle for verify; NULL or "" = the system's
    long timeout_ms;           //  the whole transfer
    size_t max_response;       //  a longer body aborts the transfer; 0 = 1 MiB
    bool keep_alive;           //  reuse the connection of the previous request (GET)
    const char *user_agent;    //  NULL = libcurl's
} tms_http_request_t;

//  The end of a request. STATUS is the HTTP status (0 when none arrived);
//  ERROR is NULL on a complete response, else why it failed (libcurl's
//  message: connection refused, certificate problem, timeout, a body
//  shorter than its Content-Length...). BODY (LEN bytes, NUL-terminated)
//  is borrowed for the call.
typedef void (tms_http_done_fn) (long status, const char *body, size_t len, const char *error, void *arg);

tms_http_t *tms_http_new (zloop_t *loop);
void tms_http_destroy (tms_http_t **self_p);

//  Start a POST (REQ borrowed; everything is copied). 0, or -1 when one is
//  already in flight or libcurl refuses it. DONE runs later, from the loop.
int tms_http_post (tms_http_t *self, const tms_http_request_t *req, tms_http_done_fn *done, void *arg);
//  Start a GET of REQ->url (REQ->body unused), as tms_http_post.
int tms_http_get (tms_http_t *self, const tms_http_request_t *req, tms_http_done_fn *done, void *arg);
bool tms_http_busy (tms_http_t *self);
//  Abandon the request in flight (its callback is not called).
void tms_http_cancel (tms_http_t *self);

#endif
