/* SPDX-License-Identifier: Apache-2.0 */
/*
 * events.* (berth-gatewayd): the event log. docs/events.md has the model, docs/api.md every
 * topic's payload.
 *
 *   events.publish   {source, events: [br_event_in]} -> {last}
 *       From the daemons' outboxes (root only). `source` names one daemon's database
 *       ("taskd.3f2a9c0d11e4b7a8"); each event carries that database's outbox sequence
 *       number. The gateway appends, in one transaction, the events whose number is above the
 *       last it took from that source, and answers that last number: a retried batch is
 *       recognised and nothing is appended twice.
 *
 *   events.subscribe {after, since, tail, until_seq, until, namespaces, topics, limit,
 *                     wait_ms} -> br_event_page
 *       The events after sequence number `after` (0: from the first; or from time `since`,
 *       in ns since the epoch; or with `tail`, only those appended from now on), at most
 *       `limit`, in order, that
 *       match the filters: a namespace in `namespaces` (empty: every namespace the caller
 *       may read) and a topic starting with one of `topics` (empty: all). When none match
 *       yet, the call waits up to `wait_ms` for one. `until_seq`/`until` end the stream:
 *       `done` says it ended. FAILED_PRECONDITION when the log no longer holds events from
 *       where the caller asked to start, naming the oldest sequence number it keeps.
 */
#ifndef BR_COMMON_PROTO_EVENTS_H
#define BR_COMMON_PROTO_EVENTS_H

#include "common/proto/types.h"

#define BR_TOPIC_MAX 128
#define BR_EVENT_SOURCE_MAX 64
#define BR_EVENT_PAYLOAD_MAX (64u << 10)
#define BR_EVENTS_PUBLISH_MAX 256  /* events in one events.publish */
#define BR_EVENTS_PAGE_DEFAULT 256 /* events in one events.subscribe answer */
#define BR_EVENTS_PAGE_MAX 1024
#define BR_EVENTS_WAIT_MAX_MS 60000 /* longest wait of one events.subscribe */
#define BR_EVENTS_FILTERS_MAX 32    /* namespaces or topics in one filter */

/* Topics, in containerd's style. The payload of each is documented in docs/api.md. */
#define BR_TOPIC_IMAGE_CREATE "/images/create"
#define BR_TOPIC_IMAGE_UPDATE "/images/update"
#define BR_TOPIC_IMAGE_DELETE "/images/delete"
#define BR_TOPIC_CONTENT_DELETE "/content/delete"
#define BR_TOPIC_SNAPSHOT_PREPARE "/snapshots/prepare"
#define BR_TOPIC_SNAPSHOT_COMMIT "/snapshots/commit"
#define BR_TOPIC_SNAPSHOT_REMOVE "/snapshots/remove"
#define BR_TOPIC_LEASE_CREATE "/leases/create"
#define BR_TOPIC_LEASE_DELETE "/leases/delete"
#define BR_TOPIC_NAMESPACE_CREATE "/namespaces/create"
#define BR_TOPIC_NAMESPACE_DELETE "/namespaces/delete"
#define BR_TOPIC_CONTAINER_CREATE "/containers/create"
#define BR_TOPIC_CONTAINER_UPDATE "/containers/update"
#define BR_TOPIC_CONTAINER_DELETE "/containers/delete"
#define BR_TOPIC_TASK_CREATE "/tasks/create"
#define BR_TOPIC_TASK_START "/tasks/start"
#define BR_TOPIC_TASK_EXIT "/tasks/exit"
#define BR_TOPIC_TASK_DELETE "/tasks/delete"
#define BR_TOPIC_TASK_OOM "/tasks/oom"
#define BR_TOPIC_TASK_PAUSED "/tasks/paused"
#define BR_TOPIC_TASK_RESUMED "/tasks/resumed"
#define BR_TOPIC_TASK_EXEC_ADDED "/tasks/exec-added"
#define BR_TOPIC_TASK_EXEC_STARTED "/tasks/exec-started"
#define BR_TOPIC_NETWORK_CREATE "/networks/create"
#define BR_TOPIC_NETWORK_DELETE "/networks/delete"
#define BR_TOPIC_NETWORK_CONNECT "/networks/connect"
#define BR_TOPIC_NETWORK_DISCONNECT "/networks/disconnect"
#define BR_TOPIC_GC_RUN "/gc/run"
#define BR_TOPIC_VOLUME_CREATE "/volumes/create"
#define BR_TOPIC_VOLUME_DELETE "/volumes/delete"

/* One event as a daemon publishes it. */
struct br_event_in {
	int64_t seq;    /* the source's outbox sequence number */
	const char *ns; /* "namespace" on the wire */
	const char *topic;
	int64_t time;            /* ns since the epoch, when the change was committed */
	struct br_bytes payload; /* a packed msgpack map (BR_F_RAW) */
};
extern const struct br_schema br_event_in_schema;

struct br_events_publish_req {
	const char *source;
	struct br_objlist events; /* struct br_event_in, in sequence order */
};
extern const struct br_schema br_events_publish_req_schema;

struct br_events_publish_resp {
	int64_t last; /* the highest sequence number of `source` the log holds */
};
extern const struct br_schema br_events_publish_resp_schema;

/* One event of the log. */
struct br_event {
	int64_t seq; /* the log's sequence number: 1, 2, 3 ... without gaps when appended */
	int64_t time;
	const char *ns; /* "namespace" on the wire */
	const char *topic;
	struct br_bytes payload; /* BR_F_RAW */
};
extern const struct br_schema br_event_schema;

struct br_events_subscribe_req {
	int64_t after;     /* start after this sequence number (0: from the first) */
	int64_t since;     /* or at the first event at or after this time (ns); 0: not used */
	bool tail;         /* or with the next event appended */
	int64_t until_seq; /* 0: no end */
	int64_t until;     /* ns since the epoch; 0: no end */
	struct br_strlist namespaces;
	struct br_strlist topics; /* prefixes */
	uint32_t limit;           /* 0: BR_EVENTS_PAGE_DEFAULT */
	int64_t wait_ms;          /* 0: answer at once */
};
extern const struct br_schema br_events_subscribe_req_schema;

struct br_event_page {
	struct br_objlist events; /* struct br_event */
	int64_t next;   /* pass as `after` to continue: the last sequence number looked at */
	int64_t oldest; /* the oldest sequence number the log keeps (last + 1 when empty) */
	int64_t last;   /* the newest sequence number appended */
	bool done;      /* until_seq or until was reached: nothing more will come */
};
extern const struct br_schema br_event_page_schema;

#endif
