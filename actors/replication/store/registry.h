/*  registry.h - THE registry of runtime configuration keys.

    Every key that `causeway config set` (and later the web pages and the
    cluster) can change is declared exactly once, in the table at the top
    of registry.c: its name, its scope (`peer` keys are never replicated,
    `cluster` keys are copied from the configuration primary to every
    subordinate), its value type, the allowed values, its default and a
    one-line description. Adding a key is one line in that table.

    Value types: enum (a fixed set of words), integer range, boolean (the
    strings "on"/"off"), free string (printable, bounded length), hostname
    (one RFC 1123 label), FQDN, IP address (v4 or v6), host (IP address or
    FQDN); and a list of any of these with a maximum number of items.

    A secret key (e.g. snmp.community) is written like any other but its
    value is never logged, never echoed in an error, and shown masked.

    cw_registry_normalize is the one place where a value from outside
    (control protocol, CLI, web, peer) is checked: it returns the value in
    its stored form (booleans "on"/"off", integers as JSON numbers, lists
    as JSON arrays, IPv6 addresses in canonical form) or NULL and a
    message that says what is allowed, e.g.
        h323.ttl_s: 5 is out of range; allowed: integer 60..65534
        maintenance.mode: 'maybe' is not allowed; allowed: on, off
*/
#ifndef CW_REGISTRY_H
#define CW_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum {
    CW_SCOPE_PEER = 0,    //  this node only, never replicated
    CW_SCOPE_CLUSTER      //  written on the primary, replicated
} cw_scope_t;

typedef enum {
    CW_TYPE_BOOL = 0,    //  "on" | "off"
    CW_TYPE_ENUM,        //  one of choices ("a|b|c")
    CW_TYPE_INT,         //  integer min..max
    CW_TYPE_STRING,      //  printable text, min..max characters
    CW_TYPE_HOSTNAME,    //  one RFC 1123 label (or "" when min == 0)
    CW_TYPE_FQDN,        //  fully qualified domain name (or "" when min == 0)
    CW_TYPE_IP,          //  IPv4 or IPv6 address
    CW_TYPE_HOST,        //  IP address or FQDN
    CW_TYPE_MAPPING      //  "FQDN=IP" (cluster address mapping entry)
} cw_vtype_t;

typedef enum {
    CW_DEFAULT_LITERAL = 0,    //  default_json below
    CW_DEFAULT_NODE_NAME       //  the bootstrap file's node.name (system.name)
} cw_default_from_t;

typedef struct {
    const char *name;    //  "h323.ttl_s"
    cw_scope_t scope;
    cw_vtype_t type;        //  the type of the value, or of each list item
    int max_items;          //  0 = a single value; N > 0 = list of at most N items
    long long min, max;     //  INT: range; STRING/HOSTNAME/FQDN: min 0 allows ""
    const char *choices;    //  ENUM: "permissive|enforce"
    cw_default_from_t default_from;
    const char *default_json;    //  JSON text of the default ("\"off\"", "1800", "[]")
    const char *description;     //  one line, for the README and help
    bool secret;                 //  never logged; config.get/list show CW_SECRET_MASK
} cw_config_key_t;

//  What config.get/list (and so the CLI and the pages) show instead of a
//  secret key's value when it is set; its real value goes only to the
//  actors (config.changed events) and into the store.
#define CW_SECRET_MASK "********"

//  The whole registry, in declaration order; COUNT gets the number of keys.
const cw_config_key_t *cw_registry_keys (size_t *count);
//  The key called NAME, or NULL.
const cw_config_key_t *cw_registry_lookup (const char *name);
//  The registry sorted by name (a static array of COUNT pointers).
const cw_config_key_t *const *cw_registry_sorted (size_t *count);

const char *cw_scope_name (cw_scope_t scope);
const char *cw_vtype_name (cw_vtype_t type);

//  "unknown key 'NAME'" plus, when some keys are close, "; did you mean
//  'a', 'b'?" into BUF.
void cw_registry_unknown_message (const char *name, char *buf, size_t len);

//  Human text of what KEY allows ("integer 60..65534", "on, off",
//  "list of at most 5 IP addresses (v4 or v6), comma-separated").
void cw_registry_allowed (const cw_config_key_t *key, char *buf, size_t len);

//  Check VALUE (borrowed) for KEY. Returns a new JSON value in stored form,
//  or NULL with "KEY: ... ; allowed: ..." in ERR.
json_t *cw_registry_normalize (const cw_config_key_t *key, json_t *value, char *err, size_t errlen);

//  The default of KEY as a new JSON value. NODE_NAME is the bootstrap
//  node.name (used by CW_DEFAULT_NODE_NAME keys; NULL = "").
json_t *cw_registry_default (const cw_config_key_t *key, const char *node_name);

//  Checks of single items, also used by other modules (clustering).
bool cw_valid_hostname_label (const char *text);
bool cw_valid_fqdn (const char *text);
//  True when TEXT is an IPv4 or IPv6 address; when CANON is not NULL it
//  gets the canonical text (at least 46 bytes).
bool cw_valid_ip (const char *text, char *canon);

#endif
