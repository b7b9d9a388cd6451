// SPDX-License-Identifier: GPL-2.0-or-later
/* Backoff policy: what is retried, how long each wait is, Retry-After, deadlines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "base/http.h"
#include "base/retry.h"

static void test_keyvault_retryable(void **state)
{
	(void)state;
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 429, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 500, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 502, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 503, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 504, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 408, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 200, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 400, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 401, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 403, VV_HTTP_OK));
	/* 404 is a definite answer from Key Vault, unlike from IMDS */
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 404, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 410, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 501, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 0, VV_HTTP_CONNECT));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 0, VV_HTTP_TIMEOUT));
	assert_true(vv_retry_retryable(VV_RETRY_KEYVAULT, 0, VV_HTTP_BROKEN));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 0, VV_HTTP_TLS));
	assert_false(vv_retry_retryable(VV_RETRY_KEYVAULT, 0, VV_HTTP_TOO_LARGE));
}

static void test_imds_retryable(void **state)
{
	(void)state;
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 404, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 410, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 429, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 500, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 503, VV_HTTP_OK));
	assert_true(vv_retry_retryable(VV_RETRY_IMDS, 0, VV_HTTP_TIMEOUT));
	assert_false(vv_retry_retryable(VV_RETRY_IMDS, 400, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_IMDS, 401, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_IMDS, 403, VV_HTTP_OK));
	assert_false(vv_retry_retryable(VV_RETRY_IMDS, 408, VV_HTTP_OK));
}

static void test_base_schedules(void **state)
{
	static const long kv[] = { 1000, 2000, 4000, 8000, 16000, 16000 };
	/* IMDS: attempts at about 0, 2, 6, 14, 30 s after the first */
	static const long imds_at[] = { 2000, 6000, 14000, 30000 };
	long sum = 0;

	(void)state;
	for (int i = 0; i < 6; i++)
		assert_int_equal(vv_retry_base_ms(VV_RETRY_KEYVAULT, i), kv[i]);
	for (int i = 0; i < 4; i++) {
		sum += vv_retry_base_ms(VV_RETRY_IMDS, i);
		assert_int_equal(sum, imds_at[i]);
	}
}

static void test_retry_after_parsing(void **state)
{
	time_t now = 1700000000;
	char date[64];
	struct tm tm;
	time_t t;

	(void)state;
	assert_int_equal(vv_retry_after_ms("3", now), 3000);
	assert_int_equal(vv_retry_after_ms(" 0", now), 0);
	assert_int_equal(vv_retry_after_ms("120", now), 120000);
	assert_int_equal(vv_retry_after_ms(NULL, now), -1);
	assert_int_equal(vv_retry_after_ms("", now), -1);
	assert_int_equal(vv_retry_after_ms("soon", now), -1);
	assert_int_equal(vv_retry_after_ms("-5", now), -1);
	assert_int_equal(vv_retry_after_ms("3x", now), -1);
	assert_int_equal(vv_retry_after_ms("999999999", now), -1);

	t = now + 7;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(vv_retry_after_ms(date, now), 7000);
	t = now - 100;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_int_equal(vv_retry_after_ms(date, now), 0);
	assert_int_equal(vv_retry_after_ms("Sun, 06 Nov 1994 08:49:37", now), -1);
	assert_int_equal(vv_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111777), 0);
	assert_int_equal(vv_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770), 7000);
}

static void test_scale_only_shrinks(void **state)
{
	(void)state;
	unsetenv("VV_TEST_BACKOFF_SCALE");
	assert_true(vv_retry_scale() == 1.0);
	setenv("VV_TEST_BACKOFF_SCALE", "0.01", 1);
	assert_true(vv_retry_scale() == 0.01);
	setenv("VV_TEST_BACKOFF_SCALE", "0", 1);
	assert_true(vv_retry_scale() == 0.0);
	setenv("VV_TEST_BACKOFF_SCALE", "2", 1);
	assert_true(vv_retry_scale() == 1.0);
	setenv("VV_TEST_BACKOFF_SCALE", "-1", 1);
	assert_true(vv_retry_scale() == 1.0);
	setenv("VV_TEST_BACKOFF_SCALE", "0.5x", 1);
	assert_true(vv_retry_scale() == 1.0);
	unsetenv("VV_TEST_BACKOFF_SCALE");
}

static void test_waits_jitter_and_budget(void **state)
{
	struct vv_retry r;
	bool differ = false;
	long first = -1;

	(void)state;
	unsetenv("VV_TEST_BACKOFF_SCALE");
	vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 600000);
	for (int i = 0; i < 5; i++) {
		long base = vv_retry_base_ms(VV_RETRY_KEYVAULT, i);
		long w = vv_retry_next(&r, NULL);

		assert_true(w >= base * 8 / 10 && w <= base * 12 / 10);
	}
	/* the budget of 5 retries is spent */
	assert_int_equal(vv_retry_next(&r, NULL), -1);
	assert_int_equal(r.done, 5);

	/* jitter spreads clients: over many draws, not all the same */
	for (int i = 0; i < 20 && !differ; i++) {
		vv_retry_init(&r, VV_RETRY_KEYVAULT, 1, 600000);
		long w = vv_retry_next(&r, NULL);

		if (first >= 0 && w != first)
			differ = true;
		first = w;
	}
	assert_true(differ);

	/* zero retries allowed: never retry */
	vv_retry_init(&r, VV_RETRY_IMDS, 0, 600000);
	assert_int_equal(vv_retry_next(&r, NULL), -1);
}

static void test_retry_after_overrides_and_deadline(void **state)
{
	struct vv_retry r;
	long w;

	(void)state;
	unsetenv("VV_TEST_BACKOFF_SCALE");
	vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 600000);
	w = vv_retry_next(&r, "3");	/* spread over [3, 15] s, not counted */
	assert_true(w >= 3000 && w <= 15000);
	w = vv_retry_next(&r, "0");	/* counted: a 0 paces nothing */
	assert_true(w >= 0 && w <= 10);
	/* unusable header: the schedule applies (second counted wait, 2 s) */
	w = vv_retry_next(&r, "bogus");
	assert_true(w >= 1600 && w <= 2400);
	assert_int_equal(r.done, 2);
	assert_int_equal(r.paced, 1);

	/* a wait that would end past the deadline is not taken */
	vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 1500);
	w = vv_retry_next(&r, "2");
	assert_int_equal(w, -1);
	assert_int_equal(r.done, 0);
	vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 1500);
	w = vv_retry_next(&r, NULL);	/* ~1 s fits in 1.5 s */
	assert_true(w >= 800 && w <= 1200);
	w = vv_retry_next(&r, NULL);	/* another ~2 s does not */
	assert_int_equal(w, -1);
	assert_int_equal(r.done, 1);
	/* with the deadline passed, nothing is left */
	vv_retry_init(&r, VV_RETRY_IMDS, 5, 1);
	vv_retry_sleep_ms(5);
	assert_int_equal(vv_retry_remaining_ms(&r), 0);
	assert_int_equal(vv_retry_next(&r, NULL), -1);
}

static void test_scaled_waits(void **state)
{
	struct vv_retry r;
	long long t0;
	long w;

	(void)state;
	setenv("VV_TEST_BACKOFF_SCALE", "0.01", 1);
	vv_retry_init(&r, VV_RETRY_IMDS, 5, 60000);
	w = vv_retry_next(&r, NULL);	/* 2 s * 0.01 */
	assert_true(w >= 16 && w <= 24);
	w = vv_retry_next(&r, "10");	/* Retry-After (and its spread) scaled too */
	assert_true(w >= 100 && w <= 500);
	t0 = vv_retry_now_ms();
	vv_retry_sleep_ms(w);
	assert_true(vv_retry_now_ms() - t0 >= w);
	unsetenv("VV_TEST_BACKOFF_SCALE");
}

/*
 * 200 VMs throttled in the same second all hear "Retry-After: 1": their
 * returns must spread over [1, 5] s, not land within 10% of 1 s.
 */
static void test_retry_after_spreads_a_herd(void **state)
{
	long lo = 1L << 30, hi = 0;

	(void)state;
	unsetenv("VV_TEST_BACKOFF_SCALE");
	for (int i = 0; i < 200; i++) {
		struct vv_retry r;
		long w;

		vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 600000);
		r.seed = (unsigned)i * 2654435761u;
		w = vv_retry_next(&r, "1");
		assert_true(w >= 1000 && w <= 5000);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
	}
	assert_true(lo < 1500);
	assert_true(hi > 4500);
}

/*
 * A vault throttling for longer than max_retries paced waits is still
 * waited for, up to the deadline; unpaced failures keep their budget.
 */
static void test_paced_retries_bounded_by_deadline(void **state)
{
	struct vv_retry r;

	(void)state;
	setenv("VV_TEST_BACKOFF_SCALE", "0.001", 1);
	vv_retry_init(&r, VV_RETRY_KEYVAULT, 2, 600000);
	for (int i = 0; i < 10; i++)
		assert_true(vv_retry_next(&r, "1") >= 1);
	assert_int_equal(r.paced, 10);
	assert_int_equal(r.done, 0);
	assert_true(vv_retry_next(&r, NULL) >= 0);
	assert_true(vv_retry_next(&r, "0") >= 0);
	assert_int_equal(vv_retry_next(&r, NULL), -1);
	assert_int_equal(r.done, 2);
	unsetenv("VV_TEST_BACKOFF_SCALE");

	/* the spread would pass the deadline: the server's own figure fits */
	for (int i = 0; i < 50; i++) {
		long w;

		vv_retry_init(&r, VV_RETRY_KEYVAULT, 5, 2500);
		w = vv_retry_next(&r, "2");
		assert_true(w >= 2000 && w < 2500);
	}
}

/* A TLS failure is not retried and gets its own remedy; other failures none. */
static void test_tls_failure_remedy(void **state)
{
	struct vv_http_resp r = { 0 };

	(void)state;
	r.fail = VV_HTTP_TLS;
	assert_non_null(vv_http_fail_remedy(&r));
	assert_non_null(strstr(vv_http_fail_remedy(&r), "TLS certificate"));
	assert_non_null(strstr(vv_http_fail_remedy(&r), "ca_file"));
	r.fail = VV_HTTP_CONNECT;
	assert_null(vv_http_fail_remedy(&r));
	r.fail = VV_HTTP_OK;
	assert_null(vv_http_fail_remedy(&r));
	assert_null(vv_http_fail_remedy(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keyvault_retryable),
		cmocka_unit_test(test_tls_failure_remedy),
		cmocka_unit_test(test_retry_after_spreads_a_herd),
		cmocka_unit_test(test_paced_retries_bounded_by_deadline),
		cmocka_unit_test(test_imds_retryable),
		cmocka_unit_test(test_base_schedules),
		cmocka_unit_test(test_retry_after_parsing),
		cmocka_unit_test(test_scale_only_shrinks),
		cmocka_unit_test(test_waits_jitter_and_budget),
		cmocka_unit_test(test_retry_after_overrides_and_deadline),
		cmocka_unit_test(test_scaled_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
