// SPDX-License-Identifier: GPL-2.0-or-later
/* Backoff policy for Key Vault and IMDS requests. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/retry.h"

/* Key Vault's documented throttling backoff. */
static const long kv_waits_ms[] = { 1000, 2000, 4000, 8000, 16000 };
/* IMDS guidance: attempts at about 0, 2, 6, 14, 30 s. */
static const long imds_waits_ms[] = { 2000, 4000, 8000, 16000, 16000 };

long long vv_retry_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double vv_retry_scale(void)
{
	const char *e = getenv("VV_TEST_BACKOFF_SCALE");
	char *end;
	double s;

	if (!e || !*e)
		return 1.0;
	s = strtod(e, &end);
	/* Only ever shorten waits: anything else is ignored. */
	if (*end || !(s >= 0.0 && s <= 1.0))
		return 1.0;
	return s;
}

void vv_retry_init(struct vv_retry *r, enum vv_retry_policy p,
		   int max_retries, int total_timeout_ms)
{
	struct timespec ts;

	memset(r, 0, sizeof(*r));
	r->policy = p;
	r->max_retries = max_retries >= 0 ? max_retries : 0;
	r->deadline_ms = vv_retry_now_ms() + (total_timeout_ms > 0 ? total_timeout_ms : 60000);
	r->scale = vv_retry_scale();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	/* Jitter needs no cryptographic quality, only per-client spread. */
	r->seed = (unsigned)ts.tv_nsec ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)r;
}

long vv_retry_remaining_ms(const struct vv_retry *r)
{
	long long left = r->deadline_ms - vv_retry_now_ms();

	return left > 0 ? (long)left : 0;
}

bool vv_retry_retryable(enum vv_retry_policy p, long status,
			enum vv_http_fail fail)
{
	if (fail != VV_HTTP_OK) {
		/*
		 * A certificate that does not verify will not verify on the
		 * next attempt either; an oversized answer is not an outage.
		 */
		if (fail == VV_HTTP_TLS || fail == VV_HTTP_TOO_LARGE ||
		    fail == VV_HTTP_OTHER)
			return false;
		return true;
	}
	if (status == 429 || (status >= 500 && status != 501 && status != 505 &&
			      status <= 599))
		return true;
	if (p == VV_RETRY_IMDS)
		return status == 404 || status == 410;
	return status == 408;
}

long vv_retry_base_ms(enum vv_retry_policy p, int n)
{
	const long *t = p == VV_RETRY_IMDS ? imds_waits_ms : kv_waits_ms;
	int last = 4;

	if (n < 0)
		n = 0;
	return t[n > last ? last : n];
}

long vv_retry_after_ms(const char *hdr, time_t now)
{
	struct tm tm;
	const char *end;
	char *e;
	long secs;

	if (!hdr)
		return -1;
	while (*hdr == ' ')
		hdr++;
	if (*hdr >= '0' && *hdr <= '9') {
		errno = 0;
		secs = strtol(hdr, &e, 10);
		while (*e == ' ')
			e++;
		if (errno || *e || secs < 0 || secs > 24 * 3600)
			return -1;
		return secs * 1000;
	}
	/* HTTP-date, IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
	memset(&tm, 0, sizeof(tm));
	end = strptime(hdr, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!end || *end)
		return -1;
	secs = (long)(timegm(&tm) - now);
	if (secs < 0)
		secs = 0;
	if (secs > 24 * 3600)
		return -1;
	return secs * 1000;
}

long vv_retry_next(struct vv_retry *r, const char *retry_after)
{
	long after = vv_retry_after_ms(retry_after, time(NULL));
	double wait;
	bool paced;

	/*
	 * A server that paces us with a Retry-After of a second or more is
	 * up and said when: those retries are bounded by the deadline alone.
	 * Counting them would give up on a vault that throttles for longer
	 * than max_retries such waits (a region's VMs restored at once:
	 * docs/storm.md) while it is serving others every second.
	 */
	paced = after >= 1000;
	if (!paced && r->done >= r->max_retries)
		return -1;
	if (after >= 0) {
		/*
		 * The server said "not before": every client it throttled in
		 * the same moment heard the same number, so coming back just
		 * then brings the whole herd back at once and most of it is
		 * throttled again (tests/bench/storm.py: 7% of 200 VMs ran out
		 * of retries so). Spread the return uniformly over
		 * [after, (1 + SPREAD) x after].
		 */
		wait = (double)after * (1.0 + VV_RETRY_AFTER_SPREAD *
					rand_r(&r->seed) / RAND_MAX);
		/* Near the deadline, the server's own figure still fits. */
		if (vv_retry_now_ms() + (long long)(wait * r->scale) >= r->deadline_ms)
			wait = (double)after;
	} else {
		wait = (double)vv_retry_base_ms(r->policy, r->done) *
		       (0.8 + 0.4 * rand_r(&r->seed) / RAND_MAX);
	}
	wait *= r->scale;
	/* Sleeping past the deadline would only delay the failure. */
	if (vv_retry_now_ms() + (long long)wait >= r->deadline_ms)
		return -1;
	if (paced)
		r->paced++;
	else
		r->done++;
	return (long)wait;
}

void vv_retry_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int vv_http_do_retry(struct vv_http *h, const struct vv_http_req *req,
		     struct vv_retry *r, unsigned *retries,
		     struct vv_http_resp *resp)
{
	struct vv_http_req one = *req;
	long wait, left;
	int rc;

	for (;;) {
		left = vv_retry_remaining_ms(r);
		if (left < 1)
			left = 1;
		one.timeout_ms = req->timeout_ms > 0 && req->timeout_ms < left ?
				 req->timeout_ms : left;
		rc = vv_http_do(h, &one, resp);
		if (rc < 0 && rc != -EIO)
			return rc;
		if (!vv_retry_retryable(r->policy, resp->status, resp->fail))
			return rc;
		wait = vv_retry_next(r, resp->retry_after);
		if (wait < 0)
			return rc;
		if (retries)
			__atomic_add_fetch(retries, 1, __ATOMIC_RELAXED);
		vv_http_resp_free(resp);
		vv_retry_sleep_ms(wait);
	}
}
