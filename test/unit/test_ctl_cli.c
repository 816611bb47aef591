/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives the real berth binary ($BERTH_BUILD/berth) against a fake gateway served from this
 * process with the RPC runtime: what a user sees on stdout and stderr and the exit codes of
 * info, images (pull, import, ls, rm), run (output, exit status, 125/126/127, --rm, -d,
 * SIGINT forwarding), ps (with the ports from netd's attachments) and rm, network and port
 * against a fake netd, plus the fast failure when no gateway listens; run's options as they
 * reach containers.create, --pull never|missing|always, and the parsing of every option value
 * (sizes, -v, --mount, --device, --ulimit, --env-file, --net, -p, --dns, --add-host) with its
 * errors.
 */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/digest.h"
#include "common/loop.h"
#include "common/proto/content.h"
#include "common/proto/leases.h"
#include "common/proto/gateway.h"
#include "common/proto/images.h"
#include "common/proto/networks.h"
#include "common/proto/tasks.h"
#include "common/rpc.h"
#include "ctl/run.h"
#include "t.h"

/* ---- the fake gateway (loop thread) ---- */

struct fake {
	pthread_t thread;
	uv_loop_t uv;
	struct br_loop loop;
	br_rpc_server *server;
	char path[PATH_MAX];
	sem_t ready;
	br_err err;
	int rc;
	pthread_mutex_t lock;
	/* recorded */
	int canceled, kills, task_deletes, container_deletes, logs_calls;
	uint32_t last_signal;
	int64_t written;
	bool committed;
	char commit_digest[BR_DIGEST_BUF];
	char import_digest[BR_DIGEST_BUF];
	char ns[BR_NS_MAX + 1];
	char created_env[256];
	char created_cmd[256];
	char created_opts[1024]; /* the run options of the last containers.create */
	int pulls;
	bool created_auto_remove;
	int job_polls;
	char last_wait[64];  /* "since=N interval=MS" of the last jobs.wait of "j-layers" */
	char lease[64];      /* the upload lease created, "" when deleted again */
	int unleased_writes; /* content.write calls not under that lease */
	int stats_calls;
	char net_created[512]; /* the last networks.create, as one line */
	char net_connect[256]; /* the last networks.connect or disconnect, as one line */
	bool attachments_fail; /* networks.attachments answers NOT_IMPLEMENTED (an old netd) */
};

static struct fake *fake;

static void
on_info(br_call *call, void *data)
{
	struct br_component comps[2] = {
	        {.name = "berth-contentd",
	         .healthy = true,
	         .version = "0.1.0",
	         .pid = 42,
	         .uptime_ms = 65000},
	        {.name = "berth-imaged",
	         .healthy = false,
	         .error = "UNAVAILABLE: berth-imaged is unavailable"},
	};
	struct br_gateway_info info = {
	        .version = "0.1.0", .pid = 7, .uptime_ms = 3000, .components = {comps, 2}};
	br_call_reply(call, &br_gateway_info_schema, &info);
}

static void
on_images_list(br_call *call, void *data)
{
	struct fake *f = data;
	pthread_mutex_lock(&f->lock);
	snprintf(f->ns, sizeof(f->ns), "%s", br_call_ns(call));
	pthread_mutex_unlock(&f->lock);
	struct br_image ims[1] = {{
	        .name = "docker.io/library/busybox:latest",
	        .target = {.digest = "sha256:"
	                             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abc"
	                             "def"},
	        .size = 2150000,
	}};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ims[0].created_at = (int64_t)ts.tv_sec * 1000 - 125000;
	struct br_image_list_resp r = {.items = {ims, 1}};
	br_call_reply(call, &br_image_list_resp_schema, &r);
}

static void
on_images_remove(br_call *call, void *data)
{
	const struct br_image_name_req *req = br_call_params(call);
	if (strcmp(req->name, "nope") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"nope\": not found");
		return;
	}
	br_call_reply(call, NULL, NULL);
}

static void
on_pull(br_call *call, void *data)
{
	const struct br_image_pull_req *req = br_call_params(call);
	struct br_job_ref r = {.id = "j-ok"};
	struct fake *f = data;
	pthread_mutex_lock(&f->lock);
	f->pulls++;
	pthread_mutex_unlock(&f->lock);
	if (strcmp(req->ref, "bad") == 0)
		r.id = "j-fail";
	else if (strcmp(req->ref, "dup") == 0)
		r.id = "j-dup";
	else if (strcmp(req->ref, "slow") == 0)
		r.id = "j-slow";
	else if (strcmp(req->ref, "layered") == 0)
		r.id = "j-layers";
	br_call_reply(call, &br_job_ref_schema, &r);
}

/* The last images.push request's destination and platform (under the fake's lock). */
static char push_dest[128], push_platform[64];

static void
on_push(br_call *call, void *data)
{
	const struct br_image_push_req *req = br_call_params(call);
	struct fake *f = data;
	struct br_job_ref r = {.id = "j-push"};

	pthread_mutex_lock(&f->lock);
	snprintf(push_dest, sizeof(push_dest), "%s", req->dest ? req->dest : "");
	snprintf(push_platform, sizeof(push_platform), "%s", req->platform ? req->platform : "");
	pthread_mutex_unlock(&f->lock);
	if (strcmp(req->name, "slow") == 0)
		r.id = "j-slow";
	br_call_reply(call, &br_job_ref_schema, &r);
}

static void
on_tag(br_call *call, void *data)
{
	const struct br_image_tag_req *req = br_call_params(call);
	if (strcmp(req->source, "nope") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"nope\": not found");
		return;
	}
	struct br_image im = {.name = req->target};
	br_call_reply(call, &br_image_schema, &im);
}

/* Every image is present except "missing" and "remote". */
static void
on_images_get(br_call *call, void *data)
{
	const struct br_image_name_req *req = br_call_params(call);
	if (strcmp(req->name, "missing") == 0 || strcmp(req->name, "remote") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"%s\": not found", req->name);
		return;
	}
	struct br_image img = {.name = req->name};
	br_call_reply(call, &br_image_schema, &img);
}

static void
on_import(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_image_import_req *req = br_call_params(call);
	pthread_mutex_lock(&f->lock);
	snprintf(f->import_digest, sizeof(f->import_digest), "%s", req->digest);
	pthread_mutex_unlock(&f->lock);
	struct br_job_ref r = {.id = "j-import"};
	br_call_reply(call, &br_job_ref_schema, &r);
}

static void
on_jobs_wait(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_job_wait_req *req = br_call_params(call);
	struct br_job job = {
	        .id = req->id, .kind = "pull", .state = "running", .message = "fetch layer"};

	pthread_mutex_lock(&f->lock);
	int polls = ++f->job_polls;
	pthread_mutex_unlock(&f->lock);
	if (strcmp(req->id, "j-ok") == 0 && polls >= 2) {
		job.state = "done";
		job.result = "docker.io/library/busybox:latest";
	} else if (strcmp(req->id, "j-push") == 0) {
		job.state = "done";
		job.result = "reg.example/x:v1@sha256:"
		             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	} else if (strcmp(req->id, "j-import") == 0) {
		job.state = "done";
		job.result = "example.com/imported:latest";
	} else if (strcmp(req->id, "j-fail") == 0) {
		job.state = "failed";
		job.error_code = "NOT_FOUND";
		job.error_msg = "manifest unknown";
	} else if (strcmp(req->id, "j-dup") == 0) {
		job.state = "failed";
		job.error_code = "UNAVAILABLE";
		job.error_msg = "pull dup: GET https://x/v2/: connection refused";
	} else if (strcmp(req->id, "j-slow") == 0) {
		usleep(50 * 1000);
	} else if (strcmp(req->id, "j-layers") == 0) {
		/* two layers: the first answer with one downloading, the second with both done;
		 * the follower passes back the version it saw */
		static const char *const first[] = {"downloading", "exists"};
		static const char *const last[] = {"done", "exists"};
		struct br_job_item items[2] = {
		        {"sha256:1111111111111111111111111111111111111111111111111111111111111111",
		         2 * 1024 * 1024, 1024 * 1024, NULL},
		        {"sha256:2222222222222222222222222222222222222222222222222222222222222222",
		         3 * 1024, 3 * 1024, NULL},
		};
		bool end =
		        req->since_version >= 7 || req->interval_ms == 0; /* an old wait: the end */
		for (size_t i = 0; i < 2; i++)
			items[i].state = end ? last[i] : first[i];
		if (end) {
			items[0].done = items[0].size;
			job.state = "done";
			job.result = "docker.io/library/layered:latest";
		}
		pthread_mutex_lock(&f->lock);
		snprintf(f->last_wait, sizeof(f->last_wait), "since=%llu interval=%lld",
		         (unsigned long long)req->since_version, (long long)req->interval_ms);
		pthread_mutex_unlock(&f->lock);
		job.layers = (struct br_objlist){items, 2};
		job.progress_version = 7;
		br_call_reply(call, &br_job_schema, &job);
		return;
	}
	br_call_reply(call, &br_job_schema, &job);
}

static void
on_jobs_cancel(br_call *call, void *data)
{
	struct fake *f = data;
	pthread_mutex_lock(&f->lock);
	f->canceled++;
	pthread_mutex_unlock(&f->lock);
	struct br_job job = {.id = "j-slow", .state = "canceled"};
	br_call_reply(call, &br_job_schema, &job);
}

static void
on_lease_create(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_lease_create_req *req = br_call_params(call);

	pthread_mutex_lock(&f->lock);
	snprintf(f->lease, sizeof(f->lease), "%s", req->id);
	pthread_mutex_unlock(&f->lock);
	struct br_lease l = {.id = req->id, .expire_at = 1};
	br_call_reply(call, &br_lease_schema, &l);
}

static void
on_lease_delete(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_lease_id_req *req = br_call_params(call);

	pthread_mutex_lock(&f->lock);
	if (strcmp(f->lease, req->id) == 0)
		f->lease[0] = '\0';
	pthread_mutex_unlock(&f->lock);
	br_call_reply(call, NULL, NULL);
}

static void
on_content_write(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_content_write_req *req = br_call_params(call);
	const char *lease = br_call_request(call)->lease;

	pthread_mutex_lock(&f->lock);
	if (lease == NULL || strcmp(lease, f->lease) != 0)
		f->unleased_writes++;
	if (req->offset != f->written) {
		pthread_mutex_unlock(&f->lock);
		br_call_failf(call, BR_FAILED_PRECONDITION, "offset %lld, expected %lld",
		              (long long)req->offset, (long long)f->written);
		return;
	}
	f->written += (int64_t)req->data.len;
	if (req->commit) {
		f->committed = true;
		snprintf(f->commit_digest, sizeof(f->commit_digest), "%s",
		         req->expected ? req->expected : "");
	}
	struct br_content_write_resp r = {.ref = req->ref, .offset = f->written};
	pthread_mutex_unlock(&f->lock);
	br_call_reply(call, &br_content_write_resp_schema, &r);
}

/* The run options of a create request as one line, for comparing. */
static void
record_opts(char *buf, size_t cap, const struct br_container_create_req *r)
{
	size_t n = 0;
#define ADD(...) n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__)
	buf[0] = '\0';
	for (size_t i = 0; i < r->mounts.n; i++) {
		const struct br_mount_opt *m = (const struct br_mount_opt *)r->mounts.v + i;
		ADD("mount=%s,%s,%s,%s,%lld,%o;", m->type, m->source ? m->source : "", m->target,
		    m->readonly ? "ro" : "rw", (long long)m->tmpfs_size, m->tmpfs_mode);
	}
	for (size_t i = 0; i < r->devices.n; i++) {
		const struct br_device_opt *d = (const struct br_device_opt *)r->devices.v + i;
		ADD("device=%s,%s,%s;", d->host_path, d->container_path ? d->container_path : "",
		    d->permissions ? d->permissions : "");
	}
	for (size_t i = 0; i < r->ulimits.n; i++) {
		const struct br_ulimit_opt *u = (const struct br_ulimit_opt *)r->ulimits.v + i;
		ADD("ulimit=%s,%lld,%lld;", u->name, (long long)u->soft, (long long)u->hard);
	}
	for (size_t i = 0; i < r->cap_add.n; i++)
		ADD("cap+%s;", r->cap_add.v[i]);
	for (size_t i = 0; i < r->cap_drop.n; i++)
		ADD("cap-%s;", r->cap_drop.v[i]);
	ADD("user=%s;wd=%s;", r->user ? r->user : "", r->working_dir ? r->working_dir : "");
	ADD("priv=%d;ro=%d;init=%d;", r->privileged, r->read_only, r->init);
	ADD("mem=%lld;swap=%lld;cpus=%lld;pids=%lld", (long long)r->memory,
	    (long long)r->memory_swap, (long long)r->nano_cpus, (long long)r->pids_limit);
	/* The network options, when given. */
	if (r->net != NULL && r->net[0] != '\0')
		ADD(";net=%s", r->net);
	for (size_t i = 0; i < r->ports.n; i++) {
		const struct br_net_port *p = (const struct br_net_port *)r->ports.v + i;
		ADD(";port=%s|%u|%u|%s", p->host_ip ? p->host_ip : "", p->host_port,
		    p->container_port, p->protocol ? p->protocol : "");
	}
	for (size_t i = 0; i < r->dns.n; i++)
		ADD(";dns=%s", r->dns.v[i]);
	for (size_t i = 0; i < r->add_hosts.n; i++)
		ADD(";host=%s", r->add_hosts.v[i]);
#undef ADD
}

static void
on_create(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_container_create_req *req = br_call_params(call);
	if (strcmp(req->image, "missing") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"missing\": not found");
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->created_env[0] = f->created_cmd[0] = '\0';
	f->created_auto_remove = req->auto_remove;
	for (size_t i = 0; i < req->env.n; i++) {
		strncat(f->created_env, req->env.v[i], 100);
		strcat(f->created_env, ";");
	}
	for (size_t i = 0; i < req->args.n; i++) {
		strncat(f->created_cmd, req->args.v[i], 100);
		strcat(f->created_cmd, ";");
	}
	record_opts(f->created_opts, sizeof(f->created_opts), req);
	pthread_mutex_unlock(&f->lock);
	/* as taskd: --name is the name, and the id too */
	const char *id = req->id && req->id[0]       ? req->id
	                 : req->name && req->name[0] ? req->name
	                                             : "0123456789abcdef";
	struct br_container c = {
	        .id = id,
	        .name = id,
	        .image = req->image,
	        .status = "created",
	};
	br_call_reply(call, &br_container_schema, &c);
}

/* The fake's "container" behaves by its id: nf* not found, np* permission denied, w* waits
 * for a signal, e<N> exits N after printing. */
static void
on_start(br_call *call, void *data)
{
	const struct br_container_id_req *req = br_call_params(call);
	if (strncmp(req->id, "nf", 2) == 0) {
		br_call_failf(call, BR_NOT_FOUND,
		              "start container \"%s\": runc create failed: exec: \"nope\": "
		              "executable file not found in $PATH",
		              req->id);
		return;
	}
	if (strncmp(req->id, "np", 2) == 0) {
		br_call_failf(call, BR_PERMISSION_DENIED,
		              "start container \"%s\": exec: \"/etc\": permission denied", req->id);
		return;
	}
	struct br_task t = {.id = req->id, .status = "running", .pid = 99};
	br_call_reply(call, &br_task_schema, &t);
}

static void
on_logs(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_task_logs_req *req = br_call_params(call);
	struct br_task_logs_resp r = {.stdout_offset = req->stdout_offset,
	                              .stderr_offset = req->stderr_offset};
	static const char out[] = "hello\n", err[] = "oops\n";

	pthread_mutex_lock(&f->lock);
	f->logs_calls++;
	bool killed = f->kills > 0;
	uint32_t sig = f->last_signal;
	pthread_mutex_unlock(&f->lock);
	if (req->stdout_offset == 0) {
		r.stdout_data = (struct br_bytes){(const uint8_t *)out, 6};
		r.stdout_offset = 6;
	}
	if (req->stderr_offset == 0) {
		r.stderr_data = (struct br_bytes){(const uint8_t *)err, 5};
		r.stderr_offset = 5;
	}
	if (req->id[0] == 'w') {
		if (killed) {
			r.exited = true;
			r.exit_status = 128 + sig;
		} else {
			usleep(20 * 1000);
		}
	} else {
		r.exited = true;
		r.exit_status = req->id[0] == 'e' ? atoi(req->id + 1) : 0;
	}
	br_call_reply(call, &br_task_logs_resp_schema, &r);
}

static void
on_kill(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_task_kill_req *req = br_call_params(call);
	pthread_mutex_lock(&f->lock);
	f->kills++;
	f->last_signal = req->signal;
	pthread_mutex_unlock(&f->lock);
	br_call_reply(call, NULL, NULL);
}

static void
on_task_delete(br_call *call, void *data)
{
	struct fake *f = data;
	pthread_mutex_lock(&f->lock);
	f->task_deletes++;
	pthread_mutex_unlock(&f->lock);
	const struct br_container_id_req *req = br_call_params(call);
	if (strncmp(req->id, "nf", 2) == 0) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\": no task", req->id);
		return;
	}
	struct br_task t = {.id = req->id, .status = "stopped"};
	br_call_reply(call, &br_task_schema, &t);
}

static void
on_container_delete(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_container_id_req *req = br_call_params(call);
	if (strcmp(req->id, "ghost") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "container \"ghost\": not found");
		return;
	}
	if (strcmp(req->id, "busy") == 0 && !req->force) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"busy\": task is running");
		return;
	}
	pthread_mutex_lock(&f->lock);
	f->container_deletes++;
	pthread_mutex_unlock(&f->lock);
	br_call_reply(call, NULL, NULL);
}

static void
on_containers_list(br_call *call, void *data)
{
	static const char *cmd1[] = {"sh", "-c", "while true; do echo hello world; sleep 1; done"};
	static const char *cmd2[] = {"true"};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000;
	struct br_container cs[2] = {
	        {.id = "web",
	         .image = "busybox:latest",
	         .status = "running",
	         .pid = 5,
	         .created_at = now - 3 * 60000,
	         .command = {cmd1, 3}},
	        {.id = "done1",
	         .image = "busybox:latest",
	         .status = "stopped",
	         .exit_status = 3,
	         .created_at = now - 7200000,
	         .command = {cmd2, 1}},
	};
	struct br_container_list_resp r = {.items = {cs, 2}};
	br_call_reply(call, &br_container_list_resp_schema, &r);
}

/* tasks.top: two processes of "web"; "idle" is not running. */
static void
on_top(br_call *call, void *data)
{
	const struct br_task_top_req *req = br_call_params(call);
	static const char *const titles[] = {"UID", "PID", "CMD"};
	static const char *const row1[] = {"root", "41", "sh -c sleep 1000"};
	static const char *const row2[] = {"nobody", "42", "sleep 1000"};
	struct br_task_top_row rows[] = {{{(const char **)row1, 3}}, {{(const char **)row2, 3}}};

	if (strcmp(req->id, "idle") == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"idle\" is not running");
		return;
	}
	struct br_task_top_resp r = {{(const char **)titles, 3}, {rows, 2}};
	br_call_reply(call, &br_task_top_resp_schema, &r);
}

/* tasks.stats: each reading of "web" is a second after the last and half a second of CPU
 * more; "idle" is not running, "nf*" not found. */
static void
on_stats(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_container_id_req *req = br_call_params(call);

	if (strcmp(req->id, "idle") == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "container \"idle\" is not running");
		return;
	}
	if (strncmp(req->id, "nf", 2) == 0) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\": not found", req->id);
		return;
	}
	pthread_mutex_lock(&f->lock);
	int64_t n = f->stats_calls++;
	pthread_mutex_unlock(&f->lock);
	struct br_task_stats s = {
	        .id = "web",
	        .name = "www",
	        .read_ns = (n + 1) * 1000000000,
	        .cgroup = 1,
	        .online_cpus = 2,
	        .cpu_usage_ns = (uint64_t)n * 500000000,
	        .memory_usage = 100u << 20,
	        .memory_limit = 1u << 30,
	        .pids = 3,
	        .block_read = 2000,
	        .block_write = 3000000,
	        .network = true,
	        .net_rx = 1500,
	        .net_tx = 700,
	};
	br_call_reply(call, &br_task_stats_schema, &s);
}

/* ---- the fake netd behind the gateway ---- */

#define NET_ID "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

static void
on_net_create(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_network_create_req *req = br_call_params(call);
	char labels[128] = "";

	if (strcmp(req->name, "taken") == 0) {
		br_call_failf(call, BR_ALREADY_EXISTS, "network \"taken\": already exists");
		return;
	}
	for (size_t i = 0; i < req->labels.n; i++)
		snprintf(labels + strlen(labels), sizeof(labels) - strlen(labels), "%s=%s,",
		         req->labels.keys[i], req->labels.values[i]);
	pthread_mutex_lock(&f->lock);
	snprintf(f->net_created, sizeof(f->net_created),
	         "name=%s subnet=%s gateway=%s internal=%d labels=%s", req->name,
	         req->subnet ? req->subnet : "", req->gateway ? req->gateway : "", req->internal,
	         labels);
	pthread_mutex_unlock(&f->lock);
	struct br_network n = {
	        .name = req->name,
	        .id = NET_ID,
	        .driver = "bridge",
	        .bridge = "br-0a1b2c3d4e",
	        .subnet = req->subnet && req->subnet[0] ? req->subnet : "10.89.7.0/24",
	        .gateway = req->internal ? "" : "10.89.7.1",
	        .internal = req->internal,
	        .labels = req->labels,
	};
	br_call_reply(call, &br_network_schema, &n);
}

/* "frontend" (two containers on it) and "backend" (internal, empty). */
static void
fill_networks(struct br_network n[2], bool with_members)
{
	static const char *keys[] = {"tier"}, *values[] = {"web"};
	static struct br_network_member members[] = {
	        {.ns = "default",
	         .container_id = "web",
	         .name = "www",
	         .ifname = "eth0",
	         .address = "10.89.1.2/24",
	         .mac = "02:42:0a:59:01:02"},
	        {.ns = "other",
	         .container_id = "db",
	         .name = "db",
	         .ifname = "eth1",
	         .address = "10.89.1.3/24",
	         .mac = "02:42:0a:59:01:03"},
	};
	n[0] = (struct br_network){.name = "frontend",
	                           .id = NET_ID,
	                           .driver = "bridge",
	                           .bridge = "br-0a1b2c3d4e",
	                           .subnet = "10.89.1.0/24",
	                           .gateway = "10.89.1.1",
	                           .labels = {keys, values, 1},
	                           .created_at = 1795788248000,
	                           .n_members = 2,
	                           .conflist = "/etc/cni/net.d/frontend.conflist"};
	if (with_members)
		n[0].members = (struct br_objlist){members, 2};
	n[1] = (struct br_network){
	        .name = "backend",
	        .id = "ffeeddccbbaa99887766554433221100ffeeddccbbaa998877665544332211"
	              "00",
	        .driver = "bridge",
	        .bridge = "br-ffeeddccbb",
	        .subnet = "10.89.2.0/24",
	        .gateway = "",
	        .internal = true};
}

static void
on_net_list(br_call *call, void *data)
{
	struct br_network n[2];
	fill_networks(n, false);
	struct br_network_list_resp r = {.items = {n, 2}};
	br_call_reply(call, &br_network_list_resp_schema, &r);
}

static void
on_net_get(br_call *call, void *data)
{
	const struct br_network_name_req *req = br_call_params(call);
	struct br_network n[2];
	fill_networks(n, true);
	for (int i = 0; i < 2; i++) {
		if (strcmp(n[i].name, req->name) == 0) {
			br_call_reply(call, &br_network_schema, &n[i]);
			return;
		}
	}
	br_call_failf(call, BR_NOT_FOUND, "network \"%s\": not found", req->name);
}

static void
on_net_remove(br_call *call, void *data)
{
	const struct br_network_name_req *req = br_call_params(call);
	if (strcmp(req->name, "frontend") == 0) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "network \"frontend\" is in use by 2 containers");
		return;
	}
	if (strcmp(req->name, "ghost") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "network \"ghost\": not found");
		return;
	}
	br_call_reply(call, NULL, NULL);
}

static const struct br_net_port web_ports[] = {
        {.host_ip = "", .host_port = 8080, .container_port = 80, .protocol = "tcp"},
        {.host_ip = "127.0.0.1", .host_port = 5353, .container_port = 53, .protocol = "udp"},
        {.host_ip = "", .host_port = 32768, .container_port = 80, .protocol = "tcp"},
};

/* The attachment of container `id`: "web" publishes web_ports, "bare" nothing. */
static bool
fill_attachment(const char *id, struct br_net_attachment *ret)
{
	if (strcmp(id, "web") != 0 && strcmp(id, "bare") != 0)
		return false;
	*ret = (struct br_net_attachment){.id = id, .mode = "bridge", .name = id};
	if (strcmp(id, "web") == 0)
		ret->ports = (struct br_objlist){(void *)web_ports, 3};
	return true;
}

static void
on_net_connect(br_call *call, void *data)
{
	struct fake *f = data;
	const struct br_net_connect_req *req = br_call_params(call);
	struct br_net_attachment att;

	if (strcmp(req->network, "ghost") == 0 || !fill_attachment(req->id, &att)) {
		br_call_failf(call, BR_NOT_FOUND, "network \"%s\": not found", req->network);
		return;
	}
	pthread_mutex_lock(&f->lock);
	snprintf(f->net_connect, sizeof(f->net_connect), "%s %s %s", br_call_request(call)->method,
	         req->network, req->id);
	pthread_mutex_unlock(&f->lock);
	br_call_reply(call, &br_net_attachment_schema, &att);
}

static void
on_net_attachment(br_call *call, void *data)
{
	const struct br_net_id_req *req = br_call_params(call);
	struct br_net_attachment att;

	if (!fill_attachment(req->id, &att)) {
		br_call_failf(call, BR_NOT_FOUND, "container \"%s\" has no network", req->id);
		return;
	}
	br_call_reply(call, &br_net_attachment_schema, &att);
}

static void
on_net_attachments(br_call *call, void *data)
{
	struct fake *f = data;
	struct br_net_attachment atts[2];

	pthread_mutex_lock(&f->lock);
	bool fail = f->attachments_fail;
	pthread_mutex_unlock(&f->lock);
	if (fail) {
		br_call_failf(call, BR_NOT_IMPLEMENTED, "networks.attachments: unknown method");
		return;
	}
	fill_attachment("bare", &atts[0]);
	fill_attachment("web", &atts[1]);
	struct br_net_list_resp r = {.items = {atts, 2}};
	br_call_reply(call, &br_net_list_resp_schema, &r);
}

/* containers.get resolves "www" (a name) to "web" and knows "web" and "bare"; "nope" is not
 * found. Other ids answer NOT_IMPLEMENTED, as before the fake knew the method: `run` asks
 * for its containers only to learn whether they went away. */
static void
on_container_get(br_call *call, void *data)
{
	const struct br_container_id_req *req = br_call_params(call);
	const char *id = strcmp(req->id, "www") == 0 ? "web" : req->id;

	if (strcmp(id, "nope") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "container \"nope\": not found");
		return;
	}
	if (strcmp(id, "web") != 0 && strcmp(id, "bare") != 0) {
		br_call_failf(call, BR_NOT_IMPLEMENTED, "containers.get: not in this fake");
		return;
	}
	struct br_container c = {
	        .id = id, .name = req->id, .image = "busybox", .status = "running"};
	br_call_reply(call, &br_container_schema, &c);
}

static const struct br_method methods[] = {
        {"gateway.info", NULL, on_info},
        {"images.list", NULL, on_images_list},
        {"images.remove", &br_image_name_req_schema, on_images_remove},
        {"images.pull", &br_image_pull_req_schema, on_pull},
        {"images.push", &br_image_push_req_schema, on_push},
        {"images.tag", &br_image_tag_req_schema, on_tag},
        {"images.get", &br_image_name_req_schema, on_images_get},
        {"images.import", &br_image_import_req_schema, on_import},
        {"jobs.wait", &br_job_wait_req_schema, on_jobs_wait},
        {"jobs.cancel", &br_job_ref_schema, on_jobs_cancel},
        {"content.write", &br_content_write_req_schema, on_content_write},
        {"content.leases.create", &br_lease_create_req_schema, on_lease_create},
        {"content.leases.delete", &br_lease_id_req_schema, on_lease_delete},
        {"containers.create", &br_container_create_req_schema, on_create},
        {"containers.list", NULL, on_containers_list},
        {"containers.delete", &br_container_id_req_schema, on_container_delete},
        {"tasks.start", &br_container_id_req_schema, on_start},
        {"tasks.logs", &br_task_logs_req_schema, on_logs},
        {"tasks.kill", &br_task_kill_req_schema, on_kill},
        {"tasks.delete", &br_container_id_req_schema, on_task_delete},
        {"tasks.top", &br_task_top_req_schema, on_top},
        {"tasks.stats", &br_container_id_req_schema, on_stats},
        {"containers.get", &br_container_id_req_schema, on_container_get},
        {"networks.create", &br_network_create_req_schema, on_net_create},
        {"networks.list", NULL, on_net_list},
        {"networks.get", &br_network_name_req_schema, on_net_get},
        {"networks.remove", &br_network_name_req_schema, on_net_remove},
        {"networks.connect", &br_net_connect_req_schema, on_net_connect},
        {"networks.disconnect", &br_net_connect_req_schema, on_net_connect},
        {"networks.attachment", &br_net_id_req_schema, on_net_attachment},
        {"networks.attachments", NULL, on_net_attachments},
};

static void *
server_thread(void *arg)
{
	struct fake *f = arg;
	struct br_server_opts opts = {
	        .name = "berth-gatewayd", .version = "0.1.0", .socket_mode = 0600};
	char url[PATH_MAX + 8];

	snprintf(url, sizeof(url), "ipc://%s", f->path);
	uv_loop_init(&f->uv);
	f->rc = br_loop_init(&f->loop, &f->uv, &f->err);
	if (f->rc == 0)
		f->rc = br_rpc_server_new(&f->loop, url, methods,
		                          sizeof(methods) / sizeof(methods[0]), f, &opts,
		                          &f->server, &f->err);
	sem_post(&f->ready);
	if (f->rc < 0)
		return NULL;
	uv_run(&f->uv, UV_RUN_DEFAULT);
	return NULL;
}

static char tmpdir[256];
static char berth[PATH_MAX];

static void
setup(void)
{
	const char *build = getenv("BERTH_BUILD");
	snprintf(berth, sizeof(berth), "%s/berth", build && build[0] ? build : "build");
	if (access(berth, X_OK) != 0)
		T_SKIP("%s not built", berth);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-ctl-XXXXXX");
	T_NOT_NULL(mkdtemp(tmpdir));
	fake = calloc(1, sizeof(*fake));
	pthread_mutex_init(&fake->lock, NULL);
	snprintf(fake->path, sizeof(fake->path), "%s/berth.sock", tmpdir);
	sem_init(&fake->ready, 0, 0);
	pthread_create(&fake->thread, NULL, server_thread, fake);
	sem_wait(&fake->ready);
	if (fake->rc < 0)
		T_FAIL_("fake gateway: %s", fake->err.msg);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", tmpdir);
}

/* ---- running the CLI ---- */

struct result {
	int rc;
	char out[8192];
	char err[8192];
};

static void
slurp(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Run berth with --address of the fake and `args` (NULL-terminated); if sig != 0, send it to
 * the CLI after delay_ms. */
static void
run_cli_sig(struct result *r, int sig, int delay_ms, ...)
{
	char *argv[32];
	int n = 0;
	char out[PATH_MAX + 8], err[PATH_MAX + 8];
	va_list ap;

	argv[n++] = berth;
	argv[n++] = "--address";
	argv[n++] = fake->path;
	va_start(ap, delay_ms);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 31)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	snprintf(err, sizeof(err), "%s/err", tmpdir);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(o, 1);
		dup2(e, 2);
		unsetenv("BERTH_NAMESPACE");
		execv(berth, argv);
		_exit(99);
	}
	if (sig != 0) {
		usleep((useconds_t)delay_ms * 1000);
		kill(pid, sig);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	r->rc = WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

#define run_cli(r, ...) run_cli_sig(r, 0, 0, __VA_ARGS__, NULL)

#define T_CONTAINS(hay, needle)                                                     \
	do {                                                                        \
		if (strstr((hay), (needle)) == NULL)                                \
			T_FAIL_("\"%s\" does not contain \"%s\"", (hay), (needle)); \
	} while (0)

/* ---- cases ---- */

static void
test_unreachable(void)
{
	struct result r;
	setup();
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/none.sock", tmpdir);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	snprintf(fake->path, sizeof(fake->path), "%s", missing);
	run_cli(&r, "ps");
	clock_gettime(CLOCK_MONOTONIC, &b);
	T_EQ_INT(r.rc, 6);
	char want[400];
	snprintf(want, sizeof(want),
	         "berth: cannot reach berth-gatewayd at %s: No such file or directory\n", missing);
	T_EQ_STR(r.err, want);
	T_OK((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 250);

	/* a stale socket file that nobody listens on */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	T_OK(strlen(missing) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, missing, strlen(missing) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	T_EQ_INT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	run_cli(&r, "images", "ls");
	T_EQ_INT(r.rc, 6);
	snprintf(want, sizeof(want),
	         "berth: cannot reach berth-gatewayd at %s: Connection refused\n", missing);
	T_EQ_STR(r.err, want);
	teardown();
}

static void
test_info(void)
{
	struct result r;
	setup();
	run_cli(&r, "info");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out,
	         "Berth gateway 0.1.0 (pid 7, up 3s)\n"
	         "NAME             HEALTHY   VERSION   PID   UPTIME   ERROR\n"
	         "berth-contentd   yes       0.1.0     42    1m5s     -\n"
	         "berth-imaged     no        -         -     -        UNAVAILABLE: berth-imaged is "
	         "unavailable\n");
	run_cli(&r, "--format", "json", "info");
	T_EQ_INT(r.rc, 0);
	T_CONTAINS(r.out, "{\"version\":\"0.1.0\",\"pid\":7,\"uptime_ms\":3000,\"components\":[");
	T_CONTAINS(r.out, "\"healthy\":false");
	teardown();
}

static void
test_images_ls_rm(void)
{
	struct result r;
	setup();
	run_cli(&r, "-n", "team-a", "images", "ls");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out,
	         "NAME                               DIGEST                SIZE     CREATED\n"
	         "docker.io/library/busybox:latest   sha256:0123456789ab   2.15MB   2 minutes "
	         "ago\n");
	T_EQ_STR(fake->ns, "team-a");
	run_cli(&r, "images", "list", "-q");
	T_EQ_STR(r.out, "docker.io/library/busybox:latest\n");
	run_cli(&r, "--format", "json", "images", "ls");
	T_CONTAINS(r.out,
	           "[{\"name\":\"docker.io/library/busybox:latest\",\"digest\":\"sha256:0123");
	T_CONTAINS(r.out, "\"size\":2150000");
	run_cli(&r, "images", "rm", "a", "nope");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.out, "a\n");
	T_EQ_STR(r.err, "berth: image \"nope\": not found\n");
	teardown();
}

static void
test_pull(void)
{
	struct result r;
	setup();
	run_cli(&r, "images", "pull", "busybox");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "pulled docker.io/library/busybox:latest\n");
	T_EQ_STR(r.err, ""); /* stderr is not a tty: no progress */
	run_cli(&r, "images", "pull", "bad");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: pull bad: manifest unknown\n");
	run_cli(&r, "images", "pull", "dup");
	T_EQ_INT(r.rc, 6);
	T_EQ_STR(r.err, "berth: pull dup: GET https://x/v2/: connection refused\n");
	run_cli(&r, "images", "pull");
	T_EQ_INT(r.rc, 2);
	teardown();
}

static void
test_pull_progress(void)
{
	struct result r;
	setup();
	/* not a terminal: one plain line per layer state, then the result */
	run_cli(&r, "pull", "layered");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "pulled docker.io/library/layered:latest\n");
	T_EQ_STR(r.err, "111111111111: downloading 2.0MiB\n"
	                "222222222222: exists 3.0KiB\n"
	                "111111111111: done 2.0MiB\n");
	T_EQ_STR(fake->last_wait, "since=7 interval=200");
	/* quiet: the name alone, and the follower waits for the end only */
	run_cli(&r, "images", "pull", "-q", "layered");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "docker.io/library/layered:latest\n");
	T_EQ_STR(r.err, "");
	T_EQ_STR(fake->last_wait, "since=0 interval=0");
	teardown();
}

static void
test_pull_interrupt(void)
{
	struct result r;
	setup();
	run_cli_sig(&r, SIGINT, 300, "images", "pull", "slow", NULL);
	T_EQ_INT(r.rc, 130);
	T_EQ_INT(fake->canceled, 1);
	T_EQ_STR(r.err, "berth: pull slow: canceled\n");
	teardown();
}

static void
test_push_tag(void)
{
	struct result r;
	setup();
	run_cli(&r, "push", "--platform", "linux/arm64", "busybox", "reg.example/x:v1");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "pushed reg.example/x:v1@sha256:"
	                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n");
	T_EQ_STR(push_dest, "reg.example/x:v1");
	T_EQ_STR(push_platform, "linux/arm64");
	run_cli(&r, "images", "push", "busybox");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(push_dest, ""); /* imaged pushes to the image's own name */
	run_cli(&r, "push");
	T_EQ_INT(r.rc, 2);
	run_cli(&r, "push", "a", "b", "c");
	T_EQ_INT(r.rc, 2);
	run_cli_sig(&r, SIGINT, 300, "push", "slow", NULL);
	T_EQ_INT(r.rc, 130);
	T_EQ_STR(r.err, "berth: push slow: canceled\n");

	run_cli(&r, "tag", "busybox", "mine");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "");
	run_cli(&r, "images", "tag", "busybox", "mine");
	T_EQ_INT(r.rc, 0);
	run_cli(&r, "tag", "nope", "mine");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: tag nope mine: image \"nope\": not found\n");
	run_cli(&r, "tag", "busybox");
	T_EQ_INT(r.rc, 2);
	teardown();
}

static void
test_import(void)
{
	struct result r;
	setup();
	char file[PATH_MAX + 16];
	snprintf(file, sizeof(file), "%s/img.tar", tmpdir);
	/* 2.5 chunks, so three writes with the commit on the last */
	size_t size = BR_CHUNK_MAX * 2 + BR_CHUNK_MAX / 2;
	char *data = malloc(size);
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 7);
	FILE *f = fopen(file, "w");
	T_EQ_INT(fwrite(data, 1, size, f), size);
	fclose(f);
	char digest[BR_DIGEST_BUF];
	br_digest_buf(data, size, digest);
	free(data);

	run_cli(&r, "images", "import", file, "--name", "example.com/imported:latest");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "imported example.com/imported:latest\n");
	T_EQ_INT(fake->written, (int64_t)size);
	T_OK(fake->committed);
	T_EQ_STR(fake->commit_digest, digest);
	T_EQ_STR(fake->import_digest, digest);
	/* every chunk went under the upload's lease, which is gone once the import ended */
	T_EQ_INT(fake->unleased_writes, 0);
	T_EQ_STR(fake->lease, "");

	char empty[PATH_MAX + 16];
	snprintf(empty, sizeof(empty), "%s/empty.tar", tmpdir);
	fclose(fopen(empty, "w"));
	run_cli(&r, "images", "import", empty);
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "file is empty");
	run_cli(&r, "images", "import", "/nonexistent/x.tar");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: import /nonexistent/x.tar: No such file or directory\n");
	teardown();
}

static void
test_run_output_and_status(void)
{
	struct result r;
	setup();
	run_cli(&r, "run", "--name", "e3", "-e", "A=1", "busybox", "sh", "-c", "exit 3");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.out, "hello\n");
	T_EQ_STR(r.err, "oops\n");
	T_EQ_STR(fake->created_env, "A=1;");
	T_EQ_STR(fake->created_cmd, "sh;-c;exit 3;");
	T_EQ_INT(fake->container_deletes, 0);

	T_OK(!fake->created_auto_remove);

	/* --rm is taskd's (auto_remove): the CLI deletes nothing itself after an exit. */
	run_cli(&r, "run", "--rm", "--name", "e0", "busybox");
	T_EQ_INT(r.rc, 0);
	T_OK(fake->created_auto_remove);
	T_EQ_INT(fake->task_deletes, 0);
	T_EQ_INT(fake->container_deletes, 0);

	run_cli(&r, "run", "-d", "busybox", "sleep", "100");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "0123456789abcdef\n");
	teardown();
}

static void
test_run_failures(void)
{
	struct result r;
	setup();
	/* --pull missing (the default) tries a pull first; the fake's pull "succeeds". */
	run_cli(&r, "run", "missing");
	T_EQ_INT(r.rc, 125);
	T_CONTAINS(r.err, "Unable to find image 'missing' locally\n");
	T_CONTAINS(r.err, "berth: image \"missing\": not found\n");

	run_cli(&r, "run", "--rm", "--name", "nf1", "busybox", "nope");
	T_EQ_INT(r.rc, 127);
	T_CONTAINS(r.err, "berth: start container \"nf1\": runc create failed: exec: \"nope\": "
	                  "executable file not found in $PATH\n");
	T_EQ_INT(fake->container_deletes, 1);   /* --rm also after a failed start */
	T_OK(strstr(r.err, "no task") == NULL); /* NOT_FOUND of tasks.delete is ignored */

	run_cli(&r, "run", "--name", "np1", "busybox", "/etc");
	T_EQ_INT(r.rc, 126);
	run_cli(&r, "run", "--net", "no/such", "busybox");
	T_EQ_INT(r.rc, 125);
	T_CONTAINS(r.err, "berth: invalid --net \"no/such\": expected none, host or a network's "
	                  "name");
	run_cli(&r, "run", "-p", "80:80:80:80", "busybox");
	T_EQ_INT(r.rc, 125);
	T_CONTAINS(r.err, "berth: invalid -p \"80:80:80:80\"");
	T_CONTAINS(r.err, "Run 'berth run --help' for usage.");
	teardown();
}

static void
test_run_interrupt(void)
{
	struct result r;
	setup();
	run_cli_sig(&r, SIGINT, 300, "run", "--name", "w1", "busybox", "sleep", "100", NULL);
	T_EQ_INT(fake->kills, 1);
	T_EQ_INT(fake->last_signal, SIGINT);
	T_EQ_INT(r.rc, 128 + SIGINT);
	T_EQ_STR(r.out, "hello\n");
	teardown();
}

static void
test_ps_rm(void)
{
	struct result r;
	setup();
	/* PORTS from netd's attachments, as docker shows them */
	run_cli(&r, "ps");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.err, "");
	T_EQ_STR(r.out, "CONTAINER ID   IMAGE            COMMAND                          STATUS   "
	                "CREATED         PORTS                                                  "
	                "               NAMES\n"
	                "web            busybox:latest   sh -c while true; do echo h...   Up       "
	                "3 minutes ago   0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, "
	                "0.0.0.0:32768->80/tcp   web\n");
	/* a netd that cannot list attachments: the column stays empty, and that is no error */
	pthread_mutex_lock(&fake->lock);
	fake->attachments_fail = true;
	pthread_mutex_unlock(&fake->lock);
	run_cli(&r, "ps");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.err, "");
	T_EQ_STR(r.out, "CONTAINER ID   IMAGE            COMMAND                          STATUS   "
	                "CREATED         PORTS   NAMES\n"
	                "web            busybox:latest   sh -c while true; do echo h...   Up       "
	                "3 minutes ago           web\n");
	run_cli(&r, "--format", "json", "ps", "-a");
	T_CONTAINS(r.out, "\"labels\":{},\"ports\":[]}");
	pthread_mutex_lock(&fake->lock);
	fake->attachments_fail = false;
	pthread_mutex_unlock(&fake->lock);
	run_cli(&r, "ps", "-a", "-q");
	T_EQ_STR(r.out, "web\ndone1\n");
	run_cli(&r, "ps", "-a");
	T_CONTAINS(r.out, "Exited (3)");
	T_CONTAINS(r.out, "2 hours ago");
	run_cli(&r, "--format", "json", "ps", "-a");
	T_CONTAINS(r.out, "\"id\":\"done1\"");
	T_CONTAINS(r.out, "\"command\":[\"true\"]");
	T_CONTAINS(r.out, "\"ports\":[{\"host_ip\":\"0.0.0.0\",\"host_port\":8080,"
	                  "\"container_port\":80,\"protocol\":\"tcp\"},{\"host_ip\":\"127.0.0.1\","
	                  "\"host_port\":5353,\"container_port\":53,\"protocol\":\"udp\"},");
	T_CONTAINS(r.out, "\"labels\":{},\"ports\":[]}]"); /* done1 publishes nothing */

	run_cli(&r, "rm", "busy");
	T_EQ_INT(r.rc, 5);
	T_EQ_STR(r.err, "berth: container \"busy\": task is running\n");
	run_cli(&r, "rm", "-f", "busy", "ghost");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.out, "busy\n");
	T_EQ_STR(r.err, "berth: container \"ghost\": not found\n");
	teardown();
}

static void
test_top_stats(void)
{
	struct result r;
	setup();
	run_cli(&r, "top", "web");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "UID      PID   CMD\n"
	                "root     41    sh -c sleep 1000\n"
	                "nobody   42    sleep 1000\n");
	run_cli(&r, "--format", "json", "top", "web", "-o", "pid");
	T_EQ_STR(r.out, "{\"titles\":[\"UID\",\"PID\",\"CMD\"],\"processes\":[[\"root\",\"41\","
	                "\"sh -c sleep 1000\"],[\"nobody\",\"42\",\"sleep 1000\"]]}\n");
	run_cli(&r, "top", "idle");
	T_EQ_INT(r.rc, 5);
	T_EQ_STR(r.err, "berth: top idle: container \"idle\" is not running\n");
	run_cli(&r, "top");
	T_EQ_INT(r.rc, 2);

	/* two readings a second apart, half a second of CPU between them: 50% */
	run_cli(&r, "stats", "--no-stream", "web");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "CONTAINER ID   NAME   CPU %    MEM USAGE / LIMIT   MEM %   NET I/O        "
	                "BLOCK I/O   PIDS\n"
	                "web            www    50.00%   100MiB / 1GiB       9.77%   1.5kB / 700B   "
	                "2kB / 3MB   3\n");
	run_cli(&r, "stats", "--no-stream", "--format", "json", "web", "idle", "nf1");
	T_EQ_INT(r.rc, 3);
	T_CONTAINS(r.out, "{\"id\":\"web\",\"name\":\"www\",\"running\":true,\"cpu_percent\":50.00,"
	                  "\"cpu_usage_ns\":");
	T_CONTAINS(r.out, "\"memory_usage\":104857600,\"memory_limit\":1073741824,"
	                  "\"memory_percent\":9.77,\"network\":true,\"net_rx\":1500,\"net_tx\":700,"
	                  "\"block_read\":2000,\"block_write\":3000000,\"pids\":3,\"pids_limit\":0,"
	                  "\"cgroup\":1}");
	T_CONTAINS(r.out,
	           "{\"id\":\"idle\",\"name\":\"idle\",\"running\":false,\"cpu_percent\":0.00,"
	           "\"cpu_usage_ns\":0,\"memory_usage\":0");
	T_EQ_STR(r.err, "berth: stats nf1: container \"nf1\": not found\n");
	run_cli(&r, "stats", "--format", "yaml");
	T_EQ_INT(r.rc, 2);
	teardown();
}

/* The run options reach containers.create as parsed. */
static void
test_run_options_wire(void)
{
	struct result r;
	char dir[300], want[2048];
	setup();
	snprintf(dir, sizeof(dir), "%s/vol", tmpdir);
	mkdir(dir, 0700);
	char v[400], m[400];
	snprintf(v, sizeof(v), "%s:/data:ro", dir);
	snprintf(m, sizeof(m), "type=bind,src=%s,dst=/b", dir);
	run_cli(&r, "run", "--name", "e0", "-v", v, "-v", "named:/n", "--mount", m, "--mount",
	        "type=tmpfs,target=/t,tmpfs-size=64k,tmpfs-mode=700", "-u", "1:2", "-w", "/w",
	        "--cap-add", "NET_ADMIN", "--cap-drop", "ALL", "--read-only", "--init", "busybox");
	T_EQ_STR(r.err, "oops\n");
	T_EQ_INT(r.rc, 0);
	snprintf(want, sizeof(want),
	         "mount=bind,%s,/data,ro,0,0;mount=volume,named,/n,rw,0,0;mount=bind,%s,/b,rw,0,0;"
	         "mount=tmpfs,,/t,rw,65536,700;cap+NET_ADMIN;cap-ALL;user=1:2;wd=/w;priv=0;ro=1;"
	         "init=1;mem=0;swap=0;cpus=0;pids=0",
	         dir, dir);
	T_EQ_STR(fake->created_opts, want);
	run_cli(&r, "run", "--name", "e0", "-m", "32m", "--memory-swap", "-1", "--cpus", "1.5",
	        "--pids-limit", "10", "--ulimit", "nofile=10:20", "--ulimit", "core=-1", "--device",
	        "/dev/null:/dev/n:rw", "--device", "/dev/zero", "--tmpfs",
	        "/run:size=1m,mode=1777,ro", "busybox");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(fake->created_opts,
	         "mount=tmpfs,,/run,ro,1048576,1777;"
	         "device=/dev/null,/dev/n,rw;device=/dev/zero,,;ulimit=nofile,10,20;"
	         "ulimit=core,-1,-1;user=;wd=;priv=0;ro=0;init=0;mem=33554432;swap=-1;"
	         "cpus=1500000000;pids=10");
	run_cli(&r, "run", "--name", "e0", "--privileged", "--pids-limit", "-1", "busybox");
	T_EQ_INT(r.rc, 0);
	T_CONTAINS(fake->created_opts, "priv=1;");
	T_CONTAINS(fake->created_opts, "pids=0");
	teardown();
}

/* --net NAME, -p, --dns and --add-host reach containers.create as parsed, from run and from
 * create. */
static void
test_run_network_wire(void)
{
	struct result r;
	setup();
	run_cli(&r, "run", "--name", "e0", "--network", "frontend", "-p", "8080:80", "-p",
	        "127.0.0.1::53/UDP", "-p", "9000", "--publish", "0.0.0.0:8443:443/tcp", "--dns",
	        "192.0.2.53", "--dns", "2001:db8::1", "--add-host", "db:192.0.2.10", "--add-host",
	        "v6:2001:db8::7", "busybox");
	T_EQ_STR(r.err, "oops\n");
	T_EQ_INT(r.rc, 0);
	T_CONTAINS(fake->created_opts,
	           "pids=0;net=frontend;port=|8080|80|tcp;port=127.0.0.1|0|53|udp;port=|0|9000|tcp;"
	           "port=|8443|443|tcp;dns=192.0.2.53;dns=2001:db8::1;host=db:192.0.2.10;"
	           "host=v6:2001:db8::7");
	run_cli(&r, "create", "--name", "c0", "--net", "none", "--dns", "192.0.2.1", "busybox");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "c0\n");
	T_CONTAINS(fake->created_opts, "pids=0;net=none;dns=192.0.2.1");
	run_cli(&r, "create", "--name", "c1", "-p", "80", "busybox");
	T_EQ_INT(r.rc, 0);
	T_CONTAINS(fake->created_opts, "pids=0;port=|0|80|tcp");
	/* nothing is created from a bad option */
	fake->created_opts[0] = '\0';
	run_cli(&r, "run", "--net", "host", "-p", "80", "busybox");
	T_EQ_INT(r.rc, 125);
	T_EQ_STR(r.err, "berth: -p cannot be combined with --net host: the container uses the "
	                "host's ports as they are\nRun 'berth run --help' for usage.\n");
	run_cli(&r, "create", "--add-host", "db", "busybox");
	T_EQ_INT(r.rc, 125);
	T_EQ_STR(r.err, "berth: invalid --add-host \"db\": expected HOST:IP\n"
	                "Run 'berth create --help' for usage.\n");
	T_EQ_STR(fake->created_opts, "");
	teardown();
}

/* berth network create|ls|inspect|rm|connect|disconnect against the fake netd. */
static void
test_network_cmds(void)
{
	struct result r;
	setup();
	run_cli(&r, "network", "create", "--subnet", "10.89.9.0/24", "--gateway", "10.89.9.254",
	        "--label", "tier=web", "-l", "solo", "lan");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "lan\n");
	T_EQ_STR(fake->net_created, "name=lan subnet=10.89.9.0/24 gateway=10.89.9.254 internal=0 "
	                            "labels=tier=web,solo=,");
	run_cli(&r, "network", "create", "quiet", "--internal");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(fake->net_created, "name=quiet subnet= gateway= internal=1 labels=");
	run_cli(&r, "network", "create", "taken");
	T_EQ_INT(r.rc, 4);
	T_EQ_STR(r.err, "berth: network create taken: network \"taken\": already exists\n");
	/* bad values are refused before any call */
	fake->net_created[0] = '\0';
	run_cli(&r, "network", "create", "--subnet", "10.89.9.1/24", "x");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "berth: invalid --subnet \"10.89.9.1/24\": host bits are set (the "
	                  "network is 10.89.9.0/24)\n");
	run_cli(&r, "network", "create", "--gateway", "10.0.0.1", "x");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "--gateway 10.0.0.1 needs --subnet");
	run_cli(&r, "network", "create", "--subnet", "10.0.0.0/24", "--gateway", "10.0.1.1", "x");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "invalid --gateway \"10.0.1.1\": not a host address of 10.0.0.0/24");
	run_cli(&r, "network", "create", "bad/name");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "invalid network name \"bad/name\"");
	run_cli(&r, "network", "create", "--bogus", "x");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "berth: network create: unknown option --bogus\n");
	run_cli(&r, "network", "create", "--subnet");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "berth: option --subnet needs a value\n");
	T_EQ_STR(fake->net_created, "");

	run_cli(&r, "network", "ls");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out,
	         "NAME       ID             DRIVER   SUBNET         GATEWAY     INTERNAL   "
	         "CONTAINERS\n"
	         "frontend   0a1b2c3d4e5f   bridge   10.89.1.0/24   10.89.1.1   no         2\n"
	         "backend    ffeeddccbbaa   bridge   10.89.2.0/24   -           yes        "
	         "0\n");
	run_cli(&r, "network", "list", "-q");
	T_EQ_STR(r.out, "frontend\nbackend\n");
	run_cli(&r, "network", "ls", "--format", "json");
	T_CONTAINS(r.out, "[{\"name\":\"frontend\",\"id\":\"" NET_ID "\",\"driver\":\"bridge\","
	                  "\"bridge\":\"br-0a1b2c3d4e\",\"subnet\":\"10.89.1.0/24\",\"gateway\":"
	                  "\"10.89.1.1\",\"internal\":false,\"labels\":{\"tier\":\"web\"},"
	                  "\"created_at\":1795788248000,\"containers\":2},");
	run_cli(&r, "network", "ls", "extra");
	T_EQ_INT(r.rc, 2);

	run_cli(&r, "network", "inspect", "frontend", "ghost");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: network \"ghost\": not found\n");
	T_CONTAINS(r.out, "[{\"name\":\"frontend\",");
	T_CONTAINS(r.out, "\"conflist\":\"/etc/cni/net.d/frontend.conflist\",\"members\":[{"
	                  "\"namespace\":\"default\",\"container_id\":\"web\",\"name\":\"www\","
	                  "\"ifname\":\"eth0\",\"address\":\"10.89.1.2/24\",\"mac\":"
	                  "\"02:42:0a:59:01:02\"},{");
	T_OK(strstr(r.out, "ghost") == NULL);

	run_cli(&r, "network", "rm", "lan", "frontend", "ghost");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.out, "lan\n");
	T_EQ_STR(r.err, "berth: network rm frontend: network \"frontend\" is in use by 2 "
	                "containers\n"
	                "berth: network rm ghost: network \"ghost\": not found\n");
	run_cli(&r, "network", "remove", "frontend");
	T_EQ_INT(r.rc, 5);
	run_cli(&r, "network", "rm");
	T_EQ_INT(r.rc, 2);

	/* a container named by its name reaches netd as its id */
	run_cli(&r, "network", "connect", "frontend", "www");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "");
	T_EQ_STR(fake->net_connect, "networks.connect frontend web");
	run_cli(&r, "network", "disconnect", "backend", "web");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(fake->net_connect, "networks.disconnect backend web");
	run_cli(&r, "network", "connect", "ghost", "web");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: network connect ghost web: network \"ghost\": not found\n");
	run_cli(&r, "network", "connect", "frontend", "nope");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: network connect frontend nope: container \"nope\": not found\n");
	run_cli(&r, "network", "connect", "frontend");
	T_EQ_INT(r.rc, 2);
	run_cli(&r, "network", "bogus");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "unknown command \"network bogus\"");
	teardown();
}

/* berth port: every published port, or the host side of one. */
static void
test_port(void)
{
	struct result r;
	setup();
	run_cli(&r, "port", "www");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "80/tcp -> 0.0.0.0:8080\n53/udp -> 127.0.0.1:5353\n80/tcp -> "
	                "0.0.0.0:32768\n");
	run_cli(&r, "port", "web", "80");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "0.0.0.0:8080\n0.0.0.0:32768\n");
	run_cli(&r, "port", "web", "53/udp");
	T_EQ_STR(r.out, "127.0.0.1:5353\n");
	run_cli(&r, "port", "web", "53");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: port web: no public port 53/tcp published\n");
	run_cli(&r, "port", "bare");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "");
	run_cli(&r, "port", "nope");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.err, "berth: port nope: container \"nope\": not found\n");
	run_cli(&r, "port", "web", "0");
	T_EQ_INT(r.rc, 2);
	T_CONTAINS(r.err, "berth: invalid port \"0\"");
	run_cli(&r, "port");
	T_EQ_INT(r.rc, 2);
	teardown();
}

/* --pull: never fails on a missing image, missing pulls it (progress on stderr), always
 * pulls a present one too. */
static void
test_run_pull(void)
{
	struct result r;
	setup();
	run_cli(&r, "run", "--pull", "never", "remote");
	T_EQ_INT(r.rc, 125);
	T_EQ_STR(r.err, "berth: image \"remote\" is not present, and --pull never forbids pulling "
	                "it\n");
	T_EQ_INT(fake->pulls, 0);
	run_cli(&r, "run", "--name", "e0", "remote");
	T_EQ_INT(r.rc, 0);
	T_EQ_INT(fake->pulls, 1);
	T_CONTAINS(r.err, "Unable to find image 'remote' locally\n");
	T_EQ_STR(r.out, "hello\n"); /* the pull's lines stay off the container's stdout */
	run_cli(&r, "run", "--name", "e0", "busybox");
	T_EQ_INT(fake->pulls, 1);
	run_cli(&r, "run", "--name", "e0", "--pull", "always", "busybox");
	T_EQ_INT(fake->pulls, 2);
	teardown();
}

/* Parsing alone: every bad value is INVALID_ARGUMENT naming what is wrong. */
static void
expect_parse_error(const char *needle, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	struct ctl_run_opts o;
	br_err err = BR_ERR_INIT;

	argv[argc++] = "run";
	va_start(ap, needle);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 14;)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc++] = "busybox";
	argv[argc] = NULL;
	T_ERR(ctl_run_parse(argc, argv, &o, &err), err, BR_INVALID_ARGUMENT);
	if (strstr(err.msg, needle) == NULL)
		T_FAIL_("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void
test_run_parse_errors(void)
{
	expect_parse_error("bind source path \"/nonexistent/x\"", "-v", "/nonexistent/x:/a", NULL);
	expect_parse_error("must be absolute", "-v", "/tmp:rel", NULL);
	expect_parse_error("must be absolute", "-v", "/tmp:/a/../b", NULL);
	expect_parse_error("anonymous volumes", "-v", "/data", NULL);
	expect_parse_error("unknown option \"rx\"", "-v", "/tmp:/a:rx", NULL);
	expect_parse_error("neither a host path", "-v", "bad name:/a", NULL);
	expect_parse_error("duplicate mount point /a", "-v", "/tmp:/a", "-v", "x:/a", NULL);
	expect_parse_error("unknown key \"bogus\"", "--mount", "type=bind,src=/tmp,dst=/a,bogus=1",
	                   NULL);
	expect_parse_error("target= is required", "--mount", "type=bind,src=/tmp", NULL);
	expect_parse_error("source= is required", "--mount", "type=volume,dst=/a", NULL);
	expect_parse_error("takes no source", "--mount", "type=tmpfs,src=x,dst=/a", NULL);
	expect_parse_error("tmpfs-size and tmpfs-mode are for type=tmpfs", "--mount",
	                   "type=bind,src=/tmp,dst=/a,tmpfs-size=1m", NULL);
	expect_parse_error("type \"nfs\"", "--mount", "type=nfs,dst=/a", NULL);
	expect_parse_error("must be an absolute path", "--mount", "type=bind,src=tmp,dst=/a", NULL);
	expect_parse_error("expected a size", "-m", "lots", NULL);
	expect_parse_error("the minimum is 6m", "--memory", "1m", NULL);
	expect_parse_error("--memory-swap needs --memory", "--memory-swap", "1g", NULL);
	expect_parse_error("at least --memory", "-m", "1g", "--memory-swap", "512m", NULL);
	expect_parse_error("invalid --cpus", "--cpus", "0", NULL);
	expect_parse_error("invalid --cpus", "--cpus", "x", NULL);
	expect_parse_error("invalid --pids-limit", "--pids-limit", "ten", NULL);
	expect_parse_error("expected NAME=SOFT[:HARD]", "--ulimit", "nofile", NULL);
	expect_parse_error("soft limit is above", "--ulimit", "nofile=20:10", NULL);
	expect_parse_error("limits are numbers", "--ulimit", "nofile=x", NULL);
	expect_parse_error("not a device node", "--device", "/tmp", NULL);
	expect_parse_error("permissions \"rwx\"", "--device", "/dev/null:/dev/n:rwx", NULL);
	expect_parse_error("must be absolute", "--device", "null", NULL);
	expect_parse_error("invalid -w \"rel\"", "-w", "rel", NULL);
	expect_parse_error("invalid --pull \"sometimes\"", "--pull", "sometimes", NULL);
	expect_parse_error("unknown option \"exec\"", "--tmpfs", "/t:exec", NULL);
	expect_parse_error("must be absolute", "--tmpfs", "t", NULL);
	expect_parse_error("mode \"9\"", "--tmpfs", "/t:mode=9", NULL);
	expect_parse_error("duplicate mount point /t", "--tmpfs", "/t", "-v", "x:/t", NULL);
	expect_parse_error("invalid -p \"80:80:80:80\": expected [HOSTIP:][HOSTPORT:]CTRPORT", "-p",
	                   "80:80:80:80", NULL);
	expect_parse_error("invalid -p \"0\": container port \"0\": expected a number from 1 to "
	                   "65535",
	                   "-p", "0", NULL);
	expect_parse_error("container port \"65536\"", "-p", "65536", NULL);
	expect_parse_error("container port \"\"", "-p", "80:", NULL);
	expect_parse_error("container port \"+80\"", "-p", "+80", NULL);
	expect_parse_error("invalid -p \"x:80\": host port \"x\"", "--publish", "x:80", NULL);
	expect_parse_error("host port \"70000\"", "-p", "70000:80", NULL);
	expect_parse_error("port ranges are not supported", "-p", "8000-8010:80", NULL);
	expect_parse_error("invalid -p \"80/sctp\": protocol \"sctp\": expected tcp or udp", "-p",
	                   "80/sctp", NULL);
	expect_parse_error("host address \"localhost\": expected an IPv4 address", "-p",
	                   "localhost:80:80", NULL);
	expect_parse_error("(IPv4 host addresses only)", "-p", "[::1]:80:80", NULL);
	expect_parse_error("host port 8080/tcp is published twice", "-p", "8080:80", "-p",
	                   "127.0.0.1:8080:81", NULL);
	expect_parse_error("-p cannot be combined with --net none", "-p", "80", "--net", "none",
	                   NULL);
	expect_parse_error("invalid --net \"a b\": expected none, host or a network's name",
	                   "--net", "a b", NULL);
	expect_parse_error("invalid --net \"-x\"", "--network", "-x", NULL);
	expect_parse_error("invalid --dns \"8.8.8\": expected an IPv4 or IPv6 address", "--dns",
	                   "8.8.8", NULL);
	expect_parse_error("invalid --dns \"dns.example\"", "--dns", "dns.example", NULL);
	expect_parse_error("invalid --add-host \"db\": expected HOST:IP", "--add-host", "db", NULL);
	expect_parse_error("invalid --add-host \":1.2.3.4\": expected HOST:IP", "--add-host",
	                   ":1.2.3.4", NULL);
	expect_parse_error("\"300.1.1.1\" is not an IPv4 or IPv6 address", "--add-host",
	                   "db:300.1.1.1", NULL);
	expect_parse_error("host name \"bad host\": expected letters", "--add-host",
	                   "bad host:1.2.3.4", NULL);
	expect_parse_error("invalid -p \"busybox\": container port \"busybox\"", "-p", NULL);
	{
		char *argv[] = {"run", "--dns", NULL};
		struct ctl_run_opts o;
		br_err err = BR_ERR_INIT;
		T_ERR(ctl_run_parse(2, argv, &o, &err), err, BR_INVALID_ARGUMENT);
		T_EQ_STR(err.msg, "option --dns needs a value");
	}
	{
		char *argv[] = {"run", "--env-file", "/nonexistent/env", "busybox", NULL};
		struct ctl_run_opts o;
		br_err err = BR_ERR_INIT;
		T_ERR(ctl_run_parse(4, argv, &o, &err), err, BR_NOT_FOUND);
		T_CONTAINS(err.msg, "--env-file: /nonexistent/env");
	}
}

/* The network options' good values, as they go on the wire. */
static void
test_run_parse_network(void)
{
	char *argv[] = {"run",
	                "--net",
	                "my_net.1",
	                "-p",
	                "127.0.0.1:8080:80/udp",
	                "-p",
	                "0.0.0.0::443",
	                "-p",
	                ":53/TCP",
	                "--dns",
	                "2001:db8::1",
	                "--add-host",
	                "h.example:10.0.0.1",
	                "--add-host",
	                "h6:::1",
	                "busybox",
	                NULL};
	struct ctl_run_opts o;
	struct br_container_create_req req;
	br_err err = BR_ERR_INIT;

	T_NOERR(ctl_run_parse(16, argv, &o, &err), err);
	T_EQ_STR(o.net, "my_net.1");
	T_EQ_INT(o.nports, 3);
	T_EQ_STR(o.ports[0].host_ip, "127.0.0.1");
	T_EQ_INT(o.ports[0].host_port, 8080);
	T_EQ_INT(o.ports[0].container_port, 80);
	T_EQ_STR(o.ports[0].protocol, "udp");
	T_EQ_STR(o.ports[1].host_ip, ""); /* the wildcard is said with "" */
	T_EQ_INT(o.ports[1].host_port, 0);
	T_EQ_INT(o.ports[1].container_port, 443);
	T_EQ_STR(o.ports[1].protocol, "tcp");
	T_EQ_STR(o.ports[2].host_ip, "");
	T_EQ_INT(o.ports[2].host_port, 0);
	T_EQ_INT(o.ports[2].container_port, 53);
	T_EQ_STR(o.ports[2].protocol, "tcp");
	T_EQ_INT(o.ndns, 1);
	T_EQ_INT(o.nadd_hosts, 2);
	T_EQ_STR(o.add_hosts[1], "h6:::1");
	ctl_run_create_req(&o, &req);
	T_EQ_INT(req.ports.n, 3);
	T_EQ_INT(req.dns.n, 1);
	T_EQ_STR(req.add_hosts.v[0], "h.example:10.0.0.1");
	ctl_run_opts_free(&o);

	/* the wire's limits are the CLI's */
	char *many[2 + 2 * (BR_NET_DNS_MAX + 1)];
	int n = 0;
	many[n++] = "run";
	for (int i = 0; i <= BR_NET_DNS_MAX; i++) {
		many[n++] = "--dns";
		many[n++] = "192.0.2.1";
	}
	many[n++] = "busybox";
	err = (br_err)BR_ERR_INIT;
	T_ERR(ctl_run_parse(n, many, &o, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "more than 8 --dns options");
}

/* Sizes as docker reads them, and the env file's format. */
static void
test_run_parse_values(void)
{
	int64_t v;
	br_err err = BR_ERR_INIT;
	struct ctl_run_opts o = {0};
	char path[PATH_MAX + 16];
	FILE *f;

	setup();
	T_NOERR(ctl_parse_size("-m", "512", &v, &err), err);
	T_EQ_INT(v, 512);
	T_NOERR(ctl_parse_size("-m", "64k", &v, &err), err);
	T_EQ_INT(v, 65536);
	T_NOERR(ctl_parse_size("-m", "32MB", &v, &err), err);
	T_EQ_INT(v, 32 << 20);
	T_NOERR(ctl_parse_size("-m", "1.5g", &v, &err), err);
	T_EQ_INT(v, 3LL << 29);
	T_ERR(ctl_parse_size("-m", "-1m", &v, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(ctl_parse_size("-m", "1x", &v, &err), err, BR_INVALID_ARGUMENT);
	T_NOERR(ctl_parse_cpus("0.25", &v, &err), err);
	T_EQ_INT(v, 250000000);

	snprintf(path, sizeof(path), "%s/env", tmpdir);
	f = fopen(path, "w");
	fputs("# comment\n\nA=1\r\n  B=x y\nFROM_ENV\nNOT_SET_ANYWHERE\nC=\n", f);
	fclose(f);
	setenv("FROM_ENV", "here", 1);
	unsetenv("NOT_SET_ANYWHERE");
	T_NOERR(ctl_read_env_file(&o, path, &err), err);
	T_EQ_INT(o.nenv, 4);
	T_EQ_STR(o.env[0], "A=1");
	T_EQ_STR(o.env[1], "B=x y");
	T_EQ_STR(o.env[2], "FROM_ENV=here");
	T_EQ_STR(o.env[3], "C=");
	ctl_run_opts_free(&o);

	f = fopen(path, "w");
	fputs("A=1\nBAD NAME\n", f);
	fclose(f);
	T_ERR(ctl_read_env_file(&o, path, &err), err, BR_INVALID_ARGUMENT);
	T_CONTAINS(err.msg, ":2");
	ctl_run_opts_free(&o);
	teardown();
}

T_MAIN(T_CASE(test_unreachable), T_CASE(test_info), T_CASE(test_images_ls_rm), T_CASE(test_pull),
       T_CASE(test_pull_progress), T_CASE(test_pull_interrupt), T_CASE(test_push_tag),
       T_CASE(test_import), T_CASE(test_run_output_and_status), T_CASE(test_run_failures),
       T_CASE(test_run_interrupt), T_CASE(test_ps_rm), T_CASE(test_top_stats),
       T_CASE(test_run_options_wire), T_CASE(test_run_pull), T_CASE(test_run_parse_errors),
       T_CASE(test_run_parse_values), T_CASE(test_run_network_wire), T_CASE(test_network_cmds),
       T_CASE(test_port), T_CASE(test_run_parse_network))
