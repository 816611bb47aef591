/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth network create|ls|inspect|rm|connect|disconnect: named networks (networks.* in netd),
 * as docker's `docker network`; and berth port: the ports a container publishes, from its
 * attachment. Networks are host-wide and named by their name alone; a container argument is
 * resolved to its id (containers.get, as docker resolves names and id prefixes) because netd
 * keys attachments by the container's id. The formatting of published ports is shared with
 * `berth ps` (containers.c). Main thread.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/msg.h"
#include "common/proto/networks.h"
#include "common/proto/tasks.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

/* ---- published ports (pure) ---- */

void
ctl_port_host(const struct br_net_port *p, char *buf, size_t cap)
{
	const char *ip = p->host_ip != NULL && p->host_ip[0] != '\0' ? p->host_ip : "0.0.0.0";

	snprintf(buf, cap, "%s:%u", ip, p->host_port);
}

static const char *
port_protocol(const struct br_net_port *p)
{
	return p->protocol != NULL && p->protocol[0] != '\0' ? p->protocol : "tcp";
}

void
ctl_ports_summary(const struct br_net_port *ports, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	if (cap == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n && len < cap; i++) {
		char host[BR_NET_ADDR_MAX + 16];
		ctl_port_host(&ports[i], host, sizeof(host));
		int w = snprintf(buf + len, cap - len, "%s%s->%u/%s", i > 0 ? ", " : "", host,
		                 ports[i].container_port, port_protocol(&ports[i]));
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

void
ctl_json_ports(yajl_gen g, const char *key, const struct br_net_port *ports, size_t n)
{
	br_json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		const struct br_net_port *p = &ports[i];
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "host_ip",
		                   p->host_ip != NULL && p->host_ip[0] != '\0' ? p->host_ip
		                                                               : "0.0.0.0");
		br_json_gen_kv_int(g, "host_port", p->host_port);
		br_json_gen_kv_int(g, "container_port", p->container_port);
		br_json_gen_kv_str(g, "protocol", port_protocol(p));
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

int
ctl_parse_port_filter(const char *s, uint32_t *ret_port, const char **ret_protocol, br_err *err)
{
	const char *slash = strchr(s, '/');
	size_t digits = slash ? (size_t)(slash - s) : strlen(s);
	const char *protocol = "tcp";
	unsigned long port = 0;

	if (slash != NULL) {
		if (strcasecmp(slash + 1, "tcp") == 0)
			protocol = "tcp";
		else if (strcasecmp(slash + 1, "udp") == 0)
			protocol = "udp";
		else
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid port \"%s\": protocol \"%s\": expected tcp or udp", s,
			        slash + 1);
	}
	if (digits > 0 && digits <= 5 && strspn(s, "0123456789") == digits)
		port = strtoul(s, NULL, 10);
	if (port < 1 || port > 65535)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid port \"%s\": expected PORT[/tcp|udp], PORT from 1 to 65535", s);
	*ret_port = (uint32_t)port;
	*ret_protocol = protocol;
	return 0;
}

/* An IPv4 address into *ret (host order). */
static bool
parse_ipv4(const char *s, uint32_t *ret)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*ret = ntohl(a.s_addr);
	return true;
}

int
ctl_check_subnet(const char *subnet, const char *gateway, br_err *err)
{
	uint32_t net = 0, gw, mask;
	unsigned long prefix = 0;

	if (subnet != NULL) {
		const char *slash = strchr(subnet, '/');
		char addr[INET_ADDRSTRLEN];
		size_t alen = slash ? (size_t)(slash - subnet) : 0;
		bool ok = slash != NULL && alen < sizeof(addr) && slash[1] != '\0' &&
		          strlen(slash + 1) <= 2 &&
		          strspn(slash + 1, "0123456789") == strlen(slash + 1);
		if (ok) {
			memcpy(addr, subnet, alen);
			addr[alen] = '\0';
			prefix = strtoul(slash + 1, NULL, 10);
			ok = parse_ipv4(addr, &net) && prefix >= 1 && prefix <= 30;
		}
		if (!ok)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid --subnet \"%s\": expected an IPv4 network such as "
			        "10.89.0.0/24 (prefix length 1 to 30)",
			        subnet);
		mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
		if ((net & ~mask) != 0) {
			struct in_addr a = {htonl(net & mask)};
			char base[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &a, base, sizeof(base));
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid --subnet \"%s\": host bits are set (the network is "
			        "%s/%lu)",
			        subnet, base, prefix);
		}
	}
	if (gateway == NULL)
		return 0;
	if (!parse_ipv4(gateway, &gw))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --gateway \"%s\": expected an IPv4 address", gateway);
	if (subnet == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "--gateway %s needs --subnet (the network it is an address of)",
		                  gateway);
	mask = 0xffffffffu << (32 - prefix);
	if ((gw & mask) != net || gw == net || gw == (net | ~mask))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --gateway \"%s\": not a host address of %s", gateway,
		                  subnet);
	return 0;
}

/* ---- network ---- */

static const char *
network_key(const void *item)
{
	return ((const struct br_network *)item)->name;
}

static void
network_json(yajl_gen g, const void *item)
{
	const struct br_network *n = item;

	br_json_gen_kv_str(g, "name", n->name);
	br_json_gen_kv_str(g, "id", n->id);
	br_json_gen_kv_str(g, "driver", n->driver);
	br_json_gen_kv_str(g, "bridge", n->bridge);
	br_json_gen_kv_str(g, "subnet", n->subnet);
	br_json_gen_kv_str(g, "gateway", n->gateway ? n->gateway : "");
	br_json_gen_kv_bool(g, "internal", n->internal);
	ctl_json_strmap(g, "labels", &n->labels);
	br_json_gen_kv_int(g, "created_at", n->created_at);
	br_json_gen_kv_int(g, "containers", n->n_members);
}

static void
network_row(struct ctl_table *t, const void *item, int64_t now)
{
	const struct br_network *n = item;
	char id[13], members[16];

	snprintf(id, sizeof(id), "%s", n->id ? n->id : "");
	snprintf(members, sizeof(members), "%u", n->n_members);
	const char *cells[] = {n->name,
	                       id,
	                       n->driver ? n->driver : "",
	                       n->subnet ? n->subnet : "",
	                       n->gateway && n->gateway[0] ? n->gateway : "-",
	                       n->internal ? "yes" : "no",
	                       members};
	ctl_table_add(t, cells);
}

static const struct ctl_list_view network_view = {
        .item_size = sizeof(struct br_network),
        .n_cols = 7,
        .headers = (const char *const[]){"NAME", "ID", "DRIVER", "SUBNET", "GATEWAY", "INTERNAL",
                                         "CONTAINERS"},
        .key = network_key,
        .json = network_json,
        .row = network_row,
};

static const char create_usage[] =
        "Usage: berth network create [--subnet CIDR] [--gateway IP] [--internal]\n"
        "                            [--label KEY[=VALUE]]... NAME\n"
        "\n"
        "Create a bridge network and print its name. Containers join it with\n"
        "'berth run --net NAME' or 'berth network connect NAME CONTAINER'.\n"
        "\n"
        "Options:\n"
        "      --subnet CIDR   its IPv4 network (default: a free /24 of the daemon's pool)\n"
        "      --gateway IP    the bridge's address in it (default: the first)\n"
        "      --internal      no gateway, no way out, no published ports\n"
        "  -l, --label KEY[=VALUE]\n"
        "                      a label on the network (repeatable)\n";

static int
cmd_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"subnet", required_argument, NULL, 's'}, {"gateway", required_argument, NULL, 'g'},
	        {"internal", no_argument, NULL, 'i'},     {"label", required_argument, NULL, 'l'},
	        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(ctl_labels_fini) struct ctl_labels labels = {0};
	struct br_network_create_req req = {0};
	struct br_network n;
	br_err err = BR_ERR_INIT;
	int c;

	struct ctl_opts op = {argc, argv, "l:h", opts, "network create"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 's':
			req.subnet = optarg;
			break;
		case 'g':
			req.gateway = optarg;
			break;
		case 'i':
			req.internal = true;
			break;
		case 'l':
			if (ctl_labels_add(&labels, optarg, arena, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			break;
		case 'h':
			fputs(create_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("network create needs one NAME");
	req.name = argv[optind];
	if (!br_msg_is_id(req.name, BR_NETWORK_NAME_MAX))
		return ctl_usage_error("invalid network name \"%s\": expected "
		                       "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
		                       req.name);
	if (strcmp(req.name, "none") == 0 || strcmp(req.name, "host") == 0)
		return ctl_usage_error("\"%s\" is a network mode, not a name a network can have",
		                       req.name);
	if (ctl_check_subnet(req.subnet, req.gateway, &err) < 0)
		return ctl_usage_error("%s", err.msg);
	if (req.internal && req.gateway != NULL)
		return ctl_usage_error("--internal and --gateway exclude each other: an internal "
		                       "network has no gateway");
	req.labels = (struct br_strmap){labels.keys, labels.values, labels.n};
	if (ctl_call(ctl, "networks.create", &br_network_create_req_schema, &req,
	             &br_network_schema, &n, arena, 0, &err) < 0) {
		br_err_wrap(&err, "network create %s", req.name);
		return ctl_report(&err);
	}
	printf("%s\n", n.name);
	return 0;
}

static int
cmd_ls(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"quiet", no_argument, NULL, 'q'},
	        {"format", required_argument, NULL, 'F'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool quiet = false;
	int c;

	struct ctl_opts op = {argc, argv, "qh", opts, "network ls"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'q':
			quiet = true;
			break;
		case 'F':
			if (ctl_set_format(ctl, optarg) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			printf("Usage: berth network ls [-q|--quiet] [--format table|json]\n\n"
			       "List the networks: a table, their names alone (-q), or JSON.\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error("network ls takes no arguments");

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_network_list_resp resp;
	br_err err = BR_ERR_INIT;
	if (ctl_call(ctl, "networks.list", &br_empty_schema, NULL, &br_network_list_resp_schema,
	             &resp, arena, 0, &err) < 0)
		return ctl_report(&err);
	return ctl_print_list(ctl, &network_view, &resp.items, quiet, NULL);
}

/* A network with its containers, as `network inspect` shows it. */
static void
network_inspect_json(yajl_gen g, const void *item)
{
	const struct br_network *n = item;

	network_json(g, n);
	br_json_gen_kv_str(g, "conflist", n->conflist);
	br_json_gen_str(g, "members");
	yajl_gen_array_open(g);
	for (size_t k = 0; k < n->members.n; k++) {
		const struct br_network_member *m =
		        (const struct br_network_member *)n->members.v + k;
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "namespace", m->ns);
		br_json_gen_kv_str(g, "container_id", m->container_id);
		br_json_gen_kv_str(g, "name", m->name);
		br_json_gen_kv_str(g, "ifname", m->ifname);
		br_json_gen_kv_str(g, "address", m->address);
		br_json_gen_kv_str(g, "mac", m->mac);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static int
cmd_inspect(struct ctl *ctl, int argc, char **argv)
{
	struct br_network_name_req req = {0};
	struct br_network n;

	return ctl_inspect_each(ctl, argc, argv, "networks.get", &br_network_name_req_schema, &req,
	                        &req.name,
	                        "Usage: berth network inspect NAME...\n\nPrint a JSON array with "
	                        "each network, its containers among them.\n",
	                        &br_network_schema, &n, network_inspect_json);
}

static int
cmd_rm(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	static const char usage[] = "Usage: berth network rm|remove NAME...\n\n"
	                            "Remove networks and print their names. One that a container "
	                            "is on is refused.\n";
	int c, rc = 0;

	struct ctl_opts op = {argc, argv, "+h", opts, "network rm"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage_error("network rm needs a NAME");
	for (int i = optind; i < argc; i++) {
		struct br_network_name_req req = {.name = argv[i]};
		br_err err = BR_ERR_INIT;
		if (ctl_call(ctl, "networks.remove", &br_network_name_req_schema, &req, NULL, NULL,
		             NULL, 0, &err) < 0) {
			br_err_wrap(&err, "network rm %s", argv[i]);
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		printf("%s\n", argv[i]);
	}
	return rc;
}

/* The id of container `ref` (a name, an id or an id's prefix), in `arena`. */
static const char *
container_id(struct ctl *ctl, const char *ref, br_arena *arena, br_err *err)
{
	struct br_container_id_req req = {.id = ref};
	struct br_container c;

	if (ctl_call(ctl, "containers.get", &br_container_id_req_schema, &req, &br_container_schema,
	             &c, arena, 0, err) < 0)
		return NULL;
	return c.id;
}

/* network connect|disconnect NETWORK CONTAINER */
static int
connect_or_disconnect(struct ctl *ctl, int argc, char **argv, bool connect)
{
	const char *verb = connect ? "connect" : "disconnect";

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("Usage: berth network %s NETWORK CONTAINER\n\n%s\n", verb,
		       connect ? "Join a container to one more network (an interface of its own "
		                 "on it)."
		               : "Take a container off a network.");
		return 0;
	}
	if (argc != 3)
		return ctl_usage_error("network %s needs a NETWORK and a CONTAINER", verb);
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_net_attachment att;
	br_err err = BR_ERR_INIT;
	struct br_net_connect_req req = {.network = argv[1]};

	req.id = container_id(ctl, argv[2], arena, &err);
	if (req.id == NULL || ctl_call(ctl, connect ? "networks.connect" : "networks.disconnect",
	                               &br_net_connect_req_schema, &req, &br_net_attachment_schema,
	                               &att, arena, 0, &err) < 0) {
		br_err_wrap(&err, "network %s %s %s", verb, argv[1], argv[2]);
		return ctl_report(&err);
	}
	return 0;
}

static int
cmd_connect(struct ctl *ctl, int argc, char **argv)
{
	return connect_or_disconnect(ctl, argc, argv, true);
}

static int
cmd_disconnect(struct ctl *ctl, int argc, char **argv)
{
	return connect_or_disconnect(ctl, argc, argv, false);
}

int
ctl_cmd_network(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"create", cmd_create},   {"ls", cmd_ls},
	        {"list", cmd_ls},         {"inspect", cmd_inspect},
	        {"rm", cmd_rm},           {"remove", cmd_rm},
	        {"connect", cmd_connect}, {"disconnect", cmd_disconnect},
	};

	return ctl_run_sub(ctl, argc, argv, "network", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth network create [--subnet CIDR] [--gateway IP] "
	                   "[--internal] [--label KEY=VALUE]... NAME\n"
	                   "       berth network ls|list [-q] [--format table|json]\n"
	                   "       berth network inspect NAME...\n"
	                   "       berth network rm|remove NAME...\n"
	                   "       berth network connect NETWORK CONTAINER\n"
	                   "       berth network disconnect NETWORK CONTAINER\n");
}

/* ---- port ---- */

static const char port_usage[] =
        "Usage: berth port CONTAINER [PORT[/tcp|udp]]\n"
        "\n"
        "List the ports a container publishes, \"80/tcp -> 0.0.0.0:8080\"; with PORT, the\n"
        "host addresses of that container port alone.\n";

int
ctl_cmd_port(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_net_attachment att;
	br_err err = BR_ERR_INIT;
	uint32_t want_port = 0;
	const char *want_protocol = NULL;

	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs(port_usage, stdout);
		return 0;
	}
	if (argc < 2 || argc > 3)
		return ctl_usage_error("port needs a CONTAINER and at most one PORT");
	if (argc == 3 && ctl_parse_port_filter(argv[2], &want_port, &want_protocol, &err) < 0)
		return ctl_usage_error("%s", err.msg);
	struct br_net_id_req req = {.id = container_id(ctl, argv[1], arena, &err)};
	if (req.id == NULL || ctl_call(ctl, "networks.attachment", &br_net_id_req_schema, &req,
	                               &br_net_attachment_schema, &att, arena, 0, &err) < 0) {
		br_err_wrap(&err, "port %s", argv[1]);
		return ctl_report(&err);
	}
	const struct br_net_port *ports = att.ports.v;
	size_t shown = 0;
	for (size_t i = 0; i < att.ports.n; i++) {
		char host[BR_NET_ADDR_MAX + 16];
		ctl_port_host(&ports[i], host, sizeof(host));
		if (want_protocol == NULL) {
			printf("%u/%s -> %s\n", ports[i].container_port, port_protocol(&ports[i]),
			       host);
		} else if (ports[i].container_port == want_port &&
		           strcmp(port_protocol(&ports[i]), want_protocol) == 0) {
			printf("%s\n", host);
			shown++;
		}
	}
	if (want_protocol != NULL && shown == 0) {
		br_err_set(&err, BR_NOT_FOUND, "port %s: no public port %u/%s published", argv[1],
		           want_port, want_protocol);
		return ctl_report(&err);
	}
	return 0;
}
