/*  policy.c - the registration restriction policy (see policy.h).

    Each list is an array of compiled rules; a regular expression is
    compiled once when the list is set (wrapped as ^(...)$ so it must match
    the whole alias), the other kinds keep their text and where the '*'s
    were.
*/
#include "policy.h"

#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum {
    S_EXACT,
    S_PREFIX,
    S_SUFFIX,
    S_CONTAINS,
    S_ANY,
    S_REGEX,
    S_BROKEN
} s_kind_t;

typedef struct {
    s_kind_t kind;
    char pattern [CW_POLICY_PATTERN_MAX + 1];    //  as written
    char text [CW_POLICY_PATTERN_MAX + 1];       //  without the '*'s or "re:"
    regex_t regex;
} s_rule_t;

typedef struct {
    s_rule_t *rules;
    size_t count;
} s_list_t;

struct _cw_policy_t {
    s_list_t allow;
    s_list_t deny;
};

static void
s_list_clear (s_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        if (list->rules [i].kind == S_REGEX)
            regfree (&list->rules [i].regex);
    free (list->rules);
    list->rules = NULL;
    list->count = 0;
}

//  Compile PATTERN into RULE; false with ERR when it is not valid (RULE is
//  then S_BROKEN).
static bool
s_compile (s_rule_t *rule, const char *pattern, char *err, size_t errlen)
{
    memset (rule, 0, sizeof *rule);
    rule->kind = S_BROKEN;
    size_t len = strlen (pattern);
    if (len == 0 || len > CW_POLICY_PATTERN_MAX) {
        snprintf (err, errlen, "a pattern must have 1..%d characters", CW_POLICY_PATTERN_MAX);
        return false;
    }
    memcpy (rule->pattern, pattern, len + 1);
    if (strncasecmp (pattern, "re:", 3) == 0) {
        char wrapped [CW_POLICY_PATTERN_MAX + 8];
        snprintf (wrapped, sizeof wrapped, "^(%s)$", pattern + 3);
        int rc = regcomp (&rule->regex, wrapped, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (rc) {
            char why [128];
            regerror (rc, &rule->regex, why, sizeof why);
            snprintf (err, errlen, "'%s' is not a valid regular expression: %s", pattern, why);
            return false;
        }
        rule->kind = S_REGEX;
        return true;
    }
    bool leading = pattern [0] == '*', trailing = len > 1 && pattern [len - 1] == '*';
    if (strcmp (pattern, "*") == 0) {
        rule->kind = S_ANY;
        return true;
    }
    size_t from = leading ? 1 : 0, to = trailing ? len - 1 : len;
    memcpy (rule->text, pattern + from, to - from);
    rule->text [to - from] = 0;
    if (strchr (rule->text, '*')) {
        snprintf (err, errlen, "'%s': '*' may only begin or end a pattern (or use re:)", pattern);
        return false;
    }
    rule->kind = leading && trailing ? S_CONTAINS : leading ? S_SUFFIX : trailing ? S_PREFIX : S_EXACT;
    return true;
}

static bool
s_contains (const char *haystack, const char *needle)
{
    size_t n = strlen (needle);
    for (const char *p = haystack; *p; p++)
        if (strncasecmp (p, needle, n) == 0)
            return true;
    return n == 0;
}

static bool
s_matches (const s_rule_t *rule, const char *alias)
{
    size_t alen = strlen (alias), tlen = strlen (rule->text);
    switch (rule->kind) {
        case S_EXACT:
            return strcasecmp (alias, rule->text) == 0;
        case S_PREFIX:
            return alen >= tlen && strncasecmp (alias, rule->text, tlen) == 0;
        case S_SUFFIX:
            return alen >= tlen && strcasecmp (alias + alen - tlen, rule->text) == 0;
        case S_CONTAINS:
            return s_contains (alias, rule->text);
        case S_ANY:
            return true;
        case S_REGEX:
            return regexec (&rule->regex, alias, 0, NULL, 0) == 0;
        case S_BROKEN:
            break;
    }
    return false;
}

cw_policy_t *
cw_policy_new (void)
{
    return calloc (1, sizeof (cw_policy_t));
}

void
cw_policy_destroy (cw_policy_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_list_clear (&(*self_p)->allow);
    s_list_clear (&(*self_p)->deny);
    free (*self_p);
    *self_p = NULL;
}

int
cw_policy_set (cw_policy_t *self, bool allow, json_t *patterns, char *err, size_t errlen)
{
    s_list_t *list = allow ? &self->allow : &self->deny;
    s_list_clear (list);
    if (err && errlen)
        err [0] = 0;
    size_t count = json_is_array (patterns) ? json_array_size (patterns) : 0;
    if (count == 0)
        return 0;
    list->rules = calloc (count, sizeof (s_rule_t));
    if (!list->rules) {
        snprintf (err, errlen, "out of memory");
        return (int) count;
    }
    int broken = 0;
    for (size_t i = 0; i < count; i++) {
        const char *pattern = json_string_value (json_array_get (patterns, i));
        char why [256];
        if (!s_compile (&list->rules [i], pattern ? pattern : "", why, sizeof why)) {
            if (broken++ == 0 && err && errlen)
                snprintf (err, errlen, "sip.registration.%s: %s", allow ? "allow" : "deny", why);
        }
        list->count++;
    }
    return broken;
}

bool
cw_policy_check (cw_policy_t *self, const char *aor, char *reason, size_t reasonlen)
{
    char alias [512], none [1];
    cw_policy_alias (aor, alias, sizeof alias);
    if (!reason || reasonlen == 0) {
        reason = none;
        reasonlen = sizeof none;
    }
    for (size_t i = 0; i < self->deny.count; i++) {
        const s_rule_t *rule = &self->deny.rules [i];
        if (rule->kind == S_BROKEN) {
            snprintf (reason, reasonlen, "sip.registration.deny holds the invalid pattern '%s': nothing may register",
                      rule->pattern);
            return false;
        }
        if (s_matches (rule, alias)) {
            snprintf (reason, reasonlen, "denied by '%s' of sip.registration.deny", rule->pattern);
            return false;
        }
    }
    if (self->allow.count == 0) {
        snprintf (reason, reasonlen, "allowed: no deny pattern matches and sip.registration.allow is empty");
        return true;
    }
    for (size_t i = 0; i < self->allow.count; i++)
        if (s_matches (&self->allow.rules [i], alias)) {
            snprintf (reason, reasonlen, "allowed by '%s' of sip.registration.allow", self->allow.rules [i].pattern);
            return true;
        }
    snprintf (reason, reasonlen, "'%s' matches no pattern of sip.registration.allow", alias);
    return false;
}

bool
cw_policy_pattern_valid (const char *pattern, char *err, size_t errlen)
{
    s_rule_t rule;
    char why [256];
    bool ok = s_compile (&rule, pattern ? pattern : "", why, sizeof why);
    if (rule.kind == S_REGEX)
        regfree (&rule.regex);
    if (!ok && err && errlen)
        snprintf (err, errlen, "%s", why);
    return ok;
}

char *
cw_policy_alias (const char *aor, char *buf, size_t size)
{
    if (!size)
        return buf;
    const char *p = aor ? aor : "";
    if (strncasecmp (p, "sip:", 4) == 0)
        p += 4;
    else if (strncasecmp (p, "sips:", 5) == 0)
        p += 5;
    size_t len = strcspn (p, ";?>");
    if (len >= size)
        len = size - 1;
    memcpy (buf, p, len);
    buf [len] = 0;
    return buf;
}
