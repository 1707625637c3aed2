/*  netaddr.h - IP literals, socket addresses and outgoing TCP connections
    as the peer connections use them (the managed links and the one-shot
    dial).

    IP text is normalised one way: IPv4 dotted quads, IPv6 in inet_ntop's
    form, and an IPv4-mapped IPv6 address as its IPv4 form, so that the
    address a connection came from compares equal to a configured one.
*/
#ifndef CW_NETADDR_H
#define CW_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

//  Normalise the IP literal TEXT into OUT (may be NULL to only test).
//  Returns the family (AF_INET, AF_INET6), or 0 when TEXT is not an IP
//  literal (NULL and "" are not).
int cw_ip_normalize (const char *text, char *out, size_t size);

//  Fill *SS for IP:PORT. Returns its length, 0 when IP is not an IP
//  literal.
socklen_t cw_sockaddr_make (const char *ip, uint16_t port, struct sockaddr_storage *ss);

//  The normalised IP (and *PORT, may be NULL) of the address in *SS.
void cw_sockaddr_ip (const struct sockaddr_storage *ss, char *ip, size_t size, uint16_t *port);

//  Start a non-blocking TCP connection (TCP_NODELAY, close-on-exec) from
//  BIND_IP (any port) to IP:PORT, both IP literals of one family: dialing
//  from the peering address lets the other side's accept filter see it
//  (it matters on 127.0.1.x and on multi-homed hosts). Returns the socket,
//  connecting: poll it for POLLOUT, then call cw_tcp_connected. Returns -1
//  with ERR: "<ip> is not reachable from <bind_ip>: address family
//  differs" (or either is not an IP literal), "socket: <why>", "bind to
//  <bind_ip>: <why>", "connect to <ip>:<port>: <why>".
int cw_tcp_dial (const char *ip, uint16_t port, const char *bind_ip, char *err, size_t errlen);

//  Whether the connection cw_tcp_dial started on FD (now writable)
//  succeeded: 0, or -1 with ERR "connect to <remote>: <why>".
int cw_tcp_connected (int fd, const char *remote, char *err, size_t errlen);

//  strerror (ERR) starting with a lower-case letter ("connection refused"),
//  as it reads inside a sentence.
void cw_errno_text (int err, char *buf, size_t size);

#endif
