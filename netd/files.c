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
