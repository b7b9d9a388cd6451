// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guards against losing a key, for provision, adopt and rotate: the vault
 * says in every answer whether a deleted key can be purged before its
 * retention ends (attributes.recoveryLevel). Losing the key loses the
 * data, so a vault without purge protection is a warning, and with
 * --require-purge-protection a refusal before anything on the device is
 * written. Local keystore and file references have no such setting.
 */
#include "agent/provision/provision.h"
#include "agent/provision/provision_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/log.h"

void pv_purge_warn(const char *what, const char *id, const char *level,
		   struct pv_warned *seen)
{
	char origin[VV_ORIGIN_MAX], advice[1024];

	if (!level || !*level || vv_recovery_level_protected(level))
		return;
	if (seen && id && vv_origin(id, origin, sizeof(origin)) == 0) {
		for (int i = 0; i < seen->n; i++)
			if (!strcmp(seen->origin[i], origin))
				return;
		if (seen->n < (int)(sizeof(seen->origin) / sizeof(seen->origin[0])))
			snprintf(seen->origin[seen->n++], VV_ORIGIN_MAX, "%s", origin);
	}
	vv_purge_advice(what, id, level, advice, sizeof(advice));
	vv_warn("%s (--require-purge-protection makes this a refusal)", advice);
}

int pv_store_guarded(struct vv_vault *v, const char *base, const struct vv_secret *key,
		     const char *kek, const char *alg, const char *file_name, bool require,
		     struct pv_warned *seen, char **ref, char **kek_id, struct vv_error *err)
{
	struct vv_bek_store_info info;
	int r;

	r = vv_bek_store_ex(v, base, key, kek, alg, file_name, require, &info, ref, kek_id, err);
	if (r < 0)
		return r;
	pv_purge_warn("the KEK", *kek_id, info.kek_recovery_level, seen);
	pv_purge_warn("the key", *ref, info.recovery_level, seen);
	return 0;
}

int pv_adopt_guard(struct vv_vault *v, const struct vv_bek *b, bool require,
		   struct vv_error *err)
{
	struct pv_warned seen = { .n = 0 };
	struct vv_key_info *ki = NULL;
	struct vv_error kerr = { 0 };
	const char *kek_level = NULL;
	int r;

	if (b->kek_id && v && !vv_kek_ref_is_local(b->kek_id)) {
		r = vv_kek_check(v, b->kek_id, &ki, &kerr);
		if (r < 0 && kerr.cause != VV_CAUSE_CONFIG && kerr.cause != VV_CAUSE_EXPIRED &&
		    kerr.cause != VV_CAUSE_DISABLED)
			return vv_fail(err, r, kerr.cause, "cannot read the KEK %s: %s",
				       b->kek_id, kerr.message);
		if (r < 0)
			vv_warn("%s; adopting anyway (the volume opens with it): rotate to a KEK "
				"fit for new keys after adopting (vaultvol rotate --kek NEW-KEK)",
				kerr.message);
		kek_level = ki ? ki->recovery_level : NULL;
		r = require ? vv_purge_require("the KEK", b->kek_id, kek_level, err) : 0;
		if (r == 0)
			pv_purge_warn("the KEK", b->kek_id, kek_level, &seen);
		vv_key_info_free(ki);
		if (r < 0)
			return r;
	}
	/* Only vault secrets carry a recovery level. */
	if (b->source && !strcmp(b->source, "keyvault")) {
		if (require && (r = vv_purge_require("the key", b->secret_id, b->recovery_level,
						     err)) < 0)
			return r;
		pv_purge_warn("the key", b->secret_id, b->recovery_level, &seen);
	}
	return 0;
}
