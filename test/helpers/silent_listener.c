/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listens on 127.0.0.1 on a port of the kernel's choosing, writes that port to FILE (whole,
 * by a rename, once it listens), then accepts every connection and never answers nor closes
 * one: a registry that hangs. Used by the integration suite to check that a push waiting on
 * it is canceled. Runs until killed.
 * Usage: silent_listener FILE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	char tmp[4096];
	FILE *f;

	if (argc != 2 || snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]) >= (int)sizeof(tmp)) {
		fprintf(stderr, "usage: silent_listener FILE\n");
		return 2;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) < 0) {
		perror("silent_listener");
		return 1;
	}
	if ((f = fopen(tmp, "we")) == NULL || fprintf(f, "%d\n", ntohs(a.sin_port)) < 0 ||
	    fclose(f) != 0 || rename(tmp, argv[1]) < 0) {
		perror(argv[1]);
		return 1;
	}
	for (;;) {
		/* Accepted connections stay open, unanswered, until the process ends. */
		if (accept4(fd, NULL, NULL, SOCK_CLOEXEC) < 0)
			perror("accept");
	}
}
