/*  pages_config.c - the Configuration and Maintenance pages (pages.h).

    Configuration lists every key of the registry (config.list: value,
    scope, type, allowed values, summary), grouped by the first part of
    its name, one form per key; a Save is config.set (or config.unset for
    "Default"), a refused value shows the page again with status 400 and
    the replication actor's error next to the key.

    Maintenance: maintenance mode (config.set maintenance.mode), restart of
    the node (a confirmation page first; then causewayd's restart), and the
    encrypted backup. A download runs backup.create into a file of this
    node's runtime folder (0700, the service's own), answers its bytes as
    an attachment and deletes it; an upload (multipart/form-data: the file
    and the passphrase) is written to such a file (0600), restored with
    backup.restore and deleted. The upload's route checks the session and
    the CSRF token itself (the server reads the token from urlencoded forms
    only); the passphrase is never logged, shown or kept.
*/

#include "pages.h"
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cw_text.h"

// ---------------------------------------------------------------------------
//  Configuration

static void
s_config_form (html_t *html, page_t *page, json_t *entry, bool locked)
{
    const char *key = cw_jtext (entry, "key");
    bool refused = page->error_key && strcmp (page->error_key, key) == 0;
    bool secret = json_is_true (json_object_get (entry, "secret"));
    char *value = refused || secret ? strdup (secret ? "" : cw_jtext (page->form, "value"))
                                    : page_value_text (json_object_get (entry, "value"));
    json_t *choices = json_object_get (entry, "choices");
    html_raw (html, "<form class=\"config\" method=\"post\" action=\"/configuration\" data-key=\"");
    html_text (html, key);
    html_raw (html, "\" id=\"key-");
    html_text (html, key);
    html_raw (html, "\">");
    html_csrf (html, page->req);
    html_raw (html, "<input type=\"hidden\" name=\"key\" value=\"");
    html_text (html, key);
    html_raw (html, "\"><fieldset%s><label><span class=\"key\">", locked ? " disabled" : "");
    html_text (html, key);
    html_raw (html, "</span> ");
    if (json_array_size (choices)) {
        html_raw (html, "<select name=\"value\">");
        size_t i;
        json_t *choice;
        json_array_foreach (choices, i, choice) {
            const char *text = json_string_value (choice);
            html_raw (html, "<option value=\"");
            html_text (html, text);
            html_raw (html, "\"%s>", value && text && strcmp (value, text) == 0 ? " selected" : "");
            html_text (html, text);
            html_raw (html, "</option>");
        }
        html_raw (html, "</select>");
    }
    else if (secret)
        //  A secret is never sent back: typed anew, or left as it is
        html_raw (html,
                  "<input type=\"password\" name=\"value\" value=\"\" autocomplete=\"new-password\""
                  " placeholder=\"%s\">",
                  *cw_jtext (entry, "value") ? "set (type a new one to change it)" : "not set");
    else {
        html_raw (html, "<input type=\"text\" name=\"value\" value=\"");
        html_text (html, value);
        html_raw (html, "\">");
    }
    html_raw (html, "</label> <button type=\"submit\" name=\"action\" value=\"set\">Save</button> "
                    "<button type=\"submit\" name=\"action\" value=\"unset\" class=\"secondary\">Default</button>"
                    "<span class=\"scope scope-");
    html_text (html, cw_jtext (entry, "scope"));
    html_raw (html, "\">");
    html_text (html, cw_jtext (entry, "scope"));
    html_raw (html, "</span>%s<div class=\"allowed\">Allowed: ",
              json_is_true (json_object_get (entry, "default")) ? "<span class=\"default\">default</span>" : "");
    html_text (html, cw_jtext (entry, "allowed"));
    html_raw (html, "</div><div class=\"summary\">");
    html_text (html, cw_jtext (entry, "summary"));
    html_raw (html, "</div>");
    if (refused) {
        html_raw (html, "<p class=\"error\" data-key=\"");
        html_text (html, key);
        html_raw (html, "\">");
        html_text (html, page->error_text);
        html_raw (html, "</p>");
    }
    html_raw (html, "</fieldset></form>\n");
    free (value);
}

static void
s_render_config (web_request_t *req, page_t *page)
{
    (void) req;
    html_t *html = page_begin (page, "Configuration", "/configuration");
    if (!html) {
        page_send (page, &html);
        return;
    }
    bool subordinate = page_primary_note (page, html);
    if (!page_actor_down (page, html, "replication", "config")) {
        html_raw (html, "<p>Every runtime key of this peer. <em>peer</em> keys apply to this peer only; "
                        "<em>cluster</em> keys are the same on every peer of a cluster.</p>\n");
        char group [64] = "";
        size_t i;
        json_t *entry;
        json_array_foreach (json_object_get (page_reply (page, "config"), "config"), i, entry) {
            const char *key = cw_jtext (entry, "key");
            size_t len = strcspn (key, ".");
            if (len >= sizeof group)
                len = sizeof group - 1;
            if (strncmp (group, key, len) != 0 || group [len] != 0) {
                if (*group)
                    html_raw (html, "</section>\n");
                memcpy (group, key, len);
                group [len] = 0;
                html_raw (html, "<section id=\"group-");
                html_text (html, group);
                html_raw (html, "\" class=\"group\"><h2>");
                html_text (html, group);
                html_raw (html, "</h2>\n");
            }
            s_config_form (html, page, entry, subordinate && strcmp (cw_jtext (entry, "scope"), "cluster") == 0);
        }
        if (*group)
            html_raw (html, "</section>\n");
    }
    page_send (page, &html);
}

static page_t *
s_config_page (web_request_t *req)
{
    page_t *page = page_new (req, s_render_config);
    if (page)
        page_ask_running (page, "config", "replication", "config.list", json_pack ("{s:b}", "describe", 1));
    return page;
}

static void
s_get_config (web_request_t *req)
{
    page_t *page = s_config_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    const char *saved = web_query (req, "saved");
    if (saved)
        page_message (page, false, "Saved %s.", saved);
    page_go (page);
}

static void
s_on_config_set (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    const char *key = web_form (req, "key");
    const char *action = web_form (req, "action");
    bool unset = action && strcmp (action, "unset") == 0;
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    char detail [1024];
    //  The value only of a change made to a key that is not secret
    if (unset || json_is_true (json_object_get (body, "secret")))
        snprintf (detail, sizeof detail, "%s", key);
    else
        snprintf (detail, sizeof detail, "%s=%s", key, web_form (req, "value") ? web_form (req, "value") : "");
    webadmin_audit_request (req, unset ? "config.unset" : "config.set", detail, ok ? NULL : error);
    if (ok) {
        //  Registry keys are [a-z0-9._]: anything else is left out
        char location [160] = "/configuration?saved=";
        size_t used = strlen (location);
        for (const char *c = key; *c && used < sizeof location - 1; c++)
            if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.'
                || *c == '_' || *c == '-')
                location [used++] = *c;
        location [used] = 0;
        web_redirect (req, location);
        return;
    }
    page_t *page = s_config_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->status = MHD_HTTP_BAD_REQUEST;
    page->form = json_pack ("{s:s}", "value", web_form (req, "value") ? web_form (req, "value") : "");
    page_refuse (page, key, error);
    page_message (page, true, "%s was not changed: %s", key, error);
    page_go (page);
}

static void
s_post_config (web_request_t *req)
{
    const char *key = web_form (req, "key");
    const char *value = web_form (req, "value");
    const char *action = web_form (req, "action");
    bool unset = action && strcmp (action, "unset") == 0;
    if (!key || !*key || (!unset && !value)) {
        page_t *page = s_config_page (req);
        if (!page) {
            web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
            return;
        }
        page->status = MHD_HTTP_BAD_REQUEST;
        page_message (page, true, "The form needs a key and a value.");
        page_go (page);
        return;
    }
    if (unset)
        web_call (req, "config.unset", json_pack ("{s:s}", "key", key), s_on_config_set, NULL);
    else
        web_call (req, "config.set", json_pack ("{s:s, s:s}", "key", key, "value", value), s_on_config_set, NULL);
}

// ---------------------------------------------------------------------------
//  Maintenance

static void
s_render_maintenance (web_request_t *req, page_t *page)
{
    html_t *html = page_begin (page, "Maintenance", "/maintenance");
    if (!html) {
        page_send (page, &html);
        return;
    }
    html_raw (html, "<h2>Maintenance mode</h2>\n");
    if (!page_actor_down (page, html, "replication", "mode")) {
        const char *mode = cw_jtext (page_reply (page, "mode"), "value");
        html_raw (html, "<p>In maintenance mode this peer takes no new calls or registrations (SIP answers 503 "
                        "with Retry-After); calls in progress continue. Now: <strong id=\"maintenance-mode\">");
        html_text (html, mode);
        html_raw (html, "</strong></p>\n<form id=\"maintenance-form\" method=\"post\" action=\"/maintenance/mode\">");
        html_csrf (html, req);
        bool on = strcmp (mode, "on") == 0;
        html_raw (html,
                  "<label>Maintenance mode <select name=\"value\"><option value=\"on\"%s>on</option>"
                  "<option value=\"off\"%s>off</option></select></label> "
                  "<button type=\"submit\">Save</button></form>\n",
                  on ? " selected" : "", on ? "" : " selected");
    }
    html_raw (html, "<h2>Restart</h2>\n<p>Restarting stops every actor, then causewayd starts again: it applies "
                    "the settings that need a restart (clustering). Calls in progress on this peer end.</p>\n"
                    "<form id=\"restart-form\" method=\"post\" action=\"/maintenance/restart\">");
    html_csrf (html, req);
    html_raw (html, "<button type=\"submit\">Restart...</button></form>\n");
    html_raw (html, "<h2>Backup</h2>\n<p>Both databases (this peer's and the cluster-wide configuration) in one "
                    "file, encrypted with the passphrase (argon2id, XChaCha20-Poly1305). Keep the passphrase: "
                    "without it the file cannot be restored.</p>\n");
    if (!page_actor_down (page, html, "replication", NULL)) {
        html_raw (html, "<form id=\"backup-form\" method=\"post\" action=\"/maintenance/backup\">");
        html_csrf (html, req);
        html_raw (html, "<label>Passphrase <input type=\"password\" name=\"passphrase\" autocomplete=\"new-password\" "
                        "required></label> <button type=\"submit\">Download backup</button></form>\n");
        html_raw (html, "<h3>Restore</h3>\n<p>Restoring replaces this peer's configuration with the file's; run a "
                        "restart afterwards so clustering settings take effect.</p>\n"
                        "<form id=\"restore-form\" method=\"post\" action=\"/maintenance/restore\" "
                        "enctype=\"multipart/form-data\">");
        html_csrf (html, req);
        html_raw (html, "<label>Backup file <input type=\"file\" name=\"file\" required></label> "
                        "<label>Passphrase <input type=\"password\" name=\"passphrase\" autocomplete=\"off\" "
                        "required></label> <button type=\"submit\">Restore</button></form>\n");
    }
    page_send (page, &html);
}

static page_t *
s_maintenance_page (web_request_t *req)
{
    page_t *page = page_new (req, s_render_maintenance);
    if (page)
        page_ask_running (page, "mode", "replication", "config.get", json_pack ("{s:s}", "key", "maintenance.mode"));
    return page;
}

static void
s_get_maintenance (web_request_t *req)
{
    page_t *page = s_maintenance_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    const char *done = web_query (req, "done");
    if (done && strcmp (done, "mode") == 0)
        page_message (page, false, "Maintenance mode saved.");
    page_go (page);
}

static void
s_on_mode (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    char detail [128];
    snprintf (detail, sizeof detail, "maintenance.mode=%s", web_form (req, "value") ? web_form (req, "value") : "");
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    webadmin_audit_request (req, "config.set", detail, ok ? NULL : error);
    if (ok) {
        web_redirect (req, "/maintenance?done=mode");
        return;
    }
    page_t *page = s_maintenance_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->status = MHD_HTTP_BAD_REQUEST;
    page_message (page, true, "Maintenance mode was not changed: %s", error);
    page_go (page);
}

static void
s_post_mode (web_request_t *req)
{
    const char *value = web_form (req, "value");
    web_call (req, "config.set", json_pack ("{s:s, s:s}", "key", "maintenance.mode", "value", value ? value : ""),
              s_on_mode, NULL);
}

//  The restart: a confirmation page, then (confirm=yes) causewayd's restart
static void
s_render_restart (web_request_t *req, page_t *page)
{
    html_t *html = page_begin (page, "Restart", "/maintenance");
    if (html && !page->extra) {
        html_raw (html, "<p id=\"confirm-text\">Restart this node now? Every actor stops and causewayd starts "
                        "again; this page is unavailable for a few seconds.</p>\n"
                        "<form id=\"confirm\" method=\"post\" action=\"/maintenance/restart\">");
        html_csrf (html, req);
        html_raw (html, "<input type=\"hidden\" name=\"confirm\" value=\"yes\"><button type=\"submit\">Yes, "
                        "restart</button> <a href=\"/maintenance\">Cancel</a></form>\n");
    }
    page_send (page, &html);
}

static void
s_on_restart (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    webadmin_audit_request (req, "restart", "", ok ? NULL : error);
    html_t *html = html_new ();
    if (!html) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    html_begin (html, req, "Restart", "/maintenance", false);
    if (ok)
        html_raw (html, "<p id=\"message\" class=\"ok\">The node is restarting. <a href=\"/\">Status</a> answers "
                        "again in a few seconds (log in again: sessions do not survive a restart).</p>\n");
    else {
        html_raw (html, "<p id=\"message\" class=\"error\">The restart was refused: ");
        html_text (html, error);
        html_raw (html, "</p>\n");
    }
    html_end (html);
    html_send (&html, req, ok ? MHD_HTTP_OK : MHD_HTTP_BAD_GATEWAY);
}

static void
s_post_restart (web_request_t *req)
{
    const char *confirm = web_form (req, "confirm");
    if (confirm && strcmp (confirm, "yes") == 0) {
        web_call (req, "restart", NULL, s_on_restart, NULL);
        return;
    }
    page_t *page = page_new (req, s_render_restart);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page_go (page);
}

//  A new file name in the node's runtime folder (PATH, LEN bytes)
static void
s_temp_path (web_request_t *req, const char *what, char *path, size_t len)
{
    const cw_bootstrap_t *boot = cw_actor_bootstrap (web_actor (req));
    unsigned char bytes [8];
    randombytes_buf (bytes, sizeof bytes);
    char hex [17];
    sodium_bin2hex (hex, sizeof hex, bytes, sizeof bytes);
    snprintf (path, len, "%s/webadmin-%s-%s.cwb", boot->node.runtime_dir, what, hex);
}

static void
s_backup_failed (web_request_t *req, const char *error)
{
    page_t *page = s_maintenance_page (req);
    if (!page) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    page->status = MHD_HTTP_BAD_REQUEST;
    page_message (page, true, "No backup was made: %s", error);
    page_go (page);
}

static void
s_on_backup (web_request_t *req, bool ok, json_t *body, void *arg)
{
    char *path = (char *) arg;
    char *data = NULL;
    size_t size = 0;
    char error [512] = "";
    if (!ok)
        snprintf (error, sizeof error, "%s", *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer");
    else {
        FILE *file = fopen (path, "rb");
        FILE *out = file ? open_memstream (&data, &size) : NULL;
        char buffer [65536];
        size_t n;
        while (out && (n = fread (buffer, 1, sizeof buffer, file)) > 0)
            fwrite (buffer, 1, n, out);
        if (!file)
            snprintf (error, sizeof error, "cannot read the backup file: %s", strerror (errno));
        if (file)
            fclose (file);
        if (out)
            fclose (out);
    }
    unlink (path);
    free (path);
    webadmin_audit_request (req, "backup.create", "download", *error ? error : NULL);
    if (*error) {
        free (data);
        s_backup_failed (req, error);
        return;
    }
    const char *name = json_string_value (webadmin_config (web_server (req), "system.name"));
    char safe [64] = "";
    for (size_t i = 0; name && name [i] && i < sizeof safe - 1; i++)
        safe [i] = (name [i] >= 'a' && name [i] <= 'z') || (name [i] >= 'A' && name [i] <= 'Z')
                        || (name [i] >= '0' && name [i] <= '9') || name [i] == '-' || name [i] == '.'
                     ? name [i]
                     : '_';
    char stamp [32];
    time_t now = time (NULL);
    struct tm tm;
    strftime (stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime_r (&now, &tm));
    char disposition [160];
    snprintf (disposition, sizeof disposition, "attachment; filename=\"causeway-%s-%s.cwb\"", *safe ? safe : "backup",
              stamp);
    web_add_header (req, "Content-Disposition", disposition);
    web_respond_owned (req, MHD_HTTP_OK, "application/octet-stream", data, size);
}

static void
s_post_backup (web_request_t *req)
{
    const char *passphrase = web_form (req, "passphrase");
    if (!passphrase || !*passphrase) {
        s_backup_failed (req, "a passphrase is required");
        return;
    }
    char path [600];
    s_temp_path (req, "backup", path, sizeof path);
    char *copy = strdup (path);
    if (!copy) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    web_call_owning (req, "backup.create", json_pack ("{s:s, s:s}", "file", path, "passphrase", passphrase),
                     s_on_backup, copy, free);
}

typedef struct {
    char path [600];
    char user [72];
} s_restore_t;

static void
s_restore_page (web_request_t *req, unsigned status, bool ok, const char *text)
{
    html_t *html = html_new ();
    if (!html) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    html_begin (html, req, "Restore", "/maintenance", false);
    html_raw (html, "<p id=\"message\" class=\"%s\">", ok ? "ok" : "error");
    html_text (html, text);
    html_raw (html, "</p>\n<p><a href=\"/maintenance\">Back to Maintenance</a></p>\n");
    html_end (html);
    html_send (&html, req, status);
}

static void
s_on_restore (web_request_t *req, bool ok, json_t *body, void *arg)
{
    s_restore_t *restore = (s_restore_t *) arg;
    unlink (restore->path);
    const char *error = *cw_jtext (body, "error") ? cw_jtext (body, "error") : "no answer";
    audit_t *audit = webadmin_audit (web_server (req));
    if (audit)
        audit_record (audit, restore->user, web_client (req), "backup.restore", "upload", ok ? NULL : error);
    free (restore);
    char text [1024];
    if (ok)
        snprintf (text, sizeof text, "The backup was restored. %s",
                  *cw_jtext (body, "note") ? cw_jtext (body, "note") : "");
    else
        snprintf (text, sizeof text, "The backup was not restored: %s", error);
    s_restore_page (req, ok ? MHD_HTTP_OK : MHD_HTTP_BAD_REQUEST, ok, text);
}

static void
s_post_restore (web_request_t *req)
{
    s_restore_t *restore = calloc (1, sizeof *restore);
    if (!restore) {
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    snprintf (restore->user, sizeof restore->user, "%s", web_user (req));
    size_t pass_len = 0, file_len = 0;
    const char *passphrase = web_part (req, "passphrase", &pass_len);
    const char *file = web_part (req, "file", &file_len);
    if (!file || file_len == 0 || !passphrase || pass_len == 0 || pass_len > 1024) {
        free (restore);
        s_restore_page (req, MHD_HTTP_BAD_REQUEST, false,
                        "The backup was not restored: the form needs a backup file and its passphrase.");
        return;
    }
    s_temp_path (req, "restore", restore->path, sizeof restore->path);
    int fd = open (restore->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool written = fd >= 0 && write (fd, file, file_len) == (ssize_t) file_len;
    if (fd >= 0)
        close (fd);
    if (!written) {
        char text [800];
        snprintf (text, sizeof text, "The backup was not restored: cannot write %s: %s", restore->path,
                  strerror (errno));
        unlink (restore->path);
        free (restore);
        s_restore_page (req, MHD_HTTP_INTERNAL_SERVER_ERROR, false, text);
        return;
    }
    char *secret = strndup (passphrase, pass_len);
    if (!secret) {
        unlink (restore->path);
        free (restore);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    json_t *args = json_pack ("{s:s, s:s}", "file", restore->path, "passphrase", secret);
    sodium_memzero (secret, pass_len);
    free (secret);
    web_call_owning (req, "backup.restore", args, s_on_restore, restore, free);
}

// ---------------------------------------------------------------------------
//  Routes

static const web_route_t s_routes [] = {
    { "GET", "/configuration", WEB_PAGE, s_get_config, "Configuration: every registry key, grouped" },
    { "POST", "/configuration", WEB_PAGE, s_post_config, "set a key (config.set; action=unset: config.unset)" },
    { "GET", "/maintenance", WEB_PAGE, s_get_maintenance, "Maintenance: mode, restart, backup" },
    { "POST", "/maintenance/mode", WEB_PAGE, s_post_mode, "set maintenance.mode" },
    { "POST", "/maintenance/restart", WEB_PAGE, s_post_restart, "restart the node (a confirmation first)" },
    { "POST", "/maintenance/backup", WEB_PAGE, s_post_backup, "download an encrypted backup (backup.create)" },
    { "POST", "/maintenance/restore", WEB_PAGE, s_post_restore, "restore an uploaded backup (backup.restore)" },
    { NULL, NULL, 0, NULL, NULL },
};

int
pages_config_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
