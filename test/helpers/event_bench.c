/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Measures the event pipeline and the front door, for bench/events.sh:
 *
 *   event_bench events GATEWAY_SOCK N THREADS
 *       A subscriber follows /leases/create from now on while THREADS threads create N
 *       leases in contentd through the gateway (each a state change whose event goes
 *       contentd's outbox -> gatewayd's log -> the subscriber). Prints the events per second
 *       from the first change to the last event seen, and the latency from each change's
 *       answer to its event reaching the subscriber (p50, p99).
 *
 *   event_bench calls GATEWAY_SOCK BACKEND_SOCK METHOD N
 *       N calls of METHOD (no params) straight to the backend's socket, then N through the
 *       gateway: p50 and p99 of each and the difference, the latency the gateway adds.
 *
 * Prints one "key value" per line. Runs as root (the backend socket is root's).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/proto/events.h"
#include "common/proto/leases.h"
#include "common/rpc.h"

static int64_t
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int64_t
pct(int64_t *v, size_t n, int p)
{
	qsort(v, n, sizeof(*v), cmp_i64);
	size_t i = (n * (size_t)p) / 100;
	return v[i < n ? i : n - 1];
}

static br_rpc_client *
client(const char *sock, const char *peer)
{
	char url[300];
	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;

	snprintf(url, sizeof(url), "ipc://%s", sock);
	if (br_rpc_client_new(url, peer, &c, &err) < 0) {
		fprintf(stderr, "event_bench: %s\n", err.msg);
		exit(1);
	}
	return c;
}

/* ------------------------------------------------------------------ events */

struct run {
	const char *sock;
	int n, threads;
	int64_t *done_at; /* per lease index: when its create was answered (us) */
	int64_t *seen_at; /* per lease index: when its event arrived */
	int next;         /* the next lease index to create (lock) */
	pthread_mutex_t lock;
	int64_t start_us;
	int seen;
};

static void *
creator(void *arg)
{
	struct run *r = arg;
	br_rpc_client *c = client(r->sock, "berth-gatewayd");

	for (;;) {
		pthread_mutex_lock(&r->lock);
		int i = r->next++;
		pthread_mutex_unlock(&r->lock);
		if (i >= r->n)
			break;
		char id[64];
		snprintf(id, sizeof(id), "bench-%d-%d", (int)getpid(), i);
		struct br_lease_create_req req = {.id = id};
		br_arena *a = br_arena_new();
		br_err err = BR_ERR_INIT;
		if (br_rpc_call(c, NULL, "content.leases.create", &br_lease_create_req_schema, &req,
		                NULL, NULL, a, &err) < 0) {
			fprintf(stderr, "event_bench: lease %s: %s\n", id, err.msg);
			exit(1);
		}
		r->done_at[i] = now_us();
		br_arena_free(a);
	}
	br_rpc_client_free(c);
	return NULL;
}

/* The lease index in a /leases/create payload {"id": "bench-<pid>-N", ...}, or -1. */
static int
lease_index(const struct br_event *e, br_arena *a)
{
	msgpack_object o;
	br_err err = BR_ERR_INIT;

	if (br_msg_unpack(e->payload.data, e->payload.len, a, &o, &err) < 0 ||
	    o.type != MSGPACK_OBJECT_MAP)
		return -1;
	for (uint32_t i = 0; i < o.via.map.size; i++) {
		const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 2 &&
		    memcmp(k->via.str.ptr, "id", 2) == 0 && v->type == MSGPACK_OBJECT_STR &&
		    v->via.str.size > 6 && memcmp(v->via.str.ptr, "bench-", 6) == 0) {
			/* bench-<pid>-<index>: only this run's */
			char buf[64];
			snprintf(buf, sizeof(buf), "%.*s", (int)v->via.str.size, v->via.str.ptr);
			char *dash = strchr(buf + 6, '-');
			if (dash == NULL || atoi(buf + 6) != (int)getpid())
				return -1;
			return atoi(dash + 1);
		}
	}
	return -1;
}

static int
bench_events(const char *sock, int n, int threads)
{
	struct run r = {.sock = sock, .n = n, .threads = threads};
	br_rpc_client *sub = client(sock, "berth-gatewayd");
	const char *topics[] = {BR_TOPIC_LEASE_CREATE};
	struct br_events_subscribe_req req = {
	        .tail = true, .topics = {topics, 1}, .wait_ms = 5000, .limit = BR_EVENTS_PAGE_MAX};
	struct br_call_opts opts = {.timeout_ms = 10000};
	pthread_t th[64];

	r.done_at = calloc((size_t)n, sizeof(int64_t));
	r.seen_at = calloc((size_t)n, sizeof(int64_t));
	pthread_mutex_init(&r.lock, NULL);
	/* Position the subscription at the log's end before the first change. */
	{
		br_arena *a = br_arena_new();
		struct br_event_page page;
		br_err err = BR_ERR_INIT;
		struct br_events_subscribe_req first = req;
		first.wait_ms = 0;
		if (br_rpc_call(sub, &opts, "events.subscribe", &br_events_subscribe_req_schema,
		                &first, &br_event_page_schema, &page, a, &err) < 0) {
			fprintf(stderr, "event_bench: subscribe: %s\n", err.msg);
			return 1;
		}
		req.tail = false;
		req.after = page.next;
		br_arena_free(a);
	}
	if (threads > 64)
		threads = 64;
	r.start_us = now_us();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, creator, &r);
	int64_t deadline = now_us() + 120 * 1000000LL;
	while (r.seen < n && now_us() < deadline) {
		br_arena *a = br_arena_new();
		struct br_event_page page;
		br_err err = BR_ERR_INIT;
		if (br_rpc_call(sub, &opts, "events.subscribe", &br_events_subscribe_req_schema,
		                &req, &br_event_page_schema, &page, a, &err) < 0) {
			fprintf(stderr, "event_bench: subscribe: %s\n", err.msg);
			return 1;
		}
		int64_t t = now_us();
		const struct br_event *evs = page.events.v;
		for (size_t i = 0; i < page.events.n; i++) {
			int k = lease_index(&evs[i], a);
			if (k >= 0 && k < n && r.seen_at[k] == 0) {
				r.seen_at[k] = t;
				r.seen++;
			}
		}
		req.after = page.next;
		br_arena_free(a);
	}
	int64_t end = now_us();
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	int64_t *lat = calloc((size_t)n, sizeof(int64_t));
	size_t m = 0;
	for (int i = 0; i < n; i++) {
		if (r.seen_at[i] > 0 && r.done_at[i] > 0)
			lat[m++] = r.seen_at[i] > r.done_at[i] ? r.seen_at[i] - r.done_at[i] : 0;
	}
	printf("events %d\n", n);
	printf("events_seen %d\n", r.seen);
	printf("seconds %.3f\n", (double)(end - r.start_us) / 1e6);
	printf("events_per_second %.0f\n", r.seen / ((double)(end - r.start_us) / 1e6));
	if (m > 0) {
		printf("latency_p50_ms %.2f\n", (double)pct(lat, m, 50) / 1000);
		printf("latency_p99_ms %.2f\n", (double)pct(lat, m, 99) / 1000);
	}
	br_rpc_client_free(sub);
	free(lat);
	free(r.done_at);
	free(r.seen_at);
	return r.seen == n ? 0 : 1;
}

/* ------------------------------------------------------------------ call latency */

static void
time_calls(br_rpc_client *c, const char *method, int n, int64_t *ret)
{
	for (int i = 0; i < n; i++) {
		br_arena *a = br_arena_new();
		br_err err = BR_ERR_INIT;
		int64_t t0 = now_us();
		if (br_rpc_call(c, NULL, method, NULL, NULL, NULL, NULL, a, &err) < 0) {
			fprintf(stderr, "event_bench: %s: %s\n", method, err.msg);
			exit(1);
		}
		ret[i] = now_us() - t0;
		br_arena_free(a);
	}
}

static int
bench_calls(const char *gw_sock, const char *backend_sock, const char *method, int n)
{
	br_rpc_client *gw = client(gw_sock, "berth-gatewayd");
	br_rpc_client *be = client(backend_sock, "backend");
	int64_t *direct = calloc((size_t)n, sizeof(int64_t));
	int64_t *via = calloc((size_t)n, sizeof(int64_t));

	time_calls(be, method, n / 10 + 1, direct); /* warm up */
	time_calls(gw, method, n / 10 + 1, via);
	time_calls(be, method, n, direct);
	time_calls(gw, method, n, via);
	int64_t d50 = pct(direct, (size_t)n, 50), d99 = pct(direct, (size_t)n, 99);
	int64_t g50 = pct(via, (size_t)n, 50), g99 = pct(via, (size_t)n, 99);
	printf("method %s\ncalls %d\n", method, n);
	printf("direct_p50_us %lld\ndirect_p99_us %lld\n", (long long)d50, (long long)d99);
	printf("gateway_p50_us %lld\ngateway_p99_us %lld\n", (long long)g50, (long long)g99);
	printf("added_p50_us %lld\n", (long long)(g50 - d50));
	br_rpc_client_free(gw);
	br_rpc_client_free(be);
	free(direct);
	free(via);
	return 0;
}

int
main(int argc, char **argv)
{
	int rc = 2;

	if (argc == 5 && strcmp(argv[1], "events") == 0)
		rc = bench_events(argv[2], atoi(argv[3]), atoi(argv[4]));
	else if (argc == 6 && strcmp(argv[1], "calls") == 0)
		rc = bench_calls(argv[2], argv[3], argv[4], atoi(argv[5]));
	else
		fprintf(stderr, "usage: event_bench events GATEWAY_SOCK N THREADS\n"
		                "       event_bench calls GATEWAY_SOCK BACKEND_SOCK METHOD N\n");
	br_rpc_shutdown();
	return rc;
}
