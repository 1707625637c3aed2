/*  alternates.h - GET /alternatesconfiguration.xml: the configuration a
    cluster's peers must share, as XML a manager (or `causeway tms diff`)
    compares peer by peer (the document: ipc/cw_alternates.h).

    Served with API access (an API token, HTTP Basic with an administrator
    account, or a session), made from config.list and cluster.status asked
    at once through the broker; either failing is a 503.
*/
#ifndef WEBADMIN_ALTERNATES_H
#define WEBADMIN_ALTERNATES_H

#include "web.h"

//  Register GET /alternatesconfiguration.xml on WEB. 0, or -1 when the
//  server has no room for another table.
int alternates_routes (webadmin_t *web);

#endif
