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
 * Leases (common/lease.h) live in the same database: a request may hold what it creates in
 * a lease, in the same transaction as the record, and the collection (gc.h) removes what no
 * unexpired lease holds, directly or as an ancestor of a held snapshot.
 *
 * Events (docs/events.md): every write or deletion of a snapshot row adds its event
 * (/snapshots/prepare, /snapshots/commit, /snapshots/remove) to the outbox table of the same
 * database in the same transaction; the daemon's outbox (snapshotd_store_set_outbox) delivers
 * them, and until it is set they wait in the table.
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
#include <uv.h>

#include "common/err.h"
#include "common/lease.h"
#include "common/msg.h"
#include "common/proto/snapshots.h"
#include "snapshotd/backend.h"

struct br_outbox;

#define SNAPSHOTD_MAX_BACKENDS 4
#define SNAPSHOTD_MAX_DEPTH 1000 /* parent chains longer than this are treated as corrupt */

struct snapshotd_store {
	char *dir; /* absolute <root>/snapshotd */
	sqlite3 *db;
	struct snapshotd_backend backends[SNAPSHOTD_MAX_BACKENDS];
	size_t n_backends;
	struct snapshotd_backend *default_backend;
	/* Ids of snapshots whose directory is being created: other calls on them wait, and the
	 * collection keeps them and their ancestors. */
	int64_t *busy;
	size_t n_busy;
	/* Ids whose directory removal is queued or running (their rows are gone): the
	 * collection's orphan scan leaves these directories alone. */
	int64_t *removing;
	size_t n_removing;
	/* Leases over snapshots; NULL until snapshotd_store_open_leases(). */
	struct br_lease_store *leases;
	void (*released)(void *data); /* references went: a collection may free something */
	void *released_data;
	struct br_outbox *outbox; /* delivers the events; NULL: they wait in the table */
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

/*
 * Open the leases of `s` (tables in its database) on loop `uv`, serving snapshots.leases.*
 * (br_lease_store_methods(s->leases, ...)). `released(data)` is called on the loop whenever
 * references went (a lease deleted or expired, resources dropped); it may be NULL. Freed by
 * snapshotd_store_free(). Loop thread.
 */
int snapshotd_store_open_leases(struct snapshotd_store *s, uv_loop_t *uv,
                                void (*released)(void *data), void *data, br_err *err);

/* The outbox that delivers the store's events (NULL: none), also handed to its leases once
 * they are open; it must outlive the store or be unset first. Loop thread. */
void snapshotd_store_set_outbox(struct snapshotd_store *s, struct br_outbox *ob);
/* Send the events committed since (a no-op without an outbox). Loop thread. */
void snapshotd_store_kick(struct snapshotd_store *s);

/* The lease resource type of backend `b`: "snapshots/<name>" in `arena`. Pure. */
const char *snapshotd_lease_type(const struct snapshotd_backend *b, br_arena *arena);

/* The backend named `name` ("" or NULL: the default); NOT_IMPLEMENTED for an unknown name. */
struct snapshotd_backend *snapshotd_backend_get(struct snapshotd_store *s, const char *name,
                                                br_err *err);

/* ---- prepare and view ---- */

struct snapshotd_create;

/*
 * Step 1 of snapshots.prepare (`kind` active) and snapshots.view (`kind` view), owning
 * thread: validate, record the snapshot (with its /snapshots/prepare event) and compute its
 * mounts (in `arena`), so that a chain too deep to mount is refused before anything exists.
 * With a `lease` (NULL: none), the new key is held in that lease of `ns` in the same
 * transaction. Errors: NOT_FOUND (an unknown or expired lease, checked first; the parent),
 * INVALID_ARGUMENT (a key with '/'), FAILED_PRECONDITION (parent not committed; a lease given
 * before the leases are open), ALREADY_EXISTS (key), RESOURCE_EXHAUSTED (overlay options too
 * long), NOT_IMPLEMENTED (snapshotter).
 */
int snapshotd_create_begin(struct snapshotd_store *s, const char *ns,
                           const struct br_snap_prepare_req *req, enum snapshotd_kind kind,
                           const char *lease, br_arena *arena, struct snapshotd_create **ret,
                           br_err *err);
/* True if the create's work may block (run it on a worker). */
bool snapshotd_create_blocks(const struct snapshotd_create *c);
/* Step 2, any one thread: create the snapshot's directory. Never fails itself. */
void snapshotd_create_work(struct snapshotd_create *c);
/* Step 3, owning thread: on a failed work, drop the record (with a /snapshots/remove event)
 * and return the error; otherwise return the mounts. Frees `c`. */
int snapshotd_create_end(struct snapshotd_store *s, struct snapshotd_create *c,
                         struct br_snap_mounts_resp *ret, br_err *err);
/* The three steps inline. */
int snapshotd_create(struct snapshotd_store *s, const char *ns,
                     const struct br_snap_prepare_req *req, enum snapshotd_kind kind,
                     const char *lease, br_arena *arena, struct br_snap_mounts_resp *ret,
                     br_err *err);

/* ---- the rest of the API ---- */

/* Mounts of an active or view snapshot (FAILED_PRECONDITION for a committed one). */
int snapshotd_mounts(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                     br_arena *arena, struct br_snap_mounts_resp *ret, br_err *err);

/* Turn the active snapshot req->key into the committed snapshot req->name (with the
 * /snapshots/commit event). Labels given
 * replace the snapshot's labels; without any, its labels are kept. With a `lease` (NULL:
 * none), the name is held in it in the same transaction (NOT_FOUND for an unknown lease,
 * nothing changed). Owning thread. */
int snapshotd_commit(struct snapshotd_store *s, const char *ns,
                     const struct br_snap_commit_req *req, const char *lease, br_err *err);

/* A removal in flight: the record is gone, the directory is to be deleted. */
struct snapshotd_removal {
	const struct snapshotd_backend *backend;
	int64_t id;
};

/* Step 1 of snapshots.remove, owning thread: FAILED_PRECONDITION ("snapshot \"x\" has 2
 * children") if it has children; otherwise delete the record with its /snapshots/remove
 * event (a directory left by a crash after this is removed by the next collection or start)
 * and mark the id as being removed until snapshotd_remove_end(). */
int snapshotd_remove_begin(struct snapshotd_store *s, const char *ns,
                           const struct br_snap_key_req *req, struct snapshotd_removal *ret,
                           br_err *err);
/* Step 2, any thread: delete the directory (never across a mount). */
int snapshotd_remove_work(const struct snapshotd_removal *r, br_err *err);
/* Step 3, owning thread, whatever step 2 answered: the removal is over. */
void snapshotd_remove_end(struct snapshotd_store *s, const struct snapshotd_removal *r);
/* Both steps inline. */
int snapshotd_remove(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                     br_err *err);

int snapshotd_stat(struct snapshotd_store *s, const char *ns, const struct br_snap_key_req *req,
                   br_arena *arena, struct br_snapshot_info *ret, br_err *err);

/* One page of the snapshots of the namespace and snapshotter, ordered by name, in `arena`:
 * at most br_page_size(&req->page) items, fewer when their labels pass BR_PAGE_LABELS_MAX
 * or SNAPSHOTD_LIST_LABEL_BYTES_MAX bytes; ret->next_page_token is the last name when more
 * may follow. Owning thread. */
#define SNAPSHOTD_LIST_LABEL_BYTES_MAX (4u << 20)
int snapshotd_list(struct snapshotd_store *s, const char *ns, const struct br_snap_list_req *req,
                   br_arena *arena, struct br_snap_list_resp *ret, br_err *err);

/* How many snapshots namespace `ns` has, every snapshotter counted. Owning thread. */
int snapshotd_count(struct snapshotd_store *s, const char *ns, int64_t *ret, br_err *err);

/* ---- shared with the collection and usage (owning thread) ---- */

/* A snapshot's row, as looked up by (namespace, snapshotter, key). */
struct snapshotd_row {
	int64_t id;
	int64_t parent_id; /* 0: none */
	enum snapshotd_kind kind;
};
/* Look up a snapshot that must exist (NOT_FOUND) and must not be being created
 * (UNAVAILABLE); database errors. */
int snapshotd_lookup_existing(struct snapshotd_store *s, const char *ns,
                              const struct snapshotd_backend *b, const char *key,
                              struct snapshotd_row *ret, br_err *err);

/* Announce that the row of snapshot `key` (namespace `ns`, snapshotter `snapshotter`) went:
 * /snapshots/remove, inside the transaction that deleted it. */
int snapshotd_snapshot_removed(struct snapshotd_store *s, const char *ns, const char *snapshotter,
                               const char *key, br_err *err);

/* The backend named `name` exactly, or NULL (no default applied). */
struct snapshotd_backend *snapshotd_backend_by_name(struct snapshotd_store *s, const char *name);

/* Whether `name` (a directory under a backend's root) is a snapshot id; *ret gets it. Pure. */
bool snapshotd_parse_id(const char *name, int64_t *ret);

/* Whether snapshot `id` is being created (its directory is not complete yet). */
bool snapshotd_busy(const struct snapshotd_store *s, int64_t id);
/* The busy ids as a JSON array ("[3,7]"), for SQL's json_each(); the caller frees it. */
char *snapshotd_busy_json(const struct snapshotd_store *s);

/* The set of ids whose directory removal is queued or running (see `removing`). */
void snapshotd_removing_add(struct snapshotd_store *s, int64_t id);
void snapshotd_removing_del(struct snapshotd_store *s, int64_t id);
bool snapshotd_removing(const struct snapshotd_store *s, int64_t id);

/*
 * The ids a collection keeps, as a common table expression `keep(id)` to put before a
 * SELECT: snapshots held by an unexpired lease (type "snapshots/<snapshotter>", same
 * namespace and key), the busy ids, and every ancestor of either. Bind ?1 to the time
 * (br_db_now()) and ?2 to snapshotd_busy_json().
 */
#define SNAPSHOTD_KEEP_CTE                                                             \
	"WITH RECURSIVE keep(id) AS ("                                                 \
	"  SELECT s.id FROM lease_resources r"                                         \
	"    JOIN leases l ON l.namespace = r.namespace AND l.id = r.lease"            \
	"    JOIN snapshots s ON s.namespace = r.namespace"                            \
	"      AND s.snapshotter = substr(r.type, 11) AND s.key = r.key"               \
	"   WHERE r.type GLOB 'snapshots/*' AND (l.expire_at = 0 OR l.expire_at > ?1)" \
	"  UNION SELECT value FROM json_each(?2)"                                      \
	"  UNION SELECT s.parent_id FROM snapshots s JOIN keep k ON s.id = k.id"       \
	"   WHERE s.parent_id IS NOT NULL) "

#endif
