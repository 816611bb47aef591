/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-netd: container networks. main() opens the attachment store under <root>/netd,
 * starts its outbox (events for gatewayd, dialled in the background), reconciles the store
 * with what exists under <state>/netd (after a crash or a reboot), and serves networks.*
 * until SIGTERM. Network namespaces outlive netd: they belong to the containers.
 */
#include "common/cleanup.h"
#include "common/daemon.h"
#include "common/db.h"
#include "common/events.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/xalloc.h"
#include "netd/netd.h"

#define NETD_DRAIN_MS 3000 /* a stop waits this long for an event delivery in flight */

int
main(int argc, char **argv)
{
	struct netd_service svc = {0};
	struct br_daemon d;
	br_rpc_client *gatewayd = NULL;
	_cleanup_free_ char *url = NULL;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "netd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("NET-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	rc = -1;
	if (netd_store_open(d.data_dir, &svc.db, &err) < 0) {
		br_log_error("NET-OPEN", "%s", err.msg);
		goto out;
	}
	url = br_config_socket_url(d.cfg, "gatewayd");
	if (br_rpc_client_new(url, "berth-gatewayd", &gatewayd, &err) < 0) {
		br_log_error("NET-INIT", "%s", err.msg);
		goto out;
	}
	const struct br_outbox_peer peers[] = {{BR_EVENTS_TARGET, gatewayd, .events = true}};
	svc.outbox = br_outbox_new(&d.loop, svc.db, "netd", peers, 1);
	svc.uv = &d.uv;
	svc.state_dir = d.state_dir;
	svc.data_dir = d.data_dir;
	svc.cfg = d.cfg;
	svc.ipam_dir = xasprintf("%s/ipam", d.data_dir);
	if (br_mkdir_p(svc.ipam_dir, 0700, &err) < 0 ||
	    br_mkdir_p(d.cfg->netd.cni_conf_dir, 0755, &err) < 0) {
		br_log_error("NET-INIT", "%s", err.msg);
		goto out;
	}
	netd_reconcile(&svc);
	d.metrics = netd_metrics;
	d.outbox = svc.outbox;

	rc = br_daemon_serve(&d, netd_methods, netd_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("NET-SERVE", "%s", err.msg);
out:
	br_outbox_free(svc.outbox);
	/* A delivery in flight ends before the socket closes. */
	br_rpc_clients_drain(&d.uv, &gatewayd, 1, NETD_DRAIN_MS);
	br_rpc_client_free(gatewayd);
	br_db_close(svc.db);
	free(svc.ipam_dir);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
