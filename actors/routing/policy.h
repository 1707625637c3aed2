/*  policy.h - the registration restriction policy: which aliases may
    register, by two lists of patterns (cluster keys
    sip.registration.allow and sip.registration.deny).

    An alias is an AOR without its scheme, parameters and headers
    ("sip:Alice@Example.com;transport=tcp" -> "Alice@Example.com"). A
    pattern is one of
        alice@example.com       exact
        alice*                  prefix (a trailing '*')
        *@example.com           suffix (a leading '*')
        *@example*              both: the text between occurs anywhere
        *                       every alias
        re:REGEX                a POSIX extended regular expression that
                                must match the whole alias
    all compared without regard to case. Deny wins over allow: an alias
    matched by a deny pattern is refused; otherwise it may register when
    the allow list is empty or one of its patterns matches.

    A pattern that is not valid (a regular expression that does not
    compile) cannot be stored through the configuration registry; if one
    reaches this module anyway it fails closed: a broken deny pattern
    refuses everything, a broken allow pattern matches nothing.
*/
#ifndef CW_POLICY_H
#define CW_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CW_POLICY_PATTERN_MAX 255

typedef struct _cw_policy_t cw_policy_t;

//  A policy that allows everything. Owned.
cw_policy_t *cw_policy_new (void);
void cw_policy_destroy (cw_policy_t **self_p);

//  Replace the allow list (ALLOW true) or the deny list by PATTERNS (a
//  JSON array of strings, borrowed; NULL or not an array = empty).
//  Returns how many patterns are broken (0 normally), the first one's
//  reason in ERR.
int cw_policy_set (cw_policy_t *self, bool allow, json_t *patterns, char *err, size_t errlen);

//  True when the alias of AOR may register. REASON (may be NULL) says
//  which rule decided, e.g. "denied by 'bob*' of sip.registration.deny".
bool cw_policy_check (cw_policy_t *self, const char *aor, char *reason, size_t reasonlen);

//  True when PATTERN is a valid pattern; else false with the reason in ERR.
bool cw_policy_pattern_valid (const char *pattern, char *err, size_t errlen);

//  The alias of AOR into BUF (see above). Returns BUF.
char *cw_policy_alias (const char *aor, char *buf, size_t size);

#endif
