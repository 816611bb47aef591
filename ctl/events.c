/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth events: follow the event log like `docker events`. It long-polls events.subscribe,
 * prints each event once, in order, and when the gateway goes away (a restart) it calls
 * again from the last sequence number it printed, so nothing is lost or repeated. Without
 * --until it follows until interrupted; with --until it stops there.
 *
 * --since and --until take a sequence number (digits only), a time (RFC 3339, as printed:
 * 2026-11-27T14:04:08.123456789Z, or with an offset), a Unix time ("@1795788248", fractions
 * allowed) or a duration before now ("10m", "1h30m", "45s").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/events.h"
#include "ctl/ctl.h"

#define WAIT_MS 20000     /* one long poll */
#define CALL_MIN_MS 30000 /* its deadline */
#define RETRY_MS 250      /* between calls while the gateway is away */
#define NS_PER_S 1000000000LL

/* "1h30m", "45s", "500ms", "2d": nanoseconds, or -1. */
static int64_t
parse_duration(const char *s)
{
	int64_t total = 0;

	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		char *end = NULL;
		errno = 0;
		double v = strtod(s, &end);
		if (errno != 0 || end == s || v < 0)
			return -1;
		int64_t unit;
		if (strncmp(end, "ms", 2) == 0) {
			unit = 1000000;
			end += 2;
		} else if (*end == 's') {
			unit = NS_PER_S;
			end++;
		} else if (*end == 'm') {
			unit = 60 * NS_PER_S;
			end++;
		} else if (*end == 'h') {
			unit = 3600 * NS_PER_S;
			end++;
		} else if (*end == 'd') {
			unit = 86400 * NS_PER_S;
			end++;
		} else {
			return -1;
		}
		if (v * (double)unit > 9.0e18)
			return -1;
		total += (int64_t)(v * (double)unit);
		s = end;
	}
	return total;
}

/* RFC 3339: "2026-11-27T14:04:08Z", with optional fraction and "Z" or "+hh:mm": ns. */
static int
parse_rfc3339(const char *s, int64_t *ret)
{
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	int64_t frac = 0;

	if (p == NULL)
		return -1;
	if (*p == '.') {
		int64_t scale = 100000000;
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		for (; isdigit((unsigned char)*p); p++) {
			frac += (*p - '0') * scale;
			scale /= 10;
		}
	}
	int64_t offset = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1;
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) || p[3] != ':' ||
		    !isdigit((unsigned char)p[4]) || !isdigit((unsigned char)p[5]))
			return -1;
		offset = sign * (((p[1] - '0') * 10 + (p[2] - '0')) * 3600 +
		                 ((p[4] - '0') * 10 + (p[5] - '0')) * 60);
		p += 6;
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;
	time_t t = timegm(&tm);
	*ret = ((int64_t)t - offset) * NS_PER_S + frac;
	return 0;
}

int
ctl_parse_event_bound(const char *s, int64_t now_ns, struct ctl_event_bound *ret, br_err *err)
{
	const char *p = s;

	*ret = (struct ctl_event_bound){0};
	while (isdigit((unsigned char)*p))
		p++;
	if (p != s && *p == '\0' && p - s <= 18) {
		ret->seq = strtoll(s, NULL, 10);
		ret->is_seq = true;
		return 0;
	}
	if (s[0] == '@') {
		char *end = NULL;
		errno = 0;
		double v = strtod(s + 1, &end);
		if (errno == 0 && end != s + 1 && *end == '\0' && v > 0 && v < 9.0e9) {
			ret->time = (int64_t)(v * (double)NS_PER_S);
			return 0;
		}
	} else if (parse_rfc3339(s, &ret->time) == 0 && ret->time > 0) {
		return 0;
	} else {
		int64_t d = parse_duration(s);
		if (d >= 0 && d < now_ns) {
			ret->time = now_ns - d;
			return 0;
		}
	}
	return br_err_set(err, BR_INVALID_ARGUMENT,
	                  "\"%s\" is neither a sequence number, a time (2026-11-27T14:04:08Z, "
	                  "@UNIXTIME) nor a duration (10m, 1h30m)",
	                  s);
}

/* 2026-11-27T14:04:08.123456789Z */
void
ctl_format_time_ns(int64_t ns, char *buf, size_t cap)
{
	time_t t = (time_t)(ns / NS_PER_S);
	struct tm tm;
	char date[32];

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, cap, "%s.%09lldZ", date, (long long)(ns % NS_PER_S));
}

/* The payload as " key=value" pairs: scalars as they are, anything nested as JSON. */
static void
print_payload_text(const msgpack_object *o)
{
	if (o->type != MSGPACK_OBJECT_MAP)
		return;
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		const msgpack_object *v = &o->via.map.ptr[i].val;
		if (k->type != MSGPACK_OBJECT_STR)
			continue;
		printf(" %.*s=", (int)k->via.str.size, k->via.str.ptr);
		if (v->type == MSGPACK_OBJECT_STR) {
			printf("%.*s", (int)v->via.str.size, v->via.str.ptr);
		} else {
			yajl_gen g = br_json_gen_new();
			br_json_gen_msgpack(g, v);
			_cleanup_free_ char *s = br_json_gen_take(g, NULL);
			yajl_gen_free(g);
			fputs(s, stdout);
		}
	}
}

static void
print_event(const struct ctl *ctl, const struct br_event *e, br_arena *arena)
{
	msgpack_object payload = {.type = MSGPACK_OBJECT_NIL};
	br_err err = BR_ERR_INIT;
	char when[64];

	if (e->payload.len > 0)
		br_msg_unpack(e->payload.data, e->payload.len, arena, &payload, &err);
	ctl_format_time_ns(e->time, when, sizeof(when));
	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "seq", e->seq);
		br_json_gen_kv_str(g, "time", when);
		br_json_gen_kv_int(g, "time_ns", e->time);
		br_json_gen_kv_str(g, "namespace", e->ns);
		br_json_gen_kv_str(g, "topic", e->topic);
		br_json_gen_str(g, "payload");
		if (payload.type == MSGPACK_OBJECT_MAP)
			br_json_gen_msgpack(g, &payload);
		else
			yajl_gen_null(g);
		yajl_gen_map_close(g);
		ctl_print_json(g);
	} else {
		printf("%s %lld %s %s", when, (long long)e->seq, e->ns, e->topic);
		print_payload_text(&payload);
		putchar('\n');
	}
	fflush(stdout);
}

/* --filter topic=/tasks/,namespace=x (repeatable). */
static int
add_filter(const char *arg, struct br_strlist *topics, struct br_strlist *nss, br_arena *arena,
           br_err *err)
{
	_cleanup_free_ char *copy = strdup(arg);
	char *save = NULL;

	for (char *kv = strtok_r(copy, ",", &save); kv != NULL; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (eq == NULL || eq[1] == '\0')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "invalid --filter \"%s\": expected topic=PREFIX or "
			                  "namespace=NAME",
			                  kv);
		*eq = '\0';
		struct br_strlist *l;
		if (strcmp(kv, "topic") == 0 || strcmp(kv, "type") == 0)
			l = topics;
		else if (strcmp(kv, "namespace") == 0 || strcmp(kv, "ns") == 0)
			l = nss;
		else
			return br_err_set(
			        err, BR_INVALID_ARGUMENT,
			        "invalid --filter \"%s\": filters are topic and namespace", kv);
		if (l->n >= BR_EVENTS_FILTERS_MAX)
			return br_err_set(err, BR_INVALID_ARGUMENT, "more than %d %s filters",
			                  BR_EVENTS_FILTERS_MAX, kv);
		const char **v = br_arena_alloc(arena, (l->n + 1) * sizeof(*v));
		if (l->n > 0)
			memcpy(v, l->v, l->n * sizeof(*v));
		v[l->n++] = br_arena_strdup(arena, eq + 1);
		l->v = v;
	}
	return 0;
}

static const char events_usage[] =
        "Usage: berth events [--since SEQ|TIME] [--until SEQ|TIME] [--filter KEY=VALUE]...\n"
        "\n"
        "Follow the event log. Without --since, only events from now on; without --until,\n"
        "until interrupted. SEQ is a sequence number (the event after it comes first); TIME\n"
        "is RFC 3339 (2026-11-27T14:04:08Z), @UNIXTIME or a duration before now (10m, 2h).\n"
        "\n"
        "Options:\n"
        "  --since SEQ|TIME        start after sequence number SEQ, or at TIME\n"
        "  --until SEQ|TIME        stop after sequence number SEQ, or at TIME\n"
        "  -f, --filter KEY=VALUE  topic=PREFIX (/tasks/, /images/create) or namespace=NAME;\n"
        "                          repeat or separate with commas\n"
        "  --format table|json     one line per event, or one JSON object per line\n";

static bool
transient(br_code code)
{
	return code == BR_UNAVAILABLE || code == BR_DEADLINE_EXCEEDED || code == BR_CANCELED;
}

int
ctl_cmd_events(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_(br_arena_freep) br_arena *keep = br_arena_new();
	struct br_events_subscribe_req req = {.tail = true, .wait_ms = WAIT_MS};
	int64_t now = ctl_now_ms() * 1000000;
	br_err err = BR_ERR_INIT;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		struct ctl_event_bound b;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(events_usage, stdout);
			return 0;
		} else if (strcmp(a, "--since") == 0 || strcmp(a, "--until") == 0) {
			if (val == NULL)
				return ctl_usage_error("option %s needs a value", a);
			if (ctl_parse_event_bound(val, now, &b, &err) < 0)
				return ctl_usage_error("invalid %s: %s", a, err.msg);
			if (a[2] == 's') {
				req.tail = false;
				req.after = b.is_seq ? b.seq : 0;
				req.since = b.is_seq ? 0 : b.time;
			} else {
				req.until_seq = b.is_seq ? b.seq : 0;
				req.until = b.is_seq ? 0 : b.time;
				if (b.is_seq && b.seq == 0)
					return ctl_usage_error(
					        "invalid --until 0: no event comes before 1");
			}
			i++;
		} else if (strcmp(a, "-f") == 0 || strcmp(a, "--filter") == 0) {
			if (val == NULL)
				return ctl_usage_error("option %s needs a value", a);
			if (add_filter(val, &req.topics, &req.namespaces, keep, &err) < 0)
				return ctl_usage_error("%s", err.msg);
			i++;
		} else if (strcmp(a, "--format") == 0) {
			if (ctl_set_format(ctl, val) != 0)
				return CTL_EXIT_USAGE;
			i++;
		} else {
			return ctl_usage_error("events: unexpected argument %s", a);
		}
	}

	for (;;) {
		_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
		struct br_event_page page;
		if (ctl_call(ctl, "events.subscribe", &br_events_subscribe_req_schema, &req,
		             &br_event_page_schema, &page, arena, CALL_MIN_MS, &err) < 0) {
			if (!transient(err.code))
				return ctl_report(&err);
			/* The gateway restarts: ask again from where we were. */
			err = (br_err)BR_ERR_INIT;
			usleep(RETRY_MS * 1000);
			continue;
		}
		const struct br_event *evs = page.events.v;
		for (size_t i = 0; i < page.events.n; i++)
			print_event(ctl, &evs[i], arena);
		if (page.done)
			return 0;
		/* From here on, resume by sequence number. */
		req.tail = false;
		req.since = 0;
		req.after = page.next;
	}
}
