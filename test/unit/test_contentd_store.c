/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The content store without RPC: resumable ingests, commits that verify size and digest and
 * store nothing on a mismatch, reads, deletes, limits, and recovery after a crash simulated by
 * leaving partial files and rows behind and opening the store again.
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
#include "common/msg.h"
#include "contentd/store.h"
#include "test/unit/t.h"

struct fixture {
	char dir[64];
	char store_dir[128];
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

static void
setup(struct fixture *f)
{
	br_err err = BR_ERR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-content-XXXXXX");
	T_NOT_NULL(mkdtemp(f->dir));
	guard_dir(f->dir);
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/contentd", f->dir);
	T_NOERR(contentd_store_open(f->store_dir, NULL, &f->s, &err), err);
	f->arena = br_arena_new();
}

static void
reopen(struct fixture *f, struct contentd_reconcile_stats *stats)
{
	br_err err = BR_ERR_INIT;

	contentd_store_free(f->s);
	f->s = NULL;
	T_NOERR(contentd_store_open(f->store_dir, stats, &f->s, &err), err);
}

static void
teardown(struct fixture *f)
{
	contentd_store_free(f->s);
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
	return contentd_write(f->s, &req, f->arena, resp ? resp : &ignored, err);
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
	T_NOERR(contentd_list(f.s, f.arena, &list, &err), err);
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
	T_NOERR(contentd_write(f.s, &req, f.arena, &resp, &err), err);
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
	T_NOERR(contentd_list(f.s, f.arena, &list, &err), err);
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
	contentd_store_free(f.s);
	f.s = NULL;
	snprintf(path, sizeof(path), "%s/ingest/crash/data", f.store_dir);
	int fd = open(path, O_WRONLY | O_APPEND);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, data + 100, 50), 50);
	close(fd);
	T_NOERR(contentd_store_open(f.store_dir, &stats, &f.s, &err), err);
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

static void
test_reconcile_orphans(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char good[BR_DIGEST_BUF], lost[BR_DIGEST_BUF], rel[256], p[512];
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
	contentd_store_free(f.s);
	f.s = NULL;

	/* A blob file renamed into place just before a crash, without its row. */
	br_digest_buf("committed before the crash", 26, good);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(good));
	write_file(f.store_dir, rel, "committed before the crash", 26);
	/* A blob file whose content does not match its name. */
	char bad[BR_DIGEST_BUF];
	br_digest_buf("x", 1, bad);
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(bad));
	write_file(f.store_dir, rel, "not x", 5);
	/* A stray temporary file. */
	write_file(f.store_dir, "blobs/sha256/tmp-123", "t", 1);
	/* An ingest directory without a row. */
	snprintf(p, sizeof(p), "%s/ingest/ghost", f.store_dir);
	T_EQ_INT(mkdir(p, 0700), 0);
	write_file(f.store_dir, "ingest/ghost/data", "boo", 3);

	T_NOERR(contentd_store_open(f.store_dir, &stats, &f.s, &err), err);
	T_EQ_INT(stats.blobs_registered, 1);
	T_EQ_INT(stats.blobs_removed, 2);
	T_EQ_INT(stats.rows_removed, 1);
	T_EQ_INT(stats.ingests_removed, 2);
	T_NOERR(contentd_info(f.s, good, f.arena, &info, &err), err);
	T_EQ_INT(info.size, 26);
	T_ERR(contentd_info(f.s, lost, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_info(f.s, bad, f.arena, &info, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_status(f.s, "gone", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_ERR(contentd_status(f.s, "ghost", f.arena, &st, &err), err, BR_NOT_FOUND);
	T_OK(!path_exists(f.store_dir, "ingest/ghost"));
	T_OK(!path_exists(f.store_dir, "blobs/sha256/tmp-123"));
	snprintf(rel, sizeof(rel), "blobs/sha256/%s", br_digest_hex(bad));
	T_OK(!path_exists(f.store_dir, rel));
	/* The adopted blob is read-only like every other. */
	struct stat sb;
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f.store_dir, br_digest_hex(good));
	T_EQ_INT(stat(p, &sb), 0);
	T_EQ_INT(sb.st_mode & 07777, 0444);
	/* A second start finds nothing to repair. */
	reopen(&f, &stats);
	T_EQ_INT(stats.blobs_registered + stats.blobs_removed + stats.rows_removed +
	                 stats.ingests_removed,
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
	T_NOERR(contentd_write_begin(f.s, &req, &w, &err), err);
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

T_MAIN(T_CASE(test_write_commit_info_read), T_CASE(test_labels_on_commit),
       T_CASE(test_offset_mismatch), T_CASE(test_digest_mismatch_stores_nothing),
       T_CASE(test_size_mismatch_stores_nothing), T_CASE(test_already_exists),
       T_CASE(test_resume_after_reopen), T_CASE(test_crash_data_ahead_of_row),
       T_CASE(test_reconcile_orphans), T_CASE(test_abort), T_CASE(test_delete),
       T_CASE(test_read_bounds), T_CASE(test_limits), T_CASE(test_locked_while_writing),
       T_CASE(test_empty_blob))
