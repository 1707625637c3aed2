/*  dialplan.h - the dial plan: transforms and search rules, and the search
    that applies them to an alias.

    Both are cluster-wide data (the replication actor's data API, namespaces
    "routing.transforms" and "routing.search_rules"; key = the rule's name,
    value = its JSON below), changed on the primary, validated on write, kept
    in memory on every peer (loaded at start, kept current by the EVENTs
    data.changed.routing.*), so a search never waits on another process.

    A transform: {"name", "priority" (1..65534), "pattern_type" ("exact" |
    "prefix" | "suffix" | "regex"), "pattern", "replace" (for regex: \1..\9
    are the groups; for the others the matched part is replaced), "state"
    ("on" | "off")}. Transforms run before any search, lowest priority
    first; the first that matches changes the alias (one transform per
    alias, as Expressway does).

    A search rule: {"name", "priority" (1..65534), "source" ("any" |
    "registered" | "authenticated" | "zone:<NAME>"), "authenticated" (bool:
    the request must be authenticated), "mode" ("any_alias" |
    "pattern_match"), "pattern_type", "pattern", "behaviour" ("leave" |
    "strip" | "replace"), "replace", "on_match" ("stop" | "continue"),
    "target" ("local" or a zone name), "state"}. Rules are searched lowest
    priority first; rules of the same priority form one group searched in
    parallel (their targets are tried together). The search ends when a
    group found the alias, or after a group holding a rule that matched
    with on_match "stop" (found or not, as Expressway's "Stop"); with
    "continue" it goes on to the next group while the alias is not found.

    Commands (declared on the routing actor):
      transforms.add {rule}    transforms.remove {name}    transforms.list {}
      transforms.test {alias}  -> {"alias", "result", "transform"|null}
      search_rules.add {rule}  search_rules.remove {name}  search_rules.list {}
    A bad rule is refused with the field and what is allowed; nothing changes.
*/
#ifndef CW_DIALPLAN_H
#define CW_DIALPLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CW_DIALPLAN_ALIAS_MAX 256

typedef struct _cw_dialplan_t cw_dialplan_t;

// ---------------------------------------------------------------------------
//  Pure parts (no actor): the rules and the search plan

//  A new empty dial plan. NULL when out of memory.
cw_dialplan_t *cw_dialplan_new (void);
void cw_dialplan_destroy (cw_dialplan_t **self_p);

//  Check RULE (borrowed) as a transform / search rule; on success a
//  normalized copy (defaults filled) in *NORMALIZED (new reference). -1
//  with "<field>: <what is allowed>" in ERR.
int cw_dialplan_check_transform (json_t *rule, json_t **normalized, char *err, size_t errlen);
int cw_dialplan_check_search_rule (json_t *rule, json_t **normalized, char *err, size_t errlen);

//  Put (VALUE a rule) or remove (VALUE NULL) the transform / search rule
//  NAME in memory. 0, or -1 when VALUE is not a valid rule (kept out).
int cw_dialplan_set_transform (cw_dialplan_t *self, const char *name, json_t *value);
int cw_dialplan_set_search_rule (cw_dialplan_t *self, const char *name, json_t *value);
//  Remove every transform / search rule (before a reload).
void cw_dialplan_clear (cw_dialplan_t *self);
size_t cw_dialplan_transform_count (cw_dialplan_t *self);
size_t cw_dialplan_search_rule_count (cw_dialplan_t *self);
//  Remove every transform / every search rule only.
void cw_dialplan_clear_transforms (cw_dialplan_t *self);
void cw_dialplan_clear_search_rules (cw_dialplan_t *self);
//  Is there a transform / search rule NAME?
bool cw_dialplan_has_transform (cw_dialplan_t *self, const char *name);
bool cw_dialplan_has_search_rule (cw_dialplan_t *self, const char *name);
//  The transforms / search rules (normalized, as checked), lowest priority
//  first, then by name. New reference.
json_t *cw_dialplan_transforms (cw_dialplan_t *self);
json_t *cw_dialplan_search_rules (cw_dialplan_t *self);

//  Apply the transforms to ALIAS: the result in OUT (OUTLEN bytes), the
//  name of the transform that matched in NAME (NAMELEN; "" when none).
//  STEPS (may be NULL) gets one {"step": "transform", "name", "matched",
//  "alias"} per transform looked at.
void cw_dialplan_transform (cw_dialplan_t *self, const char *alias, char *out, size_t outlen, char *name,
                            size_t namelen, json_t *steps);

//  What a request brings to the search
typedef struct {
    const char *zone;      //  the zone it came from: "local" (an endpoint of ours) or a zone name, or "" (unknown)
    bool registered;       //  from an endpoint registered here (its source matches a registration)
    bool authenticated;    //  its credentials were checked
} cw_dialplan_source_t;

//  One target of the search plan: search ALIAS in TARGET ("local" or a zone)
typedef struct {
    const char *rule;      //  the rule's name (borrowed from the plan)
    const char *target;    //  "local" or a zone name
    char alias [CW_DIALPLAN_ALIAS_MAX];    //  the alias after the rule's pattern behaviour
    bool stop;                             //  the rule's on_match is stop: no group after this one
} cw_dialplan_target_t;

//  The search plan of ALIAS (already transformed) from SOURCE: groups of
//  targets, lowest priority first. Calls FN once per group (the targets
//  of one group are searched in parallel); FN returns true when the alias
//  was found there, which ends the walk (as does a group with a matching
//  "stop" rule). STEPS (may be
//  NULL) gets {"step": "rule", "name", "priority", "matched", "alias",
//  "target"} for every rule looked at, in order. Returns the number of
//  rules that matched; LAST_RULE (may be NULL, LASTLEN bytes) gets the
//  name of the last rule tried ("" when none).
//
//  The walk is synchronous; a caller whose zone queries are asynchronous
//  takes the groups with cw_dialplan_plan and walks them itself.
typedef bool (cw_dialplan_group_fn) (const cw_dialplan_target_t *targets, size_t count, void *arg);
int cw_dialplan_search (cw_dialplan_t *self, const char *alias, const cw_dialplan_source_t *source,
                        cw_dialplan_group_fn *fn, void *arg, json_t *steps, char *last_rule, size_t lastlen);

//  The whole plan at once: an array of groups, each an array of
//  {"rule", "target", "alias", "stop"}, lowest priority first; the rules
//  that did not match are in STEPS only. New reference.
json_t *cw_dialplan_plan (cw_dialplan_t *self, const char *alias, const cw_dialplan_source_t *source,
                          json_t *steps);

#endif
