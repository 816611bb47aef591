/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CRI log (common/crilog.c): record format and parsing, times, the writer's line cutting
 * and rotation at the cap, and the cursor reader across rotations, tail and since.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include "common/crilog.h"
#include "test/unit/t.h"

#define SEC 1000000000LL

static char top[64];

static int
rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	return remove(p);
}

static int
tmp_dir(void)
{
	snprintf(top, sizeof(top), "/tmp/berth-crilog.XXXXXX");
	if (mkdtemp(top) == NULL)
		return -1;
	return open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
rm_tmp(void)
{
	nftw(top, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static int64_t
file_size(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, 0) == 0 ? (int64_t)st.st_size : -1;
}

/* Everything from the start, in calls of at most `max` bytes, following the cursor. */
static char *
read_all(int dirfd, struct br_crilog_cursor *cur, size_t max)
{
	char *all = calloc(1, 1);
	size_t total = 0;
	for (int i = 0; i < 100000; i++) {
		uint8_t *data = NULL;
		size_t len = 0;
		bool at_end = false;
		br_err err = BR_ERR_INIT;
		if (br_crilog_read(dirfd, cur, max, &data, &len, cur, &at_end, &err) < 0)
			break;
		all = realloc(all, total + len + 1);
		if (len > 0)
			memcpy(all + total, data, len);
		total += len;
		all[total] = '\0';
		free(data);
		if (at_end)
			break;
	}
	return all;
}

static void
test_time(void)
{
	char buf[BR_CRILOG_TIME_LEN + 1];
	int64_t ns = 0;
	br_err err = BR_ERR_INIT;

	T_EQ_INT(br_crilog_format_time(1764255845LL * SEC + 123456789, buf), BR_CRILOG_TIME_LEN);
	T_EQ_STR(buf, "2025-11-27T15:04:05.123456789Z");
	T_NOERR(br_crilog_parse_time(buf, strlen(buf), &ns, &err), err);
	T_EQ_INT(ns, 1764255845LL * SEC + 123456789);
	T_NOERR(br_crilog_parse_time("2025-11-27T16:04:05+01:00", 25, &ns, &err), err);
	T_EQ_INT(ns, 1764255845LL * SEC);
	T_NOERR(br_crilog_parse_time("2025-11-27T15:04:05.5Z", 22, &ns, &err), err);
	T_EQ_INT(ns, 1764255845LL * SEC + 500000000);
	T_ERR(br_crilog_parse_time("2025-11-27 junk", 15, &ns, &err), err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	T_ERR(br_crilog_parse_time("2025-11-27T15:04:05", 19, &ns, &err), err, BR_INVALID_ARGUMENT);
}

static void
test_parse_line(void)
{
	static const char full[] = "2025-11-27T15:04:05.000000001Z stderr F oops: x";
	static const char part[] = "2025-11-27T15:04:05.000000001Z stdout P ";
	struct br_crilog_line l;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_crilog_parse_line(full, strlen(full), &l, &err), err);
	T_EQ_INT(l.stream, BR_CRILOG_STDERR);
	T_OK(!l.partial);
	T_EQ_INT(l.len, 7);
	T_OK(memcmp(l.content, "oops: x", 7) == 0);
	T_EQ_INT(l.time_ns, 1764255845LL * SEC + 1);
	T_NOERR(br_crilog_parse_line(part, strlen(part), &l, &err), err);
	T_OK(l.partial);
	T_EQ_INT(l.len, 0);
	T_ERR(br_crilog_parse_line("x stdout F a", 12, &l, &err), err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	T_ERR(br_crilog_parse_line("2025-11-27T15:04:05Z stdin F a", 30, &l, &err), err,
	      BR_INVALID_ARGUMENT);
}

static void
test_write_records(void)
{
	int dirfd = tmp_dir();
	struct br_crilog_writer w;
	br_err err = BR_ERR_INIT;
	T_OK(dirfd >= 0);
	T_NOERR(br_crilog_writer_open(&w, dirfd, 1 << 20, 3, &err), err);
	T_NOERR(br_crilog_writer_append(&w, BR_CRILOG_STDOUT, "a\nbb\npart", 9, 5 * SEC, &err),
	        err);
	T_NOERR(br_crilog_writer_append(&w, BR_CRILOG_STDERR, "e\n", 2, 6 * SEC, &err), err);
	/* a line longer than the maximum is cut into P parts */
	char *big = malloc(BR_CRILOG_LINE_MAX + 11);
	memset(big, 'x', BR_CRILOG_LINE_MAX + 10);
	big[BR_CRILOG_LINE_MAX + 10] = '\n';
	T_NOERR(br_crilog_writer_append(&w, BR_CRILOG_STDOUT, big, BR_CRILOG_LINE_MAX + 11, 7 * SEC,
	                                &err),
	        err);
	free(big);
	br_crilog_writer_close(&w);

	struct br_crilog_cursor cur = {0, 0};
	char *all = read_all(dirfd, &cur, 1 << 20);
	const char *want = "1970-01-01T00:00:05.000000000Z stdout F a\n"
	                   "1970-01-01T00:00:05.000000000Z stdout F bb\n"
	                   "1970-01-01T00:00:05.000000000Z stdout P part\n"
	                   "1970-01-01T00:00:06.000000000Z stderr F e\n"
	                   "1970-01-01T00:00:07.000000000Z stdout P xxxx";
	T_OK(strncmp(all, want, strlen(want)) == 0);
	const char *last = strstr(all, "stdout F xxxxxxxxxx\n");
	T_NOT_NULL(last);
	T_EQ_INT(strlen(last), strlen("stdout F xxxxxxxxxx\n"));
	free(all);
	close(dirfd);
	rm_tmp();
}

/* A writer over the cap: files never pass it, at most max_files exist, and a reader who
 * reads between rotations sees every line once, in order. */
static void
test_rotation_and_follow(void)
{
	int dirfd = tmp_dir();
	struct br_crilog_writer w;
	br_err err = BR_ERR_INIT;
	struct br_crilog_cursor cur = {0, 0};
	char line[64];
	int next_expected = 0;

	T_OK(dirfd >= 0);
	T_NOERR(br_crilog_writer_open(&w, dirfd, 4096, 3, &err), err);
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", i);
		T_NOERR(br_crilog_writer_append(&w, BR_CRILOG_STDOUT, line, (size_t)n, SEC, &err),
		        err);
		T_OK(file_size(dirfd, "current.log") <= 4096);
		if (i % 50 != 49)
			continue;
		/* a follower reading now and then (less often than the rotation) */
		char *got = read_all(dirfd, &cur, 300);
		for (char *p = got; (p = strstr(p, " F line ")) != NULL; p++) {
			int v = atoi(p + 8);
			T_EQ_INT(v, next_expected);
			next_expected++;
		}
		free(got);
	}
	br_crilog_writer_close(&w);
	T_EQ_INT(next_expected, 2000);
	T_OK(file_size(dirfd, "current.log.1") > 0 && file_size(dirfd, "current.log.1") <= 4096);
	T_OK(file_size(dirfd, "current.log.2") > 0 && file_size(dirfd, "current.log.2") <= 4096);
	T_EQ_INT(file_size(dirfd, "current.log.3"), -1);

	/* a smaller setting removes the files past it */
	T_NOERR(br_crilog_writer_open(&w, dirfd, 4096, 2, &err), err);
	br_crilog_writer_close(&w);
	T_EQ_INT(file_size(dirfd, "current.log.2"), -1);

	/* a cursor into a file rotated away resumes at the oldest */
	struct br_crilog_cursor lost = {1, 10};
	uint8_t *data = NULL;
	size_t len = 0;
	bool at_end = false;
	T_NOERR(br_crilog_read(dirfd, &lost, 1 << 20, &data, &len, &cur, &at_end, &err), err);
	T_OK(at_end);
	T_EQ_INT(len, file_size(dirfd, "current.log.1") + file_size(dirfd, "current.log"));
	free(data);
	close(dirfd);
	rm_tmp();
}

static void
test_tail_and_since(void)
{
	int dirfd = tmp_dir();
	struct br_crilog_writer w;
	br_err err = BR_ERR_INIT;
	struct br_crilog_cursor cur;
	char line[64];

	T_OK(dirfd >= 0);
	T_NOERR(br_crilog_writer_open(&w, dirfd, 4096, 5, &err), err);
	for (int i = 0; i < 200; i++) {
		int n = snprintf(line, sizeof(line), "line %d\n", i);
		T_NOERR(br_crilog_writer_append(&w, i % 2 ? BR_CRILOG_STDERR : BR_CRILOG_STDOUT,
		                                line, (size_t)n, (int64_t)(1000 + i) * SEC, &err),
		        err);
	}
	/* a partial line at the end counts with the line it ends */
	T_NOERR(br_crilog_writer_append(&w, BR_CRILOG_STDOUT, "tail", 4, 1200 * SEC, &err), err);
	br_crilog_writer_close(&w);
	T_OK(file_size(dirfd, "current.log.1") > 0);

	T_NOERR(br_crilog_seek(dirfd, 3, 0, &cur, &err), err);
	char *got = read_all(dirfd, &cur, 1 << 20);
	T_OK(strstr(got, " F line 196\n") == NULL);
	T_OK(strstr(got, " F line 197\n") != NULL);
	T_OK(strstr(got, " F line 199\n") != NULL);
	T_OK(strstr(got, " P tail\n") != NULL);
	free(got);

	T_NOERR(br_crilog_seek(dirfd, 0, 0, &cur, &err), err);
	got = read_all(dirfd, &cur, 1 << 20);
	T_OK(strstr(got, " F line") == NULL);
	free(got);

	/* since 1150 s: lines 150.. (across the rotated files) */
	T_NOERR(br_crilog_seek(dirfd, -1, 1150 * SEC, &cur, &err), err);
	got = read_all(dirfd, &cur, 1 << 20);
	T_OK(strstr(got, " F line 149\n") == NULL);
	T_EQ_INT(strncmp(strstr(got, " F line") + 3, "line 150\n", 9), 0);
	free(got);

	/* both: the later start wins */
	T_NOERR(br_crilog_seek(dirfd, 100, 1190 * SEC, &cur, &err), err);
	got = read_all(dirfd, &cur, 1 << 20);
	T_EQ_INT(strncmp(strstr(got, " F line") + 3, "line 190\n", 9), 0);
	free(got);

	/* no log at all */
	T_NOERR(br_crilog_seek(-1, 3, 0, &cur, &err), err);
	T_EQ_INT(cur.file_id, 0);
	close(dirfd);
	rm_tmp();
}

T_MAIN(T_CASE(test_time), T_CASE(test_parse_line), T_CASE(test_write_records),
       T_CASE(test_rotation_and_follow), T_CASE(test_tail_and_since))
