/*  zones_dns.c - RFC 3263 resolution for DNS zones with c-ares in the
    routing actor's loop, and its TTL cache (see zones_dns.h).

    c-ares tells us which sockets to watch (its socket-state callback):
    each is watched with libre's fd_listen and handed to ares_process_fd
    when ready; the core's 100 ms tick lets c-ares handle its timeouts. No
    thread.

    The cache holds one entry per (type, name): the records of the answer
    (none for a name without them), when it was stored and its TTL. An
    entry being asked is "pending" and keeps the resolutions waiting on it;
    when the answer comes each of them runs again. A resolution (s_res_t)
    is a small state machine: NAPTR of the domain -> SRV of the names the
    NAPTR records give (or _sip._udp, _sip._tcp, _sips._tcp of the domain)
    -> A and AAAA of every SRV target (or of the domain itself, port
    5060/5061, when there is no SRV record); each step either finds its
    entries fresh in the cache and goes on, or waits.
*/
#include "zones_dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "cw_text.h"

#define S_NEGATIVE_TTL_S 5    //  a name without records, when the answer carries no SOA
#define S_FDS_MAX 32
#define S_SRV_NAMES_MAX 8
#define S_TIMEOUT_MS 2000
#define S_TRIES 2

// ---------------------------------------------------------------------------
//  Pure parts

static uint16_t
s_u16 (const unsigned char *p)
{
    return (uint16_t) ((p [0] << 8) | p [1]);
}

static uint32_t
s_u32 (const unsigned char *p)
{
    return ((uint32_t) p [0] << 24) | ((uint32_t) p [1] << 16) | ((uint32_t) p [2] << 8) | p [3];
}

//  The name at P (compressed names allowed) into OUT; its length in the
//  message into *LEN. -1 when it cannot be read.
static int
s_name (const unsigned char *p, const unsigned char *abuf, int alen, char *out, size_t outlen, long *len)
{
    char *name = NULL;
    if (ares_expand_name (p, abuf, alen, &name, len) != ARES_SUCCESS)
        return -1;
    int rc = strlen (name) < outlen ? 0 : -1;
    if (!rc)
        cw_copy (out, outlen, name);
    ares_free_string (name);
    return rc;
}

//  A <character-string> at P (before END) into OUT; the bytes it took.
static int
s_cstring (const unsigned char *p, const unsigned char *end, char *out, size_t outlen)
{
    if (p >= end || p + 1 + p [0] > end)
        return -1;
    size_t len = p [0];
    size_t keep = len < outlen ? len : outlen - 1;
    memcpy (out, p + 1, keep);
    out [keep] = 0;
    return (int) len + 1;
}

int
cw_zones_dns_parse (const unsigned char *abuf, int alen, uint16_t type, cw_dns_rr_t *out, size_t max, uint32_t *ttl)
{
    *ttl = 0;
    if (!abuf || alen < 12)
        return -1;
    const unsigned char *end = abuf + alen, *p = abuf + 12;
    int questions = s_u16 (abuf + 4), answers = s_u16 (abuf + 6), authority = s_u16 (abuf + 8);
    char name [CW_DNS_NAME_MAX];
    long len;
    for (int i = 0; i < questions; i++) {
        if (s_name (p, abuf, alen, name, sizeof name, &len))
            return -1;
        p += len + 4;
        if (p > end)
            return -1;
    }
    size_t count = 0;
    uint32_t min_ttl = UINT32_MAX, soa_ttl = 0;
    for (int i = 0; i < answers + authority; i++) {
        if (s_name (p, abuf, alen, name, sizeof name, &len))
            return -1;
        p += len;
        if (p + 10 > end)
            return -1;
        uint16_t rtype = s_u16 (p);
        uint32_t rttl = s_u32 (p + 4);
        uint16_t rdlen = s_u16 (p + 8);
        const unsigned char *rdata = p + 10, *rend = rdata + rdlen;
        if (rend > end)
            return -1;
        p = rend;
        if (i >= answers) {
            if (rtype == 6 && rdlen >= 22)    //  SOA: its TTL, at most its MINIMUM (RFC 2308)
                soa_ttl = rttl < s_u32 (rend - 4) ? rttl : s_u32 (rend - 4);
            continue;
        }
        if (rtype != type || count >= max)
            continue;
        cw_dns_rr_t *rr = &out [count];
        memset (rr, 0, sizeof *rr);
        rr->type = rtype;
        rr->ttl = rttl;
        if (type == CW_DNS_A && rdlen == 4) {
            sa_set_in (&rr->addr, s_u32 (rdata), 0);
        }
        else if (type == CW_DNS_AAAA && rdlen == 16) {
            sa_set_in6 (&rr->addr, rdata, 0);
        }
        else if (type == CW_DNS_SRV && rdlen >= 7) {
            rr->priority = s_u16 (rdata);
            rr->weight = s_u16 (rdata + 2);
            rr->port = s_u16 (rdata + 4);
            if (s_name (rdata + 6, abuf, alen, rr->target, sizeof rr->target, &len))
                return -1;
        }
        else if (type == CW_DNS_NAPTR && rdlen >= 7) {
            rr->order = s_u16 (rdata);
            rr->preference = s_u16 (rdata + 2);
            const unsigned char *q = rdata + 4;
            char regexp [256];
            int n = s_cstring (q, rend, rr->flags, sizeof rr->flags);
            if (n < 0)
                return -1;
            q += n;
            if ((n = s_cstring (q, rend, rr->service, sizeof rr->service)) < 0)
                return -1;
            q += n;
            if ((n = s_cstring (q, rend, regexp, sizeof regexp)) < 0)
                return -1;
            q += n;
            if (q >= rend || s_name (q, abuf, alen, rr->replacement, sizeof rr->replacement, &len))
                return -1;
        }
        else
            continue;
        if (rttl < min_ttl)
            min_ttl = rttl;
        count++;
    }
    *ttl = count ? min_ttl : soa_ttl;
    return (int) count;
}

uint32_t
cw_zones_dns_ttl (uint32_t ttl)
{
    return ttl < CW_DNS_TTL_MIN_S ? CW_DNS_TTL_MIN_S : ttl > CW_DNS_TTL_MAX_S ? CW_DNS_TTL_MAX_S : ttl;
}

bool
cw_zones_dns_fresh (int64_t stored_ms, uint32_t ttl_s, int64_t now_ms)
{
    return now_ms >= stored_ms && now_ms - stored_ms < (int64_t) ttl_s * 1000;
}

void
cw_zones_dns_srv_order (cw_dns_rr_t *srv, size_t count, cw_dns_random_fn *random, void *rng)
{
    //  Priority ascending (a stable insertion sort: few records)
    for (size_t i = 1; i < count; i++) {
        cw_dns_rr_t item = srv [i];
        size_t j = i;
        while (j > 0 && srv [j - 1].priority > item.priority) {
            srv [j] = srv [j - 1];
            j--;
        }
        srv [j] = item;
    }
    for (size_t start = 0; start < count;) {
        size_t stop = start;
        while (stop < count && srv [stop].priority == srv [start].priority)
            stop++;
        //  Weight 0 first within the priority (stable), then the weighted draw
        for (size_t i = start + 1; i < stop; i++) {
            cw_dns_rr_t item = srv [i];
            size_t j = i;
            while (j > start && item.weight == 0 && srv [j - 1].weight != 0) {
                srv [j] = srv [j - 1];
                j--;
            }
            srv [j] = item;
        }
        for (size_t pos = start; pos + 1 < stop; pos++) {
            uint32_t total = 0;
            for (size_t j = pos; j < stop; j++)
                total += srv [j].weight;
            uint32_t draw = total ? random (rng) % (total + 1) : 0;
            uint32_t running = 0;
            size_t pick = pos;
            for (size_t j = pos; j < stop; j++) {
                running += srv [j].weight;
                if (running >= draw) {
                    pick = j;
                    break;
                }
            }
            cw_dns_rr_t item = srv [pick];
            memmove (&srv [pos + 1], &srv [pos], (pick - pos) * sizeof *srv);
            srv [pos] = item;
        }
        start = stop;
    }
}

const char *
cw_zones_dns_naptr_transport (const char *service)
{
    if (strcasecmp (service, "SIP+D2U") == 0)
        return "udp";
    if (strcasecmp (service, "SIP+D2T") == 0)
        return "tcp";
    if (strcasecmp (service, "SIPS+D2T") == 0)
        return "tls";
    return NULL;    //  SIP+D2S (SCTP) and others: no such transport here
}

size_t
cw_zones_dns_naptr_select (const cw_dns_rr_t *naptr, size_t count, const char *transport, size_t *picked, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < count && n < max; i++) {
        const char *tp = cw_zones_dns_naptr_transport (naptr [i].service);
        if (!tp || strcasecmp (naptr [i].flags, "s") != 0 || !naptr [i].replacement [0])
            continue;
        if (transport && strcmp (transport, "any") != 0 && strcmp (transport, tp) != 0)
            continue;
        size_t j = n++;
        while (j > 0
               && (naptr [picked [j - 1]].order > naptr [i].order
                   || (naptr [picked [j - 1]].order == naptr [i].order
                       && naptr [picked [j - 1]].preference > naptr [i].preference))) {
            picked [j] = picked [j - 1];
            j--;
        }
        picked [j] = i;
    }
    return n;
}

int
cw_zones_dns_domain (const char *alias, char *domain, size_t domainlen)
{
    if (!alias)
        return -1;
    if (strncasecmp (alias, "sips:", 5) == 0)
        alias += 5;
    else if (strncasecmp (alias, "sip:", 4) == 0)
        alias += 4;
    const char *at = strrchr (alias, '@');
    const char *start = at ? at + 1 : alias;
    size_t len = strcspn (start, ";>?");
    if (start [0] == '[') {
        const char *close = memchr (start, ']', len);
        if (!close)
            return -1;
        start++;
        len = (size_t) (close - start);
    }
    else {
        const char *colon = memchr (start, ':', len);
        if (colon)
            len = (size_t) (colon - start);
    }
    if (len == 0 || len >= domainlen)
        return -1;
    memcpy (domain, start, len);
    domain [len] = 0;
    while (len > 1 && domain [len - 1] == '.')
        domain [--len] = 0;
    for (size_t i = 0; i < len; i++)
        domain [i] = (char) tolower ((unsigned char) domain [i]);
    return 0;
}

// ---------------------------------------------------------------------------
//  The resolver

typedef struct _s_res_t s_res_t;

typedef struct {
    cw_zones_dns_t *owner;
    char key [CW_DNS_NAME_MAX + 8];
    uint16_t type;
    char name [CW_DNS_NAME_MAX];
    bool pending;
    int64_t stored_ms;    //  zclock_mono
    uint32_t ttl;         //  clamped
    char error [96];      //  the last query failed: why ("" = answered)
    cw_dns_rr_t records [CW_DNS_RECORDS_MAX];
    size_t count;
    zlistx_t *waiting;    //  s_res_t * waiting for the answer
} s_entry_t;

typedef enum {
    S_NAPTR,
    S_SRV,
    S_ADDR
} s_stage_t;

struct _s_res_t {
    cw_zones_dns_t *owner;
    cw_zones_targets_fn *fn;
    void *arg;
    json_t *steps;
    char zone [72];
    char transport [8];
    char domain [CW_DNS_NAME_MAX];
    int64_t started_ms;
    s_stage_t stage;
    char srv_names [S_SRV_NAMES_MAX][CW_DNS_NAME_MAX];
    char srv_tps [S_SRV_NAMES_MAX][8];
    size_t srv_count, srv_index;
    cw_dns_rr_t srv [CW_DNS_RECORDS_MAX];    //  the SRV records in the order to try
    size_t srv_n;
    char srv_tp [8];
    char error [240];    //  the last DNS error met
};

typedef struct {
    cw_zones_dns_t *owner;
    int fd;    //  -1: free
} s_fd_t;

struct _cw_zones_dns_t {
    cw_routing_t *routing;
    ares_channel channel;
    bool channel_ok;
    char default_servers [512];    //  those of /etc/resolv.conf, as "IP:PORT,..."
    char servers [512];            //  in use
    zhashx_t *cache;               //  key -> s_entry_t
    zlistx_t *resolutions;         //  s_res_t * in progress
    s_fd_t fds [S_FDS_MAX];
    bool querying;    //  inside ares_query: an answer now is taken by s_lookup
};

static void s_run (s_res_t *res);

static void
s_entry_free (void **item)
{
    s_entry_t *entry = *item;
    if (entry) {
        zlistx_destroy (&entry->waiting);
        free (entry);
    }
    *item = NULL;
}

static void
s_on_fd (int flags, void *arg)
{
    s_fd_t *slot = arg;
    cw_zones_dns_t *self = slot->owner;
    int fd = slot->fd;
    ares_process_fd (self->channel, (flags & FD_READ) ? fd : ARES_SOCKET_BAD,
                     (flags & FD_WRITE) ? fd : ARES_SOCKET_BAD);
    cw_actor_turn (cw_routing_actor (self->routing));    //  answers may have been sent
}

static void
s_on_sock_state (void *data, ares_socket_t fd, int readable, int writable)
{
    cw_zones_dns_t *self = data;
    s_fd_t *slot = NULL, *free_slot = NULL;
    for (int i = 0; i < S_FDS_MAX; i++) {
        if (self->fds [i].fd == fd)
            slot = &self->fds [i];
        else if (self->fds [i].fd < 0 && !free_slot)
            free_slot = &self->fds [i];
    }
    if (!readable && !writable) {
        if (slot) {
            fd_close (fd);
            slot->fd = -1;
        }
        return;
    }
    if (!slot)
        slot = free_slot;
    if (!slot) {
        cw_error ("zones dns: more than %d DNS sockets", S_FDS_MAX);
        return;
    }
    slot->fd = fd;
    int err = fd_listen (fd, (readable ? FD_READ : 0) | (writable ? FD_WRITE : 0), s_on_fd, slot);
    if (err)
        cw_error ("zones dns: cannot watch socket %d: %s", (int) fd, strerror (err));
}

//  The servers to use: dns.servers, else /etc/resolv.conf's
static void
s_servers_update (cw_zones_dns_t *self)
{
    json_t *configured = cw_routing_config (self->routing, "dns.servers");
    char wanted [512] = "";
    size_t used = 0;
    json_t *list = json_is_array (configured) ? json_incref (configured) : NULL;
    if (!list && json_is_string (configured)) {
        list = json_array ();
        char *copy = strdup (json_string_value (configured)), *save = NULL;
        for (char *item = copy ? strtok_r (copy, ",", &save) : NULL; item; item = strtok_r (NULL, ",", &save))
            json_array_append_new (list, json_string (item));
        free (copy);
    }
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        const char *text = json_string_value (item);
        if (!text || !*text)
            continue;
        struct sa sa;
        bool v6 = strchr (text, ':') && strchr (text, ':') != strrchr (text, ':') && text [0] != '[';
        if (v6 && sa_set_str (&sa, text, 53) == 0)    //  a bare IPv6 address
            used += (size_t) snprintf (wanted + used, sizeof wanted - used, "%s[%s]:53", used ? "," : "", text);
        else if (strchr (text, ':'))
            used += (size_t) snprintf (wanted + used, sizeof wanted - used, "%s%s", used ? "," : "", text);
        else
            used += (size_t) snprintf (wanted + used, sizeof wanted - used, "%s%s:53", used ? "," : "", text);
        if (used >= sizeof wanted)
            break;
    }
    json_decref (list);
    const char *servers = wanted [0] ? wanted : self->default_servers;
    if (strcmp (servers, self->servers) == 0)
        return;
    int status = ares_set_servers_ports_csv (self->channel, servers);
    if (status != ARES_SUCCESS) {
        cw_error ("zones dns: cannot use the DNS servers %s: %s", servers, ares_strerror (status));
        return;
    }
    cw_info ("zones dns: servers=%s", servers);
    cw_copy (self->servers, sizeof self->servers, servers);
    //  Answers of other servers are dropped (but those being asked)
    zlistx_t *keys = zhashx_keys (self->cache);
    for (const char *key = zlistx_first (keys); key; key = zlistx_next (keys)) {
        s_entry_t *entry = zhashx_lookup (self->cache, key);
        if (entry && !entry->pending)
            zhashx_delete (self->cache, key);
    }
    zlistx_destroy (&keys);
}

static void
s_on_answer (void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    (void) timeouts;
    if (status == ARES_EDESTRUCTION)
        return;
    s_entry_t *entry = arg;
    cw_zones_dns_t *self = entry->owner;
    entry->pending = false;
    entry->stored_ms = zclock_mono ();
    entry->count = 0;
    entry->error [0] = 0;
    uint32_t ttl = 0;
    int count = abuf ? cw_zones_dns_parse (abuf, alen, entry->type, entry->records, CW_DNS_RECORDS_MAX, &ttl) : -1;
    if (status == ARES_SUCCESS && count >= 0) {
        entry->count = (size_t) count;
        entry->ttl = cw_zones_dns_ttl (count ? ttl : ttl ? ttl : S_NEGATIVE_TTL_S);
    }
    else if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
        entry->ttl = cw_zones_dns_ttl (count >= 0 && ttl ? ttl : S_NEGATIVE_TTL_S);
    }
    else {
        snprintf (entry->error, sizeof entry->error, "%s",
                  status == ARES_SUCCESS ? "unreadable answer" : ares_strerror (status));
        entry->ttl = 0;    //  asked again next time
    }
    cw_debug ("zones dns: answer type=%u name=%s records=%zu ttl=%u error=\"%s\"", entry->type, entry->name,
              entry->count, entry->ttl, entry->error);
    if (self->querying)
        return;    //  answered at once (no server): s_lookup goes on
    //  Every resolution waiting on it goes on
    zlistx_t *waiting = entry->waiting;
    entry->waiting = zlistx_new ();
    for (s_res_t *res = zlistx_first (waiting); res; res = zlistx_next (waiting))
        if (zlistx_find (entry->owner->resolutions, res))
            s_run (res);
    zlistx_destroy (&waiting);
}

//  The entry of (TYPE, NAME) when it is answered and fresh; else NULL,
//  with it asked (or being asked) and RES waiting on it.
static s_entry_t *
s_lookup (cw_zones_dns_t *self, uint16_t type, const char *name, s_res_t *res)
{
    char key [CW_DNS_NAME_MAX + 8];
    snprintf (key, sizeof key, "%u %s", type, name);
    s_entry_t *entry = zhashx_lookup (self->cache, key);
    int64_t now = zclock_mono ();
    if (entry && !entry->pending
        && (entry->error [0] ? entry->stored_ms >= res->started_ms
                             : cw_zones_dns_fresh (entry->stored_ms, entry->ttl, now)))
        return entry;
    if (!entry) {
        entry = calloc (1, sizeof *entry);
        if (!entry)
            return NULL;
        entry->owner = self;
        cw_copy (entry->key, sizeof entry->key, key);
        entry->type = type;
        cw_copy (entry->name, sizeof entry->name, name);
        entry->waiting = zlistx_new ();
        zhashx_insert (self->cache, key, entry);
    }
    if (!zlistx_find (entry->waiting, res))
        zlistx_add_end (entry->waiting, res);
    if (!entry->pending) {
        entry->pending = true;
        cw_debug ("zones dns: query type=%u name=%s", type, name);
        self->querying = true;
        ares_query (self->channel, name, 1 /* C_IN */, type, s_on_answer, entry);
        self->querying = false;
        if (!entry->pending) {
            void *handle = zlistx_find (entry->waiting, res);
            if (handle)
                zlistx_delete (entry->waiting, handle);
            return entry;
        }
    }
    return NULL;
}

static const char *
s_type_name (uint16_t type)
{
    return type == CW_DNS_NAPTR ? "NAPTR" : type == CW_DNS_SRV ? "SRV" : type == CW_DNS_A ? "A" : "AAAA";
}

//  One step for ENTRY as RES used it
static void
s_step (s_res_t *res, const s_entry_t *entry)
{
    if (entry->error [0])
        snprintf (res->error, sizeof res->error, "DNS error for %s %.*s: %.*s", s_type_name (entry->type), 120,
                  entry->name, 80, entry->error);
    if (!res->steps)
        return;
    char query [CW_DNS_NAME_MAX + 8];
    snprintf (query, sizeof query, "%s %s", s_type_name (entry->type), entry->name);
    char result [1024];
    size_t used = 0;
    if (entry->error [0])
        used = (size_t) snprintf (result, sizeof result, "error: %s", entry->error);
    else if (!entry->count)
        used = (size_t) snprintf (result, sizeof result, "no record");
    for (size_t i = 0; !entry->error [0] && i < entry->count && used < sizeof result; i++) {
        const cw_dns_rr_t *rr = &entry->records [i];
        const char *sep = i ? ", " : "";
        if (rr->type == CW_DNS_NAPTR)
            used += (size_t) snprintf (result + used, sizeof result - used, "%s%u %u \"%s\" \"%s\" %s", sep, rr->order,
                                       rr->preference, rr->flags, rr->service, rr->replacement);
        else if (rr->type == CW_DNS_SRV)
            used += (size_t) snprintf (result + used, sizeof result - used, "%s%u %u %u %s", sep, rr->priority,
                                       rr->weight, rr->port, rr->target);
        else
            used += (size_t) re_snprintf (result + used, sizeof result - used, "%s%j", sep, &rr->addr);
    }
    if (used < sizeof result && !entry->error [0])
        snprintf (result + used, sizeof result - used, " (ttl %u s%s)", entry->ttl,
                  entry->stored_ms < res->started_ms ? ", cached" : "");
    json_array_append_new (res->steps, json_pack ("{s:s, s:s, s:s, s:s, s:s}", "step", "zone", "zone", res->zone,
                                                  "type", "dns", "query", query, "result", result));
}

//  RES out of the lists: in progress, and waiting on entries
static void
s_res_detach (s_res_t *res)
{
    cw_zones_dns_t *self = res->owner;
    for (s_entry_t *entry = zhashx_first (self->cache); entry; entry = zhashx_next (self->cache)) {
        void *handle = zlistx_find (entry->waiting, res);
        if (handle)
            zlistx_delete (entry->waiting, handle);
    }
    void *handle = zlistx_find (self->resolutions, res);
    if (handle)
        zlistx_delete (self->resolutions, handle);
}

static void
s_res_end (s_res_t *res, const cw_zone_target_t *targets, size_t count, const char *err)
{
    s_res_detach (res);
    res->fn (targets, count, err, res->arg);
    free (res);
}

static enum sip_transp
s_tp (const char *name)
{
    return strcmp (name, "tcp") == 0 ? SIP_TRANSP_TCP : strcmp (name, "tls") == 0 ? SIP_TRANSP_TLS : SIP_TRANSP_UDP;
}

static uint32_t
s_random (void *rng)
{
    (void) rng;
    return rand_u32 ();
}

//  The SRV names to ask after the NAPTR answer ENTRY
static void
s_srv_names (s_res_t *res, const s_entry_t *naptr)
{
    size_t picked [CW_DNS_RECORDS_MAX];
    size_t n = cw_zones_dns_naptr_select (naptr->records, naptr->count, res->transport, picked, CW_DNS_RECORDS_MAX);
    res->srv_count = 0;
    for (size_t i = 0; i < n && res->srv_count < S_SRV_NAMES_MAX; i++) {
        const cw_dns_rr_t *rr = &naptr->records [picked [i]];
        cw_copy (res->srv_names [res->srv_count], CW_DNS_NAME_MAX, rr->replacement);
        cw_copy (res->srv_tps [res->srv_count++], 8, cw_zones_dns_naptr_transport (rr->service));
    }
    if (res->srv_count)
        return;
    static const char *const prefixes [3][2] = { { "_sip._udp", "udp" },
                                                 { "_sip._tcp", "tcp" },
                                                 { "_sips._tcp", "tls" } };
    for (int i = 0; i < 3; i++) {
        if (strcmp (res->transport, "any") != 0 && strcmp (res->transport, prefixes [i][1]) != 0)
            continue;
        if (snprintf (res->srv_names [res->srv_count], CW_DNS_NAME_MAX, "%s.%.240s", prefixes [i][0], res->domain)
            >= CW_DNS_NAME_MAX)
            continue;
        cw_copy (res->srv_tps [res->srv_count++], 8, prefixes [i][1]);
    }
}

static void
s_run (s_res_t *res)
{
    cw_zones_dns_t *self = res->owner;
    if (res->stage == S_NAPTR) {
        s_entry_t *entry = s_lookup (self, CW_DNS_NAPTR, res->domain, res);
        if (!entry)
            return;
        s_step (res, entry);
        s_srv_names (res, entry);
        res->stage = S_SRV;
    }
    if (res->stage == S_SRV) {
        while (res->srv_index < res->srv_count) {
            s_entry_t *entry = s_lookup (self, CW_DNS_SRV, res->srv_names [res->srv_index], res);
            if (!entry)
                return;
            s_step (res, entry);
            if (entry->count) {
                res->srv_n = entry->count;
                memcpy (res->srv, entry->records, entry->count * sizeof entry->records [0]);
                cw_zones_dns_srv_order (res->srv, res->srv_n, s_random, NULL);
                cw_copy (res->srv_tp, sizeof res->srv_tp, res->srv_tps [res->srv_index]);
                break;
            }
            res->srv_index++;
        }
        if (!res->srv_n) {
            //  No SRV record: the domain's own A/AAAA records
            cw_copy (res->srv_tp, sizeof res->srv_tp, strcmp (res->transport, "any") ? res->transport : "udp");
            memset (&res->srv [0], 0, sizeof res->srv [0]);
            cw_copy (res->srv [0].target, sizeof res->srv [0].target, res->domain);
            res->srv [0].port = strcmp (res->srv_tp, "tls") == 0 ? 5061 : 5060;
            res->srv_n = 1;
        }
        res->stage = S_ADDR;
    }
    //  S_ADDR: every target's A and AAAA, asked together
    bool waiting = false;
    for (size_t i = 0; i < res->srv_n; i++) {
        waiting |= !s_lookup (self, CW_DNS_A, res->srv [i].target, res);
        waiting |= !s_lookup (self, CW_DNS_AAAA, res->srv [i].target, res);
    }
    if (waiting)
        return;
    cw_zone_target_t targets [CW_ZONES_TARGETS_MAX];
    size_t count = 0;
    for (size_t i = 0; i < res->srv_n; i++) {
        for (int family = 0; family < 2; family++) {
            s_entry_t *entry = s_lookup (self, family ? CW_DNS_AAAA : CW_DNS_A, res->srv [i].target, res);
            if (!entry)
                continue;
            s_step (res, entry);
            for (size_t r = 0; r < entry->count && count < CW_ZONES_TARGETS_MAX; r++) {
                cw_zone_target_t *target = &targets [count++];
                memset (target, 0, sizeof *target);
                target->addr = entry->records [r].addr;
                sa_set_port (&target->addr, res->srv [i].port);
                target->transport = s_tp (res->srv_tp);
                cw_copy (target->host, sizeof target->host, res->srv [i].target);
            }
        }
    }
    if (!count) {
        char why [300];
        if (res->error [0])
            snprintf (why, sizeof why, "%s", res->error);
        else
            snprintf (why, sizeof why, "no DNS record for %.250s", res->domain);
        s_res_end (res, NULL, 0, why);
        return;
    }
    s_res_end (res, targets, count, NULL);
}

void
cw_zones_dns_targets (cw_zones_dns_t *self, const char *zone, const char *transport, const char *alias,
                      cw_zones_targets_fn *fn, void *arg, json_t *steps)
{
    char domain [CW_DNS_NAME_MAX];
    if (cw_zones_dns_domain (alias, domain, sizeof domain) != 0) {
        fn (NULL, 0, "the alias has no domain to resolve", arg);
        return;
    }
    if (!self->channel_ok) {
        fn (NULL, 0, "the DNS resolver could not start", arg);
        return;
    }
    const char *tp_name = strcmp (transport, "any") ? transport : "udp";
    struct sa ip;
    if (sa_set_str (&ip, domain, strcmp (tp_name, "tls") == 0 ? 5061 : 5060) == 0) {
        cw_zone_target_t target;
        memset (&target, 0, sizeof target);
        target.addr = ip;
        target.transport = s_tp (tp_name);
        cw_copy (target.host, sizeof target.host, domain);
        if (steps)
            json_array_append_new (steps, json_pack ("{s:s, s:s, s:s, s:s, s:s}", "step", "zone", "zone", zone, "type",
                                                     "dns", "query", domain, "result", "an IP address: no DNS query"));
        fn (&target, 1, NULL, arg);
        return;
    }
    s_servers_update (self);
    s_res_t *res = calloc (1, sizeof *res);
    if (!res) {
        fn (NULL, 0, "out of memory", arg);
        return;
    }
    res->owner = self;
    res->fn = fn;
    res->arg = arg;
    res->steps = steps;
    cw_copy (res->zone, sizeof res->zone, zone);
    cw_copy (res->transport, sizeof res->transport, transport);
    cw_copy (res->domain, sizeof res->domain, domain);
    res->started_ms = zclock_mono ();
    res->stage = S_NAPTR;
    zlistx_add_end (self->resolutions, res);
    s_run (res);
}

void
cw_zones_dns_cancel (cw_zones_dns_t *self, void *arg)
{
    if (!self)
        return;
    for (;;) {
        s_res_t *found = NULL;
        for (s_res_t *res = zlistx_first (self->resolutions); res && !found; res = zlistx_next (self->resolutions))
            if (res->arg == arg)
                found = res;
        if (!found)
            return;
        s_res_detach (found);
        free (found);
    }
}

//  A resolution of one host's address (the keep-alive of a neighbour
//  address given by name) waits as a pseudo resolution: none is needed,
//  the cache entry is asked and looked at again later.
int
cw_zones_dns_host (cw_zones_dns_t *self, const char *host, uint16_t port, struct sa *addr, char *why, size_t whylen)
{
    if (!self->channel_ok) {
        snprintf (why, whylen, "the DNS resolver could not start");
        return -1;
    }
    s_servers_update (self);
    static s_res_t s_host_res;    //  never run: entries only keep it in their waiting lists
    s_host_res.owner = self;
    for (int family = 0; family < 2; family++) {
        s_entry_t *entry = s_lookup (self, family ? CW_DNS_AAAA : CW_DNS_A, host, &s_host_res);
        if (!entry)
            return 1;
        if (entry->count) {
            *addr = entry->records [0].addr;
            sa_set_port (addr, port);
            return 0;
        }
        if (family && entry->error [0]) {
            snprintf (why, whylen, "cannot resolve %s: %s", host, entry->error);
            return -1;
        }
    }
    snprintf (why, whylen, "cannot resolve %s: no A or AAAA record", host);
    return -1;
}

json_t *
cw_zones_dns_servers (cw_zones_dns_t *self)
{
    s_servers_update (self);
    json_t *list = json_array ();
    char copy [512];
    cw_copy (copy, sizeof copy, self->servers);
    char *save = NULL;
    for (char *item = strtok_r (copy, ",", &save); item; item = strtok_r (NULL, ",", &save))
        json_array_append_new (list, json_string (item));
    return list;
}

static void
s_on_tick (cw_routing_t *routing, int64_t now_ms, void *arg)
{
    (void) routing;
    (void) now_ms;
    cw_zones_dns_t *self = arg;
    if (self->channel_ok)
        ares_process_fd (self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);    //  timeouts
}

cw_zones_dns_t *
cw_zones_dns_new (cw_routing_t *routing, char *err, size_t errlen)
{
    cw_zones_dns_t *self = calloc (1, sizeof *self);
    if (!self) {
        cw_errorf (err, errlen, "zones: out of memory");
        return NULL;
    }
    self->routing = routing;
    for (int i = 0; i < S_FDS_MAX; i++) {
        self->fds [i].owner = self;
        self->fds [i].fd = -1;
    }
    self->cache = zhashx_new ();
    self->resolutions = zlistx_new ();
    if (!self->cache || !self->resolutions) {
        cw_errorf (err, errlen, "zones: out of memory");
        cw_zones_dns_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->cache, s_entry_free);
    int status = ares_library_init (ARES_LIB_INIT_ALL);
    struct ares_options options;
    memset (&options, 0, sizeof options);
    options.sock_state_cb = s_on_sock_state;
    options.sock_state_cb_data = self;
    options.timeout = S_TIMEOUT_MS;
    options.tries = S_TRIES;
    if (status == ARES_SUCCESS)
        status = ares_init_options (&self->channel, &options,
                                    ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (status != ARES_SUCCESS) {
        //  Not fatal: neighbour zones by IP still work; DNS zones say why
        cw_error ("zones dns: the resolver cannot start: %s", ares_strerror (status));
        cw_routing_on_tick (routing, s_on_tick, self);
        return self;
    }
    self->channel_ok = true;
    struct ares_addr_port_node *servers = NULL;
    if (ares_get_servers_ports (self->channel, &servers) == ARES_SUCCESS) {
        size_t used = 0;
        for (struct ares_addr_port_node *node = servers; node && used < sizeof self->default_servers;
             node = node->next) {
            char ip [64];
            inet_ntop (node->family, &node->addr, ip, sizeof ip);
            int port = node->udp_port ? node->udp_port : 53;
            used += (size_t) snprintf (self->default_servers + used, sizeof self->default_servers - used,
                                       node->family == AF_INET6 ? "%s[%s]:%d" : "%s%s:%d", used ? "," : "", ip, port);
        }
        ares_free_data (servers);
    }
    cw_copy (self->servers, sizeof self->servers, self->default_servers);
    cw_routing_on_tick (routing, s_on_tick, self);
    return self;
}

void
cw_zones_dns_destroy (cw_zones_dns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_zones_dns_t *self = *self_p;
    if (self->channel_ok)
        ares_destroy (self->channel);
    for (int i = 0; i < S_FDS_MAX; i++)
        if (self->fds [i].fd >= 0)
            fd_close (self->fds [i].fd);
    if (self->resolutions)
        for (s_res_t *res = zlistx_first (self->resolutions); res; res = zlistx_next (self->resolutions))
            free (res);
    zlistx_destroy (&self->resolutions);
    zhashx_destroy (&self->cache);
    ares_library_cleanup ();
    free (self);
    *self_p = NULL;
}
