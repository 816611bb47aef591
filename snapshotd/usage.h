/* SPDX-License-Identifier: Apache-2.0 */
/*
 * snapshots.usage: the disk usage of one snapshot's own directory, or totals over the whole
 * store (common/proto/snapshots.h, struct br_snap_usage_resp). Measuring walks directories,
 * which may take long, so it runs in three steps like a create: begin on the owning thread
 * (what to measure), work on any one thread (br_disk_usage_at), end on the owning thread
 * (remember the figures of committed snapshots, which never change, and sum).
 */
#ifndef BR_SNAPSHOTD_USAGE_H
#define BR_SNAPSHOTD_USAGE_H

#include <stdbool.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/snapshots.h"
#include "snapshotd/store.h"

struct snapshotd_usage;

/*
 * Step 1, owning thread: with req->key, the snapshot (ns, req->snapshotter, key), which must
 * exist (NOT_FOUND) and not be being created (UNAVAILABLE); without, every snapshot of the
 * store, each marked reclaimable or not by the collection's keep set (SNAPSHOTD_KEEP_CTE).
 * NOT_IMPLEMENTED for an unknown snapshotter. Free the result with snapshotd_usage_end().
 */
int snapshotd_usage_begin(struct snapshotd_store *s, const char *ns,
                          const struct br_snap_usage_req *req, struct snapshotd_usage **ret,
                          br_err *err);
/* True if step 2 has directories to walk (run it on a worker). */
bool snapshotd_usage_blocks(const struct snapshotd_usage *u);
/* Step 2, any one thread: walk what has no known figures. Never fails itself. */
void snapshotd_usage_work(struct snapshotd_usage *u);
/* Step 3, owning thread: record the figures of committed snapshots and answer in `arena`.
 * With a key, the walk's error (NOT_FOUND if the directory went meanwhile); totals skip a
 * snapshot that could not be measured. Frees `u`. */
int snapshotd_usage_end(struct snapshotd_store *s, struct snapshotd_usage *u, br_arena *arena,
                        struct br_snap_usage_resp *ret, br_err *err);
/* The three steps inline (tests). */
int snapshotd_usage(struct snapshotd_store *s, const char *ns, const struct br_snap_usage_req *req,
                    br_arena *arena, struct br_snap_usage_resp *ret, br_err *err);

#endif
