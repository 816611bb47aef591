/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of networks.*. attach and detach look the record up on the loop, let the
 * driver do its blocking work on a libuv worker, and record the outcome back on the loop,
 * so the loop never waits for a fork or a mount. Records are written only after the driver
 * succeeded (attach) and removed only after it undid its work (detach), so a crash in between
 * leaves either a runtime part without a record (removed by the reconcile at start) or a
 * record whose runtime part is re-made. The record's changes carry their events
 * (/networks/connect, /networks/disconnect, store.c); the outbox is kicked after each.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/db.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/outbox.h"
#include "common/xalloc.h"
#include "netd/netd.h"

enum job_kind { JOB_ATTACH, JOB_DETACH };

struct net_job {
	uv_work_t work;
	enum job_kind kind;
	struct netd_service *svc;
	br_call *call;
	const struct netd_driver *driver;
	const char *ns, *id, *hostname;    /* in the call's arena */
	struct br_net_attachment detached; /* detach: the record, strings in the call's arena */
	struct netd_paths paths;
	br_err err;
	int rc;
};

static void
job_work(uv_work_t *w)
{
	struct net_job *job = w->data;

	if (job->kind == JOB_ATTACH)
		job->rc = job->driver->attach(job->svc->state_dir, job->ns, job->id, job->hostname,
		                              &job->paths, &job->err);
	else
		job->rc = job->driver->detach(job->svc->state_dir, job->ns, job->id, &job->err);
}

static void
job_done(uv_work_t *w, int status)
{
	struct net_job *job = w->data;
	br_arena *arena = br_call_arena(job->call);
	br_err err = BR_ERR_INIT;

	if (job->rc < 0) {
		br_call_fail(job->call, &job->err);
	} else if (job->kind == JOB_ATTACH) {
		struct br_net_attachment a = {
		        .id = job->id,
		        .mode = job->driver->name,
		        .netns_path = br_arena_strdup(arena, job->paths.netns_path),
		        .hosts_path = br_arena_strdup(arena, job->paths.hosts_path),
		        .resolv_path = br_arena_strdup(arena, job->paths.resolv_path),
		        .created_at = br_db_now(),
		};
		if (netd_store_put(job->svc->db, job->ns, &a, &err) < 0) {
			br_call_fail(job->call, &err);
		} else {
			br_outbox_kick(job->svc->outbox);
			br_call_reply(job->call, &br_net_attachment_schema, &a);
		}
	} else if (netd_store_delete(job->svc->db, job->ns, &job->detached, &err) < 0) {
		br_call_fail(job->call, &err);
	} else {
		br_outbox_kick(job->svc->outbox);
		br_call_reply(job->call, NULL, NULL);
	}
	netd_paths_fini(&job->paths);
	free(job);
}

/* `detached`: for a detach, the record it removes (strings in the call's arena). */
static void
queue_job(struct netd_service *svc, br_call *call, enum job_kind kind,
          const struct netd_driver *driver, const char *id, const char *hostname,
          const struct br_net_attachment *detached)
{
	struct net_job *job = xnew(struct net_job);

	job->work.data = job;
	job->kind = kind;
	job->svc = svc;
	job->call = call;
	job->driver = driver;
	job->ns = br_call_ns(call);
	job->id = id;
	job->hostname = hostname;
	if (detached != NULL)
		job->detached = *detached;
	uv_queue_work(svc->uv, &job->work, job_work, job_done);
}

static void
handle_attach(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_attach_req *req = br_call_params(call);
	const char *mode =
	        req->mode != NULL && req->mode[0] != '\0' ? req->mode : svc->default_mode;
	const struct netd_driver *driver = netd_driver_find(mode);
	struct br_net_attachment existing;
	br_err err = BR_ERR_INIT;

	if (driver == NULL) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "network mode \"%s\": unknown (expected \"none\" or \"host\")", mode);
		return;
	}
	if (netd_store_get(svc->db, br_call_ns(call), req->id, br_call_arena(call), &existing,
	                   &err) == 0) {
		if (strcmp(existing.mode, driver->name) != 0)
			br_call_failf(call, BR_ALREADY_EXISTS,
			              "container \"%s\" already has a network (mode \"%s\")",
			              req->id, existing.mode);
		else
			br_call_reply(call, &br_net_attachment_schema, &existing);
		return;
	}
	if (err.code != BR_NOT_FOUND) {
		br_call_fail(call, &err);
		return;
	}
	queue_job(svc, call, JOB_ATTACH, driver, req->id, req->hostname, NULL);
}

static void
handle_detach(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_id_req *req = br_call_params(call);
	struct br_net_attachment a;
	br_err err = BR_ERR_INIT;

	if (netd_store_get(svc->db, br_call_ns(call), req->id, br_call_arena(call), &a, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	const struct netd_driver *driver = netd_driver_find(a.mode);
	if (driver == NULL) {
		br_call_failf(call, BR_INTERNAL,
		              "container \"%s\": recorded mode \"%s\" is unknown", req->id, a.mode);
		return;
	}
	queue_job(svc, call, JOB_DETACH, driver, req->id, NULL, &a);
}

static void
handle_get(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_id_req *req = br_call_params(call);
	struct br_net_attachment a;
	br_err err = BR_ERR_INIT;

	if (netd_store_get(svc->db, br_call_ns(call), req->id, br_call_arena(call), &a, &err) < 0)
		br_call_fail(call, &err);
	else
		br_call_reply(call, &br_net_attachment_schema, &a);
}

static void
handle_list(br_call *call, void *data)
{
	struct netd_service *svc = data;
	struct br_net_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (netd_store_list(svc->db, br_call_ns(call), br_call_arena(call), &resp.items, NULL,
	                    &err) < 0)
		br_call_fail(call, &err);
	else
		br_call_reply(call, &br_net_list_resp_schema, &resp);
}

const struct br_method netd_methods[] = {
        {"networks.attach", &br_net_attach_req_schema, handle_attach},
        {"networks.detach", &br_net_id_req_schema, handle_detach},
        {"networks.get", &br_net_id_req_schema, handle_get},
        {"networks.list", NULL, handle_list},
};
const size_t netd_n_methods = sizeof(netd_methods) / sizeof(netd_methods[0]);

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
			struct br_net_attachment a;
			br_err err = BR_ERR_INIT;
			if (e->d_name[0] == '.')
				continue;
			if (netd_store_get(svc->db, ns_ent->d_name, e->d_name, arena, &a, &err) ==
			            0 ||
			    err.code != BR_NOT_FOUND)
				continue;
			_cleanup_free_ char *path = xasprintf("%s/%s", nsdir, e->d_name);
			umount2(path, MNT_DETACH);
			if (unlink(path) == 0)
				br_log_notice("NET-RECONCILE",
				              "removed network namespace \"%s\" without "
				              "a record",
				              path);
		}
	}
}

void
netd_reconcile(struct netd_service *svc)
{
	br_arena *arena = br_arena_new();
	struct br_objlist all = {0};
	const char **nss = NULL;
	br_err err = BR_ERR_INIT;

	if (netd_store_list(svc->db, NULL, arena, &all, &nss, &err) < 0) {
		br_log_warn("NET-RECONCILE", "%s, ignoring", err.msg);
		br_arena_free(arena);
		return;
	}
	for (size_t i = 0; i < all.n; i++) {
		struct br_net_attachment *a = &((struct br_net_attachment *)all.v)[i];
		const struct netd_driver *driver = netd_driver_find(a->mode);
		struct netd_paths p = {0};
		if (driver == NULL || driver->alive(svc->state_dir, nss[i], a->id))
			continue;
		/* The runtime part is gone (a reboot emptied /run): make it again, at the paths
		 * that were recorded and handed out. */
		if (driver->attach(svc->state_dir, nss[i], a->id, NULL, &p, &err) < 0)
			br_log_warn("NET-RECONCILE", "re-create network of %s/%s: %s, ignoring",
			            nss[i], a->id, err.msg);
		else
			br_log_notice("NET-RECONCILE", "re-created network of %s/%s (mode %s)",
			              nss[i], a->id, a->mode);
		netd_paths_fini(&p);
	}
	remove_unrecorded(svc, arena);
	br_arena_free(arena);
}

/* ------------------------------------------------------------------ metrics */

void
netd_metrics(void *data, struct br_metrics *m)
{
	struct netd_service *svc = data;
	_cleanup_stmt_ sqlite3_stmt *st = NULL;
	br_err err = BR_ERR_INIT;

	if (br_db_prepare(svc->db, "SELECT mode, COUNT(*) FROM attachments GROUP BY mode", &st,
	                  &err) < 0)
		return;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *mode = (const char *)sqlite3_column_text(st, 0);
		br_metrics_gauge(m, "berth_network_attachments",
		                 "Container network attachments, by mode.",
		                 BR_LABELS("mode", mode != NULL ? mode : ""),
		                 (double)sqlite3_column_int64(st, 1), NULL);
	}
}
