/*  dialplan_store.c - the dial plan kept current with the cluster-wide
    data, and the transforms.* / search_rules.* commands (see
    dialplan_store.h).

    Each namespace is kept by a data mirror (cw_data_mirror.h): a load,
    once complete, replaces that half of the dial plan at once; a
    data.changed event with rows is applied as it comes.
*/
#include "dialplan_store.h"

#include <string.h>

#include "cw_data_mirror.h"
#include "cw_text.h"

typedef struct _cw_dialplan_store_t self_t;

typedef struct {
    self_t *store;
    const char *ns;              //  "routing.transforms" or "routing.search_rules"
    const char *what;            //  "transform" or "search rule"
    bool search;                 //  search rules, not transforms
    cw_data_mirror_t *mirror;    //  keeps it loaded from the cluster-wide data
} s_ns_t;

struct _cw_dialplan_store_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    cw_dialplan_t *dialplan;
    s_ns_t transforms;
    s_ns_t search_rules;
};

// ---------------------------------------------------------------------------
//  Loading and applying

//  Put the stored VALUE (JSON text; NULL = remove) of NAME into the dial plan
static void
s_apply (s_ns_t *ns, const char *name, const char *value)
{
    cw_dialplan_t *dialplan = ns->store->dialplan;
    json_t *rule = value ? json_loads (value, 0, NULL) : NULL;
    int rc = ns->search ? cw_dialplan_set_search_rule (dialplan, name, rule)
                        : cw_dialplan_set_transform (dialplan, name, rule);
    if (value && (!rule || rc != 0)) {
        cw_warn ("dialplan: the stored %s '%.64s' cannot be read; left out", ns->what, name);
        if (ns->search)
            cw_dialplan_set_search_rule (dialplan, name, NULL);
        else
            cw_dialplan_set_transform (dialplan, name, NULL);
    }
    json_decref (rule);
}

//  A load of NS is complete: that half of the dial plan is replaced
static void
s_on_loaded (json_t *rows, void *arg)
{
    s_ns_t *ns = arg;
    if (ns->search)
        cw_dialplan_clear_search_rules (ns->store->dialplan);
    else
        cw_dialplan_clear_transforms (ns->store->dialplan);
    const char *name;
    json_t *value;
    json_object_foreach (rows, name, value) {
        s_apply (ns, name, json_string_value (value));
    }
    cw_info ("dialplan: %s loaded rules=%zu", ns->ns,
             ns->search ? cw_dialplan_search_rule_count (ns->store->dialplan)
                        : cw_dialplan_transform_count (ns->store->dialplan));
}

static void
s_on_changed (const char *name, const char *value, void *arg)
{
    s_apply ((s_ns_t *) arg, name, value);
}

static void
s_on_data_changed (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    s_ns_t *ns = arg;
    cw_data_mirror_on_event (ns->mirror, topic, body);
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    (void) now_ms;
    self_t *self = arg;
    cw_data_mirror_tick (self->transforms.mirror);
    cw_data_mirror_tick (self->search_rules.mirror);
}

// ---------------------------------------------------------------------------
//  Writes

typedef struct {
    s_ns_t *ns;
    char to [64];
    uint64_t corr;
    char command [32];
    char name [80];
    json_t *rule;    //  what was written (NULL: removed)
} s_write_t;

static void
s_on_put (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_write_t *write = arg;
    s_ns_t *ns = write->ns;
    if (!ok)
        cw_actor_reply (actor, write->to, write->corr, false,
                        cw_error_body ("%s: %s '%s' not stored: %s", write->command, ns->what, write->name,
                                       cw_jtext (body, "error")));
    else {
        //  This peer sees its own change at once; the others by data.changed
        cw_dialplan_t *dialplan = ns->store->dialplan;
        if (ns->search)
            cw_dialplan_set_search_rule (dialplan, write->name, write->rule);
        else
            cw_dialplan_set_transform (dialplan, write->name, write->rule);
        if (write->rule) {
            cw_info ("dialplan: %s set name=%s", ns->what, write->name);
            cw_actor_reply (actor, write->to, write->corr, true,
                            json_pack ("{s:O}", ns->search ? "search_rule" : "transform", write->rule));
        }
        else {
            cw_info ("dialplan: %s removed name=%s", ns->what, write->name);
            cw_actor_reply (actor, write->to, write->corr, true,
                            json_pack ("{s:s, s:b}", "name", write->name, "removed", 1));
        }
    }
    json_decref (write->rule);
    free (write);
}

//  Write NAME's row (RULE NULL: delete) and answer REQ once it is stored
static cw_reply_status_t
s_write (s_ns_t *ns, const cw_envelope_t *req, const char *command, const char *name, json_t *rule, json_t **reply)
{
    s_write_t *write = calloc (1, sizeof *write);
    if (!write) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    write->ns = ns;
    cw_copy (write->to, sizeof write->to, req->from);
    write->corr = req->corr;
    cw_copy (write->command, sizeof write->command, command);
    cw_copy (write->name, sizeof write->name, name);
    json_t *value = json_null ();
    if (rule) {
        write->rule = json_incref (rule);
        char *text = json_dumps (rule, JSON_COMPACT | JSON_SORT_KEYS);
        value = text ? json_string (text) : NULL;
        free (text);
    }
    json_t *args = value ? json_pack ("{s:s, s:[[s, o]]}", "ns", ns->ns, "rows", name, value) : NULL;
    if (!args
        || cw_actor_request (ns->store->actor, "replication", "replication.data.put", args, s_on_put, write, 8000)) {
        json_decref (write->rule);
        free (write);
        *reply = cw_error_body ("%s: %s '%s' not stored: the replication actor cannot be asked", command, ns->what,
                                name);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

// ---------------------------------------------------------------------------
//  Commands

static cw_reply_status_t
s_add (s_ns_t *ns, const char *command, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    //  {rule} or {"rule": {rule}, "replace": true}
    json_t *rule = json_object_get (args, "rule");
    bool replace = false;
    if (json_is_object (rule)) {
        json_t *flag = json_object_get (args, "replace");
        if (flag && !json_is_boolean (flag)) {
            *reply = cw_error_body ("replace: true or false (overwrite a rule of the same name)");
            return CW_REPLY_ERROR;
        }
        replace = json_is_true (flag);
    }
    else
        rule = args;
    char err [256];
    json_t *normalized = NULL;
    int rc = ns->search ? cw_dialplan_check_search_rule (rule, &normalized, err, sizeof err)
                        : cw_dialplan_check_transform (rule, &normalized, err, sizeof err);
    if (rc != 0) {
        *reply = cw_error_body ("%s", err);
        return CW_REPLY_ERROR;
    }
    const char *name = cw_jtext (normalized, "name");
    cw_dialplan_t *dialplan = ns->store->dialplan;
    bool exists = ns->search ? cw_dialplan_has_search_rule (dialplan, name)
                             : cw_dialplan_has_transform (dialplan, name);
    if (exists && !replace) {
        *reply = cw_error_body ("name: a %s named '%s' exists (replace: true to overwrite it)", ns->what, name);
        json_decref (normalized);
        return CW_REPLY_ERROR;
    }
    cw_reply_status_t status = s_write (ns, req, command, name, normalized, reply);
    json_decref (normalized);
    return status;
}

static cw_reply_status_t
s_remove (s_ns_t *ns, const char *command, const cw_envelope_t *req, json_t *args, json_t **reply)
{
    const char *name = cw_jtext (args, "name");
    cw_dialplan_t *dialplan = ns->store->dialplan;
    bool exists = ns->search ? cw_dialplan_has_search_rule (dialplan, name)
                             : cw_dialplan_has_transform (dialplan, name);
    if (!exists) {
        *reply = cw_error_body ("name: no %s named '%.64s'", ns->what, name);
        return CW_REPLY_ERROR;
    }
    return s_write (ns, req, command, name, NULL, reply);
}

static cw_reply_status_t
s_cmd_transforms_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_add (&((self_t *) arg)->transforms, "transforms.add", req, args, reply);
}

static cw_reply_status_t
s_cmd_transforms_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_remove (&((self_t *) arg)->transforms, "transforms.remove", req, args, reply);
}

static cw_reply_status_t
s_cmd_transforms_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    self_t *self = arg;
    *reply = json_pack ("{s:o, s:b}", "transforms", cw_dialplan_transforms (self->dialplan), "loading",
                        !cw_data_mirror_loaded (self->transforms.mirror));
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_transforms_test (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    self_t *self = arg;
    const char *alias = cw_jtext (args, "alias");
    if (!*alias || strlen (alias) >= CW_DIALPLAN_ALIAS_MAX) {
        *reply = cw_error_body ("alias: 1 to %d characters", CW_DIALPLAN_ALIAS_MAX - 1);
        return CW_REPLY_ERROR;
    }
    char result [CW_DIALPLAN_ALIAS_MAX], name [128];
    json_t *steps = json_array ();
    cw_dialplan_transform (self->dialplan, alias, result, sizeof result, name, sizeof name, steps);
    *reply = json_pack ("{s:s, s:s, s:o, s:o}", "alias", alias, "result", result, "transform",
                        *name ? json_string (name) : json_null (), "steps", steps);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_search_rules_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_add (&((self_t *) arg)->search_rules, "search_rules.add", req, args, reply);
}

static cw_reply_status_t
s_cmd_search_rules_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    return s_remove (&((self_t *) arg)->search_rules, "search_rules.remove", req, args, reply);
}

static cw_reply_status_t
s_cmd_search_rules_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    self_t *self = arg;
    *reply = json_pack ("{s:o, s:b}", "search_rules", cw_dialplan_search_rules (self->dialplan), "loading",
                        !cw_data_mirror_loaded (self->search_rules.mirror));
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "transforms.add", s_cmd_transforms_add, CW_CMD_IDEMPOTENT, "add (or with replace, change) a transform" },
    { "transforms.remove", s_cmd_transforms_remove, CW_CMD_IDEMPOTENT, "remove a transform" },
    { "transforms.list", s_cmd_transforms_list, CW_CMD_IDEMPOTENT, "the transforms, lowest priority first" },
    { "transforms.test", s_cmd_transforms_test, CW_CMD_IDEMPOTENT, "what the transforms make of an alias" },
    { "search_rules.add", s_cmd_search_rules_add, CW_CMD_IDEMPOTENT, "add (or with replace, change) a search rule" },
    { "search_rules.remove", s_cmd_search_rules_remove, CW_CMD_IDEMPOTENT, "remove a search rule" },
    { "search_rules.list", s_cmd_search_rules_list, CW_CMD_IDEMPOTENT, "the search rules, lowest priority first" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Life cycle

cw_dialplan_store_t *
cw_dialplan_store_new (cw_routing_t *routing, char *err, size_t errlen)
{
    self_t *self = calloc (1, sizeof *self);
    if (!self) {
        cw_errorf (err, errlen, "dialplan: out of memory");
        return NULL;
    }
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    self->dialplan = cw_dialplan_new ();
    if (!self->dialplan) {
        cw_errorf (err, errlen, "dialplan: out of memory");
        cw_dialplan_store_destroy (&self);
        return NULL;
    }
    self->transforms = (s_ns_t){ .store = self, .ns = "routing.transforms", .what = "transform" };
    self->search_rules = (s_ns_t){ .store = self, .ns = "routing.search_rules", .what = "search rule", .search = true };
    self->transforms.mirror = cw_data_mirror_new (self->actor, self->transforms.ns, "dialplan", s_on_loaded,
                                                  s_on_changed, &self->transforms);
    self->search_rules.mirror = cw_data_mirror_new (self->actor, self->search_rules.ns, "dialplan", s_on_loaded,
                                                    s_on_changed, &self->search_rules);
    if (!self->transforms.mirror || !self->search_rules.mirror) {
        cw_errorf (err, errlen, "dialplan: out of memory");
        cw_dialplan_store_destroy (&self);
        return NULL;
    }
    if (cw_actor_commands (self->actor, s_commands, self)) {
        cw_errorf (err, errlen, "dialplan: cannot declare the transforms and search_rules commands");
        cw_dialplan_store_destroy (&self);
        return NULL;
    }
    cw_routing_on_event (routing, "data.changed.routing.transforms", s_on_data_changed, &self->transforms);
    cw_routing_on_event (routing, "data.changed.routing.search_rules", s_on_data_changed, &self->search_rules);
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_data_mirror_start (self->transforms.mirror);    //  on the first tick, once the actor runs
    cw_data_mirror_start (self->search_rules.mirror);
    return self;
}

void
cw_dialplan_store_destroy (cw_dialplan_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    self_t *self = *self_p;
    //  A write still waiting for the replication actor: its requester is
    //  answered (an error) and the write freed, while its namespace is here
    cw_actor_fail_requests (self->actor, s_on_put, "the routing actor stopped before the write was confirmed");
    cw_data_mirror_destroy (&self->transforms.mirror);
    cw_data_mirror_destroy (&self->search_rules.mirror);
    cw_dialplan_destroy (&self->dialplan);
    free (self);
    *self_p = NULL;
}

cw_dialplan_t *
cw_dialplan_store_dialplan (cw_dialplan_store_t *self)
{
    return self->dialplan;
}
