/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls that wait: tasks.wait until the exit, and tasks.logs until there is output past the
 * caller's cursor or the task exits. A parked call holds a timer (its own bound, never past
 * its deadline, and at most 30 s for logs); logs waiters are woken by a uv_fs_event on the
 * container's log directory (the shim appends to current.log there and rotates it) and by the
 * exit. The CRI log (common/crilog.h) is read on a worker, from a cursor, at most BR_CHUNK_MAX
 * bytes per reply; the cursor survives rotations and taskd restarts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/crilog.h"
#include "common/fsutil.h"
#include "common/proto/shim.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

#define DEADLINE_MARGIN_MS 100

enum waiter_kind { WAIT_EXIT, WAIT_LOGS };

struct waiter {
	struct waiter *next;
	enum waiter_kind kind;
	struct taskd *t;
	struct container *c;
	br_call *call;
	uv_timer_t timer;
	int64_t deadline; /* monotonic ms; 0 = none */
	struct br_task_logs_req logs;
};

struct read_job {
	uv_work_t work;
	struct taskd *t;
	struct container *c;
	br_call *call;
	struct br_task_logs_req req;
	int64_t deadline;
	bool stopped;        /* the task had exited (or there is none) before the files were read */
	uint64_t log_events; /* c->log_events when the read began */
	bool has_task;
	int64_t exit_status;
	/* results */
	int rc;
	br_err err;
	uint8_t *data; /* CRI records */
	size_t len;
	struct br_crilog_cursor next;
	bool at_end;
	uint8_t *out, *errdata; /* without req.cri: the records' contents by stream */
	size_t out_len, err_len;
};

static void read_start(struct taskd *t, struct container *c, br_call *call,
                       const struct br_task_logs_req *req, int64_t deadline);

/* ------------------------------------------------------------------ parking */

static void
waiter_closed(uv_handle_t *h)
{
	struct waiter *w = h->data;
	container_unref(w->c);
	free(w);
}

/* Take w out of its container's list and release it (the timer closes asynchronously). */
static void
waiter_unlink(struct waiter *w)
{
	for (struct waiter **p = &w->c->waiters; *p != NULL; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	uv_timer_stop(&w->timer);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void
answer_wait(struct waiter *w)
{
	struct br_task out;
	task_to_wire(w->c, &out);
	br_call_reply(w->call, &br_task_schema, &out);
}

static void
waiter_fire(struct waiter *w)
{
	if (w->kind == WAIT_EXIT)
		answer_wait(w);
	else
		read_start(w->t, w->c, w->call, &w->logs, w->deadline);
	waiter_unlink(w);
}

static void
waiter_timeout(uv_timer_t *timer)
{
	struct waiter *w = timer->data;

	if (w->kind == WAIT_LOGS)
		/* The last read: replies whatever it finds, even nothing. */
		w->deadline = br_now_ms();
	waiter_fire(w);
}

static void
fs_event_closed(uv_handle_t *h)
{
	free(h);
}

static void
fs_changed(uv_fs_event_t *ev, const char *name, int events, int status)
{
	struct container *c = ev->data;

	c->log_events++;
	if (c->waiters != NULL)
		taskd_wake_waiters(c->waiters->t, c, false);
}

/* Watch the log directory while logs waiters are parked. */
static void
ensure_fs_event(struct taskd *t, struct container *c)
{
	if (c->fs_event != NULL)
		return;
	uv_fs_event_t *ev = xnew(uv_fs_event_t);
	uv_fs_event_init(t->uv, ev);
	ev->data = c;
	if (uv_fs_event_start(ev, fs_changed, c->log_dir, 0) < 0) {
		/* No inotify: the waiters' timers still end the wait. */
		uv_close((uv_handle_t *)ev, fs_event_closed);
		return;
	}
	c->fs_event = ev;
}

static void
park(struct taskd *t, struct container *c, br_call *call, enum waiter_kind kind,
     const struct br_task_logs_req *logs, int64_t deadline)
{
	struct waiter *w = xnew(struct waiter);

	w->kind = kind;
	w->t = t;
	w->c = c;
	w->call = call;
	w->deadline = deadline;
	if (logs != NULL)
		w->logs = *logs;
	container_ref(c);
	uv_timer_init(t->uv, &w->timer);
	w->timer.data = w;
	if (deadline != 0) {
		int64_t left = deadline - br_now_ms();
		uv_timer_start(&w->timer, waiter_timeout, left > 0 ? (uint64_t)left : 0, 0);
	}
	w->next = c->waiters;
	c->waiters = w;
	if (kind == WAIT_LOGS)
		ensure_fs_event(t, c);
}

/* The absolute end of a wait: `timeout_ms` from now (<= 0: none), never past the call's
 * deadline (less a margin so the answer arrives in time), and for logs at most 30 s. */
static int64_t
wait_deadline(br_call *call, int64_t timeout_ms, bool bounded)
{
	int64_t now = br_now_ms();
	int64_t end = 0;
	int64_t call_deadline = br_call_deadline(call);

	/* A caller's number: capped at a year so that adding it cannot overflow. */
	if (timeout_ms > 0)
		end = now + (timeout_ms < BR_DEADLINE_MAX_MS ? timeout_ms : BR_DEADLINE_MAX_MS);
	if (bounded && (end == 0 || end > now + TASKD_LOGS_MAX_WAIT_MS))
		end = now + TASKD_LOGS_MAX_WAIT_MS;
	if (call_deadline != 0) {
		int64_t limit = call_deadline - DEADLINE_MARGIN_MS;
		if (limit < now)
			limit = now;
		if (end == 0 || end > limit)
			end = limit;
	}
	return end;
}

void
taskd_park_wait(struct taskd *t, struct container *c, br_call *call, int64_t timeout_ms)
{
	park(t, c, call, WAIT_EXIT, NULL, wait_deadline(call, timeout_ms, false));
}

void
taskd_wake_waiters(struct taskd *t, struct container *c, bool exited)
{
	struct waiter *w = c->waiters;

	while (w != NULL) {
		struct waiter *next = w->next;
		if (w->kind == WAIT_LOGS || exited)
			waiter_fire(w);
		w = next;
	}
}

void
taskd_flush_waiters(struct taskd *t, struct container *c)
{
	while (c->waiters != NULL) {
		struct waiter *w = c->waiters;
		if (w->kind == WAIT_LOGS)
			w->deadline = br_now_ms();
		waiter_fire(w);
	}
	if (c->fs_event != NULL) {
		uv_close((uv_handle_t *)c->fs_event, fs_event_closed);
		c->fs_event = NULL;
	}
}

/* ------------------------------------------------------------------ reading */

/* Split records into their contents by stream: F records get their newline back, P parts
 * are joined to what follows. A malformed record is skipped. */
static void
split_streams(struct read_job *j)
{
	j->out = xmalloc(j->len + 1);
	j->errdata = xmalloc(j->len + 1);
	for (size_t start = 0; start < j->len;) {
		const uint8_t *nl = memchr(j->data + start, '\n', j->len - start);
		size_t end = nl != NULL ? (size_t)(nl - j->data) : j->len;
		struct br_crilog_line l;
		br_err ignored = BR_ERR_INIT;
		if (br_crilog_parse_line((const char *)j->data + start, end - start, &l,
		                         &ignored) == 0) {
			uint8_t *dst = l.stream == BR_CRILOG_STDOUT ? j->out : j->errdata;
			size_t *dst_len = l.stream == BR_CRILOG_STDOUT ? &j->out_len : &j->err_len;
			memcpy(dst + *dst_len, l.content, l.len);
			*dst_len += l.len;
			if (!l.partial)
				dst[(*dst_len)++] = '\n';
		}
		start = end + 1;
	}
}

static void
read_work(uv_work_t *w)
{
	struct read_job *j = w->data;
	_cleanup_close_ int dirfd = open(j->c->log_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct br_crilog_cursor from = {j->req.file_id, j->req.file_offset};

	/* No directory yet: no task has written anything, an empty log. */
	j->rc = 0;
	if (from.file_id == 0 && from.offset == 0 && (j->req.tail_set || j->req.since_ns > 0))
		j->rc = br_crilog_seek(dirfd, j->req.tail_set ? j->req.tail : -1, j->req.since_ns,
		                       &from, &j->err);
	if (j->rc == 0)
		j->rc = br_crilog_read(dirfd, &from, BR_CHUNK_MAX, &j->data, &j->len, &j->next,
		                       &j->at_end, &j->err);
	if (j->rc == 0 && !j->req.cri)
		split_streams(j);
}

static void
read_done(uv_work_t *w, int status)
{
	struct read_job *j = w->data;
	struct taskd *t = j->t;
	struct container *c = j->c;

	taskd_work_done(t);
	if (j->rc < 0) {
		br_err_wrap(&j->err, "logs of container \"%s\"", c->id);
		br_call_fail(j->call, &j->err);
		goto out;
	}
	struct br_task_logs_resp resp = {
	        .file_id = j->next.file_id,
	        .file_offset = j->next.offset,
	        /* the cursor for a client of the two-offset protocol (see proto/tasks.h) */
	        .stdout_offset = j->next.offset,
	        .stderr_offset = j->next.file_id,
	};
	if (j->req.cri) {
		resp.data = (struct br_bytes){j->data, j->len};
	} else {
		resp.stdout_data = (struct br_bytes){j->out, j->out_len};
		resp.stderr_data = (struct br_bytes){j->errdata, j->err_len};
	}
	resp.exited = j->stopped && j->at_end;
	resp.exit_status = resp.exited ? j->exit_status : 0;
	bool empty = j->len == 0;
	bool time_up = j->deadline == 0 || br_now_ms() >= j->deadline;
	if (empty && !resp.exited && !time_up && !t->stopping && j->has_task) {
		/* Nothing new yet: park until output, the exit or the deadline. Output that
		 * arrived since the read wakes nobody, so look once more right away when
		 * the state changed meanwhile. */
		struct br_task_logs_req next = j->req;
		next.file_id = j->next.file_id;
		next.file_offset = j->next.offset;
		next.tail_set = false; /* the start was chosen: from here on, the cursor */
		next.since_ns = 0;
		if (c->task != TASK_RUNNING || c->log_events != j->log_events)
			read_start(t, c, j->call, &next, j->deadline);
		else
			park(t, c, j->call, WAIT_LOGS, &next, j->deadline);
		goto out;
	}
	br_call_reply(j->call, &br_task_logs_resp_schema, &resp);
	if (resp.exited && empty && !j->req.cri)
		taskd_supervise_drained(t, c); /* a follower has the whole output */
out:
	container_unref(c);
	free(j->data);
	free(j->out);
	free(j->errdata);
	free(j);
}

static void
read_start(struct taskd *t, struct container *c, br_call *call, const struct br_task_logs_req *req,
           int64_t deadline)
{
	struct read_job *j = xnew(struct read_job);

	j->t = t;
	j->c = c;
	j->call = call;
	j->req = *req;
	j->deadline = deadline;
	/* Captured before reading: the shim finishes the logs before it announces the exit,
	 * so a task seen stopped here has complete files. */
	j->stopped = c->task == TASK_STOPPED || (c->task == TASK_NONE && !c->busy);
	j->has_task = c->task != TASK_NONE || c->busy;
	j->exit_status = c->exit_status;
	j->log_events = c->log_events;
	j->work.data = j;
	container_ref(c);
	taskd_queue(t, &j->work, read_work, read_done);
}

void
taskd_tasks_logs(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_task_logs_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, br_call_ns(call), req->id, &err);

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	struct br_task_logs_req r = *req;
	/* A client of the two-offset protocol carries the cursor in them (see proto/tasks.h). */
	if (!r.cri && r.file_id == 0 && r.file_offset == 0) {
		r.file_id = r.stderr_offset;
		r.file_offset = r.stdout_offset;
	}
	if (r.file_id < 0 || r.file_offset < 0 || (r.file_id == 0 && r.file_offset != 0) ||
	    (r.tail_set && r.tail < 0) || r.since_ns < 0) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "log cursor, tail and since must not be negative");
		return;
	}
	int64_t deadline = req->wait_ms > 0 ? wait_deadline(call, req->wait_ms, true) : 0;
	if (deadline != 0 && !r.cri)
		c->follower_seen_ms = br_now_ms(); /* auto_remove lets it read the end */
	/* Watch before reading, so output written during the read is not missed. */
	if (deadline != 0 && c->task == TASK_RUNNING)
		ensure_fs_event(t, c);
	read_start(t, c, call, &r, deadline);
}

int
taskd_logs_remove(const char *log_dir, br_err *err)
{
	_cleanup_free_ char *parent = xstrdup(log_dir);
	char *slash = strrchr(parent, '/');

	if (slash == NULL)
		return br_err_set(err, BR_INTERNAL, "log dir %s: not an absolute path", log_dir);
	*slash = '\0';
	_cleanup_close_ int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return errno == ENOENT ? 0
		                       : br_err_errno(err, BR_INTERNAL, errno, "open %s", parent);
	if (br_rm_rf_at(dirfd, slash + 1, err) < 0)
		return br_err_wrap(err, "remove logs %s", log_dir);
	return 0;
}
