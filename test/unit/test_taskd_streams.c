/* SPDX-License-Identifier: Apache-2.0 */
/* The exec process and the stdio flags taskd reads from a container's spec (taskd/streams.c). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/proto/tasks.h"
#include "t.h"
#include "taskd/taskd.h"

static const char spec[] =
        "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
        "\"args\":[\"sleep\",\"100\"],\"env\":[\"PATH=/bin\",\"A=1\",\"B=2\"],\"cwd\":\"/srv\","
        "\"capabilities\":{\"bounding\":[\"CAP_KILL\"]},\"noNewPrivileges\":true,"
        "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}]},"
        "\"annotations\":{\"io.berth.open-stdin\":\"true\"}}";

static yajl_val
parse(const char *json)
{
	yajl_val v = NULL;
	br_err err = BR_ERR_INIT;

	if (br_json_parse(json, strlen(json), strlen(json) + 1, "process", &v, &err) < 0)
		T_FAIL_("%s", err.msg);
	return v;
}

static void
test_stdio_flags(void)
{
	bool terminal = true, open_stdin = false;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_spec_stdio(spec, &terminal, &open_stdin, &err), err);
	T_OK(!terminal);
	T_OK(open_stdin);
	T_NOERR(taskd_spec_stdio("{\"process\":{\"terminal\":true}}", &terminal, &open_stdin, &err),
	        err);
	T_OK(terminal);
	T_OK(!open_stdin);
	T_ERR(taskd_spec_stdio("{\"nope\":1}", &terminal, &open_stdin, &err), err,
	      BR_INVALID_ARGUMENT);
}

static void
test_exec_process_keeps_the_container_s(void)
{
	const char *args[] = {"sh", "-c", "echo hi"};
	const char *env[] = {"A=override", "C=3"};
	struct br_task_exec_req req = {.id = "c",
	                               .args = {args, 3},
	                               .env = {env, 2},
	                               .terminal = true,
	                               .rows = 24,
	                               .cols = 80};
	char *json = NULL;
	br_err err = BR_ERR_INIT;

	T_NOERR(taskd_exec_process(spec, &req, -1, &json, &err), err);
	yajl_val p = parse(json);
	const char *cwd = NULL;
	char **got_args = NULL, **got_env = NULL;
	bool terminal = false, nnp = false;
	int64_t height = 0;
	yajl_val size = NULL, caps = NULL;
	T_NOERR(br_json_get_strv(p, "", "args", true, 16, &got_args, &err), err);
	T_EQ_STR(got_args[2], "echo hi");
	T_NOERR(br_json_get_strv(p, "", "env", true, 16, &got_env, &err), err);
	T_EQ_STR(got_env[0], "PATH=/bin");
	T_EQ_STR(got_env[1], "B=2");
	T_EQ_STR(got_env[2], "A=override");
	T_EQ_STR(got_env[3], "C=3");
	T_NULL(got_env[4]);
	T_NOERR(br_json_get_str(p, "", "cwd", true, &cwd, &err), err);
	T_EQ_STR(cwd, "/srv");
	T_NOERR(br_json_get_bool(p, "", "terminal", true, &terminal, &err), err);
	T_OK(terminal);
	T_NOERR(br_json_get_obj(p, "", "consoleSize", true, &size, &err), err);
	T_NOERR(br_json_get_int(size, "consoleSize", "height", true, &height, &err), err);
	T_EQ_INT(height, 24);
	/* What the request does not name is the container's: confinement stays. */
	T_NOERR(br_json_get_bool(p, "", "noNewPrivileges", true, &nnp, &err), err);
	T_OK(nnp);
	T_NOERR(br_json_get_obj(p, "", "capabilities", true, &caps, &err), err);
	br_strv_free(got_args);
	br_strv_free(got_env);
	yajl_tree_free(p);
	free(json);
}

static void
test_exec_process_user_and_dir(void)
{
	char dir[] = "/tmp/berth-test-rootfs.XXXXXX";
	const char *args[] = {"id"};
	struct br_task_exec_req req = {
	        .id = "c", .args = {args, 1}, .user = "app", .working_dir = "/tmp"};
	char *json = NULL;
	br_err err = BR_ERR_INIT;

	T_OK(mkdtemp(dir) != NULL);
	char path[256];
	snprintf(path, sizeof(path), "%s/etc", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/etc/passwd", dir);
	FILE *f = fopen(path, "w");
	fputs("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", f);
	fclose(f);
	int rootfs = open(dir, O_RDONLY | O_DIRECTORY);
	T_NOERR(taskd_exec_process(spec, &req, rootfs, &json, &err), err);
	yajl_val p = parse(json), user = NULL;
	int64_t uid = -1, gid = -1;
	const char *cwd = NULL;
	T_NOERR(br_json_get_obj(p, "", "user", true, &user, &err), err);
	T_NOERR(br_json_get_int(user, "user", "uid", true, &uid, &err), err);
	T_NOERR(br_json_get_int(user, "user", "gid", true, &gid, &err), err);
	T_EQ_INT(uid, 1000);
	T_EQ_INT(gid, 1001);
	T_NOERR(br_json_get_str(p, "", "cwd", true, &cwd, &err), err);
	T_EQ_STR(cwd, "/tmp");
	yajl_tree_free(p);
	free(json);
	/* A user the image does not know is refused, naming it. */
	req.user = "nobody-here";
	T_ERR(taskd_exec_process(spec, &req, rootfs, &json, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "nobody-here") != NULL);
	close(rootfs);
	unlink(path);
	snprintf(path, sizeof(path), "%s/etc", dir);
	rmdir(path);
	rmdir(dir);
}

static void
test_exec_process_refusals(void)
{
	const char *args[] = {"true"};
	const char *bad_env[] = {"NOEQUALS"};
	struct br_task_exec_req req = {.id = "c", .args = {args, 1}, .env = {bad_env, 1}};
	char *json = NULL;
	br_err err = BR_ERR_INIT;

	T_ERR(taskd_exec_process(spec, &req, -1, &json, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "NOEQUALS") != NULL);
	br_err_clear(&err);
	req.env.n = 0;
	req.working_dir = "relative";
	T_ERR(taskd_exec_process(spec, &req, -1, &json, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "absolute") != NULL);
}

T_MAIN(T_CASE(test_stdio_flags), T_CASE(test_exec_process_keeps_the_container_s),
       T_CASE(test_exec_process_user_and_dir), T_CASE(test_exec_process_refusals))
