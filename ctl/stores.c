/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth content ls|rm and berth snapshots ls|usage|rm: the stores as an operator sees them.
 * Listings follow every page. Removing through these commands is for root only (the front
 * door refuses others); a blob or snapshot removed here is gone even if a lease holds it, as
 * with containerd's ctr.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/content.h"
#include "common/proto/snapshots.h"
#include "ctl/ctl.h"

/* Parse [-q] [--snapshotter S] for the listing commands (a NULL `quiet` or `snapshotter`
 * refuses that flag); -1 on a usage error (printed), 1 after -h (usage printed), else 0. */
static int
list_flags(int argc, char **argv, const char *usage, bool *quiet, const char **snapshotter)
{
	static const struct option opts[] = {
	        {"quiet", no_argument, NULL, 'q'},
	        {"snapshotter", required_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int c;

	struct ctl_opts op = {argc, argv, "qh", opts, NULL};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'q':
			if (quiet == NULL)
				return ctl_usage_error("unknown option %s", argv[optind - 1]), -1;
			*quiet = true;
			break;
		case 's':
			if (snapshotter == NULL)
				return ctl_usage_error("unknown option --snapshotter"), -1;
			*snapshotter = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			return -1;
		}
	}
	return 0;
}

/* ---- content ---- */

static const char *
blob_key(const void *item)
{
	return ((const struct br_content_info *)item)->digest;
}

static void
blob_json(yajl_gen g, const void *item)
{
	const struct br_content_info *b = item;
	br_json_gen_kv_str(g, "digest", b->digest);
	br_json_gen_kv_int(g, "size", b->size);
	br_json_gen_kv_int(g, "created_at", b->created_at);
}

static void
blob_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_content_info *b = item;
	char size[32], created[64];
	ctl_human_size(b->size, size, sizeof(size));
	ctl_human_since(b->created_at, now, created, sizeof(created));
	const char *cells[] = {b->digest, size, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view blob_view = {
        .item_size = sizeof(struct br_content_info),
        .n_cols = 3,
        .headers = (const char *const[]){"DIGEST", "SIZE", "CREATED"},
        .key = blob_key,
        .json = blob_json,
        .row = blob_row,
};

static int
content_ls(struct ctl *ctl, int argc, char **argv)
{
	bool quiet = false;
	int f = list_flags(argc, argv, "Usage: berth content ls [-q|--quiet]\n", &quiet, NULL);
	if (f != 0)
		return f < 0 ? CTL_EXIT_USAGE : 0;
	if (optind < argc)
		return ctl_usage_error("content ls takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_content_list_req req = {0};
	struct br_content_list_resp page;
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	if (ctl_list_all(ctl, "content.list", &br_content_list_req_schema, &req, &req.page,
	                 &br_content_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_content_info), arena, &list, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &blob_view, &list, quiet, NULL);
}

static int
content_rm(struct ctl *ctl, int argc, char **argv)
{
	struct br_content_digest_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "content.delete", &br_content_digest_req_schema, &req,
	                    &req.digest, "Usage: berth content rm DIGEST...\n");
}

int
ctl_cmd_content(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"ls", content_ls},
	        {"list", content_ls},
	        {"rm", content_rm},
	        {"remove", content_rm},
	};

	return ctl_run_sub(ctl, argc, argv, "content", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth content ls|list [-q]\n"
	                   "       berth content rm|remove DIGEST...\n");
}

/* ---- snapshots ---- */

static const char *
snapshot_key(const void *item)
{
	return ((const struct br_snapshot_info *)item)->name;
}

static void
snapshot_json(yajl_gen g, const void *item)
{
	const struct br_snapshot_info *s = item;
	br_json_gen_kv_str(g, "key", s->name);
	br_json_gen_kv_str(g, "parent", s->parent);
	br_json_gen_kv_str(g, "kind", s->kind);
	br_json_gen_kv_int(g, "created_at", s->created_at);
}

static void
snapshot_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_snapshot_info *s = item;
	char created[64];
	ctl_human_since(s->created_at, now, created, sizeof(created));
	const char *cells[] = {s->name, s->parent ? s->parent : "", s->kind, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view snapshot_view = {
        .item_size = sizeof(struct br_snapshot_info),
        .n_cols = 4,
        .headers = (const char *const[]){"KEY", "PARENT", "KIND", "CREATED"},
        .key = snapshot_key,
        .json = snapshot_json,
        .row = snapshot_row,
};

static int
snapshots_ls(struct ctl *ctl, int argc, char **argv)
{
	bool quiet = false;
	const char *snapshotter = NULL;
	int f = list_flags(argc, argv,
	                   "Usage: berth snapshots ls [-q|--quiet] [--snapshotter NAME]\n", &quiet,
	                   &snapshotter);
	if (f != 0)
		return f < 0 ? CTL_EXIT_USAGE : 0;
	if (optind < argc)
		return ctl_usage_error("snapshots ls takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_snap_list_req req = {.snapshotter = snapshotter};
	struct br_snap_list_resp page;
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	if (ctl_list_all(ctl, "snapshots.list", &br_snap_list_req_schema, &req, &req.page,
	                 &br_snap_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_snapshot_info), arena, &list, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &snapshot_view, &list, quiet, NULL);
}

/* usage of one snapshot: KEY SIZE INODES */
static int
snapshots_usage(struct ctl *ctl, int argc, char **argv)
{
	const char *snapshotter = NULL;
	int f = list_flags(argc, argv,
	                   "Usage: berth snapshots usage [--snapshotter NAME] [KEY...]\n\n"
	                   "Disk used by each snapshot's own files (every snapshot of the "
	                   "namespace without KEY).\n",
	                   NULL, &snapshotter);
	if (f != 0)
		return f < 0 ? CTL_EXIT_USAGE : 0;

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	const char **keys = NULL;
	size_t n = 0;
	if (optind < argc) {
		keys = (const char **)(argv + optind);
		n = (size_t)(argc - optind);
	} else {
		struct br_snap_list_req req = {.snapshotter = snapshotter};
		struct br_snap_list_resp page;
		struct br_objlist list;
		if (ctl_list_all(ctl, "snapshots.list", &br_snap_list_req_schema, &req, &req.page,
		                 &br_snap_list_resp_schema, &page, &page.items,
		                 &page.next_page_token, sizeof(struct br_snapshot_info), arena,
		                 &list, &err) < 0)
			return ctl_report(&err);
		keys = br_arena_alloc(arena, (list.n + 1) * sizeof(*keys));
		for (size_t i = 0; i < list.n; i++)
			keys[i] = ((const struct br_snapshot_info *)list.v)[i].name;
		n = list.n;
	}
	yajl_gen g = ctl->json ? br_json_gen_new() : NULL;
	static const char *const headers[] = {"KEY", "SIZE", "INODES"};
	struct ctl_table *t = ctl->json ? NULL : ctl_table_new(3, headers);
	int rc = 0;
	if (g != NULL)
		yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		struct br_snap_usage_req req = {.snapshotter = snapshotter, .key = keys[i]};
		struct br_snap_usage_resp u;
		if (ctl_call(ctl, "snapshots.usage", &br_snap_usage_req_schema, &req,
		             &br_snap_usage_resp_schema, &u, arena, 0, &err) < 0) {
			rc = ctl_report(&err);
			br_err_clear(&err);
			continue;
		}
		if (g != NULL) {
			yajl_gen_map_open(g);
			br_json_gen_kv_str(g, "key", keys[i]);
			br_json_gen_kv_int(g, "size", u.size);
			br_json_gen_kv_int(g, "inodes", u.inodes);
			yajl_gen_map_close(g);
			continue;
		}
		char size[32], inodes[32];
		ctl_human_size(u.size, size, sizeof(size));
		snprintf(inodes, sizeof(inodes), "%lld", (long long)u.inodes);
		const char *cells[] = {keys[i], size, inodes};
		ctl_table_add(t, cells);
	}
	if (g != NULL) {
		yajl_gen_array_close(g);
		ctl_print_json(g);
	} else {
		ctl_table_print(t, stdout);
		ctl_table_free(t);
	}
	return rc;
}

static int
snapshots_rm(struct ctl *ctl, int argc, char **argv)
{
	struct br_snap_key_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "snapshots.remove", &br_snap_key_req_schema, &req,
	                    &req.key, "Usage: berth snapshots rm KEY...\n");
}

int
ctl_cmd_snapshots(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"ls", snapshots_ls}, {"list", snapshots_ls},   {"usage", snapshots_usage},
	        {"rm", snapshots_rm}, {"remove", snapshots_rm},
	};

	return ctl_run_sub(ctl, argc, argv, "snapshots", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth snapshots ls|list [-q] [--snapshotter NAME]\n"
	                   "       berth snapshots usage [--snapshotter NAME] [KEY...]\n"
	                   "       berth snapshots rm|remove KEY...\n");
}
