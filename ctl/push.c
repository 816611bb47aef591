/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth push and berth tag (also under `berth images`). Push starts a job in berth-imaged
 * and follows it as pull does: progress on a terminal's stderr, an interrupt cancels it, and
 * the line "pushed NAME@DIGEST" once the registry has the image. Tag records another name for
 * an image and, as docker's does, prints nothing.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/proto/images.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

int
ctl_cmd_push(struct ctl *ctl, int argc, char **argv)
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

	struct ctl_opts op = {argc, argv, "qh", opts, "push"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'p':
			platform = optarg;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth push IMAGE [DEST] [--platform OS/ARCH] [-q]\n"
			       "\n"
			       "Push image IMAGE to the registry of DEST (a reference; default: "
			       "the\n"
			       "image's own name). --platform pushes only that platform's manifest "
			       "of\n"
			       "an index, under the tag. -q prints the pushed reference alone.\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return ctl_usage_error("push needs an IMAGE and at most one DEST");
	const char *name = argv[optind];
	const char *dest = argc - optind == 2 ? argv[optind + 1] : NULL;
	_cleanup_free_ char *what =
	        dest ? xasprintf("push %s to %s", BR_ERR_QUOTE(name), BR_ERR_QUOTE(dest))
	             : xasprintf("push %s", BR_ERR_QUOTE(name));

	if (ctl_signals_start(NULL, NULL, &err) < 0)
		return ctl_report(&err);
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	/* The destination's credentials; without DEST the image's own name is the destination. */
	_cleanup_(ctl_creds_fini) struct ctl_creds creds = {0};
	struct br_image_push_req req = {
	        .name = name,
	        .dest = dest,
	        .platform = platform,
	        .auth = ctl_ref_auth(dest ? dest : name, "pushing", &creds),
	};
	struct br_job_ref job;
	if (ctl_call(ctl, "images.push", &br_image_push_req_schema, &req, &br_job_ref_schema, &job,
	             arena, 0, &err) < 0) {
		br_err_wrap(&err, "%s", what);
		return ctl_report(&err);
	}
	struct ctl_follow follow = {.what = what, .verb = "pushed", .out = stdout, .quiet = quiet};
	return ctl_follow_job(ctl, job.id, &follow);
}

int
ctl_cmd_tag(struct ctl *ctl, int argc, char **argv)
{
	br_err err = BR_ERR_INIT;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth tag SOURCE TARGET\n"
		       "\n"
		       "Record image TARGET as the same image as SOURCE.\n");
		return 0;
	}
	if (argc != 3)
		return ctl_usage_error("tag needs a SOURCE image and a TARGET name");
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image_tag_req req = {.source = argv[1], .target = argv[2]};
	struct br_image img;
	if (ctl_call(ctl, "images.tag", &br_image_tag_req_schema, &req, &br_image_schema, &img,
	             arena, 0, &err) < 0) {
		br_err_wrap(&err, "tag %s %s", BR_ERR_QUOTE(argv[1]), BR_ERR_QUOTE(argv[2]));
		return ctl_report(&err);
	}
	return 0;
}
