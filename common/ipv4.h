/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPv4 addresses and subnets as networks use them: parsing CIDR text, overlap and the
 * host's routes. Pure except br_ipv4_host_routes.
 */
#ifndef BR_COMMON_IPV4_H
#define BR_COMMON_IPV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A subnet; addr in host byte order, the host bits zero. */
struct br_ipv4_net {
	uint32_t addr;
	int prefix; /* 0..32 */
};

#define BR_IPV4_TEXT_MAX 19 /* "255.255.255.255/32" and its NUL */

/* "a.b.c.d" into *ret (host order). -1 with INVALID_ARGUMENT naming `what` and the text. */
int br_ipv4_parse_addr(const char *s, const char *what, uint32_t *ret, br_err *err);
/* "a.b.c.d/n" into *ret; host bits must be zero ("10.1.2.3/16" is refused, naming the
 * subnet it means). */
int br_ipv4_parse_net(const char *s, const char *what, struct br_ipv4_net *ret, br_err *err);
/* Text forms into buf (at least BR_IPV4_TEXT_MAX bytes); return buf. */
char *br_ipv4_addr_str(uint32_t addr, char *buf);
char *br_ipv4_net_str(const struct br_ipv4_net *n, char *buf);

uint32_t br_ipv4_mask(int prefix);
bool br_ipv4_contains(const struct br_ipv4_net *n, uint32_t addr);
bool br_ipv4_overlap(const struct br_ipv4_net *a, const struct br_ipv4_net *b);

/* One route of the host's main table. */
struct br_ipv4_route {
	struct br_ipv4_net dst;
	char dev[16];
};

/* The host's IPv4 routes (/proc/net/route), default routes left out. *ret: heap array. */
int br_ipv4_host_routes(struct br_ipv4_route **ret, size_t *ret_n, br_err *err);
/* Parse the text of /proc/net/route (pure, for the tests). */
int br_ipv4_routes_parse(const char *text, struct br_ipv4_route **ret, size_t *ret_n);

#endif
