/*  api.h - the REST API under /api/v1: the control protocol's operations
    as resources, JSON in and out.

    Each route is one line of a table: method, path pattern, the control
    command it runs and where that command's arguments come from (the "{}"
    segments of the path, the JSON body, the query). The command is sent to
    the actor that serves it (web_call) and its reply body is the answer,
    unchanged, with 200; an error reply becomes {"error": TEXT} with the
    status api_status_for chooses. Every request that is not a GET is
    written to the audit log (action = the command, detail = its arguments
    without any password, token, passphrase or option key).

    Authentication is the server's (web.h, WEB_API): an API token, HTTP
    Basic with an administrator account, or a session with its CSRF header.
    docs/openapi.yaml describes every route; tests/integration/
    test_webadmin_api.py checks it against webadmin.routes and a real node.
*/
#ifndef WEBADMIN_API_H
#define WEBADMIN_API_H

#include "web.h"

//  Register the /api/v1 routes on WEB. 0, or -1 when the server has no
//  room for another table.
int api_routes (webadmin_t *web);

//  The HTTP status for a control command's error TEXT: 404 an unknown key,
//  alarm, actor, account, token, credential or option key; 409 a change
//  that must be made on the configuration primary, a name that already
//  exists, a cluster procedure on a node not in a cluster; 413 a request
//  too large; 503 the actor that serves it is not running, did not answer
//  or is busy; else 400 (the request was refused as given).
unsigned api_status_for (const char *text);

#endif
