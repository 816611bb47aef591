/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A task's cgroup: where it is and what it counts. The runtime places the container in the
 * cgroupsPath of its spec, relative to where the runtime itself runs, so rather than guess the
 * path, taskd reads the init's /proc/<pid>/cgroup and maps each hierarchy to its mount through
 * /proc/self/mountinfo (a mount's root may be a sub-cgroup, as inside another container). A
 * host with v1 controllers (hybrid or not) is read through them, a unified host through its one
 * directory; the counters are those docker shows (memory less the inactive page cache).
 * Any thread; no state.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "taskd/observe.h"

#define CGROUP_FILE_MAX (64u << 10)
#define CGROUP_PROCS_DEPTH 8

void
taskd_cgroup_dirs_fini(struct taskd_cgroup_dirs *d)
{
	free(d->unified);
	free(d->cpuacct);
	free(d->memory);
	free(d->pids);
	free(d->blkio);
	*d = (struct taskd_cgroup_dirs){0};
}

/* ------------------------------------------------------------------ locate */

static const char *const v1_controllers[] = {"cpuacct", "memory", "pids", "blkio"};
#define N_V1 (sizeof(v1_controllers) / sizeof(v1_controllers[0]))

struct hierarchy {
	char *path;       /* the process's cgroup in it, from /proc/<pid>/cgroup */
	char *mount_root; /* from mountinfo */
	char *mount_point;
};

static void
hierarchy_fini(struct hierarchy *h)
{
	free(h->path);
	free(h->mount_root);
	free(h->mount_point);
}

/* Does the comma-separated `list` hold `word`? */
static bool
list_has(const char *list, size_t len, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = list, *end = list + len; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
		if (n == wl && memcmp(p, word, n) == 0)
			return true;
		p += n + 1;
	}
	return false;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *
unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			*o++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
			              (s[i + 3] - '0'));
			i += 3;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Split one line into at most `max` space-separated fields (pointers and lengths). */
static size_t
split_fields(const char *line, size_t len, const char **f, size_t *fl, size_t max)
{
	size_t n = 0;
	const char *p = line, *end = line + len;

	while (p < end && n < max) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		const char *q = p;
		while (q < end && *q != ' ')
			q++;
		f[n] = p;
		fl[n++] = (size_t)(q - p);
		p = q;
	}
	return n;
}

/* Record the mount of one mountinfo line in `v1` or `v2` when it is a cgroup hierarchy. */
static void
mountinfo_line(const char *line, size_t len, struct hierarchy v1[N_V1], struct hierarchy *v2)
{
	const char *f[64];
	size_t fl[64];
	size_t n = split_fields(line, len, f, fl, 64), sep;

	for (sep = 6; sep < n && !(fl[sep] == 1 && f[sep][0] == '-'); sep++)
		;
	if (sep + 3 >= n)
		return;
	const char *fstype = f[sep + 1], *opts = f[sep + 3];
	size_t fstype_len = fl[sep + 1], opts_len = fl[sep + 3];
	if (fstype_len == 7 && memcmp(fstype, "cgroup2", 7) == 0) {
		if (v2->mount_point == NULL) {
			v2->mount_root = unescape(f[3], fl[3]);
			v2->mount_point = unescape(f[4], fl[4]);
		}
		return;
	}
	if (fstype_len != 6 || memcmp(fstype, "cgroup", 6) != 0)
		return;
	for (size_t i = 0; i < N_V1; i++) {
		if (v1[i].mount_point == NULL && list_has(opts, opts_len, v1_controllers[i])) {
			v1[i].mount_root = unescape(f[3], fl[3]);
			v1[i].mount_point = unescape(f[4], fl[4]);
		}
	}
}

/* Record the path of one /proc/<pid>/cgroup line "ID:CONTROLLERS:PATH". */
static void
proc_cgroup_line(const char *line, size_t len, struct hierarchy v1[N_V1], struct hierarchy *v2)
{
	const char *c1 = memchr(line, ':', len);
	const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;

	if (c2 == NULL)
		return;
	const char *ctrls = c1 + 1, *path = c2 + 1;
	size_t ctrls_len = (size_t)(c2 - ctrls), path_len = len - (size_t)(path - line);
	if (c1 - line == 1 && line[0] == '0' && ctrls_len == 0) {
		free(v2->path);
		v2->path = xstrndup(path, path_len);
		return;
	}
	for (size_t i = 0; i < N_V1; i++) {
		if (v1[i].path == NULL && list_has(ctrls, ctrls_len, v1_controllers[i]))
			v1[i].path = xstrndup(path, path_len);
	}
}

static void
each_line(const char *text,
          void (*fn)(const char *, size_t, struct hierarchy *, struct hierarchy *),
          struct hierarchy v1[N_V1], struct hierarchy *v2)
{
	for (const char *p = text; *p != '\0';) {
		size_t len = strcspn(p, "\n");
		fn(p, len, v1, v2);
		p += len;
		if (*p == '\n')
			p++;
	}
}

/* Does `path` have a ".." component? The kernel writes one for a cgroup outside the reader's
 * cgroup namespace, which no mount of the reader shows. */
static bool
has_dotdot(const char *path)
{
	for (const char *p = strstr(path, ".."); p != NULL; p = strstr(p + 2, ".."))
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
	return false;
}

/* The directory of `h`, or NULL when the process's cgroup lies outside the mount. */
static char *
hierarchy_dir(const struct hierarchy *h, const char *prefix)
{
	const char *rel = h->path;
	size_t root_len;

	if (h->path == NULL || h->mount_point == NULL || has_dotdot(h->path))
		return NULL;
	root_len = strlen(h->mount_root);
	if (strcmp(h->mount_root, "/") != 0) {
		if (strncmp(h->path, h->mount_root, root_len) != 0 ||
		    (h->path[root_len] != '\0' && h->path[root_len] != '/'))
			return NULL;
		rel = h->path + root_len;
	}
	while (*rel == '/')
		rel++;
	return xasprintf("%s%s%s%s", prefix ? prefix : "", h->mount_point, rel[0] ? "/" : "", rel);
}

int
taskd_cgroup_locate(const char *proc_cgroup, const char *mountinfo, const char *prefix,
                    struct taskd_cgroup_dirs *ret, br_err *err)
{
	struct hierarchy v1[N_V1] = {0}, v2 = {0};
	struct taskd_cgroup_dirs d = {0};

	each_line(mountinfo, mountinfo_line, v1, &v2);
	each_line(proc_cgroup, proc_cgroup_line, v1, &v2);
	char **dirs[N_V1] = {&d.cpuacct, &d.memory, &d.pids, &d.blkio};
	for (size_t i = 0; i < N_V1; i++)
		*dirs[i] = hierarchy_dir(&v1[i], prefix);
	if (d.memory != NULL) {
		d.version = 1;
	} else if ((d.unified = hierarchy_dir(&v2, prefix)) != NULL) {
		d.version = 2;
		for (size_t i = 0; i < N_V1; i++) {
			free(*dirs[i]);
			*dirs[i] = NULL;
		}
	}
	for (size_t i = 0; i < N_V1; i++)
		hierarchy_fini(&v1[i]);
	hierarchy_fini(&v2);
	if (d.version == 0) {
		taskd_cgroup_dirs_fini(&d);
		return br_err_set(err, BR_FAILED_PRECONDITION,
		                  "no mounted cgroup hierarchy holds the process (neither the v1 "
		                  "memory controller nor cgroup2)");
	}
	*ret = d;
	return 0;
}

int
taskd_cgroup_of_pid(pid_t pid, struct taskd_cgroup_dirs *ret, br_err *err)
{
	_cleanup_free_ char *dir = xasprintf("/proc/%d", (int)pid);
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *cgroup = NULL, *mountinfo = NULL;
	size_t len;

	if (fd < 0)
		return br_err_errno(err, errno == ENOENT ? BR_NOT_FOUND : BR_INTERNAL, errno,
		                    "process %d", (int)pid);
	if (br_read_file_at(fd, "cgroup", CGROUP_FILE_MAX, &cgroup, &len, err) < 0 ||
	    br_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 4u << 20, &mountinfo, &len, err) < 0)
		return br_err_wrap(err, "process %d", (int)pid);
	return taskd_cgroup_locate(cgroup, mountinfo, NULL, ret, err);
}

/* ------------------------------------------------------------------ read */

/* Open a cgroup directory; NOT_FOUND when it is gone (the task exited). */
static int
open_dir(const char *dir, br_err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return br_err_errno(err, errno == ENOENT ? BR_NOT_FOUND : BR_INTERNAL, errno,
		                    "cgroup %s", dir);
	return fd;
}

/* The text of dirfd/name; a missing file is "" (a controller that is not enabled). */
static int
read_text(int dirfd, const char *dir, const char *name, char **ret, br_err *err)
{
	size_t len;

	if (br_read_file_at(dirfd, name, CGROUP_FILE_MAX, ret, &len, err) == 0)
		return 0;
	if (err != NULL && err->code == BR_NOT_FOUND) {
		br_err_clear(err);
		*ret = xstrdup("");
		return 0;
	}
	return br_err_wrap(err, "cgroup %s", dir);
}

/* A number, "max" as 0 (no limit); "" as 0. */
static uint64_t
parse_u64(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncmp(s, "max", 3) == 0)
		return 0;
	return strtoull(s, NULL, 10);
}

static int
read_u64(int dirfd, const char *dir, const char *name, uint64_t *ret, br_err *err)
{
	_cleanup_free_ char *text = NULL;

	if (read_text(dirfd, dir, name, &text, err) < 0)
		return -1;
	*ret = parse_u64(text);
	return 0;
}

/* The value of "KEY VALUE" lines (memory.stat, cpu.stat); 0 when absent. */
static uint64_t
keyed(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; *p != '\0';) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
		p += strcspn(p, "\n");
		if (*p == '\n')
			p++;
	}
	return 0;
}

static uint64_t
sub_floor(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int
taskd_cgroup_v2_read(const char *dir, struct taskd_cgroup_stats *ret, br_err *err)
{
	_cleanup_close_ int fd = open_dir(dir, err);
	_cleanup_free_ char *cpu = NULL, *mem_stat = NULL, *io = NULL;
	struct taskd_cgroup_stats s = {0};
	uint64_t current = 0;

	if (fd < 0 || read_text(fd, dir, "cpu.stat", &cpu, err) < 0 ||
	    read_u64(fd, dir, "memory.current", &current, err) < 0 ||
	    read_u64(fd, dir, "memory.max", &s.memory_limit, err) < 0 ||
	    read_text(fd, dir, "memory.stat", &mem_stat, err) < 0 ||
	    read_u64(fd, dir, "pids.current", &s.pids, err) < 0 ||
	    read_u64(fd, dir, "pids.max", &s.pids_limit, err) < 0 ||
	    read_text(fd, dir, "io.stat", &io, err) < 0)
		return -1;
	s.cpu_usage_ns = keyed(cpu, "usage_usec") * 1000;
	s.memory_usage = sub_floor(current, keyed(mem_stat, "inactive_file"));
	/* io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" per device */
	for (const char *p = io; *p != '\0';) {
		size_t len = strcspn(p, "\n");
		for (const char *q = p; q < p + len; q++) {
			if (strncmp(q, " rbytes=", 8) == 0)
				s.block_read += strtoull(q + 8, NULL, 10);
			else if (strncmp(q, " wbytes=", 8) == 0)
				s.block_write += strtoull(q + 8, NULL, 10);
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	*ret = s;
	return 0;
}

/* Sum the Read and Write lines of a v1 blkio file ("MAJ:MIN Read N"); false if it has none. */
static bool
blkio_sum(const char *text, uint64_t *read, uint64_t *write)
{
	bool any = false;

	for (const char *p = text; *p != '\0';) {
		const char *sp = strchr(p, ' ');
		size_t len = strcspn(p, "\n");
		if (sp != NULL && sp < p + len) {
			if (strncmp(sp, " Read ", 6) == 0) {
				*read += strtoull(sp + 6, NULL, 10);
				any = true;
			} else if (strncmp(sp, " Write ", 7) == 0) {
				*write += strtoull(sp + 7, NULL, 10);
				any = true;
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return any;
}

int
taskd_cgroup_v1_read(const struct taskd_cgroup_dirs *d, struct taskd_cgroup_stats *ret, br_err *err)
{
	struct taskd_cgroup_stats s = {0};

	if (d->memory == NULL)
		return br_err_set(err, BR_FAILED_PRECONDITION, "no v1 memory controller");
	{
		_cleanup_close_ int fd = open_dir(d->memory, err);
		_cleanup_free_ char *stat = NULL;
		uint64_t usage = 0;
		if (fd < 0 || read_u64(fd, d->memory, "memory.usage_in_bytes", &usage, err) < 0 ||
		    read_u64(fd, d->memory, "memory.limit_in_bytes", &s.memory_limit, err) < 0 ||
		    read_text(fd, d->memory, "memory.stat", &stat, err) < 0)
			return -1;
		s.memory_usage = sub_floor(usage, keyed(stat, "total_inactive_file"));
		/* v1 says "no limit" with the largest page-aligned value */
		if (s.memory_limit >= (UINT64_C(1) << 62))
			s.memory_limit = 0;
	}
	if (d->cpuacct != NULL) {
		_cleanup_close_ int fd = open_dir(d->cpuacct, err);
		if (fd < 0 || read_u64(fd, d->cpuacct, "cpuacct.usage", &s.cpu_usage_ns, err) < 0)
			return -1;
	}
	if (d->pids != NULL) {
		_cleanup_close_ int fd = open_dir(d->pids, err);
		if (fd < 0 || read_u64(fd, d->pids, "pids.current", &s.pids, err) < 0 ||
		    read_u64(fd, d->pids, "pids.max", &s.pids_limit, err) < 0)
			return -1;
	}
	if (d->blkio != NULL) {
		/* The scheduler's counters when it keeps them (CFQ/BFQ), else the throttle
		 * layer's, which every block device passes. */
		static const char *const files[] = {"blkio.io_service_bytes_recursive",
		                                    "blkio.throttle.io_service_bytes_recursive",
		                                    "blkio.throttle.io_service_bytes"};
		_cleanup_close_ int fd = open_dir(d->blkio, err);
		if (fd < 0)
			return -1;
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			_cleanup_free_ char *text = NULL;
			if (read_text(fd, d->blkio, files[i], &text, err) < 0)
				return -1;
			if (blkio_sum(text, &s.block_read, &s.block_write))
				break;
		}
	}
	*ret = s;
	return 0;
}

int
taskd_cgroup_read(const struct taskd_cgroup_dirs *d, struct taskd_cgroup_stats *ret, br_err *err)
{
	return d->version == 2 ? taskd_cgroup_v2_read(d->unified, ret, err)
	                       : taskd_cgroup_v1_read(d, ret, err);
}

/* ------------------------------------------------------------------ procs */

struct pid_set {
	pid_t *v;
	size_t n, cap, max;
};

static int
by_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Add the pids of dirfd's cgroup.procs, then those of its child cgroups. */
static int
collect_procs(int dirfd, const char *dir, int depth, struct pid_set *set, br_err *err)
{
	_cleanup_free_ char *text = NULL;

	if (read_text(dirfd, dir, "cgroup.procs", &text, err) < 0)
		return -1;
	for (char *p = text; *p != '\0' && set->n < set->max;) {
		long pid = strtol(p, &p, 10);
		if (pid > 0) {
			if (set->n == set->cap) {
				set->cap = set->cap ? set->cap * 2 : 64;
				set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
			}
			set->v[set->n++] = (pid_t)pid;
		}
		while (*p == '\n' || *p == ' ')
			p++;
		if (pid <= 0 && *p != '\0')
			p++;
	}
	if (depth >= CGROUP_PROCS_DEPTH)
		return 0;
	int fd = dup(dirfd);
	DIR *dp = fd >= 0 ? fdopendir(fd) : NULL;
	if (dp == NULL) {
		if (fd >= 0)
			close(fd);
		return br_err_errno(err, BR_INTERNAL, errno, "cgroup %s", dir);
	}
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(dp)) != NULL) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		_cleanup_close_ int sub =
		        openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0)
			continue; /* removed meanwhile */
		rc = collect_procs(sub, dir, depth + 1, set, err);
	}
	closedir(dp);
	return rc;
}

int
taskd_cgroup_procs(const struct taskd_cgroup_dirs *d, size_t max, pid_t **ret, size_t *ret_n,
                   br_err *err)
{
	const char *dir = d->version == 2 ? d->unified : d->pids ? d->pids : d->memory;
	struct pid_set set = {.max = max};
	_cleanup_close_ int fd = open_dir(dir, err);

	if (fd < 0)
		return -1;
	if (collect_procs(fd, dir, 0, &set, err) < 0) {
		free(set.v);
		return -1;
	}
	qsort(set.v, set.n, sizeof(*set.v), by_pid);
	*ret = set.v;
	*ret_n = set.n;
	return 0;
}
