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
*/
#include "control.h"

#include <stdarg.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_control.h"
#include "cw_log.h"

#define CW_CTL_MAX_ARGS (1024 * 1024)
#define CW_CTL_MAX_MSG (32 * 1024 * 1024)    //  larger is dropped by libzmq, unanswered
#define CW_CTL_COMMAND_MAX 128
#define CW_CTL_PENDING_MAX 4096
#define CW_CTL_BURST 256
#define CW_CTL_ACTOR_MAX 64
#define CW_CTL_DECLARED_MAX 1024    //  commands one actor may declare

typedef struct {
    uint64_t corr;
    zsock_t *sock;         //  where the client is (plain or CURVE)
    zframe_t *identity;    //  owned
    bool delimiter;        //  REQ client: add the empty frame
    bool direct;           //  delivered to a ready actor (it is in hand)
    bool retried;          //  relayed a second time already
    bool held;             //  no actor declared the command yet
    char *body;            //  arguments, kept for a retry (idempotent) or while held
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

struct _cw_ctl_t {
    zloop_t *loop;
    cw_ctl_hooks_t hooks;
    zsock_t *plain;
    char *ipc_path;    //  socket file to remove on close
    zsock_t *curve;
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

static void
s_send_reply (zsock_t *sock, zframe_t *identity, bool delimiter, bool ok, const char *body)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return;
    zframe_t *copy = zframe_dup (identity);
    zmsg_append (msg, &copy);
    if (delimiter)
        zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, CW_CONTROL_SIGNATURE);
    zmsg_addstr (msg, ok ? "ok" : "error");
    zmsg_addstr (msg, body && *body ? body : "{}");
    if (zmsg_send (&msg, sock))
        zmsg_destroy (&msg);
}

static void
s_send_json (zsock_t *sock, zframe_t *identity, bool delimiter, bool ok, json_t *body)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    s_send_reply (sock, identity, delimiter, ok, text ? text : "{}");
    free (text);
}

static void s_send_error (zsock_t *sock, zframe_t *identity, bool delimiter, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_send_error (zsock_t *sock, zframe_t *identity, bool delimiter, const char *fmt, ...)
{
    char message [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    json_t *body = json_pack ("{s:s}", "error", message);
    s_send_json (sock, identity, delimiter, false, body);
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

//  Relay COMMAND to ACTOR, or hold it when ACTOR is NULL (no actor has
//  declared it yet).
static void
s_relay (cw_ctl_t *self, zsock_t *sock, zframe_t *identity, bool delimiter, const char *actor, bool idempotent,
         const char *command, const char *body)
{
    if (self->pending_count >= CW_CTL_PENDING_MAX) {
        s_send_error (sock, identity, delimiter, "too many requests in flight; try again");
        return;
    }
    s_pending_t *entry = s_pending_add (self);
    if (!entry) {
        s_send_error (sock, identity, delimiter, "out of memory");
        return;
    }
    uint64_t corr = ++self->next_corr;
    entry->corr = corr;
    entry->sock = sock;
    entry->identity = zframe_dup (identity);
    entry->delimiter = delimiter;
    //  Time to wait for a restarting actor plus time to answer
    entry->deadline = zclock_mono () + 2 * (int64_t) self->request_timeout_ms;
    snprintf (entry->actor, sizeof entry->actor, "%s", actor ? actor : "");
    snprintf (entry->command, sizeof entry->command, "%s", command);
    if (!actor) {
        entry->held = true;
        entry->body = strdup (body);
        if (!entry->body) {
            s_pending_remove (self, self->pending_count - 1);
            s_send_error (sock, identity, delimiter, "out of memory");
        }
        return;
    }
    if (idempotent)
        entry->body = strdup (body);    //  NULL (no memory): no retry
    s_relay_entry (self, corr, actor, command, body);
}

void
cw_ctl_on_reply (cw_ctl_t *self, const cw_envelope_t *env)
{
    for (size_t i = 0; i < self->pending_count; i++) {
        s_pending_t *entry = &self->pending [i];
        if (entry->corr != env->corr)
            continue;
        bool ok = strcmp (env->command, "ok") == 0;
        s_send_reply (entry->sock, entry->identity, entry->delimiter, ok, env->body);
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
        s_send_error (entry->sock, entry->identity, entry->delimiter, "unknown command '%s'", entry->command);
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
        s_send_error (entry->sock, entry->identity, entry->delimiter, "actor '%s' exited before it answered '%s'", name,
                      entry->command);
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
    size_t i = 0;
    while (i < self->pending_count) {
        s_pending_t *entry = &self->pending [i];
        if (entry->deadline <= now && entry->held) {
            s_send_error (entry->sock, entry->identity, entry->delimiter,
                          "unknown command '%s' (no actor declared it within %d ms; "
                          "some actors are still starting)",
                          entry->command, 2 * self->request_timeout_ms);
            s_pending_remove (self, i);
        }
        else if (entry->deadline <= now) {
            s_send_error (entry->sock, entry->identity, entry->delimiter, "actor '%s' did not answer '%s' within %d ms",
                          entry->actor, entry->command, 2 * self->request_timeout_ms);
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
        s_send_error (sock, identity, delimiter,
                      "malformed request: expected 3 frames (CW1, command, JSON arguments), got %zu", frames);
        zframe_destroy (&identity);
        return;
    }
    zframe_t *signature = zmsg_first (msg);
    zframe_t *command_frame = zmsg_next (msg);
    zframe_t *args_frame = zmsg_next (msg);
    if (!zframe_streq (signature, CW_CONTROL_SIGNATURE)) {
        s_malformed (self, "bad signature");
        s_send_error (sock, identity, delimiter, "malformed request: the first frame must be '%s'",
                      CW_CONTROL_SIGNATURE);
        zframe_destroy (&identity);
        return;
    }
    if (!s_valid_command (command_frame)) {
        s_malformed (self, "bad command name");
        s_send_error (sock, identity, delimiter,
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
        s_malformed (self, "arguments too large");
        s_send_error (sock, identity, delimiter, "malformed request: arguments larger than %d bytes", CW_CTL_MAX_ARGS);
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
            s_send_error (sock, identity, delimiter,
                          "malformed request: arguments are not valid JSON: %s (line %d, column %d)", error.text,
                          error.line, error.column);
            zframe_destroy (&identity);
            return;
        }
    }
    if (!json_is_object (args)) {
        s_malformed (self, "arguments are not an object");
        s_send_error (sock, identity, delimiter, "malformed request: arguments must be a JSON object");
        json_decref (args);
        zframe_destroy (&identity);
        return;
    }

    bool ok = false;
    json_t *reply = NULL;
    if (self->hooks.local (self->hooks.arg, command, args, &ok, &reply)) {
        s_send_json (sock, identity, delimiter, ok, reply);
        json_decref (reply);
        if (self->hooks.after_reply)
            self->hooks.after_reply (self->hooks.arg);
    }
    else {
        bool idempotent = false;
        const char *actor = cw_ctl_route (self, command, &idempotent);
        if (!actor && self->complete)
            s_send_error (sock, identity, delimiter, "unknown command '%s'", command);
        else {
            //  Relayed, or held until an actor declares it
            char *body = json_dumps (args, JSON_COMPACT);
            s_relay (self, sock, identity, delimiter, actor, idempotent, command, body ? body : "{}");
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
//  Sockets

static zsock_t *
s_router (void)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    if (sock) {
        zsock_set_maxmsgsize (sock, CW_CTL_MAX_MSG);
        zsock_set_linger (sock, 500);
        zsock_set_sndhwm (sock, 10000);
        zsock_set_rcvhwm (sock, 10000);
    }
    return sock;
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
    if (zsock_bind (self->curve, "%s", boot->control.curve_endpoint) < 0) {
        snprintf (err, errlen, "cannot bind control.curve_endpoint %s: %s", boot->control.curve_endpoint,
                  zmq_strerror (zmq_errno ()));
        return -1;
    }
    zloop_reader (self->loop, self->curve, s_on_socket, self);
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
    const char *endpoint = boot->control.endpoint;
    self->plain = s_router ();
    if (!self->plain) {
        snprintf (err, errlen, "cannot create the control socket");
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
    zloop_reader (loop, self->plain, s_on_socket, self);
    cw_info ("control listening endpoint=%s", endpoint);
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
