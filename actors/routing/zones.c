/*  zones.c - neighbour and DNS zones (see zones.h).

    The zones live in the replication actor's data (namespace
    routing.zones, key the zone's name, value the JSON text of the
    normalized zone); this module keeps them in a hash table, kept loaded
    by a data mirror (cw_data_mirror.h) as auth.c does for the
    credentials.

    Every address of a neighbour zone has a keep-alive: an OPTIONS sent
    with libre's SIP client (a client transaction on the core's struct
    sip) every keepalive_s seconds. An answer (any status) makes the
    address active; no answer within S_PROBE_TIMEOUT_MS or a transport
    error makes it failed. The zone is failed when no address is active
    (after each address was probed once), and alarm 40010 is raised for
    it until one answers. The tick of the SIP core drives the probes.

    A DNS zone resolves the alias's domain (zones_dns.c: c-ares in the
    routing actor's loop, the RFC 3263 order and the TTL cache).
*/
#include "zones.h"
#include "zones_dns.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cw_alarm.h"
#include "cw_data_mirror.h"
#include "cw_text.h"

#define S_NS "routing.zones"
#define S_PROBE_TIMEOUT_MS 5000
#define S_ALARM_ZONE 40010
#define S_NAME_MAX 64
#define S_ADDRESSES_MAX 16
#define S_ADDRESS_MAX 128

// ---------------------------------------------------------------------------
//  Validation (pure)

static bool
s_name_valid (const char *name)
{
    size_t len = strnlen (name, S_NAME_MAX + 1);
    if (len == 0 || len > S_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) name [i]) && !strchr ("-_.", name [i]))
            return false;
    return true;
}

//  A DNS host name: labels of letters, digits and '-', dots between
static bool
s_host_valid (const char *host)
{
    size_t len = strlen (host), label = 0;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = host [i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
        }
        else if (isalnum ((unsigned char) c) || c == '-') {
            if (++label > 63)
                return false;
        }
        else
            return false;
    }
    return label > 0 || host [len - 1] == '.';
}

int
cw_zones_address_parse (const char *text, char *host, size_t hostlen, uint16_t *port)
{
    *port = 0;
    if (!text || !*text || strlen (text) >= S_ADDRESS_MAX)
        return -1;
    char copy [S_ADDRESS_MAX];
    cw_copy (copy, sizeof copy, text);
    char *port_text = NULL;
    if (copy [0] == '[') {
        char *close = strchr (copy, ']');
        if (!close)
            return -1;
        *close = 0;
        if (close [1] == ':')
            port_text = close + 2;
        else if (close [1])
            return -1;
        memmove (copy, copy + 1, strlen (copy + 1) + 1);
    }
    else {
        char *colon = strchr (copy, ':');
        if (colon && !strchr (colon + 1, ':')) {
            *colon = 0;
            port_text = colon + 1;
        }
    }
    if (port_text) {
        char *end;
        long value = strtol (port_text, &end, 10);
        if (!*port_text || *end || value < 1 || value > 65535)
            return -1;
        *port = (uint16_t) value;
    }
    struct sa sa;
    if (sa_set_str (&sa, copy, 0) != 0 && (strchr (copy, ':') || !s_host_valid (copy)))
        return -1;
    if (strlen (copy) >= hostlen)
        return -1;
    cw_copy (host, hostlen, copy);
    return 0;
}

//  ADDRESSES as an array of strings (a JSON array, or a comma-separated
//  string); NULL when it is neither. New reference.
static json_t *
s_address_list (json_t *addresses)
{
    if (json_is_array (addresses))
        return json_incref (addresses);
    if (!json_is_string (addresses))
        return NULL;
    json_t *list = json_array ();
    char *copy = strdup (json_string_value (addresses));
    char *save = NULL;
    for (char *item = copy ? strtok_r (copy, ",", &save) : NULL; item; item = strtok_r (NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        size_t len = strlen (item);
        while (len && item [len - 1] == ' ')
            item [--len] = 0;
        json_array_append_new (list, json_string (item));
    }
    free (copy);
    return list;
}

static bool
s_int_of (json_t *value, json_int_t *out)
{
    if (json_is_integer (value)) {
        *out = json_integer_value (value);
        return true;
    }
    if (json_is_string (value)) {
        char *end;
        const char *text = json_string_value (value);
        long long number = strtoll (text, &end, 10);
        if (*text && !*end) {
            *out = number;
            return true;
        }
    }
    return false;
}

int
cw_zones_check (json_t *zone, json_t **normalized, char *err, size_t errlen)
{
    *normalized = NULL;
    if (!json_is_object (zone)) {
        cw_errorf (err, errlen, "zone: a JSON object");
        return -1;
    }
    const char *name = cw_jtext (zone, "name");
    if (!s_name_valid (name)) {
        cw_errorf (err, errlen, "name: 1..%d letters, digits, '-', '_' or '.'", S_NAME_MAX);
        return -1;
    }
    if (strcasecmp (name, "local") == 0) {
        cw_errorf (err, errlen, "name: any name but 'local' (the local zone)");
        return -1;
    }
    const char *type = cw_jtext (zone, "type");
    bool dns = strcmp (type, "dns") == 0;
    if (!dns && strcmp (type, "neighbour") != 0) {
        cw_errorf (err, errlen, "type: neighbour | dns");
        return -1;
    }
    json_t *transport_json = json_object_get (zone, "transport");
    const char *transport = json_is_string (transport_json) ? json_string_value (transport_json)
                          : transport_json                  ? "?"
                          : dns                             ? "any"
                                                            : "udp";
    if (strcmp (transport, "udp") && strcmp (transport, "tcp") && strcmp (transport, "tls")
        && (!dns || strcmp (transport, "any"))) {
        cw_errorf (err, errlen, dns ? "transport: udp | tcp | tls | any" : "transport: udp | tcp | tls");
        return -1;
    }
    if (dns) {
        const char *known [] = { "name", "type", "transport" };
        const char *key;
        json_t *value;
        json_object_foreach (zone, key, value) {
            bool ok = false;
            for (size_t i = 0; i < 3; i++)
                ok |= strcmp (key, known [i]) == 0;
            if (!ok && !json_is_null (value)) {
                cw_errorf (err, errlen, "%.64s: not a field of a DNS zone (name, type, transport)", key);
                return -1;
            }
        }
        *normalized = json_pack ("{s:s, s:s, s:s}", "name", name, "type", "dns", "transport", transport);
        return *normalized ? 0 : -1;
    }
    json_int_t port = strcmp (transport, "tls") == 0 ? 5061 : 5060;
    json_t *port_json = json_object_get (zone, "port");
    if (port_json && !json_is_null (port_json) && (!s_int_of (port_json, &port) || port < 1 || port > 65535)) {
        cw_errorf (err, errlen, "port: 1..65535");
        return -1;
    }
    json_int_t keepalive = 30;
    json_t *keepalive_json = json_object_get (zone, "keepalive_s");
    if (keepalive_json && !json_is_null (keepalive_json)
        && (!s_int_of (keepalive_json, &keepalive) || keepalive < 5 || keepalive > 3600)) {
        cw_errorf (err, errlen, "keepalive_s: 5..3600 (seconds between OPTIONS)");
        return -1;
    }
    json_t *list = s_address_list (json_object_get (zone, "addresses"));
    size_t count = json_array_size (list);
    if (!list || count == 0 || count > S_ADDRESSES_MAX) {
        json_decref (list);
        cw_errorf (err, errlen, "addresses: 1..%d of IP, IP:PORT or host:port", S_ADDRESSES_MAX);
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        char host [S_ADDRESS_MAX];
        uint16_t item_port;
        const char *text = json_string_value (item);
        if (!text || cw_zones_address_parse (text, host, sizeof host, &item_port) != 0) {
            cw_errorf (err, errlen, "addresses: '%.80s' is not an IP, IP:PORT or host:port", text ? text : "?");
            json_decref (list);
            return -1;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp (json_string_value (json_array_get (list, j)), text) == 0) {
                cw_errorf (err, errlen, "addresses: '%.80s' is listed twice", text);
                json_decref (list);
                return -1;
            }
    }
    *normalized = json_pack ("{s:s, s:s, s:o, s:s, s:I, s:I}", "name", name, "type", "neighbour", "addresses", list,
                             "transport", transport, "port", port, "keepalive_s", keepalive);
    return *normalized ? 0 : -1;
}

// ---------------------------------------------------------------------------
//  The zones in memory

typedef struct _s_zone_t s_zone_t;

typedef struct {
    s_zone_t *zone;
    char text [S_ADDRESS_MAX];    //  as configured
    char host [S_ADDRESS_MAX];
    uint16_t port;
    struct sa addr;       //  the address probed (an IP address's at once; a host's once resolved)
    bool resolved;        //  an IP address: ADDR is fixed
    bool known;           //  ADDR holds an address (fixed, or a host's last resolved)
    const char *state;    //  "unknown" | "active" | "failed"
    int64_t last_ok;      //  wall clock ms of the last answer (0: never)
    char error [160];
    struct sip_request *req;    //  the OPTIONS in flight
    int64_t sent_at;            //  zclock_mono of its sending
    int64_t next_at;            //  zclock_mono of the next probe
    uint32_t cseq;
} s_address_t;

struct _s_zone_t {
    cw_zones_t *owner;
    char name [S_NAME_MAX + 1];
    bool dns;
    char transport [8];
    enum sip_transp tp;    //  a neighbour zone's
    uint16_t port;
    int keepalive_s;
    s_address_t addresses [S_ADDRESSES_MAX];
    size_t count;
    bool failed;     //  every address failed
    bool alarmed;    //  alarm 40010 raised
    json_t *json;    //  the normalized zone
};

struct _cw_zones_t {
    cw_routing_t *routing;
    cw_actor_t *actor;
    zhashx_t *zones;             //  name -> s_zone_t
    cw_data_mirror_t *mirror;    //  keeps them loaded from the cluster-wide data
    cw_zones_dns_t *dns;
    bool loaded_once;
    char call_id [32];
};

static enum sip_transp
s_transport (const char *name)
{
    return strcmp (name, "tcp") == 0 ? SIP_TRANSP_TCP : strcmp (name, "tls") == 0 ? SIP_TRANSP_TLS : SIP_TRANSP_UDP;
}

static const char *
s_transport_text (enum sip_transp tp)
{
    return tp == SIP_TRANSP_TCP ? "tcp" : tp == SIP_TRANSP_TLS ? "tls" : "udp";
}

static void
s_zone_free (void **item)
{
    s_zone_t *zone = *item;
    if (zone) {
        for (size_t i = 0; i < zone->count; i++)
            zone->addresses [i].req = mem_deref (zone->addresses [i].req);
        json_decref (zone->json);
        free (zone);
    }
    *item = NULL;
}

//  A zone from its stored JSON text, or NULL (logged)
static s_zone_t *
s_zone_new (cw_zones_t *self, const char *key, const char *text)
{
    json_t *json = text ? json_loads (text, 0, NULL) : NULL;
    json_t *normalized = NULL;
    char err [256] = "not JSON";
    if (!json || cw_zones_check (json, &normalized, err, sizeof err) != 0
        || strcmp (cw_jtext (normalized, "name"), key) != 0) {
        cw_warn ("zones: the stored zone %.64s cannot be read (%s); left out", key, err);
        json_decref (json);
        json_decref (normalized);
        return NULL;
    }
    json_decref (json);
    s_zone_t *zone = calloc (1, sizeof *zone);
    if (!zone) {
        json_decref (normalized);
        return NULL;
    }
    zone->owner = self;
    zone->json = normalized;
    cw_copy (zone->name, sizeof zone->name, key);
    zone->dns = strcmp (cw_jtext (normalized, "type"), "dns") == 0;
    cw_copy (zone->transport, sizeof zone->transport, cw_jtext (normalized, "transport"));
    zone->tp = s_transport (zone->transport);
    zone->port = (uint16_t) json_integer_value (json_object_get (normalized, "port"));
    zone->keepalive_s = (int) json_integer_value (json_object_get (normalized, "keepalive_s"));
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (normalized, "addresses"), i, item) {
        s_address_t *address = &zone->addresses [zone->count++];
        address->zone = zone;
        cw_copy (address->text, sizeof address->text, json_string_value (item));
        cw_zones_address_parse (address->text, address->host, sizeof address->host, &address->port);
        if (!address->port)
            address->port = zone->port;
        address->resolved = sa_set_str (&address->addr, address->host, address->port) == 0;
        address->known = address->resolved;
        address->state = "unknown";
        address->next_at = zclock_mono ();
    }
    //  An earlier run may have left its alarm raised: cleared at the first answer
    zone->alarmed = true;
    return zone;
}

//  Put zone KEY from TEXT (NULL: remove it)
static void
s_apply (cw_zones_t *self, const char *key, const char *text)
{
    const json_t *old = NULL;
    s_zone_t *existing = zhashx_lookup (self->zones, key);
    if (existing)
        old = existing->json;
    if (text && old) {
        json_t *json = json_loads (text, 0, NULL);
        bool same = json && json_equal (json, (json_t *) old);
        json_decref (json);
        if (same)
            return;    //  keep its state and probes
    }
    if (!text) {
        if (existing && existing->alarmed)
            cw_alarm_clear (self->actor, S_ALARM_ZONE, key);
        if (existing)
            cw_info ("zones: removed zone=%s", key);
        zhashx_delete (self->zones, key);
        return;
    }
    s_zone_t *zone = s_zone_new (self, key, text);
    if (existing && zone)
        zone->alarmed = existing->alarmed;    //  cleared once an address answers
    else if (existing && existing->alarmed)
        cw_alarm_clear (self->actor, S_ALARM_ZONE, key);
    if (zone) {
        zhashx_update (self->zones, key, zone);
        cw_info ("zones: zone=%s type=%s", key, zone->dns ? "dns" : "neighbour");
    }
    else
        zhashx_delete (self->zones, key);
}

// ---------------------------------------------------------------------------
//  Keep-alives

static void
s_zone_settle (s_zone_t *zone)
{
    if (zone->dns)
        return;
    bool any_active = false, all_failed = true;
    for (size_t i = 0; i < zone->count; i++) {
        any_active |= strcmp (zone->addresses [i].state, "active") == 0;
        all_failed &= strcmp (zone->addresses [i].state, "failed") == 0;
    }
    cw_actor_t *actor = zone->owner->actor;
    if (any_active && (zone->failed || zone->alarmed)) {
        cw_info ("zones: zone=%s state=active", zone->name);
        if (zone->alarmed)
            cw_alarm_clear (actor, S_ALARM_ZONE, zone->name);
        zone->alarmed = false;
        zone->failed = false;
    }
    else if (all_failed && !zone->failed) {
        char detail [1024];
        size_t used = (size_t) snprintf (detail, sizeof detail, "neighbour zone %s: no address answers OPTIONS",
                                         zone->name);
        for (size_t i = 0; i < zone->count && used < sizeof detail; i++)
            used += (size_t) snprintf (detail + used, sizeof detail - used, "%s %s: %s", i ? ";" : " (",
                                       zone->addresses [i].text, zone->addresses [i].error);
        if (used < sizeof detail)
            snprintf (detail + used, sizeof detail - used, ")");
        cw_warn ("zones: zone=%s state=failed", zone->name);
        cw_alarm_raise (actor, S_ALARM_ZONE, zone->name, detail);
        zone->alarmed = true;
        zone->failed = true;
    }
}

static void
s_address_result (s_address_t *address, const char *error)
{
    const char *was = address->state;
    if (error) {
        address->state = "failed";
        cw_copy (address->error, sizeof address->error, error);
    }
    else {
        address->state = "active";
        address->error [0] = 0;
        address->last_ok = zclock_time ();
    }
    if (strcmp (was, address->state) != 0)
        cw_info ("zones: zone=%s address=%s state=%s%s%s%s", address->zone->name, address->text, address->state,
                 error ? " error=\"" : "", error ? error : "", error ? "\"" : "");
    s_zone_settle (address->zone);
}

static void
s_on_options (int err, const struct sip_msg *msg, void *arg)
{
    s_address_t *address = arg;
    address->req = NULL;    //  libre frees it after this
    if (err) {
        char why [160];
        snprintf (why, sizeof why, "transport error: %s", strerror (err));
        s_address_result (address, why);
    }
    else if (msg && msg->scode >= 200)
        s_address_result (address, NULL);
}

static void
s_probe (cw_zones_t *self, s_address_t *address, int64_t now)
{
    s_zone_t *zone = address->zone;
    address->next_at = now + (int64_t) zone->keepalive_s * 1000;
    if (!address->resolved) {
        //  host:port: its A/AAAA record from the DNS cache
        struct sa addr;
        char why [160];
        int rc = cw_zones_dns_host (self->dns, address->host, address->port, &addr, why, sizeof why);
        if (rc > 0) {
            address->next_at = now + 200;    //  asked: look again soon
            return;
        }
        if (rc < 0) {
            s_address_result (address, why);
            return;
        }
        address->addr = addr;
        address->known = true;
    }
    char uri [S_ADDRESS_MAX + 48];
    re_snprintf (uri, sizeof uri, "sip:%J;transport=%s", &address->addr, s_transport_text (zone->tp));
    address->sent_at = now;
    int err = sip_requestf (&address->req, cw_routing_sip (self->routing), true, "OPTIONS", uri, NULL, NULL, NULL,
                            s_on_options, address,
                            "Max-Forwards: 70\r\nTo: <%s>\r\nFrom: <sip:keepalive@causeway.invalid>;tag=%x\r\n"
                            "Call-ID: %s-%p-%u\r\nCSeq: %u OPTIONS\r\nAccept: application/sdp\r\n"
                            "Content-Length: 0\r\n\r\n",
                            uri, rand_u32 (), self->call_id, (void *) address, address->cseq + 1, address->cseq + 1);
    address->cseq++;
    if (err) {
        address->req = NULL;
        char why [160];
        snprintf (why, sizeof why, "cannot send OPTIONS: %s", strerror (err));
        s_address_result (address, why);
    }
}

static void
s_on_alarms (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    cw_zones_t *self = arg;
    size_t i;
    json_t *alarm;
    json_array_foreach (ok ? json_object_get (body, "alarms") : NULL, i, alarm) {
        const char *subject = cw_jtext (alarm, "subject");
        if (json_integer_value (json_object_get (alarm, "id")) == S_ALARM_ZONE && !zhashx_lookup (self->zones, subject))
            cw_alarm_clear (actor, S_ALARM_ZONE, subject);
    }
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    (void) now_ms;
    cw_zones_t *self = arg;
    int64_t now = zclock_mono ();
    cw_data_mirror_tick (self->mirror);
    for (s_zone_t *zone = zhashx_first (self->zones); zone; zone = zhashx_next (self->zones)) {
        if (zone->dns)
            continue;
        for (size_t i = 0; i < zone->count; i++) {
            s_address_t *address = &zone->addresses [i];
            if (address->req && now - address->sent_at >= S_PROBE_TIMEOUT_MS) {
                address->req = mem_deref (address->req);    //  libre cancels it
                s_address_result (address, "no answer to OPTIONS within 5 s");
            }
            else if (!address->req && now >= address->next_at)
                s_probe (self, address, now);
        }
    }
}

// ---------------------------------------------------------------------------
//  Loading

//  A load is complete: the zones loaded, and those gone removed
static void
s_on_loaded (json_t *rows, void *arg)
{
    cw_zones_t *self = arg;
    zlistx_t *names = zhashx_keys (self->zones);
    for (const char *name = zlistx_first (names); name; name = zlistx_next (names))
        if (!json_object_get (rows, name))
            s_apply (self, name, NULL);
    zlistx_destroy (&names);
    const char *name;
    json_t *value;
    json_object_foreach (rows, name, value) {
        s_apply (self, name, json_string_value (value));
    }
    cw_info ("zones: loaded zones=%zu", zhashx_size (self->zones));
    if (!self->loaded_once) {
        //  The alarms of zones removed while this actor was not running
        self->loaded_once = true;
        cw_actor_request (self->actor, "alarms", "alarms.list", NULL, s_on_alarms, self, 5000);
    }
}

static void
s_on_changed (const char *name, const char *value, void *arg)
{
    s_apply ((cw_zones_t *) arg, name, value);
}

static void
s_on_data_changed (cw_routing_t *routing, const char *topic, json_t *body, void *arg)
{
    (void) routing;
    cw_zones_t *self = arg;
    cw_data_mirror_on_event (self->mirror, topic, body);
}

// ---------------------------------------------------------------------------
//  Lookups for the search

bool
cw_zones_exists (cw_zones_t *self, const char *name)
{
    return name && zhashx_lookup (self->zones, name) != NULL;
}

const char *
cw_zones_of_source (cw_zones_t *self, const struct sa *source)
{
    for (s_zone_t *zone = zhashx_first (self->zones); zone; zone = zhashx_next (self->zones)) {
        if (zone->dns)
            continue;
        for (size_t i = 0; i < zone->count; i++)
            if (zone->addresses [i].known && sa_cmp (&zone->addresses [i].addr, source, SA_ADDR))
                return zone->name;
    }
    return NULL;
}

static void
s_step (json_t *steps, const s_zone_t *zone, const char *query, const char *result)
{
    if (steps)
        json_array_append_new (steps,
                               json_pack ("{s:s, s:s, s:s, s:s, s:s}", "step", "zone", "zone", zone->name, "type",
                                          zone->dns ? "dns" : "neighbour", "query", query, "result", result));
}

void
cw_zones_targets (cw_zones_t *self, const char *name, const char *alias, cw_zones_targets_fn *fn, void *arg,
                  json_t *steps)
{
    s_zone_t *zone = name ? zhashx_lookup (self->zones, name) : NULL;
    char why [300];
    if (!zone) {
        snprintf (why, sizeof why, "unknown zone '%.64s'", name ? name : "");
        fn (NULL, 0, why, arg);
        return;
    }
    if (zone->dns) {
        cw_zones_dns_targets (self->dns, zone->name, zone->transport, alias, fn, arg, steps);
        return;
    }
    cw_zone_target_t targets [CW_ZONES_TARGETS_MAX];
    size_t count = 0;
    char result [1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < zone->count && count < CW_ZONES_TARGETS_MAX; i++) {
        s_address_t *address = &zone->addresses [i];
        if (strcmp (address->state, "active") != 0)
            continue;
        cw_zone_target_t *target = &targets [count++];
        memset (target, 0, sizeof *target);
        target->addr = address->addr;
        target->transport = zone->tp;
        cw_copy (target->host, sizeof target->host, address->host);
        if (used < sizeof result)
            used += (size_t) re_snprintf (result + used, sizeof result - used, "%s%s:%J", used ? ", " : "",
                                          s_transport_text (zone->tp), &address->addr);
    }
    if (!count) {
        snprintf (why, sizeof why, "zone '%s' is failed: no address answers OPTIONS", zone->name);
        s_step (steps, zone, alias ? alias : "", why);
        fn (NULL, 0, why, arg);
        return;
    }
    s_step (steps, zone, alias ? alias : "", result);
    fn (targets, count, NULL, arg);
}

void
cw_zones_cancel (cw_zones_t *self, void *arg)
{
    cw_zones_dns_cancel (self->dns, arg);
}

// ---------------------------------------------------------------------------
//  Commands

typedef struct {
    cw_zones_t *self;
    char to [64];
    uint64_t corr;
    char name [S_NAME_MAX + 1];
    char *value;    //  the JSON text written (NULL: removed)
} s_write_t;

static void
s_on_put (cw_actor_t *actor, bool ok, json_t *body, void *arg)
{
    s_write_t *write = arg;
    if (!ok)
        cw_actor_reply (actor, write->to, write->corr, false,
                        cw_error_body ("zone '%s' not stored: %s", write->name, cw_jtext (body, "error")));
    else {
        //  This peer sees its own change at once; the others by data.changed
        s_apply (write->self, write->name, write->value);
        s_zone_t *zone = zhashx_lookup (write->self->zones, write->name);
        if (write->value && zone)
            cw_actor_reply (actor, write->to, write->corr, true, json_pack ("{s:O}", "zone", zone->json));
        else
            cw_actor_reply (actor, write->to, write->corr, true,
                            json_pack ("{s:s, s:b}", "name", write->name, "removed", 1));
    }
    free (write->value);
    free (write);
}

static cw_reply_status_t
s_write (cw_zones_t *self, const cw_envelope_t *req, const char *name, json_t *zone, json_t **reply)
{
    s_write_t *write = calloc (1, sizeof *write);
    if (!write) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    write->self = self;
    cw_copy (write->to, sizeof write->to, req->from);
    write->corr = req->corr;
    cw_copy (write->name, sizeof write->name, name);
    if (zone)
        write->value = json_dumps (zone, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *args = !zone || write->value ? json_pack ("{s:s, s:[[s, o]]}", "ns", S_NS, "rows", name,
                                                      write->value ? json_string (write->value) : json_null ())
                                         : NULL;
    if (!args || cw_actor_request (self->actor, "replication", "replication.data.put", args, s_on_put, write, 8000)) {
        free (write->value);
        free (write);
        *reply = cw_error_body ("zone '%s' not stored: the replication actor cannot be asked", name);
        return CW_REPLY_ERROR;
    }
    return CW_REPLY_DEFERRED;
}

static cw_reply_status_t
s_cmd_add (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_zones_t *self = arg;
    json_t *zone = json_object_get (args, "zone");
    json_t *normalized;
    char err [300];
    if (cw_zones_check (json_is_object (zone) ? zone : args, &normalized, err, sizeof err) != 0) {
        *reply = cw_error_body ("zones.add: %s", err);
        return CW_REPLY_ERROR;
    }
    cw_reply_status_t status = s_write (self, req, cw_jtext (normalized, "name"), normalized, reply);
    json_decref (normalized);
    return status;
}

static cw_reply_status_t
s_cmd_remove (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_zones_t *self = arg;
    const char *name = cw_jtext (args, "name");
    if (!zhashx_lookup (self->zones, name)) {
        *reply = cw_error_body ("zones.remove: no zone '%.64s'", name);
        return CW_REPLY_ERROR;
    }
    return s_write (self, req, name, NULL, reply);
}

static int
s_compare_zones (const void *a, const void *b)
{
    return strcmp ((*(s_zone_t *const *) a)->name, (*(s_zone_t *const *) b)->name);
}

//  The zones sorted by name (free the array)
static s_zone_t **
s_sorted (cw_zones_t *self, size_t *count)
{
    *count = zhashx_size (self->zones);
    s_zone_t **zones = calloc (*count ? *count : 1, sizeof (s_zone_t *));
    size_t n = 0;
    for (s_zone_t *zone = zhashx_first (self->zones); zones && zone && n < *count; zone = zhashx_next (self->zones))
        zones [n++] = zone;
    if (zones)
        qsort (zones, n, sizeof (s_zone_t *), s_compare_zones);
    *count = n;
    return zones;
}

static cw_reply_status_t
s_cmd_list (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_zones_t *self = arg;
    size_t count;
    s_zone_t **zones = s_sorted (self, &count);
    json_t *list = json_array ();
    for (size_t i = 0; zones && i < count; i++)
        json_array_append (list, zones [i]->json);
    free (zones);
    *reply = json_pack ("{s:o, s:b}", "zones", list, "loading", cw_data_mirror_loading (self->mirror) && count == 0);
    return CW_REPLY_OK;
}

static cw_reply_status_t
s_cmd_status (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    (void) req;
    (void) args;
    cw_zones_t *self = arg;
    size_t count;
    s_zone_t **zones = s_sorted (self, &count);
    json_t *list = json_array ();
    for (size_t i = 0; zones && i < count; i++) {
        s_zone_t *zone = zones [i];
        json_t *addresses = json_array ();
        bool any_active = false, any_unknown = false;
        for (size_t a = 0; a < zone->count; a++) {
            s_address_t *address = &zone->addresses [a];
            any_active |= strcmp (address->state, "active") == 0;
            any_unknown |= strcmp (address->state, "unknown") == 0;
            json_t *last_ok = json_null ();
            if (address->last_ok) {
                char when [40];
                time_t seconds = (time_t) (address->last_ok / 1000);
                struct tm tm;
                gmtime_r (&seconds, &tm);
                strftime (when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                last_ok = json_string (when);
            }
            json_array_append_new (addresses, json_pack ("{s:s, s:s, s:o, s:s}", "address", address->text, "state",
                                                         address->state, "last_ok", last_ok, "error", address->error));
        }
        const char *state = zone->dns ? "active" : any_active ? "active" : any_unknown ? "unknown" : "failed";
        json_t *entry = json_pack ("{s:s, s:s, s:s, s:s, s:o}", "name", zone->name, "type",
                                   zone->dns ? "dns" : "neighbour", "state", state, "transport", zone->transport,
                                   "addresses", addresses);
        if (zone->dns)
            json_object_set_new (entry, "servers", cw_zones_dns_servers (self->dns));
        json_array_append_new (list, entry);
    }
    free (zones);
    *reply = json_pack ("{s:o}", "zones", list);
    return CW_REPLY_OK;
}

typedef struct {
    cw_zones_t *self;
    char to [64];
    uint64_t corr;
    json_t *steps;
    bool replied;
    bool deferred;
    json_t *reply;    //  the answer, when it came before the handler returned
} s_resolve_t;

static void
s_on_resolved (const cw_zone_target_t *targets, size_t count, const char *err, void *arg)
{
    s_resolve_t *resolve = arg;
    json_t *body;
    if (err)
        body = json_pack ("{s:s, s:O}", "error", err, "steps", resolve->steps);
    else {
        json_t *list = json_array ();
        for (size_t i = 0; i < count; i++) {
            char address [80];
            re_snprintf (address, sizeof address, "%J", &targets [i].addr);
            json_array_append_new (list,
                                   json_pack ("{s:s, s:s, s:s}", "address", address, "transport",
                                              s_transport_text (targets [i].transport), "host", targets [i].host));
        }
        body = json_pack ("{s:o, s:O}", "targets", list, "steps", resolve->steps);
    }
    if (!resolve->deferred) {
        resolve->reply = body;
        resolve->replied = true;
        return;
    }
    cw_actor_reply (resolve->self->actor, resolve->to, resolve->corr, err == NULL, body);
    json_decref (resolve->steps);
    free (resolve);
}

static cw_reply_status_t
s_cmd_resolve (cw_actor_t *actor, const cw_envelope_t *req, json_t *args, json_t **reply, void *arg)
{
    (void) actor;
    cw_zones_t *self = arg;
    const char *name = cw_jtext (args, "zone");
    const char *alias = cw_jtext (args, "alias");
    if (!*alias) {
        *reply = cw_error_body ("zones.resolve: 'alias' is required");
        return CW_REPLY_ERROR;
    }
    s_resolve_t *resolve = calloc (1, sizeof *resolve);
    if (!resolve) {
        *reply = cw_error_body ("out of memory");
        return CW_REPLY_ERROR;
    }
    resolve->self = self;
    cw_copy (resolve->to, sizeof resolve->to, req->from);
    resolve->corr = req->corr;
    resolve->steps = json_array ();
    cw_zones_targets (self, name, alias, s_on_resolved, resolve, resolve->steps);
    if (resolve->replied) {
        *reply = resolve->reply;
        bool ok = json_object_get (*reply, "error") == NULL;
        json_decref (resolve->steps);
        free (resolve);
        return ok ? CW_REPLY_OK : CW_REPLY_ERROR;
    }
    resolve->deferred = true;
    return CW_REPLY_DEFERRED;
}

static const cw_command_t s_commands [] = {
    { "zones.add", s_cmd_add, CW_CMD_IDEMPOTENT, "add or replace a neighbour or DNS zone (cluster-wide)" },
    { "zones.remove", s_cmd_remove, CW_CMD_IDEMPOTENT, "remove a zone" },
    { "zones.list", s_cmd_list, CW_CMD_IDEMPOTENT, "the zones as configured" },
    { "zones.status", s_cmd_status, CW_CMD_IDEMPOTENT, "each zone's state and its addresses' keep-alive state" },
    { "zones.resolve", s_cmd_resolve, CW_CMD_IDEMPOTENT, "the next hops of an alias in a zone, in the order tried" },
    { NULL, NULL, 0, NULL }
};

// ---------------------------------------------------------------------------
//  Life cycle

cw_zones_t *
cw_zones_new (cw_routing_t *routing, char *err, size_t errlen)
{
    cw_zones_t *self = calloc (1, sizeof *self);
    if (!self) {
        cw_errorf (err, errlen, "zones: out of memory");
        return NULL;
    }
    self->routing = routing;
    self->actor = cw_routing_actor (routing);
    self->zones = zhashx_new ();
    snprintf (self->call_id, sizeof self->call_id, "cwka-%08x", rand_u32 ());
    if (self->zones)
        zhashx_set_destructor (self->zones, s_zone_free);
    self->dns = self->zones ? cw_zones_dns_new (routing, err, errlen) : NULL;
    if (!self->dns) {
        if (!self->zones)
            cw_errorf (err, errlen, "zones: out of memory");
        cw_zones_destroy (&self);
        return NULL;
    }
    self->mirror = cw_data_mirror_new (self->actor, S_NS, "zones", s_on_loaded, s_on_changed, self);
    if (!self->mirror) {
        cw_errorf (err, errlen, "zones: out of memory");
        cw_zones_destroy (&self);
        return NULL;
    }
    if (cw_actor_commands (self->actor, s_commands, self)) {
        cw_errorf (err, errlen, "zones: cannot declare the zones commands");
        cw_zones_destroy (&self);
        return NULL;
    }
    cw_routing_on_event (routing, "data.changed." S_NS, s_on_data_changed, self);
    cw_routing_on_tick (routing, s_on_tick, self);
    cw_data_mirror_start (self->mirror);    //  on the first tick, once the actor runs
    return self;
}

void
cw_zones_destroy (cw_zones_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_zones_t *self = *self_p;
    //  A write still waiting for the replication actor: its requester is
    //  answered (an error) and the write freed
    cw_actor_fail_requests (self->actor, s_on_put, "the routing actor stopped before the write was confirmed");
    zhashx_destroy (&self->zones);
    cw_data_mirror_destroy (&self->mirror);
    cw_zones_dns_destroy (&self->dns);
    free (self);
    *self_p = NULL;
}
