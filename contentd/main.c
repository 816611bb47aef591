/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-contentd: the content-addressed blob store. main() opens the store under
 * <root>/contentd (reconciling it with the disk after a crash), serves content.* and
 * content.leases.* on <state>/contentd.sock until SIGTERM, then stops collecting, lets a
 * running collection end and writes in flight on workers finish before closing the database.
 */
#include <stdio.h>

#include "common/daemon.h"
#include "common/log.h"
#include "contentd/service.h"

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
	svc.uv = &d.uv;
	d.health = contentd_health;
	d.ns_usage = contentd_ns_usage;
	d.data = &svc;
	br_lease_store_methods(svc.store->leases, &lease_methods, &n_lease_methods);
	br_daemon_add_methods(&d, lease_methods, n_lease_methods, svc.store->leases);

	rc = br_daemon_serve(&d, contentd_methods, contentd_n_methods, &svc, &err);
	if (rc < 0)
		br_log_error("CONTENT-SERVE", "%s", err.msg);
	contentd_service_drain(&svc);
	contentd_store_free(svc.store);
	br_daemon_fini(&d);
	return rc < 0 ? 1 : 0;
}
