/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of common/metrics.c and of the figures daemons report with it: the text
 * exposition format (HELP and TYPE lines, escaping, number forms, histograms with cumulative
 * buckets), the checks every add makes and the limits of a set, the wire form's round trip
 * and merging with a "daemon" label, the refusal of malformed wire input, and daemon.metrics
 * of a real daemon (common/daemon.c on a thread of this process) counting calls, errors by
 * code and latency per method (common/rpc_server.c).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "common/cleanup.h"
#include "common/daemon.h"
#include "common/metrics.h"
#include "common/xalloc.h"
#include "test/unit/t.h"

#define T_EQ_TEXT(m, want)                                                                    \
	do {                                                                                  \
		_cleanup_free_ char *t_text_ = br_metrics_render((m), NULL);                  \
		if (strcmp(t_text_, (want)) != 0)                                             \
			T_FAIL_("rendered:\n%s\nwanted:\n%s", t_text_, (const char *)(want)); \
	} while (0)

#define T_CONTAINS(s, sub)                                                       \
	do {                                                                     \
		const char *t_s_ = (s), *t_sub_ = (sub);                         \
		if (strstr(t_s_, t_sub_) == NULL)                                \
			T_FAIL_("\"%s\" does not contain \"%s\"", t_s_, t_sub_); \
	} while (0)

static double
value_of(const struct br_metrics *m, const char *name, const char *const *labels)
{
	double v = NAN;
	br_err err = BR_ERR_INIT;

	if (br_metrics_value(m, name, labels, &v, &err) < 0)
		T_FAIL_("%s", err.msg);
	return v;
}

/* ---- the text format ---- */

static void
test_render(void)
{
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	br_err err = BR_ERR_INIT;

	T_NOERR(br_metrics_gauge(m, "berth_images", "Image records.", NULL, 3, &err), err);
	T_NOERR(br_metrics_counter(m, "berth_rpc_calls_total", "Calls.",
	                           BR_LABELS("method", "images.pull"), 12, &err),
	        err);
	T_NOERR(br_metrics_counter(m, "berth_rpc_calls_total", "ignored: the first help stays",
	                           BR_LABELS("method", "images.list"), 1, &err),
	        err);
	T_NOERR(br_metrics_gauge(m, "berth_containers", "Containers, by state.",
	                         BR_LABELS("state", "running", "daemon", "taskd"), 2, &err),
	        err);
	/* Families come out sorted by name, samples in the order they were added. */
	T_EQ_TEXT(m, "# HELP berth_containers Containers, by state.\n"
	             "# TYPE berth_containers gauge\n"
	             "berth_containers{state=\"running\",daemon=\"taskd\"} 2\n"
	             "# HELP berth_images Image records.\n"
	             "# TYPE berth_images gauge\n"
	             "berth_images 3\n"
	             "# HELP berth_rpc_calls_total Calls.\n"
	             "# TYPE berth_rpc_calls_total counter\n"
	             "berth_rpc_calls_total{method=\"images.pull\"} 12\n"
	             "berth_rpc_calls_total{method=\"images.list\"} 1\n");

	/* The same series again replaces its value, whatever the order of its labels. */
	T_NOERR(br_metrics_gauge(m, "berth_containers", "",
	                         BR_LABELS("daemon", "taskd", "state", "running"), 5, &err),
	        err);
	T_OK(value_of(m, "berth_containers", BR_LABELS("state", "running", "daemon", "taskd")) ==
	     5);
	_cleanup_free_ char *text = br_metrics_render(m, NULL);
	T_CONTAINS(text, "berth_containers{state=\"running\",daemon=\"taskd\"} 5\n");
	T_OK(strstr(text, "} 2\n") == NULL);

	/* An empty set renders as nothing at all. */
	_cleanup_(br_metrics_freep) struct br_metrics *empty = br_metrics_new();
	T_EQ_TEXT(empty, "");
}

static void
test_escaping(void)
{
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	br_err err = BR_ERR_INIT;

	T_NOERR(br_metrics_gauge(m, "x", "a \\ back\nslash and \"quotes\"",
	                         BR_LABELS("path", "C:\\dir\n\"q\"", "utf8", "caf\xc3\xa9"), 1,
	                         &err),
	        err);
	/* Help escapes backslash and newline; label values also double quotes. */
	T_EQ_TEXT(m, "# HELP x a \\\\ back\\nslash and \"quotes\"\n"
	             "# TYPE x gauge\n"
	             "x{path=\"C:\\\\dir\\n\\\"q\\\"\",utf8=\"caf\xc3\xa9\"} 1\n");
}

static void
test_numbers(void)
{
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	br_err err = BR_ERR_INIT;
	static const struct {
		const char *label;
		double value;
		const char *text;
	} cases[] = {
	        {"zero", 0, "0"},
	        {"negzero", -0.0, "0"},
	        {"int", 1234567, "1234567"},
	        {"big", 9007199254740993.0, "9007199254740992"},
	        {"tenth", 0.1, "0.1"},
	        {"neg", -2.5, "-2.5"},
	        {"third", 1.0 / 3, "0.33333333333333331"},
	        {"nan", NAN, "NaN"},
	        {"inf", INFINITY, "+Inf"},
	        {"ninf", -INFINITY, "-Inf"},
	        {"huge", 1e300, "1e+300"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		T_NOERR(br_metrics_gauge(m, "n", "Numbers.", BR_LABELS("c", cases[i].label),
		                         cases[i].value, &err),
		        err);
	_cleanup_free_ char *text = br_metrics_render(m, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char line[128];
		snprintf(line, sizeof(line), "n{c=\"%s\"} %s\n", cases[i].label, cases[i].text);
		T_CONTAINS(text, line);
	}
}

static void
test_histogram(void)
{
	static const double bounds[] = {0.25, 0.5, 1, 2.5};
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	struct br_histogram h;
	br_err err = BR_ERR_INIT;

	br_histogram_init(&h, bounds, 4);
	br_histogram_observe(&h, 0.125);
	br_histogram_observe(&h, 0.25); /* a bound is in its own bucket (le: less or equal) */
	br_histogram_observe(&h, 0.75);
	br_histogram_observe(&h, 3);
	br_histogram_observe(&h, 100);
	br_histogram_observe(&h, NAN); /* ignored */
	T_EQ_INT(h.count, 5);
	T_NOERR(br_metrics_histogram(m, "lat_seconds", "Latency.", BR_LABELS("method", "a.b"), &h,
	                             &err),
	        err);
	br_histogram_init(&h, bounds, 4);
	T_NOERR(br_metrics_histogram(m, "lat_seconds", "", NULL, &h, &err), err);
	T_EQ_TEXT(m, "# HELP lat_seconds Latency.\n"
	             "# TYPE lat_seconds histogram\n"
	             "lat_seconds_bucket{method=\"a.b\",le=\"0.25\"} 2\n"
	             "lat_seconds_bucket{method=\"a.b\",le=\"0.5\"} 2\n"
	             "lat_seconds_bucket{method=\"a.b\",le=\"1\"} 3\n"
	             "lat_seconds_bucket{method=\"a.b\",le=\"2.5\"} 3\n"
	             "lat_seconds_bucket{method=\"a.b\",le=\"+Inf\"} 5\n"
	             "lat_seconds_sum{method=\"a.b\"} 104.125\n"
	             "lat_seconds_count{method=\"a.b\"} 5\n"
	             "lat_seconds_bucket{le=\"0.25\"} 0\n"
	             "lat_seconds_bucket{le=\"0.5\"} 0\n"
	             "lat_seconds_bucket{le=\"1\"} 0\n"
	             "lat_seconds_bucket{le=\"2.5\"} 0\n"
	             "lat_seconds_bucket{le=\"+Inf\"} 0\n"
	             "lat_seconds_sum 0\n"
	             "lat_seconds_count 0\n");

	/* The latency bounds of the RPC server are valid bounds. */
	br_histogram_init(&h, br_latency_bounds, BR_LATENCY_BOUNDS_N);
	br_histogram_observe(&h, 0.0002);
	T_NOERR(br_metrics_histogram(m, "berth_rpc_call_duration_seconds", "x", NULL, &h, &err),
	        err);
}

/* ---- checks and limits ---- */

static void
test_refusals(void)
{
	static const double bounds[] = {1, 2};
	static const double other_bounds[] = {1, 3};
	static const double descending[] = {2, 1};
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	struct br_histogram h;
	br_err err = BR_ERR_INIT;
	char long_value[BR_METRICS_VALUE_MAX + 2];

	T_ERR(br_metrics_gauge(m, "", "", NULL, 1, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "9lives", "", NULL, 1, &err), err, BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "has-dash", "", NULL, 1, &err), err, BR_INVALID_ARGUMENT);
	T_NOERR(br_metrics_gauge(m, "ns:with_colon", "", NULL, 1, &err), err);
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("a:b", "v"), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("__name__", "v"), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("a", "1", "a", "2"), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("a", "\xff"), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("a", "\xed\xa0\x80"), 1, &err), err,
	      BR_INVALID_ARGUMENT); /* a surrogate */
	T_ERR(br_metrics_gauge(m, "x", "\xc0\xaf", NULL, 1, &err), err,
	      BR_INVALID_ARGUMENT); /* an overlong form */
	memset(long_value, 'v', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	T_ERR(br_metrics_gauge(m, "x", "", BR_LABELS("a", long_value), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	const char *odd[] = {"a", "1", "b", NULL};
	T_ERR(br_metrics_gauge(m, "x", "", odd, 1, &err), err, BR_INVALID_ARGUMENT);

	/* One name, one type; one histogram family, one set of bounds. */
	T_NOERR(br_metrics_gauge(m, "x", "", NULL, 1, &err), err);
	T_ERR(br_metrics_counter(m, "x", "", BR_LABELS("a", "b"), 1, &err), err,
	      BR_INVALID_ARGUMENT);
	br_histogram_init(&h, bounds, 2);
	T_ERR(br_metrics_histogram(m, "x", "", NULL, &h, &err), err, BR_INVALID_ARGUMENT);
	T_NOERR(br_metrics_histogram(m, "h", "", NULL, &h, &err), err);
	T_ERR(br_metrics_histogram(m, "h", "", BR_LABELS("le", "1"), &h, &err), err,
	      BR_INVALID_ARGUMENT);
	br_histogram_init(&h, other_bounds, 2);
	T_ERR(br_metrics_histogram(m, "h", "", BR_LABELS("a", "b"), &h, &err), err,
	      BR_INVALID_ARGUMENT);
	br_histogram_init(&h, descending, 2);
	T_ERR(br_metrics_histogram(m, "h2", "", NULL, &h, &err), err, BR_INVALID_ARGUMENT);
	br_histogram_init(&h, bounds, 2);
	h.count = 1; /* the buckets say 0 */
	T_ERR(br_metrics_histogram(m, "h3", "", NULL, &h, &err), err, BR_INVALID_ARGUMENT);

	/* What was refused left no trace. */
	_cleanup_free_ char *text = br_metrics_render(m, NULL);
	T_OK(strstr(text, "h2") == NULL && strstr(text, "h3") == NULL);
	T_OK(strstr(text, "x{") == NULL);
}

static void
test_limits(void)
{
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	br_err err = BR_ERR_INIT;
	char name[32], value[32];

	for (int i = 0; i < BR_METRICS_FAMILIES_MAX; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		T_NOERR(br_metrics_gauge(m, name, "", NULL, i, &err), err);
	}
	T_ERR(br_metrics_gauge(m, "one_more", "", NULL, 1, &err), err, BR_RESOURCE_EXHAUSTED);
	/* An existing family still takes samples, up to the samples' limit. */
	for (int i = BR_METRICS_FAMILIES_MAX; i < BR_METRICS_SAMPLES_MAX; i++) {
		snprintf(value, sizeof(value), "%d", i);
		T_NOERR(br_metrics_gauge(m, "f0", "", BR_LABELS("i", value), i, &err), err);
	}
	T_ERR(br_metrics_gauge(m, "f0", "", BR_LABELS("i", "last"), 1, &err), err,
	      BR_RESOURCE_EXHAUSTED);
	/* Replacing a sample is no new sample. */
	T_NOERR(br_metrics_gauge(m, "f0", "", BR_LABELS("i", "300"), 7, &err), err);

	static const char *const names[] = {"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8"};
	const char *many[2 * (BR_METRICS_LABELS_MAX + 1) + 1];
	_Static_assert(sizeof(names) / sizeof(names[0]) == BR_METRICS_LABELS_MAX + 1, "names");
	for (int i = 0; i <= BR_METRICS_LABELS_MAX; i++) {
		many[2 * i] = names[i];
		many[2 * i + 1] = "v";
	}
	many[2 * (BR_METRICS_LABELS_MAX + 1)] = NULL;
	_cleanup_(br_metrics_freep) struct br_metrics *m2 = br_metrics_new();
	T_ERR(br_metrics_gauge(m2, "x", "", many, 1, &err), err, BR_RESOURCE_EXHAUSTED);
	many[2 * BR_METRICS_LABELS_MAX] = NULL;
	T_NOERR(br_metrics_gauge(m2, "x", "", many, 1, &err), err);
}

/* ---- the wire form ---- */

/* Pack `m` and unpack it again into a new set. */
static struct br_metrics *
round_trip(const struct br_metrics *m)
{
	struct br_metrics *out = br_metrics_new();
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object obj;
	br_err err = BR_ERR_INIT;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_metrics_pack(&pk, m);
	T_NOERR(br_msg_unpack(sb.data, sb.size, arena, &obj, &err), err);
	T_NOERR(br_metrics_unpack(&obj, out, &err), err);
	msgpack_sbuffer_destroy(&sb);
	return out;
}

static void
test_wire_and_merge(void)
{
	static const double bounds[] = {0.5, 1};
	_cleanup_(br_metrics_freep) struct br_metrics *taskd = br_metrics_new();
	_cleanup_(br_metrics_freep) struct br_metrics *gw = br_metrics_new();
	_cleanup_(br_metrics_freep) struct br_metrics *all = br_metrics_new();
	struct br_histogram h;
	br_err err = BR_ERR_INIT;

	br_histogram_init(&h, bounds, 2);
	br_histogram_observe(&h, 0.25);
	br_histogram_observe(&h, 0.75);
	T_NOERR(br_metrics_counter(taskd, "berth_rpc_calls_total", "Calls.",
	                           BR_LABELS("method", "tasks.start"), 4, &err),
	        err);
	T_NOERR(br_metrics_histogram(taskd, "d_seconds", "D.", BR_LABELS("method", "tasks.start"),
	                             &h, &err),
	        err);
	T_NOERR(br_metrics_gauge(taskd, "berth_containers", "C.", BR_LABELS("state", "running"), 1,
	                         &err),
	        err);
	T_NOERR(br_metrics_counter(gw, "berth_rpc_calls_total", "Calls.",
	                           BR_LABELS("method", "tasks.start"), 5, &err),
	        err);

	_cleanup_(br_metrics_freep) struct br_metrics *copy = round_trip(taskd);
	_cleanup_free_ char *before = br_metrics_render(taskd, NULL);
	_cleanup_free_ char *after = br_metrics_render(copy, NULL);
	T_EQ_STR(after, before);

	T_NOERR(br_metrics_merge(all, copy, "daemon", "taskd", &err), err);
	T_NOERR(br_metrics_merge(all, gw, "daemon", "gatewayd", &err), err);
	T_OK(value_of(all, "berth_rpc_calls_total",
	              BR_LABELS("daemon", "taskd", "method", "tasks.start")) == 4);
	T_OK(value_of(all, "berth_rpc_calls_total",
	              BR_LABELS("method", "tasks.start", "daemon", "gatewayd")) == 5);
	_cleanup_free_ char *text = br_metrics_render(all, NULL);
	T_CONTAINS(text, "# TYPE berth_rpc_calls_total counter\n"
	                 "berth_rpc_calls_total{daemon=\"taskd\",method=\"tasks.start\"} 4\n"
	                 "berth_rpc_calls_total{daemon=\"gatewayd\",method=\"tasks.start\"} 5\n");
	T_CONTAINS(text, "d_seconds_bucket{daemon=\"taskd\",method=\"tasks.start\",le=\"0.5\"} 1\n"
	                 "d_seconds_bucket{daemon=\"taskd\",method=\"tasks.start\",le=\"1\"} 2\n"
	                 "d_seconds_bucket{daemon=\"taskd\",method=\"tasks.start\",le=\"+Inf\"} 2\n"
	                 "d_seconds_sum{daemon=\"taskd\",method=\"tasks.start\"} 1\n");

	/* A conflicting family is skipped and reported; the rest goes in. */
	_cleanup_(br_metrics_freep) struct br_metrics *bad = br_metrics_new();
	T_NOERR(br_metrics_gauge(bad, "berth_rpc_calls_total", "", NULL, 1, &err), err);
	T_NOERR(br_metrics_gauge(bad, "berth_new", "", NULL, 9, &err), err);
	T_NOERR(br_metrics_gauge(bad, "labelled", "", BR_LABELS("daemon", "x"), 9, &err), err);
	T_ERR(br_metrics_merge(all, bad, "daemon", "netd", &err), err, BR_INVALID_ARGUMENT);
	T_OK(value_of(all, "berth_new", BR_LABELS("daemon", "netd")) == 9);
	T_OK(br_metrics_value(all, "labelled", BR_LABELS("daemon", "x"), &(double){0}, &err) < 0);
}

/* Unpack one msgpack object written as JSON-ish by a packer callback. */
typedef void (*pack_fn)(msgpack_packer *pk);

static int
unpack_packed(pack_fn fn, struct br_metrics *m, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object obj;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	fn(&pk);
	rc = br_msg_unpack(sb.data, sb.size, arena, &obj, err);
	if (rc == 0)
		rc = br_metrics_unpack(&obj, m, err);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
family_head(msgpack_packer *pk, const char *name, const char *type, int extra)
{
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "families");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3 + extra);
	br_msg_pack_str(pk, "name");
	br_msg_pack_str(pk, name);
	br_msg_pack_str(pk, "type");
	br_msg_pack_str(pk, type);
	br_msg_pack_str(pk, "samples");
}

static void
pack_not_a_map(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 0);
}

static void
pack_families_not_array(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "families");
	msgpack_pack_int(pk, 3);
}

static void
pack_bad_name(msgpack_packer *pk)
{
	family_head(pk, "bad name", "gauge", 0);
	msgpack_pack_array(pk, 0);
}

static void
pack_no_value(msgpack_packer *pk)
{
	family_head(pk, "g", "gauge", 0);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "labels");
	msgpack_pack_map(pk, 0);
}

static void
pack_nul_in_label(msgpack_packer *pk)
{
	family_head(pk, "g", "gauge", 0);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 2);
	br_msg_pack_str(pk, "labels");
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "a");
	br_msg_pack_strn(pk, "x\0y", 3);
	br_msg_pack_str(pk, "value");
	msgpack_pack_int(pk, 1);
}

static void
pack_short_buckets(msgpack_packer *pk)
{
	family_head(pk, "h", "histogram", 1);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 3);
	br_msg_pack_str(pk, "buckets");
	msgpack_pack_array(pk, 1);
	msgpack_pack_uint64(pk, 1);
	br_msg_pack_str(pk, "count");
	msgpack_pack_uint64(pk, 1);
	br_msg_pack_str(pk, "sum");
	msgpack_pack_double(pk, 1);
	br_msg_pack_str(pk, "bounds");
	msgpack_pack_array(pk, 1);
	msgpack_pack_double(pk, 1);
}

/* A type from a newer peer is skipped, and so are keys nobody knows. */
static void
pack_newer(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 2);
	br_msg_pack_str(pk, "families");
	msgpack_pack_array(pk, 2);
	msgpack_pack_map(pk, 3);
	br_msg_pack_str(pk, "name");
	br_msg_pack_str(pk, "s");
	br_msg_pack_str(pk, "type");
	br_msg_pack_str(pk, "summary");
	br_msg_pack_str(pk, "samples");
	msgpack_pack_array(pk, 0);
	msgpack_pack_map(pk, 4);
	br_msg_pack_str(pk, "name");
	br_msg_pack_str(pk, "g");
	br_msg_pack_str(pk, "type");
	br_msg_pack_str(pk, "gauge");
	br_msg_pack_str(pk, "unit");
	br_msg_pack_str(pk, "seconds");
	br_msg_pack_str(pk, "samples");
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "value");
	msgpack_pack_int(pk, -3);
	br_msg_pack_str(pk, "later");
	msgpack_pack_true(pk);
}

static void
test_unpack_refusals(void)
{
	br_err err = BR_ERR_INIT;
	static const pack_fn bad[] = {
	        pack_not_a_map, pack_families_not_array, pack_bad_name,
	        pack_no_value,  pack_nul_in_label,       pack_short_buckets,
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
		if (unpack_packed(bad[i], m, &err) == 0)
			T_FAIL_("case %zu was accepted", i);
		T_EQ_INT(err.code, BR_INVALID_ARGUMENT);
	}
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	T_NOERR(unpack_packed(pack_newer, m, &err), err);
	T_EQ_TEXT(m, "# TYPE g gauge\ng -3\n");
}

/* ---- daemon.metrics of a real daemon ---- */

struct tdaemon {
	struct br_daemon d;
	char root[64], state[80], config[80];
	pthread_t thread;
	sem_t ready;
	int rc;
	br_err err;
};

static void
on_ok(br_call *call, void *data)
{
	br_call_reply(call, NULL, NULL);
}

static void
on_fail(br_call *call, void *data)
{
	br_call_failf(call, BR_NOT_FOUND, "thing \"x\": not found");
}

static void
own_metrics(void *data, struct br_metrics *m)
{
	br_metrics_gauge(m, "berth_test_things", "Things.", NULL, 7, NULL);
}

static const struct br_method methods[] = {
        {"test.ok", NULL, on_ok},
        {"test.fail", NULL, on_fail},
};

static void *
daemon_thread(void *arg)
{
	struct tdaemon *t = arg;
	char *argv[] = {"test",    "--config", t->config,     "--root", t->root,
	                "--state", t->state,   "--log-level", "error",  NULL};

	t->rc = br_daemon_init(&t->d, "metricstest", 9, argv, &t->err);
	if (t->rc == 0) {
		t->d.metrics = own_metrics;
		t->d.watchdog = false; /* its probes would count as daemon.health calls */
	}
	sem_post(&t->ready);
	if (t->rc != 0)
		return NULL;
	t->rc = br_daemon_serve(&t->d, methods, 2, t, &t->err);
	br_daemon_fini(&t->d);
	return NULL;
}

static void
stop_on_loop(void *arg)
{
	br_daemon_stop(arg);
}

/* Send raw request bytes on a fresh REQ socket and return the reply (heap, *ret_len). */
static void *
raw_call(const char *url, const void *req, size_t len, size_t *ret_len)
{
	nng_socket s;
	void *reply = NULL;
	int rc;

	T_EQ_INT(nng_req0_open(&s), 0);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5000);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5000);
	for (int i = 0; (rc = nng_dial(s, url, NULL, 0)) != 0 && i < 200; i++)
		usleep(10000);
	T_EQ_INT(rc, 0);
	T_EQ_INT(nng_send(s, (void *)req, len, 0), 0);
	T_EQ_INT(nng_recv(s, &reply, ret_len, NNG_FLAG_ALLOC), 0);
	void *copy = xmemdup(reply, *ret_len);
	nng_free(reply, *ret_len);
	nng_close(s);
	return copy;
}

/* Call `method` without params; the reply's result (or error) decoded into `arena`. */
static int
call(const char *url, const char *method, br_arena *arena, msgpack_object *ret, void **keep,
     br_err *err)
{
	msgpack_sbuffer sb;
	size_t len;

	msgpack_sbuffer_init(&sb);
	br_request_encode(&sb, method, NULL, NULL, 5000, NULL, NULL);
	*keep = raw_call(url, sb.data, sb.size, &len);
	msgpack_sbuffer_destroy(&sb);
	return br_reply_decode(*keep, len, arena, ret, err);
}

static void
test_daemon_metrics(void)
{
	struct tdaemon *t = xnew(struct tdaemon);
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	_cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
	msgpack_object r;
	br_err err = BR_ERR_INIT;
	void *keep;
	size_t len;

	snprintf(t->root, sizeof(t->root), "/tmp/berth-test-metrics-XXXXXX");
	if (mkdtemp(t->root) == NULL)
		T_FAIL_("mkdtemp: %s", strerror(errno));
	snprintf(t->state, sizeof(t->state), "%s/state", t->root);
	snprintf(t->config, sizeof(t->config), "%s/berth.json", t->root);
	FILE *f = fopen(t->config, "w");
	T_NOT_NULL(f);
	fputs("{}\n", f);
	fclose(f);
	sem_init(&t->ready, 0, 0);
	pthread_create(&t->thread, NULL, daemon_thread, t);
	sem_wait(&t->ready);
	if (t->rc != 0)
		T_FAIL_("daemon: %s", t->err.msg);
	char *url = br_config_socket_url(t->d.cfg, "metricstest");

	for (int i = 0; i < 3; i++) {
		T_NOERR(call(url, "test.ok", arena, &r, &keep, &err), err);
		free(keep);
	}
	for (int i = 0; i < 2; i++) {
		T_ERR(call(url, "test.fail", arena, &r, &keep, &err), err, BR_NOT_FOUND);
		free(keep);
	}
	T_ERR(call(url, "test.nope", arena, &r, &keep, &err), err, BR_NOT_IMPLEMENTED);
	free(keep);
	free(raw_call(url, "\xc1", 1, &len)); /* not msgpack at all */

	int64_t before = (int64_t)time(NULL);
	T_NOERR(call(url, "daemon.metrics", arena, &r, &keep, &err), err);
	T_NOERR(br_metrics_unpack(&r, m, &err), err);
	free(keep);
	T_OK(value_of(m, "berth_rpc_calls_total", BR_LABELS("method", "test.ok")) == 3);
	T_OK(value_of(m, "berth_rpc_calls_total", BR_LABELS("method", "test.fail")) == 2);
	T_OK(value_of(m, "berth_rpc_errors_total",
	              BR_LABELS("method", "test.fail", "code", "NOT_FOUND")) == 2);
	T_OK(br_metrics_value(m, "berth_rpc_errors_total",
	                      BR_LABELS("method", "test.ok", "code", "NOT_FOUND"), &(double){0},
	                      &err) < 0);
	/* Names nobody serves are counted together, and so are envelopes that did not decode. */
	T_OK(value_of(m, "berth_rpc_errors_total",
	              BR_LABELS("method", "unknown", "code", "NOT_IMPLEMENTED")) == 1);
	T_OK(value_of(m, "berth_rpc_errors_total",
	              BR_LABELS("method", "invalid", "code", "INVALID_ARGUMENT")) == 1);
	T_OK(value_of(m, "berth_test_things", NULL) == 7);
	T_OK(value_of(m, "berth_rpc_calls_in_flight", NULL) == 1); /* daemon.metrics itself */
	double started = value_of(m, "berth_start_time_seconds", NULL);
	T_OK(started > (double)before - 60 && started <= (double)before + 1);
	_cleanup_free_ char *text = br_metrics_render(m, NULL);
	T_CONTAINS(text, "berth_rpc_call_duration_seconds_count{method=\"test.ok\"} 3\n");
	T_CONTAINS(text,
	           "berth_rpc_call_duration_seconds_bucket{method=\"test.ok\",le=\"+Inf\"} 3\n");

	/* The call just made is counted in the next answer. */
	_cleanup_(br_metrics_freep) struct br_metrics *m2 = br_metrics_new();
	T_NOERR(call(url, "daemon.metrics", arena, &r, &keep, &err), err);
	T_NOERR(br_metrics_unpack(&r, m2, &err), err);
	free(keep);
	T_OK(value_of(m2, "berth_rpc_calls_total", BR_LABELS("method", "daemon.metrics")) == 1);

	br_loop_post(&t->d.loop, stop_on_loop, &t->d);
	pthread_join(t->thread, NULL);
	T_EQ_INT(t->rc, 0);
	free(url);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (system(cmd) != 0)
		fprintf(stderr, "# cleanup of %s failed\n", t->root);
	sem_destroy(&t->ready);
	free(t); /* br_daemon_fini() released nng's global state */
}

T_MAIN(T_CASE(test_render), T_CASE(test_escaping), T_CASE(test_numbers), T_CASE(test_histogram),
       T_CASE(test_refusals), T_CASE(test_limits), T_CASE(test_wire_and_merge),
       T_CASE(test_unpack_refusals), T_CASE(test_daemon_metrics))
