/*  broker.c - the message broker between actors (see broker.h).

    Data kept here, all small and bounded:
      - the set of ready actors (names), for routing and broadcasts;
      - a FIFO of messages waiting for actors that are not ready yet, each
        with its deadline (at most CW_BROKER_QUEUE_MAX);
      - the retained STATE messages, one per topic (at most
        CW_BROKER_RETAINED_MAX topics).
    Sending never blocks: the ROUTER drops what it cannot deliver (no
    ROUTER_MANDATORY), and ROUTER_HANDOVER lets a restarted actor take over
    its identity at once even before the old connection is cleaned up.
*/
#include "broker.h"

#include <jansson.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_log.h"

#define CW_BROKER_NAME_MAX 64
#define CW_BROKER_READY_MAX 64
#define CW_BROKER_QUEUE_MAX 10000
#define CW_BROKER_RETAINED_MAX 4096
#define CW_BROKER_BURST 512
#define CW_BROKER_MAX_MSG (16 * 1024 * 1024)

typedef struct s_queued {
    struct s_queued *next;
    char to [CW_BROKER_NAME_MAX];
    int64_t deadline;
    int timeout_ms;
    cw_envelope_t env;    //  strings owned
} s_queued_t;

typedef struct s_retained {
    struct s_retained *next;
    char *topic;
    char *from;
    char *body;
} s_retained_t;

//  The data.changed namespaces an actor asked for (READY's "data")
typedef struct s_wants {
    struct s_wants *next;
    char name [CW_BROKER_NAME_MAX];
    json_t *data;    //  array of namespaces ("ns" or "prefix.")
} s_wants_t;

struct _cw_broker_t {
    zsock_t *router;
    char *ipc_path;    //  socket file to remove on close
    zloop_t *loop;
    cw_broker_hooks_t hooks;
    int request_timeout_ms;
    char ready [CW_BROKER_READY_MAX][CW_BROKER_NAME_MAX];
    int ready_count;
    s_queued_t *queue_head;
    s_queued_t *queue_tail;
    size_t queued;
    s_retained_t *retained;
    size_t retained_count;
    s_wants_t *wants;    //  actors without an entry get every data.changed
    int64_t malformed_logged_at;
    uint64_t malformed_suppressed;
};

static void s_route (cw_broker_t *self, const cw_envelope_t *env);

// ---------------------------------------------------------------------------
//  Helpers

//  An actor name / routing identity: 1..63 of [A-Za-z0-9._-].
static bool
s_valid_name (const byte *data, size_t size)
{
    if (size == 0 || size >= CW_BROKER_NAME_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        byte c = data [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
            return false;
    }
    return true;
}

static void
s_malformed (cw_broker_t *self, const char *reason, const char *identity)
{
    //  At most one line a second, so garbage cannot flood the log
    int64_t now = zclock_mono ();
    if (now - self->malformed_logged_at >= 1000) {
        cw_warn ("malformed broker message dropped reason=\"%s\" identity=%s total=%llu suppressed=%llu", reason,
                 identity ? identity : "?", (unsigned long long) cw_envelope_malformed (),
                 (unsigned long long) self->malformed_suppressed);
        self->malformed_logged_at = now;
        self->malformed_suppressed = 0;
    }
    else
        self->malformed_suppressed++;
}

//  Send one envelope to routing identity NAME.
static void
s_send_to (cw_broker_t *self, const char *name, cw_msg_type_t type, uint64_t corr, const char *from, const char *to,
           const char *command, const char *body)
{
    zmsg_t *msg = cw_envelope_encode (type, corr, from, to, command, body);
    if (!msg)
        return;
    zmsg_pushstr (msg, name);
    if (zmsg_send (&msg, self->router)) {
        cw_debug ("send failed to=%s", name);
        zmsg_destroy (&msg);
    }
}

static void
s_send_env (cw_broker_t *self, const char *name, const cw_envelope_t *env)
{
    s_send_to (self, name, env->type, env->corr, env->from, env->to, env->command, env->body);
}

//  Answer REQUEST ENV with an error REPLY from "@supervisor".
static void s_error_reply (cw_broker_t *self, const cw_envelope_t *env, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error_reply (cw_broker_t *self, const cw_envelope_t *env, const char *fmt, ...)
{
    if (env->type != CW_MSG_REQUEST)
        return;
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    json_t *body = json_pack ("{s:s}", "error", message);
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    cw_envelope_t reply = { .type = CW_MSG_REPLY,
                            .corr = env->corr,
                            .from = "@supervisor",
                            .to = env->from,
                            .command = "error",
                            .body = text ? text : "{}" };
    cw_debug ("request not delivered to=%s command=%s from=%s reason=\"%s\"", env->to, env->command, env->from,
              message);
    s_route (self, &reply);
    free (text);
}

static int
s_ready_index (cw_broker_t *self, const char *name)
{
    for (int i = 0; i < self->ready_count; i++)
        if (strcmp (self->ready [i], name) == 0)
            return i;
    return -1;
}

bool
cw_broker_is_ready (cw_broker_t *self, const char *name)
{
    return s_ready_index (self, name) >= 0;
}

// ---------------------------------------------------------------------------
//  Queue and retained state

static void
s_queued_free (s_queued_t *item)
{
    cw_envelope_clear (&item->env);
    free (item);
}

static char *
s_strdup (const char *text)
{
    return strdup (text ? text : "");
}

static void
s_enqueue (cw_broker_t *self, const cw_envelope_t *env)
{
    if (self->queued >= CW_BROKER_QUEUE_MAX) {
        cw_warn ("broker queue full; message dropped to=%s command=%s", env->to, env->command);
        s_error_reply (self, env, "too many messages are waiting for actor '%s'", env->to);
        return;
    }
    s_queued_t *item = calloc (1, sizeof *item);
    if (!item)
        return;
    snprintf (item->to, sizeof item->to, "%s", env->to);
    item->timeout_ms = self->request_timeout_ms;
    item->deadline = zclock_mono () + self->request_timeout_ms;
    item->env.type = env->type;
    item->env.corr = env->corr;
    item->env.from = s_strdup (env->from);
    item->env.to = s_strdup (env->to);
    item->env.command = s_strdup (env->command);
    item->env.body = s_strdup (env->body);
    if (self->queue_tail)
        self->queue_tail->next = item;
    else
        self->queue_head = item;
    self->queue_tail = item;
    self->queued++;
}

//  Remove and return items matching NAME (NULL = expired by NOW) in order.
static s_queued_t *
s_dequeue (cw_broker_t *self, const char *name, int64_t now)
{
    s_queued_t *taken = NULL, *taken_tail = NULL;
    s_queued_t **link = &self->queue_head;
    s_queued_t *prev = NULL;
    while (*link) {
        s_queued_t *item = *link;
        bool take = name ? strcmp (item->to, name) == 0 : item->deadline <= now;
        if (take) {
            *link = item->next;
            if (self->queue_tail == item)
                self->queue_tail = prev;
            item->next = NULL;
            if (taken_tail)
                taken_tail->next = item;
            else
                taken = item;
            taken_tail = item;
            self->queued--;
        }
        else {
            prev = item;
            link = &item->next;
        }
    }
    return taken;
}

static void
s_retain (cw_broker_t *self, const cw_envelope_t *env)
{
    s_retained_t *entry = self->retained;
    while (entry && strcmp (entry->topic, env->command) != 0)
        entry = entry->next;
    if (!entry) {
        if (self->retained_count >= CW_BROKER_RETAINED_MAX) {
            cw_warn ("too many retained topics; not retained topic=%s", env->command);
            return;
        }
        entry = calloc (1, sizeof *entry);
        if (!entry)
            return;
        entry->topic = s_strdup (env->command);
        entry->next = self->retained;
        self->retained = entry;
        self->retained_count++;
    }
    free (entry->from);
    free (entry->body);
    entry->from = s_strdup (env->from);
    entry->body = s_strdup (env->body);
}

// ---------------------------------------------------------------------------
//  Routing

//  Whether actor NAME gets EVENT TOPIC: a data.changed.<ns> only when it
//  asked for ns (or did not say: a tool, the test probe)
static bool
s_wants (cw_broker_t *self, const char *name, const char *topic)
{
    if (strncmp (topic, "data.changed.", 13) != 0)
        return true;
    const char *ns = topic + 13;
    for (s_wants_t *entry = self->wants; entry; entry = entry->next) {
        if (strcmp (entry->name, name) != 0)
            continue;
        size_t i;
        json_t *item;
        json_array_foreach (entry->data, i, item) {
            const char *want = json_string_value (item);
            size_t len = want ? strlen (want) : 0;
            if (len && (strcmp (want, ns) == 0 || (want [len - 1] == '.' && strncmp (want, ns, len) == 0)))
                return true;
        }
        return false;
    }
    return true;
}

static void
s_broadcast (cw_broker_t *self, const cw_envelope_t *env)
{
    for (int i = 0; i < self->ready_count; i++)
        if (strcmp (self->ready [i], env->from) != 0 && s_wants (self, self->ready [i], env->command))
            s_send_env (self, self->ready [i], env);
}

void
cw_broker_actor_wants (cw_broker_t *self, const char *name, json_t *data)
{
    s_wants_t **link = &self->wants;
    while (*link && strcmp ((*link)->name, name) != 0)
        link = &(*link)->next;
    if (!*link && json_is_array (data)) {
        *link = calloc (1, sizeof (s_wants_t));
        if (!*link)
            return;
        snprintf ((*link)->name, sizeof (*link)->name, "%s", name);
    }
    if (!*link)
        return;
    if (json_is_array (data)) {
        json_decref ((*link)->data);
        (*link)->data = json_incref (data);
    }
    else {
        s_wants_t *gone = *link;
        *link = gone->next;
        json_decref (gone->data);
        free (gone);
    }
}

static void
s_to_actor (cw_broker_t *self, const cw_envelope_t *env)
{
    if (cw_broker_is_ready (self, env->to)) {
        s_send_env (self, env->to, env);
        return;
    }
    const char *state = self->hooks.actor_state (self->hooks.arg, env->to);
    if (!state) {
        if (env->type == CW_MSG_REQUEST)
            s_error_reply (self, env, "no actor named '%s'", env->to);
        else if (s_valid_name ((const byte *) env->to, strlen (env->to)))
            s_send_env (self, env->to, env);    //  a tool's own DEALER
        return;
    }
    if (self->hooks.actor_pending (self->hooks.arg, env->to))
        s_enqueue (self, env);
    else
        s_error_reply (self, env, "actor '%s' is not running (state %s)", env->to, state);
}

static void
s_route (cw_broker_t *self, const cw_envelope_t *env)
{
    if (env->type == CW_MSG_STATE) {
        s_retain (self, env);
        if (self->hooks.on_state)
            self->hooks.on_state (self->hooks.arg, env->command, env->body);
    }
    const char *to = env->to;
    if (*to == 0 || *to == '@') {
        if (env->type == CW_MSG_REQUEST && *to == 0)
            self->hooks.on_request (self->hooks.arg, env);
        else if (env->type == CW_MSG_REPLY)
            self->hooks.on_reply (self->hooks.arg, env);
        else if (env->type == CW_MSG_REQUEST)
            s_error_reply (self, env, "no destination '%s'", to);
        return;
    }
    if (strcmp (to, "*") == 0) {
        if (env->type == CW_MSG_EVENT || env->type == CW_MSG_STATE)
            s_broadcast (self, env);
        else
            s_error_reply (self, env, "a request needs one destination, not '*'");
        return;
    }
    s_to_actor (self, env);
}

void
cw_broker_deliver (cw_broker_t *self, cw_msg_type_t type, uint64_t corr, const char *from, const char *to,
                   const char *command, const char *body)
{
    cw_envelope_t env = { .type = type,
                          .corr = corr,
                          .from = (char *) (from ? from : ""),
                          .to = (char *) (to ? to : ""),
                          .command = (char *) (command ? command : ""),
                          .body = (char *) (body ? body : "") };
    s_route (self, &env);
}

// ---------------------------------------------------------------------------
//  The socket

static void
s_handle_message (cw_broker_t *self, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop (msg);
    if (!identity || !s_valid_name (zframe_data (identity), zframe_size (identity))) {
        cw_envelope_count_malformed ();
        s_malformed (self, "routing identity is not an actor name", NULL);
        zframe_destroy (&identity);
        return;
    }
    char name [CW_BROKER_NAME_MAX];
    memcpy (name, zframe_data (identity), zframe_size (identity));
    name [zframe_size (identity)] = 0;
    zframe_destroy (&identity);

    cw_envelope_t env;
    char err [128];
    if (cw_envelope_decode (msg, &env, err, sizeof err)) {
        s_malformed (self, err, name);
        return;
    }
    //  The identity is the sender: never trust the from frame
    free (env.from);
    env.from = strdup (name);
    if (!env.from) {
        cw_envelope_clear (&env);
        return;
    }
    if (self->hooks.on_alive)
        self->hooks.on_alive (self->hooks.arg, name);
    switch (env.type) {
        case CW_MSG_READY:
            self->hooks.on_ready (self->hooks.arg, name, env.body);
            break;
        case CW_MSG_HEARTBEAT:
            break;
        case CW_MSG_TERM:
            cw_debug ("TERM from an actor ignored from=%s", name);
            break;
        default:
            s_route (self, &env);
    }
    cw_envelope_clear (&env);
}

static int
s_on_router (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    cw_broker_t *self = arg;
    for (int i = 0; i < CW_BROKER_BURST && (zsock_events (reader) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        s_handle_message (self, msg);
        zmsg_destroy (&msg);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  Public

cw_broker_t *
cw_broker_new (const char *endpoint, zloop_t *loop, const cw_broker_hooks_t *hooks, char *err, size_t errlen)
{
    cw_broker_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->hooks = *hooks;
    self->loop = loop;
    self->request_timeout_ms = 5000;
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->router) {
        snprintf (err, errlen, "cannot create the broker socket");
        free (self);
        return NULL;
    }
    zsock_set_router_handover (self->router, 1);
    zsock_set_maxmsgsize (self->router, CW_BROKER_MAX_MSG);
    zsock_set_sndhwm (self->router, 10000);
    zsock_set_rcvhwm (self->router, 10000);
    zsock_set_linger (self->router, 0);
    if (zsock_bind (self->router, "%s", endpoint) < 0) {
        snprintf (err, errlen, "cannot bind the broker socket %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->router);
        free (self);
        return NULL;
    }
    if (strncmp (endpoint, "ipc://", 6) == 0) {
        self->ipc_path = strdup (endpoint + 6);
        if (chmod (endpoint + 6, 0600))
            cw_warn ("cannot chmod the broker socket path=%s", endpoint + 6);
    }
    zloop_reader (loop, self->router, s_on_router, self);
    cw_info ("broker listening endpoint=%s", endpoint);
    return self;
}

void
cw_broker_destroy (cw_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_broker_t *self = *self_p;
    if (self->loop)
        zloop_reader_end (self->loop, self->router);
    zsock_destroy (&self->router);
    if (self->ipc_path)
        unlink (self->ipc_path);
    free (self->ipc_path);
    while (self->queue_head) {
        s_queued_t *next = self->queue_head->next;
        s_queued_free (self->queue_head);
        self->queue_head = next;
    }
    while (self->retained) {
        s_retained_t *next = self->retained->next;
        free (self->retained->topic);
        free (self->retained->from);
        free (self->retained->body);
        free (self->retained);
        self->retained = next;
    }
    while (self->wants) {
        s_wants_t *next = self->wants->next;
        json_decref (self->wants->data);
        free (self->wants);
        self->wants = next;
    }
    free (self);
    *self_p = NULL;
}

void
cw_broker_set_request_timeout (cw_broker_t *self, int timeout_ms)
{
    self->request_timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
}

void
cw_broker_publish (cw_broker_t *self, const char *topic, json_t *body, const char *except)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    cw_envelope_t event = { .type = CW_MSG_EVENT,
                            .corr = 0,
                            .from = "@supervisor",
                            .to = "*",
                            .command = (char *) topic,
                            .body = text ? text : "{}" };
    for (int i = 0; i < self->ready_count; i++)
        if (!except || strcmp (self->ready [i], except) != 0)
            s_send_env (self, self->ready [i], &event);
    free (text);
}

void
cw_broker_actor_ready (cw_broker_t *self, const char *name, int pid)
{
    if (s_ready_index (self, name) < 0 && self->ready_count < CW_BROKER_READY_MAX)
        snprintf (self->ready [self->ready_count++], CW_BROKER_NAME_MAX, "%s", name);
    //  1. the present (retained STATE), 2. what waited, 3. tell the others
    for (s_retained_t *entry = self->retained; entry; entry = entry->next)
        if (strcmp (entry->from, name) != 0)
            s_send_to (self, name, CW_MSG_STATE, 0, entry->from, name, entry->topic, entry->body);
    s_queued_t *item = s_dequeue (self, name, 0);
    while (item) {
        s_queued_t *next = item->next;
        s_send_env (self, name, &item->env);
        s_queued_free (item);
        item = next;
    }
    cw_broker_publish (self, "actor.ready", json_pack ("{s:s, s:i}", "name", name, "pid", pid), name);
}

void
cw_broker_actor_down (cw_broker_t *self, const char *name, bool final)
{
    int index = s_ready_index (self, name);
    if (index >= 0) {
        self->ready_count--;
        if (index != self->ready_count)
            memcpy (self->ready [index], self->ready [self->ready_count], CW_BROKER_NAME_MAX);
    }
    if (!final)
        return;
    const char *state = self->hooks.actor_state (self->hooks.arg, name);
    s_queued_t *item = s_dequeue (self, name, 0);
    while (item) {
        s_queued_t *next = item->next;
        s_error_reply (self, &item->env, "actor '%s' is not running (state %s)", name, state ? state : "removed");
        s_queued_free (item);
        item = next;
    }
}

void
cw_broker_send_term (cw_broker_t *self, const char *name)
{
    s_send_to (self, name, CW_MSG_TERM, 0, "@supervisor", name, "", "");
}

void
cw_broker_tick (cw_broker_t *self, int64_t now)
{
    if (!self->queue_head)
        return;
    s_queued_t *item = s_dequeue (self, NULL, now);
    while (item) {
        s_queued_t *next = item->next;
        const char *state = self->hooks.actor_state (self->hooks.arg, item->to);
        s_error_reply (self, &item->env, "actor '%s' is not running (state %s); request timed out after %d ms",
                       item->to, state ? state : "removed", item->timeout_ms);
        s_queued_free (item);
        item = next;
    }
}

size_t
cw_broker_queued (cw_broker_t *self)
{
    return self->queued;
}
