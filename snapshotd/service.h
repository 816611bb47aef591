/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshots.* RPC methods of berth-snapshotd, on top of the store (store.h). Handlers run
 * on the loop thread; copying a tree (native backend) and deleting a snapshot directory run on
 * libuv's worker pool. Every method is scoped by the request's namespace.
 */
#ifndef BR_SNAPSHOTD_SERVICE_H
#define BR_SNAPSHOTD_SERVICE_H

#include <uv.h>

#include "common/rpc.h"
#include "snapshotd/gc.h"
#include "snapshotd/store.h"

struct snapshotd_service {
	struct snapshotd_store *store;
	struct snapshotd_gc *gc; /* NULL: snapshots.gc answers UNAVAILABLE */
	uv_loop_t *uv;
	unsigned inflight; /* creates, removals and usage walks queued on workers */
};

extern const struct br_method snapshotd_methods[];
extern const size_t snapshotd_n_methods;

/* The daemon.namespace hook (struct br_daemon.ns_usage; data: the service): "N snapshots"
 * and "N leases" for what `ns` holds here, in `arena`; nothing when it holds nothing.
 * Database errors. Loop thread. */
int snapshotd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
                       br_err *err);

/* The daemon's on_stop hook (data: the service): no new collection starts. Loop thread. */
void snapshotd_service_stop(void *data);

/* Stop the collection and run the loop until it and every job handed to a worker have
 * finished. Call after the server is gone, before freeing the collector and the store.
 * Loop thread. */
void snapshotd_service_drain(struct snapshotd_service *svc);

/* The daemon's metrics hook (struct br_daemon.metrics; data: the service): snapshots by
 * kind, the bytes measured so far and the collections' figures (docs/metrics.md). Loop
 * thread. */
struct br_metrics;
void snapshotd_metrics(void *data, struct br_metrics *m);

#endif
