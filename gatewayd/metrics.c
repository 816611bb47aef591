/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics endpoint of the suite (docs/metrics.md): GET /metrics on
 * gatewayd.metrics_address, served by the HTTP server of http.c. Each scrape asks every
 * backend for daemon.metrics at once, with a deadline of SCRAPE_TIMEOUT_MS so that a daemon
 * that is down or stuck costs the scrape that much at most and shows as berth_up 0, adds the
 * gateway's own figures (br_daemon_metrics: its RPC statistics, and the event log through the
 * hook below), labels every sample with the daemon it came from and renders the whole in the
 * Prometheus text format.
 *
 * A scrape holds no pointer to the endpoint's state: it needs the gateway and the daemon,
 * which outlive every call, and its connection, which outlives the answer (http.h). So the
 * endpoint can stop while scrapes are in flight; their backend calls end (CANCELED at the
 * latest when the clients close) and their answers go nowhere.
 */
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "gatewayd/gatewayd.h"
#include "gatewayd/http.h"

#define SCRAPE_TIMEOUT_MS 2000
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct gw_metrics {
	struct gateway *gw;
	struct br_daemon *daemon;
	struct gw_http_server *http;
};

struct scrape {
	struct gateway *gw;
	struct br_daemon *daemon;
	struct gw_http_conn *conn;
	struct br_metrics *m;
	int pending;
};

struct scrape_slot {
	struct scrape *scrape;
	int index; /* in gw->backends */
};

static void
set_up(struct br_metrics *m, const char *daemon, bool up)
{
	br_metrics_gauge(m, "berth_up", "Whether the daemon answered the scrape (1) or not (0).",
	                 BR_LABELS("daemon", daemon), up ? 1 : 0, NULL);
}

static void
scrape_finish(struct scrape *s)
{
	_cleanup_(br_metrics_freep) struct br_metrics *own = br_metrics_new();
	br_err err = BR_ERR_INIT;
	size_t len;

	br_daemon_metrics(s->daemon, own);
	if (br_metrics_merge(s->m, own, "daemon", "gatewayd", &err) < 0)
		br_log_warn("GW-METRICS", "gatewayd's own metrics: %s", err.msg);
	set_up(s->m, "gatewayd", true);
	char *text = br_metrics_render(s->m, &len);
	gw_http_respond(s->conn, 200, CONTENT_TYPE, text, len);
	free(text);
	br_metrics_free(s->m);
	free(s);
}

/* Add a backend's daemon.metrics reply to the scrape's set. */
static void
add_backend(struct scrape *s, const char *name, const void *reply, size_t len)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(br_metrics_freep) struct br_metrics *part = br_metrics_new();
	msgpack_object result;
	br_err err = BR_ERR_INIT;

	if (br_reply_decode(reply, len, arena, &result, &err) < 0 ||
	    br_metrics_unpack(&result, part, &err) < 0) {
		br_log_warn("GW-METRICS", "metrics of berth-%s: %s", name, err.msg);
		return;
	}
	if (br_metrics_merge(s->m, part, "daemon", name, &err) < 0)
		br_log_warn("GW-METRICS", "metrics of berth-%s: %s", name, err.msg);
}

static void
backend_done(void *data, const br_err *err, const void *reply, size_t len)
{
	struct scrape_slot *slot = data;
	struct scrape *s = slot->scrape;
	const char *name = s->gw->backends[slot->index].name;

	/* Down, stuck or gone: its berth_up says so; gateway.info and the logs tell why. */
	if (err != NULL)
		br_log_debug("GW-METRICS", "metrics of berth-%s: %s", name, err->msg);
	else
		add_backend(s, name, reply, len);
	set_up(s->m, name, err == NULL);
	free(slot);
	if (--s->pending == 0)
		scrape_finish(s);
}

/* GET /metrics. */
static void
scrape_start(struct gw_http_conn *conn, void *data)
{
	struct gw_metrics *gm = data;
	struct gateway *gw = gm->gw;
	struct scrape *s = xnew(struct scrape);
	msgpack_sbuffer sb;

	s->gw = gw;
	s->daemon = gm->daemon;
	s->conn = conn;
	s->m = br_metrics_new();
	s->pending = GW_N_BACKENDS;
	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, "daemon.metrics", NULL, NULL, SCRAPE_TIMEOUT_MS, NULL, NULL);
	for (int i = 0; i < GW_N_BACKENDS; i++) {
		struct scrape_slot *slot = xnew(struct scrape_slot);
		slot->scrape = s;
		slot->index = i;
		br_rpc_call_raw_async(gw->backends[i].client, gw->loop, sb.data, sb.size,
		                      SCRAPE_TIMEOUT_MS, backend_done, slot);
	}
	msgpack_sbuffer_destroy(&sb);
}

int
gw_metrics_start(struct gateway *gw, struct br_daemon *d, br_err *err)
{
	const char *address = gw->cfg->gatewayd.metrics_address;
	struct gw_metrics *gm;

	if (address == NULL || gw->metrics != NULL)
		return 0;
	gm = xnew(struct gw_metrics);
	gm->gw = gw;
	gm->daemon = d;
	if (gw_http_server_new(gw->loop->uv, address, "/metrics", scrape_start, gm, &gm->http,
	                       err) < 0) {
		free(gm);
		return br_err_wrap(err, "metrics endpoint");
	}
	gw->metrics = gm;
	br_log_info("GW-METRICS-LISTEN", "serving metrics on http://%s/metrics", address);
	return 0;
}

void
gw_metrics_stop(struct gateway *gw)
{
	struct gw_metrics *gm = gw->metrics;

	if (gm == NULL)
		return;
	gw_http_server_free(gm->http);
	free(gm);
	gw->metrics = NULL;
}

void
gw_metrics_own(void *data, struct br_metrics *m)
{
	struct gateway *gw = data;
	int64_t count, oldest, last;

	if (gw->events == NULL)
		return;
	gw_events_stats(gw, &count, &oldest, &last);
	br_metrics_gauge(m, "berth_event_log_events", "Events kept in the event log.", NULL,
	                 (double)count, NULL);
	br_metrics_gauge(m, "berth_event_log_oldest_sequence",
	                 "Sequence number of the oldest event kept (the newest + 1 when empty).",
	                 NULL, (double)oldest, NULL);
	br_metrics_gauge(m, "berth_event_log_last_sequence",
	                 "Sequence number of the newest event appended (0 before the first).", NULL,
	                 (double)last, NULL);
}
