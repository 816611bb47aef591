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
 * Every daemon answers daemon.metrics (docs/metrics.md) with br_daemon_metrics(): its RPC
 * statistics, its start time, its outbox's backlog and the figures of its `metrics` hook.
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
#include "common/metrics.h"
#include "common/rpc.h"

struct br_outbox;

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
	/* Figures of the daemon's own for daemon.metrics, added to `m` (common/metrics.h) on the
	 * loop thread; may be NULL. `data` is the service, as for the hooks above. */
	void (*metrics)(void *data, struct br_metrics *m);
	/* The daemon's outbox (common/outbox.h), whose backlog daemon.metrics reports; NULL for a
	 * daemon without one. */
	struct br_outbox *outbox;
	int64_t started_at_ms; /* wall clock, ms since the epoch, when serving began */
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
	int max_connections;      /* see struct br_server_opts; 0 (no limit) unless set */
	int max_calls_per_uid;    /* see struct br_server_opts; 0 (no limit) unless set */
};

/* Parse flags and config, set up logging, create the directories and the loop.
 * Returns 1 (not an error) when --help or --version was handled and main should exit 0. */
int br_daemon_init(struct br_daemon *d, const char *name, int argc, char **argv, br_err *err);

/* Listen, notify readiness and run the loop until a stop signal or br_daemon_stop(). */
int br_daemon_serve(struct br_daemon *d, const struct br_method *methods, size_t nmethods,
                    void *data, br_err *err);

/* Serve `methods` too, their handlers getting `data` (before br_daemon_serve). At most
 * BR_RPC_MAX_METHOD_SETS - 1 tables: the daemon's own daemon.metrics takes a set too. */
void br_daemon_add_methods(struct br_daemon *d, const struct br_method *methods, size_t n,
                           void *data);

/* Add what daemon.metrics answers to `m`: the RPC server's statistics
 * (br_rpc_server_metrics), berth_start_time_seconds, berth_outbox_pending_messages when the
 * daemon has an outbox, and its `metrics` hook's figures. Loop thread, while serving. */
void br_daemon_metrics(struct br_daemon *d, struct br_metrics *m);

/* Ask the loop to stop (loop thread). */
void br_daemon_stop(struct br_daemon *d);

void br_daemon_fini(struct br_daemon *d);

/* Send a systemd notification if NOTIFY_SOCKET is set; a no-op otherwise. */
void br_sd_notify(const char *state);

#endif
