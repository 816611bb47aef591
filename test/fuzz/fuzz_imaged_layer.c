/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for layer application: arbitrary bytes as a layer (compression detected, so
 * inputs may be plain, gzip or zstd tars) unpacked into a fresh directory, alternating
 * between overlay and full-tree whiteouts on the first byte. After each input the directory
 * around the layer root must hold nothing but the root (an entry that escaped would show up
 * there), and the root is removed. Links imaged's objects (the target is named fuzz_imaged_*).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/oci.h"
#include "imaged/apply.h"

static char base_dir[64];

static void
remove_base(void)
{
	if (base_dir[0] != '\0') {
		br_rm_rf_at(AT_FDCWD, base_dir, NULL);
		base_dir[0] = '\0';
	}
}

struct input {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t
input_read(void *data, const void **ret_buf, br_err *err)
{
	struct input *in = data;
	size_t n = in->len - in->off;

	if (n > 4096)
		n = 4096;
	*ret_buf = in->p + in->off;
	in->off += n;
	return (ssize_t)n;
}

/* Nothing but "root" may exist next to the layer root. */
static void
check_nothing_escaped(void)
{
	DIR *d = opendir(base_dir);
	struct dirent *de;

	if (d == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "root") == 0)
			continue;
		fprintf(stderr, "fuzz_imaged_layer: \"%s\" appeared outside the layer root\n",
		        de->d_name);
		abort();
	}
	closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = {.p = data, .len = size};
	struct imaged_apply_opts opts = {
	        .layer = "fuzz",
	        .compression = -1,
	        .whiteouts = size > 0 && (data[0] & 1) ? IMAGED_WHITEOUT_DELETE
	                                               : IMAGED_WHITEOUT_OVERLAY,
	        .max_entries = 10000,
	        .max_bytes = 64u << 20,
	};
	struct imaged_apply_result res;
	br_err err = BR_ERR_INIT;
	char root[96];

	if (base_dir[0] == '\0') {
		snprintf(base_dir, sizeof(base_dir), "/tmp/berth-fuzz-layer-XXXXXX");
		if (mkdtemp(base_dir) == NULL)
			abort();
		atexit(remove_base);
	}
	snprintf(root, sizeof(root), "%s/root", base_dir);
	if (mkdir(root, 0755) < 0)
		abort();
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		abort();
	imaged_apply_layer(fd, input_read, &in, &opts, &res, &err);
	close(fd);
	check_nothing_escaped();
	if (br_rm_rf_at(AT_FDCWD, root, &err) < 0) {
		fprintf(stderr, "fuzz_imaged_layer: remove %s: %s\n", root, err.msg);
		abort();
	}
	return 0;
}
