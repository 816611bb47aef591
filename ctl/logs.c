/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `berth logs [-f] [--tail N] [--since T] [--timestamps] CONTAINER`: the container's output
 * from its CRI log (common/crilog.h), read with tasks.logs from a cursor. Stdout records go to
 * stdout and stderr records to stderr, P parts joined into their line; --timestamps puts each
 * line's time first, as docker does. With -f it follows until the container has exited and
 * its output is drained, and keeps following through a restart of taskd or the gateway
 * (UNAVAILABLE, DEADLINE_EXCEEDED): the cursor lives here, so no line is lost or repeated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/crilog.h"
#include "common/proto/tasks.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

#define LOGS_WAIT_MS 20000 /* one long poll */
#define LOGS_CALL_MS 30000 /* its deadline */
#define LOGS_RETRY_MS 250  /* between calls while taskd or the gateway is away */

static const char logs_usage[] =
        "Usage: berth logs [-f] [--tail N] [--since TIME] [--timestamps] CONTAINER\n"
        "\n"
        "Print a container's output: its stdout to stdout, its stderr to stderr.\n"
        "\n"
        "Options:\n"
        "  -f, --follow       follow new output until the container exits\n"
        "  -n, --tail N       only the last N lines (\"all\": every line, the default)\n"
        "  --since TIME       only lines since TIME: RFC 3339 (2026-11-27T14:04:08Z),\n"
        "                     @UNIXTIME, UNIXTIME or a duration before now (10m, 1h30m)\n"
        "  -t, --timestamps   start each line with its time (RFC 3339, nanoseconds)\n";

/* What one stream's output needs across replies: whether the next record starts a line. */
struct stream_out {
	int fd;
	bool ok; /* writes still succeed */
	bool mid_line;
	char *buf;
	size_t len, cap;
};

static void
put(struct stream_out *o, const void *data, size_t len)
{
	if (o->len + len > o->cap) {
		o->cap = (o->len + len) * 2;
		o->buf = xrealloc(o->buf, o->cap);
	}
	memcpy(o->buf + o->len, data, len);
	o->len += len;
}

static void
flush_out(struct stream_out *o)
{
	br_err ignored = BR_ERR_INIT; /* a closed stdout: stop writing to it, go on with the rest */

	if (o->len > 0 && o->ok && br_write_all(o->fd, o->buf, o->len, &ignored) < 0)
		o->ok = false;
	o->len = 0;
}

/* Print the records of one reply. */
static void
print_records(const uint8_t *data, size_t len, bool timestamps, struct stream_out out[2])
{
	for (size_t start = 0; start < len;) {
		const uint8_t *nl = memchr(data + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - data) : len;
		struct br_crilog_line l;
		br_err ignored = BR_ERR_INIT;
		if (br_crilog_parse_line((const char *)data + start, end - start, &l, &ignored) ==
		    0) {
			struct stream_out *o = &out[l.stream == BR_CRILOG_STDERR ? 1 : 0];
			if (timestamps && !o->mid_line) {
				put(o, l.time, l.time_len);
				put(o, " ", 1);
			}
			put(o, l.content, l.len);
			if (!l.partial)
				put(o, "\n", 1);
			o->mid_line = l.partial;
		}
		start = end + 1;
	}
	flush_out(&out[0]);
	flush_out(&out[1]);
}

static void
sleep_retry(void)
{
	usleep(LOGS_RETRY_MS * 1000);
}

int
ctl_cmd_logs(struct ctl *ctl, int argc, char **argv)
{
	struct br_task_logs_req req = {.cri = true};
	struct stream_out out[2] = {{.fd = STDOUT_FILENO, .ok = true},
	                            {.fd = STDERR_FILENO, .ok = true}};
	bool follow = false, timestamps = false;
	const char *id = NULL;
	br_err err = BR_ERR_INIT;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(logs_usage, stdout);
			return 0;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--follow") == 0) {
			follow = true;
		} else if (strcmp(a, "-t") == 0 || strcmp(a, "--timestamps") == 0) {
			timestamps = true;
		} else if (strcmp(a, "-n") == 0 || strcmp(a, "--tail") == 0) {
			char *end = NULL;
			if (val == NULL)
				return ctl_usage_error("option %s needs a value", a);
			i++;
			if (strcmp(val, "all") == 0) {
				req.tail_set = false;
				continue;
			}
			errno = 0;
			long long n = strtoll(val, &end, 10);
			if (errno != 0 || end == val || *end != '\0' || n < 0)
				return ctl_usage_error(
				        "invalid --tail \"%s\": expected a count or all", val);
			req.tail_set = true;
			req.tail = n;
		} else if (strcmp(a, "--since") == 0) {
			struct ctl_event_bound b;
			if (val == NULL)
				return ctl_usage_error("option %s needs a value", a);
			i++;
			if (ctl_parse_event_bound(val, ctl_now_ms() * 1000000, &b, &err) < 0)
				return ctl_usage_error("invalid --since: %s", err.msg);
			/* Digits alone are seconds since the epoch here, as in docker. */
			req.since_ns = b.is_seq ? b.seq * 1000000000 : b.time;
			if (req.since_ns <= 0)
				req.since_ns = 1;
		} else if (a[0] == '-' && a[1] != '\0') {
			return ctl_usage_error("logs: unknown option %s", a);
		} else if (id == NULL) {
			id = a;
		} else {
			return ctl_usage_error("logs: unexpected argument %s", a);
		}
	}
	if (id == NULL)
		return ctl_usage_error("logs: a container is needed");
	req.id = id;
	req.wait_ms = follow ? LOGS_WAIT_MS : 0;

	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_task_logs_resp resp;
		if (ctl_call(ctl, "tasks.logs", &br_task_logs_req_schema, &req,
		             &br_task_logs_resp_schema, &resp, arena, LOGS_CALL_MS, &err) < 0) {
			if (follow &&
			    (err.code == BR_UNAVAILABLE || err.code == BR_DEADLINE_EXCEEDED)) {
				/* taskd or the gateway restarts: ask again from the cursor. */
				err = (br_err)BR_ERR_INIT;
				sleep_retry();
				continue;
			}
			br_err_wrap(&err, "logs of container %s", id);
			rc = ctl_report(&err);
			break;
		}
		print_records(resp.data.data, resp.data.len, timestamps, out);
		/* The start is chosen; from here on the cursor says where we are. */
		req.tail_set = false;
		req.since_ns = 0;
		req.file_id = resp.file_id;
		req.file_offset = resp.file_offset;
		if (resp.data.len == 0 && (resp.exited || !follow))
			break;
		if (!out[0].ok && !out[1].ok)
			break; /* nobody reads any more */
	}
	/* A last line cut without its newline stays as the container left it. */
	free(out[0].buf);
	free(out[1].buf);
	return rc;
}
