/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the RPC runtime (common/rpc*.c) with a real server and real clients over
 * ipc:// in a private temp dir: round trips, concurrency, malformed envelopes, unknown
 * methods, late (async) replies, deadlines, a peer that is down, restarted or killed in the
 * middle of a call (UNAVAILABLE, promptly, and never a second delivery), daemon.health.
 *
 * Most cases run the server on a thread of this process with its own loop; the cases that
 * kill the server use test/helpers/rpc_test_server as a separate process.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/proto/types.h"
#include "common/rpc.h"
#include "test/unit/t.h"

/* ---- messages of the test service ---- */

struct echo {
	const char *name;
	int64_t n;
};
static const struct br_field echo_fields[] = {
        BR_FIELD(struct echo, name, BR_F_STR, 64, BR_F_REQUIRED),
        BR_FIELD(struct echo, n, BR_F_I64, 0, 0),
};
static const struct br_schema echo_schema = BR_SCHEMA(struct echo, echo_fields);

struct slow {
	int64_t ms;
};
static const struct br_field slow_fields[] = {
        BR_FIELD(struct slow, ms, BR_F_I64, 0, 0),
};
static const struct br_schema slow_schema = BR_SCHEMA(struct slow, slow_fields);

struct peer {
	uint32_t uid;
	uint32_t pid;
	const char *ns;
	int64_t deadline_left;
};
static const struct br_field peer_fields[] = {
        BR_FIELD(struct peer, uid, BR_F_U32, 0, 0),
        BR_FIELD(struct peer, pid, BR_F_U32, 0, 0),
        BR_FIELD(struct peer, ns, BR_F_STR, 0, 0),
        BR_FIELD(struct peer, deadline_left, BR_F_I64, 0, 0),
};
static const struct br_schema peer_schema = BR_SCHEMA(struct peer, peer_fields);

struct blob {
	struct br_bytes data;
};
static const struct br_field blob_fields[] = {
        BR_FIELD(struct blob, data, BR_F_BIN, UINT32_MAX, 0),
};
static const struct br_schema blob_schema = BR_SCHEMA(struct blob, blob_fields);

/* ---- the in-process server ---- */

#define MAX_PENDING 64

struct pending {
	uv_timer_t timer;
	br_call *call;
	struct tsrv *t;
	bool active;
};

struct tsrv {
	pthread_t thread;
	uv_loop_t uv;
	struct br_loop loop;
	br_rpc_server *server;
	char url[PATH_MAX + 16];
	sem_t ready;
	br_err err;
	int rc;
	atomic_int hang_count;
	atomic_int echo_count;
	br_call *hanging[MAX_PENDING];
	int nhanging;
	struct pending slow[MAX_PENDING];
};

static void
on_echo(br_call *call, void *data)
{
	struct tsrv *t = data;
	atomic_fetch_add(&t->echo_count, 1);
	br_call_reply(call, &echo_schema, br_call_params(call));
}

static void
on_slow_timer(uv_timer_t *h)
{
	struct pending *p = h->data;
	struct slow r = {.ms = 1};
	br_call_reply(p->call, &slow_schema, &r);
	p->call = NULL;
	p->active = false;
	uv_close((uv_handle_t *)h, NULL);
}

static void
on_slow(br_call *call, void *data)
{
	struct tsrv *t = data;
	const struct slow *req = br_call_params(call);
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &t->slow[i];
		if (p->active || uv_is_closing((uv_handle_t *)&p->timer))
			continue;
		p->active = true;
		p->call = call;
		p->t = t;
		uv_timer_init(&t->uv, &p->timer);
		p->timer.data = p;
		uv_timer_start(&p->timer, on_slow_timer, (uint64_t)req->ms, 0);
		return;
	}
	br_call_failf(call, BR_RESOURCE_EXHAUSTED, "too many slow calls");
}

static void
on_hang(br_call *call, void *data)
{
	struct tsrv *t = data;
	atomic_fetch_add(&t->hang_count, 1);
	if (t->nhanging < MAX_PENDING)
		t->hanging[t->nhanging++] = call;
	else
		br_call_failf(call, BR_RESOURCE_EXHAUSTED, "too many hanging calls");
}

static void
on_fail(br_call *call, void *data)
{
	br_call_failf(call, BR_NOT_FOUND, "thing \"x\": not found");
}

static void
on_peer(br_call *call, void *data)
{
	int64_t d = br_call_deadline(call);
	struct peer r = {.uid = br_call_peer_uid(call),
	                 .pid = br_call_peer_pid(call),
	                 .ns = br_call_ns(call),
	                 .deadline_left = d ? d - br_now_ms() : -1};
	br_call_reply(call, &peer_schema, &r);
}

static void
on_big(br_call *call, void *data)
{
	struct blob b;
	size_t n = BR_MSG_MAX_SIZE + 1;
	uint8_t *buf = br_arena_alloc(br_call_arena(call), n);
	b.data.data = buf;
	b.data.len = n;
	br_call_reply(call, &blob_schema, &b);
}

static void
on_health(void *data, msgpack_packer *pk, uint32_t *ret_extra_pairs)
{
	br_msg_pack_str(pk, "jobs");
	msgpack_pack_int(pk, 3);
	*ret_extra_pairs = 1;
}

static const struct br_method methods[] = {
        {"test.echo", &echo_schema, on_echo}, {"test.slow", &slow_schema, on_slow},
        {"test.hang", NULL, on_hang},         {"test.fail", NULL, on_fail},
        {"test.peer", NULL, on_peer},         {"test.big", NULL, on_big},
};

static void *
server_thread(void *arg)
{
	struct tsrv *t = arg;
	struct br_server_opts opts = {
	        .name = "berth-test", .version = "9.9", .socket_mode = 0600, .health = on_health};

	uv_loop_init(&t->uv);
	t->rc = br_loop_init(&t->loop, &t->uv, &t->err);
	if (t->rc == 0)
		t->rc = br_rpc_server_new(&t->loop, t->url, methods,
		                          sizeof(methods) / sizeof(methods[0]), t, &opts,
		                          &t->server, &t->err);
	sem_post(&t->ready);
	if (t->rc < 0)
		return NULL;
	uv_run(&t->uv, UV_RUN_DEFAULT);
	br_loop_fini(&t->loop);
	while (uv_run(&t->uv, UV_RUN_NOWAIT) != 0)
		;
	if (uv_loop_close(&t->uv) != 0)
		fprintf(stderr, "# server loop still has handles\n");
	return NULL;
}

static void
server_stop_on_loop(void *arg)
{
	struct tsrv *t = arg;

	br_rpc_server_free(t->server);
	t->server = NULL;
	/* Calls still held become orphans: replying frees them. */
	for (int i = 0; i < t->nhanging; i++)
		br_call_failf(t->hanging[i], BR_UNAVAILABLE, "stopped");
	t->nhanging = 0;
	for (int i = 0; i < MAX_PENDING; i++) {
		struct pending *p = &t->slow[i];
		if (!p->active)
			continue;
		uv_timer_stop(&p->timer);
		uv_close((uv_handle_t *)&p->timer, NULL);
		br_call_failf(p->call, BR_UNAVAILABLE, "stopped");
		p->active = false;
	}
	uv_stop(&t->uv);
}

static struct tsrv *
server_start(const char *url)
{
	struct tsrv *t = calloc(1, sizeof(*t));
	snprintf(t->url, sizeof(t->url), "%s", url);
	sem_init(&t->ready, 0, 0);
	pthread_create(&t->thread, NULL, server_thread, t);
	sem_wait(&t->ready);
	if (t->rc < 0)
		T_FAIL_("server_start: %s", t->err.msg);
	return t;
}

static void
server_stop(struct tsrv *t)
{
	br_loop_post(&t->loop, server_stop_on_loop, t);
	pthread_join(t->thread, NULL);
	sem_destroy(&t->ready);
	free(t);
}

/* ---- fixtures ---- */

static char tmpdir[PATH_MAX];
static char url[PATH_MAX + 16];

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/berth-test-rpc-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		T_FAIL_("mkdtemp: %s", strerror(errno));
	snprintf(url, sizeof(url), "ipc://%s/s.sock", tmpdir);
}

static void
teardown(void)
{
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "# cleanup of %s failed\n", tmpdir);
	br_rpc_shutdown();
}

static br_rpc_client *
client_new(const char *u)
{
	br_rpc_client *c = NULL;
	br_err err = BR_ERR_INIT;
	T_NOERR(br_rpc_client_new(u, "berth-test", &c, &err), err);
	return c;
}

static void
wait_connected(br_rpc_client *c)
{
	for (int i = 0; i < 400 && !br_rpc_client_connected(c); i++)
		usleep(5000);
	T_OK(br_rpc_client_connected(c));
}

static int
echo_call(br_rpc_client *c, const char *name, int64_t n, struct echo *out, br_arena *a, br_err *err)
{
	struct echo in = {.name = name, .n = n};
	return br_rpc_call(c, NULL, "test.echo", &echo_schema, &in, &echo_schema, out, a, err);
}

static void
expect_msg(const br_err *err, const char *want)
{
	if (strstr(err->msg, want) == NULL)
		T_FAIL_("error \"%s\" does not contain \"%s\"", err->msg, want);
}

/* ---- cases ---- */

static void
test_round_trip(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct echo out;

	T_NOERR(echo_call(c, "hello", -42, &out, a, &err), err);
	T_EQ_STR(out.name, "hello");
	T_EQ_INT(out.n, -42);
	T_OK(br_rpc_client_connected(c));

	/* a remote error arrives as is */
	T_ERR(br_rpc_call(c, NULL, "test.fail", NULL, NULL, NULL, NULL, a, &err), err,
	      BR_NOT_FOUND);
	T_EQ_STR(err.msg, "thing \"x\": not found");

	/* peer credentials come from the socket; ns and deadline from the envelope */
	struct peer p;
	struct br_call_opts opts = {.ns = "team-a", .timeout_ms = 5000};
	T_NOERR(br_rpc_call(c, &opts, "test.peer", NULL, NULL, &peer_schema, &p, a, &err), err);
	T_EQ_INT(p.uid, getuid());
	T_EQ_INT(p.pid, getpid());
	T_EQ_STR(p.ns, "team-a");
	T_OK(p.deadline_left > 3000 && p.deadline_left <= 5000);
	T_NOERR(br_rpc_call(c, NULL, "test.peer", NULL, NULL, &peer_schema, &p, a, &err), err);
	T_EQ_STR(p.ns, "default");
	opts = (struct br_call_opts){.timeout_ms = -1};
	T_NOERR(br_rpc_call(c, &opts, "test.peer", NULL, NULL, &peer_schema, &p, a, &err), err);
	T_EQ_INT(p.deadline_left, -1);

	/* a params error names the method and the field */
	struct echo bad = {.name = NULL};
	T_ERR(br_rpc_call(c, NULL, "test.echo", &echo_schema, &bad, NULL, NULL, a, &err), err,
	      BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "test.echo: p.name: required field is missing");

	/* unknown method */
	T_ERR(br_rpc_call(c, NULL, "test.nope", NULL, NULL, NULL, NULL, a, &err), err,
	      BR_NOT_IMPLEMENTED);
	T_EQ_STR(err.msg, "unknown method \"test.nope\"");

	/* socket file mode */
	struct stat st;
	T_EQ_INT(stat(url + 6, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0600);

	br_arena_free(a);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

#define CALLERS 6
#define CALLS_EACH 300

struct caller {
	br_rpc_client *c;
	int id;
	int ok;
};

static void *
caller_thread(void *arg)
{
	struct caller *cl = arg;
	for (int i = 0; i < CALLS_EACH; i++) {
		br_arena *a = br_arena_new();
		br_err err = BR_ERR_INIT;
		struct echo out;
		char name[32];
		snprintf(name, sizeof(name), "c%d-%d", cl->id, i);
		if (echo_call(cl->c, name, i, &out, a, &err) == 0 && strcmp(out.name, name) == 0 &&
		    out.n == i)
			cl->ok++;
		else
			fprintf(stderr, "# caller %d call %d: %s\n", cl->id, i, err.msg);
		br_arena_free(a);
	}
	return NULL;
}

static void
test_concurrent_calls(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	pthread_t th[CALLERS];
	struct caller cl[CALLERS];

	/* several threads share one client; slow calls keep contexts busy meanwhile */
	for (int i = 0; i < CALLERS; i++) {
		cl[i] = (struct caller){.c = c, .id = i};
		pthread_create(&th[i], NULL, caller_thread, &cl[i]);
	}
	br_err err = BR_ERR_INIT;
	struct slow s = {.ms = 300};
	for (int i = 0; i < 3; i++)
		T_NOERR(br_rpc_call(c, NULL, "test.slow", &slow_schema, &s, NULL, NULL, NULL, &err),
		        err);
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(th[i], NULL);
		T_EQ_INT(cl[i].ok, CALLS_EACH);
	}
	T_EQ_INT(atomic_load(&t->echo_count), CALLERS * CALLS_EACH);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

struct hold_arg {
	br_rpc_client *c;
	int64_t timeout_ms;
	const char *method;
	int rc;
	br_err err;
	int64_t took_ms;
};

static void *
hold_thread(void *arg)
{
	struct hold_arg *h = arg;
	struct br_call_opts opts = {.timeout_ms = h->timeout_ms};
	int64_t start = br_now_ms();
	h->rc = br_rpc_call(h->c, &opts, h->method, NULL, NULL, NULL, NULL, NULL, &h->err);
	h->took_ms = br_now_ms() - start;
	return NULL;
}

static void
test_many_pending_calls_grow_the_pool(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	enum { N = 40 };
	pthread_t th[N];
	struct hold_arg h[N];

	/* 40 calls held by the handler at once: more than the initial contexts */
	for (int i = 0; i < N; i++) {
		h[i] = (struct hold_arg){.c = c, .timeout_ms = 20000, .method = "test.hang"};
		pthread_create(&th[i], NULL, hold_thread, &h[i]);
	}
	for (int i = 0; i < 400 && atomic_load(&t->hang_count) < N; i++)
		usleep(10000);
	T_EQ_INT(atomic_load(&t->hang_count), N);
	/* still answering */
	br_err err = BR_ERR_INIT;
	struct echo out;
	br_arena *a = br_arena_new();
	T_NOERR(echo_call(c, "x", 1, &out, a, &err), err);
	br_arena_free(a);
	/* stopping the server answers every held call UNAVAILABLE */
	server_stop(t);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		T_ERR(h[i].rc, h[i].err, BR_UNAVAILABLE);
		T_OK(h[i].took_ms < 20000);
	}
	br_rpc_client_free(c);
	teardown();
}

/* Send raw bytes on a plain REQ socket and decode the reply. */
static int
raw_call(const void *buf, size_t len, br_err *err)
{
	nng_socket s;
	void *rbuf = NULL;
	size_t rlen = 0;
	int rc;

	T_EQ_INT(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_size(s, NNG_OPT_RECVMAXSZ, BR_MSG_MAX_SIZE + 65536);
	T_EQ_INT(nng_dial(s, url, NULL, 0), 0);
	T_EQ_INT(nng_send(s, (void *)buf, len, 0), 0);
	rc = nng_recv(s, &rbuf, &rlen, NNG_FLAG_ALLOC);
	if (rc != 0)
		T_FAIL_("raw_call: no reply: %s", nng_strerror(rc));
	br_arena *a = br_arena_new();
	msgpack_object result;
	rc = br_reply_decode(rbuf, rlen, a, &result, err);
	br_arena_free(a);
	nng_free(rbuf, rlen);
	nng_close(s);
	return rc;
}

static void
expect_raw_invalid(const void *buf, size_t len, const char *want)
{
	br_err err = BR_ERR_INIT;
	T_ERR(raw_call(buf, len, &err), err, BR_INVALID_ARGUMENT);
	expect_msg(&err, want);
}

static void
pack_envelope(msgpack_sbuffer *sb, int v, const char *m, const char *ns)
{
	msgpack_packer pk;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, (v >= 0) + (m != NULL) + (ns != NULL));
	if (v >= 0) {
		br_msg_pack_str(&pk, "v");
		msgpack_pack_int(&pk, v);
	}
	if (m != NULL) {
		br_msg_pack_str(&pk, "m");
		br_msg_pack_str(&pk, m);
	}
	if (ns != NULL) {
		br_msg_pack_str(&pk, "ns");
		br_msg_pack_str(&pk, ns);
	}
}

static void
test_bad_envelopes(void)
{
	setup();
	struct tsrv *t = server_start(url);
	msgpack_sbuffer sb;

	pack_envelope(&sb, 2, "test.echo", NULL);
	expect_raw_invalid(sb.data, sb.size, "unsupported protocol version");
	msgpack_sbuffer_destroy(&sb);

	pack_envelope(&sb, -1, "test.echo", NULL);
	expect_raw_invalid(sb.data, sb.size, "bad request: \"v\" is missing");
	msgpack_sbuffer_destroy(&sb);

	pack_envelope(&sb, 1, NULL, NULL);
	expect_raw_invalid(sb.data, sb.size, "bad request: \"m\" (the method) is missing");
	msgpack_sbuffer_destroy(&sb);

	pack_envelope(&sb, 1, "test..echo", NULL);
	expect_raw_invalid(sb.data, sb.size, "invalid method name \"test..echo\"");
	msgpack_sbuffer_destroy(&sb);

	pack_envelope(&sb, 1, "test.echo", "../x");
	expect_raw_invalid(sb.data, sb.size, "invalid namespace \"../x\"");
	msgpack_sbuffer_destroy(&sb);

	pack_envelope(&sb, 1, "test.echo", "Upper");
	expect_raw_invalid(sb.data, sb.size, "invalid namespace \"Upper\"");
	msgpack_sbuffer_destroy(&sb);

	expect_raw_invalid("\xc1\xc1\xc1", 3, "bad request: malformed message");
	expect_raw_invalid("\x93\x01\x02\x03", 4, "bad request: expected a map");
	expect_raw_invalid("\x81\xa1v\x01\xc0", 5, "trailing bytes");

	/* larger than BR_MSG_MAX_SIZE, but within what nng accepts */
	size_t n = BR_MSG_MAX_SIZE + 100;
	uint8_t *big = calloc(1, n);
	big[0] = 0xc6;
	big[1] = (uint8_t)((n - 5) >> 24);
	big[2] = (uint8_t)((n - 5) >> 16);
	big[3] = (uint8_t)((n - 5) >> 8);
	big[4] = (uint8_t)(n - 5);
	expect_raw_invalid(big, n, "message too large");
	free(big);

	/* a client refuses to send an oversized request */
	br_rpc_client *c = client_new(url);
	br_err err = BR_ERR_INIT;
	struct blob b = {.data = {.data = calloc(1, BR_MSG_MAX_SIZE), .len = BR_MSG_MAX_SIZE}};
	T_ERR(br_rpc_call(c, NULL, "test.echo", &blob_schema, &b, NULL, NULL, NULL, &err), err,
	      BR_INVALID_ARGUMENT);
	expect_msg(&err, "request too large");
	free((void *)b.data.data);

	/* the client's namespace is checked by the server */
	struct br_call_opts opts = {.ns = "../x"};
	T_ERR(br_rpc_call(c, &opts, "test.peer", NULL, NULL, NULL, NULL, NULL, &err), err,
	      BR_INVALID_ARGUMENT);
	expect_msg(&err, "invalid namespace \"../x\"");

	/* a reply over the limit becomes RESOURCE_EXHAUSTED */
	T_ERR(br_rpc_call(c, NULL, "test.big", NULL, NULL, NULL, NULL, NULL, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	expect_msg(&err, "reply to test.big is too large");

	/* the server survived all of it */
	struct echo out;
	br_arena *a = br_arena_new();
	T_NOERR(echo_call(c, "still", 1, &out, a, &err), err);
	br_arena_free(a);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

static void
test_async_reply_and_deadlines(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	br_err err = BR_ERR_INIT;
	struct slow s = {.ms = 150};
	struct slow out;
	br_arena *a = br_arena_new();

	/* the handler replies later, from a timer */
	int64_t start = br_now_ms();
	T_NOERR(br_rpc_call(c, NULL, "test.slow", &slow_schema, &s, &slow_schema, &out, a, &err),
	        err);
	T_OK(br_now_ms() - start >= 140);
	T_EQ_INT(out.ms, 1);

	/* client deadline */
	struct br_call_opts opts = {.timeout_ms = 200};
	s.ms = 3000;
	start = br_now_ms();
	T_ERR(br_rpc_call(c, &opts, "test.slow", &slow_schema, &s, NULL, NULL, a, &err), err,
	      BR_DEADLINE_EXCEEDED);
	int64_t took = br_now_ms() - start;
	T_OK(took >= 190 && took < 1500);
	T_EQ_STR(err.msg, "test.slow on berth-test: deadline exceeded after 200 ms");

	/* a request that arrives with its deadline already spent is not handled */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, "test.echo", NULL, NULL, -5, NULL, NULL);
	T_ERR(raw_call(sb.data, sb.size, &err), err, BR_DEADLINE_EXCEEDED);
	T_EQ_STR(err.msg, "test.echo: deadline exceeded before the request was handled");
	msgpack_sbuffer_destroy(&sb);
	T_EQ_INT(atomic_load(&t->echo_count), 0);

	br_arena_free(a);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

static void
test_peer_down_is_unavailable_fast(void)
{
	setup();
	br_rpc_client *c = client_new(url);
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	struct echo out;

	int64_t start = br_now_ms();
	T_ERR(echo_call(c, "x", 1, &out, a, &err), err, BR_UNAVAILABLE);
	int64_t took = br_now_ms() - start;
	T_OK(took < 2000);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "berth-test is unavailable (%s: not connected)", url);
	T_EQ_STR(err.msg, want);
	T_OK(!br_rpc_client_connected(c));

	/* a peer that is not there at all: a bad path */
	br_rpc_client *c2 = client_new("ipc:///nonexistent/dir/x.sock");
	start = br_now_ms();
	T_ERR(echo_call(c2, "x", 1, &out, a, &err), err, BR_UNAVAILABLE);
	T_OK(br_now_ms() - start < 2000);
	br_rpc_client_free(c2);

	/* an invalid URL fails at once */
	br_rpc_client *c3 = NULL;
	T_ERR(br_rpc_client_new("bogus://x", "berth-test", &c3, &err), err, BR_INVALID_ARGUMENT);
	T_NULL(c3);

	br_arena_free(a);
	br_rpc_client_free(c);
	teardown();
}

static void
test_server_restart_same_client(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	struct echo out;

	T_NOERR(echo_call(c, "one", 1, &out, a, &err), err);
	server_stop(t);
	T_ERR(echo_call(c, "two", 2, &out, a, &err), err, BR_UNAVAILABLE);

	t = server_start(url);
	wait_connected(c);
	T_NOERR(echo_call(c, "three", 3, &out, a, &err), err);
	T_EQ_STR(out.name, "three");
	server_stop(t);

	/* The dialer retries at most every 250 ms, within the 300 ms connect grace: a call made
	 * right after the server comes back succeeds without waiting for "connected". */
	usleep(600000);
	t = server_start(url);
	T_NOERR(echo_call(c, "four", 4, &out, a, &err), err);
	server_stop(t);

	br_arena_free(a);
	br_rpc_client_free(c);
	teardown();
}

/* A listener that accepts and at once closes every connection, as a server does that dies
 * right after accepting: the client's handshake then fails with EPIPE, which nng 1.5.2's
 * dialer takes as final. */
struct slammer {
	int fd;
	atomic_bool stop;
	atomic_int accepted;
};

static void *
slam_thread(void *arg)
{
	struct slammer *s = arg;

	while (!atomic_load(&s->stop)) {
		int c = accept(s->fd, NULL, NULL);
		if (c >= 0) {
			close(c);
			atomic_fetch_add(&s->accepted, 1);
		}
	}
	return NULL;
}

static void
test_client_recovers_from_refused_handshakes(void)
{
	setup();
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *path = url + strlen("ipc://");
	T_OK(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	struct slammer s = {.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)};
	T_OK(s.fd >= 0);
	T_OK(bind(s.fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	T_OK(listen(s.fd, 64) == 0);
	pthread_t th;
	pthread_create(&th, NULL, slam_thread, &s);

	br_rpc_client *c = client_new(url);
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct echo out;
	for (int i = 0; i < 300 && atomic_load(&s.accepted) < 20; i++)
		usleep(10000);
	T_OK(atomic_load(&s.accepted) >= 1);
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	close(s.fd);
	unlink(sa.sun_path);

	/* The real server comes: calls get through again within a few seconds. */
	struct tsrv *t = server_start(url);
	int rc = -1;
	for (int i = 0; i < 50 && rc < 0; i++) {
		rc = echo_call(c, "back", 7, &out, a, &err);
		if (rc < 0)
			usleep(100000);
	}
	T_NOERR(rc, err);
	T_EQ_STR(out.name, "back");

	br_arena_free(a);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

static void
test_client_free_cancels_calls(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	pthread_t th;
	struct hold_arg h = {.c = c, .timeout_ms = 20000, .method = "test.hang"};

	pthread_create(&th, NULL, hold_thread, &h);
	for (int i = 0; i < 400 && atomic_load(&t->hang_count) < 1; i++)
		usleep(5000);
	T_EQ_INT(atomic_load(&t->hang_count), 1);
	br_rpc_client_free(c);
	pthread_join(th, NULL);
	T_ERR(h.rc, h.err, BR_CANCELED);
	T_EQ_STR(h.err.msg, "test.hang on berth-test: canceled (client closed)");
	server_stop(t);
	teardown();
}

/* ---- async calls from a loop ---- */

struct async_state {
	struct br_loop *loop;
	int done;
	br_err err;
	bool failed;
	struct echo echo;
	struct br_health health;
	void *raw;
	size_t raw_len;
};

static void
on_echo_done(void *data, const br_err *err, void *result)
{
	struct async_state *s = data;
	if (err != NULL) {
		s->failed = true;
		br_err_copy(&s->err, err);
	} else {
		s->echo = *(struct echo *)result;
	}
	T_OK(br_loop_on_thread(s->loop));
	s->done++;
	uv_stop(s->loop->uv);
}

static void
on_raw_done(void *data, const br_err *err, const void *reply, size_t len)
{
	struct async_state *s = data;
	if (err != NULL) {
		s->failed = true;
		br_err_copy(&s->err, err);
	} else {
		s->raw = malloc(len);
		memcpy(s->raw, reply, len);
		s->raw_len = len;
	}
	s->done++;
	uv_stop(s->loop->uv);
}

static void
test_async_calls(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	uv_loop_t uv;
	struct br_loop loop;
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	struct async_state s = {.loop = &loop};

	uv_loop_init(&uv);
	T_NOERR(br_loop_init(&loop, &uv, &err), err);

	struct echo in = {.name = "async", .n = 7};
	br_rpc_call_async(c, &loop, NULL, "test.echo", &echo_schema, &in, &echo_schema, a,
	                  on_echo_done, &s);
	T_EQ_INT(s.done, 0); /* never inline */
	uv_run(&uv, UV_RUN_DEFAULT);
	T_EQ_INT(s.done, 1);
	T_OK(!s.failed);
	T_EQ_STR(s.echo.name, "async");
	T_EQ_INT(s.echo.n, 7);

	/* a remote error */
	s = (struct async_state){.loop = &loop};
	br_rpc_call_async(c, &loop, NULL, "test.fail", NULL, NULL, NULL, a, on_echo_done, &s);
	uv_run(&uv, UV_RUN_DEFAULT);
	T_OK(s.failed);
	T_EQ_INT(s.err.code, BR_NOT_FOUND);

	/* raw forwarding: the reply envelope comes back as bytes */
	msgpack_sbuffer sb;
	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, "test.echo", "default", NULL, 5000, &echo_schema, &in);
	s = (struct async_state){.loop = &loop};
	br_rpc_call_raw_async(c, &loop, sb.data, sb.size, 5000, on_raw_done, &s);
	uv_run(&uv, UV_RUN_DEFAULT);
	msgpack_sbuffer_destroy(&sb);
	T_OK(!s.failed);
	msgpack_object result;
	struct echo out;
	T_NOERR(br_reply_decode(s.raw, s.raw_len, a, &result, &err), err);
	T_NOERR(br_msg_decode(&result, &echo_schema, "r", a, &out, &err), err);
	T_EQ_STR(out.name, "async");
	free(s.raw);

	/* a failure also completes on the loop: server gone */
	server_stop(t);
	s = (struct async_state){.loop = &loop};
	int64_t start = br_now_ms();
	br_rpc_call_async(c, &loop, NULL, "test.echo", &echo_schema, &in, &echo_schema, a,
	                  on_echo_done, &s);
	uv_run(&uv, UV_RUN_DEFAULT);
	T_OK(s.failed);
	T_EQ_INT(s.err.code, BR_UNAVAILABLE);
	T_OK(br_now_ms() - start < 2000);

	s = (struct async_state){.loop = &loop};
	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, "test.echo", "default", NULL, 5000, &echo_schema, &in);
	br_rpc_call_raw_async(c, &loop, sb.data, sb.size, 5000, on_raw_done, &s);
	msgpack_sbuffer_destroy(&sb);
	uv_run(&uv, UV_RUN_DEFAULT);
	T_OK(s.failed);
	T_EQ_INT(s.err.code, BR_UNAVAILABLE);

	br_rpc_client_free(c);
	br_loop_fini(&loop);
	T_EQ_INT(uv_loop_close(&uv), 0);
	br_arena_free(a);
	teardown();
}

/* ---- daemon.health ---- */

struct health_extra {
	const char *name;
	int64_t jobs;
};
static const struct br_field health_extra_fields[] = {
        BR_FIELD(struct health_extra, name, BR_F_STR, 0, 0),
        BR_FIELD(struct health_extra, jobs, BR_F_I64, 0, 0),
};
static const struct br_schema health_extra_schema =
        BR_SCHEMA(struct health_extra, health_extra_fields);

static void
test_daemon_health(void)
{
	setup();
	struct tsrv *t = server_start(url);
	br_rpc_client *c = client_new(url);
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	struct br_health h;

	usleep(20000);
	T_NOERR(br_rpc_call(c, NULL, "daemon.health", NULL, NULL, &br_health_schema, &h, a, &err),
	        err);
	T_EQ_STR(h.name, "berth-test");
	T_EQ_STR(h.version, "9.9");
	T_EQ_INT(h.pid, getpid());
	T_EQ_STR(h.status, "ok");
	T_OK(h.uptime_ms >= 10 && h.uptime_ms < 10000);

	struct health_extra x;
	T_NOERR(br_rpc_call(c, NULL, "daemon.health", NULL, NULL, &health_extra_schema, &x, a,
	                    &err),
	        err);
	T_EQ_STR(x.name, "berth-test");
	T_EQ_INT(x.jobs, 3);

	br_arena_free(a);
	br_rpc_client_free(c);
	server_stop(t);
	teardown();
}

/* ---- a server process killed in the middle of a call ---- */

static pid_t
spawn_server(const char *count_file)
{
	char self[PATH_MAX], helper[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	T_OK(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0'; /* .../test/unit */
	snprintf(helper, sizeof(helper), "%s/../helpers/rpc_test_server", self);
	if (access(helper, X_OK) != 0)
		T_SKIP("%s not built", helper);
	pid_t pid = fork();
	if (pid == 0) {
		execl(helper, helper, url, count_file, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;
	if (f == NULL)
		return 0;
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

static void
test_server_killed_during_call(void)
{
	setup();
	char count_file[PATH_MAX + 16];
	snprintf(count_file, sizeof(count_file), "%s/count", tmpdir);
	pid_t srv = spawn_server(count_file);
	br_rpc_client *c = client_new(url);
	wait_connected(c);

	pthread_t th;
	struct hold_arg h = {.c = c, .timeout_ms = 15000, .method = "test.hang"};
	pthread_create(&th, NULL, hold_thread, &h);
	for (int i = 0; i < 500 && count_lines(count_file) < 1; i++)
		usleep(10000);
	T_EQ_INT(count_lines(count_file), 1);

	/* kill -9, and a new server on the same socket at once: nng must not resend */
	int64_t killed = br_now_ms();
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	pid_t srv2 = spawn_server(count_file);
	pthread_join(th, NULL);
	int64_t took = br_now_ms() - killed;
	T_ERR(h.rc, h.err, BR_UNAVAILABLE);
	T_EQ_STR(h.err.msg, "connection to berth-test lost during test.hang");
	T_OK(took < 2000);

	wait_connected(c);
	usleep(500000);
	T_EQ_INT(count_lines(count_file), 1);

	/* and the same client works with the new server */
	br_arena *a = br_arena_new();
	br_err err = BR_ERR_INIT;
	struct echo out;
	T_NOERR(echo_call(c, "after", 5, &out, a, &err), err);
	br_arena_free(a);

	kill(srv2, SIGTERM);
	int status = 0;
	waitpid(srv2, &status, 0);
	T_OK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	br_rpc_client_free(c);
	teardown();
}

/* ---- envelope codec ---- */

static void
test_envelope_codec(void)
{
	msgpack_sbuffer sb;
	br_err err = BR_ERR_INIT;
	br_arena *a = br_arena_new();
	struct br_request r;
	struct echo in = {.name = "n", .n = 3};

	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, "images.pull", "team-1", "lease1", 1234, &echo_schema, &in);
	T_NOERR(br_request_decode(sb.data, sb.size, a, &r, &err), err);
	T_EQ_INT(r.v, 1);
	T_EQ_STR(r.method, "images.pull");
	T_EQ_STR(r.ns, "team-1");
	T_EQ_STR(r.lease, "lease1");
	T_EQ_INT(r.deadline_ms, 1234);
	struct echo out;
	T_NOERR(br_msg_decode(&r.params, &echo_schema, "p", a, &out, &err), err);
	T_EQ_STR(out.name, "n");
	msgpack_sbuffer_destroy(&sb);

	msgpack_sbuffer_init(&sb);
	br_request_encode_object(&sb, "a.b", NULL, NULL, 0, NULL);
	T_NOERR(br_request_decode(sb.data, sb.size, a, &r, &err), err);
	T_EQ_STR(r.ns, "");
	T_NULL(r.lease);
	T_EQ_INT(r.deadline_ms, 0);
	T_EQ_INT(r.params.type, MSGPACK_OBJECT_NIL);
	msgpack_sbuffer_destroy(&sb);

	br_err e = {.code = BR_PERMISSION_DENIED};
	snprintf(e.msg, sizeof(e.msg), "uid 1000 may not use namespace \"x\"");
	msgpack_sbuffer_init(&sb);
	br_reply_encode_error(&sb, &e);
	msgpack_object res;
	T_ERR(br_reply_decode(sb.data, sb.size, a, &res, &err), err, BR_PERMISSION_DENIED);
	T_EQ_STR(err.msg, "uid 1000 may not use namespace \"x\"");
	msgpack_sbuffer_destroy(&sb);

	msgpack_sbuffer_init(&sb);
	br_reply_encode_result(&sb, &echo_schema, &in);
	T_NOERR(br_reply_decode(sb.data, sb.size, a, &res, &err), err);
	T_EQ_INT(res.type, MSGPACK_OBJECT_MAP);
	msgpack_sbuffer_destroy(&sb);

	T_OK(br_ns_valid("default"));
	T_OK(br_ns_valid("a"));
	T_OK(br_ns_valid("k8s.io"));
	T_OK(br_ns_valid("a-b_c.d"));
	T_OK(!br_ns_valid(""));
	T_OK(!br_ns_valid("-a"));
	T_OK(!br_ns_valid(".a"));
	T_OK(!br_ns_valid("A"));
	T_OK(!br_ns_valid("a/b"));
	char longns[BR_NS_MAX + 2];
	memset(longns, 'a', sizeof(longns));
	longns[BR_NS_MAX] = '\0';
	T_OK(br_ns_valid(longns));
	longns[BR_NS_MAX] = 'a';
	longns[BR_NS_MAX + 1] = '\0';
	T_OK(!br_ns_valid(longns));
	br_arena_free(a);
}

T_MAIN(T_CASE(test_envelope_codec), T_CASE(test_round_trip), T_CASE(test_concurrent_calls),
       T_CASE(test_many_pending_calls_grow_the_pool), T_CASE(test_bad_envelopes),
       T_CASE(test_async_reply_and_deadlines), T_CASE(test_peer_down_is_unavailable_fast),
       T_CASE(test_server_restart_same_client),
       T_CASE(test_client_recovers_from_refused_handshakes), T_CASE(test_client_free_cancels_calls),
       T_CASE(test_async_calls), T_CASE(test_daemon_health), T_CASE(test_server_killed_during_call))
