/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of volumes.* messages.
 */
#include "common/proto/volumes.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field volume_fields[] = {
        S(br_volume, name, BR_F_STR, BR_VOLUME_NAME_MAX, 0),
        S(br_volume, driver, BR_F_STR, 32, 0),
        S(br_volume, mountpoint, BR_F_STR, BR_PATH_MAX, 0),
        S(br_volume, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
        S(br_volume, created_at, BR_F_I64, 0, 0),
        S(br_volume, containers, BR_F_STRLIST, BR_VOLUME_USERS_MAX, 0),
};
const struct br_schema br_volume_schema = BR_SCHEMA(struct br_volume, volume_fields);

static const struct br_field create_fields[] = {
        S(br_volume_create_req, name, BR_F_STR, BR_VOLUME_NAME_MAX, 0),
        S(br_volume_create_req, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_volume_create_req_schema =
        BR_SCHEMA(struct br_volume_create_req, create_fields);

static const struct br_field name_fields[] = {
        S(br_volume_name_req, name, BR_F_STR, BR_VOLUME_NAME_MAX,
          BR_F_REQUIRED | BR_F_NONEMPTY | BR_F_ID),
};
const struct br_schema br_volume_name_req_schema =
        BR_SCHEMA(struct br_volume_name_req, name_fields);

static const struct br_field list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_volume_list_req),
};
const struct br_schema br_volume_list_req_schema =
        BR_SCHEMA(struct br_volume_list_req, list_req_fields);

static const struct br_field list_fields[] = {
        BR_FIELD_SUB(struct br_volume_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_volume_schema),
        S(br_volume_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_volume_list_resp_schema =
        BR_SCHEMA(struct br_volume_list_resp, list_fields);

static const struct br_field event_fields[] = {
        S(br_event_volume, name, BR_F_STR, BR_VOLUME_NAME_MAX, 0),
};
const struct br_schema br_event_volume_schema = BR_SCHEMA(struct br_event_volume, event_fields);
