/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of events.* (proto/events.h).
 */
#include "common/proto/events.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)
/* The namespace field, named "namespace" on the wire. */
#define NS_FIELD(st)                                                                           \
	{                                                                                      \
		"namespace", BR_F_STR, offsetof(struct st, ns), BR_NS_MAX, BR_F_REQUIRED, NULL \
	}

static const struct br_field event_in_fields[] = {
        S(br_event_in, seq, BR_F_I64, 0, BR_F_REQUIRED),
        NS_FIELD(br_event_in),
        S(br_event_in, topic, BR_F_STR, BR_TOPIC_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_event_in, time, BR_F_I64, 0, BR_F_REQUIRED),
        S(br_event_in, payload, BR_F_RAW, BR_EVENT_PAYLOAD_MAX, 0),
};
const struct br_schema br_event_in_schema = BR_SCHEMA(struct br_event_in, event_in_fields);

static const struct br_field publish_fields[] = {
        S(br_events_publish_req, source, BR_F_STR, BR_EVENT_SOURCE_MAX, BR_F_REQUIRED | BR_F_ID),
        BR_FIELD_SUB(struct br_events_publish_req, events, BR_F_OBJLIST, BR_EVENTS_PUBLISH_MAX, 0,
                     &br_event_in_schema),
};
const struct br_schema br_events_publish_req_schema =
        BR_SCHEMA(struct br_events_publish_req, publish_fields);

static const struct br_field publish_resp_fields[] = {
        S(br_events_publish_resp, last, BR_F_I64, 0, 0),
};
const struct br_schema br_events_publish_resp_schema =
        BR_SCHEMA(struct br_events_publish_resp, publish_resp_fields);

static const struct br_field event_fields[] = {
        S(br_event, seq, BR_F_I64, 0, BR_F_REQUIRED),
        S(br_event, time, BR_F_I64, 0, 0),
        NS_FIELD(br_event),
        S(br_event, topic, BR_F_STR, BR_TOPIC_MAX, BR_F_REQUIRED),
        S(br_event, payload, BR_F_RAW, BR_EVENT_PAYLOAD_MAX, 0),
};
const struct br_schema br_event_schema = BR_SCHEMA(struct br_event, event_fields);

static const struct br_field subscribe_fields[] = {
        S(br_events_subscribe_req, after, BR_F_I64, 0, 0),
        S(br_events_subscribe_req, since, BR_F_I64, 0, 0),
        S(br_events_subscribe_req, tail, BR_F_BOOL, 0, 0),
        S(br_events_subscribe_req, until_seq, BR_F_I64, 0, 0),
        S(br_events_subscribe_req, until, BR_F_I64, 0, 0),
        S(br_events_subscribe_req, namespaces, BR_F_STRLIST, BR_EVENTS_FILTERS_MAX, 0),
        S(br_events_subscribe_req, topics, BR_F_STRLIST, BR_EVENTS_FILTERS_MAX, 0),
        S(br_events_subscribe_req, limit, BR_F_U32, 0, 0),
        S(br_events_subscribe_req, wait_ms, BR_F_I64, 0, 0),
};
const struct br_schema br_events_subscribe_req_schema =
        BR_SCHEMA(struct br_events_subscribe_req, subscribe_fields);

static const struct br_field page_fields[] = {
        BR_FIELD_SUB(struct br_event_page, events, BR_F_OBJLIST, BR_EVENTS_PAGE_MAX, 0,
                     &br_event_schema),
        S(br_event_page, next, BR_F_I64, 0, 0),
        S(br_event_page, oldest, BR_F_I64, 0, 0),
        S(br_event_page, last, BR_F_I64, 0, 0),
        S(br_event_page, done, BR_F_BOOL, 0, 0),
};
const struct br_schema br_event_page_schema = BR_SCHEMA(struct br_event_page, page_fields);
