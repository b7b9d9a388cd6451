// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/kek.c: where vv_key_wrap()/vv_key_unwrap() send a KEK reference.
 * Local PEM references work with and without a client (the client only
 * lends its keystore directory); a Key Vault reference without a client is
 * a configuration error, not a crash; a bad algorithm is refused before
 * either half is reached. And vault/keyref.c's KEK classification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keysrc_helpers.h"
#include "vault/vault.h"

struct fixture {
	char *dir;		/* first: kt_dir_teardown() frees it */
	char key[512], kref[600];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = kt_mkdtemp("kek")))
		return -1;
	snprintf(f->key, sizeof(f->key), "%s/kek.pem", f->dir);
	snprintf(f->kref, sizeof(f->kref), "file:%s", f->key);
	if (kt_genrsa(f->key) != 0)
		return -1;
	*state = f;
	return 0;
}

static struct vv_secret *test_key(size_t n)
{
	return kt_pattern_key(n, 29, 3);
}

/* file: needs no client: the dispatcher does not reach for one. */
static void test_local_without_client(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32), *back = NULL;
	struct vv_error err = { 0 };
	char *wrapped = NULL, *kid = NULL;

	assert_int_equal(vv_key_wrap(NULL, f->kref, "RSA-OAEP-256", plain, &wrapped,
				     &kid, &err), 0);
	assert_string_equal(kid, f->kref);
	assert_int_equal(vv_key_unwrap(NULL, f->kref, "RSA-OAEP-256", wrapped, &back,
				       &err), 0);
	assert_true(vv_secret_equal(plain, back));
	free(wrapped);
	free(kid);
	vv_secret_free(back);
	vv_secret_free(plain);
}

/* A Key Vault KEK without a client: CONFIG error, outputs cleared. */
static void test_remote_needs_client(void **state)
{
	struct vv_secret *plain = test_key(32), *back = (struct vv_secret *)1;
	struct vv_error err = { 0 };
	char *wrapped = (char *)1, *kid = (char *)1;
	const char *ref = "https://v.example/keys/k/0123456789abcdef0123456789abcdef";

	(void)state;
	assert_int_equal(vv_key_wrap(NULL, ref, "RSA-OAEP", plain, &wrapped, &kid, &err),
			 -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "needs a vault client"));
	assert_null(wrapped);
	assert_null(kid);
	vv_error_clear(&err);
	assert_int_equal(vv_key_unwrap(NULL, ref, "RSA-OAEP", "AAAA", &back, &err),
			 -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "needs a vault client"));
	assert_null(back);
	vv_secret_free(plain);
}

/* The algorithm is checked before the dispatch, for local refs too. */
static void test_bad_alg_refused_first(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32), *back = NULL;
	struct vv_error err = { 0 };
	char *wrapped = NULL;

	assert_int_equal(vv_key_wrap(NULL, f->kref, "AES-KW", plain, &wrapped, NULL,
				     &err), -EINVAL);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "wrap: unsupported algorithm 'AES-KW'"));
	assert_int_equal(vv_key_unwrap(NULL, f->kref, NULL, "AAAA", &back, &err),
			 -EINVAL);
	assert_non_null(strstr(err.message, "unwrap: unsupported algorithm '(null)'"));
	assert_null(back);
	vv_secret_free(plain);
}

static void test_kek_ref_kinds(void **state)
{
	(void)state;
	assert_true(vv_kek_ref_is_local("file:/x.pem"));
	assert_true(vv_kek_ref_is_local("keystore-kek:k"));
	assert_false(vv_kek_ref_is_local("https://v.example/keys/k/1"));
	assert_false(vv_kek_ref_is_local("keystore:k"));
	assert_false(vv_kek_ref_is_local(NULL));
	assert_true(vv_kek_alg_valid("RSA-OAEP"));
	assert_true(vv_kek_alg_valid("RSA-OAEP-256"));
	assert_true(vv_kek_alg_valid("RSA1_5"));
	assert_false(vv_kek_alg_valid("RSA-OAEP-512"));
	assert_false(vv_kek_alg_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_local_without_client),
		cmocka_unit_test(test_remote_needs_client),
		cmocka_unit_test(test_bad_alg_refused_first),
		cmocka_unit_test(test_kek_ref_kinds),
	};

	return cmocka_run_group_tests(tests, setup, kt_dir_teardown);
}
