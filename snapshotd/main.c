/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-snapshotd: layered filesystems as mount specs. main() opens the store under
 * <root>/snapshotd with the configured default snapshotter (snapshotd.snapshotter), repairs
 * what an unclean stop left (orphan directories, records whose directory vanished), opens
 * the leases and the collector (snapshotd.gc_delay_ms, snapshotd.gc_interval_ms), starts the
 * outbox that delivers the store's events to gatewayd's log, serves snapshots.* and
 * snapshots.leases.* on <state>/snapshotd.sock until SIGTERM, then stops the collector and
 * lets the running collection and worker jobs finish, stops the outbox (what it has not
 * delivered waits for the next start) and closes the database. It mounts nothing itself.
 */
#include "common/cleanup.h"
#include "common/daemon.h"
#include "common/events.h"
#include "common/lease.h"
#include "common/log.h"
#include "common/outbox.h"
#include "snapshotd/service.h"

#define SNAPSHOTD_DRAIN_MS 1000 /* a stop waits this long for an events.publish in flight */

static void
log_reconcile(const struct snapshotd_reconcile_stats *st)
{
	if (st->rows_removed + st->dirs_removed > 0)
		br_log_notice("SNAP-RECONCILE",
		              "repaired after an unclean stop: %u records without a complete "
		              "directory removed, %u orphan directories removed",
		              st->rows_removed, st->dirs_removed);
	if (st->dirs_failed > 0)
		br_log_warn("SNAP-ORPHAN-KEPT", "%u orphan directories could not be removed: %s",
		            st->dirs_failed, st->first_failure.msg);
	if (st->committed_missing > 0)
		br_log_warn("SNAP-COMMITTED-MISSING",
		            "%u committed snapshots have no directory; snapshots built on them "
		            "cannot be mounted until they are removed and recreated",
		            st->committed_missing);
}

int
main(int argc, char **argv)
{
	struct snapshotd_reconcile_stats stats;
	struct snapshotd_service svc = {0};
	struct br_daemon d;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "snapshotd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("SNAP-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	if (snapshotd_store_open(d.data_dir, d.cfg->snapshotd.snapshotter, &stats, &svc.store,
	                         &err) < 0) {
		br_log_error("SNAP-OPEN", "%s", err.msg);
		br_daemon_fini(&d);
		return 1;
	}
	log_reconcile(&stats);
	svc.uv = &d.uv;
	svc.gc = snapshotd_gc_new(svc.store, &d.uv, d.cfg->snapshotd.gc_delay_ms,
	                          d.cfg->snapshotd.gc_interval_ms);
	if (snapshotd_store_open_leases(svc.store, &d.uv, snapshotd_gc_released, svc.gc, &err) <
	    0) {
		br_log_error("SNAP-OPEN", "%s", err.msg);
		snapshotd_gc_free(svc.gc);
		snapshotd_store_free(svc.store);
		br_daemon_fini(&d);
		return 1;
	}
	_cleanup_free_ char *gateway_url = br_config_socket_url(d.cfg, "gatewayd");
	br_rpc_client *gateway = NULL;
	if (br_rpc_client_new(gateway_url, "berth-gatewayd", &gateway, &err) < 0) {
		br_log_error("SNAP-INIT", "%s", err.msg);
		snapshotd_gc_free(svc.gc);
		snapshotd_store_free(svc.store);
		br_daemon_fini(&d);
		return 1;
	}
	const struct br_outbox_peer peers[] = {{BR_EVENTS_TARGET, gateway, .events = true}};
	struct br_outbox *outbox = br_outbox_new(&d.loop, svc.store->db, "snapshotd", peers, 1);
	snapshotd_store_set_outbox(svc.store, outbox);
	d.outbox = outbox;
	br_gc_set_outbox(snapshotd_gc_scheduler(svc.gc), outbox);
	const struct br_method *lease_methods;
	size_t n_lease_methods;
	br_lease_store_methods(svc.store->leases, &lease_methods, &n_lease_methods);
	br_daemon_add_methods(&d, lease_methods, n_lease_methods, svc.store->leases);
	d.data = &svc;
	d.on_stop = snapshotd_service_stop;
	d.ns_usage = snapshotd_ns_usage;
	d.metrics = snapshotd_metrics;

	rc = br_daemon_serve(&d, snapshotd_methods, snapshotd_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("SNAP-SERVE", "%s", err.msg);
	snapshotd_service_drain(&svc);
	snapshotd_store_set_outbox(svc.store, NULL);
	br_gc_set_outbox(snapshotd_gc_scheduler(svc.gc), NULL);
	d.outbox = NULL;
	br_outbox_free(outbox);
	br_rpc_clients_drain(&d.uv, &gateway, 1, SNAPSHOTD_DRAIN_MS);
	br_rpc_client_free(gateway);
	snapshotd_gc_free(svc.gc);
	snapshotd_store_free(svc.store);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
