/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the tests of taskd/spec.c share: a sample image config, the create options of a
 * container "c1", building a spec and parsing it back with yajl, and getters on the tree.
 * Included by test_taskd_spec.c and test_taskd_runopts.c only; header-only, static inline.
 */
#ifndef BR_TEST_UNIT_T_SPEC_H
#define BR_TEST_UNIT_T_SPEC_H

#include <yajl_tree.h>

#include "common/cleanup.h"
#include "taskd/spec.h"
#include "test/unit/t.h"

#define NS_PATH "/run/berth/netd/netns/c1"

static const char *img_env[] = {"PATH=/bin:/usr/bin", "FOO=1", "BAR=image"};
static const char *img_ep[] = {"/bin/sh", "-c"};
static const char *img_cmd[] = {"echo hi"};

static inline struct br_image_runtime
sample_image(void)
{
	struct br_image_runtime img = {
	        .name = "docker.io/library/busybox:latest",
	        .env = {img_env, 3},
	        .entrypoint = {img_ep, 2},
	        .cmd = {img_cmd, 1},
	        .working_dir = "/work",
	};
	return img;
}

static inline struct taskd_spec_opts
base_opts(const struct br_image_runtime *img)
{
	struct taskd_spec_opts o = {
	        .ns = "default",
	        .id = "c1",
	        .image = img,
	        .net_mode = "none",
	        .netns_path = NS_PATH,
	        .hosts_path = "/run/berth/netd/c1/hosts",
	        .resolv_path = "/run/berth/netd/c1/resolv.conf",
	        .rootfs_fd = -1,
	};
	return o;
}

static inline yajl_val
build(const struct taskd_spec_opts *o, char ***ret_cmd)
{
	char *json = NULL, **cmd = NULL;
	char errbuf[256];
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_spec_build(o, &json, &cmd, &err), err);
	yajl_val root = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	if (root == NULL)
		T_FAIL_("generated spec is not JSON: %s\n%s", errbuf, json);
	free(json);
	if (ret_cmd != NULL)
		*ret_cmd = cmd;
	else
		br_strv_free(cmd);
	return root;
}

static inline yajl_val
get(yajl_val v, const char *a, const char *b, const char *c)
{
	const char *path[] = {a, b, c, NULL};
	return yajl_tree_get(v, path, yajl_t_any);
}

static inline const char *
str_at(yajl_val v, const char *a, const char *b, const char *c)
{
	yajl_val s = get(v, a, b, c);
	return YAJL_IS_STRING(s) ? YAJL_GET_STRING(s) : NULL;
}

static inline long long
int_at(yajl_val v, const char *a, const char *b, const char *c)
{
	yajl_val s = get(v, a, b, c);
	T_OK(YAJL_IS_INTEGER(s));
	return YAJL_GET_INTEGER(s);
}

/* The array as one string "a|b|c" for easy comparison. */
static inline const char *
joined(yajl_val arr)
{
	static char buf[4096];
	size_t n = 0;
	buf[0] = '\0';
	T_OK(YAJL_IS_ARRAY(arr));
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val s = arr->u.array.values[i];
		T_OK(YAJL_IS_STRING(s));
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "|" : "",
		                      YAJL_GET_STRING(s));
	}
	return buf;
}

/* The mount whose destination is `dest`, or NULL. */
static inline yajl_val
find_mount(yajl_val root, const char *dest)
{
	yajl_val mounts = get(root, "mounts", NULL, NULL);
	T_OK(YAJL_IS_ARRAY(mounts));
	for (size_t i = 0; i < mounts->u.array.len; i++) {
		const char *d = str_at(mounts->u.array.values[i], "destination", NULL, NULL);
		if (d != NULL && strcmp(d, dest) == 0)
			return mounts->u.array.values[i];
	}
	return NULL;
}

#endif
