/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store of berth-contentd: blobs addressed by their sha256 digest, and ingests
 * (resumable writes) that become blobs when they are committed.
 *
 * On disk, under the store directory (<root>/contentd):
 *
 *   blobs/sha256/<hex>   one read-only (0444) file per blob
 *   ingest/<ref>/data    the bytes written so far to the ingest named <ref>
 *   meta.db              SQLite: blobs, labels, ingests
 *
 * The files are the truth and the database describes them. contentd_store_open() reconciles
 * the two after a crash (see docs/content.md): an ingest's offset is the size of its data
 * file; directories and rows without their counterpart are removed; a blob file without a row
 * is hashed and registered if its content matches its name, removed otherwise.
 *
 * Threading: the store belongs to one thread (the daemon's loop thread). A write runs in three
 * steps so that its blocking part can run on a worker: contentd_write_begin() and
 * contentd_write_end() on the owning thread, contentd_write_work() on any one thread in
 * between. While a write is between begin and end its ingest is locked: other writes and
 * aborts of that ref fail with UNAVAILABLE. Everything else in this header is owning-thread
 * only and bounded to one chunk of I/O (BR_CHUNK_MAX bytes).
 */
#ifndef BR_CONTENTD_STORE_H
#define BR_CONTENTD_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/digest.h"
#include "common/err.h"
#include "common/msg.h"
#include "common/proto/content.h"

#define CONTENTD_MAX_BLOB_SIZE (64LL << 30) /* 64 GiB: larger ingests are refused */
#define CONTENTD_MAX_INGESTS 1024           /* ingests in progress at one time */
/* The offset and time stamp of an ingest are written to the database at most this often
 * while it is being written (the data file is the truth; the row is informative). */
#define CONTENTD_PERSIST_INTERVAL_MS 1000

/* Finalize a statement when it goes out of scope (sqlite3_finalize accepts NULL). */
static inline void
contentd_stmt_freep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(contentd_stmt_freep)

struct contentd_ingest;

struct contentd_store {
	char *dir;     /* <root>/contentd */
	int dir_fd;    /* the store directory */
	int blobs_fd;  /* blobs/sha256 */
	int ingest_fd; /* ingest */
	sqlite3 *db;
	struct contentd_ingest *ingests; /* every ingest in progress */
	size_t n_ingests;
	/* Limits; set to the defaults above by contentd_store_open(), tests may lower them. */
	int64_t max_blob_size;
	size_t max_ingests;
};

/* What contentd_store_open() repaired, for the daemon to log. */
struct contentd_reconcile_stats {
	unsigned ingests_resumed;  /* ingests kept, offset taken from their data file */
	unsigned ingests_removed;  /* ingests without a row or without data */
	unsigned blobs_registered; /* blob files without a row whose content matched their name */
	unsigned blobs_removed;    /* blob files that were not valid blobs */
	unsigned rows_removed;     /* blob rows whose file was missing or had the wrong size */
};

/*
 * Open (creating if needed) the store in `dir`, bring the database schema up to date and
 * reconcile the database with the files. `ret_stats` may be NULL. Blocking (it may hash blob
 * files left by a crash): call it before the loop serves requests. The caller frees the store
 * with contentd_store_free().
 */
int contentd_store_open(const char *dir, struct contentd_reconcile_stats *ret_stats,
                        struct contentd_store **ret, br_err *err);

/* Close the database and free the store. No write may be in progress. Accepts NULL. */
void contentd_store_free(struct contentd_store *s);

/* ---- blobs ---- */

/* Describe a blob: NOT_FOUND if it is not stored. Strings and labels live in `arena`. */
int contentd_info(struct contentd_store *s, const char *digest, br_arena *arena,
                  struct br_content_info *ret, br_err *err);

/* Every blob, ordered by digest. Strings, labels and the item array live in `arena`. */
int contentd_list(struct contentd_store *s, br_arena *arena, struct br_content_list_resp *ret,
                  br_err *err);

/* Delete a blob (file first, then its row): NOT_FOUND if it is not stored. */
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
 * at offset 0), lock the ingest and return the prepared write. `req` (its data and labels)
 * must stay valid until contentd_write_end(). Errors: FAILED_PRECONDITION when req->offset is
 * not the current offset (the message names it) or total/expected contradict what the ingest
 * was started with; ALREADY_EXISTS when a new ingest's `expected` content is already stored;
 * UNAVAILABLE when the ingest is locked; RESOURCE_EXHAUSTED past the limits.
 */
int contentd_write_begin(struct contentd_store *s, const struct br_content_write_req *req,
                         struct contentd_write **ret, br_err *err);

/*
 * Step 2 (any one thread; touches only the ingest's files and the write): rebuild the running
 * digest from the data file if it was lost (after a restart), append the data, and on commit
 * verify size and digest, fsync the data and rename it into blobs/sha256/. Never fails
 * itself; its outcome is reported by contentd_write_end().
 */
void contentd_write_work(struct contentd_write *w);

/*
 * Step 3 (owning thread): record the outcome, unlock the ingest, register a committed blob
 * (row and labels) and free `w`. Returns the work's error, if any: on commit, a size or digest
 * mismatch is FAILED_PRECONDITION ("commit <ref>: digest mismatch: expected ..., got ...") and
 * content already stored is ALREADY_EXISTS; in both cases the ingest is gone and nothing was
 * stored. The response's strings live in `arena`.
 */
int contentd_write_end(struct contentd_store *s, struct contentd_write *w, br_arena *arena,
                       struct br_content_write_resp *ret, br_err *err);

/* The three steps inline, for callers that may block (tests, tools). */
int contentd_write(struct contentd_store *s, const struct br_content_write_req *req,
                   br_arena *arena, struct br_content_write_resp *ret, br_err *err);

/* ---- shared between store.c and ingest.c ---- */

/* Register (or re-register) a blob row, `labels` may be NULL. In a transaction of its own. */
int contentd_blob_insert(struct contentd_store *s, const char *digest, int64_t size,
                         const struct br_strmap *labels, const char *remove_ingest_ref,
                         br_err *err);
/* True if a row for `digest` exists. */
int contentd_blob_exists(struct contentd_store *s, const char *digest, bool *ret, br_err *err);

/* Load the ingests from the database and reconcile them with ingest/ (called by open). */
int contentd_ingests_reconcile(struct contentd_store *s, struct contentd_reconcile_stats *stats,
                               br_err *err);
/* Free the in-memory ingest list (called by free). */
void contentd_ingests_free(struct contentd_store *s);

#endif
