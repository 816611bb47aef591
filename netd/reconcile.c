/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netd's start-up reconcile (docs/network.md, "Records and recovery") and its metrics.
 * Loop thread, before serving: it runs plugins and forks and waits for them, briefly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "common/db.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/xalloc.h"
#include "netd/cni.h"
#include "netd/netd.h"

/* The CNI call of an endpoint, with the ports it publishes (portmap's DEL finds its rules by
 * them). */
static void
cni_call_for(struct netd_service *svc, br_arena *arena, const struct netd_endpoint *e,
             const char *netns, struct netd_cni_call *c)
{
	struct br_objlist ports = {0};
	br_err err = BR_ERR_INIT;

	if (netd_store_ports(svc->db, e->ns, e->id, e->network, arena, &ports, &err) < 0)
		ports.n = 0;
	*c = (struct netd_cni_call){.bin_dir = svc->cfg->netd.cni_bin_dir,
	                            .conflist = e->conflist,
	                            .container_id = e->id,
	                            .netns = netns,
	                            .ifname = e->ifname,
	                            .ports = ports.v,
	                            .n_ports = ports.n};
}

/* Interfaces whose plugins may have run when netd died: undone, rows gone. */
static void
undo_adding(struct netd_service *svc, br_arena *arena)
{
	struct netd_endpoint *eps;
	size_t n;
	br_err err = BR_ERR_INIT;

	if (netd_store_endpoints(svc->db, NULL, NULL, NULL, "adding", arena, &eps, &n, &err) < 0) {
		br_log_warn("NET-RECONCILE", "%s, ignoring", err.msg);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *netns =
		        xasprintf("%s/netns/%s/%s", svc->state_dir, eps[i].ns, eps[i].id);
		struct netd_cni_call c;
		cni_call_for(svc, arena, &eps[i], netns, &c);
		if (netd_cni_del(&c, NULL, &err) < 0 ||
		    netd_cni_sweep_masquerade(eps[i].id, &err) < 0) {
			br_log_warn("NET-RECONCILE", "undo %s of %s/%s on %s: %s, kept for later",
			            eps[i].ifname, eps[i].ns, eps[i].id, eps[i].network, err.msg);
			br_err_clear(&err);
			continue;
		}
		if (netd_store_endpoint_delete(svc->db, eps[i].ns, eps[i].id, eps[i].network, NULL,
		                               &err) < 0) {
			br_log_warn("NET-RECONCILE", "%s", err.msg);
			br_err_clear(&err);
			continue;
		}
		br_log_notice("NET-RECONCILE", "undid %s of %s/%s on %s, cut short by a stop",
		              eps[i].ifname, eps[i].ns, eps[i].id, eps[i].network);
	}
}

/* Put an interface back: DEL of what is left of it, ADD again, the new result recorded. */
static void
readd(struct netd_service *svc, br_arena *arena, const struct netd_endpoint *ep, const char *netns)
{
	struct netd_cni_call c;
	struct netd_cni_result got = {0};
	br_err err = BR_ERR_INIT;

	cni_call_for(svc, arena, ep, netns, &c);
	netd_cni_del(&c, ep->result, &err);
	br_err_clear(&err);
	if (netd_cni_sweep_masquerade(ep->id, &err) < 0) {
		br_log_warn("NET-RECONCILE", "%s/%s: %s", ep->ns, ep->id, err.msg);
		br_err_clear(&err);
	}
	if (netd_cni_add(&c, &got, &err) < 0) {
		br_log_warn("NET-RECONCILE", "%s/%s on %s: %s", ep->ns, ep->id, ep->network,
		            err.msg);
		return;
	}
	struct netd_endpoint e = *ep;
	e.result = got.json;
	e.address = got.address;
	e.gateway = got.gateway;
	e.mac = got.mac;
	if (netd_store_endpoint_ready(svc->db, &e, false, &err) < 0)
		br_log_warn("NET-RECONCILE", "%s", err.msg);
	netd_cni_result_fini(&got);
}

/* The interfaces of a live attachment, as the plugins see them now (CHECK): one that no longer
 * matches its result (an interface or rule removed behind netd's back) is put back. */
static void
check(struct netd_service *svc, br_arena *arena, const char *ns, const struct br_net_attachment *a)
{
	struct netd_endpoint *eps;
	size_t n;
	br_err err = BR_ERR_INIT;

	if (netd_store_endpoints(svc->db, ns, a->id, NULL, "ready", arena, &eps, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct netd_cni_call c;
		cni_call_for(svc, arena, &eps[i], a->netns_path, &c);
		if (netd_cni_check(&c, eps[i].result, &err) == 0)
			continue;
		br_log_notice("NET-RECONCILE", "%s/%s on %s no longer as recorded (%s): made again",
		              ns, a->id, eps[i].network, err.msg);
		br_err_clear(&err);
		readd(svc, arena, &eps[i], a->netns_path);
		netd_refresh_hosts(svc, eps[i].network, NULL, NULL);
	}
}

/* An attachment whose runtime part is gone (a reboot emptied /run): made again at the recorded
 * paths, its interfaces put back. */
static void
remake(struct netd_service *svc, br_arena *arena, const char *ns, const struct br_net_attachment *a)
{
	const struct netd_driver *driver = netd_driver_find(a->mode);
	struct netd_paths p = {0};
	struct netd_endpoint *eps;
	size_t n;
	br_err err = BR_ERR_INIT;

	if (driver == NULL)
		return;
	if (driver->alive(svc->state_dir, ns, a->id)) {
		check(svc, arena, ns, a);
		return;
	}
	if (driver->attach(svc->state_dir, ns, a->id, &p, &err) < 0) {
		br_log_warn("NET-RECONCILE", "re-create network of %s/%s: %s, ignoring", ns, a->id,
		            err.msg);
		return;
	}
	if (netd_store_endpoints(svc->db, ns, a->id, NULL, "ready", arena, &eps, &n, &err) < 0)
		n = 0;
	for (size_t i = 0; i < n; i++)
		readd(svc, arena, &eps[i], p.netns_path);
	/* resolv.conf as at attach; hosts from the records. */
	struct netd_attachment_rec r;
	if (netd_store_get(svc->db, ns, a->id, arena, &r, &err) < 0 ||
	    netd_resolv_write(p.files_dir, &r.dns, strcmp(a->mode, "host") == 0, &err) < 0)
		br_log_warn("NET-RECONCILE", "files of %s/%s: %s", ns, a->id, err.msg);
	netd_refresh_hosts(svc, NULL, ns, a->id);
	br_log_notice("NET-RECONCILE", "re-created network of %s/%s (mode %s)", ns, a->id, a->mode);
	netd_paths_fini(&p);
}

/* Remove netns files under <state>/netd/netns/<ns>/ that no record names. */
static void
remove_unrecorded(struct netd_service *svc, br_arena *arena)
{
	_cleanup_free_ char *top = xasprintf("%s/netns", svc->state_dir);
	_cleanup_closedir_ DIR *d = opendir(top);
	struct dirent *ns_ent;

	if (d == NULL)
		return;
	while ((ns_ent = readdir(d)) != NULL) {
		if (ns_ent->d_name[0] == '.')
			continue;
		_cleanup_free_ char *nsdir = xasprintf("%s/%s", top, ns_ent->d_name);
		_cleanup_closedir_ DIR *nd = opendir(nsdir);
		struct dirent *e;
		if (nd == NULL)
			continue;
		while ((e = readdir(nd)) != NULL) {
			struct netd_attachment_rec r;
			br_err err = BR_ERR_INIT;
			if (e->d_name[0] == '.')
				continue;
			if (netd_store_get(svc->db, ns_ent->d_name, e->d_name, arena, &r, &err) ==
			            0 ||
			    err.code != BR_NOT_FOUND)
				continue;
			_cleanup_free_ char *path = xasprintf("%s/%s", nsdir, e->d_name);
			umount2(path, MNT_DETACH);
			if (unlink(path) == 0)
				br_log_notice("NET-RECONCILE",
				              "removed network namespace \"%s\" without a record",
				              path);
			netd_files_remove(svc->state_dir, ns_ent->d_name, e->d_name, &err);
		}
	}
}

/* True if some endpoint of `network` belongs to container `id`. */
static bool
has_endpoint(struct netd_service *svc, br_arena *arena, const char *network, const char *id)
{
	struct netd_endpoint *eps;
	size_t n;
	br_err err = BR_ERR_INIT;

	if (netd_store_endpoints(svc->db, NULL, NULL, network, NULL, arena, &eps, &n, &err) < 0)
		return true; /* in doubt, keep */
	for (size_t i = 0; i < n; i++)
		if (strcmp(eps[i].id, id) == 0)
			return true;
	return false;
}

/* host-local keeps a file per reserved address, named by the address, whose first line is the
 * container id. A reservation of a container with no interface on the network is removed. */
static void
sweep_reservations(struct netd_service *svc, br_arena *arena)
{
	_cleanup_closedir_ DIR *d = opendir(svc->ipam_dir);
	struct dirent *net_ent;

	if (d == NULL)
		return;
	while ((net_ent = readdir(d)) != NULL) {
		if (net_ent->d_name[0] == '.')
			continue;
		_cleanup_free_ char *dir = xasprintf("%s/%s", svc->ipam_dir, net_ent->d_name);
		_cleanup_closedir_ DIR *nd = opendir(dir);
		_cleanup_close_ int dfd = nd ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		struct dirent *e;
		if (nd == NULL || dfd < 0)
			continue;
		while ((e = readdir(nd)) != NULL) {
			_cleanup_free_ char *text = NULL;
			size_t len = 0;
			br_err err = BR_ERR_INIT;
			/* addresses only: not "lock", not "last_reserved_ip.0" */
			if (strspn(e->d_name, "0123456789.") != strlen(e->d_name))
				continue;
			if (br_read_file_at(dfd, e->d_name, 4096, &text, &len, &err) < 0)
				continue;
			text[strcspn(text, "\r\n")] = '\0';
			if (text[0] == '\0' || has_endpoint(svc, arena, net_ent->d_name, text))
				continue;
			if (unlinkat(dfd, e->d_name, 0) == 0)
				br_log_notice(
				        "NET-RECONCILE",
				        "released address %s of network %s (container %s has no "
				        "interface on it)",
				        e->d_name, net_ent->d_name, text);
		}
	}
}

void
netd_reconcile(struct netd_service *svc)
{
	br_arena *arena = br_arena_new();
	struct br_objlist all = {0}, nets = {0};
	const char **nss = NULL;
	br_err err = BR_ERR_INIT;

	undo_adding(svc, arena);
	if (netd_store_list(svc->db, NULL, arena, &all, &nss, &err) < 0) {
		br_log_warn("NET-RECONCILE", "%s, ignoring", err.msg);
	} else {
		for (size_t i = 0; i < all.n; i++)
			remake(svc, arena, nss[i], (const struct br_net_attachment *)all.v + i);
	}
	remove_unrecorded(svc, arena);
	sweep_reservations(svc, arena);
	/* Configuration lists removed behind netd's back are written again. */
	br_err_clear(&err);
	if (netd_store_networks(svc->db, arena, &nets, &err) == 0) {
		for (size_t i = 0; i < nets.n; i++) {
			char *text = netd_network_conflist(
			        svc, (const struct br_network *)nets.v + i, &err);
			if (text == NULL) {
				br_log_warn("NET-RECONCILE", "%s", err.msg);
				br_err_clear(&err);
			}
			free(text);
		}
	}
	br_arena_free(arena);
}

/* ------------------------------------------------------------------ metrics */

void
netd_metrics(void *data, struct br_metrics *m)
{
	struct netd_service *svc = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	_cleanup_stmt_ sqlite3_stmt *nets = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(svc->db, "SELECT mode, COUNT(*) FROM attachments GROUP BY mode", &st,
	                  &err) < 0 ||
	    br_db_prepare(svc->db, "SELECT COUNT(*) FROM networks", &nets, &err) < 0)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		br_metrics_gauge(m, "berth_network_attachments",
		                 "Container network attachments, by mode.",
		                 BR_LABELS("mode", mode != NULL ? mode : ""),
		                 (double)sqlite3_column_int64(st, 1), NULL);
	}
	if (sqlite3_step(nets) == SQLITE_ROW)
		br_metrics_gauge(m, "berth_networks", "Named networks.", NULL,
		                 (double)sqlite3_column_int64(nets, 0), NULL);
}
