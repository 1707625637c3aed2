/*  cw_text.c - small text helpers (see cw_text.h). */
#include "cw_text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

void
cw_copy (char *dest, size_t size, const char *src)
{
    if (!dest || !size)
        return;
    size_t len = src ? strlen (src) : 0;
    if (len > size - 1)
        len = size - 1;
    if (len)
        memmove (dest, src, len);
    dest [len] = 0;
}

const char *
cw_jtext (json_t *object, const char *name)
{
    const char *text = json_string_value (json_object_get (object, name));
    return text ? text : "";
}

void
cw_errorf (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
}

char *
cw_read_text_file (const char *path, char *err, size_t errlen, const char *key)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "cannot read %s '%s': %s", key, path, strerror (errno));
        return NULL;
    }
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    char buffer [4096];
    size_t n;
    while (out && (n = fread (buffer, 1, sizeof buffer, file)) > 0)
        fwrite (buffer, 1, n, out);
    fclose (file);
    if (out)
        fclose (out);
    if (!text)
        snprintf (err, errlen, "cannot read %s '%s': out of memory", key, path);
    return text;
}
