/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal RPC server process for tests that must kill or restart a server:
 *
 *   rpc_test_server URL COUNT_FILE
 *
 * Serves "test.echo" {name, n} -> {name, n} and "test.hang" {} (appends one line to
 * COUNT_FILE per request received and never answers), as "berth-test". SIGTERM stops it
 * cleanly.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/loop.h"
#include "common/rpc.h"

struct echo {
	const char *name;
	int64_t n;
};
static const struct br_field echo_fields[] = {
        BR_FIELD(struct echo, name, BR_F_STR, 64, BR_F_REQUIRED),
        BR_FIELD(struct echo, n, BR_F_I64, 0, 0),
};
static const struct br_schema echo_schema = BR_SCHEMA(struct echo, echo_fields);

static const char *count_file;
static br_call *held[64];
static int nheld;

static void
on_echo(br_call *call, void *data)
{
	br_call_reply(call, &echo_schema, br_call_params(call));
}

static void
on_hang(br_call *call, void *data)
{
	int fd = open(count_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		ssize_t w = write(fd, "x\n", 2);
		(void)w;
		close(fd);
	}
	if (nheld < 64)
		held[nheld++] = call;
	else
		br_call_failf(call, BR_RESOURCE_EXHAUSTED, "too many");
}

static const struct br_method methods[] = {
        {"test.echo", &echo_schema, on_echo},
        {"test.hang", NULL, on_hang},
};

static br_rpc_server *server;
static struct br_loop loop;
static uv_signal_t sigterm;

static void
on_sigterm(uv_signal_t *h, int signum)
{
	br_rpc_server_free(server);
	server = NULL;
	for (int i = 0; i < nheld; i++)
		br_call_failf(held[i], BR_UNAVAILABLE, "stopping");
	nheld = 0;
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_stop(loop.uv);
}

int
main(int argc, char **argv)
{
	uv_loop_t uv;
	br_err err = BR_ERR_INIT;
	struct br_server_opts opts = {.name = "berth-test", .version = "test"};

	if (argc != 3) {
		fprintf(stderr, "usage: %s URL COUNT_FILE\n", argv[0]);
		return 2;
	}
	count_file = argv[2];
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&uv);
	if (br_loop_init(&loop, &uv, &err) < 0 ||
	    br_rpc_server_new(&loop, argv[1], methods, 2, NULL, &opts, &server, &err) < 0) {
		fprintf(stderr, "rpc_test_server: %s\n", err.msg);
		return 1;
	}
	uv_signal_init(&uv, &sigterm);
	uv_signal_start(&sigterm, on_sigterm, SIGTERM);
	uv_run(&uv, UV_RUN_DEFAULT);
	br_loop_fini(&loop);
	uv_loop_close(&uv);
	br_rpc_shutdown();
	return 0;
}
