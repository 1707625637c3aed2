/*  cli_alternates.c - `causeway tms diff`: the guide's cluster diagnostic
    (wget of every peer's /alternatesconfiguration.xml, then diff) in one
    command.

    cluster.status gives the peers (a node not in a cluster is alone: its
    own web admin address). Every peer's document is fetched at once with
    libcurl's multi interface over HTTPS on the web admin's port (--port,
    else this node's webadmin.listen port: the listener on this peer's
    cluster address, else a wildcard one, else the first), with HTTP Basic
    (--user NAME --password-file F) or an API token (--token-file F),
    the certificate checked against --cacert FILE, else against the
    system's CA store (libcurl's default), always with the host name.

    The documents are compared line by line with the reference: the
    primary's, or the first peer read when the primary could not be.
    ThisSystem and Alternates are left out of the comparison: they name
    the peer itself, so they differ on every peer by design (the peer list
    they are made from is compared). A difference is printed as diff -u
    prints changed lines ("-" the reference's, "+" the peer's), found by a
    longest common subsequence of the lines.
*/

#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_SECRET_MAX 1024
//  The largest document read
#define S_BODY_MAX (8 * 1024 * 1024)
//  Larger documents than this many lines (each) are compared without the LCS
#define S_LCS_MAX_LINES 4000

typedef struct {
    int index;    //  1..6, 0 when not in a cluster
    char address [256];
    char url [400];
    CURL *easy;
    char *body;
    size_t size;
    bool too_big;
    char error [CURL_ERROR_SIZE];
    long status;
    int curl_rc;
} s_peer_t;

//  ---------------------------------------------------------------------
//  Credentials

//  The first line of FILE into BUF; 0, or -1 with the reason in WHY
static int
s_read_secret (const char *file, char *buf, size_t len, char *why, size_t whylen)
{
    FILE *in = fopen (file, "r");
    if (!in) {
        snprintf (why, whylen, "cannot read %s: %s", file, strerror (errno));
        return -1;
    }
    bool got = fgets (buf, (int) len, in) != NULL;
    fclose (in);
    if (!got)
        buf [0] = 0;
    size_t n = strlen (buf);
    if (n == len - 1 && buf [n - 1] != '\n') {
        explicit_bzero (buf, len);
        snprintf (why, whylen, "the first line of %s is longer than %zu characters", file, len - 2);
        return -1;
    }
    while (n && (buf [n - 1] == '\n' || buf [n - 1] == '\r'))
        buf [--n] = 0;
    if (!n) {
        snprintf (why, whylen, "%s is empty", file);
        return -1;
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  Where to fetch

static bool
s_wildcard (const char *address)
{
    return strcmp (address, "0.0.0.0") == 0 || strcmp (address, "::") == 0;
}

//  The web admin port: the listener on ADDRESS, else a wildcard, else the
//  first; 0 when the node has none.
static int
s_port_of (const cw_bootstrap_t *boot, const char *address)
{
    for (int i = 0; address && i < boot->webadmin.listen_count; i++)
        if (strcmp (boot->webadmin.listen [i].address, address) == 0)
            return boot->webadmin.listen [i].port;
    for (int i = 0; i < boot->webadmin.listen_count; i++)
        if (s_wildcard (boot->webadmin.listen [i].address))
            return boot->webadmin.listen [i].port;
    return boot->webadmin.listen_count ? boot->webadmin.listen [0].port : 0;
}

static size_t
s_on_data (char *data, size_t size, size_t count, void *arg)
{
    s_peer_t *peer = (s_peer_t *) arg;
    size_t len = size * count;
    if (peer->size + len > S_BODY_MAX) {
        peer->too_big = true;
        return 0;
    }
    char *grown = realloc (peer->body, peer->size + len + 1);
    if (!grown)
        return 0;
    memcpy (grown + peer->size, data, len);
    peer->body = grown;
    peer->size += len;
    peer->body [peer->size] = 0;
    return len;
}

//  Fetch every peer's document at once; each peer's result in its struct.
static int
s_fetch (s_peer_t *peers, int count, const char *user, const char *password, const char *token, const char *cacert,
         int timeout_ms)
{
    CURLM *multi = curl_multi_init ();
    if (!multi)
        return -1;
    struct curl_slist *headers = NULL;
    char bearer [S_SECRET_MAX + 32];
    if (token) {
        snprintf (bearer, sizeof bearer, "Authorization: Bearer %s", token);
        headers = curl_slist_append (NULL, bearer);
        explicit_bzero (bearer, sizeof bearer);
    }
    for (int i = 0; i < count; i++) {
        CURL *easy = curl_easy_init ();
        if (!easy) {
            snprintf (peers [i].error, sizeof peers [i].error, "out of memory");
            peers [i].curl_rc = CURLE_OUT_OF_MEMORY;
            continue;
        }
        peers [i].easy = easy;
        curl_easy_setopt (easy, CURLOPT_URL, peers [i].url);
        curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt (easy, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
        curl_easy_setopt (easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt (easy, CURLOPT_SSL_VERIFYHOST, 2L);
        if (cacert)
            curl_easy_setopt (easy, CURLOPT_CAINFO, cacert);
        if (headers)
            curl_easy_setopt (easy, CURLOPT_HTTPHEADER, headers);
        else {
            curl_easy_setopt (easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
            curl_easy_setopt (easy, CURLOPT_USERNAME, user);
            curl_easy_setopt (easy, CURLOPT_PASSWORD, password);
        }
        curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_on_data);
        curl_easy_setopt (easy, CURLOPT_WRITEDATA, &peers [i]);
        curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, peers [i].error);
        curl_easy_setopt (easy, CURLOPT_PRIVATE, &peers [i]);
        curl_multi_add_handle (multi, easy);
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform (multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll (multi, NULL, 0, 200, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (multi, &left)))
        if (msg->msg == CURLMSG_DONE) {
            s_peer_t *peer = NULL;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &peer);
            peer->curl_rc = msg->data.result;
            if (!*peer->error && msg->data.result != CURLE_OK)
                snprintf (peer->error, sizeof peer->error, "%s", curl_easy_strerror (msg->data.result));
            curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &peer->status);
        }
    for (int i = 0; i < count; i++)
        if (peers [i].easy) {
            curl_multi_remove_handle (multi, peers [i].easy);
            curl_easy_cleanup (peers [i].easy);
            peers [i].easy = NULL;
        }
    curl_multi_cleanup (multi);
    if (headers) {
        explicit_bzero (headers->data, strlen (headers->data));
        curl_slist_free_all (headers);
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The comparison

typedef struct {
    char **lines;
    size_t count;
} s_lines_t;

//  Whether LINE opens the element NAME (not one whose name starts with it)
static bool
s_opens (const char *line, const char *name)
{
    size_t len = strlen (name);
    return line [0] == '<' && strncmp (line + 1, name, len) == 0
        && (line [len + 1] == '>' || line [len + 1] == '/' || line [len + 1] == ' ');
}

//  The compared lines of TEXT (ThisSystem and Alternates left out)
static s_lines_t
s_lines (const char *text)
{
    s_lines_t out = { NULL, 0 };
    size_t cap = 0;
    const char *skip_to = NULL;
    for (const char *p = text; p && *p;) {
        size_t len = strcspn (p, "\n");
        const char *start = p;
        while (start < p + len && (*start == ' ' || *start == '\t'))
            start++;
        size_t trimmed = (size_t) (p + len - start);
        bool keep = true;
        if (skip_to) {
            keep = false;
            if (strncmp (start, skip_to, strlen (skip_to)) == 0)
                skip_to = NULL;
        }
        else if (s_opens (start, "ThisSystem") || s_opens (start, "Alternates")) {
            keep = false;
            bool closed = memmem (start, trimmed, "/>", 2) || memmem (start, trimmed, "</", 2);
            if (!closed)
                skip_to = start [1] == 'T' ? "</ThisSystem>" : "</Alternates>";
        }
        if (keep) {
            if (out.count == cap) {
                cap = cap ? cap * 2 : 64;
                char **grown = realloc (out.lines, cap * sizeof *grown);
                if (!grown)
                    break;
                out.lines = grown;
            }
            out.lines [out.count++] = strndup (p, len);
        }
        p += len + (p [len] == '\n');
    }
    return out;
}

static void
s_lines_free (s_lines_t *lines)
{
    for (size_t i = 0; i < lines->count; i++)
        free (lines->lines [i]);
    free (lines->lines);
    lines->lines = NULL;
    lines->count = 0;
}

//  The changed lines between A and B: "-" lines of A, "+" lines of B
static json_t *
s_diff (const s_lines_t *a, const s_lines_t *b)
{
    json_t *out = json_array ();
    size_t n = a->count, m = b->count;
    unsigned *lcs = NULL;
    if (n <= S_LCS_MAX_LINES && m <= S_LCS_MAX_LINES)
        lcs = calloc ((n + 1) * (m + 1), sizeof *lcs);
    if (!lcs) {
        //  Too large to align: every line of both that is not the same at the same place
        for (size_t i = 0; i < n || i < m; i++)
            if (i >= n || i >= m || strcmp (a->lines [i], b->lines [i]) != 0) {
                if (i < n)
                    json_array_append_new (out, json_sprintf ("-%s", a->lines [i]));
                if (i < m)
                    json_array_append_new (out, json_sprintf ("+%s", b->lines [i]));
            }
        return out;
    }
#define L(i, j) lcs [(i) * (m + 1) + (j)]
    for (size_t i = n; i-- > 0;)
        for (size_t j = m; j-- > 0;)
            L (i, j) = strcmp (a->lines [i], b->lines [j]) == 0 ? L (i + 1, j + 1) + 1
                     : L (i + 1, j) >= L (i, j + 1)             ? L (i + 1, j)
                                                                : L (i, j + 1);
    size_t i = 0, j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && strcmp (a->lines [i], b->lines [j]) == 0) {
            i++;
            j++;
        }
        else if (j >= m || (i < n && L (i + 1, j) >= L (i, j + 1)))
            json_array_append_new (out, json_sprintf ("-%s", a->lines [i++]));
        else
            json_array_append_new (out, json_sprintf ("+%s", b->lines [j++]));
    }
#undef L
    free (lcs);
    return out;
}

//  ---------------------------------------------------------------------
//  The command

int
cli_run_tms_diff (cli_t *cli, const cli_command_t *cmd, json_t *args)
{
    const char *user = json_string_value (json_object_get (args, "user"));
    const char *password_file = json_string_value (json_object_get (args, "password_file"));
    const char *token_file = json_string_value (json_object_get (args, "token_file"));
    const char *cacert = json_string_value (json_object_get (args, "cacert"));
    int port = (int) json_integer_value (json_object_get (args, "port"));
    if (token_file && (user || password_file))
        return cli_usage_error (cmd, "give --token-file F, or --user NAME with --password-file F, not both");
    if (!token_file && !(user && password_file))
        return cli_usage_error (cmd, "the peers ask for an administrator: give --user NAME --password-file F, "
                                     "or --token-file F");
    if (port < 0 || port > 65535)
        return cli_usage_error (cmd, "--port must be 1-65535");
    char secret [S_SECRET_MAX], why [512];
    if (s_read_secret (token_file ? token_file : password_file, secret, sizeof secret, why, sizeof why) != 0)
        return cli_usage_error (cmd, "%s", why);

    json_t *status = NULL;
    char err [512];
    int rc = cli_request (cli, "cluster.status", NULL, &status, false, err, sizeof err);
    if (rc != CLI_EXIT_OK) {
        explicit_bzero (secret, sizeof secret);
        return rc;
    }
    json_t *list = json_object_get (status, "peers");
    long long this_peer = json_integer_value (json_object_get (status, "this_peer"));
    long long primary = json_integer_value (json_object_get (status, "primary"));
    const char *this_address = NULL;
    size_t k;
    json_t *item;
    json_array_foreach (list, k, item)
        if (json_integer_value (json_object_get (item, "index")) == this_peer)
            this_address = json_string_value (json_object_get (item, "address"));
    if (!port) {
        int exit_code = CLI_EXIT_USAGE;
        cw_bootstrap_t *boot = cli_bootstrap (cli, &exit_code);
        if (!boot) {
            json_decref (status);
            explicit_bzero (secret, sizeof secret);
            return exit_code;
        }
        port = s_port_of (boot, this_address);
        if (!port) {
            json_decref (status);
            explicit_bzero (secret, sizeof secret);
            return cli_usage_error (cmd, "%s has no webadmin.listen address: give --port N", boot->file);
        }
    }

    int count = (int) json_array_size (list);
    s_peer_t *peers = calloc (count ? (size_t) count : 1, sizeof *peers);
    if (!peers) {
        json_decref (status);
        explicit_bzero (secret, sizeof secret);
        cli_error ("out of memory");
        return CLI_EXIT_FAILED;
    }
    if (count == 0) {
        //  Not in a cluster: this node alone, on its own web admin address
        int exit_code = CLI_EXIT_USAGE;
        cw_bootstrap_t *boot = cli_bootstrap (cli, &exit_code);
        const char *address = "127.0.0.1";
        for (int i = 0; boot && i < boot->webadmin.listen_count; i++)
            if (boot->webadmin.listen [i].port == port && !s_wildcard (boot->webadmin.listen [i].address)) {
                address = boot->webadmin.listen [i].address;
                break;
            }
        snprintf (peers [0].address, sizeof peers [0].address, "%s", address);
        count = 1;
    }
    else
        json_array_foreach (list, k, item) {
            peers [k].index = (int) json_integer_value (json_object_get (item, "index"));
            const char *address = json_string_value (json_object_get (item, "address"));
            snprintf (peers [k].address, sizeof peers [k].address, "%s", address ? address : "");
        }
    for (int i = 0; i < count; i++)
        snprintf (peers [i].url, sizeof peers [i].url,
                  strchr (peers [i].address, ':') ? "https://[%s]:%d/alternatesconfiguration.xml"
                                                  : "https://%s:%d/alternatesconfiguration.xml",
                  peers [i].address, port);

    curl_global_init (CURL_GLOBAL_DEFAULT);
    int fetched = s_fetch (peers, count, user, token_file ? NULL : secret, token_file ? secret : NULL, cacert,
                           cli->timeout_ms);
    explicit_bzero (secret, sizeof secret);
    if (fetched != 0) {
        free (peers);
        json_decref (status);
        curl_global_cleanup ();
        cli_error ("out of memory");
        return CLI_EXIT_FAILED;
    }

    //  Each peer's state, then the reference
    json_t *result = json_pack ("{s:i, s:[]}", "port", port, "peers");
    json_t *rows = json_object_get (result, "peers");
    int reference = -1;
    bool all_read = true;
    for (int i = 0; i < count; i++) {
        s_peer_t *p = &peers [i];
        json_t *row = json_pack ("{s:i, s:s, s:s, s:b, s:b}", "index", p->index, "address", p->address, "url", p->url,
                                 "primary", p->index && p->index == primary, "this_system", p->index == this_peer);
        if (p->curl_rc != CURLE_OK || !p->status) {
            json_object_set_new (row, "state", json_string ("unreachable"));
            json_object_set_new (row, "error",
                                 json_string (p->too_big  ? "the document is larger than 8 MiB"
                                              : *p->error ? p->error
                                                          : "no answer"));
            all_read = false;
        }
        else if (p->status != 200) {
            json_t *answer = p->body ? json_loads (p->body, 0, NULL) : NULL;
            const char *text = json_string_value (json_object_get (answer, "error"));
            json_object_set_new (row, "state", json_string ("failed"));
            json_object_set_new (row, "error",
                                 json_sprintf ("HTTP %ld%s%s", p->status, text ? ": " : "", text ? text : ""));
            json_decref (answer);
            all_read = false;
        }
        else {
            json_object_set_new (row, "state", json_string ("ok"));
            if (reference < 0 || (p->index && p->index == primary))
                reference = i;
        }
        json_array_append_new (rows, row);
    }
    bool differ = false;
    if (reference >= 0) {
        json_object_set_new (result, "reference", json_integer (peers [reference].index));
        json_object_set_new (json_array_get (rows, (size_t) reference), "reference", json_true ());
        s_lines_t ref = s_lines (peers [reference].body);
        for (int i = 0; i < count; i++) {
            const char *state = json_string_value (json_object_get (json_array_get (rows, (size_t) i), "state"));
            if (i == reference || strcmp (state, "ok") != 0)
                continue;
            s_lines_t other = s_lines (peers [i].body);
            json_t *lines = s_diff (&ref, &other);
            if (json_array_size (lines))
                differ = true;
            json_object_set_new (json_array_get (rows, (size_t) i), "differences", lines);
            s_lines_free (&other);
        }
        s_lines_free (&ref);
    }
    else
        json_object_set_new (result, "reference", json_null ());
    json_object_set_new (result, "all_read", json_boolean (all_read));
    json_object_set_new (result, "equal", json_boolean (all_read && !differ));
    for (int i = 0; i < count; i++)
        free (peers [i].body);
    free (peers);
    curl_global_cleanup ();
    json_decref (status);
    cli_render_reply (cli, cmd, result, args);
    rc = all_read && !differ ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    json_decref (result);
    return rc;
}
