/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tasks.top: the processes of a running task, found in its cgroup (cgroup.procs of the
 * task's cgroup and those below it, so a process that left the init's tree is still shown).
 * Without ps arguments a worker reads each process's /proc entries and answers with docker's
 * default columns, those of `ps -ef`: UID PID PPID C STIME TTY TIME CMD. With ps arguments it
 * runs the host's `ps` with them, as docker does, and keeps the header and the rows whose PID
 * column names a process of the task.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"
#include "common/fsutil.h"
#include "common/xalloc.h"
#include "taskd/observe.h"
#include "taskd/taskd.h"

#define TOP_CMD_MAX 1024             /* bytes of a cell */
#define TOP_REPLY_MAX (6u << 20)     /* bytes of all cells: the reply fits a message */
#define TOP_PS_OUTPUT_MAX (4u << 20) /* what ps may print */

struct top_job {
	uv_work_t work;
	struct taskd *t;
	br_call *call;
	struct container *c;
	pid_t pid;
	char **ps_args; /* NULL: the /proc columns */
	int rc;
	br_err err;
	br_arena *arena;
	struct br_task_top_resp out;
};

/* ------------------------------------------------------------------ rows */

struct rows {
	br_arena *arena;
	struct br_task_top_row *v;
	size_t n, cap;
	size_t bytes; /* of the cells so far */
};

/* Add a row of `n` cells, each cut at TOP_CMD_MAX bytes. RESOURCE_EXHAUSTED when the rows
 * would no longer fit one reply. */
static int
rows_add(struct rows *r, const char **cells, size_t n, br_err *err)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 32;
		struct br_task_top_row *v = br_arena_alloc(r->arena, r->cap * sizeof(*v));
		if (r->n > 0)
			memcpy(v, r->v, r->n * sizeof(*v));
		r->v = v;
	}
	const char **copy = br_arena_alloc(r->arena, (n ? n : 1) * sizeof(*copy));
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(cells[i]);
		if (len > TOP_CMD_MAX)
			len = TOP_CMD_MAX;
		r->bytes += len + 8;
		copy[i] = br_arena_printf(r->arena, "%.*s", (int)len, cells[i]);
	}
	if (r->bytes > TOP_REPLY_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                  "more than %u bytes of processes; ask ps for fewer columns",
		                  TOP_REPLY_MAX);
	r->v[r->n++] = (struct br_task_top_row){{copy, n}};
	return 0;
}

static void
set_titles(struct top_job *j, const char **titles, size_t n)
{
	const char **copy = br_arena_alloc(j->arena, (n ? n : 1) * sizeof(*copy));
	for (size_t i = 0; i < n; i++)
		copy[i] = br_arena_printf(j->arena, "%s", titles[i]);
	j->out.titles = (struct br_strlist){copy, n};
}

/* ------------------------------------------------------------------ /proc columns */

static void
user_name(uid_t uid, char *buf, size_t cap)
{
	struct passwd pw, *found = NULL;
	char scratch[1024];

	if (getpwuid_r(uid, &pw, scratch, sizeof(scratch), &found) == 0 && found != NULL)
		snprintf(buf, cap, "%s", found->pw_name);
	else
		snprintf(buf, cap, "%u", (unsigned)uid);
}

/* The command line of `pid` with spaces for NULs, or "[comm]" for a kernel-like one. */
static char *
command_line(int dirfd, const struct taskd_proc_stat *st)
{
	char *text = NULL;
	size_t len = 0;
	br_err ignored = BR_ERR_INIT;

	if (br_read_file_at(dirfd, "cmdline", 64u << 10, &text, &len, &ignored) < 0 || len == 0) {
		free(text);
		return xasprintf("[%s]", st->comm);
	}
	while (len > 0 && text[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\0')
			text[i] = ' ';
	text[len] = '\0';
	return text;
}

/* One row for `pid`; 1 when the process is gone (skipped), -1 with err. */
static int
proc_row(struct rows *r, pid_t pid, int64_t now, int64_t boot, double uptime, long hz, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d", (int)pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *stat_text = NULL, *status_text = NULL, *cmd = NULL;
	struct taskd_proc_stat st;
	uid_t uid;
	size_t len;
	br_err gone = BR_ERR_INIT;
	char uid_s[64], pid_s[16], ppid_s[16], c_s[16], stime_s[16], tty_s[32], time_s[32];

	if (fd < 0 || br_read_file_at(fd, "stat", 4096, &stat_text, &len, &gone) < 0 ||
	    br_read_file_at(fd, "status", 64u << 10, &status_text, &len, &gone) < 0)
		return 1;
	if (taskd_proc_stat_parse(stat_text, &st, err) < 0 ||
	    taskd_proc_status_euid(status_text, &uid, err) < 0)
		return br_err_wrap(err, "process %d", (int)pid);
	cmd = command_line(fd, &st);

	double cpu_s = (double)(st.utime + st.stime) / (double)hz;
	double age = uptime - (double)st.starttime / (double)hz;
	user_name(uid, uid_s, sizeof(uid_s));
	snprintf(pid_s, sizeof(pid_s), "%d", (int)st.pid);
	snprintf(ppid_s, sizeof(ppid_s), "%d", (int)st.ppid);
	snprintf(c_s, sizeof(c_s), "%d", age > 0 ? (int)(cpu_s * 100.0 / age) : 0);
	taskd_top_stime(boot + (int64_t)(st.starttime / (uint64_t)hz), now, stime_s,
	                sizeof(stime_s));
	taskd_top_tty(st.tty_nr, tty_s, sizeof(tty_s));
	taskd_top_time((uint64_t)cpu_s, time_s, sizeof(time_s));
	const char *cells[] = {uid_s, pid_s, ppid_s, c_s, stime_s, tty_s, time_s, cmd};
	return rows_add(r, cells, 8, err);
}

static int
top_proc(struct top_job *j, const pid_t *pids, size_t n, br_err *err)
{
	static const char *const titles[] = {"UID",   "PID", "PPID", "C",
	                                     "STIME", "TTY", "TIME", "CMD"};
	struct rows r = {.arena = j->arena};
	struct timespec boottime;
	int64_t now = (int64_t)time(NULL);
	long hz = sysconf(_SC_CLK_TCK);

	clock_gettime(CLOCK_BOOTTIME, &boottime);
	double uptime = (double)boottime.tv_sec + (double)boottime.tv_nsec / 1e9;
	int64_t boot = now - boottime.tv_sec;
	for (size_t i = 0; i < n; i++)
		if (proc_row(&r, pids[i], now, boot, uptime, hz > 0 ? hz : 100, err) < 0)
			return -1;
	set_titles(j, (const char **)titles, 8);
	j->out.processes = (struct br_objlist){r.v, r.n};
	return 0;
}

/* ------------------------------------------------------------------ ps ARGS */

/* Run `ps ARGS` with stdout and stderr in one pipe; its output (heap) and exit status. */
static int
run_ps(char **ps_args, char **ret_out, int *ret_status, br_err *err)
{
	size_t n = 0;
	while (ps_args[n] != NULL)
		n++;
	_cleanup_free_ const char **argv = xcalloc(n + 2, sizeof(*argv));
	argv[0] = "ps";
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = ps_args[i];

	char *out;
	bool too_long;
	int status;
	if (br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDOUT | BR_SPAWN_CAPTURE_STDERR,
	                 TOP_PS_OUTPUT_MAX, &out, &too_long, &status, err) < 0)
		return -1;
	if (too_long) {
		free(out);
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "ps printed more than %u bytes",
		                  TOP_PS_OUTPUT_MAX);
	}
	*ret_out = out;
	*ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return 0;
}

/* Split a line of ps output into at most `max` fields, the last one taking the rest. */
static size_t
ps_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p != '\0' && n < max) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		f[n++] = p;
		if (n == max)
			break;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (n > 0) { /* trim the trailing blanks of the last field */
		char *e = f[n - 1] + strlen(f[n - 1]);
		while (e > f[n - 1] && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
	}
	return n;
}

static bool
has_pid(const pid_t *pids, size_t n, long pid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (pids[mid] == pid)
			return true;
		if (pids[mid] < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static int
top_ps(struct top_job *j, const pid_t *pids, size_t n, br_err *err)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_free_ char *joined = NULL;
	int status = 0;
	char *titles[BR_TOP_COLUMNS_MAX];
	size_t n_titles, pid_col;
	struct rows r = {.arena = j->arena};

	for (size_t i = 0; j->ps_args[i] != NULL; i++) {
		char *prev = joined;
		joined = xasprintf("%s%s%s", prev ? prev : "", prev ? " " : "", j->ps_args[i]);
		free(prev);
	}
	if (run_ps(j->ps_args, &out, &status, err) < 0)
		return -1;
	if (status != 0) {
		out[strcspn(out, "\n")] = '\0';
		return br_err_set(err, BR_INVALID_ARGUMENT, "ps %s: exit status %d: %s", joined,
		                  status, out);
	}
	char *save = NULL, *line = strtok_r(out, "\n", &save);
	if (line == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "ps %s: printed nothing", joined);
	n_titles = ps_fields(line, titles, BR_TOP_COLUMNS_MAX);
	for (pid_col = 0; pid_col < n_titles && strcmp(titles[pid_col], "PID") != 0; pid_col++)
		;
	if (pid_col == n_titles)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "ps %s: no PID column in its output (add -o pid or leave the "
		                  "options out)",
		                  joined);
	set_titles(j, (const char **)titles, n_titles);
	while ((line = strtok_r(NULL, "\n", &save)) != NULL && r.n < BR_TOP_PROCESSES_MAX) {
		char *cells[BR_TOP_COLUMNS_MAX];
		size_t nc = ps_fields(line, cells, n_titles);
		if (nc != n_titles || !has_pid(pids, n, strtol(cells[pid_col], NULL, 10)))
			continue;
		if (rows_add(&r, (const char **)cells, nc, err) < 0)
			return -1;
	}
	j->out.processes = (struct br_objlist){r.v, r.n};
	return 0;
}

/* ------------------------------------------------------------------ handler */

static int
read_top(struct top_job *j, br_err *err)
{
	struct taskd_cgroup_dirs dirs = {0};
	_cleanup_free_ pid_t *pids = NULL;
	size_t n = 0;
	int rc;

	if (taskd_cgroup_of_pid(j->pid, &dirs, err) < 0)
		return -1;
	rc = taskd_cgroup_procs(&dirs, BR_TOP_PROCESSES_MAX, &pids, &n, err);
	taskd_cgroup_dirs_fini(&dirs);
	if (rc < 0)
		return -1;
	return j->ps_args != NULL ? top_ps(j, pids, n, err) : top_proc(j, pids, n, err);
}

static void
top_work(uv_work_t *w)
{
	struct top_job *j = w->data;

	j->rc = read_top(j, &j->err);
}

static void
top_done(uv_work_t *w, int status)
{
	struct top_job *j = w->data;
	struct container *c = j->c;

	taskd_work_done(j->t);
	if (j->rc < 0 && j->err.code == BR_NOT_FOUND) {
		br_call_failf(j->call, BR_FAILED_PRECONDITION, "container \"%s\" is not running",
		              c->name);
	} else if (j->rc < 0) {
		br_err_wrap(&j->err, "top of container \"%s\"", c->name);
		br_call_fail(j->call, &j->err);
	} else {
		br_call_reply(j->call, &br_task_top_resp_schema, &j->out);
	}
	container_unref(c);
	br_strv_free(j->ps_args);
	br_arena_free(j->arena);
	free(j);
}

void
taskd_tasks_top(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_task_top_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	for (size_t i = 0; i < req->ps_args.n; i++) {
		if (strlen(req->ps_args.v[i]) > BR_TOP_ARG_MAX) {
			br_call_failf(call, BR_INVALID_ARGUMENT,
			              "ps argument %zu: longer than %d bytes", i + 1,
			              BR_TOP_ARG_MAX);
			return;
		}
	}
	if (c->task != TASK_RUNNING || c->pid == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"%s\" is not running",
		              c->name);
		return;
	}
	struct top_job *j = xnew(struct top_job);
	j->t = t;
	j->call = call;
	j->c = c;
	j->pid = (pid_t)c->pid;
	j->arena = br_arena_new();
	if (req->ps_args.n > 0) {
		j->ps_args = xcalloc(req->ps_args.n + 1, sizeof(char *));
		for (size_t i = 0; i < req->ps_args.n; i++)
			j->ps_args[i] = xstrdup(req->ps_args.v[i]);
	}
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, top_work, top_done);
}
