/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-shim driven as taskd drives it, with runc on a real busybox rootfs: the start report,
 * output in stdout.log/stderr.log, exit codes through wait and the exit file, kill, delete,
 * the runtime's error on a failed create, the shim outliving the process that started it,
 * protocol errors, an OOM kill under a memory limit reported in the reply and the exit file
 * (and that file's format), and the shim's resident memory (printed as a # comment).
 *
 * Needs root, runc and busybox-static; skips otherwise. The shim binary is
 * $BERTH_BUILD/berth-shim (default build/). Everything lives under one private temp dir with
 * its own runc root and cgroup parent; main() removes containers, shims, cgroups and the dir
 * after all cases, whatever they left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/proto/shim.h"
#include "test/unit/t.h"

/* Paths here are built from a short mkdtemp() root; truncation cannot happen. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

extern char **environ;

#define RUNC "/usr/sbin/runc"
#define BUSYBOX "/bin/busybox"

static char top[256];          /* private temp root */
static char cgroup_parent[64]; /* "berth-test-<pid>" */

static void
skip_unless_ready(void)
{
	if (geteuid() != 0)
		T_SKIP("needs root");
	if (access(RUNC, X_OK) != 0)
		T_SKIP("runc not installed");
	if (access(BUSYBOX, X_OK) != 0)
		T_SKIP("busybox-static not installed");
}

/* Where the binaries under test are: $BERTH_BUILD, else the build directory this test binary
 * was built in (<build>/test/unit/<test>), else "build". */
static const char *
build_dir(void)
{
	static char dir[512];
	const char *b = getenv("BERTH_BUILD");
	ssize_t n;

	if (b != NULL && *b != '\0')
		return b;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n > 0) {
		dir[n] = '\0';
		for (int i = 0; i < 3; i++) {
			char *slash = strrchr(dir, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
		return dir;
	}
	return "build";
}

static const char *
shim_path(void)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/berth-shim", build_dir());
	return path;
}

static void
xwrite_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	fputs(data, f);
	T_OK(fclose(f) == 0);
}

static char *
read_file(const char *dir, const char *name)
{
	char path[512];
	static char buf[1 << 16];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* A rootfs with busybox and a few applet links, shared by all cases. */
static void
make_rootfs(const char *rootfs)
{
	static const char *const applets[] = {"sh", "echo", "true", "cat", "sleep", "ls", "id"};
	char path[512], cmd[1024];

	snprintf(path, sizeof(path), "%s/bin", rootfs);
	T_OK(mkdir(rootfs, 0755) == 0 || errno == EEXIST);
	T_OK(mkdir(path, 0755) == 0 || errno == EEXIST);
	snprintf(cmd, sizeof(cmd), "cp %s %s/bin/busybox", BUSYBOX, rootfs);
	T_EQ_INT(system(cmd), 0);
	for (size_t i = 0; i < sizeof(applets) / sizeof(applets[0]); i++) {
		snprintf(path, sizeof(path), "%s/bin/%s", rootfs, applets[i]);
		T_OK(symlink("busybox", path) == 0 || errno == EEXIST);
	}
	for (const char *d = "proc\0dev\0sys\0tmp\0etc\0"; *d; d += strlen(d) + 1) {
		snprintf(path, sizeof(path), "%s/%s", rootfs, d);
		T_OK(mkdir(path, 0755) == 0 || errno == EEXIST);
	}
}

/* Append a JSON string array of args to buf. */
static void
json_args(char *buf, size_t cap, const char *const *args)
{
	size_t n = strlen(buf);
	n += (size_t)snprintf(buf + n, cap - n, "[");
	for (size_t i = 0; args[i] != NULL; i++) {
		n += (size_t)snprintf(buf + n, cap - n, "%s\"", i ? "," : "");
		for (const char *c = args[i]; *c; c++) {
			if (*c == '"' || *c == '\\')
				buf[n++] = '\\';
			buf[n++] = *c;
		}
		n += (size_t)snprintf(buf + n, cap - n, "\"");
	}
	snprintf(buf + n, cap - n, "]");
}

static int64_t bundle_memory; /* the next bundle's memory limit; 0: none */

/* A bundle for container `id` running `args`, in top/<id>/bundle; returns the state dir. */
static const char *
make_bundle(const char *id, const char *const *args)
{
	static char state[512];
	char dir[512], path[600], rootfs[512], spec[8192], argv_json[2048] = "";
	char resources[128] = "";

	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", top);
	make_rootfs(rootfs);
	snprintf(dir, sizeof(dir), "%s/%s", top, id);
	T_OK(mkdir(dir, 0700) == 0);
	json_args(argv_json, sizeof(argv_json), args);
	if (bundle_memory > 0)
		snprintf(resources, sizeof(resources),
		         "\"resources\":{\"memory\":{\"limit\":%lld}},", (long long)bundle_memory);
	snprintf(spec, sizeof(spec),
	         "{\"ociVersion\":\"1.0.2\","
	         "\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},\"args\":%s,"
	         "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"noNewPrivileges\":true,"
	         "\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"
	         "\"permitted\":[\"CAP_KILL\"]},"
	         "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}]},"
	         "\"root\":{\"path\":\"%s\",\"readonly\":true},\"hostname\":\"%s\","
	         "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	         "{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	         "\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	         "{\"destination\":\"/tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}],"
	         "\"linux\":{%s\"cgroupsPath\":\"%s/%s\",\"namespaces\":[{\"type\":\"pid\"},"
	         "{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"},{\"type\":\"network\"}"
	         "],"
	         "\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"]}}",
	         argv_json, rootfs, id, resources, cgroup_parent, id);
	snprintf(path, sizeof(path), "%s/config.json", dir);
	xwrite_file(path, spec);
	snprintf(state, sizeof(state), "%s/%s/state", top, id);
	return state;
}

static char runc_root[512];

/* Start a shim as taskd does; returns its report (or -1 with err). `ret_first` gets the pid
 * of the process that was spawned (it exits after detaching). */
static int
spawn_shim(const char *id, const char *state, struct br_shim_reply *ret, br_arena *arena,
           br_err *err)
{
	char bundle[512];
	int p[2];
	pid_t pid;
	posix_spawn_file_actions_t fa;

	snprintf(bundle, sizeof(bundle), "%s/%s", top, id);
	snprintf(runc_root, sizeof(runc_root), "%s/runc", top);
	char *argv[] = {(char *)shim_path(), "--runtime-root", runc_root, "--log-level", "debug",
	                (char *)id,          bundle,           RUNC,      (char *)state, NULL};
	T_OK(pipe2(p, O_CLOEXEC) == 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	T_EQ_INT(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	int st;
	T_EQ_INT(waitpid(pid, &st, 0), pid);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	int rc = br_shim_read_report(p[0], 60000, arena, ret, err);
	close(p[0]);
	return rc;
}

static int
call(const char *state, const char *m, struct br_shim_req *extra, struct br_shim_reply *r,
     br_arena *arena, br_err *err)
{
	struct br_shim_req req = {0};
	if (extra != NULL)
		req = *extra;
	req.m = m;
	return br_shim_call_at(state, &req, 30000, arena, r, err);
}

static pid_t
shim_pid_of(const char *state)
{
	char *s = read_file(state, "shim.pid");
	return s ? (pid_t)atoi(s) : -1;
}

/* Wait until the process is gone (it is not our child). */
static bool
wait_gone(pid_t pid, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (kill(pid, 0) < 0 && errno == ESRCH)
			return true;
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		FILE *f = fopen(path, "r");
		if (f != NULL) {
			bool zombie = fgets(buf, sizeof(buf), f) && strstr(buf, ") Z ") != NULL;
			fclose(f);
			if (zombie)
				return true;
		}
		usleep(10000);
	}
	return false;
}

static long
rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static pid_t
ppid_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char *ok = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (ok == NULL)
		return -1;
	char *p = strrchr(buf, ')');
	char state;
	int ppid;
	if (p == NULL || sscanf(p + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* ------------------------------------------------------------------ cases */

static void
test_output_and_exit_code(void)
{
	skip_unless_ready();
	const char *args[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3", NULL};
	const char *state = make_bundle("out1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("out1", state, &r, a, &err), err);
	T_EQ_STR(r.status, "created");
	T_OK(r.pid > 0);
	T_OK(r.shim_pid > 0);
	T_OK(!r.exited);
	pid_t shim = shim_pid_of(state);
	T_EQ_INT(shim, r.shim_pid);
	char *pidfile = read_file(state, "pid");
	T_NOT_NULL(pidfile);
	T_EQ_INT(atoi(pidfile), r.pid);

	T_NOERR(call(state, "start", NULL, &r, a, &err), err);
	T_EQ_STR(r.status, "running");
	T_NOERR(call(state, "wait", NULL, &r, a, &err), err);
	T_OK(r.exited);
	T_EQ_STR(r.status, "stopped");
	T_EQ_INT(r.exit_status, 3);
	T_OK(r.exited_at > 0);
	T_EQ_STR(read_file(state, "stdout.log"), "hello\n");
	T_EQ_STR(read_file(state, "stderr.log"), "oops\n");

	int dirfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t st, at;
	bool oom = true;
	T_NOERR(br_shim_read_exit(dirfd, &st, &at, &err), err);
	T_EQ_INT(st, 3);
	T_EQ_INT(at, r.exited_at);
	T_NOERR(br_shim_read_exit_oom(dirfd, &st, &at, &oom, &err), err);
	T_OK(!oom);
	T_OK(!r.oom_killed);

	/* A second wait answers at once; start again is refused. */
	T_NOERR(call(state, "wait", NULL, &r, a, &err), err);
	T_EQ_INT(r.exit_status, 3);
	T_ERR(call(state, "start", NULL, &r, a, &err), err, BR_FAILED_PRECONDITION);

	T_NOERR(call(state, "delete", NULL, &r, a, &err), err);
	T_EQ_INT(r.exit_status, 3);
	T_OK(wait_gone(shim, 5000));
	T_OK(faccessat(dirfd, "shim.sock", F_OK, 0) < 0);
	T_OK(faccessat(dirfd, "shim.pid", F_OK, 0) < 0);
	T_OK(faccessat(dirfd, "exit", F_OK, 0) == 0);
	T_ERR(br_shim_connect(state, &err), err, BR_NOT_FOUND);
	/* The shim's own log has its lines and nothing from a sanitizer. */
	char *log = read_file(state, "shim.log");
	T_NOT_NULL(log);
	T_OK(strstr(log, "SHIM-EXIT") != NULL);
	T_OK(strstr(log, "Sanitizer") == NULL && strstr(log, "runtime error") == NULL);
	close(dirfd);
	br_arena_free(a);
}

static void
test_create_failure_reports_runtime_error(void)
{
	skip_unless_ready();
	const char *args[] = {"nope", NULL};
	const char *state = make_bundle("bad1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_ERR(spawn_shim("bad1", state, &r, a, &err), err, BR_NOT_FOUND);
	printf("# create error: %s\n", err.msg);
	T_OK(strstr(err.msg, "exec: \"nope\": executable file not found in $PATH") != NULL);
	T_OK(strstr(err.msg, "runc create") != NULL);
	/* The shim is gone and left no socket; runc forgot the container. */
	T_ERR(br_shim_connect(state, &err), err, BR_NOT_FOUND);
	T_NULL(read_file(state, "shim.pid"));
	char path[512];
	snprintf(path, sizeof(path), "%s/runc/bad1", top);
	T_OK(access(path, F_OK) < 0);
	/* runc's message did not land in the container's log. */
	T_EQ_STR(read_file(state, "stderr.log"), "");
	br_arena_free(a);
}

static void
test_kill_and_wait(void)
{
	skip_unless_ready();
	const char *args[] = {"sleep", "1000", NULL};
	const char *state = make_bundle("kill1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("kill1", state, &r, a, &err), err);
	T_NOERR(call(state, "start", NULL, &r, a, &err), err);
	pid_t init = (pid_t)r.pid;
	T_OK(kill(init, 0) == 0);

	/* wait with a timeout comes back with the task still running */
	struct br_shim_req w = {.timeout_ms = 200};
	T_NOERR(call(state, "wait", &w, &r, a, &err), err);
	T_OK(!r.exited);
	T_EQ_STR(r.status, "running");

	/* a running container is not deleted without force */
	T_ERR(call(state, "delete", NULL, &r, a, &err), err, BR_FAILED_PRECONDITION);

	/* kill while another connection waits */
	int wfd = br_shim_connect(state, &err);
	T_NOERR(wfd, err);
	struct br_shim_req k = {.signal = SIGKILL};
	T_NOERR(call(state, "kill", &k, &r, a, &err), err);
	struct br_shim_req wr = {.m = "wait"};
	T_NOERR(br_shim_call(wfd, &wr, 10000, a, &r, &err), err);
	close(wfd);
	T_OK(r.exited);
	T_EQ_INT(r.exit_status, 128 + SIGKILL);
	T_ERR(call(state, "kill", &k, &r, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(call(state, "delete", NULL, &r, a, &err), err);
	br_arena_free(a);
}

static void
test_force_delete_running(void)
{
	skip_unless_ready();
	const char *args[] = {"sleep", "1000", NULL};
	const char *state = make_bundle("force1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("force1", state, &r, a, &err), err);
	T_NOERR(call(state, "start", NULL, &r, a, &err), err);
	pid_t shim = (pid_t)r.shim_pid;
	struct br_shim_req f = {.force = true};
	T_NOERR(call(state, "delete", &f, &r, a, &err), err);
	T_OK(r.exited);
	T_EQ_INT(r.exit_status, 128 + SIGKILL);
	T_OK(wait_gone(shim, 5000));
	char *log = read_file(state, "shim.log");
	T_OK(log != NULL && strstr(log, "Sanitizer") == NULL &&
	     strstr(log, "runtime error") == NULL);
	br_arena_free(a);
}

static void
test_delete_created_task(void)
{
	skip_unless_ready();
	const char *args[] = {"true", NULL};
	const char *state = make_bundle("created1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("created1", state, &r, a, &err), err);
	pid_t shim = (pid_t)r.shim_pid;
	T_ERR(call(state, "shutdown", NULL, &r, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(call(state, "delete", NULL, &r, a, &err), err);
	T_OK(r.exited);
	T_OK(wait_gone(shim, 5000));
	br_arena_free(a);
}

static void
test_shim_outlives_its_starter(void)
{
	skip_unless_ready();
	const char *args[] = {"sleep", "1000", NULL};
	const char *state = make_bundle("orphan1", args);
	int p[2];
	T_OK(pipe(p) == 0);

	/* An intermediate process (taskd's stand-in) starts the shim, then dies by SIGKILL. */
	pid_t starter = fork();
	T_OK(starter >= 0);
	if (starter == 0) {
		br_arena *a = br_arena_new();
		struct br_shim_reply r;
		br_err err = BR_ERR_INIT;
		if (spawn_shim("orphan1", state, &r, a, &err) < 0 ||
		    call(state, "start", NULL, &r, a, &err) < 0)
			_exit(1);
		int32_t pids[2] = {(int32_t)r.shim_pid, (int32_t)r.pid};
		if (write(p[1], pids, sizeof(pids)) != sizeof(pids))
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	int32_t pids[2];
	T_EQ_INT(read(p[0], pids, sizeof(pids)), sizeof(pids));
	close(p[0]);
	T_OK(kill(starter, SIGKILL) == 0);
	T_EQ_INT(waitpid(starter, NULL, 0), starter);

	T_OK(kill(pids[0], 0) == 0);
	T_OK(ppid_of(pids[0]) != starter);
	T_OK(ppid_of(pids[0]) != getpid());
	/* The container's init is the shim's (subreaper's) child. */
	T_EQ_INT(ppid_of(pids[1]), pids[0]);
	/* SIGTERM and SIGHUP do not take the shim from its container. */
	T_OK(kill(pids[0], SIGTERM) == 0);
	T_OK(kill(pids[0], SIGHUP) == 0);
	usleep(100000);
	T_OK(kill(pids[0], 0) == 0);

	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;
	T_NOERR(call(state, "state", NULL, &r, a, &err), err);
	T_EQ_STR(r.status, "running");
	T_EQ_INT(r.pid, pids[1]);

	long kb = rss_kb(pids[0]);
	printf("# berth-shim RSS with a running container: %ld kB\n", kb);
#ifndef __SANITIZE_ADDRESS__
	T_OK(kb > 0 && kb < 1024); /* sanitizer builds are neither static nor small */
#endif

	struct br_shim_req f = {.force = true};
	T_NOERR(call(state, "delete", &f, &r, a, &err), err);
	T_OK(wait_gone(pids[0], 5000));
	br_arena_free(a);
}

static void
test_output_is_complete(void)
{
	skip_unless_ready();
	const char *args[] = {
	        "sh", "-c",
	        "i=0; while [ $i -lt 3000 ]; do echo line$i; echo err$i >&2; i=$((i+1)); done",
	        NULL};
	const char *state = make_bundle("big1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("big1", state, &r, a, &err), err);
	T_NOERR(call(state, "start", NULL, &r, a, &err), err);
	T_NOERR(call(state, "wait", NULL, &r, a, &err), err);
	T_EQ_INT(r.exit_status, 0);
	char *out = read_file(state, "stdout.log");
	T_NOT_NULL(out);
	size_t lines = 0;
	for (char *c = out; *c; c++)
		lines += *c == '\n';
	T_EQ_INT(lines, 3000);
	T_OK(strstr(out, "line2999\n") != NULL);
	char *errlog = read_file(state, "stderr.log");
	T_OK(strstr(errlog, "err2999\n") != NULL);
	T_NOERR(call(state, "delete", NULL, &r, a, &err), err);
	br_arena_free(a);
}

static void
test_protocol_errors(void)
{
	skip_unless_ready();
	const char *args[] = {"sleep", "1000", NULL};
	const char *state = make_bundle("proto1", args);
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("proto1", state, &r, a, &err), err);
	T_ERR(call(state, "frobnicate", NULL, &r, a, &err), err, BR_NOT_IMPLEMENTED);
	struct br_shim_req k = {.signal = 99};
	T_ERR(call(state, "kill", &k, &r, a, &err), err, BR_INVALID_ARGUMENT);

	/* Garbage and a map without "m" get an error reply, and the connection still works. */
	int fd = br_shim_connect(state, &err);
	T_NOERR(fd, err);
	char buf[BR_SHIM_MSG_MAX];
	T_EQ_INT(send(fd, "\xc1\xc1", 2, 0), 2);
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	T_OK(n > 0);
	T_OK(memmem(buf, (size_t)n, "INVALID_ARGUMENT", 16) != NULL);
	T_EQ_INT(send(fd, "\x80", 1, 0), 1);
	n = recv(fd, buf, sizeof(buf), 0);
	T_OK(n > 0);
	T_OK(memmem(buf, (size_t)n, "m: required field is missing", 28) != NULL);
	struct br_shim_req st = {.m = "state"};
	T_NOERR(br_shim_call(fd, &st, 5000, a, &r, &err), err);
	T_EQ_STR(r.status, "created");
	close(fd);

	struct br_shim_req f = {.force = true};
	T_NOERR(call(state, "delete", &f, &r, a, &err), err);
	br_arena_free(a);
}

/* ------------------------------------------------------------------ cleanup */

static int
rmdir_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP && strstr(path, cgroup_parent) != NULL)
		rmdir(path);
	return 0;
}

/* Whatever the cases left: shims (by their pid files), runc containers, cgroups, the dir. */
static void
cleanup_all(void)
{
	char path[512], cmd[1024];
	DIR *d = opendir(top);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strcmp(e->d_name, "rootfs") == 0 ||
		    strcmp(e->d_name, "runc") == 0)
			continue;
		snprintf(cmd, sizeof(cmd), "%s --root %s/runc delete -f %s >/dev/null 2>&1", RUNC,
		         top, e->d_name);
		if (system(cmd) < 0)
			perror("system");
		snprintf(path, sizeof(path), "%s/%s/state", top, e->d_name);
		pid_t pid = shim_pid_of(path);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			wait_gone(pid, 2000);
	}
	if (d != NULL)
		closedir(d);
	/* FTW_MOUNT keeps nftw in one hierarchy; walk each controller mount. */
	d = opendir("/sys/fs/cgroup");
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", e->d_name);
		nftw(path, rmdir_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	if (d != NULL)
		closedir(d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	if (system(cmd) < 0)
		perror("system");
}

/* A memory hog under a 16 MiB limit: the OOM killer ends it, and the shim says so in its
 * reply and in the exit file, written before the exit was announced. */
static void
test_oom_reported(void)
{
	skip_unless_ready();
	const char *args[] = {"sh", "-c", "x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done", NULL};
	bundle_memory = 16 << 20;
	const char *state = make_bundle("oom1", args);
	bundle_memory = 0;
	br_arena *a = br_arena_new();
	struct br_shim_reply r;
	br_err err = BR_ERR_INIT;

	T_NOERR(spawn_shim("oom1", state, &r, a, &err), err);
	pid_t shim = shim_pid_of(state);
	T_NOERR(call(state, "start", NULL, &r, a, &err), err);
	T_NOERR(call(state, "wait", NULL, &r, a, &err), err);
	T_OK(r.exited);
	T_EQ_INT(r.exit_status, 128 + SIGKILL);
	T_OK(r.oom_killed);
	int dirfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int64_t st, at;
	bool oom = false;
	T_NOERR(br_shim_read_exit_oom(dirfd, &st, &at, &oom, &err), err);
	T_EQ_INT(st, 137);
	T_OK(oom);
	T_NOERR(call(state, "delete", NULL, &r, a, &err), err);
	T_OK(wait_gone(shim, 5000));
	close(dirfd);
	br_arena_free(a);
}

/* The exit file's two forms, and what is refused. */
static void
test_exit_file_format(void)
{
	char dir[300];
	br_err err = BR_ERR_INIT;
	int64_t st, at;
	bool oom;

	snprintf(dir, sizeof(dir), "%s/exitfile", top);
	T_OK(mkdir(dir, 0700) == 0);
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	T_NOERR(br_shim_write_exit_oom(dirfd, 137, 1234, true, &err), err);
	T_EQ_STR(read_file(dir, "exit"), "137 1234 oom\n");
	T_NOERR(br_shim_read_exit_oom(dirfd, &st, &at, &oom, &err), err);
	T_EQ_INT(st, 137);
	T_EQ_INT(at, 1234);
	T_OK(oom);
	T_NOERR(br_shim_read_exit(dirfd, &st, &at, &err), err); /* older readers: the status */
	T_EQ_INT(st, 137);
	T_NOERR(br_shim_write_exit(dirfd, 3, 99, &err), err);
	T_EQ_STR(read_file(dir, "exit"), "3 99\n");
	T_NOERR(br_shim_read_exit_oom(dirfd, &st, &at, &oom, &err), err);
	T_OK(!oom);
	static const char *const bad[] = {"3 99 oops\n", "3 99 oom", "3\n", "3 99 oom\nx",
	                                  "300 1\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char path[400];
		snprintf(path, sizeof(path), "%s/exit", dir);
		xwrite_file(path, bad[i]);
		br_err_clear(&err);
		T_ERR(br_shim_read_exit_oom(dirfd, &st, &at, &oom, &err), err, BR_INVALID_ARGUMENT);
	}
	close(dirfd);
}

int
main(int argc, char **argv)
{
	static const struct t_case cases[] = {
	        T_CASE(test_output_and_exit_code),
	        T_CASE(test_create_failure_reports_runtime_error),
	        T_CASE(test_kill_and_wait),
	        T_CASE(test_force_delete_running),
	        T_CASE(test_delete_created_task),
	        T_CASE(test_shim_outlives_its_starter),
	        T_CASE(test_output_is_complete),
	        T_CASE(test_protocol_errors),
	        T_CASE(test_oom_reported),
	        T_CASE(test_exit_file_format),
	};
	snprintf(top, sizeof(top), "/tmp/berth-shim-test.XXXXXX");
	if (mkdtemp(top) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cgroup_parent, sizeof(cgroup_parent), "berth-test-%d", (int)getpid());
	int rc = t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	cleanup_all();
	return rc;
}
