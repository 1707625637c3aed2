/*  main.c - causeway-replication: the configuration store and the cluster.

    Opens the configuration store (<state_dir>/config.db, with cluster.db
    attached), finishes a backup restore a crash interrupted, starts the
    cluster core (peer links, heartbeats, replication; cluster.h) and the
    orchestrated cluster procedures on it (procedures.h), publishes the
    current value of every key as the retained STATE
    config.changed.<key>, then signals READY. Damaged databases (see
    config_store.h, DAMAGED STATE) are reported as alarm 10002 (subject
    the file), in causewayd's status (retained STATE
    actor.problem.replication) and in the log; a subordinate of a cluster
    whose cluster.db was damaged starts with an empty one and takes the
    primary's snapshot, with no alarm. Requests: the command
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
#include "cw_alarm.h"
#include "cw_statefile.h"
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

//  What fixes damaged FILE (REPLACED: an empty one was started).
static const char *
s_damage_fix (const char *file, bool replaced)
{
    if (!replaced)
        return "restart the node (causeway restart): the damaged file is then moved aside and replaced by an empty "
               "one; then restore a backup: causeway backup restore FILE";
    if (streq (file, CW_CONFIG_DB_FILE))
        return "restore a backup: causeway backup restore FILE (until then this peer's own settings are at their "
               "defaults)";
    return "restore a backup: causeway backup restore FILE (until then the cluster-wide settings are at their "
           "defaults); on a subordinate of a cluster, take the primary's copy instead: causeway xcommand "
           "ForceConfigUpdate";
}

//  The damage of the databases: alarm 10002 per file, and the problem
//  causewayd shows in its status.
static void
s_on_damage (cw_config_store_t *store, json_t *damage, void *arg)
{
    (void) store;
    cw_actor_t *actor = (cw_actor_t *) arg;
    static const char *const files [] = { CW_CONFIG_DB_FILE, CW_REPLOG_CLUSTER_DB_FILE };
    char problem [4096] = "";
    for (size_t f = 0; f < sizeof files / sizeof files [0]; f++) {
        json_t *found = NULL, *entry;
        size_t index;
        json_array_foreach (damage, index, entry)
            if (streq (json_string_value (json_object_get (entry, "file")), files [f]))
                found = entry;
        if (!found) {
            cw_alarm_clear (actor, CW_ALARM_DAMAGED_DB, files [f]);
            continue;
        }
        char detail [3000];
        snprintf (detail, sizeof detail, "%s. Fix: %s", json_string_value (json_object_get (found, "detail")),
                  s_damage_fix (files [f], json_is_true (json_object_get (found, "replaced"))));
        cw_error ("damaged database file=%s detail=\"%s\"", files [f], detail);
        cw_alarm_raise (actor, CW_ALARM_DAMAGED_DB, files [f], detail);
        size_t used = strlen (problem);
        snprintf (problem + used, sizeof problem - used, "%s%s", used ? " | " : "", detail);
    }
    static bool reported = false;
    if (*problem || reported)
        cw_actor_publish (actor, "actor.problem.replication", json_pack ("{s:s}", "problem", problem), true);
    reported = *problem != 0;
}

//  A subordinate of a cluster takes the primary's copy of the cluster-wide
//  data: a damaged cluster.db replaced by an empty one is no loss there (a
//  peer with no history gets a snapshot when it links).
static void
s_refill_from_primary (cw_config_store_t *store, const cw_bootstrap_t *boot)
{
    json_t *damage = cw_config_store_damage (store);
    const char *detail = NULL;
    json_t *entry;
    size_t index;
    json_array_foreach (damage, index, entry)
        if (streq (json_string_value (json_object_get (entry, "file")), CW_REPLOG_CLUSTER_DB_FILE)
            && json_is_true (json_object_get (entry, "replaced")))
            detail = json_string_value (json_object_get (entry, "detail"));
    json_t *peers = cw_config_store_get (store, "cluster.peers");
    json_t *primary = cw_config_store_get (store, "cluster.primary");
    const char *address = boot->peering.address ? boot->peering.address : "";
    bool member = false;
    for (size_t i = 0; i < json_array_size (peers); i++)
        member |= streq (json_string_value (json_array_get (peers, i)) ?: "", address);
    const char *primary_address = json_string_value (json_array_get (peers, (size_t) json_integer_value (primary) - 1));
    if (detail && *address && member && primary_address && !streq (primary_address, address)) {
        cw_warn ("damaged cluster.db replaced; this subordinate takes the primary's copy primary=%s detail=\"%s\"",
                 primary_address, detail);
        cw_config_store_damage_resolved (store, CW_REPLOG_CLUSTER_DB_FILE);
    }
    json_decref (peers);
    json_decref (primary);
    json_decref (damage);
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
        cw_actor_publish (actor, "actor.problem.replication", json_pack ("{s:s}", "problem", err), true);
        cw_actor_destroy (&actor);
        return 1;
    }
    if (cw_backup_recover (cw_config_store_db (store), "cluster", err, sizeof (err)))
        cw_error ("cannot finish an interrupted backup restore: %s", err);
    s_refill_from_primary (store, boot);
    cw_config_store_on_change (store, s_publish_change, actor);
    cw_config_store_on_damage (store, s_on_damage, actor);
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
