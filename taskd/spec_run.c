/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The run options' part of the OCI spec (docs/tasks.md, "Run options"): the capability set
 * after --cap-add/--cap-drop/--privileged (docker's rules: ALL in drop empties the set, an
 * added capability wins over a dropped one, privileged takes every capability the kernel
 * has), the user's mounts (bind, volume, tmpfs), devices (--device, and every host device
 * with --privileged), resource limits (memory, CPU quota, pids) and rlimits (never above the
 * host's hard limit: the runtime could not raise it and would fail with EPERM). Checks first
 * (taskd_run_prepare), generation after, so that nothing is half-written on an error. Reads
 * the host's /dev and /proc/sys/kernel/cap_last_cap; any thread.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/xalloc.h"
#include "taskd/spec.h"

#define HOST_DEVICES_MAX 4096
#define CPU_PERIOD_US 100000

static const char *const all_caps[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
};
#define NCAPS ((int)(sizeof(all_caps) / sizeof(all_caps[0])))

static const struct {
	const char *name;
	const char *oci;
	int resource;
} rlimit_names[] = {
        {"as", "RLIMIT_AS", RLIMIT_AS},
        {"core", "RLIMIT_CORE", RLIMIT_CORE},
        {"cpu", "RLIMIT_CPU", RLIMIT_CPU},
        {"data", "RLIMIT_DATA", RLIMIT_DATA},
        {"fsize", "RLIMIT_FSIZE", RLIMIT_FSIZE},
        {"locks", "RLIMIT_LOCKS", RLIMIT_LOCKS},
        {"memlock", "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
        {"msgqueue", "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
        {"nice", "RLIMIT_NICE", RLIMIT_NICE},
        {"nofile", "RLIMIT_NOFILE", RLIMIT_NOFILE},
        {"nproc", "RLIMIT_NPROC", RLIMIT_NPROC},
        {"rss", "RLIMIT_RSS", RLIMIT_RSS},
        {"rtprio", "RLIMIT_RTPRIO", RLIMIT_RTPRIO},
        {"rttime", "RLIMIT_RTTIME", RLIMIT_RTTIME},
        {"sigpending", "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
        {"stack", "RLIMIT_STACK", RLIMIT_STACK},
};

/* The highest capability the kernel knows; all of ours when unreadable. */
static int
cap_last(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last;

	if (f == NULL || fscanf(f, "%d", &last) != 1 || last < 0 || last >= NCAPS)
		return NCAPS - 1;
	return last;
}

/* The capabilities taskd itself may pass on (its bounding set, CapBnd in /proc/self/status):
 * a runtime asked for more fails with EPERM, so --privileged and --cap-add ALL mean "all of
 * these", as under podman. All bits when unreadable. */
static uint64_t
host_bounding(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long mask;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapBnd: %llx", &mask) == 1)
			return mask;
	return UINT64_MAX;
}

/* The index of a capability named with or without CAP_, in any case; -2 for ALL, -1 for
 * an unknown name. */
static int
cap_index(const char *name)
{
	char up[64];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof(up) - 1; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[i] = '\0';
	if (strcmp(up, "ALL") == 0)
		return -2;
	const char *bare = strncmp(up, "CAP_", 4) == 0 ? up + 4 : up;
	for (int c = 0; c < NCAPS; c++)
		if (strcmp(all_caps[c] + 4, bare) == 0)
			return c;
	return -1;
}

static int
caps_from(const struct br_strlist *l, const char *option, bool set[NCAPS], bool *ret_all,
          br_err *err)
{
	*ret_all = false;
	for (size_t i = 0; i < l->n; i++) {
		int c = cap_index(l->v[i]);
		if (c == -1)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s \"%.64s\": unknown capability", option, l->v[i]);
		if (c == -2)
			*ret_all = true;
		else
			set[c] = true;
	}
	return 0;
}

static int
prepare_caps(const struct taskd_spec_opts *o, const struct br_container_create_req *r,
             struct taskd_run_spec *rs, br_err *err)
{
	bool add[NCAPS] = {false}, drop[NCAPS] = {false}, on[NCAPS] = {false};
	bool add_all = false, drop_all = false;
	int last = cap_last();
	uint64_t bounding = host_bounding();
	size_t n = 0;

	if (r != NULL && (caps_from(&r->cap_add, "--cap-add", add, &add_all, err) < 0 ||
	                  caps_from(&r->cap_drop, "--cap-drop", drop, &drop_all, err) < 0))
		return -1;
	if (r != NULL && r->privileged) {
		for (int c = 0; c < NCAPS; c++)
			on[c] = (bounding >> c) & 1;
	} else {
		for (size_t i = 0; taskd_default_caps[i] != NULL; i++)
			on[cap_index(taskd_default_caps[i])] = !drop_all;
		for (int c = 0; c < NCAPS; c++) {
			if (add_all)
				on[c] = !drop[c] && ((bounding >> c) & 1);
			else if (drop[c])
				on[c] = false;
			if (add[c])
				on[c] = true;
		}
	}
	/* containerd's order for the default ones, then the rest by number. */
	rs->caps = xcalloc(NCAPS + 1, sizeof(char *));
	for (size_t i = 0; taskd_default_caps[i] != NULL; i++) {
		int c = cap_index(taskd_default_caps[i]);
		if (on[c] && c <= last)
			rs->caps[n++] = all_caps[c];
		on[c] = false;
	}
	for (int c = 0; c <= last; c++)
		if (on[c])
			rs->caps[n++] = all_caps[c];
	return 0;
}

static void
add_device(struct taskd_run_spec *rs, const char *path, const struct stat *st, const char *access)
{
	struct taskd_run_device *d;

	rs->devices = xrealloc(rs->devices, (rs->ndevices + 1) * sizeof(*rs->devices));
	d = &rs->devices[rs->ndevices++];
	d->path = xstrdup(path);
	d->type = S_ISBLK(st->st_mode) ? "b" : "c";
	d->major = major(st->st_rdev);
	d->minor = minor(st->st_rdev);
	d->mode = st->st_mode & 07777;
	d->uid = st->st_uid;
	d->gid = st->st_gid;
	d->access = access;
}

/* Every device node under `dir` (the host's /dev), as docker's --privileged gives them;
 * the pseudo-terminals, shared memory and message queues of the host stay out. */
static void
add_host_devices(struct taskd_run_spec *rs, const char *dir, int depth)
{
	_cleanup_closedir_ DIR *d = opendir(dir);
	struct dirent *e;

	while (d != NULL && depth < 4 && (e = readdir(d)) != NULL &&
	       rs->ndevices < HOST_DEVICES_MAX) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		_cleanup_free_ char *path = xasprintf("%s/%s", dir, e->d_name);
		if (strcmp(path, "/dev/pts") == 0 || strcmp(path, "/dev/shm") == 0 ||
		    strcmp(path, "/dev/mqueue") == 0 || strcmp(path, "/dev/console") == 0 ||
		    strcmp(path, "/dev/ptmx") == 0 || lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			add_host_devices(rs, path, depth + 1);
		else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
			add_device(rs, path, &st, "rwm");
	}
}

static int
prepare_devices(const struct br_container_create_req *r, struct taskd_run_spec *rs, br_err *err)
{
	for (size_t i = 0; i < r->devices.n; i++) {
		const struct br_device_opt *d = (const struct br_device_opt *)r->devices.v + i;
		const char *ctr = d->container_path && d->container_path[0] ? d->container_path
		                                                            : d->host_path;
		const char *perms = d->permissions && d->permissions[0] ? d->permissions : "rwm";
		struct stat st;
		if (d->host_path[0] != '/' || !br_path_is_clean_abs(ctr))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "device %s:%s: paths must be absolute and clean",
			                  d->host_path, ctr);
		if (strspn(perms, "rwm") != strlen(perms))
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "device %s: permissions \"%s\": expected letters of \"rwm\"",
			        d->host_path, perms);
		if (stat(d->host_path, &st) < 0)
			return br_err_errno(err, BR_INVALID_ARGUMENT, errno, "device %s",
			                    d->host_path);
		if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
			return br_err_set(err, BR_INVALID_ARGUMENT, "device %s: not a device node",
			                  d->host_path);
		add_device(rs, ctr, &st, perms);
	}
	if (r->privileged)
		add_host_devices(rs, "/dev", 0);
	return 0;
}

static int
prepare_mounts(const struct br_container_create_req *r, br_err *err)
{
	for (size_t i = 0; i < r->mounts.n; i++) {
		const struct br_mount_opt *m = (const struct br_mount_opt *)r->mounts.v + i;
		bool tmpfs = strcmp(m->type, "tmpfs") == 0;
		struct stat st;
		if (!br_path_is_clean_abs(m->target))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "mount target \"%.200s\": must be absolute and clean (no "
			                  "\".\", \"..\" or empty components), and not \"/\"",
			                  m->target);
		for (size_t j = 0; j < i; j++)
			if (strcmp(((const struct br_mount_opt *)r->mounts.v)[j].target,
			           m->target) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "duplicate mount point %s", m->target);
		if (tmpfs) {
			if (m->tmpfs_size < 0 || m->tmpfs_mode > 07777)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "tmpfs mount %s: invalid size or mode",
				                  m->target);
			continue;
		}
		if (strcmp(m->type, "bind") != 0 && strcmp(m->type, "volume") != 0)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "mount %s: type \"%.16s\": expected bind, volume or tmpfs",
			        m->target, m->type);
		if (m->source == NULL || m->source[0] != '/')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "bind mount %s: the source must be an absolute host path",
			                  m->target);
		if (stat(m->source, &st) < 0)
			return br_err_errno(err, BR_INVALID_ARGUMENT, errno,
			                    "bind mount %s: source path \"%s\"", m->target,
			                    m->source);
	}
	return 0;
}

static int
prepare_rlimits(const struct br_container_create_req *r, struct taskd_run_spec *rs, br_err *err)
{
	for (size_t i = 0; i < r->ulimits.n; i++) {
		const struct br_ulimit_opt *u = (const struct br_ulimit_opt *)r->ulimits.v + i;
		size_t k = 0, nk = sizeof(rlimit_names) / sizeof(rlimit_names[0]);
		struct rlimit host;
		while (k < nk && strcmp(rlimit_names[k].name, u->name) != 0)
			k++;
		if (k == nk)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "--ulimit %.16s: unknown limit (expected one of as, core, "
			        "cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, "
			        "nproc, rss, rtprio, rttime, sigpending, stack)",
			        u->name);
		uint64_t soft = u->soft < 0 ? UINT64_MAX : (uint64_t)u->soft;
		uint64_t hard = u->hard < 0 ? UINT64_MAX : (uint64_t)u->hard;
		if (soft > hard)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "--ulimit %s: the soft limit is above the hard one",
			                  u->name);
		if (getrlimit(rlimit_names[k].resource, &host) == 0 &&
		    host.rlim_max != RLIM_INFINITY && hard > (uint64_t)host.rlim_max)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "--ulimit %s: the hard limit %s is above the host's (%" PRIu64
			        "), which the runtime cannot raise",
			        u->name, u->hard < 0 ? "unlimited" : "requested",
			        (uint64_t)host.rlim_max);
		for (size_t j = 0; j < rs->nrlimits; j++)
			if (strcmp(rs->rlimits[j].type, rlimit_names[k].oci) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "--ulimit %s given twice", u->name);
		rs->rlimits = xrealloc(rs->rlimits, (rs->nrlimits + 1) * sizeof(*rs->rlimits));
		rs->rlimits[rs->nrlimits++] =
		        (struct taskd_run_rlimit){rlimit_names[k].oci, soft, hard};
	}
	return 0;
}

static int
check_resources(const struct br_container_create_req *r, br_err *err)
{
	if (r->memory < 0 || (r->memory > 0 && r->memory < TASKD_MEMORY_MIN))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "memory limit %" PRId64 ": must be at least %d bytes", r->memory,
		                  TASKD_MEMORY_MIN);
	if (r->memory_swap < -1 || (r->memory_swap != 0 && r->memory == 0) ||
	    (r->memory_swap > 0 && r->memory_swap < r->memory))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "memory+swap limit %" PRId64 ": needs a memory limit and must be "
		                  "at least that (or -1: unlimited)",
		                  r->memory_swap);
	if (r->nano_cpus < 0 || r->nano_cpus > 1000000LL * 1000000000LL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "cpus %" PRId64 ": out of range",
		                  r->nano_cpus);
	if (r->nano_cpus > 0 && r->nano_cpus * CPU_PERIOD_US / 1000000000LL < 1000)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "cpus: at least 0.01 CPUs (a quota of 1 ms per 100 ms)");
	if (r->pids_limit < -1)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "pids limit %" PRId64 ": expected a positive number, 0 or -1",
		                  r->pids_limit);
	return 0;
}

bool
taskd_host_swap_accounting(const char *path)
{
	_cleanup_free_ char *memsw = xasprintf("%s/memory.memsw.limit_in_bytes",
	                                       path != NULL ? path : "/sys/fs/cgroup/memory");

	if (path == NULL && taskd_host_cgroup_unified(NULL))
		return true;
	return access(memsw, F_OK) == 0;
}

int
taskd_run_prepare(const struct taskd_spec_opts *o, struct taskd_run_spec *ret, br_err *err)
{
	const struct br_container_create_req *r = o->run;
	struct taskd_run_spec rs = {0};

	if (prepare_caps(o, r, &rs, err) < 0)
		goto fail;
	if (r != NULL && (prepare_mounts(r, err) < 0 || check_resources(r, err) < 0 ||
	                  prepare_devices(r, &rs, err) < 0 || prepare_rlimits(r, &rs, err) < 0))
		goto fail;
	*ret = rs;
	return 0;
fail:
	taskd_run_spec_fini(&rs);
	return -1;
}

void
taskd_run_spec_fini(struct taskd_run_spec *rs)
{
	free(rs->caps);
	for (size_t i = 0; i < rs->ndevices; i++)
		free(rs->devices[i].path);
	free(rs->devices);
	free(rs->rlimits);
	memset(rs, 0, sizeof(*rs));
}

/* ------------------------------------------------------------------ generation */

static void
gen_uint(yajl_gen g, const char *key, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64, v);
	br_json_gen_str(g, key);
	yajl_gen_number(g, num, (size_t)n);
}

void
taskd_run_gen_rlimits(yajl_gen g, const struct taskd_run_spec *rs, uint64_t default_nofile)
{
	bool have_nofile = false;

	br_json_gen_str(g, "rlimits");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < rs->nrlimits; i++) {
		have_nofile |= strcmp(rs->rlimits[i].type, "RLIMIT_NOFILE") == 0;
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", rs->rlimits[i].type);
		gen_uint(g, "hard", rs->rlimits[i].hard);
		gen_uint(g, "soft", rs->rlimits[i].soft);
		yajl_gen_map_close(g);
	}
	if (!have_nofile) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", "RLIMIT_NOFILE");
		gen_uint(g, "hard", default_nofile);
		gen_uint(g, "soft", default_nofile);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

void
taskd_run_gen_mounts(yajl_gen g, const struct taskd_spec_opts *o)
{
	const struct br_container_create_req *r = o->run;

	if (o->init_path != NULL && o->init_path[0] != '\0') {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "destination", TASKD_INIT_TARGET);
		br_json_gen_kv_str(g, "type", "bind");
		br_json_gen_kv_str(g, "source", o->init_path);
		br_json_gen_str(g, "options");
		yajl_gen_array_open(g);
		br_json_gen_str(g, "bind");
		br_json_gen_str(g, "ro");
		br_json_gen_str(g, "nosuid");
		br_json_gen_str(g, "nodev");
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	for (size_t i = 0; r != NULL && i < r->mounts.n; i++) {
		const struct br_mount_opt *m = (const struct br_mount_opt *)r->mounts.v + i;
		bool tmpfs = strcmp(m->type, "tmpfs") == 0;
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "destination", m->target);
		br_json_gen_kv_str(g, "type", tmpfs ? "tmpfs" : "bind");
		br_json_gen_kv_str(g, "source", tmpfs ? "tmpfs" : m->source);
		br_json_gen_str(g, "options");
		yajl_gen_array_open(g);
		if (tmpfs) {
			char opt[64];
			br_json_gen_str(g, "nosuid");
			br_json_gen_str(g, "nodev");
			br_json_gen_str(g, "noexec");
			if (m->tmpfs_size > 0) {
				snprintf(opt, sizeof(opt), "size=%" PRId64, m->tmpfs_size);
				br_json_gen_str(g, opt);
			}
			snprintf(opt, sizeof(opt), "mode=%o",
			         m->tmpfs_mode ? m->tmpfs_mode : 01777);
			br_json_gen_str(g, opt);
		} else {
			br_json_gen_str(g, "rbind");
			br_json_gen_str(g, "rprivate");
		}
		br_json_gen_str(g, m->readonly ? "ro" : "rw");
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
}

void
taskd_run_gen_devices(yajl_gen g, const struct taskd_run_spec *rs)
{
	br_json_gen_str(g, "devices");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < rs->ndevices; i++) {
		const struct taskd_run_device *d = &rs->devices[i];
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "path", d->path);
		br_json_gen_kv_str(g, "type", d->type);
		br_json_gen_kv_int(g, "major", d->major);
		br_json_gen_kv_int(g, "minor", d->minor);
		br_json_gen_kv_int(g, "fileMode", d->mode);
		br_json_gen_kv_int(g, "uid", d->uid);
		br_json_gen_kv_int(g, "gid", d->gid);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

void
taskd_run_gen_resources(yajl_gen g, const struct taskd_spec_opts *o,
                        const struct taskd_run_spec *rs)
{
	const struct br_container_create_req *r = o->run;
	bool privileged = r != NULL && r->privileged;

	br_json_gen_str(g, "resources");
	yajl_gen_map_open(g);
	br_json_gen_str(g, "devices");
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	br_json_gen_kv_bool(g, "allow", privileged);
	br_json_gen_kv_str(g, "access", "rwm");
	yajl_gen_map_close(g);
	for (size_t i = 0; !privileged && i < rs->ndevices; i++) {
		yajl_gen_map_open(g);
		br_json_gen_kv_bool(g, "allow", true);
		br_json_gen_kv_str(g, "type", rs->devices[i].type);
		br_json_gen_kv_int(g, "major", rs->devices[i].major);
		br_json_gen_kv_int(g, "minor", rs->devices[i].minor);
		br_json_gen_kv_str(g, "access", rs->devices[i].access);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (r != NULL && r->memory > 0) {
		br_json_gen_str(g, "memory");
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "limit", r->memory);
		if (r->memory_swap != 0)
			br_json_gen_kv_int(g, "swap", r->memory_swap);
		else if (o->swap_accounting && r->memory <= INT64_MAX / 2)
			br_json_gen_kv_int(g, "swap", 2 * r->memory);
		yajl_gen_map_close(g);
	}
	if (r != NULL && r->nano_cpus > 0) {
		br_json_gen_str(g, "cpu");
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "quota", r->nano_cpus * CPU_PERIOD_US / 1000000000LL);
		br_json_gen_kv_int(g, "period", CPU_PERIOD_US);
		yajl_gen_map_close(g);
	}
	if (r != NULL && r->pids_limit != 0) {
		br_json_gen_str(g, "pids");
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "limit", r->pids_limit);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}
