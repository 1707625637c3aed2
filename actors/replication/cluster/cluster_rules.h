/*  cluster_rules.h - the engine of the cluster's rule tables, private to
    cluster_rules.c and cluster_alarms.c (the alarm rules and the
    `cluster check` requirements).

    A rule is one row of a table: whom it is about (its scope), when it
    holds (test) and what it says (detail: one line, and for `cluster
    check` the fix). cw_rules_apply walks a table over a view and hands
    every (row, subject) that holds to an emitter. Everything here is a
    pure function of the cw_cluster_view_t (cluster_view.h).
*/
#ifndef CW_CLUSTER_RULES_H
#define CW_CLUSTER_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster_alarms.h"
#include "cluster_view.h"

//  Whom a rule is about (its subjects).
typedef enum {
    CW_RULE_NODE,       //  this node, clustered or not
    CW_RULE_CLUSTER,    //  this node, only when it is clustered
    CW_RULE_SELF,       //  this node, named by its index (0 when not in the list)
    CW_RULE_SLOT,       //  every slot of the peer list with an address, ours included
    CW_RULE_KNOWN,      //  every slot with an address whose values are current:
                        //  our own and the alive peers'
    CW_RULE_OTHER,      //  every other peer: a slot with an address that is not ours
    CW_RULE_ALIVE,      //  every other peer that is alive (heartbeat values current)
    CW_RULE_LISTED      //  every address of the peer list in use (see cw_rule_ctx_t)
} cw_rule_scope_t;

//  What every rule may read, computed once per evaluation.
typedef struct {
    const cw_cluster_view_t *view;
    const cw_cluster_settings_t *eff;       //  the settings in effect
    const cw_cluster_settings_t *in_use;    //  eff when clustered, else the stored ones
    int count;                              //  slots of the effective peer list
    int self_slot;                          //  our own slot (0-based) or -1
    const cw_peer_view_t *me;               //  our own slot's view or NULL
    char digest [65];                       //  cw_cluster_peers_digest (eff)
} cw_rule_ctx_t;

//  Whom one application of a rule is about.
typedef struct {
    const cw_rule_ctx_t *ctx;
    const cw_cluster_view_t *view;
    const cw_cluster_settings_t *eff;    //  the settings in effect
    int index;                           //  the peer's index 1..6; for the node its
                                         //  own index (CW_RULE_SELF) or 0
    const char *address;                 //  the peer's address, "" for the node
    const cw_peer_view_t *peer;          //  the slot's view (CW_RULE_SLOT .. CW_RULE_ALIVE),
                                         //  NULL for the node and CW_RULE_LISTED
} cw_rule_subject_t;

//  What a rule says when it holds: lines of CW_RULE_LINE bytes at most.
#define CW_RULE_LINE 1024
typedef struct {
    char detail [CW_RULE_LINE];
    char fix [CW_RULE_LINE];    //  `cluster check` only
} cw_rule_text_t;

typedef bool (cw_rule_test_fn) (const cw_rule_subject_t *on);
typedef void (cw_rule_detail_fn) (const cw_rule_subject_t *on, cw_rule_text_t *text);

typedef struct {
    int id;                     //  the alarm id (alarm rules)
    const char *requirement;    //  the requirement name (check rules)
    cw_rule_scope_t scope;
    cw_rule_test_fn *test;    //  NULL: the rule holds when its detail says something
    cw_rule_detail_fn *detail;
} cw_rule_t;

typedef void (cw_rule_emit_fn) (const cw_rule_t *rule, const cw_rule_subject_t *on, const cw_rule_text_t *text,
                                void *out);

//  ---------------------------------------------------------------------
//  The engine

//  Apply RULES (NRULES rows) to VIEW, in table order: for each row, every
//  subject of its scope that its test holds for (or, for a row without a
//  test, that its detail says something about) is handed with the row's
//  text to EMIT (OUT passed through). Rows next to each other whose scopes
//  walk the same subjects (CW_RULE_OTHER and CW_RULE_ALIVE both walk the
//  other peers) are applied subject by subject, so that one peer's entries
//  stand together.
void cw_rules_apply (const cw_cluster_view_t *view, const cw_rule_t *rules, size_t nrules, cw_rule_emit_fn *emit,
                     void *out);

//  The subject at place K (a slot, 0-based; 0 for the node) of SCOPE into
//  ON; false when there is none there (an empty slot, one the scope does
//  not cover, a node scope that does not apply).
bool cw_rules_subject (const cw_rule_ctx_t *ctx, cw_rule_scope_t scope, int k, cw_rule_subject_t *on);

//  ---------------------------------------------------------------------
//  Text: every line is cut on a UTF-8 boundary, so it makes a valid JSON
//  string

//  Format LINE, a detail or a fix of a cw_rule_text_t (CW_RULE_LINE bytes).
void cw_rules_say (char *line, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

//  Format BUF (LEN bytes).
void cw_rules_format (char *buf, size_t len, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

//  Append "; " (when BUF is not empty) and the formatted text to BUF.
void cw_rules_append (char *buf, size_t len, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

//  ---------------------------------------------------------------------
//  The view

//  S's peer_count, within 0..CW_CLUSTER_MAX_PEERS.
int cw_rules_peer_count (const cw_cluster_settings_t *s);

//  BUF = the non-empty slots of S joined with SEP.
void cw_rules_peer_list (const cw_cluster_settings_t *s, const char *sep, char *buf, size_t len);

//  Case-insensitive compare of DNS names, a trailing dot ignored.
bool cw_rules_same_domain (const char *a, const char *b);

//  The address of slot I (0-based) as configured.
const char *cw_rules_address (const cw_cluster_view_t *view, int i);

//  Is slot I (0-based) this peer's own?
bool cw_rules_is_self (const cw_cluster_view_t *view, int i);

//  ---------------------------------------------------------------------
//  Rules both tables use (a subject without a peer is this node)

bool cw_rules_settings_invalid (const cw_rule_subject_t *on);
void cw_rules_settings_invalid_detail (const cw_rule_subject_t *on, cw_rule_text_t *text);
bool cw_rules_not_listed (const cw_rule_subject_t *on);
bool cw_rules_h323_off (const cw_rule_subject_t *on);
bool cw_rules_clock_unsynced (const cw_rule_subject_t *on);
bool cw_rules_type_differs (const cw_rule_subject_t *on);
bool cw_rules_version_differs (const cw_rule_subject_t *on);
bool cw_rules_domain_differs (const cw_rule_subject_t *on);
bool cw_rules_rtt_high (const cw_rule_subject_t *on);
void cw_rules_rtt_detail (const cw_rule_subject_t *on, cw_rule_text_t *text);
bool cw_rules_clock_skewed (const cw_rule_subject_t *on);
void cw_rules_clock_skewed_detail (const cw_rule_subject_t *on, cw_rule_text_t *text);

#endif
