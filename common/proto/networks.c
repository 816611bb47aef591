/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of networks.* messages.
 */
#include "common/proto/networks.h"

#include "common/proto/tasks.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field attach_fields[] = {
        S(br_net_attach_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_net_attach_req, mode, BR_F_STR, 64, 0),
        S(br_net_attach_req, hostname, BR_F_STR, 253, 0),
};
const struct br_schema br_net_attach_req_schema =
        BR_SCHEMA(struct br_net_attach_req, attach_fields);

static const struct br_field id_fields[] = {
        S(br_net_id_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_net_id_req_schema = BR_SCHEMA(struct br_net_id_req, id_fields);

static const struct br_field attachment_fields[] = {
        S(br_net_attachment, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_net_attachment, mode, BR_F_STR, 64, 0),
        S(br_net_attachment, netns_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, hosts_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, resolv_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, created_at, BR_F_I64, 0, 0),
};
const struct br_schema br_net_attachment_schema =
        BR_SCHEMA(struct br_net_attachment, attachment_fields);

static const struct br_field list_fields[] = {
        BR_FIELD_SUB(struct br_net_list_resp, items, BR_F_OBJLIST, 100000, 0,
                     &br_net_attachment_schema),
};
const struct br_schema br_net_list_resp_schema = BR_SCHEMA(struct br_net_list_resp, list_fields);

static const struct br_field event_attachment_fields[] = {
        S(br_event_network_attachment, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_network_attachment, network, BR_F_STR, 64, 0),
        S(br_event_network_attachment, netns_path, BR_F_STR, BR_PATH_MAX, 0),
};
const struct br_schema br_event_network_attachment_schema =
        BR_SCHEMA(struct br_event_network_attachment, event_attachment_fields);
