/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libberth through its public header, against a fake gateway (this binary again, as a process
 * of its own that a test kills with SIGKILL and starts again, serving with the RPC runtime): code
 * names and the error mapping of replies, raw calls, the typed helpers (info, lists over several
 * pages, pull jobs, the run path, waits), the event subscription (filters, pages, the end of a
 * stream, FAILED_PRECONDITION from a trimmed log, and resuming without loss or repetition across a
 * restart of the gateway, with a call parked in it), the JSON rendering and field lookups of
 * payloads, and a connect to a missing socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/loop.h"
#include "common/proto/events.h"
#include "common/proto/gateway.h"
#include "common/proto/images.h"
#include "common/proto/tasks.h"
#include "common/rpc.h"
#include "libberth/berth.h"
#include "t.h"

#define T_BERR(rc, e, c)                                                                        \
	do {                                                                                    \
		if ((rc) >= 0)                                                                  \
			T_FAIL_("%s succeeded, expected %s", #rc, berth_code_name(c));          \
		if ((e).code != (c))                                                            \
			T_FAIL_("%s: got %s (%s), expected %s", #rc, berth_code_name((e).code), \
			        (e).message, berth_code_name(c));                               \
	} while (0)
#define T_BOK(rc, e)                                                                               \
	do {                                                                                       \
		if ((rc) < 0)                                                                      \
			T_FAIL_("%s failed: %s: %s", #rc, berth_code_name((e).code), (e).message); \
	} while (0)
#define T_CONTAINS(hay, needle)                                                     \
	do {                                                                        \
		if (strstr((hay), (needle)) == NULL)                                \
			T_FAIL_("\"%s\" does not contain \"%s\"", (hay), (needle)); \
	} while (0)

/* ------------------------------------------------------------------ the fake gateway */

/*
 * The fake gateway is a process of its own (this binary again, with BERTH_FAKE_GATEWAY set
 * to its directory: see fake_gateway_main), so that a test can kill -9 it and start it again
 * exactly as the real gateway goes away. What it serves and records lives in a file both map:
 * the test appends events to the log there, the fake notices within 10 ms and answers its
 * parked subscribers, and it counts the calls the test asks about.
 */

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define MAX_EVENTS 64
#define MAX_WAITERS 8

struct fake_event {
	char ns[16];
	char topic[32];
	uint8_t payload[128];
	size_t len;
};

struct shared {
	int64_t n_events; /* published with a release store after the event is written */
	int64_t trimmed;  /* events up to this seq are gone */
	struct fake_event events[MAX_EVENTS];
	int job_polls, cancels, deletes, waits, subscribe_calls;
	uint32_t last_signal;
	char last_ns[BR_NS_MAX + 1];
	char last_pull_user[32], last_pull_password[32]; /* the last images.pull's auth */
	char last_lease[64];
};

static struct shared *sh;
static char fake_dir[64];
static char fake_path[96];
static pid_t fake_pid;

static void
on_info(br_call *call, void *data)
{
	struct br_component comps[2] = {
	        {.name = "berth-taskd", .healthy = true, .version = "0.1.0", .pid = 42},
	        {.name = "berth-imaged", .error = "UNAVAILABLE: berth-imaged is unavailable"},
	};
	struct br_gateway_info info = {
	        .version = "0.1.0", .pid = 7, .uptime_ms = 3000, .components = {comps, 2}};
	br_call_reply(call, &br_gateway_info_schema, &info);
}

/* Two pages: "a" then "b". */
static void
on_namespaces_list(br_call *call, void *data)
{
	const struct br_namespace_list_req *req = br_call_params(call);
	bool second = req->page.token != NULL && strcmp(req->page.token, "b") == 0;
	struct br_namespace ns = {.name = second ? "b" : "a", .created_at = second ? 2 : 1};
	struct br_namespace_list_resp r = {.items = {&ns, 1},
	                                   .next_page_token = second ? NULL : "b"};
	br_call_reply(call, &br_namespace_list_resp_schema, &r);
}

static void
on_images_list(br_call *call, void *data)
{
	snprintf(sh->last_ns, sizeof(sh->last_ns), "%s", br_call_ns(call));
	struct br_image im = {.name = "docker.io/library/busybox:latest",
	                      .target = {.digest = DIGEST},
	                      .platform = "linux/amd64",
	                      .size = 2150000,
	                      .created_at = 5};
	struct br_image_list_resp r = {.items = {&im, 1}};
	br_call_reply(call, &br_image_list_resp_schema, &r);
}

static void
on_pull(br_call *call, void *data)
{
	const struct br_image_pull_req *req = br_call_params(call);
	snprintf(sh->last_pull_user, sizeof(sh->last_pull_user), "%s",
	         req->auth.username ? req->auth.username : "");
	snprintf(sh->last_pull_password, sizeof(sh->last_pull_password), "%s",
	         req->auth.password ? req->auth.password : "");
	struct br_job_ref r = {.id = strcmp(req->ref, "bad") == 0       ? "j-fail"
	                             : strcmp(req->ref, "slow") == 0    ? "j-slow"
	                             : strcmp(req->ref, "layered") == 0 ? "j-layers"
	                                                                : "j-ok"};
	br_call_reply(call, &br_job_ref_schema, &r);
}

static void
on_push(br_call *call, void *data)
{
	const struct br_image_push_req *req = br_call_params(call);
	if (strcmp(req->name, "busybox") != 0 || req->dest == NULL ||
	    strcmp(req->dest, "r.example/x:v1") != 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"%s\": not found", req->name);
		return;
	}
	struct br_job_ref r = {.id = "j-push"};
	br_call_reply(call, &br_job_ref_schema, &r);
}

static void
on_tag(br_call *call, void *data)
{
	const struct br_image_tag_req *req = br_call_params(call);
	if (strcmp(req->source, "busybox") != 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"%s\": not found", req->source);
		return;
	}
	struct br_image im = {.name = req->target};
	br_call_reply(call, &br_image_schema, &im);
}

static void
on_jobs_wait(br_call *call, void *data)
{
	const struct br_job_wait_req *req = br_call_params(call);
	struct br_job job = {.id = req->id, .state = "running"};

	if (strcmp(req->id, "j-ok") == 0 && ++sh->job_polls >= 2) {
		job.state = "done";
		job.result = "docker.io/library/busybox:latest";
	} else if (strcmp(req->id, "j-push") == 0) {
		job.state = "done";
		job.result = "r.example/x:v1@" DIGEST;
	} else if (strcmp(req->id, "j-fail") == 0) {
		job.state = "failed";
		job.error_code = "NOT_FOUND";
		job.error_msg = "pull bad: manifest unknown";
	} else if (strcmp(req->id, "j-layers") == 0) {
		/* the request's progress fields come back in the message */
		char msg[64];
		struct br_job_item items[] = {
		        {DIGEST, 4096, 1024, "downloading"},
		        {DIGEST, 100, 100, "exists"},
		};
		snprintf(msg, sizeof(msg), "since=%llu interval=%lld timeout=%lld",
		         (unsigned long long)req->since_version, (long long)req->interval_ms,
		         (long long)req->timeout_ms);
		job.message = msg;
		job.kind = "pull";
		job.done_bytes = 1024;
		job.total_bytes = 4096;
		job.layers = (struct br_objlist){items, 2};
		job.progress_version = 9;
		job.updated_at = 1700000000000;
		br_call_reply(call, &br_job_schema, &job);
		return;
	}
	br_call_reply(call, &br_job_schema, &job);
}

static void
on_jobs_cancel(br_call *call, void *data)
{
	sh->cancels++;
	struct br_job job = {.id = "j-slow", .state = "canceled"};
	br_call_reply(call, &br_job_schema, &job);
}

static void
on_create(br_call *call, void *data)
{
	const struct br_container_create_req *req = br_call_params(call);
	if (strcmp(req->image, "missing") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"missing\": not found");
		return;
	}
	struct br_container c = {.id = req->id && req->id[0] ? req->id : "generated1",
	                         .image = req->image,
	                         .status = "created"};
	br_call_reply(call, &br_container_schema, &c);
}

static void
on_start(br_call *call, void *data)
{
	const struct br_container_id_req *req = br_call_params(call);
	if (strncmp(req->id, "nf", 2) == 0) {
		br_call_failf(call, BR_NOT_FOUND, "start container \"%s\": executable not found",
		              req->id);
		return;
	}
	struct br_task t = {.id = req->id, .status = "running", .pid = 99};
	br_call_reply(call, &br_task_schema, &t);
}

static void
on_container_delete(br_call *call, void *data)
{
	sh->deletes++;
	br_call_reply(call, NULL, NULL);
}

static void
on_kill(br_call *call, void *data)
{
	const struct br_task_kill_req *req = br_call_params(call);
	sh->last_signal = req->signal;
	br_call_reply(call, NULL, NULL);
}

/* Running for the first wait, stopped with status 3 after; "gone" has no task. */
static void
on_tasks_wait(br_call *call, void *data)
{
	const struct br_task_wait_req *req = br_call_params(call);
	if (strcmp(req->id, "gone") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "container \"gone\" has no task");
		return;
	}
	struct br_task t = {.id = req->id, .status = "running", .pid = 99};
	if (strcmp(req->id, "forever") != 0 && ++sh->waits >= 2) {
		t.status = "stopped";
		t.exit_status = 3;
		t.exited_at = 1234;
	}
	br_call_reply(call, &br_task_schema, &t);
}

/* test.echo: the params back as the result; test.fail: the error named by p.code. */
static void
on_echo(br_call *call, void *data)
{
	const struct br_request *req = br_call_request(call);
	msgpack_sbuffer sb;
	msgpack_packer pk;

	snprintf(sh->last_lease, sizeof(sh->last_lease), "%s", req->lease ? req->lease : "");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	br_msg_pack_str(&pk, "r");
	msgpack_pack_object(&pk, req->params);
	br_call_reply_raw(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void
on_fail(br_call *call, void *data)
{
	const struct br_request *req = br_call_request(call);
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const char *code = "INTERNAL";
	char buf[64];

	for (uint32_t i = 0; req->params.type == MSGPACK_OBJECT_MAP && i < req->params.via.map.size;
	     i++) {
		const msgpack_object *v = &req->params.via.map.ptr[i].val;
		if (v->type == MSGPACK_OBJECT_STR && v->via.str.size < sizeof(buf)) {
			memcpy(buf, v->via.str.ptr, v->via.str.size);
			buf[v->via.str.size] = '\0';
			code = buf;
		}
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "v");
	msgpack_pack_uint32(&pk, 1);
	br_msg_pack_str(&pk, "e");
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "code");
	br_msg_pack_str(&pk, code);
	br_msg_pack_str(&pk, "msg");
	br_msg_pack_str(&pk, "it failed");
	br_call_reply_raw(call, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static bool
topic_matches(const struct br_strlist *topics, const char *topic)
{
	if (topics->n == 0)
		return true;
	for (size_t i = 0; i < topics->n; i++)
		if (strncmp(topic, topics->v[i], strlen(topics->v[i])) == 0)
			return true;
	return false;
}

/* A page of the log after `after` for `req`; at most 2 events, so that pages are many. */
static void
read_page(const struct br_events_subscribe_req *req, int64_t after, br_arena *a,
          struct br_event_page *page)
{
	int64_t last = __atomic_load_n(&sh->n_events, __ATOMIC_ACQUIRE);
	struct br_event *evs = br_arena_alloc(a, 2 * sizeof(*evs));
	size_t n = 0;

	*page = (struct br_event_page){.next = after, .oldest = sh->trimmed + 1, .last = last};
	for (int64_t seq = after + 1; seq <= last && n < 2; seq++) {
		const struct fake_event *e = &sh->events[seq - 1];
		if (req->until_seq > 0 && seq > req->until_seq)
			break;
		page->next = seq;
		if (!topic_matches(&req->topics, e->topic))
			continue;
		if (req->namespaces.n > 0 && strcmp(req->namespaces.v[0], e->ns) != 0)
			continue;
		evs[n++] = (struct br_event){.seq = seq,
		                             .time = seq * 1000000000LL,
		                             .ns = br_arena_strdup(a, e->ns),
		                             .topic = br_arena_strdup(a, e->topic),
		                             .payload = {e->payload, e->len}};
	}
	if (req->until_seq > 0 && page->next >= req->until_seq)
		page->done = true;
	page->events = (struct br_objlist){evs, n};
}

/* Subscribers parked until an event comes or their wait_ms passed (fake process only). */
static struct waiter {
	br_call *call; /* NULL: free */
	int64_t after;
	uv_timer_t timer;
} waiters[MAX_WAITERS];

static void
answer_waiter(struct waiter *w)
{
	br_call *call = w->call;
	struct br_event_page page;

	w->call = NULL;
	uv_timer_stop(&w->timer);
	read_page(br_call_params(call), w->after, br_call_arena(call), &page);
	br_call_reply(call, &br_event_page_schema, &page);
}

static void
waiter_timeout(uv_timer_t *t)
{
	answer_waiter(t->data);
}

static pid_t test_pid; /* the fake gateway ends when the test that started it is gone */

/* Every 10 ms: answer the parked subscribers once the log grew. */
static void
watch_log(uv_timer_t *t)
{
	static int64_t seen;
	int64_t n = __atomic_load_n(&sh->n_events, __ATOMIC_ACQUIRE);

	if (getppid() != test_pid)
		_exit(0);
	if (n == seen)
		return;
	seen = n;
	for (size_t i = 0; i < MAX_WAITERS; i++)
		if (waiters[i].call != NULL)
			answer_waiter(&waiters[i]);
}

static void
on_subscribe(br_call *call, void *data)
{
	const struct br_events_subscribe_req *req = br_call_params(call);
	int64_t after = req->tail ? __atomic_load_n(&sh->n_events, __ATOMIC_ACQUIRE) : req->after;
	struct br_event_page page;

	sh->subscribe_calls++;
	if (after < sh->trimmed) {
		br_call_failf(call, BR_FAILED_PRECONDITION,
		              "events after %lld are no longer all kept; the oldest kept is "
		              "sequence number %lld",
		              (long long)after, (long long)(sh->trimmed + 1));
		return;
	}
	read_page(req, after, br_call_arena(call), &page);
	struct waiter *w = NULL;
	for (size_t i = 0; i < MAX_WAITERS && w == NULL; i++)
		if (waiters[i].call == NULL)
			w = &waiters[i];
	if (page.events.n > 0 || page.done || req->wait_ms == 0 || w == NULL) {
		br_call_reply(call, &br_event_page_schema, &page);
		return;
	}
	w->call = call;
	w->after = page.next;
	uv_timer_start(&w->timer, waiter_timeout, (uint64_t)req->wait_ms, 0);
}

static const struct br_method methods[] = {
        {"gateway.info", NULL, on_info},
        {"namespaces.list", &br_namespace_list_req_schema, on_namespaces_list},
        {"images.list", NULL, on_images_list},
        {"images.pull", &br_image_pull_req_schema, on_pull},
        {"images.push", &br_image_push_req_schema, on_push},
        {"images.tag", &br_image_tag_req_schema, on_tag},
        {"jobs.wait", &br_job_wait_req_schema, on_jobs_wait},
        {"jobs.cancel", &br_job_ref_schema, on_jobs_cancel},
        {"containers.create", &br_container_create_req_schema, on_create},
        {"containers.delete", &br_container_id_req_schema, on_container_delete},
        {"tasks.start", &br_container_id_req_schema, on_start},
        {"tasks.kill", &br_task_kill_req_schema, on_kill},
        {"tasks.wait", &br_task_wait_req_schema, on_tasks_wait},
        {"events.subscribe", &br_events_subscribe_req_schema, on_subscribe},
        {"test.echo", NULL, on_echo},
        {"test.fail", NULL, on_fail},
};

static void
map_shared(const char *dir, bool create)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/shared", dir);
	int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0 || (create && ftruncate(fd, sizeof(struct shared)) < 0))
		T_FAIL_("%s: %s", path, strerror(errno));
	sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (sh == MAP_FAILED)
		T_FAIL_("mmap %s: %s", path, strerror(errno));
}

/* The fake gateway's process: serve until killed. Runs before main() when
 * BERTH_FAKE_GATEWAY names its directory. */
__attribute__((constructor)) static void
fake_gateway_main(void)
{
	const char *dir = getenv("BERTH_FAKE_GATEWAY");
	uv_loop_t uv;
	struct br_loop loop;
	br_rpc_server *server;
	br_err err = BR_ERR_INIT;
	char url[PATH_MAX + 16];
	struct br_server_opts opts = {.name = "berth-gatewayd",
	                              .version = "0.1.0",
	                              .socket_mode = 0600,
	                              .watchdog = true};

	if (dir == NULL)
		return;
	test_pid = (pid_t)atoi(getenv("BERTH_FAKE_PARENT") ? getenv("BERTH_FAKE_PARENT") : "1");
	map_shared(dir, false);
	snprintf(url, sizeof(url), "ipc://%s/gw.sock", dir);
	uv_loop_init(&uv);
	if (br_loop_init(&loop, &uv, &err) < 0 ||
	    br_rpc_server_new(&loop, url, methods, sizeof(methods) / sizeof(methods[0]), NULL,
	                      &opts, &server, &err) < 0) {
		fprintf(stderr, "# fake gateway: %s\n", err.msg);
		_exit(1);
	}
	for (size_t i = 0; i < MAX_WAITERS; i++) {
		uv_timer_init(&uv, &waiters[i].timer);
		waiters[i].timer.data = &waiters[i];
	}
	uv_timer_t watch;
	uv_timer_init(&uv, &watch);
	uv_timer_start(&watch, watch_log, 10, 10);
	uv_run(&uv, UV_RUN_DEFAULT);
	_exit(0);
}

/* Start the fake gateway's process and wait until it answers. */
static void
fake_start(void)
{
	char env[128], parent[64];
	snprintf(env, sizeof(env), "BERTH_FAKE_GATEWAY=%s", fake_dir);
	snprintf(parent, sizeof(parent), "BERTH_FAKE_PARENT=%d", (int)getpid());
	char *const argv[] = {"fake-gateway", NULL};
	char *const envp[] = {env, parent, NULL};

	/* this binary: AT_EXECFN names it under valgrind too, where /proc/self/exe does not */
	const char *self = (const char *)getauxval(AT_EXECFN);
	if (self == NULL || access(self, X_OK) != 0)
		self = "/proc/self/exe";
	pid_t pid = fork();
	if (pid == 0) {
		execve(self, argv, envp);
		_exit(127);
	}
	T_OK(pid > 0);
	fake_pid = pid;
	for (int i = 0; i < 500; i++) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fake_path);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		if (rc == 0) {
			/* a whole SP handshake, so that nng's listener keeps accepting */
			static const unsigned char header[8] = {0, 'S', 'P', 0, 0, 0x30, 0, 0};
			unsigned char reply[8];
			if (write(fd, header, 8) == 8 && read(fd, reply, 8) == 8) {
				close(fd);
				return;
			}
		}
		close(fd);
		usleep(10000);
	}
	T_FAIL_("the fake gateway did not start");
}

/* kill -9 the fake gateway, as a crash does. */
static void
fake_kill(void)
{
	kill(fake_pid, SIGKILL);
	waitpid(fake_pid, NULL, 0);
}

static void
setup(void)
{
	snprintf(fake_dir, sizeof(fake_dir), "/tmp/berth-lb-XXXXXX");
	T_NOT_NULL(mkdtemp(fake_dir));
	snprintf(fake_path, sizeof(fake_path), "%s/gw.sock", fake_dir);
	map_shared(fake_dir, true);
	fake_start();
}

static void
teardown(void)
{
	char cmd[128];
	fake_kill();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fake_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "# could not remove %s\n", fake_dir);
}

/* Append an event to the log: topic in ns, with a payload {container_id: "c<seq>",
 * exit_status, exited_at}. */
static void
append(const char *ns, const char *topic, int64_t status)
{
	int64_t seq = sh->n_events + 1;
	struct fake_event *e = &sh->events[seq - 1];
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char id[32];

	snprintf(e->ns, sizeof(e->ns), "%s", ns);
	snprintf(e->topic, sizeof(e->topic), "%s", topic);
	snprintf(id, sizeof(id), "c%lld", (long long)seq);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	br_msg_pack_str(&pk, "container_id");
	br_msg_pack_str(&pk, id);
	br_msg_pack_str(&pk, "exit_status");
	msgpack_pack_int64(&pk, status);
	br_msg_pack_str(&pk, "exited_at");
	msgpack_pack_int64(&pk, seq * 1000000000LL + 5);
	memcpy(e->payload, sb.data, sb.size);
	e->len = sb.size;
	msgpack_sbuffer_destroy(&sb);
	__atomic_store_n(&sh->n_events, seq, __ATOMIC_RELEASE);
}

static berth_client *
connect_fake(void)
{
	berth_client *c = NULL;
	berth_error e;
	T_BOK(berth_connect(fake_path, &c, &e), e);
	return c;
}

/* ------------------------------------------------------------------ cases */

static void
test_code_names(void)
{
	static const char *const names[] = {"OK",
	                                    "INVALID_ARGUMENT",
	                                    "NOT_FOUND",
	                                    "ALREADY_EXISTS",
	                                    "FAILED_PRECONDITION",
	                                    "UNAVAILABLE",
	                                    "DEADLINE_EXCEEDED",
	                                    "CANCELED",
	                                    "PERMISSION_DENIED",
	                                    "RESOURCE_EXHAUSTED",
	                                    "NOT_IMPLEMENTED",
	                                    "INTERNAL"};

	for (int i = 0; i <= BERTH_INTERNAL; i++) {
		T_EQ_STR(berth_code_name((berth_code)i), names[i]);
		T_EQ_STR(berth_code_name((berth_code)i), br_code_name((br_code)i));
		T_EQ_INT(berth_code_from_name(names[i]), i);
	}
	T_EQ_INT(BERTH_NOT_FOUND, BR_NOT_FOUND);
	T_EQ_INT(BERTH_PERMISSION_DENIED, BR_PERMISSION_DENIED);
	T_EQ_INT(BERTH_RESOURCE_EXHAUSTED, BR_RESOURCE_EXHAUSTED);
	T_EQ_STR(berth_code_name((berth_code)99), "INTERNAL");
	T_EQ_STR(berth_code_name((berth_code)-1), "INTERNAL");
	T_EQ_INT(berth_code_from_name("SOMETHING_NEW"), BERTH_INTERNAL);
	T_EQ_INT(berth_code_from_name(NULL), BERTH_INTERNAL);
	T_EQ_STR(berth_version(), BERTH_VERSION);
	berth_free(NULL);
}

static void
test_connect_missing(void)
{
	char dir[] = "/tmp/berth-lb-XXXXXX", path[64];
	berth_client *c = NULL;
	berth_error e;

	T_NOT_NULL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	T_BERR(berth_connect(path, &c, &e), e, BERTH_UNAVAILABLE);
	T_NULL(c);
	char want[128];
	snprintf(want, sizeof(want), "cannot reach berth-gatewayd at %s: No such file or directory",
	         path);
	T_EQ_STR(e.message, want);
	/* NULL: $BERTH_SOCKET */
	setenv("BERTH_SOCKET", path, 1);
	T_BERR(berth_connect(NULL, &c, &e), e, BERTH_UNAVAILABLE);
	T_CONTAINS(e.message, path);
	/* an ipc:// prefix is the same path */
	char url[80];
	snprintf(url, sizeof(url), "ipc://%s", path);
	T_BERR(berth_connect(url, &c, &e), e, BERTH_UNAVAILABLE);
	T_EQ_STR(e.message, want);
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	T_BERR(berth_connect(longpath, &c, &e), e, BERTH_INVALID_ARGUMENT);
	rmdir(dir);
}

static void
test_raw_call_and_errors(void)
{
	setup();
	berth_client *c = connect_fake();
	berth_error e;
	void *reply = NULL;
	size_t len = 0;

	T_EQ_STR(berth_socket_path(c), fake_path);
	/* {"a": 1} comes back as is */
	static const uint8_t params[] = {0x81, 0xa1, 'a', 0x01};
	T_BOK(berth_call(c, "test.echo", "team-a", params, sizeof(params), 0, &reply, &len, &e), e);
	T_EQ_INT(len, sizeof(params));
	T_OK(memcmp(reply, params, len) == 0);
	berth_free(reply);
	/* no params: nil, and a nil result reads as an empty map */
	T_BOK(berth_call(c, "test.echo", NULL, NULL, 0, 0, &reply, &len, &e), e);
	T_EQ_INT(len, 1);
	T_EQ_INT(((uint8_t *)reply)[0], 0x80);
	berth_free(reply);
	/* the lease rides in the envelope */
	berth_call_options opts = {.lease = "upload-1", .timeout_ms = 5000};
	T_BOK(berth_call_with(c, "test.echo", &opts, params, sizeof(params), &reply, &len, &e), e);
	berth_free(reply);
	T_EQ_STR(sh->last_lease, "upload-1");
	/* params that are not one map */
	static const uint8_t array[] = {0x91, 0x01};
	T_BERR(berth_call(c, "test.echo", NULL, array, sizeof(array), 0, &reply, &len, &e), e,
	       BERTH_INVALID_ARGUMENT);
	static const uint8_t truncated[] = {0x82, 0xa1, 'a'};
	T_BERR(berth_call(c, "test.echo", NULL, truncated, sizeof(truncated), 0, &reply, &len, &e),
	       e, BERTH_INVALID_ARGUMENT);
	/* every wire code maps to the public code of the same name */
	for (int i = 1; i <= BERTH_INTERNAL; i++) {
		uint8_t p[64] = {0x81, 0xa4, 'c', 'o', 'd', 'e'};
		const char *name = berth_code_name((berth_code)i);
		size_t n = strlen(name);
		p[6] = (uint8_t)(0xa0 | n);
		memcpy(p + 7, name, n);
		e = (berth_error){0};
		T_BERR(berth_call(c, "test.fail", NULL, p, 7 + n, 0, &reply, &len, &e), e,
		       (berth_code)i);
		T_EQ_STR(e.message, "it failed");
	}
	/* a code this library does not know reads as INTERNAL */
	static const uint8_t newer[] = {0x81, 0xa4, 'c', 'o', 'd', 'e', 0xa3, 'N', 'E', 'W'};
	T_BERR(berth_call(c, "test.fail", NULL, newer, sizeof(newer), 0, &reply, &len, &e), e,
	       BERTH_INTERNAL);
	/* unknown method: the server's own NOT_IMPLEMENTED */
	T_BERR(berth_call(c, "test.nothing", NULL, NULL, 0, 0, &reply, &len, &e), e,
	       BERTH_NOT_IMPLEMENTED);
	/* the gateway going away: UNAVAILABLE, then back */
	fake_kill();
	T_BERR(berth_call(c, "test.echo", NULL, NULL, 0, 2000, &reply, &len, &e), e,
	       BERTH_UNAVAILABLE);
	T_CONTAINS(e.message, "berth-gatewayd");
	fake_start();
	int ok = -1;
	for (int i = 0; i < 50 && ok < 0; i++) {
		ok = berth_call(c, "test.echo", NULL, NULL, 0, 2000, &reply, &len, &e);
		if (ok < 0)
			usleep(20000);
	}
	T_BOK(ok, e);
	berth_free(reply);
	berth_close(c);
	teardown();
}

static void
test_typed_helpers(void)
{
	setup();
	berth_client *c = connect_fake();
	berth_error e;

	berth_gateway_info *info = NULL;
	T_BOK(berth_gateway_info_get(c, &info, &e), e);
	T_EQ_STR(info->version, "0.1.0");
	T_EQ_INT(info->pid, 7);
	T_EQ_INT(info->n_components, 2);
	T_EQ_STR(info->components[0].name, "berth-taskd");
	T_OK(info->components[0].healthy);
	T_NULL(info->components[0].error);
	T_OK(!info->components[1].healthy);
	T_EQ_STR(info->components[1].error, "UNAVAILABLE: berth-imaged is unavailable");
	berth_gateway_info_free(info);

	berth_namespace_list *nss = NULL;
	T_BOK(berth_namespaces_list(c, &nss, &e), e);
	T_EQ_INT(nss->n, 2); /* both pages */
	T_EQ_STR(nss->items[0].name, "a");
	T_EQ_STR(nss->items[1].name, "b");
	T_EQ_INT(nss->items[1].created_at, 2);
	berth_namespace_list_free(nss);

	berth_image_list *ims = NULL;
	T_BOK(berth_images_list(c, "team-a", &ims, &e), e);
	T_EQ_STR(sh->last_ns, "team-a");
	T_EQ_INT(ims->n, 1);
	T_EQ_STR(ims->items[0].name, "docker.io/library/busybox:latest");
	T_EQ_STR(ims->items[0].digest, DIGEST);
	T_EQ_STR(ims->items[0].platform, "linux/amd64");
	T_EQ_INT(ims->items[0].size, 2150000);
	berth_image_list_free(ims);
	T_BOK(berth_images_list(c, NULL, &ims, &e), e);
	T_EQ_STR(sh->last_ns, "default");
	berth_image_list_free(ims);

	char *name = NULL;
	T_BOK(berth_image_pull(c, NULL, "busybox", NULL, 10000, &name, &e), e);
	T_EQ_STR(name, "docker.io/library/busybox:latest");
	berth_free(name);
	T_BERR(berth_image_pull(c, NULL, "bad", NULL, 10000, &name, &e), e, BERTH_NOT_FOUND);
	T_EQ_STR(e.message, "pull bad: manifest unknown"); /* not "pull bad: pull bad: ..." */
	T_BERR(berth_image_pull(c, NULL, "slow", NULL, 300, &name, &e), e, BERTH_DEADLINE_EXCEEDED);
	T_EQ_INT(sh->cancels, 1);
	T_BERR(berth_image_pull(c, NULL, "busybox", NULL, 0, &name, &e), e, BERTH_INVALID_ARGUMENT);
	T_EQ_STR(sh->last_pull_user, "");
	berth_registry_auth auth = {.username = "alice", .password = "s3cret"};
	sh->job_polls = 0;
	T_BOK(berth_image_pull_auth(c, NULL, "busybox", NULL, &auth, 10000, &name, &e), e);
	T_EQ_STR(name, "docker.io/library/busybox:latest");
	berth_free(name);
	T_EQ_STR(sh->last_pull_user, "alice");
	T_EQ_STR(sh->last_pull_password, "s3cret");

	/* a job followed by the agent itself, with its layers */
	char *job_id = NULL;
	T_BOK(berth_image_pull_start(c, NULL, "layered", NULL, &job_id, &e), e);
	T_EQ_STR(job_id, "j-layers");
	berth_job *job = NULL;
	T_BOK(berth_job_wait(c, NULL, job_id, 5, 500, 2000, &job, &e), e);
	T_EQ_STR(job->message, "since=5 interval=500 timeout=2000");
	T_EQ_STR(job->state, "running");
	T_EQ_STR(job->kind, "pull");
	T_EQ_INT(job->progress_version, 9);
	T_EQ_INT(job->updated_at, 1700000000000);
	T_EQ_INT(job->done_bytes, 1024);
	T_EQ_INT(job->total_bytes, 4096);
	T_EQ_INT(job->n_layers, 2);
	T_EQ_STR(job->layers[0].digest, DIGEST);
	T_EQ_STR(job->layers[0].state, "downloading");
	T_EQ_INT(job->layers[0].size, 4096);
	T_EQ_INT(job->layers[0].done, 1024);
	T_EQ_STR(job->layers[1].state, "exists");
	T_NULL(job->error_code);
	berth_job_free(job);
	berth_free(job_id);
	T_BOK(berth_job_cancel(c, NULL, "j-slow", &e), e);
	T_EQ_INT(sh->cancels, 2);
	T_BERR(berth_job_wait(c, NULL, NULL, 0, 0, 0, &job, &e), e, BERTH_INVALID_ARGUMENT);
	T_BOK(berth_image_push(c, NULL, "busybox", "r.example/x:v1", NULL, NULL, 10000, &name, &e),
	      e);
	T_EQ_STR(name, "r.example/x:v1@" DIGEST);
	berth_free(name);
	T_BERR(berth_image_push(c, NULL, "nope", "r.example/x:v1", NULL, NULL, 10000, &name, &e), e,
	       BERTH_NOT_FOUND);
	T_EQ_STR(e.message, "push nope: image \"nope\": not found");
	T_BOK(berth_image_tag(c, NULL, "busybox", "mine", &e), e);
	T_BERR(berth_image_tag(c, NULL, "nope", "mine", &e), e, BERTH_NOT_FOUND);

	const char *args[] = {"sh", "-c", "exit 3"};
	berth_run_options o = {.id = "web", .image = "busybox", .args = args, .n_args = 3};
	char *id = NULL;
	T_BOK(berth_run(c, NULL, &o, &id, &e), e);
	T_EQ_STR(id, "web");
	berth_free(id);
	T_EQ_INT(sh->deletes, 0);
	o.id = NULL;
	T_BOK(berth_container_create(c, NULL, &o, &id, &e), e);
	T_EQ_STR(id, "generated1");
	berth_free(id);
	o.image = "missing";
	T_BERR(berth_run(c, NULL, &o, &id, &e), e, BERTH_NOT_FOUND);
	T_EQ_STR(e.message, "image \"missing\": not found");
	o.image = "busybox";
	o.id = "nf1"; /* the start fails: the container goes again */
	T_BERR(berth_run(c, NULL, &o, &id, &e), e, BERTH_NOT_FOUND);
	T_EQ_INT(sh->deletes, 1);
	uint32_t pid = 0;
	T_BOK(berth_task_start(c, NULL, "web", &pid, &e), e);
	T_EQ_INT(pid, 99);
	T_BOK(berth_task_kill(c, NULL, "web", 9, false, &e), e);
	T_EQ_INT(sh->last_signal, 9);

	berth_task_exit ex = {0};
	T_BOK(berth_task_wait(c, NULL, "web", 5000, &ex, &e), e); /* running, then stopped */
	T_EQ_INT(ex.exit_status, 3);
	T_EQ_INT(ex.exited_at, 1234);
	T_BERR(berth_task_wait(c, NULL, "gone", 5000, &ex, &e), e, BERTH_NOT_FOUND);
	T_BERR(berth_task_wait(c, NULL, "forever", 200, &ex, &e), e, BERTH_DEADLINE_EXCEEDED);
	T_BOK(berth_container_delete(c, NULL, "web", true, &e), e);
	T_EQ_INT(sh->deletes, 2);
	berth_close(c);
	teardown();
}

static void
test_subscribe_filters_and_end(void)
{
	setup();
	berth_client *c = connect_fake();
	berth_subscription *s = NULL;
	berth_error e;
	berth_event ev;

	append("default", "/tasks/start", 0);
	append("default", "/tasks/exit", 3);
	append("team-a", "/tasks/exit", 4);
	append("default", "/containers/delete", 0);
	append("default", "/tasks/exit", 5);

	const char *topics[] = {"/tasks/exit"};
	berth_event_filter f = {.topics = topics, .n_topics = 1, .until_seq = 5};
	T_BOK(berth_subscribe(c, &f, &s, &e), e);
	int64_t want[] = {2, 3, 5}, statuses[] = {3, 4, 5};
	for (size_t i = 0; i < 3; i++) {
		T_EQ_INT(berth_next_event(s, &ev, 1000, &e), 1);
		T_EQ_INT(ev.seq, want[i]);
		T_EQ_STR(ev.topic, "/tasks/exit");
		T_EQ_INT(ev.time, want[i] * 1000000000LL);
		int64_t status = 0;
		T_OK(berth_event_int(&ev, "exit_status", &status));
		T_EQ_INT(status, statuses[i]);
		char id[16];
		T_OK(berth_event_string(&ev, "container_id", id, sizeof(id)));
		char wid[32];
		snprintf(wid, sizeof(wid), "c%lld", (long long)want[i]);
		T_EQ_STR(id, wid);
		T_OK(!berth_event_string(&ev, "exit_status", id, sizeof(id)));
		T_OK(!berth_event_int(&ev, "nope", &status));
		T_EQ_INT(berth_subscription_last_seq(s), want[i]);
	}
	T_EQ_STR(ev.ns, "default");
	T_EQ_INT(berth_next_event(s, &ev, 1000, &e), 0); /* until_seq reached */
	T_OK(berth_subscription_done(s));
	berth_unsubscribe(s);

	/* namespaces, and after_seq */
	const char *nss[] = {"team-a"};
	berth_event_filter g = {.namespaces = nss, .n_namespaces = 1};
	T_BOK(berth_subscribe(c, &g, &s, &e), e);
	T_EQ_INT(berth_next_event(s, &ev, 1000, &e), 1);
	T_EQ_INT(ev.seq, 3);
	T_EQ_STR(ev.ns, "team-a");
	T_EQ_INT(berth_next_event(s, &ev, 100, &e), 0); /* nothing more: the time passed */
	T_OK(!berth_subscription_done(s));
	berth_unsubscribe(s);
	berth_event_filter h = {.after_seq = 4};
	T_BOK(berth_subscribe(c, &h, &s, &e), e);
	T_EQ_INT(berth_subscription_last_seq(s), 4);
	T_EQ_INT(berth_next_event(s, &ev, 0, &e), 1);
	T_EQ_INT(ev.seq, 5);
	T_EQ_INT(berth_next_event(s, &ev, 0, &e), 0);
	berth_unsubscribe(s);
	/* tail: only what comes after the subscription */
	berth_event_filter t = {.tail = true};
	T_BOK(berth_subscribe(c, &t, &s, &e), e);
	T_EQ_INT(berth_next_event(s, &ev, 0, &e), 0);
	append("default", "/tasks/exit", 9);
	T_EQ_INT(berth_next_event(s, &ev, 1000, &e), 1);
	T_EQ_INT(ev.seq, 6);
	berth_unsubscribe(s);

	/* bad filters */
	berth_event_filter bad = {.after_seq = -1};
	T_BERR(berth_subscribe(c, &bad, &s, &e), e, BERTH_INVALID_ARGUMENT);
	berth_event_filter bad2 = {.n_topics = 2};
	T_BERR(berth_subscribe(c, &bad2, &s, &e), e, BERTH_INVALID_ARGUMENT);
	/* a log trimmed past the start */
	sh->trimmed = 3;
	berth_event_filter old = {.after_seq = 1};
	T_BERR(berth_subscribe(c, &old, &s, &e), e, BERTH_FAILED_PRECONDITION);
	T_CONTAINS(e.message, "the oldest kept is sequence number 4");
	berth_close(c);
	teardown();
}

/* Stops the fake gateway twice while the reader waits in berth_next_event, each time with a
 * call parked in it; events are appended before, while and after it is down. */
static void *
restarter(void *arg)
{
	(void)arg;
	usleep(200 * 1000); /* the reader is parked by now */
	fake_kill();
	append("default", "/tasks/exit", 4);
	append("default", "/tasks/exit", 5);
	usleep(400 * 1000);
	fake_start();
	usleep(300 * 1000);
	append("default", "/tasks/exit", 6);
	usleep(100 * 1000);
	fake_kill();
	append("default", "/tasks/exit", 7);
	usleep(200 * 1000);
	fake_start();
	append("default", "/tasks/exit", 8);
	return NULL;
}

/* Across restarts of the gateway every event arrives once, in order. */
static void
test_subscribe_resumes(void)
{
	setup();
	berth_client *c = connect_fake();
	berth_subscription *s = NULL;
	berth_error e;
	berth_event ev;
	int64_t seen[32];
	size_t n = 0;

	for (int i = 0; i < 3; i++)
		append("default", "/tasks/exit", i);
	T_BOK(berth_subscribe(c, NULL, &s, &e), e);
	while (n < 3 && berth_next_event(s, &ev, 1000, &e) == 1)
		seen[n++] = ev.seq;
	T_EQ_INT(n, 3);

	pthread_t th;
	pthread_create(&th, NULL, restarter, NULL);
	while (n < 8) {
		int rc = berth_next_event(s, &ev, 10000, &e);
		if (rc < 0)
			T_FAIL_("after %zu events: %s: %s", n, berth_code_name(e.code), e.message);
		T_EQ_INT(rc, 1);
		seen[n++] = ev.seq;
	}
	pthread_join(th, NULL);
	for (size_t i = 0; i < n; i++)
		T_EQ_INT(seen[i], (int64_t)i + 1);
	T_EQ_INT(berth_subscription_last_seq(s), 8);
	T_EQ_INT(berth_next_event(s, &ev, 200, &e), 0); /* nothing twice */

	/* the gateway down for longer than the caller waits: the error, then on as before */
	fake_kill();
	T_EQ_INT(berth_next_event(s, &ev, 500, &e), -1);
	T_EQ_INT(e.code, BERTH_UNAVAILABLE);
	append("default", "/tasks/exit", 9);
	fake_start();
	T_EQ_INT(berth_next_event(s, &ev, 5000, &e), 1);
	T_EQ_INT(ev.seq, 9);
	berth_unsubscribe(s);

	/* a new subscription continues after the last one */
	berth_event_filter f = {.after_seq = 8};
	T_BOK(berth_subscribe(c, &f, &s, &e), e);
	T_EQ_INT(berth_next_event(s, &ev, 1000, &e), 1);
	T_EQ_INT(ev.seq, 9);
	berth_unsubscribe(s);
	berth_close(c);
	teardown();
}

/* ------------------------------------------------------------------ payloads */

static void
test_payload_json(void)
{
	/* {"container_id":"c1","exit_status":3,"neg":-2,"ok":true,"nil":nil,
	 *  "nested":{"a":[1,"x"]},"f":1.5,"bin":bin(0x01 0x02 0x03 0x04),"q":"a\"b\\c\n\x01",
	 *  7:"int key","bad":"\xff"} */
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 11);
	br_msg_pack_str(&pk, "container_id");
	br_msg_pack_str(&pk, "c1");
	br_msg_pack_str(&pk, "exit_status");
	msgpack_pack_int(&pk, 3);
	br_msg_pack_str(&pk, "neg");
	msgpack_pack_int(&pk, -2);
	br_msg_pack_str(&pk, "ok");
	msgpack_pack_true(&pk);
	br_msg_pack_str(&pk, "nil");
	msgpack_pack_nil(&pk);
	br_msg_pack_str(&pk, "nested");
	msgpack_pack_map(&pk, 1);
	br_msg_pack_str(&pk, "a");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_int(&pk, 1);
	br_msg_pack_str(&pk, "x");
	br_msg_pack_str(&pk, "f");
	msgpack_pack_double(&pk, 1.5);
	br_msg_pack_str(&pk, "bin");
	msgpack_pack_bin(&pk, 4);
	msgpack_pack_bin_body(&pk, "\x01\x02\x03\x04", 4);
	br_msg_pack_str(&pk, "q");
	br_msg_pack_strn(&pk, "a\"b\\c\n\x01", 7);
	msgpack_pack_int(&pk, 7);
	br_msg_pack_str(&pk, "int key");
	br_msg_pack_str(&pk, "bad");
	br_msg_pack_strn(&pk, "\xff\xc3\xa9", 3);

	char *json = NULL;
	berth_error e;
	T_BOK(berth_payload_json(sb.data, sb.size, &json, &e), e);
	T_EQ_STR(json, "{\"container_id\":\"c1\",\"exit_status\":3,\"neg\":-2,\"ok\":true,"
	               "\"nil\":null,\"nested\":{\"a\":[1,\"x\"]},\"f\":1.5,\"bin\":\"AQIDBA==\","
	               "\"q\":\"a\\\"b\\\\c\\n\\u0001\",\"7\":\"int key\","
	               "\"bad\":\"\\ufffd\xc3\xa9\"}");
	berth_free(json);

	berth_event ev = {.payload = sb.data, .payload_len = sb.size};
	char buf[4];
	T_EQ_INT(berth_event_string(&ev, "container_id", buf, sizeof(buf)), 1);
	T_EQ_STR(buf, "c1");
	T_EQ_INT(berth_event_string(&ev, "q", buf, sizeof(buf)), 1); /* cut to fit */
	T_EQ_STR(buf, "a\"b");
	int64_t v = 0;
	T_EQ_INT(berth_event_int(&ev, "neg", &v), 1);
	T_EQ_INT(v, -2);
	T_EQ_INT(berth_event_int(&ev, "f", &v), 0);
	msgpack_sbuffer_destroy(&sb);

	/* scalars and empties render too; garbage does not */
	static const uint8_t empty[] = {0x80}, arr[] = {0x92, 0xc0, 0xc3};
	T_BOK(berth_payload_json(empty, 1, &json, &e), e);
	T_EQ_STR(json, "{}");
	berth_free(json);
	T_BOK(berth_payload_json(arr, sizeof(arr), &json, &e), e);
	T_EQ_STR(json, "[null,true]");
	berth_free(json);
	static const uint8_t trailing[] = {0x80, 0x80}, cut[] = {0x81, 0xa1};
	T_BERR(berth_payload_json(trailing, sizeof(trailing), &json, &e), e,
	       BERTH_INVALID_ARGUMENT);
	T_BERR(berth_payload_json(cut, sizeof(cut), &json, &e), e, BERTH_INVALID_ARGUMENT);
	T_BERR(berth_payload_json(NULL, 0, &json, &e), e, BERTH_INVALID_ARGUMENT);
	/* deeper than the protocol allows */
	uint8_t deep[40];
	memset(deep, 0x91, sizeof(deep));
	deep[sizeof(deep) - 1] = 0xc0;
	T_BERR(berth_payload_json(deep, sizeof(deep), &json, &e), e, BERTH_INVALID_ARGUMENT);
	berth_event none = {.payload = arr, .payload_len = sizeof(arr)};
	T_EQ_INT(berth_event_int(&none, "x", &v), 0);
}

T_MAIN(T_CASE(test_code_names), T_CASE(test_connect_missing), T_CASE(test_raw_call_and_errors),
       T_CASE(test_typed_helpers), T_CASE(test_subscribe_filters_and_end),
       T_CASE(test_subscribe_resumes), T_CASE(test_payload_json))
