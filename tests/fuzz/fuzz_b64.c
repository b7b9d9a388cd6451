// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * base64 and base64url decoding (RFC 4648 sections 4 and 5), public and
 * secret variants; the two agree, and what decodes encodes to text that
 * decodes to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fz_util.h"

#include "base/b64.h"
#include "base/secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

FZ_INIT_QUIET()

static void one(enum vv_b64 a, const char *in, size_t len)
{
	unsigned char *out = NULL;
	struct vv_secret *s = NULL;
	size_t outlen = 0;
	char *back;
	int r1, r2;

	r1 = vv_b64_decode(a, in, len, &out, &outlen);
	r2 = vv_b64_decode_secret(a, in, len, &s);
	if ((r1 < 0) != (r2 < 0))
		abort();
	if (r1 == 0) {
		if (s->len != outlen || (outlen && memcmp(s->data, out, outlen)))
			abort();
		unsigned char *again = NULL;
		size_t againlen = 0;

		back = vv_b64_encode(a, out, outlen);
		if (!back || vv_b64_decode(a, back, strlen(back), &again, &againlen) < 0 ||
		    againlen != outlen || (outlen && memcmp(again, out, outlen)))
			abort();
		free(again);
		free(back);
	}
	free(out);
	vv_secret_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fz_strndup(data, size);

	one(VV_B64_STD, in, size);
	one(VV_B64_URL, in, size);
	free(in);
	return 0;
}
