/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the CLI's pure pieces: exit codes per error code, `berth run` start-failure
 * codes, human sizes, durations and ages, short digests, truncation, table alignment, and
 * the parsing of --timeout, -e and `berth run` options (--label too), signal names and `ps
 * --filter`; the option parser every command uses and its errors, labels, published ports as
 * ps and port show them, and network create's subnet and gateway checks.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/proto/networks.h"
#include "common/proto/tasks.h"
#include "common/signal_name.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"
#include "ctl/run.h"
#include "t.h"

static void
test_exit_codes(void)
{
	T_EQ_INT(ctl_exit_code(BR_OK), 0);
	T_EQ_INT(ctl_exit_code(BR_INVALID_ARGUMENT), 2);
	T_EQ_INT(ctl_exit_code(BR_NOT_FOUND), 3);
	T_EQ_INT(ctl_exit_code(BR_ALREADY_EXISTS), 4);
	T_EQ_INT(ctl_exit_code(BR_FAILED_PRECONDITION), 5);
	T_EQ_INT(ctl_exit_code(BR_UNAVAILABLE), 6);
	T_EQ_INT(ctl_exit_code(BR_DEADLINE_EXCEEDED), 7);
	T_EQ_INT(ctl_exit_code(BR_PERMISSION_DENIED), 8);
	T_EQ_INT(ctl_exit_code(BR_CANCELED), 9);
	T_EQ_INT(ctl_exit_code(BR_RESOURCE_EXHAUSTED), 10);
	T_EQ_INT(ctl_exit_code(BR_NOT_IMPLEMENTED), 11);
	T_EQ_INT(ctl_exit_code(BR_INTERNAL), 1);
	T_EQ_INT(ctl_exit_code(br_code_from_name("SOMETHING_NEW", 13)), 1);
	T_EQ_INT(ctl_exit_code(br_code_from_name("CANCELED", 8)), 9);
}

static void
test_start_exit_codes(void)
{
	br_err err = BR_ERR_INIT;

	br_err_set(&err, BR_NOT_FOUND,
	           "start container \"c1\": runc create failed: exec: \"nope\": executable file "
	           "not found in $PATH");
	T_EQ_INT(ctl_run_start_exit_code(&err), 127);
	br_err_set(&err, BR_PERMISSION_DENIED, "start container \"c1\": permission denied");
	T_EQ_INT(ctl_run_start_exit_code(&err), 126);
	br_err_set(&err, BR_FAILED_PRECONDITION, "start container \"c1\": busy");
	T_EQ_INT(ctl_run_start_exit_code(&err), 125);
	br_err_set(&err, BR_UNAVAILABLE, "berth-taskd is unavailable");
	T_EQ_INT(ctl_run_start_exit_code(&err), 125);
	/* decided by the code alone: a container that went meanwhile is told apart by asking
	 * for it (run.c), never by the message */
	br_err_set(&err, BR_NOT_FOUND, "container \"c1\": no such container");
	T_EQ_INT(ctl_run_start_exit_code(&err), 127);
}

static void
test_human_size(void)
{
	char b[32];

	ctl_human_size(0, b, sizeof(b));
	T_EQ_STR(b, "0B");
	ctl_human_size(512, b, sizeof(b));
	T_EQ_STR(b, "512B");
	ctl_human_size(1500, b, sizeof(b));
	T_EQ_STR(b, "1.5kB");
	ctl_human_size(12345678, b, sizeof(b));
	T_EQ_STR(b, "12.3MB");
	ctl_human_size(2050000000LL, b, sizeof(b));
	T_EQ_STR(b, "2.05GB");
	ctl_human_size(-5, b, sizeof(b));
	T_EQ_STR(b, "0B");
}

static void
test_progress_lines(void)
{
	char buf[256];

	ctl_progress_size(0, buf, sizeof(buf));
	T_EQ_STR(buf, "0B");
	ctl_progress_size(1023, buf, sizeof(buf));
	T_EQ_STR(buf, "1023B");
	ctl_progress_size(1024, buf, sizeof(buf));
	T_EQ_STR(buf, "1.0KiB");
	ctl_progress_size(12897485, buf, sizeof(buf));
	T_EQ_STR(buf, "12.3MiB");
	ctl_progress_size(-5, buf, sizeof(buf));
	T_EQ_STR(buf, "0B");

	struct br_job_item it = {
	        .digest = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4",
	        .size = 40 * 1024 * 1024,
	        .done = 12897485,
	        .state = "downloading",
	};
	ctl_progress_layer_line(&it, 0, buf, sizeof(buf));
	T_EQ_STR(buf, "a3ed95caeb02: downloading  12.3MiB/40.0MiB");
	/* cut to the width, never wrapped */
	ctl_progress_layer_line(&it, 20, buf, sizeof(buf));
	T_EQ_STR(buf, "a3ed95caeb02: downlo");
	struct br_job job = {
	        .done_bytes = 12897485,
	        .total_bytes = 80 * 1024 * 1024,
	        .message = "unpack layer 1/2",
	};
	ctl_progress_total_line(&job, 4.5 * 1024 * 1024, 0, buf, sizeof(buf));
	T_EQ_STR(buf, "total: 12.3MiB/80.0MiB  4.5MiB/s  unpack layer 1/2");
	ctl_progress_total_line(&job, 0, 14, buf, sizeof(buf));
	T_EQ_STR(buf, "total: 12.3MiB");
	job.total_bytes = 0; /* nothing known to fetch: bytes moved alone */
	job.message = "copy blob";
	ctl_progress_total_line(&job, 2048, 0, buf, sizeof(buf));
	T_EQ_STR(buf, "total: 12.3MiB  2.0KiB/s  copy blob");
}

static void
test_human_duration(void)
{
	char b[32];

	ctl_human_duration(850, b, sizeof(b));
	T_EQ_STR(b, "850ms");
	ctl_human_duration(3000, b, sizeof(b));
	T_EQ_STR(b, "3s");
	ctl_human_duration(252000, b, sizeof(b));
	T_EQ_STR(b, "4m12s");
	ctl_human_duration((2 * 3600 + 5 * 60 + 7) * 1000LL, b, sizeof(b));
	T_EQ_STR(b, "2h5m");
	ctl_human_duration((3 * 86400 + 4 * 3600) * 1000LL, b, sizeof(b));
	T_EQ_STR(b, "3d4h");
}

static void
test_human_since(void)
{
	char b[64];
	int64_t now = 1700000000000LL;

	ctl_human_since(now - 200, now, b, sizeof(b));
	T_EQ_STR(b, "Less than a second ago");
	ctl_human_since(now - 1000, now, b, sizeof(b));
	T_EQ_STR(b, "1 second ago");
	ctl_human_since(now - 42000, now, b, sizeof(b));
	T_EQ_STR(b, "42 seconds ago");
	ctl_human_since(now - 90000, now, b, sizeof(b));
	T_EQ_STR(b, "About a minute ago");
	ctl_human_since(now - 120000, now, b, sizeof(b));
	T_EQ_STR(b, "2 minutes ago");
	ctl_human_since(now - 3700000LL, now, b, sizeof(b));
	T_EQ_STR(b, "About an hour ago");
	ctl_human_since(now - 5 * 3600000LL, now, b, sizeof(b));
	T_EQ_STR(b, "5 hours ago");
	ctl_human_since(now - 3 * 86400000LL, now, b, sizeof(b));
	T_EQ_STR(b, "3 days ago");
	ctl_human_since(now - 21 * 86400000LL, now, b, sizeof(b));
	T_EQ_STR(b, "3 weeks ago");
	ctl_human_since(now - 400 * 86400000LL, now, b, sizeof(b));
	T_EQ_STR(b, "13 months ago");
	ctl_human_since(now - 800 * 86400000LL, now, b, sizeof(b));
	T_EQ_STR(b, "2 years ago");
	ctl_human_since(now + 5000, now, b, sizeof(b)); /* clock skew */
	T_EQ_STR(b, "Less than a second ago");
	ctl_human_since(0, now, b, sizeof(b));
	T_EQ_STR(b, "N/A");
}

static void
test_short_digest_and_truncate(void)
{
	char b[80];

	ctl_short_digest("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	                 b, sizeof(b));
	T_EQ_STR(b, "sha256:0123456789ab");
	ctl_short_digest(NULL, b, sizeof(b));
	T_EQ_STR(b, "<none>");
	ctl_truncate("sh -c echo hello", 30, b, sizeof(b));
	T_EQ_STR(b, "sh -c echo hello");
	ctl_truncate("sh -c while true; do echo hello world; sleep 1; done", 30, b, sizeof(b));
	T_EQ_STR(b, "sh -c while true; do echo h...");
	T_EQ_INT(strlen(b), 30);

	const char *words[] = {"sh", "-c", "echo hi"};
	char *j = ctl_join(words, 3);
	T_EQ_STR(j, "sh -c echo hi");
	free(j);
	j = ctl_join(NULL, 0);
	T_EQ_STR(j, "");
	free(j);
}

static void
test_table_alignment(void)
{
	static const char *const headers[] = {"NAME", "SIZE", "CREATED"};
	const char *r1[] = {"busybox:latest", "1.2MB", "2 minutes ago"};
	const char *r2[] = {"a", NULL, "x"};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	struct ctl_table *t = ctl_table_new(3, headers);
	ctl_table_add(t, r1);
	ctl_table_add(t, r2);
	ctl_table_print(t, f);
	ctl_table_free(t);
	fclose(f);
	T_EQ_STR(buf, "NAME             SIZE    CREATED\n"
	              "busybox:latest   1.2MB   2 minutes ago\n"
	              "a                        x\n");
	free(buf);
}

static void
test_parse_timeout(void)
{
	br_err err = BR_ERR_INIT;
	int64_t ms = 0;

	T_NOERR(ctl_parse_timeout("5", &ms, &err), err);
	T_EQ_INT(ms, 5000);
	T_NOERR(ctl_parse_timeout("0.25", &ms, &err), err);
	T_EQ_INT(ms, 250);
	T_ERR(ctl_parse_timeout("0", &ms, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_parse_timeout("-1", &ms, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_parse_timeout("5s", &ms, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_parse_timeout("nan", &ms, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "--timeout \"nan\"") != NULL);
}

static void
test_check_env(void)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_check_env("A=1", &err), err);
	T_NOERR(ctl_check_env("A=", &err), err);
	T_NOERR(ctl_check_env("A=b=c", &err), err);
	T_ERR(ctl_check_env("A", &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid environment \"A\": expected KEY=VALUE");
	T_ERR(ctl_check_env("=1", &err), err, BR_INVALID_ARGUMENT);
}

static void
test_run_parse(void)
{
	char *argv[] = {"run",       "--rm",    "-e",           "A=1",     "--env",
	                "B=2",       "--name",  "c1",           "--net",   "none",
	                "--runtime", "runc",    "--entrypoint", "/bin/sh", "busybox",
	                "-c",        "echo hi", "--rm",         NULL};
	int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
	struct ctl_run_opts o;
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_run_parse(argc, argv, &o, &err), err);
	T_OK(o.rm);
	T_OK(!o.detach);
	T_EQ_STR(o.name, "c1");
	T_EQ_STR(o.net, "none");
	T_EQ_STR(o.runtime, "runc");
	T_EQ_STR(o.entrypoint, "/bin/sh");
	T_EQ_STR(o.image, "busybox");
	T_EQ_INT(o.nenv, 2);
	T_EQ_STR(o.env[0], "A=1");
	T_EQ_STR(o.env[1], "B=2");
	/* everything after IMAGE is the command, options included */
	T_EQ_INT(o.nargs, 3);
	T_EQ_STR(o.args[0], "-c");
	T_EQ_STR(o.args[1], "echo hi");
	T_EQ_STR(o.args[2], "--rm");
	ctl_run_opts_free(&o);

	char *argv2[] = {"run", "-d", "alpine", NULL};
	T_NOERR(ctl_run_parse(3, argv2, &o, &err), err);
	T_OK(o.detach);
	T_EQ_INT(o.nargs, 0);
	T_NULL(o.name);
	ctl_run_opts_free(&o);
}

static void
test_run_parse_errors(void)
{
	struct ctl_run_opts o;
	br_err err = BR_ERR_INIT;

	char *a1[] = {"run", "--net", "a b", "x", NULL};
	T_ERR(ctl_run_parse(4, a1, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --net \"a b\": expected none, host or a network's name "
	                  "([A-Za-z0-9][A-Za-z0-9_.-]{0,63})");
	char *a12[] = {"run", "--net", "bridge", "x", NULL}; /* a network's name */
	T_NOERR(ctl_run_parse(4, a12, &o, &err), err);
	T_EQ_STR(o.net, "bridge");
	ctl_run_opts_free(&o);
	char *a2[] = {"run", "--rm", NULL};
	T_ERR(ctl_run_parse(2, a2, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "run needs an IMAGE");
	char *a3[] = {"run", "-e", "NOEQ", "x", NULL};
	T_ERR(ctl_run_parse(4, a3, &o, &err), err, BR_INVALID_ARGUMENT);
	char *a4[] = {"run", "--bogus", "x", NULL};
	T_ERR(ctl_run_parse(3, a4, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "run: unknown option --bogus");
	char *a5[] = {"run", "--name", "../x", "img", NULL};
	T_ERR(ctl_run_parse(4, a5, &o, &err), err, BR_INVALID_ARGUMENT);
	char *a6[] = {"run", "--rm", "--restart", "always", "img", NULL};
	T_ERR(ctl_run_parse(5, a6, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "--rm cannot be combined with --restart always");
	char *a8[] = {"run", "--restart", "on-failure:x", "img", NULL};
	T_ERR(ctl_run_parse(4, a8, &o, &err), err, BR_INVALID_ARGUMENT);
	char *a9[] = {"run", "--restart", "sometimes", "img", NULL};
	T_ERR(ctl_run_parse(4, a9, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --restart \"sometimes\": expected no, on-failure[:N], always "
	                  "or unless-stopped");
	char *a10[] = {"run", "--rm", "-d", "--restart=no", "img", NULL};
	T_NOERR(ctl_run_parse(5, a10, &o, &err), err);
	T_OK(o.rm && o.detach);
	ctl_run_opts_free(&o);
	char *a11[] = {"run", "--restart", "on-failure:2", "img", NULL};
	T_NOERR(ctl_run_parse(4, a11, &o, &err), err);
	T_EQ_STR(o.restart_policy, "on-failure");
	T_EQ_INT(o.restart_max, 2);
	ctl_run_opts_free(&o);
	char *a7[] = {"run", "--name", NULL};
	T_ERR(ctl_run_parse(2, a7, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "option --name needs a value");
}

static void
test_event_bounds(void)
{
	const int64_t s = 1000000000;
	const int64_t now = 1795788248 * s; /* 2026-11-27T14:04:08Z */
	struct ctl_event_bound b;
	br_err err = BR_ERR_INIT;
	char buf[64];

	T_NOERR(ctl_parse_event_bound("0", now, &b, &err), err);
	T_OK(b.is_seq);
	T_EQ_INT(b.seq, 0);
	T_NOERR(ctl_parse_event_bound("4711", now, &b, &err), err);
	T_OK(b.is_seq);
	T_EQ_INT(b.seq, 4711);
	T_NOERR(ctl_parse_event_bound("2026-11-27T14:04:08Z", now, &b, &err), err);
	T_OK(!b.is_seq);
	T_EQ_INT(b.time, now);
	T_NOERR(ctl_parse_event_bound("2026-11-27T15:04:08.25+01:00", now, &b, &err), err);
	T_EQ_INT(b.time, now + s / 4);
	T_NOERR(ctl_parse_event_bound("@1795788248.5", now, &b, &err), err);
	T_EQ_INT(b.time, now + s / 2);
	T_NOERR(ctl_parse_event_bound("10m", now, &b, &err), err);
	T_EQ_INT(b.time, now - 600 * s);
	T_NOERR(ctl_parse_event_bound("1h30m", now, &b, &err), err);
	T_EQ_INT(b.time, now - 5400 * s);
	const char *bad[] = {"",  "-3",  "10x",  "2026-11-27",          "2026-11-27T14:04:08",
	                     "@", "@-1", "1h30", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (br_err)BR_ERR_INIT;
		T_ERR(ctl_parse_event_bound(bad[i], now, &b, &err), err, BR_INVALID_ARGUMENT);
	}
	T_OK(strstr(err.msg, "is neither a sequence number") != NULL);
	ctl_format_time_ns(now + 123456789, buf, sizeof(buf));
	T_EQ_STR(buf, "2026-11-27T14:04:08.123456789Z");
	/* what is printed parses back */
	T_NOERR(ctl_parse_event_bound(buf, now, &b, &err), err);
	T_EQ_INT(b.time, now + 123456789);
}

static void
test_signal_parse(void)
{
	T_EQ_INT(br_signal_parse("KILL"), 9);
	T_EQ_INT(br_signal_parse("SIGKILL"), 9);
	T_EQ_INT(br_signal_parse("sigterm"), 15);
	T_EQ_INT(br_signal_parse("9"), 9);
	T_EQ_INT(br_signal_parse("64"), 64);
	T_EQ_INT(br_signal_parse("SIGUSR1"), 10);
	T_EQ_INT(br_signal_parse("WINCH"), 28);
	const char *bad[] = {NULL, "", "0", "65", "-1", "9x", "SIG", "BOGUS", "SIGKILLX"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_EQ_INT(br_signal_parse(bad[i]), 0);
}

static void
test_ps_filter(void)
{
	const char *keys[] = {"tier", "solo"}, *values[] = {"web", ""};
	struct br_container web = {.id = "web-1", .status = "running", .labels = {keys, values, 2}};
	struct br_container db = {.id = "db-1", .status = "stopped"};
	struct ctl_ps_filter f = {0};
	br_err err = BR_ERR_INIT;
	char s1[] = "status=running,status=exited", s2[] = "name=web", s3[] = "label=tier=web",
	     s4[] = "label=solo", s5[] = "label=tier=db";

	T_OK(ctl_ps_filter_match(&f, &web)); /* no filter: everything */
	T_NOERR(ctl_ps_filter_add(&f, s1, &err), err);
	T_EQ_STR(f.status[1], "stopped"); /* docker's "exited" */
	T_OK(ctl_ps_filter_match(&f, &web) && ctl_ps_filter_match(&f, &db));
	T_NOERR(ctl_ps_filter_add(&f, s2, &err), err);
	T_OK(ctl_ps_filter_match(&f, &web) && !ctl_ps_filter_match(&f, &db));
	T_NOERR(ctl_ps_filter_add(&f, s3, &err), err);
	T_NOERR(ctl_ps_filter_add(&f, s4, &err), err);
	T_OK(ctl_ps_filter_match(&f, &web));
	T_NOERR(ctl_ps_filter_add(&f, s5, &err), err); /* labels must all match */
	T_OK(!ctl_ps_filter_match(&f, &web));
	ctl_ps_filter_fini(&f);

	char b1[] = "status=dead", b2[] = "color=red", b3[] = "name", b4[] = "name=";
	char *bad[] = {b1, b2, b3, b4};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (br_err)BR_ERR_INIT;
		T_ERR(ctl_ps_filter_add(&f, bad[i], &err), err, BR_INVALID_ARGUMENT);
		ctl_ps_filter_fini(&f);
	}
}

static void
test_run_parse_labels(void)
{
	char *argv[] = {"create", "-l", "a=1", "--label", "b", "--label", "c=x=y", "img", NULL};
	struct ctl_run_opts o;
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_run_parse(8, argv, &o, &err), err);
	T_EQ_INT(o.nlabels, 3);
	T_EQ_STR(o.label_keys[0], "a");
	T_EQ_STR(o.label_values[0], "1");
	T_EQ_STR(o.label_keys[1], "b");
	T_EQ_STR(o.label_values[1], "");
	T_EQ_STR(o.label_keys[2], "c");
	T_EQ_STR(o.label_values[2], "x=y");
	T_EQ_STR(o.image, "img");
	ctl_run_opts_free(&o);

	char *bad[] = {"create", "--label", "=v", "img", NULL};
	T_ERR(ctl_run_parse(4, bad, &o, &err), err, BR_INVALID_ARGUMENT);
	char *unknown[] = {"create", "--bogus", "img", NULL};
	err = (br_err)BR_ERR_INIT;
	T_ERR(ctl_run_parse(3, unknown, &o, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "create: unknown option --bogus") != NULL);
}

/* Options read by ctl_opts: each error names the option as it was typed. */
static int
opts_error(int argc, char **argv, br_err *err)
{
	static const struct option longopts[] = {
	        {"name", required_argument, NULL, 'N'},
	        {"rm", no_argument, NULL, 'r'},
	        {"time", required_argument, NULL, 't'},
	        {NULL, 0, NULL, 0},
	};
	struct ctl_opts op = {argc, argv, "+qt:", longopts, "cmd"};
	int c;

	*err = (br_err)BR_ERR_INIT;
	while ((c = ctl_opts_next_err(&op, err)) != -1)
		if (c == '?')
			return -1;
	return optind;
}

static void
test_opts(void)
{
	br_err err;
	char *ok[] = {"cmd", "-q", "--name=x", "--rm", "-t", "5", "--time", "6", "arg", "-q", NULL};
	T_EQ_INT(opts_error(10, ok, &err), 8); /* '+': options end at the first operand */
	char *a[] = {"cmd", "--name", NULL};
	T_EQ_INT(opts_error(2, a, &err), -1);
	T_EQ_STR(err.msg, "option --name needs a value");
	T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
	char *b[] = {"cmd", "-qt", NULL};
	T_EQ_INT(opts_error(2, b, &err), -1);
	T_EQ_STR(err.msg, "option -t needs a value");
	char *c[] = {"cmd", "--bogus=3", NULL};
	T_EQ_INT(opts_error(2, c, &err), -1);
	T_EQ_STR(err.msg, "cmd: unknown option --bogus");
	char *d[] = {"cmd", "--name=foo", "-zq", NULL};
	T_EQ_INT(opts_error(3, d, &err), -1);
	T_EQ_STR(err.msg, "cmd: unknown option -z");
	char *e[] = {"cmd", "-qz", NULL};
	T_EQ_INT(opts_error(2, e, &err), -1);
	T_EQ_STR(err.msg, "cmd: unknown option -z");
	char *f[] = {"cmd", "--rm=1", NULL};
	T_EQ_INT(opts_error(2, f, &err), -1);
	T_EQ_STR(err.msg, "option --rm takes no value");
	/* a second parse starts afresh */
	T_EQ_INT(opts_error(10, ok, &err), 8);
}

static void
test_labels(void)
{
	br_arena *arena = br_arena_new();
	struct ctl_labels l = {0};
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_labels_add(&l, "a=1", arena, &err), err);
	T_NOERR(ctl_labels_add(&l, "b", arena, &err), err);
	T_NOERR(ctl_labels_add(&l, "c=x=y", arena, &err), err);
	T_EQ_INT(l.n, 3);
	T_EQ_STR(l.keys[0], "a");
	T_EQ_STR(l.values[0], "1");
	T_EQ_STR(l.keys[1], "b");
	T_EQ_STR(l.values[1], "");
	T_EQ_STR(l.keys[2], "c");
	T_EQ_STR(l.values[2], "x=y");
	T_ERR(ctl_labels_add(&l, "=v", arena, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --label \"=v\": expected KEY[=VALUE]");
	T_ERR(ctl_labels_add(&l, "", arena, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_INT(l.n, 3);
	ctl_labels_fini(&l);
	br_arena_free(arena);
}

static void
test_ports_text(void)
{
	struct br_net_port ports[] = {
	        {.host_ip = "", .host_port = 8080, .container_port = 80, .protocol = "tcp"},
	        {.host_ip = "127.0.0.1",
	         .host_port = 5353,
	         .container_port = 53,
	         .protocol = "udp"},
	        {.host_ip = NULL, .host_port = 9000, .container_port = 9000, .protocol = NULL},
	};
	char buf[256], small[24];

	ctl_port_host(&ports[0], buf, sizeof(buf));
	T_EQ_STR(buf, "0.0.0.0:8080");
	ctl_port_host(&ports[1], buf, sizeof(buf));
	T_EQ_STR(buf, "127.0.0.1:5353");
	ctl_ports_summary(ports, 3, buf, sizeof(buf));
	T_EQ_STR(buf, "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:9000->9000/tcp");
	ctl_ports_summary(ports, 0, buf, sizeof(buf));
	T_EQ_STR(buf, "");
	ctl_ports_summary(ports, 3, small, sizeof(small)); /* cut, never overrun */
	T_EQ_STR(small, "0.0.0.0:8080->80/tcp, 1");

	uint32_t port;
	const char *protocol;
	br_err err = BR_ERR_INIT;
	T_NOERR(ctl_parse_port_filter("80", &port, &protocol, &err), err);
	T_EQ_INT(port, 80);
	T_EQ_STR(protocol, "tcp");
	T_NOERR(ctl_parse_port_filter("53/UDP", &port, &protocol, &err), err);
	T_EQ_INT(port, 53);
	T_EQ_STR(protocol, "udp");
	const char *bad[] = {"", "0", "65536", "80/sctp", "x", "/tcp", "-1", "123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = (br_err)BR_ERR_INIT;
		T_ERR(ctl_parse_port_filter(bad[i], &port, &protocol, &err), err,
		      BR_INVALID_ARGUMENT);
	}
	T_EQ_STR(err.msg, "invalid port \"123456\": expected PORT[/tcp|udp], PORT from 1 to 65535");
}

static void
test_check_subnet(void)
{
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_check_subnet(NULL, NULL, &err), err);
	T_NOERR(ctl_check_subnet("10.89.0.0/24", NULL, &err), err);
	T_NOERR(ctl_check_subnet("10.89.0.0/24", "10.89.0.1", &err), err);
	T_NOERR(ctl_check_subnet("10.89.0.0/24", "10.89.0.254", &err), err);
	T_NOERR(ctl_check_subnet("172.16.0.0/12", "172.31.255.1", &err), err);
	T_ERR(ctl_check_subnet("10.89.0.1/24", NULL, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --subnet \"10.89.0.1/24\": host bits are set (the network is "
	                  "10.89.0.0/24)");
	const char *bad_subnets[] = {"10.89.0.0",   "10.89.0.0/",    "10.89.0.0/31",
	                             "10.89.0.0/0", "10.89.0/24",    "10.89.0.0/2x",
	                             "fd00::/64",   "10.89.0.0/024", "x/24"};
	for (size_t i = 0; i < sizeof(bad_subnets) / sizeof(bad_subnets[0]); i++) {
		err = (br_err)BR_ERR_INIT;
		T_ERR(ctl_check_subnet(bad_subnets[i], NULL, &err), err, BR_INVALID_ARGUMENT);
	}
	T_OK(strstr(err.msg, "expected an IPv4 network such as 10.89.0.0/24") != NULL);
	T_ERR(ctl_check_subnet("10.89.0.0/24", "10.89.0.0", &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --gateway \"10.89.0.0\": not a host address of 10.89.0.0/24");
	T_ERR(ctl_check_subnet("10.89.0.0/24", "10.89.0.255", &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_check_subnet("10.89.0.0/24", "10.89.1.1", &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_check_subnet("10.89.0.0/24", "gw", &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid --gateway \"gw\": expected an IPv4 address");
	T_ERR(ctl_check_subnet(NULL, "10.89.0.1", &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "--gateway 10.89.0.1 needs --subnet (the network it is an address of)");
}

T_MAIN(T_CASE(test_exit_codes), T_CASE(test_start_exit_codes), T_CASE(test_human_size),
       T_CASE(test_progress_lines), T_CASE(test_human_duration), T_CASE(test_human_since),
       T_CASE(test_short_digest_and_truncate), T_CASE(test_table_alignment),
       T_CASE(test_parse_timeout), T_CASE(test_check_env), T_CASE(test_run_parse),
       T_CASE(test_run_parse_errors), T_CASE(test_event_bounds), T_CASE(test_signal_parse),
       T_CASE(test_ps_filter), T_CASE(test_run_parse_labels), T_CASE(test_opts),
       T_CASE(test_labels), T_CASE(test_ports_text), T_CASE(test_check_subnet))
