/*  netaddr.c - IP literals, socket addresses and outgoing TCP connections
    of the peer connections (see netaddr.h). Thin wrappers around
    inet_pton / inet_ntop that fold IPv4-mapped IPv6 addresses into IPv4,
    and the socket calls of a non-blocking connect.
*/
#include "netaddr.h"
#include "cw_text.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
cw_ip_normalize (const char *text, char *out, size_t size)
{
    unsigned char buf [sizeof (struct in6_addr)];
    if (!text || !*text)
        return 0;
    if (inet_pton (AF_INET, text, buf) == 1) {
        if (out)
            inet_ntop (AF_INET, buf, out, (socklen_t) size);
        return AF_INET;
    }
    if (inet_pton (AF_INET6, text, buf) == 1) {
        struct in6_addr *a6 = (struct in6_addr *) buf;
        if (IN6_IS_ADDR_V4MAPPED (a6)) {
            if (out)
                inet_ntop (AF_INET, buf + 12, out, (socklen_t) size);
            return AF_INET;
        }
        if (out)
            inet_ntop (AF_INET6, buf, out, (socklen_t) size);
        return AF_INET6;
    }
    return 0;
}

socklen_t
cw_sockaddr_make (const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
    memset (ss, 0, sizeof (*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
    if (!ip)
        return 0;
    if (inet_pton (AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons (port);
        return sizeof (*sin);
    }
    if (inet_pton (AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons (port);
        return sizeof (*sin6);
    }
    return 0;
}

void
cw_sockaddr_ip (const struct sockaddr_storage *ss, char *ip, size_t size, uint16_t *port)
{
    char raw [64] = "";
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
        inet_ntop (AF_INET, &sin->sin_addr, raw, sizeof (raw));
        if (port)
            *port = ntohs (sin->sin_port);
    }
    else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
        inet_ntop (AF_INET6, &sin6->sin6_addr, raw, sizeof (raw));
        if (port)
            *port = ntohs (sin6->sin6_port);
    }
    if (!cw_ip_normalize (raw, ip, size))
        cw_copy (ip, size, raw);
}

void
cw_errno_text (int err, char *buf, size_t size)
{
    cw_copy (buf, size, strerror (err));
    if (buf [0] >= 'A' && buf [0] <= 'Z')
        buf [0] = (char) (buf [0] - 'A' + 'a');
}

int
cw_tcp_dial (const char *ip, uint16_t port, const char *bind_ip, char *err, size_t errlen)
{
    struct sockaddr_storage to, from;
    socklen_t tolen = cw_sockaddr_make (ip, port, &to);
    socklen_t fromlen = cw_sockaddr_make (bind_ip, 0, &from);
    if (!tolen || !fromlen || to.ss_family != from.ss_family) {
        snprintf (err, errlen, "%s is not reachable from %s: address family differs", ip ? ip : "",
                  bind_ip ? bind_ip : "");
        return -1;
    }
    char text [128];
    int fd = socket (to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cw_errno_text (errno, text, sizeof (text));
        snprintf (err, errlen, "socket: %s", text);
        return -1;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
    if (bind (fd, (struct sockaddr *) &from, fromlen) != 0) {
        cw_errno_text (errno, text, sizeof (text));
        snprintf (err, errlen, "bind to %s: %s", bind_ip, text);
        close (fd);
        return -1;
    }
    if (connect (fd, (struct sockaddr *) &to, tolen) != 0 && errno != EINPROGRESS) {
        cw_errno_text (errno, text, sizeof (text));
        snprintf (err, errlen, "connect to %s:%u: %s", ip, (unsigned) port, text);
        close (fd);
        return -1;
    }
    return fd;
}

int
cw_tcp_connected (int fd, const char *remote, char *err, size_t errlen)
{
    int soerr = 0;
    socklen_t len = sizeof (soerr);
    if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (!soerr)
        return 0;
    char text [128];
    cw_errno_text (soerr, text, sizeof (text));
    snprintf (err, errlen, "connect to %s: %s", remote, text);
    return -1;
}
