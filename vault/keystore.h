/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Local keystore: the key source for a machine without a vault, and the
 * home of local KEKs. A root-only directory (default /etc/vaultvol/keys):
 *
 *   <dir>/                         0700, owned by root (or the caller)
 *   <dir>/<name>/                  0700, one per secret
 *   <dir>/<name>/<version>         0600, the secret's value, exactly as Key
 *                                  Vault would hold it (e.g. base64 of a BEK)
 *   <dir>/<name>/<version>.json    0600, metadata: contentType, tags,
 *                                  attributes (enabled, created, nbf, exp)
 *   <dir>/<name>/latest            0600, the newest version's id
 *   <dir>/<kek>.pem                0600, a local KEK (PEM RSA private key),
 *                                  referenced as keystore-kek:<kek>
 *
 * Names follow Key Vault's rule (1-127 of A-Z a-z 0-9 -), so "<kek>.pem",
 * "latest" and "<version>.json" can never collide with a secret or version.
 * Versions are 32 random hex digits. Every file is written atomically
 * (temporary file, fsync, rename, directory fsync). A directory or file
 * that group/other can access, or that someone else owns, is refused.
 *
 * Internal to vault/: the agent's part (VV_KEYSTORE_DEFAULT_DIR,
 * vv_keystore_create_kek) is in vault/vault.h.
 */
#ifndef VV_KEYSTORE_H
#define VV_KEYSTORE_H

#include <stdbool.h>

#include "vault/vault.h"

#define VV_KEYSTORE_NAME_MAX 127
#define VV_KEYSTORE_VERSION_LEN 32

bool vv_keystore_name_valid(const char *name);
bool vv_keystore_version_valid(const char *version);

/*
 * Split "NAME" or "NAME/VERSION" (what follows "keystore:"). version[0] is
 * '\0' when absent. CONFIG error on anything else.
 */
int vv_keystore_split_ref(const char *ref, char name[VV_KEYSTORE_NAME_MAX + 1],
			  char version[VV_KEYSTORE_VERSION_LEN + 1],
			  struct vv_error *err);

/*
 * Read "NAME" (latest) or "NAME/VERSION" as a bundle: id is
 * "keystore:NAME/VERSION", value the stored value. NOT_FOUND, DISABLED
 * (metadata says enabled=false), CONFIG (permissions, damaged metadata).
 */
int vv_keystore_get(const char *dir, const char *ref,
		    struct vv_secret_bundle **out, struct vv_error *err);

/*
 * Store a new version of NAME and make it the latest. Creates the keystore
 * directory (0700) when missing. *ref_out (malloc'ed) is
 * "keystore:NAME/VERSION".
 */
int vv_keystore_put(const char *dir, const char *name,
		    const struct vv_secret *value, const char *content_type,
		    const struct vv_tag *tags, size_t ntags, char **ref_out,
		    struct vv_error *err);

/* The PEM private key of local KEK NAME (keystore-kek:NAME). */
int vv_keystore_read_kek(const char *dir, const char *name,
			 struct vv_secret **pem, struct vv_error *err);

#endif
