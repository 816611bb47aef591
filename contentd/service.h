/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content.* RPC methods of berth-contentd, on top of the store (store.h). Handlers run on
 * the loop thread; the blocking part of content.write (re-hashing, appending a chunk,
 * fsync and rename on commit) runs on libuv's worker pool.
 */
#ifndef BR_CONTENTD_SERVICE_H
#define BR_CONTENTD_SERVICE_H

#include <msgpack.h>
#include <uv.h>

#include "common/rpc.h"
#include "contentd/store.h"

struct contentd_service {
	struct contentd_store *store;
	uv_loop_t *uv;
	unsigned inflight; /* writes queued on workers */
};

extern const struct br_method contentd_methods[];
extern const size_t contentd_n_methods;

/* daemon.health detail: "ingests", the number of ingests in progress, and "gc_runs", the
 * collections finished since start. `data` is the service. Loop thread. */
void contentd_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs);

/* daemon.namespace: "N leases" when namespace `ns` has any (expired ones not yet collected
 * count too), in `arena`; nothing otherwise. `data` is the service. Errors: the database's.
 * Loop thread. */
int contentd_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
                      br_err *err);

/* Stop the collection scheduler, let a running collection finish its current step and end,
 * and run the loop until every write handed to a worker has finished (their calls, orphaned
 * by the server's shutdown, are freed). Call after the server is gone, before freeing the
 * store. Loop thread, outside loop callbacks. */
void contentd_service_drain(struct contentd_service *svc);

/* The daemon's metrics hook (struct br_daemon.metrics; data: the service): blobs stored and
 * their bytes, ingests in progress and the collections' figures (docs/metrics.md). Loop
 * thread. */
struct br_metrics;
void contentd_metrics(void *data, struct br_metrics *m);

#endif
