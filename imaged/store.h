/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database of berth-imaged (<root>/imaged/meta.db): image records and their labels,
 * scoped by namespace, plus the outbox and the owned leases (common/outbox.h,
 * common/lease_owner.h) that keep the stores' leases in step with the records. What jobs
 * write in the peers is held by their expiring leases, so no journal of it is needed.
 *
 * The connection belongs to the loop thread.
 */
#ifndef BR_IMAGED_STORE_H
#define BR_IMAGED_STORE_H

#include <stdint.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/images.h"

/* Open (creating if needed) the database at `path` and bring its schema up to date. */
int imaged_store_open(const char *path, sqlite3 **ret, br_err *err);

/*
 * Insert or replace the image `img->name` of namespace `ns` (labels included), inside the
 * caller's transaction, with its event: /images/create for a new name, /images/update when
 * the target or the platform manifest changed, none when the same image is written again.
 * A replaced record keeps its created_at; updated_at is now. img->created_at and updated_at
 * are ignored. The caller kicks the outbox after the commit.
 */
int imaged_store_put_image(sqlite3 *db, const char *ns, const struct br_image *img, br_err *err);

/* The image `name` (normalized) of `ns`, strings in `arena`. NOT_FOUND: image "x": not found. */
int imaged_store_get_image(sqlite3 *db, const char *ns, const char *name, br_arena *arena,
                           struct br_image *ret, br_err *err);

/* One page of the images of `ns`, ordered by name (the token is the last name), strings in
 * `arena`. */
int imaged_store_list_images(sqlite3 *db, const char *ns, const struct br_page_req *page,
                             br_arena *arena, struct br_image_list_resp *ret, br_err *err);
int imaged_store_count_images(sqlite3 *db, const char *ns, int64_t *ret, br_err *err);

/* Delete the record (its labels with it) with its /images/delete event, inside the caller's
 * transaction. NOT_FOUND if there is none. */
int imaged_store_remove_image(sqlite3 *db, const char *ns, const char *name, br_err *err);

/* Records from before leases existed (schema 1), which still need their image leases. Writing
 * a record (imaged_store_put_image) or removing it takes it off the list. */
struct imaged_backfill {
	const char *ns;
	const char *name;
};
int imaged_store_backfill_list(sqlite3 *db, br_arena *arena, struct imaged_backfill **ret,
                               size_t *ret_n, br_err *err);
int imaged_store_backfill_done(sqlite3 *db, const char *ns, const char *name, br_err *err);

#endif
