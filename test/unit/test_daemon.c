/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/daemon.c, driving test/helpers/test_daemon as a real process on
 * private temp roots: flags and exit codes, directories and socket modes, readiness and
 * stop notifications on $NOTIFY_SOCKET (path and abstract), daemon.health with the daemon's
 * extra detail, stale-socket removal, refusing a socket in use, and clean stops by signal
 * and from a handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"

static char tmpdir[64];
static char root[80], state[80], sock_path[100];
static char url[120];
static char helper[PATH_MAX + 64];

static void
setup(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	T_OK(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(helper, sizeof(helper), "%s/../helpers/test_daemon", self);
	if (access(helper, X_OK) != 0)
		T_SKIP("%s not built", helper);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-test-daemon-XXXXXX");
	T_NOT_NULL(mkdtemp(tmpdir));
	snprintf(root, sizeof(root), "%s/root", tmpdir);
	snprintf(state, sizeof(state), "%s/state", tmpdir);
	snprintf(sock_path, sizeof(sock_path), "%s/testd.sock", state);
	snprintf(url, sizeof(url), "ipc://%s", sock_path);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# cleanup of %s failed\n", tmpdir);
	br_rpc_shutdown();
}

/* Run the helper with `args` (NULL-terminated), NOTIFY_SOCKET set to `notify` if given;
 * stdout+stderr go to <tmpdir>/out. Returns the pid. */
static pid_t
spawn(const char *notify, const char *const *args)
{
	char out[PATH_MAX + 8];
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	pid_t pid = fork();
	if (pid == 0) {
		const char *argv[16] = {helper};
		int i = 1;
		for (; args[i - 1] != NULL && i < 15; i++)
			argv[i] = args[i - 1];
		argv[i] = NULL;
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		if (notify != NULL)
			setenv("NOTIFY_SOCKET", notify, 1);
		else
			unsetenv("NOTIFY_SOCKET");
		execv(helper, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int
wait_exit(pid_t pid)
{
	int status = 0;
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	T_FAIL_("daemon %d did not exit", (int)pid);
	return -1;
}

static char *
output(void)
{
	static char buf[8192];
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/out", tmpdir);
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
	return buf;
}

static void
expect_output(const char *want)
{
	const char *out = output();
	if (strstr(out, want) == NULL)
		T_FAIL_("output does not contain \"%s\":\n%s", want, out);
}

static int
run_to_exit(const char *const *args)
{
	return wait_exit(spawn(NULL, args));
}

static void
test_flags(void)
{
	setup();
	T_EQ_INT(run_to_exit((const char *[]){"--help", NULL}), 0);
	expect_output("Usage: berth-testd [OPTIONS]");
	T_EQ_INT(run_to_exit((const char *[]){"--version", NULL}), 0);
	expect_output("berth-testd 0.1.0");
	T_EQ_INT(run_to_exit((const char *[]){"--bogus", NULL}), 2);
	expect_output("unknown option: --bogus (see --help)");
	T_EQ_INT(run_to_exit((const char *[]){"--root", NULL}), 2);
	expect_output("option requires an argument: --root");
	T_EQ_INT(run_to_exit((const char *[]){"extra", NULL}), 2);
	expect_output("unexpected argument \"extra\"");
	T_EQ_INT(run_to_exit((const char *[]){"--root", "relative", NULL}), 2);
	expect_output("--root: \"relative\" is not an absolute path");
	T_EQ_INT(run_to_exit((const char *[]){"--root", root, "--state", state, "--log-level",
	                                      "loud", NULL}),
	         2);
	expect_output("--log-level: \"loud\" is not one of");
	T_EQ_INT(run_to_exit((const char *[]){"--root", root, "--state", state, "--log-format",
	                                      "xml", NULL}),
	         2);
	expect_output("--log-format: \"xml\" is not text or json");
	char missing[PATH_MAX + 16];
	snprintf(missing, sizeof(missing), "%s/nope.json", tmpdir);
	T_OK(run_to_exit((const char *[]){"--config", missing, NULL}) != 0);
	teardown();
}

/* A datagram socket standing in for systemd's notify socket. */
static int
notify_listen(const char *name, bool abstract)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	T_OK(fd >= 0);
	if (abstract) {
		sa.sun_path[0] = '\0';
		snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "%s", name);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	} else {
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
		len = sizeof(sa);
	}
	T_EQ_INT(bind(fd, (struct sockaddr *)&sa, len), 0);
	return fd;
}

static void
expect_notify(int fd, const char *want)
{
	char buf[256];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	T_EQ_INT(poll(&p, 1, 5000), 1);
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
	T_OK(n > 0);
	buf[n] = '\0';
	T_EQ_STR(buf, want);
}

struct health_extra {
	const char *name;
	const char *status;
	int64_t echoes;
	uint32_t pid;
};
static const struct br_field health_extra_fields[] = {
        BR_FIELD(struct health_extra, name, BR_F_STR, 0, 0),
        BR_FIELD(struct health_extra, status, BR_F_STR, 0, 0),
        BR_FIELD(struct health_extra, echoes, BR_F_I64, 0, 0),
        BR_FIELD(struct health_extra, pid, BR_F_U32, 0, 0),
};
static const struct br_schema health_extra_schema =
        BR_SCHEMA(struct health_extra, health_extra_fields);

struct echo {
	const char *name;
	int64_t n;
};
static const struct br_field echo_fields[] = {
        BR_FIELD(struct echo, name, BR_F_STR, 64, BR_F_REQUIRED),
        BR_FIELD(struct echo, n, BR_F_I64, 0, 0),
};
static const struct br_schema echo_schema = BR_SCHEMA(struct echo, echo_fields);

static void
serve_and_stop(const char *notify, int nfd)
{
	pid_t pid = spawn(notify, (const char *[]){"--root", root, "--state", state, "--log-format",
	                                           "json", NULL});
	expect_notify(nfd, "READY=1");

	struct stat st;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/testd", root);
	T_EQ_INT(stat(path, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/testd", state);
	T_EQ_INT(stat(path, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0700);
	T_EQ_INT(stat(state, &st), 0);
	T_EQ_INT(st.st_mode & 07777, 0711);
	T_EQ_INT(stat(sock_path, &st), 0);
	T_OK(S_ISSOCK(st.st_mode));
	T_EQ_INT(st.st_mode & 0777, 0600);

	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	T_NOERR(br_rpc_client_new(url, "berth-testd", &c, &err), err);
	struct echo in = {.name = "hi", .n = 1}, out;
	T_NOERR(br_rpc_call(c, NULL, "test.echo", &echo_schema, &in, &echo_schema, &out, a, &err),
	        err);
	T_EQ_STR(out.name, "hi");
	struct health_extra h;
	T_NOERR(br_rpc_call(c, NULL, "daemon.health", NULL, NULL, &health_extra_schema, &h, a,
	                    &err),
	        err);
	T_EQ_STR(h.name, "berth-testd");
	T_EQ_STR(h.status, "ok");
	T_EQ_INT(h.echoes, 1);
	T_EQ_INT(h.pid, pid);
	br_rpc_client_free(c);
	br_arena_free(a);

	kill(pid, SIGTERM);
	expect_notify(nfd, "STOPPING=1");
	T_EQ_INT(wait_exit(pid), 0);
	expect_output("\"id\":\"DAEMON-READY\"");
	expect_output("on_stop ran");
	T_OK(access(sock_path, F_OK) != 0); /* the socket file is gone */
}

static void
test_serve_notify_path(void)
{
	setup();
	char npath[PATH_MAX + 16];
	snprintf(npath, sizeof(npath), "%s/notify", tmpdir);
	int nfd = notify_listen(npath, false);
	serve_and_stop(npath, nfd);
	close(nfd);
	teardown();
}

static void
test_serve_notify_abstract(void)
{
	setup();
	char name[64], env[80];
	snprintf(name, sizeof(name), "berth-test-notify-%d", (int)getpid());
	snprintf(env, sizeof(env), "@%s", name);
	int nfd = notify_listen(name, true);
	serve_and_stop(env, nfd);
	close(nfd);
	teardown();
}

static void
test_stale_and_busy_socket(void)
{
	setup();
	/* a socket file left behind by a dead process */
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", state);
	T_EQ_INT(system(cmd), 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	T_EQ_INT(access(sock_path, F_OK), 0);

	pid_t pid = spawn(NULL, (const char *[]){"--root", root, "--state", state, NULL});
	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rpc_client_new(url, "berth-testd", &c, &err), err);
	for (int i = 0; i < 500 && !br_rpc_client_connected(c); i++)
		usleep(10000);
	T_OK(br_rpc_client_connected(c));

	/* a second instance refuses a socket in use */
	char out2[96];
	pid_t pid2 = fork();
	if (pid2 == 0) {
		snprintf(out2, sizeof(out2), "%s/out2", tmpdir);
		int o = open(out2, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		dup2(o, 2);
		dup2(o, 1);
		execl(helper, helper, "--root", root, "--state", state, (char *)NULL);
		_exit(127);
	}
	T_EQ_INT(wait_exit(pid2), 1);
	snprintf(cmd, sizeof(cmd), "grep -q 'is in use: another process is listening' %s/out2",
	         tmpdir);
	T_EQ_INT(system(cmd), 0);

	/* stop from a handler */
	T_NOERR(br_rpc_call(c, NULL, "test.stop", NULL, NULL, NULL, NULL, NULL, &err), err);
	T_EQ_INT(wait_exit(pid), 0);
	br_rpc_client_free(c);
	teardown();
}

T_MAIN(T_CASE(test_flags), T_CASE(test_serve_notify_path), T_CASE(test_serve_notify_abstract),
       T_CASE(test_stale_and_busy_socket))
