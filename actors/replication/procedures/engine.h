/*  engine.h - the procedure engine: runs one multi-step procedure at a
    time (an orchestrated `causeway cluster ...` command) as a list of
    steps, and keeps its status and log.

    A procedure (cw_procedure_t) is a static list of steps (cw_step_t).
    A step has:
      enter       runs when the step begins: sends peer calls
                  (cw_engine_call), changes things, or decides at once;
      on_reply    runs for each answer to a call of this step (NULL: the
                  step ends when its last call has answered);
      on_tick     runs on every tick of the engine's timer (NULL: none);
      deadline_ms when set, the step fails when it has not ended that long
                  after it began; on_timeout (NULL: "step NAME timed out
                  after N s") words the failure.
    Each of them returns what happens next (cw_step_result_t): wait in
    this step, go to the next one (or to the one named by
    cw_engine_goto), end the procedure done, or end it failed (the reason
    set with cw_engine_fail). After the last step the procedure is done.

    The engine's state is an explicit enum (idle, running, done, failed)
    and one function decides, by state, what a start, a reply or a tick
    does. A second procedure is refused while one runs, and also after a
    procedure asked the node to restart to finish (cw_engine_hold).
    Answers to calls of an older run, or of a step that has ended, are
    dropped.

    Status: {"procedure", "state": "idle"|"running"|"done"|"failed",
    "step", "steps_total", "steps", "log", "error"?}. "steps" is the
    procedure's plan, as shown to users: a list of objects the procedure
    gives at start, each with "state" and "detail" the engine sets
    (cw_engine_plan_state); "step" is the 1-based position in it. The log
    keeps the last 200 lines ("HH:MM:SS text"). For a procedure with
    keep_status, the status at its end is saved in the database (table
    cluster_procedure_status) and shown after a restart with
    "finished_at".

    The engine knows no sockets and no cluster: it takes its monotonic
    clock and its way of calling a peer through cw_engine_io_t, so tests
    drive it with a fake clock and fake peers. An answer comes back
    through cw_engine_deliver with the token the call was given.
*/
#ifndef CW_ENGINE_H
#define CW_ENGINE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _cw_engine_t cw_engine_t;

typedef enum {
    CW_ENGINE_IDLE = 0,    //  no procedure ran since the engine started
    CW_ENGINE_RUNNING,
    CW_ENGINE_DONE,     //  the last procedure ended well
    CW_ENGINE_FAILED    //  the last procedure failed
} cw_engine_state_t;

typedef enum {
    CW_STEP_WAIT = 0,    //  stay in this step
    CW_STEP_NEXT,        //  go on with the next step (or cw_engine_goto's)
    CW_STEP_DONE,        //  the procedure ended well
    CW_STEP_FAIL         //  the procedure failed (reason: cw_engine_fail)
} cw_step_result_t;

//  A step's handlers get the procedure's context CTX (cw_engine_start).
typedef cw_step_result_t (cw_step_fn) (cw_engine_t *engine, void *ctx);
//  An answer to a call the step made: the PEER and TAG given to
//  cw_engine_call, OK false on an error answer or a timeout (then JSON is
//  {"error": ...}). JSON borrowed.
typedef cw_step_result_t (cw_step_reply_fn) (cw_engine_t *engine, void *ctx, int peer, int tag, bool ok, json_t *json);

typedef struct {
    const char *name;              //  NULL ends the list
    cw_step_fn *enter;             //  required
    cw_step_reply_fn *on_reply;    //  NULL: CW_STEP_NEXT when no call is out
    cw_step_fn *on_tick;           //  NULL: ticks do nothing
    int deadline_ms;               //  0: none
    cw_step_fn *on_timeout;        //  NULL: fail naming the step
} cw_step_t;

typedef struct {
    const char *name;    //  e.g. "use_fqdns", "cluster.add"
    const cw_step_t *steps;
    //  The status is saved in the database at the end, and another
    //  procedure is refused with "NAME is running (step N of M); follow it
    //  with `cluster.NAME_status`".
    bool keep_status;
    //  Otherwise the refusal is "COMMAND: BUSY", or without BUSY (NULL)
    //  "COMMAND: NAME is in progress; retry when it has finished".
    const char *busy;
    //  Called once when the procedure ends (after the last step, or on a
    //  failure with ERROR), before CTX is freed. May be NULL.
    void (*on_end) (cw_engine_t *engine, void *ctx, bool ok, const char *error);
    void (*free_ctx) (void *ctx);    //  may be NULL
} cw_procedure_t;

//  What the engine runs on. CALL sends REQUEST (stolen) to PEER and
//  returns 0, then later (never from inside CALL) hands the answer to
//  cw_engine_deliver with TOKEN; or returns -1 when PEER cannot be reached
//  (no answer will come). TIMEOUT_MS <= 0: the caller's default.
typedef struct {
    int64_t (*now_ms) (void *env);    //  monotonic milliseconds
    int (*call) (void *env, int peer, json_t *request, int timeout_ms, void *token);
    void *env;
} cw_engine_io_t;

//  A new engine on IO (copied). DB (borrowed, may be NULL: nothing is
//  kept) holds the saved status of keep_status procedures.
cw_engine_t *cw_engine_new (const cw_engine_io_t *io, sqlite3 *db);
//  Ends a running procedure without calling it back (the node stops).
void cw_engine_destroy (cw_engine_t **self_p);

//  Start DEF with CTX (taken: freed with DEF->free_ctx when the procedure
//  ends, or at once when refused) and PLAN (stolen, may be NULL: no
//  visible steps). Runs the first step's enter now: the procedure may have
//  ended (and on_end run) when this returns. 0, or -1 with ERR when
//  another procedure runs (see cw_engine_refusal).
int cw_engine_start (cw_engine_t *self, const cw_procedure_t *def, void *ctx, json_t *plan, char *err, size_t errlen);
//  Why a procedure cannot start now, as an error body (new) naming
//  COMMAND; NULL when it can.
json_t *cw_engine_refusal (cw_engine_t *self, const char *command);
//  A tick: deadlines, then the step's on_tick. Call every ~250 ms.
void cw_engine_tick (cw_engine_t *self);
//  The answer to a call (or to cw_engine_expect): TOKEN as given, OK, JSON
//  borrowed. Answers of an ended step or procedure are dropped.
void cw_engine_deliver (void *token, bool ok, json_t *json);

// ---------------------------------------------------------------------------
//  For the steps of the running procedure

//  Call PEER with REQUEST (stolen) through the io; the answer goes to the
//  step's on_reply with PEER and TAG. 0, or -1 when it cannot be sent (no
//  answer will come).
int cw_engine_call (cw_engine_t *self, int peer, int tag, json_t *request, int timeout_ms);
//  A token for an answer that comes from elsewhere (a worker thread):
//  hand it to cw_engine_deliver once. NULL when too many are out.
void *cw_engine_expect (cw_engine_t *self, int peer, int tag);
//  Calls of the current step not answered yet.
int cw_engine_calls_out (cw_engine_t *self);
//  The reason of a failure the step is about to return (CW_STEP_FAIL).
void cw_engine_fail (cw_engine_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  A log line (kept in the status, and logged at info level).
void cw_engine_log (cw_engine_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
//  The next CW_STEP_NEXT goes to the step called NAME.
void cw_engine_goto (cw_engine_t *self, const char *name);
//  The current step's deadline: MS from now (0: none).
void cw_engine_deadline (cw_engine_t *self, int ms);
int64_t cw_engine_now (cw_engine_t *self);
//  The current plan item (borrowed), NULL past the last.
json_t *cw_engine_plan_item (cw_engine_t *self);
//  Set the current plan item's "state" and "detail".
void cw_engine_plan_state (cw_engine_t *self, const char *state, const char *detail);
//  Move to the next plan item; false when there is none.
bool cw_engine_plan_next (cw_engine_t *self);
//  The node restarts to finish this procedure: refuse new ones until then.
void cw_engine_hold (cw_engine_t *self);

// ---------------------------------------------------------------------------
//  Status

cw_engine_state_t cw_engine_state (cw_engine_t *self);
//  The running (or last) procedure's name, "" when none ran.
const char *cw_engine_procedure (cw_engine_t *self);
//  The current step's name, "" when none.
const char *cw_engine_step (cw_engine_t *self);
//  The status of PROCEDURE (new): live when it is the running or last
//  one, else as saved, else {"procedure", "state": "idle"}.
json_t *cw_engine_status (cw_engine_t *self, const char *procedure);
//  The log of the running or last procedure (borrowed; an array).
json_t *cw_engine_log_lines (cw_engine_t *self);

#endif
