/*  cw_log.c - logging for every Causeway process.

    Lines go to stderr (which systemd's journal captures) as
        <RFC 3339 UTC time> <process>[<pid>] <level>: <message>
    and, when enabled, to syslog(3). The level check happens in the CW_LOG
    macro, so a disabled debug line costs one comparison.
*/
#include "cw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int cw_log_threshold = CW_LOG_INFO;
static char s_process [64] = "causeway";
static bool s_syslog = false;

static const char *s_level_names [] = { "error", "warn", "info", "debug" };

void
cw_log_init (const char *process_name, cw_log_level_t level)
{
    if (process_name)
        snprintf (s_process, sizeof s_process, "%s", process_name);
    cw_log_threshold = level;
}

int
cw_log_level_parse (const char *text)
{
    for (int i = 0; text && i < 4; i++)
        if (strcmp (text, s_level_names [i]) == 0)
            return i;
    return -1;
}

void
cw_log_set_level (cw_log_level_t level)
{
    cw_log_threshold = level;
}

void
cw_log_syslog (bool enabled)
{
    if (enabled && !s_syslog)
        openlog (s_process, LOG_PID, LOG_DAEMON);
    s_syslog = enabled;
}

void
cw_log_write (cw_log_level_t level, const char *fmt, ...)
{
    if ((int) level < 0 || level > CW_LOG_DEBUG)
        level = CW_LOG_ERROR;
    char message [2048];
    va_list args;
    va_start (args, fmt);
    vsnprintf (message, sizeof message, fmt, args);
    va_end (args);

    struct timeval now;
    gettimeofday (&now, NULL);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    char stamp [32];
    strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf (stderr, "%s.%03ldZ %s[%d] %s: %s\n", stamp, (long) (now.tv_usec / 1000), s_process, (int) getpid (),
             s_level_names [level], message);
    if (s_syslog) {
        static const int priorities [] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
        syslog (priorities [level], "%s", message);
    }
}
