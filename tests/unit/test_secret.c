// SPDX-License-Identifier: GPL-2.0-or-later
/* struct vv_secret: capacity limits, locking, wiping, comparison. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/secret.h"

static void test_set_and_capacity(void **state)
{
	struct vv_secret *s = vv_secret_new(8);

	(void)state;
	assert_non_null(s);
	assert_int_equal(vv_secret_set(s, "12345678", 8), 0);
	assert_int_equal(s->len, 8);
	assert_memory_equal(s->data, "12345678", 8);
	assert_int_equal(vv_secret_set(s, "123456789", 9), -ENOSPC);
	assert_int_equal(vv_secret_append(s, "x", 1), -ENOSPC);
	assert_int_equal(vv_secret_set(s, "ab", 2), 0);
	assert_int_equal(vv_secret_append(s, "cd", 2), 0);
	assert_memory_equal(s->data, "abcd", 4);
	/* set wipes what was there before: no stale tail bytes */
	assert_int_equal(s->data[4], 0);
	vv_secret_free(s);
}

/* VmLck from /proc/self/status, in kB. */
static long locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void test_pages_are_locked(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	long before = locked_kb();
	struct vv_secret *s = vv_secret_new(100);

	(void)state;
	assert_non_null(s);
	assert_int_equal((uintptr_t)s->data % (uintptr_t)page, 0);
#ifndef __SANITIZE_ADDRESS__
	/* ASan turns mlock into a no-op, so only the plain build can see it. */
	assert_true(locked_kb() >= before + page / 1024);
	vv_secret_free(s);
	assert_int_equal(locked_kb(), before);
#else
	(void)before;
	vv_secret_free(s);
#endif
}

static void test_equal_and_fingerprint(void **state)
{
	struct vv_secret *a = vv_secret_from("abc", 3);
	struct vv_secret *b = vv_secret_from("abc", 3);
	struct vv_secret *c = vv_secret_from("abd", 3);
	char fp[65];

	(void)state;
	assert_true(vv_secret_equal(a, b));
	assert_false(vv_secret_equal(a, c));
	assert_int_equal(vv_secret_fingerprint(a, fp), 0);
	/* SHA-256("abc") */
	assert_string_equal(fp,
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	vv_secret_free(a);
	vv_secret_free(b);
	vv_secret_free(c);
	vv_secret_free(NULL);
}

static void test_cleanup_attribute(void **state)
{
	(void)state;
	{
		_vv_cleanup_secret_ struct vv_secret *s = vv_secret_from("k", 1);

		assert_non_null(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_and_capacity),
		cmocka_unit_test(test_pages_are_locked),
		cmocka_unit_test(test_equal_and_fingerprint),
		cmocka_unit_test(test_cleanup_attribute),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
