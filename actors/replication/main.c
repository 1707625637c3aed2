/*  main.c - causeway-replication: the configuration store and the cluster.

    Opens the configuration store (<state_dir>/config.db, with cluster.db
    attached), finishes a backup restore a crash interrupted, starts the
    cluster core (peer links, heartbeats, replication; cluster.h) and the
    orchestrated cluster procedures on it (procedures.h), publishes the
    current value of every key as the retained STATE
    config.changed.<key>, then signals READY. Requests: the command
    tables of the cluster layer's modules (config.*, cluster.*, xcommand.*,
    backup.*, replication.*).
*/
#include <string.h>
#include "backup.h"
#include "alarm_glue.h"
#include "cluster.h"
#include "core.h"
#include "config_store.h"
#include "cw_actor.h"
#include "procedures.h"
#include "registry.h"
#include "replication.h"
#include "service.h"

static void
s_publish_change (cw_config_store_t *store, const cw_config_key_t *key, json_t *entry, void *arg)
{
    (void) store;
    cw_actor_t *actor = (cw_actor_t *) arg;
    char topic [256];
    snprintf (topic, sizeof (topic), "config.changed.%s", key->name);
    //  cw_actor_publish takes ownership of the body; ENTRY is borrowed.
    if (cw_actor_publish (actor, topic, json_incref (entry), true) != 0)
        cw_warn ("config publish failed topic=%s", topic);
}

static void
s_on_stop (cw_actor_t *self, void *arg)
{
    (void) self;
    cw_cluster_announce_stop ((cw_cluster_t *) arg);
}

int
main (int argc, char **argv)
{
    cw_actor_t *actor = cw_actor_new ("replication", argc, argv);
    if (!actor)
        return 1;
    const cw_bootstrap_t *boot = cw_actor_bootstrap (actor);
    char err [512];
    cw_config_store_t *store = cw_config_store_new (boot->node.state_dir, boot->node.name, err, sizeof (err));
    if (!store) {
        cw_error ("cannot open the configuration store: %s", err);
        cw_actor_destroy (&actor);
        return 1;
    }
    if (cw_backup_recover (cw_config_store_db (store), "cluster", err, sizeof (err)))
        cw_error ("cannot finish an interrupted backup restore: %s", err);
    cw_config_store_on_change (store, s_publish_change, actor);
    cw_cluster_t *cluster = cw_cluster_new (actor, store, err, sizeof (err));
    if (!cluster) {
        cw_error ("cannot start the cluster core: %s", err);
        cw_config_store_destroy (&store);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_replication_t *replication = cw_replication_new (cluster);
    cw_service_t *service = replication ? cw_service_new (cluster, replication) : NULL;
    cw_alarm_glue_t *alarm_glue = cw_alarm_glue_new (cluster);
    cw_procedures_t *procedures = cw_procedures_new (cluster);
    int status = 1;
    if (replication && service && alarm_glue && procedures) {
        cw_actor_commands (actor, cw_cluster_commands, cluster);
        cw_actor_commands (actor, cw_replication_commands, replication);
        cw_actor_commands (actor, cw_service_commands, service);
        cw_actor_commands (actor, cw_alarm_glue_commands, alarm_glue);
        cw_config_store_announce (store);
        cw_actor_on_stop (actor, s_on_stop, cluster);
        if (cw_actor_ready (actor) == 0)
            status = cw_actor_run (actor);
    }
    else
        cw_error ("cannot start the cluster layer");
    cw_procedures_destroy (&procedures);
    cw_alarm_glue_destroy (&alarm_glue);
    cw_service_destroy (&service);
    cw_replication_destroy (&replication);
    cw_cluster_destroy (&cluster);
    cw_config_store_destroy (&store);
    cw_actor_destroy (&actor);
    return status;
}
