/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database of berth-imaged (<root>/imaged/meta.db): image records and their labels,
 * scoped by namespace, and the journal of scratch resources that jobs create in the peers
 * (extract snapshots in snapshotd, ingests in contentd). A job writes a journal row before it
 * creates such a resource and deletes it once the resource is committed or removed, so that
 * after a crash the next start knows exactly what to clean up.
 *
 * A connection (sqlite3 *) is used by one thread at a time: the daemon keeps one for the loop
 * thread and one, behind a mutex, for job threads.
 */
#ifndef BR_IMAGED_STORE_H
#define BR_IMAGED_STORE_H

#include <stdint.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/images.h"

/* Journal kinds. */
#define IMAGED_PENDING_SNAPSHOT "snapshot" /* an extract snapshot key in snapshotd */
#define IMAGED_PENDING_INGEST "ingest"     /* an ingest ref in contentd */

struct imaged_pending {
	char *kind;
	char *ns;
	char *name;
};

/* Open (creating if needed) the database at `path` and bring its schema up to date. */
int imaged_store_open(const char *path, sqlite3 **ret, br_err *err);

/*
 * Insert or replace the image `img->name` of namespace `ns` in one transaction (labels
 * included). A replaced record keeps its created_at; updated_at is now. img->created_at and
 * updated_at are ignored. Thread of the connection.
 */
int imaged_store_put_image(sqlite3 *db, const char *ns, const struct br_image *img, br_err *err);

/* The image `name` (normalized) of `ns`, strings in `arena`. NOT_FOUND: image "x": not found. */
int imaged_store_get_image(sqlite3 *db, const char *ns, const char *name, br_arena *arena,
                           struct br_image *ret, br_err *err);

/* Every image of `ns`, ordered by name, strings in `arena`. */
int imaged_store_list_images(sqlite3 *db, const char *ns, br_arena *arena,
                             struct br_image_list_resp *ret, br_err *err);

/* Delete the record (its labels with it). NOT_FOUND if there is none. */
int imaged_store_remove_image(sqlite3 *db, const char *ns, const char *name, br_err *err);

/* Journal rows (see above). Adding an existing row and removing a missing one succeed. */
int imaged_store_pending_add(sqlite3 *db, const char *kind, const char *ns, const char *name,
                             br_err *err);
int imaged_store_pending_remove(sqlite3 *db, const char *kind, const char *ns, const char *name,
                                br_err *err);
/* Every journal row, as a heap array the caller frees with imaged_pending_free(). */
int imaged_store_pending_list(sqlite3 *db, struct imaged_pending **ret, size_t *ret_n, br_err *err);
void imaged_pending_free(struct imaged_pending *v, size_t n);

#endif
