/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bridge from foreign threads (nng callbacks, workers) to a daemon's loop thread: a
 * mutex-protected FIFO of {fn, arg} plus uv_async_send(). libuv merges async wake-ups, so
 * each wake-up takes the whole queue at once and runs it in order; items posted while it
 * runs wait for the next wake-up, which their own uv_async_send() guarantees.
 */
#include "common/loop.h"

#include <stdlib.h>
#include <time.h>

#include "common/xalloc.h"

struct br_loop_item {
	struct br_loop_item *next;
	br_loop_fn fn;
	void *arg;
};

/* Take the whole queue and run it; returns whether anything ran. */
static bool
drain(struct br_loop *loop)
{
	struct br_loop_item *items;

	pthread_mutex_lock(&loop->lock);
	items = loop->head;
	loop->head = loop->tail = NULL;
	pthread_mutex_unlock(&loop->lock);

	bool ran = items != NULL;
	while (items != NULL) {
		struct br_loop_item *it = items;
		items = it->next;
		it->fn(it->arg);
		free(it);
	}
	return ran;
}

static void
on_async(uv_async_t *handle)
{
	drain(handle->data);
}

int
br_loop_init(struct br_loop *loop, uv_loop_t *uv, br_err *err)
{
	int rc;

	loop->uv = uv;
	loop->head = loop->tail = NULL;
	loop->closing = false;
	loop->thread = pthread_self();
	rc = pthread_mutex_init(&loop->lock, NULL);
	if (rc != 0)
		return br_err_errno(err, BR_INTERNAL, rc, "initialize the loop queue");
	rc = uv_async_init(uv, &loop->async, on_async);
	if (rc < 0) {
		pthread_mutex_destroy(&loop->lock);
		return br_err_set(err, BR_INTERNAL, "initialize the loop wake-up: %s",
		                  uv_strerror(rc));
	}
	loop->async.data = loop;
	return 0;
}

static void
on_async_closed(uv_handle_t *handle)
{
	*(bool *)handle->data = true;
}

void
br_loop_fini(struct br_loop *loop)
{
	bool closed = false;

	pthread_mutex_lock(&loop->lock);
	loop->closing = true;
	pthread_mutex_unlock(&loop->lock);

	/* Run what is queued, including what those items post in turn. */
	while (drain(loop))
		;
	loop->async.data = &closed;
	uv_close((uv_handle_t *)&loop->async, on_async_closed);
	while (!closed)
		uv_run(loop->uv, UV_RUN_ONCE);
	while (drain(loop))
		;
	pthread_mutex_destroy(&loop->lock);
}

void
br_loop_post(struct br_loop *loop, br_loop_fn fn, void *arg)
{
	struct br_loop_item *it = xmalloc(sizeof(*it));

	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	pthread_mutex_lock(&loop->lock);
	if (loop->tail != NULL)
		loop->tail->next = it;
	else
		loop->head = it;
	loop->tail = it;
	/* During fini the handle may be closing; fini drains the queue itself. */
	if (!loop->closing)
		uv_async_send(&loop->async);
	pthread_mutex_unlock(&loop->lock);
}

struct sync_call {
	br_loop_fn fn;
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void
run_sync(void *arg)
{
	struct sync_call *c = arg;

	c->fn(c->arg);
	pthread_mutex_lock(&c->lock);
	c->done = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void
br_loop_call(struct br_loop *loop, br_loop_fn fn, void *arg)
{
	struct sync_call c = {.fn = fn, .arg = arg};

	pthread_mutex_init(&c.lock, NULL);
	pthread_cond_init(&c.cond, NULL);
	br_loop_post(loop, run_sync, &c);
	pthread_mutex_lock(&c.lock);
	while (!c.done)
		pthread_cond_wait(&c.cond, &c.lock);
	pthread_mutex_unlock(&c.lock);
	pthread_cond_destroy(&c.cond);
	pthread_mutex_destroy(&c.lock);
}

bool
br_loop_on_thread(const struct br_loop *loop)
{
	return pthread_equal(pthread_self(), loop->thread) != 0;
}

int64_t
br_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
