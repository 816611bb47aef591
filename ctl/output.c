/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the CLI shows and how it reads small values: aligned tables in the style of docker and
 * podman, human sizes (decimal units), durations and "N minutes ago", short digests, and the
 * parsing of --timeout and -e K=V. All pure functions, so the unit tests can pin the output
 * a user sees; the two printers of command results at the end (a list, one call per argument)
 * share them.
 */
#include "ctl/ctl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/xalloc.h"

void
ctl_human_size(int64_t bytes, char *buf, size_t cap)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double v = (double)(bytes < 0 ? 0 : bytes);
	size_t u = 0;

	while (v >= 1000.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, cap, "%.3g%s", v, units[u]);
}

void
ctl_human_duration(int64_t ms, char *buf, size_t cap)
{
	if (ms < 0)
		ms = 0;
	int64_t s = ms / 1000;
	if (s < 1)
		snprintf(buf, cap, "%lldms", (long long)ms);
	else if (s < 60)
		snprintf(buf, cap, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, cap, "%lldm%llds", (long long)(s / 60), (long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, cap, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else
		snprintf(buf, cap, "%lldd%lldh", (long long)(s / 86400),
		         (long long)(s % 86400 / 3600));
}

void
ctl_human_since(int64_t then_ms, int64_t now_ms, char *buf, size_t cap)
{
	if (then_ms <= 0) {
		snprintf(buf, cap, "N/A");
		return;
	}
	int64_t s = (now_ms - then_ms) / 1000;
	if (s < 0)
		s = 0;
	int64_t m = s / 60, h = s / 3600, d = s / 86400;

	if (s < 1)
		snprintf(buf, cap, "Less than a second ago");
	else if (s == 1)
		snprintf(buf, cap, "1 second ago");
	else if (s < 60)
		snprintf(buf, cap, "%lld seconds ago", (long long)s);
	else if (m == 1)
		snprintf(buf, cap, "About a minute ago");
	else if (m < 60)
		snprintf(buf, cap, "%lld minutes ago", (long long)m);
	else if (h == 1)
		snprintf(buf, cap, "About an hour ago");
	else if (h < 48)
		snprintf(buf, cap, "%lld hours ago", (long long)h);
	else if (d < 14)
		snprintf(buf, cap, "%lld days ago", (long long)d);
	else if (d < 60)
		snprintf(buf, cap, "%lld weeks ago", (long long)(d / 7));
	else if (d < 730)
		snprintf(buf, cap, "%lld months ago", (long long)(d / 30));
	else
		snprintf(buf, cap, "%lld years ago", (long long)(d / 365));
}

void
ctl_short_digest(const char *digest, char *buf, size_t cap)
{
	if (digest == NULL) {
		snprintf(buf, cap, "<none>");
		return;
	}
	if (strncmp(digest, "sha256:", 7) == 0 && strlen(digest) >= 7 + 12)
		snprintf(buf, cap, "sha256:%.12s", digest + 7);
	else
		snprintf(buf, cap, "%s", digest);
}

void
ctl_truncate(const char *s, size_t max, char *buf, size_t cap)
{
	size_t len = strlen(s);

	if (len <= max || max < 4)
		snprintf(buf, cap, "%s", s);
	else
		snprintf(buf, cap, "%.*s...", (int)(max - 3), s);
}

char *
ctl_join(const char *const *words, size_t n)
{
	size_t len = 1;

	for (size_t i = 0; i < n; i++)
		len += strlen(words[i]) + 1;
	char *out = xmalloc(len);
	char *p = out;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ' ';
		size_t w = strlen(words[i]);
		memcpy(p, words[i], w);
		p += w;
	}
	*p = '\0';
	return out;
}

int64_t
ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tables ---- */

struct ctl_table {
	size_t ncols;
	size_t nrows; /* the header included */
	char **cells; /* nrows * ncols */
};

struct ctl_table *
ctl_table_new(size_t ncols, const char *const *headers)
{
	struct ctl_table *t = xnew(struct ctl_table);

	t->ncols = ncols;
	ctl_table_add(t, headers);
	return t;
}

void
ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] = xstrdup(cells[c] != NULL ? cells[c] : "");
	t->nrows++;
}

void
ctl_table_print(const struct ctl_table *t, FILE *out)
{
	size_t *width = xcalloc(t->ncols, sizeof(size_t));

	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = strlen(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *cell = t->cells[r * t->ncols + c];
			if (c + 1 == t->ncols)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, "%-*s   ", (int)width[c], cell);
		}
	}
	free(width);
}

void
ctl_table_free(struct ctl_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* ---- parsing ---- */

int
ctl_parse_timeout(const char *s, int64_t *ret_ms, br_err *err)
{
	char *end = NULL;

	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0 || v > 86400)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --timeout \"%s\": expected seconds between 0 and 86400",
		                  s);
	int64_t ms = (int64_t)(v * 1000.0);
	*ret_ms = ms > 0 ? ms : 1;
	return 0;
}

int
ctl_check_env(const char *kv, br_err *err)
{
	const char *eq = strchr(kv, '=');

	if (eq == NULL)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid environment \"%s\": expected KEY=VALUE", kv);
	if (eq == kv)
		return br_err_set(err, BR_INVALID_ARGUMENT, "invalid environment \"%s\": empty key",
		                  kv);
	return 0;
}

int
ctl_labels_add(struct ctl_labels *l, const char *kv, br_arena *arena, br_err *err)
{
	const char *eq = strchr(kv, '=');

	if (kv[0] == '\0' || eq == kv)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "invalid --label \"%s\": expected KEY[=VALUE]", kv);
	l->keys = xrealloc(l->keys, (l->n + 1) * sizeof(*l->keys));
	l->values = xrealloc(l->values, (l->n + 1) * sizeof(*l->values));
	l->keys[l->n] = eq ? br_arena_printf(arena, "%.*s", (int)(eq - kv), kv) : kv;
	l->values[l->n++] = eq ? eq + 1 : "";
	return 0;
}

void
ctl_labels_fini(struct ctl_labels *l)
{
	free(l->keys);
	free(l->values);
	memset(l, 0, sizeof(*l));
}

int
ctl_set_format(struct ctl *ctl, const char *value)
{
	if (value == NULL || (strcmp(value, "json") != 0 && strcmp(value, "table") != 0))
		return ctl_usage_error("invalid --format \"%s\": expected table or json",
		                       value ? value : "");
	ctl->json = strcmp(value, "json") == 0;
	return 0;
}

void
ctl_json_strlist(yajl_gen g, const char *key, const struct br_strlist *l)
{
	br_json_gen_str(g, key);
	yajl_gen_array_open(g);
	for (size_t i = 0; i < l->n; i++)
		br_json_gen_str(g, l->v[i]);
	yajl_gen_array_close(g);
}

void
ctl_json_strmap(yajl_gen g, const char *key, const struct br_strmap *m)
{
	br_json_gen_str(g, key);
	yajl_gen_map_open(g);
	for (size_t i = 0; i < m->n; i++)
		br_json_gen_kv_str(g, m->keys[i], m->values[i]);
	yajl_gen_map_close(g);
}

void
ctl_print_json(yajl_gen g)
{
	_cleanup_free_ char *s = br_json_gen_take(g, NULL);
	printf("%s\n", s);
	yajl_gen_free(g);
}

int
ctl_print_list(const struct ctl *ctl, const struct ctl_list_view *v, const struct br_objlist *list,
               bool quiet, const bool *show)
{
	const char *items = list->v;

	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_array_open(g);
		for (size_t i = 0; i < list->n; i++) {
			if (show != NULL && !show[i])
				continue;
			yajl_gen_map_open(g);
			v->json(g, items + i * v->item_size);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		ctl_print_json(g);
		return 0;
	}
	if (quiet) {
		for (size_t i = 0; i < list->n; i++)
			if (show == NULL || show[i])
				printf("%s\n", v->key(items + i * v->item_size));
		return 0;
	}
	struct ctl_table *t = ctl_table_new(v->n_cols, v->headers);
	int64_t now = ctl_now_ms();
	for (size_t i = 0; i < list->n; i++)
		if (show == NULL || show[i])
			v->row(t, items + i * v->item_size, now);
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return 0;
}

/* ctl_each_arg and ctl_inspect_each: with `gen`, each answer goes into a JSON array. */
static int
each_arg(struct ctl *ctl, int argc, char **argv, const char *method, const struct br_schema *schema,
         void *req, const char **arg, const char *usage, const struct br_schema *resp_schema,
         void *resp, void (*gen)(yajl_gen g, const void *resp))
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CTL_EXIT_USAGE : 0;
	}
	_cleanup_(br_arena_freep) br_arena *arena = gen ? br_arena_new() : NULL;
	yajl_gen g = gen ? br_json_gen_new() : NULL;
	int rc = 0;
	if (g != NULL)
		yajl_gen_array_open(g);
	for (int i = 1; i < argc; i++) {
		br_err err = BR_ERR_INIT;
		*arg = argv[i];
		if (ctl_call(ctl, method, schema, req, resp_schema, resp, arena, 0, &err) < 0) {
			rc = ctl_report(&err);
			/* Nothing further would get through either. */
			if (err.code == BR_UNAVAILABLE)
				break;
			continue;
		}
		if (g == NULL) {
			printf("%s\n", argv[i]);
			continue;
		}
		yajl_gen_map_open(g);
		gen(g, resp);
		yajl_gen_map_close(g);
	}
	if (g != NULL) {
		yajl_gen_array_close(g);
		ctl_print_json(g);
	}
	return rc;
}

int
ctl_each_arg(struct ctl *ctl, int argc, char **argv, const char *method,
             const struct br_schema *schema, void *req, const char **arg, const char *usage)
{
	return each_arg(ctl, argc, argv, method, schema, req, arg, usage, NULL, NULL, NULL);
}

int
ctl_inspect_each(struct ctl *ctl, int argc, char **argv, const char *method,
                 const struct br_schema *schema, void *req, const char **arg, const char *usage,
                 const struct br_schema *resp_schema, void *resp,
                 void (*gen)(yajl_gen g, const void *resp))
{
	return each_arg(ctl, argc, argv, method, schema, req, arg, usage, resp_schema, resp, gen);
}
