/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One request with an envelope the CLI would never send, for the integration suites:
 *
 *   raw_call SOCKET METHOD NS DEADLINE_MS [NAME]
 *
 * sends {"v":1, "m":METHOD, "ns":NS, "deadline_ms":DEADLINE_MS, "p":{"name":NAME}} on a
 * fresh REQ connection to SOCKET (NS "" and DEADLINE_MS 0 are left out; DEADLINE_MS is an
 * unsigned 64-bit number, so it may be far past what any clock can add) and prints the reply:
 * "OK" or "CODE: message". Exits 0 when a reply came within 10 s, 1 otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/msg.h"
#include "common/rpc.h"

int
main(int argc, char **argv)
{
	nng_socket sock;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char url[256];
	void *reply = NULL;
	size_t len = 0;
	br_err err = BR_ERR_INIT;
	msgpack_object result;
	int rc;

	if (argc < 5) {
		fprintf(stderr, "usage: raw_call SOCKET METHOD NS DEADLINE_MS [NAME]\n");
		return 2;
	}
	const char *ns = argv[3];
	uint64_t deadline = strtoull(argv[4], NULL, 10);
	snprintf(url, sizeof(url), "ipc://%s", argv[1]);

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2 + (ns[0] != '\0') + (deadline != 0) + (argc > 5));
	br_msg_pack_str(&pk, "v");
	msgpack_pack_int(&pk, BR_RPC_VERSION);
	br_msg_pack_str(&pk, "m");
	br_msg_pack_str(&pk, argv[2]);
	if (ns[0] != '\0') {
		br_msg_pack_str(&pk, "ns");
		br_msg_pack_str(&pk, ns);
	}
	if (deadline != 0) {
		br_msg_pack_str(&pk, "deadline_ms");
		msgpack_pack_uint64(&pk, deadline);
	}
	if (argc > 5) {
		br_msg_pack_str(&pk, "p");
		msgpack_pack_map(&pk, 1);
		br_msg_pack_str(&pk, "name");
		br_msg_pack_str(&pk, argv[5]);
	}

	if ((rc = nng_req0_open(&sock)) != 0 ||
	    (rc = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 10000)) != 0 ||
	    (rc = nng_dial(sock, url, NULL, 0)) != 0 ||
	    (rc = nng_send(sock, sb.data, sb.size, 0)) != 0 ||
	    (rc = nng_recv(sock, &reply, &len, NNG_FLAG_ALLOC)) != 0) {
		fprintf(stderr, "raw_call: %s: %s\n", url, nng_strerror(rc));
		return 1;
	}
	br_arena *arena = br_arena_new();
	if (br_reply_decode(reply, len, arena, &result, &err) < 0)
		printf("%s: %s\n", br_code_name(err.code), err.msg);
	else
		printf("OK\n");
	br_arena_free(arena);
	nng_free(reply, len);
	msgpack_sbuffer_destroy(&sb);
	nng_close(sock);
	return 0;
}
