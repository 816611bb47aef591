/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/loop.c: posting from other threads, ordering, posting from the loop
 * thread itself (never inline), and fini running what is still queued.
 */
#include <pthread.h>

#include "common/loop.h"
#include "test/unit/t.h"

#define THREADS 4
#define PER_THREAD 5000

struct counter {
	struct br_loop *loop;
	int count;
	int last[THREADS];
	bool order_ok;
	bool on_thread_ok;
};

struct item {
	struct counter *c;
	int thread;
	int seq;
};

static void
on_item(void *arg)
{
	struct item *it = arg;
	struct counter *c = it->c;
	if (!br_loop_on_thread(c->loop))
		c->on_thread_ok = false;
	if (it->seq != c->last[it->thread] + 1)
		c->order_ok = false;
	c->last[it->thread] = it->seq;
	c->count++;
	if (c->count == THREADS * PER_THREAD)
		uv_stop(c->loop->uv);
	free(it);
}

struct producer {
	struct counter *c;
	int thread;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 1; i <= PER_THREAD; i++) {
		struct item *it = malloc(sizeof(*it));
		it->c = p->c;
		it->thread = p->thread;
		it->seq = i;
		br_loop_post(p->c->loop, on_item, it);
	}
	return NULL;
}

static void
test_post_from_threads_in_order(void)
{
	uv_loop_t uv;
	struct br_loop loop;
	br_err err = BR_ERR_INIT;
	struct counter c = {.loop = &loop, .order_ok = true, .on_thread_ok = true};
	pthread_t th[THREADS];
	struct producer prod[THREADS];

	T_EQ_INT(uv_loop_init(&uv), 0);
	T_NOERR(br_loop_init(&loop, &uv, &err), err);
	T_OK(br_loop_on_thread(&loop));
	for (int i = 0; i < THREADS; i++) {
		prod[i].c = &c;
		prod[i].thread = i;
		pthread_create(&th[i], NULL, produce, &prod[i]);
	}
	uv_run(&uv, UV_RUN_DEFAULT);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	T_EQ_INT(c.count, THREADS * PER_THREAD);
	T_OK(c.order_ok);
	T_OK(c.on_thread_ok);
	br_loop_fini(&loop);
	T_EQ_INT(uv_loop_close(&uv), 0);
}

struct self {
	struct br_loop *loop;
	int step;
};

static void
second(void *arg)
{
	struct self *s = arg;
	s->step = s->step == 1 ? 2 : -1;
	uv_stop(s->loop->uv);
}

static void
first(void *arg)
{
	struct self *s = arg;
	br_loop_post(s->loop, second, s);
	/* posted from the loop thread: must not have run inline */
	s->step = s->step == 0 ? 1 : -1;
}

static void
test_post_from_loop_thread_is_deferred(void)
{
	uv_loop_t uv;
	struct br_loop loop;
	br_err err = BR_ERR_INIT;
	struct self s = {.loop = &loop};

	uv_loop_init(&uv);
	T_NOERR(br_loop_init(&loop, &uv, &err), err);
	br_loop_post(&loop, first, &s);
	uv_run(&uv, UV_RUN_DEFAULT);
	T_EQ_INT(s.step, 2);
	br_loop_fini(&loop);
	T_EQ_INT(uv_loop_close(&uv), 0);
}

static void
count_up(void *arg)
{
	(*(int *)arg)++;
}

static void
chain(void *arg)
{
	struct self *s = arg;
	s->step++;
	if (s->step < 3)
		br_loop_post(s->loop, chain, s);
}

static void
test_fini_runs_queued(void)
{
	uv_loop_t uv;
	struct br_loop loop;
	br_err err = BR_ERR_INIT;
	int n = 0;
	struct self s = {.loop = &loop};

	uv_loop_init(&uv);
	T_NOERR(br_loop_init(&loop, &uv, &err), err);
	for (int i = 0; i < 10; i++)
		br_loop_post(&loop, count_up, &n);
	br_loop_post(&loop, chain, &s);
	br_loop_fini(&loop);
	T_EQ_INT(n, 10);
	T_EQ_INT(s.step, 3);
	T_EQ_INT(uv_loop_close(&uv), 0);
}

static void
test_now_ms(void)
{
	int64_t a = br_now_ms();
	usleep(20000);
	int64_t b = br_now_ms();
	T_OK(b - a >= 19 && b - a < 2000);
}

T_MAIN(T_CASE(test_post_from_threads_in_order), T_CASE(test_post_from_loop_thread_is_deferred),
       T_CASE(test_fini_runs_queued), T_CASE(test_now_ms))
