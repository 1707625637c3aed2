/*  provision.h - the provisioning services: users, FindMe accounts, phone
    books and device templates pulled from the external manager into
    cluster-wide data.

    Only the configuration primary pulls (learnt from the retained STATE
    cluster.peers: is_primary, or no cluster at all), and only while
    tms.address is set and provisioning is not stopped. Per service S the
    manager is asked GET <path>/Provisioning?service=S&since=R&limit=N
    (HTTP Basic with the manager credentials), R the revision of the last
    row this cluster holds; each page of rows becomes one
    replication.data.put into tms.<S> (key: the row's id; value: the
    row's JSON text as the manager sent it, checked by rowscan.h, or
    without "deleted" when it says "deleted": false; a deleted row is put
    as null; with wait, so it is answered once every live peer applied it;
    two puts in flight), and
    only once that put was acknowledged is the cursor
    tms.provisioning/<S> = {"revision", "full", "last_sync", "rows"}
    written. A kill -9 at any point resumes from the cursor: the rows after
    it are pulled and put again, which changes nothing (rows are keyed by
    id). Pages are pipelined: the next page's GET is in flight while the
    put of the previous one is answered. Caught up, the service holds a
    long poll (wait) to hear of the next change at once.

    A full pull (tms.refresh) starts from revision 0: the manager sends
    every live row and a tombstone for each removed one, so rows it no
    longer has are removed here too.

    Failures (HTTP status, timeout, truncated or unreadable body,
    certificate, a put refused) make the service failed with the reason;
    it retries after 1, 2, 4 ... 30 s. The manager's connection state and
    its alarm belong to tms.c.

    Commands: tms.refresh {service?}, tms.provisioning.stop,
    tms.provisioning.start (stopped is kept in tms.db's meta: a restart
    keeps it).
*/
#ifndef TMS_PROVISION_H
#define TMS_PROVISION_H

#include "cw_actor.h"
#include "tms_queue.h"

typedef struct _tms_provision_t tms_provision_t;

//  Where the manager is and who we are to it (all borrowed for the call;
//  copied).
typedef struct {
    const char *protocol;
    const char *address;    //  "" = no manager
    const char *path;
    bool verify;
    const char *ca_file;
    const char *user;    //  NULL = no credentials
    const char *password;
} tms_manager_t;

//  Declare the commands on ACTOR (borrowed); META (borrowed, outlives the
//  result) keeps the stopped flag. NULL with the reason in ERR.
tms_provision_t *tms_provision_new (cw_actor_t *actor, tms_queue_t *meta, char *err, size_t errlen);
void tms_provision_destroy (tms_provision_t **self_p);
//  The manager's settings changed (tms.c calls it at each change).
void tms_provision_configure (tms_provision_t *self, const tms_manager_t *manager);
//  Every EVENT/STATE the actor receives; cluster.peers is taken.
void tms_provision_on_event (tms_provision_t *self, const cw_envelope_t *ev, json_t *body);
//  {"role", "reason", "services": {S: {"state", "revision", "rows",
//  "last_sync", "errors", "last_error", ...}}} (new).
json_t *tms_provision_status (tms_provision_t *self);

//  Pure helpers, exposed for the unit tests.
//  Read a Provisioning answer (BODY, LEN bytes) for rows after SINCE:
//  *ROWS (new) the [[id, text|null], ...] to put, *LAST the last row's rev
//  (SINCE when none), *REVISION the manager's, *MORE. 0, or -1 with why
//  in ERR (not JSON, a row without a string id or an integer rev, revs
//  not increasing or not after SINCE).
int tms_provision_page (const char *body, size_t len, int64_t since, json_t **rows, int64_t *last, int64_t *revision,
                        bool *more, char *err, size_t errlen);
//  The service names, NULL-terminated: users, findme, phonebooks, templates.
extern const char *tms_provision_services [];

#endif
