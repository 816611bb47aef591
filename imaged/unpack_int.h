/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two halves of unpacking (unpack.c, unpack_worker.c). The loop half owns every layer's
 * state, makes every call to contentd and snapshotd and decides what happens next; the worker
 * half moves bytes: it fetches a layer from the registry, writes it to contentd (through the
 * loop: struct imaged_bridge), decompresses, hashes and applies it, and reports back to the
 * loop. A task is handed to a worker whole and comes back whole: between the two, only the
 * worker touches it.
 */
#ifndef BR_IMAGED_UNPACK_INT_H
#define BR_IMAGED_UNPACK_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "imaged/apply.h"
#include "imaged/imaged.h"

enum layer_state {
	LAYER_PENDING = 0, /* its blob is not in contentd; nobody works on it */
	LAYER_STORED,      /* its blob is in contentd, its snapshot is still to be made */
	LAYER_WORKING,     /* the loop or a worker fetches or unpacks it */
	LAYER_READY,       /* unpacked and verified into `extract`, to be committed in order */
	LAYER_COMMITTING,  /* its extract snapshot is being put in its place */
	LAYER_DONE,        /* blob in contentd and snapshot committed */
	LAYER_FAILED,
};

enum task_kind {
	TASK_FETCH,  /* fetch the blob into contentd only */
	TASK_STREAM, /* fetch it and unpack it as it arrives */
	TASK_UNPACK, /* unpack it from contentd */
	TASK_FIX,    /* give its implied directories the parents' attributes (apply.h) */
};

struct unpack;
struct layer;

/* One piece of work for a worker, and what came of it. */
struct task {
	struct task *next; /* in the workers' queue */
	struct unpack *u;
	struct layer *l;
	enum task_kind kind; /* also, while the layer is WORKING, what for */
	/* in */
	int64_t offset;  /* FETCH, STREAM: bytes of the blob contentd has already */
	const char *dir; /* STREAM, UNPACK, FIX: the extract snapshot's directory */
	enum imaged_whiteouts whiteouts;
	const char *const *lower_dirs; /* overlay on a parent (native: none), FIX: the parents */
	size_t n_lower_dirs;
	/* out */
	int rc;
	br_err err;
};

struct layer {
	const struct br_oci_descriptor *desc;
	const char *diff_id;
	char chain_id[BR_DIGEST_BUF];
	char key[IMAGED_KEY_BUF]; /* its snapshot */
	const char *parent;       /* the previous layer's snapshot key, NULL for the first */
	bool have_snapshot;
	enum layer_state state;
	bool claimed;   /* this job writes its blob (imaged_blob_claim_async) */
	int64_t offset; /* what contentd has of its ingest */
	char *extract;  /* its scratch snapshot, once prepared */
	char *extract_dir;
	br_arena *mounts; /* the extract's mount options (lower dirs) */
	char *view;       /* a view of its parents while its implied directories are fixed */
	br_arena *view_arena;
	struct imaged_implied_dirs implied; /* stacked: directories to fix at commit */
	struct task task;
};

struct unpack {
	struct imaged_job *job;
	struct imaged_registry *reg; /* NULL: an import, every blob is in contentd */
	struct layer *layers;
	size_t n;
	bool stacked;     /* layers unpack without parents and are stacked at commit */
	int max_unpacks;  /* layers unpacked at once */
	size_t n_workers; /* worker threads */
	int unpacking;    /* layers being unpacked now */
	int working;      /* layers handed to a worker or set up for one */
	size_t next_commit;
	unsigned busy; /* the loop's calls and the workers' tasks not answered yet */
	bool failed;   /* the first failure is in `error`; nothing new starts */
	br_err error;
	bool cleaned; /* the extracts of a failure are being removed */
	bool finished;
	atomic_bool stop; /* a failure: workers drop what they do */
	struct imaged_cancel cancel;
	void (*done)(void *data, const br_err *err, const char *chain_id);
	void *done_data;

	/* the workers (unpack_worker.c) */
	pthread_t threads[64];
	size_t n_threads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct task *queue, **queue_tail;
	bool quit;
};

/* Start the workers; hand them a task; stop them (loop thread, with no task out). */
void unpack_workers_start(struct unpack *u);
void unpack_task_queue(struct unpack *u, struct task *t);
void unpack_workers_stop(struct unpack *u);
/* A worker's task came back (posted to the loop by the worker). unpack.c. */
void unpack_task_done(void *task);

#endif
