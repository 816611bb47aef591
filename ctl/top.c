/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth top: the processes of a running container (tasks.top), as docker top shows them:
 * without ps options the columns of `ps -ef` (UID PID PPID C STIME TTY TIME CMD), with them
 * the columns the host's ps prints for those options, one row per process of the container.
 * With --format json: {"titles": [...], "processes": [[...], ...]}, docker's API shape.
 */
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/tasks.h"
#include "ctl/ctl.h"

static const char top_usage[] =
        "Usage: berth top CONTAINER [ps OPTIONS]\n"
        "\n"
        "Show the processes of a running container: by default the columns of ps -ef\n"
        "(UID PID PPID C STIME TTY TIME CMD); with ps OPTIONS (for example -o pid,rss,args)\n"
        "the host's ps runs with them and the rows of the container's processes are kept.\n";

int
ctl_cmd_top(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_task_top_resp resp;
	br_err err = BR_ERR_INIT;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(top_usage, stdout);
		return 0;
	}
	if (argc < 2)
		return ctl_usage_error("top needs a CONTAINER");
	if (argc - 2 > BR_TOP_ARGS_MAX)
		return ctl_usage_error("top: more than %d ps options", BR_TOP_ARGS_MAX);
	struct br_task_top_req req = {
	        .id = argv[1],
	        .ps_args = {(const char **)argv + 2, (size_t)(argc - 2)},
	};
	if (ctl_call(ctl, "tasks.top", &br_task_top_req_schema, &req, &br_task_top_resp_schema,
	             &resp, arena, 0, &err) < 0) {
		br_err_wrap(&err, "top %s", argv[1]);
		return ctl_report(&err);
	}
	const struct br_task_top_row *rows = resp.processes.v;
	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_map_open(g);
		ctl_json_strlist(g, "titles", &resp.titles);
		br_json_gen_str(g, "processes");
		yajl_gen_array_open(g);
		for (size_t i = 0; i < resp.processes.n; i++) {
			yajl_gen_array_open(g);
			for (size_t k = 0; k < rows[i].cells.n; k++)
				br_json_gen_str(g, rows[i].cells.v[k]);
			yajl_gen_array_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		ctl_print_json(g);
		return 0;
	}
	struct ctl_table *t = ctl_table_new(resp.titles.n, resp.titles.v);
	for (size_t i = 0; i < resp.processes.n; i++) {
		const char *cells[BR_TOP_COLUMNS_MAX];
		for (size_t k = 0; k < resp.titles.n; k++)
			cells[k] = k < rows[i].cells.n ? rows[i].cells.v[k] : "";
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return 0;
}
