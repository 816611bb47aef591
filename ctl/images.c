/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth images: pull, import, ls and rm. Pull and import start a job in berth-imaged and
 * follow it until it ends (ctl_follow_job, progress.c: the progress goes to stderr); an
 * interrupt cancels the job. Import first uploads the archive to contentd
 * in chunks (content.write), verified against the sha256 computed here, under a lease of its
 * own that keeps the archive until the import job holds what it needs (and that expires by
 * itself should this command die).
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
#include "common/digest.h"
#include "common/json.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

#define UPLOAD_LEASE_TTL_MS (60 * 60 * 1000)

static int
cmd_pull(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"platform", required_argument, NULL, 'p'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *platform = NULL;
	bool quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			platform = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth images pull REF [--platform OS/ARCH] [-q|--quiet]\n");
			return 0;
		case ':':
			return ctl_usage_error("option %s needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("images pull: unknown option %s", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("images pull needs exactly one image reference");
	const char *ref = argv[optind];
	_cleanup_free_ char *what = xasprintf("pull %s", BR_ERR_QUOTE(ref));

	if (ctl_signals_start(NULL, NULL, &err) < 0)
		return ctl_report(&err);
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(ctl_creds_fini) struct ctl_creds creds = {0};
	struct br_image_pull_req req = {
	        .ref = ref, .platform = platform, .auth = ctl_ref_auth(ref, "pulling", &creds)};
	struct br_job_ref job;
	if (ctl_call(ctl, "images.pull", &br_image_pull_req_schema, &req, &br_job_ref_schema, &job,
	             arena, 0, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	struct ctl_follow follow = {.what = what, .verb = "pulled", .out = stdout, .quiet = quiet};
	return ctl_follow_job(ctl, job.id, &follow);
}

int
ctl_cmd_pull(struct ctl *ctl, int argc, char **argv)
{
	return cmd_pull(ctl, argc, argv);
}

int
ctl_images_pull(struct ctl *ctl, const char *ref, FILE *out)
{
	_cleanup_free_ char *what = xasprintf("pull %s", BR_ERR_QUOTE(ref));
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(ctl_creds_fini) struct ctl_creds creds = {0};
	struct br_image_pull_req req = {.ref = ref, .auth = ctl_ref_auth(ref, "pulling", &creds)};
	struct br_job_ref job;
	br_err err = BR_ERR_INIT;

	if (ctl_call(ctl, "images.pull", &br_image_pull_req_schema, &req, &br_job_ref_schema, &job,
	             arena, 0, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	struct ctl_follow follow = {.what = what, .verb = "pulled", .out = out};
	return ctl_follow_job(ctl, job.id, &follow);
}

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

/* Upload the open file `fd` of `size` bytes with digest `digest` to contentd (under
 * ctl->lease). A blob that is already stored is fine: the lease holds it all the same. */
static int
upload(struct ctl *ctl, int fd, int64_t size, const char *digest, br_err *err)
{
	uint8_t rnd[8];
	char ref[32];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return br_err_errno(err, BR_INTERNAL, errno, "getrandom");
	int n = snprintf(ref, sizeof(ref), "import-");
	for (size_t i = 0; i < sizeof(rnd); i++)
		n += snprintf(ref + n, sizeof(ref) - (size_t)n, "%02x", rnd[i]);

	_cleanup_free_ uint8_t *buf = xmalloc(BR_CHUNK_MAX);
	int64_t offset = 0;
	while (offset < size) {
		if (ctl_signal_last() != 0) {
			struct br_content_ref_req abort_req = {.ref = ref};
			br_err ignored = BR_ERR_INIT;
			ctl_call(ctl, "content.abort", &br_content_ref_req_schema, &abort_req, NULL,
			         NULL, NULL, 0, &ignored);
			return br_err_set(err, BR_CANCELED, "upload interrupted");
		}
		size_t want = (size_t)(size - offset) < BR_CHUNK_MAX ? (size_t)(size - offset)
		                                                     : BR_CHUNK_MAX;
		ssize_t got = pread(fd, buf, want, offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "read at offset %lld",
			                    (long long)offset);
		if (got == 0)
			return br_err_set(err, BR_FAILED_PRECONDITION,
			                  "file shrank while uploading (at offset %lld)",
			                  (long long)offset);
		bool last = offset + got >= size;
		struct br_content_write_req req = {
		        .ref = ref,
		        .offset = offset,
		        .data = {buf, (size_t)got},
		        .total = size,
		        .expected = digest,
		        .commit = last,
		};
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_content_write_resp resp;
		if (ctl_call(ctl, "content.write", &br_content_write_req_schema, &req,
		             &br_content_write_resp_schema, &resp, arena, 0, err) < 0) {
			if (err->code == BR_ALREADY_EXISTS && (last || offset == 0)) {
				if (!last) {
					struct br_content_ref_req abort_req = {.ref = ref};
					br_err ignored = BR_ERR_INIT;
					ctl_call(ctl, "content.abort", &br_content_ref_req_schema,
					         &abort_req, NULL, NULL, NULL, 0, &ignored);
				}
				br_err_clear(err);
				return 0;
			}
			return br_err_wrap(err, "upload %s", digest);
		}
		offset += got;
	}
	return 0;
}

static int
cmd_import(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"name", required_argument, NULL, 'N'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *name = NULL;
	bool quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", opts, NULL)) != -1) {
		switch (c) {
		case 'N':
			name = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth images import FILE [--name NAME] "
			       "[-q|--quiet]\n\nImport an OCI "
			       "image layout archive (tar).\n");
			return 0;
		case ':':
			return ctl_usage_error("option %s needs a value", argv[optind - 1]);
		default:
			return ctl_usage_error("images import: unknown option %s",
			                       argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("images import needs exactly one FILE");
	const char *path = argv[optind];
	_cleanup_free_ char *what = xasprintf("import %s", path);

	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		br_err_errno(&err, br_code_from_errno(errno), errno, "%s", what);
		return ctl_report(&err);
	}
	if (fstat(fd, &st) < 0) {
		br_err_errno(&err, BR_INTERNAL, errno, "%s: stat", what);
		return ctl_report(&err);
	}
	if (!S_ISREG(st.st_mode)) {
		br_err_set(&err, BR_INVALID_ARGUMENT, "%s: not a regular file", what);
		return ctl_report(&err);
	}
	if (st.st_size == 0) {
		br_err_set(&err, BR_INVALID_ARGUMENT, "%s: file is empty", what);
		return ctl_report(&err);
	}
	char digest[BR_DIGEST_BUF];
	if (br_digest_fd(fd, digest, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	if (ctl_signals_start(NULL, NULL, &err) < 0)
		return ctl_report(&err);
	char lease[32];
	if (upload_lease(ctl, lease, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	ctl->lease = lease;
	int rc = upload(ctl, fd, st.st_size, digest, &err);
	ctl->lease = NULL;
	if (rc < 0) {
		drop_lease(ctl, lease);
		br_err_wrap(&err, "%s", what);
		rc = ctl_report(&err);
		return err.code == BR_CANCELED ? CTL_EXIT_INTERRUPTED : rc;
	}

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image_import_req req = {.digest = digest, .name = name};
	struct br_job_ref job;
	if (ctl_call(ctl, "images.import", &br_image_import_req_schema, &req, &br_job_ref_schema,
	             &job, arena, 0, &err) < 0) {
		drop_lease(ctl, lease);
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	struct ctl_follow follow = {
	        .what = what, .verb = "imported", .out = stdout, .quiet = quiet};
	rc = ctl_follow_job(ctl, job.id, &follow);
	drop_lease(ctl, lease);
	return rc;
}

static const char *
image_key(const void *item)
{
	return ((const struct br_image *)item)->name;
}

static void
image_json(yajl_gen g, const void *item)
{
	const struct br_image *im = item;
	br_json_gen_kv_str(g, "name", im->name);
	br_json_gen_kv_str(g, "digest", im->target.digest);
	br_json_gen_kv_str(g, "media_type", im->target.media_type);
	br_json_gen_kv_str(g, "manifest_digest", im->manifest_digest);
	br_json_gen_kv_str(g, "config_digest", im->config_digest);
	br_json_gen_kv_str(g, "platform", im->platform);
	br_json_gen_kv_int(g, "size", im->size);
	br_json_gen_kv_int(g, "created_at", im->created_at);
}

static void
image_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_image *im = item;
	char digest[32], size[32], created[64];
	ctl_short_digest(im->target.digest, digest, sizeof(digest));
	ctl_human_size(im->size, size, sizeof(size));
	ctl_human_since(im->created_at, now, created, sizeof(created));
	const char *cells[] = {im->name, digest, size, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view image_view = {
        .item_size = sizeof(struct br_image),
        .n_cols = 4,
        .headers = (const char *const[]){"NAME", "DIGEST", "SIZE", "CREATED"},
        .key = image_key,
        .json = image_json,
        .row = image_row,
};

static int
cmd_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth images ls [-q|--quiet]\n");
			return 0;
		default:
			return ctl_usage_error("images ls: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("images ls takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image_list_req req = {0};
	struct br_image_list_resp page;
	struct br_objlist resp;
	if (ctl_list_all(ctl, "images.list", &br_image_list_req_schema, &req, &req.page,
	                 &br_image_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_image), arena, &resp, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &image_view, &resp, quiet, NULL);
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth images rm NAME...\n");
		return 0;
	}
	if (argc < 2)
		return ctl_usage_error("images rm needs at least one image NAME");
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct br_image_name_req req = {.name = argv[i]};
		br_err err = BR_ERR_INIT;
		if (ctl_call(ctl, "images.remove", &br_image_name_req_schema, &req, NULL, NULL,
		             NULL, 0, &err) < 0) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

int
ctl_cmd_images(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"pull", cmd_pull},         {"import", cmd_import}, {"ls", cmd_ls},
	        {"list", cmd_ls},           {"rm", cmd_rm},         {"remove", cmd_rm},
	        {"push", ctl_cmd_push},     {"tag", ctl_cmd_tag},   {"login", ctl_cmd_login},
	        {"logout", ctl_cmd_logout},
	};

	return ctl_run_sub(ctl, argc, argv, "images", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth images pull REF [--platform P] [-q]\n"
	                   "       berth images import FILE [--name NAME] [-q]\n"
	                   "       berth images ls|list [-q]\n"
	                   "       berth images rm|remove NAME...\n"
	                   "       berth images push IMAGE [DEST] [--platform P] [-q]\n"
	                   "       berth images tag SOURCE TARGET\n"
	                   "       berth images login|logout ... (as berth login|logout)\n");
}
