/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection of berth-snapshotd (docs/leases.md): expired leases are deleted; every
 * snapshot that is neither held by an unexpired lease, nor an ancestor of a held one, nor
 * being created is removed, children before parents, in batches whose rows go in one
 * transaction before their directories go on a worker; then directories without a row are
 * removed. When collections run is common/gc.c's business (after releases, on an interval,
 * on demand).
 *
 * Threading: loop thread; directory work runs on libuv's worker pool.
 */
#ifndef BR_SNAPSHOTD_GC_H
#define BR_SNAPSHOTD_GC_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/gc.h"
#include "snapshotd/store.h"

/* Snapshots removed per step; a step is one short transaction on the loop. */
#define SNAPSHOTD_GC_BATCH 256

struct snapshotd_gc;

/*
 * The collector of store `s` on loop `uv`: a collection `delay_ms` after references went
 * (snapshotd_gc_released), every `interval_ms` (0: never) and on demand (br_gc_now or
 * br_gc_handle on snapshotd_gc_scheduler()). `s` must outlive it; free it with
 * snapshotd_gc_free(). Never fails. Loop thread.
 */
struct snapshotd_gc *snapshotd_gc_new(struct snapshotd_store *s, uv_loop_t *uv, int64_t delay_ms,
                                      int64_t interval_ms);

/* The scheduler (for br_gc_now, and as br_gc_handle's data). Owned by `g`. */
struct br_gc *snapshotd_gc_scheduler(struct snapshotd_gc *g);

/* References went (`data` is the struct snapshotd_gc): the released hook to give to
 * snapshotd_store_open_leases(). Loop thread. */
void snapshotd_gc_released(void *data);

/* Start no new collection; a running one stops at its next step (its directory work on a
 * worker finishes first). Loop thread. */
void snapshotd_gc_stop(struct snapshotd_gc *g);

/* True while a collection runs (a step pending, or work on a worker). Loop thread. */
bool snapshotd_gc_running(const struct snapshotd_gc *g);

/* Free the collector once nothing runs (snapshotd_gc_stop, then run the loop until
 * snapshotd_gc_running() is false); its timers finish closing on the loop. Accepts NULL.
 * Loop thread. */
void snapshotd_gc_free(struct snapshotd_gc *g);

#endif
