/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth inspect: one JSON array with an object per container: its record (containers.get:
 * id, name, image, runtime, command, labels),
 * its task's state (tasks.get), the OCI spec taskd wrote (containers.spec) and, read from that
 * spec, its mounts and network. Always JSON, as docker's; times are ms since the epoch.
 */
#include <string.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/tasks.h"
#include "ctl/ctl.h"

/* Copy a parsed JSON value into the generator. */
static void
gen_tree(yajl_gen g, yajl_val v)
{
	if (YAJL_IS_STRING(v)) {
		br_json_gen_str(g, YAJL_GET_STRING(v));
	} else if (YAJL_IS_NUMBER(v)) {
		yajl_gen_number(g, YAJL_GET_NUMBER(v), strlen(YAJL_GET_NUMBER(v)));
	} else if (YAJL_IS_OBJECT(v)) {
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			br_json_gen_str(g, v->u.object.keys[i]);
			gen_tree(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
	} else if (YAJL_IS_ARRAY(v)) {
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			gen_tree(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
	} else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
		yajl_gen_bool(g, YAJL_IS_TRUE(v));
	} else {
		yajl_gen_null(g);
	}
}

/* The spec's member at `path` (NULL-terminated keys), or NULL. */
static yajl_val
spec_get(yajl_val spec, const char *const *path, yajl_type type)
{
	return spec != NULL ? yajl_tree_get(spec, (const char **)path, type) : NULL;
}

/* "mounts": the spec's mounts, the root file system first. */
static void
gen_mounts(yajl_gen g, yajl_val spec, const struct br_container *c)
{
	static const char *const mounts_path[] = {"mounts", NULL};
	yajl_val mounts = spec_get(spec, mounts_path, yajl_t_array);

	br_json_gen_str(g, "mounts");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "destination", "/");
	br_json_gen_kv_str(g, "type", "snapshot");
	br_json_gen_kv_str(g, "source", c->snapshot_key);
	yajl_gen_map_close(g);
	for (size_t i = 0; mounts != NULL && i < mounts->u.array.len; i++)
		gen_tree(g, mounts->u.array.values[i]);
	yajl_gen_array_close(g);
}

/* "network": the mode netd gave, the hostname and the network namespace the spec joins. */
static void
gen_network(yajl_gen g, yajl_val spec, const struct br_container *c)
{
	static const char *const hostname_path[] = {"hostname", NULL};
	static const char *const ns_path[] = {"linux", "namespaces", NULL};
	yajl_val hostname = spec_get(spec, hostname_path, yajl_t_string);
	yajl_val nss = spec_get(spec, ns_path, yajl_t_array);
	const char *netns = NULL;

	for (size_t i = 0; nss != NULL && i < nss->u.array.len; i++) {
		const char *type = NULL, *path = NULL;
		br_err ignored = BR_ERR_INIT;
		yajl_val n = nss->u.array.values[i];
		if (YAJL_IS_OBJECT(n) &&
		    br_json_get_str(n, "", "type", false, &type, &ignored) == 0 &&
		    br_json_get_str(n, "", "path", false, &path, &ignored) == 0 && type != NULL &&
		    strcmp(type, "network") == 0)
			netns = path != NULL ? path : "";
	}
	br_json_gen_str(g, "network");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "mode", c->net);
	br_json_gen_kv_str(g, "hostname", hostname ? YAJL_GET_STRING(hostname) : NULL);
	/* no network namespace entry: the host's; an entry without a path: a new, empty one */
	br_json_gen_kv_str(g, "netns", netns == NULL ? "host" : netns[0] ? netns : "new");
	yajl_gen_map_close(g);
}

static void
gen_state(yajl_gen g, const struct br_container *c, const struct br_task *task)
{
	br_json_gen_str(g, "state");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "status", c->status);
	br_json_gen_kv_bool(g, "running",
	                    strcmp(c->status, "running") == 0 || strcmp(c->status, "paused") == 0);
	br_json_gen_kv_bool(g, "paused", strcmp(c->status, "paused") == 0);
	br_json_gen_kv_bool(g, "restarting", strcmp(c->status, "restarting") == 0);
	br_json_gen_kv_int(g, "pid", c->pid);
	br_json_gen_kv_int(g, "exit_code", c->exit_status);
	/* docker's State.OOMKilled: the kernel's OOM killer struck the container */
	br_json_gen_kv_bool(g, "oom_killed", c->oom_killed);
	br_json_gen_kv_str(g, "exit_reason", c->exit_reason ? c->exit_reason : "");
	br_json_gen_kv_int(g, "started_at", task ? task->started_at : 0);
	br_json_gen_kv_int(g, "finished_at", task ? task->exited_at : 0);
	yajl_gen_map_close(g);
	br_json_gen_kv_int(g, "restart_count", c->restart_count);
	br_json_gen_str(g, "restart_policy");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "name", c->restart_policy ? c->restart_policy : "no");
	br_json_gen_kv_int(g, "maximum_retry_count", c->restart_max);
	yajl_gen_map_close(g);
	br_json_gen_kv_bool(g, "auto_remove", c->auto_remove);
}

/* One container's object, or -1 with err (nothing generated). */
static int
inspect_one(struct ctl *ctl, yajl_gen g, const char *id, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_id_req req = {.id = id};
	struct br_container c;
	struct br_container_spec_resp spec_resp;
	struct br_task task;
	bool has_task;
	yajl_val spec = NULL;
	br_err probe = BR_ERR_INIT;

	if (ctl_call(ctl, "containers.get", &br_container_id_req_schema, &req, &br_container_schema,
	             &c, arena, 0, err) < 0 ||
	    ctl_call(ctl, "containers.spec", &br_container_id_req_schema, &req,
	             &br_container_spec_resp_schema, &spec_resp, arena, 0, err) < 0)
		return br_err_wrap(err, "inspect %s", id);
	has_task = ctl_call(ctl, "tasks.get", &br_container_id_req_schema, &req, &br_task_schema,
	                    &task, arena, 0, &probe) == 0;
	if (spec_resp.spec != NULL && spec_resp.spec[0] != '\0' &&
	    br_json_parse(spec_resp.spec, strlen(spec_resp.spec), BR_CONTAINER_SPEC_MAX, "spec",
	                  &spec, err) < 0)
		return br_err_wrap(err, "inspect %s", id);

	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "id", c.id);
	br_json_gen_kv_str(g, "name", c.name ? c.name : c.id);
	br_json_gen_kv_str(g, "image", c.image);
	br_json_gen_kv_str(g, "runtime", c.runtime);
	br_json_gen_kv_str(g, "snapshot_key", c.snapshot_key);
	br_json_gen_kv_int(g, "created_at", c.created_at);
	ctl_json_strlist(g, "command", &c.command);
	ctl_json_strmap(g, "labels", &c.labels);
	gen_state(g, &c, has_task ? &task : NULL);
	gen_mounts(g, spec, &c);
	gen_network(g, spec, &c);
	br_json_gen_str(g, "spec");
	if (spec != NULL)
		gen_tree(g, spec);
	else
		yajl_gen_null(g);
	yajl_gen_map_close(g);
	yajl_tree_free(spec);
	return 0;
}

int
ctl_cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	int rc = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth inspect CONTAINER...\n\n"
		       "Print a JSON array with each container's record, state, mounts, network "
		       "and\nOCI spec.\n");
		return 0;
	}
	if (argc < 2)
		return ctl_usage_error("inspect needs a CONTAINER");
	yajl_gen g = br_json_gen_new();
	yajl_gen_array_open(g);
	for (int i = 1; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		if (inspect_one(ctl, g, argv[i], &err) < 0) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
		}
	}
	yajl_gen_array_close(g);
	ctl_print_json(g);
	return rc;
}
