/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The skeleton every daemon's main() shares: command-line flags over the configuration file,
 * logging, the data and state directories, the libuv loop with its br_loop bridge, stop
 * signals, the RPC server on the daemon's socket, and systemd readiness notification
 * (implemented by hand: one datagram to $NOTIFY_SOCKET, no libsystemd).
 *
 * Stop order: STOPPING=1, the daemon's on_stop hook (still with a live server and loop, the
 * place to free RPC clients so that their CANCELED completions run now), the server (calls
 * still waiting for a handler are answered UNAVAILABLE), the signal handles, then the loop
 * returns from br_daemon_serve(). br_daemon_fini() runs what is still queued, closes any
 * handle left open and frees everything.
 */
#include "common/daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/xalloc.h"

/* ------------------------------------------------------------------ sd_notify */

/* $NOTIFY_SOCKET, taken out of the environment on first use so that children (shims, runc,
 * CNI plugins) do not inherit it: runc would otherwise treat it as its own. */
static char notify_socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
static bool notify_taken;

static void
take_notify_socket(void)
{
	const char *s;

	if (notify_taken)
		return;
	notify_taken = true;
	s = getenv("NOTIFY_SOCKET");
	if (s != NULL && strlen(s) < sizeof(notify_socket) && (s[0] == '/' || s[0] == '@'))
		snprintf(notify_socket, sizeof(notify_socket), "%s", s);
	unsetenv("NOTIFY_SOCKET");
}

void
br_sd_notify(const char *state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n;

	take_notify_socket();
	if (notify_socket[0] == '\0')
		return;
	n = strlen(notify_socket);
	memcpy(sa.sun_path, notify_socket, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		br_log_debug("DAEMON-NOTIFY-FAIL", "notify %s: %s", notify_socket, strerror(errno));
}

/* ------------------------------------------------------------------ init */

static void
usage(const struct br_daemon *d, FILE *out)
{
	fprintf(out,
	        "Usage: %s [OPTIONS]\n"
	        "\n"
	        "Options:\n"
	        "  --config FILE       configuration file (default %s)\n"
	        "  --root DIR          root of persistent data (default /var/lib/berth)\n"
	        "  --state DIR         root of runtime state and sockets (default /run/berth)\n"
	        "  --log-level LEVEL   error, warn, notice, info or debug (default info)\n"
	        "  --log-format FORMAT text or json (default text)\n"
	        "  --help              show this help and exit\n"
	        "  --version           show the version and exit\n",
	        d->proc_name, BR_CONFIG_DEFAULT_PATH);
}

static int
set_abs_path(char **dst, const char *flag, const char *value, br_err *err)
{
	if (value[0] != '/')
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: \"%s\" is not an absolute path",
		                  flag, value);
	free(*dst);
	*dst = xstrdup(value);
	return 0;
}

/* Release what init built, leaving `d` as br_daemon_fini() expects of a failed init. */
static void
daemon_release(struct br_daemon *d)
{
	free(d->proc_name);
	free(d->data_dir);
	free(d->state_dir);
	free(d->socket_url);
	br_config_free(d->cfg);
	memset(d, 0, sizeof(*d));
}

/* Create the parent directory of an ipc:// socket if it is missing. */
static int
make_socket_dir(const char *url, br_err *err)
{
	if (strncmp(url, "ipc://", 6) != 0)
		return 0;
	_cleanup_free_ char *dir = xstrdup(url + 6);
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	return br_mkdir_p(dir, 0711, err);
}

int
br_daemon_init(struct br_daemon *d, const char *name, int argc, char **argv, br_err *err)
{
	static const struct option options[] = {
	        {"config", required_argument, NULL, 'c'},
	        {"root", required_argument, NULL, 'r'},
	        {"state", required_argument, NULL, 's'},
	        {"log-level", required_argument, NULL, 'l'},
	        {"log-format", required_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *root = NULL, *state = NULL, *level = NULL, *format = NULL;
	int opt, rc;

	memset(d, 0, sizeof(*d));
	d->name = name;
	d->proc_name = xasprintf("berth-%s", name);
	d->socket_mode = 0600;
	d->watchdog = true;
	take_notify_socket();
	signal(SIGPIPE, SIG_IGN);

	optind = 0; /* a full re-initialisation of getopt, so that init may run twice */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'r':
			root = optarg;
			break;
		case 's':
			state = optarg;
			break;
		case 'l':
			level = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'h':
			usage(d, stdout);
			daemon_release(d);
			return 1;
		case 'V':
			printf("%s %s\n", d->proc_name, BR_VERSION);
			daemon_release(d);
			return 1;
		default:
			br_err_set(err, BR_INVALID_ARGUMENT, "%s: %s (see --help)",
			           optopt != 0 && strchr("crslf", optopt) != NULL
			                   ? "option requires an argument"
			                   : "unknown option",
			           argv[optind - 1]);
			daemon_release(d);
			return -1;
		}
	}
	if (optind < argc) {
		br_err_set(err, BR_INVALID_ARGUMENT, "unexpected argument \"%s\" (see --help)",
		           argv[optind]);
		daemon_release(d);
		return -1;
	}

	if (br_config_load(config_path, &d->cfg, err) < 0)
		goto fail;
	if (root != NULL && set_abs_path(&d->cfg->root, "--root", root, err) < 0)
		goto fail;
	if (state != NULL && set_abs_path(&d->cfg->state, "--state", state, err) < 0)
		goto fail;
	if (level != NULL && br_log_level_parse(level, &d->cfg->log_level) < 0) {
		br_err_set(err, BR_INVALID_ARGUMENT,
		           "--log-level: \"%s\" is not one of error, warn, notice, info, debug",
		           level);
		goto fail;
	}
	if (format != NULL) {
		if (strcmp(format, "text") == 0) {
			d->cfg->log_format = BR_LOG_TEXT;
		} else if (strcmp(format, "json") == 0) {
			d->cfg->log_format = BR_LOG_JSON;
		} else {
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "--log-format: \"%s\" is not text or json", format);
			goto fail;
		}
	}
	br_log_init(d->proc_name, d->cfg->log_level, d->cfg->log_format);

	d->data_dir = br_config_data_dir(d->cfg, name);
	d->state_dir = br_config_state_dir(d->cfg, name);
	d->socket_url = br_config_socket_url(d->cfg, name);
	/* The roots only need to be traversable (the front-door socket lives in <state>);
	 * each daemon's own directories are private. */
	if (br_mkdir_p(d->cfg->root, 0711, err) < 0 || br_mkdir_p(d->cfg->state, 0711, err) < 0 ||
	    br_mkdir_p(d->data_dir, 0700, err) < 0 || br_mkdir_p(d->state_dir, 0700, err) < 0 ||
	    make_socket_dir(d->socket_url, err) < 0)
		goto fail;

	if ((rc = uv_loop_init(&d->uv)) < 0) {
		br_err_set(err, BR_INTERNAL, "initialize the event loop: %s", uv_strerror(rc));
		goto fail;
	}
	if (br_loop_init(&d->loop, &d->uv, err) < 0) {
		uv_loop_close(&d->uv);
		goto fail;
	}
	return 0;

fail:
	daemon_release(d);
	return -1;
}

/* ------------------------------------------------------------------ daemon.metrics */

static int64_t
wall_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
br_daemon_metrics(struct br_daemon *d, struct br_metrics *m)
{
	if (d->server != NULL)
		br_rpc_server_metrics(d->server, m);
	br_metrics_gauge(m, "berth_start_time_seconds",
	                 "When the daemon started serving, in seconds since the Unix epoch.", NULL,
	                 (double)d->started_at_ms / 1000, NULL);
	if (d->outbox != NULL) {
		int64_t pending = br_outbox_pending(d->outbox);
		if (pending >= 0)
			br_metrics_gauge(m, "berth_outbox_pending_messages",
			                 "Messages in the daemon's outbox not yet acknowledged by "
			                 "their target.",
			                 NULL, (double)pending, NULL);
	}
	if (d->metrics != NULL)
		d->metrics(d->data, m);
}

/* daemon.metrics: the figures of br_daemon_metrics() in their wire form. */
static void
handle_metrics(br_call *call, void *data)
{
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;

	br_daemon_metrics(data, m);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_reply_pack_head(&pk);
	br_metrics_pack(&pk, m);
	br_call_reply_raw(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static const struct br_method daemon_methods[] = {
        {"daemon.metrics", NULL, handle_metrics},
};

/* ------------------------------------------------------------------ serve and stop */

static void
on_signal(uv_signal_t *handle, int signum)
{
	struct br_daemon *d = handle->data;

	br_log_notice("DAEMON-SIGNAL", "received %s, stopping", strsignal(signum));
	br_daemon_stop(d);
}

void
br_daemon_add_methods(struct br_daemon *d, const struct br_method *methods, size_t n, void *data)
{
	if (d->n_extra_methods >= BR_RPC_MAX_METHOD_SETS - 1)
		abort(); /* a programming error: raise BR_RPC_MAX_METHOD_SETS */
	d->extra_methods[d->n_extra_methods].methods = methods;
	d->extra_methods[d->n_extra_methods].n = n;
	d->extra_methods[d->n_extra_methods].data = data;
	d->n_extra_methods++;
}

int
br_daemon_serve(struct br_daemon *d, const struct br_method *methods, size_t nmethods, void *data,
                br_err *err)
{
	struct br_server_opts opts = {
	        .name = d->proc_name,
	        .version = BR_VERSION,
	        .socket_mode = d->socket_mode ? d->socket_mode : 0600,
	        .fallback = d->fallback,
	        .socket_group = d->socket_group,
	        .watchdog = d->watchdog,
	        .max_connections = d->max_connections,
	        .max_calls_per_uid = d->max_calls_per_uid,
	        .health = d->health,
	        .ns_usage = d->ns_usage,
	};

	d->data = data;
	if (br_rpc_server_new(&d->loop, d->socket_url, methods, nmethods, data, &opts, &d->server,
	                      err) < 0)
		return -1;
	for (size_t i = 0; i < d->n_extra_methods; i++)
		br_rpc_server_add_methods(d->server, d->extra_methods[i].methods,
		                          d->extra_methods[i].n, d->extra_methods[i].data);
	br_rpc_server_add_methods(d->server, daemon_methods, 1, d);
	d->started_at_ms = wall_clock_ms();
	uv_signal_init(&d->uv, &d->sigterm);
	uv_signal_init(&d->uv, &d->sigint);
	d->sigterm.data = d->sigint.data = d;
	uv_signal_start(&d->sigterm, on_signal, SIGTERM);
	uv_signal_start(&d->sigint, on_signal, SIGINT);

	br_log_notice("DAEMON-READY", "%s %s listening on %s", d->proc_name, BR_VERSION,
	              d->socket_url);
	br_sd_notify("READY=1");
	uv_run(&d->uv, UV_RUN_DEFAULT);
	/* Completions posted during the stop (e.g. calls canceled by on_stop) run now, while
	 * the daemon's state still exists. */
	uv_run(&d->uv, UV_RUN_NOWAIT);
	br_log_notice("DAEMON-STOPPED", "%s stopped", d->proc_name);
	return 0;
}

static void
close_if_open(uv_handle_t *h)
{
	if (h->loop != NULL && !uv_is_closing(h))
		uv_close(h, NULL);
}

void
br_daemon_stop(struct br_daemon *d)
{
	if (d->sigterm.loop == NULL || uv_is_closing((uv_handle_t *)&d->sigterm))
		return; /* not serving, or already stopping */
	br_sd_notify("STOPPING=1");
	if (d->on_stop != NULL)
		d->on_stop(d->data);
	br_rpc_server_free(d->server);
	d->server = NULL;
	close_if_open((uv_handle_t *)&d->sigterm);
	close_if_open((uv_handle_t *)&d->sigint);
	uv_stop(&d->uv);
}

static void
close_leftover(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h)) {
		br_log_warn("DAEMON-HANDLE-LEFT", "closing a %s handle left open at exit",
		            uv_handle_type_name(h->type));
		uv_close(h, NULL);
	}
}

void
br_daemon_fini(struct br_daemon *d)
{
	if (d->proc_name == NULL)
		return; /* init failed or returned 1: nothing to release */
	br_rpc_server_free(d->server);
	d->server = NULL;
	close_if_open((uv_handle_t *)&d->sigterm);
	close_if_open((uv_handle_t *)&d->sigint);
	if (d->loop.uv != NULL) {
		br_loop_fini(&d->loop);
		uv_walk(&d->uv, close_leftover, NULL);
		uv_run(&d->uv, UV_RUN_DEFAULT);
		if (uv_loop_close(&d->uv) != 0)
			br_log_warn("DAEMON-LOOP-BUSY", "the event loop still has handles at exit");
	}
	daemon_release(d);
	br_rpc_shutdown();
}
