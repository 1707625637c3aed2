/*  registry.c - THE registry of runtime configuration keys, and the checks
    that turn a value from outside into its stored form.

    The table s_keys is the only place a key is declared. One line per key,
    written with the CW_K_* macros below (one per kind of value). The
    README's key table is generated from the same facts (name, scope,
    allowed values, default).

    Normalisation (cw_registry_normalize) accepts the forms a person or a
    program naturally sends -- JSON true/false or "on"/"off" for booleans,
    a JSON number or a numeric string for integers, a JSON array or a
    comma-separated string for lists (the CLI sends "a,b"; "" is the empty
    list) -- and returns exactly one stored form, so readers of the store
    never have to guess.
*/
#include "registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The registry. One line per key.

#define CW_K_BOOL(name, scope, dflt, desc)                                                                             \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_BOOL, 0, 0, 0, NULL, CW_DEFAULT_LITERAL, "\"" dflt "\"", desc, false           \
    }
#define CW_K_INT(name, scope, lo, hi, dflt, desc)                                                                      \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_INT, 0, lo, hi, NULL, CW_DEFAULT_LITERAL, #dflt, desc, false                   \
    }
#define CW_K_ENUM(name, scope, choices, dflt, desc)                                                                    \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_ENUM, 0, 0, 0, choices, CW_DEFAULT_LITERAL, "\"" dflt "\"", desc, false        \
    }
#define CW_K_TEXT(name, scope, type, lo, hi, dflt, desc)                                                               \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_##type, 0, lo, hi, NULL, CW_DEFAULT_LITERAL, "\"" dflt "\"", desc, false       \
    }
#define CW_K_SECRET(name, scope, lo, hi, desc)                                                                         \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_STRING, 0, lo, hi, NULL, CW_DEFAULT_LITERAL, "\"\"", desc, true                \
    }
#define CW_K_LIST(name, scope, type, items, desc)                                                                      \
    {                                                                                                                  \
        name, CW_SCOPE_##scope, CW_TYPE_##type, items, 0, 0, NULL, CW_DEFAULT_LITERAL, "[]", desc, false               \
    }

static const cw_config_key_t s_keys [] = {
    //  peer scope: set on each peer, never replicated
    { "system.name", CW_SCOPE_PEER, CW_TYPE_STRING, 0, 1, 63, NULL, CW_DEFAULT_NODE_NAME, NULL,
      "the name of this system; the peer of its alarms (default: the bootstrap node.name)", false },
    CW_K_TEXT ("dns.hostname", PEER, HOSTNAME, 0, 63, "", "host name of this peer (one DNS label)"),
    CW_K_TEXT ("dns.domain", PEER, FQDN, 0, 253, "", "DNS domain of this peer"),
    CW_K_LIST ("dns.servers", PEER, IP, 5, "DNS servers this peer asks"),
    CW_K_LIST ("ntp.servers", PEER, HOST, 5, "NTP servers this peer synchronises with"),
    CW_K_BOOL ("maintenance.mode", PEER, "off", "take no new calls or registrations; let existing ones drain"),
    //  cluster scope: written on the primary, the same on every peer
    CW_K_BOOL ("h323.mode", CLUSTER, "on", "H.323 signalling (must be on in a cluster)"),
    CW_K_INT ("h323.ttl_s", CLUSTER, 60, 65534, 1800, "H.323 registration time to live, seconds"),
    CW_K_BOOL ("sip.mode", CLUSTER, "on", "SIP signalling"),
    CW_K_LIST ("sip.domains", CLUSTER, FQDN, 32,
               "SIP domains the registrar serves (empty: the peer's dns.domain; neither set: every domain)"),
    CW_K_INT ("sip.registration.min_expires", CLUSTER, 10, 86400, 60,
              "shortest registration accepted, seconds (shorter: 423 Interval Too Brief)"),
    CW_K_INT ("sip.registration.max_expires", CLUSTER, 60, 604800, 3600,
              "longest registration granted, seconds (longer requests are cut to it)"),
    CW_K_INT ("sip.registration.default_expires", CLUSTER, 60, 604800, 3600,
              "registration time granted when the REGISTER names none, seconds"),
    { "sip.registration.room_system_agents", CW_SCOPE_CLUSTER, CW_TYPE_STRING, 32, 1, 128, NULL, CW_DEFAULT_LITERAL,
      "[]", "User-Agent glob patterns of room systems (they take room_systems licenses; others desktop_systems)",
      false },
    CW_K_BOOL ("call_routing.signaling_optimization", CLUSTER, "off",
               "drop out of the signalling path of calls that need no interworking"),
    CW_K_INT ("call_routing.ringing_timeout_s", CLUSTER, 5, 600, 120,
              "a call with no final answer within this many seconds is cancelled and answered 408"),
    CW_K_INT ("call_routing.dialog_timeout_s", CLUSTER, 60, 604800, 14400,
              "a call with no in-dialog request for this many seconds ends (its license goes back)"),
    CW_K_INT ("call_routing.calls_per_peer", CLUSTER, 1, 100000, 500,
              "calls one peer handles at once (the capacity figure of routing.status)"),
    CW_K_BOOL ("cluster.address_mapping.enabled", CLUSTER, "off", "consult the cluster address mapping before DNS"),
    CW_K_LIST ("cluster.address_mapping", CLUSTER, MAPPING, 12,
               "FQDN=IP pairs, one per peer, consulted before DNS when enabled"),
    CW_K_TEXT ("sip.auth.realm", CLUSTER, STRING, 0, 127, "",
               "digest realm of SIP authentication (\"\" = the first of sip.domains, else causeway)"),
    CW_K_BOOL ("sip.auth.required", CLUSTER, "off", "REGISTER must carry digest credentials of a known user"),
    CW_K_ENUM ("sip.auth.algorithms", CLUSTER, "both|md5|sha256", "both",
               "digest challenges: both (SHA-256 first, then MD5), md5 or sha256 alone"),
    { "sip.registration.allow", CW_SCOPE_CLUSTER, CW_TYPE_STRING, 100, 1, 255, NULL, CW_DEFAULT_LITERAL, "[]",
      "alias patterns that may register (empty: every alias not denied)", false },
    { "sip.registration.deny", CW_SCOPE_CLUSTER, CW_TYPE_STRING, 100, 1, 255, NULL, CW_DEFAULT_LITERAL, "[]",
      "alias patterns that may not register (wins over allow)", false },
    CW_K_INT ("webadmin.session_idle_s", CLUSTER, 60, 86400, 1800,
              "a web admin session ends after this many seconds without a request"),
    CW_K_INT ("webadmin.lockout_failures", CLUSTER, 2, 100, 5,
              "failed logins for one account, or from one address, that lock it"),
    CW_K_INT ("webadmin.lockout_s", CLUSTER, 10, 86400, 900,
              "the window in which failed logins are counted, and how long a lock lasts (seconds)"),
    //  the external manager (tms actor): cluster scope, except the CA file of each peer
    CW_K_TEXT ("tms.address", CLUSTER, STRING, 0, 255, "",
               "external manager: host name or IP address, optional :port (\"\" = no manager)"),
    CW_K_TEXT ("tms.path", CLUSTER, STRING, 1, 255, "tms/public/external/management/SystemManagementService.asmx",
               "external manager: the path of its management service"),
    CW_K_ENUM ("tms.protocol", CLUSTER, "https|http", "https", "external manager: the protocol spoken to it"),
    CW_K_BOOL ("tms.verify_certificate", CLUSTER, "on",
               "external manager: verify its certificate (against tms.ca_file, else the system CAs)"),
    CW_K_INT ("tms.heartbeat_s", CLUSTER, 1, 3600, 30,
              "external manager: seconds between heartbeats, and the longest retry backoff"),
    CW_K_TEXT ("tms.ca_file", PEER, STRING, 0, 1024, "",
               "external manager: this peer's CA bundle (PEM path) for tms.verify_certificate (\"\" = system CAs)"),
    //  clustering settings: peer scope (set on each peer, the same on all),
    //  taking effect at `causeway restart`
    CW_K_TEXT ("cluster.name", PEER, FQDN, 0, 253, "", "cluster name: the FQDN of the cluster's SRV records"),
    CW_K_INT ("cluster.primary", PEER, 1, 6, 1, "index (1..6) of the configuration primary in cluster.peers"),
    CW_K_ENUM ("cluster.ip_version", PEER, "4|6", "4", "IP version the peers cluster over"),
    CW_K_ENUM ("cluster.tls_verify", PEER, "permissive|enforce", "permissive",
               "peer certificates: permissive (encrypt only) or enforce (verify CA, SAN, address)"),
    CW_K_LIST ("cluster.peers", PEER, HOST, 6, "Peer 1..6 addresses, in order, the same on every peer"),
    //  SNMP (the tms actor's AgentX sub-agent): what the manager reads is
    //  the same on every peer, the master agent's socket is this host's
    CW_K_ENUM ("snmp.mode", CLUSTER, "off|v2c|v3", "off",
               "SNMP: off, or CAUSEWAY-MIB served through the host's snmpd to v2c or v3 managers"),
    CW_K_SECRET ("snmp.community", CLUSTER, 0, 64,
                 "the v2c community written for snmpd (<runtime_dir>/snmpd.conf); \"\" = none (secret: shown masked)"),
    CW_K_TEXT ("snmp.agentx_socket", PEER, STRING, 1, 200, "/var/agentx/master",
               "the AgentX socket of the host's snmpd (taken at the tms actor's start)"),
};

#define S_KEY_COUNT (sizeof (s_keys) / sizeof (s_keys [0]))

const cw_config_key_t *
cw_registry_keys (size_t *count)
{
    if (count)
        *count = S_KEY_COUNT;
    return s_keys;
}

const cw_config_key_t *
cw_registry_lookup (const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < S_KEY_COUNT; i++)
        if (strcmp (s_keys [i].name, name) == 0)
            return &s_keys [i];
    return NULL;
}

static int
s_compare_keys (const void *a, const void *b)
{
    const cw_config_key_t *ka = *(const cw_config_key_t *const *) a;
    const cw_config_key_t *kb = *(const cw_config_key_t *const *) b;
    return strcmp (ka->name, kb->name);
}

const cw_config_key_t *const *
cw_registry_sorted (size_t *count)
{
    //  Built on first use; the registry is constant, so the result is too.
    static const cw_config_key_t *sorted [S_KEY_COUNT];
    static bool built = false;
    if (!built) {
        for (size_t i = 0; i < S_KEY_COUNT; i++)
            sorted [i] = &s_keys [i];
        qsort (sorted, S_KEY_COUNT, sizeof (sorted [0]), s_compare_keys);
        built = true;
    }
    if (count)
        *count = S_KEY_COUNT;
    return sorted;
}

const char *
cw_scope_name (cw_scope_t scope)
{
    return scope == CW_SCOPE_CLUSTER ? "cluster" : "peer";
}

const char *
cw_vtype_name (cw_vtype_t type)
{
    switch (type) {
        case CW_TYPE_BOOL:
            return "boolean";
        case CW_TYPE_ENUM:
            return "enum";
        case CW_TYPE_INT:
            return "integer";
        case CW_TYPE_STRING:
            return "string";
        case CW_TYPE_HOSTNAME:
            return "hostname";
        case CW_TYPE_FQDN:
            return "fqdn";
        case CW_TYPE_IP:
            return "ip";
        case CW_TYPE_HOST:
            return "host";
        case CW_TYPE_MAPPING:
            return "mapping";
    }
    return "?";
}

//  ---------------------------------------------------------------------
//  Unknown keys: suggest close ones.

static size_t
s_distance (const char *a, const char *b)
{
    //  Levenshtein distance, two rows; names are short.
    size_t la = strlen (a), lb = strlen (b);
    if (la > 128 || lb > 128)
        return 1000;
    size_t prev [129], cur [129];
    for (size_t j = 0; j <= lb; j++)
        prev [j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur [0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = tolower ((unsigned char) a [i - 1]) == tolower ((unsigned char) b [j - 1]) ? 0 : 1;
            size_t best = prev [j] + 1;
            if (cur [j - 1] + 1 < best)
                best = cur [j - 1] + 1;
            if (prev [j - 1] + cost < best)
                best = prev [j - 1] + cost;
            cur [j] = best;
        }
        memcpy (prev, cur, (lb + 1) * sizeof (size_t));
    }
    return prev [lb];
}

static bool
s_is_close (const char *name, const char *key)
{
    size_t nlen = strlen (name);
    if (nlen == 0)
        return false;
    //  "dns" or "dns." -> every dns.* key
    if (strncmp (key, name, nlen) == 0 && (key [nlen] == '.' || name [nlen - 1] == '.'))
        return true;
    //  same last part: "ttl_s" -> "h323.ttl_s"
    const char *last = strrchr (key, '.');
    if (last && strcmp (last + 1, name) == 0)
        return true;
    size_t limit = nlen / 4 < 2 ? 2 : nlen / 4;
    return s_distance (name, key) <= limit;
}

void
cw_registry_unknown_message (const char *name, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    if (!name)
        name = "";
    int n = snprintf (buf, len, "unknown key '%.100s'", name);
    if (n < 0 || (size_t) n >= len)
        return;
    size_t used = (size_t) n;
    int found = 0;
    size_t count;
    const cw_config_key_t *const *sorted = cw_registry_sorted (&count);
    for (size_t i = 0; i < count && found < 5; i++) {
        if (!s_is_close (name, sorted [i]->name))
            continue;
        n = snprintf (buf + used, len - used, "%s'%s'", found ? ", " : "; did you mean ", sorted [i]->name);
        if (n < 0 || (size_t) n >= len - used)
            return;
        used += (size_t) n;
        found++;
    }
    if (found)
        snprintf (buf + used, len - used, "?");
}

//  ---------------------------------------------------------------------
//  What a key allows, as text.

static const char *
s_noun (cw_vtype_t type, bool plural)
{
    switch (type) {
        case CW_TYPE_HOSTNAME:
            return plural ? "host names" : "a host name (one DNS label: letters, digits, '-')";
        case CW_TYPE_FQDN:
            return plural ? "domain names" : "a fully qualified domain name (e.g. example.com)";
        case CW_TYPE_IP:
            return plural ? "IP addresses (v4 or v6)" : "an IP address (v4 or v6)";
        case CW_TYPE_HOST:
            return plural ? "IP addresses or domain names" : "an IP address or a fully qualified domain name";
        case CW_TYPE_STRING:
            return plural ? "texts" : "printable text";
        case CW_TYPE_MAPPING:
            return plural ? "FQDN=IP pairs" : "an FQDN=IP pair (e.g. peer1.example.com=10.0.0.1)";
        default:
            return plural ? "values" : "a value";
    }
}

static void
s_allowed_item (const cw_config_key_t *key, char *buf, size_t len)
{
    switch (key->type) {
        case CW_TYPE_BOOL:
            snprintf (buf, len, "on, off");
            break;
        case CW_TYPE_ENUM: {
            //  "a|b|c" -> "a, b, c"
            size_t used = 0;
            buf [0] = 0;
            for (const char *p = key->choices ? key->choices : ""; *p && used + 3 < len; p++) {
                if (*p == '|') {
                    buf [used++] = ',';
                    buf [used++] = ' ';
                }
                else
                    buf [used++] = *p;
            }
            buf [used] = 0;
            break;
        }
        case CW_TYPE_INT:
            snprintf (buf, len, "integer %lld..%lld", key->min, key->max);
            break;
        case CW_TYPE_STRING:
            snprintf (buf, len, "printable text of %lld..%lld characters", key->min, key->max);
            break;
        default:
            snprintf (buf, len, "%s%s", s_noun (key->type, false),
                      key->min == 0 && key->type != CW_TYPE_IP && key->type != CW_TYPE_HOST ? ", or \"\" for none"
                                                                                            : "");
            break;
    }
}

void
cw_registry_allowed (const cw_config_key_t *key, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    if (!key) {
        buf [0] = 0;
        return;
    }
    if (key->max_items > 0)
        snprintf (buf, len, "list of at most %d %s, comma-separated (\"\" for none)", key->max_items,
                  s_noun (key->type, true));
    else
        s_allowed_item (key, buf, len);
}

//  ---------------------------------------------------------------------
//  Item checks

bool
cw_valid_hostname_label (const char *text)
{
    if (!text)
        return false;
    size_t len = strlen (text);
    if (len < 1 || len > 63 || text [0] == '-' || text [len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) text [i]) && text [i] != '-')
            return false;
    return true;
}

bool
cw_valid_fqdn (const char *text)
{
    if (!text)
        return false;
    size_t len = strlen (text);
    if (len > 0 && text [len - 1] == '.')
        len--;    //  a trailing root dot is allowed
    if (len < 3 || len > 253)
        return false;
    char copy [256];
    memcpy (copy, text, len);
    copy [len] = 0;
    int labels = 0;
    char *last = NULL;
    //  (strtok would merge "a..b", so walk by hand)
    char *start = copy;
    for (;;) {
        char *dot = strchr (start, '.');
        if (dot)
            *dot = 0;
        if (!cw_valid_hostname_label (start))
            return false;
        labels++;
        last = start;
        if (!dot)
            break;
        start = dot + 1;
    }
    if (labels < 2)
        return false;
    //  The top-level label is never all digits (so 10.0.0.999 is no name).
    bool digits = true;
    for (const char *p = last; *p; p++)
        if (!isdigit ((unsigned char) *p))
            digits = false;
    return !digits;
}

bool
cw_valid_ip (const char *text, char *canon)
{
    if (!text || strlen (text) >= INET6_ADDRSTRLEN)
        return false;
    unsigned char addr [sizeof (struct in6_addr)];
    int family = AF_INET;
    if (inet_pton (AF_INET, text, addr) != 1) {
        family = AF_INET6;
        if (inet_pton (AF_INET6, text, addr) != 1)
            return false;
    }
    if (canon && !inet_ntop (family, addr, canon, INET6_ADDRSTRLEN))
        return false;
    return true;
}

//  ---------------------------------------------------------------------
//  Normalisation

//  VALUE as it appears in a message: 'text' for strings, JSON otherwise.
static void
s_repr (json_t *value, char *buf, size_t len)
{
    if (json_is_string (value))
        snprintf (buf, len, "'%.80s%s'", json_string_value (value), json_string_length (value) > 80 ? "..." : "");
    else {
        char *text = value ? json_dumps (value, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        snprintf (buf, len, "%.80s%s", text ? text : "null", text && strlen (text) > 80 ? "..." : "");
        free (text);
    }
}

static void
s_reject (const cw_config_key_t *key, json_t *value, const char *why, char *err, size_t errlen)
{
    char repr [128], allowed [256];
    if (key->secret)
        snprintf (repr, sizeof repr, "the value");
    else
        s_repr (value, repr, sizeof (repr));
    cw_registry_allowed (key, allowed, sizeof (allowed));
    if (err && errlen)
        snprintf (err, errlen, "%s: %s %s; allowed: %s", key->name, repr, why, allowed);
}

//  Copy TEXT without leading/trailing blanks into BUF; false if too long.
//  TEXT may lie inside BUF (the mapping trims its IP part in place).
static bool
s_trim (const char *text, char *buf, size_t len)
{
    while (isspace ((unsigned char) *text))
        text++;
    size_t n = strlen (text);
    while (n > 0 && isspace ((unsigned char) text [n - 1]))
        n--;
    if (n >= len)
        return false;
    memmove (buf, text, n);
    buf [n] = 0;
    return true;
}

//  Number of UTF-8 characters in TEXT, or -1 when it holds a control
//  character (jansson has already checked that it is valid UTF-8).
static long
s_printable_length (const char *text)
{
    long count = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        if ((*p & 0xC0) != 0x80)
            count++;
    }
    return count;
}

//  The checks of the string keys whose text has a syntax of its own: the
//  digest realm is written inside a quoted string (no '"', no '\\', ASCII);
//  a registration pattern (trimmed) is exact, '*' at its start and/or end,
//  or re:REGEX that regcomp takes (as actors/routing/policy.c reads it).
static json_t *
s_special_string (const cw_config_key_t *key, json_t *item, char *err, size_t errlen)
{
    const char *raw = json_string_value (item);
    if (strcmp (key->name, "sip.auth.realm") == 0) {
        for (const char *p = raw; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char) *p > 0x7e) {
                s_reject (key, item, "is not allowed (no '\"', no '\\', ASCII only)", err, errlen);
                return NULL;
            }
    }
    else if (strcmp (key->name, "sip.registration.allow") == 0 || strcmp (key->name, "sip.registration.deny") == 0) {
        char text [512];
        if (!s_trim (raw, text, sizeof (text)) || !text [0]) {
            s_reject (key, item, "is not allowed (empty)", err, errlen);
            return NULL;
        }
        if (strncasecmp (text, "re:", 3) == 0) {
            char wrapped [sizeof (text) + 8];
            snprintf (wrapped, sizeof (wrapped), "^(%s)$", text + 3);
            regex_t regex;
            int rc = regcomp (&regex, wrapped, REG_EXTENDED | REG_ICASE | REG_NOSUB);
            if (rc) {
                char why [160], message [200];
                regerror (rc, &regex, why, sizeof (why));
                snprintf (message, sizeof (message), "is not a valid regular expression (%s)", why);
                s_reject (key, item, message, err, errlen);
                return NULL;
            }
            regfree (&regex);
        }
        else {
            size_t n = strlen (text);
            const char *star = strchr (text + 1, '*');
            if (star && star != text + n - 1) {
                s_reject (key, item, "is not allowed ('*' only at the start or the end; or re:REGEX)", err, errlen);
                return NULL;
            }
        }
        return json_string (text);
    }
    return json_string (raw);
}

//  Check one scalar ITEM; returns a new JSON value or NULL with ERR.
//  LISTED is true inside a list ("" is never a list item).
static json_t *
s_normalize_item (const cw_config_key_t *key, json_t *item, bool listed, char *err, size_t errlen)
{
    char text [512];
    const char *raw = json_string_value (item);
    if (raw && json_string_length (item) != strlen (raw)) {
        s_reject (key, item, "is not allowed (contains a NUL character)", err, errlen);
        return NULL;
    }
    switch (key->type) {
        case CW_TYPE_BOOL:
            if (json_is_true (item))
                return json_string ("on");
            if (json_is_false (item))
                return json_string ("off");
            if (raw && s_trim (raw, text, sizeof (text))) {
                if (strcasecmp (text, "on") == 0)
                    return json_string ("on");
                if (strcasecmp (text, "off") == 0)
                    return json_string ("off");
            }
            break;
        case CW_TYPE_ENUM: {
            if (json_is_integer (item))
                snprintf (text, sizeof (text), "%" JSON_INTEGER_FORMAT, json_integer_value (item));
            else if (!raw || !s_trim (raw, text, sizeof (text)))
                break;
            const char *p = key->choices ? key->choices : "";
            size_t tlen = strlen (text);
            while (*p && tlen > 0) {
                const char *bar = strchr (p, '|');
                size_t clen = bar ? (size_t) (bar - p) : strlen (p);
                if (clen == tlen && strncasecmp (p, text, clen) == 0)
                    return json_stringn (p, clen);
                if (!bar)
                    break;
                p = bar + 1;
            }
            break;
        }
        case CW_TYPE_INT: {
            long long number;
            if (json_is_integer (item))
                number = json_integer_value (item);
            else if (raw && s_trim (raw, text, sizeof (text)) && text [0]) {
                char *end = NULL;
                errno = 0;
                number = strtoll (text, &end, 10);
                if (errno || *end)
                    break;
            }
            else
                break;
            if (number < key->min || number > key->max) {
                json_t *shown = json_integer (number);
                s_reject (key, shown, "is out of range", err, errlen);
                json_decref (shown);
                return NULL;
            }
            return json_integer (number);
        }
        case CW_TYPE_STRING: {
            if (!raw)
                break;
            long chars = s_printable_length (raw);
            if (chars < 0) {
                s_reject (key, item, "is not allowed (control character)", err, errlen);
                return NULL;
            }
            if (chars < key->min || chars > key->max) {
                s_reject (key, item, chars < key->min ? "is too short" : "is too long", err, errlen);
                return NULL;
            }
            return s_special_string (key, item, err, errlen);
        }
        case CW_TYPE_HOSTNAME:
        case CW_TYPE_FQDN:
        case CW_TYPE_IP:
        case CW_TYPE_HOST: {
            if (!raw || !s_trim (raw, text, sizeof (text)))
                break;
            if (text [0] == 0) {
                if (!listed && key->min == 0 && (key->type == CW_TYPE_HOSTNAME || key->type == CW_TYPE_FQDN))
                    return json_string ("");
                break;
            }
            char canon [INET6_ADDRSTRLEN];
            if ((key->type == CW_TYPE_IP || key->type == CW_TYPE_HOST) && cw_valid_ip (text, canon))
                return json_string (canon);
            if (key->type == CW_TYPE_HOSTNAME && cw_valid_hostname_label (text))
                return json_string (text);
            if ((key->type == CW_TYPE_FQDN || key->type == CW_TYPE_HOST) && cw_valid_fqdn (text)) {
                size_t n = strlen (text);
                if (text [n - 1] == '.')
                    text [n - 1] = 0;    //  stored without the root dot
                return json_string (text);
            }
            break;
        }
        case CW_TYPE_MAPPING: {
            if (!raw || !s_trim (raw, text, sizeof (text)))
                break;
            char *equals = strchr (text, '=');
            if (!equals)
                break;
            *equals = 0;
            char fqdn [256], ip [INET6_ADDRSTRLEN];
            if (!s_trim (text, fqdn, sizeof (fqdn)) || !s_trim (equals + 1, text, sizeof (text)))
                break;
            size_t n = strlen (fqdn);
            if (n && fqdn [n - 1] == '.')
                fqdn [n - 1] = 0;
            if (!cw_valid_fqdn (fqdn) || !cw_valid_ip (text, ip))
                break;
            for (char *c = fqdn; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
            char stored [sizeof (fqdn) + sizeof (ip) + 2];
            snprintf (stored, sizeof (stored), "%s=%s", fqdn, ip);
            return json_string (stored);
        }
    }
    s_reject (key, item, "is not allowed", err, errlen);
    return NULL;
}

static json_t *
s_normalize_list (const cw_config_key_t *key, json_t *value, char *err, size_t errlen)
{
    json_t *items = NULL;
    if (json_is_array (value))
        items = json_incref (value);
    else if (json_is_string (value)) {
        //  "a, b,c" -> ["a","b","c"]; "" (or blanks) -> []
        const char *text = json_string_value (value);
        if (json_string_length (value) != strlen (text)) {
            s_reject (key, value, "is not allowed (contains a NUL character)", err, errlen);
            return NULL;
        }
        items = json_array ();
        char trimmed [2];
        if (s_trim (text, trimmed, sizeof (trimmed)) && trimmed [0] == 0)
            ;    //  empty list
        else {
            const char *p = text;
            for (;;) {
                const char *comma = strchr (p, ',');
                size_t n = comma ? (size_t) (comma - p) : strlen (p);
                json_array_append_new (items, json_stringn (p, n));
                if (!comma)
                    break;
                p = comma + 1;
            }
        }
    }
    else {
        s_reject (key, value, "is not allowed", err, errlen);
        return NULL;
    }
    size_t count = json_array_size (items);
    if (count > (size_t) key->max_items) {
        char why [64];
        snprintf (why, sizeof (why), "has %zu items, too many", count);
        s_reject (key, value, why, err, errlen);
        json_decref (items);
        return NULL;
    }
    json_t *result = json_array ();
    for (size_t i = 0; i < count; i++) {
        json_t *item = s_normalize_item (key, json_array_get (items, i), true, err, errlen);
        if (!item) {
            json_decref (items);
            json_decref (result);
            return NULL;
        }
        for (size_t j = 0; j < json_array_size (result); j++) {
            if (json_equal (json_array_get (result, j), item)) {
                s_reject (key, item, "is listed twice", err, errlen);
                json_decref (item);
                json_decref (items);
                json_decref (result);
                return NULL;
            }
        }
        json_array_append_new (result, item);
    }
    json_decref (items);
    return result;
}

json_t *
cw_registry_normalize (const cw_config_key_t *key, json_t *value, char *err, size_t errlen)
{
    if (err && errlen)
        err [0] = 0;
    if (!key)
        return NULL;
    if (!value || json_is_null (value)) {
        char allowed [256];
        cw_registry_allowed (key, allowed, sizeof (allowed));
        if (err && errlen)
            snprintf (err, errlen, "%s: a value is required; allowed: %s", key->name, allowed);
        return NULL;
    }
    if (key->max_items > 0)
        return s_normalize_list (key, value, err, errlen);
    return s_normalize_item (key, value, false, err, errlen);
}

json_t *
cw_registry_default (const cw_config_key_t *key, const char *node_name)
{
    if (!key)
        return NULL;
    if (key->default_from == CW_DEFAULT_NODE_NAME)
        return json_string (node_name ? node_name : "");
    json_t *value = json_loads (key->default_json ? key->default_json : "null", JSON_DECODE_ANY, NULL);
    return value ? value : json_null ();
}
