/*  snmp.c - the tms actor's SNMP sub-agent (AgentX, net-snmp).

    What the MIB shows is kept as one sorted array of (OID, value) rows,
    rebuilt whenever the data changes (a refresh reply, the system name);
    the one handler registered for the causeway subtree answers GET with
    the row of that OID and GETNEXT with the first row after it (GETBULK
    arrives as GETNEXTs). The uptime row is computed when it is read.

    net-snmp is initialised once, the first time the mode is not off; its
    descriptors become zloop pollers and its next timeout a one-shot zloop
    timer, recomputed after every pass (see s_pump).
*/
#include "snmp.h"

#include <net-snmp/net-snmp-config.h>
#include <net-snmp/net-snmp-includes.h>
#include <net-snmp/agent/net-snmp-agent-includes.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cw_text.h"

//  The AgentX session to the master, net-snmp's own global (not in its
//  public headers): non-NULL while connected.
extern netsnmp_session *main_session;

#define S_REFRESH_MS 1000
#define S_MAX_FDS 16
#define S_MAX_ALARMS 4096

//  CAUSEWAY-MIB: enterprises.32473 (RFC 5612, the enterprise number for
//  documentation) .1 causewayMIB .1 causewayObjects
static const oid s_root [] = { 1, 3, 6, 1, 4, 1, 32473, 1, 1 };
#define S_ROOT_LEN (sizeof (s_root) / sizeof (s_root [0]))

typedef enum {
    S_ROW_TEXT,
    S_ROW_INT,
    S_ROW_UNSIGNED,
    S_ROW_UPTIME
} s_row_kind_t;

typedef struct {
    oid name [S_ROOT_LEN + 4];
    size_t len;
    s_row_kind_t kind;
    long number;
    char *text;    //  owned (TEXT)
} s_row_t;

typedef struct {
    char uuid [64];
    unsigned index;
} s_alarm_index_t;

struct _cw_snmp_t {
    cw_actor_t *actor;
    //  settings from the configuration
    char mode [8];    //  "off" | "v2c" | "v3"
    char community [256];
    char socket [256];
    char system_name [64];
    int apply_timer;    //  pending s_apply (one-shot), or -1
    //  net-snmp
    bool initialised;
    char initialised_socket [256];
    netsnmp_handler_registration *registration;    //  non-NULL while the MIB is registered
    bool connected;
    int pump_timer;
    int fds [S_MAX_FDS];
    int fd_count;
    //  the data
    int refresh_timer;
    bool alarms_pending, peers_pending, uptime_pending;
    bool have_uptime;
    long uptime_base_s;          //  causewayd's uptime_s when asked
    int64_t uptime_asked_ms;     //  zclock_mono at that moment
    json_t *alarms;              //  the last alarms.list array
    json_t *peers;               //  the last cluster.status peers array
    s_alarm_index_t *indexes;    //  alarm uuid -> row index, stable while it lasts
    size_t index_count;
    unsigned next_index;
    s_row_t *rows;
    size_t row_count;
};

static cw_snmp_t *s_self;    //  net-snmp's callbacks have no argument of ours: one sub-agent per process

static void s_pump (cw_snmp_t *self);

// ---------------------------------------------------------------------------
//  The rows

static void
s_rows_free (s_row_t *rows, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (rows [i].text);
    free (rows);
}

static s_row_t *
s_row_add (s_row_t **rows, size_t *count, size_t *size, const oid *suffix, size_t suffix_len)
{
    if (*count == *size) {
        size_t more = *size ? *size * 2 : 64;
        s_row_t *grown = realloc (*rows, more * sizeof (s_row_t));
        if (!grown)
            return NULL;
        *rows = grown;
        *size = more;
    }
    s_row_t *row = &(*rows) [(*count)++];
    memset (row, 0, sizeof *row);
    memcpy (row->name, s_root, sizeof s_root);
    memcpy (row->name + S_ROOT_LEN, suffix, suffix_len * sizeof (oid));
    row->len = S_ROOT_LEN + suffix_len;
    return row;
}

static void
s_row_text (s_row_t **rows, size_t *count, size_t *size, const oid *suffix, size_t suffix_len, const char *text)
{
    s_row_t *row = s_row_add (rows, count, size, suffix, suffix_len);
    if (row) {
        row->kind = S_ROW_TEXT;
        row->text = strdup (text ? text : "");
        //  CausewayText holds at most 255 bytes: cut there, not inside a UTF-8 sequence
        size_t len = row->text ? strlen (row->text) : 0;
        if (len > 255) {
            len = 255;
            while (len > 0 && ((unsigned char) row->text [len] & 0xC0) == 0x80)
                len--;
            row->text [len] = '\0';
        }
        if (!row->text)
            row->text = strdup ("");
    }
}

static void
s_row_number (s_row_t **rows, size_t *count, size_t *size, const oid *suffix, size_t suffix_len, s_row_kind_t kind,
              long number)
{
    s_row_t *row = s_row_add (rows, count, size, suffix, suffix_len);
    if (row) {
        row->kind = kind;
        row->number = number;
    }
}

static int
s_row_compare (const void *a, const void *b)
{
    const s_row_t *ra = a, *rb = b;
    return snmp_oid_compare (ra->name, ra->len, rb->name, rb->len);
}

static const char *
s_text (json_t *object, const char *field)
{
    const char *text = json_string_value (json_object_get (object, field));
    return text ? text : "";
}

static long
s_severity_code (const char *severity)
{
    static const char *const names [] = { "info", "warning", "error", "critical" };
    for (long i = 0; i < 4; i++)
        if (strcmp (severity, names [i]) == 0)
            return i + 1;
    return 0;
}

//  The row index of the alarm UUID: the one it had, else a new one.
//  SEEN marks the indexes still in use, so the others can be forgotten.
static unsigned
s_alarm_index (cw_snmp_t *self, const char *uuid, bool *seen)
{
    for (size_t i = 0; i < self->index_count; i++)
        if (strcmp (self->indexes [i].uuid, uuid) == 0) {
            seen [i] = true;
            return self->indexes [i].index;
        }
    s_alarm_index_t *grown = realloc (self->indexes, (self->index_count + 1) * sizeof (s_alarm_index_t));
    if (!grown)
        return 0;
    self->indexes = grown;
    s_alarm_index_t *entry = &self->indexes [self->index_count];
    cw_copy (entry->uuid, sizeof entry->uuid, uuid);
    if (self->next_index == 0 || self->next_index >= 0x7fffffffu)
        self->next_index = 1;
    entry->index = self->next_index++;
    seen [self->index_count++] = true;
    return entry->index;
}

static void
s_rebuild (cw_snmp_t *self)
{
    s_row_t *rows = NULL;
    size_t count = 0, size = 0;
    //  causewaySystem
    s_row_text (&rows, &count, &size, (oid []){ 1, 1, 0 }, 3, self->system_name);
    s_row_number (&rows, &count, &size, (oid []){ 1, 2, 0 }, 3, S_ROW_UPTIME, 0);
    //  causewayAlarmTable .2 .1 (entry) .column .index
    size_t alarm_count = json_array_size (self->alarms);
    if (alarm_count > S_MAX_ALARMS)
        alarm_count = S_MAX_ALARMS;
    bool *seen = calloc (self->index_count + alarm_count + 1, sizeof (bool));
    if (!seen) {
        s_rows_free (rows, count);
        return;
    }
    for (size_t i = 0; i < alarm_count; i++) {
        json_t *alarm = json_array_get (self->alarms, i);
        const char *uuid = s_text (alarm, "uuid");
        const char *state = s_text (alarm, "state");
        long state_code = strcmp (state, "raised") == 0 ? 1 : strcmp (state, "acknowledged") == 0 ? 2 : 0;
        if (!*uuid || state_code == 0)
            continue;
        oid index = s_alarm_index (self, uuid, seen);
        if (index == 0)
            continue;
        s_row_number (&rows, &count, &size, (oid []){ 2, 1, 2, index }, 4, S_ROW_UNSIGNED,
                      (long) json_integer_value (json_object_get (alarm, "id")));
        s_row_text (&rows, &count, &size, (oid []){ 2, 1, 3, index }, 4, uuid);
        s_row_number (&rows, &count, &size, (oid []){ 2, 1, 4, index }, 4, S_ROW_INT,
                      s_severity_code (s_text (alarm, "severity")));
        s_row_text (&rows, &count, &size, (oid []){ 2, 1, 5, index }, 4, s_text (alarm, "title"));
        s_row_text (&rows, &count, &size, (oid []){ 2, 1, 6, index }, 4, s_text (alarm, "detail"));
        s_row_number (&rows, &count, &size, (oid []){ 2, 1, 7, index }, 4, S_ROW_INT, state_code);
        s_row_text (&rows, &count, &size, (oid []){ 2, 1, 8, index }, 4, s_text (alarm, "peer"));
        s_row_text (&rows, &count, &size, (oid []){ 2, 1, 9, index }, 4, s_text (alarm, "raised_at"));
    }
    //  forget the indexes of alarms that are gone
    size_t kept = 0;
    for (size_t i = 0; i < self->index_count; i++)
        if (seen [i])
            self->indexes [kept++] = self->indexes [i];
    self->index_count = kept;
    free (seen);
    //  causewayPeerTable .3 .1 (entry) .column .index
    size_t index;
    json_t *peer;
    json_array_foreach (self->peers, index, peer) {
        json_int_t number = json_integer_value (json_object_get (peer, "index"));
        if (number < 1 || number > 6)
            continue;
        oid i = (oid) number;
        json_t *rtt = json_object_get (peer, "rtt_ms");
        json_t *lag = json_object_get (peer, "lag");
        s_row_text (&rows, &count, &size, (oid []){ 3, 1, 2, i }, 4, s_text (peer, "address"));
        s_row_text (&rows, &count, &size, (oid []){ 3, 1, 3, i }, 4, s_text (peer, "system_name"));
        s_row_text (&rows, &count, &size, (oid []){ 3, 1, 4, i }, 4, s_text (peer, "state"));
        s_row_number (&rows, &count, &size, (oid []){ 3, 1, 5, i }, 4, S_ROW_INT,
                      json_is_number (rtt) ? (long) (json_number_value (rtt) + 0.5) : -1);
        s_row_number (&rows, &count, &size, (oid []){ 3, 1, 6, i }, 4, S_ROW_INT,
                      json_is_integer (lag) ? (long) json_integer_value (lag) : -1);
    }
    qsort (rows, count, sizeof (s_row_t), s_row_compare);
    s_rows_free (self->rows, self->row_count);
    self->rows = rows;
    self->row_count = count;
}

// ---------------------------------------------------------------------------
//  The handler

//  The first row at NAME (EXACT) or after it, or NULL.
static const s_row_t *
s_row_find (cw_snmp_t *self, const oid *name, size_t len, bool exact)
{
    size_t lo = 0, hi = self->row_count;
    while (lo < hi) {    //  first row >= NAME
        size_t mid = (lo + hi) / 2;
        if (snmp_oid_compare (self->rows [mid].name, self->rows [mid].len, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == self->row_count)
        return NULL;
    int cmp = snmp_oid_compare (self->rows [lo].name, self->rows [lo].len, name, len);
    if (exact)
        return cmp == 0 ? &self->rows [lo] : NULL;
    if (cmp == 0)
        lo++;
    return lo < self->row_count ? &self->rows [lo] : NULL;
}

static void
s_row_set (cw_snmp_t *self, const s_row_t *row, netsnmp_variable_list *vb)
{
    switch (row->kind) {
        case S_ROW_TEXT:
            snmp_set_var_typed_value (vb, ASN_OCTET_STR, row->text ? row->text : "",
                                      row->text ? strlen (row->text) : 0);
            break;
        case S_ROW_INT: {
            long value = row->number;
            snmp_set_var_typed_value (vb, ASN_INTEGER, &value, sizeof value);
            break;
        }
        case S_ROW_UNSIGNED: {
            u_long value = (u_long) row->number;
            snmp_set_var_typed_value (vb, ASN_UNSIGNED, &value, sizeof value);
            break;
        }
        case S_ROW_UPTIME: {
            u_long ticks = 0;
            if (self->have_uptime)
                ticks = (u_long) (self->uptime_base_s * 100 + (zclock_mono () - self->uptime_asked_ms) / 10);
            ticks &= 0xffffffffu;
            snmp_set_var_typed_value (vb, ASN_TIMETICKS, &ticks, sizeof ticks);
            break;
        }
    }
}

static int
s_handler (netsnmp_mib_handler *handler, netsnmp_handler_registration *reginfo, netsnmp_agent_request_info *reqinfo,
           netsnmp_request_info *requests)
{
    (void) reginfo;
    cw_snmp_t *self = handler->myvoid;
    for (netsnmp_request_info *request = requests; request; request = request->next) {
        if (request->processed)
            continue;
        netsnmp_variable_list *vb = request->requestvb;
        if (reqinfo->mode == MODE_GET) {
            const s_row_t *row = s_row_find (self, vb->name, vb->name_length, true);
            if (row)
                s_row_set (self, row, vb);
            else
                netsnmp_set_request_error (reqinfo, request, SNMP_NOSUCHINSTANCE);
        }
        else if (reqinfo->mode == MODE_GETNEXT) {
            const s_row_t *row = s_row_find (self, vb->name, vb->name_length, false);
            if (row) {
                snmp_set_var_objid (vb, row->name, row->len);
                s_row_set (self, row, vb);
            }
        }
        else
            netsnmp_set_request_error (reqinfo, request, SNMP_ERR_NOTWRITABLE);
    }
    return SNMP_ERR_NOERROR;
}

// ---------------------------------------------------------------------------
//  net-snmp in the zloop

static int
s_net_snmp_log (int major, int minor, void *serverarg, void *clientarg)
{
    (void) major;
    (void) minor;
    (void) clientarg;
    struct snmp_log_message *message = serverarg;
    if (message && message->msg) {
        char line [512];
        cw_copy (line, sizeof line, message->msg);
        size_t len = strlen (line);
        while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
            line [--len] = '\0';
        cw_debug ("net-snmp: %s", line);
    }
    return SNMP_ERR_NOERROR;
}

static int
s_on_pump_event (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    s_pump ((cw_snmp_t *) arg);
    return 0;
}

static int
s_on_pump_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_snmp_t *self = arg;
    self->pump_timer = -1;
    s_pump (self);
    return 0;
}

//  One pass of net-snmp (read what is ready, run due timers and alarms),
//  then watch the descriptors it uses now and wake at its next timeout.
static void
s_pump (cw_snmp_t *self)
{
    if (!self->initialised)
        return;
    agent_check_and_process (0);
    bool connected = main_session != NULL;
    if (connected != self->connected) {
        self->connected = connected;
        if (connected)
            cw_info ("snmp: connected to the AgentX master at %s", self->initialised_socket);
        else
            cw_warn ("snmp: no AgentX master at %s; trying again every second", self->initialised_socket);
    }
    zloop_t *loop = cw_actor_loop (self->actor);
    int numfds = 0, block = 1;
    fd_set readfds;
    FD_ZERO (&readfds);
    struct timeval timeout = { 1, 0 };
    snmp_select_info (&numfds, &readfds, &timeout, &block);
    int fds [S_MAX_FDS];
    int fd_count = 0;
    for (int fd = 0; fd < numfds && fd_count < S_MAX_FDS; fd++)
        if (FD_ISSET (fd, &readfds))
            fds [fd_count++] = fd;
    //  pollers: drop those no longer used, add the new ones
    for (int i = 0; i < self->fd_count; i++) {
        bool kept = false;
        for (int j = 0; j < fd_count; j++)
            kept |= fds [j] == self->fds [i];
        if (!kept) {
            zmq_pollitem_t item = { NULL, self->fds [i], ZMQ_POLLIN, 0 };
            zloop_poller_end (loop, &item);
        }
    }
    for (int j = 0; j < fd_count; j++) {
        bool had = false;
        for (int i = 0; i < self->fd_count; i++)
            had |= fds [j] == self->fds [i];
        if (!had) {
            zmq_pollitem_t item = { NULL, fds [j], ZMQ_POLLIN, 0 };
            zloop_poller (loop, &item, s_on_pump_event, self);
        }
    }
    memcpy (self->fds, fds, sizeof (int) * (size_t) fd_count);
    self->fd_count = fd_count;
    //  the next timeout (at most a second: reconnection and pings)
    long ms = block ? 1000 : (long) timeout.tv_sec * 1000 + timeout.tv_usec / 1000 + 1;
    if (ms > 1000)
        ms = 1000;
    if (self->pump_timer != -1)
        zloop_timer_end (loop, self->pump_timer);
    self->pump_timer = zloop_timer (loop, (size_t) (ms < 1 ? 1 : ms), 1, s_on_pump_timer, self);
}

static void
s_net_snmp_start (cw_snmp_t *self)
{
    netsnmp_ds_set_boolean (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_READ_CONFIGS, 1);
    netsnmp_ds_set_boolean (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_ALARM_DONT_USE_SIG, 1);
    netsnmp_ds_set_boolean (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DONT_PERSIST_STATE, 1);
    netsnmp_ds_set_boolean (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_LOAD, 1);
    netsnmp_ds_set_boolean (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_DISABLE_PERSISTENT_SAVE, 1);
    netsnmp_ds_set_string (NETSNMP_DS_LIBRARY_ID, NETSNMP_DS_LIB_PERSISTENT_DIR,
                           cw_actor_bootstrap (self->actor)->node.runtime_dir);
    netsnmp_ds_set_boolean (NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_ROLE, 1);
    netsnmp_ds_set_boolean (NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_NO_ROOT_ACCESS, 1);
    netsnmp_ds_set_string (NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_X_SOCKET, self->socket);
    //  the sub-agent parses no MIB text: its OIDs are numbers
    setenv ("MIBS", "", 1);
    snmp_disable_log ();
    snmp_register_callback (SNMP_CALLBACK_LIBRARY, SNMP_CALLBACK_LOGGING, s_net_snmp_log, NULL);
    snmp_enable_calllog ();
    init_agent ("causeway");
    //  after init_agent, which sets its own default (15 s)
    netsnmp_ds_set_int (NETSNMP_DS_APPLICATION_ID, NETSNMP_DS_AGENT_AGENTX_PING_INTERVAL, 1);
    init_snmp ("causeway");
    self->initialised = true;
    cw_copy (self->initialised_socket, sizeof self->initialised_socket, self->socket);
    self->connected = main_session != NULL;
    if (self->connected)
        cw_info ("snmp: connected to the AgentX master at %s", self->socket);
    else
        cw_warn ("snmp: no AgentX master at %s; trying again every second", self->socket);
}

// ---------------------------------------------------------------------------
//  The community file for snmpd

static void
s_community_path (cw_snmp_t *self, char *path, size_t size)
{
    snprintf (path, size, "%s/snmpd.conf", cw_actor_bootstrap (self->actor)->node.runtime_dir);
}

//  Write (v2c, v3) or remove (off) <runtime_dir>/snmpd.conf.
static void
s_write_community_file (cw_snmp_t *self)
{
    char path [512], temp [530];
    s_community_path (self, path, sizeof path);
    if (strcmp (self->mode, "off") == 0) {
        if (unlink (path) != 0 && errno != ENOENT)
            cw_warn ("snmp: cannot remove %s: %s", path, strerror (errno));
        return;
    }
    snprintf (temp, sizeof temp, "%s.tmp", path);
    int fd = open (temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
    if (!file) {
        if (fd >= 0)
            close (fd);
        cw_warn ("snmp: cannot write %s: %s", temp, strerror (errno));
        return;
    }
    fprintf (file, "# Written by causeway's tms actor (snmp.mode %s); include it from snmpd.conf:\n", self->mode);
    fprintf (file, "#   includeFile %s\n", path);
    bool plain = *self->community != '\0';
    for (const char *c = self->community; *c; c++)
        plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')
              || strchr ("._-+=@%:,/", *c);
    if (strcmp (self->mode, "v2c") == 0 && plain) {
        fprintf (file, "view causewayView included .1.3.6.1.2.1.1\n");
        fprintf (file, "view causewayView included .1.3.6.1.4.1.32473.1\n");
        fprintf (file, "rocommunity %s default -V causewayView\n", self->community);
    }
    else if (strcmp (self->mode, "v2c") == 0)
        fprintf (file, "# snmp.community is empty or has characters snmpd.conf cannot hold: no community\n");
    else
        fprintf (file, "# v3: the users are configured in snmpd.conf (net-snmp-create-v3-user); no community\n");
    bool ok = fflush (file) == 0 && fsync (fileno (file)) == 0;
    ok = (fclose (file) == 0) && ok;
    if (!ok || rename (temp, path) != 0) {
        cw_warn ("snmp: cannot write %s: %s", path, strerror (errno));
        unlink (temp);
    }
}

// ---------------------------------------------------------------------------
//  The data: refreshed every second while serving

static void
s_on_alarms (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_snmp_t *self = arg;
    self->alarms_pending = false;
    json_t *alarms = json_object_get (body, "alarms");
    if (!ok || !json_is_array (alarms)) {
        cw_debug ("snmp: alarms.list failed: %s", s_text (body, "error"));
        return;
    }
    if (self->alarms && json_equal (self->alarms, alarms))
        return;
    json_decref (self->alarms);
    self->alarms = json_incref (alarms);
    s_rebuild (self);
}

static void
s_on_cluster_status (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_snmp_t *self = arg;
    self->peers_pending = false;
    json_t *peers = json_object_get (body, "peers");
    if (!ok || !json_is_array (peers)) {
        cw_debug ("snmp: cluster.status failed: %s", s_text (body, "error"));
        return;
    }
    if (self->peers && json_equal (self->peers, peers))
        return;
    json_decref (self->peers);
    self->peers = json_incref (peers);
    s_rebuild (self);
}

static void
s_on_status (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    cw_snmp_t *self = arg;
    self->uptime_pending = false;
    json_t *uptime = json_object_get (body, "uptime_s");
    if (ok && json_is_integer (uptime)) {
        self->uptime_base_s = (long) json_integer_value (uptime);
        self->uptime_asked_ms = zclock_mono ();
        self->have_uptime = true;
    }
}

static void
s_refresh (cw_snmp_t *self)
{
    if (!self->alarms_pending
        && cw_actor_request (self->actor, "alarms", "alarms.list", NULL, s_on_alarms, self, 2000) == 0)
        self->alarms_pending = true;
    if (!self->peers_pending
        && cw_actor_request (self->actor, "replication", "cluster.status", NULL, s_on_cluster_status, self, 2000) == 0)
        self->peers_pending = true;
    if (!self->have_uptime && !self->uptime_pending
        && cw_actor_request (self->actor, "", "status", NULL, s_on_status, self, 2000) == 0)
        self->uptime_pending = true;
}

static int
s_on_refresh_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_snmp_t *self = arg;
    if (self->registration)
        s_refresh (self);
    return 0;
}

// ---------------------------------------------------------------------------
//  Applying the settings

static void
s_unregister (cw_snmp_t *self)
{
    if (self->registration) {
        netsnmp_unregister_handler (self->registration);
        self->registration = NULL;
        cw_info ("snmp: CAUSEWAY-MIB no longer served");
    }
}

static void
s_apply (cw_snmp_t *self)
{
    bool serve = strcmp (self->mode, "v2c") == 0 || strcmp (self->mode, "v3") == 0;
    s_write_community_file (self);
    if (!serve) {
        s_unregister (self);
        s_pump (self);
        return;
    }
    if (!self->initialised)
        s_net_snmp_start (self);
    else if (strcmp (self->initialised_socket, self->socket) != 0)
        cw_warn ("snmp: snmp.agentx_socket is now %s; the tms actor uses %s until it restarts", self->socket,
                 self->initialised_socket);
    if (!self->registration) {
        netsnmp_mib_handler *handler = netsnmp_create_handler ("causeway", s_handler);
        netsnmp_handler_registration *registration = handler ? netsnmp_handler_registration_create ("causeway", handler,
                                                                                                    s_root, S_ROOT_LEN,
                                                                                                    HANDLER_CAN_RONLY)
                                                             : NULL;
        if (!registration) {
            if (handler)
                netsnmp_handler_free (handler);
            cw_error ("snmp: cannot create the CAUSEWAY-MIB registration");
            return;
        }
        handler->myvoid = self;
        if (netsnmp_register_handler (registration) != MIB_REGISTERED_OK) {
            cw_error ("snmp: the master agent refused CAUSEWAY-MIB");
            return;
        }
        self->registration = registration;
        cw_info ("snmp: serving CAUSEWAY-MIB (mode %s)", self->mode);
        s_refresh (self);
    }
    s_pump (self);
}

static int
s_on_apply_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_snmp_t *self = arg;
    self->apply_timer = -1;
    s_apply (self);
    return 0;
}

// ---------------------------------------------------------------------------
//  The public API

cw_snmp_t *
cw_snmp_new (cw_actor_t *actor, char *err, size_t errlen)
{
    if (s_self) {
        snprintf (err, errlen, "one SNMP sub-agent per process");
        return NULL;
    }
    cw_snmp_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    cw_copy (self->mode, sizeof self->mode, "off");
    cw_copy (self->socket, sizeof self->socket, "/var/agentx/master");
    cw_copy (self->system_name, sizeof self->system_name, cw_actor_bootstrap (actor)->node.name);
    self->apply_timer = -1;
    self->pump_timer = -1;
    self->alarms = json_array ();
    self->peers = json_array ();
    self->refresh_timer = zloop_timer (cw_actor_loop (actor), S_REFRESH_MS, 0, s_on_refresh_timer, self);
    if (self->refresh_timer == -1) {
        snprintf (err, errlen, "cannot add the SNMP refresh timer");
        json_decref (self->alarms);
        json_decref (self->peers);
        free (self);
        return NULL;
    }
    s_rebuild (self);
    s_self = self;
    return self;
}

void
cw_snmp_destroy (cw_snmp_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_snmp_t *self = *self_p;
    zloop_t *loop = cw_actor_loop (self->actor);
    for (int i = 0; i < self->fd_count; i++) {
        zmq_pollitem_t item = { NULL, self->fds [i], ZMQ_POLLIN, 0 };
        zloop_poller_end (loop, &item);
    }
    if (self->pump_timer != -1)
        zloop_timer_end (loop, self->pump_timer);
    if (self->apply_timer != -1)
        zloop_timer_end (loop, self->apply_timer);
    zloop_timer_end (loop, self->refresh_timer);
    if (self->initialised) {
        s_unregister (self);
        snmp_shutdown ("causeway");
        shutdown_agent ();
    }
    s_rows_free (self->rows, self->row_count);
    free (self->indexes);
    json_decref (self->alarms);
    json_decref (self->peers);
    s_self = NULL;
    free (self);
    *self_p = NULL;
}

void
cw_snmp_on_event (cw_snmp_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (!self || !ev || !ev->command)
        return;
    const char *topic = ev->command;
    if (strncmp (topic, "config.changed.", 15) != 0) {
        if (strcmp (topic, "cluster.peers") == 0 && self->registration && !self->peers_pending
            && cw_actor_request (self->actor, "replication", "cluster.status", NULL, s_on_cluster_status, self, 2000)
                   == 0)
            self->peers_pending = true;
        return;
    }
    const char *key = topic + 15;
    const char *value = json_string_value (json_object_get (body, "value"));
    if (strcmp (key, "system.name") == 0) {
        if (value && strcmp (value, self->system_name) != 0) {
            cw_copy (self->system_name, sizeof self->system_name, value);
            s_rebuild (self);
        }
        return;
    }
    char *target = strcmp (key, "snmp.mode") == 0          ? self->mode
                 : strcmp (key, "snmp.community") == 0     ? self->community
                 : strcmp (key, "snmp.agentx_socket") == 0 ? self->socket
                                                           : NULL;
    size_t size = target == self->mode      ? sizeof self->mode
                : target == self->community ? sizeof self->community
                                            : sizeof self->socket;
    if (!target || !value)
        return;
    cw_copy (target, size, value);
    if (strcmp (key, "snmp.community") != 0)
        cw_info ("snmp: %s is %s", key, value);
    //  the retained values arrive one by one at start: apply them together
    if (self->apply_timer == -1)
        self->apply_timer = zloop_timer (cw_actor_loop (self->actor), 50, 1, s_on_apply_timer, self);
}
