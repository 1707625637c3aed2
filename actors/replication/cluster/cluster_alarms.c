/*  cluster_alarms.c - which cluster alarms should be active on this peer,
    and the SPEC §3 requirement check (`causeway cluster check`).

    Everything here is a pure function of a cw_cluster_view_t: the cluster
    core takes the view, this file decides. cw_cluster_alarms_evaluate walks
    the rules of the table in cluster_alarms.h in id order and appends one
    cw_alarm_want_t per (id, subject); cw_cluster_alarms_diff turns two
    evaluations into raises and clears; cw_cluster_check builds the JSON
    report of `cluster check`. Details are one line, truncated on a UTF-8
    boundary so that they always make valid JSON strings.
*/

#include "cluster_alarms.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  ---------------------------------------------------------------------
//  Small helpers

//  Cut BUF (NUL-terminated) so it does not end in a partial UTF-8 sequence.
static void
s_utf8_trim (char *buf)
{
    size_t len = strlen (buf);
    size_t back = 0;
    //  find the start of the last sequence (at most 4 bytes back)
    while (back < len && back < 4
       && ((unsigned char) buf [len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == len)
        return;
    size_t lead_at = len - 1 - back;
    unsigned char lead = (unsigned char) buf [lead_at];
    size_t need = lead < 0x80? 1: (lead & 0xE0) == 0xC0? 2: (lead & 0xF0) == 0xE0? 3:
                  (lead & 0xF8) == 0xF0? 4: 1;
    if (back + 1 < need)
        buf [lead_at] = 0;
}

static void
s_vformat (char *buf, size_t len, const char *fmt, va_list args)
{
    if (len == 0)
        return;
    int rc = vsnprintf (buf, len, fmt, args);
    if (rc < 0)
        buf [0] = 0;
    else
    if ((size_t) rc >= len)
        s_utf8_trim (buf);
}

static void s_format (char *buf, size_t len, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
static void s_append (char *buf, size_t len, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_format (char *buf, size_t len, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vformat (buf, len, fmt, args);
    va_end (args);
}

//  Append "; " (when BUF is not empty) and the formatted text to BUF.
static void
s_append (char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen (buf);
    if (used + 1 >= len)
        return;
    if (used > 0) {
        s_format (buf + used, len - used, "; ");
        used = strlen (buf);
    }
    va_list args;
    va_start (args, fmt);
    s_vformat (buf + used, len - used, fmt, args);
    va_end (args);
}

static int
s_peer_count (const cw_cluster_settings_t *s)
{
    if (s->peer_count < 0)
        return 0;
    return s->peer_count > CW_CLUSTER_MAX_PEERS? CW_CLUSTER_MAX_PEERS: s->peer_count;
}

//  "a, b, c" of the non-empty slots of S, or "(none)".
static void
s_peer_list (const cw_cluster_settings_t *s, const char *sep, char *buf, size_t len)
{
    buf [0] = 0;
    int count = s_peer_count (s);
    for (int i = 0; i < count; i++) {
        if (!s->peers [i][0])
            continue;
        size_t used = strlen (buf);
        s_format (buf + used, len - used, "%s%s", used? sep: "", s->peers [i]);
    }
}

static bool
s_is_ip (const char *text)
{
    unsigned char addr [16];
    return inet_pton (AF_INET, text, addr) == 1 || inet_pton (AF_INET6, text, addr) == 1;
}

static int
s_ip_family (const char *text)
{
    unsigned char addr [16];
    if (inet_pton (AF_INET, text, addr) == 1)
        return 4;
    if (inet_pton (AF_INET6, text, addr) == 1)
        return 6;
    return 0;
}

//  Case-insensitive compare of DNS names, a trailing dot ignored.
static bool
s_same_domain (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 0 && a [la - 1] == '.')
        la--;
    if (lb > 0 && b [lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

//  A fully qualified domain name: at least two labels of letters, digits
//  and hyphens (1..63 each, no leading or trailing hyphen), at most 253
//  characters, a last label that is not all digits (not an IP address).
static bool
s_is_fqdn (const char *name)
{
    size_t len = strlen (name);
    if (len > 0 && name [len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    int labels = 0;
    size_t start = 0;
    bool last_all_digits = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name [i] == '.') {
            size_t label_len = i - start;
            if (label_len == 0 || label_len > 63)
                return false;
            if (name [start] == '-' || name [i - 1] == '-')
                return false;
            labels++;
            last_all_digits = true;
            for (size_t j = start; j < i; j++)
                if (!isdigit ((unsigned char) name [j]))
                    last_all_digits = false;
            start = i + 1;
        }
        else
        if (!isalnum ((unsigned char) name [i]) && name [i] != '-')
            return false;
    }
    return labels >= 2 && !last_all_digits;
}

//  The address of slot I (0-based) as configured.
static const char *
s_address (const cw_cluster_view_t *view, int i)
{
    if (view->peers [i].address [0])
        return view->peers [i].address;
    return view->effective.peers [i];
}

static bool
s_is_self (const cw_cluster_view_t *view, int i)
{
    return view->peers [i].is_self || view->this_peer == i + 1;
}

//  The own slot (0-based) or -1.
static int
s_self_slot (const cw_cluster_view_t *view)
{
    int count = s_peer_count (&view->effective);
    for (int i = 0; i < count; i++)
        if (s_is_self (view, i))
            return i;
    return -1;
}

//  ---------------------------------------------------------------------
//  Settings

void
cw_cluster_peers_digest (const cw_cluster_settings_t *s, char out [65])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    int count = s? s_peer_count (s): 0;
    bool first = true;
    for (int i = 0; i < count; i++) {
        const char *address = s->peers [i];
        if (!address [0])
            continue;
        if (!first)
            crypto_hash_sha256_update (&state, (const unsigned char *) "\n", 1);
        crypto_hash_sha256_update (&state, (const unsigned char *) address,
                                   strnlen (address, sizeof s->peers [i]));
        first = false;
    }
    unsigned char hash [crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final (&state, hash);
    static const char hex [] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof hash; i++) {
        out [2 * i] = hex [hash [i] >> 4];
        out [2 * i + 1] = hex [hash [i] & 15];
    }
    out [64] = 0;
}

int
cw_cluster_settings_check (const cw_cluster_settings_t *s, char *err, size_t errlen)
{
    char buf [1024] = "";
    if (!s) {
        if (err && errlen)
            s_format (err, errlen, "no settings");
        return -1;
    }
    if (s->peer_count < 1 || s->peer_count > CW_CLUSTER_MAX_PEERS)
        s_append (buf, sizeof buf, "cluster.peers has %d entries (allowed: 1..%d)",
                  s->peer_count, CW_CLUSTER_MAX_PEERS);
    int count = s_peer_count (s);
    //  the last non-empty slot; empty slots before it are gaps
    int last = -1;
    for (int i = 0; i < count; i++)
        if (s->peers [i][0])
            last = i;
    for (int i = 0; i < last; i++)
        if (!s->peers [i][0])
            s_append (buf, sizeof buf, "peer %d address is empty but peer %d is set "
                      "(no gaps allowed)", i + 1, last + 1);
    for (int i = 0; i < count; i++) {
        if (!s->peers [i][0])
            continue;
        for (int j = 0; j < i; j++)
            if (strcasecmp (s->peers [i], s->peers [j]) == 0)
                s_append (buf, sizeof buf, "peer %d and peer %d have the same address %s",
                          j + 1, i + 1, s->peers [i]);
        int family = s_ip_family (s->peers [i]);
        if (family && (s->ip_version == 4 || s->ip_version == 6) && family != s->ip_version)
            s_append (buf, sizeof buf, "peer %d address %s is IPv%d but cluster.ip_version is %d",
                      i + 1, s->peers [i], family, s->ip_version);
    }
    if (s->primary < 1 || s->primary > count)
        s_append (buf, sizeof buf, "cluster.primary is %d, outside 1..%d (the peer list)",
                  s->primary, count);
    else
    if (!s->peers [s->primary - 1][0])
        s_append (buf, sizeof buf, "cluster.primary is %d but peer %d address is empty",
                  s->primary, s->primary);
    if (s->ip_version != 4 && s->ip_version != 6)
        s_append (buf, sizeof buf, "cluster.ip_version is %d (allowed: 4, 6)", s->ip_version);
    if (strcmp (s->tls_verify, "permissive") != 0 && strcmp (s->tls_verify, "enforce") != 0)
        s_append (buf, sizeof buf, "cluster.tls_verify is '%s' (allowed: permissive, enforce)",
                  s->tls_verify);
    if (err && errlen)
        s_format (err, errlen, "%s", buf);
    return buf [0]? -1: 0;
}

bool
cw_cluster_settings_equal (const cw_cluster_settings_t *a,
                           const cw_cluster_settings_t *b, bool ignore_tls)
{
    if (strcmp (a->name, b->name) != 0
    ||  a->primary != b->primary
    ||  a->ip_version != b->ip_version
    ||  a->peer_count != b->peer_count)
        return false;
    if (!ignore_tls && strcmp (a->tls_verify, b->tls_verify) != 0)
        return false;
    int count = s_peer_count (a);
    for (int i = 0; i < count; i++)
        if (strcmp (a->peers [i], b->peers [i]) != 0)
            return false;
    return true;
}

//  What differs between EFFECTIVE and STORED, for the 20007 detail.
static void
s_settings_changes (const cw_cluster_settings_t *eff, const cw_cluster_settings_t *sto,
                    char *buf, size_t len)
{
    buf [0] = 0;
    if (strcmp (eff->name, sto->name) != 0)
        s_append (buf, len, "cluster.name '%s' -> '%s'", eff->name, sto->name);
    if (eff->primary != sto->primary)
        s_append (buf, len, "cluster.primary %d -> %d", eff->primary, sto->primary);
    if (eff->ip_version != sto->ip_version)
        s_append (buf, len, "cluster.ip_version %d -> %d", eff->ip_version, sto->ip_version);
    if (strcmp (eff->tls_verify, sto->tls_verify) != 0)
        s_append (buf, len, "cluster.tls_verify %s -> %s", eff->tls_verify, sto->tls_verify);
    cw_cluster_settings_t a = *eff, b = *sto;
    a.name [0] = b.name [0] = 0;
    a.primary = b.primary = 0;
    a.ip_version = b.ip_version = 0;
    a.tls_verify [0] = b.tls_verify [0] = 0;
    if (!cw_cluster_settings_equal (&a, &b, true)) {
        char was [1600], now [1600];
        s_peer_list (eff, ",", was, sizeof was);
        s_peer_list (sto, ",", now, sizeof now);
        s_append (buf, len, "cluster.peers '%s' -> '%s'", was, now);
    }
}

//  ---------------------------------------------------------------------
//  Alarm evaluation

typedef struct {
    cw_alarm_want_t *out;
    int max;
    int count;
} s_wants_t;

//  Add alarm ID about SUBJECT with a formatted detail; an existing
//  (id, subject) gets the detail appended instead.
static void s_want (s_wants_t *self, int id, const char *subject, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
static void
s_want (s_wants_t *self, int id, const char *subject, const char *fmt, ...)
{
    char detail [512];
    va_list args;
    va_start (args, fmt);
    s_vformat (detail, sizeof detail, fmt, args);
    va_end (args);

    char key [128];
    s_format (key, sizeof key, "%s", subject);
    for (int i = 0; i < self->count; i++) {
        cw_alarm_want_t *want = &self->out [i];
        if (want->id == id && strcmp (want->subject, key) == 0) {
            if (strcmp (want->detail, detail) != 0)
                s_append (want->detail, sizeof want->detail, "%s", detail);
            return;
        }
    }
    if (self->count >= self->max)
        return;
    cw_alarm_want_t *want = &self->out [self->count++];
    want->id = id;
    s_format (want->subject, sizeof want->subject, "%s", key);
    s_format (want->detail, sizeof want->detail, "%s", detail);
}

//  Rules that apply whether or not this peer is clustered: the stored
//  settings against those in effect.
static void
s_eval_settings (const cw_cluster_view_t *view, s_wants_t *wants)
{
    if (view->factory_reset_pending) {
        char list [1600];
        s_peer_list (&view->effective, ",", list, sizeof list);
        s_want (wants, CW_ALARM_CLUSTER_RESET_PENDING, "",
                "all peer addresses were cleared: the next restart resets this peer to "
                "factory defaults; restore '%s' (same order) to cancel", list);
        return;
    }
    if (cw_cluster_settings_equal (&view->effective, &view->stored, false))
        return;
    char changes [1024];
    s_settings_changes (&view->effective, &view->stored, changes, sizeof changes);
    if (cw_cluster_settings_equal (&view->effective, &view->stored, true))
        s_want (wants, CW_ALARM_CLUSTER_TLS_MISMATCH, "",
                "TLS verification mode changed (%s): takes effect at `causeway restart`",
                changes);
    else
        s_want (wants, CW_ALARM_CLUSTER_RESTART_REQUIRED, "",
                "clustering settings changed (%s): they take effect at `causeway restart`",
                changes);
}

//  Stable sort by id (insertion sort: at most CW_CLUSTER_ALARMS_MAX items),
//  so node-wide and per-peer alarms of one id keep the order they were found.
static void
s_sort (cw_alarm_want_t *list, int count)
{
    for (int i = 1; i < count; i++) {
        if (list [i - 1].id <= list [i].id)
            continue;
        cw_alarm_want_t item = list [i];
        int j = i;
        while (j > 0 && list [j - 1].id > item.id) {
            list [j] = list [j - 1];
            j--;
        }
        list [j] = item;
    }
}

int
cw_cluster_alarms_evaluate (const cw_cluster_view_t *view, cw_alarm_want_t *out, int max)
{
    if (!view || !out || max < 0)
        return -1;
    s_wants_t wants = { out, max, 0 };
    const cw_cluster_settings_t *eff = &view->effective;
    int count = s_peer_count (eff);
    int self_slot = s_self_slot (view);
    const cw_peer_view_t *me = self_slot >= 0? &view->peers [self_slot]: NULL;

    if (count == 0) {
        //  Not clustered: only the settings rules
        s_eval_settings (view, &wants);
        return wants.count;
    }

    //  The rules, per-peer ones peer by peer; sorted by id at the end.
    char problems [1024];
    if (cw_cluster_settings_check (eff, problems, sizeof problems) != 0)
        s_want (&wants, CW_ALARM_CLUSTER_INVALID_CONFIG, "",
                "the clustering settings in effect are invalid: %s", problems);

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (!address [0] || s_is_self (view, i))
            continue;
        if (!peer->alive) {
            char why [512] = "";
            if (peer->restarting)
                s_format (why, sizeof why, "announced a restart and is not heard from since");
            else
            if (peer->ever_seen)
                s_format (why, sizeof why, "has stopped sending heartbeats");
            else
                s_format (why, sizeof why, "not heard from since this peer started");
            if (peer->tcp_failing && peer->tcp_error [0])
                s_append (why, sizeof why, "TCP: %s", peer->tcp_error);
            else
            if (peer->tls_failing && peer->tls_error [0])
                s_append (why, sizeof why, "TLS: %s", peer->tls_error);
            s_want (&wants, CW_ALARM_CLUSTER_COMMS_FAILURE, address,
                    "peer %d (%s) %s", i + 1, address, why);
        }
        else
        if (peer->joining)
            s_want (&wants, CW_ALARM_CLUSTER_COMMS_FAILURE, address,
                    "peer %d (%s) is joining the cluster and has no configuration yet "
                    "(expected; clears when it has joined)", i + 1, address);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && peer->resolve_error [0])
            s_want (&wants, CW_ALARM_CLUSTER_INVALID_ADDRESS, address,
                    "peer %d address %s does not resolve: %s", i + 1, address,
                    peer->resolve_error);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->tls_failing)
            s_want (&wants, CW_ALARM_CLUSTER_DB_COMMS_FAILURE, address,
                    "TLS with peer %d (%s) fails: %s", i + 1, address,
                    peer->tls_error [0]? peer->tls_error: "handshake failed");
    }

    s_eval_settings (view, &wants);

    //  20008: replication paused
    {
        char why [512] = "";
        if (view->replication_paused)
            s_append (why, sizeof why, "automatic replication is paused while peers run "
                      "different software versions (this peer: %s)", view->version);
        for (int i = 0; i < count; i++) {
            const cw_peer_view_t *peer = &view->peers [i];
            if (s_address (view, i) [0] && !s_is_self (view, i)
            &&  peer->alive && peer->upgrading)
                s_append (why, sizeof why, "peer %d (%s) announced an upgrade in progress",
                          i + 1, s_address (view, i));
        }
        if (why [0])
            s_want (&wants, CW_ALARM_CLUSTER_UPGRADE_PAUSED, "", "%s", why);
    }

    if (view->replication_error [0])
        s_want (&wants, CW_ALARM_CLUSTER_REPLICATION_ERROR, "",
                "automatic replication failed: %s", view->replication_error);

    if (view->replication_conflict) {
        if (eff->primary >= 1 && eff->primary <= count)
            s_want (&wants, CW_ALARM_CLUSTER_CONFLICT, "",
                    "this peer's configuration conflicts with the primary's, peer %d (%s): "
                    "it must be synchronised manually", eff->primary,
                    s_address (view, eff->primary - 1));
        else
            s_want (&wants, CW_ALARM_CLUSTER_CONFLICT, "",
                    "this peer's configuration conflicts with the primary's: "
                    "it must be synchronised manually");
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (!address [0] || s_is_self (view, i) || !peer->alive)
            continue;
        char diff [512] = "";
        if (strcasecmp (peer->cluster_name, eff->name) != 0)
            s_append (diff, sizeof diff, "cluster name '%s', this peer '%s'",
                      peer->cluster_name, eff->name);
        if (peer->ip_version != eff->ip_version)
            s_append (diff, sizeof diff, "IP version %d, this peer %d",
                      peer->ip_version, eff->ip_version);
        if (diff [0])
            s_want (&wants, CW_ALARM_CLUSTER_SETTINGS_MISMATCH, address,
                    "peer %d (%s) has %s", i + 1, address, diff);
    }

    if (view->database_missing)
        s_want (&wants, CW_ALARM_CLUSTER_DB_MISSING, "",
                "the cluster database of this peer is missing or unreadable%s%s",
                view->database_error [0]? ": ": "", view->database_error);

    if (view->this_peer == 0) {
        char list [1600];
        s_peer_list (eff, ", ", list, sizeof list);
        s_want (&wants, CW_ALARM_CLUSTER_NOT_IN_PEER_LIST, "",
                "this peer's peering address %s is not in the peer list (%s)",
                view->peering_address [0]? view->peering_address: "(not set)", list);
    }

    if (!view->is_primary && eff->primary >= 1 && eff->primary <= count) {
        int p = eff->primary - 1;
        const char *address = s_address (view, p);
        if (address [0] && !s_is_self (view, p) && !view->peers [p].alive)
            s_want (&wants, CW_ALARM_CLUSTER_PRIMARY_UNREACHABLE, "",
                    "the configuration primary, peer %d (%s), is not reachable; "
                    "this peer serves on its last configuration", p + 1, address);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  peer->primary != eff->primary)
            s_want (&wants, CW_ALARM_CLUSTER_PRIMARY_MISMATCH, address,
                    "peer %d (%s) has configuration primary %d; this peer has %d",
                    i + 1, address, peer->primary, eff->primary);
    }

    if (!view->h323_mode)
        s_want (&wants, CW_ALARM_CLUSTER_H323_OFF, "",
                "h323.mode is off; clustering needs H.323 mode on");

    if (!eff->name [0])
        s_want (&wants, CW_ALARM_CLUSTER_NO_NAME, "",
                "cluster.name is not set on this peer (clustered with %d peers)", count);

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  strcmp (peer->tls_verify, eff->tls_verify) != 0)
            s_want (&wants, CW_ALARM_CLUSTER_TLS_MISMATCH, address,
                    "peer %d (%s) has TLS verification mode %s; this peer has %s",
                    i + 1, address, peer->tls_verify [0]? peer->tls_verify: "(none)",
                    eff->tls_verify [0]? eff->tls_verify: "(none)");
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->tcp_failing)
            s_want (&wants, CW_ALARM_CLUSTER_TCP_FAILURE, address,
                    "TCP to peer %d (%s) on its clustering port fails: %s", i + 1, address,
                    peer->tcp_error [0]? peer->tcp_error: "connect failed");
    }

    {
        char ours [65];
        cw_cluster_peers_digest (eff, ours);
        for (int i = 0; i < count; i++) {
            const cw_peer_view_t *peer = &view->peers [i];
            const char *address = s_address (view, i);
            if (address [0] && !s_is_self (view, i) && peer->alive
            &&  strcasecmp (peer->peers_digest, ours) != 0) {
                char list [1600];
                s_peer_list (eff, ",", list, sizeof list);
                s_want (&wants, CW_ALARM_CLUSTER_PEERS_INCONSISTENT, address,
                        "peer %d (%s) has a different peer list (digest %.12s) from this "
                        "peer's '%s' (digest %.12s)", i + 1, address,
                        peer->peers_digest [0]? peer->peers_digest: "none", list, ours);
            }
        }
    }

    if (view->sync_failed)
        s_want (&wants, CW_ALARM_CLUSTER_SYNC_FAILED, "",
                "full synchronisation of the cluster database failed%s%s",
                view->sync_error [0]? ": ": "", view->sync_error);

    //  20030: this peer's clock, then each peer's skew
    if (!view->clock_synced)
        s_want (&wants, CW_ALARM_CLUSTER_CLOCK, "",
                view->ntp_configured
                ? "this peer's clock is not synchronised: the NTP servers in ntp.servers "
                  "are unreachable or not answering"
                : "this peer's clock is not synchronised and no NTP server is configured "
                  "(ntp.servers is empty)");
    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (!address [0] || s_is_self (view, i) || !peer->alive)
            continue;
        int64_t offset = peer->clock_offset_ms;
        int64_t magnitude = offset < 0? -offset: offset;
        if (magnitude > CW_CLOCK_SKEW_ALARM_MS)
            s_want (&wants, CW_ALARM_CLUSTER_CLOCK, address,
                    "peer %d (%s) clock differs from this peer's by %+.1f s (limit %d s)",
                    i + 1, address, (double) offset / 1000.0, CW_CLOCK_SKEW_ALARM_MS / 1000);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  peer->rtt_ms > CW_RTT_ALARM_MS)
            s_want (&wants, CW_ALARM_CLUSTER_RTT, address,
                    "round-trip time to peer %d (%s) is %.1f ms (limit %.0f ms)",
                    i + 1, address, peer->rtt_ms, CW_RTT_ALARM_MS);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  strcmp (peer->type, view->node_type) != 0)
            s_want (&wants, CW_ALARM_CLUSTER_TYPE_MISMATCH, address,
                    "peer %d (%s) reports node type %s; this peer is %s", i + 1, address,
                    peer->type [0]? peer->type: "(none)", view->node_type);
    }

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  strcmp (peer->version, view->version) != 0)
            s_want (&wants, CW_ALARM_CLUSTER_VERSION_MISMATCH, address,
                    "peer %d (%s) runs version %s; this peer runs %s", i + 1, address,
                    peer->version [0]? peer->version: "(none)", view->version);
    }

    for (int i = 0; me && me->system_name [0] && i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  strcasecmp (peer->system_name, me->system_name) == 0)
            s_want (&wants, CW_ALARM_CLUSTER_DUPLICATE_NAME, address,
                    "peer %d (%s) has the same system name '%s' as this peer (peer %d)",
                    i + 1, address, peer->system_name, self_slot + 1);
    }

    for (int i = 0; me && i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (address [0] && !s_is_self (view, i) && peer->alive
        &&  !s_same_domain (peer->dns_domain, me->dns_domain))
            s_want (&wants, CW_ALARM_CLUSTER_DOMAIN_MISMATCH, address,
                    "peer %d (%s) has DNS domain '%s'; this peer has '%s'", i + 1, address,
                    peer->dns_domain, me->dns_domain);
    }

    s_sort (wants.out, wants.count);
    return wants.count;
}

//  ---------------------------------------------------------------------
//  Diff of two evaluations

static const cw_alarm_want_t *
s_find (const cw_alarm_want_t *list, int count, const cw_alarm_want_t *key)
{
    for (int i = 0; i < count; i++)
        if (list [i].id == key->id && strcmp (list [i].subject, key->subject) == 0)
            return &list [i];
    return NULL;
}

int
cw_cluster_alarms_diff (const cw_alarm_want_t *before, int nbefore,
                        const cw_alarm_want_t *after, int nafter,
                        cw_alarm_want_t *to_raise, int *nraise,
                        cw_alarm_want_t *to_clear, int *nclear)
{
    if (nbefore < 0 || nafter < 0 || (nbefore > 0 && !before) || (nafter > 0 && !after)
    ||  !to_raise || !nraise || !to_clear || !nclear)
        return -1;
    *nraise = 0;
    *nclear = 0;
    for (int i = 0; i < nafter; i++) {
        const cw_alarm_want_t *was = s_find (before, nbefore, &after [i]);
        if (!was || strcmp (was->detail, after [i].detail) != 0)
            to_raise [(*nraise)++] = after [i];
    }
    for (int i = 0; i < nbefore; i++)
        if (!s_find (after, nafter, &before [i]))
            to_clear [(*nclear)++] = before [i];
    return 0;
}

//  ---------------------------------------------------------------------
//  Requirement check (SPEC §3)

static const char *s_requirements [] = {
    "node_type", "software_version", "distinct_ip_address", "distinct_system_name",
    "dns_domain", "rtt", "clock_synchronised", "dns_or_address_mapping",
    "certificate", "cluster_name", "h323_mode", "cluster_settings", "peer_reachable"
};

//  Add a problem about peer PEER (1..6, 0 = null) to PROBLEMS.
static void s_problem (json_t *problems, const char *requirement, int peer, const char *fix,
                       const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));
static void
s_problem (json_t *problems, const char *requirement, int peer, const char *fix,
           const char *fmt, ...)
{
    char detail [1024];
    va_list args;
    va_start (args, fmt);
    s_vformat (detail, sizeof detail, fmt, args);
    va_end (args);
    json_t *item = json_object ();
    if (!item)
        return;
    json_object_set_new (item, "requirement", json_string (requirement));
    json_object_set_new (item, "peer", peer > 0? json_integer (peer): json_null ());
    json_object_set_new (item, "detail", json_string (detail));
    //  json_string returns NULL on invalid UTF-8: keep the field anyway
    if (!json_object_get (item, "detail"))
        json_object_set_new (item, "detail", json_string ("(detail not valid UTF-8)"));
    json_object_set_new (item, "fix", json_string (fix));
    json_array_append_new (problems, item);
}

//  Does the address mapping hold an entry for ADDRESS (an FQDN matched by
//  name, an IP address by the mapped IP)?
static bool
s_mapped (const cw_cluster_view_t *view, const char *address)
{
    int count = view->mapping_count < 0? 0:
                view->mapping_count > CW_CLUSTER_MAX_PEERS? CW_CLUSTER_MAX_PEERS:
                view->mapping_count;
    bool is_ip = s_is_ip (address);
    for (int m = 0; m < count; m++) {
        const char *fqdn = view->mappings [m][0];
        const char *to = view->mappings [m][1];
        if (!fqdn [0] || !to [0])
            continue;
        if (is_ip && strcasecmp (to, address) == 0)
            return true;
        if (!is_ip && s_same_domain (fqdn, address))
            return true;
    }
    return false;
}

static void
s_check_peers (const cw_cluster_view_t *view, json_t *problems)
{
    const cw_cluster_settings_t *eff = &view->effective;
    int count = s_peer_count (eff);
    int self_slot = s_self_slot (view);
    const cw_peer_view_t *me = self_slot >= 0? &view->peers [self_slot]: NULL;
    char fix [768];

    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (!address [0] || s_is_self (view, i))
            continue;
        if (!peer->alive) {
            s_format (fix, sizeof fix, "start Causeway on peer %d (%s) and let TCP through on "
                      "the clustering ports (`causeway firewall rules`); check with "
                      "`causeway cluster status`", i + 1, address);
            s_problem (problems, "peer_reachable", i + 1, fix,
                       "peer %d (%s) is not reachable%s%s; its node type, version, system "
                       "name, domain, RTT and clock could not be checked", i + 1, address,
                       peer->tcp_failing? ": ": "",
                       peer->tcp_failing? peer->tcp_error: "");
            continue;
        }
        if (strcmp (peer->type, view->node_type) != 0) {
            s_format (fix, sizeof fix, "a cluster never mixes core and edge nodes: remove peer %d "
                      "(`causeway cluster remove %s` on the primary) and add a %s node instead",
                      i + 1, address, view->node_type);
            s_problem (problems, "node_type", i + 1, fix,
                       "peer %d (%s) is %s; this peer is %s", i + 1, address,
                       peer->type [0]? peer->type: "(unknown)", view->node_type);
        }
        if (strcmp (peer->version, view->version) != 0) {
            s_format (fix, sizeof fix, "upgrade every peer to the same version, the primary "
                      "first, then the others one at a time%s",
                      view->replication_paused || peer->upgrading
                      ? " (an upgrade is in progress: replication resumes when it ends)": "");
            s_problem (problems, "software_version", i + 1, fix,
                       "peer %d (%s) runs %s; this peer runs %s", i + 1, address,
                       peer->version [0]? peer->version: "(unknown)", view->version);
        }
        if (me && !s_same_domain (peer->dns_domain, me->dns_domain)) {
            s_format (fix, sizeof fix, "set the same DNS domain on every peer: "
                      "`causeway config set dns.domain %s` on peer %d",
                      me->dns_domain [0]? me->dns_domain: "DOMAIN", i + 1);
            s_problem (problems, "dns_domain", i + 1, fix,
                       "peer %d (%s) has DNS domain '%s'; this peer (peer %d) has '%s'",
                       i + 1, address, peer->dns_domain, self_slot + 1, me->dns_domain);
        }
        if (peer->rtt_ms > CW_RTT_ALARM_MS) {
            s_format (fix, sizeof fix, "peers must be within 80 ms round trip (40 ms one way) "
                      "of each other: fix the network path to peer %d or remove it from "
                      "the cluster", i + 1);
            s_problem (problems, "rtt", i + 1, fix,
                       "round-trip time to peer %d (%s) is %.1f ms (limit %.0f ms)",
                       i + 1, address, peer->rtt_ms, CW_RTT_ALARM_MS);
        }
        if (!peer->clock_synced) {
            s_format (fix, sizeof fix, "on peer %d configure a reachable NTP server: "
                      "`causeway config set ntp.servers HOST`", i + 1);
            s_problem (problems, "clock_synchronised", i + 1, fix,
                       "peer %d (%s) reports its clock is not synchronised", i + 1, address);
        }
        int64_t offset = peer->clock_offset_ms;
        if ((offset < 0? -offset: offset) > CW_CLOCK_SKEW_ALARM_MS) {
            s_format (fix, sizeof fix, "synchronise every peer with the same NTP servers "
                      "(`causeway config set ntp.servers HOST`)");
            s_problem (problems, "clock_synchronised", i + 1, fix,
                       "peer %d (%s) clock differs from this peer's by %+.1f s (limit %d s)",
                       i + 1, address, (double) offset / 1000.0,
                       CW_CLOCK_SKEW_ALARM_MS / 1000);
        }
        if (!peer->h323_mode) {
            s_problem (problems, "h323_mode", i + 1,
                       "turn H.323 mode on, on the primary: `causeway config set h323.mode on` "
                       "(it replicates to every peer)",
                       "peer %d (%s) has H.323 mode off", i + 1, address);
        }
        //  cluster_settings: what every peer must agree on
        char diff [768] = "";
        char ours [65];
        cw_cluster_peers_digest (eff, ours);
        if (peer->primary != eff->primary)
            s_append (diff, sizeof diff, "primary %d (this peer %d)", peer->primary, eff->primary);
        if (strcasecmp (peer->peers_digest, ours) != 0)
            s_append (diff, sizeof diff, "a different peer list");
        if (strcasecmp (peer->cluster_name, eff->name) != 0)
            s_append (diff, sizeof diff, "cluster name '%s' (this peer '%s')",
                      peer->cluster_name, eff->name);
        if (peer->ip_version != eff->ip_version)
            s_append (diff, sizeof diff, "IP version %d (this peer %d)",
                      peer->ip_version, eff->ip_version);
        if (strcmp (peer->tls_verify, eff->tls_verify) != 0)
            s_append (diff, sizeof diff, "TLS verification %s (this peer %s)",
                      peer->tls_verify, eff->tls_verify);
        if (diff [0]) {
            s_format (fix, sizeof fix, "copy the primary's clustering settings (cluster.name, "
                      "cluster.primary, cluster.ip_version, cluster.tls_verify, cluster.peers in "
                      "the same order) to peer %d, then `causeway restart` it", i + 1);
            s_problem (problems, "cluster_settings", i + 1, fix,
                       "peer %d (%s) has %s", i + 1, address, diff);
        }
    }

    //  distinct addresses / IP addresses over every slot
    for (int i = 0; i < count; i++) {
        const char *address = s_address (view, i);
        if (!address [0])
            continue;
        const char *ip_i = view->peers [i].ip [0]? view->peers [i].ip: address;
        for (int j = 0; j < i; j++) {
            const char *other = s_address (view, j);
            if (!other [0])
                continue;
            const char *ip_j = view->peers [j].ip [0]? view->peers [j].ip: other;
            if (strcasecmp (address, other) == 0 || strcasecmp (ip_i, ip_j) == 0) {
                s_format (fix, sizeof fix, "give every peer its own IP address: correct peer "
                          "%d in the peer list on the primary (`causeway cluster replace %s "
                          "NEW`)", i + 1, address);
                s_problem (problems, "distinct_ip_address", i + 1, fix,
                           "peer %d (%s) and peer %d (%s) have the same address %s",
                           j + 1, other, i + 1, address,
                           strcasecmp (address, other) == 0? address: ip_i);
                break;
            }
        }
    }

    //  distinct system names over this peer and the alive peers
    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        bool known_i = s_is_self (view, i) || peer->alive;
        if (!known_i || !peer->system_name [0] || !s_address (view, i) [0])
            continue;
        for (int j = 0; j < i; j++) {
            const cw_peer_view_t *other = &view->peers [j];
            bool known_j = s_is_self (view, j) || other->alive;
            if (!known_j || !s_address (view, j) [0]
            ||  strcasecmp (peer->system_name, other->system_name) != 0)
                continue;
            s_format (fix, sizeof fix, "give every peer its own system name: "
                      "`causeway config set system.name NAME` on peer %d", i + 1);
            s_problem (problems, "distinct_system_name", i + 1, fix,
                       "peer %d (%s) and peer %d (%s) are both named '%s'",
                       j + 1, s_address (view, j), i + 1, s_address (view, i),
                       peer->system_name);
            break;
        }
    }

    //  certificates: every peer's, including our own
    for (int i = 0; i < count; i++) {
        const cw_peer_view_t *peer = &view->peers [i];
        const char *address = s_address (view, i);
        if (!address [0])
            continue;
        const char *reason = NULL;
        if (!s_is_self (view, i) && peer->tls_failing)
            reason = peer->tls_error [0]? peer->tls_error: "TLS handshake fails";
        else
        if (peer->certificate [0] && strcmp (peer->certificate, "ok") != 0
        &&  strncmp (peer->certificate, "not verified", 12) != 0)
            reason = peer->certificate;
        if (!reason)
            continue;
        s_format (fix, sizeof fix, "install on peer %d a certificate whose SAN (or CN) contains "
                  "its peer address %s and that chains to a CA every peer trusts "
                  "(peering.certificate, peering.private_key, peering.ca_file), then "
                  "`causeway restart` it", i + 1, address);
        s_problem (problems, "certificate", i + 1, fix,
                   "the certificate of peer %d (%s) does not identify it: %s",
                   i + 1, address, reason);
    }
}

json_t *
cw_cluster_check (const cw_cluster_view_t *view)
{
    if (!view)
        return NULL;
    json_t *report = json_object ();
    json_t *problems = json_array ();
    json_t *checked = json_array ();
    if (!report || !problems || !checked) {
        json_decref (report);
        json_decref (problems);
        json_decref (checked);
        return NULL;
    }
    const cw_cluster_settings_t *eff = &view->effective;
    int count = s_peer_count (eff);
    bool clustered = count > 0;
    int me = view->this_peer >= 1 && view->this_peer <= CW_CLUSTER_MAX_PEERS? view->this_peer: 0;
    char fix [768];

    if (clustered)
        s_check_peers (view, problems);

    //  This peer's clock
    if (!view->clock_synced)
        s_problem (problems, "clock_synchronised", me,
                   view->ntp_configured
                   ? "make the NTP servers in ntp.servers reachable from this peer, or set "
                     "others: `causeway config set ntp.servers HOST`"
                   : "configure an NTP server on this peer: `causeway config set ntp.servers HOST`",
                   view->ntp_configured
                   ? "this peer's clock is not synchronised: its NTP servers do not answer"
                   : "this peer's clock is not synchronised and no NTP server is configured");

    //  A DNS server, or an address mapping entry for every peer
    if (view->dns_server_count <= 0) {
        const cw_cluster_settings_t *s = clustered? eff: &view->stored;
        int n = s_peer_count (s);
        if (!view->address_mapping_enabled || n == 0)
            s_problem (problems, "dns_or_address_mapping", me,
                       "configure a DNS server (`causeway config set dns.servers IP`), or map "
                       "every peer: `causeway cluster suggest-mappings` and `causeway config set "
                       "cluster.address_mapping.enabled on` on the primary",
                       "no DNS server is configured on this peer (dns.servers is empty) and "
                       "address mapping is %s", view->address_mapping_enabled? "empty": "off");
        else
            for (int i = 0; i < n; i++) {
                const char *address = s->peers [i];
                if (!address [0] || s_mapped (view, address))
                    continue;
                s_format (fix, sizeof fix, "add a mapping for peer %d (%s) to "
                          "cluster.address_mapping (`causeway cluster suggest-mappings` on the "
                          "primary), or configure a DNS server (`causeway config set dns.servers "
                          "IP`)", i + 1, address);
                s_problem (problems, "dns_or_address_mapping", i + 1, fix,
                           "no DNS server is configured on this peer and the address mapping "
                           "has no entry for peer %d (%s)", i + 1, address);
            }
    }

    //  Cluster name: configured, an FQDN
    const char *name = clustered? eff->name: view->stored.name;
    if (!name [0])
        s_problem (problems, "cluster_name", 0,
                   "set the same cluster name, a routable FQDN used in the cluster's DNS SRV "
                   "records, on every peer: `causeway config set cluster.name "
                   "cluster1.example.com`, then `causeway restart`",
                   "cluster.name is not configured");
    else
    if (!s_is_fqdn (name)) {
        s_format (fix, sizeof fix, "set a fully qualified domain name on every peer, e.g. "
                  "`causeway config set cluster.name %s.example.com`, then `causeway restart`",
                  strchr (name, '.')? "cluster1": name);
        s_problem (problems, "cluster_name", 0, fix,
                   "cluster.name '%s' is not a fully qualified domain name", name);
    }

    //  H.323 mode
    if (!view->h323_mode)
        s_problem (problems, "h323_mode", 0,
                   "turn H.323 mode on, on the primary: `causeway config set h323.mode on`",
                   "h323.mode is off; clustering uses H.323 between peers");

    //  This peer's clustering settings
    if (clustered) {
        char err [1024];
        if (cw_cluster_settings_check (eff, err, sizeof err) != 0)
            s_problem (problems, "cluster_settings", 0,
                       "correct the clustering settings on the primary (`causeway config list "
                       "cluster`), copy them to every peer, then `causeway restart`",
                       "the clustering settings in effect are invalid: %s", err);
        if (view->this_peer == 0)
            s_problem (problems, "cluster_settings", 0,
                       "add this peer's peering.address to the peer list on the primary "
                       "(`causeway cluster add ADDRESS`) and copy the list to every peer",
                       "this peer's peering address %s is not in the peer list",
                       view->peering_address [0]? view->peering_address: "(not set)");
    }

    for (size_t i = 0; i < sizeof s_requirements / sizeof s_requirements [0]; i++)
        json_array_append_new (checked, json_string (s_requirements [i]));
    json_object_set_new (report, "ok", json_boolean (json_array_size (problems) == 0));
    json_object_set_new (report, "problems", problems);
    json_object_set_new (report, "checked", checked);
    return report;
}
