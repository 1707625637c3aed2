/*  directory.h - the provisioning data served on every peer: a local read
    model of the cluster-wide namespaces tms.users, tms.findme,
    tms.phonebooks and tms.templates.

    The data is written by the primary's tms actor (replication.data.put)
    and replicated to every peer; this module keeps a copy made for
    reading. Users, FindMe accounts and templates are in
    <state_dir>/tms_directory.db (SQLite, WAL). That file is a cache,
    written without fsync (synchronous OFF, so big loads keep up):
    missing, damaged, or left open when the system (not just the actor)
    stopped, it is made again from the cluster data. At start each of
    those namespaces is read again with replication.data.list (paged by
    key, 1,000 rows a page); each page replaces the cached rows of its key
    range (unchanged rows, compared by a hash of their text, are not
    written), so the cache keeps serving while it is brought up to date.
    Every data.changed.tms.<service> event's rows are applied in one
    transaction as they come; an event without rows starts a new read of
    the namespace.

    The phone book (tms.phonebooks) is held in memory only (phonebook.h):
    read again page by page at every start ("ready" false until the last
    page) and when an event comes without rows (the entries not seen in
    that read are removed at its end), changed by each event's rows.

    Phone book search is a case-insensitive prefix match on the entry's
    name, on each word of it (the name from that word on), on the number
    (its digits) and on the URI (without its scheme), ordered by name
    (then id): see phonebook.h for how.

    Commands:
      tms.directory.status -> {"services": {S: {"rows","seq","ready","loading"}}, "db"}
      tms.findme.list {query?, limit? (1..1000, 100), after?} -> {"accounts": [...], "more"}
      tms.findme.show {id? | alias?} -> {"account": {...}} (an id with an '@'
          that is no account's id is tried as an alias)
      tms.phonebook.search {query, limit? (1..100, 20)}
          -> {"query", "entries": [{"id","book","name","uri","number"}...], "more"}
*/
#ifndef TMS_DIRECTORY_H
#define TMS_DIRECTORY_H

#include "cw_actor.h"

typedef struct _tms_directory_t tms_directory_t;

//  Open (or make again) <state_dir>/tms_directory.db, declare the commands
//  on ACTOR (borrowed, outlives the result) and start reading the cluster
//  data once the loop runs. NULL with the reason in ERR.
tms_directory_t *tms_directory_new (cw_actor_t *actor, char *err, size_t errlen);
void tms_directory_destroy (tms_directory_t **self_p);
//  Feed every EVENT/STATE the actor receives; data.changed.tms.<service>
//  is applied, anything else ignored. BODY borrowed.
void tms_directory_on_event (tms_directory_t *self, const cw_envelope_t *ev, json_t *body);
//  data.changed.tms.phonebooks read in place (cw_actor_on_raw_event): the
//  rows applied without building the event (5,000 rows each during a
//  pull). false: not that event, or one the usual path must take (rows
//  null: a reload; not valid JSON: dropped and counted there).
bool tms_directory_on_raw_event (tms_directory_t *self, const cw_envelope_t *ev);

//  Pure helpers, exposed for the unit tests.

//  TEXT as a search key into OUT (at most OUTLEN - 1 bytes, always
//  terminated): ASCII letters lower-cased, the accented Latin letters of
//  U+00C0..U+017F folded to their base letters, runs of white space made
//  one space, none at either end. Returns the length written.
size_t tms_directory_normalise (const char *text, char *out, size_t outlen);
//  A query as a search key: normalised, a leading "sip:", "sips:" or
//  "tel:" removed, and when it reads as a telephone number (digits with
//  + - ( ) . / or spaces) its digits only. Returns the length.
size_t tms_directory_query_key (const char *query, char *out, size_t outlen);
//  The search tokens of a phone book entry besides its name's start, as
//  lines of OUT ("\n" between them): the normalised name from each word
//  after the first (words start after a space or '-'), the number's
//  digits, the URI without its scheme (and a leading '+'). SORTKEY gets
//  the normalised name. Returns the number of tokens.
int tms_directory_tokens (const char *name, const char *number, const char *uri, char *sortkey, size_t sortkeylen,
                          char *out, size_t outlen);

#endif
