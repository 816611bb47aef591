/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the frames a client sends on a stream (common/stream.h) as the shim parses
 * them (shim_stream_input): bytes from any user the gateway lets exec or attach, split at any
 * point. The input is cut in two at its first byte's value, so that frames split across reads
 * are covered. Input frames go to /dev/null as a process's stdin; a malformed frame must be
 * refused, never crash the shim or grow its queues past their caps.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "taskd/shim/shim.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct shim s;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (devnull < 0)
		abort();
	s = (struct shim){.id = "fuzz", .master = -1, .stdin_r = -1};
	for (int i = 0; i < SHIM_MAX_STREAMS; i++)
		s.streams[i].fd = -1;
	s.init_in = (struct shim_input){.fd = devnull, .buf.cap = SHIM_INPUT_MAX};
	s.streams[0] = (struct shim_stream){.fd = -1,
	                                    .exec = -1,
	                                    .stdin = true,
	                                    .close_stdin = true,
	                                    .out = {.cap = SHIM_STREAM_OUT_MAX}};
	size_t cut = size > 0 ? data[0] % (size + 1) : 0;
	if (shim_stream_input(&s, 0, data, cut) == 0)
		shim_stream_input(&s, 0, data + cut, size - cut);
	if (s.init_in.buf.len > SHIM_INPUT_MAX)
		abort();
	shim_input_close(&s.init_in);
	return 0;
}
