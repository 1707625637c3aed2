/*  tls.c - the one TLS context set-up of the peer connections (see tls.h).

    Files are checked for readability first, so that a missing or
    unreadable file is reported by its name and the system's reason rather
    than by an OpenSSL error code; then OpenSSL loads them and its reason
    is reported when it refuses one.
*/
#include "tls.h"
#include "netaddr.h"
#include "cw_text.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void
cw_tls_error (char *buf, size_t size, const char *fallback)
{
    unsigned long e = ERR_peek_last_error ();
    const char *text = e ? ERR_reason_error_string (e) : NULL;
    cw_copy (buf, size, text ? text : fallback);
    ERR_clear_error ();
}

void
cw_tls_failure (int ssl_error, const char *fallback, char *buf, size_t size)
{
    int error = errno;
    if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error () == 0 && error == 0))
        cw_copy (buf, size, "connection closed by peer");
    else if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error () == 0)
        cw_errno_text (error, buf, size);
    else
        cw_tls_error (buf, size, fallback);
    ERR_clear_error ();
}

static int
s_verify_any (int preverify_ok, X509_STORE_CTX *store)
{
    (void) preverify_ok;
    (void) store;
    return 1;    //  permissive: present, never verify
}

static int
s_file_check (const char *what, const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        snprintf (err, errlen, "peering %s is not configured", what);
        return -1;
    }
    if (access (path, R_OK) != 0) {
        char text [128];
        cw_errno_text (errno, text, sizeof (text));
        snprintf (err, errlen, "peering %s file '%s' cannot be read: %s", what, path, text);
        return -1;
    }
    return 0;
}

//  This peer's certificate chain and key, and that they match.
static int
s_load_own (SSL_CTX *ctx, const cw_tls_config_t *cfg, char *err, size_t errlen)
{
    char text [256];
    if (SSL_CTX_use_certificate_chain_file (ctx, cfg->certificate) != 1) {
        cw_tls_error (text, sizeof (text), "invalid PEM");
        snprintf (err, errlen, "cannot load peering certificate '%s': %s", cfg->certificate, text);
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file (ctx, cfg->private_key, SSL_FILETYPE_PEM) != 1) {
        cw_tls_error (text, sizeof (text), "invalid PEM");
        if (strstr (text, "mismatch"))
            snprintf (err, errlen, "peering private key '%s' does not match certificate '%s'", cfg->private_key,
                      cfg->certificate);
        else
            snprintf (err, errlen, "cannot load peering private key '%s': %s", cfg->private_key, text);
        return -1;
    }
    if (SSL_CTX_check_private_key (ctx) != 1) {
        ERR_clear_error ();
        snprintf (err, errlen, "peering private key '%s' does not match certificate '%s'", cfg->private_key,
                  cfg->certificate);
        return -1;
    }
    return 0;
}

SSL_CTX *
cw_tls_context_new (const cw_tls_config_t *cfg, char *err, size_t errlen)
{
    char text [256];
    if (s_file_check ("certificate", cfg->certificate, err, errlen)
        || s_file_check ("private_key", cfg->private_key, err, errlen))
        return NULL;
    bool have_ca = cfg->ca_file && *cfg->ca_file;
    if ((have_ca || cfg->verify == CW_TLS_VERIFY_ENFORCE) && s_file_check ("ca_file", cfg->ca_file, err, errlen))
        return NULL;

    ERR_clear_error ();
    SSL_CTX *ctx = SSL_CTX_new (TLS_method ());
    if (!ctx) {
        cw_tls_error (text, sizeof (text), "out of memory");
        snprintf (err, errlen, "cannot create the TLS context: %s", text);
        return NULL;
    }
    SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
    SSL_CTX_set_options (ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET
                                  | SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode (ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets (ctx, 0);
    SSL_CTX_set_mode (ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    //  TLS 1.2: forward secrecy and AEAD only; TLS 1.3 keeps its defaults
    SSL_CTX_set_cipher_list (ctx, "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL");

    if (s_load_own (ctx, cfg, err, errlen))
        goto fail;
    if (have_ca) {
        if (SSL_CTX_load_verify_locations (ctx, cfg->ca_file, NULL) != 1) {
            cw_tls_error (text, sizeof (text), "invalid PEM");
            snprintf (err, errlen, "cannot load peering ca_file '%s': %s", cfg->ca_file, text);
            goto fail;
        }
        STACK_OF (X509_NAME) *names = SSL_load_client_CA_file (cfg->ca_file);
        if (names)
            SSL_CTX_set_client_CA_list (ctx, names);
        ERR_clear_error ();
    }
    if (cfg->verify == CW_TLS_VERIFY_ENFORCE)
        SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    else if (cfg->verify == CW_TLS_VERIFY_PERMISSIVE)
        SSL_CTX_set_verify (ctx, SSL_VERIFY_PEER, s_verify_any);
    else
        SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_verify_depth (ctx, 8);
    return ctx;
fail:
    SSL_CTX_free (ctx);
    return NULL;
}
