/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network attachments that netd holds for containers taskd has no record of are released:
 * a create undone while netd was down (its networks.detach could not be made), a record that
 * went while netd was away. Shortly after start and then every TASKD_NET_SWEEP_MS: the
 * attachments of each namespace taskd knows are listed on a worker, matched with the records
 * on the loop (a record exists before its container's network is asked for, so a container
 * being made is never taken for an orphan), and the orphans detached on a worker.
 */
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "common/proto/networks.h"
#include "common/xalloc.h"
#include "taskd/taskd.h"

#define TASKD_NET_SWEEP_FIRST_MS 3000

struct orphan {
	char *ns, *id;
};

struct sweep {
	uv_work_t work;
	struct taskd *t;
	char **nss;
	size_t n_ns;
	struct orphan *v;
	size_t n;
	bool detaching;
};

static void
sweep_free(struct sweep *s)
{
	for (size_t i = 0; i < s->n_ns; i++)
		free(s->nss[i]);
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].ns);
		free(s->v[i].id);
	}
	free(s->nss);
	free(s->v);
	free(s);
}

static void
detach_orphans(struct sweep *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct br_call_opts o = {.ns = s->v[i].ns, .timeout_ms = TASKD_PEER_TIMEOUT_MS};
		struct br_net_id_req req = {.id = s->v[i].id};
		br_err err = BR_ERR_INIT;
		if (br_rpc_call(s->t->netd, &o, "networks.detach", &br_net_id_req_schema, &req,
		                NULL, NULL, NULL, &err) < 0 &&
		    err.code != BR_NOT_FOUND)
			br_log_warn("TASK-NET-LEAK",
			            "container %s/%s: networks.detach: %s, again later", s->v[i].ns,
			            s->v[i].id, err.msg);
		else
			br_log_notice("TASK-NET-SWEEP",
			              "released the network of %s/%s, which has no record",
			              s->v[i].ns, s->v[i].id);
	}
}

static void
list_attachments(struct sweep *s)
{
	for (size_t i = 0; i < s->n_ns; i++) {
		struct br_call_opts o = {.ns = s->nss[i], .timeout_ms = TASKD_PEER_TIMEOUT_MS};
		br_arena *arena = br_arena_new();
		struct br_net_list_resp resp;
		br_err err = BR_ERR_INIT;
		if (br_rpc_call(s->t->netd, &o, "networks.attachments", NULL, NULL,
		                &br_net_list_resp_schema, &resp, arena, &err) == 0) {
			for (size_t k = 0; k < resp.items.n; k++) {
				const struct br_net_attachment *a =
				        (const struct br_net_attachment *)resp.items.v + k;
				s->v = xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
				s->v[s->n++] = (struct orphan){xstrdup(s->nss[i]), xstrdup(a->id)};
			}
		}
		br_arena_free(arena);
	}
}

static void
sweep_work(uv_work_t *w)
{
	struct sweep *s = w->data;

	if (s->detaching)
		detach_orphans(s);
	else
		list_attachments(s);
}

static void
sweep_done(uv_work_t *w, int status)
{
	struct sweep *s = w->data;
	struct taskd *t = s->t;
	size_t kept = 0;

	taskd_work_done(t);
	if (s->detaching || t->stopping) {
		sweep_free(s);
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		if (taskd_find(t, s->v[i].ns, s->v[i].id) != NULL) {
			free(s->v[i].ns);
			free(s->v[i].id);
		} else {
			s->v[kept++] = s->v[i];
		}
	}
	s->n = kept;
	if (kept == 0) {
		sweep_free(s);
		return;
	}
	s->detaching = true;
	taskd_queue(t, &s->work, sweep_work, sweep_done);
}

static void
sweep_start(uv_timer_t *timer)
{
	struct taskd *t = timer->data;
	struct sweep *s;

	if (t->stopping)
		return;
	s = xnew(struct sweep);
	s->work.data = s;
	s->t = t;
	/* Every namespace of a record, and "default". */
	s->nss = xmalloc(sizeof(*s->nss));
	s->nss[s->n_ns++] = xstrdup("default");
	for (struct container *c = t->containers; c != NULL; c = c->next) {
		bool seen = false;
		for (size_t i = 0; i < s->n_ns && !seen; i++)
			seen = strcmp(s->nss[i], c->ns) == 0;
		if (seen)
			continue;
		s->nss = xrealloc(s->nss, (s->n_ns + 1) * sizeof(*s->nss));
		s->nss[s->n_ns++] = xstrdup(c->ns);
	}
	taskd_queue(t, &s->work, sweep_work, sweep_done);
}

void
taskd_net_sweep_start(struct taskd *t)
{
	uv_timer_init(t->uv, &t->net_sweep);
	t->net_sweep.data = t;
	uv_timer_start(&t->net_sweep, sweep_start, TASKD_NET_SWEEP_FIRST_MS, TASKD_NET_SWEEP_MS);
}

void
taskd_net_sweep_stop(struct taskd *t)
{
	if (t->net_sweep.data != NULL) {
		uv_timer_stop(&t->net_sweep);
		uv_close((uv_handle_t *)&t->net_sweep, NULL);
		t->net_sweep.data = NULL;
	}
}
