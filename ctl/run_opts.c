/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The options of `berth run` and `berth create`: their usage text, their parsing (apart from
 * running them, so that unit tests can check it) and the containers.create request they make.
 * Main thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/proto/tasks.h"
#include "common/seccomp.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"
#include "ctl/run.h"

const char ctl_run_usage[] =
        "Usage: berth run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
        "\n"
        "Options (they end at IMAGE; what follows is the command):\n"
        "      --rm               remove the container when it exits (taskd does it, also\n"
        "                         with -d and when berth is gone by then)\n"
        "      --restart POLICY   no, on-failure[:N], always or unless-stopped: restart the\n"
        "                         container when it exits (default: no)\n"
        "  -d, --detach           print the container ID and return at once\n"
        "  -i, --interactive      keep the container's stdin open and attach ours to it\n"
        "  -t, --tty              give the container a terminal\n"
        "      --name NAME        container name, and its ID when no container has that ID\n"
        "                         (default: a generated ID, which is also the name)\n"
        "  -e, --env KEY=VALUE    set an environment variable (repeatable)\n"
        "  -l, --label KEY[=VALUE]\n"
        "                         set a label on the container (repeatable)\n"
        "      --net, --network none|host|NETWORK\n"
        "                         no network but lo, the host's, or a named network\n"
        "                         (default: the daemon's)\n"
        "  -p, --publish [[HOSTIP:][HOSTPORT]:]CTRPORT[/tcp|udp]\n"
        "                         publish a container port on the host (repeatable); no\n"
        "                         HOSTPORT: the daemon picks a free one\n"
        "      --dns IP           a nameserver for the container's resolv.conf, instead\n"
        "                         of the host's (repeatable)\n"
        "      --add-host HOST:IP add a line to the container's /etc/hosts (repeatable)\n"
        "      --runtime NAME     OCI runtime: runc or crun (default: the daemon's)\n"
        "      --entrypoint CMD   replace the image's entrypoint\n"
        "      --hostname NAME    the container's hostname (default: its ID)\n"
        "      --security-opt seccomp=unconfined|FILE\n"
        "                         run without a seccomp filter, or with the JSON profile "
        "FILE\n"
        "                         instead of the default one\n"
        "  -u, --user USER[:GROUP]\n"
        "                         run as this user (name or uid) and group\n"
        "  -w, --workdir DIR      the process's working directory (absolute)\n"
        "  -v, --volume SRC:DST[:ro|rw]\n"
        "                         bind-mount a host path (SRC starts with / or .) or mount\n"
        "                         the named volume SRC (created when missing) at DST\n"
        "      --mount type=bind|volume|tmpfs,source=SRC,target=DST[,readonly]\n"
        "                         [,tmpfs-size=SIZE][,tmpfs-mode=OCTAL]\n"
        "      --tmpfs PATH[:size=SIZE,mode=OCTAL,ro]\n"
        "                         mount a tmpfs at PATH\n"
        "      --read-only        mount the root file system read-only\n"
        "      --cap-add CAP      add a capability (CAP_NET_ADMIN, NET_ADMIN, ALL)\n"
        "      --cap-drop CAP     drop a capability (ALL drops every one)\n"
        "      --privileged       every capability and host device, no seccomp filter,\n"
        "                         no masked paths\n"
        "      --device HOST[:CTR][:rwm]\n"
        "                         give the container a host device node\n"
        "  -m, --memory SIZE      memory limit (e.g. 32m, 1g; at least 6m)\n"
        "      --memory-swap SIZE memory plus swap limit (-1: unlimited swap)\n"
        "      --cpus N           CPU limit (e.g. 0.5)\n"
        "      --pids-limit N     most processes at once (0 or -1: unlimited)\n"
        "      --ulimit NAME=SOFT[:HARD]\n"
        "                         a resource limit (nofile, nproc, core, ...)\n"
        "      --env-file FILE    read KEY=VALUE lines (and bare KEYs: ours) from FILE\n"
        "      --init             run berth-init as PID 1: it forwards signals and reaps\n"
        "                         zombies\n"
        "      --pull missing|always|never\n"
        "                         pull the image first: when missing (default), always,\n"
        "                         or never\n";

void
ctl_run_opts_free(struct ctl_run_opts *o)
{
	free(o->env);
	for (size_t i = 0; i < o->nlabels; i++)
		free(o->label_keys[i]);
	free(o->label_keys);
	free(o->label_values);
	free(o->seccomp);
	free(o->mounts);
	free(o->devices);
	free(o->ulimits);
	free(o->cap_add);
	free(o->cap_drop);
	free(o->ports);
	free(o->dns);
	free(o->add_hosts);
	for (size_t i = 0; i < o->nowned; i++)
		free(o->owned[i]);
	free(o->owned);
	memset(o, 0, sizeof(*o));
}

/* The options without a letter of their own, past getopt's characters. */
enum {
	OPT_PULL = 256,
	OPT_DNS,
	OPT_ADD_HOST,
};

/* --restart no|on-failure[:N]|always|unless-stopped, as docker's. */
static int
parse_restart(const char *value, struct ctl_run_opts *o, br_err *err)
{
	static const char *const names[] = {"no", "always", "unless-stopped"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(value, names[i]) == 0) {
			o->restart_policy = names[i];
			o->restart_max = 0;
			return 0;
		}
	}
	if (strncmp(value, "on-failure", 10) == 0 && (value[10] == '\0' || value[10] == ':')) {
		o->restart_policy = "on-failure";
		o->restart_max = 0;
		if (value[10] == '\0')
			return 0;
		char *end = NULL;
		errno = 0;
		unsigned long n = strtoul(value + 11, &end, 10);
		if (value[11] >= '0' && value[11] <= '9' && *end == '\0' && errno == 0 &&
		    n <= BR_RESTART_MAX) {
			o->restart_max = (uint32_t)n;
			return 0;
		}
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --restart \"%s\": the count after on-failure: must be a "
		                  "number from 0 to %d",
		                  value, BR_RESTART_MAX);
	}
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "invalid --restart \"%s\": expected no, on-failure[:N], always or "
	                  "unless-stopped",
	                  value);
}

/* --security-opt VALUE: only seccomp=unconfined|FILE so far. The FILE is read and checked
 * here so that its errors name it; taskd checks it again (it takes requests from anyone). */
static int
parse_security_opt(const char *value, char **ret, br_err *err)
{
	_cleanup_free_ char *text = NULL;
	const char *file;
	size_t len;

	if (strncmp(value, "seccomp=", 8) != 0 && strncmp(value, "seccomp:", 8) != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --security-opt \"%s\": expected seccomp=unconfined or "
		                  "seccomp=FILE",
		                  value);
	file = value + 8;
	if (strcmp(file, "unconfined") == 0) {
		*ret = xstrdup(file);
		return 0;
	}
	if (file[0] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --security-opt \"%s\": no profile file given", value);
	/* Errors read "seccomp profile: FILE: what is wrong". */
	if (br_read_file_at(AT_FDCWD, file, BR_SECCOMP_PROFILE_MAX, &text, &len, err) < 0 ||
	    br_seccomp_profile_parse(text, len, file, NULL, err) < 0)
		return br_err_wrap(err, "seccomp profile");
	*ret = br_steal_ptr(&text);
	return 0;
}

int
ctl_run_parse(int argc, char **argv, struct ctl_run_opts *ret, br_err *err)
{
	static const struct option opts[] = {
	        {"rm", no_argument, NULL, 'r'},
	        {"detach", no_argument, NULL, 'd'},
	        {"interactive", no_argument, NULL, 'i'},
	        {"tty", no_argument, NULL, 't'},
	        {"name", required_argument, NULL, 'N'},
	        {"env", required_argument, NULL, 'e'},
	        {"net", required_argument, NULL, 'n'},
	        {"network", required_argument, NULL, 'n'},
	        {"runtime", required_argument, NULL, 'R'},
	        {"entrypoint", required_argument, NULL, 'E'},
	        {"hostname", required_argument, NULL, 'H'},
	        {"security-opt", required_argument, NULL, 'S'},
	        {"label", required_argument, NULL, 'l'},
	        {"user", required_argument, NULL, 'u'},
	        {"workdir", required_argument, NULL, 'w'},
	        {"volume", required_argument, NULL, 'v'},
	        {"mount", required_argument, NULL, 'M'},
	        {"tmpfs", required_argument, NULL, 'T'},
	        {"read-only", no_argument, NULL, 'O'},
	        {"cap-add", required_argument, NULL, 'A'},
	        {"cap-drop", required_argument, NULL, 'D'},
	        {"privileged", no_argument, NULL, 'P'},
	        {"device", required_argument, NULL, 'V'},
	        {"memory", required_argument, NULL, 'm'},
	        {"memory-swap", required_argument, NULL, 'W'},
	        {"cpus", required_argument, NULL, 'C'},
	        {"pids-limit", required_argument, NULL, 'L'},
	        {"ulimit", required_argument, NULL, 'U'},
	        {"env-file", required_argument, NULL, 'F'},
	        {"init", no_argument, NULL, 'I'},
	        {"pull", required_argument, NULL, OPT_PULL},
	        {"publish", required_argument, NULL, 'p'},
	        {"dns", required_argument, NULL, OPT_DNS},
	        {"add-host", required_argument, NULL, OPT_ADD_HOST},
	        {"restart", required_argument, NULL, 'K'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct ctl_run_opts o = {0};
	struct ctl_opts op = {argc, argv, "+de:il:thu:w:v:m:p:", opts, argv[0]};
	int c;

	while ((c = ctl_opts_next_err(&op, err)) != -1) {
		switch (c) {
		case 'r':
			o.rm = true;
			break;
		case 'd':
			o.detach = true;
			break;
		case 'i':
			o.interactive = true;
			break;
		case 't':
			o.tty = true;
			break;
		case 'N':
			if (!br_msg_is_id(optarg, BR_CONTAINER_ID_MAX)) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid --name \"%s\": expected "
				                  "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
				                  optarg);
			}
			o.name = optarg;
			break;
		case 'e':
			if (ctl_check_env(optarg, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.env = xrealloc(o.env, (o.nenv + 1) * sizeof(*o.env));
			o.env[o.nenv++] = optarg;
			break;
		case 'l': {
			const char *eq = strchr(optarg, '=');
			size_t klen = eq ? (size_t)(eq - optarg) : strlen(optarg);
			if (klen == 0) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid --label \"%s\": expected KEY[=VALUE]",
				                  optarg);
			}
			o.label_keys =
			        xrealloc(o.label_keys, (o.nlabels + 1) * sizeof(*o.label_keys));
			o.label_values =
			        xrealloc(o.label_values, (o.nlabels + 1) * sizeof(*o.label_values));
			o.label_keys[o.nlabels] = xstrndup(optarg, klen);
			o.label_values[o.nlabels++] = eq ? eq + 1 : "";
			break;
		}
		case 'n':
			if (ctl_parse_network(optarg, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.net = optarg;
			break;
		case 'p': {
			struct br_net_port port;
			if (o.nports >= BR_NET_PORTS_MAX) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "more than %d -p options", BR_NET_PORTS_MAX);
			}
			if (ctl_parse_publish(&o, optarg, &port, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.ports = xrealloc(o.ports, (o.nports + 1) * sizeof(*o.ports));
			o.ports[o.nports++] = port;
			break;
		}
		case OPT_DNS:
			if (o.ndns >= BR_NET_DNS_MAX) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "more than %d --dns options", BR_NET_DNS_MAX);
			}
			if (ctl_parse_dns(optarg, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.dns = xrealloc(o.dns, (o.ndns + 1) * sizeof(*o.dns));
			o.dns[o.ndns++] = optarg;
			break;
		case OPT_ADD_HOST:
			if (o.nadd_hosts >= BR_NET_HOSTS_MAX) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "more than %d --add-host options",
				                  BR_NET_HOSTS_MAX);
			}
			if (ctl_parse_add_host(optarg, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.add_hosts =
			        xrealloc(o.add_hosts, (o.nadd_hosts + 1) * sizeof(*o.add_hosts));
			o.add_hosts[o.nadd_hosts++] = optarg;
			break;
		case 'R':
			o.runtime = optarg;
			break;
		case 'E':
			o.entrypoint = optarg;
			break;
		case 'H':
			o.hostname = optarg;
			break;
		case 'S':
			free(o.seccomp);
			o.seccomp = NULL;
			if (parse_security_opt(optarg, &o.seccomp, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'u':
			if (optarg[0] == '\0') {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid -u \"\": expected USER[:GROUP]");
			}
			o.user = optarg;
			break;
		case 'w':
			if (optarg[0] != '/') {
				ctl_run_opts_free(&o);
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid -w \"%s\": the working directory must be an "
				        "absolute path",
				        optarg);
			}
			o.working_dir = optarg;
			break;
		case 'v':
		case 'M':
		case 'T': {
			struct br_mount_opt m;
			if ((c == 'v'   ? ctl_parse_volume(&o, optarg, &m, err)
			     : c == 'M' ? ctl_parse_mount(&o, optarg, &m, err)
			                : ctl_parse_tmpfs(&o, optarg, &m, err)) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			for (size_t i = 0; i < o.nmounts; i++) {
				if (strcmp(o.mounts[i].target, m.target) == 0) {
					/* The message first: the target is freed with o. */
					br_err_set(err, BR_INVALID_ARGUMENT,
					           "duplicate mount point %s", m.target);
					ctl_run_opts_free(&o);
					return -1;
				}
			}
			o.mounts = xrealloc(o.mounts, (o.nmounts + 1) * sizeof(*o.mounts));
			o.mounts[o.nmounts++] = m;
			break;
		}
		case 'O':
			o.read_only = true;
			break;
		case 'A':
			o.cap_add = xrealloc(o.cap_add, (o.ncap_add + 1) * sizeof(*o.cap_add));
			o.cap_add[o.ncap_add++] = optarg;
			break;
		case 'D':
			o.cap_drop = xrealloc(o.cap_drop, (o.ncap_drop + 1) * sizeof(*o.cap_drop));
			o.cap_drop[o.ncap_drop++] = optarg;
			break;
		case 'P':
			o.privileged = true;
			break;
		case 'V': {
			struct br_device_opt d;
			if (ctl_parse_device(&o, optarg, &d, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.devices = xrealloc(o.devices, (o.ndevices + 1) * sizeof(*o.devices));
			o.devices[o.ndevices++] = d;
			break;
		}
		case 'm':
			if (ctl_parse_size("--memory", optarg, &o.memory, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			if (o.memory < CTL_MEMORY_MIN) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid --memory \"%s\": the minimum is 6m",
				                  optarg);
			}
			break;
		case 'W':
			if (strcmp(optarg, "-1") == 0) {
				o.memory_swap = -1;
			} else if (ctl_parse_size("--memory-swap", optarg, &o.memory_swap, err) <
			           0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'C':
			if (ctl_parse_cpus(optarg, &o.nano_cpus, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'L': {
			char *end;
			errno = 0;
			long long v = strtoll(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || v < -1) {
				ctl_run_opts_free(&o);
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid --pids-limit \"%s\": expected a number (0 or "
				        "-1: unlimited)",
				        optarg);
			}
			o.pids_limit = v <= 0 ? 0 : v;
			break;
		}
		case 'U': {
			struct br_ulimit_opt u;
			if (ctl_parse_ulimit(&o, optarg, &u, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			o.ulimits = xrealloc(o.ulimits, (o.nulimits + 1) * sizeof(*o.ulimits));
			o.ulimits[o.nulimits++] = u;
			break;
		}
		case 'F':
			if (ctl_read_env_file(&o, optarg, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'I':
			o.init = true;
			break;
		case OPT_PULL:
			if (strcmp(optarg, "missing") != 0 && strcmp(optarg, "always") != 0 &&
			    strcmp(optarg, "never") != 0) {
				ctl_run_opts_free(&o);
				return br_err_set(
				        err, BR_INVALID_ARGUMENT,
				        "invalid --pull \"%s\": expected missing, always or "
				        "never",
				        optarg);
			}
			o.pull = optarg;
			break;
		case 'K':
			if (parse_restart(optarg, &o, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'h':
			o.help = true;
			*ret = o;
			return 0;
		default: /* '?': err says what */
			ctl_run_opts_free(&o);
			return -1;
		}
	}
	if (optind >= argc) {
		ctl_run_opts_free(&o);
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s needs an IMAGE", argv[0]);
	}
	if (o.rm && o.restart_policy != NULL && strcmp(o.restart_policy, "no") != 0) {
		const char *policy = o.restart_policy; /* static */
		ctl_run_opts_free(&o);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "--rm cannot be combined with --restart %s", policy);
	}
	if (o.nports > 0 && o.net != NULL &&
	    (strcmp(o.net, "host") == 0 || strcmp(o.net, "none") == 0)) {
		const char *net = strcmp(o.net, "host") == 0 ? "host" : "none";
		ctl_run_opts_free(&o);
		return br_err_set(
		        err, BR_INVALID_ARGUMENT, "-p cannot be combined with --net %s: %s", net,
		        strcmp(net, "host") == 0 ? "the container uses the host's ports as they are"
		                                 : "the container has no network to publish from");
	}
	if (ctl_check_ports(o.ports, o.nports, err) < 0) {
		ctl_run_opts_free(&o);
		return -1;
	}
	if (o.memory_swap != 0 && o.memory == 0) {
		ctl_run_opts_free(&o);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "--memory-swap needs --memory (it limits memory plus swap)");
	}
	if (o.memory_swap > 0 && o.memory_swap < o.memory) {
		ctl_run_opts_free(&o);
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "--memory-swap must be at least --memory (it limits memory plus "
		                  "swap)");
	}
	o.image = argv[optind];
	o.args = (const char **)argv + optind + 1;
	o.nargs = (size_t)(argc - optind - 1);
	*ret = o;
	return 0;
}

void
ctl_run_create_req(const struct ctl_run_opts *o, struct br_container_create_req *ret)
{
	*ret = (struct br_container_create_req){
	        .name = o->name,
	        .image = o->image,
	        .args = {o->args, o->nargs},
	        .entrypoint = {o->entrypoint ? (const char **)&o->entrypoint : NULL,
	                       o->entrypoint ? 1 : 0},
	        .env = {o->env, o->nenv},
	        .net = o->net,
	        .runtime = o->runtime,
	        .hostname = o->hostname,
	        .seccomp = o->seccomp,
	        .labels = {(const char **)o->label_keys, o->label_values, o->nlabels},
	        .terminal = o->tty,
	        .open_stdin = o->interactive,
	        .user = o->user,
	        .working_dir = o->working_dir,
	        .mounts = {o->mounts, o->nmounts},
	        .devices = {o->devices, o->ndevices},
	        .ulimits = {o->ulimits, o->nulimits},
	        .cap_add = {o->cap_add, o->ncap_add},
	        .cap_drop = {o->cap_drop, o->ncap_drop},
	        .privileged = o->privileged,
	        .read_only = o->read_only,
	        .init = o->init,
	        .memory = o->memory,
	        .memory_swap = o->memory_swap,
	        .nano_cpus = o->nano_cpus,
	        .pids_limit = o->pids_limit,
	        .restart_policy = o->restart_policy,
	        .restart_max = o->restart_max,
	        .auto_remove = o->rm,
	        .ports = {o->ports, o->nports},
	        .dns = {o->dns, o->ndns},
	        .add_hosts = {o->add_hosts, o->nadd_hosts},
	};
}
