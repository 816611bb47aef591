/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-gatewayd's shared state: one RPC client per backend daemon, the configuration and the
 * loop. Everything here lives on the loop thread.
 */
#ifndef BR_GATEWAYD_GATEWAYD_H
#define BR_GATEWAYD_GATEWAYD_H

#include <sqlite3.h>

#include "common/config.h"
#include "common/loop.h"
#include "common/rpc.h"

/* The backends, in the order gateway.info reports them. */
#define GW_N_BACKENDS 5
extern const char *const gw_backend_names[GW_N_BACKENDS]; /* "contentd", ... */

struct gw_backend {
	const char *name; /* "contentd" */
	char *proc_name;  /* "berth-contentd" */
	br_rpc_client *client;
};

struct gateway {
	const struct br_config *cfg;
	struct br_loop *loop;
	int64_t started_ms;
	struct gw_backend backends[GW_N_BACKENDS];
	sqlite3 *db;   /* namespaces (namespaces.c) */
	char *last_ns; /* the namespace last known to exist: skips the insert on most writes */
};

/* Create the backend clients (they dial in the background and never fail because a backend
 * is down). Loop thread. */
int gw_backends_open(struct gateway *gw, br_err *err);
/* Free the clients; calls in flight complete with CANCELED first. Loop thread. */
void gw_backends_close(struct gateway *gw);
/* The backend serving daemon `name`, or NULL. */
struct gw_backend *gw_backend_find(struct gateway *gw, const char *name);

/* Refuse the call (PERMISSION_DENIED) unless its peer is root or a configured user. Returns
 * 0 when allowed; otherwise the call has been answered and -1 is returned. */
int gw_authorize(struct gateway *gw, br_call *call);

/* The fallback handler: forwards "<service>.<verb>" to the owning daemon. */
void gw_forward(br_call *call, void *data);

/* gateway.info. */
void gw_info(br_call *call, void *data);

/* ---- namespaces.c ---- */

/* Open <data_dir>/meta.db, the namespaces table ("default" in it from the start). */
int gw_namespaces_open(struct gateway *gw, const char *data_dir, br_err *err);
/* Record that namespace `ns` exists (a write names it); errors are logged. */
void gw_namespace_touch(struct gateway *gw, const char *ns);
/* namespaces.list|get|create|delete, handled by the gateway itself. */
extern const struct br_method gw_namespace_methods[];
extern const size_t gw_n_namespace_methods;

#endif
