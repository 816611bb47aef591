/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Drives the real berth binary ($BERTH_BUILD/berth) against a fake gateway served from this
 * process with the RPC runtime: what a user sees on stdout and stderr and the exit codes of
 * info, images (pull, import, ls, rm), run (output, exit status, 125/126/127, --rm, -d,
 * SIGINT forwarding), ps and rm, plus the fast failure when no gateway listens.
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
#include "common/proto/tasks.h"
#include "common/rpc.h"
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
	bool created_auto_remove;
	int job_polls;
	char lease[64];      /* the upload lease created, "" when deleted again */
	int unleased_writes; /* content.write calls not under that lease */
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
	if (strcmp(req->ref, "bad") == 0)
		r.id = "j-fail";
	else if (strcmp(req->ref, "dup") == 0)
		r.id = "j-dup";
	else if (strcmp(req->ref, "slow") == 0)
		r.id = "j-slow";
	br_call_reply(call, &br_job_ref_schema, &r);
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
	pthread_mutex_unlock(&f->lock);
	struct br_container c = {
	        .id = req->id && req->id[0] ? req->id : "0123456789abcdef",
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

static const struct br_method methods[] = {
        {"gateway.info", NULL, on_info},
        {"images.list", NULL, on_images_list},
        {"images.remove", &br_image_name_req_schema, on_images_remove},
        {"images.pull", &br_image_pull_req_schema, on_pull},
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
	run_cli(&r, "run", "missing");
	T_EQ_INT(r.rc, 125);
	T_EQ_STR(r.err, "berth: image \"missing\": not found\n");

	run_cli(&r, "run", "--rm", "--name", "nf1", "busybox", "nope");
	T_EQ_INT(r.rc, 127);
	T_CONTAINS(r.err, "berth: start container \"nf1\": runc create failed: exec: \"nope\": "
	                  "executable file not found in $PATH\n");
	T_EQ_INT(fake->container_deletes, 1);   /* --rm also after a failed start */
	T_OK(strstr(r.err, "no task") == NULL); /* NOT_FOUND of tasks.delete is ignored */

	run_cli(&r, "run", "--name", "np1", "busybox", "/etc");
	T_EQ_INT(r.rc, 126);
	run_cli(&r, "run", "--net", "bridge", "busybox");
	T_EQ_INT(r.rc, 125);
	T_CONTAINS(r.err, "invalid --net \"bridge\"");
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
	run_cli(&r, "ps");
	T_EQ_INT(r.rc, 0);
	T_EQ_STR(r.out, "CONTAINER ID   IMAGE            COMMAND                          STATUS   "
	                "CREATED\n"
	                "web            busybox:latest   sh -c while true; do echo h...   Up       "
	                "3 minutes ago\n");
	run_cli(&r, "ps", "-a", "-q");
	T_EQ_STR(r.out, "web\ndone1\n");
	run_cli(&r, "ps", "-a");
	T_CONTAINS(r.out, "Exited (3)");
	T_CONTAINS(r.out, "2 hours ago");
	run_cli(&r, "--format", "json", "ps", "-a");
	T_CONTAINS(r.out, "\"id\":\"done1\"");
	T_CONTAINS(r.out, "\"command\":[\"true\"]");

	run_cli(&r, "rm", "busy");
	T_EQ_INT(r.rc, 5);
	T_EQ_STR(r.err, "berth: container \"busy\": task is running\n");
	run_cli(&r, "rm", "-f", "busy", "ghost");
	T_EQ_INT(r.rc, 3);
	T_EQ_STR(r.out, "busy\n");
	T_EQ_STR(r.err, "berth: container \"ghost\": not found\n");
	teardown();
}

T_MAIN(T_CASE(test_unreachable), T_CASE(test_info), T_CASE(test_images_ls_rm), T_CASE(test_pull),
       T_CASE(test_pull_interrupt), T_CASE(test_import), T_CASE(test_run_output_and_status),
       T_CASE(test_run_failures), T_CASE(test_run_interrupt), T_CASE(test_ps_rm))
