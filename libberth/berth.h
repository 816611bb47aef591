/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libberth: the C client library of Berth, for node agents and the `berth` CLI.
 *
 * A client talks to berth-gatewayd, the one front door, over its unix socket
 * (/run/berth/berth.sock by default). Every call is one request and one reply, as in
 * docs/api.md: berth_call() sends any method with msgpack params and hands back the result
 * map's msgpack bytes; the typed helpers below cover the calls an agent needs most and
 * return plain C structs; berth_subscribe() follows the event log and survives gateway
 * restarts without losing or repeating an event.
 *
 *     berth_client *c;
 *     berth_error err;
 *     if (berth_connect(NULL, &c, &err) < 0) {
 *             fprintf(stderr, "%s: %s\n", berth_code_name(err.code), err.message);
 *             return 1;
 *     }
 *     ...
 *     berth_close(c);
 *
 * Conventions, for every function here:
 * - A fallible function takes `berth_error *err` last (it may be NULL), returns a negative
 *   number on failure and fills `err` with a stable code and a message for people ("image
 *   \"x\": not found"). Decide by the code, never by the message. On success `err` is left
 *   as it was.
 * - Out-parameters are named ret_*, and written only on success.
 * - What the library allocates for the caller is freed with the one function named next to
 *   it (berth_free() for plain memory); every free function accepts NULL.
 * - `ns` arguments name a namespace; NULL means "default".
 * - Times are as the API gives them: milliseconds since the epoch for records (created_at),
 *   nanoseconds since the epoch for events.
 * - Threads: a berth_client may be used by any number of threads at once (each call blocks
 *   only its own thread); a berth_subscription by one thread at a time. Nothing calls back
 *   into the caller, and no function keeps a signal handler or changes the signal mask.
 *
 * Only berth_* names are exported from libberth.so. Link with `pkg-config --cflags --libs
 * berth` (add --static for libberth.a). docs/libberth.md has the guide.
 */
#ifndef BERTH_H
#define BERTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BERTH_VERSION "0.1.0"
#define BERTH_DEFAULT_SOCKET "/run/berth/berth.sock"

/* ------------------------------------------------------------------ errors */

/*
 * The error codes of the wire API (docs/errors.md). The values are stable and equal to the
 * suite's own; a code a newer gateway invents reads as BERTH_INTERNAL.
 */
typedef enum berth_code {
	BERTH_OK = 0,
	BERTH_INVALID_ARGUMENT = 1,    /* the request is malformed or a value out of bounds */
	BERTH_NOT_FOUND = 2,           /* the named object does not exist */
	BERTH_ALREADY_EXISTS = 3,      /* an object with that name exists */
	BERTH_FAILED_PRECONDITION = 4, /* not in a state that allows the call; for events: the
	                                * log no longer holds what was asked for */
	BERTH_UNAVAILABLE = 5,         /* the gateway or a daemon is down; retrying may work */
	BERTH_DEADLINE_EXCEEDED = 6,   /* the call's timeout passed */
	BERTH_CANCELED = 7,            /* canceled (a canceled pull, a client being closed) */
	BERTH_PERMISSION_DENIED = 8,   /* the caller's uid may not do this */
	BERTH_RESOURCE_EXHAUSTED = 9,  /* a limit was hit */
	BERTH_NOT_IMPLEMENTED = 10,    /* unknown method, or a feature not built */
	BERTH_INTERNAL = 11,           /* anything else */
} berth_code;

#define BERTH_ERROR_MESSAGE_MAX 1024

/* An error: no cleanup needed, may live on the stack. The message is NUL-terminated and
 * carries the whole chain of context ("pull x: fetch layer sha256:...: HTTP 404"). */
typedef struct berth_error {
	berth_code code;
	char message[BERTH_ERROR_MESSAGE_MAX];
} berth_error;

/* The wire name of `code`: "NOT_FOUND", ... "OK" for BERTH_OK, "INTERNAL" for values out of
 * range. Never NULL; static storage. */
const char *berth_code_name(berth_code code);

/* The code named `name` ("NOT_FOUND"), as a job's error_code names it; BERTH_INTERNAL for
 * NULL or a name it does not know. */
berth_code berth_code_from_name(const char *name);

/* Free memory the library handed out (reply bytes, JSON text, strings). Accepts NULL. */
void berth_free(void *p);

/* The library's version, BERTH_VERSION of the build. */
const char *berth_version(void);

/* ------------------------------------------------------------------ connection */

typedef struct berth_client berth_client;

/*
 * Connect to the gateway at `socket_path` (a file system path; an "ipc://" prefix is
 * accepted). NULL means $BERTH_SOCKET when set and not empty, else BERTH_DEFAULT_SOCKET.
 * The socket is tried once now, so a gateway that is not running fails at once:
 * UNAVAILABLE "cannot reach berth-gatewayd at PATH: No such file or directory" (or
 * "Connection refused", ...); INVALID_ARGUMENT for a path too long for a unix socket. Once
 * connected the client reconnects by itself whenever the gateway restarts: a call made
 * while it is down fails with UNAVAILABLE after a short grace (300 ms), never hangs.
 * Free with berth_close(). Any thread.
 */
int berth_connect(const char *socket_path, berth_client **ret, berth_error *err);

/* The socket path the client dials (as resolved by berth_connect). Valid until berth_close. */
const char *berth_socket_path(const berth_client *c);

/*
 * Close the connection and free the client. No call on `c` may be running or start once
 * this has begun (subscriptions on it must be freed first). Accepts NULL.
 */
void berth_close(berth_client *c);

/* ------------------------------------------------------------------ raw calls */

/*
 * Call `method` ("images.list") in namespace `ns` with `params`: len bytes holding one
 * msgpack map, or NULL/0 for none. `timeout_ms` bounds the whole call and is passed to the
 * gateway as the request's deadline: 0 means 30 s, negative means none. On success
 * *ret_reply is the result map as msgpack bytes (an empty map, 1 byte, for a method without
 * a result), malloc'd: free it with berth_free(); *ret_len its size.
 * Errors: the gateway's or the daemon's own (code and message as the reply carried them);
 * UNAVAILABLE when the gateway is down or the connection dropped during the call (the
 * request may or may not have run: only retry what is idempotent); DEADLINE_EXCEEDED;
 * INVALID_ARGUMENT for params that are not one msgpack map or a malformed reply.
 */
int berth_call(berth_client *c, const char *method, const char *ns, const void *params, size_t len,
               int64_t timeout_ms, void **ret_reply, size_t *ret_len, berth_error *err);

/* Everything a call can carry besides its method and params. Zero-initialize, then set. */
typedef struct berth_call_options {
	const char *ns;     /* NULL: "default" */
	const char *lease;  /* hold what the call creates in a store by this lease (docs/leases.md);
	                     * NULL: none */
	int64_t timeout_ms; /* 0: 30 s; negative: no deadline */
} berth_call_options;

/* berth_call() with options (`opts` may be NULL: all defaults). */
int berth_call_with(berth_client *c, const char *method, const berth_call_options *opts,
                    const void *params, size_t len, void **ret_reply, size_t *ret_len,
                    berth_error *err);

/* ------------------------------------------------------------------ gateway, namespaces */

typedef struct berth_component {
	char *name; /* "berth-imaged" */
	bool healthy;
	char *version; /* NULL when unknown (not healthy) */
	uint32_t pid;
	int64_t uptime_ms;
	char *error; /* why it is not healthy ("UNAVAILABLE: ..."); NULL when healthy */
} berth_component;

typedef struct berth_gateway_info {
	char *version; /* the gateway's */
	uint32_t pid;
	int64_t uptime_ms;
	berth_component *components; /* n_components entries, one per daemon behind it */
	size_t n_components;
} berth_gateway_info;

/* gateway.info: versions, uptime and the health of every component. Free the result with
 * berth_gateway_info_free(). Errors: as berth_call. */
int berth_gateway_info_get(berth_client *c, berth_gateway_info **ret, berth_error *err);
void berth_gateway_info_free(berth_gateway_info *info);

typedef struct berth_namespace {
	char *name;
	int64_t created_at; /* ms since the epoch */
} berth_namespace;

typedef struct berth_namespace_list {
	berth_namespace *items; /* ordered by name */
	size_t n;
} berth_namespace_list;

/* namespaces.list, every page. Free with berth_namespace_list_free(). */
int berth_namespaces_list(berth_client *c, berth_namespace_list **ret, berth_error *err);
void berth_namespace_list_free(berth_namespace_list *list);

/* ------------------------------------------------------------------ images */

typedef struct berth_image {
	char *name;         /* normalized reference: "registry.example:5000/app/web:1.2" */
	char *digest;       /* of what the name points to (an index or a manifest) */
	char *platform;     /* "linux/amd64" */
	int64_t size;       /* compressed bytes of config and layers */
	int64_t created_at; /* ms since the epoch */
	int64_t updated_at;
} berth_image;

typedef struct berth_image_list {
	berth_image *items; /* ordered by name */
	size_t n;
} berth_image_list;

/* images.list in namespace `ns`, every page. Free with berth_image_list_free(). */
int berth_images_list(berth_client *c, const char *ns, berth_image_list **ret, berth_error *err);
void berth_image_list_free(berth_image_list *list);

/*
 * Pull image `ref` into namespace `ns` and wait until it is there: images.pull starts a job
 * in berth-imaged, followed with jobs.wait. `platform` ("linux/arm64") may be NULL for the
 * configured default. `timeout_ms` bounds the whole pull (negative: none; 0 is not allowed
 * here: a pull has no sensible default); when it passes the job is canceled and the call
 * fails with DEADLINE_EXCEEDED. On success *ret_name (if ret_name is not NULL) is the
 * image's normalized name, free with berth_free().
 * Errors: the job's own (NOT_FOUND for an unknown image, UNAVAILABLE for an unreachable
 * registry, ...), prefixed "pull REF: "; CANCELED when someone canceled the job; as
 * berth_call for the calls themselves.
 */
int berth_image_pull(berth_client *c, const char *ns, const char *ref, const char *platform,
                     int64_t timeout_ms, char **ret_name, berth_error *err);

/*
 * Credentials for a registry, for one call: a user name and password, or an identity token
 * (a registry token server's refresh token). They go to berth-imaged with the call and are
 * used for that job only, before any configured for the registry (imaged.registries); they
 * are never logged or put into a message. The strings are the caller's.
 */
typedef struct berth_registry_auth {
	const char *username;
	const char *password;
	const char *identity_token;
} berth_registry_auth;

/* berth_image_pull with credentials for the reference's registry (`auth` may be NULL: as
 * berth_image_pull). Errors: as berth_image_pull; PERMISSION_DENIED when the registry
 * refuses the credentials. */
int berth_image_pull_auth(berth_client *c, const char *ns, const char *ref, const char *platform,
                          const berth_registry_auth *auth, int64_t timeout_ms, char **ret_name,
                          berth_error *err);

/*
 * Push image `name` of namespace `ns` to reference `dest` (NULL: its own name) and wait until
 * the registry has it: images.push starts a job, followed as for berth_image_pull, with the
 * same `timeout_ms` rules. `platform` (may be NULL) pushes only that platform's manifest of an
 * index (docs/push.md). `auth` (may be NULL) are credentials for the destination's registry,
 * as for berth_image_pull_auth. On success *ret_result (if not NULL) is "NAME:TAG@sha256:...", the
 * destination and the digest its tag names; free with berth_free().
 * Errors: the job's own (NOT_FOUND, FAILED_PRECONDITION for an index whose platforms were
 * not all pulled, PERMISSION_DENIED, UNAVAILABLE, ...), prefixed "push NAME: "; as
 * berth_image_pull otherwise.
 */
int berth_image_push(berth_client *c, const char *ns, const char *name, const char *dest,
                     const char *platform, const berth_registry_auth *auth, int64_t timeout_ms,
                     char **ret_result, berth_error *err);

/* Record image `target` of namespace `ns` as the same image as `source` (images.tag).
 * NOT_FOUND without the source, INVALID_ARGUMENT for a name that is not a reference. */
int berth_image_tag(berth_client *c, const char *ns, const char *source, const char *target,
                    berth_error *err);

/* ------------------------------------------------------------------ jobs */

/*
 * Long operations of berth-imaged (pull, import) run as jobs that an agent can follow
 * itself, to show their progress: start one (berth_image_pull_start), then call
 * berth_job_wait() with the progress_version of the last answer until the state is no longer
 * "running". docs/images.md "Jobs" has the fields.
 */
typedef struct berth_job_layer {
	char *digest;
	int64_t size; /* total bytes */
	int64_t done; /* bytes moved (all of them once "done" or "exists") */
	char *state;  /* "waiting" | "downloading" | "verifying" | "unpacking" | "done" |
	               * "exists" (already there: nothing to move) */
} berth_job_layer;

typedef struct berth_job {
	char *id;
	char *kind;    /* "pull" | "import" | ... */
	char *state;   /* "running" | "done" | "failed" | "canceled" */
	char *message; /* the current step ("fetch layer sha256:...") */
	int64_t done_bytes;
	int64_t total_bytes;
	char *error_code; /* when failed: "NOT_FOUND" (berth_code_from_name), else NULL */
	char *error_message;
	char *result;                 /* when done: the image name */
	int64_t started_at, ended_at; /* ms since the epoch */
	berth_job_layer *layers;      /* in the image's order */
	size_t n_layers;
	uint64_t progress_version; /* bumped on every change of the job */
	int64_t updated_at;        /* ms since the epoch of the last change */
} berth_job;

/* images.pull: start pulling `ref` (`platform` NULL: the configured default) and return at
 * once with the job's id in *ret_job_id (free with berth_free). Errors: a malformed
 * reference or platform (INVALID_ARGUMENT), too many jobs (RESOURCE_EXHAUSTED); the pull's
 * own errors come with the job. */
int berth_image_pull_start(berth_client *c, const char *ns, const char *ref, const char *platform,
                           char **ret_job_id, berth_error *err);

/*
 * jobs.wait of job `id` of namespace `ns`: the job as it is once it ended, or once its
 * progress_version is above `since_version` but no sooner than `interval_ms` after the call
 * (pass the version of the last answer, and the rate you want: 500 gives at most two answers
 * a second), or after `timeout_ms` at the latest (0: at once, as jobs.get). since_version
 * and interval_ms both 0: only the end or the timeout answers. Free with berth_job_free().
 * Errors: NOT_FOUND for an unknown job; as berth_call.
 */
int berth_job_wait(berth_client *c, const char *ns, const char *id, uint64_t since_version,
                   int64_t interval_ms, int64_t timeout_ms, berth_job **ret, berth_error *err);
void berth_job_free(berth_job *job);

/* jobs.cancel: ask job `id` to end (it ends "canceled"); a job that ended stays as it is. */
int berth_job_cancel(berth_client *c, const char *ns, const char *id, berth_error *err);

/* ------------------------------------------------------------------ containers and tasks */

typedef struct berth_container {
	char *id;
	char *image;
	char *runtime;       /* "runc" | "crun" */
	char *status;        /* "created" (no task) | "running" | "paused" | "stopped" */
	uint32_t pid;        /* while running */
	int64_t exit_status; /* when stopped */
	int64_t created_at;  /* ms since the epoch */
	char **command;      /* the process's argv as run, n_command strings */
	size_t n_command;
} berth_container;

typedef struct berth_container_list {
	berth_container *items; /* ordered by id */
	size_t n;
} berth_container_list;

/* containers.list in namespace `ns`, every page. Free with berth_container_list_free(). */
int berth_containers_list(berth_client *c, const char *ns, berth_container_list **ret,
                          berth_error *err);
void berth_container_list_free(berth_container_list *list);

/* What to run. Zero-initialize, then set what you need; only `image` is required. */
typedef struct berth_run_options {
	const char *id;          /* container id, [A-Za-z0-9][A-Za-z0-9_.-]{0,63}; NULL:
	                          * generated */
	const char *image;       /* an image name as berth_images_list shows it */
	const char *const *args; /* n_args strings replacing the image's Cmd; 0: keep it */
	size_t n_args;
	const char *const *entrypoint; /* n_entrypoint strings replacing the image's Entrypoint */
	size_t n_entrypoint;
	const char *const *env; /* n_env "KEY=VALUE" strings added to the image's Env */
	size_t n_env;
	const char *net;     /* "none" | "host" | a network's name; NULL: the daemon's default */
	const char *runtime; /* "runc" | "crun"; NULL: the daemon's default */
	const char *hostname;
	const char *user;
	const char *working_dir;
} berth_run_options;

/* containers.create: the record, its snapshot and network; no process yet. On success
 * *ret_id (if ret_id is not NULL) is the container's id, free with berth_free().
 * The call carries a request id of its own and is asked again, for up to a minute, while the
 * gateway or taskd is away; a create that ran is answered with its container.
 * Errors: NOT_FOUND (no such image), ALREADY_EXISTS (the id), INVALID_ARGUMENT, ... */
int berth_container_create(berth_client *c, const char *ns, const berth_run_options *opts,
                           char **ret_id, berth_error *err);

/* tasks.start: start the container's process; *ret_pid (if not NULL) is its pid on the host.
 * Asked again under its request id as berth_container_create is.
 * Errors: NOT_FOUND when the container does not exist or its command is not found in it,
 * PERMISSION_DENIED when the command cannot be invoked, FAILED_PRECONDITION when it runs
 * already. */
int berth_task_start(berth_client *c, const char *ns, const char *id, uint32_t *ret_pid,
                     berth_error *err);

/*
 * Create and start, as `berth run -d` does: berth_container_create(), then
 * berth_task_start(). When the start fails the container just created is deleted again, and
 * the start's error returned.
 * On success *ret_id (if not NULL) is the id, free with berth_free().
 */
int berth_run(berth_client *c, const char *ns, const berth_run_options *opts, char **ret_id,
              berth_error *err);

/* tasks.kill: send `signal` (0: SIGTERM) to the task's init, or with `all` to every process
 * of the container. Errors: NOT_FOUND, FAILED_PRECONDITION when it does not run. */
int berth_task_kill(berth_client *c, const char *ns, const char *id, int signal, bool all,
                    berth_error *err);

typedef struct berth_task_exit {
	int64_t exit_status; /* the exit code, or 128 + the signal that ended it */
	int64_t exited_at;   /* ms since the epoch */
} berth_task_exit;

/*
 * Wait until the task of container `id` has exited (tasks.wait), at most `timeout_ms`
 * (negative: for ever; 0: only look). Survives restarts of the gateway and of taskd on the
 * way (the container keeps running; the wait is asked again). On success *ret holds the
 * exit. Errors: DEADLINE_EXCEEDED when the time passed first; NOT_FOUND (no such container,
 * or no task); as berth_call.
 */
int berth_task_wait(berth_client *c, const char *ns, const char *id, int64_t timeout_ms,
                    berth_task_exit *ret, berth_error *err);

/* containers.delete: remove the container (its task, snapshot and network); with `force` a
 * running task is killed first, without it FAILED_PRECONDITION. Errors: NOT_FOUND, ... */
int berth_container_delete(berth_client *c, const char *ns, const char *id, bool force,
                           berth_error *err);

/* ------------------------------------------------------------------ events */

/*
 * Which events to follow. Zero-initialize, then set what you need: the zero filter follows
 * every event the caller may read, from the first the log keeps. At most one of after_seq,
 * since and tail picks the start (after_seq wins, then since, then tail).
 */
typedef struct berth_event_filter {
	int64_t after_seq; /* start after this sequence number: pass berth_subscription_last_seq()
	                    * of an earlier subscription to continue where it stopped */
	int64_t since;     /* or start at the first event at or after this time (ns since the
	                    * epoch); 0: not used */
	bool tail;         /* or start with the next event appended after berth_subscribe() */
	int64_t until_seq; /* end after this sequence number; 0: no end */
	int64_t until;     /* end after this time (ns since the epoch); 0: no end */
	const char *const *namespaces; /* n_namespaces names; 0: every namespace the caller may
	                                * read */
	size_t n_namespaces;
	const char *const *topics; /* n_topics prefixes ("/tasks/" or "/tasks/exit"); 0: all */
	size_t n_topics;
} berth_event_filter;

/* One event. Its strings and payload belong to the subscription: valid until the next
 * berth_next_event() or berth_unsubscribe() on it. */
typedef struct berth_event {
	int64_t seq;  /* the log's sequence number: increasing, gapless in the log (a filter
	               * skips some) */
	int64_t time; /* ns since the epoch, when the change was committed */
	const char *ns;
	const char *topic;   /* "/tasks/exit" */
	const void *payload; /* one msgpack map (docs/events.md lists each topic's fields) */
	size_t payload_len;
} berth_event;

typedef struct berth_subscription berth_subscription;

/*
 * Start following the event log through `c` (which must outlive the subscription). One
 * events.subscribe call is made now, so an invalid filter (INVALID_ARGUMENT), a namespace
 * the caller may not read (PERMISSION_DENIED) or a start the log no longer holds
 * (FAILED_PRECONDITION, naming the oldest sequence number kept) fails here, and `tail`
 * starts from what the log holds at this moment. Errors: those; as berth_call. Free with
 * berth_unsubscribe().
 */
int berth_subscribe(berth_client *c, const berth_event_filter *filter, berth_subscription **ret,
                    berth_error *err);

/*
 * The next event, waiting at most `timeout_ms` (0: only what is at hand; negative: for
 * ever). Returns 1 with *ev filled, 0 when the time passed without an event or the stream
 * ended (until_seq or until reached: berth_subscription_done() says so), -1 on error.
 *
 * Resume guarantee: events come in sequence order, each exactly once. While the gateway is
 * away (restarting) the subscription keeps asking again, with a growing pause up to 1 s,
 * after the last event it delivered, so the caller misses nothing and sees nothing twice.
 * If the gateway is still away when `timeout_ms` passes, the call returns -1 with that
 * error (UNAVAILABLE, DEADLINE_EXCEEDED or CANCELED); the subscription stays usable and a
 * later call continues. Other errors end the subscription's usefulness: FAILED_PRECONDITION
 * when the log dropped events it had not yet delivered (retention), with the gateway's
 * message; PERMISSION_DENIED; INVALID_ARGUMENT.
 */
int berth_next_event(berth_subscription *sub, berth_event *ev, int64_t timeout_ms,
                     berth_error *err);

/* The sequence number of the last event delivered; before the first, the filter's after_seq
 * (0 with since or tail). A later subscription with after_seq set to it continues exactly
 * after it. */
int64_t berth_subscription_last_seq(const berth_subscription *sub);

/* True once the stream reached until_seq or until: no event will come any more. */
bool berth_subscription_done(const berth_subscription *sub);

/* Free the subscription (not the client). Accepts NULL. */
void berth_unsubscribe(berth_subscription *sub);

/* ------------------------------------------------------------------ payloads */

/*
 * Render the msgpack value payload[0..len) as JSON text: maps as objects (keys that are not
 * strings are rendered as JSON text of the key), arrays, strings (invalid UTF-8 replaced by
 * U+FFFD), integers, floats (NaN and infinities as null), booleans, nil as null, binary data
 * as a base64 string. On success *ret_json is the NUL-terminated text, free with
 * berth_free(). Errors: INVALID_ARGUMENT for bytes that are not exactly one msgpack value
 * within the protocol's limits. Pure; any thread.
 */
int berth_payload_json(const void *payload, size_t len, char **ret_json, berth_error *err);

/*
 * Look up the top-level key `key` of the event's payload map. berth_event_string copies a
 * string value into buf (cap bytes, NUL-terminated, cut if longer); berth_event_int reads
 * an integer value. Both return 1 when found with that type, 0 when absent or of another
 * type (or the payload is not a map). Pure.
 */
int berth_event_string(const berth_event *ev, const char *key, char *buf, size_t cap);
int berth_event_int(const berth_event *ev, const char *key, int64_t *ret);

/* ------------------------------------------------------------------ streams */

/*
 * Interactive I/O (docs/streams.md): exec and attach are streams on the gateway's stream
 * socket (beside its socket: "<name>-stream.sock"), authorized as calls are. Once open, the
 * connection (a plain fd) carries frames: BERTH_STREAM_STDIN, _STDIN_CLOSE and _RESIZE (rows,
 * cols: 2 bytes each, big-endian) from you; BERTH_STREAM_STDOUT, _STDERR and finally
 * _EXIT (the status: 4 bytes, big-endian) to you. Read the output while you write input: the
 * process's side stops reading your input while its output waits for you. Close the fd when
 * done (for attach without STDIN_CLOSE: a detach).
 */
enum {
	BERTH_STREAM_STDIN = 0,
	BERTH_STREAM_STDOUT = 1,
	BERTH_STREAM_STDERR = 2,
	BERTH_STREAM_STDIN_CLOSE = 3,
	BERTH_STREAM_RESIZE = 4,
	BERTH_STREAM_EXIT = 5,
};
#define BERTH_STREAM_FRAME_MAX 65536 /* the largest payload of one frame */

/*
 * Open a stream: `method` ("tasks.exec", "tasks.attach") in namespace `ns` (NULL: "default")
 * with `params` (len bytes of one msgpack map). Returns once the stream is open (a start
 * behind an attach included, so allow for the runtime's create), with the connection in
 * *ret_fd (blocking, close-on-exec). Errors: the refusal of whichever hop refused (the
 * gateway's role check, taskd's container check, the runtime's "executable file not found");
 * UNAVAILABLE when the gateway's stream socket is not there. Any thread.
 */
int berth_stream_open(berth_client *c, const char *method, const char *ns, const void *params,
                      size_t len, int *ret_fd, berth_error *err);

typedef struct berth_exec_options {
	const char *const *args; /* the command, n_args >= 1 */
	size_t n_args;
	const char *const *env; /* "KEY=VALUE" added to the container's */
	size_t n_env;
	const char *user;        /* NULL: the container's */
	const char *working_dir; /* NULL: the container's */
	bool terminal;           /* a pty (its output is all STDOUT) */
	bool stdin;              /* you send input; without it the process reads /dev/null */
	uint32_t rows, cols;     /* the terminal's size (0: unset) */
} berth_exec_options;

/* tasks.exec in container `id`: see berth_stream_open. */
int berth_exec_open(berth_client *c, const char *ns, const char *id, const berth_exec_options *o,
                    int *ret_fd, berth_error *err);

/* tasks.attach to container `id`'s main process: its output from now on; with `stdin`, your
 * input to it (created with open_stdin or a terminal). */
int berth_attach_open(berth_client *c, const char *ns, const char *id, bool stdin, uint32_t rows,
                      uint32_t cols, int *ret_fd, berth_error *err);

/* Write one frame of `type` (len <= BERTH_STREAM_FRAME_MAX). */
int berth_stream_write(int fd, int type, const void *data, size_t len, berth_error *err);

/* Read one frame, waiting at most `timeout_ms` (< 0: forever): its type in *ret_type, its
 * payload in buf (cap bytes; BERTH_STREAM_FRAME_MAX always fits), its length in *ret_len.
 * UNAVAILABLE when the stream ended. */
int berth_stream_read(int fd, int timeout_ms, int *ret_type, void *buf, size_t cap, size_t *ret_len,
                      berth_error *err);

#ifdef __cplusplus
}
#endif

#endif
