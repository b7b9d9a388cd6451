/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Bounded exponential backoff with jitter for the vault client.
 *
 * Key Vault: retry 408, 429, 5xx (not 501/505) and transport failures after
 * 1, 2, 4, 8, 16 s (+-20% jitter). IMDS: retry 404, 410, 429, 5xx and
 * timeouts at about 0, 2, 6, 14, 30 s from the first attempt (waits of 2,
 * 4, 8, 16 s); no other 4xx. A Retry-After header (seconds or HTTP-date)
 * replaces the computed wait: the retry comes at a uniformly drawn moment
 * in [after, (1 + VV_RETRY_AFTER_SPREAD) x after], so a herd throttled at
 * once does not return at once (docs/storm.md); only the server's own
 * figure is used when the spread would pass the deadline. Retries paced by
 * a Retry-After of 1 s or more do not count against max_retries: the
 * deadline alone bounds them. No wait runs past the operation's deadline.
 *
 * Tests shrink every wait with the environment variable
 * VV_TEST_BACKOFF_SCALE (a factor in [0, 1]; larger values are ignored, so
 * it can only make waits shorter, never longer).
 */
#ifndef VV_RETRY_H
#define VV_RETRY_H

#include <stdbool.h>
#include <time.h>

#include "base/http.h"

enum vv_retry_policy { VV_RETRY_KEYVAULT, VV_RETRY_IMDS };

/* Retry-After returns spread over [after, (1 + this) x after]. */
#define VV_RETRY_AFTER_SPREAD 4.0

struct vv_retry {
	enum vv_retry_policy policy;
	int done;		/* retries counted against max_retries */
	int paced;		/* retries paced by Retry-After >= 1 s (deadline only) */
	int max_retries;
	long long deadline_ms;	/* CLOCK_MONOTONIC, ms */
	double scale;		/* test scale factor, 0..1 */
	unsigned seed;		/* jitter state (rand_r) */
};

long long vv_retry_now_ms(void);
void vv_retry_init(struct vv_retry *r, enum vv_retry_policy p,
		   int max_retries, int total_timeout_ms);
/* Milliseconds left before the deadline (>= 0). */
long vv_retry_remaining_ms(const struct vv_retry *r);
/* Is this outcome worth another attempt under the policy? */
bool vv_retry_retryable(enum vv_retry_policy p, long status,
			enum vv_http_fail fail);
/* Unscaled, unjittered wait before retry number n (0-based), ms. */
long vv_retry_base_ms(enum vv_retry_policy p, int n);
/* Retry-After in ms (delta-seconds or HTTP-date relative to now); -1 if unusable. */
long vv_retry_after_ms(const char *hdr, time_t now);
/* Scale factor from VV_TEST_BACKOFF_SCALE (1.0 when unset or invalid). */
double vv_retry_scale(void);
/*
 * Account for one more retry: returns the wait in ms (already scaled and
 * jittered, honouring retry_after), or -1 when the retry budget (not
 * spent by Retry-After-paced retries) or the deadline is exhausted.
 */
long vv_retry_next(struct vv_retry *r, const char *retry_after);
void vv_retry_sleep_ms(long ms);

/*
 * vv_http_do() repeated while the outcome is retryable under r's policy and
 * budget; each attempt's timeout is capped by the time left. *retries (may
 * be NULL) is incremented atomically per retry. Returns what the last
 * attempt returned; resp holds the last attempt's response.
 */
int vv_http_do_retry(struct vv_http *h, const struct vv_http_req *req,
		     struct vv_retry *r, unsigned *retries,
		     struct vv_http_resp *resp);

#endif
