/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for CNI results (netd/cni.h): netd_cni_result_parse() over arbitrary bytes, as
 * netd reads what a plugin printed or what it kept of an earlier ADD. A result that parses
 * must give an IPv4 CIDR, a gateway that is empty or an IPv4 address, a mac that is empty or
 * six hex pairs, and a copy of exactly the bytes it was given.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netd/cni.h"

static void
check(const struct netd_cni_result *r, const uint8_t *data, size_t size)
{
	struct in_addr in;
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(r->address, '/');

	if (slash == NULL || (size_t)(slash - r->address) >= sizeof(addr))
		abort();
	memcpy(addr, r->address, (size_t)(slash - r->address));
	addr[slash - r->address] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1 || atoi(slash + 1) > 32)
		abort();
	if (r->gateway[0] != '\0' && inet_pton(AF_INET, r->gateway, &in) != 1)
		abort();
	if (r->mac[0] != '\0' && strlen(r->mac) != 17)
		abort();
	if (strlen(r->json) != size || memcmp(r->json, data, size) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ifnames[] = {"eth0", ""};

	for (size_t i = 0; i < sizeof(ifnames) / sizeof(ifnames[0]); i++) {
		struct netd_cni_result r = {0};
		br_err err = BR_ERR_INIT;
		if (netd_cni_result_parse((const char *)data, size, ifnames[i], &r, &err) < 0)
			continue;
		check(&r, data, size);
		netd_cni_result_fini(&r);
	}
	return 0;
}
