/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics: the figures a daemon reports, and their rendering in the Prometheus text exposition
 * format 0.0.4 (docs/metrics.md lists every metric).
 *
 * Two kinds of object. A daemon keeps its live figures where they happen: plain counters in
 * its own state, and struct br_histogram for distributions (the RPC server's call latencies).
 * A struct br_metrics is a set of metric families built for one scrape: daemon.metrics
 * (common/daemon.c) fills one from those live figures, packs it into its reply, and gatewayd
 * unpacks the replies of every daemon, merges them into one set with a "daemon" label on each
 * sample and renders that set for GET /metrics.
 *
 *   _cleanup_(br_metrics_freep) struct br_metrics *m = br_metrics_new();
 *   br_metrics_gauge(m, "berth_images", "Image records.", NULL, 3, NULL);
 *   br_metrics_counter(m, "berth_rpc_calls_total", "Calls handled.",
 *                      BR_LABELS("method", "images.pull"), 12, NULL);
 *   char *text = br_metrics_render(m, &len);
 *
 * Names follow Prometheus practice (base units in the name: _seconds, _bytes; counters end in
 * _total). Adding a sample whose labels equal those of a sample already in its family replaces
 * it, so a set never holds a series twice. Every add checks names, labels and the limits
 * below: a set built from a peer's reply is as bounded as one built locally.
 *
 * Threading: a set and a histogram belong to one thread at a time; nothing here is shared.
 */
#ifndef BR_COMMON_METRICS_H
#define BR_COMMON_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "common/cleanup.h"
#include "common/err.h"

enum br_metric_type {
	BR_METRIC_COUNTER,
	BR_METRIC_GAUGE,
	BR_METRIC_HISTOGRAM,
};

/* Limits of one set; an add past them fails with RESOURCE_EXHAUSTED. */
#define BR_METRICS_FAMILIES_MAX 256
#define BR_METRICS_SAMPLES_MAX 16384 /* all families together */
#define BR_METRICS_LABELS_MAX 8      /* label pairs on one sample */
#define BR_METRICS_NAME_MAX 128      /* metric and label names */
#define BR_METRICS_VALUE_MAX 256     /* label values, in bytes */
#define BR_METRICS_HELP_MAX 512      /* help texts, in bytes */
#define BR_METRICS_BUCKETS_MAX 32    /* upper bounds of a histogram, +Inf aside */

/* Label pairs for the add functions: BR_LABELS("method", name, "code", code). NULL: none. */
#define BR_LABELS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- live histograms ---- */

/* A distribution with fixed upper bounds, as Prometheus histograms have. */
struct br_histogram {
	const double *bounds; /* ascending and finite; must outlive the histogram */
	size_t n_bounds;      /* at most BR_METRICS_BUCKETS_MAX */
	/* Observations per bucket, not cumulative: buckets[i] counts those above bounds[i - 1]
	 * and at most bounds[i]; buckets[n_bounds] those above the last bound. */
	uint64_t buckets[BR_METRICS_BUCKETS_MAX + 1];
	uint64_t count;
	double sum;
};

/* The upper bounds of berth_rpc_call_duration_seconds, in seconds: 1 ms to 30 s. */
#define BR_LATENCY_BOUNDS_N 14
extern const double br_latency_bounds[BR_LATENCY_BOUNDS_N];

/* An empty histogram with `bounds` (at most BR_METRICS_BUCKETS_MAX; more are ignored). */
void br_histogram_init(struct br_histogram *h, const double *bounds, size_t n_bounds);
void br_histogram_observe(struct br_histogram *h, double value);

/* ---- sets of families ---- */

struct br_metrics;

/* An empty set. Never NULL (aborts on OOM). */
struct br_metrics *br_metrics_new(void);
/* Accepts NULL. */
void br_metrics_free(struct br_metrics *m);
BR_DEFINE_CLEANUP(struct br_metrics, br_metrics_free)

/*
 * Add a sample to family `name` of `type`, created with `help` at its first sample (later
 * samples keep the first help). `labels` are name/value pairs ending with NULL (BR_LABELS), or
 * NULL; the strings are copied. Errors (`err` may be NULL; the set is unchanged):
 * INVALID_ARGUMENT for a malformed metric or label name, a label value or help text that is
 * too long or not UTF-8, a label named twice, "le" on a histogram, a family that exists with
 * another type (or, for histograms, other bounds), a histogram whose buckets do not add up to
 * its count; RESOURCE_EXHAUSTED past the limits.
 */
int br_metrics_counter(struct br_metrics *m, const char *name, const char *help,
                       const char *const *labels, double value, br_err *err);
int br_metrics_gauge(struct br_metrics *m, const char *name, const char *help,
                     const char *const *labels, double value, br_err *err);
int br_metrics_histogram(struct br_metrics *m, const char *name, const char *help,
                         const char *const *labels, const struct br_histogram *h, br_err *err);

/* The value of the counter or gauge sample of `name` with exactly `labels` (in any order):
 * 0 and *ret_value, or -1 (NOT_FOUND) when there is none. For tests and checks. */
int br_metrics_value(const struct br_metrics *m, const char *name, const char *const *labels,
                     double *ret_value, br_err *err);

/*
 * Add every sample of `src` to `dst`, with the label `label`="`value`" put in front of its
 * own (label NULL: as they are). Samples that `dst` refuses (a type conflict, a label that
 * `src` already has, the limits) are skipped; the first refusal is returned in `err` after
 * the rest were added, so one bad family does not hide the others. 0 or -1.
 */
int br_metrics_merge(struct br_metrics *dst, const struct br_metrics *src, const char *label,
                     const char *value, br_err *err);

/*
 * The wire form, the result of daemon.metrics (docs/metrics.md):
 *   {"families": [{"name", "type": "counter"|"gauge"|"histogram", "help", "bounds": [f64]
 *                  (histograms), "samples": [{"labels": {name: value}, "value": f64} |
 *                                             {"labels", "buckets": [u64], "count", "sum"}]}]}
 * br_metrics_unpack() adds what `obj` holds to `m` with the checks of the add functions;
 * families of a type it does not know (from a newer peer) are skipped and unknown keys
 * ignored. INVALID_ARGUMENT naming the offending family; `m` may then hold what came before.
 */
void br_metrics_pack(msgpack_packer *pk, const struct br_metrics *m);
int br_metrics_unpack(const msgpack_object *obj, struct br_metrics *m, br_err *err);

/*
 * The set in the text exposition format 0.0.4: families sorted by name, each with its HELP
 * and TYPE lines; label values escaped (\\, \", \n), histograms as cumulative _bucket{le=...}
 * series ending with le="+Inf", then _sum and _count. A heap string (the caller frees it),
 * its length in *ret_len (may be NULL).
 */
char *br_metrics_render(const struct br_metrics *m, size_t *ret_len);

#endif
