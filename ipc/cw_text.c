/*  cw_text.c - small text helpers (see cw_text.h). */
#include "cw_text.h"

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
    dest[len] = 0;
}
