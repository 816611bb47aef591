/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libberth's event subscription: a long poll of events.subscribe (common/proto/events.h)
 * that hands out one event at a time from a buffered page.
 *
 * The gateway numbers its log 1, 2, 3 ... and answers each call with the events after
 * `after` that match the filter plus `next`, the last sequence number it looked at. The
 * subscription asks for the first page with the filter's start (after_seq, since or tail) and
 * every later one with after = the previous page's `next`; a page is asked for only once the
 * previous one was handed out whole. A call that fails because the gateway went away
 * (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELED) is simply asked again, with the same `after`,
 * once the RPC client has reconnected: the request only reads, so asking twice is harmless,
 * and since `after` moves only with a page that arrived, no event is skipped or repeated.
 * As a last guard an event at or below the last delivered sequence number is dropped.
 */
#include "libberth/internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/proto/events.h"
#include "common/xalloc.h"

#define POLL_MAX_MS 30000   /* the longest wait of one call (the gateway allows 60 s) */
#define CALL_MARGIN_MS 5000 /* a call's deadline beyond its wait */
#define RETRY_FIRST_MS 50   /* pause after the first failed call; doubles ... */
#define RETRY_MAX_MS 1000   /* ... up to this */

struct berth_subscription {
	berth_client *client;
	/* the filter, with its strings copied */
	int64_t start_after, since, until_seq, until;
	bool tail;
	char **namespaces;
	size_t n_namespaces;
	char **topics;
	size_t n_topics;
	/* position */
	bool started;     /* a page arrived: ask with `after` from now on */
	int64_t after;    /* what the next call asks after */
	int64_t last_seq; /* the last event delivered */
	bool done;        /* the gateway said the stream ended */
	/* the page being handed out */
	br_arena *page_arena;
	const struct br_event *events;
	size_t n, pos;
};

static const uint8_t empty_map[1] = {0x80};

static bool
transient(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_DEADLINE_EXCEEDED || code == BR_CANCELED;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0)
		;
}

static char **
copy_strings(const char *const *v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(v[i] != NULL ? v[i] : "");
	return out;
}

static void
free_strings(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* Ask for the next page, waiting up to wait_ms on the gateway for one to match. On success
 * the page replaces the (wholly handed out) previous one. */
static int
fetch(berth_subscription *s, int64_t wait_ms, br_err *err)
{
	br_arena *arena = br_arena_new();
	struct br_events_subscribe_req req = {
	        .until_seq = s->until_seq,
	        .until = s->until,
	        .namespaces = {(const char **)s->namespaces, s->n_namespaces},
	        .topics = {(const char **)s->topics, s->n_topics},
	        .wait_ms = wait_ms,
	};
	if (s->started) {
		req.after = s->after;
	} else if (s->start_after > 0) {
		req.after = s->start_after;
	} else if (s->since > 0) {
		req.since = s->since;
	} else {
		req.tail = s->tail;
	}
	berth_call_options opts = {.timeout_ms = wait_ms + CALL_MARGIN_MS};
	struct br_event_page page;
	if (libberth_call_schema(s->client, &opts, "events.subscribe",
	                         &br_events_subscribe_req_schema, &req, &br_event_page_schema,
	                         &page, arena, err) < 0) {
		br_arena_free(arena);
		return -1;
	}
	br_arena_free(s->page_arena);
	s->page_arena = arena;
	s->events = page.events.v;
	s->n = page.events.n;
	s->pos = 0;
	s->started = true;
	if (page.next > s->after)
		s->after = page.next;
	s->done = page.done;
	return 0;
}

int
berth_subscribe(berth_client *c, const berth_event_filter *filter, berth_subscription **ret,
                berth_error *err)
{
	static const berth_event_filter all = {0};
	const berth_event_filter *f = filter != NULL ? filter : &all;
	br_err e = BR_ERR_INIT;

	if (c == NULL || ret == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_subscribe: client and ret are required");
	if (f->after_seq < 0 || f->since < 0 || f->until_seq < 0 || f->until < 0)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_subscribe: negative sequence number or time");
	if ((f->n_namespaces > 0 && f->namespaces == NULL) ||
	    (f->n_topics > 0 && f->topics == NULL))
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_subscribe: a count without its list");
	if (f->n_namespaces > BR_EVENTS_FILTERS_MAX || f->n_topics > BR_EVENTS_FILTERS_MAX)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_subscribe: at most %d namespaces and %d topics",
		                          BR_EVENTS_FILTERS_MAX, BR_EVENTS_FILTERS_MAX);

	berth_subscription *s = xnew(berth_subscription);
	s->client = c;
	s->start_after = f->after_seq;
	s->since = f->after_seq > 0 ? 0 : f->since;
	s->tail = f->after_seq > 0 || f->since > 0 ? false : f->tail;
	s->until_seq = f->until_seq;
	s->until = f->until;
	s->namespaces = copy_strings(f->namespaces, f->n_namespaces);
	s->n_namespaces = f->n_namespaces;
	s->topics = copy_strings(f->topics, f->n_topics);
	s->n_topics = f->n_topics;
	s->after = f->after_seq;
	s->last_seq = f->after_seq;
	/* The first page now: checks the filter, and pins where `tail` starts. */
	if (fetch(s, 0, &e) < 0) {
		berth_unsubscribe(s);
		libberth_error_from_br(err, &e);
		return -1;
	}
	*ret = s;
	return 0;
}

/* Hand out the next buffered event newer than the last delivered; false when none is left. */
static bool
take(berth_subscription *s, berth_event *ev)
{
	while (s->pos < s->n) {
		const struct br_event *e = &s->events[s->pos++];
		if (e->seq <= s->last_seq)
			continue;
		s->last_seq = e->seq;
		*ev = (berth_event){
		        .seq = e->seq,
		        .time = e->time,
		        .ns = e->ns,
		        .topic = e->topic,
		        .payload = e->payload.len > 0 ? e->payload.data : empty_map,
		        .payload_len = e->payload.len > 0 ? e->payload.len : sizeof(empty_map),
		};
		return true;
	}
	return false;
}

int
berth_next_event(berth_subscription *s, berth_event *ev, int64_t timeout_ms, berth_error *err)
{
	int64_t until = timeout_ms >= 0 ? br_now_ms() + timeout_ms : 0;
	int64_t pause = RETRY_FIRST_MS;
	br_err e = BR_ERR_INIT;

	if (s == NULL || ev == NULL)
		return libberth_error_set(err, BERTH_INVALID_ARGUMENT,
		                          "berth_next_event: subscription and ev are required");
	for (;;) {
		if (take(s, ev))
			return 1;
		if (s->done)
			return 0;
		int64_t wait = POLL_MAX_MS;
		if (timeout_ms >= 0) {
			int64_t left = until - br_now_ms();
			if (left < 0)
				left = 0;
			if (left < wait)
				wait = left;
		}
		if (fetch(s, wait, &e) == 0) {
			pause = RETRY_FIRST_MS;
			if (s->n == 0 && !s->done && timeout_ms >= 0 && br_now_ms() >= until)
				return 0;
			continue;
		}
		/* The gateway is away: ask again after a pause, from the same place. */
		if (!transient(e.code) || (timeout_ms >= 0 && br_now_ms() >= until)) {
			libberth_error_from_br(err, &e);
			return -1;
		}
		int64_t nap = pause;
		if (timeout_ms >= 0 && until - br_now_ms() < nap)
			nap = until - br_now_ms();
		if (nap > 0)
			sleep_ms(nap);
		pause = pause * 2 < RETRY_MAX_MS ? pause * 2 : RETRY_MAX_MS;
	}
}

int64_t
berth_subscription_last_seq(const berth_subscription *s)
{
	return s->last_seq;
}

bool
berth_subscription_done(const berth_subscription *s)
{
	return s->done && s->pos >= s->n;
}

void
berth_unsubscribe(berth_subscription *s)
{
	if (s == NULL)
		return;
	br_arena_free(s->page_arena);
	free_strings(s->namespaces, s->n_namespaces);
	free_strings(s->topics, s->n_topics);
	free(s);
}
