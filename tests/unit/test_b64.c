// SPDX-License-Identifier: GPL-2.0-or-later
/* vault/b64: RFC 4648 vectors, both alphabets, padding rules, secrets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/b64.h"

static const struct { const char *plain, *std, *url; } vectors[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
	/* bytes that hit the two alphabet-specific characters */
	{ "\xfb\xff\xbf", "+/+/", "-_-_" },
	{ "\xfb\xff", "+/8=", "-_8" },
};

static void test_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n = strlen(vectors[i].plain);
		char *s = vv_b64_encode(VV_B64_STD, vectors[i].plain, n);
		char *u = vv_b64_encode(VV_B64_URL, vectors[i].plain, n);

		assert_non_null(s);
		assert_non_null(u);
		assert_string_equal(s, vectors[i].std);
		assert_string_equal(u, vectors[i].url);
		assert_int_equal(strlen(s), vv_b64_encoded_len(VV_B64_STD, n));
		assert_int_equal(strlen(u), vv_b64_encoded_len(VV_B64_URL, n));
		free(s);
		free(u);
	}
}

static void check_decode(enum vv_b64 a, const char *in, const char *want)
{
	unsigned char *out = NULL;
	size_t outlen = 99;

	assert_int_equal(vv_b64_decode(a, in, strlen(in), &out, &outlen), 0);
	assert_int_equal(outlen, strlen(want));
	assert_memory_equal(out, want, outlen);
	free(out);
}

static void test_decode_padded_and_unpadded(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		char padded[64];

		check_decode(VV_B64_STD, vectors[i].std, vectors[i].plain);
		check_decode(VV_B64_URL, vectors[i].url, vectors[i].plain);
		/* std without its padding, url with padding added */
		snprintf(padded, sizeof(padded), "%s", vectors[i].std);
		while (strlen(padded) && padded[strlen(padded) - 1] == '=')
			padded[strlen(padded) - 1] = '\0';
		check_decode(VV_B64_STD, padded, vectors[i].plain);
		snprintf(padded, sizeof(padded), "%s", vectors[i].url);
		while (strlen(padded) % 4)
			strcat(padded, "=");
		check_decode(VV_B64_URL, padded, vectors[i].plain);
	}
}

static void test_decode_rejects(void **state)
{
	static const char *const bad_std[] = {
		"Zg=",		/* padding that does not complete a quad */
		"Z===",		/* too much padding */
		"Z",		/* one leftover character */
		"Zm9vY",	/* five: one leftover */
		"Zg==Zg==",	/* padding in the middle */
		" Zm9v",	/* whitespace */
		"Zm9v\n",
		"Zm 9v",
		"-_8",		/* URL alphabet in a standard decode */
		"Zm9v!",
	};
	static const char *const bad_url[] = { "+/8", "Zg=", "Zm9v*" };
	unsigned char *out = (unsigned char *)"sentinel";
	size_t outlen = 7;
	struct vv_secret *s = NULL;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++) {
		assert_int_equal(vv_b64_decode(VV_B64_STD, bad_std[i], strlen(bad_std[i]),
					       &out, &outlen), -EINVAL);
		assert_null(out);
		assert_int_equal(outlen, 0);
		assert_int_equal(vv_b64_decode_secret(VV_B64_STD, bad_std[i],
						      strlen(bad_std[i]), &s), -EINVAL);
		assert_null(s);
	}
	for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
		assert_int_equal(vv_b64_decode(VV_B64_URL, bad_url[i], strlen(bad_url[i]),
					       &out, &outlen), -EINVAL);
}

/* Every length 0..70 with all byte values, both alphabets, both API kinds. */
static void test_round_trip_secret(void **state)
{
	unsigned char buf[70];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 37 + 11);
	for (int a = VV_B64_STD; a <= VV_B64_URL; a++) {
		for (size_t n = 0; n <= sizeof(buf); n++) {
			struct vv_secret *enc = NULL, *dec = NULL;
			char *pub = vv_b64_encode(a, buf, n);

			assert_int_equal(vv_b64_encode_secret(a, buf, n, &enc), 0);
			assert_non_null(pub);
			assert_int_equal(enc->len, strlen(pub));
			assert_memory_equal(enc->data, pub, enc->len);
			assert_int_equal(enc->data[enc->len], '\0');
			assert_int_equal(vv_b64_decode_secret(a, (char *)enc->data,
							      enc->len, &dec), 0);
			assert_int_equal(dec->len, n);
			if (n)
				assert_memory_equal(dec->data, buf, n);
			vv_secret_free(enc);
			vv_secret_free(dec);
			free(pub);
		}
	}
}

/* Decoding happens exactly once: base64 of base64 gives back the inner text. */
static void test_decode_is_single_layer(void **state)
{
	const char *inner = "Zm9vYmFy";	/* itself valid base64 of "foobar" */
	char *outer = vv_b64_encode(VV_B64_STD, inner, strlen(inner));
	struct vv_secret *s = NULL;

	(void)state;
	assert_int_equal(vv_b64_decode_secret(VV_B64_STD, outer, strlen(outer), &s), 0);
	assert_int_equal(s->len, strlen(inner));
	assert_memory_equal(s->data, inner, s->len);
	vv_secret_free(s);
	free(outer);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4648_vectors),
		cmocka_unit_test(test_decode_padded_and_unpadded),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_round_trip_secret),
		cmocka_unit_test(test_decode_is_single_layer),
	};

	return cmocka_run_group_tests_name("b64", tests, NULL, NULL);
}
