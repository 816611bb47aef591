/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-imaged: image records, pull, import and export. main() opens <root>/imaged/meta.db,
 * connects (in the background) to berth-contentd and berth-snapshotd, starts reconciling the
 * image leases in those stores with its records, and serves images.* and jobs.* (and export
 * streams on its stream socket, streams.c) until SIGTERM. On a stop, running jobs are canceled
 * and their threads joined before the peers' clients close; a canceled job leaves no image
 * record, and what it had written is held only by its lease, which the stores drop (at once,
 * or at its expiry if the message could not go out).
 */
#include "common/daemon.h"
#include "common/log.h"
#include "imaged/imaged.h"

int
main(int argc, char **argv)
{
	struct imaged_service svc = {0};
	struct br_daemon d;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "imaged", argc, argv, &err);
	if (rc < 0) {
		br_log_error("IMAGE-INIT", "%s", err.msg);
		return err.code == BR_INVALID_ARGUMENT ? 2 : 1;
	}
	if (rc == 1)
		return 0;
	if (imaged_http_global_init(&err) < 0 ||
	    imaged_service_init(&svc, &d.loop, &d.uv, d.cfg, d.data_dir, &err) < 0) {
		br_log_error("IMAGE-OPEN", "%s", err.msg);
		imaged_service_shutdown(&svc);
		imaged_service_fini(&svc);
		br_daemon_fini(&d);
		return 1;
	}
	if (imaged_streams_start(&svc, &err) < 0) {
		br_log_error("IMAGE-STREAMS", "%s", err.msg);
		imaged_service_shutdown(&svc);
		imaged_service_fini(&svc);
		br_daemon_fini(&d);
		return 1;
	}
	imaged_reconcile_start(&svc);
	d.on_stop = imaged_service_on_stop;
	d.health = imaged_health;
	d.ns_usage = imaged_ns_usage;
	d.metrics = imaged_metrics;
	d.outbox = svc.outbox;

	rc = br_daemon_serve(&d, imaged_methods, imaged_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("IMAGE-SERVE", "%s", err.msg);
	imaged_service_shutdown(&svc);
	br_daemon_fini(&d);
	imaged_service_fini(&svc);
	imaged_http_global_cleanup();
	return rc < 0 ? 1 : 0;
}
