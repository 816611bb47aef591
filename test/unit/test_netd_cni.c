/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netd/cni.c: configuration lists (generated, parsed back, written, read, removed), results
 * parsed, the plugin protocol as a runtime speaks it (each plugin's configuration with name,
 * cniVersion, prevResult and runtimeConfig only where its capabilities ask for it, the
 * environment, the order of ADD, CHECK and DEL, errors, undoing a failed ADD, deadlines) with
 * shell-script plugins in a temp directory, and then, as root, the real plugins of /usr/lib/cni
 * on a bridge and network namespaces made for this run: addresses, CHECK, a ping between two
 * containers, port mappings in iptables, DEL that leaves nothing behind, a failing plugin
 * undone, an internal network.
 *
 * Names carry this run's pid (bridges btc<pid> and btd<pid>, namespaces bt<pid><letter>) and
 * the subnets are two /24 of 10.250.0.0/16 that no host route or address touches. main()
 * makes them and, in the parent of the forked cases, takes everything down again whatever the
 * cases did: DEL of every container with the result a case left, the bridges' isolation rules
 * (the firewall plugin keeps them for as long as a bridge may be in use), namespaces, bridges,
 * the temp directory.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/loop.h"
#include "common/xalloc.h"
#include "netd/cni.h"
#include "test/unit/t.h"

#define BIN_DIR "/usr/lib/cni"

static char tmp[] = "/tmp/berth-cni-XXXXXX";
static int pid;
static int subnet_x; /* 10.250.<x>.0/24 for the bridge network, <x+1> for the internal one */
static char net_name[32], internal_name[32], bridge[16], internal_bridge[16];
static char subnet[32], gateway[32], internal_subnet[32];
static char ipam_dir[256];
static char *conflist, *internal_conflist;

/* The containers of the real-plugin cases: id, namespace, list. */
enum { CTR_ONE, CTR_A, CTR_B, CTR_FAIL, CTR_INTERNAL, N_CTRS };
static char ctr_id[N_CTRS][48], ctr_ns[N_CTRS][24], ctr_netns[N_CTRS][48];

static char *__attribute__((format(printf, 1, 2))) sh_out(const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	FILE *p = popen(cmd, "r");
	free(cmd);
	if (p == NULL)
		return xstrdup("");
	size_t len = 0, cap = 4096;
	char *out = xmalloc(cap + 1);
	size_t n;
	while ((n = fread(out + len, 1, cap - len, p)) > 0) {
		len += n;
		if (len == cap)
			out = xrealloc(out, (cap *= 2) + 1);
	}
	out[len] = '\0';
	pclose(p);
	return out;
}

static int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

static void
put_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		T_FAIL_("create %s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *
get_file(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	br_err err = BR_ERR_INIT;

	if (br_read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, &err) < 0)
		T_FAIL_("%s", err.msg);
	return text;
}

static yajl_val
parse(const char *text)
{
	yajl_val v = NULL;
	br_err err = BR_ERR_INIT;

	if (br_json_parse(text, strlen(text), 1 << 20, "test", &v, &err) < 0)
		T_FAIL_("%s: %s", err.msg, text);
	return v;
}

/* The value at a '/'-separated path of object keys ("plugins" arrays indexed by number). */
static yajl_val
at(yajl_val v, const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *save = NULL;

	for (char *part = strtok_r(copy, "/", &save); part != NULL && v != NULL;
	     part = strtok_r(NULL, "/", &save)) {
		if (YAJL_IS_ARRAY(v)) {
			size_t i = (size_t)atoi(part);
			v = i < v->u.array.len ? v->u.array.values[i] : NULL;
		} else if (YAJL_IS_OBJECT(v)) {
			const char *keys[] = {part, NULL};
			v = yajl_tree_get(v, keys, yajl_t_any);
		} else {
			v = NULL;
		}
	}
	return v;
}

static const char *
str_at(yajl_val v, const char *path)
{
	yajl_val s = at(v, path);
	return s != NULL && YAJL_IS_STRING(s) ? s->u.string : NULL;
}

static long long
int_at(yajl_val v, const char *path)
{
	yajl_val n = at(v, path);
	return n != NULL && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : -1;
}

static int
bool_at(yajl_val v, const char *path)
{
	yajl_val b = at(v, path);
	return b == NULL ? -1 : YAJL_IS_TRUE(b) ? 1 : YAJL_IS_FALSE(b) ? 0 : -1;
}

/*
 * Lists and results.
 */

static void
test_conflist_text(void)
{
	struct netd_cni_net net = {.name = "front",
	                           .bridge = "br-front",
	                           .subnet = "10.9.8.0/24",
	                           .gateway = "10.9.8.1",
	                           .ipam_dir = "/var/lib/x/ipam"};
	_cleanup_free_ char *text = netd_cni_conflist(&net);
	yajl_val v = parse(text);

	T_EQ_STR(str_at(v, "cniVersion"), "1.0.0");
	T_EQ_STR(str_at(v, "name"), "front");
	T_EQ_INT(at(v, "plugins")->u.array.len, 3);
	T_EQ_STR(str_at(v, "plugins/0/type"), "bridge");
	T_EQ_STR(str_at(v, "plugins/0/bridge"), "br-front");
	T_EQ_INT(bool_at(v, "plugins/0/isGateway"), 1);
	T_EQ_INT(bool_at(v, "plugins/0/ipMasq"), 1);
	T_EQ_INT(bool_at(v, "plugins/0/hairpinMode"), 1);
	T_EQ_STR(str_at(v, "plugins/0/ipam/type"), "host-local");
	T_EQ_STR(str_at(v, "plugins/0/ipam/ranges/0/0/subnet"), "10.9.8.0/24");
	T_EQ_STR(str_at(v, "plugins/0/ipam/ranges/0/0/gateway"), "10.9.8.1");
	T_EQ_STR(str_at(v, "plugins/0/ipam/routes/0/dst"), "0.0.0.0/0");
	T_EQ_STR(str_at(v, "plugins/0/ipam/dataDir"), "/var/lib/x/ipam");
	T_EQ_STR(str_at(v, "plugins/1/type"), "portmap");
	T_EQ_INT(bool_at(v, "plugins/1/capabilities/portMappings"), 1);
	T_EQ_INT(bool_at(v, "plugins/1/snat"), 1);
	T_EQ_STR(str_at(v, "plugins/2/type"), "firewall");
	T_EQ_STR(str_at(v, "plugins/2/backend"), "iptables");
	T_EQ_STR(str_at(v, "plugins/2/ingressPolicy"), "same-bridge");
	yajl_tree_free(v);

	net.internal = true;
	net.gateway = "";
	_cleanup_free_ char *itext = netd_cni_conflist(&net);
	v = parse(itext);
	T_EQ_INT(at(v, "plugins")->u.array.len, 2);
	T_EQ_STR(str_at(v, "plugins/0/type"), "bridge");
	T_EQ_INT(bool_at(v, "plugins/0/isGateway"), 0);
	T_EQ_INT(bool_at(v, "plugins/0/ipMasq"), 0);
	T_NULL(at(v, "plugins/0/ipam/routes"));
	T_EQ_STR(str_at(v, "plugins/0/ipam/ranges/0/0/subnet"), "10.9.8.0/24");
	T_NULL(at(v, "plugins/0/ipam/ranges/0/0/gateway"));
	T_EQ_STR(str_at(v, "plugins/1/type"), "firewall");
	T_EQ_STR(str_at(v, "plugins/1/ingressPolicy"), "same-bridge");
	yajl_tree_free(v);
}

static void
test_conflist_files(void)
{
	_cleanup_free_ char *dir = xasprintf("%s/conf", tmp);
	struct netd_cni_net net = {.name = "front",
	                           .bridge = "br-front",
	                           .subnet = "10.9.8.0/24",
	                           .gateway = "10.9.8.1",
	                           .ipam_dir = "/var/lib/x/ipam"};
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *want = netd_cni_conflist(&net);
	br_err err = BR_ERR_INIT;
	struct stat st;

	T_NOERR(netd_cni_write_conflist(dir, &net, &path, &err), err);
	_cleanup_free_ char *want_path = xasprintf("%s/front.conflist", dir);
	T_EQ_STR(path, want_path);
	T_OK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
	T_NOERR(netd_cni_read_conflist(dir, "front", &text, &err), err);
	T_EQ_STR(text, want);
	T_NOERR(netd_cni_remove_conflist(dir, "front", &err), err);
	T_NOERR(netd_cni_remove_conflist(dir, "front", &err), err);
	T_ERR(netd_cni_read_conflist(dir, "front", &text, &err), err, BR_NOT_FOUND);

	net.name = "../escape";
	T_ERR(netd_cni_write_conflist(dir, &net, &path, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(netd_cni_read_conflist(dir, "a/b", &text, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(netd_cni_remove_conflist(dir, "", &err), err, BR_INVALID_ARGUMENT);
}

static int
result_parse(const char *json, const char *ifname, struct netd_cni_result *r, br_err *err)
{
	return netd_cni_result_parse(json, strlen(json), ifname, r, err);
}

static void
test_result_parse(void)
{
	/* As the bridge plugin gives it: the bridge, the host's veth end, the container's. */
	static const char bridge_result[] =
	        "{\"cniVersion\":\"1.0.0\",\"interfaces\":["
	        "{\"name\":\"cni0\",\"mac\":\"9a:1b:2c:3d:4e:5f\"},"
	        "{\"name\":\"veth1234\",\"mac\":\"aa:bb:cc:dd:ee:ff\"},"
	        "{\"name\":\"eth0\",\"mac\":\"02:42:0a:58:00:05\",\"sandbox\":\"/run/netns/x\"}],"
	        "\"ips\":[{\"address\":\"fd00::5/64\",\"interface\":2},"
	        "{\"address\":\"10.88.0.9/16\",\"gateway\":\"10.88.0.1\",\"interface\":1},"
	        "{\"address\":\"10.88.0.5/16\",\"gateway\":\"10.88.0.1\",\"interface\":2}],"
	        "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}";
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	T_NOERR(result_parse(bridge_result, "eth0", &r, &err), err);
	T_EQ_STR(r.address, "10.88.0.5/16");
	T_EQ_STR(r.gateway, "10.88.0.1");
	T_EQ_STR(r.mac, "02:42:0a:58:00:05");
	T_EQ_STR(r.json, bridge_result);
	netd_cni_result_fini(&r);

	/* No interface of that name: the first IPv4 entry, no mac. */
	T_NOERR(result_parse(bridge_result, "eth1", &r, &err), err);
	T_EQ_STR(r.address, "10.88.0.9/16");
	T_EQ_STR(r.mac, "");
	netd_cni_result_fini(&r);

	/* Without interfaces or gateway. */
	T_NOERR(result_parse("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.1.2.3/8\"}]}",
	                     "eth0", &r, &err),
	        err);
	T_EQ_STR(r.address, "10.1.2.3/8");
	T_EQ_STR(r.gateway, "");
	T_EQ_STR(r.mac, "");
	netd_cni_result_fini(&r);

	static const char *const bad[] = {
	        "",
	        "[]",
	        "{\"cniVersion\":\"1.0.0\"}",
	        "{\"ips\":[{\"address\":\"fd00::1/64\"}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.3\"}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.3/33\"}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.300/8\"}]}",
	        "{\"ips\":[{\"address\":5}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.3/8\",\"gateway\":\"x\"}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.3/8\",\"interface\":\"0\"}]}",
	        "{\"ips\":{}}",
	        "{\"ips\":[7]}",
	        "{\"interfaces\":[{\"name\":\"eth0\",\"mac\":\"zz\"}],"
	        "\"ips\":[{\"address\":\"10.1.2.3/8\"}]}",
	        "{\"interfaces\":[{\"mac\":\"02:42:0a:58:00:05\"}],"
	        "\"ips\":[{\"address\":\"10.1.2.3/8\"}]}",
	        "{\"ips\":[{\"address\":\"10.1.2.3/8\"}]",
	        "{\"ips\":[],\"ips\":[{\"address\":\"10.1.2.3/8\"}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = result_parse(bad[i], "eth0", &r, &err);
		if (rc >= 0)
			T_FAIL_("parsed: %s", bad[i]);
		T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
	}

	/* Nested past the parser's depth limit. */
	char deep[400];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof(deep), "{\"ips\":");
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	T_ERR(result_parse(deep, "eth0", &r, &err), err, BR_INVALID_ARGUMENT);
}

/*
 * The plugin protocol, with shell scripts for plugins.
 */

/* A bin dir of scripts under tmp: "record" plugins that keep their stdin, environment and
 * call order and answer ADD with a result naming themselves; and the misbehaving ones. */
static char *
make_bin_dir(void)
{
	char *dir = xasprintf("%s/bin", tmp);
	br_err err = BR_ERR_INIT;

	if (br_mkdir_p(dir, 0755, &err) < 0)
		T_FAIL_("%s", err.msg);
	_cleanup_free_ char *record = xasprintf(
	        "#!/bin/sh\n"
	        "me=$(basename \"$0\")\n"
	        "cat > %s/$me.$CNI_COMMAND.in\n"
	        "env > %s/$me.$CNI_COMMAND.env\n"
	        "echo \"$me $CNI_COMMAND\" >> %s/order\n"
	        "n=${me#rec}\n"
	        "case \"$me:$CNI_COMMAND\" in\n"
	        "rec3:ADD) echo '{\"code\":7,\"msg\":\"bad thing\",\"details\":\"very bad\"}';"
	        " exit 1;;\n"
	        "rec4:DEL) echo 'no json here'; echo 'it broke' >&2; exit 2;;\n"
	        "esac\n"
	        "[ \"$CNI_COMMAND\" = ADD ] || exit 0\n"
	        "printf '{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
	        "\"mac\":\"02:00:00:00:00:0%%s\",\"sandbox\":\"%%s\"}],\"ips\":[{\"address\":"
	        "\"10.9.0.%%s/24\",\"gateway\":\"10.9.0.1\",\"interface\":0}]}\\n' "
	        "\"$n\" \"$CNI_NETNS\" \"$n\"\n",
	        tmp, tmp, tmp);
	for (int i = 1; i <= 4; i++) {
		_cleanup_free_ char *p = xasprintf("%s/rec%d", dir, i);
		put_file(p, record, 0755);
	}
	_cleanup_free_ char *slow = xasprintf("%s/slow", dir);
	_cleanup_free_ char *slow_text = xasprintf("#!/bin/sh\n"
	                                           "sleep 30 &\n"
	                                           "echo $! >> %s/slow.pids\n"
	                                           "wait\n",
	                                           tmp);
	put_file(slow, slow_text, 0755);
	/* Answers at once but leaves a child that holds stdout open. */
	_cleanup_free_ char *leaver = xasprintf("%s/leaver", dir);
	_cleanup_free_ char *leaver_text = xasprintf(
	        "#!/bin/sh\n"
	        "sleep 30 &\n"
	        "echo $! > %s/leaver.pid\n"
	        "echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.9.0.7/24\"}]}'\n",
	        tmp);
	put_file(leaver, leaver_text, 0755);
	_cleanup_free_ char *garbage = xasprintf("%s/garbage", dir);
	put_file(garbage, "#!/bin/sh\ncat >/dev/null\necho 'not json'\n", 0755);
	return dir;
}

static char *
fake_list(const char *plugins)
{
	return xasprintf("{\"cniVersion\":\"1.0.0\",\"name\":\"fake\",\"plugins\":[%s]}", plugins);
}

static struct netd_cni_call
fake_call(const char *bin_dir, const char *list)
{
	static const struct br_net_port ports[] = {{"", 8080, 80, "tcp"},
	                                           {"127.0.0.1", 5353, 53, "udp"}};
	return (struct netd_cni_call){.bin_dir = bin_dir,
	                              .conflist = list,
	                              .container_id = "ctr-1",
	                              .netns = "/run/netns/nowhere",
	                              .ifname = "eth0",
	                              .ports = ports,
	                              .n_ports = 2,
	                              .timeout_ms = 10000};
}

static char *
record(const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", tmp, name);
	return get_file(path);
}

static void
reset_records(void)
{
	sh("rm -f %s/order %s/rec*.in %s/rec*.env", tmp, tmp, tmp);
}

static void
test_protocol_add_check_del(void)
{
	_cleanup_free_ char *bin = make_bin_dir();
	_cleanup_free_ char *list =
	        fake_list("{\"type\":\"rec1\",\"capabilities\":{\"portMappings\":true},\"x\":1,"
	                  "\"name\":\"not-the-list\",\"runtimeConfig\":{\"portMappings\":[]}},"
	                  "{\"type\":\"rec2\",\"capabilities\":{\"portMappings\":false}}");
	struct netd_cni_call c = fake_call(bin, list);
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	setenv("BERTH_TEST_LEAK", "1", 1);
	reset_records();
	T_NOERR(netd_cni_add(&c, &r, &err), err);
	T_EQ_STR(r.address, "10.9.0.2/24"); /* the last plugin's result */
	T_EQ_STR(r.gateway, "10.9.0.1");
	T_EQ_STR(r.mac, "02:00:00:00:00:02");

	/* rec1: the plugin's own members, the list's name and version, runtimeConfig (its
	 * capability) with the ports; no prevResult for the first. */
	_cleanup_free_ char *in1 = record("rec1.ADD.in");
	yajl_val v = parse(in1);
	T_EQ_STR(str_at(v, "name"), "fake");
	T_EQ_STR(str_at(v, "cniVersion"), "1.0.0");
	T_EQ_STR(str_at(v, "type"), "rec1");
	T_EQ_INT(int_at(v, "x"), 1);
	T_NULL(at(v, "prevResult"));
	T_EQ_INT(at(v, "runtimeConfig/portMappings")->u.array.len, 2);
	T_EQ_INT(int_at(v, "runtimeConfig/portMappings/0/hostPort"), 8080);
	T_EQ_INT(int_at(v, "runtimeConfig/portMappings/0/containerPort"), 80);
	T_EQ_STR(str_at(v, "runtimeConfig/portMappings/0/protocol"), "tcp");
	T_NULL(at(v, "runtimeConfig/portMappings/0/hostIP"));
	T_EQ_STR(str_at(v, "runtimeConfig/portMappings/1/hostIP"), "127.0.0.1");
	T_EQ_STR(str_at(v, "runtimeConfig/portMappings/1/protocol"), "udp");
	yajl_tree_free(v);

	/* rec2: the previous plugin's result, and no runtimeConfig. */
	_cleanup_free_ char *in2 = record("rec2.ADD.in");
	v = parse(in2);
	T_EQ_STR(str_at(v, "prevResult/ips/0/address"), "10.9.0.1/24");
	T_NULL(at(v, "runtimeConfig"));
	yajl_tree_free(v);

	/* The environment: the CNI variables and PATH, nothing else of ours. */
	_cleanup_free_ char *env = record("rec1.ADD.env");
	_cleanup_free_ char *want_path = xasprintf("CNI_PATH=%s\n", bin);
	T_OK(strstr(env, "CNI_COMMAND=ADD\n") != NULL);
	T_OK(strstr(env, "CNI_CONTAINERID=ctr-1\n") != NULL);
	T_OK(strstr(env, "CNI_NETNS=/run/netns/nowhere\n") != NULL);
	T_OK(strstr(env, "CNI_IFNAME=eth0\n") != NULL);
	T_OK(strstr(env, "CNI_ARGS=IgnoreUnknown=1\n") != NULL);
	T_OK(strstr(env, want_path) != NULL);
	T_OK(strstr(env, "\nPATH=") != NULL || strncmp(env, "PATH=", 5) == 0);
	T_NULL(strstr(env, "BERTH_TEST_LEAK"));

	/* CHECK in order and DEL in reverse, every plugin with the final result. */
	T_NOERR(netd_cni_check(&c, r.json, &err), err);
	T_NOERR(netd_cni_del(&c, r.json, &err), err);
	_cleanup_free_ char *order = record("order");
	T_EQ_STR(order, "rec1 ADD\nrec2 ADD\nrec1 CHECK\nrec2 CHECK\nrec2 DEL\nrec1 DEL\n");
	const char *const got[] = {"rec1.CHECK.in", "rec2.CHECK.in", "rec1.DEL.in", "rec2.DEL.in"};
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *in = record(got[i]);
		v = parse(in);
		T_EQ_STR(str_at(v, "prevResult/ips/0/address"), "10.9.0.2/24");
		yajl_tree_free(v);
	}

	/* DEL without a result: no prevResult at all. */
	T_NOERR(netd_cni_del(&c, NULL, &err), err);
	_cleanup_free_ char *in_del = record("rec1.DEL.in");
	v = parse(in_del);
	T_NULL(at(v, "prevResult"));
	yajl_tree_free(v);
	/* CHECK needs one. */
	T_ERR(netd_cni_check(&c, NULL, &err), err, BR_INVALID_ARGUMENT);
	netd_cni_result_fini(&r);
}

static void
test_protocol_errors(void)
{
	_cleanup_free_ char *bin = make_bin_dir();
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	/* rec3 fails ADD with a CNI error: the message carries it; rec3 and rec1 are undone. */
	_cleanup_free_ char *list = fake_list("{\"type\":\"rec1\"},{\"type\":\"rec3\"},"
	                                      "{\"type\":\"rec2\"}");
	struct netd_cni_call c = fake_call(bin, list);
	reset_records();
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "cni plugin rec3: ADD: bad thing (very bad)") != NULL);
	_cleanup_free_ char *order = record("order");
	T_EQ_STR(order, "rec1 ADD\nrec3 ADD\nrec3 DEL\nrec1 DEL\n");
	_cleanup_free_ char *in = record("rec3.DEL.in");
	yajl_val v = parse(in);
	T_EQ_STR(str_at(v, "prevResult/ips/0/address"), "10.9.0.1/24");
	yajl_tree_free(v);

	/* DEL goes past a failing plugin and reports it, with its stderr. */
	_cleanup_free_ char *list4 = fake_list("{\"type\":\"rec1\"},{\"type\":\"rec4\"}");
	c = fake_call(bin, list4);
	reset_records();
	T_ERR(netd_cni_del(&c, NULL, &err), err, BR_INTERNAL);
	T_OK(strstr(err.msg, "cni plugin rec4: DEL: exit status 2: it broke") != NULL);
	_cleanup_free_ char *order4 = record("order");
	T_EQ_STR(order4, "rec4 DEL\nrec1 DEL\n");

	/* A result that is no JSON. */
	_cleanup_free_ char *list_g = fake_list("{\"type\":\"rec1\"},{\"type\":\"garbage\"}");
	c = fake_call(bin, list_g);
	reset_records();
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "cni plugin garbage: ADD: result: invalid JSON") != NULL);
	_cleanup_free_ char *order_g = record("order");
	T_EQ_STR(order_g, "rec1 ADD\nrec1 DEL\n");

	/* A plugin that is not there, one that names a path: nothing runs for the latter. */
	_cleanup_free_ char *list_m = fake_list("{\"type\":\"rec1\"},{\"type\":\"nosuch\"}");
	c = fake_call(bin, list_m);
	reset_records();
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "cni plugin nosuch: ADD") != NULL);
	_cleanup_free_ char *order_m = record("order");
	T_EQ_STR(order_m, "rec1 ADD\nrec1 DEL\n");
	const char *const paths[] = {"../rec1", "sub/rec1", "..", ""};
	for (size_t i = 0; i < 4; i++) {
		_cleanup_free_ char *plugin = xasprintf("{\"type\":\"%s\"}", paths[i]);
		_cleanup_free_ char *l = fake_list(plugin);
		c = fake_call(bin, l);
		T_ERR(netd_cni_add(&c, &r, &err), err, BR_INVALID_ARGUMENT);
		T_ERR(netd_cni_del(&c, NULL, &err), err, BR_INVALID_ARGUMENT);
	}
	/* Lists that are no lists. */
	const char *const lists[] = {"", "{}", "{\"cniVersion\":\"1.0.0\",\"name\":\"x\"}",
	                             "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}",
	                             "{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[1]}"};
	for (size_t i = 0; i < 5; i++) {
		c = fake_call(bin, lists[i]);
		T_ERR(netd_cni_add(&c, &r, &err), err, BR_INVALID_ARGUMENT);
	}
}

static bool
process_gone(pid_t p)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)p);
	for (int i = 0; i < 40; i++) {
		_cleanup_free_ char *stat = NULL;
		size_t len = 0;
		br_err err = BR_ERR_INIT;
		if (br_read_file_at(AT_FDCWD, path, 4096, &stat, &len, &err) < 0)
			return true;
		const char *state = strrchr(stat, ')');
		if (state != NULL && state[1] == ' ' && state[2] == 'Z')
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static void
test_deadline(void)
{
	_cleanup_free_ char *bin = make_bin_dir();
	_cleanup_free_ char *list = fake_list("{\"type\":\"slow\"}");
	struct netd_cni_call c = fake_call(bin, list);
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	/* ADD and the DEL that undoes it each meet the deadline; the plugin's child dies with
	 * it. */
	c.timeout_ms = 300;
	int64_t t0 = br_now_ms();
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_DEADLINE_EXCEEDED);
	int64_t took = br_now_ms() - t0;
	T_OK(strstr(err.msg, "cni plugin slow: ADD: no answer within 300 ms") != NULL);
	T_OK(strstr(err.msg, "undoing it: cni plugin slow: DEL: no answer within 300 ms") != NULL);
	T_OK(took >= 600 && took < 3000);
	_cleanup_free_ char *pids = record("slow.pids");
	char *save = NULL;
	int n = 0;
	for (char *line = strtok_r(pids, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save), n++)
		T_OK(process_gone(atoi(line)));
	T_EQ_INT(n, 2);

	/* A plugin that answers and exits is done, whatever its children hold open. */
	_cleanup_free_ char *list2 = fake_list("{\"type\":\"leaver\"}");
	c = fake_call(bin, list2);
	t0 = br_now_ms();
	T_NOERR(netd_cni_add(&c, &r, &err), err);
	took = br_now_ms() - t0;
	_cleanup_free_ char *leaver = record("leaver.pid");
	kill(atoi(leaver), SIGKILL);
	T_OK(took < 3000);
	T_EQ_STR(r.address, "10.9.0.7/24");
	netd_cni_result_fini(&r);
}

/*
 * The real plugins.
 */

static void
need_root(void)
{
	if (geteuid() != 0)
		T_SKIP("the real CNI plugins need root");
	if (access(BIN_DIR "/bridge", X_OK) != 0)
		T_SKIP("no CNI plugins in " BIN_DIR " (containernetworking-plugins)");
}

static struct netd_cni_call
real_call(int ctr, const char *list)
{
	static const struct br_net_port ports[] = {{"", 0, 80, "tcp"}};
	static struct br_net_port port;
	port = ports[0];
	port.host_port = 20000 + (uint32_t)(pid % 20000);
	return (struct netd_cni_call){.bin_dir = BIN_DIR,
	                              .conflist = list,
	                              .container_id = ctr_id[ctr],
	                              .netns = ctr_netns[ctr],
	                              .ifname = "eth0",
	                              .ports = list == internal_conflist ? NULL : &port,
	                              .n_ports = list == internal_conflist ? 0 : 1,
	                              .timeout_ms = 20000};
}

static void
make_ns(int ctr)
{
	if (sh("ip netns add %s", ctr_ns[ctr]) != 0)
		T_FAIL_("ip netns add %s", ctr_ns[ctr]);
}

/* ADD for container `ctr`, its result kept where main's teardown finds it. */
static void
add(int ctr, const char *list, struct netd_cni_result *r)
{
	struct netd_cni_call c = real_call(ctr, list);
	br_err err = BR_ERR_INIT;

	T_NOERR(netd_cni_add(&c, r, &err), err);
	_cleanup_free_ char *path = xasprintf("%s/%s.result", tmp, ctr_id[ctr]);
	put_file(path, r->json, 0600);
}

/* The address without its prefix length. */
static char *
ip_of(const char *cidr)
{
	return xstrndup(cidr, strcspn(cidr, "/"));
}

static bool
reserved(const char *network, const char *ip)
{
	_cleanup_free_ char *path = xasprintf("%s/%s/%s", ipam_dir, network, ip);
	return access(path, F_OK) == 0;
}

static bool
iptables_mention(const char *what)
{
	_cleanup_free_ char *rules = sh_out("iptables-save 2>/dev/null");
	return strstr(rules, what) != NULL;
}

static void
test_real_add_check_del(void)
{
	need_root();
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	make_ns(CTR_ONE);
	add(CTR_ONE, conflist, &r);
	_cleanup_free_ char *prefix = xasprintf("10.250.%d.", subnet_x);
	T_OK(strncmp(r.address, prefix, strlen(prefix)) == 0);
	T_OK(strcmp(r.address + strlen(r.address) - 3, "/24") == 0);
	T_EQ_STR(r.gateway, gateway);
	T_EQ_INT(strlen(r.mac), 17);

	/* What the container sees: its address on eth0, the default route via the gateway. */
	_cleanup_free_ char *addrs = sh_out("ip -n %s -4 addr show dev eth0", ctr_ns[CTR_ONE]);
	_cleanup_free_ char *want = xasprintf("inet %s ", r.address);
	T_OK(strstr(addrs, want) != NULL);
	_cleanup_free_ char *routes = sh_out("ip -n %s -4 route", ctr_ns[CTR_ONE]);
	_cleanup_free_ char *want_route = xasprintf("default via %s dev eth0", gateway);
	T_OK(strstr(routes, want_route) != NULL);
	_cleanup_free_ char *link = sh_out("ip -n %s link show dev eth0", ctr_ns[CTR_ONE]);
	T_OK(strstr(link, r.mac) != NULL);

	struct netd_cni_call c = real_call(CTR_ONE, conflist);
	T_NOERR(netd_cni_check(&c, r.json, &err), err);

	/* The published port: portmap's rules name the container. */
	_cleanup_free_ char *ip = ip_of(r.address);
	_cleanup_free_ char *dnat = xasprintf("%s:80", ip);
	T_OK(iptables_mention(ctr_id[CTR_ONE]));
	T_OK(iptables_mention(dnat));
	T_OK(reserved(net_name, ip));
	/* ingressPolicy "same-bridge": traffic that leaves another bridge for this one drops. */
	_cleanup_free_ char *isolation = xasprintf("-A CNI-ISOLATION-STAGE-2 -o %s ", bridge);
	T_OK(iptables_mention(isolation));

	T_NOERR(netd_cni_del(&c, r.json, &err), err);
	T_OK(sh("ip -n %s link show dev eth0 >/dev/null 2>&1", ctr_ns[CTR_ONE]) != 0);
	T_OK(!reserved(net_name, ip));
	T_OK(!iptables_mention(ctr_id[CTR_ONE]));
	T_OK(!iptables_mention(dnat));
	/* CHECK now fails: the interface is gone. */
	T_OK(netd_cni_check(&c, r.json, &err) < 0);

	/* Again, and without the result (as after a crash). */
	T_NOERR(netd_cni_del(&c, r.json, &err), err);
	T_NOERR(netd_cni_del(&c, NULL, &err), err);
	netd_cni_result_fini(&r);
}

static void
test_real_two_containers(void)
{
	need_root();
	struct netd_cni_result a = {0}, b = {0};
	br_err err = BR_ERR_INIT;

	make_ns(CTR_A);
	make_ns(CTR_B);
	add(CTR_A, conflist, &a);
	add(CTR_B, conflist, &b);
	T_OK(strcmp(a.address, b.address) != 0);
	T_OK(strcmp(a.mac, b.mac) != 0);

	_cleanup_free_ char *ip_a = ip_of(a.address);
	const char *ping = access("/bin/ping", X_OK) == 0 || access("/usr/bin/ping", X_OK) == 0
	                           ? "ping"
	                           : "busybox ping";
	T_EQ_INT(sh("ip netns exec %s %s -c 1 -W 2 %s >/dev/null", ctr_ns[CTR_B], ping, ip_a), 0);

	struct netd_cni_call ca = real_call(CTR_A, conflist), cb = real_call(CTR_B, conflist);
	T_NOERR(netd_cni_del(&cb, b.json, &err), err);
	T_NOERR(netd_cni_del(&ca, a.json, &err), err);
	T_OK(!iptables_mention(ctr_id[CTR_A]));
	T_OK(!iptables_mention(ctr_id[CTR_B]));
	netd_cni_result_fini(&a);
	netd_cni_result_fini(&b);
}

static size_t
count_reservations(const char *network)
{
	_cleanup_free_ char *out =
	        sh_out("ls %s/%s 2>/dev/null | grep -c '^10\\.'", ipam_dir, network);
	return (size_t)atoi(out);
}

static void
test_real_failure_leaves_nothing(void)
{
	need_root();
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	/* tuning fails after bridge and portmap did their work: both are undone. */
	const char *at_firewall = strstr(conflist, "{\"type\":\"firewall\"");
	T_NOT_NULL(at_firewall);
	_cleanup_free_ char *bad = xasprintf(
	        "%.*s{\"type\":\"tuning\",\"sysctl\":{\"net.ipv4.conf.eth0.berth_no_such_key\":"
	        "\"1\"}},%s",
	        (int)(at_firewall - conflist), conflist, at_firewall);
	make_ns(CTR_FAIL);
	size_t before = count_reservations(net_name);
	struct netd_cni_call c = real_call(CTR_FAIL, bad);
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "cni plugin tuning: ADD: ") != NULL);
	T_OK(strstr(err.msg, "berth_no_such_key") != NULL);
	T_NULL(strstr(err.msg, "undoing it"));
	T_OK(sh("ip -n %s link show dev eth0 >/dev/null 2>&1", ctr_ns[CTR_FAIL]) != 0);
	T_EQ_INT(count_reservations(net_name), before);
	T_OK(!iptables_mention(ctr_id[CTR_FAIL]));

	/* The firewall plugin fails ADD and, with the same configuration, DEL: the others are
	 * undone all the same, and the error says both. */
	const char *at_policy = strstr(conflist, "\"same-bridge\"");
	T_NOT_NULL(at_policy);
	_cleanup_free_ char *bad_policy =
	        xasprintf("%.*s\"no-such-policy\"%s", (int)(at_policy - conflist), conflist,
	                  at_policy + strlen("\"same-bridge\""));
	c = real_call(CTR_FAIL, bad_policy);
	T_OK(netd_cni_add(&c, &r, &err) < 0);
	T_OK(strstr(err.msg, "cni plugin firewall: ADD: ") != NULL);
	T_OK(strstr(err.msg, "no-such-policy") != NULL);
	T_OK(strstr(err.msg, "undoing it: cni plugin firewall: DEL: ") != NULL);
	T_OK(sh("ip -n %s link show dev eth0 >/dev/null 2>&1", ctr_ns[CTR_FAIL]) != 0);
	T_EQ_INT(count_reservations(net_name), before);
	T_OK(!iptables_mention(ctr_id[CTR_FAIL]));

	/* A plugin that is not installed: named, and bridge's work undone. */
	const char *at_type = strstr(conflist, "\"firewall\"");
	T_NOT_NULL(at_type);
	_cleanup_free_ char *missing =
	        xasprintf("%.*s\"berth-no-such-plugin\"%s", (int)(at_type - conflist), conflist,
	                  at_type + strlen("\"firewall\""));
	c = real_call(CTR_FAIL, missing);
	T_ERR(netd_cni_add(&c, &r, &err), err, BR_FAILED_PRECONDITION);
	T_OK(strstr(err.msg, "cni plugin berth-no-such-plugin: ADD: ") != NULL);
	T_OK(sh("ip -n %s link show dev eth0 >/dev/null 2>&1", ctr_ns[CTR_FAIL]) != 0);
	T_EQ_INT(count_reservations(net_name), before);
	T_OK(!iptables_mention(ctr_id[CTR_FAIL]));
}

static void
test_real_internal(void)
{
	need_root();
	struct netd_cni_result r = {0};
	br_err err = BR_ERR_INIT;

	make_ns(CTR_INTERNAL);
	add(CTR_INTERNAL, internal_conflist, &r);
	_cleanup_free_ char *prefix = xasprintf("10.250.%d.", subnet_x + 1);
	T_OK(strncmp(r.address, prefix, strlen(prefix)) == 0);
	T_EQ_STR(r.gateway, "");
	_cleanup_free_ char *routes = sh_out("ip -n %s -4 route", ctr_ns[CTR_INTERNAL]);
	T_NULL(strstr(routes, "default"));
	/* The bridge holds no address: the host is not a router for it. */
	_cleanup_free_ char *bridge_addrs = sh_out("ip -4 addr show dev %s", internal_bridge);
	T_NULL(strstr(bridge_addrs, "inet "));
	/* No masquerade, no port mappings. */
	_cleanup_free_ char *nat = sh_out("iptables-save -t nat 2>/dev/null");
	T_NULL(strstr(nat, ctr_id[CTR_INTERNAL]));

	struct netd_cni_call c = real_call(CTR_INTERNAL, internal_conflist);
	T_NOERR(netd_cni_check(&c, r.json, &err), err);
	T_NOERR(netd_cni_del(&c, r.json, &err), err);
	_cleanup_free_ char *ip = ip_of(r.address);
	T_OK(!reserved(internal_name, ip));
	T_OK(!iptables_mention(ctr_id[CTR_INTERNAL]));
	netd_cni_result_fini(&r);
}

/*
 * Set-up and teardown, in the parent of the cases.
 */

/* A 10.250.<x>.0/24 pair that no route or address of the host mentions. */
static int
pick_subnet(void)
{
	_cleanup_free_ char *seen = sh_out("ip -4 route show table all 2>/dev/null; "
	                                   "ip -4 addr 2>/dev/null");
	for (int i = 0; i < 200; i++) {
		int x = 20 + (pid + i) % 200;
		char a[24], b[24];
		snprintf(a, sizeof(a), "10.250.%d.", x);
		snprintf(b, sizeof(b), "10.250.%d.", x + 1);
		if (strstr(seen, a) == NULL && strstr(seen, b) == NULL)
			return x;
	}
	return 20 + pid % 200;
}

static void
setup(void)
{
	pid = (int)getpid();
	if (mkdtemp(tmp) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(ipam_dir, sizeof(ipam_dir), "%s/ipam", tmp);
	snprintf(net_name, sizeof(net_name), "bt%d", pid);
	snprintf(internal_name, sizeof(internal_name), "bt%d-int", pid);
	snprintf(bridge, sizeof(bridge), "btc%d", pid);
	snprintf(internal_bridge, sizeof(internal_bridge), "btd%d", pid);
	subnet_x = geteuid() == 0 ? pick_subnet() : 20;
	snprintf(subnet, sizeof(subnet), "10.250.%d.0/24", subnet_x);
	snprintf(gateway, sizeof(gateway), "10.250.%d.1", subnet_x);
	snprintf(internal_subnet, sizeof(internal_subnet), "10.250.%d.0/24", subnet_x + 1);
	struct netd_cni_net net = {.name = net_name,
	                           .bridge = bridge,
	                           .subnet = subnet,
	                           .gateway = gateway,
	                           .ipam_dir = ipam_dir};
	conflist = netd_cni_conflist(&net);
	struct netd_cni_net inet = {.name = internal_name,
	                            .bridge = internal_bridge,
	                            .subnet = internal_subnet,
	                            .gateway = "",
	                            .internal = true,
	                            .ipam_dir = ipam_dir};
	internal_conflist = netd_cni_conflist(&inet);
	const char letters[N_CTRS] = {'o', 'a', 'b', 'f', 'i'};
	for (int i = 0; i < N_CTRS; i++) {
		snprintf(ctr_id[i], sizeof(ctr_id[i]), "berth-test-%d-%c", pid, letters[i]);
		snprintf(ctr_ns[i], sizeof(ctr_ns[i]), "bt%d%c", pid, letters[i]);
		snprintf(ctr_netns[i], sizeof(ctr_netns[i]), "/run/netns/%.20s", ctr_ns[i]);
	}
}

static void
teardown(void)
{
	if (geteuid() == 0) {
		for (int i = 0; i < N_CTRS; i++) {
			_cleanup_free_ char *path = xasprintf("%s/%s.result", tmp, ctr_id[i]);
			_cleanup_free_ char *result = NULL;
			size_t len = 0;
			br_err err = BR_ERR_INIT;
			br_read_file_at(AT_FDCWD, path, 1 << 20, &result, &len, &err);
			struct netd_cni_call c =
			        real_call(i, i == CTR_INTERNAL ? internal_conflist : conflist);
			if (netd_cni_del(&c, result, &err) < 0)
				printf("# teardown: %s\n", err.msg);
			sh("ip netns del %s 2>/dev/null", ctr_ns[i]);
		}
		/* The firewall plugin's per-bridge isolation rules outlive DEL by design. */
		const char *bridges[] = {bridge, internal_bridge};
		for (int i = 0; i < 2; i++) {
			sh("iptables-save -t filter 2>/dev/null | "
			   "grep -E -- '^-A CNI-ISOLATION-STAGE-[12] .*-o %s( |$)' | "
			   "sed 's/^-A /-D /' | while IFS= read -r rule; do "
			   "eval \"iptables -w -t filter $rule\"; done",
			   bridges[i]);
			sh("ip link del %s 2>/dev/null", bridges[i]);
		}
	}
	sh("rm -rf %s", tmp);
	free(conflist);
	free(internal_conflist);
}

int
main(int argc, char **argv)
{
	static const struct t_case cases[] = {
	        T_CASE(test_conflist_text),
	        T_CASE(test_conflist_files),
	        T_CASE(test_result_parse),
	        T_CASE(test_protocol_add_check_del),
	        T_CASE(test_protocol_errors),
	        T_CASE(test_deadline),
	        T_CASE(test_real_add_check_del),
	        T_CASE(test_real_two_containers),
	        T_CASE(test_real_failure_leaves_nothing),
	        T_CASE(test_real_internal),
	};

	setup();
	/* A single case runs in-process (t.h), so it gets a child of its own here: a failed
	 * check exits that child, and the teardown below still runs. */
	int rc = 1, status = 0;
	fflush(NULL);
	pid_t child = fork();
	if (child == 0)
		_exit(t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv));
	if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status))
		rc = WEXITSTATUS(status);
	teardown();
	return rc;
}
