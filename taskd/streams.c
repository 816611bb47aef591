/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams in taskd (common/stream.h, docs/streams.md): the gateway hands each client stream
 * to taskd's stream socket (<state>/taskd-stream.sock, SOCK_SEQPACKET, root only) as one
 * message, the request envelope with the client's connection attached. taskd checks the
 * container on the loop; a worker writes the exec's process (from the container's spec, with
 * the request's command, environment, user, directory and terminal) and passes the stream on
 * to the shim, which answers the client from then on. Whatever fails before that is told to
 * the client as the stream's REPLY.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/random.h"
#include "common/json.h"
#include "common/log.h"
#include "common/proto/shim.h"
#include "common/stream.h"
#include "common/stream_listener.h"
#include "common/xalloc.h"
#include "taskd/shim_client.h"
#include "taskd/spec.h"
#include "taskd/taskd.h"

/* The work of one stream: the request and what it needs, copied off the table. */
struct stream_job {
	uv_work_t work;
	struct taskd *t;
	struct container *c; /* referenced */
	int fd;              /* the client */
	bool exec;
	struct br_task_exec_req ex; /* strings in arena */
	struct br_task_attach_req at;
	br_arena *arena;
	char *spec;
	br_err err;
	char exec_id[BR_EXEC_ID_MAX + 1]; /* as started */
	uint32_t exec_pid;                /* 0: it did not start */
};

/* ------------------------------------------------------------------ the spec */

int
taskd_spec_stdio(const char *spec, bool *ret_terminal, bool *ret_open_stdin, br_err *err)
{
	yajl_val root = NULL, process = NULL, annotations = NULL;
	const char *stdin_open = NULL;
	int rc = -1;

	*ret_terminal = *ret_open_stdin = false;
	if (br_json_parse(spec, strlen(spec), strlen(spec) + 1, "config.json", &root, err) < 0)
		return -1;
	if (br_json_get_obj(root, "", "process", true, &process, err) < 0 ||
	    br_json_get_bool(process, "process", "terminal", false, ret_terminal, err) < 0 ||
	    br_json_get_obj(root, "", "annotations", false, &annotations, err) < 0)
		goto out;
	if (annotations != NULL &&
	    br_json_get_str(annotations, "annotations", TASKD_ANNOTATION_STDIN, false, &stdin_open,
	                    err) < 0)
		goto out;
	*ret_open_stdin = stdin_open != NULL && strcmp(stdin_open, "true") == 0;
	rc = 0;
out:
	yajl_tree_free(root);
	return rc;
}

/* Whether env entry `e` ("K=V") has its key overridden by one of `over`. */
static bool
overridden(const char *e, const struct br_strlist *over)
{
	size_t k = strcspn(e, "=");

	for (size_t i = 0; i < over->n; i++) {
		if (strncmp(over->v[i], e, k) == 0 && over->v[i][k] == '=')
			return true;
	}
	return false;
}

int
taskd_exec_process(const char *spec, const struct br_task_exec_req *req, int rootfs_fd, char **ret,
                   br_err *err)
{
	yajl_val root = NULL, process = NULL;
	uint32_t uid = 0, gid = 0;
	int rc = -1;

	for (size_t i = 0; i < req->env.n; i++) {
		if (strchr(req->env.v[i], '=') == NULL || req->env.v[i][0] == '=')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "env \"%s\": expected KEY=VALUE", req->env.v[i]);
	}
	if (req->working_dir != NULL && req->working_dir[0] != '\0' && req->working_dir[0] != '/')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "working directory \"%s\": must be an absolute path",
		                  req->working_dir);
	if (req->user != NULL && req->user[0] != '\0' &&
	    taskd_spec_resolve_user(req->user, rootfs_fd, &uid, &gid, err) < 0)
		return -1;
	if (br_json_parse(spec, strlen(spec), strlen(spec) + 1, "config.json", &root, err) < 0)
		return -1;
	if (br_json_get_obj(root, "", "process", true, &process, err) < 0)
		goto out;

	yajl_gen g = br_json_gen_new();
	yajl_gen_map_open(g);
	for (size_t i = 0; i < process->u.object.len; i++) {
		const char *key = process->u.object.keys[i];
		yajl_val v = process->u.object.values[i];
		if (strcmp(key, "args") == 0 || strcmp(key, "terminal") == 0 ||
		    strcmp(key, "consoleSize") == 0)
			continue;
		br_json_gen_str(g, key);
		if (strcmp(key, "env") == 0 && YAJL_IS_ARRAY(v)) {
			yajl_gen_array_open(g);
			for (size_t j = 0; j < v->u.array.len; j++) {
				yajl_val e = v->u.array.values[j];
				if (!YAJL_IS_STRING(e) || !overridden(e->u.string, &req->env))
					br_json_gen_value(g, e);
			}
			for (size_t j = 0; j < req->env.n; j++)
				br_json_gen_str(g, req->env.v[j]);
			yajl_gen_array_close(g);
		} else if (strcmp(key, "user") == 0 && req->user != NULL && req->user[0] != '\0') {
			yajl_gen_map_open(g);
			br_json_gen_kv_int(g, "uid", uid);
			br_json_gen_kv_int(g, "gid", gid);
			yajl_gen_map_close(g);
		} else if (strcmp(key, "cwd") == 0 && req->working_dir != NULL &&
		           req->working_dir[0] != '\0') {
			br_json_gen_str(g, req->working_dir);
		} else {
			br_json_gen_value(g, v);
		}
	}
	br_json_gen_kv_bool(g, "terminal", req->terminal);
	if (req->terminal && req->rows > 0 && req->cols > 0) {
		br_json_gen_str(g, "consoleSize");
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "height", req->rows);
		br_json_gen_kv_int(g, "width", req->cols);
		yajl_gen_map_close(g);
	}
	br_json_gen_str(g, "args");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < req->args.n; i++)
		br_json_gen_str(g, req->args.v[i]);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	*ret = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	rc = 0;
out:
	yajl_tree_free(root);
	return rc;
}

/* ------------------------------------------------------------------ handing over */

/* Worker. */
static void
stream_work(uv_work_t *w)
{
	struct stream_job *j = w->data;
	struct container *c = j->c;
	struct br_shim_req req = {0};
	struct br_shim_reply reply;
	char exec_id[33];
	_cleanup_close_ int sock = -1;

	if (j->exec) {
		_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", c->bundle_dir);
		_cleanup_free_ char *process = NULL;
		_cleanup_close_ int rootfs_fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		const char *id = j->ex.exec_id;
		if (id == NULL || id[0] == '\0') {
			br_random_hex(exec_id, 16);
			id = exec_id;
		}
		_cleanup_free_ char *name = xasprintf("exec-%s.json", id);
		if (taskd_exec_process(j->spec, &j->ex, rootfs_fd, &process, &j->err) < 0 ||
		    taskd_write_file(c->task_dir, name, process, &j->err) < 0)
			return;
		req = (struct br_shim_req){
		        .m = "exec",
		        .exec_id = id,
		        .terminal = j->ex.terminal,
		        .stdin = j->ex.stdin,
		        .rows = j->ex.rows,
		        .cols = j->ex.cols,
		};
	} else {
		req = (struct br_shim_req){
		        .m = "attach",
		        .stdin = j->at.stdin,
		        .close_stdin = j->at.close_stdin,
		        .rows = j->at.rows,
		        .cols = j->at.cols,
		};
	}
	sock = br_shim_connect(c->task_dir, &j->err);
	if (sock < 0 || br_shim_call_passing(sock, &req, j->fd, TASKD_SHIM_CALL_TIMEOUT_MS,
	                                     j->arena, &reply, &j->err) < 0) {
		br_err_wrap(&j->err, "container %s", c->id);
		return;
	}
	/* The shim holds the stream now; our copy goes. */
	close(j->fd);
	j->fd = -1;
	if (j->exec) {
		snprintf(j->exec_id, sizeof(j->exec_id), "%s", req.exec_id);
		j->exec_pid = reply.exec_pid;
	}
}

static void
job_free(struct stream_job *j)
{
	br_err ignored = BR_ERR_INIT;

	if (j->fd >= 0) {
		br_stream_write_reply(j->fd, &j->err, &ignored);
		close(j->fd);
	}
	container_unref(j->c);
	br_arena_free(j->arena);
	free(j->spec);
	free(j);
}

static void
stream_done(uv_work_t *w, int status)
{
	struct stream_job *j = w->data;

	taskd_work_done(j->t);
	if (j->err.code != BR_OK)
		br_log_info("TASK-STREAM", "%s/%s: %s", j->c->ns, j->c->id, j->err.msg);
	if (j->exec_pid > 0) {
		struct taskd_events ev = {0};
		br_err err = BR_ERR_INIT;
		taskd_events_exec_started(&ev, j->c, j->exec_id, j->exec_pid);
		if (taskd_store_set_task(j->t, j->c, &ev, &err) < 0)
			br_log_warn("TASK-DB", "container %s/%s: exec events: %s", j->c->ns,
			            j->c->id, err.msg);
	}
	job_free(j);
}

/* Loop: check the request against the container and queue its work; errors go back on the
 * stream. Takes `fd`. */
static void
open_stream(struct taskd *t, const char *buf, size_t len, int fd)
{
	struct stream_job *j = xnew(struct stream_job);
	struct br_request req;
	const char *id;
	br_err *err = &j->err;

	j->t = t;
	j->fd = fd;
	j->arena = br_arena_new();
	if (br_request_decode(buf, len, j->arena, &req, err) < 0)
		goto fail;
	if (strcmp(req.method, "tasks.exec") == 0) {
		j->exec = true;
		if (br_msg_decode(&req.params, &br_task_exec_req_schema, "p", j->arena, &j->ex,
		                  err) < 0)
			goto fail;
		if (j->ex.args.n == 0) {
			br_err_set(err, BR_INVALID_ARGUMENT, "exec: no command given");
			goto fail;
		}
		id = j->ex.id;
	} else if (strcmp(req.method, "tasks.attach") == 0) {
		if (br_msg_decode(&req.params, &br_task_attach_req_schema, "p", j->arena, &j->at,
		                  err) < 0)
			goto fail;
		id = j->at.id;
	} else {
		br_err_set(err, BR_NOT_IMPLEMENTED, "%s is no stream", req.method);
		goto fail;
	}
	const char *ns = req.ns[0] != '\0' ? req.ns : "default";
	struct container *c = taskd_get(t, ns, id, err);
	if (c == NULL)
		goto fail;
	if (!j->exec && j->at.start && c->task == TASK_NONE) {
		struct br_shim_req attach = {
		        .m = "attach",
		        .stdin = j->at.stdin,
		        .close_stdin = j->at.close_stdin,
		        .rows = j->at.rows,
		        .cols = j->at.cols,
		};
		if (taskd_task_start(t, c, NULL, fd, &attach, err) < 0)
			goto fail;
		j->fd = -1; /* the start's now */
		job_free(j);
		return;
	}
	if (c->task != TASK_RUNNING) {
		br_err_set(err, BR_FAILED_PRECONDITION, "container %s is not running", c->id);
		goto fail;
	}
	if (c->paused && j->exec) {
		br_err_set(err, BR_FAILED_PRECONDITION, "container %s is paused; unpause it first",
		           c->id);
		goto fail;
	}
	if (j->exec && taskd_store_spec(t->db, c->ns, c->id, &j->spec, err) < 0)
		goto fail;
	j->c = c;
	container_ref(c);
	j->work.data = j;
	taskd_queue(t, &j->work, stream_work, stream_done);
	return;
fail:
	br_log_info("TASK-STREAM", "refused: %s", err->msg);
	job_free(j);
}

/* The listener's callback: one stream handed over by the gateway. */
static void
handoff(void *data, const char *envelope, size_t len, int fd)
{
	open_stream(data, envelope, len, fd);
}

int
taskd_streams_start(struct taskd *t, br_err *err)
{
	_cleanup_free_ char *url = br_config_socket_url(t->cfg, "taskd");

	return br_stream_listener_start(t->uv, url, "TASK-STREAM", handoff, t, &t->streams, err);
}

void
taskd_streams_stop(struct taskd *t)
{
	br_stream_listener_stop(t->streams);
	t->streams = NULL;
}
