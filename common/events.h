/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Emitting events. A daemon adds an event in the same SQLite transaction as the change it
 * reports, so the event exists exactly when the change does, whatever crashes when; after the
 * commit it kicks its outbox, which delivers the event to the gateway's log (events.publish)
 * until the log acknowledged it (outbox.h). The log numbers events in the order it receives
 * them; events of one daemon arrive in the order their changes were committed.
 *
 *   br_db_begin(db) ... change ... br_event_add(db, ns, BR_TOPIC_IMAGE_DELETE,
 *                                                &br_event_image_schema, &ev, err)
 *   br_db_commit(db) ... br_outbox_kick(outbox)
 *
 * Topics and their payloads: common/proto/events.h and docs/api.md.
 */
#ifndef BR_COMMON_EVENTS_H
#define BR_COMMON_EVENTS_H

#include <sqlite3.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/events.h"

/* The outbox target that is the event log, with br_outbox_peer.events set. */
#define BR_EVENTS_TARGET "gatewayd"

/* Queue event `topic` of namespace `ns` with its payload packed from `schema`/`payload`
 * (NULL schema: an empty map), stamped with the time now. Inside the change's transaction;
 * any thread that owns `db`. */
int br_event_add(sqlite3 *db, const char *ns, const char *topic, const struct br_schema *schema,
                 const void *payload, br_err *err);

/* Nanoseconds since the epoch (CLOCK_REALTIME): an event's time. */
int64_t br_event_now(void);

#endif
