/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge between foreign threads and a daemon's single libuv loop thread.
 *
 * Each daemon has one loop thread that owns all of its state. Work that finishes on another
 * thread (an nng aio callback, a worker) hands its continuation to the loop with
 * br_loop_post(); the loop runs it in order, so no handler needs a lock. Posting is a locked
 * queue push plus uv_async_send(); the loop drains the whole queue on each wake-up because
 * libuv merges async wake-ups.
 *
 * Lifetime: br_loop_init() on the loop thread before uv_run(); br_loop_fini() on the loop
 * thread after every producer has stopped posting; it runs what is still queued, closes the
 * async handle and runs the loop until the handle is closed.
 */
#ifndef BR_COMMON_LOOP_H
#define BR_COMMON_LOOP_H

#include <pthread.h>
#include <stdbool.h>

#include <uv.h>

#include "common/err.h"

typedef void (*br_loop_fn)(void *arg);

struct br_loop_item;

struct br_loop {
	uv_loop_t *uv;
	uv_async_t async;
	pthread_mutex_t lock;
	struct br_loop_item *head, *tail;
	pthread_t thread; /* the loop thread, recorded by br_loop_init() */
	bool closing;
};

int br_loop_init(struct br_loop *loop, uv_loop_t *uv, br_err *err);
void br_loop_fini(struct br_loop *loop);

/* Run fn(arg) on the loop thread, after what was posted before. Callable from any thread,
 * including the loop thread itself (then it runs on the next wake-up, never inline).
 * Never fails; after br_loop_fini() has started, fn runs during fini. */
void br_loop_post(struct br_loop *loop, br_loop_fn fn, void *arg);

/* Run fn(arg) on the loop thread and wait until it returned. For threads that are not the
 * loop's (never call it on the loop thread: it would wait for itself). Whoever stops the loop
 * must keep running it (uv_run) until such callers are done, or they wait forever. */
void br_loop_call(struct br_loop *loop, br_loop_fn fn, void *arg);

/* True when called on the loop thread. For asserts. */
bool br_loop_on_thread(const struct br_loop *loop);

/* Monotonic milliseconds (CLOCK_MONOTONIC), the time base of every deadline. */
int64_t br_now_ms(void);

#endif
