/* SPDX-License-Identifier: Apache-2.0 */
/*
 * containers.rename: a container's display name. The id, which names the runtime state, the
 * bundle, the logs and the lease, stays; only the record's name changes, so a running
 * container is renamed as well as a stopped one. The new name is recorded with its
 * /containers/update event in one transaction. Loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

void
taskd_containers_rename(br_call *call, void *data)
{
	struct taskd *t = data;
	const struct br_container_rename_req *req = br_call_params(call);
	const char *ns = br_call_ns(call);
	br_err err = BR_ERR_INIT;
	struct container *c = taskd_get(t, ns, req->id, &err);
	struct container *other;

	if (c == NULL) {
		br_call_fail(call, &err);
		return;
	}
	if (strcmp(c->name, req->name) == 0) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "container \"%s\" is already named \"%s\"",
		              c->id, req->name);
		return;
	}
	if ((other = taskd_find_name(t, ns, req->name)) != NULL) {
		br_call_failf(call, BR_ALREADY_EXISTS,
		              "container name \"%s\" is already in use by container \"%s\"",
		              req->name, other->id);
		return;
	}
	char *old = c->name;
	c->name = xstrdup(req->name);
	if (taskd_store_rename(t, c, &err) < 0) {
		free(c->name);
		c->name = old;
		br_err_wrap(&err, "rename container \"%s\"", old);
		br_call_fail(call, &err);
		return;
	}
	br_log_info("TASK-RENAME", "container %s/%s renamed from %s to %s", ns, c->id, old,
	            c->name);
	free(old);
	struct br_container out;
	container_to_wire(c, &out);
	br_call_reply(call, &br_container_schema, &out);
}
