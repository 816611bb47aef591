/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event log of berth-gatewayd as a process: events.publish from a daemon's outbox
 * (batches, a batch sent again, a new source), events.subscribe (after a sequence number,
 * from a time, from now on, filters, until, a long poll woken by an append), retention by
 * count with the FAILED_PRECONDITION that names the oldest kept event, and a restart that
 * keeps the log and the sources' positions.
 */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/events.h"
#include "common/proto/events.h"
#include "test/unit/t.h"
#include "test/unit/t_daemon.h"

/* A payload {"n": i}. */
static struct br_bytes
payload_of(br_arena *arena, int64_t i)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	br_msg_pack_str(&pk, "n");
	msgpack_pack_int64(&pk, i);
	uint8_t *p = br_arena_alloc(arena, sb.size);
	memcpy(p, sb.data, sb.size);
	struct br_bytes b = {p, sb.size};
	msgpack_sbuffer_destroy(&sb);
	return b;
}

/* Publish events seq first..last of `source`, topic /test/<seq % 2 ? odd : even>, in
 * namespace ns. Returns the log's answer `last`. */
static int64_t
publish(struct t_daemon *d, const char *source, int64_t first, int64_t last, const char *ns)
{
	br_err err = BR_ERR_INIT;
	size_t n = (size_t)(last - first + 1);
	struct br_event_in *evs = br_arena_alloc(d->arena, n * sizeof(*evs));

	for (size_t i = 0; i < n; i++) {
		int64_t seq = first + (int64_t)i;
		evs[i] = (struct br_event_in){
		        .seq = seq,
		        .ns = ns,
		        .topic = seq % 2 ? "/test/odd" : "/test/even",
		        .time = br_event_now(),
		        .payload = payload_of(d->arena, seq),
		};
	}
	struct br_events_publish_req req = {.source = source, .events = {evs, n}};
	struct br_events_publish_resp resp;
	T_NOERR(br_rpc_call(d->client, NULL, "events.publish", &br_events_publish_req_schema, &req,
	                    &br_events_publish_resp_schema, &resp, d->arena, &err),
	        err);
	return resp.last;
}

static int
subscribe(struct t_daemon *d, const struct br_events_subscribe_req *req, struct br_event_page *page,
          br_err *err)
{
	struct br_call_opts opts = {.timeout_ms = 10000};

	return br_rpc_call(d->client, &opts, "events.subscribe", &br_events_subscribe_req_schema,
	                   req, &br_event_page_schema, page, d->arena, err);
}

/* The "n" of an event's payload. */
static int64_t
payload_n(struct t_daemon *d, const struct br_event *e)
{
	msgpack_object o;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_msg_unpack(e->payload.data, e->payload.len, d->arena, &o, &err), err);
	T_EQ_INT(o.type, MSGPACK_OBJECT_MAP);
	T_EQ_INT(o.via.map.size, 1);
	return o.via.map.ptr[0].val.via.i64;
}

static void
test_publish_and_read(void)
{
	struct t_daemon d = {0};
	struct br_event_page page;
	br_err err = BR_ERR_INIT;

	t_daemon_setup(&d, "gatewayd");
	T_EQ_INT(publish(&d, "taskd.aaaa", 1, 5, "default"), 5);
	/* the same batch again, and one that overlaps: nothing is appended twice */
	T_EQ_INT(publish(&d, "taskd.aaaa", 1, 5, "default"), 5);
	T_EQ_INT(publish(&d, "taskd.aaaa", 4, 7, "other"), 7);
	/* another source numbers from 1 again */
	T_EQ_INT(publish(&d, "imaged.bbbb", 1, 2, "default"), 2);

	struct br_events_subscribe_req all = {0};
	T_NOERR(subscribe(&d, &all, &page, &err), err);
	T_EQ_INT(page.events.n, 9);
	T_EQ_INT(page.oldest, 1);
	T_EQ_INT(page.last, 9);
	T_EQ_INT(page.next, 9);
	const struct br_event *e = page.events.v;
	const int64_t want_n[] = {1, 2, 3, 4, 5, 6, 7, 1, 2};
	for (size_t i = 0; i < 9; i++) {
		T_EQ_INT(e[i].seq, (int64_t)i + 1);
		T_EQ_INT(payload_n(&d, &e[i]), want_n[i]);
	}
	T_EQ_STR(e[5].ns, "other");
	T_EQ_STR(e[0].topic, "/test/odd");
	T_OK(e[0].time > 0 && e[0].time <= e[8].time);

	/* after, filters, limit */
	struct br_events_subscribe_req r = {.after = 3, .limit = 2};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 2);
	T_EQ_INT(((struct br_event *)page.events.v)[0].seq, 4);
	T_EQ_INT(page.next, 5);
	const char *odd[] = {"/test/odd"}, *other[] = {"other"};
	r = (struct br_events_subscribe_req){.topics = {odd, 1}, .namespaces = {other, 1}};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 1);
	T_EQ_INT(((struct br_event *)page.events.v)[0].seq, 7);
	T_EQ_INT(page.next, 9);
	/* until_seq ends the stream */
	r = (struct br_events_subscribe_req){.after = 5, .until_seq = 6};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 1);
	T_OK(page.done);
	/* since: from a time */
	r = (struct br_events_subscribe_req){.since = e[7].time};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_OK(page.events.n >= 1 && page.events.n <= 9);
	T_EQ_INT(((struct br_event *)page.events.v)[page.events.n - 1].seq, 9);
	/* tail: nothing yet, and no wait asked */
	r = (struct br_events_subscribe_req){.tail = true};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 0);
	T_EQ_INT(page.next, 9);

	/* bad input is named */
	r = (struct br_events_subscribe_req){.after = -2};
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_INVALID_ARGUMENT);
	r = (struct br_events_subscribe_req){.wait_ms = 3600000};
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "wait_ms") != NULL);

	/* a restart keeps the log and each source's position */
	t_daemon_stop(&d);
	t_daemon_start(&d);
	T_EQ_INT(publish(&d, "taskd.aaaa", 6, 8, "default"), 8);
	r = (struct br_events_subscribe_req){.after = 9};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 1);
	T_EQ_INT(((struct br_event *)page.events.v)[0].seq, 10);
	T_EQ_INT(payload_n(&d, page.events.v), 8);
	t_daemon_teardown(&d);
}

struct poller {
	struct t_daemon *d;
	struct br_event_page page;
	br_err err;
	int64_t waited_ms;
};

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
long_poll(void *arg)
{
	struct poller *p = arg;
	const char *even[] = {"/test/even"};
	struct br_events_subscribe_req r = {.tail = true, .topics = {even, 1}, .wait_ms = 8000};
	br_arena *arena = br_arena_new();
	struct br_call_opts opts = {.timeout_ms = 10000};
	int64_t t0 = now_ms();

	p->err = (br_err)BR_ERR_INIT;
	br_rpc_call(p->d->client, &opts, "events.subscribe", &br_events_subscribe_req_schema, &r,
	            &br_event_page_schema, &p->page, arena, &p->err);
	p->waited_ms = now_ms() - t0;
	/* keep what the checks read */
	if (p->page.events.n > 0) {
		struct br_event *copy = malloc(sizeof(*copy));
		*copy = *(struct br_event *)p->page.events.v;
		copy->payload.data = NULL;
		copy->payload.len = 0;
		copy->ns = NULL;
		copy->topic = NULL;
		p->page.events.v = copy;
	}
	br_arena_free(arena);
	return NULL;
}

static void
test_long_poll(void)
{
	struct t_daemon d = {0};
	struct poller p = {.d = &d};
	pthread_t th;

	t_daemon_setup(&d, "gatewayd");
	T_EQ_INT(publish(&d, "netd.cccc", 1, 2, "default"), 2);
	T_EQ_INT(pthread_create(&th, NULL, long_poll, &p), 0);
	usleep(300 * 1000);
	/* an odd one does not match: the poll goes on waiting */
	T_EQ_INT(publish(&d, "netd.cccc", 3, 3, "default"), 3);
	usleep(300 * 1000);
	T_EQ_INT(publish(&d, "netd.cccc", 4, 4, "default"), 4);
	T_EQ_INT(pthread_join(th, NULL), 0);
	T_NOERR(p.err.code == BR_OK ? 0 : -1, p.err);
	T_EQ_INT(p.page.events.n, 1);
	T_EQ_INT(((struct br_event *)p.page.events.v)[0].seq, 4);
	T_OK(p.waited_ms >= 500 && p.waited_ms < 5000);
	free(p.page.events.v);
	t_daemon_teardown(&d);
}

static void
test_retention(void)
{
	struct t_daemon d = {
	        .config_json = "{\"gatewayd\": {\"events\": {\"max_count\": 10}}}",
	};
	struct br_event_page page;
	br_err err = BR_ERR_INIT;

	t_daemon_setup(&d, "gatewayd");
	T_EQ_INT(publish(&d, "taskd.dddd", 1, 25, "default"), 25);
	struct br_events_subscribe_req r = {.after = 15};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 10);
	T_EQ_INT(page.oldest, 16);
	r.after = 14;
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "the oldest kept is sequence number 16") != NULL);
	r.after = 0;
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_FAILED_PRECONDITION);
	/* by time: before the dropped events' time */
	r = (struct br_events_subscribe_req){.since = 1};
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "16") != NULL);
	/* still so after a restart */
	t_daemon_stop(&d);
	t_daemon_start(&d);
	r = (struct br_events_subscribe_req){.after = 3};
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_FAILED_PRECONDITION);
	T_EQ_INT(publish(&d, "taskd.dddd", 26, 26, "default"), 26);
	r = (struct br_events_subscribe_req){.after = 16};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 10);
	T_EQ_INT(page.oldest, 17);
	t_daemon_teardown(&d);
}

/* Retention by age: events older than max_age_s go with the next append. */
static void
test_retention_by_age(void)
{
	struct t_daemon d = {
	        .config_json = "{\"gatewayd\": {\"events\": {\"max_age_s\": 86400}}}",
	};
	struct br_event_page page;
	br_err err = BR_ERR_INIT;
	struct br_event_in old[3];
	int64_t three_days = 3 * 86400 * INT64_C(1000000000);

	t_daemon_setup(&d, "gatewayd");
	for (int i = 0; i < 3; i++)
		old[i] = (struct br_event_in){
		        .seq = i + 1,
		        .ns = "default",
		        .topic = "/test/old",
		        .time = br_event_now() - three_days + i,
		        .payload = payload_of(d.arena, i),
		};
	struct br_events_publish_req req = {.source = "netd.eeee", .events = {old, 3}};
	struct br_events_publish_resp resp;
	/* they are dropped in the very transaction that appends them */
	T_NOERR(br_rpc_call(d.client, NULL, "events.publish", &br_events_publish_req_schema, &req,
	                    &br_events_publish_resp_schema, &resp, d.arena, &err),
	        err);
	T_EQ_INT(resp.last, 3);
	T_EQ_INT(publish(&d, "netd.eeee", 4, 5, "default"), 5);
	struct br_events_subscribe_req r = {.after = 3};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 2);
	T_EQ_INT(page.oldest, 4);
	r = (struct br_events_subscribe_req){.since = br_event_now() - 2 * three_days};
	T_ERR(subscribe(&d, &r, &page, &err), err, BR_FAILED_PRECONDITION);
	/* a time after the dropped ones is fine */
	r = (struct br_events_subscribe_req){.since = br_event_now() - 86400 * INT64_C(1000000000)};
	T_NOERR(subscribe(&d, &r, &page, &err), err);
	T_EQ_INT(page.events.n, 2);
	t_daemon_teardown(&d);
}

T_MAIN(T_CASE(test_publish_and_read), T_CASE(test_long_poll), T_CASE(test_retention),
       T_CASE(test_retention_by_age))
