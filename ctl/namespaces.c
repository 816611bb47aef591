/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth namespaces ls|create|rm: the namespaces the front door knows. `rm` is refused while a
 * namespace holds anything (the gateway names what, and where).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/gateway.h"
#include "ctl/ctl.h"

static const char *
namespace_key(const void *item)
{
	return ((const struct br_namespace *)item)->name;
}

static void
namespace_json(yajl_gen g, const void *item)
{
	const struct br_namespace *ns = item;
	br_json_gen_kv_str(g, "name", ns->name);
	br_json_gen_kv_int(g, "created_at", ns->created_at);
}

static void
namespace_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_namespace *ns = item;
	char created[64];
	ctl_human_since(ns->created_at, now, created, sizeof(created));
	const char *cells[] = {ns->name, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view namespace_view = {
        .item_size = sizeof(struct br_namespace),
        .n_cols = 2,
        .headers = (const char *const[]){"NAME", "CREATED"},
        .key = namespace_key,
        .json = namespace_json,
        .row = namespace_row,
};

static int
cmd_ls(struct ctl *ctl, int argc, char **argv)
{
	bool quiet = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("Usage: berth namespaces ls [-q|--quiet]\n");
			return 0;
		} else {
			return ctl_usage_error("namespaces ls: unexpected argument %s", argv[i]);
		}
	}
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_namespace_list_req req = {0};
	struct br_namespace_list_resp page;
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	if (ctl_list_all(ctl, "namespaces.list", &br_namespace_list_req_schema, &req, &req.page,
	                 &br_namespace_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_namespace), arena, &list, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &namespace_view, &list, quiet, NULL);
}

static int
cmd_create(struct ctl *ctl, int argc, char **argv)
{
	struct br_namespace_name_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "namespaces.create", &br_namespace_name_req_schema,
	                    &req, &req.name, "Usage: berth namespaces create NAME...\n");
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	struct br_namespace_name_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "namespaces.delete", &br_namespace_name_req_schema,
	                    &req, &req.name,
	                    "Usage: berth namespaces rm NAME...\n\nRemove empty namespaces.\n");
}

int
ctl_cmd_namespaces(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"ls", cmd_ls}, {"list", cmd_ls},   {"create", cmd_create},
	        {"rm", cmd_rm}, {"remove", cmd_rm},
	};

	return ctl_run_sub(ctl, argc, argv, "namespaces", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth namespaces ls|list [-q]\n"
	                   "       berth namespaces create NAME...\n"
	                   "       berth namespaces rm|remove NAME...\n");
}
