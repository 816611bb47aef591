/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OCI runtime spec (config.json) of a container: the image's runtime config plus the
 * create options, on top of safe defaults in the manner of containerd's and runc's default
 * spec (docs/tasks.md lists them). Pure apart from reading the image's /etc/passwd and
 * /etc/group when a user is given by name; any thread.
 */
#ifndef BR_TASKD_SPEC_H
#define BR_TASKD_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/images.h"

#define TASKD_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define TASKD_NOFILE_LIMIT 1024

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
};

/*
 * Build config.json. On success *ret_json is a heap string (NUL-terminated) and *ret_command
 * the process args as run (NULL-terminated heap vector, free with br_strv_free).
 * INVALID_ARGUMENT names what is wrong: no command at all, a relative working directory, an
 * env entry without '=', a user that is malformed or unknown to the image.
 */
int taskd_spec_build(const struct taskd_spec_opts *o, char **ret_json, char ***ret_command,
                     br_err *err);

/* Resolve a user string against the rootfs (rootfs_fd < 0: numeric only). */
int taskd_spec_resolve_user(const char *user, int rootfs_fd, uint32_t *ret_uid, uint32_t *ret_gid,
                            br_err *err);

#endif
