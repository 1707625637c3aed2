/*  cw_placeholder.h - the whole main loop of an actor whose real function
    arrives with a later issue (licensing, tms, routing, webadmin).

    Such an actor is still a real, supervised process: it connects, signals
    READY, heartbeats, counts the config.changed.* STATE messages it receives
    and answers each command in STATUS_COMMANDS (NULL-terminated, e.g.
    "tms.status"; declared idempotent in its command table, so announced
    in READY) with {"actor", "pid", "uptime_s", "config_seen"}; any other
    request gets "unknown command".
*/
#ifndef CW_PLACEHOLDER_H
#define CW_PLACEHOLDER_H

//  Run actor NAME; returns the process exit status.
int cw_placeholder_main (const char *name, const char *const *status_commands, int argc, char **argv);

#endif
