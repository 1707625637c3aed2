/*  metrics.h - GET /metrics: the node in the Prometheus text format.

    Open without login to the addresses of webadmin.metrics_allow (default
    loopback), with API credentials from anywhere else. Made from the
    replies of the commands of METRICS_SOURCES, asked at once through the
    broker while the connection waits; the answer is made when the last
    reply (or timeout) is in. causewayd's `status` must answer (else 503);
    a family of another actor is left out when that actor did not answer,
    and the gauge causeway_actor_answering{actor} says which did.

    Families:
      causeway_up, causeway_uptime_seconds,
      causeway_actor_restarts_total{actor}, causeway_actor_state{actor,state},
      causeway_malformed_total{socket}                      (status)
      causeway_actor_answering{actor}                       (every source)
      causeway_alarms{severity}, causeway_alarms_by_state{state}
                                                            (alarms.list)
      causeway_cluster_peers{state}, causeway_cluster_peers_alive,
      causeway_cluster_peer_up{peer,address},
      causeway_replication_lag{peer,address},
      causeway_replication_applied_seq{peer,address},
      causeway_cluster_peer_rtt_seconds{peer,address}       (cluster.status)
      causeway_sip_registrations, causeway_sip_registrations_by_peer{peer},
      causeway_sip_calls, causeway_sip_calls_by_peer{peer},
      causeway_sip_requests_total{method}                   (routing.status)
      causeway_licenses_pool{kind}, causeway_licenses_used{kind},
      causeway_licenses_free{kind}                          (license.status)
*/
#ifndef WEBADMIN_METRICS_H
#define WEBADMIN_METRICS_H

#include <jansson.h>
#include "web.h"

//  The commands asked, and the actor that serves each (for
//  causeway_actor_answering); ends with NULL.
extern const char *const metrics_sources [][2];

//  The Prometheus text for REPLIES: an object whose member COMMAND is the
//  reply body of that command of metrics_sources, or absent when it did
//  not answer ("status" must be there). A new string the caller frees.
char *metrics_text (json_t *replies);
int metrics_routes (webadmin_t *web);

#endif
