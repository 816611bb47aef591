/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for what a server does with untrusted request bytes: br_request_decode() (the
 * bounded pre-scan, msgpack unpacking and envelope checks), then br_msg_decode() of the
 * params against real schemas covering every field type (strings with flags, binary,
 * integers, lists, label maps, embedded objects, object lists and raw maps: an event's
 * payload). Anything decoded is
 * re-encoded and decoded again, which must succeed.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/proto/content.h"
#include "common/proto/events.h"
#include "common/proto/gateway.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/proto/snapshots.h"
#include "common/proto/tasks.h"
#include "common/proto/volumes.h"
#include "common/rpc.h"

static const struct br_schema *const schemas[] = {
        &br_content_write_req_schema,
        &br_image_schema,
        &br_image_list_resp_schema,
        &br_image_runtime_schema,
        &br_mount_schema,
        &br_job_schema,
        &br_lease_put_req_schema,
        &br_lease_list_req_schema,
        &br_lease_resources_req_schema,
        &br_lease_page_req_schema,
        &br_lease_list_resp_schema,
        &br_gc_result_schema,
        &br_image_list_req_schema,
        &br_content_list_req_schema,
        &br_snap_list_req_schema,
        &br_snap_usage_req_schema,
        &br_ns_usage_schema,
        &br_namespace_name_req_schema,
        &br_namespace_list_req_schema,
        &br_container_list_req_schema,
        &br_events_publish_req_schema,
        &br_events_subscribe_req_schema,
        &br_event_page_schema,
        &br_container_create_req_schema,
        &br_volume_create_req_schema,
        &br_volume_list_resp_schema,
        &br_container_id_req_schema,
        &br_container_schema,
        &br_task_schema,
        &br_event_task_exit_schema,
};

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
	    br_msg_decode(&obj, schema, "p", a, again, &err) < 0)
		abort(); /* what decoded once must survive a round trip */
	msgpack_sbuffer_destroy(&sb);
	br_arena_free(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	br_arena *arena = br_arena_new();
	struct br_request req;
	br_err err = BR_ERR_INIT;

	if (br_request_decode(data, size, arena, &req, &err) == 0) {
		for (size_t i = 0; i < sizeof(schemas) / sizeof(schemas[0]); i++) {
			void *st = br_arena_alloc(arena, schemas[i]->size);
			if (br_msg_decode(&req.params, schemas[i], "p", arena, st, &err) == 0)
				round_trip(schemas[i], st);
		}
	}
	br_arena_free(arena);
	return 0;
}
