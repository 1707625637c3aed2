/*  data.h - replicated data of other actors: the table cluster.cluster_data
    (ns, key, value) in cluster.db, written in one replicated transaction
    per request and read locally.

      replication.data.put {ns, rows: [[key, value|null], ...]}
          one transaction, one changeset; value null deletes the row
      replication.data.get {ns, key} -> {"ns","key","value"|null}
      replication.data.count {ns} -> {"ns","rows"}
      replication.data.list {ns, after?, limit?}
          -> {"ns","rows": [[key, value], ...],"more","seq"}: the rows of
             NS by key, after key AFTER, at most LIMIT (1..1000, 1000)

    Other actors learn of changes from the EVENT data.changed.<ns>
    {"ns","seq","rows": [[key, value|null], ...] | null}, published on
    every peer when changes to NS were committed or applied there, at most
    5,000 rows per event (several events with the same seq when more
    changed; a row's last value only). Null rows: too much to list (a
    value over 64 KiB, over 64 MiB in one tick), or the data was replaced
    by a snapshot: read the namespace again.

    Functions of the configuration store; where a write is committed (here
    or on the primary) is replication.c's business.
*/
#ifndef CW_DATA_H
#define CW_DATA_H

#include <jansson.h>
#include "config_store.h"

//  Create the table when missing. 0 or -1.
int cw_data_init (cw_config_store_t *store);
//  Commit the rows of ARGS (borrowed) as one change. OK with *REPLY
//  {"ns","rows"}, *SEQ the change's number (0 when nothing changed) and
//  *CHANGESET / *LEN what to ship (sqlite3_free it); ERROR with *REPLY an
//  error body.
cw_reply_status_t cw_data_put (cw_config_store_t *store, json_t *args, json_t **reply, int64_t *seq, void **changeset,
                               int *len);
//  replication.data.get (COUNT false) or replication.data.count (true).
cw_reply_status_t cw_data_read (cw_config_store_t *store, bool count, json_t *args, json_t **reply);
//  replication.data.list.
cw_reply_status_t cw_data_list (cw_config_store_t *store, json_t *args, json_t **reply);

//  Call FN for each row of the data table that CHANGESET (LEN bytes, of
//  this node's history) writes: NS, KEY and the new VALUE (NULL when the
//  row is deleted). 0, or -1 when the changeset cannot be read.
typedef void (cw_data_change_fn) (const char *ns, const char *key, const char *value, void *arg);
int cw_data_changes (const void *changeset, int len, cw_data_change_fn *fn, void *arg);
//  Call FN (value NULL) once per namespace that has rows. 0 or -1.
int cw_data_namespaces (cw_config_store_t *store, cw_data_change_fn *fn, void *arg);

#endif
