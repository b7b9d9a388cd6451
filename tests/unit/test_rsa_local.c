// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vault/rsa_local: local KEK wrap/unwrap. Round trips for RSA-OAEP,
 * RSA-OAEP-256 and RSA1_5, interoperability with `openssl pkeyutl` in both
 * directions (so the parameters really are Key Vault's: OAEP digest and
 * MGF1 digest both SHA-1 or both SHA-256), wrong and damaged inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "keysrc_helpers.h"
#include "base/b64.h"
#include "vault/internal.h"
#include "vault/keystore.h"
#include "vault/rsa_local.h"

struct fixture {
	char *dir;		/* first: kt_dir_teardown() frees it */
	char key[512], other[512], pub[512], enc[512], ec[512], store[512];
	char kref[600], oref[600];
};

static const char *const algs[] = { "RSA-OAEP", "RSA-OAEP-256", "RSA1_5" };

/* pkeyutl options that select the same padding as alg. */
static const char *pkeyopts(const char *alg)
{
	if (strcmp(alg, "RSA-OAEP") == 0)
		return "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha1 "
		       "-pkeyopt rsa_mgf1_md:sha1";
	if (strcmp(alg, "RSA-OAEP-256") == 0)
		return "-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 "
		       "-pkeyopt rsa_mgf1_md:sha256";
	return "-pkeyopt rsa_padding_mode:pkcs1";
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || !(f->dir = kt_mkdtemp("rsa")))
		return -1;
	snprintf(f->key, sizeof(f->key), "%s/kek.pem", f->dir);
	snprintf(f->other, sizeof(f->other), "%s/other.pem", f->dir);
	snprintf(f->pub, sizeof(f->pub), "%s/kek.pub.pem", f->dir);
	snprintf(f->enc, sizeof(f->enc), "%s/enc.pem", f->dir);
	snprintf(f->ec, sizeof(f->ec), "%s/ec.pem", f->dir);
	snprintf(f->store, sizeof(f->store), "%s/keys", f->dir);
	snprintf(f->kref, sizeof(f->kref), "file:%s", f->key);
	snprintf(f->oref, sizeof(f->oref), "file:%s", f->other);
	if (kt_genrsa(f->key) != 0 || kt_genrsa(f->other) != 0 ||
	    kt_sh("umask 077 && openssl pkey -in %s -pubout -out %s"
		  " && openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
		  "    -aes256 -pass pass:secret -out %s"
		  " && openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out %s",
		  f->key, f->pub, f->enc, f->ec) != 0)
		return -1;
	*state = f;
	return 0;
}

static struct vv_secret *test_key(size_t n)
{
	return kt_pattern_key(n, 13, 7);
}

static void test_round_trip_all_algs(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32);

	for (size_t i = 0; i < 3; i++) {
		char *wrapped = NULL, *kid = NULL;
		struct vv_secret *back = NULL;
		struct vv_error err = { 0 };

		assert_int_equal(vv_local_wrap(NULL, f->kref, algs[i], plain, &wrapped,
					       &kid, &err), 0);
		assert_string_equal(kid, f->kref);
		/* 2048-bit modulus -> 256 bytes -> 342 unpadded base64url chars */
		assert_int_equal(strlen(wrapped), 342);
		assert_null(strpbrk(wrapped, "+/="));
		assert_int_equal(vv_local_unwrap(NULL, f->kref, algs[i], wrapped, &back,
						 &err), 0);
		assert_true(vv_secret_equal(plain, back));
		vv_secret_free(back);
		free(wrapped);
		free(kid);
	}
	vv_secret_free(plain);
}

/* Our wrap -> openssl pkeyutl -decrypt, and pkeyutl -encrypt -> our unwrap. */
static void test_interop_with_openssl_cli(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(48);
	char ct[600], pt[600], in[600];

	snprintf(ct, sizeof(ct), "%s/ct.bin", f->dir);
	snprintf(pt, sizeof(pt), "%s/pt.bin", f->dir);
	snprintf(in, sizeof(in), "%s/in.bin", f->dir);
	assert_int_equal(kt_write(in, plain->data, plain->len, 0600), 0);
	for (size_t i = 0; i < 3; i++) {
		char *wrapped = NULL, *text;
		unsigned char *raw = NULL;
		size_t rawlen = 0, len = 0;
		struct vv_secret *back = NULL;
		struct vv_error err = { 0 };

		/* ours -> CLI */
		assert_int_equal(vv_local_wrap(NULL, f->kref, algs[i], plain, &wrapped,
					       NULL, &err), 0);
		assert_int_equal(vv_b64_decode(VV_B64_URL, wrapped, strlen(wrapped),
					       &raw, &rawlen), 0);
		assert_int_equal(kt_write(ct, raw, rawlen, 0600), 0);
		assert_int_equal(kt_sh("openssl pkeyutl -decrypt -inkey %s %s -in %s -out %s",
				       f->key, pkeyopts(algs[i]), ct, pt), 0);
		text = kt_read(pt, &len);
		assert_non_null(text);
		assert_int_equal(len, plain->len);
		assert_memory_equal(text, plain->data, len);
		free(text);
		free(raw);
		free(wrapped);

		/* CLI -> ours */
		assert_int_equal(kt_sh("openssl pkeyutl -encrypt -pubin -inkey %s %s -in %s -out %s",
				       f->pub, pkeyopts(algs[i]), in, ct), 0);
		text = kt_read(ct, &len);
		assert_non_null(text);
		wrapped = vv_b64_encode(VV_B64_URL, text, len);
		free(text);
		assert_int_equal(vv_local_unwrap(NULL, f->kref, algs[i], wrapped, &back,
						 &err), 0);
		assert_true(vv_secret_equal(plain, back));
		vv_secret_free(back);

		/*
		 * The same ciphertext does not open under another OAEP digest,
		 * and PKCS#1 v1.5 output is no OAEP block. (Not the reverse: an
		 * OAEP block passes a v1.5 check with probability ~1/256.)
		 */
		back = NULL;
		assert_int_not_equal(vv_local_unwrap(NULL, f->kref,
						     i == 0 ? algs[1] : algs[0],
						     wrapped, &back, &err), 0);
		assert_null(back);
		assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
		free(wrapped);
	}
	vv_secret_free(plain);
}

static void test_wrong_key_is_crypto_error(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32);

	for (size_t i = 0; i < 3; i++) {
		char *wrapped = NULL;
		struct vv_secret *back = NULL;
		struct vv_error err = { 0 };

		assert_int_equal(vv_local_wrap(NULL, f->kref, algs[i], plain, &wrapped,
					       NULL, &err), 0);
		assert_true(vv_local_unwrap(NULL, f->oref, algs[i], wrapped, &back,
					    &err) < 0);
		assert_null(back);
		assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
		/* the message names the failure, and never carries key bytes */
		assert_non_null(strstr(err.message, "unwrap failed"));
		free(wrapped);
	}
	vv_secret_free(plain);
}

static void test_damaged_wrapped_value(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32), *back = NULL;
	struct vv_error err = { 0 };
	char *wrapped = NULL;
	char padded[400];

	assert_int_equal(vv_local_wrap(NULL, f->kref, "RSA-OAEP-256", plain, &wrapped,
				       NULL, &err), 0);
	/* padded base64url is accepted too (Key Vault clients differ) */
	snprintf(padded, sizeof(padded), "%s==", wrapped);
	assert_int_equal(vv_local_unwrap(NULL, f->kref, "RSA-OAEP-256", padded, &back,
					 &err), 0);
	assert_true(vv_secret_equal(plain, back));
	vv_secret_free(back);
	back = NULL;
	/* one flipped character: OAEP check fails */
	wrapped[100] = wrapped[100] == 'A' ? 'B' : 'A';
	assert_true(vv_local_unwrap(NULL, f->kref, "RSA-OAEP-256", wrapped, &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
	/* truncated: wrong length for the modulus */
	wrapped[200] = '\0';
	assert_true(vv_local_unwrap(NULL, f->kref, "RSA-OAEP-256", wrapped, &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
	/* not base64url at all */
	assert_true(vv_local_unwrap(NULL, f->kref, "RSA-OAEP-256", "a+b/c=", &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_BAD_RESPONSE);
	assert_null(back);
	free(wrapped);
	vv_secret_free(plain);
}

static void test_key_and_ref_checks(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *plain = test_key(32), *back = NULL;
	struct vv_error err = { 0 };
	char ref[600], *wrapped = NULL;

	/* unknown algorithm */
	assert_true(vv_local_wrap(NULL, f->kref, "RSA-OAEP-512", plain, &wrapped, NULL,
				  &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	/* NULL algorithm means RSA-OAEP */
	assert_int_equal(vv_local_wrap(NULL, f->kref, NULL, plain, &wrapped, NULL, &err), 0);
	assert_int_equal(vv_local_unwrap(NULL, f->kref, "RSA-OAEP", wrapped, &back, &err), 0);
	assert_true(vv_secret_equal(plain, back));
	vv_secret_free(back);
	back = NULL;
	/* a public key wraps but cannot unwrap */
	snprintf(ref, sizeof(ref), "file:%s", f->pub);
	assert_int_equal(chmod(f->pub, 0600), 0);
	free(wrapped);
	assert_int_equal(vv_local_wrap(NULL, ref, "RSA-OAEP", plain, &wrapped, NULL, &err), 0);
	assert_true(vv_local_unwrap(NULL, ref, "RSA-OAEP", wrapped, &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(vv_local_unwrap(NULL, f->kref, "RSA-OAEP", wrapped, &back, &err), 0);
	assert_true(vv_secret_equal(plain, back));
	vv_secret_free(back);
	back = NULL;
	free(wrapped);
	wrapped = NULL;
	/* encrypted PEM: refused, no passphrase prompt */
	snprintf(ref, sizeof(ref), "file:%s", f->enc);
	assert_true(vv_local_unwrap(NULL, ref, "RSA-OAEP", "AAAA", &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "encrypted"));
	/* not RSA */
	snprintf(ref, sizeof(ref), "file:%s", f->ec);
	assert_true(vv_local_wrap(NULL, ref, "RSA-OAEP", plain, &wrapped, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "not RSA"));
	/* group-readable private key: refused */
	assert_int_equal(chmod(f->key, 0640), 0);
	assert_true(vv_local_wrap(NULL, f->kref, "RSA-OAEP", plain, &wrapped, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_non_null(strstr(err.message, "group or others"));
	assert_int_equal(chmod(f->key, 0400), 0);
	assert_int_equal(vv_local_wrap(NULL, f->kref, "RSA-OAEP", plain, &wrapped, NULL, &err), 0);
	free(wrapped);
	wrapped = NULL;
	assert_int_equal(chmod(f->key, 0600), 0);
	/* relative paths, missing files, foreign schemes */
	assert_true(vv_local_wrap(NULL, "file:kek.pem", NULL, plain, &wrapped, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	snprintf(ref, sizeof(ref), "file:%s/missing.pem", f->dir);
	assert_true(vv_local_wrap(NULL, ref, NULL, plain, &wrapped, NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_true(vv_local_wrap(NULL, "https://v.example/keys/k/1", NULL, plain, &wrapped,
				  NULL, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_true(vv_kek_ref_is_local("file:/x.pem"));
	assert_true(vv_kek_ref_is_local("keystore-kek:k"));
	assert_false(vv_kek_ref_is_local("https://v.example/keys/k/1"));
	assert_false(vv_kek_ref_is_local(NULL));
	vv_secret_free(plain);
}

/* OAEP-256 with a 2048-bit key carries at most 256 - 2*32 - 2 = 190 bytes. */
static void test_size_limits(void **state)
{
	struct fixture *f = *state;
	struct vv_secret *ok = test_key(190), *big = test_key(191), *back = NULL;
	struct vv_error err = { 0 };
	char *wrapped = NULL;

	assert_int_equal(vv_local_wrap(NULL, f->kref, "RSA-OAEP-256", ok, &wrapped, NULL,
				       &err), 0);
	assert_int_equal(vv_local_unwrap(NULL, f->kref, "RSA-OAEP-256", wrapped, &back,
					 &err), 0);
	assert_true(vv_secret_equal(ok, back));
	free(wrapped);
	wrapped = NULL;
	assert_true(vv_local_wrap(NULL, f->kref, "RSA-OAEP-256", big, &wrapped, NULL,
				  &err) < 0);
	assert_null(wrapped);
	assert_int_equal(err.cause, VV_CAUSE_CRYPTO);
	vv_secret_free(ok);
	vv_secret_free(big);
	vv_secret_free(back);
}

/* keystore-kek:NAME through vv_key_wrap/unwrap (vault/kek.c) with the client's keystore. */
static void test_keystore_kek_via_hooks(void **state)
{
	struct fixture *f = *state;
	struct vv_vault_config cfg = { .keystore_dir = f->store };
	struct vv_vault *v = NULL;
	struct vv_secret *plain = test_key(32), *back = NULL;
	struct vv_error err = { 0 };
	char *wrapped = NULL, *kid = NULL;

	assert_int_equal(vv_vault_new(&cfg, &v), 0);
	assert_int_equal(vv_keystore_create_kek(f->store, "kek1", 2048, &err), 0);
	/* never replaced */
	assert_true(vv_keystore_create_kek(f->store, "kek1", 2048, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	assert_int_equal(vv_key_wrap(v, "keystore-kek:kek1", "RSA-OAEP-256", plain,
				     &wrapped, &kid, &err), 0);
	assert_string_equal(kid, "keystore-kek:kek1");
	assert_int_equal(vv_key_unwrap(v, "keystore-kek:kek1", "RSA-OAEP-256",
				       wrapped, &back, &err), 0);
	assert_true(vv_secret_equal(plain, back));
	vv_secret_free(back);
	back = NULL;
	assert_true(vv_key_unwrap(v, "keystore-kek:nokek", "RSA-OAEP-256", wrapped,
				  &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_NOT_FOUND);
	assert_true(vv_key_unwrap(v, "keystore-kek:../x", "RSA-OAEP-256", wrapped,
				  &back, &err) < 0);
	assert_int_equal(err.cause, VV_CAUSE_CONFIG);
	free(wrapped);
	free(kid);
	vv_secret_free(plain);
	vv_vault_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all_algs),
		cmocka_unit_test(test_interop_with_openssl_cli),
		cmocka_unit_test(test_wrong_key_is_crypto_error),
		cmocka_unit_test(test_damaged_wrapped_value),
		cmocka_unit_test(test_key_and_ref_checks),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_keystore_kek_via_hooks),
	};

	return cmocka_run_group_tests_name("rsa_local", tests, setup, kt_dir_teardown);
}
