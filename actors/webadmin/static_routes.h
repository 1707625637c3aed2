/*  static_routes.h - the route of the embedded static files. */
#ifndef WEBADMIN_STATIC_ROUTES_H
#define WEBADMIN_STATIC_ROUTES_H

#include "web.h"

int static_routes (webadmin_t *web);

#endif
