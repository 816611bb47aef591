/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-imaged's internals shared by its files: the service state, jobs (jobs.c), the
 * contentd helpers (blobs.c), layer unpacking into snapshots (unpack.c), the pull, import,
 * push and export jobs (pull.c, import.c with import_docker.c, push.c, export.c; archive
 * documents in archive.c), the stream socket (streams.c), image records, their leases and
 * tags (records.c) and the RPC methods (service.c).
 *
 * Threading: the service, its database and every job record belong to the loop thread. A
 * pull is a flow on the loop (imaged_job_start_flow): it calls contentd and snapshotd
 * asynchronously (imaged_call), fetches documents on libuv's pool (imaged_work) and hands its
 * layers to worker threads of its own that only move bytes (unpack.c), whose calls to the
 * stores the loop issues (struct imaged_bridge). Import, push and export still run on a
 * thread of their own each, which hands its calls to the stores to the loop the same way,
 * reads its inputs from the job (set before the thread starts, never changed), reports
 * through imaged_job_step()/imaged_job_progress() and reaches the database only by running a
 * function on the loop (br_loop_call). No thread of imaged calls a store itself.
 *
 * Leases (docs/leases.md): every job holds an expiring lease "job-<id>" in contentd and
 * snapshotd under which it writes and finds everything; every image record holds a lease
 * "image-<sha256 of its name>" in both, kept by the outbox (common/lease_owner.h).
 */
#ifndef BR_IMAGED_IMAGED_H
#define BR_IMAGED_IMAGED_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/config.h"
#include "common/lease_owner.h"
#include "common/loop.h"
#include "common/outbox.h"
#include "common/oci.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "imaged/registry.h"
#include "imaged/store.h"

#define IMAGED_JOB_ID_LEN 16       /* hex characters */
#define IMAGED_MAX_RUNNING_JOBS 64 /* more at once: RESOURCE_EXHAUSTED */
#define IMAGED_JOBS_KEPT 256       /* finished jobs remembered for jobs.get */
#define IMAGED_JOB_KEEP_MS (60 * 60 * 1000)
#define IMAGED_CONFIG_CACHE 64 /* parsed image configs kept for images.resolve */
/* Snapshot keys in the reserved space (BR_SNAP_RESERVED_PREFIX) that only daemons can use:
 * a layer is committed as "berth.layer.<chain ID>", unpacked first into
 * "berth.extract.<random>-<chain ID>". */
#define IMAGED_LAYER_PREFIX "berth.layer."
#define IMAGED_EXTRACT_PREFIX "berth.extract."
#define IMAGED_KEY_BUF 128
#define IMAGED_LEASE_BUF 80 /* "job-<id>", "image-<64 hex>" */

struct imaged_job;
struct imaged_waiter;
struct imaged_job_item;

struct imaged_config_entry {
	char digest[BR_DIGEST_BUF];
	struct br_oci_image_config *config;
};

struct imaged_service {
	struct br_loop *loop;
	uv_loop_t *uv;
	const struct br_config *cfg;
	sqlite3 *db; /* loop thread */
	br_rpc_client *content;
	br_rpc_client *snapshots;
	br_rpc_client *gateway; /* the event log: the outbox's events go there */
	struct br_outbox *outbox;
	struct br_lease_owner owner;

	struct imaged_job *jobs; /* newest first */
	size_t n_running;
	unsigned inflight; /* images.resolve work on libuv's pool */
	bool stopping;
	uv_timer_t renew_timer; /* renews the leases of running jobs */

	struct br_stream_listener *streams; /* the stream socket (streams.c) */

	struct imaged_backfill_run *backfill; /* records from before leases (records.c) */

	struct imaged_config_entry configs[IMAGED_CONFIG_CACHE];
	size_t next_config;

	/* Blobs some job of this daemon is writing (imaged_blob_claim): one writer per blob,
	 * so that two pulls sharing a layer download it once. Any thread, under blob_lock. */
	pthread_mutex_t blob_lock;
	pthread_cond_t blob_cond;
	struct imaged_claim *claims;
	struct claim_waiter *claim_waiters; /* flows waiting for a claim (blobs.c) */
	atomic_bool claim_waiting;          /* claim_waiters is not empty */

	/* Pull jobs started and failed (canceled ones aside) since start, for metrics. */
	uint64_t pulls_started, pulls_failed;
};

/* ------------------------------------------------------------------ jobs (jobs.c) */

/* The work of a job, on its own thread: 0 with *ret_result (a heap string: the image name),
 * or -1 with err. */
typedef int (*imaged_job_fn)(struct imaged_job *job, char **ret_result, br_err *err);
/* The work of a job as a flow on the loop: started once the job's lease exists, it ends the
 * job with imaged_job_end(), at once or from a later completion. */
typedef void (*imaged_flow_fn)(struct imaged_job *job);

struct imaged_job {
	struct imaged_service *svc;
	struct imaged_job *next;
	char id[IMAGED_JOB_ID_LEN + 1];
	char lease[IMAGED_LEASE_BUF]; /* "job-<id>", in the job's namespace */
	char *ns;
	const char *kind;    /* "pull" | "import" | "push" | "export" */
	imaged_job_fn fn;    /* a job on its own thread, or */
	imaged_flow_fn flow; /* a flow on the loop */
	void *arg;
	void (*free_arg)(void *arg);
	atomic_bool cancel;
	_Atomic int64_t done_bytes;
	_Atomic int64_t total_bytes;
	/* Progress (jobs.c): the items, under progress_lock, which is held only to copy or
	 * change them, never across a call; the version, bumped on each change; `watched` set
	 * by the loop while a jobs.wait waits for a change, `notify_pending` while the loop has
	 * a wake-up for it queued. */
	pthread_mutex_t progress_lock;
	struct imaged_job_item *items;
	size_t n_items;
	_Atomic uint64_t progress_version;
	_Atomic int64_t updated_at;
	atomic_bool watched;
	atomic_bool notify_pending;
	/* loop thread only */
	const char *state; /* "running" | "done" | "failed" | "canceled" */
	char *message;
	br_err error;
	char *result;
	int64_t started_at, ended_at; /* ms since the epoch */
	struct imaged_waiter *waiters;
	pthread_t thread;
	bool thread_running;    /* started and not joined yet */
	bool lease_ended;       /* its lease was handed over or dropped: no more renewals */
	atomic_bool lease_held; /* set by the job's thread once its lease exists in both stores */
};

/*
 * Start a job running `fn` on a new thread, once the job's lease exists in both stores (the
 * loop puts it). `arg` (freed with `free_arg` when the job record goes) is handed over even on
 * failure. RESOURCE_EXHAUSTED with too many jobs running,
 * UNAVAILABLE while stopping. Loop thread.
 */
int imaged_job_start(struct imaged_service *svc, const char *ns, const char *kind, imaged_job_fn fn,
                     void *arg, void (*free_arg)(void *arg), struct imaged_job **ret, br_err *err);

/*
 * Start a job running `flow` on the loop, once its lease exists in both stores; as
 * imaged_job_start otherwise. A flow never blocks the loop: it moves on from completions,
 * of RPCs to the stores (imaged_call) and of blocking work on libuv's pool (imaged_work), and
 * ends the job once with imaged_job_end(), when nothing it started is outstanding. It checks
 * imaged_job_canceled() between its steps. Loop thread.
 */
int imaged_job_start_flow(struct imaged_service *svc, const char *ns, const char *kind,
                          imaged_flow_fn flow, void *arg, void (*free_arg)(void *arg),
                          struct imaged_job **ret, br_err *err);
/* End a flow's job: rc 0 with `result` (heap, taken; may be NULL), or -1 with `err`. */
void imaged_job_end(struct imaged_job *job, int rc, char *result, const br_err *err);

/* An RPC issued on the loop: `done` runs there once, with err NULL on success and the reply
 * decoded with `rs` into `result`, which lives until `done` returns. `params` are packed at
 * once. Loop thread. */
typedef void (*imaged_call_fn)(void *data, const br_err *err, void *result);
void imaged_call(struct imaged_service *svc, br_rpc_client *client, const struct br_call_opts *opts,
                 const char *method, const struct br_schema *ps, const void *params,
                 const struct br_schema *rs, imaged_call_fn done, void *data);
/* Blocking work (a registry fetch, a parse) on libuv's pool: work(data) there, then
 * done(data) on the loop. Counted in svc->inflight. Loop thread. */
void imaged_work(struct imaged_service *svc, void (*work)(void *data), void (*done)(void *data),
                 void *data);

/*
 * A call that a worker thread (a layer worker) hands to the loop, which issues it
 * asynchronously; the worker waits for its end at once (imaged_bridge_call) or goes on and
 * waits later (imaged_bridge_start, then imaged_bridge_wait), so that it can prepare the next
 * chunk while one is written. The worker packs the request itself as the call starts (its
 * params are free again then); the loop only sends it. The arena the result is decoded into
 * and the struct itself stay untouched until the wait returned. Worker threads only, never
 * the loop.
 */
struct imaged_bridge {
	struct imaged_service *svc;
	br_rpc_client *client;
	struct br_call_opts opts;
	const char *method;
	const struct br_schema *ps;
	const void *params;
	const struct br_schema *rs; /* NULL: no result wanted */
	void *ret;
	br_arena *arena;
	/* the request, packed by the worker; the wait */
	msgpack_sbuffer packed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	br_err err;
};
void imaged_bridge_start(struct imaged_bridge *c);
int imaged_bridge_wait(struct imaged_bridge *c, br_err *err);
int imaged_bridge_call(struct imaged_service *svc, br_rpc_client *client,
                       const struct br_call_opts *opts, const char *method,
                       const struct br_schema *ps, const void *params, const struct br_schema *rs,
                       void *ret, br_arena *arena, br_err *err);

/* Report the current step ("fetch layer sha256:..."). Job threads. */
void imaged_job_step(struct imaged_job *job, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Add to the byte counters of the job. Any thread. */
void imaged_job_progress(struct imaged_job *job, int64_t done, int64_t total);
/*
 * Per-item progress, shown in jobs.get/jobs.wait as `layers` (docs/images.md): a job that
 * moves a list of things (an image's layers) declares them with imaged_job_items_init(job, n)
 * (at most BR_JOB_ITEMS_MAX are listed; calls about the others are ignored, as are calls with
 * an index past n), names each with imaged_job_item_set() (state "waiting"), then reports its
 * state changes and the bytes it moves; imaged_job_progress() keeps counting the job's totals.
 * A later imaged_job_items_init() replaces the list. Each call takes the job's small progress
 * lock for a moment, bumps the job's progress_version and, when a jobs.wait waits for a
 * change, queues one wake-up on the loop (never waiting for it). Job threads and their
 * layer workers.
 */
enum imaged_item_state {
	IMAGED_ITEM_WAITING = 0,
	IMAGED_ITEM_DOWNLOADING,
	IMAGED_ITEM_VERIFYING,
	IMAGED_ITEM_UNPACKING,
	IMAGED_ITEM_DONE,
	IMAGED_ITEM_EXISTS,    /* there already: nothing to move */
	IMAGED_ITEM_UPLOADING, /* a push sends it to the registry */
	IMAGED_ITEM_WRITING,   /* an export writes it into the archive */
};
void imaged_job_items_init(struct imaged_job *job, size_t n);
void imaged_job_item_set(struct imaged_job *job, size_t i, const char *digest, int64_t size);
/* DONE and EXISTS also count the item's bytes as done. */
void imaged_job_item_state(struct imaged_job *job, size_t i, enum imaged_item_state state);
/* Add `done` bytes (may be negative when a transfer starts over) to item i. */
void imaged_job_item_progress(struct imaged_job *job, size_t i, int64_t done);
/* The wire name of a state ("downloading"). Pure. */
const char *imaged_item_state_name(enum imaged_item_state state);

/* True once jobs.cancel (or a stop) asked the job to end. Any thread. */
bool imaged_job_canceled(const struct imaged_job *job);

/* jobs.get / jobs.wait / jobs.cancel handlers. Loop thread. A jobs.wait that waits holds one
 * libuv timer: until its interval_ms ends, then (armed for the first change after its
 * since_version, announced by the job's threads as above) until its timeout_ms; jobs.c
 * "Progress" has the whole of it. */
void imaged_handle_jobs_get(br_call *call, void *data);
void imaged_handle_jobs_wait(br_call *call, void *data);
void imaged_handle_jobs_cancel(br_call *call, void *data);

/* Stop: cancel every job and answer waiters UNAVAILABLE (loop thread, from on_stop); then,
 * once the loop stopped, run it until every job thread has ended (they may be waiting for
 * the loop) and join them; finally free the records. */
void imaged_jobs_stop(struct imaged_service *svc);
void imaged_jobs_join(struct imaged_service *svc);
void imaged_jobs_free(struct imaged_service *svc);
/* Start renewing the leases of running jobs (every third of imaged.job_lease_ttl_ms). */
void imaged_jobs_renew_start(struct imaged_service *svc);

/* ------------------------------------------------------------------ blobs (blobs.c) */

/* "blob-<hex>": the ingest a blob is written under, by any job (see imaged_ingest_new). */
#define IMAGED_INGEST_REF_BUF 80
void imaged_ingest_ref(const char *digest, char out[IMAGED_INGEST_REF_BUF]);

/* Call options for contentd and snapshotd on behalf of a job: its namespace and its lease. */
struct br_call_opts imaged_content_opts(const struct imaged_job *job);
struct br_call_opts imaged_snapshot_opts(const struct imaged_job *job);

/* Whether contentd holds `digest`. Job threads (any non-loop thread). */
int imaged_blob_exists(struct imaged_service *svc, const char *digest, bool *ret, br_err *err);

/*
 * Add blobs `digests[0..n)` (or snapshots `keys[0..n)` of the default snapshotter) to the
 * job's lease, and set ret_missing[i] for those that do not exist. From then on whatever
 * exists under those names stays until the job's lease goes. Job threads.
 */
int imaged_hold_blobs(struct imaged_job *job, const char *const *digests, size_t n,
                      bool *ret_missing, br_err *err);
int imaged_hold_snapshots(struct imaged_job *job, const char *const *keys, size_t n,
                          bool *ret_missing, br_err *err);

/* Become the one job of this daemon that writes blob `digest` (waiting for another that
 * does); CANCELED when `cancel` fires while waiting. Release it when done. Job threads. */
int imaged_blob_claim(struct imaged_service *svc, const char *digest,
                      const struct imaged_cancel *cancel, br_err *err);
void imaged_blob_release(struct imaged_service *svc, const char *digest);

/* ---- the same on the loop, for flows: each ends by calling done(data, err), err NULL on
 * success, never inline. */
typedef void (*imaged_done_fn)(void *data, const br_err *err);

/* imaged_hold_blobs (or, with `snapshots`, imaged_hold_snapshots); `keys` and `ret_missing`
 * stay valid until `done`. */
void imaged_hold_async(struct imaged_job *job, bool snapshots, const char *const *keys, size_t n,
                       bool *ret_missing, imaged_done_fn done, void *data);
/* imaged_blob_claim: `done` once the claim is the caller's (release it with
 * imaged_blob_release), or with CANCELED when the job was canceled while waiting. */
void imaged_blob_claim_async(struct imaged_job *job, const char *digest, imaged_done_fn done,
                             void *data);
/* Look again at the claims waited for on the loop: after a release, a cancel. Loop thread
 * (a br_loop_fn taking the service). */
void imaged_claims_retry(void *svc);
/* imaged_blob_put; `buf` stays valid until `done`. */
void imaged_blob_put_async(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                           imaged_done_fn done, void *data);

/* Read a whole blob of at most `max` bytes into a heap buffer (NUL-terminated). */
int imaged_blob_get(struct imaged_service *svc, const char *digest, size_t max, char **ret,
                    size_t *ret_len, br_err *err);

/* Store an in-memory blob under `digest` (content that is already there is fine). */
int imaged_blob_put(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                    br_err *err);

/*
 * A streamed write of one blob into contentd under the job's lease, committed with its
 * expected digest and size. The ingest is named after the blob ("blob-<hex>"), so a write that
 * an earlier job (or an earlier life of this daemon) left half done is continued:
 * imaged_ingest_offset() says how many bytes contentd has already, and writing goes on from
 * there. Hold the blob's claim (imaged_blob_claim) while writing. Job threads.
 */
struct imaged_ingest;
int imaged_ingest_new(struct imaged_job *job, const char *digest, int64_t size,
                      struct imaged_ingest **ret, br_err *err);
int64_t imaged_ingest_offset(const struct imaged_ingest *w);
/* Throw away what contentd has and start again at offset 0. */
int imaged_ingest_restart(struct imaged_ingest *w, br_err *err);
int imaged_ingest_write(struct imaged_ingest *w, const void *data, size_t len, br_err *err);
/* Write what is buffered and commit; ALREADY_EXISTS counts as success. */
int imaged_ingest_commit(struct imaged_ingest *w, br_err *err);
/* Free the writer. An uncommitted ingest is aborted if the job was canceled and otherwise
 * left for a later pull to continue (the job's lease keeps it until it expires). Accepts
 * NULL. */
void imaged_ingest_free(struct imaged_ingest *w);

/*
 * The same write for a layer worker, its calls issued by the loop (struct imaged_bridge): the
 * loop found the ingest's state first (imaged_ingest_offset's answer is `offset`); each full
 * chunk is handed to the loop while the worker fills the next. Created on the loop; used and
 * freed on the worker.
 */
struct imaged_ingest *imaged_ingest_at(struct imaged_job *job, const char *digest, int64_t size,
                                       int64_t offset);

/* A blob in contentd read as a layer source (imaged_source_fn, apply.h), in order from
 * `offset`: each chunk is asked for through the loop while the caller handles the one before.
 * Fill in the first fields (the rest zero); a thread that is not the loop. */
struct imaged_blob_reader {
	struct imaged_service *svc;
	const char *ns;
	const char *digest;
	const struct imaged_cancel *cancel;
	int64_t offset;
	br_arena *arena; /* the chunk handed out last */
	/* the next chunk, asked for */
	bool pending;
	struct imaged_bridge call;
	struct br_content_read_req req;
	struct br_content_read_resp resp;
	br_arena *next_arena;
};
ssize_t imaged_blob_read(void *data, const void **ret_buf, br_err *err);
void imaged_blob_reader_fini(struct imaged_blob_reader *r);

/* ------------------------------------------------------------------ unpack (unpack.c) */

/*
 * Make sure every layer of `m` is in contentd and unpacked, in order, into committed
 * snapshots "berth.layer.<chain ID>" in the job's namespace, all held by the job's lease;
 * `config` gives the diffIDs. With a registry, missing blobs are downloaded (up to
 * imaged.max_concurrent_downloads at once, a half-written one continued with a Range
 * request); without one (import) they must already be in contentd. Runs on the loop (and
 * its workers, unpack.c) and calls done(data, err, chain_id) there, never inline: err NULL
 * and the top chain ID, or why not. `reg`, `m` and `config` stay valid until then. On failure
 * the extract snapshots of this unpack are gone. Loop thread.
 */
typedef void (*imaged_unpack_fn)(void *data, const br_err *err, const char *chain_id);
void imaged_unpack_start(struct imaged_job *job, struct imaged_registry *reg,
                         const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                         imaged_unpack_fn done, void *data);
/* The same for a job thread, which waits for it: 0 with the top chain ID, or -1. */
int imaged_unpack(struct imaged_job *job, struct imaged_registry *reg,
                  const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                  char ret_chain_id[BR_DIGEST_BUF], br_err *err);

/* "berth.layer.<chain ID>": the snapshot key of a layer. Pure. */
void imaged_layer_key(const char *chain_id, char out[IMAGED_KEY_BUF]);

/* ------------------------------------------------------------------ records (records.c) */

/* "image-<sha256 hex of name>": the lease of image record `name`. Pure. */
void imaged_image_lease(const char *name, char out[IMAGED_LEASE_BUF]);

/*
 * The image record of a finished pull or import: `name` for `target` (an index or a
 * manifest), its platform manifest `m` (`manifest_digest`) with `config`, whose layers' top
 * chain ID is `chain_id`; its size and platform are worked out from them. Written in one
 * transaction with its leases (the blobs of the target, manifest, config and layers; the
 * snapshots of the layers of `config`'s chain) and the end of the job's lease, all queued in
 * the outbox in that order; with `keep_job_lease` (an archive with more images to come) the
 * job's lease stays. CANCELED if the job was canceled by then. The loop thread, or a job
 * thread (then it runs on the loop, and the thread waits).
 */
int imaged_store_image(struct imaged_job *job, const char *name, const struct br_descriptor *target,
                       const char *manifest_digest, const char *chain_id,
                       const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                       bool keep_job_lease, br_err *err);

/* The label of a record made by a tag that names the image it came from (the source's own
 * berth.source, else the source's name): push tries a cross-repository mount from there. */
#define IMAGED_LABEL_SOURCE "berth.source"

/*
 * Record image `target` of `ns` as the same image as `source` (both normalized): the same
 * target, manifest, config, chain and snapshot, labels plus berth.source, with its own image
 * leases holding what the source's hold; the record, its leases and its event (/images/create,
 * or /images/update when it replaced another image) in one transaction. *ret is the record as
 * stored, in `arena`. NOT_FOUND when the source does not exist. Loop thread.
 */
int imaged_tag_image(struct imaged_service *svc, const char *ns, const char *source,
                     const char *target, br_arena *arena, struct br_image *ret, br_err *err);

/* Remove image record `name` of `ns` and, in the same transaction, its leases. Loop. */
int imaged_remove_image(struct imaged_service *svc, const char *ns, const char *name, br_err *err);

/* Queue the deletion of a job's lease (a job that was canceled). Loop thread. */
void imaged_drop_job_lease(struct imaged_service *svc, const struct imaged_job *job);

/* Give the records written before leases existed their image leases: the part the record
 * names now, the layer blobs from a worker once contentd answers (records.c). Loop thread, at
 * start, before the owner's reconciliation; imaged_backfill_stop() ends the worker early. */
void imaged_backfill_start(struct imaged_service *svc);
void imaged_backfill_stop(struct imaged_service *svc);

/* "linux/amd64[/v8]" of a platform (heap string). */
char *imaged_platform_string(const char *os, const char *arch, const char *variant);

/* ------------------------------------------------------------------ jobs' work */

struct imaged_pull_arg {
	char *ref;                 /* as the user gave it */
	char *platform;            /* NULL: the configured default */
	struct imaged_creds creds; /* the call's, if it gave any */
};
void imaged_pull_arg_free(void *arg);
/* The pull job, a flow (pull.c). */
void imaged_pull_start(struct imaged_job *job);

struct imaged_import_arg {
	char *digest;   /* the archive blob */
	char *name;     /* NULL: from the archive */
	char *platform; /* NULL: the configured default */
};
void imaged_import_arg_free(void *arg);
/* The import job (import.c). */
int imaged_import_run(struct imaged_job *job, char **ret_result, br_err *err);

struct imaged_push_arg {
	char *name;                /* the image record, normalized */
	char *dest;                /* normalized reference to push to */
	char *platform;            /* NULL: every platform of an index */
	struct imaged_creds creds; /* the call's, if it gave any */
};
void imaged_push_arg_free(void *arg);
/* The push job (push.c). */
int imaged_push_run(struct imaged_job *job, char **ret_result, br_err *err);
/* An image record to export, copied off the database on the loop. */
struct imaged_export_image {
	char *name;
	char *tag; /* NULL for a digest-only name */
	char *target_media_type;
	char target_digest[BR_DIGEST_BUF];
	int64_t target_size;
	char manifest_digest[BR_DIGEST_BUF]; /* the platform manifest the record chose */
};

struct imaged_export_arg {
	int fd;         /* the client's stream (owned) */
	bool docker;    /* docker-archive, else OCI image layout */
	char *platform; /* NULL: every platform held (OCI), the configured default (docker) */
	struct imaged_export_image *images;
	size_t n_images;
	bool replied; /* the job's thread sent the stream's REPLY */
};
void imaged_export_arg_free(void *arg);
/* The export job (export.c): writes the archive to arg->fd; the result names the image (or
 * counts them). */
int imaged_export_run(struct imaged_job *job, char **ret_result, br_err *err);

/* ------------------------------------------------------------------ streams (streams.c) */

/* Listen on <state>/imaged-stream.sock for streams the gateway hands over (images.export).
 * Loop thread. */
int imaged_streams_start(struct imaged_service *svc, br_err *err);
void imaged_streams_stop(struct imaged_service *svc);

/* ------------------------------------------------------------------ service (service.c) */

extern const struct br_method imaged_methods[];
extern const size_t imaged_n_methods;

/* Open the database, the peers' clients and the outbox. `cfg` must outlive the service. */
int imaged_service_init(struct imaged_service *svc, struct br_loop *loop, uv_loop_t *uv,
                        const struct br_config *cfg, const char *data_dir, br_err *err);
/* Reconcile the image leases in the stores with the records, in the background, and start
 * renewing job leases. Loop thread. */
void imaged_reconcile_start(struct imaged_service *svc);
/* daemon.namespace: images and running jobs of `ns`. */
int imaged_ns_usage(void *data, const char *ns, br_arena *arena, struct br_strlist *ret,
                    br_err *err);
/* on_stop hook: cancel jobs and waiters. Loop thread. */
void imaged_service_on_stop(void *data);
/* After the loop stopped: join threads, let workers finish, close the peers. */
void imaged_service_shutdown(struct imaged_service *svc);
void imaged_service_fini(struct imaged_service *svc);
/* daemon.health detail: "jobs" running. */
void imaged_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs);
/* The daemon's metrics hook (struct br_daemon.metrics): image records, running jobs, pulls
 * started and failed, bytes received from registries (docs/metrics.md). Loop thread. */
struct br_metrics;
void imaged_metrics(void *data, struct br_metrics *m);

#endif
