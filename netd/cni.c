/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI runtime of netd (cni.h). A configuration list is parsed (it is a file an
 * administrator may edit, so it is bounded and checked like any other input), then each of
 * its plugins runs as a child process: its own configuration on stdin (the plugin's object,
 * the list's name and cniVersion, prevResult, runtimeConfig), the CNI_* variables in its
 * environment, its result or its error on stdout. Each child runs in a process group of its
 * own, so that a deadline kills the plugin and whatever it started (iptables, a shell's
 * children) in one go, and its exit is watched through a pidfd, so that a grandchild that
 * keeps the output pipe open cannot hold the call past the plugin's end.
 */
#include "netd/cni.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/loop.h"
#include "common/spawn.h"
#include "common/xalloc.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define CONFLIST_MAX (1024 * 1024)
#define OUTPUT_MAX (1024 * 1024) /* a plugin's stdout: a result or an error */
#define STDERR_MAX 4096          /* kept for the error when stdout says nothing */
#define PLUGINS_MAX 32
#define NAME_MAX_LEN 128
#define DEFAULT_TIMEOUT_MS 30000
#define EXIT_POLL_MS 10 /* without a pidfd: how often to look whether the plugin exited */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* How much of a plugin's own message and details an error quotes. */
#define PLUGIN_MSG_MAX 400
#define PLUGIN_DETAILS_MAX 200

BR_DEFINE_CLEANUP(struct yajl_val_s, yajl_tree_free)

void
netd_cni_result_fini(struct netd_cni_result *r)
{
	free(r->json);
	free(r->address);
	free(r->gateway);
	free(r->mac);
	memset(r, 0, sizeof(*r));
}

/* A network name as CNI allows it, which also makes it a safe file name. */
static bool
name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.' || name[0] == '-' || name[0] == '_')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!(ch >= 'a' && ch <= 'z') && !(ch >= 'A' && ch <= 'Z') &&
		    !(ch >= '0' && ch <= '9') && ch != '-' && ch != '_' && ch != '.')
			return false;
	}
	return true;
}

static int
check_name(const char *name, br_err *err)
{
	if (!name_valid(name))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "network name \"%s\": letters, digits, '-', '_' and '.' only, "
		                  "starting with a letter or digit, at most %d",
		                  BR_ERR_QUOTE(name), NAME_MAX_LEN);
	return 0;
}

char *
netd_cni_conflist(const struct netd_cni_net *net)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "cniVersion", NETD_CNI_VERSION);
	br_json_gen_kv_str(g, "name", net->name);
	br_json_gen_str(g, "plugins");
	yajl_gen_array_open(g);

	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "type", "bridge");
	br_json_gen_kv_str(g, "bridge", net->bridge);
	br_json_gen_kv_bool(g, "isGateway", !net->internal);
	br_json_gen_kv_bool(g, "ipMasq", !net->internal);
	br_json_gen_kv_bool(g, "hairpinMode", true);
	br_json_gen_str(g, "ipam");
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "type", "host-local");
	br_json_gen_str(g, "ranges");
	yajl_gen_array_open(g);
	yajl_gen_array_open(g);
	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "subnet", net->subnet);
	if (!net->internal && net->gateway != NULL && net->gateway[0] != '\0')
		br_json_gen_kv_str(g, "gateway", net->gateway);
	yajl_gen_map_close(g);
	yajl_gen_array_close(g);
	yajl_gen_array_close(g);
	if (!net->internal) {
		br_json_gen_str(g, "routes");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "dst", "0.0.0.0/0");
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	br_json_gen_kv_str(g, "dataDir", net->ipam_dir);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);

	if (!net->internal) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "type", "portmap");
		br_json_gen_str(g, "capabilities");
		yajl_gen_map_open(g);
		br_json_gen_kv_bool(g, "portMappings", true);
		yajl_gen_map_close(g);
		br_json_gen_kv_bool(g, "snat", true);
		yajl_gen_map_close(g);
	}

	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "type", "firewall");
	br_json_gen_kv_str(g, "backend", "iptables");
	br_json_gen_kv_str(g, "ingressPolicy", "same-bridge");
	yajl_gen_map_close(g);

	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	char *text = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	return text;
}

static int
open_conf_dir(const char *conf_dir, bool create, br_err *err)
{
	if (create && br_mkdir_p(conf_dir, 0755, err) < 0)
		return -1;
	int fd = open(conf_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return br_err_errno(err, br_code_from_errno(errno), errno, "open %s", conf_dir);
	return fd;
}

int
netd_cni_write_conflist(const char *conf_dir, const struct netd_cni_net *net, char **ret_path,
                        br_err *err)
{
	if (check_name(net->name, err) < 0)
		return -1;
	_cleanup_close_ int dfd = open_conf_dir(conf_dir, true, err);
	if (dfd < 0)
		return -1;
	_cleanup_free_ char *file = xasprintf("%s.conflist", net->name);
	_cleanup_free_ char *text = netd_cni_conflist(net);
	if (br_write_file_atomic(dfd, file, text, strlen(text), 0644, err) < 0)
		return br_err_wrap(err, "network %s: configuration list in %s", net->name,
		                   conf_dir);
	*ret_path = xasprintf("%s/%s", conf_dir, file);
	return 0;
}

int
netd_cni_read_conflist(const char *conf_dir, const char *name, char **ret, br_err *err)
{
	if (check_name(name, err) < 0)
		return -1;
	_cleanup_close_ int dfd = open_conf_dir(conf_dir, false, err);
	if (dfd < 0)
		return br_err_wrap(err, "network %s: configuration list", name);
	_cleanup_free_ char *file = xasprintf("%s.conflist", name);
	char *text = NULL;
	size_t len = 0;
	if (br_read_file_at(dfd, file, CONFLIST_MAX, &text, &len, err) < 0)
		return br_err_wrap(err, "network %s: configuration list in %s", name, conf_dir);
	*ret = text;
	return 0;
}

int
netd_cni_remove_conflist(const char *conf_dir, const char *name, br_err *err)
{
	if (check_name(name, err) < 0)
		return -1;
	_cleanup_close_ int dfd = open(conf_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0
		                       : br_err_errno(err, br_code_from_errno(errno), errno,
		                                      "open %s", conf_dir);
	_cleanup_free_ char *file = xasprintf("%s.conflist", name);
	if (unlinkat(dfd, file, 0) < 0 && errno != ENOENT)
		return br_err_errno(err, br_code_from_errno(errno), errno, "remove %s/%s", conf_dir,
		                    file);
	return 0;
}

/*
 * Results.
 */

/* "a.b.c.d/n" with 0 <= n <= 32. */
static bool
ipv4_cidr_valid(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[INET_ADDRSTRLEN];
	struct in_addr in;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return false;
	const char *p = slash + 1;
	if (p[0] < '0' || p[0] > '9' || strlen(p) > 2 ||
	    (p[1] != '\0' && (p[1] < '0' || p[1] > '9')))
		return false;
	return atoi(p) <= 32;
}

static bool
ipv4_valid(const char *s)
{
	struct in_addr in;
	return inet_pton(AF_INET, s, &in) == 1;
}

/* "xx:xx:xx:xx:xx:xx" in hex. */
static bool
mac_valid(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (size_t i = 0; i < 17; i++) {
		char ch = s[i];
		bool hex = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		           (ch >= 'A' && ch <= 'F');
		if (i % 3 == 2 ? ch != ':' : !hex)
			return false;
	}
	return true;
}

/* The index of the interface named `ifname` in `interfaces` into *ret_index (-1 when none
 * is) and its mac, if it has one, into *ret_mac. */
static int
find_interface(yajl_val interfaces, const char *ifname, int64_t *ret_index, const char **ret_mac,
               br_err *err)
{
	*ret_index = -1;
	for (size_t i = 0; interfaces != NULL && i < interfaces->u.array.len; i++) {
		yajl_val it = interfaces->u.array.values[i];
		const char *name = NULL, *mac = NULL;
		char path[48];

		snprintf(path, sizeof(path), "interfaces[%zu]", i);
		if (!YAJL_IS_OBJECT(it))
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object", path);
		if (br_json_get_str(it, path, "name", true, &name, err) < 0 ||
		    br_json_get_str(it, path, "mac", false, &mac, err) < 0)
			return -1;
		if (strcmp(name, ifname) != 0)
			continue;
		if (mac != NULL && !mac_valid(mac))
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s.mac: \"%s\" is not a MAC",
			                  path, BR_ERR_QUOTE(mac));
		*ret_index = (int64_t)i;
		*ret_mac = mac;
		return 0;
	}
	return 0;
}

int
netd_cni_result_parse(const char *json, size_t len, const char *ifname, struct netd_cni_result *ret,
                      br_err *err)
{
	_cleanup_(yajl_tree_freep) yajl_val root = NULL;
	yajl_val interfaces = NULL, ips = NULL, first = NULL, match = NULL;
	const char *version = NULL, *mac = NULL;
	int64_t index = -1;

	if (br_json_parse(json, len, OUTPUT_MAX, "cni result", &root, err) < 0)
		return -1;
	if (!YAJL_IS_OBJECT(root))
		return br_err_set(err, BR_INVALID_ARGUMENT, "cni result: expected an object");
	if (br_json_get_str(root, "", "cniVersion", false, &version, err) < 0 ||
	    br_json_get_array(root, "", "interfaces", false, &interfaces, err) < 0 ||
	    br_json_get_array(root, "", "ips", false, &ips, err) < 0 ||
	    find_interface(interfaces, ifname, &index, &mac, err) < 0)
		return br_err_wrap(err, "cni result");

	/* The first IPv4 entry of the interface, else the first IPv4 entry at all. */
	for (size_t i = 0; ips != NULL && i < ips->u.array.len && match == NULL; i++) {
		yajl_val ip = ips->u.array.values[i];
		const char *address = NULL, *gateway = NULL;
		int64_t on = -1;
		char path[32];

		snprintf(path, sizeof(path), "ips[%zu]", i);
		if (!YAJL_IS_OBJECT(ip))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "cni result: %s: expected an object", path);
		if (br_json_get_str(ip, path, "address", true, &address, err) < 0 ||
		    br_json_get_str(ip, path, "gateway", false, &gateway, err) < 0 ||
		    br_json_get_int(ip, path, "interface", false, &on, err) < 0)
			return br_err_wrap(err, "cni result");
		if (strchr(address, ':') != NULL)
			continue; /* IPv6 */
		if (!ipv4_cidr_valid(address))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "cni result: %s.address: \"%s\" is not an IPv4 CIDR",
			                  path, BR_ERR_QUOTE(address));
		if (gateway != NULL && !ipv4_valid(gateway))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "cni result: %s.gateway: \"%s\" is not an IPv4 address",
			                  path, BR_ERR_QUOTE(gateway));
		if (first == NULL)
			first = ip;
		if (index >= 0 && on == index)
			match = ip;
	}
	yajl_val chosen = match != NULL ? match : first;
	if (chosen == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "cni result: no IPv4 address for %s",
		                  BR_ERR_QUOTE(ifname));
	const char *address = NULL, *gateway = NULL;
	br_json_get_str(chosen, "", "address", true, &address, NULL);
	br_json_get_str(chosen, "", "gateway", false, &gateway, NULL);
	ret->json = xstrndup(json, len);
	ret->address = xstrdup(address);
	ret->gateway = xstrdup(gateway != NULL ? gateway : "");
	ret->mac = xstrdup(mac != NULL ? mac : "");
	return 0;
}

/*
 * Configuration lists.
 */

/* A parsed configuration list; the strings and values point into `root`. */
struct list {
	yajl_val root;
	const char *name;
	const char *version;
	size_t n;
	yajl_val plugins[PLUGINS_MAX];
	const char *types[PLUGINS_MAX];
};

static void
list_fini(struct list *l)
{
	yajl_tree_free(l->root);
	memset(l, 0, sizeof(*l));
}

/* A plugin type names a file of bin_dir itself, nothing below or above it. */
static bool
type_valid(const char *type)
{
	return type[0] != '\0' && strchr(type, '/') == NULL && strstr(type, "..") == NULL;
}

static int
list_parse(const char *text, struct list *ret, br_err *err)
{
	struct list l = {0};
	yajl_val plugins = NULL;

	if (text == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "cni configuration list: none given");
	if (br_json_parse(text, strlen(text), CONFLIST_MAX, "cni configuration list", &l.root,
	                  err) < 0)
		return -1;
	if (br_json_get_str(l.root, "", "cniVersion", true, &l.version, err) < 0 ||
	    br_json_get_str(l.root, "", "name", true, &l.name, err) < 0 ||
	    br_json_get_array(l.root, "", "plugins", true, &plugins, err) < 0)
		goto fail;
	if (plugins->u.array.len == 0 || plugins->u.array.len > PLUGINS_MAX) {
		br_err_set(err, BR_INVALID_ARGUMENT, "plugins: %zu of them, 1 to %d allowed",
		           plugins->u.array.len, PLUGINS_MAX);
		goto fail;
	}
	for (size_t i = 0; i < plugins->u.array.len; i++) {
		yajl_val p = plugins->u.array.values[i];
		char path[32];

		snprintf(path, sizeof(path), "plugins[%zu]", i);
		if (!YAJL_IS_OBJECT(p)) {
			br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected an object", path);
			goto fail;
		}
		if (br_json_get_str(p, path, "type", true, &l.types[i], err) < 0)
			goto fail;
		if (!type_valid(l.types[i])) {
			br_err_set(err, BR_INVALID_ARGUMENT, "%s.type: \"%s\" is not a plugin name",
			           path, BR_ERR_QUOTE(l.types[i]));
			goto fail;
		}
		l.plugins[i] = p;
	}
	l.n = plugins->u.array.len;
	*ret = l;
	return 0;
fail:
	yajl_tree_free(l.root);
	return br_err_wrap(err, "cni configuration list");
}

/* Whether the plugin declares a capability, so that runtimeConfig may carry it. */
static bool
has_capability(yajl_val plugin, const char *name)
{
	yajl_val caps = NULL;
	bool on = false;

	if (br_json_get_obj(plugin, "", "capabilities", false, &caps, NULL) < 0 || caps == NULL)
		return false;
	if (br_json_get_bool(caps, "", name, false, &on, NULL) < 0)
		return false;
	return on;
}

static bool
is_runtime_key(const char *key)
{
	return strcmp(key, "name") == 0 || strcmp(key, "cniVersion") == 0 ||
	       strcmp(key, "prevResult") == 0 || strcmp(key, "runtimeConfig") == 0;
}

/* Plugin i's configuration as the spec has the runtime derive it from the list. */
static char *
plugin_config(const struct list *l, size_t i, yajl_val prev, const struct netd_cni_call *c,
              size_t *ret_len)
{
	yajl_val p = l->plugins[i];
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	for (size_t k = 0; k < p->u.object.len; k++) {
		if (is_runtime_key(p->u.object.keys[k]))
			continue;
		br_json_gen_str(g, p->u.object.keys[k]);
		br_json_gen_value(g, p->u.object.values[k]);
	}
	br_json_gen_kv_str(g, "name", l->name);
	br_json_gen_kv_str(g, "cniVersion", l->version);
	if (prev != NULL) {
		br_json_gen_str(g, "prevResult");
		br_json_gen_value(g, prev);
	}
	if (has_capability(p, "portMappings")) {
		br_json_gen_str(g, "runtimeConfig");
		yajl_gen_map_open(g);
		br_json_gen_str(g, "portMappings");
		yajl_gen_array_open(g);
		for (size_t k = 0; k < c->n_ports; k++) {
			const struct br_net_port *port = &c->ports[k];
			yajl_gen_map_open(g);
			br_json_gen_kv_int(g, "hostPort", port->host_port);
			br_json_gen_kv_int(g, "containerPort", port->container_port);
			br_json_gen_kv_str(g, "protocol", port->protocol);
			if (port->host_ip != NULL && port->host_ip[0] != '\0')
				br_json_gen_kv_str(g, "hostIP", port->host_ip);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
	char *text = br_json_gen_take(g, ret_len);
	yajl_gen_free(g);
	return text;
}

/*
 * Running one plugin.
 */

/* What a plugin writes to one of its pipes, kept up to `max` bytes. */
struct sink {
	int fd;
	char *buf;
	size_t len, max;
	bool overflow;
};

/* Read what is there; at the end of the stream the fd is closed (and set to -1). */
static void
sink_read(struct sink *s)
{
	char chunk[16384];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	size_t take = (size_t)n;
	if (take > s->max - s->len) {
		take = s->max - s->len;
		s->overflow = true;
	}
	if (take > 0) {
		s->buf = xrealloc(s->buf, s->len + take + 1);
		memcpy(s->buf + s->len, chunk, take);
		s->len += take;
		s->buf[s->len] = '\0';
	}
}

static void
sink_fini(struct sink *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->buf);
}

/* The CNI variables and PATH (the plugins run iptables and friends), heap strings. */
static void
plugin_env(const struct netd_cni_call *c, const char *command, char *env[8])
{
	const char *path = getenv("PATH");

	env[0] = xasprintf("CNI_COMMAND=%s", command);
	env[1] = xasprintf("CNI_CONTAINERID=%s", c->container_id);
	env[2] = xasprintf("CNI_NETNS=%s", c->netns != NULL ? c->netns : "");
	env[3] = xasprintf("CNI_IFNAME=%s", c->ifname);
	env[4] = xasprintf("CNI_ARGS=%s", c->cni_args != NULL ? c->cni_args : "IgnoreUnknown=1");
	env[5] = xasprintf("CNI_PATH=%s", c->bin_dir);
	env[6] = xasprintf("PATH=%s", path != NULL && path[0] != '\0' ? path : DEFAULT_PATH);
	env[7] = NULL;
}

/* The config in an in-memory file, which the child reads as stdin at its own pace: no
 * writer to keep alive, no pipe buffer to fill, however large prevResult grows. */
static int
config_fd(const char *config, size_t len, br_err *err)
{
	_cleanup_close_ int fd = memfd_create("cni-config", MFD_CLOEXEC);

	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "memfd_create");
	if (br_write_all(fd, config, len, err) < 0)
		return -1;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "lseek");
	return br_steal_fd(&fd);
}

/* What happened to a plugin that was started. */
struct outcome {
	int status; /* wait status */
	bool timed_out;
	struct sink out, errout;
};

/* Collect what the plugin `pid` writes until it exits, then what it left in the pipes, and
 * reap it; past the deadline, kill its process group instead. Its exit is seen through a
 * pidfd, or, where there is none (an old kernel, valgrind), looked for every few ms. */
static int
watch_plugin(pid_t pid, int timeout_ms, struct outcome *o, br_err *err)
{
	_cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t deadline = br_now_ms() + timeout_ms;
	bool exited = false, reaped = false;

	while (o->out.fd >= 0 || o->errout.fd >= 0 || !exited) {
		if (!exited && pidfd < 0 && waitpid(pid, &o->status, WNOHANG) == pid)
			exited = reaped = true;
		int64_t left = deadline - br_now_ms();
		if (left <= 0) {
			if (!exited) {
				o->timed_out = true;
				kill(-pid, SIGKILL);
			}
			break;
		}
		/* Once the plugin is gone, take what it left in the pipes and no more: a
		 * grandchild may hold them open for as long as it likes. */
		int wait_ms = exited                             ? 0
		              : pidfd < 0 && left > EXIT_POLL_MS ? EXIT_POLL_MS
		                                                 : (int)left;
		struct pollfd pfd[3] = {{.fd = o->out.fd, .events = POLLIN},
		                        {.fd = o->errout.fd, .events = POLLIN},
		                        {.fd = exited ? -1 : pidfd, .events = POLLIN}};
		int n = poll(pfd, 3, wait_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;
			if (!reaped) {
				kill(-pid, SIGKILL);
				br_spawn_wait(pid, &o->status, NULL);
			}
			return br_err_errno(err, BR_INTERNAL, e, "poll");
		}
		if (n == 0 && exited)
			break;
		if (pfd[0].revents != 0)
			sink_read(&o->out);
		if (pfd[1].revents != 0)
			sink_read(&o->errout);
		if (pfd[2].revents != 0)
			exited = true;
	}
	return reaped ? 0 : br_spawn_wait(pid, &o->status, err);
}

/* Start <bin_dir>/<type> and collect its output until it exits or the deadline passes (then
 * kill its process group). -1 when it could not be started or watched (*ret_started says
 * whether it ran at all). */
#define SETPRIV_PATH "/usr/bin/setpriv"

static int
spawn_plugin(const struct netd_cni_call *c, const char *type, const char *command,
             const char *config, size_t config_len, struct outcome *o, bool *ret_started,
             br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", c->bin_dir, type);
	/* A plugin must not outlive netd: one that went on after a kill -9 could finish its ADD
	 * after the restart's reconcile undid it. setpriv (util-linux) runs it with the
	 * parent-death signal; the parent is a thread of netd that lives as long as netd. */
	const char *wrapped[] = {SETPRIV_PATH, "--pdeathsig", "KILL", "--", path, NULL};
	const char *bare[] = {path, NULL};
	const char *const *argv = access(SETPRIV_PATH, X_OK) == 0 ? wrapped : bare;
	char *env[8];
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
	pid_t pid;

	*ret_started = false;
	if (access(path, X_OK) < 0)
		return br_err_errno(
		        err, errno == ENOENT ? BR_FAILED_PRECONDITION : br_code_from_errno(errno),
		        errno, "%s", path);
	_cleanup_close_ int in_fd = config_fd(config, config_len, err);
	if (in_fd < 0)
		return -1;
	if (pipe2(out_pipe, O_CLOEXEC) < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "pipe");
	if (pipe2(err_pipe, O_CLOEXEC) < 0) {
		int e = errno;
		close(out_pipe[0]);
		close(out_pipe[1]);
		return br_err_errno(err, BR_INTERNAL, e, "pipe");
	}
	o->out = (struct sink){.fd = out_pipe[0], .max = OUTPUT_MAX};
	o->errout = (struct sink){.fd = err_pipe[0], .max = STDERR_MAX};

	plugin_env(c, command, env);
	struct br_spawn s = {.argv = argv,
	                     .std = {in_fd, out_pipe[1], err_pipe[1]},
	                     .envp = (const char *const *)env,
	                     .own_group = true};
	int rc = br_spawn_start(&s, &pid, err);
	for (size_t i = 0; env[i] != NULL; i++)
		free(env[i]);
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (rc < 0)
		return -1;
	*ret_started = true;

	return watch_plugin(pid, c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS, o, err);
}

/* The br code for a CNI error code (the spec's well-known ones; plugins' own are > 99). */
static br_code
code_of_cni_error(int64_t code)
{
	switch (code) {
	case 1: /* incompatible CNI version */
	case 2: /* unsupported field in network configuration */
	case 4: /* invalid necessary environment variables */
	case 6: /* failed to decode content */
	case 7: /* invalid network config */
		return BR_INVALID_ARGUMENT;
	case 3: /* container unknown or does not exist */
		return BR_NOT_FOUND;
	case 11: /* try again later */
		return BR_UNAVAILABLE;
	default:
		return BR_FAILED_PRECONDITION;
	}
}

/* The last line of `s` (trailing whitespace dropped), cut to `max` bytes, into buf. */
static const char *
last_line(const char *s, size_t len, char *buf, size_t size)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	size_t start = len;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(len - start), s + start);
	return buf;
}

/* The error of a plugin that failed: its {code, msg, details} when stdout holds one, else
 * the end of its stderr, else how it ended. */
static int
plugin_error(const char *type, const char *command, const struct outcome *o, br_err *err)
{
	_cleanup_(yajl_tree_freep) yajl_val root = NULL;
	const char *msg = NULL, *details = NULL;
	int64_t code = 0;
	char line[256];
	int exit_code = br_spawn_exit_code(o->status);

	if (o->out.len > 0 &&
	    br_json_parse(o->out.buf, o->out.len, OUTPUT_MAX, "error", &root, NULL) == 0 &&
	    br_json_get_str(root, "", "msg", true, &msg, NULL) == 0) {
		br_json_get_int(root, "", "code", false, &code, NULL);
		br_json_get_str(root, "", "details", false, &details, NULL);
		if (details != NULL && details[0] != '\0')
			return br_err_set(err, code_of_cni_error(code),
			                  "cni plugin %s: %s: %.*s (%.*s)", type, command,
			                  PLUGIN_MSG_MAX, msg, PLUGIN_DETAILS_MAX, details);
		return br_err_set(err, code_of_cni_error(code), "cni plugin %s: %s: %.*s", type,
		                  command, PLUGIN_MSG_MAX, msg);
	}
	const char *said = o->errout.len > 0
	                           ? last_line(o->errout.buf, o->errout.len, line, sizeof(line))
	                           : "";
	if (exit_code < 0)
		return br_err_set(err, BR_INTERNAL, "cni plugin %s: %s: killed by signal %d%s%s",
		                  type, command, WTERMSIG(o->status), said[0] ? ": " : "", said);
	return br_err_set(err, BR_INTERNAL, "cni plugin %s: %s: exit status %d%s%s", type, command,
	                  exit_code, said[0] ? ": " : "", said);
}

/*
 * Run plugin i of the list for `command` with prevResult `prev` (may be NULL). On success
 * its stdout (NUL-terminated, trailing whitespace dropped) in *ret_out when ret_out is not
 * NULL. *ret_started says whether the plugin ran at all (ADD undoes those that did).
 */
static int
run_plugin(const struct netd_cni_call *c, const struct list *l, size_t i, const char *command,
           yajl_val prev, char **ret_out, bool *ret_started, br_err *err)
{
	const char *type = l->types[i];
	struct outcome o = {.out.fd = -1, .errout.fd = -1};
	size_t len = 0;
	_cleanup_free_ char *config = plugin_config(l, i, prev, c, &len);

	int rc = spawn_plugin(c, type, command, config, len, &o, ret_started, err);
	if (rc < 0) {
		br_err_wrap(err, "cni plugin %s: %s", type, command);
	} else if (o.timed_out) {
		rc = br_err_set(err, BR_DEADLINE_EXCEEDED,
		                "cni plugin %s: %s: no answer within %d ms, killed", type, command,
		                c->timeout_ms > 0 ? c->timeout_ms : DEFAULT_TIMEOUT_MS);
	} else if (br_spawn_exit_code(o.status) != 0) {
		rc = plugin_error(type, command, &o, err);
	} else if (o.out.overflow) {
		rc = br_err_set(err, BR_RESOURCE_EXHAUSTED,
		                "cni plugin %s: %s: more than %d bytes of output", type, command,
		                OUTPUT_MAX);
	} else if (ret_out != NULL) {
		while (o.out.len > 0 &&
		       (o.out.buf[o.out.len - 1] == '\n' || o.out.buf[o.out.len - 1] == ' ' ||
		        o.out.buf[o.out.len - 1] == '\t'))
			o.out.buf[--o.out.len] = '\0';
		*ret_out = o.out.buf != NULL ? o.out.buf : xstrdup("");
		o.out.buf = NULL;
	}
	sink_fini(&o.out);
	sink_fini(&o.errout);
	return rc < 0 ? -1 : 0;
}

/*
 * Operations on a list.
 */

/* Whether the list's bridge holds the gateway; when it does not (an internal network), the
 * gateway that host-local reports anyway is no router the container could use. */
static bool
bridge_is_gateway(const struct list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		bool on = false;
		if (strcmp(l->types[i], "bridge") != 0)
			continue;
		br_json_get_bool(l->plugins[i], "", "isGateway", false, &on, NULL);
		return on;
	}
	return true;
}

/* DEL of plugins [0, n) in reverse, each with prevResult `prev`: on past failures, the first
 * of them reported. */
static int
del_plugins(const struct netd_cni_call *c, const struct list *l, size_t n, yajl_val prev,
            br_err *err)
{
	br_err first = BR_ERR_INIT;

	for (size_t i = n; i-- > 0;) {
		br_err e = BR_ERR_INIT;
		bool started = false;
		if (run_plugin(c, l, i, "DEL", prev, NULL, &started, &e) < 0 && first.code == BR_OK)
			first = e;
	}
	if (first.code != BR_OK) {
		br_err_copy(err, &first);
		return -1;
	}
	return 0;
}

/* After ADD failed at some plugin: DEL of those that ran, and `err` says why ADD failed
 * (and why undoing it did, if it did). */
static int
undo_add(const struct netd_cni_call *c, const struct list *l, size_t ran, yajl_val prev,
         br_err *err)
{
	br_err undo = BR_ERR_INIT;

	if (del_plugins(c, l, ran, prev, &undo) < 0 && err != NULL) {
		br_err why = *err;
		br_err_set(err, why.code, "%s; undoing it: %s", why.msg, undo.msg);
	}
	return -1;
}

int
netd_cni_add(const struct netd_cni_call *c, struct netd_cni_result *ret, br_err *err)
{
	struct list l;
	_cleanup_(yajl_tree_freep) yajl_val prev = NULL;
	_cleanup_free_ char *prev_text = NULL;
	size_t i;

	if (list_parse(c->conflist, &l, err) < 0)
		return -1;
	for (i = 0; i < l.n; i++) {
		_cleanup_free_ char *out = NULL;
		yajl_val tree = NULL;
		bool started = false;
		if (run_plugin(c, &l, i, "ADD", prev, &out, &started, err) < 0) {
			undo_add(c, &l, started ? i + 1 : i, prev, err);
			goto fail;
		}
		if (br_json_parse(out, strlen(out), OUTPUT_MAX, "result", &tree, err) < 0 ||
		    !YAJL_IS_OBJECT(tree)) {
			if (tree != NULL)
				br_err_set(err, BR_INVALID_ARGUMENT, "result: expected an object");
			yajl_tree_free(tree);
			br_err_wrap(err, "cni plugin %s: ADD", l.types[i]);
			undo_add(c, &l, i + 1, prev, err);
			goto fail;
		}
		yajl_tree_free(prev);
		prev = tree;
		free(prev_text);
		prev_text = br_steal_ptr(&out);
	}
	struct netd_cni_result r = {0};
	if (netd_cni_result_parse(prev_text, strlen(prev_text), c->ifname, &r, err) < 0) {
		br_err_wrap(err, "network %s", l.name);
		undo_add(c, &l, l.n, prev, err);
		goto fail;
	}
	if (!bridge_is_gateway(&l)) {
		free(r.gateway);
		r.gateway = xstrdup("");
	}
	list_fini(&l);
	*ret = r;
	return 0;
fail:
	list_fini(&l);
	return -1;
}

/* Whether the result gives the container an IPv6 address. */
static bool
has_ipv6(yajl_val result)
{
	yajl_val ips = NULL;

	if (br_json_get_array(result, "", "ips", false, &ips, NULL) < 0 || ips == NULL)
		return false;
	for (size_t i = 0; i < ips->u.array.len; i++) {
		const char *address = NULL;
		if (YAJL_IS_OBJECT(ips->u.array.values[i]) &&
		    br_json_get_str(ips->u.array.values[i], "", "address", false, &address, NULL) ==
		            0 &&
		    address != NULL && strchr(address, ':') != NULL)
			return true;
	}
	return false;
}

/* portmap 1.1's CHECK looks for its IPv6 rules wherever ip6tables works, also for a
 * container that has no IPv6 address and so never got any: it would fail every container
 * with published ports. Such a container's port mappings go unchecked. */
static bool
check_skips(const struct list *l, size_t i, yajl_val prev)
{
	return strcmp(l->types[i], "portmap") == 0 && !has_ipv6(prev);
}

int
netd_cni_check(const struct netd_cni_call *c, const char *prev_result, br_err *err)
{
	struct list l;
	_cleanup_(yajl_tree_freep) yajl_val prev = NULL;

	if (prev_result == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "cni CHECK: no result of ADD to check");
	if (br_json_parse(prev_result, strlen(prev_result), OUTPUT_MAX, "cni CHECK: prevResult",
	                  &prev, err) < 0)
		return -1;
	if (!YAJL_IS_OBJECT(prev))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "cni CHECK: prevResult: expected an object");
	if (list_parse(c->conflist, &l, err) < 0)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		bool started = false;
		if (check_skips(&l, i, prev))
			continue;
		if (run_plugin(c, &l, i, "CHECK", prev, NULL, &started, err) < 0) {
			list_fini(&l);
			return -1;
		}
	}
	list_fini(&l);
	return 0;
}

int
netd_cni_del(const struct netd_cni_call *c, const char *prev_result, br_err *err)
{
	struct list l;
	_cleanup_(yajl_tree_freep) yajl_val prev = NULL;

	if (list_parse(c->conflist, &l, err) < 0)
		return -1;
	/* A record that does not parse is no reason to leave the interface behind: the plugins
	 * find what they made by container id and interface name as well. */
	if (prev_result != NULL &&
	    br_json_parse(prev_result, strlen(prev_result), OUTPUT_MAX, "prevResult", &prev,
	                  NULL) == 0 &&
	    !YAJL_IS_OBJECT(prev)) {
		yajl_tree_free(prev);
		prev = NULL;
	}
	int rc = del_plugins(c, &l, l.n, prev, err);
	list_fini(&l);
	return rc;
}

/*
 * The bridge plugin finds a container's masquerade rules by the address of its interface, so
 * a DEL after the interface went (deleted behind netd's back, or by a reboot that kept the
 * rules) leaves them: POSTROUTING rules whose comment names the container, each jumping to a
 * chain of its own. They are removed by their position, last first, and then their chains.
 */
static int
iptables_run(const char *const *argv, char **ret_out, br_err *err)
{
	int status = 0;

	if (br_spawn_run(argv, true, ret_out ? BR_SPAWN_CAPTURE_STDOUT : 0, 4 << 20, ret_out, NULL,
	                 &status, err) < 0)
		return -1;
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL, "%s %s %s: exit status %d", argv[0], argv[3],
		                  argv[4], br_spawn_exit_code(status));
	return 0;
}

int
netd_cni_sweep_masquerade(const char *container_id, br_err *err)
{
	const char *list[] = {"iptables", "-w", "-t", "nat", "-S", "POSTROUTING", NULL};
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ char *needle = xasprintf("id: \\\"%s\\\"\"", container_id);
	int positions[64], n = 0, pos = 0;
	char chains[64][64];

	if (iptables_run(list, &text, err) < 0)
		return -1;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (strncmp(line, "-A ", 3) == 0) {
			pos++;
			const char *jump = strstr(line, " -j ");
			if (strstr(line, needle) != NULL && jump != NULL && n < 64) {
				positions[n] = pos;
				snprintf(chains[n], sizeof(chains[n]), "%s", jump + 4);
				n++;
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	if (n == 0)
		return 0;
	/* One iptables-restore for all of it: rules by position, last first, then the chains
	 * that are the container's own. */
	size_t cap = 64 + (size_t)n * 200, len = 0;
	_cleanup_free_ char *script = xmalloc(cap);
	len += (size_t)snprintf(script + len, cap - len, "*nat\n");
	for (int i = n - 1; i >= 0; i--)
		len += (size_t)snprintf(script + len, cap - len, "-D POSTROUTING %d\n",
		                        positions[i]);
	for (int i = 0; i < n; i++) {
		if (strncmp(chains[i], "CNI-", 4) != 0 || strchr(chains[i], ' ') != NULL ||
		    strncmp(chains[i], "CNI-HOSTPORT", 12) == 0)
			continue;
		len += (size_t)snprintf(script + len, cap - len, "-F %s\n-X %s\n", chains[i],
		                        chains[i]);
	}
	len += (size_t)snprintf(script + len, cap - len, "COMMIT\n");
	_cleanup_close_ int in = config_fd(script, len, err);
	if (in < 0)
		return -1;
	const char *restore[] = {"iptables-restore", "-w", "--noflush", NULL};
	struct br_spawn sp = {
	        .argv = restore, .search = true, .std = {in, BR_SPAWN_NULL, BR_SPAWN_NULL}};
	pid_t pid;
	int status = 0;
	if (br_spawn_start(&sp, &pid, err) < 0 || br_spawn_wait(pid, &status, err) < 0)
		return -1;
	if (br_spawn_exit_code(status) != 0)
		return br_err_set(err, BR_INTERNAL,
		                  "iptables-restore of the masquerade rules of container \"%s\": "
		                  "exit status %d",
		                  container_id, br_spawn_exit_code(status));
	return n;
}

/* The firewall plugin's isolation of a bridge (ingressPolicy "same-bridge") is two rules per
 * bridge that its DEL leaves, since other containers may still be on the bridge: they go with
 * the network. Absent rules are fine. */
void
netd_cni_remove_isolation(const char *bridge)
{
	static const char comment[] = "CNI firewall plugin rules (ingressPolicy: same-bridge)";
	const char *stage1[] = {"iptables",
	                        "-w",
	                        "-D",
	                        "CNI-ISOLATION-STAGE-1",
	                        "-i",
	                        bridge,
	                        "!",
	                        "-o",
	                        bridge,
	                        "-m",
	                        "comment",
	                        "--comment",
	                        comment,
	                        "-j",
	                        "CNI-ISOLATION-STAGE-2",
	                        NULL};
	const char *stage2[] = {"iptables",  "-w",    "-D", "CNI-ISOLATION-STAGE-2",
	                        "-o",        bridge,  "-m", "comment",
	                        "--comment", comment, "-j", "DROP",
	                        NULL};
	int status;
	br_err ignored = BR_ERR_INIT;

	br_spawn_run(stage1, true, 0, 0, NULL, NULL, &status, &ignored);
	br_spawn_run(stage2, true, 0, 0, NULL, NULL, &status, &ignored);
}
