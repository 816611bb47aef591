/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a careless or hostile local user can do to the front door's socket, for the
 * integration suites:
 *
 *   front_door_abuse storm PATH COUNT
 *       COUNT connections from STORM_THREADS threads at once, each hanging up early: right
 *       after connect(2) (before the gateway's SP header goes out, which is what stopped
 *       nng 1.5.2's listener for good), after reading the gateway's header, or halfway
 *       through sending its own. Exits 0 once all are closed.
 *
 *   front_door_abuse hold PATH COUNT SECONDS
 *       COUNT connections that complete the SP handshake as a REQ peer and then say nothing,
 *       held for SECONDS (or until killed); prints "ready" once all are established.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define STORM_THREADS 16

/* The SP header of a REQ (protocol 0x30) peer. */
static const unsigned char req_header[8] = {0, 'S', 'P', 0, 0x00, 0x30, 0, 0};

static struct sockaddr_un addr = {.sun_family = AF_UNIX};

static int
connect_once(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		if (errno != EINTR && errno != EAGAIN) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

struct storm {
	int count;
	int failed;
};

static void *
storm_thread(void *arg)
{
	struct storm *s = arg;
	unsigned char buf[8];

	for (int i = 0; i < s->count; i++) {
		int fd = connect_once();
		if (fd < 0) {
			s->failed++;
			continue;
		}
		switch (i % 3) {
		case 0: /* before the gateway's header */
			break;
		case 1: /* after it, before ours */
			if (recv(fd, buf, sizeof(buf), MSG_WAITALL) < 0)
				s->failed++;
			break;
		case 2: /* in the middle of ours */
			if (send(fd, req_header, 3, MSG_NOSIGNAL) < 0)
				s->failed++;
			break;
		}
		close(fd);
	}
	return NULL;
}

static int
storm(int count)
{
	pthread_t threads[STORM_THREADS];
	struct storm s[STORM_THREADS];
	int failed = 0;

	for (int t = 0; t < STORM_THREADS; t++) {
		s[t].count = count / STORM_THREADS + (t < count % STORM_THREADS);
		s[t].failed = 0;
		if (pthread_create(&threads[t], NULL, storm_thread, &s[t]) != 0)
			return 1;
	}
	for (int t = 0; t < STORM_THREADS; t++) {
		pthread_join(threads[t], NULL);
		failed += s[t].failed;
	}
	if (failed > 0)
		fprintf(stderr, "front_door_abuse: %d of %d connections failed\n", failed, count);
	return 0; /* a refused connection is the gateway's right, not the storm's failure */
}

static int
hold(int count, int seconds)
{
	unsigned char buf[8];

	for (int i = 0; i < count; i++) {
		int fd = connect_once(); /* left open until exit */
		if (fd < 0 || send(fd, req_header, sizeof(req_header), MSG_NOSIGNAL) < 0 ||
		    recv(fd, buf, sizeof(buf), MSG_WAITALL) != (ssize_t)sizeof(buf)) {
			perror("front_door_abuse: hold");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	sleep((unsigned)seconds);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 4 || strlen(argv[2]) >= sizeof(addr.sun_path) ||
	    (strcmp(argv[1], "hold") == 0 && argc < 5)) {
		fprintf(stderr, "usage: front_door_abuse storm PATH COUNT\n"
		                "       front_door_abuse hold PATH COUNT SECONDS\n");
		return 2;
	}
	strcpy(addr.sun_path, argv[2]);
	if (strcmp(argv[1], "storm") == 0)
		return storm(atoi(argv[3]));
	if (strcmp(argv[1], "hold") == 0)
		return hold(atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "front_door_abuse: unknown mode \"%s\"\n", argv[1]);
	return 2;
}
