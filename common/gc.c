/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The collection scheduler of the stores (gc.h). State: a debounce timer (armed by the first
 * release since the last start), an interval timer, whether a collection runs, whether another
 * one is wanted after it, and the on-demand callers waiting for the next one to end. Callers
 * that asked while a collection ran wait for the one after it, which is the first to start
 * after their request. The end of each collection is announced by /gc/run in the store's
 * database (events.h).
 */
#include "common/gc.h"

#include <stdlib.h>

#include "common/db.h"
#include "common/events.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
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
	sqlite3 *db;              /* where /gc/run goes */
	const char *daemon;       /* its payload's "daemon" */
	struct br_outbox *outbox; /* kicked after it; may be NULL */
	bool running, again, stopping;
	int closing; /* timers still closing */
	bool free_when_closed;
	struct waiter *current; /* wait for the running collection */
	struct waiter *next;    /* wait for the one after it */
	/* For metrics: collections ended (failed ones too) and what they removed. */
	uint64_t runs, failures;
	int64_t removed, bytes_freed;
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
br_gc_new(uv_loop_t *uv, sqlite3 *db, const char *daemon, int64_t delay_ms, int64_t interval_ms,
          br_gc_run_fn run, void *data)
{
	struct br_gc *gc = xnew(struct br_gc);

	gc->db = db;
	gc->daemon = daemon;
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
br_gc_set_outbox(struct br_gc *gc, struct br_outbox *ob)
{
	gc->outbox = ob;
}

/* /gc/run for the collection that ended, in a transaction of its own: the collection's own
 * changes are committed already, each with its events. A failure is logged: the collection
 * happened all the same. */
static void
announce(struct br_gc *gc, const struct br_gc_result *r, const br_err *err)
{
	struct br_event_gc_run ev = {
	        .daemon = gc->daemon,
	        .removed = r->removed,
	        .bytes = r->bytes,
	        .leases = r->leases,
	        .ingests = r->ingests,
	        .orphans = r->orphans,
	        .duration_ms = r->duration_ms,
	        .error = err != NULL ? err->msg : NULL,
	};
	br_err e = BR_ERR_INIT;

	if (gc->db == NULL)
		return;
	if (br_db_begin(gc->db, &e) < 0 ||
	    br_event_add(gc->db, BR_STORE_EVENT_NS, BR_TOPIC_GC_RUN, &br_event_gc_run_schema, &ev,
	                 &e) < 0 ||
	    br_db_commit(gc->db, &e) < 0) {
		br_db_rollback(gc->db);
		br_log_warn("GC-EVENT", "%s: collection event: %s", gc->daemon, e.msg);
		return;
	}
	if (gc->outbox != NULL)
		br_outbox_kick(gc->outbox);
}

void
br_gc_finished(struct br_gc *gc, const struct br_gc_result *result, const br_err *err)
{
	struct waiter *done = gc->current;
	static const struct br_gc_result none;

	announce(gc, result != NULL ? result : &none, err);
	gc->runs++;
	gc->failures += err != NULL;
	if (result != NULL) {
		gc->removed += result->removed;
		gc->bytes_freed += result->bytes;
	}

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

void
br_gc_metrics(const struct br_gc *gc, struct br_metrics *m)
{
	br_metrics_counter(m, "berth_gc_runs_total", "Collections that ended, failed ones too.",
	                   NULL, (double)gc->runs, NULL);
	br_metrics_counter(m, "berth_gc_failures_total", "Collections that ended with an error.",
	                   NULL, (double)gc->failures, NULL);
	br_metrics_counter(m, "berth_gc_removed_total",
	                   "Blobs or snapshots removed by collections.", NULL, (double)gc->removed,
	                   NULL);
	br_metrics_counter(m, "berth_gc_freed_bytes_total",
	                   "Bytes freed by collections, where known (blob sizes, measured "
	                   "snapshots).",
	                   NULL, (double)gc->bytes_freed, NULL);
}
