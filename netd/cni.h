/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A CNI runtime (spec 1.0.0) over the plugin binaries of `cni_bin_dir` (Debian's
 * containernetworking-plugins): network configuration lists made from a network's record,
 * written to and read from `cni_conf_dir`, and the ADD, CHECK and DEL operations of a list
 * run plugin by plugin with prevResult and runtimeConfig (portMappings), as the spec's
 * "Network configuration list runtime" section orders them.
 *
 * Blocking (each plugin is a child process, bounded by a deadline): worker threads only.
 * Each plugin runs with an environment of the CNI variables and PATH only, in a process group
 * of its own that the deadline kills whole; errors name the plugin and the command
 * ("cni plugin bridge: ADD: <msg> (<details>)"), a deadline is DEADLINE_EXCEEDED, a plugin
 * that is not in bin_dir FAILED_PRECONDITION, a list or a result that does not parse
 * INVALID_ARGUMENT.
 *
 * Not undone by any DEL: the firewall plugin's isolation rules of a bridge
 * (CNI-ISOLATION-STAGE-1/2, "-i <bridge>", "-o <bridge>"), which it cannot know to be unused;
 * whoever removes the bridge removes them.
 */
#ifndef BR_NETD_CNI_H
#define BR_NETD_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/proto/networks.h"

#define NETD_CNI_VERSION "1.0.0"

/* What a bridge network's configuration list is made from. */
struct netd_cni_net {
	const char *name;     /* the network's name, the list's "name" */
	const char *bridge;   /* the bridge device */
	const char *subnet;   /* IPv4 CIDR */
	const char *gateway;  /* an address of subnet; "" when internal */
	bool internal;        /* no gateway on the bridge, no masquerade, no routes, no portmap */
	const char *ipam_dir; /* host-local's dataDir: netd's own IP reservations */
};

/* The configuration list (JSON text, heap): loopback is netd's own business, so the list is
 * bridge (host-local IPAM), portmap (unless internal) and firewall (iptables backend,
 * ingressPolicy "same-bridge": no traffic between bridges). */
char *netd_cni_conflist(const struct netd_cni_net *net);

/* <conf_dir>/<name>.conflist, written atomically (0644; conf_dir made if missing); its path
 * in *ret_path (heap). The name must be a CNI network name (letters, digits, '-', '_', '.',
 * not starting with one of the last three; at most 128): INVALID_ARGUMENT otherwise. */
int netd_cni_write_conflist(const char *conf_dir, const struct netd_cni_net *net, char **ret_path,
                            br_err *err);
/* Read <conf_dir>/<name>.conflist (at most 1 MiB; heap text in *ret). NOT_FOUND if absent. */
int netd_cni_read_conflist(const char *conf_dir, const char *name, char **ret, br_err *err);
/* Remove it; absent is fine. */
int netd_cni_remove_conflist(const char *conf_dir, const char *name, br_err *err);

/* One operation on one container's interface. */
struct netd_cni_call {
	const char *bin_dir;      /* CNI_PATH */
	const char *conflist;     /* the list's JSON text (as written; DEL gets the ADD's text) */
	const char *container_id; /* CNI_CONTAINERID */
	const char *netns;        /* CNI_NETNS: a path */
	const char *ifname;       /* CNI_IFNAME */
	const char *cni_args;     /* CNI_ARGS ("K=V;K=V"), NULL: "IgnoreUnknown=1" */
	const struct br_net_port *ports; /* runtimeConfig.portMappings (plugins with the
	                                  * portMappings capability): the same for ADD,
	                                  * CHECK and DEL */
	size_t n_ports;
	int timeout_ms; /* per plugin; 0: 30 s */
};

/* What ADD gave for the call's interface. Heap strings. */
struct netd_cni_result {
	char *json;    /* the list's final result, to keep for CHECK and DEL */
	char *address; /* "10.88.0.5/16" */
	char *gateway; /* "" when none, or when the bridge is no gateway (internal) */
	char *mac;     /* the container-side interface's, "" when the result names none */
};
void netd_cni_result_fini(struct netd_cni_result *r);

/* ADD: every plugin in order, each given the previous one's result. On failure the plugins
 * that ran are undone with DEL (in reverse) before it returns; the error names the plugin
 * and carries the plugin's own message ({code, msg, details}). */
int netd_cni_add(const struct netd_cni_call *c, struct netd_cni_result *ret, br_err *err);
/* CHECK with the result ADD gave (prev_result; NULL: INVALID_ARGUMENT): every plugin in
 * order, the first failure reported. portmap is not asked for a container without an IPv6
 * address: its CHECK in plugins 1.1 demands IPv6 rules that such a container never gets. */
int netd_cni_check(const struct netd_cni_call *c, const char *prev_result, br_err *err);
/* DEL in reverse order with prev_result (NULL when unknown, as after a crash mid-ADD; a
 * prev_result that does not parse counts as unknown). Missing things are not an error (the
 * plugins' DEL is idempotent, also for a netns that is gone); it goes on past a failing
 * plugin and reports the first failure. Without prev_result the firewall plugin cannot find
 * its per-address rules, so keep the result where a DEL may need it. */
int netd_cni_del(const struct netd_cni_call *c, const char *prev_result, br_err *err);

/* Remove the masquerade rules (nat POSTROUTING) that name `container_id` and their chains: what
 * the bridge plugin's DEL leaves when the interface was gone before it. The number removed, or
 * -1. */
int netd_cni_sweep_masquerade(const char *container_id, br_err *err);

/* Remove the firewall plugin's isolation rules of `bridge` (ingressPolicy "same-bridge"), which
 * its DEL leaves while other containers may be on the bridge: when the bridge goes. Absent
 * rules are fine. */
void netd_cni_remove_isolation(const char *bridge);

/* Parse a plugin's result (untrusted text; fuzzed) into `ret` for interface `ifname`
 * (address of the first IPv4 ip entry whose interface index names `ifname`, or the first
 * IPv4 entry when none does). ret->json is a copy of the text. */
int netd_cni_result_parse(const char *json, size_t len, const char *ifname,
                          struct netd_cni_result *ret, br_err *err);

#endif
