/*  cw_actor.c - the actor runtime (see cw_actor.h).

    One DEALER socket to the supervisor's broker carries everything. The
    zloop has four readers/timers:
      - the broker socket: REQUEST -> the request handler -> REPLY;
        REPLY -> the matching pending request's callback (or the outbox);
        EVENT/STATE -> the event handler (actor.ready also triggers an
        outbox re-send); TERM -> orderly stop;
      - a signalfd for SIGTERM/SIGINT -> orderly stop;
      - the heartbeat timer: HEARTBEAT to the broker and the parent check;
      - a 100 ms housekeeping timer: request timeouts and outbox re-sends.
    A warm standby (CAUSEWAY_STANDBY_FD set by causewayd, see
    supervisor/child.h) stops in cw_actor_new after the bootstrap load and
    before it connects, until causewayd needs it (s_standby_wait).
    The outbox holds reliable requests until their destination answers
    "ok"; an error from the destination itself drops the entry (re-sending
    cannot help), an error from the broker (destination not running) keeps
    it for the next re-send.
    In external-loop mode (cw_actor_turn) the same four handlers run from
    one non-blocking pass: the signal descriptor is read, due timers are
    run from their next due times (kept on the monotonic clock), and the
    broker socket is drained while ZMQ_EVENTS says POLLIN.
*/
#include "cw_actor.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CW_OUTBOX_RESEND_MS 1000
#define CW_DEFAULT_REQUEST_TIMEOUT_MS 5000

typedef struct {
    uint64_t corr;
    cw_reply_fn *cb;
    void *arg;
    int64_t deadline;
} s_pending_t;

typedef struct {
    uint64_t corr;
    char *to;
    char *command;
    char *body;
    char *key;
    int64_t sent_at;
} s_outbox_entry_t;

//  One command table a module added, with the argument for its handlers.
typedef struct {
    const cw_command_t *commands;
    void *arg;
} s_table_t;

struct _cw_actor_t {
    char *name;
    cw_bootstrap_t *bootstrap;
    zsock_t *broker;
    zloop_t *loop;
    int heartbeat_ms;
    pid_t parent;
    int signal_fd;
    bool stopping;
    bool ready;
    uint64_t next_corr;
    zlistx_t *pending;    //  s_pending_t
    zlistx_t *outbox;     //  s_outbox_entry_t, in send order
    cw_request_fn *on_request;
    void *request_arg;
    s_table_t *tables;    //  command tables, in the order added
    size_t table_count;
    cw_guard_fn *on_guard;
    void *guard_arg;
    cw_event_fn *on_event;
    void *event_arg;
    char raw_prefix [128];    //  "" = no raw event handler
    cw_raw_event_fn *on_raw_event;
    void *raw_event_arg;
    void (*on_stop) (cw_actor_t *self, void *arg);
    void *stop_arg;
    bool stop_called;    //  on_stop has run
    //  External-loop mode (cw_actor_turn)
    bool in_turn;
    bool backlog;    //  a turn left broker messages waiting
    int64_t next_heartbeat;
    int64_t next_housekeeping;
    json_t *data_wanted;    //  namespaces of cluster-wide data whose data.changed it gets
};

// ---------------------------------------------------------------------------
//  Helpers

json_t *
cw_error_body (const char *fmt, ...)
{
    char message [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);
    return json_pack ("{s:s}", "error", message);
}

static char *
s_dump (json_t *body)
{
    return body ? json_dumps (body, JSON_COMPACT) : strdup ("{}");
}

static void
s_outbox_entry_destroy (s_outbox_entry_t **entry_p)
{
    s_outbox_entry_t *entry = *entry_p;
    if (!entry)
        return;
    free (entry->to);
    free (entry->command);
    free (entry->body);
    free (entry->key);
    free (entry);
    *entry_p = NULL;
}

static void
s_outbox_send (cw_actor_t *self, s_outbox_entry_t *entry)
{
    entry->sent_at = zclock_mono ();
    cw_envelope_send (self->broker, CW_MSG_REQUEST, entry->corr, self->name, entry->to, entry->command, entry->body);
}

//  Re-send outbox entries for TO (NULL = all) sent at least AGE_MS ago.
static void
s_outbox_resend (cw_actor_t *self, const char *to, int64_t age_ms)
{
    int64_t now = zclock_mono ();
    for (s_outbox_entry_t *entry = zlistx_first (self->outbox); entry; entry = zlistx_next (self->outbox))
        if ((!to || strcmp (entry->to, to) == 0) && now - entry->sent_at >= age_ms)
            s_outbox_send (self, entry);
}

//  Handle a REPLY for an outbox entry; returns true if it was one.
static bool
s_outbox_reply (cw_actor_t *self, const cw_envelope_t *reply)
{
    for (s_outbox_entry_t *entry = zlistx_first (self->outbox); entry; entry = zlistx_next (self->outbox)) {
        if (entry->corr != reply->corr)
            continue;
        bool ok = strcmp (reply->command, "ok") == 0;
        bool from_destination = strcmp (reply->from, entry->to) == 0;
        if (ok || from_destination) {
            if (!ok)
                cw_warn ("reliable request refused to=%s command=%s reply=%s", entry->to, entry->command, reply->body);
            void *handle = zlistx_cursor (self->outbox);
            zlistx_delete (self->outbox, handle);
            s_outbox_entry_destroy (&entry);
        }
        return true;
    }
    return false;
}

// ---------------------------------------------------------------------------
//  Incoming messages

static const cw_command_t *
s_command_find (cw_actor_t *self, const char *name, void **arg)
{
    for (size_t t = 0; t < self->table_count; t++)
        for (const cw_command_t *command = self->tables [t].commands; command->name; command++)
            if (strcasecmp (command->name, name) == 0) {
                if (arg)
                    *arg = self->tables [t].arg;
                return command;
            }
    return NULL;
}

static void
s_handle_request (cw_actor_t *self, const cw_envelope_t *req)
{
    json_error_t jerr;
    json_t *args = *req->body ? json_loads (req->body, 0, &jerr) : json_object ();
    json_t *reply = NULL;
    cw_reply_status_t status;
    if (!args || !json_is_object (args)) {
        reply = cw_error_body ("arguments of '%s' must be a JSON object", req->command);
        status = CW_REPLY_ERROR;
    }
    else {
        void *arg = NULL;
        const cw_command_t *command = s_command_find (self, req->command, &arg);
        if (command) {
            if ((command->flags & ~CW_CMD_IDEMPOTENT) && self->on_guard
                && !self->on_guard (self, command, &reply, self->guard_arg))
                status = CW_REPLY_ERROR;
            else {
                //  The handler sees the table's spelling of the name
                cw_envelope_t named = *req;
                named.command = (char *) command->name;
                status = command->handler (self, &named, args, &reply, arg);
            }
        }
        else if (self->on_request)
            status = self->on_request (self, req, args, &reply, self->request_arg);
        else {
            reply = cw_error_body ("unknown command '%.100s'", req->command);
            status = CW_REPLY_ERROR;
        }
    }
    json_decref (args);
    if (status == CW_REPLY_DEFERRED)
        return;
    if (!reply)
        reply = status == CW_REPLY_OK ? json_object () : cw_error_body ("request failed");
    cw_actor_reply (self, req->from, req->corr, status == CW_REPLY_OK, reply);
}

static void
s_handle_reply (cw_actor_t *self, const cw_envelope_t *reply)
{
    if (s_outbox_reply (self, reply))
        return;
    for (s_pending_t *pending = zlistx_first (self->pending); pending; pending = zlistx_next (self->pending)) {
        if (pending->corr != reply->corr)
            continue;
        s_pending_t copy = *pending;
        zlistx_delete (self->pending, zlistx_cursor (self->pending));
        free (pending);
        json_t *body = *reply->body ? json_loads (reply->body, 0, NULL) : json_object ();
        if (!body)
            body = cw_error_body ("malformed reply body");
        if (copy.cb)
            copy.cb (self, strcmp (reply->command, "ok") == 0, body, copy.arg);
        json_decref (body);
        return;
    }
    cw_debug ("reply for unknown request corr=%llu", (unsigned long long) reply->corr);
}

static void
s_handle_event (cw_actor_t *self, const cw_envelope_t *ev)
{
    if (self->on_raw_event && strncmp (ev->command, self->raw_prefix, strlen (self->raw_prefix)) == 0
        && self->on_raw_event (self, ev, self->raw_event_arg))
        return;
    json_t *body = *ev->body ? json_loads (ev->body, 0, NULL) : json_object ();
    if (!body) {
        cw_envelope_count_malformed ();
        cw_warn ("malformed event body dropped topic=%s from=%s", ev->command, ev->from);
        return;
    }
    if (strcmp (ev->command, "actor.ready") == 0) {
        const char *name = json_string_value (json_object_get (body, "name"));
        if (name)
            s_outbox_resend (self, name, 0);
    }
    if (self->on_event)
        self->on_event (self, ev, body, self->event_arg);
    json_decref (body);
}

//  Handle what waits on the broker socket, at most 10000 messages (so that
//  timers still run under a flood). Returns how many were read.
static int
s_broker_drain (cw_actor_t *self)
{
    int count;
    for (count = 0; count < 10000; count++) {
        zmsg_t *msg = cw_recv_nowait (self->broker);
        if (!msg)
            break;
        cw_envelope_t env;
        char err [128];
        if (cw_envelope_decode (msg, &env, err, sizeof err)) {
            cw_warn ("malformed message dropped reason=\"%s\" total=%llu", err,
                     (unsigned long long) cw_envelope_malformed ());
            zmsg_destroy (&msg);
            continue;
        }
        zmsg_destroy (&msg);
        switch (env.type) {
            case CW_MSG_REQUEST:
                s_handle_request (self, &env);
                break;
            case CW_MSG_REPLY:
                s_handle_reply (self, &env);
                break;
            case CW_MSG_EVENT:
            case CW_MSG_STATE:
                s_handle_event (self, &env);
                break;
            case CW_MSG_TERM:
                self->stopping = true;
                break;
            default:
                cw_debug ("ignored message type=%s", cw_msg_type_name (env.type));
        }
        cw_envelope_clear (&env);
        if (self->stopping) {
            cw_info ("stopping reason=TERM");
            break;
        }
    }
    return count;
}

static int
s_on_broker (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    cw_actor_t *self = arg;
    s_broker_drain (self);
    return self->stopping ? -1 : 0;
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    cw_actor_t *self = arg;
    struct signalfd_siginfo info;
    if (read (item->fd, &info, sizeof info) == (ssize_t) sizeof info)
        cw_info ("stopping reason=signal signal=%d", (int) info.ssi_signo);
    self->stopping = true;
    return -1;
}

static int
s_heartbeat (cw_actor_t *self)
{
    if (self->parent > 1 && getppid () != self->parent) {
        cw_warn ("parent process is gone; exiting");
        self->stopping = true;
        return -1;
    }
    if (self->ready)
        cw_envelope_send (self->broker, CW_MSG_HEARTBEAT, 0, self->name, "", "", "");
    return 0;
}

static int
s_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    return s_heartbeat ((cw_actor_t *) arg);
}

size_t
cw_actor_fail_requests (cw_actor_t *self, cw_reply_fn *cb, const char *reason)
{
    //  Taken out first: a callback may make new requests
    zlistx_t *failed = zlistx_new ();
    s_pending_t *pending = zlistx_first (self->pending);
    while (pending) {
        if (pending->cb == cb) {
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            zlistx_add_end (failed, pending);
            pending = zlistx_first (self->pending);
        }
        else
            pending = zlistx_next (self->pending);
    }
    size_t count = zlistx_size (failed);
    for (pending = zlistx_first (failed); pending; pending = zlistx_next (failed)) {
        json_t *body = cw_error_body ("%s", reason);
        pending->cb (self, false, body, pending->arg);
        json_decref (body);
        free (pending);
    }
    zlistx_destroy (&failed);
    return count;
}

//  Request timeouts and outbox re-sends.
static void
s_housekeeping (cw_actor_t *self)
{
    int64_t now = zclock_mono ();
    s_pending_t *pending = zlistx_first (self->pending);
    while (pending) {
        if (pending->deadline <= now) {
            s_pending_t copy = *pending;
            zlistx_delete (self->pending, zlistx_cursor (self->pending));
            free (pending);
            json_t *body = cw_error_body ("request timed out");
            if (copy.cb)
                copy.cb (self, false, body, copy.arg);
            json_decref (body);
            pending = zlistx_first (self->pending);
        }
        else
            pending = zlistx_next (self->pending);
    }
    s_outbox_resend (self, NULL, CW_OUTBOX_RESEND_MS);
}

static int
s_on_housekeeping (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_housekeeping ((cw_actor_t *) arg);
    return 0;
}

// ---------------------------------------------------------------------------
//  Construction

//  A warm standby: say we are waiting (one byte), then block until
//  causewayd sends one byte (go: continue as the active instance) or closes
//  its end (not needed: exit 0 quietly). SIGTERM/SIGINT are blocked by now
//  (ZeroMQ's threads exist), so they are watched through SIGNAL_FD: the
//  parent-death signal causewayd set before exec, or a plain kill, ends a
//  waiting standby at once; the death of causewayd also shows as EOF.
//  Returns 1 when told to go, 0 when not a standby, -1 on a bad variable.
static int
s_standby_wait (int signal_fd)
{
    const char *text = getenv ("CAUSEWAY_STANDBY_FD");
    if (!text)
        return 0;
    char copy [32];
    snprintf (copy, sizeof copy, "%s", text);
    unsetenv ("CAUSEWAY_STANDBY_FD");    //  not for our own children
    char *end = NULL;
    errno = 0;
    long fd = strtol (copy, &end, 10);
    if (errno || end == copy || *end || fd < 0 || fd > INT_MAX) {
        fprintf (stderr, "CAUSEWAY_STANDBY_FD must be a file descriptor number, not '%s'\n", copy);
        return -1;
    }
    char byte = 'w';
    if (send ((int) fd, &byte, 1, MSG_NOSIGNAL) != 1)
        cw_debug ("standby: cannot say it is waiting error=\"%s\"", strerror (errno));
    struct pollfd items [2] = { { (int) fd, POLLIN, 0 }, { signal_fd, POLLIN, 0 } };
    while (true) {
        int rc = poll (items, signal_fd >= 0 ? 2 : 1, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || (signal_fd >= 0 && items [1].revents))
            _exit (0);    //  told to end (or cannot wait)
        if (items [0].revents)
            break;
    }
    ssize_t rc;
    do
        rc = read ((int) fd, &byte, 1);
    while (rc < 0 && errno == EINTR);
    close ((int) fd);
    if (rc != 1)
        _exit (0);    //  not needed (or causewayd is gone)
    return 1;
}

static bool
s_same_file (const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
        && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

static void
s_usage (const char *program, const char *name)
{
    fprintf (stderr,
             "usage: %s --config FILE [--name NAME]\n"
             "Runs the Causeway '%s' actor; normally started by causewayd.\n",
             program, name);
}

cw_actor_t *
cw_actor_new (const char *default_name, int argc, char **argv)
{
    const char *config_file = CW_DEFAULT_CONFIG;
    const char *name = default_name;
    static const struct option options [] = { { "config", required_argument, NULL, 'c' },
                                              { "name", required_argument, NULL, 'n' },
                                              { "help", no_argument, NULL, 'h' },
                                              { NULL, 0, NULL, 0 } };
    optind = 1;
    int opt;
    while ((opt = getopt_long (argc, argv, "c:n:h", options, NULL)) != -1) {
        if (opt == 'c')
            config_file = optarg;
        else if (opt == 'n')
            name = optarg;
        else {
            s_usage (argv [0], default_name);
            return NULL;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "%s: unexpected argument '%s'\n", argv [0], argv [optind]);
        s_usage (argv [0], default_name);
        return NULL;
    }
    cw_log_init (name, CW_LOG_INFO);
    char err [1024];
    cw_bootstrap_t *bootstrap = cw_bootstrap_load (config_file, err, sizeof err, NULL, NULL);
    if (!bootstrap) {
        fprintf (stderr, "%s: %s\n", name, err);
        return NULL;
    }
    cw_log_set_level ((cw_log_level_t) cw_log_level_parse (bootstrap->node.log_level));

    //  Our own signal handling: CZMQ's handler must not swallow SIGTERM.
    //  Blocked before ZeroMQ starts its threads, so they inherit the mask.
    zsys_handler_set (NULL);
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    sigprocmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);

    cw_actor_t *self = calloc (1, sizeof *self);
    self->name = strdup (name);
    self->bootstrap = bootstrap;
    self->next_corr = 1;
    self->pending = zlistx_new ();
    self->outbox = zlistx_new ();
    self->parent = getppid ();
    //  Parent-death: the supervisor sets PDEATHSIG before exec; set it again
    //  for actors started some other way, then check we did not miss it.
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    self->signal_fd = signalfd (-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK);
    self->broker = zsock_new (ZMQ_DEALER);    //  starts ZeroMQ (zsys_init)
    if (self->broker) {
        zsock_set_identity (self->broker, self->name);
        zsock_set_sndhwm (self->broker, 100000);
        zsock_set_rcvhwm (self->broker, 100000);
        zsock_set_linger (self->broker, 1000);
    }
    self->loop = zloop_new ();

    //  A warm standby waits here, with everything but the connection done
    //  (tzset: the time zone file is read now, not by the first log line
    //  after the go). The bootstrap file may have changed while it waited
    //  (causewayd reloads on SIGHUP): read it again if so.
    tzset ();
    struct stat before, after;
    bool stat_ok = stat (bootstrap->file, &before) == 0;
    int standby = s_standby_wait (self->signal_fd);
    if (standby < 0) {
        cw_actor_destroy (&self);
        return NULL;
    }
    if (standby == 1 && (!stat_ok || stat (bootstrap->file, &after) || !s_same_file (&before, &after))) {
        cw_bootstrap_t *fresh = cw_bootstrap_load (config_file, err, sizeof err, NULL, NULL);
        if (fresh) {
            cw_bootstrap_destroy (&self->bootstrap);
            self->bootstrap = bootstrap = fresh;
            cw_log_set_level ((cw_log_level_t) cw_log_level_parse (bootstrap->node.log_level));
        }
        else
            cw_warn ("bootstrap file changed and cannot be read; keeping what was loaded error=\"%s\"", err);
    }

    const char *env_heartbeat = getenv ("CAUSEWAY_HEARTBEAT_MS");
    self->heartbeat_ms = env_heartbeat ? atoi (env_heartbeat) : bootstrap->supervisor.heartbeat_ms;
    if (self->heartbeat_ms < 10)
        self->heartbeat_ms = bootstrap->supervisor.heartbeat_ms;
    const char *endpoint = getenv ("CAUSEWAY_BROKER");
    if (!endpoint || !*endpoint)
        endpoint = bootstrap->control.broker_endpoint;
    if (!self->broker || !self->loop || zsock_connect (self->broker, "%s", endpoint) != 0) {
        fprintf (stderr, "%s: cannot connect to the broker at %s\n", name, endpoint);
        cw_actor_destroy (&self);
        return NULL;
    }
    zloop_reader (self->loop, self->broker, s_on_broker, self);
    zmq_pollitem_t item = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &item, s_on_signal, self);
    zloop_timer (self->loop, self->heartbeat_ms, 0, s_on_heartbeat, self);
    zloop_timer (self->loop, 100, 0, s_on_housekeeping, self);
    self->next_heartbeat = zclock_mono () + self->heartbeat_ms;
    self->next_housekeeping = zclock_mono () + 100;
    cw_debug ("connected broker=%s heartbeat_ms=%d%s", endpoint, self->heartbeat_ms,
              standby ? " standby=promoted" : "");
    return self;
}

void
cw_actor_destroy (cw_actor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_actor_t *self = *self_p;
    zloop_destroy (&self->loop);
    zsock_destroy (&self->broker);
    if (self->signal_fd > 0)
        close (self->signal_fd);
    for (s_pending_t *p = zlistx_first (self->pending); p; p = zlistx_next (self->pending))
        free (p);
    zlistx_destroy (&self->pending);
    for (s_outbox_entry_t *e = zlistx_first (self->outbox); e; e = zlistx_next (self->outbox))
        s_outbox_entry_destroy (&e);
    zlistx_destroy (&self->outbox);
    free (self->tables);
    json_decref (self->data_wanted);
    cw_bootstrap_destroy (&self->bootstrap);
    free (self->name);
    free (self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Accessors and handlers

const char *
cw_actor_name (cw_actor_t *self)
{
    return self->name;
}
const cw_bootstrap_t *
cw_actor_bootstrap (cw_actor_t *self)
{
    return self->bootstrap;
}
zloop_t *
cw_actor_loop (cw_actor_t *self)
{
    return self->loop;
}
size_t
cw_actor_outbox_size (cw_actor_t *self)
{
    return zlistx_size (self->outbox);
}

int
cw_actor_commands (cw_actor_t *self, const cw_command_t *table, void *arg)
{
    assert (table);
    for (const cw_command_t *command = table; command->name; command++)
        assert (!s_command_find (self, command->name, NULL));
    s_table_t *tables = realloc (self->tables, (self->table_count + 1) * sizeof *tables);
    if (!tables)
        return -1;
    self->tables = tables;
    self->tables [self->table_count++] = (s_table_t){ table, arg };
    return 0;
}

const cw_command_t *
cw_actor_command (cw_actor_t *self, const char *name)
{
    return s_command_find (self, name, NULL);
}

void
cw_actor_on_guard (cw_actor_t *self, cw_guard_fn *fn, void *arg)
{
    self->on_guard = fn;
    self->guard_arg = arg;
}

void
cw_actor_on_request (cw_actor_t *self, cw_request_fn *fn, void *arg)
{
    self->on_request = fn;
    self->request_arg = arg;
}

int
cw_actor_on_raw_event (cw_actor_t *self, const char *prefix, cw_raw_event_fn *fn, void *arg)
{
    if (!prefix || !*prefix || strlen (prefix) >= sizeof self->raw_prefix)
        return -1;
    snprintf (self->raw_prefix, sizeof self->raw_prefix, "%s", prefix);
    self->on_raw_event = fn;
    self->raw_event_arg = arg;
    return 0;
}

void
cw_actor_on_event (cw_actor_t *self, cw_event_fn *fn, void *arg)
{
    self->on_event = fn;
    self->event_arg = arg;
}

void
cw_actor_on_stop (cw_actor_t *self, void (*fn) (cw_actor_t *self, void *arg), void *arg)
{
    self->on_stop = fn;
    self->stop_arg = arg;
}

// ---------------------------------------------------------------------------
//  Running

int
cw_actor_want_data (cw_actor_t *self, const char *ns)
{
    if (!self || !ns || !*ns || self->ready)
        return -1;
    if (!self->data_wanted)
        self->data_wanted = json_array ();
    return json_array_append_new (self->data_wanted, json_string (ns));
}

int
cw_actor_ready (cw_actor_t *self)
{
    if (self->ready)
        return 0;
    //  READY carries the commands this actor serves, so causewayd routes
    //  them here and knows which it may deliver twice
    json_t *commands = json_array ();
    for (size_t t = 0; t < self->table_count; t++)
        for (const cw_command_t *command = self->tables [t].commands; command->name; command++)
            json_array_append_new (commands, json_pack ("{s:s, s:b}", "name", command->name, "idempotent",
                                                        (command->flags & CW_CMD_IDEMPOTENT) != 0));
    json_t *ready = json_pack ("{s:i, s:o, s:o}", "pid", (int) getpid (), "commands", commands, "data",
                               self->data_wanted ? json_incref (self->data_wanted) : json_array ());
    char *body = ready ? json_dumps (ready, JSON_COMPACT) : NULL;
    json_decref (ready);
    int rc = body ? cw_envelope_send (self->broker, CW_MSG_READY, 0, self->name, "", "", body) : -1;
    free (body);
    if (rc)
        return -1;
    self->ready = true;
    cw_info ("ready pid=%d", (int) getpid ());
    return 0;
}

int
cw_actor_run (cw_actor_t *self)
{
    if (self->parent > 1 && getppid () != self->parent)
        return 0;    //  the supervisor died before we got here
    while (!self->stopping) {
        if (zloop_start (self->loop) != 0 || zsys_interrupted)
            break;
        if (!self->stopping)
            break;    //  loop ended with nothing left to poll
    }
    if (self->on_stop && !self->stop_called) {
        self->stop_called = true;
        self->on_stop (self, self->stop_arg);
    }
    cw_info ("stopped");
    return 0;
}

// ---------------------------------------------------------------------------
//  External loop

int
cw_actor_fds (cw_actor_t *self, int *fds, int max)
{
    int count = 0;
    if (count < max)
        fds [count++] = zsock_fd (self->broker);
    if (count < max && self->signal_fd >= 0)
        fds [count++] = self->signal_fd;
    return count;
}

int
cw_actor_turn (cw_actor_t *self)
{
    if (self->in_turn)
        return self->stopping ? -1 : 0;
    self->in_turn = true;
    struct signalfd_siginfo info;
    if (self->signal_fd >= 0 && read (self->signal_fd, &info, sizeof info) == (ssize_t) sizeof info) {
        cw_info ("stopping reason=signal signal=%d", (int) info.ssi_signo);
        self->stopping = true;
    }
    int64_t now = zclock_mono ();
    if (!self->stopping && now >= self->next_heartbeat) {
        self->next_heartbeat = now + self->heartbeat_ms;
        s_heartbeat (self);
    }
    if (!self->stopping && now >= self->next_housekeeping) {
        self->next_housekeeping = now + 100;
        s_housekeeping (self);
    }
    //  ZMQ_EVENTS is asked again after every batch: the handlers' sends may
    //  have taken the descriptor's edge for messages that arrived meanwhile
    self->backlog = false;
    for (int batch = 0; !self->stopping && (zsock_events (self->broker) & ZMQ_POLLIN); batch++) {
        if (batch == 10) {
            self->backlog = true;    //  a flood: let the other loop breathe
            break;
        }
        s_broker_drain (self);
    }
    self->in_turn = false;
    if (!self->stopping)
        return 0;
    if (self->on_stop && !self->stop_called) {
        self->stop_called = true;
        self->on_stop (self, self->stop_arg);
    }
    return -1;
}

int
cw_actor_timeout (cw_actor_t *self)
{
    if (self->backlog || self->stopping)
        return 0;
    int64_t now = zclock_mono ();
    int64_t next = self->next_heartbeat < self->next_housekeeping ? self->next_heartbeat : self->next_housekeeping;
    return next <= now ? 0 : next - now > 100 ? 100 : (int) (next - now);
}

void
cw_actor_stop (cw_actor_t *self)
{
    self->stopping = true;
}

int
cw_actor_heartbeat (cw_actor_t *self)
{
    if (!self->ready)
        return 0;
    return cw_envelope_send (self->broker, CW_MSG_HEARTBEAT, 0, self->name, "", "", "");
}

// ---------------------------------------------------------------------------
//  Sending

int
cw_actor_reply (cw_actor_t *self, const char *to, uint64_t corr, bool ok, json_t *body)
{
    char *text = s_dump (body);
    json_decref (body);
    int rc = cw_envelope_send (self->broker, CW_MSG_REPLY, corr, self->name, to, ok ? "ok" : "error", text);
    free (text);
    return rc;
}

int
cw_actor_request (cw_actor_t *self, const char *to, const char *command, json_t *args, cw_reply_fn *cb, void *arg,
                  int timeout_ms)
{
    uint64_t corr = self->next_corr++;
    char *text = s_dump (args);
    json_decref (args);
    int rc = cw_envelope_send (self->broker, CW_MSG_REQUEST, corr, self->name, to, command, text);
    free (text);
    if (rc == 0 && cb) {
        s_pending_t *pending = calloc (1, sizeof *pending);
        pending->corr = corr;
        pending->cb = cb;
        pending->arg = arg;
        pending->deadline = zclock_mono () + (timeout_ms > 0 ? timeout_ms : CW_DEFAULT_REQUEST_TIMEOUT_MS);
        zlistx_add_end (self->pending, pending);
    }
    return rc;
}

int
cw_actor_request_reliable (cw_actor_t *self, const char *to, const char *command, json_t *args, const char *key)
{
    //  A newer request with the same key replaces an unacknowledged one
    if (key) {
        s_outbox_entry_t *entry = zlistx_first (self->outbox);
        while (entry) {
            if (entry->key && strcmp (entry->key, key) == 0 && strcmp (entry->to, to) == 0) {
                zlistx_delete (self->outbox, zlistx_cursor (self->outbox));
                s_outbox_entry_destroy (&entry);
                entry = zlistx_first (self->outbox);
            }
            else
                entry = zlistx_next (self->outbox);
        }
    }
    s_outbox_entry_t *entry = calloc (1, sizeof *entry);
    entry->corr = self->next_corr++;
    entry->to = strdup (to);
    entry->command = strdup (command);
    entry->body = s_dump (args);
    entry->key = key ? strdup (key) : NULL;
    json_decref (args);
    zlistx_add_end (self->outbox, entry);
    s_outbox_send (self, entry);
    return 0;
}

int
cw_actor_publish (cw_actor_t *self, const char *topic, json_t *body, bool retained)
{
    char *text = s_dump (body);
    json_decref (body);
    int rc = cw_envelope_send (self->broker, retained ? CW_MSG_STATE : CW_MSG_EVENT, 0, self->name, "*", topic, text);
    free (text);
    return rc;
}
