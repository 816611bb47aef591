/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-init: the tiny PID 1 of `berth run --init` (as tini is docker's). taskd bind-mounts it
 * read-only at /sbin/berth-init and runs
 *
 *   /sbin/berth-init -- COMMAND [ARG...]
 *
 * It starts COMMAND as its one child, forwards every signal it gets to that child (a PID 1
 * without handlers would otherwise ignore SIGTERM and `berth stop` would wait for SIGKILL),
 * reaps every process that is reparented to it (orphans of the container become its children,
 * and without a reaper they stay zombies), and exits with the child's status: its exit code,
 * or 128 + the signal that killed it. Linked statically with no dependency beyond libc, so it
 * runs in any image. Single-threaded; all signals stay blocked and are taken by sigwaitinfo.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static int
run_child(char **argv, const sigset_t *saved)
{
	pid_t pid = fork();

	if (pid < 0) {
		fprintf(stderr, "berth-init: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, saved, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "berth-init: exec %s: %s\n", argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return pid;
}

/* Reap every exited child; true when `child` was among them, with its status. */
static int
reap(pid_t child, int *ret_status)
{
	int found = 0;

	for (;;) {
		int wstatus;
		pid_t pid = waitpid(-1, &wstatus, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0)
			return found;
		if (pid == child) {
			*ret_status = WIFEXITED(wstatus)     ? WEXITSTATUS(wstatus)
			              : WIFSIGNALED(wstatus) ? 128 + WTERMSIG(wstatus)
			                                     : 255;
			found = 1;
		}
	}
}

int
main(int argc, char **argv)
{
	sigset_t all, saved;
	int first = 1, status = 0;
	pid_t child;

	if (argc > 1 && strcmp(argv[1], "--") == 0)
		first = 2;
	if (first >= argc) {
		fprintf(stderr, "usage: berth-init -- COMMAND [ARG...]\n");
		return 2;
	}
	/* Not PID 1 (a nested run): still reap the orphans of our child's tree. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &saved);
	child = run_child(argv + first, &saved);
	if (child < 0)
		return 1;
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&all, &si);
		if (sig < 0)
			continue;
		if (sig == SIGCHLD) {
			if (reap(child, &status))
				break;
			continue;
		}
		/* Stop signals of a terminal would stop us; forward them and stay. */
		kill(child, sig);
	}
	/* The child is gone; whatever it left behind is reaped by the runtime's teardown. */
	return status;
}
