/*  tms.c - the tms actor's connection to the external manager (see tms.h).

    One operation at a time goes to the manager, chosen by s_kick: Register
    until the manager accepted this peer, then PostEvents (the oldest 100
    queued events) while the queue is not empty, and a Heartbeat when the
    heartbeat timer fires with nothing else to send. Every answer goes
    through s_on_done: a 2xx with a JSON object makes the state active (and
    deletes the events it acknowledged), anything else makes it failed with
    the reason and arms the retry timer. A change of a tms.* key starts
    again from Register.

    Events are made exactly once: each is committed to the queue together
    with what it was made from (meta "alarm_seq": the alarms actor's last
    change seen; "config:<key>": the last value seen; "causewayd_pid"), so
    the replays that follow a restart (the retained config.changed.* STATE,
    the alarms actor's replay of active alarms) make no second event.
*/
#include "tms.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "alternates_listener.h"
#include "cw_alarm.h"
#include "cw_statefile.h"
#include "provision.h"
#include "tms_http.h"
#include "tms_queue.h"

#define S_ALARM_FAILED 50001
#define S_BATCH 100
#define S_DEFAULT_PATH "tms/public/external/management/SystemManagementService.asmx"
#define S_SETTLE_MS 300

typedef enum {
    S_INITIALISING = 0,
    S_ACTIVE,
    S_FAILED
} s_state_t;
typedef enum {
    OP_NONE = 0,
    OP_REGISTER,
    OP_EVENTS,
    OP_HEARTBEAT
} s_op_t;

struct _tms_t {
    cw_actor_t *actor;
    zloop_t *loop;
    const cw_bootstrap_t *boot;
    tms_queue_t *queue;
    tms_http_t *http;
    tms_provision_t *provision;    //  the provisioning services
    tms_alternates_t *alternates;  //  /alternatesconfiguration.xml when no web admin runs here
    zsock_t *alarms;               //  SUB on the alarms actor's PUB socket
    //  configuration (config.changed.*)
    char *address, *path, *protocol, *ca_file, *system_name, *cluster_name;
    bool verify;
    int heartbeat_s;
    json_t *peers;
    json_t *config_values;    //  key -> the value's JSON text last taken
    bool config_seeded;    //  the first replay of the retained configuration is over
    //  the connection
    s_state_t state;
    char reason [512];
    bool registered;
    enum {
        S_ALARM_UNKNOWN = 0,
        S_ALARM_RAISED,
        S_ALARM_CLEAR
    } alarm;    //  unknown after a restart
    int backoff_s;
    int timer_id;    //  retry, heartbeat or settle timer; -1 = none
    s_op_t op;
    int64_t inflight_upto;    //  last seq of the PostEvents in flight
    char manager [1100];      //  the service URL (without the operation)
    char last_success [40], last_attempt [40], registered_at [40];
    int64_t events_sent;
    int64_t alarm_seq;
    int64_t started;    //  zclock_mono at start
    int config_seen;    //  config.changed.* STATE messages received
    //  credentials (in memory only while the actor runs)
    unsigned char key [crypto_secretbox_KEYBYTES];
    char *user;
    char *password;
};

static void s_kick (tms_t *self);
static void s_schedule (tms_t *self, int ms);
static void s_provision_configure (tms_t *self);

//  ---------------------------------------------------------------------
//  Helpers

static void
s_now (char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r (&ts.tv_sec, &tm);
    char base [32];
    strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buf, len, "%.19s.%03dZ", base, (int) (ts.tv_nsec / 1000000) % 1000);
}

static bool
s_is_ipv6 (const char *text)
{
    unsigned char addr [16];
    return inet_pton (AF_INET6, text, addr) == 1;
}

void
tms_set_text (char **field, const char *value)
{
    char *copy = strdup (value ? value : "");
    if (!copy)
        return;
    free (*field);
    *field = copy;
}

bool
tms_address_valid (const char *address)
{
    if (!address || !*address || strlen (address) > 255)
        return false;
    const char *host = address, *end;
    char buf [256];
    if (*address == '[') {
        end = strchr (address, ']');
        if (!end || (size_t) (end - address - 1) >= sizeof buf)
            return false;
        memcpy (buf, address + 1, (size_t) (end - address - 1));
        buf [end - address - 1] = 0;
        if (!s_is_ipv6 (buf))
            return false;
        end++;
    }
    else {
        end = strrchr (address, ':');
        if (end && strchr (address, ':') != end) {
            //  more than one ':': a bare IPv6 address, no port
            snprintf (buf, sizeof buf, "%s", address);
            return s_is_ipv6 (buf);
        }
        if (!end)
            end = address + strlen (address);
        size_t n = (size_t) (end - host);
        if (n == 0 || n >= sizeof buf)
            return false;
        memcpy (buf, host, n);
        buf [n] = 0;
        for (const char *p = buf; *p; p++)
            if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '.')
                return false;
        if (buf [0] == '-' || buf [0] == '.' || strstr (buf, ".."))
            return false;
    }
    if (*end == 0)
        return true;
    if (*end != ':' || !end [1] || strlen (end + 1) > 5)
        return false;
    for (const char *p = end + 1; *p; p++)
        if (!isdigit ((unsigned char) *p))
            return false;
    long port = strtol (end + 1, NULL, 10);
    return port >= 1 && port <= 65535;
}

int
tms_url (char *buf, size_t len, const char *protocol, const char *address, const char *path, const char *operation)
{
    while (path && *path == '/')
        path++;
    int n = snprintf (buf, len, "%s://%s/%s%s%s", protocol, address, path ? path : "", operation ? "/" : "",
                      operation ? operation : "");
    return n < 0 || (size_t) n >= len ? -1 : 0;
}

//  ---------------------------------------------------------------------
//  State

static const char *
s_state_name (s_state_t state)
{
    return state == S_ACTIVE ? "active" : state == S_FAILED ? "failed" : "initialising";
}

static void
s_enter (tms_t *self, s_state_t state, const char *reason)
{
    if (self->state != state || strcmp (self->reason, reason ? reason : "") != 0)
        cw_info ("manager state=%s reason=\"%s\"", s_state_name (state), reason ? reason : "");
    self->state = state;
    snprintf (self->reason, sizeof self->reason, "%s", reason ? reason : "");
    //  Raised once when the state becomes failed (its detail the first
    //  reason: libcurl's messages carry times that change at each retry)
    if (state == S_FAILED && self->alarm != S_ALARM_RAISED) {
        char detail [1700];
        snprintf (detail, sizeof detail, "%.1100s: %.500s", self->manager, self->reason);
        cw_alarm_raise (self->actor, S_ALARM_FAILED, "", detail);
        self->alarm = S_ALARM_RAISED;
    }
    else if (self->alarm != S_ALARM_CLEAR && (state == S_ACTIVE || !*self->address)) {
        cw_alarm_clear (self->actor, S_ALARM_FAILED, "");
        self->alarm = S_ALARM_CLEAR;
    }
}

static void
s_fail (tms_t *self, const char *reason)
{
    self->registered = false;
    s_enter (self, S_FAILED, reason);
    int delay = self->backoff_s > 0 ? self->backoff_s : 1;
    self->backoff_s = delay * 2 > self->heartbeat_s ? self->heartbeat_s : delay * 2;
    if (self->backoff_s < 1)
        self->backoff_s = 1;
    s_schedule (self, delay * 1000);
}

//  ---------------------------------------------------------------------
//  Requests to the manager

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_t *self = arg;
    self->timer_id = -1;
    if (self->state == S_ACTIVE && self->registered && !tms_http_busy (self->http)
        && tms_queue_length (self->queue) == 0)
        self->op = OP_HEARTBEAT;
    s_kick (self);
    return 0;
}

static void
s_schedule (tms_t *self, int ms)
{
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    self->timer_id = zloop_timer (self->loop, (size_t) (ms > 0 ? ms : 1), 1, s_on_timer, self);
}

static void
s_on_done (long status, const char *body, size_t len, const char *error, void *arg)
{
    (void) len;
    tms_t *self = arg;
    s_op_t op = self->op;
    self->op = OP_NONE;
    char reason [512];
    if (error) {
        snprintf (reason, sizeof reason, "%s", error);
        s_fail (self, reason);
        return;
    }
    if (status < 200 || status > 299) {
        snprintf (reason, sizeof reason, "the manager answered HTTP %ld", status);
        s_fail (self, reason);
        return;
    }
    json_error_t jerr;
    json_t *reply = json_loads (body, 0, &jerr);
    if (!json_is_object (reply)) {
        snprintf (reason, sizeof reason, "the manager's reply is not a JSON object (HTTP %ld): %s", status, jerr.text);
        json_decref (reply);
        s_fail (self, reason);
        return;
    }
    json_decref (reply);
    s_now (self->last_success, sizeof self->last_success);
    self->backoff_s = 1;
    if (op == OP_REGISTER) {
        self->registered = true;
        snprintf (self->registered_at, sizeof self->registered_at, "%s", self->last_success);
    }
    else if (op == OP_EVENTS) {
        size_t before = tms_queue_length (self->queue);
        if (tms_queue_delete_upto (self->queue, self->inflight_upto) != 0)
            cw_error ("manager: cannot delete the events the manager accepted upto=%lld",
                      (long long) self->inflight_upto);
        self->events_sent += (int64_t) (before - tms_queue_length (self->queue));
    }
    s_enter (self, S_ACTIVE, "");
    if (tms_queue_length (self->queue) > 0)
        s_kick (self);
    else
        s_schedule (self, self->heartbeat_s * 1000);
}

//  Read this machine's serial (/etc/machine-id) into BUF, or "".
static void
s_serial (char *buf, size_t len)
{
    buf [0] = 0;
    FILE *f = fopen ("/etc/machine-id", "r");
    if (!f)
        return;
    if (fgets (buf, (int) len, f))
        buf [strcspn (buf, "\r\n")] = 0;
    fclose (f);
}

static json_t *
s_register_body (tms_t *self)
{
    char serial [64];
    s_serial (serial, sizeof serial);
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s}", "system_name", self->system_name, "node_id",
                      self->boot->node.name, "serial", serial, "version", CW_VERSION, "type",
                      self->boot->node.type ? self->boot->node.type : "", "ip",
                      self->boot->peering.address ? self->boot->peering.address : "", "peers", self->peers,
                      "cluster_name", self->cluster_name);
}

static void
s_kick (tms_t *self)
{
    if (tms_http_busy (self->http))
        return;
    if (!*self->address) {
        self->op = OP_NONE;
        s_enter (self, S_INITIALISING, "no manager: tms.address is empty");
        return;
    }
    if (!tms_address_valid (self->address)) {
        char reason [400];
        snprintf (reason, sizeof reason, "tms.address '%.200s' is not a host name or IP address with an optional :port",
                  self->address);
        self->op = OP_NONE;
        s_enter (self, S_FAILED, reason);
        return;
    }
    const char *operation;
    json_t *body;
    if (!self->registered) {
        self->op = OP_REGISTER;
        operation = "Register";
        body = s_register_body (self);
        if (self->state != S_FAILED)
            s_enter (self, S_INITIALISING, "registering with the manager");
    }
    else if (tms_queue_length (self->queue) > 0) {
        self->op = OP_EVENTS;
        operation = "PostEvents";
        json_t *events = tms_queue_peek (self->queue, S_BATCH);
        size_t index;
        json_t *event;
        self->inflight_upto = 0;
        json_array_foreach (events, index, event) {
            int64_t seq = json_integer_value (json_object_get (event, "seq"));
            char id [300];
            snprintf (id, sizeof id, "%s:%lld", self->boot->node.name, (long long) seq);
            json_object_set_new (event, "id", json_string (id));
            self->inflight_upto = seq;
        }
        body = json_pack ("{s:s, s:s, s:o}", "node_id", self->boot->node.name, "system_name", self->system_name,
                          "events", events);
    }
    else if (self->op == OP_HEARTBEAT) {
        operation = "Heartbeat";
        body = json_pack ("{s:s, s:s, s:I}", "node_id", self->boot->node.name, "system_name", self->system_name,
                          "queue_length", (json_int_t) tms_queue_length (self->queue));
    }
    else
        return;
    char url [1200];
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    tms_http_request_t req = { .url = url,
                               .body = text,
                               .user = self->user,
                               .password = self->password,
                               .verify = self->verify,
                               .ca_file = self->ca_file,
                               .timeout_ms = 10000 };
    s_now (self->last_attempt, sizeof self->last_attempt);
    if (!text || tms_url (url, sizeof url, self->protocol, self->address, self->path, operation) != 0
        || tms_http_post (self->http, &req, s_on_done, self) != 0) {
        free (text);
        self->op = OP_NONE;
        s_fail (self, "cannot start a request to the manager (URL too long, or out of memory)");
        return;
    }
    free (text);
    if (self->timer_id >= 0) {
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
}

//  A tms.* key changed: start again from Register once the burst settles
static void
s_reconfigure (tms_t *self)
{
    tms_http_cancel (self->http);
    self->op = OP_NONE;
    self->registered = false;
    self->backoff_s = 1;
    tms_url (self->manager, sizeof self->manager, self->protocol, self->address, self->path, NULL);
    s_provision_configure (self);
    if (*self->address && self->state != S_FAILED)
        s_enter (self, S_INITIALISING, "registering with the manager");
    else if (!*self->address)
        s_enter (self, S_INITIALISING, "no manager: tms.address is empty");
    s_schedule (self, S_SETTLE_MS);
}

//  ---------------------------------------------------------------------
//  Events

//  Queue an event of TYPE with DATA (owned), and meta KEY = VALUE with it
static void
s_push (tms_t *self, const char *type, json_t *data, const char *key, const char *value)
{
    char at [40];
    s_now (at, sizeof at);
    int64_t seq = tms_queue_push (self->queue, type, at, data, key, value);
    json_decref (data);
    if (seq < 0)
        cw_error ("manager: cannot queue a %s event (tms.db)", type);
    else if (!tms_http_busy (self->http) && self->state == S_ACTIVE)
        s_kick (self);
}

static int
s_on_alarm (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    tms_t *self = arg;
    for (int n = 0; n < 256 && (zsock_events (reader) & ZMQ_POLLIN); n++) {
        zmsg_t *msg = zmsg_recv (reader);
        if (!msg)
            break;
        char *topic = zmsg_popstr (msg);
        char *text = zmsg_popstr (msg);
        json_t *alarm = text ? json_loads (text, 0, NULL) : NULL;
        int64_t seq = json_integer_value (json_object_get (alarm, "seq"));
        if (topic && strncmp (topic, "alarm.", 6) == 0 && strcmp (topic, "alarm.snapshot") != 0
            && json_object_get (alarm, "uuid") && seq > self->alarm_seq) {
            char value [32];
            snprintf (value, sizeof value, "%lld", (long long) seq);
            self->alarm_seq = seq;
            s_push (self, "alarm", json_incref (alarm), "alarm_seq", value);
        }
        json_decref (alarm);
        free (topic);
        free (text);
        zmsg_destroy (&msg);
    }
    return 0;
}

static void
s_on_config (tms_t *self, const char *key, json_t *value)
{
    //  The same value again (a re-announce) changes nothing: above all no
    //  new Register with the manager
    char *seen = json_dumps (value ? value : json_null (), JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    const char *last = json_string_value (json_object_get (self->config_values, key));
    if (seen && last && strcmp (seen, last) == 0) {
        free (seen);
        return;
    }
    if (seen)
        json_object_set_new (self->config_values, key, json_string (seen));
    free (seen);
    bool tms_key = strncmp (key, "tms.", 4) == 0;
    const char *text = json_string_value (value);
    if (streq (key, "tms.address"))
        tms_set_text (&self->address, text);
    else if (streq (key, "tms.path"))
        tms_set_text (&self->path, text && *text ? text : S_DEFAULT_PATH);
    else if (streq (key, "tms.protocol"))
        tms_set_text (&self->protocol, text && *text ? text : "https");
    else if (streq (key, "tms.verify_certificate"))
        self->verify = !text || !streq (text, "off");
    else if (streq (key, "tms.ca_file"))
        tms_set_text (&self->ca_file, text);
    else if (streq (key, "tms.heartbeat_s"))
        self->heartbeat_s = json_is_integer (value) ? (int) json_integer_value (value) : 30;
    else if (streq (key, "system.name"))
        tms_set_text (&self->system_name, text && *text ? text : self->boot->node.name);
    else if (streq (key, "cluster.name"))
        tms_set_text (&self->cluster_name, text);
    else if (streq (key, "cluster.peers") && json_is_array (value)) {
        json_decref (self->peers);
        self->peers = json_incref (value);
    }
    if (tms_key)
        s_reconfigure (self);

    //  A configuration-change event, made once per value
    char meta_key [300];
    snprintf (meta_key, sizeof meta_key, "config:%s", key);
    char *now = json_dumps (value ? value : json_null (), JSON_COMPACT | JSON_ENCODE_ANY);
    char *before = tms_queue_meta_get (self->queue, meta_key);
    if (now && (!before || strcmp (before, now) != 0)) {
        if (before || self->config_seeded)
            s_push (self, "config", json_pack ("{s:s, s:O}", "key", key, "value", value ? value : json_null ()),
                    meta_key, now);
        else
            tms_queue_meta_set (self->queue, meta_key, now);
    }
    free (before);
    free (now);
}

//  The routing actor's counts: an event when they changed since the last
static void
s_on_routing_status (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    (void) actor;
    tms_t *self = arg;
    if (!ok || !json_is_object (body))
        return;    //  no routing actor on this node, or it is starting
    json_t *bindings = json_object_get (json_object_get (body, "registrar"), "bindings");
    json_t *calls = json_object_get (json_object_get (body, "calls"), "this_peer");
    if (!json_is_integer (bindings) && !json_is_integer (calls))
        return;
    json_t *counts = json_pack ("{s:I, s:I}", "registrations", (json_int_t) json_integer_value (bindings), "calls",
                                (json_int_t) json_integer_value (calls));
    char *now = json_dumps (counts, JSON_COMPACT | JSON_SORT_KEYS);
    char *before = tms_queue_meta_get (self->queue, "routing_counts");
    if (now && (!before || strcmp (before, now) != 0))
        s_push (self, "routing", json_incref (counts), "routing_counts", now);
    free (before);
    free (now);
    json_decref (counts);
}

static int
s_on_routing_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    tms_t *self = arg;
    if (*self->address)
        cw_actor_request (self->actor, "routing", "routing.status", NULL, s_on_routing_status, self, 2000);
    return 0;
}

//  The provisioning services follow the manager's settings
static void
s_provision_configure (tms_t *self)
{
    if (!self->provision)
        return;
    bool valid = tms_address_valid (self->address);
    tms_manager_t manager = { .protocol = self->protocol,
                              .address = valid ? self->address : "",
                              .path = self->path,
                              .verify = self->verify,
                              .ca_file = self->ca_file,
                              .user = self->user,
                              .password = self->password };
    tms_provision_configure (self->provision, &manager);
}

void
tms_on_event (tms_t *self, const cw_envelope_t *ev, json_t *body)
{
    if (self->provision)
        tms_provision_on_event (self->provision, ev, body);
    tms_alternates_on_event (self->alternates, ev, body);
    if (ev->type == CW_MSG_STATE && strncmp (ev->command, "config.changed.", 15) == 0) {
        self->config_seen++;
        s_on_config (self, ev->command + 15, json_object_get (body, "value"));
    }
}

//  ---------------------------------------------------------------------
//  Credentials: crypto_secretbox under <state_dir>/tms.key

static int
s_load_key (tms_t *self, char *err, size_t errlen)
{
    char path [4200];
    snprintf (path, sizeof path, "%s/tms.key", self->boot->node.state_dir);
    int fd = open (path, O_RDONLY);
    if (fd < 0) {
        randombytes_buf (self->key, sizeof self->key);
        fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (fd < 0 || write (fd, self->key, sizeof self->key) != (ssize_t) sizeof self->key || fsync (fd) != 0) {
            if (fd >= 0)
                close (fd);
            snprintf (err, errlen, "cannot write the key file %s", path);
            return -1;
        }
        close (fd);
        return 0;
    }
    ssize_t got = read (fd, self->key, sizeof self->key);
    close (fd);
    if (got != (ssize_t) sizeof self->key) {
        snprintf (err, errlen, "the key file %s is not %d bytes", path, (int) sizeof self->key);
        return -1;
    }
    return 0;
}

static void
s_forget_credentials (tms_t *self)
{
    if (self->password)
        sodium_memzero (self->password, strlen (self->password));
    free (self->password);
    free (self->user);
    self->password = NULL;
    self->user = NULL;
}

//  Open the sealed credentials of tms.db, if any
static void
s_unseal (tms_t *self)
{
    char *sealed = tms_queue_meta_get (self->queue, "credentials");
    if (!sealed)
        return;
    size_t max = strlen (sealed);
    unsigned char *bin = malloc (max + 1);
    size_t len = 0;
    if (bin && sodium_base642bin (bin, max, sealed, max, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0
        && len > crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
        size_t plain_len = len - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
        char *plain = malloc (plain_len + 1);
        if (plain
            && crypto_secretbox_open_easy ((unsigned char *) plain, bin + crypto_secretbox_NONCEBYTES,
                                           len - crypto_secretbox_NONCEBYTES, bin, self->key)
                   == 0) {
            plain [plain_len] = 0;
            json_t *creds = json_loads (plain, 0, NULL);
            s_forget_credentials (self);
            const char *user = json_string_value (json_object_get (creds, "user"));
            const char *password = json_string_value (json_object_get (creds, "password"));
            self->user = user ? strdup (user) : NULL;
            self->password = password ? strdup (password) : NULL;
            if (password)
                sodium_memzero ((char *) password, strlen (password));
            json_decref (creds);
            sodium_memzero (plain, plain_len);
        }
        else
            cw_error ("manager: the sealed credentials in tms.db do not open with tms.key; set them again");
        free (plain);
    }
    free (bin);
    free (sealed);
}

static cw_reply_status_t
s_credentials_set (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    tms_t *self = arg;
    const char *user = json_string_value (json_object_get (args, "user"));
    const char *password = json_string_value (json_object_get (args, "password"));
    if (!user || !*user || strlen (user) > 128 || strchr (user, ':')) {
        *reply = cw_error_body ("user: 1-128 characters, no ':'");
        return CW_REPLY_ERROR;
    }
    if (!password || strlen (password) > 1024) {
        *reply = cw_error_body ("password: a string of at most 1024 characters");
        return CW_REPLY_ERROR;
    }
    json_t *creds = json_pack ("{s:s, s:s}", "user", user, "password", password);
    char *plain = creds ? json_dumps (creds, JSON_COMPACT) : NULL;
    json_t *copy = json_object_get (creds, "password");
    if (copy)
        sodium_memzero ((char *) json_string_value (copy), strlen (json_string_value (copy)));
    json_decref (creds);
    if (!plain) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    size_t plain_len = strlen (plain);
    size_t len = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain_len;
    unsigned char *bin = malloc (len);
    size_t text_len = sodium_base64_encoded_len (len, sodium_base64_VARIANT_ORIGINAL);
    char *text = malloc (text_len);
    int rc = -1;
    if (bin && text) {
        randombytes_buf (bin, crypto_secretbox_NONCEBYTES);
        crypto_secretbox_easy (bin + crypto_secretbox_NONCEBYTES, (unsigned char *) plain, plain_len, bin, self->key);
        sodium_bin2base64 (text, text_len, bin, len, sodium_base64_VARIANT_ORIGINAL);
        rc = tms_queue_meta_set (self->queue, "credentials", text);
    }
    sodium_memzero (plain, plain_len);
    free (plain);
    free (bin);
    free (text);
    if (rc != 0) {
        *reply = cw_error_body ("cannot store the credentials in tms.db");
        return CW_REPLY_ERROR;
    }
    s_forget_credentials (self);
    self->user = strdup (user);
    self->password = strdup (password);
    cw_info ("manager credentials set user=%s", user);
    s_reconfigure (self);
    *reply = json_pack ("{s:s, s:b}", "user", user, "stored", 1);
    return CW_REPLY_OK;
}

//  ---------------------------------------------------------------------
//  Status

json_t *
tms_status (tms_t *self)
{
    char *oldest = tms_queue_oldest (self->queue);
    json_t *status = json_pack ("{s:s, s:s, s:s, s:{s:I, s:I, s:s?}, s:s?, s:s?, s:s?, s:I, s:s, s:s, s:b, s:s?, s:i}",
                                "state", s_state_name (self->state), "reason", self->reason, "manager",
                                *self->address ? self->manager : "", "queue", "length",
                                (json_int_t) tms_queue_length (self->queue), "dropped",
                                (json_int_t) tms_queue_dropped (self->queue), "oldest", oldest, "last_success",
                                *self->last_success ? self->last_success : NULL, "last_attempt",
                                *self->last_attempt ? self->last_attempt : NULL, "registered_at",
                                self->registered && *self->registered_at ? self->registered_at : NULL, "events_sent",
                                (json_int_t) self->events_sent, "address", self->address, "protocol", self->protocol,
                                "verify_certificate", self->verify, "user", self->user, "queue_bound", TMS_QUEUE_BOUND);
    free (oldest);
    json_object_set_new (status, "actor", json_string (cw_actor_name (self->actor)));
    json_object_set_new (status, "pid", json_integer ((json_int_t) getpid ()));
    json_object_set_new (status, "uptime_s", json_integer ((json_int_t) ((zclock_mono () - self->started) / 1000)));
    json_object_set_new (status, "config_seen", json_integer (self->config_seen));
    if (self->provision)
        json_object_set_new (status, "provisioning", tms_provision_status (self->provision));
    json_object_set_new (status, "alternates", tms_alternates_status (self->alternates));
    return status;
}

static cw_reply_status_t
s_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    *reply = tms_status ((tms_t *) arg);
    return CW_REPLY_OK;
}

static const cw_command_t s_commands [] = {
    { "tms.status", s_status, CW_CMD_IDEMPOTENT,
      "the external manager: state, reason, manager URL, event queue (length, dropped, oldest), last success" },
    { "tms.credentials.set", s_credentials_set, CW_CMD_IDEMPOTENT,
      "the manager's credentials {user, password} for this peer, sealed at rest" },
    { NULL, NULL, 0, NULL }
};

//  ---------------------------------------------------------------------
//  Life

static int
s_on_seeded (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    ((tms_t *) arg)->config_seeded = true;
    return 0;
}

tms_t *
tms_new (cw_actor_t *actor, char *err, size_t errlen)
{
    if (sodium_init () < 0) {
        snprintf (err, errlen, "libsodium cannot start");
        return NULL;
    }
    tms_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->actor = actor;
    self->loop = cw_actor_loop (actor);
    self->boot = cw_actor_bootstrap (actor);
    self->timer_id = -1;
    self->started = zclock_mono ();
    self->heartbeat_s = 30;
    self->verify = true;
    self->backoff_s = 1;
    tms_set_text (&self->address, "");
    tms_set_text (&self->path, S_DEFAULT_PATH);
    tms_set_text (&self->protocol, "https");
    tms_set_text (&self->ca_file, "");
    tms_set_text (&self->system_name, self->boot->node.name);
    tms_set_text (&self->cluster_name, "");
    self->peers = json_array ();
    self->config_values = json_object ();
    snprintf (self->reason, sizeof self->reason, "no manager: tms.address is empty");

    if (cw_state_dir_check (self->boot->node.state_dir, true, err, errlen) != 0) {
        tms_destroy (&self);
        return NULL;
    }
    char path [4200];
    snprintf (path, sizeof path, "%s/tms.db", self->boot->node.state_dir);
    self->queue = tms_queue_new (path, TMS_QUEUE_BOUND, err, errlen);
    if (!self->queue || s_load_key (self, err, errlen) != 0) {
        tms_destroy (&self);
        return NULL;
    }
    s_unseal (self);
    char *seq = tms_queue_meta_get (self->queue, "alarm_seq");
    self->alarm_seq = seq ? strtoll (seq, NULL, 10) : 0;
    free (seq);
    char *seeded = tms_queue_meta_get (self->queue, "config_seeded");
    self->config_seeded = seeded != NULL;
    free (seeded);

    self->http = tms_http_new (self->loop);
    if (!self->http) {
        snprintf (err, errlen, "libcurl cannot start");
        tms_destroy (&self);
        return NULL;
    }
    if (self->boot->alarms.publish_count > 0) {
        self->alarms = zsock_new (ZMQ_SUB);
        if (self->alarms && zsock_connect (self->alarms, "%s", self->boot->alarms.publish [0]) == 0) {
            zsock_set_linger (self->alarms, 0);
            zsock_set_rcvhwm (self->alarms, 100000);
            zsock_set_subscribe (self->alarms, "alarm.");
            zloop_reader (self->loop, self->alarms, s_on_alarm, self);
            zloop_reader_set_tolerant (self->loop, self->alarms);
        }
        else
            cw_warn ("manager: cannot connect to the alarm socket %s", self->boot->alarms.publish [0]);
    }
    if (cw_actor_commands (actor, s_commands, self) != 0) {
        snprintf (err, errlen, "out of memory");
        tms_destroy (&self);
        return NULL;
    }
    self->provision = tms_provision_new (actor, self->queue, err, errlen);
    self->alternates = self->provision ? tms_alternates_new (actor, err, errlen) : NULL;
    if (!self->alternates) {
        tms_destroy (&self);
        return NULL;
    }

    //  The first replay of the retained configuration makes no events;
    //  after it (and on every later start) each change does
    if (!self->config_seeded) {
        zloop_timer (self->loop, 2000, 1, s_on_seeded, self);
        tms_queue_meta_set (self->queue, "config_seeded", "1");
    }
    zloop_timer (self->loop, 5000, 0, s_on_routing_timer, self);
    //  A boot event once per run of causewayd
    char pid [32];
    snprintf (pid, sizeof pid, "%d", (int) getppid ());
    char *last = tms_queue_meta_get (self->queue, "causewayd_pid");
    if (!last || strcmp (last, pid) != 0)
        s_push (self, "boot", json_pack ("{s:s, s:s}", "node_id", self->boot->node.name, "version", CW_VERSION),
                "causewayd_pid", pid);
    free (last);
    tms_url (self->manager, sizeof self->manager, self->protocol, self->address, self->path, NULL);
    s_schedule (self, S_SETTLE_MS);
    return self;
}

void
tms_destroy (tms_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tms_t *self = *self_p;
    if (self->timer_id >= 0)
        zloop_timer_end (self->loop, self->timer_id);
    tms_alternates_destroy (&self->alternates);
    tms_provision_destroy (&self->provision);
    tms_http_destroy (&self->http);
    if (self->alarms) {
        zloop_reader_end (self->loop, self->alarms);
        zsock_destroy (&self->alarms);
    }
    tms_queue_destroy (&self->queue);
    s_forget_credentials (self);
    sodium_memzero (self->key, sizeof self->key);
    free (self->address);
    free (self->path);
    free (self->protocol);
    free (self->ca_file);
    free (self->system_name);
    free (self->cluster_name);
    json_decref (self->peers);
    json_decref (self->config_values);
    free (self);
    *self_p = NULL;
}
