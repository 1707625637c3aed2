/*  location_sync.c - the location table kept cluster-wide (see
    location_sync.h).

    Per owner a pull state: whether a pull is in flight, and when a pull
    that is wanted may be sent (now, or after a failure's retry time). The
    replies of the pulls find their owner through a slot of this object,
    so nothing is allocated per request.

    A pull asks for page 0 of a snapshot of the owner's table (a small
    page); the answer says how many pages there are, and the other pages
    are then asked for all at once (they travel one after the other, each
    hop working on one while the next is on its way). Each page is taken
    into the table as it comes (cw_location_load_page), so loading goes on
    while the rest travel. An owner that answers with its whole table
    ("bindings", the form without pages) is loaded as it is. The owner's changes that
    arrive while its pull is in flight and do not follow what is known
    (a gap) are kept, and applied after the load: under load the owner
    keeps changing, and pulling again for each of them would never end.
*/
#include "location_sync.h"

#include <inttypes.h>
#include <time.h>

#define S_STASH_MAX 4096    //  change messages kept per owner while its pull is in flight

//  The wall clock in microseconds (debug lines that measure the sync)
static int64_t
s_wall_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

typedef struct {
    cw_location_sync_t *sync;
    int owner;
    bool in_flight;
    bool wanted;
    int64_t not_before_ms;
    bool was_alive;
    //  The pull in flight
    size_t outstanding;    //  page requests not answered yet
    bool failed;
    size_t page_count;    //  of the snapshot being loaded (0: none yet)
    uint64_t snapshot;
    int64_t started_ms;
    json_t *stash;    //  change messages that came meanwhile (an array)
} s_pull_t;

struct _cw_location_sync_t {
    cw_actor_t *actor;
    cw_location_t *table;
    uint64_t sent_seq;    //  own changes broadcast (or passed over while alone)
    int64_t last_flush_ms;
    int64_t next_announce_ms;
    int peer_count;
    s_pull_t pulls [CW_LOCATION_PEERS + 1];
    uint64_t sent, received, applied, stale, gaps, invalid, pull_count, pull_failures;
};

cw_location_sync_t *
cw_location_sync_new (cw_actor_t *actor, cw_location_t *table)
{
    cw_location_sync_t *self = (cw_location_sync_t *) zmalloc (sizeof (cw_location_sync_t));
    self->actor = actor;
    self->table = table;
    self->sent_seq = cw_location_seq (table, cw_location_this_peer (table), NULL);
    self->peer_count = 1;
    for (int owner = 0; owner <= CW_LOCATION_PEERS; owner++) {
        self->pulls [owner].sync = self;
        self->pulls [owner].owner = owner;
    }
    return self;
}

static void
s_pull_reset (s_pull_t *pull)
{
    pull->page_count = 0;
    pull->snapshot = 0;
    pull->failed = false;
}

void
cw_location_sync_destroy (cw_location_sync_t **self_p)
{
    cw_location_sync_t *self = *self_p;
    if (self) {
        for (int owner = 0; owner <= CW_LOCATION_PEERS; owner++) {
            s_pull_reset (&self->pulls [owner]);
            json_decref (self->pulls [owner].stash);
        }
        free (self);
        *self_p = NULL;
    }
}

// ---------------------------------------------------------------------------
//  Out

static uint64_t
s_own_seq (cw_location_sync_t *self)
{
    return cw_location_seq (self->table, cw_location_this_peer (self->table), NULL);
}

int64_t
cw_location_sync_due (cw_location_sync_t *self, int64_t now_ms)
{
    uint64_t seq = s_own_seq (self);
    if (seq <= self->sent_seq)
        return -1;
    if (seq - self->sent_seq >= CW_LOCATION_SYNC_BATCH)
        return 0;
    int64_t wait = self->last_flush_ms + CW_LOCATION_SYNC_BATCH_MS - now_ms;
    return wait > 0 ? wait : 0;
}

static void
s_broadcast (cw_location_sync_t *self, json_t *body)
{
    json_t *args = json_pack ("{s:s, s:o}", "topic", "routing.location", "body", body);
    if (cw_actor_request (self->actor, "replication", "replication.broadcast", args, NULL, NULL, 0) == 0)
        self->sent++;
}

size_t
cw_location_sync_flush (cw_location_sync_t *self, int64_t now_ms)
{
    self->last_flush_ms = now_ms;
    uint64_t seq = s_own_seq (self);
    if (self->peer_count <= 1) {
        self->sent_seq = seq;
        return 0;
    }
    size_t messages = 0;
    while (self->sent_seq < seq) {
        json_t *msg = cw_location_changes_since (self->table, self->sent_seq, CW_LOCATION_SYNC_BATCH);
        if (!msg)
            break;
        self->sent_seq = (uint64_t) json_integer_value (json_object_get (msg, "to_seq"));
        if (cw_log_threshold >= CW_LOG_DEBUG)
            cw_debug ("routing: location changes %" JSON_INTEGER_FORMAT "..%" PRIu64 " sent at_us=%" PRId64,
                      json_integer_value (json_object_get (msg, "from_seq")), self->sent_seq, s_wall_us ());
        s_broadcast (self, msg);
        messages++;
    }
    self->sent_seq = seq;
    return messages;
}

//  "My epoch is E, my last change is S"
static void
s_announce (cw_location_sync_t *self)
{
    uint64_t epoch;
    int this_peer = cw_location_this_peer (self->table);
    uint64_t seq = cw_location_seq (self->table, this_peer, &epoch);
    s_broadcast (self, json_pack ("{s:i, s:I, s:I, s:I, s:[]}", "owner", this_peer, "epoch", (json_int_t) epoch,
                                  "from_seq", (json_int_t) (seq + 1), "to_seq", (json_int_t) seq, "changes"));
}

// ---------------------------------------------------------------------------
//  Pulls

static void s_pulled (cw_actor_t *actor, bool ok, json_t *body, void *arg);
static void s_pull (cw_location_sync_t *self, int owner, int64_t now_ms);
static void s_applied (cw_location_sync_t *self, int owner, json_t *body);

//  Ask for one page of OWNER's table; false when it cannot be sent
static bool
s_ask_page (cw_location_sync_t *self, s_pull_t *pull, size_t page)
{
    json_t *dump_args = json_pack ("{s:i, s:I}", "peer", cw_location_this_peer (self->table), "page",
                                   (json_int_t) page);
    if (page > 0)
        json_object_set_new (dump_args, "snapshot", json_integer ((json_int_t) pull->snapshot));
    json_t *args = json_pack ("{s:i, s:s, s:s, s:o}", "peer", pull->owner, "actor", "routing", "command",
                              "routing.location.dump", "args", dump_args);
    if (cw_actor_request (self->actor, "replication", "replication.peer_request", args, s_pulled, pull,
                          CW_LOCATION_SYNC_PULL_TIMEOUT_MS)
        != 0)
        return false;
    pull->outstanding++;
    return true;
}

//  The pull of PULL ended (OK or not): the changes kept meanwhile are applied
//  (or dropped, when it failed: the next pull brings them)
static void
s_pull_done (cw_location_sync_t *self, s_pull_t *pull, bool ok, const char *reason)
{
    pull->in_flight = false;
    s_pull_reset (pull);
    json_t *stash = pull->stash;
    pull->stash = NULL;
    if (!ok) {
        self->pull_failures++;
        pull->wanted = true;
        pull->not_before_ms = zclock_time () + CW_LOCATION_SYNC_RETRY_MS;
        cw_warn ("routing: location pull from peer %d failed: %s", pull->owner, reason);
    }
    else {
        size_t i;
        json_t *body;
        json_array_foreach (stash, i, body)
            s_applied (self, pull->owner, body);
    }
    json_decref (stash);
}

//  A pull brought everything: log it and end it
static void
s_pull_loaded (cw_location_sync_t *self, s_pull_t *pull, json_t *header, size_t pages)
{
    self->applied++;
    cw_info ("routing: location of peer %d loaded: %zu bindings in %zu page(s), %" PRId64
             " ms after the pull began, epoch=%" JSON_INTEGER_FORMAT " seq=%" JSON_INTEGER_FORMAT " at_us=%" PRId64,
             pull->owner, cw_location_count (self->table, pull->owner), pages, zclock_time () - pull->started_ms,
             json_integer_value (json_object_get (header, "epoch")),
             json_integer_value (json_object_get (header, "seq")), s_wall_us ());
    s_pull_done (self, pull, true, NULL);
}

//  Is the table BODY describes older than what is known of its owner?
//  (Changes made after it arrived first.)
static bool
s_pull_stale (cw_location_sync_t *self, json_t *body)
{
    int owner = (int) json_integer_value (json_object_get (body, "owner"));
    uint64_t epoch = (uint64_t) json_integer_value (json_object_get (body, "epoch"));
    uint64_t seq = (uint64_t) json_integer_value (json_object_get (body, "seq"));
    uint64_t known_epoch;
    uint64_t known_seq = cw_location_seq (self->table, owner, &known_epoch);
    return known_epoch == epoch && known_seq > seq;
}

static void
s_pulled (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_pull_t *pull = (s_pull_t *) arg;
    cw_location_sync_t *self = pull->sync;
    if (pull->outstanding)
        pull->outstanding--;
    if (!pull->in_flight)
        return;    //  a late answer of a pull given up
    const char *failure = NULL;
    if (!ok)
        failure = json_string_value (json_object_get (body, "error")) ?: "no reason";
    else if ((int) json_integer_value (json_object_get (body, "owner")) != pull->owner) {
        self->invalid++;
        cw_warn ("routing: location dump asked of peer %d came from owner %" JSON_INTEGER_FORMAT ": dropped",
                 pull->owner, json_integer_value (json_object_get (body, "owner")));
        failure = "the answer is another owner's";
    }
    if (failure || pull->failed) {
        pull->failed = true;
        if (pull->outstanding == 0)
            s_pull_done (self, pull, false, failure ?: "a page did not come");
        return;
    }
    if (json_object_get (body, "bindings")) {
        //  The whole table at once
        if (s_pull_stale (self, body)) {
            self->stale++;
            s_pull_done (self, pull, true, NULL);
        }
        else if (cw_location_load (self->table, body) != CW_LOCATION_APPLIED) {
            self->invalid++;
            cw_warn ("routing: location dump of peer %d is malformed: dropped", pull->owner);
            s_pull_done (self, pull, true, NULL);
        }
        else
            s_pull_loaded (self, pull, body, 1);
        return;
    }
    json_int_t page = json_integer_value (json_object_get (body, "page"));
    if (page == 0 && !pull->page_count && s_pull_stale (self, body)) {
        self->stale++;
        s_pull_done (self, pull, true, NULL);
        return;
    }
    bool complete;
    if ((page == 0) == (pull->page_count != 0)
        || cw_location_load_page (self->table, body, &complete) != CW_LOCATION_APPLIED) {
        self->invalid++;
        cw_warn ("routing: location page %" JSON_INTEGER_FORMAT " of peer %d is malformed: dropped", page, pull->owner);
        pull->failed = true;
        if (pull->outstanding == 0)
            s_pull_done (self, pull, false, "a malformed page");
        return;
    }
    cw_debug ("routing: location page %d of peer %d taken, %" PRId64 " ms after the pull began", (int) page,
              pull->owner, zclock_time () - pull->started_ms);
    if (page == 0) {
        //  Now the other pages, all at once
        pull->page_count = (size_t) json_integer_value (json_object_get (body, "pages"));
        pull->snapshot = (uint64_t) json_integer_value (json_object_get (body, "snapshot"));
        for (size_t i = 1; i < pull->page_count; i++)
            if (!s_ask_page (self, pull, i)) {
                pull->failed = true;
                break;
            }
        if (pull->failed && pull->outstanding == 0) {
            s_pull_done (self, pull, false, "a page request could not be sent");
            return;
        }
    }
    if (complete)
        s_pull_loaded (self, pull, body, pull->page_count);
}

static void
s_pull (cw_location_sync_t *self, int owner, int64_t now_ms)
{
    s_pull_t *pull = &self->pulls [owner];
    pull->wanted = true;
    if (pull->in_flight || pull->outstanding || now_ms < pull->not_before_ms)
        return;
    s_pull_reset (pull);
    pull->started_ms = zclock_time ();
    if (s_ask_page (self, pull, 0)) {
        pull->in_flight = true;
        pull->wanted = false;
        self->pull_count++;
    }
    else
        pull->not_before_ms = now_ms + CW_LOCATION_SYNC_RETRY_MS;
}

// ---------------------------------------------------------------------------
//  The cluster as it is

void
cw_location_sync_tick (cw_location_sync_t *self, int64_t now_ms, int this_peer, int peer_count,
                       cw_location_alive_fn *alive, void *arg)
{
    if (this_peer >= 1 && this_peer <= CW_LOCATION_PEERS && this_peer != cw_location_this_peer (self->table)) {
        cw_info ("routing: this peer is now peer %d: own bindings re-tagged", this_peer);
        cw_location_set_this_peer (self->table, this_peer);
        self->next_announce_ms = 0;
    }
    self->peer_count = peer_count;
    int me = cw_location_this_peer (self->table);
    for (int owner = 1; owner <= CW_LOCATION_PEERS; owner++) {
        s_pull_t *pull = &self->pulls [owner];
        if (owner == me) {
            pull->was_alive = true;
            continue;
        }
        if (peer_count <= 1) {
            //  Not clustered (any more): nobody else's bindings
            if (cw_location_count (self->table, owner) || cw_location_seq (self->table, owner, NULL))
                cw_location_forget (self->table, owner);
            pull->was_alive = false;
            pull->wanted = false;
            continue;
        }
        bool now_alive = alive ? alive (owner, arg) : true;
        if (now_alive && (!pull->was_alive || pull->wanted))
            s_pull (self, owner, now_ms);
        pull->was_alive = now_alive;
    }
    if (peer_count > 1 && now_ms >= self->next_announce_ms) {
        if (cw_location_sync_due (self, now_ms) >= 0)
            cw_location_sync_flush (self, now_ms);
        s_announce (self);
        self->next_announce_ms = now_ms + CW_LOCATION_SYNC_ANNOUNCE_MS;
    }
}

//  The last AOR a change message names (for the debug log)
static const char *
s_last_aor (json_t *body)
{
    json_t *changes = json_object_get (body, "changes");
    json_t *last = json_array_get (changes, json_array_size (changes) - 1);
    json_t *aor = json_object_get (last, "aor");
    if (!aor)
        aor = json_object_get (json_object_get (last, "binding"), "aor");
    return json_string_value (aor) ?: "";
}

//  Apply OWNER's change message BODY
static void
s_applied (cw_location_sync_t *self, int owner, json_t *body)
{
    s_pull_t *pull = &self->pulls [owner];
    switch (cw_location_apply (self->table, body)) {
        case CW_LOCATION_APPLIED:
            self->applied++;
            if (cw_log_threshold >= CW_LOG_DEBUG)
                cw_debug ("routing: location of peer %d: changes %" JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT
                          " applied (last %s) at_us=%" PRId64,
                          owner, json_integer_value (json_object_get (body, "from_seq")),
                          json_integer_value (json_object_get (body, "to_seq")), s_last_aor (body), s_wall_us ());
            break;
        case CW_LOCATION_STALE:
            self->stale++;
            break;
        case CW_LOCATION_GAP:
            self->gaps++;
            if (pull->in_flight) {
                //  Applied after the load
                if (!pull->stash)
                    pull->stash = json_array ();
                if (json_array_size (pull->stash) < S_STASH_MAX)
                    json_array_append (pull->stash, body);
                else
                    pull->wanted = true;
                break;
            }
            cw_debug ("routing: location of peer %d has a gap: pulling its table", owner);
            s_pull (self, owner, zclock_time ());
            break;
        case CW_LOCATION_INVALID:
            self->invalid++;
            cw_warn ("routing: malformed location message from peer %d: dropped", owner);
            break;
    }
}

void
cw_location_sync_event (cw_location_sync_t *self, json_t *event)
{
    self->received++;
    json_t *peer = json_object_get (event, "peer");
    json_t *body = json_object_get (event, "body");
    int owner = (int) json_integer_value (json_object_get (body, "owner"));
    if (!json_is_integer (peer) || json_integer_value (peer) != owner || owner < 1 || owner > CW_LOCATION_PEERS) {
        //  A peer speaks for its own bindings only
        self->invalid++;
        cw_warn ("routing: location message of owner %d from peer %" JSON_INTEGER_FORMAT ": dropped", owner,
                 json_integer_value (peer));
        return;
    }
    s_applied (self, owner, body);
}

json_t *
cw_location_sync_status (cw_location_sync_t *self)
{
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t) self->sent, "received",
                      (json_int_t) self->received, "applied", (json_int_t) self->applied, "stale",
                      (json_int_t) self->stale, "gaps", (json_int_t) self->gaps, "invalid", (json_int_t) self->invalid,
                      "pulls", (json_int_t) self->pull_count, "pull_failures", (json_int_t) self->pull_failures);
}
