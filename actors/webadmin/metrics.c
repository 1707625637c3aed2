/*  metrics.c - the Prometheus text of /metrics (metrics.h).

    Each family has its HELP and TYPE lines; label values are escaped as
    the text format wants (backslash, quote, newline).
*/

#include "metrics.h"
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>

static void
s_label (FILE *out, const char *text)
{
    for (const char *c = text ? text : ""; *c; c++) {
        if (*c == '\\' || *c == '"')
            fputc ('\\', out);
        if (*c == '\n')
            fputs ("\\n", out);
        else
            fputc (*c, out);
    }
}

char *
metrics_text (json_t *status)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    json_t *actors = json_object_get (status, "actors");
    fputs ("# HELP causeway_up 1 while causewayd answers status.\n# TYPE causeway_up gauge\ncauseway_up 1\n", out);
    fprintf (out,
             "# HELP causeway_uptime_seconds Seconds since causewayd started.\n"
             "# TYPE causeway_uptime_seconds gauge\ncauseway_uptime_seconds %lld\n",
             (long long) json_integer_value (json_object_get (status, "uptime_s")));
    fputs ("# HELP causeway_actor_restarts_total Restarts of each actor since causewayd started.\n"
           "# TYPE causeway_actor_restarts_total counter\n",
           out);
    size_t i;
    json_t *actor;
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_restarts_total{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fprintf (out, "\"} %lld\n", (long long) json_integer_value (json_object_get (actor, "restarts")));
    }
    fputs ("# HELP causeway_actor_state The state of each actor (the series with value 1).\n"
           "# TYPE causeway_actor_state gauge\n",
           out);
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_state{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fputs ("\",state=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "state")));
        fputs ("\"} 1\n", out);
    }
    json_t *malformed = json_object_get (status, "malformed");
    fprintf (out,
             "# HELP causeway_malformed_total Malformed messages dropped, by where they arrived.\n"
             "# TYPE causeway_malformed_total counter\n"
             "causeway_malformed_total{socket=\"control\"} %lld\n"
             "causeway_malformed_total{socket=\"broker\"} %lld\n",
             (long long) json_integer_value (json_object_get (malformed, "control")),
             (long long) json_integer_value (json_object_get (malformed, "broker")));
    fclose (out);
    return text;
}

static void
s_on_status (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    if (!ok) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "causewayd did not answer status: %s",
                   json_string_value (json_object_get (body, "error")));
        return;
    }
    char *text = metrics_text (body);
    if (!text) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_respond_owned (req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text));
}

static void
s_get_metrics (web_request_t *req)
{
    web_call (req, "status", NULL, s_on_status, NULL);
}

static const web_route_t s_routes [] = {
    { "GET", "/metrics", WEB_METRICS, s_get_metrics, "the node in the Prometheus text format" },
    { NULL, NULL, 0, NULL, NULL },
};

int
metrics_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
