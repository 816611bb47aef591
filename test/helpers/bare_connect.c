/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connects to a UNIX socket and closes it at once, without a word of the protocol, COUNT
 * times: what a port scanner or a confused client does to a front door. Used by the
 * integration suite to check that the gateway keeps answering afterwards.
 * Usage: bare_connect PATH [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int count = argc > 2 ? atoi(argv[2]) : 1;

	if (argc < 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: bare_connect PATH [COUNT]\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	for (int i = 0; i < count; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror(argv[1]);
			return 1;
		}
		close(fd);
	}
	return 0;
}
