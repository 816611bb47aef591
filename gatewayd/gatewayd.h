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

struct gw_events;

struct gateway {
	const struct br_config *cfg;
	struct br_loop *loop;
	int64_t started_ms;
	struct gw_backend backends[GW_N_BACKENDS];
	sqlite3 *db;   /* namespaces (namespaces.c) and the event log (events.c) */
	char *last_ns; /* the namespace last known to exist: skips the insert on most writes */
	struct gw_events *events;
	struct gw_metrics *metrics; /* GET /metrics (metrics.c); NULL when off */
	struct gw_streams *streams; /* the stream socket (streams.c) */
};

/* Create the backend clients (they dial in the background and never fail because a backend
 * is down). Loop thread. */
int gw_backends_open(struct gateway *gw, br_err *err);
/* Free the clients; calls in flight complete with CANCELED first. Loop thread. */
void gw_backends_close(struct gateway *gw);
/* The backend serving daemon `name`, or NULL. */
struct gw_backend *gw_backend_find(struct gateway *gw, const char *name);

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

/* ---- auth.c: roles per namespace (gatewayd.users, gatewayd.access) ---- */

/* The caller's role in namespace `ns`; root: admin. */
enum br_role gw_role(struct gateway *gw, br_call *call, const char *ns);
/* True when the caller's role in `ns` is at least read. */
bool gw_may_read(struct gateway *gw, br_call *call, const char *ns);
/* Refuse the call (PERMISSION_DENIED "uid 1001 is not allowed to use berth") unless its peer
 * has a role in some namespace; root always has. Returns 0 when allowed; otherwise the call
 * has been answered and -1 is returned. */
int gw_authorize(struct gateway *gw, br_call *call);
/* As gw_authorize, and refuse unless the caller's role in `ns` is at least `need` ("uid 1001
 * has role read in namespace team-a: images.pull needs role user"), and the methods for root
 * alone (br_gateway_is_root_only) to anyone else: "content.delete writes the stores, which
 * only root may write, whatever the role (uid 1001)". */
int gw_require(struct gateway *gw, br_call *call, const char *ns, enum br_role need);
/* The check of gw_require for a peer known by its credentials (a stream's): 0, or -1 with
 * PERMISSION_DENIED saying why. */
int gw_check_peer(struct gateway *gw, uint32_t uid, uint32_t pid, const char *ns,
                  const char *method, enum br_role need, br_err *err);

/* ---- streams.c: the stream socket (common/stream.h) ---- */

/* Listen on the stream socket beside the gateway's socket (same mode and group); streams
 * whose caller may use them are handed to taskd. Loop thread. */
int gw_streams_start(struct gateway *gw, br_err *err);
void gw_streams_stop(struct gateway *gw);

/* ---- events.c: the event log ---- */

/* Open the log in gw->db (its tables made by the migrations of namespaces.c). Loop thread. */
int gw_events_open(struct gateway *gw, br_err *err);
/* Answer waiting subscribers and free the log's state. */
void gw_events_close(struct gateway *gw);
/* Append an event of the gateway's own (/namespaces/...) inside the caller's transaction on
 * gw->db; call gw_events_notify() after the commit. */
int gw_events_append(struct gateway *gw, const char *ns, const char *topic,
                     const struct br_schema *schema, const void *payload, br_err *err);
/* Wake subscribers waiting for new events (after a commit that appended some). */
void gw_events_notify(struct gateway *gw);
/* Figures for metrics: events kept, the oldest and newest sequence numbers. */
void gw_events_stats(struct gateway *gw, int64_t *ret_count, int64_t *ret_oldest,
                     int64_t *ret_last);
/* events.publish and events.subscribe. */
extern const struct br_method gw_event_methods[];
extern const size_t gw_n_event_methods;

/* ---- metrics.c: GET /metrics over HTTP ---- */

struct br_daemon;
struct br_metrics;

/* Serve GET /metrics on gatewayd.metrics_address (a no-op when unset): each scrape gathers
 * daemon.metrics of every backend and the gateway's own br_daemon_metrics(d). Errors name
 * the address (not a numeric address, in use); the caller logs them and serves on. `d` must
 * outlive the endpoint. Loop thread. */
int gw_metrics_start(struct gateway *gw, struct br_daemon *d, br_err *err);
/* Stop listening and close the connections; scrapes in flight end with their backend calls.
 * Idempotent. Loop thread. */
void gw_metrics_stop(struct gateway *gw);
/* The gateway's metrics hook (struct br_daemon.metrics; data: the gateway): the event log's
 * length and its oldest and newest sequence numbers. */
void gw_metrics_own(void *data, struct br_metrics *m);

#endif
