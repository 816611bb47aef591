/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-contentd: the content-addressed blob store. main() opens the store under
 * <root>/contentd (reconciling it with the disk after a crash), starts the outbox that
 * delivers the store's events to gatewayd's log, serves content.* and content.leases.* on
 * <state>/contentd.sock until SIGTERM, then stops collecting, lets a running collection end
 * and writes in flight on workers finish, stops the outbox (what it has not delivered waits
 * for the next start) and closes the database.
 */
#include <stdio.h>

#include "common/cleanup.h"
#include "common/daemon.h"
#include "common/events.h"
#include "common/log.h"
#include "common/outbox.h"
#include "contentd/service.h"

#define CONTENTD_DRAIN_MS 1000 /* a stop waits this long for an events.publish in flight */

static void
log_reconcile(const struct contentd_reconcile_stats *st)
{
	unsigned repaired = st->ingests_removed + st->blobs_registered + st->blobs_removed +
	                    st->blobs_unheld + st->rows_removed;

	if (repaired == 0)
		return;
	br_log_notice("CONTENT-RECONCILE",
	              "repaired after an unclean stop: %u ingests removed, %u blobs registered, "
	              "%u invalid and %u unheld blob files removed, %u rows without a blob "
	              "removed",
	              st->ingests_removed, st->blobs_registered, st->blobs_removed,
	              st->blobs_unheld, st->rows_removed);
}

int
main(int argc, char **argv)
{
	struct contentd_reconcile_stats stats;
	struct contentd_service svc = {0};
	struct contentd_store_opts opts;
	const struct br_method *lease_methods;
	size_t n_lease_methods;
	struct br_daemon d;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = br_daemon_init(&d, "contentd", argc, argv, &err);
	if (rc < 0) {
		br_log_error("CONTENT-INIT", "%s", err.msg);
		return 1;
	}
	if (rc == 1)
		return 0;
	opts = (struct contentd_store_opts){
	        .uv = &d.uv,
	        .gc_delay_ms = d.cfg->contentd.gc_delay_ms,
	        .gc_interval_ms = d.cfg->contentd.gc_interval_ms,
	        .ingest_expiry_ms = d.cfg->contentd.ingest_expiry_ms,
	};
	if (contentd_store_open(d.data_dir, &opts, &stats, &svc.store, &err) < 0) {
		br_log_error("CONTENT-OPEN", "%s", err.msg);
		br_daemon_fini(&d);
		return 1;
	}
	log_reconcile(&stats);
	br_log_info("CONTENT-READY", "%zu ingests in progress", svc.store->n_ingests);
	_cleanup_free_ char *gateway_url = br_config_socket_url(d.cfg, "gatewayd");
	br_rpc_client *gateway = NULL;
	if (br_rpc_client_new(gateway_url, "berth-gatewayd", &gateway, &err) < 0) {
		br_log_error("CONTENT-INIT", "%s", err.msg);
		contentd_store_free(svc.store);
		br_daemon_fini(&d);
		return 1;
	}
	const struct br_outbox_peer peers[] = {{BR_EVENTS_TARGET, gateway, .events = true}};
	struct br_outbox *outbox = br_outbox_new(&d.loop, svc.store->db, "contentd", peers, 1);
	contentd_store_set_outbox(svc.store, outbox);
	d.outbox = outbox;
	svc.uv = &d.uv;
	d.health = contentd_health;
	d.ns_usage = contentd_ns_usage;
	d.metrics = contentd_metrics;
	d.data = &svc;
	br_lease_store_methods(svc.store->leases, &lease_methods, &n_lease_methods);
	br_daemon_add_methods(&d, lease_methods, n_lease_methods, svc.store->leases);

	rc = br_daemon_serve(&d, contentd_methods, contentd_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("CONTENT-SERVE", "%s", err.msg);
	contentd_service_drain(&svc);
	contentd_store_set_outbox(svc.store, NULL);
	d.outbox = NULL;
	br_outbox_free(outbox);
	br_rpc_clients_drain(&d.uv, &gateway, 1, CONTENTD_DRAIN_MS);
	br_rpc_client_free(gateway);
	contentd_store_free(svc.store);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
