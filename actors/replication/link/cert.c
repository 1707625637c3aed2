/*  cert.c - peer certificates (see cert.h for the rule they must pass).

    The name rule is OpenSSL's own matching (X509_check_ip_asc for IP
    literals, X509_check_host with X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS for
    FQDNs, which already falls back to the CN only when there is no DNS
    SAN). The chain rule is X509_verify_cert with the parameters a TLS
    server and a TLS client apply to their peer ("ssl_client" and
    "ssl_server": trust and purpose) and the links' verify depth, so the
    pre-check and the handshake cannot disagree.
*/
#include "cert.h"
#include "netaddr.h"
#include "cw_text.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VERIFY_DEPTH 8    //  as the links' TLS context

bool
cw_cert_names_peer (X509 *cert, const char *name)
{
    if (!cert || !name || !*name)
        return false;
    if (cw_ip_normalize (name, NULL, 0))
        return X509_check_ip_asc (cert, name, 0) == 1;
    return X509_check_host (cert, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

int
cw_cert_peer_check (X509 *cert, const char *name, char *reason, size_t size)
{
    if (cw_cert_names_peer (cert, name))
        return 0;
    if (cw_ip_normalize (name, NULL, 0))
        snprintf (reason, size, "certificate SAN does not contain IP %s", name);
    else
        snprintf (reason, size, "certificate SAN/CN does not contain %s", name ? name : "");
    return -1;
}

void
cw_cert_names (X509 *cert, char *buf, size_t size, json_t *names)
{
    buf [0] = 0;
    GENERAL_NAMES *sans = X509_get_ext_d2i (cert, NID_subject_alt_name, NULL, NULL);
    int count = sans ? sk_GENERAL_NAME_num (sans) : 0;
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value (sans, i);
        if (name->type != GEN_DNS)
            continue;
        const unsigned char *data = ASN1_STRING_get0_data (name->d.dNSName);
        int len = ASN1_STRING_length (name->d.dNSName);
        size_t used = strlen (buf);
        snprintf (buf + used, size - used, "%s%.*s", used ? ", " : "", len, (const char *) data);
        if (names)
            json_array_append_new (names, json_stringn ((const char *) data, (size_t) len));
    }
    GENERAL_NAMES_free (sans);
    if (!*buf) {
        char cn [256] = "";
        X509_NAME_get_text_by_NID (X509_get_subject_name (cert), NID_commonName, cn, sizeof (cn));
        if (*cn) {
            snprintf (buf, size, "CN %s", cn);
            if (names)
                json_array_append_new (names, json_string (cn));
        }
    }
    ERR_clear_error ();
}

//  One X509_verify_cert as the TLS side USE ("ssl_client": a server
//  checking its client; "ssl_server": a client checking its server).
static int
s_verify_as (X509_STORE *store, X509 *cert, STACK_OF (X509) * chain, const char *use, const char *ca_file, char *reason,
             size_t size)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
    int rc = -1;
    if (!ctx)
        snprintf (reason, size, "out of memory");
    else if (X509_STORE_CTX_init (ctx, store, cert, chain) != 1 || X509_STORE_CTX_set_default (ctx, use) != 1)
        snprintf (reason, size, "cannot set up the certificate check");
    else {
        X509_VERIFY_PARAM_set_depth (X509_STORE_CTX_get0_param (ctx), S_VERIFY_DEPTH);
        if (X509_verify_cert (ctx) == 1)
            rc = 0;
        else {
            int error = X509_STORE_CTX_get_error (ctx);
            if (error == X509_V_ERR_INVALID_PURPOSE)
                snprintf (reason, size,
                          "certificate is not valid for TLS %s authentication "
                          "(its key usage does not allow it)",
                          strcmp (use, "ssl_client") == 0 ? "client" : "server");
            else
                snprintf (reason, size, "certificate does not chain to the trusted CAs (%s): %s", ca_file,
                          X509_verify_cert_error_string (error));
        }
    }
    X509_STORE_CTX_free (ctx);
    return rc;
}

int
cw_cert_verify_chain (X509 *cert, STACK_OF (X509) * chain, const char *ca_file, char *reason, size_t size)
{
    if (!ca_file || !*ca_file) {
        snprintf (reason, size, "peering.ca_file is not set: no trusted CA to verify the certificate");
        return -1;
    }
    X509_STORE *store = X509_STORE_new ();
    int rc = -1;
    if (!store)
        snprintf (reason, size, "out of memory");
    else if (X509_STORE_load_file (store, ca_file) != 1) {
        unsigned long e = ERR_get_error ();
        snprintf (reason, size, "cannot load the trusted CAs from %s: %s", ca_file,
                  e ? ERR_reason_error_string (e) : "no certificate in it");
    }
    else if (s_verify_as (store, cert, chain, "ssl_client", ca_file, reason, size) == 0
             && s_verify_as (store, cert, chain, "ssl_server", ca_file, reason, size) == 0)
        rc = 0;
    X509_STORE_free (store);
    ERR_clear_error ();
    return rc;
}

//  The PEM text of CERT, malloc'd, or NULL.
static char *
s_pem_of (X509 *cert)
{
    char *text = NULL;
    BIO *out = BIO_new (BIO_s_mem ());
    if (out && PEM_write_bio_X509 (out, cert) == 1) {
        char *data = NULL;
        long len = BIO_get_mem_data (out, &data);
        text = strndup (data, (size_t) len);
    }
    BIO_free (out);
    return text;
}

json_t *
cw_cert_check (const char *cert_file, const char *pem, const char *ca_file, const char *name, bool with_pem)
{
    char reason [512] = "";
    json_t *names = json_array ();
    char *leaf_pem = NULL;
    BIO *bio = pem ? BIO_new_mem_buf (pem, -1) : cert_file && *cert_file ? BIO_new_file (cert_file, "r") : NULL;
    X509 *cert = bio ? PEM_read_bio_X509 (bio, NULL, NULL, NULL) : NULL;
    STACK_OF (X509) *chain = sk_X509_new_null ();
    if (!cert) {
        if (pem)
            snprintf (reason, sizeof (reason), "no certificate in what the peer sent");
        else if (!cert_file || !*cert_file)
            snprintf (reason, sizeof (reason), "peering.certificate is not set in the bootstrap file");
        else
            snprintf (reason, sizeof (reason), "cannot read a PEM certificate from %s", cert_file);
    }
    else {
        X509 *extra;
        while (chain && (extra = PEM_read_bio_X509 (bio, NULL, NULL, NULL)) != NULL)
            sk_X509_push (chain, extra);
        char shown [512];
        cw_cert_names (cert, shown, sizeof (shown), names);
        if (cw_cert_verify_chain (cert, chain, ca_file, reason, sizeof (reason)) == 0
            && !cw_cert_names_peer (cert, name)) {
            if (!name || !*name)
                snprintf (reason, sizeof (reason), "no FQDN to check the certificate against");
            else
                snprintf (reason, sizeof (reason),
                          "certificate SAN does not contain %s%.200s "
                          "(it names: %.200s)",
                          cw_ip_normalize (name, NULL, 0) ? "IP " : "", name, *shown ? shown : "nothing");
        }
        if (with_pem)
            leaf_pem = s_pem_of (cert);
    }
    ERR_clear_error ();
    sk_X509_pop_free (chain, X509_free);
    X509_free (cert);
    BIO_free (bio);
    json_t *result = json_pack ("{s:b, s:s, s:o}", "ok", *reason == 0, "reason", *reason ? reason : "ok", "names",
                                names);
    if (leaf_pem)
        json_object_set_new (result, "certificate", json_string (leaf_pem));
    free (leaf_pem);
    return result;
}

int
cw_cert_fingerprint (X509 *cert, char out [65])
{
    out [0] = 0;
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!cert || !X509_digest (cert, EVP_sha256 (), md, &len) || len != 32) {
        ERR_clear_error ();
        return -1;
    }
    static const char hex [] = "0123456789abcdef";
    for (unsigned int i = 0; i < len; i++) {
        out [2 * i] = hex [md [i] >> 4];
        out [2 * i + 1] = hex [md [i] & 15];
    }
    out [64] = 0;
    return 0;
}

int
cw_cert_fingerprint_file (const char *file, char out [65], char *err, size_t errlen)
{
    out [0] = 0;
    FILE *in = file ? fopen (file, "r") : NULL;
    if (!in) {
        snprintf (err, errlen, "cannot read the certificate %s: %s", file ? file : "(none)",
                  strerror (file ? errno : EINVAL));
        return -1;
    }
    X509 *cert = PEM_read_X509 (in, NULL, NULL, NULL);
    fclose (in);
    if (!cert) {
        ERR_clear_error ();
        snprintf (err, errlen, "%s holds no PEM certificate", file);
        return -1;
    }
    int rc = cw_cert_fingerprint (cert, out);
    X509_free (cert);
    if (rc)
        snprintf (err, errlen, "cannot hash the certificate %s", file);
    return rc;
}
