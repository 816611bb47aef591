/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth-imaged's internals shared by its files: the service state, jobs (jobs.c), the
 * contentd helpers (blobs.c), layer unpacking into snapshots (unpack.c), the pull and import
 * jobs (pull.c, import.c) and the RPC methods (service.c).
 *
 * Threading: the service and every job record belong to the loop thread. A job's work runs on
 * its own thread (plus download threads of its own), which talks to contentd and snapshotd
 * with synchronous RPC, reads its inputs from the job (set before the thread starts, never
 * changed), reports through imaged_job_step()/imaged_job_progress() and writes the database
 * only through the journal connection (journal_db under journal_lock).
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
#include "common/loop.h"
#include "common/oci.h"
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
#define IMAGED_EXTRACT_PREFIX "extract-"

struct imaged_job;
struct imaged_waiter;

struct imaged_config_entry {
	char digest[BR_DIGEST_BUF];
	struct br_oci_image_config *config;
};

struct imaged_service {
	struct br_loop *loop;
	uv_loop_t *uv;
	const struct br_config *cfg;
	sqlite3 *db; /* loop thread */
	/* job threads' connection to the same database */
	sqlite3 *journal_db;
	pthread_mutex_t journal_lock;
	br_rpc_client *content;
	br_rpc_client *snapshots;

	struct imaged_job *jobs; /* newest first */
	size_t n_running;
	unsigned inflight; /* images.resolve work on libuv's pool */
	bool stopping;

	struct imaged_config_entry configs[IMAGED_CONFIG_CACHE];
	size_t next_config;

	/* What jobs of an earlier run left in the peers, cleaned up in the background. */
	struct imaged_pending *leftovers;
	size_t n_leftovers;
	pthread_t reconcile_thread;
	bool reconcile_running;
	atomic_bool reconcile_stop;
};

/* ------------------------------------------------------------------ jobs (jobs.c) */

/* The work of a job, on its own thread: 0 with *ret_result (a heap string: the image name),
 * or -1 with err. */
typedef int (*imaged_job_fn)(struct imaged_job *job, char **ret_result, br_err *err);

struct imaged_job {
	struct imaged_service *svc;
	struct imaged_job *next;
	char id[IMAGED_JOB_ID_LEN + 1];
	char *ns;
	const char *kind; /* "pull" | "import" */
	imaged_job_fn fn;
	void *arg;
	void (*free_arg)(void *arg);
	atomic_bool cancel;
	_Atomic int64_t done_bytes;
	_Atomic int64_t total_bytes;
	/* loop thread only */
	const char *state; /* "running" | "done" | "failed" | "canceled" */
	char *message;
	br_err error;
	char *result;
	int64_t started_at, ended_at; /* ms since the epoch */
	struct imaged_waiter *waiters;
	pthread_t thread;
	bool thread_running; /* started and not joined yet */
};

/*
 * Start a job running `fn` on a new thread. `arg` (freed with `free_arg` when the job record
 * goes) is handed over even on failure. RESOURCE_EXHAUSTED with too many jobs running,
 * UNAVAILABLE while stopping. Loop thread.
 */
int imaged_job_start(struct imaged_service *svc, const char *ns, const char *kind, imaged_job_fn fn,
                     void *arg, void (*free_arg)(void *arg), struct imaged_job **ret, br_err *err);

/* Report the current step ("fetch layer sha256:..."). Job threads. */
void imaged_job_step(struct imaged_job *job, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* Add to the byte counters of the job. Any thread. */
void imaged_job_progress(struct imaged_job *job, int64_t done, int64_t total);
/* True once jobs.cancel (or a stop) asked the job to end. Any thread. */
bool imaged_job_canceled(const struct imaged_job *job);

/* Journal a scratch resource before creating it / forget it once it is gone or committed
 * (store.h). Job threads. */
int imaged_job_journal_add(struct imaged_job *job, const char *kind, const char *name, br_err *err);
void imaged_job_journal_remove(struct imaged_job *job, const char *kind, const char *name);

/* A random id of IMAGED_JOB_ID_LEN hex characters. Any thread. */
void imaged_random_id(char out[IMAGED_JOB_ID_LEN + 1]);

/* jobs.get / jobs.wait / jobs.cancel handlers. Loop thread. */
void imaged_handle_jobs_get(br_call *call, void *data);
void imaged_handle_jobs_wait(br_call *call, void *data);
void imaged_handle_jobs_cancel(br_call *call, void *data);

/* Stop: cancel every job and answer waiters UNAVAILABLE (loop thread, from on_stop); then,
 * once the loop stopped, join the job threads; finally free the records. */
void imaged_jobs_stop(struct imaged_service *svc);
void imaged_jobs_join(struct imaged_service *svc);
void imaged_jobs_free(struct imaged_service *svc);

/* ------------------------------------------------------------------ blobs (blobs.c) */

/* Call options for contentd (blobs are global) and snapshotd (the job's namespace). */
struct br_call_opts imaged_content_opts(void);
struct br_call_opts imaged_snapshot_opts(const struct imaged_job *job);

/* Whether contentd holds `digest`. Job threads (any non-loop thread). */
int imaged_blob_exists(br_rpc_client *content, const char *digest, bool *ret, br_err *err);

/* Read a whole blob of at most `max` bytes into a heap buffer (NUL-terminated). */
int imaged_blob_get(br_rpc_client *content, const char *digest, size_t max, char **ret,
                    size_t *ret_len, br_err *err);

/* Store an in-memory blob under `digest` (content that is already there is fine). */
int imaged_blob_put(struct imaged_job *job, const void *buf, size_t len, const char *digest,
                    br_err *err);

/* A streamed write of one blob into contentd, committed with its expected digest and size. */
struct imaged_ingest;
int imaged_ingest_new(struct imaged_job *job, const char *digest, int64_t size,
                      struct imaged_ingest **ret, br_err *err);
int imaged_ingest_write(struct imaged_ingest *w, const void *data, size_t len, br_err *err);
/* Write what is buffered and commit; ALREADY_EXISTS counts as success. */
int imaged_ingest_commit(struct imaged_ingest *w, br_err *err);
/* Abort the ingest unless committed, and free it. Accepts NULL. */
void imaged_ingest_free(struct imaged_ingest *w);

/* A blob in contentd read as a layer source (imaged_source_fn, apply.h). */
struct imaged_blob_reader {
	br_rpc_client *content;
	const char *digest;
	const struct imaged_cancel *cancel;
	int64_t offset;
	br_arena *arena;
};
ssize_t imaged_blob_read(void *data, const void **ret_buf, br_err *err);
void imaged_blob_reader_fini(struct imaged_blob_reader *r);

/* ------------------------------------------------------------------ unpack (unpack.c) */

/*
 * Make sure every layer of `m` is in contentd and unpacked, in order, into committed
 * snapshots named by their chain IDs in the job's namespace; `config` gives the diffIDs.
 * With a registry, missing blobs are downloaded (up to imaged.max_concurrent_downloads at
 * once); without one (import) they must already be in contentd. Writes the top chain ID.
 * On failure the extract snapshots and ingests of this call are gone. Job thread.
 */
int imaged_unpack(struct imaged_job *job, struct imaged_registry *reg,
                  const struct br_oci_manifest *m, const struct br_oci_image_config *config,
                  char ret_chain_id[BR_DIGEST_BUF], br_err *err);

/* The image record for a finished pull or import, stored in one transaction. Job thread. */
int imaged_store_image(struct imaged_job *job, const struct br_image *img, br_err *err);

/* "linux/amd64[/v8]" of a platform (heap string). */
char *imaged_platform_string(const char *os, const char *arch, const char *variant);

/* ------------------------------------------------------------------ jobs' work */

struct imaged_pull_arg {
	char *ref;      /* as the user gave it */
	char *platform; /* NULL: the configured default */
};
void imaged_pull_arg_free(void *arg);
/* The pull job (pull.c). */
int imaged_pull_run(struct imaged_job *job, char **ret_result, br_err *err);

struct imaged_import_arg {
	char *digest;   /* the archive blob */
	char *name;     /* NULL: from the archive */
	char *platform; /* NULL: the configured default */
};
void imaged_import_arg_free(void *arg);
/* The import job (import.c). */
int imaged_import_run(struct imaged_job *job, char **ret_result, br_err *err);

/* ------------------------------------------------------------------ service (service.c) */

extern const struct br_method imaged_methods[];
extern const size_t imaged_n_methods;

/* Open the databases, read the journal of an earlier run. `cfg` must outlive the service. */
int imaged_service_init(struct imaged_service *svc, struct br_loop *loop, uv_loop_t *uv,
                        const struct br_config *cfg, const char *data_dir, br_err *err);
/* Clean up what the journal names, in the background, once the peers answer. Loop thread. */
void imaged_reconcile_start(struct imaged_service *svc);
/* on_stop hook: cancel jobs and waiters. Loop thread. */
void imaged_service_on_stop(void *data);
/* After the loop stopped: join threads, let workers finish, close the peers. */
void imaged_service_shutdown(struct imaged_service *svc);
void imaged_service_fini(struct imaged_service *svc);
/* daemon.health detail: "jobs" running. */
void imaged_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs);

#endif
