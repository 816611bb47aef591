/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 addresses and subnets (common/ipv4.h).
 */
#include "common/ipv4.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/xalloc.h"

uint32_t
br_ipv4_mask(int prefix)
{
	return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

int
br_ipv4_parse_addr(const char *s, const char *what, uint32_t *ret, br_err *err)
{
	struct in_addr a;

	if (s == NULL || inet_pton(AF_INET, s, &a) != 1)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s \"%s\": not an IPv4 address (a.b.c.d)", what, s ? s : "");
	*ret = ntohl(a.s_addr);
	return 0;
}

int
br_ipv4_parse_net(const char *s, const char *what, struct br_ipv4_net *ret, br_err *err)
{
	char buf[BR_IPV4_TEXT_MAX + 1], text[BR_IPV4_TEXT_MAX];
	const char *slash = s ? strchr(s, '/') : NULL;
	char *end = NULL;
	long prefix;
	uint32_t addr = 0;
	br_err ignored = BR_ERR_INIT;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf) || slash[1] == '\0')
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s \"%s\": not an IPv4 subnet (a.b.c.d/n)", what, s ? s : "");
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	prefix = strtol(slash + 1, &end, 10);
	if (*end != '\0' || prefix < 0 || prefix > 32 || slash[1] == '+' || slash[1] == '-' ||
	    br_ipv4_parse_addr(buf, what, &addr, &ignored) < 0)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s \"%s\": not an IPv4 subnet (a.b.c.d/n)", what, s);
	ret->addr = addr & br_ipv4_mask((int)prefix);
	ret->prefix = (int)prefix;
	if (ret->addr != addr)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s \"%s\": host bits are set (the subnet is %s)", what, s,
		                  br_ipv4_net_str(ret, text));
	return 0;
}

char *
br_ipv4_addr_str(uint32_t addr, char *buf)
{
	snprintf(buf, BR_IPV4_TEXT_MAX, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255,
	         (addr >> 8) & 255, addr & 255);
	return buf;
}

char *
br_ipv4_net_str(const struct br_ipv4_net *n, char *buf)
{
	char a[BR_IPV4_TEXT_MAX];
	char out[BR_IPV4_TEXT_MAX + 16];
	snprintf(out, sizeof(out), "%s/%d", br_ipv4_addr_str(n->addr, a), n->prefix & 63);
	memcpy(buf, out, BR_IPV4_TEXT_MAX - 1);
	buf[BR_IPV4_TEXT_MAX - 1] = '\0';
	return buf;
}

bool
br_ipv4_contains(const struct br_ipv4_net *n, uint32_t addr)
{
	return (addr & br_ipv4_mask(n->prefix)) == n->addr;
}

bool
br_ipv4_overlap(const struct br_ipv4_net *a, const struct br_ipv4_net *b)
{
	int p = a->prefix < b->prefix ? a->prefix : b->prefix;
	return (a->addr & br_ipv4_mask(p)) == (b->addr & br_ipv4_mask(p));
}

/* Lines of "Iface Destination Gateway Flags RefCnt Use Metric Mask ..." with addresses in
 * network byte order as hex. */
int
br_ipv4_routes_parse(const char *text, struct br_ipv4_route **ret, size_t *ret_n)
{
	struct br_ipv4_route *v = NULL;
	size_t n = 0;
	const char *line = text;

	while (line != NULL && *line != '\0') {
		const char *nl = strchr(line, '\n');
		char dev[64];
		unsigned int dst, gw, flags, mask;
		if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", dev, &dst, &gw, &flags, &mask) ==
		            5 &&
		    strcmp(dev, "Iface") != 0 && mask != 0) {
			struct br_ipv4_route r = {0};
			uint32_t m = ntohl(mask);
			int prefix = 0;
			while (prefix < 32 && (m & (1u << (31 - prefix))))
				prefix++;
			r.dst.prefix = prefix;
			r.dst.addr = ntohl(dst) & br_ipv4_mask(prefix);
			memcpy(r.dev, dev, strnlen(dev, sizeof(r.dev) - 1));
			v = xrealloc(v, (n + 1) * sizeof(*v));
			v[n++] = r;
		}
		line = nl ? nl + 1 : NULL;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

int
br_ipv4_host_routes(struct br_ipv4_route **ret, size_t *ret_n, br_err *err)
{
	_cleanup_free_ char *text = NULL;
	size_t len = 0;

	if (br_read_file_at(AT_FDCWD, "/proc/net/route", 4 << 20, &text, &len, err) < 0)
		return br_err_wrap(err, "the host's routes");
	return br_ipv4_routes_parse(text, ret, ret_n);
}
