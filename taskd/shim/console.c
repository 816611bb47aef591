/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Terminals. A process with `terminal: true` gets its pty from the runtime: the shim listens on
 * a socket given as --console-socket, the runtime connects and sends the pty's master with
 * SCM_RIGHTS. The runtime does so before it returns (create, exec --detach), and the
 * connection waits in the listen backlog meanwhile, so the shim accepts it after the runtime
 * exited. The master is the process's input and output from then on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "taskd/shim/shim.h"

/* A listening socket for the runtime's --console-socket: its path in `path`. */
static int
console_listen(struct shim *s, const char *name, char *path, size_t cap, br_err *err)
{
	static unsigned serial;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int n = snprintf(path, cap, "%s/%s", s->state_dir, name);

	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || (size_t)n >= cap)
		snprintf(path, cap, "/tmp/berth-console-%d-%u.sock", (int)getpid(), serial++);
	/* Either path fits: the first was measured, the second is short. */
	memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "console socket");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return br_err_errno(err, BR_INTERNAL, e, "listen on %s", path);
	}
	return fd;
}

/* Accept the runtime's connection on `listen_fd` and receive the pty master (non-blocking,
 * close-on-exec); closes listen_fd and removes `path`. */
static int
console_receive(int listen_fd, const char *path, int *ret_master, br_err *err)
{
	char byte[256];
	int conn = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int rc = -1;

	close(listen_fd);
	unlink(path);
	if (conn < 0)
		return br_err_errno(err, BR_INTERNAL, errno,
		                    "the runtime sent no terminal on its console socket");
	struct timeval tv = {.tv_sec = 5};
	setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ssize_t n = br_stream_recv_fd(conn, byte, sizeof(byte), ret_master, err);
	if (n >= 0 && *ret_master < 0)
		br_err_set(err, BR_INTERNAL, "the runtime's console message carried no terminal");
	else if (n >= 0)
		rc = 0;
	close(conn);
	if (rc == 0)
		fcntl(*ret_master, F_SETFL, fcntl(*ret_master, F_GETFL) | O_NONBLOCK);
	return rc;
}

int
shim_runtime_run_terminal(struct shim *s, const char **args, size_t n, const char *name,
                          int timeout_ms, int *ret_master, br_err *err)
{
	char path[4200];
	int fd = console_listen(s, name, path, sizeof(path), err);

	if (fd < 0)
		return -1;
	args[n++] = "--console-socket";
	args[n++] = path;
	args[n++] = s->id;
	args[n] = NULL;
	if (shim_runtime_run(s, args, -1, -1, timeout_ms, err) < 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	return console_receive(fd, path, ret_master, err);
}

void
shim_console_resize(int master, uint32_t rows, uint32_t cols)
{
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};

	if (master < 0 || rows == 0 || cols == 0 || rows > 0xffff || cols > 0xffff)
		return;
	ioctl(master, TIOCSWINSZ, &ws);
}
