/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/db.c: migrations applied once and in one transaction each, reopening
 * keeps data and version, a newer schema is refused, the connection settings, BEGIN IMMEDIATE
 * taking the write lock at once, SQLite errors translated to Berth codes, and writing a table of
 * labels.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_CONTAINS(s, sub)                                                                         \
	do {                                                                                       \
		const char *t_s_ = (s), *t_sub_ = (sub);                                           \
		if (t_s_ == NULL || strstr(t_s_, t_sub_) == NULL)                                  \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_ ? t_s_ : "(null)", t_sub_); \
	} while (0)

static const struct br_db_migration migrations[] = {
        {1, "CREATE TABLE items (name TEXT PRIMARY KEY NOT NULL, size INTEGER NOT NULL);"
            "CREATE TABLE labels (name TEXT NOT NULL REFERENCES items(name), value TEXT);"},
        /* Not idempotent: applying it twice would fail on the primary key. */
        {2, "INSERT INTO items VALUES ('seed', 1);"},
        {3, "ALTER TABLE items ADD COLUMN note TEXT;"},
};

static char tmpdir[64];
static char dbpath[128];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-test-db-XXXXXX");
	T_NOT_NULL(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/meta.db", tmpdir);
}

static void
teardown(void)
{
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rm_rf_at(AT_FDCWD, tmpdir, &err), err);
}

static int64_t
query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_db_prepare(db, sql, &st, &err), err);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void
test_migrations_once(void)
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 2, &db, &err), err);
	T_EQ_INT(query_int(db, "PRAGMA user_version"), 2);
	T_EQ_INT(query_int(db, "SELECT count(*) FROM items"), 1);
	T_NOERR(br_db_exec(db, "INSERT INTO items VALUES ('mine', 7)", &err), err);
	br_db_close(db);

	/* Reopen: nothing applied again, data kept. */
	db = NULL;
	T_NOERR(br_db_open(dbpath, migrations, 2, &db, &err), err);
	T_EQ_INT(query_int(db, "PRAGMA user_version"), 2);
	T_EQ_INT(query_int(db, "SELECT count(*) FROM items"), 2);
	T_EQ_INT(query_int(db, "SELECT size FROM items WHERE name = 'mine'"), 7);
	br_db_close(db);

	/* A newer binary brings it forward. */
	db = NULL;
	T_NOERR(br_db_open(dbpath, migrations, 3, &db, &err), err);
	T_EQ_INT(query_int(db, "PRAGMA user_version"), 3);
	T_NOERR(br_db_exec(db, "UPDATE items SET note = 'n'", &err), err);
	br_db_close(db);
	br_db_close(NULL);
	teardown();
}

static void
test_newer_refused(void)
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 3, &db, &err), err);
	br_db_close(db);
	db = NULL;
	T_ERR(br_db_open(dbpath, migrations, 2, &db, &err), err, BR_FAILED_PRECONDITION);
	T_NULL(db);
	T_CONTAINS(err.msg, dbpath);
	T_CONTAINS(err.msg, "schema version 3 is newer than this program's 2");
	teardown();
}

static void
test_failed_migration_rolls_back(void)
{
	static const struct br_db_migration broken[] = {
	        {1, "CREATE TABLE a (x);"},
	        {2, "CREATE TABLE b (x); INSERT INTO nowhere VALUES (1);"},
	};
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_ERR(br_db_open(dbpath, broken, 2, &db, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, "migration 2");
	T_CONTAINS(err.msg, "no such table: nowhere");
	T_NOERR(br_db_open(dbpath, broken, 1, &db, &err), err);
	T_EQ_INT(query_int(db, "PRAGMA user_version"), 1);
	T_EQ_INT(query_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'b'"), 0);
	br_db_close(db);

	static const struct br_db_migration misnumbered[] = {{1, "SELECT 1"}, {3, "SELECT 1"}};
	T_ERR(br_db_open(dbpath, misnumbered, 2, &db, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, "migration 2 is numbered 3");
	teardown();
}

static void
test_settings(void)
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 1, &db, &err), err);
	sqlite3_stmt *st = NULL;
	T_NOERR(br_db_prepare(db, "PRAGMA journal_mode", &st, &err), err);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	T_EQ_STR(br_db_text(st, 0), "wal");
	sqlite3_finalize(st);
	T_EQ_INT(query_int(db, "PRAGMA foreign_keys"), 1);
	T_EQ_INT(query_int(db, "PRAGMA synchronous"), 2); /* FULL */

	T_NOERR(br_db_prepare(db, "SELECT NULL", &st, &err), err);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	T_EQ_STR(br_db_text(st, 0), "");
	sqlite3_finalize(st);

	T_ERR(br_db_prepare(db, "SELEC 1", &st, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, "prepare \"SELEC 1\"");
	T_CONTAINS(err.msg, "syntax error");

	int64_t now = br_db_now();
	T_OK(now > (int64_t)time(NULL) * 1000 - 5000 && now < (int64_t)time(NULL) * 1000 + 5000);
	br_db_close(db);
	teardown();
}

static void
test_begin_immediate(void)
{
	sqlite3 *a = NULL, *b = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 2, &a, &err), err);
	T_NOERR(br_db_open(dbpath, migrations, 2, &b, &err), err);
	sqlite3_busy_timeout(b, 50);

	/* An immediate transaction holds the write lock before it writes anything. */
	T_NOERR(br_db_begin(a, &err), err);
	T_EQ_INT(sqlite3_txn_state(a, NULL), SQLITE_TXN_WRITE);
	T_ERR(br_db_begin(b, &err), err, BR_UNAVAILABLE);
	T_CONTAINS(err.msg, "begin transaction: database is locked");
	/* Readers are not blocked (WAL). */
	T_EQ_INT(query_int(b, "SELECT count(*) FROM items"), 1);

	T_NOERR(br_db_exec(a, "INSERT INTO items VALUES ('x', 2)", &err), err);
	T_NOERR(br_db_commit(a, &err), err);
	T_EQ_INT(sqlite3_txn_state(a, NULL), SQLITE_TXN_NONE);

	T_NOERR(br_db_begin(b, &err), err);
	T_NOERR(br_db_exec(b, "INSERT INTO items VALUES ('y', 3)", &err), err);
	br_db_rollback(b);
	br_db_rollback(b); /* no transaction: harmless */
	T_EQ_INT(query_int(a, "SELECT count(*) FROM items"), 2);

	br_db_close(a);
	br_db_close(b);
	teardown();
}

static void
test_error_translation(void)
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 2, &db, &err), err);
	T_ERR(br_db_exec(db, "INSERT INTO items VALUES ('seed', 9)", &err), err, BR_ALREADY_EXISTS);
	T_CONTAINS(err.msg, "UNIQUE constraint failed: items.name");

	sqlite3_stmt *st = NULL;
	T_NOERR(br_db_prepare(db, "INSERT INTO items VALUES (?, 1)", &st, &err), err);
	sqlite3_bind_text(st, 1, "seed", -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	T_EQ_INT(br_db_error(db, rc, &err, "item \"%s\"", "seed"), -1);
	T_EQ_INT(err.code, BR_ALREADY_EXISTS);
	T_EQ_STR(err.msg, "item \"seed\": UNIQUE constraint failed: items.name");
	sqlite3_finalize(st);

	T_ERR(br_db_exec(db, "INSERT INTO labels VALUES ('ghost', 'v')", &err), err,
	      BR_FAILED_PRECONDITION);
	T_CONTAINS(err.msg, "FOREIGN KEY constraint failed");

	/* An rc that is not the connection's last error still gets a message. */
	br_db_error(db, SQLITE_FULL, &err, "write");
	T_EQ_INT(err.code, BR_RESOURCE_EXHAUSTED);
	T_EQ_STR(err.msg, "write: database or disk is full");
	br_db_error(db, SQLITE_BUSY, &err, "x");
	T_EQ_INT(err.code, BR_UNAVAILABLE);
	br_db_error(db, SQLITE_CORRUPT, &err, "x");
	T_EQ_INT(err.code, BR_INTERNAL);
	br_db_close(db);
	teardown();
}

static void
test_not_a_database(void)
{
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;

	setup();
	int fd = open(dbpath, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	T_OK(fd >= 0);
	char junk[4096];
	memset(junk, 'j', sizeof(junk));
	T_EQ_INT(write(fd, junk, sizeof(junk)), (long long)sizeof(junk));
	close(fd);
	T_ERR(br_db_open(dbpath, migrations, 1, &db, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, dbpath);
	T_CONTAINS(err.msg, "not a database");
	T_NULL(db);

	char missing_dir[256];
	snprintf(missing_dir, sizeof(missing_dir), "%s/no/such/meta.db", tmpdir);
	T_ERR(br_db_open(missing_dir, migrations, 1, &db, &err), err, BR_INTERNAL);
	T_CONTAINS(err.msg, "unable to open database file");
	teardown();
}

/* Read the labels of `owner` in table `table` back, sorted by key. */
static struct br_strmap
read_back(sqlite3 *db, const char *table, const char *owner, br_arena *arena)
{
	_cleanup_free_ char *sql =
	        xasprintf("SELECT key, value FROM %s WHERE owner = ? ORDER BY key", table);
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	struct br_strmap m = {0};
	br_err err = BR_ERR_INIT;

	T_NOERR(br_db_prepare(db, sql, &st, &err), err);
	sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
	T_NOERR(br_db_read_labels(db, st, arena, &m, &err), err);
	return m;
}

static void
test_write_labels(void)
{
	static const char *keys[] = {"a", "b", "c"};
	static const char *values[] = {"1", "", "three"};
	const struct br_strmap three = {keys, values, 3};
	const struct br_strmap none = {0};
	sqlite3 *db = NULL;
	br_err err = BR_ERR_INIT;
	br_arena *arena = br_arena_new();

	setup();
	T_NOERR(br_db_open(dbpath, migrations, 1, &db, &err), err);
	T_NOERR(br_db_exec(db,
	                   "CREATE TABLE tags (owner TEXT NOT NULL, key TEXT NOT NULL,"
	                   " value TEXT NOT NULL, PRIMARY KEY (owner, key));"
	                   "CREATE TABLE tags_last (key TEXT NOT NULL, value TEXT NOT NULL,"
	                   " owner TEXT NOT NULL, PRIMARY KEY (owner, key));",
	                   &err),
	        err);

	/* The owner is bound once; the helper binds key and value after it. */
	{
		_cleanup_stmt_ sqlite3_stmt *ins = NULL;
		T_NOERR(br_db_prepare(db, "INSERT INTO tags (owner, key, value) VALUES (?, ?, ?)",
		                      &ins, &err),
		        err);
		sqlite3_bind_text(ins, 1, "x", -1, SQLITE_STATIC);
		T_NOERR(br_db_write_labels(db, ins, 2, &three, &err), err);
		/* Left reset: another owner needs only its own binding. */
		sqlite3_bind_text(ins, 1, "y", -1, SQLITE_STATIC);
		T_NOERR(br_db_write_labels(db, ins, 2, &three, &err), err);
		/* Nothing to write is not an error and writes nothing. */
		sqlite3_bind_text(ins, 1, "z", -1, SQLITE_STATIC);
		T_NOERR(br_db_write_labels(db, ins, 2, &none, &err), err);
		T_NOERR(br_db_write_labels(db, ins, 2, NULL, &err), err);

		/* A key already there: the code of the constraint, the key in the message. */
		sqlite3_bind_text(ins, 1, "x", -1, SQLITE_STATIC);
		T_ERR(br_db_write_labels(db, ins, 2, &three, &err), err, BR_ALREADY_EXISTS);
		T_EQ_STR(err.msg, "label \"a\": UNIQUE constraint failed: tags.owner, tags.key");
	}
	struct br_strmap m = read_back(db, "tags", "x", arena);
	T_EQ_INT(m.n, 3);
	for (size_t i = 0; i < m.n && i < 3; i++) {
		T_EQ_STR(m.keys[i], keys[i]);
		T_EQ_STR(m.values[i], values[i]);
	}
	T_EQ_INT(read_back(db, "tags", "y", arena).n, 3);
	T_EQ_INT(query_int(db, "SELECT count(*) FROM tags"), 6);

	/* Key and value anywhere in the statement; OR REPLACE overwrites. */
	{
		static const char *new_values[] = {"one", "two", "3"};
		const struct br_strmap changed = {keys, new_values, 3};
		_cleanup_stmt_ sqlite3_stmt *ins = NULL;
		T_NOERR(br_db_prepare(db,
		                      "INSERT OR REPLACE INTO tags_last (key, value, owner)"
		                      " VALUES (?1, ?2, ?3)",
		                      &ins, &err),
		        err);
		sqlite3_bind_text(ins, 3, "x", -1, SQLITE_STATIC);
		T_NOERR(br_db_write_labels(db, ins, 1, &three, &err), err);
		T_NOERR(br_db_write_labels(db, ins, 1, &changed, &err), err);
		m = read_back(db, "tags_last", "x", arena);
		T_EQ_INT(m.n, 3);
		for (size_t i = 0; i < m.n && i < 3; i++) {
			T_EQ_STR(m.keys[i], keys[i]);
			T_EQ_STR(m.values[i], new_values[i]);
		}
	}

	br_arena_free(arena);
	br_db_close(db);
	teardown();
}

T_MAIN(T_CASE(test_migrations_once), T_CASE(test_newer_refused),
       T_CASE(test_failed_migration_rolls_back), T_CASE(test_settings),
       T_CASE(test_begin_immediate), T_CASE(test_error_translation), T_CASE(test_not_a_database),
       T_CASE(test_write_labels))
