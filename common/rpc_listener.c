/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RPC server's listening socket: made with its mode and group after removing a stale
 * socket file, and kept accepting against what nng 1.5.2 lets a misbehaving peer do to it
 * (the sendmsg() below), with a watchdog for anything else.
 */
#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/rpc_server_int.h"
#include "common/xalloc.h"

#define WATCHDOG_MS 1000
#define PROBE_TIMEOUT_MS 2000

/* Remove a socket file left behind by a dead process: only a socket, and only if nobody
 * accepts connections on it. A live one is an error (another instance is running). */
static int
remove_stale_socket(const char *url, br_err *err)
{
	const char *path;
	struct stat st;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (strncmp(url, "ipc://", 6) != 0)
		return 0;
	path = url + 6;
	if (lstat(path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return br_err_set(err, BR_FAILED_PRECONDITION, "%s exists and is not a socket",
		                  path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return br_err_set(err, BR_INVALID_ARGUMENT, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return br_err_set(err, BR_ALREADY_EXISTS,
		                  "%s is in use: another process is listening on it", path);
	if (errno != ECONNREFUSED)
		return br_err_errno(err, BR_FAILED_PRECONDITION, errno, "probe %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return br_err_errno(err, BR_FAILED_PRECONDITION, errno, "remove stale socket %s",
		                    path);
	return 0;
}

int
br_rpc_server_listen(br_rpc_server *server, br_err *err)
{
	const char *url = server->url;
	int rc;

	if (remove_stale_socket(url, err) < 0)
		return br_err_wrap(err, "listen on %s", url);
	if ((rc = nng_listener_create(&server->listener, server->sock, url)) != 0)
		return br_err_set(err, rc == NNG_EADDRINVAL ? BR_INVALID_ARGUMENT : BR_INTERNAL,
		                  "listen on %s: %s", url, nng_strerror(rc));
	if (strncmp(url, "ipc://", 6) == 0)
		nng_listener_set_int(server->listener, NNG_OPT_IPC_PERMISSIONS,
		                     server->socket_mode);
	if ((rc = nng_listener_start(server->listener, 0)) != 0) {
		nng_listener_close(server->listener);
		return br_err_set(err, BR_UNAVAILABLE, "listen on %s: %s", url, nng_strerror(rc));
	}
	if (server->socket_group != NULL && strncmp(url, "ipc://", 6) == 0) {
		struct group *g = getgrnam(server->socket_group);
		if (g != NULL && chown(url + 6, 0, g->gr_gid) < 0)
			br_log_warn("RPC-CHOWN", "chown %s to group \"%s\": %s, ignoring", url + 6,
			            server->socket_group, strerror(errno));
	}
	return 0;
}

/*
 * nng 1.5.2 hands a failed handshake's error to the listener's pending accept, and for
 * NNG_ECLOSED the listener never accepts again: the transport still answers handshakes, but
 * no new pipe ever reaches the socket, and a caller that connects meanwhile waits for a reply
 * that never comes. nng makes NNG_ECLOSED of EPIPE, which is what writing our SP header gets
 * when the peer connected and hung up at once: any local user can do that to the front door
 * in a loop. nng 1.6 reports that case as a connection shut by the peer, after which the
 * listener goes on accepting; this does the same one level lower. nng writes with sendmsg()
 * (MSG_NOSIGNAL) through the PLT, so this definition, linked into every process that serves,
 * takes the place of libc's: EPIPE on a UNIX socket becomes ECONNRESET, which nng 1.5.2 also
 * takes for "the peer went away, keep accepting" (and its dialers for "redial"). Both say the
 * peer is gone, so no caller of sendmsg() loses anything by it. Remove it once nng is 1.6.
 */
ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = (ssize_t)syscall(SYS_sendmsg, fd, msg, flags);
	int domain = 0;
	socklen_t len = sizeof(domain);

	if (n < 0 && errno == EPIPE && (flags & MSG_NOSIGNAL)) {
		bool unix_socket = getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
		                   domain == AF_UNIX;
		errno = unix_socket ? ECONNRESET : EPIPE;
	}
	return n;
}

/*
 * The watchdog, for any other way the listener might stop accepting. Every WATCHDOG_MS a
 * worker makes one daemon.health call on a fresh connection; when it cannot get through
 * (UNAVAILABLE or DEADLINE_EXCEEDED), the loop replaces the listener. Closing a listener
 * closes the connections it accepted too (nng), so callers with calls in flight see them
 * fail UNAVAILABLE and reconnect: the price of a front door that would otherwise stay shut.
 */
struct probe {
	uv_work_t work;
	br_rpc_server *server;
	char *url;
	bool alive;
};

static bool
probe_socket(const char *url)
{
	struct br_call_opts opts = {.timeout_ms = PROBE_TIMEOUT_MS};
	br_rpc_client *client = NULL;
	br_err err = BR_ERR_INIT;
	int rc;

	if (br_rpc_client_new(url, "self", &client, &err) < 0)
		return true; /* cannot tell; leave a listener that may be fine alone */
	rc = br_rpc_call(client, &opts, "daemon.health", NULL, NULL, NULL, NULL, NULL, &err);
	br_rpc_client_free(client);
	return rc == 0 || (err.code != BR_UNAVAILABLE && err.code != BR_DEADLINE_EXCEEDED);
}

static void
probe_work(uv_work_t *work)
{
	struct probe *p = work->data;
	p->alive = probe_socket(p->url);
}

static void
probe_done(uv_work_t *work, int status)
{
	struct probe *p = work->data;
	br_rpc_server *server = p->server;
	br_err err = BR_ERR_INIT;

	server->probing = false;
	if (!server->closing && !p->alive) {
		nng_listener_close(server->listener);
		if (br_rpc_server_listen(server, &err) < 0)
			br_log_error("RPC-RELISTEN", "%s", err.msg);
		else
			br_log_warn("RPC-RELISTEN",
			            "a call on a new connection to %s did not get through within "
			            "%d ms; listening anew",
			            server->url, PROBE_TIMEOUT_MS);
	}
	free(p->url);
	free(p);
	br_rpc_server_unref(server);
}

static void
watchdog_tick(uv_timer_t *timer)
{
	br_rpc_server *server = timer->data;
	struct probe *p;

	if (server->closing || server->probing)
		return;
	p = xnew(struct probe);
	p->work.data = p;
	p->server = server;
	p->url = xstrdup(server->url);
	server->probing = true;
	server->refs++;
	uv_queue_work(server->loop->uv, &p->work, probe_work, probe_done);
}

static void
watchdog_closed(uv_handle_t *handle)
{
	br_rpc_server_unref(handle->data);
}

void
br_rpc_server_watchdog_start(br_rpc_server *server)
{
	server->watchdog = true;
	uv_timer_init(server->loop->uv, &server->watchdog_timer);
	server->watchdog_timer.data = server;
	server->refs++; /* released by the timer's close callback */
	uv_timer_start(&server->watchdog_timer, watchdog_tick, WATCHDOG_MS, WATCHDOG_MS);
}

void
br_rpc_server_watchdog_stop(br_rpc_server *server)
{
	if (!server->watchdog)
		return;
	server->watchdog = false;
	uv_timer_stop(&server->watchdog_timer);
	uv_close((uv_handle_t *)&server->watchdog_timer, watchdog_closed);
}
