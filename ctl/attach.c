/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Interactive I/O: berth exec, berth attach, and the -i/-t half of berth run. Each opens a
 * stream (common/stream.h) on the gateway's stream socket through libberth and pumps it: our stdin
 * to the process as STDIN frames (STDIN_CLOSE at its end), its STDOUT and STDERR frames to our fds,
 * a RESIZE frame at every SIGWINCH, until EXIT, whose status becomes ours. With a terminal on both
 * sides ours is put in raw mode for the session, and the detach keys (ctrl-p ctrl-q) end the
 * session while the process runs on. The pump never blocks on the socket in one direction while the
 * other is full: input waits in one frame's buffer, output is read whenever it comes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/proto/tasks.h"
#include "common/stream.h"
#include "common/xalloc.h"
#include "ctl/attach.h"
#include "ctl/ctl.h"
#include "libberth/internal.h"

#define DETACH_1 0x10 /* ctrl-p */
#define DETACH_2 0x11 /* ctrl-q */

/* ------------------------------------------------------------------ opening */

int
ctl_stream_open(struct ctl *ctl, const char *method, const struct br_schema *ps, const void *params,
                br_err *err)
{
	int fd = -1;

	if (libberth_stream_open_schema(ctl->address, method, ctl->ns, ps, params, &fd, err) < 0)
		return -1;
	return fd;
}

/* ------------------------------------------------------------------ terminals */

static struct termios saved_termios;
static bool raw_mode;

static void
restore_terminal(void)
{
	if (raw_mode) {
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
		raw_mode = false;
	}
}

static void
make_raw(void)
{
	struct termios t;

	if (raw_mode || tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return;
	t = saved_termios;
	cfmakeraw(&t);
	if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0) {
		raw_mode = true;
		atexit(restore_terminal);
	}
}

void
ctl_terminal_size(uint32_t *ret_rows, uint32_t *ret_cols)
{
	struct winsize ws = {0};

	*ret_rows = *ret_cols = 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return;
	*ret_rows = ws.ws_row;
	*ret_cols = ws.ws_col;
}

static int winch_pipe[2] = {-1, -1};

static void
on_winch(int sig)
{
	int e = errno;
	char c = 1;

	if (write(winch_pipe[1], &c, 1) < 0) {
		/* full: a resize is pending already */
	}
	errno = e;
}

/* ------------------------------------------------------------------ the pump */

struct pump {
	int fd;
	bool send_stdin, stdin_done, detach_keys, held; /* held: a ctrl-p waits for the next */
	uint8_t *in;                                    /* frames waiting to be sent */
	size_t in_off, in_len;
	uint8_t *out; /* frames read, not yet whole */
	size_t out_len;
	bool out_ok, err_ok;
};

static void
queue(struct pump *p, enum br_stream_type type, const void *data, size_t len)
{
	br_stream_header_pack(p->in + p->in_off + p->in_len, type, (uint32_t)len);
	if (len > 0)
		memcpy(p->in + p->in_off + p->in_len + BR_STREAM_HEADER_LEN, data, len);
	p->in_len += BR_STREAM_HEADER_LEN + len;
}

static void
queue_resize(struct pump *p)
{
	uint32_t rows, cols;
	uint8_t v[4];

	ctl_terminal_size(&rows, &cols);
	if (rows == 0 || cols == 0)
		return;
	v[0] = (uint8_t)(rows >> 8);
	v[1] = (uint8_t)rows;
	v[2] = (uint8_t)(cols >> 8);
	v[3] = (uint8_t)cols;
	queue(p, BR_STREAM_RESIZE, v, sizeof(v));
}

/* Read our stdin into one STDIN frame; true when the detach keys were typed. */
static bool
read_stdin(struct pump *p)
{
	uint8_t buf[BR_STREAM_FRAME_MAX - 1], data[BR_STREAM_FRAME_MAX];
	size_t n_out = 0;
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return false;
	if (n <= 0) {
		if (p->held)
			queue(p, BR_STREAM_STDIN, (uint8_t[]){DETACH_1}, 1);
		p->held = false;
		queue(p, BR_STREAM_STDIN_CLOSE, NULL, 0);
		p->stdin_done = true;
		return false;
	}
	for (ssize_t i = 0; i < n; i++) {
		uint8_t b = buf[i];
		if (p->detach_keys && p->held) {
			p->held = false;
			if (b == DETACH_2)
				return true;
			data[n_out++] = DETACH_1;
		}
		if (p->detach_keys && b == DETACH_1) {
			p->held = true;
			continue;
		}
		data[n_out++] = b;
	}
	if (n_out > 0)
		queue(p, BR_STREAM_STDIN, data, n_out);
	return false;
}

static void
write_out(bool *ok, int fd, const void *data, size_t len)
{
	br_err ignored = BR_ERR_INIT;

	/* A closed stdout or stderr is written no more; the process goes on. */
	if (*ok && br_write_all(fd, data, len, &ignored) < 0)
		*ok = false;
}

/* Act on the whole frames read so far; 1 with *ret_status at EXIT, -1 on a bad frame. */
static int
take_frames(struct pump *p, int *ret_status, br_err *err)
{
	size_t off = 0;
	int rc = 0;

	while (p->out_len - off >= BR_STREAM_HEADER_LEN) {
		enum br_stream_type type;
		uint32_t len;
		if (br_stream_header_parse(p->out + off, &type, &len, err) < 0)
			return -1;
		if (p->out_len - off - BR_STREAM_HEADER_LEN < len)
			break;
		const uint8_t *data = p->out + off + BR_STREAM_HEADER_LEN;
		off += BR_STREAM_HEADER_LEN + len;
		if (type == BR_STREAM_STDOUT) {
			write_out(&p->out_ok, STDOUT_FILENO, data, len);
		} else if (type == BR_STREAM_STDERR) {
			write_out(&p->err_ok, STDERR_FILENO, data, len);
		} else if (type == BR_STREAM_EXIT && len == 4) {
			*ret_status = (int)((uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
			                    (uint32_t)data[2] << 8 | data[3]);
			rc = 1;
			break;
		}
	}
	memmove(p->out, p->out + off, p->out_len - off);
	p->out_len -= off;
	return rc;
}

int
ctl_stream_pump(int fd, const struct ctl_pump_opts *o, br_err *err)
{
	struct pump p = {
	        .fd = fd,
	        .send_stdin = o->stdin,
	        .detach_keys = o->stdin && o->tty && isatty(STDIN_FILENO),
	        .in = xmalloc(2 * (BR_STREAM_FRAME_MAX + BR_STREAM_HEADER_LEN)),
	        .out = xmalloc(BR_STREAM_FRAME_MAX + BR_STREAM_HEADER_LEN),
	        .out_ok = true,
	        .err_ok = true,
	};
	struct sigaction sa = {.sa_handler = on_winch, .sa_flags = SA_RESTART}, old_sa;
	int status = -1, rc = -1;

	if (o->tty && isatty(STDIN_FILENO) && o->stdin)
		make_raw();
	if (o->tty && winch_pipe[0] < 0 && pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGWINCH, &sa, &old_sa);
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[3] = {
		        {.fd = fd, .events = POLLIN | (p.in_len > 0 ? POLLOUT : 0)},
		        {.fd = p.send_stdin && !p.stdin_done && p.in_len == 0 ? STDIN_FILENO : -1,
		         .events = POLLIN},
		        {.fd = o->tty ? winch_pipe[0] : -1, .events = POLLIN},
		};
		int n = poll(pfd, 3, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			br_err_errno(err, BR_INTERNAL, errno, "poll");
			break;
		}
		if (pfd[2].revents) {
			char drain[16];
			while (read(winch_pipe[0], drain, sizeof(drain)) > 0)
				;
			if (p.in_len == 0) {
				p.in_off = 0;
				queue_resize(&p);
			}
		}
		if (pfd[1].revents) {
			p.in_off = 0;
			if (read_stdin(&p)) {
				rc = CTL_STREAM_DETACHED;
				break;
			}
		}
		if (pfd[0].revents & POLLOUT) {
			ssize_t w =
			        send(fd, p.in + p.in_off, p.in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				p.in_off += (size_t)w;
				p.in_len -= (size_t)w;
			} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				/* The shim stopped reading (the process ended): its output still
				 * comes. */
				p.in_len = 0;
				p.send_stdin = false;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t cap = BR_STREAM_FRAME_MAX + BR_STREAM_HEADER_LEN - p.out_len;
			ssize_t r = recv(fd, p.out + p.out_len, cap, MSG_DONTWAIT);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				br_err_set(err, BR_UNAVAILABLE,
				           "the stream ended before the process did (its shim is "
				           "gone)");
				break;
			}
			p.out_len += (size_t)r;
			int t = take_frames(&p, &status, err);
			if (t < 0)
				break;
			if (t > 0) {
				rc = status;
				break;
			}
		}
	}
	restore_terminal();
	if (o->tty && winch_pipe[0] >= 0)
		sigaction(SIGWINCH, &old_sa, NULL);
	free(p.in);
	free(p.out);
	return rc;
}

/* Pump an open stream to its end and close it: the process's status as our exit code, 0 when
 * detached, the error's code when the stream broke. */
static int
session(int fd, const struct ctl_pump_opts *po)
{
	br_err err = BR_ERR_INIT;
	int rc = ctl_stream_pump(fd, po, &err);

	close(fd);
	if (rc == CTL_STREAM_DETACHED)
		return 0;
	if (rc < 0)
		return ctl_report(&err);
	return rc & 0xff;
}

/* Whether container `id` was created with a terminal (its spec's process.terminal). */
static bool has_terminal(struct ctl *ctl, const char *id);

/* ------------------------------------------------------------------ exec */

static const char exec_usage[] =
        "Usage: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]\n"
        "\n"
        "Run a command in a running container; its exit status is berth's.\n"
        "\n"
        "Options:\n"
        "  -i, --interactive      send our stdin to the command\n"
        "  -t, --tty              give the command a terminal (raw mode here; ctrl-p ctrl-q\n"
        "                         detaches and leaves it running)\n"
        "  -d, --detach           start the command and return at once\n"
        "  -e, --env KEY=VALUE    set an environment variable (repeatable)\n"
        "  -u, --user USER[:GROUP]\n"
        "                         run as this user (name or id) instead of the container's\n"
        "  -w, --workdir DIR      run in DIR instead of the container's working directory\n";

/* An error that stopped the command before it ran: docker's codes for the runtime's refusals
 * (126 cannot be invoked, 127 not found); the front door's and taskd's refusals (a role, a
 * missing container) keep their own. */
static int
exec_failed(const br_err *err)
{
	ctl_report(err);
	if (strncmp(err->msg, "container ", 10) == 0 || strstr(err->msg, "needs role") != NULL ||
	    strstr(err->msg, "not allowed to use berth") != NULL)
		return ctl_exit_code(err->code);
	switch (err->code) {
	case BR_NOT_FOUND:
		return CTL_EXIT_NOT_FOUND;
	case BR_PERMISSION_DENIED:
		return CTL_EXIT_CANNOT_INVOKE;
	default:
		return ctl_exit_code(err->code);
	}
}

int
ctl_cmd_exec(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"interactive", no_argument, NULL, 'i'}, {"tty", no_argument, NULL, 't'},
	        {"detach", no_argument, NULL, 'd'},      {"env", required_argument, NULL, 'e'},
	        {"user", required_argument, NULL, 'u'},  {"workdir", required_argument, NULL, 'w'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	struct br_task_exec_req req = {0};
	_cleanup_free_ const char **env = xcalloc((size_t)argc, sizeof(*env));
	bool detach = false;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "+itde:u:w:h", opts, "exec"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'i':
			req.stdin = true;
			break;
		case 't':
			req.terminal = true;
			break;
		case 'd':
			detach = true;
			break;
		case 'e':
			if (ctl_check_env(optarg, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			env[req.env.n++] = optarg;
			break;
		case 'u':
			req.user = optarg;
			break;
		case 'w':
			req.working_dir = optarg;
			break;
		case 'h':
			fputs(exec_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind < 2)
		return ctl_usage_error("exec needs a CONTAINER and a COMMAND");
	req.id = argv[optind];
	req.args.v = (const char **)argv + optind + 1;
	req.args.n = (size_t)(argc - optind - 1);
	req.env.v = env;
	if (detach)
		req.stdin = false;
	if (req.terminal)
		ctl_terminal_size(&req.rows, &req.cols);

	int fd = ctl_stream_open(ctl, "tasks.exec", &br_task_exec_req_schema, &req, &err);
	if (fd < 0)
		return exec_failed(&err);
	if (detach) {
		close(fd);
		return 0;
	}
	struct ctl_pump_opts po = {.stdin = req.stdin, .tty = req.terminal};
	return session(fd, &po);
}

/* ------------------------------------------------------------------ attach */

static const char attach_usage[] =
        "Usage: berth attach [--no-stdin] CONTAINER\n"
        "\n"
        "Attach our stdin, stdout and stderr to a running container's main process: its output\n"
        "from now on, our input to it (if it was created with -i). Ends with its exit status;\n"
        "ctrl-p ctrl-q detaches and leaves it running.\n"
        "\n"
        "Options:\n"
        "      --no-stdin   do not send our stdin\n";

/* Whether container `id` was created with a terminal (its spec's process.terminal). */
static bool
has_terminal(struct ctl *ctl, const char *id)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_id_req req = {.id = id};
	struct br_container_spec_resp resp;
	yajl_val root = NULL, process = NULL;
	bool terminal = false;
	br_err err = BR_ERR_INIT;

	if (ctl_call(ctl, "containers.spec", &br_container_id_req_schema, &req,
	             &br_container_spec_resp_schema, &resp, arena, 0, &err) < 0 ||
	    br_json_parse(resp.spec, strlen(resp.spec), strlen(resp.spec) + 1, "spec", &root,
	                  &err) < 0)
		return false;
	if (br_json_get_obj(root, "", "process", false, &process, &err) == 0 && process != NULL)
		br_json_get_bool(process, "process", "terminal", false, &terminal, &err);
	yajl_tree_free(root);
	return terminal;
}

int
ctl_cmd_attach(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"no-stdin", no_argument, NULL, 'n'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct br_task_attach_req req = {.stdin = true};
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "+h", opts, "attach"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'n':
			req.stdin = false;
			break;
		case 'h':
			fputs(attach_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("attach needs one CONTAINER");
	req.id = argv[optind];
	ctl_terminal_size(&req.rows, &req.cols);
	int fd = ctl_stream_open(ctl, "tasks.attach", &br_task_attach_req_schema, &req, &err);
	if (fd < 0)
		return ctl_report(&err);
	/* Whether the container has a terminal decides raw mode: our terminal then passes keys
	 * through as they are typed, and the container's echoes them. */
	struct ctl_pump_opts po = {.stdin = req.stdin, .tty = has_terminal(ctl, req.id)};
	return session(fd, &po);
}

/* ------------------------------------------------------------------ start -a -i */

int
ctl_stream_start(struct ctl *ctl, const char *id, bool stdin, bool tty, br_err *err)
{
	struct br_task_attach_req req = {
	        .id = id, .stdin = stdin, .close_stdin = true, .start = true};

	if (tty)
		ctl_terminal_size(&req.rows, &req.cols);
	return ctl_stream_open(ctl, "tasks.attach", &br_task_attach_req_schema, &req, err);
}

int
ctl_start_interactive(struct ctl *ctl, const char *id)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_id_req get = {.id = id};
	struct br_task task;
	br_err err = BR_ERR_INIT;

	/* A stopped task goes first, so that the container starts afresh (as start does). */
	if (ctl_call(ctl, "tasks.get", &br_container_id_req_schema, &get, &br_task_schema, &task,
	             arena, 0, &err) == 0) {
		if (strcmp(task.status, "stopped") == 0 &&
		    ctl_call(ctl, "tasks.delete", &br_container_id_req_schema, &get, NULL, NULL,
		             NULL, 0, &err) < 0 &&
		    err.code != BR_NOT_FOUND)
			return ctl_report(&err);
	} else if (err.code != BR_NOT_FOUND) {
		return ctl_report(&err);
	}
	br_err_clear(&err);
	bool tty = has_terminal(ctl, id);
	int fd = ctl_stream_start(ctl, id, true, tty, &err);
	if (fd < 0) {
		ctl_report(&err);
		return err.code == BR_NOT_FOUND && strncmp(err.msg, "container ", 10) != 0
		               ? CTL_EXIT_NOT_FOUND
		               : ctl_exit_code(err.code);
	}
	struct ctl_pump_opts po = {.stdin = true, .tty = tty};
	return session(fd, &po);
}
