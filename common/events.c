/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Emitting events (events.h): an event is an outbox message to the event log whose params are
 * {"topic", "time", "payload"}; the outbox adds its sequence number and namespace when it
 * sends a batch.
 */
#include "common/events.h"

#include <time.h>

#include "common/outbox.h"

int64_t
br_event_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
br_event_add(sqlite3 *db, const char *ns, const char *topic, const struct br_schema *schema,
             const void *payload, br_err *err)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	br_msg_pack_str(&pk, "topic");
	br_msg_pack_str(&pk, topic);
	br_msg_pack_str(&pk, "time");
	msgpack_pack_int64(&pk, br_event_now());
	br_msg_pack_str(&pk, "payload");
	br_msg_encode(&pk, schema, payload);
	int rc = br_outbox_add_raw(db, BR_EVENTS_TARGET, "events.publish", ns, sb.data, sb.size,
	                           err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}
