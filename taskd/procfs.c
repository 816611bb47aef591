/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers of /proc text for tasks.top and tasks.stats (a process's stat and status, a network
 * namespace's net/dev, the host's meminfo) and the formats of ps's columns (TTY, TIME, STIME)
 * that top prints, so that `berth top` reads like `docker top`. Pure; any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskd/observe.h"

int
taskd_proc_stat_parse(const char *text, struct taskd_proc_stat *ret, br_err *err)
{
	struct taskd_proc_stat s = {0};
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	char *end;

	if (open == NULL || close == NULL || close < open)
		return br_err_set(err, BR_INVALID_ARGUMENT, "stat: no (comm)");
	s.pid = (pid_t)strtol(text, &end, 10);
	if (end == text || s.pid <= 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "stat: no pid");
	size_t comm_len = (size_t)(close - open - 1);
	if (comm_len >= sizeof(s.comm))
		comm_len = sizeof(s.comm) - 1;
	memcpy(s.comm, open + 1, comm_len);
	s.comm[comm_len] = '\0';

	/* After the comm: state (3) ppid (4) pgrp session tty_nr (7) tpgid flags minflt cminflt
	 * majflt cmajflt utime (14) stime (15) cutime cstime priority nice num_threads
	 * itrealvalue starttime (22). */
	const char *p = close + 1;
	unsigned long long f[20];
	char state;
	int n = sscanf(p,
	               " %c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu "
	               "%llu %llu %llu %llu %llu",
	               &state, &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7], &f[8], &f[9],
	               &f[10], &f[11], &f[12], &f[13], &f[14], &f[15], &f[16], &f[17], &f[18]);
	if (n < 20)
		return br_err_set(err, BR_INVALID_ARGUMENT, "stat of %d: %d fields, expected 22",
		                  (int)s.pid, n + 2);
	s.state = state;
	s.ppid = (pid_t)f[0];
	s.tty_nr = (int)f[3];
	s.utime = f[10];
	s.stime = f[11];
	s.starttime = f[18];
	*ret = s;
	return 0;
}

int
taskd_proc_status_euid(const char *text, uid_t *ret, br_err *err)
{
	const char *p = strstr(text, "\nUid:");
	unsigned long real, effective;

	if (p == NULL && strncmp(text, "Uid:", 4) == 0)
		p = text - 1;
	if (p == NULL || sscanf(p + 5, " %lu %lu", &real, &effective) != 2)
		return br_err_set(err, BR_INVALID_ARGUMENT, "status: no Uid line");
	*ret = (uid_t)effective;
	return 0;
}

int
taskd_proc_net_dev_parse(const char *text, uint64_t *ret_rx, uint64_t *ret_tx, br_err *err)
{
	uint64_t rx = 0, tx = 0;
	int lines = 0;

	/* Two header lines, then "  NAME: rx_bytes rx_packets ... (8 receive) tx_bytes ..." */
	for (const char *p = text; *p != '\0';) {
		size_t len = strcspn(p, "\n");
		const char *colon = memchr(p, ':', len);
		if (colon != NULL) {
			const char *name = p;
			while (*name == ' ')
				name++;
			unsigned long long v[9];
			if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
			           &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8]) == 9) {
				lines++;
				if (!(colon - name == 2 && strncmp(name, "lo", 2) == 0)) {
					rx += v[0];
					tx += v[8];
				}
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	if (lines == 0)
		return br_err_set(err, BR_INVALID_ARGUMENT, "net/dev: no interface");
	*ret_rx = rx;
	*ret_tx = tx;
	return 0;
}

int
taskd_proc_meminfo_total(const char *text, uint64_t *ret, br_err *err)
{
	const char *p = strstr(text, "MemTotal:");
	unsigned long long kb;

	if (p == NULL || sscanf(p + 9, " %llu", &kb) != 1)
		return br_err_set(err, BR_INVALID_ARGUMENT, "meminfo: no MemTotal");
	*ret = (uint64_t)kb * 1024;
	return 0;
}

void
taskd_top_tty(int tty_nr, char *buf, size_t cap)
{
	unsigned major = ((unsigned)tty_nr >> 8) & 0xfff;
	unsigned minor = ((unsigned)tty_nr & 0xff) | (((unsigned)tty_nr >> 12) & 0xfff00);

	if (tty_nr == 0)
		snprintf(buf, cap, "?");
	else if (major >= 136 && major <= 143)
		snprintf(buf, cap, "pts/%u", (major - 136) * 256 + minor);
	else if (major == 4 && minor < 64)
		snprintf(buf, cap, "tty%u", minor);
	else if (major == 4)
		snprintf(buf, cap, "ttyS%u", minor - 64);
	else
		snprintf(buf, cap, "%u:%u", major, minor);
}

void
taskd_top_time(uint64_t seconds, char *buf, size_t cap)
{
	uint64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
	         s = seconds % 60;

	if (d > 0)
		snprintf(buf, cap, "%llu-%02llu:%02llu:%02llu", (unsigned long long)d,
		         (unsigned long long)h, (unsigned long long)m, (unsigned long long)s);
	else
		snprintf(buf, cap, "%02llu:%02llu:%02llu", (unsigned long long)h,
		         (unsigned long long)m, (unsigned long long)s);
}

void
taskd_top_stime(int64_t start, int64_t now, char *buf, size_t cap)
{
	time_t t = (time_t)start;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(buf, cap, "?");
		return;
	}
	if (now - start < 86400)
		strftime(buf, cap, "%H:%M", &tm);
	else if (now - start < 365 * 86400)
		strftime(buf, cap, "%b%d", &tm);
	else
		strftime(buf, cap, "%Y", &tm);
}
