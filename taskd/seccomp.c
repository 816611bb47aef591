/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The default seccomp profile and user profiles. The default follows containerd's
 * contrib/seccomp and moby's profiles/seccomp/default.json rule for rule: everything not
 * listed fails with EPERM; what a container without privileges needs is allowed; what would
 * let it reach the kernel's wider attack surface (unshare and clone of new namespaces, keyctl,
 * bpf, perf_event_open, userfaultfd, kexec_load, module loading, mount, ...) is not, unless
 * the container holds the capability that makes the call meaningful, as containerd decides.
 * clone3 answers ENOSYS instead of EPERM so that libcs fall back to clone, whose flags a
 * filter can inspect.
 */
#include "taskd/seccomp.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/json.h"
#include "common/seccomp.h"

/* CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
#define CLONE_NAMESPACE_FLAGS 2114060288ull
#define AF_VSOCK_FAMILY 40
#define ERRNO_EPERM 1
#define ERRNO_ENOSYS 38

/* Allowed to every container. */
static const char *const allowed[] = {
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset",
        "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
        "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
        "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat",
        "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
        "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64",
        "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown",
        "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock",
        "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
        "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex", "futex_time64", "futex_waitv",
        "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
        "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
        "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
        "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid",
        "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
        "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
        "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
        "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
        "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
        "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
        "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
        "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
        "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
        "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
        "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
        "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
        "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
        "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
        "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam",
        "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
        "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
        "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
        "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
        "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
        "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4",
        "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64",
        "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs",
        "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
        "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
        "timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times",
        "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
        "waitpid", "write", "writev",
        /* Safe since Linux 4.8, where ptrace can no longer bypass the filter. */
        "process_vm_readv", "process_vm_writev", "ptrace", NULL};

/* Allowed per architecture (names the others do not know are ignored by the runtime, but
 * listing only the native ones keeps the filter honest). */
#if defined(__x86_64__)
static const char *const arch_list[] = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL};
static const char *const arch_allowed[] = {"arch_prctl", "modify_ldt", NULL};
#elif defined(__aarch64__)
static const char *const arch_list[] = {"SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", NULL};
static const char *const arch_allowed[] = {"arm_fadvise64_64",
                                           "arm_sync_file_range",
                                           "sync_file_range2",
                                           "breakpoint",
                                           "cacheflush",
                                           "set_tls",
                                           NULL};
#else
static const char *const arch_list[] = {NULL}; /* the runtime's native architecture */
static const char *const arch_allowed[] = {NULL};
#endif

/* Allowed only with a capability: with it the call is what the capability grants. */
struct cap_rule {
	const char *cap;
	const char *const *names;
};

#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const struct cap_rule cap_rules[] = {
        {"CAP_DAC_READ_SEARCH", NAMES("open_by_handle_at")},
        {"CAP_SYS_ADMIN",
         NAMES("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
               "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
               "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
               "setns", "syslog", "umount", "umount2", "unshare")},
        {"CAP_SYS_BOOT", NAMES("reboot")},
        {"CAP_SYS_CHROOT", NAMES("chroot")},
        {"CAP_SYS_MODULE", NAMES("delete_module", "init_module", "finit_module")},
        {"CAP_SYS_PACCT", NAMES("acct")},
        {"CAP_SYS_PTRACE", NAMES("kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv",
                                 "process_vm_writev", "ptrace")},
        {"CAP_SYS_RAWIO", NAMES("iopl", "ioperm")},
        {"CAP_SYS_TIME", NAMES("settimeofday", "stime", "clock_settime", "clock_settime64")},
        {"CAP_SYS_TTY_CONFIG", NAMES("vhangup")},
        {"CAP_SYS_NICE",
         NAMES("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node")},
        {"CAP_SYSLOG", NAMES("syslog")},
        {"CAP_BPF", NAMES("bpf")},
        {"CAP_PERFMON", NAMES("perf_event_open")},
};

/* personality(2) values that change nothing dangerous: PER_LINUX, PER_LINUX32, UNAME26 with
 * either, and the query 0xffffffff. */
static const uint64_t personalities[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};

struct arg {
	unsigned index;
	uint64_t value, value_two;
	const char *op;
};

static bool
has_cap(const char *const *caps, const char *cap)
{
	for (size_t i = 0; caps != NULL && caps[i] != NULL; i++)
		if (strcmp(caps[i], cap) == 0)
			return true;
	return false;
}

static void
gen_u64(yajl_gen g, const char *key, uint64_t v)
{
	char buf[24];
	int n = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);

	br_json_gen_str(g, key);
	yajl_gen_number(g, buf, (size_t)n);
}

/* One entry of "syscalls"; errno_ret 0: none; arg NULL: unconditional. */
static void
gen_rule(yajl_gen g, const char *const *names, const char *action, int errno_ret,
         const struct arg *arg)
{
	yajl_gen_map_open(g);
	br_json_gen_str(g, "names");
	yajl_gen_array_open(g);
	for (size_t i = 0; names[i] != NULL; i++)
		br_json_gen_str(g, names[i]);
	yajl_gen_array_close(g);
	br_json_gen_kv_str(g, "action", action);
	if (errno_ret != 0)
		br_json_gen_kv_int(g, "errnoRet", errno_ret);
	if (arg != NULL) {
		br_json_gen_str(g, "args");
		yajl_gen_array_open(g);
		yajl_gen_map_open(g);
		br_json_gen_kv_int(g, "index", arg->index);
		gen_u64(g, "value", arg->value);
		gen_u64(g, "valueTwo", arg->value_two);
		br_json_gen_kv_str(g, "op", arg->op);
		yajl_gen_map_close(g);
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
}

static void
gen_default(yajl_gen g, const char *const *caps)
{
	bool sys_admin = has_cap(caps, "CAP_SYS_ADMIN");

	yajl_gen_map_open(g);
	br_json_gen_kv_str(g, "defaultAction", "SCMP_ACT_ERRNO");
	br_json_gen_kv_int(g, "defaultErrnoRet", ERRNO_EPERM);
	br_json_gen_str(g, "architectures");
	yajl_gen_array_open(g);
	for (size_t i = 0; arch_list[i] != NULL; i++)
		br_json_gen_str(g, arch_list[i]);
	yajl_gen_array_close(g);

	br_json_gen_str(g, "syscalls");
	yajl_gen_array_open(g);
	gen_rule(g, allowed, "SCMP_ACT_ALLOW", 0, NULL);
	if (arch_allowed[0] != NULL)
		gen_rule(g, arch_allowed, "SCMP_ACT_ALLOW", 0, NULL);
	/* vsock reaches the hypervisor's side, outside the network namespace. */
	gen_rule(g, NAMES("socket"), "SCMP_ACT_ALLOW", 0,
	         &(struct arg){0, AF_VSOCK_FAMILY, 0, "SCMP_CMP_NE"});
	for (size_t i = 0; i < sizeof(personalities) / sizeof(personalities[0]); i++)
		gen_rule(g, NAMES("personality"), "SCMP_ACT_ALLOW", 0,
		         &(struct arg){0, personalities[i], 0, "SCMP_CMP_EQ"});
	if (!sys_admin) {
		/* Threads and processes, but no new namespaces. s390 passes flags second. */
#if defined(__s390x__) || defined(__s390__)
		unsigned flags_index = 1;
#else
		unsigned flags_index = 0;
#endif
		gen_rule(
		        g, NAMES("clone"), "SCMP_ACT_ALLOW", 0,
		        &(struct arg){flags_index, CLONE_NAMESPACE_FLAGS, 0, "SCMP_CMP_MASKED_EQ"});
		gen_rule(g, NAMES("clone3"), "SCMP_ACT_ERRNO", ERRNO_ENOSYS, NULL);
	}
	for (size_t i = 0; i < sizeof(cap_rules) / sizeof(cap_rules[0]); i++)
		if (has_cap(caps, cap_rules[i].cap))
			gen_rule(g, cap_rules[i].names, "SCMP_ACT_ALLOW", 0, NULL);
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* ------------------------------------------------------------------ user profiles */

/* Re-emit a parsed document; numbers keep their text, so 64-bit masks survive. */
static void
gen_tree(yajl_gen g, yajl_val v)
{
	switch (v->type) {
	case yajl_t_string:
		br_json_gen_str(g, YAJL_GET_STRING(v));
		break;
	case yajl_t_number:
		yajl_gen_number(g, v->u.number.r, strlen(v->u.number.r));
		break;
	case yajl_t_object:
		yajl_gen_map_open(g);
		for (size_t i = 0; i < v->u.object.len; i++) {
			br_json_gen_str(g, v->u.object.keys[i]);
			gen_tree(g, v->u.object.values[i]);
		}
		yajl_gen_map_close(g);
		break;
	case yajl_t_array:
		yajl_gen_array_open(g);
		for (size_t i = 0; i < v->u.array.len; i++)
			gen_tree(g, v->u.array.values[i]);
		yajl_gen_array_close(g);
		break;
	case yajl_t_true:
		yajl_gen_bool(g, 1);
		break;
	case yajl_t_false:
		yajl_gen_bool(g, 0);
		break;
	default:
		yajl_gen_null(g);
		break;
	}
}

int
taskd_seccomp_gen(yajl_gen g, const char *profile, const char *const *caps, br_err *err)
{
	yajl_val root = NULL;

	if (profile != NULL && strcmp(profile, TASKD_SECCOMP_UNCONFINED) == 0)
		return 0;
	if (profile == NULL || profile[0] == '\0') {
		br_json_gen_str(g, "seccomp");
		gen_default(g, caps);
		return 0;
	}
	if (br_seccomp_profile_parse(profile, strlen(profile), "seccomp profile", &root, err) < 0)
		return -1;
	br_json_gen_str(g, "seccomp");
	gen_tree(g, root);
	yajl_tree_free(root);
	return 0;
}
