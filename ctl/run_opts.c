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
        "      --name NAME        container ID (default: generated)\n"
        "  -e, --env KEY=VALUE    set an environment variable (repeatable)\n"
        "  -l, --label KEY[=VALUE]\n"
        "                         set a label on the container (repeatable)\n"
        "      --net none|host    network mode (default: the daemon's)\n"
        "      --runtime NAME     OCI runtime: runc or crun (default: the daemon's)\n"
        "      --entrypoint CMD   replace the image's entrypoint\n"
        "      --hostname NAME    the container's hostname (default: its ID)\n"
        "      --security-opt seccomp=unconfined|FILE\n"
        "                         run without a seccomp filter, or with the JSON profile "
        "FILE\n"
        "                         instead of the default one\n";

void
ctl_run_opts_free(struct ctl_run_opts *o)
{
	free(o->env);
	for (size_t i = 0; i < o->nlabels; i++)
		free(o->label_keys[i]);
	free(o->label_keys);
	free(o->label_values);
	free(o->seccomp);
	memset(o, 0, sizeof(*o));
}

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
	        {"restart", required_argument, NULL, 'P'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	struct ctl_run_opts o = {0};
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:de:il:th", opts, NULL)) != -1) {
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
			if (strcmp(optarg, "none") != 0 && strcmp(optarg, "host") != 0) {
				ctl_run_opts_free(&o);
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "invalid --net \"%s\": expected none or host",
				                  optarg);
			}
			o.net = optarg;
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
		case 'P':
			if (parse_restart(optarg, &o, err) < 0) {
				ctl_run_opts_free(&o);
				return -1;
			}
			break;
		case 'h':
			o.help = true;
			*ret = o;
			return 0;
		case ':':
			ctl_run_opts_free(&o);
			return br_err_set(err, BR_INVALID_ARGUMENT, "option %s needs a value",
			                  argv[optind - 1]);
		default:
			ctl_run_opts_free(&o);
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: unknown option %s",
			                  argv[0], argv[optind - 1]);
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
	        .id = o->name,
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
	        .restart_policy = o->restart_policy,
	        .restart_max = o->restart_max,
	        .auto_remove = o->rm,
	};
}
