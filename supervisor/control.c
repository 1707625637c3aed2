/*  control.c - the control server (see control.h).

    A message on the ROUTER is: routing id, [empty delimiter from a REQ
    client], "CW1", command, JSON args. The reply mirrors the routing
    envelope, then "CW1", "ok"|"error", JSON body. Pending relayed requests
    are a small array scanned linearly (bounded by CW_CTL_PENDING_MAX).

    Routes are learned, not listed here: every actor's READY carries the
    commands it serves with their idempotent flag (its command tables,
    cw_actor.h), the supervisor hands them to cw_ctl_declare, and a request
    goes to the actor that declared its exact name (without regard to
    case). An actor's declaration replaces its previous one (the last READY
    wins) and stays while the actor restarts, so requests for a restarting
    actor are relayed and wait in the broker as before. Until every actor
    has declared once (cw_ctl_set_complete), a request for a name nobody
    declared yet is held in the pending table (so `config get` works while
    the node starts) and relayed when its actor declares it; once all have
    declared, held and new requests for undeclared names get "unknown
    command 'NAME'".

    At-least-once relay: when the actor that had a request in hand exits
    and is being restarted, a request for a command its actor declared
    idempotent is relayed once more under the same correlation id, to the
    restarted instance (the broker queues it until READY, at most
    request_timeout_ms; whichever answer comes first goes to the client).
    Any other request fails with "actor 'X' exited before it answered
    'cmd'", as does an idempotent one whose second delivery dies too or
    whose actor is not coming back.

    Control clients have names. Each ROUTER has a socket monitor: every
    accepted connection is entered in a table with an id (a counter shared
    by both sockets) and a duplicate of its descriptor (so that the socket
    can be examined after libzmq closed it). A request names its connection
    by the descriptor libzmq attaches to each message it read ("__fd"); the
    table turns that into "@control:<id>", the `from` of the relayed
    request. The first request of a connection binds its entry to the
    connection's routing id (libzmq never gives one twice on a socket), so
    a number taken over by a new connection is never mistaken for the old
    one: a request whose routing id is not bound yet makes us read the
    monitor first (its ACCEPTED event, and the DISCONNECTED of the one that
    had its number before, may still be queued). The socket is read before
    its monitor, so requests a closed connection left behind are mostly
    seen before a new connection can take its descriptor number. When the
    monitor reports a close (or the periodic check finds the descriptor
    gone), the CLIENT_CLOSED hook hears the name.

    Clients cannot stop causewayd. A connection over the cap (a share of the
    open-file limit, kept well below it: libzmq aborts when accept fails
    with EMFILE on an ipc socket) is shut down at once and counted as
    refused. A connection that does not finish its ZMTP/CURVE handshake
    within CW_CTL_HANDSHAKE_MS is closed by libzmq. Arguments over
    CW_CONTROL_MAX_REQUEST get an error reply; a frame over CW_CTL_MAX_FRAME
    makes libzmq close the connection before reading it, and when the
    monitor reports that close while the socket still holds unread bytes, it
    is counted as oversized too. Replies are sent without blocking on a
    ROUTER with ZMQ_ROUTER_MANDATORY, so a reply that does not fit the
    client's queue (CW_CTL_REPLY_QUEUE unread replies) is seen, counted as
    dropped and logged instead of vanishing; past CW_CTL_PENDING_MAX
    requests in flight (CW_CTL_CLIENT_PENDING_MAX from one client) a request
    is answered at once with "busy: ...".
*/
#include "control.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_control.h"
#include "cw_log.h"

#define CW_CTL_MAX_ARGS CW_CONTROL_MAX_REQUEST
#define CW_CTL_MAX_FRAME (4 * CW_CONTROL_MAX_REQUEST)    //  larger closes the connection unread
#define CW_CTL_COMMAND_MAX 128
#define CW_CTL_PENDING_MAX 4096           //  requests in flight to actors, all clients
#define CW_CTL_CLIENT_PENDING_MAX 1024    //  ... from one client
#define CW_CTL_REPLY_QUEUE 32768          //  replies a client may leave unread (SNDHWM)
#define CW_CTL_REQUEST_QUEUE 100          //  requests read ahead from one client (RCVHWM)
#define CW_CTL_HANDSHAKE_MS 5000
#define CW_CTL_CLIENTS_MAX 4096    //  connections on both control sockets together
#define CW_CTL_FD_RESERVE 256      //  descriptors kept for actors, the broker, files
#define CW_CTL_BURST 256
#define CW_CTL_ACTOR_MAX 64
#define CW_CTL_DECLARED_MAX 1024    //  commands one actor may declare
#define CW_CTL_CLIENT_MAX 32        //  "@control:<id>"

typedef struct {
    uint64_t corr;
    zsock_t *sock;                      //  where the client is (plain or CURVE)
    zframe_t *identity;                 //  owned
    bool delimiter;                     //  REQ client: add the empty frame
    bool direct;                        //  delivered to a ready actor (it is in hand)
    bool retried;                       //  relayed a second time already
    bool held;                          //  no actor declared the command yet
    char client [CW_CTL_CLIENT_MAX];    //  who sent it: "@control:<id>"
    char *body;                         //  arguments, kept for a retry (idempotent) or while held
    int64_t deadline;
    char actor [CW_CTL_ACTOR_MAX];
    char command [CW_CTL_COMMAND_MAX];
} s_pending_t;

//  The commands one actor declared in its last READY.
typedef struct {
    char name [CW_CTL_COMMAND_MAX];
    bool idempotent;
} s_route_t;

typedef struct {
    char actor [CW_CTL_ACTOR_MAX];
    s_route_t *routes;
    size_t count;
} s_declared_t;

//  One accepted connection on a control socket, as the monitor reported it.
typedef struct {
    int fd;          //  libzmq's descriptor
    int copy;        //  our duplicate, -1 if none (refused, or dup failed)
    bool refused;    //  over the cap: shut down by us
    uint64_t id;     //  the client's id, 0 when refused
    bool routed;     //  a request came: ROUTE is its connection's
    uint64_t route;  //  hash of the ROUTER's routing id of the connection
} s_conn_t;

//  A control ROUTER with its monitor and its connections.
typedef struct {
    cw_ctl_t *ctl;
    const char *name;    //  "plain" | "curve"
    zsock_t *sock;
    zsock_t *monitor;    //  PAIR receiving the socket's events
    s_conn_t *conns;
    size_t count;     //  entries, refused ones included
    size_t active;    //  entries not refused
    size_t capacity;
    size_t max;    //  active connections allowed
    //  Duplicates of closed connections whose unread bytes are looked at
    //  again at the next check (a frame over the limit: the client may
    //  still be sending when libzmq gives up on it)
    int closing [64];
    size_t closing_count;
} s_listener_t;

struct _cw_ctl_t {
    zloop_t *loop;
    cw_ctl_hooks_t hooks;
    zsock_t *plain;
    char *ipc_path;    //  socket file to remove on close
    zsock_t *curve;
    s_listener_t listeners [2];    //  plain, curve
    size_t clients_max;            //  both sockets together
    uint64_t last_client;          //  the last id given to a connection
    int64_t reconciled_at;
    uint64_t refused;
    uint64_t oversized;
    uint64_t busy;
    uint64_t dropped;
    int64_t abuse_logged_at;
    uint64_t abuse_suppressed;
    zactor_t *auth;
    int request_timeout_ms;
    uint64_t next_corr;
    s_pending_t *pending;
    size_t pending_count;
    size_t pending_capacity;
    uint64_t malformed;
    int64_t malformed_logged_at;
    uint64_t malformed_suppressed;
    s_declared_t *declared;    //  one per actor that sent READY, in order
    size_t declared_count;
    bool complete;    //  every actor has declared once
};

// ---------------------------------------------------------------------------
//  Replies

//  Log a client's misbehaviour at most once a second.
static void s_abuse (cw_ctl_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_abuse (cw_ctl_t *self, const char *fmt, ...)
{
    int64_t now = zclock_mono ();
    if (now - self->abuse_logged_at < 1000) {
        self->abuse_suppressed++;
        return;
    }
    char message [400];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    cw_warn ("%s refused=%llu oversized=%llu busy=%llu dropped=%llu suppressed=%llu", message,
             (unsigned long long) self->refused, (unsigned long long) self->oversized, (unsigned long long) self->busy,
             (unsigned long long) self->dropped, (unsigned long long) self->abuse_suppressed);
    self->abuse_logged_at = now;
    self->abuse_suppressed = 0;
}

//  Send the reply frames without blocking. A ROUTER_MANDATORY socket
//  refuses the first frame when the client's queue is full (EAGAIN: it
//  left CW_CTL_REPLY_QUEUE replies unread) or the client is gone
//  (EHOSTUNREACH); the rest of a message whose first frame went out is
//  always accepted.
static void
s_send_reply (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, bool ok, const char *body)
{
    void *handle = zsock_resolve (sock);
    const char *text = body && *body ? body : "{}";
    if (zmq_send (handle, zframe_data (identity), zframe_size (identity), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (zmq_errno () == EAGAIN) {
            self->dropped++;
            s_abuse (self, "control reply dropped: the client left %d replies unread", CW_CTL_REPLY_QUEUE);
        }
        else
            cw_debug ("control reply to a client that is gone: %s", zmq_strerror (zmq_errno ()));
        return;
    }
    if (delimiter)
        zmq_send (handle, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (handle, CW_CONTROL_SIGNATURE, strlen (CW_CONTROL_SIGNATURE), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    const char *status = ok ? "ok" : "error";
    zmq_send (handle, status, strlen (status), ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send (handle, text, strlen (text), ZMQ_DONTWAIT);
}

static void
s_send_json (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, bool ok, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    s_send_reply (self, sock, identity, delimiter, ok, text ? text : "{}");
    free (text);
}

static void s_send_error (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

static void
s_send_error (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, const char *fmt, ...)
{
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    json_t *body = json_pack ("{s:s}", "error", message);
    s_send_json (self, sock, identity, delimiter, false, body);
    json_decref (body);
}

static void
s_malformed (cw_ctl_t *self, const char *reason)
{
    self->malformed++;
    int64_t now = zclock_mono ();
    if (now - self->malformed_logged_at >= 1000) {
        cw_warn ("malformed control request reason=\"%s\" total=%llu suppressed=%llu", reason,
                 (unsigned long long) self->malformed, (unsigned long long) self->malformed_suppressed);
        self->malformed_logged_at = now;
        self->malformed_suppressed = 0;
    }
    else
        self->malformed_suppressed++;
}

static void s_conn_reconcile (s_listener_t *listener);
static void s_client_name (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, zframe_t *frame, char *name,
                           size_t size);

// ---------------------------------------------------------------------------
//  Pending relayed requests

static void
s_pending_remove (cw_ctl_t *self, size_t index)
{
    zframe_destroy (&self->pending [index].identity);
    free (self->pending [index].body);
    self->pending_count--;
    if (index != self->pending_count)
        self->pending [index] = self->pending [self->pending_count];
}

static s_pending_t *
s_pending_add (cw_ctl_t *self)
{
    if (self->pending_count == self->pending_capacity) {
        size_t capacity = self->pending_capacity ? self->pending_capacity * 2 : 16;
        s_pending_t *grown = realloc (self->pending, capacity * sizeof *grown);
        if (!grown)
            return NULL;
        self->pending = grown;
        self->pending_capacity = capacity;
    }
    s_pending_t *entry = &self->pending [self->pending_count++];
    memset (entry, 0, sizeof *entry);
    return entry;
}

//  Hand entry CORR to the relay hook. The hook may answer at once (broker
//  error) and so remove entries: the entry is looked up again after.
static void
s_relay_entry (cw_ctl_t *self, uint64_t corr, const char *actor, const char *command, const char *body)
{
    bool direct = self->hooks.relay (self->hooks.arg, actor, corr, command, body);
    for (size_t i = 0; i < self->pending_count; i++)
        if (self->pending [i].corr == corr)
            self->pending [i].direct = direct;
}

//  Relay COMMAND from CLIENT to ACTOR, or hold it when ACTOR is NULL (no
//  actor has declared it yet).
static void
s_relay (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, const char *client, const char *actor,
         bool idempotent, const char *command, const char *body)
{
    if (self->pending_count >= CW_CTL_PENDING_MAX) {
        self->busy++;
        s_send_error (self, sock, identity, delimiter,
                      "busy: %d requests are in flight on this node (the limit); try again", CW_CTL_PENDING_MAX);
        return;
    }
    if (self->pending_count >= CW_CTL_CLIENT_PENDING_MAX) {
        size_t mine = 0;
        for (size_t i = 0; i < self->pending_count; i++)
            if (self->pending [i].sock == sock && zframe_eq (self->pending [i].identity, identity))
                mine++;
        if (mine >= CW_CTL_CLIENT_PENDING_MAX) {
            self->busy++;
            s_send_error (self, sock, identity, delimiter,
                          "busy: this client has %d requests in flight (the limit); read the replies and try again",
                          CW_CTL_CLIENT_PENDING_MAX);
            return;
        }
    }
    s_pending_t *entry = s_pending_add (self);
    if (!entry) {
        s_send_error (self, sock, identity, delimiter, "out of memory");
        return;
    }
    uint64_t corr = ++self->next_corr;
    entry->corr = corr;
    entry->sock = sock;
    entry->identity = zframe_dup (identity);
    entry->delimiter = delimiter;
    snprintf (entry->client, sizeof entry->client, "%s", client);
    //  Time to wait for a restarting actor plus time to answer
    entry->deadline = zclock_mono () + 2 * (int64_t) self->request_timeout_ms;
    snprintf (entry->actor, sizeof entry->actor, "%s", actor ? actor : "");
    snprintf (entry->command, sizeof entry->command, "%s", command);
    if (!actor) {
        entry->held = true;
        entry->body = strdup (body);
        if (!entry->body) {
            s_pending_remove (self, self->pending_count - 1);
            s_send_error (self, sock, identity, delimiter, "out of memory");
        }
        return;
    }
    if (idempotent)
        entry->body = strdup (body);    //  NULL (no memory): no retry
    s_relay_entry (self, corr, actor, command, body);
}

bool
cw_ctl_is_client (const char *name)
{
    size_t length = strlen (CW_CTL_CLIENT);
    if (!name || strncmp (name, CW_CTL_CLIENT, length) != 0)
        return false;
    if (name [length] == 0)
        return true;
    if (name [length] != ':' || name [length + 1] == 0)
        return false;
    for (const char *c = name + length + 1; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    return true;
}

const char *
cw_ctl_request_client (cw_ctl_t *self, uint64_t corr)
{
    for (size_t i = 0; i < self->pending_count; i++)
        if (self->pending [i].corr == corr)
            return self->pending [i].client;
    return NULL;
}

void
cw_ctl_on_reply (cw_ctl_t *self, const cw_envelope_t *env)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        s_pending_t *entry = &self->pending [i];
        if (entry->corr != env->corr)
            continue;
        bool ok = strcmp (env->command, "ok") == 0;
        s_send_reply (self, entry->sock, entry->identity, entry->delimiter, ok, env->body);
        s_pending_remove (self, i);
        return;
    }
    cw_debug ("late or unknown control reply dropped corr=%llu from=%s", (unsigned long long) env->corr, env->from);
}

// ---------------------------------------------------------------------------
//  Routes learned from the actors

static s_declared_t *
s_declared (cw_ctl_t *self, const char *actor)
{
    for (size_t i = 0; i < self->declared_count; i++)
        if (strcmp (self->declared [i].actor, actor) == 0)
            return &self->declared [i];
    return NULL;
}

const char *
cw_ctl_route (cw_ctl_t *self, const char *command, bool *idempotent)
{
    for (size_t i = 0; i < self->declared_count; i++) {
        const s_declared_t *declared = &self->declared [i];
        for (size_t k = 0; k < declared->count; k++)
            if (strcasecmp (declared->routes [k].name, command) == 0) {
                if (idempotent)
                    *idempotent = declared->routes [k].idempotent;
                return declared->actor;
            }
    }
    return NULL;
}

bool
cw_ctl_declared (cw_ctl_t *self, const char *actor)
{
    return s_declared (self, actor) != NULL;
}

//  Relay the held requests that have a route now, one by one: the hook may
//  answer at once (and so change the table), so start over after each.
static void
s_release_held (cw_ctl_t *self)
{
    bool again = true;
    while (again) {
        again = false;
        for (size_t i = 0; i < self->pending_count; i++) {
            s_pending_t *entry = &self->pending [i];
            bool idempotent = false;
            const char *actor = entry->held ? cw_ctl_route (self, entry->command, &idempotent) : NULL;
            if (!actor)
                continue;
            entry->held = false;
            snprintf (entry->actor, sizeof entry->actor, "%s", actor);
            uint64_t corr = entry->corr;
            char *body = entry->body;
            entry->body = idempotent ? strdup (body) : NULL;
            char command [CW_CTL_COMMAND_MAX];
            snprintf (command, sizeof command, "%s", entry->command);
            cw_debug ("control: held request relayed actor=%s command=%s", actor, command);
            s_relay_entry (self, corr, actor, command, body);
            free (body);
            again = true;
            break;
        }
    }
}

//  Is NAME usable as a command name (what a client may send)?
static bool
s_valid_name (const char *name, size_t size)
{
    if (size == 0 || size >= CW_CTL_COMMAND_MAX)
        return false;
    for (size_t i = 0; i < size; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_'
              || c == '-'))
            return false;
    }
    return true;
}

int
cw_ctl_declare (cw_ctl_t *self, const char *actor, json_t *commands)
{
    if (strlen (actor) >= CW_CTL_ACTOR_MAX)
        return -1;
    size_t size = json_is_array (commands) ? json_array_size (commands) : 0;
    if (commands && !json_is_array (commands))
        cw_warn ("READY of an actor has no list of commands; it serves none actor=%s", actor);
    if (size > CW_CTL_DECLARED_MAX) {
        cw_warn ("actor declared too many commands; the first %d kept actor=%s count=%zu", CW_CTL_DECLARED_MAX, actor,
                 size);
        size = CW_CTL_DECLARED_MAX;
    }
    s_route_t *routes = calloc (size ? size : 1, sizeof *routes);
    if (!routes)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < size; i++) {
        json_t *item = json_array_get (commands, i);
        const char *name = json_string_value (json_object_get (item, "name"));
        json_t *idempotent = json_object_get (item, "idempotent");
        if (!name || !s_valid_name (name, strlen (name)) || (idempotent && !json_is_boolean (idempotent))) {
            cw_warn ("malformed command declaration skipped actor=%s index=%zu", actor, i);
            continue;
        }
        const char *owner = cw_ctl_route (self, name, NULL);
        if (owner && strcmp (owner, actor) != 0)
            cw_warn ("command declared by two actors; the first keeps it command=%s actor=%s "
                     "owner=%s",
                     name, actor, owner);
        snprintf (routes [count].name, sizeof routes [count].name, "%s", name);
        routes [count].idempotent = json_is_true (idempotent);
        count++;
    }
    s_declared_t *declared = s_declared (self, actor);
    if (!declared) {
        s_declared_t *grown = realloc (self->declared, (self->declared_count + 1) * sizeof *grown);
        if (!grown) {
            free (routes);
            return -1;
        }
        self->declared = grown;
        declared = &self->declared [self->declared_count++];
        memset (declared, 0, sizeof *declared);
        snprintf (declared->actor, sizeof declared->actor, "%s", actor);
    }
    free (declared->routes);
    declared->routes = routes;
    declared->count = count;
    cw_debug ("control: routes learned actor=%s commands=%zu", actor, count);
    s_release_held (self);
    return 0;
}

void
cw_ctl_forget (cw_ctl_t *self, const char *actor)
{
    s_declared_t *declared = s_declared (self, actor);
    if (!declared)
        return;
    free (declared->routes);
    size_t index = (size_t) (declared - self->declared);
    memmove (declared, declared + 1, (self->declared_count - index - 1) * sizeof *declared);
    self->declared_count--;
}

void
cw_ctl_set_complete (cw_ctl_t *self, bool complete)
{
    if (complete == self->complete)
        return;
    self->complete = complete;
    if (!complete)
        return;
    size_t i = 0;
    while (i < self->pending_count) {
        s_pending_t *entry = &self->pending [i];
        if (!entry->held) {
            i++;
            continue;
        }
        s_send_error (self, entry->sock, entry->identity, entry->delimiter, "unknown command '%s'", entry->command);
        s_pending_remove (self, i);
    }
}

void
cw_ctl_actor_ready (cw_ctl_t *self, const char *name)
{
    //  The broker has just delivered what was queued for NAME
    for (size_t i = 0; i < self->pending_count; i++)
        if (strcmp (self->pending [i].actor, name) == 0)
            self->pending [i].direct = true;
}

void
cw_ctl_actor_exited (cw_ctl_t *self, const char *name, bool restarting)
{
    size_t i = 0;
    while (i < self->pending_count) {
        s_pending_t *entry = &self->pending [i];
        if (!entry->direct || strcmp (entry->actor, name) != 0) {
            i++;
            continue;
        }
        if (restarting && entry->body && !entry->retried) {
            entry->retried = true;    //  relayed below
            entry->direct = false;
            i++;
            continue;
        }
        s_send_error (self, entry->sock, entry->identity, entry->delimiter, "actor '%s' exited before it answered '%s'",
                      name, entry->command);
        s_pending_remove (self, i);
    }
    //  Relay the retries one by one: the hook may answer at once (and so
    //  change the table), so start over after each
    bool again = true;
    while (again) {
        again = false;
        for (i = 0; i < self->pending_count; i++) {
            s_pending_t *entry = &self->pending [i];
            if (!entry->retried || !entry->body || strcmp (entry->actor, name) != 0)
                continue;
            cw_info ("control: request relayed again to the restarted actor actor=%s command=%s", name, entry->command);
            uint64_t corr = entry->corr;
            char *body = entry->body;
            entry->body = NULL;
            char command [CW_CTL_COMMAND_MAX];
            snprintf (command, sizeof command, "%s", entry->command);
            s_relay_entry (self, corr, name, command, body);
            free (body);
            again = true;
            break;
        }
    }
}

void
cw_ctl_tick (cw_ctl_t *self, int64_t now)
{
    if (now - self->reconciled_at >= 1000) {
        s_conn_reconcile (&self->listeners [0]);
        s_conn_reconcile (&self->listeners [1]);
        self->reconciled_at = now;
    }
    size_t i = 0;
    while (i < self->pending_count) {
        s_pending_t *entry = &self->pending [i];
        if (entry->deadline <= now && entry->held) {
            s_send_error (self, entry->sock, entry->identity, entry->delimiter,
                          "unknown command '%s' (no actor declared it within %d ms; "
                          "some actors are still starting)",
                          entry->command, 2 * self->request_timeout_ms);
            s_pending_remove (self, i);
        }
        else if (entry->deadline <= now) {
            s_send_error (self, entry->sock, entry->identity, entry->delimiter,
                          "actor '%s' did not answer '%s' within %d ms", entry->actor, entry->command,
                          2 * self->request_timeout_ms);
            s_pending_remove (self, i);
        }
        else
            i++;
    }
}

// ---------------------------------------------------------------------------
//  Requests

static bool
s_valid_command (zframe_t *frame)
{
    return s_valid_name ((const char *) zframe_data (frame), zframe_size (frame));
}

static void
s_handle (cw_ctl_t *self, zsock_t *sock, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop (msg);
    if (!identity)
        return;
    bool delimiter = false;
    zframe_t *first = zmsg_first (msg);
    if (first && zframe_size (first) == 0) {
        zframe_t *empty = zmsg_pop (msg);
        zframe_destroy (&empty);
        delimiter = true;
    }
    size_t frames = zmsg_size (msg);
    if (frames != 3) {
        s_malformed (self, "wrong number of frames");
        s_send_error (self, sock, identity, delimiter,
                      "malformed request: expected 3 frames (CW1, command, JSON arguments), got %zu", frames);
        zframe_destroy (&identity);
        return;
    }
    zframe_t *signature = zmsg_first (msg);
    zframe_t *command_frame = zmsg_next (msg);
    zframe_t *args_frame = zmsg_next (msg);
    if (!zframe_streq (signature, CW_CONTROL_SIGNATURE)) {
        s_malformed (self, "bad signature");
        s_send_error (self, sock, identity, delimiter, "malformed request: the first frame must be '%s'",
                      CW_CONTROL_SIGNATURE);
        zframe_destroy (&identity);
        return;
    }
    if (!s_valid_command (command_frame)) {
        s_malformed (self, "bad command name");
        s_send_error (self, sock, identity, delimiter,
                      "malformed request: the command name must be 1-127 characters of "
                      "letters, digits, '.', '_' or '-'");
        zframe_destroy (&identity);
        return;
    }
    char command [CW_CTL_COMMAND_MAX];
    memcpy (command, zframe_data (command_frame), zframe_size (command_frame));
    command [zframe_size (command_frame)] = 0;

    size_t args_size = zframe_size (args_frame);
    json_t *args = NULL;
    if (args_size > CW_CTL_MAX_ARGS) {
        self->oversized++;
        s_malformed (self, "arguments too large");
        s_send_error (self, sock, identity, delimiter,
                      "request too large: %zu bytes of arguments, larger than the limit of %d", args_size,
                      CW_CTL_MAX_ARGS);
        zframe_destroy (&identity);
        return;
    }
    if (args_size == 0)
        args = json_object ();
    else {
        json_error_t error;
        args = json_loadb ((const char *) zframe_data (args_frame), args_size, 0, &error);
        if (!args) {
            s_malformed (self, "arguments are not JSON");
            s_send_error (self, sock, identity, delimiter,
                          "malformed request: arguments are not valid JSON: %s (line %d, column %d)", error.text,
                          error.line, error.column);
            zframe_destroy (&identity);
            return;
        }
    }
    if (!json_is_object (args)) {
        s_malformed (self, "arguments are not an object");
        s_send_error (self, sock, identity, delimiter, "malformed request: arguments must be a JSON object");
        json_decref (args);
        zframe_destroy (&identity);
        return;
    }

    char client [CW_CTL_CLIENT_MAX];
    s_client_name (self, sock, identity, signature, client, sizeof client);
    bool ok = false;
    json_t *reply = NULL;
    if (self->hooks.local (self->hooks.arg, command, args, &ok, &reply)) {
        s_send_json (self, sock, identity, delimiter, ok, reply);
        json_decref (reply);
        if (self->hooks.after_reply)
            self->hooks.after_reply (self->hooks.arg);
    }
    else {
        bool idempotent = false;
        const char *actor = cw_ctl_route (self, command, &idempotent);
        if (!actor && self->complete)
            s_send_error (self, sock, identity, delimiter, "unknown command '%s'", command);
        else {
            //  Relayed, or held until an actor declares it
            char *body = json_dumps (args, JSON_COMPACT);
            s_relay (self, sock, identity, delimiter, client, actor, idempotent, command, body ? body : "{}");
            free (body);
        }
    }
    json_decref (args);
    zframe_destroy (&identity);
}

static int
s_on_socket (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    cw_ctl_t *self = arg;
    for (int i = 0; i < CW_CTL_BURST && (zsock_events (reader) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        s_handle (self, reader, msg);
        zmsg_destroy (&msg);
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  Connections, as the socket monitors report them

static s_conn_t *
s_conn_find (s_listener_t *listener, int fd)
{
    for (size_t i = 0; i < listener->count; i++)
        if (listener->conns [i].fd == fd)
            return &listener->conns [i];
    return NULL;
}

static void
s_conn_remove (s_listener_t *listener, s_conn_t *conn)
{
    if (conn->copy >= 0)
        close (conn->copy);
    if (!conn->refused)
        listener->active--;
    *conn = listener->conns [--listener->count];
}

static void s_conn_gone (s_listener_t *listener, s_conn_t *conn);

//  COPY (a closed connection's duplicate) holds unread bytes: count and
//  log an oversized frame; true if so
static bool
s_oversized (s_listener_t *listener, int copy)
{
    int unread = 0;
    if (ioctl (copy, FIONREAD, &unread) != 0 || unread <= 0)
        return false;
    listener->ctl->oversized++;
    s_abuse (listener->ctl, "control connection closed: a frame over %d bytes (or not ZMTP) socket=%s unread=%d",
             CW_CTL_MAX_FRAME, listener->name, unread);
    return true;
}

//  The second look at closed connections' duplicates, then close them
static void
s_closing_check (s_listener_t *listener)
{
    for (size_t i = 0; i < listener->closing_count; i++) {
        s_oversized (listener, listener->closing [i]);
        close (listener->closing [i]);
    }
    listener->closing_count = 0;
}

static void
s_conn_accepted (s_listener_t *listener, int fd)
{
    cw_ctl_t *self = listener->ctl;
    s_conn_t *stale = s_conn_find (listener, fd);
    if (stale)    //  libzmq closed it and the number came back
        s_conn_gone (listener, stale);
    if (listener->count == listener->capacity) {
        size_t capacity = listener->capacity ? listener->capacity * 2 : 64;
        s_conn_t *grown = realloc (listener->conns, capacity * sizeof *grown);
        if (!grown) {
            shutdown (fd, SHUT_RDWR);
            self->refused++;
            return;
        }
        listener->conns = grown;
        listener->capacity = capacity;
    }
    s_conn_t *conn = &listener->conns [listener->count++];
    conn->fd = fd;
    conn->copy = -1;
    conn->refused = false;
    conn->id = 0;
    conn->routed = false;
    size_t total = self->listeners [0].active + self->listeners [1].active;
    if (listener->active >= listener->max || total >= self->clients_max) {
        conn->refused = true;
        shutdown (fd, SHUT_RDWR);
        self->refused++;
        s_abuse (self, "control connection refused: too many clients socket=%s clients=%zu max=%zu", listener->name,
                 listener->active, listener->max);
        return;
    }
    conn->copy = fcntl (fd, F_DUPFD_CLOEXEC, 0);
    conn->id = ++self->last_client;
    listener->active++;
    cw_debug ("control client connected client=%s:%llu socket=%s fd=%d", CW_CTL_CLIENT, (unsigned long long) conn->id,
              listener->name, fd);
}

//  CONN was closed by libzmq: count it if it was over the size limit, say
//  that its client left, and forget it.
static void
s_conn_gone (s_listener_t *listener, s_conn_t *conn)
{
    cw_ctl_t *self = listener->ctl;
    char client [CW_CTL_CLIENT_MAX] = "";
    if (conn->id)
        snprintf (client, sizeof client, "%s:%llu", CW_CTL_CLIENT, (unsigned long long) conn->id);
    //  libzmq closed it with bytes still unread: it gave up on a frame
    //  over the size limit (or on bytes that are not ZMTP). None yet: the
    //  rest of such a frame may still be on its way, so the duplicate is
    //  looked at again at the next check (s_closing_check)
    size_t room = sizeof listener->closing / sizeof listener->closing [0];
    if (!conn->refused && conn->copy >= 0 && !s_oversized (listener, conn->copy)
        && listener->closing_count < room) {
        listener->closing [listener->closing_count++] = conn->copy;
        conn->copy = -1;    //  closed by s_closing_check
    }
    s_conn_remove (listener, conn);
    if (*client) {
        cw_debug ("control client gone client=%s socket=%s", client, listener->name);
        if (self->hooks.client_closed)
            self->hooks.client_closed (self->hooks.arg, client);
    }
}

static void
s_conn_closed (s_listener_t *listener, int fd)
{
    s_conn_t *conn = s_conn_find (listener, fd);
    if (conn)
        s_conn_gone (listener, conn);
}

//  Drop entries whose descriptor libzmq closed before its event came.
static void
s_conn_reconcile (s_listener_t *listener)
{
    s_closing_check (listener);
    size_t i = 0;
    while (i < listener->count) {
        s_conn_t *conn = &listener->conns [i];
        struct stat mine, theirs;
        bool gone = fstat (conn->fd, &theirs) != 0;
        if (!gone && conn->copy >= 0)
            gone = fstat (conn->copy, &mine) != 0 || mine.st_ino != theirs.st_ino;
        if (gone)
            s_conn_gone (listener, conn);
        else
            i++;
    }
}

static int
s_on_monitor (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    s_listener_t *listener = arg;
    for (int i = 0; i < 4 * CW_CTL_BURST && (zsock_events (reader) & ZMQ_POLLIN); i++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        zframe_t *frame = zmsg_first (msg);
        if (frame && zframe_size (frame) == 6) {
            uint16_t event;
            uint32_t value;
            memcpy (&event, zframe_data (frame), sizeof event);
            memcpy (&value, zframe_data (frame) + 2, sizeof value);
            if (event == ZMQ_EVENT_ACCEPTED)
                s_conn_accepted (listener, (int) value);
            else if (event == ZMQ_EVENT_DISCONNECTED)
                s_conn_closed (listener, (int) value);
            else if (event == ZMQ_EVENT_ACCEPT_FAILED)
                s_abuse (listener->ctl, "control accept failed socket=%s: %s", listener->name, strerror ((int) value));
        }
        zmsg_destroy (&msg);
    }
    return 0;
}

//  The ROUTER's routing id of a connection (IDENTITY), hashed: libzmq
//  gives each connection its own and never gives one again on the socket
static uint64_t
s_route (zframe_t *identity)
{
    uint64_t hash = 1469598103934665603ull;    //  FNV-1a
    for (size_t i = 0; i < zframe_size (identity); i++)
        hash = (hash ^ zframe_data (identity) [i]) * 1099511628211ull;
    return hash;
}

//  The name of the client that sent FRAME (with IDENTITY) on SOCK into
//  NAME. A descriptor number alone cannot tell a connection from the one
//  that had it before (its DISCONNECTED event may still be queued), so an
//  entry is bound to the routing id of the first request it names, and
//  the monitor's queued events are read before an entry is bound.
static void
s_client_name (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, zframe_t *frame, char *name, size_t size)
{
    snprintf (name, size, "%s", CW_CTL_CLIENT);
    s_listener_t *listener = sock == self->listeners [0].sock ? &self->listeners [0]
                           : sock == self->listeners [1].sock ? &self->listeners [1]
                                                              : NULL;
    const char *text = zframe_meta (frame, "__fd");
    char *end = NULL;
    long fd = text ? strtol (text, &end, 10) : -1;
    if (!listener || !text || end == text || *end || fd < 0 || fd > INT_MAX)
        return;    //  no descriptor (inproc)
    uint64_t route = s_route (identity);
    s_conn_t *conn = NULL;
    //  A connection named before: the same name, whatever its descriptor
    for (size_t i = 0; i < listener->count && !conn; i++)
        if (listener->conns [i].routed && listener->conns [i].route == route)
            conn = &listener->conns [i];
    if (!conn) {
        //  A new connection: its ACCEPTED event (and the DISCONNECTED of
        //  one that had its number before) may still be queued
        if (listener->monitor)
            s_on_monitor (self->loop, listener->monitor, listener);
        conn = s_conn_find (listener, (int) fd);
        if (conn && conn->routed)
            return;    //  the number is another live connection's: a request left by one that closed
        if (!conn) {
            //  Its events came and went (accepted, then closed) before
            //  its request was read: enter it, the periodic check ends it
            s_conn_accepted (listener, (int) fd);
            conn = s_conn_find (listener, (int) fd);
        }
        if (conn) {
            conn->routed = true;
            conn->route = route;
        }
    }
    if (conn && conn->id)
        snprintf (name, size, "%s:%llu", CW_CTL_CLIENT, (unsigned long long) conn->id);
}

static int
s_client_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

json_t *
cw_ctl_routes (cw_ctl_t *self, const char *const *local)
{
    json_t *routes = json_object ();
    for (int i = 0; local && local [i]; i++)
        json_object_set_new (routes, local [i], json_string (""));
    for (size_t i = 0; i < self->declared_count; i++)
        for (size_t k = 0; k < self->declared [i].count; k++)
            json_object_set_new (routes, self->declared [i].routes [k].name, json_string (self->declared [i].actor));
    return json_pack ("{s:o}", "routes", routes);
}

json_t *
cw_ctl_clients (cw_ctl_t *self)
{
    size_t count = self->listeners [0].count + self->listeners [1].count;
    uint64_t *ids = calloc (count ? count : 1, sizeof *ids);
    json_t *clients = json_array ();
    if (!ids || !clients) {
        free (ids);
        json_decref (clients);
        return NULL;
    }
    size_t used = 0;
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < self->listeners [l].count; i++)
            if (self->listeners [l].conns [i].id)
                ids [used++] = self->listeners [l].conns [i].id;
    qsort (ids, used, sizeof *ids, s_client_compare);
    for (size_t i = 0; i < used; i++) {
        char name [CW_CTL_CLIENT_MAX];
        snprintf (name, sizeof name, "%s:%llu", CW_CTL_CLIENT, (unsigned long long) ids [i]);
        json_array_append_new (clients, json_string (name));
    }
    free (ids);
    return json_pack ("{s:o}", "clients", clients);
}

//  Watch SOCK's connections; MAX of them may be open at once.
static int
s_listener_watch (cw_ctl_t *self, s_listener_t *listener, const char *name, zsock_t *sock, size_t max)
{
    listener->ctl = self;
    listener->name = name;
    listener->sock = sock;
    listener->max = max;
    char endpoint [80];
    snprintf (endpoint, sizeof endpoint, "inproc://causeway-control-monitor-%s-%p", name, (void *) listener);
    if (zmq_socket_monitor (zsock_resolve (sock), endpoint,
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_ACCEPT_FAILED))
        return -1;
    listener->monitor = zsock_new (ZMQ_PAIR);
    if (!listener->monitor)
        return -1;
    zsock_set_rcvhwm (listener->monitor, 0);    //  no event may be lost
    if (zsock_connect (listener->monitor, "%s", endpoint))
        return -1;
    zloop_reader (self->loop, listener->monitor, s_on_monitor, listener);
    return 0;
}

static void
s_listener_end (cw_ctl_t *self, s_listener_t *listener)
{
    if (listener->sock)
        zmq_socket_monitor (zsock_resolve (listener->sock), NULL, 0);
    if (listener->monitor) {
        zloop_reader_end (self->loop, listener->monitor);
        zsock_destroy (&listener->monitor);
    }
    while (listener->count)
        s_conn_remove (listener, &listener->conns [listener->count - 1]);
    for (size_t i = 0; i < listener->closing_count; i++)
        close (listener->closing [i]);
    free (listener->conns);
    memset (listener, 0, sizeof *listener);
}

// ---------------------------------------------------------------------------
//  Sockets

static zsock_t *
s_router (void)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (sock) {
        zsock_set_maxmsgsize (sock, CW_CTL_MAX_FRAME);
        zsock_set_linger (sock, 500);
        zsock_set_sndhwm (sock, CW_CTL_REPLY_QUEUE);
        zsock_set_rcvhwm (sock, CW_CTL_REQUEST_QUEUE);
        zsock_set_sndtimeo (sock, 0);
        zsock_set_router_mandatory (sock, 1);
        zsock_set_handshake_ivl (sock, CW_CTL_HANDSHAKE_MS);
        zsock_set_tcp_keepalive (sock, 1);
        zsock_set_tcp_keepalive_idle (sock, 60);
        zsock_set_tcp_keepalive_intvl (sock, 10);
        zsock_set_tcp_keepalive_cnt (sock, 3);
    }
    return sock;
}

//  How many clients the open-file limit leaves room for: each takes two
//  descriptors (libzmq's and the monitor's copy), and CW_CTL_FD_RESERVE
//  stay for the actors, the broker and files.
static size_t
s_clients_max (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) || limit.rlim_cur == RLIM_INFINITY)
        return CW_CTL_CLIENTS_MAX;
    rlim_t soft = limit.rlim_cur;
    size_t room = soft > 2 * CW_CTL_FD_RESERVE ? (size_t) (soft - CW_CTL_FD_RESERVE) / 2 : CW_CTL_FD_RESERVE / 4;
    return room < CW_CTL_CLIENTS_MAX ? room : CW_CTL_CLIENTS_MAX;
}

//  Load the server certificate or create it (public + _secret, 0600).
static zcert_t *
s_server_cert (const char *state_dir, char *err, size_t errlen)
{
    char path [PATH_MAX], secret [PATH_MAX + 8];
    snprintf (path, sizeof path, "%s/control-curve.cert", state_dir);
    snprintf (secret, sizeof secret, "%s_secret", path);
    zcert_t *cert = NULL;
    if (access (path, R_OK) == 0 && access (secret, R_OK) == 0)
        cert = zcert_load (path);
    if (!cert) {
        cert = zcert_new ();
        if (!cert) {
            snprintf (err, errlen, "cannot create a CURVE certificate");
            return NULL;
        }
        zcert_set_meta (cert, "name", "causewayd control");
        if (zcert_save (cert, path)) {
            snprintf (err, errlen, "cannot write the CURVE certificate %s: %s", path, strerror (errno));
            zcert_destroy (&cert);
            return NULL;
        }
        cw_info ("created CURVE server certificate path=%s", path);
    }
    chmod (secret, 0600);
    chmod (path, 0600);
    return cert;
}

static int
s_curve_setup (cw_ctl_t *self, const cw_bootstrap_t *boot, char *err, size_t errlen)
{
    const char *dir = boot->control.authorized_keys_dir;
    if (!dir || !*dir) {
        snprintf (err, errlen,
                  "%s: key 'control.curve_endpoint' needs "
                  "'control.authorized_keys_dir' (a folder of allowed client certificates)",
                  boot->file);
        return -1;
    }
    zcert_t *cert = s_server_cert (boot->node.state_dir, err, errlen);
    if (!cert)
        return -1;
    self->auth = zactor_new (zauth, NULL);
    if (!self->auth) {
        snprintf (err, errlen, "cannot start the ZAP authenticator");
        zcert_destroy (&cert);
        return -1;
    }
    zstr_sendx (self->auth, "CURVE", dir, NULL);
    zsock_wait (self->auth);
    self->curve = s_router ();
    if (!self->curve) {
        snprintf (err, errlen, "cannot create the CURVE control socket");
        zcert_destroy (&cert);
        return -1;
    }
    zcert_apply (cert, self->curve);
    zcert_destroy (&cert);
    zsock_set_curve_server (self->curve, 1);
    zsock_set_zap_domain (self->curve, "causeway");
    zloop_reader (self->loop, self->curve, s_on_socket, self);    //  before its monitor (see the top)
    //  Connections still in their handshake hold at most half the room
    if (s_listener_watch (self, &self->listeners [1], "curve", self->curve, self->clients_max / 2)) {
        snprintf (err, errlen, "cannot watch the CURVE control socket: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    if (zsock_bind (self->curve, "%s", boot->control.curve_endpoint) < 0) {
        snprintf (err, errlen, "cannot bind control.curve_endpoint %s: %s", boot->control.curve_endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    cw_info ("control listening endpoint=%s curve=yes authorized_keys_dir=%s", boot->control.curve_endpoint, dir);
    return 0;
}

cw_ctl_t *
cw_ctl_new (const cw_bootstrap_t *boot, zloop_t *loop, const cw_ctl_hooks_t *hooks, char *err, size_t errlen)
{
    cw_ctl_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->loop = loop;
    self->hooks = *hooks;
    self->request_timeout_ms = boot->supervisor.request_timeout_ms > 0 ? boot->supervisor.request_timeout_ms : 5000;
    self->clients_max = s_clients_max ();
    const char *endpoint = boot->control.endpoint;
    self->plain = s_router ();
    if (!self->plain) {
        snprintf (err, errlen, "cannot create the control socket");
        cw_ctl_destroy (&self);
        return NULL;
    }
    zloop_reader (loop, self->plain, s_on_socket, self);    //  before its monitor (see the top)
    if (s_listener_watch (self, &self->listeners [0], "plain", self->plain, self->clients_max)) {
        snprintf (err, errlen, "cannot watch the control socket: %s", zmq_strerror (zmq_errno ()));
        cw_ctl_destroy (&self);
        return NULL;
    }
    if (zsock_bind (self->plain, "%s", endpoint) < 0) {
        snprintf (err, errlen, "cannot bind control.endpoint %s: %s", endpoint, zmq_strerror (zmq_errno ()));
        cw_ctl_destroy (&self);
        return NULL;
    }
    //  Owner only, right after bind (umask 077 already makes it so)
    if (strncmp (endpoint, "ipc://", 6) == 0 && chmod (endpoint + 6, 0600)) {
        snprintf (err, errlen, "cannot chmod the control socket %s: %s", endpoint + 6, strerror (errno));
        cw_ctl_destroy (&self);
        return NULL;
    }
    if (strncmp (endpoint, "ipc://", 6) == 0)
        self->ipc_path = strdup (endpoint + 6);
    cw_info ("control listening endpoint=%s clients_max=%zu max_request=%d", endpoint, self->clients_max,
             CW_CONTROL_MAX_REQUEST);
    if (boot->control.curve_endpoint && *boot->control.curve_endpoint && s_curve_setup (self, boot, err, errlen)) {
        cw_ctl_destroy (&self);
        return NULL;
    }
    return self;
}

void
cw_ctl_destroy (cw_ctl_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_ctl_t *self = *self_p;
    s_listener_end (self, &self->listeners [0]);
    s_listener_end (self, &self->listeners [1]);
    if (self->plain) {
        zloop_reader_end (self->loop, self->plain);
        zsock_destroy (&self->plain);
    }
    if (self->ipc_path)
        unlink (self->ipc_path);
    free (self->ipc_path);
    if (self->curve) {
        zloop_reader_end (self->loop, self->curve);
        zsock_destroy (&self->curve);
    }
    zactor_destroy (&self->auth);
    while (self->pending_count)
        s_pending_remove (self, self->pending_count - 1);
    free (self->pending);
    for (size_t i = 0; i < self->declared_count; i++)
        free (self->declared [i].routes);
    free (self->declared);
    free (self);
    *self_p = NULL;
}

void
cw_ctl_set_request_timeout (cw_ctl_t *self, int timeout_ms)
{
    self->request_timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
}

uint64_t
cw_ctl_malformed (cw_ctl_t *self)
{
    return self->malformed;
}

json_t *
cw_ctl_stats (cw_ctl_t *self)
{
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "clients",
                      (json_int_t) (self->listeners [0].active + self->listeners [1].active), "clients_max",
                      (json_int_t) self->clients_max, "pending", (json_int_t) self->pending_count, "refused",
                      (json_int_t) self->refused, "oversized", (json_int_t) self->oversized, "busy",
                      (json_int_t) self->busy, "dropped", (json_int_t) self->dropped, "max_request",
                      (json_int_t) CW_CONTROL_MAX_REQUEST);
}
