/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-taskd: containers and their tasks. main() opens <root>/taskd/meta.db, dials imaged,
 * snapshotd, netd and gatewayd (the event log; all in the background: they may start later),
 * starts the outbox (lease changes to snapshotd, events to gatewayd), reconciles the records with
 * the shims and bundles it finds (reconcile.c), serves containers.* and tasks.* on
 * <state>/taskd.sock until SIGTERM, then answers parked calls and lets workers finish.
 * Shims are not taskd's children and keep running across its restarts; under systemd the
 * unit uses KillMode=process for that reason.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/daemon.h"
#include "common/db.h"
#include "common/events.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

#define TASKD_DRAIN_MS 3000 /* a stop waits this long for calls in flight to the peers */

/* The shim: config taskd.shim, else berth-shim next to this binary, else the libexec one. */
static char *
find_shim(const struct br_config *cfg)
{
	char self[PATH_MAX];
	ssize_t n;

	if (cfg->taskd.shim != NULL && cfg->taskd.shim[0] != '\0')
		return xstrdup(cfg->taskd.shim);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			char *p = xasprintf("%s/berth-shim", self);
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(BR_LIBEXECDIR "/berth/berth-shim");
}

static const char *
level_name(enum br_log_level l)
{
	static const char *const names[] = {"error", "warn", "notice", "info", "debug"};
	return (int)l >= 0 && l < BR_LOG_LEVEL_MAX ? names[l] : "info";
}

static int
dial_peers(struct taskd *t, br_err *err)
{
	static const char *const names[] = {"imaged", "snapshotd", "netd", "gatewayd"};
	br_rpc_client **clients[] = {&t->imaged, &t->snapshotd, &t->netd, &t->gatewayd};

	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *url = br_config_socket_url(t->cfg, names[i]);
		_cleanup_free_ char *peer = xasprintf("berth-%s", names[i]);
		if (br_rpc_client_new(url, peer, clients[i], err) < 0)
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct br_daemon d;
	struct taskd t = {0};
	br_err err = BR_ERR_INIT;
	int rc;

	/* Workers wait on peers and runtimes; libuv's default pool of 4 is too small. It reads
	 * this once, at the first queued work. */
	setenv("UV_THREADPOOL_SIZE", "16", 0);
	rc = br_daemon_init(&d, "taskd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("TASK-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	t.uv = &d.uv;
	t.loop = &d.loop;
	t.cfg = d.cfg;
	t.state_dir = d.state_dir;
	t.data_dir = d.data_dir;
	t.shim_path = find_shim(d.cfg);
	{
		/* berth-init is installed next to the shim. */
		const char *slash = strrchr(t.shim_path, '/');
		t.init_path = slash ? xasprintf("%.*s/berth-init", (int)(slash - t.shim_path),
		                                t.shim_path)
		                    : xstrdup("berth-init");
	}
	t.log_level = xstrdup(level_name(d.cfg->log_level));
	_cleanup_free_ char *db_path = xasprintf("%s/meta.db", d.data_dir);

	rc = -1;
	if (taskd_store_open(db_path, &t.db, &err) < 0) {
		br_log_error("TASK-OPEN", "%s", err.msg);
		goto out;
	}
	if (dial_peers(&t, &err) < 0) {
		br_log_error("TASK-START", "%s", err.msg);
		goto out;
	}
	const struct br_outbox_peer peers[] = {
	        {"snapshotd", t.snapshotd},
	        {BR_EVENTS_TARGET, t.gatewayd, .events = true},
	};
	t.outbox = br_outbox_new(t.loop, t.db, "taskd", peers, 2);
	t.owner = (struct br_lease_owner){
	        .owner = "taskd",
	        .loop = t.loop,
	        .db = t.db,
	        .outbox = t.outbox,
	        .stores = {{"snapshotd", "snapshots", t.snapshotd}},
	        .n_stores = 1,
	};
	if (taskd_store_load(&t, &err) < 0 || taskd_reconcile(&t, &err) < 0) {
		br_log_error("TASK-START", "%s", err.msg);
		goto out;
	}
	br_lease_owner_reconcile(&t.owner);
	taskd_supervise_startup(&t);
	taskd_net_sweep_start(&t);
	d.ns_usage = taskd_ns_usage;
	d.metrics = taskd_metrics;
	d.outbox = t.outbox;
	/* Without its stream socket taskd still serves calls; exec and attach say why not. */
	if (taskd_streams_start(&t, &err) < 0)
		br_log_error("TASK-STREAMS", "%s", err.msg);
	br_log_info("TASK-READY", "shim %s", t.shim_path);
	rc = br_daemon_serve(&d, taskd_methods, taskd_n_methods, &t, &err);
	if (rc < 0)
		br_log_error("TASK-SERVE", "%s", err.msg);
out:
	br_lease_owner_fini(&t.owner);
	taskd_service_drain(&t);
	br_outbox_free(t.outbox);
	/* The outbox's and the reconciliation's calls in flight end before the sockets close. */
	br_rpc_client *clients[] = {t.imaged, t.snapshotd, t.netd, t.gatewayd};
	br_rpc_clients_drain(t.uv, clients, 4, TASKD_DRAIN_MS);
	for (size_t i = 0; i < 4; i++)
		br_rpc_client_free(clients[i]);
	br_db_close(t.db);
	free(t.shim_path);
	free(t.init_path);
	free(t.log_level);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
