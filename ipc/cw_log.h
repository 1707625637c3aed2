/*  cw_log.h - logging for every Causeway process.

    One macro, CW_LOG (level, fmt, ...), checks the level before it formats
    anything, then writes one line to stderr tagged with the process name:
        2026-11-28T09:00:00.123Z alarms[1234] info: alarm raised id=90001
    Write fields as key=value. Never log a secret. When syslog is enabled
    (cw_log_syslog), lines also go to syslog(3) under the process name.
*/
#ifndef CW_LOG_H
#define CW_LOG_H

#include <stdbool.h>

typedef enum {
    CW_LOG_ERROR = 0,
    CW_LOG_WARN = 1,
    CW_LOG_INFO = 2,
    CW_LOG_DEBUG = 3
} cw_log_level_t;

extern int cw_log_threshold;

//  Set the process tag (e.g. "causewayd", "alarms"); copied.
void cw_log_init (const char *process_name, cw_log_level_t level);
//  Parse "error|warn|info|debug"; returns -1 for anything else.
int cw_log_level_parse (const char *text);
void cw_log_set_level (cw_log_level_t level);
//  Also send every line to syslog(3) (LOG_DAEMON).
void cw_log_syslog (bool enabled);
void cw_log_write (cw_log_level_t level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

#define CW_LOG(level, ...)                                                                                             \
    do {                                                                                                               \
        if ((int) (level) <= cw_log_threshold)                                                                         \
            cw_log_write ((level), __VA_ARGS__);                                                                       \
    } while (0)
#define cw_error(...) CW_LOG (CW_LOG_ERROR, __VA_ARGS__)
#define cw_warn(...) CW_LOG (CW_LOG_WARN, __VA_ARGS__)
#define cw_info(...) CW_LOG (CW_LOG_INFO, __VA_ARGS__)
#define cw_debug(...) CW_LOG (CW_LOG_DEBUG, __VA_ARGS__)

#endif
