/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leases as a store keeps them (berth-contentd, berth-snapshotd): the lease tables in the
 * store's own database and the handlers of P.leases.* (common/proto/leases.h, docs/leases.md).
 *
 * A lease is (namespace, id) with a creation time, an optional expiry (wall-clock ms; 0:
 * never), labels, and a set of (type, key) references to the store's resources. A store keeps
 * what unexpired leases reference (and whatever that needs, such as a snapshot's parents) and
 * collects the rest; this module keeps the references, the store decides what they mean.
 *
 * Tables (created by BR_LEASE_SCHEMA_SQL, which the store puts in its own migrations):
 *
 *   leases(namespace, id, created_at, expire_at)          PRIMARY KEY (namespace, id)
 *   lease_labels(namespace, lease, key, value)
 *   lease_resources(namespace, lease, type, key)          indexed by (type, key)
 *
 * so a store's collection can ask in SQL what is held: after br_lease_expire(), every row of
 * lease_resources belongs to an unexpired lease, and `key IN (SELECT key FROM lease_resources
 * WHERE type = ?)` is the set of roots of one type.
 *
 * Events: a lease that comes to exist (create, a put of an unknown or expired id) emits
 * /leases/create, one that goes (delete, br_lease_expire, an expired one replaced) emits
 * /leases/delete, in the lease's namespace and in the transaction of the change
 * (br_event_add; payloads in common/proto/leases.h). The store's migrations must therefore
 * include the outbox table (BR_OUTBOX_SCHEMA_SQL), and the store hands its outbox over with
 * br_lease_store_set_outbox() so that the events leave after each commit.
 *
 * Threading: the lease store belongs to the daemon's loop thread, like its database.
 */
#ifndef BR_COMMON_LEASE_H
#define BR_COMMON_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/leases.h"
#include "common/rpc.h"

#define BR_LEASE_SCHEMA_SQL                                                                    \
	"CREATE TABLE leases ("                                                                \
	"  namespace TEXT NOT NULL,"                                                           \
	"  id TEXT NOT NULL,"                                                                  \
	"  created_at INTEGER NOT NULL,"                                                       \
	"  expire_at INTEGER NOT NULL DEFAULT 0,"                                              \
	"  PRIMARY KEY (namespace, id)) WITHOUT ROWID;"                                        \
	"CREATE INDEX leases_expire ON leases (expire_at) WHERE expire_at > 0;"                \
	"CREATE TABLE lease_labels ("                                                          \
	"  namespace TEXT NOT NULL,"                                                           \
	"  lease TEXT NOT NULL,"                                                               \
	"  key TEXT NOT NULL,"                                                                 \
	"  value TEXT NOT NULL,"                                                               \
	"  PRIMARY KEY (namespace, lease, key),"                                               \
	"  FOREIGN KEY (namespace, lease) REFERENCES leases (namespace, id) ON DELETE CASCADE" \
	") WITHOUT ROWID;"                                                                     \
	"CREATE TABLE lease_resources ("                                                       \
	"  namespace TEXT NOT NULL,"                                                           \
	"  lease TEXT NOT NULL,"                                                               \
	"  type TEXT NOT NULL,"                                                                \
	"  key TEXT NOT NULL,"                                                                 \
	"  PRIMARY KEY (namespace, lease, type, key),"                                         \
	"  FOREIGN KEY (namespace, lease) REFERENCES leases (namespace, id) ON DELETE CASCADE" \
	") WITHOUT ROWID;"                                                                     \
	"CREATE INDEX lease_resources_key ON lease_resources (type, key);"

/* Resources one lease may hold; more is RESOURCE_EXHAUSTED. */
#define BR_LEASE_MAX_RESOURCES 100000

struct br_lease_store;
struct br_outbox;

/* What the store contributes; called on the loop thread. */
struct br_lease_store_ops {
	/*
	 * Check a resource named in a request and return its canonical type: a static string,
	 * or one in `arena` ("snapshots" -> "snapshots/overlayfs"). NULL with INVALID_ARGUMENT
	 * naming what is wrong (an unknown type, a key that cannot name such a resource).
	 */
	const char *(*canonical_type)(void *data, const struct br_lease_resource *r,
	                              br_arena *arena, br_err *err);
	/* Whether the resource (canonical type) exists now in namespace `ns`. */
	int (*exists)(void *data, const char *ns, const char *type, const char *key, bool *ret,
	              br_err *err);
	/* References went, so what they held may be collectable: called once per change, after
	 * it is committed, when a lease that held something was deleted, a lease expired, or a
	 * put with `replace` or a remove let go of something the lease held. Never from inside
	 * a transaction, and not for what changed nothing (a put of the set already held) or
	 * for br_lease_move(). May be NULL. */
	void (*released)(void *data);
};

/*
 * A lease store on `db` (whose schema includes BR_LEASE_SCHEMA_SQL and the outbox table) of
 * the daemon `daemon` ("contentd", named in its events; static), serving
 * "<service>.leases.*" (service: "content", "snapshots"). `ops` and `data` must outlive it.
 * A timer on `uv` calls ops->released when the earliest lease expires. Loop thread.
 */
int br_lease_store_new(uv_loop_t *uv, sqlite3 *db, const char *daemon, const char *service,
                       const struct br_lease_store_ops *ops, void *data,
                       struct br_lease_store **ret, br_err *err);
/* The outbox kicked after a commit that added events (NULL: none; they wait in the table for
 * the next outbox). It must outlive the store or be unset first. Loop thread. */
void br_lease_store_set_outbox(struct br_lease_store *ls, struct br_outbox *ob);
/* Stop the timer and free the store (the close completes on the loop). Accepts NULL. */
void br_lease_store_free(struct br_lease_store *ls);

/* The P.leases.* method table; its handlers take the lease store as their data:
 * br_daemon_add_methods(d, methods, n, ls). Valid as long as the store. */
void br_lease_store_methods(struct br_lease_store *ls, const struct br_method **ret, size_t *ret_n);

/*
 * For a request whose envelope names lease `id`: NOT_FOUND ("lease \"x\": not found") unless
 * it exists in `ns` and has not expired. Call before doing any work for the request.
 */
int br_lease_check(struct br_lease_store *ls, const char *ns, const char *id, br_err *err);

/* Add one reference (canonical type) to lease `id` of `ns`, which must exist (NOT_FOUND).
 * Holding what is held already is a no-op. Runs inside the caller's transaction if one is
 * open, else in its own statement. */
int br_lease_hold(struct br_lease_store *ls, const char *ns, const char *id, const char *type,
                  const char *key, br_err *err);

/*
 * Move lease `id` of `ns` from `from` to `to` (canonical types): afterwards it holds `to` and
 * no longer `from` (which it need not have held). For a resource that has just become another
 * (contentd: an ingest committed into its blob), so nothing is released and ops->released is
 * not called. The lease must exist (NOT_FOUND, and nothing changed). Inside the caller's
 * transaction if one is open, else in one of its own.
 */
int br_lease_move(struct br_lease_store *ls, const char *ns, const char *id,
                  const struct br_lease_resource *from, const struct br_lease_resource *to,
                  br_err *err);

/* Delete every lease whose expiry has passed (their references go with them), each
 * announced by /leases/delete with `expired`. Inside the caller's transaction if one is open,
 * else in one of its own (and the outbox is kicked after it). The number deleted goes to
 * *ret_n (may be NULL). Called by the store's collection before it asks what is held. */
int br_lease_expire(struct br_lease_store *ls, int64_t *ret_n, br_err *err);

/* Leases of namespace `ns`, expired or not (for daemon.namespace). */
int br_lease_count(struct br_lease_store *ls, const char *ns, int64_t *ret, br_err *err);

#endif
