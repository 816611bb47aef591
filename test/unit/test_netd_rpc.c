/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-netd end to end over its socket, with the real CNI plugins: the default network made
 * on first use, addresses, peers in /etc/hosts, published ports (taken ones refused before
 * anything is made), named networks (subnets that overlap nothing, removal refused while in
 * use), connect and disconnect, and a detach or a kill -9 mid-setup that leaves no interface,
 * reservation or rule behind. As root (namespaces, bridges, iptables); the bridges and
 * subnets are this run's own.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/msg.h"
#include "common/proto/networks.h"
#include "common/rpc.h"
#include "common/xalloc.h"
#include "test/unit/t.h"
#include "test/unit/t_daemon.h"

static char bridge0[16], prefix[16], cni_dir[64], bin_dir[64];
static void host_guard(void);
static int octet;
static char config[1024];

/* The run's own names: bridges "tn<pid>0" and "tn<pid>N", subnet 10.246.<octet>.0/24. */
static void
names_init(void)
{
	int pid = (int)getpid() % 100000;
	octet = (int)(getpid() % 250) + 1;
	snprintf(prefix, sizeof(prefix), "tn%d", pid);
	snprintf(bridge0, sizeof(bridge0), "tn%dd", pid);
	snprintf(cni_dir, sizeof(cni_dir), "/tmp/berth-tn-cni-%d", pid);
	snprintf(bin_dir, sizeof(bin_dir), "/tmp/berth-tn-bin-%d", pid);
	host_guard();
}

static void host_cleanup(void);

/* The case goes on in a child; this process waits for it and removes what it made on the host
 * (bridges, configuration), however the case ended. */
static void
host_guard(void)
{
	int status = 0;

	fflush(NULL);
	pid_t pid = fork();
	T_OK(pid >= 0);
	if (pid == 0)
		return;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	host_cleanup();
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

static void
netd_setup(struct t_daemon *d, const char *bins)
{
	snprintf(config, sizeof(config),
	         "{\"netd\": {\"network\": \"tnet\", \"default_bridge\": \"%s\","
	         " \"default_subnet\": \"10.246.%d.0/24\", \"subnet_pool\": \"10.247.0.0/16\","
	         " \"bridge_prefix\": \"%s\", \"cni_conf_dir\": \"%s\", \"cni_bin_dir\": \"%s\"}}",
	         bridge0, octet, prefix, cni_dir, bins ? bins : "/usr/lib/cni");
	d->config_json = config;
	t_daemon_setup(d, "netd");
}

/* Everything this run made on the host, gone: bridges, CNI configuration. */
static void
host_cleanup(void)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "for l in $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep '^%s');"
	         " do ip link delete \"$l\"; done; rm -rf '%s' '%s';"
	         " for c in CNI-ISOLATION-STAGE-1 CNI-ISOLATION-STAGE-2; do"
	         " iptables -w -S $c 2>/dev/null | grep -- '-o %s' | sed 's/^-A/-D/' |"
	         " while read -r r; do eval \"iptables -w $r\"; done; done",
	         prefix, cni_dir, bin_dir, prefix);
	if (system(cmd) != 0)
		fprintf(stderr, "# cleanup: %s failed\n", cmd);
}

static struct br_call_opts
opts(void)
{
	return (struct br_call_opts){.ns = "default", .timeout_ms = 30000};
}

/* Lines of iptables-save that name `s`. */
static int
rules_of(const char *s)
{
	char cmd[256], line[1024];
	int n = 0;
	snprintf(cmd, sizeof(cmd), "iptables-save 2>/dev/null | grep -c -- '%s'", s);
	FILE *p = popen(cmd, "r");
	T_NOT_NULL(p);
	if (fgets(line, sizeof(line), p) != NULL)
		n = atoi(line);
	pclose(p);
	return n;
}

/* The default network removed at the end of a case: its bridge and the rules that name it
 * go. */
static void
remove_default(struct t_daemon *d)
{
	struct br_call_opts o = opts();
	struct br_network_name_req rm = {.name = "tnet"};
	br_err err = BR_ERR_INIT;

	T_NOERR(br_rpc_call(d->client, &o, "networks.remove", &br_network_name_req_schema, &rm,
	                    NULL, NULL, NULL, &err),
	        err);
	T_EQ_INT(if_nametoindex(bridge0), 0);
	T_EQ_INT(rules_of(bridge0), 0);
}

static int
attach(struct t_daemon *d, const char *id, const char *mode, const struct br_net_port *ports,
       size_t n_ports, struct br_net_attachment *ret, br_err *err)
{
	struct br_call_opts o = opts();
	struct br_net_attach_req req = {.id = id,
	                                .mode = mode,
	                                .name = id,
	                                .hostname = id,
	                                .ports = {(void *)ports, n_ports}};
	return br_rpc_call(d->client, &o, "networks.attach", &br_net_attach_req_schema, &req,
	                   &br_net_attachment_schema, ret, d->arena, err);
}

static int
detach(struct t_daemon *d, const char *id, br_err *err)
{
	struct br_call_opts o = opts();
	struct br_net_id_req req = {.id = id};
	return br_rpc_call(d->client, &o, "networks.detach", &br_net_id_req_schema, &req, NULL,
	                   NULL, NULL, err);
}

static char *
read_text(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, &err), err);
	return text;
}

/* Files of host-local's reservations of `network` (addresses only). */
static int
reservations(struct t_daemon *d, const char *network)
{
	char dir[256];
	int n = 0;
	snprintf(dir, sizeof(dir), "%s/root/netd/ipam/%s", d->dir, network);
	DIR *dd = opendir(dir);
	struct dirent *e;
	while (dd != NULL && (e = readdir(dd)) != NULL)
		n += strspn(e->d_name, "0123456789.") == strlen(e->d_name) && e->d_name[0] != '.';
	if (dd != NULL)
		closedir(dd);
	return n;
}

static bool
in_subnet(const char *address, int third)
{
	char want[32];
	snprintf(want, sizeof(want), "10.246.%d.", third);
	return strncmp(address, want, strlen(want)) == 0;
}

static void
test_default_network_and_peers(void)
{
	struct t_daemon d = {0};
	struct br_net_attachment a, b;
	br_err err = BR_ERR_INIT;

	if (geteuid() != 0)
		T_SKIP("needs root: network namespaces, bridges and iptables");
	names_init();
	netd_setup(&d, NULL);
	T_NOERR(attach(&d, "tn-a", NULL, NULL, 0, &a, &err), err);
	T_EQ_STR(a.mode, "bridge");
	T_EQ_INT(a.endpoints.n, 1);
	const struct br_net_endpoint *ea = a.endpoints.v;
	T_EQ_STR(ea->network, "tnet");
	T_EQ_STR(ea->ifname, "eth0");
	T_OK(in_subnet(ea->address, octet));
	T_OK(if_nametoindex(bridge0) != 0);
	T_NOERR(attach(&d, "tn-b", "tnet", NULL, 0, &b, &err), err);
	const struct br_net_endpoint *eb = b.endpoints.v;
	T_OK(strcmp(ea->address, eb->address) != 0);
	/* each lists the other by name; resolv.conf has no loopback resolver */
	_cleanup_free_ char *ha = read_text(a.hosts_path);
	_cleanup_free_ char *hb = read_text(b.hosts_path);
	_cleanup_free_ char *rb = read_text(b.resolv_path);
	char want[64];
	snprintf(want, sizeof(want), "%.*s\ttn-b\n", (int)strcspn(eb->address, "/"), eb->address);
	T_OK(strstr(ha, want) != NULL);
	snprintf(want, sizeof(want), "%.*s\ttn-a\n", (int)strcspn(ea->address, "/"), ea->address);
	T_OK(strstr(hb, want) != NULL);
	T_OK(strstr(rb, "nameserver 127.") == NULL);
	T_EQ_INT(reservations(&d, "tnet"), 2);
	/* same request again: the same attachment; another network for it: refused */
	struct br_net_attachment again;
	T_NOERR(attach(&d, "tn-a", "tnet", NULL, 0, &again, &err), err);
	T_EQ_STR(((const struct br_net_endpoint *)again.endpoints.v)->address, ea->address);
	T_ERR(attach(&d, "tn-a", "none", NULL, 0, &again, &err), err, BR_ALREADY_EXISTS);
	/* b goes: a's hosts no longer lists it; its address is free again */
	T_NOERR(detach(&d, "tn-b", &err), err);
	_cleanup_free_ char *ha2 = read_text(a.hosts_path);
	T_OK(strstr(ha2, "tn-b") == NULL);
	T_EQ_INT(reservations(&d, "tnet"), 1);
	T_NOERR(detach(&d, "tn-a", &err), err);
	T_EQ_INT(reservations(&d, "tnet"), 0);
	T_EQ_INT(access(a.netns_path, F_OK), -1);
	T_ERR(detach(&d, "tn-a", &err), err, BR_NOT_FOUND);
	T_ERR(attach(&d, "tn-c", "no-such-net", NULL, 0, &again, &err), err, BR_NOT_FOUND);
	remove_default(&d);
	t_daemon_teardown(&d);
	host_cleanup();
}

static void
test_ports(void)
{
	struct t_daemon d = {0};
	struct br_net_attachment a, b;
	br_err err = BR_ERR_INIT;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);

	if (geteuid() != 0)
		T_SKIP("needs root: network namespaces, bridges and iptables");
	names_init();
	netd_setup(&d, NULL);
	/* a port a socket of the host holds */
	int held = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_EQ_INT(bind(held, (struct sockaddr *)&sa, sizeof(sa)), 0);
	T_EQ_INT(listen(held, 1), 0);
	T_EQ_INT(getsockname(held, (struct sockaddr *)&sa, &len), 0);
	uint32_t busy = ntohs(sa.sin_port);

	struct br_net_port chosen[] = {{.container_port = 80}};
	T_NOERR(attach(&d, "tn-p1", NULL, chosen, 1, &a, &err), err);
	T_EQ_INT(a.ports.n, 1);
	const struct br_net_port *pa = a.ports.v;
	T_OK(pa->host_port > 0);
	T_EQ_STR(pa->protocol, "tcp");
	T_OK(rules_of("tn-p1") > 0);
	/* the same host port again: refused before anything is made */
	struct br_net_port same[] = {{.host_port = pa->host_port, .container_port = 8080}};
	T_ERR(attach(&d, "tn-p2", NULL, same, 1, &b, &err), err, BR_ALREADY_EXISTS);
	T_OK(strstr(err.msg, "tn-p1") != NULL);
	br_err_clear(&err);
	struct br_net_port taken[] = {
	        {.host_ip = "127.0.0.1", .host_port = busy, .container_port = 80}};
	T_ERR(attach(&d, "tn-p2", NULL, taken, 1, &b, &err), err, BR_ALREADY_EXISTS);
	T_OK(strstr(err.msg, "in use on the host") != NULL);
	br_err_clear(&err);
	T_ERR(detach(&d, "tn-p2", &err), err, BR_NOT_FOUND);
	T_EQ_INT(reservations(&d, "tnet"), 1);
	struct br_net_port bad[] = {{.container_port = 80, .protocol = "sctp"}};
	br_err_clear(&err);
	T_ERR(attach(&d, "tn-p2", NULL, bad, 1, &b, &err), err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	T_ERR(attach(&d, "tn-p2", "none", chosen, 1, &b, &err), err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	T_NOERR(detach(&d, "tn-p1", &err), err);
	T_EQ_INT(rules_of("tn-p1"), 0);
	close(held);
	remove_default(&d);
	t_daemon_teardown(&d);
	host_cleanup();
}

static void
test_named_networks(void)
{
	struct t_daemon d = {0};
	struct br_call_opts o = opts();
	struct br_network n2, n3, got;
	struct br_net_attachment a;
	br_err err = BR_ERR_INIT;

	if (geteuid() != 0)
		T_SKIP("needs root: network namespaces, bridges and iptables");
	names_init();
	netd_setup(&d, NULL);
	T_NOERR(attach(&d, "tn-n", NULL, NULL, 0, &a, &err), err);
	struct br_network_create_req c2 = {.name = "tn-two"};
	T_NOERR(br_rpc_call(d.client, &o, "networks.create", &br_network_create_req_schema, &c2,
	                    &br_network_schema, &n2, d.arena, &err),
	        err);
	T_OK(strncmp(n2.subnet, "10.247.", 7) == 0);
	/* a /24 of the pool, its first address the gateway */
	char gw[32];
	T_OK(strlen(n2.subnet) > 5 && strcmp(n2.subnet + strlen(n2.subnet) - 5, ".0/24") == 0);
	snprintf(gw, sizeof(gw), "%.*s.1", (int)(strlen(n2.subnet) - 5), n2.subnet);
	T_EQ_STR(n2.gateway, gw);
	T_OK(strncmp(n2.bridge, prefix, strlen(prefix)) == 0);
	struct br_network_create_req c3 = {.name = "tn-three", .internal = true};
	T_NOERR(br_rpc_call(d.client, &o, "networks.create", &br_network_create_req_schema, &c3,
	                    &br_network_schema, &n3, d.arena, &err),
	        err);
	T_OK(strcmp(n2.subnet, n3.subnet) != 0);
	T_EQ_STR(n3.gateway, "");
	/* overlaps and reserved names */
	char overlap[32];
	snprintf(overlap, sizeof(overlap), "10.246.%d.0/25", octet);
	struct br_network_create_req bad = {.name = "tn-bad", .subnet = overlap};
	T_ERR(br_rpc_call(d.client, &o, "networks.create", &br_network_create_req_schema, &bad,
	                  &br_network_schema, &got, d.arena, &err),
	      err, BR_ALREADY_EXISTS);
	T_OK(strstr(err.msg, "tnet") != NULL);
	br_err_clear(&err);
	struct br_network_create_req none = {.name = "none"};
	T_ERR(br_rpc_call(d.client, &o, "networks.create", &br_network_create_req_schema, &none,
	                  &br_network_schema, &got, d.arena, &err),
	      err, BR_INVALID_ARGUMENT);
	br_err_clear(&err);
	/* connect: eth1 on tn-two; twice refused; removal refused while in use */
	struct br_net_connect_req cr = {.id = "tn-n", .network = "tn-two"};
	struct br_net_attachment after;
	T_NOERR(br_rpc_call(d.client, &o, "networks.connect", &br_net_connect_req_schema, &cr,
	                    &br_net_attachment_schema, &after, d.arena, &err),
	        err);
	T_EQ_INT(after.endpoints.n, 2);
	const struct br_net_endpoint *e1 = (const struct br_net_endpoint *)after.endpoints.v + 1;
	T_EQ_STR(e1->ifname, "eth1");
	T_EQ_STR(e1->network, "tn-two");
	T_ERR(br_rpc_call(d.client, &o, "networks.connect", &br_net_connect_req_schema, &cr,
	                  &br_net_attachment_schema, &after, d.arena, &err),
	      err, BR_ALREADY_EXISTS);
	br_err_clear(&err);
	struct br_network_name_req rm = {.name = "tn-two"};
	T_ERR(br_rpc_call(d.client, &o, "networks.remove", &br_network_name_req_schema, &rm, NULL,
	                  NULL, NULL, &err),
	      err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "tn-n") != NULL);
	br_err_clear(&err);
	T_NOERR(br_rpc_call(d.client, &o, "networks.get", &br_network_name_req_schema, &rm,
	                    &br_network_schema, &got, d.arena, &err),
	        err);
	T_EQ_INT(got.members.n, 1);
	T_EQ_STR(((const struct br_network_member *)got.members.v)->container_id, "tn-n");
	T_NOERR(br_rpc_call(d.client, &o, "networks.disconnect", &br_net_connect_req_schema, &cr,
	                    &br_net_attachment_schema, &after, d.arena, &err),
	        err);
	T_EQ_INT(after.endpoints.n, 1);
	T_NOERR(br_rpc_call(d.client, &o, "networks.remove", &br_network_name_req_schema, &rm, NULL,
	                    NULL, NULL, &err),
	        err);
	T_EQ_INT(if_nametoindex(n2.bridge), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/tn-two.conflist", cni_dir);
	T_EQ_INT(access(path, F_OK), -1);
	struct br_network_list_resp list;
	T_NOERR(br_rpc_call(d.client, &o, "networks.list", NULL, NULL, &br_network_list_resp_schema,
	                    &list, d.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 2); /* tn-three and the default */
	T_NOERR(detach(&d, "tn-n", &err), err);
	T_EQ_INT(rules_of(n2.bridge), 0);
	remove_default(&d);
	struct br_network_name_req rm3 = {.name = "tn-three"};
	T_NOERR(br_rpc_call(d.client, &o, "networks.remove", &br_network_name_req_schema, &rm3,
	                    NULL, NULL, NULL, &err),
	        err);
	t_daemon_teardown(&d);
	host_cleanup();
}

static void *
attach_in_thread(void *arg)
{
	struct br_net_attachment a;
	struct br_net_port p[] = {{.container_port = 80}};
	br_err e = BR_ERR_INIT;
	br_arena *arena = br_arena_new();
	struct t_daemon *d = arg;
	struct br_call_opts o = opts();
	struct br_net_attach_req req = {.id = "tn-k", .ports = {p, 1}};

	br_rpc_call(d->client, &o, "networks.attach", &br_net_attach_req_schema, &req,
	            &br_net_attachment_schema, &a, arena, &e);
	br_arena_free(arena);
	return NULL;
}

/* netd killed while the plugins run: at its restart nothing of the attachment is left. */
static void
test_kill9_mid_setup(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	char script[256], cmd[512];

	if (geteuid() != 0)
		T_SKIP("needs root: network namespaces, bridges and iptables");
	names_init();
	/* the real plugins, with a portmap that takes its time */
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %s && for p in /usr/lib/cni/*; do ln -sf $p %s/; done && rm %s/portmap",
	         bin_dir, bin_dir, bin_dir);
	T_EQ_INT(system(cmd), 0);
	snprintf(script, sizeof(script), "%s/portmap", bin_dir);
	FILE *f = fopen(script, "w");
	T_NOT_NULL(f);
	fprintf(f, "#!/bin/sh\nsleep 4\nexec /usr/lib/cni/portmap\n");
	fclose(f);
	chmod(script, 0755);
	netd_setup(&d, bin_dir);
	pthread_t caller;
	T_EQ_INT(pthread_create(&caller, NULL, attach_in_thread, &d), 0);
	/* the bridge plugin has run (an address is reserved), portmap sleeps */
	for (int i = 0; i < 100 && reservations(&d, "tnet") == 0; i++)
		usleep(50 * 1000);
	T_EQ_INT(reservations(&d, "tnet"), 1);
	t_daemon_kill9(&d);
	/* the plugin that was running went with netd: it cannot finish its ADD after the
	 * restart undid it */
	bool alive = true;
	for (int i = 0; i < 10 && alive; i++) {
		/* "[p]" keeps the pattern from matching the grep itself */
		snprintf(cmd, sizeof(cmd),
		         "grep -l -s -- '%s/[p]ortmap' /proc/[0-9]*/cmdline >/dev/null", bin_dir);
		alive = system(cmd) == 0;
		if (alive)
			usleep(50 * 1000);
	}
	T_OK(!alive);
	pthread_join(caller, NULL);
	t_daemon_start(&d);
	/* the restart undid it: no reservation, no namespace, no record; the id is free */
	T_EQ_INT(reservations(&d, "tnet"), 0);
	char netns[256];
	snprintf(netns, sizeof(netns), "%s/state/netd/netns/default/tn-k", d.dir);
	T_EQ_INT(access(netns, F_OK), -1);
	T_ERR(detach(&d, "tn-k", &err), err, BR_NOT_FOUND);
	br_err_clear(&err);
	struct br_net_attachment a;
	T_NOERR(attach(&d, "tn-k", NULL, NULL, 0, &a, &err), err);
	T_NOERR(detach(&d, "tn-k", &err), err);
	T_EQ_INT(rules_of("tn-k"), 0);
	remove_default(&d);
	t_daemon_teardown(&d);
	host_cleanup();
}

/* An interface removed behind netd's back: its restart sees it (CHECK) and puts it back. */
static void
test_check_repairs(void)
{
	struct t_daemon d = {0};
	struct br_net_attachment a;
	br_err err = BR_ERR_INIT;
	char cmd[512];

	if (geteuid() != 0)
		T_SKIP("needs root: network namespaces, bridges and iptables");
	names_init();
	netd_setup(&d, NULL);
	T_NOERR(attach(&d, "tn-r", NULL, NULL, 0, &a, &err), err);
	snprintf(cmd, sizeof(cmd), "nsenter --net=%s ip link delete eth0", a.netns_path);
	T_EQ_INT(system(cmd), 0);
	snprintf(cmd, sizeof(cmd),
	         "nsenter --net=%s ip -o -4 addr show eth0 2>/dev/null | grep -q inet",
	         a.netns_path);
	T_OK(system(cmd) != 0);
	t_daemon_stop(&d);
	t_daemon_start(&d);
	T_EQ_INT(system(cmd), 0);
	T_EQ_INT(reservations(&d, "tnet"), 1);
	T_NOERR(detach(&d, "tn-r", &err), err);
	T_EQ_INT(reservations(&d, "tnet"), 0);
	remove_default(&d);
	t_daemon_teardown(&d);
}

T_MAIN(T_CASE(test_default_network_and_peers), T_CASE(test_ports), T_CASE(test_named_networks),
       T_CASE(test_kill9_mid_setup), T_CASE(test_check_repairs))
