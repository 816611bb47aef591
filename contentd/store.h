/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store of berth-contentd: blobs addressed by their sha256 digest, ingests
 * (resumable writes) that become blobs when they are committed, the leases that hold them and
 * the collection of what no lease holds.
 *
 * On disk, under the store directory (<root>/contentd):
 *
 *   blobs/sha256/<hex>   one read-only (0444) file per blob
 *   ingest/<ref>/data    the bytes written so far to the ingest named <ref>
 *   meta.db              SQLite: blobs, labels, ingests, and the lease tables (common/lease.h)
 *
 * The files are the truth and the database describes them. contentd_store_open() reconciles
 * the two after a crash (see docs/content.md): an ingest's offset is the size of its data
 * file; directories and rows without their counterpart are removed; a blob file without a row
 * is hashed and registered if a lease references its digest and its content matches its
 * name, removed otherwise.
 *
 * Collection (gc.c, docs/leases.md): the store owns a br_lease_store, whose references are
 * the only roots, and a br_gc scheduler that runs contentd_gc_run() in short steps on the
 * loop.
 *
 * Events (docs/events.md): a blob row that goes takes a /content/delete event with it, in its
 * transaction, into the outbox table of meta.db; the lease store adds /leases/create and
 * /leases/delete, the scheduler /gc/run. The daemon delivers them with an outbox that it
 * hands to the store (contentd_store_set_outbox); without one they wait in the table.
 *
 * Threading: the store belongs to one thread (the daemon's loop thread). A write runs in three
 * steps so that its blocking part can run on a worker: contentd_write_begin() and
 * contentd_write_end() on the owning thread, contentd_write_work() on any one thread in
 * between. While a write is between begin and end its ingest is locked: other writes and
 * aborts of that ref fail with UNAVAILABLE. Everything else in this header is owning-thread
 * only and bounded to one chunk of I/O (BR_CHUNK_MAX bytes) or one step of a collection.
 */
#ifndef BR_CONTENTD_STORE_H
#define BR_CONTENTD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/gc.h"
#include "common/lease.h"
#include "common/msg.h"
#include "common/proto/content.h"

#define CONTENTD_MAX_BLOB_SIZE (64LL << 30) /* 64 GiB: larger ingests are refused */
#define CONTENTD_MAX_INGESTS 1024           /* ingests in progress at one time */
/* The offset and time stamp of an ingest are written to the database at most this often
 * while it is being written (the data file is the truth; the row is informative). */
#define CONTENTD_PERSIST_INTERVAL_MS 1000
/* Blob rows (and files) one step of a collection removes; orphan files one step looks at. */
#define CONTENTD_GC_BATCH 512

/* The resource types of contentd's leases (docs/leases.md). */
#define CONTENTD_LEASE_CONTENT "content" /* key: a blob digest */
#define CONTENTD_LEASE_INGEST "ingest"   /* key: an ingest ref */

struct contentd_ingest;
struct contentd_collection;
struct br_outbox;

/* What contentd_store_open() needs besides the directory. */
struct contentd_store_opts {
	uv_loop_t *uv;          /* the loop that owns the store: timers of leases and collection */
	int64_t gc_delay_ms;    /* cfg->contentd.gc_delay_ms */
	int64_t gc_interval_ms; /* cfg->contentd.gc_interval_ms; 0: no periodic collection */
	int64_t ingest_expiry_ms; /* cfg->contentd.ingest_expiry_ms */
};

/* The lease a request's envelope names: what it writes is held in lease `id` of `ns`. */
struct contentd_lease_ref {
	const char *ns;
	const char *id;
};

struct contentd_store {
	char *dir;     /* <root>/contentd */
	int dir_fd;    /* the store directory */
	int blobs_fd;  /* blobs/sha256 */
	int ingest_fd; /* ingest */
	sqlite3 *db;
	struct contentd_ingest *ingests; /* every ingest in progress */
	size_t n_ingests;
	/* Commits between contentd_write_begin() and contentd_write_end(): their file may be in
	 * blobs/sha256/ before its row exists, so the orphan scan waits until there are none. */
	unsigned commits_in_flight;
	uv_loop_t *uv;
	struct br_lease_store *leases;
	struct br_gc *gc;
	struct br_outbox *outbox; /* delivers the events; NULL: they wait in the table */
	struct contentd_collection *collection; /* the state of collections (gc.c) */
	int64_t ingest_expiry_ms;
	uint64_t gc_runs; /* collections finished since open */
	/* Limits; set to the defaults above by contentd_store_open(), tests may lower them. */
	int64_t max_blob_size;
	size_t max_ingests;
};

/* What contentd_store_open() repaired, for the daemon to log. */
struct contentd_reconcile_stats {
	unsigned ingests_resumed;  /* ingests kept, offset taken from their data file */
	unsigned ingests_removed;  /* ingests without a row or without data */
	unsigned blobs_registered; /* blob files without a row, held by a lease, whose content
	                            * matched their name */
	unsigned blobs_removed;    /* blob files that were not valid blobs */
	unsigned blobs_unheld;     /* blob files without a row that no lease held (not read) */
	unsigned rows_removed;     /* blob rows whose file was missing or had the wrong size */
};

/*
 * Open (creating if needed) the store in `dir`, bring the database schema up to date,
 * reconcile the database with the files and set up leases and collection on opts->uv.
 * `ret_stats` may be NULL. Blocking (it may hash blob files left by a crash): call it before
 * the loop serves requests. The caller frees the store with contentd_store_free(). Errors:
 * those of the file system and the database, with the directory as context.
 */
int contentd_store_open(const char *dir, const struct contentd_store_opts *opts,
                        struct contentd_reconcile_stats *ret_stats, struct contentd_store **ret,
                        br_err *err);

/* The outbox that delivers the store's events (NULL: none), also handed to its leases and
 * its scheduler; it must outlive the store or be unset first. Owning thread. */
void contentd_store_set_outbox(struct contentd_store *s, struct br_outbox *ob);

/* Stop the collection scheduler and run the loop until a running collection has finished
 * its current step and ended. Owning thread, outside any callback of its loop (it runs the
 * loop). Idempotent. */
void contentd_store_drain(struct contentd_store *s);

/* Drain, close the database and free the store; the timers' memory is released by the next
 * run of the loop. No write may be in progress. Owning thread, outside loop callbacks.
 * Accepts NULL. */
void contentd_store_free(struct contentd_store *s);

/* ---- blobs ---- */

/* Describe a blob: NOT_FOUND if it is not stored. Strings and labels live in `arena`. */
int contentd_info(struct contentd_store *s, const char *digest, br_arena *arena,
                  struct br_content_info *ret, br_err *err);

/*
 * One page of blobs, ordered by digest, after req->token (the last digest of the previous
 * page) and at most br_page_size(req) long; the page also ends early once its labels reach
 * BR_PAGE_LABELS_MAX. ret->next_page_token is set when more may follow. Strings, labels and
 * the item array live in `arena`. INVALID_ARGUMENT for a token that is not a digest.
 */
int contentd_list(struct contentd_store *s, const struct br_page_req *req, br_arena *arena,
                  struct br_content_list_resp *ret, br_err *err);

/* Delete a blob (file first, then its row with its /content/delete event): NOT_FOUND if it
 * is not stored. */
int contentd_delete(struct contentd_store *s, const char *digest, br_err *err);

/*
 * Read at most BR_CHUNK_MAX bytes (req->size, 0 meaning BR_CHUNK_MAX; larger sizes are cut to
 * BR_CHUNK_MAX) of a blob from req->offset. Reading at the end answers empty data; an offset
 * past the end is INVALID_ARGUMENT. The data lives in `arena`.
 */
int contentd_read(struct contentd_store *s, const struct br_content_read_req *req, br_arena *arena,
                  struct br_content_read_resp *ret, br_err *err);

/* ---- ingests ---- */

/* The state of the ingest `ref`: NOT_FOUND if there is none. Strings live in `arena`. */
int contentd_status(struct contentd_store *s, const char *ref, br_arena *arena,
                    struct br_content_status *ret, br_err *err);

/* Discard the ingest `ref` and its data: NOT_FOUND if none, UNAVAILABLE while it is locked. */
int contentd_abort(struct contentd_store *s, const char *ref, br_err *err);

struct contentd_write;

/*
 * Step 1 of content.write (owning thread): check the request against the ingest (creating it
 * at offset 0), lock the ingest and return the prepared write. With `lease` (may be NULL),
 * the lease must exist (NOT_FOUND "lease \"x\": not found", checked before anything else)
 * and holds the ingest from here on. `req` (its data and labels) and `lease` must stay valid
 * until contentd_write_end(). Errors: FAILED_PRECONDITION when req->offset is not the current
 * offset (the message names it) or total/expected contradict what the ingest was started
 * with; ALREADY_EXISTS when a new ingest's `expected` content is already stored (the lease
 * then holds that content); UNAVAILABLE when the ingest is locked; RESOURCE_EXHAUSTED past
 * the limits.
 */
int contentd_write_begin(struct contentd_store *s, const struct br_content_write_req *req,
                         const struct contentd_lease_ref *lease, struct contentd_write **ret,
                         br_err *err);

/*
 * Step 2 (any one thread; touches only the ingest's files and the write): rebuild the running
 * digest from the data file if it was lost (after a restart), append the data, and on commit
 * verify size and digest, fsync the data and rename it into blobs/sha256/. Never fails
 * itself; its outcome is reported by contentd_write_end().
 */
void contentd_write_work(struct contentd_write *w);

/*
 * Step 3 (owning thread): record the outcome, unlock the ingest, register a committed blob
 * (row and labels; the write's lease holds the blob and lets go of the ingest in the same
 * transaction) and free `w`. Returns the work's error, if any: on commit, a size or digest
 * mismatch is FAILED_PRECONDITION ("commit <ref>: digest mismatch: expected ..., got ...") and
 * content already stored is ALREADY_EXISTS (the lease holds it all the same); in both cases
 * the ingest is gone and nothing new was stored. A file already at the blob's name without a
 * row (left by a collection or a crash) is replaced by the ingest's data. NOT_FOUND when the
 * lease went away during the write (the blob is then stored but not held). The response's
 * strings live in `arena`.
 */
int contentd_write_end(struct contentd_store *s, struct contentd_write *w, br_arena *arena,
                       struct br_content_write_resp *ret, br_err *err);

/* The three steps inline, for callers that may block (tests, tools). `lease` may be NULL. */
int contentd_write(struct contentd_store *s, const struct br_content_write_req *req,
                   const struct contentd_lease_ref *lease, br_arena *arena,
                   struct br_content_write_resp *ret, br_err *err);

/* ---- collection and usage (gc.c) ---- */

/* Whatever content.usage answers (see struct br_content_usage), in `arena`. Owning thread.
 * Errors: the database's. */
int contentd_usage(struct contentd_store *s, br_arena *arena, struct br_content_usage *ret,
                   br_err *err);

/* ---- shared between store.c, ingest.c and gc.c ---- */

/* Register a blob row and its labels (`labels` may be NULL). With `remove_ingest_ref`, the
 * ingest row goes in the same transaction; with `lease`, the lease holds the blob and lets go
 * of that ingest in it too (NOT_FOUND, and nothing changed, if the lease is gone).
 * ALREADY_EXISTS if the row exists. Owning thread. */
int contentd_blob_insert(struct contentd_store *s, const char *digest, int64_t size,
                         const struct br_strmap *labels, const char *remove_ingest_ref,
                         const struct contentd_lease_ref *lease, br_err *err);
/* Send the events committed since (a no-op without an outbox). Owning thread. */
void contentd_store_kick(struct contentd_store *s);
/* Announce that the row of blob `digest` went (/content/delete), inside the transaction that
 * deleted it. Owning thread. */
int contentd_blob_deleted(struct contentd_store *s, const char *digest, br_err *err);
/* True if a row for `digest` exists. Owning thread. */
int contentd_blob_exists(struct contentd_store *s, const char *digest, bool *ret, br_err *err);
/* True if an unexpired lease references (type, key). Owning thread. */
int contentd_lease_refers(struct contentd_store *s, const char *type, const char *key, bool *ret,
                          br_err *err);

/* Lease `lease` holds the blob `digest` instead of the ingest `ref` that a commit has just
 * turned into it (br_lease_move: nothing is released, so no collection is scheduled). In the
 * caller's transaction if one is open, else in one of its own. NOT_FOUND, and nothing
 * changed, if the lease is gone. Owning thread. */
int contentd_lease_move_to_blob(struct contentd_store *s, const struct contentd_lease_ref *lease,
                                const char *ref, const char *digest, br_err *err);

/* True if `name` can name a file in blobs/sha256/ (64 lowercase hex digits). Pure. */
bool contentd_is_blob_name(const char *name);

/* True if the ingest `ref` is in progress. Owning thread. */
bool contentd_ingest_exists(struct contentd_store *s, const char *ref);
/* Discard up to `max` ingests that are not busy, have had no write for s->ingest_expiry_ms
 * before `now` and that no unexpired lease references; their number goes to *ret_n. Errors:
 * the database's (the ingests discarded before it are gone). Owning thread. */
int contentd_ingests_expire(struct contentd_store *s, int64_t now, size_t max, size_t *ret_n,
                            br_err *err);
/* The ingests in progress and their bytes; the bytes of those contentd_ingests_expire()
 * would discard at `now` go to *ret_reclaimable. Errors: the database's. Owning thread. */
int contentd_ingests_usage(struct contentd_store *s, int64_t now, int64_t *ret_n,
                           int64_t *ret_bytes, int64_t *ret_reclaimable, br_err *err);

/* Load the ingests from the database and reconcile them with ingest/ (called by open). */
int contentd_ingests_reconcile(struct contentd_store *s, struct contentd_reconcile_stats *stats,
                               br_err *err);
/* Free the in-memory ingest list (called by free). */
void contentd_ingests_free(struct contentd_store *s);

/* Set up the collection (gc.c): its state in s->collection and the scheduler s->gc, on
 * opts->uv. Called by open once the database is reconciled; does not fail today. Owning
 * thread. */
int contentd_gc_init(struct contentd_store *s, const struct contentd_store_opts *opts, br_err *err);
/* Free what contentd_gc_init() made (handles are released by the next run of the loop). No
 * collection may be running (contentd_store_drain). Accepts a store without one. Owning
 * thread. */
void contentd_gc_fini(struct contentd_store *s);

#endif
