/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-shim: the monitor of one container (in the manner of conmon). taskd runs
 *
 *   berth-shim [--runtime-root DIR] [--log-level L]
 *              [--log-dir DIR [--log-max-size BYTES] [--log-max-files N]]
 *              [--terminal] [--stdin] ID BUNDLE RUNTIME STATE_DIR
 *
 * with a pipe as stdout. The shim detaches at once (fork, setsid, fork: it is reparented away
 * from taskd, so taskd may die or restart without touching it), becomes a child subreaper,
 * listens on STATE_DIR/shim.sock, runs `RUNTIME create` with pipes as the container's stdio,
 * writes its one report (the created state, or the runtime's error) to the pipe, and serves
 * until `delete` or `shutdown`. The container's output goes to the CRI log in --log-dir (an
 * existing directory), capped at --log-max-size bytes per file and --log-max-files files. Its own
 * diagnostics go to STATE_DIR/shim.log. With --terminal the container's process has a terminal
 * (its spec says process.terminal) whose master the shim holds; with --stdin the shim keeps the
 * container's stdin open (a pipe, or the terminal) for attached clients. The protocol and the state
 * files are described in common/proto/shim.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "taskd/shim/shim.h"

#define SHIM_LOG "shim.log"

struct options {
	const char *runtime_root;
	const char *log_dir;
	int64_t log_max_size;
	int64_t log_max_files;
	enum br_log_level log_level;
	bool terminal, open_stdin;
	const char *pos[4];
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: berth-shim [--runtime-root DIR] [--log-level LEVEL] [--log-dir DIR "
	           "[--log-max-size BYTES] [--log-max-files N]] [--terminal] [--stdin] ID BUNDLE "
	           "RUNTIME "
	           "STATE_DIR\n");
}

static int
parse_count(const char *s, int64_t min, int64_t max, int64_t *ret)
{
	char *end = NULL;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*ret = v;
	return 0;
}

static int
parse_args(int argc, char **argv, struct options *o)
{
	int npos = 0;

	o->log_level = BR_LOG_INFO;
	o->log_max_size = 10 << 20;
	o->log_max_files = 3;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("berth-shim %s\n", BR_VERSION);
			exit(0);
		} else if (strcmp(a, "--terminal") == 0) {
			o->terminal = true;
		} else if (strcmp(a, "--stdin") == 0) {
			o->open_stdin = true;
		} else if (strcmp(a, "--runtime-root") == 0 && i + 1 < argc) {
			o->runtime_root = argv[++i];
		} else if (strcmp(a, "--log-dir") == 0 && i + 1 < argc) {
			o->log_dir = argv[++i];
		} else if (strcmp(a, "--log-max-size") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], 4096, INT64_MAX / 2, &o->log_max_size) < 0)
				return -1;
		} else if (strcmp(a, "--log-max-files") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], 1, BR_CRILOG_FILES_MAX, &o->log_max_files) < 0)
				return -1;
		} else if (strcmp(a, "--log-level") == 0 && i + 1 < argc) {
			if (br_log_level_parse(argv[++i], &o->log_level) < 0)
				return -1;
		} else if (a[0] == '-' || npos == 4) {
			return -1;
		} else {
			o->pos[npos++] = a;
		}
	}
	if (npos != 4)
		return -1;
	for (int i = 1; i < 4; i++) {
		if (o->pos[i][0] != '/')
			return -1;
	}
	if (o->runtime_root != NULL && o->runtime_root[0] != '/')
		return -1;
	if (o->log_dir != NULL && o->log_dir[0] != '/')
		return -1;
	return br_msg_is_id(o->pos[0], 255) ? 0 : -1;
}

/* Write the one start report to stdout (the pipe from taskd) and let go of it. */
static void
report(struct shim *s, const br_err *err)
{
	struct br_shim_reply r;
	msgpack_sbuffer sb;

	if (err != NULL)
		r = (struct br_shim_reply){
		        .code = br_code_name(err->code), .msg = err->msg, .id = s->id};
	else
		shim_state_reply(s, &r);
	msgpack_sbuffer_init(&sb);
	br_shim_reply_pack(&sb, &r);
	for (size_t done = 0; done < sb.size;) {
		ssize_t n = write(STDOUT_FILENO, sb.data + done, sb.size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* taskd went away: the state files still tell */
		done += (size_t)n;
	}
	msgpack_sbuffer_destroy(&sb);
	dup2(s->devnull_fd, STDOUT_FILENO);
}

/* Fork twice with a new session in between, so the shim is nobody's child but its reaper's.
 * Returns in the grandchild only; the first process exits 0 once the middle one is gone. */
static void
detach(void)
{
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "berth-shim: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
	}
	if (setsid() < 0)
		_exit(1);
	pid = fork();
	if (pid < 0)
		_exit(1);
	if (pid > 0)
		_exit(0);
}

/* shim.pid: written whole under a temporary name, then renamed, so a reader never sees half. */
static int
write_pid_file(int dirfd, br_err *err)
{
	static const char tmp[] = BR_SHIM_PID_FILE ".tmp";
	char line[32];
	int n = snprintf(line, sizeof(line), "%d\n", (int)getpid());
	_cleanup_close_ int fd =
	        openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0 || write(fd, line, (size_t)n) != n ||
	    renameat(dirfd, tmp, dirfd, BR_SHIM_PID_FILE) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "write %s", BR_SHIM_PID_FILE);
	return 0;
}

static int
setup(struct shim *s, br_err *err)
{
	sigset_t mask;

	if (mkdir(s->state_dir, 0700) < 0 && errno != EEXIST)
		return br_err_errno(err, BR_INTERNAL, errno, "create %s", s->state_dir);
	s->state_dirfd = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->state_dirfd < 0 || chdir(s->state_dir) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "open %s", s->state_dir);
	s->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s->devnull_fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "open /dev/null");
	int logfd = openat(s->state_dirfd, SHIM_LOG,
	                   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (logfd >= 0) {
		dup2(logfd, STDERR_FILENO);
		close(logfd);
	}
	dup2(s->devnull_fd, STDIN_FILENO);

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	s->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->signal_fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "signalfd");
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "PR_SET_CHILD_SUBREAPER");

	/* Leftovers of an earlier life of this directory would mislead a reader. */
	unlinkat(s->state_dirfd, BR_SHIM_EXIT_FILE, 0);
	unlinkat(s->state_dirfd, BR_SHIM_INIT_PID_FILE, 0);
	if (write_pid_file(s->state_dirfd, err) < 0)
		return -1;
	return shim_server_listen(s, err);
}

int
main(int argc, char **argv)
{
	struct options o = {0};
	struct shim s = {.state_dirfd = -1,
	                 .signal_fd = -1,
	                 .listen_fd = -1,
	                 .devnull_fd = -1,
	                 .stdout_w = -1,
	                 .stderr_w = -1,
	                 .log_dirfd = -1,
	                 .log = {.fd = -1},
	                 .master = -1,
	                 .stdin_r = -1,
	                 .init_in = {.fd = -1},
	                 .out = {{.pipe_fd = -1, .log_fd = -1}, {.pipe_fd = -1, .log_fd = -1}}};
	br_err err = BR_ERR_INIT;

	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	for (int i = 0; i < SHIM_MAX_CONNS; i++)
		s.conns[i].fd = -1;
	for (int i = 0; i < SHIM_MAX_STREAMS; i++)
		s.streams[i].fd = -1;
	s.terminal = o.terminal;
	s.open_stdin = o.open_stdin;
	s.id = o.pos[0];
	s.bundle = o.pos[1];
	s.runtime = o.pos[2];
	s.state_dir = o.pos[3];
	s.runtime_root = o.runtime_root;
	s.log_dir = o.log_dir;
	s.log_max_size = o.log_max_size;
	s.log_max_files = (int)o.log_max_files;

	/* Nothing of the caller's but stdio comes along. */
	close_range(3, ~0U, 0);
	br_log_init("berth-shim", o.log_level, BR_LOG_TEXT);
	detach();

	if (setup(&s, &err) < 0 || shim_create(&s, &err) < 0) {
		br_log_error("SHIM-CREATE", "container %s: %s", s.id, err.msg);
		if (s.state_dirfd >= 0) {
			/* Whatever the runtime left half-made goes before we report, so that
			 * the caller finds nothing behind. */
			const char *args[] = {"delete", "--force", s.id, NULL};
			br_err ignored = BR_ERR_INIT;
			if (s.devnull_fd >= 0)
				shim_runtime_run(&s, args, -1, -1, SHIM_KILL_TIMEOUT_MS, &ignored);
			shim_cleanup_files(&s);
		}
		report(&s, &err);
		return 1;
	}
	br_log_info("SHIM-CREATED", "container %s created, init pid %d", s.id, (int)s.init_pid);
	report(&s, NULL);

	int rc = shim_run(&s, &err);
	if (rc < 0)
		br_log_error("SHIM-LOOP", "container %s: %s", s.id, err.msg);
	shim_cleanup_files(&s);
	free(s.oom_file);
	return rc < 0 ? 1 : 0;
}
