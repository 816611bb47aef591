/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real berth-taskd binary (from $BERTH_BUILD, default build/) with real shims and runc,
 * against fake peers served by this test: images.resolve answers a busybox runtime config,
 * snapshots.prepare copies a busybox rootfs into a directory and answers a bind mount (and
 * insists on the container's lease, which snapshots.leases.* keep as files under leases/),
 * networks.attach writes hosts/resolv.conf, records what it was asked (the container's name,
 * published ports, DNS options) and answers mode "none" (the runtime makes a fresh network
 * namespace), and events.publish as gatewayd's event log does (recording what it takes,
 * each source's sequence number once). Cases cover the container and task lifecycle, logs
 * long-polling, kill, stop, pause and resume, force delete, failures that must leave nothing
 * behind, restarts of taskd by SIGKILL with running, exited and orphaned tasks, and the events of
 * all of these: each once, in order, with its payload, /tasks/exit exactly once per exit across
 * restarts; and containers.list paging over 10,000 records seeded into taskd's database (whose
 * leases the fake snapshotd takes without keeping files).
 *
 * Needs root, runc and busybox-static; skips otherwise. main() removes whatever the cases
 * left: taskd processes, shims, runc containers, mounts, cgroups, the temp dir.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "common/loop.h"
#include "common/proto/events.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/proto/networks.h"
#include "common/proto/snapshots.h"
#include "common/proto/tasks.h"
#include "common/rpc.h"
#include "test/unit/t.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

extern char **environ;

#define CHAIN "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static char base[256];   /* private root of everything */
static char top[300];    /* this case's directory under base */
static char ns[32];      /* a namespace of our own, so our cgroups are ours: "t<pid>" */
static char bulk_ns[32]; /* records seeded by the thousand: "p<pid>" (leases not kept as files) */
static char url[512];    /* taskd's socket */
static pid_t taskd_pid = -1;

/* ------------------------------------------------------------------ helpers */

/* Where the binaries under test are: $BERTH_BUILD, else the build directory this test binary
 * was built in (<build>/test/unit/<test>), else "build". */
static const char *
build_dir(void)
{
	static char dir[512];
	const char *b = getenv("BERTH_BUILD");
	ssize_t n;

	if (b != NULL && *b != '\0')
		return b;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n > 0) {
		dir[n] = '\0';
		for (int i = 0; i < 3; i++) {
			char *slash = strrchr(dir, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
		return dir;
	}
	return "build";
}

static void
skip_unless_ready(void)
{
	char path[512];
	if (geteuid() != 0)
		T_SKIP("needs root");
	if (access("/usr/sbin/runc", X_OK) != 0 || access("/bin/busybox", X_OK) != 0)
		T_SKIP("needs runc and busybox-static");
	snprintf(path, sizeof(path), "%s/berth-taskd", build_dir());
	if (access(path, X_OK) != 0)
		T_SKIP("%s not built", path);
}

static void
sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		fprintf(stderr, "# command failed: %s\n", cmd);
}

static bool
exists(const char *fmt, ...)
{
	char path[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return access(path, F_OK) == 0;
}

static bool
pid_alive(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool ok = fgets(buf, sizeof(buf), f) != NULL && strstr(buf, ") Z ") == NULL;
	fclose(f);
	return ok;
}

/* ------------------------------------------------------------------ fake peers */

struct peers {
	pthread_t thread;
	uv_loop_t uv;
	struct br_loop loop;
	br_rpc_server *servers[4];
	sem_t ready;
	int rc;
	br_err err;
};

static struct peers *peers;

static void
on_resolve(br_call *call, void *data)
{
	static const char *env[] = {"PATH=/bin", "IMG=1"};
	static const char *cmd[] = {"sh", "-c", "echo default"};
	const struct br_image_name_req *req = br_call_params(call);
	if (strcmp(req->name, "missing") == 0) {
		br_call_failf(call, BR_NOT_FOUND, "image \"missing\": not found");
		return;
	}
	struct br_image_runtime r = {
	        .name = br_arena_printf(br_call_arena(call), "docker.io/library/%s:latest",
	                                req->name),
	        .chain_id = CHAIN,
	        .env = {env, 2},
	        .cmd = {cmd, 3},
	        .working_dir = "/",
	};
	br_call_reply(call, &br_image_runtime_schema, &r);
}

static void
reply_mount(br_call *call, const char *key)
{
	br_arena *a = br_call_arena(call);
	struct br_mount *m = br_arena_alloc(a, sizeof(*m));
	const char **opts = br_arena_alloc(a, 2 * sizeof(char *));
	opts[0] = "rbind";
	opts[1] = "rw";
	m->type = "bind";
	m->source = br_arena_printf(a, "%s/snaps/%s/fs", top, key);
	m->options = (struct br_strlist){opts, 2};
	struct br_snap_mounts_resp resp = {.mounts = {m, 1}};
	br_call_reply(call, &br_snap_mounts_resp_schema, &resp);
}

/* The fake snapshotd's leases: a file leases/<ns>/<id> holding the key of the snapshot. */
static void
on_lease_put(br_call *call, void *data)
{
	const struct br_lease_put_req *req = br_call_params(call);
	const struct br_lease_resource *r = req->resources.v;
	if (strcmp(br_call_ns(call), bulk_ns) == 0) {
		struct br_lease_missing_resp none = {0};
		br_call_reply(call, &br_lease_missing_resp_schema, &none);
		return;
	}
	if (req->resources.n != 1 || strcmp(r[0].type, "snapshots") != 0) {
		br_call_failf(call, BR_INVALID_ARGUMENT, "expected one snapshot resource");
		return;
	}
	sh("mkdir -p %s/leases/%s && echo %s > %s/leases/%s/%s", top, br_call_ns(call), r[0].key,
	   top, br_call_ns(call), req->id);
	struct br_lease_missing_resp resp = {0};
	br_call_reply(call, &br_lease_missing_resp_schema, &resp);
}

/* While set, the fake snapshotd answers removals as a daemon that is down would. */
static atomic_bool snapshotd_down;

static void
on_lease_delete(br_call *call, void *data)
{
	const struct br_lease_id_req *req = br_call_params(call);
	if (atomic_load(&snapshotd_down)) {
		br_call_failf(call, BR_UNAVAILABLE, "berth-snapshotd is unavailable");
		return;
	}
	if (!exists("%s/leases/%s/%s", top, br_call_ns(call), req->id)) {
		br_call_failf(call, BR_NOT_FOUND, "lease \"%s\": not found", req->id);
		return;
	}
	sh("rm -f %s/leases/%s/%s", top, br_call_ns(call), req->id);
	br_call_reply(call, NULL, NULL);
}

static void
on_lease_list(br_call *call, void *data)
{
	struct br_lease_list_resp resp = {0};
	br_call_reply(call, &br_lease_list_resp_schema, &resp);
}

static void
on_prepare(br_call *call, void *data)
{
	const struct br_snap_prepare_req *req = br_call_params(call);
	const char *lease = br_call_request(call)->lease;
	if (lease == NULL || !exists("%s/leases/%s/%s", top, br_call_ns(call), lease)) {
		br_call_failf(call, BR_FAILED_PRECONDITION, "prepare \"%s\" without its lease",
		              req->key);
		return;
	}
	if (req->parent == NULL || strcmp(req->parent, CHAIN) != 0) {
		br_call_failf(call, BR_NOT_FOUND, "parent snapshot \"%s\": not found",
		              req->parent ? req->parent : "");
		return;
	}
	if (exists("%s/snaps/%s", top, req->key)) {
		br_call_failf(call, BR_ALREADY_EXISTS, "snapshot \"%s\": already exists", req->key);
		return;
	}
	sh("mkdir -p %s/snaps/%s && cp -a %s/template %s/snaps/%s/fs", top, req->key, top, top,
	   req->key);
	reply_mount(call, req->key);
}

static void
on_mounts(br_call *call, void *data)
{
	const struct br_snap_key_req *req = br_call_params(call);
	if (!exists("%s/snaps/%s", top, req->key)) {
		br_call_failf(call, BR_NOT_FOUND, "snapshot \"%s\": not found", req->key);
		return;
	}
	reply_mount(call, req->key);
}

static void
on_remove(br_call *call, void *data)
{
	const struct br_snap_key_req *req = br_call_params(call);
	if (atomic_load(&snapshotd_down)) {
		br_call_failf(call, BR_UNAVAILABLE, "berth-snapshotd is unavailable");
		return;
	}
	if (!exists("%s/snaps/%s", top, req->key)) {
		br_call_failf(call, BR_NOT_FOUND, "snapshot \"%s\": not found", req->key);
		return;
	}
	sh("rm -rf %s/snaps/%s", top, req->key);
	br_call_reply(call, NULL, NULL);
}

/* What the fake netd was asked to attach last, as one line, and how many attaches it took
 * (under attach_lock: the peers' thread writes, the case reads). */
static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static char attach_seen[1024];
static int attaches;

static void
record_attach(const struct br_net_attach_req *req)
{
	char buf[sizeof(attach_seen)];
	size_t n = 0;
#define ADD(...) n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, __VA_ARGS__)
	ADD("id=%s mode=%s name=%s ports=", req->id, req->mode ? req->mode : "",
	    req->name ? req->name : "");
	for (size_t i = 0; i < req->ports.n; i++) {
		const struct br_net_port *p = (const struct br_net_port *)req->ports.v + i;
		ADD("%s%s:%u:%u/%s", i ? "," : "", p->host_ip ? p->host_ip : "", p->host_port,
		    p->container_port, p->protocol ? p->protocol : "");
	}
	ADD(" dns=");
	for (size_t i = 0; i < req->dns.n; i++)
		ADD("%s%s", i ? "," : "", req->dns.v[i]);
	ADD(" hosts=");
	for (size_t i = 0; i < req->add_hosts.n; i++)
		ADD("%s%s", i ? "," : "", req->add_hosts.v[i]);
#undef ADD
	pthread_mutex_lock(&attach_lock);
	snprintf(attach_seen, sizeof(attach_seen), "%s", buf);
	attaches++;
	pthread_mutex_unlock(&attach_lock);
}

static void
on_attach(br_call *call, void *data)
{
	const struct br_net_attach_req *req = br_call_params(call);
	br_arena *a = br_call_arena(call);
	record_attach(req);
	sh("mkdir -p %s/net/%s && echo '127.0.0.1 localhost fake-net-hosts' > %s/net/%s/hosts && "
	   "echo 'nameserver 127.0.0.53' > %s/net/%s/resolv.conf",
	   top, req->id, top, req->id, top, req->id);
	/* As netd: a network's name is bridge mode. */
	const char *mode = req->mode == NULL || req->mode[0] == '\0' ? "none"
	                   : strcmp(req->mode, "host") == 0          ? "host"
	                   : strcmp(req->mode, "none") == 0          ? "none"
	                                                             : "bridge";
	struct br_net_attachment att = {
	        .id = req->id,
	        .mode = mode,
	        .netns_path = "",
	        .hosts_path = br_arena_printf(a, "%s/net/%s/hosts", top, req->id),
	        .resolv_path = br_arena_printf(a, "%s/net/%s/resolv.conf", top, req->id),
	};
	br_call_reply(call, &br_net_attachment_schema, &att);
}

static void
on_detach(br_call *call, void *data)
{
	const struct br_net_id_req *req = br_call_params(call);
	if (!exists("%s/net/%s", top, req->id)) {
		br_call_failf(call, BR_NOT_FOUND, "network of \"%s\": not found", req->id);
		return;
	}
	sh("rm -rf %s/net/%s", top, req->id);
	br_call_reply(call, NULL, NULL);
}

/* ------------------------------------------------------------------ fake event log */

/* An event the fake gatewayd took, with the payload fields the cases look at. */
struct seen_event {
	char ns[32];
	char topic[BR_TOPIC_MAX + 1];
	char id[80]; /* the payload's id or container_id */
	char image[128];
	char runtime[32];
	char net[32];
	char bundle[512];
	uint32_t pid;
	int64_t exit_status;
	int64_t exited_at;
	size_t n_labels;
};

/* Every field of every payload of taskd's topics, so that one schema decodes them all. */
struct any_payload {
	const char *id;
	const char *container_id;
	const char *image;
	const char *runtime;
	const char *net;
	const char *bundle;
	uint32_t pid;
	int64_t exit_status;
	int64_t exited_at;
	struct br_strmap labels;
};
static const struct br_field any_payload_fields[] = {
        BR_FIELD(struct any_payload, id, BR_F_STR, 256, 0),
        BR_FIELD(struct any_payload, container_id, BR_F_STR, 256, 0),
        BR_FIELD(struct any_payload, image, BR_F_STR, 512, 0),
        BR_FIELD(struct any_payload, runtime, BR_F_STR, 64, 0),
        BR_FIELD(struct any_payload, net, BR_F_STR, 64, 0),
        BR_FIELD(struct any_payload, bundle, BR_F_STR, 4096, 0),
        BR_FIELD(struct any_payload, pid, BR_F_U32, 0, 0),
        BR_FIELD(struct any_payload, exit_status, BR_F_I64, 0, 0),
        BR_FIELD(struct any_payload, exited_at, BR_F_I64, 0, 0),
        BR_FIELD(struct any_payload, labels, BR_F_STRMAP, BR_LABELS_MAX, 0),
};
static const struct br_schema any_payload_schema =
        BR_SCHEMA(struct any_payload, any_payload_fields);

#define SEEN_MAX 256
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static struct seen_event seen[SEEN_MAX];
static size_t n_seen;
static char seen_source[BR_EVENT_SOURCE_MAX + 1];
static int64_t seen_last; /* the highest sequence number taken from seen_source */
static atomic_bool gatewayd_down;

static void
copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static void
on_publish(br_call *call, void *data)
{
	const struct br_events_publish_req *req = br_call_params(call);
	const struct br_event_in *in = req->events.v;
	br_arena *a = br_call_arena(call);

	if (atomic_load(&gatewayd_down)) {
		br_call_failf(call, BR_UNAVAILABLE, "berth-gatewayd is unavailable");
		return;
	}
	pthread_mutex_lock(&seen_lock);
	if (strcmp(seen_source, req->source) != 0) {
		copy_str(seen_source, sizeof(seen_source), req->source);
		seen_last = 0;
	}
	for (size_t i = 0; i < req->events.n; i++) {
		struct any_payload p = {0};
		msgpack_object obj;
		br_err err = BR_ERR_INIT;
		if (in[i].seq <= seen_last)
			continue; /* a batch sent again */
		seen_last = in[i].seq;
		if (n_seen == SEEN_MAX ||
		    br_msg_unpack(in[i].payload.data, in[i].payload.len, a, &obj, &err) < 0 ||
		    br_msg_decode(&obj, &any_payload_schema, "payload", a, &p, &err) < 0) {
			fprintf(stderr, "# fake gatewayd: event %s: %s\n", in[i].topic, err.msg);
			continue;
		}
		struct seen_event *e = &seen[n_seen++];
		copy_str(e->ns, sizeof(e->ns), in[i].ns);
		copy_str(e->topic, sizeof(e->topic), in[i].topic);
		copy_str(e->id, sizeof(e->id), p.container_id ? p.container_id : p.id);
		copy_str(e->image, sizeof(e->image), p.image);
		copy_str(e->runtime, sizeof(e->runtime), p.runtime);
		copy_str(e->net, sizeof(e->net), p.net);
		copy_str(e->bundle, sizeof(e->bundle), p.bundle);
		e->pid = p.pid;
		e->exit_status = p.exit_status;
		e->exited_at = p.exited_at;
		e->n_labels = p.labels.n;
	}
	struct br_events_publish_resp resp = {.last = seen_last};
	pthread_mutex_unlock(&seen_lock);
	br_call_reply(call, &br_events_publish_resp_schema, &resp);
}

/* How many events of `topic` (NULL: any) the log holds for container `id`. */
static size_t
seen_count(const char *topic, const char *id)
{
	size_t n = 0;
	pthread_mutex_lock(&seen_lock);
	for (size_t i = 0; i < n_seen; i++)
		n += (topic == NULL || strcmp(seen[i].topic, topic) == 0) &&
		     strcmp(seen[i].id, id) == 0;
	pthread_mutex_unlock(&seen_lock);
	return n;
}

/* Wait (10 s at most) until the log holds an event of `topic` for `id`. */
static void
seen_wait(const char *topic, const char *id)
{
	for (int i = 0; i < 200 && seen_count(topic, id) == 0; i++)
		usleep(50000);
	if (seen_count(topic, id) == 0)
		T_FAIL_("no event %s for %s", topic, id);
}

/* The first event of `topic` for `id`. */
static struct seen_event
seen_get(const char *topic, const char *id)
{
	struct seen_event e = {0};
	pthread_mutex_lock(&seen_lock);
	for (size_t i = 0; i < n_seen; i++) {
		if (strcmp(seen[i].topic, topic) == 0 && strcmp(seen[i].id, id) == 0) {
			e = seen[i];
			break;
		}
	}
	pthread_mutex_unlock(&seen_lock);
	return e;
}

/* The topics of `id`'s events in the log's order, space-separated, without the leading '/'. */
static void
seen_topics(const char *id, char *out, size_t cap)
{
	size_t o = 0;
	out[0] = '\0';
	pthread_mutex_lock(&seen_lock);
	for (size_t i = 0; i < n_seen && o < cap; i++) {
		if (strcmp(seen[i].id, id) == 0)
			o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " " : "",
			                      seen[i].topic + 1);
	}
	pthread_mutex_unlock(&seen_lock);
}

static void
expect_topics(const char *id, const char *want)
{
	char got[1024];
	seen_topics(id, got, sizeof(got));
	T_EQ_STR(got, want);
}

static const struct br_method imaged_methods[] = {
        {"images.resolve", &br_image_name_req_schema, on_resolve},
};
static const struct br_method snapshotd_methods[] = {
        {"snapshots.prepare", &br_snap_prepare_req_schema, on_prepare},
        {"snapshots.mounts", &br_snap_key_req_schema, on_mounts},
        {"snapshots.remove", &br_snap_key_req_schema, on_remove},
        {"snapshots.leases.put", &br_lease_put_req_schema, on_lease_put},
        {"snapshots.leases.delete", &br_lease_id_req_schema, on_lease_delete},
        {"snapshots.leases.list", &br_lease_list_req_schema, on_lease_list},
};
static const struct br_method netd_methods[] = {
        {"networks.attach", &br_net_attach_req_schema, on_attach},
        {"networks.detach", &br_net_id_req_schema, on_detach},
};
static const struct br_method gatewayd_methods[] = {
        {"events.publish", &br_events_publish_req_schema, on_publish},
};

static void *
peers_thread(void *arg)
{
	struct peers *p = arg;
	/* gatewayd's socket is <state>/berth.sock when no configuration says otherwise */
	static const char *const names[] = {"imaged", "snapshotd", "netd", "gatewayd"};
	static const char *const sockets[] = {"imaged", "snapshotd", "netd", "berth"};
	const struct br_method *tables[] = {imaged_methods, snapshotd_methods, netd_methods,
	                                    gatewayd_methods};
	size_t counts[] = {1, 6, 2, 1};

	uv_loop_init(&p->uv);
	p->rc = br_loop_init(&p->loop, &p->uv, &p->err);
	for (int i = 0; i < 4 && p->rc == 0; i++) {
		char u[600], name[64];
		snprintf(u, sizeof(u), "ipc://%s/state/%s.sock", top, sockets[i]);
		snprintf(name, sizeof(name), "berth-%s", names[i]);
		struct br_server_opts o = {.name = name, .version = "test", .socket_mode = 0600};
		p->rc = br_rpc_server_new(&p->loop, u, tables[i], counts[i], p, &o, &p->servers[i],
		                          &p->err);
	}
	sem_post(&p->ready);
	if (p->rc < 0)
		return NULL;
	uv_run(&p->uv, UV_RUN_DEFAULT);
	return NULL;
}

static void
peers_start(void)
{
	peers = calloc(1, sizeof(*peers));
	sem_init(&peers->ready, 0, 0);
	pthread_create(&peers->thread, NULL, peers_thread, peers);
	sem_wait(&peers->ready);
	if (peers->rc < 0)
		T_FAIL_("fake peers: %s", peers->err.msg);
}

/* ------------------------------------------------------------------ taskd */

static void
taskd_start(void)
{
	char bin[512], root[512], state[512], log[512];
	posix_spawn_file_actions_t fa;

	snprintf(bin, sizeof(bin), "%s/berth-taskd", build_dir());
	snprintf(root, sizeof(root), "%s/root", top);
	snprintf(state, sizeof(state), "%s/state", top);
	snprintf(log, sizeof(log), "%s/taskd.log", top);
	/* No config file: the built-in defaults (runc at /usr/sbin/runc, the shim next to
	 * berth-taskd). */
	char *argv[] = {bin, "--root", root, "--state", state, "--log-level", "debug", NULL};
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_APPEND | O_CREAT,
	                                 0600);
	T_EQ_INT(posix_spawn(&taskd_pid, bin, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	sh("echo %d >> %s/taskd.pids", (int)taskd_pid, base);
}

static void
taskd_kill9(void)
{
	T_OK(kill(taskd_pid, SIGKILL) == 0);
	T_EQ_INT(waitpid(taskd_pid, NULL, 0), taskd_pid);
	taskd_pid = -1;
}

static void
taskd_stop(void)
{
	int st;
	T_OK(kill(taskd_pid, SIGTERM) == 0);
	T_EQ_INT(waitpid(taskd_pid, &st, 0), taskd_pid);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	taskd_pid = -1;
}

static br_rpc_client *client;

static int
call(const char *method, const struct br_schema *ps, const void *p, const struct br_schema *rs,
     void *r, br_arena *a, br_err *err)
{
	struct br_call_opts o = {.ns = ns, .timeout_ms = 60000};
	br_err_clear(err);
	return br_rpc_call(client, &o, method, ps, p, rs, r, a, err);
}

/* Wait until taskd answers. */
static void
taskd_ready(void)
{
	br_arena *a = br_arena_new();
	struct br_container_list_resp l;
	br_err err = BR_ERR_INIT;
	for (int i = 0; i < 200; i++) {
		if (call("containers.list", NULL, NULL, &br_container_list_resp_schema, &l, a,
		         &err) == 0)
			break;
		usleep(50000);
	}
	T_NOERR(call("containers.list", NULL, NULL, &br_container_list_resp_schema, &l, a, &err),
	        err);
	br_arena_free(a);
}

static void
setup(void)
{
	skip_unless_ready();
	snprintf(top, sizeof(top), "%s/case.XXXXXX", base);
	T_NOT_NULL(mkdtemp(top));
	sh("mkdir -p %s/template/bin %s/template/etc %s/template/proc %s/template/dev "
	   "%s/template/sys %s/state %s/root && cp /bin/busybox %s/template/bin/ && "
	   "for a in sh echo cat sleep hostname true; do ln -sf busybox %s/template/bin/$a; done",
	   top, top, top, top, top, top, top, top, top);
	snprintf(url, sizeof(url), "ipc://%s/state/taskd.sock", top);
	peers_start();
	taskd_start();
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rpc_client_new(url, "berth-taskd", &client, &err), err);
	taskd_ready();
}

static void
create(const char *id, const char *const *args, size_t n, struct br_container *ret, br_arena *a)
{
	struct br_container_create_req req = {
	        .id = id, .image = "busybox", .args = {(const char **)args, n}};
	br_err err = BR_ERR_INIT;
	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, ret, a, &err),
	        err);
}

static int
start(const char *id, struct br_task *ret, br_arena *a, br_err *err)
{
	struct br_container_id_req req = {.id = id};
	return call("tasks.start", &br_container_id_req_schema, &req, &br_task_schema, ret, a, err);
}

static struct br_task
wait_task(const char *id, int64_t timeout_ms, br_arena *a)
{
	struct br_task_wait_req req = {.id = id, .timeout_ms = timeout_ms};
	struct br_task t;
	br_err err = BR_ERR_INIT;
	T_NOERR(call("tasks.wait", &br_task_wait_req_schema, &req, &br_task_schema, &t, a, &err),
	        err);
	return t;
}

static int
get(const char *id, struct br_container *ret, br_arena *a, br_err *err)
{
	struct br_container_id_req req = {.id = id};
	return call("containers.get", &br_container_id_req_schema, &req, &br_container_schema, ret,
	            a, err);
}

static int
simple(const char *method, const char *id, bool force, br_arena *a, br_err *err)
{
	struct br_container_id_req req = {.id = id, .force = force};
	struct br_task t;
	const struct br_schema *rs = strncmp(method, "tasks.", 6) == 0 ? &br_task_schema : NULL;
	return call(method, &br_container_id_req_schema, &req, rs, rs ? (void *)&t : NULL, a, err);
}

static int
kill_task(const char *id, uint32_t sig, br_arena *a, br_err *err)
{
	struct br_task_kill_req req = {.id = id, .signal = sig};
	return call("tasks.kill", &br_task_kill_req_schema, &req, NULL, NULL, a, err);
}

/* Collect all output by following tasks.logs, as `berth run` does. */
static void
follow_logs(const char *id, char *out, size_t cap, char *errout, size_t ecap, int64_t *ret_exit,
            int *ret_calls)
{
	struct br_task_logs_req req = {.id = id, .wait_ms = 20000};
	size_t o = 0, e = 0;
	int calls = 0;
	for (;;) {
		br_arena *a = br_arena_new();
		struct br_task_logs_resp r;
		br_err err = BR_ERR_INIT;
		T_NOERR(call("tasks.logs", &br_task_logs_req_schema, &req,
		             &br_task_logs_resp_schema, &r, a, &err),
		        err);
		calls++;
		T_OK(o + r.stdout_data.len < cap && e + r.stderr_data.len < ecap);
		if (r.stdout_data.len > 0)
			memcpy(out + o, r.stdout_data.data, r.stdout_data.len);
		o += r.stdout_data.len;
		if (r.stderr_data.len > 0)
			memcpy(errout + e, r.stderr_data.data, r.stderr_data.len);
		e += r.stderr_data.len;
		req.stdout_offset = r.stdout_offset;
		req.stderr_offset = r.stderr_offset;
		bool done = r.exited;
		*ret_exit = r.exit_status;
		br_arena_free(a);
		if (done || calls > 50)
			break;
	}
	out[o] = '\0';
	errout[e] = '\0';
	*ret_calls = calls;
}

/* ------------------------------------------------------------------ cases */

/* containers.create and tasks.start asked again under their request ids get the first call's
 * outcome, not ALREADY_EXISTS or "already running"; a bad id is refused. */
static void
test_request_ids(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t, t2;
	const char *args[] = {"sleep", "100"};
	struct br_container_create_req req = {
	        .id = "q1", .image = "busybox", .args = {args, 2}, .request_id = "create-1"};

	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_EQ_STR(c.id, "q1");
	T_EQ_STR(c.status, "created");
	req.request_id = "create-2";
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_ALREADY_EXISTS);
	/* A generated id: the repeated request names the same container. */
	struct br_container_create_req anon = {
	        .image = "busybox", .args = {args, 2}, .request_id = "create-3"};
	struct br_container c1, c2;
	T_NOERR(call("containers.create", &br_container_create_req_schema, &anon,
	             &br_container_schema, &c1, a, &err),
	        err);
	T_NOERR(call("containers.create", &br_container_create_req_schema, &anon,
	             &br_container_schema, &c2, a, &err),
	        err);
	T_EQ_STR(c1.id, c2.id);
	anon.request_id = "bad id!";
	T_ERR(call("containers.create", &br_container_create_req_schema, &anon,
	           &br_container_schema, &c2, a, &err),
	      err, BR_INVALID_ARGUMENT);

	struct br_container_id_req sr = {.id = "q1", .request_id = "start-1"};
	T_NOERR(call("tasks.start", &br_container_id_req_schema, &sr, &br_task_schema, &t, a, &err),
	        err);
	T_NOERR(call("tasks.start", &br_container_id_req_schema, &sr, &br_task_schema, &t2, a,
	             &err),
	        err);
	T_EQ_STR(t2.status, "running");
	T_EQ_INT(t2.pid, t.pid);
	sr.request_id = "start-2";
	T_ERR(call("tasks.start", &br_container_id_req_schema, &sr, &br_task_schema, &t2, a, &err),
	      err, BR_FAILED_PRECONDITION);
	T_NOERR(simple("containers.delete", "q1", true, a, &err), err);
	T_NOERR(simple("containers.delete", c1.id, true, a, &err), err);
	/* The create's container is gone: said so, not made again. */
	req.request_id = "create-1";
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_NOT_FOUND);
	taskd_stop();
	br_arena_free(a);
}

/* The network options of containers.create (the mode or network, published ports, DNS
 * servers, extra hosts) reach networks.attach with the container's name; a create asked again
 * under its request id is answered with the container and attaches nothing more. */
static void
test_network_options(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c, again;
	const char *args[] = {"true"};
	struct br_net_port ports[] = {
	        {.host_ip = "127.0.0.1",
	         .host_port = 8080,
	         .container_port = 80,
	         .protocol = "tcp"},
	        {.host_ip = "", .host_port = 0, .container_port = 53, .protocol = "udp"},
	};
	const char *dns[] = {"192.0.2.53", "2001:db8::53"};
	const char *hosts[] = {"db:192.0.2.10", "cache:2001:db8::7"};
	struct br_container_create_req req = {
	        .name = "web",
	        .image = "busybox",
	        .args = {args, 1},
	        .net = "frontend",
	        .hostname = "www",
	        .ports = {ports, 2},
	        .dns = {dns, 2},
	        .add_hosts = {hosts, 2},
	        .request_id = "net-create-1",
	};

	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_EQ_STR(c.id, "web");
	T_EQ_STR(c.net, "bridge");
	pthread_mutex_lock(&attach_lock);
	T_EQ_STR(attach_seen, "id=web mode=frontend name=web "
	                      "ports=127.0.0.1:8080:80/tcp,:0:53/udp "
	                      "dns=192.0.2.53,2001:db8::53 hosts=db:192.0.2.10,cache:2001:db8::7");
	T_EQ_INT(attaches, 1);
	pthread_mutex_unlock(&attach_lock);

	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &again, a, &err),
	        err);
	T_EQ_STR(again.id, "web");
	pthread_mutex_lock(&attach_lock);
	T_EQ_INT(attaches, 1);
	pthread_mutex_unlock(&attach_lock);

	/* Without network options: netd's default mode, empty lists. */
	struct br_container_create_req plain = {
	        .name = "db", .image = "busybox", .args = {args, 1}};
	T_NOERR(call("containers.create", &br_container_create_req_schema, &plain,
	             &br_container_schema, &c, a, &err),
	        err);
	pthread_mutex_lock(&attach_lock);
	T_EQ_STR(attach_seen, "id=db mode= name=db ports= dns= hosts=");
	T_EQ_INT(attaches, 2);
	pthread_mutex_unlock(&attach_lock);
	taskd_stop();
	br_arena_free(a);
}

static void
test_lifecycle(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *args[] = {"sh", "-c",
	                      "echo out; hostname; cat /etc/hosts; echo err >&2; exit 3"};

	create("c1", args, 3, &c, a);
	T_EQ_STR(c.id, "c1");
	T_EQ_STR(c.status, "created");
	T_EQ_STR(c.image, "docker.io/library/busybox:latest");
	T_EQ_STR(c.runtime, "runc");
	T_EQ_STR(c.net, "none");
	T_EQ_INT(c.command.n, 3);
	T_EQ_STR(c.command.v[0], "sh");
	char key[64];
	snprintf(key, sizeof(key), "%s-c1", ns);
	T_EQ_STR(c.snapshot_key, key);
	T_OK(exists("%s/state/taskd/bundles/%s/c1/config.json", top, ns));
	/* The container holds its snapshot through its lease. */
	T_OK(exists("%s/leases/%s/container-c1", top, ns));

	T_NOERR(start("c1", &t, a, &err), err);
	T_EQ_STR(t.status, "running");
	T_OK(t.pid > 0);
	t = wait_task("c1", 0, a);
	T_EQ_STR(t.status, "stopped");
	T_EQ_INT(t.exit_status, 3);
	T_OK(t.exited_at > 0);

	char out[4096], errout[4096];
	int64_t code;
	int calls;
	follow_logs("c1", out, sizeof(out), errout, sizeof(errout), &code, &calls);
	T_OK(strncmp(out, "out\nc1\n", 7) == 0);
	T_OK(strstr(out, "fake-net-hosts") != NULL);
	T_EQ_STR(errout, "err\n");
	T_EQ_INT(code, 3);

	T_NOERR(get("c1", &c, a, &err), err);
	T_EQ_STR(c.status, "stopped");
	T_EQ_INT(c.exit_status, 3);
	struct br_container_list_resp l;
	T_NOERR(call("containers.list", NULL, NULL, &br_container_list_resp_schema, &l, a, &err),
	        err);
	T_EQ_INT(l.items.n, 1);
	/* Other namespaces see nothing. */
	struct br_call_opts other = {.ns = "elsewhere", .timeout_ms = 10000};
	T_NOERR(br_rpc_call(client, &other, "containers.list", NULL, NULL,
	                    &br_container_list_resp_schema, &l, a, &err),
	        err);
	T_EQ_INT(l.items.n, 0);

	/* A stopped task is not started again before it is deleted. */
	T_ERR(start("c1", &t, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(simple("tasks.delete", "c1", false, a, &err), err);
	T_NOERR(get("c1", &c, a, &err), err);
	T_EQ_STR(c.status, "created");
	T_ERR(simple("tasks.get", "c1", false, a, &err), err, BR_NOT_FOUND);

	/* ...and then it can run again, with fresh logs. */
	T_NOERR(start("c1", &t, a, &err), err);
	t = wait_task("c1", 0, a);
	T_EQ_INT(t.exit_status, 3);
	T_NOERR(simple("tasks.delete", "c1", false, a, &err), err);

	T_NOERR(simple("containers.delete", "c1", false, a, &err), err);
	T_ERR(get("c1", &c, a, &err), err, BR_NOT_FOUND);
	T_OK(!exists("%s/state/taskd/bundles/%s/c1", top, ns));
	T_OK(!exists("%s/snaps/%s", top, key));
	/* The delete answered once the lease was gone too. */
	T_OK(!exists("%s/leases/%s/container-c1", top, ns));
	T_OK(!exists("%s/net/c1", top));
	taskd_stop();
	br_arena_free(a);
}

static void
test_create_failures_leave_nothing(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	struct br_container_create_req req = {.id = "bad", .image = "missing"};

	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_NOT_FOUND);
	T_OK(strstr(err.msg, "image \"missing\": not found") != NULL);
	T_ERR(get("bad", &c, a, &err), err, BR_NOT_FOUND);

	/* A spec error after the snapshot and network exist undoes both. */
	static const char *bad_env[] = {"NOEQUALS"};
	req = (struct br_container_create_req){
	        .id = "bad", .image = "busybox", .env = {bad_env, 1}};
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "container env \"NOEQUALS\": expected KEY=VALUE") != NULL);
	T_OK(!exists("%s/snaps/%s-bad", top, ns));
	T_OK(!exists("%s/net/bad", top));
	T_OK(!exists("%s/state/taskd/bundles/%s/bad", top, ns));

	req = (struct br_container_create_req){.id = "-x", .image = "busybox"};
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	req = (struct br_container_create_req){.id = "r", .image = "busybox", .runtime = "kata"};
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "runtime \"kata\": not configured");

	/* A generated id; a duplicate id. */
	req = (struct br_container_create_req){.image = "busybox"};
	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_EQ_INT(strlen(c.id), 32);
	req.id = c.id;
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_ALREADY_EXISTS);

	/* The runtime's error reaches the caller; the container stays, without a task. */
	const char *nope[] = {"nope"};
	create("nocmd", nope, 1, &c, a);
	T_ERR(start("nocmd", &t, a, &err), err, BR_NOT_FOUND);
	printf("# start error: %s\n", err.msg);
	T_OK(strstr(err.msg, "exec: \"nope\": executable file not found in $PATH") != NULL);
	T_NOERR(get("nocmd", &c, a, &err), err);
	T_EQ_STR(c.status, "created");
	T_NOERR(simple("containers.delete", "nocmd", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

static void
test_logs_long_poll(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *args[] = {"sh", "-c", "echo first; sleep 1; echo second; sleep 1; exit 0"};

	create("l1", args, 3, &c, a);
	T_NOERR(start("l1", &t, a, &err), err);
	char out[4096], errout[256];
	int64_t code;
	int calls;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	follow_logs("l1", out, sizeof(out), errout, sizeof(errout), &code, &calls);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# followed in %.2f s with %d calls\n", secs, calls);
	T_EQ_STR(out, "first\nsecond\n");
	T_EQ_INT(code, 0);
	/* woken by output and by the exit, not by the 20 s bound */
	T_OK(secs < 8);
	T_OK(calls >= 2 && calls < 10);

	/* wait_ms 0 answers at once; a bounded wait on a running task times out */
	const char *sleeper[] = {"sleep", "1000"};
	create("l2", sleeper, 2, &c, a);
	T_NOERR(start("l2", &t, a, &err), err);
	struct br_task_logs_req req = {.id = "l2", .wait_ms = 300};
	struct br_task_logs_resp r;
	T_NOERR(call("tasks.logs", &br_task_logs_req_schema, &req, &br_task_logs_resp_schema, &r, a,
	             &err),
	        err);
	T_OK(!r.exited);
	T_EQ_INT(r.stdout_data.len, 0);
	t = wait_task("l2", 200, a);
	T_EQ_STR(t.status, "running");
	T_NOERR(simple("containers.delete", "l2", true, a, &err), err);
	T_NOERR(simple("tasks.delete", "l1", false, a, &err), err);
	T_NOERR(simple("containers.delete", "l1", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

static void
test_kill_and_force_delete(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *sleeper[] = {"sleep", "1000"};

	create("k1", sleeper, 2, &c, a);
	T_NOERR(start("k1", &t, a, &err), err);
	T_ERR(simple("containers.delete", "k1", false, a, &err), err, BR_FAILED_PRECONDITION);
	T_ERR(simple("tasks.delete", "k1", false, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(kill_task("k1", 9, a, &err), err);
	t = wait_task("k1", 0, a);
	T_EQ_INT(t.exit_status, 137);
	T_ERR(kill_task("k1", 9, a, &err), err, BR_FAILED_PRECONDITION);

	create("k2", sleeper, 2, &c, a);
	T_NOERR(start("k2", &t, a, &err), err);
	pid_t pid = (pid_t)t.pid;
	T_OK(pid_alive(pid));
	T_NOERR(simple("containers.delete", "k2", true, a, &err), err);
	T_OK(!pid_alive(pid));
	T_OK(!exists("%s/state/taskd/bundles/%s/k2", top, ns));
	T_NOERR(simple("containers.delete", "k1", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

/* tasks.stop: SIGKILL after the timeout for an init that ignores SIGTERM, no error once
 * stopped; tasks.pause/resume: the status, refusals, kept across a taskd restart, and a
 * paused task thawed by tasks.stop; containers.spec and started_at on the way. */
static void
test_stop_and_pause(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *deaf[] = {"sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"};
	const char *sleeper[] = {"sleep", "1000"};
	struct br_task_stop_req sr = {.id = "s1", .timeout_ms = 300};

	create("s1", deaf, 3, &c, a);
	T_NOERR(start("s1", &t, a, &err), err);
	T_NOERR(call("tasks.stop", &br_task_stop_req_schema, &sr, &br_task_schema, &t, a, &err),
	        err);
	T_EQ_STR(t.status, "stopped");
	T_EQ_INT(t.exit_status, 137);
	T_NOERR(call("tasks.stop", &br_task_stop_req_schema, &sr, &br_task_schema, &t, a, &err),
	        err);
	sr.timeout_ms = -1;
	T_ERR(call("tasks.stop", &br_task_stop_req_schema, &sr, &br_task_schema, &t, a, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(simple("tasks.pause", "s1", false, a, &err), err, BR_FAILED_PRECONDITION);

	create("p1", sleeper, 2, &c, a);
	T_NOERR(start("p1", &t, a, &err), err);
	T_OK(t.started_at > 0);
	struct br_container_id_req ir = {.id = "p1"};
	struct br_container_spec_resp sp;
	T_NOERR(call("containers.spec", &br_container_id_req_schema, &ir,
	             &br_container_spec_resp_schema, &sp, a, &err),
	        err);
	T_OK(strstr(sp.spec, "\"ociVersion\"") != NULL);
	T_NOERR(simple("tasks.pause", "p1", false, a, &err), err);
	T_NOERR(get("p1", &c, a, &err), err);
	T_EQ_STR(c.status, "paused");
	T_ERR(simple("tasks.pause", "p1", false, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(simple("tasks.resume", "p1", false, a, &err), err);
	T_NOERR(get("p1", &c, a, &err), err);
	T_EQ_STR(c.status, "running");
	T_ERR(simple("tasks.resume", "p1", false, a, &err), err, BR_FAILED_PRECONDITION);
	T_NOERR(simple("tasks.pause", "p1", false, a, &err), err);
	taskd_stop();
	taskd_start();
	taskd_ready();
	T_NOERR(get("p1", &c, a, &err), err);
	T_EQ_STR(c.status, "paused");
	sr = (struct br_task_stop_req){.id = "p1", .timeout_ms = 200};
	T_NOERR(call("tasks.stop", &br_task_stop_req_schema, &sr, &br_task_schema, &t, a, &err),
	        err);
	T_EQ_STR(t.status, "stopped");
	T_EQ_INT(t.exit_status, 137);
	T_NOERR(simple("containers.delete", "s1", false, a, &err), err);
	T_NOERR(simple("containers.delete", "p1", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

static void
test_restart_reconciles(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *sleeper[] = {"sleep", "1000"};

	create("r1", sleeper, 2, &c, a); /* keeps running across restarts */
	create("r2", sleeper, 2, &c, a); /* exits while taskd is down */
	create("r3", sleeper, 2, &c, a); /* loses its shim while taskd is down */
	create("r4", sleeper, 2, &c, a); /* created by a shim, never started */
	T_NOERR(start("r1", &t, a, &err), err);
	pid_t p1 = (pid_t)t.pid;
	T_NOERR(start("r2", &t, a, &err), err);
	pid_t p2 = (pid_t)t.pid;
	T_NOERR(start("r3", &t, a, &err), err);
	pid_t p3 = (pid_t)t.pid;

	taskd_kill9();
	T_OK(pid_alive(p1));
	/* While taskd is down: r2's init is killed (its shim records the exit); r3's shim is
	 * killed, then its init; a stray bundle appears. */
	T_OK(kill(p2, SIGKILL) == 0);
	char path[600];
	snprintf(path, sizeof(path), "%s/state/taskd/bundles/%s/r3/task/shim.pid", top, ns);
	FILE *f = fopen(path, "r");
	T_NOT_NULL(f);
	int shim3 = 0;
	T_EQ_INT(fscanf(f, "%d", &shim3), 1);
	fclose(f);
	T_OK(kill(shim3, SIGKILL) == 0);
	usleep(100000);
	kill(p3, SIGKILL);
	sh("mkdir -p %s/state/taskd/bundles/%s/stray/rootfs", top, ns);
	/* r4: as if taskd died between the runtime's create and start. */
	if (access("/usr/bin/sqlite3", X_OK) == 0) {
		sh("sqlite3 %s/root/taskd/meta.db \"UPDATE containers SET task = 'running' WHERE "
		   "id = 'r4'\"",
		   top);
		sh("b=%s/state/taskd/bundles/%s/r4; mkdir -p %s/state/taskd/runtime/runc/%s "
		   "$b/task && "
		   "%s/berth-shim --runtime-root %s/state/taskd/runtime/runc/%s r4 $b "
		   "/usr/sbin/runc "
		   "$b/task > %s/r4.report && sleep 0.5 && test -S $b/task/shim.sock",
		   top, ns, top, ns, build_dir(), top, ns, top);
	}
	usleep(300000);

	taskd_start();
	taskd_ready();
	T_NOERR(simple("tasks.get", "r1", false, a, &err), err);
	struct br_task_wait_req wr = {.id = "r1", .timeout_ms = 1};
	T_NOERR(call("tasks.wait", &br_task_wait_req_schema, &wr, &br_task_schema, &t, a, &err),
	        err);
	T_EQ_STR(t.status, "running");
	T_EQ_INT(t.pid, p1);
	t = wait_task("r2", 0, a);
	T_EQ_STR(t.status, "stopped");
	T_EQ_INT(t.exit_status, 137);
	t = wait_task("r3", 0, a);
	T_EQ_STR(t.status, "stopped");
	/* No exit file: taskd killed what was left, and says so. */
	T_EQ_INT(t.exit_status, 137);
	T_EQ_STR(t.exit_reason, "shim lost");
	T_OK(!exists("%s/state/taskd/bundles/%s/stray", top, ns));
	if (access("/usr/bin/sqlite3", X_OK) == 0) {
		T_NOERR(get("r4", &c, a, &err), err);
		T_EQ_STR(c.status, "created");
		T_OK(!exists("%s/state/taskd/bundles/%s/r4/task/shim.sock", top, ns));
		T_NOERR(start("r4", &t, a, &err), err);
		T_NOERR(kill_task("r4", 9, a, &err), err);
		T_EQ_INT(wait_task("r4", 0, a).exit_status, 137);
	}

	/* The reattached watch sees r1's exit. */
	T_NOERR(kill_task("r1", 9, a, &err), err);
	t = wait_task("r1", 0, a);
	T_EQ_INT(t.exit_status, 137);

	/* A clean stop and start keeps everything. */
	taskd_stop();
	taskd_start();
	taskd_ready();
	T_NOERR(get("r1", &c, a, &err), err);
	T_EQ_STR(c.status, "stopped");
	static const char *const ids[] = {"r1", "r2", "r3", "r4"};
	for (size_t i = 0; i < 4; i++)
		T_NOERR(simple("containers.delete", ids[i], false, a, &err), err);
	for (size_t i = 0; i < 4; i++)
		T_OK(!exists("%s/leases/%s/container-%s", top, ns, ids[i]));
	taskd_stop();
	br_arena_free(a);
}

/* A lease lost by snapshotd is put again at taskd's start; one deleted while snapshotd was
 * down is deleted once it answers (the outbox keeps it). */
static void
test_leases_follow_records(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	const char *args[] = {"true"};

	create("h1", args, 1, &c, a);
	create("h2", args, 1, &c, a);
	T_OK(exists("%s/leases/%s/container-h1", top, ns));
	/* snapshotd forgets h1's lease; a restart of taskd puts it again */
	sh("rm -f %s/leases/%s/container-h1", top, ns);
	taskd_kill9();
	taskd_start();
	taskd_ready();
	for (int i = 0; i < 100 && !exists("%s/leases/%s/container-h1", top, ns); i++)
		usleep(50000);
	T_OK(exists("%s/leases/%s/container-h1", top, ns));
	/* snapshotd down: the delete still succeeds, and the lease goes once it is back */
	atomic_store(&snapshotd_down, true);
	T_NOERR(simple("containers.delete", "h2", false, a, &err), err);
	T_OK(exists("%s/leases/%s/container-h2", top, ns));
	atomic_store(&snapshotd_down, false);
	for (int i = 0; i < 200 && exists("%s/leases/%s/container-h2", top, ns); i++)
		usleep(50000);
	T_OK(!exists("%s/leases/%s/container-h2", top, ns));
	T_NOERR(simple("containers.delete", "h1", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

/* ------------------------------------------------------------------ paging */

#define SEEDED 10000

/* Write SEEDED container records of namespace bulk_ns into taskd's database (taskd stopped):
 * ids c00000..c09999 inserted in a shuffled order, each with a label. */
static void
seed_containers(void)
{
	char path[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(path, sizeof(path), "%s/root/taskd/meta.db", top);
	T_EQ_INT(sqlite3_open(path, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	T_EQ_INT(sqlite3_prepare_v2(db,
	                            "INSERT INTO containers (ns, id, name, state, image, runtime,"
	                            " snapshotter, snapshot_key, labels, created_at)"
	                            " VALUES (?1, ?2, ?2, 'ready', 'busybox', 'runc', 'overlayfs',"
	                            " ?1 || '-' || ?2, '{\"seed\": \"yes\"}', ?3)",
	                            -1, &st, NULL),
	         SQLITE_OK);
	for (int i = 0; i < SEEDED; i++) {
		char id[16];
		/* 7919 is prime to SEEDED: every id once, in no sorted order */
		snprintf(id, sizeof(id), "c%05d", (int)((i * 7919L) % SEEDED));
		sqlite3_bind_text(st, 1, bulk_ns, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, 1700000000000LL + i);
		T_EQ_INT(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	T_EQ_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Follow containers.list of bulk_ns page by page with `page_size` (0: the default): every
 * record once, in id order, no page larger than asked, the last without a token. Returns the
 * number of pages. */
static int
list_all_pages(uint32_t page_size, uint32_t want_per_page)
{
	struct br_call_opts o = {.ns = bulk_ns, .timeout_ms = 60000};
	char token[BR_PAGE_TOKEN_MAX + 1] = "";
	size_t seen = 0;
	int pages = 0;

	for (;;) {
		br_arena *a = br_arena_new();
		struct br_container_list_req req = {
		        .page = {.size = page_size, .token = token[0] ? token : NULL}};
		struct br_container_list_resp resp;
		br_err err = BR_ERR_INIT;
		T_NOERR(br_rpc_call(client, &o, "containers.list", &br_container_list_req_schema,
		                    &req, &br_container_list_resp_schema, &resp, a, &err),
		        err);
		pages++;
		T_OK(resp.items.n > 0 && resp.items.n <= want_per_page);
		const struct br_container *items = resp.items.v;
		for (size_t i = 0; i < resp.items.n; i++) {
			char id[16];
			snprintf(id, sizeof(id), "c%05zu", seen++);
			if (strcmp(items[i].id, id) != 0)
				T_FAIL_("page %d, item %zu: %s where %s was due", pages, i,
				        items[i].id, id);
			T_EQ_INT(items[i].labels.n, 1);
		}
		bool last = resp.next_page_token == NULL;
		if (!last) {
			T_OK(strlen(resp.next_page_token) <= BR_PAGE_TOKEN_MAX);
			snprintf(token, sizeof(token), "%s", resp.next_page_token);
		}
		br_arena_free(a);
		T_OK(pages <= SEEDED);
		if (last)
			break;
	}
	T_EQ_INT(seen, SEEDED);
	return pages;
}

/* 10,000 records list completely over many pages, each once and in order, at any page size
 * (the default, an odd one, the largest); the namespace's neighbours do not leak in. */
static void
test_list_pages(void)
{
	setup();
	br_arena *a = br_arena_new();
	struct br_container c;
	const char *args[] = {"true"};

	create("other", args, 1, &c, a); /* in the test's own namespace */
	taskd_stop();
	seed_containers();
	taskd_start();
	taskd_ready();
	T_EQ_INT(list_all_pages(0, BR_PAGE_DEFAULT), SEEDED / BR_PAGE_DEFAULT);
	T_EQ_INT(list_all_pages(333, 333), (SEEDED + 332) / 333);
	T_EQ_INT(list_all_pages(BR_PAGE_MAX, BR_PAGE_MAX), SEEDED / BR_PAGE_MAX);
	/* a page size past the largest is held to it */
	T_EQ_INT(list_all_pages(100000, BR_PAGE_MAX), SEEDED / BR_PAGE_MAX);
	br_err err = BR_ERR_INIT;
	T_NOERR(simple("containers.delete", "other", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

/* ------------------------------------------------------------------ events */

/* Every change a client can make emits its events once, in order, with its payload; a create
 * that fails emits nothing. */
static void
test_events_lifecycle(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *args[] = {"sh", "-c", "exit 3"};
	const char *keys[] = {"team"}, *values[] = {"a"};
	struct br_container_create_req req = {
	        .id = "e1", .image = "busybox", .args = {args, 3}, .labels = {keys, values, 1}};

	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_NOERR(start("e1", &t, a, &err), err);
	uint32_t pid = t.pid;
	t = wait_task("e1", 0, a);
	T_EQ_INT(t.exit_status, 3);
	T_NOERR(simple("tasks.delete", "e1", false, a, &err), err);
	T_NOERR(simple("containers.delete", "e1", false, a, &err), err);
	req = (struct br_container_create_req){.id = "bad", .image = "missing"};
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_NOT_FOUND);

	seen_wait(BR_TOPIC_CONTAINER_DELETE, "e1");
	expect_topics("e1", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                    "containers/delete");
	struct seen_event e = seen_get(BR_TOPIC_CONTAINER_CREATE, "e1");
	T_EQ_STR(e.ns, ns);
	T_EQ_STR(e.image, "docker.io/library/busybox:latest");
	T_EQ_STR(e.runtime, "runc");
	T_EQ_STR(e.net, "none");
	T_EQ_INT(e.n_labels, 1);
	e = seen_get(BR_TOPIC_TASK_CREATE, "e1");
	T_EQ_INT(e.pid, pid);
	char bundle[600];
	snprintf(bundle, sizeof(bundle), "%s/state/taskd/bundles/%s/e1", top, ns);
	T_EQ_STR(e.bundle, bundle);
	T_EQ_INT(seen_get(BR_TOPIC_TASK_START, "e1").pid, pid);
	e = seen_get(BR_TOPIC_TASK_EXIT, "e1");
	T_EQ_INT(e.pid, pid);
	T_EQ_INT(e.exit_status, 3);
	T_EQ_INT(e.exited_at, t.exited_at * 1000000);
	e = seen_get(BR_TOPIC_TASK_DELETE, "e1");
	T_EQ_INT(e.exit_status, 3);
	T_EQ_INT(e.exited_at, t.exited_at * 1000000);
	T_EQ_INT(seen_count(NULL, "bad"), 0);

	/* Nothing is emitted twice across a restart. */
	taskd_stop();
	taskd_start();
	taskd_ready();
	usleep(500000);
	T_EQ_INT(seen_count(NULL, "e1"), 6);
	taskd_stop();
	br_arena_free(a);
}

/* A restart by the policy is a run of its own in the events (the old task's delete, then the
 * new one's create and start); auto_remove deletes the container after its exit's event; a
 * policy with auto_remove, an unknown policy and a count without on-failure are refused. */
static void
test_events_restart_and_auto_remove(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *args[] = {"sh", "-c", "exit 2"};
	struct br_container_create_req req = {.id = "p1",
	                                      .image = "busybox",
	                                      .args = {args, 3},
	                                      .restart_policy = "on-failure",
	                                      .restart_max = 1};

	T_NOERR(call("containers.create", &br_container_create_req_schema, &req,
	             &br_container_schema, &c, a, &err),
	        err);
	T_EQ_STR(c.restart_policy, "on-failure");
	T_NOERR(start("p1", &t, a, &err), err);
	for (int i = 0; i < 100; i++) {
		T_NOERR(get("p1", &c, a, &err), err);
		if (strcmp(c.status, "stopped") == 0 && c.restart_count == 1)
			break;
		usleep(100000);
	}
	T_EQ_STR(c.status, "stopped");
	T_EQ_INT(c.restart_count, 1);
	T_EQ_INT(c.exit_status, 2);
	seen_wait(BR_TOPIC_TASK_EXIT, "p1");
	for (int i = 0; i < 50 && seen_count(BR_TOPIC_TASK_EXIT, "p1") < 2; i++)
		usleep(100000);
	expect_topics("p1", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                    "tasks/create tasks/start tasks/exit");
	T_NOERR(simple("containers.delete", "p1", false, a, &err), err);

	struct br_container_create_req rm = {
	        .id = "ar1", .image = "busybox", .args = {args, 3}, .auto_remove = true};
	T_NOERR(call("containers.create", &br_container_create_req_schema, &rm,
	             &br_container_schema, &c, a, &err),
	        err);
	T_OK(c.auto_remove);
	T_NOERR(start("ar1", &t, a, &err), err);
	seen_wait(BR_TOPIC_CONTAINER_DELETE, "ar1");
	expect_topics("ar1", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                     "containers/delete");
	T_EQ_INT(seen_get(BR_TOPIC_TASK_EXIT, "ar1").exit_status, 2);
	T_ERR(get("ar1", &c, a, &err), err, BR_NOT_FOUND);

	rm.id = "ar2";
	rm.restart_policy = "always";
	T_ERR(call("containers.create", &br_container_create_req_schema, &rm, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	req.id = "p2";
	req.restart_policy = "sometimes";
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	req.restart_policy = "always";
	req.restart_max = 3;
	T_ERR(call("containers.create", &br_container_create_req_schema, &req, &br_container_schema,
	           &c, a, &err),
	      err, BR_INVALID_ARGUMENT);
	taskd_stop();
	br_arena_free(a);
}

/* A delete that kills the task reports its exit first; an exited task deleted with its
 * container (`run --rm`) reports exit, task delete and container delete, in that order. */
static void
test_events_delete_paths(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *sleeper[] = {"sleep", "1000"};
	const char *five[] = {"sh", "-c", "exit 5"};

	create("f1", sleeper, 2, &c, a);
	T_NOERR(start("f1", &t, a, &err), err);
	T_NOERR(simple("containers.delete", "f1", true, a, &err), err);
	seen_wait(BR_TOPIC_CONTAINER_DELETE, "f1");
	expect_topics("f1", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                    "containers/delete");
	T_EQ_INT(seen_get(BR_TOPIC_TASK_EXIT, "f1").exit_status, 137);
	T_EQ_INT(seen_get(BR_TOPIC_TASK_DELETE, "f1").exit_status, 137);
	T_OK(seen_get(BR_TOPIC_TASK_EXIT, "f1").exited_at > 0);

	/* an exited task deleted with its container, no tasks.delete first */
	create("f2", five, 3, &c, a);
	T_NOERR(start("f2", &t, a, &err), err);
	T_EQ_INT(wait_task("f2", 0, a).exit_status, 5);
	T_NOERR(simple("containers.delete", "f2", false, a, &err), err);
	seen_wait(BR_TOPIC_CONTAINER_DELETE, "f2");
	expect_topics("f2", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                    "containers/delete");
	T_EQ_INT(seen_get(BR_TOPIC_TASK_EXIT, "f2").exit_status, 5);

	/* a container that never ran */
	create("f3", sleeper, 2, &c, a);
	T_NOERR(simple("containers.delete", "f3", false, a, &err), err);
	seen_wait(BR_TOPIC_CONTAINER_DELETE, "f3");
	expect_topics("f3", "containers/create containers/delete");
	taskd_stop();
	br_arena_free(a);
}

static pid_t
init_pid_of(const char *id)
{
	char path[600];
	int pid = 0;
	snprintf(path, sizeof(path), "%s/state/taskd/bundles/%s/%s/task/pid", top, ns, id);
	FILE *f = fopen(path, "r");
	T_NOT_NULL(f);
	T_EQ_INT(fscanf(f, "%d", &pid), 1);
	fclose(f);
	return pid;
}

/* /tasks/exit exactly once per exit: an exit while taskd is down is emitted once at its start;
 * one committed but not delivered when taskd died is delivered by the next taskd, once; later
 * restarts add nothing. */
static void
test_events_exit_once_across_restarts(void)
{
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *sleeper[] = {"sleep", "1000"};

	create("x1", sleeper, 2, &c, a);
	create("x2", sleeper, 2, &c, a);
	T_NOERR(start("x1", &t, a, &err), err);
	T_NOERR(start("x2", &t, a, &err), err);
	seen_wait(BR_TOPIC_TASK_START, "x2");

	/* x1 exits between the shim's record and taskd's */
	taskd_kill9();
	T_OK(kill(init_pid_of("x1"), SIGKILL) == 0);
	usleep(300000);
	taskd_start();
	taskd_ready();
	seen_wait(BR_TOPIC_TASK_EXIT, "x1");
	T_EQ_INT(seen_get(BR_TOPIC_TASK_EXIT, "x1").exit_status, 137);

	/* x2's exit is committed while the log is down, then taskd dies */
	atomic_store(&gatewayd_down, true);
	T_OK(kill(init_pid_of("x2"), SIGKILL) == 0);
	T_EQ_INT(wait_task("x2", 0, a).exit_status, 137);
	taskd_kill9();
	T_EQ_INT(seen_count(BR_TOPIC_TASK_EXIT, "x2"), 0);
	atomic_store(&gatewayd_down, false);
	taskd_start();
	taskd_ready();
	seen_wait(BR_TOPIC_TASK_EXIT, "x2");

	/* and again, killed and stopped: nothing more */
	taskd_kill9();
	taskd_start();
	taskd_ready();
	taskd_stop();
	taskd_start();
	taskd_ready();
	usleep(500000);
	T_EQ_INT(seen_count(BR_TOPIC_TASK_EXIT, "x1"), 1);
	T_EQ_INT(seen_count(BR_TOPIC_TASK_EXIT, "x2"), 1);
	T_EQ_INT(seen_count(NULL, "x1"), 4);
	T_EQ_INT(seen_count(NULL, "x2"), 4);
	T_NOERR(simple("containers.delete", "x1", false, a, &err), err);
	T_NOERR(simple("containers.delete", "x2", false, a, &err), err);
	seen_wait(BR_TOPIC_CONTAINER_DELETE, "x2");
	expect_topics("x2", "containers/create tasks/create tasks/start tasks/exit tasks/delete "
	                    "containers/delete");
	taskd_stop();
	br_arena_free(a);
}

/* taskd died inside tasks.start: a task whose shim runs is recorded with /tasks/create and
 * /tasks/start at the next start; one without a shim never started and emits nothing. */
static void
test_events_unfinished_start(void)
{
	if (access("/usr/bin/sqlite3", X_OK) != 0)
		T_SKIP("needs the sqlite3 CLI");
	setup();
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct br_container c;
	struct br_task t;
	const char *sleeper[] = {"sleep", "1000"};

	create("s1", sleeper, 2, &c, a);
	create("s2", sleeper, 2, &c, a);
	seen_wait(BR_TOPIC_CONTAINER_CREATE, "s2");
	atomic_store(&gatewayd_down, true);
	T_NOERR(start("s1", &t, a, &err), err);
	uint32_t pid = t.pid;
	taskd_stop();
	/* As if taskd had died before it recorded these starts (and their events). */
	sh("sqlite3 %s/root/taskd/meta.db \"DELETE FROM outbox WHERE target = 'gatewayd' AND "
	   "instr(params, CAST('/tasks/' AS BLOB)) > 0; UPDATE containers SET task = 'starting', "
	   "pid = 0 WHERE id IN ('s1', 's2')\"",
	   top);
	atomic_store(&gatewayd_down, false);
	taskd_start();
	taskd_ready();
	T_NOERR(get("s1", &c, a, &err), err);
	T_EQ_STR(c.status, "running");
	T_EQ_INT(c.pid, pid);
	T_NOERR(get("s2", &c, a, &err), err);
	T_EQ_STR(c.status, "created");
	seen_wait(BR_TOPIC_TASK_START, "s1");
	T_EQ_INT(seen_get(BR_TOPIC_TASK_CREATE, "s1").pid, pid);
	T_EQ_INT(seen_get(BR_TOPIC_TASK_START, "s1").pid, pid);
	T_NOERR(kill_task("s1", 9, a, &err), err);
	T_EQ_INT(wait_task("s1", 0, a).exit_status, 137);
	seen_wait(BR_TOPIC_TASK_EXIT, "s1");
	expect_topics("s1", "containers/create tasks/create tasks/start tasks/exit");
	expect_topics("s2", "containers/create");
	T_NOERR(simple("containers.delete", "s1", false, a, &err), err);
	T_NOERR(simple("containers.delete", "s2", false, a, &err), err);
	taskd_stop();
	br_arena_free(a);
}

/* ------------------------------------------------------------------ cleanup */

static int
rm_cgroup(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "/berth/%s", ns);
	size_t n = strlen(path);
	if (flag == FTW_DP &&
	    (strstr(path, needle) != NULL || (n > 6 && strcmp(path + n - 6, "/berth") == 0)))
		rmdir(path); /* "berth" itself only when empty */
	return 0;
}

static void
cleanup_all(void)
{
	char path[600];
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/taskd.pids", base);
	if ((f = fopen(path, "r")) != NULL) {
		while (fscanf(f, "%d", &pid) == 1)
			kill(pid, SIGKILL);
		fclose(f);
	}
	sh("for p in $(find %s -name shim.pid 2>/dev/null); do kill -9 $(cat $p) "
	   "2>/dev/null; done; for r in %s/*/state/taskd/runtime/runc/*; do [ -d $r ] && for c in "
	   "$(ls $r); do runc --root $r delete -f $c >/dev/null 2>&1; done; done; true",
	   base, base);
	sh("grep -o ' %s/[^ ]*' /proc/self/mounts | sort -r | while read m; do umount -l $m; done; "
	   "true",
	   base);
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/fs/cgroup/%s", e->d_name);
		nftw(path, rm_cgroup, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	}
	if (d != NULL)
		closedir(d);
	if (getenv("BERTH_KEEP") == NULL)
		sh("rm -rf %s", base);
}

int
main(int argc, char **argv)
{
	static const struct t_case cases[] = {
	        T_CASE(test_lifecycle),
	        T_CASE(test_request_ids),
	        T_CASE(test_network_options),
	        T_CASE(test_create_failures_leave_nothing),
	        T_CASE(test_logs_long_poll),
	        T_CASE(test_kill_and_force_delete),
	        T_CASE(test_stop_and_pause),
	        T_CASE(test_restart_reconciles),
	        T_CASE(test_leases_follow_records),
	        T_CASE(test_list_pages),
	        T_CASE(test_events_lifecycle),
	        T_CASE(test_events_restart_and_auto_remove),
	        T_CASE(test_events_delete_paths),
	        T_CASE(test_events_exit_once_across_restarts),
	        T_CASE(test_events_unfinished_start),
	};
	snprintf(base, sizeof(base), "/tmp/berth-taskd-test.XXXXXX");
	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(ns, sizeof(ns), "t%d", (int)getpid());
	snprintf(bulk_ns, sizeof(bulk_ns), "p%d", (int)getpid());
	int rc = t_run(cases, sizeof(cases) / sizeof(cases[0]), argc, argv);
	cleanup_all();
	return rc;
}
