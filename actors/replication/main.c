/*  main.c - causeway-replication: the configuration store and the cluster.

    Opens the configuration store (<state_dir>/config.db, with cluster.db
    attached), finishes a backup restore a crash interrupted, starts the
    cluster core (peer links, heartbeats, replication; cluster.h) and the
    orchestrated cluster procedures on it (procedures.h),
    publishes the current value of every key as the retained STATE
    config.changed.<key>, then signals READY. Requests: config.*, cluster.*,
    xcommand.*, backup.*, replication.* (cw_cluster_handle).
*/
#include <string.h>
#include "backup.h"
#include "cluster.h"
#include "config_store.h"
#include "cw_actor.h"
#include "procedures.h"
#include "registry.h"

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

static cw_reply_status_t
s_on_request (cw_actor_t *self, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) self;
    return cw_cluster_handle ((cw_cluster_t *) arg, req, args, reply);
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
    cw_config_store_t *store = cw_config_store_new (boot->node.state_dir, boot->node.name,
                                                    err, sizeof (err));
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
    cw_procedures_t *procedures = cw_procedures_new (cluster);
    if (!procedures) {
        cw_error ("cannot register the cluster procedures");
        cw_cluster_destroy (&cluster);
        cw_config_store_destroy (&store);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_config_store_announce (store);
    cw_actor_on_request (actor, s_on_request, cluster);
    cw_actor_on_stop (actor, s_on_stop, cluster);
    int status = 1;
    if (cw_actor_ready (actor) == 0)
        status = cw_actor_run (actor);
    cw_procedures_destroy (&procedures);
    cw_cluster_destroy (&cluster);
    cw_config_store_destroy (&store);
    cw_actor_destroy (&actor);
    return status;
}
