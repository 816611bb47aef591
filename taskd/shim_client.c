/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Starting berth-shim from taskd. posix_spawn (vfork-like, safe in a threaded process) runs
 * the shim with its stdout on a pipe, an empty signal mask and default dispositions (taskd
 * ignores SIGPIPE; neither the shim nor the container should inherit that). The spawned
 * process exits as soon as the shim has detached; the detached shim writes its report to the
 * pipe once the runtime's create is done.
 */
#include "taskd/shim_client.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/spawn.h"

int
taskd_shim_spawn(const struct taskd_shim_spawn_opts *o, br_arena *arena, struct br_shim_reply *ret,
                 br_err *err)
{
	const char *argv[24];
	char max_size[24], max_files[24];
	size_t argc = 0;
	int pipefd[2];
	pid_t pid;
	int rc;

	argv[argc++] = o->shim_path;
	if (o->runtime_root != NULL) {
		argv[argc++] = "--runtime-root";
		argv[argc++] = o->runtime_root;
	}
	argv[argc++] = "--log-level";
	argv[argc++] = o->log_level ? o->log_level : "info";
	if (o->log_dir != NULL) {
		argv[argc++] = "--log-dir";
		argv[argc++] = o->log_dir;
		if (o->log_max_size > 0) {
			snprintf(max_size, sizeof(max_size), "%lld", (long long)o->log_max_size);
			argv[argc++] = "--log-max-size";
			argv[argc++] = max_size;
		}
		if (o->log_max_files > 0) {
			snprintf(max_files, sizeof(max_files), "%lld", (long long)o->log_max_files);
			argv[argc++] = "--log-max-files";
			argv[argc++] = max_files;
		}
	}
	if (o->terminal)
		argv[argc++] = "--terminal";
	if (o->open_stdin)
		argv[argc++] = "--stdin";
	argv[argc++] = o->id;
	argv[argc++] = o->bundle;
	argv[argc++] = o->runtime;
	argv[argc++] = o->state_dir;
	argv[argc] = NULL;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "start shim: pipe");
	_cleanup_close_ int report_fd = pipefd[0];
	struct br_spawn s = {.argv = argv, .std = {BR_SPAWN_NULL, pipefd[1], BR_SPAWN_INHERIT}};
	rc = br_spawn_start(&s, &pid, err);
	close(pipefd[1]);
	if (rc < 0)
		return br_err_wrap(err, "start shim");

	int status;
	if (br_spawn_wait(pid, &status, err) < 0)
		return -1;
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL,
		                  "shim %s exited with status %d before detaching", o->shim_path,
		                  br_spawn_exit_code(status));
	return br_shim_read_report(report_fd, TASKD_SHIM_REPORT_TIMEOUT_MS, arena, ret, err);
}

bool
taskd_shim_alive(const char *state_dir, br_arena *arena, struct br_shim_reply *ret)
{
	_cleanup_close_ int dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct br_shim_req req = {.m = "state"};
	br_err err = BR_ERR_INIT;
	pid_t pid;

	if (dirfd < 0 || br_shim_read_pid(dirfd, BR_SHIM_PID_FILE, &pid, &err) < 0)
		return false;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	return br_shim_call_at(state_dir, &req, 5000, arena, ret, &err) == 0;
}
