/*  cw_text.c - small text helpers (see cw_text.h). */
#include "cw_text.h"

#include <stdarg.h>
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
