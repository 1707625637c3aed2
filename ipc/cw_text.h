/*  cw_text.h - small text helpers shared by every module.

    cw_copy copies a C string into a fixed buffer, truncating, always
    NUL-terminated (NULL copies as ""). It exists so that fixed-size fields
    are filled one way everywhere, without snprintf's truncation warnings.
*/
#ifndef CW_TEXT_H
#define CW_TEXT_H

#include <stddef.h>

void cw_copy (char *dest, size_t size, const char *src);

#endif
