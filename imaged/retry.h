/* SPDX-License-Identifier: Apache-2.0 */
/*
 * How long berth-imaged waits before it asks a registry again (registry.c makes the
 * requests): the exponential back-off with jitter, and the registry's own Retry-After,
 * parsed as the untrusted bytes it is. Pure functions, any thread.
 */
#ifndef BR_IMAGED_RETRY_H
#define BR_IMAGED_RETRY_H

#include <stdint.h>
#include <time.h>

/*
 * A Retry-After header value (RFC 9110: delay-seconds, or an HTTP-date compared with `now`)
 * as milliseconds to wait: 0 for a date in the past, -1 for anything else (untrusted: at
 * most 64 bytes are looked at, and the delay saturates at 2^32 seconds). Any thread.
 */
int64_t imaged_retry_after_ms(const char *value, time_t now);
/*
 * The wait after the `attempt`th failure in a row (1, 2, ...): 250 ms doubled per failure up
 * to `max_ms`, with jitter from `random` (between half of that and all of it). Any thread.
 */
int64_t imaged_backoff_ms(int attempt, int64_t max_ms, uint64_t random);

#endif
