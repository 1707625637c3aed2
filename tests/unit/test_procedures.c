/*  test_procedures.c - unit tests of the procedure engine
    (actors/replication/procedures/engine.c).

    The engine runs here on a fake clock and fake peers: its io records
    each call with its token, and a test answers a call by handing the
    token to cw_engine_deliver, advances the clock, and ticks. The status
    is kept in an in-memory SQLite database. Covered: steps run in order,
    a reply advances a waiting step, a deadline fails the procedure naming
    the step, a second procedure is refused while one runs (and after a
    hold), late answers are dropped, goto and ticks, and the status and
    log contents, live and saved.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

//  ---------------------------------------------------------------------
//  The fake io

#define S_CALLS_MAX 16

static int64_t s_now_ms;
static struct {
    int peer;
    json_t *request;
    void *token;
} s_calls [S_CALLS_MAX];
static int s_call_count;
static bool s_unreachable;    //  calls fail (peer cannot be reached)

static int64_t
s_now (void *env)
{
    (void) env;
    return s_now_ms;
}

static int
s_call (void *env, int peer, json_t *request, int timeout_ms, void *token)
{
    (void) env;
    (void) timeout_ms;
    if (s_unreachable || s_call_count == S_CALLS_MAX) {
        json_decref (request);
        return -1;
    }
    s_calls [s_call_count].peer = peer;
    s_calls [s_call_count].request = request;
    s_calls [s_call_count].token = token;
    s_call_count++;
    return 0;
}

//  The context of a test procedure: what ran, in order.
typedef struct {
    char trace [512];
    int ended;
    bool ended_ok;
    char end_error [768];
    int ticks;
} s_ctx_t;

static int s_freed;

static void
s_trace (s_ctx_t *ctx, const char *what)
{
    size_t used = strlen (ctx->trace);
    snprintf (ctx->trace + used, sizeof ctx->trace - used, "%s%s", used ? " " : "", what);
}

static void
s_on_end (cw_engine_t *engine, void *arg, bool ok, const char *error)
{
    (void) engine;
    s_ctx_t *ctx = arg;
    ctx->ended++;
    ctx->ended_ok = ok;
    snprintf (ctx->end_error, sizeof ctx->end_error, "%s", error);
}

//  Contexts are owned by the tests (static); the engine "frees" by count.
static void
s_free (void *arg)
{
    (void) arg;
    s_freed++;
}

static cw_engine_t *
s_engine (sqlite3 *db)
{
    s_now_ms = 1000000;
    for (int i = 0; i < s_call_count; i++)
        json_decref (s_calls [i].request);
    s_call_count = 0;
    s_unreachable = false;
    s_freed = 0;
    cw_engine_io_t io = { .now_ms = s_now, .call = s_call, .env = NULL };
    cw_engine_t *engine = cw_engine_new (&io, db);
    assert_non_null (engine);
    return engine;
}

static void
s_engine_done (cw_engine_t **engine)
{
    cw_engine_destroy (engine);
    for (int i = 0; i < s_call_count; i++)
        json_decref (s_calls [i].request);
    s_call_count = 0;
}

//  ---------------------------------------------------------------------
//  Steps

static cw_step_result_t
s_first (cw_engine_t *engine, void *arg)
{
    (void) engine;
    s_trace (arg, "first");
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_second (cw_engine_t *engine, void *arg)
{
    cw_engine_log (engine, "second ran");
    s_trace (arg, "second");
    return CW_STEP_NEXT;
}

static cw_step_result_t
s_third (cw_engine_t *engine, void *arg)
{
    (void) engine;
    s_trace (arg, "third");
    return CW_STEP_NEXT;
}

//  Call peers 2 and 3, wait for both (the default on_reply).
static cw_step_result_t
s_ask (cw_engine_t *engine, void *arg)
{
    s_trace (arg, "ask");
    if (cw_engine_call (engine, 2, 7, json_pack ("{s:s}", "op", "a"), 0) != 0
        || cw_engine_call (engine, 3, 7, json_pack ("{s:s}", "op", "b"), 0) != 0) {
        cw_engine_fail (engine, "a peer is unreachable");
        return CW_STEP_FAIL;
    }
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_wait (cw_engine_t *engine, void *arg)
{
    (void) engine;
    s_trace (arg, "wait");
    return CW_STEP_WAIT;
}

static cw_step_result_t
s_count_tick (cw_engine_t *engine, void *arg)
{
    (void) engine;
    s_ctx_t *ctx = arg;
    return ++ctx->ticks == 3 ? CW_STEP_NEXT : CW_STEP_WAIT;
}

//  A reply that fails the procedure when the peer said no.
static cw_step_result_t
s_check_reply (cw_engine_t *engine, void *arg, int peer, int tag, bool ok, json_t *json)
{
    char text [64];
    snprintf (text, sizeof text, "reply:%d:%d:%s", peer, tag, ok ? "ok" : "no");
    s_trace (arg, text);
    if (!ok) {
        cw_engine_fail (engine, "peer %d said: %s", peer, json_string_value (json_object_get (json, "error")));
        return CW_STEP_FAIL;
    }
    return cw_engine_calls_out (engine) ? CW_STEP_WAIT : CW_STEP_NEXT;
}

static const cw_step_t s_three_steps [] = { { .name = "first", .enter = s_first },
                                            { .name = "second", .enter = s_second },
                                            { .name = "third", .enter = s_third },
                                            { .name = NULL } };
static const cw_procedure_t s_three = {
    .name = "three", .steps = s_three_steps, .on_end = s_on_end, .free_ctx = s_free
};

static const cw_step_t s_ask_steps [] = { { .name = "ask the peers", .enter = s_ask },
                                          { .name = "third", .enter = s_third },
                                          { .name = NULL } };
static const cw_procedure_t s_asking = {
    .name = "asking", .steps = s_ask_steps, .on_end = s_on_end, .free_ctx = s_free
};

static const cw_step_t s_checked_steps [] = { { .name = "ask the peers", .enter = s_ask, .on_reply = s_check_reply },
                                              { .name = "third", .enter = s_third },
                                              { .name = NULL } };
static const cw_procedure_t s_checked = {
    .name = "checked", .steps = s_checked_steps, .on_end = s_on_end, .free_ctx = s_free
};

static const cw_step_t s_slow_steps [] = { { .name = "first", .enter = s_first },
                                           { .name = "wait for the peer", .enter = s_wait, .deadline_ms = 5000 },
                                           { .name = "third", .enter = s_third },
                                           { .name = NULL } };
static const cw_procedure_t s_slow = {
    .name = "rolling", .steps = s_slow_steps, .keep_status = true, .on_end = s_on_end, .free_ctx = s_free
};
static const cw_procedure_t s_slow_join = { .name = "cluster.join",
                                            .steps = s_slow_steps,
                                            .busy = "a join is already in progress",
                                            .on_end = s_on_end,
                                            .free_ctx = s_free };

static const cw_step_t s_tick_steps [] = { { .name = "count ticks", .enter = s_wait, .on_tick = s_count_tick },
                                           { .name = "third", .enter = s_third },
                                           { .name = NULL } };
static const cw_procedure_t s_ticking = {
    .name = "ticking", .steps = s_tick_steps, .keep_status = true, .on_end = s_on_end, .free_ctx = s_free
};

//  ---------------------------------------------------------------------
//  Tests

static void
test_steps_run_in_order (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256] = "";
    assert_int_equal (cw_engine_start (engine, &s_three, &ctx, NULL, err, sizeof err), 0);
    assert_string_equal (ctx.trace, "first second third");
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_DONE);
    assert_int_equal (ctx.ended, 1);
    assert_true (ctx.ended_ok);
    assert_int_equal (s_freed, 1);
    assert_string_equal (cw_engine_procedure (engine), "three");
    s_engine_done (&engine);
}

static void
test_reply_advances (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    assert_int_equal (cw_engine_start (engine, &s_asking, &ctx, NULL, err, sizeof err), 0);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_RUNNING);
    assert_string_equal (cw_engine_step (engine), "ask the peers");
    assert_int_equal (s_call_count, 2);
    assert_int_equal (s_calls [0].peer, 2);
    assert_int_equal (cw_engine_calls_out (engine), 2);
    //  A tick changes nothing: the step waits for its calls
    cw_engine_tick (engine);
    assert_string_equal (ctx.trace, "ask");
    json_t *answer = json_object ();
    cw_engine_deliver (s_calls [0].token, true, answer);
    assert_string_equal (cw_engine_step (engine), "ask the peers");
    assert_string_equal (ctx.trace, "ask");
    cw_engine_deliver (s_calls [1].token, true, answer);
    assert_string_equal (ctx.trace, "ask third");
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_DONE);
    //  An answer delivered twice is dropped
    cw_engine_deliver (s_calls [1].token, true, answer);
    assert_int_equal (ctx.ended, 1);
    json_decref (answer);
    s_engine_done (&engine);
}

static void
test_reply_handler_fails (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    assert_int_equal (cw_engine_start (engine, &s_checked, &ctx, NULL, err, sizeof err), 0);
    json_t *no = json_pack ("{s:s}", "error", "not today");
    json_t *yes = json_object ();
    cw_engine_deliver (s_calls [1].token, false, no);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_FAILED);
    assert_string_equal (ctx.end_error, "peer 3 said: not today");
    assert_false (ctx.ended_ok);
    //  The other answer comes late: dropped, the procedure stays failed
    cw_engine_deliver (s_calls [0].token, true, yes);
    assert_string_equal (ctx.trace, "ask reply:3:7:no");
    assert_int_equal (ctx.ended, 1);
    json_decref (no);
    json_decref (yes);
    s_engine_done (&engine);
}

static void
test_unreachable_fails_at_start (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_unreachable = true;
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    assert_int_equal (cw_engine_start (engine, &s_asking, &ctx, NULL, err, sizeof err), 0);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_FAILED);
    assert_string_equal (ctx.end_error, "a peer is unreachable");
    assert_int_equal (cw_engine_calls_out (engine), 0);
    s_engine_done (&engine);
}

static void
test_deadline_fails_naming_the_step (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    json_t *plan = json_pack ("[{s:i}]", "peer", 2);
    assert_int_equal (cw_engine_start (engine, &s_slow, &ctx, plan, err, sizeof err), 0);
    assert_string_equal (cw_engine_step (engine), "wait for the peer");
    s_now_ms += 5000;
    cw_engine_tick (engine);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_RUNNING);    //  not past it yet
    s_now_ms += 1;
    cw_engine_tick (engine);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_FAILED);
    assert_string_equal (ctx.end_error, "step 'wait for the peer' timed out after 5 s");
    assert_string_equal (ctx.trace, "first wait");
    json_t *status = cw_engine_status (engine, "rolling");
    assert_string_equal (json_string_value (json_object_get (status, "state")), "failed");
    assert_string_equal (json_string_value (json_object_get (status, "error")),
                         "step 'wait for the peer' timed out after 5 s");
    json_t *item = json_array_get (json_object_get (status, "steps"), 0);
    assert_string_equal (json_string_value (json_object_get (item, "state")), "failed");
    json_decref (status);
    s_engine_done (&engine);
}

static void
test_second_procedure_refused (void **state)
{
    (void) state;
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t first, second;
    memset (&first, 0, sizeof first);
    memset (&second, 0, sizeof second);
    char err [256] = "";
    json_t *plan = json_pack ("[{s:i}, {s:i}]", "peer", 2, "peer", 1);
    assert_int_equal (cw_engine_start (engine, &s_slow, &first, plan, err, sizeof err), 0);
    assert_int_equal (cw_engine_start (engine, &s_three, &second, NULL, err, sizeof err), -1);
    assert_string_equal (err, "rolling is running (step 1 of 2); follow it with `cluster.rolling_status`");
    assert_string_equal (second.trace, "");
    assert_int_equal (s_freed, 1);    //  the refused context
    json_t *refusal = cw_engine_refusal (engine, "cluster.add");
    assert_non_null (refusal);
    json_decref (refusal);
    s_engine_done (&engine);

    //  A procedure whose status is not kept: its own words, or generic ones
    engine = s_engine (NULL);
    memset (&first, 0, sizeof first);
    assert_int_equal (cw_engine_start (engine, &s_slow_join, &first, NULL, err, sizeof err), 0);
    refusal = cw_engine_refusal (engine, "cluster.join");
    assert_string_equal (json_string_value (json_object_get (refusal, "error")),
                         "cluster.join: a join is already in progress");
    json_decref (refusal);
    s_engine_done (&engine);
    engine = s_engine (NULL);
    memset (&first, 0, sizeof first);
    assert_int_equal (cw_engine_start (engine, &s_asking, &first, NULL, err, sizeof err), 0);
    assert_int_equal (cw_engine_start (engine, &s_three, &second, NULL, err, sizeof err), -1);
    assert_string_equal (err, "three: asking is in progress; retry when it has finished");
    //  Once it has ended, another may start
    json_t *answer = json_object ();
    cw_engine_deliver (s_calls [0].token, true, answer);
    cw_engine_deliver (s_calls [1].token, true, answer);
    json_decref (answer);
    assert_null (cw_engine_refusal (engine, "three"));
    assert_int_equal (cw_engine_start (engine, &s_three, &second, NULL, err, sizeof err), 0);
    assert_string_equal (second.trace, "first second third");
    //  After a hold (the node restarts to finish), nothing starts
    cw_engine_hold (engine);
    assert_int_equal (cw_engine_start (engine, &s_three, &second, NULL, err, sizeof err), -1);
    assert_string_equal (err, "this primary is restarting to finish three; retry when it is back");
    s_engine_done (&engine);
}

static void
test_ticks_and_status (void **state)
{
    (void) state;
    sqlite3 *db = NULL;
    assert_int_equal (sqlite3_open (":memory:", &db), SQLITE_OK);
    cw_engine_t *engine = s_engine (db);
    json_t *status = cw_engine_status (engine, "ticking");
    assert_string_equal (json_string_value (json_object_get (status, "state")), "idle");
    json_decref (status);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    json_t *plan = json_pack ("[{s:i, s:s}, {s:i, s:s}]", "peer", 2, "state", "pending", "peer", 1, "state", "pending");
    assert_int_equal (cw_engine_start (engine, &s_ticking, &ctx, plan, err, sizeof err), 0);
    cw_engine_plan_state (engine, "running", "");
    status = cw_engine_status (engine, "ticking");
    assert_string_equal (json_string_value (json_object_get (status, "procedure")), "ticking");
    assert_string_equal (json_string_value (json_object_get (status, "state")), "running");
    assert_int_equal (json_integer_value (json_object_get (status, "step")), 1);
    assert_int_equal (json_integer_value (json_object_get (status, "steps_total")), 2);
    json_decref (status);
    cw_engine_tick (engine);
    cw_engine_tick (engine);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_RUNNING);
    cw_engine_plan_state (engine, "done", "");
    assert_true (cw_engine_plan_next (engine));
    cw_engine_log (engine, "peer %d is next", 1);
    cw_engine_tick (engine);
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_DONE);
    assert_string_equal (ctx.trace, "wait third");
    //  The log: started, the step's line, done, each "HH:MM:SS text"
    json_t *log = cw_engine_log_lines (engine);
    assert_int_equal (json_array_size (log), 3);
    assert_string_equal (json_string_value (json_array_get (log, 0)) + 9, "started: 2 steps");
    assert_string_equal (json_string_value (json_array_get (log, 1)) + 9, "peer 1 is next");
    assert_string_equal (json_string_value (json_array_get (log, 2)) + 9, "done");
    status = cw_engine_status (engine, "ticking");
    assert_string_equal (json_string_value (json_object_get (status, "state")), "done");
    assert_int_equal (json_integer_value (json_object_get (status, "step")), 2);
    assert_null (json_object_get (status, "error"));
    json_decref (status);
    s_engine_done (&engine);
    //  Saved: a new engine on the same database shows it, with finished_at
    engine = s_engine (db);
    status = cw_engine_status (engine, "ticking");
    assert_string_equal (json_string_value (json_object_get (status, "state")), "done");
    assert_non_null (json_string_value (json_object_get (status, "finished_at")));
    assert_int_equal (json_array_size (json_object_get (status, "log")), 3);
    json_decref (status);
    s_engine_done (&engine);
    sqlite3_close (db);
}

static cw_step_result_t
s_loop_back (cw_engine_t *engine, void *arg)
{
    s_ctx_t *ctx = arg;
    s_trace (ctx, "back");
    if (cw_engine_plan_next (engine))
        cw_engine_goto (engine, "first");
    return CW_STEP_NEXT;
}

static void
test_goto_repeats_steps (void **state)
{
    (void) state;
    static const cw_step_t steps [] = { { .name = "first", .enter = s_first },
                                        { .name = "back", .enter = s_loop_back },
                                        { .name = NULL } };
    static const cw_procedure_t looping = { .name = "looping", .steps = steps, .on_end = s_on_end };
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    json_t *plan = json_pack ("[{}, {}, {}]");
    assert_int_equal (cw_engine_start (engine, &looping, &ctx, plan, err, sizeof err), 0);
    assert_string_equal (ctx.trace, "first back first back first back");
    assert_true (ctx.ended_ok);
    s_engine_done (&engine);
}

//  A step that calls peer 2, and on a tick gives up on that call and
//  begins again (a new visit of the same step).
static cw_step_result_t
s_ask_one (cw_engine_t *engine, void *arg)
{
    s_trace (arg, "ask");
    return cw_engine_call (engine, 2, 0, json_object (), 0) == 0 ? CW_STEP_WAIT : CW_STEP_FAIL;
}

static cw_step_result_t
s_ask_again (cw_engine_t *engine, void *arg)
{
    (void) arg;
    cw_engine_goto (engine, "ask");
    return CW_STEP_NEXT;
}

static void
test_answer_of_an_earlier_visit_dropped (void **state)
{
    (void) state;
    static const cw_step_t steps [] = {
        { .name = "ask", .enter = s_ask_one, .on_reply = s_check_reply, .on_tick = s_ask_again },
        { .name = "third", .enter = s_third },
        { .name = NULL }
    };
    static const cw_procedure_t again = { .name = "again", .steps = steps, .on_end = s_on_end };
    cw_engine_t *engine = s_engine (NULL);
    s_ctx_t ctx;
    memset (&ctx, 0, sizeof ctx);
    char err [256];
    assert_int_equal (cw_engine_start (engine, &again, &ctx, NULL, err, sizeof err), 0);
    cw_engine_tick (engine);
    assert_string_equal (ctx.trace, "ask ask");
    assert_int_equal (s_call_count, 2);
    json_t *answer = json_object ();
    cw_engine_deliver (s_calls [0].token, true, answer);    //  the first visit's: dropped
    assert_string_equal (ctx.trace, "ask ask");
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_RUNNING);
    cw_engine_deliver (s_calls [1].token, true, answer);
    assert_string_equal (ctx.trace, "ask ask reply:2:0:ok third");
    assert_int_equal (cw_engine_state (engine), CW_ENGINE_DONE);
    json_decref (answer);
    s_engine_done (&engine);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_steps_run_in_order),
        cmocka_unit_test (test_reply_advances),
        cmocka_unit_test (test_reply_handler_fails),
        cmocka_unit_test (test_unreachable_fails_at_start),
        cmocka_unit_test (test_deadline_fails_naming_the_step),
        cmocka_unit_test (test_second_procedure_refused),
        cmocka_unit_test (test_ticks_and_status),
        cmocka_unit_test (test_goto_repeats_steps),
        cmocka_unit_test (test_answer_of_an_earlier_visit_dropped),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
