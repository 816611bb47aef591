/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Owned leases (lease_owner.h). Reconciliation lists, for each store, the leases labelled with
 * this owner (every namespace, page by page, asynchronously), deletes through the outbox the
 * never-expiring ones the owned_leases table does not name, then queues a put of every row of
 * the table for that store. A store that does not answer is asked again a second later.
 */
#include "common/lease_owner.h"

#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/xalloc.h"

#define RETRY_MS 1000
#define LIST_TIMEOUT_MS 10000

struct store_pass {
	struct br_lease_reconcile *r;
	size_t store;
	char *token; /* next page, NULL for the first */
	br_arena *arena;
	uv_timer_t *timer; /* retry; freed in its close callback */
	bool done;
	unsigned deleted, restored;
};

struct br_lease_reconcile {
	struct br_lease_owner *o;
	struct store_pass passes[BR_LEASE_OWNER_MAX_STORES];
	int refs; /* calls in flight + timers not closed + 1 while running */
	bool stopping;
};

const char *
br_lease_method(br_arena *arena, const char *service, const char *verb)
{
	return br_arena_printf(arena, "%s.leases.%s", service, verb);
}

static const struct br_lease_store_peer *
store_of(struct br_lease_owner *o, const char *daemon)
{
	for (size_t i = 0; i < o->n_stores; i++)
		if (strcmp(o->stores[i].daemon, daemon) == 0)
			return &o->stores[i];
	return NULL;
}

int
br_lease_owner_put(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                   const struct br_strmap *labels, const struct br_objlist *resources, br_err *err)
{
	const struct br_lease_store_peer *s = store_of(o, daemon);
	size_t n = labels != NULL ? labels->n : 0;
	const char *keys[1 + BR_LABELS_MAX], *values[1 + BR_LABELS_MAX];
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (s == NULL)
		return br_err_set(err, BR_INTERNAL, "lease %s: no store %s", id, daemon);
	if (n >= BR_LABELS_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT, "lease %s: more than %d labels", id,
		                  BR_LABELS_MAX - 1);
	keys[0] = BR_LEASE_LABEL_OWNER;
	values[0] = o->owner;
	for (size_t i = 0; i < n; i++) {
		keys[1 + i] = labels->keys[i];
		values[1 + i] = labels->values[i];
	}
	struct br_lease_put_req put = {
	        .id = id,
	        .labels = {keys, values, n + 1},
	        .resources = *resources,
	        .replace = true,
	};
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, &br_lease_put_req_schema, &put);
	br_arena *arena = br_arena_new();
	int rc = br_db_prepare(o->db,
	                       "INSERT OR REPLACE INTO owned_leases (target, namespace, id, put)"
	                       " VALUES (?, ?, ?, ?)",
	                       &st, err);
	if (rc == 0) {
		sqlite3_bind_text(st, 1, daemon, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 4, sb.data, (int)sb.size, SQLITE_STATIC);
		rc = br_db_step_done(o->db, st, err, "record lease %s", id);
	}
	if (rc == 0)
		rc = br_outbox_add_raw(o->db, daemon, br_lease_method(arena, s->service, "put"), ns,
		                       sb.data, sb.size, err);
	br_arena_free(arena);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

int
br_lease_owner_has(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                   bool *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(
	            o->db,
	            "SELECT 1 FROM owned_leases WHERE target = ? AND namespace = ? AND id = ?", &st,
	            err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, daemon, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return br_db_error(o->db, rc, err, "lease %s", id);
	*ret = rc == SQLITE_ROW;
	return 0;
}

int
br_lease_owner_drop(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                    br_err *err)
{
	const struct br_lease_store_peer *s = store_of(o, daemon);
	struct br_lease_id_req del = {.id = id};

	if (s == NULL)
		return br_err_set(err, BR_INTERNAL, "lease %s: no store %s", id, daemon);
	br_arena *arena = br_arena_new();
	int rc = br_outbox_add(o->db, daemon, br_lease_method(arena, s->service, "delete"), ns,
	                       &br_lease_id_req_schema, &del, err);
	br_arena_free(arena);
	return rc;
}

int
br_lease_owner_delete(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                      br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(o->db,
	                  "DELETE FROM owned_leases WHERE target = ? AND namespace = ? AND id = ?",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, daemon, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	if (br_db_step_done(o->db, st, err, "forget lease %s", id) < 0)
		return -1;
	return br_lease_owner_drop(o, daemon, ns, id, err);
}

int
br_lease_put_sync(br_rpc_client *client, const char *service, const char *ns,
                  const struct br_lease_put_req *put, br_arena *arena,
                  struct br_lease_missing_resp *ret_missing, br_err *err)
{
	struct br_call_opts opts = {.ns = ns, .timeout_ms = LIST_TIMEOUT_MS};
	struct br_lease_missing_resp resp = {0};

	if (br_rpc_call(client, &opts, br_lease_method(arena, service, "put"),
	                &br_lease_put_req_schema, put, &br_lease_missing_resp_schema, &resp, arena,
	                err) < 0)
		return br_err_wrap(err, "lease %s", put->id);
	if (ret_missing != NULL)
		*ret_missing = resp;
	return 0;
}

/* ------------------------------------------------------------------ reconciliation */

static void reconcile_unref(struct br_lease_reconcile *r);
static void list_page(struct store_pass *p);

static bool
owned(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id)
{
	br_err err = BR_ERR_INIT;
	bool has = true;

	if (br_lease_owner_has(o, daemon, ns, id, &has, &err) < 0)
		return true; /* in doubt, keep */
	return has;
}

/* Queue a put of every owned lease of the pass's store. */
static void
restore_all(struct store_pass *p)
{
	struct br_lease_owner *o = p->r->o;
	const struct br_lease_store_peer *s = &o->stores[p->store];
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	br_arena *arena = br_arena_new();
	const char *method = br_lease_method(arena, s->service, "put");
	int rc;

	if (br_db_begin(o->db, &err) < 0 ||
	    br_db_prepare(o->db, "SELECT namespace, put FROM owned_leases WHERE target = ?", &st,
	                  &err) < 0)
		goto out;
	sqlite3_bind_text(st, 1, s->daemon, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (br_outbox_add_raw(o->db, s->daemon, method, br_db_text(st, 0),
		                      sqlite3_column_blob(st, 1),
		                      (size_t)sqlite3_column_bytes(st, 1), &err) < 0)
			goto out;
		p->restored++;
	}
	if (rc != SQLITE_DONE) {
		br_db_error(o->db, rc, &err, "owned leases");
		goto out;
	}
	sqlite3_finalize(br_steal_ptr(&st));
	br_db_commit(o->db, &err);
out:
	if (err.code != BR_OK) {
		br_db_rollback(o->db);
		br_log_warn("LEASE-RECONCILE", "%s: %s", s->daemon, err.msg);
	}
	br_arena_free(arena);
	br_outbox_kick(o->outbox);
}

static void
pass_finish(struct store_pass *p)
{
	const struct br_lease_store_peer *s = &p->r->o->stores[p->store];

	restore_all(p);
	p->done = true;
	br_log_info("LEASE-RECONCILE",
	            "%s: %u leases put again, %u leases without a record deleted", s->daemon,
	            p->restored, p->deleted);
}

static void
retry_fired(uv_timer_t *t)
{
	struct store_pass *p = t->data;

	list_page(p);
}

static void
listed(void *data, const br_err *err, void *result)
{
	struct store_pass *p = data;
	struct br_lease_reconcile *r = p->r;
	struct br_lease_owner *o = r->o;
	const struct br_lease_list_resp *resp = result;
	br_err qerr = BR_ERR_INIT;

	if (r->stopping) {
		reconcile_unref(r);
		return;
	}
	if (err != NULL) {
		if (err->code != BR_UNAVAILABLE && err->code != BR_DEADLINE_EXCEEDED)
			br_log_warn("LEASE-RECONCILE", "%s: %s", o->stores[p->store].daemon,
			            err->msg);
		uv_timer_start(p->timer, retry_fired, RETRY_MS, 0);
		reconcile_unref(r);
		return;
	}
	const struct br_lease *items = resp->items.v;
	bool began = br_db_begin(o->db, &qerr) == 0;
	for (size_t i = 0; began && i < resp->items.n; i++) {
		const char *daemon = o->stores[p->store].daemon;
		if (items[i].expire_at != 0 || owned(o, daemon, items[i].ns, items[i].id))
			continue;
		if (br_lease_owner_drop(o, daemon, items[i].ns, items[i].id, &qerr) < 0)
			break;
		p->deleted++;
	}
	if (began && qerr.code == BR_OK)
		br_db_commit(o->db, &qerr);
	if (qerr.code != BR_OK) {
		br_db_rollback(o->db);
		br_log_warn("LEASE-RECONCILE", "%s", qerr.msg);
	}
	br_outbox_kick(o->outbox);
	free(p->token);
	p->token = resp->next_page_token != NULL && resp->next_page_token[0]
	                   ? xstrdup(resp->next_page_token)
	                   : NULL;
	if (p->token != NULL)
		list_page(p);
	else
		pass_finish(p);
	reconcile_unref(r);
}

static void
list_page(struct store_pass *p)
{
	struct br_lease_reconcile *r = p->r;
	struct br_lease_owner *o = r->o;
	const struct br_lease_store_peer *s = &o->stores[p->store];
	const char *keys[] = {BR_LEASE_LABEL_OWNER};
	const char *values[] = {o->owner};
	struct br_lease_list_req req = {
	        .page = {.size = BR_PAGE_MAX, .token = p->token},
	        .all_namespaces = true,
	        .labels = {keys, values, 1},
	};
	struct br_call_opts opts = {.timeout_ms = LIST_TIMEOUT_MS};

	if (r->stopping)
		return;
	br_arena_free(p->arena);
	p->arena = br_arena_new();
	r->refs++;
	br_rpc_call_async(s->client, o->loop, &opts, br_lease_method(p->arena, s->service, "list"),
	                  &br_lease_list_req_schema, &req, &br_lease_list_resp_schema, p->arena,
	                  listed, p);
}

static void
timer_closed(uv_handle_t *h)
{
	struct store_pass *p = h->data;

	free(h);
	reconcile_unref(p->r);
}

static void
reconcile_unref(struct br_lease_reconcile *r)
{
	if (--r->refs > 0)
		return;
	for (size_t i = 0; i < BR_LEASE_OWNER_MAX_STORES; i++) {
		free(r->passes[i].token);
		br_arena_free(r->passes[i].arena);
	}
	free(r);
}

void
br_lease_owner_reconcile(struct br_lease_owner *o)
{
	struct br_lease_reconcile *r = xnew(struct br_lease_reconcile);

	r->o = o;
	r->refs = 1;
	o->reconcile = r;
	for (size_t i = 0; i < o->n_stores; i++) {
		struct store_pass *p = &r->passes[i];
		p->r = r;
		p->store = i;
		p->timer = xnew(uv_timer_t);
		uv_timer_init(o->loop->uv, p->timer);
		p->timer->data = p;
		r->refs++; /* the timer */
		list_page(p);
	}
}

void
br_lease_owner_fini(struct br_lease_owner *o)
{
	struct br_lease_reconcile *r = o->reconcile;

	if (r == NULL)
		return;
	o->reconcile = NULL;
	r->stopping = true;
	for (size_t i = 0; i < o->n_stores; i++) {
		uv_timer_stop(r->passes[i].timer);
		uv_close((uv_handle_t *)r->passes[i].timer, timer_closed);
	}
	reconcile_unref(r);
}
