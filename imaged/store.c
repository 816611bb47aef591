/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite tables of berth-imaged (store.h): images(namespace, name, target, manifest, config,
 * chain, snapshot, platform, size, times), image_labels, and the tables of the outbox and of
 * owned leases (common/outbox.h, common/lease_owner.h). Writing or removing a record adds its
 * event (/images/create, /images/update, /images/delete) in the same transaction.
 */
#include "imaged/store.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/events.h"
#include "common/lease_owner.h"
#include "common/outbox.h"
#include "common/xalloc.h"

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE images ("
            "  namespace TEXT NOT NULL,"
            "  name TEXT NOT NULL,"
            "  target_media_type TEXT NOT NULL,"
            "  target_digest TEXT NOT NULL,"
            "  target_size INTEGER NOT NULL,"
            "  manifest_digest TEXT NOT NULL,"
            "  config_digest TEXT NOT NULL,"
            "  chain_id TEXT NOT NULL,"
            "  platform TEXT NOT NULL,"
            "  size INTEGER NOT NULL,"
            "  created_at INTEGER NOT NULL,"
            "  updated_at INTEGER NOT NULL,"
            "  PRIMARY KEY (namespace, name));"
            "CREATE TABLE image_labels ("
            "  namespace TEXT NOT NULL,"
            "  name TEXT NOT NULL,"
            "  key TEXT NOT NULL,"
            "  value TEXT NOT NULL,"
            "  PRIMARY KEY (namespace, name, key),"
            "  FOREIGN KEY (namespace, name) REFERENCES images (namespace, name)"
            "    ON DELETE CASCADE ON UPDATE CASCADE);"
            "CREATE TABLE pending ("
            "  kind TEXT NOT NULL,"
            "  namespace TEXT NOT NULL,"
            "  name TEXT NOT NULL,"
            "  created_at INTEGER NOT NULL,"
            "  PRIMARY KEY (kind, namespace, name));"},
        /* Leases replace the journal of scratch resources: a job's lease holds them. The
         * records already there get their image leases at the next start (lease_backfill). */
        {2, "DROP TABLE pending;"
            "ALTER TABLE images ADD COLUMN snapshot TEXT NOT NULL DEFAULT '';"
            "CREATE TABLE lease_backfill ("
            "  namespace TEXT NOT NULL,"
            "  name TEXT NOT NULL,"
            "  PRIMARY KEY (namespace, name),"
            "  FOREIGN KEY (namespace, name) REFERENCES images (namespace, name)"
            "    ON DELETE CASCADE ON UPDATE CASCADE);"
            "INSERT INTO lease_backfill SELECT namespace, name FROM images;" BR_OUTBOX_SCHEMA_SQL
                    BR_LEASE_OWNER_SCHEMA_SQL},
};

int
imaged_store_open(const char *path, sqlite3 **ret, br_err *err)
{
	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), ret, err);
}

/* The event of an image record: `topic` for `name` with `target` and `labels`. */
static int
announce(sqlite3 *db, const char *ns, const char *topic, const char *name,
         const struct br_descriptor *target, const struct br_strmap *labels, br_err *err)
{
	struct br_event_image ev = {.name = name, .target = *target, .labels = *labels};

	return br_event_add(db, ns, topic, &br_event_image_schema, &ev, err);
}

/* What writing `img` over the record as it is now changes: /images/create for a new name,
 * /images/update for another target or platform manifest, NULL when it is the same image
 * (a pull of what is there already). */
static int
put_topic(sqlite3 *db, const char *ns, const struct br_image *img, const char **ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "SELECT target_digest, manifest_digest FROM images"
	                  " WHERE namespace = ?1 AND name = ?2",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, img->name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		*ret = BR_TOPIC_IMAGE_CREATE;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "read image \"%s\"", img->name);
	bool same =
	        strcmp(br_db_text(st, 0), img->target.digest ? img->target.digest : "") == 0 &&
	        strcmp(br_db_text(st, 1), img->manifest_digest ? img->manifest_digest : "") == 0;
	*ret = same ? NULL : BR_TOPIC_IMAGE_UPDATE;
	return 0;
}

static int
put_image_tx(sqlite3 *db, const char *ns, const struct br_image *img, int64_t now, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	_cleanup_stmt_ sqlite3_stmt *lab = NULL;
	const char *topic = NULL;

	if (put_topic(db, ns, img, &topic, err) < 0)
		return -1;
	if (br_db_prepare(
	            db,
	            "INSERT INTO images (namespace, name, target_media_type, target_digest,"
	            " target_size, manifest_digest, config_digest, chain_id, platform, size,"
	            " created_at, updated_at, snapshot) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
	            " ?9, ?10, ?11, ?11, ?12) ON CONFLICT (namespace, name) DO UPDATE SET"
	            " target_media_type = ?3, target_digest = ?4, target_size = ?5,"
	            " manifest_digest = ?6, config_digest = ?7, chain_id = ?8, platform = ?9,"
	            " size = ?10, updated_at = ?11, snapshot = ?12",
	            &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, img->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, img->target.media_type ? img->target.media_type : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, img->target.digest ? img->target.digest : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, img->target.size);
	sqlite3_bind_text(st, 6, img->manifest_digest ? img->manifest_digest : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_text(st, 7, img->config_digest ? img->config_digest : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, img->chain_id ? img->chain_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, img->platform ? img->platform : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, img->size);
	sqlite3_bind_int64(st, 11, now);
	sqlite3_bind_text(st, 12, img->snapshot ? img->snapshot : "", -1, SQLITE_STATIC);
	if (br_db_step_done(db, st, err, "insert image") < 0)
		return -1;
	/* A record written now gets its leases with it (records.c). */
	_cleanup_stmt_ sqlite3_stmt *bf = NULL;
	if (br_db_prepare(db, "DELETE FROM lease_backfill WHERE namespace = ?1 AND name = ?2", &bf,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(bf, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(bf, 2, img->name, -1, SQLITE_STATIC);
	if (br_db_step_done(db, bf, err, "image \"%s\": backfill", img->name) < 0)
		return -1;

	if (br_db_prepare(db, "DELETE FROM image_labels WHERE namespace = ?1 AND name = ?2", &del,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(del, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 2, img->name, -1, SQLITE_STATIC);
	if (br_db_step_done(db, del, err, "replace image labels") < 0)
		return -1;
	if (img->labels.n > 0) {
		if (br_db_prepare(db,
		                  "INSERT INTO image_labels (namespace, name, key, value)"
		                  " VALUES (?1, ?2, ?3, ?4)",
		                  &lab, err) < 0)
			return -1;
		sqlite3_bind_text(lab, 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(lab, 2, img->name, -1, SQLITE_STATIC);
		if (br_db_write_labels(db, lab, 3, &img->labels, err) < 0)
			return -1;
	}
	if (topic == NULL)
		return 0;
	return announce(db, ns, topic, img->name, &img->target, &img->labels, err);
}

int
imaged_store_put_image(sqlite3 *db, const char *ns, const struct br_image *img, br_err *err)
{
	if (put_image_tx(db, ns, img, br_db_now(), err) < 0)
		return br_err_wrap(err, "store image \"%s\"", img->name);
	return 0;
}

#define IMAGE_COLUMNS                                                                          \
	"name, target_media_type, target_digest, target_size, manifest_digest, config_digest," \
	" chain_id, platform, size, created_at, updated_at, snapshot"

static char *
opt_str(br_arena *arena, sqlite3_stmt *st, int col)
{
	const char *s = br_db_text(st, col);

	return s[0] != '\0' ? br_arena_strdup(arena, s) : NULL;
}

static void
read_image_row(sqlite3_stmt *st, br_arena *arena, struct br_image *img)
{
	memset(img, 0, sizeof(*img));
	img->name = br_arena_strdup(arena, br_db_text(st, 0));
	img->target.media_type = opt_str(arena, st, 1);
	img->target.digest = br_arena_strdup(arena, br_db_text(st, 2));
	img->target.size = sqlite3_column_int64(st, 3);
	img->manifest_digest = opt_str(arena, st, 4);
	img->config_digest = opt_str(arena, st, 5);
	img->chain_id = opt_str(arena, st, 6);
	img->platform = opt_str(arena, st, 7);
	img->size = sqlite3_column_int64(st, 8);
	img->created_at = sqlite3_column_int64(st, 9);
	img->updated_at = sqlite3_column_int64(st, 10);
	/* Records from before layers had their own key space name the chain ID. */
	img->snapshot = opt_str(arena, st, 11);
	if (img->snapshot == NULL)
		img->snapshot = img->chain_id;
}

static int
read_labels(sqlite3 *db, const char *ns, br_arena *arena, struct br_image *img, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "SELECT key, value FROM image_labels WHERE namespace = ?1 AND name = ?2"
	                  " ORDER BY key",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, img->name, -1, SQLITE_STATIC);
	if (br_db_read_labels(db, st, arena, &img->labels, err) < 0)
		return br_err_wrap(err, "image \"%s\"", img->name);
	return 0;
}

int
imaged_store_get_image(sqlite3 *db, const char *ns, const char *name, br_arena *arena,
                       struct br_image *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_image img;

	if (br_db_prepare(db,
	                  "SELECT " IMAGE_COLUMNS " FROM images WHERE namespace = ?1 AND name = ?2",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return br_err_set(err, BR_NOT_FOUND, "image \"%s\": not found", name);
	if (rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "read image \"%s\"", name);
	read_image_row(st, arena, &img);
	if (read_labels(db, ns, arena, &img, err) < 0)
		return -1;
	*ret = img;
	return 0;
}

int
imaged_store_list_images(sqlite3 *db, const char *ns, const struct br_page_req *page,
                         br_arena *arena, struct br_image_list_resp *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	uint32_t size = br_page_size(page);
	struct br_image *items = br_arena_alloc(arena, (size + 1) * sizeof(*items));
	size_t n = 0, labels = 0;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT " IMAGE_COLUMNS " FROM images WHERE namespace = ?1 AND name > ?2"
	                  " ORDER BY name LIMIT ?3",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, page != NULL && page->token != NULL ? page->token : "", -1,
	                  SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)size + 1);
	memset(ret, 0, sizeof(*ret));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == size || labels >= BR_PAGE_LABELS_MAX) {
			ret->next_page_token = items[n - 1].name;
			break;
		}
		read_image_row(st, arena, &items[n]);
		if (read_labels(db, ns, arena, &items[n], err) < 0)
			return -1;
		labels += items[n].labels.n;
		n++;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "list images");
	ret->items.v = items;
	ret->items.n = n;
	return 0;
}

int
imaged_store_count_images(sqlite3 *db, const char *ns, int64_t *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db, "SELECT COUNT(*) FROM images WHERE namespace = ?", &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "count images");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

int
imaged_store_remove_image(sqlite3 *db, const char *ns, const char *name, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_image img;

	/* What the record was, for its event (NOT_FOUND if there is none); then the record,
	 * its labels with it. */
	if (imaged_store_get_image(db, ns, name, arena, &img, err) < 0 ||
	    br_db_prepare(db, "DELETE FROM images WHERE namespace = ?1 AND name = ?2", &st, err) <
	            0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (br_db_step_done(db, st, err, "remove image") < 0 ||
	    announce(db, ns, BR_TOPIC_IMAGE_DELETE, name, &img.target, &img.labels, err) < 0)
		return br_err_wrap(err, "image \"%s\"", name);
	return 0;
}

int
imaged_store_backfill_list(sqlite3 *db, br_arena *arena, struct imaged_backfill **ret,
                           size_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t n = 0, cap = 0;
	struct imaged_backfill *v = NULL;
	int rc;

	*ret = NULL;
	*ret_n = 0;
	if (br_db_prepare(db, "SELECT namespace, name FROM lease_backfill ORDER BY namespace, name",
	                  &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct imaged_backfill *nv = br_arena_alloc(arena, cap * sizeof(*nv));
			if (n > 0)
				memcpy(nv, v, n * sizeof(*nv));
			v = nv;
		}
		v[n].ns = br_arena_strdup(arena, br_db_text(st, 0));
		v[n].name = br_arena_strdup(arena, br_db_text(st, 1));
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list the records without leases");
	*ret = v;
	*ret_n = n;
	return 0;
}

int
imaged_store_backfill_done(sqlite3 *db, const char *ns, const char *name, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db, "DELETE FROM lease_backfill WHERE namespace = ?1 AND name = ?2", &st,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	return br_db_step_done(db, st, err, "image \"%s\": backfill", name);
}
