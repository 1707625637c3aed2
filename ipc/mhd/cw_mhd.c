/*  cw_mhd.c - one libmicrohttpd daemon driven from an actor's zloop (see
    cw_mhd.h).
*/
#include "cw_mhd.h"

#include <stdio.h>
#include <string.h>

#include "cw_log.h"
#include "cw_text.h"

void
cw_mhd_init (cw_mhd_t *self, zloop_t *loop, const char *log, const char *name)
{
    memset (self, 0, sizeof *self);
    self->loop = loop;
    self->soon_timer = -1;
    cw_copy (self->log, sizeof self->log, log);
    cw_copy (self->name, sizeof self->name, name);
}

void
cw_mhd_log (void *cls, const char *fmt, va_list ap)
{
    cw_mhd_t *self = cls;
    char text [512];
    vsnprintf (text, sizeof text, fmt, ap);
    size_t len = strlen (text);
    while (len && text [len - 1] == '\n')
        text [--len] = 0;
    cw_warn ("%s: %s: %s", self->log, self->name, text);
}

static int
s_on_soon (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    cw_mhd_t *self = arg;
    self->soon_timer = -1;
    cw_mhd_run (self);
    return 0;
}

void
cw_mhd_run (cw_mhd_t *self)
{
    if (!self->daemon)
        return;
    MHD_UNSIGNED_LONG_LONG timeout = 1;
    for (int round = 0; round < 4; round++) {
        MHD_run (self->daemon);
        if (MHD_get_timeout (self->daemon, &timeout) != MHD_YES || timeout > 0)
            return;
    }
    if (timeout == 0 && self->soon_timer < 0)
        self->soon_timer = zloop_timer (self->loop, 1, 1, s_on_soon, self);
}

static int
s_on_epoll (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    cw_mhd_run ((cw_mhd_t *) arg);
    return 0;
}

int
cw_mhd_attach (cw_mhd_t *self, char *err, size_t errlen)
{
    const union MHD_DaemonInfo *info = self->daemon ? MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD)
                                                    : NULL;
    zmq_pollitem_t item = { NULL, info ? info->epoll_fd : -1, ZMQ_POLLIN, 0 };
    if (!info || zloop_poller (self->loop, &item, s_on_epoll, self) != 0) {
        snprintf (err, errlen, "%s: the event loop refused the daemon's epoll descriptor", self->name);
        return -1;
    }
    return 0;
}

void
cw_mhd_stop (cw_mhd_t *self)
{
    if (!self->daemon)
        return;
    if (self->soon_timer >= 0)
        zloop_timer_end (self->loop, self->soon_timer);
    self->soon_timer = -1;
    MHD_run (self->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info) {
        zmq_pollitem_t item = { NULL, info->epoll_fd, ZMQ_POLLIN, 0 };
        zloop_poller_end (self->loop, &item);
    }
    MHD_stop_daemon (self->daemon);
    self->daemon = NULL;
}
