/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fills a store fast, straight through its root-only socket, for the suites that need many
 * records: what a busy host accumulates, without a pull per record.
 *
 *   seed_store blobs STATE NS N [LEASE]
 *       N small distinct blobs into berth-contentd (<STATE>/contentd.sock), in namespace NS;
 *       under lease LEASE (created, never expiring) when given, else held by nothing.
 *   seed_store snapshots STATE NS N FILES [LEASE]
 *       N active snapshots "seed-<i>" in berth-snapshotd, each with FILES small files written
 *       into its directory; under lease LEASE when given, else held by nothing (what a
 *       collection then has to remove).
 *   seed_store collect STATE
 *       content.gc, then snapshots.gc: prints for each the wall time of the call and what the
 *       store reports ("content: 12 ms wall, 10 ms in the store, removed 0").
 *
 * Prints one line per step. Exits 1 with a message on the first error.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/msg.h"
#include "common/proto/content.h"
#include "common/proto/leases.h"
#include "common/proto/snapshots.h"
#include "common/rpc.h"

static br_rpc_client *
connect_to(const char *state, const char *daemon)
{
	char url[600], peer[64];
	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;

	snprintf(url, sizeof(url), "ipc://%s/%s.sock", state, daemon);
	snprintf(peer, sizeof(peer), "berth-%s", daemon);
	if (br_rpc_client_new(url, peer, &c, &err) < 0) {
		fprintf(stderr, "seed_store: %s\n", err.msg);
		exit(1);
	}
	return c;
}

static void
check(int rc, const br_err *err, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "seed_store: %s: %s\n", what, err->msg);
		exit(1);
	}
}

static void
seed_blobs(const char *state, const char *ns, long n, const char *lease)
{
	br_rpc_client *c = connect_to(state, "contentd");
	struct br_call_opts opts = {.ns = ns, .lease = lease};
	br_err err = BR_ERR_INIT;
	br_arena *arena = br_arena_new();

	if (lease != NULL) {
		struct br_lease_put_req put = {.id = lease};
		check(br_rpc_call(c, &opts, "content.leases.put", &br_lease_put_req_schema, &put,
		                  NULL, NULL, arena, &err),
		      &err, "create the lease");
	}
	for (long i = 0; i < n; i++) {
		char data[64], ref[32], digest[BR_DIGEST_BUF];
		int len = snprintf(data, sizeof(data), "seed blob %ld of %s %d", i, ns, getpid());
		br_digest_buf(data, (size_t)len, digest);
		snprintf(ref, sizeof(ref), "seed-%ld", i);
		struct br_content_write_req req = {
		        .ref = ref,
		        .data = {(const uint8_t *)data, (size_t)len},
		        .total = len,
		        .expected = digest,
		        .commit = true,
		};
		int rc = br_rpc_call(c, &opts, "content.write", &br_content_write_req_schema, &req,
		                     NULL, NULL, arena, &err);
		if (rc < 0 && err.code == BR_ALREADY_EXISTS)
			rc = 0;
		check(rc, &err, "write a blob");
		if (i % 256 == 255) {
			br_arena_free(arena);
			arena = br_arena_new();
		}
	}
	br_arena_free(arena);
	br_rpc_client_free(c);
	printf("seeded %ld blobs\n", n);
}

static void
seed_snapshots(const char *state, const char *ns, long n, long files, const char *lease)
{
	br_rpc_client *c = connect_to(state, "snapshotd");
	struct br_call_opts opts = {.ns = ns, .lease = lease};
	br_err err = BR_ERR_INIT;

	if (lease != NULL) {
		br_arena *arena = br_arena_new();
		struct br_lease_put_req put = {.id = lease};
		check(br_rpc_call(c, &opts, "snapshots.leases.put", &br_lease_put_req_schema, &put,
		                  NULL, NULL, arena, &err),
		      &err, "create the lease");
		br_arena_free(arena);
	}
	for (long i = 0; i < n; i++) {
		br_arena *arena = br_arena_new();
		char key[32];
		struct br_snap_mounts_resp mounts;
		snprintf(key, sizeof(key), "seed-%ld", i);
		struct br_snap_prepare_req req = {.key = key};
		check(br_rpc_call(c, &opts, "snapshots.prepare", &br_snap_prepare_req_schema, &req,
		                  &br_snap_mounts_resp_schema, &mounts, arena, &err),
		      &err, "prepare a snapshot");
		const struct br_mount *m = mounts.mounts.v;
		int dir = mounts.mounts.n == 1 && strcmp(m->type, "bind") == 0
		                  ? open(m->source, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		                  : -1;
		if (dir < 0) {
			fprintf(stderr, "seed_store: snapshot %s: no directory to write into\n",
			        key);
			exit(1);
		}
		for (long f = 0; f < files; f++) {
			char name[32];
			snprintf(name, sizeof(name), "f%ld", f);
			int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (fd < 0 || write(fd, name, strlen(name)) < 0) {
				perror(name);
				exit(1);
			}
			close(fd);
		}
		close(dir);
		br_arena_free(arena);
	}
	br_rpc_client_free(c);
	printf("seeded %ld snapshots\n", n);
}

static void
collect(const char *state)
{
	static const char *const daemons[] = {"contentd", "snapshotd"};
	static const char *const methods[] = {"content.gc", "snapshots.gc"};

	for (int i = 0; i < 2; i++) {
		br_rpc_client *c = connect_to(state, daemons[i]);
		struct br_call_opts opts = {.timeout_ms = 600000};
		struct br_gc_result r;
		br_err err = BR_ERR_INIT;
		br_arena *arena = br_arena_new();
		int64_t start = br_now_ms();
		check(br_rpc_call(c, &opts, methods[i], NULL, NULL, &br_gc_result_schema, &r, arena,
		                  &err),
		      &err, methods[i]);
		printf("%s: %lld ms wall, %lld ms in the store, removed %lld\n", methods[i],
		       (long long)(br_now_ms() - start), (long long)r.duration_ms,
		       (long long)(r.removed + r.ingests + r.orphans));
		br_arena_free(arena);
		br_rpc_client_free(c);
	}
}

int
main(int argc, char **argv)
{
	if (argc >= 5 && strcmp(argv[1], "blobs") == 0) {
		seed_blobs(argv[2], argv[3], atol(argv[4]), argc > 5 ? argv[5] : NULL);
	} else if (argc >= 6 && strcmp(argv[1], "snapshots") == 0) {
		seed_snapshots(argv[2], argv[3], atol(argv[4]), atol(argv[5]),
		               argc > 6 ? argv[6] : NULL);
	} else if (argc == 3 && strcmp(argv[1], "collect") == 0) {
		collect(argv[2]);
	} else {
		fprintf(stderr, "usage: seed_store blobs STATE NS N [LEASE]\n"
		                "       seed_store snapshots STATE NS N FILES [LEASE]\n"
		                "       seed_store collect STATE\n");
		return 2;
	}
	br_rpc_shutdown();
	return 0;
}
