/* SPDX-License-Identifier: Apache-2.0 */
#include "common/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/xalloc.h"

extern char **environ;

int
br_spawn_start(const struct br_spawn *s, pid_t *ret_pid, br_err *err)
{
	static const int null_flags[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	pid_t pid;
	int rc;

	posix_spawn_file_actions_init(&fa);
	for (int i = 0; i < 3; i++) {
		if (s->std[i] == BR_SPAWN_NULL)
			posix_spawn_file_actions_addopen(&fa, i, "/dev/null", null_flags[i], 0);
		else if (s->std[i] != BR_SPAWN_INHERIT)
			posix_spawn_file_actions_adddup2(&fa, s->std[i], i);
	}
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	if (s->own_group) {
		posix_spawnattr_setpgroup(&attr, 0);
		flags |= POSIX_SPAWN_SETPGROUP;
	}
	posix_spawnattr_setflags(&attr, flags);
	char *const *envp = s->envp != NULL ? (char *const *)s->envp : environ;
	if (s->search)
		rc = posix_spawnp(&pid, s->argv[0], &fa, &attr, (char *const *)s->argv, envp);
	else
		rc = posix_spawn(&pid, s->argv[0], &fa, &attr, (char *const *)s->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc != 0)
		return br_err_errno(err, rc == ENOENT ? BR_FAILED_PRECONDITION : BR_INTERNAL, rc,
		                    "run %s", s->argv[0]);
	*ret_pid = pid;
	return 0;
}

int
br_spawn_wait(pid_t pid, int *ret_status, br_err *err)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return br_err_errno(err, BR_INTERNAL, errno, "wait for process %d",
			                    (int)pid);
	*ret_status = status;
	return 0;
}

int
br_spawn_exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
br_spawn_run(const char *const *argv, bool search, int capture, size_t max, char **ret_out,
             bool *ret_truncated, int *ret_status, br_err *err)
{
	struct br_spawn s = {.argv = argv, .search = search};
	int pipefd[2] = {-1, -1};
	pid_t pid;

	s.std[0] = s.std[1] = s.std[2] = BR_SPAWN_NULL;
	if (capture != 0) {
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			return br_err_errno(err, BR_INTERNAL, errno, "run %s: pipe", argv[0]);
		if (capture & BR_SPAWN_CAPTURE_STDOUT)
			s.std[1] = pipefd[1];
		if (capture & BR_SPAWN_CAPTURE_STDERR)
			s.std[2] = pipefd[1];
	}
	_cleanup_close_ int out_fd = pipefd[0];
	int rc = br_spawn_start(&s, &pid, err);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rc < 0)
		return -1;

	_cleanup_free_ char *out = NULL;
	size_t len = 0, cap = 0;
	bool truncated = false;
	if (out_fd >= 0) {
		cap = max < 4096 ? max : 4096;
		out = xmalloc(cap + 1);
		for (;;) {
			char buf[4096];
			ssize_t got = read(out_fd, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			size_t take = (size_t)got < max - len ? (size_t)got : max - len;
			if (take < (size_t)got)
				truncated = true;
			if (len + take > cap) {
				cap = cap * 2 > max ? max : cap * 2;
				if (cap < len + take)
					cap = len + take;
				out = xrealloc(out, cap + 1);
			}
			memcpy(out + len, buf, take);
			len += take;
		}
		while (len > 0 &&
		       (out[len - 1] == '\n' || out[len - 1] == ' ' || out[len - 1] == '\t'))
			len--;
		out[len] = '\0';
	}
	int status;
	if (br_spawn_wait(pid, &status, err) < 0)
		return -1;
	if (ret_out != NULL)
		*ret_out = out ? br_steal_ptr(&out) : xstrdup("");
	if (ret_truncated != NULL)
		*ret_truncated = truncated;
	*ret_status = status;
	return 0;
}
