/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared between the files of vault/ (not part of the public API).
 *
 * keyvault.c owns struct vv_vault; other files reach its configuration
 * through vv_vault_config_of(). The returned config is the client's own
 * copy with defaults filled in (imds_url, keystore_dir, bek_volume_label,
 * timeouts), valid until vv_vault_free().
 */
#ifndef VV_INTERNAL_H
#define VV_INTERNAL_H

#include <stdarg.h>

#include "vault/vault.h"

const struct vv_vault_config *vv_vault_config_of(const struct vv_vault *v);


/*
 * Local KEK operations for "file:" and "keystore-kek:" references, provided
 * by the local half of vault/ (PEM private keys). vv_key_wrap() and
 * vv_key_unwrap() in keyvault.c handle https://.../keys/... references
 * themselves and hand every other reference to these. Same contract as the
 * public functions.
 */
int vv_local_key_wrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		      const struct vv_secret *plain, char **wrapped,
		      char **kid_out, struct vv_error *err);
int vv_local_key_unwrap(struct vv_vault *v, const char *kek_ref,
			const char *alg, const char *wrapped,
			struct vv_secret **plain, struct vv_error *err);

#endif
