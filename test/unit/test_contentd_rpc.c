/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-contentd as a process: the real binary ($BERTH_BUILD/berth-contentd, BERTH_BUILD
 * defaulting to "build") started on a private temporary root and driven with br_rpc_call.
 * Covers writing and reading over the wire, errors as a client sees them, a clean stop on
 * SIGTERM, a kill -9 in the middle of an ingest followed by a restart and a resume from the
 * offset content.status reports, and leases, collection, usage and paging as a client sees
 * them (most cases configure the daemon so that only content.gc collects), and the events
 * that these calls leave in the daemon's outbox (no gatewayd runs here to take them).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/loop.h"
#include "common/msg.h"
#include "common/proto/content.h"
#include "common/proto/leases.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"
#include "test/unit/t_daemon.h"
#include "test/unit/t_events.h"

#define BLOB_SIZE (24u << 20)
#define CHUNK (1u << 20)

static uint8_t *
pattern(size_t len, unsigned seed)
{
	uint8_t *p = malloc(len);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
	return p;
}

static int
write_rpc(br_rpc_client *c, br_arena *arena, const struct br_content_write_req *req,
          struct br_content_write_resp *resp, br_err *err)
{
	return br_rpc_call(c, NULL, "content.write", &br_content_write_req_schema, req,
	                   &br_content_write_resp_schema, resp, arena, err);
}

/* Read a whole blob back over the wire. */
static uint8_t *
read_all(struct t_daemon *d, const char *digest, size_t len)
{
	uint8_t *back = malloc(len ? len : 1);
	size_t off = 0;
	br_err err = BR_ERR_INIT;

	while (off < len) {
		struct br_content_read_req rq = {digest, (int64_t)off, 0};
		struct br_content_read_resp rr;
		T_NOERR(br_rpc_call(d->client, NULL, "content.read", &br_content_read_req_schema,
		                    &rq, &br_content_read_resp_schema, &rr, d->arena, &err),
		        err);
		T_EQ_INT(rr.total, len);
		T_OK(rr.data.len > 0 && rr.data.len <= BR_CHUNK_MAX);
		memcpy(back + off, rr.data.data, rr.data.len);
		off += rr.data.len;
	}
	return back;
}

static void
test_write_read_stop(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	size_t len = 3 * CHUNK + 123;
	uint8_t *data = pattern(len, 1);
	char digest[BR_DIGEST_BUF];
	struct br_content_write_resp resp;

	br_digest_buf(data, len, digest);
	t_daemon_setup(&d, "contentd");
	for (size_t off = 0; off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		struct br_content_write_req req = {
		        .ref = "roundtrip",
		        .offset = (int64_t)off,
		        .data = {data + off, n},
		        .total = (int64_t)len,
		        .expected = digest,
		        .commit = off + n == len,
		};
		T_NOERR(write_rpc(d.client, d.arena, &req, &resp, &err), err);
		T_EQ_INT(resp.offset, off + n);
	}
	T_EQ_STR(resp.digest, digest);

	struct br_content_digest_req dr = {digest};
	struct br_content_info info;
	T_NOERR(br_rpc_call(d.client, NULL, "content.info", &br_content_digest_req_schema, &dr,
	                    &br_content_info_schema, &info, d.arena, &err),
	        err);
	T_EQ_INT(info.size, len);
	uint8_t *back = read_all(&d, digest, len);
	T_OK(memcmp(back, data, len) == 0);

	struct br_content_list_resp list;
	T_NOERR(br_rpc_call(d.client, NULL, "content.list", NULL, NULL,
	                    &br_content_list_resp_schema, &list, d.arena, &err),
	        err);
	T_EQ_INT(list.items.n, 1);

	/* A clean stop, and the blob is there after a restart. */
	t_daemon_stop(&d);
	t_daemon_start(&d);
	T_NOERR(br_rpc_call(d.client, NULL, "content.info", &br_content_digest_req_schema, &dr,
	                    &br_content_info_schema, &info, d.arena, &err),
	        err);
	T_NOERR(br_rpc_call(d.client, NULL, "content.delete", &br_content_digest_req_schema, &dr,
	                    NULL, NULL, d.arena, &err),
	        err);
	T_ERR(br_rpc_call(d.client, NULL, "content.info", &br_content_digest_req_schema, &dr,
	                  &br_content_info_schema, &info, d.arena, &err),
	      err, BR_NOT_FOUND);
	free(back);
	free(data);
	t_daemon_teardown(&d);
}

static void
test_errors_over_the_wire(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	char wrong[BR_DIGEST_BUF], right[BR_DIGEST_BUF], want[512];
	struct br_content_write_resp resp;

	t_daemon_setup(&d, "contentd");
	br_digest_buf("nope", 4, wrong);
	br_digest_buf("payload", 7, right);
	struct br_content_write_req req = {.ref = "bad",
	                                   .data = {(const uint8_t *)"payload", 7},
	                                   .expected = wrong,
	                                   .commit = true};
	T_ERR(write_rpc(d.client, d.arena, &req, &resp, &err), err, BR_FAILED_PRECONDITION);
	snprintf(want, sizeof(want), "commit bad: digest mismatch: expected %s, got %s", wrong,
	         right);
	T_EQ_STR(err.msg, want);
	struct br_content_ref_req rr = {"bad"};
	struct br_content_status st;
	T_ERR(br_rpc_call(d.client, NULL, "content.status", &br_content_ref_req_schema, &rr,
	                  &br_content_status_schema, &st, d.arena, &err),
	      err, BR_NOT_FOUND);

	/* Refs are ids: the schema refuses a path before the store sees it. */
	struct br_content_write_req evil = {.ref = "../escape", .data = {(const uint8_t *)"x", 1}};
	T_ERR(write_rpc(d.client, d.arena, &evil, &resp, &err), err, BR_INVALID_ARGUMENT);

	struct br_content_write_req w1 = {.ref = "gap", .data = {(const uint8_t *)"abc", 3}};
	T_NOERR(write_rpc(d.client, d.arena, &w1, &resp, &err), err);
	w1.offset = 10;
	T_ERR(write_rpc(d.client, d.arena, &w1, &resp, &err), err, BR_FAILED_PRECONDITION);
	T_EQ_STR(err.msg, "ingest \"gap\": write at offset 10, but the current offset is 3");
	rr.ref = "gap";
	T_NOERR(br_rpc_call(d.client, NULL, "content.abort", &br_content_ref_req_schema, &rr, NULL,
	                    NULL, d.arena, &err),
	        err);
	T_ERR(br_rpc_call(d.client, NULL, "content.abort", &br_content_ref_req_schema, &rr, NULL,
	                  NULL, d.arena, &err),
	      err, BR_NOT_FOUND);
	t_daemon_teardown(&d);
}

struct writer {
	const char *url;
	const uint8_t *data;
	const char *digest;
	volatile int64_t acked; /* bytes the daemon confirmed */
	volatile int stopped;
};

/* Writes the blob chunk by chunk until the daemon goes away under it. */
static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	br_rpc_client *c = NULL;
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;

	if (br_rpc_client_new(w->url, "berth-contentd", &c, &err) < 0)
		goto out;
	for (size_t off = 0; off < BLOB_SIZE; off += CHUNK) {
		struct br_content_write_req req = {
		        .ref = "big",
		        .offset = (int64_t)off,
		        .data = {w->data + off, CHUNK},
		        .total = BLOB_SIZE,
		        .expected = w->digest,
		        .commit = off + CHUNK == BLOB_SIZE,
		};
		struct br_content_write_resp resp;
		if (write_rpc(c, arena, &req, &resp, &err) < 0)
			break;
		w->acked = resp.offset;
	}
out:
	br_rpc_client_free(c);
	br_arena_free(arena);
	w->stopped = 1;
	return NULL;
}

static void
test_kill9_mid_ingest_and_resume(void)
{
	struct t_daemon d = {0};
	br_err err = BR_ERR_INIT;
	uint8_t *data = pattern(BLOB_SIZE, 5);
	char digest[BR_DIGEST_BUF];
	struct writer w = {0};
	pthread_t th;

	br_digest_buf(data, BLOB_SIZE, digest);
	t_daemon_setup(&d, "contentd");
	w.url = d.url;
	w.data = data;
	w.digest = digest;
	T_EQ_INT(pthread_create(&th, NULL, writer_main, &w), 0);
	/* Let a few chunks land, then kill it while the writer is still going. */
	for (int i = 0; i < 1000 && w.acked < 3 * (int64_t)CHUNK; i++)
		usleep(5 * 1000);
	T_OK(w.acked >= 3 * (int64_t)CHUNK);
	t_daemon_kill9(&d);
	pthread_join(th, NULL);
	T_OK(w.acked < BLOB_SIZE);

	t_daemon_start(&d);
	struct br_content_ref_req rr = {"big"};
	struct br_content_status st;
	T_NOERR(br_rpc_call(d.client, NULL, "content.status", &br_content_ref_req_schema, &rr,
	                    &br_content_status_schema, &st, d.arena, &err),
	        err);
	/* Everything acknowledged survived; a chunk cut by the kill may have landed in part. */
	printf("# killed with %lld bytes acknowledged, resuming at %lld\n", (long long)w.acked,
	       (long long)st.offset);
	T_OK(st.offset >= w.acked && st.offset < BLOB_SIZE);
	T_EQ_INT(st.total, BLOB_SIZE);
	T_EQ_STR(st.expected, digest);

	/* Resume where the store says, in chunks that need not line up with the old ones. */
	int64_t off = st.offset;
	struct br_content_write_resp resp;
	while (off < BLOB_SIZE) {
		size_t n = BLOB_SIZE - off < CHUNK ? (size_t)(BLOB_SIZE - off) : CHUNK;
		struct br_content_write_req req = {
		        .ref = "big",
		        .offset = off,
		        .data = {data + off, n},
		        .commit = off + (int64_t)n == BLOB_SIZE,
		};
		T_NOERR(write_rpc(d.client, d.arena, &req, &resp, &err), err);
		off = resp.offset;
	}
	T_EQ_STR(resp.digest, digest);
	uint8_t *back = read_all(&d, digest, BLOB_SIZE);
	T_OK(memcmp(back, data, BLOB_SIZE) == 0);

	/* Killed again with the blob committed: it is still there. */
	t_daemon_kill9(&d);
	t_daemon_start(&d);
	struct br_content_digest_req dr = {digest};
	struct br_content_info info;
	T_NOERR(br_rpc_call(d.client, NULL, "content.info", &br_content_digest_req_schema, &dr,
	                    &br_content_info_schema, &info, d.arena, &err),
	        err);
	T_EQ_INT(info.size, BLOB_SIZE);
	T_ERR(br_rpc_call(d.client, NULL, "content.status", &br_content_ref_req_schema, &rr,
	                  &br_content_status_schema, &st, d.arena, &err),
	      err, BR_NOT_FOUND);
	free(back);
	free(data);
	t_daemon_teardown(&d);
}

/* ---- leases, collection, usage, paging ---- */

/* Collections only on demand (content.gc); ingests expire after one second. */
#define CONFIG_QUIET                                                                             \
	"{\"contentd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 0, \"ingest_expiry_ms\":" \
	" 1000}}"

static int
call(struct t_daemon *d, const char *ns, const char *lease, const char *method,
     const struct br_schema *ps, const void *params, const struct br_schema *rs, void *result,
     br_err *err)
{
	struct br_call_opts opts = {.ns = ns, .lease = lease};

	br_err_clear(err);
	return br_rpc_call(d->client, &opts, method, ps, params, rs, result, d->arena, err);
}

/* Store `len` bytes under `ref` in one write, under `lease` (may be NULL). */
static int
put_blob(struct t_daemon *d, const char *lease, const char *ref, const void *data, size_t len,
         char digest[BR_DIGEST_BUF], br_err *err)
{
	struct br_content_write_req req = {
	        .ref = ref, .data = {data, len}, .total = (int64_t)len, .commit = true};
	struct br_content_write_resp resp;

	br_digest_buf(data, len, digest);
	return call(d, NULL, lease, "content.write", &br_content_write_req_schema, &req,
	            &br_content_write_resp_schema, &resp, err);
}

static void
lease_create(struct t_daemon *d, const char *ns, const char *id, int64_t ttl_ms)
{
	struct br_lease_create_req req = {.id = id, .ttl_ms = ttl_ms};
	struct br_lease out;
	br_err err = BR_ERR_INIT;

	T_NOERR(call(d, ns, NULL, "content.leases.create", &br_lease_create_req_schema, &req,
	             &br_lease_schema, &out, &err),
	        err);
}

static int
lease_delete(struct t_daemon *d, const char *ns, const char *id, br_err *err)
{
	struct br_lease_id_req req = {id};
	return call(d, ns, NULL, "content.leases.delete", &br_lease_id_req_schema, &req, NULL, NULL,
	            err);
}

/* What lease `id` of "default" holds, one page of at most 500. */
static struct br_lease_resources_resp
lease_resources(struct t_daemon *d, const char *id)
{
	struct br_lease_page_req req = {.id = id, .page = {.size = 500}};
	struct br_lease_resources_resp out;
	br_err err = BR_ERR_INIT;

	T_NOERR(call(d, NULL, NULL, "content.leases.resources", &br_lease_page_req_schema, &req,
	             &br_lease_resources_resp_schema, &out, &err),
	        err);
	return out;
}

/* True if the list holds exactly the one resource (type, key). */
static bool
holds_only(const struct br_lease_resources_resp *r, const char *type, const char *key)
{
	const struct br_lease_resource *v = r->items.v;
	return r->items.n == 1 && strcmp(v[0].type, type) == 0 && strcmp(v[0].key, key) == 0;
}

static struct br_gc_result
gc(struct t_daemon *d)
{
	struct br_gc_result r;
	br_err err = BR_ERR_INIT;

	T_NOERR(call(d, NULL, NULL, "content.gc", NULL, NULL, &br_gc_result_schema, &r, &err), err);
	return r;
}

static int
info(struct t_daemon *d, const char *digest, br_err *err)
{
	struct br_content_digest_req req = {digest};
	struct br_content_info out;
	return call(d, NULL, NULL, "content.info", &br_content_digest_req_schema, &req,
	            &br_content_info_schema, &out, err);
}

static int
status(struct t_daemon *d, const char *ref, br_err *err)
{
	struct br_content_ref_req req = {ref};
	struct br_content_status out;
	return call(d, NULL, NULL, "content.status", &br_content_ref_req_schema, &req,
	            &br_content_status_schema, &out, err);
}

static void
test_lease_methods(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	const char *keys[] = {"owner"}, *x[] = {"x"};
	struct br_lease lease;
	char stored[BR_DIGEST_BUF], absent[BR_DIGEST_BUF];

	t_daemon_setup(&d, "contentd");
	struct br_lease_create_req cr = {.id = "a", .labels = {keys, x, 1}};
	T_NOERR(call(&d, NULL, NULL, "content.leases.create", &br_lease_create_req_schema, &cr,
	             &br_lease_schema, &lease, &err),
	        err);
	T_EQ_STR(lease.id, "a");
	T_EQ_STR(lease.ns, "default");
	T_OK(lease.created_at > 0);
	T_EQ_INT(lease.expire_at, 0);
	T_ERR(call(&d, NULL, NULL, "content.leases.create", &br_lease_create_req_schema, &cr,
	           &br_lease_schema, &lease, &err),
	      err, BR_ALREADY_EXISTS);
	struct br_lease_id_req get = {"a"};
	T_NOERR(call(&d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	             &br_lease_schema, &lease, &err),
	        err);
	T_EQ_INT(lease.labels.n, 1);
	T_EQ_STR(lease.labels.values[0], "x");
	get.id = "nope";
	T_ERR(call(&d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	           &br_lease_schema, &lease, &err),
	      err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "lease \"nope\": not found");

	/* list: pages, a label filter, every namespace */
	cr.id = "c";
	T_NOERR(call(&d, NULL, NULL, "content.leases.create", &br_lease_create_req_schema, &cr,
	             &br_lease_schema, &lease, &err),
	        err);
	lease_create(&d, NULL, "b", 0);
	lease_create(&d, NULL, "d", 0);
	lease_create(&d, NULL, "e", 0);
	lease_create(&d, "other", "z", 0);
	const char *want[] = {"a", "b", "c", "d", "e"};
	struct br_lease_list_req lr = {.page = {.size = 2}};
	struct br_lease_list_resp list;
	size_t seen = 0, pages = 0;
	do {
		T_NOERR(call(&d, NULL, NULL, "content.leases.list", &br_lease_list_req_schema, &lr,
		             &br_lease_list_resp_schema, &list, &err),
		        err);
		const struct br_lease *v = list.items.v;
		for (size_t i = 0; i < list.items.n; i++) {
			T_OK(seen < 5);
			T_EQ_STR(v[i].id, want[seen++]);
		}
		lr.page.token = list.next_page_token;
		pages++;
	} while (lr.page.token != NULL);
	T_EQ_INT(seen, 5);
	T_EQ_INT(pages, 3);
	struct br_lease_list_req by_label = {.labels = {keys, x, 1}};
	T_NOERR(call(&d, NULL, NULL, "content.leases.list", &br_lease_list_req_schema, &by_label,
	             &br_lease_list_resp_schema, &list, &err),
	        err);
	T_EQ_INT(list.items.n, 2);
	T_EQ_STR(((struct br_lease *)list.items.v)[1].id, "c");
	struct br_lease_list_req all = {.all_namespaces = true};
	T_NOERR(call(&d, NULL, NULL, "content.leases.list", &br_lease_list_req_schema, &all,
	             &br_lease_list_resp_schema, &list, &err),
	        err);
	T_EQ_INT(list.items.n, 6);
	T_EQ_STR(((struct br_lease *)list.items.v)[5].ns, "other");
	T_EQ_STR(((struct br_lease *)list.items.v)[5].id, "z");

	/* put: create, answer what is missing, replace */
	T_NOERR(put_blob(&d, NULL, "s", "stored", 6, stored, &err), err);
	br_digest_buf("absent", 6, absent);
	struct br_lease_resource res[] = {
	        {"content", absent}, {"ingest", "r1"}, {"content", stored}};
	struct br_lease_put_req pr = {.id = "p", .resources = {res, 3}};
	struct br_lease_missing_resp missing;
	T_NOERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	T_EQ_INT(missing.missing.n, 2);
	T_EQ_INT(lease_resources(&d, "p").items.n, 3);
	pr.resources = (struct br_objlist){&res[2], 1};
	pr.replace = true;
	T_NOERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	T_EQ_INT(missing.missing.n, 0);
	struct br_lease_resources_resp held = lease_resources(&d, "p");
	T_OK(holds_only(&held, "content", stored));
	struct br_lease_resource bad_type = {"snapshots", "k"}, bad_key = {"content", "nope"};
	pr.resources = (struct br_objlist){&bad_type, 1};
	T_ERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	           &br_lease_missing_resp_schema, &missing, &err),
	      err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "\"snapshots\"") != NULL);
	pr.resources = (struct br_objlist){&bad_key, 1};
	T_ERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	           &br_lease_missing_resp_schema, &missing, &err),
	      err, BR_INVALID_ARGUMENT);
	held = lease_resources(&d, "p");
	T_OK(holds_only(&held, "content", stored)); /* a bad request changed nothing */

	/* add, remove, resources in pages */
	struct br_lease_resource more[] = {
	        {"ingest", "i1"}, {"ingest", "i2"}, {"ingest", "i3"}, {"ingest", "i4"}};
	struct br_lease_resources_req ar = {.id = "p", .resources = {more, 4}};
	T_NOERR(call(&d, NULL, NULL, "content.leases.add", &br_lease_resources_req_schema, &ar,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	T_EQ_INT(missing.missing.n, 4);
	ar.resources = (struct br_objlist){&res[2], 1};
	T_NOERR(call(&d, NULL, NULL, "content.leases.remove", &br_lease_resources_req_schema, &ar,
	             NULL, NULL, &err),
	        err);
	struct br_lease_page_req rp = {.id = "p", .page = {.size = 3}};
	struct br_lease_resources_resp rpage;
	T_NOERR(call(&d, NULL, NULL, "content.leases.resources", &br_lease_page_req_schema, &rp,
	             &br_lease_resources_resp_schema, &rpage, &err),
	        err);
	T_EQ_INT(rpage.items.n, 3);
	T_NOT_NULL(rpage.next_page_token);
	rp.page.token = rpage.next_page_token;
	T_NOERR(call(&d, NULL, NULL, "content.leases.resources", &br_lease_page_req_schema, &rp,
	             &br_lease_resources_resp_schema, &rpage, &err),
	        err);
	T_EQ_INT(rpage.items.n, 1);
	T_EQ_STR(((struct br_lease_resource *)rpage.items.v)[0].key, "i4");
	T_NULL(rpage.next_page_token);
	ar.id = "missing-lease";
	T_ERR(call(&d, NULL, NULL, "content.leases.add", &br_lease_resources_req_schema, &ar,
	           &br_lease_missing_resp_schema, &missing, &err),
	      err, BR_NOT_FOUND);

	/* delete */
	T_NOERR(lease_delete(&d, NULL, "p", &err), err);
	get.id = "p";
	T_ERR(call(&d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	           &br_lease_schema, &lease, &err),
	      err, BR_NOT_FOUND);
	T_ERR(lease_delete(&d, NULL, "p", &err), err, BR_NOT_FOUND);
	/* A lease of another namespace is not visible here. */
	T_ERR(lease_delete(&d, NULL, "z", &err), err, BR_NOT_FOUND);
	T_NOERR(lease_delete(&d, "other", "z", &err), err);
	t_daemon_teardown(&d);
}

static void
test_lease_expiry(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_lease_create_req cr = {.id = "short", .ttl_ms = 200};
	struct br_lease lease;
	struct br_lease_id_req get = {"short"};

	t_daemon_setup(&d, "contentd");
	T_NOERR(call(&d, NULL, NULL, "content.leases.create", &br_lease_create_req_schema, &cr,
	             &br_lease_schema, &lease, &err),
	        err);
	T_OK(lease.expire_at >= lease.created_at + 200);
	T_NOERR(call(&d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	             &br_lease_schema, &lease, &err),
	        err);
	usleep(300 * 1000);
	T_ERR(call(&d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	           &br_lease_schema, &lease, &err),
	      err, BR_NOT_FOUND);
	struct br_lease_list_req lr = {0};
	struct br_lease_list_resp list;
	T_NOERR(call(&d, NULL, NULL, "content.leases.list", &br_lease_list_req_schema, &lr,
	             &br_lease_list_resp_schema, &list, &err),
	        err);
	T_EQ_INT(list.items.n, 0);
	/* An expired lease cannot hold a write either, and the id can be used again. */
	char digest[BR_DIGEST_BUF];
	T_ERR(put_blob(&d, "short", "w", "data", 4, digest, &err), err, BR_NOT_FOUND);
	T_EQ_INT(gc(&d).leases, 1);
	lease_create(&d, NULL, "short", 0);
	t_daemon_teardown(&d);
}

static void
test_write_under_lease(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF];
	const char *data = "held by the envelope's lease";
	size_t len = strlen(data);
	struct br_content_write_resp resp;

	t_daemon_setup(&d, "contentd");
	/* An unknown lease is refused before anything is written. */
	T_ERR(put_blob(&d, "ghost", "w0", data, len, digest, &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "lease \"ghost\": not found");
	T_ERR(status(&d, "w0", &err), err, BR_NOT_FOUND);
	T_ERR(info(&d, digest, &err), err, BR_NOT_FOUND);

	/* Each write holds the ingest; the commit swaps it for the blob. */
	lease_create(&d, NULL, "l1", 0);
	struct br_content_write_req w = {.ref = "w1", .data = {(const uint8_t *)data, 10}};
	T_NOERR(call(&d, NULL, "l1", "content.write", &br_content_write_req_schema, &w,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	struct br_lease_resources_resp held = lease_resources(&d, "l1");
	T_OK(holds_only(&held, "ingest", "w1"));
	w.offset = 10;
	w.data = (struct br_bytes){(const uint8_t *)data + 10, len - 10};
	w.commit = true;
	T_NOERR(call(&d, NULL, "l1", "content.write", &br_content_write_req_schema, &w,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	T_EQ_STR(resp.digest, digest);
	held = lease_resources(&d, "l1");
	T_OK(holds_only(&held, "content", digest));
	T_EQ_INT(gc(&d).removed, 0);
	T_NOERR(info(&d, digest, &err), err);

	/* Already existing, found at the first write (expected) or at commit: held all the
	 * same. */
	lease_create(&d, NULL, "l2", 0);
	struct br_content_write_req w2 = {
	        .ref = "w2", .data = {(const uint8_t *)data, 3}, .expected = digest};
	T_ERR(call(&d, NULL, "l2", "content.write", &br_content_write_req_schema, &w2,
	           &br_content_write_resp_schema, &resp, &err),
	      err, BR_ALREADY_EXISTS);
	held = lease_resources(&d, "l2");
	T_OK(holds_only(&held, "content", digest));
	lease_create(&d, NULL, "l3", 0);
	T_ERR(put_blob(&d, "l3", "w3", data, len, digest, &err), err, BR_ALREADY_EXISTS);
	held = lease_resources(&d, "l3");
	T_OK(holds_only(&held, "content", digest));
	T_ERR(status(&d, "w3", &err), err, BR_NOT_FOUND);

	/* The blob stays while any of them holds it. */
	T_NOERR(lease_delete(&d, NULL, "l1", &err), err);
	T_NOERR(lease_delete(&d, NULL, "l2", &err), err);
	T_EQ_INT(gc(&d).removed, 0);
	T_NOERR(info(&d, digest, &err), err);
	T_NOERR(lease_delete(&d, NULL, "l3", &err), err);
	struct br_gc_result r = gc(&d);
	T_EQ_INT(r.removed, 1);
	T_EQ_INT(r.bytes, len);
	T_ERR(info(&d, digest, &err), err, BR_NOT_FOUND);
	t_daemon_teardown(&d);
}

static void
test_gc_removes_exactly_unheld(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char unheld[3][BR_DIGEST_BUF], held[2][BR_DIGEST_BUF], expiring[BR_DIGEST_BUF];
	uint8_t *data = pattern(60, 11);

	t_daemon_setup(&d, "contentd");
	/* Held through `put` before they exist, written without a lease. */
	br_digest_buf(data, 7, held[0]);
	br_digest_buf(data + 7, 8, held[1]);
	struct br_lease_resource res[] = {{"content", held[0]}, {"content", held[1]}};
	struct br_lease_put_req pr = {.id = "keep", .resources = {res, 2}};
	struct br_lease_missing_resp missing;
	T_NOERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	T_EQ_INT(missing.missing.n, 2);
	T_NOERR(put_blob(&d, NULL, "h0", data, 7, held[0], &err), err);
	T_NOERR(put_blob(&d, NULL, "h1", data + 7, 8, held[1], &err), err);
	T_NOERR(put_blob(&d, NULL, "u0", data + 15, 10, unheld[0], &err), err);
	T_NOERR(put_blob(&d, NULL, "u1", data + 25, 15, unheld[1], &err), err);
	T_NOERR(put_blob(&d, NULL, "u2", data + 40, 20, unheld[2], &err), err);
	/* And one whose lease expires. */
	lease_create(&d, NULL, "short", 300);
	T_NOERR(put_blob(&d, "short", "e", "expiring", 8, expiring, &err), err);

	struct br_gc_result r = gc(&d);
	T_EQ_INT(r.removed, 3);
	T_EQ_INT(r.bytes, 45);
	T_EQ_INT(r.leases, 0);
	for (int i = 0; i < 3; i++)
		T_ERR(info(&d, unheld[i], &err), err, BR_NOT_FOUND);
	for (int i = 0; i < 2; i++)
		T_NOERR(info(&d, held[i], &err), err);
	T_NOERR(info(&d, expiring, &err), err);

	usleep(400 * 1000);
	r = gc(&d);
	T_EQ_INT(r.leases, 1);
	T_EQ_INT(r.removed, 1);
	T_EQ_INT(r.bytes, 8);
	T_ERR(info(&d, expiring, &err), err, BR_NOT_FOUND);
	for (int i = 0; i < 2; i++)
		T_NOERR(info(&d, held[i], &err), err);
	free(data);
	t_daemon_teardown(&d);
}

/* Collections since the daemon started, from daemon.health. */
struct health_gc {
	int64_t gc_runs;
};
static const struct br_field health_gc_fields[] = {
        BR_FIELD(struct health_gc, gc_runs, BR_F_I64, 0, 0),
};
static const struct br_schema health_gc_schema = BR_SCHEMA(struct health_gc, health_gc_fields);

static int64_t
gc_runs(struct t_daemon *d)
{
	struct health_gc h = {0};
	br_err err = BR_ERR_INIT;

	T_NOERR(call(d, NULL, NULL, "daemon.health", NULL, NULL, &health_gc_schema, &h, &err), err);
	return h.gc_runs;
}

/* No collection within several gc_delay_ms (50 ms): nothing announced a release. */
static void
expect_no_collection(struct t_daemon *d, int64_t runs)
{
	usleep(300 * 1000);
	T_EQ_INT(gc_runs(d), runs);
}

/* The collection that a release scheduled has run. */
static void
expect_collection(struct t_daemon *d, int64_t runs)
{
	for (int i = 0; i < 100 && gc_runs(d) < runs; i++)
		usleep(20 * 1000);
	T_EQ_INT(gc_runs(d), runs);
}

static int
lease_put(struct t_daemon *d, const char *id, struct br_lease_resource *res, size_t n, bool replace,
          br_err *err)
{
	struct br_lease_put_req pr = {.id = id, .resources = {res, n}, .replace = replace};
	struct br_lease_missing_resp missing;
	return call(d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
	            &br_lease_missing_resp_schema, &missing, err);
}

static int
lease_remove(struct t_daemon *d, const char *id, struct br_lease_resource *res, size_t n,
             br_err *err)
{
	struct br_lease_resources_req rr = {.id = id, .resources = {res, n}};
	return call(d, NULL, NULL, "content.leases.remove", &br_lease_resources_req_schema, &rr,
	            NULL, NULL, err);
}

/*
 * A collection is scheduled (after gc_delay_ms) only when a held reference went. Owners put
 * every lease again at each start and on each change of a record: a put of what a lease
 * holds already releases nothing, nor does an add, a remove of what is not held, the
 * deletion of an empty lease or a commit under a lease (its ingest becomes its blob). A put
 * with `replace` that leaves something out, a remove of what is held and the deletion of a
 * lease that holds something each schedule one.
 */
static void
test_collection_only_after_release(void)
{
	struct t_daemon d = {
	        .config_json = "{\"contentd\": {\"gc_delay_ms\": 50, \"gc_interval_ms\": 0}}"};
	br_err err = BR_ERR_INIT;
	char a[BR_DIGEST_BUF], b[BR_DIGEST_BUF], c[BR_DIGEST_BUF];

	t_daemon_setup(&d, "contentd");
	int64_t runs = gc_runs(&d);
	T_NOERR(put_blob(&d, NULL, "a", "blob a", 6, a, &err), err);
	T_NOERR(put_blob(&d, NULL, "b", "blob b", 6, b, &err), err);
	struct br_lease_resource held[] = {{"content", a}, {"content", b}, {"ingest", "r1"}};
	T_NOERR(lease_put(&d, "p", held, 3, false, &err), err);
	expect_no_collection(&d, runs);

	/* The same set again, in another order, with replace and without; a subset without
	 * replace; an add of what is held; a remove of what is not; an empty lease deleted. */
	struct br_lease_resource same[] = {{"ingest", "r1"}, {"content", b}, {"content", a}};
	T_NOERR(lease_put(&d, "p", same, 3, true, &err), err);
	T_NOERR(lease_put(&d, "p", same, 3, true, &err), err);
	T_NOERR(lease_put(&d, "p", same, 3, false, &err), err);
	T_NOERR(lease_put(&d, "p", held, 1, false, &err), err);
	struct br_lease_resources_req ar = {.id = "p", .resources = {held, 2}};
	struct br_lease_missing_resp missing;
	T_NOERR(call(&d, NULL, NULL, "content.leases.add", &br_lease_resources_req_schema, &ar,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	struct br_lease_resource not_held = {"ingest", "nope"};
	T_NOERR(lease_remove(&d, "p", &not_held, 1, &err), err);
	lease_create(&d, NULL, "empty", 0);
	T_NOERR(lease_delete(&d, NULL, "empty", &err), err);
	expect_no_collection(&d, runs);
	T_EQ_INT(lease_resources(&d, "p").items.n, 3);
	/* A commit under a lease: the ingest it held becomes the blob it holds. */
	lease_create(&d, NULL, "w", 0);
	T_NOERR(put_blob(&d, "w", "c", "blob c", 6, c, &err), err);
	struct br_lease_resources_resp w = lease_resources(&d, "w");
	T_OK(holds_only(&w, "content", c));
	expect_no_collection(&d, runs);

	/* replace without b: b goes, a stays. */
	struct br_lease_resource fewer[] = {{"content", a}, {"ingest", "r1"}};
	T_NOERR(lease_put(&d, "p", fewer, 2, true, &err), err);
	expect_collection(&d, ++runs);
	T_ERR(info(&d, b, &err), err, BR_NOT_FOUND);
	T_NOERR(info(&d, a, &err), err);
	T_EQ_INT(lease_resources(&d, "p").items.n, 2);
	/* replace with nothing lets go of everything */
	T_NOERR(lease_put(&d, "w", NULL, 0, true, &err), err);
	expect_collection(&d, ++runs);
	T_ERR(info(&d, c, &err), err, BR_NOT_FOUND);
	/* remove of what is held, delete of a lease that holds something */
	T_NOERR(lease_remove(&d, "p", &fewer[1], 1, &err), err);
	expect_collection(&d, ++runs);
	T_NOERR(lease_delete(&d, NULL, "p", &err), err);
	expect_collection(&d, ++runs);
	T_ERR(info(&d, a, &err), err, BR_NOT_FOUND);
	expect_no_collection(&d, runs);
	t_daemon_teardown(&d);
}

static int
lease_renew(struct t_daemon *d, const char *id, br_err *err)
{
	struct br_lease_put_req renew = {.id = id, .ttl_ms = 400, .must_exist = true};
	struct br_lease_missing_resp missing;
	return call(d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &renew,
	            &br_lease_missing_resp_schema, &missing, err);
}

static int
lease_get(struct t_daemon *d, const char *id, struct br_lease *ret, br_err *err)
{
	struct br_lease_id_req get = {id};
	return call(d, NULL, NULL, "content.leases.get", &br_lease_id_req_schema, &get,
	            &br_lease_schema, ret, err);
}

/* A put with must_exist renews a live lease and never creates one: NOT_FOUND for an unknown
 * lease and for an expired one, which stays expired (the collection deletes it). */
static void
test_renewal_must_exist(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF];
	struct br_lease before, after;

	t_daemon_setup(&d, "contentd");
	T_ERR(lease_renew(&d, "job-1", &err), err, BR_NOT_FOUND);
	T_EQ_STR(err.msg, "lease \"job-1\": not found");
	T_ERR(lease_get(&d, "job-1", &before, &err), err, BR_NOT_FOUND);

	/* Created by a plain put, then renewed: a later expiry, what it holds kept. */
	br_digest_buf("job data", 8, digest);
	struct br_lease_resource res = {"content", digest};
	struct br_lease_put_req create = {.id = "job-1", .ttl_ms = 400, .resources = {&res, 1}};
	struct br_lease_missing_resp missing;
	T_NOERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &create,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	T_NOERR(lease_get(&d, "job-1", &before, &err), err);
	usleep(50 * 1000);
	T_NOERR(lease_renew(&d, "job-1", &err), err);
	T_NOERR(lease_get(&d, "job-1", &after, &err), err);
	T_OK(after.expire_at > before.expire_at);
	T_EQ_INT(after.created_at, before.created_at);
	T_EQ_INT(after.resources, 1);

	/* Expired: NOT_FOUND, and not created again. */
	usleep(500 * 1000);
	T_ERR(lease_renew(&d, "job-1", &err), err, BR_NOT_FOUND);
	T_ERR(lease_get(&d, "job-1", &after, &err), err, BR_NOT_FOUND);
	T_EQ_INT(gc(&d).leases, 1);
	T_ERR(lease_renew(&d, "job-1", &err), err, BR_NOT_FOUND);
	t_daemon_teardown(&d);
}

/* Nobody calls content.gc: the lease's expiry schedules a collection by itself. */
static void
test_expired_lease_collected_by_itself(void)
{
	struct t_daemon d = {
	        .config_json = "{\"contentd\": {\"gc_delay_ms\": 100, \"gc_interval_ms\": 0}}"};
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF];

	t_daemon_setup(&d, "contentd");
	int64_t start = br_now_ms();
	lease_create(&d, NULL, "short", 300);
	T_NOERR(put_blob(&d, "short", "e", "expiring", 8, digest, &err), err);
	for (int i = 0; i < 100 && info(&d, digest, &err) == 0; i++)
		usleep(50 * 1000);
	T_ERR(info(&d, digest, &err), err, BR_NOT_FOUND);
	T_OK(br_now_ms() - start >= 290); /* not before the lease expired */
	t_daemon_teardown(&d);
}

/* Nobody calls content.gc and nothing is released (gc_delay_ms is an hour): the periodic
 * collection (gc_interval_ms) removes an unheld blob on its own, and again for the next one,
 * while a held blob stays. */
static void
test_gc_timer(void)
{
	struct t_daemon d = {
	        .config_json =
	                "{\"contentd\": {\"gc_delay_ms\": 3600000, \"gc_interval_ms\": 200}}"};
	br_err err = BR_ERR_INIT;
	char kept[BR_DIGEST_BUF], loose[BR_DIGEST_BUF], data[32], ref[16];

	t_daemon_setup(&d, "contentd");
	lease_create(&d, NULL, "keep", 0);
	T_NOERR(put_blob(&d, "keep", "k", "kept blob", 9, kept, &err), err);
	for (int round = 0; round < 2; round++) {
		int64_t runs = gc_runs(&d), start = br_now_ms();
		int n = snprintf(data, sizeof(data), "loose blob %d", round);
		snprintf(ref, sizeof(ref), "l%d", round);
		T_NOERR(put_blob(&d, NULL, ref, data, (size_t)n, loose, &err), err);
		for (int i = 0; i < 100 && info(&d, loose, &err) == 0; i++)
			usleep(50 * 1000);
		T_ERR(info(&d, loose, &err), err, BR_NOT_FOUND);
		printf("# round %d: collected after %lld ms\n", round,
		       (long long)(br_now_ms() - start));
		T_OK(gc_runs(&d) > runs);
		T_NOERR(info(&d, kept, &err), err);
	}
	t_daemon_teardown(&d);
}

static void
test_idle_ingests_expire(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	struct br_content_write_resp resp;

	t_daemon_setup(&d, "contentd");
	lease_create(&d, NULL, "l", 0);
	struct br_content_write_req idle = {.ref = "idle", .data = {(const uint8_t *)"abc", 3}};
	struct br_content_write_req held = {.ref = "held", .data = {(const uint8_t *)"abc", 3}};
	T_NOERR(call(&d, NULL, NULL, "content.write", &br_content_write_req_schema, &idle,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	T_NOERR(call(&d, NULL, "l", "content.write", &br_content_write_req_schema, &held,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	T_EQ_INT(gc(&d).ingests, 0); /* not idle long enough yet */
	usleep(1200 * 1000);
	struct br_content_write_req fresh = {.ref = "fresh", .data = {(const uint8_t *)"abc", 3}};
	T_NOERR(call(&d, NULL, NULL, "content.write", &br_content_write_req_schema, &fresh,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	T_EQ_INT(gc(&d).ingests, 1);
	T_ERR(status(&d, "idle", &err), err, BR_NOT_FOUND);
	T_NOERR(status(&d, "held", &err), err);
	T_NOERR(status(&d, "fresh", &err), err);
	/* The held one can still be completed. */
	held.offset = 3;
	held.data = (struct br_bytes){NULL, 0};
	held.commit = true;
	T_NOERR(call(&d, NULL, "l", "content.write", &br_content_write_req_schema, &held,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	t_daemon_teardown(&d);
}

static void
test_orphan_file_collected(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	char digest[BR_DIGEST_BUF], path[512];
	br_err err = BR_ERR_INIT;
	struct stat sb;

	t_daemon_setup(&d, "contentd");
	br_digest_buf("orphan", 6, digest);
	snprintf(path, sizeof(path), "%s/root/contentd/blobs/sha256/%s", d.dir,
	         br_digest_hex(digest));
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);
	T_OK(fd >= 0);
	T_EQ_INT(write(fd, "orphan", 6), 6);
	close(fd);
	T_ERR(info(&d, digest, &err), err, BR_NOT_FOUND);
	struct br_gc_result r = gc(&d);
	T_EQ_INT(r.orphans, 1);
	T_EQ_INT(r.removed, 0);
	T_OK(stat(path, &sb) < 0 && errno == ENOENT);
	t_daemon_teardown(&d);
}

static void
test_row_without_file_removed_at_start(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	char digest[BR_DIGEST_BUF], path[512];
	br_err err = BR_ERR_INIT;

	t_daemon_setup(&d, "contentd");
	lease_create(&d, NULL, "l", 0);
	T_NOERR(put_blob(&d, "l", "v", "vanishing", 9, digest, &err), err);
	t_daemon_stop(&d);
	snprintf(path, sizeof(path), "%s/root/contentd/blobs/sha256/%s", d.dir,
	         br_digest_hex(digest));
	T_EQ_INT(unlink(path), 0);
	t_daemon_start(&d);
	T_ERR(info(&d, digest, &err), err, BR_NOT_FOUND);
	/* The lease still names it: writing it again under the lease brings it back, held. */
	struct br_lease_resources_resp held = lease_resources(&d, "l");
	T_OK(holds_only(&held, "content", digest));
	T_NOERR(put_blob(&d, NULL, "v2", "vanishing", 9, digest, &err), err);
	T_EQ_INT(gc(&d).removed, 0);
	T_NOERR(info(&d, digest, &err), err);
	t_daemon_teardown(&d);
}

/* ---- collection racing writes ---- */

#define RACE_WRITERS 4
#define RACE_BLOBS 30

struct race_writer {
	const char *url;
	int id;
	char held[RACE_BLOBS][BR_DIGEST_BUF]; /* committed under the lease */
	int n_held;
	char junk[RACE_BLOBS][BR_DIGEST_BUF]; /* committed without a lease */
	char failure[1200];
};

static volatile int race_writers_done;

/* Blob i of writer w: held ones are 1 to 3 chunks of 64 KiB plus a tail, some shared by all
 * writers (the same content committed concurrently); unheld ones are small garbage. */
static void *
race_writer_main(void *arg)
{
	struct race_writer *rw = arg;
	br_rpc_client *c = NULL;
	br_arena *arena = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_call_opts under = {.lease = "race"};
	struct br_content_write_resp resp;

	if (br_rpc_client_new(rw->url, "berth-contentd", &c, &err) < 0)
		goto fail;
	for (int i = 0; i < RACE_BLOBS; i++) {
		bool shared = i % 5 == 0;
		size_t len = (size_t)(i % 3 + 1) * 65536 + 100 + (size_t)rw->id;
		if (shared)
			len = (size_t)(i % 3 + 1) * 65536 + 7;
		uint8_t *data = pattern(len, shared ? 1000u + (unsigned)i : 100u * rw->id + i);
		char ref[64];
		snprintf(ref, sizeof(ref), "h-%d-%d", rw->id, i);
		int64_t off = 0;
		int rc = 0;
		while (off < (int64_t)len && rc == 0) {
			size_t n = len - (size_t)off > 65536 ? 65536 : len - (size_t)off;
			struct br_content_write_req req = {.ref = ref,
			                                   .offset = off,
			                                   .data = {data + off, n},
			                                   .commit = off + (int64_t)n ==
			                                             (int64_t)len};
			rc = br_rpc_call(c, &under, "content.write", &br_content_write_req_schema,
			                 &req, &br_content_write_resp_schema, &resp, arena, &err);
			off += (int64_t)n;
		}
		if (rc < 0 && err.code != BR_ALREADY_EXISTS) {
			free(data);
			goto fail;
		}
		br_digest_buf(data, len, rw->held[rw->n_held++]);
		free(data);
		/* And garbage that collections remove meanwhile. */
		char junk[64];
		snprintf(ref, sizeof(ref), "u-%d-%d", rw->id, i);
		snprintf(junk, sizeof(junk), "junk %d %d", rw->id, i);
		br_digest_buf(junk, strlen(junk), rw->junk[i]);
		struct br_content_write_req req = {
		        .ref = ref, .data = {(const uint8_t *)junk, strlen(junk)}, .commit = true};
		if (br_rpc_call(c, NULL, "content.write", &br_content_write_req_schema, &req,
		                &br_content_write_resp_schema, &resp, arena, &err) < 0)
			goto fail;
	}
	br_rpc_client_free(c);
	br_arena_free(arena);
	__sync_fetch_and_add(&race_writers_done, 1);
	return NULL;
fail:
	snprintf(rw->failure, sizeof(rw->failure), "writer %d: %s: %s", rw->id,
	         br_code_name(err.code), err.msg);
	br_rpc_client_free(c);
	br_arena_free(arena);
	__sync_fetch_and_add(&race_writers_done, 1);
	return NULL;
}

static void
test_gc_races_writes(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	static struct race_writer rw[RACE_WRITERS];
	pthread_t th[RACE_WRITERS];
	br_err err = BR_ERR_INIT;
	int64_t collections = 0, removed = 0;

	t_daemon_setup(&d, "contentd");
	lease_create(&d, NULL, "race", 0);
	for (int i = 0; i < RACE_WRITERS; i++) {
		rw[i].url = d.url;
		rw[i].id = i;
		T_EQ_INT(pthread_create(&th[i], NULL, race_writer_main, &rw[i]), 0);
	}
	while (race_writers_done < RACE_WRITERS) {
		removed += gc(&d).removed;
		collections++;
	}
	for (int i = 0; i < RACE_WRITERS; i++) {
		pthread_join(th[i], NULL);
		if (rw[i].failure[0] != '\0')
			T_FAIL_("%s", rw[i].failure);
	}
	removed += gc(&d).removed;
	printf("# %lld collections removed %lld blobs during the writes\n", (long long)collections,
	       (long long)removed);
	T_OK(collections > 1);
	/* Only content.gc collected (commits under a lease schedule nothing), and every piece
	 * of garbage was removed by exactly one of those collections. */
	T_EQ_INT(removed, RACE_WRITERS * RACE_BLOBS);
	for (int i = 0; i < RACE_WRITERS; i++) {
		T_EQ_INT(rw[i].n_held, RACE_BLOBS);
		for (int k = 0; k < RACE_BLOBS; k++)
			T_ERR(info(&d, rw[i].junk[k], &err), err, BR_NOT_FOUND);
		for (int k = 0; k < RACE_BLOBS; k++) {
			struct br_content_read_req rq = {rw[i].held[k], 0, 0};
			struct br_content_read_resp rr;
			char back[BR_DIGEST_BUF];
			br_sha256 *h = br_sha256_new();
			do {
				T_NOERR(br_rpc_call(d.client, NULL, "content.read",
				                    &br_content_read_req_schema, &rq,
				                    &br_content_read_resp_schema, &rr, d.arena,
				                    &err),
				        err);
				br_sha256_update(h, rr.data.data, rr.data.len);
				rq.offset += (int64_t)rr.data.len;
			} while (rr.data.len > 0);
			br_sha256_final(h, back);
			br_sha256_free(h);
			T_EQ_STR(back, rw[i].held[k]);
		}
	}
	t_daemon_teardown(&d);
}

static void
test_usage(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char a[BR_DIGEST_BUF], b[BR_DIGEST_BUF], c[BR_DIGEST_BUF];
	uint8_t *data = pattern(600, 3);
	struct br_content_write_resp resp;
	struct br_content_usage u;
	struct br_ns_usage nsu;

	t_daemon_setup(&d, "contentd");
	lease_create(&d, NULL, "l1", 0);
	T_NOERR(put_blob(&d, "l1", "a", data, 100, a, &err), err);
	T_NOERR(put_blob(&d, "l1", "b", data + 100, 200, b, &err), err);
	T_NOERR(put_blob(&d, NULL, "c", data + 300, 300, c, &err), err);
	lease_create(&d, "other", "l2", 0);
	lease_create(&d, "other", "l3", 0);
	struct br_lease_resource res = {"content", b};
	struct br_lease_resources_req ar = {.id = "l2", .resources = {&res, 1}};
	struct br_lease_missing_resp missing;
	T_NOERR(call(&d, "other", NULL, "content.leases.add", &br_lease_resources_req_schema, &ar,
	             &br_lease_missing_resp_schema, &missing, &err),
	        err);
	struct br_content_write_req part = {.ref = "part", .data = {data, 10}};
	struct br_content_write_req kept = {.ref = "kept", .data = {data, 20}};
	T_NOERR(call(&d, NULL, NULL, "content.write", &br_content_write_req_schema, &part,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	T_NOERR(call(&d, NULL, "l1", "content.write", &br_content_write_req_schema, &kept,
	             &br_content_write_resp_schema, &resp, &err),
	        err);
	/* The same answer from any namespace. */
	T_NOERR(call(&d, "elsewhere", NULL, "content.usage", NULL, NULL, &br_content_usage_schema,
	             &u, &err),
	        err);
	T_EQ_INT(u.blobs, 3);
	T_EQ_INT(u.bytes, 600);
	T_EQ_INT(u.ingests, 2);
	T_EQ_INT(u.ingest_bytes, 30);
	T_EQ_INT(u.reclaimable_bytes, 300);
	T_EQ_INT(u.namespaces.n, 2);
	const struct br_content_ns_usage *ns = u.namespaces.v;
	T_EQ_STR(ns[0].ns, "default");
	T_EQ_INT(ns[0].leases, 1);
	T_EQ_INT(ns[0].blobs, 2);
	T_EQ_INT(ns[0].bytes, 300);
	T_EQ_STR(ns[1].ns, "other");
	T_EQ_INT(ns[1].leases, 2);
	T_EQ_INT(ns[1].blobs, 1);
	T_EQ_INT(ns[1].bytes, 200);
	/* Past the ingest expiry, the unheld ingest is reclaimable too. */
	usleep(1100 * 1000);
	T_NOERR(call(&d, NULL, NULL, "content.usage", NULL, NULL, &br_content_usage_schema, &u,
	             &err),
	        err);
	T_EQ_INT(u.reclaimable_bytes, 310);

	/* daemon.namespace */
	T_NOERR(call(&d, "other", NULL, "daemon.namespace", NULL, NULL, &br_ns_usage_schema, &nsu,
	             &err),
	        err);
	T_EQ_INT(nsu.items.n, 1);
	T_EQ_STR(nsu.items.v[0], "2 leases");
	T_NOERR(call(&d, NULL, NULL, "daemon.namespace", NULL, NULL, &br_ns_usage_schema, &nsu,
	             &err),
	        err);
	T_EQ_STR(nsu.items.v[0], "1 lease");
	T_NOERR(call(&d, "empty", NULL, "daemon.namespace", NULL, NULL, &br_ns_usage_schema, &nsu,
	             &err),
	        err);
	T_EQ_INT(nsu.items.n, 0);
	free(data);
	t_daemon_teardown(&d);
}

static void
test_list_pages_over_the_wire(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	char digest[BR_DIGEST_BUF], ref[16], body[16];
	struct br_content_list_resp list;
	size_t seen = 0, pages = 0;

	t_daemon_setup(&d, "contentd");
	for (int i = 0; i < 5; i++) {
		snprintf(ref, sizeof(ref), "r%d", i);
		snprintf(body, sizeof(body), "blob %d", i);
		T_NOERR(put_blob(&d, NULL, ref, body, strlen(body), digest, &err), err);
	}
	struct br_content_list_req req = {.page = {.size = 2}};
	do {
		T_NOERR(call(&d, NULL, NULL, "content.list", &br_content_list_req_schema, &req,
		             &br_content_list_resp_schema, &list, &err),
		        err);
		seen += list.items.n;
		pages++;
		req.page.token = list.next_page_token;
	} while (req.page.token != NULL);
	T_EQ_INT(seen, 5);
	T_EQ_INT(pages, 3);
	/* Without paging fields: the first page of BR_PAGE_DEFAULT, here everything. */
	T_NOERR(call(&d, NULL, NULL, "content.list", NULL, NULL, &br_content_list_resp_schema,
	             &list, &err),
	        err);
	T_EQ_INT(list.items.n, 5);
	T_NULL(list.next_page_token);
	req.page.token = "garbage";
	T_ERR(call(&d, NULL, NULL, "content.list", &br_content_list_req_schema, &req,
	           &br_content_list_resp_schema, &list, &err),
	      err, BR_INVALID_ARGUMENT);
	t_daemon_teardown(&d);
}

/* Every lease that comes to exist or goes is announced once, in its namespace: a create, a
 * put that creates (not one that updates, nor a renewal of an unknown lease), a delete, and
 * an expired lease replaced by a new one of the same id. A blob deleted from any namespace is
 * announced in "default". Events survive a restart of the daemon. */
static void
test_lease_and_content_events(void)
{
	struct t_daemon d = {.config_json = CONFIG_QUIET};
	br_err err = BR_ERR_INIT;
	const char *keys[] = {"owner"}, *x[] = {"x"};
	struct br_lease lease;
	struct br_lease_missing_resp missing;
	char digest[BR_DIGEST_BUF], db_path[128];
	struct t_event *ev;
	struct br_event_lease_create lc;
	struct br_event_lease_delete ld;
	struct br_event_content_delete cd;

	t_daemon_setup(&d, "contentd");
	struct br_lease_create_req cr = {.id = "a", .labels = {keys, x, 1}};
	T_NOERR(call(&d, NULL, NULL, "content.leases.create", &br_lease_create_req_schema, &cr,
	             &br_lease_schema, &lease, &err),
	        err);
	lease_create(&d, "other", "t", 100000);
	struct br_lease_put_req pr = {.id = "p", .ttl_ms = 0};
	for (int i = 0; i < 2; i++) /* the second put updates: no event */
		T_NOERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &pr,
		             &br_lease_missing_resp_schema, &missing, &err),
		        err);
	struct br_lease_put_req renew = {.id = "q", .must_exist = true};
	T_ERR(call(&d, NULL, NULL, "content.leases.put", &br_lease_put_req_schema, &renew,
	           &br_lease_missing_resp_schema, &missing, &err),
	      err, BR_NOT_FOUND);
	T_NOERR(lease_delete(&d, NULL, "a", &err), err);
	lease_create(&d, NULL, "short", 100);
	usleep(200 * 1000);
	lease_create(&d, NULL, "short", 0); /* the expired one is deleted first */
	T_NOERR(put_blob(&d, NULL, "b", "bytes", 5, digest, &err), err);
	struct br_content_digest_req del = {digest};
	T_NOERR(call(&d, "other", NULL, "content.delete", &br_content_digest_req_schema, &del, NULL,
	             NULL, &err),
	        err);
	t_daemon_stop(&d);
	t_daemon_start(&d);

	snprintf(db_path, sizeof(db_path), "%s/root/contentd/meta.db", d.dir);
	sqlite3 *db = t_events_open(db_path);
	T_EQ_INT(t_events_read(db, NULL, d.arena, &ev), 8);
	static const char *const want[][3] = {
	        {BR_TOPIC_LEASE_CREATE, "default", "a"},
	        {BR_TOPIC_LEASE_CREATE, "other", "t"},
	        {BR_TOPIC_LEASE_CREATE, "default", "p"},
	        {BR_TOPIC_LEASE_DELETE, "default", "a"},
	        {BR_TOPIC_LEASE_CREATE, "default", "short"},
	        {BR_TOPIC_LEASE_DELETE, "default", "short"},
	        {BR_TOPIC_LEASE_CREATE, "default", "short"},
	        {BR_TOPIC_CONTENT_DELETE, "default", ""},
	};
	for (size_t i = 0; i < 8; i++) {
		T_EQ_STR(ev[i].topic, want[i][0]);
		T_EQ_STR(ev[i].ns, want[i][1]);
		if (strcmp(want[i][0], BR_TOPIC_LEASE_CREATE) == 0) {
			t_event_decode(&ev[i], &br_event_lease_create_schema, d.arena, &lc);
			T_EQ_STR(lc.id, want[i][2]);
			T_EQ_STR(lc.daemon, "contentd");
		} else if (strcmp(want[i][0], BR_TOPIC_LEASE_DELETE) == 0) {
			t_event_decode(&ev[i], &br_event_lease_delete_schema, d.arena, &ld);
			T_EQ_STR(ld.id, want[i][2]);
			T_EQ_INT(ld.expired, i == 5);
		}
	}
	t_event_decode(&ev[0], &br_event_lease_create_schema, d.arena, &lc);
	T_EQ_INT(lc.expire_at, 0);
	T_EQ_INT(lc.labels.n, 1);
	T_EQ_STR(lc.labels.keys[0], "owner");
	T_EQ_STR(lc.labels.values[0], "x");
	t_event_decode(&ev[1], &br_event_lease_create_schema, d.arena, &lc);
	T_OK(lc.expire_at > ev[1].time / 1000000 + 90000);
	T_OK(lc.expire_at <= ev[1].time / 1000000 + 100000);
	t_event_decode(&ev[7], &br_event_content_delete_schema, d.arena, &cd);
	T_EQ_STR(cd.digest, digest);
	for (size_t i = 1; i < 8; i++)
		T_OK(ev[i].time >= ev[i - 1].time);
	sqlite3_close(db);
	t_daemon_teardown(&d);
}

T_MAIN(T_CASE(test_write_read_stop), T_CASE(test_errors_over_the_wire),
       T_CASE(test_kill9_mid_ingest_and_resume), T_CASE(test_lease_methods),
       T_CASE(test_lease_expiry), T_CASE(test_write_under_lease),
       T_CASE(test_gc_removes_exactly_unheld), T_CASE(test_collection_only_after_release),
       T_CASE(test_renewal_must_exist), T_CASE(test_expired_lease_collected_by_itself),
       T_CASE(test_gc_timer), T_CASE(test_idle_ingests_expire), T_CASE(test_orphan_file_collected),
       T_CASE(test_row_without_file_removed_at_start), T_CASE(test_gc_races_writes),
       T_CASE(test_usage), T_CASE(test_list_pages_over_the_wire),
       T_CASE(test_lease_and_content_events))
