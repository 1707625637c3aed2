/*  cw_bootstrap.c - load and validate the bootstrap file (libconfig).

    The file is parsed by libconfig, which reports syntax errors with their
    line. Each known setting is then read with a typed getter that checks
    type and range and, on failure, writes "FILE:LINE: key 'a.b': <what is
    allowed>". Every group is scanned for names we do not know, which are
    passed to the warning callback. Paths are made absolute (relative to
    the file's folder) and "${runtime_dir}" / "${state_dir}" are expanded.
*/
#include "cw_bootstrap.h"
#include "cw_log.h"

#include <libconfig.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *file;
    char *err;
    size_t errlen;
    cw_bootstrap_warn_fn *warn;
    void *warn_arg;
    char *dir;    //  folder of the file, for relative paths
} s_loader_t;

static const char *s_default_actors [] = { "alarms", "replication", "licensing", "tms", "routing", "webadmin" };

// ---------------------------------------------------------------------------
//  Error and warning helpers

static int
s_fail (s_loader_t *self, const config_setting_t *setting, const char *key, const char *fmt, ...)
{
    char what [512];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    int line = setting ? config_setting_source_line (setting) : 0;
    if (line > 0)
        snprintf (self->err, self->errlen, "%s:%d: key '%s': %s", self->file, line, key, what);
    else
        snprintf (self->err, self->errlen, "%s: key '%s': %s", self->file, key, what);
    return -1;
}

static void
s_warn (s_loader_t *self, const config_setting_t *setting, const char *fmt, ...)
{
    char what [512], message [700];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    snprintf (message, sizeof message, "%s:%d: %s", self->file, setting ? config_setting_source_line (setting) : 0,
              what);
    if (self->warn)
        self->warn (message, self->warn_arg);
    else
        cw_warn ("%s", message);
}

//  Warn about every member of GROUP not named in KNOWN (NULL-terminated).
static void
s_check_unknown (s_loader_t *self, const config_setting_t *group, const char *prefix, const char *const *known)
{
    if (!group)
        return;
    int count = config_setting_length (group);
    for (int i = 0; i < count; i++) {
        config_setting_t *member = config_setting_get_elem (group, i);
        const char *name = config_setting_name (member);
        if (!name)
            continue;
        bool found = false;
        for (int k = 0; known [k]; k++)
            if (strcmp (known [k], name) == 0)
                found = true;
        if (!found)
            s_warn (self, member, "unknown key '%s%s%s' ignored", prefix, *prefix ? "." : "", name);
    }
}

// ---------------------------------------------------------------------------
//  Typed getters: 0 = ok (or absent: default kept), -1 = bad value

static int
s_get_string (s_loader_t *self, const config_setting_t *group, const char *prefix, const char *name, char **value,
              const char *dflt)
{
    char key [128];
    snprintf (key, sizeof key, "%s.%s", prefix, name);
    config_setting_t *setting = group ? config_setting_get_member (group, name) : NULL;
    const char *text = dflt;
    if (setting) {
        if (config_setting_type (setting) != CONFIG_TYPE_STRING)
            return s_fail (self, setting, key, "must be a string in double quotes");
        text = config_setting_get_string (setting);
    }
    free (*value);
    *value = strdup (text ? text : "");
    return 0;
}

static int
s_get_int (s_loader_t *self, const config_setting_t *group, const char *prefix, const char *name, int *value, int dflt,
           int min, int max)
{
    char key [128];
    snprintf (key, sizeof key, "%s.%s", prefix, name);
    config_setting_t *setting = group ? config_setting_get_member (group, name) : NULL;
    *value = dflt;
    if (!setting)
        return 0;
    int type = config_setting_type (setting);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return s_fail (self, setting, key, "must be an integer %d..%d", min, max);
    long long number = config_setting_get_int64 (setting);
    if (number < min || number > max)
        return s_fail (self, setting, key, "must be an integer %d..%d (got %lld)", min, max, number);
    *value = (int) number;
    return 0;
}

static int
s_get_enum (s_loader_t *self, const config_setting_t *group, const char *prefix, const char *name, char **value,
            const char *dflt, const char *const *allowed)
{
    if (s_get_string (self, group, prefix, name, value, dflt))
        return -1;
    for (int i = 0; allowed [i]; i++)
        if (strcmp (allowed [i], *value) == 0)
            return 0;
    char key [128], list [256] = "";
    snprintf (key, sizeof key, "%s.%s", prefix, name);
    for (int i = 0; allowed [i]; i++) {
        strncat (list, i ? ", " : "", sizeof list - strlen (list) - 1);
        strncat (list, allowed [i], sizeof list - strlen (list) - 1);
    }
    return s_fail (self, group ? config_setting_get_member (group, name) : NULL, key,
                   "'%s' is not allowed; allowed: %s", *value, list);
}

// ---------------------------------------------------------------------------
//  Paths

//  Replace ${runtime_dir} / ${state_dir} in TEXT; returns a new string.
static char *
s_expand (const char *text, const cw_bootstrap_t *bootstrap)
{
    char out [PATH_MAX * 2] = "";
    const char *cursor = text;
    while (*cursor && strlen (out) < sizeof out - PATH_MAX) {
        if (strncmp (cursor, "${runtime_dir}", 14) == 0) {
            strncat (out, bootstrap->node.runtime_dir, sizeof out - strlen (out) - 1);
            cursor += 14;
        }
        else if (strncmp (cursor, "${state_dir}", 12) == 0) {
            strncat (out, bootstrap->node.state_dir, sizeof out - strlen (out) - 1);
            cursor += 12;
        }
        else {
            size_t len = strlen (out);
            out [len] = *cursor++;
            out [len + 1] = 0;
        }
    }
    return strdup (out);
}

//  Make PATH (owned, replaced) absolute relative to the file's folder.
static void
s_absolute (s_loader_t *self, char **path, const cw_bootstrap_t *bootstrap)
{
    char *expanded = s_expand (*path, bootstrap);
    free (*path);
    if (*expanded && *expanded != '/') {
        char joined [PATH_MAX];
        snprintf (joined, sizeof joined, "%s/%s", self->dir, expanded);
        char resolved [PATH_MAX];
        //  realpath fails for folders that do not exist yet: keep the join
        free (expanded);
        expanded = strdup (realpath (joined, resolved) ? resolved : joined);
    }
    *path = expanded;
}

static void
s_expand_in_place (char **text, const cw_bootstrap_t *bootstrap)
{
    char *expanded = s_expand (*text, bootstrap);
    free (*text);
    *text = expanded;
}

static int
s_check_endpoint (s_loader_t *self, const config_setting_t *group, const char *key, const char *endpoint,
                  bool allow_empty)
{
    if (allow_empty && !*endpoint)
        return 0;
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "tcp://", 6) == 0) {
        if (strncmp (endpoint, "ipc://", 6) == 0 && strlen (endpoint) - 6 > 100)
            return s_fail (self, group, key, "ipc path '%s' is longer than 100 characters", endpoint + 6);
        return 0;
    }
    return s_fail (self, group, key, "'%s' is not an endpoint; expected ipc://PATH or tcp://ADDRESS:PORT%s", endpoint,
                   allow_empty ? " or \"\"" : "");
}

// ---------------------------------------------------------------------------
//  Sections

static int
s_load_node (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *node = config_lookup (cfg, "node");
    static const char *const known [] = { "name", "type", "runtime_dir", "state_dir", "log_level", NULL };
    static const char *const types [] = { "core", "edge", NULL };
    static const char *const levels [] = { "error", "warn", "info", "debug", NULL };
    s_check_unknown (self, node, "node", known);
    if (s_get_string (self, node, "node", "name", &out->node.name, "peer1")
        || s_get_enum (self, node, "node", "type", &out->node.type, "core", types)
        || s_get_string (self, node, "node", "runtime_dir", &out->node.runtime_dir, "/run/causeway")
        || s_get_string (self, node, "node", "state_dir", &out->node.state_dir, "/var/lib/causeway")
        || s_get_enum (self, node, "node", "log_level", &out->node.log_level, "info", levels))
        return -1;
    size_t len = strlen (out->node.name);
    if (len == 0 || len > 63)
        return s_fail (self, config_setting_get_member (node, "name"), "node.name", "must be 1..63 characters");
    if (!*out->node.runtime_dir || !*out->node.state_dir)
        return s_fail (self, node, "node.runtime_dir", "runtime_dir and state_dir must not be empty");
    s_absolute (self, &out->node.runtime_dir, out);
    s_absolute (self, &out->node.state_dir, out);
    return 0;
}

static int
s_load_control (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *control = config_lookup (cfg, "control");
    static const char *const known [] = { "endpoint", "curve_endpoint", "authorized_keys_dir", NULL };
    s_check_unknown (self, control, "control", known);
    if (s_get_string (self, control, "control", "endpoint", &out->control.endpoint, "ipc://${runtime_dir}/control")
        || s_get_string (self, control, "control", "curve_endpoint", &out->control.curve_endpoint, "")
        || s_get_string (self, control, "control", "authorized_keys_dir", &out->control.authorized_keys_dir, ""))
        return -1;
    s_expand_in_place (&out->control.endpoint, out);
    s_expand_in_place (&out->control.curve_endpoint, out);
    if (*out->control.authorized_keys_dir)
        s_absolute (self, &out->control.authorized_keys_dir, out);
    if (s_check_endpoint (self, control, "control.endpoint", out->control.endpoint, false)
        || s_check_endpoint (self, control, "control.curve_endpoint", out->control.curve_endpoint, true))
        return -1;
    if (*out->control.curve_endpoint && strncmp (out->control.curve_endpoint, "tcp://", 6) != 0)
        return s_fail (self, control, "control.curve_endpoint", "must be tcp://ADDRESS:PORT or \"\"");
    if (*out->control.curve_endpoint && !*out->control.authorized_keys_dir)
        return s_fail (self, control, "control.authorized_keys_dir",
                       "must name a folder of client certificates when curve_endpoint is set");
    char broker [PATH_MAX + 16];
    snprintf (broker, sizeof broker, "ipc://%s/broker", out->node.runtime_dir);
    out->control.broker_endpoint = strdup (broker);
    return 0;
}

static int
s_load_alarms (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *alarms = config_lookup (cfg, "alarms");
    static const char *const known [] = { "publish", "heartbeat_ms", NULL };
    s_check_unknown (self, alarms, "alarms", known);
    if (s_get_int (self, alarms, "alarms", "heartbeat_ms", &out->alarms.heartbeat_ms, 5000, 10, 3600000))
        return -1;
    config_setting_t *publish = alarms ? config_setting_get_member (alarms, "publish") : NULL;
    if (!publish) {
        out->alarms.publish [0] = s_expand ("ipc://${runtime_dir}/alarms", out);
        out->alarms.publish_count = 1;
        return 0;
    }
    if (!config_setting_is_array (publish) && !config_setting_is_list (publish))
        return s_fail (self, publish, "alarms.publish", "must be a list of endpoints: [ \"ipc://...\" ]");
    int count = config_setting_length (publish);
    if (count > CW_MAX_PUBLISH)
        return s_fail (self, publish, "alarms.publish", "at most %d endpoints", CW_MAX_PUBLISH);
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (publish, i);
        if (config_setting_type (elem) != CONFIG_TYPE_STRING)
            return s_fail (self, elem, "alarms.publish", "each endpoint must be a string");
        out->alarms.publish [i] = s_expand (config_setting_get_string (elem), out);
        out->alarms.publish_count = i + 1;
        if (s_check_endpoint (self, elem, "alarms.publish", out->alarms.publish [i], false))
            return -1;
    }
    return 0;
}

static int
s_load_supervisor (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *sup = config_lookup (cfg, "supervisor");
    static const char *const known [] = {
        "intensity", "period_s", "heartbeat_ms", "heartbeat_misses", "shutdown_timeout_ms", "request_timeout_ms", NULL
    };
    s_check_unknown (self, sup, "supervisor", known);
    return s_get_int (self, sup, "supervisor", "intensity", &out->supervisor.intensity, 5, 1, 1000)
        || s_get_int (self, sup, "supervisor", "period_s", &out->supervisor.period_s, 30, 1, 86400)
        || s_get_int (self, sup, "supervisor", "heartbeat_ms", &out->supervisor.heartbeat_ms, 1000, 10, 600000)
        || s_get_int (self, sup, "supervisor", "heartbeat_misses", &out->supervisor.heartbeat_misses, 3, 1, 100)
        || s_get_int (self, sup, "supervisor", "shutdown_timeout_ms", &out->supervisor.shutdown_timeout_ms, 5000, 0,
                      600000)
        || s_get_int (self, sup, "supervisor", "request_timeout_ms", &out->supervisor.request_timeout_ms, 5000, 10,
                      600000);
}

static int
s_load_peering (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *peering = config_lookup (cfg, "peering");
    static const char *const known [] = { "address", "port", "port2", "certificate", "private_key", "ca_file", NULL };
    s_check_unknown (self, peering, "peering", known);
    if (s_get_string (self, peering, "peering", "address", &out->peering.address, "")
        || s_get_int (self, peering, "peering", "port", &out->peering.port, 4371, 1, 65535)
        || s_get_int (self, peering, "peering", "port2", &out->peering.port2, 4372, 1, 65535)
        || s_get_string (self, peering, "peering", "certificate", &out->peering.certificate, "${state_dir}/peer.crt")
        || s_get_string (self, peering, "peering", "private_key", &out->peering.private_key, "${state_dir}/peer.key")
        || s_get_string (self, peering, "peering", "ca_file", &out->peering.ca_file, "${state_dir}/ca.pem"))
        return -1;
    s_absolute (self, &out->peering.certificate, out);
    s_absolute (self, &out->peering.private_key, out);
    s_absolute (self, &out->peering.ca_file, out);
    return 0;
}

static bool
s_valid_actor_name (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name [i] >= 'a' && name [i] <= 'z') || (name [i] >= '0' && name [i] <= '9') || name [i] == '-'))
            return false;
    return true;
}

static int
s_load_actors (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *actors = config_lookup (cfg, "actors");
    if (!actors) {
        for (size_t i = 0; i < sizeof s_default_actors / sizeof *s_default_actors; i++) {
            cw_child_spec_t *spec = &out->actors [out->actor_count++];
            spec->name = strdup (s_default_actors [i]);
            spec->restart = CW_RESTART_PERMANENT;
            spec->shutdown_timeout_ms = out->supervisor.shutdown_timeout_ms;
        }
        return 0;
    }
    if (!config_setting_is_list (actors) && !config_setting_is_array (actors))
        return s_fail (self, actors, "actors", "must be a list: ( { name = \"alarms\"; ... }, ... )");
    int count = config_setting_length (actors);
    if (count > CW_MAX_ACTORS)
        return s_fail (self, actors, "actors", "at most %d actors", CW_MAX_ACTORS);
    static const char *const known [] = { "name", "restart", "shutdown_timeout_ms", "path", NULL };
    static const char *const restarts [] = { "permanent", "transient", "temporary", NULL };
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (actors, i);
        char prefix [32];
        snprintf (prefix, sizeof prefix, "actors.[%d]", i);
        if (!config_setting_is_group (elem))
            return s_fail (self, elem, prefix, "each actor must be a group { name = \"...\"; ... }");
        s_check_unknown (self, elem, prefix, known);
        cw_child_spec_t *spec = &out->actors [out->actor_count++];
        char *restart = NULL;
        int rc = s_get_string (self, elem, prefix, "name", &spec->name, "")
              || s_get_enum (self, elem, prefix, "restart", &restart, "permanent", restarts)
              || s_get_int (self, elem, prefix, "shutdown_timeout_ms", &spec->shutdown_timeout_ms,
                            out->supervisor.shutdown_timeout_ms, 0, 600000);
        if (!rc && restart)
            spec->restart = strcmp (restart, "permanent") == 0 ? CW_RESTART_PERMANENT
                          : strcmp (restart, "transient") == 0 ? CW_RESTART_TRANSIENT
                                                               : CW_RESTART_TEMPORARY;
        free (restart);
        if (rc)
            return -1;
        char key [64];
        snprintf (key, sizeof key, "%s.name", prefix);
        if (!s_valid_actor_name (spec->name))
            return s_fail (self, elem, key, "'%s' is not a valid actor name (1..32 of a-z, 0-9, -)", spec->name);
        for (int j = 0; j < out->actor_count - 1; j++)
            if (strcmp (out->actors [j].name, spec->name) == 0)
                return s_fail (self, elem, key, "actor '%s' is listed twice", spec->name);
        config_setting_t *path = config_setting_get_member (elem, "path");
        if (path) {
            if (s_get_string (self, elem, prefix, "path", &spec->path, ""))
                return -1;
            if (!*spec->path) {
                free (spec->path);
                spec->path = NULL;
            }
            else
                s_absolute (self, &spec->path, out);
        }
    }
    return 0;
}

// ---------------------------------------------------------------------------

cw_bootstrap_t *
cw_bootstrap_load (const char *file, char *err, size_t errlen, cw_bootstrap_warn_fn *warn, void *warn_arg)
{
    char dummy [8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err [0] = 0;
    if (!file || !*file)
        file = CW_DEFAULT_CONFIG;
    char absolute [PATH_MAX];
    if (!realpath (file, absolute)) {
        snprintf (err, errlen, "%s: cannot read the bootstrap file: %s", file, strerror (errno));
        return NULL;
    }
    cw_bootstrap_t *self = calloc (1, sizeof *self);
    self->file = strdup (absolute);
    char *dir = strdup (absolute);
    char *slash = strrchr (dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    s_loader_t loader = { absolute, err, errlen, warn, warn_arg, dir };

    config_t cfg;
    config_init (&cfg);
    int rc = 0;
    if (!config_read_file (&cfg, absolute)) {
        if (config_error_type (&cfg) == CONFIG_ERR_FILE_IO)
            snprintf (err, errlen, "%s: cannot read the bootstrap file", absolute);
        else
            snprintf (err, errlen, "%s:%d: %s", config_error_file (&cfg) ? config_error_file (&cfg) : absolute,
                      config_error_line (&cfg), config_error_text (&cfg));
        rc = -1;
    }
    if (!rc) {
        static const char *const known [] = { "node", "control", "alarms", "supervisor", "peering", "actors", NULL };
        s_check_unknown (&loader, config_root_setting (&cfg), "", known);
        rc = s_load_node (&loader, &cfg, self) || s_load_control (&loader, &cfg, self)
          || s_load_alarms (&loader, &cfg, self) || s_load_supervisor (&loader, &cfg, self)
          || s_load_peering (&loader, &cfg, self) || s_load_actors (&loader, &cfg, self);
    }
    config_destroy (&cfg);
    free (dir);
    if (rc)
        cw_bootstrap_destroy (&self);
    return self;
}

void
cw_bootstrap_destroy (cw_bootstrap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_bootstrap_t *self = *self_p;
    free (self->file);
    free (self->node.name);
    free (self->node.type);
    free (self->node.runtime_dir);
    free (self->node.state_dir);
    free (self->node.log_level);
    free (self->control.endpoint);
    free (self->control.curve_endpoint);
    free (self->control.authorized_keys_dir);
    free (self->control.broker_endpoint);
    for (int i = 0; i < self->alarms.publish_count; i++)
        free (self->alarms.publish [i]);
    free (self->peering.address);
    free (self->peering.certificate);
    free (self->peering.private_key);
    free (self->peering.ca_file);
    for (int i = 0; i < self->actor_count; i++) {
        free (self->actors [i].name);
        free (self->actors [i].path);
    }
    free (self);
    *self_p = NULL;
}

const cw_child_spec_t *
cw_bootstrap_actor (const cw_bootstrap_t *self, const char *name)
{
    for (int i = 0; self && name && i < self->actor_count; i++)
        if (strcmp (self->actors [i].name, name) == 0)
            return &self->actors [i];
    return NULL;
}

const char *
cw_restart_name (cw_restart_t restart)
{
    return restart == CW_RESTART_PERMANENT ? "permanent" : restart == CW_RESTART_TRANSIENT ? "transient" : "temporary";
}
