/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of networks.* messages.
 */
#include "common/proto/networks.h"

#include "common/proto/tasks.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field port_fields[] = {
        S(br_net_port, host_ip, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_net_port, host_port, BR_F_U32, 0, 0),
        S(br_net_port, container_port, BR_F_U32, 0, 0),
        S(br_net_port, protocol, BR_F_STR, 8, 0),
};
const struct br_schema br_net_port_schema = BR_SCHEMA(struct br_net_port, port_fields);

static const struct br_field attach_fields[] = {
        S(br_net_attach_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_net_attach_req, mode, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_net_attach_req, hostname, BR_F_STR, 253, 0),
        S(br_net_attach_req, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        BR_FIELD_SUB(struct br_net_attach_req, ports, BR_F_OBJLIST, BR_NET_PORTS_MAX, 0,
                     &br_net_port_schema),
        S(br_net_attach_req, dns, BR_F_STRLIST, BR_NET_DNS_MAX, 0),
        S(br_net_attach_req, add_hosts, BR_F_STRLIST, BR_NET_HOSTS_MAX, 0),
};
const struct br_schema br_net_attach_req_schema =
        BR_SCHEMA(struct br_net_attach_req, attach_fields);

static const struct br_field id_fields[] = {
        S(br_net_id_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_net_id_req_schema = BR_SCHEMA(struct br_net_id_req, id_fields);

static const struct br_field connect_fields[] = {
        S(br_net_connect_req, id, BR_F_STR, BR_CONTAINER_ID_MAX, BR_F_REQUIRED | BR_F_ID),
        S(br_net_connect_req, network, BR_F_STR, BR_NETWORK_NAME_MAX, BR_F_REQUIRED | BR_F_ID),
};
const struct br_schema br_net_connect_req_schema =
        BR_SCHEMA(struct br_net_connect_req, connect_fields);

static const struct br_field endpoint_fields[] = {
        S(br_net_endpoint, network, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_net_endpoint, ifname, BR_F_STR, 16, 0),
        S(br_net_endpoint, address, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_net_endpoint, gateway, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_net_endpoint, mac, BR_F_STR, 32, 0),
};
const struct br_schema br_net_endpoint_schema = BR_SCHEMA(struct br_net_endpoint, endpoint_fields);

static const struct br_field attachment_fields[] = {
        S(br_net_attachment, id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_net_attachment, mode, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_net_attachment, netns_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, hosts_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, resolv_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_net_attachment, created_at, BR_F_I64, 0, 0),
        S(br_net_attachment, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        BR_FIELD_SUB(struct br_net_attachment, endpoints, BR_F_OBJLIST, 64, 0,
                     &br_net_endpoint_schema),
        BR_FIELD_SUB(struct br_net_attachment, ports, BR_F_OBJLIST, BR_NET_PORTS_MAX, 0,
                     &br_net_port_schema),
};
const struct br_schema br_net_attachment_schema =
        BR_SCHEMA(struct br_net_attachment, attachment_fields);

static const struct br_field list_fields[] = {
        BR_FIELD_SUB(struct br_net_list_resp, items, BR_F_OBJLIST, 100000, 0,
                     &br_net_attachment_schema),
};
const struct br_schema br_net_list_resp_schema = BR_SCHEMA(struct br_net_list_resp, list_fields);

static const struct br_field create_fields[] = {
        S(br_network_create_req, name, BR_F_STR, BR_NETWORK_NAME_MAX,
          BR_F_REQUIRED | BR_F_NONEMPTY | BR_F_ID),
        S(br_network_create_req, subnet, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_network_create_req, gateway, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_network_create_req, internal, BR_F_BOOL, 0, 0),
        S(br_network_create_req, labels, BR_F_STRMAP, 256, 0),
};
const struct br_schema br_network_create_req_schema =
        BR_SCHEMA(struct br_network_create_req, create_fields);

static const struct br_field name_fields[] = {
        S(br_network_name_req, name, BR_F_STR, BR_NETWORK_NAME_MAX,
          BR_F_REQUIRED | BR_F_NONEMPTY | BR_F_ID),
};
const struct br_schema br_network_name_req_schema =
        BR_SCHEMA(struct br_network_name_req, name_fields);

static const struct br_field member_fields[] = {
        {"namespace", BR_F_STR, offsetof(struct br_network_member, ns), BR_NS_MAX, 0, NULL},
        S(br_network_member, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_network_member, name, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_network_member, ifname, BR_F_STR, 16, 0),
        S(br_network_member, address, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_network_member, mac, BR_F_STR, 32, 0),
};
const struct br_schema br_network_member_schema =
        BR_SCHEMA(struct br_network_member, member_fields);

static const struct br_field network_fields[] = {
        S(br_network, name, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_network, id, BR_F_STR, 64, 0),
        S(br_network, driver, BR_F_STR, 32, 0),
        S(br_network, bridge, BR_F_STR, 16, 0),
        S(br_network, subnet, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_network, gateway, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_network, internal, BR_F_BOOL, 0, 0),
        S(br_network, labels, BR_F_STRMAP, 256, 0),
        S(br_network, created_at, BR_F_I64, 0, 0),
        S(br_network, n_members, BR_F_U32, 0, 0),
        BR_FIELD_SUB(struct br_network, members, BR_F_OBJLIST, 100000, 0,
                     &br_network_member_schema),
        S(br_network, conflist, BR_F_STR, BR_PATH_MAX, 0),
};
const struct br_schema br_network_schema = BR_SCHEMA(struct br_network, network_fields);

static const struct br_field network_list_fields[] = {
        BR_FIELD_SUB(struct br_network_list_resp, items, BR_F_OBJLIST, 100000, 0,
                     &br_network_schema),
};
const struct br_schema br_network_list_resp_schema =
        BR_SCHEMA(struct br_network_list_resp, network_list_fields);

static const struct br_field event_attachment_fields[] = {
        S(br_event_network_attachment, container_id, BR_F_STR, BR_CONTAINER_ID_MAX, 0),
        S(br_event_network_attachment, network, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_event_network_attachment, netns_path, BR_F_STR, BR_PATH_MAX, 0),
        S(br_event_network_attachment, address, BR_F_STR, BR_NET_ADDR_MAX, 0),
};
const struct br_schema br_event_network_attachment_schema =
        BR_SCHEMA(struct br_event_network_attachment, event_attachment_fields);

static const struct br_field event_network_fields[] = {
        S(br_event_network, name, BR_F_STR, BR_NETWORK_NAME_MAX, 0),
        S(br_event_network, id, BR_F_STR, 64, 0),
        S(br_event_network, subnet, BR_F_STR, BR_NET_ADDR_MAX, 0),
        S(br_event_network, bridge, BR_F_STR, 16, 0),
};
const struct br_schema br_event_network_schema =
        BR_SCHEMA(struct br_event_network, event_network_fields);
