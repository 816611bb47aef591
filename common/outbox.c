/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox deliverer (outbox.h). One lane per target: at most one message in flight, the
 * lowest seq first, so messages to one daemon arrive in the order their changes were
 * committed. A lane that hit a transient failure waits on its timer; a kick does not hurry
 * it (the target is known to be down).
 */
#include "common/outbox.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/proto/events.h"
#include "common/xalloc.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define MAX_PEERS 8

struct lane {
	struct br_outbox *ob;
	char *target;
	br_rpc_client *client;
	uv_timer_t *timer; /* retry; freed in its close callback */
	bool busy;         /* a message in flight */
	bool waiting;      /* the retry timer runs */
	int64_t backoff_ms;
	int64_t seq; /* of the message in flight; of the last one of an events batch */
	char *method;
	bool events; /* the target takes batches of events (br_outbox_peer.events) */
};

/* A br_outbox_wait caller. */
struct waiter {
	struct waiter *next;
	struct br_outbox *ob;
	int64_t seq; /* done once no message up to this one is queued */
	uv_timer_t *timer;
	void (*done)(void *arg, bool delivered);
	void *arg;
};

struct br_outbox {
	struct br_loop *loop;
	sqlite3 *db;
	char source[BR_EVENT_SOURCE_MAX]; /* "<daemon>.<random>": this database's events */
	struct lane lanes[MAX_PEERS];
	size_t n;
	int refs; /* 1 + deliveries in flight + timers not yet closed */
	bool closing;
	struct waiter *waiters;
};

static void check_waiters(struct br_outbox *ob);

int
br_outbox_add_raw(sqlite3 *db, const char *target, const char *method, const char *ns,
                  const void *params, size_t len, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "INSERT INTO outbox (target, method, namespace, params, created_at)"
	                  " VALUES (?, ?, ?, ?, ?)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, method, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ns, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, params, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, br_db_now());
	return br_db_step_done(db, st, err, "outbox: queue %s for %s", method, target);
}

int
br_outbox_add(sqlite3 *db, const char *target, const char *method, const char *ns,
              const struct br_schema *schema, const void *params, br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, schema, params);
	int rc = br_outbox_add_raw(db, target, method, ns, sb.data, sb.size, err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
outbox_unref(struct br_outbox *ob)
{
	if (--ob->refs > 0)
		return;
	for (size_t i = 0; i < ob->n; i++) {
		free(ob->lanes[i].target);
		free(ob->lanes[i].method);
	}
	free(ob);
}

static void send_next(struct lane *l);

static void
retry_fired(uv_timer_t *t)
{
	struct lane *l = t->data;

	l->waiting = false;
	send_next(l);
}

static bool
transient(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_DEADLINE_EXCEEDED || code == BR_CANCELED;
}

/* Delete the lane's current row; false (logged) when the database refused. */
static bool
forget(struct lane *l)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(l->ob->db, "DELETE FROM outbox WHERE target = ? AND seq <= ?", &st,
	                  &err) == 0) {
		sqlite3_bind_text(st, 1, l->target, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, l->seq);
		br_db_step_done(l->ob->db, st, &err, "outbox: forget %s", l->method);
	}
	/* A row that stays is sent once more, after the backoff: harmless, messages are
	 * idempotent. */
	if (err.code != BR_OK)
		br_log_warn("OUTBOX-DB", "%s", err.msg);
	return err.code == BR_OK;
}

/* Send the lane's current row again after its backoff. */
static void
retry_later(struct lane *l)
{
	l->waiting = true;
	uv_timer_start(l->timer, retry_fired, (uint64_t)l->backoff_ms, 0);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
}

static void
delivered(void *data, const br_err *call_err, const void *reply, size_t len)
{
	struct lane *l = data;
	struct br_outbox *ob = l->ob;
	br_err err = BR_ERR_INIT;
	msgpack_object result;

	l->busy = false;
	if (ob->closing) {
		outbox_unref(ob);
		return;
	}
	if (call_err != NULL) {
		br_err_copy(&err, call_err);
	} else {
		br_arena *arena = br_arena_new();
		br_reply_decode(reply, len, arena, &result, &err);
		br_arena_free(arena);
	}
	if (err.code != BR_OK && transient(err.code)) {
		br_log_debug("OUTBOX-RETRY", "%s to %s: %s; again in %lld ms", l->method, l->target,
		             err.msg, (long long)l->backoff_ms);
		retry_later(l);
		outbox_unref(ob);
		return;
	}
	if (err.code == BR_NOT_FOUND || err.code == BR_ALREADY_EXISTS)
		br_log_debug("OUTBOX-DONE", "%s to %s: %s", l->method, l->target, err.msg);
	else if (err.code != BR_OK)
		br_log_warn("OUTBOX-DROP", "%s to %s failed and is dropped: %s", l->method,
		            l->target, err.msg);
	if (!forget(l)) {
		retry_later(l);
		outbox_unref(ob);
		return;
	}
	l->backoff_ms = BACKOFF_MIN_MS;
	check_waiters(ob);
	outbox_unref(ob);
	send_next(l);
}

/* One queued event as an item of events.publish: its outbox seq and namespace, and the
 * topic, time and payload that br_event_add packed. False for a row that is not an event
 * (logged; it is dropped with its batch). */
static bool
pack_event(msgpack_packer *pk, sqlite3_stmt *st, br_arena *arena)
{
	msgpack_object obj;
	br_err err = BR_ERR_INIT;

	if (br_msg_unpack(sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3), arena,
	                  &obj, &err) < 0 ||
	    obj.type != MSGPACK_OBJECT_MAP) {
		br_log_warn("OUTBOX-DROP", "outbox row %lld is not an event: %s",
		            (long long)sqlite3_column_int64(st, 0), err.msg);
		return false;
	}
	msgpack_pack_map(pk, 2 + obj.via.map.size);
	br_msg_pack_str(pk, "seq");
	msgpack_pack_int64(pk, sqlite3_column_int64(st, 0));
	br_msg_pack_str(pk, "namespace");
	br_msg_pack_str(pk, br_db_text(st, 2));
	for (uint32_t i = 0; i < obj.via.map.size; i++) {
		msgpack_pack_object(pk, obj.via.map.ptr[i].key);
		msgpack_pack_object(pk, obj.via.map.ptr[i].val);
	}
	return true;
}

/* Send up to BR_EVENTS_PUBLISH_MAX queued events to an events lane in one events.publish. */
static void
send_events(struct lane *l)
{
	struct br_outbox *ob = l->ob;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	msgpack_sbuffer items, sb;
	msgpack_packer pk;
	uint32_t n = 0;

	if (br_db_prepare(ob->db,
	                  "SELECT seq, method, namespace, params FROM outbox WHERE target = ?"
	                  " ORDER BY seq LIMIT ?",
	                  &st, &err) < 0) {
		br_log_warn("OUTBOX-DB", "%s", err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, l->target, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, BR_EVENTS_PUBLISH_MAX);
	msgpack_sbuffer_init(&items);
	msgpack_packer_init(&pk, &items, msgpack_sbuffer_write);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		l->seq = sqlite3_column_int64(st, 0);
		if (pack_event(&pk, st, arena))
			n++;
	}
	if (rc != SQLITE_DONE)
		br_log_warn("OUTBOX-DB", "outbox of %s: %s", l->target, sqlite3_errmsg(ob->db));
	if (n == 0 && (rc != SQLITE_DONE || l->seq == 0)) {
		msgpack_sbuffer_destroy(&items);
		return;
	}
	free(l->method);
	l->method = xstrdup("events.publish");
	/* {"source": ..., "events": [items]} */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "source");
	br_msg_pack_str(&pk, ob->source);
	br_msg_pack_str(&pk, "events");
	msgpack_pack_array(&pk, n);
	msgpack_sbuffer_write(&sb, items.data, items.size);
	msgpack_sbuffer_destroy(&items);
	msgpack_sbuffer items_req;
	msgpack_sbuffer_init(&items_req);
	br_request_encode_raw(&items_req, l->method, "default", NULL, BR_OUTBOX_TIMEOUT_MS, sb.data,
	                      sb.size);
	msgpack_sbuffer_destroy(&sb);
	l->busy = true;
	ob->refs++;
	br_rpc_call_raw_async(l->client, ob->loop, items_req.data, items_req.size,
	                      BR_OUTBOX_TIMEOUT_MS, delivered, l);
	msgpack_sbuffer_destroy(&items_req);
}

/* Send the lane's oldest message, if it is idle and has one. */
static void
send_next(struct lane *l)
{
	struct br_outbox *ob = l->ob;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	msgpack_sbuffer sb;

	if (ob->closing || l->busy || l->waiting)
		return;
	if (l->events) {
		l->seq = 0;
		send_events(l);
		return;
	}
	if (br_db_prepare(ob->db,
	                  "SELECT seq, method, namespace, params FROM outbox WHERE target = ?"
	                  " ORDER BY seq LIMIT 1",
	                  &st, &err) < 0) {
		br_log_warn("OUTBOX-DB", "%s", err.msg);
		return;
	}
	sqlite3_bind_text(st, 1, l->target, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			br_log_warn("OUTBOX-DB", "outbox of %s: %s", l->target,
			            sqlite3_errmsg(ob->db));
		return;
	}
	l->seq = sqlite3_column_int64(st, 0);
	free(l->method);
	l->method = xstrdup(br_db_text(st, 1));
	msgpack_sbuffer_init(&sb);
	br_request_encode_raw(&sb, l->method, br_db_text(st, 2), NULL, BR_OUTBOX_TIMEOUT_MS,
	                      sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3));
	l->busy = true;
	ob->refs++;
	br_rpc_call_raw_async(l->client, ob->loop, sb.data, sb.size, BR_OUTBOX_TIMEOUT_MS,
	                      delivered, l);
	msgpack_sbuffer_destroy(&sb);
}

/*
 * The outbox tables, made where a daemon's migrations did not (contentd, snapshotd, netd), and
 * the database's event source name: "<daemon>.<16 random hex digits>", drawn once with the
 * database, so that a database made anew is a new source to the event log.
 */
static int
outbox_prepare_db(struct br_outbox *ob, const char *daemon, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_exec(ob->db,
	               BR_OUTBOX_SCHEMA_SQL
	               "CREATE TABLE IF NOT EXISTS outbox_source (id TEXT NOT NULL);"
	               "INSERT INTO outbox_source SELECT lower(hex(randomblob(8)))"
	               "  WHERE NOT EXISTS (SELECT 1 FROM outbox_source);",
	               err) < 0)
		return -1;
	if (br_db_prepare(ob->db, "SELECT id FROM outbox_source LIMIT 1", &st, err) < 0)
		return -1;
	if (sqlite3_step(st) != SQLITE_ROW)
		return br_db_error(ob->db, SQLITE_ERROR, err, "outbox: source");
	snprintf(ob->source, sizeof(ob->source), "%.24s.%.32s", daemon, br_db_text(st, 0));
	return 0;
}

struct br_outbox *
br_outbox_new(struct br_loop *loop, sqlite3 *db, const char *daemon,
              const struct br_outbox_peer *peers, size_t n)
{
	struct br_outbox *ob = xnew(struct br_outbox);
	br_err err = BR_ERR_INIT;

	ob->loop = loop;
	ob->db = db;
	if (outbox_prepare_db(ob, daemon, &err) < 0)
		br_log_error("OUTBOX-DB", "%s", err.msg);
	ob->refs = 1;
	ob->n = n < MAX_PEERS ? n : MAX_PEERS;
	for (size_t i = 0; i < ob->n; i++) {
		struct lane *l = &ob->lanes[i];
		l->ob = ob;
		l->target = xstrdup(peers[i].target);
		l->client = peers[i].client;
		l->events = peers[i].events;
		l->backoff_ms = BACKOFF_MIN_MS;
		l->timer = xnew(uv_timer_t);
		uv_timer_init(loop->uv, l->timer);
		l->timer->data = l;
	}
	br_outbox_kick(ob);
	return ob;
}

void
br_outbox_kick(struct br_outbox *ob)
{
	for (size_t i = 0; i < ob->n; i++)
		send_next(&ob->lanes[i]);
}

/* The target whose messages are events, or NULL: br_outbox_wait does not wait for them (an
 * "images rm" waits for the stores to drop its leases, not for the event log). */
static const char *
events_target(const struct br_outbox *ob)
{
	for (size_t i = 0; i < ob->n; i++) {
		if (ob->lanes[i].events)
			return ob->lanes[i].target;
	}
	return NULL;
}

/* MIN or MAX(seq) of the queued messages that are not events; `none` when there are none. */
static int64_t
queued_seq(struct br_outbox *ob, const char *agg, int64_t none)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	char sql[96];

	snprintf(sql, sizeof(sql), "SELECT %s(seq) FROM outbox WHERE ?1 IS NULL OR target <> ?1",
	         agg);
	if (br_db_prepare(ob->db, sql, &st, &err) < 0)
		return none;
	sqlite3_bind_text(st, 1, events_target(ob), -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL)
		return none;
	return sqlite3_column_int64(st, 0);
}

/* The smallest seq still queued, INT64_MAX when none (or unknown). */
static int64_t
oldest_queued(struct br_outbox *ob)
{
	return queued_seq(ob, "MIN", INT64_MAX);
}

static void
waiter_closed(uv_handle_t *h)
{
	struct waiter *w = h->data;
	struct br_outbox *ob = w->ob;

	free(w->timer);
	free(w);
	outbox_unref(ob);
}

/* Unlink `w`, tell its caller, close its timer. */
static void
waiter_end(struct waiter *w, bool delivered)
{
	struct br_outbox *ob = w->ob;

	for (struct waiter **p = &ob->waiters; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	uv_timer_stop(w->timer);
	w->done(w->arg, delivered);
	uv_close((uv_handle_t *)w->timer, waiter_closed);
}

static void
check_waiters(struct br_outbox *ob)
{
	if (ob->waiters == NULL)
		return;
	int64_t oldest = oldest_queued(ob);
	for (struct waiter *w = ob->waiters, *next; w != NULL; w = next) {
		next = w->next;
		if (oldest > w->seq)
			waiter_end(w, true);
	}
}

static void
waiter_timeout(uv_timer_t *t)
{
	waiter_end(t->data, false);
}

static void
waiter_timeout_delivered(uv_timer_t *t)
{
	waiter_end(t->data, true);
}

void
br_outbox_wait(struct br_outbox *ob, int64_t timeout_ms, void (*done)(void *arg, bool delivered),
               void *arg)
{
	struct waiter *w = xnew(struct waiter);

	w->ob = ob;
	w->done = done;
	w->arg = arg;
	w->seq = queued_seq(ob, "MAX", 0);
	w->timer = xnew(uv_timer_t);
	uv_timer_init(ob->loop->uv, w->timer);
	w->timer->data = w;
	ob->refs++;
	w->next = ob->waiters;
	ob->waiters = w;
	if (oldest_queued(ob) > w->seq) /* nothing queued: answer soon, never inline */
		uv_timer_start(w->timer, waiter_timeout_delivered, 0, 0);
	else
		uv_timer_start(w->timer, waiter_timeout, (uint64_t)timeout_ms, 0);
}

int64_t
br_outbox_pending(struct br_outbox *ob)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(ob->db, "SELECT COUNT(*) FROM outbox", &st, &err) < 0 ||
	    sqlite3_step(st) != SQLITE_ROW)
		return -1;
	return sqlite3_column_int64(st, 0);
}

static void
timer_closed(uv_handle_t *h)
{
	struct lane *l = h->data;
	struct br_outbox *ob = l->ob;

	free(h);
	outbox_unref(ob);
}

void
br_outbox_free(struct br_outbox *ob)
{
	if (ob == NULL)
		return;
	ob->closing = true;
	while (ob->waiters != NULL)
		waiter_end(ob->waiters, false);
	for (size_t i = 0; i < ob->n; i++) {
		uv_timer_stop(ob->lanes[i].timer);
		ob->refs++;
		uv_close((uv_handle_t *)ob->lanes[i].timer, timer_closed);
	}
	outbox_unref(ob);
}
