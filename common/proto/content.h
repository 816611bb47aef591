/* SPDX-License-Identifier: Apache-2.0 */
/*
 * content.* (berth-contentd): the content-addressed blob store.
 *
 *   content.info    {digest}                      -> br_content_info
 *   content.list    {page_size, page_token}       -> {items: [br_content_info], next_page_token}
 *   content.delete  {digest}                      -> {}
 *   content.write   br_content_write_req          -> br_content_write_resp
 *   content.status  {ref}                         -> br_content_status
 *   content.abort   {ref}                         -> {}
 *   content.read    {digest, offset, size}        -> {data, offset, total}
 *   content.usage   {}                            -> br_content_usage
 *   content.gc, content.leases.*                  -> common/proto/leases.h
 *
 * Writing: an ingest is named by a caller-chosen `ref` (e.g. "pull-<digest>"). Each
 * content.write appends `data` at `offset`, which must equal the bytes already written (a
 * mismatch answers FAILED_PRECONDITION with the current offset in the message, so a caller
 * can resume with content.status). With `commit`, the ingest is closed: its size must equal
 * `total` (if given) and its digest `expected` (if given), otherwise nothing is stored and the
 * ingest is discarded (FAILED_PRECONDITION "digest mismatch: expected ..., got ...").
 * Committing content that already exists answers ALREADY_EXISTS and discards the ingest.
 * A write whose envelope names a lease holds its ingest ("ingest", ref) in it and, once
 * committed (or found to exist already), its blob ("content", digest) (docs/leases.md).
 *
 * Events (docs/events.md): /content/delete when a blob's row goes, by content.delete, by a
 * collection or by the start-up repair of a blob whose file was lost, in the transaction
 * that deletes the row. Blobs belong to no namespace, so the event is published in
 * BR_STORE_EVENT_NS (common/proto/leases.h). A committed ingest emits nothing, as in
 * containerd: the blob is announced by what holds it (an image, a lease).
 */
#ifndef BR_COMMON_PROTO_CONTENT_H
#define BR_COMMON_PROTO_CONTENT_H

#include "common/proto/types.h"

struct br_content_digest_req {
	const char *digest;
};
extern const struct br_schema br_content_digest_req_schema;

struct br_content_info {
	const char *digest;
	int64_t size;
	int64_t created_at; /* ms since the epoch */
	int64_t updated_at;
	struct br_strmap labels;
};
extern const struct br_schema br_content_info_schema;

/* content.list: one page of blobs, ordered by digest (paging: common/proto/types.h). */
struct br_content_list_req {
	struct br_page_req page;
};
extern const struct br_schema br_content_list_req_schema;

struct br_content_list_resp {
	struct br_objlist items;     /* struct br_content_info */
	const char *next_page_token; /* absent on the last page */
};
extern const struct br_schema br_content_list_resp_schema;

struct br_content_write_req {
	const char *ref;
	int64_t offset;
	struct br_bytes data; /* at most BR_CHUNK_MAX */
	int64_t total;        /* expected final size, 0 = unknown */
	const char *expected; /* expected digest, NULL = unknown */
	bool commit;
	struct br_strmap labels; /* applied on commit */
};
extern const struct br_schema br_content_write_req_schema;

struct br_content_write_resp {
	const char *ref;
	int64_t offset;     /* bytes written so far */
	const char *digest; /* set once committed */
};
extern const struct br_schema br_content_write_resp_schema;

struct br_content_ref_req {
	const char *ref;
};
extern const struct br_schema br_content_ref_req_schema;

struct br_content_status {
	const char *ref;
	int64_t offset;
	int64_t total;
	const char *expected;
	int64_t started_at;
	int64_t updated_at;
};
extern const struct br_schema br_content_status_schema;

struct br_content_read_req {
	const char *digest;
	int64_t offset;
	int64_t size; /* at most BR_CHUNK_MAX; 0 = BR_CHUNK_MAX */
};
extern const struct br_schema br_content_read_req_schema;

struct br_content_read_resp {
	struct br_bytes data; /* empty at the end of the blob */
	int64_t offset;
	int64_t total; /* size of the whole blob */
};
extern const struct br_schema br_content_read_resp_schema;

/* The payload of /content/delete. */
struct br_event_content_delete {
	const char *digest;
};
extern const struct br_schema br_event_content_delete_schema;

#define BR_CONTENT_USAGE_NS_MAX 4096 /* namespaces in one content.usage reply */

/* What one namespace's unexpired leases hold. A blob held in two namespaces counts in both. */
struct br_content_ns_usage {
	const char *ns;
	int64_t leases; /* unexpired leases of the namespace */
	int64_t blobs;  /* distinct blobs its leases hold */
	int64_t bytes;  /* their sizes */
};
extern const struct br_schema br_content_ns_usage_schema;

/* content.usage: the whole store, whatever the request's namespace. */
struct br_content_usage {
	int64_t blobs;                /* blobs stored */
	int64_t bytes;                /* their sizes */
	int64_t ingests;              /* ingests in progress */
	int64_t ingest_bytes;         /* bytes written to them so far */
	int64_t reclaimable_bytes;    /* blobs no lease holds + ingests unheld and past expiry */
	struct br_objlist namespaces; /* struct br_content_ns_usage, ordered by ns; every
	                               * namespace with an unexpired lease */
};
extern const struct br_schema br_content_usage_schema;

#endif
