/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collection scheduler of the stores (gc.h). State: a debounce timer (armed by the first
 * release since the last start), an interval timer, whether a collection runs, whether another
 * one is wanted after it, and the on-demand callers waiting for the next one to end. Callers
 * that asked while a collection ran wait for the one after it, which is the first to start
 * after their request.
 */
#include "common/gc.h"

#include <stdlib.h>

#include "common/log.h"
#include "common/xalloc.h"

struct waiter {
	struct waiter *next;
	br_gc_done_fn done;
	void *arg;
};

struct br_gc {
	uv_timer_t delay_timer, interval_timer;
	uv_idle_t step_idle; /* br_gc_step */
	void (*step_fn)(void *arg);
	void *step_arg;
	int64_t delay_ms, interval_ms;
	br_gc_run_fn run;
	void *data;
	bool running, again, stopping;
	int closing; /* timers still closing */
	bool free_when_closed;
	struct waiter *current; /* wait for the running collection */
	struct waiter *next;    /* wait for the one after it */
};

static void start(struct br_gc *gc);

static void
timer_fired(uv_timer_t *t)
{
	start(t->data);
}

static void
start(struct br_gc *gc)
{
	if (gc->stopping)
		return;
	if (gc->running) {
		gc->again = true;
		return;
	}
	uv_timer_stop(&gc->delay_timer);
	gc->running = true;
	gc->again = false;
	gc->current = gc->next;
	gc->next = NULL;
	gc->run(gc->data, gc);
}

struct br_gc *
br_gc_new(uv_loop_t *uv, int64_t delay_ms, int64_t interval_ms, br_gc_run_fn run, void *data)
{
	struct br_gc *gc = xnew(struct br_gc);

	gc->delay_ms = delay_ms;
	gc->interval_ms = interval_ms;
	gc->run = run;
	gc->data = data;
	uv_timer_init(uv, &gc->delay_timer);
	uv_timer_init(uv, &gc->interval_timer);
	uv_idle_init(uv, &gc->step_idle);
	gc->delay_timer.data = gc->interval_timer.data = gc->step_idle.data = gc;
	if (interval_ms > 0)
		uv_timer_start(&gc->interval_timer, timer_fired, (uint64_t)interval_ms,
		               (uint64_t)interval_ms);
	return gc;
}

static void
fail_waiters(struct waiter **list, const br_err *err)
{
	while (*list != NULL) {
		struct waiter *w = *list;
		*list = w->next;
		w->done(w->arg, NULL, err);
		free(w);
	}
}

void
br_gc_stop(struct br_gc *gc)
{
	br_err err = BR_ERR_INIT;

	if (gc->stopping)
		return;
	gc->stopping = true;
	uv_timer_stop(&gc->delay_timer);
	uv_timer_stop(&gc->interval_timer);
	br_err_set(&err, BR_UNAVAILABLE, "the store is stopping");
	fail_waiters(&gc->next, &err);
}

static void
timer_closed(uv_handle_t *h)
{
	struct br_gc *gc = h->data;

	if (--gc->closing == 0 && gc->free_when_closed)
		free(gc);
}

void
br_gc_free(struct br_gc *gc)
{
	if (gc == NULL)
		return;
	br_gc_stop(gc);
	gc->closing = 3;
	gc->free_when_closed = true;
	uv_close((uv_handle_t *)&gc->delay_timer, timer_closed);
	uv_close((uv_handle_t *)&gc->interval_timer, timer_closed);
	uv_close((uv_handle_t *)&gc->step_idle, timer_closed);
}

void
br_gc_released(struct br_gc *gc)
{
	if (gc->stopping)
		return;
	if (gc->running) {
		gc->again = true;
		return;
	}
	if (!uv_is_active((uv_handle_t *)&gc->delay_timer))
		uv_timer_start(&gc->delay_timer, timer_fired, (uint64_t)gc->delay_ms, 0);
}

void
br_gc_now(struct br_gc *gc, br_gc_done_fn done, void *arg)
{
	struct waiter *w;
	br_err err = BR_ERR_INIT;

	if (gc->stopping) {
		br_err_set(&err, BR_UNAVAILABLE, "the store is stopping");
		done(arg, NULL, &err);
		return;
	}
	w = xnew(struct waiter);
	w->done = done;
	w->arg = arg;
	w->next = gc->next;
	gc->next = w;
	if (gc->running)
		gc->again = true;
	else
		start(gc);
}

void
br_gc_finished(struct br_gc *gc, const struct br_gc_result *result, const br_err *err)
{
	struct waiter *done = gc->current;

	gc->running = false;
	gc->current = NULL;
	while (done != NULL) {
		struct waiter *w = done;
		done = w->next;
		w->done(w->arg, err == NULL ? result : NULL, err);
		free(w);
	}
	/* Asked for while it ran: callers waiting go at once, releases after the usual delay,
	 * so that a burst of releases spanning a collection costs one more, not many. */
	if (gc->again && !gc->stopping)
		uv_timer_start(&gc->delay_timer, timer_fired,
		               gc->next != NULL ? 0 : (uint64_t)gc->delay_ms, 0);
}

static void
step_ready(uv_idle_t *idle)
{
	struct br_gc *gc = idle->data;
	void (*fn)(void *arg) = gc->step_fn;

	uv_idle_stop(idle);
	gc->step_fn = NULL;
	if (fn != NULL)
		fn(gc->step_arg);
}

void
br_gc_step(struct br_gc *gc, void (*fn)(void *arg), void *arg)
{
	gc->step_fn = fn;
	gc->step_arg = arg;
	uv_idle_start(&gc->step_idle, step_ready);
}

bool
br_gc_running(const struct br_gc *gc)
{
	return gc->running;
}

bool
br_gc_stopping(const struct br_gc *gc)
{
	return gc->stopping;
}

static void
reply_done(void *arg, const struct br_gc_result *result, const br_err *err)
{
	br_call *call = arg;

	if (err != NULL)
		br_call_fail(call, err);
	else
		br_call_reply(call, &br_gc_result_schema, result);
}

void
br_gc_handle(br_call *call, void *data)
{
	br_gc_now(data, reply_done, call);
}
