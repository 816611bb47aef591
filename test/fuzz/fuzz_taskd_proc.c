/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the /proc and cgroup texts taskd parses for tasks.top and tasks.stats
 * (taskd/procfs.c, taskd/cgroup.c). A container controls part of them: the comm in
 * /proc/<pid>/stat (prctl PR_SET_NAME), the names of its network interfaces in net/dev, the
 * cgroups it makes below its own. Every parser must refuse with a message or give a bounded
 * result; locate must produce directories only under the given prefix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "taskd/observe.h"

static void
check_err(int rc, const br_err *err)
{
	if (rc < 0 && (err->code == BR_OK || err->msg[0] == '\0'))
		abort();
}

static void
check_dir(const char *dir)
{
	if (dir == NULL)
		return;
	if (strncmp(dir, "/fuzz/", 6) != 0)
		abort();
	if (strstr(dir, "/../") != NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	br_err err = BR_ERR_INIT;
	struct taskd_proc_stat st;
	struct taskd_cgroup_dirs dirs;
	uid_t uid;
	uint64_t a, b;

	memcpy(text, data, size);
	text[size] = '\0';
	int rc = taskd_proc_stat_parse(text, &st, &err);
	check_err(rc, &err);
	if (rc == 0 && strlen(st.comm) >= sizeof(st.comm))
		abort();
	check_err(taskd_proc_status_euid(text, &uid, &err), &err);
	check_err(taskd_proc_net_dev_parse(text, &a, &b, &err), &err);
	check_err(taskd_proc_meminfo_total(text, &a, &err), &err);
	/* the same text as both /proc/<pid>/cgroup and mountinfo */
	rc = taskd_cgroup_locate(text, text, "/fuzz/", &dirs, &err);
	check_err(rc, &err);
	if (rc == 0) {
		check_dir(dirs.unified);
		check_dir(dirs.memory);
		check_dir(dirs.cpuacct);
		check_dir(dirs.pids);
		check_dir(dirs.blkio);
		taskd_cgroup_dirs_fini(&dirs);
	}
	free(text);
	return 0;
}
