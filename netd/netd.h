/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-netd internals (docs/network.md): network drivers (one per mode), named networks and
 * their CNI configuration lists, the store of attachments and endpoints, the container files
 * (hosts, resolv.conf) and the service state. Drivers, CNI calls and file writes of a new
 * attachment run on libuv workers; the store, the networks and the service run on the loop.
 */
#ifndef BR_NETD_NETD_H
#define BR_NETD_NETD_H

#include <sqlite3.h>
#include <stdint.h>
#include <uv.h>

#include "common/err.h"
#include "common/proto/networks.h"
#include "common/rpc.h"

/* ------------------------------------------------------------------ drivers */

/* What a driver made for one container; heap strings owned by the struct. */
struct netd_paths {
	char *netns_path; /* "" for host */
	char *files_dir;  /* hosts and resolv.conf live here */
};

void netd_paths_fini(struct netd_paths *p);

/* A network mode. attach and detach run on a worker thread and must be idempotent: attach
 * over a half-made attachment completes it, detach of what is gone succeeds. "bridge" makes
 * the namespace as "none" does; its interfaces are the CNI plugins' (service.c). */
struct netd_driver {
	const char *name;
	int (*attach)(const char *state_dir, const char *ns, const char *id, struct netd_paths *ret,
	              br_err *err);
	int (*detach)(const char *state_dir, const char *ns, const char *id, br_err *err);
	/* True if the runtime part of an attachment still exists (e.g. the netns mount). */
	int (*alive)(const char *state_dir, const char *ns, const char *id);
};

/* The driver named `mode`, or NULL. */
const struct netd_driver *netd_driver_find(const char *mode);

/* ------------------------------------------------------------------ files */

/* One line of a hosts file: an address and the names it stands for. */
struct netd_host_entry {
	const char *address; /* without a prefix length */
	const char *names;   /* space-separated */
};

/* The text of a container's /etc/hosts: localhost, its own addresses (none: 127.0.1.1) with
 * `names`, its peers, then `add_hosts` ("host:ip"). Heap. Pure. */
char *netd_hosts_render(const char *names, const char *const *own, size_t n_own,
                        const struct netd_host_entry *peers, size_t n_peers,
                        const struct br_strlist *add_hosts);
/* The text of a container's resolv.conf from the host's `host_text`: `dns` (when n > 0)
 * replaces the nameservers; otherwise loopback nameservers are dropped (unless keep_loopback:
 * host mode) and Google's public ones stand in when none is left. Heap. Pure. */
char *netd_resolv_render(const char *host_text, const struct br_strlist *dns, bool keep_loopback);
/* <dir>/resolv.conf from the host's /etc/resolv.conf as netd_resolv_render makes it. Blocking
 * (any thread). */
int netd_resolv_write(const char *dir, const struct br_strlist *dns, bool host_mode, br_err *err);
/* Write `text` over <dir>/<name> in place (the file keeps its inode: a bind mount holds it);
 * a missing file is made. */
int netd_file_rewrite(const char *dir, const char *name, const char *text, br_err *err);
/* Remove <state>/files/<ns>/<id>. */
int netd_files_remove(const char *state_dir, const char *ns, const char *id, br_err *err);

/* ------------------------------------------------------------------ store */

/* An interface of an attachment on a named network, as recorded. Strings in an arena. */
struct netd_endpoint {
	const char *ns, *id;
	const char *network;
	const char *ifname;
	const char *state;    /* "adding" (the plugins may have run) | "ready" */
	const char *conflist; /* the list ADD used: DEL gets the same */
	const char *result;   /* ADD's result ("" until ready) */
	const char *address, *gateway, *mac;
};

/* The record of an attachment beyond its wire form: what its files are made from. */
struct netd_attachment_rec {
	struct br_net_attachment a; /* endpoints and ports filled by netd_store_get */
	const char *hostname;
	struct br_strlist dns;
	struct br_strlist add_hosts;
};

int netd_store_open(const char *data_dir, sqlite3 **ret, br_err *err);

/* Attachments. get fills `ret` (strings in `arena`); NOT_FOUND if absent. */
int netd_store_get(sqlite3 *db, const char *ns, const char *id, br_arena *arena,
                   struct netd_attachment_rec *ret, br_err *err);
/* Record an attachment whose work is done: its row, its endpoints made ready (the ones of
 * r->a.endpoints with their results in `results`), one /networks/connect per network (or one
 * for the mode), one transaction. */
int netd_store_put(sqlite3 *db, const char *ns, const struct netd_attachment_rec *r,
                   const char *const *results, br_err *err);
/* Delete the attachment with its endpoints and ports; /networks/disconnect for each. */
int netd_store_delete(sqlite3 *db, const char *ns, const struct br_net_attachment *a, br_err *err);
/* Every attachment of namespace `ns` (NULL: all; then ret_ns gets each row's ns). */
int netd_store_list(sqlite3 *db, const char *ns, br_arena *arena, struct br_objlist *ret,
                    const char ***ret_ns, br_err *err);

/* Endpoints. begin writes the "adding" row (and the ports, which a unique key keeps to one
 * container) before the plugins run; ready completes it (with /networks/connect when the
 * attachment is recorded already: a connect); delete removes it and its ports (with
 * /networks/disconnect when it was ready and `a` is given). */
int netd_store_endpoint_begin(sqlite3 *db, const struct netd_endpoint *e,
                              const struct br_net_port *ports, size_t n_ports, br_err *err);
int netd_store_endpoint_ready(sqlite3 *db, const struct netd_endpoint *e, bool event, br_err *err);
int netd_store_endpoint_delete(sqlite3 *db, const char *ns, const char *id, const char *network,
                               const struct br_net_attachment *a, br_err *err);
/* Endpoints of one attachment (id != NULL), of a network (network != NULL), or in a state
 * (state != NULL), ordered by ifname. */
int netd_store_endpoints(sqlite3 *db, const char *ns, const char *id, const char *network,
                         const char *state, br_arena *arena, struct netd_endpoint **ret,
                         size_t *ret_n, br_err *err);
/* A container's interface on a network with what its peers' hosts files need of it. */
struct netd_member {
	const char *ns, *id, *network, *ifname, *address, *mac;
	const char *name, *hostname, *hosts_path;
	struct br_strlist add_hosts;
};
/* Every ready interface (of `network`, when not NULL) with its attachment's names, in one
 * query, ordered by namespace, id and ifname. Strings in `arena`. */
int netd_store_members(sqlite3 *db, const char *network, br_arena *arena, struct netd_member **ret,
                       size_t *ret_n, br_err *err);
/* The ports an attachment publishes through `network` (NULL: any), into `ret` (struct
 * br_net_port in `arena`). */
int netd_store_ports(sqlite3 *db, const char *ns, const char *id, const char *network,
                     br_arena *arena, struct br_objlist *ret, br_err *err);
/* The published port that `p` collides with (same port and protocol, same or wildcard
 * address): ALREADY_EXISTS naming its container; 0 if none. */
int netd_store_port_taken(sqlite3 *db, const struct br_net_port *p, br_err *err);

/* Networks. */
int netd_store_network_get(sqlite3 *db, const char *name, br_arena *arena, struct br_network *ret,
                           br_err *err);
int netd_store_network_put(sqlite3 *db, const struct br_network *n, br_err *err);
int netd_store_network_delete(sqlite3 *db, const struct br_network *n, br_err *err);
int netd_store_networks(sqlite3 *db, br_arena *arena, struct br_objlist *ret, br_err *err);

/* ------------------------------------------------------------------ service */

struct br_outbox;

struct netd_service {
	uv_loop_t *uv;
	sqlite3 *db;
	struct br_outbox *outbox; /* events for gatewayd */
	const char *state_dir;
	const char *data_dir;
	const struct br_config *cfg; /* netd.*: default network, CNI directories, pools */
	char *ipam_dir;              /* <root>/netd/ipam */
};

extern const struct br_method netd_methods[];
extern const size_t netd_n_methods;

/* Named networks (networks.c). Loop thread. */
/* The network `name`; the default network's record is made when it is asked for the first
 * time (`create_default`). NOT_FOUND otherwise. */
int netd_network_find(struct netd_service *svc, const char *name, bool create_default,
                      br_arena *arena, struct br_network *ret, br_err *err);
/* The network's CNI configuration list (written again from the record when its file is
 * missing). Heap text. */
char *netd_network_conflist(struct netd_service *svc, const struct br_network *n, br_err *err);
void netd_networks_handle_create(br_call *call, void *data);
void netd_networks_handle_get(br_call *call, void *data);
void netd_networks_handle_list(br_call *call, void *data);
void netd_networks_handle_remove(br_call *call, void *data);

/* Rewrite, in place, the hosts files of every container on `network` and of the attachment
 * ns/id (either may be NULL), from one read of the records (files.c). Loop thread (small files
 * on the state tmpfs). */
void netd_refresh_hosts(struct netd_service *svc, const char *network, const char *ns,
                        const char *id);

/* Reconcile the store with the runtime state after a crash or a reboot (docs/network.md,
 * "Records and recovery"). Start-up, on the loop thread before serving (it blocks briefly). */
void netd_reconcile(struct netd_service *svc);

/* The daemon's metrics hook (struct br_daemon.metrics; data: the service): attachments by
 * network mode (docs/metrics.md). Loop thread. */
struct br_metrics;
void netd_metrics(void *data, struct br_metrics *m);

#endif
