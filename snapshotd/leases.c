/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the snapshot store tells common/lease.c about its resources: a lease reference to a
 * snapshot is ("snapshots/<snapshotter>", key), "snapshots" alone naming the default
 * snapshotter, and it exists when the namespace has a snapshot of that snapshotter under that
 * key (active, view or committed). The lease tables live in the store's own database, so
 * a prepare or commit holds its result in the same transaction that records it.
 */
#include <stdio.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "snapshotd/store.h"

#define TYPE_PREFIX "snapshots/"

static const char *
canonical_type(void *data, const struct br_lease_resource *r, br_arena *arena, br_err *err)
{
	struct snapshotd_store *s = data;
	const struct snapshotd_backend *b;
	size_t len = strlen(r->key);

	if (strcmp(r->type, "snapshots") == 0) {
		b = s->default_backend;
	} else if (strncmp(r->type, TYPE_PREFIX, strlen(TYPE_PREFIX)) == 0) {
		b = snapshotd_backend_by_name(s, r->type + strlen(TYPE_PREFIX));
		if (b == NULL) {
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "type \"%s\": unknown snapshotter \"%s\" (known: overlayfs, "
			           "native)",
			           r->type, r->type + strlen(TYPE_PREFIX));
			return NULL;
		}
	} else {
		br_err_set(err, BR_INVALID_ARGUMENT,
		           "type \"%s\": not a snapshot resource (\"snapshots\" or "
		           "\"snapshots/<snapshotter>\")",
		           r->type);
		return NULL;
	}
	if (len == 0 || len > BR_KEY_MAX || strchr(r->key, '/') != NULL) {
		br_err_set(err, BR_INVALID_ARGUMENT,
		           "key \"%s\": not a snapshot key (1 to %d bytes, no '/')", r->key,
		           BR_KEY_MAX);
		return NULL;
	}
	return snapshotd_lease_type(b, arena);
}

static int
exists(void *data, const char *ns, const char *type, const char *key, bool *ret, br_err *err)
{
	struct snapshotd_store *s = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(s->db,
	                  "SELECT 1 FROM snapshots WHERE namespace = ? AND snapshotter = ?"
	                  " AND key = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type + strlen(TYPE_PREFIX), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(s->db, rc, err, "snapshot \"%s\"", key);
	*ret = rc == SQLITE_ROW;
	return 0;
}

static void
released(void *data)
{
	struct snapshotd_store *s = data;

	if (s->released != NULL)
		s->released(s->released_data);
}

static const struct br_lease_store_ops lease_ops = {
        .canonical_type = canonical_type,
        .exists = exists,
        .released = released,
};

const char *
snapshotd_lease_type(const struct snapshotd_backend *b, br_arena *arena)
{
	return br_arena_printf(arena, TYPE_PREFIX "%s", b->ops->name);
}

int
snapshotd_store_open_leases(struct snapshotd_store *s, uv_loop_t *uv, void (*on_released)(void *),
                            void *data, br_err *err)
{
	s->released = on_released;
	s->released_data = data;
	if (br_lease_store_new(uv, s->db, "snapshotd", "snapshots", &lease_ops, s, &s->leases,
	                       err) < 0)
		return br_err_wrap(err, "snapshot store %s: leases", s->dir);
	br_lease_store_set_outbox(s->leases, s->outbox);
	return 0;
}
