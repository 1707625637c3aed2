/*  audit.h - the audit log of the web admin: every change, who, when,
    what, from where.

    Kept per peer in <state_dir>/webadmin.db (SQLite, WAL,
    synchronous=FULL), the newest 100,000 entries. An entry is
    {"seq", "at" (ISO 8601 UTC, ms), "user", "source" (an IP address, or
    "@control:<id>" for the CLI), "action" (e.g. "login", "logout",
    "lockout", "config.set", "alarms.ack", "admin.add"), "detail" (what
    changed: the key and value, the alarm's uuid; never a password, token
    or passphrase), "result" ("ok" or the error text)}.

    Command declared on the actor (the CLI's `causeway audit [--json]`):
      webadmin.audit {limit?, before?} -> {"entries": [...]} newest first,
      at most LIMIT (1..1000, 100), older than seq BEFORE when given.
*/
#ifndef WEBADMIN_AUDIT_H
#define WEBADMIN_AUDIT_H

#include <stdbool.h>
#include "cw_actor.h"

typedef struct _audit_t audit_t;

//  Open the audit database and declare webadmin.audit on ACTOR. NULL with
//  the reason in ERR (the database cannot be opened).
audit_t *audit_new (cw_actor_t *actor, char *err, size_t errlen);
void audit_destroy (audit_t **self_p);
//  Append one entry (committed before it returns). RESULT NULL = "ok".
//  Returns 0, or -1 when it could not be written (logged).
int audit_record (audit_t *self, const char *user, const char *source, const char *action, const char *detail,
                  const char *result);

#endif
