/*  alarm_glue.c - raising and clearing the cluster alarms, and the alarm
    commands of the cluster (see alarm_glue.h).
*/
#include "alarm_glue.h"

#include <stdlib.h>
#include <string.h>
#include "cluster_alarms.h"
#include "cw_alarm.h"
#include "cw_text.h"
#include "layer.h"

struct _cw_alarm_glue_t {
    cw_cluster_t *core;
    cw_alarm_want_t alarms [CW_CLUSTER_ALARMS_MAX];    //  the cluster alarms active now
    int alarm_count;
    bool alarms_known;    //  alarms[] reflects the alarm table (read at start)
    int64_t asked;        //  when the active alarms were last asked for
    cw_alarm_want_t want [CW_CLUSTER_ALARMS_MAX], raise [CW_CLUSTER_ALARMS_MAX], clear [CW_CLUSTER_ALARMS_MAX];
};

static void s_evaluate (cw_alarm_glue_t *self);

//  True when ID is an alarm the rule table raises and clears (others in
//  the cluster range, such as a refused peer certificate, have their own
//  owner and are left alone).
static bool
s_owned (int id)
{
    int ids [CW_CLUSTER_ALARMS_MAX];
    int count = cw_cluster_alarms_rules (ids, CW_CLUSTER_ALARMS_MAX);
    for (int i = 0; i < count && i < CW_CLUSTER_ALARMS_MAX; i++)
        if (ids [i] == id)
            return true;
    return false;
}

static void
s_on_alarms_listed (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_alarm_glue_t *self = arg;
    if (!ok) {
        cw_warn ("cluster: cannot read the active alarms (%s); retrying", cw_jtext (body, "error"));
        return;
    }
    self->alarm_count = 0;
    size_t i;
    json_t *alarm;
    json_array_foreach (json_object_get (body, "alarms"), i, alarm) {
        int id = (int) json_integer_value (json_object_get (alarm, "id"));
        if (!s_owned (id) || self->alarm_count >= CW_CLUSTER_ALARMS_MAX)
            continue;
        cw_alarm_want_t *want = &self->alarms [self->alarm_count++];
        want->id = id;
        cw_copy (want->subject, sizeof want->subject, cw_jtext (alarm, "subject"));
        cw_copy (want->detail, sizeof want->detail, cw_jtext (alarm, "detail"));
    }
    self->alarms_known = true;
    s_evaluate (self);    //  clear what went away during the restart, now
}

static void
s_evaluate (cw_alarm_glue_t *self)
{
    cw_actor_t *actor = cw_cluster_actor (self->core);
    if (!self->alarms_known) {
        if (zclock_mono () - self->asked > 2000) {
            self->asked = zclock_mono ();
            cw_actor_request (actor, "alarms", "alarms.list", json_object (), s_on_alarms_listed, self, 2000);
        }
        return;
    }
    cw_cluster_view_t view;
    cw_cluster_view (self->core, &view);
    int count = cw_cluster_alarms_evaluate (&view, self->want, CW_CLUSTER_ALARMS_MAX);
    if (count < 0)
        return;
    int nraise = 0, nclear = 0;
    if (cw_cluster_alarms_diff (self->alarms, self->alarm_count, self->want, count, self->raise, &nraise, self->clear,
                                &nclear))
        return;
    for (int i = 0; i < nclear; i++)
        cw_alarm_clear (actor, self->clear [i].id, self->clear [i].subject);
    for (int i = 0; i < nraise; i++)
        cw_alarm_raise (actor, self->raise [i].id, self->raise [i].subject, self->raise [i].detail);
    memcpy (self->alarms, self->want, sizeof (cw_alarm_want_t) * (size_t) count);
    self->alarm_count = count;
}

static void
s_tick (cw_cluster_t *core, void *arg)
{
    (void) core;
    s_evaluate ((cw_alarm_glue_t *) arg);
}

// ---------------------------------------------------------------------------
//  cluster.alarms: the alarms of every reachable peer

typedef struct {
    cw_cluster_t *core;
    cw_reply_target_t target;
    json_t *alarms;
    json_t *unreachable;
    int waiting;
} s_gather_t;

static void
s_gather_done (s_gather_t *gather)
{
    if (--gather->waiting > 0)
        return;
    cw_cluster_answer (gather->core, &gather->target, true,
                       json_pack ("{s:o, s:o}", "alarms", gather->alarms, "unreachable", gather->unreachable));
    free (gather);
}

static void
s_gather_add (s_gather_t *gather, json_t *body, int peer, const char *address)
{
    size_t i;
    json_t *alarm;
    json_array_foreach (json_object_get (body, "alarms"), i, alarm) {
        json_t *copy = json_deep_copy (alarm);
        json_object_set_new (copy, "peer_index", json_integer (peer));
        json_object_set_new (copy, "peer_address", json_string (address));
        json_array_append_new (gather->alarms, copy);
    }
}

static void
s_on_gather_peer (cw_cluster_t *core, int peer, bool ok, json_t *json, const uint8_t *blob, size_t blob_len, void *arg)
{
    (void) blob;
    (void) blob_len;
    s_gather_t *gather = arg;
    const char *address = cw_settings_address (cw_cluster_effective (core), peer);
    if (ok)
        s_gather_add (gather, json, peer, address);
    else
        json_array_append_new (gather->unreachable, json_string (address));
    s_gather_done (gather);
}

static void
s_on_gather_local (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    s_gather_t *gather = arg;
    cw_cluster_t *core = gather->core;
    int self_peer = cw_cluster_this_peer (core);
    if (ok)
        s_gather_add (gather, body, self_peer,
                      self_peer ? cw_settings_address (cw_cluster_effective (core), self_peer)
                                : cw_cluster_boot (core)->peering.address);
    s_gather_done (gather);
}

static cw_reply_status_t
s_cmd_alarms (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) reply;
    cw_alarm_glue_t *self = arg;
    s_gather_t *gather = calloc (1, sizeof *gather);
    gather->core = self->core;
    gather->target.corr = req->corr;
    cw_copy (gather->target.to, sizeof gather->target.to, req->from);
    gather->alarms = json_array ();
    gather->unreachable = json_array ();
    gather->waiting = 1;
    json_t *list_args = json_pack ("{s:b}", "all", json_is_true (json_object_get (args, "all")));
    const cw_cluster_settings_t *eff = cw_cluster_effective (self->core);
    for (int i = 0; i < eff->peer_count; i++) {
        if (i + 1 == cw_cluster_this_peer (self->core))
            continue;
        //  cw_cluster_peer_call takes the call: build it only for a live peer
        if (cw_cluster_peer_alive (self->core, i + 1)
            && cw_cluster_peer_call (self->core, i + 1,
                                     json_pack ("{s:s, s:s, s:O}", "op", "control", "command", "alarms.list", "args",
                                                list_args),
                                     NULL, 0, s_on_gather_peer, gather, 3000)
                   == 0)
            gather->waiting++;
        else
            json_array_append_new (gather->unreachable, json_string (eff->peers [i]));
    }
    cw_actor_request (actor, "alarms", "alarms.list", list_args, s_on_gather_local, gather, 3000);
    return CW_REPLY_DEFERRED;
}

static cw_reply_status_t
s_cmd_check (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_alarm_glue_t *self = arg;
    cw_cluster_view_t view;
    cw_cluster_view (self->core, &view);
    *reply = cw_cluster_check (&view);
    return *reply ? CW_REPLY_OK : CW_REPLY_ERROR;
}

static void
s_peer_alarms_list (cw_cluster_t *core, json_t *args, const cw_reply_target_t *target, void *arg)
{
    (void) arg;
    cw_cluster_relay (core, "alarms", "alarms.list", args, target);
}

const cw_command_t cw_alarm_glue_commands [] = {
    { "cluster.alarms", s_cmd_alarms, CW_CMD_IDEMPOTENT, "the alarms of every reachable peer" },
    { "cluster.check", s_cmd_check, 0, "check the cluster's prerequisites" },
    { NULL, NULL, 0, NULL }
};

static const cw_peer_command_t s_peer_commands [] = { { "alarms.list", s_peer_alarms_list }, { NULL, NULL } };

// ---------------------------------------------------------------------------
//  Life cycle

cw_alarm_glue_t *
cw_alarm_glue_new (cw_cluster_t *core)
{
    cw_alarm_glue_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->core = core;
    self->asked = -1000000;
    cw_cluster_hooks_t hooks = { .tick = s_tick, .arg = self };
    if (cw_cluster_hooks (core, &hooks) || cw_cluster_peer_commands (core, s_peer_commands, self)) {
        cw_alarm_glue_destroy (&self);
        return NULL;
    }
    s_evaluate (self);    //  asks the alarms actor what is active
    return self;
}

void
cw_alarm_glue_destroy (cw_alarm_glue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    //  A cluster-wide list still waiting for this peer's alarms is answered
    //  (and freed) while the core it answers through is alive
    cw_actor_fail_requests (cw_cluster_actor ((*self_p)->core), s_on_gather_local,
                            "the replication actor on this peer is stopping");
    cw_cluster_hooks_remove ((*self_p)->core, *self_p);
    free (*self_p);
    *self_p = NULL;
}
