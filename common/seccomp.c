/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shape of a user's seccomp profile, checked where it enters: by the CLI, which reads the
 * file and can name it, and by taskd, which takes the profile from any caller allowed to
 * create containers. What the runtime checks itself (operators, argument values) is left to
 * it.
 */
#include "common/seccomp.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SYSCALLS_MAX 4096
#define NAMES_MAX 1024
#define ARCHES_MAX 16

static bool
is_action(yajl_val v)
{
	return YAJL_IS_STRING(v) && strncmp(v->u.string, "SCMP_ACT_", 9) == 0;
}

static int
check_strings(yajl_val arr, const char *what, size_t max, bool nonempty, br_err *err)
{
	if (!YAJL_IS_ARRAY(arr))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected a list of strings", what);
	if (arr->u.array.len > max || (nonempty && arr->u.array.len == 0))
		return br_err_set(err, BR_INVALID_ARGUMENT, "%s: expected 1 to %zu entries", what,
		                  max);
	for (size_t i = 0; i < arr->u.array.len; i++) {
		yajl_val s = arr->u.array.values[i];
		if (!YAJL_IS_STRING(s) || s->u.string[0] == '\0')
			return br_err_set(err, BR_INVALID_ARGUMENT,
			                  "%s[%zu]: expected a non-empty string", what, i);
	}
	return 0;
}

static yajl_val
member(yajl_val obj, const char *key)
{
	const char *path[] = {key, NULL};
	yajl_val v = yajl_tree_get(obj, path, yajl_t_any);

	return v != NULL && !YAJL_IS_NULL(v) ? v : NULL;
}

static int
check_rule(yajl_val rule, size_t i, br_err *err)
{
	char what[48];

	if (!YAJL_IS_OBJECT(rule))
		return br_err_set(err, BR_INVALID_ARGUMENT, "syscalls[%zu]: expected an object", i);
	snprintf(what, sizeof(what), "syscalls[%zu].names", i);
	if (check_strings(member(rule, "names"), what, NAMES_MAX, true, err) < 0)
		return -1;
	if (!is_action(member(rule, "action")))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "syscalls[%zu].action: expected an SCMP_ACT_* action", i);
	return 0;
}

static int
check_tree(yajl_val root, br_err *err)
{
	yajl_val arches, calls;

	if (!YAJL_IS_OBJECT(root))
		return br_err_set(err, BR_INVALID_ARGUMENT, "expected a JSON object");
	if (!is_action(member(root, "defaultAction")))
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "defaultAction: expected an SCMP_ACT_* action");
	arches = member(root, "architectures");
	if (arches != NULL && check_strings(arches, "architectures", ARCHES_MAX, false, err) < 0)
		return -1;
	calls = member(root, "syscalls");
	if (calls == NULL)
		return 0;
	if (!YAJL_IS_ARRAY(calls) || calls->u.array.len > SYSCALLS_MAX)
		return br_err_set(err, BR_INVALID_ARGUMENT,
		                  "syscalls: expected a list of at most %d rules", SYSCALLS_MAX);
	for (size_t i = 0; i < calls->u.array.len; i++)
		if (check_rule(calls->u.array.values[i], i, err) < 0)
			return -1;
	return 0;
}

int
br_seccomp_profile_parse(const char *json, size_t len, const char *what, yajl_val *ret, br_err *err)
{
	yajl_val root = NULL;

	if (br_json_parse(json, len, BR_SECCOMP_PROFILE_MAX, what, &root, err) < 0)
		return -1;
	if (check_tree(root, err) < 0) {
		yajl_tree_free(root);
		return br_err_wrap(err, "%s", what);
	}
	if (ret != NULL)
		*ret = root;
	else
		yajl_tree_free(root);
	return 0;
}
