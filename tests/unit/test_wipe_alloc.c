// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The wiping allocators behind libcurl and OpenSSL, and secret pages that a
 * forked child sees wiped. That freed blocks hold no secret is shown end to
 * end by tests/suites/heap-wipe.sh (an LD_PRELOAD free() scanner).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/secret.h"
#include "base/wipe_alloc.h"

static bool installed_first;

static void test_openssl_routed(void **state)
{
	void *p;

	(void)state;
	/* main() installs them before anything else touches OpenSSL: so did we */
	assert_true(installed_first);
	assert_true(vv_wipe_alloc_enabled());
	assert_true(vv_wipe_alloc_openssl());	/* idempotent */
	/* OpenSSL's allocations are ours: a block from it has a usable size */
	p = OPENSSL_malloc(100);
	assert_non_null(p);
	assert_true(malloc_usable_size(p) >= 100);
	OPENSSL_free(p);
	/* and it works for real work (a digest allocates contexts) */
	{
		unsigned char md[32];
		unsigned int n = 0;

		assert_int_equal(EVP_Digest("abc", 3, md, &n, EVP_sha256(), NULL), 1);
		assert_int_equal(n, 32);
	}
}

static void test_realloc_keeps_contents(void **state)
{
	char *p = vv_wipe_malloc(10), *q;

	(void)state;
	assert_non_null(p);
	memcpy(p, "0123456789", 10);
	/* growing moves to a new block with the same bytes */
	q = vv_wipe_realloc(p, 100000);
	assert_non_null(q);
	assert_memory_equal(q, "0123456789", 10);
	/* shrinking keeps the block */
	p = vv_wipe_realloc(q, 5);
	assert_ptr_equal(p, q);
	assert_memory_equal(p, "01234", 5);
	assert_null(vv_wipe_realloc(p, 0));
	p = vv_wipe_realloc(NULL, 8);
	assert_non_null(p);
	vv_wipe_free(p);
	vv_wipe_free(NULL);
	p = vv_wipe_strdup("abc");
	assert_string_equal(p, "abc");
	vv_wipe_free(p);
	p = vv_wipe_calloc(4, 4);
	assert_memory_equal(p, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
	vv_wipe_free(p);
}

/* A forked child finds secret pages zeroed (MADV_WIPEONFORK). */
static void test_secret_wiped_on_fork(void **state)
{
	struct vv_secret *s = vv_secret_from("top secret key", 14);
	int st = 0;
	pid_t pid;

	(void)state;
	assert_non_null(s);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		for (size_t i = 0; i < s->map_len; i++)
			if (s->data[i])
				_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* the parent keeps its copy */
	assert_memory_equal(s->data, "top secret key", 14);
	vv_secret_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_openssl_routed),
		cmocka_unit_test(test_realloc_keeps_contents),
		cmocka_unit_test(test_secret_wiped_on_fork),
	};

	installed_first = vv_wipe_alloc_openssl();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
