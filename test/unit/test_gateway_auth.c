/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The front door's pure parts: the role each method needs (common/proto/gateway.c), the
 * deadline an envelope may grant (common/rpc.c), and log lines that a caller's strings
 * cannot break or forge (common/log.c). The roles themselves, with real uids, are checked by
 * test/integration/test_frontdoor.sh.
 */

#include "common/json.h"
#include "common/log.h"
#include "common/proto/gateway.h"
#include "common/rpc.h"
#include "test/unit/t.h"

/* ---- roles per method ---- */

/* The params map {key: value} with one string or boolean value; NULL key: nil params. */
struct params {
	msgpack_sbuffer sb;
	msgpack_unpacked up;
};

static const msgpack_object *
params_new(struct params *p, const char *key, const char *str, int boolean)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 1);
	br_msg_pack_str(&pk, key);
	if (str != NULL)
		br_msg_pack_str(&pk, str);
	else if (boolean)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	msgpack_unpacked_init(&p->up);
	T_OK(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
	return &p->up.data;
}

static void
params_free(struct params *p)
{
	msgpack_unpacked_destroy(&p->up);
	msgpack_sbuffer_destroy(&p->sb);
}

static void
test_method_roles(void)
{
	static const struct {
		const char *method;
		enum br_role role;
	} cases[] = {
	        /* read: lists, inspection, waits, logs, events */
	        {"gateway.info", BR_ROLE_READ},
	        {"namespaces.list", BR_ROLE_READ},
	        {"namespaces.get", BR_ROLE_READ},
	        {"images.list", BR_ROLE_READ},
	        {"images.get", BR_ROLE_READ},
	        {"images.resolve", BR_ROLE_READ},
	        {"jobs.get", BR_ROLE_READ},
	        {"jobs.wait", BR_ROLE_READ},
	        {"containers.list", BR_ROLE_READ},
	        {"containers.get", BR_ROLE_READ},
	        {"tasks.get", BR_ROLE_READ},
	        {"tasks.wait", BR_ROLE_READ},
	        {"tasks.logs", BR_ROLE_READ},
	        {"networks.list", BR_ROLE_READ},
	        {"content.info", BR_ROLE_READ},
	        {"content.list", BR_ROLE_READ},
	        {"content.read", BR_ROLE_READ},
	        {"content.leases.get", BR_ROLE_READ},
	        {"content.leases.list", BR_ROLE_READ},
	        {"snapshots.stat", BR_ROLE_READ},
	        {"snapshots.leases.list", BR_ROLE_READ},
	        {"events.subscribe", BR_ROLE_READ},
	        {"volumes.list", BR_ROLE_READ},
	        {"volumes.get", BR_ROLE_READ},
	        /* user: images, jobs, containers, tasks, volumes */
	        {"volumes.create", BR_ROLE_USER},
	        {"volumes.delete", BR_ROLE_USER},
	        {"images.pull", BR_ROLE_USER},
	        {"images.login", BR_ROLE_USER},
	        {"images.import", BR_ROLE_USER},
	        {"images.push", BR_ROLE_USER},
	        {"images.tag", BR_ROLE_USER},
	        {"images.remove", BR_ROLE_USER},
	        {"jobs.cancel", BR_ROLE_USER},
	        {"containers.create", BR_ROLE_USER},
	        {"containers.delete", BR_ROLE_USER},
	        {"tasks.start", BR_ROLE_USER},
	        {"tasks.kill", BR_ROLE_USER},
	        {"tasks.delete", BR_ROLE_USER},
	        {"images.some_new_verb", BR_ROLE_USER},
	        /* admin: the stores, their leases and collections, networks, namespaces */
	        {"content.write", BR_ROLE_ADMIN},
	        {"content.delete", BR_ROLE_ADMIN},
	        {"content.abort", BR_ROLE_ADMIN},
	        {"content.gc", BR_ROLE_ADMIN},
	        {"content.usage", BR_ROLE_ADMIN},
	        {"content.leases.create", BR_ROLE_ADMIN},
	        {"content.leases.delete", BR_ROLE_ADMIN},
	        {"snapshots.prepare", BR_ROLE_ADMIN},
	        {"snapshots.commit", BR_ROLE_ADMIN},
	        {"snapshots.remove", BR_ROLE_ADMIN},
	        {"snapshots.gc", BR_ROLE_ADMIN},
	        {"snapshots.usage", BR_ROLE_ADMIN},
	        {"snapshots.leases.put", BR_ROLE_ADMIN},
	        {"networks.attach", BR_ROLE_ADMIN},
	        {"networks.detach", BR_ROLE_ADMIN},
	        {"namespaces.create", BR_ROLE_ADMIN},
	        {"namespaces.delete", BR_ROLE_ADMIN},
	        {"events.publish", BR_ROLE_ADMIN},
	        {"content.some_new_verb", BR_ROLE_ADMIN},
	        {"nosuch.service", BR_ROLE_ADMIN},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum br_role got = br_gateway_method_role(cases[i].method, NULL);
		if (got != cases[i].role)
			T_FAIL_("%s needs role %s, not %s", cases[i].method,
			        br_role_name(cases[i].role), br_role_name(got));
	}
	T_EQ_STR(br_gateway_route("volumes.create"), "taskd");
	T_OK(br_gateway_is_root_only("events.publish"));
	T_OK(!br_gateway_is_root_only("events.subscribe"));
	T_OK(!br_gateway_is_root_only("namespaces.delete"));
}

/* The writes of the stores are root's whatever the role: blobs are shared by every namespace,
 * so an admin of one must not delete or plant them. Their leases belong to a namespace and
 * stay with the roles; reads too. */
static void
test_store_writes_are_root_only(void)
{
	static const char *const root_only[] = {
	        "content.write",
	        "content.delete",
	        "content.abort",
	        "content.gc",
	        "snapshots.prepare",
	        "snapshots.view",
	        "snapshots.commit",
	        "snapshots.remove",
	        "snapshots.gc",
	        "content.some_new_verb",
	        "snapshots.some_new_verb",
	};
	static const char *const not_store_writes[] = {
	        "content.info",
	        "content.list",
	        "content.read",
	        "content.status",
	        "content.usage",
	        "snapshots.stat",
	        "snapshots.list",
	        "snapshots.mounts",
	        "snapshots.usage",
	        "content.leases.create",
	        "content.leases.put",
	        "content.leases.delete",
	        "content.leases.add",
	        "content.leases.remove",
	        "content.leases.list",
	        "snapshots.leases.put",
	        "snapshots.leases.delete",
	        "snapshots.leases.add",
	        "images.remove",
	        "images.import",
	        "containers.delete",
	        "namespaces.delete",
	        "events.publish",
	        "contentx.write",
	};

	for (size_t i = 0; i < sizeof(root_only) / sizeof(root_only[0]); i++) {
		if (!br_gateway_is_store_write(root_only[i]))
			T_FAIL_("%s is a write of the stores", root_only[i]);
		if (!br_gateway_is_root_only(root_only[i]))
			T_FAIL_("%s is for root alone", root_only[i]);
		/* what the role table says of them stays admin (root is admin everywhere) */
		T_EQ_INT(br_gateway_method_role(root_only[i], NULL), BR_ROLE_ADMIN);
	}
	for (size_t i = 0; i < sizeof(not_store_writes) / sizeof(not_store_writes[0]); i++) {
		if (br_gateway_is_store_write(not_store_writes[i]))
			T_FAIL_("%s is no write of the stores", not_store_writes[i]);
	}
	T_OK(!br_gateway_is_root_only("content.leases.delete"));
	T_OK(!br_gateway_is_root_only("snapshots.leases.put"));
	T_OK(!br_gateway_is_root_only("content.read"));
}

/* A view of one namespace is a read; the same method over all of them is the admin's. */
static void
test_views_of_every_namespace(void)
{
	struct params p;

	T_EQ_INT(br_gateway_method_role("snapshots.usage",
	                                params_new(&p, "key", "berth.layer.x", 0)),
	         BR_ROLE_READ);
	params_free(&p);
	T_EQ_INT(br_gateway_method_role("snapshots.usage", params_new(&p, "key", "", 0)),
	         BR_ROLE_ADMIN);
	params_free(&p);
	T_EQ_INT(br_gateway_method_role("content.leases.list",
	                                params_new(&p, "all_namespaces", NULL, 1)),
	         BR_ROLE_ADMIN);
	params_free(&p);
	T_EQ_INT(br_gateway_method_role("snapshots.leases.list",
	                                params_new(&p, "all_namespaces", NULL, 1)),
	         BR_ROLE_ADMIN);
	params_free(&p);
	T_EQ_INT(br_gateway_method_role("content.leases.list",
	                                params_new(&p, "all_namespaces", NULL, 0)),
	         BR_ROLE_READ);
	params_free(&p);
	/* Not a boolean: the store refuses the request, the gateway need not know better. */
	T_EQ_INT(br_gateway_method_role("content.leases.list",
	                                params_new(&p, "all_namespaces", "yes", 0)),
	         BR_ROLE_READ);
	params_free(&p);
}

/* containers.create that reaches into the host (privileged, devices, bind mounts) is the
 * admin's; with volumes, tmpfs mounts and limits it stays the user's. */
static const msgpack_object *
create_params(struct params *p, const char *what)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	br_msg_pack_str(&pk, "image");
	br_msg_pack_str(&pk, "busybox");
	if (strcmp(what, "privileged") == 0) {
		br_msg_pack_str(&pk, "privileged");
		msgpack_pack_true(&pk);
	} else if (strcmp(what, "unprivileged") == 0) {
		br_msg_pack_str(&pk, "privileged");
		msgpack_pack_false(&pk);
	} else if (strcmp(what, "devices") == 0) {
		br_msg_pack_str(&pk, "devices");
		msgpack_pack_array(&pk, 1);
		msgpack_pack_map(&pk, 1);
		br_msg_pack_str(&pk, "host_path");
		br_msg_pack_str(&pk, "/dev/null");
	} else {
		/* "bind", "volume", "tmpfs": a named volume first, then a mount of that type */
		br_msg_pack_str(&pk, "mounts");
		msgpack_pack_array(&pk, 2);
		msgpack_pack_map(&pk, 1);
		br_msg_pack_str(&pk, "type");
		br_msg_pack_str(&pk, "volume");
		msgpack_pack_map(&pk, 2);
		br_msg_pack_str(&pk, "target");
		br_msg_pack_str(&pk, "/x");
		br_msg_pack_str(&pk, "type");
		br_msg_pack_str(&pk, what);
	}
	msgpack_unpacked_init(&p->up);
	T_OK(msgpack_unpack_next(&p->up, p->sb.data, p->sb.size, NULL) == MSGPACK_UNPACK_SUCCESS);
	return &p->up.data;
}

static void
test_host_access_is_admin(void)
{
	static const struct {
		const char *what;
		enum br_role role;
	} cases[] = {
	        {"privileged", BR_ROLE_ADMIN},  {"devices", BR_ROLE_ADMIN}, {"bind", BR_ROLE_ADMIN},
	        {"unprivileged", BR_ROLE_USER}, {"volume", BR_ROLE_USER},   {"tmpfs", BR_ROLE_USER},
	};
	struct params p;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum br_role got = br_gateway_method_role("containers.create",
		                                          create_params(&p, cases[i].what));
		params_free(&p);
		if (got != cases[i].role)
			T_FAIL_("containers.create with %s needs role %s, not %s", cases[i].what,
			        br_role_name(cases[i].role), br_role_name(got));
	}
	/* the same params on another method change nothing */
	T_EQ_INT(br_gateway_method_role("containers.delete", create_params(&p, "privileged")),
	         BR_ROLE_USER);
	params_free(&p);
}

/* ---- deadlines ---- */

/* An envelope {"v":1, "m":"a.b", "deadline_ms": <d>} with d packed as given. */
static void
decode_deadline(bool negative, uint64_t magnitude, struct br_request *ret, br_arena *a)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	br_err err = BR_ERR_INIT;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	br_msg_pack_str(&pk, "v");
	msgpack_pack_int(&pk, 1);
	br_msg_pack_str(&pk, "m");
	br_msg_pack_str(&pk, "a.b");
	br_msg_pack_str(&pk, "deadline_ms");
	if (negative)
		msgpack_pack_int64(&pk, magnitude > INT64_MAX ? INT64_MIN : -(int64_t)magnitude);
	else
		msgpack_pack_uint64(&pk, magnitude);
	T_NOERR(br_request_decode(sb.data, sb.size, a, ret, &err), err);
	msgpack_sbuffer_destroy(&sb);
}

/* Whatever a caller writes, now + deadline stays far from overflowing. */
static void
test_deadline_cannot_overflow(void)
{
	br_arena *a = br_arena_new();
	struct br_request r;
	const int64_t year_ms = 366LL * 24 * 3600 * 1000;

	decode_deadline(false, UINT64_MAX, &r, a);
	T_EQ_INT(r.deadline_ms, year_ms);
	T_OK(br_now_ms() + r.deadline_ms > br_now_ms());
	decode_deadline(false, (uint64_t)INT64_MAX, &r, a);
	T_EQ_INT(r.deadline_ms, year_ms);
	decode_deadline(false, 5000, &r, a);
	T_EQ_INT(r.deadline_ms, 5000);
	decode_deadline(true, (uint64_t)INT64_MAX + 1, &r, a);
	T_EQ_INT(r.deadline_ms, -1);
	decode_deadline(true, 1, &r, a);
	T_EQ_INT(r.deadline_ms, -1);
	br_arena_free(a);
}

/* ---- log lines ---- */

/* What br_log_write(level info, id, "%s", msg) writes to stderr, in `format`. */
static char *
log_output(enum br_log_format format, const char *msg)
{
	char path[] = "/tmp/berth-log-XXXXXX";
	int fd = mkstemp(path);
	int saved = dup(STDERR_FILENO);
	static char buf[16384];
	ssize_t n;

	T_OK(fd >= 0 && saved >= 0);
	unlink(path);
	br_log_init("berth-test", BR_LOG_INFO, format);
	T_OK(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	br_log_write(BR_LOG_INFO, "TEST-ID", "name %s refused", msg);
	T_OK(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	T_OK(n > 0);
	buf[n] = '\0';
	return buf;
}

/* The message part of a text line: after "id: ", without the final newline, which must be
 * the only one. */
static const char *
text_message(const char *line)
{
	const char *msg = strstr(line, "TEST-ID: ");
	size_t len = strlen(line);

	T_NOT_NULL(msg);
	T_OK(len > 0 && line[len - 1] == '\n');
	T_OK(strchr(line, '\n') == line + len - 1);
	((char *)line)[len - 1] = '\0';
	return msg + strlen("TEST-ID: ");
}

static void
test_log_escapes_controls(void)
{
	/* A forged second line, with a terminal escape to hide the first. */
	const char *forged = "x\nberth-gatewayd[1]: notice GW-OK: all is well\x1b[2K\r\t\x7f";

	T_EQ_STR(text_message(log_output(BR_LOG_TEXT, forged)),
	         "name x\\nberth-gatewayd[1]: notice GW-OK: all is well\\x1b[2K\\r\\t\\x7f "
	         "refused");
	T_EQ_STR(text_message(log_output(BR_LOG_TEXT, "\x01\x1f")), "name \\x01\\x1f refused");
}

static void
test_log_keeps_utf8_readable(void)
{
	/* Valid UTF-8 as it is; a backslash too. */
	T_EQ_STR(text_message(log_output(BR_LOG_TEXT,
	                                 "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x90\xb3 a\\b")),
	         "name h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x90\xb3 a\\b refused");
	/* Bytes that are not UTF-8: a stray continuation, an overlong '/', a surrogate, a cut
	 * sequence, past U+10FFFF. */
	T_EQ_STR(text_message(log_output(
	                 BR_LOG_TEXT, "\x80|\xc0\xaf|\xed\xa0\x80|\xe2\x9c|\xf4\x90\x80\x80|\xff")),
	         "name \\x80|\\xc0\\xaf|\\xed\\xa0\\x80|\\xe2\\x9c|\\xf4\\x90\\x80\\x80|\\xff "
	         "refused");
	/* Valid characters that act on the display: C1 CSI, the line separator, a right-to-left
	 * override. */
	T_EQ_STR(text_message(log_output(BR_LOG_TEXT, "\xc2\x9b"
	                                              "31m|\xe2\x80\xa8|\xe2\x80\xae"
	                                              "gnp.exe")),
	         "name \\u009b31m|\\u2028|\\u202egnp.exe refused");
}

/* The JSON format escapes the same way, so the message reads the same in both, and stays
 * valid JSON whatever the bytes. */
static void
test_log_json(void)
{
	const char *out = log_output(BR_LOG_JSON, "a\n\x1b[31m\xff\"q\"");
	yajl_val tree = NULL;
	const char *msg = NULL;
	br_err err = BR_ERR_INIT;

	T_OK(strchr(out, '\n') == out + strlen(out) - 1);
	T_NOERR(br_json_parse(out, strlen(out), 16384, "log line", &tree, &err), err);
	T_NOERR(br_json_get_str(tree, "log line", "msg", true, &msg, &err), err);
	T_EQ_STR(msg, "name a\\n\\x1b[31m\\xff\"q\" refused");
	yajl_tree_free(tree);
}

/* A message longer than the escape buffer is cut between escapes, never inside one. */
static void
test_log_long_message(void)
{
	static char big[3000];

	memset(big, '\x1b', sizeof(big) - 1);
	const char *msg = text_message(log_output(BR_LOG_TEXT, big));
	size_t len = strlen(msg);
	T_OK(len > 4000 && len < 4096);
	T_OK((len - strlen("name ")) % 4 == 0);
}

T_MAIN(T_CASE(test_method_roles), T_CASE(test_store_writes_are_root_only),
       T_CASE(test_views_of_every_namespace), T_CASE(test_host_access_is_admin),
       T_CASE(test_deadline_cannot_overflow), T_CASE(test_log_escapes_controls),
       T_CASE(test_log_keeps_utf8_readable), T_CASE(test_log_json), T_CASE(test_log_long_message))
