/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for what the gateway does with a daemon's daemon.metrics result on every
 * scrape: br_msg_unpack() (bounded), br_metrics_unpack() with its checks, br_metrics_merge()
 * under a "daemon" label and rendering. What was accepted must render, pack and unpack again
 * to a set that renders the same: a scrape never carries something the text format cannot
 * hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/msg.h"

static char *
render_again(const struct br_metrics *m)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_metrics *copy = br_metrics_new();
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_object obj;
	br_err err = BR_ERR_INIT;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	br_metrics_pack(&pk, m);
	if (br_msg_unpack(sb.data, sb.size, arena, &obj, &err) < 0 ||
	    br_metrics_unpack(&obj, copy, &err) < 0)
		abort(); /* what a set holds always passes the checks again */
	char *text = br_metrics_render(copy, NULL);
	msgpack_sbuffer_destroy(&sb);
	br_metrics_free(copy);
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_(br_arena_freep) br_arena *arena = br_arena_new();
	struct br_metrics *m = br_metrics_new(), *all = br_metrics_new();
	msgpack_object obj;
	br_err err = BR_ERR_INIT;

	if (br_msg_unpack(data, size, arena, &obj, &err) == 0 &&
	    br_metrics_unpack(&obj, m, &err) == 0) {
		char *text = br_metrics_render(m, NULL);
		char *again = render_again(m);
		if (strcmp(text, again) != 0)
			abort();
		br_metrics_merge(all, m, "daemon", "contentd", &err);
		free(br_metrics_render(all, NULL));
		free(again);
		free(text);
	}
	br_metrics_free(all);
	br_metrics_free(m);
	return 0;
}
