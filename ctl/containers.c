/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth info, berth ps, berth rm and berth rename: the gateway's view of the components, the
 * container listing (with docker's --filter, matched here on the client, and the ports each
 * container publishes, from netd's attachments), container removal and a container's new
 * name.
 * Listings print an aligned table or, with --format json, a JSON document on stdout.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/gateway.h"
#include "common/proto/networks.h"
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

/* "Up", "Exited (N)" (with the reason taskd chose the status for, if any), "Restarting (N)",
 * "Created", "Paused" from a container's status. */
static void
container_status(const struct br_container *c, char *buf, size_t cap)
{
	const char *s = c->status ? c->status : "";

	if (strcmp(s, "running") == 0)
		snprintf(buf, cap, "Up");
	else if (strcmp(s, "stopped") == 0 && c->exit_reason != NULL && c->exit_reason[0] != '\0')
		snprintf(buf, cap, "Exited (%lld) %s", (long long)c->exit_status, c->exit_reason);
	else if (strcmp(s, "stopped") == 0)
		snprintf(buf, cap, "Exited (%lld)", (long long)c->exit_status);
	else if (strcmp(s, "restarting") == 0)
		snprintf(buf, cap, "Restarting (%lld), %u restarts", (long long)c->exit_status,
		         c->restart_count);
	else if (strcmp(s, "created") == 0)
		snprintf(buf, cap, "Created");
	else if (strcmp(s, "paused") == 0)
		snprintf(buf, cap, "Paused");
	else
		snprintf(buf, cap, "%s", s);
}

/* A row of ps: the container and what it publishes (from its network attachment). */
struct ps_item {
	const struct br_container *c;
	const struct br_net_port *ports;
	size_t nports;
};

static const char *
container_key(const void *item)
{
	return ((const struct ps_item *)item)->c->id;
}

static void
container_json(yajl_gen g, const void *item)
{
	const struct ps_item *it = item;
	const struct br_container *c = it->c;
	br_json_gen_kv_str(g, "id", c->id);
	br_json_gen_kv_str(g, "name", c->name);
	br_json_gen_kv_str(g, "image", c->image);
	ctl_json_strlist(g, "command", &c->command);
	br_json_gen_kv_str(g, "status", c->status);
	br_json_gen_kv_int(g, "pid", c->pid);
	br_json_gen_kv_int(g, "exit_status", c->exit_status);
	br_json_gen_kv_str(g, "exit_reason", c->exit_reason ? c->exit_reason : "");
	br_json_gen_kv_int(g, "restart_count", c->restart_count);
	br_json_gen_kv_int(g, "created_at", c->created_at);
	br_json_gen_kv_str(g, "runtime", c->runtime);
	br_json_gen_kv_str(g, "net", c->net);
	ctl_json_strmap(g, "labels", &c->labels);
	ctl_json_ports(g, "ports", it->ports, it->nports);
}

static void
container_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct ps_item *it = item;
	const struct br_container *c = it->c;
	char command[64], status[32], created[64], ports[1024];
	_cleanup_free_ char *joined = ctl_join(c->command.v, c->command.n);
	ctl_truncate(joined, 30, command, sizeof(command));
	container_status(c, status, sizeof(status));
	ctl_human_since(c->created_at, now, created, sizeof(created));
	ctl_ports_summary(it->ports, it->nports, ports, sizeof(ports));
	const char *cells[] = {
	        c->id, c->image, command, status, created, ports, c->name ? c->name : c->id};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view container_view = {
        .item_size = sizeof(struct ps_item),
        .n_cols = 7,
        .headers = (const char *const[]){"CONTAINER ID", "IMAGE", "COMMAND", "STATUS", "CREATED",
                                         "PORTS", "NAMES"},
        .key = container_key,
        .json = container_json,
        .row = container_row,
};

#define PS_FILTERS_MAX 64

static void
filter_push(const char ***v, size_t *n, const char *s)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = s;
}

int
ctl_ps_filter_add(struct ctl_ps_filter *f, char *spec, br_err *err)
{
	char *save = NULL;

	for (char *part = strtok_r(spec, ",", &save); part != NULL;
	     part = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(part, '=');
		if (f->nstatus + f->nname + f->nlabel >= PS_FILTERS_MAX)
			return br_err_set(err, BR_INVALID_ARGUMENT, "more than %d filters",
			                  PS_FILTERS_MAX);
		if (eq == NULL || eq[1] == '\0')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid filter \"%s\": expected KEY=VALUE", part);
		*eq = '\0';
		const char *value = eq + 1;
		if (strcmp(part, "status") == 0) {
			if (strcmp(value, "exited") == 0)
				value = "stopped";
			else if (strcmp(value, "created") != 0 && strcmp(value, "running") != 0 &&
			         strcmp(value, "paused") != 0 && strcmp(value, "restarting") != 0)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid filter status=%s: expected created, running, "
				        "paused, restarting or exited",
				        value);
			filter_push(&f->status, &f->nstatus, value);
		} else if (strcmp(part, "name") == 0) {
			filter_push(&f->name, &f->nname, value);
		} else if (strcmp(part, "label") == 0) {
			filter_push(&f->label, &f->nlabel, value);
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid filter \"%s\": expected status, name or label",
			                  part);
		}
	}
	return 0;
}

static bool
has_label(const struct br_container *c, const char *want)
{
	const char *eq = strchr(want, '=');
	size_t klen = eq ? (size_t)(eq - want) : strlen(want);

	for (size_t i = 0; i < c->labels.n; i++)
		if (strlen(c->labels.keys[i]) == klen &&
		    strncmp(c->labels.keys[i], want, klen) == 0)
			return eq == NULL || strcmp(c->labels.values[i], eq + 1) == 0;
	return false;
}

bool
ctl_ps_filter_match(const struct ctl_ps_filter *f, const struct br_container *c)
{
	bool ok = f->nstatus == 0;

	for (size_t i = 0; i < f->nstatus && !ok; i++)
		ok = c->status != NULL && strcmp(c->status, f->status[i]) == 0;
	if (!ok)
		return false;
	ok = f->nname == 0;
	for (size_t i = 0; i < f->nname && !ok; i++)
		ok = strstr(c->id, f->name[i]) != NULL ||
		     (c->name != NULL && strstr(c->name, f->name[i]) != NULL);
	if (!ok)
		return false;
	for (size_t i = 0; i < f->nlabel; i++)
		if (!has_label(c, f->label[i]))
			return false;
	return true;
}

void
ctl_ps_filter_fini(struct ctl_ps_filter *f)
{
	free(f->status);
	free(f->name);
	free(f->label);
	memset(f, 0, sizeof(*f));
}

/* Attachments ordered by container id (pointers to them, for qsort and bsearch). */
static int
attachment_cmp(const void *a, const void *b)
{
	const struct br_net_attachment *x = *(const struct br_net_attachment *const *)a;
	const struct br_net_attachment *y = *(const struct br_net_attachment *const *)b;

	return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static const char ps_usage[] =
        "Usage: berth ps [-a|--all] [-q|--quiet] [-f|--filter KEY=VALUE]... [--format "
        "table|json]\n"
        "\n"
        "List containers (only running and paused ones without -a or a status filter).\n"
        "Filters: status=created|running|paused|exited, name=SUBSTRING (of the name or the ID),\n"
        "label=KEY[=VALUE];\n"
        "values of one key are alternatives, different keys must all match.\n";

int
ctl_cmd_ps(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"all", no_argument, NULL, 'a'},          {"quiet", no_argument, NULL, 'q'},
	        {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	_cleanup_(ctl_ps_filter_fini) struct ctl_ps_filter filter = {0};
	bool all = false, quiet = false;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "aqf:h", opts, "ps"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'f':
			if (ctl_ps_filter_add(&filter, optarg, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			break;
		case 'q':
			quiet = true;
			break;
		case 'F':
			/* docker's place for it; the same as the global --format */
			if (ctl_set_format(ctl, optarg) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			fputs(ps_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error("ps takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_list_req req = {0};
	struct br_container_list_resp page;
	struct br_objlist list;
	if (ctl_list_all(ctl, "containers.list", &br_container_list_req_schema, &req, &req.page,
	                 &br_container_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_container), arena, &list, &err) < 0)
		return ctl_report(&err);

	const struct br_container *cs = list.v;
	_cleanup_free_ bool *show = xcalloc(list.n + 1, sizeof(bool));
	for (size_t i = 0; i < list.n; i++)
		show[i] = (all || filter.nstatus > 0 ||
		           (cs[i].status && (strcmp(cs[i].status, "running") == 0 ||
		                             strcmp(cs[i].status, "paused") == 0 ||
		                             strcmp(cs[i].status, "restarting") == 0))) &&
		          ctl_ps_filter_match(&filter, &cs[i]);

	/* The ports, from one networks.attachments joined by id. Without them (a netd that
	 * does not know the method, a caller who may not ask) the column stays empty. */
	struct br_net_list_resp atts = {0};
	br_err ignored = BR_ERR_INIT;
	if (!quiet && ctl_call(ctl, "networks.attachments", &br_empty_schema, NULL,
	                       &br_net_list_resp_schema, &atts, arena, 0, &ignored) < 0)
		atts = (struct br_net_list_resp){0};
	const struct br_net_attachment *av = atts.items.v;
	_cleanup_free_ const struct br_net_attachment **by_id =
	        xcalloc(atts.items.n + 1, sizeof(*by_id));
	for (size_t i = 0; i < atts.items.n; i++)
		by_id[i] = &av[i];
	qsort(by_id, atts.items.n, sizeof(*by_id), attachment_cmp);

	_cleanup_free_ struct ps_item *items = xcalloc(list.n + 1, sizeof(*items));
	for (size_t i = 0; i < list.n; i++) {
		struct br_net_attachment key = {.id = cs[i].id};
		const struct br_net_attachment *kp = &key, **found = NULL;
		if (atts.items.n > 0)
			found = bsearch(&kp, by_id, atts.items.n, sizeof(*by_id), attachment_cmp);
		items[i].c = &cs[i];
		if (found != NULL) {
			items[i].ports = (*found)->ports.v;
			items[i].nports = (*found)->ports.n;
		}
	}
	struct br_objlist rows = {items, list.n};
	return ctl_print_list(ctl, &container_view, &rows, quiet, show);
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

	struct ctl_opts op = {argc, argv, "fh", opts, "rm"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 'h':
			printf("Usage: berth rm [-f|--force] ID...\n\n"
			       "Remove containers; -f kills a running one first.\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
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

/* ---- rename ---- */

int
ctl_cmd_rename(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container c;
	br_err err = BR_ERR_INIT;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth rename CONTAINER NEW_NAME\n\n"
		       "Give a container a new name; its ID stays. A running container may be "
		       "renamed.\n");
		return 0;
	}
	if (argc != 3)
		return ctl_usage_error("rename needs a CONTAINER and a NEW_NAME");
	if (!br_msg_is_id(argv[2], BR_CONTAINER_ID_MAX))
		return ctl_usage_error(
		        "invalid name \"%s\": expected [A-Za-z0-9][A-Za-z0-9_.-]{0,63}", argv[2]);
	struct br_container_rename_req req = {.id = argv[1], .name = argv[2]};
	if (ctl_call(ctl, "containers.rename", &br_container_rename_req_schema, &req,
	             &br_container_schema, &c, arena, 0, &err) < 0) {
		br_err_wrap(&err, "rename %s", argv[1]);
		return ctl_report(&err);
	}
	return 0;
}
