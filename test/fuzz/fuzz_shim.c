/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the berth-shim protocol: one SOCK_SEQPACKET packet as the shim decodes a
 * request (br_shim_req) and as taskd decodes a reply (br_shim_reply). Packets come from a
 * local socket only, but both ends are long-lived processes that must never crash on a bad
 * packet. Whatever decodes must survive an encode/decode round trip.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/proto/shim.h"

static void
round_trip(const struct br_schema *schema, const void *st)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object obj;
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_msg_encode(&pk, schema, st);
	void *again = br_arena_alloc(a, schema->size);
	if (br_msg_unpack(sb.data, sb.size, a, &obj, &err) < 0 ||
	    br_msg_decode(&obj, schema, "", a, again, &err) < 0)
		abort();
	msgpack_sbuffer_destroy(&sb);
	br_arena_free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct br_schema *const schemas[] = {&br_shim_req_schema,
	                                                  &br_shim_reply_schema};
	br_err err = BR_ERR_INIT;

	if (size > BR_SHIM_MSG_MAX)
		return 0; /* the shim receives into a buffer of this size */
	for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
		br_arena *arena = br_arena_new();
		msgpack_object obj;
		void *st = br_arena_alloc(arena, schemas[i]->size);
		if (br_msg_unpack(data, size, arena, &obj, &err) == 0 &&
		    br_msg_decode(&obj, schemas[i], "", arena, st, &err) == 0)
			round_trip(schemas[i], st);
		br_arena_free(arena);
	}
	return 0;
}
