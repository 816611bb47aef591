/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth volume create|ls|inspect|rm|prune: named volumes (volumes.* in taskd), as docker's
 * `docker volume`. `rm` and `prune` never remove a volume a container (running or not) still
 * mounts; taskd refuses with FAILED_PRECONDITION naming the container, and prune skips it.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/volumes.h"
#include "ctl/ctl.h"

static const char *
volume_key(const void *item)
{
	return ((const struct br_volume *)item)->name;
}

static void
volume_json(yajl_gen g, const void *item)
{
	const struct br_volume *v = item;

	br_json_gen_kv_str(g, "name", v->name);
	br_json_gen_kv_str(g, "driver", v->driver);
	br_json_gen_kv_str(g, "mountpoint", v->mountpoint);
	br_json_gen_kv_int(g, "created_at", v->created_at);
	ctl_json_strmap(g, "labels", &v->labels);
	ctl_json_strlist(g, "containers", &v->containers);
}

static void
volume_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_volume *v = item;
	char created[64], users[32];

	ctl_human_since(v->created_at, now, created, sizeof(created));
	snprintf(users, sizeof(users), "%zu", v->containers.n);
	const char *cells[] = {v->driver, v->name, users, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view volume_view = {
        .item_size = sizeof(struct br_volume),
        .n_cols = 4,
        .headers = (const char *const[]){"DRIVER", "VOLUME NAME", "CONTAINERS", "CREATED"},
        .key = volume_key,
        .json = volume_json,
        .row = volume_row,
};

static int
list_volumes(struct ctl *ctl, br_arena *arena, struct br_objlist *ret, br_err *err)
{
	struct br_volume_list_req req = {0};
	struct br_volume_list_resp page;

	return ctl_list_all(ctl, "volumes.list", &br_volume_list_req_schema, &req, &req.page,
	                    &br_volume_list_resp_schema, &page, &page.items, &page.next_page_token,
	                    sizeof(struct br_volume), arena, ret, err);
}

static int
cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"label", required_argument, NULL, 'l'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static const char usage[] = "Usage: berth volume create [--label KEY=VALUE]... [NAME]\n\n"
	                            "Create a volume (NAME: generated when absent) and print its "
	                            "name.\n";
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(ctl_labels_fini) struct ctl_labels labels = {0};
	struct br_volume_create_req req = {0};
	struct br_volume v;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "+l:h", opts, "volume create"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'l':
			if (ctl_labels_add(&labels, optarg, arena, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind > 1)
		return ctl_usage_error("volume create takes at most one NAME");
	req.name = optind < argc ? argv[optind] : NULL;
	req.labels = (struct br_strmap){labels.keys, labels.values, labels.n};
	if (ctl_call(ctl, "volumes.create", &br_volume_create_req_schema, &req, &br_volume_schema,
	             &v, arena, 0, &err) < 0)
		return ctl_report(&err);
	printf("%s\n", v.name);
	return 0;
}

static int
cmd_ls(struct ctl *ctl, int argc, char **argv)
{
	bool quiet = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "--format") == 0 ||
		           strncmp(argv[i], "--format=", 9) == 0) {
			const char *f = argv[i][8] == '=' ? argv[i] + 9
			                : i + 1 < argc    ? argv[++i]
			                                  : "";
			if (ctl_set_format(ctl, f) != 0)
				return CTL_EXIT_USAGE;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("Usage: berth volume ls [-q|--quiet] [--format table|json]\n");
			return 0;
		} else {
			return ctl_usage_error("volume ls: unexpected argument %s", argv[i]);
		}
	}
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	if (list_volumes(ctl, arena, &list, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &volume_view, &list, quiet, NULL);
}

static int
cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	struct br_volume_name_req req = {0};
	struct br_volume v;

	return ctl_inspect_each(ctl, argc, argv, "volumes.get", &br_volume_name_req_schema, &req,
	                        &req.name,
	                        "Usage: berth volume inspect NAME...\n\nPrint a JSON array with "
	                        "each volume.\n",
	                        &br_volume_schema, &v, volume_json);
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	static const char usage[] =
	        "Usage: berth volume rm [-f|--force] NAME...\n\n"
	        "Remove volumes. One that a container (running or not) mounts is refused;\n"
	        "-f only makes a missing volume no error.\n";
	bool force = false;
	int first = 1, rc = 0;

	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "-f") == 0 || strcmp(argv[first], "--force") == 0) {
			force = true;
		} else if (strcmp(argv[first], "-h") == 0 || strcmp(argv[first], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else {
			return ctl_usage_error("volume rm: unknown option %s", argv[first]);
		}
	}
	if (first == argc) {
		fputs(usage, stderr);
		return CTL_EXIT_USAGE;
	}
	for (int i = first; i < argc; i++) {
		struct br_volume_name_req req = {.name = argv[i]};
		br_err err = BR_ERR_INIT;
		if (ctl_call(ctl, "volumes.delete", &br_volume_name_req_schema, &req, NULL, NULL,
		             NULL, 0, &err) < 0) {
			if (force && err.code == BR_NOT_FOUND)
				continue;
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

static int
cmd_prune(struct ctl *ctl, int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth volume prune [-f|--force]\n\nRemove every volume no container "
		       "mounts and print their names.\n");
		return 0;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-f") != 0 && strcmp(argv[i], "--force") != 0)
			return ctl_usage_error("volume prune: unexpected argument %s", argv[i]);
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	int rc = 0;

	if (list_volumes(ctl, arena, &list, &err) < 0)
		return ctl_report(&err);
	for (size_t i = 0; i < list.n; i++) {
		const struct br_volume *v = (const struct br_volume *)list.v + i;
		struct br_volume_name_req req = {.name = v->name};
		if (v->containers.n > 0)
			continue;
		br_err_clear(&err);
		if (ctl_call(ctl, "volumes.delete", &br_volume_name_req_schema, &req, NULL, NULL,
		             NULL, 0, &err) < 0) {
			/* Taken into use, or removed, since the listing: not ours to prune. */
			if (err.code == BR_FAILED_PRECONDITION || err.code == BR_NOT_FOUND)
				continue;
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", v->name);
	}
	return rc;
}

int
ctl_cmd_volumes(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"create", cmd_create},   {"ls", cmd_ls}, {"list", cmd_ls},
	        {"inspect", cmd_inspect}, {"rm", cmd_rm}, {"remove", cmd_rm},
	        {"prune", cmd_prune},
	};

	return ctl_run_sub(ctl, argc, argv, "volume", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth volume create [--label KEY=VALUE]... [NAME]\n"
	                   "       berth volume ls|list [-q] [--format table|json]\n"
	                   "       berth volume inspect NAME...\n"
	                   "       berth volume rm|remove [-f] NAME...\n"
	                   "       berth volume prune [-f]\n");
}
