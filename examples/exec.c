/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A node agent's exec with libberth: run a command in a running container, pass our stdin to
 * it, print its output as it comes and exit with its status.
 *
 *   cc -o exec examples/exec.c $(pkg-config --cflags --libs berth)
 *   ./exec SOCKET CONTAINER COMMAND [ARG...] < input
 *
 * Input and output go at the same time (poll): the container's side stops reading our input
 * while its output waits for us, so an agent that wrote everything before reading could wait
 * forever.
 */
#include <berth.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	static char buf[BERTH_STREAM_FRAME_MAX];
	berth_client *c = NULL;
	berth_error err = {0};
	int fd, type;
	size_t len;
	bool input = true;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SOCKET CONTAINER COMMAND [ARG...]\n", argv[0]);
		return 2;
	}
	berth_exec_options o = {
	        .args = (const char *const *)argv + 3,
	        .n_args = (size_t)(argc - 3),
	        .stdin = true,
	};
	if (berth_connect(argv[1], &c, &err) < 0 ||
	    berth_exec_open(c, NULL, argv[2], &o, &fd, &err) < 0) {
		fprintf(stderr, "exec: %s: %s\n", berth_code_name(err.code), err.message);
		berth_close(c);
		return 125;
	}
	for (;;) {
		struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
		                      {.fd = input ? 0 : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents) {
			ssize_t n = read(0, buf, sizeof(buf));
			if (n > 0) {
				if (berth_stream_write(fd, BERTH_STREAM_STDIN, buf, (size_t)n,
				                       &err) < 0)
					input = false;
			} else {
				berth_stream_write(fd, BERTH_STREAM_STDIN_CLOSE, NULL, 0, &err);
				input = false;
			}
		}
		if (p[0].revents == 0)
			continue;
		if (berth_stream_read(fd, -1, &type, buf, sizeof(buf), &len, &err) < 0) {
			fprintf(stderr, "exec: %s\n", err.message);
			break;
		}
		if (type == BERTH_STREAM_STDOUT || type == BERTH_STREAM_STDERR) {
			fwrite(buf, 1, len, type == BERTH_STREAM_STDOUT ? stdout : stderr);
			fflush(type == BERTH_STREAM_STDOUT ? stdout : stderr);
		} else if (type == BERTH_STREAM_EXIT && len == 4) {
			unsigned char *b = (unsigned char *)buf;
			int status = b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
			close(fd);
			berth_close(c);
			return status & 0xff;
		}
	}
	close(fd);
	berth_close(c);
	return 125;
}
