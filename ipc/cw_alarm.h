/*  cw_alarm.h - the alarm catalogue and the calls actors use to raise and
    clear alarms.

    The catalogue (cw_alarm.c) is the one table of alarm ids in the code;
    the README has the same table. Ids 90000-99999 are the operator range:
    alarms that operators' own checks raise and clear over the control
    protocol. A control client may raise only the operator range; actors
    may raise any catalogue id.

    An alarm is identified by (id, subject): SUBJECT says which thing it is
    about (an actor name for 10001, a peer address for cluster alarms) and
    may be "" when there is only one. cw_alarm_raise / cw_alarm_clear send a
    reliable request to the alarms actor (see cw_actor_request_reliable):
    it is re-sent until the alarms actor has committed it, so no raise or
    clear is lost while the alarms actor restarts.

    Wire commands handled by the alarms actor:
      alarms.raise {id, detail, subject?}     alarms.clear {id, subject?}
      alarms.list {all?}   alarms.ack {uuid}
*/
#ifndef CW_ALARM_H
#define CW_ALARM_H

#include <stdbool.h>
#include <stddef.h>

typedef struct _cw_actor_t cw_actor_t;

#define CW_ALARM_ACTOR_FAILED 10001
#define CW_ALARM_OPERATOR_MIN 90000
#define CW_ALARM_OPERATOR_MAX 99999

typedef struct {
    int id;
    const char *severity;    //  info | warning | error | critical
    const char *title;       //  one line
    const char *action;      //  what fixes it
} cw_alarm_def_t;

//  The definition of ID: a catalogue entry, the generic operator entry for
//  90000-99999, or NULL for an unknown id.
const cw_alarm_def_t *cw_alarm_lookup (int id);
//  The whole catalogue (not including the operator range).
const cw_alarm_def_t *cw_alarm_catalogue (size_t *count);
bool cw_alarm_is_operator (int id);
//  "info|warning|error|critical" -> true.
bool cw_alarm_severity_valid (const char *severity);

//  Raise / clear alarm ID about SUBJECT (NULL = "") from actor SELF.
int cw_alarm_raise (cw_actor_t *self, int id, const char *subject, const char *detail);
int cw_alarm_clear (cw_actor_t *self, int id, const char *subject);

#endif
