/*  proxy_pure.c - the pure parts of the proxy (see proxy.h): a flow as the
    user part of a Record-Route URI and back, and the rank of a fork's
    final answers. Only the C library.
*/
#include "proxy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

// ---------------------------------------------------------------------------
//  Pure parts

int
cw_proxy_flow_encode (const char *flow, char *out, size_t outlen)
{
    size_t len = strlen (flow);
    if (len == 0 || 4 + 2 * len + 1 > outlen)
        return -1;
    static const char hex [] = "0123456789abcdef";
    memcpy (out, "cwf-", 4);
    for (size_t i = 0; i < len; i++) {
        out [4 + 2 * i] = hex [(unsigned char) flow [i] >> 4];
        out [4 + 2 * i + 1] = hex [(unsigned char) flow [i] & 15];
    }
    out [4 + 2 * len] = 0;
    return 0;
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
cw_proxy_flow_decode (const char *user, size_t len, char *out, size_t outlen)
{
    if (len < 6 || strncmp (user, "cwf-", 4) != 0 || (len - 4) % 2 || (len - 4) / 2 + 1 > outlen)
        return -1;
    size_t n = 0;
    for (size_t i = 4; i < len; i += 2) {
        int hi = s_hex (user [i]), lo = s_hex (user [i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        char c = (char) (hi * 16 + lo);
        if (!isprint ((unsigned char) c))
            return -1;
        out [n++] = c;
    }
    out [n] = 0;
    return strchr (out, ':') ? 0 : -1;
}

int
cw_proxy_answer_rank (int scode)
{
    if (scode >= 200 && scode < 300)
        return 0;
    if (scode >= 600)
        return 1;
    if (scode >= 300 && scode < 600)
        return scode / 100;
    return 9;
}
