// SPDX-License-Identifier: GPL-2.0-or-later
/* RSA-OAEP / RSA-OAEP-256 / RSA1_5 wrap and unwrap with a local PEM key. */
#include "vault/rsa_local.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "base/b64.h"
#include "vault/keystore.h"

/* OpenSSL's reason for the last failure (never key material), queue cleared. */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return s ? s : "unknown error";
}

/* Never prompt on a terminal: an encrypted PEM is an error, not a question. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)u = true;
	return -1;
}

int vv_rsa_load_pem(const struct vv_secret *pem, bool allow_public,
		    EVP_PKEY **out, struct vv_error *err)
{
	bool asked = false;
	EVP_PKEY *pk = NULL;
	BIO *bio;

	*out = NULL;
	/* A read-only memory BIO reads the locked buffer in place, no copy. */
	bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	if (!bio) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		return -ENOMEM;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
	if (!pk && allow_public && !asked) {
		ERR_clear_error();
		(void)BIO_reset(bio);
		pk = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, &asked);
	}
	BIO_free(bio);
	if (!pk) {
		const char *why = ossl_reason();

		if (asked)
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "the KEK PEM is encrypted; store it unencrypted in a "
				     "root-only file");
		else
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "the KEK is not a PEM %s key (%s)",
				     allow_public ? "RSA private or public" : "RSA private",
				     why);
		return -EINVAL;
	}
	if (!EVP_PKEY_is_a(pk, "RSA")) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "the KEK is a %s key, not RSA",
			     EVP_PKEY_get0_type_name(pk));
		EVP_PKEY_free(pk);
		return -EINVAL;
	}
	*out = pk;
	return 0;
}

/* Set padding and digests on an encrypt/decrypt context for alg. */
static int set_alg(EVP_PKEY_CTX *ctx, const char *alg, bool decrypt)
{
	if (strcmp(alg, "RSA1_5") == 0) {
		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
			return -1;
#ifdef OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION
		/*
		 * OpenSSL >= 3.2 answers a bad PKCS#1 v1.5 block with random
		 * bytes (against padding oracles). We unwrap stored secrets,
		 * not attacker-chosen ciphertexts under a timing probe, and a
		 * wrong KEK must be reported as such, not yield a wrong key.
		 */
		if (decrypt) {
			unsigned int zero = 0;
			OSSL_PARAM p[] = {
				OSSL_PARAM_construct_uint(
					OSSL_ASYM_CIPHER_PARAM_IMPLICIT_REJECTION, &zero),
				OSSL_PARAM_construct_end(),
			};

			if (EVP_PKEY_CTX_set_params(ctx, p) <= 0)
				return -1;
		}
#else
		(void)decrypt;
#endif
		return 0;
	}
	{
		const EVP_MD *md = strcmp(alg, "RSA-OAEP-256") == 0 ? EVP_sha256()
								   : EVP_sha1();

		if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
			return -1;
	}
	return 0;
}

static const char *check_alg(const char *alg, struct vv_error *err)
{
	if (!alg)
		return "RSA-OAEP";
	if (!vv_kek_alg_valid(alg)) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "unknown key wrap algorithm '%.40s' (RSA-OAEP, RSA-OAEP-256, RSA1_5)",
			     alg);
		return NULL;
	}
	return alg;
}

int vv_rsa_wrap(EVP_PKEY *pk, const char *alg, const struct vv_secret *plain,
		char **wrapped, struct vv_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	int r = -EIO;

	*wrapped = NULL;
	alg = check_alg(alg, err);
	if (!alg)
		return -EINVAL;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) <= 0 || set_alg(ctx, alg, false) < 0 ||
	    EVP_PKEY_encrypt(ctx, NULL, &ctlen, plain->data, plain->len) <= 0) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0, "%s wrap setup failed: %s", alg,
			     ossl_reason());
		goto out;
	}
	ct = malloc(ctlen);
	if (!ct) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		goto out;
	}
	if (EVP_PKEY_encrypt(ctx, ct, &ctlen, plain->data, plain->len) <= 0) {
		/* Typically: the key is longer than the modulus and padding allow. */
		vv_error_set(err, VV_CAUSE_CRYPTO, 0,
			     "%s wrap of %zu bytes with a %d-bit key failed: %s", alg,
			     plain->len, EVP_PKEY_get_bits(pk), ossl_reason());
		goto out;
	}
	*wrapped = vv_b64_encode(VV_B64_URL, ct, ctlen);
	if (!*wrapped) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		goto out;
	}
	r = 0;
out:
	free(ct);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

int vv_rsa_unwrap(EVP_PKEY *pk, const char *alg, const char *wrapped,
		  struct vv_secret **plain, struct vv_error *err)
{
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0, outlen = 0;
	struct vv_secret *s = NULL;
	int r = -EIO;

	*plain = NULL;
	alg = check_alg(alg, err);
	if (!alg)
		return -EINVAL;
	/* Key Vault writes base64url; accept standard base64 from other tools. */
	if (!wrapped || (vv_b64_decode(VV_B64_URL, wrapped, strlen(wrapped), &ct,
				       &ctlen) < 0 &&
			 vv_b64_decode(VV_B64_STD, wrapped, strlen(wrapped), &ct,
				       &ctlen) < 0)) {
		vv_error_set(err, VV_CAUSE_BAD_RESPONSE, 0,
			     "wrapped key is not base64url");
		return -EINVAL;
	}
	if (ctlen != (size_t)EVP_PKEY_get_size(pk)) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0,
			     "wrapped key is %zu bytes but the %d-bit KEK produces %d: "
			     "wrong KEK?", ctlen, EVP_PKEY_get_bits(pk),
			     EVP_PKEY_get_size(pk));
		goto out;
	}
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
	if (!ctx || EVP_PKEY_decrypt_init(ctx) <= 0 || set_alg(ctx, alg, true) < 0 ||
	    EVP_PKEY_decrypt(ctx, NULL, &outlen, ct, ctlen) <= 0) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0,
			     "%s unwrap setup failed (a public key cannot unwrap): %s",
			     alg, ossl_reason());
		goto out;
	}
	s = vv_secret_new(outlen);
	if (!s) {
		r = -ENOMEM;
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "cannot allocate locked memory");
		goto out;
	}
	/* Decrypt straight into locked memory. */
	if (EVP_PKEY_decrypt(ctx, s->data, &outlen, ct, ctlen) <= 0) {
		vv_error_set(err, VV_CAUSE_CRYPTO, 0,
			     "%s unwrap failed (wrong KEK or damaged secret): %s", alg,
			     ossl_reason());
		goto out;
	}
	s->len = outlen;
	*plain = s;
	s = NULL;
	r = 0;
out:
	vv_secret_free(s);
	free(ct);
	EVP_PKEY_CTX_free(ctx);
	return r;
}

/* Load the key a local reference names. */
static int load_kek(const char *keystore_dir, const char *kek_ref,
		    bool allow_public, EVP_PKEY **pk, struct vv_error *err)
{
	struct vv_secret *pem = NULL;
	int r;

	*pk = NULL;
	if (kek_ref && strncmp(kek_ref, "file:", 5) == 0) {
		const char *path = kek_ref + 5;

		if (path[0] != '/') {
			vv_error_set(err, VV_CAUSE_CONFIG, 0,
				     "KEK reference %s: the path must be absolute", kek_ref);
			return -EINVAL;
		}
		r = vv_key_file_read(AT_FDCWD, path, VV_KF_PRIVATE, &pem, err);
	} else if (kek_ref && strncmp(kek_ref, "keystore-kek:", 13) == 0) {
		r = vv_keystore_read_kek(keystore_dir ? keystore_dir
					 : VV_KEYSTORE_DEFAULT_DIR,
					 kek_ref + 13, &pem, err);
	} else {
		vv_error_set(err, VV_CAUSE_CONFIG, 0,
			     "'%s' is not a local KEK reference (file:/path.pem or "
			     "keystore-kek:NAME)", kek_ref ? kek_ref : "");
		return -EINVAL;
	}
	if (r < 0)
		return r;
	r = vv_rsa_load_pem(pem, allow_public, pk, err);
	vv_secret_free(pem);
	return r;
}

int vv_local_wrap(const char *keystore_dir, const char *kek_ref, const char *alg,
		  const struct vv_secret *plain, char **wrapped, char **kid_out,
		  struct vv_error *err)
{
	EVP_PKEY *pk = NULL;
	int r;

	*wrapped = NULL;
	if (kid_out)
		*kid_out = NULL;
	r = load_kek(keystore_dir, kek_ref, true, &pk, err);
	if (r == 0)
		r = vv_rsa_wrap(pk, alg, plain, wrapped, err);
	if (r == 0 && kid_out) {
		*kid_out = strdup(kek_ref);
		if (!*kid_out) {
			free(*wrapped);
			*wrapped = NULL;
			r = -ENOMEM;
			vv_error_set(err, VV_CAUSE_CONFIG, 0, "out of memory");
		}
	}
	EVP_PKEY_free(pk);
	return r;
}

int vv_local_unwrap(const char *keystore_dir, const char *kek_ref,
		    const char *alg, const char *wrapped,
		    struct vv_secret **plain, struct vv_error *err)
{
	EVP_PKEY *pk = NULL;
	int r;

	*plain = NULL;
	r = load_kek(keystore_dir, kek_ref, false, &pk, err);
	if (r == 0)
		r = vv_rsa_unwrap(pk, alg, wrapped, plain, err);
	EVP_PKEY_free(pk);
	return r;
}
