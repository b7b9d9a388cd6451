// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KEK wrap/unwrap: the one place that decides where a KEK reference is
 * served. file: and keystore-kek: references go to the local PEM path
 * (rsa_local.c) with the client's keystore directory; everything else is a
 * Key Vault key (keyvault.c), which needs a client. Both halves are called
 * from here and never call back, so the dependency runs one way.
 */
#include <errno.h>
#include <stddef.h>

#include "vault/internal.h"
#include "vault/rsa_local.h"

/* NULL (the default directory) without a client or without a setting. */
static const char *keystore_dir_of(const struct vv_vault *v)
{
	const struct vv_vault_config *cfg = v ? vv_vault_config_of(v) : NULL;

	return cfg ? cfg->keystore_dir : NULL;
}

static int need_client(const struct vv_vault *v, const char *kek_ref,
		       struct vv_error *err)
{
	if (v)
		return 0;
	vv_error_set(err, VV_CAUSE_CONFIG, 0, "KEK %s needs a vault client",
		     kek_ref ? kek_ref : "");
	return -EINVAL;
}

int vv_key_wrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		const struct vv_secret *plain, char **wrapped, char **kid_out,
		struct vv_error *err)
{
	int r;

	*wrapped = NULL;
	if (kid_out)
		*kid_out = NULL;
	vv_error_clear(err);
	if (!vv_kek_alg_valid(alg) || !plain) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "wrap: unsupported algorithm '%s'",
			     alg ? alg : "(null)");
		return -EINVAL;
	}
	if (vv_kek_ref_is_local(kek_ref))
		return vv_local_wrap(keystore_dir_of(v), kek_ref, alg, plain, wrapped,
				     kid_out, err);
	r = need_client(v, kek_ref, err);
	if (r < 0)
		return r;
	return vv_kv_key_wrap(v, kek_ref, alg, plain, wrapped, kid_out, err);
}

int vv_key_unwrap(struct vv_vault *v, const char *kek_ref, const char *alg,
		  const char *wrapped, struct vv_secret **plain,
		  struct vv_error *err)
{
	int r;

	*plain = NULL;
	vv_error_clear(err);
	if (!vv_kek_alg_valid(alg) || !wrapped) {
		vv_error_set(err, VV_CAUSE_CONFIG, 0, "unwrap: unsupported algorithm '%s'",
			     alg ? alg : "(null)");
		return -EINVAL;
	}
	if (vv_kek_ref_is_local(kek_ref))
		return vv_local_unwrap(keystore_dir_of(v), kek_ref, alg, wrapped, plain,
				       err);
	r = need_client(v, kek_ref, err);
	if (r < 0)
		return r;
	return vv_kv_key_unwrap(v, kek_ref, alg, wrapped, plain, err);
}
