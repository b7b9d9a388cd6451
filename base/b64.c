// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Base64 and base64url. OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the
 * conversion; this file only validates the input strictly, maps between
 * the two alphabets and handles padding, because EVP_DecodeBlock alone
 * tolerates surrounding whitespace and reports padding bytes as output.
 * The block functions are used rather than EVP_ENCODE_CTX because a
 * context buffers input on the ordinary heap and is freed without wiping.
 */
#include "base/b64.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

/* Keep every length comfortably inside OpenSSL's int arguments. */
#define VV_B64_MAX ((size_t)INT_MAX / 2)

size_t vv_b64_encoded_len(enum vv_b64 a, size_t n)
{
	if (a == VV_B64_URL)
		return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
	return (n + 2) / 3 * 4;
}

/*
 * EVP_EncodeBlock writes padded standard base64 plus a NUL into dst, which
 * must hold 4*ceil(n/3)+1 bytes; convert to the URL alphabet in place.
 */
static size_t encode_into(enum vv_b64 a, char *dst, const void *buf, size_t len)
{
	size_t n = (size_t)EVP_EncodeBlock((unsigned char *)dst, buf, (int)len);

	if (a == VV_B64_URL) {
		for (size_t i = 0; i < n; i++) {
			if (dst[i] == '+')
				dst[i] = '-';
			else if (dst[i] == '/')
				dst[i] = '_';
		}
		while (n > 0 && dst[n - 1] == '=')
			dst[--n] = '\0';
	}
	return n;
}

char *vv_b64_encode(enum vv_b64 a, const void *buf, size_t len)
{
	char *dst;

	if (len > VV_B64_MAX)
		return NULL;
	dst = malloc((len + 2) / 3 * 4 + 1);
	if (dst)
		encode_into(a, dst, buf, len);
	return dst;
}

int vv_b64_encode_secret(enum vv_b64 a, const void *buf, size_t len,
			 struct vv_secret **out)
{
	struct vv_secret *s;

	*out = NULL;
	if (len > VV_B64_MAX)
		return -EINVAL;
	/* vv_secret_new reserves one byte past cap for the NUL. */
	s = vv_secret_new((len + 2) / 3 * 4);
	if (!s)
		return -ENOMEM;
	s->len = encode_into(a, (char *)s->data, buf, len);
	*out = s;
	return 0;
}

static bool in_alphabet(enum vv_b64 a, char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return true;
	if (a == VV_B64_URL)
		return c == '-' || c == '_';
	return c == '+' || c == '/';
}

/*
 * Check in[0..inlen) and return the number of data characters (without
 * padding), or -EINVAL. Padding is optional but, when present, must bring
 * the length to a multiple of four.
 */
static long validate(enum vv_b64 a, const char *in, size_t inlen)
{
	size_t n = inlen, pad = 0;

	if (inlen > VV_B64_MAX)
		return -EINVAL;
	while (n > 0 && in[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	for (size_t i = 0; i < n; i++)
		if (!in_alphabet(a, in[i]))
			return -EINVAL;
	if (n % 4 == 1)
		return -EINVAL;
	if (pad && (n + pad) % 4 != 0)
		return -EINVAL;
	return (long)n;
}

/*
 * Decode the n data characters of in into dst (3*ceil(n/4) bytes), using
 * norm (ceil(n/4)*4 bytes) as scratch for the padded standard-alphabet form.
 * Returns the decoded length or -EINVAL.
 */
static long decode_into(enum vv_b64 a, unsigned char *dst, char *norm,
			const char *in, size_t n)
{
	size_t n4 = (n + 3) / 4 * 4;
	int r;

	for (size_t i = 0; i < n; i++) {
		char c = in[i];

		if (a == VV_B64_URL)
			c = c == '-' ? '+' : c == '_' ? '/' : c;
		norm[i] = c;
	}
	memset(norm + n, '=', n4 - n);
	if (n4 == 0)
		return 0;
	r = EVP_DecodeBlock(dst, (const unsigned char *)norm, (int)n4);
	if (r < 0 || (size_t)r != n4 / 4 * 3)
		return -EINVAL;
	/* EVP_DecodeBlock counts the bytes that padding stands for; drop them. */
	return (long)(n4 / 4 * 3 - (n4 - n));
}

int vv_b64_decode(enum vv_b64 a, const char *in, size_t inlen,
		  unsigned char **out, size_t *outlen)
{
	long n = validate(a, in, inlen), r;
	size_t n4;
	char *norm = NULL;
	unsigned char *dst = NULL;

	*out = NULL;
	*outlen = 0;
	if (n < 0)
		return (int)n;
	n4 = ((size_t)n + 3) / 4 * 4;
	norm = malloc(n4 + 1);
	dst = malloc(n4 / 4 * 3 + 1);
	if (!norm || !dst) {
		r = -ENOMEM;
		goto out;
	}
	r = decode_into(a, dst, norm, in, (size_t)n);
	if (r >= 0) {
		*out = dst;
		*outlen = (size_t)r;
		dst = NULL;
		r = 0;
	}
out:
	free(norm);
	free(dst);
	return (int)r;
}

int vv_b64_decode_secret(enum vv_b64 a, const char *in, size_t inlen,
			 struct vv_secret **out)
{
	long n = validate(a, in, inlen), r;
	size_t n4;
	struct vv_secret *norm = NULL, *dst = NULL;

	*out = NULL;
	if (n < 0)
		return (int)n;
	n4 = ((size_t)n + 3) / 4 * 4;
	norm = vv_secret_new(n4);
	dst = vv_secret_new(n4 / 4 * 3);
	if (!norm || !dst) {
		r = -ENOMEM;
		goto out;
	}
	r = decode_into(a, dst->data, (char *)norm->data, in, (size_t)n);
	if (r >= 0) {
		/* The padding stood for zero bytes past the end: wipe them. */
		OPENSSL_cleanse(dst->data + r, dst->cap - (size_t)r);
		dst->len = (size_t)r;
		*out = dst;
		dst = NULL;
		r = 0;
	}
out:
	vv_secret_free(norm);
	vv_secret_free(dst);
	return (int)r;
}
