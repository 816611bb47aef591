/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth run: create a container, start its task and, unless detached, follow its output with
 * tasks.logs (stdout to fd 1, stderr to fd 2, as they come) until it exits; the exit status
 * becomes berth's own. SIGINT and SIGTERM received while attached are forwarded with
 * tasks.kill (the third one sends SIGKILL, since a container's init ignores signals it has no
 * handler for). Failures of berth itself exit 125, a command that cannot be invoked 126 and
 * one that is not found 127, as docker and podman do. `berth create` is run's first half (the
 * same options, the same containers.create) and `berth start -a` its second (start, then the
 * same following and signal forwarding), so the three share those functions.
 *
 * A restart of the gateway or taskd at any moment ends no run: create and start carry request
 * ids and are asked again until they are answered (a call that ran gets its first outcome),
 * following goes on from its cursor, and --rm is taskd's (the container's auto_remove): when
 * the container is gone by the time we are back, its exit code comes from the event log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proto/images.h"
#include "common/proto/events.h"
#include "common/proto/tasks.h"
#include "common/seccomp.h"
#include "common/xalloc.h"
#include "ctl/attach.h"
#include "ctl/ctl.h"
#include "ctl/run.h"
#include "libberth/internal.h"

#define LOGS_WAIT_MS 5000
#define RETRY_UNAVAILABLE_MS 30000
#define RETRY_PAUSE_MS 250
#define REMOVE_WAIT_MS 15000 /* --rm: how long run waits to see taskd's removal */
#define EXIT_EVENT_WAIT_MS 30000
#define KILL_ESCALATE_AFTER 3

/* A transient failure: the gateway or taskd is restarting, the call may or may not have run. */
static bool
transient(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_DEADLINE_EXCEEDED || code == BR_CANCELED;
}

static void sleep_ms(int64_t ms);

/* The exit status of container `id` from its /tasks/exit in the event log at or after
 * `since_ns` (the container may have been removed by its auto_remove before we could ask
 * taskd), waiting for it for at most EXIT_EVENT_WAIT_MS. */
static int
exit_from_events(struct ctl *ctl, const char *id, int64_t since_ns, br_err *err)
{
	const char *topics[] = {BR_TOPIC_TASK_EXIT};
	const char *ns = ctl->ns != NULL && ctl->ns[0] != '\0' ? ctl->ns : "default";
	const char *nss[] = {ns};
	struct br_events_subscribe_req req = {
	        .since = since_ns, .topics = {topics, 1}, .namespaces = {nss, 1}, .wait_ms = 2000};
	int64_t start = ctl_now_ms();
	int status = -1;

	while (ctl_now_ms() - start < EXIT_EVENT_WAIT_MS) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_event_page page;
		if (ctl_call(ctl, "events.subscribe", &br_events_subscribe_req_schema, &req,
		             &br_event_page_schema, &page, arena, 10000, err) < 0) {
			if (!transient(err->code))
				return br_err_wrap(err, "the exit of container %s", id);
			br_err_clear(err);
			sleep_ms(RETRY_PAUSE_MS);
			continue;
		}
		const struct br_event *evs = page.events.v;
		for (size_t i = 0; i < page.events.n; i++) {
			msgpack_object obj;
			struct br_event_task_exit ex;
			br_err ignored = BR_ERR_INIT;
			if (br_msg_unpack(evs[i].payload.data, evs[i].payload.len, arena, &obj,
			                  &ignored) == 0 &&
			    br_msg_decode(&obj, &br_event_task_exit_schema, "", arena, &ex,
			                  &ignored) == 0 &&
			    ex.container_id != NULL && strcmp(ex.container_id, id) == 0)
				status = (int)(ex.exit_status & 0xff);
		}
		req.since = 0;
		req.after = page.next;
		if (status >= 0 && page.next >= page.last)
			return status;
	}
	return br_err_set(err, BR_NOT_FOUND,
	                  "container %s was removed and its exit is not in the event log", id);
}

int
ctl_run_start_exit_code(const br_err *err)
{
	switch (err->code) {
	case BR_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case BR_PERMISSION_DENIED:
		return CTL_EXIT_CANNOT_INVOKE;
	default:
		return CTL_EXIT_RUN_FAILED;
	}
}

/* True when container `id` is gone: tasks.start's NOT_FOUND then named the container (someone
 * removed it meanwhile), not the command. Asked by code, as every decision here. */
static bool
container_gone(struct ctl *ctl, const char *id)
{
	struct br_container_id_req req = {.id = id};
	br_err err = BR_ERR_INIT;

	return ctl_call(ctl, "containers.get", &br_container_id_req_schema, &req, NULL, NULL, NULL,
	                0, &err) < 0 &&
	       err.code == BR_NOT_FOUND;
}

/* Shared with the signal thread. */
struct attach {
	struct ctl *ctl;
	const char *id;
	atomic_bool started;
	atomic_int nsignals;
};

static void
send_kill(struct attach *a, int sig)
{
	int n = atomic_fetch_add(&a->nsignals, 1) + 1;
	struct br_task_kill_req req = {
	        .id = a->id,
	        .signal = (uint32_t)(n >= KILL_ESCALATE_AFTER ? SIGKILL : sig),
	};
	br_err err = BR_ERR_INIT;

	if (ctl_call(a->ctl, "tasks.kill", &br_task_kill_req_schema, &req, NULL, NULL, NULL, 0,
	             &err) < 0 &&
	    err.code != BR_FAILED_PRECONDITION)
		fprintf(stderr, "berth: forward signal %d to %s: %s\n", (int)req.signal, a->id,
		        err.msg);
}

static void
on_signal(int sig, void *data)
{
	struct attach *a = data;

	if (atomic_load(&a->started))
		send_kill(a, sig);
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Copy the task's output from `from` (a log cursor of tasks.logs; NULL: the log's start) to our
 * fds until it exits; its exit status, or -1 with err. */
static int
follow(struct ctl *ctl, const char *id, const struct br_task_logs_resp *from, int64_t since_ns,
       br_err *err)
{
	struct br_task_logs_req req = {.id = id, .wait_ms = LOGS_WAIT_MS};

	if (from != NULL) {
		req.stdout_offset = from->file_offset;
		req.stderr_offset = from->file_id;
	}
	bool out_ok = true, err_ok = true;
	int64_t unavailable_since = 0;

	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_task_logs_resp resp;

		if (ctl_call(ctl, "tasks.logs", &br_task_logs_req_schema, &req,
		             &br_task_logs_resp_schema, &resp, arena, LOGS_WAIT_MS + 10000,
		             err) < 0) {
			/* taskd restarting: the container keeps running, so keep trying. */
			if (err->code == BR_UNAVAILABLE || err->code == BR_DEADLINE_EXCEEDED) {
				int64_t now = ctl_now_ms();
				if (unavailable_since == 0)
					unavailable_since = now;
				if (now - unavailable_since < RETRY_UNAVAILABLE_MS) {
					sleep_ms(250);
					continue;
				}
			}
			/* Removed by its auto_remove (run --rm) while we were away: the event log
			 * has its exit. */
			if (err->code == BR_NOT_FOUND && since_ns > 0) {
				br_err_clear(err);
				return exit_from_events(ctl, id, since_ns, err);
			}
			return br_err_wrap(err, "follow container %s", id);
		}
		unavailable_since = 0;
		br_err ignored = BR_ERR_INIT; /* a closed stdout or stderr is written no more */
		if (resp.stdout_data.len > 0 && out_ok &&
		    br_write_all(STDOUT_FILENO, resp.stdout_data.data, resp.stdout_data.len,
		                 &ignored) < 0)
			out_ok = false;
		if (resp.stderr_data.len > 0 && err_ok &&
		    br_write_all(STDERR_FILENO, resp.stderr_data.data, resp.stderr_data.len,
		                 &ignored) < 0)
			err_ok = false;
		req.stdout_offset = resp.stdout_offset;
		req.stderr_offset = resp.stderr_offset;
		if (resp.exited && resp.stdout_data.len == 0 && resp.stderr_data.len == 0)
			return (int)(resp.exit_status & 0xff);
	}
}

/* --rm: remove the task and the container; failures are reported, not fatal. */
static void
remove_container(struct ctl *ctl, const char *id)
{
	struct br_container_id_req req = {.id = id, .force = true};
	br_err err = BR_ERR_INIT;

	if (ctl_call(ctl, "tasks.delete", &br_container_id_req_schema, &req, NULL, NULL, NULL, 0,
	             &err) < 0 &&
	    err.code != BR_NOT_FOUND && err.code != BR_FAILED_PRECONDITION) {
		br_err_wrap(&err, "remove container %s", id);
		ctl_report(&err);
	}
	br_err_clear(&err);
	if (ctl_call(ctl, "containers.delete", &br_container_id_req_schema, &req, NULL, NULL, NULL,
	             0, &err) < 0 &&
	    err.code != BR_NOT_FOUND) {
		br_err_wrap(&err, "remove container %s", id);
		ctl_report(&err);
	}
}

/* --pull missing|always|never, as docker: the image is pulled first when it is not in the
 * namespace (missing, the default) or every time (always); with never a missing image is a
 * NOT_FOUND error. Progress and the result line go to stderr, which is ours; stdout is the
 * container's. */
static int
pull_image(struct ctl *ctl, const struct ctl_run_opts *o, br_err *err)
{
	const char *policy = o->pull ? o->pull : "missing";
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_image_name_req req = {.name = o->image};
	struct br_image img;
	int rc;

	if (strcmp(policy, "always") != 0) {
		if (ctl_call(ctl, "images.get", &br_image_name_req_schema, &req, &br_image_schema,
		             &img, arena, 0, err) == 0)
			return 0;
		if (err->code != BR_NOT_FOUND)
			return -1;
		if (strcmp(policy, "never") == 0)
			return br_err_set(err, BR_NOT_FOUND,
			                  "image \"%s\" is not present, and --pull never forbids "
			                  "pulling it",
			                  o->image);
		br_err_clear(err);
		fprintf(stderr, "Unable to find image '%s' locally\n", o->image);
	}
	rc = ctl_images_pull(ctl, o->image, stderr);
	if (rc != 0)
		/* Already reported; the create that follows would only repeat it. */
		return br_err_set(err, BR_FAILED_PRECONDITION, "%s: the pull failed", o->image);
	return 0;
}

/* containers.create with the options of run or create, under `rid` (NULL: none), asked again
 * while the gateway or taskd is away; the container in *ret, its strings in `arena`. Errors as
 * containers.create's. */
static int
create_container(struct ctl *ctl, const struct ctl_run_opts *o, const char *rid, br_arena *arena,
                 struct br_container *ret, br_err *err)
{
	struct br_container_create_req req;

	if (pull_image(ctl, o, err) < 0)
		return -1;
	ctl_run_create_req(o, &req);
	req.request_id = rid;
	return ctl_call_retrying(ctl, "containers.create", &br_container_create_req_schema, &req,
	                         &br_container_schema, ret, arena, err);
}

/* --rm: taskd removes the container once its exit is recorded; wait (a while) until it did,
 * so that what follows `berth run` no longer sees it. */
static void
wait_removed(struct ctl *ctl, const char *id)
{
	struct br_container_id_req req = {.id = id};
	int64_t since = ctl_now_ms(), pause = 2;

	while (ctl_now_ms() - since < REMOVE_WAIT_MS) {
		br_err err = BR_ERR_INIT;
		/* Gone (NOT_FOUND), or nothing to learn (another failure): done. */
		if (ctl_call(ctl, "containers.get", &br_container_id_req_schema, &req, NULL, NULL,
		             NULL, 0, &err) < 0 &&
		    !transient(err.code))
			return;
		/* The removal takes the runtime's delete and an unmount, some 10 ms: look again
		 * soon, then less often. */
		sleep_ms(pause);
		pause = pause * 2 > 100 ? 100 : pause * 2;
	}
}

/* The task of a->id started: forward signals from now on and follow its output from `from`
 * until it exits. Its exit status, or CTL_EXIT_RUN_FAILED after reporting. */
static int
attach_follow(struct attach *a, const struct br_task_logs_resp *from, int64_t since_ns)
{
	br_err err = BR_ERR_INIT;
	int rc;

	atomic_store(&a->started, true);
	/* A signal that came before the task existed is forwarded now. */
	if (ctl_signal_last() != 0 && atomic_load(&a->nsignals) == 0)
		send_kill(a, ctl_signal_last());
	rc = follow(a->ctl, a->id, from, since_ns, &err);
	if (rc < 0) {
		ctl_report(&err);
		rc = CTL_EXIT_RUN_FAILED;
	}
	return rc;
}

/* run -i/-t: start the task with a stream attached (so no output is missed), pump it until
 * the exit (or the detach keys), then --rm. Signals are forwarded as for run; in raw mode our
 * terminal sends ctrl-c as a byte instead. */
static int
run_attached(struct attach *a, const struct ctl_run_opts *o)
{
	br_err err = BR_ERR_INIT;
	int rc;
	int fd = ctl_stream_start(a->ctl, a->id, o->interactive, o->tty, &err);

	if (fd < 0) {
		ctl_report(&err);
		rc = ctl_run_start_exit_code(&err);
		if (rc == CTL_EXIT_NOT_FOUND && container_gone(a->ctl, a->id))
			rc = CTL_EXIT_RUN_FAILED;
		if (o->rm)
			remove_container(a->ctl, a->id);
		return rc;
	}
	atomic_store(&a->started, true);
	struct ctl_pump_opts po = {.stdin = o->interactive, .tty = o->tty};
	rc = ctl_stream_pump(fd, &po, &err);
	close(fd);
	if (rc == CTL_STREAM_DETACHED) {
		/* It runs on; --rm is for whoever ends it. */
		return 0;
	}
	if (rc < 0) {
		ctl_report(&err);
		rc = CTL_EXIT_RUN_FAILED;
	} else {
		rc &= 0xff;
	}
	if (o->rm)
		wait_removed(a->ctl, a->id);
	return rc;
}

int
ctl_cmd_run(struct ctl *ctl, int argc, char **argv)
{
	struct ctl_run_opts o;
	br_err err = BR_ERR_INIT;

	if (ctl_run_parse(argc, argv, &o, &err) < 0) {
		fprintf(stderr, "berth: %s\nRun 'berth run --help' for usage.\n", err.msg);
		return CTL_EXIT_RUN_FAILED;
	}
	if (o.help) {
		fputs(ctl_run_usage, stdout);
		ctl_run_opts_free(&o);
		return 0;
	}

	struct attach *a = xnew(struct attach);
	a->ctl = ctl;
	if (!o.detach && ctl_signals_start(on_signal, a, &err) < 0) {
		free(a);
		ctl_run_opts_free(&o);
		ctl_report(&err);
		return CTL_EXIT_RUN_FAILED;
	}

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container container;
	/* Where the event log holds this run's exit, should the container be gone (--rm) when
	 * we ask for it: a little before now, for clocks that differ. */
	int64_t since_ns = (ctl_now_ms() - 1000) * 1000000;
	char create_rid[33], start_rid[33];
	int rc;
	libberth_request_id(create_rid);
	libberth_request_id(start_rid);
	if (create_container(ctl, &o, create_rid, arena, &container, &err) < 0) {
		ctl_report(&err);
		rc = CTL_EXIT_RUN_FAILED;
		goto out;
	}
	a->id = container.id;
	if ((o.interactive || o.tty) && !o.detach) {
		rc = run_attached(a, &o);
		goto out;
	}

	struct br_container_id_req start = {.id = container.id, .request_id = start_rid};
	if (ctl_call_retrying(ctl, "tasks.start", &br_container_id_req_schema, &start, NULL, NULL,
	                      NULL, &err) < 0) {
		if (o.rm && err.code == BR_NOT_FOUND && container_gone(ctl, container.id)) {
			/* Started, exited and removed while our start was asked again. */
			br_err probe = BR_ERR_INIT;
			int status = exit_from_events(ctl, container.id, since_ns, &probe);
			if (status >= 0) {
				if (o.detach)
					printf("%s\n", container.id);
				rc = o.detach ? 0 : status;
				goto out;
			}
		}
		ctl_report(&err);
		rc = ctl_run_start_exit_code(&err);
		if (rc == CTL_EXIT_NOT_FOUND && container_gone(ctl, container.id))
			rc = CTL_EXIT_RUN_FAILED;
		if (o.rm)
			remove_container(ctl, container.id);
		goto out;
	}
	if (o.detach) {
		printf("%s\n", container.id);
		rc = 0;
		goto out;
	}
	rc = attach_follow(a, NULL, o.rm ? since_ns : 0);
	if (o.rm)
		wait_removed(ctl, container.id);
out:
	ctl_signals_stop();
	free(a);
	ctl_run_opts_free(&o);
	return rc;
}

/* ---- create, start ---- */

static const char create_usage[] =
        "Usage: berth create [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
        "\n"
        "Create a container without starting it and print its ID. The options are those of\n"
        "'berth run' except --rm and -d.\n";

int
ctl_cmd_create(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct ctl_run_opts o;
	struct br_container container;
	br_err err = BR_ERR_INIT;

	if (ctl_run_parse(argc, argv, &o, &err) < 0) {
		fprintf(stderr, "berth: %s\nRun 'berth create --help' for usage.\n", err.msg);
		return CTL_EXIT_RUN_FAILED;
	}
	if (o.help) {
		fputs(create_usage, stdout);
		ctl_run_opts_free(&o);
		return 0;
	}
	if (o.rm || o.detach) {
		ctl_run_opts_free(&o);
		fprintf(stderr, "berth: create: --rm and -d are options of run\n");
		return CTL_EXIT_RUN_FAILED;
	}
	int rc = 0;
	char rid[33];
	libberth_request_id(rid);
	if (create_container(ctl, &o, rid, arena, &container, &err) < 0) {
		ctl_report(&err);
		rc = CTL_EXIT_RUN_FAILED;
	} else {
		printf("%s\n", container.id);
	}
	ctl_run_opts_free(&o);
	return rc;
}

/* Start the task of container `id`: a running (or paused) one is left as it is, a stopped one's
 * task is deleted first so that it starts afresh, as `docker start` restarts an exited
 * container. Errors: those of tasks.start, naming the container. */
int
ctl_start_container(struct ctl *ctl, const char *id, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_id_req req = {.id = id};
	struct br_task task;
	br_err probe = BR_ERR_INIT;

	if (ctl_call(ctl, "tasks.get", &br_container_id_req_schema, &req, &br_task_schema, &task,
	             arena, 0, &probe) == 0) {
		if (strcmp(task.status, "stopped") != 0)
			return 0;
		if (ctl_call(ctl, "tasks.delete", &br_container_id_req_schema, &req, NULL, NULL,
		             NULL, 0, err) < 0 &&
		    err->code != BR_NOT_FOUND)
			return br_err_wrap(err, "start %s", id);
		br_err_clear(err);
	} else if (probe.code != BR_NOT_FOUND) {
		*err = probe;
		return br_err_wrap(err, "start %s", id);
	}
	if (ctl_call(ctl, "tasks.start", &br_container_id_req_schema, &req, NULL, NULL, NULL, 0,
	             err) < 0)
		return br_err_wrap(err, "start %s", id);
	return 0;
}

static const char start_usage[] =
        "Usage: berth start [-a [-i]] CONTAINER...\n"
        "\n"
        "Start created or stopped containers and print their IDs.\n"
        "\n"
        "Options:\n"
        "  -a, --attach   follow the output of the (one) container until it exits and exit\n"
        "                 with its status, as 'berth run' does\n"
        "  -i, --interactive\n"
        "                 with -a: attach our stdin too (and our terminal, to a container\n"
        "                 created with -t), as 'berth run -i' does\n";

/* start -a ID: as run without creating. */
static int
start_attached(struct ctl *ctl, const char *id)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_task_logs_resp end = {0};
	br_err err = BR_ERR_INIT;
	int rc;

	/* Follow from the log's end: a restarted container's log holds its earlier runs. */
	struct br_task_logs_req at_end = {.id = id, .tail_set = true, .tail = 0};
	if (ctl_call(ctl, "tasks.logs", &br_task_logs_req_schema, &at_end,
	             &br_task_logs_resp_schema, &end, arena, 0, &err) < 0) {
		if (err.code != BR_NOT_FOUND)
			return ctl_report(&err);
		br_err_clear(&err); /* no log yet */
	}
	struct attach *a = xnew(struct attach);
	a->ctl = ctl;
	a->id = id;
	if (ctl_signals_start(on_signal, a, &err) < 0) {
		free(a);
		return ctl_report(&err);
	}
	if (ctl_start_container(ctl, id, &err) < 0) {
		ctl_report(&err);
		rc = ctl_run_start_exit_code(&err);
		if (rc == CTL_EXIT_NOT_FOUND && container_gone(ctl, id))
			rc = ctl_exit_code(BR_NOT_FOUND); /* the container, not the command */
	} else {
		rc = attach_follow(a, &end, 0);
	}
	ctl_signals_stop();
	free(a);
	return rc;
}

int
ctl_cmd_start(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"attach", no_argument, NULL, 'a'},
	        {"interactive", no_argument, NULL, 'i'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool attach = false, interactive = false;
	int c, rc = 0;

	struct ctl_opts op = {argc, argv, "+aih", opts, "start"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'a':
			attach = true;
			break;
		case 'i':
			interactive = true;
			break;
		case 'h':
			fputs(start_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage_error("start needs a CONTAINER");
	if (attach) {
		if (argc - optind > 1)
			return ctl_usage_error("start -a takes one CONTAINER");
		return interactive ? ctl_start_interactive(ctl, argv[optind])
		                   : start_attached(ctl, argv[optind]);
	}
	for (int i = optind; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		if (ctl_start_container(ctl, argv[i], &err) < 0) {
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}
