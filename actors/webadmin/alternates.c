/*  alternates.c - GET /alternatesconfiguration.xml (alternates.h).

    The handler asks config.list and cluster.status at once (web_call);
    when both replies are in, cw_alternates_xml (ipc/cw_alternates.h)
    writes the document and it is the answer (application/xml). Either
    command failing is a 503 naming it: a partial document would compare
    as a difference that is not one.
*/

#include "alternates.h"
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cw_alternates.h"

// ---------------------------------------------------------------------------
//  The route

typedef struct {
    json_t *config;     //  config.list's reply
    json_t *cluster;    //  cluster.status's reply
    int waiting;
    char error [300];
} s_fetch_t;

static void
s_fetch_free (void *arg)
{
    s_fetch_t *fetch = (s_fetch_t *) arg;
    json_decref (fetch->config);
    json_decref (fetch->cluster);
    free (fetch);
}

static void
s_on_reply (web_request_t *req, bool ok, json_t *body, void *arg)
{
    const char *command = (const char *) arg;
    s_fetch_t *fetch = (s_fetch_t *) web_data (req);
    if (ok && strcmp (command, "config.list") == 0)
        fetch->config = json_incref (body);
    else if (ok)
        fetch->cluster = json_incref (body);
    else if (!*fetch->error) {
        const char *why = json_string_value (json_object_get (body, "error"));
        snprintf (fetch->error, sizeof fetch->error, "%s: %s", command, why ? why : "no answer");
    }
    if (--fetch->waiting > 0)
        return;
    if (!fetch->config || !fetch->cluster) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "%s", fetch->error);
        return;
    }
    char *text = cw_alternates_xml (fetch->config, fetch->cluster);
    if (!text) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_respond_owned (req, MHD_HTTP_OK, "application/xml; charset=utf-8", text, strlen (text));
}

static void
s_get (web_request_t *req)
{
    s_fetch_t *fetch = calloc (1, sizeof *fetch);
    if (!fetch) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_set_data (req, fetch, s_fetch_free);
    //  Both counted first: a call that fails at once answers through its callback
    fetch->waiting = 2;
    web_call (req, "config.list", NULL, s_on_reply, (void *) "config.list");
    web_call (req, "cluster.status", NULL, s_on_reply, (void *) "cluster.status");
}

static const web_route_t s_routes [] = {
    { "GET", "/alternatesconfiguration.xml", WEB_API, s_get,
      "the cluster-wide configuration, the peer list and the alternates, as XML to compare between peers" },
    { NULL, NULL, 0, NULL, NULL },
};

int
alternates_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
