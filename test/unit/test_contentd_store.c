/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store without RPC: resumable ingests, commits that verify size and digest and
 * store nothing on a mismatch, reads, deletes, limits, recovery after a crash simulated by
 * leaving partial files and rows behind and opening the store again, paging, and collection
 * driven on the store's own loop (leases are made with SQL and br_lease_hold), which a
 * commit under a lease does not schedule; and the events that go with the rows.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "common/digest.h"
#include "common/gc.h"
#include "common/lease.h"
#include "common/msg.h"
#include "contentd/store.h"
#include "test/unit/t.h"
#include "test/unit/t_events.h"

struct fixture {
	char dir[64];
	char store_dir[128];
	uv_loop_t loop;
	struct contentd_store_opts opts;
	struct contentd_store *s;
	br_arena *arena;
};

/* Fork once more: the child runs the case; this process waits, removes `dir` whatever
 * happened to the child (a failed check exits at once) and exits with the child's status. */
static void
guard_dir(const char *dir)
{
	int status = 0;
	char cmd[128];

	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0) {
		alarm(T_TIMEOUT_S - 5);
		return;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		status = 1 << 8;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

/* Free the store and let the loop release its handles. */
static void
close_store(struct fixture *f)
{
	contentd_store_free(f->s);
	f->s = NULL;
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void
open_store(struct fixture *f, struct contentd_reconcile_stats *stats)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(contentd_store_open(f->store_dir, &f->opts, stats, &f->s, &err), err);
}

/* Collections run only when a test asks (br_gc_now): no delay or interval fires in a test. */
static void
setup(struct fixture *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-content-XXXXXX");
	T_NOT_NULL(mkdtemp(f->dir));
	guard_dir(f->dir);
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/contentd", f->dir);
	T_EQ_INT(uv_loop_init(&f->loop), 0);
	f->opts = (struct contentd_store_opts){
	        .uv = &f->loop,
	        .gc_delay_ms = 3600 * 1000,
	        .gc_interval_ms = 0,
	        .ingest_expiry_ms = 24 * 3600 * 1000,
	};
	open_store(f, NULL);
	f->arena = br_arena_new();
}

static void
reopen(struct fixture *f, struct contentd_reconcile_stats *stats)
{
	close_store(f);
	open_store(f, stats);
}

/* Also checks that the store left no handle open on its loop. */
static void
teardown(struct fixture *f)
{
	close_store(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	T_EQ_INT(uv_loop_close(&f->loop), 0);
	br_arena_free(f->arena);
}

/* Deterministic test bytes. */
static uint8_t *
pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len ? len : 1);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

static int
write_chunk(struct fixture *f, const char *ref, int64_t offset, const void *data, size_t len,
            bool commit, int64_t total, const char *expected, struct br_content_write_resp *resp,
            br_err *err)
{
	struct br_content_write_req req = {
	        .ref = ref,
	        .offset = offset,
	        .data = {data, len},
	        .total = total,
	        .expected = expected,
	        .commit = commit,
	};
	struct br_content_write_resp ignored;
	return contentd_write(f->s, &req, NULL, f->arena, resp ? resp : &ignored, err);
}

/* Store `len` bytes in chunks of `chunk` bytes under `ref`; returns the digest. */
static void
store_blob(struct fixture *f, const char *ref, const uint8_t *data, size_t len, size_t chunk,
           char digest[BR_DIGEST_BUF])
{
	br_err err = BR_ERR_INIT;
	struct br_content_write_resp resp;

	br_digest_buf(data, len, digest);
	size_t off = 0;
	do {
		size_t n = len - off < chunk ? len - off : chunk;
		bool last = off + n == len;
		T_NOERR(write_chunk(f, ref, (int64_t)off, data + off, n, last, (int64_t)len, digest,
		                    &resp, &err),
		        err);
		off += n;
		T_EQ_INT(resp.offset, off);
		if (last)
			T_EQ_STR(resp.digest, digest);
	} while (off < len);
}

static bool
path_exists(const char *dir, const char *rel)
{
	char p[1024];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &sb) == 0;
}

static int
dir_nonempty(const char *dir, const char *rel)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "test $(ls -A '%s/%s' | wc -l) -eq 0", dir, rel);
	return system(cmd) == 0 ? 0 : 1;
}

static void
test_write_commit_info_read(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF], path[256];
	size_t len = 3 * 100000 + 17;
	uint8_t *data = pattern(len, 1);

	setup(&f);
	store_blob(&f, "pull-1", data, len, 100000, digest);

	struct br_content_info info;
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);
	T_EQ_STR(info.digest, digest);
	T_EQ_INT(info.size, len);
	T_OK(info.created_at > 0);

	snprintf(path, sizeof(path), "blobs/sha256/%s", br_digest_hex(digest));
	T_OK(path_exists(f.store_dir, path));
	struct stat sb;
	char full[512];
	snprintf(full, sizeof(full), "%s/%s", f.store_dir, path);
	T_EQ_INT(stat(full, &sb), 0);
	T_EQ_INT(sb.st_mode & 07777, 0444);
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);

	/* Read it back in uneven pieces. */
	uint8_t *back = malloc(len);
	int64_t off = 0;
	while (off < (int64_t)len) {
		struct br_content_read_req rq = {digest, off, 65537};
		struct br_content_read_resp rr;
		T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
		T_EQ_INT(rr.total, len);
		T_EQ_INT(rr.offset, off);
		T_OK(rr.data.len > 0);
		memcpy(back + off, rr.data.data, rr.data.len);
		off += (int64_t)rr.data.len;
	}
	T_OK(memcmp(back, data, len) == 0);

	struct br_content_list_resp list;
	T_NOERR(contentd_list(f.s, NULL, f.arena, &list, &err), err);
	T_EQ_INT(list.items.n, 1);
	T_EQ_STR(((struct br_content_info *)list.items.v)[0].digest, digest);
	free(back);
	free(data);
	teardown(&f);
}

static void
test_labels_on_commit(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	const char *keys[] = {"berth.io/kind", "a"};
	const char *values[] = {"layer", "b"};
	struct br_content_write_req req = {
	        .ref = "lbl",
	        .data = {(const uint8_t *)"hello", 5},
	        .commit = true,
	        .labels = {keys, values, 2},
	};
	struct br_content_write_resp resp;
	struct br_content_info info;

	setup(&f);
	T_NOERR(contentd_write(f.s, &req, NULL, f.arena, &resp, &err), err);
	T_NOERR(contentd_info(f.s, resp.digest, f.arena, &info, &err), err);
	T_EQ_INT(info.labels.n, 2);
	T_EQ_STR(info.labels.keys[0], "a");
	T_EQ_STR(info.labels.values[0], "b");
	T_EQ_STR(info.labels.keys[1], "berth.io/kind");
	T_EQ_STR(info.labels.values[1], "layer");
	teardown(&f);
}

static void
test_offset_mismatch(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;

	setup(&f);
	T_NOERR(write_chunk(&f, "r", 0, "0123456789", 10, false, 0, NULL, NULL, &err), err);
	T_ERR(write_chunk(&f, "r", 5, "xx", 2, false, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "current offset is 10") != NULL);
	/* A ref that does not exist is at offset 0, and is not created by a bad write. */
	T_ERR(write_chunk(&f, "other", 7, "xx", 2, false, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "current offset is 0") != NULL);
	struct br_content_status st;
	T_ERR(contentd_status(f.s, "other", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_NOERR(contentd_status(f.s, "r", f.arena, &st, &err), err);
	T_EQ_INT(st.offset, 10);
	T_EQ_STR(st.ref, "r");
	teardown(&f);
}

static void
test_digest_mismatch_stores_nothing(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char wrong[BR_DIGEST_BUF], right[BR_DIGEST_BUF], expect_msg[400];

	setup(&f);
	br_digest_buf("other", 5, wrong);
	br_digest_buf("hello world", 11, right);
	T_NOERR(write_chunk(&f, "r1", 0, "hello ", 6, false, 0, wrong, NULL, &err), err);
	T_ERR(write_chunk(&f, "r1", 6, "world", 5, true, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	snprintf(expect_msg, sizeof(expect_msg), "commit r1: digest mismatch: expected %s, got %s",
	         wrong, right);
	T_EQ_STR(err.msg, expect_msg);

	struct br_content_status st;
	T_ERR(contentd_status(f.s, "r1", f.arena, &st, &err), err, BR_NOT_FOUND);
	struct br_content_info info;
	T_ERR(contentd_info(f.s, right, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_info(f.s, wrong, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_EQ_INT(dir_nonempty(f.store_dir, "blobs/sha256"), 0);
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);
	/* And nothing comes back after a restart. */
	reopen(&f, NULL);
	struct br_content_list_resp list;
	T_NOERR(contentd_list(f.s, NULL, f.arena, &list, &err), err);
	T_EQ_INT(list.items.n, 0);
	T_ERR(contentd_status(f.s, "r1", f.arena, &st, &err), err, BR_NOT_FOUND);
	teardown(&f);
}

static void
test_size_mismatch_stores_nothing(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;

	setup(&f);
	T_NOERR(write_chunk(&f, "r", 0, "abc", 3, false, 10, NULL, NULL, &err), err);
	T_ERR(write_chunk(&f, "r", 3, "de", 2, true, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "commit r: size mismatch: expected 10 bytes, got 5");
	T_EQ_INT(dir_nonempty(f.store_dir, "blobs/sha256"), 0);
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);
	/* Writing past the announced total is refused without harm. */
	T_NOERR(write_chunk(&f, "t", 0, "abc", 3, false, 4, NULL, NULL, &err), err);
	T_ERR(write_chunk(&f, "t", 3, "de", 2, false, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "exceeds the total of 4 bytes") != NULL);
	/* And so is changing it. */
	T_ERR(write_chunk(&f, "t", 3, "d", 1, false, 9, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_NOERR(write_chunk(&f, "t", 3, "d", 1, true, 4, NULL, NULL, &err), err);
	teardown(&f);
}

static void
test_already_exists(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF];

	setup(&f);
	store_blob(&f, "first", (const uint8_t *)"same", 4, 4, digest);
	/* A new ingest that names existing content is refused before anything is written. */
	T_ERR(write_chunk(&f, "second", 0, "sa", 2, false, 0, digest, NULL, &err), err,
	      BR_ALREADY_EXISTS);
	struct br_content_status st;
	T_ERR(contentd_status(f.s, "second", f.arena, &st, &err), err, BR_NOT_FOUND);
	/* Without `expected`, the commit finds it and discards the ingest. */
	T_ERR(write_chunk(&f, "third", 0, "same", 4, true, 0, NULL, NULL, &err), err,
	      BR_ALREADY_EXISTS);
	T_ERR(contentd_status(f.s, "third", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);
	struct br_content_info info;
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);
	teardown(&f);
}

static void
test_resume_after_reopen(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	size_t len = 2 * 1024 * 1024 + 5;
	uint8_t *data = pattern(len, 7);
	char digest[BR_DIGEST_BUF];
	struct br_content_write_resp resp;
	struct br_content_status st;

	br_digest_buf(data, len, digest);
	setup(&f);
	T_NOERR(write_chunk(&f, "resume", 0, data, 1 << 20, false, (int64_t)len, digest, NULL,
	                    &err),
	        err);
	reopen(&f, NULL);
	T_NOERR(contentd_status(f.s, "resume", f.arena, &st, &err), err);
	T_EQ_INT(st.offset, 1 << 20);
	T_EQ_INT(st.total, len);
	T_EQ_STR(st.expected, digest);
	/* The running digest is rebuilt from the file on the next write. */
	T_NOERR(write_chunk(&f, "resume", 1 << 20, data + (1 << 20), 1 << 20, false, 0, NULL, NULL,
	                    &err),
	        err);
	reopen(&f, NULL);
	T_NOERR(write_chunk(&f, "resume", 2 << 20, data + (2 << 20), 5, true, 0, NULL, &resp, &err),
	        err);
	T_EQ_STR(resp.digest, digest);
	struct br_content_info info;
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);
	T_EQ_INT(info.size, len);
	free(data);
	teardown(&f);
}

/* A crash after the data landed but before the row was updated: the file is the truth. */
static void
test_crash_data_ahead_of_row(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	uint8_t *data = pattern(300, 3);
	char digest[BR_DIGEST_BUF], path[256];
	struct br_content_write_resp resp;
	struct br_content_status st;
	struct contentd_reconcile_stats stats;

	br_digest_buf(data, 300, digest);
	setup(&f);
	T_NOERR(write_chunk(&f, "crash", 0, data, 100, false, 300, NULL, NULL, &err), err);
	close_store(&f);
	snprintf(path, sizeof(path), "%s/ingest/crash/data", f.store_dir);
	int fd = open(path, O_WRONLY | O_APPEND);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, data + 100, 50), 50);
	close(fd);
	open_store(&f, &stats);
	T_EQ_INT(stats.ingests_resumed, 1);
	T_NOERR(contentd_status(f.s, "crash", f.arena, &st, &err), err);
	T_EQ_INT(st.offset, 150);
	T_ERR(write_chunk(&f, "crash", 100, data + 100, 50, false, 0, NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "current offset is 150") != NULL);
	T_NOERR(write_chunk(&f, "crash", 150, data + 150, 150, true, 0, digest, &resp, &err), err);
	T_EQ_STR(resp.digest, digest);
	free(data);
	teardown(&f);
}

static void
write_file(const char *dir, const char *rel, const void *data, size_t len)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, data, len), len);
	close(fd);
}

/* A lease row (expire_at 0: never) made with SQL, as the lease handlers would. */
static void
add_lease(struct fixture *f, const char *ns, const char *id, int64_t expire_at)
{
	br_err err = BR_ERR_INIT;
	char sql[512];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO leases (namespace, id, created_at, expire_at) VALUES ('%s', '%s', 1,"
	         " %lld)",
	         ns, id, (long long)expire_at);
	T_NOERR(br_db_exec(f->s->db, sql, &err), err);
}

static void
hold(struct fixture *f, const char *id, const char *type, const char *key)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(br_lease_hold(f->s->leases, "default", id, type, key, &err), err);
}

static void
test_reconcile_orphans(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char good[BR_DIGEST_BUF], lost[BR_DIGEST_BUF], unheld[BR_DIGEST_BUF], rel[256], p[512];
	struct contentd_reconcile_stats stats;
	struct br_content_info info;
	struct br_content_status st;

	setup(&f);
	/* A row whose blob file vanished. */
	store_blob(&f, "lost", (const uint8_t *)"lost blob", 9, 9, lost);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f.store_dir, br_digest_hex(lost));
	T_EQ_INT(unlink(p), 0);
	/* An ingest whose directory vanished. */
	T_NOERR(write_chunk(&f, "gone", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	snprintf(p, sizeof(p), "rm -rf '%s/ingest/gone'", f.store_dir);
	T_EQ_INT(system(p), 0);
	/* A lease that holds two of the blob files below. */
	char bad[BR_DIGEST_BUF];
	br_digest_buf("committed before the crash", 26, good);
	br_digest_buf("x", 1, bad);
	add_lease(&f, "default", "l", 0);
	hold(&f, "l", "content", good);
	hold(&f, "l", "content", bad);
	close_store(&f);

	/* A blob file renamed into place just before a crash, without its row, held. */
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(good));
	write_file(f.store_dir, rel, "committed before the crash", 26);
	/* A held blob file whose content does not match its name. */
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(bad));
	write_file(f.store_dir, rel, "not x", 5);
	/* A valid blob file that no lease holds: garbage, removed without being read. */
	br_digest_buf("nobody holds me", 15, unheld);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(unheld));
	write_file(f.store_dir, rel, "nobody holds me", 15);
	/* A stray temporary file. */
	write_file(f.store_dir, "blobs/sha256/tmp-123", "t", 1);
	/* An ingest directory without a row. */
	snprintf(p, sizeof(p), "%s/ingest/ghost", f.store_dir);
	T_EQ_INT(mkdir(p, 0700), 0);
	write_file(f.store_dir, "ingest/ghost/data", "boo", 3);

	open_store(&f, &stats);
	T_EQ_INT(stats.blobs_registered, 1);
	T_EQ_INT(stats.blobs_removed, 2);
	T_EQ_INT(stats.blobs_unheld, 1);
	T_EQ_INT(stats.rows_removed, 1);
	T_EQ_INT(stats.ingests_removed, 2);
	T_NOERR(contentd_info(f.s, good, f.arena, &info, &err), err);
	T_EQ_INT(info.size, 26);
	T_ERR(contentd_info(f.s, lost, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_info(f.s, bad, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_info(f.s, unheld, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_status(f.s, "gone", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_status(f.s, "ghost", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_OK(!path_exists(f.store_dir, "ingest/ghost"));
	T_OK(!path_exists(f.store_dir, "blobs/sha256/tmp-123"));
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(bad));
	T_OK(!path_exists(f.store_dir, rel));
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(unheld));
	T_OK(!path_exists(f.store_dir, rel));
	/* The adopted blob is read-only like every other. */
	struct stat sb;
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f.store_dir, br_digest_hex(good));
	T_EQ_INT(stat(p, &sb), 0);
	T_EQ_INT(sb.st_mode & 07777, 0444);
	/* A second start finds nothing to repair. */
	reopen(&f, &stats);
	T_EQ_INT(stats.blobs_registered + stats.blobs_removed + stats.blobs_unheld +
	                 stats.rows_removed + stats.ingests_removed,
	         0);
	teardown(&f);
}

static void
test_abort(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_content_status st;

	setup(&f);
	T_NOERR(write_chunk(&f, "ab", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	T_NOERR(contentd_abort(f.s, "ab", &err), err);
	T_ERR(contentd_status(f.s, "ab", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_abort(f.s, "ab", &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "ingest \"ab\": not found");
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);
	/* The ref can start again from zero. */
	T_NOERR(write_chunk(&f, "ab", 0, "xyz", 3, false, 0, NULL, NULL, &err), err);
	teardown(&f);
}

static void
test_delete(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF], rel[256];
	struct br_content_info info;

	setup(&f);
	store_blob(&f, "d", (const uint8_t *)"delete me", 9, 9, digest);
	T_NOERR(contentd_delete(f.s, digest, &err), err);
	T_ERR(contentd_info(f.s, digest, f.arena, &info, &err), err, BR_NOT_FOUND);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(digest));
	T_OK(!path_exists(f.store_dir, rel));
	T_ERR(contentd_delete(f.s, digest, &err), err, BR_NOT_FOUND);
	char want[128];
	snprintf(want, sizeof(want), "content %s: not found", digest);
	T_EQ_STR(err.msg, want);
	teardown(&f);
}

static void
test_read_bounds(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	size_t len = (1 << 20) + 10;
	uint8_t *data = pattern(len, 9);
	char digest[BR_DIGEST_BUF];
	struct br_content_read_resp rr;

	setup(&f);
	store_blob(&f, "big", data, len, 1 << 20, digest);
	struct br_content_read_req rq = {digest, 0, 0};
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_EQ_INT(rr.data.len, BR_CHUNK_MAX);
	rq.size = 1 << 30; /* cut to one chunk */
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_EQ_INT(rr.data.len, BR_CHUNK_MAX);
	rq.offset = 1 << 20;
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_EQ_INT(rr.data.len, 10);
	T_OK(memcmp(rr.data.data, data + (1 << 20), 10) == 0);
	rq.offset = (int64_t)len;
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_EQ_INT(rr.data.len, 0);
	T_EQ_INT(rr.total, len);
	rq.offset = (int64_t)len + 1;
	T_ERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err, BR_INVALID_ARGUMENT);
	rq.offset = -1;
	T_ERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err, BR_INVALID_ARGUMENT);
	char none[BR_DIGEST_BUF];
	br_digest_buf("none", 4, none);
	struct br_content_read_req missing = {none, 0, 0};
	T_ERR(contentd_read(f.s, &missing, f.arena, &rr, &err), err, BR_NOT_FOUND);
	free(data);
	teardown(&f);
}

static void
test_limits(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;

	setup(&f);
	f.s->max_ingests = 2;
	f.s->max_blob_size = 100;
	T_NOERR(write_chunk(&f, "a", 0, "1", 1, false, 0, NULL, NULL, &err), err);
	T_NOERR(write_chunk(&f, "b", 0, "1", 1, false, 0, NULL, NULL, &err), err);
	T_ERR(write_chunk(&f, "c", 0, "1", 1, false, 0, NULL, NULL, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	T_OK(strstr(err.msg, "too many ingests") != NULL);
	T_NOERR(contentd_abort(f.s, "b", &err), err);
	uint8_t *big = pattern(101, 1);
	T_ERR(write_chunk(&f, "c", 0, big, 101, false, 0, NULL, NULL, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	T_ERR(write_chunk(&f, "c", 0, big, 1, false, 200, NULL, NULL, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	T_ERR(write_chunk(&f, "c", -1, big, 1, false, 0, NULL, NULL, &err), err,
	      BR_INVALID_ARGUMENT);
	free(big);
	teardown(&f);
}

/* While a write is between begin and end its ingest is locked. */
static void
test_locked_while_writing(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct contentd_write *w = NULL;
	struct br_content_write_req req = {.ref = "lk", .data = {(const uint8_t *)"abc", 3}};
	struct br_content_write_resp resp;
	struct br_content_status st;

	setup(&f);
	T_NOERR(contentd_write_begin(f.s, &req, NULL, &w, &err), err);
	T_ERR(write_chunk(&f, "lk", 0, "x", 1, false, 0, NULL, NULL, &err), err, BR_UNAVAILABLE);
	T_ERR(contentd_abort(f.s, "lk", &err), err, BR_UNAVAILABLE);
	T_NOERR(contentd_status(f.s, "lk", f.arena, &st, &err), err);
	T_EQ_INT(st.offset, 0);
	contentd_write_work(w);
	T_NOERR(contentd_write_end(f.s, w, f.arena, &resp, &err), err);
	T_EQ_INT(resp.offset, 3);
	T_NOERR(write_chunk(&f, "lk", 3, "d", 1, false, 0, NULL, NULL, &err), err);
	teardown(&f);
}

/* An empty blob is valid content (OCI uses it for empty layers and configs). */
static void
test_empty_blob(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF];
	struct br_content_write_resp resp;

	setup(&f);
	br_digest_buf("", 0, digest);
	T_NOERR(write_chunk(&f, "empty", 0, NULL, 0, true, 0, digest, &resp, &err), err);
	T_EQ_STR(resp.digest, digest);
	struct br_content_info info;
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);
	T_EQ_INT(info.size, 0);
	teardown(&f);
}

/* ---- paging ---- */

/* `n` blob rows (no files: listing reads rows only) in one transaction; blob i has size i + 1
 * and, when i % every == 0, `labels` labels. Digests are those of "blob-<i>". */
static void
insert_rows(struct fixture *f, int n, int labels, int every)
{
	br_err err = BR_ERR_INIT;
	sqlite3_stmt *blob = NULL, *label = NULL;
	char name[32], digest[BR_DIGEST_BUF];

	T_NOERR(br_db_begin(f->s->db, &err), err);
	T_NOERR(br_db_prepare(f->s->db, "INSERT INTO blobs VALUES (?, ?, 1, 1)", &blob, &err), err);
	T_NOERR(br_db_prepare(f->s->db, "INSERT INTO labels VALUES (?, ?, 'v')", &label, &err),
	        err);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "blob-%d", i);
		br_digest_buf(name, strlen(name), digest);
		sqlite3_reset(blob);
		sqlite3_bind_text(blob, 1, digest, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(blob, 2, i + 1);
		T_NOERR(br_db_step_done(f->s->db, blob, &err, "insert"), err);
		for (int k = 0; i % every == 0 && k < labels; k++) {
			char key[32];
			snprintf(key, sizeof(key), "k%03d", k);
			sqlite3_reset(label);
			sqlite3_bind_text(label, 1, digest, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(label, 2, key, -1, SQLITE_TRANSIENT);
			T_NOERR(br_db_step_done(f->s->db, label, &err, "label"), err);
		}
	}
	sqlite3_finalize(blob);
	sqlite3_finalize(label);
	T_NOERR(br_db_commit(f->s->db, &err), err);
}

static void
test_list_pages_10000(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char last[BR_DIGEST_BUF] = "";
	const char *token = NULL;
	size_t total = 0, pages = 0, labelled = 0;

	setup(&f);
	insert_rows(&f, 10000, 2, 10);
	do {
		struct br_page_req page = {.size = pages % 2 ? 500 : 0, .token = token};
		struct br_content_list_resp list;
		T_NOERR(contentd_list(f.s, &page, f.arena, &list, &err), err);
		const struct br_content_info *items = list.items.v;
		T_EQ_INT(list.items.n, pages % 2 ? 500 : BR_PAGE_DEFAULT);
		for (size_t i = 0; i < list.items.n; i++) {
			/* Strictly increasing across pages: no duplicates, no reordering. */
			T_OK(strcmp(items[i].digest, last) > 0);
			snprintf(last, sizeof(last), "%s", items[i].digest);
			labelled += items[i].labels.n == 2;
			T_OK(items[i].size >= 1 && items[i].size <= 10000);
		}
		total += list.items.n;
		pages++;
		token = list.next_page_token;
		if (token != NULL)
			T_EQ_STR(token, last);
	} while (token != NULL);
	T_EQ_INT(total, 10000);
	T_EQ_INT(labelled, 1000);
	T_EQ_INT(pages, 29); /* 14 pages of 200 and 14 of 500 = 9800, then 200 */

	struct br_page_req bad = {.token = "not-a-digest"};
	struct br_content_list_resp list;
	T_ERR(contentd_list(f.s, &bad, f.arena, &list, &err), err, BR_INVALID_ARGUMENT);
	teardown(&f);
}

/* A page ends early once its labels reach BR_PAGE_LABELS_MAX. */
static void
test_list_page_ends_at_label_limit(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_content_list_resp list;

	setup(&f);
	insert_rows(&f, 80, BR_LABELS_MAX, 1); /* 80 blobs with 256 labels each */
	struct br_page_req page = {.size = BR_PAGE_MAX};
	T_NOERR(contentd_list(f.s, &page, f.arena, &list, &err), err);
	const struct br_content_info *items = list.items.v;
	size_t labels = 0;
	for (size_t i = 0; i < list.items.n; i++)
		labels += items[i].labels.n;
	T_OK(labels >= BR_PAGE_LABELS_MAX);
	T_OK(labels - items[list.items.n - 1].labels.n < BR_PAGE_LABELS_MAX);
	T_OK(list.items.n < BR_PAGE_MAX);
	T_NOT_NULL(list.next_page_token);
	size_t first = list.items.n;
	page.token = list.next_page_token;
	T_NOERR(contentd_list(f.s, &page, f.arena, &list, &err), err);
	T_EQ_INT(first, BR_PAGE_LABELS_MAX / BR_LABELS_MAX);
	T_EQ_INT(first + list.items.n, 80);
	T_NULL(list.next_page_token);
	teardown(&f);
}

/* ---- commit over a file that is already there ---- */

/* The commit's rename finds a file; whether it is the blob is decided at write_end. */
static void
test_commit_over_existing_file(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF], rel[256], p[512];
	const char *data = "content that must not be lost";
	size_t len = strlen(data);
	struct br_content_write_req req = {
	        .ref = "c", .data = {(const uint8_t *)data, len}, .commit = true};
	struct br_content_write_resp resp;
	struct contentd_write *w = NULL;
	struct br_content_info info;

	setup(&f);
	br_digest_buf(data, len, digest);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(digest));

	/* 1. An orphan with other bytes at the blob's name (a crash, a bad disk): replaced. */
	write_file(f.store_dir, rel, "garbage", 7);
	T_NOERR(contentd_write(f.s, &req, NULL, f.arena, &resp, &err), err);
	T_EQ_STR(resp.digest, digest);
	struct br_content_read_req rq = {digest, 0, 0};
	struct br_content_read_resp rr;
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_EQ_INT(rr.data.len, len);
	T_OK(memcmp(rr.data.data, data, len) == 0);

	/* 2. The blob is stored when the worker renames, and a collection removes row and file
	 * before write_end: the ingest's data becomes the blob. */
	T_NOERR(contentd_write_begin(f.s, &req, NULL, &w, &err), err);
	contentd_write_work(w);
	T_NOERR(contentd_delete(f.s, digest, &err), err);
	T_NOERR(contentd_write_end(f.s, w, f.arena, &resp, &err), err);
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);
	T_EQ_INT(info.size, len);
	T_NOERR(contentd_read(f.s, &rq, f.arena, &rr, &err), err);
	T_OK(memcmp(rr.data.data, data, len) == 0);

	/* 3. Only the row went (a collection's unlink failed, or a crash after the row): the
	 * file is replaced and registered. */
	T_NOERR(contentd_write_begin(f.s, &req, NULL, &w, &err), err);
	contentd_write_work(w);
	snprintf(p, sizeof(p), "DELETE FROM blobs WHERE digest = '%s'", digest);
	T_NOERR(br_db_exec(f.s->db, p, &err), err);
	T_NOERR(contentd_write_end(f.s, w, f.arena, &resp, &err), err);
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);

	/* 4. The blob is there with its row: ALREADY_EXISTS, the ingest is gone. */
	T_ERR(contentd_write(f.s, &req, NULL, f.arena, &resp, &err), err, BR_ALREADY_EXISTS);
	struct br_content_status st;
	T_ERR(contentd_status(f.s, "c", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_EQ_INT(dir_nonempty(f.store_dir, "ingest"), 0);
	T_EQ_INT(f.s->commits_in_flight, 0);
	teardown(&f);
}

/* ---- collection ---- */

struct gc_wait {
	bool done;
	bool failed;
	struct br_gc_result result;
};

static void
gc_done(void *arg, const struct br_gc_result *result, const br_err *err)
{
	struct gc_wait *w = arg;

	w->done = true;
	w->failed = err != NULL;
	if (result != NULL)
		w->result = *result;
}

/* One collection on demand, run to its end on the store's loop. */
static struct br_gc_result
collect(struct fixture *f)
{
	struct gc_wait w = {0};

	br_gc_now(f->s->gc, gc_done, &w);
	while (!w.done)
		uv_run(&f->loop, UV_RUN_ONCE);
	T_OK(!w.failed);
	return w.result;
}

static int64_t
count_rows(struct fixture *f, const char *table)
{
	br_err err = BR_ERR_INIT;
	sqlite3_stmt *st = NULL;
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s", table);
	T_NOERR(br_db_prepare(f->s->db, sql, &st, &err), err);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static size_t
count_files(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	T_OK(p != NULL && fscanf(p, "%zu", &n) == 1);
	pclose(p);
	return n;
}

/* Unheld blobs go in batches of CONTENTD_GC_BATCH, one per turn of the loop; held ones and
 * their files stay. */
static void
test_gc_removes_unheld_in_steps(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char name[32], digest[BR_DIGEST_BUF], rel[256], blobs[256];
	const int n = 1100, held = 3;
	struct gc_wait w = {0};
	bool saw_first_batch = false;
	int64_t held_bytes = 0;

	setup(&f);
	insert_rows(&f, n + held, 1, 10);
	for (int i = 0; i < n + held; i++) {
		snprintf(name, sizeof(name), "blob-%d", i);
		br_digest_buf(name, strlen(name), digest);
		snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(digest));
		write_file(f.store_dir, rel, "", 0);
	}
	add_lease(&f, "default", "keep", 0);
	for (int i = n; i < n + held; i++) {
		snprintf(name, sizeof(name), "blob-%d", i);
		br_digest_buf(name, strlen(name), digest);
		hold(&f, "keep", "content", digest);
		held_bytes += i + 1;
	}
	/* An expired lease holds nothing. */
	add_lease(&f, "default", "old", 1);
	snprintf(name, sizeof(name), "blob-%d", 0);
	br_digest_buf(name, strlen(name), digest);
	char sql[256];
	snprintf(sql, sizeof(sql),
	         "INSERT INTO lease_resources VALUES ('default', 'old', "
	         "'content', '%s')",
	         digest);
	T_NOERR(br_db_exec(f.s->db, sql, &err), err);

	br_gc_now(f.s->gc, gc_done, &w);
	while (!w.done) {
		uv_run(&f.loop, UV_RUN_ONCE);
		if (count_rows(&f, "blobs") == n + held - CONTENTD_GC_BATCH)
			saw_first_batch = true;
	}
	T_OK(!w.failed);
	T_OK(saw_first_batch);
	T_EQ_INT(w.result.leases, 1);
	T_EQ_INT(w.result.removed, n);
	T_EQ_INT(w.result.bytes, (int64_t)(n + held) * (n + held + 1) / 2 - held_bytes);
	T_EQ_INT(w.result.orphans, 0);
	T_EQ_INT(count_rows(&f, "blobs"), held);
	T_EQ_INT(count_rows(&f, "labels"), 1); /* blob-1100's, which is held */
	snprintf(blobs, sizeof(blobs), "%s/blobs/sha256", f.store_dir);
	T_EQ_INT(count_files(blobs), held);
	/* Nothing more to do. */
	struct br_gc_result again = collect(&f);
	T_EQ_INT(again.removed + again.leases + again.orphans + again.ingests, 0);
	teardown(&f);
}

/* An orphan file is removed, but not while a commit (whose file is renamed before its row
 * exists) is in flight. */
static void
test_gc_orphans_wait_for_commits(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF], orphan[BR_DIGEST_BUF], rel[256], orphan_rel[256];
	struct br_content_write_req req = {
	        .ref = "slow", .data = {(const uint8_t *)"slow", 4}, .commit = true};
	struct br_content_write_resp resp;
	struct contentd_write *w = NULL;
	struct br_content_info info;

	setup(&f);
	br_digest_buf("slow", 4, digest);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(digest));
	br_digest_buf("orphan", 6, orphan);
	snprintf(orphan_rel, sizeof(orphan_rel), "blobs/sha256/%s", br_digest_hex(orphan));
	write_file(f.store_dir, orphan_rel, "orphan", 6);
	add_lease(&f, "default", "l", 0);
	hold(&f, "l", "content", digest);

	T_NOERR(contentd_write_begin(f.s, &req, NULL, &w, &err), err);
	contentd_write_work(w); /* the file is in place, its row is not */
	T_OK(path_exists(f.store_dir, rel));
	struct br_gc_result r = collect(&f);
	T_EQ_INT(r.orphans, 0);
	T_OK(path_exists(f.store_dir, rel));
	T_OK(path_exists(f.store_dir, orphan_rel));
	T_NOERR(contentd_write_end(f.s, w, f.arena, &resp, &err), err);
	T_NOERR(contentd_info(f.s, digest, f.arena, &info, &err), err);

	r = collect(&f);
	T_EQ_INT(r.orphans, 1);
	T_EQ_INT(r.removed, 0);
	T_OK(!path_exists(f.store_dir, orphan_rel));
	T_OK(path_exists(f.store_dir, rel));
	teardown(&f);
}

/* Ingests go once idle past the expiry, unless held or busy. */
static void
test_gc_expires_idle_ingests(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_content_write_req busy = {.ref = "busy", .data = {(const uint8_t *)"b", 1}};
	struct br_content_write_resp resp;
	struct br_content_status st;
	struct contentd_write *w = NULL;

	setup(&f);
	f.s->ingest_expiry_ms = 100;
	add_lease(&f, "default", "l", 0);
	T_NOERR(write_chunk(&f, "idle", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	T_NOERR(write_chunk(&f, "held", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	hold(&f, "l", "ingest", "held");
	T_NOERR(write_chunk(&f, "busy", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	busy.offset = 3;
	T_NOERR(contentd_write_begin(f.s, &busy, NULL, &w, &err), err);
	usleep(150 * 1000);
	T_NOERR(write_chunk(&f, "fresh", 0, "abc", 3, false, 0, NULL, NULL, &err), err);
	/* Idle "idle" and "fresh" are reclaimable in usage only when past the expiry. */
	struct br_content_usage u;
	T_NOERR(contentd_usage(f.s, f.arena, &u, &err), err);
	T_EQ_INT(u.ingests, 4);
	T_EQ_INT(u.ingest_bytes, 12);
	T_EQ_INT(u.reclaimable_bytes, 3);

	struct br_gc_result r = collect(&f);
	T_EQ_INT(r.ingests, 1);
	T_ERR(contentd_status(f.s, "idle", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_OK(!path_exists(f.store_dir, "ingest/idle"));
	T_NOERR(contentd_status(f.s, "held", f.arena, &st, &err), err);
	T_NOERR(contentd_status(f.s, "fresh", f.arena, &st, &err), err);
	T_NOERR(contentd_status(f.s, "busy", f.arena, &st, &err), err);
	contentd_write_work(w);
	T_NOERR(contentd_write_end(f.s, w, f.arena, &resp, &err), err);
	T_EQ_INT(resp.offset, 4);
	teardown(&f);
}

static void
loop_timer_fired(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Run the store's loop for `ms` milliseconds: long enough for any timer of a release. */
static void
run_loop_for(struct fixture *f, uint64_t ms)
{
	uv_timer_t t;
	bool fired = false;

	uv_timer_init(&f->loop, &t);
	t.data = &fired;
	uv_timer_start(&t, loop_timer_fired, ms, 0);
	while (!fired)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* A lease's one resource, or NULL if it holds none or more than one. */
static const char *
held_only(struct fixture *f, const char *id, const char *type)
{
	br_err err = BR_ERR_INIT;
	sqlite3_stmt *st = NULL;
	const char *key = NULL;

	T_NOERR(br_db_prepare(f->s->db,
	                      "SELECT key FROM lease_resources WHERE lease = ? AND type = ?"
	                      " AND (SELECT COUNT(*) FROM lease_resources WHERE lease = ?1) = 1",
	                      &st, &err),
	        err);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		key = br_arena_strdup(f->arena, br_db_text(st, 0));
	sqlite3_finalize(st);
	return key;
}

/* A commit under a lease moves its hold from the ingest to the blob (br_lease_move), for a
 * new blob and for one stored already: nothing is released, so no collection is scheduled,
 * even with a short delay. br_lease_move of a lease that is gone is NOT_FOUND and moves
 * nothing. */
static void
test_commit_under_lease_schedules_nothing(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	const struct contentd_lease_ref lease = {"default", "l"}, gone = {"default", "gone"};
	struct br_content_write_req req = {
	        .ref = "w1", .data = {(const uint8_t *)"held", 4}, .commit = true};
	struct br_content_write_resp resp;
	char digest[BR_DIGEST_BUF];

	setup(&f);
	close_store(&f);
	f.opts.gc_delay_ms = 20;
	open_store(&f, NULL);
	br_digest_buf("held", 4, digest);
	add_lease(&f, "default", "l", 0);
	add_lease(&f, "default", "other", 0);
	hold(&f, "other", "ingest", "w3");

	T_NOERR(contentd_write(f.s, &req, &lease, f.arena, &resp, &err), err);
	T_EQ_STR(held_only(&f, "l", "content"), digest);
	/* The same content again, found at commit: held, the ingest let go of. */
	req.ref = "w2";
	T_ERR(contentd_write(f.s, &req, &lease, f.arena, &resp, &err), err, BR_ALREADY_EXISTS);
	T_EQ_STR(held_only(&f, "l", "content"), digest);
	run_loop_for(&f, 150);
	T_EQ_INT(f.s->gc_runs, 0);

	/* br_lease_move itself: in its own transaction, and not for a lease that is gone. */
	const struct br_lease_resource from = {"ingest", "w3"}, to = {"content", digest};
	T_ERR(br_lease_move(f.s->leases, "default", "gone", &from, &to, &err), err, BR_NOT_FOUND);
	T_EQ_STR(held_only(&f, "other", "ingest"), "w3");
	T_NOERR(br_lease_move(f.s->leases, "default", "other", &from, &to, &err), err);
	T_EQ_STR(held_only(&f, "other", "content"), digest);
	T_ERR(contentd_write(f.s, &req, &gone, f.arena, &resp, &err), err, BR_NOT_FOUND);
	run_loop_for(&f, 150);
	T_EQ_INT(f.s->gc_runs, 0);

	/* The loop does run a release's collection: a lease that expires announces one. */
	add_lease(&f, "default", "short", br_db_now() + 30);
	reopen(&f, NULL);
	run_loop_for(&f, 300);
	T_EQ_INT(f.s->gc_runs, 1);
	teardown(&f);
}

/* A stop lets the running collection finish its current step and no more. */
static void
test_drain_stops_collection_between_steps(void)
{
	struct fixture f;
	struct gc_wait w = {0}, late = {0};

	setup(&f);
	insert_rows(&f, 2000, 0, 1);
	br_gc_now(f.s->gc, gc_done, &w);
	for (int i = 0; i < 3; i++) /* expired leases, ingests, the first batch of blobs */
		uv_run(&f.loop, UV_RUN_ONCE);
	T_OK(!w.done);
	T_EQ_INT(count_rows(&f, "blobs"), 2000 - CONTENTD_GC_BATCH);
	contentd_store_drain(f.s);
	T_OK(w.done && !w.failed);
	T_EQ_INT(w.result.removed, CONTENTD_GC_BATCH);
	T_EQ_INT(count_rows(&f, "blobs"), 2000 - CONTENTD_GC_BATCH);
	/* No collection starts any more. */
	br_gc_now(f.s->gc, gc_done, &late);
	T_OK(late.done && late.failed);
	teardown(&f);
}

/* A blob row that goes takes its /content/delete with it (content.delete, a collection, the
 * repair at start), in namespace "default"; a commit emits nothing; an expired lease is
 * announced deleted by the collection that drops it; the collection ends with /gc/run. */
static void
test_events_with_their_rows(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char kept[BR_DIGEST_BUF], deleted[BR_DIGEST_BUF], lost[BR_DIGEST_BUF], p[512];
	struct t_event *ev;
	struct br_event_content_delete cd;
	struct br_event_lease_delete ld;
	struct br_event_gc_run run;

	setup(&f);
	store_blob(&f, "a", (const uint8_t *)"kept blob", 9, 9, kept);
	store_blob(&f, "b", (const uint8_t *)"deleted blob", 12, 12, deleted);
	T_EQ_INT(t_events_read(f.s->db, NULL, f.arena, &ev), 0);
	T_NOERR(contentd_delete(f.s, deleted, &err), err);
	T_EQ_INT(t_events_read(f.s->db, NULL, f.arena, &ev), 1);
	T_EQ_STR(ev[0].topic, BR_TOPIC_CONTENT_DELETE);
	T_EQ_STR(ev[0].ns, "default");
	T_OK(ev[0].time > 0);
	t_event_decode(&ev[0], &br_event_content_delete_schema, f.arena, &cd);
	T_EQ_STR(cd.digest, deleted);

	/* a row whose file is lost goes at the next open, with its event */
	store_blob(&f, "c", (const uint8_t *)"lost blob", 9, 9, lost);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f.store_dir, br_digest_hex(lost));
	T_EQ_INT(unlink(p), 0);
	reopen(&f, NULL);
	T_EQ_INT(t_events_read(f.s->db, BR_TOPIC_CONTENT_DELETE, f.arena, &ev), 2);
	t_event_decode(&ev[1], &br_event_content_delete_schema, f.arena, &cd);
	T_EQ_STR(cd.digest, lost);

	/* a collection: the expired lease, then the blob nothing holds, then the run */
	add_lease(&f, "other", "old", 1);
	snprintf(p, sizeof(p),
	         "INSERT INTO lease_resources VALUES ('other', 'old', 'content', '%s')", kept);
	T_NOERR(br_db_exec(f.s->db, p, &err), err);
	struct br_gc_result r = collect(&f);
	T_EQ_INT(r.removed, 1);
	T_EQ_INT(t_events_read(f.s->db, NULL, f.arena, &ev), 5);
	T_EQ_STR(ev[2].topic, BR_TOPIC_LEASE_DELETE);
	T_EQ_STR(ev[2].ns, "other");
	t_event_decode(&ev[2], &br_event_lease_delete_schema, f.arena, &ld);
	T_EQ_STR(ld.id, "old");
	T_EQ_STR(ld.daemon, "contentd");
	T_OK(ld.expired);
	T_EQ_STR(ev[3].topic, BR_TOPIC_CONTENT_DELETE);
	t_event_decode(&ev[3], &br_event_content_delete_schema, f.arena, &cd);
	T_EQ_STR(cd.digest, kept);
	T_EQ_STR(ev[4].topic, BR_TOPIC_GC_RUN);
	T_EQ_STR(ev[4].ns, "default");
	t_event_decode(&ev[4], &br_event_gc_run_schema, f.arena, &run);
	T_EQ_STR(run.daemon, "contentd");
	T_EQ_INT(run.removed, 1);
	T_EQ_INT(run.bytes, 9);
	T_EQ_INT(run.leases, 1);
	T_NULL(run.error);

	/* a collection that finds nothing still says that it ran */
	collect(&f);
	T_EQ_INT(t_events_read(f.s->db, NULL, f.arena, &ev), 6);
	T_EQ_STR(ev[5].topic, BR_TOPIC_GC_RUN);
	t_event_decode(&ev[5], &br_event_gc_run_schema, f.arena, &run);
	T_EQ_INT(run.removed + run.leases + run.bytes, 0);
	teardown(&f);
}

T_MAIN(T_CASE(test_write_commit_info_read), T_CASE(test_labels_on_commit),
       T_CASE(test_offset_mismatch), T_CASE(test_digest_mismatch_stores_nothing),
       T_CASE(test_size_mismatch_stores_nothing), T_CASE(test_already_exists),
       T_CASE(test_resume_after_reopen), T_CASE(test_crash_data_ahead_of_row),
       T_CASE(test_reconcile_orphans), T_CASE(test_abort), T_CASE(test_delete),
       T_CASE(test_read_bounds), T_CASE(test_limits), T_CASE(test_locked_while_writing),
       T_CASE(test_empty_blob), T_CASE(test_list_pages_10000),
       T_CASE(test_list_page_ends_at_label_limit), T_CASE(test_commit_over_existing_file),
       T_CASE(test_gc_removes_unheld_in_steps), T_CASE(test_gc_orphans_wait_for_commits),
       T_CASE(test_gc_expires_idle_ingests), T_CASE(test_commit_under_lease_schedules_nothing),
       T_CASE(test_drain_stops_collection_between_steps), T_CASE(test_events_with_their_rows))
