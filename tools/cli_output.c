/*  cli_output.c - how the causeway CLI prints reply bodies.

    With --json the body is printed as one JSON document. Otherwise each
    command has a renderer that turns the body into what a person reads:
    key/value lines and aligned tables (columns as wide as their widest
    cell, two spaces apart, the last column unpadded). Values are printed
    the way `config set` takes them: strings bare, lists comma-separated.
    Renderers never trust the body: a missing field prints as "-".
*/

#include "cli.h"
#include "cw_license.h"

#include <czmq.h>
#include <string.h>
#include <time.h>

//  ---------------------------------------------------------------------
//  Values

void
cli_print_json (cli_t *cli, json_t *body)
{
    size_t flags = JSON_ENCODE_ANY | (cli->compact ? JSON_COMPACT : JSON_INDENT (2));
    char *text = json_dumps (body, flags);
    if (text) {
        printf ("%s\n", text);
        free (text);
    }
}

char *
cli_value_text (json_t *value)
{
    if (!value || json_is_null (value))
        return strdup ("");
    if (json_is_string (value))
        return strdup (json_string_value (value));
    if (json_is_array (value)) {
        //  a,b,c - the form `config set` takes
        size_t len = 1;
        char **items = (char **) calloc (json_array_size (value) + 1, sizeof (char *));
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item) {
            items [index] = cli_value_text (item);
            len += strlen (items [index]) + 1;
        }
        char *text = (char *) calloc (1, len);
        json_array_foreach (value, index, item) {
            if (index)
                strcat (text, ",");
            strcat (text, items [index]);
            free (items [index]);
        }
        free (items);
        return text;
    }
    if (json_is_true (value))
        return strdup ("true");
    if (json_is_false (value))
        return strdup ("false");
    char *text = json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT);
    return text ? text : strdup ("?");
}

//  The text of field KEY of OBJ, or "-" when missing or empty.
char *
cli_field (json_t *obj, const char *key)
{
    json_t *value = json_object_get (obj, key);
    char *text = cli_value_text (value);
    if (!*text) {
        free (text);
        return strdup ("-");
    }
    return text;
}

//  "3d 04h 05m", "2h 03m 04s", "12s"
void
cli_duration (long long seconds, char *buf, size_t len)
{
    if (seconds < 0)
        seconds = 0;
    long long d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60, s = seconds % 60;
    if (d)
        snprintf (buf, len, "%lldd %02lldh %02lldm", d, h, m);
    else if (h)
        snprintf (buf, len, "%lldh %02lldm %02llds", h, m, s);
    else if (m)
        snprintf (buf, len, "%lldm %02llds", m, s);
    else
        snprintf (buf, len, "%llds", s);
}

//  ---------------------------------------------------------------------
//  Tables

#define S_MAX_COLUMNS 12

typedef struct _cli_table_t {
    int columns;
    zlist_t *rows;    //  of char ** (COLUMNS owned strings)
} cli_table_t;

cli_table_t *
cli_table_new (int columns, const char *const *header)
{
    cli_table_t *self = (cli_table_t *) zmalloc (sizeof (cli_table_t));
    self->columns = columns;
    self->rows = zlist_new ();
    char **row = (char **) calloc (columns, sizeof (char *));
    for (int c = 0; c < columns; c++)
        row [c] = strdup (header [c]);
    zlist_append (self->rows, row);
    return self;
}

//  Takes ownership of the COLUMNS strings in CELLS.
void
cli_table_add (cli_table_t *self, char **cells)
{
    char **row = (char **) calloc (self->columns, sizeof (char *));
    memcpy (row, cells, self->columns * sizeof (char *));
    zlist_append (self->rows, row);
}

//  Display width of UTF-8 TEXT (code points).
static size_t
s_width (const char *text)
{
    size_t width = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        width += (*p & 0xC0) != 0x80;
    return width;
}

//  Prints the table (each row after INDENT spaces) and destroys it.
void
cli_table_print_indent_destroy (cli_table_t **self_p, int indent)
{
    cli_table_t *self = *self_p;
    size_t widths [S_MAX_COLUMNS] = { 0 };
    for (char **row = (char **) zlist_first (self->rows); row; row = (char **) zlist_next (self->rows))
        for (int c = 0; c < self->columns; c++)
            if (s_width (row [c]) > widths [c])
                widths [c] = s_width (row [c]);
    char **row;
    while ((row = (char **) zlist_pop (self->rows))) {
        printf ("%*s", indent, "");
        for (int c = 0; c < self->columns; c++) {
            //  control characters from the body are shown as '?'
            for (char *p = row [c]; *p; p++)
                if ((unsigned char) *p < 0x20)
                    *p = '?';
            if (c == self->columns - 1)
                printf ("%s\n", row [c]);
            else
                printf ("%s%*s  ", row [c], (int) (widths [c] - s_width (row [c])), "");
            free (row [c]);
        }
        free (row);
    }
    zlist_destroy (&self->rows);
    free (self);
    *self_p = NULL;
}

void
cli_table_print_destroy (cli_table_t **self_p)
{
    cli_table_print_indent_destroy (self_p, 0);
}

//  ---------------------------------------------------------------------
//  Renderers

void
cli_print_done (const cli_command_t *cmd, json_t *args)
{
    //  "%s" takes the first argument
    json_t *first = cmd->args [0].key ? json_object_get (args, cmd->args [0].key) : NULL;
    char *text = first ? cli_value_text (first) : strdup ("");
    printf (cmd->done ? cmd->done : "ok", text);
    printf ("\n");
    free (text);
}

void
cli_render_done (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) body;
    cli_print_done (cmd, args);
}

//  Any body: "key: value" per field.
void
cli_render_generic (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    (void) cli;
    (void) cmd;
    if (json_object_size (body) == 0) {
        printf ("ok\n");
        return;
    }
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        char *text = json_is_object (value)
                          || (json_is_array (value) && json_array_size (value)
                              && json_is_object (json_array_get (value, 0)))
                       ? json_dumps (value, JSON_COMPACT)
                       : cli_value_text (value);
        printf ("%s: %s\n", key, text ? text : "");
        free (text);
    }
}

static void
s_actor_table (json_t *actors)
{
    static const char *const header [] = { "NAME", "PID", "STATE", "RESTARTS", "SINCE" };
    cli_table_t *table = cli_table_new (5, header);
    size_t index;
    json_t *actor;
    json_array_foreach (actors, index, actor) {
        char *cells [5] = { cli_field (actor, "name"), cli_field (actor, "pid"), cli_field (actor, "state"),
                            cli_field (actor, "restarts"), cli_field (actor, "since") };
        json_t *pid = json_object_get (actor, "pid");
        if (json_is_integer (pid) && json_integer_value (pid) <= 0) {
            free (cells [1]);
            cells [1] = strdup ("-");
        }
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
    //  What an actor reported about its state (a damaged database, ...)
    json_array_foreach (actors, index, actor) {
        const char *problem = json_string_value (json_object_get (actor, "problem"));
        if (problem && *problem)
            printf ("PROBLEM %s: %s\n", json_string_value (json_object_get (actor, "name")) ?: "?", problem);
    }
}

//  The banner of a pending factory reset (the peer list was cleared: the
//  next restart resets the node), or nothing.
static void
s_factory_reset_banner (json_t *body)
{
    if (json_is_true (json_object_get (body, "factory_reset_pending")))
        printf ("FACTORY RESET PENDING: every peer address was cleared; this node is reset "
                "at its next restart\n"
                "  (to cancel, restore the same peer list in the same order before restarting)\n");
}

void
cli_render_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    (void) cli;
    (void) cmd;
    s_factory_reset_banner (body);
    //  node: a name, or an object with a name
    json_t *node = json_object_get (body, "node");
    char *node_name = json_is_object (node) ? cli_field (node, "name") : cli_field (body, "node");
    printf ("%-13s%s\n", "node:", node_name);
    free (node_name);
    char *version = cli_field (body, "version");
    printf ("%-13s%s\n", "version:", version);
    free (version);

    json_t *uptime = json_object_get (body, "uptime_s");
    if (!uptime)
        uptime = json_object_get (body, "uptime");
    if (json_is_number (uptime)) {
        char text [64];
        cli_duration ((long long) json_number_value (uptime), text, sizeof text);
        printf ("%-13s%s\n", "uptime:", text);
    }
    else {
        char *text = cli_field (body, "uptime");
        printf ("%-13s%s\n", "uptime:", text);
        free (text);
    }
    //  Anything else the daemon reports (scalars), so nothing is hidden
    const char *key;
    json_t *value;
    json_object_foreach (body, key, value) {
        if (strcmp (key, "node") == 0 || strcmp (key, "version") == 0 || strcmp (key, "uptime_s") == 0
            || strcmp (key, "uptime") == 0 || strcmp (key, "actors") == 0 || strcmp (key, "factory_reset_pending") == 0
            || json_is_object (value))
            continue;
        char *text = cli_value_text (value);
        char label [64];
        snprintf (label, sizeof label, "%s:", key);
        printf ("%-13s%s\n", label, text);
        free (text);
    }
    //  cluster: {primary, this_peer, database}, shown when this node is clustered
    json_t *cluster = json_object_get (body, "cluster");
    json_t *clustered = json_object_get (cluster, "clustered");
    if (json_is_object (cluster) && !json_is_false (clustered)) {
        char *primary = cli_field (cluster, "primary");
        char *this_peer = cli_field (cluster, "this_peer");
        char *database = cli_field (cluster, "database");
        printf ("%-13sprimary %s, this peer %s, database %s\n", "cluster:", primary, this_peer, database);
        free (primary);
        free (this_peer);
        free (database);
    }
    json_t *actors = json_object_get (body, "actors");
    if (json_is_array (actors)) {
        printf ("\n");
        s_actor_table (actors);
    }
}

void
cli_render_actors (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    (void) cli;
    (void) cmd;
    json_t *actors = json_object_get (body, "actors");
    if (json_is_array (actors))
        s_actor_table (actors);
    else
        cli_render_generic (cli, cmd, args, body);
}

//  actors start|stop|restart: the actor as it is now
void
cli_render_actor (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    json_t *actor = json_object_get (body, "actor");
    if (!json_is_object (actor))
        actor = body;
    if (!json_object_get (actor, "name") || !json_object_get (actor, "state")) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    json_t *array = json_array ();
    json_array_append (array, actor);
    s_actor_table (array);
    json_decref (array);
}

//  "title: detail" (or either alone)
static char *
s_title_detail (json_t *alarm)
{
    const char *title = json_string_value (json_object_get (alarm, "title"));
    const char *detail = json_string_value (json_object_get (alarm, "detail"));
    char *text;
    if (title && *title && detail && *detail) {
        if (asprintf (&text, "%s: %s", title, detail) < 0)
            text = NULL;
    }
    else
        text = strdup (title && *title ? title : detail && *detail ? detail : "-");
    return text;
}

static void
s_alarm_table (json_t *alarms)
{
    static const char *const header [] = { "ID", "SEVERITY", "STATE", "PEER", "RAISED", "UUID", "TITLE/DETAIL" };
    cli_table_t *table = cli_table_new (7, header);
    size_t index;
    json_t *alarm;
    json_array_foreach (alarms, index, alarm) {
        char *cells [7] = { cli_field (alarm, "id"),   cli_field (alarm, "severity"),  cli_field (alarm, "state"),
                            cli_field (alarm, "peer"), cli_field (alarm, "raised_at"), cli_field (alarm, "uuid"),
                            s_title_detail (alarm) };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

void
cli_render_alarms (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    json_t *alarms = json_object_get (body, "alarms");
    if (!json_is_array (alarms)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (alarms) == 0)
        printf ("no alarms\n");
    else
        s_alarm_table (alarms);
    //  cluster.alarms: the peers that did not answer
    json_t *unreachable = json_object_get (body, "unreachable");
    if (json_is_array (unreachable) && json_array_size (unreachable) > 0) {
        char *text = cli_value_text (unreachable);
        printf ("\nnote: not reachable, alarms not listed: %s\n", text);
        free (text);
    }
}

//  alarms raise|clear|ack: the alarm as it is now
void
cli_render_alarm (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    json_t *cleared = json_object_get (body, "cleared");
    if (json_is_integer (cleared)) {
        //  alarms.clear {"cleared": N}
        if (json_integer_value (cleared) > 0)
            cli_print_done (cmd, args);
        else
            printf ("alarm %" JSON_INTEGER_FORMAT " was not raised; nothing to clear\n",
                    json_integer_value (json_object_get (args, "id")));
        return;
    }
    json_t *alarm = json_object_get (body, "alarm");
    if (!json_is_object (alarm))
        alarm = body;
    if (!json_object_get (alarm, "id") || !json_object_get (alarm, "state")) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    json_t *array = json_array ();
    json_array_append (array, alarm);
    s_alarm_table (array);
    json_decref (array);
}

void
cli_render_config_get (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    (void) cli;
    (void) cmd;
    //  The value alone: scripts use it
    char *text = cli_value_text (json_object_get (body, "value"));
    printf ("%s\n", text);
    free (text);
}

//  config set|unset: "key = value (scope)"
void
cli_render_config_set (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    const char *key = json_string_value (json_object_get (body, "key"));
    if (!key || !json_object_get (body, "value")) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    char *value = cli_value_text (json_object_get (body, "value"));
    const char *scope = json_string_value (json_object_get (body, "scope"));
    bool is_default = json_is_true (json_object_get (body, "default"));
    printf ("%s = %s%s (%s%s)\n", key, *value ? "" : "\"\"", value, scope ? scope : "-", is_default ? ", default" : "");
    free (value);
}

void
cli_render_config_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) args;
    //  The list of {key, value, scope}: the first array of objects in the
    //  body ("keys", "config", ...), or an object of key -> value.
    json_t *list = NULL;
    json_t *map = NULL;
    const char *name;
    json_t *member;
    json_object_foreach (body, name, member) {
        if (!list && json_is_array (member))
            list = member;
        if (!map && json_is_object (member))
            map = member;
    }
    static const char *const header [] = { "KEY", "VALUE", "SCOPE" };
    if (list) {
        cli_table_t *table = cli_table_new (3, header);
        size_t index;
        json_t *item;
        json_array_foreach (list, index, item) {
            char *cells [3] = { cli_field (item, "key"), cli_field (item, "value"), cli_field (item, "scope") };
            cli_table_add (table, cells);
        }
        cli_table_print_destroy (&table);
    }
    else if (map) {
        cli_table_t *table = cli_table_new (3, header);
        const char *key;
        json_t *value;
        json_object_foreach (map, key, value) {
            char *cells [3] = { strdup (key),
                                json_is_object (value) ? cli_field (value, "value") : cli_value_text (value),
                                json_is_object (value) ? cli_field (value, "scope") : strdup ("-") };
            cli_table_add (table, cells);
        }
        cli_table_print_destroy (&table);
    }
    else
        cli_render_generic (cli, cmd, args, body);
}

//  ---------------------------------------------------------------------
//  Clustering

//  The body's "message", if any, on stderr (renderers that print data on
//  stdout keep it clean for scripts).
static void
s_message_to_stderr (json_t *body)
{
    const char *message = json_string_value (json_object_get (body, "message"));
    if (message)
        fprintf (stderr, "%s\n", message);
}

//  One address mapping entry: "FQDN=IP" or {"fqdn", "ip"}; new string.
static char *
s_mapping_entry (json_t *entry)
{
    if (json_is_object (entry)) {
        char *fqdn = cli_field (entry, "fqdn");
        char *ip = cli_field (entry, "ip");
        char *text;
        if (asprintf (&text, "%s=%s", fqdn, ip) < 0)
            text = NULL;
        free (fqdn);
        free (ip);
        return text ? text : strdup ("?");
    }
    return cli_value_text (entry);
}

//  The address mapping of cluster.status as a person reads it: "off",
//  "on: a=1,b=2", or the list. It may be a bool, a list of entries, or
//  {"enabled", "mappings"|"entries"}.
static char *
s_mapping_text (json_t *mapping)
{
    if (!mapping || json_is_null (mapping))
        return strdup ("-");
    if (json_is_boolean (mapping))
        return strdup (json_is_true (mapping) ? "on" : "off");
    json_t *list = mapping;
    const char *prefix = "";
    if (json_is_object (mapping)) {
        json_t *enabled = json_object_get (mapping, "enabled");
        if (json_is_false (enabled))
            return strdup ("off");
        list = json_object_get (mapping, "mappings");
        if (!list)
            list = json_object_get (mapping, "entries");
        prefix = json_is_true (enabled) ? "on: " : "";
    }
    if (!json_is_array (list))
        return *prefix ? strdup ("on") : cli_value_text (mapping);
    if (json_array_size (list) == 0)
        return strdup (*prefix ? "on (no entries)" : "none");
    size_t len = strlen (prefix) + 1;
    char **items = (char **) calloc (json_array_size (list), sizeof (char *));
    size_t index;
    json_t *entry;
    json_array_foreach (list, index, entry) {
        items [index] = s_mapping_entry (entry);
        len += strlen (items [index]) + 1;
    }
    char *text = (char *) calloc (1, len);
    strcpy (text, prefix);
    json_array_foreach (list, index, entry) {
        if (index)
            strcat (text, ",");
        strcat (text, items [index]);
        free (items [index]);
    }
    free (items);
    return text;
}

//  A number of milliseconds (two decimals below 10 ms, else one), "-" when
//  unknown (null or < 0).
static char *
s_rtt_text (json_t *value)
{
    if (!json_is_number (value) || json_number_value (value) < 0)
        return strdup ("-");
    char text [32];
    double ms = json_number_value (value);
    snprintf (text, sizeof text, ms < 10 ? "%.2f" : "%.1f", ms);
    return strdup (text);
}

//  "on" / "off" for a boolean, else the value
static char *
s_on_off (json_t *value)
{
    if (json_is_boolean (value))
        return strdup (json_is_true (value) ? "on" : "off");
    return value && !json_is_null (value) ? cli_value_text (value) : strdup ("-");
}

//  cluster status: the pinned certificates (and refused ones) of PEERS,
//  when the status has them.
static void
s_pinned_certificates (json_t *peers)
{
    bool header = false;
    size_t index;
    json_t *peer;
    json_array_foreach (peers, index, peer) {
        json_t *pinned = json_object_get (peer, "pinned_fingerprint");
        const char *refused = json_string_value (json_object_get (peer, "refused_fingerprint"));
        if (!pinned && !refused)
            continue;
        if (!header)
            printf ("\npinned certificates (SHA-256):\n");
        header = true;
        json_int_t n = json_integer_value (json_object_get (peer, "index"));
        printf ("  peer %" JSON_INTEGER_FORMAT "  %s\n", n, json_is_string (pinned) ? json_string_value (pinned) : "-");
        if (refused)
            printf ("  peer %" JSON_INTEGER_FORMAT
                    "  REFUSED %s (accept: causeway cluster trust-peer %" JSON_INTEGER_FORMAT ")\n",
                    n, refused, n);
    }
}

void
cli_render_cluster_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    s_factory_reset_banner (body);
    static const struct {
        const char *label;
        const char *key;
    } lines [] = {
        { "cluster name:", "name" },     { "primary:", "primary" },     { "this peer:", "this_peer" },
        { "IP version:", "ip_version" }, { "TLS mode:", "tls_verify" }, { "address mapping:", "address_mapping" },
        { "database:", "database" },
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines [0]; i++) {
        json_t *value = json_object_get (body, lines [i].key);
        char *text = strcmp (lines [i].key, "address_mapping") == 0 ? s_mapping_text (value)
                                                                    : cli_field (body, lines [i].key);
        //  0 = not in the list / unset
        if (json_is_integer (value) && json_integer_value (value) == 0) {
            free (text);
            text = strdup ("-");
        }
        printf ("%-17s%s\n", lines [i].label, text);
        free (text);
    }
    json_t *peers = json_object_get (body, "peers");
    printf ("\n");
    if (!json_is_array (peers) || json_array_size (peers) == 0)
        printf ("no peers: this node is not clustered\n");
    else {
        static const char *const header [] = { "INDEX",   "ADDRESS", "SYSTEM-NAME", "STATE", "CERTIFICATE", "RTT(ms)",
                                               "APPLIED", "LAG",     "VERSION",     "TYPE",  "MAINT" };
        cli_table_t *table = cli_table_new (11, header);
        size_t index;
        json_t *peer;
        json_array_foreach (peers, index, peer) {
            char *cells [11] = { cli_field (peer, "index"),
                                 cli_field (peer, "address"),
                                 cli_field (peer, "system_name"),
                                 cli_field (peer, "state"),
                                 cli_field (peer, "certificate"),
                                 s_rtt_text (json_object_get (peer, "rtt_ms")),
                                 cli_field (peer, "applied_seq"),
                                 cli_field (peer, "lag"),
                                 cli_field (peer, "version"),
                                 cli_field (peer, "type"),
                                 s_on_off (json_object_get (peer, "maintenance")) };
            cli_table_add (table, cells);
        }
        cli_table_print_destroy (&table);
        s_pinned_certificates (peers);
    }
    s_message_to_stderr (body);
}

//  cluster token: the token alone on a line
void
cli_render_cluster_token (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    const char *token = json_string_value (json_object_get (body, "token"));
    if (!token) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    printf ("%s\n", token);
    s_message_to_stderr (body);
}

//  cluster suggest-mappings: FQDN=IP lines. The list is "mappings" (or the
//  first list of the body), of "FQDN=IP" strings or {"fqdn", "ip"}.
void
cli_render_cluster_mappings (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *list = json_object_get (body, "mappings");
    const char *name;
    json_t *member;
    json_object_foreach (body, name, member)
        if (!json_is_array (list) && json_is_array (member))
            list = member;
    if (!json_is_array (list)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    size_t index;
    json_t *entry;
    json_array_foreach (list, index, entry) {
        char *text = s_mapping_entry (entry);
        printf ("%s\n", text);
        free (text);
    }
    if (json_array_size (list) == 0)
        fprintf (stderr, "no mapping to suggest\n");
    if (json_is_true (json_object_get (body, "applied")))
        fprintf (stderr, "applied: cluster.address_mapping set\n");
    s_message_to_stderr (body);
}

//  The value of the difference ITEM on SIDE ("a" | "b"): "a", "value_a"
//  or "on_a"; "(unset)" when the key is missing on that peer.
static char *
s_diff_value (json_t *item, const char *side)
{
    char key [16];
    json_t *value = json_object_get (item, side);
    if (!value) {
        snprintf (key, sizeof key, "value_%s", side);
        value = json_object_get (item, key);
    }
    if (!value) {
        snprintf (key, sizeof key, "on_%s", side);
        value = json_object_get (item, key);
    }
    if (!value || json_is_null (value))
        return strdup ("(unset)");
    char *text = cli_value_text (value);
    if (!*text) {
        free (text);
        return strdup ("\"\"");
    }
    return text;
}

//  cluster diff: {"a", "b", "differences": [{"key", "a", "b"}]}:
//  KEY, the value on A, the value on B.
void
cli_render_cluster_diff (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *list = json_object_get (body, "differences");
    const char *name;
    json_t *member;
    json_object_foreach (body, name, member)
        if (!json_is_array (list) && json_is_array (member))
            list = member;
    if (!json_is_array (list)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    //  The peers compared: the reply's "a"/"b" (the daemon resolves the
    //  defaults), else the arguments
    json_t *a = json_object_get (body, "a");
    json_t *b = json_object_get (body, "b");
    //  The daemon names each peer as {"index", "address", ...}
    if (json_is_object (a))
        a = json_object_get (a, "address");
    if (json_is_object (b))
        b = json_object_get (b, "address");
    char *a_name = json_is_string (a) || json_is_integer (a) ? cli_value_text (a)
                 : json_object_get (args, "a")               ? cli_value_text (json_object_get (args, "a"))
                                                             : strdup ("A");
    char *b_name = json_is_string (b) || json_is_integer (b) ? cli_value_text (b)
                 : json_object_get (args, "b")               ? cli_value_text (json_object_get (args, "b"))
                                                             : strdup ("B");
    if (json_array_size (list) == 0)
        printf ("no differences between %s and %s\n", a_name, b_name);
    else {
        char head_a [300], head_b [300];
        snprintf (head_a, sizeof head_a, "ON %s", a_name);
        snprintf (head_b, sizeof head_b, "ON %s", b_name);
        const char *const header [] = { "KEY", head_a, head_b };
        cli_table_t *table = cli_table_new (3, header);
        size_t index;
        json_t *item;
        json_array_foreach (list, index, item) {
            char *cells [3] = { cli_field (item, "key"), s_diff_value (item, "a"), s_diff_value (item, "b") };
            cli_table_add (table, cells);
        }
        cli_table_print_destroy (&table);
    }
    free (a_name);
    free (b_name);
    s_message_to_stderr (body);
}

//  cluster check: each problem and its fix, or that every requirement is met.
void
cli_render_cluster_check (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *problems = json_object_get (body, "problems");
    json_t *ok = json_object_get (body, "ok");
    if (!json_is_boolean (ok) && !json_is_array (problems)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    size_t index;
    json_t *problem;
    json_array_foreach (problems, index, problem) {
        char *requirement = cli_field (problem, "requirement");
        char *detail = cli_field (problem, "detail");
        char *fix = cli_field (problem, "fix");
        json_t *peer = json_object_get (problem, "peer");
        char *peer_text = peer && !json_is_null (peer) ? cli_value_text (peer) : NULL;
        for (char *p = detail; *p; p++)
            if ((unsigned char) *p < 0x20)
                *p = ' ';
        if (peer_text && *peer_text)
            printf ("NOT MET: %s (peer %s): %s\n", requirement, peer_text, detail);
        else
            printf ("NOT MET: %s: %s\n", requirement, detail);
        printf ("    fix: %s\n", fix);
        free (requirement);
        free (detail);
        free (fix);
        free (peer_text);
    }
    json_t *checked = json_object_get (body, "checked");
    size_t problem_count = json_is_array (problems) ? json_array_size (problems) : 0;
    if (json_is_true (ok) || (!ok && problem_count == 0)) {
        if (json_is_array (checked))
            printf ("ok: all %zu requirements met\n", json_array_size (checked));
        else
            printf ("ok: every requirement met\n");
    }
    else
        printf ("%zu requirement%s not met\n", problem_count, problem_count == 1 ? "" : "s");
    s_message_to_stderr (body);
}

//  ---------------------------------------------------------------------
//  Licensing

//  A JSON integer as text, "-" when missing or not a number.
static char *
s_number (json_t *obj, const char *key)
{
    json_t *value = json_object_get (obj, key);
    if (!json_is_integer (value))
        return strdup ("-");
    char text [32];
    snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value (value));
    return strdup (text);
}

//  license add|remove: the key the daemon names, else the done text.
void
cli_render_license_key (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *key = json_object_get (body, "key");
    if (!json_is_object (key))
        key = body;
    if (!json_object_get (key, "serial") || !json_object_get (key, "kind")) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    char *serial = cli_field (key, "serial");
    char *kind = cli_field (key, "kind");
    char *count = s_number (key, "count");
    const char *system = json_string_value (json_object_get (key, "system"));
    const char *expires = json_string_value (json_object_get (key, "expires"));
    printf ("%s: serial %s, %s x %s", cmd->done ? cmd->done : "ok", serial, kind, count);
    if (system && *system)
        printf (", bound to system '%s'", system);
    if (expires && *expires)
        printf (", valid until %s", expires);
    printf ("\n");
    free (serial);
    free (kind);
    free (count);
}

//  license list: {"keys": [{"serial", "kind", "count", "system", "expires",
//  "issued", "issuer", "state", "days_left"}]}, one row per key.
void
cli_render_license_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *keys = json_object_get (body, "keys");
    if (!json_is_array (keys)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (keys) == 0) {
        printf ("no option keys on this peer (add one with `causeway license add KEY`)\n");
        return;
    }
    static const char *const header [] = { "SERIAL",    "KIND",   "COUNT",  "SYSTEM", "EXPIRES",
                                           "DAYS-LEFT", "ISSUED", "ISSUER", "STATE" };
    cli_table_t *table = cli_table_new (9, header);
    size_t index;
    json_t *key;
    json_array_foreach (keys, index, key) {
        const char *system = json_string_value (json_object_get (key, "system"));
        const char *expires = json_string_value (json_object_get (key, "expires"));
        json_t *days = json_object_get (key, "days_left");
        char *cells [9] = { cli_field (key, "serial"),
                            cli_field (key, "kind"),
                            s_number (key, "count"),
                            strdup (system && *system ? system : "any"),
                            strdup (expires && *expires ? expires : "never"),
                            expires && *expires && json_is_integer (days) ? s_number (key, "days_left") : strdup ("-"),
                            cli_field (key, "issued"),
                            cli_field (key, "issuer"),
                            cli_field (key, "state") };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

static int
s_compare_names (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

//  The member names of OBJ, sorted; a new array of borrowed strings.
static const char **
s_sorted_names (json_t *obj, size_t *count)
{
    *count = json_is_object (obj) ? json_object_size (obj) : 0;
    const char **names = (const char **) calloc (*count + 1, sizeof (char *));
    size_t n = 0;
    const char *name;
    json_t *value;
    if (json_is_object (obj))
        json_object_foreach (obj, name, value)
            names [n++] = name;
    qsort (names, n, sizeof *names, s_compare_names);
    return names;
}

//  One license type of license.status: its totals, a row per peer and
//  the lost peers whose licenses are still in the pool.
static void
s_license_type (const char *kind, json_t *type)
{
    char *pool = s_number (type, "pool");
    char *used = s_number (type, "used");
    char *free_count = s_number (type, "free");
    printf ("%s: pool %s, used %s, free %s\n", kind, pool, used, free_count);
    free (pool);
    free (used);
    free (free_count);
    json_t *by_peer = json_object_get (type, "by_peer");
    size_t count;
    const char **peers = s_sorted_names (by_peer, &count);
    if (count > 0) {
        static const char *const header [] = { "PEER", "INSTALLED", "USED", "SHARE", "STATE" };
        cli_table_t *table = cli_table_new (5, header);
        for (size_t i = 0; i < count; i++) {
            json_t *peer = json_object_get (by_peer, peers [i]);
            char *cells [5] = { strdup (peers [i]), s_number (peer, "installed"), s_number (peer, "used"),
                                s_number (peer, "share"), cli_field (peer, "state") };
            cli_table_add (table, cells);
        }
        cli_table_print_indent_destroy (&table, 2);
    }
    free (peers);
    size_t index;
    json_t *lost;
    json_array_foreach (json_object_get (type, "lost"), index, lost) {
        char *peer = cli_field (lost, "peer");
        char *licenses = s_number (lost, "licenses");
        char *leaves = cli_field (lost, "leaves_at");
        for (char *p = peer; *p; p++)
            if ((unsigned char) *p < 0x20)
                *p = '?';
        printf ("  lost peer %s: its %s license%s stay in the pool; they leave the pool at %s\n", peer, licenses,
                strcmp (licenses, "1") == 0 ? "" : "s", leaves);
        free (peer);
        free (licenses);
        free (leaves);
    }
}

//  license status: the header (this peer, the primary, the grace period),
//  one section per license type (the capacity kinds first, in their
//  order), then the feature keys of each peer and whether they differ.
void
cli_render_license_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *types = json_object_get (body, "types");
    if (!json_is_object (types)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    char *this_peer = cli_field (body, "this_peer");
    char *primary = cli_field (body, "primary");
    json_t *grace = json_object_get (body, "lost_peer_grace_s");
    char grace_text [64] = "-";
    if (json_is_integer (grace))
        cli_duration ((long long) json_integer_value (grace), grace_text, sizeof grace_text);
    printf ("this peer: %s, primary: %s, a lost peer's licenses stay in the pool for %s\n", this_peer, primary,
            grace_text);
    free (this_peer);
    free (primary);
    for (int i = 0; i < CW_LICENSE_CAPACITY_KINDS; i++) {
        json_t *type = json_object_get (types, cw_license_capacity_kinds [i]);
        if (json_is_object (type)) {
            printf ("\n");
            s_license_type (cw_license_capacity_kinds [i], type);
        }
    }
    size_t count;
    const char **kinds = s_sorted_names (types, &count);
    for (size_t i = 0; i < count; i++) {
        json_t *type = json_object_get (types, kinds [i]);
        if (cw_license_capacity_index (kinds [i]) < 0 && json_is_object (type)) {
            printf ("\n");
            s_license_type (kinds [i], type);
        }
    }
    free (kinds);
    json_t *features = json_object_get (body, "features");
    const char **peers = s_sorted_names (features, &count);
    if (count > 0) {
        printf ("\nfeature keys:\n");
        static const char *const header [] = { "PEER", "FEATURES" };
        cli_table_t *table = cli_table_new (2, header);
        for (size_t i = 0; i < count; i++) {
            json_t *list = json_object_get (features, peers [i]);
            char *text = json_is_array (list) && json_array_size (list) ? cli_value_text (list) : strdup ("none");
            char *cells [2] = { strdup (peers [i]), text };
            cli_table_add (table, cells);
        }
        cli_table_print_indent_destroy (&table, 2);
    }
    free (peers);
    if (json_is_true (json_object_get (body, "feature_mismatch")))
        printf ("MISMATCH: the peers do not have the same feature keys; install the same set on every peer\n");
    else if (count > 0)
        printf ("every peer has the same feature keys\n");
}

//  license acquire: "granted: lease L", or "refused: REASON".
void
cli_render_license_acquire (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *granted = json_object_get (body, "granted");
    if (!json_is_boolean (granted)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_is_true (granted)) {
        char *lease = cli_field (body, "lease");
        printf ("granted: lease %s\n", lease);
        free (lease);
        return;
    }
    const char *reason = json_string_value (json_object_get (body, "reason"));
    char *kind = cli_value_text (json_object_get (args, "kind"));
    if (reason && *reason)
        printf ("refused: %s\n", reason);
    else
        printf ("refused: no free %s license in the pool\n", *kind ? kind : "such");
    free (kind);
}

//  ---------------------------------------------------------------------
//  Alarm socket messages

void
cli_print_alarm_event (const char *topic, json_t *body)
{
    if (strcmp (topic, "heartbeat") == 0) {
        char *peer = cli_field (body, "peer");
        char *active = cli_field (body, "active");
        char *at = cli_field (body, "at");
        printf ("heartbeat  peer=%s active=%s at=%s\n", peer, active, at);
        free (peer);
        free (active);
        free (at);
        return;
    }
    if (strcmp (topic, "alarm.snapshot") == 0) {
        //  The end of a replay: how many alarms are active, as of which seq
        char *peer = cli_field (body, "peer");
        char *seq = cli_field (body, "seq");
        printf ("alarm.snapshot  peer=%s seq=%s active=%zu\n", peer, seq,
                json_array_size (json_object_get (body, "uuids")));
        free (peer);
        free (seq);
        return;
    }
    if (strncmp (topic, "alarm.", 6) == 0 && json_is_object (body)) {
        char *id = cli_field (body, "id");
        char *state = cli_field (body, "state");
        char *severity = cli_field (body, "severity");
        char *peer = cli_field (body, "peer");
        char *changed = cli_field (body, "changed_at");
        char *uuid = cli_field (body, "uuid");
        char *text = s_title_detail (body);
        for (char *p = text; p && *p; p++)
            if ((unsigned char) *p < 0x20)
                *p = ' ';
        printf ("%s  %s %s %s on %s at %s: %s (uuid %s)\n", topic, id, state, severity, peer, changed,
                text ? text : "-", uuid);
        free (id);
        free (state);
        free (severity);
        free (peer);
        free (changed);
        free (uuid);
        free (text);
        return;
    }
    char *text = json_dumps (body, JSON_ENCODE_ANY | JSON_COMPACT);
    printf ("%s  %s\n", topic, text ? text : "");
    free (text);
}

//  ---------------------------------------------------------------------
//  Routing

void
cli_render_routing_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    char uptime [32];
    cli_duration ((long long) json_integer_value (json_object_get (body, "uptime_s")), uptime, sizeof uptime);
    printf ("routing: pid %lld, up %s, this peer %lld, maintenance %s\n",
            (long long) json_integer_value (json_object_get (body, "pid")), uptime,
            (long long) json_integer_value (json_object_get (body, "this_peer")),
            json_is_true (json_object_get (body, "maintenance")) ? "on (new registrations and calls get 503)" : "off");
    json_t *listeners = json_object_get (body, "listeners");
    if (json_array_size (listeners)) {
        static const char *const header [] = { "LISTENER", "STATE" };
        cli_table_t *table = cli_table_new (2, header);
        size_t index;
        json_t *listener;
        json_array_foreach (listeners, index, listener) {
            const char *address = json_string_value (json_object_get (listener, "address"));
            char name [128];
            snprintf (name, sizeof name, address && strchr (address, ':') ? "%s:[%s]:%lld" : "%s:%s:%lld",
                      json_string_value (json_object_get (listener, "transport")), address ? address : "?",
                      (long long) json_integer_value (json_object_get (listener, "port")));
            char *cells [2] = { strdup (name), cli_field (listener, "state") };
            cli_table_add (table, cells);
        }
        cli_table_print_destroy (&table);
    }
    const char *note = json_string_value (json_object_get (body, "note"));
    if (note)
        printf ("%s\n", note);
    printf ("requests:");
    const char *method;
    json_t *count;
    bool any = false;
    json_object_foreach (json_object_get (body, "requests"), method, count) {
        printf ("%s %s %lld", any ? "," : "", method, (long long) json_integer_value (count));
        any = true;
    }
    printf ("%s\n", any ? "" : " none");
    printf ("dropped: %lld malformed, %lld oversized; open connection flows: %lld\n",
            (long long) json_integer_value (json_object_get (body, "malformed")),
            (long long) json_integer_value (json_object_get (body, "oversized")),
            (long long) json_integer_value (json_object_get (body, "flows")));
    json_t *registrar = json_object_get (body, "registrar");
    if (registrar)
        printf ("registrations: %lld in the cluster's table\n",
                (long long) json_integer_value (json_object_get (registrar, "bindings")));
    json_t *calls = json_object_get (body, "calls");
    if (calls) {
        printf ("calls: %lld on this peer; per peer:",
                (long long) json_integer_value (json_object_get (calls, "this_peer")));
        const char *peer;
        json_t *n;
        bool listed = false;
        json_object_foreach (json_object_get (calls, "per_peer"), peer, n) {
            printf ("%s %s: %lld", listed ? "," : "", peer, (long long) json_integer_value (n));
            listed = true;
        }
        printf ("%s\n", listed ? "" : " none");
    }
    json_t *capacity = json_object_get (body, "capacity");
    if (capacity)
        printf ("capacity: %lld calls (%lld per peer, %s, x %lld of %lld live peers)\n",
                (long long) json_integer_value (json_object_get (capacity, "cluster_calls")),
                (long long) json_integer_value (json_object_get (capacity, "calls_per_peer")),
                json_string_value (json_object_get (capacity, "source"))
                    ? json_string_value (json_object_get (capacity, "source"))
                    : "?",
                (long long) json_integer_value (json_object_get (capacity, "peers_counted")),
                (long long) json_integer_value (json_object_get (capacity, "peers_live")));
}

void
cli_render_registrations (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    static const char *const header [] = { "AOR", "CONTACT", "PEER", "EXPIRES", "TRANSPORT", "SOURCE", "INSTANCE" };
    static const char *const keys [] = { "aor", "contact", "peer", "expires", "transport", "source", "instance" };
    cli_table_t *table = cli_table_new (7, header);
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (body, "registrations"), index, entry) {
        char *cells [7];
        for (int c = 0; c < 7; c++)
            cells [c] = cli_field (entry, keys [c]);
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

void
cli_render_calls (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    static const char *const header [] = { "ID", "FROM", "TO", "PEER", "STATE", "STARTED" };
    static const char *const keys [] = { "id", "from", "to", "peer", "state", "started_at" };
    cli_table_t *table = cli_table_new (6, header);
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (body, "calls"), index, entry) {
        char *cells [6];
        for (int c = 0; c < 6; c++)
            cells [c] = cli_field (entry, keys [c]);
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

//  ---------------------------------------------------------------------
//  locate, search-history

//  One step of a search as one line
static void
s_search_step (json_t *step)
{
    const char *kind = json_string_value (json_object_get (step, "step"));
    const char *name = json_string_value (json_object_get (step, "name"));
    const char *alias = json_string_value (json_object_get (step, "alias"));
    bool matched = json_is_true (json_object_get (step, "matched"));
    if (!kind)
        return;
    if (strcmp (kind, "transform") == 0)
        printf ("  transform %-20s %-11s alias %s\n", name ? name : "?", matched ? "matched" : "not matched",
                alias ? alias : "");
    else if (strcmp (kind, "rule") == 0) {
        printf ("  rule      %-20s %-11s", name ? name : "?", matched ? "matched" : "not matched");
        if (json_object_get (step, "priority"))
            printf (" priority %" JSON_INTEGER_FORMAT, json_integer_value (json_object_get (step, "priority")));
        if (matched)
            printf ("%s alias %s, target %s", json_object_get (step, "priority") ? "," : "", alias ? alias : "",
                    json_string_value (json_object_get (step, "target"))
                        ? json_string_value (json_object_get (step, "target"))
                        : "?");
        printf ("\n");
    }
    else if (strcmp (kind, "zone") == 0) {
        char *query = cli_field (step, "query"), *result = cli_field (step, "result");
        printf ("  zone      %-20s %-11s query %s: %s\n",
                json_string_value (json_object_get (step, "zone")) ? json_string_value (json_object_get (step, "zone"))
                                                                   : "?",
                json_string_value (json_object_get (step, "type")) ? json_string_value (json_object_get (step, "type"))
                                                                   : "",
                query, result);
        free (query);
        free (result);
    }
    else if (strcmp (kind, "target") == 0) {
        const char *error = json_string_value (json_object_get (step, "error"));
        printf ("  search    %-20s %-11s alias %s",
                json_string_value (json_object_get (step, "target"))
                    ? json_string_value (json_object_get (step, "target"))
                    : "?",
                json_is_true (json_object_get (step, "found")) ? "found" : "not found", alias ? alias : "");
        if (json_object_get (step, "next_hops"))
            printf (", %" JSON_INTEGER_FORMAT " next hop(s)", json_integer_value (json_object_get (step, "next_hops")));
        if (json_object_get (step, "contacts"))
            printf (", %" JSON_INTEGER_FORMAT " contact(s)", json_integer_value (json_object_get (step, "contacts")));
        if (error)
            printf (" (%s)", error);
        printf ("\n");
    }
    else if (strcmp (kind, "findme") == 0) {
        printf ("  findme    %-20s location %s, %" JSON_INTEGER_FORMAT " device(s) registered",
                json_string_value (json_object_get (step, "account"))
                    ? json_string_value (json_object_get (step, "account"))
                    : "?",
                json_string_value (json_object_get (step, "location"))
                    ? json_string_value (json_object_get (step, "location"))
                    : "?",
                json_integer_value (json_object_get (step, "registered")));
        size_t i;
        json_t *device;
        json_array_foreach (json_object_get (step, "devices"), i, device) {
            const char *text = json_string_value (json_object_get (device, "alias"));
            printf ("%s%s%s", i ? ", " : ": ",
                    text                         ? text
                    : json_string_value (device) ? json_string_value (device)
                                                 : "?",
                    json_is_false (json_object_get (device, "registered")) ? " (not registered)" : "");
        }
        printf ("\n");
    }
    else if (strcmp (kind, "result") == 0) {
        size_t i;
        json_t *route;
        json_array_foreach (json_object_get (step, "routes"), i, route) {
            char *hops = cli_field (route, "next_hops");
            printf ("  route     %-20s alias %s, next hops %s\n",
                    json_string_value (json_object_get (route, "target"))
                        ? json_string_value (json_object_get (route, "target"))
                        : "?",
                    json_string_value (json_object_get (route, "alias"))
                        ? json_string_value (json_object_get (route, "alias"))
                        : "",
                    hops);
            free (hops);
        }
    }
}

void
cli_render_locate (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    char *alias = cli_field (body, "alias"), *transformed = cli_field (body, "transformed"),
         *result = cli_field (body, "result");
    printf ("alias: %s\ntransformed: %s\nsteps:\n", alias, transformed);
    size_t i;
    json_t *step;
    json_array_foreach (json_object_get (body, "steps"), i, step)
        s_search_step (step);
    printf ("result: %s\n", result);
    free (alias);
    free (transformed);
    free (result);
}

void
cli_render_search_history (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    json_t *searches = json_object_get (body, "searches");
    if (json_array_size (searches) == 0) {
        printf ("no searches yet on this peer\n");
        return;
    }
    size_t i;
    json_t *entry;
    json_array_foreach (searches, i, entry) {
        char *id = cli_field (entry, "id"), *at = cli_field (entry, "at"), *alias = cli_field (entry, "alias"),
             *source = cli_field (entry, "source"), *transformed = cli_field (entry, "transformed"),
             *result = cli_field (entry, "result");
        printf ("%s %s%s: %s from %s -> %s\n", at, id,
                json_is_true (json_object_get (entry, "locate")) ? " (locate)" : "", alias, source, transformed);
        size_t j;
        json_t *step;
        json_array_foreach (json_object_get (entry, "steps"), j, step)
            s_search_step (step);
        printf ("  result: %s\n", result);
        free (id);
        free (at);
        free (alias);
        free (source);
        free (transformed);
        free (result);
    }
}

//  ---------------------------------------------------------------------
//  admin list, admin token, audit

void
cli_render_admin_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *accounts = json_object_get (body, "accounts");
    if (!json_is_array (accounts)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (accounts) == 0) {
        printf ("%s\n", json_is_false (json_object_get (body, "loaded"))
                            ? "the accounts are still being loaded; try again"
                            : "no web administrator accounts (add one with `causeway admin add NAME`)");
        return;
    }
    static const char *const header [] = { "NAME", "CREATED", "CHANGED", "TOKENS" };
    cli_table_t *table = cli_table_new (4, header);
    size_t index;
    json_t *account;
    json_array_foreach (accounts, index, account) {
        //  the ids of its API tokens, comma-separated ("-" for none)
        json_t *tokens = json_object_get (account, "tokens");
        json_t *ids = json_array ();
        size_t i;
        json_t *token;
        json_array_foreach (tokens, i, token)
            json_array_append (ids, json_object_get (token, "id"));
        char *text = json_array_size (ids) ? cli_value_text (ids) : strdup ("-");
        json_decref (ids);
        char *cells [4] = { cli_field (account, "name"), cli_field (account, "created"), cli_field (account, "changed"),
                            text };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

void
cli_render_admin_token (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    const char *token = json_string_value (json_object_get (body, "token"));
    if (!token) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    fprintf (stderr, "API token of %s (id %s); it is shown only this once:\n",
             json_string_value (json_object_get (body, "name")), json_string_value (json_object_get (body, "id")));
    printf ("%s\n", token);
}

void
cli_render_audit (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *entries = json_object_get (body, "entries");
    if (!json_is_array (entries)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (entries) == 0) {
        printf ("the audit log of this peer is empty\n");
        return;
    }
    static const char *const header [] = { "AT", "USER", "SOURCE", "ACTION", "DETAIL", "RESULT" };
    cli_table_t *table = cli_table_new (6, header);
    size_t index;
    json_t *entry;
    json_array_foreach (entries, index, entry) {
        char *cells [6] = { cli_field (entry, "at"),     cli_field (entry, "user"),   cli_field (entry, "source"),
                            cli_field (entry, "action"), cli_field (entry, "detail"), cli_field (entry, "result") };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

//  ---------------------------------------------------------------------
//  transforms list|test, search-rules list

void
cli_render_transforms (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *transforms = json_object_get (body, "transforms");
    if (!json_is_array (transforms)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (transforms) == 0) {
        printf ("%s\n", json_is_true (json_object_get (body, "loading"))
                            ? "the transforms are still being loaded; try again"
                            : "no transforms (add one with `causeway transforms add NAME ...`)");
        return;
    }
    static const char *const header [] = { "PRIORITY", "NAME", "TYPE", "PATTERN", "REPLACE", "STATE" };
    static const char *const keys [] = { "priority", "name", "pattern_type", "pattern", "replace", "state" };
    cli_table_t *table = cli_table_new (6, header);
    size_t index;
    json_t *rule;
    json_array_foreach (transforms, index, rule) {
        char *cells [6];
        for (int c = 0; c < 6; c++)
            cells [c] = cli_field (rule, keys [c]);
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

void
cli_render_transforms_test (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    const char *transform = json_string_value (json_object_get (body, "transform"));
    printf ("alias:     %s\n", json_string_value (json_object_get (body, "alias")));
    printf ("result:    %s\n", json_string_value (json_object_get (body, "result")));
    printf ("transform: %s\n", transform ? transform : "(none matched)");
}

void
cli_render_search_rules (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *rules = json_object_get (body, "search_rules");
    if (!json_is_array (rules)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (rules) == 0) {
        printf ("%s\n", json_is_true (json_object_get (body, "loading"))
                            ? "the search rules are still being loaded; try again"
                            : "no search rules (add one with `causeway search-rules add NAME ...`)");
        return;
    }
    static const char *const header [] = { "PRIORITY",  "NAME",     "SOURCE", "AUTH", "MATCH",
                                           "BEHAVIOUR", "ON-MATCH", "TARGET", "STATE" };
    cli_table_t *table = cli_table_new (9, header);
    size_t index;
    json_t *rule;
    json_array_foreach (rules, index, rule) {
        const char *mode = json_string_value (json_object_get (rule, "mode"));
        const char *behaviour = json_string_value (json_object_get (rule, "behaviour"));
        bool any = !mode || strcmp (mode, "any_alias") == 0;
        char *cells [9];
        cells [0] = cli_field (rule, "priority");
        cells [1] = cli_field (rule, "name");
        cells [2] = cli_field (rule, "source");
        cells [3] = strdup (json_is_true (json_object_get (rule, "authenticated")) ? "yes" : "no");
        cells [4] = any ? strdup ("any alias")
                        : zsys_sprintf ("%s %s", json_string_value (json_object_get (rule, "pattern_type")),
                                        json_string_value (json_object_get (rule, "pattern")));
        cells [5] = behaviour && strcmp (behaviour, "replace") == 0
                      ? zsys_sprintf ("replace %s", json_string_value (json_object_get (rule, "replace")))
                      : cli_field (rule, "behaviour");
        cells [6] = cli_field (rule, "on_match");
        cells [7] = cli_field (rule, "target");
        cells [8] = cli_field (rule, "state");
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

//  transforms add, search-rules add: the rule's JSON from the options
const char *
cli_check_dialplan_rule (json_t *args)
{
    //  a number stays a number; anything else goes as it is (and is refused
    //  by causewayd with the field)
    const char *priority = json_string_value (json_object_get (args, "priority"));
    if (priority && *priority && strspn (priority, "0123456789") == strlen (priority) && strlen (priority) < 10)
        json_object_set_new (args, "priority", json_integer (strtoll (priority, NULL, 10)));
    const char *authenticated = json_string_value (json_object_get (args, "authenticated"));
    if (authenticated) {
        if (strcmp (authenticated, "yes") && strcmp (authenticated, "no"))
            return "--authenticated must be yes or no";
        json_object_set_new (args, "authenticated", json_boolean (strcmp (authenticated, "yes") == 0));
    }
    const char *mode = json_string_value (json_object_get (args, "mode"));
    //  --pattern without --mode: the rule is a pattern match
    if (!mode && json_object_get (args, "pattern") && json_object_get (args, "target"))
        mode = "pattern";
    if (mode) {
        if (strcmp (mode, "any") && strcmp (mode, "pattern"))
            return "--mode must be any or pattern";
        json_object_set_new (args, "mode", json_string (strcmp (mode, "any") == 0 ? "any_alias" : "pattern_match"));
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  zones list, zones status, zones resolve

void
cli_render_zones_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    json_t *zones = json_object_get (body, "zones");
    if (json_array_size (zones) == 0) {
        printf ("%s\n", json_is_true (json_object_get (body, "loading"))
                            ? "the zones are still being loaded; try again"
                            : "no zones (add one with `causeway zones add NAME --type neighbour|dns ...`)");
        return;
    }
    static const char *const header [] = { "NAME", "TYPE", "TRANSPORT", "PORT", "KEEPALIVE", "ADDRESSES" };
    static const char *const keys [] = { "name", "type", "transport", "port", "keepalive_s", "addresses" };
    cli_table_t *table = cli_table_new (6, header);
    size_t index;
    json_t *zone;
    json_array_foreach (zones, index, zone) {
        char *cells [6];
        for (int c = 0; c < 6; c++)
            cells [c] = cli_field (zone, keys [c]);
        if (strcmp (json_string_value (json_object_get (zone, "type")) ?: "", "dns") == 0) {
            free (cells [3]);
            free (cells [4]);
            free (cells [5]);
            cells [3] = strdup ("-");
            cells [4] = strdup ("-");
            cells [5] = strdup ("(the alias's domain, by DNS)");
        }
        else {
            char *text = cells [4];
            size_t size = strlen (text) + 3;
            cells [4] = (char *) malloc (size);
            snprintf (cells [4], size, "%ss", text);
            free (text);
        }
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

void
cli_render_zones_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    json_t *zones = json_object_get (body, "zones");
    if (json_array_size (zones) == 0) {
        printf ("no zones\n");
        return;
    }
    static const char *const header [] = { "ZONE", "TYPE", "STATE", "ADDRESS", "ADDRESS-STATE", "LAST-OK", "ERROR" };
    cli_table_t *table = cli_table_new (7, header);
    size_t index;
    json_t *zone;
    json_array_foreach (zones, index, zone) {
        json_t *addresses = json_object_get (zone, "addresses");
        if (json_array_size (addresses) == 0) {
            json_t *servers = json_object_get (zone, "servers");
            char *list = servers ? cli_value_text (servers) : strdup ("");
            size_t size = strlen (list) + 16;
            char *text = (char *) malloc (size);
            snprintf (text, size, "servers %s", list);
            free (list);
            char *cells [7] = { cli_field (zone, "name"),
                                cli_field (zone, "type"),
                                cli_field (zone, "state"),
                                text,
                                strdup ("-"),
                                strdup ("-"),
                                strdup ("") };
            cli_table_add (table, cells);
            continue;
        }
        size_t a;
        json_t *address;
        json_array_foreach (addresses, a, address) {
            char *cells [7] = { a ? strdup ("") : cli_field (zone, "name"),
                                a ? strdup ("") : cli_field (zone, "type"),
                                a ? strdup ("") : cli_field (zone, "state"),
                                cli_field (address, "address"),
                                cli_field (address, "state"),
                                cli_field (address, "last_ok"),
                                cli_field (address, "error") };
            cli_table_add (table, cells);
        }
    }
    cli_table_print_destroy (&table);
}

void
cli_render_zones_resolve (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    (void) cli;
    (void) cmd;
    (void) args;
    size_t index;
    json_t *step;
    json_array_foreach (json_object_get (body, "steps"), index, step) {
        char *query = cli_field (step, "query"), *result = cli_field (step, "result");
        printf ("%s -> %s\n", query, result);
        free (query);
        free (result);
    }
    static const char *const header [] = { "#", "ADDRESS", "TRANSPORT", "HOST" };
    cli_table_t *table = cli_table_new (4, header);
    json_t *target;
    json_array_foreach (json_object_get (body, "targets"), index, target) {
        char number [24];
        snprintf (number, sizeof number, "%zu", index + 1);
        char *cells [4] = { strdup (number), cli_field (target, "address"), cli_field (target, "transport"),
                            cli_field (target, "host") };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}
