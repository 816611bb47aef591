/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For unit tests that drive a real daemon binary: $BERTH_BUILD/berth-<name> (BERTH_BUILD
 * defaults to "build"; test/run.sh sets it), started on a private temporary root that is
 * removed when the test case ends, however it ends, with a br_rpc_client to its socket.
 *
 *   struct t_daemon d = {0};
 *   t_daemon_setup(&d, "contentd");            temp root, client, start, wait for health
 *   ... br_rpc_call(d.client, ...) ...
 *   t_daemon_kill9(&d); t_daemon_start(&d);    crash and restart on the same root
 *   t_daemon_teardown(&d);                     SIGTERM (must exit 0), free the client
 *
 * A case that needs configuration sets d.config_json before t_daemon_setup; it is written to
 * <dir>/berth.json and passed with --config.
 *
 * The daemon gets PR_SET_PDEATHSIG, so a case that dies on a failed check takes it along.
 */
#ifndef BR_TEST_UNIT_T_DAEMON_H
#define BR_TEST_UNIT_T_DAEMON_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/msg.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"

struct t_daemon {
	const char *name; /* the daemon without "berth-" */
	char dir[64];
	char bin[512];
	char url[256];
	pid_t pid;
	br_rpc_client *client;
	br_arena *arena;
	const char *config_json; /* NULL: the built-in defaults */
};

static inline void
t_guard_dir(const char *dir)
{
	int status = 0;
	char cmd[128];

	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0) {
		alarm(T_TIMEOUT_S - 5);
		return;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		status = 1 << 8;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static inline void
t_daemon_start(struct t_daemon *d)
{
	char root[128], state[128], log[128], config[128];

	snprintf(root, sizeof(root), "%s/root", d->dir);
	snprintf(state, sizeof(state), "%s/state", d->dir);
	snprintf(log, sizeof(log), "%s/daemon.log", d->dir);
	snprintf(config, sizeof(config), "%s/berth.json", d->dir);
	if (d->config_json != NULL) {
		FILE *f = fopen(config, "w");
		T_NOT_NULL(f);
		T_OK(fputs(d->config_json, f) >= 0);
		T_EQ_INT(fclose(f), 0);
	}
	fflush(NULL);
	d->pid = fork();
	T_OK(d->pid >= 0);
	if (d->pid == 0) {
		/* If the test dies on a failed check, its daemon goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (d->config_json != NULL)
			execl(d->bin, d->bin, "--root", root, "--state", state, "--log-level",
			      "debug", "--config", config, (char *)NULL);
		else
			execl(d->bin, d->bin, "--root", root, "--state", state, "--log-level",
			      "debug", (char *)NULL);
		_exit(127);
	}
	/* Ready when it answers daemon.health. */
	for (int i = 0; i < 200; i++) {
		struct br_health h;
		br_err err = BR_ERR_INIT;
		struct br_call_opts opts = {.timeout_ms = 1000};
		if (br_rpc_call(d->client, &opts, "daemon.health", NULL, NULL, &br_health_schema,
		                &h, d->arena, &err) == 0) {
			T_OK(strncmp(h.name, "berth-", 6) == 0 && strcmp(h.name + 6, d->name) == 0);
			T_EQ_INT(h.pid, d->pid);
			return;
		}
		int status;
		if (waitpid(d->pid, &status, WNOHANG) == d->pid)
			T_FAIL_("berth-%s exited before it was ready (status %d); see %s", d->name,
			        status, log);
		usleep(50 * 1000);
	}
	T_FAIL_("berth-%s did not answer daemon.health within 10 s; see %s", d->name, log);
}

static inline void
t_daemon_setup(struct t_daemon *d, const char *name)
{
	const char *build = getenv("BERTH_BUILD");
	br_err err = BR_ERR_INIT;
	struct stat sb;

	d->name = name;
	snprintf(d->bin, sizeof(d->bin), "%s/berth-%s", build && build[0] ? build : "build", name);
	if (stat(d->bin, &sb) < 0 || !(sb.st_mode & S_IXUSR))
		T_FAIL_("daemon binary %s not found: build it, or point BERTH_BUILD at the build "
		        "directory",
		        d->bin);
	snprintf(d->dir, sizeof(d->dir), "/tmp/berth-test-%.16s-XXXXXX", name);
	T_NOT_NULL(mkdtemp(d->dir));
	t_guard_dir(d->dir);
	char peer[64];
	snprintf(peer, sizeof(peer), "berth-%s", name);
	/* The front door's socket is <state>/berth.sock; the others are named after the daemon. */
	snprintf(d->url, sizeof(d->url), "ipc://%s/state/%s.sock", d->dir,
	         strcmp(name, "gatewayd") == 0 ? "berth" : name);
	T_NOERR(br_rpc_client_new(d->url, peer, &d->client, &err), err);
	d->arena = br_arena_new();
	t_daemon_start(d);
}

/* SIGTERM and wait: a clean stop exits 0. */
static inline void
t_daemon_stop(struct t_daemon *d)
{
	char log[128];
	int status = 0;

	T_EQ_INT(kill(d->pid, SIGTERM), 0);
	for (int i = 0; i < 200; i++) {
		if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
			d->pid = 0;
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				return;
			snprintf(log, sizeof(log), "%s/daemon.log", d->dir);
			t_show_tail(log, 40);
			T_FAIL_("berth-%s stopped with status 0x%x", d->name, status);
		}
		usleep(50 * 1000);
	}
	kill(d->pid, SIGKILL);
	T_FAIL_("berth-%s did not stop within 10 s of SIGTERM", d->name);
}

static inline void
t_daemon_kill9(struct t_daemon *d)
{
	int status;

	T_EQ_INT(kill(d->pid, SIGKILL), 0);
	T_EQ_INT(waitpid(d->pid, &status, 0), d->pid);
	d->pid = 0;
}

static inline void
t_daemon_teardown(struct t_daemon *d)
{
	if (d->pid > 0)
		t_daemon_stop(d);
	br_rpc_client_free(d->client);
	br_arena_free(d->arena);
	br_rpc_shutdown();
}

#endif
