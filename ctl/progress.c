/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Following a job of berth-imaged (pull, import, and whatever else runs as a job) to its end,
 * and showing its progress on the way. The job's layers come with every jobs.wait answer;
 * the follower asks for the changes after the version it last saw, at most every
 * PROGRESS_INTERVAL_MS, so a fast pull costs a few calls a second and a slow one no more.
 *
 * Three ways to show it, chosen by ctl_follow_job's caller and stderr:
 * - on a terminal: one line per layer ("a3ed95caeb02: downloading  12.3MiB/40.0MiB") and a
 *   total line with the speed, redrawn in place (cursor up, erase down), every line cut to
 *   the terminal's width so that nothing wraps; with more layers than the terminal has rows,
 *   the layers that are moving and one line counting the others;
 * - elsewhere (a pipe, a log): one plain line per change of a layer's state, no escapes;
 * - quiet: nothing but errors.
 * The result ("pulled NAME", or the bare name when quiet) goes to the caller's stream.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

#define JOB_WAIT_MS 1000
#define PROGRESS_INTERVAL_MS 500 /* a terminal is redrawn at most twice a second */
#define PLAIN_INTERVAL_MS 200    /* a plain follower sees most short states */
#define SPEED_SAMPLES 8          /* the speed is measured over the last few answers */
#define DISPLAY_LINE_MAX 512

void
ctl_progress_size(int64_t bytes, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)(bytes < 0 ? 0 : bytes);
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%lldB", (long long)(bytes < 0 ? 0 : bytes));
	else
		snprintf(buf, cap, "%.1f%s", v, units[u]);
}

/* The 12 hex digits that name a digest in the display ("a3ed95caeb02"). */
static void
short_hex(const char *digest, char *buf, size_t cap)
{
	const char *colon = digest ? strchr(digest, ':') : NULL;
	const char *hex = colon ? colon + 1 : (digest ? digest : "");

	snprintf(buf, cap, "%.12s", hex);
}

/* Cut `buf` to `width` columns (the display is ASCII: a byte is a column). */
static void
cut(char *buf, size_t width)
{
	if (width > 0 && strlen(buf) > width)
		buf[width] = '\0';
}

void
ctl_progress_layer_line(const struct br_job_item *it, size_t width, char *buf, size_t cap)
{
	char hex[16], done[32], size[32];

	short_hex(it->digest, hex, sizeof(hex));
	ctl_progress_size(it->done, done, sizeof(done));
	ctl_progress_size(it->size, size, sizeof(size));
	snprintf(buf, cap, "%s: %-12s %s/%s", hex, it->state ? it->state : "", done, size);
	cut(buf, width);
}

void
ctl_progress_total_line(const struct br_job *job, double bytes_per_s, size_t width, char *buf,
                        size_t cap)
{
	char done[32], total[32], speed[32];

	ctl_progress_size(job->done_bytes, done, sizeof(done));
	ctl_progress_size((int64_t)bytes_per_s, speed, sizeof(speed));
	if (job->total_bytes > 0) {
		ctl_progress_size(job->total_bytes, total, sizeof(total));
		snprintf(buf, cap, "total: %s/%s  %s/s  %s", done, total, speed,
		         job->message ? job->message : "");
	} else { /* not known yet, or nothing to fetch (an import copies its archive) */
		snprintf(buf, cap, "total: %s  %s/s  %s", done, speed,
		         job->message ? job->message : "");
	}
	cut(buf, width);
}

/* ------------------------------------------------------------------ following */

struct ctl_progress {
	const struct ctl_follow *opts;
	bool tty;
	size_t drawn; /* lines of the last drawing, the cursor below them */
	/* "digest state" printed last, per layer (plain mode) */
	char **states;
	size_t n_states;
	/* (time, bytes) of the last answers, for the speed */
	int64_t sample_ms[SPEED_SAMPLES];
	int64_t sample_bytes[SPEED_SAMPLES];
	size_t samples;
};

static void
terminal_size(size_t *ret_cols, size_t *ret_rows)
{
	struct winsize ws;

	*ret_cols = 80;
	*ret_rows = 24;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0) {
		if (ws.ws_col > 0)
			*ret_cols = ws.ws_col;
		if (ws.ws_row > 0)
			*ret_rows = ws.ws_row;
	}
}

static double
speed(struct ctl_progress *f, const struct br_job *job)
{
	size_t slot = f->samples % SPEED_SAMPLES;
	size_t oldest = f->samples < SPEED_SAMPLES ? 0 : (f->samples + 1) % SPEED_SAMPLES;

	f->sample_ms[slot] = ctl_now_ms();
	f->sample_bytes[slot] = job->done_bytes;
	f->samples++;
	int64_t ms = f->sample_ms[slot] - f->sample_ms[oldest];
	int64_t bytes = f->sample_bytes[slot] - f->sample_bytes[oldest];
	return ms > 0 && bytes > 0 ? (double)bytes * 1000.0 / (double)ms : 0.0;
}

static bool
moving(const struct br_job_item *it)
{
	/* downloading, verifying, unpacking, uploading, writing: all but the still ones */
	const char *s = it->state ? it->state : "";
	return s[0] != '\0' && strcmp(s, "waiting") != 0 && strcmp(s, "done") != 0 &&
	       strcmp(s, "exists") != 0;
}

/* Redraw the layers and the total line in place of the last drawing. */
static void
draw(struct ctl_progress *f, const struct br_job *job)
{
	const struct br_job_item *items = job->layers.v;
	size_t cols, rows, lines = 0;
	char line[DISPLAY_LINE_MAX];

	terminal_size(&cols, &rows);
	size_t width = cols > 1 ? cols - 1 : cols; /* the last column wraps on some terminals */
	size_t room = rows > 3 ? rows - 2 : 1;     /* layer lines that fit with the total */
	double bps = speed(f, job);

	if (f->drawn > 0)
		fprintf(stderr, "\r\033[%zuA", f->drawn);
	fputs("\r\033[J", stderr);
	size_t shown = 0, others = 0, done = 0;
	for (size_t i = 0; i < job->layers.n; i++) {
		bool fits = job->layers.n <= room || (moving(&items[i]) && shown + 1 < room);
		if (!fits) {
			others++;
			done += strcmp(items[i].state ? items[i].state : "", "waiting") != 0;
			continue;
		}
		ctl_progress_layer_line(&items[i], width, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
		shown++;
	}
	lines = shown;
	if (others > 0) {
		snprintf(line, sizeof(line), "... %zu more layers (%zu done or there, %zu waiting)",
		         others, done, others - done);
		cut(line, width);
		fprintf(stderr, "%s\n", line);
		lines++;
	}
	ctl_progress_total_line(job, bps, width, line, sizeof(line));
	fprintf(stderr, "%s\n", line);
	f->drawn = lines + 1;
	fflush(stderr);
}

/* One line per layer whose state is not the one printed last. */
static void
print_changes(struct ctl_progress *f, const struct br_job *job)
{
	const struct br_job_item *items = job->layers.v;
	char hex[16], size[32];

	if (job->layers.n > f->n_states) {
		f->states = xrealloc(f->states, job->layers.n * sizeof(*f->states));
		for (size_t i = f->n_states; i < job->layers.n; i++)
			f->states[i] = NULL;
		f->n_states = job->layers.n;
	}
	for (size_t i = 0; i < job->layers.n; i++) {
		const char *state = items[i].state ? items[i].state : "";
		/* the digest too: a job may list other items later (an import: its archive,
		 * then the layers) */
		_cleanup_free_ char *seen =
		        xasprintf("%s %s", items[i].digest ? items[i].digest : "", state);
		if (f->states[i] != NULL && strcmp(f->states[i], seen) == 0)
			continue;
		free(f->states[i]);
		f->states[i] = br_steal_ptr(&seen);
		short_hex(items[i].digest, hex, sizeof(hex));
		ctl_progress_size(items[i].size, size, sizeof(size));
		fprintf(stderr, "%s: %s %s\n", hex, state, size);
	}
	fflush(stderr);
}

static void
show(struct ctl_progress *f, const struct br_job *job)
{
	if (f->opts->quiet)
		return;
	if (f->tty)
		draw(f, job);
	else
		print_changes(f, job);
}

/* The end of a job: its result, or its error. Returns the exit code. */
static int
ended(const struct ctl_progress *f, const struct br_job *job)
{
	const struct ctl_follow *o = f->opts;
	const char *state = job->state ? job->state : "";

	if (strcmp(state, "done") == 0) {
		if (o->out == NULL)
			return 0;
		if (o->quiet)
			fprintf(o->out, "%s\n", job->result ? job->result : "");
		else
			fprintf(o->out, "%s %s\n", o->verb, job->result ? job->result : "");
		return 0;
	}
	if (strcmp(state, "canceled") == 0) {
		fprintf(stderr, "berth: %s: canceled\n", o->what);
		return ctl_exit_code(BR_CANCELED);
	}
	const char *code = job->error_code ? job->error_code : "INTERNAL";
	const char *msg = job->error_msg && job->error_msg[0] ? job->error_msg : code;
	size_t wl = strlen(o->what);
	/* imaged may already name the operation: do not say it twice */
	if (strncmp(msg, o->what, wl) == 0 && msg[wl] == ':')
		fprintf(stderr, "berth: %s\n", msg);
	else
		fprintf(stderr, "berth: %s: %s\n", o->what, msg);
	return ctl_exit_code(br_code_from_name(code, strlen(code)));
}

static int
cancel(struct ctl *ctl, const char *id, const struct ctl_follow *o)
{
	struct br_job_ref ref = {.id = id};
	br_err err = BR_ERR_INIT;

	if (ctl_call(ctl, "jobs.cancel", &br_job_ref_schema, &ref, NULL, NULL, NULL, 0, &err) < 0) {
		br_err_wrap(&err, "%s: cancel job %s", o->what, id);
		ctl_report(&err);
	} else {
		fprintf(stderr, "berth: %s: canceled\n", o->what);
	}
	return CTL_EXIT_INTERRUPTED;
}

static int
follow(struct ctl *ctl, const char *id, struct ctl_progress *f)
{
	const struct ctl_follow *o = f->opts;
	uint64_t seen = 0;
	br_err err = BR_ERR_INIT;

	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		/* Quiet: only the end matters. Else the changes after the version seen, the
		 * first one soon. */
		struct br_job_wait_req req = {.id = id, .timeout_ms = JOB_WAIT_MS};
		if (!o->quiet) {
			req.since_version = seen;
			req.interval_ms = seen == 0 ? 100
			                  : f->tty  ? PROGRESS_INTERVAL_MS
			                            : PLAIN_INTERVAL_MS;
		}
		struct br_job job;

		if (ctl_signal_last() != 0)
			return cancel(ctl, id, o);
		if (ctl_call(ctl, "jobs.wait", &br_job_wait_req_schema, &req, &br_job_schema, &job,
		             arena, JOB_WAIT_MS + 10000, &err) < 0) {
			br_err_wrap(&err, "%s", o->what);
			return ctl_report(&err);
		}
		if (job.progress_version > seen)
			seen = job.progress_version;
		const char *state = job.state ? job.state : "";
		if (strcmp(state, "running") == 0) {
			show(f, &job);
			continue;
		}
		return ctl_progress_end(f, &job);
	}
}

struct ctl_progress *
ctl_progress_new(const struct ctl_follow *opts)
{
	struct ctl_progress *f = xnew(struct ctl_progress);

	f->opts = opts;
	f->tty = isatty(STDERR_FILENO) == 1;
	return f;
}

void
ctl_progress_show(struct ctl_progress *f, const struct br_job *job)
{
	show(f, job);
}

int
ctl_progress_end(struct ctl_progress *f, const struct br_job *job)
{
	if (job->state != NULL && strcmp(job->state, "done") == 0)
		show(f, job); /* every layer done, and the final total */
	return ended(f, job);
}

void
ctl_progress_free(struct ctl_progress *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n_states; i++)
		free(f->states[i]);
	free(f->states);
	free(f);
}

int
ctl_follow_job(struct ctl *ctl, const char *id, const struct ctl_follow *opts)
{
	_cleanup_(ctl_progress_freep) struct ctl_progress *f = ctl_progress_new(opts);

	return follow(ctl, id, f);
}
