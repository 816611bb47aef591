/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whether the kernel's OOM killer struck the container. Right after `create` the shim finds
 * the init's memory cgroup in /proc/<pid>/cgroup (the cgroup v1 memory controller's line when
 * there is one, else the unified "0::" line on a cgroup v2 host) and reads the cgroup's
 * oom_kill count as a baseline; right after the init is reaped, before the exit file is
 * written, it reads the count again (the runtime removes the cgroup only at `delete`). A
 * count that grew means a process of the container was OOM-killed, which is what docker
 * reports as State.OOMKilled. Best effort: a host without the counter reports false. Shim
 * main thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "common/cleanup.h"
#include "common/xalloc.h"
#include "taskd/shim/shim.h"

#define CGROUP2_MAGIC 0x63677270

/* The oom_kill count in a memory.oom_control (v1) or memory.events (v2) file; -1 when
 * unreadable. */
static int64_t
read_oom_kills(const char *path)
{
	_cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
	char line[128];

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		long long n;
		if (sscanf(line, "oom_kill %lld", &n) == 1)
			return n;
	}
	return -1;
}

void
shim_oom_init(struct shim *s)
{
	char path[64], line[4200];
	_cleanup_fclose_ FILE *f = NULL;
	char *v1 = NULL, *v2 = NULL;
	struct statfs fs;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)s->init_pid);
	f = fopen(path, "re");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c2 == NULL)
			continue;
		*c2 = '\0';
		bool memory = false;
		for (char *save = NULL, *ctl = strtok_r(c1 + 1, ",", &save); ctl != NULL;
		     ctl = strtok_r(NULL, ",", &save))
			memory |= strcmp(ctl, "memory") == 0;
		if (memory && v1 == NULL)
			v1 = xstrdup(c2 + 1);
		else if (strncmp(line, "0", 2) == 0 && c1[1] == '\0' && v2 == NULL)
			v2 = xstrdup(c2 + 1);
	}
	if (v1 != NULL)
		s->oom_file = xasprintf("/sys/fs/cgroup/memory%s/memory.oom_control", v1);
	else if (v2 != NULL && statfs("/sys/fs/cgroup", &fs) == 0 &&
	         (unsigned long)fs.f_type == CGROUP2_MAGIC)
		s->oom_file = xasprintf("/sys/fs/cgroup%s/memory.events", v2);
	free(v1);
	free(v2);
	s->oom_base = read_oom_kills(s->oom_file);
}

bool
shim_oom_killed(const struct shim *s)
{
	int64_t n = read_oom_kills(s->oom_file);

	return s->oom_base >= 0 && n > s->oom_base;
}
