/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tasks.stats: what a running task uses, read by a worker from the task's cgroup (located from
 * its init's /proc/<pid>/cgroup, v1 controllers or cgroup v2, taskd/cgroup.c) and from its
 * init's network namespace (/proc/<pid>/net/dev, interfaces but lo). The counters are
 * cumulative; rates (CPU %) are the client's, from two readings and their read_ns. A memory
 * limit that is unset or above the host's memory is reported as the host's, as docker does.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "taskd/observe.h"
#include "taskd/taskd.h"

struct stats_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	pid_t pid;
	int rc;
	br_err err;
	struct br_task_stats out;
};

/* Whether `pid` has a network namespace other than taskd's, and its interfaces' bytes. */
static int
read_network(pid_t pid, struct br_task_stats *s, br_err *err)
{
	_cleanup_free_ char *ns = xasprintf("/proc/%d/ns/net", (int)pid);
	_cleanup_free_ char *dev = xasprintf("/proc/%d/net/dev", (int)pid);
	_cleanup_free_ char *text = NULL;
	struct stat mine, theirs;
	size_t len;

	if (stat("/proc/self/ns/net", &mine) < 0 || stat(ns, &theirs) < 0)
		return br_err_errno(err, BR_NOT_FOUND, errno, "%s", ns);
	s->network = mine.st_ino != theirs.st_ino || mine.st_dev != theirs.st_dev;
	if (!s->network)
		return 0;
	if (br_read_file_at(AT_FDCWD, dev, 1u << 20, &text, &len, err) < 0 ||
	    taskd_proc_net_dev_parse(text, &s->net_rx, &s->net_tx, err) < 0)
		return br_err_wrap(err, "network of process %d", (int)pid);
	return 0;
}

static int
read_stats(pid_t pid, struct br_task_stats *s, br_err *err)
{
	struct taskd_cgroup_dirs dirs = {0};
	struct taskd_cgroup_stats cg;
	_cleanup_free_ char *meminfo = NULL;
	uint64_t host_memory = 0;
	struct timespec ts;
	size_t len;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (taskd_cgroup_of_pid(pid, &dirs, err) < 0)
		return -1;
	rc = taskd_cgroup_read(&dirs, &cg, err);
	s->cgroup = (uint32_t)dirs.version;
	taskd_cgroup_dirs_fini(&dirs);
	if (rc < 0 || read_network(pid, s, err) < 0)
		return -1;
	if (br_read_file_at(AT_FDCWD, "/proc/meminfo", 1u << 20, &meminfo, &len, err) < 0 ||
	    taskd_proc_meminfo_total(meminfo, &host_memory, err) < 0)
		return br_err_wrap(err, "host memory");
	s->read_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	s->online_cpus = (uint32_t)sysconf(_SC_NPROCESSORS_ONLN);
	s->cpu_usage_ns = cg.cpu_usage_ns;
	s->memory_usage = cg.memory_usage;
	s->memory_limit = cg.memory_limit == 0 || cg.memory_limit > host_memory ? host_memory
	                                                                        : cg.memory_limit;
	s->pids = cg.pids;
	s->pids_limit = cg.pids_limit;
	s->block_read = cg.block_read;
	s->block_write = cg.block_write;
	return 0;
}

static void
stats_work(uv_work_t *w)
{
	struct stats_job *j = w->data;

	j->rc = read_stats(j->pid, &j->out, &j->err);
}

static void
stats_done(uv_work_t *w, int status)
{
	struct stats_job *j = w->data;
	struct container *c = j->c;

	taskd_work_done(j->t);
	if (j->rc < 0 && j->err.code == BR_NOT_FOUND)
		/* The process or its cgroup went away: the task exited meanwhile. */
		br_call_failf(j->call, BR_FAILED_PRECONDITION, "container \"%s\" is not running",
		              c->name);
	else if (j->rc < 0) {
		br_err_wrap(&j->err, "stats of container \"%s\"", c->name);
		br_call_fail(j->call, &j->err);
	} else {
		j->out.id = c->id;
		j->out.name = c->name;
		br_call_reply(j->call, &br_task_stats_schema, &j->out);
	}
	container_unref(c);
	free(j);
}

void
taskd_tasks_stats(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_id_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	if (c->task != TASK_RUNNING || c->pid == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"%s\" is not running",
		              c->name);
		return;
	}
	struct stats_job *j = xnew(struct stats_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->pid = (pid_t)c->pid;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, stats_work, stats_done);
}
