/*  test_link.c - tests of the link layer's building blocks (actors/
    replication/link/): the frame codec (frame.h), the certificate rule and
    checks (cert.h), the output queue of a TLS stream (tlsio.h: a frame
    whose blob is gathered from several ranges, as the links' chunks are),
    and the one-shot dial (dial.h) against a small TLS server in a thread
    of this process.

    Certificates: the CA and peer certificates of tests/integration/
    make_certs.sh, plus certificates made here with the OpenSSL API (a CN
    without SAN, wildcards, a server-only key usage), signed by that CA
    when a chain matters. Fingerprints are compared with what the openssl
    command prints, an implementation independent of cert.c.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cert.h"
#include "cw_log.h"
#include "dial.h"
#include "frame.h"
#include "peerlink.h"
#include "tls.h"
#include "tlsio.h"

static char s_certs [256];    //  directory of the test certificates

static void
s_path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", s_certs, name);
}

//  ---------------------------------------------------------------------
//  Certificates made here

static X509 *s_ca;    //  make_certs.sh's CA
static EVP_PKEY *s_ca_key;

static X509 *
s_read_cert (const char *name)
{
    char path [512];
    s_path (path, sizeof (path), name);
    FILE *in = fopen (path, "r");
    assert_non_null (in);
    X509 *cert = PEM_read_X509 (in, NULL, NULL, NULL);
    fclose (in);
    assert_non_null (cert);
    return cert;
}

static void
s_add_ext (X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb (&ctx);
    X509V3_set_ctx (&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid (NULL, &ctx, nid, value);
    assert_non_null (ext);
    assert_int_equal (X509_add_ext (cert, ext, -1), 1);
    X509_EXTENSION_free (ext);
}

//  A leaf certificate with this CN and SAN (NULL = no SAN extension) and
//  extendedKeyUsage EKU, signed by the test CA, or self-signed when
//  SELF_SIGNED.
static X509 *
s_make_cert (const char *cn, const char *san, const char *eku, bool self_signed)
{
    static long serial = 1000;
    EVP_PKEY *key = EVP_EC_gen ("P-256");
    assert_non_null (key);
    X509 *cert = X509_new ();
    X509_set_version (cert, 2);
    ASN1_INTEGER_set (X509_get_serialNumber (cert), serial++);
    X509_gmtime_adj (X509_getm_notBefore (cert), -3600);
    X509_gmtime_adj (X509_getm_notAfter (cert), 86400);
    X509_set_pubkey (cert, key);
    X509_NAME *name = X509_get_subject_name (cert);
    X509_NAME_add_entry_by_txt (name, "O", MBSTRING_ASC, (const unsigned char *) "Causeway tests", -1, -1, 0);
    X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
    X509 *issuer = self_signed ? cert : s_ca;
    X509_set_issuer_name (cert, X509_get_subject_name (issuer));
    s_add_ext (cert, issuer, NID_basic_constraints, "CA:FALSE");
    s_add_ext (cert, issuer, NID_key_usage, "critical,digitalSignature");
    s_add_ext (cert, issuer, NID_ext_key_usage, eku ? eku : "serverAuth,clientAuth");
    if (san)
        s_add_ext (cert, issuer, NID_subject_alt_name, san);
    assert_true (X509_sign (cert, self_signed ? key : s_ca_key, EVP_sha256 ()) > 0);
    EVP_PKEY_free (key);
    return cert;
}

static char *
s_pem (X509 *cert)
{
    BIO *out = BIO_new (BIO_s_mem ());
    assert_int_equal (PEM_write_bio_X509 (out, cert), 1);
    char *data = NULL;
    long len = BIO_get_mem_data (out, &data);
    char *text = strndup (data, (size_t) len);
    BIO_free (out);
    return text;
}

//  ---------------------------------------------------------------------
//  Frames

static void
test_frame_round_trip (void **state)
{
    (void) state;
    json_t *json = json_pack ("{s:s, s:i}", "hello", "w\u00f6rld", "n", 42);
    const char blob [] = "\x00\x01\x02 opaque \xff";
    uint8_t *bytes;
    size_t size;
    uint64_t corr = 0x0102030405060708ULL;
    assert_int_equal (cw_frame_encode (7, corr, json, blob, sizeof (blob), &bytes, &size), 0);
    char *text = json_dumps (json, JSON_COMPACT);
    assert_int_equal (size, CW_FRAME_HEADER + strlen (text) + sizeof (blob));
    //  The documented layout, byte by byte
    uint32_t rest = (uint32_t) (size - 4);
    assert_int_equal (bytes [0], rest >> 24);
    assert_int_equal (bytes [3], rest & 0xff);
    assert_int_equal (bytes [4], 1);
    assert_int_equal (bytes [5], 7);
    assert_int_equal (bytes [6], 0x01);
    assert_int_equal (bytes [13], 0x08);
    assert_int_equal (bytes [17], strlen (text));

    cw_frame_t frame;
    char what [128];
    //  Every prefix is incomplete; the whole is one frame
    for (size_t n = 0; n < size; n++)
        assert_int_equal (cw_frame_decode (bytes, n, 0, &frame, what, sizeof (what)), CW_FRAME_INCOMPLETE);
    assert_int_equal (cw_frame_decode (bytes, size, 0, &frame, what, sizeof (what)), CW_FRAME_COMPLETE);
    assert_int_equal (frame.type, 7);
    assert_true (frame.corr == corr);
    assert_int_equal (frame.size, size);
    assert_int_equal (frame.json_len, strlen (text));
    assert_memory_equal (frame.json, text, frame.json_len);
    assert_int_equal (frame.blob_len, sizeof (blob));
    assert_memory_equal (frame.blob, blob, sizeof (blob));
    json_t *back = NULL;
    assert_int_equal (cw_frame_json (&frame, &back, what, sizeof (what)), 0);
    assert_true (json_equal (back, json));
    json_decref (back);

    //  Two frames back to back, then the start of a third
    uint8_t *empty;
    size_t empty_size;
    assert_int_equal (cw_frame_encode (200, UINT64_MAX, NULL, NULL, 0, &empty, &empty_size), 0);
    assert_int_equal (empty_size, CW_FRAME_HEADER);
    uint8_t *stream = malloc (size + empty_size + 3);
    memcpy (stream, empty, empty_size);
    memcpy (stream + empty_size, bytes, size);
    memcpy (stream + empty_size + size, bytes, 3);
    size_t off = 0;
    assert_int_equal (cw_frame_decode (stream, size + empty_size + 3, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (frame.type, 200);
    assert_true (frame.corr == UINT64_MAX);
    assert_null (frame.json);
    assert_null (frame.blob);
    assert_int_equal (cw_frame_json (&frame, &back, NULL, 0), 0);
    assert_null (back);
    off += frame.size;
    assert_int_equal (cw_frame_decode (stream + off, size + empty_size + 3 - off, 0, &frame, NULL, 0),
                      CW_FRAME_COMPLETE);
    assert_int_equal (frame.type, 7);
    off += frame.size;
    assert_int_equal (cw_frame_decode (stream + off, 3, 0, &frame, NULL, 0), CW_FRAME_INCOMPLETE);
    assert_int_equal (cw_frame_wanted (stream + off, 3), 4);
    assert_int_equal (cw_frame_wanted (bytes, size), size);

    //  A blob without JSON, and a JSON value that is not an object
    free (empty);
    json_t *number = json_integer (5);
    assert_int_equal (cw_frame_encode (1, 2, number, "xy", 2, &empty, &empty_size), 0);
    assert_int_equal (cw_frame_decode (empty, empty_size, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (cw_frame_json (&frame, &back, NULL, 0), 0);
    assert_true (json_equal (back, number));
    assert_int_equal (frame.blob_len, 2);
    json_decref (back);
    json_decref (number);
    free (empty);
    assert_int_equal (cw_frame_encode (1, 2, NULL, "xy", 2, &empty, &empty_size), 0);
    assert_int_equal (cw_frame_decode (empty, empty_size, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_null (frame.json);
    assert_int_equal (frame.blob_len, 2);
    assert_memory_equal (frame.blob, "xy", 2);

    free (empty);
    free (stream);
    free (text);
    free (bytes);
    json_decref (json);
}

//  A frame header with these fields, for hand-made malformed frames.
static void
s_raw_header (uint8_t *p, uint32_t length, uint8_t version, uint32_t json_len)
{
    memset (p, 0, CW_FRAME_HEADER);
    p [0] = (uint8_t) (length >> 24);
    p [1] = (uint8_t) (length >> 16);
    p [2] = (uint8_t) (length >> 8);
    p [3] = (uint8_t) length;
    p [4] = version;
    p [5] = 3;
    p [14] = (uint8_t) (json_len >> 24);
    p [15] = (uint8_t) (json_len >> 16);
    p [16] = (uint8_t) (json_len >> 8);
    p [17] = (uint8_t) json_len;
}

static void
s_expect_malformed (const uint8_t *data, size_t size, size_t max, const char *expected)
{
    cw_frame_t frame;
    char what [128] = "unchanged";
    assert_int_equal (cw_frame_decode (data, size, max, &frame, what, sizeof (what)), CW_FRAME_MALFORMED);
    assert_string_equal (what, expected);
}

static void
test_frame_malformed (void **state)
{
    (void) state;
    uint8_t buf [64 + CW_FRAME_HEADER];
    cw_frame_t frame;

    //  Length shorter than the fixed header, as soon as 4 bytes are there
    s_raw_header (buf, CW_FRAME_FIXED - 1, 1, 0);
    s_expect_malformed (buf, 4, 0, "length shorter than the header");
    s_raw_header (buf, 0, 1, 0);
    s_expect_malformed (buf, 4, 0, "length shorter than the header");
    //  Exactly the fixed header is an empty frame
    s_raw_header (buf, CW_FRAME_FIXED, 1, 0);
    assert_int_equal (cw_frame_decode (buf, CW_FRAME_HEADER, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);

    //  Length above the maximum: the built-in one, and a caller's
    s_raw_header (buf, CW_FRAME_MAX + 1, 1, 0);
    s_expect_malformed (buf, 4, 0, "length 1073741825 above the maximum");
    s_raw_header (buf, 0xffffffffu, 1, 0);
    s_expect_malformed (buf, 4, 0, "length 4294967295 above the maximum");
    s_raw_header (buf, 1000, 1, 0);
    s_expect_malformed (buf, 4, 999, "length 1000 above the maximum");
    assert_int_equal (cw_frame_decode (buf, 4, 1000, &frame, NULL, 0), CW_FRAME_INCOMPLETE);

    //  A version other than 1, as soon as its byte is there
    s_raw_header (buf, 100, 2, 0);
    assert_int_equal (cw_frame_decode (buf, 4, 0, &frame, NULL, 0), CW_FRAME_INCOMPLETE);
    s_expect_malformed (buf, 5, 0, "unsupported version 2");
    s_raw_header (buf, 100, 0, 0);
    s_expect_malformed (buf, 5, 0, "unsupported version 0");

    //  json_len beyond the frame, once the frame is complete
    s_raw_header (buf, CW_FRAME_FIXED + 10, 1, 11);
    assert_int_equal (cw_frame_decode (buf, CW_FRAME_HEADER + 9, 0, &frame, NULL, 0), CW_FRAME_INCOMPLETE);
    s_expect_malformed (buf, CW_FRAME_HEADER + 10, 0, "json_len exceeds the frame");
    s_raw_header (buf, CW_FRAME_FIXED + 10, 1, 0xffffffffu);
    s_expect_malformed (buf, CW_FRAME_HEADER + 10, 0, "json_len exceeds the frame");
    s_raw_header (buf, CW_FRAME_FIXED + 10, 1, 10);
    memcpy (buf + CW_FRAME_HEADER, "{\"a\": 1}  ", 10);
    assert_int_equal (cw_frame_decode (buf, CW_FRAME_HEADER + 10, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (frame.blob_len, 0);

    //  JSON that does not parse, or is not UTF-8
    char what [128];
    json_t *json = (json_t *) &what;
    s_raw_header (buf, CW_FRAME_FIXED + 5, 1, 5);
    memcpy (buf + CW_FRAME_HEADER, "{\"a\":", 5);
    assert_int_equal (cw_frame_decode (buf, CW_FRAME_HEADER + 5, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (cw_frame_json (&frame, &json, what, sizeof (what)), -1);
    assert_null (json);
    assert_true (strncmp (what, "invalid JSON: ", 14) == 0);
    s_raw_header (buf, CW_FRAME_FIXED + 4, 1, 4);
    memcpy (buf + CW_FRAME_HEADER, "\"\xff\xfe\"", 4);
    assert_int_equal (cw_frame_decode (buf, CW_FRAME_HEADER + 4, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (cw_frame_json (&frame, &json, what, sizeof (what)), -1);
    assert_true (strncmp (what, "invalid JSON: ", 14) == 0);

    //  Encoding refuses what could not be decoded
    uint8_t header [CW_FRAME_HEADER];
    assert_int_equal (cw_frame_header (header, 1, 1, CW_FRAME_MAX - CW_FRAME_FIXED, 0), 0);
    assert_int_equal (cw_frame_header (header, 1, 1, CW_FRAME_MAX - CW_FRAME_FIXED, 1), -1);
    assert_int_equal (cw_frame_header (header, 1, 1, 0, CW_FRAME_MAX), -1);
    assert_int_equal (cw_frame_header (header, 1, 1, SIZE_MAX, SIZE_MAX), -1);
    uint8_t *out = (uint8_t *) buf;
    size_t out_len = 1;
    assert_int_equal (cw_frame_encode (1, 1, NULL, NULL, 5, &out, &out_len), -1);
    assert_null (out);
    assert_int_equal (out_len, 0);
}

//  The links' limits as the decoder applies them: a length above the
//  limit before HELLO is refused from its 4 bytes, whatever follows.
static void
test_frame_limits (void **state)
{
    (void) state;
    uint8_t buf [CW_FRAME_HEADER];
    cw_frame_t frame;
    s_raw_header (buf, 255u * 1000u * 1000u, 1, 0);
    s_expect_malformed (buf, 4, CW_PEERLINK_MAX_HELLO_FRAME, "length 255000000 above the maximum");
    s_expect_malformed (buf, 4, CW_PEERLINK_MAX_FRAME, "length 255000000 above the maximum");
    //  the same length is only incomplete for a message (chunks put together)
    assert_int_equal (cw_frame_decode (buf, 4, CW_PEERLINK_MAX_MESSAGE, &frame, NULL, 0), CW_FRAME_INCOMPLETE);
    s_raw_header (buf, CW_PEERLINK_MAX_HELLO_FRAME, 1, 0);
    assert_int_equal (cw_frame_decode (buf, 4, CW_PEERLINK_MAX_HELLO_FRAME, &frame, NULL, 0), CW_FRAME_INCOMPLETE);
    s_raw_header (buf, CW_PEERLINK_MAX_HELLO_FRAME + 1, 1, 0);
    s_expect_malformed (buf, 4, CW_PEERLINK_MAX_HELLO_FRAME, "length 65537 above the maximum");
    //  the sizes hold together: a chunk and its header fit in a frame
    assert_true (CW_PEERLINK_CHUNK + CW_FRAME_HEADER + 64 <= CW_PEERLINK_MAX_FRAME);
    assert_true (CW_PEERLINK_MAX_HELLO_FRAME < CW_PEERLINK_MAX_FRAME);
    assert_true (CW_PEERLINK_MAX_FRAME < CW_PEERLINK_MAX_MESSAGE);
    assert_int_equal (CW_FRAME_TYPE_CHUNK, 255);
}

//  A frame queued from several ranges decodes as one frame whose blob is
//  their concatenation; reserved room makes the next queue not move the
//  buffer.
static void
test_tlsio_queue_parts (void **state)
{
    (void) state;
    cw_tlsio_t io;
    memset (&io, 0, sizeof (io));
    const char *a = "head", *b = "", *c = "-and-tail";
    cw_tlsio_part_t parts [] = { { a, 4 }, { NULL, 0 }, { b, 0 }, { c, 9 } };
    size_t queued = cw_tlsio_queue_parts (&io, 42, 7, "{\"k\":1}", parts, 4);
    assert_int_equal (queued, CW_FRAME_HEADER + 7 + 13);
    assert_int_equal (cw_tlsio_pending (&io), queued);
    cw_frame_t frame;
    assert_int_equal (cw_frame_decode (io.out, io.out_len, 0, &frame, NULL, 0), CW_FRAME_COMPLETE);
    assert_int_equal (frame.type, 42);
    assert_true (frame.corr == 7);
    assert_int_equal (frame.json_len, 7);
    assert_memory_equal (frame.json, "{\"k\":1}", 7);
    assert_int_equal (frame.blob_len, 13);
    assert_memory_equal (frame.blob, "head-and-tail", 13);
    //  a range without data is refused, and so is a frame above the codec's maximum
    cw_tlsio_part_t broken [] = { { NULL, 3 } };
    assert_int_equal (cw_tlsio_queue_parts (&io, 1, 1, NULL, broken, 1), 0);
    cw_tlsio_part_t huge [] = { { a, CW_FRAME_MAX } };
    assert_int_equal (cw_tlsio_queue_parts (&io, 1, 1, NULL, huge, 1), 0);
    assert_int_equal (cw_tlsio_pending (&io), queued);
    //  reserve, then queue without the buffer moving
    assert_int_equal (cw_tlsio_reserve (&io, 1024 * 1024), 0);
    uint8_t *before = io.out;
    static uint8_t big [1000 * 1000];
    cw_tlsio_part_t one [] = { { big, sizeof (big) } };
    assert_int_equal (cw_tlsio_queue_parts (&io, 3, 3, NULL, one, 1), CW_FRAME_HEADER + sizeof (big));
    assert_ptr_equal (io.out, before);
    cw_tlsio_free (&io);
}

//  ---------------------------------------------------------------------
//  Certificates: the rule, the names, the pre-check, fingerprints

static void
test_cert_names_peer (void **state)
{
    (void) state;
    //  make_certs.sh: DNS:peer1.example.com, IP:127.0.1.1
    X509 *peer1 = s_read_cert ("peer1.crt");
    assert_true (cw_cert_names_peer (peer1, "peer1.example.com"));
    assert_true (cw_cert_names_peer (peer1, "PEER1.Example.COM"));
    assert_true (cw_cert_names_peer (peer1, "127.0.1.1"));
    assert_false (cw_cert_names_peer (peer1, "127.0.1.2"));
    assert_false (cw_cert_names_peer (peer1, "peer2.example.com"));
    assert_false (cw_cert_names_peer (peer1, "example.com"));
    assert_false (cw_cert_names_peer (peer1, ""));
    assert_false (cw_cert_names_peer (peer1, NULL));
    assert_false (cw_cert_names_peer (NULL, "peer1.example.com"));
    char reason [256];
    assert_int_equal (cw_cert_peer_check (peer1, "peer1.example.com", reason, sizeof (reason)), 0);
    assert_int_equal (cw_cert_peer_check (peer1, "peer2.example.com", reason, sizeof (reason)), -1);
    assert_string_equal (reason, "certificate SAN/CN does not contain peer2.example.com");
    assert_int_equal (cw_cert_peer_check (peer1, "127.0.1.9", reason, sizeof (reason)), -1);
    assert_string_equal (reason, "certificate SAN does not contain IP 127.0.1.9");
    X509_free (peer1);

    //  The CN counts only when there is no DNS SAN
    X509 *cn_only = s_make_cert ("cn.example.com", NULL, NULL, true);
    assert_true (cw_cert_names_peer (cn_only, "cn.example.com"));
    assert_false (cw_cert_names_peer (cn_only, "other.example.com"));
    X509 *cn_and_san = s_make_cert ("cn.example.com", "DNS:san.example.com", NULL, true);
    assert_false (cw_cert_names_peer (cn_and_san, "cn.example.com"));
    assert_true (cw_cert_names_peer (cn_and_san, "san.example.com"));
    //  ... and an IP SAN alone does not stop the CN fallback for a name
    X509 *cn_and_ip = s_make_cert ("cn.example.com", "IP:10.1.2.3", NULL, true);
    assert_true (cw_cert_names_peer (cn_and_ip, "cn.example.com"));
    assert_true (cw_cert_names_peer (cn_and_ip, "10.1.2.3"));
    //  An IP literal must be an IP SAN: a CN or DNS SAN spelling it is not
    X509 *ip_cn = s_make_cert ("10.1.2.3", NULL, NULL, true);
    assert_false (cw_cert_names_peer (ip_cn, "10.1.2.3"));
    X509 *ip_dns = s_make_cert ("x", "DNS:10.1.2.3", NULL, true);
    assert_false (cw_cert_names_peer (ip_dns, "10.1.2.3"));
    X509 *ip6 = s_make_cert ("x", "IP:fd00::1", NULL, true);
    assert_true (cw_cert_names_peer (ip6, "fd00::1"));
    assert_true (cw_cert_names_peer (ip6, "fd00:0:0::1"));
    assert_false (cw_cert_names_peer (ip6, "fd00::2"));
    X509_free (cn_only);
    X509_free (cn_and_san);
    X509_free (cn_and_ip);
    X509_free (ip_cn);
    X509_free (ip_dns);
    X509_free (ip6);
}

static void
test_cert_wildcards (void **state)
{
    (void) state;
    //  A partial wildcard names nothing, though OpenSSL's default would
    //  accept it (which is what makes this test able to fail)
    X509 *partial = s_make_cert ("x", "DNS:*w.example.com", NULL, true);
    assert_int_equal (X509_check_host (partial, "www.example.com", 0, 0, NULL), 1);
    assert_false (cw_cert_names_peer (partial, "www.example.com"));
    char reason [256];
    assert_int_equal (cw_cert_peer_check (partial, "www.example.com", reason, sizeof (reason)), -1);
    X509 *partial2 = s_make_cert ("x", "DNS:w*.example.com", NULL, true);
    assert_int_equal (X509_check_host (partial2, "www.example.com", 0, 0, NULL), 1);
    assert_false (cw_cert_names_peer (partial2, "www.example.com"));

    //  A whole left-most label: one label, never the bare domain, never
    //  under a public suffix-like two-label name
    X509 *full = s_make_cert ("x", "DNS:*.example.com", NULL, true);
    assert_true (cw_cert_names_peer (full, "www.example.com"));
    assert_true (cw_cert_names_peer (full, "peer1.EXAMPLE.com"));
    assert_false (cw_cert_names_peer (full, "a.www.example.com"));
    assert_false (cw_cert_names_peer (full, "example.com"));
    X509 *too_wide = s_make_cert ("x", "DNS:*.com", NULL, true);
    assert_false (cw_cert_names_peer (too_wide, "example.com"));
    //  A wildcard does not name an IP literal
    X509 *wild_ip = s_make_cert ("x", "DNS:*.1.2.3", NULL, true);
    assert_false (cw_cert_names_peer (wild_ip, "10.1.2.3"));
    X509_free (partial);
    X509_free (partial2);
    X509_free (full);
    X509_free (too_wide);
    X509_free (wild_ip);
}

static void
test_cert_names (void **state)
{
    (void) state;
    char buf [256];
    json_t *names = json_array ();
    X509 *peer1 = s_read_cert ("peer1.crt");
    cw_cert_names (peer1, buf, sizeof (buf), names);
    assert_string_equal (buf, "peer1.example.com");
    assert_int_equal (json_array_size (names), 1);
    assert_string_equal (json_string_value (json_array_get (names, 0)), "peer1.example.com");

    X509 *two = s_make_cert ("cn.example.com", "DNS:a.example.com,IP:10.0.0.1,DNS:b.example.com", NULL, true);
    json_array_clear (names);
    cw_cert_names (two, buf, sizeof (buf), names);
    assert_string_equal (buf, "a.example.com, b.example.com");
    assert_int_equal (json_array_size (names), 2);
    assert_string_equal (json_string_value (json_array_get (names, 1)), "b.example.com");

    X509 *cn_only = s_make_cert ("cn.example.com", NULL, NULL, true);
    json_array_clear (names);
    cw_cert_names (cn_only, buf, sizeof (buf), names);
    assert_string_equal (buf, "CN cn.example.com");
    assert_int_equal (json_array_size (names), 1);
    assert_string_equal (json_string_value (json_array_get (names, 0)), "cn.example.com");
    cw_cert_names (cn_only, buf, sizeof (buf), NULL);
    assert_string_equal (buf, "CN cn.example.com");
    X509_free (peer1);
    X509_free (two);
    X509_free (cn_only);
    json_decref (names);
}

//  cw_cert_check's verdict: OK and REASON (NULL = any) and, when
//  PREFIX, REASON is only the start.
static void
s_expect_check (json_t *result, bool ok, const char *reason, bool prefix)
{
    assert_non_null (result);
    assert_true (json_is_boolean (json_object_get (result, "ok")));
    const char *got = json_string_value (json_object_get (result, "reason"));
    assert_non_null (got);
    if (json_is_true (json_object_get (result, "ok")) != ok)
        fail_msg ("expected ok=%d, got reason '%s'", ok, got);
    if (reason && prefix && strncmp (got, reason, strlen (reason)) != 0)
        fail_msg ("expected a reason starting '%s', got '%s'", reason, got);
    if (reason && !prefix)
        assert_string_equal (got, reason);
    assert_true (json_is_array (json_object_get (result, "names")));
    json_decref (result);
}

static void
test_cert_check (void **state)
{
    (void) state;
    char peer1 [512], ca [512], untrusted [512], wrong [512];
    s_path (peer1, sizeof (peer1), "peer1.crt");
    s_path (ca, sizeof (ca), "ca.crt");
    s_path (untrusted, sizeof (untrusted), "peer1-untrusted.crt");
    s_path (wrong, sizeof (wrong), "wrong-san.crt");

    json_t *result = cw_cert_check (peer1, NULL, ca, "peer1.example.com", false);
    assert_string_equal (json_string_value (json_array_get (json_object_get (result, "names"), 0)),
                         "peer1.example.com");
    assert_null (json_object_get (result, "certificate"));
    s_expect_check (result, true, "ok", false);
    s_expect_check (cw_cert_check (peer1, NULL, ca, "127.0.1.1", false), true, "ok", false);
    s_expect_check (cw_cert_check (peer1, NULL, ca, "peer2.example.com", false), false,
                    "certificate SAN does not contain peer2.example.com (it names: peer1.example.com)", false);
    s_expect_check (cw_cert_check (peer1, NULL, ca, "127.0.1.2", false), false,
                    "certificate SAN does not contain IP 127.0.1.2 (it names: peer1.example.com)", false);
    s_expect_check (cw_cert_check (wrong, NULL, ca, "peer1.example.com", false), false,
                    "certificate SAN does not contain peer1.example.com (it names: wrong.example.com)", false);
    s_expect_check (cw_cert_check (peer1, NULL, ca, "", false), false, "no FQDN to check the certificate against",
                    false);
    s_expect_check (cw_cert_check (peer1, NULL, ca, NULL, false), false, "no FQDN to check the certificate against",
                    false);
    char expected [700];
    snprintf (expected, sizeof (expected), "certificate does not chain to the trusted CAs (%s): ", ca);
    s_expect_check (cw_cert_check (untrusted, NULL, ca, "peer1.example.com", false), false, expected, true);
    s_expect_check (cw_cert_check (peer1, NULL, NULL, "peer1.example.com", false), false,
                    "peering.ca_file is not set: no trusted CA to verify the certificate", false);
    s_expect_check (cw_cert_check (peer1, NULL, "/nonexistent/ca.crt", "peer1.example.com", false), false,
                    "cannot load the trusted CAs from /nonexistent/ca.crt: ", true);
    s_expect_check (cw_cert_check (NULL, NULL, ca, "peer1.example.com", false), false,
                    "peering.certificate is not set in the bootstrap file", false);
    s_expect_check (cw_cert_check ("/nonexistent/x.crt", NULL, ca, "peer1.example.com", false), false,
                    "cannot read a PEM certificate from /nonexistent/x.crt", false);
    s_expect_check (cw_cert_check (NULL, "not a certificate", ca, "peer1.example.com", false), false,
                    "no certificate in what the peer sent", false);

    //  PEM text, and the leaf's PEM in the answer
    X509 *leaf = s_make_cert ("www.example.com", "DNS:www.example.com", NULL, false);
    char *pem = s_pem (leaf);
    result = cw_cert_check (NULL, pem, ca, "www.example.com", true);
    assert_string_equal (json_string_value (json_object_get (result, "certificate")), pem);
    s_expect_check (result, true, "ok", false);
    //  The same rule as the links: a partial wildcard is refused
    X509 *partial = s_make_cert ("x", "DNS:*w.example.com", NULL, false);
    char *partial_pem = s_pem (partial);
    s_expect_check (cw_cert_check (NULL, partial_pem, ca, "www.example.com", false), false,
                    "certificate SAN does not contain www.example.com (it names: *w.example.com)", false);
    //  ... and a certificate a peer could not use as a TLS client
    X509 *server_only = s_make_cert ("www.example.com", "DNS:www.example.com", "serverAuth", false);
    char *server_only_pem = s_pem (server_only);
    s_expect_check (cw_cert_check (NULL, server_only_pem, ca, "www.example.com", false), false,
                    "certificate is not valid for TLS client authentication", true);
    //  A self-signed certificate does not chain
    X509 *self_signed = s_make_cert ("www.example.com", "DNS:www.example.com", NULL, true);
    char *self_pem = s_pem (self_signed);
    s_expect_check (cw_cert_check (NULL, self_pem, ca, "www.example.com", false), false, expected, true);

    free (pem);
    free (partial_pem);
    free (server_only_pem);
    free (self_pem);
    X509_free (leaf);
    X509_free (partial);
    X509_free (server_only);
    X509_free (self_signed);
}

//  The SHA-256 fingerprint the openssl command prints for FILE, as 64
//  lowercase hex characters.
static void
s_openssl_fingerprint (const char *file, char out [65])
{
    char command [700], line [256] = "";
    snprintf (command, sizeof (command), "openssl x509 -noout -fingerprint -sha256 -in '%s'", file);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    assert_non_null (fgets (line, sizeof (line), pipe));
    pclose (pipe);
    const char *p = strchr (line, '=');
    assert_non_null (p);
    size_t n = 0;
    for (p++; *p && n < 64; p++)
        if (isxdigit ((unsigned char) *p))
            out [n++] = (char) tolower ((unsigned char) *p);
    out [n] = 0;
    assert_int_equal (n, 64);
}

static void
test_cert_fingerprint (void **state)
{
    (void) state;
    char path [512], expected [65], got [65], err [512];
    s_path (path, sizeof (path), "peer1.crt");
    s_openssl_fingerprint (path, expected);
    assert_int_equal (cw_cert_fingerprint_file (path, got, err, sizeof (err)), 0);
    assert_string_equal (got, expected);
    X509 *cert = s_read_cert ("peer1.crt");
    assert_int_equal (cw_cert_fingerprint (cert, got), 0);
    assert_string_equal (got, expected);
    X509_free (cert);
    s_path (path, sizeof (path), "peer2.crt");
    assert_int_equal (cw_cert_fingerprint_file (path, got, err, sizeof (err)), 0);
    assert_string_not_equal (got, expected);
    assert_int_equal (cw_cert_fingerprint (NULL, got), -1);
    assert_string_equal (got, "");

    assert_int_equal (cw_cert_fingerprint_file ("/nonexistent/x.crt", got, err, sizeof (err)), -1);
    assert_string_equal (err, "cannot read the certificate /nonexistent/x.crt: No such file or directory");
    s_path (path, sizeof (path), "peer1.key");
    assert_int_equal (cw_cert_fingerprint_file (path, got, err, sizeof (err)), -1);
    char expected_err [600];
    snprintf (expected_err, sizeof (expected_err), "%s holds no PEM certificate", path);
    assert_string_equal (err, expected_err);
}

//  ---------------------------------------------------------------------
//  TLS contexts

static void
test_tls_context (void **state)
{
    (void) state;
    char crt [512], key [512], key2 [512], ca [512], err [512];
    s_path (crt, sizeof (crt), "peer1.crt");
    s_path (key, sizeof (key), "peer1.key");
    s_path (key2, sizeof (key2), "peer2.key");
    s_path (ca, sizeof (ca), "ca.crt");
    cw_tls_config_t cfg = { crt, key, ca, CW_TLS_VERIFY_ENFORCE };
    SSL_CTX *ctx = cw_tls_context_new (&cfg, err, sizeof (err));
    assert_non_null (ctx);
    assert_int_equal (SSL_CTX_get_min_proto_version (ctx), TLS1_2_VERSION);
    assert_int_equal (SSL_CTX_get_verify_mode (ctx), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    SSL_CTX_free (ctx);
    cfg.verify = CW_TLS_VERIFY_NONE;
    cfg.ca_file = NULL;
    ctx = cw_tls_context_new (&cfg, err, sizeof (err));
    assert_non_null (ctx);
    assert_int_equal (SSL_CTX_get_verify_mode (ctx), SSL_VERIFY_NONE);
    SSL_CTX_free (ctx);

    cfg.verify = CW_TLS_VERIFY_ENFORCE;
    assert_null (cw_tls_context_new (&cfg, err, sizeof (err)));
    assert_string_equal (err, "peering ca_file is not configured");
    cfg.private_key = key2;
    cfg.verify = CW_TLS_VERIFY_PERMISSIVE;
    assert_null (cw_tls_context_new (&cfg, err, sizeof (err)));
    char expected [1200];
    snprintf (expected, sizeof (expected), "peering private key '%s' does not match certificate '%s'", key2, crt);
    assert_string_equal (err, expected);
    cfg.private_key = key;
    cfg.certificate = "/nonexistent/x.crt";
    assert_null (cw_tls_context_new (&cfg, err, sizeof (err)));
    assert_string_equal (err, "peering certificate file '/nonexistent/x.crt' cannot be read: "
                              "no such file or directory");
}

//  ---------------------------------------------------------------------
//  The one-shot dial against a TLS server thread

typedef enum {
    S_SERVE_ECHO,          //  answer each frame: first a type-99 notice, then type+1 echoing the JSON
    S_SERVE_SILENT_TCP,    //  accept, never speak TLS
    S_SERVE_SILENT_TLS,    //  complete TLS, never send a frame
    S_SERVE_GARBAGE        //  complete TLS, send a frame of version 9
} s_serve_t;

typedef struct {
    s_serve_t mode;
    int listen_fd;
    uint16_t port;
    SSL_CTX *ctx;
    pthread_t thread;
    int stop_fd [2];    //  the test writes here to end a silent server
    char sni [256];     //  the server name the client sent, "" none
    int frames;         //  frames received
    bool failed;
} s_server_t;

static int
s_ssl_write_all (SSL *ssl, const uint8_t *data, size_t size)
{
    while (size) {
        int n = SSL_write (ssl, data, (int) size);
        if (n <= 0)
            return -1;
        data += n;
        size -= (size_t) n;
    }
    return 0;
}

static void
s_serve_echo (s_server_t *server, SSL *ssl)
{
    uint8_t buf [65536];
    size_t len = 0;
    for (;;) {
        cw_frame_t frame;
        cw_frame_result_t rc = cw_frame_decode (buf, len, 0, &frame, NULL, 0);
        if (rc == CW_FRAME_MALFORMED) {
            server->failed = true;
            return;
        }
        if (rc == CW_FRAME_INCOMPLETE) {
            int n = SSL_read (ssl, buf + len, (int) (sizeof (buf) - len));
            if (n <= 0)
                return;
            len += (size_t) n;
            continue;
        }
        server->frames++;
        json_t *json = NULL;
        if (cw_frame_json (&frame, &json, NULL, 0)) {
            server->failed = true;
            return;
        }
        json_t *notice = json_pack ("{s:s}", "notice", "first");
        json_t *echo = json_pack ("{s:O?}", "echo", json);
        uint8_t *a, *b;
        size_t alen, blen;
        cw_frame_encode (99, frame.corr + 1000, notice, NULL, 0, &a, &alen);
        cw_frame_encode ((uint8_t) (frame.type + 1), frame.corr, echo, "blob", 4, &b, &blen);
        //  The notice and the first half of the echo in one write, the
        //  rest after a pause: the reader must join and split them
        uint8_t *both = malloc (alen + blen);
        memcpy (both, a, alen);
        memcpy (both + alen, b, blen);
        size_t cut = alen + blen / 2;
        if (s_ssl_write_all (ssl, both, cut) == 0) {
            usleep (20 * 1000);
            s_ssl_write_all (ssl, both + cut, alen + blen - cut);
        }
        free (both);
        free (a);
        free (b);
        json_decref (notice);
        json_decref (echo);
        json_decref (json);
        memmove (buf, buf + frame.size, len - frame.size);
        len -= frame.size;
    }
}

static void *
s_server_run (void *arg)
{
    s_server_t *server = (s_server_t *) arg;
    int fd = accept (server->listen_fd, NULL, NULL);
    if (fd < 0) {
        server->failed = true;
        return NULL;
    }
    struct pollfd stop = { .fd = server->stop_fd [0], .events = POLLIN };
    if (server->mode == S_SERVE_SILENT_TCP) {
        poll (&stop, 1, 10000);
        close (fd);
        return NULL;
    }
    SSL *ssl = SSL_new (server->ctx);
    SSL_set_fd (ssl, fd);
    if (SSL_accept (ssl) != 1) {
        server->failed = true;
        SSL_free (ssl);
        close (fd);
        return NULL;
    }
    const char *sni = SSL_get_servername (ssl, TLSEXT_NAMETYPE_host_name);
    snprintf (server->sni, sizeof (server->sni), "%s", sni ? sni : "");
    if (server->mode == S_SERVE_ECHO)
        s_serve_echo (server, ssl);
    else if (server->mode == S_SERVE_SILENT_TLS)
        poll (&stop, 1, 10000);
    else {
        uint8_t *bytes;
        size_t size;
        cw_frame_encode (1, 1, NULL, NULL, 0, &bytes, &size);
        bytes [4] = 9;
        s_ssl_write_all (ssl, bytes, size);
        free (bytes);
        poll (&stop, 1, 10000);
    }
    SSL_shutdown (ssl);
    SSL_free (ssl);
    close (fd);
    return NULL;
}

static s_server_t *
s_server_start (s_serve_t mode)
{
    s_server_t *server = calloc (1, sizeof (s_server_t));
    server->mode = mode;
    char crt [512], key [512], err [512];
    s_path (crt, sizeof (crt), "peer1.crt");
    s_path (key, sizeof (key), "peer1.key");
    cw_tls_config_t cfg = { crt, key, NULL, CW_TLS_VERIFY_PERMISSIVE };
    server->ctx = cw_tls_context_new (&cfg, err, sizeof (err));
    if (!server->ctx)
        fail_msg ("server context: %s", err);
    assert_int_equal (pipe (server->stop_fd), 0);
    server->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    assert_int_equal (bind (server->listen_fd, (struct sockaddr *) &sin, sizeof (sin)), 0);
    assert_int_equal (listen (server->listen_fd, 4), 0);
    socklen_t len = sizeof (sin);
    getsockname (server->listen_fd, (struct sockaddr *) &sin, &len);
    server->port = ntohs (sin.sin_port);
    assert_int_equal (pthread_create (&server->thread, NULL, s_server_run, server), 0);
    return server;
}

//  End the server's thread (a silent one is told to stop).
static void
s_server_join (s_server_t *server)
{
    assert_int_equal (write (server->stop_fd [1], "x", 1), 1);
    pthread_join (server->thread, NULL);
}

static void
s_server_free (s_server_t *server)
{
    close (server->listen_fd);
    close (server->stop_fd [0]);
    close (server->stop_fd [1]);
    SSL_CTX_free (server->ctx);
    free (server);
}

static cw_dial_t *
s_dial (s_server_t *server, const char *server_name, int64_t timeout_ms, bool *final, char *err, size_t errlen)
{
    char crt [512], key [512];
    s_path (crt, sizeof (crt), "peer2.crt");
    s_path (key, sizeof (key), "peer2.key");
    return cw_dial_open ("127.0.0.1", server->port, "127.0.0.1", server_name, crt, key, cw_mono_ms () + timeout_ms,
                         final, err, errlen);
}

static void
test_dial_exchange (void **state)
{
    (void) state;
    s_server_t *server = s_server_start (S_SERVE_ECHO);
    char err [512] = "", fingerprint [65], expected [65], path [512];
    bool final = true;
    cw_dial_t *dial = s_dial (server, "peer1.example.com", 5000, &final, err, sizeof (err));
    if (!dial)
        fail_msg ("cw_dial_open: %s", err);
    assert_false (final);
    //  The pin: the server's certificate is peer1's
    assert_int_equal (cw_dial_peer_fingerprint (dial, fingerprint), 0);
    s_path (path, sizeof (path), "peer1.crt");
    s_openssl_fingerprint (path, expected);
    assert_string_equal (fingerprint, expected);

    for (uint64_t corr = 1; corr <= 2; corr++) {
        json_t *hello = json_pack ("{s:i, s:s}", "index", 2, "address", "peer2.example.com");
        assert_int_equal (cw_dial_send (dial, CW_FRAME_TYPE_HELLO, corr, hello), 0);
        uint8_t type = 0;
        uint64_t got_corr = 0;
        json_t *json = NULL;
        assert_int_equal (cw_dial_recv (dial, &type, &got_corr, &json), 0);
        assert_int_equal (type, 99);
        assert_true (got_corr == corr + 1000);
        assert_string_equal (json_string_value (json_object_get (json, "notice")), "first");
        json_decref (json);
        assert_int_equal (cw_dial_recv (dial, &type, &got_corr, &json), 0);
        assert_int_equal (type, 1);
        assert_true (got_corr == corr);
        assert_true (json_equal (json_object_get (json, "echo"), hello));
        json_decref (json);
        json_decref (hello);
    }
    //  A frame without JSON arrives as NULL
    assert_int_equal (cw_dial_send (dial, 5, 7, NULL), 0);
    uint8_t type;
    uint64_t corr;
    json_t *json;
    assert_int_equal (cw_dial_recv (dial, &type, &corr, &json), 0);
    assert_int_equal (type, 99);
    json_decref (json);
    assert_int_equal (cw_dial_recv (dial, &type, &corr, &json), 0);
    assert_int_equal (type, 6);
    assert_true (json_is_null (json_object_get (json, "echo")));
    json_decref (json);
    cw_dial_close (&dial);
    assert_null (dial);
    cw_dial_close (&dial);
    s_server_join (server);
    assert_false (server->failed);
    assert_int_equal (server->frames, 3);
    assert_string_equal (server->sni, "peer1.example.com");
    s_server_free (server);
}

static void
test_dial_no_sni_for_ip (void **state)
{
    (void) state;
    s_server_t *server = s_server_start (S_SERVE_ECHO);
    char err [512] = "";
    cw_dial_t *dial = s_dial (server, "127.0.0.1", 5000, NULL, err, sizeof (err));
    if (!dial)
        fail_msg ("cw_dial_open: %s", err);
    cw_dial_close (&dial);
    s_server_join (server);
    assert_false (server->failed);
    assert_string_equal (server->sni, "");
    s_server_free (server);
}

static void
test_dial_timeouts (void **state)
{
    (void) state;
    //  A server that accepts TCP and never answers the TLS ClientHello
    s_server_t *server = s_server_start (S_SERVE_SILENT_TCP);
    char err [512] = "", expected [600];
    bool final = true;
    int64_t started = cw_mono_ms ();
    cw_dial_t *dial = s_dial (server, "peer1.example.com", 300, &final, err, sizeof (err));
    assert_null (dial);
    assert_true (cw_mono_ms () - started >= 300);
    assert_true (cw_mono_ms () - started < 5000);
    assert_false (final);
    snprintf (expected, sizeof (expected), "TLS handshake with 127.0.0.1:%u timed out", (unsigned) server->port);
    assert_string_equal (err, expected);
    s_server_join (server);
    s_server_free (server);

    //  A server that completes TLS and then says nothing
    server = s_server_start (S_SERVE_SILENT_TLS);
    dial = s_dial (server, "peer1.example.com", 5000, NULL, err, sizeof (err));
    if (!dial)
        fail_msg ("cw_dial_open: %s", err);
    cw_dial_set_deadline (dial, cw_mono_ms () + 300);
    uint8_t type;
    uint64_t corr;
    json_t *sentinel = json_object ();
    json_t *json = sentinel;
    started = cw_mono_ms ();
    assert_int_equal (cw_dial_recv (dial, &type, &corr, &json), -1);
    assert_null (json);
    json_decref (sentinel);
    assert_true (cw_mono_ms () - started >= 250);
    assert_true (cw_mono_ms () - started < 5000);
    assert_string_equal (cw_dial_error (dial), "timed out");
    cw_dial_close (&dial);
    s_server_join (server);
    s_server_free (server);
}

static void
test_dial_failures (void **state)
{
    (void) state;
    char err [512] = "", expected [600], crt [512], key [512];
    bool final = false;
    s_path (crt, sizeof (crt), "peer2.crt");
    s_path (key, sizeof (key), "peer2.key");

    //  Nobody listening (a port just bound and released): retrying may help
    int probe = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    inet_pton (AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof (sin);
    assert_int_equal (bind (probe, (struct sockaddr *) &sin, sizeof (sin)), 0);
    getsockname (probe, (struct sockaddr *) &sin, &len);
    close (probe);
    uint16_t port = ntohs (sin.sin_port);
    final = true;
    cw_dial_t *dial = cw_dial_open ("127.0.0.1", port, "127.0.0.1", NULL, crt, key, cw_mono_ms () + 2000, &final, err,
                                    sizeof (err));
    assert_null (dial);
    assert_false (final);
    snprintf (expected, sizeof (expected), "connect to 127.0.0.1:%u: connection refused", (unsigned) port);
    assert_string_equal (err, expected);

    //  This node's certificate or key unusable: final
    dial = cw_dial_open ("127.0.0.1", port, "127.0.0.1", NULL, "/nonexistent/x.crt", key, cw_mono_ms () + 2000, &final,
                         err, sizeof (err));
    assert_null (dial);
    assert_true (final);
    assert_string_equal (err, "peering certificate file '/nonexistent/x.crt' cannot be read: "
                              "no such file or directory");
    char key1 [512];
    s_path (key1, sizeof (key1), "peer1.key");
    final = false;
    dial = cw_dial_open ("127.0.0.1", port, "127.0.0.1", NULL, crt, key1, cw_mono_ms () + 2000, &final, err,
                         sizeof (err));
    assert_null (dial);
    assert_true (final);
    assert_non_null (strstr (err, "does not match certificate"));
    //  Addresses of different families: final
    final = false;
    dial = cw_dial_open ("::1", port, "127.0.0.1", NULL, crt, key, cw_mono_ms () + 2000, &final, err, sizeof (err));
    assert_null (dial);
    assert_true (final);

    //  A malformed frame from the server ends the conversation
    s_server_t *server = s_server_start (S_SERVE_GARBAGE);
    dial = s_dial (server, NULL, 5000, NULL, err, sizeof (err));
    if (!dial)
        fail_msg ("cw_dial_open: %s", err);
    uint8_t type;
    uint64_t corr;
    json_t *json;
    assert_int_equal (cw_dial_recv (dial, &type, &corr, &json), -1);
    assert_null (json);
    assert_string_equal (cw_dial_error (dial), "malformed frame: unsupported version 9");
    cw_dial_close (&dial);
    s_server_join (server);
    s_server_free (server);
}

//  ---------------------------------------------------------------------
//  Setup: certificates

static int
s_group_setup (void **state)
{
    (void) state;
    cw_log_init ("test_link", CW_LOG_WARN);
    snprintf (s_certs, sizeof (s_certs), "/tmp/cw_link_XXXXXX");
    if (!mkdtemp (s_certs))
        return -1;
    char command [768];
    snprintf (command, sizeof (command), "sh '%s/tests/integration/make_certs.sh' '%s' 2", CW_SOURCE_DIR, s_certs);
    if (system (command) != 0)
        return -1;
    char path [512];
    s_path (path, sizeof (path), "ca.crt");
    FILE *in = fopen (path, "r");
    s_ca = in ? PEM_read_X509 (in, NULL, NULL, NULL) : NULL;
    if (in)
        fclose (in);
    s_path (path, sizeof (path), "ca.key");
    in = fopen (path, "r");
    s_ca_key = in ? PEM_read_PrivateKey (in, NULL, NULL, NULL) : NULL;
    if (in)
        fclose (in);
    return s_ca && s_ca_key ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void) state;
    X509_free (s_ca);
    EVP_PKEY_free (s_ca_key);
    char command [300];
    snprintf (command, sizeof (command), "rm -rf '%s'", s_certs);
    return system (command) == 0 ? 0 : -1;
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_frame_round_trip), cmocka_unit_test (test_frame_malformed),
        cmocka_unit_test (test_frame_limits),     cmocka_unit_test (test_tlsio_queue_parts),
        cmocka_unit_test (test_cert_names_peer),  cmocka_unit_test (test_cert_wildcards),
        cmocka_unit_test (test_cert_names),       cmocka_unit_test (test_cert_check),
        cmocka_unit_test (test_cert_fingerprint), cmocka_unit_test (test_tls_context),
        cmocka_unit_test (test_dial_exchange),    cmocka_unit_test (test_dial_no_sni_for_ip),
        cmocka_unit_test (test_dial_timeouts),    cmocka_unit_test (test_dial_failures),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
