/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers.create and containers.delete. Create reserves the id with a "creating" record
 * (and, in the same transaction, the container's lease "container-<id>" in snapshotd, see
 * docs/leases.md), then a worker asks imaged for the image's runtime config, makes sure the
 * lease exists, asks snapshotd for an active snapshot on the image's top layer under that
 * lease, netd for the container's network (its mode or network, with the container's name,
 * published ports and DNS options; netd keeps them with the attachment, so they are passed
 * here once and not recorded by taskd), mounts the snapshot as the bundle's rootfs and writes
 * config.json; any failure undoes the steps already done, in reverse. Delete tears down the
 * task (killing it first with force), removes the bundle and releases the network and the
 * snapshot; it fails, and can be retried, if netd cannot be reached. The snapshot is removed
 * at once when snapshotd answers; otherwise the lease's deletion, queued with the record's,
 * lets snapshotd collect it when it is back.
 *
 * Events: /containers/create when the record becomes "ready" (a create that fails or is undone
 * emits nothing); a delete emits, in order, /tasks/exit for a task it killed before its exit
 * watch saw the exit, /tasks/delete for a task that existed, and /containers/delete with the
 * record's removal.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/random.h"
#include "common/spawn.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/proto/images.h"
#include "common/proto/networks.h"
#include "common/proto/shim.h"
#include "common/proto/snapshots.h"
#include "common/seccomp.h"
#include "common/signal_name.h"
#include "common/xalloc.h"
#include "taskd/seccomp.h"
#include "taskd/spec.h"
#include "taskd/taskd.h"

struct create_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	const struct br_container_create_req *req;
	/* The request with volume mounts resolved to their host directories; copy_up[i]: mount
	 * i is of a volume made by this create, to be filled from the image (docker's copy-up). */
	struct br_container_create_req run;
	bool *copy_up;
	const char *name; /* the container's name when the create began (in arena): a rename may
	                   * change c->name on the loop meanwhile */
	br_arena *arena;
	/* results */
	int rc;
	br_err err;
	char *spec;
	char **command;
	const char *image_name;
	const char *net_mode;
	const char *snapshotter;
	int stop_signal; /* the image's StopSignal; 0: none (SIGTERM) */
};

struct destroy_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call; /* NULL when undoing a failed create */
	struct container *c;
	bool kill_first;  /* the task was running: killed in a first pass (see destroy_work) */
	bool auto_remove; /* call is NULL: the container's auto_remove, retried on failure */
	bool killed;      /* that first pass is done */
	bool had_task;
	char *runtime_path;
	char *runtime_root;
	int rc;
	br_err err;
	/* kill_first: the exit the shim persisted, if it did */
	bool have_exit;
	int64_t exit_status;
	int64_t exited_at;
	bool oom_killed;
};

static struct br_call_opts
peer_opts(const char *ns)
{
	return (struct br_call_opts){.ns = ns, .timeout_ms = TASKD_PEER_TIMEOUT_MS};
}

int
taskd_release_peers(struct taskd *t, const char *ns, const char *id, const char *snapshotter,
                    const char *snapshot_key, br_err *err)
{
	br_err snap_err = BR_ERR_INIT;
	struct br_call_opts o = peer_opts(ns);
	struct br_net_id_req net = {.id = id};
	struct br_snap_key_req snap = {.snapshotter = snapshotter, .key = snapshot_key};

	if (br_rpc_call(t->netd, &o, "networks.detach", &br_net_id_req_schema, &net, NULL, NULL,
	                NULL, err) < 0 &&
	    err->code != BR_NOT_FOUND)
		return br_err_wrap(err, "detach network");
	br_err_clear(err);
	/* When this fails the record's deletion drops the lease and snapshotd collects it. */
	if (br_rpc_call(t->snapshotd, &o, "snapshots.remove", &br_snap_key_req_schema, &snap, NULL,
	                NULL, NULL, &snap_err) < 0 &&
	    snap_err.code != BR_NOT_FOUND)
		br_log_info("TASK-SNAP-LATER", "container %s/%s: snapshots.remove %s: %s", ns, id,
		            snapshot_key, snap_err.msg);
	return 0;
}

void
taskd_release_peers_logged(struct taskd *t, const struct container *c)
{
	br_err err = BR_ERR_INIT;

	if (taskd_release_peers(t, c->ns, c->id, c->snapshotter, c->snapshot_key, &err) < 0)
		br_log_warn("TASK-NET-LEAK", "container %s/%s: %s", c->ns, c->id, err.msg);
}

/* ------------------------------------------------------------------ create */

#define CP_STDERR_MAX 512 /* bytes of cp's complaint kept for the error */

/*
 * Fill a new volume from the image (docker's copy-up): what the rootfs has at `target`, if it
 * is a directory, is copied with its owners, modes and times into `dest`. The lookup stays in
 * the rootfs (the image is untrusted); cp reads the directory through taskd's descriptor.
 * Worker thread.
 */
static int
copy_up(int rootfs_fd, const char *target, const char *dest, br_err *err)
{
	_cleanup_close_ int fd =
	        br_openat_in_root(rootfs_fd, target + 1, O_PATH | O_DIRECTORY, 0, err);
	int status;

	if (fd < 0) {
		/* Nothing there (or not a directory): the volume starts empty. */
		br_err_clear(err);
		return 0;
	}
	_cleanup_free_ char *src = xasprintf("/proc/%d/fd/%d/.", (int)getpid(), fd);
	const char *argv[] = {"cp", "-a", "--", src, dest, NULL};
	_cleanup_free_ char *out = NULL;
	if (br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDERR, CP_STDERR_MAX, &out, NULL, &status,
	                 err) < 0)
		return br_err_wrap(err, "copy the image's %s into its volume", target);
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL,
		                  "copy the image's %s into its volume: cp failed (status %d): %s",
		                  target, status, out[0] ? out : "no message");
	return 0;
}

/* The worker: every step that talks to a peer or touches the disk. */
static int
create_bundle(struct create_job *j, br_err *err)
{
	struct taskd *t = j->t;
	struct container *c = j->c;
	const struct br_container_create_req *req = j->req;
	struct br_call_opts o = peer_opts(c->ns);
	struct br_image_name_req name = {.name = req->image};
	struct br_image_runtime img;
	struct br_snap_mounts_resp mounts;
	struct br_net_attachment att;
	_cleanup_free_ char *rootfs = xasprintf("%s/rootfs", c->bundle_dir);
	_cleanup_close_ int rootfs_fd = -1;
	br_err undo_err = BR_ERR_INIT;

	if (br_rpc_call(t->imaged, &o, "images.resolve", &br_image_name_req_schema, &name,
	                &br_image_runtime_schema, &img, j->arena, err) < 0)
		return br_err_wrap(err, "resolve image \"%s\"", req->image);
	j->image_name = img.name && img.name[0] ? img.name : req->image;
	j->snapshotter = img.snapshotter;
	/* Recorded as a number: `berth stop` needs no image, which may be gone by then. An
	 * unknown name is SIGTERM's, as docker falls back to. */
	j->stop_signal = br_signal_parse(img.stop_signal);

	/* The lease exists before the snapshot, so no collection can take the snapshot (or
	 * the image's layers under it) between the two. The record's transaction queued the
	 * same put; this one does not wait for the outbox. */
	char lease[BR_LEASE_ID_MAX + 1];
	const char *owner_keys[] = {BR_LEASE_LABEL_OWNER}, *owner_values[] = {"taskd"};
	struct br_lease_resource res = {
	        img.snapshotter && img.snapshotter[0]
	                ? br_arena_printf(j->arena, "snapshots/%s", img.snapshotter)
	                : "snapshots",
	        c->snapshot_key};
	taskd_lease_id(c->id, lease);
	struct br_lease_put_req put = {.id = lease,
	                               .labels = {owner_keys, owner_values, 1},
	                               .resources = {&res, 1},
	                               .replace = true};
	if (br_lease_put_sync(t->snapshotd, "snapshots", c->ns, &put, j->arena, NULL, err) < 0)
		return br_err_wrap(err, "prepare snapshot %s", c->snapshot_key);
	struct br_call_opts lo = o;
	lo.lease = lease;
	struct br_snap_prepare_req prep = {
	        .snapshotter = img.snapshotter,
	        .key = c->snapshot_key,
	        .parent = img.snapshot && img.snapshot[0] ? img.snapshot : img.chain_id};
	if (br_rpc_call(t->snapshotd, &lo, "snapshots.prepare", &br_snap_prepare_req_schema, &prep,
	                &br_snap_mounts_resp_schema, &mounts, j->arena, err) < 0)
		return br_err_wrap(err, "prepare snapshot %s", c->snapshot_key);

	struct br_net_attach_req net = {
	        .id = c->id,
	        .mode = req->net,
	        .hostname = req->hostname,
	        .name = j->name,
	        .ports = req->ports,
	        .dns = req->dns,
	        .add_hosts = req->add_hosts,
	};
	if (br_rpc_call(t->netd, &o, "networks.attach", &br_net_attach_req_schema, &net,
	                &br_net_attachment_schema, &att, j->arena, err) < 0) {
		br_err_wrap(err, "attach network");
		goto undo_snapshot;
	}
	j->net_mode = att.mode;

	if (br_mkdir_p(c->bundle_dir, 0700, err) < 0 ||
	    taskd_mount_rootfs(mounts.mounts.v, mounts.mounts.n, rootfs, err) < 0)
		goto undo_bundle;
	rootfs_fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfs_fd < 0) {
		br_err_errno(err, BR_INTERNAL, errno, "open %s", rootfs);
		goto undo_bundle;
	}
	for (size_t i = 0; i < j->run.mounts.n; i++) {
		const struct br_mount_opt *m = (const struct br_mount_opt *)j->run.mounts.v + i;
		if (j->copy_up[i] && copy_up(rootfs_fd, m->target, m->source, err) < 0)
			goto undo_bundle;
	}
	/* As docker: a working directory the image lacks is made (root's, 0755). */
	const char *cwd =
	        req->working_dir && req->working_dir[0] ? req->working_dir : img.working_dir;
	if (cwd != NULL && cwd[0] == '/' && cwd[1] != '\0' &&
	    br_mkdir_p_in_root(rootfs_fd, cwd + 1, 0755, err) < 0) {
		br_err_wrap(err, "working directory %s", cwd);
		goto undo_bundle;
	}
	struct taskd_spec_opts so = {
	        .ns = c->ns,
	        .id = c->id,
	        .image = &img,
	        .args = req->args,
	        .entrypoint = req->entrypoint,
	        .env = req->env,
	        .hostname = req->hostname,
	        .user = req->user,
	        .working_dir = req->working_dir,
	        .net_mode = att.mode,
	        .netns_path = att.netns_path,
	        .hosts_path = att.hosts_path,
	        .resolv_path = att.resolv_path,
	        .rootfs_fd = rootfs_fd,
	        .seccomp = req->seccomp,
	        .cgroupns = taskd_host_cgroup_unified(NULL),
	        .apparmor_profile = taskd_host_apparmor_profile(NULL),
	        .terminal = req->terminal,
	        .open_stdin = req->open_stdin,
	        .run = &j->run,
	        .init_path = req->init ? t->init_path : NULL,
	        .swap_accounting = taskd_host_swap_accounting(NULL),
	};
	if (taskd_spec_build(&so, &j->spec, &j->command, err) < 0 ||
	    taskd_write_file(c->bundle_dir, "config.json", j->spec, err) < 0)
		goto undo_bundle;
	return 0;

undo_bundle:
	if (taskd_bundle_remove(c->bundle_dir, &undo_err) < 0)
		br_log_warn("TASK-BUNDLE-LEAK", "container %s/%s: %s", c->ns, c->id, undo_err.msg);
	{
		struct br_net_id_req det = {.id = c->id};
		br_err_clear(&undo_err);
		if (br_rpc_call(t->netd, &o, "networks.detach", &br_net_id_req_schema, &det, NULL,
		                NULL, NULL, &undo_err) < 0 &&
		    undo_err.code != BR_NOT_FOUND)
			br_log_warn("TASK-NET-LEAK", "container %s/%s: networks.detach: %s", c->ns,
			            c->id, undo_err.msg);
	}
undo_snapshot : {
	struct br_snap_key_req rm = {.snapshotter = img.snapshotter, .key = c->snapshot_key};
	br_err_clear(&undo_err);
	if (br_rpc_call(t->snapshotd, &o, "snapshots.remove", &br_snap_key_req_schema, &rm, NULL,
	                NULL, NULL, &undo_err) < 0 &&
	    undo_err.code != BR_NOT_FOUND)
		br_log_warn("TASK-SNAP-LEAK", "container %s/%s: snapshots.remove: %s", c->ns, c->id,
		            undo_err.msg);
}
	return -1;
}

static void
create_work(uv_work_t *w)
{
	struct create_job *j = w->data;
	j->rc = create_bundle(j, &j->err);
}

static void destroy_start(struct taskd *t, br_call *call, struct container *c, bool kill_first,
                          bool auto_remove);

static void
create_done(uv_work_t *w, int status)
{
	struct create_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;
	br_err err = BR_ERR_INIT;

	taskd_work_done(t);
	if (j->rc < 0) {
		taskd_request_forget(t, c->ns, "containers.create", c->id);
		if (taskd_store_delete(t, c->ns, c->id, NULL, &err) < 0)
			br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, err.msg);
		taskd_remove(t, c);
		br_call_fail(j->call, &j->err);
		goto out;
	}
	free(c->image);
	c->image = xstrdup(j->image_name);
	c->net = xstrdup(j->net_mode ? j->net_mode : "");
	free(c->snapshotter);
	c->snapshotter = xstrdup(j->snapshotter ? j->snapshotter : "");
	c->command = br_steal_ptr(&j->command);
	c->stop_signal = j->stop_signal;
	if (taskd_store_ready(t, c, j->spec, &err) < 0) {
		/* The record cannot say what was made: undo it all. */
		br_call_fail(j->call, &err);
		destroy_start(t, NULL, c, false, false);
		goto out;
	}
	c->creating = false;
	br_log_info("TASK-CREATE", "container %s/%s created from %s", c->ns, c->id, c->image);
	struct br_container out;
	container_to_wire(c, &out);
	br_call_reply(j->call, &br_container_schema, &out);
out:
	container_unref(c);
	free(j->spec);
	br_strv_free(j->command);
	br_arena_free(j->arena);
	free(j);
}

/* The request's volume mounts: each volume is made when missing (as `docker run -v NAME:/p`
 * does) and recorded as used by the container; j->run gets the mounts with the volumes' host
 * directories as sources. Loop thread. */
static int
resolve_volumes(struct taskd *t, const struct container *c, struct create_job *j, br_err *err)
{
	const struct br_container_create_req *req = j->req;
	size_t n = req->mounts.n, nnames = 0;
	struct br_mount_opt *mounts = br_arena_alloc(j->arena, (n ? n : 1) * sizeof(*mounts));
	const char **names = br_arena_alloc(j->arena, (n ? n : 1) * sizeof(*names));

	j->run = *req;
	j->copy_up = br_arena_alloc(j->arena, (n ? n : 1) * sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		mounts[i] = ((const struct br_mount_opt *)req->mounts.v)[i];
		j->copy_up[i] = false;
		if (strcmp(mounts[i].type, "volume") != 0)
			continue;
		if (taskd_volumes_ensure(t, c->ns, mounts[i].source, &j->copy_up[i], err) < 0)
			return br_err_wrap(err, "mount %s", mounts[i].target);
		names[nnames++] = mounts[i].source;
		_cleanup_free_ char *path = taskd_volume_data_path(t, c->ns, mounts[i].source);
		mounts[i].source = br_arena_strdup(j->arena, path);
	}
	j->run.mounts = (struct br_objlist){mounts, n};
	return taskd_volumes_attach(t, c->ns, c->id, names, nnames, err);
}

/* containers.create asked again under its request id: answer with the container the first
 * one made (1), or 0 when there is nothing to answer (it failed, or was undone). */
static int
create_replay(struct taskd *t, br_call *call, const char *ns, const char *request_id)
{
	_cleanup_free_ char *id = NULL;
	int64_t at = 0;
	br_err err = BR_ERR_INIT;
	int found = taskd_request_find(t, ns, "containers.create", request_id, &id, &at, &err);

	if (found < 0) {
		br_call_fail(call, &err);
		return 1;
	}
	if (found == 0)
		return 0;
	struct container *c = taskd_find(t, ns, id);
	if (c != NULL && c->creating) {
		br_call_failf(call, BR_UNAVAILABLE,
		              "the create of container \"%s\" is still under way; try again", id);
		return 1;
	}
	if (c == NULL) {
		br_call_failf(call, BR_NOT_FOUND,
		              "container \"%s\", created by request \"%s\", was removed since", id,
		              request_id);
		return 1;
	}
	br_log_info("TASK-REPLAY",
	            "container %s/%s: create request %s asked again: answered with "
	            "its container",
	            ns, id, request_id);
	struct br_container out;
	container_to_wire(c, &out);
	br_call_reply(call, &br_container_schema, &out);
	return 1;
}

void
taskd_containers_create(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_create_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	const char *runtime =
	        req->runtime && req->runtime[0] ? req->runtime : t->cfg->taskd.runtime;
	char generated[33];
	const char *id = req->id, *name = req->name;
	struct container *other;
	br_err err = BR_ERR_INIT;

	/* A request asked again is answered first: its name is taken, by its own container. */
	if (taskd_request_check(req->request_id, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (req->request_id != NULL && req->request_id[0] != '\0' &&
	    create_replay(t, call, ns, req->request_id))
		return;
	int policy = taskd_restart_policy_parse(req->restart_policy);
	if (policy < 0) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "restart policy \"%.40s\": expected no, on-failure, always or "
		              "unless-stopped",
		              req->restart_policy);
		return;
	}
	if (req->restart_max > BR_RESTART_MAX ||
	    (req->restart_max > 0 && policy != RESTART_ON_FAILURE)) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "restart count %u: only on-failure takes one, at most %d",
		              req->restart_max, BR_RESTART_MAX);
		return;
	}
	if (req->auto_remove && policy != RESTART_NO) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "auto_remove (--rm) cannot be combined with a restart policy");
		return;
	}
	if (name == NULL || name[0] == '\0')
		name = id != NULL && id[0] != '\0' ? id : NULL;
	if (name != NULL && !br_msg_is_id(name, BR_CONTAINER_ID_MAX)) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "container name \"%.80s\": expected [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
		              name);
		return;
	}
	if (name != NULL && (other = taskd_find_name(t, ns, name)) != NULL) {
		br_call_failf(call, BR_ALREADY_EXISTS,
		              "container name \"%s\" is already in use by container \"%s\"", name,
		              other->id);
		return;
	}
	/* The name is the id too unless a container has that id (it was renamed since). */
	bool id_from_name = false;
	if ((id == NULL || id[0] == '\0') && name != NULL && taskd_find(t, ns, name) == NULL) {
		id = name;
		id_from_name = true;
	}
	if (id == NULL || id[0] == '\0') {
		do
			br_random_hex(generated, 16);
		while (taskd_find(t, ns, generated) != NULL || taskd_find_name(t, ns, generated));
		id = generated;
	}
	if (name == NULL)
		name = id;
	if (!br_msg_is_id(id, BR_CONTAINER_ID_MAX)) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "container id \"%.80s\": expected [A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
		              id);
		return;
	}
	if (taskd_find(t, ns, id) != NULL) {
		br_call_failf(call, BR_ALREADY_EXISTS, "container \"%s\": already exists", id);
		return;
	}
	if (runtime == NULL || br_config_runtime_path(t->cfg, runtime) == NULL) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "runtime \"%s\": not configured",
		              runtime ? runtime : "");
		return;
	}
	/* Checked again with the spec; here so that a bad request costs no snapshot. */
	if ((req->hostname != NULL && req->hostname[0] != '\0' &&
	     taskd_spec_check_hostname(req->hostname, &err) < 0) ||
	    (req->seccomp != NULL && req->seccomp[0] != '\0' &&
	     strcmp(req->seccomp, TASKD_SECCOMP_UNCONFINED) != 0 &&
	     br_seccomp_profile_parse(req->seccomp, strlen(req->seccomp), "seccomp profile", NULL,
	                              &err) < 0)) {
		br_call_fail(call, &err);
		return;
	}

	for (size_t i = 0; i < req->mounts.n; i++) {
		const struct br_mount_opt *m = (const struct br_mount_opt *)req->mounts.v + i;
		if (strcmp(m->type, "volume") == 0 && !taskd_volume_name_ok(m->source)) {
			br_call_failf(call, BR_INVALID_ARGUMENT,
			              "mount %.200s: volume name \"%.140s\": expected "
			              "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
			              m->target, m->source ? m->source : "");
			return;
		}
	}
	if (req->init && access(t->init_path, X_OK) < 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "--init: %s: %s (berth-init is installed next to berth-shim)",
		              t->init_path, strerror(errno));
		return;
	}

	struct container *c = container_new(t, ns, id);
	c->name = xstrdup(name);
	c->id_from_name = id_from_name;
	c->creating = true;
	c->image = xstrdup(req->image);
	c->runtime = xstrdup(runtime);
	c->snapshot_key = xasprintf("%s-%s", ns, id);
	c->created_at = br_db_now();
	c->label_keys = xcalloc(req->labels.n + 1, sizeof(char *));
	c->label_values = xcalloc(req->labels.n + 1, sizeof(char *));
	for (size_t i = 0; i < req->labels.n; i++) {
		c->label_keys[i] = xstrdup(req->labels.keys[i]);
		c->label_values[i] = xstrdup(req->labels.values[i]);
	}
	c->n_labels = req->labels.n;
	c->restart_policy = (enum restart_policy)policy;
	c->restart_max = req->restart_max;
	c->auto_remove = req->auto_remove;
	if (taskd_store_insert(t, c, &err) < 0 ||
	    (req->request_id != NULL && req->request_id[0] != '\0' &&
	     taskd_request_record(t, ns, "containers.create", req->request_id, id, &err) < 0)) {
		br_err ignored = BR_ERR_INIT;
		if (err.code != BR_ALREADY_EXISTS)
			taskd_store_delete(t, ns, id, NULL, &ignored);
		taskd_remove(t, c);
		br_call_fail(call, &err);
		return;
	}

	struct create_job *j = xnew(struct create_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->req = req;
	j->arena = br_arena_new();
	j->name = br_arena_strdup(j->arena, c->name);
	j->work.data = j;
	if (resolve_volumes(t, c, j, &err) < 0) {
		br_err ignored = BR_ERR_INIT;
		if (taskd_store_delete(t, c->ns, c->id, NULL, &ignored) < 0)
			br_log_warn("TASK-DB", "container %s/%s: %s", c->ns, c->id, ignored.msg);
		taskd_remove(t, c);
		br_arena_free(j->arena);
		free(j);
		br_call_fail(call, &err);
		return;
	}
	container_ref(c);
	taskd_queue(t, &j->work, create_work, create_done);
}

/* ------------------------------------------------------------------ delete */

static void
destroy_work(uv_work_t *w)
{
	struct destroy_job *j = w->data;
	struct container *c = j->c;
	br_err *err = &j->err;

	j->rc = -1;
	if (j->kill_first && !j->killed) {
		/* First pass: end the task and read the exit its shim persisted. The loop records
		 * that exit before the second pass removes the bundle, exit file and all, so a
		 * taskd killed in between still finds it. */
		if (taskd_task_teardown(c->task_dir, j->runtime_path, j->runtime_root, c->id, true,
		                        err) < 0)
			return;
		_cleanup_close_ int dirfd = open(c->task_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		br_err ignored = BR_ERR_INIT;
		j->have_exit =
		        dirfd >= 0 && br_shim_read_exit_oom(dirfd, &j->exit_status, &j->exited_at,
		                                            &j->oom_killed, &ignored) == 0;
		j->rc = 0;
		return;
	}
	if (j->had_task && !j->kill_first &&
	    taskd_task_teardown(c->task_dir, j->runtime_path, j->runtime_root, c->id, false, err) <
	            0)
		return;
	if (taskd_bundle_remove(c->bundle_dir, err) < 0 || taskd_logs_remove(c->log_dir, err) < 0)
		return;
	if (j->call == NULL && !j->auto_remove) {
		/* Undoing a create: best effort, the caller already has its error. */
		taskd_release_peers_logged(j->t, c);
		j->rc = 0;
		return;
	}
	if (taskd_release_peers(j->t, c->ns, c->id, c->snapshotter, c->snapshot_key, err) < 0)
		return;
	j->rc = 0;
}

static void
deleted(void *arg, bool delivered)
{
	br_call_reply(arg, NULL, NULL);
}

/* After the first pass of a delete that killed the task: record its exit (with /tasks/exit)
 * unless the exit watch, closed now, already did. */
static void
record_kill(struct taskd *t, struct container *c, struct destroy_job *j)
{
	taskd_unwatch(c);
	if (c->task != TASK_RUNNING)
		return;
	if (!j->have_exit) {
		br_log_warn("TASK-SHIM-LOST",
		            "container %s/%s: the shim recorded no exit; reporting exit status 255",
		            c->ns, c->id);
		j->exit_status = 255;
		j->exited_at = br_db_now();
	}
	taskd_task_exited(t, c, j->exit_status, j->exited_at, j->oom_killed, NULL);
}

static void
destroy_done(uv_work_t *w, int status)
{
	struct destroy_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;
	br_err err = BR_ERR_INIT;

	taskd_work_done(t);
	if (j->rc == 0 && j->kill_first && !j->killed) {
		j->killed = true;
		record_kill(t, c, j);
		taskd_queue(t, &j->work, destroy_work, destroy_done);
		return;
	}
	c->busy = false;
	if (j->rc < 0) {
		if (j->call != NULL) {
			br_err_wrap(&j->err, "delete container \"%s\"", c->id);
			br_call_fail(j->call, &j->err);
		} else if (j->auto_remove) {
			br_log_warn("TASK-AUTO-REMOVE", "container %s/%s: %s; trying again", c->ns,
			            c->id, j->err.msg);
			taskd_supervise_remove_failed(t, c);
		} else {
			br_log_warn("TASK-UNDO", "container %s/%s: %s", c->ns, c->id, j->err.msg);
		}
		goto out;
	}
	taskd_unwatch(c);
	taskd_flush_waiters(t, c);
	struct taskd_events ev = {0};
	if (!c->creating) {
		if (c->task != TASK_NONE)
			taskd_events_task_delete(&ev, c);
		taskd_events_container_delete(&ev, c);
	}
	if (taskd_store_delete(t, c->ns, c->id, &ev, &err) < 0) {
		if (j->call != NULL)
			br_call_fail(j->call, &err);
		goto out;
	}
	if (j->call != NULL) {
		br_log_info("TASK-DELETE", "container %s/%s deleted", c->ns, c->id);
		/* Answer once snapshotd dropped the container's lease, or soon anyway. */
		br_outbox_wait(t->outbox, TASKD_LEASE_WAIT_MS, deleted, j->call);
	}
	taskd_remove(t, c);
out:
	container_unref(c);
	free(j->runtime_path);
	free(j->runtime_root);
	free(j);
}

static void
destroy_start(struct taskd *t, br_call *call, struct container *c, bool kill_first,
              bool auto_remove)
{
	struct destroy_job *j = xnew(struct destroy_job);
	br_err err = BR_ERR_INIT;

	taskd_supervise_cancel(c);
	j->t = t;
	j->call = call;
	j->c = c;
	j->kill_first = kill_first;
	j->auto_remove = auto_remove;
	j->had_task = c->task != TASK_NONE;
	/* Without a configured runtime the shim alone can still tear the task down. */
	if (j->had_task)
		taskd_runtime_paths(t, c, &j->runtime_path, &j->runtime_root, &err);
	j->work.data = j;
	c->busy = true;
	container_ref(c);
	taskd_queue(t, &j->work, destroy_work, destroy_done);
}

void
taskd_container_auto_remove(struct taskd *t, struct container *c)
{
	destroy_start(t, NULL, c, false, true);
}

void
taskd_containers_delete(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	if (c->busy) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" is busy with another operation; try again", c->id);
		return;
	}
	if (c->task == TASK_RUNNING && !req->force) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" has a running task; kill it first, or force",
		              c->id);
		return;
	}
	destroy_start(t, call, c, c->task == TASK_RUNNING, false);
}
