/*  cw_bootstrap.h - the bootstrap file (libconfig), loaded by every process.

    cw_bootstrap_load reads the file, checks every value, and fills a plain
    struct. A syntax error gives "FILE:LINE: message"; a bad value gives
    "FILE:LINE: key 'supervisor.intensity': must be an integer 1..1000
    (got 0)". Unknown keys are reported through the warning callback (never
    silently ignored). Relative paths in node.runtime_dir / node.state_dir
    are taken relative to the directory of the file. "${runtime_dir}" and
    "${state_dir}" in endpoints and paths are replaced by those folders; any
    other "${...}" is an error naming it.

    A file whose values would break the node is refused the same way:
    node.runtime_dir / state_dir the filesystem root, in /proc, /sys or /dev
    (a folder under /dev/shm is fine), or a file; an endpoint that is not
    ipc://ABSOLUTE-PATH (at most 107 characters, in a folder that exists or
    that causewayd creates, not an existing non-socket file) or
    tcp://HOST:PORT (HOST an IPv4 address, or for a socket only bound, * or
    a network interface; PORT 1..65535); two endpoints of the node (control,
    curve, alarms.publish, the broker in runtime_dir, peering.address with
    peering.port) that would bind the same socket; peering.address that is
    not a unicast IPv4 or IPv6 literal; with peering.address set, an empty
    certificate or private_key, or any of the three TLS files a folder; an
    actor path that is missing or not executable. Paths that cannot be
    looked at (permissions) are left for the process that uses them.

    sip.listen is a list of at most 16 "TRANSPORT:IP:PORT" strings
    (TRANSPORT udp, tcp or tls; IP an IPv4 or IPv6 literal, IPv6 in
    brackets: "tls:[2001:db8::1]:5061"; PORT 1..65535), no two the same
    socket (tcp and tls share TCP ports). With a tls: listener,
    sip.certificate and sip.private_key must name existing PEM files.
    No sip section, or an empty list: the routing actor listens nowhere.
*/
#ifndef CW_BOOTSTRAP_H
#define CW_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>

#define CW_DEFAULT_CONFIG "/etc/causeway/causeway.conf"
#define CW_MAX_ACTORS 16
#define CW_MAX_PUBLISH 8
#define CW_MAX_ISSUERS 16
#define CW_MAX_SIP_LISTENERS 16
#define CW_MAX_WEB_LISTENERS 8
#define CW_MAX_METRICS_ALLOW 16

//  One SIP listener of sip.listen
typedef struct {
    char transport [4];    //  "udp" | "tcp" | "tls"
    char address [64];     //  the IP literal, IPv6 without brackets
    int port;
} cw_sip_listener_t;

//  One address of webadmin.listen or webadmin.redirect: "IP:PORT"
typedef struct {
    char address [64];    //  the IP literal, IPv6 without brackets
    int port;
} cw_web_listener_t;

typedef enum {
    CW_RESTART_PERMANENT = 0,    //  always restarted
    CW_RESTART_TRANSIENT,        //  restarted only after an abnormal exit
    CW_RESTART_TEMPORARY         //  never restarted
} cw_restart_t;

typedef struct {
    char *name;    //  actor name: "alarms"
    cw_restart_t restart;
    int shutdown_timeout_ms;
    char *path;    //  executable; NULL = causeway-<name> beside causewayd
} cw_child_spec_t;

typedef struct {
    char *file;    //  absolute path of the file loaded
    struct {
        char *name;           //  node.name, the default system name
        char *type;           //  "core" | "edge"
        char *runtime_dir;    //  absolute
        char *state_dir;      //  absolute
        char *log_level;      //  "error|warn|info|debug"
    } node;
    struct {
        char *endpoint;          //  ipc://.../control
        char *curve_endpoint;    //  "" = off; tcp://IP:PORT
        char *authorized_keys_dir;
        char *broker_endpoint;    //  internal: ipc://<runtime_dir>/broker
    } control;
    struct {
        char *publish [CW_MAX_PUBLISH];
        int publish_count;
        int heartbeat_ms;
    } alarms;
    struct {
        int intensity;
        int period_s;
        int heartbeat_ms;
        int heartbeat_misses;
        int shutdown_timeout_ms;
        int request_timeout_ms;    //  how long a relayed request waits for a restarting actor
    } supervisor;
    struct {
        char *address;    //  "" = not clustered on this node
        int port;         //  4371
        int port2;        //  4372
        char *certificate;
        char *private_key;
        char *ca_file;
    } peering;
    struct {
        char *issuers [CW_MAX_ISSUERS];    //  absolute paths of issuer.pub files, each checked at load
        int issuer_count;
        int lost_peer_grace_s;    //  how long a lost peer's licenses stay in the pool (259200)
    } licensing;
    struct {
        cw_sip_listener_t listen [CW_MAX_SIP_LISTENERS];
        int listen_count;     //  0 = no SIP listener
        char *certificate;    //  absolute; "" = none (needed with a tls: listener)
        char *private_key;
    } sip;
    struct {
        cw_web_listener_t listen [CW_MAX_WEB_LISTENERS];    //  HTTPS; 0 = no web server
        int listen_count;
        cw_web_listener_t redirect [CW_MAX_WEB_LISTENERS];    //  plain HTTP, only redirects to HTTPS
        int redirect_count;
        char *certificate;    //  absolute; needed (and checked) with a listen address
        char *private_key;
        char *metrics_allow [CW_MAX_METRICS_ALLOW];    //  IP literals that may read /metrics (loopback)
        int metrics_allow_count;
    } webadmin;
    cw_child_spec_t actors [CW_MAX_ACTORS];
    int actor_count;
} cw_bootstrap_t;

typedef void (cw_bootstrap_warn_fn) (const char *message, void *arg);

//  Load and validate FILE. Returns a new bootstrap or NULL with the reason
//  in ERR. WARN (may be NULL = log at warn level) gets unknown-key warnings.
cw_bootstrap_t *cw_bootstrap_load (const char *file, char *err, size_t errlen, cw_bootstrap_warn_fn *warn,
                                   void *warn_arg);
void cw_bootstrap_destroy (cw_bootstrap_t **self_p);
//  The spec of actor NAME, or NULL.
const cw_child_spec_t *cw_bootstrap_actor (const cw_bootstrap_t *self, const char *name);
const char *cw_restart_name (cw_restart_t restart);

#endif
