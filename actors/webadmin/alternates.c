/*  alternates.c - GET /alternatesconfiguration.xml (alternates.h).

    The handler asks config.list and cluster.status at once (web_call);
    when both replies are in, alternates_xml writes the document into a
    memory stream and it is the answer (application/xml). Either command
    failing is a 503 naming it: a partial document would compare as a
    difference that is not one.
*/

#include "alternates.h"
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------
//  The document

static void
s_escape (FILE *out, const char *text)
{
    for (const char *p = text ? text : ""; *p; p++)
        switch (*p) {
            case '&':
                fputs ("&amp;", out);
                break;
            case '<':
                fputs ("&lt;", out);
                break;
            case '>':
                fputs ("&gt;", out);
                break;
            case '"':
                fputs ("&quot;", out);
                break;
            case '\'':
                fputs ("&apos;", out);
                break;
            case '\n':
                fputs ("&#10;", out);
                break;
            case '\r':
                fputs ("&#13;", out);
                break;
            case '\t':
                fputs ("&#9;", out);
                break;
            default:
                //  Control characters are not allowed in XML 1.0
                if ((unsigned char) *p >= 0x20)
                    fputc (*p, out);
                break;
        }
}

//  VALUE as the element's text (see alternates.h)
static void
s_value (FILE *out, json_t *value)
{
    if (json_is_string (value))
        s_escape (out, json_string_value (value));
    else if (json_is_integer (value))
        fprintf (out, "%lld", (long long) json_integer_value (value));
    else if (json_is_real (value))
        fprintf (out, "%.17g", json_real_value (value));
    else if (json_is_boolean (value))
        fputs (json_is_true (value) ? "true" : "false", out);
    else if (json_is_array (value) || json_is_object (value)) {
        char *text = json_dumps (value, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        s_escape (out, text);
        free (text);
    }
}

static bool
s_sealed (json_t *value)
{
    return json_is_string (value) && strncmp (json_string_value (value), "sealed:", 7) == 0;
}

static const char *
s_string (json_t *object, const char *name)
{
    const char *text = json_string_value (json_object_get (object, name));
    return text ? text : "";
}

static int
s_by_key (const void *a, const void *b)
{
    return strcmp (s_string (*(json_t *const *) a, "key"), s_string (*(json_t *const *) b, "key"));
}

static void
s_configuration (FILE *out, json_t *config)
{
    json_t *list = json_object_get (config, "config");
    size_t count = json_array_size (list);
    json_t **items = count ? calloc (count, sizeof *items) : NULL;
    size_t n = 0;
    for (size_t i = 0; items && i < count; i++) {
        json_t *item = json_array_get (list, i);
        if (strcmp (s_string (item, "scope"), "cluster") == 0 && *s_string (item, "key"))
            items [n++] = item;
    }
    qsort (items, n, sizeof *items, s_by_key);
    fputs ("  <Configuration>\n", out);
    for (size_t i = 0; i < n; i++) {
        json_t *value = json_object_get (items [i], "value");
        fputs ("    <Key name=\"", out);
        s_escape (out, s_string (items [i], "key"));
        if (s_sealed (value))
            fputs ("\" sealed=\"true\"/>\n", out);
        else {
            fputs ("\">", out);
            s_value (out, value);
            fputs ("</Key>\n", out);
        }
    }
    fputs ("  </Configuration>\n", out);
    free (items);
}

char *
alternates_xml (json_t *config, json_t *cluster)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    fputs ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<AlternatesConfiguration version=\"1\">\n", out);
    fputs ("  <Cluster>\n    <Name>", out);
    s_escape (out, s_string (cluster, "name"));
    fprintf (out, "</Name>\n    <PrimaryIndex>%lld</PrimaryIndex>\n",
             (long long) json_integer_value (json_object_get (cluster, "primary")));
    fprintf (out, "    <IpVersion>%lld</IpVersion>\n",
             (long long) json_integer_value (json_object_get (cluster, "ip_version")));
    fputs ("    <TlsVerify>", out);
    s_escape (out, s_string (cluster, "tls_verify"));
    fputs ("</TlsVerify>\n", out);
    json_t *peers = json_object_get (cluster, "peers");
    long long this_peer = json_integer_value (json_object_get (cluster, "this_peer"));
    const char *this_address = NULL;
    size_t i;
    json_t *peer;
    if (json_array_size (peers)) {
        fputs ("    <Peers>\n", out);
        json_array_foreach (peers, i, peer) {
            long long index = json_integer_value (json_object_get (peer, "index"));
            fprintf (out, "      <Peer index=\"%lld\">", index);
            s_escape (out, s_string (peer, "address"));
            fputs ("</Peer>\n", out);
            if (index == this_peer)
                this_address = s_string (peer, "address");
        }
        fputs ("    </Peers>\n", out);
    }
    fputs ("  </Cluster>\n", out);
    s_configuration (out, config);
    if (this_address) {
        fprintf (out, "  <ThisSystem index=\"%lld\">", this_peer);
        s_escape (out, this_address);
        fputs ("</ThisSystem>\n", out);
    }
    else
        fputs ("  <ThisSystem/>\n", out);
    bool any = false;
    json_array_foreach (peers, i, peer) {
        long long index = json_integer_value (json_object_get (peer, "index"));
        if (index == this_peer)
            continue;
        if (!any)
            fputs ("  <Alternates>\n", out);
        any = true;
        fprintf (out, "    <Alternate index=\"%lld\">", index);
        s_escape (out, s_string (peer, "address"));
        fputs ("</Alternate>\n", out);
    }
    fputs (any ? "  </Alternates>\n" : "  <Alternates/>\n", out);
    fputs ("</AlternatesConfiguration>\n", out);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

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
    char *text = alternates_xml (fetch->config, fetch->cluster);
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
