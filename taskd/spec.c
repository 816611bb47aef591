/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime spec of a container, generated with yajl_gen. The defaults follow runc's
 * `runc spec` and containerd's default Linux spec: pid, ipc, uts and mount namespaces plus the
 * network namespace netd made (none in host mode); no new privileges; containerd's default
 * capability set; /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys (read-only) and the
 * cgroup filesystem; runc's masked and read-only paths; RLIMIT_NOFILE 1024 (never above the
 * host's hard limit, which the runtime could not raise); the default seccomp profile
 * (taskd/seccomp.c), a private cgroup namespace on a cgroup v2 host and AppArmor's default
 * profile where it is loaded, as docker and containerd do. The process comes from the image's
 * Entrypoint/Cmd/Env/WorkingDir/User with the create options on top.
 */
#include "taskd/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/seccomp.h"
#include "common/xalloc.h"
#include "taskd/seccomp.h"

#define ETC_FILE_MAX (1u << 20)
#define HOSTNAME_MAX 63
#define UID_MAX_VALID 4294967294u /* (uid_t)-1 means "unchanged" to the kernel */
#define CGROUP2_MAGIC 0x63677270
#define APPARMOR_PROFILES_MAX 65536 /* lines of the loaded-profile list we look through */

const char *const taskd_default_caps[] = {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
        NULL,
};

static const char *const masked_paths[] = {
        "/proc/acpi",
        "/proc/asound",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        NULL,
};

static const char *const readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* ------------------------------------------------------------------ users */

/* Parse a decimal id; false if `s` is not one or is out of range. */
static bool
parse_id(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > UID_MAX_VALID)
		return false;
	*ret = (uint32_t)v;
	return true;
}

static const char *
file_kind(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFIFO:
		return "a FIFO";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFSOCK:
		return "a socket";
	case S_IFDIR:
		return "a directory";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "not a regular file";
	}
}

/*
 * Read etc/<name> of the rootfs; NULL content when it does not exist. The image is untrusted:
 * the lookup stays inside the rootfs (RESOLVE_IN_ROOT, and no symlink as the last component),
 * the file is first opened as a path only and opened for reading only once it is known to be
 * a regular file, so a FIFO cannot block taskd and a device is never opened.
 */
static int
read_etc(int rootfs_fd, const char *name, char **ret, br_err *err)
{
	_cleanup_close_ int path_fd = -1;
	_cleanup_close_ int fd = -1;
	char path[32], proc_path[64];
	struct stat st;

	snprintf(path, sizeof(path), "etc/%s", name);
	path_fd = br_openat_in_root(rootfs_fd, path, O_PATH | O_NOFOLLOW, 0, err);
	if (path_fd < 0) {
		if (err != NULL && err->code == BR_NOT_FOUND) {
			br_err_clear(err);
			*ret = NULL;
			return 0;
		}
		return br_err_wrap(err, "read the image's /%s", path);
	}
	if (fstat(path_fd, &st) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "read the image's /%s", path);
	if (!S_ISREG(st.st_mode))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "the image's /%s is %s, not a regular file; refusing to read it",
		                  path, file_kind(st.st_mode));
	if (st.st_size > (off_t)ETC_FILE_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "the image's /%s is larger than %u bytes", path, ETC_FILE_MAX);
	/* Reopening through /proc reads the very inode checked above. */
	snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", path_fd);
	fd = open(proc_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "read the image's /%s", path);
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= ETC_FILE_MAX)
				return br_err_set(err, BR_RESOURCE_EXHAUSTED,
				                  "the image's /%s is larger than %u bytes", path,
				                  ETC_FILE_MAX);
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "read the image's /%s", path);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = br_steal_ptr(&buf);
	return 0;
}

/*
 * Find an entry of a passwd- or group-style file whose name (field 0) equals `name`, or, with
 * name == NULL, whose id (field 2) equals `id`. On a match, *ret_id gets field 2 and, for
 * passwd, *ret_gid field 3.
 */
static bool
find_entry(char *content, const char *name, uint32_t id, uint32_t *ret_id, uint32_t *ret_gid)
{
	char *save = NULL;

	for (char *line = strtok_r(content, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *fields[4] = {NULL};
		char *p = line;
		for (int i = 0; i < 4 && p != NULL; i++) {
			fields[i] = p;
			p = strchr(p, ':');
			if (p != NULL)
				*p++ = '\0';
		}
		uint32_t fid, fgid = 0;
		if (fields[2] == NULL || !parse_id(fields[2], &fid))
			continue;
		if (ret_gid != NULL && (fields[3] == NULL || !parse_id(fields[3], &fgid)))
			continue;
		if (name != NULL ? strcmp(fields[0], name) != 0 : fid != id)
			continue;
		*ret_id = fid;
		if (ret_gid != NULL)
			*ret_gid = fgid;
		return true;
	}
	return false;
}

int
taskd_spec_resolve_user(const char *user, int rootfs_fd, uint32_t *ret_uid, uint32_t *ret_gid,
                        br_err *err)
{
	_cleanup_free_ char *copy = xstrdup(user ? user : "");
	_cleanup_free_ char *passwd = NULL;
	_cleanup_free_ char *group = NULL;
	char *user_part = copy, *group_part = strchr(copy, ':');
	uint32_t uid = 0, gid = 0, pw_gid = 0;
	bool have_gid = false;

	if (copy[0] == '\0')
		goto done;
	if (group_part != NULL)
		*group_part++ = '\0';
	if (user_part[0] == '\0' || (group_part != NULL && group_part[0] == '\0'))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "user \"%s\": expected uid[:gid] or name[:group]", user);

	if (rootfs_fd >= 0 && read_etc(rootfs_fd, "passwd", &passwd, err) < 0)
		return -1;
	if (parse_id(user_part, &uid)) {
		/* A numeric uid takes its primary group from passwd when listed there. */
		_cleanup_free_ char *scratch = passwd ? xstrdup(passwd) : NULL;
		uint32_t found;
		if (scratch != NULL && find_entry(scratch, NULL, uid, &found, &pw_gid))
			have_gid = true;
	} else {
		if (rootfs_fd < 0 || passwd == NULL ||
		    !find_entry(passwd, user_part, 0, &uid, &pw_gid))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "user \"%s\": no such user in the image's /etc/passwd",
			                  user_part);
		have_gid = true;
	}
	gid = have_gid ? pw_gid : 0;
	if (group_part != NULL) {
		if (!parse_id(group_part, &gid)) {
			if (rootfs_fd >= 0 && read_etc(rootfs_fd, "group", &group, err) < 0)
				return -1;
			if (group == NULL || !find_entry(group, group_part, 0, &gid, NULL))
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "group \"%s\": no such group in the image's "
				                  "/etc/group",
				                  group_part);
		}
	}
done:
	*ret_uid = uid;
	*ret_gid = gid;
	return 0;
}

/* ------------------------------------------------------------------ host and names */

int
taskd_spec_check_hostname(const char *hostname, br_err *err)
{
	size_t len = strlen(hostname), label = 0;

	if (len == 0 || len > HOSTNAME_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid hostname \"%.80s\": must be 1 to %d characters",
		                  hostname, HOSTNAME_MAX);
	for (size_t i = 0; i <= len; i++) {
		char c = hostname[i];
		if (c == '.' || c == '\0') {
			if (label == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid hostname \"%s\": empty label", hostname);
			if (hostname[i - 1] == '-')
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid hostname \"%s\": a label ends with '-'",
				                  hostname);
			label = 0;
			continue;
		}
		bool alnum =
		        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && c != '-')
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid hostname \"%s\": only letters, digits, '-' and '.' "
			        "are allowed",
			        hostname);
		if (label == 0 && c == '-')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid hostname \"%s\": a label starts with '-'",
			                  hostname);
		label++;
	}
	return 0;
}

bool
taskd_host_cgroup_unified(const char *path)
{
	struct statfs fs;

	if (statfs(path != NULL ? path : "/sys/fs/cgroup", &fs) < 0)
		return false;
	return (unsigned long)fs.f_type == CGROUP2_MAGIC;
}

/* First line of `path`, without its newline; false when unreadable. */
static bool
read_line(const char *path, char *buf, size_t size)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");

	if (f == NULL || fgets(buf, (int)size, f) == NULL)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

const char *
taskd_host_apparmor_profile(const char *sys_root)
{
	static const char *const wanted[] = {"berth-default", "docker-default"};
	const char *root = sys_root != NULL ? sys_root : "/sys";
	char path[512], line[512];
	bool found[2] = {false, false};

	snprintf(path, sizeof(path), "%s/module/apparmor/parameters/enabled", root);
	if (!read_line(path, line, sizeof(line)) || strcmp(line, "Y") != 0)
		return NULL;
	/* One "name (mode)" line per loaded profile. */
	snprintf(path, sizeof(path), "%s/kernel/security/apparmor/profiles", root);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	for (int n = 0; f != NULL && n < APPARMOR_PROFILES_MAX && fgets(line, sizeof(line), f);
	     n++) {
		for (int i = 0; i < 2; i++) {
			size_t l = strlen(wanted[i]);
			if (strncmp(line, wanted[i], l) == 0 && line[l] == ' ')
				found[i] = true;
		}
	}
	return found[0] ? wanted[0] : found[1] ? wanted[1] : NULL;
}

/* ------------------------------------------------------------------ process */

/* The env: image entries, then request entries, a later key replacing an earlier one in
 * place; PATH added when nobody set it. */
static int
merge_env(const struct taskd_spec_opts *o, char ***ret, br_err *err)
{
	size_t cap = 1 + (o->image ? o->image->env.n : 0) + o->env.n + 1;
	char **env = xcalloc(cap, sizeof(char *));
	size_t n = 0;
	bool have_path = false;
	const struct br_strlist *lists[2] = {o->image ? &o->image->env : NULL, &o->env};

	for (int l = 0; l < 2; l++) {
		if (lists[l] == NULL)
			continue;
		for (size_t i = 0; i < lists[l]->n; i++) {
			const char *kv = lists[l]->v[i];
			const char *eq = strchr(kv, '=');
			if (eq == NULL || eq == kv) {
				br_strv_free(env);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s env \"%.64s\": expected KEY=VALUE",
				                  l == 0 ? "image" : "container", kv);
			}
			size_t klen = (size_t)(eq - kv) + 1;
			if (klen == 5 && strncmp(kv, "PATH=", 5) == 0)
				have_path = true;
			size_t j = 0;
			while (j < n && strncmp(env[j], kv, klen) != 0)
				j++;
			if (j < n) {
				free(env[j]);
				env[j] = xstrdup(kv);
			} else {
				env[n++] = xstrdup(kv);
			}
		}
	}
	if (!have_path)
		env[n++] = xstrdup(TASKD_DEFAULT_PATH);
	env[n] = NULL;
	*ret = env;
	return 0;
}

static char **
strv_append(char **v, size_t *n, const struct br_strlist *l)
{
	v = xrealloc(v, (*n + l->n + 1) * sizeof(char *));
	for (size_t i = 0; i < l->n; i++)
		v[(*n)++] = xstrdup(l->v[i]);
	v[*n] = NULL;
	return v;
}

/* Entrypoint + Cmd, with docker's rules for overriding either. */
static int
build_command(const struct taskd_spec_opts *o, char ***ret, br_err *err)
{
	static const struct br_strlist none = {0};
	/* --entrypoint "": no entrypoint at all (and, as with any entrypoint, no image Cmd). */
	bool clear_ep = o->entrypoint.n == 1 && o->entrypoint.v[0][0] == '\0';
	const struct br_strlist *ep = clear_ep              ? &none
	                              : o->entrypoint.n > 0 ? &o->entrypoint
	                              : o->image            ? &o->image->entrypoint
	                                                    : &none;
	const struct br_strlist *cmd = o->args.n > 0                             ? &o->args
	                               : o->entrypoint.n > 0 || o->image == NULL ? &none
	                                                                         : &o->image->cmd;
	char **v = NULL;
	size_t n = 0;

	if (o->init_path != NULL && o->init_path[0] != '\0') {
		static const char *init_args[] = {TASKD_INIT_TARGET, "--"};
		static const struct br_strlist init = {init_args, 2};
		v = strv_append(v, &n, &init);
	}
	v = strv_append(v, &n, ep);
	v = strv_append(v, &n, cmd);
	size_t first = o->init_path != NULL && o->init_path[0] != '\0' ? 2 : 0;
	if (n == first || v[first][0] == '\0') {
		br_strv_free(v);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "no command: the image has neither Entrypoint nor Cmd, and none "
		                  "was given");
	}
	*ret = v;
	return 0;
}

/* ------------------------------------------------------------------ generation */

static void
gen_strv(yajl_gen g, const char *key, const char *const *v)
{
	br_json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; v != NULL && v[i] != NULL; i++)
		br_json_gen_str(g, v[i]);
	yajl_gen_array_close(g);
}

static void
gen_mount(yajl_gen g, const char *dest, const char *type, const char *source,
          const char *const *options)
{
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "destination", dest);
	br_json_gen_kv_str(g, "type", type);
	br_json_gen_kv_str(g, "source", source);
	if (options != NULL)
		gen_strv(g, "options", options);
	yajl_gen_map_close(g);
}

static void
gen_mounts(yajl_gen g, const struct taskd_spec_opts *o)
{
	static const char *const proc_opts[] = {"nosuid", "noexec", "nodev", NULL};
	static const char *const dev_opts[] = {"nosuid", "strictatime", "mode=755", "size=65536k",
	                                       NULL};
	static const char *const pts_opts[] = {
	        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5", NULL};
	static const char *const shm_opts[] = {"nosuid",    "noexec",      "nodev",
	                                       "mode=1777", "size=65536k", NULL};
	static const char *const sys_opts[] = {"nosuid", "noexec", "nodev", "ro", NULL};
	static const char *const cg_opts[] = {"nosuid", "noexec", "nodev", "relatime", "ro", NULL};
	/* --privileged: /sys and the cgroup tree writable, as docker has them. */
	static const char *const sys_rw[] = {"nosuid", "noexec", "nodev", "rw", NULL};
	static const char *const cg_rw[] = {"nosuid", "noexec", "nodev", "relatime", "rw", NULL};
	bool privileged = o->run != NULL && o->run->privileged;
	static const char *const bind_ro[] = {"rbind", "ro", "nosuid", "nodev", "noexec", NULL};

	br_json_gen_str(g, "mounts");
	yajl_gen_array_open(g);
	gen_mount(g, "/proc", "proc", "proc", proc_opts);
	gen_mount(g, "/dev", "tmpfs", "tmpfs", dev_opts);
	gen_mount(g, "/dev/pts", "devpts", "devpts", pts_opts);
	gen_mount(g, "/dev/shm", "tmpfs", "shm", shm_opts);
	gen_mount(g, "/dev/mqueue", "mqueue", "mqueue", proc_opts);
	gen_mount(g, "/sys", "sysfs", "sysfs", privileged ? sys_rw : sys_opts);
	gen_mount(g, "/sys/fs/cgroup", "cgroup", "cgroup", privileged ? cg_rw : cg_opts);
	if (o->hosts_path != NULL && o->hosts_path[0] != '\0')
		gen_mount(g, "/etc/hosts", "bind", o->hosts_path, bind_ro);
	if (o->resolv_path != NULL && o->resolv_path[0] != '\0')
		gen_mount(g, "/etc/resolv.conf", "bind", o->resolv_path, bind_ro);
	taskd_run_gen_mounts(g, o);
	yajl_gen_array_close(g);
}

static void
gen_process(yajl_gen g, const struct taskd_spec_opts *o, const struct taskd_run_spec *rs,
            char *const *command, char *const *env, const char *cwd, uint32_t uid, uint32_t gid)
{
	bool privileged = o->run != NULL && o->run->privileged;
	struct rlimit host;
	uint64_t nofile = TASKD_NOFILE_LIMIT;

	/* The runtime cannot raise a limit past the host's hard limit (EPERM). */
	if (getrlimit(RLIMIT_NOFILE, &host) == 0 && host.rlim_max != RLIM_INFINITY &&
	    host.rlim_max < nofile)
		nofile = host.rlim_max;

	br_json_gen_str(g, "process");
	yajl_gen_map_open(g);
	br_json_gen_kv_bool(g, "terminal", o->terminal);
	br_json_gen_str(g, "user");
	yajl_gen_map_open(g);
	br_json_gen_kv_int(g, "uid", uid);
	br_json_gen_kv_int(g, "gid", gid);
	yajl_gen_map_close(g);
	gen_strv(g, "args", (const char *const *)command);
	gen_strv(g, "env", (const char *const *)env);
	br_json_gen_kv_str(g, "cwd", cwd);
	br_json_gen_str(g, "capabilities");
	yajl_gen_map_open(g);
	gen_strv(g, "bounding", rs->caps);
	gen_strv(g, "effective", rs->caps);
	gen_strv(g, "permitted", rs->caps);
	yajl_gen_map_close(g);
	taskd_run_gen_rlimits(g, rs, nofile);
	br_json_gen_kv_bool(g, "noNewPrivileges", !privileged);
	if (!privileged)
		br_json_gen_kv_str(g, "apparmorProfile", o->apparmor_profile);
	yajl_gen_map_close(g);
}

static int
gen_linux(yajl_gen g, const struct taskd_spec_opts *o, const struct taskd_run_spec *rs,
          const char *cgroups_path, br_err *err)
{
	static const char *const base_ns[] = {"pid", "ipc", "uts", "mount"};
	bool host_net = o->net_mode != NULL && strcmp(o->net_mode, "host") == 0;
	bool privileged = o->run != NULL && o->run->privileged;

	br_json_gen_str(g, "linux");
	yajl_gen_map_open(g);
	taskd_run_gen_resources(g, o, rs);
	taskd_run_gen_devices(g, rs);
	br_json_gen_kv_str(g, "cgroupsPath", cgroups_path);
	br_json_gen_str(g, "namespaces");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < sizeof(base_ns) / sizeof(base_ns[0]); i++) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", base_ns[i]);
		yajl_gen_map_close(g);
	}
	if (!host_net) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", "network");
		if (o->netns_path != NULL && o->netns_path[0] != '\0')
			br_json_gen_kv_str(g, "path", o->netns_path);
		yajl_gen_map_close(g);
	}
	if (o->cgroupns) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", "cgroup");
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (!privileged) {
		gen_strv(g, "maskedPaths", masked_paths);
		gen_strv(g, "readonlyPaths", readonly_paths);
		if (taskd_seccomp_gen(g, o->seccomp, rs->caps, err) < 0)
			return -1;
	}
	yajl_gen_map_close(g);
	return 0;
}

int
taskd_spec_build(const struct taskd_spec_opts *o, char **ret_json, char ***ret_command, br_err *err)
{
	_cleanup_strv_ char **command = NULL;
	_cleanup_strv_ char **env = NULL;
	_cleanup_free_ char *cgroups_path = NULL;
	char hostname[HOSTNAME_MAX + 1];
	const char *user = o->user, *cwd = o->working_dir;
	uint32_t uid, gid;
	struct taskd_run_spec rs = {0};

	if (build_command(o, &command, err) < 0 || merge_env(o, &env, err) < 0)
		return -1;
	if (user == NULL || user[0] == '\0')
		user = o->image ? o->image->user : NULL;
	if (taskd_spec_resolve_user(user, o->rootfs_fd, &uid, &gid, err) < 0)
		return -1;
	if (cwd == NULL || cwd[0] == '\0')
		cwd = o->image && o->image->working_dir && o->image->working_dir[0]
		              ? o->image->working_dir
		              : "/";
	if (cwd[0] != '/')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "working directory \"%s\": must be an absolute path", cwd);
	if (o->hostname != NULL && o->hostname[0] != '\0' &&
	    taskd_spec_check_hostname(o->hostname, err) < 0)
		return -1;
	if (o->seccomp != NULL && o->seccomp[0] != '\0' &&
	    strcmp(o->seccomp, TASKD_SECCOMP_UNCONFINED) != 0 &&
	    br_seccomp_profile_parse(o->seccomp, strlen(o->seccomp), "seccomp profile", NULL, err) <
	            0)
		return -1;
	snprintf(hostname, sizeof(hostname), "%s",
	         o->hostname && o->hostname[0] ? o->hostname : o->id);
	cgroups_path =
	        o->cgroups_path ? xstrdup(o->cgroups_path) : xasprintf("berth/%s/%s", o->ns, o->id);
	if (taskd_run_prepare(o, &rs, err) < 0)
		return -1;

	yajl_gen g = br_json_gen_new();
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "ociVersion", "1.0.2");
	gen_process(g, o, &rs, command, env, cwd, uid, gid);
	br_json_gen_str(g, "root");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "path", "rootfs");
	br_json_gen_kv_bool(g, "readonly", o->run != NULL && o->run->read_only);
	yajl_gen_map_close(g);
	br_json_gen_kv_str(g, "hostname", hostname);
	gen_mounts(g, o);
	if (gen_linux(g, o, &rs, cgroups_path, err) < 0) {
		yajl_gen_free(g);
		taskd_run_spec_fini(&rs);
		return -1;
	}
	if (o->open_stdin) {
		br_json_gen_str(g, "annotations");
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, TASKD_ANNOTATION_STDIN, "true");
		yajl_gen_map_close(g);
	}
	taskd_run_spec_fini(&rs);
	yajl_gen_map_close(g);
	*ret_json = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	*ret_command = br_steal_ptr(&command);
	return 0;
}
