/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Schemas of images.* messages (jobs.* use the shared job schemas in types.c).
 */
#include "common/proto/images.h"

#define S(st, f, t, max, fl) BR_FIELD(struct st, f, t, max, fl)

static const struct br_field auth_fields[] = {
        S(br_registry_auth, username, BR_F_STR, BR_REGISTRY_AUTH_MAX, 0),
        S(br_registry_auth, password, BR_F_STR, BR_REGISTRY_AUTH_MAX, 0),
        S(br_registry_auth, identity_token, BR_F_STR, BR_REGISTRY_AUTH_MAX, 0),
};
const struct br_schema br_registry_auth_schema = BR_SCHEMA(struct br_registry_auth, auth_fields);

static const struct br_field pull_fields[] = {
        S(br_image_pull_req, ref, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_image_pull_req, platform, BR_F_STR, 64, 0),
        BR_FIELD_SUB(struct br_image_pull_req, auth, BR_F_OBJ, 0, 0, &br_registry_auth_schema),
};
const struct br_schema br_image_pull_req_schema = BR_SCHEMA(struct br_image_pull_req, pull_fields);

static const struct br_field login_fields[] = {
        S(br_image_login_req, registry, BR_F_STR, 255, BR_F_REQUIRED | BR_F_NONEMPTY),
        BR_FIELD_SUB(struct br_image_login_req, auth, BR_F_OBJ, 0, 0, &br_registry_auth_schema),
};
const struct br_schema br_image_login_req_schema =
        BR_SCHEMA(struct br_image_login_req, login_fields);

static const struct br_field import_fields[] = {
        S(br_image_import_req, digest, BR_F_STR, 0, BR_F_REQUIRED | BR_F_DIGEST),
        S(br_image_import_req, name, BR_F_STR, BR_NAME_MAX, 0),
        S(br_image_import_req, platform, BR_F_STR, 64, 0),
};
const struct br_schema br_image_import_req_schema =
        BR_SCHEMA(struct br_image_import_req, import_fields);

static const struct br_field push_fields[] = {
        S(br_image_push_req, name, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_image_push_req, dest, BR_F_STR, BR_NAME_MAX, 0),
        S(br_image_push_req, platform, BR_F_STR, 64, 0),
        BR_FIELD_SUB(struct br_image_push_req, auth, BR_F_OBJ, 0, 0, &br_registry_auth_schema),
};
const struct br_schema br_image_push_req_schema = BR_SCHEMA(struct br_image_push_req, push_fields);

static const struct br_field tag_fields[] = {
        S(br_image_tag_req, source, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        S(br_image_tag_req, target, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
};
const struct br_schema br_image_tag_req_schema = BR_SCHEMA(struct br_image_tag_req, tag_fields);
static const struct br_field export_fields[] = {
        S(br_image_export_req, names, BR_F_STRLIST, BR_IMAGE_EXPORT_MAX, BR_F_REQUIRED),
        S(br_image_export_req, format, BR_F_STR, 16, 0),
        S(br_image_export_req, platform, BR_F_STR, 64, 0),
};
const struct br_schema br_image_export_req_schema =
        BR_SCHEMA(struct br_image_export_req, export_fields);

static const struct br_field name_fields[] = {
        S(br_image_name_req, name, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
};
const struct br_schema br_image_name_req_schema = BR_SCHEMA(struct br_image_name_req, name_fields);

static const struct br_field image_fields[] = {
        S(br_image, name, BR_F_STR, BR_NAME_MAX, 0),
        BR_FIELD_SUB(struct br_image, target, BR_F_OBJ, 0, 0, &br_descriptor_schema),
        S(br_image, manifest_digest, BR_F_STR, 0, BR_F_DIGEST),
        S(br_image, config_digest, BR_F_STR, 0, BR_F_DIGEST),
        S(br_image, chain_id, BR_F_STR, 0, BR_F_DIGEST),
        S(br_image, snapshot, BR_F_STR, BR_KEY_MAX, 0),
        S(br_image, platform, BR_F_STR, 64, 0),
        S(br_image, size, BR_F_I64, 0, 0),
        S(br_image, created_at, BR_F_I64, 0, 0),
        S(br_image, updated_at, BR_F_I64, 0, 0),
        S(br_image, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_image_schema = BR_SCHEMA(struct br_image, image_fields);

static const struct br_field list_req_fields[] = {
        BR_PAGE_FIELDS(struct br_image_list_req),
};
const struct br_schema br_image_list_req_schema =
        BR_SCHEMA(struct br_image_list_req, list_req_fields);

static const struct br_field list_fields[] = {
        BR_FIELD_SUB(struct br_image_list_resp, items, BR_F_OBJLIST, BR_PAGE_MAX, 0,
                     &br_image_schema),
        S(br_image_list_resp, next_page_token, BR_F_STR, BR_PAGE_TOKEN_MAX, 0),
};
const struct br_schema br_image_list_resp_schema =
        BR_SCHEMA(struct br_image_list_resp, list_fields);

static const struct br_field runtime_fields[] = {
        S(br_image_runtime, name, BR_F_STR, BR_NAME_MAX, 0),
        S(br_image_runtime, chain_id, BR_F_STR, 0, BR_F_DIGEST),
        S(br_image_runtime, snapshot, BR_F_STR, BR_KEY_MAX, 0),
        S(br_image_runtime, snapshotter, BR_F_STR, 64, 0),
        S(br_image_runtime, user, BR_F_STR, 256, 0),
        S(br_image_runtime, env, BR_F_STRLIST, 4096, 0),
        S(br_image_runtime, entrypoint, BR_F_STRLIST, 1024, 0),
        S(br_image_runtime, cmd, BR_F_STRLIST, 1024, 0),
        S(br_image_runtime, working_dir, BR_F_STR, BR_PATH_MAX, 0),
        S(br_image_runtime, stop_signal, BR_F_STR, 32, 0),
};
const struct br_schema br_image_runtime_schema = BR_SCHEMA(struct br_image_runtime, runtime_fields);

static const struct br_field event_fields[] = {
        S(br_event_image, name, BR_F_STR, BR_NAME_MAX, BR_F_REQUIRED | BR_F_NONEMPTY),
        BR_FIELD_SUB(struct br_event_image, target, BR_F_OBJ, 0, 0, &br_descriptor_schema),
        S(br_event_image, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
const struct br_schema br_event_image_schema = BR_SCHEMA(struct br_event_image, event_fields);
