/*  cert.h - peer certificates: the one rule "this certificate names this
    peer", chain verification against the trusted CAs, the enforce-tls
    pre-check, and SHA-256 fingerprints.

    The rule a peer's certificate must pass, applied by the links in
    ENFORCE mode (peerlink.h) and by the pre-check before TLS is enforced
    (cw_cert_check), so the pre-check approves exactly what the links
    accept:
      - it chains to a CA in the trusted CA file, and is usable for TLS
        both as a server and as a client (each peer is both);
      - it names the peer's configured address: an IP literal must be an
        IP SAN; an FQDN must match a DNS SAN, or the subject CN only when
        the certificate has no DNS SAN. A wildcard counts only as a whole
        left-most label ("*.example.com" names "www.example.com", never
        "a.www.example.com"); partial wildcards ("w*.example.com") name
        nothing.
*/
#ifndef CW_CERT_H
#define CW_CERT_H

#include <jansson.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

//  True when CERT names the peer whose configured address is NAME (see
//  the rule above). False for a NULL or empty NAME.
bool cw_cert_names_peer (X509 *cert, const char *name);

//  cw_cert_names_peer as the links report it: 0, or -1 with REASON
//  "certificate SAN does not contain IP <name>" (IP literal) or
//  "certificate SAN/CN does not contain <name>" (FQDN).
int cw_cert_peer_check (X509 *cert, const char *name, char *reason, size_t size);

//  The names CERT carries: its DNS SANs, else "CN <cn>", comma-separated
//  into BUF ("" when none). Each name is also appended to NAMES (a JSON
//  array; the bare CN for the fallback) when NAMES is not NULL.
void cw_cert_names (X509 *cert, char *buf, size_t size, json_t *names);

//  Verify CERT, with the untrusted intermediates CHAIN (may be NULL),
//  against the CAs in CA_FILE, for TLS server and client use. Returns 0,
//  or -1 with REASON (no CA file, CA file unreadable, does not chain,
//  wrong purpose).
int cw_cert_verify_chain (X509 *cert, STACK_OF (X509) * chain, const char *ca_file, char *reason, size_t size);

//  The enforce-tls pre-check: the certificate chain in PEM text (leaf
//  first), or in the file CERT_FILE when PEM is NULL, against CA_FILE and
//  NAME (the peer's configured address), by exactly the rule the links
//  apply. Returns a new object owned by the caller:
//      {"ok": bool, "reason": "ok" | why, "names": [names the leaf carries],
//       "certificate": PEM of the leaf (only when WITH_PEM and it parsed)}
//  Reasons: "no certificate in what the peer sent", "peering.certificate
//  is not set in the bootstrap file", "cannot read a PEM certificate from
//  <file>", those of cw_cert_verify_chain, "no FQDN to check the
//  certificate against" (no NAME), "certificate SAN does not contain
//  <name> (it names: <names>)" ("... contain IP <ip> ..." for an IP
//  literal).
json_t *cw_cert_check (const char *cert_file, const char *pem, const char *ca_file, const char *name, bool with_pem);

//  SHA-256 fingerprint of CERT (DER) as 64 lowercase hex characters and a
//  NUL into OUT. Returns 0, or -1 (OUT "") when CERT is NULL or hashing
//  fails.
int cw_cert_fingerprint (X509 *cert, char out [65]);

//  The fingerprint of the first certificate in the PEM file FILE. Returns
//  0, or -1 with ERR: "cannot read the certificate <file>: <errno text>",
//  "<file> holds no PEM certificate", "cannot hash the certificate <file>".
int cw_cert_fingerprint_file (const char *file, char out [65], char *err, size_t errlen);

#endif
