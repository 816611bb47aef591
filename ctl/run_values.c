/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The values of `berth run` options that have a syntax of their own (sizes, CPUs, -v, --mount,
 * --device, --ulimit, --env-file, --net, -p, --dns, --add-host), parsed as docker parses them
 * so that a command line moves between the tools unchanged. taskd and netd check the request
 * again: these checks are here so that the errors name the option as the user typed it. Main
 * thread.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/msg.h"
#include "common/proto/networks.h"
#include "common/proto/volumes.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"
#include "ctl/run.h"

#define ENV_FILE_MAX (1u << 20)

static char *
keep(struct ctl_run_opts *o, char *s)
{
	o->owned = xrealloc(o->owned, (o->nowned + 1) * sizeof(*o->owned));
	o->owned[o->nowned++] = s;
	return s;
}

int
ctl_parse_size(const char *option, const char *value, int64_t *ret, br_err *err)
{
	char *end;
	double v;
	double mult = 1;

	errno = 0;
	v = strtod(value, &end);
	if (errno != 0 || end == value || !isfinite(v) || v < 0 || value[0] == '-' ||
	    value[0] == '+')
		goto bad;
	if (*end != '\0') {
		switch (*end) {
		case 'b':
		case 'B':
			break;
		case 'k':
		case 'K':
			mult = 1024.0;
			break;
		case 'm':
		case 'M':
			mult = 1024.0 * 1024;
			break;
		case 'g':
		case 'G':
			mult = 1024.0 * 1024 * 1024;
			break;
		case 't':
		case 'T':
			mult = 1024.0 * 1024 * 1024 * 1024;
			break;
		default:
			goto bad;
		}
		end++;
		if (mult > 1 && (*end == 'b' || *end == 'B'))
			end++;
		if (*end != '\0')
			goto bad;
	}
	v *= mult;
	if (v >= 9.2e18)
		goto bad;
	*ret = (int64_t)v;
	return 0;
bad:
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "invalid %s \"%s\": expected a size such as 512k, 64m or 1g", option,
	                  value);
}

int
ctl_parse_cpus(const char *value, int64_t *ret, br_err *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(value, &end);
	if (errno != 0 || end == value || *end != '\0' || !isfinite(v) || v < 0.001 || v > 1e6)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid --cpus \"%s\": expected a number of CPUs such as 0.5 or 2", value);
	*ret = (int64_t)(v * 1e9 + 0.5);
	return 0;
}

static bool
is_volume_name(const char *s)
{
	return br_msg_is_id(s, BR_VOLUME_NAME_MAX);
}

/* A host path for a bind mount: absolute, existing, resolved (so that the container sees
 * what the user named, whatever the caller's working directory). */
static int
bind_source(struct ctl_run_opts *o, const char *option, const char *path, const char **ret,
            br_err *err)
{
	char resolved[PATH_MAX];

	if (realpath(path, resolved) == NULL)
		return br_err_errno(err, BR_INVALID_ARGUMENT, errno,
		                    "invalid %s: bind source path \"%s\"", option, path);
	*ret = keep(o, xstrdup(resolved));
	return 0;
}

static int
check_target(const char *option, const char *value, const char *target, br_err *err)
{
	if (!br_path_is_clean_abs(target))
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid %s \"%s\": the container path \"%s\" must be absolute and "
		        "clean (no \".\", \"..\" or empty components), and not \"/\"",
		        option, value, target);
	return 0;
}

int
ctl_parse_volume(struct ctl_run_opts *o, const char *value, struct br_mount_opt *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	char *parts[4] = {NULL};
	int n = 0;
	struct br_mount_opt m = {0};

	for (char *p = copy; p != NULL && n < 4; n++) {
		parts[n] = p;
		p = strchr(p, ':');
		if (p != NULL)
			*p++ = '\0';
	}
	if (n == 1)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid -v \"%s\": anonymous volumes are not supported; give a "
		                  "NAME or a host path: -v NAME:%s",
		                  value, value);
	if (n > 3 || parts[0][0] == '\0' || parts[1][0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid -v \"%s\": expected SOURCE:TARGET[:ro|rw]", value);
	if (n == 3) {
		for (char *save = NULL, *opt = strtok_r(parts[2], ",", &save); opt != NULL;
		     opt = strtok_r(NULL, ",", &save)) {
			if (strcmp(opt, "ro") == 0)
				m.readonly = true;
			else if (strcmp(opt, "rw") == 0)
				m.readonly = false;
			else
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid -v \"%s\": unknown option \"%s\" (expected "
				        "ro or rw)",
				        value, opt);
		}
	}
	if (check_target("-v", value, parts[1], err) < 0)
		return -1;
	m.target = parts[1];
	if (parts[0][0] == '/' || parts[0][0] == '.') {
		m.type = "bind";
		if (bind_source(o, "-v", parts[0], &m.source, err) < 0)
			return -1;
	} else {
		if (!is_volume_name(parts[0]))
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid -v \"%s\": \"%s\" is neither a host path (start it "
			        "with / or ./) nor a volume name "
			        "([A-Za-z0-9][A-Za-z0-9_.-]{0,127})",
			        value, parts[0]);
		m.type = "volume";
		m.source = parts[0];
	}
	*ret = m;
	return 0;
}

/* "true", "1" or nothing (a bare key) is true; "false" or "0" is false. */
static int
parse_bool(const char *value, const char *key, const char *v, bool *ret, br_err *err)
{
	if (v == NULL || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
		*ret = false;
		return 0;
	}
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "invalid --mount \"%s\": %s=%s: expected true or false", value, key, v);
}

int
ctl_parse_mount(struct ctl_run_opts *o, const char *value, struct br_mount_opt *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	struct br_mount_opt m = {0};
	const char *source = NULL;
	char *save = NULL;

	for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (v != NULL)
			*v++ = '\0';
		bool needs_value = strcmp(kv, "readonly") != 0 && strcmp(kv, "ro") != 0;
		if (needs_value && (v == NULL || v[0] == '\0'))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --mount \"%s\": %s needs a value", value, kv);
		if (strcmp(kv, "type") == 0) {
			if (strcmp(v, "bind") != 0 && strcmp(v, "volume") != 0 &&
			    strcmp(v, "tmpfs") != 0)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid --mount \"%s\": type \"%s\": expected bind, "
				        "volume or tmpfs",
				        value, v);
			m.type = v;
		} else if (strcmp(kv, "source") == 0 || strcmp(kv, "src") == 0) {
			source = v;
		} else if (strcmp(kv, "target") == 0 || strcmp(kv, "destination") == 0 ||
		           strcmp(kv, "dst") == 0) {
			m.target = v;
		} else if (strcmp(kv, "readonly") == 0 || strcmp(kv, "ro") == 0) {
			if (parse_bool(value, kv, v, &m.readonly, err) < 0)
				return -1;
		} else if (strcmp(kv, "tmpfs-size") == 0) {
			if (ctl_parse_size("--mount tmpfs-size", v, &m.tmpfs_size, err) < 0)
				return -1;
		} else if (strcmp(kv, "tmpfs-mode") == 0) {
			char *end;
			errno = 0;
			unsigned long mode = strtoul(v, &end, 8);
			if (errno != 0 || *end != '\0' || mode > 07777)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid --mount \"%s\": tmpfs-mode \"%s\": expected "
				        "octal permission bits such as 1777",
				        value, v);
			m.tmpfs_mode = (uint32_t)mode;
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --mount \"%s\": unknown key \"%s\"", value, kv);
		}
	}
	if (m.type == NULL)
		m.type = "volume"; /* docker's default */
	if (m.target == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --mount \"%s\": target= is required", value);
	if (check_target("--mount", value, m.target, err) < 0)
		return -1;
	bool tmpfs = strcmp(m.type, "tmpfs") == 0;
	if (tmpfs && source != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --mount \"%s\": a tmpfs mount takes no source", value);
	if (!tmpfs && (m.tmpfs_size != 0 || m.tmpfs_mode != 0))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --mount \"%s\": tmpfs-size and tmpfs-mode are for "
		                  "type=tmpfs",
		                  value);
	if (!tmpfs && source == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --mount \"%s\": source= is required for type=%s", value,
		                  m.type);
	if (strcmp(m.type, "bind") == 0) {
		if (source[0] != '/')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --mount \"%s\": bind source \"%s\" must be an "
			                  "absolute path",
			                  value, source);
		if (bind_source(o, "--mount", source, &m.source, err) < 0)
			return -1;
	} else if (!tmpfs) {
		if (!is_volume_name(source))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --mount \"%s\": volume name \"%s\": expected "
			                  "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
			                  value, source);
		m.source = source;
	}
	*ret = m;
	return 0;
}

int
ctl_parse_tmpfs(struct ctl_run_opts *o, const char *value, struct br_mount_opt *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	char *opts = strchr(copy, ':');
	struct br_mount_opt m = {.type = "tmpfs", .target = copy};
	char *save = NULL;

	if (opts != NULL)
		*opts++ = '\0';
	if (check_target("--tmpfs", value, copy, err) < 0)
		return -1;
	for (char *opt = opts ? strtok_r(opts, ",", &save) : NULL; opt != NULL;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0) {
			m.readonly = opt[1] == 'o';
		} else if (strncmp(opt, "size=", 5) == 0) {
			if (ctl_parse_size("--tmpfs size", opt + 5, &m.tmpfs_size, err) < 0)
				return -1;
		} else if (strncmp(opt, "mode=", 5) == 0) {
			char *end;
			errno = 0;
			unsigned long mode = strtoul(opt + 5, &end, 8);
			if (errno != 0 || end == opt + 5 || *end != '\0' || mode > 07777)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid --tmpfs \"%s\": mode \"%s\": expected octal "
				        "permission bits such as 1777",
				        value, opt + 5);
			m.tmpfs_mode = (uint32_t)mode;
		} else {
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --tmpfs \"%s\": unknown option \"%s\" (expected "
			                  "size=, mode=, ro or rw)",
			                  value, opt);
		}
	}
	*ret = m;
	return 0;
}

static bool
is_permissions(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 3)
		return false;
	for (const char *p = s; *p; p++)
		if ((*p != 'r' && *p != 'w' && *p != 'm') || strchr(p + 1, *p) != NULL)
			return false;
	return true;
}

int
ctl_parse_device(struct ctl_run_opts *o, const char *value, struct br_device_opt *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	char *parts[4] = {NULL};
	int n = 0;
	struct br_device_opt d = {0};
	struct stat st;

	for (char *p = copy; p != NULL && n < 4; n++) {
		parts[n] = p;
		p = strchr(p, ':');
		if (p != NULL)
			*p++ = '\0';
	}
	if (n > 3)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid --device \"%s\": expected HOST[:CONTAINER][:PERMISSIONS]", value);
	d.host_path = parts[0];
	if (n == 2 && is_permissions(parts[1]))
		d.permissions = parts[1];
	else if (n >= 2)
		d.container_path = parts[1];
	if (n == 3)
		d.permissions = parts[2];
	if (d.permissions != NULL && !is_permissions(d.permissions))
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid --device \"%s\": permissions \"%s\": expected letters of "
		        "\"rwm\"",
		        value, d.permissions);
	if (d.host_path[0] != '/')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --device \"%s\": the host path must be absolute", value);
	if (d.container_path != NULL && !br_path_is_clean_abs(d.container_path))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --device \"%s\": the container path \"%s\" must be "
		                  "absolute and clean",
		                  value, d.container_path);
	if (stat(d.host_path, &st) < 0)
		return br_err_errno(err, BR_INVALID_ARGUMENT, errno, "invalid --device \"%s\": %s",
		                    value, d.host_path);
	if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --device \"%s\": %s is not a device node", value,
		                  d.host_path);
	*ret = d;
	return 0;
}

/* A limit: a decimal number, or -1 (or "unlimited") for no limit. */
static bool
parse_limit(const char *s, int64_t *ret)
{
	char *end;
	long long v;

	if (strcmp(s, "unlimited") == 0 || strcmp(s, "-1") == 0) {
		*ret = -1;
		return true;
	}
	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*ret = v;
	return true;
}

int
ctl_parse_ulimit(struct ctl_run_opts *o, const char *value, struct br_ulimit_opt *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	char *eq = strchr(copy, '='), *colon;
	struct br_ulimit_opt u = {0};

	if (eq == NULL || eq == copy)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --ulimit \"%s\": expected NAME=SOFT[:HARD]", value);
	*eq++ = '\0';
	colon = strchr(eq, ':');
	if (colon != NULL)
		*colon++ = '\0';
	u.name = copy;
	if (!parse_limit(eq, &u.soft) || (colon != NULL && !parse_limit(colon, &u.hard)))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --ulimit \"%s\": limits are numbers or -1 (unlimited)",
		                  value);
	if (colon == NULL)
		u.hard = u.soft;
	if (u.hard != -1 && (u.soft == -1 || u.soft > u.hard))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --ulimit \"%s\": the soft limit is above the hard one",
		                  value);
	*ret = u;
	return 0;
}

int
ctl_parse_network(const char *value, br_err *err)
{
	if (strcmp(value, "none") == 0 || strcmp(value, "host") == 0 ||
	    br_msg_is_id(value, BR_NETWORK_NAME_MAX))
		return 0;
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "invalid --net \"%s\": expected none, host or a network's name "
	                  "([A-Za-z0-9][A-Za-z0-9_.-]{0,63})",
	                  value);
}

/* A port number, 1-65535, in decimal digits alone; 0 when `allow_empty` and `s` is "". */
static bool
parse_port(const char *s, bool allow_empty, uint32_t *ret)
{
	unsigned long v = 0;

	if (s[0] == '\0') {
		*ret = 0;
		return allow_empty;
	}
	if (strspn(s, "0123456789") != strlen(s) || strlen(s) > 5)
		return false;
	v = strtoul(s, NULL, 10);
	if (v < 1 || v > 65535)
		return false;
	*ret = (uint32_t)v;
	return true;
}

int
ctl_parse_publish(struct ctl_run_opts *o, const char *value, struct br_net_port *ret, br_err *err)
{
	char *copy = keep(o, xstrdup(value));
	char *parts[4] = {NULL};
	int n = 0;
	struct br_net_port p = {.host_ip = "", .protocol = "tcp"};
	struct in_addr addr;

	char *slash = strchr(copy, '/');
	if (slash != NULL) {
		*slash++ = '\0';
		if (strcasecmp(slash, "tcp") == 0)
			p.protocol = "tcp";
		else if (strcasecmp(slash, "udp") == 0)
			p.protocol = "udp";
		else
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid -p \"%s\": protocol \"%s\": expected tcp or udp",
			                  value, slash);
	}
	for (char *s = copy; s != NULL && n < 4; n++) {
		parts[n] = s;
		s = strchr(s, ':');
		if (s != NULL)
			*s++ = '\0';
	}
	if (n > 3)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid -p \"%s\": expected [HOSTIP:][HOSTPORT:]CTRPORT[/PROTOCOL] "
		        "(IPv4 host addresses only)",
		        value);
	const char *ctr = parts[n - 1];
	const char *host = n >= 2 ? parts[n - 2] : "";
	if (strchr(ctr, '-') != NULL || strchr(host, '-') != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid -p \"%s\": port ranges are not supported; publish each "
		                  "port with a -p of its own",
		                  value);
	if (!parse_port(ctr, false, &p.container_port))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid -p \"%s\": container port \"%s\": expected a number "
		                  "from 1 to 65535",
		                  value, ctr);
	if (!parse_port(host, true, &p.host_port))
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid -p \"%s\": host port \"%s\": expected a number from 1 to "
		        "65535 (or nothing: any free port)",
		        value, host);
	if (n == 3 && parts[0][0] != '\0') {
		if (inet_pton(AF_INET, parts[0], &addr) != 1)
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid -p \"%s\": host address \"%s\": expected an IPv4 "
			        "address",
			        value, parts[0]);
		/* The wildcard address is said with "" on the wire. */
		if (addr.s_addr != htonl(INADDR_ANY))
			p.host_ip = parts[0];
	}
	*ret = p;
	return 0;
}

int
ctl_check_ports(const struct br_net_port *ports, size_t n, br_err *err)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < i; k++) {
			const struct br_net_port *a = &ports[k], *b = &ports[i];
			if (a->host_port == 0 || a->host_port != b->host_port ||
			    strcmp(a->protocol, b->protocol) != 0)
				continue;
			if (a->host_ip[0] != '\0' && b->host_ip[0] != '\0' &&
			    strcmp(a->host_ip, b->host_ip) != 0)
				continue;
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "host port %u/%s is published twice (-p)", b->host_port,
			                  b->protocol);
		}
	}
	return 0;
}

static bool
is_ip(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int
ctl_parse_dns(const char *value, br_err *err)
{
	if (!is_ip(value))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --dns \"%s\": expected an IPv4 or IPv6 address", value);
	return 0;
}

int
ctl_parse_add_host(const char *value, br_err *err)
{
	const char *colon = strchr(value, ':');
	size_t hlen = colon ? (size_t)(colon - value) : 0;

	if (colon == NULL || hlen == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --add-host \"%s\": expected HOST:IP", value);
	/* Written as a line of /etc/hosts: no white space, nothing but a name. */
	bool name_ok = hlen <= 253 && isalnum((unsigned char)value[0]);
	for (size_t i = 0; name_ok && i < hlen; i++)
		name_ok = isalnum((unsigned char)value[i]) || strchr("-_.", value[i]) != NULL;
	if (!name_ok)
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid --add-host \"%s\": host name \"%.*s\": expected letters, "
		        "digits, '-', '_' and '.'",
		        value, (int)hlen, value);
	if (!is_ip(colon + 1))
		return br_err_set(
		        err, BR_INVALID_ARGUMENT,
		        "invalid --add-host \"%s\": \"%s\" is not an IPv4 or IPv6 address", value,
		        colon + 1);
	return 0;
}

int
ctl_read_env_file(struct ctl_run_opts *o, const char *path, br_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len;
	int line_no = 0;

	if (br_read_file_at(AT_FDCWD, path, ENV_FILE_MAX, &text, &len, err) < 0)
		return br_err_wrap(err, "--env-file");
	if (memchr(text, '\0', len) != NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "--env-file %s: not a text file", path);
	/* Lines counted by hand: strtok_r would skip empty ones and shift the numbers. */
	for (char *line = text, *next; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line_no++;
		size_t l = strlen(line);
		if (l > 0 && line[l - 1] == '\r')
			line[--l] = '\0';
		const char *p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		const char *eq = strchr(p, '=');
		char *entry;
		if (eq == NULL) {
			/* A bare name takes the caller's value; unset, it is left out. */
			if (strpbrk(p, " \t") != NULL)
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "--env-file %s:%d: variable \"%s\" has white space", path,
				        line_no, p);
			const char *v = getenv(p);
			if (v == NULL)
				continue;
			entry = xasprintf("%s=%s", p, v);
		} else {
			entry = xstrdup(p);
		}
		keep(o, entry);
		if (ctl_check_env(entry, err) < 0)
			return br_err_wrap(err, "--env-file %s:%d", path, line_no);
		o->env = xrealloc(o->env, (o->nenv + 1) * sizeof(*o->env));
		o->env[o->nenv++] = entry;
	}
	return 0;
}
