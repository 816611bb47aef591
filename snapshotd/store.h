/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot store of berth-snapshotd: snapshot records in <root>/snapshotd/meta.db, one
 * directory per snapshot kept by a backend (backend.h), and the operations of the
 * snapshots.* API on top of both.
 *
 * A snapshot is named by a key, unique within its namespace and snapshotter. It is active
 * (writable, created by prepare), a view (read-only, created by view) or committed (created
 * by committing an active snapshot, which renames it to the commit's name). Only committed
 * snapshots can be parents; a snapshot with children cannot be removed.
 *
 * Threading: the store belongs to one thread (the daemon's loop thread). Creating and
 * removing may take long with some backends, so they run in steps: *_begin and *_end on the
 * owning thread, the work (which touches only one snapshot's directory) on any one thread in
 * between. Everything else is quick and owning-thread only.
 */
#ifndef BR_SNAPSHOTD_STORE_H
#define BR_SNAPSHOTD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/snapshots.h"
#include "snapshotd/backend.h"

#define SNAPSHOTD_MAX_BACKENDS 4
#define SNAPSHOTD_MAX_DEPTH 1000 /* parent chains longer than this are treated as corrupt */

struct snapshotd_store {
	char *dir; /* absolute <root>/snapshotd */
	sqlite3 *db;
	struct snapshotd_backend backends[SNAPSHOTD_MAX_BACKENDS];
	size_t n_backends;
	struct snapshotd_backend *default_backend;
	/* Ids of snapshots whose directory is being created: other calls on them wait. */
	int64_t *busy;
	size_t n_busy;
};

/* What snapshotd_store_open() repaired, for the daemon to log. */
struct snapshotd_reconcile_stats {
	unsigned rows_removed;      /* active/view rows whose directory was missing or partial */
	unsigned dirs_removed;      /* directories without a row */
	unsigned dirs_failed;       /* directories that could not be removed (a mount inside) */
	unsigned committed_missing; /* committed rows whose directory is missing (kept) */
	br_err first_failure;       /* why the first of dirs_failed failed */
};

/*
 * Open (creating if needed) the store in `dir` with `default_snapshotter` ("" or NULL:
 * "overlayfs") as the default backend, bring the schema up to date and reconcile rows with
 * directories. INVALID_ARGUMENT for an unknown default. `ret_stats` may be NULL. Free with
 * snapshotd_store_free().
 */
int snapshotd_store_open(const char *dir, const char *default_snapshotter,
                         struct snapshotd_reconcile_stats *ret_stats, struct snapshotd_store **ret,
                         br_err *err);

/* Close the database and free the store. No create or removal may be in flight. Accepts NULL. */
void snapshotd_store_free(struct snapshotd_store *s);

/* The backend named `name` ("" or NULL: the default); NOT_IMPLEMENTED for an unknown name. */
struct snapshotd_backend *snapshotd_backend_get(struct snapshotd_store *s, const char *name,
                                                br_err *err);

/* ---- prepare and view ---- */

struct snapshotd_create;

/*
 * Step 1 of snapshots.prepare (`kind` active) and snapshots.view (`kind` view), owning
 * thread: validate, record the snapshot and compute its mounts (in `arena`), so that a chain
 * too deep to mount is refused before anything exists. Errors: INVALID_ARGUMENT (a key with
 * '/'), NOT_FOUND (parent), FAILED_PRECONDITION (parent not committed), ALREADY_EXISTS (key),
 * RESOURCE_EXHAUSTED (overlay options too long), NOT_IMPLEMENTED (snapshotter).
 */
int snapshotd_create_begin(struct snapshotd_store *s, const char *ns,
                           const struct br_snap_prepare_req *req, enum snapshotd_kind kind,
                           br_arena *arena, struct snapshotd_create **ret, br_err *err);
/* True if the create's work may block (run it on a worker). */
bool snapshotd_create_blocks(const struct snapshotd_create *c);
/* Step 2, any one thread: create the snapshot's directory. Never fails itself. */
void snapshotd_create_work(struct snapshotd_create *c);
/* Step 3, owning thread: on a failed work, drop the record and return the error; otherwise
 * return the mounts. Frees `c`. */
int snapshotd_create_end(struct snapshotd_store *s, struct snapshotd_create *c,
                         struct br_snap_mounts_resp *ret, br_err *err);
/* The three steps inline. */
int snapshotd_create(struct snapshotd_store *s, const char *ns,
                     const struct br_snap_prepare_req *req, enum snapshotd_kind kind,
                     br_arena *arena, struct br_snap_mounts_resp *ret, br_err *err);

/* ---- the rest of the API ---- */

/* Mounts of an active or view snapshot (FAILED_PRECONDITION for a committed one). */
int snapshotd_mounts(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                     br_arena *arena, struct br_snap_mounts_resp *ret, br_err *err);

/* Turn the active snapshot req->key into the committed snapshot req->name. Labels given
 * replace the snapshot's labels; without any, its labels are kept. */
int snapshotd_commit(struct snapshotd_store *s, const char *ns,
                     const struct br_snap_commit_req *req, br_err *err);

/* A removal in flight: the record is gone, the directory is to be deleted. */
struct snapshotd_removal {
	const struct snapshotd_backend *backend;
	int64_t id;
};

/* Step 1 of snapshots.remove, owning thread: FAILED_PRECONDITION ("snapshot \"x\" has 2
 * children") if it has children; otherwise delete the record (a directory left by a crash
 * after this is removed at the next start). */
int snapshotd_remove_begin(struct snapshotd_store *s, const char *ns,
                           const struct br_snap_key_req *req, struct snapshotd_removal *ret,
                           br_err *err);
/* Step 2, any thread: delete the directory (never across a mount). */
int snapshotd_remove_work(const struct snapshotd_removal *r, br_err *err);
/* Both steps inline. */
int snapshotd_remove(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                     br_err *err);

int snapshotd_stat(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                   br_arena *arena, struct br_snapshot_info *ret, br_err *err);

/* Every snapshot of the namespace and snapshotter, ordered by name. */
int snapshotd_list(struct snapshotd_store *s, const char *ns, const struct br_snap_list_req *req,
                   br_arena *arena, struct br_snap_list_resp *ret, br_err *err);

#endif
