/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime spec (config.json) of a container: the image's runtime config plus the
 * create options, on top of safe defaults in the manner of containerd's and runc's default
 * spec (docs/tasks.md lists them). Pure apart from reading the image's /etc/passwd and
 * /etc/group when a user is given by name, and the host probes at the end; any thread.
 */
#ifndef BR_TASKD_SPEC_H
#define BR_TASKD_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/images.h"
#include "common/proto/tasks.h"

#include <yajl_gen.h>

#define TASKD_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define TASKD_NOFILE_LIMIT 1024
/* The annotation that records open_stdin in the spec (the shim keeps the init's stdin open). */
#define TASKD_ANNOTATION_STDIN "io.berth.open-stdin"
#define TASKD_MEMORY_MIN (6 << 20)           /* docker's least memory limit */
#define TASKD_INIT_TARGET "/sbin/berth-init" /* where --init's reaper is mounted */

struct taskd_spec_opts {
	const char *ns;
	const char *id;
	/* The image's runtime config (images.resolve); NULL or any field empty: none. */
	const struct br_image_runtime *image;
	/* Create options: args replace the image's Cmd; entrypoint replaces its Entrypoint (and
	 * drops its Cmd, as docker does); env entries "K=V" override the image's by key. */
	struct br_strlist args;
	struct br_strlist entrypoint;
	struct br_strlist env;
	const char *hostname;    /* NULL or "": the id (at most 63 bytes of it) */
	const char *user;        /* "uid[:gid]" or names; NULL or "": the image's, else 0:0 */
	const char *working_dir; /* NULL or "": the image's, else "/" */
	/* Network (networks.attach): mode "host" shares the host's namespace; otherwise the
	 * namespace at netns_path is joined, or a new one made when netns_path is empty. */
	const char *net_mode;
	const char *netns_path;
	const char *hosts_path;   /* bind-mounted read-only at /etc/hosts when set */
	const char *resolv_path;  /* ... at /etc/resolv.conf */
	const char *cgroups_path; /* NULL: "berth/<ns>/<id>" */
	int rootfs_fd;            /* the mounted rootfs, for user names; -1: names are refused */
	/* Confinement (docs/tasks.md, "Security defaults"). seccomp: NULL or "": the default
	 * profile; "unconfined": none; else a JSON profile (taskd/seccomp.h). cgroupns: a
	 * private cgroup namespace (taskd_host_cgroup_unified). apparmor_profile: NULL or the
	 * loaded profile to confine the process with (taskd_host_apparmor_profile). */
	const char *seccomp;
	bool cgroupns;
	const char *apparmor_profile;
	/* process.terminal; open_stdin goes into the annotation TASKD_ANNOTATION_STDIN. */
	bool terminal;
	bool open_stdin;
	/* The run options (mounts, devices, ulimits, capabilities, privileged, read_only,
	 * resources) of the create request; NULL: none. Volume mounts come with their source
	 * resolved to the volume's host directory. The request's other fields are not read. */
	const struct br_container_create_req *run;
	/* --init: the host path of berth-init, mounted read-only at TASKD_INIT_TARGET and put
	 * in front of the process args; NULL: no init. */
	const char *init_path;
	/* The host accounts swap per cgroup (taskd_host_swap_accounting): a memory limit without
	 * a memory+swap limit then gets twice the memory as that, as docker gives it. */
	bool swap_accounting;
};

/* True when the host's memory cgroups limit swap: cgroup v1 with memory.memsw.* files (under
 * `path`, NULL: /sys/fs/cgroup/memory), or a cgroup v2 host (memory.swap.max). */
bool taskd_host_swap_accounting(const char *path);

/* containerd's default capability set, NULL-terminated. */
extern const char *const taskd_default_caps[];

/* The checked run options (spec_run.c), made by taskd_run_prepare before anything is
 * generated; free with taskd_run_spec_fini. */
struct taskd_run_device {
	char *path; /* in the container */
	const char *type;
	int64_t major, minor;
	uint32_t mode, uid, gid;
	const char *access;
};
struct taskd_run_rlimit {
	const char *type;
	uint64_t soft, hard; /* UINT64_MAX: unlimited */
};
struct taskd_run_spec {
	const char **caps; /* NULL-terminated; the names are static */
	struct taskd_run_device *devices;
	size_t ndevices;
	struct taskd_run_rlimit *rlimits;
	size_t nrlimits;
};
/* INVALID_ARGUMENT names the option that is wrong: an unknown capability or rlimit, a mount
 * target that is not absolute and clean or given twice, a bind source that does not exist, a
 * path that is not a device node, a hard rlimit above the host's, a resource out of range. */
int taskd_run_prepare(const struct taskd_spec_opts *o, struct taskd_run_spec *ret, br_err *err);
void taskd_run_spec_fini(struct taskd_run_spec *rs);
void taskd_run_gen_rlimits(yajl_gen g, const struct taskd_run_spec *rs, uint64_t default_nofile);
void taskd_run_gen_mounts(yajl_gen g, const struct taskd_spec_opts *o);
void taskd_run_gen_devices(yajl_gen g, const struct taskd_run_spec *rs);
void taskd_run_gen_resources(yajl_gen g, const struct taskd_spec_opts *o,
                             const struct taskd_run_spec *rs);

/*
 * Build config.json. On success *ret_json is a heap string (NUL-terminated) and *ret_command
 * the process args as run (NULL-terminated heap vector, free with br_strv_free).
 * INVALID_ARGUMENT names what is wrong: no command at all, a relative working directory, an
 * env entry without '=', a user that is malformed or unknown to the image, a hostname that is
 * not one (taskd_spec_check_hostname), a seccomp profile that is not one, and an image whose
 * /etc/passwd or /etc/group (when a name must be looked up) is not a regular file (a FIFO, a
 * device, a symlink); RESOURCE_EXHAUSTED for such a file larger than 1 MiB.
 */
int taskd_spec_build(const struct taskd_spec_opts *o, char **ret_json, char ***ret_command,
                     br_err *err);

/* Resolve a user string against the rootfs (rootfs_fd < 0: numeric only). */
int taskd_spec_resolve_user(const char *user, int rootfs_fd, uint32_t *ret_uid, uint32_t *ret_gid,
                            br_err *err);

/* A hostname as RFC 1123 has it: dot-separated labels of letters, digits and '-', none
 * starting or ending with '-', 63 bytes in all (the kernel's limit is 64 with the NUL).
 * INVALID_ARGUMENT says what is wrong. */
int taskd_spec_check_hostname(const char *hostname, br_err *err);

/* True when `path` (NULL: /sys/fs/cgroup) is a cgroup2 filesystem, i.e. the host runs the
 * unified hierarchy, where containers get a private cgroup namespace as under docker and
 * containerd. A hybrid host (cgroup v1 with a v2 mount elsewhere) answers false. */
bool taskd_host_cgroup_unified(const char *path);

/* The AppArmor profile a container runs under: "berth-default", else "docker-default", when
 * AppArmor is enabled and that profile is loaded; NULL otherwise. `sys_root` (NULL: /sys) is
 * where module/apparmor/parameters/enabled and kernel/security/apparmor/profiles are read. */
const char *taskd_host_apparmor_profile(const char *sys_root);

#endif
