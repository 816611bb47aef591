/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth: the command-line client of the Berth suite. It parses the global flags (which come
 * before the command), picks the command from a table and runs it; each command talks to
 * berth-gatewayd only. Exit codes follow docs/cli.md: 0 on success, a distinct code per
 * error code, and for `berth run` the container's own status.
 */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"

static const char usage_text[] =
        "Usage: berth [OPTIONS] COMMAND [ARGS...]\n"
        "\n"
        "Options:\n"
        "  --address PATH       gateway socket (env BERTH_ADDRESS, default " CTL_DEFAULT_ADDRESS
        ")\n"
        "  -n, --namespace NS   namespace (env BERTH_NAMESPACE, default \"default\")\n"
        "  --timeout SECONDS    deadline of each call (default 30)\n"
        "  --format table|json  output format of listings (default table)\n"
        "  -h, --help           show this help\n"
        "  -v, --version        show the version\n"
        "\n"
        "Commands:\n"
        "  info                         gateway and component health\n"
        "  images pull REF [--platform P] [-q]\n"
        "  pull REF [--platform P] [-q] the same as images pull\n"
        "  images import [--name NAME] [--platform P] [-q] FILE|-\n"
        "                               an OCI layout or docker-archive tar\n"
        "  images export [-o FILE] [--format oci|docker] [--platform P] IMAGE...\n"
        "                               images as a tar archive (also: berth save)\n"
        "  images ls|list [-q]\n"
        "  images rm|remove NAME...\n"
        "  push IMAGE [DEST] [--platform P] [-q]   an image to a registry (images push)\n"
        "  tag SOURCE TARGET            another name for an image (images tag)\n"
        "  login [-u USER] [-p PASS | --password-stdin] [REGISTRY]\n"
        "                               check and store a registry's credentials\n"
        "  logout [REGISTRY]            remove them\n"
        "  run [OPTIONS] IMAGE [CMD ARG...]\n"
        "  create [OPTIONS] IMAGE [CMD ARG...]   a container, not started\n"
        "  start [-a] ID...             start created or stopped containers\n"
        "  stop [-t SECONDS] ID...      stop signal, then SIGKILL after the timeout (10 s)\n"
        "  restart [-t SECONDS] ID...   stop, then start\n"
        "  kill [-s SIGNAL] ID...       send a signal (default KILL)\n"
        "  wait ID...                   print each exit code once it exited\n"
        "  pause|unpause ID...          freeze or thaw every process of containers\n"
        "  inspect ID...                record, state, mounts, network and spec as JSON\n"
        "  ps [-a] [-q] [--filter KEY=VALUE]\n"
        "  rm [-f] ID...\n"
        "  rename ID NEW_NAME           a container's new name (its ID stays)\n"
        "  top ID [ps OPTIONS]          a running container's processes\n"
        "  stats [--no-stream] [ID...]  CPU, memory, pids, block and network I/O\n"
        "  logs [-f] [--tail N] [--since T] [--timestamps] ID\n"
        "                               a container's output\n"
        "  exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] ID CMD [ARG...]\n"
        "                               run a command in a running container\n"
        "  attach [--no-stdin] ID       attach our stdio to a container's main process\n"
        "  namespaces ls|create|rm      namespaces (rm only when empty)\n"
        "  volume create|ls|inspect|rm|prune\n"
        "                               named volumes\n"
        "  network create|ls|inspect|rm|connect|disconnect\n"
        "                               named bridge networks\n"
        "  port ID [PORT[/PROTO]]       the ports a container publishes\n"
        "  content ls|rm                blobs in the content store (root)\n"
        "  snapshots ls|usage|rm        snapshots (root)\n"
        "  system df                    disk used, reclaimable, per namespace\n"
        "  system prune [--all] [-f]    collect garbage now (--all: unused images too)\n"
        "  events [--since X] [--until X] [--filter topic=P,namespace=N]\n"
        "                               follow the event log\n"
        "\n"
        "Run 'berth COMMAND --help' for the options of a command.\n";

static const struct {
	const char *name;
	ctl_cmd_fn fn;
} commands[] = {
        {"info", ctl_cmd_info},
        {"images", ctl_cmd_images},
        {"image", ctl_cmd_images},
        {"pull", ctl_cmd_pull},
        {"push", ctl_cmd_push},
        {"tag", ctl_cmd_tag},
        {"login", ctl_cmd_login},
        {"logout", ctl_cmd_logout},
        {"save", ctl_images_export},
        {"run", ctl_cmd_run},
        {"create", ctl_cmd_create},
        {"start", ctl_cmd_start},
        {"stop", ctl_cmd_stop},
        {"restart", ctl_cmd_restart},
        {"kill", ctl_cmd_kill},
        {"wait", ctl_cmd_wait},
        {"pause", ctl_cmd_pause},
        {"unpause", ctl_cmd_unpause},
        {"inspect", ctl_cmd_inspect},
        {"ps", ctl_cmd_ps},
        {"rm", ctl_cmd_rm},
        {"rename", ctl_cmd_rename},
        {"top", ctl_cmd_top},
        {"stats", ctl_cmd_stats},
        {"logs", ctl_cmd_logs},
        {"exec", ctl_cmd_exec},
        {"attach", ctl_cmd_attach},
        {"namespaces", ctl_cmd_namespaces},
        {"namespace", ctl_cmd_namespaces},
        {"ns", ctl_cmd_namespaces},
        {"content", ctl_cmd_content},
        {"snapshots", ctl_cmd_snapshots},
        {"snapshot", ctl_cmd_snapshots},
        {"system", ctl_cmd_system},
        {"events", ctl_cmd_events},
        {"volume", ctl_cmd_volumes},
        {"volumes", ctl_cmd_volumes},
        {"network", ctl_cmd_network},
        {"networks", ctl_cmd_network},
        {"port", ctl_cmd_port},
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"address", required_argument, NULL, 'a'},
	        {"namespace", required_argument, NULL, 'n'},
	        {"timeout", required_argument, NULL, 't'},
	        {"format", required_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'v'},
	        {NULL, 0, NULL, 0},
	};
	struct ctl ctl = {.address = CTL_DEFAULT_ADDRESS, .ns = "default"};
	br_err err = BR_ERR_INIT;
	const char *env;
	int c;

	signal(SIGPIPE, SIG_IGN);
	if ((env = getenv("BERTH_ADDRESS")) != NULL && env[0] != '\0')
		ctl.address = env;
	if ((env = getenv("BERTH_NAMESPACE")) != NULL && env[0] != '\0')
		ctl.ns = env;

	struct ctl_opts op = {argc, argv, "+n:hv", opts, NULL};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'a':
			ctl.address = optarg;
			break;
		case 'n':
			ctl.ns = optarg;
			break;
		case 't':
			if (ctl_parse_timeout(optarg, &ctl.timeout_ms, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			break;
		case 'f':
			if (ctl_set_format(&ctl, optarg) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'v':
			printf("berth version %s\n", BR_VERSION);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return CTL_EXIT_USAGE;
	}
	if (!br_ns_valid(ctl.ns))
		return ctl_usage_error("invalid namespace \"%s\"", ctl.ns);
	if (ctl.address[0] == '\0')
		return ctl_usage_error("empty --address");
	if (strncmp(ctl.address, "ipc://", 6) == 0)
		ctl.address += 6;

	const char *name = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, name) == 0) {
			int rc = commands[i].fn(&ctl, argc - optind, argv + optind);
			ctl_fini(&ctl);
			br_rpc_shutdown();
			fflush(stdout);
			return rc;
		}
	}
	return ctl_usage_error("unknown command \"%s\"", name);
}
