/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-snapshotd as a process: the real binary ($BERTH_BUILD/berth-snapshotd, BERTH_BUILD
 * defaulting to "build") on a private temporary root, driven with br_rpc_call. Covers a parent
 * chain and its mounts over the wire, namespaces, removal refused with children, the native
 * backend's copy on a worker, a kill -9 and restart with the records intact and an orphan
 * directory cleaned, and a clean stop on SIGTERM. Then leases over snapshots (held by key,
 * listed in pages), the envelope's lease on prepare and commit, collection (a chain held
 * through an active child, an expired lease, orphan directories), the reserved key prefix
 * through the front door and directly, usage, list paging and daemon.namespace; and the
 * events all this leaves in the daemon's outbox (no gatewayd runs here to take them).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/msg.h"
#include "common/proto/leases.h"
#include "common/proto/snapshots.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"
#include "test/unit/t_daemon.h"
#include "test/unit/t_events.h"

static int
create(struct t_daemon *d, const char *method, const char *ns, const char *snapshotter,
       const char *key, const char *parent, struct br_snap_mounts_resp *ret, br_err *err)
{
	struct br_snap_prepare_req req = {.snapshotter = snapshotter, .key = key, .parent = parent};
	struct br_call_opts opts = {.ns = ns};
	return br_rpc_call(d->client, &opts, method, &br_snap_prepare_req_schema, &req,
	                   &br_snap_mounts_resp_schema, ret, d->arena, err);
}

static int
commit(struct t_daemon *d, const char *snapshotter, const char *name, const char *key, br_err *err)
{
	struct br_snap_commit_req req = {.snapshotter = snapshotter, .name = name, .key = key};
	return br_rpc_call(d->client, NULL, "snapshots.commit", &br_snap_commit_req_schema, &req,
	                   NULL, NULL, d->arena, err);
}

static int
key_call(struct t_daemon *d, const char *method, const char *ns, const char *key,
         const struct br_schema *rs, void *ret, br_err *err)
{
	struct br_snap_key_req req = {.key = key};
	struct br_call_opts opts = {.ns = ns};
	return br_rpc_call(d->client, &opts, method, &br_snap_key_req_schema, &req, rs, ret,
	                   d->arena, err);
}

static const struct br_mount *
only_mount(const struct br_snap_mounts_resp *m)
{
	T_EQ_INT(m->mounts.n, 1);
	return (const struct br_mount *)m->mounts.v;
}

static void
write_at(const char *dir, const char *rel, const char *content)
{
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *fp = fopen(p, "w");
	T_NOT_NULL(fp);
	fputs(content, fp);
	fclose(fp);
}

static bool
exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

/* The entries of directory `path`, "." and ".." aside. */
static size_t
count_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *e;
	size_t n = 0;

	T_NOT_NULL(dir);
	while ((e = readdir(dir)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(dir);
	return n;
}

static void
test_chain_restart_remove(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	struct br_snapshot_info info;
	char want[1024], base_fs[512], orphan[256];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x1", NULL, &m, &err), err);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	snprintf(base_fs, sizeof(base_fs), "%s", mt->source);
	snprintf(want, sizeof(want), "%s/root/snapshotd/overlayfs/1/fs", d.dir);
	T_EQ_STR(base_fs, want);
	write_at(base_fs, "hello", "layer one\n");
	T_NOERR(commit(&d, NULL, "l1", "x1", &err), err);

	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "ctr", "l1", &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->type, "overlay");
	T_EQ_INT(mt->options.n, 3);
	snprintf(want, sizeof(want), "lowerdir=%s", base_fs);
	T_EQ_STR(mt->options.v[0], want);
	snprintf(want, sizeof(want), "upperdir=%s/root/snapshotd/overlayfs/2/fs", d.dir);
	T_EQ_STR(mt->options.v[1], want);
	snprintf(want, sizeof(want), "workdir=%s/root/snapshotd/overlayfs/2/work", d.dir);
	T_EQ_STR(mt->options.v[2], want);

	/* Namespaces are separate worlds. */
	T_ERR(key_call(&d, "snapshots.stat", "other", "ctr", &br_snapshot_info_schema, &info, &err),
	      err, BR_NOT_FOUND);
	T_ERR(create(&d, "snapshots.view", "other", NULL, "v", "l1", &m, &err), err, BR_NOT_FOUND);
	T_ERR(create(&d, "snapshots.prepare", NULL, "btrfs", "b", NULL, &m, &err), err,
	      BR_NOT_IMPLEMENTED);

	/* kill -9, plus an orphan directory as a crash between a row delete and the rm leaves. */
	t_daemon_kill9(&d);
	snprintf(orphan, sizeof(orphan), "%s/root/snapshotd/overlayfs/77", d.dir);
	T_EQ_INT(mkdir(orphan, 0700), 0);
	t_daemon_start(&d);
	T_OK(!exists(orphan));
	T_NOERR(key_call(&d, "snapshots.stat", NULL, "ctr", &br_snapshot_info_schema, &info, &err),
	        err);
	T_EQ_STR(info.kind, "active");
	T_EQ_STR(info.parent, "l1");
	struct br_snap_mounts_resp again;
	T_NOERR(key_call(&d, "snapshots.mounts", NULL, "ctr", &br_snap_mounts_resp_schema, &again,
	                 &err),
	        err);
	T_EQ_STR(only_mount(&again)->options.v[1], mt->options.v[1]);
	struct br_snap_list_req lr = {0};
	struct br_snap_list_resp list;
	T_NOERR(br_rpc_call(d.client, NULL, "snapshots.list", &br_snap_list_req_schema, &lr,
	                    &br_snap_list_resp_schema, &list, d.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 2);

	T_ERR(key_call(&d, "snapshots.remove", NULL, "l1", NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "snapshot \"l1\" has 1 child");
	T_NOERR(key_call(&d, "snapshots.remove", NULL, "ctr", NULL, NULL, &err), err);
	T_NOERR(key_call(&d, "snapshots.remove", NULL, "l1", NULL, NULL, &err), err);
	T_OK(!exists(base_fs));
	T_ERR(key_call(&d, "snapshots.stat", NULL, "l1", &br_snapshot_info_schema, &info, &err),
	      err, BR_NOT_FOUND);
	t_daemon_teardown(&d);
}

static void
test_native_over_rpc(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char p[1024];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(create(&d, "snapshots.prepare", NULL, "native", "n1", NULL, &m, &err), err);
	write_at(only_mount(&m)->source, "file", "copied\n");
	T_NOERR(commit(&d, "native", "base", "n1", &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, "native", "n2", "base", &m, &err), err);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	T_EQ_STR(mt->options.v[1], "rw");
	snprintf(p, sizeof(p), "%s/file", mt->source);
	T_OK(exists(p));
	t_daemon_stop(&d);
	t_daemon_teardown(&d);
}

static int
commit_onto(struct t_daemon *d, const char *snapshotter, const char *name, const char *key,
            const char *parent, br_err *err)
{
	struct br_snap_commit_req req = {
	        .snapshotter = snapshotter, .name = name, .key = key, .parent = parent};
	return br_rpc_call(d->client, NULL, "snapshots.commit", &br_snap_commit_req_schema, &req,
	                   NULL, NULL, d->arena, err);
}

/* Layers unpacked on their own, each without a parent, then committed in chain order onto
 * the one below: a child of the top stacks them all, nearest first. */
static void
test_commit_onto_parent(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	struct br_snapshot_info info;
	char want[1024];

	t_daemon_setup(&d, "snapshotd");
	/* Three extractions at once, none on a parent. */
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x1", NULL, &m, &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x2", NULL, &m, &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x3", NULL, &m, &err), err);
	/* The parent must exist, be committed, and the snapshot must have no parent yet. */
	T_ERR(commit_onto(&d, NULL, "l2", "x2", "l1", &err), err, BR_NOT_FOUND);
	T_OK(strstr(err.msg, "parent \"l1\": not found") != NULL);
	T_ERR(commit_onto(&d, NULL, "l2", "x2", "x1", &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "not committed") != NULL);
	T_NOERR(commit(&d, NULL, "l1", "x1", &err), err);
	T_NOERR(commit_onto(&d, NULL, "l2", "x2", "l1", &err), err);
	T_NOERR(commit_onto(&d, NULL, "l3", "x3", "l2", &err), err);
	T_NOERR(key_call(&d, "snapshots.stat", NULL, "l3", &br_snapshot_info_schema, &info, &err),
	        err);
	T_EQ_STR(info.parent, "l2");
	T_EQ_STR(info.kind, "committed");

	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "ctr", "l3", &m, &err), err);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "overlay");
	snprintf(want, sizeof(want),
	         "lowerdir=%s/root/snapshotd/overlayfs/3/fs:%s/root/snapshotd/overlayfs/2/fs:"
	         "%s/root/snapshotd/overlayfs/1/fs",
	         d.dir, d.dir, d.dir);
	T_EQ_STR(mt->options.v[0], want);
	/* The parents are held by their child: l1 cannot go while l2 is on it. */
	T_ERR(key_call(&d, "snapshots.remove", NULL, "l1", NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);

	/* A snapshot prepared on a parent keeps it. */
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "y", "l1", &m, &err), err);
	T_ERR(commit_onto(&d, NULL, "ly", "y", "l2", &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "was prepared on a parent already") != NULL);

	/* native copies its parent into the child when it is made: no stacking afterwards. */
	T_NOERR(create(&d, "snapshots.prepare", NULL, "native", "n1", NULL, &m, &err), err);
	T_NOERR(commit(&d, "native", "nbase", "n1", &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, "native", "n2", NULL, &m, &err), err);
	T_ERR(commit_onto(&d, "native", "nl", "n2", "nbase", &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "native copies a parent's files") != NULL);
	t_daemon_stop(&d);
	t_daemon_teardown(&d);
}

/* ---- leases and collection ---- */

/* The cases below count what a collection removes: collections only on demand (snapshots.gc),
 * never on their own after a release or on an interval. */
#define CONFIG_QUIET "{\"snapshotd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0}}"

static int
create_in(struct t_daemon *d, const char *method, const char *lease, const char *key,
          const char *parent, struct br_snap_mounts_resp *ret, br_err *err)
{
	struct br_snap_prepare_req req = {.key = key, .parent = parent};
	struct br_call_opts opts = {.lease = lease};
	struct br_snap_mounts_resp ignored;
	return br_rpc_call(d->client, &opts, method, &br_snap_prepare_req_schema, &req,
	                   &br_snap_mounts_resp_schema, ret ? ret : &ignored, d->arena, err);
}

static int
commit_in(struct t_daemon *d, const char *lease, const char *name, const char *key, br_err *err)
{
	struct br_snap_commit_req req = {.name = name, .key = key};
	struct br_call_opts opts = {.lease = lease};
	return br_rpc_call(d->client, &opts, "snapshots.commit", &br_snap_commit_req_schema, &req,
	                   NULL, NULL, d->arena, err);
}

static int
lease_create(struct t_daemon *d, const char *id, int64_t ttl_ms, br_err *err)
{
	struct br_lease_create_req req = {.id = id, .ttl_ms = ttl_ms};
	struct br_lease out;
	return br_rpc_call(d->client, NULL, "snapshots.leases.create", &br_lease_create_req_schema,
	                   &req, &br_lease_schema, &out, d->arena, err);
}

static int
lease_id_call(struct t_daemon *d, const char *method, const char *id, br_err *err)
{
	struct br_lease_id_req req = {.id = id};
	return br_rpc_call(d->client, NULL, method, &br_lease_id_req_schema, &req, NULL, NULL,
	                   d->arena, err);
}

static struct br_gc_result
collect(struct t_daemon *d)
{
	struct br_gc_result r;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rpc_call(d->client, NULL, "snapshots.gc", NULL, NULL, &br_gc_result_schema, &r,
	                    d->arena, &err),
	        err);
	return r;
}

static bool
snap_exists(struct t_daemon *d, const char *key)
{
	struct br_snapshot_info info;
	br_err err = BR_ERR_INIT;
	int rc = key_call(d, "snapshots.stat", NULL, key, &br_snapshot_info_schema, &info, &err);
	T_OK(rc == 0 || err.code == BR_NOT_FOUND);
	return rc == 0;
}

/* Every resource of lease `id`, read in pages of two. */
static size_t
lease_resources(struct t_daemon *d, const char *id, struct br_lease_resource *out, size_t max)
{
	struct br_lease_page_req req = {.id = id, .page = {.size = 2}};
	size_t n = 0;

	for (;;) {
		struct br_lease_resources_resp resp;
		br_err err = BR_ERR_INIT;
		T_NOERR(br_rpc_call(d->client, NULL, "snapshots.leases.resources",
		                    &br_lease_page_req_schema, &req,
		                    &br_lease_resources_resp_schema, &resp, d->arena, &err),
		        err);
		T_OK(resp.items.n <= 2);
		const struct br_lease_resource *items = resp.items.v;
		for (size_t i = 0; i < resp.items.n; i++) {
			T_OK(n < max);
			out[n++] = items[i];
		}
		if (resp.next_page_token == NULL)
			return n;
		req.page.token = resp.next_page_token;
	}
}

static void
test_leases_over_snapshots(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_lease_resource got[16];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(lease_create(&d, "l1", 0, &err), err);
	T_ERR(lease_create(&d, "l1", 0, &err), err, BR_ALREADY_EXISTS);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "k1", NULL, NULL, &err), err);

	/* "snapshots" is the default snapshotter; what does not exist yet is missing. */
	struct br_lease_resource res[] = {
	        {"snapshots", "k1"}, {"snapshots/native", "n1"}, {"snapshots/overlayfs", "k2"},
	        {"snapshots", "k3"}, {"snapshots", "k4"},
	};
	struct br_lease_put_req put = {.id = "l1", .resources = {res, 5}};
	struct br_lease_missing_resp missing;
	T_NOERR(br_rpc_call(d.client, NULL, "snapshots.leases.put", &br_lease_put_req_schema, &put,
	                    &br_lease_missing_resp_schema, &missing, d.arena, &err),
	        err);
	T_EQ_INT(missing.missing.n, 4);
	const struct br_lease_resource *m = missing.missing.v;
	T_EQ_STR(m[0].type, "snapshots/native");
	T_EQ_STR(m[0].key, "n1");
	T_EQ_STR(m[1].type, "snapshots/overlayfs");

	T_EQ_INT(lease_resources(&d, "l1", got, 16), 5);
	T_EQ_STR(got[0].type, "snapshots/native");
	for (size_t i = 1; i < 5; i++) {
		T_EQ_STR(got[i].type, "snapshots/overlayfs");
		T_OK(i == 1 || strcmp(got[i - 1].key, got[i].key) < 0);
	}

	/* Resources that cannot name a snapshot. */
	const struct br_lease_resource bad[][1] = {
	        {{"content", "sha256:00"}}, {{"snapshots/zfs", "k"}}, {{"snapshots", "a/b"}}};
	for (size_t i = 0; i < 3; i++) {
		struct br_lease_resources_req add = {.id = "l1", .resources = {(void *)bad[i], 1}};
		T_ERR(br_rpc_call(d.client, NULL, "snapshots.leases.add",
		                  &br_lease_resources_req_schema, &add,
		                  &br_lease_missing_resp_schema, &missing, d.arena, &err),
		      err, BR_INVALID_ARGUMENT);
		T_OK(strstr(err.msg, "p.resources[0]") != NULL);
	}

	struct br_lease_resources_req none = {.id = "unknown"};
	T_ERR(br_rpc_call(d.client, NULL, "snapshots.leases.add", &br_lease_resources_req_schema,
	                  &none, &br_lease_missing_resp_schema, &missing, d.arena, &err),
	      err, BR_NOT_FOUND);

	/* Leases listed in pages of two, in order. */
	T_NOERR(lease_create(&d, "l2", 0, &err), err);
	T_NOERR(lease_create(&d, "l3", 60000, &err), err);
	struct br_lease_list_req lr = {.page = {.size = 2}};
	const char *ids[8];
	size_t n = 0;
	for (;;) {
		struct br_lease_list_resp resp;
		T_NOERR(br_rpc_call(d.client, NULL, "snapshots.leases.list",
		                    &br_lease_list_req_schema, &lr, &br_lease_list_resp_schema,
		                    &resp, d.arena, &err),
		        err);
		const struct br_lease *items = resp.items.v;
		for (size_t i = 0; i < resp.items.n; i++)
			ids[n++] = items[i].id;
		if (resp.next_page_token == NULL)
			break;
		lr.page.token = resp.next_page_token;
	}
	T_EQ_INT(n, 3);
	T_EQ_STR(ids[0], "l1");
	T_EQ_STR(ids[2], "l3");

	/* What the namespace holds here, for the front door's namespace removal. */
	struct br_ns_usage usage;
	T_NOERR(br_rpc_call(d.client, NULL, "daemon.namespace", NULL, NULL, &br_ns_usage_schema,
	                    &usage, d.arena, &err),
	        err);
	T_EQ_INT(usage.items.n, 2);
	T_EQ_STR(usage.items.v[0], "1 snapshot");
	T_EQ_STR(usage.items.v[1], "3 leases");
	struct br_call_opts other = {.ns = "other"};
	T_NOERR(br_rpc_call(d.client, &other, "daemon.namespace", NULL, NULL, &br_ns_usage_schema,
	                    &usage, d.arena, &err),
	        err);
	T_EQ_INT(usage.items.n, 0);
	t_daemon_teardown(&d);
}

/* The envelope's lease holds what prepare and commit create; an unknown lease creates
 * nothing. */
static void
test_envelope_lease(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_lease_resource got[8];
	char overlayfs[256];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(lease_create(&d, "job-1", 0, &err), err);
	T_NOERR(create_in(&d, "snapshots.prepare", "job-1", "extract", NULL, NULL, &err), err);
	T_NOERR(commit_in(&d, "job-1", "layer", "extract", &err), err);
	T_NOERR(create_in(&d, "snapshots.view", "job-1", "look", "layer", NULL, &err), err);
	T_EQ_INT(lease_resources(&d, "job-1", got, 8), 3);
	T_EQ_STR(got[0].key, "extract");
	T_EQ_STR(got[1].key, "layer");
	T_EQ_STR(got[2].key, "look");
	T_EQ_STR(got[2].type, "snapshots/overlayfs");

	snprintf(overlayfs, sizeof(overlayfs), "%s/root/snapshotd/overlayfs", d.dir);
	size_t dirs = count_entries(overlayfs);
	T_ERR(create_in(&d, "snapshots.prepare", "nope", "x", NULL, NULL, &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "lease \"nope\": not found");
	/* Leases are per namespace. */
	struct br_snap_prepare_req xr = {.key = "x"};
	struct br_call_opts other = {.ns = "other", .lease = "job-1"};
	struct br_snap_mounts_resp m;
	T_ERR(br_rpc_call(d.client, &other, "snapshots.prepare", &br_snap_prepare_req_schema, &xr,
	                  &br_snap_mounts_resp_schema, &m, d.arena, &err),
	      err, BR_NOT_FOUND);
	T_OK(!snap_exists(&d, "x"));
	T_EQ_INT(count_entries(overlayfs), dirs); /* no directory made, none left behind */
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "y", "layer", NULL, &err), err);
	T_ERR(commit_in(&d, "nope", "y-done", "y", &err), err, BR_NOT_FOUND);
	T_OK(snap_exists(&d, "y") && !snap_exists(&d, "y-done"));
	t_daemon_teardown(&d);
}

/* A collection keeps what a lease holds and every ancestor of it (a three-layer chain held
 * only through an active child), removes the rest, and takes the chain once the lease
 * goes. */
static void
test_gc_chain(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char junk_dir[512];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x1", NULL, NULL, &err), err);
	T_NOERR(commit(&d, NULL, "l1", "x1", &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x2", "l1", NULL, &err), err);
	T_NOERR(commit(&d, NULL, "l2", "x2", &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x3", "l2", NULL, &err), err);
	T_NOERR(commit(&d, NULL, "l3", "x3", &err), err);
	T_NOERR(lease_create(&d, "container-1", 0, &err), err);
	T_NOERR(create_in(&d, "snapshots.prepare", "container-1", "ctr", "l3", NULL, &err), err);
	/* Held by nothing: a scratch snapshot, another layer and a view of it. */
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "scratch", NULL, &m, &err), err);
	snprintf(junk_dir, sizeof(junk_dir), "%s", only_mount(&m)->source);
	write_at(junk_dir, "f", "junk");
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x4", NULL, NULL, &err), err);
	T_NOERR(commit(&d, NULL, "other", "x4", &err), err);
	T_NOERR(create(&d, "snapshots.view", NULL, NULL, "v", "other", NULL, &err), err);

	struct br_gc_result r = collect(&d);
	T_EQ_INT(r.removed, 3);
	T_EQ_INT(r.leases, 0);
	T_OK(snap_exists(&d, "l1") && snap_exists(&d, "l2") && snap_exists(&d, "l3") &&
	     snap_exists(&d, "ctr"));
	T_OK(!snap_exists(&d, "scratch") && !snap_exists(&d, "other") && !snap_exists(&d, "v"));
	T_OK(!exists(junk_dir));
	T_NOERR(key_call(&d, "snapshots.mounts", NULL, "ctr", &br_snap_mounts_resp_schema, &m,
	                 &err),
	        err);
	T_EQ_STR(only_mount(&m)->type, "overlay");
	T_EQ_INT(collect(&d).removed, 0);

	T_NOERR(lease_id_call(&d, "snapshots.leases.delete", "container-1", &err), err);
	r = collect(&d);
	T_EQ_INT(r.removed, 4);
	struct br_snap_list_req lr = {0};
	struct br_snap_list_resp list;
	T_NOERR(br_rpc_call(d.client, NULL, "snapshots.list", &br_snap_list_req_schema, &lr,
	                    &br_snap_list_resp_schema, &list, d.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 0);
	t_daemon_teardown(&d);
}

/* An expired lease holds nothing and is deleted by the next collection, with what it
 * held; orphan directories of every backend go too. */
static void
test_gc_expiry_and_orphans(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char o1[256], o2[256];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(lease_create(&d, "job-2", 300, &err), err);
	T_NOERR(create_in(&d, "snapshots.prepare", "job-2", "partial", NULL, NULL, &err), err);
	struct br_gc_result r = collect(&d);
	T_EQ_INT(r.removed + r.leases, 0);
	usleep(400 * 1000);
	/* Expired is as good as gone, but left for the collection to delete. */
	T_ERR(lease_id_call(&d, "snapshots.leases.delete", "job-2", &err), err, BR_NOT_FOUND);
	r = collect(&d);
	T_EQ_INT(r.leases, 1);
	T_EQ_INT(r.removed, 1);
	T_OK(!snap_exists(&d, "partial"));
	T_ERR(lease_id_call(&d, "snapshots.leases.get", "job-2", &err), err, BR_NOT_FOUND);

	snprintf(o1, sizeof(o1), "%s/root/snapshotd/overlayfs/50", d.dir);
	snprintf(o2, sizeof(o2), "%s/root/snapshotd/native/51", d.dir);
	T_EQ_INT(mkdir(o1, 0700), 0);
	T_EQ_INT(mkdir(o2, 0700), 0);
	write_at(o2, "file", "left by a crash");
	r = collect(&d);
	T_EQ_INT(r.orphans, 2);
	T_OK(!exists(o1) && !exists(o2));
	t_daemon_teardown(&d);
}

/* ---- the reserved key prefix ---- */

/* Send `method` as the front door forwards it (with the caller's "uid"), params packed
 * from `ps`; the reply's error, if any, goes to err. */
static int
front_door_call(struct t_daemon *d, const char *method, const struct br_schema *ps,
                const void *params, br_err *err)
{
	msgpack_sbuffer req, body;
	msgpack_packer pk;
	nng_socket sock;
	nng_msg *reply = NULL;
	msgpack_object params_obj, result;
	br_arena *arena = br_arena_new();

	msgpack_sbuffer_init(&body);
	msgpack_packer_init(&pk, &body, msgpack_sbuffer_write);
	br_msg_encode(&pk, ps, params);
	T_NOERR(br_msg_unpack(body.data, body.size, arena, &params_obj, err), *err);
	struct br_request r = {.v = 1, .method = method, .ns = "default", .params = params_obj};
	msgpack_sbuffer_init(&req);
	br_request_encode_forward(&req, &r, "default", 0, 1000);

	T_EQ_INT(nng_req0_open(&sock), 0);
	T_EQ_INT(nng_dial(sock, d->url, NULL, 0), 0);
	T_EQ_INT(nng_send(sock, req.data, req.size, 0), 0);
	T_EQ_INT(nng_recvmsg(sock, &reply, 0), 0);
	int rc = br_reply_decode(nng_msg_body(reply), nng_msg_len(reply), arena, &result, err);
	nng_msg_free(reply);
	nng_close(sock);
	msgpack_sbuffer_destroy(&req);
	msgpack_sbuffer_destroy(&body);
	br_arena_free(arena);
	return rc;
}

static void
test_reserved_prefix(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;

	t_daemon_setup(&d, "snapshotd");
	struct br_snap_prepare_req pr = {.key = "berth.x"};
	T_ERR(front_door_call(&d, "snapshots.prepare", &br_snap_prepare_req_schema, &pr, &err), err,
	      BR_PERMISSION_DENIED);
	T_EQ_STR(err.msg,
	         "snapshot key \"berth.x\": keys starting with \"berth.\" are reserved for "
	         "Berth's own snapshots");
	T_ERR(front_door_call(&d, "snapshots.view", &br_snap_prepare_req_schema, &pr, &err), err,
	      BR_PERMISSION_DENIED);
	T_OK(!snap_exists(&d, "berth.x"));
	/* Other keys are the front door's to make. */
	pr.key = "berthx";
	T_NOERR(front_door_call(&d, "snapshots.prepare", &br_snap_prepare_req_schema, &pr, &err),
	        err);
	struct br_snap_commit_req cr = {.name = "berth.layer.sha256:1", .key = "berthx"};
	T_ERR(front_door_call(&d, "snapshots.commit", &br_snap_commit_req_schema, &cr, &err), err,
	      BR_PERMISSION_DENIED);
	T_OK(snap_exists(&d, "berthx"));

	/* Daemons calling directly are Berth itself. */
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "berth.extract.1", NULL, NULL, &err),
	        err);
	T_NOERR(commit(&d, NULL, "berth.layer.sha256:1", "berth.extract.1", &err), err);
	/* An operator may remove one through the front door. */
	struct br_snap_key_req kr = {.key = "berth.layer.sha256:1"};
	T_NOERR(front_door_call(&d, "snapshots.remove", &br_snap_key_req_schema, &kr, &err), err);
	T_OK(!snap_exists(&d, "berth.layer.sha256:1"));
	t_daemon_teardown(&d);
}

/* ---- usage and paging ---- */

static struct br_snap_usage_resp
usage(struct t_daemon *d, const char *ns, const char *key)
{
	struct br_snap_usage_req req = {.key = key};
	struct br_call_opts opts = {.ns = ns};
	struct br_snap_usage_resp u;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rpc_call(d->client, &opts, "snapshots.usage", &br_snap_usage_req_schema, &req,
	                    &br_snap_usage_resp_schema, &u, d->arena, &err),
	        err);
	return u;
}

/* Bytes allocated to `n` paths (st_blocks). */
static int64_t
allocated(const char *const *paths, size_t n)
{
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat sb;
		T_EQ_INT(lstat(paths[i], &sb), 0);
		total += (int64_t)sb.st_blocks * 512;
	}
	return total;
}

/* A snapshot's own files; a committed snapshot measured once; totals per namespace and
 * what a collection would free now (a held snapshot's ancestors are not). */
static void
test_usage(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char data[600], small[600];

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x1", NULL, &m, &err), err);
	char fs[512];
	snprintf(fs, sizeof(fs), "%s", only_mount(&m)->source);
	snprintf(data, sizeof(data), "%s/data", fs);
	FILE *fp = fopen(data, "w");
	T_NOT_NULL(fp);
	for (int i = 0; i < 10000; i++)
		fputs("0123456789", fp);
	fclose(fp);
	write_at(fs, "small", "x");
	snprintf(small, sizeof(small), "%s/small", fs);
	const char *paths[] = {fs, data, small};
	int64_t want = allocated(paths, 3);

	struct br_snap_usage_resp u = usage(&d, NULL, "x1");
	T_EQ_INT(u.size, want);
	T_EQ_INT(u.inodes, 3);
	T_OK(u.size >= 100000);
	T_NOERR(commit(&d, NULL, "l1", "x1", &err), err);
	T_EQ_INT(usage(&d, NULL, "l1").size, want);
	/* Measured once and remembered: a file slipped in behind its back is not seen. */
	write_at(fs, "late", "y");
	T_EQ_INT(usage(&d, NULL, "l1").inodes, 3);

	/* A container's snapshot, held, keeps its parent; its own directory is empty. */
	T_NOERR(lease_create(&d, "container-1", 0, &err), err);
	T_NOERR(create_in(&d, "snapshots.prepare", "container-1", "ctr", "l1", NULL, &err), err);
	struct br_snap_usage_resp ctr = usage(&d, NULL, "ctr");
	T_EQ_INT(ctr.inodes, 1);
	struct br_call_opts other = {.ns = "other"};
	struct br_snap_prepare_req jr = {.key = "junk"};
	T_NOERR(br_rpc_call(d.client, &other, "snapshots.prepare", &br_snap_prepare_req_schema, &jr,
	                    &br_snap_mounts_resp_schema, &m, d.arena, &err),
	        err);
	write_at(only_mount(&m)->source, "j", "junk");
	struct br_snap_usage_resp junk = usage(&d, "other", "junk");
	T_EQ_INT(junk.inodes, 2);

	u = usage(&d, NULL, NULL);
	T_EQ_INT(u.snapshots, 3);
	T_EQ_INT(u.size, want + ctr.size + junk.size);
	T_EQ_INT(u.inodes, 3 + 1 + 2);
	T_EQ_INT(u.reclaimable_size, junk.size);
	T_EQ_INT(u.namespaces.n, 2);
	const struct br_snap_ns_usage *ns = u.namespaces.v;
	T_EQ_STR(ns[0].ns, "default");
	T_EQ_INT(ns[0].snapshots, 2);
	T_EQ_INT(ns[0].size, want + ctr.size);
	T_EQ_STR(ns[1].ns, "other");
	T_EQ_INT(ns[1].snapshots, 1);
	T_EQ_INT(ns[1].size, junk.size);
	/* Once the lease goes, all of it is reclaimable. */
	T_NOERR(lease_id_call(&d, "snapshots.leases.delete", "container-1", &err), err);
	u = usage(&d, NULL, NULL);
	T_EQ_INT(u.reclaimable_size, u.size);

	struct br_snap_usage_req missing = {.key = "nothing"};
	T_ERR(br_rpc_call(d.client, NULL, "snapshots.usage", &br_snap_usage_req_schema, &missing,
	                  &br_snap_usage_resp_schema, &u, d.arena, &err),
	      err, BR_NOT_FOUND);
	t_daemon_teardown(&d);
}

static void
test_list_paging(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;

	t_daemon_setup(&d, "snapshotd");
	const char *keys[] = {"u3", "u0", "u4", "u2", "u1"};
	for (size_t i = 0; i < 5; i++)
		T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, keys[i], NULL, NULL, &err),
		        err);
	struct br_snap_list_req lr = {.page = {.size = 2}};
	const char *names[8];
	size_t n = 0, pages = 1;
	for (;; pages++) {
		struct br_snap_list_resp list;
		T_NOERR(br_rpc_call(d.client, NULL, "snapshots.list", &br_snap_list_req_schema, &lr,
		                    &br_snap_list_resp_schema, &list, d.arena, &err),
		        err);
		const struct br_snapshot_info *items = list.items.v;
		for (size_t i = 0; i < list.items.n; i++)
			names[n++] = items[i].name;
		if (list.next_page_token == NULL)
			break;
		T_EQ_STR(list.next_page_token, items[list.items.n - 1].name);
		lr.page.token = list.next_page_token;
	}
	T_EQ_INT(pages, 3);
	T_EQ_INT(n, 5);
	for (size_t i = 0; i < 5; i++) {
		char want[8];
		snprintf(want, sizeof(want), "u%zu", i);
		T_EQ_STR(names[i], want);
	}
	t_daemon_teardown(&d);
}

/* Each snapshot row written or deleted is announced once, in its namespace: prepare and
 * view, commit (under the committed key, naming the active one), remove by the API and by a
 * collection (youngest first), which ends with /gc/run. A request refused changes nothing
 * and announces nothing. */
static void
test_snapshot_events(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char db_path[128];
	struct t_event *ev;
	struct br_event_snapshot_prepare sp;
	struct br_event_snapshot_commit sc;
	struct br_event_snapshot_remove sr;
	struct br_event_gc_run run;

	t_daemon_setup(&d, "snapshotd");
	T_NOERR(lease_create(&d, "keep", 0, &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, NULL, "x1", NULL, NULL, &err), err);
	T_NOERR(commit(&d, NULL, "l1", "x1", &err), err);
	T_NOERR(create_in(&d, "snapshots.prepare", "keep", "ctr", "l1", NULL, &err), err);
	T_NOERR(create(&d, "snapshots.view", NULL, NULL, "v", "l1", NULL, &err), err);
	T_NOERR(key_call(&d, "snapshots.remove", NULL, "v", NULL, NULL, &err), err);
	T_ERR(create(&d, "snapshots.prepare", NULL, NULL, "bad", "nope", NULL, &err), err,
	      BR_NOT_FOUND);
	T_ERR(key_call(&d, "snapshots.remove", NULL, "l1", NULL, NULL, &err), err,
	      BR_FAILED_PRECONDITION);
	T_NOERR(create(&d, "snapshots.prepare", "other", NULL, "scratch", NULL, NULL, &err), err);
	T_NOERR(create(&d, "snapshots.prepare", NULL, "native", "n1", NULL, NULL, &err), err);
	struct br_gc_result r = collect(&d);
	T_EQ_INT(r.removed, 2);

	snprintf(db_path, sizeof(db_path), "%s/root/snapshotd/meta.db", d.dir);
	sqlite3 *db = t_events_open(db_path);
	T_EQ_INT(t_events_read(db, NULL, d.arena, &ev), 11);
	static const char *const want[][3] = {
	        {BR_TOPIC_LEASE_CREATE, "default", "keep"},
	        {BR_TOPIC_SNAPSHOT_PREPARE, "default", "x1"},
	        {BR_TOPIC_SNAPSHOT_COMMIT, "default", "l1"},
	        {BR_TOPIC_SNAPSHOT_PREPARE, "default", "ctr"},
	        {BR_TOPIC_SNAPSHOT_PREPARE, "default", "v"},
	        {BR_TOPIC_SNAPSHOT_REMOVE, "default", "v"},
	        {BR_TOPIC_SNAPSHOT_PREPARE, "other", "scratch"},
	        {BR_TOPIC_SNAPSHOT_PREPARE, "default", "n1"},
	        {BR_TOPIC_SNAPSHOT_REMOVE, "default", "n1"},
	        {BR_TOPIC_SNAPSHOT_REMOVE, "other", "scratch"},
	        {BR_TOPIC_GC_RUN, "default", ""},
	};
	for (size_t i = 0; i < 11; i++) {
		T_EQ_STR(ev[i].topic, want[i][0]);
		T_EQ_STR(ev[i].ns, want[i][1]);
		if (strcmp(want[i][0], BR_TOPIC_SNAPSHOT_PREPARE) == 0) {
			t_event_decode(&ev[i], &br_event_snapshot_prepare_schema, d.arena, &sp);
			T_EQ_STR(sp.key, want[i][2]);
		} else if (strcmp(want[i][0], BR_TOPIC_SNAPSHOT_REMOVE) == 0) {
			t_event_decode(&ev[i], &br_event_snapshot_remove_schema, d.arena, &sr);
			T_EQ_STR(sr.key, want[i][2]);
			T_EQ_STR(sr.snapshotter, i == 8 ? "native" : "overlayfs");
		}
	}
	t_event_decode(&ev[1], &br_event_snapshot_prepare_schema, d.arena, &sp);
	T_NULL(sp.parent);
	T_EQ_STR(sp.kind, "active");
	T_EQ_STR(sp.snapshotter, "overlayfs");
	t_event_decode(&ev[2], &br_event_snapshot_commit_schema, d.arena, &sc);
	T_EQ_STR(sc.key, "l1");
	T_EQ_STR(sc.active, "x1");
	T_EQ_STR(sc.snapshotter, "overlayfs");
	t_event_decode(&ev[3], &br_event_snapshot_prepare_schema, d.arena, &sp);
	T_EQ_STR(sp.parent, "l1");
	t_event_decode(&ev[4], &br_event_snapshot_prepare_schema, d.arena, &sp);
	T_EQ_STR(sp.kind, "view");
	t_event_decode(&ev[7], &br_event_snapshot_prepare_schema, d.arena, &sp);
	T_EQ_STR(sp.snapshotter, "native");
	t_event_decode(&ev[10], &br_event_gc_run_schema, d.arena, &run);
	T_EQ_STR(run.daemon, "snapshotd");
	T_EQ_INT(run.removed, 2);
	T_OK(run.duration_ms >= 0);
	sqlite3_close(db);
	t_daemon_teardown(&d);
}

T_MAIN(T_CASE(test_chain_restart_remove), T_CASE(test_native_over_rpc),
       T_CASE(test_commit_onto_parent), T_CASE(test_leases_over_snapshots),
       T_CASE(test_envelope_lease), T_CASE(test_gc_chain), T_CASE(test_gc_expiry_and_orphans),
       T_CASE(test_reserved_prefix), T_CASE(test_usage), T_CASE(test_list_paging),
       T_CASE(test_snapshot_events))
