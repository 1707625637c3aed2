/*  static_routes.c - GET /static/{name}: the embedded stylesheet and
    script (static_files.h), open without login (they hold nothing of the
    node), cacheable for an hour.
*/

#include "static_routes.h"
#include <microhttpd.h>
#include <string.h>
#include "static_files.h"

static void
s_get_static (web_request_t *req)
{
    for (const web_static_file_t *file = web_static_files; file->path; file++)
        if (strcmp (file->path, web_path (req)) == 0) {
            web_respond (req, MHD_HTTP_OK, file->type, (const char *) file->data, file->len);
            return;
        }
    web_error (req, MHD_HTTP_NOT_FOUND, "not found: %s", web_path (req));
}

static const web_route_t s_routes [] = {
    { "GET", "/static/{}", WEB_OPEN, s_get_static, "the stylesheet and script of the pages" },
    { NULL, NULL, 0, NULL, NULL },
};

int
static_routes (webadmin_t *web)
{
    return web_routes_add (web, s_routes);
}
