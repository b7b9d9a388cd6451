/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Base64 (RFC 4648 section 4) and base64url (section 5) on top of OpenSSL's
 * block encoder/decoder.
 *
 * Encoding: standard base64 is padded (that is how ADE stores a BEK secret
 * value); base64url is unpadded (that is how Key Vault writes wrapkey output
 * and JWK fields). Decoding accepts padded and unpadded input of the named
 * alphabet only, with no whitespace; anything else is -EINVAL.
 *
 * Whenever the bytes are key material (a BEK, the base64 text of a BEK) use
 * the _secret variants: every intermediate buffer is then a locked
 * struct vv_secret, never the ordinary heap.
 */
#ifndef VV_B64_H
#define VV_B64_H

#include <stddef.h>

#include "base/secret.h"

enum vv_b64 {
	VV_B64_STD,	/* A-Z a-z 0-9 + /, padded with '=' on encode */
	VV_B64_URL,	/* A-Z a-z 0-9 - _, no padding on encode */
};

/* Length of the encoding of n bytes, without the terminating NUL. */
size_t vv_b64_encoded_len(enum vv_b64 a, size_t n);

/* Encode public data into a malloc'ed NUL-terminated string (NULL: ENOMEM). */
char *vv_b64_encode(enum vv_b64 a, const void *buf, size_t len);
/* Encode key material; the text lands in a secret (NUL-terminated). */
int vv_b64_encode_secret(enum vv_b64 a, const void *buf, size_t len,
			 struct vv_secret **out);

/* Decode public data into a malloc'ed buffer (*outlen bytes). -EINVAL, -ENOMEM. */
int vv_b64_decode(enum vv_b64 a, const char *in, size_t inlen,
		  unsigned char **out, size_t *outlen);
/* Decode key material into a secret. -EINVAL, -ENOMEM. */
int vv_b64_decode_secret(enum vv_b64 a, const char *in, size_t inlen,
			 struct vv_secret **out);

#endif
