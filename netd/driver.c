/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network drivers. "none": a new network namespace with only loopback, up, kept alive by a
 * bind mount of its nsfs file at <state>/netd/netns/<ns>/<id>. "host": the host's namespace.
 * "bridge": the namespace of "none", whose interfaces the CNI plugins add (service.c). Each
 * makes <state>/netd/files/<ns>/<id>/ for the container's hosts and resolv.conf (files.c).
 *
 * The namespace is made by a forked child (unshare, ioctl, mount are async-signal-safe), so
 * the daemon's own threads never change namespace. Runs on worker threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "netd/netd.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

void
netd_paths_fini(struct netd_paths *p)
{
	free(p->netns_path);
	free(p->files_dir);
	memset(p, 0, sizeof(*p));
}

static char *
netns_path_of(const char *state_dir, const char *ns, const char *id)
{
	return xasprintf("%s/netns/%s/%s", state_dir, ns, id);
}

static char *
files_dir_of(const char *state_dir, const char *ns, const char *id)
{
	return xasprintf("%s/files/%s/%s", state_dir, ns, id);
}

static int
make_files_dir(const char *state_dir, const char *ns, const char *id, struct netd_paths *p,
               br_err *err)
{
	char *dir = files_dir_of(state_dir, ns, id);

	if (br_mkdir_p(dir, 0755, err) < 0) {
		free(dir);
		return -1;
	}
	p->files_dir = dir;
	return 0;
}

static int
is_nsfs_mount(const char *path)
{
	struct statfs sfs;
	return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == NSFS_MAGIC;
}

/* In the child: a new network namespace, loopback up, bound onto `target`. Only
 * async-signal-safe calls; the exit code says which step failed. */
static void __attribute__((noreturn)) child_make_netns(const char *target)
{
	struct ifreq ifr;
	int s;

	if (unshare(CLONE_NEWNET) < 0)
		_exit(10);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		_exit(11);
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		_exit(12);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		_exit(13);
	if (mount("/proc/self/ns/net", target, NULL, MS_BIND, NULL) < 0)
		_exit(14);
	_exit(0);
}

static int
make_netns(const char *path, br_err *err)
{
	static const char *const steps[] = {"unshare", "socket", "get loopback flags",
	                                    "set loopback up", "bind mount"};
	_cleanup_free_ char *dir = xstrdup(path);
	int fd, status = 0;
	pid_t pid;

	*strrchr(dir, '/') = '\0';
	if (br_mkdir_p(dir, 0700, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "create %s", path);
	close(fd);
	pid = fork();
	if (pid < 0)
		return br_err_errno(err, BR_RESOURCE_EXHAUSTED, errno, "fork");
	if (pid == 0)
		child_make_netns(path);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	unlink(path);
	if (WIFEXITED(status) && WEXITSTATUS(status) >= 10 && WEXITSTATUS(status) <= 14)
		return br_err_set(err, BR_INTERNAL, "create network namespace %s: %s failed", path,
		                  steps[WEXITSTATUS(status) - 10]);
	return br_err_set(err, BR_INTERNAL, "create network namespace %s: child failed", path);
}

static int
drop_netns(const char *path, br_err *err)
{
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return br_err_errno(err, BR_INTERNAL, errno, "unmount %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return br_err_errno(err, BR_INTERNAL, errno, "remove %s", path);
	return 0;
}

static int
none_attach(const char *state_dir, const char *ns, const char *id, struct netd_paths *ret,
            br_err *err)
{
	struct netd_paths p = {0};
	char *path = netns_path_of(state_dir, ns, id);

	if (!is_nsfs_mount(path) && make_netns(path, err) < 0) {
		free(path);
		return -1;
	}
	p.netns_path = path;
	if (make_files_dir(state_dir, ns, id, &p, err) < 0) {
		netd_paths_fini(&p);
		return -1;
	}
	*ret = p;
	return 0;
}

static int
none_detach(const char *state_dir, const char *ns, const char *id, br_err *err)
{
	_cleanup_free_ char *path = netns_path_of(state_dir, ns, id);

	if (drop_netns(path, err) < 0)
		return -1;
	return netd_files_remove(state_dir, ns, id, err);
}

static int
none_alive(const char *state_dir, const char *ns, const char *id)
{
	_cleanup_free_ char *path = netns_path_of(state_dir, ns, id);
	return is_nsfs_mount(path);
}

static int
host_attach(const char *state_dir, const char *ns, const char *id, struct netd_paths *ret,
            br_err *err)
{
	struct netd_paths p = {.netns_path = xstrdup("")};

	if (make_files_dir(state_dir, ns, id, &p, err) < 0) {
		netd_paths_fini(&p);
		return -1;
	}
	*ret = p;
	return 0;
}

static int
host_detach(const char *state_dir, const char *ns, const char *id, br_err *err)
{
	return netd_files_remove(state_dir, ns, id, err);
}

static int
host_alive(const char *state_dir, const char *ns, const char *id)
{
	_cleanup_free_ char *dir = files_dir_of(state_dir, ns, id);
	return access(dir, F_OK) == 0;
}

static const struct netd_driver drivers[] = {
        {"none", none_attach, none_detach, none_alive},
        {"bridge", none_attach, none_detach, none_alive},
        {"host", host_attach, host_detach, host_alive},
};

const struct netd_driver *
netd_driver_find(const char *mode)
{
	for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		if (strcmp(drivers[i].name, mode) == 0)
			return &drivers[i];
	}
	return NULL;
}
