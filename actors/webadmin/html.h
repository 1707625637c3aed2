/*  html.h - building the web admin's pages: escaped text and the common
    layout (head, header with the navigation and the logout form, the
    factory-reset banner, footer).

    A page is written into an html_t (a memory stream) with html_raw for
    markup the code wrote and html_text for anything else (values from
    the node, the user, another actor: always escaped), then sent with
    html_send. There is no inline script or style anywhere (the CSP forbids
    both): behaviour lives in /static/app.js, looks in /static/app.css.
*/
#ifndef WEBADMIN_HTML_H
#define WEBADMIN_HTML_H

#include <stdio.h>
#include "web.h"

typedef struct _html_t html_t;

html_t *html_new (void);
void html_destroy (html_t **self_p);
//  Markup as written (FMT's arguments are NOT escaped: only for numbers
//  and text the code itself wrote)
void html_raw (html_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  TEXT escaped for element content and attribute values (& < > " ')
void html_text (html_t *self, const char *text);
//  <input type="hidden" name="csrf" value="..."> of REQ's session
void html_csrf (html_t *self, web_request_t *req);
//  The document up to the page's main content: title, header (node name,
//  navigation with CURRENT marked, the user and the logout form) when REQ
//  has a session, the factory-reset banner when RESET_PENDING.
void html_begin (html_t *self, web_request_t *req, const char *title, const char *current, bool reset_pending);
//  Close the main content and the document
void html_end (html_t *self);
//  Answer REQ with the page (status STATUS) and destroy it
void html_send (html_t **self_p, web_request_t *req, unsigned status);

#endif
