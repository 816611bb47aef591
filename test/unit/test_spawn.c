/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running helper programs (common/spawn.c): what a child gets (standard fds, signal mask and
 * dispositions, an environment of the caller's choosing, a process group of its own) and what
 * br_spawn_run collects.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/spawn.h"
#include "test/unit/t.h"

static void
test_run_captures_and_exit_code(void)
{
	const char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
	br_err err = BR_ERR_INIT;
	char *out = NULL;
	bool truncated = true;
	int status;

	T_NOERR(br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDOUT | BR_SPAWN_CAPTURE_STDERR, 100,
	                     &out, &truncated, &status, &err),
	        err);
	T_EQ_STR(out, "out\nerr");
	T_OK(!truncated);
	T_EQ_INT(br_spawn_exit_code(status), 3);
	free(out);

	/* Only stderr: stdout goes to /dev/null. */
	T_NOERR(br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDERR, 100, &out, NULL, &status, &err),
	        err);
	T_EQ_STR(out, "err");
	free(out);
}

static void
test_run_bounds_what_it_keeps(void)
{
	const char *argv[] = {"sh", "-c",
	                      "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done",
	                      NULL};
	br_err err = BR_ERR_INIT;
	char *out = NULL;
	bool truncated = false;
	int status;

	T_NOERR(br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDOUT, 25, &out, &truncated, &status,
	                     &err),
	        err);
	T_OK(truncated);
	T_EQ_STR(out, "0123456789\n0123456789\n012");
	/* The child was read to its end, not left blocked on a full pipe. */
	T_EQ_INT(br_spawn_exit_code(status), 0);
	free(out);
}

static void
test_missing_program_is_named(void)
{
	const char *argv[] = {"/nonexistent/berth-helper", NULL};
	br_err err = BR_ERR_INIT;
	int status;

	T_ERR(br_spawn_run(argv, false, 0, 0, NULL, NULL, &status, &err), err,
	      BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "/nonexistent/berth-helper") != NULL);
}

/* A daemon blocks and ignores signals for its loop; its children must not inherit that. */
static void
test_child_gets_clean_signals(void)
{
	const char *argv[] = {"sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL};
	br_err err = BR_ERR_INIT;
	sigset_t block;
	char *out = NULL;
	int status;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	signal(SIGPIPE, SIG_IGN);
	T_NOERR(br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDOUT, 200, &out, NULL, &status, &err),
	        err);
	T_OK(strstr(out, "SigBlk:\t0000000000000000") != NULL);
	/* Signals 1 to 31; glibc keeps its own two real-time signals as it found them. */
	const char *ign = strstr(out, "SigIgn:\t");
	T_NOT_NULL(ign);
	unsigned long long ignored = strtoull(ign + strlen("SigIgn:\t"), NULL, 16);
	if ((ignored & 0x7fffffffULL) != 0)
		T_FAIL_("the child ignores signals: %s", out);
	free(out);
}

static void
test_start_wires_fds(void)
{
	const char *argv[] = {"sh", "-c", "read line; echo \"got $line\"; echo to-err >&2", NULL};
	br_err err = BR_ERR_INIT;
	int in[2], out[2];
	pid_t pid;
	int status;
	char buf[64];

	T_OK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0);
	struct br_spawn s = {.argv = argv, .search = true, .std = {in[0], out[1], out[1]}};
	T_NOERR(br_spawn_start(&s, &pid, &err), err);
	close(in[0]);
	close(out[1]);
	T_OK(write(in[1], "hello\n", 6) == 6);
	close(in[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	T_EQ_STR(buf, "got hello\nto-err\n");
	T_NOERR(br_spawn_wait(pid, &status, &err), err);
	T_EQ_INT(br_spawn_exit_code(status), 0);
}

static void
test_start_env_and_group(void)
{
	/* Field 5 of /proc/<pid>/stat is the process group. */
	const char *argv[] = {"/bin/sh", "-c",
	                      "echo \"$ONLY $HOME $(cut -d' ' -f5 /proc/$$/stat)\"", NULL};
	const char *env[] = {"ONLY=this", NULL};
	br_err err = BR_ERR_INIT;
	int out[2];
	pid_t pid;
	int status;
	char buf[64], want[64];

	T_OK(pipe2(out, O_CLOEXEC) == 0);
	struct br_spawn s = {.argv = argv,
	                     .std = {BR_SPAWN_NULL, out[1], BR_SPAWN_INHERIT},
	                     .envp = env,
	                     .own_group = true};
	T_NOERR(br_spawn_start(&s, &pid, &err), err);
	close(out[1]);
	size_t len = 0;
	ssize_t r;
	while ((r = read(out[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)r;
	buf[len] = '\0';
	close(out[0]);
	T_NOERR(br_spawn_wait(pid, &status, &err), err);
	snprintf(want, sizeof(want), "this  %d\n", (int)pid);
	T_EQ_STR(buf, want);
}

T_MAIN(T_CASE(test_run_captures_and_exit_code), T_CASE(test_run_bounds_what_it_keeps),
       T_CASE(test_missing_program_is_named), T_CASE(test_child_gets_clean_signals),
       T_CASE(test_start_wires_fds), T_CASE(test_start_env_and_group))
