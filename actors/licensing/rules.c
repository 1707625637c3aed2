/*  rules.c - the licensing alarms as rules over a snapshot (see rules.h).

    A table of rules {id, evaluate}; one loop runs them. A rule appends the
    alarms it wants with s_want.
*/
#include "rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cw_text.h"

typedef struct {
    cw_peers_t *peers;
    const cw_lkey_t *keys;
    size_t key_count;
    int64_t now;
    cw_lalarm_t *out;
    size_t max;
    size_t count;
} s_eval_t;

static void s_want (s_eval_t *eval, int id, const char *subject, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_want (s_eval_t *eval, int id, const char *subject, const char *fmt, ...)
{
    if (eval->count == eval->max)
        return;
    cw_lalarm_t *alarm = &eval->out [eval->count++];
    alarm->id = id;
    cw_copy (alarm->subject, sizeof alarm->subject, subject);
    va_list args;
    va_start (args, fmt);
    vsnprintf (alarm->detail, sizeof alarm->detail, fmt, args);
    va_end (args);
}

void
cw_rules_time (int64_t ms, char out [32])
{
    time_t seconds = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

//  "rich_media_sessions 50, room_systems 10" (or "no capacity keys")
static void
s_capacity_text (const cw_peer_t *peer, char *out, size_t size)
{
    size_t used = 0;
    out [0] = 0;
    for (int k = 0; k < CW_POOL_KINDS; k++)
        if (peer->installed [k] > 0 && used < size)
            used += (size_t) snprintf (out + used, size - used, "%s%s %lld", used ? ", " : "",
                                       cw_license_capacity_kinds [k], (long long) peer->installed [k]);
    if (!used)
        snprintf (out, size, "no capacity keys");
}

//  "2 h 5 min" / "3 d 4 h" / "45 s"
static void
s_duration_text (int64_t ms, char *out, size_t size)
{
    int64_t s = ms > 0 ? (ms + 999) / 1000 : 0;
    if (s >= 86400)
        snprintf (out, size, "%lld d %lld h", (long long) (s / 86400), (long long) (s % 86400 / 3600));
    else if (s >= 3600)
        snprintf (out, size, "%lld h %lld min", (long long) (s / 3600), (long long) (s % 3600 / 60));
    else if (s >= 600)
        snprintf (out, size, "%lld min", (long long) (s / 60));
    else
        snprintf (out, size, "%lld s", (long long) s);
}

static const char *
s_name (const cw_peer_t *peer)
{
    return *peer->system_name ? peer->system_name : peer->address;
}

// ---------------------------------------------------------------------------
//  The rules

static void
s_lost_peers (s_eval_t *eval)
{
    for (int i = 0; i < eval->peers->count; i++) {
        const cw_peer_t *peer = &eval->peers->peers [i];
        if (peer->state != CW_PEER_LOST && peer->state != CW_PEER_GONE)
            continue;
        char lost [32], leaves [32], left [32], capacity [256];
        int64_t leaves_ms = peer->lost_at_ms + eval->peers->grace_ms;
        cw_rules_time (peer->lost_at_ms, lost);
        cw_rules_time (leaves_ms, leaves);
        s_duration_text (leaves_ms - eval->now, left, sizeof left);
        s_capacity_text (peer, capacity, sizeof capacity);
        if (peer->state == CW_PEER_LOST)
            s_want (eval, 30012, peer->address,
                    "peer %d %s (%s) lost since %s: its licenses (%s) stay in the pool until %s (%s left)", peer->peer,
                    s_name (peer), peer->address, lost, capacity, leaves, left);
        else
            s_want (eval, 30013, peer->address, "peer %d %s (%s) lost since %s: its licenses (%s) left the pool at %s",
                    peer->peer, s_name (peer), peer->address, lost, capacity, leaves);
    }
}

static void
s_pool_use (s_eval_t *eval)
{
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        int64_t pool = cw_peers_pool (eval->peers, k);
        int64_t used = cw_peers_used (eval->peers, k);
        if (pool <= 0 || used * 10 < pool * 9)
            continue;
        const char *kind = cw_license_capacity_kinds [k];
        if (used >= pool)
            s_want (eval, 30021, kind, "%s: %lld of %lld in use (100%%): new requests are refused", kind,
                    (long long) used, (long long) pool);
        else
            s_want (eval, 30020, kind, "%s: %lld of %lld in use (%lld%%)", kind, (long long) used, (long long) pool,
                    (long long) (used * 100 / pool));
    }
}

static void
s_no_key (s_eval_t *eval)
{
    const cw_peer_t *me = cw_peers_self (eval->peers);
    for (int k = 0; k < CW_POOL_KINDS; k++) {
        int64_t pool = cw_peers_pool (eval->peers, k);
        if (me->installed [k] > 0 || pool <= 0)
            continue;
        char holders [512] = "";
        size_t used = 0;
        for (int i = 0; i < eval->peers->count; i++) {
            const cw_peer_t *peer = &eval->peers->peers [i];
            if (peer->state != CW_PEER_THIS && cw_peers_counts (peer) && peer->installed [k] > 0
                && used < sizeof holders)
                used += (size_t) snprintf (holders + used, sizeof holders - used, "%s%s %lld", used ? ", " : "",
                                           s_name (peer), (long long) peer->installed [k]);
        }
        const char *kind = cw_license_capacity_kinds [k];
        s_want (eval, 30022, kind, "this peer has no %s key; the cluster's pool has %lld (%s) and this peer uses it",
                kind, (long long) pool, holders);
    }
}

static bool
s_has_feature (const cw_peer_t *peer, const char *feature)
{
    for (int i = 0; i < peer->feature_count; i++)
        if (strcmp (peer->features [i], feature) == 0)
            return true;
    return false;
}

static void
s_feature_mismatch (s_eval_t *eval)
{
    //  Every feature any reporting live peer has, and who lacks it
    char detail [1024] = "";
    size_t used = 0;
    const cw_peers_t *peers = eval->peers;
    for (int i = 0; i < peers->count; i++) {
        const cw_peer_t *holder = &peers->peers [i];
        if (!holder->reported || (holder->state != CW_PEER_THIS && holder->state != CW_PEER_LIVE))
            continue;
        for (int f = 0; f < holder->feature_count; f++) {
            const char *feature = holder->features [f];
            //  Say each feature once: at its first holder
            bool first = true;
            for (int j = 0; j < i && first; j++) {
                const cw_peer_t *earlier = &peers->peers [j];
                if (earlier->reported && (earlier->state == CW_PEER_THIS || earlier->state == CW_PEER_LIVE)
                    && s_has_feature (earlier, feature))
                    first = false;
            }
            if (!first)
                continue;
            char lacking [256] = "";
            size_t lack = 0;
            for (int j = 0; j < peers->count; j++) {
                const cw_peer_t *other = &peers->peers [j];
                if (other->reported && (other->state == CW_PEER_THIS || other->state == CW_PEER_LIVE)
                    && !s_has_feature (other, feature) && lack < sizeof lacking)
                    lack += (size_t) snprintf (lacking + lack, sizeof lacking - lack, "%s%s", lack ? ", " : "",
                                               s_name (other));
            }
            if (lack && used < sizeof detail)
                used += (size_t) snprintf (detail + used, sizeof detail - used, "%s%s is on %s but not on %s",
                                           used ? "; " : "", feature, s_name (holder), lacking);
        }
    }
    if (used)
        s_want (eval, 30023, "", "feature keys differ: %s", detail);
}

static void
s_key_validity (s_eval_t *eval)
{
    for (size_t i = 0; i < eval->key_count; i++) {
        const cw_lkey_t *key = &eval->keys [i];
        if (key->status != CW_LICENSE_OK)
            s_want (eval, 30025, key->key.serial, "key %s (%s x%lld) does not count: %s", key->key.serial,
                    key->key.kind, (long long) key->key.count, key->why);
        else if (*key->key.expires && key->days_left <= 30)
            s_want (eval, 30024, key->key.serial, "key %s (%s x%lld) expires on %s (%d day%s left)", key->key.serial,
                    key->key.kind, (long long) key->key.count, key->key.expires, key->days_left,
                    key->days_left == 1 ? "" : "s");
    }
}

static void (*const s_rules []) (s_eval_t *) = { s_lost_peers, s_pool_use, s_no_key, s_feature_mismatch,
                                                 s_key_validity };

size_t
cw_rules_evaluate (cw_peers_t *peers, const cw_lkey_t *keys, size_t key_count, int64_t now_ms, cw_lalarm_t *out,
                   size_t max)
{
    s_eval_t eval = { peers, keys, key_count, now_ms, out, max, 0 };
    for (size_t i = 0; i < sizeof s_rules / sizeof s_rules [0]; i++)
        s_rules [i](&eval);
    return eval.count;
}
