/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What tasks.stats and tasks.top read about a running task: its cgroup (cgroup.c: where it is,
 * from /proc/<pid>/cgroup and the mount table, and the counters of cgroup v1 controllers or of
 * a cgroup v2 directory) and its processes in /proc (procfs.c). The parsers take text and the
 * readers take directory paths, so the unit tests feed them files shaped like /proc and
 * /sys/fs/cgroup. Everything here is safe on any thread (tasks.stats and tasks.top call it
 * from workers); nothing keeps state.
 */
#ifndef BR_TASKD_OBSERVE_H
#define BR_TASKD_OBSERVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/* ---- cgroup.c ---- */

/* The directories of one process's cgroup: version 2, one directory; version 1, one per
 * controller that is mounted (NULL when not). Heap strings; taskd_cgroup_dirs_fini frees. */
struct taskd_cgroup_dirs {
	int version; /* 1 or 2 */
	char *unified;
	char *cpuacct;
	char *memory;
	char *pids;
	char *blkio;
};
void taskd_cgroup_dirs_fini(struct taskd_cgroup_dirs *d);

/*
 * Where the cgroup of a process is, from the text of its /proc/<pid>/cgroup and of the
 * reader's /proc/self/mountinfo. A host with the v1 memory controller mounted (hybrid hosts
 * included) is read as v1, else the unified hierarchy as v2. `prefix` (NULL: none) is put before
 * every directory (the unit tests' fake root). Errors: FAILED_PRECONDITION when no hierarchy
 * holding the process is mounted. Pure.
 */
int taskd_cgroup_locate(const char *proc_cgroup, const char *mountinfo, const char *prefix,
                        struct taskd_cgroup_dirs *ret, br_err *err);

/* taskd_cgroup_locate for process `pid` of this host. Errors: NOT_FOUND when the process is
 * gone; as taskd_cgroup_locate. */
int taskd_cgroup_of_pid(pid_t pid, struct taskd_cgroup_dirs *ret, br_err *err);

/* Counters of a cgroup. memory_limit and pids_limit are 0 when unlimited. */
struct taskd_cgroup_stats {
	uint64_t cpu_usage_ns;
	uint64_t memory_usage; /* less the inactive page cache, as docker reports it */
	uint64_t memory_limit;
	uint64_t pids;
	uint64_t pids_limit;
	uint64_t block_read;
	uint64_t block_write;
};

/* Read a cgroup v2 directory: cpu.stat, memory.current, memory.max, memory.stat, pids.current,
 * pids.max, io.stat (a file a controller does not provide counts 0). Errors: NOT_FOUND when
 * the directory is gone (the task exited); INTERNAL for unreadable files. */
int taskd_cgroup_v2_read(const char *dir, struct taskd_cgroup_stats *ret, br_err *err);
/* Read the v1 controllers' directories of `d`: cpuacct.usage; memory.usage_in_bytes,
 * memory.limit_in_bytes, memory.stat; pids.current, pids.max; blkio's io_service_bytes
 * (the throttle counters when the scheduler keeps none). Errors as taskd_cgroup_v2_read. */
int taskd_cgroup_v1_read(const struct taskd_cgroup_dirs *d, struct taskd_cgroup_stats *ret,
                         br_err *err);
/* The one of the two that `d` is for. */
int taskd_cgroup_read(const struct taskd_cgroup_dirs *d, struct taskd_cgroup_stats *ret,
                      br_err *err);

/* The pids in the cgroup of `d` and its descendants (cgroup.procs), at most `max`, in a heap
 * array sorted ascending. Errors: NOT_FOUND when the cgroup is gone. */
int taskd_cgroup_procs(const struct taskd_cgroup_dirs *d, size_t max, pid_t **ret, size_t *ret_n,
                       br_err *err);

/* ---- procfs.c ---- */

/* The fields of /proc/<pid>/stat that top shows. */
struct taskd_proc_stat {
	pid_t pid;
	char comm[64];
	char state;
	pid_t ppid;
	int tty_nr;
	uint64_t utime; /* clock ticks */
	uint64_t stime;
	uint64_t starttime; /* clock ticks after boot */
};
/* Parse the text of /proc/<pid>/stat (a comm may hold spaces and parentheses). Errors:
 * INVALID_ARGUMENT for text of another shape. Pure. */
int taskd_proc_stat_parse(const char *text, struct taskd_proc_stat *ret, br_err *err);
/* The effective uid on the "Uid:" line of /proc/<pid>/status text. Pure. */
int taskd_proc_status_euid(const char *text, uid_t *ret, br_err *err);
/* Bytes received and sent on every interface of /proc/<pid>/net/dev text but lo. Pure. */
int taskd_proc_net_dev_parse(const char *text, uint64_t *ret_rx, uint64_t *ret_tx, br_err *err);
/* MemTotal of /proc/meminfo text, in bytes. Pure. */
int taskd_proc_meminfo_total(const char *text, uint64_t *ret, br_err *err);

/* ps's TTY column for a tty_nr: "?", "pts/N", "ttyN", "ttySN" or "MAJ:MIN". Pure. */
void taskd_top_tty(int tty_nr, char *buf, size_t cap);
/* ps's TIME column for CPU seconds: "HH:MM:SS", "D-HH:MM:SS" past a day. Pure. */
void taskd_top_time(uint64_t seconds, char *buf, size_t cap);
/* ps -f's STIME for a start at `start` (epoch seconds) seen at `now`, in local time: "HH:MM"
 * within a day, "MonDD" within a year, else the year. Pure (but for the time zone). */
void taskd_top_stime(int64_t start, int64_t now, char *buf, size_t cap);

#endif
