/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Signal names as users and image configs write them ("KILL", "SIGKILL", "9", "sigterm"):
 * `berth kill -s`, an image's StopSignal recorded by taskd. Pure; any thread.
 */
#ifndef BR_COMMON_SIGNAL_NAME_H
#define BR_COMMON_SIGNAL_NAME_H

/* The signal `s` names: a name with or without "SIG" (any case) or a number 1..64; 0 when it
 * names none (NULL and "" included). */
int br_signal_parse(const char *s);

#endif
