/*  cw_alternates.c - the document of /alternatesconfiguration.xml (see
    cw_alternates.h).

    Written into a memory stream element by element: the cluster's
    settings and peer list from cluster.status, the cluster-scope keys of
    config.list sorted by name, then this system and its alternates. Every
    text and attribute goes through s_escape. Served by the web admin actor
    (actors/webadmin/alternates.c) and, when no web admin runs on the peer,
    by the tms actor's fallback listener (actors/tms/alternates_listener.c).
*/

#include "cw_alternates.h"
#include <stdbool.h>
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

//  VALUE as the element's text (see cw_alternates.h)
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
cw_alternates_xml (json_t *config, json_t *cluster)
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
