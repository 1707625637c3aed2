/*  tlsio.h - the buffered byte stream of one non-blocking TLS connection
    carrying peer frames (frame.h): frames queued and not yet taken by
    SSL_write, and bytes read and not yet framed.

    The owner polls the socket and calls cw_tlsio_flush / cw_tlsio_read
    when it is ready; both return instead of blocking and say, in
    want_write and write_wants_read, what OpenSSL waits for, so the owner
    knows which poll events to ask for:
      - want_write: OpenSSL needs the socket writable (POLLOUT);
      - write_wants_read: SSL_write needs incoming bytes first (POLLIN
        only; asking for POLLOUT then would spin).
    Output bytes stay where they are while SSL_write retries (the TLS
    context allows a moving write buffer, so compaction may move them).
    Big buffers are released once empty, so an idle connection holds
    little memory after a large blob went through. One flush writes at
    most CW_TLSIO_FLUSH_BUDGET bytes, so a large queue never holds the
    owner's loop for long: what is left waits for the next POLLOUT.
*/
#ifndef CW_TLSIO_H
#define CW_TLSIO_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_TLSIO_FLUSH_BUDGET (4u * 1024u * 1024u)

typedef struct {
    SSL *ssl;       //  owned: freed by cw_tlsio_free
    uint8_t *in;    //  bytes read, not yet consumed as frames
    size_t in_len, in_cap;
    uint8_t *out;    //  queued frame bytes; [out_off, out_len) not yet written
    size_t out_off, out_len, out_cap;
    bool want_write;
    bool write_wants_read;
} cw_tlsio_t;

//  Queue one frame (JSON text, not re-parsed, may be NULL; BLOB may be
//  NULL when BLOB_LEN is 0; both copied). Returns the bytes queued, or 0
//  when the frame is too large or memory runs out.
size_t cw_tlsio_queue (cw_tlsio_t *io, uint8_t type, uint64_t corr, const char *json, const void *blob,
                       size_t blob_len);

//  One byte range of a frame's blob (cw_tlsio_queue_parts).
typedef struct {
    const void *data;    //  may be NULL when len is 0
    size_t len;
} cw_tlsio_part_t;

//  Queue one frame whose blob is the concatenation of the COUNT ranges of
//  PARTS (copied), as cw_tlsio_queue. Returns the bytes queued, or 0.
size_t cw_tlsio_queue_parts (cw_tlsio_t *io, uint8_t type, uint64_t corr, const char *json,
                             const cw_tlsio_part_t *parts, int count);

//  Make room for MORE bytes of output, so that queueing that many bytes
//  cannot fail. 0, or -1 when memory runs out (nothing changed).
int cw_tlsio_reserve (cw_tlsio_t *io, size_t more);

//  Bytes queued and not yet taken by SSL_write.
size_t cw_tlsio_pending (const cw_tlsio_t *io);

//  Write what SSL takes now, at most CW_TLSIO_FLUSH_BUDGET bytes. Returns
//  0 (everything written; or waiting as want_write / write_wants_read
//  say; or the budget spent with bytes still pending and neither flag
//  set: flush again when the socket is writable), or -1 with REASON
//  "write failed: <why>" (the connection is dead).
int cw_tlsio_flush (cw_tlsio_t *io, char *reason, size_t size);

//  Read what SSL has now into the input buffer (one SSL_read). Returns
//  the number of bytes added (> 0; frame them, then cw_tlsio_consume), 0
//  when OpenSSL must wait (want_write set if it waits to write), or -1
//  when the connection ended: *SSL_ERROR is SSL_get_error's code and TEXT
//  says why ("connection closed by peer", the system's or OpenSSL's
//  reason, "out of memory").
int cw_tlsio_read (cw_tlsio_t *io, int *ssl_error, char *text, size_t size);

//  Drop the first N bytes of the input (frames handled).
void cw_tlsio_consume (cw_tlsio_t *io, size_t n);

//  Free the buffers and the SSL object; the struct may be reused (zeroed).
void cw_tlsio_free (cw_tlsio_t *io);

#endif
