/*  cluster_rules.c - the engine of the cluster's rule tables: the alarm
    rules and the `cluster check` requirements (cluster_alarms.c).

    A rule is a row {id or requirement, scope, test, detail}. cw_rules_apply
    walks a table over a cw_cluster_view_t: for each row, the subjects its
    scope names (this node, the slots of the peer list, the other peers,
    the alive peers, the addresses of the list in use), its test, and for
    those it holds for, its detail, handed to an emitter. Also here: the
    text and view helpers the rules use, the rules both tables share, and
    the digest, check and comparison of clustering settings they rest on.
*/

#include "cluster_rules.h"

#include <arpa/inet.h>
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
    while (back < len && back < 4 && ((unsigned char) buf [len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == len)
        return;
    size_t lead_at = len - 1 - back;
    unsigned char lead = (unsigned char) buf [lead_at];
    size_t need = lead < 0x80           ? 1
                : (lead & 0xE0) == 0xC0 ? 2
                : (lead & 0xF0) == 0xE0 ? 3
                : (lead & 0xF8) == 0xF0 ? 4
                                        : 1;
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
    else if ((size_t) rc >= len)
        s_utf8_trim (buf);
}

void
cw_rules_format (char *buf, size_t len, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vformat (buf, len, fmt, args);
    va_end (args);
}

//  Append "; " (when BUF is not empty) and the formatted text to BUF.
void
cw_rules_append (char *buf, size_t len, const char *fmt, ...)
{
    size_t used = strlen (buf);
    if (used + 1 >= len)
        return;
    if (used > 0) {
        cw_rules_format (buf + used, len - used, "; ");
        used = strlen (buf);
    }
    va_list args;
    va_start (args, fmt);
    s_vformat (buf + used, len - used, fmt, args);
    va_end (args);
}

int
cw_rules_peer_count (const cw_cluster_settings_t *s)
{
    if (s->peer_count < 0)
        return 0;
    return s->peer_count > CW_CLUSTER_MAX_PEERS ? CW_CLUSTER_MAX_PEERS : s->peer_count;
}

//  "a, b, c" of the non-empty slots of S, or "(none)".
void
cw_rules_peer_list (const cw_cluster_settings_t *s, const char *sep, char *buf, size_t len)
{
    buf [0] = 0;
    int count = cw_rules_peer_count (s);
    for (int i = 0; i < count; i++) {
        if (!s->peers [i][0])
            continue;
        size_t used = strlen (buf);
        cw_rules_format (buf + used, len - used, "%s%s", used ? sep : "", s->peers [i]);
    }
}
//  Case-insensitive compare of DNS names, a trailing dot ignored.
bool
cw_rules_same_domain (const char *a, const char *b)
{
    size_t la = strlen (a), lb = strlen (b);
    if (la > 0 && a [la - 1] == '.')
        la--;
    if (lb > 0 && b [lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp (a, b, la) == 0;
}

//  The address of slot I (0-based) as configured.
const char *
cw_rules_address (const cw_cluster_view_t *view, int i)
{
    if (view->peers [i].address [0])
        return view->peers [i].address;
    return view->effective.peers [i];
}

bool
cw_rules_is_self (const cw_cluster_view_t *view, int i)
{
    return view->peers [i].is_self || view->this_peer == i + 1;
}

//  The own slot (0-based) or -1.
static int
s_self_slot (const cw_cluster_view_t *view)
{
    int count = cw_rules_peer_count (&view->effective);
    for (int i = 0; i < count; i++)
        if (cw_rules_is_self (view, i))
            return i;
    return -1;
}

void
cw_rules_say (char *line, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    s_vformat (line, CW_RULE_LINE, fmt, args);
    va_end (args);
}

//  ---------------------------------------------------------------------
//  The engine

static void
s_ctx_init (cw_rule_ctx_t *self, const cw_cluster_view_t *view)
{
    self->view = view;
    self->eff = &view->effective;
    self->count = cw_rules_peer_count (self->eff);
    self->in_use = self->count > 0 ? self->eff : &view->stored;
    self->self_slot = s_self_slot (view);
    self->me = self->self_slot >= 0 ? &view->peers [self->self_slot] : NULL;
    cw_cluster_peers_digest (self->eff, self->digest);
}

//  Which subjects SCOPE walks: rows of scopes that walk the same ones and
//  stand next to each other in a table are applied subject by subject, so
//  that one peer's entries stand together (CW_RULE_OTHER and CW_RULE_ALIVE
//  walk the other peers; every other scope walks its own).
static cw_rule_scope_t
s_walk (cw_rule_scope_t scope)
{
    return scope == CW_RULE_ALIVE ? CW_RULE_OTHER : scope;
}

//  How many places SCOPE's walk has (slots, or 1 for the node).
static int
s_places (const cw_rule_ctx_t *ctx, cw_rule_scope_t scope)
{
    if (scope == CW_RULE_NODE || scope == CW_RULE_CLUSTER || scope == CW_RULE_SELF)
        return 1;
    if (scope == CW_RULE_LISTED)
        return cw_rules_peer_count (ctx->in_use);
    return ctx->count;
}

bool
cw_rules_subject (const cw_rule_ctx_t *ctx, cw_rule_scope_t scope, int k, cw_rule_subject_t *on)
{
    const cw_cluster_view_t *view = ctx->view;
    *on = (cw_rule_subject_t){ ctx, view, ctx->eff, 0, "", NULL };
    if (scope == CW_RULE_NODE)
        return true;
    if (scope == CW_RULE_CLUSTER)
        return ctx->count > 0;
    if (scope == CW_RULE_SELF) {
        on->index = view->this_peer >= 1 && view->this_peer <= CW_CLUSTER_MAX_PEERS ? view->this_peer : 0;
        return true;
    }
    on->index = k + 1;
    if (scope == CW_RULE_LISTED) {
        on->address = ctx->in_use->peers [k];
        return on->address [0] != 0;
    }
    on->address = cw_rules_address (view, k);
    on->peer = &view->peers [k];
    bool own = cw_rules_is_self (view, k);
    bool alive = on->peer->alive;
    bool covered = scope == CW_RULE_SLOT  ? true
                 : scope == CW_RULE_KNOWN ? own || alive
                 : scope == CW_RULE_OTHER ? !own
                                          : !own && alive;
    return on->address [0] && covered;
}

//  Apply RULES in order: every subject a rule's test holds for is handed,
//  with the rule's text, to EMIT.
void
cw_rules_apply (const cw_cluster_view_t *view, const cw_rule_t *rules, size_t nrules, cw_rule_emit_fn *emit, void *out)
{
    cw_rule_ctx_t context;
    s_ctx_init (&context, view);
    const cw_rule_ctx_t *ctx = &context;
    size_t end;
    for (size_t run = 0; run < nrules; run = end) {
        cw_rule_scope_t walk = s_walk (rules [run].scope);
        for (end = run + 1; end < nrules && s_walk (rules [end].scope) == walk; end++)
            ;
        for (int k = 0; k < s_places (ctx, walk); k++)
            for (size_t r = run; r < end; r++) {
                cw_rule_subject_t on;
                if (!cw_rules_subject (ctx, rules [r].scope, k, &on) || (rules [r].test && !rules [r].test (&on)))
                    continue;
                cw_rule_text_t text = { "", "" };
                rules [r].detail (&on, &text);
                if (rules [r].test || text.detail [0])
                    emit (&rules [r], &on, &text, out);
            }
    }
}

//  ---------------------------------------------------------------------
//  Tests and details that the alarms and the check share

bool
cw_rules_settings_invalid (const cw_rule_subject_t *on)
{
    return cw_cluster_settings_check (on->eff, NULL, 0) != 0;
}

void
cw_rules_settings_invalid_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    char problems [1024];
    cw_cluster_settings_check (on->eff, problems, sizeof problems);
    cw_rules_say (text->detail, "the clustering settings in effect are invalid: %s", problems);
    cw_rules_say (text->fix, "correct the clustering settings on the primary (`causeway config "
                             "list cluster`), copy them to every peer, then `causeway restart`");
}

bool
cw_rules_not_listed (const cw_rule_subject_t *on)
{
    return on->view->this_peer == 0;
}

//  H.323 mode is off: on this node, or on the peer ON names.
bool
cw_rules_h323_off (const cw_rule_subject_t *on)
{
    return on->peer ? !on->peer->h323_mode : !on->view->h323_mode;
}

//  The clock is not synchronised: this node's, or the peer's ON names.
bool
cw_rules_clock_unsynced (const cw_rule_subject_t *on)
{
    return on->peer ? !on->peer->clock_synced : !on->view->clock_synced;
}

bool
cw_rules_type_differs (const cw_rule_subject_t *on)
{
    return strcmp (on->peer->type, on->view->node_type) != 0;
}

bool
cw_rules_version_differs (const cw_rule_subject_t *on)
{
    return strcmp (on->peer->version, on->view->version) != 0;
}

bool
cw_rules_domain_differs (const cw_rule_subject_t *on)
{
    return on->ctx->me && !cw_rules_same_domain (on->peer->dns_domain, on->ctx->me->dns_domain);
}

bool
cw_rules_rtt_high (const cw_rule_subject_t *on)
{
    return on->peer->rtt_ms > CW_RTT_ALARM_MS;
}

void
cw_rules_rtt_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "round-trip time to peer %d (%s) is %.1f ms (limit %.0f ms)", on->index, on->address,
                  on->peer->rtt_ms, CW_RTT_ALARM_MS);
    cw_rules_say (text->fix,
                  "peers must be within 80 ms round trip (40 ms one way) of each "
                  "other: fix the network path to peer %d or remove it from the cluster",
                  on->index);
}

bool
cw_rules_clock_skewed (const cw_rule_subject_t *on)
{
    int64_t offset = on->peer->clock_offset_ms;
    return (offset < 0 ? -offset : offset) > CW_CLOCK_SKEW_ALARM_MS;
}

void
cw_rules_clock_skewed_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail,
                  "peer %d (%s) clock differs from this peer's by %+.1f s (limit %d "
                  "s)",
                  on->index, on->address, (double) on->peer->clock_offset_ms / 1000.0, CW_CLOCK_SKEW_ALARM_MS / 1000);
    cw_rules_say (text->fix, "synchronise every peer with the same NTP servers (`causeway config "
                             "set ntp.servers HOST`)");
}

//  ---------------------------------------------------------------------
//  Settings (declared in cluster_alarms.h: the alarm rules and the core use them)

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

void
cw_cluster_peers_digest (const cw_cluster_settings_t *s, char out [65])
{
    crypto_hash_sha256_state state;
    crypto_hash_sha256_init (&state);
    int count = s ? cw_rules_peer_count (s) : 0;
    bool first = true;
    for (int i = 0; i < count; i++) {
        const char *address = s->peers [i];
        if (!address [0])
            continue;
        if (!first)
            crypto_hash_sha256_update (&state, (const unsigned char *) "\n", 1);
        crypto_hash_sha256_update (&state, (const unsigned char *) address, strnlen (address, sizeof s->peers [i]));
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
            cw_rules_format (err, errlen, "no settings");
        return -1;
    }
    if (s->peer_count < 1 || s->peer_count > CW_CLUSTER_MAX_PEERS)
        cw_rules_append (buf, sizeof buf, "cluster.peers has %d entries (allowed: 1..%d)", s->peer_count,
                         CW_CLUSTER_MAX_PEERS);
    int count = cw_rules_peer_count (s);
    //  the last non-empty slot; empty slots before it are gaps
    int last = -1;
    for (int i = 0; i < count; i++)
        if (s->peers [i][0])
            last = i;
    for (int i = 0; i < last; i++)
        if (!s->peers [i][0])
            cw_rules_append (buf, sizeof buf,
                             "peer %d address is empty but peer %d is set (no "
                             "gaps allowed)",
                             i + 1, last + 1);
    for (int i = 0; i < count; i++) {
        if (!s->peers [i][0])
            continue;
        for (int j = 0; j < i; j++)
            if (strcasecmp (s->peers [i], s->peers [j]) == 0)
                cw_rules_append (buf, sizeof buf, "peer %d and peer %d have the same address %s", j + 1, i + 1,
                                 s->peers [i]);
        int family = s_ip_family (s->peers [i]);
        if (family && (s->ip_version == 4 || s->ip_version == 6) && family != s->ip_version)
            cw_rules_append (buf, sizeof buf,
                             "peer %d address %s is IPv%d but cluster.ip_version "
                             "is %d",
                             i + 1, s->peers [i], family, s->ip_version);
    }
    if (s->primary < 1 || s->primary > count)
        cw_rules_append (buf, sizeof buf, "cluster.primary is %d, outside 1..%d (the peer list)", s->primary, count);
    else if (!s->peers [s->primary - 1][0])
        cw_rules_append (buf, sizeof buf, "cluster.primary is %d but peer %d address is empty", s->primary, s->primary);
    if (s->ip_version != 4 && s->ip_version != 6)
        cw_rules_append (buf, sizeof buf, "cluster.ip_version is %d (allowed: 4, 6)", s->ip_version);
    if (strcmp (s->tls_verify, "permissive") != 0 && strcmp (s->tls_verify, "enforce") != 0)
        cw_rules_append (buf, sizeof buf,
                         "cluster.tls_verify is '%s' (allowed: permissive, "
                         "enforce)",
                         s->tls_verify);
    if (err && errlen)
        cw_rules_format (err, errlen, "%s", buf);
    return buf [0] ? -1 : 0;
}

bool
cw_cluster_settings_equal (const cw_cluster_settings_t *a, const cw_cluster_settings_t *b, bool ignore_tls)
{
    if (strcmp (a->name, b->name) != 0 || a->primary != b->primary || a->ip_version != b->ip_version
        || a->peer_count != b->peer_count)
        return false;
    if (!ignore_tls && strcmp (a->tls_verify, b->tls_verify) != 0)
        return false;
    int count = cw_rules_peer_count (a);
    for (int i = 0; i < count; i++)
        if (strcmp (a->peers [i], b->peers [i]) != 0)
            return false;
    return true;
}
