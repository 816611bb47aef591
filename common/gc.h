/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When a store (contentd, snapshotd) collects garbage: a scheduler that starts one collection
 * at a time,
 *
 *   - soon after references were released (br_gc_released: a lease deleted or expired,
 *     resources dropped): `delay_ms` after the first release, so that a burst of releases
 *     (an image and its containers removed) costs one collection;
 *   - every `interval_ms` (0: never), for what nothing announced (expired ingests, orphans);
 *   - on demand (br_gc_now, the P.gc method): a collection that starts after the request,
 *     whose result the caller gets.
 *
 * The store's collection is a `br_gc_run_fn` that works in short steps on the loop (and on
 * workers) and reports with br_gc_finished(). A release during a collection schedules another
 * one after it, since the running one may have looked before the release.
 *
 * Every collection that ran, whatever it found and however it ended, is announced once by
 * the event /gc/run (namespace BR_STORE_EVENT_NS; payload br_event_gc_run), written into the
 * store's outbox in a transaction of its own when br_gc_finished() is called.
 *
 * Threading: loop thread only.
 */
#ifndef BR_COMMON_GC_H
#define BR_COMMON_GC_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/err.h"
#include "common/proto/leases.h"
#include "common/rpc.h"

struct br_gc;
struct br_outbox;

/* Start one collection; it must end with exactly one br_gc_finished(gc, ...), never inline.
 * It should stop early (and report what it did) once br_gc_stopping(gc) is true. */
typedef void (*br_gc_run_fn)(void *data, struct br_gc *gc);

/* What a br_gc_now caller gets: the result, or the error that ended the collection. */
typedef void (*br_gc_done_fn)(void *arg, const struct br_gc_result *result, const br_err *err);

/* A scheduler on `uv` for the store named `daemon` ("contentd", static), whose database `db`
 * (the loop thread's connection, with the outbox table) receives the /gc/run events. */
struct br_gc *br_gc_new(uv_loop_t *uv, sqlite3 *db, const char *daemon, int64_t delay_ms,
                        int64_t interval_ms, br_gc_run_fn run, void *data);
/* The outbox to kick once a /gc/run event is written (NULL: none; the event waits in the
 * table for the next outbox). It must outlive the scheduler or be unset first. */
void br_gc_set_outbox(struct br_gc *gc, struct br_outbox *ob);
/* No new collection starts; one running may finish (it sees br_gc_stopping). */
void br_gc_stop(struct br_gc *gc);
/* Close the timers and free (once closed). No collection may be running: a store stops its
 * collection (br_gc_stop) and drains it first. Accepts NULL. */
void br_gc_free(struct br_gc *gc);

void br_gc_released(struct br_gc *gc);
void br_gc_now(struct br_gc *gc, br_gc_done_fn done, void *arg);
/* The running collection ended, with `result` (what it did, also when it failed) and `err`
 * (NULL: it completed). Emits /gc/run, then answers the br_gc_now callers that waited for it. */
void br_gc_finished(struct br_gc *gc, const struct br_gc_result *result, const br_err *err);

/* Run fn(arg) on the next turn of the loop, after the calls that arrived meanwhile: how a
 * collection yields between its steps. An idle handle, not a 0 ms timer: libuv 1.44 runs a
 * 0 ms timer started from a timer callback again in the same pass, before any I/O. One step
 * is pending at a time. */
void br_gc_step(struct br_gc *gc, void (*fn)(void *arg), void *arg);

bool br_gc_running(const struct br_gc *gc);
bool br_gc_stopping(const struct br_gc *gc);

/* The P.gc handler: data is the struct br_gc; replies br_gc_result once a collection that
 * started after the call ended; UNAVAILABLE when the store stops first. */
void br_gc_handle(br_call *call, void *data);

/* Add the scheduler's figures to `m` (docs/metrics.md): berth_gc_runs_total,
 * berth_gc_failures_total, berth_gc_removed_total and berth_gc_freed_bytes_total, counted
 * since the scheduler started. */
struct br_metrics;
void br_gc_metrics(const struct br_gc *gc, struct br_metrics *m);

#endif
