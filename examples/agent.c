/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal node agent on libberth: it follows the /tasks/exit events of every namespace it
 * may read and prints one line per container exit,
 *
 *     <seq> <namespace> <container id> exit <status> at <time>
 *
 * e.g. "42 default web-1 exit 3 at 2026-11-27T14:04:08.123456789Z", for ever, across
 * restarts of the gateway (the subscription resumes after the last event it printed, so no
 * exit is lost or printed twice). To continue after a restart of the agent itself, pass the
 * last sequence number it printed.
 *
 * Usage: agent [SOCKET [AFTER_SEQ]]   (SOCKET: default $BERTH_SOCKET, else
 *                                      /run/berth/berth.sock; "" or "-" for that default)
 *
 * Build: cc -o agent agent.c $(pkg-config --cflags --libs berth)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <berth.h>

/* "2026-11-27T14:04:08.123456789Z" for a time in ns since the epoch. */
static void
format_time(int64_t ns, char *buf, size_t cap)
{
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;
	char date[32];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%09" PRId64 "Z", date, ns % 1000000000);
}

static int
parse_seq(const char *s, int64_t *ret)
{
	char *end = NULL;

	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*ret = v;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *socket_path = NULL;
	const char *topics[] = {"/tasks/exit"};
	berth_event_filter filter = {.topics = topics, .n_topics = 1};
	berth_client *client = NULL;
	berth_subscription *sub = NULL;
	berth_error err;

	if (argc > 3 || (argc > 1 && strcmp(argv[1], "--help") == 0)) {
		fprintf(stderr, "Usage: %s [SOCKET [AFTER_SEQ]]\n", argv[0]);
		return 2;
	}
	if (argc > 1 && argv[1][0] != '\0' && strcmp(argv[1], "-") != 0)
		socket_path = argv[1];
	if (argc > 2 && parse_seq(argv[2], &filter.after_seq) < 0) {
		fprintf(stderr, "agent: invalid sequence number \"%s\"\n", argv[2]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (berth_connect(socket_path, &client, &err) < 0 ||
	    berth_subscribe(client, &filter, &sub, &err) < 0) {
		fprintf(stderr, "agent: %s: %s\n", berth_code_name(err.code), err.message);
		berth_close(client);
		return 1;
	}
	for (;;) {
		berth_event ev;
		int rc = berth_next_event(sub, &ev, -1, &err);
		if (rc < 0) {
			fprintf(stderr, "agent: after event %" PRId64 ": %s: %s\n",
			        berth_subscription_last_seq(sub), berth_code_name(err.code),
			        err.message);
			break;
		}
		if (rc == 0) /* only when the stream has an end, which this one has not */
			break;

		char id[256] = "-", status[32] = "-", when[64];
		int64_t v, at = ev.time;
		if (!berth_event_string(&ev, "container_id", id, sizeof(id)))
			berth_event_string(&ev, "id", id, sizeof(id));
		if (berth_event_int(&ev, "exit_status", &v))
			snprintf(status, sizeof(status), "%" PRId64, v);
		if (berth_event_int(&ev, "exited_at", &v) && v > 0)
			at = v;
		format_time(at, when, sizeof(when));
		printf("%" PRId64 " %s %s exit %s at %s\n", ev.seq, ev.ns, id, status, when);
	}
	berth_unsubscribe(sub);
	berth_close(client);
	return 1;
}
