/*  cw_mhd.h - one libmicrohttpd daemon driven from an actor's zloop.

    The web admin actor and the tms actor's fallback listener for
    /alternatesconfiguration.xml both serve HTTPS with libmicrohttpd in
    external-epoll mode (MHD_USE_EPOLL): the daemon's epoll descriptor is a
    zloop poller, a readable descriptor runs the daemon, and work left that
    the descriptor does not show (resumed connections, TLS records already
    read into GnuTLS's buffers: MHD_get_timeout says 0) gets a 1 ms timer.
    The owner starts the daemon itself (its flags and options) and hands it
    here; it also runs cw_mhd_run from a periodic timer for the daemon's
    own timeouts.

    Built as libcauseway_mhd (only the processes that serve HTTP link
    libmicrohttpd).
*/
#ifndef CW_MHD_H
#define CW_MHD_H

#include <czmq.h>
#include <microhttpd.h>
#include <stdarg.h>

typedef struct {
    struct MHD_Daemon *daemon;    //  NULL until started, and after cw_mhd_stop
    zloop_t *loop;
    char log [24];                //  the owner's tag in log lines ("webadmin")
    char name [80];               //  the daemon in log lines ("https 127.0.0.1:8443")
    int soon_timer;               //  a 1 ms timer while work is pending, or -1
} cw_mhd_t;

//  Prepare SELF for a daemon of the owner LOG named NAME on LOOP.
void cw_mhd_init (cw_mhd_t *self, zloop_t *loop, const char *log, const char *name);
//  For MHD_OPTION_EXTERNAL_LOGGER with CLS the cw_mhd_t: libmicrohttpd's
//  messages as warnings "LOG: NAME: text".
void cw_mhd_log (void *cls, const char *fmt, va_list ap);
//  Watch SELF->daemon (started with MHD_USE_EPOLL) in the loop. 0, or -1
//  with the reason in ERR.
int cw_mhd_attach (cw_mhd_t *self, char *err, size_t errlen);
//  Run the daemon while it has work now; what is left after a few rounds
//  gets a 1 ms timer.
void cw_mhd_run (cw_mhd_t *self);
//  Stop watching and stop the daemon (resume its suspended connections
//  first: libmicrohttpd cannot stop with them). Nothing when not started.
void cw_mhd_stop (cw_mhd_t *self);

#endif
