/*  cw_control.h - a client of the control protocol (the CLI, tests, bench).

    The protocol: a REQ (or DEALER) client sends three frames
        "CW1", COMMAND, JSON-ARGS
    and receives three frames
        "CW1", "ok" | "error", JSON-BODY
    An error body is {"error": "<message a person can read>"}.

    cw_control_new connects to ENDPOINT (ipc:// or tcp://). For a CURVE
    endpoint pass the server's public key (Z85) and a client certificate
    file (zcert format, secret part); both NULL for plain endpoints.
    cw_control_call waits at most timeout_ms; after a timeout the socket is
    rebuilt so the client stays usable.
*/
#ifndef CW_CONTROL_H
#define CW_CONTROL_H

#include <jansson.h>

#define CW_CONTROL_SIGNATURE "CW1"
//  The largest JSON arguments a request may carry, in bytes. causewayd
//  closes the connection of a client that sends a larger frame;
//  cw_control_call refuses to send one.
#define CW_CONTROL_MAX_REQUEST (1024 * 1024)

typedef struct _cw_control_t cw_control_t;

typedef enum {
    CW_CALL_OK = 0,            //  reply "ok"; *reply is the body
    CW_CALL_ERROR = 1,         //  reply "error"; *reply is {"error": ...}
    CW_CALL_UNREACHABLE = 3    //  no reply within the timeout, or bad reply; see ERR
} cw_call_status_t;

cw_control_t *cw_control_new (const char *endpoint, const char *server_public_key, const char *client_cert_file,
                              int timeout_ms, char *err, size_t errlen);
void cw_control_destroy (cw_control_t **self_p);
//  Send COMMAND with ARGS (borrowed; NULL = {}). On OK/ERROR *REPLY is a
//  new JSON object owned by the caller. Arguments over
//  CW_CONTROL_MAX_REQUEST bytes are not sent: CW_CALL_ERROR, "request too
//  large: N bytes, the limit is M".
cw_call_status_t cw_control_call (cw_control_t *self, const char *command, json_t *args, json_t **reply, char *err,
                                  size_t errlen);
const char *cw_control_endpoint (cw_control_t *self);

#endif
