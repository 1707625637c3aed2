/*  cw_bootstrap.c - load and validate the bootstrap file (libconfig).

    The file is parsed by libconfig, which reports syntax errors with their
    line. Each known setting is then read with a typed getter that checks
    type and range and, on failure, writes "FILE:LINE: key 'a.b': <what is
    allowed> (got <value>)". Every group is scanned for names we do not
    know, which are passed to the warning callback. Paths are made absolute
    (relative to the file's folder) and "${runtime_dir}" / "${state_dir}"
    are expanded; any other "${...}" is an error. The issuers' public key
    files of licensing.issuers are read at load (cw_license.h), so a
    missing or bad one is refused like any bad value.

    Then what would break the node although each value is well formed is
    refused: folders in the filesystem root or a kernel filesystem, a path
    that is a file where a folder is needed, a ZeroMQ endpoint that cannot
    be bound (a port out of range, a host that is not an address), two
    endpoints of the node that would bind the same socket, a peering
    address that is not an IP address, missing certificate files, SIP
    listeners that are not TRANSPORT:IP:PORT or bind the same socket twice.
*/
#include "cw_bootstrap.h"
#include "cw_license.h"
#include "cw_log.h"

#include <libconfig.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
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

//  The longest path of an ipc:// endpoint: sun_path less its final NUL
#define S_IPC_MAX (sizeof (((struct sockaddr_un *) 0)->sun_path) - 1)
//  The longest socket name causewayd and the actors put in runtime_dir
#define S_RUNTIME_SOCKET "/control"

// ---------------------------------------------------------------------------
//  Error and warning helpers

static int s_fail (s_loader_t *self, const config_setting_t *setting, const char *key, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (s_loader_t *self, const config_setting_t *setting, const char *key, const char *fmt, ...)
{
    char what [1024];
    va_list args;
    va_start (args, fmt);
    vsnprintf (what, sizeof what, fmt, args);
    va_end (args);
    int line = setting ? config_setting_source_line (setting) : 0;
    //  A setting from an @include'd file names that file
    const char *file = setting && config_setting_source_file (setting) ? config_setting_source_file (setting)
                                                                       : self->file;
    if (line > 0)
        snprintf (self->err, self->errlen, "%s:%d: key '%s': %s", file, line, key, what);
    else
        snprintf (self->err, self->errlen, "%s: key '%s': %s", file, key, what);
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

//  The setting NAME of GROUP for an error's line: the member when it is
//  written, else the group, else NULL (a default from no line at all).
static config_setting_t *
s_where (config_setting_t *group, const char *name)
{
    config_setting_t *member = group ? config_setting_get_member (group, name) : NULL;
    return member ? member : group;
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
    return s_fail (self, group ? config_setting_get_member (group, name) : NULL, key, "must be one of %s (got '%s')",
                   list, *value);
}

// ---------------------------------------------------------------------------
//  Variables and paths

//  Replace ${runtime_dir} / ${state_dir} in TEXT; *OUT is a new string.
//  Any other ${NAME}, or a "${" never closed, fails naming it.
static int
s_expand (s_loader_t *self, const config_setting_t *setting, const char *key, const char *text,
          const cw_bootstrap_t *bootstrap, char **out)
{
    *out = NULL;
    char *buffer = NULL;
    size_t size = 0;
    FILE *stream = open_memstream (&buffer, &size);
    if (!stream)
        return s_fail (self, setting, key, "out of memory");
    const char *cursor = text;
    while (*cursor) {
        if (cursor [0] != '$' || cursor [1] != '{') {
            fputc (*cursor++, stream);
            continue;
        }
        const char *name = cursor + 2;
        const char *close = strchr (name, '}');
        const char *value = NULL;
        if (close && close - name == 11 && strncmp (name, "runtime_dir", 11) == 0)
            value = bootstrap->node.runtime_dir;
        else if (close && close - name == 9 && strncmp (name, "state_dir", 9) == 0)
            value = bootstrap->node.state_dir;
        if (!value) {
            fclose (stream);
            free (buffer);
            if (!close)
                return s_fail (self, setting, key,
                               "must close '${' with '}': the variables are ${runtime_dir} "
                               "and ${state_dir} (got '%s')",
                               text);
            return s_fail (self, setting, key,
                           "must use only the variables ${runtime_dir} and ${state_dir} (got '%s': undefined "
                           "variable '${%.*s}')",
                           text, (int) (close - name), name);
        }
        fputs (value, stream);
        cursor = close + 1;
    }
    fclose (stream);
    *out = buffer;
    return 0;
}

static int
s_expand_in_place (s_loader_t *self, const config_setting_t *setting, const char *key, char **text,
                   const cw_bootstrap_t *bootstrap)
{
    char *expanded;
    if (s_expand (self, setting, key, *text, bootstrap, &expanded))
        return -1;
    free (*text);
    *text = expanded;
    return 0;
}

//  Expand PATH (owned, replaced) and make it absolute relative to the
//  file's folder.
static int
s_absolute (s_loader_t *self, const config_setting_t *setting, const char *key, char **path,
            const cw_bootstrap_t *bootstrap)
{
    if (s_expand_in_place (self, setting, key, path, bootstrap))
        return -1;
    if (**path && **path != '/') {
        char joined [PATH_MAX];
        snprintf (joined, sizeof joined, "%s/%s", self->dir, *path);
        char resolved [PATH_MAX];
        //  realpath fails for folders that do not exist yet: keep the join
        free (*path);
        *path = strdup (realpath (joined, resolved) ? resolved : joined);
    }
    return 0;
}

//  The absolute PATH without ".", ".." and repeated slashes, into OUT.
static void
s_normalize (const char *path, char *out, size_t size)
{
    char buffer [PATH_MAX];
    snprintf (buffer, sizeof buffer, "%s", path);
    size_t used = 0;
    out [0] = 0;
    char *save = NULL;
    for (char *part = strtok_r (buffer, "/", &save); part; part = strtok_r (NULL, "/", &save)) {
        if (strcmp (part, ".") == 0)
            continue;
        if (strcmp (part, "..") == 0) {
            char *slash = strrchr (out, '/');
            if (slash)
                *slash = 0;
            used = strlen (out);
            continue;
        }
        int length = snprintf (out + used, size - used, "/%s", part);
        if (length < 0 || (size_t) length >= size - used)
            break;
        used += (size_t) length;
    }
    if (!*out)
        snprintf (out, size, "/");
}

//  PATH (absolute) normalized, with the longest part of it that exists
//  resolved by realpath, so that a symbolic link into /proc, or two
//  spellings of one folder, are seen for what they are.
static void
s_canonical (const char *path, char *out, size_t size)
{
    char lexical [PATH_MAX], prefix [PATH_MAX];
    s_normalize (path, lexical, sizeof lexical);
    snprintf (prefix, sizeof prefix, "%s", lexical);
    while (true) {
        char resolved [PATH_MAX];
        if (realpath (prefix, resolved)) {
            char joined [PATH_MAX * 2 + 2];
            snprintf (joined, sizeof joined, "%s/%s", resolved, lexical + strlen (prefix));
            s_normalize (joined, out, size);
            return;
        }
        char *slash = strrchr (prefix, '/');
        if (!slash || strcmp (prefix, "/") == 0)
            break;
        if (slash == prefix)
            slash [1] = 0;
        else
            *slash = 0;
    }
    snprintf (out, size, "%s", lexical);
}

//  Whether PATH is ROOT or inside it (both normalized, ROOT not "/").
static bool
s_under (const char *path, const char *root)
{
    size_t length = strlen (root);
    return strncmp (path, root, length) == 0 && (path [length] == 0 || path [length] == '/');
}

//  A folder of the node (KEY, absolute PATH) that causewayd creates and
//  writes into: not the filesystem root, not in /proc, /sys or /dev
//  (folders in the /dev/shm tmpfs are fine), and where it or a folder
//  above it exists, a folder. A path we may not look into is left to
//  causewayd, which says why it cannot create it.
static int
s_check_folder (s_loader_t *self, const config_setting_t *setting, const char *key, const char *path)
{
    char real [PATH_MAX], seen [PATH_MAX + 16] = "";
    s_canonical (path, real, sizeof real);
    if (strcmp (real, path) != 0)
        snprintf (seen, sizeof seen, ", which is '%s'", real);
    if (strcmp (real, "/") == 0)
        return s_fail (self, setting, key,
                       "must be a folder for the node's files, not the filesystem root (got '%s'%s)", path, seen);
    bool shm = s_under (real, "/dev/shm") && strcmp (real, "/dev/shm") != 0;
    if (s_under (real, "/proc") || s_under (real, "/sys") || (s_under (real, "/dev") && !shm))
        return s_fail (self, setting, key,
                       "must be a folder for the node's files, not in /proc, /sys or /dev "
                       "(got '%s'%s)",
                       path, seen);
    char probe [PATH_MAX];
    snprintf (probe, sizeof probe, "%s", real);
    while (true) {
        struct stat st;
        if (stat (probe, &st) == 0) {
            if (S_ISDIR (st.st_mode))
                return 0;
            if (strcmp (probe, real) == 0)
                return s_fail (self, setting, key, "must be a folder (got '%s', which exists and is not a folder)",
                               path);
            return s_fail (self, setting, key, "must be a folder that can be created (got '%s': '%s' is not a folder)",
                           path, probe);
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return 0;
        char *slash = strrchr (probe, '/');
        if (!slash || slash == probe)
            return 0;
        *slash = 0;
    }
}

//  A file the node reads (KEY, absolute PATH): where it exists, a regular
//  file, and no part of the path above it a file.
static int
s_check_file (s_loader_t *self, const config_setting_t *setting, const char *key, const char *path)
{
    struct stat st;
    if (stat (path, &st) == 0) {
        if (!S_ISREG (st.st_mode))
            return s_fail (self, setting, key, "must be a file (got '%s', which is %s)", path,
                           S_ISDIR (st.st_mode) ? "a folder" : "not a regular file");
        return 0;
    }
    if (errno == ENOTDIR)
        return s_fail (self, setting, key, "must be a file in a folder (got '%s': a part of the path is a file)", path);
    return 0;
}

// ---------------------------------------------------------------------------
//  Endpoints: each one checked as the ZeroMQ socket that binds it would see
//  it, then every two of the node compared

typedef struct {
    const char *key;                    //  for the message: "alarms.publish"
    const config_setting_t *setting;    //  for its line (may be NULL)
    const char *text;                   //  the endpoint, expanded
    bool connect;                       //  clients connect to this very text
    bool tcp;
    char where [PATH_MAX];    //  ipc: canonical path or @NAME; tcp: host
    int family;               //  tcp: AF_INET, AF_INET6, 0 = any ("*"), -1 = interface name
    unsigned char ip [16];
    int port;
} s_endpoint_t;

static bool
s_interface_exists (const char *name)
{
    return strlen (name) < IF_NAMESIZE && if_nametoindex (name) != 0;
}

static int
s_parse_ipc (s_loader_t *self, s_endpoint_t *ep, const cw_bootstrap_t *out)
{
    const char *path = ep->text + 6;
    size_t length = strlen (path);
    if (length == 0 || strcmp (path, "*") == 0)
        return s_fail (self, ep->setting, ep->key, "must be ipc://PATH with a path of its own (got '%s')", ep->text);
    if (length > S_IPC_MAX)
        return s_fail (self, ep->setting, ep->key,
                       "must be ipc://PATH with PATH at most %zu characters, the limit of a Unix socket path "
                       "(got %zu: '%s')",
                       (size_t) S_IPC_MAX, length, ep->text);
    if (path [0] == '@') {
        snprintf (ep->where, sizeof ep->where, "%s", path);
        return 0;
    }
    if (path [0] != '/')
        return s_fail (self, ep->setting, ep->key,
                       "must be ipc:// and an absolute path, such as ipc:///run/causeway/control (got '%s')", ep->text);
    char runtime [PATH_MAX], state [PATH_MAX], lock [PATH_MAX + 16];
    s_canonical (path, ep->where, sizeof ep->where);
    s_canonical (out->node.runtime_dir, runtime, sizeof runtime);
    s_canonical (out->node.state_dir, state, sizeof state);
    snprintf (lock, sizeof lock, "%s/causewayd.lock", runtime);
    if (strcmp (ep->where, runtime) == 0 || strcmp (ep->where, state) == 0 || strcmp (ep->where, lock) == 0)
        return s_fail (self, ep->setting, ep->key,
                       "must be a path for a socket, not node.runtime_dir, node.state_dir or causewayd's lock file "
                       "(got '%s')",
                       ep->text);
    //  ZeroMQ deletes whatever is at the path before it binds
    struct stat st;
    if (stat (ep->where, &st) == 0 && !S_ISSOCK (st.st_mode))
        return s_fail (self, ep->setting, ep->key,
                       "must be a path free for a socket (got '%s': '%s' exists and is not a socket, and binding "
                       "would delete it)",
                       ep->text, ep->where);
    //  The folder must exist, unless causewayd creates it at start
    char folder [PATH_MAX];
    snprintf (folder, sizeof folder, "%s", ep->where);
    char *slash = strrchr (folder, '/');
    if (slash == folder)
        slash [1] = 0;
    else if (slash)
        *slash = 0;
    if (strcmp (folder, "/") == 0 || s_under (runtime, folder) || s_under (state, folder))
        return 0;
    if (stat (folder, &st) == 0) {
        if (!S_ISDIR (st.st_mode))
            return s_fail (self, ep->setting, ep->key, "must be a path in a folder (got '%s': '%s' is not a folder)",
                           ep->text, folder);
    }
    else if (errno == ENOENT || errno == ENOTDIR)
        return s_fail (self, ep->setting, ep->key,
                       "must be in a folder that exists, or in node.runtime_dir or node.state_dir, which causewayd "
                       "creates (got '%s': there is no folder '%s')",
                       ep->text, folder);
    return 0;
}

static int
s_parse_tcp (s_loader_t *self, s_endpoint_t *ep)
{
    const char *rest = ep->text + 6;
    const char *colon = strrchr (rest, ':');
    if (!colon || colon == rest || (size_t) (colon - rest) >= sizeof ep->where)
        return s_fail (self, ep->setting, ep->key, "must be tcp://ADDRESS:PORT (got '%s')", ep->text);
    memcpy (ep->where, rest, (size_t) (colon - rest));
    ep->where [colon - rest] = 0;
    //  The port first, so that a message can name both when both are wrong
    const char *port = colon + 1;
    char *end = NULL;
    errno = 0;
    long number = *port >= '0' && *port <= '9' ? strtol (port, &end, 10) : 0;
    bool port_ok = end && !*end && !errno && number >= 1 && number <= 65535;
    const char *also = port_ok ? "" : " and PORT 1..65535";
    const char *host = ep->where;
    if (strcmp (host, "*") == 0) {
        if (ep->connect)
            return s_fail (self, ep->setting, ep->key,
                           "must be tcp://IP:PORT with an IPv4 address that clients connect to, not *%s (got '%s')",
                           also, ep->text);
        ep->family = 0;
    }
    else if (inet_pton (AF_INET, host, ep->ip) == 1)
        ep->family = ep->ip [0] == 0 && ep->ip [1] == 0 && ep->ip [2] == 0 && ep->ip [3] == 0 ? 0 : AF_INET;
    else if (host [0] == '[' || strchr (host, ':'))
        return s_fail (self, ep->setting, ep->key,
                       "must be tcp://ADDRESS:PORT with an IPv4 address%s: the node's ZeroMQ sockets do not enable "
                       "IPv6 (got '%s')",
                       also, ep->text);
    else if (strspn (host, "0123456789.") == strlen (host))
        return s_fail (self, ep->setting, ep->key,
                       "must be tcp://ADDRESS:PORT with ADDRESS an IPv4 address, four numbers 0..255%s (got '%s')",
                       also, ep->text);
    else if (ep->connect)
        return s_fail (self, ep->setting, ep->key,
                       "must be tcp://IP:PORT with an IPv4 address such as 127.0.0.1%s (got '%s')", also, ep->text);
    else if (s_interface_exists (host))
        ep->family = -1;
    else
        return s_fail (self, ep->setting, ep->key,
                       "must be tcp://ADDRESS:PORT with ADDRESS an IPv4 address, * or a network interface of this "
                       "host%s; a socket that binds looks no name up in DNS (got '%s')",
                       also, ep->text);
    if (!port_ok)
        return s_fail (self, ep->setting, ep->key, "must be tcp://ADDRESS:PORT with PORT 1..65535 (got '%s')",
                       ep->text);
    ep->port = (int) number;
    ep->tcp = true;
    return 0;
}

//  Check one endpoint as the socket that binds it would.
static int
s_parse_endpoint (s_loader_t *self, s_endpoint_t *ep, const cw_bootstrap_t *out)
{
    if (strncmp (ep->text, "ipc://", 6) == 0)
        return s_parse_ipc (self, ep, out);
    if (strncmp (ep->text, "tcp://", 6) == 0)
        return s_parse_tcp (self, ep);
    if (strncmp (ep->text, "inproc://", 9) == 0)
        return s_fail (self, ep->setting, ep->key,
                       "must be ipc://PATH or tcp://ADDRESS:PORT, not inproc://, which reaches only threads of one "
                       "process, and every actor is a process of its own (got '%s')",
                       ep->text);
    return s_fail (self, ep->setting, ep->key, "must be ipc://PATH or tcp://ADDRESS:PORT (got '%s')", ep->text);
}

//  Whether binding A and B would collide.
static bool
s_endpoints_clash (const s_endpoint_t *a, const s_endpoint_t *b)
{
    if (a->tcp != b->tcp)
        return false;
    if (!a->tcp)
        return strcmp (a->where, b->where) == 0;
    if (a->port != b->port)
        return false;
    if (a->family == AF_INET6 || b->family == AF_INET6)
        return a->family == b->family && memcmp (a->ip, b->ip, 16) == 0;
    if (a->family == 0 || b->family == 0)
        return true;
    if (a->family == -1 || b->family == -1)
        return a->family == b->family && strcmp (a->where, b->where) == 0;
    return memcmp (a->ip, b->ip, 4) == 0;
}

static void
s_endpoint_add (s_endpoint_t *list, int *count, const char *key, const config_setting_t *setting, const char *text,
                bool connect)
{
    s_endpoint_t *ep = &list [(*count)++];
    memset (ep, 0, sizeof *ep);
    ep->key = key;
    ep->setting = setting;
    ep->text = text;
    ep->connect = connect;
}

//  Every endpoint the node binds: each a valid one, and no two the same.
static int
s_check_endpoints (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *control = config_lookup (cfg, "control");
    config_setting_t *alarms = config_lookup (cfg, "alarms");
    config_setting_t *publish = alarms ? config_setting_get_member (alarms, "publish") : NULL;
    config_setting_t *peering = config_lookup (cfg, "peering");
    s_endpoint_t list [CW_MAX_PUBLISH + 4];
    int count = 0;
    //  In the order a clash is reported: the first of two is named
    s_endpoint_add (list, &count, "control.endpoint", s_where (control, "endpoint"), out->control.endpoint, true);
    if (*out->control.curve_endpoint)
        s_endpoint_add (list, &count, "control.curve_endpoint", s_where (control, "curve_endpoint"),
                        out->control.curve_endpoint, false);
    for (int i = 0; i < out->alarms.publish_count; i++)
        s_endpoint_add (list, &count, "alarms.publish",
                        publish ? config_setting_get_elem (publish, (unsigned) i) : alarms, out->alarms.publish [i],
                        false);
    s_endpoint_add (list, &count, "node.runtime_dir", s_where (config_lookup (cfg, "node"), "runtime_dir"),
                    out->control.broker_endpoint, false);
    if (*out->control.curve_endpoint && strncmp (out->control.curve_endpoint, "tcp://", 6) != 0)
        return s_fail (self, list [1].setting, list [1].key, "must be tcp://ADDRESS:PORT or \"\" (got '%s')",
                       out->control.curve_endpoint);
    for (int i = 0; i < count; i++)
        if (s_parse_endpoint (self, &list [i], out))
            return -1;
    //  The peer links listen on peering.address:peering.port
    if (*out->peering.address) {
        s_endpoint_t *ep = &list [count];
        s_endpoint_add (list, &count, "peering.port", s_where (peering, "port"), out->peering.address, false);
        ep->tcp = true;
        ep->port = out->peering.port;
        snprintf (ep->where, sizeof ep->where, "%s", out->peering.address);
        ep->family = inet_pton (AF_INET, ep->where, ep->ip) == 1 ? AF_INET : AF_INET6;
        if (ep->family == AF_INET6) {
            inet_pton (AF_INET6, ep->where, ep->ip);
            static const unsigned char mapped [12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
            if (memcmp (ep->ip, mapped, sizeof mapped) == 0) {
                memmove (ep->ip, ep->ip + 12, 4);
                ep->family = AF_INET;
            }
        }
    }
    for (int i = 0; i < count; i++)
        for (int j = i + 1; j < count; j++) {
            if (!s_endpoints_clash (&list [i], &list [j]))
                continue;
            char other [160];
            int line = list [j].setting ? config_setting_source_line (list [j].setting) : 0;
            if (strcmp (list [j].key, "node.runtime_dir") == 0)
                snprintf (other, sizeof other, "causewayd's broker socket");
            else if (line > 0)
                snprintf (other, sizeof other, "%s at line %d", list [j].key, line);
            else
                snprintf (other, sizeof other, "%s (default)", list [j].key);
            if (strcmp (list [j].key, "peering.port") == 0)
                return s_fail (self, list [i].setting, list [i].key,
                               "must not overlap another endpoint of the node (got '%s'; %s listens on %s port %d)",
                               list [i].text, other, list [j].where, list [j].port);
            return s_fail (self, list [i].setting, list [i].key,
                           "must not overlap another endpoint of the node (got '%s'; %s binds '%s')", list [i].text,
                           other, list [j].text);
        }
    return 0;
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
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) out->node.name [i] < 0x20 || out->node.name [i] == 0x7f)
            return s_fail (self, config_setting_get_member (node, "name"), "node.name",
                           "must be 1..63 characters, none of them a control character");
    if (!*out->node.runtime_dir || !*out->node.state_dir)
        return s_fail (self, node, "node.runtime_dir", "runtime_dir and state_dir must not be empty");
    config_setting_t *runtime = s_where (node, "runtime_dir");
    config_setting_t *state = s_where (node, "state_dir");
    //  These two define the variables: they cannot use them
    if (strstr (out->node.runtime_dir, "${"))
        return s_fail (self, runtime, "node.runtime_dir",
                       "must be a path without variables: ${runtime_dir} and "
                       "${state_dir} are these folders (got '%s')",
                       out->node.runtime_dir);
    if (strstr (out->node.state_dir, "${"))
        return s_fail (self, state, "node.state_dir",
                       "must be a path without variables: ${runtime_dir} and "
                       "${state_dir} are these folders (got '%s')",
                       out->node.state_dir);
    if (s_absolute (self, runtime, "node.runtime_dir", &out->node.runtime_dir, out)
        || s_absolute (self, state, "node.state_dir", &out->node.state_dir, out))
        return -1;
    if (s_check_folder (self, runtime, "node.runtime_dir", out->node.runtime_dir)
        || s_check_folder (self, state, "node.state_dir", out->node.state_dir))
        return -1;
    size_t longest = strlen (out->node.runtime_dir) + strlen (S_RUNTIME_SOCKET);
    if (longest > S_IPC_MAX)
        return s_fail (self, runtime, "node.runtime_dir",
                       "must be at most %zu characters, so that its sockets (%s%s) fit a Unix socket path of %zu "
                       "(got %zu: '%s')",
                       S_IPC_MAX - strlen (S_RUNTIME_SOCKET), out->node.runtime_dir, S_RUNTIME_SOCKET,
                       (size_t) S_IPC_MAX, strlen (out->node.runtime_dir), out->node.runtime_dir);
    //  The configuration store attaches cluster.db by this path in SQL
    if (strchr (out->node.state_dir, '\''))
        return s_fail (self, state, "node.state_dir", "must be a path without a single quote (got '%s')",
                       out->node.state_dir);
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
    config_setting_t *keys_dir = s_where (control, "authorized_keys_dir");
    if (s_expand_in_place (self, s_where (control, "endpoint"), "control.endpoint", &out->control.endpoint, out)
        || s_expand_in_place (self, s_where (control, "curve_endpoint"), "control.curve_endpoint",
                              &out->control.curve_endpoint, out))
        return -1;
    if (*out->control.authorized_keys_dir
        && s_absolute (self, keys_dir, "control.authorized_keys_dir", &out->control.authorized_keys_dir, out))
        return -1;
    if (*out->control.curve_endpoint && !*out->control.authorized_keys_dir)
        return s_fail (self, keys_dir, "control.authorized_keys_dir",
                       "must name a folder of client certificates when curve_endpoint is set");
    if (*out->control.curve_endpoint) {
        struct stat st;
        if (stat (out->control.authorized_keys_dir, &st) == 0 && !S_ISDIR (st.st_mode))
            return s_fail (self, keys_dir, "control.authorized_keys_dir",
                           "must be a folder of client certificates (got '%s', which is not a folder)",
                           out->control.authorized_keys_dir);
    }
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
        out->alarms.publish_count = 1;
        return s_expand (self, alarms, "alarms.publish", "ipc://${runtime_dir}/alarms", out, &out->alarms.publish [0]);
    }
    if (!config_setting_is_array (publish) && !config_setting_is_list (publish))
        return s_fail (self, publish, "alarms.publish", "must be a list of endpoints: [ \"ipc://...\" ]");
    int count = config_setting_length (publish);
    if (count > CW_MAX_PUBLISH)
        return s_fail (self, publish, "alarms.publish", "at most %d endpoints", CW_MAX_PUBLISH);
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (publish, (unsigned) i);
        if (config_setting_type (elem) != CONFIG_TYPE_STRING)
            return s_fail (self, elem, "alarms.publish", "each endpoint must be a string");
        out->alarms.publish_count = i + 1;
        if (s_expand (self, elem, "alarms.publish", config_setting_get_string (elem), out, &out->alarms.publish [i]))
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

//  Whether TEXT is an IP literal a node can cluster on: IPv4 or IPv6, not
//  a wildcard, broadcast or multicast address. 0 = ok, 1 = not an IP
//  literal, 2 = not a unicast address.
static int
s_peering_ip (const char *text)
{
    unsigned char ip [16];
    if (inet_pton (AF_INET, text, ip) == 1) {
        uint32_t value = (uint32_t) ip [0] << 24 | (uint32_t) ip [1] << 16 | (uint32_t) ip [2] << 8 | ip [3];
        return value == 0 || value == 0xffffffffu || (ip [0] & 0xf0) == 0xe0 ? 2 : 0;
    }
    if (inet_pton (AF_INET6, text, ip) == 1) {
        static const unsigned char any [16] = { 0 };
        return memcmp (ip, any, 16) == 0 || ip [0] == 0xff ? 2 : 0;
    }
    return 1;
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
    struct {
        const char *key;
        const char *name;
        char **path;
        bool needed;    //  the peer links cannot start without it
    } files [] = { { "peering.certificate", "certificate", &out->peering.certificate, true },
                   { "peering.private_key", "private_key", &out->peering.private_key, true },
                   { "peering.ca_file", "ca_file", &out->peering.ca_file, false } };
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (s_absolute (self, s_where (peering, files [i].name), files [i].key, files [i].path, out))
            return -1;
    const char *address = out->peering.address;
    if (!*address)
        return 0;
    int verdict = s_peering_ip (address);
    if (verdict == 1)
        return s_fail (self, s_where (peering, "address"), "peering.address",
                       "must be this node's IP address, an IPv4 or IPv6 literal such as 192.0.2.10 or 2001:db8::10, "
                       "or \"\" when the node is not clustered (got '%s')",
                       address);
    if (verdict == 2)
        return s_fail (self, s_where (peering, "address"), "peering.address",
                       "must be a unicast IP address of this node, not a wildcard, broadcast or multicast address "
                       "(got '%s')",
                       address);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        config_setting_t *where = s_where (peering, files [i].name);
        if (!**files [i].path && files [i].needed)
            return s_fail (self, where, files [i].key, "must name a PEM file when peering.address is set (got \"\")");
        if (**files [i].path && s_check_file (self, where, files [i].key, *files [i].path))
            return -1;
    }
    return 0;
}

//  licensing: the issuers' public key files (each read now, so that a
//  missing or bad one fails the load) and the lost-peer grace period.
static int
s_load_licensing (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *licensing = config_lookup (cfg, "licensing");
    static const char *const known [] = { "issuers", "lost_peer_grace_s", NULL };
    s_check_unknown (self, licensing, "licensing", known);
    if (s_get_int (self, licensing, "licensing", "lost_peer_grace_s", &out->licensing.lost_peer_grace_s, 259200, 1,
                   315360000))
        return -1;
    config_setting_t *issuers = licensing ? config_setting_get_member (licensing, "issuers") : NULL;
    if (!issuers)
        return 0;
    if (!config_setting_is_array (issuers) && !config_setting_is_list (issuers))
        return s_fail (self, issuers, "licensing.issuers",
                       "must be a list of issuer public key files: [ \"/etc/causeway/issuer.pub\" ]");
    int count = config_setting_length (issuers);
    if (count > CW_MAX_ISSUERS)
        return s_fail (self, issuers, "licensing.issuers", "at most %d issuer public key files (got %d)",
                       CW_MAX_ISSUERS, count);
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (issuers, (unsigned) i);
        if (config_setting_type (elem) != CONFIG_TYPE_STRING || !*config_setting_get_string (elem))
            return s_fail (self, elem, "licensing.issuers", "each issuer must be the path of an issuer.pub file");
        char **path = &out->licensing.issuers [i];
        *path = strdup (config_setting_get_string (elem));
        out->licensing.issuer_count = i + 1;
        if (s_absolute (self, elem, "licensing.issuers", path, out))
            return -1;
        //  A file this process may not read (the CLI run by another user)
        //  is left to the licensing actor, which says why it cannot
        if (access (*path, R_OK) != 0 && errno == EACCES)
            continue;
        cw_license_issuer_t issuer;
        char why [700];
        if (cw_license_issuer_load (*path, &issuer, why, sizeof why))
            return s_fail (self, elem, "licensing.issuers",
                           "must name issuer public key files (from "
                           "`causeway-license keygen DIR`: DIR/issuer.pub): %s",
                           why);
    }
    return 0;
}

//  sip.listen: each "TRANSPORT:IP:PORT" parsed into OUT; then the TLS
//  certificate and key, needed (and checked) only with a tls: listener.
static int
s_parse_sip_listener (const char *text, cw_sip_listener_t *out, char *why, size_t whylen)
{
    const char *colon = strchr (text, ':');
    size_t tlen = colon ? (size_t) (colon - text) : 0;
    if (!colon || tlen != 3 || (strncmp (text, "udp", 3) && strncmp (text, "tcp", 3) && strncmp (text, "tls", 3))) {
        snprintf (why, whylen, "the transport must be udp, tcp or tls");
        return -1;
    }
    memcpy (out->transport, text, 3);
    out->transport [3] = 0;
    const char *host = colon + 1;
    const char *port = NULL;
    size_t hlen;
    if (*host == '[') {
        const char *close = strchr (host, ']');
        if (!close || close [1] != ':') {
            snprintf (why, whylen, "an IPv6 address must be in brackets followed by :PORT");
            return -1;
        }
        host++;
        hlen = (size_t) (close - host);
        port = close + 2;
    }
    else {
        const char *last = strrchr (host, ':');
        if (!last) {
            snprintf (why, whylen, "the port is missing");
            return -1;
        }
        hlen = (size_t) (last - host);
        port = last + 1;
    }
    if (hlen == 0 || hlen >= sizeof out->address) {
        snprintf (why, whylen, "the address must be an IPv4 or IPv6 literal");
        return -1;
    }
    memcpy (out->address, host, hlen);
    out->address [hlen] = 0;
    unsigned char ip [16];
    bool v6 = inet_pton (AF_INET6, out->address, ip) == 1;
    if (inet_pton (AF_INET, out->address, ip) != 1 && !v6) {
        snprintf (why, whylen, "the address must be an IPv4 or IPv6 literal");
        return -1;
    }
    if (v6 && host [-1] != '[') {
        snprintf (why, whylen, "an IPv6 address must be in brackets: [%s]:PORT", out->address);
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long number = strtol (port, &end, 10);
    if (!*port || errno || *end || number < 1 || number > 65535) {
        snprintf (why, whylen, "the port must be 1..65535");
        return -1;
    }
    out->port = (int) number;
    return 0;
}

//  A PEM file the routing actor reads: it must exist and be a file; one
//  this process may not read (the CLI run by another user) is left to the
//  routing actor, which raises an alarm when it cannot read it.
static int
s_check_sip_file (s_loader_t *self, const config_setting_t *setting, const char *key, const char *path)
{
    if (!*path)
        return s_fail (self, setting, key, "must name a PEM file when sip.listen has a tls: listener (got \"\")");
    struct stat st;
    if (stat (path, &st) != 0) {
        if (errno == EACCES)
            return 0;
        return s_fail (self, setting, key, "must be a readable PEM file (got '%s': %s)", path, strerror (errno));
    }
    if (!S_ISREG (st.st_mode))
        return s_fail (self, setting, key, "must be a PEM file (got '%s', which is %s)", path,
                       S_ISDIR (st.st_mode) ? "a folder" : "not a regular file");
    if (access (path, R_OK) != 0 && errno != EACCES)
        return s_fail (self, setting, key, "must be a readable PEM file (got '%s': %s)", path, strerror (errno));
    return 0;
}

static int
s_load_sip (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *sip = config_lookup (cfg, "sip");
    static const char *const known [] = { "listen", "certificate", "private_key", NULL };
    if (sip && !config_setting_is_group (sip))
        return s_fail (self, sip, "sip", "must be a group: sip: { listen = [ \"udp:192.0.2.10:5060\" ]; };");
    s_check_unknown (self, sip, "sip", known);
    if (s_get_string (self, sip, "sip", "certificate", &out->sip.certificate, "")
        || s_get_string (self, sip, "sip", "private_key", &out->sip.private_key, "")
        || s_absolute (self, s_where (sip, "certificate"), "sip.certificate", &out->sip.certificate, out)
        || s_absolute (self, s_where (sip, "private_key"), "sip.private_key", &out->sip.private_key, out))
        return -1;
    config_setting_t *listen = sip ? config_setting_get_member (sip, "listen") : NULL;
    if (!listen)
        return 0;
    if (!config_setting_is_array (listen) && !config_setting_is_list (listen))
        return s_fail (self, listen, "sip.listen",
                       "must be a list of listeners: [ \"udp:192.0.2.10:5060\", \"tcp:192.0.2.10:5060\" ]");
    int count = config_setting_length (listen);
    if (count > CW_MAX_SIP_LISTENERS)
        return s_fail (self, listen, "sip.listen", "at most %d listeners (got %d)", CW_MAX_SIP_LISTENERS, count);
    bool tls = false;
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (listen, (unsigned) i);
        if (config_setting_type (elem) != CONFIG_TYPE_STRING)
            return s_fail (self, elem, "sip.listen",
                           "each listener must be a string \"TRANSPORT:IP:PORT\" such as \"udp:192.0.2.10:5060\"");
        const char *text = config_setting_get_string (elem);
        cw_sip_listener_t *listener = &out->sip.listen [i];
        char why [200];
        if (s_parse_sip_listener (text, listener, why, sizeof why))
            return s_fail (self, elem, "sip.listen",
                           "each listener must be TRANSPORT:IP:PORT with TRANSPORT udp, tcp or tls, such as "
                           "\"udp:192.0.2.10:5060\" or \"tls:[2001:db8::10]:5061\": %s (got '%s')",
                           why, text);
        for (int j = 0; j < i; j++) {
            const cw_sip_listener_t *other = &out->sip.listen [j];
            bool udp = strcmp (listener->transport, "udp") == 0, other_udp = strcmp (other->transport, "udp") == 0;
            if (udp == other_udp && other->port == listener->port && strcmp (other->address, listener->address) == 0)
                return s_fail (self, elem, "sip.listen",
                               "two listeners would bind the same %s socket %s:%d (got '%s' after '%s:%s:%d')",
                               udp ? "UDP" : "TCP", listener->address, listener->port, text, other->transport,
                               other->address, other->port);
        }
        out->sip.listen_count = i + 1;
        if (strcmp (listener->transport, "tls") == 0)
            tls = true;
    }
    if (tls
        && (s_check_sip_file (self, s_where (sip, "certificate"), "sip.certificate", out->sip.certificate)
            || s_check_sip_file (self, s_where (sip, "private_key"), "sip.private_key", out->sip.private_key)))
        return -1;
    return 0;
}

//  webadmin: HTTPS listen addresses (IP:PORT), plain-HTTP redirect
//  addresses, the TLS certificate and key (checked only with a listen
//  address), and the addresses that may read /metrics without login.
static int
s_load_web_listeners (s_loader_t *self, config_setting_t *group, const char *name, cw_web_listener_t *out,
                      int *out_count)
{
    char key [64];
    snprintf (key, sizeof key, "webadmin.%s", name);
    config_setting_t *list = group ? config_setting_get_member (group, name) : NULL;
    if (!list)
        return 0;
    if (!config_setting_is_array (list) && !config_setting_is_list (list))
        return s_fail (self, list, key, "must be a list of addresses: [ \"127.0.0.1:8443\", \"[::1]:8443\" ]");
    int count = config_setting_length (list);
    if (count > CW_MAX_WEB_LISTENERS)
        return s_fail (self, list, key, "at most %d addresses (got %d)", CW_MAX_WEB_LISTENERS, count);
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (list, (unsigned) i);
        if (config_setting_type (elem) != CONFIG_TYPE_STRING)
            return s_fail (self, elem, key, "each address must be a string \"IP:PORT\" such as \"127.0.0.1:8443\"");
        const char *text = config_setting_get_string (elem);
        //  The same IP:PORT syntax as a SIP listener's, without the transport
        char prefixed [300], why [200];
        cw_sip_listener_t parsed;
        snprintf (prefixed, sizeof prefixed, "tcp:%s", text);
        if (strlen (text) > 250 || s_parse_sip_listener (prefixed, &parsed, why, sizeof why))
            return s_fail (self, elem, key,
                           "each address must be IP:PORT such as \"127.0.0.1:8443\" or \"[::1]:8443\"%s%s (got '%s')",
                           strlen (text) > 250 ? "" : ": ", strlen (text) > 250 ? "" : why, text);
        snprintf (out [i].address, sizeof out [i].address, "%s", parsed.address);
        out [i].port = parsed.port;
        *out_count = i + 1;
    }
    return 0;
}

static int
s_load_webadmin (s_loader_t *self, config_t *cfg, cw_bootstrap_t *out)
{
    config_setting_t *web = config_lookup (cfg, "webadmin");
    static const char *const known [] = { "listen", "certificate", "private_key", "redirect", "metrics_allow", NULL };
    if (web && !config_setting_is_group (web))
        return s_fail (self, web, "webadmin",
                       "must be a group: webadmin: { listen = [ \"127.0.0.1:8443\" ]; certificate = \"...\"; ... };");
    s_check_unknown (self, web, "webadmin", known);
    if (s_get_string (self, web, "webadmin", "certificate", &out->webadmin.certificate, "")
        || s_get_string (self, web, "webadmin", "private_key", &out->webadmin.private_key, "")
        || s_absolute (self, s_where (web, "certificate"), "webadmin.certificate", &out->webadmin.certificate, out)
        || s_absolute (self, s_where (web, "private_key"), "webadmin.private_key", &out->webadmin.private_key, out)
        || s_load_web_listeners (self, web, "listen", out->webadmin.listen, &out->webadmin.listen_count)
        || s_load_web_listeners (self, web, "redirect", out->webadmin.redirect, &out->webadmin.redirect_count))
        return -1;
    //  Every address of both lists bound once
    int total = out->webadmin.listen_count + out->webadmin.redirect_count;
    for (int i = 0; i < total; i++)
        for (int j = 0; j < i; j++) {
            const cw_web_listener_t *a = i < out->webadmin.listen_count
                                           ? &out->webadmin.listen [i]
                                           : &out->webadmin.redirect [i - out->webadmin.listen_count];
            const cw_web_listener_t *b = j < out->webadmin.listen_count
                                           ? &out->webadmin.listen [j]
                                           : &out->webadmin.redirect [j - out->webadmin.listen_count];
            if (a->port == b->port && strcmp (a->address, b->address) == 0) {
                const char *name = i < out->webadmin.listen_count ? "listen" : "redirect";
                char key [64];
                snprintf (key, sizeof key, "webadmin.%s", name);
                return s_fail (self, s_where (web, name), key, "the address %s:%d is listed twice", a->address,
                               a->port);
            }
        }
    if (out->webadmin.redirect_count && !out->webadmin.listen_count)
        return s_fail (self, s_where (web, "redirect"), "webadmin.redirect",
                       "needs an HTTPS address in webadmin.listen to redirect to");
    if (out->webadmin.listen_count) {
        if (!*out->webadmin.certificate)
            return s_fail (self, s_where (web, "certificate"), "webadmin.certificate",
                           "must name a PEM file when webadmin.listen has an address (got \"\")");
        if (!*out->webadmin.private_key)
            return s_fail (self, s_where (web, "private_key"), "webadmin.private_key",
                           "must name a PEM file when webadmin.listen has an address (got \"\")");
        if (s_check_sip_file (self, s_where (web, "certificate"), "webadmin.certificate", out->webadmin.certificate)
            || s_check_sip_file (self, s_where (web, "private_key"), "webadmin.private_key", out->webadmin.private_key))
            return -1;
    }
    config_setting_t *allow = web ? config_setting_get_member (web, "metrics_allow") : NULL;
    if (!allow) {
        out->webadmin.metrics_allow [0] = strdup ("127.0.0.1");
        out->webadmin.metrics_allow [1] = strdup ("::1");
        out->webadmin.metrics_allow_count = 2;
        return 0;
    }
    if (!config_setting_is_array (allow) && !config_setting_is_list (allow))
        return s_fail (self, allow, "webadmin.metrics_allow", "must be a list of IP addresses: [ \"127.0.0.1\" ]");
    int count = config_setting_length (allow);
    if (count > CW_MAX_METRICS_ALLOW)
        return s_fail (self, allow, "webadmin.metrics_allow", "at most %d addresses (got %d)", CW_MAX_METRICS_ALLOW,
                       count);
    for (int i = 0; i < count; i++) {
        config_setting_t *elem = config_setting_get_elem (allow, (unsigned) i);
        const char *text = config_setting_type (elem) == CONFIG_TYPE_STRING ? config_setting_get_string (elem) : NULL;
        unsigned char ip [16];
        if (!text || (inet_pton (AF_INET, text, ip) != 1 && inet_pton (AF_INET6, text, ip) != 1))
            return s_fail (self, elem, "webadmin.metrics_allow",
                           "each entry must be an IP address such as \"127.0.0.1\" or \"::1\" (got '%s')",
                           text ? text : "a value that is not a string");
        out->webadmin.metrics_allow [i] = strdup (text);
        out->webadmin.metrics_allow_count = i + 1;
    }
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

//  An actor's executable: a regular file that someone may execute. One
//  that does not exist or is not executable would crash-loop the actor.
static int
s_check_executable (s_loader_t *self, const config_setting_t *setting, const char *key, const char *path)
{
    struct stat st;
    if (stat (path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return s_fail (self, setting, key, "must be an executable file (got '%s', which does not exist)", path);
        return 0;
    }
    if (!S_ISREG (st.st_mode))
        return s_fail (self, setting, key, "must be an executable file (got '%s', which is %s)", path,
                       S_ISDIR (st.st_mode) ? "a folder" : "not a regular file");
    if (!(st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)))
        return s_fail (self, setting, key, "must be an executable file (got '%s', which is not executable)", path);
    return 0;
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
        config_setting_t *elem = config_setting_get_elem (actors, (unsigned) i);
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
            snprintf (key, sizeof key, "%s.path", prefix);
            if (!*spec->path) {
                free (spec->path);
                spec->path = NULL;
            }
            else if (s_absolute (self, path, key, &spec->path, out) || s_check_executable (self, path, key, spec->path))
                return -1;
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
        static const char *const known [] = { "node",      "control", "alarms",   "supervisor", "peering",
                                              "licensing", "sip",     "webadmin", "actors",     NULL };
        s_check_unknown (&loader, config_root_setting (&cfg), "", known);
        rc = s_load_node (&loader, &cfg, self) || s_load_control (&loader, &cfg, self)
          || s_load_alarms (&loader, &cfg, self) || s_load_supervisor (&loader, &cfg, self)
          || s_load_peering (&loader, &cfg, self) || s_check_endpoints (&loader, &cfg, self)
          || s_load_licensing (&loader, &cfg, self) || s_load_sip (&loader, &cfg, self)
          || s_load_webadmin (&loader, &cfg, self) || s_load_actors (&loader, &cfg, self);
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
    for (int i = 0; i < self->licensing.issuer_count; i++)
        free (self->licensing.issuers [i]);
    free (self->sip.certificate);
    free (self->sip.private_key);
    free (self->webadmin.certificate);
    free (self->webadmin.private_key);
    for (int i = 0; i < self->webadmin.metrics_allow_count; i++)
        free (self->webadmin.metrics_allow [i]);
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
