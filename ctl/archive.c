/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth images import and export (docs/archives.md). Import uploads the archive (a file, or
 * our stdin as "-") to contentd in chunks (content.write), hashing it on the way, under a
 * lease of its own that keeps the archive until the import job holds what it needs (and that
 * expires by itself should this command die), then starts images.import and follows the job.
 * Export opens an images.export stream: its REPLY names the export job, the archive arrives
 * in STDOUT frames and is written to the file or our stdout, and EXIT 0 ends it; a stream that
 * ends without EXIT failed, and the job says why.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/digest.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"
#include "libberth/internal.h"

#define UPLOAD_LEASE_TTL_MS (60 * 60 * 1000)
#define JOB_END_WAIT_MS 10000
#define PROGRESS_MS 500 /* jobs.get while the archive flows: at most twice a second */

/* A lease "import-<random>" for an upload, expiring in an hour. */
static int
upload_lease(struct ctl *ctl, char out[32], br_err *err)
{
	uint8_t rnd[8];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return br_err_errno(err, BR_INTERNAL, errno, "getrandom");
	int n = snprintf(out, 32, "import-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(out + n, 32 - (size_t)n, "%02x", rnd[i]);
	struct br_lease_create_req req = {.id = out, .ttl_ms = UPLOAD_LEASE_TTL_MS};
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	if (ctl_call(ctl, "content.leases.create", &br_lease_create_req_schema, &req, NULL, NULL,
	             arena, 0, err) < 0)
		return br_err_wrap(err, "upload lease");
	return 0;
}

/* The import job holds what it needs by now: the upload's lease can go (best effort; it
 * expires anyway). */
static void
drop_lease(struct ctl *ctl, const char *lease)
{
	struct br_lease_id_req req = {.id = lease};
	br_err ignored = BR_ERR_INIT;

	ctl_call(ctl, "content.leases.delete", &br_lease_id_req_schema, &req, NULL, NULL, NULL, 0,
	         &ignored);
}

/* Fill buf (cap bytes) from fd: fewer only at the end of its input. */
static ssize_t
read_full(int fd, uint8_t *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR && ctl_signal_last() == 0)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	return (ssize_t)n;
}

static void
abort_ingest(struct ctl *ctl, const char *ref)
{
	struct br_content_ref_req req = {.ref = ref};
	br_err ignored = BR_ERR_INIT;

	ctl_call(ctl, "content.abort", &br_content_ref_req_schema, &req, NULL, NULL, NULL, 0,
	         &ignored);
}

/* upload's writes: `cur` holds the first `got` bytes; hashed into h. */
static int
upload_chunks(struct ctl *ctl, int fd, const char *ref, br_sha256 *h, uint8_t *cur, uint8_t *next,
              ssize_t got, char digest[BR_DIGEST_BUF], br_err *err)
{
	int64_t offset = 0;

	for (;;) {
		if (got < 0 || ctl_signal_last() != 0) {
			int e = errno;
			if (offset > 0)
				abort_ingest(ctl, ref);
			if (ctl_signal_last() != 0)
				return br_err_set(err, BR_CANCELED, "upload interrupted");
			return br_err_errno(err, BR_INTERNAL, e, "read at offset %lld",
			                    (long long)offset);
		}
		br_sha256_update(h, cur, (size_t)got);
		ssize_t ahead = (size_t)got < BR_CHUNK_MAX ? 0 : read_full(fd, next, BR_CHUNK_MAX);
		bool last = ahead == 0;
		if (last) {
			br_sha256_final(h, digest);
		}
		struct br_content_write_req req = {
		        .ref = ref,
		        .offset = offset,
		        .data = {cur, (size_t)got},
		        .total = last ? offset + got : 0,
		        .expected = last ? digest : NULL,
		        .commit = last,
		};
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_content_write_resp resp;
		if (ctl_call(ctl, "content.write", &br_content_write_req_schema, &req,
		             &br_content_write_resp_schema, &resp, arena, 0, err) < 0) {
			if (err->code == BR_ALREADY_EXISTS && last) {
				br_err_clear(err);
				break;
			}
			abort_ingest(ctl, ref);
			return br_err_wrap(err, "upload");
		}
		offset += got;
		if (last)
			break;
		uint8_t *t = cur;
		cur = next;
		next = t;
		got = ahead;
	}
	return 0;
}

/* Upload all that `fd` gives (a file or a pipe) to contentd under ctl->lease, hashing it on
 * the way; its digest in ret_digest. A blob that is already stored is fine: the lease holds
 * it all the same. */
static int
upload(struct ctl *ctl, int fd, char ret_digest[BR_DIGEST_BUF], br_err *err)
{
	uint8_t rnd[8];
	char ref[32];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return br_err_errno(err, BR_INTERNAL, errno, "getrandom");
	int n = snprintf(ref, sizeof(ref), "import-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(ref + n, sizeof(ref) - (size_t)n, "%02x", rnd[i]);

	/* One chunk read ahead: the last write is the one that commits. */
	_cleanup_free_ uint8_t *cur = xmalloc(BR_CHUNK_MAX);
	_cleanup_free_ uint8_t *next = xmalloc(BR_CHUNK_MAX);
	br_sha256 *h = br_sha256_new();
	char digest[BR_DIGEST_BUF];
	ssize_t got = read_full(fd, cur, BR_CHUNK_MAX);
	if (got == 0) {
		br_sha256_free(h);
		return br_err_set(err, BR_INVALID_ARGUMENT, "the archive is empty");
	}
	int rc = upload_chunks(ctl, fd, ref, h, cur, next, got, digest, err);
	br_sha256_free(h);
	if (rc == 0)
		memcpy(ret_digest, digest, BR_DIGEST_BUF);
	return rc;
}

/* Print "imported NAME" (or NAME alone when `verb` is NULL) for each name of the job's result
 * line (names separated by spaces, after the verb when there is one). */
static void
print_names(const char *line, const char *verb)
{
	size_t vl = verb ? strlen(verb) : 0;

	if (verb != NULL && (strncmp(line, verb, vl) != 0 || line[vl] != ' ')) {
		fputs(line, stdout);
		return;
	}
	const char *p = verb ? line + vl + 1 : line;
	while (*p != '\0' && *p != '\n') {
		size_t n = strcspn(p, " \n");
		if (n > 0 && verb != NULL)
			printf("%s %.*s\n", verb, (int)n, p);
		else if (n > 0)
			printf("%.*s\n", (int)n, p);
		p += n;
		if (*p == ' ')
			p++;
	}
}

int
ctl_images_import(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"name", required_argument, NULL, 'N'},
	        {"platform", required_argument, NULL, 'P'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *name = NULL, *platform = NULL;
	bool quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "qh", opts, "images import"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'N':
			name = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'P':
			platform = optarg;
			break;
		case 'h':
			printf("Usage: berth images import [--name NAME] [--platform P] [-q] "
			       "FILE|-\n\n"
			       "Import the images of an archive: an OCI image layout or a "
			       "docker-archive\n(docker save), as tar, plain or gzip/zstd "
			       "compressed; - reads standard input.\n"
			       "  --name NAME     import only this image (or the archive's one "
			       "image under NAME)\n"
			       "  --platform P    the platform to take from a multi-platform "
			       "image\n"
			       "  -q, --quiet     no progress; print the names imported alone\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("images import needs exactly one FILE (or - for stdin)");
	const char *path = argv[optind];
	bool from_stdin = strcmp(path, "-") == 0;
	_cleanup_free_ char *what = xasprintf("import %s", from_stdin ? "(stdin)" : path);

	_cleanup_close_ int fd = from_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		br_err_errno(&err, br_code_from_errno(errno), errno, "%s", what);
		return ctl_report(&err);
	}
	if (fstat(fd, &st) < 0) {
		br_err_errno(&err, BR_INTERNAL, errno, "%s: stat", what);
		return ctl_report(&err);
	}
	if (S_ISDIR(st.st_mode) || (!from_stdin && !S_ISREG(st.st_mode))) {
		br_err_set(&err, BR_INVALID_ARGUMENT, "%s: not a regular file", what);
		return ctl_report(&err);
	}
	if (S_ISREG(st.st_mode) && st.st_size == 0) {
		br_err_set(&err, BR_INVALID_ARGUMENT, "%s: file is empty", what);
		return ctl_report(&err);
	}
	if (from_stdin && isatty(fd)) {
		br_err_set(&err, BR_INVALID_ARGUMENT,
		           "%s: standard input is a terminal; redirect an archive to it", what);
		return ctl_report(&err);
	}
	if (ctl_signals_start(NULL, NULL, &err) < 0)
		return ctl_report(&err);
	char lease[32];
	if (upload_lease(ctl, lease, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	char digest[BR_DIGEST_BUF];
	ctl->lease = lease;
	int rc = upload(ctl, fd, digest, &err);
	ctl->lease = NULL;
	if (rc < 0) {
		drop_lease(ctl, lease);
		br_err_wrap(&err, "%s", what);
		rc = ctl_report(&err);
		return err.code == BR_CANCELED ? CTL_EXIT_INTERRUPTED : rc;
	}

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image_import_req req = {.digest = digest, .name = name, .platform = platform};
	struct br_job_ref job;
	if (ctl_call(ctl, "images.import", &br_image_import_req_schema, &req, &br_job_ref_schema,
	             &job, arena, 0, &err) < 0) {
		drop_lease(ctl, lease);
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	char *line = NULL;
	size_t line_len = 0;
	FILE *out = open_memstream(&line, &line_len);
	struct ctl_follow follow = {
	        .what = what, .verb = "imported", .out = out ? out : stdout, .quiet = quiet};
	rc = ctl_follow_job(ctl, job.id, &follow);
	if (out != NULL) {
		fclose(out);
		print_names(line, quiet ? NULL : "imported");
		free(line);
	}
	drop_lease(ctl, lease);
	return rc;
}

/* ------------------------------------------------------------------ export */

/* Show export job `id` as it is now (jobs.get), at most every PROGRESS_MS. */
static void
progress(struct ctl *ctl, const char *id, struct ctl_progress *p, int64_t *last_ms)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_job_ref req = {.id = id};
	struct br_job job;
	br_err ignored = BR_ERR_INIT;
	int64_t now = br_now_ms();

	if (now - *last_ms < PROGRESS_MS)
		return;
	*last_ms = now;
	if (ctl_call(ctl, "jobs.get", &br_job_ref_schema, &req, &br_job_schema, &job, arena, 0,
	             &ignored) == 0 &&
	    job.state != NULL && strcmp(job.state, "running") == 0)
		ctl_progress_show(p, &job);
}

/* Copy the stream's STDOUT frames to `out` until EXIT (its status) or the stream's end
 * (UNAVAILABLE), showing the job's progress on the way (`p` may be NULL: none). */
static int
receive(struct ctl *ctl, const char *id, struct ctl_progress *p, int fd, int out, int *ret_status,
        br_err *err)
{
	_cleanup_free_ uint8_t *buf = xmalloc(BR_STREAM_FRAME_MAX);
	int64_t last_ms = 0;

	for (;;) {
		enum br_stream_type type;
		uint32_t len;
		if (ctl_signal_last() != 0)
			return br_err_set(err, BR_CANCELED, "interrupted");
		if (p != NULL)
			progress(ctl, id, p, &last_ms);
		if (br_stream_read_frame(fd, -1, &type, buf, BR_STREAM_FRAME_MAX, &len, err) < 0)
			return -1;
		if (type == BR_STREAM_STDOUT) {
			if (br_write_all(out, buf, len, err) < 0)
				return -1;
		} else if (type == BR_STREAM_EXIT && len == 4) {
			*ret_status = (int)((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
			                    (uint32_t)buf[2] << 8 | buf[3]);
			return 0;
		}
	}
}

/* The export job's error, once the stream ended without EXIT. */
static int
job_error(struct ctl *ctl, const char *id, const char *what, const br_err *stream_err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_job_wait_req req = {.id = id, .timeout_ms = JOB_END_WAIT_MS};
	struct br_job job;
	br_err err = BR_ERR_INIT;

	if (ctl_call(ctl, "jobs.wait", &br_job_wait_req_schema, &req, &br_job_schema, &job, arena,
	             JOB_END_WAIT_MS + 10000, &err) < 0 ||
	    job.error_code == NULL || job.error_code[0] == '\0') {
		br_err_copy(&err, stream_err);
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	const char *msg = job.error_msg && job.error_msg[0] ? job.error_msg : job.error_code;
	size_t wl = strlen(what);
	/* imaged names the operation already */
	if (strncmp(msg, what, wl) == 0 && msg[wl] == ':')
		fprintf(stderr, "berth: %s\n", msg);
	else
		fprintf(stderr, "berth: %s: %s\n", what, msg);
	return ctl_exit_code(br_code_from_name(job.error_code, strlen(job.error_code)));
}

int
ctl_images_export(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"format", required_argument, NULL, 'F'},
	        {"platform", required_argument, NULL, 'P'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *output = NULL, *format = "oci", *platform = NULL;
	bool quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "qho:", opts, "images export"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'F':
			format = optarg;
			break;
		case 'P':
			platform = optarg;
			break;
		case 'h':
			printf("Usage: berth images export [-o FILE] [--format oci|docker] "
			       "[--platform P] IMAGE...\n\n"
			       "Write images as one tar archive to FILE or standard output.\n"
			       "  -o, --output FILE   the archive (default: standard output, "
			       "never a terminal)\n"
			       "  --format oci        an OCI image layout, every platform held "
			       "(default)\n"
			       "  --format docker     a docker-archive (docker save), one "
			       "platform\n"
			       "  --platform P        only this platform\n"
			       "  -q, --quiet         no progress on standard error\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (strcmp(format, "oci") != 0 && strcmp(format, "docker") != 0)
		return ctl_usage_error("--format %s: expected oci or docker", format);
	if (argc - optind < 1)
		return ctl_usage_error("images export needs at least one IMAGE");
	if (argc - optind > BR_IMAGE_EXPORT_MAX)
		return ctl_usage_error("images export: at most %d images at once",
		                       BR_IMAGE_EXPORT_MAX);
	const char *what = "export";
	if (output == NULL && isatty(STDOUT_FILENO)) {
		br_err_set(&err, BR_INVALID_ARGUMENT,
		           "%s: refusing to write an archive to a terminal: use -o FILE or "
		           "redirect the output",
		           what);
		return ctl_report(&err);
	}
	_cleanup_free_ char *tmp = output ? xasprintf("%s.tmp-XXXXXX", output) : NULL;
	_cleanup_close_ int out = STDOUT_FILENO;
	if (tmp != NULL) {
		out = mkostemp(tmp, O_CLOEXEC);
		if (out < 0) {
			br_err_errno(&err, br_code_from_errno(errno), errno, "%s: create %s", what,
			             output);
			return ctl_report(&err);
		}
		fchmod(out, 0644);
	} else {
		out = dup(STDOUT_FILENO);
	}
	ctl_signals_block();
	if (ctl_signals_start(NULL, NULL, &err) < 0)
		return ctl_report(&err);

	struct br_image_export_req req = {
	        .names = {(const char **)argv + optind, (size_t)(argc - optind)},
	        .format = format,
	        .platform = platform,
	};
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_job_ref job = {0};
	_cleanup_close_ int fd = -1;
	if (libberth_stream_open_result(ctl->address, "images.export", ctl->ns,
	                                &br_image_export_req_schema, &req, &br_job_ref_schema, &job,
	                                arena, &fd, &err) < 0) {
		if (tmp != NULL)
			unlink(tmp);
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	/* Progress as for a pull, on stderr; the result line nowhere (stdout may be the archive).
	 */
	struct ctl_follow follow = {.what = what, .verb = "exported", .quiet = quiet};
	_cleanup_(ctl_progress_freep) struct ctl_progress *p = ctl_progress_new(&follow);
	int status = -1;
	int rc = receive(ctl, job.id, quiet ? NULL : p, fd, out, &status, &err);
	if (rc < 0 || status != 0) {
		if (tmp != NULL)
			unlink(tmp);
		if (err.code == BR_CANCELED) {
			fprintf(stderr, "berth: %s: canceled\n", what);
			return CTL_EXIT_INTERRUPTED;
		}
		if (rc == 0)
			br_err_set(&err, BR_INTERNAL, "the export ended with status %d", status);
		return job_error(ctl, job.id, what, &err);
	}
	if (tmp != NULL && (fsync(out) < 0 || rename(tmp, output) < 0)) {
		br_err_errno(&err, BR_INTERNAL, errno, "%s: write %s", what, output);
		unlink(tmp);
		return ctl_report(&err);
	}
	if (!quiet) {
		/* The last drawing: every member written. */
		struct br_job_wait_req wreq = {.id = job.id, .timeout_ms = JOB_END_WAIT_MS};
		struct br_job end;
		br_err ignored = BR_ERR_INIT;
		if (ctl_call(ctl, "jobs.wait", &br_job_wait_req_schema, &wreq, &br_job_schema, &end,
		             arena, JOB_END_WAIT_MS + 10000, &ignored) == 0)
			ctl_progress_end(p, &end);
	}
	return 0;
}
