/* SPDX-License-Identifier: Apache-2.0 */
/*
 * networks.* (berth-netd): named networks and each container's attachment to them.
 * docs/network.md has the model; docs/api.md the catalogue.
 *
 * Networks (host-wide objects; the namespace of the call is not part of their name):
 *   networks.create     {name, subnet, gateway, internal, labels} -> br_network
 *   networks.get        {name}                 -> br_network (with its endpoints)
 *   networks.list       {}                     -> {items: [br_network]}
 *   networks.remove     {name}                 -> {}   FAILED_PRECONDITION while in use
 *
 * Attachments (per namespace, keyed by container id):
 *   networks.attach     br_net_attach_req      -> br_net_attachment   idempotent for the
 *                                                  same id and mode
 *   networks.detach     {id}                   -> {}   NOT_FOUND is not an error to taskd
 *   networks.connect    {id, network}          -> br_net_attachment   (a running container
 *                                                  joins one more network)
 *   networks.disconnect {id, network}          -> br_net_attachment
 *   networks.attachment {id}                   -> br_net_attachment
 *   networks.attachments {}                    -> {items: [br_net_attachment]}
 *
 * Modes of an attachment: "none" (a new network namespace with only loopback, up), "host"
 * (the host's namespace: netns_path is "") and "bridge" (a new namespace joined to one or more
 * named networks through CNI; the request's mode is then the first network's name). For every
 * mode netd writes the container's hosts and resolv.conf files and returns their paths for
 * taskd to bind-mount; netd rewrites hosts in place as peers come and go.
 *
 * Events (docs/events.md): /networks/connect when a container joins a network (or gets its
 * none/host attachment) and /networks/disconnect when it leaves, with
 * br_event_network_attachment; /networks/create and /networks/delete for named networks, with
 * br_event_network.
 */
#ifndef BR_COMMON_PROTO_NETWORKS_H
#define BR_COMMON_PROTO_NETWORKS_H

#include "common/proto/types.h"

#define BR_NETWORK_NAME_MAX 64
#define BR_NET_PORTS_MAX 256
#define BR_NET_DNS_MAX 8
#define BR_NET_HOSTS_MAX 256
#define BR_NET_ADDR_MAX 64 /* an address with its prefix length, as text */

/* A port published on the host. */
struct br_net_port {
	const char *host_ip;     /* "" or NULL: every IPv4 address of the host */
	uint32_t host_port;      /* 0 in a request: netd picks a free one */
	uint32_t container_port; /* 1..65535 */
	const char *protocol;    /* "tcp" (default) | "udp" */
};
extern const struct br_schema br_net_port_schema;

struct br_net_attach_req {
	const char *id;
	/* "none" | "host" | a network's name (made on first use when it is the default network's
	 * name); NULL or "": the configured default */
	const char *mode;
	const char *hostname;        /* for /etc/hosts; NULL: the id */
	const char *name;            /* the container's name, which its peers' /etc/hosts list */
	struct br_objlist ports;     /* struct br_net_port, published through the first network */
	struct br_strlist dns;       /* nameservers replacing the host's in resolv.conf */
	struct br_strlist add_hosts; /* "host:ip" lines added to /etc/hosts */
};
extern const struct br_schema br_net_attach_req_schema;

struct br_net_id_req {
	const char *id;
};
extern const struct br_schema br_net_id_req_schema;

/* networks.connect / networks.disconnect */
struct br_net_connect_req {
	const char *id;      /* the container */
	const char *network; /* a network's name */
};
extern const struct br_schema br_net_connect_req_schema;

/* A container's interface on one network. */
struct br_net_endpoint {
	const char *network;
	const char *ifname;  /* "eth0", "eth1", ... */
	const char *address; /* "10.88.0.5/16" */
	const char *gateway; /* "" on an internal network */
	const char *mac;
};
extern const struct br_schema br_net_endpoint_schema;

struct br_net_attachment {
	const char *id;
	const char *mode;       /* "none" | "host" | "bridge" */
	const char *netns_path; /* "" for host */
	const char *hosts_path;
	const char *resolv_path;
	int64_t created_at;
	const char *name;            /* the container's name as given at attach */
	struct br_objlist endpoints; /* struct br_net_endpoint, bridge mode */
	struct br_objlist ports;     /* struct br_net_port as published (host ports chosen) */
};
extern const struct br_schema br_net_attachment_schema;

struct br_net_list_resp {
	struct br_objlist items; /* struct br_net_attachment */
};
extern const struct br_schema br_net_list_resp_schema;

/* networks.create */
struct br_network_create_req {
	const char *name;    /* [A-Za-z0-9][A-Za-z0-9_.-]*, at most BR_NETWORK_NAME_MAX */
	const char *subnet;  /* IPv4 CIDR; NULL or "": a free /24 of netd.subnet_pool */
	const char *gateway; /* NULL or "": the subnet's first address */
	bool internal;       /* no gateway, no route out, no published ports */
	struct br_strmap labels;
};
extern const struct br_schema br_network_create_req_schema;

struct br_network_name_req {
	const char *name;
};
extern const struct br_schema br_network_name_req_schema;

/* A container on a network, as networks.get lists it. */
struct br_network_member {
	const char *ns;
	const char *container_id;
	const char *name;
	const char *ifname;
	const char *address;
	const char *mac;
};
extern const struct br_schema br_network_member_schema;

struct br_network {
	const char *name;
	const char *id;     /* 64 hex digits */
	const char *driver; /* "bridge" */
	const char *bridge; /* the host's bridge device */
	const char *subnet;
	const char *gateway; /* "" when internal */
	bool internal;
	struct br_strmap labels;
	int64_t created_at;
	uint32_t n_members;        /* containers on it */
	struct br_objlist members; /* struct br_network_member; networks.get only */
	const char *conflist;      /* the CNI configuration list's path */
};
extern const struct br_schema br_network_schema;

struct br_network_list_resp {
	struct br_objlist items; /* struct br_network */
};
extern const struct br_schema br_network_list_resp_schema;

/* /networks/connect and /networks/disconnect: a container joined or left a network. */
struct br_event_network_attachment {
	const char *container_id;
	const char *network;    /* the mode ("none" | "host") or the network's name */
	const char *netns_path; /* "" for host */
	const char *address;    /* bridge networks: the container's address on it */
};
extern const struct br_schema br_event_network_attachment_schema;

/* /networks/create and /networks/delete */
struct br_event_network {
	const char *name;
	const char *id;
	const char *subnet;
	const char *bridge;
};
extern const struct br_schema br_event_network_schema;

#endif
