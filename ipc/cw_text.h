/*  cw_text.h - small text helpers shared by every module.

    cw_copy copies a C string into a fixed buffer, truncating, always
    NUL-terminated (NULL copies as ""). It exists so that fixed-size fields
    are filled one way everywhere, without snprintf's truncation warnings.
    cw_jtext reads a string member of a JSON object ("" when it is missing
    or not a string); cw_errorf fills a caller's error buffer;
    cw_read_text_file reads a whole file (a certificate, a key).
*/
#ifndef CW_TEXT_H
#define CW_TEXT_H

#include <jansson.h>
#include <stddef.h>

void cw_copy (char *dest, size_t size, const char *src);
//  The string member NAME of OBJECT (borrowed), or "" (never NULL).
const char *cw_jtext (json_t *object, const char *name);
//  Format into ERR (ERRLEN bytes); nothing when ERR is NULL or ERRLEN 0.
void cw_errorf (char *err, size_t errlen, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

//  The whole of file PATH as a new string (the caller frees it), or NULL
//  with "cannot read KEY 'PATH': why" in ERR. KEY names the setting.
char *cw_read_text_file (const char *path, char *err, size_t errlen, const char *key);

#endif
