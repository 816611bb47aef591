/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The registry of snapshot backends and the small pieces they share: snapshot paths, the
 * removal of a snapshot directory and the building of a one-mount answer.
 */
#include "snapshotd/backend.h"

#include <inttypes.h>
#include <stdio.h>

#include "common/fsutil.h"

const struct snapshotd_backend_ops *const snapshotd_backends[] = {
        &snapshotd_overlay_ops,
        &snapshotd_native_ops,
        NULL,
};

const char *
snapshotd_kind_name(enum snapshotd_kind kind)
{
	switch (kind) {
	case SNAPSHOTD_ACTIVE:
		return "active";
	case SNAPSHOTD_VIEW:
		return "view";
	case SNAPSHOTD_COMMITTED:
		return "committed";
	}
	return "unknown";
}

char *
snapshotd_backend_path(const struct snapshotd_backend *b, br_arena *arena, int64_t id,
                       const char *sub)
{
	if (sub == NULL)
		return br_arena_printf(arena, "%s/%" PRId64, b->root, id);
	return br_arena_printf(arena, "%s/%" PRId64 "/%s", b->root, id, sub);
}

int
snapshotd_backend_remove_dir(const struct snapshotd_backend *b, int64_t id, br_err *err)
{
	char name[32];

	snprintf(name, sizeof(name), "%" PRId64, id);
	if (br_rm_rf_at(b->root_fd, name, err) < 0)
		return br_err_wrap(err, "remove %s/%s", b->root, name);
	return 0;
}

void
snapshotd_backend_one_mount(br_arena *arena, const char *type, const char *source,
                            const char *const *options, size_t n_options,
                            struct br_snap_mounts_resp *ret)
{
	struct br_mount *m = br_arena_alloc(arena, sizeof(*m));
	const char **opts = br_arena_alloc(arena, (n_options ? n_options : 1) * sizeof(*opts));

	for (size_t i = 0; i < n_options; i++)
		opts[i] = options[i];
	m->type = type;
	m->source = source;
	m->options.v = opts;
	m->options.n = n_options;
	ret->mounts.v = m;
	ret->mounts.n = 1;
}
