/*  static_files.h - the web admin's stylesheet and script, embedded in the
    binary at build time (cmake/EmbedStatic.cmake from
    actors/webadmin/static/) and served at /static/<name> (static_routes).
*/
#ifndef WEBADMIN_STATIC_FILES_H
#define WEBADMIN_STATIC_FILES_H

#include <stddef.h>

typedef struct {
    const char *path;    //  "/static/app.css"; NULL ends the table
    const char *type;
    const unsigned char *data;
    size_t len;
} web_static_file_t;

extern const web_static_file_t web_static_files [];

#endif
