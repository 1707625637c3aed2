/*  tlsio.c - the buffered byte stream of one non-blocking TLS connection
    (see tlsio.h).

    Output grows by doubling and is compacted only when more than half of
    it is already written; writes go to SSL in chunks of S_WRITE_CHUNK.
    Input grows by doubling, except that a large frame in progress gets
    the size it announces rather than the next power of two.
*/
#include "tlsio.h"
#include "frame.h"
#include "netaddr.h"
#include "tls.h"
#include "cw_text.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_READ_CHUNK 65536
#define S_WRITE_CHUNK (256 * 1024)

static int
s_out_reserve (cw_tlsio_t *io, size_t more)
{
    if (io->out_off && io->out_off == io->out_len)
        io->out_off = io->out_len = 0;
    if (io->out_len + more <= io->out_cap)
        return 0;
    //  Compact only when nothing is in flight inside OpenSSL's retry
    //  (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER allows moving the same bytes)
    if (io->out_off > io->out_cap / 2) {
        memmove (io->out, io->out + io->out_off, io->out_len - io->out_off);
        io->out_len -= io->out_off;
        io->out_off = 0;
        if (io->out_len + more <= io->out_cap)
            return 0;
    }
    size_t cap = io->out_cap ? io->out_cap : 65536;
    while (cap < io->out_len + more)
        cap *= 2;
    uint8_t *out = realloc (io->out, cap);
    if (!out)
        return -1;
    io->out = out;
    io->out_cap = cap;
    return 0;
}

size_t
cw_tlsio_queue_parts (cw_tlsio_t *io, uint8_t type, uint64_t corr, const char *json, const cw_tlsio_part_t *parts,
                      int count)
{
    size_t json_len = json ? strlen (json) : 0;
    size_t blob_len = 0;
    for (int i = 0; i < count; i++) {
        if (parts [i].len && !parts [i].data)
            return 0;
        if (parts [i].len > CW_FRAME_MAX || blob_len + parts [i].len > CW_FRAME_MAX)
            return 0;
        blob_len += parts [i].len;
    }
    uint8_t header [CW_FRAME_HEADER];
    if (cw_frame_header (header, type, corr, json_len, blob_len))
        return 0;
    size_t total = CW_FRAME_HEADER + json_len + blob_len;
    if (s_out_reserve (io, total))
        return 0;
    uint8_t *p = io->out + io->out_len;
    memcpy (p, header, CW_FRAME_HEADER);
    p += CW_FRAME_HEADER;
    if (json_len)
        memcpy (p, json, json_len);
    p += json_len;
    for (int i = 0; i < count; i++)
        if (parts [i].len) {
            memcpy (p, parts [i].data, parts [i].len);
            p += parts [i].len;
        }
    io->out_len += total;
    return total;
}

size_t
cw_tlsio_queue (cw_tlsio_t *io, uint8_t type, uint64_t corr, const char *json, const void *blob, size_t blob_len)
{
    cw_tlsio_part_t part = { blob, blob_len };
    return cw_tlsio_queue_parts (io, type, corr, json, &part, 1);
}

int
cw_tlsio_reserve (cw_tlsio_t *io, size_t more)
{
    return s_out_reserve (io, more);
}

size_t
cw_tlsio_pending (const cw_tlsio_t *io)
{
    return io->out_len - io->out_off;
}

int
cw_tlsio_flush (cw_tlsio_t *io, char *reason, size_t size)
{
    io->write_wants_read = false;
    size_t budget = CW_TLSIO_FLUSH_BUDGET;
    while (io->out_len > io->out_off) {
        if (budget == 0) {
            io->want_write = false;
            return 0;    //  the rest at the next POLLOUT
        }
        size_t chunk = io->out_len - io->out_off;
        if (chunk > S_WRITE_CHUNK)
            chunk = S_WRITE_CHUNK;
        if (chunk > budget)
            chunk = budget;
        ERR_clear_error ();
        errno = 0;
        int rc = SSL_write (io->ssl, io->out + io->out_off, (int) chunk);
        if (rc > 0) {
            io->out_off += (size_t) rc;
            budget -= (size_t) rc;
            continue;
        }
        int err = SSL_get_error (io->ssl, rc);
        if (err == SSL_ERROR_WANT_WRITE) {
            io->want_write = true;
            return 0;
        }
        if (err == SSL_ERROR_WANT_READ) {
            io->write_wants_read = true;
            return 0;
        }
        char text [256];
        cw_tls_failure (err, "connection lost", text, sizeof (text));
        snprintf (reason, size, "write failed: %s", text);
        return -1;
    }
    io->out_off = io->out_len = 0;
    io->want_write = false;
    if (io->out_cap > 4 * S_WRITE_CHUNK) {
        free (io->out);    //  do not keep a big blob's buffer
        io->out = NULL;
        io->out_cap = 0;
    }
    return 0;
}

//  Room for at least a quarter chunk more input.
static int
s_in_reserve (cw_tlsio_t *io)
{
    if (io->in_cap - io->in_len >= S_READ_CHUNK / 4)
        return 0;
    size_t cap = io->in_cap ? io->in_cap * 2 : S_READ_CHUNK;
    //  A large frame in progress (it starts at offset 0): grow to what it
    //  needs rather than to the next power of two
    if (io->in_len >= 4) {
        size_t need = cw_frame_wanted (io->in, io->in_len) + S_READ_CHUNK;
        if (cap > need && need >= io->in_len + S_READ_CHUNK / 4)
            cap = need;
    }
    uint8_t *in = realloc (io->in, cap);
    if (!in)
        return -1;
    io->in = in;
    io->in_cap = cap;
    return 0;
}

int
cw_tlsio_read (cw_tlsio_t *io, int *ssl_error, char *text, size_t size)
{
    *ssl_error = SSL_ERROR_NONE;
    if (s_in_reserve (io)) {
        cw_copy (text, size, "out of memory");
        return -1;
    }
    size_t room = io->in_cap - io->in_len;
    if (room > INT32_MAX)
        room = INT32_MAX;
    ERR_clear_error ();
    errno = 0;
    int rc = SSL_read (io->ssl, io->in + io->in_len, (int) room);
    if (rc > 0) {
        io->in_len += (size_t) rc;
        return rc;
    }
    int err = SSL_get_error (io->ssl, rc);
    if (err == SSL_ERROR_WANT_READ)
        return 0;
    if (err == SSL_ERROR_WANT_WRITE) {
        io->want_write = true;
        return 0;
    }
    *ssl_error = err;
    cw_tls_failure (err, "TLS error", text, size);
    return -1;
}

void
cw_tlsio_consume (cw_tlsio_t *io, size_t n)
{
    if (n > io->in_len)
        n = io->in_len;
    memmove (io->in, io->in + n, io->in_len - n);
    io->in_len -= n;
    //  Keep the buffer small when idle
    if (io->in_len == 0 && io->in_cap > 4 * S_READ_CHUNK) {
        free (io->in);
        io->in = NULL;
        io->in_cap = 0;
    }
}

void
cw_tlsio_free (cw_tlsio_t *io)
{
    if (io->ssl)
        SSL_free (io->ssl);
    free (io->in);
    free (io->out);
    memset (io, 0, sizeof (*io));
}
