/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 subnets and routes (common/ipv4.c), and the texts of a container's hosts and
 * resolv.conf (netd/files.c), including the in-place rewrite that a bind mount needs.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/ipv4.h"
#include "common/xalloc.h"
#include "netd/netd.h"
#include "t.h"

static void
test_parse_subnets(void)
{
	struct br_ipv4_net n;
	br_err err = BR_ERR_INIT;
	char buf[BR_IPV4_TEXT_MAX];

	T_NOERR(br_ipv4_parse_net("10.88.0.0/16", "subnet", &n, &err), err);
	T_EQ_INT(n.prefix, 16);
	T_EQ_STR(br_ipv4_net_str(&n, buf), "10.88.0.0/16");
	T_ERR(br_ipv4_parse_net("10.88.1.0/16", "subnet", &n, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "10.88.0.0/16") != NULL);
	const char *bad[] = {"10.88.0.0",    "10.88.0.0/33", "10.88.0.0/-1",
	                     "10.88.0/16",   "a.b.c.d/8",    "10.88.0.0/",
	                     "10.88.0.0/1x", "/8",           ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		br_err_clear(&err);
		T_ERR(br_ipv4_parse_net(bad[i], "subnet", &n, &err), err, BR_INVALID_ARGUMENT);
		T_OK(strstr(err.msg, "subnet") != NULL);
	}
	uint32_t a;
	br_err_clear(&err);
	T_NOERR(br_ipv4_parse_addr("192.168.1.254", "gateway", &a, &err), err);
	T_EQ_STR(br_ipv4_addr_str(a, buf), "192.168.1.254");
	T_ERR(br_ipv4_parse_addr("192.168.1", "gateway", &a, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "gateway \"192.168.1\"") != NULL);
}

static void
test_overlap(void)
{
	struct br_ipv4_net a = {0x0a580000, 16}, b = {0x0a581000, 24}, c = {0x0a590000, 16};
	struct br_ipv4_net all = {0, 0};

	T_OK(br_ipv4_overlap(&a, &b));
	T_OK(br_ipv4_overlap(&b, &a));
	T_OK(!br_ipv4_overlap(&a, &c));
	T_OK(br_ipv4_overlap(&all, &c));
	T_OK(br_ipv4_contains(&a, 0x0a58ffff));
	T_OK(!br_ipv4_contains(&b, 0x0a580001));
}

static void
test_routes(void)
{
	const char *text = "Iface\tDestination\tGateway "
	                   "\tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	                   "eth0\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	                   "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
	                   "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
	struct br_ipv4_route *r = NULL;
	size_t n = 0;
	char buf[BR_IPV4_TEXT_MAX];

	T_EQ_INT(br_ipv4_routes_parse(text, &r, &n), 0);
	T_EQ_INT(n, 2); /* the default route is left out */
	T_EQ_STR(r[0].dev, "eth0");
	T_EQ_STR(br_ipv4_net_str(&r[0].dst, buf), "192.168.0.0/24");
	T_EQ_STR(r[1].dev, "docker0");
	T_EQ_STR(br_ipv4_net_str(&r[1].dst, buf), "172.17.0.0/16");
	free(r);
}

static void
test_hosts(void)
{
	const char *own[] = {"10.88.0.2"};
	struct netd_host_entry peers[] = {{"10.88.0.3", "web"}, {"10.88.0.4", "db db.local"}};
	const char *extra[] = {"registry:10.1.2.3", "v6:fd00::1"};
	struct br_strlist add = {extra, 2};
	_cleanup_free_ char *t = netd_hosts_render("app app-name", own, 1, peers, 2, &add);
	_cleanup_free_ char *none = netd_hosts_render("box", NULL, 0, NULL, 0, NULL);

	T_EQ_STR(t, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	            "10.88.0.2\tapp app-name\n10.88.0.3\tweb\n10.88.0.4\tdb db.local\n"
	            "10.1.2.3\tregistry\nfd00::1\tv6\n");
	T_OK(strstr(none, "127.0.1.1\tbox\n") != NULL);
}

static void
test_resolv(void)
{
	const char *host = "# made by resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
	                   "search example.com\n";
	const char *host2 = "nameserver 192.168.1.1\nnameserver ::1\nnameserver 10.0.0.2\n";
	const char *dns[] = {"10.1.2.3"};
	struct br_strlist l = {dns, 1};
	_cleanup_free_ char *a = netd_resolv_render(host, NULL, false);
	_cleanup_free_ char *b = netd_resolv_render(host2, NULL, false);
	_cleanup_free_ char *c = netd_resolv_render(host2, &l, false);
	_cleanup_free_ char *d = netd_resolv_render(host, NULL, true);
	_cleanup_free_ char *e = netd_resolv_render(NULL, NULL, false);

	/* a loopback resolver the container cannot reach is dropped; public ones stand in */
	T_OK(strstr(a, "127.0.0.53") == NULL);
	T_OK(strstr(a, "search example.com\n") != NULL);
	T_OK(strstr(a, "options edns0 trust-ad\n") != NULL);
	T_OK(strstr(a, "nameserver 8.8.8.8\n") != NULL);
	T_EQ_STR(b, "nameserver 192.168.1.1\nnameserver 10.0.0.2\n");
	T_EQ_STR(c, "nameserver 10.1.2.3\n");
	/* host mode keeps the host's file as it is */
	T_OK(strstr(d, "nameserver 127.0.0.53\n") != NULL);
	T_OK(strstr(d, "8.8.8.8") == NULL);
	T_EQ_STR(e, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
}

/* A rewrite keeps the file's inode, as a bind mount of it needs. */
static void
test_rewrite_in_place(void)
{
	char dir[] = "/tmp/netd-files-XXXXXX";
	struct stat before, after;
	br_err err = BR_ERR_INIT;
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	T_NOT_NULL(mkdtemp(dir));
	path = xasprintf("%s/hosts", dir);
	T_NOERR(netd_file_rewrite(dir, "hosts", "a long first text\n", &err), err);
	T_EQ_INT(stat(path, &before), 0);
	T_NOERR(netd_file_rewrite(dir, "hosts", "short\n", &err), err);
	T_EQ_INT(stat(path, &after), 0);
	T_EQ_INT(before.st_ino, after.st_ino);
	T_NOERR(br_read_file_at(AT_FDCWD, path, 4096, &text, &len, &err), err);
	T_EQ_STR(text, "short\n");
	unlink(path);
	rmdir(dir);
}

T_MAIN(T_CASE(test_parse_subnets), T_CASE(test_overlap), T_CASE(test_routes), T_CASE(test_hosts),
       T_CASE(test_resolv), T_CASE(test_rewrite_in_place))
