/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-gatewayd: the one front door. It listens on the front-door socket
 * (gatewayd.socket, default <state>/berth.sock; mode 0660, group "berth" if that group
 * exists), checks the caller's uid, answers gateway.info and namespaces.*, and forwards every
 * other "<service>.<verb>" to the daemon that owns the service. Its only state is the list of
 * namespaces (<root>/gatewayd/meta.db), so it can be restarted at any time.
 */
#include <string.h>

#include "common/daemon.h"
#include "common/db.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"

const char *const gw_backend_names[GW_N_BACKENDS] = {
        "contentd", "snapshotd", "imaged", "taskd", "netd",
};

static const struct br_method methods[] = {
        {"gateway.info", NULL, gw_info},
};

int
gw_backends_open(struct gateway *gw, br_err *err)
{
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		struct gw_backend *b = &gw->backends[i];
		char *url = br_config_socket_url(gw->cfg, gw_backend_names[i]);
		b->name = gw_backend_names[i];
		b->proc_name = xasprintf("berth-%s", b->name);
		int rc = br_rpc_client_new(url, b->proc_name, &b->client, err);
		free(url);
		if (rc < 0)
			return -1;
	}
	return 0;
}

void
gw_backends_close(struct gateway *gw)
{
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		br_rpc_client_free(gw->backends[i].client);
		gw->backends[i].client = NULL;
	}
}

struct gw_backend *
gw_backend_find(struct gateway *gw, const char *name)
{
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		if (strcmp(gw->backends[i].name, name) == 0)
			return &gw->backends[i];
	}
	return NULL;
}

static void
on_stop(void *data)
{
	gw_metrics_stop(data);
	gw_streams_stop(data);
	gw_events_close(data);
	gw_backends_close(data);
}

int
main(int argc, char **argv)
{
	struct gateway gw = {0};
	struct br_daemon d;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "gatewayd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("GW-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	gw.cfg = d.cfg;
	gw.loop = &d.loop;
	gw.started_ms = br_now_ms();
	if (gw_namespaces_open(&gw, d.data_dir, &err) < 0 || gw_events_open(&gw, &err) < 0 ||
	    gw_backends_open(&gw, &err) < 0) {
		br_log_error("GW-INIT", "%s", err.msg);
		gw_backends_close(&gw);
		br_db_close(gw.db);
		br_daemon_fini(&d);
		return 1;
	}
	br_daemon_add_methods(&d, gw_namespace_methods, gw_n_namespace_methods, &gw);
	br_daemon_add_methods(&d, gw_event_methods, gw_n_event_methods, &gw);
	d.socket_mode = 0660;
	d.fallback = gw_forward;
	d.on_stop = on_stop;
	d.socket_group = d.cfg->gatewayd.group;
	d.max_connections = d.cfg->gatewayd.max_connections;
	d.max_calls_per_uid = d.cfg->gatewayd.max_calls_per_uid;
	d.metrics = gw_metrics_own;
	/* An endpoint that cannot listen is no reason to close the front door. */
	if (gw_metrics_start(&gw, &d, &err) < 0)
		br_log_error("GW-METRICS", "%s", err.msg);
	if (gw_streams_start(&gw, &err) < 0)
		br_log_error("GW-STREAMS", "%s", err.msg);

	rc = br_daemon_serve(&d, methods, sizeof(methods) / sizeof(methods[0]), &gw, &err);
	if (rc < 0)
		br_log_error("GW-SERVE", "%s", err.msg);
	gw_metrics_stop(&gw);
	gw_streams_stop(&gw);
	gw_backends_close(&gw);
	for (int i = 0; i < GW_N_BACKENDS; i++)
		free(gw.backends[i].proc_name);
	br_db_close(gw.db);
	free(gw.last_ns);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
