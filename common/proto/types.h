/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire types shared by several services: mounts, descriptors, the health reply and jobs.
 * See docs/api.md for the catalogue of methods.
 */
#ifndef BR_COMMON_PROTO_TYPES_H
#define BR_COMMON_PROTO_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "common/msg.h"

#define BR_KEY_MAX 255 /* snapshot keys, container ids, refs of ingests */
#define BR_PATH_MAX 4096
#define BR_NAME_MAX 512 /* image names */

/* A mount as containerd's Mount: what snapshotd returns and imaged/taskd perform. */
struct br_mount {
	const char *type; /* "overlay" | "bind" */
	const char *source;
	struct br_strlist options; /* "lowerdir=...", "upperdir=...", "ro", "rbind", ... */
};
extern const struct br_schema br_mount_schema;

struct br_descriptor {
	const char *media_type;
	const char *digest;
	int64_t size;
};
extern const struct br_schema br_descriptor_schema;

/*
 * Paging of list methods. A list request carries `page_size` (0: BR_PAGE_DEFAULT, at most
 * BR_PAGE_MAX) and `page_token` (absent: the first page; else the `next_page_token` of the
 * previous reply, an opaque string); the reply carries `next_page_token`, absent on the last
 * page. A store may answer fewer items than asked (never zero unless it has no more) to keep
 * the reply within the message limits. Items are ordered by their key, so a page is stable
 * across concurrent inserts and deletes: nothing listed twice, nothing present throughout
 * missed.
 */
#define BR_PAGE_DEFAULT 200
#define BR_PAGE_MAX 500
#define BR_PAGE_TOKEN_MAX 1024
#define BR_PAGE_LABELS_MAX 16384 /* labels in one page of a reply; more ends the page early */

struct br_page_req {
	uint32_t size;     /* wire: page_size */
	const char *token; /* wire: page_token */
};

/* The two paging fields of a list request struct `st` whose member `page` is a br_page_req. */
#define BR_PAGE_FIELDS(st)                                                                   \
	{"page_size", BR_F_U32, offsetof(st, page.size), 0, 0, NULL},                        \
	{                                                                                    \
		"page_token", BR_F_STR, offsetof(st, page.token), BR_PAGE_TOKEN_MAX, 0, NULL \
	}

/* The page size a server uses for `req` (default and bound applied). Pure. */
uint32_t br_page_size(const struct br_page_req *req);

/* An empty message: methods without params or without a result. */
struct br_empty {
	int unused_;
};
extern const struct br_schema br_empty_schema;

/* daemon.health, answered by every daemon's RPC server itself. */
struct br_health {
	const char *name; /* "berth-contentd" */
	const char *version;
	uint32_t pid;
	int64_t uptime_ms;
	const char *status; /* "ok" */
};
extern const struct br_schema br_health_schema;

/* daemon.namespace, answered by every daemon's RPC server itself: what the request's namespace
 * holds in that daemon, one line per kind ("2 images"); empty when nothing. */
struct br_ns_usage {
	struct br_strlist items;
};
extern const struct br_schema br_ns_usage_schema;

/* Long operations (pull, import) run as jobs: the starting call returns a job id, and
 * jobs.get / jobs.wait / jobs.cancel follow it. */
struct br_job_ref {
	const char *id;
};
extern const struct br_schema br_job_ref_schema;

/*
 * jobs.wait: without since_version and interval_ms (both 0), wait until the job ends or
 * timeout_ms passed. With either, also answer once the job's progress_version is above
 * since_version, but not before interval_ms passed since the call came in (a job that ended
 * is answered at once): a follower that passes back the version it saw and an interval of
 * 500 ms gets at most two answers a second, whatever moves.
 */
#define BR_JOB_INTERVAL_MAX_MS 60000
struct br_job_wait_req {
	const char *id;
	int64_t timeout_ms; /* wait at most this long; 0 = return at once */
	uint64_t since_version;
	int64_t interval_ms; /* at most BR_JOB_INTERVAL_MAX_MS */
};
extern const struct br_schema br_job_wait_req_schema;

/* One item a job moves: an image's layer (a pull's, an import's), with its bytes. */
#define BR_JOB_ITEMS_MAX 256 /* items listed in a job; beyond, only the totals count them */
struct br_job_item {
	const char *digest;
	int64_t size;      /* total bytes */
	int64_t done;      /* bytes moved (or, when it was there already, all of them) */
	const char *state; /* "waiting" | "downloading" | "verifying" | "unpacking" | "done" |
	                    * "exists" (already there: nothing to move) */
};
extern const struct br_schema br_job_item_schema;

struct br_job {
	const char *id;
	const char *kind;    /* "pull" | "import" | "export" */
	const char *state;   /* "running" | "done" | "failed" | "canceled" */
	const char *message; /* current step, e.g. "fetch layer sha256:..." */
	int64_t done_bytes;
	int64_t total_bytes;
	const char *error_code; /* when failed */
	const char *error_msg;
	const char *result; /* when done: the image name (import: the names, space-separated) */
	int64_t started_at;
	int64_t ended_at;
	struct br_objlist layers;  /* of struct br_job_item, in the image's order */
	uint64_t progress_version; /* bumped on every change of the job */
	int64_t updated_at;        /* ms since the epoch of the last change */
};
extern const struct br_schema br_job_schema;

#endif
