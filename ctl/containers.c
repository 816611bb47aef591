/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth info, berth ps and berth rm: the gateway's view of the components, the container
 * listing and container removal. Listings print an aligned table or, with --format json, a
 * JSON document on stdout.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/gateway.h"
#include "common/proto/tasks.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

/* ---- info ---- */

int
ctl_cmd_info(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_gateway_info info;
	br_err err = BR_ERR_INIT;
	char up[32];

	if (argc > 1) {
		if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			printf("Usage: berth info\n\nShow the gateway and the health of every "
			       "component.\n");
			return 0;
		}
		return ctl_usage_error("info takes no arguments");
	}
	if (ctl_call(ctl, "gateway.info", &br_empty_schema, NULL, &br_gateway_info_schema, &info,
	             arena, 0, &err) < 0)
		return ctl_report(&err);
	const struct br_component *comps = info.components.v;

	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "version", info.version);
		br_json_gen_kv_int(g, "pid", info.pid);
		br_json_gen_kv_int(g, "uptime_ms", info.uptime_ms);
		br_json_gen_str(g, "components");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < info.components.n; i++) {
			yajl_gen_map_open(g);
			br_json_gen_kv_str(g, "name", comps[i].name);
			br_json_gen_kv_bool(g, "healthy", comps[i].healthy);
			br_json_gen_kv_str(g, "version", comps[i].version);
			br_json_gen_kv_int(g, "pid", comps[i].pid);
			br_json_gen_kv_int(g, "uptime_ms", comps[i].uptime_ms);
			br_json_gen_kv_str(g, "error", comps[i].error);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		ctl_print_json(g);
		return 0;
	}

	ctl_human_duration(info.uptime_ms, up, sizeof(up));
	printf("Berth gateway %s (pid %u, up %s)\n", info.version ? info.version : "?", info.pid,
	       up);
	static const char *const headers[] = {"NAME", "HEALTHY", "VERSION",
	                                      "PID",  "UPTIME",  "ERROR"};
	struct ctl_table *t = ctl_table_new(6, headers);
	for (size_t i = 0; i < info.components.n; i++) {
		const struct br_component *co = &comps[i];
		char pid[16] = "-", uptime[32] = "-";
		if (co->healthy) {
			snprintf(pid, sizeof(pid), "%u", co->pid);
			ctl_human_duration(co->uptime_ms, uptime, sizeof(uptime));
		}
		const char *cells[] = {co->name,
		                       co->healthy ? "yes" : "no",
		                       co->version && co->version[0] ? co->version : "-",
		                       pid,
		                       uptime,
		                       co->error && co->error[0] ? co->error : "-"};
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return 0;
}

/* ---- ps ---- */

/* "Up", "Exited (N)", "Created", "Paused" from a container's status. */
static void
container_status(const struct br_container *c, char *buf, size_t cap)
{
	const char *s = c->status ? c->status : "";

	if (strcmp(s, "running") == 0)
		snprintf(buf, cap, "Up");
	else if (strcmp(s, "stopped") == 0)
		snprintf(buf, cap, "Exited (%lld)", (long long)c->exit_status);
	else if (strcmp(s, "created") == 0)
		snprintf(buf, cap, "Created");
	else if (strcmp(s, "paused") == 0)
		snprintf(buf, cap, "Paused");
	else
		snprintf(buf, cap, "%s", s);
}

static const char *
container_key(const void *item)
{
	return ((const struct br_container *)item)->id;
}

static void
container_json(yajl_gen g, const void *item)
{
	const struct br_container *c = item;
	br_json_gen_kv_str(g, "id", c->id);
	br_json_gen_kv_str(g, "image", c->image);
	br_json_gen_str(g, "command");
	yajl_gen_array_open(g);
	for (size_t j = 0; j < c->command.n; j++)
		br_json_gen_str(g, c->command.v[j]);
	yajl_gen_array_close(g);
	br_json_gen_kv_str(g, "status", c->status);
	br_json_gen_kv_int(g, "pid", c->pid);
	br_json_gen_kv_int(g, "exit_status", c->exit_status);
	br_json_gen_kv_int(g, "created_at", c->created_at);
	br_json_gen_kv_str(g, "runtime", c->runtime);
	br_json_gen_kv_str(g, "net", c->net);
}

static void
container_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_container *c = item;
	char command[64], status[32], created[64];
	_cleanup_free_ char *joined = ctl_join(c->command.v, c->command.n);
	ctl_truncate(joined, 30, command, sizeof(command));
	container_status(c, status, sizeof(status));
	ctl_human_since(c->created_at, now, created, sizeof(created));
	const char *cells[] = {c->id, c->image, command, status, created};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view container_view = {
        .item_size = sizeof(struct br_container),
        .n_cols = 5,
        .headers = (const char *const[]){"CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "CREATED"},
        .key = container_key,
        .json = container_json,
        .row = container_row,
};

int
ctl_cmd_ps(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"all", no_argument, NULL, 'a'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool all = false, quiet = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "aqh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			printf("Usage: berth ps [-a|--all] [-q|--quiet]\n\nList containers (only "
			       "running ones without -a).\n");
			return 0;
		default:
			return ctl_usage_error("ps: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return ctl_usage_error("ps takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_list_req req = {0};
	struct br_container_list_resp page;
	struct br_objlist list;
	br_err err = BR_ERR_INIT;
	if (ctl_list_all(ctl, "containers.list", &br_container_list_req_schema, &req, &req.page,
	                 &br_container_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_container), arena, &list, &err) < 0)
		return ctl_report(&err);

	const struct br_container *cs = list.v;
	_cleanup_free_ bool *show = xcalloc(list.n + 1, sizeof(bool));
	for (size_t i = 0; i < list.n; i++)
		show[i] = all || (cs[i].status && strcmp(cs[i].status, "running") == 0);

	return ctl_print_list(ctl, &container_view, &list, quiet, show);
}

/* ---- rm ---- */

int
ctl_cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool force = false;
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			printf("Usage: berth rm [-f|--force] ID...\n\n"
			       "Remove containers; -f kills a running one first.\n");
			return 0;
		default:
			return ctl_usage_error("rm: unknown option %s", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ctl_usage_error("rm needs at least one container ID");

	int rc = 0;
	for (int i = optind; i < argc; i++) {
		struct br_container_id_req req = {.id = argv[i], .force = force};
		br_err err = BR_ERR_INIT;
		if (ctl_call(ctl, "containers.delete", &br_container_id_req_schema, &req, NULL,
		             NULL, NULL, 0, &err) < 0) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}
