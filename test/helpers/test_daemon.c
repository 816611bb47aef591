/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A daemon built on common/daemon.h for tests of the shared daemon skeleton:
 *
 *   test_daemon [--config FILE] [--root DIR] [--state DIR] [--log-level L] [--log-format F]
 *
 * Runs as "berth-testd" (data <root>/testd, state <state>/testd, socket <state>/testd.sock),
 * serves "test.echo" {name, n} and "test.stop" {} (stops the daemon from a handler), and
 * reports {"echoes": N} as extra daemon.health detail. Exit codes: 0 after a clean stop or
 * --help/--version, 2 for usage errors, 1 otherwise.
 */
#include <stdio.h>

#include "common/daemon.h"
#include "common/log.h"

struct echo {
	const char *name;
	int64_t n;
};
static const struct br_field echo_fields[] = {
        BR_FIELD(struct echo, name, BR_F_STR, 64, BR_F_REQUIRED),
        BR_FIELD(struct echo, n, BR_F_I64, 0, 0),
};
static const struct br_schema echo_schema = BR_SCHEMA(struct echo, echo_fields);

struct service {
	struct br_daemon *d;
	int64_t echoes;
	bool stopped;
};

static void
on_echo(br_call *call, void *data)
{
	struct service *s = data;
	s->echoes++;
	br_call_reply(call, &echo_schema, br_call_params(call));
}

static void
on_stop_method(br_call *call, void *data)
{
	struct service *s = data;
	br_call_reply(call, NULL, NULL);
	br_daemon_stop(s->d);
}

static void
health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs)
{
	struct service *s = data;
	br_msg_pack_str(pk, "echoes");
	msgpack_pack_int64(pk, s->echoes);
	*ret_extra_pairs = 1;
}

static void
on_stop(void *data)
{
	struct service *s = data;
	s->stopped = true;
	br_log_notice("TESTD-ON-STOP", "on_stop ran");
}

static const struct br_method methods[] = {
        {"test.echo", &echo_schema, on_echo},
        {"test.stop", NULL, on_stop_method},
};

int
main(int argc, char **argv)
{
	struct br_daemon d;
	struct service s = {.d = &d};
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "testd", argc, argv, &err);
	if (rc == 1)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "berth-testd: %s\n", err.msg);
		return err.code == BR_INVALID_ARGUMENT ? 2 : 1;
	}
	d.health = health;
	d.on_stop = on_stop;
	if (br_daemon_serve(&d, methods, 2, &s, &err) < 0) {
		br_log_error("TESTD-SERVE-FAIL", "%s", err.msg);
		br_daemon_fini(&d);
		return 1;
	}
	br_daemon_fini(&d);
	return s.stopped ? 0 : 1;
}
