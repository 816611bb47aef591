/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite tables of berth-imaged (store.h): images(namespace, name, target, manifest, config,
 * chain, platform, size, times), image_labels, and the pending journal of scratch resources
 * jobs create in the peers. Writes are single short BEGIN IMMEDIATE transactions.
 */
#include "imaged/store.h"

#include <string.h>

#include "common/cleanup.h"
#include "common/db.h"
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
};

BR_DEFINE_CLEANUP(sqlite3_stmt, sqlite3_finalize)
#define _cleanup_stmt_ _cleanup_(sqlite3_finalizep)

int
imaged_store_open(const char *path, sqlite3 **ret, br_err *err)
{
	return br_db_open(path, migrations, sizeof(migrations) / sizeof(migrations[0]), ret, err);
}

static int
step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, br_err *err)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "%s", what);
	return 0;
}

static int
put_image_tx(sqlite3 *db, const char *ns, const struct br_image *img, int64_t now, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *del = NULL;
	_cleanup_stmt_ sqlite3_stmt *lab = NULL;

	if (br_db_prepare(
	            db,
	            "INSERT INTO images (namespace, name, target_media_type, target_digest,"
	            " target_size, manifest_digest, config_digest, chain_id, platform, size,"
	            " created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
	            " ?11, ?11) ON CONFLICT (namespace, name) DO UPDATE SET"
	            " target_media_type = ?3, target_digest = ?4, target_size = ?5,"
	            " manifest_digest = ?6, config_digest = ?7, chain_id = ?8, platform = ?9,"
	            " size = ?10, updated_at = ?11",
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
	if (step_done(db, st, "insert image", err) < 0)
		return -1;

	if (br_db_prepare(db, "DELETE FROM image_labels WHERE namespace = ?1 AND name = ?2", &del,
	                  err) < 0)
		return -1;
	sqlite3_bind_text(del, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(del, 2, img->name, -1, SQLITE_STATIC);
	if (step_done(db, del, "replace image labels", err) < 0)
		return -1;
	if (img->labels.n == 0)
		return 0;
	if (br_db_prepare(db,
	                  "INSERT INTO image_labels (namespace, name, key, value)"
	                  " VALUES (?1, ?2, ?3, ?4)",
	                  &lab, err) < 0)
		return -1;
	for (size_t i = 0; i < img->labels.n; i++) {
		sqlite3_reset(lab);
		sqlite3_bind_text(lab, 1, ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(lab, 2, img->name, -1, SQLITE_STATIC);
		sqlite3_bind_text(lab, 3, img->labels.keys[i], -1, SQLITE_STATIC);
		sqlite3_bind_text(lab, 4, img->labels.values[i], -1, SQLITE_STATIC);
		if (step_done(db, lab, "insert image label", err) < 0)
			return -1;
	}
	return 0;
}

int
imaged_store_put_image(sqlite3 *db, const char *ns, const struct br_image *img, br_err *err)
{
	if (br_db_begin(db, err) < 0)
		return br_err_wrap(err, "store image \"%s\"", img->name);
	if (put_image_tx(db, ns, img, br_db_now(), err) < 0) {
		br_db_rollback(db);
		return br_err_wrap(err, "store image \"%s\"", img->name);
	}
	if (br_db_commit(db, err) < 0)
		return br_err_wrap(err, "store image \"%s\"", img->name);
	return 0;
}

#define IMAGE_COLUMNS                                                                          \
	"name, target_media_type, target_digest, target_size, manifest_digest, config_digest," \
	" chain_id, platform, size, created_at, updated_at"

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
}

static int
read_labels(sqlite3 *db, const char *ns, br_arena *arena, struct br_image *img, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT key, value FROM image_labels WHERE namespace = ?1 AND name = ?2"
	                  " ORDER BY key",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, img->name, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (img->labels.n == cap) {
			cap = cap ? cap * 2 : 8;
			const char **k = br_arena_alloc(arena, cap * sizeof(char *));
			const char **v = br_arena_alloc(arena, cap * sizeof(char *));
			if (img->labels.n > 0) {
				memcpy(k, img->labels.keys, img->labels.n * sizeof(char *));
				memcpy(v, img->labels.values, img->labels.n * sizeof(char *));
			}
			img->labels.keys = k;
			img->labels.values = v;
		}
		img->labels.keys[img->labels.n] = br_arena_strdup(arena, br_db_text(st, 0));
		img->labels.values[img->labels.n] = br_arena_strdup(arena, br_db_text(st, 1));
		img->labels.n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "read labels of image \"%s\"", img->name);
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
imaged_store_list_images(sqlite3 *db, const char *ns, br_arena *arena,
                         struct br_image_list_resp *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_image *items = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (br_db_prepare(db,
	                  "SELECT " IMAGE_COLUMNS " FROM images WHERE namespace = ?1 ORDER BY name",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			struct br_image *grown = br_arena_alloc(arena, cap * sizeof(*grown));
			if (n > 0)
				memcpy(grown, items, n * sizeof(*grown));
			items = grown;
		}
		read_image_row(st, arena, &items[n]);
		if (read_labels(db, ns, arena, &items[n], err) < 0)
			return -1;
		n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "list images");
	ret->items.v = items;
	ret->items.n = n;
	return 0;
}

int
imaged_store_remove_image(sqlite3 *db, const char *ns, const char *name, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db, "DELETE FROM images WHERE namespace = ?1 AND name = ?2", &st, err) <
	    0)
		return -1;
	sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	if (step_done(db, st, "remove image", err) < 0)
		return br_err_wrap(err, "image \"%s\"", name);
	if (sqlite3_changes(db) == 0)
		return br_err_set(err, BR_NOT_FOUND, "image \"%s\": not found", name);
	return 0;
}

int
imaged_store_pending_add(sqlite3 *db, const char *kind, const char *ns, const char *name,
                         br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "INSERT OR IGNORE INTO pending (kind, namespace, name, created_at)"
	                  " VALUES (?1, ?2, ?3, ?4)",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, br_db_now());
	if (step_done(db, st, "journal", err) < 0)
		return br_err_wrap(err, "record %s \"%s\"", kind, name);
	return 0;
}

int
imaged_store_pending_remove(sqlite3 *db, const char *kind, const char *ns, const char *name,
                            br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db,
	                  "DELETE FROM pending WHERE kind = ?1 AND namespace = ?2 AND name = ?3",
	                  &st, err) < 0)
		return -1;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
	if (step_done(db, st, "journal", err) < 0)
		return br_err_wrap(err, "forget %s \"%s\"", kind, name);
	return 0;
}

int
imaged_store_pending_list(sqlite3 *db, struct imaged_pending **ret, size_t *ret_n, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct imaged_pending *v = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if (br_db_prepare(db, "SELECT kind, namespace, name FROM pending ORDER BY created_at", &st,
	                  err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n].kind = xstrdup(br_db_text(st, 0));
		v[n].ns = xstrdup(br_db_text(st, 1));
		v[n].name = xstrdup(br_db_text(st, 2));
		n++;
	}
	if (rc != SQLITE_DONE) {
		imaged_pending_free(v, n);
		return br_db_error(db, rc, err, "read the journal");
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

void
imaged_pending_free(struct imaged_pending *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].kind);
		free(v[i].ns);
		free(v[i].name);
	}
	free(v);
}
