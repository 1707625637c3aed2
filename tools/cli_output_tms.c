/*  cli_output_tms.c - how the causeway CLI prints the tms actor's replies:
    tms status, tms refresh, tms diff, findme list|show, phonebook search
    (the shared table and field helpers are cli_output.c's, see cli.h).
*/

#include "cli.h"

#include <czmq.h>
#include <string.h>
#include <time.h>

//  ---------------------------------------------------------------------
//  tms diff

void
cli_render_tms_diff (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *peers = json_object_get (body, "peers");
    if (!json_is_array (peers)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    json_t *reference = NULL;
    size_t index;
    json_t *peer;
    json_array_foreach (peers, index, peer) {
        const char *state = json_string_value (json_object_get (peer, "state"));
        const char *error = json_string_value (json_object_get (peer, "error"));
        bool is_reference = json_is_true (json_object_get (peer, "reference"));
        if (is_reference)
            reference = peer;
        printf ("peer %lld  %s  %s%s%s%s%s\n", (long long) json_integer_value (json_object_get (peer, "index")),
                json_string_value (json_object_get (peer, "address")),
                state && strcmp (state, "ok") == 0 ? "OK"
                : state                            ? state
                                                   : "?",
                error ? ": " : "", error ? error : "",
                json_is_true (json_object_get (peer, "primary")) ? "  (primary)" : "",
                is_reference ? "  (the reference)" : "");
    }
    bool differ = false;
    json_array_foreach (peers, index, peer) {
        json_t *lines = json_object_get (peer, "differences");
        if (!reference || json_array_size (lines) == 0)
            continue;
        differ = true;
        printf ("--- peer %lld %s\n+++ peer %lld %s\n",
                (long long) json_integer_value (json_object_get (reference, "index")),
                json_string_value (json_object_get (reference, "address")),
                (long long) json_integer_value (json_object_get (peer, "index")),
                json_string_value (json_object_get (peer, "address")));
        size_t n;
        json_t *line;
        json_array_foreach (lines, n, line)
            printf ("%s\n", json_string_value (line));
    }
    if (!reference)
        printf ("no peer could be read: nothing compared\n");
    else if (differ)
        printf ("the peers' configurations differ\n");
    else if (json_is_true (json_object_get (body, "all_read")))
        printf ("no differences\n");
    else
        printf ("no differences between the peers read; the others could not be compared\n");
}

//  ---------------------------------------------------------------------
//  tms status

//  One line on /alternatesconfiguration.xml: the tms actor's fallback
//  listener (ALTERNATES, the status's "alternates") or the web admin
static void
s_alternates_line (json_t *alternates)
{
    if (!json_is_object (alternates))
        return;
    const char *reason = json_string_value (json_object_get (alternates, "reason"));
    if (!json_is_true (json_object_get (alternates, "listening"))) {
        printf ("alternates:    not served by the tms actor%s%s\n", reason && *reason ? " - " : "",
                reason && *reason ? reason : "");
        return;
    }
    printf ("alternates:    fallback listening on");
    size_t i;
    json_t *address;
    json_array_foreach (json_object_get (alternates, "addresses"), i, address)
        printf ("%s%s", i ? ", " : " ", json_string_value (address));
    printf (", %lld served, %lld refused%s%s\n",
            (long long) json_integer_value (json_object_get (alternates, "served")),
            (long long) json_integer_value (json_object_get (alternates, "refused")), reason && *reason ? " - " : "",
            reason && *reason ? reason : "");
}

void
cli_render_tms_status (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    const char *state = json_string_value (json_object_get (body, "state"));
    json_t *queue = json_object_get (body, "queue");
    if (!state || !json_is_object (queue)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    const char *reason = json_string_value (json_object_get (body, "reason"));
    const char *manager = json_string_value (json_object_get (body, "manager"));
    const char *oldest = json_string_value (json_object_get (queue, "oldest"));
    const char *success = json_string_value (json_object_get (body, "last_success"));
    const char *user = json_string_value (json_object_get (body, "user"));
    printf ("state:         %s%s%s\n", state, reason && *reason ? " - " : "", reason && *reason ? reason : "");
    printf ("manager:       %s\n", manager && *manager ? manager : "(none: tms.address is empty)");
    printf ("certificate:   %s\n",
            json_is_true (json_object_get (body, "verify_certificate")) ? "verified" : "not verified");
    printf ("credentials:   %s\n", user ? user : "(none)");
    printf ("queue:         %lld events, %lld dropped, oldest %s\n",
            (long long) json_integer_value (json_object_get (queue, "length")),
            (long long) json_integer_value (json_object_get (queue, "dropped")), oldest ? oldest : "-");
    printf ("events sent:   %lld\n", (long long) json_integer_value (json_object_get (body, "events_sent")));
    printf ("last success:  %s\n", success ? success : "never");
    s_alternates_line (json_object_get (body, "alternates"));
    json_t *prov = json_object_get (body, "provisioning");
    json_t *services = json_object_get (prov, "services");
    if (!json_is_object (services))
        return;
    const char *role = json_string_value (json_object_get (prov, "role"));
    const char *why = json_string_value (json_object_get (prov, "reason"));
    printf ("provisioning:  %s%s%s\n", role ? role : "?", why && *why ? " - " : "", why && *why ? why : "");
    const char *head [] = { "SERVICE", "STATE", "REVISION", "ROWS", "LAST SYNC", "ERRORS", "LAST ERROR" };
    cli_table_t *table = cli_table_new (7, head);
    const char *name;
    json_t *svc;
    json_object_foreach (services, name, svc) {
        char sync [40] = "never";
        json_t *at = json_object_get (svc, "last_sync");
        if (json_is_integer (at)) {
            time_t t = (time_t) json_integer_value (at);
            struct tm tm;
            gmtime_r (&t, &tm);
            strftime (sync, sizeof sync, "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        char *cells [] = {
            strdup (name), cli_field (svc, "state"),  cli_field (svc, "revision"),  cli_field (svc, "rows"),
            strdup (sync), cli_field (svc, "errors"), cli_field (svc, "last_error")
        };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
}

//  ---------------------------------------------------------------------
//  tms refresh

void
cli_render_tms_refresh (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *list = json_object_get (body, "refresh");
    if (!json_is_array (list)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    size_t i;
    json_t *name;
    printf ("full pull started:");
    json_array_foreach (list, i, name)
        printf ("%s %s", i ? "," : "", json_string_value (name));
    printf ("\n");
}

//  ---------------------------------------------------------------------
//  findme list|show, phonebook search

//  The devices of ACCOUNT's location NAME, comma-separated (owned)
static char *
s_devices (json_t *account, const char *name)
{
    size_t index;
    json_t *location;
    json_array_foreach (json_object_get (account, "locations"), index, location) {
        if (!name || strcmp (json_string_value (json_object_get (location, "name")) ?: "", name) != 0)
            continue;
        char *text = strdup ("");
        size_t d;
        json_t *device;
        json_array_foreach (json_object_get (location, "devices"), d, device) {
            const char *alias = json_string_value (device);
            char *more = NULL;
            if (alias && asprintf (&more, "%s%s%s", text, *text ? ", " : "", alias) >= 0) {
                free (text);
                text = more;
            }
        }
        if (*text)
            return text;
        free (text);
        break;
    }
    return strdup ("-");
}

void
cli_render_findme_list (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *accounts = json_object_get (body, "accounts");
    if (!json_is_array (accounts)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (accounts) == 0) {
        printf ("no FindMe accounts%s\n", json_object_get (args, "query") ? " match" : "");
        return;
    }
    static const char *const header [] = { "ID", "ALIAS", "USER", "NAME", "ACTIVE LOCATION", "DEVICES" };
    cli_table_t *table = cli_table_new (6, header);
    size_t index;
    json_t *account;
    json_array_foreach (accounts, index, account) {
        char *cells [6] = { cli_field (account, "id"),
                            cli_field (account, "alias"),
                            cli_field (account, "user"),
                            cli_field (account, "display_name"),
                            cli_field (account, "active_location"),
                            s_devices (account, json_string_value (json_object_get (account, "active_location"))) };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
    if (json_is_true (json_object_get (body, "more"))) {
        json_t *last = json_array_get (accounts, json_array_size (accounts) - 1);
        printf ("more: causeway findme list --after %s\n", json_string_value (json_object_get (last, "id")) ?: "");
    }
}

void
cli_render_findme_show (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *account = json_object_get (body, "account");
    if (!json_is_object (account)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    static const char *const fields [][2] = { { "id", "id" },
                                              { "alias", "alias" },
                                              { "user", "user" },
                                              { "username", "username" },
                                              { "name", "display_name" },
                                              { "active location", "active_location" },
                                              { "revision", "rev" } };
    for (size_t i = 0; i < sizeof fields / sizeof fields [0]; i++) {
        char *text = cli_field (account, fields [i][1]);
        printf ("%-16s %s\n", fields [i][0], text);
        free (text);
    }
    const char *active = json_string_value (json_object_get (account, "active_location"));
    static const char *const header [] = { "LOCATION", "ACTIVE", "DEVICES" };
    cli_table_t *table = cli_table_new (3, header);
    size_t index;
    json_t *location;
    json_array_foreach (json_object_get (account, "locations"), index, location) {
        const char *name = json_string_value (json_object_get (location, "name"));
        char *cells [3] = { cli_field (location, "name"),
                            strdup (active && name && !strcmp (active, name) ? "yes" : ""), s_devices (account, name) };
        cli_table_add (table, cells);
    }
    printf ("\n");
    cli_table_print_destroy (&table);
}

int
cli_run_findme_show (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    //  An alias has an '@' (user@domain); anything else is an account id
    const char *word = json_string_value (json_object_get (args, "id"));
    json_t *request = json_pack ("{s:s}", word && strchr (word, '@') ? "alias" : "id", word ? word : "");
    json_t *body = NULL;
    char err [512];
    int rc = cli_request (cli, cmd->wire, request, &body, false, err, sizeof err);
    json_decref (request);
    if (rc == CLI_EXIT_OK)
        cli_render_reply (cli, cmd, body, args);
    json_decref (body);
    return rc;
}

void
cli_render_phonebook_search (cli_t *cli, const cli_command_t *cmd, json_t *args, json_t *body)
{
    json_t *entries = json_object_get (body, "entries");
    if (!json_is_array (entries)) {
        cli_render_generic (cli, cmd, args, body);
        return;
    }
    if (json_array_size (entries) == 0) {
        printf ("no phone book entry matches '%s'\n", json_string_value (json_object_get (body, "query")) ?: "");
        return;
    }
    static const char *const header [] = { "NAME", "NUMBER", "URI", "BOOK", "ID" };
    cli_table_t *table = cli_table_new (5, header);
    size_t index;
    json_t *entry;
    json_array_foreach (entries, index, entry) {
        char *cells [5] = { cli_field (entry, "name"), cli_field (entry, "number"), cli_field (entry, "uri"),
                            cli_field (entry, "book"), cli_field (entry, "id") };
        cli_table_add (table, cells);
    }
    cli_table_print_destroy (&table);
    if (json_is_true (json_object_get (body, "more")))
        printf ("more entries match: a longer query or --limit (at most 100) shows them\n");
}
