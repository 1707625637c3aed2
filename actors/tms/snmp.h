/*  snmp.h - the tms actor's SNMP sub-agent (AgentX, net-snmp).

    The node is read over SNMP through the host's master agent (Debian's
    snmpd with `master agentx`): this module connects to it as an AgentX
    sub-agent and serves CAUSEWAY-MIB (etc/CAUSEWAY-MIB.txt): the system
    name and causewayd's uptime, the active alarms and the cluster peers.

    It is driven by the keys snmp.mode (off | v2c | v3), snmp.community and
    snmp.agentx_socket, learnt from the retained config.changed.<key>
    events. With off nothing is registered with the master; with v2c or v3
    the MIB is registered. With v2c the community is written, with the
    lines snmpd needs to serve the MIB to it, to <runtime_dir>/snmpd.conf
    (mode 0600) for snmpd.conf to include (`includeFile`); with v3 the file
    holds no community (v3 users are the master agent's configuration).

    net-snmp runs in the actor's own loop, with no thread: its descriptors
    are zloop pollers and its next timeout a one-shot zloop timer, both
    recomputed after every pass (agent_check_and_process (0)). A master
    that is not there yet, or restarts, is reconnected to every second.

    The data is refreshed every second while the mode is not off: the
    alarm table from the alarms actor (alarms.list), the peers from the
    replication actor (cluster.status), the uptime once from causewayd
    (status); the system name from config.changed.system.name. So an alarm
    raised or cleared shows in a walk within about a second.
*/
#ifndef CW_TMS_SNMP_H
#define CW_TMS_SNMP_H

#include <jansson.h>
#include <stddef.h>
#include "cw_actor.h"

typedef struct _cw_snmp_t cw_snmp_t;

//  A sub-agent for ACTOR (borrowed; it must outlive the sub-agent), idle
//  until snmp.mode says otherwise. NULL with a reason in ERR on failure.
cw_snmp_t *cw_snmp_new (cw_actor_t *actor, char *err, size_t errlen);
//  Unregister from the master agent, close net-snmp and free. Accepts NULL.
void cw_snmp_destroy (cw_snmp_t **self_p);
//  Feed every EVENT/STATE the actor receives (the actor's event handler
//  calls it); the sub-agent takes the ones it needs (config.changed.snmp.*,
//  config.changed.system.name, cluster.peers) and ignores the rest. BODY
//  is borrowed.
void cw_snmp_on_event (cw_snmp_t *self, const cw_envelope_t *ev, json_t *body);

#endif
