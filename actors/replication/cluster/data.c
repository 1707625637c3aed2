/*  data.c - replicated data of other actors (see data.h).
*/
#include "data.h"

#include <string.h>
#include "layer.h"

#define S_TABLE CW_REPLOG_SCHEMA ".cluster_data"

int
cw_data_init (cw_config_store_t *store)
{
    char *message = NULL;
    int rc = sqlite3_exec (cw_config_store_db (store),
                           "CREATE TABLE IF NOT EXISTS " S_TABLE " ("
                           " ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,"
                           " PRIMARY KEY (ns, key));",
                           NULL, NULL, &message);
    if (rc != SQLITE_OK) {
        cw_error ("cluster: cannot create the data table error=\"%s\"", message ? message : "?");
        sqlite3_free (message);
        return -1;
    }
    return 0;
}

//  Write ROWS of NS inside the open transaction; NULL, or why not.
static const char *
s_write_rows (sqlite3 *db, const char *ns, json_t *rows)
{
    sqlite3_stmt *upsert = NULL, *remove = NULL;
    int rc = sqlite3_prepare_v2 (db,
                                 "INSERT INTO " S_TABLE " (ns, key, value) VALUES (?1, ?2, ?3)"
                                 " ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value",
                                 -1, &upsert, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2 (db, "DELETE FROM " S_TABLE " WHERE ns = ?1 AND key = ?2", -1, &remove, NULL);
    size_t i;
    json_t *row;
    const char *bad = NULL;
    json_array_foreach (rows, i, row) {
        if (rc != SQLITE_OK)
            break;
        json_t *key = json_array_get (row, 0), *value = json_array_get (row, 1);
        if (!json_is_array (row) || json_array_size (row) != 2 || !json_is_string (key)
            || !(json_is_string (value) || json_is_null (value))) {
            bad = "each row must be [key, value] with text key and text or null value";
            break;
        }
        sqlite3_stmt *stmt = json_is_null (value) ? remove : upsert;
        sqlite3_bind_text (stmt, 1, ns, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, json_string_value (key), -1, SQLITE_STATIC);
        if (!json_is_null (value))
            sqlite3_bind_text (stmt, 3, json_string_value (value), -1, SQLITE_STATIC);
        rc = sqlite3_step (stmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset (stmt);
    }
    if (rc != SQLITE_OK && !bad)
        bad = sqlite3_errmsg (db);
    sqlite3_finalize (upsert);
    sqlite3_finalize (remove);
    return bad;
}

cw_reply_status_t
cw_data_put (cw_config_store_t *store, json_t *args, json_t **reply, int64_t *seq, void **changeset, int *len)
{
    *seq = 0;
    *changeset = NULL;
    *len = 0;
    const char *ns = cw_jtext (args, "ns");
    json_t *rows = json_object_get (args, "rows");
    if (!*ns || !json_is_array (rows)) {
        *reply = cw_error_body ("replication.data.put: 'ns' (text) and 'rows' ([[key, value], ...]) are required");
        return CW_REPLY_ERROR;
    }
    cw_replog_t *replog = cw_config_store_replog (store);
    char err [512];
    if (cw_replog_write_begin (replog, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    const char *bad = s_write_rows (cw_config_store_db (store), ns, rows);
    if (bad) {
        *reply = cw_error_body ("replication.data.put: %s", bad);
        cw_replog_write_rollback (replog);
        return CW_REPLY_ERROR;
    }
    if (cw_replog_write_commit (replog, seq, changeset, len, err, sizeof err)) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    *reply = json_pack ("{s:s, s:i}", "ns", ns, "rows", (int) json_array_size (rows));
    return CW_REPLY_OK;
}

cw_reply_status_t
cw_data_read (cw_config_store_t *store, bool count, json_t *args, json_t **reply)
{
    const char *ns = cw_jtext (args, "ns");
    const char *command = count ? "replication.data.count" : "replication.data.get";
    sqlite3_stmt *stmt = NULL;
    const char *sql = count ? "SELECT count (*) FROM " S_TABLE " WHERE ns = ?1"
                            : "SELECT value FROM " S_TABLE " WHERE ns = ?1 AND key = ?2";
    if (!*ns || sqlite3_prepare_v2 (cw_config_store_db (store), sql, -1, &stmt, NULL) != SQLITE_OK) {
        sqlite3_finalize (stmt);
        *reply = cw_error_body ("%s: 'ns' is required", command);
        return CW_REPLY_ERROR;
    }
    sqlite3_bind_text (stmt, 1, ns, -1, SQLITE_STATIC);
    if (!count)
        sqlite3_bind_text (stmt, 2, cw_jtext (args, "key"), -1, SQLITE_STATIC);
    int step = sqlite3_step (stmt);
    if (count)
        *reply = json_pack ("{s:s, s:I}", "ns", ns, "rows",
                            (json_int_t) (step == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0));
    else
        *reply = json_pack ("{s:s, s:s, s:o}", "ns", ns, "key", cw_jtext (args, "key"), "value",
                            step == SQLITE_ROW ? json_string ((const char *) sqlite3_column_text (stmt, 0))
                                               : json_null ());
    sqlite3_finalize (stmt);
    return CW_REPLY_OK;
}
