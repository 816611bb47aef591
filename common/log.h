/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one logger. Every line carries the process name, a level and a stable message id
 * (e.g. "SNAP-MOUNT-FAIL") that operators can grep and alert on:
 *
 *   berth-snapshotd[123]: warn SNAP-MOUNT-FAIL: mount "x": Device or resource busy, ignoring
 *
 * or, with the JSON format, one object per line. Output goes to stderr (journald captures it
 * under the systemd units). The macros test the level before evaluating their arguments.
 * Only main() and the RPC dispatcher log errors; library code returns br_err instead.
 * Safe to call from any thread (one write(2) per line).
 */
#ifndef BR_COMMON_LOG_H
#define BR_COMMON_LOG_H

#include <stdbool.h>

enum br_log_level {
	BR_LOG_ERROR = 0,
	BR_LOG_WARN,
	BR_LOG_NOTICE,
	BR_LOG_INFO,
	BR_LOG_DEBUG,
	BR_LOG_LEVEL_MAX
};

enum br_log_format {
	BR_LOG_TEXT = 0,
	BR_LOG_JSON,
};

extern enum br_log_level br_log_level_current;

/* Set the process name ("berth-contentd"), level and format. Call once from main(). */
void br_log_init(const char *name, enum br_log_level level, enum br_log_format format);

/* Parse "error" | "warn" | "notice" | "info" | "debug". Returns -1 for anything else. */
int br_log_level_parse(const char *s, enum br_log_level *ret_level);

void br_log_write(enum br_log_level level, const char *id, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define BR_LOG(level, id, ...)                                    \
	do {                                                      \
		if ((level) <= br_log_level_current)              \
			br_log_write((level), (id), __VA_ARGS__); \
	} while (0)

#define br_log_error(id, ...) BR_LOG(BR_LOG_ERROR, id, __VA_ARGS__)
#define br_log_warn(id, ...) BR_LOG(BR_LOG_WARN, id, __VA_ARGS__)
#define br_log_notice(id, ...) BR_LOG(BR_LOG_NOTICE, id, __VA_ARGS__)
#define br_log_info(id, ...) BR_LOG(BR_LOG_INFO, id, __VA_ARGS__)
#define br_log_debug(id, ...) BR_LOG(BR_LOG_DEBUG, id, __VA_ARGS__)

#endif
