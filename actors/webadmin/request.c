/*  request.c - a request of the web admin as handlers see it (web.h):
    its method, path, parameters, headers, cookies and body (urlencoded
    fields and multipart parts parsed on demand), and its one answer.

    An answer is kept in the request until libmicrohttpd asks for it: at
    once when the handler answered in its own call, else when the last
    reply of its calls resumes the suspended connection (web_resume).
*/

#include <stdarg.h>
#include <string.h>
#include "web_internal.h"

// ---------------------------------------------------------------------------
//  The request (web.h)

webadmin_t *
web_server (web_request_t *req)
{
    return req->daemon->owner;
}

cw_actor_t *
web_actor (web_request_t *req)
{
    return req->daemon->owner->actor;
}

const char *
web_method (web_request_t *req)
{
    return req->method;
}

const char *
web_path (web_request_t *req)
{
    return req->path;
}

const char *
web_param (web_request_t *req, int n)
{
    return n >= 0 && n < req->param_count ? req->params [n] : NULL;
}

const char *
web_query (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_GET_ARGUMENT_KIND, name);
}

const char *
web_header (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_HEADER_KIND, name);
}

const char *
web_cookie (web_request_t *req, const char *name)
{
    return MHD_lookup_connection_value (req->con, MHD_COOKIE_KIND, name);
}

const char *
web_body (web_request_t *req, size_t *len)
{
    if (len)
        *len = req->body ? req->body_len : 0;
    return req->body ? req->body : "";
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Decode application/x-www-form-urlencoded text of LEN bytes into a new
//  string (plus as space, %XX); NULL for bad escapes or NUL bytes
static char *
s_urldecode (const char *text, size_t len)
{
    char *out = malloc (len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        if (c == '+')
            c = ' ';
        else if (c == '%') {
            int hi = i + 2 < len ? s_hex (text [i + 1]) : -1;
            int lo = i + 2 < len ? s_hex (text [i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free (out);
                return NULL;
            }
            c = (char) (hi * 16 + lo);
            i += 2;
        }
        if (c == 0) {
            free (out);
            return NULL;
        }
        out [n++] = c;
    }
    out [n] = 0;
    return out;
}

const char *
web_form (web_request_t *req, const char *name)
{
    if (!req->form) {
        req->form = json_object ();
        const char *text = web_body (req, NULL);
        while (*text) {
            const char *end = strchr (text, '&');
            size_t len = end ? (size_t) (end - text) : strlen (text);
            const char *eq = memchr (text, '=', len);
            if (eq) {
                char *key = s_urldecode (text, (size_t) (eq - text));
                char *value = s_urldecode (eq + 1, len - (size_t) (eq - text) - 1);
                //  The first of a repeated field counts
                if (key && value && !json_object_get (req->form, key))
                    json_object_set_new (req->form, key, json_string (value));
                free (key);
                free (value);
            }
            text += len + (end ? 1 : 0);
        }
    }
    return json_string_value (json_object_get (req->form, name));
}

//  multipart/form-data: the part called NAME (its bytes in *LEN), or NULL
static const char *
s_part (const char *body, size_t body_len, const char *boundary, const char *name, size_t *len)
{
    char delimiter [256];
    int dlen = snprintf (delimiter, sizeof delimiter, "--%s", boundary);
    if (dlen <= 2 || (size_t) dlen >= sizeof delimiter)
        return NULL;
    char wanted [160];
    snprintf (wanted, sizeof wanted, "name=\"%s\"", name);
    const char *end = body + body_len;
    const char *at = memmem (body, body_len, delimiter, (size_t) dlen);
    while (at) {
        const char *headers = at + dlen;
        if (end - headers < 2 || memcmp (headers, "\r\n", 2) != 0)
            return NULL;    //  "--" after the last part, or malformed
        headers += 2;
        const char *content = memmem (headers, (size_t) (end - headers), "\r\n\r\n", 4);
        if (!content)
            return NULL;
        content += 4;
        char next_delimiter [260];
        int nlen = snprintf (next_delimiter, sizeof next_delimiter, "\r\n%s", delimiter);
        const char *next = memmem (content, (size_t) (end - content), next_delimiter, (size_t) nlen);
        if (!next)
            return NULL;
        //  Is this part NAME? (its Content-Disposition, before the blank line)
        const char *found = memmem (headers, (size_t) (content - headers), wanted, strlen (wanted));
        if (found && (found == headers || found [-1] == ' ' || found [-1] == ';')) {
            *len = (size_t) (next - content);
            return content;
        }
        at = next + 2;
    }
    return NULL;
}

//  The boundary parameter of a multipart Content-Type, into OUT
static bool
s_boundary (const char *type, char *out, size_t len)
{
    if (!type || strncasecmp (type, "multipart/form-data", 19) != 0)
        return false;
    const char *b = strstr (type, "boundary=");
    if (!b)
        return false;
    b += 9;
    bool quoted = *b == '"';
    b += quoted;
    size_t n = strcspn (b, quoted ? "\"" : "; \t");
    if (n == 0 || n >= len || n > 70)
        return false;
    memcpy (out, b, n);
    out [n] = 0;
    return true;
}

const char *
web_part (web_request_t *req, const char *name, size_t *len)
{
    char boundary [80];
    size_t body_len;
    const char *body = web_body (req, &body_len);
    *len = 0;
    if (!s_boundary (web_header (req, MHD_HTTP_HEADER_CONTENT_TYPE), boundary, sizeof boundary))
        return NULL;
    return s_part (body, body_len, boundary, name, len);
}

json_t *
web_body_json (web_request_t *req)
{
    if (!req->json && req->body && req->body_len) {
        json_t *json = json_loadb (req->body, req->body_len, 0, NULL);
        if (json_is_object (json))
            req->json = json;
        else
            json_decref (json);
    }
    return req->json;
}

const char *
web_client (web_request_t *req)
{
    return req->client;
}

const char *
web_user (web_request_t *req)
{
    return *req->user ? req->user : NULL;
}

const char *
web_csrf (web_request_t *req)
{
    return *req->csrf ? req->csrf : NULL;
}

bool
web_by_session (web_request_t *req)
{
    return req->by_session;
}

void
web_set_data (web_request_t *req, void *data, void (*free_fn) (void *))
{
    if (req->data && req->free_data)
        req->free_data (req->data);
    req->data = data;
    req->free_data = free_fn;
}

void *
web_data (web_request_t *req)
{
    return req->data;
}

// ---------------------------------------------------------------------------
//  Answers

void
web_respond_owned (web_request_t *req, unsigned status, const char *type, char *body, size_t len)
{
    if (req->answered) {
        cw_warn ("webadmin: %s %s: a second answer (%u) ignored", req->method, req->path, status);
        free (body);
        return;
    }
    req->answered = true;
    req->status = status;
    req->type = strdup (type);
    req->answer = body;
    req->answer_len = len;
    web_resume (req);
}

void
web_respond (web_request_t *req, unsigned status, const char *type, const char *body, size_t len)
{
    char *copy = malloc (len + 1);
    if (copy) {
        memcpy (copy, body, len);
        copy [len] = 0;
    }
    web_respond_owned (req, copy ? status : MHD_HTTP_INTERNAL_SERVER_ERROR, type, copy ? copy : strdup (""),
                       copy ? len : 0);
}

void
web_json (web_request_t *req, unsigned status, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text) {
        web_respond (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", "{\"error\":\"out of memory\"}\n", 25);
        return;
    }
    size_t len = strlen (text);
    char *line = realloc (text, len + 2);
    if (line) {
        line [len++] = '\n';
        line [len] = 0;
        text = line;
    }
    web_respond_owned (req, status, "application/json", text, len);
}

void
web_error (web_request_t *req, unsigned status, const char *fmt, ...)
{
    char message [1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    web_json (req, status, json_pack ("{s:s}", "error", message));
}

void
web_redirect (web_request_t *req, const char *location)
{
    //  Local paths only: no scheme, no "//host"
    if (!location || location [0] != '/' || location [1] == '/' || location [1] == '\\' || strpbrk (location, "\r\n"))
        location = "/";
    web_add_header (req, MHD_HTTP_HEADER_LOCATION, location);
    web_respond (req, MHD_HTTP_SEE_OTHER, "text/plain; charset=utf-8", "see other\n", 10);
}

void
web_add_header (web_request_t *req, const char *name, const char *value)
{
    if (req->answered || req->header_count >= WEB_MAX_HEADERS || strpbrk (value, "\r\n"))
        return;
    req->headers [req->header_count][0] = strdup (name);
    req->headers [req->header_count][1] = strdup (value);
    req->header_count++;
}

bool
web_answered (web_request_t *req)
{
    return req->answered;
}
