/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth stop, restart, kill, wait, pause and unpause: the verbs that act on a container's running
 * task, each on every CONTAINER given, in order, printing each container done (wait: its exit
 * code). A failure is reported naming the container and the next one tried; the exit code is that
 * of the last failure (wait: the last container's exit code). `stop` is one call, tasks.stop, so
 * that taskd finishes it (stop signal, timeout, SIGKILL) even if berth dies meanwhile.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/proto/tasks.h"
#include "common/signal_name.h"
#include "ctl/ctl.h"

#define STOP_DEFAULT_SECONDS 10
#define STOP_MAX_SECONDS (BR_TASK_STOP_TIMEOUT_MAX_MS / 1000)
/* tasks.stop answers after the timeout plus taskd's wait for the SIGKILL (10 s) */
#define STOP_CALL_MARGIN_MS 30000
#define WAIT_POLL_MS 20000

/* The -t SECONDS of stop and restart: 0..STOP_MAX_SECONDS, else -1. Pure. */
static int64_t
parse_seconds(const char *s)
{
	char *end;
	long n;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	n = strtol(s, &end, 10);
	return *end == '\0' && n <= STOP_MAX_SECONDS ? n : -1;
}

/* tasks.stop: a container already stopped (or never started) is no error. */
static int
stop_container(struct ctl *ctl, const char *id, int64_t seconds, br_err *err)
{
	struct br_task_stop_req req = {.id = id, .timeout_ms = seconds * 1000};

	if (ctl_call(ctl, "tasks.stop", &br_task_stop_req_schema, &req, NULL, NULL, NULL,
	             req.timeout_ms + STOP_CALL_MARGIN_MS, err) < 0)
		return br_err_wrap(err, "stop %s", id);
	return 0;
}

/* stop and restart: `restart` starts each container after stopping it. */
static int
stop_or_restart(struct ctl *ctl, int argc, char **argv, bool restart)
{
	static const struct option opts[] = {
	        {"time", required_argument, NULL, 't'},
	        {"timeout", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	int64_t seconds = STOP_DEFAULT_SECONDS;
	int c, rc = 0;

	struct ctl_opts op = {argc, argv, "+t:h", opts, argv[0]};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 't':
			seconds = parse_seconds(optarg);
			if (seconds < 0)
				return ctl_usage_error("invalid -t \"%s\": expected seconds, 0-%d",
				                       optarg, STOP_MAX_SECONDS);
			break;
		case 'h':
			printf("Usage: berth %s [-t SECONDS] CONTAINER...\n\n"
			       "%s each container: its stop signal (the image's StopSignal, else "
			       "SIGTERM),\nthen SIGKILL if it still runs after SECONDS (default "
			       "%d)%s.\n",
			       argv[0], restart ? "Restart" : "Stop", STOP_DEFAULT_SECONDS,
			       restart ? "; then start it again" : "");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage_error("%s needs a CONTAINER", argv[0]);
	for (int i = optind; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		if (stop_container(ctl, argv[i], seconds, &err) < 0 ||
		    (restart && ctl_start_container(ctl, argv[i], &err) < 0)) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

int
ctl_cmd_stop(struct ctl *ctl, int argc, char **argv)
{
	return stop_or_restart(ctl, argc, argv, false);
}

int
ctl_cmd_restart(struct ctl *ctl, int argc, char **argv)
{
	return stop_or_restart(ctl, argc, argv, true);
}

int
ctl_cmd_kill(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"signal", required_argument, NULL, 's'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct br_task_kill_req req = {.signal = 9};
	int c, rc = 0;

	struct ctl_opts op = {argc, argv, "+s:h", opts, "kill"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 's':
			req.signal = (uint32_t)br_signal_parse(optarg);
			if (req.signal == 0)
				return ctl_usage_error(
				        "invalid signal \"%s\": expected a name (KILL, "
				        "SIGTERM) or a number 1-64",
				        optarg);
			break;
		case 'h':
			printf("Usage: berth kill [-s SIGNAL] CONTAINER...\n\n"
			       "Send SIGNAL (a name such as KILL or SIGHUP, or a number; default "
			       "KILL)\nto the init of each running container.\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage_error("kill needs a CONTAINER");
	for (int i = optind; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		req.id = argv[i];
		if (ctl_call(ctl, "tasks.kill", &br_task_kill_req_schema, &req, NULL, NULL, NULL, 0,
		             &err) < 0) {
			br_err_wrap(&err, "kill %s", argv[i]);
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

/* The exit status of container `id` once its task exited; -1 with err. */
static int
wait_container(struct ctl *ctl, const char *id, br_err *err)
{
	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_task_wait_req req = {.id = id, .timeout_ms = WAIT_POLL_MS};
		struct br_task task;

		if (ctl_call(ctl, "tasks.wait", &br_task_wait_req_schema, &req, &br_task_schema,
		             &task, arena, WAIT_POLL_MS + 10000, err) < 0)
			return br_err_wrap(err, "wait %s", id);
		if (strcmp(task.status, "stopped") == 0)
			return (int)(task.exit_status & 0xff);
	}
}

int
ctl_cmd_wait(struct ctl *ctl, int argc, char **argv)
{
	int rc = 0;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth wait CONTAINER...\n\n"
		       "Wait until each container exits and print its exit code; berth exits with "
		       "the\nlast one's.\n");
		return 0;
	}
	if (argc < 2)
		return ctl_usage_error("wait needs a CONTAINER");
	for (int i = 1; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		int status = wait_container(ctl, argv[i], &err);
		if (status < 0) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%d\n", status);
		fflush(stdout);
		rc = status;
	}
	return rc;
}

int
ctl_cmd_pause(struct ctl *ctl, int argc, char **argv)
{
	struct br_container_id_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "tasks.pause", &br_container_id_req_schema, &req,
	                    &req.id,
	                    "Usage: berth pause CONTAINER...\n\nFreeze every process of each "
	                    "running container.\n");
}

int
ctl_cmd_unpause(struct ctl *ctl, int argc, char **argv)
{
	struct br_container_id_req req = {0};

	return ctl_each_arg(ctl, argc, argv, "tasks.resume", &br_container_id_req_schema, &req,
	                    &req.id,
	                    "Usage: berth unpause CONTAINER...\n\nThaw each paused container.\n");
}
