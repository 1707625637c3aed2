/*  metrics.h - GET /metrics: the node in the Prometheus text format.

    Open without login to the addresses of webadmin.metrics_allow (default
    loopback), with API credentials from anywhere else. Made from
    causewayd's `status`, asked through the broker while the connection
    waits.
*/
#ifndef WEBADMIN_METRICS_H
#define WEBADMIN_METRICS_H

#include <jansson.h>
#include "web.h"

//  The Prometheus text for STATUS (the body of `status`); a new string the
//  caller frees.
char *metrics_text (json_t *status);
int metrics_routes (webadmin_t *web);

#endif
