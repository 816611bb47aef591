/* SPDX-License-Identifier: Apache-2.0 */
/*
 * volumes.* (berth-taskd): named volumes, directories that outlive the containers that mount
 * them, as docker's local volumes.
 *
 *   volumes.create {name, labels}        -> br_volume   name "" or absent: generated; an
 *                                                        existing name answers that volume
 *   volumes.list   {page_size, page_token} -> {items: [br_volume], next_page_token}
 *   volumes.get    {name}                -> br_volume
 *   volumes.delete {name}                -> {}          FAILED_PRECONDITION while a container
 *                                                        (running or not) mounts it
 *
 * Names are [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. A volume's files are in `mountpoint`
 * (<root>/taskd/volumes/<ns>/<name>/_data). Events: /volumes/create and /volumes/delete with
 * br_event_volume.
 */
#ifndef BR_COMMON_PROTO_VOLUMES_H
#define BR_COMMON_PROTO_VOLUMES_H

#include "common/proto/types.h"

#define BR_VOLUME_NAME_MAX 128
#define BR_VOLUME_USERS_MAX 1024 /* containers listed in br_volume.containers */

struct br_volume {
	const char *name;
	const char *driver;     /* "local" */
	const char *mountpoint; /* the host directory */
	struct br_strmap labels;
	int64_t created_at;           /* ms since the epoch */
	struct br_strlist containers; /* ids of the containers that mount it */
};
extern const struct br_schema br_volume_schema;

struct br_volume_create_req {
	const char *name;
	struct br_strmap labels;
};
extern const struct br_schema br_volume_create_req_schema;

struct br_volume_name_req {
	const char *name;
};
extern const struct br_schema br_volume_name_req_schema;

struct br_volume_list_req {
	struct br_page_req page;
};
extern const struct br_schema br_volume_list_req_schema;

struct br_volume_list_resp {
	struct br_objlist items; /* struct br_volume, ordered by name */
	const char *next_page_token;
};
extern const struct br_schema br_volume_list_resp_schema;

/* /volumes/create, /volumes/delete */
struct br_event_volume {
	const char *name;
};
extern const struct br_schema br_event_volume_schema;

#endif
