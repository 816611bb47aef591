/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics (metrics.h): live histograms, sets of families built for one scrape, their wire
 * form and their rendering in the Prometheus text exposition format 0.0.4.
 *
 * A set keeps its strings in an arena and its families and samples in plain arrays; lookups
 * are linear, which is cheap at the sizes the limits allow and keeps a set in insertion order
 * until it is rendered (sorted by name there, so that a scrape reads the same every time).
 */
#include "common/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/msg.h"
#include "common/xalloc.h"

const double br_latency_bounds[BR_LATENCY_BOUNDS_N] = {
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};

/* ------------------------------------------------------------------ histograms */

void
br_histogram_init(struct br_histogram *h, const double *bounds, size_t n_bounds)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->n_bounds = n_bounds < BR_METRICS_BUCKETS_MAX ? n_bounds : BR_METRICS_BUCKETS_MAX;
}

void
br_histogram_observe(struct br_histogram *h, double value)
{
	size_t i = 0;

	if (isnan(value))
		return; /* it would turn the sum into NaN for good */
	while (i < h->n_bounds && value > h->bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += value;
}

/* ------------------------------------------------------------------ sets */

struct sample {
	const char **labels; /* n_labels name/value pairs: labels[2i] = labels[2i + 1] */
	size_t n_labels;
	double value;      /* counters and gauges */
	uint64_t *buckets; /* histograms: n_bounds + 1, not cumulative */
	uint64_t count;
	double sum;
};

struct family {
	const char *name;
	const char *help;
	enum br_metric_type type;
	double *bounds; /* histograms */
	size_t n_bounds;
	struct sample *samples;
	size_t n_samples, cap;
};

struct br_metrics {
	br_arena *arena;
	struct family *families;
	size_t n_families, cap;
	size_t n_samples; /* all families together */
};

/* What an add is given: labels as pairs with a count, and a histogram's figures. */
struct sample_in {
	const char *const *labels;
	size_t n_labels;
	double value;
	const double *bounds;
	size_t n_bounds;
	const uint64_t *buckets; /* n_bounds + 1 */
	uint64_t count;
	double sum;
};

struct br_metrics *
br_metrics_new(void)
{
	struct br_metrics *m = xnew(struct br_metrics);

	m->arena = br_arena_new();
	return m;
}

void
br_metrics_free(struct br_metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n_families; i++)
		free(m->families[i].samples);
	free(m->families);
	br_arena_free(m->arena);
	free(m);
}

static const char *
type_name(enum br_metric_type type)
{
	switch (type) {
	case BR_METRIC_COUNTER:
		return "counter";
	case BR_METRIC_GAUGE:
		return "gauge";
	case BR_METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

/* ---- checks ---- */

static bool
valid_name(const char *s, bool colons)
{
	size_t n = strlen(s);

	if (n == 0 || n > BR_METRICS_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || (colons && c == ':')))
			return false;
	}
	return true;
}

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. The text
 * format is UTF-8 and a scraper rejects the whole page for one bad byte. */
static bool
valid_utf8(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		size_t len;
		unsigned min, cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, min = 0x80, cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, min = 0x800, cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

static int
check_text(const char *what, const char *s, size_t max, br_err *err)
{
	size_t n = strlen(s);

	if (n > max)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s is too long (%zu bytes, limit %zu)",
		                  what, n, max);
	if (!valid_utf8(s, n))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s is not UTF-8", what);
	return 0;
}

static int
check_sample(enum br_metric_type type, const char *name, const char *help,
             const struct sample_in *in, br_err *err)
{
	if (!valid_name(name, true))
		return br_err_set(err, BR_INVALID_ARGUMENT, "\"%.*s\" is not a metric name",
		                  BR_METRICS_NAME_MAX, name);
	if (check_text("help", help, BR_METRICS_HELP_MAX, err) < 0)
		return br_err_wrap(err, "%s", name);
	if (in->n_labels > BR_METRICS_LABELS_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "%s: more than %d labels", name,
		                  BR_METRICS_LABELS_MAX);
	for (size_t i = 0; i < in->n_labels; i++) {
		const char *l = in->labels[2 * i], *v = in->labels[2 * i + 1];
		if (l == NULL || v == NULL)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: a label without a value",
			                  name);
		/* Names starting with "__" are Prometheus's own. */
		if (!valid_name(l, false) || strncmp(l, "__", 2) == 0)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: \"%.*s\" is not a label name", name,
			                  BR_METRICS_NAME_MAX, l);
		if (type == BR_METRIC_HISTOGRAM && strcmp(l, "le") == 0)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: a histogram cannot have a label \"le\"", name);
		for (size_t k = 0; k < i; k++) {
			if (strcmp(in->labels[2 * k], l) == 0)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s: label \"%s\" given twice", name, l);
		}
		if (check_text("label value", v, BR_METRICS_VALUE_MAX, err) < 0)
			return br_err_wrap(err, "%s: label %s", name, l);
	}
	if (type != BR_METRIC_HISTOGRAM)
		return 0;
	if (in->n_bounds > BR_METRICS_BUCKETS_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "%s: more than %d buckets", name,
		                  BR_METRICS_BUCKETS_MAX);
	uint64_t total = 0;
	for (size_t i = 0; i < in->n_bounds; i++) {
		if (!isfinite(in->bounds[i]) || (i > 0 && in->bounds[i] <= in->bounds[i - 1]))
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: bucket bounds must be finite and ascending", name);
	}
	for (size_t i = 0; i <= in->n_bounds; i++) {
		if (in->buckets[i] > UINT64_MAX - total)
			return br_err_set(err, BR_INVALID_ARGUMENT, "%s: buckets overflow", name);
		total += in->buckets[i];
	}
	if (total != in->count)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "%s: the buckets hold %llu observations, the count says %llu",
		                  name, (unsigned long long)total, (unsigned long long)in->count);
	return 0;
}

/* ---- lookups ---- */

static struct family *
find_family(const struct br_metrics *m, const char *name)
{
	for (size_t i = 0; i < m->n_families; i++) {
		if (strcmp(m->families[i].name, name) == 0)
			return &m->families[i];
	}
	return NULL;
}

/* The value of label `name` among `n` pairs, or NULL. */
static const char *
label_value(const char *const *pairs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(pairs[2 * i], name) == 0)
			return pairs[2 * i + 1];
	}
	return NULL;
}

/* The sample of `f` whose labels are exactly `pairs` (a series is its set of labels, in
 * whatever order they were given), or NULL. */
static struct sample *
find_sample(const struct family *f, const char *const *pairs, size_t n)
{
	for (size_t i = 0; i < f->n_samples; i++) {
		struct sample *s = &f->samples[i];
		bool same = s->n_labels == n;
		for (size_t k = 0; same && k < n; k++) {
			const char *v = label_value(s->labels, s->n_labels, pairs[2 * k]);
			same = v != NULL && strcmp(v, pairs[2 * k + 1]) == 0;
		}
		if (same)
			return s;
	}
	return NULL;
}

static bool
same_bounds(const struct family *f, const struct sample_in *in)
{
	if (f->n_bounds != in->n_bounds)
		return false;
	for (size_t i = 0; i < f->n_bounds; i++) {
		if (f->bounds[i] != in->bounds[i])
			return false;
	}
	return true;
}

/* ---- adding ---- */

static void
fill_sample(struct br_metrics *m, struct sample *s, const struct family *f,
            const struct sample_in *in)
{
	if (f->type == BR_METRIC_HISTOGRAM) {
		if (s->buckets == NULL)
			s->buckets = br_arena_alloc(m->arena, (f->n_bounds + 1) * sizeof(uint64_t));
		memcpy(s->buckets, in->buckets, (f->n_bounds + 1) * sizeof(uint64_t));
		s->count = in->count;
		s->sum = in->sum;
	} else {
		s->value = in->value;
	}
}

static int
add_sample(struct br_metrics *m, enum br_metric_type type, const char *name, const char *help,
           const struct sample_in *in, br_err *err)
{
	struct family *f;
	struct sample *s;

	if (check_sample(type, name, help, in, err) < 0)
		return -1;
	f = find_family(m, name);
	if (f != NULL && f->type != type)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: a %s, not a %s", name,
		                  type_name(f->type), type_name(type));
	if (f != NULL && type == BR_METRIC_HISTOGRAM && !same_bounds(f, in))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: other bucket bounds than before",
		                  name);
	if (f != NULL && (s = find_sample(f, in->labels, in->n_labels)) != NULL) {
		fill_sample(m, s, f, in);
		return 0;
	}
	if (m->n_samples >= BR_METRICS_SAMPLES_MAX)
		return br_err_set(err, BR_RESOURCE_EXHAUSTED, "%s: more than %d samples", name,
		                  BR_METRICS_SAMPLES_MAX);
	if (f == NULL) {
		if (m->n_families >= BR_METRICS_FAMILIES_MAX)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED, "%s: more than %d families",
			                  name, BR_METRICS_FAMILIES_MAX);
		if (m->n_families == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 16;
			m->families = xrealloc(m->families, m->cap * sizeof(*m->families));
		}
		f = &m->families[m->n_families++];
		*f = (struct family){
		        .name = br_arena_strdup(m->arena, name),
		        .help = br_arena_strdup(m->arena, help),
		        .type = type,
		};
		if (type == BR_METRIC_HISTOGRAM) {
			f->n_bounds = in->n_bounds;
			f->bounds = br_arena_alloc(m->arena, (in->n_bounds + 1) * sizeof(double));
			memcpy(f->bounds, in->bounds, in->n_bounds * sizeof(double));
		}
	}
	if (f->n_samples == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 8;
		f->samples = xrealloc(f->samples, f->cap * sizeof(*f->samples));
	}
	s = &f->samples[f->n_samples++];
	m->n_samples++;
	*s = (struct sample){.n_labels = in->n_labels};
	s->labels = br_arena_alloc(m->arena, (2 * in->n_labels + 1) * sizeof(char *));
	for (size_t i = 0; i < 2 * in->n_labels; i++)
		s->labels[i] = br_arena_strdup(m->arena, in->labels[i]);
	fill_sample(m, s, f, in);
	return 0;
}

/* Count the pairs of a NULL-terminated label list; -1 for a name without a value. */
static int
count_pairs(const char *const *labels, size_t *ret, br_err *err)
{
	size_t n = 0;

	while (labels != NULL && labels[n] != NULL) {
		if (n >= 2 * BR_METRICS_LABELS_MAX + 1)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED, "more than %d labels",
			                  BR_METRICS_LABELS_MAX);
		n++;
	}
	if (n % 2 != 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "label \"%s\" has no value",
		                  labels[n - 1]);
	*ret = n / 2;
	return 0;
}

static int
add_value(struct br_metrics *m, enum br_metric_type type, const char *name, const char *help,
          const char *const *labels, double value, br_err *err)
{
	struct sample_in in = {.labels = labels, .value = value};

	if (count_pairs(labels, &in.n_labels, err) < 0)
		return br_err_wrap(err, "%s", name);
	return add_sample(m, type, name, help, &in, err);
}

int
br_metrics_counter(struct br_metrics *m, const char *name, const char *help,
                   const char *const *labels, double value, br_err *err)
{
	return add_value(m, BR_METRIC_COUNTER, name, help, labels, value, err);
}

int
br_metrics_gauge(struct br_metrics *m, const char *name, const char *help,
                 const char *const *labels, double value, br_err *err)
{
	return add_value(m, BR_METRIC_GAUGE, name, help, labels, value, err);
}

int
br_metrics_histogram(struct br_metrics *m, const char *name, const char *help,
                     const char *const *labels, const struct br_histogram *h, br_err *err)
{
	struct sample_in in = {
	        .labels = labels,
	        .bounds = h->bounds,
	        .n_bounds = h->n_bounds,
	        .buckets = h->buckets,
	        .count = h->count,
	        .sum = h->sum,
	};

	if (count_pairs(labels, &in.n_labels, err) < 0)
		return br_err_wrap(err, "%s", name);
	return add_sample(m, BR_METRIC_HISTOGRAM, name, help, &in, err);
}

int
br_metrics_value(const struct br_metrics *m, const char *name, const char *const *labels,
                 double *ret_value, br_err *err)
{
	const struct family *f = find_family(m, name);
	const struct sample *s;
	size_t n;

	if (count_pairs(labels, &n, err) < 0)
		return -1;
	if (f == NULL || f->type == BR_METRIC_HISTOGRAM || (s = find_sample(f, labels, n)) == NULL)
		return br_err_set(err, BR_NOT_FOUND, "%s: no such sample", name);
	*ret_value = s->value;
	return 0;
}

int
br_metrics_merge(struct br_metrics *dst, const struct br_metrics *src, const char *label,
                 const char *value, br_err *err)
{
	const char *pairs[2 * (BR_METRICS_LABELS_MAX + 1)];
	br_err first = BR_ERR_INIT, e = BR_ERR_INIT;
	size_t extra = label != NULL ? 1 : 0;

	pairs[0] = label;
	pairs[1] = value;
	for (size_t i = 0; i < src->n_families; i++) {
		const struct family *f = &src->families[i];
		for (size_t k = 0; k < f->n_samples; k++) {
			const struct sample *s = &f->samples[k];
			struct sample_in in = {
			        .labels = pairs,
			        .n_labels = s->n_labels + extra,
			        .value = s->value,
			        .bounds = f->bounds,
			        .n_bounds = f->n_bounds,
			        .buckets = s->buckets,
			        .count = s->count,
			        .sum = s->sum,
			};
			if (in.n_labels > BR_METRICS_LABELS_MAX) {
				br_err_set(&e, BR_RESOURCE_EXHAUSTED, "%s: more than %d labels",
				           f->name, BR_METRICS_LABELS_MAX);
			} else {
				memcpy(pairs + 2 * extra, s->labels,
				       2 * s->n_labels * sizeof(char *));
				if (add_sample(dst, f->type, f->name, f->help, &in, &e) == 0)
					continue;
			}
			if (first.code == BR_OK)
				br_err_copy(&first, &e);
		}
	}
	if (first.code != BR_OK) {
		br_err_copy(err, &first);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ wire form */

void
br_metrics_pack(msgpack_packer *pk, const struct br_metrics *m)
{
	msgpack_pack_map(pk, 1);
	br_msg_pack_str(pk, "families");
	msgpack_pack_array(pk, (uint32_t)m->n_families);
	for (size_t i = 0; i < m->n_families; i++) {
		const struct family *f = &m->families[i];
		bool hist = f->type == BR_METRIC_HISTOGRAM;
		msgpack_pack_map(pk, hist ? 5 : 4);
		br_msg_pack_str(pk, "name");
		br_msg_pack_str(pk, f->name);
		br_msg_pack_str(pk, "type");
		br_msg_pack_str(pk, type_name(f->type));
		br_msg_pack_str(pk, "help");
		br_msg_pack_str(pk, f->help);
		if (hist) {
			br_msg_pack_str(pk, "bounds");
			msgpack_pack_array(pk, (uint32_t)f->n_bounds);
			for (size_t b = 0; b < f->n_bounds; b++)
				msgpack_pack_double(pk, f->bounds[b]);
		}
		br_msg_pack_str(pk, "samples");
		msgpack_pack_array(pk, (uint32_t)f->n_samples);
		for (size_t k = 0; k < f->n_samples; k++) {
			const struct sample *s = &f->samples[k];
			msgpack_pack_map(pk, hist ? 4 : 2);
			br_msg_pack_str(pk, "labels");
			msgpack_pack_map(pk, (uint32_t)s->n_labels);
			for (size_t l = 0; l < 2 * s->n_labels; l++)
				br_msg_pack_str(pk, s->labels[l]);
			if (!hist) {
				br_msg_pack_str(pk, "value");
				msgpack_pack_double(pk, s->value);
				continue;
			}
			br_msg_pack_str(pk, "buckets");
			msgpack_pack_array(pk, (uint32_t)f->n_bounds + 1);
			for (size_t b = 0; b <= f->n_bounds; b++)
				msgpack_pack_uint64(pk, s->buckets[b]);
			br_msg_pack_str(pk, "count");
			msgpack_pack_uint64(pk, s->count);
			br_msg_pack_str(pk, "sum");
			msgpack_pack_double(pk, s->sum);
		}
	}
}

static bool
key_is(const msgpack_object *k, const char *s)
{
	size_t n = strlen(s);
	return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
	       memcmp(k->via.str.ptr, s, n) == 0;
}

/* The member `key` of map `obj`, or NULL. */
static const msgpack_object *
member(const msgpack_object *obj, const char *key)
{
	for (uint32_t i = 0; i < obj->via.map.size; i++) {
		if (key_is(&obj->via.map.ptr[i].key, key))
			return &obj->via.map.ptr[i].val;
	}
	return NULL;
}

/* A NUL-terminated copy of string `obj` of at most `max` bytes without NULs, in `arena`. */
static const char *
get_str(const msgpack_object *obj, size_t max, br_arena *arena)
{
	if (obj == NULL || obj->type != MSGPACK_OBJECT_STR || obj->via.str.size > max ||
	    memchr(obj->via.str.ptr, '\0', obj->via.str.size) != NULL)
		return NULL;
	return br_arena_strndup(arena, obj->via.str.ptr, obj->via.str.size);
}

static bool
get_number(const msgpack_object *obj, double *ret)
{
	if (obj == NULL)
		return false;
	switch (obj->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*ret = (double)obj->via.u64;
		return true;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*ret = (double)obj->via.i64;
		return true;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*ret = obj->via.f64;
		return true;
	default:
		return false;
	}
}

static int
unpack_sample(struct br_metrics *m, enum br_metric_type type, const char *name, const char *help,
              const double *bounds, size_t n_bounds, const msgpack_object *obj, br_arena *arena,
              br_err *err)
{
	const char *pairs[2 * BR_METRICS_LABELS_MAX];
	uint64_t buckets[BR_METRICS_BUCKETS_MAX + 1];
	struct sample_in in = {.labels = pairs, .bounds = bounds, .n_bounds = n_bounds};
	const msgpack_object *labels, *v;

	if (obj->type != MSGPACK_OBJECT_MAP)
		return br_err_set(err, BR_INVALID_ARGUMENT, "expected a map");
	labels = member(obj, "labels");
	if (labels != NULL && labels->type != MSGPACK_OBJECT_NIL) {
		if (labels->type != MSGPACK_OBJECT_MAP)
			return br_err_set(err, BR_INVALID_ARGUMENT, "labels: expected a map");
		if (labels->via.map.size > BR_METRICS_LABELS_MAX)
			return br_err_set(err, BR_RESOURCE_EXHAUSTED, "labels: more than %d",
			                  BR_METRICS_LABELS_MAX);
		for (uint32_t i = 0; i < labels->via.map.size; i++) {
			pairs[2 * i] =
			        get_str(&labels->via.map.ptr[i].key, BR_METRICS_NAME_MAX, arena);
			pairs[2 * i + 1] =
			        get_str(&labels->via.map.ptr[i].val, BR_METRICS_VALUE_MAX, arena);
			if (pairs[2 * i] == NULL || pairs[2 * i + 1] == NULL)
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "labels: expected short strings");
		}
		in.n_labels = labels->via.map.size;
	}
	if (type != BR_METRIC_HISTOGRAM) {
		if (!get_number(member(obj, "value"), &in.value))
			return br_err_set(err, BR_INVALID_ARGUMENT, "value: expected a number");
		return add_sample(m, type, name, help, &in, err);
	}
	v = member(obj, "buckets");
	if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY || v->via.array.size != n_bounds + 1)
		return br_err_set(err, BR_INVALID_ARGUMENT, "buckets: expected %zu counts",
		                  n_bounds + 1);
	for (uint32_t i = 0; i < v->via.array.size; i++) {
		if (v->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return br_err_set(err, BR_INVALID_ARGUMENT, "buckets: expected counts");
		buckets[i] = v->via.array.ptr[i].via.u64;
	}
	in.buckets = buckets;
	v = member(obj, "count");
	if (v == NULL || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return br_err_set(err, BR_INVALID_ARGUMENT, "count: expected a count");
	in.count = v->via.u64;
	if (!get_number(member(obj, "sum"), &in.sum))
		return br_err_set(err, BR_INVALID_ARGUMENT, "sum: expected a number");
	return add_sample(m, type, name, help, &in, err);
}

static int
unpack_family(struct br_metrics *m, const msgpack_object *obj, br_arena *arena, br_err *err)
{
	double bounds[BR_METRICS_BUCKETS_MAX];
	size_t n_bounds = 0;
	enum br_metric_type type;
	const msgpack_object *v, *samples;
	const char *name, *help = "", *t;

	if (obj->type != MSGPACK_OBJECT_MAP)
		return br_err_set(err, BR_INVALID_ARGUMENT, "expected a map");
	name = get_str(member(obj, "name"), BR_METRICS_NAME_MAX, arena);
	if (name == NULL || !valid_name(name, true))
		return br_err_set(err, BR_INVALID_ARGUMENT, "name: expected a metric name");
	t = get_str(member(obj, "type"), 16, arena);
	if (t != NULL && strcmp(t, "counter") == 0)
		type = BR_METRIC_COUNTER;
	else if (t != NULL && strcmp(t, "gauge") == 0)
		type = BR_METRIC_GAUGE;
	else if (t != NULL && strcmp(t, "histogram") == 0)
		type = BR_METRIC_HISTOGRAM;
	else
		return 0; /* a type of a newer peer: not ours to render */
	v = member(obj, "help");
	if (v != NULL && (help = get_str(v, BR_METRICS_HELP_MAX, arena)) == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: help: expected a short string",
		                  name);
	if (type == BR_METRIC_HISTOGRAM) {
		v = member(obj, "bounds");
		if (v == NULL || v->type != MSGPACK_OBJECT_ARRAY ||
		    v->via.array.size > BR_METRICS_BUCKETS_MAX)
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s: bounds: expected at most %d numbers", name,
			                  BR_METRICS_BUCKETS_MAX);
		for (uint32_t i = 0; i < v->via.array.size; i++) {
			if (!get_number(&v->via.array.ptr[i], &bounds[i]))
				return br_err_set(err, BR_INVALID_ARGUMENT,
				                  "%s: bounds: expected numbers", name);
		}
		n_bounds = v->via.array.size;
	}
	samples = member(obj, "samples");
	if (samples == NULL || samples->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (samples->type != MSGPACK_OBJECT_ARRAY)
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: samples: expected an array", name);
	for (uint32_t i = 0; i < samples->via.array.size; i++) {
		if (unpack_sample(m, type, name, help, bounds, n_bounds, &samples->via.array.ptr[i],
		                  arena, err) < 0)
			return br_err_wrap(err, "%s: samples[%u]", name, i);
	}
	return 0;
}

int
br_metrics_unpack(const msgpack_object *obj, struct br_metrics *m, br_err *err)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	const msgpack_object *families;

	if (obj->type != MSGPACK_OBJECT_MAP)
		return br_err_set(err, BR_INVALID_ARGUMENT, "metrics: expected a map");
	families = member(obj, "families");
	if (families == NULL || families->type == MSGPACK_OBJECT_NIL)
		return 0;
	if (families->type != MSGPACK_OBJECT_ARRAY)
		return br_err_set(err, BR_INVALID_ARGUMENT, "metrics: families: expected an array");
	for (uint32_t i = 0; i < families->via.array.size; i++) {
		if (unpack_family(m, &families->via.array.ptr[i], arena, err) < 0)
			return br_err_wrap(err, "metrics: families[%u]", i);
	}
	return 0;
}

/* ------------------------------------------------------------------ text format */

struct out {
	char *p;
	size_t len, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		while (o->len + n + 1 > o->cap)
			o->cap = o->cap ? 2 * o->cap : 4096;
		o->p = xrealloc(o->p, o->cap);
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* `s` with backslashes and newlines escaped, and double quotes too in label values. */
static void
put_escaped(struct out *o, const char *s, bool quotes)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\'            ? "\\\\"
		                  : *s == '\n'          ? "\\n"
		                  : *s == '"' && quotes ? "\\\""
		                                        : NULL;
		if (esc == NULL)
			continue;
		put(o, run, (size_t)(s - run));
		put_str(o, esc);
		run = s + 1;
	}
	put(o, run, (size_t)(s - run));
}

/* The shortest form that reads back as the same double; NaN and infinities as Prometheus
 * spells them. */
static void
format_number(double v, char *buf, size_t size)
{
	if (isnan(v)) {
		snprintf(buf, size, "NaN");
		return;
	}
	if (isinf(v)) {
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(buf, size, "%.15g", v == 0 ? 0.0 : v); /* no "-0" */
	if (strtod(buf, NULL) != v)
		snprintf(buf, size, "%.17g", v);
}

static void
put_number(struct out *o, double v)
{
	char buf[40];

	format_number(v, buf, sizeof(buf));
	put_str(o, buf);
}

/* "name<suffix>{labels[,le="..."]} value\n" */
static void
put_series(struct out *o, const char *name, const char *suffix, const struct sample *s,
           const char *le, double value)
{
	put_str(o, name);
	put_str(o, suffix);
	if (s->n_labels > 0 || le != NULL) {
		put_str(o, "{");
		for (size_t i = 0; i < s->n_labels; i++) {
			if (i > 0)
				put_str(o, ",");
			put_str(o, s->labels[2 * i]);
			put_str(o, "=\"");
			put_escaped(o, s->labels[2 * i + 1], true);
			put_str(o, "\"");
		}
		if (le != NULL) {
			put_str(o, s->n_labels > 0 ? ",le=\"" : "le=\"");
			put_str(o, le);
			put_str(o, "\"");
		}
		put_str(o, "}");
	}
	put_str(o, " ");
	put_number(o, value);
	put_str(o, "\n");
}

static void
put_histogram(struct out *o, const struct family *f, const struct sample *s)
{
	char le[40];
	uint64_t cumulative = 0;

	for (size_t b = 0; b < f->n_bounds; b++) {
		cumulative += s->buckets[b];
		format_number(f->bounds[b], le, sizeof(le));
		put_series(o, f->name, "_bucket", s, le, (double)cumulative);
	}
	put_series(o, f->name, "_bucket", s, "+Inf", (double)s->count);
	put_series(o, f->name, "_sum", s, NULL, s->sum);
	put_series(o, f->name, "_count", s, NULL, (double)s->count);
}

static int
compare_families(const void *a, const void *b)
{
	const struct family *const *fa = a, *const *fb = b;
	return strcmp((*fa)->name, (*fb)->name);
}

char *
br_metrics_render(const struct br_metrics *m, size_t *ret_len)
{
	struct out o = {0};
	const struct family **order = xcalloc(m->n_families + 1, sizeof(*order));

	put(&o, "", 0); /* an empty set renders as "" */
	for (size_t i = 0; i < m->n_families; i++)
		order[i] = &m->families[i];
	qsort(order, m->n_families, sizeof(*order), compare_families);
	for (size_t i = 0; i < m->n_families; i++) {
		const struct family *f = order[i];
		if (f->n_samples == 0)
			continue;
		if (f->help[0] != '\0') {
			put_str(&o, "# HELP ");
			put_str(&o, f->name);
			put_str(&o, " ");
			put_escaped(&o, f->help, false);
			put_str(&o, "\n");
		}
		put_str(&o, "# TYPE ");
		put_str(&o, f->name);
		put_str(&o, " ");
		put_str(&o, type_name(f->type));
		put_str(&o, "\n");
		for (size_t k = 0; k < f->n_samples; k++) {
			const struct sample *s = &f->samples[k];
			if (f->type == BR_METRIC_HISTOGRAM)
				put_histogram(&o, f, s);
			else
				put_series(&o, f->name, "", s, NULL, s->value);
		}
	}
	free(order);
	if (ret_len != NULL)
		*ret_len = o.len;
	return o.p;
}
