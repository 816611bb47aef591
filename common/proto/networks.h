/* SPDX-License-Identifier: Apache-2.0 */
/*
 * networks.* (berth-netd): a container's network namespace.
 *
 *   networks.attach {id, mode}  -> br_net_attachment   idempotent for the same id and mode
 *   networks.detach {id}        -> {}                  NOT_FOUND is not an error to taskd
 *   networks.get    {id}        -> br_net_attachment
 *   networks.list   {}          -> {items: [br_net_attachment]}
 *
 * Modes: "none" (a new network namespace with only loopback, up) and "host" (the host's
 * namespace: netns_path is ""). `id` is the container id. For every mode netd writes the
 * container's hosts and resolv.conf files and returns their paths for taskd to bind-mount.
 *
 * Events (docs/events.md): /networks/connect when an attachment is recorded, and
 * /networks/disconnect when it is removed, both with br_event_network_attachment.
 * /networks/create and /networks/delete are kept for named (CNI) networks.
 */
#ifndef BR_COMMON_PROTO_NETWORKS_H
#define BR_COMMON_PROTO_NETWORKS_H

#include "common/proto/types.h"

struct br_net_attach_req {
	const char *id;
	const char *mode;     /* NULL: the configured default */
	const char *hostname; /* for /etc/hosts; NULL: the id */
};
extern const struct br_schema br_net_attach_req_schema;

struct br_net_id_req {
	const char *id;
};
extern const struct br_schema br_net_id_req_schema;

struct br_net_attachment {
	const char *id;
	const char *mode;
	const char *netns_path; /* "" for host */
	const char *hosts_path;
	const char *resolv_path;
	int64_t created_at;
};
extern const struct br_schema br_net_attachment_schema;

struct br_net_list_resp {
	struct br_objlist items; /* struct br_net_attachment */
};
extern const struct br_schema br_net_list_resp_schema;

/* /networks/connect and /networks/disconnect: a container joined or left a network. */
struct br_event_network_attachment {
	const char *container_id;
	const char *network;    /* the mode: "none" | "host" */
	const char *netns_path; /* "" for host */
};
extern const struct br_schema br_event_network_attachment_schema;

#endif
