/*  engine.c - the procedure engine (engine.h).

    One procedure at a time. The engine's state is an enum; s_event is the
    one place that decides, by state, what an event does: a start begins
    the first step, a reply goes to the step that made the call, a tick
    checks the step's deadline and then runs its on_tick; in any state but
    running, replies and ticks are dropped. A step's result moves the
    procedure on (s_follow): next step, done or failed, in a loop, so a
    chain of steps that decide at once runs without recursion.

    Calls are tracked in a fixed table of slots; the token handed to the
    io is the slot. A slot stays taken until its answer arrives (every
    call is answered, at worst by a timeout), so a late answer never lands
    in a slot reused by a newer call; it carries the step it belongs to
    (counted per visit: a step run again is a new one), and answers of a
    step that has ended are dropped.
*/
#include "engine.h"
#include "cw_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SLOTS 32
#define S_LOG_MAX 200

typedef struct {
    cw_engine_t *engine;
    bool in_use;
    uint64_t visit;    //  the step (visit) the call belongs to
    int peer;
    int tag;
} s_slot_t;

struct _cw_engine_t {
    cw_engine_io_t io;
    sqlite3 *db;
    cw_engine_state_t state;
    const cw_procedure_t *def;
    void *ctx;
    char procedure [64];
    char error [768];
    json_t *plan;    //  the visible steps
    int plan_at;
    json_t *log;
    int step;            //  index in def->steps
    const char *jump;    //  cw_engine_goto's target for the next NEXT
    int64_t deadline;    //  0 none
    uint64_t visit;      //  counts the steps begun (a step run again counts again)
    int calls_out;
    bool hold;    //  the node restarts to finish a procedure
    s_slot_t slots [S_SLOTS];
};

typedef enum {
    S_EV_START,
    S_EV_REPLY,
    S_EV_TICK
} s_event_t;

// ---------------------------------------------------------------------------
//  Status kept in the database

static int
s_status_table (sqlite3 *db)
{
    return sqlite3_exec (db,
                         "CREATE TABLE IF NOT EXISTS cluster_procedure_status ("
                         " procedure TEXT PRIMARY KEY, status TEXT NOT NULL, updated_at TEXT)",
                         NULL, NULL, NULL)
                == SQLITE_OK
             ? 0
             : -1;
}

static json_t *
s_live_status (cw_engine_t *self)
{
    static const char *names [] = { "idle", "running", "done", "failed" };
    json_t *status = json_pack ("{s:s, s:s, s:i, s:i, s:O, s:O}", "procedure", self->procedure, "state",
                                names [self->state], "step", self->plan_at + 1, "steps_total",
                                (int) json_array_size (self->plan), "steps", self->plan, "log", self->log);
    if (*self->error)
        json_object_set_new (status, "error", json_string (self->error));
    return status;
}

static void
s_save_status (cw_engine_t *self)
{
    if (!self->db)
        return;
    json_t *status = s_live_status (self);
    char *text = json_dumps (status, JSON_COMPACT);
    json_decref (status);
    sqlite3_stmt *stmt = NULL;
    if (s_status_table (self->db) == 0
        && sqlite3_prepare_v2 (self->db,
                               "INSERT OR REPLACE INTO cluster_procedure_status (procedure, status, "
                               "updated_at) VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
                               -1, &stmt, NULL)
               == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, self->procedure, -1, SQLITE_STATIC);
        sqlite3_bind_text (stmt, 2, text, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) != SQLITE_DONE)
            cw_warn ("cluster: cannot save the status of %s: %s", self->procedure, sqlite3_errmsg (self->db));
    }
    sqlite3_finalize (stmt);
    free (text);
}

static json_t *
s_saved_status (cw_engine_t *self, const char *procedure)
{
    sqlite3_stmt *stmt = NULL;
    json_t *status = NULL;
    if (self->db && s_status_table (self->db) == 0
        && sqlite3_prepare_v2 (self->db,
                               "SELECT status, updated_at FROM cluster_procedure_status "
                               "WHERE procedure = ?1",
                               -1, &stmt, NULL)
               == SQLITE_OK) {
        sqlite3_bind_text (stmt, 1, procedure, -1, SQLITE_STATIC);
        if (sqlite3_step (stmt) == SQLITE_ROW) {
            status = json_loads ((const char *) sqlite3_column_text (stmt, 0), 0, NULL);
            if (json_is_object (status))
                json_object_set_new (status, "finished_at", json_string ((const char *) sqlite3_column_text (stmt, 1)));
            else {
                json_decref (status);
                status = NULL;
            }
        }
    }
    sqlite3_finalize (stmt);
    return status;
}

// ---------------------------------------------------------------------------
//  Life cycle

cw_engine_t *
cw_engine_new (const cw_engine_io_t *io, sqlite3 *db)
{
    cw_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->io = *io;
    self->db = db;
    self->plan = json_array ();
    self->log = json_array ();
    for (int i = 0; i < S_SLOTS; i++)
        self->slots [i].engine = self;
    return self;
}

static void
s_free_ctx (cw_engine_t *self)
{
    if (self->ctx && self->def && self->def->free_ctx)
        self->def->free_ctx (self->ctx);
    self->ctx = NULL;
}

void
cw_engine_destroy (cw_engine_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cw_engine_t *self = *self_p;
    s_free_ctx (self);
    json_decref (self->plan);
    json_decref (self->log);
    free (self);
    *self_p = NULL;
}

// ---------------------------------------------------------------------------
//  Steps

static const cw_step_t *
s_current (cw_engine_t *self)
{
    return self->state == CW_ENGINE_RUNNING ? &self->def->steps [self->step] : NULL;
}

static void
s_end (cw_engine_t *self, bool ok)
{
    if (ok)
        cw_engine_log (self, "done");
    else {
        if (!*self->error)
            snprintf (self->error, sizeof self->error, "step '%s' failed", self->def->steps [self->step].name);
        cw_engine_plan_state (self, "failed", self->error);
        cw_warn ("cluster: %s failed: %s", self->procedure, self->error);
        cw_engine_log (self, "failed: %s", self->error);
    }
    self->state = ok ? CW_ENGINE_DONE : CW_ENGINE_FAILED;
    self->visit++;    //  answers still out are dropped
    self->calls_out = 0;
    self->deadline = 0;
    if (self->def->keep_status)
        s_save_status (self);
    if (self->def->on_end)
        self->def->on_end (self, self->ctx, ok, self->error);
    s_free_ctx (self);
}

static int
s_step_index (cw_engine_t *self, const char *name)
{
    for (int i = 0; self->def->steps [i].name; i++)
        if (strcmp (self->def->steps [i].name, name) == 0)
            return i;
    return -1;
}

//  Begin step INDEX (past the last: the procedure is done).
static cw_step_result_t
s_enter (cw_engine_t *self, int index)
{
    if (!self->def->steps [index].name)
        return CW_STEP_DONE;
    self->step = index;
    self->visit++;
    self->calls_out = 0;
    const cw_step_t *step = &self->def->steps [index];
    self->deadline = step->deadline_ms > 0 ? self->io.now_ms (self->io.env) + step->deadline_ms : 0;
    return step->enter (self, self->ctx);
}

//  Act on a step's RESULT until the procedure waits or ends.
static void
s_follow (cw_engine_t *self, cw_step_result_t result)
{
    while (self->state == CW_ENGINE_RUNNING) {
        switch (result) {
            case CW_STEP_WAIT:
                return;
            case CW_STEP_NEXT: {
                int next = self->step + 1;
                if (self->jump) {
                    next = s_step_index (self, self->jump);
                    if (next < 0) {
                        cw_engine_fail (self, "no step called '%s'", self->jump);
                        self->jump = NULL;
                        result = CW_STEP_FAIL;
                        break;
                    }
                    self->jump = NULL;
                }
                result = s_enter (self, next);
                break;
            }
            case CW_STEP_DONE:
                s_end (self, true);
                return;
            case CW_STEP_FAIL:
                s_end (self, false);
                return;
        }
    }
}

//  The one place that decides what an event does.
static void
s_event (cw_engine_t *self, s_event_t event, s_slot_t *slot, bool ok, json_t *json)
{
    switch (self->state) {
        case CW_ENGINE_IDLE:
        case CW_ENGINE_DONE:
        case CW_ENGINE_FAILED:
            if (event == S_EV_START) {
                self->state = CW_ENGINE_RUNNING;
                cw_engine_log (self, "started: %zu steps", json_array_size (self->plan));
                s_follow (self, s_enter (self, 0));
            }
            return;    //  replies and ticks of an ended run: dropped
        case CW_ENGINE_RUNNING: {
            const cw_step_t *step = s_current (self);
            if (event == S_EV_REPLY) {
                if (slot->visit != self->visit)
                    return;    //  an answer to an ended step
                self->calls_out--;
                s_follow (self, step->on_reply ? step->on_reply (self, self->ctx, slot->peer, slot->tag, ok, json)
                                : self->calls_out > 0 ? CW_STEP_WAIT
                                                      : CW_STEP_NEXT);
            }
            else if (event == S_EV_TICK) {
                if (self->deadline && self->io.now_ms (self->io.env) > self->deadline) {
                    if (step->on_timeout)
                        s_follow (self, step->on_timeout (self, self->ctx));
                    else {
                        cw_engine_fail (self, "step '%s' timed out after %d s", step->name, step->deadline_ms / 1000);
                        s_follow (self, CW_STEP_FAIL);
                    }
                }
                else if (step->on_tick)
                    s_follow (self, step->on_tick (self, self->ctx));
            }
            return;
        }
    }
}

json_t *
cw_engine_refusal (cw_engine_t *self, const char *command)
{
    char text [768];
    if (self->hold)
        snprintf (text, sizeof text, "this primary is restarting to finish %s; retry when it is back", self->procedure);
    else if (self->state != CW_ENGINE_RUNNING)
        return NULL;
    else if (self->def->keep_status)
        snprintf (text, sizeof text, "%s is running (step %d of %zu); follow it with `cluster.%s_status`",
                  self->procedure, self->plan_at + 1, json_array_size (self->plan), self->procedure);
    else if (self->def->busy)
        snprintf (text, sizeof text, "%s: %s", command, self->def->busy);
    else
        snprintf (text, sizeof text, "%s: %s is in progress; retry when it has finished", command, self->procedure);
    return json_pack ("{s:s}", "error", text);
}

int
cw_engine_start (cw_engine_t *self, const cw_procedure_t *def, void *ctx, json_t *plan, char *err, size_t errlen)
{
    json_t *refusal = cw_engine_refusal (self, def->name);
    if (refusal) {
        snprintf (err, errlen, "%s", json_string_value (json_object_get (refusal, "error")));
        json_decref (refusal);
        if (def->free_ctx && ctx)
            def->free_ctx (ctx);
        json_decref (plan);
        return -1;
    }
    self->def = def;
    self->ctx = ctx;
    snprintf (self->procedure, sizeof self->procedure, "%s", def->name);
    self->error [0] = 0;
    json_decref (self->plan);
    self->plan = plan ? plan : json_array ();
    self->plan_at = 0;
    json_array_clear (self->log);
    self->jump = NULL;
    s_event (self, S_EV_START, NULL, false, NULL);
    return 0;
}

void
cw_engine_tick (cw_engine_t *self)
{
    s_event (self, S_EV_TICK, NULL, false, NULL);
}

void
cw_engine_deliver (void *token, bool ok, json_t *json)
{
    s_slot_t *slot = token;
    if (!slot || !slot->in_use)
        return;
    slot->in_use = false;
    s_event (slot->engine, S_EV_REPLY, slot, ok, json);
}

// ---------------------------------------------------------------------------
//  For the steps

void *
cw_engine_expect (cw_engine_t *self, int peer, int tag)
{
    for (int i = 0; i < S_SLOTS; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->in_use)
            continue;
        slot->in_use = true;
        slot->visit = self->visit;
        slot->peer = peer;
        slot->tag = tag;
        self->calls_out++;
        return slot;
    }
    return NULL;
}

int
cw_engine_call (cw_engine_t *self, int peer, int tag, json_t *request, int timeout_ms)
{
    s_slot_t *slot = cw_engine_expect (self, peer, tag);
    if (!slot) {
        json_decref (request);
        return -1;
    }
    if (self->io.call (self->io.env, peer, request, timeout_ms, slot) != 0) {
        slot->in_use = false;
        self->calls_out--;
        return -1;
    }
    return 0;
}

int
cw_engine_calls_out (cw_engine_t *self)
{
    return self->calls_out;
}
int64_t
cw_engine_now (cw_engine_t *self)
{
    return self->io.now_ms (self->io.env);
}
void
cw_engine_goto (cw_engine_t *self, const char *name)
{
    self->jump = name;
}
void
cw_engine_hold (cw_engine_t *self)
{
    self->hold = true;
}
cw_engine_state_t
cw_engine_state (cw_engine_t *self)
{
    return self->state;
}
const char *
cw_engine_procedure (cw_engine_t *self)
{
    return self->procedure;
}
json_t *
cw_engine_log_lines (cw_engine_t *self)
{
    return self->log;
}

void
cw_engine_deadline (cw_engine_t *self, int ms)
{
    self->deadline = ms > 0 ? self->io.now_ms (self->io.env) + ms : 0;
}

const char *
cw_engine_step (cw_engine_t *self)
{
    const cw_step_t *step = s_current (self);
    return step ? step->name : "";
}

void
cw_engine_fail (cw_engine_t *self, const char *fmt, ...)
{
    va_list args;
    va_start (args, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, args);
    va_end (args);
}

void
cw_engine_log (cw_engine_t *self, const char *fmt, ...)
{
    char text [768];
    va_list args;
    va_start (args, fmt);
    vsnprintf (text, sizeof text, fmt, args);
    va_end (args);
    cw_info ("cluster: %s: %s", self->procedure, text);
    if (json_array_size (self->log) >= S_LOG_MAX)
        json_array_remove (self->log, 0);
    char stamp [32];
    time_t now = time (NULL);
    struct tm tm;
    gmtime_r (&now, &tm);
    strftime (stamp, sizeof stamp, "%H:%M:%S", &tm);
    char line [820];
    snprintf (line, sizeof line, "%s %s", stamp, text);
    json_array_append_new (self->log, json_string (line));
}

json_t *
cw_engine_plan_item (cw_engine_t *self)
{
    return json_array_get (self->plan, (size_t) self->plan_at);
}

void
cw_engine_plan_state (cw_engine_t *self, const char *state, const char *detail)
{
    json_t *item = cw_engine_plan_item (self);
    if (!item)
        return;
    json_object_set_new (item, "state", json_string (state));
    json_object_set_new (item, "detail", json_string (detail ? detail : ""));
}

bool
cw_engine_plan_next (cw_engine_t *self)
{
    self->plan_at++;
    return cw_engine_plan_item (self) != NULL;
}

json_t *
cw_engine_status (cw_engine_t *self, const char *procedure)
{
    if (self->state != CW_ENGINE_IDLE && strcmp (self->procedure, procedure) == 0)
        return s_live_status (self);
    json_t *saved = s_saved_status (self, procedure);
    return saved ? saved : json_pack ("{s:s, s:s}", "procedure", procedure, "state", "idle");
}
