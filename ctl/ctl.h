/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The berth command-line client: shared state of one invocation, the call wrapper around the
 * gateway connection, exit-code mapping, signal forwarding and output helpers (aligned
 * tables, human sizes and times). Each command lives in its own file (images.c, run.c,
 * containers.c) and is a `ctl_cmd_fn`: it returns the process exit code and prints its own
 * errors through ctl_report(). Everything here runs on the main thread unless noted.
 */
#ifndef BR_CTL_CTL_H
#define BR_CTL_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <yajl/yajl_gen.h>

#include "common/cleanup.h"
#include "common/err.h"
#include "common/msg.h"
#include "common/proto/types.h"
#include "common/rpc.h"
#include "libberth/berth.h"

#define CTL_DEFAULT_ADDRESS "/run/berth/berth.sock"
#define CTL_EXIT_USAGE 2
#define CTL_EXIT_RUN_FAILED 125 /* berth run: its own failure, before the container ran */
#define CTL_EXIT_CANNOT_INVOKE 126
#define CTL_EXIT_NOT_FOUND 127
#define CTL_EXIT_INTERRUPTED 130

/* One invocation: the global flags and the (lazily created) gateway client, a libberth
 * client: the CLI is built on the library node agents use. */
struct ctl {
	const char *address; /* path of the gateway's socket */
	const char *ns;
	int64_t timeout_ms; /* per call; 0: the RPC default */
	bool json;          /* --format json */
	const char *lease;  /* the lease calls run under (an upload's); NULL: none */
	berth_client *client;
};

typedef int (*ctl_cmd_fn)(struct ctl *ctl, int argc, char **argv);

/* A subcommand of a command group ("images pull"). */
struct ctl_sub {
	const char *name;
	ctl_cmd_fn fn;
};

/* Run the subcommand argv[1] of `group` ("images") from `subs`; without one, or with -h,
 * print `usage`. Returns the exit code. */
int ctl_run_sub(struct ctl *ctl, int argc, char **argv, const char *group,
                const struct ctl_sub *subs, size_t n, const char *usage);

/* ---- opts.c ---- */

/*
 * One command's option parser: getopt_long over the command's argv (argv[0] is its name) with
 * the CLI's errors. Fill the first five members and call ctl_opts_next() until it returns -1;
 * the operands then start at optind:
 *
 *   struct ctl_opts op = {argc, argv, "+l:h", opts, "volume create"};
 *   while ((c = ctl_opts_next(&op)) != -1)
 *           switch (c) { ... default: return CTL_EXIT_USAGE; }
 */
struct ctl_opts {
	int argc;
	char **argv;
	/* getopt's letters: a leading '+' ends the options at the first operand (else they may
	 * come after operands); no ':' needed for the errors */
	const char *shortopts;
	const struct option *longopts;
	const char *cmd; /* names the command in "unknown option" errors; NULL: nothing */
	bool started;
	char spec[64];
};

/* The next option's val (its value, if it takes one, in optarg), or -1 after the last one.
 * '?' for a bad option, with INVALID_ARGUMENT in err: "option --name needs a value", "option
 * --rm takes no value", "CMD: unknown option -z". */
int ctl_opts_next_err(struct ctl_opts *o, br_err *err);
/* As ctl_opts_next_err, the error printed as a usage error (ctl_usage_error): on '?' the
 * command returns CTL_EXIT_USAGE. */
int ctl_opts_next(struct ctl_opts *o);

/* ---- client.c ---- */

/* The exit code for an error code (0 for BR_OK, 1 for INTERNAL and unknown codes). Pure. */
int ctl_exit_code(br_code code);

/* Print "berth: <message chain>" to stderr and return ctl_exit_code(err->code). */
int ctl_report(const br_err *err);

/* Print a usage error "berth: <msg>" plus a hint to stderr; returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Connect to the gateway once (berth_connect: a plain connect(2) to the socket path first, so
 * a missing daemon fails fast with UNAVAILABLE "cannot reach berth-gatewayd at PATH: ...").
 * Idempotent. Main thread.
 */
int ctl_connect(struct ctl *ctl, br_err *err);

/*
 * One synchronous call through the gateway in ctl->ns, under ctl->lease: params packed with
 * `ps`, sent with libberth's raw call (berth_call_with), the result decoded into `ret` with
 * `rs` (may be NULL) in `arena`. Connects first if needed. `min_timeout_ms` raises the call's
 * deadline for methods that wait on the server (jobs.wait, tasks.logs); 0 uses
 * ctl->timeout_ms. Errors: the remote error as is; UNAVAILABLE (gateway down or connection
 * lost); DEADLINE_EXCEEDED; INVALID_ARGUMENT (a malformed reply). Thread: main, or the signal
 * thread (see ctl_signals_start) once the main thread connected.
 */
int ctl_call(struct ctl *ctl, const char *method, const struct br_schema *ps, const void *params,
             const struct br_schema *rs, void *ret, br_arena *arena, int64_t min_timeout_ms,
             br_err *err);
/* ctl_call for a call whose params carry a request id (containers.create, tasks.start): asked
 * again while the gateway or taskd is away (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELED), for at
 * most a minute; a call that ran gets its first outcome. Errors: the last call's. */
int ctl_call_retrying(struct ctl *ctl, const char *method, const struct br_schema *ps,
                      const void *params, const struct br_schema *rs, void *ret, br_arena *arena,
                      br_err *err);

/*
 * Call the paged list `method` until its last page and gather every item (each `item_size`
 * bytes) into one array in `arena`: `req` is the request (packed with `ps`) whose paging
 * member is `*page`, `resp` a scratch reply struct (decoded with `rs`) whose members `*items`
 * and `*next_token` are read after each page. Errors: as ctl_call.
 */
int ctl_list_all(struct ctl *ctl, const char *method, const struct br_schema *ps, const void *req,
                 struct br_page_req *page, const struct br_schema *rs, void *resp,
                 const struct br_objlist *items, const char *const *next_token, size_t item_size,
                 br_arena *arena, struct br_objlist *ret, br_err *err);

/* Stop the signal thread and close the client. Main thread. */
void ctl_fini(struct ctl *ctl);

/*
 * Signal forwarding for commands that follow something long-running (pull, run). Call
 * ctl_signals_block() before the first RPC (so nng's threads inherit the blocked mask), then
 * ctl_signals_start(): a thread waits for SIGINT/SIGTERM, records the signal (see
 * ctl_signal_last) and calls `fn` (may be NULL) on that thread. ctl_signals_stop() makes sure
 * no callback runs any more and ends the thread; call it before freeing what `fn`
 * uses.
 */
void ctl_signals_block(void);
int ctl_signals_start(void (*fn)(int sig, void *data), void *data, br_err *err);
void ctl_signals_stop(void);
/* The last signal received since ctl_signals_start, or 0. Any thread. */
int ctl_signal_last(void);

/* ---- output.c (pure, any thread) ---- */

/* "0B", "512B", "1.5kB", "12.3MB", "2.05GB" (decimal units, 3 significant digits). */
void ctl_human_size(int64_t bytes, char *buf, size_t cap);
/* A duration: "850ms", "3s", "4m12s", "2h5m", "3d4h". */
void ctl_human_duration(int64_t ms, char *buf, size_t cap);
/* How long ago `then_ms` was at `now_ms`: "Less than a second ago", "3 seconds ago",
 * "About a minute ago", "2 minutes ago", "About an hour ago", "5 hours ago", "3 days ago",
 * "2 weeks ago", "4 months ago", "2 years ago". "N/A" when then_ms <= 0. */
void ctl_human_since(int64_t then_ms, int64_t now_ms, char *buf, size_t cap);
/* "sha256:" and the first 12 hex digits of a digest; other strings are copied as they are. */
void ctl_short_digest(const char *digest, char *buf, size_t cap);
/* `s` cut to at most `max` bytes, ending in "..." when cut (max >= 4). */
void ctl_truncate(const char *s, size_t max, char *buf, size_t cap);
/* Words joined by single spaces into a heap string. */
char *ctl_join(const char *const *words, size_t n);
/* Milliseconds since the epoch (CLOCK_REALTIME). */
int64_t ctl_now_ms(void);

/* An aligned text table: columns padded to their widest cell, separated by 3 spaces, the last
 * column not padded. Cells are copied. */
struct ctl_table;
struct ctl_table *ctl_table_new(size_t ncols, const char *const *headers);
void ctl_table_add(struct ctl_table *t, const char *const *cells);
void ctl_table_print(const struct ctl_table *t, FILE *out);
void ctl_table_free(struct ctl_table *t);

/* ---- parsing helpers (output.c) ---- */

/* Parse --timeout SECONDS: a positive decimal number of seconds (fractions allowed, at most
 * 86400). Returns 0 and the milliseconds, or -1 with INVALID_ARGUMENT. */
int ctl_parse_timeout(const char *s, int64_t *ret_ms, br_err *err);
/* Check one -e K=V: non-empty key without '=' before the first '='. */
int ctl_check_env(const char *kv, br_err *err);

/* Labels gathered from --label KEY[=VALUE] options, for a request's br_strmap: the arrays on
 * the heap (ctl_labels_fini), each key copied into `arena`, each value pointing into its
 * option's text ("" without '='). INVALID_ARGUMENT naming the option when the key is empty. */
struct ctl_labels {
	const char **keys;
	const char **values;
	size_t n;
};
int ctl_labels_add(struct ctl_labels *l, const char *kv, br_arena *arena, br_err *err);
void ctl_labels_fini(struct ctl_labels *l);

/* ---- containers.c: ps --filter (pure) ---- */

/* The filters of `berth ps`, as docker's: values of one key are alternatives (status=running
 * --filter status=exited: either), different keys must all match, and so must every label. */
struct ctl_ps_filter {
	const char **status; /* the wire's status ("stopped" for docker's "exited") */
	size_t nstatus;
	const char **name; /* substrings of the name or the id */
	size_t nname;
	const char **label; /* "K" (present) or "K=V" (present with value V) */
	size_t nlabel;
};
struct br_container;

/* Add `spec`, "KEY=VALUE[,KEY=VALUE...]" with KEY status (created|running|paused|exited), name
 * or label; the strings point into `spec`, which must outlive `f` and is modified (the commas).
 * Errors: INVALID_ARGUMENT naming the part. */
int ctl_ps_filter_add(struct ctl_ps_filter *f, char *spec, br_err *err);
bool ctl_ps_filter_match(const struct ctl_ps_filter *f, const struct br_container *c);
void ctl_ps_filter_fini(struct ctl_ps_filter *f);

/* ---- commands ----
 * Each takes the command's own argv (argv[0] is the command name), prints its results to
 * stdout and its errors to stderr, and returns the process exit code. Main thread. */

int ctl_cmd_info(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_images(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_run(struct ctl *ctl, int argc, char **argv);
/* run.c: `berth create [OPTIONS] IMAGE [CMD...]` and `berth start [-a] CONTAINER...` */
int ctl_cmd_create(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_start(struct ctl *ctl, int argc, char **argv);
/* Start the task of container `id` as `berth start` does: a running one is left alone, a
 * stopped one's task is deleted and started afresh. Errors name the container. Main thread. */
int ctl_start_container(struct ctl *ctl, const char *id, br_err *err);
/* lifecycle.c: `berth stop|restart [-t SECONDS]`, `kill [-s SIGNAL]`, `wait` CONTAINER... */
int ctl_cmd_stop(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_restart(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_kill(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_wait(struct ctl *ctl, int argc, char **argv);
/* lifecycle.c: `berth pause|unpause CONTAINER...` */
int ctl_cmd_pause(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_unpause(struct ctl *ctl, int argc, char **argv);
/* inspect.c: `berth inspect CONTAINER...` */
int ctl_cmd_inspect(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_ps(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_rm(struct ctl *ctl, int argc, char **argv);
/* containers.c: `berth rename CONTAINER NEW_NAME` */
int ctl_cmd_rename(struct ctl *ctl, int argc, char **argv);
/* top.c: `berth top CONTAINER [ps OPTIONS]` */
int ctl_cmd_top(struct ctl *ctl, int argc, char **argv);
/* stats.c: `berth stats [-a] [--no-stream] [--format json] [CONTAINER...]` */
int ctl_cmd_stats(struct ctl *ctl, int argc, char **argv);
/* logs.c: `berth logs [-f] [--tail N] [--since T] [--timestamps] CONTAINER` */
int ctl_cmd_logs(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_exec(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_attach(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_namespaces(struct ctl *ctl, int argc, char **argv);
/* images.c: pull `ref` as `berth pull` does (progress on stderr), the result line on `out`.
 * Returns the exit code (0: pulled). */
int ctl_images_pull(struct ctl *ctl, const char *ref, FILE *out);
/* images.c: `berth pull REF`, the same as `berth images pull REF`. */
int ctl_cmd_pull(struct ctl *ctl, int argc, char **argv);
/* push.c: `berth push IMAGE [DEST] [--platform P]` and `berth tag SOURCE TARGET` */
int ctl_cmd_push(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_tag(struct ctl *ctl, int argc, char **argv);
/* archive.c: `berth images import [--name N] [--platform P] [-q] FILE|-` and
 * `berth images export [-o FILE] [--format oci|docker] [--platform P] [-q] IMAGE...` (also
 * `berth save`) */
int ctl_images_import(struct ctl *ctl, int argc, char **argv);
int ctl_images_export(struct ctl *ctl, int argc, char **argv);

/* ---- progress.c ---- */

/* How ctl_follow_job ends and what it shows on the way. */
struct ctl_follow {
	const char *what; /* prefixes errors: "pull REF" */
	const char *verb; /* the result line: "<verb> <result>" ("pulled docker.io/...") */
	FILE *out;        /* where the result line goes; NULL: nowhere */
	bool quiet;       /* no progress, and the result alone ("docker.io/...") */
};

/*
 * Follow job `id` of berth-imaged until it ends, with its progress on stderr: live lines per
 * layer and a total with the speed when stderr is a terminal, a plain line per change of a
 * layer's state otherwise, nothing when quiet. A signal (ctl_signals_start) cancels the job
 * and returns CTL_EXIT_INTERRUPTED. The job's error is printed as "berth: <what>: <message>".
 * Returns the exit code. Main thread.
 */
int ctl_follow_job(struct ctl *ctl, const char *id, const struct ctl_follow *opts);

/* The display ctl_follow_job uses, for a command that follows a job its own way (export
 * reads its stream and asks jobs.get now and then): show a running job's state, then end
 * with the job as it ended (its result on opts->out, or its error; returns the exit code). */
struct ctl_progress;
struct ctl_progress *ctl_progress_new(const struct ctl_follow *opts);
void ctl_progress_show(struct ctl_progress *p, const struct br_job *job);
int ctl_progress_end(struct ctl_progress *p, const struct br_job *job);
void ctl_progress_free(struct ctl_progress *p);
BR_DEFINE_CLEANUP(struct ctl_progress, ctl_progress_free)

/* "512B", "1.0KiB", "12.3MiB" (binary units, as progress shows bytes). Pure. */
void ctl_progress_size(int64_t bytes, char *buf, size_t cap);
/* The display line of one layer, "a3ed95caeb02: downloading  12.3MiB/40.0MiB", cut to
 * `width` columns (0: not cut). Pure. */
void ctl_progress_layer_line(const struct br_job_item *it, size_t width, char *buf, size_t cap);
/* "total: 12.3MiB/80.0MiB  4.5MiB/s  <message>" ("total: 12.3MiB  ..." while the total is 0),
 * cut to `width` columns. Pure. */
void ctl_progress_total_line(const struct br_job *job, double bytes_per_s, size_t width, char *buf,
                             size_t cap);

/* ---- login.c ---- */

/* Credentials for a registry from docker's config.json (heap strings, NULL when absent). */
struct ctl_creds {
	char *username;
	char *password;
	char *identity_token;
};
void ctl_creds_fini(struct ctl_creds *c);
/*
 * The credentials config.json ($DOCKER_CONFIG, else ~/.docker) holds for registry `host`
 * ("docker.io", "127.0.0.1:5000"); none when there is no file or no entry. FAILED_PRECONDITION
 * when they are in a credential helper (not supported) or the entry is malformed; *ret is
 * then empty. ctl_ref_creds does the same for the registry of image reference `ref`.
 */
int ctl_registry_creds(const char *host, struct ctl_creds *ret, br_err *err);
int ctl_ref_creds(const char *ref, struct ctl_creds *ret, br_err *err);
/* A request's auth for `ref`: what config.json holds, or none with a warning on stderr
 * ("...; <doing> without credentials") when it cannot be used. `creds` holds the strings. */
struct br_registry_auth ctl_ref_auth(const char *ref, const char *doing, struct ctl_creds *creds);
int ctl_cmd_login(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_logout(struct ctl *ctl, int argc, char **argv);
/* volumes.c: berth volume create|ls|inspect|rm|prune */
int ctl_cmd_volumes(struct ctl *ctl, int argc, char **argv);
/* network.c: berth network create|ls|inspect|rm|connect|disconnect, berth port */
int ctl_cmd_network(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_port(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_content(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_snapshots(struct ctl *ctl, int argc, char **argv);
int ctl_cmd_system(struct ctl *ctl, int argc, char **argv);

/* --format VALUE: "json" or "table" into ctl->json; 0, or CTL_EXIT_USAGE after saying what
 * is wrong. */
int ctl_set_format(struct ctl *ctl, const char *value);

/* `"key": [strings]` and `"key": {k: v, ...}` into an open JSON map. */
void ctl_json_strlist(yajl_gen g, const char *key, const struct br_strlist *l);
void ctl_json_strmap(yajl_gen g, const char *key, const struct br_strmap *m);

/* Print a yajl document on stdout and free the generator. */
void ctl_print_json(yajl_gen g);

/* How a list command (`images ls`, `ps`...) prints the items of a list method: with
 * --format json an array of maps, with -q one key per line, else a table. */
struct ctl_list_view {
	size_t item_size; /* of one element of the list */
	size_t n_cols;
	const char *const *headers;
	const char *(*key)(const void *item);                            /* what -q prints */
	void (*json)(yajl_gen g, const void *item);                      /* the map's members */
	void (*row)(struct ctl_table *t, const void *item, int64_t now); /* one ctl_table_add */
};
/* Print `list` as `ctl->json` and `quiet` ask; `show` (NULL: all) picks the items. Returns 0. */
int ctl_print_list(const struct ctl *ctl, const struct ctl_list_view *v,
                   const struct br_objlist *list, bool quiet, const bool *show);

/*
 * The commands that act on each of their arguments (`content rm DIGEST...`, `namespaces create
 * NAME...`): with no argument print `usage` to stderr and return CTL_EXIT_USAGE, with -h or
 * --help as the first print it to stdout and return 0. Otherwise call `method` once per
 * argument with `req` (packed with `schema`), after pointing `*arg`, a member of `req`, at the
 * argument; each argument done is printed on stdout. A failure is reported (ctl_report) and the
 * next argument tried, except after UNAVAILABLE, which ends the loop. Returns the exit code of
 * the last failure, or 0. `*arg` is left pointing at the last argument tried. Main thread.
 */
int ctl_each_arg(struct ctl *ctl, int argc, char **argv, const char *method,
                 const struct br_schema *schema, void *req, const char **arg, const char *usage);
/* As ctl_each_arg for `inspect NAME...`: each answer (unpacked into `resp` with `resp_schema`)
 * is an object of one JSON array on stdout, whose members `gen` writes. */
int ctl_inspect_each(struct ctl *ctl, int argc, char **argv, const char *method,
                     const struct br_schema *schema, void *req, const char **arg, const char *usage,
                     const struct br_schema *resp_schema, void *resp,
                     void (*gen)(yajl_gen g, const void *resp));

/* The exit code of `berth run` for a failed tasks.start, by its code alone: 127 for NOT_FOUND
 * (the command is not found in the container; the caller rules out that the container itself
 * went away), 126 for PERMISSION_DENIED (it cannot be invoked), 125 otherwise. Pure. */
int ctl_run_start_exit_code(const br_err *err);

/* ---- network.c: published ports and network values (pure) ---- */

struct br_net_port;
/* "0.0.0.0:8080": where a port is published on the host (an address of "" is every one). */
void ctl_port_host(const struct br_net_port *p, char *buf, size_t cap);
/* docker ps's PORTS: "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp" ("" for none), cut to
 * fit `cap`. */
void ctl_ports_summary(const struct br_net_port *ports, size_t n, char *buf, size_t cap);
/* `"key": [{host_ip, host_port, container_port, protocol}]` into an open JSON map; host_ip
 * "0.0.0.0" for every address. */
void ctl_json_ports(yajl_gen g, const char *key, const struct br_net_port *ports, size_t n);
/* `berth port C PORT[/tcp|udp]`: the port and its protocol (static; tcp by default).
 * INVALID_ARGUMENT naming the value. */
int ctl_parse_port_filter(const char *s, uint32_t *ret_port, const char **ret_protocol,
                          br_err *err);
/* `network create --subnet CIDR --gateway IP` (either may be NULL): an IPv4 network with a
 * prefix of 1 to 30 bits and no host bits set; a gateway that is a host address of it (it
 * needs the subnet). INVALID_ARGUMENT naming the option and value. */
int ctl_check_subnet(const char *subnet, const char *gateway, br_err *err);

/* ---- events.c ---- */

/* A --since / --until value: a sequence number, or a time in ns since the epoch. */
struct ctl_event_bound {
	bool is_seq;
	int64_t seq;
	int64_t time;
};
/* Parse SEQ, RFC 3339, @UNIXTIME or a duration before `now_ns`. Pure. */
int ctl_parse_event_bound(const char *s, int64_t now_ns, struct ctl_event_bound *ret, br_err *err);
/* "2026-11-27T14:04:08.123456789Z". Pure. */
void ctl_format_time_ns(int64_t ns, char *buf, size_t cap);
int ctl_cmd_events(struct ctl *ctl, int argc, char **argv);

#endif
