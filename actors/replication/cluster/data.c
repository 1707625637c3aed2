/*  data.c - replicated data of other actors (see data.h).
*/
//  The changeset iterator (cw_data_changes) is declared only with these
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include "data.h"

#include <string.h>
#include "layer.h"

#define S_TABLE CW_REPLOG_SCHEMA ".cluster_data"
#define S_LIST_MAX 1000

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

cw_reply_status_t
cw_data_list (cw_config_store_t *store, json_t *args, json_t **reply)
{
    const char *ns = cw_jtext (args, "ns");
    json_t *limit_arg = json_object_get (args, "limit");
    json_int_t limit = limit_arg ? json_integer_value (limit_arg) : S_LIST_MAX;
    if (!*ns || limit < 1 || limit > S_LIST_MAX) {
        *reply = cw_error_body ("replication.data.list: 'ns' is required, 'limit' is 1..%d", S_LIST_MAX);
        return CW_REPLY_ERROR;
    }
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (cw_config_store_db (store),
                            "SELECT key, value FROM " S_TABLE " WHERE ns = ?1 AND key > ?2 ORDER BY key LIMIT ?3", -1,
                            &stmt, NULL)
        != SQLITE_OK) {
        *reply = cw_error_body ("replication.data.list: %s", sqlite3_errmsg (cw_config_store_db (store)));
        return CW_REPLY_ERROR;
    }
    sqlite3_bind_text (stmt, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, cw_jtext (args, "after"), -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, limit + 1);
    json_t *rows = json_array ();
    bool more = false;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        if ((json_int_t) json_array_size (rows) == limit) {
            more = true;
            break;
        }
        json_array_append_new (rows, json_pack ("[s, s]", (const char *) sqlite3_column_text (stmt, 0),
                                                (const char *) sqlite3_column_text (stmt, 1)));
    }
    sqlite3_finalize (stmt);
    *reply = json_pack ("{s:s, s:o, s:b, s:I}", "ns", ns, "rows", rows, "more", more, "seq",
                        (json_int_t) cw_config_store_cluster_seq (store));
    return CW_REPLY_OK;
}

//  The text of changeset value VALUE (NULL when absent or not text).
static const char *
s_change_text (sqlite3_value *value)
{
    return value && sqlite3_value_type (value) == SQLITE_TEXT ? (const char *) sqlite3_value_text (value) : NULL;
}

int
cw_data_changes (const void *changeset, int len, cw_data_change_fn *fn, void *arg)
{
    sqlite3_changeset_iter *iter = NULL;
    if (sqlite3changeset_start (&iter, len, (void *) changeset) != SQLITE_OK)
        return -1;
    while (sqlite3changeset_next (iter) == SQLITE_ROW) {
        const char *table = NULL;
        int columns = 0, op = 0, indirect = 0;
        if (sqlite3changeset_op (iter, &table, &columns, &op, &indirect) != SQLITE_OK || !table
            || strcmp (table, "cluster_data") != 0 || columns != 3)
            continue;
        sqlite3_value *ns = NULL, *key = NULL, *value = NULL;
        if (op == SQLITE_INSERT) {
            sqlite3changeset_new (iter, 0, &ns);
            sqlite3changeset_new (iter, 1, &key);
            sqlite3changeset_new (iter, 2, &value);
        }
        else {
            sqlite3changeset_old (iter, 0, &ns);
            sqlite3changeset_old (iter, 1, &key);
            if (op == SQLITE_UPDATE)
                sqlite3changeset_new (iter, 2, &value);
        }
        if (s_change_text (ns) && s_change_text (key))
            fn (s_change_text (ns), s_change_text (key), op == SQLITE_DELETE ? NULL : s_change_text (value), arg);
    }
    return sqlite3changeset_finalize (iter) == SQLITE_OK ? 0 : -1;
}

int
cw_data_namespaces (cw_config_store_t *store, cw_data_change_fn *fn, void *arg)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (cw_config_store_db (store), "SELECT DISTINCT ns FROM " S_TABLE, -1, &stmt, NULL)
        != SQLITE_OK)
        return -1;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        fn ((const char *) sqlite3_column_text (stmt, 0), "", NULL, arg);
    sqlite3_finalize (stmt);
    return 0;
}
