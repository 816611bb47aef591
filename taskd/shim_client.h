/* SPDX-License-Identifier: Apache-2.0 */
/*
 * taskd's side of berth-shim: starting one (it detaches and reports through a pipe) and
 * telling whether one recorded in a state directory is still there. Requests themselves go
 * through br_shim_call() (common/proto/shim.h). Everything here blocks: call it from a worker
 * thread, never from the loop.
 */
#ifndef BR_TASKD_SHIM_CLIENT_H
#define BR_TASKD_SHIM_CLIENT_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/msg.h"
#include "common/proto/shim.h"

#define TASKD_SHIM_REPORT_TIMEOUT_MS 150000 /* the shim's own create timeout is 120 s */
#define TASKD_SHIM_CALL_TIMEOUT_MS 90000    /* start and delete run the runtime (60 s max) */

struct taskd_shim_spawn_opts {
	const char *shim_path;
	const char *id;
	const char *bundle;
	const char *runtime;      /* absolute path */
	const char *runtime_root; /* NULL: the runtime's default */
	const char *state_dir;
	const char *log_level; /* NULL: "info" */
	const char *log_dir;   /* the container's CRI log directory; NULL: raw files in state_dir */
	int64_t log_max_size;  /* with log_dir: bytes per file (0: the shim's default) */
	int64_t log_max_files; /* with log_dir: files kept (0: the shim's default) */
	bool terminal;         /* the spec gives the process a terminal */
	bool open_stdin;       /* keep the init's stdin open for attached clients */
};

/*
 * Start a shim and wait for its report: the created task (status "created", pid) or the
 * runtime's error as the shim reported it ("runc create failed: ..."). The shim is no child
 * of the caller when this returns. Strings of *ret live in `arena`.
 */
int taskd_shim_spawn(const struct taskd_shim_spawn_opts *o, br_arena *arena,
                     struct br_shim_reply *ret, br_err *err);

/* True if the shim recorded in state_dir (shim.pid) is alive and answers "state" on its
 * socket; *ret gets that state. */
bool taskd_shim_alive(const char *state_dir, br_arena *arena, struct br_shim_reply *ret);

#endif
