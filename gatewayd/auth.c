/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authorization at the front door: the role of a caller in a namespace. Who the caller is
 * comes from its connection (the peer credentials nng reads with SO_PEERCRED), never from the
 * message. Root is admin everywhere. Each uid of gatewayd.users has role "user" in every
 * namespace (the older shorthand for {"uid": N, "namespaces": ["*"], "role": "user"}). Each
 * rule of gatewayd.access gives its role in its namespaces ("*": all of them) to one uid or
 * to the members of one gid; a caller that several rules match has the highest of their
 * roles there. Roles are ordered: read < user < admin (docs/gateway.md has what each allows).
 * Some methods are root's alone whatever the role (br_gateway_is_root_only): the writes of
 * the stores, whose blobs every namespace shares, and events.publish.
 *
 * Group membership is the peer process's own: its effective gid and its supplementary groups
 * as /proc/<pid>/status shows them, rather than what the user database says (getgrouplist):
 * it is what the kernel itself decides by (it admits a caller to the 0660 socket by the same
 * groups), it honours a process that gave groups up (setpriv --clear-groups, a service with
 * SupplementaryGroups=) instead of granting them back, and reading a procfs file cannot block
 * the loop the way NSS can (LDAP, SSSD). The pid is the one SO_PEERCRED recorded at connect;
 * the file counts only while its effective uid is still the peer's, so that a pid reused by
 * another user's process grants nothing. The groups are read at most once per loop iteration
 * and caller (an events subscription asks per event), never kept longer.
 *
 * Loop thread only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/proto/gateway.h"
#include "gatewayd/gatewayd.h"

#define STATUS_MAX (64 * 1024) /* of /proc/<pid>/status read: the Groups line comes early */
#define GROUPS_MAX 1024        /* groups of a caller considered; more only ever deny */
#define PID_UNKNOWN UINT32_MAX

/* The peer's groups, for one loop iteration (see peer_groups). */
static struct {
	uint64_t loop_time; /* uv_now() when read */
	uint32_t pid, uid;
	bool valid; /* read for this pid, uid and iteration */
	uint32_t gids[GROUPS_MAX];
	size_t n;
} groups_cache;

/* The numbers after "Name:" on its line in `status`, at most `max` of them. */
static size_t
status_ids(const char *status, const char *name, uint32_t *ret, size_t max)
{
	size_t len = strlen(name), n = 0;
	const char *p = status;

	while (p != NULL && strncmp(p, name, len) != 0) {
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return 0;
	p += len;
	while (n < max) {
		char *end;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		unsigned long v = strtoul(p, &end, 10);
		if (v > UINT32_MAX)
			break;
		ret[n++] = (uint32_t)v;
		p = end;
	}
	return n;
}

/* Read the effective gid and the supplementary groups of process `pid`, if its effective
 * uid is `uid`. Returns the number of groups, 0 when they cannot be known. */
static size_t
read_groups(uint32_t pid, uint32_t uid, uint32_t *ret, size_t max)
{
	char path[64];
	_cleanup_free_ char *status = NULL;
	uint32_t ids[4];
	size_t len = 0, n;
	ssize_t r;

	snprintf(path, sizeof(path), "/proc/%u/status", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	status = malloc(STATUS_MAX);
	if (status == NULL)
		return 0;
	while (len < STATUS_MAX - 1 && (r = read(fd, status + len, STATUS_MAX - 1 - len)) > 0)
		len += (size_t)r;
	status[len] = '\0';
	/* "Uid:" and "Gid:" list real, effective, saved and filesystem ids. */
	if (status_ids(status, "Uid:", ids, 4) < 2 || ids[1] != uid)
		return 0;
	if (status_ids(status, "Gid:", ids, 4) < 2)
		return 0;
	ret[0] = ids[1];
	n = 1 + status_ids(status, "Groups:", ret + 1, max - 1);
	return n;
}

/* The caller's groups (its effective gid first); NULL when they cannot be known. */
static const uint32_t *
peer_groups(struct gateway *gw, uint32_t uid, uint32_t pid, size_t *ret_n)
{
	uint64_t now = uv_now(gw->loop->uv);

	if (pid == 0 || pid == PID_UNKNOWN)
		return NULL;
	if (!groups_cache.valid || groups_cache.loop_time != now || groups_cache.pid != pid ||
	    groups_cache.uid != uid) {
		groups_cache.loop_time = now;
		groups_cache.pid = pid;
		groups_cache.uid = uid;
		groups_cache.n = read_groups(pid, uid, groups_cache.gids, GROUPS_MAX);
		groups_cache.valid = true;
	}
	*ret_n = groups_cache.n;
	return groups_cache.n > 0 ? groups_cache.gids : NULL;
}

/* True if `rule` names the caller. */
static bool
rule_matches(struct gateway *gw, uint32_t uid, uint32_t pid, const struct br_access_rule *rule)
{
	const uint32_t *gids;
	size_t n = 0;

	if (!rule->by_gid)
		return rule->id == uid;
	gids = peer_groups(gw, uid, pid, &n);
	for (size_t i = 0; i < n; i++) {
		if (gids[i] == rule->id)
			return true;
	}
	return false;
}

/* True if `rule` covers namespace `ns`; NULL stands for any namespace. */
static bool
rule_covers(const struct br_access_rule *rule, const char *ns)
{
	for (char **p = rule->namespaces; p != NULL && *p != NULL; p++) {
		if (ns == NULL || strcmp(*p, "*") == 0 || strcmp(*p, ns) == 0)
			return true;
	}
	return false;
}

/* The role of peer (uid, pid) in `ns`, or its highest role anywhere when `ns` is NULL. */
static enum br_role
peer_role_in(struct gateway *gw, uint32_t uid, uint32_t pid, const char *ns)
{
	const struct br_config *cfg = gw->cfg;
	enum br_role role = BR_ROLE_NONE;

	if (uid == 0)
		return BR_ROLE_ADMIN;
	for (size_t i = 0; i < cfg->gatewayd.n_users; i++) {
		if (cfg->gatewayd.users[i] == uid)
			role = BR_ROLE_USER;
	}
	for (size_t i = 0; i < cfg->gatewayd.n_access; i++) {
		const struct br_access_rule *rule = &cfg->gatewayd.access[i];
		if (rule->role > role && rule_covers(rule, ns) && rule_matches(gw, uid, pid, rule))
			role = rule->role;
	}
	return role;
}

static enum br_role
role_in(struct gateway *gw, br_call *call, const char *ns)
{
	return peer_role_in(gw, br_call_peer_uid(call), br_call_peer_pid(call), ns);
}

enum br_role
gw_role(struct gateway *gw, br_call *call, const char *ns)
{
	return role_in(gw, call, ns);
}

bool
gw_may_read(struct gateway *gw, br_call *call, const char *ns)
{
	return role_in(gw, call, ns) >= BR_ROLE_READ;
}

int
gw_check_peer(struct gateway *gw, uint32_t uid, uint32_t pid, const char *ns, const char *method,
              enum br_role need, br_err *err)
{
	enum br_role role;

	if (peer_role_in(gw, uid, pid, NULL) == BR_ROLE_NONE)
		return br_err_set(err, BR_PERMISSION_DENIED, "uid %u is not allowed to use berth",
		                  uid);
	if (br_gateway_is_store_write(method) && uid != 0)
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "%s writes the stores, which only root may write, whatever the "
		                  "role (uid %u)",
		                  method, uid);
	if (br_gateway_is_root_only(method) && uid != 0)
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "%s is for the daemons only (root), whatever the role (uid %u)",
		                  method, uid);
	role = peer_role_in(gw, uid, pid, ns);
	if (role >= need)
		return 0;
	if (role == BR_ROLE_NONE)
		return br_err_set(err, BR_PERMISSION_DENIED,
		                  "uid %u has no role in namespace %s: %s needs role %s", uid, ns,
		                  method, br_role_name(need));
	return br_err_set(err, BR_PERMISSION_DENIED,
	                  "uid %u has role %s in namespace %s: %s needs role %s", uid,
	                  br_role_name(role), ns, method, br_role_name(need));
}

int
gw_authorize(struct gateway *gw, br_call *call)
{
	if (role_in(gw, call, NULL) != BR_ROLE_NONE)
		return 0;
	br_call_failf(call, BR_PERMISSION_DENIED, "uid %u is not allowed to use berth",
	              br_call_peer_uid(call));
	return -1;
}

int
gw_require(struct gateway *gw, br_call *call, const char *ns, enum br_role need)
{
	br_err err = BR_ERR_INIT;

	if (gw_check_peer(gw, br_call_peer_uid(call), br_call_peer_pid(call), ns,
	                  br_call_request(call)->method, need, &err) == 0)
		return 0;
	br_call_fail(call, &err);
	return -1;
}
