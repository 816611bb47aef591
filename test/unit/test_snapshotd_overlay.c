/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot store without RPC: parent chains and their exact mount specs, commit, stat and
 * list per namespace, removal refused while children exist, the lowerdir length limit,
 * recovery after a crash (orphan directories, rows without directories), a real overlay mount
 * of a three-level chain with whiteouts and an opaque directory, and the native backend.
 * Then, with a loop, collection: a snapshot being created is kept with its parents; rows go
 * before directories, and what a removal left is an orphan for the next collection. And list
 * paging over 10,000 snapshots. (Leases, usage and the rest of collection: test_snapshotd_rpc.)
 *
 * Every case runs in a child of its own mount namespace, watched by a parent that removes the
 * case's temporary directory afterwards, so a failed case leaves neither a mount nor files
 * behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/db.h"
#include "common/fsutil.h"
#include "common/msg.h"
#include "snapshotd/gc.h"
#include "snapshotd/store.h"
#include "test/unit/t.h"

struct fixture {
	char dir[64];
	char store_dir[128];
	struct snapshotd_store *s;
	br_arena *arena;
};

/* Fork once more: the child runs the case; this process waits, removes `dir` whatever
 * happened to the child (a failed check exits at once) and exits with the child's status. */
static void
guard_dir(const char *dir)
{
	int status = 0;
	char cmd[128];

	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0) {
		alarm(T_TIMEOUT_S - 5);
		return;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		status = 1 << 8;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static void
setup_with(struct fixture *f, const char *snapshotter)
{
	br_err err = BR_ERR_INIT;

	snprintf(f->dir, sizeof(f->dir), "/tmp/berth-test-snap-XXXXXX");
	T_NOT_NULL(mkdtemp(f->dir));
	guard_dir(f->dir);
	/* Mounts made by the case die with its private mount namespace. */
	T_EQ_INT(unshare(CLONE_NEWNS), 0);
	T_EQ_INT(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(f->store_dir, sizeof(f->store_dir), "%s/snapshotd", f->dir);
	T_NOERR(snapshotd_store_open(f->store_dir, snapshotter, NULL, &f->s, &err), err);
	f->arena = br_arena_new();
}

static void
setup(struct fixture *f)
{
	setup_with(f, NULL);
}

static void
reopen(struct fixture *f, struct snapshotd_reconcile_stats *stats)
{
	br_err err = BR_ERR_INIT;

	snapshotd_store_free(f->s);
	f->s = NULL;
	T_NOERR(snapshotd_store_open(f->store_dir, NULL, stats, &f->s, &err), err);
}

static void
teardown(struct fixture *f)
{
	snapshotd_store_free(f->s);
	br_arena_free(f->arena);
}

static int
prepare(struct fixture *f, const char *ns, const char *key, const char *parent,
        struct br_snap_mounts_resp *ret, br_err *err)
{
	struct br_snap_prepare_req req = {.key = key, .parent = parent};
	struct br_snap_mounts_resp ignored;
	return snapshotd_create(f->s, ns, &req, SNAPSHOTD_ACTIVE, NULL, f->arena,
	                        ret ? ret : &ignored, err);
}

static int
view(struct fixture *f, const char *ns, const char *key, const char *parent,
     struct br_snap_mounts_resp *ret, br_err *err)
{
	struct br_snap_prepare_req req = {.key = key, .parent = parent};
	struct br_snap_mounts_resp ignored;
	return snapshotd_create(f->s, ns, &req, SNAPSHOTD_VIEW, NULL, f->arena,
	                        ret ? ret : &ignored, err);
}

static int
commit(struct fixture *f, const char *ns, const char *name, const char *key, br_err *err)
{
	struct br_snap_commit_req req = {.name = name, .key = key};
	return snapshotd_commit(f->s, ns, &req, NULL, err);
}

static int
remove_snap(struct fixture *f, const char *ns, const char *key, br_err *err)
{
	struct br_snap_key_req req = {.key = key};
	return snapshotd_remove(f->s, ns, &req, err);
}

static int
stat_snap(struct fixture *f, const char *ns, const char *key, struct br_snapshot_info *ret,
          br_err *err)
{
	struct br_snap_key_req req = {.key = key};
	return snapshotd_stat(f->s, ns, &req, f->arena, ret, err);
}

static const struct br_mount *
only_mount(const struct br_snap_mounts_resp *m)
{
	T_EQ_INT(m->mounts.n, 1);
	return (const struct br_mount *)m->mounts.v;
}

/* The directory of a snapshot ("<root>/<id>"), read off the mounts of a fresh active
 * snapshot: its bind source or its upperdir. */
static char *
snap_dir(const struct br_snap_mounts_resp *m)
{
	const struct br_mount *mt = only_mount(m);
	const char *fs = NULL;

	if (strcmp(mt->type, "bind") == 0) {
		fs = mt->source;
	} else {
		for (size_t i = 0; i < mt->options.n; i++)
			if (strncmp(mt->options.v[i], "upperdir=", 9) == 0)
				fs = mt->options.v[i] + 9;
	}
	T_NOT_NULL(fs);
	size_t n = strlen(fs);
	T_OK(n > 3 && strcmp(fs + n - 3, "/fs") == 0);
	return strndup(fs, n - 3);
}

/* prepare key on parent, commit it as name; returns the snapshot's directory. */
static char *
layer(struct fixture *f, const char *name, const char *parent)
{
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char key[300];

	snprintf(key, sizeof(key), "extract-%s", name);
	T_NOERR(prepare(f, "default", key, parent, &m, &err), err);
	char *dir = snap_dir(&m);
	T_NOERR(commit(f, "default", name, key, &err), err);
	return dir;
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

static char *
read_at(const char *dir, const char *rel)
{
	static char buf[256];
	char p[1024];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	FILE *fp = fopen(p, "r");
	if (fp == NULL)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static bool
exists_at(const char *dir, const char *rel)
{
	char p[1024];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &sb) == 0;
}

static void
test_no_parent_is_bind(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char want[256];

	setup(&f);
	T_NOERR(prepare(&f, "default", "base", NULL, &m, &err), err);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	snprintf(want, sizeof(want), "%s/snapshotd/overlayfs/1/fs", f.dir);
	T_EQ_STR(mt->source, want);
	T_EQ_INT(mt->options.n, 2);
	T_EQ_STR(mt->options.v[0], "rbind");
	T_EQ_STR(mt->options.v[1], "rw");
	T_OK(exists_at(f.store_dir, "overlayfs/1/fs"));
	T_OK(exists_at(f.store_dir, "overlayfs/1/work"));
	/* An empty parent string means no parent. */
	T_NOERR(prepare(&f, "default", "base2", "", &m, &err), err);
	T_EQ_STR(only_mount(&m)->type, "bind");
	/* A view without a parent is its own empty directory, read-only. */
	T_NOERR(view(&f, "default", "empty-view", NULL, &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	T_EQ_STR(mt->options.v[1], "ro");
	teardown(&f);
}

static void
test_chain_mount_specs(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char want[1024];

	setup(&f);
	char *d1 = layer(&f, "l1", NULL);
	char *d2 = layer(&f, "l2", "l1");
	char *d3 = layer(&f, "l3", "l2");

	T_NOERR(prepare(&f, "default", "ctr", "l3", &m, &err), err);
	char *dc = snap_dir(&m);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "overlay");
	T_EQ_STR(mt->source, "overlay");
	T_EQ_INT(mt->options.n, 3);
	snprintf(want, sizeof(want), "lowerdir=%s/fs:%s/fs:%s/fs", d3, d2, d1);
	T_EQ_STR(mt->options.v[0], want);
	snprintf(want, sizeof(want), "upperdir=%s/fs", dc);
	T_EQ_STR(mt->options.v[1], want);
	snprintf(want, sizeof(want), "workdir=%s/work", dc);
	T_EQ_STR(mt->options.v[2], want);

	/* snapshots.mounts answers the same. */
	struct br_snap_key_req kr = {.key = "ctr"};
	struct br_snap_mounts_resp again;
	T_NOERR(snapshotd_mounts(f.s, "default", &kr, f.arena, &again, &err), err);
	T_EQ_STR(only_mount(&again)->options.v[0], only_mount(&m)->options.v[0]);
	T_EQ_STR(only_mount(&again)->options.v[2], only_mount(&m)->options.v[2]);

	/* One parent, active: overlay with a single lowerdir. */
	T_NOERR(prepare(&f, "default", "on-l1", "l1", &m, &err), err);
	snprintf(want, sizeof(want), "lowerdir=%s/fs", d1);
	T_EQ_STR(only_mount(&m)->options.v[0], want);

	/* Views: one parent is a read-only bind of it, more is a lowerdir-only overlay. */
	T_NOERR(view(&f, "default", "v1", "l1", &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	snprintf(want, sizeof(want), "%s/fs", d1);
	T_EQ_STR(mt->source, want);
	T_EQ_INT(mt->options.n, 2);
	T_EQ_STR(mt->options.v[0], "rbind");
	T_EQ_STR(mt->options.v[1], "ro");
	T_NOERR(view(&f, "default", "v3", "l3", &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->type, "overlay");
	T_EQ_INT(mt->options.n, 1);
	snprintf(want, sizeof(want), "lowerdir=%s/fs:%s/fs:%s/fs", d3, d2, d1);
	T_EQ_STR(mt->options.v[0], want);

	/* A committed snapshot has no mounts of its own. */
	kr.key = "l2";
	T_ERR(snapshotd_mounts(f.s, "default", &kr, f.arena, &again, &err), err,
	      BR_FAILED_PRECONDITION);
	free(d1);
	free(d2);
	free(d3);
	free(dc);
	teardown(&f);
}

static void
test_stat_list_namespaces(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_snapshot_info info;
	const char *keys[] = {"berth.io/origin"};
	const char *values[] = {"test"};

	setup(&f);
	free(layer(&f, "base", NULL));
	struct br_snap_prepare_req req = {
	        .key = "work", .parent = "base", .labels = {keys, values, 1}};
	struct br_snap_mounts_resp m;
	T_NOERR(snapshotd_create(f.s, "default", &req, SNAPSHOTD_ACTIVE, NULL, f.arena, &m, &err),
	        err);

	T_NOERR(stat_snap(&f, "default", "base", &info, &err), err);
	T_EQ_STR(info.name, "base");
	T_EQ_STR(info.kind, "committed");
	T_NULL(info.parent);
	T_NOERR(stat_snap(&f, "default", "work", &info, &err), err);
	T_EQ_STR(info.kind, "active");
	T_EQ_STR(info.parent, "base");
	T_EQ_INT(info.labels.n, 1);
	T_EQ_STR(info.labels.keys[0], "berth.io/origin");
	T_EQ_STR(info.labels.values[0], "test");
	T_OK(info.created_at > 0 && info.updated_at >= info.created_at);

	/* Another namespace sees none of it and can reuse the names. */
	T_ERR(stat_snap(&f, "other", "base", &info, &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "snapshot \"base\": not found");
	T_ERR(prepare(&f, "other", "x", "base", NULL, &err), err, BR_NOT_FOUND);
	T_NOERR(prepare(&f, "other", "base", NULL, NULL, &err), err);

	struct br_snap_list_req lr = {0};
	struct br_snap_list_resp list;
	T_NOERR(snapshotd_list(f.s, "default", &lr, f.arena, &list, &err), err);
	T_EQ_INT(list.items.n, 2);
	struct br_snapshot_info *items = list.items.v;
	T_EQ_STR(items[0].name, "base");
	T_EQ_STR(items[1].name, "work");
	T_NOERR(snapshotd_list(f.s, "other", &lr, f.arena, &list, &err), err);
	T_EQ_INT(list.items.n, 1);
	items = list.items.v;
	T_EQ_STR(items[0].kind, "active");

	/* Commit keeps the labels when it gives none; a commit's labels replace them. */
	T_NOERR(commit(&f, "default", "work-done", "work", &err), err);
	T_NOERR(stat_snap(&f, "default", "work-done", &info, &err), err);
	T_EQ_STR(info.kind, "committed");
	T_EQ_INT(info.labels.n, 1);
	T_ERR(stat_snap(&f, "default", "work", &info, &err), err, BR_NOT_FOUND);
	teardown(&f);
}

static void
test_errors(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;

	setup(&f);
	free(layer(&f, "base", NULL));
	T_NOERR(prepare(&f, "default", "act", "base", NULL, &err), err);
	T_NOERR(view(&f, "default", "vw", "base", NULL, &err), err);

	T_ERR(prepare(&f, "default", "act", NULL, NULL, &err), err, BR_ALREADY_EXISTS);
	T_EQ_STR(err.msg, "snapshot \"act\": already exists");
	T_ERR(prepare(&f, "default", "x", "missing", NULL, &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "snapshot \"x\": parent \"missing\": not found");
	T_ERR(prepare(&f, "default", "x", "act", NULL, &err), err, BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "snapshot \"x\": parent \"act\" is active, not committed");
	T_ERR(prepare(&f, "default", "a/b", NULL, NULL, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(commit(&f, "default", "c/d", "act", &err), err, BR_INVALID_ARGUMENT);

	struct br_snap_prepare_req req = {.snapshotter = "zfs", .key = "z"};
	struct br_snap_mounts_resp m;
	T_ERR(snapshotd_create(f.s, "default", &req, SNAPSHOTD_ACTIVE, NULL, f.arena, &m, &err),
	      err, BR_NOT_IMPLEMENTED);

	T_ERR(commit(&f, "default", "n", "vw", &err), err, BR_FAILED_PRECONDITION);
	T_ERR(commit(&f, "default", "n", "base", &err), err, BR_FAILED_PRECONDITION);
	T_ERR(commit(&f, "default", "n", "nothing", &err), err, BR_NOT_FOUND);
	T_ERR(commit(&f, "default", "base", "act", &err), err, BR_ALREADY_EXISTS);
	/* A failed commit changed nothing. */
	struct br_snapshot_info info;
	T_NOERR(stat_snap(&f, "default", "act", &info, &err), err);
	T_EQ_STR(info.kind, "active");
	T_ERR(remove_snap(&f, "default", "nothing", &err), err, BR_NOT_FOUND);
	teardown(&f);
}

static void
test_remove_with_children(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;

	setup(&f);
	char *d1 = layer(&f, "l1", NULL);
	T_NOERR(prepare(&f, "default", "a", "l1", NULL, &err), err);
	T_NOERR(view(&f, "default", "b", "l1", NULL, &err), err);
	T_ERR(remove_snap(&f, "default", "l1", &err), err, BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "snapshot \"l1\" has 2 children");
	T_NOERR(remove_snap(&f, "default", "a", &err), err);
	T_ERR(remove_snap(&f, "default", "l1", &err), err, BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "snapshot \"l1\" has 1 child");
	T_NOERR(remove_snap(&f, "default", "b", &err), err);
	T_OK(exists_at(d1, "fs"));
	T_NOERR(remove_snap(&f, "default", "l1", &err), err);
	T_OK(!exists_at(d1, ""));
	struct br_snapshot_info info;
	T_ERR(stat_snap(&f, "default", "l1", &info, &err), err, BR_NOT_FOUND);
	free(d1);
	teardown(&f);
}

/* Overlay options must fit in one page: a chain too deep is refused before anything is
 * created, naming its depth. */
static void
test_lowerdir_limit(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char name[32], parent[32] = "";
	int depth;

	setup(&f);
	for (depth = 0; depth < 200; depth++) {
		snprintf(name, sizeof(name), "layer-%d", depth);
		struct br_snap_mounts_resp m;
		int rc = prepare(&f, "default", "top", parent[0] ? parent : NULL, &m, &err);
		if (rc < 0)
			break;
		T_NOERR(commit(&f, "default", name, "top", &err), err);
		snprintf(parent, sizeof(parent), "%s", name);
	}
	T_OK(depth < 200);
	T_EQ_INT(err.code, BR_RESOURCE_EXHAUSTED);
	char want[64];
	snprintf(want, sizeof(want), "a chain of %d parent layers", depth);
	T_OK(strstr(err.msg, want) != NULL);
	T_OK(strstr(err.msg, "snapshot \"top\": overlay mount options") == err.msg);
	/* Nothing was recorded or created for the refused snapshot. */
	struct br_snapshot_info info;
	T_ERR(stat_snap(&f, "default", "top", &info, &err), err, BR_NOT_FOUND);
	char rel[64];
	snprintf(rel, sizeof(rel), "overlayfs/%d", depth + 1);
	T_OK(!exists_at(f.store_dir, rel));
	/* The limit counts every option: a view of the same chain has no upperdir or workdir
	 * and still fits. */
	T_NOERR(view(&f, "default", "v", parent, NULL, &err), err);
	teardown(&f);
}

static void
test_reconcile(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct snapshotd_reconcile_stats stats;
	struct br_snap_mounts_resp m;
	char cmd[512], p[256];

	setup(&f);
	char *d1 = layer(&f, "l1", NULL);
	T_NOERR(prepare(&f, "default", "active-gone", "l1", &m, &err), err);
	char *gone = snap_dir(&m);
	T_NOERR(prepare(&f, "default", "active-partial", "l1", &m, &err), err);
	char *partial = snap_dir(&m);
	T_NOERR(prepare(&f, "default", "kept", "l1", &m, &err), err);
	char *kept = snap_dir(&m);
	snapshotd_store_free(f.s);
	f.s = NULL;

	/* A row whose directory vanished, one whose directory is incomplete (a crash between
	 * mkdir and fs), an orphan directory and one with a mount inside. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && rm -rf '%s/fs'", gone, partial);
	T_EQ_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/overlayfs/999/fs/x' '%s/overlayfs/1000/fs/mnt'",
	         f.store_dir, f.store_dir);
	T_EQ_INT(system(cmd), 0);
	snprintf(p, sizeof(p), "%s/overlayfs/1000/fs/mnt", f.store_dir);
	T_EQ_INT(mount("tmpfs", p, "tmpfs", 0, NULL), 0);

	T_NOERR(snapshotd_store_open(f.store_dir, NULL, &stats, &f.s, &err), err);
	T_EQ_INT(stats.rows_removed, 2);
	T_EQ_INT(stats.dirs_removed, 2); /* 999 and the rest of active-partial */
	T_EQ_INT(stats.dirs_failed, 1);
	T_EQ_INT(stats.first_failure.code, BR_FAILED_PRECONDITION);
	T_OK(!exists_at(f.store_dir, "overlayfs/999"));
	T_OK(exists_at(f.store_dir, "overlayfs/1000/fs/mnt"));
	T_OK(!exists_at(partial, ""));
	T_OK(exists_at(kept, "fs"));
	T_OK(exists_at(d1, "fs"));
	struct br_snapshot_info info;
	T_ERR(stat_snap(&f, "default", "active-gone", &info, &err), err, BR_NOT_FOUND);
	T_ERR(stat_snap(&f, "default", "active-partial", &info, &err), err, BR_NOT_FOUND);
	T_NOERR(stat_snap(&f, "default", "kept", &info, &err), err);

	/* Once unmounted, the next start removes it. */
	T_EQ_INT(umount(p), 0);
	reopen(&f, &stats);
	T_EQ_INT(stats.dirs_removed, 1);
	T_EQ_INT(stats.dirs_failed, 0);
	T_EQ_INT(stats.rows_removed, 0);
	T_OK(!exists_at(f.store_dir, "overlayfs/1000"));
	/* Ids are never reused: a new snapshot does not land in an old directory. */
	T_NOERR(prepare(&f, "default", "new", NULL, &m, &err), err);
	char *fresh = snap_dir(&m);
	T_OK(strcmp(fresh, gone) != 0 && strcmp(fresh, partial) != 0);
	free(d1);
	free(gone);
	free(partial);
	free(kept);
	free(fresh);
	teardown(&f);
}

/* Join a mount's options as mount(2) takes them. */
static char *
join_options(const struct br_mount *mt)
{
	static char buf[8192];
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < mt->options.n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? "," : "",
		                        mt->options.v[i]);
	return buf;
}

static void
do_mount(const struct br_mount *mt, const char *target, bool ro)
{
	if (strcmp(mt->type, "bind") == 0) {
		T_EQ_INT(mount(mt->source, target, NULL, MS_BIND | MS_REC, NULL), 0);
		if (ro)
			T_EQ_INT(mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL),
			         0);
		return;
	}
	if (mount(mt->source, target, mt->type, ro ? MS_RDONLY : 0, join_options(mt)) != 0)
		T_FAIL_("mount overlay on %s: %s (options %s)", target, strerror(errno),
		        join_options(mt));
}

static void
test_overlay_mount_three_levels(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char target[128], p[512];

	setup(&f);
	snprintf(target, sizeof(target), "%s/mnt", f.dir);
	T_EQ_INT(mkdir(target, 0755), 0);

	/* Level 1: written straight into the bind source, as a layer apply does. */
	T_NOERR(prepare(&f, "default", "x1", NULL, &m, &err), err);
	char *d1 = snap_dir(&m);
	snprintf(p, sizeof(p), "%s/fs/dir", d1);
	T_EQ_INT(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/fs", d1);
	write_at(p, "base", "from layer 1\n");
	write_at(p, "keep", "1\n");
	write_at(p, "doomed", "delete me\n");
	write_at(p, "dir/inner", "hidden by an opaque dir\n");
	T_NOERR(commit(&f, "default", "l1", "x1", &err), err);

	/* Level 2: written into the upperdir, with a whiteout and an opaque directory. */
	T_NOERR(prepare(&f, "default", "x2", "l1", &m, &err), err);
	char *d2 = snap_dir(&m);
	snprintf(p, sizeof(p), "%s/fs", d2);
	write_at(p, "keep", "2\n");
	write_at(p, "new", "from layer 2\n");
	snprintf(p, sizeof(p), "%s/fs/doomed", d2);
	T_EQ_INT(mknod(p, S_IFCHR | 0000, makedev(0, 0)), 0);
	snprintf(p, sizeof(p), "%s/fs/dir", d2);
	T_EQ_INT(mkdir(p, 0755), 0);
	T_EQ_INT(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
	write_at(p, "other", "only this\n");
	T_NOERR(commit(&f, "default", "l2", "x2", &err), err);

	/* Level 3: the container's rw layer. */
	T_NOERR(prepare(&f, "default", "ctr", "l2", &m, &err), err);
	char *d3 = snap_dir(&m);
	do_mount(only_mount(&m), target, false);
	T_EQ_STR(read_at(target, "base"), "from layer 1\n");
	T_EQ_STR(read_at(target, "keep"), "2\n");
	T_EQ_STR(read_at(target, "new"), "from layer 2\n");
	T_OK(!exists_at(target, "doomed"));
	T_OK(!exists_at(target, "dir/inner"));
	T_EQ_STR(read_at(target, "dir/other"), "only this\n");
	write_at(target, "written", "by the container\n");
	T_EQ_INT(umount(target), 0);
	snprintf(p, sizeof(p), "%s/fs", d3);
	T_EQ_STR(read_at(p, "written"), "by the container\n");
	snprintf(p, sizeof(p), "%s/fs", d2);
	T_OK(!exists_at(p, "written"));

	/* A view of the two committed layers is read-only. */
	T_NOERR(view(&f, "default", "look", "l2", &m, &err), err);
	T_EQ_STR(only_mount(&m)->type, "overlay");
	do_mount(only_mount(&m), target, true);
	T_EQ_STR(read_at(target, "keep"), "2\n");
	T_OK(!exists_at(target, "doomed"));
	snprintf(p, sizeof(p), "%s/nope", target);
	T_OK(open(p, O_WRONLY | O_CREAT, 0644) < 0 && errno == EROFS);
	T_EQ_INT(umount(target), 0);

	/* And a view of the first layer alone is a read-only bind. */
	T_NOERR(view(&f, "default", "look1", "l1", &m, &err), err);
	do_mount(only_mount(&m), target, true);
	T_EQ_STR(read_at(target, "keep"), "1\n");
	T_EQ_INT(umount(target), 0);
	free(d1);
	free(d2);
	free(d3);
	teardown(&f);
}

static void
test_native_backend(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;
	char p[1024];

	setup_with(&f, "native");
	T_NOERR(prepare(&f, "default", "n1", NULL, &m, &err), err);
	const struct br_mount *mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	T_OK(strstr(mt->source, "/snapshotd/native/") != NULL);
	T_EQ_STR(mt->options.v[1], "rw");
	write_at(mt->source, "file", "native 1\n");
	snprintf(p, sizeof(p), "%s/link", mt->source);
	T_EQ_INT(symlink("file", p), 0);
	T_NOERR(commit(&f, "default", "base", "n1", &err), err);

	T_NOERR(prepare(&f, "default", "n2", "base", &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->type, "bind");
	T_EQ_STR(read_at(mt->source, "file"), "native 1\n");
	char target[64] = "";
	snprintf(p, sizeof(p), "%s/link", mt->source);
	T_EQ_INT(readlink(p, target, sizeof(target) - 1), 4);
	write_at(mt->source, "file", "changed\n");
	T_NOERR(view(&f, "default", "nv", "base", &m, &err), err);
	mt = only_mount(&m);
	T_EQ_STR(mt->options.v[1], "ro");
	T_EQ_STR(read_at(mt->source, "file"), "native 1\n");

	/* An explicit snapshotter name picks the backend whatever the default. */
	struct br_snap_prepare_req req = {.snapshotter = "overlayfs", .key = "o1"};
	T_NOERR(snapshotd_create(f.s, "default", &req, SNAPSHOTD_ACTIVE, NULL, f.arena, &m, &err),
	        err);
	T_OK(strstr(only_mount(&m)->source, "/snapshotd/overlayfs/") != NULL);
	/* Keys are per snapshotter. */
	struct br_snapshot_info info;
	struct br_snap_key_req kr = {.snapshotter = "overlayfs", .key = "base"};
	T_ERR(snapshotd_stat(f.s, "default", &kr, f.arena, &info, &err), err, BR_NOT_FOUND);
	teardown(&f);
}

/* ---- with a loop: leases and collection ---- */

struct gc_fixture {
	struct fixture f;
	uv_loop_t uv;
	struct snapshotd_gc *gc;
};

static void
gc_setup_with(struct gc_fixture *g, const char *snapshotter)
{
	br_err err = BR_ERR_INIT;

	setup_with(&g->f, snapshotter);
	T_EQ_INT(uv_loop_init(&g->uv), 0);
	/* No automatic collection: the cases ask for each one. */
	g->gc = snapshotd_gc_new(g->f.s, &g->uv, 3600 * 1000, 0);
	T_NOERR(snapshotd_store_open_leases(g->f.s, &g->uv, snapshotd_gc_released, g->gc, &err),
	        err);
}

static void
gc_teardown(struct gc_fixture *g)
{
	snapshotd_gc_free(g->gc);
	teardown(&g->f);
	uv_run(&g->uv, UV_RUN_DEFAULT);
	T_EQ_INT(uv_loop_close(&g->uv), 0);
}

struct gc_wait {
	bool done;
	struct br_gc_result result;
	br_err err;
};

static void
gc_done(void *arg, const struct br_gc_result *result, const br_err *err)
{
	struct gc_wait *w = arg;

	w->done = true;
	if (err != NULL)
		br_err_copy(&w->err, err);
	else
		w->result = *result;
}

/* One whole collection. */
static struct br_gc_result
collect(struct gc_fixture *g)
{
	struct gc_wait w = {.err = BR_ERR_INIT};

	br_gc_now(snapshotd_gc_scheduler(g->gc), gc_done, &w);
	while (!w.done)
		uv_run(&g->uv, UV_RUN_ONCE);
	T_NOERR(w.err.code == BR_OK ? 0 : -1, w.err);
	T_OK(!snapshotd_gc_running(g->gc));
	return w.result;
}

static void
lease_create(struct gc_fixture *g, const char *id)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(br_db_exec(g->f.s->db, "BEGIN", &err), err);
	char *sql = sqlite3_mprintf("INSERT INTO leases (namespace, id, created_at) VALUES"
	                            " ('default', %Q, 1)",
	                            id);
	T_NOERR(br_db_exec(g->f.s->db, sql, &err), err);
	sqlite3_free(sql);
	T_NOERR(br_db_exec(g->f.s->db, "COMMIT", &err), err);
}

static int64_t
count_rows(struct fixture *f, const char *sql)
{
	sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(br_db_prepare(f->s->db, sql, &st, &err), err);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* A snapshot whose directory is being made (a native copy) is never collected, nor are its
 * parents; once made, and held by nothing, both go. */
static void
test_gc_keeps_busy(void)
{
	struct gc_fixture g;
	br_err err = BR_ERR_INIT;
	struct br_snap_mounts_resp m;

	gc_setup_with(&g, "native");
	T_NOERR(prepare(&g.f, "default", "n1", NULL, &m, &err), err);
	write_at(only_mount(&m)->source, "file", "parent\n");
	T_NOERR(commit(&g.f, "default", "base", "n1", &err), err);
	T_NOERR(prepare(&g.f, "default", "junk", NULL, NULL, &err), err);

	struct br_snap_prepare_req req = {.key = "n2", .parent = "base"};
	struct snapshotd_create *c = NULL;
	T_NOERR(snapshotd_create_begin(g.f.s, "default", &req, SNAPSHOTD_ACTIVE, NULL, g.f.arena,
	                               &c, &err),
	        err);
	struct br_gc_result r = collect(&g);
	T_EQ_INT(r.removed, 1); /* junk */
	T_EQ_INT(r.orphans, 0);
	T_OK(exists_at(g.f.store_dir, "native/1/fs"));
	snapshotd_create_work(c);
	T_NOERR(snapshotd_create_end(g.f.s, c, &m, &err), err);
	T_EQ_STR(read_at(only_mount(&m)->source, "file"), "parent\n");

	r = collect(&g);
	T_EQ_INT(r.removed, 2);
	T_OK(!exists_at(g.f.store_dir, "native/1"));
	T_OK(!exists_at(g.f.store_dir, "native/3"));
	T_EQ_INT(count_rows(&g.f, "SELECT COUNT(*) FROM snapshots"), 0);
	gc_teardown(&g);
}

/* Rows go before directories. A directory that could not be removed (a mount inside), or
 * whose removal never happened (a crash after the row went), is an orphan that the next
 * collection removes; an orphan's id is never given to a new snapshot. */
static void
test_gc_rows_before_dirs(void)
{
	struct gc_fixture g;
	br_err err = BR_ERR_INIT;
	struct br_snapshot_info info;
	struct br_snap_mounts_resp m;
	char p[256];

	gc_setup_with(&g, NULL);
	T_NOERR(prepare(&g.f, "default", "a", NULL, &m, &err), err);
	snprintf(p, sizeof(p), "%s/overlayfs/1/fs/mnt", g.f.store_dir);
	T_EQ_INT(mkdir(p, 0755), 0);
	T_EQ_INT(mount("tmpfs", p, "tmpfs", 0, NULL), 0);
	struct br_gc_result r = collect(&g);
	T_EQ_INT(r.removed, 1);
	T_EQ_INT(r.orphans, 0);
	T_ERR(stat_snap(&g.f, "default", "a", &info, &err), err, BR_NOT_FOUND);
	T_OK(exists_at(g.f.store_dir, "overlayfs/1/fs/mnt"));
	T_EQ_INT(umount(p), 0);
	r = collect(&g);
	T_EQ_INT(r.removed, 0);
	T_EQ_INT(r.orphans, 1);
	T_OK(!exists_at(g.f.store_dir, "overlayfs/1"));

	/* A crash between the row's deletion and the directory's. */
	lease_create(&g, "keep");
	T_NOERR(snapshotd_create(g.f.s, "default", &(struct br_snap_prepare_req){.key = "b"},
	                         SNAPSHOTD_ACTIVE, "keep", g.f.arena, &m, &err),
	        err);
	T_NOERR(br_db_exec(g.f.s->db, "DELETE FROM snapshots WHERE key = 'b'", &err), err);
	T_OK(exists_at(g.f.store_dir, "overlayfs/2/fs"));
	r = collect(&g);
	T_EQ_INT(r.orphans, 1);
	T_OK(!exists_at(g.f.store_dir, "overlayfs/2"));

	/* An orphan beyond the last id: the sequence moves past it. */
	snprintf(p, sizeof(p), "%s/overlayfs/999/fs", g.f.store_dir);
	T_NOERR(br_mkdir_p(p, 0700, &err), err);
	snprintf(p, sizeof(p), "%s/overlayfs/not-an-id", g.f.store_dir);
	T_EQ_INT(mkdir(p, 0700), 0);
	r = collect(&g);
	T_EQ_INT(r.orphans, 2);
	T_NOERR(snapshotd_create(g.f.s, "default", &(struct br_snap_prepare_req){.key = "c"},
	                         SNAPSHOTD_ACTIVE, "keep", g.f.arena, &m, &err),
	        err);
	snprintf(p, sizeof(p), "%s/overlayfs/1000/fs", g.f.store_dir);
	T_EQ_STR(only_mount(&m)->source, p);
	r = collect(&g);
	T_EQ_INT(r.removed + r.orphans, 0);
	gc_teardown(&g);
}

/* ---- paging ---- */

static void
list_all(struct fixture *f, uint32_t page_size, char ***ret, size_t *ret_n,
         void (*between)(struct fixture *f, int page))
{
	br_err err = BR_ERR_INIT;
	struct br_snap_list_req req = {.page = {.size = page_size}};
	char **names = NULL;
	size_t n = 0;

	for (int page = 0;; page++) {
		br_arena *arena = br_arena_new();
		struct br_snap_list_resp resp;
		T_NOERR(snapshotd_list(f->s, "default", &req, arena, &resp, &err), err);
		T_OK(resp.items.n > 0 || resp.next_page_token == NULL);
		T_OK(resp.items.n <= (page_size ? page_size : BR_PAGE_DEFAULT));
		names = realloc(names, (n + resp.items.n) * sizeof(*names));
		const struct br_snapshot_info *items = resp.items.v;
		for (size_t i = 0; i < resp.items.n; i++)
			names[n++] = strdup(items[i].name);
		free((char *)req.page.token);
		req.page.token = resp.next_page_token ? strdup(resp.next_page_token) : NULL;
		br_arena_free(arena);
		if (req.page.token == NULL)
			break;
		if (between != NULL)
			between(f, page);
	}
	*ret = names;
	*ret_n = n;
}

/* Between pages, remove some snapshots and add others on both sides of the cursor. */
static void
churn(struct fixture *f, int page)
{
	br_err err = BR_ERR_INIT;
	char key[32];

	snprintf(key, sizeof(key), "key-%05d", page * 500 + 7); /* already listed */
	T_NOERR(remove_snap(f, "default", key, &err), err);
	snprintf(key, sizeof(key), "key-%05d", 9999 - page); /* not listed yet */
	T_NOERR(remove_snap(f, "default", key, &err), err);
	snprintf(key, sizeof(key), "key-%05d+", page * 500 + 3); /* behind the cursor */
	T_NOERR(prepare(f, "default", key, NULL, NULL, &err), err);
}

static void
test_list_paging(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	char key[32];
	char **names = NULL;
	size_t n = 0;

	setup(&f);
	T_NOERR(br_db_exec(f.s->db, "PRAGMA synchronous = OFF", &err), err);
	/* Created out of order: the listing is by name. */
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "key-%05d", (i * 7919) % 10000);
		T_NOERR(prepare(&f, "default", key, NULL, NULL, &err), err);
	}
	T_NOERR(prepare(&f, "other", "key-x", NULL, NULL, &err), err);

	list_all(&f, BR_PAGE_MAX, &names, &n, NULL);
	T_EQ_INT(n, 10000);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "key-%05zu", i);
		T_EQ_STR(names[i], key);
		free(names[i]);
	}
	free(names);

	/* With changes between pages: no name twice, none that was there throughout missed. */
	list_all(&f, BR_PAGE_MAX, &names, &n, churn);
	for (size_t i = 1; i < n; i++)
		T_OK(strcmp(names[i - 1], names[i]) < 0);
	size_t j = 0;
	for (int i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "key-%05d", i);
		bool removed = (i % 500 == 7 && i / 500 < 20) || i >= 9980;
		while (j < n && strcmp(names[j], key) < 0)
			j++;
		if (!removed) {
			T_OK(j < n);
			T_EQ_STR(names[j], key);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);

	/* The default page size. */
	struct br_snap_list_req req = {0};
	struct br_snap_list_resp resp;
	T_NOERR(snapshotd_list(f.s, "default", &req, f.arena, &resp, &err), err);
	T_EQ_INT(resp.items.n, BR_PAGE_DEFAULT);
	T_NOT_NULL(resp.next_page_token);
	teardown(&f);
}

/* A page ends early once its labels reach BR_PAGE_LABELS_MAX. */
static void
test_list_page_labels(void)
{
	struct fixture f;
	br_err err = BR_ERR_INIT;
	const char *keys[BR_LABELS_MAX], *values[BR_LABELS_MAX];
	char key[32];

	setup(&f);
	T_NOERR(br_db_exec(f.s->db, "PRAGMA synchronous = OFF", &err), err);
	for (int i = 0; i < BR_LABELS_MAX; i++) {
		keys[i] = br_arena_printf(f.arena, "label-%03d", i);
		values[i] = "v";
	}
	for (int i = 0; i < 70; i++) {
		snprintf(key, sizeof(key), "s-%02d", i);
		struct br_snap_prepare_req req = {.key = key,
		                                  .labels = {keys, values, BR_LABELS_MAX}};
		struct br_snap_mounts_resp m;
		T_NOERR(snapshotd_create(f.s, "default", &req, SNAPSHOTD_ACTIVE, NULL, f.arena, &m,
		                         &err),
		        err);
	}
	struct br_snap_list_req req = {.page = {.size = BR_PAGE_MAX}};
	struct br_snap_list_resp resp;
	T_NOERR(snapshotd_list(f.s, "default", &req, f.arena, &resp, &err), err);
	T_EQ_INT(resp.items.n, BR_PAGE_LABELS_MAX / BR_LABELS_MAX);
	T_EQ_STR(resp.next_page_token, "s-63");
	req.page.token = resp.next_page_token;
	T_NOERR(snapshotd_list(f.s, "default", &req, f.arena, &resp, &err), err);
	T_EQ_INT(resp.items.n, 6);
	T_NULL(resp.next_page_token);
	teardown(&f);
}

T_MAIN(T_CASE(test_no_parent_is_bind), T_CASE(test_chain_mount_specs),
       T_CASE(test_stat_list_namespaces), T_CASE(test_errors), T_CASE(test_remove_with_children),
       T_CASE(test_lowerdir_limit), T_CASE(test_reconcile), T_CASE(test_overlay_mount_three_levels),
       T_CASE(test_native_backend), T_CASE(test_gc_keeps_busy), T_CASE(test_gc_rows_before_dirs),
       T_CASE(test_list_paging), T_CASE(test_list_page_labels))
