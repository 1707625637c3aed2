/*  main.c - causeway-replication: the configuration store and the cluster.

    Opens the configuration store (<state_dir>/config.db, with cluster.db
    attached), finishes a backup restore a crash interrupted, starts the
    cluster core (peer links, heartbeats, replication; cluster.h),
    publishes the current value of every key as the retained STATE
    config.changed.<key>, then signals READY. The commands it serves are
    declared in s_commands below (announced in READY, so causewayd routes
    them here); every one is handled by cw_cluster_handle.
*/
#include <string.h>
#include "backup.h"
#include "cluster.h"
#include "config_store.h"
#include "cw_actor.h"
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

// ---------------------------------------------------------------------------
//  The replication actor's commands: every command it serves, once. Flag
//  CW_CMD_IDEMPOTENT only where a second delivery (to the restarted actor,
//  after a crash with the request in hand) is harmless: reads, and config
//  writes of a value (set twice = set once).

#define I CW_CMD_IDEMPOTENT
static const cw_command_t s_commands[] = {
    //  The configuration store
    { "config.get", s_on_request, I, "one key: value, scope, default {key}" },
    { "config.set", s_on_request, I, "set a key {key, value} (forwarded to the primary)" },
    { "config.unset", s_on_request, I, "back to the default {key}" },
    { "config.list", s_on_request, I, "every key, or those starting with {prefix}" },
    //  Replication
    { "replication.status", s_on_request, I, "mode, applied sequence, primary, in sync" },
    { "replication.data.put", s_on_request, 0, "write rows of a namespace {ns, rows, wait}" },
    { "replication.data.get", s_on_request, 0, "one row of a namespace {ns, key}" },
    { "replication.data.count", s_on_request, 0, "rows in a namespace {ns}" },
    { "replication.broadcast", s_on_request, 0, "an event to every live peer {topic, body}" },
    { "replication.peer_request", s_on_request, 0, "a request to an actor on peer {peer}" },
    { "cluster.force_config_update", s_on_request, 0, "discard this peer's configuration and take the primary's" },
    { "xcommand.ForceConfigUpdate", s_on_request, 0, "discard this peer's configuration and take the primary's" },
    //  Backups
    { "backup.create", s_on_request, 0, "write an encrypted backup of the configuration {file}" },
    { "backup.restore", s_on_request, 0, "restore the configuration from a backup {file}" },
    //  The cluster: state and checks
    { "cluster.status", s_on_request, I, "the cluster and every peer: state, certificate, RTT, replication" },
    { "cluster.alarms", s_on_request, I, "the alarms of every peer" },
    { "cluster.check", s_on_request, 0, "the requirements of clustering, each unmet one with its fix" },
    //  The cluster: procedures (membership, join, rolling, read-only)
    { "cluster.form", s_on_request, 0, "form a cluster of one with this node as primary" },
    { "cluster.token", s_on_request, 0, "a one-time join token for the node at {address}" },
    { "cluster.add", s_on_request, 0, "add the peer at {address}" },
    { "cluster.join", s_on_request, 0, "join the cluster of {primary} with {token}" },
    { "cluster.remove", s_on_request, 0, "remove the peer at {address}" },
    { "cluster.replace", s_on_request, 0, "replace the peer at {old} by the node at {new}" },
    { "cluster.set_primary", s_on_request, 0, "make peer {index} the primary" },
    { "cluster.disband", s_on_request, 0, "remove every subordinate, leaving the primary alone" },
    { "cluster.suggest_mappings", s_on_request, 0, "an FQDN=IP address mapping for every peer" },
    { "cluster.use_fqdns", s_on_request, 0, "replace each peer's IP by its FQDN, one peer at a time" },
    { "cluster.use_fqdns_status", s_on_request, 0, "progress of use_fqdns" },
    { "cluster.enforce_tls", s_on_request, 0, "switch TLS verification to enforce" },
    { "cluster.enforce_tls_status", s_on_request, 0, "progress of enforce_tls" },
    { "cluster.diff", s_on_request, 0, "the keys whose values differ between peers {a} and {b}" },
    { NULL, NULL, 0, NULL }
};
#undef I

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
    cw_config_store_announce (store);
    if (cw_actor_commands (actor, s_commands, cluster) != 0) {
        cw_error ("cannot start: out of memory");
        cw_cluster_destroy (&cluster);
        cw_config_store_destroy (&store);
        cw_actor_destroy (&actor);
        return 1;
    }
    cw_actor_on_stop (actor, s_on_stop, cluster);
    int status = 1;
    if (cw_actor_ready (actor) == 0)
        status = cw_actor_run (actor);
    cw_cluster_destroy (&cluster);
    cw_config_store_destroy (&store);
    cw_actor_destroy (&actor);
    return status;
}
