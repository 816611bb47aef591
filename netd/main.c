/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-netd: container networks. main() opens the attachment store under <root>/netd,
 * reconciles it with what exists under <state>/netd (after a crash or a reboot), and serves
 * networks.* until SIGTERM. Network namespaces outlive netd: they belong to the containers.
 */
#include "common/daemon.h"
#include "common/db.h"
#include "common/log.h"
#include "netd/netd.h"

int
main(int argc, char **argv)
{
	struct netd_service svc = {0};
	struct br_daemon d;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "netd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("NET-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	if (netd_driver_find(d.cfg->netd.network) == NULL) {
		br_log_error("NET-INIT", "netd.network: unknown mode \"%s\"", d.cfg->netd.network);
		br_daemon_fini(&d);
		return 1;
	}
	if (netd_store_open(d.data_dir, &svc.db, &err) < 0) {
		br_log_error("NET-OPEN", "%s", err.msg);
		br_daemon_fini(&d);
		return 1;
	}
	svc.uv = &d.uv;
	svc.state_dir = d.state_dir;
	svc.default_mode = d.cfg->netd.network;
	netd_reconcile(&svc);

	rc = br_daemon_serve(&d, netd_methods, netd_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("NET-SERVE", "%s", err.msg);
	br_db_close(svc.db);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
