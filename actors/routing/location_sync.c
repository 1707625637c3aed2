/*  location_sync.c - the location table kept cluster-wide (see
    location_sync.h).

    Per owner a pull state: whether a pull is in flight, and when a pull
    that is wanted may be sent (now, or after a failure's retry time). The
    replies of the pulls find their owner through a slot of this object,
    so nothing is allocated per request.
*/
#include "location_sync.h"

#include <inttypes.h>

typedef struct {
    cw_location_sync_t *sync;
    int owner;
    bool in_flight;
    bool wanted;
    int64_t not_before_ms;
    bool was_alive;
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

void
cw_location_sync_destroy (cw_location_sync_t **self_p)
{
    if (*self_p) {
        free (*self_p);
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

static void
s_pulled (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_pull_t *pull = (s_pull_t *) arg;
    cw_location_sync_t *self = pull->sync;
    pull->in_flight = false;
    if (!ok) {
        self->pull_failures++;
        pull->wanted = true;
        pull->not_before_ms = zclock_time () + CW_LOCATION_SYNC_RETRY_MS;
        cw_warn ("routing: location pull from peer %d failed: %s", pull->owner,
                 json_string_value (json_object_get (body, "error")) ?: "no reason");
        return;
    }
    int owner = (int) json_integer_value (json_object_get (body, "owner"));
    uint64_t epoch = (uint64_t) json_integer_value (json_object_get (body, "epoch"));
    uint64_t seq = (uint64_t) json_integer_value (json_object_get (body, "seq"));
    if (owner != pull->owner) {
        self->invalid++;
        cw_warn ("routing: location dump asked of peer %d came from owner %d: dropped", pull->owner, owner);
        return;
    }
    uint64_t known_epoch;
    uint64_t known_seq = cw_location_seq (self->table, owner, &known_epoch);
    if (known_epoch == epoch && known_seq > seq) {
        self->stale++;    //  changes after the dump arrived first
        return;
    }
    if (cw_location_load (self->table, body) != CW_LOCATION_APPLIED) {
        self->invalid++;
        cw_warn ("routing: location dump of peer %d is malformed: dropped", owner);
        return;
    }
    self->applied++;
    cw_info ("routing: location of peer %d loaded: %zu bindings, epoch=%" PRIu64 " seq=%" PRIu64, owner,
             cw_location_count (self->table, owner), epoch, seq);
}

static void
s_pull (cw_location_sync_t *self, int owner, int64_t now_ms)
{
    s_pull_t *pull = &self->pulls [owner];
    pull->wanted = true;
    if (pull->in_flight || now_ms < pull->not_before_ms)
        return;
    json_t *args = json_pack ("{s:i, s:s, s:s, s:{}}", "peer", owner, "actor", "routing", "command",
                              "routing.location.dump", "args");
    if (cw_actor_request (self->actor, "replication", "replication.peer_request", args, s_pulled, pull,
                          CW_LOCATION_SYNC_PULL_TIMEOUT_MS)
        == 0) {
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

void
cw_location_sync_event (cw_location_sync_t *self, json_t *event)
{
    self->received++;
    json_t *peer = json_object_get (event, "peer");
    json_t *body = json_object_get (event, "body");
    int owner = (int) json_integer_value (json_object_get (body, "owner"));
    if (!json_is_integer (peer) || json_integer_value (peer) != owner) {
        //  A peer speaks for its own bindings only
        self->invalid++;
        cw_warn ("routing: location message of owner %d from peer %" JSON_INTEGER_FORMAT ": dropped", owner,
                 json_integer_value (peer));
        return;
    }
    switch (cw_location_apply (self->table, body)) {
        case CW_LOCATION_APPLIED:
            self->applied++;
            break;
        case CW_LOCATION_STALE:
            self->stale++;
            break;
        case CW_LOCATION_GAP:
            self->gaps++;
            cw_debug ("routing: location of peer %d has a gap: pulling its table", owner);
            s_pull (self, owner, zclock_time ());
            break;
        case CW_LOCATION_INVALID:
            self->invalid++;
            cw_warn ("routing: malformed location message from peer %d: dropped", owner);
            break;
    }
}

json_t *
cw_location_sync_status (cw_location_sync_t *self)
{
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t) self->sent, "received",
                      (json_int_t) self->received, "applied", (json_int_t) self->applied, "stale",
                      (json_int_t) self->stale, "gaps", (json_int_t) self->gaps, "invalid", (json_int_t) self->invalid,
                      "pulls", (json_int_t) self->pull_count, "pull_failures", (json_int_t) self->pull_failures);
}
