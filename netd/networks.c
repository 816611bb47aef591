/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named networks (docs/network.md, "Networks"): records, subnets that overlap nothing, bridge
 * names, the CNI configuration lists (netd/cni.c makes their text) and networks.create, get,
 * list and remove. The records and the checks run on the loop; a removal's bridge and
 * reservations go on a worker.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/config.h"
#include "common/db.h"
#include "common/random.h"
#include "common/fsutil.h"
#include "common/ipv4.h"
#include "common/log.h"
#include "common/outbox.h"
#include "common/spawn.h"
#include "common/xalloc.h"
#include "netd/cni.h"
#include "netd/netd.h"

/* Names a container can ask for instead of a network. */
static bool
reserved_name(const char *name)
{
	return strcmp(name, "none") == 0 || strcmp(name, "host") == 0 ||
	       strcmp(name, "bridge") == 0;
}

/* host-local keeps a network's reservations in <dataDir>/<network name>/. */
static struct netd_cni_net
cni_net_of(const struct netd_service *svc, const struct br_network *n)
{
	return (struct netd_cni_net){.name = n->name,
	                             .bridge = n->bridge,
	                             .subnet = n->subnet,
	                             .gateway = n->gateway,
	                             .internal = n->internal,
	                             .ipam_dir = svc->ipam_dir};
}

char *
netd_network_conflist(struct netd_service *svc, const struct br_network *n, br_err *err)
{
	_cleanup_free_ char *path = NULL;
	char *text = NULL;
	br_err missing = BR_ERR_INIT;

	if (netd_cni_read_conflist(svc->cfg->netd.cni_conf_dir, n->name, &text, &missing) == 0)
		return text;
	if (missing.code != BR_NOT_FOUND) {
		*err = missing;
		return NULL;
	}
	struct netd_cni_net net = cni_net_of(svc, n);
	if (netd_cni_write_conflist(svc->cfg->netd.cni_conf_dir, &net, &path, err) < 0)
		return NULL;
	return netd_cni_conflist(&net);
}

/* What a new network's subnet must not overlap: every network's subnet, and every route of the
 * host that does not go through one of those networks' bridges or through `bridge`, the new
 * one's. Read once per create. */
struct taken {
	struct br_objlist nets; /* struct br_network */
	struct br_ipv4_route *routes;
	size_t n_routes;
	const char *bridge;
};

static int
taken_load(struct netd_service *svc, br_arena *arena, struct taken *ret, br_err *err)
{
	memset(ret, 0, sizeof(*ret));
	if (netd_store_networks(svc->db, arena, &ret->nets, err) < 0 ||
	    br_ipv4_host_routes(&ret->routes, &ret->n_routes, err) < 0)
		return -1;
	return 0;
}

static int
check_overlap(const struct taken *t, const struct br_ipv4_net *subnet, br_err *err)
{
	const struct br_network *nets = t->nets.v;
	char a[BR_IPV4_TEXT_MAX], b[BR_IPV4_TEXT_MAX];

	for (size_t i = 0; i < t->nets.n; i++) {
		struct br_ipv4_net on;
		br_err ignored = BR_ERR_INIT;
		if (br_ipv4_parse_net(nets[i].subnet, "subnet", &on, &ignored) == 0 &&
		    br_ipv4_overlap(subnet, &on))
			return br_err_set(err, BR_ALREADY_EXISTS,
			                  "subnet %s overlaps network \"%s\" (%s)",
			                  br_ipv4_net_str(subnet, a), nets[i].name, nets[i].subnet);
	}
	for (size_t i = 0; i < t->n_routes; i++) {
		const struct br_ipv4_route *r = &t->routes[i];
		bool ours = strcmp(r->dev, t->bridge) == 0;
		for (size_t j = 0; j < t->nets.n && !ours; j++)
			ours = strcmp(r->dev, nets[j].bridge) == 0;
		if (!ours && br_ipv4_overlap(subnet, &r->dst))
			return br_err_set(err, BR_ALREADY_EXISTS,
			                  "subnet %s overlaps the host's route to %s (device %s)",
			                  br_ipv4_net_str(subnet, a), br_ipv4_net_str(&r->dst, b),
			                  r->dev);
	}
	return 0;
}

/* The first /24 of the pool that overlaps nothing. */
static int
pick_subnet(struct netd_service *svc, const struct taken *t, struct br_ipv4_net *ret, br_err *err)
{
	struct br_ipv4_net pool;

	if (br_ipv4_parse_net(svc->cfg->netd.subnet_pool, "netd.subnet_pool", &pool, err) < 0)
		return -1;
	for (uint64_t i = 0; i < (1ull << (24 - pool.prefix)); i++) {
		struct br_ipv4_net n = {pool.addr + (uint32_t)(i << 8), 24};
		br_err busy = BR_ERR_INIT;
		if (check_overlap(t, &n, &busy) == 0) {
			*ret = n;
			return 0;
		}
	}
	return br_err_set(err, BR_RESOURCE_EXHAUSTED,
	                  "no /24 of netd.subnet_pool %s is free: give --subnet",
	                  svc->cfg->netd.subnet_pool);
}

/* The lowest `<prefix><N>` (N >= 1) that no network uses and no device of the host has. */
static char *
pick_bridge(struct netd_service *svc, const struct taken *t, br_arena *arena, br_err *err)
{
	const struct br_network *nets = t->nets.v;

	for (int i = 1; i < 1000; i++) {
		char *name = br_arena_printf(arena, "%s%d", svc->cfg->netd.bridge_prefix, i);
		bool used = if_nametoindex(name) != 0;
		for (size_t j = 0; j < t->nets.n && !used; j++)
			used = strcmp(nets[j].bridge, name) == 0;
		if (!used)
			return name;
	}
	br_err_set(err, BR_RESOURCE_EXHAUSTED, "no free bridge name %s<N>",
	           svc->cfg->netd.bridge_prefix);
	return NULL;
}

/* The new network's subnet (`want`, or the pool's first free /24) and, unless given, its
 * bridge. */
static int
choose_subnet(struct netd_service *svc, const char *want, const char **bridge, br_arena *arena,
              struct br_ipv4_net *ret, br_err *err)
{
	struct taken t;
	int rc = -1;

	if (taken_load(svc, arena, &t, err) < 0)
		goto out;
	if (*bridge == NULL && (*bridge = pick_bridge(svc, &t, arena, err)) == NULL)
		goto out;
	t.bridge = *bridge;
	if (want == NULL || want[0] == '\0') {
		rc = pick_subnet(svc, &t, ret, err);
	} else if (br_ipv4_parse_net(want, "subnet", ret, err) == 0) {
		if (ret->prefix > 30)
			br_err_set(err, BR_INVALID_ARGUMENT,
			           "subnet %s: too small for containers (at most a /30)", want);
		else
			rc = check_overlap(&t, ret, err);
	}
out:
	free(t.routes);
	return rc;
}

/* Make the network's record and its configuration list. */
static int
create_network(struct netd_service *svc, const struct br_network_create_req *req,
               const char *bridge, br_arena *arena, struct br_network *ret, br_err *err)
{
	struct br_ipv4_net subnet;
	uint32_t gw = 0;
	char id[65], sbuf[BR_IPV4_TEXT_MAX], gbuf[BR_IPV4_TEXT_MAX];
	struct br_network n = {0};
	_cleanup_free_ char *path = NULL;

	if (reserved_name(req->name))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "network name \"%s\" is reserved (a mode of --net)", req->name);
	if (netd_store_network_get(svc->db, req->name, arena, &n, err) == 0)
		return br_err_set(err, BR_ALREADY_EXISTS, "network \"%s\" already exists",
		                  req->name);
	if (err->code != BR_NOT_FOUND)
		return -1;
	br_err_clear(err);
	if (choose_subnet(svc, req->subnet, &bridge, arena, &subnet, err) < 0)
		return -1;
	if (req->gateway != NULL && req->gateway[0] != '\0') {
		if (req->internal)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "an internal network has no gateway (--gateway %s)",
			                  req->gateway);
		if (br_ipv4_parse_addr(req->gateway, "gateway", &gw, err) < 0)
			return -1;
		if (!br_ipv4_contains(&subnet, gw) || gw == subnet.addr ||
		    gw == (subnet.addr | ~br_ipv4_mask(subnet.prefix)))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "gateway %s: not a host address of subnet %s",
			                  req->gateway, br_ipv4_net_str(&subnet, sbuf));
	} else if (!req->internal) {
		gw = subnet.addr + 1;
	}
	br_random_hex(id, 32);
	n.name = req->name;
	n.id = br_arena_strdup(arena, id);
	n.driver = "bridge";
	n.bridge = bridge;
	n.subnet = br_arena_strdup(arena, br_ipv4_net_str(&subnet, sbuf));
	n.gateway = req->internal ? "" : br_arena_strdup(arena, br_ipv4_addr_str(gw, gbuf));
	n.internal = req->internal;
	n.labels = req->labels;
	n.created_at = br_db_now();
	struct netd_cni_net net = cni_net_of(svc, &n);
	if (netd_cni_write_conflist(svc->cfg->netd.cni_conf_dir, &net, &path, err) < 0)
		return br_err_wrap(err, "network \"%s\"", req->name);
	if (netd_store_network_put(svc->db, &n, err) < 0) {
		br_err ignored = BR_ERR_INIT;
		netd_cni_remove_conflist(svc->cfg->netd.cni_conf_dir, n.name, &ignored);
		return -1;
	}
	br_outbox_kick(svc->outbox);
	n.conflist = br_arena_strdup(arena, path);
	*ret = n;
	return 0;
}

int
netd_network_find(struct netd_service *svc, const char *name, bool create_default, br_arena *arena,
                  struct br_network *ret, br_err *err)
{
	if (netd_store_network_get(svc->db, name, arena, ret, err) == 0)
		return 0;
	if (err->code != BR_NOT_FOUND || !create_default ||
	    strcmp(name, svc->cfg->netd.network) != 0)
		return -1;
	br_err_clear(err);
	struct br_network_create_req req = {.name = name, .subnet = svc->cfg->netd.default_subnet};
	if (create_network(svc, &req, svc->cfg->netd.default_bridge, arena, ret, err) < 0)
		return br_err_wrap(err, "make the default network \"%s\"", name);
	br_log_info("NET-DEFAULT", "made the default network \"%s\" (%s on %s)", name, ret->subnet,
	            ret->bridge);
	return 0;
}

void
netd_networks_handle_create(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_network_create_req *req = br_call_params(call);
	struct br_network n;
	br_err err = BR_ERR_INIT;

	if (create_network(svc, req, NULL, br_call_arena(call), &n, &err) < 0)
		br_call_fail(call, &err);
	else
		br_call_reply(call, &br_network_schema, &n);
}

static void
fill_members(struct netd_service *svc, br_arena *arena, struct br_network *n, br_err *err)
{
	struct netd_member *all;
	size_t k;

	if (netd_store_members(svc->db, n->name, arena, &all, &k, err) < 0)
		return;
	struct br_network_member *m = br_arena_alloc(arena, (k ? k : 1) * sizeof(*m));
	for (size_t i = 0; i < k; i++)
		m[i] = (struct br_network_member){.ns = all[i].ns,
		                                  .container_id = all[i].id,
		                                  .name = all[i].name,
		                                  .ifname = all[i].ifname,
		                                  .address = all[i].address,
		                                  .mac = all[i].mac};
	n->members.v = m;
	n->members.n = k;
}

static void
set_conflist_path(struct netd_service *svc, br_arena *arena, struct br_network *n)
{
	n->conflist =
	        br_arena_printf(arena, "%s/%s.conflist", svc->cfg->netd.cni_conf_dir, n->name);
}

void
netd_networks_handle_get(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_network_name_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	struct br_network n;
	br_err err = BR_ERR_INIT;

	if (netd_store_network_get(svc->db, req->name, arena, &n, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	fill_members(svc, arena, &n, &err);
	set_conflist_path(svc, arena, &n);
	if (err.code != BR_OK)
		br_call_fail(call, &err);
	else
		br_call_reply(call, &br_network_schema, &n);
}

void
netd_networks_handle_list(br_call *call, void *data)
{
	struct netd_service *svc = data;
	br_arena *arena = br_call_arena(call);
	struct br_network_list_resp resp = {0};
	br_err err = BR_ERR_INIT;

	if (netd_store_networks(svc->db, arena, &resp.items, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	for (size_t i = 0; i < resp.items.n; i++)
		set_conflist_path(svc, arena, (struct br_network *)resp.items.v + i);
	br_call_reply(call, &br_network_list_resp_schema, &resp);
}

/* ------------------------------------------------------------------ remove */

struct remove_job {
	uv_work_t work;
	struct netd_service *svc;
	br_call *call;
	struct br_network n; /* strings in the call's arena */
	br_err err;
	int rc;
};

static void
remove_work(uv_work_t *w)
{
	struct remove_job *j = w->data;
	_cleanup_close_ int pfd = open(j->svc->ipam_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	const char *argv[] = {"ip", "link", "delete", "dev", j->n.bridge, NULL};
	int status = 0;

	j->rc = netd_cni_remove_conflist(j->svc->cfg->netd.cni_conf_dir, j->n.name, &j->err);
	if (j->rc == 0 && pfd >= 0)
		j->rc = br_rm_rf_at(pfd, j->n.name, &j->err);
	/* The bridge goes with its network (the plugins made it; nothing else is on it now). */
	if (j->rc == 0 && if_nametoindex(j->n.bridge) != 0 &&
	    (br_spawn_run(argv, true, BR_SPAWN_CAPTURE_STDERR, 4096, NULL, NULL, &status, &j->err) <
	             0 ||
	     (br_spawn_exit_code(status) != 0 && if_nametoindex(j->n.bridge) != 0))) {
		if (j->err.code == BR_OK)
			br_err_set(&j->err, BR_INTERNAL, "delete bridge %s: ip link failed",
			           j->n.bridge);
		j->rc = -1;
	}
	if (j->rc == 0)
		netd_cni_remove_isolation(j->n.bridge);
}

static void
remove_done(uv_work_t *w, int status)
{
	struct remove_job *j = w->data;
	br_err err = BR_ERR_INIT;

	if (j->rc < 0)
		br_call_fail(j->call, &j->err);
	else if (netd_store_network_delete(j->svc->db, &j->n, &err) < 0)
		br_call_fail(j->call, &err);
	else {
		br_outbox_kick(j->svc->outbox);
		br_call_reply(j->call, NULL, NULL);
	}
	free(j);
}

void
netd_networks_handle_remove(br_call *call, void *data)
{
	struct netd_service *svc = data;
	const struct br_network_name_req *req = br_call_params(call);
	br_arena *arena = br_call_arena(call);
	struct br_network n;
	struct netd_endpoint *eps;
	size_t k;
	br_err err = BR_ERR_INIT;

	if (netd_store_network_get(svc->db, req->name, arena, &n, &err) < 0 ||
	    netd_store_endpoints(svc->db, NULL, NULL, req->name, NULL, arena, &eps, &k, &err) < 0) {
		br_call_fail(call, &err);
		return;
	}
	if (k > 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "network \"%s\" is in use by %zu container%s (\"%s\" of namespace "
		              "%s%s): remove or disconnect them first",
		              req->name, k, k == 1 ? "" : "s", eps[0].id, eps[0].ns,
		              k > 1 ? ", ..." : "");
		return;
	}
	struct remove_job *j = xnew(struct remove_job);
	j->work.data = j;
	j->svc = svc;
	j->call = call;
	j->n = n;
	uv_queue_work(svc->uv, &j->work, remove_work, remove_done);
}
