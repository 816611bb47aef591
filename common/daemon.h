/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every daemon's main() shares: flags, configuration, logging, directories, the loop,
 * signals, the RPC server and readiness. A daemon main() reads:
 *
 *   struct br_daemon d;
 *   if (br_daemon_init(&d, "contentd", argc, argv, &err) < 0) ...   // flags, config, dirs, loop
 *   ... open the database under d.data_dir, build the service state ...
 *   rc = br_daemon_serve(&d, methods, n, service, &err);               // socket, READY=1, run
 *   ... free the service state ...
 *   br_daemon_fini(&d);
 *
 * Flags: --config FILE, --root DIR, --state DIR, --log-level LEVEL, --log-format text|json,
 * --help, --version. SIGTERM and SIGINT stop the loop cleanly: the server stops, in-flight
 * calls are answered UNAVAILABLE, br_daemon_serve() returns 0. SIGPIPE is ignored.
 * Under systemd (NOTIFY_SOCKET set) "READY=1" is sent once the socket listens and
 * "STOPPING=1" when a stop begins.
 */
#ifndef BR_COMMON_DAEMON_H
#define BR_COMMON_DAEMON_H

#include <uv.h>

#include "common/config.h"
#include "common/err.h"
#include "common/loop.h"
#include "common/rpc.h"

struct br_daemon {
	const char *name; /* "contentd" */
	char *proc_name;  /* "berth-contentd" */
	struct br_config *cfg;
	char *data_dir;   /* <root>/<name>, created 0700 */
	char *state_dir;  /* <state>/<name>, created 0700 */
	char *socket_url; /* ipc://<state>/<name>.sock */
	uv_loop_t uv;
	struct br_loop loop;
	br_rpc_server *server;
	uv_signal_t sigterm, sigint;
	/* Called on the loop thread when a stop begins, before the server closes; may be NULL. */
	void (*on_stop)(void *data);
	void *data;
	/* Extra health detail for daemon.health (see struct br_server_opts); may be NULL. */
	void (*health)(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs);
	/* What a namespace holds here, for daemon.namespace (struct br_server_opts). */
	int (*ns_usage)(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
	                br_err *err);
	/* Further method tables (br_rpc_server_add_methods), added with br_daemon_add_methods. */
	struct {
		const struct br_method *methods;
		size_t n;
		void *data;
	} extra_methods[BR_RPC_MAX_METHOD_SETS];
	size_t n_extra_methods;
	br_handler_fn fallback;   /* see struct br_server_opts; NULL for most daemons */
	int socket_mode;          /* 0600 unless the daemon sets it before serve */
	const char *socket_group; /* see struct br_server_opts; NULL for most daemons */
	bool watchdog;            /* see struct br_server_opts; on unless a daemon clears it */
};

/* Parse flags and config, set up logging, create the directories and the loop.
 * Returns 1 (not an error) when --help or --version was handled and main should exit 0. */
int br_daemon_init(struct br_daemon *d, const char *name, int argc, char **argv, br_err *err);

/* Listen, notify readiness and run the loop until a stop signal or br_daemon_stop(). */
int br_daemon_serve(struct br_daemon *d, const struct br_method *methods, size_t nmethods,
                    void *data, br_err *err);

/* Serve `methods` too, their handlers getting `data` (before br_daemon_serve). */
void br_daemon_add_methods(struct br_daemon *d, const struct br_method *methods, size_t n,
                           void *data);

/* Ask the loop to stop (loop thread). */
void br_daemon_stop(struct br_daemon *d);

void br_daemon_fini(struct br_daemon *d);

/* Send a systemd notification if NOTIFY_SOCKET is set; a no-op otherwise. */
void br_sd_notify(const char *state);

#endif
