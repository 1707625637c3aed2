/*  metrics.c - the Prometheus text of /metrics (metrics.h).

    GET /metrics sends every command of metrics_sources at once (web_call)
    and keeps their replies in the request's data; the last one to come in
    writes the text. Each family has its HELP and TYPE lines; label values
    are escaped as the text format wants (backslash, quote, newline).
*/

#include "metrics.h"
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const metrics_sources [][2] = {
    { "status", "causewayd" },       { "alarms.list", "alarms" },       { "cluster.status", "replication" },
    { "routing.status", "routing" }, { "license.status", "licensing" }, { NULL, NULL },
};

static const char *const s_severities [] = { "critical", "error", "warning", "info", NULL };
static const char *const s_alarm_states [] = { "raised", "acknowledged", NULL };

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

static void
s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static long long
s_int (json_t *object, const char *name)
{
    json_t *value = json_object_get (object, name);
    return json_is_number (value) ? (long long) json_number_value (value) : 0;
}

// ---------------------------------------------------------------------------
//  Families by source

static void
s_status (FILE *out, json_t *status)
{
    json_t *actors = json_object_get (status, "actors");
    s_family (out, "causeway_up", "gauge", "1 while causewayd answers status.");
    fputs ("causeway_up 1\n", out);
    s_family (out, "causeway_uptime_seconds", "gauge", "Seconds since causewayd started.");
    fprintf (out, "causeway_uptime_seconds %lld\n", s_int (status, "uptime_s"));
    s_family (out, "causeway_actor_restarts_total", "counter", "Restarts of each actor since causewayd started.");
    size_t i;
    json_t *actor;
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_restarts_total{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fprintf (out, "\"} %lld\n", s_int (actor, "restarts"));
    }
    s_family (out, "causeway_actor_state", "gauge", "The state of each actor (the series with value 1).");
    json_array_foreach (actors, i, actor) {
        fputs ("causeway_actor_state{actor=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "name")));
        fputs ("\",state=\"", out);
        s_label (out, json_string_value (json_object_get (actor, "state")));
        fputs ("\"} 1\n", out);
    }
    json_t *malformed = json_object_get (status, "malformed");
    s_family (out, "causeway_malformed_total", "counter", "Malformed messages dropped, by where they arrived.");
    fprintf (out, "causeway_malformed_total{socket=\"control\"} %lld\n", s_int (malformed, "control"));
    fprintf (out, "causeway_malformed_total{socket=\"broker\"} %lld\n", s_int (malformed, "broker"));
}

static void
s_alarms (FILE *out, json_t *body)
{
    json_t *alarms = json_object_get (body, "alarms");
    s_family (out, "causeway_alarms", "gauge",
              "Alarms raised or acknowledged (not cleared) on this peer, by severity.");
    for (int s = 0; s_severities [s]; s++) {
        long long count = 0;
        size_t i;
        json_t *alarm;
        json_array_foreach (alarms, i, alarm)
            if (strcmp (json_string_value (json_object_get (alarm, "severity"))
                            ? json_string_value (json_object_get (alarm, "severity"))
                            : "",
                        s_severities [s])
                == 0)
                count++;
        fprintf (out, "causeway_alarms{severity=\"%s\"} %lld\n", s_severities [s], count);
    }
    s_family (out, "causeway_alarms_by_state", "gauge", "Alarms not cleared on this peer, by state.");
    for (int s = 0; s_alarm_states [s]; s++) {
        long long count = 0;
        size_t i;
        json_t *alarm;
        json_array_foreach (alarms, i, alarm) {
            const char *state = json_string_value (json_object_get (alarm, "state"));
            if (state && strcmp (state, s_alarm_states [s]) == 0)
                count++;
        }
        fprintf (out, "causeway_alarms_by_state{state=\"%s\"} %lld\n", s_alarm_states [s], count);
    }
}

static void
s_peer_labels (FILE *out, json_t *peer)
{
    fprintf (out, "{peer=\"%lld\",address=\"", s_int (peer, "index"));
    s_label (out, json_string_value (json_object_get (peer, "address")));
    fputs ("\"}", out);
}

static bool
s_alive (json_t *peer)
{
    const char *state = json_string_value (json_object_get (peer, "state"));
    return state && (strcmp (state, "active") == 0 || strcmp (state, "this-system") == 0);
}

static void
s_cluster (FILE *out, json_t *body)
{
    json_t *peers = json_object_get (body, "peers");
    size_t i;
    json_t *peer;
    long long alive = 0;
    json_array_foreach (peers, i, peer)
        alive += s_alive (peer);
    s_family (out, "causeway_cluster_peers_alive", "gauge",
              "Peers of the cluster that are up as this peer sees them (this system included).");
    fprintf (out, "causeway_cluster_peers_alive %lld\n", alive);
    s_family (out, "causeway_cluster_peers", "gauge", "Peers of the cluster's peer list.");
    fprintf (out, "causeway_cluster_peers %zu\n", json_array_size (peers));
    s_family (out, "causeway_cluster_peer_up", "gauge",
              "1 when the peer is this system or active, 0 when restarting, failed or unknown.");
    json_array_foreach (peers, i, peer) {
        fputs ("causeway_cluster_peer_up", out);
        s_peer_labels (out, peer);
        fprintf (out, " %d\n", s_alive (peer) ? 1 : 0);
    }
    s_family (out, "causeway_replication_lag", "gauge", "Changes the peer has not yet applied behind the primary.");
    json_array_foreach (peers, i, peer)
        if (json_is_number (json_object_get (peer, "lag"))) {
            fputs ("causeway_replication_lag", out);
            s_peer_labels (out, peer);
            fprintf (out, " %lld\n", s_int (peer, "lag"));
        }
    s_family (out, "causeway_replication_applied_seq", "gauge", "The last change the peer applied.");
    json_array_foreach (peers, i, peer)
        if (json_is_number (json_object_get (peer, "applied_seq"))) {
            fputs ("causeway_replication_applied_seq", out);
            s_peer_labels (out, peer);
            fprintf (out, " %lld\n", s_int (peer, "applied_seq"));
        }
    s_family (out, "causeway_cluster_peer_rtt_seconds", "gauge", "Round-trip time of the link to the peer.");
    json_array_foreach (peers, i, peer) {
        json_t *rtt = json_object_get (peer, "rtt_ms");
        if (json_is_number (rtt)) {
            fputs ("causeway_cluster_peer_rtt_seconds", out);
            s_peer_labels (out, peer);
            fprintf (out, " %.6f\n", json_number_value (rtt) / 1000.0);
        }
    }
}

static void
s_by_peer (FILE *out, const char *name, json_t *per_peer)
{
    const char *peer;
    json_t *count;
    json_object_foreach (per_peer, peer, count) {
        fprintf (out, "%s{peer=\"", name);
        s_label (out, peer);
        fprintf (out, "\"} %lld\n", json_is_number (count) ? (long long) json_number_value (count) : 0);
    }
}

static void
s_routing (FILE *out, json_t *body)
{
    json_t *registrar = json_object_get (body, "registrar");
    json_t *calls = json_object_get (body, "calls");
    if (registrar) {
        s_family (out, "causeway_sip_registrations", "gauge", "SIP registrations (bindings) of the whole cluster.");
        fprintf (out, "causeway_sip_registrations %lld\n", s_int (registrar, "bindings"));
        s_family (out, "causeway_sip_registrations_by_peer", "gauge", "SIP registrations by the peer that holds them.");
        s_by_peer (out, "causeway_sip_registrations_by_peer", json_object_get (registrar, "per_peer"));
    }
    if (calls) {
        s_family (out, "causeway_sip_calls", "gauge", "Calls in progress that entered the cluster on this peer.");
        fprintf (out, "causeway_sip_calls %lld\n", s_int (calls, "this_peer"));
        s_family (out, "causeway_sip_calls_by_peer", "gauge", "Calls in progress by the peer they entered on.");
        s_by_peer (out, "causeway_sip_calls_by_peer", json_object_get (calls, "per_peer"));
    }
    s_family (out, "causeway_sip_requests_total", "counter", "SIP requests received by this peer, by method.");
    const char *method;
    json_t *count;
    json_object_foreach (json_object_get (body, "requests"), method, count) {
        fputs ("causeway_sip_requests_total{method=\"", out);
        s_label (out, method);
        fprintf (out, "\"} %lld\n", json_is_number (count) ? (long long) json_number_value (count) : 0);
    }
}

static void
s_licenses (FILE *out, json_t *body)
{
    json_t *types = json_object_get (body, "types");
    static const char *const fields [][2] = {
        { "pool", "Licenses of the kind in the cluster's pool." },
        { "used", "Licenses of the kind in use in the cluster." },
        { "free", "Licenses of the kind free in the cluster's pool." },
    };
    for (size_t f = 0; f < sizeof fields / sizeof fields [0]; f++) {
        char name [64];
        snprintf (name, sizeof name, "causeway_licenses_%s", fields [f][0]);
        s_family (out, name, "gauge", fields [f][1]);
        const char *kind;
        json_t *type;
        json_object_foreach (types, kind, type) {
            fprintf (out, "%s{kind=\"", name);
            s_label (out, kind);
            fprintf (out, "\"} %lld\n", s_int (type, fields [f][0]));
        }
    }
}

char *
metrics_text (json_t *replies)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    s_status (out, json_object_get (replies, "status"));
    s_family (out, "causeway_actor_answering", "gauge",
              "1 when the actor answered for this scrape (its families are left out otherwise).");
    for (int s = 1; metrics_sources [s][0]; s++)
        fprintf (out, "causeway_actor_answering{actor=\"%s\"} %d\n", metrics_sources [s][1],
                 json_object_get (replies, metrics_sources [s][0]) ? 1 : 0);
    json_t *body;
    if ((body = json_object_get (replies, "alarms.list")))
        s_alarms (out, body);
    if ((body = json_object_get (replies, "cluster.status")))
        s_cluster (out, body);
    if ((body = json_object_get (replies, "routing.status")))
        s_routing (out, body);
    if ((body = json_object_get (replies, "license.status")))
        s_licenses (out, body);
    fclose (out);
    return text;
}

// ---------------------------------------------------------------------------
//  The route

typedef struct {
    json_t *replies;
    int waiting;
    char status_error [256];
} s_scrape_t;

static void
s_scrape_free (void *arg)
{
    s_scrape_t *scrape = (s_scrape_t *) arg;
    json_decref (scrape->replies);
    free (scrape);
}

static void
s_on_reply (web_request_t *req, bool ok, json_t *body, void *arg)
{
    const char *command = (const char *) arg;
    s_scrape_t *scrape = (s_scrape_t *) web_data (req);
    if (ok)
        json_object_set (scrape->replies, command, body);
    else if (strcmp (command, "status") == 0)
        snprintf (scrape->status_error, sizeof scrape->status_error, "%s",
                  json_string_value (json_object_get (body, "error"))
                      ? json_string_value (json_object_get (body, "error"))
                      : "no answer");
    if (--scrape->waiting > 0)
        return;
    if (!json_object_get (scrape->replies, "status")) {
        web_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "causewayd did not answer status: %s", scrape->status_error);
        return;
    }
    char *text = metrics_text (scrape->replies);
    if (!text) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_respond_owned (req, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, strlen (text));
}

static void
s_get_metrics (web_request_t *req)
{
    s_scrape_t *scrape = calloc (1, sizeof *scrape);
    if (!scrape || !(scrape->replies = json_object ())) {
        free (scrape);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_set_data (req, scrape, s_scrape_free);
    int count = 0;
    while (metrics_sources [count][0])
        count++;
    //  All counted first: a call that fails at once answers through its callback
    scrape->waiting = count;
    for (int s = 0; s < count; s++)
        web_call (req, metrics_sources [s][0], NULL, s_on_reply, (void *) metrics_sources [s][0]);
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
