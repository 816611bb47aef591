/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth stats: what running containers use, as docker stats shows it: CPU % (the CPU time
 * the container used over the last interval, per wall-clock time, so 200% is two CPUs busy),
 * memory in use against the limit (the host's memory when the container has none) and its %,
 * network bytes received / sent, block bytes read / written, and processes. taskd answers
 * tasks.stats with cumulative counters; the rates come from two readings a second apart.
 * Without --no-stream the table is redrawn every second (cleared first on a terminal, a new
 * block after a blank line otherwise) until interrupted. With --format json each reading is
 * one JSON array on one line, with the raw numbers.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/tasks.h"
#include "common/xalloc.h"
#include "ctl/ctl.h"

#define STATS_INTERVAL_MS 1000

static const char stats_usage[] =
        "Usage: berth stats [-a|--all] [--no-stream] [--format table|json] [CONTAINER...]\n"
        "\n"
        "Show CPU %, memory usage / limit and %, network I/O, block I/O and processes of\n"
        "running containers (all of them without CONTAINER; -a: stopped ones too), every\n"
        "second until interrupted. --no-stream: one reading (over one second), then exit.\n";

/* One container's line of one reading. */
struct entry {
	char *ref; /* what the user named, or the id */
	char *id;  /* NULL until a reading succeeded */
	char *name;
	bool running;
	struct br_task_stats s;
	double cpu_percent; /* -1: not known yet */
};

struct reading {
	struct entry *v;
	size_t n;
};

static void
reading_fini(struct reading *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].ref);
		free(r->v[i].id);
		free(r->v[i].name);
	}
	free(r->v);
	*r = (struct reading){0};
}

static void
add_entry(struct reading *r, const char *ref)
{
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = (struct entry){.ref = xstrdup(ref), .cpu_percent = -1};
}

/* The containers to read: the named ones, else those listed (running ones unless `all`). */
static int
targets(struct ctl *ctl, char **names, int n, bool all, struct reading *ret, br_err *err)
{
	if (n > 0) {
		for (int i = 0; i < n; i++)
			add_entry(ret, names[i]);
		return 0;
	}
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_container_list_req req = {0};
	struct br_container_list_resp page;
	struct br_objlist list;
	if (ctl_list_all(ctl, "containers.list", &br_container_list_req_schema, &req, &req.page,
	                 &br_container_list_resp_schema, &page, &page.items, &page.next_page_token,
	                 sizeof(struct br_container), arena, &list, err) < 0)
		return -1;
	const struct br_container *cs = list.v;
	for (size_t i = 0; i < list.n; i++) {
		bool running = cs[i].status != NULL && (strcmp(cs[i].status, "running") == 0 ||
		                                        strcmp(cs[i].status, "paused") == 0);
		if (running || all)
			add_entry(ret, cs[i].id);
	}
	return 0;
}

/* Read every entry of `r`. A container that is not running reads as zeros; one that cannot
 * be found is reported and dropped. Returns the exit code of the last failure, or 0; -1 when
 * the gateway is gone. */
static int
take_reading(struct ctl *ctl, struct reading *r)
{
	int rc = 0;
	size_t kept = 0;

	for (size_t i = 0; i < r->n; i++) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct entry *e = &r->v[i];
		struct br_container_id_req req = {.id = e->ref};
		struct br_task_stats s;
		br_err err = BR_ERR_INIT;

		if (ctl_call(ctl, "tasks.stats", &br_container_id_req_schema, &req,
		             &br_task_stats_schema, &s, arena, 0, &err) == 0) {
			e->running = true;
			e->s = s;
			e->s.id = e->s.name = NULL;
			free(e->id);
			free(e->name);
			e->id = xstrdup(s.id);
			e->name = xstrdup(s.name);
		} else if (err.code == BR_FAILED_PRECONDITION) {
			struct br_container c;
			e->running = false;
			memset(&e->s, 0, sizeof(e->s));
			if (e->id == NULL &&
			    ctl_call(ctl, "containers.get", &br_container_id_req_schema, &req,
			             &br_container_schema, &c, arena, 0, &err) == 0) {
				e->id = xstrdup(c.id);
				e->name = xstrdup(c.name ? c.name : c.id);
			}
		} else {
			br_err_wrap(&err, "stats %s", e->ref);
			rc = ctl_report(&err);
			if (err.code == BR_UNAVAILABLE)
				return -1;
			free(e->ref);
			free(e->id);
			free(e->name);
			continue;
		}
		r->v[kept++] = *e;
	}
	r->n = kept;
	return rc;
}

/* CPU % of each entry of `cur` from its reading in `prev`. */
static void
rates(struct reading *cur, const struct reading *prev)
{
	for (size_t i = 0; i < cur->n; i++) {
		struct entry *e = &cur->v[i];
		e->cpu_percent = e->running ? -1 : 0;
		for (size_t k = 0; e->running && k < prev->n; k++) {
			const struct entry *p = &prev->v[k];
			if (p->id == NULL || e->id == NULL || strcmp(p->id, e->id) != 0 ||
			    !p->running || e->s.read_ns <= p->s.read_ns)
				continue;
			double cpu = (double)(e->s.cpu_usage_ns - p->s.cpu_usage_ns);
			if (e->s.cpu_usage_ns < p->s.cpu_usage_ns)
				cpu = 0;
			e->cpu_percent = cpu / (double)(e->s.read_ns - p->s.read_ns) * 100.0;
		}
	}
}

/* Binary units, as docker shows memory: "512KiB", "1.5MiB", "7.7GiB". */
static void
binary_size(uint64_t bytes, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, cap, "%.4g%s", v, units[u]);
}

static double
mem_percent(const struct entry *e)
{
	return e->s.memory_limit > 0 ? (double)e->s.memory_usage / (double)e->s.memory_limit * 100.0
	                             : 0.0;
}

static void
print_table(const struct reading *r)
{
	static const char *const headers[] = {"CONTAINER ID",      "NAME",  "CPU %",
	                                      "MEM USAGE / LIMIT", "MEM %", "NET I/O",
	                                      "BLOCK I/O",         "PIDS"};
	struct ctl_table *t = ctl_table_new(8, headers);

	for (size_t i = 0; i < r->n; i++) {
		const struct entry *e = &r->v[i];
		char cpu[32], mem[80], memp[32], net[80], blk[80], pids[32], a[32], b[32];
		if (e->cpu_percent < 0)
			snprintf(cpu, sizeof(cpu), "--");
		else
			snprintf(cpu, sizeof(cpu), "%.2f%%", e->cpu_percent);
		binary_size(e->s.memory_usage, a, sizeof(a));
		binary_size(e->s.memory_limit, b, sizeof(b));
		snprintf(mem, sizeof(mem), "%s / %s", a, b);
		snprintf(memp, sizeof(memp), "%.2f%%", mem_percent(e));
		if (e->s.network) {
			ctl_human_size((int64_t)e->s.net_rx, a, sizeof(a));
			ctl_human_size((int64_t)e->s.net_tx, b, sizeof(b));
			snprintf(net, sizeof(net), "%s / %s", a, b);
		} else {
			snprintf(net, sizeof(net), "--");
		}
		ctl_human_size((int64_t)e->s.block_read, a, sizeof(a));
		ctl_human_size((int64_t)e->s.block_write, b, sizeof(b));
		snprintf(blk, sizeof(blk), "%s / %s", a, b);
		snprintf(pids, sizeof(pids), "%llu", (unsigned long long)e->s.pids);
		const char *cells[] = {e->id ? e->id : e->ref,
		                       e->name ? e->name : e->ref,
		                       cpu,
		                       mem,
		                       memp,
		                       net,
		                       blk,
		                       pids};
		ctl_table_add(t, cells);
	}
	ctl_table_print(t, stdout);
	ctl_table_free(t);
}

static void
gen_number(yajl_gen g, const char *key, double v)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%.2f", v);

	br_json_gen_str(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

static void
print_json(const struct reading *r)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_array_open(g);
	for (size_t i = 0; i < r->n; i++) {
		const struct entry *e = &r->v[i];
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "id", e->id ? e->id : e->ref);
		br_json_gen_kv_str(g, "name", e->name ? e->name : e->ref);
		br_json_gen_kv_bool(g, "running", e->running);
		if (e->cpu_percent >= 0)
			gen_number(g, "cpu_percent", e->cpu_percent);
		br_json_gen_kv_int(g, "cpu_usage_ns", (int64_t)e->s.cpu_usage_ns);
		br_json_gen_kv_int(g, "memory_usage", (int64_t)e->s.memory_usage);
		br_json_gen_kv_int(g, "memory_limit", (int64_t)e->s.memory_limit);
		gen_number(g, "memory_percent", mem_percent(e));
		br_json_gen_kv_bool(g, "network", e->s.network);
		br_json_gen_kv_int(g, "net_rx", (int64_t)e->s.net_rx);
		br_json_gen_kv_int(g, "net_tx", (int64_t)e->s.net_tx);
		br_json_gen_kv_int(g, "block_read", (int64_t)e->s.block_read);
		br_json_gen_kv_int(g, "block_write", (int64_t)e->s.block_write);
		br_json_gen_kv_int(g, "pids", (int64_t)e->s.pids);
		br_json_gen_kv_int(g, "pids_limit", (int64_t)e->s.pids_limit);
		br_json_gen_kv_int(g, "cgroup", e->s.cgroup);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	ctl_print_json(g);
}

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0)
		;
}

int
ctl_cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"all", no_argument, NULL, 'a'},
	        {"no-stream", no_argument, NULL, 'N'},
	        {"format", required_argument, NULL, 'F'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool all = false, stream = true, tty = isatty(STDOUT_FILENO);
	br_err err = BR_ERR_INIT;
	int c, rc = 0;

	struct ctl_opts op = {argc, argv, "ah", opts, "stats"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'N':
			stream = false;
			break;
		case 'F':
			if (ctl_set_format(ctl, optarg) != 0)
				return CTL_EXIT_USAGE;
			break;
		case 'h':
			fputs(stats_usage, stdout);
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	char **names = argv + optind;
	int n_names = argc - optind;

	struct reading prev = {0}, cur = {0};
	if (targets(ctl, names, n_names, all, &prev, &err) < 0)
		return ctl_report(&err);
	if ((rc = take_reading(ctl, &prev)) < 0)
		return ctl_exit_code(BR_UNAVAILABLE);
	for (bool first = true;; first = false) {
		sleep_ms(STATS_INTERVAL_MS);
		if (n_names > 0) {
			/* the same containers, as the user named them */
			for (size_t i = 0; i < prev.n; i++)
				add_entry(&cur, prev.v[i].ref);
		} else if (targets(ctl, NULL, 0, all, &cur, &err) < 0) {
			reading_fini(&prev);
			return ctl_report(&err);
		}
		int r = take_reading(ctl, &cur);
		if (r < 0) {
			reading_fini(&prev);
			reading_fini(&cur);
			return ctl_exit_code(BR_UNAVAILABLE);
		}
		if (first && rc == 0)
			rc = r;
		rates(&cur, &prev);
		if (stream && !ctl->json && tty)
			fputs("\033[2J\033[H", stdout);
		else if (stream && !ctl->json && !first)
			fputc('\n', stdout);
		if (ctl->json)
			print_json(&cur);
		else
			print_table(&cur);
		fflush(stdout);
		reading_fini(&prev);
		prev = cur;
		cur = (struct reading){0};
		if (!stream)
			break;
	}
	reading_fini(&prev);
	return rc;
}
