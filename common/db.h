/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SQLite helpers. Each daemon owns one database file (<data_dir>/meta.db) that no other
 * process opens. br_db_open() sets WAL mode, a busy timeout, foreign keys and synchronous=FULL,
 * then brings the schema up to date: migrations are numbered from 1, applied in order inside
 * one BEGIN IMMEDIATE transaction each, and the version is kept in PRAGMA user_version. A
 * database newer than the binary is refused (FAILED_PRECONDITION) rather than misread.
 *
 * Write transactions always start with BEGIN IMMEDIATE (a deferred transaction that upgrades
 * gets SQLITE_BUSY at once, whatever the busy timeout). Keep them short: never hold one across
 * an fsync of data, a mount or an RPC.
 *
 * A sqlite3 handle is used by one thread at a time (the loop thread, or one worker).
 */
#ifndef BR_COMMON_DB_H
#define BR_COMMON_DB_H

#include <stdint.h>

#include <sqlite3.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/msg.h"

struct br_db_migration {
	int version;     /* 1, 2, 3, ... in order */
	const char *sql; /* one or more statements */
};

int br_db_open(const char *path, const struct br_db_migration *migrations, size_t n, sqlite3 **ret,
               br_err *err);
/* Accepts NULL. Finalizes nothing: the caller finalizes its statements first. */
void br_db_close(sqlite3 *db);

/* Run SQL without results. */
int br_db_exec(sqlite3 *db, const char *sql, br_err *err);
int br_db_begin(sqlite3 *db, br_err *err);  /* BEGIN IMMEDIATE */
int br_db_commit(sqlite3 *db, br_err *err); /* on failure the transaction is rolled back */
void br_db_rollback(sqlite3 *db);           /* never fails visibly; safe without a transaction */
int br_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret, br_err *err);

/* Translate an SQLite result code into `err` ("<context>: <sqlite message>"): constraint
 * violations become ALREADY_EXISTS (except a FOREIGN KEY violation: FAILED_PRECONDITION, the
 * referenced row is missing or still referenced), SQLITE_FULL and NOMEM RESOURCE_EXHAUSTED,
 * BUSY and LOCKED UNAVAILABLE, READONLY and PERM PERMISSION_DENIED, the rest INTERNAL.
 * Returns -1. */
int br_db_error(sqlite3 *db, int rc, br_err *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Finalize a statement when it goes out of scope: `_cleanup_stmt_ sqlite3_stmt *st = NULL;`. */
static inline void
br_db_stmt_freep(sqlite3_stmt **st)
{
	sqlite3_finalize(*st);
}
#define _cleanup_stmt_ _cleanup_(br_db_stmt_freep)

/* Step a statement that returns no rows; on failure the error reads "<fmt>: <sqlite message>". */
int br_db_step_done(sqlite3 *db, sqlite3_stmt *st, br_err *err, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* Read every (key, value) row of the bound statement `st` into a label map whose strings and
 * arrays live in `arena`. At most BR_LABELS_MAX rows are stored by any table of labels. */
int br_db_read_labels(sqlite3 *db, sqlite3_stmt *st, br_arena *arena, struct br_strmap *ret,
                      br_err *err);

/* Write every (key, value) of `labels` (NULL or empty writes nothing) through `insert`, an
 * INSERT into a table of labels whose key and value are parameters `key_param` and
 * `key_param + 1`. The caller prepares `insert`, binds its owner columns once (reset keeps
 * bindings), removes the old rows first if it replaces them, and finalizes it. On success
 * `insert` is left reset, so the caller may bind another owner and call again; the strings of
 * `labels` stay bound until then. A key that is already there is ALREADY_EXISTS (unless
 * the INSERT says OR REPLACE); errors read "label \"<key>\": <sqlite message>", for the caller
 * to wrap with whose labels they are. Thread of the connection. */
int br_db_write_labels(sqlite3 *db, sqlite3_stmt *insert, int key_param,
                       const struct br_strmap *labels, br_err *err);

/* Column text as a NUL-terminated string, "" for NULL (valid until the next step). */
const char *br_db_text(sqlite3_stmt *st, int col);

/* Milliseconds since the epoch (CLOCK_REALTIME), the time stamp stored in every table. */
int64_t br_db_now(void);

#endif
