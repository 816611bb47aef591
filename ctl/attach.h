/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Streams from the CLI (attach.c): opening one on the gateway's stream socket and pumping it
 * between our stdio and the process. Main thread.
 */
#ifndef BR_CTL_ATTACH_H
#define BR_CTL_ATTACH_H

#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "common/msg.h"

struct ctl;

#define CTL_STREAM_DETACHED (-2) /* ctl_stream_pump: the detach keys were typed */

/* Open a stream of `method` (params packed with `ps`) in ctl->ns (berth_stream_open): the
 * connection once it is open, or -1 with the error of whichever hop refused it (gateway,
 * taskd, shim); UNAVAILABLE when the gateway is not there. */
int ctl_stream_open(struct ctl *ctl, const char *method, const struct br_schema *ps,
                    const void *params, br_err *err);

struct ctl_pump_opts {
	bool stdin; /* send our stdin (STDIN_CLOSE at its end) */
	bool tty;   /* a terminal: raw mode while our stdin is one, resizes, detach keys */
};

/* Pump an open stream until EXIT: the process's exit status; CTL_STREAM_DETACHED when the
 * detach keys were typed; -1 with err when the stream broke. */
int ctl_stream_pump(int fd, const struct ctl_pump_opts *o, br_err *err);

/* Start container `id`'s task with a stream attached before its process runs
 * (tasks.attach {start: true}): our stdin with `stdin` (its end closes the container's), our
 * terminal's size with `tty`. The open stream, or -1 with the start's error. */
int ctl_stream_start(struct ctl *ctl, const char *id, bool stdin, bool tty, br_err *err);

/* start -a -i: start container `id` (a stopped task is deleted first, a running one joined)
 * with a stream attached before its process runs, stdin included, and pump it; the exit
 * code as attach's. */
int ctl_start_interactive(struct ctl *ctl, const char *id);

/* Our terminal's size (stdout's, else stdin's); 0 and 0 when there is none. */
void ctl_terminal_size(uint32_t *ret_rows, uint32_t *ret_cols);

#endif
