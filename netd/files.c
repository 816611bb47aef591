/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A container's /etc/hosts and /etc/resolv.conf (docs/network.md, "Names and DNS"). The texts
 * are made by pure functions; the files under <state>/netd/files/<ns>/<id>/ are rewritten in
 * place, because taskd bind-mounts them into the container and a bind mount holds the inode.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "netd/netd.h"

/* A growing string. */
struct text {
	char *s;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3))) text_addf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
		va_end(ap);
		if ((size_t)n < room)
			break;
		t->cap = (t->cap + (size_t)n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	t->len += (size_t)n;
}

char *
netd_hosts_render(const char *names, const char *const *own, size_t n_own,
                  const struct netd_host_entry *peers, size_t n_peers,
                  const struct br_strlist *add_hosts)
{
	struct text t = {0};

	text_addf(&t, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	if (n_own == 0)
		text_addf(&t, "127.0.1.1\t%s\n", names);
	for (size_t i = 0; i < n_own; i++)
		text_addf(&t, "%s\t%s\n", own[i], names);
	for (size_t i = 0; i < n_peers; i++)
		text_addf(&t, "%s\t%s\n", peers[i].address, peers[i].names);
	for (size_t i = 0; add_hosts != NULL && i < add_hosts->n; i++) {
		/* "host:ip"; the ip is what follows the first colon (IPv6 has more). */
		const char *colon = strchr(add_hosts->v[i], ':');
		if (colon == NULL)
			continue;
		text_addf(&t, "%s\t%.*s\n", colon + 1, (int)(colon - add_hosts->v[i]),
		          add_hosts->v[i]);
	}
	return t.s;
}

/* True if the nameserver line's address is on loopback. */
static bool
loopback_ns(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
	       strcmp(addr, "0:0:0:0:0:0:0:1") == 0;
}

char *
netd_resolv_render(const char *host_text, const struct br_strlist *dns, bool keep_loopback)
{
	struct text t = {0};
	const char *line = host_text ? host_text : "";
	size_t kept = 0;

	text_addf(&t, "%s", "");
	while (*line != '\0') {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		char addr[64] = "";
		bool is_ns = sscanf(line, "nameserver %63s", addr) == 1;
		if (!is_ns ||
		    (!(dns != NULL && dns->n > 0) && (keep_loopback || !loopback_ns(addr)))) {
			text_addf(&t, "%.*s\n", (int)len, line);
			kept += is_ns;
		}
		line += len + (nl != NULL);
	}
	if (dns != NULL && dns->n > 0) {
		for (size_t i = 0; i < dns->n; i++)
			text_addf(&t, "nameserver %s\n", dns->v[i]);
	} else if (kept == 0) {
		text_addf(&t, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
	}
	return t.s;
}

int
netd_resolv_write(const char *dir, const struct br_strlist *dns, bool host_mode, br_err *err)
{
	_cleanup_free_ char *host = NULL;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	br_err ignored = BR_ERR_INIT;

	/* A host without one gives the defaults. */
	if (br_read_file_at(AT_FDCWD, "/etc/resolv.conf", 64 * 1024, &host, &len, &ignored) < 0)
		host = NULL;
	text = netd_resolv_render(host, dns, host_mode);
	return netd_file_rewrite(dir, "resolv.conf", text, err);
}

int
netd_file_rewrite(const char *dir, const char *name, const char *text, br_err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_close_ int fd =
	        open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return br_err_errno(err, BR_INTERNAL, errno, "write %s", path);
	return br_write_all(fd, text, strlen(text), err);
}

int
netd_files_remove(const char *state_dir, const char *ns, const char *id, br_err *err)
{
	_cleanup_free_ char *parent = xasprintf("%s/files/%s", state_dir, ns);
	_cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (pfd < 0)
		return errno == ENOENT ? 0
		                       : br_err_errno(err, BR_INTERNAL, errno, "open %s", parent);
	return br_rm_rf_at(pfd, id, err);
}

/* ------------------------------------------------------------------ hosts files kept current */

/* "10.88.0.5/16" without its prefix length, in `arena`. */
static const char *
bare_address(br_arena *arena, const char *address)
{
	char *a = br_arena_strdup(arena, address);
	a[strcspn(a, "/")] = '\0';
	return a;
}

/* "name hostname", or one of them when they are the same or one is empty (`fallback`: the
 * id). */
static const char *
names_of(br_arena *arena, const char *first, const char *second, const char *fallback)
{
	if (first[0] == '\0')
		first = second[0] != '\0' ? second : fallback;
	if (second[0] == '\0' || strcmp(first, second) == 0)
		return first;
	return br_arena_printf(arena, "%s %s", first, second);
}

/* The hosts file of container ns/id from every ready interface (`all`, `n` of them): its own
 * addresses, and the others of its namespace on its networks. `rec`: its attachment, for one
 * that has no interface (modes none and host). */
static void
write_hosts(br_arena *arena, const struct netd_member *all, size_t n, const char *ns,
            const char *id, const struct netd_attachment_rec *rec)
{
	const char **own = br_arena_alloc(arena, (n + 1) * sizeof(*own));
	struct netd_host_entry *peers = br_arena_alloc(arena, (n + 1) * sizeof(*peers));
	const struct netd_member *self = NULL;
	size_t n_own = 0, n_peers = 0;
	br_err err = BR_ERR_INIT;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].ns, ns) != 0 || strcmp(all[i].id, id) != 0)
			continue;
		self = &all[i];
		own[n_own++] = bare_address(arena, all[i].address);
		for (size_t j = 0; j < n; j++) {
			const struct netd_member *p = &all[j];
			if (strcmp(p->network, all[i].network) != 0 || strcmp(p->ns, ns) != 0 ||
			    strcmp(p->id, id) == 0)
				continue;
			peers[n_peers].address = bare_address(arena, p->address);
			peers[n_peers].names = names_of(arena, p->name, p->hostname, p->id);
			n_peers++;
		}
	}
	const char *name = self ? self->name : rec->a.name;
	const char *hostname = self ? self->hostname : rec->hostname;
	const struct br_strlist *add_hosts = self ? &self->add_hosts : &rec->add_hosts;
	_cleanup_free_ char *dir = xstrdup(self ? self->hosts_path : rec->a.hosts_path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	_cleanup_free_ char *text = netd_hosts_render(names_of(arena, hostname, name, id), own,
	                                              n_own, peers, n_peers, add_hosts);
	if (netd_file_rewrite(dir, "hosts", text, &err) < 0)
		br_log_warn("NET-HOSTS", "container %s/%s: %s", ns, id, err.msg);
}

void
netd_refresh_hosts(struct netd_service *svc, const char *network, const char *ns, const char *id)
{
	br_arena *arena = br_arena_new();
	struct netd_member *all = NULL;
	size_t n = 0;
	br_err err = BR_ERR_INIT;

	/* One read of every interface: a file lists its container's peers on all its networks. */
	if (netd_store_members(svc->db, NULL, arena, &all, &n, &err) < 0) {
		br_log_warn("NET-HOSTS", "%s", err.msg);
		br_arena_free(arena);
		return;
	}
	/* A container has one row per network (the key), so each is written once. */
	for (size_t i = 0; network != NULL && i < n; i++) {
		if (strcmp(all[i].network, network) != 0 ||
		    (id != NULL && strcmp(all[i].ns, ns) == 0 && strcmp(all[i].id, id) == 0))
			continue;
		write_hosts(arena, all, n, all[i].ns, all[i].id, NULL);
	}
	if (id != NULL) {
		struct netd_attachment_rec rec;
		if (netd_store_get(svc->db, ns, id, arena, &rec, &err) == 0)
			write_hosts(arena, all, n, ns, id, &rec);
		else
			br_log_warn("NET-HOSTS", "%s", err.msg);
	}
	br_arena_free(arena);
}
