/*  pages_cluster.c - System > Clustering, as the guide's page (pages.h).

    The form #cluster-form shows the saved clustering settings (config.list
    "cluster."): cluster name, Configuration primary (1-6), IP version, TLS
    verification mode, the address mapping (on/off and its fqdn=ip pairs,
    with "Suggest": cluster.suggest_mappings fills the field without
    saving) and Peer 1..6 address. Save writes, in the guide's order, every
    key whose value changed (config.set, one after the other; the first
    refusal stops and is shown next to its field, status 400). Below, the
    per-peer status of cluster.status, "This system" on this peer's row.

    The orchestrated procedures (causeway cluster form/add/remove/replace/
    set-primary/disband/force-config-update/check) are forms too: a first
    POST shows a confirmation page whose second form (confirm=yes) alone
    runs the command; check changes nothing and runs at once.
*/

#include "pages.h"
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include "cw_text.h"

//  The form's fields and their keys, in the order Save writes them
static const struct {
    const char *field;
    const char *key;
    bool cluster_wide;
} s_fields [] = {
    { "name", "cluster.name", false },
    { "ip_version", "cluster.ip_version", false },
    { "tls_verify", "cluster.tls_verify", false },
    { "peers", "cluster.peers", false },    //  from peer1..peer6
    { "primary", "cluster.primary", false },
    { "address_mapping", "cluster.address_mapping", true },
    { "address_mapping_enabled", "cluster.address_mapping.enabled", true },
    { NULL, NULL, false },
};

//  The procedures: command, label, whether only the primary runs it, the
//  form's fields (name:label, comma-separated), what it does
typedef struct {
    const char *name;
    const char *command;
    const char *label;
    bool primary_only;
    bool confirm;
    const char *fields;
    const char *text;
} s_procedure_t;

static const s_procedure_t s_procedures [] = {
    { "check", "cluster.check", "Check the cluster", false, false, "",
      "checks every requirement of the guide and names the fix for each unmet one; changes nothing" },
    { "form", "cluster.form", "Form a cluster", false, true, "name:Cluster name (FQDN)",
      "makes this node a cluster of one, peer 1 and primary; the node restarts" },
    { "add", "cluster.add", "Add a peer", true, true, "address:Peer address",
      "adds the address at the first empty slot on every peer; then configure and restart the new peer" },
    { "remove", "cluster.remove", "Remove a peer", true, true, "address:Peer address,dead:The peer is dead",
      "a live peer is told to clear its list and restart (factory reset); the gap is closed on every remaining "
      "peer" },
    { "replace", "cluster.replace", "Replace a peer", true, true, "old:Old address,new:New address",
      "removes the old peer (reset if live) and adds the new address at the end of the list" },
    { "set_primary", "cluster.set_primary", "Change the configuration primary", false, true, "index:New primary (1-6)",
      "the new primary index on the new primary first, then on the others" },
    { "disband", "cluster.disband", "Disband the cluster", true, true, "reset_primary:Also reset this primary",
      "removes every subordinate from the cluster (live ones reset)" },
    { "force_config_update", "cluster.force_config_update", "Force a configuration update", false, true, "",
      "on a subordinate: discard its cluster-wide configuration and take the primary's" },
    { NULL, NULL, NULL, false, false, NULL, NULL },
};

static const s_procedure_t *
s_procedure (const char *name)
{
    for (const s_procedure_t *p = s_procedures; name && p->name; p++)
        if (strcmp (p->name, name) == 0)
            return p;
    return NULL;
}

//  The saved value of KEY from config.list, as text (a new string)
static char *
s_saved (page_t *page, const char *key)
{
    size_t i;
    json_t *entry;
    json_array_foreach (json_object_get (page_reply (page, "config"), "config"), i, entry)
        if (strcmp (cw_jtext (entry, "key"), key) == 0)
            return page_value_text (json_object_get (entry, "value"));
    return strdup ("");
}

//  The value shown for FIELD: the form sent back (refused, suggested) or the saved one
static char *
s_shown (page_t *page, const char *field, const char *key)
{
    if (page->form && json_object_get (page->form, field))
        return strdup (cw_jtext (page->form, field));
    return s_saved (page, key);
}

static void
s_error_for (html_t *html, page_t *page, const char *field)
{
    if (page->error_key && strcmp (page->error_key, field) == 0) {
        html_raw (html, "<p class=\"error\" data-key=\"");
        html_text (html, field);
        html_raw (html, "\">");
        html_text (html, page->error_text);
        html_raw (html, "</p>");
    }
}

static void
s_select (html_t *html, const char *name, const char *value, const char *const *choices, bool disabled)
{
    html_raw (html, "<select name=\"%s\" id=\"f-%s\"%s>", name, name, disabled ? " disabled" : "");
    for (int i = 0; choices [i]; i++) {
        html_raw (html, "<option value=\"%s\"%s>%s</option>", choices [i],
                  value && strcmp (value, choices [i]) == 0 ? " selected" : "", choices [i]);
    }
    html_raw (html, "</select>");
}

static void
s_procedures_html (html_t *html, web_request_t *req, page_t *page, bool subordinate)
{
    json_t *cluster = page_reply (page, "cluster");
    bool clustered = json_integer_value (json_object_get (cluster, "this_peer")) > 0;
    html_raw (html, "<h2>Procedures</h2>\n<p>Each procedure of the guide as one step; every one but Check asks "
                    "for a confirmation first.</p>\n<div id=\"procedures\">\n");
    for (const s_procedure_t *p = s_procedures; p->name; p++) {
        bool disabled = (p->primary_only && subordinate) || (strcmp (p->name, "form") == 0 && clustered)
                     || (strcmp (p->name, "force_config_update") == 0 && !subordinate)
                     || (strcmp (p->name, "form") != 0 && strcmp (p->name, "check") != 0 && !clustered);
        html_raw (html,
                  "<form class=\"procedure\" id=\"proc-%s\" method=\"post\" action=\"/system/clustering/procedure\">",
                  p->name);
        html_csrf (html, req);
        html_raw (html,
                  "<input type=\"hidden\" name=\"procedure\" value=\"%s\"><fieldset%s><legend>%s</legend>"
                  "<p class=\"summary\">",
                  p->name, disabled ? " disabled" : "", p->label);
        html_text (html, p->text);
        html_raw (html, "</p>");
        char fields [256];
        snprintf (fields, sizeof fields, "%s", p->fields);
        char *save = NULL;
        for (char *field = strtok_r (fields, ",", &save); field; field = strtok_r (NULL, ",", &save)) {
            char *label = strchr (field, ':');
            if (!label)
                continue;
            *label++ = 0;
            bool flag = strcmp (field, "dead") == 0 || strcmp (field, "reset_primary") == 0;
            if (flag)
                html_raw (html, "<label><input type=\"checkbox\" name=\"%s\" value=\"yes\"> %s</label> ", field, label);
            else
                html_raw (html, "<label>%s <input type=\"text\" name=\"%s\"%s></label> ", label, field,
                          strcmp (field, "index") == 0 ? " inputmode=\"numeric\"" : "");
        }
        html_raw (html, "<button type=\"submit\">%s%s</button></fieldset></form>\n", p->label, p->confirm ? "..." : "");
    }
    html_raw (html, "</div>\n");
}

static void
s_render_cluster (web_request_t *req, page_t *page)
{
    html_t *html = page_begin (page, "Clustering", "/system/clustering");
    if (!html) {
        page_send (page, &html);
        return;
    }
    bool subordinate = page_primary_note (page, html);
    if (page_actor_down (page, html, "replication", "config")) {
        page_send (page, &html);
        return;
    }
    json_t *cluster = page_reply (page, "cluster");
    html_raw (html, "<form id=\"cluster-form\" method=\"post\" action=\"/system/clustering\">");
    html_csrf (html, req);
    html_raw (html, "<table class=\"form\"><tbody>\n<tr><th><label for=\"f-name\">Cluster name (FQDN for "
                    "provisioning)</label></th><td><input type=\"text\" name=\"name\" id=\"f-name\" value=\"");
    char *value = s_shown (page, "name", "cluster.name");
    html_text (html, value);
    free (value);
    html_raw (html, "\">");
    s_error_for (html, page, "name");
    html_raw (html, "</td></tr>\n<tr><th><label for=\"f-primary\">Configuration primary</label></th><td>");
    static const char *const primaries [] = { "1", "2", "3", "4", "5", "6", NULL };
    value = s_shown (page, "primary", "cluster.primary");
    s_select (html, "primary", value, primaries, false);
    free (value);
    s_error_for (html, page, "primary");
    html_raw (html, "</td></tr>\n<tr><th><label for=\"f-ip_version\">Cluster IP version</label></th><td>");
    static const char *const versions [] = { "4", "6", NULL };
    value = s_shown (page, "ip_version", "cluster.ip_version");
    s_select (html, "ip_version", value, versions, false);
    free (value);
    s_error_for (html, page, "ip_version");
    html_raw (html, "</td></tr>\n<tr><th><label for=\"f-tls_verify\">TLS verification mode</label></th><td>");
    static const char *const modes [] = { "permissive", "enforce", NULL };
    value = s_shown (page, "tls_verify", "cluster.tls_verify");
    s_select (html, "tls_verify", value, modes, false);
    free (value);
    s_error_for (html, page, "tls_verify");
    html_raw (html, "</td></tr>\n<tr><th><label for=\"f-address_mapping_enabled\">Cluster address mapping"
                    "</label></th><td>");
    static const char *const onoff [] = { "off", "on", NULL };
    value = s_shown (page, "address_mapping_enabled", "cluster.address_mapping.enabled");
    s_select (html, "address_mapping_enabled", value, onoff, subordinate);
    free (value);
    s_error_for (html, page, "address_mapping_enabled");
    html_raw (html,
              "</td></tr>\n<tr><th><label for=\"f-address_mapping\">Address mappings (fqdn=ip, comma- or "
              "line-separated)</label></th><td><textarea name=\"address_mapping\" id=\"f-address_mapping\" "
              "rows=\"3\"%s>",
              subordinate ? " disabled" : "");
    value = s_shown (page, "address_mapping", "cluster.address_mapping");
    html_text (html, value);
    free (value);
    html_raw (html,
              "</textarea> <button type=\"submit\" id=\"suggest\" form=\"suggest-form\"%s>"
              "Suggest</button>",
              subordinate ? " disabled" : "");
    s_error_for (html, page, "address_mapping");
    html_raw (html, "</td></tr>\n");
    //  Peer 1..6 address
    char *peers = s_saved (page, "cluster.peers");
    char *save = NULL;
    char *token = peers ? strtok_r (peers, ",", &save) : NULL;
    for (int i = 1; i <= 6; i++) {
        char field [8];
        snprintf (field, sizeof field, "peer%d", i);
        const char *shown = token ? token : "";
        if (page->form && json_object_get (page->form, field))
            shown = cw_jtext (page->form, field);
        html_raw (html,
                  "<tr><th><label for=\"f-%s\">Peer %d address</label></th><td><input type=\"text\" name=\"%s\" "
                  "id=\"f-%s\" value=\"",
                  field, i, field, field);
        html_text (html, shown);
        html_raw (html, "\">");
        if (json_integer_value (json_object_get (cluster, "this_peer")) == i)
            html_raw (html, " <span class=\"this-system\">This system</span>");
        html_raw (html, "</td></tr>\n");
        token = token ? strtok_r (NULL, ",", &save) : NULL;
    }
    free (peers);
    html_raw (html, "<tr><td></td><td>");
    s_error_for (html, page, "peers");
    html_raw (html, "<button type=\"submit\" id=\"save\">Save</button></td></tr>\n</tbody></table></form>\n");
    //  Suggest has a form of its own, so that Enter in a field saves
    html_raw (html, "<form id=\"suggest-form\" method=\"post\" action=\"/system/clustering/suggest\">");
    html_csrf (html, req);
    html_raw (html, "</form>\n");
    //  Per-peer status
    html_raw (html, "<h2>Status</h2>\n<p>Database: <span id=\"database\">");
    html_text (html, cw_jtext (cluster, "database"));
    html_raw (html, "</span>; this peer: %lld; primary: %lld.</p>\n",
              (long long) json_integer_value (json_object_get (cluster, "this_peer")),
              (long long) json_integer_value (json_object_get (cluster, "primary")));
    html_raw (html, "<table id=\"peer-status\"><thead><tr><th>Peer</th><th>Address</th><th>System name</th>"
                    "<th>Status</th><th>Certificate</th><th>RTT (ms)</th><th>Applied</th><th>Lag</th><th>Version</th>"
                    "<th>Maintenance</th></tr></thead><tbody>\n");
    size_t i;
    json_t *peer;
    json_array_foreach (json_object_get (cluster, "peers"), i, peer) {
        const char *state = cw_jtext (peer, "state");
        bool self = strcmp (state, "this-system") == 0;
        html_raw (html, "<tr%s><td>%lld</td><td>", self ? " class=\"this-system\"" : "",
                  (long long) json_integer_value (json_object_get (peer, "index")));
        html_text (html, cw_jtext (peer, "address"));
        html_raw (html, "</td><td>");
        html_text (html, cw_jtext (peer, "system_name"));
        html_raw (html, "</td><td>");
        html_text (html, self ? "This system" : state);
        html_raw (html, "</td><td>");
        html_text (html, cw_jtext (peer, "certificate"));
        html_raw (html, "</td><td>%.2f</td><td>%lld</td><td>%lld</td><td>",
                  json_number_value (json_object_get (peer, "rtt_ms")),
                  (long long) json_integer_value (json_object_get (peer, "applied_seq")),
                  (long long) json_integer_value (json_object_get (peer, "lag")));
        html_text (html, cw_jtext (peer, "version"));
        html_raw (html, "</td><td>%s</td></tr>\n", json_is_true (json_object_get (peer, "maintenance")) ? "on" : "off");
    }
    html_raw (html, "</tbody></table>\n");
    if (json_array_size (json_object_get (cluster, "peers")) == 0)
        html_raw (html, "<p id=\"not-clustered\">This system is not in a cluster.</p>\n");
    s_procedures_html (html, req, page, subordinate);
    page_send (page, &html);
}

static page_t *
s_cluster_page (web_request_t *req)
{
    page_t *page = page_new (req, s_render_cluster);
    if (page)
        page_ask_running (page, "config", "replication", "config.list", json_pack ("{s:s}", "prefix", "cluster."));
    return page;
}

static void
s_get_cluster (web_request_t *req)
{
    page_t *page = s_cluster_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    if (web_query (req, "saved"))
        page_message (page, false, "Saved.");
    page_go (page);
}

// ---------------------------------------------------------------------------
//  Save: the changed keys, one config.set after the other

typedef struct {
    json_t *writes;    //  [[field, key, value text], ...] still to write
    json_t *form;      //  the fields sent (shown again on a refusal)
    int written;
} s_save_t;

static void
s_save_free (void *arg)
{
    s_save_t *save = (s_save_t *) arg;
    json_decref (save->writes);
    json_decref (save->form);
    free (save);
}

static void s_save_next (web_request_t *req, s_save_t *save);

static void
s_on_set (web_request_t *req, bool ok, json_t *body, void *arg)
{
    s_save_t *save = (s_save_t *) arg;
    json_t *write = json_array_get (save->writes, 0);
    const char *field = json_string_value (json_array_get (write, 0));
    const char *key = json_string_value (json_array_get (write, 1));
    const char *value = json_string_value (json_array_get (write, 2));
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    char detail [1200];
    snprintf (detail, sizeof detail, "%s=%s", key, value);
    webadmin_audit_request (req, "config.set", detail, ok ? NULL : error);
    if (!ok) {
        //  The page replaces SAVE as the request's data: keep what it shows
        char message [1400];
        snprintf (message, sizeof message, "%s was not saved: %s%s", key, error,
                  save->written ? " (the fields before it were saved)" : "");
        char refused [64];
        snprintf (refused, sizeof refused, "%s", field);
        char text [1024];
        snprintf (text, sizeof text, "%s", error);
        json_t *form = json_incref (save->form);
        page_t *page = s_cluster_page (req);
        if (!page) {
            json_decref (form);
            web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        page->status = MHD_HTTP_BAD_REQUEST;
        page->form = form;
        page_refuse (page, refused, text);
        page_message (page, true, "%s", message);
        page_go (page);
        return;
    }
    save->written++;
    json_array_remove (save->writes, 0);
    s_save_next (req, save);
}

static void
s_save_next (web_request_t *req, s_save_t *save)
{
    json_t *write = json_array_get (save->writes, 0);
    if (!write) {
        web_redirect (req, "/system/clustering?saved=1");
        return;
    }
    web_call (req, "config.set",
              json_pack ("{s:O, s:O}", "key", json_array_get (write, 1), "value", json_array_get (write, 2)), s_on_set,
              save);
}

//  The fields of the form as they are sent, peer1..6 as "peers"
static json_t *
s_form_fields (web_request_t *req)
{
    json_t *form = json_object ();
    for (int i = 0; s_fields [i].field; i++) {
        const char *value = web_form (req, s_fields [i].field);
        if (value)
            json_object_set_new (form, s_fields [i].field, json_string (value));
    }
    char peers [1600] = "";
    bool any = false;
    for (int i = 1; i <= 6; i++) {
        char field [8];
        snprintf (field, sizeof field, "peer%d", i);
        const char *value = web_form (req, field);
        if (!value)
            continue;
        any = true;
        json_object_set_new (form, field, json_string (value));
        //  Spaces around trimmed; empty slots left out (the list has no gaps)
        while (*value == ' ' || *value == '\t')
            value++;
        size_t len = strlen (value);
        while (len && (value [len - 1] == ' ' || value [len - 1] == '\t'))
            len--;
        if (len) {
            size_t used = strlen (peers);
            snprintf (peers + used, sizeof peers - used, "%s%.*s", used ? "," : "", (int) len, value);
        }
    }
    if (any)
        json_object_set_new (form, "peers", json_string (peers));
    //  Mappings: one per line or comma-separated
    const char *mapping = web_form (req, "address_mapping");
    if (mapping) {
        char text [4096] = "";
        const char *c = mapping;
        while (*c) {
            size_t skip = strspn (c, " ,\r\n\t");
            c += skip;
            size_t len = strcspn (c, " ,\r\n\t");
            if (len) {
                size_t used = strlen (text);
                snprintf (text + used, sizeof text - used, "%s%.*s", used ? "," : "", (int) len, c);
            }
            c += len;
        }
        json_object_set_new (form, "address_mapping", json_string (text));
    }
    return form;
}

static void
s_on_saved_values (web_request_t *req, bool ok, json_t *body, void *arg)
{
    s_save_t *save = (s_save_t *) arg;
    if (!ok) {
        json_t *form = json_incref (save->form);
        page_t *page = s_cluster_page (req);
        if (!page) {
            json_decref (form);
            web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        page->status = MHD_HTTP_BAD_GATEWAY;
        page->form = form;
        page_message (page, true, "Nothing was saved: the settings could not be read: %s",
                      *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer");
        page_go (page);
        return;
    }
    for (int i = 0; s_fields [i].field; i++) {
        json_t *sent = json_object_get (save->form, s_fields [i].field);
        if (!sent)
            continue;
        char *saved = NULL;
        size_t k;
        json_t *entry;
        json_array_foreach (json_object_get (body, "config"), k, entry)
            if (strcmp (cw_jtext (entry, "key"), s_fields [i].key) == 0)
                saved = page_value_text (json_object_get (entry, "value"));
        if (!saved || strcmp (saved, json_string_value (sent)) != 0)
            json_array_append_new (save->writes, json_pack ("[s, s, O]", s_fields [i].field, s_fields [i].key, sent));
        free (saved);
    }
    s_save_next (req, save);
}

static void
s_post_cluster (web_request_t *req)
{
    s_save_t *save = calloc (1, sizeof *save);
    if (!save) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    save->writes = json_array ();
    save->form = s_form_fields (req);
    web_set_data (req, save, s_save_free);
    web_call (req, "config.list", json_pack ("{s:s}", "prefix", "cluster."), s_on_saved_values, save);
}

// ---------------------------------------------------------------------------
//  Suggest: cluster.suggest_mappings into the field, not saved

static void
s_on_suggest (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    page_t *page = s_cluster_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->form = s_form_fields (req);
    json_t *mappings = json_object_get (body, "mappings");
    if (ok && json_array_size (mappings)) {
        char *text = page_value_text (mappings);
        json_object_set_new (page->form, "address_mapping", json_string (text ? text : ""));
        free (text);
    }
    if (!ok) {
        page->status = MHD_HTTP_BAD_REQUEST;
        page_refuse (page, "address_mapping", *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer");
        page_message (page, true, "No suggestion: %s", page->error_text);
    }
    else {
        const char *note = cw_jtext (body, "message");
        page_message (page, false, "Suggested %zu mapping(s) filled in; press Save to store them.%s%s",
                      json_array_size (mappings), *note ? " " : "", note);
    }
    page_go (page);
}

static void
s_post_suggest (web_request_t *req)
{
    web_call (req, "cluster.suggest_mappings", NULL, s_on_suggest, NULL);
}

// ---------------------------------------------------------------------------
//  Procedures: confirm, then run

//  The command's arguments from the form
static json_t *
s_procedure_args (web_request_t *req, const s_procedure_t *p)
{
    json_t *args = json_object ();
    char fields [256];
    snprintf (fields, sizeof fields, "%s", p->fields);
    char *save = NULL;
    for (char *field = strtok_r (fields, ",", &save); field; field = strtok_r (NULL, ",", &save)) {
        char *label = strchr (field, ':');
        if (label)
            *label = 0;
        const char *value = web_form (req, field);
        if (strcmp (field, "dead") == 0 || strcmp (field, "reset_primary") == 0)
            json_object_set_new (args, field, json_boolean (value && strcmp (value, "yes") == 0));
        else if (strcmp (field, "index") == 0)
            json_object_set_new (args, field, json_integer (value ? strtoll (value, NULL, 10) : 0));
        else if (value && *value)
            json_object_set_new (args, field, json_string (value));
    }
    return args;
}

static void
s_render_confirm (web_request_t *req, page_t *page)
{
    const s_procedure_t *p = (const s_procedure_t *) page->extra;
    html_t *html = page_begin (page, p->label, "/system/clustering");
    if (!html) {
        page_send (page, &html);
        return;
    }
    html_raw (html, "<p id=\"confirm-text\">%s: this ", p->label);
    html_text (html, p->text);
    html_raw (html, ". Go on?</p>\n");
    json_t *args = s_procedure_args (req, p);
    if (json_object_size (args))
        page_json (html, args, "confirm-args");
    json_decref (args);
    html_raw (html, "<form id=\"confirm\" method=\"post\" action=\"/system/clustering/procedure\">");
    html_csrf (html, req);
    html_raw (html,
              "<input type=\"hidden\" name=\"procedure\" value=\"%s\"><input type=\"hidden\" name=\"confirm\" "
              "value=\"yes\">",
              p->name);
    char fields [256];
    snprintf (fields, sizeof fields, "%s", p->fields);
    char *save = NULL;
    for (char *field = strtok_r (fields, ",", &save); field; field = strtok_r (NULL, ",", &save)) {
        char *label = strchr (field, ':');
        if (label)
            *label = 0;
        const char *value = web_form (req, field);
        if (!value)
            continue;
        html_raw (html, "<input type=\"hidden\" name=\"%s\" value=\"", field);
        html_text (html, value);
        html_raw (html, "\">");
    }
    html_raw (html, "<button type=\"submit\">Yes: %s</button> <a href=\"/system/clustering\">Cancel</a></form>\n",
              p->label);
    page_send (page, &html);
}

static void
s_render_result (web_request_t *req, page_t *page)
{
    (void) req;
    const s_procedure_t *p = (const s_procedure_t *) page->extra;
    html_t *html = page_begin (page, p->label, "/system/clustering");
    if (!html) {
        page_send (page, &html);
        return;
    }
    json_t *result = json_object_get (page->form, "result");
    if (result) {
        html_raw (html, "<h2>Result</h2>\n");
        page_json (html, result, "result");
    }
    html_raw (html, "<p><a href=\"/system/clustering\">Back to Clustering</a></p>\n");
    page_send (page, &html);
}

static void
s_on_procedure (web_request_t *req, bool ok, json_t *body, void *arg)
{
    const s_procedure_t *p = (const s_procedure_t *) arg;
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    if (p->confirm) {
        //  Detail: the arguments (addresses, index; nothing secret)
        json_t *args = s_procedure_args (req, p);
        char *detail = json_dumps (args, JSON_COMPACT | JSON_SORT_KEYS);
        webadmin_audit_request (req, p->command, detail ? detail : "", ok ? NULL : error);
        free (detail);
        json_decref (args);
    }
    page_t *page = page_new (req, s_render_result);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->extra = (void *) p;
    page->form = json_pack ("{s:O}", "result", body ? body : json_null ());
    if (ok)
        page_message (page, false, "%s: done.", p->label);
    else {
        page->status = strcmp (p->name, "check") == 0 ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST;
        page_message (page, true, "%s: %s", p->label, error);
    }
    page_go (page);
}

static void
s_post_procedure (web_request_t *req)
{
    const s_procedure_t *p = s_procedure (web_form (req, "procedure"));
    if (!p) {
        page_t *page = s_cluster_page (req);
        if (!page) {
            web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        page->status = MHD_HTTP_BAD_REQUEST;
        page_message (page, true, "Unknown procedure.");
        page_go (page);
        return;
    }
    const char *confirm = web_form (req, "confirm");
    if (p->confirm && !(confirm && strcmp (confirm, "yes") == 0)) {
        page_t *page = page_new (req, s_render_confirm);
        if (!page) {
            web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        page->extra = (void *) p;
        page_go (page);
        return;
    }
    web_call (req, p->command, s_procedure_args (req, p), s_on_procedure, (void *) p);
}

// ---------------------------------------------------------------------------
//  Routes

static const web_route_t s_routes [] = {
    { "GET", "/system/clustering", WEB_PAGE, s_get_cluster, "System > Clustering: the settings, peers, procedures" },
    { "POST", "/system/clustering", WEB_PAGE, s_post_cluster, "save the clustering settings (config.set each)" },
    { "POST", "/system/clustering/suggest", WEB_PAGE, s_post_suggest,
      "fill in the suggested address mappings (cluster.suggest_mappings)" },
    { "POST", "/system/clustering/procedure", WEB_PAGE, s_post_procedure,
      "a cluster procedure: a confirmation page, then (confirm=yes) the command" },
    { NULL, NULL, 0, NULL, NULL },
};

int
pages_cluster_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
