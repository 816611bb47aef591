/* SPDX-License-Identifier: Apache-2.0 */
/*
 * berth system df and berth system prune: disk use of the stores as a whole, and collection
 * on demand. df asks content.usage and snapshots.usage (every namespace); prune, with --all,
 * first removes the images of the namespace that no container uses, then has both stores
 * collect now and reports what the two collections removed and the bytes they know they freed
 * (the blobs' sizes; the sizes of the snapshots measured before), without walking the stores
 * again.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/json.h"
#include "common/proto/content.h"
#include "common/proto/images.h"
#include "common/proto/leases.h"
#include "common/proto/snapshots.h"
#include "common/proto/tasks.h"
#include "ctl/ctl.h"

struct usage {
	struct br_content_usage content;
	struct br_snap_usage_resp snapshots;
};

static int
get_usage(struct ctl *ctl, br_arena *arena, struct usage *ret, br_err *err)
{
	struct br_snap_usage_req req = {0};

	if (ctl_call(ctl, "content.usage", &br_empty_schema, NULL, &br_content_usage_schema,
	             &ret->content, arena, 0, err) < 0 ||
	    ctl_call(ctl, "snapshots.usage", &br_snap_usage_req_schema, &req,
	             &br_snap_usage_resp_schema, &ret->snapshots, arena, 120000, err) < 0)
		return -1;
	return 0;
}

static void
percent(int64_t part, int64_t whole, char *buf, size_t cap)
{
	char size[32];

	ctl_human_size(part, size, sizeof(size));
	snprintf(buf, cap, "%s (%lld%%)", size, whole > 0 ? (long long)(part * 100 / whole) : 0LL);
}

/* One row per namespace found in either store's figures. */
struct ns_row {
	const char *name;
	const struct br_content_ns_usage *content;
	const struct br_snap_ns_usage *snapshots;
};

static size_t
merge_namespaces(const struct usage *u, br_arena *arena, struct ns_row **ret)
{
	const struct br_content_ns_usage *c = u->content.namespaces.v;
	const struct br_snap_ns_usage *s = u->snapshots.namespaces.v;
	size_t nc = u->content.namespaces.n, ns = u->snapshots.namespaces.n, n = 0;
	struct ns_row *rows = br_arena_alloc(arena, (nc + ns + 1) * sizeof(*rows));

	/* Both lists are ordered by namespace. */
	for (size_t i = 0, j = 0; i < nc || j < ns;) {
		int cmp = i == nc ? 1 : j == ns ? -1 : strcmp(c[i].ns, s[j].ns);
		struct ns_row *r = &rows[n++];
		r->name = cmp <= 0 ? c[i].ns : s[j].ns;
		r->content = cmp <= 0 ? &c[i++] : NULL;
		r->snapshots = cmp >= 0 ? &s[j++] : NULL;
	}
	*ret = rows;
	return n;
}

static void
df_json(const struct usage *u, const struct ns_row *rows, size_t n)
{
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	br_json_gen_str(g, "content");
	yajl_gen_map_open(g);
	br_json_gen_kv_int(g, "blobs", u->content.blobs);
	br_json_gen_kv_int(g, "bytes", u->content.bytes);
	br_json_gen_kv_int(g, "ingests", u->content.ingests);
	br_json_gen_kv_int(g, "ingest_bytes", u->content.ingest_bytes);
	br_json_gen_kv_int(g, "reclaimable_bytes", u->content.reclaimable_bytes);
	yajl_gen_map_close(g);
	br_json_gen_str(g, "snapshots");
	yajl_gen_map_open(g);
	br_json_gen_kv_int(g, "snapshots", u->snapshots.snapshots);
	br_json_gen_kv_int(g, "bytes", u->snapshots.size);
	br_json_gen_kv_int(g, "inodes", u->snapshots.inodes);
	br_json_gen_kv_int(g, "reclaimable_bytes", u->snapshots.reclaimable_size);
	yajl_gen_map_close(g);
	br_json_gen_str(g, "namespaces");
	yajl_gen_array_open(g);
	for (size_t i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		br_json_gen_kv_str(g, "name", rows[i].name);
		br_json_gen_kv_int(g, "leases", rows[i].content ? rows[i].content->leases : 0);
		br_json_gen_kv_int(g, "blobs", rows[i].content ? rows[i].content->blobs : 0);
		br_json_gen_kv_int(g, "content_bytes",
		                   rows[i].content ? rows[i].content->bytes : 0);
		br_json_gen_kv_int(g, "snapshots",
		                   rows[i].snapshots ? rows[i].snapshots->snapshots : 0);
		br_json_gen_kv_int(g, "snapshot_bytes",
		                   rows[i].snapshots ? rows[i].snapshots->size : 0);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	ctl_print_json(g);
}

static int
cmd_df(struct ctl *ctl, int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			printf("Usage: berth system df\n\nDisk used by the content store and the "
			       "snapshots, what a collection would free now, and what each "
			       "namespace holds.\n");
			return 0;
		}
		return ctl_usage_error("system df takes no arguments");
	}
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct usage u;
	struct ns_row *rows;
	br_err err = BR_ERR_INIT;

	if (get_usage(ctl, arena, &u, &err) < 0)
		return ctl_report(&err);
	size_t n = merge_namespaces(&u, arena, &rows);
	if (ctl->json) {
		df_json(&u, rows, n);
		return 0;
	}
	static const char *const headers[] = {"TYPE", "COUNT", "SIZE", "RECLAIMABLE"};
	struct ctl_table *t = ctl_table_new(4, headers);
	char count[32], size[32], reclaim[64];
	snprintf(count, sizeof(count), "%lld", (long long)u.content.blobs);
	ctl_human_size(u.content.bytes, size, sizeof(size));
	percent(u.content.reclaimable_bytes, u.content.bytes, reclaim, sizeof(reclaim));
	ctl_table_add(t, (const char *const[]){"Content", count, size, reclaim});
	snprintf(count, sizeof(count), "%lld", (long long)u.snapshots.snapshots);
	ctl_human_size(u.snapshots.size, size, sizeof(size));
	percent(u.snapshots.reclaimable_size, u.snapshots.size, reclaim, sizeof(reclaim));
	ctl_table_add(t, (const char *const[]){"Snapshots", count, size, reclaim});
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	if (n == 0)
		return 0;

	static const char *const ns_headers[] = {"NAMESPACE", "LEASES",    "BLOBS",
	                                         "CONTENT",   "SNAPSHOTS", "SNAPSHOT SIZE"};
	t = ctl_table_new(6, ns_headers);
	for (size_t i = 0; i < n; i++) {
		char leases[32], blobs[32], content[32], snaps[32], snap_size[32];
		const struct br_content_ns_usage *c = rows[i].content;
		const struct br_snap_ns_usage *s = rows[i].snapshots;
		snprintf(leases, sizeof(leases), "%lld", (long long)(c ? c->leases : 0));
		snprintf(blobs, sizeof(blobs), "%lld", (long long)(c ? c->blobs : 0));
		ctl_human_size(c ? c->bytes : 0, content, sizeof(content));
		snprintf(snaps, sizeof(snaps), "%lld", (long long)(s ? s->snapshots : 0));
		ctl_human_size(s ? s->size : 0, snap_size, sizeof(snap_size));
		ctl_table_add(t, (const char *const[]){rows[i].name, leases, blobs, content, snaps,
		                                       snap_size});
	}
	printf("\n");
	ctl_table_print(t, stdout);
	ctl_table_free(t);
	return 0;
}

/* ---- prune ---- */

static bool
confirm(const char *ns)
{
	char line[16];

	fprintf(stderr,
	        "WARNING! This removes every image of namespace \"%s\" that no container uses,\n"
	        "and everything no image, container or running pull holds.\n"
	        "Are you sure you want to continue? [y/N] ",
	        ns);
	fflush(stderr);
	if (fgets(line, sizeof(line), stdin) == NULL)
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* Remove the namespace's images that no container uses; their names go to *ret. */
static int
remove_unused_images(struct ctl *ctl, br_arena *arena, struct br_strlist *ret, br_err *err)
{
	struct br_image_list_req ireq = {0};
	struct br_image_list_resp ipage;
	struct br_container_list_req creq = {0};
	struct br_container_list_resp cpage;
	struct br_objlist images, containers;

	if (ctl_list_all(ctl, "images.list", &br_image_list_req_schema, &ireq, &ireq.page,
	                 &br_image_list_resp_schema, &ipage, &ipage.items, &ipage.next_page_token,
	                 sizeof(struct br_image), arena, &images, err) < 0 ||
	    ctl_list_all(ctl, "containers.list", &br_container_list_req_schema, &creq, &creq.page,
	                 &br_container_list_resp_schema, &cpage, &cpage.items,
	                 &cpage.next_page_token, sizeof(struct br_container), arena, &containers,
	                 err) < 0)
		return -1;
	const struct br_image *im = images.v;
	const struct br_container *cs = containers.v;
	ret->v = br_arena_alloc(arena, (images.n + 1) * sizeof(*ret->v));
	ret->n = 0;
	for (size_t i = 0; i < images.n; i++) {
		bool used = false;
		for (size_t k = 0; k < containers.n && !used; k++)
			used = cs[k].image != NULL && strcmp(cs[k].image, im[i].name) == 0;
		if (used)
			continue;
		struct br_image_name_req req = {.name = im[i].name};
		if (ctl_call(ctl, "images.remove", &br_image_name_req_schema, &req, NULL, NULL,
		             NULL, 0, err) < 0) {
			if (err->code == BR_NOT_FOUND) {
				br_err_clear(err);
				continue;
			}
			return br_err_wrap(err, "remove image %s", im[i].name);
		}
		ret->v[ret->n++] = im[i].name;
	}
	return 0;
}

static int
cmd_prune(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
	        {"all", no_argument, NULL, 'a'},
	        {"force", no_argument, NULL, 'f'},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool all = false, force = false;
	int c;

	struct ctl_opts op = {argc, argv, "afh", opts, "system prune"};
	while ((c = ctl_opts_next(&op)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			printf("Usage: berth system prune [-a|--all] [-f|--force]\n\n"
			       "Collect now what nothing holds. With --all, first remove the "
			       "namespace's images that no container uses (asks unless "
			       "--force).\n");
			return 0;
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage_error("system prune takes no arguments");
	if (all && !force && !confirm(ctl->ns)) {
		fprintf(stderr, "berth: system prune: not confirmed; nothing removed\n");
		return 1;
	}

	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_strlist removed = {0};
	struct br_gc_result content_gc, snap_gc;
	br_err err = BR_ERR_INIT;

	if ((all && remove_unused_images(ctl, arena, &removed, &err) < 0) ||
	    ctl_call(ctl, "content.gc", &br_empty_schema, NULL, &br_gc_result_schema, &content_gc,
	             arena, 600000, &err) < 0 ||
	    ctl_call(ctl, "snapshots.gc", &br_empty_schema, NULL, &br_gc_result_schema, &snap_gc,
	             arena, 600000, &err) < 0)
		return ctl_report(&err);
	/* content.gc's bytes are the sizes of the blobs removed; snapshots.gc's only those of the
	 * committed snapshots measured before (snapshots.usage), so theirs are a lower bound. */
	if (ctl->json) {
		yajl_gen g = br_json_gen_new();
		yajl_gen_map_open(g);
		ctl_json_strlist(g, "images_removed", &removed);
		br_json_gen_kv_int(g, "blobs_removed", content_gc.removed);
		br_json_gen_kv_int(g, "ingests_removed", content_gc.ingests);
		br_json_gen_kv_int(g, "snapshots_removed", snap_gc.removed);
		br_json_gen_kv_int(g, "blob_bytes", content_gc.bytes);
		br_json_gen_kv_int(g, "snapshot_bytes_known", snap_gc.bytes);
		yajl_gen_map_close(g);
		ctl_print_json(g);
		return 0;
	}
	if (removed.n > 0) {
		printf("Removed images:\n");
		for (size_t i = 0; i < removed.n; i++)
			printf("  %s\n", removed.v[i]);
	}
	char blob_size[32], snap_size[32];
	ctl_human_size(content_gc.bytes, blob_size, sizeof(blob_size));
	ctl_human_size(snap_gc.bytes, snap_size, sizeof(snap_size));
	printf("Removed %lld blobs (%s), %lld ingests and %lld snapshots (%s known)\n",
	       (long long)content_gc.removed, blob_size, (long long)content_gc.ingests,
	       (long long)snap_gc.removed, snap_size);
	return 0;
}

int
ctl_cmd_system(struct ctl *ctl, int argc, char **argv)
{
	static const struct ctl_sub subs[] = {
	        {"df", cmd_df},
	        {"prune", cmd_prune},
	};

	return ctl_run_sub(ctl, argc, argv, "system", subs, sizeof(subs) / sizeof(subs[0]),
	                   "Usage: berth system df\n"
	                   "       berth system prune [-a|--all] [-f|--force]\n");
}
