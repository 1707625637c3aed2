/*  dialplan.c - the dial plan: transforms and search rules kept sorted in
    memory with their regular expressions compiled when they are set, so a
    search allocates nothing but its STEPS.
*/
#include "dialplan.h"

#include <ctype.h>
#include <regex.h>
#include <sys/types.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 64

typedef enum {
    PT_EXACT,
    PT_PREFIX,
    PT_SUFFIX,
    PT_REGEX
} pattern_type_t;
typedef enum {
    SRC_ANY,
    SRC_REGISTERED,
    SRC_AUTHENTICATED,
    SRC_ZONE
} source_kind_t;
typedef enum {
    BH_LEAVE,
    BH_STRIP,
    BH_REPLACE
} behaviour_t;

typedef struct {
    json_t *json;    //  the normalized rule
    char *name;
    int priority;
    bool on;
    bool match_all;    //  search rule, mode any_alias
    pattern_type_t type;
    char *pattern;
    size_t pattern_len;
    char *replace;
    regex_t regex;    //  "^(" pattern ")$" when type is PT_REGEX
    bool compiled;
    char *literal;    //  for PT_REGEX: a prefix every match starts with ("" when unknown)
    size_t literal_len;
    //  search rules only
    source_kind_t source;
    char *source_zone;
    bool authenticated;
    behaviour_t behaviour;
    bool stop;
    char *target;
} rule_t;

typedef struct {
    rule_t **items;
    size_t count;
    size_t size;
} rules_t;

struct _cw_dialplan_t {
    rules_t transforms;
    rules_t search_rules;
    cw_dialplan_target_t *targets;    //  room for one group: search_rules.size entries
    size_t targets_size;
};

// ---------------------------------------------------------------------------
//  Rules

static void
s_rule_destroy (rule_t **self_p)
{
    rule_t *self = *self_p;
    if (!self)
        return;
    if (self->compiled)
        regfree (&self->regex);
    json_decref (self->json);
    free (self->name);
    free (self->pattern);
    free (self->replace);
    free (self->literal);
    free (self->source_zone);
    free (self->target);
    free (self);
    *self_p = NULL;
}

static int
s_rule_cmp (const void *a, const void *b)
{
    const rule_t *x = *(rule_t *const *) a;
    const rule_t *y = *(rule_t *const *) b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return strcmp (x->name, y->name);
}

static void
s_rules_clear (rules_t *rules)
{
    for (size_t i = 0; i < rules->count; i++)
        s_rule_destroy (&rules->items [i]);
    rules->count = 0;
}

static void
s_rules_free (rules_t *rules)
{
    s_rules_clear (rules);
    free (rules->items);
    rules->items = NULL;
    rules->size = 0;
}

static ssize_t
s_rules_find (rules_t *rules, const char *name)
{
    for (size_t i = 0; i < rules->count; i++)
        if (strcmp (rules->items [i]->name, name) == 0)
            return (ssize_t) i;
    return -1;
}

static void
s_rules_remove (rules_t *rules, const char *name)
{
    ssize_t at = s_rules_find (rules, name);
    if (at < 0)
        return;
    s_rule_destroy (&rules->items [at]);
    memmove (&rules->items [at], &rules->items [at + 1], (rules->count - (size_t) at - 1) * sizeof (rule_t *));
    rules->count--;
}

//  Takes RULE; keeps the items sorted by priority then name
static int
s_rules_put (rules_t *rules, rule_t *rule)
{
    s_rules_remove (rules, rule->name);
    if (rules->count == rules->size) {
        size_t size = rules->size ? rules->size * 2 : 16;
        rule_t **items = realloc (rules->items, size * sizeof (rule_t *));
        if (!items) {
            s_rule_destroy (&rule);
            return -1;
        }
        rules->items = items;
        rules->size = size;
    }
    size_t at = rules->count;
    while (at > 0 && s_rule_cmp (&rules->items [at - 1], &rule) > 0)
        at--;
    memmove (&rules->items [at + 1], &rules->items [at], (rules->count - at) * sizeof (rule_t *));
    rules->items [at] = rule;
    rules->count++;
    return 0;
}

// ---------------------------------------------------------------------------
//  Checking

static const char *const s_pattern_types [] = { "exact", "prefix", "suffix", "regex", NULL };
static const char *const s_modes [] = { "any_alias", "pattern_match", NULL };
static const char *const s_behaviours [] = { "leave", "strip", "replace", NULL };
static const char *const s_on_matches [] = { "stop", "continue", NULL };
static const char *const s_states [] = { "on", "off", NULL };

static int
s_fail (char *err, size_t errlen, const char *field, const char *allowed)
{
    if (err && errlen)
        snprintf (err, errlen, "%s: %s", field, allowed);
    return -1;
}

static int
s_one_of (const char *value, const char *const *allowed)
{
    for (int i = 0; allowed [i]; i++)
        if (strcmp (value, allowed [i]) == 0)
            return i;
    return -1;
}

static bool
s_valid_name (const char *name, bool spaces)
{
    size_t len = strlen (name);
    if (len == 0 || len > NAME_MAX_LEN)
        return false;
    if (name [0] == ' ' || name [len - 1] == ' ')
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '.' || *c == '_' || *c == '-' || (spaces && *c == ' ')))
            return false;
    return true;
}

//  The string field FIELD of RULE: its value, DEFLT when absent (NULL: required)
static int
s_string (json_t *rule, const char *field, const char *deflt, const char **value, const char *allowed, char *err,
          size_t errlen)
{
    json_t *v = json_object_get (rule, field);
    if (!v || json_is_null (v)) {
        if (!deflt)
            return s_fail (err, errlen, field, allowed);
        *value = deflt;
        return 0;
    }
    if (!json_is_string (v))
        return s_fail (err, errlen, field, allowed);
    *value = json_string_value (v);
    return 0;
}

static int
s_choice (json_t *rule, const char *field, const char *deflt, const char *const *choices, const char **value, char *err,
          size_t errlen)
{
    char allowed [128] = "";
    for (int i = 0; choices [i]; i++) {
        strncat (allowed, i ? (choices [i + 1] ? ", " : " or ") : "one of ", sizeof allowed - strlen (allowed) - 1);
        strncat (allowed, choices [i], sizeof allowed - strlen (allowed) - 1);
    }
    if (s_string (rule, field, deflt, value, allowed, err, errlen))
        return -1;
    if (s_one_of (*value, choices) < 0)
        return s_fail (err, errlen, field, allowed);
    return 0;
}

static int
s_check_fields (json_t *rule, const char *const *fields, const char *what, char *err, size_t errlen)
{
    if (!json_is_object (rule))
        return s_fail (err, errlen, "rule", "a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach (rule, key, v) {
        if (s_one_of (key, fields) < 0) {
            char allowed [64];
            snprintf (allowed, sizeof allowed, "not a field of a %s", what);
            return s_fail (err, errlen, key, allowed);
        }
    }
    return 0;
}

static int
s_check_name (json_t *rule, const char **name, char *err, size_t errlen)
{
    const char *allowed = "1 to 64 characters: letters, digits, '.', '_', '-' and inner spaces";
    if (s_string (rule, "name", NULL, name, allowed, err, errlen))
        return -1;
    if (!s_valid_name (*name, true))
        return s_fail (err, errlen, "name", allowed);
    return 0;
}

static int
s_check_priority (json_t *rule, json_int_t *priority, char *err, size_t errlen)
{
    json_t *v = json_object_get (rule, "priority");
    if (!json_is_integer (v) || json_integer_value (v) < 1 || json_integer_value (v) > 65534)
        return s_fail (err, errlen, "priority", "an integer from 1 to 65534");
    *priority = json_integer_value (v);
    return 0;
}

//  The number of groups a regex PATTERN has, -1 when it does not compile
static int
s_regex_groups (const char *pattern, char *why, size_t whylen)
{
    size_t len = strlen (pattern);
    char *wrapped = malloc (len + 5);
    if (!wrapped)
        return -1;
    snprintf (wrapped, len + 5, "^(%s)$", pattern);
    regex_t re;
    int rc = regcomp (&re, wrapped, REG_EXTENDED);
    free (wrapped);
    if (rc != 0) {
        char msg [96];
        regerror (rc, &re, msg, sizeof msg);
        snprintf (why, whylen, "a POSIX extended regular expression (%s)", msg);
        return -1;
    }
    int groups = (int) re.re_nsub - 1;
    regfree (&re);
    return groups;
}

//  PATTERN and REPLACE (already strings) checked against TYPE
static int
s_check_pattern (pattern_type_t type, const char *pattern, const char *replace, char *err, size_t errlen)
{
    if (strlen (pattern) == 0 || strlen (pattern) >= CW_DIALPLAN_ALIAS_MAX)
        return s_fail (err, errlen, "pattern", "1 to 255 characters");
    if (strlen (replace) >= CW_DIALPLAN_ALIAS_MAX)
        return s_fail (err, errlen, "replace", "at most 255 characters");
    if (type != PT_REGEX)
        return 0;
    char why [160];
    int groups = s_regex_groups (pattern, why, sizeof why);
    if (groups < 0)
        return s_fail (err, errlen, "pattern", why);
    for (const char *c = replace; *c; c++) {
        if (*c == '\\' && c [1] >= '1' && c [1] <= '9') {
            if (c [1] - '0' > groups) {
                char allowed [96];
                snprintf (allowed, sizeof allowed, "\\%c but the pattern has %d group%s", c [1], groups,
                          groups == 1 ? "" : "s");
                return s_fail (err, errlen, "replace", allowed);
            }
            c++;
        }
    }
    return 0;
}

int
cw_dialplan_check_transform (json_t *rule, json_t **normalized, char *err, size_t errlen)
{
    static const char *const fields [] = { "name", "priority", "pattern_type", "pattern", "replace", "state", NULL };
    if (normalized)
        *normalized = NULL;
    if (s_check_fields (rule, fields, "transform", err, errlen))
        return -1;
    const char *name, *type, *pattern, *replace, *state;
    json_int_t priority;
    if (s_check_name (rule, &name, err, errlen) || s_check_priority (rule, &priority, err, errlen)
        || s_choice (rule, "pattern_type", NULL, s_pattern_types, &type, err, errlen)
        || s_string (rule, "pattern", NULL, &pattern, "1 to 255 characters", err, errlen)
        || s_string (rule, "replace", "", &replace, "a string", err, errlen)
        || s_choice (rule, "state", "on", s_states, &state, err, errlen))
        return -1;
    if (s_check_pattern ((pattern_type_t) s_one_of (type, s_pattern_types), pattern, replace, err, errlen))
        return -1;
    if (normalized) {
        *normalized = json_pack ("{s:s, s:I, s:s, s:s, s:s, s:s}", "name", name, "priority", priority, "pattern_type",
                                 type, "pattern", pattern, "replace", replace, "state", state);
        if (!*normalized)
            return s_fail (err, errlen, "rule", "out of memory");
    }
    return 0;
}

int
cw_dialplan_check_search_rule (json_t *rule, json_t **normalized, char *err, size_t errlen)
{
    static const char *const fields [] = { "name",         "priority", "source",    "authenticated", "mode",
                                           "pattern_type", "pattern",  "behaviour", "replace",       "on_match",
                                           "target",       "state",    NULL };
    if (normalized)
        *normalized = NULL;
    if (s_check_fields (rule, fields, "search rule", err, errlen))
        return -1;
    const char *name, *source, *mode, *type, *pattern, *behaviour, *replace, *on_match, *target, *state;
    json_int_t priority;
    const char *source_allowed = "any, registered, authenticated or zone:<NAME>";
    const char *zone_allowed = "local or a zone name (1 to 64 characters: letters, digits, '.', '_', '-')";
    if (s_check_name (rule, &name, err, errlen) || s_check_priority (rule, &priority, err, errlen)
        || s_string (rule, "source", "any", &source, source_allowed, err, errlen))
        return -1;
    if (strncmp (source, "zone:", 5) == 0) {
        if (!s_valid_name (source + 5, false))
            return s_fail (err, errlen, "source", source_allowed);
    }
    else if (strcmp (source, "any") && strcmp (source, "registered") && strcmp (source, "authenticated"))
        return s_fail (err, errlen, "source", source_allowed);
    json_t *auth = json_object_get (rule, "authenticated");
    if (auth && !json_is_boolean (auth) && !json_is_null (auth))
        return s_fail (err, errlen, "authenticated", "true or false");
    bool authenticated = json_is_true (auth);
    if (s_choice (rule, "mode", "any_alias", s_modes, &mode, err, errlen))
        return -1;
    bool pattern_match = strcmp (mode, "pattern_match") == 0;
    if (s_choice (rule, "pattern_type", pattern_match ? NULL : "prefix", s_pattern_types, &type, err, errlen)
        || s_string (rule, "pattern", pattern_match ? NULL : "", &pattern,
                     pattern_match ? "1 to 255 characters (mode pattern_match)" : "a string", err, errlen)
        || s_choice (rule, "behaviour", "leave", s_behaviours, &behaviour, err, errlen)
        || s_string (rule, "replace", "", &replace, "a string", err, errlen)
        || s_choice (rule, "on_match", "stop", s_on_matches, &on_match, err, errlen)
        || s_string (rule, "target", NULL, &target, zone_allowed, err, errlen)
        || s_choice (rule, "state", "on", s_states, &state, err, errlen))
        return -1;
    if (!s_valid_name (target, false))
        return s_fail (err, errlen, "target", zone_allowed);
    pattern_type_t pt = (pattern_type_t) s_one_of (type, s_pattern_types);
    if (pattern_match) {
        if (s_check_pattern (pt, pattern, replace, err, errlen))
            return -1;
        if (strcmp (behaviour, "strip") == 0 && (pt == PT_REGEX || pt == PT_EXACT))
            return s_fail (err, errlen, "behaviour", "leave or replace for pattern_type exact or regex");
    }
    else {
        if (strcmp (behaviour, "leave") != 0)
            return s_fail (err, errlen, "behaviour", "leave for mode any_alias");
        if (*pattern)
            return s_fail (err, errlen, "pattern", "empty with mode any_alias (a pattern needs mode pattern_match)");
        if (strlen (replace) >= CW_DIALPLAN_ALIAS_MAX)
            return s_fail (err, errlen, "replace", "at most 255 characters");
    }
    if (normalized) {
        *normalized = json_pack ("{s:s, s:I, s:s, s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", name,
                                 "priority", priority, "source", source, "authenticated", authenticated, "mode", mode,
                                 "pattern_type", type, "pattern", pattern, "behaviour", behaviour, "replace", replace,
                                 "on_match", on_match, "target", target, "state", state);
        if (!*normalized)
            return s_fail (err, errlen, "rule", "out of memory");
    }
    return 0;
}

// ---------------------------------------------------------------------------
//  Compiling a checked rule

//  The literal text every full match of regex PATTERN starts with
static char *
s_regex_literal (const char *pattern)
{
    if (strchr (pattern, '|'))
        return strdup ("");
    const char *c = pattern;
    if (*c == '^')
        c++;
    size_t len = 0;
    char *literal = malloc (strlen (pattern) + 1);
    if (!literal)
        return NULL;
    while (*c && !strchr ("\\^$.[]()*+?{}", *c))
        literal [len++] = *c++;
    //  a quantifier after the last literal character makes it optional
    if (len > 0 && (*c == '*' || *c == '?' || *c == '{'))
        len--;
    literal [len] = 0;
    return literal;
}

static rule_t *
s_rule_compile (json_t *rule, bool search)
{
    rule_t *self = calloc (1, sizeof (rule_t));
    if (!self)
        return NULL;
    const char *type = json_string_value (json_object_get (rule, "pattern_type"));
    self->json = json_incref (rule);
    self->name = strdup (json_string_value (json_object_get (rule, "name")));
    self->priority = (int) json_integer_value (json_object_get (rule, "priority"));
    self->on = strcmp (json_string_value (json_object_get (rule, "state")), "on") == 0;
    self->type = (pattern_type_t) s_one_of (type, s_pattern_types);
    self->pattern = strdup (json_string_value (json_object_get (rule, "pattern")));
    self->replace = strdup (json_string_value (json_object_get (rule, "replace")));
    if (!self->name || !self->pattern || !self->replace)
        goto fail;
    self->pattern_len = strlen (self->pattern);
    if (search) {
        const char *source = json_string_value (json_object_get (rule, "source"));
        self->match_all = strcmp (json_string_value (json_object_get (rule, "mode")), "any_alias") == 0;
        self->authenticated = json_is_true (json_object_get (rule, "authenticated"));
        self->behaviour = (behaviour_t) s_one_of (json_string_value (json_object_get (rule, "behaviour")),
                                                  s_behaviours);
        self->stop = strcmp (json_string_value (json_object_get (rule, "on_match")), "stop") == 0;
        self->target = strdup (json_string_value (json_object_get (rule, "target")));
        if (!self->target)
            goto fail;
        if (strncmp (source, "zone:", 5) == 0) {
            self->source = SRC_ZONE;
            self->source_zone = strdup (source + 5);
            if (!self->source_zone)
                goto fail;
        }
        else
            self->source = strcmp (source, "registered") == 0    ? SRC_REGISTERED
                         : strcmp (source, "authenticated") == 0 ? SRC_AUTHENTICATED
                                                                 : SRC_ANY;
    }
    if (self->type == PT_REGEX && !self->match_all) {
        size_t len = self->pattern_len + 5;
        char *wrapped = malloc (len);
        if (!wrapped)
            goto fail;
        snprintf (wrapped, len, "^(%s)$", self->pattern);
        int rc = regcomp (&self->regex, wrapped, REG_EXTENDED);
        free (wrapped);
        if (rc != 0)
            goto fail;
        self->compiled = true;
        self->literal = s_regex_literal (self->pattern);
        if (!self->literal)
            goto fail;
        self->literal_len = strlen (self->literal);
    }
    return self;
fail:
    s_rule_destroy (&self);
    return NULL;
}

// ---------------------------------------------------------------------------
//  Matching

//  Appends LEN bytes of S to OUT at *AT (OUTLEN bytes); false when it does not fit
static bool
s_append (char *out, size_t outlen, size_t *at, const char *s, size_t len)
{
    if (*at + len >= outlen)
        return false;
    memcpy (out + *at, s, len);
    *at += len;
    out [*at] = 0;
    return true;
}

//  Does RULE's pattern match ALIAS (LEN bytes)? When it does and OUT is
//  given, OUT gets the alias after BEHAVIOUR (a transform: BH_REPLACE).
static bool
s_match (rule_t *rule, const char *alias, size_t len, behaviour_t behaviour, char *out, size_t outlen)
{
    size_t at = 0;
    if (outlen)
        out [0] = 0;
    if (rule->match_all)
        return s_append (out, outlen, &at, alias, len);
    const char *replace = rule->replace;
    size_t plen = rule->pattern_len;
    switch (rule->type) {
        case PT_EXACT:
            if (len != plen || memcmp (alias, rule->pattern, len) != 0)
                return false;
            if (behaviour == BH_REPLACE)
                return s_append (out, outlen, &at, replace, strlen (replace));
            return s_append (out, outlen, &at, alias, behaviour == BH_LEAVE ? len : 0);
        case PT_PREFIX:
            if (len < plen || memcmp (alias, rule->pattern, plen) != 0)
                return false;
            if (behaviour == BH_LEAVE)
                return s_append (out, outlen, &at, alias, len);
            if (behaviour == BH_REPLACE && !s_append (out, outlen, &at, replace, strlen (replace)))
                return false;
            return s_append (out, outlen, &at, alias + plen, len - plen);
        case PT_SUFFIX:
            if (len < plen || memcmp (alias + len - plen, rule->pattern, plen) != 0)
                return false;
            if (!s_append (out, outlen, &at, alias, behaviour == BH_LEAVE ? len : len - plen))
                return false;
            if (behaviour == BH_REPLACE)
                return s_append (out, outlen, &at, replace, strlen (replace));
            return true;
        case PT_REGEX: {
            if (len < rule->literal_len || memcmp (alias, rule->literal, rule->literal_len) != 0)
                return false;
            regmatch_t m [11];
            if (regexec (&rule->regex, alias, 11, m, 0) != 0)
                return false;
            if (behaviour != BH_REPLACE)
                return s_append (out, outlen, &at, alias, len);
            //  group 1 is the whole pattern; \N is group N + 1
            for (const char *c = replace; *c; c++) {
                if (*c == '\\' && c [1] >= '1' && c [1] <= '9') {
                    int g = c [1] - '0' + 1;
                    if (m [g].rm_so >= 0
                        && !s_append (out, outlen, &at, alias + m [g].rm_so, (size_t) (m [g].rm_eo - m [g].rm_so)))
                        return false;
                    c++;
                }
                else if (*c == '\\' && c [1] == '\\') {
                    if (!s_append (out, outlen, &at, "\\", 1))
                        return false;
                    c++;
                }
                else if (!s_append (out, outlen, &at, c, 1))
                    return false;
            }
            return true;
        }
    }
    return false;
}

// ---------------------------------------------------------------------------
//  The dial plan

cw_dialplan_t *
cw_dialplan_new (void)
{
    return calloc (1, sizeof (cw_dialplan_t));
}

void
cw_dialplan_destroy (cw_dialplan_t **self_p)
{
    cw_dialplan_t *self = *self_p;
    if (!self)
        return;
    s_rules_free (&self->transforms);
    s_rules_free (&self->search_rules);
    free (self->targets);
    free (self);
    *self_p = NULL;
}

static int
s_set (cw_dialplan_t *self, rules_t *rules, const char *name, json_t *value, bool search)
{
    if (!value) {
        s_rules_remove (rules, name);
        return 0;
    }
    json_t *normalized = NULL;
    int rc = search ? cw_dialplan_check_search_rule (value, &normalized, NULL, 0)
                    : cw_dialplan_check_transform (value, &normalized, NULL, 0);
    if (rc != 0)
        return -1;
    if (strcmp (json_string_value (json_object_get (normalized, "name")), name) != 0) {
        json_decref (normalized);
        return -1;
    }
    rule_t *rule = s_rule_compile (normalized, search);
    json_decref (normalized);
    if (!rule || s_rules_put (rules, rule) != 0)
        return -1;
    if (search && self->targets_size < rules->size) {
        cw_dialplan_target_t *targets = realloc (self->targets, rules->size * sizeof (cw_dialplan_target_t));
        if (!targets) {
            s_rules_remove (rules, name);
            return -1;
        }
        self->targets = targets;
        self->targets_size = rules->size;
    }
    return 0;
}

int
cw_dialplan_set_transform (cw_dialplan_t *self, const char *name, json_t *value)
{
    return s_set (self, &self->transforms, name, value, false);
}

int
cw_dialplan_set_search_rule (cw_dialplan_t *self, const char *name, json_t *value)
{
    return s_set (self, &self->search_rules, name, value, true);
}

void
cw_dialplan_clear (cw_dialplan_t *self)
{
    s_rules_clear (&self->transforms);
    s_rules_clear (&self->search_rules);
}

size_t
cw_dialplan_transform_count (cw_dialplan_t *self)
{
    return self->transforms.count;
}

size_t
cw_dialplan_search_rule_count (cw_dialplan_t *self)
{
    return self->search_rules.count;
}

void
cw_dialplan_clear_transforms (cw_dialplan_t *self)
{
    s_rules_clear (&self->transforms);
}

void
cw_dialplan_clear_search_rules (cw_dialplan_t *self)
{
    s_rules_clear (&self->search_rules);
}

bool
cw_dialplan_has_transform (cw_dialplan_t *self, const char *name)
{
    return s_rules_find (&self->transforms, name) >= 0;
}

bool
cw_dialplan_has_search_rule (cw_dialplan_t *self, const char *name)
{
    return s_rules_find (&self->search_rules, name) >= 0;
}

static json_t *
s_rules_json (rules_t *rules)
{
    json_t *list = json_array ();
    for (size_t i = 0; list && i < rules->count; i++)
        json_array_append_new (list, json_deep_copy (rules->items [i]->json));
    return list;
}

json_t *
cw_dialplan_transforms (cw_dialplan_t *self)
{
    return s_rules_json (&self->transforms);
}

json_t *
cw_dialplan_search_rules (cw_dialplan_t *self)
{
    return s_rules_json (&self->search_rules);
}

static void
s_copy (char *out, size_t outlen, const char *s)
{
    if (outlen)
        snprintf (out, outlen, "%s", s);
}

//  One step of a walk into STEPS: {"step", "name", ("priority",) "matched",
//  "alias", ("target")}, built without format parsing (a walk may look at
//  1,100 rules)
static void
s_step (json_t *steps, const char *step, rule_t *rule, bool matched, const char *alias)
{
    json_t *entry = json_object ();
    if (!entry)
        return;
    json_object_set_new_nocheck (entry, "step", json_string_nocheck (step));
    json_object_set_new_nocheck (entry, "name", json_string_nocheck (rule->name));
    if (rule->target)
        json_object_set_new_nocheck (entry, "priority", json_integer (rule->priority));
    json_object_set_new_nocheck (entry, "matched", json_boolean (matched));
    json_object_set_new_nocheck (entry, "alias", json_string (alias));
    if (rule->target)
        json_object_set_new_nocheck (entry, "target", json_string_nocheck (rule->target));
    json_array_append_new (steps, entry);
}

void
cw_dialplan_transform (cw_dialplan_t *self, const char *alias, char *out, size_t outlen, char *name, size_t namelen,
                       json_t *steps)
{
    s_copy (name, namelen, "");
    size_t len = strlen (alias);
    char result [CW_DIALPLAN_ALIAS_MAX];
    for (size_t i = 0; i < self->transforms.count; i++) {
        rule_t *rule = self->transforms.items [i];
        if (!rule->on)
            continue;
        bool matched = s_match (rule, alias, len, BH_REPLACE, result, sizeof result);
        if (steps)
            s_step (steps, "transform", rule, matched, matched ? result : alias);
        if (matched) {
            s_copy (out, outlen, result);
            s_copy (name, namelen, rule->name);
            return;
        }
    }
    s_copy (out, outlen, alias);
}

static bool
s_source_matches (rule_t *rule, const cw_dialplan_source_t *source)
{
    if (rule->authenticated && !source->authenticated)
        return false;
    switch (rule->source) {
        case SRC_ANY:
            return true;
        case SRC_REGISTERED:
            return source->registered;
        case SRC_AUTHENTICATED:
            return source->authenticated;
        case SRC_ZONE:
            return source->zone && strcmp (source->zone, rule->source_zone) == 0;
    }
    return false;
}

int
cw_dialplan_search (cw_dialplan_t *self, const char *alias, const cw_dialplan_source_t *source,
                    cw_dialplan_group_fn *fn, void *arg, json_t *steps, char *last_rule, size_t lastlen)
{
    static const cw_dialplan_source_t nobody = { "", false, false };
    if (!source)
        source = &nobody;
    s_copy (last_rule, lastlen, "");
    size_t len = strlen (alias);
    int matched_rules = 0;
    rules_t *rules = &self->search_rules;
    size_t i = 0;
    while (i < rules->count) {
        int priority = rules->items [i]->priority;
        size_t count = 0;
        bool stop = false;
        for (; i < rules->count && rules->items [i]->priority == priority; i++) {
            rule_t *rule = rules->items [i];
            if (!rule->on)
                continue;
            cw_dialplan_target_t *target = &self->targets [count];
            bool matched = s_source_matches (rule, source)
                        && s_match (rule, alias, len, rule->behaviour, target->alias, sizeof target->alias);
            if (steps)
                s_step (steps, "rule", rule, matched, matched ? target->alias : alias);
            if (!matched)
                continue;
            target->rule = rule->name;
            target->target = rule->target;
            target->stop = rule->stop;
            stop = stop || rule->stop;
            s_copy (last_rule, lastlen, rule->name);
            matched_rules++;
            count++;
        }
        if (count > 0 && fn && fn (self->targets, count, arg))
            break;
        if (stop)
            break;
    }
    return matched_rules;
}

static bool
s_collect (const cw_dialplan_target_t *targets, size_t count, void *arg)
{
    json_t *plan = (json_t *) arg;
    json_t *group = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (group,
                               json_pack ("{s:s, s:s, s:s, s:b}", "rule", targets [i].rule, "target",
                                          targets [i].target, "alias", targets [i].alias, "stop", targets [i].stop));
    json_array_append_new (plan, group);
    return false;
}

json_t *
cw_dialplan_plan (cw_dialplan_t *self, const char *alias, const cw_dialplan_source_t *source, json_t *steps)
{
    json_t *plan = json_array ();
    if (plan)
        cw_dialplan_search (self, alias, source, s_collect, plan, steps, NULL, 0);
    return plan;
}
