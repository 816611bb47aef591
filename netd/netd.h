/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-netd internals: network drivers (one per mode), the attachment store and the service
 * state. Drivers do blocking work (forks, mounts, file writes) and run on libuv workers; the
 * store and the service run on the loop thread.
 */
#ifndef BR_NETD_NETD_H
#define BR_NETD_NETD_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/proto/networks.h"
#include "common/rpc.h"

/* What a driver made for one container; heap strings owned by the struct. */
struct netd_paths {
	char *netns_path; /* "" for host */
	char *hosts_path;
	char *resolv_path;
};

void netd_paths_fini(struct netd_paths *p);

/* A network mode. attach and detach run on a worker thread and must be idempotent: attach
 * over a half-made attachment completes it, detach of what is gone succeeds. */
struct netd_driver {
	const char *name;
	int (*attach)(const char *state_dir, const char *ns, const char *id, const char *hostname,
	              struct netd_paths *ret, br_err *err);
	int (*detach)(const char *state_dir, const char *ns, const char *id, br_err *err);
	/* True if the runtime part of an attachment still exists (e.g. the netns mount). */
	int (*alive)(const char *state_dir, const char *ns, const char *id);
};

/* The driver named `mode`, or NULL. */
const struct netd_driver *netd_driver_find(const char *mode);

/* Store: one row per attachment, keyed by (namespace, id). Loop thread. A put or delete
 * emits its event (/networks/connect, /networks/disconnect) in the transaction that changes
 * the row; the caller kicks the outbox after it returns. */
int netd_store_open(const char *data_dir, sqlite3 **ret, br_err *err);
/* Fill `ret` (strings in `arena`); NOT_FOUND if absent. */
int netd_store_get(sqlite3 *db, const char *ns, const char *id, br_arena *arena,
                   struct br_net_attachment *ret, br_err *err);
int netd_store_put(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err);
/* Delete the row of `a` (the attachment as recorded, which the event names). */
int netd_store_delete(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err);
/* Every attachment of namespace `ns` (NULL: all namespaces; then ret_ns gets each row's ns). */
int netd_store_list(sqlite3 *db, const char *ns, br_arena *arena, struct br_objlist *ret,
                    const char ***ret_ns, br_err *err);

struct br_outbox;

struct netd_service {
	uv_loop_t *uv;
	sqlite3 *db;
	struct br_outbox *outbox; /* events for gatewayd */
	const char *state_dir;
	const char *default_mode;
};

extern const struct br_method netd_methods[];
extern const size_t netd_n_methods;

/* Reconcile the store with the runtime state after a crash or a reboot: attachments whose
 * runtime part vanished are re-made; netns files without a record are removed. Start-up, on
 * the loop thread before serving (it blocks briefly). */
void netd_reconcile(struct netd_service *svc);

/* The daemon's metrics hook (struct br_daemon.metrics; data: the service): attachments by
 * network mode (docs/metrics.md). Loop thread. */
struct br_metrics;
void netd_metrics(void *data, struct br_metrics *m);

#endif
