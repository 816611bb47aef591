/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Snapshot backends ("snapshotters"): how a snapshot's files are laid out and how it is
 * mounted. The metadata (keys, parents, kinds, labels, namespaces) is the same for every
 * backend and lives in store.c; a backend only ever sees numeric snapshot ids, each with its
 * own directory <root>/snapshotd/<backend name>/<id>/. Backends are a table of function
 * pointers registered by name in snapshotd_backends[]:
 *
 *   "overlayfs"  <id>/fs and <id>/work; an active snapshot on parents is an overlay whose
 *                upperdir is its own fs; nothing is copied (overlay.c)
 *   "native"     <id>/fs is a full copy of the parent's tree (cp -a); every mount is a bind
 *                mount; works on any filesystem (native.c)
 *
 * snapshotd never mounts anything itself: `mounts` describes what callers mount.
 */
#ifndef BR_SNAPSHOTD_BACKEND_H
#define BR_SNAPSHOTD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/snapshots.h"

enum snapshotd_kind {
	SNAPSHOTD_ACTIVE = 0,
	SNAPSHOTD_VIEW,
	SNAPSHOTD_COMMITTED,
};

/* "active" | "view" | "committed" */
const char *snapshotd_kind_name(enum snapshotd_kind kind);

struct snapshotd_backend;

struct snapshotd_backend_ops {
	const char *name;
	/* True when `create` may take long (copies data): the daemon runs it on a worker. */
	bool create_blocks;
	/* True when a snapshot's directory holds its own changes alone (whiteouts included) and
	 * its parents are only stacked under it at mount time: then a snapshot prepared without
	 * a parent can be committed onto one (snapshots.commit with `parent`). */
	bool stacks_parents;
	/* Check that the backend can work in b->root (loop thread, at start). May be NULL. */
	int (*init)(struct snapshotd_backend *b, br_err *err);
	/*
	 * Create the directories of the new snapshot `id` (active or view) whose nearest parent
	 * is `parent_id` (0: none). Touches only <id>/ (and reads the parent's files), so it may
	 * run on any thread. Leaves nothing behind on failure; <id>/fs appears last, so a crash
	 * half-way leaves a directory that `complete` rejects.
	 */
	int (*create)(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
	              int64_t parent_id, br_err *err);
	/*
	 * The mounts of snapshot `id` of `kind` whose ancestors are chain[0..n) (nearest
	 * first), built in `arena`. Pure. RESOURCE_EXHAUSTED when the mount cannot be expressed
	 * (overlay options longer than SNAPSHOTD_OVERLAY_OPTIONS_MAX).
	 */
	int (*mounts)(const struct snapshotd_backend *b, int64_t id, enum snapshotd_kind kind,
	              const int64_t *chain, size_t n, br_arena *arena,
	              struct br_snap_mounts_resp *ret, br_err *err);
	/* True if the directory of `id` is complete (used by reconciliation). */
	bool (*complete)(const struct snapshotd_backend *b, int64_t id);
	/* Remove the directory of `id` (missing is success); refuses to cross mounts. May take
	 * long; any thread. */
	int (*remove)(const struct snapshotd_backend *b, int64_t id, br_err *err);
};

/* A backend opened on its directory. */
struct snapshotd_backend {
	const struct snapshotd_backend_ops *ops;
	char *root;  /* absolute: <root>/snapshotd/<name> */
	int root_fd; /* O_DIRECTORY fd of root */
};

extern const struct snapshotd_backend_ops snapshotd_overlay_ops;
extern const struct snapshotd_backend_ops snapshotd_native_ops;

/* Every backend, NULL-terminated; the first is the default. */
extern const struct snapshotd_backend_ops *const snapshotd_backends[];

/* Longest overlay option string (all options joined with ','), kept below the kernel's limit
 * of one page for mount data with room for what a caller may add. */
#define SNAPSHOTD_OVERLAY_OPTIONS_MAX 4000

/* Shared by the backends: "<root>/<id>/<sub>" in `arena`. */
char *snapshotd_backend_path(const struct snapshotd_backend *b, br_arena *arena, int64_t id,
                             const char *sub);
/* Shared by the backends: remove <root>/<id> without crossing mounts. Any thread. */
int snapshotd_backend_remove_dir(const struct snapshotd_backend *b, int64_t id, br_err *err);
/* A one-mount answer of `type` and `source` with the given options (static strings). */
void snapshotd_backend_one_mount(br_arena *arena, const char *type, const char *source,
                                 const char *const *options, size_t n_options,
                                 struct br_snap_mounts_resp *ret);

#endif
