/*  tls.h - the one TLS context set-up of the peer connections, used by the
    managed links (peerlink.c) and by the one-shot dial (dial.c).

    A context holds this peer's own certificate chain and private key and,
    when given, the trusted CAs. It speaks TLS 1.2 or later only, forward-
    secret AEAD ciphers on TLS 1.2 (TLS 1.3 keeps OpenSSL's defaults), no
    compression, renegotiation, tickets or session cache. The same context
    serves as client or server: each SSL object picks its side
    (SSL_set_connect_state / SSL_set_accept_state).

    Verification modes:
      NONE        the peer's certificate is not requested from clients and
                  not checked when a server presents one (the one-shot dial
                  pins the server's fingerprint instead);
      PERMISSIVE  requested and presented both ways, never verified;
      ENFORCE     required both ways and verified against ca_file during
                  the handshake (a failure ends the handshake). Whether it
                  names the right peer is checked afterwards
                  (cw_cert_peer_check), once the peer is known.
*/
#ifndef CW_TLS_H
#define CW_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

typedef enum {
    CW_TLS_VERIFY_NONE = 0,
    CW_TLS_VERIFY_PERMISSIVE = 1,
    CW_TLS_VERIFY_ENFORCE = 2
} cw_tls_verify_t;

typedef struct {
    const char *certificate;    //  PEM certificate chain file (leaf first), required
    const char *private_key;    //  PEM private key file, required
    const char *ca_file;        //  PEM trusted CAs; NULL or "" = none (required by ENFORCE)
    cw_tls_verify_t verify;
} cw_tls_config_t;

//  A new TLS context (owned by the caller: SSL_CTX_free). On failure NULL
//  with ERR naming the cause, e.g. "peering certificate file '<f>' cannot
//  be read: no such file or directory", "cannot load peering certificate
//  '<f>': <why>", "peering private key '<k>' does not match certificate
//  '<c>'", "cannot load peering ca_file '<f>': <why>". Every such failure
//  is in the files, so retrying cannot help.
SSL_CTX *cw_tls_context_new (const cw_tls_config_t *cfg, char *err, size_t errlen);

//  Why an SSL call failed, into BUF, from SSL_ERROR (SSL_get_error's code
//  for it), errno and the thread's OpenSSL error queue (then cleared):
//  "connection closed by peer" for a clean close or an end of file, the
//  system's reason in lower case ("connection reset by peer") for a socket
//  error, else OpenSSL's reason, FALLBACK when it gives none.
void cw_tls_failure (int ssl_error, const char *fallback, char *buf, size_t size);

//  The text of the last OpenSSL error into BUF (FALLBACK when there is
//  none); clears the thread's OpenSSL error queue.
void cw_tls_error (char *buf, size_t size, const char *fallback);

#endif
