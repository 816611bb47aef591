/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RPC handlers of a container's attachment: networks.attach, detach, connect, disconnect,
 * attachment and attachments (the networks themselves: networks.c).
 *
 * Each handler checks and records on the loop, lets the blocking work (the namespace's fork and
 * mount, the CNI plugins, the files) run on a libuv worker, and records the outcome back on the
 * loop, so the loop never waits for a child. An interface on a named network is recorded
 * "adding" before its plugins run and completed after; an attachment's row is written only
 * after its work succeeded and removed only after it was undone. So a crash at any moment
 * leaves rows that say what to undo or re-make (netd_reconcile), and a runtime part without a
 * row only where nothing but a namespace file was made. Rows carry their events; the outbox is
 * kicked after each change.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
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

enum job_kind { JOB_ATTACH, JOB_DETACH, JOB_CONNECT, JOB_DISCONNECT };

/* One interface's plugin work: what CNI needs. Strings in the call's arena. */
struct job_endpoint {
	const char *network;
	const char *ifname;
	const char *conflist;
	const char *result; /* DEL's prevResult */
	const struct br_net_port *ports;
	size_t n_ports;
	struct netd_cni_result got; /* ADD's, heap */
};

struct net_job {
	uv_work_t work;
	enum job_kind kind;
	struct netd_service *svc;
	br_call *call;
	const struct netd_driver *driver; /* attach, detach: the mode's */
	const char *ns, *id;
	struct netd_attachment_rec rec; /* attach: the request's; others: the record */
	struct job_endpoint *eps;
	size_t n_eps;
	struct netd_paths paths;
	br_err err;
	int rc;
};

static char *
netns_path_of(const struct netd_service *svc, const char *ns, const char *id)
{
	return xasprintf("%s/netns/%s/%s", svc->state_dir, ns, id);
}

static void
cni_call_of(const struct net_job *job, const struct job_endpoint *e, const char *netns,
            struct netd_cni_call *c)
{
	*c = (struct netd_cni_call){.bin_dir = job->svc->cfg->netd.cni_bin_dir,
	                            .conflist = e->conflist,
	                            .container_id = job->id,
	                            .netns = netns,
	                            .ifname = e->ifname,
	                            .n_ports = e->n_ports};
	c->ports = e->n_ports ? e->ports : NULL;
}

/* ADD of the job's endpoints, DEL of those that went in when one fails. */
static int
add_endpoints(struct net_job *job, const char *netns)
{
	for (size_t i = 0; i < job->n_eps; i++) {
		struct netd_cni_call c;
		cni_call_of(job, &job->eps[i], netns, &c);
		if (netd_cni_add(&c, &job->eps[i].got, &job->err) < 0) {
			br_err_wrap(&job->err, "network \"%s\"", job->eps[i].network);
			while (i-- > 0) {
				br_err ignored = BR_ERR_INIT;
				cni_call_of(job, &job->eps[i], netns, &c);
				netd_cni_del(&c, job->eps[i].got.json, &ignored);
			}
			return -1;
		}
	}
	return 0;
}

static int
del_endpoints(struct net_job *job, const char *netns)
{
	int rc = 0;

	for (size_t i = 0; i < job->n_eps; i++) {
		struct netd_cni_call c;
		br_err e = BR_ERR_INIT;
		cni_call_of(job, &job->eps[i], netns, &c);
		if (netd_cni_del(&c, job->eps[i].result[0] ? job->eps[i].result : NULL, &e) < 0 &&
		    rc == 0) {
			job->err = e;
			br_err_wrap(&job->err, "network \"%s\"", job->eps[i].network);
			rc = -1;
		}
	}
	return rc;
}

static void
job_work(uv_work_t *w)
{
	struct net_job *job = w->data;
	_cleanup_free_ char *netns = netns_path_of(job->svc, job->ns, job->id);
	br_err ignored = BR_ERR_INIT;

	switch (job->kind) {
	case JOB_ATTACH:
		job->rc = job->driver->attach(job->svc->state_dir, job->ns, job->id, &job->paths,
		                              &job->err);
		if (job->rc == 0 &&
		    (add_endpoints(job, netns) < 0 ||
		     netd_resolv_write(job->paths.files_dir, &job->rec.dns,
		                       strcmp(job->driver->name, "host") == 0, &job->err) < 0)) {
			del_endpoints(job, netns);
			job->driver->detach(job->svc->state_dir, job->ns, job->id, &ignored);
			job->rc = -1;
		}
		break;
	case JOB_DETACH:
		/* The namespace goes first: its container is gone, so the kernel takes the
		 * interfaces with it, in the background, and the plugins' DEL (given no
		 * namespace, as the spec allows) only releases what lives outside it: the
		 * address, the ports, the firewall rules. The bridge plugin then leaves the
		 * masquerade rules, which it finds by the interface's address; they are removed
		 * by the container's id. Deleting the veth in the plugin instead costs the
		 * kernel's wait for it (60 ms a container). */
		job->rc = job->driver->detach(job->svc->state_dir, job->ns, job->id, &job->err);
		if (job->rc == 0 && job->n_eps > 0) {
			job->rc = del_endpoints(job, "");
			if (job->rc == 0 && netd_cni_sweep_masquerade(job->id, &job->err) < 0)
				job->rc = -1;
		}
		break;
	case JOB_CONNECT:
		job->rc = add_endpoints(job, netns);
		break;
	case JOB_DISCONNECT:
		job->rc = del_endpoints(job, netns);
		break;
	}
}

static void
job_free(struct net_job *job)
{
	for (size_t i = 0; i < job->n_eps; i++)
		netd_cni_result_fini(&job->eps[i].got);
	free(job->eps);
	netd_paths_fini(&job->paths);
	free(job);
}

/* The endpoint as the wire shows it, from ADD's result. */
static struct br_net_endpoint
wire_endpoint(br_arena *arena, const struct job_endpoint *e)
{
	return (struct br_net_endpoint){
	        .network = e->network,
	        .ifname = e->ifname,
	        .address = br_arena_strdup(arena, e->got.address ? e->got.address : ""),
	        .gateway = br_arena_strdup(arena, e->got.gateway ? e->got.gateway : ""),
	        .mac = br_arena_strdup(arena, e->got.mac ? e->got.mac : "")};
}

static void
reply_record(struct net_job *job)
{
	struct netd_attachment_rec r;
	br_err err = BR_ERR_INIT;

	if (netd_store_get(job->svc->db, job->ns, job->id, br_call_arena(job->call), &r, &err) < 0)
		br_call_fail(job->call, &err);
	else
		br_call_reply(job->call, &br_net_attachment_schema, &r.a);
}

static void
attach_done(struct net_job *job)
{
	struct netd_service *svc = job->svc;
	br_arena *arena = br_call_arena(job->call);
	br_err err = BR_ERR_INIT;

	if (job->rc < 0) {
		for (size_t i = 0; i < job->n_eps; i++)
			netd_store_endpoint_delete(svc->db, job->ns, job->id, job->eps[i].network,
			                           NULL, &err);
		br_call_fail(job->call, &job->err);
		return;
	}
	struct netd_attachment_rec *r = &job->rec;
	struct br_net_endpoint *eps = br_arena_alloc(arena, (job->n_eps + 1) * sizeof(*eps));
	const char **results = br_arena_alloc(arena, (job->n_eps + 1) * sizeof(*results));
	for (size_t i = 0; i < job->n_eps; i++) {
		eps[i] = wire_endpoint(arena, &job->eps[i]);
		results[i] = br_arena_strdup(arena, job->eps[i].got.json);
	}
	r->a.endpoints.v = eps;
	r->a.endpoints.n = job->n_eps;
	r->a.netns_path = br_arena_strdup(arena, job->paths.netns_path);
	r->a.hosts_path = br_arena_printf(arena, "%s/hosts", job->paths.files_dir);
	r->a.resolv_path = br_arena_printf(arena, "%s/resolv.conf", job->paths.files_dir);
	r->a.created_at = br_db_now();
	if (netd_store_put(svc->db, job->ns, r, results, &err) < 0) {
		br_call_fail(job->call, &err);
		return;
	}
	br_outbox_kick(svc->outbox);
	netd_refresh_hosts(svc, job->n_eps > 0 ? job->eps[0].network : NULL, job->ns, job->id);
	reply_record(job);
}

static void
job_done(uv_work_t *w, int status)
{
	struct net_job *job = w->data;
	struct netd_service *svc = job->svc;
	br_arena *arena = br_call_arena(job->call);
	br_err err = BR_ERR_INIT;

	switch (job->kind) {
	case JOB_ATTACH:
		attach_done(job);
		break;
	case JOB_DETACH:
		if (job->rc < 0) {
			br_call_fail(job->call, &job->err);
		} else if (netd_store_delete(svc->db, job->ns, &job->rec.a, &err) < 0) {
			br_call_fail(job->call, &err);
		} else {
			br_outbox_kick(svc->outbox);
			for (size_t i = 0; i < job->n_eps; i++)
				netd_refresh_hosts(svc, job->eps[i].network, NULL, NULL);
			br_call_reply(job->call, NULL, NULL);
		}
		break;
	case JOB_CONNECT: {
		struct job_endpoint *e = &job->eps[0];
		struct br_net_endpoint we = wire_endpoint(arena, e);
		struct netd_endpoint rec = {.ns = job->ns,
		                            .id = job->id,
		                            .network = e->network,
		                            .ifname = e->ifname,
		                            .result = e->got.json,
		                            .address = we.address,
		                            .gateway = we.gateway,
		                            .mac = we.mac};
		if (job->rc < 0) {
			netd_store_endpoint_delete(svc->db, job->ns, job->id, e->network, NULL,
			                           &err);
			br_call_fail(job->call, &job->err);
		} else if (netd_store_endpoint_ready(svc->db, &rec, true, &err) < 0) {
			br_call_fail(job->call, &err);
		} else {
			br_outbox_kick(svc->outbox);
			netd_refresh_hosts(svc, e->network, job->ns, job->id);
			reply_record(job);
		}
		break;
	}
	case JOB_DISCONNECT:
		if (job->rc < 0) {
			br_call_fail(job->call, &job->err);
		} else if (netd_store_endpoint_delete(svc->db, job->ns, job->id,
		                                      job->eps[0].network, &job->rec.a, &err) < 0) {
			br_call_fail(job->call, &err);
		} else {
			br_outbox_kick(svc->outbox);
			netd_refresh_hosts(svc, job->eps[0].network, job->ns, job->id);
			reply_record(job);
		}
		break;
	}
	job_free(job);
}

static struct net_job *
job_new(struct netd_service *svc, br_call *call, enum job_kind kind, const char *id, size_t n_eps)
{
	struct net_job *job = xnew(struct net_job);

	job->work.data = job;
	job->kind = kind;
	job->svc = svc;
	job->call = call;
	job->ns = br_call_ns(call);
	job->id = id;
	job->n_eps = n_eps;
	job->eps = xcalloc(n_eps ? n_eps : 1, sizeof(*job->eps));
	return job;
}

static void
job_queue(struct net_job *job)
{
	uv_queue_work(job->svc->uv, &job->work, job_work, job_done);
}

/* ------------------------------------------------------------------ ports */

/* Whether a socket of the host holds `p` (a bind to it fails with EADDRINUSE). */
static int
probe_port(const struct br_net_port *p, uint32_t *ret_port, br_err *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->host_port)};
	socklen_t len = sizeof(sa);
	_cleanup_close_ int s = socket(
	        AF_INET,
	        (strcmp(p->protocol, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	const char *ip = p->host_ip && p->host_ip[0] ? p->host_ip : "0.0.0.0";

	if (s < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "socket");
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1)
		return br_err_set(err, BR_INVALID_ARGUMENT, "published address \"%s\": not IPv4",
		                  ip);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EADDRINUSE)
			return br_err_set(err, BR_ALREADY_EXISTS,
			                  "port %s:%u/%s is already in use on the host", ip,
			                  p->host_port, p->protocol);
		if (errno == EADDRNOTAVAIL)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "published address %s is not an address of this host",
			                  ip);
		return br_err_errno(err, BR_INTERNAL, errno, "check port %u/%s on %s", p->host_port,
		                    p->protocol, ip);
	}
	if (getsockname(s, (struct sockaddr *)&sa, &len) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "getsockname");
	*ret_port = ntohs(sa.sin_port);
	return 0;
}

/* Check the requested ports and give each a host port; `out` in the call's arena. */
static int
resolve_ports(struct netd_service *svc, const struct br_objlist *in, bool internal, br_arena *arena,
              struct br_net_port **out, br_err *err)
{
	struct br_net_port *v = br_arena_alloc(arena, (in->n ? in->n : 1) * sizeof(*v));

	if (in->n > 0 && internal)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "an internal network publishes no ports");
	for (size_t i = 0; i < in->n; i++) {
		struct br_net_port p = ((const struct br_net_port *)in->v)[i];
		if (p.protocol == NULL || p.protocol[0] == '\0')
			p.protocol = "tcp";
		if (strcmp(p.protocol, "tcp") != 0 && strcmp(p.protocol, "udp") != 0)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "port protocol \"%s\": expected tcp or udp", p.protocol);
		if (p.container_port < 1 || p.container_port > 65535 || p.host_port > 65535)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "port %u:%u: ports are 1 to 65535", p.host_port,
			                  p.container_port);
		if (p.host_ip == NULL)
			p.host_ip = "";
		for (size_t j = 0; j < i; j++)
			if (p.host_port != 0 && v[j].host_port == p.host_port &&
			    strcmp(v[j].protocol, p.protocol) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "port %u/%s is published twice", p.host_port,
				                  p.protocol);
		/* A chosen port: the kernel's pick, unless another container has it already. */
		for (int tries = 0;; tries++) {
			uint32_t got = 0;
			if (netd_store_port_taken(svc->db, &p, err) < 0) {
				if (p.host_port != 0 &&
				    ((const struct br_net_port *)in->v)[i].host_port == 0 &&
				    tries < 16) {
					br_err_clear(err);
					p.host_port = 0;
					continue;
				}
				return -1;
			}
			if (probe_port(&p, &got, err) < 0)
				return -1;
			if (p.host_port == 0) {
				p.host_port = got;
				continue; /* check the pick against the records */
			}
			break;
		}
		v[i] = p;
	}
	*out = v;
	return 0;
}

/* ------------------------------------------------------------------ handlers */

static void
handle_attach(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_attach_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	const char *mode =
	        req->mode != NULL && req->mode[0] != '\0' ? req->mode : svc->cfg->netd.network;
	const struct netd_driver *driver = netd_driver_find(mode);
	struct netd_attachment_rec existing;
	struct br_network net;
	br_err err = BR_ERR_INIT;

	if (driver != NULL && strcmp(driver->name, "bridge") == 0)
		driver = NULL; /* "bridge" is what a named network's attachment is, not a name */
	if (driver == NULL && netd_network_find(svc, mode, true, arena, &net, &err) < 0) {
		if (err.code == BR_NOT_FOUND)
			br_call_failf(
			        call, BR_NOT_FOUND,
			        "network \"%s\": not found (none, host or a network of `berth "
			        "network ls`)",
			        mode);
		else
			br_call_fail(call, &err);
		return;
	}
	if (netd_store_get(svc->db, br_call_ns(call), req->id, arena, &existing, &err) == 0) {
		bool same = driver != NULL ? strcmp(existing.a.mode, driver->name) == 0
		                           : existing.a.endpoints.n > 0 &&
		                                     strcmp(((const struct br_net_endpoint *)
		                                                     existing.a.endpoints.v)[0]
		                                                    .network,
		                                            net.name) == 0;
		if (!same)
			br_call_failf(call, BR_ALREADY_EXISTS,
			              "container \"%s\" already has a network (mode \"%s\")",
			              req->id, existing.a.mode);
		else
			br_call_reply(call, &br_net_attachment_schema, &existing.a);
		return;
	}
	if (err.code != BR_NOT_FOUND) {
		br_call_fail(call, &err);
		return;
	}
	br_err_clear(&err);
	if (driver != NULL && req->ports.n > 0) {
		br_call_failf(call, BR_INVALID_ARGUMENT,
		              "network mode \"%s\" publishes no ports (use a bridge network)",
		              driver->name);
		return;
	}

	struct net_job *job = job_new(svc, call, JOB_ATTACH, req->id, driver != NULL ? 0 : 1);
	job->rec.a.id = req->id;
	job->rec.a.name = req->name ? req->name : "";
	job->rec.hostname = req->hostname ? req->hostname : "";
	job->rec.dns = req->dns;
	job->rec.add_hosts = req->add_hosts;
	if (driver != NULL) {
		job->driver = driver;
		job->rec.a.mode = driver->name;
		job_queue(job);
		return;
	}
	job->driver = netd_driver_find("bridge");
	job->rec.a.mode = "bridge";
	struct job_endpoint *e = &job->eps[0];
	struct br_net_port *ports = NULL;
	char *conflist = NULL;
	if (resolve_ports(svc, &req->ports, net.internal, arena, &ports, &err) < 0 ||
	    (conflist = netd_network_conflist(svc, &net, &err)) == NULL) {
		br_call_fail(call, &err);
		job_free(job);
		return;
	}
	e->network = net.name;
	e->ifname = "eth0";
	e->conflist = br_arena_strdup(arena, conflist);
	e->result = "";
	e->ports = ports;
	e->n_ports = req->ports.n;
	free(conflist);
	struct netd_endpoint rec = {.ns = br_call_ns(call),
	                            .id = req->id,
	                            .network = e->network,
	                            .ifname = e->ifname,
	                            .conflist = e->conflist};
	if (netd_store_endpoint_begin(svc->db, &rec, ports, e->n_ports, &err) < 0) {
		if (err.code == BR_ALREADY_EXISTS)
			br_call_failf(
			        call, BR_ALREADY_EXISTS,
			        "container \"%s\": its network is being made, or a port is taken: "
			        "%s",
			        req->id, err.msg);
		else
			br_call_fail(call, &err);
		job_free(job);
		return;
	}
	job_queue(job);
}

/* The record of the call's container with its plugin work for DEL: every interface. */
static struct net_job *
job_for_record(struct netd_service *svc, br_call *call, enum job_kind kind, const char *id,
               const char *network, br_err *err)
{
	br_arena *arena = br_call_arena(call);
	struct netd_attachment_rec r;
	struct netd_endpoint *eps;
	size_t n;

	if (netd_store_get(svc->db, br_call_ns(call), id, arena, &r, err) < 0 ||
	    netd_store_endpoints(svc->db, br_call_ns(call), id, network, NULL, arena, &eps, &n,
	                         err) < 0)
		return NULL;
	if (network != NULL && n == 0) {
		br_err_set(err, BR_NOT_FOUND, "container \"%s\" is not on network \"%s\"", id,
		           network);
		return NULL;
	}
	struct net_job *job = job_new(svc, call, kind, id, n);
	job->rec = r;
	job->driver = netd_driver_find(r.a.mode);
	for (size_t i = 0; i < n; i++) {
		struct br_objlist ports = {0};
		/* DEL gets the ports ADD got: portmap finds its rules by them. */
		if (netd_store_ports(svc->db, br_call_ns(call), id, eps[i].network, arena, &ports,
		                     err) < 0) {
			job_free(job);
			return NULL;
		}
		job->eps[i] = (struct job_endpoint){.network = eps[i].network,
		                                    .ifname = eps[i].ifname,
		                                    .conflist = eps[i].conflist,
		                                    .result = eps[i].result,
		                                    .ports = ports.v,
		                                    .n_ports = ports.n};
	}
	if (job->driver == NULL) {
		br_err_set(err, BR_INTERNAL, "container \"%s\": recorded mode \"%s\" is unknown",
		           id, r.a.mode);
		job_free(job);
		return NULL;
	}
	return job;
}

static void
handle_detach(br_call *call, void *data)
{
	const struct br_net_id_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct net_job *job = job_for_record(data, call, JOB_DETACH, req->id, NULL, &err);

	if (job == NULL)
		br_call_fail(call, &err);
	else
		job_queue(job);
}

static void
handle_connect(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_connect_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	struct netd_attachment_rec r;
	struct netd_endpoint *eps;
	struct br_network net;
	size_t n;
	br_err err = BR_ERR_INIT;
	char *conflist;

	if (netd_store_get(svc->db, br_call_ns(call), req->id, arena, &r, &err) < 0 ||
	    netd_network_find(svc, req->network, true, arena, &net, &err) < 0 ||
	    netd_store_endpoints(svc->db, br_call_ns(call), req->id, NULL, NULL, arena, &eps, &n,
	                         &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (strcmp(r.a.mode, "bridge") != 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "container \"%s\" has network mode \"%s\": only a container on a "
		              "bridge network can join another",
		              req->id, r.a.mode);
		return;
	}
	/* The lowest free ethN. */
	int k = 0;
	for (bool used = true; used; k += used) {
		char name[16];
		snprintf(name, sizeof(name), "eth%d", k);
		used = false;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(eps[i].network, net.name) == 0) {
				br_call_failf(call, BR_ALREADY_EXISTS,
				              "container \"%s\" is already on network \"%s\"",
				              req->id, net.name);
				return;
			}
			used = used || strcmp(eps[i].ifname, name) == 0;
		}
	}
	if ((conflist = netd_network_conflist(svc, &net, &err)) == NULL) {
		br_call_fail(call, &err);
		return;
	}
	struct net_job *job = job_new(svc, call, JOB_CONNECT, req->id, 1);
	job->rec = r;
	job->eps[0] = (struct job_endpoint){.network = net.name,
	                                    .ifname = br_arena_printf(arena, "eth%d", k),
	                                    .conflist = br_arena_strdup(arena, conflist),
	                                    .result = ""};
	free(conflist);
	struct netd_endpoint rec = {.ns = br_call_ns(call),
	                            .id = req->id,
	                            .network = net.name,
	                            .ifname = job->eps[0].ifname,
	                            .conflist = job->eps[0].conflist};
	if (netd_store_endpoint_begin(svc->db, &rec, NULL, 0, &err) < 0) {
		br_call_fail(call, &err);
		job_free(job);
		return;
	}
	job_queue(job);
}

static void
handle_disconnect(br_call *call, void *data)
{
	const struct br_net_connect_req *req = br_call_params(call);
	br_err err = BR_ERR_INIT;
	struct net_job *job =
	        job_for_record(data, call, JOB_DISCONNECT, req->id, req->network, &err);

	if (job == NULL)
		br_call_fail(call, &err);
	else
		job_queue(job);
}

static void
handle_attachment(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_net_id_req *req = br_call_params(call);
	struct netd_attachment_rec r;
	br_err err = BR_ERR_INIT;

	if (netd_store_get(svc->db, br_call_ns(call), req->id, br_call_arena(call), &r, &err) < 0)
		br_call_fail(call, &err);
	else
		br_call_reply(call, &br_net_attachment_schema, &r.a);
}

static void
handle_attachments(br_call *call, void *data)
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
        {"networks.connect", &br_net_connect_req_schema, handle_connect},
        {"networks.disconnect", &br_net_connect_req_schema, handle_disconnect},
        {"networks.attachment", &br_net_id_req_schema, handle_attachment},
        {"networks.attachments", NULL, handle_attachments},
        {"networks.create", &br_network_create_req_schema, netd_networks_handle_create},
        {"networks.get", &br_network_name_req_schema, netd_networks_handle_get},
        {"networks.list", NULL, netd_networks_handle_list},
        {"networks.remove", &br_network_name_req_schema, netd_networks_handle_remove},
};
const size_t netd_n_methods = sizeof(netd_methods) / sizeof(netd_methods[0]);
