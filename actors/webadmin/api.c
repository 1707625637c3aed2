/*  api.c - the REST API under /api/v1 (api.h).

    One table, s_api: a line per route with the control command it runs
    and the names its arguments take from the "{}" segments of the path
    (PARAMS, in order, "name" or "name:int"), from the query (QUERY,
    "name", "name:int" or "name:bool") and whether the JSON body's fields
    are taken too (BODY). The path's and query's arguments win over the
    body's. FIXED is a JSON object merged last. PICK makes the answer from
    the reply when the route is one item of a list. The server's route
    table is made from it, with one handler: it finds its line again by
    method and path (the server matched the same patterns in the same
    order), builds the arguments, calls the command and answers its reply.
*/

#include "api.h"
#include "webadmin.h"
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

typedef void (s_pick_fn) (web_request_t *req, const char *key, json_t *body);

typedef enum {
    S_NO_BODY,       //  a body is ignored
    S_BODY,          //  an optional JSON object
    S_BODY_NEEDED    //  a JSON object is required
} s_body_t;

typedef struct {
    const char *method;
    const char *pattern;
    const char *command;
    const char *params;    //  "uuid", "peer:int": names of the "{}" segments, comma-separated
    const char *query;     //  "all:bool,prefix"
    s_body_t body;
    const char *fixed;    //  a JSON object merged into the arguments
    s_pick_fn *pick;
    const char *hide;    //  arguments left out of the audit detail besides the secrets
    const char *summary;
} s_api_t;

//  The longest audit detail (a longer one is cut, ending "...")
#define S_DETAIL_MAX 1024
//  Arguments never written to the audit log
static const char *const s_secrets [] = { "password", "passphrase", "token", "secret", NULL };

static void s_pick_actor (web_request_t *req, const char *key, json_t *body);
static void s_pick_alarm (web_request_t *req, const char *key, json_t *body);

// clang-format off
static const s_api_t s_api [] = {
    //  causewayd
    { "GET", "/api/v1/status", "status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the node: name, version, uptime, every actor, control counters (the body of status)" },
    { "GET", "/api/v1/actors", "actors.list", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "every actor: pid, state, restarts, since" },
    { "GET", "/api/v1/actors/{}", "actors.list", "name", NULL, S_NO_BODY, NULL, s_pick_actor, NULL,
      "one actor" },
    { "POST", "/api/v1/actors/{}/start", "actors.start", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "start a stopped or failed actor" },
    { "POST", "/api/v1/actors/{}/stop", "actors.stop", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "stop an actor; it stays stopped until started" },
    { "POST", "/api/v1/actors/{}/restart", "actors.restart", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "restart an actor" },
    { "POST", "/api/v1/restart", "restart", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "restart the node: every actor stops, then causewayd starts again" },
    //  Alarms
    { "GET", "/api/v1/alarms", "alarms.list", NULL, "all:bool", S_NO_BODY, NULL, NULL, NULL,
      "raised and acknowledged alarms (?all=true: cleared ones too)" },
    { "POST", "/api/v1/alarms", "alarms.raise", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "raise an operator alarm {id, detail} (id 90000-99999)" },
    { "POST", "/api/v1/alarms/clear", "alarms.clear", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "clear an operator alarm {id}" },
    { "GET", "/api/v1/alarms/{}", "alarms.list", "uuid", NULL, S_NO_BODY, "{\"all\": true}", s_pick_alarm, NULL,
      "one alarm occurrence by its uuid" },
    { "POST", "/api/v1/alarms/{}/ack", "alarms.ack", "uuid", NULL, S_NO_BODY, NULL, NULL, NULL,
      "acknowledge an alarm occurrence" },
    //  Configuration
    { "GET", "/api/v1/config", "config.list", NULL, "prefix", S_NO_BODY, NULL, NULL, NULL,
      "every key (?prefix=dns.: those starting with it)" },
    { "GET", "/api/v1/config/{}", "config.get", "key", NULL, S_NO_BODY, NULL, NULL, NULL,
      "a key's value, scope and default" },
    { "PUT", "/api/v1/config/{}", "config.set", "key", NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "set a key {value, wait?, force?}" },
    { "DELETE", "/api/v1/config/{}", "config.unset", "key", NULL, S_NO_BODY, NULL, NULL, NULL,
      "set a key back to its default" },
    //  Cluster
    { "GET", "/api/v1/cluster", "cluster.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the cluster as this peer sees it: settings, database, every peer" },
    { "GET", "/api/v1/cluster/alarms", "cluster.alarms", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the alarms of every reachable peer" },
    { "GET", "/api/v1/cluster/check", "cluster.check", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "every requirement of clustering, with the fix of each unmet one" },
    { "GET", "/api/v1/cluster/diff", "cluster.diff", NULL, "a,b", S_NO_BODY, NULL, NULL, NULL,
      "the keys whose values differ between peers a and b" },
    { "GET", "/api/v1/cluster/replication", "replication.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the replication state of this peer" },
    { "GET", "/api/v1/cluster/mappings", "cluster.suggest_mappings", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "an FQDN=IP address mapping for every peer" },
    { "POST", "/api/v1/cluster/mappings", "cluster.suggest_mappings", NULL, NULL, S_NO_BODY, "{\"apply\": true}",
      NULL, NULL, "set the suggested mappings as cluster.address_mapping" },
    { "POST", "/api/v1/cluster/peers", "cluster.add", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "add the peer {address} to the first empty slot (on the primary)" },
    { "DELETE", "/api/v1/cluster/peers/{}", "cluster.remove", "address", "dead:bool", S_NO_BODY, NULL, NULL, NULL,
      "remove a peer and close the gap (?dead=true: do not ask it to reset)" },
    { "POST", "/api/v1/cluster/peers/{}/replace", "cluster.replace", "old", NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "replace a peer by the node at {new}" },
    { "POST", "/api/v1/cluster/peers/{}/trust", "cluster.trust_peer", "peer:int", NULL, S_NO_BODY, NULL, NULL, NULL,
      "accept the certificate peer N now presents in place of its pinned one" },
    { "POST", "/api/v1/cluster/tokens", "cluster.token", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "add a peer {address, ttl_s?} and make its one-time join token" },
    { "PUT", "/api/v1/cluster/primary", "cluster.set_primary", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "make peer {index} the configuration primary" },
    { "POST", "/api/v1/cluster/disband", "cluster.disband", NULL, NULL, S_BODY, NULL, NULL, NULL,
      "remove every subordinate {reset_primary?}" },
    { "GET", "/api/v1/cluster/use-fqdns", "cluster.use_fqdns_status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "progress of the move of the peer list to FQDNs" },
    { "POST", "/api/v1/cluster/use-fqdns", "cluster.use_fqdns", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "move the peer list to FQDNs, one peer at a time" },
    { "GET", "/api/v1/cluster/enforce-tls", "cluster.enforce_tls_status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "progress of the switch to TLS verification enforce" },
    { "POST", "/api/v1/cluster/enforce-tls", "cluster.enforce_tls", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "switch TLS verification to enforce, one peer at a time" },
    { "POST", "/api/v1/cluster/force-config-update", "cluster.force_config_update", NULL, NULL, S_NO_BODY, NULL,
      NULL, NULL, "on a subordinate: discard its cluster-wide configuration and take the primary's" },
    //  Backup
    { "POST", "/api/v1/backup", "backup.create", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "write an encrypted backup {file, passphrase} on the node" },
    { "POST", "/api/v1/backup/restore", "backup.restore", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "restore the encrypted backup {file, passphrase} of the node" },
    //  Licensing
    { "GET", "/api/v1/licenses", "license.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "per license kind: the pool, used, free and what each peer has" },
    { "GET", "/api/v1/licenses/keys", "license.list", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "this peer's option keys, decoded" },
    { "POST", "/api/v1/licenses/keys", "license.add", NULL, NULL, S_BODY_NEEDED, NULL, NULL, "key",
      "install an option key {key} on this peer" },
    { "DELETE", "/api/v1/licenses/keys/{}", "license.remove", "key", NULL, S_NO_BODY, NULL, NULL, NULL,
      "remove an option key from this peer by its serial" },
    //  SIP routing
    { "GET", "/api/v1/routing", "routing.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the SIP listeners, requests, drops, registrar and calls counters" },
    { "GET", "/api/v1/registrations", "registrations.list", NULL, "aor,peer:int", S_NO_BODY, NULL, NULL, NULL,
      "the cluster's SIP registrations (?aor=, ?peer=N)" },
    { "GET", "/api/v1/calls", "calls.list", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the calls in progress on every live peer" },
    { "GET", "/api/v1/credentials", "credentials.list", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the SIP users with digest credentials (never a password or hash)" },
    { "PUT", "/api/v1/credentials/{}", "credentials.add", "name", NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "set a SIP user's password {password} (stored as digest hashes)" },
    { "DELETE", "/api/v1/credentials/{}", "credentials.remove", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "remove a SIP user's credentials" },
    //  TMS
    { "GET", "/api/v1/tms", "tms.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL, "the TMS actor's status" },
    { "GET", "/api/v1/tms/findme", "tms.findme.list", NULL, "query,limit:int,after", S_NO_BODY, NULL, NULL, NULL,
      "the FindMe accounts this peer serves, by id (?query=, ?limit=, ?after=ID)" },
    { "GET", "/api/v1/tms/findme/{}", "tms.findme.show", "id", NULL, S_NO_BODY, NULL, NULL, NULL,
      "one FindMe account by id (or alias)" },
    { "GET", "/api/v1/tms/phonebook", "tms.phonebook.search", NULL, "query,limit:int", S_NO_BODY, NULL, NULL, NULL,
      "phone book entries whose name, a word of it, number or URI starts with ?query=, by name (?limit=)" },
    //  The web admin itself
    { "GET", "/api/v1/webadmin", "webadmin.status", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the web admin actor: its HTTPS addresses, sessions" },
    { "GET", "/api/v1/routes", "webadmin.routes", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "every route of the web server: method, path, access, summary" },
    { "GET", "/api/v1/audit", "webadmin.audit", NULL, "limit:int,before:int", S_NO_BODY, NULL, NULL, NULL,
      "the audit log, newest first (?limit=, ?before=SEQ)" },
    { "GET", "/api/v1/admins", "webadmin.admin.list", NULL, NULL, S_NO_BODY, NULL, NULL, NULL,
      "the administrator accounts and their token ids" },
    { "POST", "/api/v1/admins", "webadmin.admin.add", NULL, NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "add an administrator account {name, password} (cluster-wide)" },
    { "DELETE", "/api/v1/admins/{}", "webadmin.admin.remove", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "remove an administrator account and its tokens" },
    { "PUT", "/api/v1/admins/{}/password", "webadmin.admin.passwd", "name", NULL, S_BODY_NEEDED, NULL, NULL, NULL,
      "set an administrator's password {password}" },
    { "POST", "/api/v1/admins/{}/tokens", "webadmin.admin.token", "name", NULL, S_NO_BODY, NULL, NULL, NULL,
      "make an API token for an account (the token is in this answer only)" },
    { "DELETE", "/api/v1/tokens/{}", "webadmin.admin.token.revoke", "id", NULL, S_NO_BODY, NULL, NULL, NULL,
      "revoke an API token by its id" },
};
// clang-format on
#define S_API_COUNT (sizeof s_api / sizeof s_api [0])

static web_route_t s_routes [S_API_COUNT + 1];

// ---------------------------------------------------------------------------
//  Errors

static bool
s_has (const char *text, const char *part)
{
    return strstr (text, part) != NULL;
}

unsigned
api_status_for (const char *text)
{
    if (!text)
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (s_has (text, "is not running") || s_has (text, "no actor serves") || s_has (text, "timed out")
        || s_has (text, "did not answer") || strncmp (text, "busy", 4) == 0 || s_has (text, "could not be sent")
        || strncmp (text, "unknown command", 15) == 0 || s_has (text, "still being loaded"))
        return MHD_HTTP_SERVICE_UNAVAILABLE;
    if (s_has (text, "request too large"))
        return MHD_HTTP_CONTENT_TOO_LARGE;
    if (s_has (text, "unknown key '") || s_has (text, "no alarm with uuid") || s_has (text, "no actor named")
        || s_has (text, ": no account '") || s_has (text, "no token with id") || s_has (text, "no credentials for")
        || s_has (text, "no installed key with serial") || s_has (text, "no such FindMe account"))
        return MHD_HTTP_NOT_FOUND;
    if (s_has (text, "not the configuration primary") || s_has (text, "on the configuration primary")
        || s_has (text, "runs on the configuration primary") || s_has (text, "is the configuration primary")
        || s_has (text, "already exists") || s_has (text, "not in a cluster"))
        return MHD_HTTP_CONFLICT;
    return MHD_HTTP_BAD_REQUEST;
}

// ---------------------------------------------------------------------------
//  Matching a request to its line

static bool
s_match (const char *pattern, const char *path)
{
    while (*pattern && *path) {
        if (strncmp (pattern, "{}", 2) == 0) {
            size_t len = strcspn (path, "/");
            if (len == 0)
                return false;
            pattern += 2;
            path += len;
        }
        else if (*pattern++ != *path++)
            return false;
    }
    return *pattern == 0 && *path == 0;
}

static const s_api_t *
s_line_of (web_request_t *req)
{
    const char *method = strcmp (web_method (req), "HEAD") == 0 ? "GET" : web_method (req);
    for (size_t i = 0; i < S_API_COUNT; i++)
        if (strcmp (s_api [i].method, method) == 0 && s_match (s_api [i].pattern, web_path (req)))
            return &s_api [i];
    return NULL;
}

// ---------------------------------------------------------------------------
//  Arguments

//  Set NAME ("name", "name:int", "name:bool") in ARGS from TEXT; false
//  with the reason in WHY when TEXT is not of that type.
static bool
s_set_arg (json_t *args, const char *spec, size_t speclen, const char *text, char *why, size_t whylen)
{
    char name [64];
    const char *colon = memchr (spec, ':', speclen);
    size_t namelen = colon ? (size_t) (colon - spec) : speclen;
    snprintf (name, sizeof name, "%.*s", (int) namelen, spec);
    const char *type = colon ? colon + 1 : "";
    if (colon && strncmp (type, "int", 3) == 0) {
        char *end = NULL;
        long long value = strtoll (text, &end, 10);
        if (!*text || *end) {
            snprintf (why, whylen, "'%s' must be an integer, not '%.64s'", name, text);
            return false;
        }
        json_object_set_new (args, name, json_integer (value));
    }
    else if (colon && strncmp (type, "bool", 4) == 0) {
        bool yes = strcmp (text, "true") == 0 || strcmp (text, "1") == 0;
        if (!yes && strcmp (text, "false") != 0 && strcmp (text, "0") != 0) {
            snprintf (why, whylen, "'%s' must be true or false, not '%.64s'", name, text);
            return false;
        }
        json_object_set_new (args, name, json_boolean (yes));
    }
    else
        json_object_set_new (args, name, json_string (text));
    return true;
}

//  The command's arguments for REQ by LINE, or NULL with the reason in WHY
static json_t *
s_args (web_request_t *req, const s_api_t *line, char *why, size_t whylen)
{
    json_t *args = json_object ();
    if (line->body != S_NO_BODY) {
        size_t len = 0;
        web_body (req, &len);
        json_t *body = len ? web_body_json (req) : NULL;
        if (len && !json_is_object (body)) {
            snprintf (why, whylen, "the request body must be a JSON object");
            json_decref (args);
            return NULL;
        }
        if (!body && line->body == S_BODY_NEEDED) {
            snprintf (why, whylen, "a JSON object is required as the request body (Content-Type: application/json)");
            json_decref (args);
            return NULL;
        }
        if (body)
            json_object_update (args, body);
    }
    const char *spec = line->query;
    while (spec && *spec) {
        size_t len = strcspn (spec, ",");
        char name [64];
        snprintf (name, sizeof name, "%.*s", (int) strcspn (spec, ",:"), spec);
        const char *text = web_query (req, name);
        if (text && !s_set_arg (args, spec, len, text, why, whylen)) {
            json_decref (args);
            return NULL;
        }
        spec += len + (spec [len] == ',');
    }
    spec = line->params;
    for (int n = 0; spec && *spec; n++) {
        size_t len = strcspn (spec, ",");
        const char *text = web_param (req, n);
        if (text && !s_set_arg (args, spec, len, text, why, whylen)) {
            json_decref (args);
            return NULL;
        }
        spec += len + (spec [len] == ',');
    }
    if (line->fixed) {
        json_t *fixed = json_loads (line->fixed, 0, NULL);
        json_object_update (args, fixed);
        json_decref (fixed);
    }
    return args;
}

//  ARGS as the audit log's detail: compact JSON without the secrets and
//  the line's hidden arguments, at most S_DETAIL_MAX bytes; a new string
static char *
s_detail (const s_api_t *line, json_t *args)
{
    json_t *copy = json_copy (args);
    for (int i = 0; s_secrets [i]; i++)
        json_object_del (copy, s_secrets [i]);
    const char *hide = line->hide;
    while (hide && *hide) {
        size_t len = strcspn (hide, ",");
        char name [64];
        snprintf (name, sizeof name, "%.*s", (int) len, hide);
        json_object_del (copy, name);
        hide += len + (hide [len] == ',');
    }
    char *text = json_dumps (copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref (copy);
    if (text && strlen (text) > S_DETAIL_MAX)
        strcpy (text + S_DETAIL_MAX - 3, "...");
    return text;
}

// ---------------------------------------------------------------------------
//  The handler

typedef struct {
    const s_api_t *line;
    char *detail;    //  for the audit log, when the request changes something
    char *key;       //  what PICK looks for
} s_call_t;

static void
s_call_free (void *arg)
{
    s_call_t *call = (s_call_t *) arg;
    free (call->detail);
    free (call->key);
    free (call);
}

static void s_on_reply (web_request_t *req, bool ok, json_t *body, void *arg);

static void
s_pick (web_request_t *req, const char *list, const char *field, const char *key, json_t *body, const char *what)
{
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (body, list), i, item)
        if (strcmp (json_string_value (json_object_get (item, field))
                        ? json_string_value (json_object_get (item, field))
                        : "",
                    key)
            == 0) {
            web_json (req, MHD_HTTP_OK, json_incref (item));
            return;
        }
    web_error (req, MHD_HTTP_NOT_FOUND, "%s '%.100s'", what, key);
}

static void
s_pick_actor (web_request_t *req, const char *key, json_t *body)
{
    s_pick (req, "actors", "name", key, body, "no actor named");
}

static void
s_pick_alarm (web_request_t *req, const char *key, json_t *body)
{
    s_pick (req, "alarms", "uuid", key, body, "no alarm with uuid");
}

static void
s_on_reply (web_request_t *req, bool ok, json_t *body, void *arg)
{
    (void) arg;
    s_call_t *call = (s_call_t *) web_data (req);
    const char *error = ok ? NULL : json_string_value (json_object_get (body, "error"));
    if (!ok && !error)
        error = "the actor answered an error without a message";
    if (call->detail && json_is_true (json_object_get (body, "secret"))) {
        //  The value of a secret key is not kept
        json_t *detail = json_loads (call->detail, 0, NULL);
        json_object_del (detail, "value");
        char *text = json_dumps (detail, JSON_COMPACT | JSON_SORT_KEYS);
        webadmin_audit_request (req, call->line->command, text ? text : "", error);
        free (text);
        json_decref (detail);
    }
    else if (call->detail)
        webadmin_audit_request (req, call->line->command, call->detail, error);
    if (!ok)
        web_error (req, api_status_for (error), "%s", error);
    else if (call->line->pick)
        call->line->pick (req, call->key, body);
    else
        web_json (req, MHD_HTTP_OK, json_incref (body));
}

static void
s_handle (web_request_t *req)
{
    const s_api_t *line = s_line_of (req);
    if (!line) {
        web_error (req, MHD_HTTP_NOT_FOUND, "not found: %s", web_path (req));
        return;
    }
    char why [256];
    json_t *args = s_args (req, line, why, sizeof why);
    bool changes = strcmp (line->method, "GET") != 0;
    if (!args) {
        if (changes)
            webadmin_audit_request (req, line->command, "", why);
        web_error (req, MHD_HTTP_BAD_REQUEST, "%s", why);
        return;
    }
    s_call_t *call = calloc (1, sizeof *call);
    if (!call) {
        json_decref (args);
        web_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    call->line = line;
    if (changes)
        call->detail = s_detail (line, args);
    if (line->pick && web_param (req, 0))
        call->key = strdup (web_param (req, 0));
    if (line->pick) {
        //  The list command takes no key
        const char *name = line->params;
        char field [64];
        snprintf (field, sizeof field, "%.*s", (int) strcspn (name, ",:"), name);
        json_object_del (args, field);
    }
    web_set_data (req, call, s_call_free);
    web_call (req, line->command, args, s_on_reply, NULL);
}

int
api_routes (webadmin_t *web)
{
    for (size_t i = 0; i < S_API_COUNT; i++)
        s_routes [i] = (web_route_t){ s_api [i].method, s_api [i].pattern, WEB_API, s_handle, s_api [i].summary };
    s_routes [S_API_COUNT] = (web_route_t){ NULL, NULL, 0, NULL, NULL };
    return web_routes_add (web, s_routes);
}
