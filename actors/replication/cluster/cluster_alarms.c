/*  cluster_alarms.c - which cluster alarms should be active on this peer,
    and the requirement check behind `causeway cluster check`.

    Everything here is a pure function of a cw_cluster_view_t: the cluster
    core takes the view, this file decides. Both the alarms and the check
    are tables of rules, one row a rule: whom it is about (this node, every
    slot of the peer list, every other peer, every alive peer, ...), a test
    and a detail. One loop, cw_rules_apply (cluster_rules.c), walks a table
    over the view and hands what holds to an emitter: cw_cluster_alarms_evaluate collects one
    cw_alarm_want_t per (id, subject), sorted by id; cw_cluster_check builds
    the JSON report of `cluster check`. cw_cluster_alarms_diff turns two
    evaluations into raises and clears. Details are one line, truncated on
    a UTF-8 boundary so that they always make valid JSON strings.
*/

#include "cluster_alarms.h"
#include "cluster_rules.h"

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

static bool
s_is_ip (const char *text)
{
    unsigned char addr [16];
    return inet_pton (AF_INET, text, addr) == 1 || inet_pton (AF_INET6, text, addr) == 1;
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
        else if (!isalnum ((unsigned char) name [i]) && name [i] != '-')
            return false;
    }
    return labels >= 2 && !last_all_digits;
}

//  What differs between EFFECTIVE and STORED, for the 20007 detail.
static void
s_settings_changes (const cw_cluster_settings_t *eff, const cw_cluster_settings_t *sto, char *buf, size_t len)
{
    buf [0] = 0;
    if (strcmp (eff->name, sto->name) != 0)
        cw_rules_append (buf, len, "cluster.name '%s' -> '%s'", eff->name, sto->name);
    if (eff->primary != sto->primary)
        cw_rules_append (buf, len, "cluster.primary %d -> %d", eff->primary, sto->primary);
    if (eff->ip_version != sto->ip_version)
        cw_rules_append (buf, len, "cluster.ip_version %d -> %d", eff->ip_version, sto->ip_version);
    if (strcmp (eff->tls_verify, sto->tls_verify) != 0)
        cw_rules_append (buf, len, "cluster.tls_verify %s -> %s", eff->tls_verify, sto->tls_verify);
    cw_cluster_settings_t a = *eff, b = *sto;
    a.name [0] = b.name [0] = 0;
    a.primary = b.primary = 0;
    a.ip_version = b.ip_version = 0;
    a.tls_verify [0] = b.tls_verify [0] = 0;
    if (!cw_cluster_settings_equal (&a, &b, true)) {
        char was [1600], now [1600];
        cw_rules_peer_list (eff, ",", was, sizeof was);
        cw_rules_peer_list (sto, ",", now, sizeof now);
        cw_rules_append (buf, len, "cluster.peers '%s' -> '%s'", was, now);
    }
}

//  ---------------------------------------------------------------------
//  Alarm rules, in id order (the table in cluster_alarms.h)

static bool
s_silent_or_joining (const cw_rule_subject_t *on)
{
    return !on->peer->alive || on->peer->joining;
}

static void
s_silent_or_joining_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_peer_view_t *peer = on->peer;
    if (peer->alive) {
        cw_rules_say (text->detail,
                      "peer %d (%s) is joining the cluster and has no configuration "
                      "yet (expected; clears when it has joined)",
                      on->index, on->address);
        return;
    }
    char why [512] = "";
    if (peer->restarting)
        cw_rules_format (why, sizeof why, "announced a restart and is not heard from since");
    else if (peer->ever_seen)
        cw_rules_format (why, sizeof why, "has stopped sending heartbeats");
    else
        cw_rules_format (why, sizeof why, "not heard from since this peer started");
    if (peer->tcp_failing && peer->tcp_error [0])
        cw_rules_append (why, sizeof why, "TCP: %s", peer->tcp_error);
    else if (peer->tls_failing && peer->tls_error [0])
        cw_rules_append (why, sizeof why, "TLS: %s", peer->tls_error);
    cw_rules_say (text->detail, "peer %d (%s) %s", on->index, on->address, why);
}

static bool
s_unresolved (const cw_rule_subject_t *on)
{
    return on->peer->resolve_error [0] != 0;
}

static void
s_unresolved_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "peer %d address %s does not resolve: %s", on->index, on->address,
                  on->peer->resolve_error);
}

static bool
s_tls_failing (const cw_rule_subject_t *on)
{
    return on->peer->tls_failing;
}

static void
s_tls_failing_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "TLS with peer %d (%s) fails: %s", on->index, on->address,
                  on->peer->tls_error [0] ? on->peer->tls_error : "handshake failed");
}

//  Stored settings differ from those in effect (no reset pending): in
//  more than tls_verify (RESTART), or in tls_verify only.
static bool
s_settings_changed (const cw_rule_subject_t *on, bool beyond_tls)
{
    const cw_cluster_view_t *view = on->view;
    return !view->factory_reset_pending && !cw_cluster_settings_equal (on->eff, &view->stored, false)
        && cw_cluster_settings_equal (on->eff, &view->stored, true) != beyond_tls;
}

static bool
s_restart_required (const cw_rule_subject_t *on)
{
    return s_settings_changed (on, true);
}

//  The detail of 20007 and of the node-wide 20020.
static void
s_settings_pending_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    char changes [1024];
    s_settings_changes (on->eff, &on->view->stored, changes, sizeof changes);
    if (cw_cluster_settings_equal (on->eff, &on->view->stored, true))
        cw_rules_say (text->detail,
                      "TLS verification mode changed (%s): takes effect at "
                      "`causeway restart`",
                      changes);
    else
        cw_rules_say (text->detail,
                      "clustering settings changed (%s): they take effect at "
                      "`causeway restart`",
                      changes);
}

//  Why replication is paused: our own pause and the peers' upgrades.
static void
s_upgrade_paused_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_cluster_view_t *view = on->view;
    char why [512] = "";
    if (view->replication_paused)
        cw_rules_append (why, sizeof why,
                         "automatic replication is paused while peers run "
                         "different software versions (this peer: %s)",
                         view->version);
    for (int k = 0; k < on->ctx->count; k++) {
        cw_rule_subject_t peer;
        if (cw_rules_subject (on->ctx, CW_RULE_ALIVE, k, &peer) && peer.peer->upgrading)
            cw_rules_append (why, sizeof why, "peer %d (%s) announced an upgrade in progress", peer.index,
                             peer.address);
    }
    cw_rules_say (text->detail, "%s", why);
}

//  LINE = WHAT, and ": REASON" when there is one, when FAULT is set.
static void
s_say_fault (char *line, bool fault, const char *what, const char *reason)
{
    if (fault)
        cw_rules_say (line, "%s%s%s", what, reason [0] ? ": " : "", reason);
}

static void
s_replication_failed_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_cluster_view_t *view = on->view;
    s_say_fault (text->detail, view->replication_error [0], "automatic replication failed", view->replication_error);
}

static bool
s_conflict (const cw_rule_subject_t *on)
{
    return on->view->replication_conflict;
}

static void
s_conflict_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    int primary = on->eff->primary;
    if (primary >= 1 && primary <= on->ctx->count)
        cw_rules_say (text->detail,
                      "this peer's configuration conflicts with the primary's, peer "
                      "%d (%s): it must be synchronised manually",
                      primary, cw_rules_address (on->view, primary - 1));
    else
        cw_rules_say (text->detail, "this peer's configuration conflicts with the primary's: it "
                                    "must be synchronised manually");
}

static bool
s_name_or_ip_version_differs (const cw_rule_subject_t *on)
{
    return strcasecmp (on->peer->cluster_name, on->eff->name) != 0 || on->peer->ip_version != on->eff->ip_version;
}

static void
s_name_or_ip_version_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_peer_view_t *peer = on->peer;
    char diff [512] = "";
    if (strcasecmp (peer->cluster_name, on->eff->name) != 0)
        cw_rules_append (diff, sizeof diff, "cluster name '%s', this peer '%s'", peer->cluster_name, on->eff->name);
    if (peer->ip_version != on->eff->ip_version)
        cw_rules_append (diff, sizeof diff, "IP version %d, this peer %d", peer->ip_version, on->eff->ip_version);
    cw_rules_say (text->detail, "peer %d (%s) has %s", on->index, on->address, diff);
}

static void
s_database_missing_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_cluster_view_t *view = on->view;
    s_say_fault (text->detail, view->database_missing, "the cluster database of this peer is missing or unreadable",
                 view->database_error);
}

static void
s_not_listed_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_cluster_view_t *view = on->view;
    char list [1600];
    cw_rules_peer_list (on->eff, ", ", list, sizeof list);
    cw_rules_say (text->detail, "this peer's peering address %s is not in the peer list (%s)",
                  view->peering_address [0] ? view->peering_address : "(not set)", list);
}

static bool
s_primary_unreachable (const cw_rule_subject_t *on)
{
    int primary = on->eff->primary;
    cw_rule_subject_t peer;
    return !on->view->is_primary && primary >= 1 && primary <= on->ctx->count
        && cw_rules_subject (on->ctx, CW_RULE_OTHER, primary - 1, &peer) && !peer.peer->alive;
}

static void
s_primary_unreachable_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    int primary = on->eff->primary;
    cw_rules_say (text->detail,
                  "the configuration primary, peer %d (%s), is not reachable; this "
                  "peer serves on its last configuration",
                  primary, cw_rules_address (on->view, primary - 1));
}

static bool
s_primary_differs (const cw_rule_subject_t *on)
{
    return on->peer->primary != on->eff->primary;
}

static void
s_primary_differs_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "peer %d (%s) has configuration primary %d; this peer has %d", on->index, on->address,
                  on->peer->primary, on->eff->primary);
}

static void
s_h323_off_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    (void) on;
    cw_rules_say (text->detail, "h323.mode is off; clustering needs H.323 mode on");
}

static bool
s_no_name (const cw_rule_subject_t *on)
{
    return !on->eff->name [0];
}

static void
s_no_name_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "cluster.name is not set on this peer (clustered with %d peers)", on->ctx->count);
}

static bool
s_tls_change_pending (const cw_rule_subject_t *on)
{
    return s_settings_changed (on, false);
}

static bool
s_tls_mode_differs (const cw_rule_subject_t *on)
{
    return strcmp (on->peer->tls_verify, on->eff->tls_verify) != 0;
}

static void
s_tls_mode_differs_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *theirs = on->peer->tls_verify, *ours = on->eff->tls_verify;
    cw_rules_say (text->detail, "peer %d (%s) has TLS verification mode %s; this peer has %s", on->index, on->address,
                  theirs [0] ? theirs : "(none)", ours [0] ? ours : "(none)");
}

static bool
s_tcp_failing (const cw_rule_subject_t *on)
{
    return on->peer->tcp_failing;
}

static void
s_tcp_failing_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "TCP to peer %d (%s) on its clustering port fails: %s", on->index, on->address,
                  on->peer->tcp_error [0] ? on->peer->tcp_error : "connect failed");
}

static bool
s_peer_list_differs (const cw_rule_subject_t *on)
{
    return strcasecmp (on->peer->peers_digest, on->ctx->digest) != 0;
}

static void
s_peer_list_differs_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *theirs = on->peer->peers_digest;
    char list [1600];
    cw_rules_peer_list (on->eff, ",", list, sizeof list);
    cw_rules_say (text->detail,
                  "peer %d (%s) has a different peer list (digest %.12s) from this "
                  "peer's '%s' (digest %.12s)",
                  on->index, on->address, theirs [0] ? theirs : "none", list, on->ctx->digest);
}

static void
s_sync_failed_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_cluster_view_t *view = on->view;
    s_say_fault (text->detail, view->sync_failed, "full synchronisation of the cluster database failed",
                 view->sync_error);
}

static void
s_clock_unsynced_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    if (on->view->ntp_configured)
        cw_rules_say (text->detail, "this peer's clock is not synchronised: the NTP servers in "
                                    "ntp.servers are unreachable or not answering");
    else
        cw_rules_say (text->detail, "this peer's clock is not synchronised and no NTP server is "
                                    "configured (ntp.servers is empty)");
}

static void
s_type_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *type = on->peer->type;
    cw_rules_say (text->detail, "peer %d (%s) reports node type %s; this peer is %s", on->index, on->address,
                  type [0] ? type : "(none)", on->view->node_type);
}

static void
s_version_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *version = on->peer->version;
    cw_rules_say (text->detail, "peer %d (%s) runs version %s; this peer runs %s", on->index, on->address,
                  version [0] ? version : "(none)", on->view->version);
}

static bool
s_same_system_name (const cw_rule_subject_t *on)
{
    return on->ctx->me && on->ctx->me->system_name [0]
        && strcasecmp (on->peer->system_name, on->ctx->me->system_name) == 0;
}

static void
s_same_system_name_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "peer %d (%s) has the same system name '%s' as this peer (peer %d)", on->index,
                  on->address, on->peer->system_name, on->ctx->self_slot + 1);
}

static void
s_domain_alarm_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail, "peer %d (%s) has DNS domain '%s'; this peer has '%s'", on->index, on->address,
                  on->peer->dns_domain, on->ctx->me->dns_domain);
}

static bool
s_reset_pending (const cw_rule_subject_t *on)
{
    return on->view->factory_reset_pending;
}

static void
s_reset_pending_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    char list [1600];
    cw_rules_peer_list (on->eff, ",", list, sizeof list);
    cw_rules_say (text->detail,
                  "all peer addresses were cleared: the next restart resets this "
                  "peer to factory defaults; restore '%s' (same order) to cancel",
                  list);
}

//  One row an alarm rule, in id order; a node-wide row before the per-peer
//  row of the same id.
static const cw_rule_t s_alarm_rules [] = {
    { CW_ALARM_CLUSTER_INVALID_CONFIG, NULL, CW_RULE_CLUSTER, cw_rules_settings_invalid,
      cw_rules_settings_invalid_detail },
    { CW_ALARM_CLUSTER_COMMS_FAILURE, NULL, CW_RULE_OTHER, s_silent_or_joining, s_silent_or_joining_detail },
    { CW_ALARM_CLUSTER_INVALID_ADDRESS, NULL, CW_RULE_SLOT, s_unresolved, s_unresolved_detail },
    { CW_ALARM_CLUSTER_DB_COMMS_FAILURE, NULL, CW_RULE_OTHER, s_tls_failing, s_tls_failing_detail },
    { CW_ALARM_CLUSTER_RESTART_REQUIRED, NULL, CW_RULE_NODE, s_restart_required, s_settings_pending_detail },
    { CW_ALARM_CLUSTER_UPGRADE_PAUSED, NULL, CW_RULE_CLUSTER, NULL, s_upgrade_paused_detail },
    { CW_ALARM_CLUSTER_REPLICATION_ERROR, NULL, CW_RULE_CLUSTER, NULL, s_replication_failed_detail },
    { CW_ALARM_CLUSTER_CONFLICT, NULL, CW_RULE_CLUSTER, s_conflict, s_conflict_detail },
    { CW_ALARM_CLUSTER_SETTINGS_MISMATCH, NULL, CW_RULE_ALIVE, s_name_or_ip_version_differs,
      s_name_or_ip_version_detail },
    { CW_ALARM_CLUSTER_DB_MISSING, NULL, CW_RULE_CLUSTER, NULL, s_database_missing_detail },
    { CW_ALARM_CLUSTER_NOT_IN_PEER_LIST, NULL, CW_RULE_CLUSTER, cw_rules_not_listed, s_not_listed_alarm_detail },
    { CW_ALARM_CLUSTER_PRIMARY_UNREACHABLE, NULL, CW_RULE_CLUSTER, s_primary_unreachable,
      s_primary_unreachable_detail },
    { CW_ALARM_CLUSTER_PRIMARY_MISMATCH, NULL, CW_RULE_ALIVE, s_primary_differs, s_primary_differs_detail },
    { CW_ALARM_CLUSTER_H323_OFF, NULL, CW_RULE_CLUSTER, cw_rules_h323_off, s_h323_off_alarm_detail },
    { CW_ALARM_CLUSTER_NO_NAME, NULL, CW_RULE_CLUSTER, s_no_name, s_no_name_detail },
    { CW_ALARM_CLUSTER_TLS_MISMATCH, NULL, CW_RULE_NODE, s_tls_change_pending, s_settings_pending_detail },
    { CW_ALARM_CLUSTER_TLS_MISMATCH, NULL, CW_RULE_ALIVE, s_tls_mode_differs, s_tls_mode_differs_detail },
    { CW_ALARM_CLUSTER_TCP_FAILURE, NULL, CW_RULE_OTHER, s_tcp_failing, s_tcp_failing_detail },
    { CW_ALARM_CLUSTER_PEERS_INCONSISTENT, NULL, CW_RULE_ALIVE, s_peer_list_differs, s_peer_list_differs_detail },
    { CW_ALARM_CLUSTER_SYNC_FAILED, NULL, CW_RULE_CLUSTER, NULL, s_sync_failed_detail },
    { CW_ALARM_CLUSTER_CLOCK, NULL, CW_RULE_CLUSTER, cw_rules_clock_unsynced, s_clock_unsynced_alarm_detail },
    { CW_ALARM_CLUSTER_CLOCK, NULL, CW_RULE_ALIVE, cw_rules_clock_skewed, cw_rules_clock_skewed_detail },
    { CW_ALARM_CLUSTER_RTT, NULL, CW_RULE_ALIVE, cw_rules_rtt_high, cw_rules_rtt_detail },
    { CW_ALARM_CLUSTER_TYPE_MISMATCH, NULL, CW_RULE_ALIVE, cw_rules_type_differs, s_type_alarm_detail },
    { CW_ALARM_CLUSTER_VERSION_MISMATCH, NULL, CW_RULE_ALIVE, cw_rules_version_differs, s_version_alarm_detail },
    { CW_ALARM_CLUSTER_DUPLICATE_NAME, NULL, CW_RULE_ALIVE, s_same_system_name, s_same_system_name_detail },
    { CW_ALARM_CLUSTER_DOMAIN_MISMATCH, NULL, CW_RULE_ALIVE, cw_rules_domain_differs, s_domain_alarm_detail },
    { CW_ALARM_CLUSTER_RESET_PENDING, NULL, CW_RULE_NODE, s_reset_pending, s_reset_pending_detail },
};

#define S_NRULES(table) (sizeof (table) / sizeof (table) [0])

//  ---------------------------------------------------------------------
//  Alarm evaluation

typedef struct {
    cw_alarm_want_t *out;
    int max;
    int count;
} s_wants_t;

//  Add alarm RULE about ON with TEXT's detail (cut to the alarm's 511
//  bytes); an existing (id, subject) gets the detail appended instead.
static void
s_want (const cw_rule_t *rule, const cw_rule_subject_t *on, const cw_rule_text_t *text, void *out)
{
    s_wants_t *self = (s_wants_t *) out;
    char detail [sizeof self->out [0].detail];
    char key [sizeof self->out [0].subject];
    cw_rules_format (detail, sizeof detail, "%s", text->detail);
    cw_rules_format (key, sizeof key, "%s", on->address);
    for (int i = 0; i < self->count; i++) {
        cw_alarm_want_t *want = &self->out [i];
        if (want->id == rule->id && strcmp (want->subject, key) == 0) {
            if (strcmp (want->detail, detail) != 0)
                cw_rules_append (want->detail, sizeof want->detail, "%s", detail);
            return;
        }
    }
    if (self->count >= self->max)
        return;
    cw_alarm_want_t *want = &self->out [self->count++];
    want->id = rule->id;
    cw_rules_format (want->subject, sizeof want->subject, "%s", key);
    cw_rules_format (want->detail, sizeof want->detail, "%s", detail);
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
    cw_rules_apply (view, s_alarm_rules, S_NRULES (s_alarm_rules), s_want, &wants);
    s_sort (wants.out, wants.count);
    return wants.count;
}

int
cw_cluster_alarms_rules (int *ids, int max)
{
    int count = (int) S_NRULES (s_alarm_rules);
    for (int i = 0; ids && i < count && i < max; i++)
        ids [i] = s_alarm_rules [i].id;
    return count;
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
cw_cluster_alarms_diff (const cw_alarm_want_t *before, int nbefore, const cw_alarm_want_t *after, int nafter,
                        cw_alarm_want_t *to_raise, int *nraise, cw_alarm_want_t *to_clear, int *nclear)
{
    if (nbefore < 0 || nafter < 0 || (nbefore > 0 && !before) || (nafter > 0 && !after) || !to_raise || !nraise
        || !to_clear || !nclear)
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
//  Requirement check (`cluster check`)

static const char *s_requirements [] = {
    "node_type", "software_version",   "distinct_ip_address",    "distinct_system_name", "dns_domain",
    "rtt",       "clock_synchronised", "dns_or_address_mapping", "certificate",          "cluster_name",
    "h323_mode", "cluster_settings",   "peer_reachable"
};

//  Does the address mapping hold an entry for ADDRESS (an FQDN matched by
//  name, an IP address by the mapped IP)?
static bool
s_mapped (const cw_cluster_view_t *view, const char *address)
{
    int count = view->mapping_count < 0                    ? 0
              : view->mapping_count > CW_CLUSTER_MAX_PEERS ? CW_CLUSTER_MAX_PEERS
                                                           : view->mapping_count;
    bool is_ip = s_is_ip (address);
    for (int m = 0; m < count; m++) {
        const char *fqdn = view->mappings [m][0];
        const char *to = view->mappings [m][1];
        if (!fqdn [0] || !to [0])
            continue;
        if (is_ip && strcasecmp (to, address) == 0)
            return true;
        if (!is_ip && cw_rules_same_domain (fqdn, address))
            return true;
    }
    return false;
}

static bool
s_unreachable (const cw_rule_subject_t *on)
{
    return !on->peer->alive;
}

static void
s_unreachable_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_peer_view_t *peer = on->peer;
    cw_rules_say (text->detail,
                  "peer %d (%s) is not reachable%s%s; its node type, version, "
                  "system name, domain, RTT and clock could not be checked",
                  on->index, on->address, peer->tcp_failing ? ": " : "", peer->tcp_failing ? peer->tcp_error : "");
    cw_rules_say (text->fix,
                  "start Causeway on peer %d (%s) and let TCP through on the "
                  "clustering ports (`causeway firewall rules`); check with `causeway cluster "
                  "status`",
                  on->index, on->address);
}

static void
s_type_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *type = on->peer->type, *ours = on->view->node_type;
    cw_rules_say (text->detail, "peer %d (%s) is %s; this peer is %s", on->index, on->address,
                  type [0] ? type : "(unknown)", ours);
    cw_rules_say (text->fix,
                  "a cluster never mixes core and edge nodes: remove peer %d "
                  "(`causeway cluster remove %s` on the primary) and add a %s node instead",
                  on->index, on->address, ours);
}

static void
s_version_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *version = on->peer->version;
    bool upgrading = on->view->replication_paused || on->peer->upgrading;
    cw_rules_say (text->detail, "peer %d (%s) runs %s; this peer runs %s", on->index, on->address,
                  version [0] ? version : "(unknown)", on->view->version);
    cw_rules_say (text->fix,
                  "upgrade every peer to the same version, the primary first, then the "
                  "others one at a time%s",
                  upgrading ? " (an upgrade is in progress: replication resumes when it ends)" : "");
}

static void
s_domain_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *ours = on->ctx->me->dns_domain;
    cw_rules_say (text->detail, "peer %d (%s) has DNS domain '%s'; this peer (peer %d) has '%s'", on->index,
                  on->address, on->peer->dns_domain, on->ctx->self_slot + 1, ours);
    cw_rules_say (text->fix,
                  "set the same DNS domain on every peer: `causeway config set "
                  "dns.domain %s` on peer %d",
                  ours [0] ? ours : "DOMAIN", on->index);
}

//  What a peer's clustering settings differ in from ours, if anything.
static void
s_peer_settings_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const cw_peer_view_t *peer = on->peer;
    const cw_cluster_settings_t *eff = on->eff;
    char diff [768] = "";
    if (peer->primary != eff->primary)
        cw_rules_append (diff, sizeof diff, "primary %d (this peer %d)", peer->primary, eff->primary);
    if (strcasecmp (peer->peers_digest, on->ctx->digest) != 0)
        cw_rules_append (diff, sizeof diff, "a different peer list");
    if (strcasecmp (peer->cluster_name, eff->name) != 0)
        cw_rules_append (diff, sizeof diff, "cluster name '%s' (this peer '%s')", peer->cluster_name, eff->name);
    if (peer->ip_version != eff->ip_version)
        cw_rules_append (diff, sizeof diff, "IP version %d (this peer %d)", peer->ip_version, eff->ip_version);
    if (strcmp (peer->tls_verify, eff->tls_verify) != 0)
        cw_rules_append (diff, sizeof diff, "TLS verification %s (this peer %s)", peer->tls_verify, eff->tls_verify);
    if (!diff [0])
        return;
    cw_rules_say (text->detail, "peer %d (%s) has %s", on->index, on->address, diff);
    cw_rules_say (text->fix,
                  "copy the primary's clustering settings (cluster.name, "
                  "cluster.primary, cluster.ip_version, cluster.tls_verify, cluster.peers in the "
                  "same order) to peer %d, then `causeway restart` it",
                  on->index);
}

//  A slot's IP address as resolved, else its address as configured.
static const char *
s_ip (const cw_rule_subject_t *on)
{
    return on->peer->ip [0] ? on->peer->ip : on->address;
}

static bool
s_same_address (const cw_rule_subject_t *a, const cw_rule_subject_t *b)
{
    return strcasecmp (a->address, b->address) == 0 || strcasecmp (s_ip (a), s_ip (b)) == 0;
}

static bool
s_named_alike (const cw_rule_subject_t *a, const cw_rule_subject_t *b)
{
    return a->peer->system_name [0] && strcasecmp (a->peer->system_name, b->peer->system_name) == 0;
}

//  The first slot before ON's, in SCOPE, that SAME pairs with ON, into
//  OTHER; false when there is none.
static bool
s_first_before (const cw_rule_subject_t *on, cw_rule_scope_t scope,
                bool (*same) (const cw_rule_subject_t *a, const cw_rule_subject_t *b), cw_rule_subject_t *other)
{
    for (int j = 0; j < on->index - 1; j++)
        if (cw_rules_subject (on->ctx, scope, j, other) && same (on, other))
            return true;
    return false;
}

static void
s_address_taken_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rule_subject_t other;
    if (!s_first_before (on, CW_RULE_SLOT, s_same_address, &other))
        return;
    bool same_name = strcasecmp (on->address, other.address) == 0;
    cw_rules_say (text->detail, "peer %d (%s) and peer %d (%s) have the same address %s", other.index, other.address,
                  on->index, on->address, same_name ? on->address : s_ip (on));
    cw_rules_say (text->fix,
                  "give every peer its own IP address: correct peer %d in the peer "
                  "list on the primary (`causeway cluster replace %s NEW`)",
                  on->index, on->address);
}

static void
s_name_taken_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rule_subject_t other;
    if (s_first_before (on, CW_RULE_KNOWN, s_named_alike, &other)) {
        cw_rules_say (text->detail, "peer %d (%s) and peer %d (%s) are both named '%s'", other.index, other.address,
                      on->index, on->address, on->peer->system_name);
        cw_rules_say (text->fix,
                      "give every peer its own system name: `causeway config set "
                      "system.name NAME` on peer %d",
                      on->index);
    }
}

//  Why ON's certificate does not identify it, or NULL.
static const char *
s_certificate_trouble (const cw_rule_subject_t *on)
{
    const cw_peer_view_t *peer = on->peer;
    if (!cw_rules_is_self (on->view, on->index - 1) && peer->tls_failing)
        return peer->tls_error [0] ? peer->tls_error : "TLS handshake fails";
    if (peer->certificate [0] && strcmp (peer->certificate, "ok") != 0
        && strncmp (peer->certificate, "not verified", 12) != 0)
        return peer->certificate;
    return NULL;
}

static void
s_certificate_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *reason = s_certificate_trouble (on);
    if (!reason)
        return;
    cw_rules_say (text->detail, "the certificate of peer %d (%s) does not identify it: %s", on->index, on->address,
                  reason);
    cw_rules_say (text->fix,
                  "install on peer %d a certificate whose SAN (or CN) contains its "
                  "peer address %s and that chains to a CA every peer trusts "
                  "(peering.certificate, peering.private_key, peering.ca_file), then `causeway "
                  "restart` it",
                  on->index, on->address);
}

static void
s_clock_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    if (on->peer) {
        cw_rules_say (text->detail, "peer %d (%s) reports its clock is not synchronised", on->index, on->address);
        cw_rules_say (text->fix,
                      "on peer %d configure a reachable NTP server: `causeway config "
                      "set ntp.servers HOST`",
                      on->index);
    }
    else if (on->view->ntp_configured) {
        cw_rules_say (text->detail, "this peer's clock is not synchronised: its NTP servers do "
                                    "not answer");
        cw_rules_say (text->fix, "make the NTP servers in ntp.servers reachable from this peer, "
                                 "or set others: `causeway config set ntp.servers HOST`");
    }
    else {
        cw_rules_say (text->detail, "this peer's clock is not synchronised and no NTP server is "
                                    "configured");
        cw_rules_say (text->fix, "configure an NTP server on this peer: `causeway config set "
                                 "ntp.servers HOST`");
    }
}

static bool
s_nothing_to_map (const cw_rule_subject_t *on)
{
    const cw_cluster_view_t *view = on->view;
    return view->dns_server_count <= 0
        && (!view->address_mapping_enabled || cw_rules_peer_count (on->ctx->in_use) == 0);
}

static void
s_nothing_to_map_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail,
                  "no DNS server is configured on this peer (dns.servers is empty) "
                  "and address mapping is %s",
                  on->view->address_mapping_enabled ? "empty" : "off");
    cw_rules_say (text->fix, "configure a DNS server (`causeway config set dns.servers IP`), or "
                             "map every peer: `causeway cluster suggest-mappings` and `causeway config set "
                             "cluster.address_mapping.enabled on` on the primary");
}

static bool
s_unmapped (const cw_rule_subject_t *on)
{
    const cw_cluster_view_t *view = on->view;
    return view->dns_server_count <= 0 && view->address_mapping_enabled && !s_mapped (view, on->address);
}

static void
s_unmapped_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    cw_rules_say (text->detail,
                  "no DNS server is configured on this peer and the address mapping "
                  "has no entry for peer %d (%s)",
                  on->index, on->address);
    cw_rules_say (text->fix,
                  "add a mapping for peer %d (%s) to cluster.address_mapping "
                  "(`causeway cluster suggest-mappings` on the primary), or configure a DNS "
                  "server (`causeway config set dns.servers IP`)",
                  on->index, on->address);
}

static bool
s_name_unset (const cw_rule_subject_t *on)
{
    return !on->ctx->in_use->name [0];
}

static void
s_name_unset_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    (void) on;
    cw_rules_say (text->detail, "cluster.name is not configured");
    cw_rules_say (text->fix, "set the same cluster name, a routable FQDN used in the cluster's "
                             "DNS SRV records, on every peer: `causeway config set cluster.name "
                             "cluster1.example.com`, then `causeway restart`");
}

static bool
s_name_not_fqdn (const cw_rule_subject_t *on)
{
    const char *name = on->ctx->in_use->name;
    return name [0] && !s_is_fqdn (name);
}

static void
s_name_not_fqdn_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *name = on->ctx->in_use->name;
    cw_rules_say (text->detail, "cluster.name '%s' is not a fully qualified domain name", name);
    cw_rules_say (text->fix,
                  "set a fully qualified domain name on every peer, e.g. `causeway "
                  "config set cluster.name %s.example.com`, then `causeway restart`",
                  strchr (name, '.') ? "cluster1" : name);
}

static void
s_h323_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *fix = "turn H.323 mode on, on the primary: `causeway config set h323.mode on`";
    if (on->peer) {
        cw_rules_say (text->detail, "peer %d (%s) has H.323 mode off", on->index, on->address);
        cw_rules_say (text->fix, "%s (it replicates to every peer)", fix);
    }
    else {
        cw_rules_say (text->detail, "h323.mode is off; clustering uses H.323 between peers");
        cw_rules_say (text->fix, "%s", fix);
    }
}

static void
s_not_listed_check_detail (const cw_rule_subject_t *on, cw_rule_text_t *text)
{
    const char *address = on->view->peering_address;
    cw_rules_say (text->detail, "this peer's peering address %s is not in the peer list",
                  address [0] ? address : "(not set)");
    cw_rules_say (text->fix, "add this peer's peering.address to the peer list on the primary "
                             "(`causeway cluster add ADDRESS`) and copy the list to every peer");
}

//  One row a requirement rule, in the order the problems are listed: the
//  other peers one by one (a peer that is not reachable only says so),
//  then the rules over every slot, then this node's.
static const cw_rule_t s_check_rules [] = {
    { 0, "peer_reachable", CW_RULE_OTHER, s_unreachable, s_unreachable_detail },
    { 0, "node_type", CW_RULE_ALIVE, cw_rules_type_differs, s_type_check_detail },
    { 0, "software_version", CW_RULE_ALIVE, cw_rules_version_differs, s_version_check_detail },
    { 0, "dns_domain", CW_RULE_ALIVE, cw_rules_domain_differs, s_domain_check_detail },
    { 0, "rtt", CW_RULE_ALIVE, cw_rules_rtt_high, cw_rules_rtt_detail },
    { 0, "clock_synchronised", CW_RULE_ALIVE, cw_rules_clock_unsynced, s_clock_check_detail },
    { 0, "clock_synchronised", CW_RULE_ALIVE, cw_rules_clock_skewed, cw_rules_clock_skewed_detail },
    { 0, "h323_mode", CW_RULE_ALIVE, cw_rules_h323_off, s_h323_check_detail },
    { 0, "cluster_settings", CW_RULE_ALIVE, NULL, s_peer_settings_detail },
    { 0, "distinct_ip_address", CW_RULE_SLOT, NULL, s_address_taken_detail },
    { 0, "distinct_system_name", CW_RULE_KNOWN, NULL, s_name_taken_detail },
    { 0, "certificate", CW_RULE_SLOT, NULL, s_certificate_detail },
    { 0, "clock_synchronised", CW_RULE_SELF, cw_rules_clock_unsynced, s_clock_check_detail },
    { 0, "dns_or_address_mapping", CW_RULE_SELF, s_nothing_to_map, s_nothing_to_map_detail },
    { 0, "dns_or_address_mapping", CW_RULE_LISTED, s_unmapped, s_unmapped_detail },
    { 0, "cluster_name", CW_RULE_NODE, s_name_unset, s_name_unset_detail },
    { 0, "cluster_name", CW_RULE_NODE, s_name_not_fqdn, s_name_not_fqdn_detail },
    { 0, "h323_mode", CW_RULE_NODE, cw_rules_h323_off, s_h323_check_detail },
    { 0, "cluster_settings", CW_RULE_CLUSTER, cw_rules_settings_invalid, cw_rules_settings_invalid_detail },
    { 0, "cluster_settings", CW_RULE_CLUSTER, cw_rules_not_listed, s_not_listed_check_detail },
};

//  Add the problem of RULE about ON (its index, 0 = null) to the JSON array OUT.
static void
s_problem (const cw_rule_t *rule, const cw_rule_subject_t *on, const cw_rule_text_t *text, void *out)
{
    json_t *item = json_object ();
    if (!item)
        return;
    json_object_set_new (item, "requirement", json_string (rule->requirement));
    json_object_set_new (item, "peer", on->index > 0 ? json_integer (on->index) : json_null ());
    json_object_set_new (item, "detail", json_string (text->detail));
    //  json_string returns NULL on invalid UTF-8: keep the field anyway
    if (!json_object_get (item, "detail"))
        json_object_set_new (item, "detail", json_string ("(detail not valid UTF-8)"));
    json_object_set_new (item, "fix", json_string (text->fix));
    json_array_append_new ((json_t *) out, item);
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
    cw_rules_apply (view, s_check_rules, S_NRULES (s_check_rules), s_problem, problems);
    for (size_t i = 0; i < S_NRULES (s_requirements); i++)
        json_array_append_new (checked, json_string (s_requirements [i]));
    json_object_set_new (report, "ok", json_boolean (json_array_size (problems) == 0));
    json_object_set_new (report, "problems", problems);
    json_object_set_new (report, "checked", checked);
    return report;
}
