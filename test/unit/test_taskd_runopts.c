/* SPDX-License-Identifier: Apache-2.0 */
/*
 * taskd/spec_run.c through taskd_spec_build: the run options in the generated config.json,
 * parsed back with yajl: bind, volume and tmpfs mounts, capabilities after add/drop/ALL and
 * --privileged (with what privileged also lifts), devices and their cgroup rules, memory
 * (and the docker default for memory+swap), CPU and pids limits, the read-only root, rlimits
 * within the host's, --init in front of the command, --entrypoint "", and every error a bad
 * option gets.
 */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "common/cleanup.h"
#include "test/unit/t_spec.h"

/* The map in array `arr` whose `key` is `value`, or NULL. */
static yajl_val
find_in(yajl_val arr, const char *key, const char *value)
{
	for (size_t i = 0; YAJL_IS_ARRAY(arr) && i < arr->u.array.len; i++) {
		const char *v = str_at(arr->u.array.values[i], key, NULL, NULL);
		if (v != NULL && strcmp(v, value) == 0)
			return arr->u.array.values[i];
	}
	return NULL;
}

static void
test_run_mounts(void)
{
	struct br_image_runtime img = sample_image();
	struct br_mount_opt mounts[] = {
	        {.type = "bind", .source = "/tmp", .target = "/b", .readonly = true},
	        {.type = "volume", .source = "/tmp", .target = "/v"},
	        {.type = "tmpfs", .target = "/t", .tmpfs_size = 1 << 20, .tmpfs_mode = 0700},
	        {.type = "tmpfs", .target = "/t2"},
	};
	struct br_container_create_req run = {.mounts = {mounts, 4}};
	struct taskd_spec_opts o = base_opts(&img);
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;

	o.run = &run;
	yajl_val root = build(&o, NULL);
	yajl_val m = find_mount(root, "/b");
	T_NOT_NULL(m);
	T_EQ_STR(str_at(m, "type", NULL, NULL), "bind");
	T_EQ_STR(str_at(m, "source", NULL, NULL), "/tmp");
	T_EQ_STR(joined(get(m, "options", NULL, NULL)), "rbind|rprivate|ro");
	m = find_mount(root, "/v");
	T_NOT_NULL(m);
	T_EQ_STR(str_at(m, "type", NULL, NULL), "bind");
	T_EQ_STR(joined(get(m, "options", NULL, NULL)), "rbind|rprivate|rw");
	m = find_mount(root, "/t");
	T_EQ_STR(str_at(m, "type", NULL, NULL), "tmpfs");
	T_EQ_STR(joined(get(m, "options", NULL, NULL)),
	         "nosuid|nodev|noexec|size=1048576|mode=700|rw");
	m = find_mount(root, "/t2");
	T_EQ_STR(joined(get(m, "options", NULL, NULL)), "nosuid|nodev|noexec|mode=1777|rw");
	yajl_tree_free(root);

	/* errors name the mount */
	struct br_mount_opt bad[][2] = {
	        {{.type = "bind", .source = "/tmp", .target = "rel"}},
	        {{.type = "bind", .source = "/tmp", .target = "/a/../b"}},
	        {{.type = "bind", .source = "/nonexistent/src", .target = "/a"}},
	        {{.type = "bind", .source = "tmp", .target = "/a"}},
	        {{.type = "nfs", .source = "/tmp", .target = "/a"}},
	        {{.type = "tmpfs", .target = "/a"},
	         {.type = "bind", .source = "/tmp", .target = "/a"}},
	};
	static const char *const want[] = {
	        "mount target \"rel\": must be absolute and clean",
	        "mount target \"/a/../b\": must be absolute and clean",
	        "bind mount /a: source path \"/nonexistent/src\": No such file or directory",
	        "bind mount /a: the source must be an absolute host path",
	        "mount /a: type \"nfs\": expected bind, volume or tmpfs",
	        "duplicate mount point /a",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct br_container_create_req r = {.mounts = {bad[i], bad[i][1].type ? 2 : 1}};
		o.run = &r;
		br_err_clear(&err);
		T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
		if (strncmp(err.msg, want[i], strlen(want[i])) != 0)
			T_FAIL_("error \"%s\", wanted \"%s\"", err.msg, want[i]);
	}
	T_NULL(json);
}

static void
test_run_capabilities(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	struct br_container_create_req run = {0};
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;
	yajl_val root;

	o.run = &run;
	static const char *all[] = {"ALL"}, *sys_admin[] = {"cap_sys_admin"},
	                  *net_admin[] = {"NET_ADMIN"}, *chown_[] = {"CAP_CHOWN", "kill"},
	                  *nope[] = {"CAP_NOPE"};
	run.cap_drop = (struct br_strlist){all, 1};
	run.cap_add = (struct br_strlist){sys_admin, 1};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "capabilities", "bounding")), "CAP_SYS_ADMIN");
	T_EQ_STR(joined(get(root, "process", "capabilities", "effective")), "CAP_SYS_ADMIN");
	yajl_tree_free(root);

	run.cap_drop = (struct br_strlist){0};
	run.cap_add = (struct br_strlist){net_admin, 1};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "capabilities", "permitted")),
	         "CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FSETID|CAP_FOWNER|CAP_MKNOD|CAP_NET_RAW|"
	         "CAP_SETGID|CAP_SETUID|CAP_SETFCAP|CAP_SETPCAP|CAP_NET_BIND_SERVICE|"
	         "CAP_SYS_CHROOT|CAP_KILL|CAP_AUDIT_WRITE|CAP_NET_ADMIN");
	yajl_tree_free(root);

	run.cap_add = (struct br_strlist){0};
	run.cap_drop = (struct br_strlist){chown_, 2};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "capabilities", "bounding")),
	         "CAP_DAC_OVERRIDE|CAP_FSETID|CAP_FOWNER|CAP_MKNOD|CAP_NET_RAW|CAP_SETGID|"
	         "CAP_SETUID|CAP_SETFCAP|CAP_SETPCAP|CAP_NET_BIND_SERVICE|CAP_SYS_CHROOT|"
	         "CAP_AUDIT_WRITE");
	yajl_tree_free(root);

	run.cap_drop = (struct br_strlist){0};
	run.cap_add = (struct br_strlist){nope, 1};
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "--cap-add \"CAP_NOPE\": unknown capability");

	/* --privileged: the host's bounding set, no seccomp, masked or read-only paths, no
	 * no-new-privileges, /sys writable, every device allowed */
	run.cap_add = (struct br_strlist){0};
	run.privileged = true;
	root = build(&o, NULL);
	unsigned long long bnd = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		sscanf(line, "CapBnd: %llx", &bnd);
	if (f != NULL)
		fclose(f);
	yajl_val caps = get(root, "process", "capabilities", "bounding");
	T_EQ_INT(caps->u.array.len, __builtin_popcountll(bnd));
	T_NULL(get(root, "linux", "seccomp", NULL));
	T_NULL(get(root, "linux", "maskedPaths", NULL));
	T_NULL(get(root, "linux", "readonlyPaths", NULL));
	T_OK(YAJL_IS_FALSE(get(root, "process", "noNewPrivileges", NULL)));
	T_EQ_STR(joined(get(find_mount(root, "/sys"), "options", NULL, NULL)),
	         "nosuid|noexec|nodev|rw");
	yajl_val rules = get(root, "linux", "resources", "devices");
	T_EQ_INT(rules->u.array.len, 1);
	T_OK(YAJL_IS_TRUE(get(rules->u.array.values[0], "allow", NULL, NULL)));
	T_NOT_NULL(find_in(get(root, "linux", "devices", NULL), "path", "/dev/null"));
	yajl_tree_free(root);
}

static void
test_run_resources_and_devices(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	struct br_device_opt devices[] = {
	        {.host_path = "/dev/null", .container_path = "/dev/mynull", .permissions = "r"},
	        {.host_path = "/dev/zero"},
	};
	struct br_container_create_req run = {.memory = 32 << 20,
	                                      .memory_swap = -1,
	                                      .nano_cpus = 1500000000,
	                                      .pids_limit = 10,
	                                      .read_only = true,
	                                      .devices = {devices, 2}};
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;

	o.run = &run;
	yajl_val root = build(&o, NULL);
	T_OK(YAJL_IS_TRUE(get(root, "root", "readonly", NULL)));
	yajl_val res = get(root, "linux", "resources", NULL);
	T_EQ_INT(int_at(res, "memory", "limit", NULL), 32 << 20);
	T_EQ_INT(int_at(res, "memory", "swap", NULL), -1);
	T_EQ_INT(int_at(res, "cpu", "quota", NULL), 150000);
	T_EQ_INT(int_at(res, "cpu", "period", NULL), 100000);
	T_EQ_INT(int_at(res, "pids", "limit", NULL), 10);
	yajl_val d = find_in(get(root, "linux", "devices", NULL), "path", "/dev/mynull");
	T_NOT_NULL(d);
	T_EQ_STR(str_at(d, "type", NULL, NULL), "c");
	T_EQ_INT(int_at(d, "major", NULL, NULL), 1);
	T_EQ_INT(int_at(d, "minor", NULL, NULL), 3);
	T_NOT_NULL(find_in(get(root, "linux", "devices", NULL), "path", "/dev/zero"));
	yajl_val rules = get(res, "devices", NULL, NULL);
	T_EQ_INT(rules->u.array.len, 3); /* deny all, then the two devices */
	T_OK(YAJL_IS_FALSE(get(rules->u.array.values[0], "allow", NULL, NULL)));
	T_OK(YAJL_IS_TRUE(get(rules->u.array.values[1], "allow", NULL, NULL)));
	T_EQ_STR(str_at(rules->u.array.values[1], "access", NULL, NULL), "r");
	T_EQ_INT(int_at(rules->u.array.values[1], "minor", NULL, NULL), 3);
	T_EQ_STR(str_at(rules->u.array.values[2], "access", NULL, NULL), "rwm");
	yajl_tree_free(root);

	/* a memory limit alone: memory+swap twice that where the host accounts swap, as docker */
	struct br_container_create_req mem_only = {.memory = 64 << 20};
	o.run = &mem_only;
	o.swap_accounting = true;
	root = build(&o, NULL);
	res = get(root, "linux", "resources", NULL);
	T_EQ_INT(int_at(res, "memory", "limit", NULL), 64 << 20);
	T_EQ_INT(int_at(res, "memory", "swap", NULL), 128 << 20);
	yajl_tree_free(root);
	o.swap_accounting = false;
	root = build(&o, NULL);
	res = get(root, "linux", "resources", NULL);
	T_EQ_INT(int_at(res, "memory", "limit", NULL), 64 << 20);
	T_NULL(get(res, "memory", "swap", NULL));
	yajl_tree_free(root);

	/* no options: no limits at all */
	struct br_container_create_req none = {0};
	o.run = &none;
	root = build(&o, NULL);
	T_NULL(get(root, "linux", "resources", "memory"));
	T_NULL(get(root, "linux", "resources", "cpu"));
	T_NULL(get(root, "linux", "resources", "pids"));
	T_OK(YAJL_IS_FALSE(get(root, "root", "readonly", NULL)));
	yajl_tree_free(root);

	struct br_device_opt not_dev[] = {{.host_path = "/tmp"}};
	struct br_container_create_req bad[] = {
	        {.memory = 1 << 20},
	        {.memory_swap = 1 << 30},
	        {.memory = 64 << 20, .memory_swap = 32 << 20},
	        {.nano_cpus = 1000},
	        {.pids_limit = -5},
	        {.devices = {not_dev, 1}},
	};
	static const char *const want[] = {
	        "memory limit 1048576: must be at least",
	        "memory+swap limit 1073741824: needs a memory limit",
	        "memory+swap limit 33554432: needs a memory limit",
	        "cpus: at least 0.01 CPUs",
	        "pids limit -5",
	        "device /tmp: not a device node",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		o.run = &bad[i];
		br_err_clear(&err);
		T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
		if (strncmp(err.msg, want[i], strlen(want[i])) != 0)
			T_FAIL_("error \"%s\", wanted \"%s\"", err.msg, want[i]);
	}
}

static void
test_run_rlimits(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	struct br_ulimit_opt ulimits[] = {{"nofile", 100, 200}, {"core", -1, -1}};
	struct br_container_create_req run = {.ulimits = {ulimits, 2}};
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;
	struct rlimit core;

	o.run = &run;
	getrlimit(RLIMIT_CORE, &core);
	if (core.rlim_max != RLIM_INFINITY)
		ulimits[1] = (struct br_ulimit_opt){"core", 0, (int64_t)core.rlim_max};
	yajl_val root = build(&o, NULL);
	yajl_val rl = get(root, "process", "rlimits", NULL);
	T_EQ_INT(rl->u.array.len, 2); /* nofile replaces the default one */
	yajl_val nofile = find_in(rl, "type", "RLIMIT_NOFILE");
	T_EQ_INT(int_at(nofile, "soft", NULL, NULL), 100);
	T_EQ_INT(int_at(nofile, "hard", NULL, NULL), 200);
	yajl_val c = find_in(rl, "type", "RLIMIT_CORE");
	T_NOT_NULL(c);
	if (core.rlim_max == RLIM_INFINITY)
		T_EQ_STR(YAJL_GET_NUMBER(get(c, "hard", NULL, NULL)), "18446744073709551615");
	yajl_tree_free(root);

	struct rlimit host;
	getrlimit(RLIMIT_NOFILE, &host);
	struct br_ulimit_opt above[] = {{"nofile", 10, (int64_t)host.rlim_max + 1}};
	struct br_ulimit_opt unknown[] = {{"files", 1, 1}};
	struct br_ulimit_opt twice[] = {{"nproc", 1, 1}, {"nproc", 2, 2}};
	struct br_ulimit_opt inverted[] = {{"nproc", 2, 1}};
	struct br_container_create_req bad[] = {
	        {.ulimits = {above, 1}},
	        {.ulimits = {unknown, 1}},
	        {.ulimits = {twice, 2}},
	        {.ulimits = {inverted, 1}},
	};
	static const char *const want[] = {
	        "--ulimit nofile: the hard limit requested is above the host's",
	        "--ulimit files: unknown limit",
	        "--ulimit nproc given twice",
	        "--ulimit nproc: the soft limit is above the hard one",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (i == 0 && host.rlim_max == RLIM_INFINITY)
			continue;
		o.run = &bad[i];
		br_err_clear(&err);
		T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
		if (strncmp(err.msg, want[i], strlen(want[i])) != 0)
			T_FAIL_("error \"%s\", wanted \"%s\"", err.msg, want[i]);
	}
}

static void
test_run_init_and_entrypoint(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	char **cmd = NULL;

	o.init_path = "/usr/libexec/berth/berth-init";
	yajl_val root = build(&o, &cmd);
	T_EQ_STR(joined(get(root, "process", "args", NULL)),
	         "/sbin/berth-init|--|/bin/sh|-c|echo hi");
	T_EQ_STR(cmd[0], "/sbin/berth-init");
	yajl_val m = find_mount(root, "/sbin/berth-init");
	T_NOT_NULL(m);
	T_EQ_STR(str_at(m, "source", NULL, NULL), "/usr/libexec/berth/berth-init");
	T_EQ_STR(joined(get(m, "options", NULL, NULL)), "bind|ro|nosuid|nodev");
	br_strv_free(cmd);
	yajl_tree_free(root);

	/* --entrypoint "": no entrypoint, and no image Cmd either; the args run alone */
	static const char *empty[] = {""}, *args[] = {"echo", "x"};
	o = base_opts(&img);
	o.entrypoint = (struct br_strlist){empty, 1};
	o.args = (struct br_strlist){args, 2};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "args", NULL)), "echo|x");
	yajl_tree_free(root);

	char *json = NULL;
	br_err err = BR_ERR_INIT;
	o.args = (struct br_strlist){0};
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "no command") != NULL);
}

T_MAIN(T_CASE(test_run_mounts), T_CASE(test_run_capabilities),
       T_CASE(test_run_resources_and_devices), T_CASE(test_run_rlimits),
       T_CASE(test_run_init_and_entrypoint))
