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

BR_DEFINE_CLEANUP(br_arena, br_arena_free)

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
	const struct br_namespace *ns = list.v;
	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_array_open(g);
		for (size_t i = 0; i < list.n; i++) {
			yajl_gen_map_open(g);
			br_json_gen_kv_str(g, "name", ns[i].name);
			br_json_gen_kv_int(g, "created_at", ns[i].created_at);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		ctl_print_json(g);
		return 0;
	}
	if (quiet) {
		for (size_t i = 0; i < list.n; i++)
			printf("%s\n", ns[i].name);
		return 0;
	}
	static const char *const headers[] = {"NAME", "CREATED"};
	struct ctl_table *t = ctl_table_new(2, headers);
	int64_t now = ctl_now_ms();
	for (size_t i = 0; i < list.n; i++) {
		char created[64];
		ctl_human_since(ns[i].created_at, now, created, sizeof(created));
		const char *cells[] = {ns[i].name, created};
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return 0;
}

/* Call `method` for each NAME argument, printing the names done. */
static int
each_name(struct ctl *ctl, int argc, char **argv, const char *method, const char *usage)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : 0;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct br_namespace_name_req req = {.name = argv[i]};
		br_err err = BR_ERR_INIT;
		if (ctl_call(ctl, method, &br_namespace_name_req_schema, &req, NULL, NULL, NULL, 0,
		             &err) < 0) {
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
cmd_create(struct ctl *ctl, int argc, char **argv)
{
	return each_name(ctl, argc, argv, "namespaces.create",
	                 "Usage: berth namespaces create NAME...\n");
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	return each_name(ctl, argc, argv, "namespaces.delete",
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
