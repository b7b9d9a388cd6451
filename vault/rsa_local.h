/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local KEK wrap/unwrap with an RSA key in a PEM file, for offline
 * recovery, machines without a vault, and tests. The algorithms are Key
 * Vault's, byte for byte, so a secret wrapped remotely can be unwrapped
 * locally with the same key pair and vice versa:
 *   RSA-OAEP      OAEP, SHA-1 digest, MGF1 with SHA-1, empty label
 *   RSA-OAEP-256  OAEP, SHA-256 digest, MGF1 with SHA-256, empty label
 *   RSA1_5        RSAES-PKCS1-v1_5
 * The wrapped form is the RSA ciphertext in unpadded base64url, as Key
 * Vault's wrapkey returns it.
 *
 * KEK references handled here:
 *   file:/abs/path.pem      PEM private key (or, to wrap only, public key);
 *                           must be owned by root/us and mode 0600/0400
 *   keystore-kek:NAME       <keystore dir>/NAME.pem
 * vv_key_wrap()/vv_key_unwrap() in vault/kek.c send these here with the
 * client's keystore directory; https:// refs go to Key Vault. This file
 * knows nothing of the vault client.
 */
#ifndef VV_RSA_LOCAL_H
#define VV_RSA_LOCAL_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "vault/vault.h"

/*
 * Parse PEM text held in a secret. Private keys (PKCS#8 or PKCS#1) always;
 * a public key only when allow_public (enough to wrap). Only RSA keys.
 * Encrypted PEM is refused rather than prompting for a passphrase.
 */
int vv_rsa_load_pem(const struct vv_secret *pem, bool allow_public,
		    EVP_PKEY **out, struct vv_error *err);

/* alg NULL means RSA-OAEP. *wrapped is malloc'ed unpadded base64url. */
int vv_rsa_wrap(EVP_PKEY *pk, const char *alg, const struct vv_secret *plain,
		char **wrapped, struct vv_error *err);
/*
 * Padded or unpadded base64url (standard base64 is tolerated) in;
 * plaintext in a new secret. CRYPTO on a wrong key.
 */
int vv_rsa_unwrap(EVP_PKEY *pk, const char *alg, const char *wrapped,
		  struct vv_secret **plain, struct vv_error *err);

/*
 * Resolve a local KEK reference and wrap/unwrap with it. keystore_dir is
 * used for keystore-kek: (NULL means the default). *kid_out (may be NULL)
 * gets the reference itself: a local KEK has no versions.
 */
int vv_local_wrap(const char *keystore_dir, const char *kek_ref, const char *alg,
		  const struct vv_secret *plain, char **wrapped, char **kid_out,
		  struct vv_error *err);
int vv_local_unwrap(const char *keystore_dir, const char *kek_ref,
		    const char *alg, const char *wrapped,
		    struct vv_secret **plain, struct vv_error *err);

#endif
