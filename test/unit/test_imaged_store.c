/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database of berth-imaged (imaged/store.c): image records by namespace, replacement
 * keeping created_at, labels, removal, and the journal of scratch resources.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/db.h"
#include "imaged/store.h"
#include "test/unit/t.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static sqlite3 *
open_db(char dir[64])
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;
	char path[128];

	snprintf(dir, 64, "/tmp/berth-test-imaged-store-XXXXXX");
	T_NOT_NULL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	T_NOERR(imaged_store_open(path, &db, &err), err);
	return db;
}

static void
close_db(sqlite3 *db, const char *dir)
{
	char cmd[128];
	br_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_OK(system(cmd) == 0);
}

static struct br_image
image(const char *name, const char *digest)
{
	struct br_image img = {
	        .name = name,
	        .target = {.media_type = "application/vnd.oci.image.manifest.v1+json",
	                   .digest = digest,
	                   .size = 500},
	        .manifest_digest = digest,
	        .config_digest = D2,
	        .chain_id = D1,
	        .platform = "linux/amd64",
	        .size = 1234,
	};
	return img;
}

static void
test_images(void)
{
	char dir[64];
	sqlite3 *db = open_db(dir);
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_image img = image("docker.io/library/a:latest", D1), got;
	struct br_image_list_resp list;

	T_NOERR(imaged_store_put_image(db, "default", &img, &err), err);
	img.name = "docker.io/library/b:latest";
	T_NOERR(imaged_store_put_image(db, "default", &img, &err), err);
	T_NOERR(imaged_store_put_image(db, "other", &img, &err), err);

	T_NOERR(imaged_store_get_image(db, "default", "docker.io/library/a:latest", arena, &got,
	                               &err),
	        err);
	T_EQ_STR(got.target.digest, D1);
	T_EQ_STR(got.target.media_type, "application/vnd.oci.image.manifest.v1+json");
	T_EQ_INT(got.target.size, 500);
	T_EQ_STR(got.config_digest, D2);
	T_EQ_STR(got.chain_id, D1);
	T_EQ_STR(got.platform, "linux/amd64");
	T_EQ_INT(got.size, 1234);
	T_OK(got.created_at > 0 && got.created_at == got.updated_at);
	int64_t created = got.created_at;

	T_NOERR(imaged_store_list_images(db, "default", arena, &list, &err), err);
	T_EQ_INT(list.items.n, 2);
	T_EQ_STR(((struct br_image *)list.items.v)[0].name, "docker.io/library/a:latest");
	T_NOERR(imaged_store_list_images(db, "nobody", arena, &list, &err), err);
	T_EQ_INT(list.items.n, 0);

	/* replacing keeps created_at, moves updated_at and the target */
	usleep(5000);
	struct br_image again = image("docker.io/library/a:latest", D2);
	const char *keys[] = {"k1", "k2"}, *values[] = {"v1", "v2"};
	again.labels = (struct br_strmap){keys, values, 2};
	T_NOERR(imaged_store_put_image(db, "default", &again, &err), err);
	T_NOERR(imaged_store_get_image(db, "default", "docker.io/library/a:latest", arena, &got,
	                               &err),
	        err);
	T_EQ_STR(got.target.digest, D2);
	T_EQ_INT(got.created_at, created);
	T_OK(got.updated_at > created);
	T_EQ_INT(got.labels.n, 2);
	T_EQ_STR(got.labels.keys[1], "k2");
	T_EQ_STR(got.labels.values[1], "v2");

	T_NOERR(imaged_store_remove_image(db, "default", "docker.io/library/a:latest", &err), err);
	T_ERR(imaged_store_get_image(db, "default", "docker.io/library/a:latest", arena, &got,
	                             &err),
	      err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "image \"docker.io/library/a:latest\": not found");
	T_ERR(imaged_store_remove_image(db, "default", "docker.io/library/a:latest", &err), err,
	      BR_NOT_FOUND);
	/* the other namespace still has its b */
	T_NOERR(imaged_store_get_image(db, "other", "docker.io/library/b:latest", arena, &got,
	                               &err),
	        err);
	br_arena_free(arena);
	close_db(db, dir);
}

static void
test_journal(void)
{
	char dir[64];
	sqlite3 *db = open_db(dir);
	br_err err = BR_ERR_INIT;
	struct imaged_pending *v = NULL;
	size_t n = 0;

	T_NOERR(imaged_store_pending_add(db, IMAGED_PENDING_SNAPSHOT, "default", "extract-1", &err),
	        err);
	T_NOERR(imaged_store_pending_add(db, IMAGED_PENDING_INGEST, "ns2", "imaged-x-y", &err),
	        err);
	T_NOERR(imaged_store_pending_add(db, IMAGED_PENDING_INGEST, "ns2", "imaged-x-y", &err),
	        err);
	T_NOERR(imaged_store_pending_list(db, &v, &n, &err), err);
	T_EQ_INT(n, 2);
	T_EQ_STR(v[0].kind, IMAGED_PENDING_SNAPSHOT);
	T_EQ_STR(v[0].name, "extract-1");
	T_EQ_STR(v[1].ns, "ns2");
	imaged_pending_free(v, n);

	T_NOERR(imaged_store_pending_remove(db, IMAGED_PENDING_SNAPSHOT, "default", "extract-1",
	                                    &err),
	        err);
	T_NOERR(imaged_store_pending_remove(db, IMAGED_PENDING_SNAPSHOT, "default", "extract-1",
	                                    &err),
	        err);
	T_NOERR(imaged_store_pending_list(db, &v, &n, &err), err);
	T_EQ_INT(n, 1);
	imaged_pending_free(v, n);
	close_db(db, dir);
}

T_MAIN(T_CASE(test_images), T_CASE(test_journal))
