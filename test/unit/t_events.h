/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For unit tests that check the events a daemon emits: they are read straight from the
 * outbox table of its database (common/events.h), where they wait when no gatewayd takes
 * them, in the order they were added.
 *
 *   sqlite3 *db = t_events_open("<root>/contentd/meta.db");   or a store's own connection
 *   struct t_event *ev;
 *   size_t n = t_events_read(db, "/content/delete", arena, &ev);
 *   struct br_event_content_delete p;
 *   t_event_decode(&ev[0], &br_event_content_delete_schema, arena, &p);
 */
#ifndef BR_TEST_UNIT_T_EVENTS_H
#define BR_TEST_UNIT_T_EVENTS_H

#include <stddef.h>
#include <string.h>

#include <sqlite3.h>

#include "common/events.h"
#include "common/msg.h"
#include "test/unit/t.h"

struct t_event {
	const char *ns;
	const char *topic;
	int64_t time;
	struct br_bytes payload; /* a packed msgpack map */
};

/* What br_event_add queues: {topic, time, payload}. */
static const struct br_field t_event_params_fields[] = {
        BR_FIELD(struct t_event, topic, BR_F_STR, BR_TOPIC_MAX, BR_F_REQUIRED),
        BR_FIELD(struct t_event, time, BR_F_I64, 0, BR_F_REQUIRED),
        BR_FIELD(struct t_event, payload, BR_F_RAW, BR_EVENT_PAYLOAD_MAX, 0),
};
static const struct br_schema t_event_params_schema =
        BR_SCHEMA(struct t_event, t_event_params_fields);

/* A read-only connection to the database at `path` (a running daemon's, in WAL mode). */
static inline sqlite3 *
t_events_open(const char *path)
{
	sqlite3 *db = NULL;

	T_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

/* The queued events of `topic` (NULL: every topic), oldest first, in `arena`. */
static inline size_t
t_events_read(sqlite3 *db, const char *topic, br_arena *arena, struct t_event **ret)
{
	sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 16;
	struct t_event *v = br_arena_alloc(arena, cap * sizeof(*v));
	int rc;

	T_EQ_INT(sqlite3_prepare_v2(db,
	                            "SELECT namespace, params FROM outbox"
	                            " WHERE target = '" BR_EVENTS_TARGET "' ORDER BY seq",
	                            -1, &st, NULL),
	         SQLITE_OK);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		size_t len = (size_t)sqlite3_column_bytes(st, 1);
		void *params = br_arena_alloc(arena, len ? len : 1);
		msgpack_object obj;
		struct t_event ev;
		br_err err = BR_ERR_INIT;

		memcpy(params, sqlite3_column_blob(st, 1), len);
		T_NOERR(br_msg_unpack(params, len, arena, &obj, &err), err);
		T_NOERR(br_msg_decode(&obj, &t_event_params_schema, "event", arena, &ev, &err),
		        err);
		if (topic != NULL && strcmp(ev.topic, topic) != 0)
			continue;
		ev.ns = br_arena_strdup(arena, (const char *)sqlite3_column_text(st, 0));
		if (n == cap) {
			struct t_event *next = br_arena_alloc(arena, 2 * cap * sizeof(*next));
			memcpy(next, v, n * sizeof(*v));
			v = next;
			cap *= 2;
		}
		v[n++] = ev;
	}
	T_EQ_INT(rc, SQLITE_DONE);
	sqlite3_finalize(st);
	*ret = v;
	return n;
}

/* Decode the payload of `ev` with `schema` into `ret` (strings in `arena`). */
static inline void
t_event_decode(const struct t_event *ev, const struct br_schema *schema, br_arena *arena, void *ret)
{
	msgpack_object obj;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_msg_unpack(ev->payload.data, ev->payload.len, arena, &obj, &err), err);
	T_NOERR(br_msg_decode(&obj, schema, "payload", arena, ret, &err), err);
}

#endif
