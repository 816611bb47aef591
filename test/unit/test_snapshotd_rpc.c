/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-snapshotd as a process: the real binary ($BERTH_BUILD/berth-snapshotd, BERTH_BUILD
 * defaulting to "build") on a private temporary root, driven with br_rpc_call. Covers a parent
 * chain and its mounts over the wire, namespaces, removal refused with children, the native
 * backend's copy on a worker, a kill -9 and restart with the records intact and an orphan
 * directory cleaned, and a clean stop on SIGTERM.
 */
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

#include "common/msg.h"
#include "common/proto/snapshots.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"
#include "test/unit/t_daemon.h"

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

T_MAIN(T_CASE(test_chain_restart_remove), T_CASE(test_native_over_rpc))
