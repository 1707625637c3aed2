/*  html.c - escaped text and the common layout of the web admin's pages.

    An html_t is an open_memstream; html_send hands its text to the
    request without a copy. The navigation is one table, so a new page is
    one line here and one route in pages.c.
*/

#include "html.h"
#include <microhttpd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "webadmin.h"

struct _html_t {
    FILE *out;
    char *text;
    size_t len;
};

static const struct {
    const char *path;
    const char *label;
} s_nav [] = {
    { "/", "Status" },
    { "/alarms", "Alarms" },
    { "/system/clustering", "Clustering" },
    { "/configuration", "Configuration" },
    { "/maintenance", "Maintenance" },
    { "/licensing", "Licensing" },
    { "/registrations", "Registrations" },
    { "/calls", "Calls" },
    { "/tms", "TMS" },
    { NULL, NULL },
};

html_t *
html_new (void)
{
    html_t *self = calloc (1, sizeof *self);
    if (self)
        self->out = open_memstream (&self->text, &self->len);
    if (self && !self->out) {
        free (self);
        return NULL;
    }
    return self;
}

void
html_destroy (html_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    html_t *self = *self_p;
    if (self->out)
        fclose (self->out);
    free (self->text);
    free (self);
    *self_p = NULL;
}

void
html_raw (html_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vfprintf (self->out, fmt, ap);
    va_end (ap);
}

void
html_text (html_t *self, const char *text)
{
    for (const char *c = text ? text : ""; *c; c++)
        switch (*c) {
            case '&':
                fputs ("&amp;", self->out);
                break;
            case '<':
                fputs ("&lt;", self->out);
                break;
            case '>':
                fputs ("&gt;", self->out);
                break;
            case '"':
                fputs ("&quot;", self->out);
                break;
            case '\'':
                fputs ("&#39;", self->out);
                break;
            default:
                fputc (*c, self->out);
        }
}

void
html_csrf (html_t *self, web_request_t *req)
{
    html_raw (self, "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_text (self, web_csrf (req));
    html_raw (self, "\">");
}

void
html_begin (html_t *self, web_request_t *req, const char *title, const char *current, bool reset_pending)
{
    webadmin_t *web = web_server (req);
    const char *node = json_string_value (webadmin_config (web, "system.name"));
    html_raw (self, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    html_text (self, title);
    html_raw (self, " - ");
    html_text (self, node ? node : "Causeway");
    html_raw (self, "</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
                    "<script src=\"/static/app.js\" defer></script></head><body>\n");
    if (web_user (req) && web_csrf (req)) {
        html_raw (self, "<header><span class=\"brand\">Causeway</span> <span id=\"node\" class=\"node\">");
        html_text (self, node ? node : "");
        html_raw (self, "</span><nav>");
        for (int i = 0; s_nav [i].path; i++) {
            html_raw (self, "<a href=\"%s\"%s>%s</a>", s_nav [i].path,
                      current && strcmp (current, s_nav [i].path) == 0 ? " aria-current=\"page\"" : "",
                      s_nav [i].label);
        }
        html_raw (self, "</nav><form id=\"logout\" method=\"post\" action=\"/logout\"><span class=\"user\">");
        html_text (self, web_user (req));
        html_raw (self, "</span> ");
        html_csrf (self, req);
        html_raw (self, "<button type=\"submit\">Log out</button></form></header>\n");
    }
    if (reset_pending)
        html_raw (self, "<div id=\"reset-banner\" class=\"banner\">A factory reset is pending on this peer: its "
                        "cluster configuration will be cleared when it restarts.</div>\n");
    html_raw (self, "<main><h1>");
    html_text (self, title);
    html_raw (self, "</h1>\n");
}

void
html_end (html_t *self)
{
    html_raw (self, "</main></body></html>\n");
}

void
html_send (html_t **self_p, web_request_t *req, unsigned status)
{
    html_t *self = *self_p;
    fclose (self->out);
    self->out = NULL;
    web_respond_owned (req, status, "text/html; charset=utf-8", self->text, self->len);
    self->text = NULL;
    html_destroy (self_p);
}
