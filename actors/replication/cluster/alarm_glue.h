/*  alarm_glue.h - the cluster alarms of this node kept in line with the
    rules of cluster_alarms.h, and the alarm commands of the cluster.

    On every tick the glue takes the view of the cluster, asks
    cw_cluster_alarms_evaluate which alarms it wants, and raises and clears
    the difference through the alarms actor. At start, the cluster alarms
    already active (raised by an earlier instance of this actor) are read
    first and are the base of the first difference, so alarms whose cause
    went away during a restart are cleared and the others keep their
    occurrence (uuid).

    Actor commands (cw_alarm_glue_commands):
      cluster.alarms {all?}   the alarms of every reachable peer, with
                              "peer_index" and "peer_address"; and the
                              peers that did not answer ("unreachable")
      cluster.check           cw_cluster_check of the view
    Peer command alarms.list (relayed to the local alarms actor).
*/
#ifndef CW_ALARM_GLUE_H
#define CW_ALARM_GLUE_H

#include "core.h"

typedef struct _cw_alarm_glue_t cw_alarm_glue_t;

//  Keep the cluster alarms of CORE (borrowed). NULL on failure.
cw_alarm_glue_t *cw_alarm_glue_new (cw_cluster_t *core);
void cw_alarm_glue_destroy (cw_alarm_glue_t **self_p);

//  The actor commands; the handlers' argument is the cw_alarm_glue_t.
extern const cw_command_t cw_alarm_glue_commands [];

#endif
