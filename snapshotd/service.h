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
#include "snapshotd/store.h"

struct snapshotd_service {
	struct snapshotd_store *store;
	uv_loop_t *uv;
	unsigned inflight; /* creates and removals queued on workers */
};

extern const struct br_method snapshotd_methods[];
extern const size_t snapshotd_n_methods;

/* Run the loop until every job handed to a worker has finished. Call after the server is
 * gone, before freeing the store. Loop thread. */
void snapshotd_service_drain(struct snapshotd_service *svc);

#endif
