/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals shared between the files of vault/ (not part of the public API).
 *
 * keyvault.c owns struct vv_vault; other files reach its configuration
 * through vv_vault_config_of(). The returned config is the client's own
 * copy with defaults filled in (imds_url, keystore_dir, bek_volume_label,
 * timeouts), valid until vv_vault_free().
 *
 * Dependencies run one way: kek.c (the public vv_key_wrap/unwrap) calls
 * down into keyvault.c (remote) and rsa_local.c (local PEM); neither calls
 * back up, and rsa_local.c never sees struct vv_vault.
 */
#ifndef VV_INTERNAL_H
#define VV_INTERNAL_H

#include "vault/vault.h"

const struct vv_vault_config *vv_vault_config_of(const struct vv_vault *v);

/*
 * Key Vault wrapkey/unwrapkey for an https://VAULT/keys/... reference: the
 * remote half of vv_key_wrap()/vv_key_unwrap(), which have already checked
 * alg (vv_kek_alg_valid), plain/wrapped and v. Same contract otherwise.
 */
int vv_kv_key_wrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		   const struct vv_secret *plain, char **wrapped, char **kid_out,
		   struct vv_error *err);
int vv_kv_key_unwrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		     const char *wrapped, struct vv_secret **plain,
		     struct vv_error *err);

#endif
