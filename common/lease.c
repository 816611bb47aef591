/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store side of leases (lease.h): the lease tables and the P.leases.* handlers. Every
 * handler runs on the loop thread and changes the tables in one short transaction. An expired
 * lease is treated as absent everywhere (get, add, the envelope check) even before the
 * store's collection deletes it, so expiry takes effect at its time, not at the next sweep.
 * A handler that let go of something a lease held tells the store (ops->released) once,
 * after its commit: never from inside a transaction, and never for a change that dropped
 * nothing, since each announcement costs the store a collection. A lease that comes to exist
 * or goes is announced by /leases/create or /leases/delete (events.h) in the transaction
 * that writes or deletes its row, and the outbox is kicked after the commit.
 */
#include "common/lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/xalloc.h"

#define N_METHODS 8
#define MAX_TTL_MS (100LL * 365 * 24 * 3600 * 1000)
#define UNEXPIRED "(expire_at = 0 OR expire_at > ?)"

struct br_lease_store {
	sqlite3 *db;
	const char *daemon;       /* "contentd": the events' "daemon" */
	struct br_outbox *outbox; /* kicked after a commit that added events; may be NULL */
	const struct br_lease_store_ops *ops;
	void *data;
	uv_timer_t *timer; /* fires at the earliest expiry; freed in its close callback */
	struct br_method methods[N_METHODS];
	char *names[N_METHODS];
};

/* ---- tokens: two strings in one, "<length of the first>:<first><second>" ---- */

static const char *
token2(br_arena *arena, const char *a, const char *b)
{
	return br_arena_printf(arena, "%zu:%s%s", strlen(a), a, b);
}

static int
untoken2(const char *token, br_arena *arena, const char **ret_a, const char **ret_b, br_err *err)
{
	char *end = NULL;
	unsigned long n = strtoul(token, &end, 10);

	if (end == token || *end != ':' || n > strlen(end + 1))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "p.page_token: not a token of this list");
	*ret_a = br_arena_strndup(arena, end + 1, n);
	*ret_b = br_arena_strdup(arena, end + 1 + n);
	return 0;
}

/* ---- expiry timer ---- */

static void
expiry_fired(uv_timer_t *t)
{
	struct br_lease_store *ls = t->data;

	if (ls->ops->released != NULL)
		ls->ops->released(ls->data);
}

/* Arm the timer for the earliest expiry still ahead (a passed one fires at once). */
static void
arm_expiry(struct br_lease_store *ls)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err ignored = BR_ERR_INIT;

	if (br_db_prepare(ls->db, "SELECT MIN(expire_at) FROM leases WHERE expire_at > 0", &st,
	                  &ignored) < 0 ||
	    sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
		uv_timer_stop(ls->timer);
		return;
	}
	int64_t delay = sqlite3_column_int64(st, 0) - br_db_now() + 1;
	uv_timer_start(ls->timer, expiry_fired, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* Held references went, in a change that is committed now. */
static void
released(struct br_lease_store *ls)
{
	if (ls->ops->released != NULL)
		ls->ops->released(ls->data);
}

/* ---- rows ---- */

/* 1 if lease (ns, id) exists unexpired, 0 if not (an expired row counts as none). */
static int
lease_live(struct br_lease_store *ls, const char *ns, const char *id, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(ls->db,
	                  "SELECT 1 FROM leases WHERE namespace = ? AND id = ? AND " UNEXPIRED, &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, br_db_now());
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc != SQLITE_DONE)
		return br_db_error(ls->db, rc, err, "lease \"%s\"", id);
	return 0;
}

static int
not_found(br_err *err, const char *id)
{
	return br_err_set(err, BR_NOT_FOUND, "lease \"%s\": not found", id);
}

/* ---- events ---- */

static int
announce_create(struct br_lease_store *ls, const char *ns, const char *id, int64_t expire_at,
                const struct br_strmap *labels, br_err *err)
{
	struct br_event_lease_create ev = {
	        .id = id,
	        .daemon = ls->daemon,
	        .expire_at = expire_at,
	        .labels = *labels,
	};

	return br_event_add(ls->db, ns, BR_TOPIC_LEASE_CREATE, &br_event_lease_create_schema, &ev,
	                    err);
}

static int
announce_delete(struct br_lease_store *ls, const char *ns, const char *id, bool expired,
                br_err *err)
{
	struct br_event_lease_delete ev = {.id = id, .daemon = ls->daemon, .expired = expired};

	return br_event_add(ls->db, ns, BR_TOPIC_LEASE_DELETE, &br_event_lease_delete_schema, &ev,
	                    err);
}

/* After a commit that may have added events. */
static void
kick(struct br_lease_store *ls)
{
	if (ls->outbox != NULL)
		br_outbox_kick(ls->outbox);
}

/* Delete the row of lease (ns, id) and announce it (`expired`: the lease had expired), inside
 * the caller's transaction; nothing is announced when there was no row. */
static int
delete_row(struct br_lease_store *ls, const char *ns, const char *id, bool expired, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(ls->db, "DELETE FROM leases WHERE namespace = ? AND id = ?", &st, err) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (br_db_step_done(ls->db, st, err, "delete lease \"%s\"", id) < 0)
		return -1;
	if (sqlite3_changes(ls->db) == 0)
		return 0;
	return announce_delete(ls, ns, id, expired, err);
}

static int
check_ttl(int64_t ttl_ms, br_err *err)
{
	if (ttl_ms < 0 || ttl_ms > MAX_TTL_MS)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "p.ttl_ms: %" PRId64
		                  " is out of range (0 to %lld; 0: never expires)",
		                  ttl_ms, MAX_TTL_MS);
	return 0;
}

/* When a lease given `ttl_ms` now expires: ms since the epoch, 0 for never. */
/* The expiry of a lease made or renewed at `now` (0: none). */
static int64_t
expiry(int64_t now, int64_t ttl_ms)
{
	return ttl_ms > 0 ? now + ttl_ms : 0;
}

/* Insert or update the lease row (created_at `now` for a new one, kept for an old one) and
 * replace its labels. One `now` for both times, so that a lease's expire_at is its
 * created_at plus its ttl however long the transaction took. */
static int
upsert(struct br_lease_store *ls, const char *ns, const char *id, int64_t now, int64_t expire_at,
       const struct br_strmap *labels, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	_cleanup_stmt_ sqlite3_stmt *ins = NULL;

	if (br_db_prepare(ls->db,
	                  "INSERT INTO leases (namespace, id, created_at, expire_at)"
	                  " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (namespace, id)"
	                  " DO UPDATE SET expire_at = ?4",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, expire_at);
	if (br_db_step_done(ls->db, st, err, "lease \"%s\"", id) < 0)
		return -1;
	if (br_db_prepare(ls->db, "DELETE FROM lease_labels WHERE namespace = ? AND lease = ?",
	                  &del, err) < 0)
		return -1;
	sqlite3_bind_text(del, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 2, id, -1, SQLITE_STATIC);
	if (br_db_step_done(ls->db, del, err, "lease \"%s\": labels", id) < 0)
		return -1;
	if (labels->n == 0)
		return 0;
	if (br_db_prepare(
	            ls->db,
	            "INSERT INTO lease_labels (namespace, lease, key, value) VALUES (?, ?, ?, ?)",
	            &ins, err) < 0)
		return -1;
	sqlite3_bind_text(ins, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, id, -1, SQLITE_STATIC);
	if (br_db_write_labels(ls->db, ins, 3, labels, err) < 0)
		return br_err_wrap(err, "lease \"%s\"", id);
	return 0;
}

static int
count_resources(struct br_lease_store *ls, const char *ns, const char *id, int64_t *ret,
                br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(ls->db,
	                  "SELECT COUNT(*) FROM lease_resources WHERE namespace = ? AND lease = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(ls->db, rc, err, "lease \"%s\": count resources", id);
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

/* The statements that add and remove one reference of a lease; prepared once per request
 * with the lease bound, then stepped once per resource (step_resource). */
#define SQL_HOLD \
	"INSERT OR IGNORE INTO lease_resources (namespace, lease, type, key) VALUES (?, ?, ?, ?)"
#define SQL_DROP \
	"DELETE FROM lease_resources WHERE namespace = ? AND lease = ? AND type = ? AND key = ?"

static int
prepare_resource_stmt(struct br_lease_store *ls, const char *sql, const char *ns, const char *id,
                      sqlite3_stmt **ret, br_err *err)
{
	if (br_db_prepare(ls->db, sql, ret, err) < 0)
		return -1;
	sqlite3_bind_text(*ret, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(*ret, 2, id, -1, SQLITE_STATIC);
	return 0;
}

/* Run a statement of prepare_resource_stmt() for (type, key): the rows it changed (0 or 1),
 * or -1. `type` and `key` stay bound after the return. */
static int
step_resource(struct br_lease_store *ls, sqlite3_stmt *st, const char *id, const char *verb,
              const char *type, const char *key, br_err *err)
{
	sqlite3_reset(st);
	sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, key, -1, SQLITE_STATIC);
	if (br_db_step_done(ls->db, st, err, "lease \"%s\": %s %s %s", id, verb, type, key) < 0)
		return -1;
	return sqlite3_changes(ls->db);
}

int
br_lease_hold(struct br_lease_store *ls, const char *ns, const char *id, const char *type,
              const char *key, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_lease_check(ls, ns, id, err) < 0 ||
	    prepare_resource_stmt(ls, SQL_HOLD, ns, id, &st, err) < 0 ||
	    step_resource(ls, st, id, "hold", type, key, err) < 0)
		return -1;
	return 0;
}

/* The statements of br_lease_move(), inside a transaction. */
static int
move_tx(struct br_lease_store *ls, const char *ns, const char *id,
        const struct br_lease_resource *from, const struct br_lease_resource *to, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *hold = NULL;
	_cleanup_stmt_ sqlite3_stmt *drop = NULL;

	if (br_lease_check(ls, ns, id, err) < 0 ||
	    prepare_resource_stmt(ls, SQL_HOLD, ns, id, &hold, err) < 0 ||
	    prepare_resource_stmt(ls, SQL_DROP, ns, id, &drop, err) < 0 ||
	    step_resource(ls, hold, id, "hold", to->type, to->key, err) < 0 ||
	    step_resource(ls, drop, id, "drop", from->type, from->key, err) < 0)
		return -1;
	return 0;
}

int
br_lease_move(struct br_lease_store *ls, const char *ns, const char *id,
              const struct br_lease_resource *from, const struct br_lease_resource *to, br_err *err)
{
	if (!sqlite3_get_autocommit(ls->db))
		return move_tx(ls, ns, id, from, to, err);
	if (br_db_begin(ls->db, err) < 0)
		return -1;
	if (move_tx(ls, ns, id, from, to, err) < 0) {
		br_db_rollback(ls->db);
		return -1;
	}
	return br_db_commit(ls->db, err);
}

int
br_lease_check(struct br_lease_store *ls, const char *ns, const char *id, br_err *err)
{
	int live = lease_live(ls, ns, id, err);

	if (live <= 0)
		return live < 0 ? -1 : not_found(err, id);
	return 0;
}

/* The statements of br_lease_expire(), inside a transaction: each expired lease is
 * announced, then they all go. */
static int
expire_tx(struct br_lease_store *ls, int64_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *sel = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	int64_t now = br_db_now(), n = 0;
	int rc;

	if (br_db_prepare(ls->db,
	                  "SELECT namespace, id FROM leases WHERE expire_at > 0 AND expire_at <= ?",
	                  &sel, err) < 0 ||
	    br_db_prepare(ls->db, "DELETE FROM leases WHERE expire_at > 0 AND expire_at <= ?", &del,
	                  err) < 0)
		return -1;
	sqlite3_bind_int64(sel, 1, now);
	sqlite3_bind_int64(del, 1, now);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		if (announce_delete(ls, br_db_text(sel, 0), br_db_text(sel, 1), true, err) < 0)
			return -1;
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(ls->db, rc, err, "list expired leases");
	if (br_db_step_done(ls->db, del, err, "drop expired leases") < 0)
		return -1;
	*ret_n = n;
	return 0;
}

int
br_lease_expire(struct br_lease_store *ls, int64_t *ret_n, br_err *err)
{
	bool own_tx = sqlite3_get_autocommit(ls->db);
	int64_t n = 0;

	if (own_tx && br_db_begin(ls->db, err) < 0)
		return -1;
	if (expire_tx(ls, &n, err) < 0) {
		if (own_tx)
			br_db_rollback(ls->db);
		return -1;
	}
	if (own_tx) {
		if (br_db_commit(ls->db, err) < 0)
			return -1;
		if (n > 0)
			kick(ls);
	}
	if (ret_n != NULL)
		*ret_n = n;
	arm_expiry(ls);
	return 0;
}

int
br_lease_count(struct br_lease_store *ls, const char *ns, int64_t *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(ls->db, "SELECT COUNT(*) FROM leases WHERE namespace = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(ls->db, rc, err, "count leases");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

/* Fill a wire lease from its row: labels and resource count are looked up. */
static int
load_lease(struct br_lease_store *ls, const char *ns, const char *id, int64_t created_at,
           int64_t expire_at, br_arena *arena, struct br_lease *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	memset(ret, 0, sizeof(*ret));
	ret->id = br_arena_strdup(arena, id);
	ret->ns = br_arena_strdup(arena, ns);
	ret->created_at = created_at;
	ret->expire_at = expire_at;
	if (br_db_prepare(ls->db,
	                  "SELECT key, value FROM lease_labels WHERE namespace = ? AND lease = ?"
	                  " ORDER BY key",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	if (br_db_read_labels(ls->db, st, arena, &ret->labels, err) < 0)
		return -1;
	return count_resources(ls, ns, id, &ret->resources, err);
}

static int
get_lease(struct br_lease_store *ls, const char *ns, const char *id, br_arena *arena,
          struct br_lease *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(ls->db,
	                  "SELECT created_at, expire_at FROM leases WHERE namespace = ? AND id = ?"
	                  " AND " UNEXPIRED,
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, br_db_now());
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return not_found(err, id);
	if (rc != SQLITE_ROW)
		return br_db_error(ls->db, rc, err, "lease \"%s\"", id);
	return load_lease(ls, ns, id, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
	                  arena, ret, err);
}

/* The canonical type of each resource of `list`, in `arena`: checked before anything
 * changes, so a bad resource (INVALID_ARGUMENT naming its index) changes nothing. */
static int
canonical_types(struct br_lease_store *ls, const struct br_objlist *list, br_arena *arena,
                const char ***ret, br_err *err)
{
	const struct br_lease_resource *in = list->v;
	const char **types = br_arena_alloc(arena, (list->n + 1) * sizeof(*types));

	for (size_t i = 0; i < list->n; i++) {
		types[i] = ls->ops->canonical_type(ls->data, &in[i], arena, err);
		if (types[i] == NULL)
			return br_err_wrap(err, "p.resources[%zu]", i);
	}
	*ret = types;
	return 0;
}

/*
 * Hold `list` (canonical types `types`) in lease (ns, id), which the caller has found live in
 * the same transaction, and list in *ret the resources that do not exist. One statement is
 * prepared for the whole list: a request names up to BR_LEASE_RESOURCES_MAX.
 */
static int
hold_all(struct br_lease_store *ls, const char *ns, const char *id, const struct br_objlist *list,
         const char *const *types, br_arena *arena, struct br_lease_missing_resp *ret, br_err *err)
{
	const struct br_lease_resource *in = list->v;
	struct br_lease_resource *missing = br_arena_alloc(arena, (list->n + 1) * sizeof(*missing));
	_cleanup_stmt_ sqlite3_stmt *hold = NULL;
	size_t n_missing = 0;
	int64_t count = 0;

	if (list->n > 0 && prepare_resource_stmt(ls, SQL_HOLD, ns, id, &hold, err) < 0)
		return -1;
	for (size_t i = 0; i < list->n; i++) {
		bool exists = false;
		if (step_resource(ls, hold, id, "hold", types[i], in[i].key, err) < 0 ||
		    ls->ops->exists(ls->data, ns, types[i], in[i].key, &exists, err) < 0)
			return -1;
		if (!exists)
			missing[n_missing++] = (struct br_lease_resource){types[i], in[i].key};
	}
	if (count_resources(ls, ns, id, &count, err) < 0)
		return -1;
	if (count > BR_LEASE_MAX_RESOURCES)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "lease \"%s\": %" PRId64 " resources, more than the limit of %d",
		                  id, count, BR_LEASE_MAX_RESOURCES);
	ret->missing.v = missing;
	ret->missing.n = n_missing;
	return 0;
}

static int
resource_cmp(const void *a, const void *b)
{
	const struct br_lease_resource *x = a, *y = b;
	int c = strcmp(x->type, y->type);

	return c != 0 ? c : strcmp(x->key, y->key);
}

/*
 * For a put with `replace`: let lease (ns, id) go of what it holds outside `list` (canonical
 * types `types`) and keep the rest as it is, so that putting the set already held changes no
 * row. The number of references dropped goes to *ret_n.
 */
static int
drop_others(struct br_lease_store *ls, const char *ns, const char *id,
            const struct br_objlist *list, const char *const *types, br_arena *arena,
            int64_t *ret_n, br_err *err)
{
	const struct br_lease_resource *in = list->v;
	struct br_lease_resource *keep = br_arena_alloc(arena, (list->n + 1) * sizeof(*keep));
	struct br_lease_resource *stale = NULL;
	_cleanup_stmt_ sqlite3_stmt *held = NULL;
	_cleanup_stmt_ sqlite3_stmt *drop = NULL;
	size_t n_stale = 0, cap = 0;
	int64_t n = 0;
	int rc;

	for (size_t i = 0; i < list->n; i++)
		keep[i] = (struct br_lease_resource){types[i], in[i].key};
	qsort(keep, list->n, sizeof(*keep), resource_cmp);
	if (prepare_resource_stmt(ls,
	                          "SELECT type, key FROM lease_resources WHERE namespace = ?"
	                          " AND lease = ?",
	                          ns, id, &held, err) < 0)
		return -1;
	/* Collected first, deleted after: rows deleted under a running SELECT of the same table
	 * may or may not be visited. */
	while ((rc = sqlite3_step(held)) == SQLITE_ROW) {
		struct br_lease_resource r = {br_db_text(held, 0), br_db_text(held, 1)};
		if (bsearch(&r, keep, list->n, sizeof(*keep), resource_cmp) != NULL)
			continue;
		if (n_stale == cap) {
			cap = cap ? 2 * cap : 64;
			struct br_lease_resource *next = br_arena_alloc(arena, cap * sizeof(*next));
			if (n_stale > 0)
				memcpy(next, stale, n_stale * sizeof(*next));
			stale = next;
		}
		stale[n_stale++] = (struct br_lease_resource){br_arena_strdup(arena, r.type),
		                                              br_arena_strdup(arena, r.key)};
	}
	if (rc != SQLITE_DONE)
		return br_db_error(ls->db, rc, err, "lease \"%s\": list resources", id);
	if (n_stale > 0 && prepare_resource_stmt(ls, SQL_DROP, ns, id, &drop, err) < 0)
		return -1;
	for (size_t i = 0; i < n_stale; i++) {
		int changed = step_resource(ls, drop, id, "drop", stale[i].type, stale[i].key, err);
		if (changed < 0)
			return -1;
		n += changed;
	}
	*ret_n = n;
	return 0;
}

/* ---- handlers ---- */

/* End a handler's transaction: commit if `rc` is 0, else roll back. False, with the call
 * answered the error, if it did not commit. */
static bool
in_tx(struct br_lease_store *ls, br_call *call, int rc, br_err *err)
{
	if (rc < 0) {
		br_db_rollback(ls->db);
		br_call_fail(call, err);
		return false;
	}
	if (br_db_commit(ls->db, err) < 0) {
		br_call_fail(call, err);
		return false;
	}
	return true;
}

static void
handle_create(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_create_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	struct br_lease out;
	br_err err = BR_ERR_INIT;
	int64_t expire_at;
	int rc;

	if (check_ttl(req->ttl_ms, &err) < 0 || br_db_begin(ls->db, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	int64_t now = br_db_now();
	expire_at = expiry(now, req->ttl_ms);
	rc = lease_live(ls, ns, req->id, &err);
	if (rc > 0)
		rc = br_err_set(&err, BR_ALREADY_EXISTS, "lease \"%s\": already exists", req->id);
	else if (rc == 0)
		rc = delete_row(ls, ns, req->id, true, &err); /* an expired leftover */
	if (rc == 0)
		rc = upsert(ls, ns, req->id, now, expire_at, &req->labels, &err);
	if (rc == 0)
		rc = announce_create(ls, ns, req->id, expire_at, &req->labels, &err);
	if (!in_tx(ls, call, rc, &err))
		return;
	kick(ls);
	arm_expiry(ls);
	if (get_lease(ls, ns, req->id, br_call_arena(call), &out, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_lease_schema, &out);
}

/* Create or update a lease and hold what it names. A put that names what the lease holds
 * already (as owners do at every start and at every change of a record) changes no resource
 * row and announces no release; one with `replace` announces a release only when it let go
 * of something. With `must_exist` (a renewal) a missing or expired lease is NOT_FOUND. Only
 * a put that creates the lease emits an event (/leases/create); an update emits none. */
static void
handle_put(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_put_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_arena *arena = br_call_arena(call);
	struct br_lease_missing_resp out = {0};
	br_err err = BR_ERR_INIT;
	const char **types = NULL;
	int64_t dropped = 0, expire_at;
	bool created = false;
	int rc;

	if (check_ttl(req->ttl_ms, &err) < 0 ||
	    canonical_types(ls, &req->resources, arena, &types, &err) < 0 ||
	    br_db_begin(ls->db, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	int64_t now = br_db_now();
	expire_at = expiry(now, req->ttl_ms);
	rc = lease_live(ls, ns, req->id, &err);
	if (rc == 0 && req->must_exist) {
		rc = not_found(&err, req->id);
	} else if (rc == 0) {
		/* a new lease; an expired leftover of the same id goes first */
		created = true;
		rc = delete_row(ls, ns, req->id, true, &err);
	} else if (rc > 0 && req->replace) {
		rc = drop_others(ls, ns, req->id, &req->resources, types, arena, &dropped, &err);
	} else if (rc > 0) {
		rc = 0;
	}
	if (rc == 0)
		rc = upsert(ls, ns, req->id, now, expire_at, &req->labels, &err);
	if (rc == 0 && created)
		rc = announce_create(ls, ns, req->id, expire_at, &req->labels, &err);
	if (rc == 0)
		rc = hold_all(ls, ns, req->id, &req->resources, types, arena, &out, &err);
	if (!in_tx(ls, call, rc, &err))
		return;
	if (created)
		kick(ls);
	arm_expiry(ls);
	if (dropped > 0)
		released(ls);
	br_call_reply(call, &br_lease_missing_resp_schema, &out);
}

static void
handle_get(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_id_req *req = br_call_params(call);
	struct br_lease out;
	br_err err = BR_ERR_INIT;

	if (get_lease(ls, br_call_ns(call), req->id, br_call_arena(call), &out, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	br_call_reply(call, &br_lease_schema, &out);
}

static void
handle_delete(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_id_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_err err = BR_ERR_INIT;
	int64_t held = 0;

	if (br_db_begin(ls->db, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	/* An expired lease is NOT_FOUND like an unknown one; the collection deletes it. */
	int rc = br_lease_check(ls, ns, req->id, &err);
	if (rc == 0)
		rc = count_resources(ls, ns, req->id, &held, &err);
	if (rc == 0)
		rc = delete_row(ls, ns, req->id, false, &err);
	if (!in_tx(ls, call, rc, &err))
		return;
	kick(ls);
	arm_expiry(ls);
	if (held > 0)
		released(ls);
	br_call_reply(call, NULL, NULL);
}

static void
handle_add(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_resources_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_arena *arena = br_call_arena(call);
	struct br_lease_missing_resp out = {0};
	br_err err = BR_ERR_INIT;
	const char **types = NULL;

	if (br_db_begin(ls->db, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	int rc = br_lease_check(ls, ns, req->id, &err);
	if (rc == 0)
		rc = canonical_types(ls, &req->resources, arena, &types, &err);
	if (rc == 0)
		rc = hold_all(ls, ns, req->id, &req->resources, types, arena, &out, &err);
	if (!in_tx(ls, call, rc, &err))
		return;
	br_call_reply(call, &br_lease_missing_resp_schema, &out);
}

/* Drop `list` (canonical types `types`) from lease (ns, id); the number of references that
 * went goes to *ret_n. */
static int
drop_all(struct br_lease_store *ls, const char *ns, const char *id, const struct br_objlist *list,
         const char *const *types, int64_t *ret_n, br_err *err)
{
	const struct br_lease_resource *in = list->v;
	_cleanup_stmt_ sqlite3_stmt *drop = NULL;
	int64_t n = 0;

	if (list->n > 0 && prepare_resource_stmt(ls, SQL_DROP, ns, id, &drop, err) < 0)
		return -1;
	for (size_t i = 0; i < list->n; i++) {
		int changed = step_resource(ls, drop, id, "drop", types[i], in[i].key, err);
		if (changed < 0)
			return -1;
		n += changed;
	}
	*ret_n = n;
	return 0;
}

static void
handle_remove(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_resources_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_arena *arena = br_call_arena(call);
	br_err err = BR_ERR_INIT;
	const char **types = NULL;
	int64_t dropped = 0;

	if (br_db_begin(ls->db, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	int rc = br_lease_check(ls, ns, req->id, &err);
	if (rc == 0)
		rc = canonical_types(ls, &req->resources, arena, &types, &err);
	if (rc == 0)
		rc = drop_all(ls, ns, req->id, &req->resources, types, &dropped, &err);
	if (!in_tx(ls, call, rc, &err))
		return;
	if (dropped > 0)
		released(ls);
	br_call_reply(call, NULL, NULL);
}

/* Append " AND EXISTS (label i matches)" for each label of the filter. */
static char *
list_sql(const struct br_lease_list_req *req, bool after)
{
	char *sql = xasprintf("SELECT namespace, id, created_at, expire_at FROM leases l"
	                      " WHERE (expire_at = 0 OR expire_at > ?1)%s%s",
	                      req->all_namespaces ? "" : " AND namespace = ?2",
	                      after ? " AND (namespace, id) > (?3, ?4)" : "");
	for (size_t i = 0; i < req->labels.n; i++) {
		char *next = xasprintf("%s AND EXISTS (SELECT 1 FROM lease_labels b WHERE"
		                       " b.namespace = l.namespace AND b.lease = l.id AND"
		                       " b.key = ?%zu AND b.value = ?%zu)",
		                       sql, 5 + 2 * i, 6 + 2 * i);
		free(sql);
		sql = next;
	}
	char *out = xasprintf("%s ORDER BY namespace, id LIMIT ?%zu", sql, 5 + 2 * req->labels.n);
	free(sql);
	return out;
}

static void
handle_list(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_list_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	uint32_t size = br_page_size(&req->page);
	struct br_lease_list_resp out = {0};
	const char *after_ns = NULL, *after_id = NULL;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	size_t labels = 0;
	int rc;

	if (req->page.token != NULL && req->page.token[0] != '\0' &&
	    untoken2(req->page.token, arena, &after_ns, &after_id, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	_cleanup_free_ char *sql = list_sql(req, after_ns != NULL);
	if (br_db_prepare(ls->db, sql, &st, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	sqlite3_bind_int64(st, 1, br_db_now());
	sqlite3_bind_text(st, 2, br_call_ns(call), -1, SQLITE_STATIC);
	if (after_ns != NULL) {
		sqlite3_bind_text(st, 3, after_ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, after_id, -1, SQLITE_STATIC);
	}
	for (size_t i = 0; i < req->labels.n; i++) {
		sqlite3_bind_text(st, (int)(5 + 2 * i), req->labels.keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, (int)(6 + 2 * i), req->labels.values[i], -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, (int)(5 + 2 * req->labels.n), (int64_t)size + 1);
	struct br_lease *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out.items.n == size || labels >= BR_PAGE_LABELS_MAX) {
			const struct br_lease *last = &items[out.items.n - 1];
			out.next_page_token = token2(arena, last->ns, last->id);
			break;
		}
		struct br_lease *l = &items[out.items.n];
		if (load_lease(ls, br_db_text(st, 0), br_db_text(st, 1),
		               sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3), arena, l,
		               &err) < 0) {
			br_call_fail(call, &err);
			return;
		}
		labels += l->labels.n;
		out.items.n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		br_db_error(ls->db, rc, &err, "list leases");
		br_call_fail(call, &err);
		return;
	}
	out.items.v = items;
	br_call_reply(call, &br_lease_list_resp_schema, &out);
}

static void
handle_resources(br_call *call, void *data)
{
	struct br_lease_store *ls = data;
	const struct br_lease_page_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_arena *arena = br_call_arena(call);
	uint32_t size = br_page_size(&req->page);
	struct br_lease_resources_resp out = {0};
	const char *after_type = "", *after_key = "";
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	int rc = lease_live(ls, ns, req->id, &err);

	if (rc == 0)
		rc = not_found(&err, req->id);
	if (rc >= 0 && req->page.token != NULL && req->page.token[0] != '\0')
		rc = untoken2(req->page.token, arena, &after_type, &after_key, &err);
	if (rc >= 0)
		rc = br_db_prepare(ls->db,
		                   "SELECT type, key FROM lease_resources WHERE namespace = ?"
		                   " AND lease = ? AND (type, key) > (?, ?) ORDER BY type, key"
		                   " LIMIT ?",
		                   &st, &err);
	if (rc < 0) {
		br_call_fail(call, &err);
		return;
	}
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, req->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, after_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, after_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)size + 1);
	struct br_lease_resource *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out.items.n == size) {
			const struct br_lease_resource *last = &items[out.items.n - 1];
			out.next_page_token = token2(arena, last->type, last->key);
			break;
		}
		items[out.items.n].type = br_arena_strdup(arena, br_db_text(st, 0));
		items[out.items.n].key = br_arena_strdup(arena, br_db_text(st, 1));
		out.items.n++;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		br_db_error(ls->db, rc, &err, "lease \"%s\": list resources", req->id);
		br_call_fail(call, &err);
		return;
	}
	out.items.v = items;
	br_call_reply(call, &br_lease_resources_resp_schema, &out);
}

/* ---- life cycle ---- */

static const struct {
	const char *verb;
	const struct br_schema *params;
	br_handler_fn fn;
} verbs[N_METHODS] = {
        {"create", &br_lease_create_req_schema, handle_create},
        {"put", &br_lease_put_req_schema, handle_put},
        {"get", &br_lease_id_req_schema, handle_get},
        {"delete", &br_lease_id_req_schema, handle_delete},
        {"list", &br_lease_list_req_schema, handle_list},
        {"add", &br_lease_resources_req_schema, handle_add},
        {"remove", &br_lease_resources_req_schema, handle_remove},
        {"resources", &br_lease_page_req_schema, handle_resources},
};

int
br_lease_store_new(uv_loop_t *uv, sqlite3 *db, const char *daemon, const char *service,
                   const struct br_lease_store_ops *ops, void *data, struct br_lease_store **ret,
                   br_err *err)
{
	struct br_lease_store *ls = xnew(struct br_lease_store);

	ls->db = db;
	ls->daemon = daemon;
	ls->ops = ops;
	ls->data = data;
	for (size_t i = 0; i < N_METHODS; i++) {
		ls->names[i] = xasprintf("%s.leases.%s", service, verbs[i].verb);
		ls->methods[i] = (struct br_method){ls->names[i], verbs[i].params, verbs[i].fn};
	}
	ls->timer = xnew(uv_timer_t);
	uv_timer_init(uv, ls->timer);
	ls->timer->data = ls;
	arm_expiry(ls);
	*ret = ls;
	(void)err;
	return 0;
}

static void
timer_closed(uv_handle_t *h)
{
	free(h);
}

void
br_lease_store_free(struct br_lease_store *ls)
{
	if (ls == NULL)
		return;
	uv_timer_stop(ls->timer);
	uv_close((uv_handle_t *)ls->timer, timer_closed);
	for (size_t i = 0; i < N_METHODS; i++)
		free(ls->names[i]);
	free(ls);
}

void
br_lease_store_set_outbox(struct br_lease_store *ls, struct br_outbox *ob)
{
	ls->outbox = ob;
}

void
br_lease_store_methods(struct br_lease_store *ls, const struct br_method **ret, size_t *ret_n)
{
	*ret = ls->methods;
	*ret_n = N_METHODS;
}
