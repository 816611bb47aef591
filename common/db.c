/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite for the daemons: opening a database with the settings every daemon wants (WAL,
 * busy timeout, foreign keys, synchronous=FULL), numbered schema migrations tracked in
 * PRAGMA user_version, write transactions that always start with BEGIN IMMEDIATE, reading and
 * writing the (key, value) rows of a table of labels, and the one place where SQLite's result
 * codes become Berth error codes.
 */
#include "common/db.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

#define BUSY_TIMEOUT_MS 5000

static br_code
code_of(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		/* A missing or still-referenced row is a precondition, not a duplicate. */
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return BR_FAILED_PRECONDITION;
		return BR_ALREADY_EXISTS;
	case SQLITE_FULL:
	case SQLITE_NOMEM:
		return BR_RESOURCE_EXHAUSTED;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return BR_UNAVAILABLE;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return BR_PERMISSION_DENIED;
	default:
		return BR_INTERNAL;
	}
}

/* See db.h. The message is SQLite's own for the connection's last error when that error is
 * `rc`, else the generic text of `rc`. Returns -1. Thread of the connection. */
int
br_db_error(sqlite3 *db, int rc, br_err *err, const char *fmt, ...)
{
	char context[512];
	va_list ap;
	const char *msg;

	va_start(ap, fmt);
	vsnprintf(context, sizeof(context), fmt, ap);
	va_end(ap);
	if (db != NULL && (sqlite3_extended_errcode(db) == rc || sqlite3_errcode(db) == rc))
		msg = sqlite3_errmsg(db);
	else
		msg = sqlite3_errstr(rc);
	return br_err_set(err, code_of(rc), "%s: %s", context, msg);
}

/* Run SQL that returns no rows we care about. Thread of the connection. */
int
br_db_exec(sqlite3 *db, const char *sql, br_err *err)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return br_db_error(db, rc, err, "database");
	return 0;
}

int
br_db_begin(sqlite3 *db, br_err *err)
{
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc != SQLITE_OK)
		return br_db_error(db, rc, err, "begin transaction");
	return 0;
}

/* COMMIT. When it fails the transaction is rolled back, so the caller has nothing to undo. */
int
br_db_commit(sqlite3 *db, br_err *err)
{
	int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		br_db_error(db, rc, err, "commit");
		br_db_rollback(db);
		return -1;
	}
	return 0;
}

void
br_db_rollback(sqlite3 *db)
{
	if (db != NULL && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* Prepare one statement; the caller finalizes *ret. INTERNAL for SQL errors (a bug). */
int
br_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, br_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK) {
		sqlite3_finalize(st);
		return br_db_error(db, rc, err, "prepare \"%.60s%s\"", sql,
		                   strlen(sql) > 60 ? "..." : "");
	}
	*ret = st;
	return 0;
}

int
br_db_step_done(sqlite3 *db, sqlite3_stmt *st, br_err *err, const char *fmt, ...)
{
	char what[256];
	va_list ap;
	int rc = sqlite3_step(st);

	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return 0;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return br_db_error(db, rc, err, "%s", what);
}

int
br_db_read_labels(sqlite3 *db, sqlite3_stmt *st, br_arena *arena, struct br_strmap *ret,
                  br_err *err)
{
	struct br_strmap m = {0};
	size_t cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (m.n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			const char **k = br_arena_alloc(arena, ncap * sizeof(*k));
			const char **v = br_arena_alloc(arena, ncap * sizeof(*v));
			if (m.n > 0) {
				memcpy(k, m.keys, m.n * sizeof(*k));
				memcpy(v, m.values, m.n * sizeof(*v));
			}
			m.keys = k;
			m.values = v;
			cap = ncap;
		}
		m.keys[m.n] = br_arena_strdup(arena, br_db_text(st, 0));
		m.values[m.n] = br_arena_strdup(arena, br_db_text(st, 1));
		m.n++;
	}
	if (rc != SQLITE_DONE)
		return br_db_error(db, rc, err, "read labels");
	*ret = m;
	return 0;
}

int
br_db_write_labels(sqlite3 *db, sqlite3_stmt *insert, int key_param, const struct br_strmap *labels,
                   br_err *err)
{
	assert(key_param >= 1 && key_param < sqlite3_bind_parameter_count(insert));
	for (size_t i = 0; labels != NULL && i < labels->n; i++) {
		const char *key = labels->keys[i];
		int rc;

		sqlite3_reset(insert);
		rc = sqlite3_bind_text(insert, key_param, key, -1, SQLITE_STATIC);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_text(insert, key_param + 1, labels->values[i], -1,
			                       SQLITE_STATIC);
		if (rc != SQLITE_OK)
			return br_db_error(db, rc, err, "label \"%s\"", key);
		if (br_db_step_done(db, insert, err, "label \"%s\"", key) < 0)
			return -1;
	}
	/* Ready for the caller to bind the next owner. */
	sqlite3_reset(insert);
	return 0;
}

const char *
br_db_text(sqlite3_stmt *st, int col)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	return s ? (const char *)s : "";
}

int64_t
br_db_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
user_version(sqlite3 *db, int *ret, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	if (br_db_prepare(db, "PRAGMA user_version", &st, err) < 0)
		return -1;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "read schema version");
	*ret = sqlite3_column_int(st, 0);
	return 0;
}

/* Apply migration m unless the schema already has it, in one IMMEDIATE transaction. */
static int
apply_migration(sqlite3 *db, const struct br_db_migration *m, br_err *err)
{
	int version;

	if (br_db_begin(db, err) < 0)
		return -1;
	if (user_version(db, &version, err) < 0)
		goto rollback;
	if (version >= m->version)
		return br_db_commit(db, err);
	if (br_db_exec(db, m->sql, err) < 0)
		goto rollback;
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", m->version);
	if (br_db_exec(db, pragma, err) < 0)
		goto rollback;
	return br_db_commit(db, err);
rollback:
	br_db_rollback(db);
	return -1;
}

/* Its own function so that the statement is finalized before configure() goes on. */
static int
set_wal(sqlite3 *db, br_err *err)
{
	_cleanup_stmt_ sqlite3_stmt *st = NULL;

	/* journal_mode answers with the mode in force, which must be WAL. */
	if (br_db_prepare(db, "PRAGMA journal_mode = WAL", &st, err) < 0)
		return -1;
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		return br_db_error(db, rc, err, "set WAL mode");
	if (strcmp(br_db_text(st, 0), "wal") != 0)
		return br_err_set(err, BR_FAILED_PRECONDITION, "WAL mode is not available");
	return 0;
}

static int
configure(sqlite3 *db, br_err *err)
{
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (set_wal(db, err) < 0)
		return -1;
	if (br_db_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", err) < 0)
		return -1;
	return 0;
}

/* See db.h. *ret is the caller's (br_db_close). Errors name the file: FAILED_PRECONDITION for a
 * schema newer than `migrations`, the translated SQLite error otherwise. Any one thread. */
int
br_db_open(const char *path, const struct br_db_migration *migrations, size_t n, sqlite3 **ret,
           br_err *err)
{
	sqlite3 *db = NULL;
	int version = 0;
	int latest = n > 0 ? migrations[n - 1].version : 0;

	for (size_t i = 0; i < n; i++)
		if (migrations[i].version != (int)i + 1)
			return br_err_set(err, BR_INTERNAL,
			                  "database %s: migration %zu is numbered %d, expected %zu",
			                  path, i + 1, migrations[i].version, i + 1);
	int rc = sqlite3_open_v2(
	        path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		br_db_error(db, rc, err, "database %s: open", path);
		sqlite3_close_v2(db);
		return -1;
	}
	if (configure(db, err) < 0 || user_version(db, &version, err) < 0)
		goto fail;
	if (version > latest) {
		br_err_set(err, BR_FAILED_PRECONDITION,
		           "schema version %d is newer than this program's %d (a newer Berth "
		           "wrote it; downgrading is not supported)",
		           version, latest);
		goto fail;
	}
	for (size_t i = (size_t)version; i < n; i++) {
		if (apply_migration(db, &migrations[i], err) < 0) {
			br_err_wrap(err, "migration %d", migrations[i].version);
			goto fail;
		}
	}
	*ret = db;
	return 0;
fail:
	sqlite3_close_v2(db);
	return br_err_wrap(err, "database %s", path);
}

void
br_db_close(sqlite3 *db)
{
	if (db != NULL)
		sqlite3_close_v2(db);
}
