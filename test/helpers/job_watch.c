/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Follow a pull through the job API as a node agent would, for the integration suites:
 *
 *   job_watch SOCKET NS REF INTERVAL_MS
 *
 * starts images.pull of REF in namespace NS through the front door at SOCKET, then calls
 * jobs.wait with since_version (the version of the last answer) and interval_ms until the job
 * ends, and prints each answer as one JSON line: {"ms": time since the first answer's call,
 * "wait_ms": how long that call took, "version", "state", "done", "total", "layers":
 * [{"digest", "size", "done", "state"}]}. Exits 0 when the job ended done, 1 otherwise (or
 * after 120 s).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/loop.h"
#include "common/proto/images.h"
#include "common/proto/types.h"
#include "common/rpc.h"

static void
print_job(const struct br_job *job, int64_t ms, int64_t wait_ms)
{
	const struct br_job_item *items = job->layers.v;

	printf("{\"ms\":%" PRId64 ",\"wait_ms\":%" PRId64 ",\"version\":%" PRIu64
	       ",\"state\":\"%s\",\"done\":%" PRId64 ",\"total\":%" PRId64 ",\"layers\":[",
	       ms, wait_ms, job->progress_version, job->state ? job->state : "", job->done_bytes,
	       job->total_bytes);
	for (size_t i = 0; i < job->layers.n; i++)
		printf("%s{\"digest\":\"%s\",\"size\":%" PRId64 ",\"done\":%" PRId64
		       ",\"state\":\"%s\"}",
		       i ? "," : "", items[i].digest ? items[i].digest : "", items[i].size,
		       items[i].done, items[i].state ? items[i].state : "");
	printf("]}\n");
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;
	char url[4200];

	if (argc != 5) {
		fprintf(stderr, "usage: job_watch SOCKET NS REF INTERVAL_MS\n");
		return 2;
	}
	snprintf(url, sizeof(url), "ipc://%s", argv[1]);
	struct br_call_opts opts = {.ns = argv[2], .timeout_ms = 30000};
	int64_t interval = strtoll(argv[4], NULL, 10);
	if (br_rpc_client_new(url, "berth-gatewayd", &c, &err) < 0) {
		fprintf(stderr, "job_watch: %s\n", err.msg);
		return 1;
	}
	br_arena *arena = br_arena_new();
	struct br_image_pull_req req = {.ref = argv[3]};
	struct br_job_ref ref;
	if (br_rpc_call(c, &opts, "images.pull", &br_image_pull_req_schema, &req,
	                &br_job_ref_schema, &ref, arena, &err) < 0) {
		fprintf(stderr, "job_watch: images.pull: %s\n", err.msg);
		return 1;
	}
	int64_t start = br_now_ms();
	uint64_t seen = 0;
	int rc = 1;
	while (br_now_ms() - start < 120000) {
		struct br_job_wait_req w = {
		        .id = ref.id,
		        .timeout_ms = 5000,
		        .since_version = seen,
		        .interval_ms = interval,
		};
		struct br_job job;
		int64_t t0 = br_now_ms();
		if (br_rpc_call(c, &opts, "jobs.wait", &br_job_wait_req_schema, &w, &br_job_schema,
		                &job, arena, &err) < 0) {
			fprintf(stderr, "job_watch: jobs.wait: %s\n", err.msg);
			break;
		}
		int64_t now = br_now_ms();
		print_job(&job, t0 - start, now - t0);
		seen = job.progress_version;
		if (strcmp(job.state, "running") != 0) {
			rc = strcmp(job.state, "done") == 0 ? 0 : 1;
			break;
		}
	}
	br_arena_free(arena);
	br_rpc_client_free(c);
	return rc;
}
