/* SPDX-License-Identifier: Apache-2.0 */
/*
 * taskd/cgroup.c and taskd/procfs.c: locating a process's cgroup from /proc/<pid>/cgroup and
 * mountinfo texts (a v1 host, a hybrid host read through v1, a unified host, a mount whose
 * root is a sub-cgroup, no hierarchy); the cgroup v2 and v1 readers against directories made
 * in a temp dir shaped like /sys/fs/cgroup (limits and "max", the inactive page cache left
 * out, io.stat and blkio sums, missing controllers, a cgroup that is gone); cgroup.procs with
 * child cgroups; the /proc parsers (stat with a hostile comm, status, net/dev, meminfo) and
 * ps's TTY and TIME columns. The last case reads this process's own cgroup on the host.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "taskd/observe.h"
#include "test/unit/t.h"

static char root[] = "/tmp/berth-cgroup-XXXXXX";

static void
put(const char *rel, const char *text)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", root, rel);
	_cleanup_free_ char *dir = xstrdup(path);
	br_err err = BR_ERR_INIT;

	*strrchr(dir, '/') = '\0';
	if (br_mkdir_p(dir, 0755, &err) < 0)
		T_FAIL_("mkdir %s: %s", dir, err.msg);
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	fputs(text, f);
	fclose(f);
}

static void
make_root(void)
{
	T_NOT_NULL(mkdtemp(root));
}

/* At the end of a case that passed (a failed one leaves its files to look at). */
static void
drop_root(void)
{
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rm_rf_at(AT_FDCWD, root, &err), err);
}

static const char mountinfo_v1[] =
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char proc_cgroup_v1[] = "9:name=systemd:/\n"
                                     "8:pids:/berth/default/c1\n"
                                     "7:blkio:/berth/default/c1\n"
                                     "4:memory:/berth/default/c1\n"
                                     "2:cpu,cpuacct:/berth/default/c1\n"
                                     "0::/\n";

static void
test_locate_hybrid_reads_v1(void)
{
	struct taskd_cgroup_dirs d;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_cgroup_locate(proc_cgroup_v1, mountinfo_v1, "/x", &d, &err), err);
	T_EQ_INT(d.version, 1);
	T_EQ_STR(d.memory, "/x/sys/fs/cgroup/memory/berth/default/c1");
	T_EQ_STR(d.cpuacct, "/x/sys/fs/cgroup/cpu,cpuacct/berth/default/c1");
	T_EQ_STR(d.pids, "/x/sys/fs/cgroup/pids/berth/default/c1");
	T_EQ_STR(d.blkio, "/x/sys/fs/cgroup/blkio/berth/default/c1");
	T_NULL(d.unified);
	taskd_cgroup_dirs_fini(&d);
}

static void
test_locate_v2(void)
{
	static const char mi[] =
	        "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
	struct taskd_cgroup_dirs d;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_cgroup_locate("0::/berth/default/c1\n", mi, NULL, &d, &err), err);
	T_EQ_INT(d.version, 2);
	T_EQ_STR(d.unified, "/sys/fs/cgroup/berth/default/c1");
	T_NULL(d.memory);
	taskd_cgroup_dirs_fini(&d);

	/* the root cgroup itself */
	T_NOERR(taskd_cgroup_locate("0::/\n", mi, NULL, &d, &err), err);
	T_EQ_STR(d.unified, "/sys/fs/cgroup");
	taskd_cgroup_dirs_fini(&d);
}

static void
test_locate_mount_root_and_escapes(void)
{
	/* A memory mount whose root is a sub-cgroup (as inside another container) at a mount
	 * point with a space in it. */
	static const char mi[] = "35 31 0:32 /outer /sys/fs/cgroup/mem\\040ory rw - cgroup cgroup "
	                         "rw,memory\n";
	struct taskd_cgroup_dirs d;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_cgroup_locate("4:memory:/outer/berth/ns/c1\n", mi, NULL, &d, &err), err);
	T_EQ_INT(d.version, 1);
	T_EQ_STR(d.memory, "/sys/fs/cgroup/mem ory/berth/ns/c1");
	taskd_cgroup_dirs_fini(&d);

	/* a cgroup outside the mount's root is not reachable through it */
	T_ERR(taskd_cgroup_locate("4:memory:/other/c1\n", mi, NULL, &d, &err), err,
	      BR_FAILED_PRECONDITION);
	/* a cgroup outside the reader's cgroup namespace */
	T_ERR(taskd_cgroup_locate("4:memory:/outer/../../c1\n", mi, NULL, &d, &err), err,
	      BR_FAILED_PRECONDITION);
	/* nothing mounted */
	T_ERR(taskd_cgroup_locate(proc_cgroup_v1, "", NULL, &d, &err), err, BR_FAILED_PRECONDITION);
}

static void
test_v2_read(void)
{
	struct taskd_cgroup_stats s;
	br_err err = BR_ERR_INIT;

	make_root();
	put("sys/fs/cgroup/c1/cpu.stat", "usage_usec 2500000\nuser_usec 2000000\n"
	                                 "system_usec 500000\n");
	put("sys/fs/cgroup/c1/memory.current", "10485760\n");
	put("sys/fs/cgroup/c1/memory.max", "max\n");
	put("sys/fs/cgroup/c1/memory.stat", "anon 8388608\nfile 2097152\nactive_file 1048576\n"
	                                    "inactive_file 1048576\n");
	put("sys/fs/cgroup/c1/pids.current", "3\n");
	put("sys/fs/cgroup/c1/pids.max", "100\n");
	put("sys/fs/cgroup/c1/io.stat",
	    "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
	    "8:16 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n");
	_cleanup_free_ char *dir = xasprintf("%s/sys/fs/cgroup/c1", root);
	T_NOERR(taskd_cgroup_v2_read(dir, &s, &err), err);
	T_EQ_INT(s.cpu_usage_ns, 2500000000ull);
	T_EQ_INT(s.memory_usage, 10485760 - 1048576);
	T_EQ_INT(s.memory_limit, 0);
	T_EQ_INT(s.pids, 3);
	T_EQ_INT(s.pids_limit, 100);
	T_EQ_INT(s.block_read, 4196);
	T_EQ_INT(s.block_write, 8192);

	/* a limit; controllers that are not enabled count 0 */
	put("sys/fs/cgroup/c2/memory.current", "4096\n");
	put("sys/fs/cgroup/c2/memory.max", "536870912\n");
	_cleanup_free_ char *dir2 = xasprintf("%s/sys/fs/cgroup/c2", root);
	T_NOERR(taskd_cgroup_v2_read(dir2, &s, &err), err);
	T_EQ_INT(s.memory_limit, 536870912);
	T_EQ_INT(s.memory_usage, 4096);
	T_EQ_INT(s.cpu_usage_ns, 0);
	T_EQ_INT(s.pids, 0);

	/* gone: the task exited */
	_cleanup_free_ char *gone = xasprintf("%s/sys/fs/cgroup/c3", root);
	T_ERR(taskd_cgroup_v2_read(gone, &s, &err), err, BR_NOT_FOUND);
	drop_root();
}

static void
test_v1_read(void)
{
	struct taskd_cgroup_stats s;
	br_err err = BR_ERR_INIT;

	make_root();
	put("memory/c1/memory.usage_in_bytes", "20971520\n");
	put("memory/c1/memory.limit_in_bytes", "9223372036854771712\n");
	put("memory/c1/memory.stat", "cache 4194304\nrss 16777216\ninactive_file 1\n"
	                             "total_inactive_file 2097152\n");
	put("cpuacct/c1/cpuacct.usage", "123456789\n");
	put("pids/c1/pids.current", "2\n");
	put("pids/c1/pids.max", "max\n");
	/* no CFQ: the scheduler's file has only the Total line; the throttle one counts */
	put("blkio/c1/blkio.io_service_bytes_recursive", "Total 0\n");
	put("blkio/c1/blkio.throttle.io_service_bytes_recursive",
	    "8:0 Read 1000\n8:0 Write 2000\n8:0 Sync 3000\n8:0 Async 0\n8:0 Total 3000\n"
	    "8:16 Read 24\n8:16 Write 0\nTotal 3024\n");
	struct taskd_cgroup_dirs d = {
	        .version = 1,
	        .memory = xasprintf("%s/memory/c1", root),
	        .cpuacct = xasprintf("%s/cpuacct/c1", root),
	        .pids = xasprintf("%s/pids/c1", root),
	        .blkio = xasprintf("%s/blkio/c1", root),
	};
	T_NOERR(taskd_cgroup_read(&d, &s, &err), err);
	T_EQ_INT(s.memory_usage, 20971520 - 2097152);
	T_EQ_INT(s.memory_limit, 0); /* v1's "unlimited" */
	T_EQ_INT(s.cpu_usage_ns, 123456789);
	T_EQ_INT(s.pids, 2);
	T_EQ_INT(s.pids_limit, 0);
	T_EQ_INT(s.block_read, 1024);
	T_EQ_INT(s.block_write, 2000);

	put("memory/c1/memory.limit_in_bytes", "268435456\n");
	free(d.pids);
	d.pids = NULL; /* a host without the pids controller */
	T_NOERR(taskd_cgroup_read(&d, &s, &err), err);
	T_EQ_INT(s.memory_limit, 268435456);
	T_EQ_INT(s.pids, 0);

	free(d.memory);
	d.memory = xasprintf("%s/memory/gone", root);
	T_ERR(taskd_cgroup_read(&d, &s, &err), err, BR_NOT_FOUND);
	taskd_cgroup_dirs_fini(&d);
	drop_root();
}

static void
test_procs_with_children(void)
{
	pid_t *pids = NULL;
	size_t n = 0;
	br_err err = BR_ERR_INIT;

	make_root();
	put("c1/cgroup.procs", "42\n7\n");
	put("c1/sub/cgroup.procs", "100\n");
	put("c1/sub/deeper/cgroup.procs", "");
	struct taskd_cgroup_dirs d = {.version = 2, .unified = xasprintf("%s/c1", root)};
	T_NOERR(taskd_cgroup_procs(&d, 100, &pids, &n, &err), err);
	T_EQ_INT(n, 3);
	T_EQ_INT(pids[0], 7);
	T_EQ_INT(pids[1], 42);
	T_EQ_INT(pids[2], 100);
	free(pids);
	T_NOERR(taskd_cgroup_procs(&d, 2, &pids, &n, &err), err);
	T_EQ_INT(n, 2);
	free(pids);
	taskd_cgroup_dirs_fini(&d);
	drop_root();
}

static void
test_proc_stat(void)
{
	struct taskd_proc_stat st;
	br_err err = BR_ERR_INIT;

	/* a comm with spaces and a ") " in it must not shift the fields */
	static const char text[] =
	        "1234 (evil) S 1 (x) R 1 1 1 34817 1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 987654 "
	        "1000 100 18446744073709551615\n";
	T_NOERR(taskd_proc_stat_parse(text, &st, &err), err);
	T_EQ_INT(st.pid, 1234);
	T_EQ_STR(st.comm, "evil) S 1 (x");
	T_EQ_INT(st.state, 'R');
	T_EQ_INT(st.ppid, 1);
	T_EQ_INT(st.tty_nr, 34817);
	T_EQ_INT(st.utime, 250);
	T_EQ_INT(st.stime, 50);
	T_EQ_INT(st.starttime, 987654);
	T_ERR(taskd_proc_stat_parse("1234 (sh) S 1 2\n", &st, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(taskd_proc_stat_parse("garbage", &st, &err), err, BR_INVALID_ARGUMENT);
}

static void
test_proc_status_net_meminfo(void)
{
	uid_t uid;
	uint64_t rx, tx, total;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_proc_status_euid("Name:\tsh\nUmask:\t0022\nUid:\t1000\t33\t33\t33\n"
	                               "Gid:\t0\t0\t0\t0\n",
	                               &uid, &err),
	        err);
	T_EQ_INT(uid, 33);
	T_ERR(taskd_proc_status_euid("Name:\tsh\n", &uid, &err), err, BR_INVALID_ARGUMENT);

	static const char dev[] =
	        "Inter-|   Receive                                                |  Transmit\n"
	        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    "
	        "packets errs drop fifo colls carrier compressed\n"
	        "    lo:  999999      10    0    0    0     0          0         0   999999      "
	        "10    0    0    0     0       0          0\n"
	        "  eth0:    1500      12    0    0    0     0          0         0      700       "
	        "7    0    0    0     0       0          0\n"
	        "  eth1:     500       2    0    0    0     0          0         0      300       "
	        "3    0    0    0     0       0          0\n";
	T_NOERR(taskd_proc_net_dev_parse(dev, &rx, &tx, &err), err);
	T_EQ_INT(rx, 2000);
	T_EQ_INT(tx, 1000);
	T_ERR(taskd_proc_net_dev_parse("Inter-|\n face |\n", &rx, &tx, &err), err,
	      BR_INVALID_ARGUMENT);

	T_NOERR(taskd_proc_meminfo_total("MemTotal:        8039600 kB\nMemFree: 1 kB\n", &total,
	                                 &err),
	        err);
	T_EQ_INT(total, 8039600ull * 1024);
}

static void
test_ps_columns(void)
{
	char buf[32];

	taskd_top_tty(0, buf, sizeof(buf));
	T_EQ_STR(buf, "?");
	taskd_top_tty((136 << 8) | 3, buf, sizeof(buf));
	T_EQ_STR(buf, "pts/3");
	taskd_top_tty((4 << 8) | 1, buf, sizeof(buf));
	T_EQ_STR(buf, "tty1");
	taskd_top_tty((4 << 8) | 65, buf, sizeof(buf));
	T_EQ_STR(buf, "ttyS1");
	taskd_top_time(0, buf, sizeof(buf));
	T_EQ_STR(buf, "00:00:00");
	taskd_top_time(3723, buf, sizeof(buf));
	T_EQ_STR(buf, "01:02:03");
	taskd_top_time(2 * 86400 + 61, buf, sizeof(buf));
	T_EQ_STR(buf, "2-00:01:01");
	setenv("TZ", "UTC", 1);
	taskd_top_stime(1700000000, 1700000000 + 60, buf, sizeof(buf));
	T_EQ_STR(buf, "22:13");
	taskd_top_stime(1700000000, 1700000000 + 3 * 86400, buf, sizeof(buf));
	T_EQ_STR(buf, "Nov14");
	taskd_top_stime(1600000000, 1700000000, buf, sizeof(buf));
	T_EQ_STR(buf, "2020");
}

/* This process's own cgroup on this host, whichever layout the host has. */
static void
test_host_self(void)
{
	struct taskd_cgroup_dirs d;
	struct taskd_cgroup_stats s;
	br_err err = BR_ERR_INIT;

	if (taskd_cgroup_of_pid(getpid(), &d, &err) < 0) {
		if (err.code == BR_FAILED_PRECONDITION)
			T_SKIP("no cgroup hierarchy mounted here: %s", err.msg);
		T_FAIL_("locate: %s", err.msg);
	}
	T_NOERR(taskd_cgroup_read(&d, &s, &err), err);
	T_OK(s.memory_usage > 0);
	pid_t *pids = NULL;
	size_t n = 0;
	T_NOERR(taskd_cgroup_procs(&d, 100000, &pids, &n, &err), err);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		found |= pids[i] == getpid();
	T_OK(found);
	free(pids);
	taskd_cgroup_dirs_fini(&d);
}

T_MAIN(T_CASE(test_locate_hybrid_reads_v1), T_CASE(test_locate_v2),
       T_CASE(test_locate_mount_root_and_escapes), T_CASE(test_v2_read), T_CASE(test_v1_read),
       T_CASE(test_procs_with_children), T_CASE(test_proc_stat),
       T_CASE(test_proc_status_net_meminfo), T_CASE(test_ps_columns), T_CASE(test_host_self))
