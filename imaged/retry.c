/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Waits between attempts of a registry request (retry.h): back-off and Retry-After. The
 * header is parsed without trusting it: bounded length, digits only for delay-seconds
 * (saturating), and libcurl's date parser for the HTTP-date forms.
 */
#include "imaged/retry.h"

#include <string.h>

#include <curl/curl.h>

#define BACKOFF_FIRST_MS 250 /* the first wait between attempts, doubled per failure */
#define RETRY_AFTER_MAX 64   /* longer Retry-After values are ignored */
#define RETRY_AFTER_SECONDS_MAX (INT64_C(1) << 32) /* a Retry-After saturates here */

int64_t
imaged_retry_after_ms(const char *value, time_t now)
{
	char buf[RETRY_AFTER_MAX + 1];
	size_t len;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0 || len > RETRY_AFTER_MAX)
		return -1;
	int64_t seconds = 0;
	if (value[0] >= '0' && value[0] <= '9') {
		/* delay-seconds: 1*DIGIT, saturating (the caller caps the wait anyway) */
		for (size_t i = 0; i < len; i++) {
			if (value[i] < '0' || value[i] > '9')
				return -1;
			if (seconds < RETRY_AFTER_SECONDS_MAX)
				seconds = seconds * 10 + (value[i] - '0');
		}
	} else {
		/* an HTTP-date (IMF-fixdate, RFC 850 or asctime form) */
		memcpy(buf, value, len);
		buf[len] = '\0';
		time_t at = curl_getdate(buf, NULL);
		if (at == -1)
			return -1;
		seconds = at <= now ? 0 : (int64_t)(at - now);
	}
	if (seconds > RETRY_AFTER_SECONDS_MAX)
		seconds = RETRY_AFTER_SECONDS_MAX;
	return seconds * 1000;
}

int64_t
imaged_backoff_ms(int attempt, int64_t max_ms, uint64_t random)
{
	int64_t step = BACKOFF_FIRST_MS;

	for (int i = 1; i < attempt && step < max_ms; i++)
		step *= 2;
	if (step > max_ms)
		step = max_ms;
	if (step < 2)
		return step < 0 ? 0 : step;
	int64_t half = step / 2;
	return half + (int64_t)(random % (uint64_t)(step - half + 1));
}
