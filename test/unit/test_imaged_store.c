/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The database of berth-imaged (imaged/store.c): image records by namespace, replacement
 * keeping created_at, labels, removal, paging over 10,000 records, the migration from the
 * schema that had a journal of scratch resources, and the events of the records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/db.h"
#include "imaged/store.h"
#include "test/unit/t.h"
#include "test/unit/t_events.h"

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

	T_NOERR(imaged_store_list_images(db, "default", NULL, arena, &list, &err), err);
	T_EQ_INT(list.items.n, 2);
	T_NULL(list.next_page_token);
	T_EQ_STR(((struct br_image *)list.items.v)[0].name, "docker.io/library/a:latest");
	T_NOERR(imaged_store_list_images(db, "nobody", NULL, arena, &list, &err), err);
	T_EQ_INT(list.items.n, 0);
	/* a record stored without a snapshot key names its chain ID's */
	T_EQ_STR(got.snapshot, D1);

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
test_snapshot_key(void)
{
	char dir[64];
	sqlite3 *db = open_db(dir);
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_image img = image("docker.io/library/a:latest", D1), got;

	img.snapshot = "berth.layer." D1;
	T_NOERR(imaged_store_put_image(db, "default", &img, &err), err);
	T_NOERR(imaged_store_get_image(db, "default", img.name, arena, &got, &err), err);
	T_EQ_STR(got.snapshot, "berth.layer." D1);
	T_EQ_STR(got.chain_id, D1);
	br_arena_free(arena);
	close_db(db, dir);
}

/* 10,000 records come back page by page, each once, in order. */
static void
test_pages(void)
{
	char dir[64];
	sqlite3 *db = open_db(dir);
	br_err err = BR_ERR_INIT;
	char name[64];
	size_t seen = 0;

	T_NOERR(br_db_begin(db, &err), err);
	for (int i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "docker.io/library/i%05d:latest", i);
		struct br_image img = image(name, D1);
		T_NOERR(imaged_store_put_image(db, "default", &img, &err), err);
	}
	T_NOERR(br_db_commit(db, &err), err);
	struct br_page_req page = {.size = 333};
	char token[128] = "";
	for (int pages = 0;; pages++) {
		br_arena *arena = br_arena_new();
		struct br_image_list_resp list;
		page.token = token[0] ? token : NULL;
		T_NOERR(imaged_store_list_images(db, "default", &page, arena, &list, &err), err);
		T_OK(list.items.n <= 333);
		for (size_t i = 0; i < list.items.n; i++) {
			snprintf(name, sizeof(name), "docker.io/library/i%05zu:latest", seen++);
			T_EQ_STR(((struct br_image *)list.items.v)[i].name, name);
		}
		bool last = list.next_page_token == NULL;
		if (!last)
			snprintf(token, sizeof(token), "%s", list.next_page_token);
		br_arena_free(arena);
		T_OK(pages < 100);
		if (last)
			break;
	}
	T_EQ_INT(seen, 10000);
	close_db(db, dir);
}

/* A database written by the first schema (with the journal table) opens, keeps its records
 * and lists them for their leases. */
static void
test_migration(void)
{
	char dir[64], path[128];
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;
	static const struct br_db_migration v1[] = {
	        {1,
	         "CREATE TABLE images (namespace TEXT NOT NULL, name TEXT NOT NULL,"
	         " target_media_type TEXT NOT NULL, target_digest TEXT NOT NULL,"
	         " target_size INTEGER NOT NULL, manifest_digest TEXT NOT NULL,"
	         " config_digest TEXT NOT NULL, chain_id TEXT NOT NULL, platform TEXT NOT NULL,"
	         " size INTEGER NOT NULL, created_at INTEGER NOT NULL,"
	         " updated_at INTEGER NOT NULL, PRIMARY KEY (namespace, name));"
	         "CREATE TABLE image_labels (namespace TEXT NOT NULL, name TEXT NOT NULL,"
	         " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, name, key),"
	         " FOREIGN KEY (namespace, name) REFERENCES images (namespace, name)"
	         " ON DELETE CASCADE ON UPDATE CASCADE);"
	         "CREATE TABLE pending (kind TEXT NOT NULL, namespace TEXT NOT NULL,"
	         " name TEXT NOT NULL, created_at INTEGER NOT NULL,"
	         " PRIMARY KEY (kind, namespace, name));"
	         "INSERT INTO images VALUES ('default', 'docker.io/library/old:latest', 'mt', '" D1
	         "', 1, '" D1 "', '" D2 "', '" D1 "', 'linux/amd64', 5, 1, 1);"},
	};

	snprintf(dir, sizeof(dir), "/tmp/berth-test-imaged-store-XXXXXX");
	T_NOT_NULL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/meta.db", dir);
	T_NOERR(br_db_open(path, v1, 1, &db, &err), err);
	br_db_close(db);
	T_NOERR(imaged_store_open(path, &db, &err), err);
	br_arena *arena = br_arena_new();
	struct br_image got;
	T_NOERR(imaged_store_get_image(db, "default", "docker.io/library/old:latest", arena, &got,
	                               &err),
	        err);
	T_EQ_STR(got.snapshot, D1);
	/* it is listed for its leases until a record of it is written again */
	struct imaged_backfill *todo;
	size_t n;
	T_NOERR(imaged_store_backfill_list(db, arena, &todo, &n, &err), err);
	T_EQ_INT(n, 1);
	T_EQ_STR(todo[0].ns, "default");
	T_EQ_STR(todo[0].name, "docker.io/library/old:latest");
	T_NOERR(imaged_store_put_image(db, "default", &got, &err), err);
	T_NOERR(imaged_store_backfill_list(db, arena, &todo, &n, &err), err);
	T_EQ_INT(n, 0);
	br_arena_free(arena);
	close_db(db, dir);
}

/* A new name is /images/create, another target under it /images/update, the same image
 * written again nothing, a removal /images/delete with what the name pointed to; each in the
 * record's namespace, with the target and the labels. */
static void
test_image_events(void)
{
	char dir[64];
	sqlite3 *db = open_db(dir);
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_image img = image("docker.io/library/a:latest", D1);
	const char *keys[] = {"k"}, *values[] = {"v"};
	struct t_event *ev;
	struct br_event_image p;

	T_NOERR(imaged_store_put_image(db, "other", &img, &err), err);
	T_NOERR(imaged_store_put_image(db, "other", &img, &err), err); /* a pull of the same */
	img.target.digest = img.manifest_digest = D2;
	img.labels = (struct br_strmap){keys, values, 1};
	T_NOERR(imaged_store_put_image(db, "other", &img, &err), err);
	T_NOERR(imaged_store_remove_image(db, "other", img.name, &err), err);
	T_ERR(imaged_store_remove_image(db, "other", img.name, &err), err, BR_NOT_FOUND);

	T_EQ_INT(t_events_read(db, NULL, arena, &ev), 3);
	static const char *const topics[] = {BR_TOPIC_IMAGE_CREATE, BR_TOPIC_IMAGE_UPDATE,
	                                     BR_TOPIC_IMAGE_DELETE};
	for (size_t i = 0; i < 3; i++) {
		T_EQ_STR(ev[i].topic, topics[i]);
		T_EQ_STR(ev[i].ns, "other");
		t_event_decode(&ev[i], &br_event_image_schema, arena, &p);
		T_EQ_STR(p.name, "docker.io/library/a:latest");
		T_EQ_STR(p.target.digest, i == 0 ? D1 : D2);
		T_EQ_STR(p.target.media_type, "application/vnd.oci.image.manifest.v1+json");
		T_EQ_INT(p.target.size, 500);
		T_EQ_INT(p.labels.n, i == 0 ? 0 : 1);
	}
	T_EQ_STR(p.labels.keys[0], "k");
	T_EQ_STR(p.labels.values[0], "v");
	br_arena_free(arena);
	close_db(db, dir);
}

T_MAIN(T_CASE(test_images), T_CASE(test_snapshot_key), T_CASE(test_pages), T_CASE(test_migration),
       T_CASE(test_image_events))
