/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The owner side of leases (docs/leases.md, "Owners"): a daemon whose records hold bytes in
 * the stores (imaged: images; taskd: containers) keeps one never-expiring lease per record in
 * each store it uses, and its own database says what those leases must hold.
 *
 * Table (BR_LEASE_OWNER_SCHEMA_SQL, with BR_OUTBOX_SCHEMA_SQL, in the owner's migrations):
 *
 *   owned_leases(target, namespace, id, put)   the last P.leases.put sent, packed
 *
 * br_lease_owner_put() and br_lease_owner_delete() change that table and queue the matching
 * request in the outbox, inside the caller's transaction (the one that writes the record), so
 * the store learns of every change exactly when the record changes; the caller kicks the
 * outbox after its commit. br_lease_owner_reconcile() (at start) makes the stores agree with
 * the table: every owned lease is put again, and every never-expiring lease labelled
 * berth.owner=<owner> that the table does not name is deleted. Expiring leases (jobs) are left
 * to their expiry.
 *
 * Threading: loop thread; `db` is the loop thread's connection.
 */
#ifndef BR_COMMON_LEASE_OWNER_H
#define BR_COMMON_LEASE_OWNER_H

#include <sqlite3.h>

#include "common/err.h"
#include "common/loop.h"
#include "common/outbox.h"
#include "common/proto/leases.h"
#include "common/rpc.h"

#define BR_LEASE_OWNER_SCHEMA_SQL     \
	"CREATE TABLE owned_leases (" \
	"  target TEXT NOT NULL,"     \
	"  namespace TEXT NOT NULL,"  \
	"  id TEXT NOT NULL,"         \
	"  put BLOB NOT NULL,"        \
	"  PRIMARY KEY (target, namespace, id)) WITHOUT ROWID;"

#define BR_LEASE_OWNER_MAX_STORES 2

/* A store that leases live in: the daemon ("contentd"), its service prefix ("content") and a
 * client to it. */
struct br_lease_store_peer {
	const char *daemon;
	const char *service;
	br_rpc_client *client;
};

struct br_lease_owner {
	const char *owner; /* this daemon's name, the value of the berth.owner label */
	struct br_loop *loop;
	sqlite3 *db;
	struct br_outbox *outbox;
	struct br_lease_store_peer stores[BR_LEASE_OWNER_MAX_STORES];
	size_t n_stores;
	/* reconciliation state (lease_owner.c) */
	struct br_lease_reconcile *reconcile;
};

/* "content.leases.put" for service "content", in `arena`. */
const char *br_lease_method(br_arena *arena, const char *service, const char *verb);

/*
 * Record that lease `id` of `ns` in store `daemon` must hold exactly `resources` (struct
 * br_lease_resource), never expire, and carry the labels berth.owner=<owner> plus `labels`
 * (may be NULL), and queue the put. Inside the caller's transaction.
 */
int br_lease_owner_put(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                       const struct br_strmap *labels, const struct br_objlist *resources,
                       br_err *err);

/* Whether lease `id` of `ns` in store `daemon` is recorded. */
int br_lease_owner_has(struct br_lease_owner *o, const char *daemon, const char *ns, const char *id,
                       bool *ret, br_err *err);

/* Forget lease `id` of `ns` in store `daemon` and queue its deletion (also when it was never
 * recorded: the store may have it from a put that crossed a crash). Inside the caller's
 * transaction. */
int br_lease_owner_delete(struct br_lease_owner *o, const char *daemon, const char *ns,
                          const char *id, br_err *err);

/* Queue the deletion of lease `id` in store `daemon` without a record (an expiring lease of
 * the owner's, such as a job's). Inside the caller's transaction. */
int br_lease_owner_drop(struct br_lease_owner *o, const char *daemon, const char *ns,
                        const char *id, br_err *err);

/* Start reconciling the stores with owned_leases, in the background: each store is listed
 * as soon as it answers (retried every second while it is down). Loop thread. */
void br_lease_owner_reconcile(struct br_lease_owner *o);

/* Stop a reconciliation in progress (before the clients are freed). */
void br_lease_owner_fini(struct br_lease_owner *o);

/*
 * Synchronous put for a thread that is not the loop (a job, a worker): create or update lease
 * `put->id` of `ns` in the store behind `client`/`service`. `ret_missing` (may be NULL)
 * receives the resources that do not exist, in `arena`.
 */
int br_lease_put_sync(br_rpc_client *client, const char *service, const char *ns,
                      const struct br_lease_put_req *put, br_arena *arena,
                      struct br_lease_missing_resp *ret_missing, br_err *err);

#endif
