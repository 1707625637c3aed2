/*  effective.c - the clustering settings in effect (see effective.h).
*/
#include "effective.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cw_text.h"
#include "settings.h"

void
cw_effective_save (cw_config_store_t *store, const char *boot_id, const cw_cluster_settings_t *s)
{
    json_t *json = cw_settings_json (s);
    char *text = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    sqlite3 *db = cw_config_store_db (store);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db,
                            "INSERT OR REPLACE INTO cluster_effective (id, boot_id, settings)"
                            " VALUES (1, ?1, ?2)",
                            -1, &stmt, NULL)
        == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, boot_id, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) != SQLITE_DONE)
            cw_error ("cluster: cannot save the settings in effect: %s", sqlite3_errmsg (db));
    }
    sqlite3_finalize (stmt);
    free (text);
}

static void
s_factory_reset (cw_config_store_t *store, const cw_bootstrap_t *boot)
{
    cw_warn ("cluster: performing the pending factory reset (peer list was cleared)");
    char err [512];
    const char *keys [] = { "cluster.name",       "cluster.primary", "cluster.ip_version",
                            "cluster.tls_verify", "cluster.peers",   NULL };
    for (int i = 0; keys [i]; i++)
        if (cw_config_store_set_named (store, keys [i], NULL, err, sizeof err))
            cw_error ("cluster: factory reset: %s", err);
    if (cw_replog_reset (cw_config_store_replog (store), err, sizeof err))
        cw_error ("cluster: factory reset: %s", err);
    const char *files [] = { boot->peering.certificate, boot->peering.private_key, boot->peering.ca_file, NULL };
    for (int i = 0; files [i]; i++)
        if (*files [i] && unlink (files [i]) != 0 && errno != ENOENT)
            cw_error ("cluster: factory reset: cannot remove %s: %s", files [i], strerror (errno));
    cw_config_store_announce (store);
}

//  The saved settings and their boot id; false when none are saved.
static bool
s_load_saved (cw_config_store_t *store, char *saved_boot, size_t size, cw_cluster_settings_t *saved)
{
    bool found = false;
    memset (saved, 0, sizeof *saved);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (cw_config_store_db (store),
                            "SELECT boot_id, settings FROM cluster_effective"
                            " WHERE id = 1",
                            -1, &stmt, NULL)
            == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW) {
        cw_copy (saved_boot, size, (const char *) sqlite3_column_text (stmt, 0));
        json_t *json = json_loads ((const char *) sqlite3_column_text (stmt, 1), 0, NULL);
        if (json) {
            cw_settings_from_json (json, saved);
            found = true;
        }
        json_decref (json);
    }
    sqlite3_finalize (stmt);
    return found;
}

int
cw_effective_load (cw_config_store_t *store, const cw_bootstrap_t *boot, char *boot_id, cw_cluster_settings_t *out,
                   bool *factory_reset_done, char *err, size_t errlen)
{
    *factory_reset_done = false;
    if (sqlite3_exec (cw_config_store_db (store),
                      "CREATE TABLE IF NOT EXISTS cluster_effective ("
                      " id INTEGER PRIMARY KEY, boot_id TEXT NOT NULL, settings TEXT NOT NULL);",
                      NULL, NULL, NULL)
        != SQLITE_OK) {
        snprintf (err, errlen, "cannot create the cluster_effective table");
        return -1;
    }
    const char *env = getenv ("CAUSEWAY_BOOT_ID");
    if (env && *env)
        cw_copy (boot_id, 64, env);
    else {
        //  Started by hand: behave as a node restart
        unsigned char random [8];
        randombytes_buf (random, sizeof random);
        sodium_bin2hex (boot_id, 64, random, sizeof random);
    }
    char saved_boot [64] = "";
    cw_cluster_settings_t saved;
    bool found = s_load_saved (store, saved_boot, sizeof saved_boot, &saved);
    if (found && strcmp (saved_boot, boot_id) == 0) {
        *out = saved;    //  the actor alone restarted
        cw_info ("cluster: actor restart; clustering settings in effect unchanged");
    }
    else {
        cw_settings_stored (store, out);
        if (found && saved.peer_count > 0 && out->peer_count == 0) {
            s_factory_reset (store, boot);
            *factory_reset_done = true;
            cw_settings_stored (store, out);
        }
        cw_info ("cluster: node start; clustering settings take effect peers=%d primary=%d", out->peer_count,
                 out->primary);
    }
    cw_effective_save (store, boot_id, out);
    return 0;
}
