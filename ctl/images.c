/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth images: pull, ls and rm (import and export are in archive.c). Pull starts a job in
 * berth-imaged and follows it until it ends (ctl_follow_job, progress.c: the progress goes to
 * stderr); an interrupt cancels the job.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/images.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

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

	struct ctl_opts op = {argc, argv, "qh", opts, "images pull"};
	while ((c = ctl_opts_next(&op)) != -1) {
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
		default:
			return CTL_EXIT_USAGE;
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

	struct ctl_opts op = {argc, argv, "qh", opts, "images ls"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth images ls [-q|--quiet]\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
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
	        {"pull", cmd_pull},
	        {"import", ctl_images_import},
	        {"export", ctl_images_export},
	        {"save", ctl_images_export},
	        {"ls", cmd_ls},
	        {"list", cmd_ls},
	        {"rm", cmd_rm},
	        {"remove", cmd_rm},
	        {"push", ctl_cmd_push},
	        {"tag", ctl_cmd_tag},
	        {"login", ctl_cmd_login},
	        {"logout", ctl_cmd_logout},
	};

	return ctl_run_sub(ctl, argc, argv, "images", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth images pull REF [--platform P] [-q]\n"
	                   "       berth images import [--name NAME] [--platform P] [-q] FILE|-\n"
	                   "       berth images export [-o FILE] [--format oci|docker] "
	                   "[--platform P] IMAGE...\n"
	                   "       berth images ls|list [-q]\n"
	                   "       berth images rm|remove NAME...\n"
	                   "       berth images push IMAGE [DEST] [--platform P] [-q]\n"
	                   "       berth images tag SOURCE TARGET\n"
	                   "       berth images login|logout ... (as berth login|logout)\n");
}
