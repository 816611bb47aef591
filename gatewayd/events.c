/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event log (docs/events.md): events.publish appends what the daemons' outboxes send,
 * events.subscribe reads it. Tables (namespaces.c, migration 2): `events` numbered by an
 * AUTOINCREMENT key, so sequence numbers are never reused and, since only retention deletes
 * and only from the front, the log always holds exactly the events oldest..last;
 * `event_sources` the last outbox seq taken from each source, which makes a batch sent again
 * after a lost acknowledgement a no-op; `event_trim` the sequence number and time up to which
 * retention dropped events, so a subscriber asking for those is told so instead of silently
 * skipping them.
 *
 * Appends and trims run in one transaction per batch. A subscriber with nothing to read waits
 * (its call parked, up to wait_ms) and is answered by the next append that matches its
 * filter. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/log.h"
#include "common/proto/events.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"

#define SCAN_MAX 4096              /* rows looked at per answer, matching or not */
#define REPLY_BYTES_MAX (4u << 20) /* payload bytes per answer, under BR_MSG_MAX_SIZE */
#define WAIT_MARGIN_MS 500         /* a wait ends this long before the caller's deadline */
#define EMPTY_MAP "\x80"

/* A subscriber waiting for an event. */
struct waiter {
	struct waiter *next;
	struct gw_events *log;
	br_call *call;
	const struct br_events_subscribe_req *req; /* the call's params */
	int64_t after;                             /* the last sequence number looked at */
	uv_timer_t *timer;                         /* freed in its close callback */
};

struct gw_events {
	struct gateway *gw;
	struct waiter *waiters;
	int64_t last;      /* the newest sequence number appended; 0: none ever */
	int64_t trim_seq;  /* retention dropped every event up to this one */
	int64_t trim_time; /* the time of that event */
};

/* ------------------------------------------------------------------ state */

static int
load_state(struct gw_events *log, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	sqlite3 *db = log->gw->db;

	if (br_db_prepare(db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'", &st, err) <
	    0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		log->last = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (br_db_prepare(db, "SELECT seq, time FROM event_trim", &st, err) < 0)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		log->trim_seq = sqlite3_column_int64(st, 0);
		log->trim_time = sqlite3_column_int64(st, 1);
	}
	return 0;
}

int
gw_events_open(struct gateway *gw, br_err *err)
{
	struct gw_events *log = xnew(struct gw_events);

	log->gw = gw;
	if (load_state(log, err) < 0) {
		free(log);
		return -1;
	}
	gw->events = log;
	return 0;
}

void
gw_events_stats(struct gateway *gw, int64_t *ret_count, int64_t *ret_oldest, int64_t *ret_last)
{
	struct gw_events *log = gw->events;

	*ret_last = log->last;
	*ret_oldest = log->trim_seq + 1;
	*ret_count = log->last - log->trim_seq;
}

/* ------------------------------------------------------------------ appending */

static int
insert_event(struct gateway *gw, int64_t time, const char *ns, const char *topic,
             const struct br_bytes *payload, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(
	            gw->db,
	            "INSERT INTO events (time, namespace, topic, payload) VALUES (?, ?, ?, ?)", &st,
	            err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, time);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, topic, -1, SQLITE_STATIC);
	if (payload != NULL && payload->len > 0)
		sqlite3_bind_blob(st, 4, payload->data, (int)payload->len, SQLITE_STATIC);
	else
		sqlite3_bind_blob(st, 4, EMPTY_MAP, 1, SQLITE_STATIC);
	if (br_db_step_done(gw->db, st, err, "event log: append %s", topic) < 0)
		return -1;
	gw->events->last = sqlite3_last_insert_rowid(gw->db);
	return 0;
}

/*
 * Retention, in the appending transaction: drop events beyond events_max_count, and those
 * older than events_max_age_ms, always from the front so the log stays one run of numbers.
 */
static int
trim(struct gateway *gw, br_err *err)
{
	struct gw_events *log = gw->events;
	const struct br_config *cfg = gw->cfg;
	int64_t upto = log->last - cfg->gatewayd.events_max_count;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (cfg->gatewayd.events_max_age_ms > 0) {
		int64_t cutoff = br_event_now() - cfg->gatewayd.events_max_age_ms * 1000000;
		if (br_db_prepare(gw->db, "SELECT MAX(seq) FROM events WHERE seq > ? AND time < ?",
		                  &st, err) < 0)
			return -1;
		sqlite3_bind_int64(st, 1, log->trim_seq);
		sqlite3_bind_int64(st, 2, cutoff);
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
		    sqlite3_column_int64(st, 0) > upto)
			upto = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (upto <= log->trim_seq)
		return 0;
	int64_t time = 0;
	if (br_db_prepare(gw->db, "SELECT time FROM events WHERE seq = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, upto);
	if (sqlite3_step(st) == SQLITE_ROW)
		time = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (br_db_prepare(gw->db, "DELETE FROM events WHERE seq <= ?", &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, upto);
	if (br_db_step_done(gw->db, st, err, "event log: retention") < 0)
		return -1;
	sqlite3_finalize(st);
	st = NULL;
	if (br_db_prepare(gw->db, "UPDATE event_trim SET seq = ?, time = MAX(time, ?)", &st, err) <
	    0)
		return -1;
	sqlite3_bind_int64(st, 1, upto);
	sqlite3_bind_int64(st, 2, time);
	if (br_db_step_done(gw->db, st, err, "event log: retention") < 0)
		return -1;
	log->trim_seq = upto;
	if (time > log->trim_time)
		log->trim_time = time;
	return 0;
}

int
gw_events_append(struct gateway *gw, const char *ns, const char *topic,
                 const struct br_schema *schema, const void *payload, br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, schema, payload);
	struct br_bytes b = {(const uint8_t *)sb.data, sb.size};
	int rc = insert_event(gw, br_event_now(), ns, topic, &b, err);
	msgpack_sbuffer_destroy(&sb);
	if (rc == 0)
		rc = trim(gw, err);
	return rc;
}

/* The last outbox seq the log took from `source` (0: none). */
static int
source_last(struct gateway *gw, const char *source, int64_t *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	*ret = 0;
	if (br_db_prepare(gw->db, "SELECT last_seq FROM event_sources WHERE source = ?", &st, err) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*ret = sqlite3_column_int64(st, 0);
	return 0;
}

static int
set_source_last(struct gateway *gw, const char *source, int64_t last, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(gw->db,
	                  "INSERT INTO event_sources (source, last_seq) VALUES (?, ?)"
	                  " ON CONFLICT (source) DO UPDATE SET last_seq = excluded.last_seq",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, last);
	return br_db_step_done(gw->db, st, err, "event log: source %s", source);
}

/* Append the events of `req` above the source's last; *ret_last: the source's new last. */
static int
append_batch(struct gateway *gw, const struct br_events_publish_req *req, int64_t *ret_last,
             br_err *err)
{
	const struct br_event_in *evs = req->events.v;
	int64_t last;

	if (br_db_begin(gw->db, err) < 0)
		return -1;
	if (source_last(gw, req->source, &last, err) < 0)
		goto fail;
	int64_t first_last = last;
	for (size_t i = 0; i < req->events.n; i++) {
		const struct br_event_in *e = &evs[i];
		if (e->seq <= last)
			continue; /* sent again: the log has it */
		if (insert_event(gw, e->time, e->ns, e->topic, &e->payload, err) < 0)
			goto fail;
		last = e->seq;
	}
	if (last != first_last &&
	    (set_source_last(gw, req->source, last, err) < 0 || trim(gw, err) < 0))
		goto fail;
	if (br_db_commit(gw->db, err) < 0)
		goto reload;
	*ret_last = last;
	return 0;
fail:
	br_db_rollback(gw->db);
reload:
	/* The in-memory last and trim may have moved with the rolled-back rows. */
	{
		br_err ignored = BR_ERR_INIT;
		load_state(gw->events, &ignored);
	}
	return -1;
}

static void wake(struct gw_events *log);

static void
events_publish(br_call *call, void *data)
{
	struct gateway *gw = data;
	const struct br_events_publish_req *req = br_call_params(call);
	struct br_events_publish_resp resp = {0};
	br_err err = BR_ERR_INIT;

	/* The daemons run as root; nobody else may write the log. */
	if (br_call_peer_uid(call) != 0) {
		br_call_failf(call, BR_PERMISSION_DENIED,
		              "events.publish: only the daemons publish events (uid %u)",
		              br_call_peer_uid(call));
		return;
	}
	const struct br_event_in *evs = req->events.v;
	for (size_t i = 0; i < req->events.n; i++) {
		if (!br_ns_valid(evs[i].ns) || evs[i].topic[0] != '/' ||
		    (i > 0 && evs[i].seq <= evs[i - 1].seq)) {
			br_call_failf(
			        call, BR_INVALID_ARGUMENT,
			        "events.publish from %s: event %zu (seq %lld, topic %s, namespace "
			        "%s) is out of order or malformed",
			        req->source, i, (long long)evs[i].seq, evs[i].topic, evs[i].ns);
			return;
		}
	}
	if (append_batch(gw, req, &resp.last, &err) < 0) {
		br_log_error("GW-EVENTS", "events from %s: %s", req->source, err.msg);
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_events_publish_resp_schema, &resp);
	wake(gw->events);
}

/* ------------------------------------------------------------------ reading */

static bool
topic_matches(const struct br_strlist *prefixes, const char *topic)
{
	if (prefixes->n == 0)
		return true;
	for (size_t i = 0; i < prefixes->n; i++) {
		if (strncmp(topic, prefixes->v[i], strlen(prefixes->v[i])) == 0)
			return true;
	}
	return false;
}

static bool
ns_matches(const struct br_strlist *nss, const char *ns)
{
	if (nss->n == 0)
		return true;
	for (size_t i = 0; i < nss->n; i++) {
		if (strcmp(nss->v[i], ns) == 0)
			return true;
	}
	return false;
}

/*
 * Read the events after `after` that `req` wants into `page` (in the call's arena): up to
 * its limit, looking at no more than SCAN_MAX rows. page->next is the last sequence number
 * looked at; page->done when the stream's end was reached.
 */
static int
read_page(struct gw_events *log, br_call *call, const struct br_events_subscribe_req *req,
          int64_t after, struct br_event_page *page, br_err *err)
{
	struct gateway *gw = log->gw;
	br_arena *arena = br_call_arena(call);
	uint32_t limit = req->limit ? req->limit : BR_EVENTS_PAGE_DEFAULT;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t bytes = 0, n = 0;

	if (limit > BR_EVENTS_PAGE_MAX)
		limit = BR_EVENTS_PAGE_MAX;
	struct br_event *evs = br_arena_alloc(arena, limit * sizeof(*evs));
	page->next = after;
	if (br_db_prepare(gw->db,
	                  "SELECT seq, time, namespace, topic, payload FROM events WHERE seq > ?"
	                  " ORDER BY seq LIMIT ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int(st, 2, SCAN_MAX);
	int rc;
	while (n < limit && bytes < REPLY_BYTES_MAX && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		int64_t time = sqlite3_column_int64(st, 1);
		const char *ns = br_db_text(st, 2);
		const char *topic = br_db_text(st, 3);
		if ((req->until_seq > 0 && seq > req->until_seq) ||
		    (req->until > 0 && time > req->until)) {
			page->done = true;
			break;
		}
		page->next = seq;
		if (!ns_matches(&req->namespaces, ns) || !topic_matches(&req->topics, topic) ||
		    !gw_may_read(gw, call, ns))
			continue;
		struct br_event *e = &evs[n++];
		e->seq = seq;
		e->time = time;
		e->ns = br_arena_strdup(arena, ns);
		e->topic = br_arena_strdup(arena, topic);
		size_t len = (size_t)sqlite3_column_bytes(st, 4);
		uint8_t *p = br_arena_alloc(arena, len ? len : 1);
		memcpy(p, sqlite3_column_blob(st, 4), len);
		e->payload = (struct br_bytes){p, len};
		bytes += len + 64;
	}
	if (req->until_seq > 0 && page->next >= req->until_seq)
		page->done = true;
	/* A time bound is reached once the clock passed it and everything up to now was read. */
	if (req->until > 0 && !page->done && page->next == log->last && br_event_now() > req->until)
		page->done = true;
	page->events = (struct br_objlist){evs, n};
	page->oldest = log->trim_seq + 1;
	page->last = log->last;
	return 0;
}

/* Where a subscription starts: the sequence number it reads after. */
static int
start_after(struct gw_events *log, const struct br_events_subscribe_req *req, int64_t *ret,
            br_err *err)
{
	struct gateway *gw = log->gw;

	if (req->tail) {
		*ret = log->last;
		return 0;
	}
	if (req->since > 0) {
		_cleanup_stmt_ sqlite3_stmt *st = NULL;
		if (log->trim_seq > 0 && req->since <= log->trim_time)
			return br_err_set(
			        err, BR_FAILED_PRECONDITION,
			        "events from that time are no longer kept: retention dropped "
			        "them; the oldest kept is sequence number %lld",
			        (long long)(log->trim_seq + 1));
		if (br_db_prepare(gw->db, "SELECT MIN(seq) FROM events WHERE time >= ?", &st, err) <
		    0)
			return -1;
		sqlite3_bind_int64(st, 1, req->since);
		*ret = log->last;
		if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
			*ret = sqlite3_column_int64(st, 0) - 1;
		return 0;
	}
	if (req->after < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "p.after: %lld is not a sequence number", (long long)req->after);
	if (req->after < log->trim_seq)
		return br_err_set(
		        err, BR_FAILED_PRECONDITION,
		        "events after %lld are no longer all kept: retention dropped those "
		        "up to %lld; the oldest kept is sequence number %lld",
		        (long long)req->after, (long long)log->trim_seq,
		        (long long)(log->trim_seq + 1));
	*ret = req->after;
	return 0;
}

static void
waiter_closed(uv_handle_t *h)
{
	free(h);
}

/* Unlink `w`, answer its call with `page` (NULL: an empty page at w->after), free it. */
static void
waiter_answer(struct waiter *w, const struct br_event_page *page)
{
	struct gw_events *log = w->log;

	for (struct waiter **p = &log->waiters; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	uv_timer_stop(w->timer);
	uv_close((uv_handle_t *)w->timer, waiter_closed);
	if (page != NULL) {
		br_call_reply(w->call, &br_event_page_schema, page);
	} else {
		struct br_event_page empty = {
		        .next = w->after,
		        .oldest = log->trim_seq + 1,
		        .last = log->last,
		};
		br_call_reply(w->call, &br_event_page_schema, &empty);
	}
	free(w);
}

static void
waiter_timeout(uv_timer_t *t)
{
	waiter_answer(t->data, NULL);
}

/* Read again for every waiter; answer those that have something (or reached their end). */
static void
wake(struct gw_events *log)
{
	for (struct waiter *w = log->waiters, *next; w != NULL; w = next) {
		next = w->next;
		struct br_event_page page = {0};
		br_err err = BR_ERR_INIT;
		if (w->after >= log->last)
			continue;
		if (read_page(log, w->call, w->req, w->after, &page, &err) < 0) {
			br_log_warn("GW-EVENTS", "subscriber: %s", err.msg);
			waiter_answer(w, NULL);
			continue;
		}
		w->after = page.next;
		if (page.events.n > 0 || page.done)
			waiter_answer(w, &page);
	}
}

void
gw_events_notify(struct gateway *gw)
{
	wake(gw->events);
}

static void
events_subscribe(br_call *call, void *data)
{
	struct gateway *gw = data;
	struct gw_events *log = gw->events;
	const struct br_events_subscribe_req *req = br_call_params(call);
	struct br_event_page page = {0};
	br_err err = BR_ERR_INIT;
	int64_t after = 0;

	if (gw_authorize(gw, call) < 0)
		return;
	for (size_t i = 0; i < req->namespaces.n; i++) {
		if (!br_ns_valid(req->namespaces.v[i])) {
			br_call_failf(call, BR_INVALID_ARGUMENT,
			              "p.namespaces[%zu]: \"%s\" is not a namespace name", i,
			              req->namespaces.v[i]);
			return;
		}
		if (!gw_may_read(gw, call, req->namespaces.v[i])) {
			br_call_failf(call, BR_PERMISSION_DENIED,
			              "uid %u may not read the events of namespace \"%s\"",
			              br_call_peer_uid(call), req->namespaces.v[i]);
			return;
		}
	}
	if (req->wait_ms < 0 || req->wait_ms > BR_EVENTS_WAIT_MAX_MS) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "p.wait_ms: %lld is not within 0..%d",
		              (long long)req->wait_ms, BR_EVENTS_WAIT_MAX_MS);
		return;
	}
	if (start_after(log, req, &after, &err) < 0 ||
	    read_page(log, call, req, after, &page, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	int64_t wait = req->wait_ms;
	if (br_call_deadline(call) != 0) {
		int64_t left = br_call_deadline(call) - br_now_ms() - WAIT_MARGIN_MS;
		if (left < wait)
			wait = left;
	}
	if (page.events.n > 0 || page.done || wait <= 0) {
		br_call_reply(call, &br_event_page_schema, &page);
		return;
	}
	struct waiter *w = xnew(struct waiter);
	w->log = log;
	w->call = call;
	w->req = req;
	w->after = page.next;
	w->timer = xnew(uv_timer_t);
	uv_timer_init(gw->loop->uv, w->timer);
	w->timer->data = w;
	uv_timer_start(w->timer, waiter_timeout, (uint64_t)wait, 0);
	w->next = log->waiters;
	log->waiters = w;
}

void
gw_events_close(struct gateway *gw)
{
	struct gw_events *log = gw->events;

	if (log == NULL)
		return;
	/* Answer the waiting subscribers with what they have: they come back after the restart
	 * from where they were. */
	while (log->waiters != NULL)
		waiter_answer(log->waiters, NULL);
	free(log);
	gw->events = NULL;
}

const struct br_method gw_event_methods[] = {
        {"events.publish", &br_events_publish_req_schema, events_publish},
        {"events.subscribe", &br_events_subscribe_req_schema, events_subscribe},
};
const size_t gw_n_event_methods = sizeof(gw_event_methods) / sizeof(gw_event_methods[0]);
