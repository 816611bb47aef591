/* SPDX-License-Identifier: Apache-2.0 */
/*
 * taskd/spec.c: the generated config.json is parsed back with yajl and checked field by
 * field: the process from the image config and the create options (args, entrypoint, env
 * merge, working dir, users by number and by name), the default namespaces, capabilities,
 * mounts, masked paths and rlimits, host versus namespaced networking, and the errors a user
 * sees; the security defaults (the seccomp profile's shape, capability-dependent rules,
 * unconfined and user profiles, the cgroup namespace and AppArmor decisions on fake hosts,
 * hostname rules, image user files that are FIFOs, devices or symlinks). The last case runs a
 * generated spec with runc through berth-shim on a busybox rootfs, default profile included.
 * The run options have their own file, test_taskd_runopts.c; the helpers are in t_spec.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <yajl_tree.h>

#include "common/cleanup.h"
#include "common/fsutil.h"
#include "common/json.h"
#include "common/proto/shim.h"
#include "common/seccomp.h"
#include "taskd/seccomp.h"
#include "taskd/shim_client.h"
#include "taskd/spec.h"
#include "test/unit/t.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

#include "test/unit/t_spec.h"

static const char *
namespaces(yajl_val root)
{
	static char buf[512];
	size_t n = 0;
	yajl_val ns = get(root, "linux", "namespaces", NULL);
	T_OK(YAJL_IS_ARRAY(ns));
	buf[0] = '\0';
	for (size_t i = 0; i < ns->u.array.len; i++) {
		const char *type = str_at(ns->u.array.values[i], "type", NULL, NULL);
		const char *path = str_at(ns->u.array.values[i], "path", NULL, NULL);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s%s%s", i ? "|" : "", type,
		                      path ? "=" : "", path ? path : "");
	}
	return buf;
}

static void
test_defaults(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	char **cmd;
	yajl_val root = build(&o, &cmd);

	T_EQ_STR(str_at(root, "ociVersion", NULL, NULL), "1.0.2");
	T_EQ_STR(joined(get(root, "process", "args", NULL)), "/bin/sh|-c|echo hi");
	T_EQ_STR(cmd[0], "/bin/sh");
	T_EQ_STR(cmd[2], "echo hi");
	T_NULL(cmd[3]);
	T_EQ_STR(joined(get(root, "process", "env", NULL)), "PATH=/bin:/usr/bin|FOO=1|BAR=image");
	T_EQ_STR(str_at(root, "process", "cwd", NULL), "/work");
	T_OK(YAJL_IS_FALSE(get(root, "process", "terminal", NULL)));
	T_OK(YAJL_IS_TRUE(get(root, "process", "noNewPrivileges", NULL)));
	T_EQ_INT(int_at(root, "process", "user", "uid"), 0);
	T_EQ_INT(int_at(root, "process", "user", "gid"), 0);
	const char *caps = "CAP_CHOWN|CAP_DAC_OVERRIDE|CAP_FSETID|CAP_FOWNER|CAP_MKNOD|CAP_NET_RAW|"
	                   "CAP_SETGID|CAP_SETUID|CAP_SETFCAP|CAP_SETPCAP|CAP_NET_BIND_SERVICE|"
	                   "CAP_SYS_CHROOT|CAP_KILL|CAP_AUDIT_WRITE";
	T_EQ_STR(joined(get(root, "process", "capabilities", "bounding")), caps);
	T_EQ_STR(joined(get(root, "process", "capabilities", "effective")), caps);
	T_EQ_STR(joined(get(root, "process", "capabilities", "permitted")), caps);
	T_NULL(get(root, "process", "capabilities", "ambient"));

	yajl_val rl = get(root, "process", "rlimits", NULL);
	T_OK(YAJL_IS_ARRAY(rl) && rl->u.array.len == 1);
	T_EQ_STR(str_at(rl->u.array.values[0], "type", NULL, NULL), "RLIMIT_NOFILE");
	T_EQ_INT(int_at(rl->u.array.values[0], "soft", NULL, NULL), 1024);
	T_EQ_INT(int_at(rl->u.array.values[0], "hard", NULL, NULL), 1024);

	T_EQ_STR(str_at(root, "root", "path", NULL), "rootfs");
	T_OK(YAJL_IS_FALSE(get(root, "root", "readonly", NULL)));
	T_EQ_STR(str_at(root, "hostname", NULL, NULL), "c1");
	T_EQ_STR(namespaces(root), "pid|ipc|uts|mount|network=" NS_PATH);
	T_EQ_STR(str_at(root, "linux", "cgroupsPath", NULL), "berth/default/c1");
	T_OK(strstr(joined(get(root, "linux", "maskedPaths", NULL)), "/proc/kcore") != NULL);
	T_OK(strstr(joined(get(root, "linux", "maskedPaths", NULL)), "/sys/firmware") != NULL);
	T_EQ_STR(joined(get(root, "linux", "readonlyPaths", NULL)),
	         "/proc/bus|/proc/fs|/proc/irq|/proc/sys|/proc/sysrq-trigger");

	static const char *const dests[] = {"/proc",    "/dev",        "/dev/pts",
	                                    "/dev/shm", "/dev/mqueue", "/sys"};
	for (size_t i = 0; i < sizeof(dests) / sizeof(dests[0]); i++)
		T_NOT_NULL(find_mount(root, dests[i]));
	T_EQ_STR(str_at(find_mount(root, "/dev"), "type", NULL, NULL), "tmpfs");
	T_OK(strstr(joined(get(find_mount(root, "/sys"), "options", NULL, NULL)), "ro") != NULL);
	yajl_val hosts = find_mount(root, "/etc/hosts");
	T_NOT_NULL(hosts);
	T_EQ_STR(str_at(hosts, "type", NULL, NULL), "bind");
	T_EQ_STR(str_at(hosts, "source", NULL, NULL), "/run/berth/netd/c1/hosts");
	T_OK(strstr(joined(get(hosts, "options", NULL, NULL)), "rbind|ro") != NULL);
	T_EQ_STR(str_at(find_mount(root, "/etc/resolv.conf"), "source", NULL, NULL),
	         "/run/berth/netd/c1/resolv.conf");
	yajl_tree_free(root);
	br_strv_free(cmd);
}

static void
test_overrides(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	static const char *args[] = {"echo bye"};
	static const char *env[] = {"FOO=2", "NEW=x", "BAR=req"};
	static const char *ep[] = {"/bin/echo"};

	/* args replace Cmd and keep Entrypoint; env overrides in place, later wins */
	o.args = (struct br_strlist){args, 1};
	o.env = (struct br_strlist){env, 3};
	o.working_dir = "/tmp";
	o.hostname = "web";
	o.user = "1000:2000";
	yajl_val root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "args", NULL)), "/bin/sh|-c|echo bye");
	T_EQ_STR(joined(get(root, "process", "env", NULL)),
	         "PATH=/bin:/usr/bin|FOO=2|BAR=req|NEW=x");
	T_EQ_STR(str_at(root, "process", "cwd", NULL), "/tmp");
	T_EQ_STR(str_at(root, "hostname", NULL, NULL), "web");
	T_EQ_INT(int_at(root, "process", "user", "uid"), 1000);
	T_EQ_INT(int_at(root, "process", "user", "gid"), 2000);
	yajl_tree_free(root);

	/* an entrypoint override drops the image's Cmd, as docker does */
	o.args = (struct br_strlist){0};
	o.entrypoint = (struct br_strlist){ep, 1};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "args", NULL)), "/bin/echo");
	yajl_tree_free(root);

	/* ...and args given with it follow it */
	o.args = (struct br_strlist){args, 1};
	root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "args", NULL)), "/bin/echo|echo bye");
	yajl_tree_free(root);
}

static void
test_path_default_and_no_image(void)
{
	static const char *args[] = {"/bin/true"};
	struct taskd_spec_opts o = base_opts(NULL);
	o.args = (struct br_strlist){args, 1};
	o.cgroups_path = "custom/path";
	yajl_val root = build(&o, NULL);
	T_EQ_STR(joined(get(root, "process", "env", NULL)), TASKD_DEFAULT_PATH);
	T_EQ_STR(str_at(root, "process", "cwd", NULL), "/");
	T_EQ_STR(str_at(root, "linux", "cgroupsPath", NULL), "custom/path");
	yajl_tree_free(root);
}

static void
test_network_modes(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);

	o.net_mode = "host";
	o.netns_path = "";
	yajl_val root = build(&o, NULL);
	T_EQ_STR(namespaces(root), "pid|ipc|uts|mount");
	yajl_tree_free(root);

	/* no path from netd: the runtime makes a fresh namespace */
	o.net_mode = "none";
	o.netns_path = NULL;
	o.hosts_path = o.resolv_path = NULL;
	root = build(&o, NULL);
	T_EQ_STR(namespaces(root), "pid|ipc|uts|mount|network");
	T_NULL(find_mount(root, "/etc/hosts"));
	T_NULL(find_mount(root, "/etc/resolv.conf"));
	yajl_tree_free(root);
}

static void
test_errors(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o;
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;

	/* no command anywhere */
	o = base_opts(NULL);
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "no command") != NULL);

	o = base_opts(&img);
	o.working_dir = "relative/dir";
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "working directory \"relative/dir\": must be an absolute path");

	static const char *bad_env[] = {"NOEQUALS"};
	o = base_opts(&img);
	o.env = (struct br_strlist){bad_env, 1};
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "container env \"NOEQUALS\": expected KEY=VALUE");

	o = base_opts(&img);
	o.user = "nobody";
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "user \"nobody\": no such user in the image's /etc/passwd");
	o.user = "1000:";
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	o.user = "4294967295";
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_NULL(json);
	T_NULL(cmd);
}

static char tmpdir[] = "/tmp/berth-spec-test.XXXXXX";

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
write_at(const char *dir, const char *name, const char *content)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	fputs(content, f);
	fclose(f);
}

static void
test_user_names(void)
{
	T_NOT_NULL(mkdtemp(tmpdir));
	char etc[256];
	snprintf(etc, sizeof(etc), "%s/etc", tmpdir);
	T_OK(mkdir(etc, 0755) == 0);
	write_at(etc, "passwd",
	         "root:x:0:0:root:/root:/bin/sh\nbroken line\nwww:x:33:34:www:/var/www:/bin/sh\n"
	         "app:x:1000:1001::/home/app:/bin/sh\n");
	write_at(etc, "group", "root:x:0:\nwww-data:x:34:\nstaff:x:50:app\n");
	int fd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint32_t uid, gid;
	br_err err = BR_ERR_INIT;
	int rc;

	rc = taskd_spec_resolve_user("www", fd, &uid, &gid, &err);
	T_NOERR(rc, err);
	T_EQ_INT(uid, 33);
	T_EQ_INT(gid, 34);
	rc = taskd_spec_resolve_user("app:staff", fd, &uid, &gid, &err);
	T_NOERR(rc, err);
	T_EQ_INT(uid, 1000);
	T_EQ_INT(gid, 50);
	/* a numeric uid listed in passwd gets its primary group */
	rc = taskd_spec_resolve_user("1000", fd, &uid, &gid, &err);
	T_NOERR(rc, err);
	T_EQ_INT(gid, 1001);
	rc = taskd_spec_resolve_user("4242", fd, &uid, &gid, &err);
	T_NOERR(rc, err);
	T_EQ_INT(uid, 4242);
	T_EQ_INT(gid, 0);
	rc = taskd_spec_resolve_user("app:nogroup", fd, &uid, &gid, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "group \"nogroup\": no such group in the image's /etc/group");
	rc = taskd_spec_resolve_user("ghost", fd, &uid, &gid, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);

	/* the image's user is used when none is given */
	struct br_image_runtime img = sample_image();
	img.user = "www";
	struct taskd_spec_opts o = base_opts(&img);
	o.rootfs_fd = fd;
	yajl_val root = build(&o, NULL);
	T_EQ_INT(int_at(root, "process", "user", "uid"), 33);
	T_EQ_INT(int_at(root, "process", "user", "gid"), 34);
	yajl_tree_free(root);

	/* a symlinked passwd cannot lead out of the rootfs */
	unlink(strcat(etc, "/passwd"));
	T_OK(symlink("/etc/passwd", etc) == 0);
	rc = taskd_spec_resolve_user("root", fd, &uid, &gid, &err);
	T_ERR(rc, err, BR_INVALID_ARGUMENT);
	close(fd);
	nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

static void
test_hostname_and_rlimit_bounds(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	o.id = "a123456789b123456789c123456789d123456789e123456789f123456789g1234";
	struct rlimit rl = {.rlim_cur = 256, .rlim_max = 512};
	T_OK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	yajl_val root = build(&o, NULL);
	T_EQ_INT(strlen(str_at(root, "hostname", NULL, NULL)), 63);
	yajl_val r = get(root, "process", "rlimits", NULL)->u.array.values[0];
	T_EQ_INT(int_at(r, "hard", NULL, NULL), 512);
	T_EQ_INT(int_at(r, "soft", NULL, NULL), 512);
	yajl_tree_free(root);
}

/* ---- security defaults ---- */

/* The rules of linux.seccomp that name `syscall`, as "ACTION[/errno][ op value]" joined by
 * "|"; "" when none does. */
static const char *
rules_for(yajl_val seccomp, const char *syscall)
{
	static char buf[1024];
	size_t n = 0;
	yajl_val calls = get(seccomp, "syscalls", NULL, NULL);

	buf[0] = '\0';
	T_OK(YAJL_IS_ARRAY(calls));
	for (size_t i = 0; i < calls->u.array.len; i++) {
		yajl_val rule = calls->u.array.values[i], names = get(rule, "names", NULL, NULL);
		T_OK(YAJL_IS_ARRAY(names));
		for (size_t j = 0; j < names->u.array.len; j++) {
			if (strcmp(names->u.array.values[j]->u.string, syscall) != 0)
				continue;
			yajl_val e = get(rule, "errnoRet", NULL, NULL);
			yajl_val args = get(rule, "args", NULL, NULL);
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "",
			                      str_at(rule, "action", NULL, NULL));
			if (e != NULL)
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, "/%lld",
				                      YAJL_GET_INTEGER(e));
			if (args != NULL) {
				yajl_val a = args->u.array.values[0];
				n += (size_t)snprintf(buf + n, sizeof(buf) - n, " %lld %s %lld",
				                      int_at(a, "index", NULL, NULL),
				                      str_at(a, "op", NULL, NULL),
				                      int_at(a, "value", NULL, NULL));
			}
		}
	}
	return buf;
}

static yajl_val
gen_seccomp(const char *profile, const char *const *caps)
{
	br_err err = BR_ERR_INIT;
	char errbuf[128];
	yajl_gen g = br_json_gen_new();

	yajl_gen_map_open(g);
	T_NOERR(taskd_seccomp_gen(g, profile, caps, &err), err);
	yajl_gen_map_close(g);
	char *json = br_json_gen_take(g, NULL);
	yajl_gen_free(g);
	yajl_val root = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	T_NOT_NULL(root);
	free(json);
	return root;
}

static void
test_seccomp_default(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	yajl_val root = build(&o, NULL);
	yajl_val sc = get(root, "linux", "seccomp", NULL);

	T_OK(YAJL_IS_OBJECT(sc));
	T_EQ_STR(str_at(sc, "defaultAction", NULL, NULL), "SCMP_ACT_ERRNO");
	T_EQ_INT(int_at(sc, "defaultErrnoRet", NULL, NULL), 1);
#if defined(__x86_64__)
	T_EQ_STR(joined(get(sc, "architectures", NULL, NULL)),
	         "SCMP_ARCH_X86_64|SCMP_ARCH_X86|SCMP_ARCH_X32");
	T_EQ_STR(rules_for(sc, "arch_prctl"), "SCMP_ACT_ALLOW");
#endif
	T_EQ_STR(rules_for(sc, "read"), "SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "ptrace"), "SCMP_ACT_ALLOW");
	/* denied: not listed, so the default EPERM answers */
	static const char *const denied[] = {"unshare",
	                                     "keyctl",
	                                     "add_key",
	                                     "request_key",
	                                     "bpf",
	                                     "perf_event_open",
	                                     "userfaultfd",
	                                     "kexec_load",
	                                     "mount",
	                                     "setns",
	                                     "reboot",
	                                     "init_module",
	                                     "open_by_handle_at",
	                                     "clock_settime",
	                                     "acct",
	                                     NULL};
	for (size_t i = 0; denied[i] != NULL; i++) {
		if (strcmp(rules_for(sc, denied[i]), "") != 0)
			T_FAIL_("%s: %s, expected no rule", denied[i], rules_for(sc, denied[i]));
	}
	/* conditional: threads but no namespaces, ENOSYS for clone3 so libcs use clone */
	T_EQ_STR(rules_for(sc, "clone"), "SCMP_ACT_ALLOW 0 SCMP_CMP_MASKED_EQ 2114060288");
	T_EQ_STR(rules_for(sc, "clone3"), "SCMP_ACT_ERRNO/38");
	T_EQ_STR(rules_for(sc, "socket"), "SCMP_ACT_ALLOW 0 SCMP_CMP_NE 40");
	T_EQ_STR(rules_for(sc, "personality"),
	         "SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 0|SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 8|"
	         "SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 131072|SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 131080|"
	         "SCMP_ACT_ALLOW 0 SCMP_CMP_EQ 4294967295");
	/* the default capability set holds CAP_SYS_CHROOT, so chroot is allowed */
	T_EQ_STR(rules_for(sc, "chroot"), "SCMP_ACT_ALLOW");
	yajl_tree_free(root);
}

static void
test_seccomp_capabilities(void)
{
	static const char *const admin[] = {"CAP_SYS_ADMIN", "CAP_BPF", "CAP_SYS_TIME", NULL};
	yajl_val root = gen_seccomp(NULL, admin);
	yajl_val sc = get(root, "seccomp", NULL, NULL);
	T_EQ_STR(rules_for(sc, "unshare"), "SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "mount"), "SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "clone"), "SCMP_ACT_ALLOW"); /* unconditionally */
	T_EQ_STR(rules_for(sc, "clone3"), "SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "bpf"), "SCMP_ACT_ALLOW|SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "clock_settime"), "SCMP_ACT_ALLOW");
	T_EQ_STR(rules_for(sc, "chroot"), "");
	T_EQ_STR(rules_for(sc, "keyctl"), "");
	yajl_tree_free(root);

	root = gen_seccomp("", NULL);
	sc = get(root, "seccomp", NULL, NULL);
	T_EQ_STR(rules_for(sc, "chroot"), "");
	T_EQ_STR(rules_for(sc, "unshare"), "");
	yajl_tree_free(root);
}

static void
test_seccomp_unconfined_and_file(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	char *json = NULL, **cmd = NULL;
	br_err err = BR_ERR_INIT;

	o.seccomp = "unconfined";
	yajl_val root = build(&o, NULL);
	T_NULL(get(root, "linux", "seccomp", NULL));
	T_NOT_NULL(get(root, "linux", "maskedPaths", NULL));
	yajl_tree_free(root);

	/* a user profile goes into the spec as given; a 64-bit mask keeps its value */
	o.seccomp = "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"mkdir\","
	            "\"mkdirat\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":13,\"args\":[{"
	            "\"index\":1,\"value\":18446744073709551615,\"op\":\"SCMP_CMP_NE\"}]}]}";
	T_NOERR(taskd_spec_build(&o, &json, &cmd, &err), err);
	T_OK(strstr(json, "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{"
	                  "\"names\":[\"mkdir\",\"mkdirat\"]") != NULL);
	T_OK(strstr(json, "\"value\":18446744073709551615") != NULL);
	free(json);
	br_strv_free(cmd);
	json = NULL;
	cmd = NULL;

	static const struct {
		const char *profile, *msg;
	} bad[] = {
	        {"{\"defaultAction\":", "seccomp profile"},
	        {"[1,2]", "seccomp profile: expected a JSON object"},
	        {"{\"syscalls\":[]}", "seccomp profile: defaultAction: expected an SCMP_ACT_*"},
	        {"{\"defaultAction\":\"ALLOW\"}", "defaultAction: expected an SCMP_ACT_*"},
	        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":{}}", "syscalls: expected a "
	                                                                   "list"},
	        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"action\":"
	         "\"SCMP_ACT_ALLOW\"}]}",
	         "syscalls[0].names: expected a list of strings"},
	        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[],\"action\":"
	         "\"SCMP_ACT_ALLOW\"}]}",
	         "syscalls[0].names: expected 1 to"},
	        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"]}]}",
	         "syscalls[0].action: expected an SCMP_ACT_* action"},
	        {"{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[7]}",
	         "architectures[0]: expected a non-empty string"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		o.seccomp = bad[i].profile;
		T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
		if (strstr(err.msg, bad[i].msg) == NULL)
			T_FAIL_("profile %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i].msg);
		T_NULL(json);
	}
	/* too large for the request field is too large here too */
	size_t big = BR_SECCOMP_PROFILE_MAX + 16;
	char *huge = malloc(big + 1);
	memset(huge, ' ', big);
	huge[0] = '{';
	huge[big - 1] = '}';
	huge[big] = '\0';
	T_ERR(br_seccomp_profile_parse(huge, big, "p", NULL, &err), err, BR_RESOURCE_EXHAUSTED);
	free(huge);
}

static void
test_cgroupns_decision(void)
{
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	o.cgroupns = true;
	yajl_val root = build(&o, NULL);
	T_EQ_STR(namespaces(root), "pid|ipc|uts|mount|network=" NS_PATH "|cgroup");
	yajl_tree_free(root);

	/* the probe: a directory that is no cgroup2 mount says no, as a hybrid host's
	 * /sys/fs/cgroup (a tmpfs of v1 hierarchies) does; a cgroup2 mount says yes */
	T_OK(!taskd_host_cgroup_unified("/tmp"));
	T_OK(!taskd_host_cgroup_unified("/nonexistent/berth"));
	FILE *f = fopen("/proc/self/mounts", "re");
	char line[1024], where[512] = "";
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%*s %511s cgroup2 ", where) == 1 && strstr(line, " cgroup2 "))
			break;
		else
			where[0] = '\0';
	if (f != NULL)
		fclose(f);
	if (where[0] == '\0')
		T_SKIP("no cgroup2 mount on this host for the positive probe");
	T_OK(taskd_host_cgroup_unified(where));
}

static void
write_path(const char *path, const char *content)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\"", path);
	T_EQ_INT(system(cmd), 0);
	FILE *f = fopen(path, "w");
	T_NOT_NULL(f);
	fputs(content, f);
	fclose(f);
}

static void
test_apparmor_decision(void)
{
	char sys[] = "/tmp/berth-apparmor.XXXXXX", path[256];
	T_NOT_NULL(mkdtemp(sys));

	T_NULL(taskd_host_apparmor_profile(sys)); /* no AppArmor module at all */
	snprintf(path, sizeof(path), "%s/module/apparmor/parameters/enabled", sys);
	write_path(path, "N\n");
	snprintf(path, sizeof(path), "%s/kernel/security/apparmor/profiles", sys);
	write_path(path, "docker-default (enforce)\n");
	T_NULL(taskd_host_apparmor_profile(sys)); /* disabled */
	snprintf(path, sizeof(path), "%s/module/apparmor/parameters/enabled", sys);
	write_path(path, "Y\n");
	T_EQ_STR(taskd_host_apparmor_profile(sys), "docker-default");
	snprintf(path, sizeof(path), "%s/kernel/security/apparmor/profiles", sys);
	write_path(path, "docker-default-x (enforce)\nberth-default (enforce)\n");
	T_EQ_STR(taskd_host_apparmor_profile(sys), "berth-default");
	write_path(path, "other (complain)\n");
	T_NULL(taskd_host_apparmor_profile(sys)); /* enabled, but no profile of ours */
	nftw(sys, rm_cb, 8, FTW_DEPTH | FTW_PHYS);

	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	yajl_val root = build(&o, NULL);
	T_NULL(get(root, "process", "apparmorProfile", NULL));
	yajl_tree_free(root);
	o.apparmor_profile = "berth-default";
	root = build(&o, NULL);
	T_EQ_STR(str_at(root, "process", "apparmorProfile", NULL), "berth-default");
	yajl_tree_free(root);
}

static void
test_hostname_rules(void)
{
	static const char *const good[] = {
	        "web",
	        "a",
	        "Web-01",
	        "db.internal",
	        "0abc",
	        "x.y-z.example",
	        "a12345678901234567890123456789012345678901234567890123456789012",
	        NULL};
	static const struct {
		const char *name, *msg;
	} bad[] = {
	        {"", "must be 1 to 63 characters"},
	        {"a123456789012345678901234567890123456789012345678901234567890123",
	         "must be 1 to 63 characters"},
	        {"-web", "a label starts with '-'"},
	        {"web-", "a label ends with '-'"},
	        {"a.-b", "a label starts with '-'"},
	        {"a..b", "empty label"},
	        {".a", "empty label"},
	        {"a.", "empty label"},
	        {"my_host", "only letters, digits, '-' and '.' are allowed"},
	        {"ho st", "only letters"},
	        {"h\xc3\xa9", "only letters"},
	};
	br_err err = BR_ERR_INIT;

	for (size_t i = 0; good[i] != NULL; i++)
		T_NOERR(taskd_spec_check_hostname(good[i], &err), err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		T_ERR(taskd_spec_check_hostname(bad[i].name, &err), err, BR_INVALID_ARGUMENT);
		if (strstr(err.msg, bad[i].msg) == NULL)
			T_FAIL_("\"%s\": \"%s\" lacks \"%s\"", bad[i].name, err.msg, bad[i].msg);
	}
	struct br_image_runtime img = sample_image();
	struct taskd_spec_opts o = base_opts(&img);
	char *json = NULL, **cmd = NULL;
	o.hostname = "bad_name";
	T_ERR(taskd_spec_build(&o, &json, &cmd, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "invalid hostname \"bad_name\": only letters, digits, '-' and '.' are "
	                  "allowed");
}

static void
test_user_files_refused(void)
{
	char top[] = "/tmp/berth-etc-test.XXXXXX", etc[256], passwd[300], outside[300];
	T_NOT_NULL(mkdtemp(top));
	snprintf(etc, sizeof(etc), "%s/etc", top);
	T_OK(mkdir(etc, 0755) == 0);
	snprintf(passwd, sizeof(passwd), "%s/passwd", etc);
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	uint32_t uid, gid;
	br_err err = BR_ERR_INIT;

	/* a FIFO would block a reader forever: refused without opening it */
	alarm(10);
	T_OK(mkfifo(passwd, 0644) == 0);
	T_ERR(taskd_spec_resolve_user("app", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "the image's /etc/passwd is a FIFO, not a regular file; refusing to "
	                  "read it");
	/* numeric users read passwd too (for the primary group) */
	T_ERR(taskd_spec_resolve_user("1000", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	alarm(0);
	unlink(passwd);

	/* a device node (root only: mknod) is never opened */
	if (mknod(passwd, S_IFCHR | 0644, makedev(1, 3)) == 0) {
		T_ERR(taskd_spec_resolve_user("app", fd, &uid, &gid, &err), err,
		      BR_INVALID_ARGUMENT);
		T_OK(strstr(err.msg, "is a character device, not a regular file") != NULL);
		unlink(passwd);
	} else {
		printf("# no device node: mknod: %s\n", strerror(errno));
	}

	/* a symlink that points out of the rootfs, absolute or by dot-dot */
	snprintf(outside, sizeof(outside), "%s/outside-passwd", top);
	write_path(outside, "app:x:1000:1000::/:/bin/sh\n");
	T_OK(symlink(outside, passwd) == 0);
	T_ERR(taskd_spec_resolve_user("app", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	unlink(passwd);
	T_OK(symlink("../../../../../../etc/passwd", passwd) == 0);
	T_ERR(taskd_spec_resolve_user("root", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	unlink(passwd);

	/* a directory; then a regular file is read, and a FIFO as /etc/group is refused */
	T_OK(mkdir(passwd, 0755) == 0);
	T_ERR(taskd_spec_resolve_user("app", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	T_OK(strstr(err.msg, "is a directory") != NULL);
	rmdir(passwd);
	write_path(passwd, "app:x:1000:1001::/:/bin/sh\n");
	T_NOERR(taskd_spec_resolve_user("app", fd, &uid, &gid, &err), err);
	T_EQ_INT(uid, 1000);
	T_EQ_INT(gid, 1001);
	snprintf(outside, sizeof(outside), "%s/group", etc);
	T_OK(mkfifo(outside, 0644) == 0);
	alarm(10);
	T_ERR(taskd_spec_resolve_user("app:staff", fd, &uid, &gid, &err), err, BR_INVALID_ARGUMENT);
	T_EQ_STR(err.msg, "the image's /etc/group is a FIFO, not a regular file; refusing to "
	                  "read it");
	alarm(0);
	close(fd);
	nftw(top, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* ---- the generated spec, run for real ---- */

static char run_top[] = "/tmp/berth-spec-run.XXXXXX";
static char cgparent[64];

static int
rmdir_cg(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP && strstr(path, cgparent) != NULL)
		rmdir(path);
	return 0;
}

/* Where the binaries under test are: $BERTH_BUILD, else the build directory this test binary
 * was built in (<build>/test/unit/<test>), else "build". */
static const char *
build_dir(void)
{
	static char dir[512];
	const char *b = getenv("BERTH_BUILD");
	ssize_t n;

	if (b != NULL && *b != '\0')
		return b;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n > 0) {
		dir[n] = '\0';
		for (int i = 0; i < 3; i++) {
			char *slash = strrchr(dir, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
		}
		return dir;
	}
	return "build";
}

static void
test_spec_runs_with_runc(void)
{
	if (geteuid() != 0 || access("/usr/sbin/runc", X_OK) != 0 ||
	    access("/bin/busybox", X_OK) != 0)
		T_SKIP("needs root, runc and busybox-static");
	char shim[512], bundle[512], rootfs[600], state[512], path[700], cmdline[1024];
	snprintf(shim, sizeof(shim), "%s/berth-shim", build_dir());
	if (access(shim, X_OK) != 0)
		T_SKIP("%s not built", shim);
	T_NOT_NULL(mkdtemp(run_top));
	snprintf(cgparent, sizeof(cgparent), "berth-spec-test-%d", (int)getpid());

	/* a busybox rootfs with a user */
	snprintf(bundle, sizeof(bundle), "%s/bundle", run_top);
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", bundle);
	snprintf(cmdline, sizeof(cmdline),
	         "mkdir -p %s/bin %s/etc %s/proc %s/dev %s/sys && cp /bin/busybox %s/bin/ && "
	         "for a in sh id hostname cat grep ls unshare; do ln -s busybox %s/bin/$a; done",
	         rootfs, rootfs, rootfs, rootfs, rootfs, rootfs, rootfs);
	T_EQ_INT(system(cmdline), 0);
	snprintf(path, sizeof(path), "%s/etc", rootfs);
	write_at(path, "passwd", "root:x:0:0::/:/bin/sh\napp:x:1000:1000::/:/bin/sh\n");
	write_at(run_top, "hosts", "127.0.0.1 localhost\n10.9.8.7 spec-test-marker\n");

	static const char *args[] = {"sh", "-c",
	                             "id; hostname; grep NoNewPrivs /proc/self/status; "
	                             "grep Seccomp: /proc/self/status; "
	                             "unshare -U true 2>/dev/null || echo unshare-denied; "
	                             "grep spec-test-marker /etc/hosts; echo $FOO; exit 7"};
	static const char *env[] = {"FOO=from-request"};
	char hosts[600], cgroups[128];
	snprintf(hosts, sizeof(hosts), "%s/hosts", run_top);
	snprintf(cgroups, sizeof(cgroups), "%s/s1", cgparent);
	int rootfs_fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct taskd_spec_opts o = {
	        .ns = "default",
	        .id = "s1",
	        .args = {args, 3},
	        .env = {env, 1},
	        .user = "app",
	        .hostname = "spec-host",
	        .net_mode = "none",
	        .hosts_path = hosts,
	        .cgroups_path = cgroups,
	        .rootfs_fd = rootfs_fd,
	};
	char *json, **cmd;
	br_err err = BR_ERR_INIT;
	T_NOERR(taskd_spec_build(&o, &json, &cmd, &err), err);
	write_at(bundle, "config.json", json);
	free(json);
	br_strv_free(cmd);
	close(rootfs_fd);

	snprintf(state, sizeof(state), "%s/state", run_top);
	char runc_root[600];
	snprintf(runc_root, sizeof(runc_root), "%s/runc", run_top);
	struct taskd_shim_spawn_opts so = {
	        .shim_path = shim,
	        .id = "s1",
	        .bundle = bundle,
	        .runtime = "/usr/sbin/runc",
	        .runtime_root = runc_root,
	        .state_dir = state,
	};
	br_arena *a = br_arena_new();
	struct br_shim_reply r = {0};
	int rc = taskd_shim_spawn(&so, a, &r, &err);
	if (rc == 0) {
		struct br_shim_req start = {.m = "start"}, wait = {.m = "wait"},
		                   del = {.m = "delete", .force = true};
		rc = br_shim_call_at(state, &start, 30000, a, &r, &err);
		if (rc == 0)
			rc = br_shim_call_at(state, &wait, 30000, a, &r, &err);
		struct br_shim_reply final = r;
		br_err ignored = BR_ERR_INIT;
		br_shim_call_at(state, &del, 30000, a, &r, &ignored);
		r = final;
	}
	/* Collect what is needed, then clean up before any check can end the case. */
	int sfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *out = NULL;
	size_t len;
	br_err read_err = BR_ERR_INIT;
	int read_rc = br_read_file_at(sfd, "stdout.log", 65536, &out, &len, &read_err);
	close(sfd);
	br_arena_free(a);
	nftw("/sys/fs/cgroup", rmdir_cg, 16, FTW_DEPTH | FTW_PHYS);
	nftw(run_top, rm_cb, 16, FTW_DEPTH | FTW_PHYS);

	T_NOERR(rc, err);
	T_EQ_INT(r.exit_status, 7);
	T_NOERR(read_rc, read_err);
	char *lines = strdup(out);
	for (char *line = strtok(lines, "\n"); line != NULL; line = strtok(NULL, "\n"))
		printf("# container: %s\n", line);
	free(lines);
	T_OK(strstr(out, "uid=1000(app) gid=1000") != NULL);
	T_OK(strstr(out, "spec-host\n") != NULL);
	T_OK(strstr(out, "NoNewPrivs:\t1") != NULL);
	T_OK(strstr(out, "Seccomp:\t2") != NULL); /* filtered by the default profile */
	T_OK(strstr(out, "unshare-denied\n") != NULL);
	T_OK(strstr(out, "10.9.8.7 spec-test-marker") != NULL);
	T_OK(strstr(out, "from-request\n") != NULL);
	free(out);
}

T_MAIN(T_CASE(test_defaults), T_CASE(test_overrides), T_CASE(test_path_default_and_no_image),
       T_CASE(test_network_modes), T_CASE(test_errors), T_CASE(test_user_names),
       T_CASE(test_hostname_and_rlimit_bounds), T_CASE(test_seccomp_default),
       T_CASE(test_seccomp_capabilities), T_CASE(test_seccomp_unconfined_and_file),
       T_CASE(test_cgroupns_decision), T_CASE(test_apparmor_decision), T_CASE(test_hostname_rules),
       T_CASE(test_user_files_refused), T_CASE(test_spec_runs_with_runc))
